//! FM-RME's shipped weights: the manifest's `config` is the architecture, its `context` the
//! context rule the model was trained with (older manifests hold both in `config`).

use super::config::{ContextConfig, FmRmeConfig};
use super::model::FmRme;
use crate::error::{Result, RmeError};
use crate::models::weights::{Manifest, check_manifest, module_from_bytes, module_to_bytes};
use burn::module::Module;
use burn::tensor::Device;

/// The manifest kind of FM-RME weights.
pub const KIND: &str = "fm-rme";

/// Serialises FM-RME's parameters as burnpack bytes.
pub fn fm_rme_to_bytes(model: &FmRme) -> Result<Vec<u8>> {
    module_to_bytes(model)
}

/// Decodes burnpack bytes into a model of `config`; `name` names the file in errors.
pub fn fm_rme_from_bytes(bytes: &[u8], config: &FmRmeConfig, device: &Device, name: &str) -> Result<FmRme> {
    config.validate()?;
    module_from_bytes(config.init(device), bytes, name)
}

/// The manifest's architecture and context rule (`context`; in older manifests inside
/// `config`; the defaults when neither has it).
pub fn configs_of(manifest: &Manifest, name: &str) -> Result<(FmRmeConfig, ContextConfig)> {
    let config = FmRmeConfig::from_stored(&manifest.config)
        .map_err(|e| RmeError::parse(name, None, format!("manifest config is not an FM-RME config: {e}")))?;
    // Older manifests hold the context settings in `config`; a manifest with neither uses
    // the defaults.
    let stored = match &manifest.context {
        Some(c) => Some(c.clone()),
        None => manifest.config.get("max_visible").map(|_| manifest.config.clone()),
    };
    let context = match stored {
        Some(c) => ContextConfig::from_stored(&c)
            .map_err(|e| RmeError::parse(name, None, format!("manifest context is not an FM-RME context: {e}")))?,
        None => ContextConfig::new(),
    };
    config.validate().and_then(|_| context.validate()).map_err(|e| RmeError::parse(name, None, e.to_string()))?;
    Ok((config, context))
}

/// Loads shipped weights: checks the manifest's kind and sha256, decodes the configs, decodes
/// the weights and checks the parameter count.
pub fn load_fm_rme(manifest: &Manifest, bytes: &[u8], device: &Device, name: &str) -> Result<(FmRme, FmRmeConfig, ContextConfig)> {
    check_manifest(manifest, KIND, bytes, name)?;
    let (config, context) = configs_of(manifest, name)?;
    let model = fm_rme_from_bytes(bytes, &config, device, name)?;
    if model.num_params() != manifest.params {
        return Err(RmeError::parse(name, None, format!("{} parameters, the manifest says {}", model.num_params(), manifest.params)));
    }
    Ok((model, config, context))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::models::fm_rme::{ContextRule, Example, FmRmeBatch};
    use crate::models::weights::sha256_hex;
    use burn::tensor::Tolerance;

    /// The shipped form of `model`: stamped bytes and their manifest.
    fn shipped_form(model: &FmRme, cfg: &FmRmeConfig) -> (Vec<u8>, Manifest) {
        let context = Some(serde_json::to_value(ContextConfig::new()).unwrap());
        crate::models::weights::shipped(model, "t", KIND, serde_json::to_value(cfg).unwrap(), context).unwrap()
    }

    /// On a model whose every layer reaches the output: the decoded weights give the same
    /// outputs, and a fresh model of the same config does not (so equal outputs mean the
    /// weights were really carried over).
    #[test]
    fn round_trip_gives_the_same_outputs() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&d).with_random_output_layers(&d);
        let (bytes, m) = shipped_form(&model, &cfg);
        let (back, back_cfg, context) = load_fm_rme(&m, &bytes, &d, "model.bpk").unwrap();
        assert_eq!((back_cfg, context), (cfg.clone(), ContextConfig::new()));
        let visible = (0..9).map(|i| [i as f64 * 3.0, (i * i) as f64, 0.0, 3e9, -60.0 - 3.0 * i as f64]).collect();
        let ex = Example { visible, queries: vec![[1.0, 2.0, 0.0, 3e9], [20.0, 5.0, 0.0, 3e9]], targets: vec![], kriging: vec![] };
        let batch = FmRmeBatch::new(&[ex], &cfg, &ContextRule::new(&cfg, &ContextConfig::new()), &d).unwrap();
        let (a, b) = (model.forward(&batch).into_data(), back.forward(&batch).into_data());
        a.assert_approx_eq::<f32>(&b, Tolerance::absolute(1e-6));
        let fresh = cfg.init(&d).with_random_output_layers(&d).forward(&batch).into_data();
        let gap = a.iter::<f32>().zip(fresh.iter::<f32>()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(gap > 1e-3, "another random model gives the same outputs (gap {gap})");
    }

    #[test]
    fn corrupt_or_mismatched_weights_are_clear_errors() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&d);
        let (bytes, m) = shipped_form(&model, &cfg);
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
        // A context that is not one.
        let mut m4 = m.clone();
        m4.context = Some(serde_json::to_value(ContextConfig::new().with_slice_weight(-1.0)).unwrap());
        let e = load_fm_rme(&m4, &bytes, &d, "model.bpk").unwrap_err().to_string();
        assert!(e.contains("model.bpk") && e.contains("slice_weight"), "{e}");
    }
}
