//! The loop every training run shares (FM-RME and the grid models): steps, the learning-rate
//! schedule, validation every `val_every` steps, the curve CSV, the progress bar (or plain
//! lines when stderr is not a terminal), atomic checkpoints, and `--stop-after`.

use crate::common::{Provenance, progress, write_atomic};
use anyhow::{Context, Result, bail, ensure};
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use rme_core::models::weights::sha256_hex;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// What the loop needs of a run's model.
pub trait Session {
    /// One optimisation step (1-based `step`, learning rate `lr`): the loss, and the curve's
    /// extra columns after it (each preceded by a comma; empty when there are none).
    fn step(&mut self, step: u64, lr: f64) -> Result<(f64, String)>;
    /// Validation RMSE, dB.
    fn validate(&self) -> Result<f64>;
    /// The model's parameters as burnpack bytes (for checkpoints).
    fn model_bytes(&self) -> Result<Vec<u8>>;
    /// The optimizer (its state goes into checkpoints).
    fn optimizer(&self) -> &ModuleOptimizer;
}

/// When the loop validates, checkpoints and stops.
pub struct Cadence<'a> {
    pub steps: u64,
    pub val_every: u64,
    pub checkpoint_every: u64,
    /// Stop after this step (tests of resume); the run stays resumable.
    pub stop_after: Option<u64>,
    /// Learning rate of a (1-based) step.
    pub lr: &'a dyn Fn(u64) -> f64,
}

/// Runs steps from `state.step + 1` to the end (or `stop_after`), appending to the curve
/// at `curve` (whose header is `step,loss[,extra…],lr,val_rmse_db,seconds`) and writing
/// checkpoints into `out`.
pub fn drive(session: &mut impl Session, cadence: &Cadence, out: &Path, curve: &Path, state: &mut State) -> Result<()> {
    let mut curve_file = std::fs::OpenOptions::new().append(true).open(curve)?;
    let pb = progress(cadence.steps, "train");
    pb.set_position(state.step);
    let started = Instant::now();
    let seconds_before = state.seconds;
    let first = state.step;
    while state.step < cadence.steps {
        let step = state.step + 1;
        let lr = (cadence.lr)(step);
        let (loss, extra) = session.step(step, lr)?;
        state.step = step;
        state.seconds = seconds_before + started.elapsed().as_secs_f64();
        let val = if step.is_multiple_of(cadence.val_every) || step == cadence.steps { Some(session.validate()?) } else { None };
        writeln!(
            curve_file,
            "{step},{loss:.6}{extra},{lr:.3e},{},{:.2}",
            val.map(|v| format!("{v:.4}")).unwrap_or_default(),
            state.seconds
        )?;
        let rate = (step - first) as f64 / started.elapsed().as_secs_f64().max(1e-9);
        pb.set_message(format!("loss {loss:.5} {rate:.2} step/s{}", val.map(|v| format!(" val {v:.2} dB")).unwrap_or_default()));
        pb.set_position(step);
        if pb.is_hidden() && (val.is_some() || step == first + 1) {
            // Not a terminal (a log file, CI): a plain line at each validation instead of the bar.
            let eta = (cadence.steps - step) as f64 / rate.max(1e-9);
            eprintln!(
                "step {step}/{}: loss {loss:.5}, {rate:.3} step/s, ETA {eta:.0} s{}",
                cadence.steps,
                val.map(|v| format!(", validation RMSE {v:.2} dB")).unwrap_or_default()
            );
        }
        if step.is_multiple_of(cadence.checkpoint_every) || step == cadence.steps {
            curve_file.flush()?;
            save_checkpoint(out, &session.model_bytes()?, session.optimizer(), state)?;
        }
        if cadence.stop_after.is_some_and(|s| step >= s) {
            break;
        }
    }
    pb.finish_and_clear();
    curve_file.flush()?;
    Ok(())
}

/// A run that reached its last step.
pub struct Finished<'a> {
    pub state: &'a State,
    /// The `--device` it ran on.
    pub device: &'a str,
    pub seed: u64,
    pub params: usize,
}

impl Finished<'_> {
    /// Writes `model.bpk`, `config.json` (the architecture) and `summary.json` (steps, time,
    /// device, machine, commit, command, parameters, plus `extra`'s fields) into `out`.
    pub fn write(&self, out: &Path, model_bytes: &[u8], config: serde_json::Value, extra: serde_json::Value) -> Result<()> {
        write_atomic(&out.join("model.bpk"), model_bytes)?;
        write_atomic(&out.join("config.json"), &serde_json::to_vec_pretty(&config)?)?;
        let prov = Provenance::capture(Some(self.seed));
        let mut summary = serde_json::json!({
            "steps": self.state.step,
            "seconds": self.state.seconds,
            "device": self.device,
            "machine": prov.machine,
            "commit": prov.commit,
            "command": prov.command,
            "params": self.params,
        });
        if let (Some(s), Some(e)) = (summary.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        write_atomic(&out.join("summary.json"), &serde_json::to_vec_pretty(&summary)?)
    }
}

