//! Shipped weights: burnpack bytes (`model.bpk`) plus `manifest.json` (FORMATS.md). Loading
//! checks the file's sha256 and the configuration against the architecture, and names the
//! file in every error; it works from bytes, so the browser uses it too.

use super::fm_rme::{FmRme, FmRmeConfig};
use crate::error::{Result, RmeError};
use burn::module::Module;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `manifest.json` beside a `model.bpk`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    /// "fm-rme".
    pub kind: String,
    /// The model's `#[derive(Config)]` JSON.
    pub config: serde_json::Value,
    pub params: usize,
    pub sha256: String,
    #[serde(default)]
    pub trained_on: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub commit: String,
    #[serde(default)]
    pub hardware: String,
    #[serde(default)]
    pub steps: u64,
    #[serde(default)]
    pub metrics: serde_json::Value,
    #[serde(default)]
    pub notes: String,
}

impl Manifest {
    pub fn parse(text: &str, name: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| RmeError::parse(name, Some(e.line()), e.to_string()))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Serialises a model's parameters as burnpack bytes.
pub fn fm_rme_to_bytes(model: &FmRme) -> Result<Vec<u8>> {
    let mut store = BurnpackStore::from_bytes(None);
    model.save_into(&mut store).map_err(|e| RmeError::invalid("model weights", format!("{e:?}")))?;
    let bytes = store.get_bytes().map_err(|e| RmeError::invalid("model weights", format!("{e:?}")))?;
    Ok(bytes.to_vec())
}

/// Decodes burnpack bytes into a model of `config`; every tensor must match, none may be
/// missing or left over. `name` names the file in errors.
pub fn fm_rme_from_bytes(bytes: &[u8], config: &FmRmeConfig, device: &Device, name: &str) -> Result<FmRme> {
    config.validate()?;
    let mut model = config.init(device);
    let mut store = BurnpackStore::from_bytes(Some(Bytes::from_bytes_vec(bytes.to_vec())));
    let result =
        model.load_from(&mut store).map_err(|e| RmeError::parse(name, None, format!("not a burnpack file for this model: {e:?}")))?;
    if !result.missing.is_empty() || !result.unused.is_empty() || !result.errors.is_empty() {
        return Err(RmeError::parse(
            name,
            None,
            format!(
                "weights do not match the architecture in the manifest: {} missing (e.g. {:?}), {} unused (e.g. {:?}), {} errors (e.g. {:?})",
                result.missing.len(),
                result.missing.first().map(|m| &m.0),
                result.unused.len(),
                result.unused.first(),
                result.errors.len(),
                result.errors.first()
            ),
        ));
    }
    Ok(model)
}

/// Loads shipped weights: checks the manifest's kind and sha256, decodes the config, decodes
/// the weights and checks the parameter count.
pub fn load_fm_rme(manifest: &Manifest, bytes: &[u8], device: &Device, name: &str) -> Result<(FmRme, FmRmeConfig)> {
    if manifest.kind != "fm-rme" {
        return Err(RmeError::parse(name, None, format!("manifest kind '{}' is not 'fm-rme'", manifest.kind)));
    }
    let sha = sha256_hex(bytes);
    if sha != manifest.sha256 {
        return Err(RmeError::parse(
            name,
            None,
            format!("sha256 {sha} does not match the manifest's {} (corrupt or mismatched file)", manifest.sha256),
        ));
    }
    let config: FmRmeConfig = serde_json::from_value(manifest.config.clone())
        .map_err(|e| RmeError::parse(name, None, format!("manifest config is not an FM-RME config: {e}")))?;
    let model = fm_rme_from_bytes(bytes, &config, device, name)?;
    if model.num_params() != manifest.params {
        return Err(RmeError::parse(name, None, format!("{} parameters, the manifest says {}", model.num_params(), manifest.params)));
    }
    Ok((model, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::models::fm_rme::{Example, FmRmeBatch};

    fn manifest_for(model: &FmRme, cfg: &FmRmeConfig, bytes: &[u8]) -> Manifest {
        Manifest {
            name: "t".into(),
            kind: "fm-rme".into(),
            config: serde_json::to_value(cfg).unwrap(),
            params: model.num_params(),
            sha256: sha256_hex(bytes),
            trained_on: String::new(),
            command: String::new(),
            commit: String::new(),
            hardware: String::new(),
            steps: 0,
            metrics: serde_json::Value::Null,
            notes: String::new(),
        }
    }

    #[test]
    fn round_trip_gives_the_same_outputs() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&d);
        let bytes = fm_rme_to_bytes(&model).unwrap();
        let m = manifest_for(&model, &cfg, &bytes);
        let (back, _) = load_fm_rme(&m, &bytes, &d, "model.bpk").unwrap();
        let ex = Example {
            visible: (0..9).map(|i| [i as f64 * 3.0, (i * i) as f64, 0.0, 3e9, -60.0 - i as f64]).collect(),
            queries: vec![[1.0, 2.0, 0.0, 3e9]],
            targets: vec![],
        };
        let batch = FmRmeBatch::new(&[ex], &cfg, &d).unwrap();
        let a: f32 = model.forward(&batch).into_scalar();
        let b: f32 = back.forward(&batch).into_scalar();
        assert_eq!(a, b);
    }

    #[test]
    fn corrupt_or_mismatched_weights_are_clear_errors() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&d);
        let bytes = fm_rme_to_bytes(&model).unwrap();
        let m = manifest_for(&model, &cfg, &bytes);
        let mut corrupt = bytes.clone();
        corrupt[bytes.len() / 2] ^= 0xFF;
        let e = load_fm_rme(&m, &corrupt, &d, "static/models/x/model.bpk").unwrap_err().to_string();
        assert!(e.contains("static/models/x/model.bpk") && e.contains("sha256"), "{e}");
        // Right hash, wrong architecture.
        let other = FmRmeConfig::tiny().with_d_model(24).with_n_heads(2);
        let mut m2 = m.clone();
        m2.config = serde_json::to_value(&other).unwrap();
        let e = load_fm_rme(&m2, &bytes, &d, "model.bpk").unwrap_err().to_string();
        assert!(e.contains("model.bpk"), "{e}");
        // Not burnpack at all.
        let junk = b"not weights".to_vec();
        let mut m3 = m.clone();
        m3.sha256 = sha256_hex(&junk);
        assert!(load_fm_rme(&m3, &junk, &d, "model.bpk").is_err());
        assert!(Manifest::parse("{", "manifest.json").is_err());
    }
}
