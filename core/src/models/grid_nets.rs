//! The learned grid models by name: their manifest kinds, presets, and the loader that turns
//! shipped weights into a [`GridModel`] (natively and in the browser). Kept apart from
//! `grid` so that the adapter does not depend on the models that depend on it.

use super::autoencoder::{Autoencoder, AutoencoderConfig};
use super::grid::{GridInputs, GridModel, NetworkModel};
use super::radiodun::{RadioDun, RadioDunConfig};
use super::radiounet::{RadioUnet, RadioUnetConfig};
use super::weights::{Manifest, check_manifest, module_from_bytes};
use crate::error::{Result, RmeError};
use burn::module::Module;
use burn::tensor::Device;

/// Manifest kind of the completion autoencoder.
pub const AUTOENCODER: &str = "autoencoder";
/// Manifest kind of RadioUNet.
pub const RADIOUNET: &str = "radiounet";
/// Manifest kind of RadioDUN.
pub const RADIODUN: &str = "radiodun";
/// Every learned grid model's kind.
pub const GRID_KINDS: [&str; 3] = [AUTOENCODER, RADIOUNET, RADIODUN];

/// The architecture of a learned grid model.
#[derive(Clone, Debug, PartialEq)]
pub enum GridNetConfig {
    /// A completion autoencoder.
    Autoencoder(AutoencoderConfig),
    /// A RadioUNet.
    RadioUnet(RadioUnetConfig),
    /// A RadioDUN.
    RadioDun(RadioDunConfig),
}

impl GridNetConfig {
    /// The preset `preset` ("small", "paper") of `kind`.
    pub fn preset(kind: &str, preset: &str) -> Result<Self> {
        match kind {
            AUTOENCODER => Ok(Self::Autoencoder(AutoencoderConfig::preset(preset)?)),
            RADIOUNET => Ok(Self::RadioUnet(RadioUnetConfig::preset(preset)?)),
            RADIODUN => Ok(Self::RadioDun(RadioDunConfig::preset(preset)?)),
            other => Err(RmeError::invalid("grid model", format!("'{other}' is not one of {}", GRID_KINDS.join(", ")))),
        }
    }

    /// The config stored under `kind` as JSON (a manifest's or a run's), checked.
    pub fn from_json(kind: &str, config: &serde_json::Value, name: &str) -> Result<Self> {
        let bad = |e: serde_json::Error| RmeError::parse(name, None, format!("config is not a {kind} config: {e}"));
        let cfg = match kind {
            AUTOENCODER => Self::Autoencoder(serde_json::from_value(config.clone()).map_err(bad)?),
            RADIOUNET => Self::RadioUnet(serde_json::from_value(config.clone()).map_err(bad)?),
            RADIODUN => Self::RadioDun(serde_json::from_value(config.clone()).map_err(bad)?),
            other => return Err(RmeError::parse(name, None, format!("kind '{other}' is not one of {}", GRID_KINDS.join(", ")))),
        };
        cfg.validate().map_err(|e| RmeError::parse(name, None, e.to_string()))?;
        Ok(cfg)
    }

    /// Its manifest kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Autoencoder(_) => AUTOENCODER,
            Self::RadioUnet(_) => RADIOUNET,
            Self::RadioDun(_) => RADIODUN,
        }
    }

    /// The config as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Autoencoder(c) => serde_json::to_value(c),
            Self::RadioUnet(c) => serde_json::to_value(c),
            Self::RadioDun(c) => serde_json::to_value(c),
        }
        .unwrap_or(serde_json::Value::Null)
    }

    /// Checks the sizes.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Autoencoder(c) => c.validate(),
            Self::RadioUnet(c) => c.validate(),
            Self::RadioDun(c) => c.validate(),
        }
    }
}

/// A learned grid model loaded from shipped weights.
#[derive(Clone, Debug)]
pub enum LoadedGridModel {
    /// A completion autoencoder.
    Autoencoder(NetworkModel<Autoencoder>),
    /// A RadioUNet.
    RadioUnet(NetworkModel<RadioUnet>),
    /// A RadioDUN.
    RadioDun(NetworkModel<RadioDun>),
}

