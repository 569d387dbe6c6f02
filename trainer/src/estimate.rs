//! `rme estimate`: one method, measurements in, estimate out (CSV, npy, PNG).

use crate::common::{estimator_for, load_measurements, write_atomic};
use anyhow::{Context, Result, bail};
use rme_core::io::csv::{read_queries, write_estimate};
use rme_core::io::npy::write_npy_f32;
use rme_core::io::png::{RenderOptions, render_map, world_file};
use rme_core::{Grid, QuerySet};
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

pub fn run(a: &Args) -> Result<()> {
    let (obs, report) = load_measurements(&a.measurements)?;
    for n in report.notes() {
        eprintln!("note: {}: {n}", a.measurements.display());
    }
    let est = estimator_for(&a.method, None, a.weights.as_deref())?;
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
    let e = est.estimate(&obs, &query)?;
    let secs = started.elapsed().as_secs_f64();
    for out in &a.out {
        match out.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
            Some("csv") => write_atomic(out, write_estimate(&query, &e, &obs.quantity).as_bytes())?,
            Some("npy") | Some("png") => {
                let g = grid
                    .as_ref()
                    .with_context(|| format!("{}: .npy and .png need a grid (--grid-from), not a query list", out.display()))?;
                write_grid_output(out, g, &e.mean, e.std.as_deref(), &obs.quantity)?;
            }
            _ => bail!("{}: unknown output type (use .csv, .npy or .png)", out.display()),
        }
    }
    eprintln!(
        "{}: {} measurements → {} queries in {secs:.2} s; wrote {}",
        est.name(),
        obs.len(),
        query.len(),
        a.out.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// Writes a grid estimate as npy (`[rows, cols]`, plus `_std.npy`) or PNG (plus `.pgw` world
/// file and `_std.png` when there is a σ).
fn write_grid_output(out: &Path, g: &Grid, mean: &[f64], std: Option<&[f64]>, quantity: &str) -> Result<()> {
    let stem = out.with_extension("");
    let std_path = |ext: &str| PathBuf::from(format!("{}_std.{ext}", stem.display()));
    let unit = if quantity.ends_with("dbm") { "dBm" } else { "dB" };
    if out.extension().is_some_and(|e| e.eq_ignore_ascii_case("npy")) {
        let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        write_atomic(out, &write_npy_f32(&[g.rows, g.cols], &to32(mean)))?;
        if let Some(s) = std {
            write_atomic(&std_path("npy"), &write_npy_f32(&[g.rows, g.cols], &to32(s)))?;
        }
    } else {
        let scale = (512 / g.rows.max(g.cols)).clamp(1, 8);
        let opts = RenderOptions { scale, unit: unit.into(), ..Default::default() };
        write_atomic(out, &render_map(mean, g.rows, g.cols, None, &opts)?)?;
        write_atomic(&out.with_extension("pgw"), world_file(g, scale).as_bytes())?;
        if let Some(s) = std {
            let opts = RenderOptions { unit: "dB".into(), ..opts };
            write_atomic(&std_path("png"), &render_map(s, g.rows, g.cols, None, &opts)?)?;
            write_atomic(&std_path("pgw"), world_file(g, scale).as_bytes())?;
        }
    }
    Ok(())
}