/// Opens a run folder and locks it for this process (the returned guard holds the lock until
/// it is dropped): a fresh run refuses a folder that holds one and writes `run.json`; a
/// resumed run requires the same arguments as the stored `run.json`.
pub fn open_run<S: serde::Serialize + serde::de::DeserializeOwned + PartialEq>(out: &Path, spec: &S, resume: bool) -> Result<RunLock> {
    ensure!(!out.exists() || out.is_dir(), "--out {} is a file, not a run folder", out.display());
    if resume {
        ensure!(out.join("run.json").is_file(), "--resume: no run at {} (it has no run.json)", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating the run folder {}", out.display()))?;
    let lock = RunLock::acquire(out)?;
    let run_json = out.join("run.json");
    if resume {
        let bytes = std::fs::read(&run_json).with_context(|| format!("reading {}", run_json.display()))?;
        let stored: S = serde_json::from_slice(&bytes).with_context(|| {
            format!("{}: not the run.json of this kind of run (damaged, or written by another rme)", run_json.display())
        })?;
        ensure!(stored == *spec, "--resume: the arguments differ from those of the run in {} (see run.json)", out.display());
    } else {
        ensure!(
            !out.join("checkpoint").exists(),
            "{} already holds a run; add --resume to continue it or choose another --out",
            out.display()
        );
        write_atomic(&run_json, &serde_json::to_vec_pretty(spec)?)?;
    }
    Ok(lock)
}

/// An exclusive lock on a run folder: the file `.lock` in it, holding the owner's pid, made
/// with `create_new` (atomic, so of two runs started at once exactly one gets it) and removed
/// when the guard drops. A lock whose process is gone (a killed run) is taken over.
#[derive(Debug)]
pub struct RunLock {
    path: std::path::PathBuf,
}

impl RunLock {
    pub const FILE: &'static str = ".lock";

    pub fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(Self::FILE);
        for _attempt in 0..3 {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    write!(f, "{}", std::process::id()).with_context(|| format!("writing {}", path.display()))?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    match holder.trim().parse::<u32>() {
                        Ok(pid) if !process_alive(pid) => {
                            eprintln!("note: {} was left by pid {pid}, which is gone; taking it over", path.display());
                            let _ = std::fs::remove_file(&path);
                        }
                        Ok(pid) => bail!(
                            "{} is in use by another rme (pid {pid}, see {}): wait for it to finish or choose another --out",
                            dir.display(),
                            path.display()
                        ),
                        // Empty: being written by a run that started this instant, or left by
                        // one killed at that instant (then it is old).
                        Err(_) if lock_age(&path).is_some_and(|age| age > std::time::Duration::from_secs(10)) => {
                            eprintln!("note: {} is empty and old (a run killed as it started); taking it over", path.display());
                            let _ = std::fs::remove_file(&path);
                        }
                        Err(_) => bail!("{} is in use by another rme that is starting (see {})", dir.display(), path.display()),
                    }
                }
                Err(e) => return Err(e).with_context(|| format!("creating the lock {}", path.display())),
            }
        }
        bail!("could not lock {} (see {})", dir.display(), path.display())
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// How long ago a lock file was last written.
fn lock_age(path: &Path) -> Option<std::time::Duration> {
    std::fs::metadata(path).ok()?.modified().ok()?.elapsed().ok()
}

/// Whether a process runs: `/proc/PID` on Linux; elsewhere every holder counts as alive (the
/// message names the lock file to remove by hand).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// The last checkpoint of `out`: the model's bytes, the optimizer restored into `optim`, and
/// where the run stood. The files must match the sha256 sums in `state.json`, and the step
/// must lie within the run's `steps`.
pub fn load_checkpoint(out: &Path, optim: ModuleOptimizer, steps: u64) -> Result<(Vec<u8>, ModuleOptimizer, State)> {
    let ckpt = out.join("checkpoint");
    let read = |name: &str| {
        let p = ckpt.join(name);
        std::fs::read(&p).with_context(|| format!("reading {}", p.display()))
    };
    let state_path = ckpt.join("state.json");
    let state = State::parse(&read("state.json")?, &state_path.display().to_string(), steps)?;
    let bytes = read("model.bpk")?;
    let opt = read("optimizer.bin")?;
    for (name, data, expected) in [("model.bpk", &bytes, &state.model_sha256), ("optimizer.bin", &opt, &state.optimizer_sha256)] {
        if expected.is_empty() {
            eprintln!("note: {} has no checksums (written by an older rme): {name} is not verified", state_path.display());
            continue;
        }
        let actual = sha256_hex(data);
        ensure!(
            actual == *expected,
            "{}: sha256 {actual} does not match the {expected} recorded in {} (the checkpoint is damaged; restart the run)",
            ckpt.join(name).display(),
            state_path.display()
        );
    }
    let optim = optim
        .from_bytes(burn::tensor::Bytes::from_bytes_vec(opt))
        .map_err(|e| anyhow::anyhow!("{}: loading the optimizer: {e:?}", ckpt.join("optimizer.bin").display()))?;
    eprintln!("resuming {} at step {}", out.display(), state.step);
    Ok((bytes, optim, state))
}

/// Where a run stands (a checkpoint's `state.json`), with the sha256 of the checkpoint's
/// files so that a damaged one is never resumed from.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub step: u64,
    pub seconds: f64,
    #[serde(default)]
    pub model_sha256: String,
    #[serde(default)]
    pub optimizer_sha256: String,
}

