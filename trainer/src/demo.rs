//! `rme demo`: a simulated scene, a few measurements and every classical estimate of it, as
//! images and a `results.json` that the static demo page (`index.html`) shows. The browser
//! build of the same models replaces this static page in the web issue.

use crate::common::{Outputs, estimator_for};
use anyhow::{Result, ensure};
use rme_core::QuerySet;
use rme_core::io::csv::write_measurements;
use rme_core::io::png::{RenderOptions, finite_range, render_map};
use rme_core::metrics::mae;
use rme_core::scene::{SliceTask, scene_map};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

#[derive(Serialize)]
struct MethodResult {
    name: String,
    rmse_db: Option<f64>,
    mae_db: Option<f64>,
    ms: Option<f64>,
    estimate_png: Option<String>,
    error_png: Option<String>,
    std_png: Option<String>,
    /// Where to measure next (the free outdoor cell of largest σ), for methods with σ.
    next_measurement: Option<NextMeasurement>,
    error: Option<String>,
}

/// The suggested next measurement: its cell (row-major), the cell's centre and its σ.
#[derive(Serialize)]
struct NextMeasurement {
    cell: usize,
    x_m: f64,
    y_m: f64,
    std_db: f64,
}

#[derive(Serialize)]
struct Results {
    preset: String,
    seed: u64,
    slot: usize,
    band: usize,
    freq_hz: f64,
    t_s: f64,
    grid: [usize; 2],
    cell_size_m: f64,
    observed: usize,
    predicted: usize,
    truth_png: String,
    measurements_csv: String,
    methods: Vec<MethodResult>,
    command: String,
}

pub struct Args {
    pub preset: String,
    pub seed: u64,
    pub slot: usize,
    pub band: usize,
    pub samples: usize,
    pub methods: Vec<String>,
    pub weights: Option<std::path::PathBuf>,
}

pub fn run(a: &Args, out: &Path) -> Result<()> {
    // The same scene as the page (`rme_core::scene::scene_map`: D1–D7 or "urban").
    let map = scene_map(&a.preset, a.seed)?;
    ensure!(
        a.slot < map.slots() && a.band < map.bands(),
        "{}: slot {} / band {} out of range ({} slots, {} bands)",
        a.preset,
        a.slot,
        a.band,
        map.slots(),
        map.bands()
    );
    // The same task, sampling and error definition as the browser page (`rme_core::scene`).
    let mut task = SliceTask::new(map, a.slot, a.band)?;
    task.sample_random(a.samples, a.seed)?;
    let cells = task.cells().to_vec();
    let obs = task.measurements();
    let query: QuerySet = task.queries();
    let truth = task.truth();
    let hidden = task.hidden();
    let map = &task.map;
    let range = finite_range(truth.iter());
    let (rows, cols) = (map.grid.rows, map.grid.cols);
    let scale = (384 / rows.max(cols)).clamp(1, 8);
    let markers: Vec<(usize, usize)> = cells.iter().map(|c| (c / cols, c % cols)).collect();
    let opts = RenderOptions { scale, range, unit: "dBm".into(), markers };
    let buildings = map.buildings.clone();
    let buildings = buildings.as_deref();
    let mut files = Outputs::new();
    files.add(out.join("truth.png"), render_map(&truth, rows, cols, buildings, &opts)?);
    files.add(out.join("measurements.csv"), write_measurements(&obs).as_bytes());

    let plain = RenderOptions { markers: vec![], ..opts.clone() };
    let mut methods = Vec::new();
    for m in &a.methods {
        let result = (|| -> Result<MethodResult> {
            let est = estimator_for(m, Some(map), a.weights.as_deref())?;
            let t0 = Instant::now();
            let e = est.estimate_checked(&obs, &query)?;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let h_est: Vec<f64> = hidden.iter().map(|&c| e.mean[c]).collect();
            let h_true: Vec<f64> = hidden.iter().map(|&c| truth[c]).collect();
            let rmse_db = task.hidden_rmse(&e.mean)?;
            let err: Vec<f64> = e.mean.iter().zip(&truth).map(|(a, b)| (a - b).abs()).collect();
            files.add(out.join(format!("estimate_{m}.png")), render_map(&e.mean, rows, cols, buildings, &plain)?);
            let err_opts = RenderOptions { range: Some((0.0, 20.0)), unit: "dB".into(), ..plain.clone() };
            files.add(out.join(format!("error_{m}.png")), render_map(&err, rows, cols, buildings, &err_opts)?);
            // A constant σ (LDPL's residual RMS) makes an empty picture: the table says it.
            let std_png = match e.std.as_ref().filter(|s| s.iter().any(|v| (v - s[0]).abs() > 1e-9)) {
                Some(s) => {
                    let o = RenderOptions { range: finite_range(s.iter()), unit: "dB".into(), ..plain.clone() };
                    files.add(out.join(format!("std_{m}.png")), render_map(s, rows, cols, None, &o)?);
                    Some(format!("std_{m}.png"))
                }
                None => None,
            };
            let next_measurement = match e.std {
                Some(_) => rme_core::suggest_next(&e, &hidden, m)?.map(|s| NextMeasurement {
                    cell: s.query,
                    x_m: query.points[s.query].x_m,
                    y_m: query.points[s.query].y_m,
                    std_db: s.std,
                }),
                None => None,
            };
            Ok(MethodResult {
                name: m.clone(),
                rmse_db: Some(rmse_db),
                next_measurement,
                mae_db: Some(mae(&h_est, &h_true)?),
                ms: Some(ms),
                estimate_png: Some(format!("estimate_{m}.png")),
                error_png: Some(format!("error_{m}.png")),
                std_png,
                error: None,
            })
        })();
        methods.push(result.unwrap_or_else(|e| MethodResult {
            name: m.clone(),
            rmse_db: None,
            mae_db: None,
            ms: None,
            estimate_png: None,
            error_png: None,
            std_png: None,
            next_measurement: None,
            error: Some(format!("{e:#}")),
        }));
    }
    let results = Results {
        preset: a.preset.clone(),
        seed: a.seed,
        slot: a.slot,
        band: a.band,
        freq_hz: map.bands_hz[a.band],
        t_s: map.slots_s[a.slot],
        grid: [rows, cols],
        cell_size_m: map.grid.cell_size_m,
        observed: cells.len(),
        predicted: hidden.len(),
        truth_png: "truth.png".into(),
        measurements_csv: "measurements.csv".into(),
        methods,
        command: std::env::args().collect::<Vec<_>>().join(" "),
    };
    files.add(out.join("results.json"), serde_json::to_string_pretty(&results)?.as_bytes());
    files.commit()?;
    for m in &results.methods {
        match (m.rmse_db, &m.error) {
            (Some(r), _) => {
                let next = m
                    .next_measurement
                    .as_ref()
                    .map_or(String::new(), |n| format!("; measure next at ({:.1}, {:.1}) m (σ {:.2} dB)", n.x_m, n.y_m, n.std_db));
                eprintln!("{:>18}: RMSE {r:.2} dB on {} unobserved cells{next}", m.name, results.predicted)
            }
            (None, Some(e)) => eprintln!("{:>18}: {e}", m.name),
            _ => {}
        }
    }
    Ok(())
}
