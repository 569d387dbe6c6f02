//! `rme estimate`: one method, measurements in, estimate out (CSV, npy, PNG).

use crate::common::{Outputs, estimator_for, load_measurements};
use anyhow::{Context, Result, bail};
use rme_core::io::csv::{read_queries, write_estimate};
use rme_core::io::npy::write_npy_f32;
use rme_core::io::png::{RenderOptions, render_map, world_file};
use rme_core::{Estimate, Estimator, Grid, MeasurementSet, QuerySet};
use std::path::{Path, PathBuf};

pub struct Args {
    pub measurements: PathBuf,
    pub query: Option<PathBuf>,
    pub grid_from: Option<PathBuf>,
    pub cell: f64,
    pub t_s: Option<f64>,
    pub freq_hz: Option<f64>,
    pub method: String,
    pub weights: Option<PathBuf>,
    pub out: Vec<PathBuf>,
}

/// The kind of an output file, from its extension.
#[derive(Clone, Copy, PartialEq)]
enum OutputKind {
    Csv,
    Npy,
    Png,
}

fn output_kind(path: &Path) -> Result<OutputKind> {
    match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("csv") => Ok(OutputKind::Csv),
        Some("npy") => Ok(OutputKind::Npy),
        Some("png") => Ok(OutputKind::Png),
        _ => bail!("--out {}: unknown output type (use .csv, .npy or .png)", path.display()),
    }
}

pub fn run(a: &Args) -> Result<()> {
    // Every output is checked before any work, and all are written together or none.
    let kinds: Vec<OutputKind> = a.out.iter().map(|p| output_kind(p)).collect::<Result<_>>()?;
    if a.grid_from.is_none()
        && let Some(p) = a.out.iter().zip(&kinds).find(|(_, k)| **k != OutputKind::Csv).map(|(p, _)| p)
    {
        bail!("--out {}: .npy and .png need a grid (--grid-from), not a query list", p.display());
    }
    let (obs, report) = load_measurements(&a.measurements)?;
    for n in report.notes() {
        eprintln!("note: {}: {n}", a.measurements.display());
    }
    let est = estimator_for(&a.method, None, a.weights.as_deref())?;
    if let Some(note) = rme_core::classic::fallback_note(&a.method, &obs) {
        eprintln!("note: {note}");
    }
    // Default slot and band of a grid: those of the first measurement.
    let t = a.t_s.unwrap_or(obs.points[0].t_s);
    let f = a.freq_hz.unwrap_or(obs.points[0].freq_hz);
    let (query, grid): (QuerySet, Option<Grid>) = match (&a.query, &a.grid_from) {
        (Some(q), None) => {
            let text = std::fs::read_to_string(q).with_context(|| format!("reading {}", q.display()))?;
            (read_queries(&text, &q.display().to_string())?, None)
        }
        (None, Some(g)) => {
            let (pts, _) = load_measurements(g)?;
            let xy: Vec<[f64; 2]> = pts.points.iter().map(|p| [p.x_m, p.y_m]).collect();
            let grid = Grid::covering(&xy, a.cell)?;
            (QuerySet::from_grid(&grid, t, f), Some(grid))
        }
        _ => bail!("give exactly one of --query FILE or --grid-from FILE"),
    };
    if a.out.is_empty() {
        bail!("give at least one --out file (.csv, .npy or .png)");
    }
    let started = std::time::Instant::now();
    let e = with_progress(est.as_ref(), &obs, &query)?;
    let secs = started.elapsed().as_secs_f64();
    let mut files = Outputs::new();
    for (out, kind) in a.out.iter().zip(&kinds) {
        match (kind, &grid) {
            (OutputKind::Csv, _) => files.add(out, write_estimate(&query, &e, &obs.quantity)),
            (_, Some(g)) => add_grid_output(&mut files, out, *kind, g, &e.mean, e.std.as_deref(), &obs.quantity)?,
            (_, None) => bail!("--out {}: .npy and .png need a grid (--grid-from)", out.display()),
        }
    }
    files.commit()?;
    eprintln!(
        "{}: {} measurements → {} queries in {secs:.2} s; wrote {}",
        est.name(),
        obs.len(),
        query.len(),
        a.out.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// Adds a grid estimate as npy (`[rows, cols]`, plus `_std.npy`) or PNG (plus `.pgw` world
/// file and `_std.png` when there is a σ).
fn add_grid_output(
    files: &mut Outputs,
    out: &Path,
    kind: OutputKind,
    g: &Grid,
    mean: &[f64],
    std: Option<&[f64]>,
    quantity: &str,
) -> Result<()> {
    let stem = out.with_extension("");
    let std_path = |ext: &str| PathBuf::from(format!("{}_std.{ext}", stem.display()));
    let unit = if quantity.ends_with("dbm") { "dBm" } else { "dB" };
    if kind == OutputKind::Npy {
        let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        files.add(out, write_npy_f32(&[g.rows, g.cols], &to32(mean)));
        if let Some(s) = std {
            files.add(std_path("npy"), write_npy_f32(&[g.rows, g.cols], &to32(s)));
        }
    } else {
        let scale = (512 / g.rows.max(g.cols)).clamp(1, 8);
        let opts = RenderOptions { scale, unit: unit.into(), ..Default::default() };
        files.add(out, render_map(mean, g.rows, g.cols, None, &opts)?);
        files.add(out.with_extension("pgw"), world_file(g, scale));
        if let Some(s) = std {
            let opts = RenderOptions { unit: "dB".into(), ..opts };
            files.add(std_path("png"), render_map(s, g.rows, g.cols, None, &opts)?);
            files.add(std_path("pgw"), world_file(g, scale));
        }
    }
    Ok(())
}

/// Estimates with a progress bar on stderr (a fraction and ETA where the method reports parts,
/// the time spent otherwise; plain lines when stderr is not a terminal), then checks every
/// value finite.
fn with_progress(est: &dyn Estimator, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate> {
    let what = format!("{}: {} measurements → {} queries", est.name(), obs.len(), query.len());
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed_precise} {wide_bar} {pos}/{len} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.set_message(what.clone());
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    let hidden = pb.is_hidden();
    let started = std::time::Instant::now();
    let last_line = std::cell::Cell::new(None::<u64>);
    let report = |done: usize, total: usize| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
        // Not a terminal (a log): a line at the first report of a multi-part estimate (which
        // may cover several parts: FM-RME reports per batched pass), then every 30 s.
        let secs = started.elapsed().as_secs();
        if hidden && total > 1 && last_line.get().is_none_or(|last| secs >= last + 30) {
            last_line.set(Some(secs));
            eprintln!("{what}: {done}/{total} parts after {secs} s");
        }
    };
    let e = est.estimate_with_progress(obs, query, &report);
    pb.finish_and_clear();
    let e = e?;
    e.check_finite(query, est.name())?;
    Ok(e)
}
