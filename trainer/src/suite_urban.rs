//! `rme eval --suite urban`: the urban tables (RadioDUN's and PI-DRME's setting). One table per
//! setting — transmitter known / unknown × 9 samples, 1 %, 10 % of the street cells — with
//! the classical methods and the learned grid models side by side on the same measurements.
//! Maps: the simulator's test cities (never seen in training or validation), and, zero-shot,
//! the ray-traced Sionna maps (`--sionna`, 128² only: the grid models' size).
//!
//! Metrics over the cells with a truth (outdoor, finite): RMSE in dB; RMSE normalised by the
//! 120 dB span of [`GAIN_RANGE_DB`] (−160…−40 dB ↦ 0…1, RadioMapSeer's convention); PSNR on
//! that normalised scale (range 1); SSIM of the normalised maps with the cells without truth
//! set to 0 in both (RadioMapSeer's maps are 0 inside buildings). RMSE pools every cell of every
//! map; PSNR and SSIM are means over maps.

use crate::common::{Provenance, Table, load_grid_weights, load_mapset, write_report};
use anyhow::Result;
use rme_core::metrics::{SquaredErrors, psnr, ssim};
use rme_core::models::grid::{GAIN_RANGE_DB, GridEstimator, GridScene, normalise_db};
use rme_core::models::grid_nets::LoadedGridModel;
use rme_core::rng::Rng;
use rme_core::sim::dynamic::sample_seed;
use rme_core::sim::urban::{Sampling, Split, UrbanSimulator};
use rme_core::{Estimator, QuerySet, RadioMap, classical_by_name};
use std::path::{Path, PathBuf};

pub struct Args {
    /// Cells per side of the simulated maps.
    pub size: usize,
    /// Test cities and transmitters per city.
    pub cities: usize,
    pub maps_per_city: usize,
    /// Methods: classical names, or the names of model folders under `models`.
    pub methods: Vec<String>,
    /// Where model folders are found (static/models).
    pub models: PathBuf,
    pub sionna: Option<PathBuf>,
    pub seed: u64,
    /// Sampling draws per map ([`evaluate`]).
    pub draws: usize,
    pub out: Option<PathBuf>,
}

/// Default methods of the suite.
pub const DEFAULT_METHODS: &str = "idw,kriging,universal-kriging,ldpl,autoencoder-small,radiounet-small,radiodun-small";

/// The samplings of the tables.
fn samplings() -> [Sampling; 3] {
    [Sampling::Count(9), Sampling::Fraction(0.01), Sampling::Fraction(0.1)]
}

#[derive(Default, Clone)]
pub struct Scores {
    pub errors: SquaredErrors,
    pub ssim: Vec<f64>,
    pub psnr: Vec<f64>,
    pub failure: Option<String>,
}

