//! The grid adapter (ARCHITECTURE.md §One interface): grid models — the completion
//! autoencoder, RadioUNet, RadioDUN, PI-DRME — answer gridless measurement and query sets
//! through it, so they are compared with kriging and FM-RME on the same inputs and real
//! measurements can be fed to them.
//!
//! It rasterises a measurement set onto the model's grid (the mean of the samples falling in
//! a cell, and a mask of sampled cells), adds the scene's building mask and the distance map
//! from the transmitter when it is known, runs the model, and samples the dense output at every
//! query by bilinear interpolation between cell centres (exact at centres, continuous
//! between them, clamped to the edge half-cell).
//!
//! Values cross the model boundary normalised to `[0, 1]` over [`GAIN_RANGE_DB`] (the
//! RadioMapSeer convention the papers report "normalised RMSE" in), and are mapped back to
//! dB before anything leaves the estimator.

pub mod batch;
pub mod loss;
pub mod network;

pub use batch::{GridBatch, GridExample, GridTargets};
pub use loss::masked_grid_mse;
pub use network::{GridNetwork, NetworkModel};

use crate::error::{Result, RmeError};
use crate::estimator::Estimator;
use crate::map::{Estimate, Grid, MeasurementSet, QuerySet};

/// Path gain (dB) mapped to 0 and 1 at the model boundary: below the urban simulator's floor
/// of −160 dB nothing is measured, and no cell of a 1 m grid is stronger than −40 dB at 3.5 GHz.
pub const GAIN_RANGE_DB: (f64, f64) = (-160.0, -40.0);

/// dB → `[0, 1]` (not clipped: a stronger measurement is above 1).
pub fn normalise_db(v: f64) -> f64 {
    (v - GAIN_RANGE_DB.0) / (GAIN_RANGE_DB.1 - GAIN_RANGE_DB.0)
}

/// `[0, 1]` → dB.
pub fn denormalise_db(v: f64) -> f64 {
    GAIN_RANGE_DB.0 + v * (GAIN_RANGE_DB.1 - GAIN_RANGE_DB.0)
}

/// What a grid model knows of the scene besides the measurements: its grid and, where the
/// scene has one, its building mask.
#[derive(Clone, Debug, PartialEq)]
pub struct GridScene {
    /// The model's grid (the estimate's support).
    pub grid: Grid,
    /// Row-major `[rows, cols]`, 1 = building.
    pub buildings: Option<Vec<u8>>,
}

impl GridScene {
    /// A scene; the building mask must have one entry per cell.
    pub fn new(grid: Grid, buildings: Option<Vec<u8>>) -> Result<Self> {
        if let Some(b) = &buildings {
            if b.len() != grid.len() {
                return Err(RmeError::invalid(
                    "building mask",
                    format!("{} cells, the grid has {}x{} = {}", b.len(), grid.rows, grid.cols, grid.len()),
                ));
            }
            if b.iter().any(|&v| v > 1) {
                return Err(RmeError::invalid("building mask", "values must be 0 or 1"));
            }
        }
        Ok(Self { grid, buildings })
    }
}

/// A model's inputs on its grid, every plane row-major `[rows, cols]`.
#[derive(Clone, Debug, PartialEq)]
pub struct GridInputs {
    /// The grid.
    pub grid: Grid,
    /// Normalised mean sample per cell; 0 where unsampled.
    pub samples: Vec<f32>,
    /// 1 where at least one sample fell, else 0.
    pub mask: Vec<f32>,
    /// 1 = building (all 0 when the scene has no mask).
    pub buildings: Vec<f32>,
    /// Distance from the transmitter in units of the grid's diagonal; from the grid's
    /// south-west corner when the transmitter is unknown (RadioDUN's convention).
    pub distance: Vec<f32>,
    /// The statistical model's estimate (see [`ldpl_trend`]): the log-distance law fitted to
    /// the samples plus the interpolation of its residuals, normalised. RadioDUN's factors
    /// refine it; the other models ignore it.
    pub trend: Vec<f32>,
    /// The fitted log-distance law alone (see [`ldpl_law`]), normalised: PI-DRME's dense
    /// template.
    pub law: Vec<f32>,
    /// Whether `distance` is from the transmitter.
    pub tx_known: bool,
}

