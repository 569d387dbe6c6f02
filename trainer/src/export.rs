//! `rme export`: a finished run → the shipped form in `static/models/<name>/`: `model.bpk`,
//! `manifest.json` (FORMATS.md) and `check.json`, a stored input with the output the model
//! gave at export, which the tests replay to prove the shipped file decodes into the same
//! network.

use crate::check::{Check, GridCheck};
use crate::common::{Outputs, Provenance};
use anyhow::{Context, Result, ensure};
use rme_core::mask::MaskStrategy;
use rme_core::models::fm_rme::weights::{KIND, configs_of, fm_rme_from_bytes};
use rme_core::models::fm_rme::{ContextConfig, ContextRule, Example, FmRmeBatch, FmRmeConfig, training_example};
use rme_core::models::grid::{GridExample, GridModel};
use rme_core::models::grid_nets::{GridNetConfig, grid_model_from_bytes};
use rme_core::models::weights::{Manifest, sha256_hex, shipped};
use rme_core::rng::Rng;
use rme_core::sim::dynamic::{DataSplit, split_seed};
use rme_core::sim::{DynamicPreset, DynamicSimulator};
use std::path::Path;

/// The fixed example: a D7 test sample, 10 % visible, 16 queries of one slice.
pub fn check_example(cfg: &FmRmeConfig, context: &ContextConfig) -> Result<Example> {
    let p = DynamicPreset::by_name("D7")?;
    let map = DynamicSimulator::new(p)?.simulate(split_seed(DataSplit::Test, p.name, 0))?;
    let split = MaskStrategy::Spatial { visible_ratio: 0.1 }.split(&map, 1)?;
    let rule = ContextRule::new(cfg, context);
    let mut example = training_example(&map, &split, &mut Rng::new(5), context.max_visible.min(256), 16, &rule).context("no example")?;
    example.derive_kriging_candidate(cfg);
    Ok(example)
}

/// Reads a JSON file, naming it in every error.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not {what}", path.display()))
}

pub fn run(run_dir: &Path, name: &str, out_root: &Path, notes: &str, metrics: Option<&Path>) -> Result<()> {
    crate::cli_values::folder_name(name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let run: serde_json::Value = read_json(&run_dir.join("run.json"), "a run's run.json (damaged?)")?;
    if run.get("kind").and_then(|k| k.as_str()) == Some(rme_core::models::storm::weights::KIND) {
        return export_storm(run_dir, &run, name, out_root, notes, metrics);
    }
    if run.get("kind").is_some() {
        return export_grid(run_dir, &run, name, out_root, notes, metrics);
    }
    let (bytes, summary) = finished_run(run_dir)?;
    let config_json: serde_json::Value = read_json(&run_dir.join("config.json"), "an FM-RME config")?;
    let cfg = FmRmeConfig::from_stored(&config_json)
        .with_context(|| format!("{}: not an FM-RME config", run_dir.join("config.json").display()))?;
    // Runs made before the context rule left the architecture config kept it in config.json.
    let context = ContextConfig::from_stored(&run.get("context").cloned().unwrap_or(config_json))
        .with_context(|| format!("{}: no FM-RME context", run_dir.join("run.json").display()))?;
    let device = burn::tensor::Device::flex();
    let model = fm_rme_from_bytes(&bytes, &cfg, &device, &run_dir.join("model.bpk").display().to_string())?;
    let example = check_example(&cfg, &context)?;
    let batch = FmRmeBatch::new(std::slice::from_ref(&example), &cfg, &ContextRule::new(&cfg, &context), &device)?;
    let expected: Vec<f32> = model.forward(&batch).into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (shipped_bytes, base) = shipped(&model, name, KIND, serde_json::to_value(&cfg)?, Some(serde_json::to_value(&context)?))?;
    let mut manifest = with_provenance(base, &summary, metrics, notes)?;
    manifest.trained_on = format!("dynamic simulator presets {} (training seeds; validation and test seeds disjoint)", run["presets"]);
    let check = Check { visible: example.visible, queries: example.queries, expected };
    write_shipped(&out_root.join(name), &shipped_bytes, &manifest, &serde_json::to_vec(&check)?)
}

/// A finished run's `model.bpk` and `summary.json`.
fn finished_run(run_dir: &Path) -> Result<(Vec<u8>, serde_json::Value)> {
    let bytes = std::fs::read(run_dir.join("model.bpk"))
        .with_context(|| format!("{} has no model.bpk: is the run finished?", run_dir.display()))?;
    let summary = read_json(&run_dir.join("summary.json"), "a run summary (damaged?)")?;
    Ok((bytes, summary))
}

/// A shipped manifest with the provenance from a run's `summary.json` and metrics from
/// `metrics` (a JSON file) where given. The caller adds what is particular to the model.
fn with_provenance(base: Manifest, summary: &serde_json::Value, metrics: Option<&Path>, notes: &str) -> Result<Manifest> {
    let metrics = match metrics {
        Some(p) => read_json(p, "JSON (--metrics takes a JSON file of metrics)")?,
        None => serde_json::Value::Null,
    };
    let text = |k: &str| summary[k].as_str().unwrap_or_default().to_string();
    Ok(Manifest {
        trained_on: text("trained_on"),
        command: text("command"),
        commit: text("commit"),
        hardware: format!("{} (device {})", text("machine"), text("device")),
        steps: summary["steps"].as_u64().unwrap_or(0),
        metrics,
        notes: format!("{notes} Exported by: {}", Provenance::capture(None).command).trim().to_string(),
        ..base
    })
}

/// The FM-RME inference settings a restamp may change (`None`: keep the stored one).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ContextChange {
    /// The context budget, measurements per query group.
    pub max_visible: Option<usize>,
    /// Whether readings are denoised before the network sees them.
    pub denoise: Option<bool>,
}

