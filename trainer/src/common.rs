//! File-system side of the CLI: reading measurement files and map sets from disk, writing
//! outputs, and the provenance (seed, commit, machine) written into every report.

use anyhow::{Context, Result, bail};
use rme_core::io::csv::{CsvReport, Sidecar, parse_sidecar, read_measurements};
use rme_core::io::mapset::read_mapset;
use rme_core::metrics::IntervalCoverage;
use rme_core::models::fm_rme::{FmRmeEstimator, load_fm_rme};
use rme_core::models::grid::{GridEstimator, GridScene};
use rme_core::models::grid_nets::{LoadedGridModel, load_grid_model};
use rme_core::models::weights::Manifest;
use rme_core::{Estimator, MeasurementSet, RadioMap, RmeError, classical_by_name};
use std::path::{Path, PathBuf};

pub use crate::outputs::{Outputs, write_atomic};

use crate::check::{Check, GridCheck, StormCheck, read_check};
use rme_core::models::storm::{StormMethod, load_storm};

/// Reads a measurement CSV and its sidecar (`foo.csv` → `foo.json`) if present.
pub fn load_measurements(path: &Path) -> Result<(MeasurementSet, CsvReport)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let sidecar_path = path.with_extension("json");
    let sidecar: Option<Sidecar> = if sidecar_path.exists() {
        let t = std::fs::read_to_string(&sidecar_path).with_context(|| format!("reading {}", sidecar_path.display()))?;
        Some(parse_sidecar(&t, &sidecar_path.display().to_string())?)
    } else {
        None
    };
    Ok(read_measurements(&text, &path.display().to_string(), sidecar.as_ref())?)
}

/// Reads a map set folder (its `index.json`), the first `limit` maps.
pub fn load_mapset(dir: &Path, limit: Option<usize>) -> Result<Vec<RadioMap>> {
    let index = dir.join("index.json");
    let text = std::fs::read_to_string(&index).with_context(|| format!("reading {} (is this a map set folder?)", index.display()))?;
    let mut load = |rel: &str| -> rme_core::Result<Vec<u8>> {
        let p = dir.join(rel);
        std::fs::read(&p).map_err(|e| RmeError::parse(p.display().to_string(), None, e.to_string()))
    };
    Ok(read_mapset(&text, &index.display().to_string(), limit, &mut load)?)
}

/// Every `.csv` under a folder (sorted), or the file itself.
pub fn csv_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        bail!("{} is neither a CSV file nor a folder", path.display());
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("listing {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
        .collect();
    v.sort();
    if v.is_empty() {
        bail!("no .csv file in {}", path.display());
    }
    Ok(v)
}

/// Where and from what a result was made.
#[derive(Clone, Debug)]
pub struct Provenance {
    pub command: String,
    pub seed: Option<u64>,
    pub commit: String,
    pub machine: String,
    pub date_utc: String,
}

impl Provenance {
    pub fn capture(seed: Option<u64>) -> Self {
        let command = std::env::args().collect::<Vec<_>>().join(" ");
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
            Some(c) => {
                let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
                if dirty { format!("{c}-dirty") } else { c }
            }
            None => "unknown".into(),
        };
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let machine = format!("{cpu}, {cores} cores, {}", std::env::consts::OS);
        let date_utc = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        Self { command, seed, commit, machine, date_utc }
    }

    pub fn header_lines(&self) -> Vec<String> {
        let mut v = vec![format!("command: {}", self.command)];
        if let Some(s) = self.seed {
            v.push(format!("seed: {s}"));
        }
        v.push(format!("commit: {}", self.commit));
        v.push(format!("machine: {}", self.machine));
        v.push(format!("date: {}", self.date_utc));
        v
    }
}

/// Writes a report `OUT` as `OUT.md`, `OUT.csv` (and whatever else `files` holds: extension,
/// bytes), all or none.
pub fn write_report(out: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    let mut o = Outputs::new();
    for (ext, bytes) in files {
        o.add(out.with_extension(ext), *bytes);
    }
    o.commit()
}

/// Free space on the disk holding `path` (or its nearest existing ancestor), bytes.
#[cfg(unix)]
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let existing = path.ancestors().find(|p| p.exists() && !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let c = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `s` a valid statvfs to write into.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some(s.f_bavail as u64 * s.f_frsize as u64)
}