impl GridInputs {
    /// Rasterises `obs` onto the scene. Errors name an empty set, a non-finite value, a
    /// point outside the grid (by index and position) or a transmitter outside it.
    pub fn from_measurements(scene: &GridScene, obs: &MeasurementSet) -> Result<Self> {
        obs.validate()?;
        let grid = scene.grid;
        let n = grid.len();
        let mut sum = vec![0.0f64; n];
        let mut count = vec![0u32; n];
        for (i, m) in obs.points.iter().enumerate() {
            let Some((r, c)) = grid.cell_of(m.x_m, m.y_m) else {
                let [w, h] = grid.extent_m();
                return Err(RmeError::invalid(
                    "measurement set",
                    format!(
                        "point {i} at ({}, {}) m is outside the model's grid [{}, {}] × [{}, {}] m",
                        m.x_m,
                        m.y_m,
                        grid.origin_m[0],
                        grid.origin_m[0] + w,
                        grid.origin_m[1],
                        grid.origin_m[1] + h
                    ),
                ));
            };
            sum[r * grid.cols + c] += m.value;
            count[r * grid.cols + c] += 1;
        }
        let samples = (0..n).map(|i| if count[i] > 0 { normalise_db(sum[i] / count[i] as f64) as f32 } else { 0.0 }).collect();
        let mask = count.iter().map(|&k| (k > 0) as u8 as f32).collect();
        let buildings = match &scene.buildings {
            Some(b) => b.iter().map(|&v| v as f32).collect(),
            None => vec![0.0; n],
        };
        if let Some(tx) = obs.tx_m
            && grid.cell_of(tx[0], tx[1]).is_none()
        {
            return Err(RmeError::invalid("transmitter position", format!("({}, {}) m is outside the model's grid", tx[0], tx[1])));
        }
        let from = obs.tx_m.map(|t| [t[0], t[1]]).unwrap_or(grid.origin_m);
        let [w, h] = grid.extent_m();
        let diagonal = (w * w + h * h).sqrt();
        let distance = grid
            .centers()
            .iter()
            .map(|p| {
                let (dx, dy) = (p[0] - from[0], p[1] - from[1]);
                ((dx * dx + dy * dy).sqrt() / diagonal) as f32
            })
            .collect();
        let sampled: Vec<(usize, f64)> = (0..n).filter(|&i| count[i] > 0).map(|i| (i, sum[i] / count[i] as f64)).collect();
        let law_db = ldpl_law(&grid, &sampled, obs.tx_m);
        let trend = ldpl_trend(&grid, &sampled, &law_db);
        let law = law_db.iter().map(|&v| normalise_db(v).clamp(-1.0, 2.0) as f32).collect();
        Ok(Self { grid, samples, mask, buildings, distance, trend, law, tx_known: obs.tx_m.is_some() })
    }
}

/// Path-loss exponents outside this range are not physical: a least-squares fit to a few
/// samples that lands outside it is clamped into it (and the level refitted).
pub const TREND_EXPONENT_RANGE: (f64, f64) = (1.0, 6.0);