impl Scores {
    pub fn row(&self, name: &str) -> Vec<String> {
        if self.errors.count() == 0 {
            let why = self.failure.clone().unwrap_or_else(|| "no estimate".into());
            return vec![
                name.into(),
                format!("n/a ({})", why.chars().take(70).collect::<String>()),
                String::new(),
                String::new(),
                String::new(),
            ];
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let rmse = self.errors.rmse();
        vec![
            name.into(),
            format!("{rmse:.2}"),
            format!("{:.4}", rmse / (GAIN_RANGE_DB.1 - GAIN_RANGE_DB.0)),
            format!("{:.4}", mean(&self.ssim)),
            format!("{:.2}", mean(&self.psnr)),
        ]
    }
}

pub enum Method {
    Classical(Box<dyn Estimator>),
    Grid(Box<LoadedGridModel>),
}

pub fn load_method(name: &str, models: &Path) -> Result<Method> {
    if let Ok(e) = classical_by_name(name, None) {
        return Ok(Method::Classical(e));
    }
    let dir = models.join(name);
    anyhow::ensure!(dir.join("manifest.json").exists(), "method '{name}': not a classical method and no model folder {}", dir.display());
    Ok(Method::Grid(Box::new(load_grid_weights(&dir)?)))
}

/// Cells with a truth: outdoor and finite.
fn valid_cells(map: &RadioMap) -> Vec<bool> {
    (0..map.grid.len()).map(|i| map.is_valid_voxel(i)).collect()
}

/// Scores one method on one map observed at `cells`.
pub fn score(method: &Method, map: &RadioMap, cells: &[usize], tx_known: bool, into: &mut Scores) {
    let mut obs = map.measurements_at(cells);
    if !tx_known {
        obs.tx_m = None;
    }
    let queries = QuerySet::from_grid(&map.grid, map.slots_s[0], map.bands_hz[0]);
    let estimate = match method {
        Method::Classical(e) => e.estimate_checked(&obs, &queries).map(|e| e.mean),
        Method::Grid(m) => GridScene::new(map.grid, map.buildings.clone())
            .and_then(|scene| GridEstimator::new((**m).clone(), scene).estimate_checked(&obs, &queries))
            .map(|e| e.mean),
    };
    let estimate = match estimate {
        Ok(v) => v,
        Err(e) => {
            into.failure.get_or_insert(e.to_string());
            return;
        }
    };
    let valid = valid_cells(map);
    let (mut est_n, mut truth_n) = (vec![0.0; valid.len()], vec![0.0; valid.len()]);
    let (mut est_v, mut truth_v) = (Vec::new(), Vec::new());
    for i in 0..valid.len() {
        if valid[i] {
            let (e, t) = (estimate[i], map.values[i] as f64);
            into.errors.push(e, t);
            est_n[i] = normalise_db(e);
            truth_n[i] = normalise_db(t);
            est_v.push(est_n[i]);
            truth_v.push(truth_n[i]);
        }
    }
    if let Ok(s) = ssim(&est_n, &truth_n, map.grid.rows, map.grid.cols, 1.0) {
        into.ssim.push(s);
    }
    if let Ok(p) = psnr(&est_v, &truth_v, 1.0) {
        into.psnr.push(p);
    }
}

/// Samples `sampling` among the cells with a truth (a ray-traced map has holes outside buildings).
pub fn sample(map: &RadioMap, sampling: Sampling, rng: &mut Rng) -> Result<Vec<usize>> {
    let blocked: Vec<u8> = valid_cells(map).iter().map(|&v| (!v) as u8).collect();
    Ok(sampling.cells(map.grid.rows, map.grid.cols, &blocked, rng)?)
}

/// How a table samples its maps: `draws` independent samplings of every map, draw `d` the
/// one seed `seed + d` gives (so `draws` = 1 is one seed's table, and 20 draws pool the
/// tables of seeds `seed`…`seed + 19`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draws {
    pub seed: u64,
    pub draws: usize,
}

impl Draws {
    /// The note a table pooled over several draws carries (none for one draw).
    pub fn note(&self) -> Option<String> {
        (self.draws > 1).then(|| {
            format!(
                "pooled over {} sampling draws per map (seeds {}…{}): RMSE over every cell of every draw, SSIM and PSNR means over maps × draws",
                self.draws,
                self.seed,
                self.seed + self.draws as u64 - 1
            )
        })
    }
}

/// Scores every method on every map observed with `sampling`, `draws.draws` times (the same
/// cells for every method and both transmitter settings: they depend on the seed, the map
/// and `key` alone).
pub fn evaluate(
    maps: &[RadioMap],
    methods: &[(String, Method)],
    sampling: Sampling,
    tx_known: bool,
    draws: Draws,
    key: usize,
) -> Result<Vec<Scores>> {
    let mut scores: Vec<Scores> = vec![Scores::default(); methods.len()];
    for d in 0..draws.draws as u64 {
        for (mi, map) in maps.iter().enumerate() {
            let mut rng = Rng::new(sample_seed(draws.seed + d, (mi * 16 + key) as u64));
            let cells = sample(map, sampling, &mut rng)?;
            for (k, (_, m)) in methods.iter().enumerate() {
                score(m, map, &cells, tx_known, &mut scores[k]);
            }
        }
    }
    Ok(scores)
}

/// The test cities' maps: `cities` × `maps_per_city` transmitters at `size`².
pub fn test_maps(size: usize, cities: usize, maps_per_city: usize) -> Result<Vec<RadioMap>> {
    let sim = UrbanSimulator::new(size)?;
    let mut maps = Vec::new();
    for c in 0..cities as u64 {
        let city = sim.split_city(Split::Test, c)?;
        for k in 0..maps_per_city as u64 {
            maps.push(sim.simulate(&city, 1000 + k)?);
        }
    }
    Ok(maps)
}

