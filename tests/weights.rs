//! Every shipped model in `static/models/` decodes into its architecture (sha256, config and
//! parameter count checked) and gives, on the stored input of its `check.json`, the output the
//! model gave when it was exported.

use burn::tensor::{Device, TensorData, Tolerance};
use rme_core::models::fm_rme::{ContextRule, Example, FmRmeBatch, load_fm_rme};
use rme_core::models::grid::{GridExample, GridModel};
use rme_core::models::grid_nets::{GRID_KINDS, check_example, load_grid_model};
use rme_core::models::weights::Manifest;
use std::path::Path;

#[test]
fn shipped_weights_decode_and_reproduce_their_stored_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static/models");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).expect("static/models exists") {
        let dir = entry.unwrap().path();
        let manifest_path = dir.join("manifest.json");
        if !manifest_path.is_file() {
            continue;
        }
        let name = dir.display().to_string();
        let manifest = Manifest::parse(&std::fs::read_to_string(&manifest_path).unwrap(), &name).unwrap();
        let bytes = std::fs::read(dir.join("model.bpk")).unwrap();
        let device = Device::flex();
        if GRID_KINDS.contains(&manifest.kind.as_str()) {
            check_grid_model(&manifest, &bytes, &dir, &name);
            checked += 1;
            continue;
        }
        if manifest.kind == rme_core::models::storm::weights::KIND {
            check_storm(&manifest, &bytes, &dir, &name);
            checked += 1;
            continue;
        }
        let (model, config, context) = load_fm_rme(&manifest, &bytes, &device, &name).unwrap_or_else(|e| panic!("{e}"));
        let check: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("check.json")).unwrap()).unwrap();
        let mut example = Example {
            visible: serde_json::from_value(check["visible"].clone()).unwrap(),
            queries: serde_json::from_value(check["queries"].clone()).unwrap(),
            ..Example::default()
        };
        // Weights with a kriging candidate derive it from the stored input, as in use.
        example.derive_kriging_candidate(&config);
        let expected: Vec<f32> = serde_json::from_value(check["expected"].clone()).unwrap();
        let batch = FmRmeBatch::new(&[example], &config, &ContextRule::new(&config, &context), &device).unwrap();
        let got = model.forward(&batch).into_data();
        let n = expected.len();
        got.assert_approx_eq::<f32>(&TensorData::new(expected, [1, n]), Tolerance::absolute(1e-4));
        // A byte flipped anywhere is caught by the hash, with the file named.
        let mut corrupt = bytes.clone();
        corrupt[bytes.len() / 3] ^= 1;
        let err = load_fm_rme(&manifest, &corrupt, &device, &name).map(|_| ()).expect_err("corrupt weights load").to_string();
        assert!(err.contains("sha256") && err.contains(&name), "{err}");
        checked += 1;
    }
    assert!(checked > 0, "no shipped model in {}", root.display());
}

/// A grid model's check: the stored example rebuilt from its seeds, the model's normalised
/// output at the stored cells.
fn check_grid_model(manifest: &Manifest, bytes: &[u8], dir: &Path, name: &str) {
    let device = Device::flex();
    let model = load_grid_model(manifest, bytes, &device, name).unwrap_or_else(|e| panic!("{e}"));
    let check: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("check.json")).unwrap()).unwrap();
    let size = check["size"].as_u64().unwrap() as usize;
    let (map, cells) = check_example(size, check["city"].as_u64().unwrap(), check["tx_seed"].as_u64().unwrap()).unwrap();
    assert_eq!(serde_json::to_value(&cells).unwrap(), check["cells"], "{name}: the stored example's cells");
    let example = GridExample::from_map(&map, &cells, check["tx_known"].as_bool().unwrap()).unwrap();
    let out = model.predict(&example.inputs).unwrap();
    let expected: Vec<(usize, f64)> = serde_json::from_value(check["expected"].clone()).unwrap();
    assert!(expected.len() > 100, "{name}: {} stored outputs", expected.len());
    for (i, v) in expected {
        assert!((out[i] - v).abs() < 1e-4, "{name}: cell {i}: {} now, {v} at export", out[i]);
    }
    let mut corrupt = bytes.to_vec();
    corrupt[bytes.len() / 3] ^= 1;
    let err = load_grid_model(manifest, &corrupt, &device, name).map(|_| ()).expect_err("corrupt weights load").to_string();
    assert!(err.contains("sha256") && err.contains(name), "{err}");
}

/// STORM's check: the stored slice's estimates (dB) at the stored queries.
fn check_storm(manifest: &Manifest, bytes: &[u8], dir: &Path, name: &str) {
    use rme_core::classic::{Sample, SliceContext, SpatialMethod};
    use rme_core::models::storm::{StormMethod, load_storm};
    let device = Device::flex();
    let (model, config) = load_storm(manifest, bytes, &device, name).unwrap_or_else(|e| panic!("{e}"));
    let check: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("check.json")).unwrap()).unwrap();
    let samples: Vec<[f64; 3]> = serde_json::from_value(check["samples"].clone()).unwrap();
    let queries: Vec<[f64; 2]> = serde_json::from_value(check["queries"].clone()).unwrap();
    let expected: Vec<f64> = serde_json::from_value(check["expected"].clone()).unwrap();
    let samples: Vec<Sample> = samples.iter().map(|p| Sample { x: p[0], y: p[1], value: p[2] }).collect();
    let method = StormMethod::new(model, config, device.clone(), "storm").unwrap();
    let ctx = SliceContext { t_s: 0.0, freq_hz: f64::NAN, tx_m: None };
    let (got, std) = method.estimate_slice(&ctx, &samples, &queries).unwrap();
    assert_eq!(got.len(), expected.len(), "{name}");
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!((g - e).abs() < 1e-3, "{name}: query {i}: {g} dB now, {e} at export");
    }
    assert!(std.unwrap().iter().all(|s| *s > 0.0), "{name}: σ not positive");
    let mut corrupt = bytes.to_vec();
    corrupt[bytes.len() / 3] ^= 1;
    let err = load_storm(manifest, &corrupt, &device, name).map(|_| ()).expect_err("corrupt weights load").to_string();
    assert!(err.contains("sha256") && err.contains(name), "{err}");
}