/// The log-distance law `η − 10·α·log10(d)` fitted by least squares to the sampled cells'
/// means (`(cell, dB)` pairs) at their centres, `d` the 3-D distance to the transmitter
/// (at least 1 m), in dB at every cell. An exponent outside [`TREND_EXPONENT_RANGE`] is
/// clamped and the level refitted. With the transmitter unknown, no sample, or no two
/// samples at distinct distances, the law degenerates to its level: the samples' mean (0 dB
/// without samples).
pub fn ldpl_law(grid: &Grid, sampled: &[(usize, f64)], tx_m: Option<[f64; 3]>) -> Vec<f64> {
    if sampled.is_empty() {
        return vec![0.0; grid.len()];
    }
    let mean = sampled.iter().map(|s| s.1).sum::<f64>() / sampled.len() as f64;
    let Some(tx) = tx_m else {
        return vec![mean; grid.len()];
    };
    let log_d: Vec<f64> =
        grid.centers().iter().map(|p| ((p[0] - tx[0]).powi(2) + (p[1] - tx[1]).powi(2) + tx[2].powi(2)).sqrt().max(1.0).log10()).collect();
    let xs: Vec<f64> = sampled.iter().map(|s| log_d[s.0]).collect();
    let x_mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let sxx: f64 = xs.iter().map(|x| (x - x_mean).powi(2)).sum();
    if sxx < 1e-9 {
        return vec![mean; grid.len()];
    }
    let sxy: f64 = xs.iter().zip(sampled).map(|(x, s)| (x - x_mean) * (s.1 - mean)).sum();
    // The slope of value on log10(d) is −10·α.
    let alpha = (-sxy / sxx / 10.0).clamp(TREND_EXPONENT_RANGE.0, TREND_EXPONENT_RANGE.1);
    let eta = mean + 10.0 * alpha * x_mean;
    log_d.iter().map(|l| eta - 10.0 * alpha * l).collect()
}

/// The statistical model's dense estimate, normalised: `law` (the [`ldpl_law`] of the
/// sampled cells, dB) plus the inverse-distance interpolation (16 neighbours, power 2) of its
/// residuals at the sampled cells — exact at them. With the transmitter unknown the law is
/// the samples' mean and this is plain inverse-distance weighting.
pub fn ldpl_trend(grid: &Grid, sampled: &[(usize, f64)], law: &[f64]) -> Vec<f32> {
    use crate::classic::{Idw, Sample, SliceContext, SpatialMethod};
    if sampled.is_empty() {
        return vec![0.0; grid.len()];
    }
    let centres = grid.centers();
    let residuals: Vec<Sample> = sampled.iter().map(|&(i, v)| Sample { x: centres[i][0], y: centres[i][1], value: v - law[i] }).collect();
    let ctx = SliceContext { t_s: 0.0, freq_hz: f64::NAN, tx_m: None };
    // IDW of a non-empty sample set at finite points cannot fail; a zero residual field is the
    // fallback all the same (the law alone).
    let interpolated = Idw::default().estimate_slice(&ctx, &residuals, &centres).map(|r| r.0).unwrap_or_else(|_| vec![0.0; grid.len()]);
    (0..grid.len()).map(|i| normalise_db(law[i] + interpolated[i]).clamp(-1.0, 2.0) as f32).collect()
}

/// Samples a dense `[rows, cols]` field at `(x, y)` by bilinear interpolation between cell
/// centres (clamped to the outermost centres within the edge half-cell). `None` outside the grid.
pub fn sample_bilinear(grid: &Grid, field: &[f64], x: f64, y: f64) -> Option<f64> {
    grid.cell_of(x, y)?;
    let u = ((x - grid.origin_m[0]) / grid.cell_size_m - 0.5).clamp(0.0, (grid.cols - 1) as f64);
    let v = ((y - grid.origin_m[1]) / grid.cell_size_m - 0.5).clamp(0.0, (grid.rows - 1) as f64);
    let (c0, r0) = (u.floor() as usize, v.floor() as usize);
    let (c1, r1) = ((c0 + 1).min(grid.cols - 1), (r0 + 1).min(grid.rows - 1));
    let (fu, fv) = (u - c0 as f64, v - r0 as f64);
    let at = |r: usize, c: usize| field[r * grid.cols + c];
    let top = at(r0, c0) * (1.0 - fu) + at(r0, c1) * fu;
    let bottom = at(r1, c0) * (1.0 - fu) + at(r1, c1) * fu;
    Some(top * (1.0 - fv) + bottom * fv)
}

