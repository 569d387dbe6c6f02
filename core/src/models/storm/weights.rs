//! STORM's shipped weights: the manifest's `config` is the architecture.

use super::config::StormConfig;
use super::model::Storm;
use crate::error::{Result, RmeError};
use crate::models::weights::{Manifest, check_manifest, module_from_bytes, module_to_bytes};
use burn::module::Module;
use burn::tensor::Device;

/// The manifest kind of STORM weights.
pub const KIND: &str = "storm";

/// Serialises STORM's parameters as burnpack bytes.
pub fn storm_to_bytes(model: &Storm) -> Result<Vec<u8>> {
    module_to_bytes(model)
}

/// Decodes burnpack bytes into a model of `config`; `name` names the file in errors.
pub fn storm_from_bytes(bytes: &[u8], config: &StormConfig, device: &Device, name: &str) -> Result<Storm> {
    config.validate()?;
    module_from_bytes(config.init(device), bytes, name)
}

/// Loads shipped weights: checks the manifest's kind and sha256, decodes the config and the
/// weights, and checks the parameter count.
pub fn load_storm(manifest: &Manifest, bytes: &[u8], device: &Device, name: &str) -> Result<(Storm, StormConfig)> {
    check_manifest(manifest, KIND, bytes, name)?;
    let config: StormConfig = serde_json::from_value(manifest.config.clone())
        .map_err(|e| RmeError::parse(name, None, format!("manifest config is not a STORM config: {e}")))?;
    config.validate().map_err(|e| RmeError::parse(name, None, e.to_string()))?;
    let model = storm_from_bytes(bytes, &config, device, name)?;
    if model.num_params() != manifest.params {
        return Err(RmeError::parse(name, None, format!("{} parameters, the manifest says {}", model.num_params(), manifest.params)));
    }
    Ok((model, config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::classic::Sample;
    use crate::models::storm::{QueryTokens, SliceFrame, StormBatch};
    use burn::tensor::Tolerance;

    #[test]
    fn round_trip_gives_the_same_outputs_and_corruption_is_named() {
        let d = cpu();
        let cfg = StormConfig::tiny();
        let model = cfg.init(&d).with_random_heads(&d);
        let (bytes, m) = crate::models::weights::shipped(&model, "t", KIND, serde_json::to_value(&cfg).unwrap(), None).unwrap();
        let (back, back_cfg) = load_storm(&m, &bytes, &d, "model.bpk").unwrap();
        assert_eq!(back_cfg, cfg);
        let s: Vec<Sample> = (0..10).map(|i| Sample { x: i as f64, y: (i * i % 7) as f64, value: -60.0 - i as f64 }).collect();
        let t = QueryTokens::build(&s, &SliceFrame::of(&s).unwrap(), &[[2.5, 1.0], [8.0, 3.0]], cfg.neighbours);
        let b = StormBatch::new(&t, None, &d).unwrap();
        model.forward(&b).mean.into_data().assert_approx_eq::<f32>(&back.forward(&b).mean.into_data(), Tolerance::absolute(1e-6));
        let mut corrupt = bytes.clone();
        corrupt[bytes.len() / 2] ^= 0xFF;
        let e = load_storm(&m, &corrupt, &d, "static/models/storm-small/model.bpk").unwrap_err().to_string();
        assert!(e.contains("storm-small") && e.contains("sha256"), "{e}");
        let mut wrong = m.clone();
        wrong.kind = "fm-rme".into();
        assert!(load_storm(&wrong, &bytes, &d, "model.bpk").is_err());
    }
}