impl State {
    /// Parses a `state.json` (`name` names it in errors) of a run of `steps` steps.
    pub fn parse(bytes: &[u8], name: &str, steps: u64) -> Result<Self> {
        let state: State = serde_json::from_slice(bytes).with_context(|| format!("{name}: not a checkpoint state (damaged?)"))?;
        ensure!(
            state.step <= steps,
            "{name}: the checkpoint is at step {}, past this run's {steps} steps (damaged, or from another run)",
            state.step
        );
        ensure!(state.seconds.is_finite() && state.seconds >= 0.0, "{name}: seconds {} is not a duration", state.seconds);
        let hex = |s: &str| s.is_empty() || (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
        ensure!(hex(&state.model_sha256) && hex(&state.optimizer_sha256), "{name}: a checksum is not a sha256");
        Ok(state)
    }
}

/// The compute device called `name` on the command line.
pub fn device(name: &str) -> Result<Device> {
    match name {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(Default::default())),
        #[cfg(not(feature = "wgpu"))]
        "wgpu" => bail!("this rme was built without the wgpu backend: cargo build --release -p rme-trainer --features wgpu"),
        "cuda" => bail!(
            "the cuda backend is not built (burn's cuda feature needs an LLVM download these machines cannot make); use --device wgpu on NVIDIA GPUs"
        ),
        other => bail!("unknown device '{other}' (flex, wgpu, cuda)"),
    }
}

/// Every run's learning rate at `step`: linear warm-up to `lr` over `warmup` steps, then a
/// cosine decay to 5 % of it at `steps`.
pub fn schedule(lr: f64, warmup: u64, steps: u64, step: u64) -> f64 {
    if step <= warmup {
        return lr * step as f64 / warmup.max(1) as f64;
    }
    let t = (step - warmup) as f64 / (steps - warmup).max(1) as f64;
    lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos()))
}

/// Keeps the curve rows up to `step` (a resumed run recomputes the rest identically).
pub fn truncate_curve(path: &Path, header: &str, step: u64) -> Result<()> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::from(header);
    out.push('\n');
    for line in text.lines().skip(1) {
        if line.split(',').next().and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s <= step) {
            out.push_str(line);
            out.push('\n');
        }
    }
    write_atomic(path, out.as_bytes())
}

/// Writes `checkpoint/` (model bytes, optimizer, state) atomically: a crash leaves the previous one.
pub fn save_checkpoint(dir: &Path, model_bytes: &[u8], optim: &burn::optim::ModuleOptimizer, state: &State) -> Result<()> {
    let tmp = dir.join("checkpoint.partial");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    std::fs::write(tmp.join("model.bpk"), model_bytes)?;
    let opt = optim.into_bytes().map_err(|e| anyhow::anyhow!("saving the optimizer: {e:?}"))?;
    std::fs::write(tmp.join("optimizer.bin"), &opt[..])?;
    let state = State { model_sha256: sha256_hex(model_bytes), optimizer_sha256: sha256_hex(&opt[..]), ..state.clone() };
    std::fs::write(tmp.join("state.json"), serde_json::to_vec_pretty(&state)?)?;
    // Swap in: the old checkpoint stays until the new one is complete.
    let final_dir = dir.join("checkpoint");
    let old = dir.join("checkpoint.old");
    let _ = std::fs::remove_dir_all(&old);
    if final_dir.exists() {
        std::fs::rename(&final_dir, &old)?;
    }
    std::fs::rename(&tmp, &final_dir)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// `curve.png` from column 1 (loss) and column `val_column` (validation RMSE) of a curve CSV.
pub fn plot_curve_columns(csv: &Path, png: &Path, val_column: usize) -> Result<()> {
    let text = std::fs::read_to_string(csv)?;
    let (mut loss, mut val) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() <= val_column {
            continue;
        }
        if let (Ok(s), Ok(l)) = (f[0].parse::<f64>(), f[1].parse::<f64>()) {
            loss.push((s, l));
            if let Ok(v) = f[val_column].parse::<f64>() {
                val.push((s, v));
            }
        }
    }
    if loss.len() < 2 {
        return Ok(());
    }
    let mut series = vec![(loss, true)];
    if val.len() >= 2 {
        series.push((val, false));
    }
    write_atomic(png, &rme_core::io::png::render_curves(&series, 800, 240)?)
}