/// A model that maps rasterised inputs to a dense map on the same grid.
pub trait GridModel {
    /// The method's name.
    fn name(&self) -> &str;
    /// The dense estimate, normalised to `[0, 1]` (see [`normalise_db`]), row-major `[rows, cols]`.
    fn predict(&self, inputs: &GridInputs) -> Result<Vec<f64>>;
}

/// Any [`GridModel`] over a scene, as an [`Estimator`].
pub struct GridEstimator<M: GridModel> {
    /// The model.
    pub model: M,
    /// The scene it estimates on.
    pub scene: GridScene,
}

impl<M: GridModel> GridEstimator<M> {
    /// The estimator of `model` on `scene`.
    pub fn new(model: M, scene: GridScene) -> Self {
        Self { model, scene }
    }

    /// The dense estimate in dB on the scene's grid (what the page draws).
    pub fn estimate_grid(&self, obs: &MeasurementSet) -> Result<Vec<f64>> {
        let inputs = GridInputs::from_measurements(&self.scene, obs)?;
        let out = self.model.predict(&inputs)?;
        if out.len() != self.scene.grid.len() {
            return Err(RmeError::numerical(self.model.name(), format!("{} outputs for {} cells", out.len(), self.scene.grid.len())));
        }
        Ok(out.into_iter().map(denormalise_db).collect())
    }
}

impl<M: GridModel> Estimator for GridEstimator<M> {
    fn name(&self) -> &str {
        self.model.name()
    }