#[cfg(not(unix))]
pub fn free_bytes(_path: &Path) -> Option<u64> {
    None
}

/// Fails before any work when `bytes` will not fit on the disk of `out` (with a 5 % margin).
pub fn ensure_disk_space(out: &Path, bytes: u64, what: &str) -> Result<()> {
    if let Some(free) = free_bytes(out)
        && bytes as f64 > 0.95 * free as f64
    {
        bail!("{what} needs about {:.1} GB and the disk of {} has {:.1} GB free", bytes as f64 / 1e9, out.display(), free as f64 / 1e9);
    }
    Ok(())
}

/// This process's peak resident memory, kB (Linux: `VmHWM` of /proc/self/status).
pub fn peak_memory_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// "; peak memory N MB" where it is known (the end of a command's summary line).
pub fn peak_memory_note() -> String {
    peak_memory_kb().map(|kb| format!("; peak memory {} MB", kb.div_ceil(1024))).unwrap_or_default()
}

/// A results table, written as Markdown and CSV with the provenance in the header.
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
}

impl Table {
    pub fn markdown(&self, prov: &Provenance) -> String {
        let mut s = format!("## {}\n\n", self.title);
        for l in prov.header_lines() {
            s.push_str(&format!("- {l}\n"));
        }
        s.push('\n');
        s.push_str(&format!("| {} |\n", self.columns.join(" | ")));
        s.push_str(&format!("|{}\n", self.columns.iter().map(|_| "---|").collect::<String>()));
        for r in &self.rows {
            s.push_str(&format!("| {} |\n", r.join(" | ")));
        }
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                s.push_str(&format!("- {n}\n"));
            }
        }
        s
    }

    pub fn csv(&self, prov: &Provenance) -> String {
        let mut s = String::new();
        for l in prov.header_lines() {
            s.push_str(&format!("# {l}\n"));
        }
        s.push_str(&self.columns.join(","));
        s.push('\n');
        for r in &self.rows {
            s.push_str(&r.iter().map(|c| c.replace(',', ";")).collect::<Vec<_>>().join(","));
            s.push('\n');
        }
        s
    }
}

pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// A shipped folder's parsed `manifest.json`, its `model.bpk` bytes and that file's path
/// (each loader checks them against its architecture).
fn read_weight_files(dir: &Path) -> Result<(Manifest, Vec<u8>, PathBuf)> {
    let mpath = dir.join("manifest.json");
    let text = std::fs::read_to_string(&mpath).with_context(|| format!("reading {}", mpath.display()))?;
    let manifest = Manifest::parse(&text, &mpath.display().to_string())?;
    let wpath = dir.join("model.bpk");
    let bytes = std::fs::read(&wpath).with_context(|| format!("reading {}", wpath.display()))?;
    Ok((manifest, bytes, wpath))
}

/// Loads shipped FM-RME weights from a folder with `model.bpk` and `manifest.json`.
pub fn load_fm_rme_weights(dir: &Path) -> Result<FmRmeEstimator> {
    let (manifest, bytes, wpath) = read_weight_files(dir)?;
    let device = burn::tensor::Device::flex();
    let (model, config, context) = load_fm_rme(&manifest, &bytes, &device, &wpath.display().to_string())?;
    if let Some(check) = read_check::<Check>(dir)? {
        check.verify(&model, &config, &context, &device, dir)?;
    }
    Ok(FmRmeEstimator::new(model, config, context, device, "fm-rme")?)
}

/// Loads shipped STORM weights from a folder with `model.bpk` and `manifest.json` (and
/// replays its `check.json`).
pub fn load_storm_weights(dir: &Path) -> Result<StormMethod> {
    let (manifest, bytes, wpath) = read_weight_files(dir)?;
    let device = burn::tensor::Device::flex();
    let (model, config) = load_storm(&manifest, &bytes, &device, &wpath.display().to_string())?;
    let method = StormMethod::new(model, config, device, "storm")?;
    if let Some(check) = read_check::<StormCheck>(dir)? {
        check.verify(&method, dir)?;
    }
    Ok(method)
}

/// Where `--method storm` finds its weights.
pub const STORM_WEIGHTS: &str = "static/models/storm-small";

/// Where `--method fm-rme` finds its weights when `--weights` is not given.
pub const DEFAULT_WEIGHTS: &str = "static/models/fm-rme-small";