impl LoadedGridModel {
    /// [`GridModel::predict`] without blocking (the browser's path).
    pub async fn predict_async(&self, inputs: &GridInputs) -> Result<Vec<f64>> {
        match self {
            Self::Autoencoder(m) => m.predict_async(inputs).await,
            Self::RadioUnet(m) => m.predict_async(inputs).await,
            Self::RadioDun(m) => m.predict_async(inputs).await,
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        match self {
            Self::Autoencoder(m) => m.net.num_params(),
            Self::RadioUnet(m) => m.net.num_params(),
            Self::RadioDun(m) => m.net.num_params(),
        }
    }

    /// The shipped form of this model of architecture `config`, named `name`: stamped bytes
    /// and their manifest ([`super::weights::shipped`]).
    pub fn shipped(&self, name: &str, config: &GridNetConfig) -> Result<(Vec<u8>, Manifest)> {
        let (kind, json) = (config.kind(), config.to_json());
        match self {
            Self::Autoencoder(m) => super::weights::shipped(&m.net, name, kind, json, None),
            Self::RadioUnet(m) => super::weights::shipped(&m.net, name, kind, json, None),
            Self::RadioDun(m) => super::weights::shipped(&m.net, name, kind, json, None),
        }
    }
}

impl GridModel for LoadedGridModel {
    fn name(&self) -> &str {
        match self {
            Self::Autoencoder(m) => m.name(),
            Self::RadioUnet(m) => m.name(),
            Self::RadioDun(m) => m.name(),
        }
    }