    fn estimate(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate> {
        check_queries(&self.scene.grid, query)?;
        let dense = self.estimate_grid(obs)?;
        Ok(answer_queries(&self.scene.grid, &dense, query))
    }
}

/// Checks that every query lies on the grid (before a model runs: a bad query must not cost a
/// forward pass).
pub fn check_queries(grid: &Grid, query: &QuerySet) -> Result<()> {
    query.validate()?;
    for (i, q) in query.points.iter().enumerate() {
        if grid.cell_of(q.x_m, q.y_m).is_none() {
            return Err(RmeError::invalid("query set", format!("query {i} at ({}, {}) m is outside the model's grid", q.x_m, q.y_m)));
        }
    }
    Ok(())
}

/// Answers every query from a dense map in dB by [`sample_bilinear`] (queries checked by
/// [`check_queries`]).
pub fn answer_queries(grid: &Grid, dense_db: &[f64], query: &QuerySet) -> Estimate {
    Estimate { mean: query.points.iter().map(|q| sample_bilinear(grid, dense_db, q.x_m, q.y_m).unwrap_or(f64::NAN)).collect(), std: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::{Measurement, Query};

    fn grid() -> Grid {
        Grid::new(8, 10, 2.0, [100.0, 50.0]).unwrap()
    }

    fn set(points: &[(f64, f64, f64)]) -> MeasurementSet {
        MeasurementSet::from_points(
            points.iter().map(|&(x, y, v)| Measurement { x_m: x, y_m: y, t_s: 0.0, freq_hz: f64::NAN, value: v }).collect(),
        )
    }

    /// Answers a plane `a + b·x + c·y` (normalised) whatever it is given.
    struct Plane;
    impl GridModel for Plane {
        fn name(&self) -> &str {
            "plane"
        }
        fn predict(&self, inputs: &GridInputs) -> Result<Vec<f64>> {
            Ok(inputs.grid.centers().iter().map(|p| normalise_db(-100.0 + 0.5 * p[0] - 0.25 * p[1])).collect())
        }
    }

    #[test]
    fn answers_off_grid_queries_by_bilinear_interpolation() {
        let est = GridEstimator::new(Plane, GridScene::new(grid(), None).unwrap());
        // Bilinear interpolation reproduces a plane exactly between centres; in the edge
        // half-cell it holds the edge centre's value.
        let queries = [(103.7, 55.2), (110.0, 60.0), (117.4, 63.1)];
        let q = QuerySet { points: queries.iter().map(|&(x, y)| Query { x_m: x, y_m: y, t_s: 0.0, freq_hz: f64::NAN }).collect() };
        let e = est.estimate(&set(&[(101.0, 51.0, -90.0)]), &q).unwrap();
        for (&(x, y), m) in queries.iter().zip(&e.mean) {
            let expected = -100.0 + 0.5 * x - 0.25 * y;
            assert!((m - expected).abs() < 1e-9, "({x}, {y}): {m} vs {expected}");
        }
        let edge = QuerySet { points: vec![Query { x_m: 100.2, y_m: 50.3, t_s: 0.0, freq_hz: f64::NAN }] };
        let e = est.estimate(&set(&[(101.0, 51.0, -90.0)]), &edge).unwrap();
        assert!((e.mean[0] - (-100.0 + 0.5 * 101.0 - 0.25 * 51.0)).abs() < 1e-9);
    }

    #[test]
    fn rasterising_averages_samples_in_a_cell_and_marks_them() {
        let scene = GridScene::new(grid(), None).unwrap();
        let mut obs = set(&[(100.5, 50.5, -100.0), (101.5, 51.5, -80.0), (119.0, 65.0, -160.0)]);
        obs.tx_m = Some([119.0, 65.0, 2.0]);
        let inp = GridInputs::from_measurements(&scene, &obs).unwrap();
        assert_eq!(inp.mask.iter().sum::<f32>(), 2.0);
        assert!((inp.samples[0] as f64 - normalise_db(-90.0)).abs() < 1e-6);
        assert_eq!(inp.samples[7 * 10 + 9], 0.0); // −160 dB is the bottom of the range
        assert_eq!(inp.mask[7 * 10 + 9], 1.0);
        assert!(inp.tx_known);
        // Distance 0 in the transmitter's cell's neighbourhood, largest at the far corner.
        let far = inp.distance[0];
        assert!(inp.distance.iter().all(|&d| d <= far));
    }

    #[test]
    fn bad_inputs_are_named() {
        let scene = GridScene::new(grid(), None).unwrap();
        let est = GridEstimator::new(Plane, scene.clone());
        let q = QuerySet { points: vec![Query { x_m: 101.0, y_m: 51.0, t_s: 0.0, freq_hz: f64::NAN }] };
        let e = est.estimate(&set(&[]), &q).unwrap_err().to_string();
        assert!(e.contains("empty") || e.contains("measurement"), "{e}");
        let e = est.estimate(&set(&[(10.0, 51.0, -90.0)]), &q).unwrap_err().to_string();
        assert!(e.contains("point 0") && e.contains("outside"), "{e}");
        let e = est.estimate(&set(&[(101.0, 51.0, f64::NAN)]), &q).unwrap_err().to_string();
        assert!(e.to_lowercase().contains("nan") || e.contains("finite"), "{e}");
        let far = QuerySet { points: vec![Query { x_m: 1e3, y_m: 51.0, t_s: 0.0, freq_hz: f64::NAN }] };
        let e = est.estimate(&set(&[(101.0, 51.0, -90.0)]), &far).unwrap_err().to_string();
        assert!(e.contains("query 0") && e.contains("outside"), "{e}");
        let e = GridScene::new(grid(), Some(vec![0; 79])).unwrap_err().to_string();
        assert!(e.contains("building mask") && e.contains("79"), "{e}");
        let mut obs = set(&[(101.0, 51.0, -90.0)]);
        obs.tx_m = Some([0.0, 0.0, 1.0]);
        let e = est.estimate(&obs, &q).unwrap_err().to_string();
        assert!(e.contains("transmitter"), "{e}");
    }

    #[test]
    fn the_law_recovers_alpha_and_eta() {
        // Samples of η − 10·α·log10(d) with η = −42, α = 2.7, the transmitter 10 m above the
        // receivers: the fitted law is that law at every cell (PI-DRME's template).
        let tx = [108.0, 55.0, 10.0];
        let law = |x: f64, y: f64| -42.0 - 27.0 * ((x - tx[0]).powi(2) + (y - tx[1]).powi(2) + 100.0).sqrt().log10();
        let g = grid();
        let c = g.centers();
        let sampled: Vec<(usize, f64)> = [0usize, 9, 31, 50, 77].iter().map(|&i| (i, law(c[i][0], c[i][1]))).collect();
        let fitted = ldpl_law(&g, &sampled, Some(tx));
        for (i, p) in c.iter().enumerate() {
            assert!((fitted[i] - law(p[0], p[1])).abs() < 1e-9, "cell {i}: {} vs {}", fitted[i], law(p[0], p[1]));
        }
        // Unknown transmitter: the samples' mean everywhere.
        let mean = sampled.iter().map(|s| s.1).sum::<f64>() / 5.0;
        assert!(ldpl_law(&g, &sampled, None).iter().all(|v| (v - mean).abs() < 1e-9));
        // The inputs carry it normalised.
        let mut obs = set(&sampled.iter().map(|&(i, v)| (c[i][0], c[i][1], v)).collect::<Vec<_>>());
        obs.tx_m = Some(tx);
        let inp = GridInputs::from_measurements(&GridScene::new(g, None).unwrap(), &obs).unwrap();
        assert!((denormalise_db(inp.law[40] as f64) - law(c[40][0], c[40][1])).abs() < 1e-3);
    }

    #[test]
    fn the_trend_recovers_a_log_distance_law_and_interpolates_its_residuals() {
        // Samples of −50 − 10·3·log10(d) around a transmitter at (110, 58, 0): the fit is exact.
        let tx = [110.0, 58.0, 0.0];
        let law = |x: f64, y: f64| -50.0 - 30.0 * ((x - tx[0]).hypot(y - tx[1]).max(1.0)).log10();
        let g = grid();
        let c = g.centers();
        let picks = [3usize, 17, 42, 66, 79];
        let mut obs = set(&picks.iter().map(|&i| (c[i][0], c[i][1], law(c[i][0], c[i][1]))).collect::<Vec<_>>());
        obs.tx_m = Some(tx);
        let inp = GridInputs::from_measurements(&GridScene::new(g, None).unwrap(), &obs).unwrap();
        for (i, p) in c.iter().enumerate() {
            assert!((denormalise_db(inp.trend[i] as f64) - law(p[0], p[1])).abs() < 1e-3, "cell {i}");
        }
        // Unknown transmitter: inverse-distance weighting of the samples (16 neighbours,
        // power 2), exact at the samples. By hand at cell 0 (centre (101, 51)): weights 1/d².
        obs.tx_m = None;
        let inp = GridInputs::from_measurements(&GridScene::new(g, None).unwrap(), &obs).unwrap();
        for &i in &picks {
            assert!((denormalise_db(inp.trend[i] as f64) - law(c[i][0], c[i][1])).abs() < 1e-3, "sample cell {i}");
        }
        let (mut num, mut den) = (0.0, 0.0);
        for &i in &picks {
            let w = 1.0 / ((c[i][0] - c[0][0]).powi(2) + (c[i][1] - c[0][1]).powi(2));
            num += w * law(c[i][0], c[i][1]);
            den += w;
        }
        assert!((denormalise_db(inp.trend[0] as f64) - num / den).abs() < 1e-3);
        // An unphysical slope (power rising with distance) is clamped to the smallest exponent;
        // the residuals' interpolation still honours both samples.
        let mut rising = set(&[(101.0, 51.0, -90.0), (117.0, 63.0, -60.0)]);
        rising.tx_m = Some([101.0, 51.0, 0.0]);
        let inp = GridInputs::from_measurements(&GridScene::new(g, None).unwrap(), &rising).unwrap();
        let at = |x: f64, y: f64| {
            let (r, c) = g.cell_of(x, y).unwrap();
            denormalise_db(inp.trend[r * g.cols + c] as f64)
        };
        assert!((at(101.0, 51.0) + 90.0).abs() < 1e-3 && (at(117.0, 63.0) + 60.0).abs() < 1e-3);
    }
}