/// The metric columns of [`Scores::row`].
pub fn metric_columns() -> Vec<String> {
    vec!["method".into(), "RMSE (dB)".into(), "RMSE (normalised)".into(), "SSIM".into(), "PSNR (dB)".into()]
}

/// The notes every urban table carries.
pub fn metric_notes(maps: usize, tx_known: bool) -> Vec<String> {
    vec![
        format!("{maps} maps; samples only on cells with a truth (outdoor); the same cells for every method"),
        "normalised: path gain mapped from [−160, −40] dB to [0, 1] (span 120 dB); PSNR and SSIM on that scale, SSIM with buildings set to 0".into(),
        if tx_known {
            "transmitter known: universal kriging and LDPL use its position; grid models get the distance map from it".into()
        } else {
            "transmitter unknown: universal kriging is ordinary kriging, LDPL fits the position; grid models get the distance from the grid's corner".into()
        },
    ]
}

fn tables_for(maps: &[RadioMap], methods: &[(String, Method)], args: &Args, source: &str) -> Result<Vec<Table>> {
    let mut tables = Vec::new();
    for tx_known in [true, false] {
        for (si, sampling) in samplings().into_iter().enumerate() {
            let draws = Draws { seed: args.seed, draws: args.draws };
            let scores = evaluate(maps, methods, sampling, tx_known, draws, si)?;
            let mode = if tx_known { "transmitter known" } else { "transmitter unknown" };
            let rows = methods.iter().zip(&scores).map(|((name, _), s)| s.row(name)).collect();
            tables.push(Table {
                title: format!("Urban, {source}: {}, {mode}", sampling.label()),
                columns: metric_columns(),
                rows,
                notes: metric_notes(maps.len(), tx_known).into_iter().chain(draws.note()).collect(),
            });
        }
    }
    Ok(tables)
}

pub fn run(args: &Args) -> Result<String> {
    let methods: Vec<(String, Method)> =
        args.methods.iter().map(|m| Ok((m.clone(), load_method(m, &args.models)?))).collect::<Result<_>>()?;
    let maps = test_maps(args.size, args.cities, args.maps_per_city)?;
    let prov = Provenance::capture(Some(args.seed));
    let source = format!("{} test cities × {} transmitters, {}²", args.cities, args.maps_per_city, args.size);
    let mut tables = tables_for(&maps, &methods, args, &source)?;
    if let Some(dir) = &args.sionna {
        let sionna: Vec<RadioMap> = load_mapset(dir, None)?.into_iter().filter(|m| m.grid.rows == 128 && m.grid.cols == 128).collect();
        anyhow::ensure!(!sionna.is_empty(), "{} has no 128² map", dir.display());
        tables.extend(tables_for(&sionna, &methods, args, &format!("Sionna RT zero-shot ({} maps, 128²)", sionna.len()))?);
    }
    let md: String = tables.iter().map(|t| t.markdown(&prov)).collect::<Vec<_>>().join("\n");
    if let Some(out) = &args.out {
        let csv: String = tables.iter().map(|t| format!("# {}\n{}", t.title, t.csv(&prov))).collect::<Vec<_>>().join("\n");
        write_report(out, &[("md", md.as_bytes()), ("csv", csv.as_bytes())])?;
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two draws pool exactly the errors of the two one-draw tables of seeds s and s + 1, and
    /// the draws differ (otherwise pooling would add nothing).
    #[test]
    fn draws_pool_the_tables_of_consecutive_seeds() {
        let maps = test_maps(64, 1, 2).unwrap();
        let methods = vec![("idw".to_string(), load_method("idw", Path::new("static/models")).unwrap())];
        let run =
            |seed: u64, draws: usize| evaluate(&maps, &methods, Sampling::Count(9), true, Draws { seed, draws }, 0).unwrap().remove(0);
        let (first, second, both) = (run(5, 1), run(6, 1), run(5, 2));
        assert_eq!(both.errors.count(), first.errors.count() + second.errors.count());
        assert!((both.errors.sum() - first.errors.sum() - second.errors.sum()).abs() < 1e-9 * both.errors.sum());
        assert_eq!(both.ssim.len(), 4);
        assert!((first.errors.rmse() - second.errors.rmse()).abs() > 1e-6, "the two seeds sampled the same cells");
        assert_eq!(Draws { seed: 5, draws: 1 }.note(), None);
        assert!(Draws { seed: 5, draws: 20 }.note().unwrap().contains("seeds 5…24"));
    }
}