    fn predict(&self, inputs: &GridInputs) -> Result<Vec<f64>> {
        match self {
            Self::Autoencoder(m) => m.predict(inputs),
            Self::RadioUnet(m) => m.predict(inputs),
            Self::RadioDun(m) => m.predict(inputs),
        }
    }
}

/// The stored example of a grid model's `check.json`: the map of test city `city` with
/// transmitter seed `tx_seed` at `size`², observed at 9 street cells drawn from `tx_seed`.
/// `rme export` stores the model's output on it; the tests replay it on the shipped file.
pub fn check_example(size: usize, city: u64, tx_seed: u64) -> Result<(crate::RadioMap, Vec<usize>)> {
    use crate::sim::urban::{Sampling, Split, UrbanSimulator};
    let sim = UrbanSimulator::new(size)?;
    let map = sim.simulate(&sim.split_city(Split::Test, city)?, tx_seed)?;
    let buildings = map.buildings.clone().unwrap_or_default();
    let cells = Sampling::Count(9).cells(size, size, &buildings, &mut crate::rng::Rng::new(tx_seed))?;
    Ok((map, cells))
}

fn checked_params(params: usize, manifest: &Manifest, name: &str) -> Result<()> {
    if params != manifest.params {
        return Err(RmeError::parse(name, None, format!("{params} parameters, the manifest says {}", manifest.params)));
    }
    Ok(())
}

/// Loads shipped grid-model weights: checks the manifest's kind and sha256, decodes the
/// config and the weights, checks the parameter count. `name` names the file in errors; the
/// model is labelled with the manifest's name.
pub fn load_grid_model(manifest: &Manifest, bytes: &[u8], device: &Device, name: &str) -> Result<LoadedGridModel> {
    if !GRID_KINDS.contains(&manifest.kind.as_str()) {
        return Err(RmeError::parse(
            name,
            None,
            format!("manifest kind '{}' is not a grid model ({})", manifest.kind, GRID_KINDS.join(", ")),
        ));
    }
    check_manifest(manifest, &manifest.kind, bytes, name)?;
    let config = GridNetConfig::from_json(&manifest.kind, &manifest.config, name)?;
    let model = grid_model_from_bytes(&config, bytes, device, name, &manifest.name)?;
    checked_params(model.num_params(), manifest, name)?;
    Ok(model)
}

/// A grid model of architecture `config` with the weights in `bytes` (a run's `model.bpk`,
/// or a shipped file whose manifest was checked), labelled `label`; `name` names the bytes in
/// errors.
pub fn grid_model_from_bytes(config: &GridNetConfig, bytes: &[u8], device: &Device, name: &str, label: &str) -> Result<LoadedGridModel> {
    let label = label.to_string();
    Ok(match config {
        GridNetConfig::Autoencoder(c) => LoadedGridModel::Autoencoder(NetworkModel {
            net: module_from_bytes(c.init(device), bytes, name)?,
            device: device.clone(),
            label,
        }),
        GridNetConfig::RadioUnet(c) => {
            LoadedGridModel::RadioUnet(NetworkModel { net: module_from_bytes(c.init(device), bytes, name)?, device: device.clone(), label })
        }
        GridNetConfig::RadioDun(c) => {
            LoadedGridModel::RadioDun(NetworkModel { net: module_from_bytes(c.init(device), bytes, name)?, device: device.clone(), label })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::models::grid::{GridEstimator, GridScene};
    use crate::models::weights::shipped;
    use crate::sim::urban::{Split, UrbanSimulator};
    use crate::{Estimator, QuerySet};

    fn manifest(kind: &str, config: serde_json::Value, params: usize, bytes: &[u8]) -> Manifest {
        Manifest::describing(&format!("{kind}-test"), kind, config, params, bytes)
    }

    #[test]
    fn round_trip_gives_the_same_estimates_and_corruption_is_named() {
        let d = cpu();
        let cfg = RadioUnetConfig::new().with_first_channels(vec![4, 8]).with_second_channels(vec![4]);
        let net = cfg.init(&d);
        let (bytes, m) = shipped(&net, "radiounet-test", RADIOUNET, serde_json::to_value(&cfg).unwrap(), None).unwrap();
        let loaded = load_grid_model(&m, &bytes, &d, "model.bpk").unwrap();

        let sim = UrbanSimulator::new(32).unwrap();
        let map = sim.simulate(&sim.split_city(Split::Test, 1).unwrap(), 3).unwrap();
        let scene = GridScene::new(map.grid, map.buildings.clone()).unwrap();
        let cells: Vec<usize> = (0..map.grid.len()).filter(|&i| !map.is_building(i / 32, i % 32)).step_by(7).collect();
        let obs = map.measurements_at(&cells);
        let q = QuerySet::from_grid(&map.grid, 0.0, f64::NAN);
        let original =
            GridEstimator::new(NetworkModel { net, device: d.clone(), label: "x".into() }, scene.clone()).estimate(&obs, &q).unwrap();
        let reloaded = GridEstimator::new(loaded, scene.clone()).estimate(&obs, &q).unwrap();
        assert_eq!(original.mean, reloaded.mean);
        // A fresh model of the same config answers differently (the load did something).
        let fresh = NetworkModel { net: cfg.init(&d), device: d.clone(), label: "y".into() };
        assert_ne!(GridEstimator::new(fresh, scene).estimate(&obs, &q).unwrap().mean, original.mean);

        let mut bad = bytes.clone();
        bad[bytes.len() / 2] ^= 1;
        let e = load_grid_model(&m, &bad, &d, "model.bpk").unwrap_err().to_string();
        assert!(e.contains("model.bpk") && e.contains("sha256"), "{e}");
        let wrong = manifest(AUTOENCODER, serde_json::to_value(AutoencoderConfig::new()).unwrap(), 1, &bytes);
        let e = load_grid_model(&wrong, &bytes, &d, "model.bpk").unwrap_err().to_string();
        assert!(e.contains("model.bpk") && e.contains("architecture"), "{e}");
        let other = manifest("fm-rme", serde_json::Value::Null, 1, &bytes);
        assert!(load_grid_model(&other, &bytes, &d, "m").unwrap_err().to_string().contains("not a grid model"));
    }
}