/// Stamps shipped weights exported before the stamp existed ([`Stamp`]): the folder's
/// `model.bpk` is checked against its manifest's sha256, decoded with the manifest's config,
/// written again with the stamp, and the manifest's sha256 updated; nothing else changes, so
/// `check.json` still holds. With a `change` (FM-RME only) the stored context gets those
/// inference settings — the tensors unchanged — and `notes` (why, measured how) is added to
/// the manifest's.
pub fn restamp(dir: &Path, change: ContextChange, notes: &str) -> Result<()> {
    let (old, bytes, name) = read_intact_shipped(dir)?;
    let device = burn::tensor::Device::flex();
    ensure!(
        change == ContextChange::default() || old.kind == KIND,
        "{name}: --max-visible and --denoise are FM-RME settings, these are {} weights",
        old.kind
    );
    let (new_bytes, stamped) = if old.kind == KIND {
        let (config, context) = configs_of(&old, &name)?;
        let context = ContextConfig {
            max_visible: change.max_visible.unwrap_or(context.max_visible),
            denoise: change.denoise.unwrap_or(context.denoise),
            ..context
        };
        context.validate()?;
        let model = fm_rme_from_bytes(&bytes, &config, &device, &name)?;
        shipped(&model, &old.name, KIND, serde_json::to_value(&config)?, Some(serde_json::to_value(&context)?))?
    } else {
        let config = GridNetConfig::from_json(&old.kind, &old.config, &name)?;
        grid_model_from_bytes(&config, &bytes, &device, &name, &old.name)?.shipped(&old.name, &config)?
    };
    ensure!(stamped.params == old.params, "{name}: {} parameters, the manifest says {}", stamped.params, old.params);
    let notes = format!("{} {notes}", old.notes).trim().to_string();
    let manifest = Manifest { sha256: stamped.sha256, config: stamped.config, context: stamped.context, notes, ..old };
    rewrite_shipped(dir, new_bytes, &manifest)?;
    eprintln!("stamped {} (sha256 {})", dir.display(), manifest.sha256);
    Ok(())
}