/// Any estimator by name: the classical ones, `fm-rme` from a weights folder, or a grid model
/// (a folder under `static/models`, e.g. `radiounet-small`, or `--weights DIR` with a grid
/// manifest) on the grid and buildings of `scene`.
pub fn estimator_for(name: &str, scene: Option<&RadioMap>, weights: Option<&Path>) -> Result<Box<dyn Estimator>> {
    if name == "fm-rme" {
        let dir = weights.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(DEFAULT_WEIGHTS));
        return Ok(Box::new(load_fm_rme_weights(&dir)?));
    }
    if name == "storm" {
        return Ok(Box::new(load_storm_weights(Path::new(STORM_WEIGHTS))?.into_estimator()));
    }
    if let Ok(e) = classical_by_name(name, scene) {
        return Ok(e);
    }
    let dir = Path::new(MODELS_DIR).join(name);
    if !dir.join("manifest.json").exists() {
        // Not a model folder either: the classical registry's message names the methods.
        return Ok(classical_by_name(name, scene)?);
    }
    let model = load_grid_weights(&dir)?;
    let map = scene.with_context(|| format!("{name} is a grid model: it needs a scene (a map) to estimate on"))?;
    Ok(Box::new(GridEstimator::new(model, GridScene::new(map.grid, map.buildings.clone())?)))
}

/// Where a list of methods is used, which decides the names it may hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MethodUse {
    /// On measurement files: the classical methods but the oracle (it needs a simulated
    /// scene), fm-rme and storm.
    OnMeasurements,
    /// On simulated or ray-traced maps: every classical method, fm-rme, storm, and the grid models
    /// (folders under [`MODELS_DIR`]).
    OnMaps,
}

/// Checks every name of `methods` before any work starts: an unknown one is an error that
/// lists the names this use accepts (`flag` names the argument).
pub fn check_methods(methods: &[String], usage: MethodUse, flag: &str) -> Result<()> {
    let mut known: Vec<String> = rme_core::classic::CLASSICAL_METHODS
        .iter()
        .filter(|m| usage == MethodUse::OnMaps || **m != "oracle")
        .map(|m| m.to_string())
        .collect();
    known.push("fm-rme".into());
    known.push("storm".into());
    if usage == MethodUse::OnMaps {
        known.extend(grid_model_folders());
    }
    for m in methods {
        let alias = m == "uk";
        if !alias && !known.contains(m) {
            if usage == MethodUse::OnMeasurements && m == "oracle" {
                bail!("{flag}: 'oracle' needs the simulated scene (a map set), not measurement files");
            }
            bail!("{flag}: unknown method '{m}' (one of {})", known.join(", "));
        }
    }
    Ok(())
}

/// Where model folders are found by name.
pub const MODELS_DIR: &str = "static/models";

/// The grid models shipped under [`MODELS_DIR`] (folders with a manifest, FM-RME's and
/// STORM's aside: they are the methods `fm-rme` and `storm`), sorted.
pub fn grid_model_folders() -> Vec<String> {
    let mut models: Vec<String> = std::fs::read_dir(MODELS_DIR)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("manifest.json").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n != "fm-rme" && !n.starts_with("fm-rme-") && !n.starts_with("storm"))
        .collect();
    models.sort();
    models
}

/// Loads shipped grid-model weights (autoencoder, RadioUNet) from a folder with `model.bpk`
/// and `manifest.json`.
pub fn load_grid_weights(dir: &Path) -> Result<LoadedGridModel> {
    let (manifest, bytes, wpath) = read_weight_files(dir)?;
    let model = load_grid_model(&manifest, &bytes, &burn::tensor::Device::flex(), &wpath.display().to_string())?;
    if let Some(check) = read_check::<GridCheck>(dir)? {
        check.verify(&model, dir)?;
    }
    Ok(model)
}

/// A table's ±1σ and ±2σ cells: percent of truths covered, one decimal; "-" for a method
/// without σ (nothing counted).
pub fn coverage_cells(coverage: &IntervalCoverage) -> [String; 2] {
    if coverage.count() == 0 {
        return ["-".into(), "-".into()];
    }
    let (one, two) = coverage.fractions();
    [format!("{:.1}", 100.0 * one), format!("{:.1}", 100.0 * two)]
}