/// A shipped folder's manifest and `model.bpk` bytes, the bytes checked against the
/// manifest's sha256 (only intact weights are rewritten), and the weights file's name for
/// errors.
pub fn read_intact_shipped(dir: &Path) -> Result<(Manifest, Vec<u8>, String)> {
    let mpath = dir.join("manifest.json");
    let manifest: Manifest = read_json(&mpath, "a weights manifest")?;
    let wpath = dir.join("model.bpk");
    let bytes = std::fs::read(&wpath).with_context(|| format!("reading {}", wpath.display()))?;
    let name = wpath.display().to_string();
    ensure!(sha256_hex(&bytes) == manifest.sha256, "{name}: sha256 does not match {}: only intact weights are rewritten", mpath.display());
    Ok((manifest, bytes, name))
}

/// Replaces a shipped folder's `model.bpk` and `manifest.json` together (all or nothing);
/// `check.json` is left as it is.
pub fn rewrite_shipped(dir: &Path, bytes: Vec<u8>, manifest: &Manifest) -> Result<()> {
    let mut files = Outputs::new();
    files.add(dir.join("model.bpk"), bytes);
    files.add(dir.join("manifest.json"), serde_json::to_vec_pretty(manifest)?);
    files.commit()
}

/// Writes `model.bpk`, `manifest.json` and `check.json` into `dir`.
fn write_shipped(dir: &Path, bytes: &[u8], manifest: &Manifest, check: &[u8]) -> Result<()> {
    let mut files = Outputs::new();
    files.add(dir.join("model.bpk"), bytes);
    files.add(dir.join("manifest.json"), serde_json::to_vec_pretty(manifest)?);
    files.add(dir.join("check.json"), check);
    files.commit()?;
    eprintln!("wrote {} ({} bytes, {} parameters, sha256 {})", dir.display(), bytes.len(), manifest.params, manifest.sha256);
    Ok(())
}

fn export_grid(run_dir: &Path, run: &serde_json::Value, name: &str, out_root: &Path, notes: &str, metrics: Option<&Path>) -> Result<()> {
    let kind = run["kind"].as_str().unwrap_or_default();
    let size = run["size"].as_u64().with_context(|| format!("{}/run.json has no size", run_dir.display()))? as usize;
    let (bytes, summary) = finished_run(run_dir)?;
    let cfg = GridNetConfig::from_json(kind, &run["model"], &run_dir.join("run.json").display().to_string())?;
    let notes = format!("{notes} Maps of {size}² cells (256 m cities).");
    let device = burn::tensor::Device::flex();
    let model = grid_model_from_bytes(&cfg, &bytes, &device, &run_dir.join("model.bpk").display().to_string(), name)?;
    let (shipped_bytes, base) = model.shipped(name, &cfg)?;
    let manifest = with_provenance(base, &summary, metrics, &notes)?;
    let (map, cells) = rme_core::models::grid_nets::check_example(size, 0, 0)?;
    let example = GridExample::from_map(&map, &cells, true)?;
    let out = model.predict(&example.inputs)?;
    let expected = (0..out.len()).step_by(61).map(|i| (i, out[i])).collect();
    let check = GridCheck { size, city: 0, tx_seed: 0, cells, tx_known: true, expected };
    write_shipped(&out_root.join(name), &shipped_bytes, &manifest, &serde_json::to_vec(&check)?)
}

fn export_storm(run_dir: &Path, run: &serde_json::Value, name: &str, out_root: &Path, notes: &str, metrics: Option<&Path>) -> Result<()> {
    use rme_core::models::storm::weights::{KIND as STORM, storm_from_bytes};
    use rme_core::models::storm::{StormConfig, StormMethod};
    let (bytes, summary) = finished_run(run_dir)?;
    let cfg: StormConfig = serde_json::from_value(run["model"].clone())
        .with_context(|| format!("{}: the model is not a STORM config", run_dir.join("run.json").display()))?;
    let device = burn::tensor::Device::flex();
    let model = storm_from_bytes(&bytes, &cfg, &device, &run_dir.join("model.bpk").display().to_string())?;
    let (shipped_bytes, base) = shipped(&model, name, STORM, serde_json::to_value(&cfg)?, None)?;
    let manifest = with_provenance(base, &summary, metrics, notes)?;
    let check = crate::check::StormCheck::of(&StormMethod::new(model, cfg, device, name)?)?;
    write_shipped(&out_root.join(name), &shipped_bytes, &manifest, &serde_json::to_vec(&check)?)
}
