//! The Gaussian-process oracle: the posterior mean and σ given the simulator's own mean
//! (noise-free path loss of the true transmitters) and its own shadowing covariance.
//!
//! Prior covariance between two voxels (space x, slot t, band f), from the dynamic simulator:
//! `σ²·exp(−|Δx|/d_c)·exp(−v̄·|Δt|/d_tx)·(w + (1−w)·[f = f'])`, `v̄` the transmitters' mean
//! speed. With one transmitter this is the simulator's exact law and the oracle is the
//! Bayes-optimal estimator (the accuracy limit). With several transmitters the received
//! power in dB is a log-sum of fields and not Gaussian: the oracle is then the best linear
//! estimator under this covariance, a strong reference rather than a strict bound.
//!
//! Solved exactly (one Cholesky over all measurements) up to `exact_limit` measurements;
//! above it each query conditions on its nearest measurements in its own slice and in the
//! most correlated other slices.

use super::linalg::{Cholesky, Matrix};
use crate::error::{Result, RmeError};
use crate::estimator::Estimator;
use crate::map::{Estimate, MeasurementSet, PropagationTruth, QuerySet, RadioMap, TxTrack};
use crate::sim::propagation::mean_power_dbm;

/// GP oracle for one simulated scene.
#[derive(Clone, Debug)]
pub struct GpOracle {
    truth: PropagationTruth,
    tx: Vec<TxTrack>,
    slots_s: Vec<f64>,
    bands_hz: Vec<f64>,
    mean_speed_m_s: f64,
    /// Up to this many measurements, one global solve; beyond, local neighbourhoods.
    pub exact_limit: usize,
    /// Local neighbourhood: measurements from the query's own slice.
    pub neighbours_same_slice: usize,
    /// Local neighbourhood: measurements from each other slice used.
    pub neighbours_other_slice: usize,
    /// Local neighbourhood: how many other slices contribute.
    pub other_slices: usize,
}

#[derive(Clone, Copy)]
struct Point {
    x: f64,
    y: f64,
    slot: usize,
    band: usize,
    freq: f64,
}

impl GpOracle {
    /// Needs the map's simulator model (`truth`) and transmitters: only synthetic maps have them.
    pub fn from_map(map: &RadioMap) -> Result<Self> {
        let truth = map.truth.clone().ok_or_else(|| {
            RmeError::unsupported("oracle", format!("map {} carries no simulator model (only simulated maps do)", map.id))
        })?;
        let (mut dist, mut time) = (0.0, 0.0);
        for t in &map.tx {
            for w in t.positions_m.windows(2) {
                dist += ((w[1][0] - w[0][0]).powi(2) + (w[1][1] - w[0][1]).powi(2)).sqrt();
            }
        }
        if map.slots_s.len() > 1 {
            time = (map.slots_s[map.slots_s.len() - 1] - map.slots_s[0]) * map.tx.len() as f64;
        }
        // The straight-line distance between slots underestimates road distance at turns:
        // the nominal 12.5 m/s (mid of 10–15) is a floor.
        let mean_speed_m_s = if time > 0.0 { (dist / time).max(12.5) } else { 12.5 };
        Ok(Self {
            truth,
            tx: map.tx.clone(),
            slots_s: map.slots_s.clone(),
            bands_hz: map.bands_hz.clone(),
            mean_speed_m_s,
            exact_limit: 400,
            neighbours_same_slice: 48,
            neighbours_other_slice: 16,
            other_slices: 2,
        })
    }

    fn locate(&self, x: f64, y: f64, t: f64, f: f64) -> Point {
        let slot = self.slots_s.iter().rposition(|&s| s <= t + 1e-9).unwrap_or(0);
        let band = if f.is_finite() {
            (0..self.bands_hz.len()).min_by(|&a, &b| (self.bands_hz[a] - f).abs().total_cmp(&(self.bands_hz[b] - f).abs())).unwrap_or(0)
        } else {
            0
        };
        let freq = if f.is_finite() { f } else { self.bands_hz[band] };
        Point { x, y, slot, band, freq }
    }

    fn mean(&self, p: &Point) -> f64 {
        mean_power_dbm(&self.truth, &self.tx, p.slot, p.band, p.freq, p.x, p.y)
    }

    /// Correlation from the slot and band difference alone.
    fn slice_corr(&self, a: &Point, b: &Point) -> f64 {
        let dt = (self.slots_s[a.slot] - self.slots_s[b.slot]).abs();
        let rt = (-self.mean_speed_m_s * dt / self.truth.tx_decorrelation_m).exp();
        let w = self.truth.band_common_share;
        let rf = if a.band == b.band { 1.0 } else { w };
        rt * rf
    }

    fn cov(&self, a: &Point, b: &Point) -> f64 {
        let s2 = self.truth.shadowing_sigma_db.powi(2);
        let h = ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
        s2 * (-h / self.truth.shadowing_corr_dist_m).exp() * self.slice_corr(a, b)
    }

    /// Factor of the prior covariance over `idx` and the weights `K⁻¹ r` of the residuals.
    fn factor(&self, pts: &[Point], resid: &[f64], idx: &[usize]) -> Result<(Cholesky, Vec<f64>)> {
        let n = idx.len();
        let mut k = Matrix::zeros(n);
        for (r, &i) in idx.iter().enumerate() {
            for (c, &j) in idx.iter().enumerate() {
                k.set(r, c, self.cov(&pts[i], &pts[j]));
            }
        }
        // A relative jitter of 1e-10 keeps coincident points factorable without changing results.
        let jitter = 1e-10 * self.truth.shadowing_sigma_db.powi(2);
        for d in 0..n {
            k.set(d, d, k.at(d, d) + jitter);
        }
        let chol = Cholesky::new(&k)?;
        let r: Vec<f64> = idx.iter().map(|&i| resid[i]).collect();
        let alpha = chol.solve(&r);
        Ok((chol, alpha))
    }

    /// Posterior mean and σ at `q` given the factor over `idx`.
    fn predict(&self, pts: &[Point], idx: &[usize], chol: &Cholesky, alpha: &[f64], q: &Point) -> (f64, f64) {
        let kq: Vec<f64> = idx.iter().map(|&i| self.cov(&pts[i], q)).collect();
        let v = chol.forward(&kq);
        let mean = self.mean(q) + kq.iter().zip(alpha).map(|(a, b)| a * b).sum::<f64>();
        let var = self.truth.shadowing_sigma_db.powi(2) - v.iter().map(|x| x * x).sum::<f64>();
        (mean, var.max(0.0).sqrt())
    }
}

impl Estimator for GpOracle {
    fn name(&self) -> &str {
        "oracle"
    }

    fn estimate(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate> {
        obs.validate()?;
        query.validate()?;
        let pts: Vec<Point> = obs.points.iter().map(|m| self.locate(m.x_m, m.y_m, m.t_s, m.freq_hz)).collect();
        let resid: Vec<f64> = obs.points.iter().zip(&pts).map(|(m, p)| m.value - self.mean(p)).collect();
        let mut mean = Vec::with_capacity(query.len());
        let mut std = Vec::with_capacity(query.len());
        if pts.len() <= self.exact_limit {
            let idx: Vec<usize> = (0..pts.len()).collect();
            let (chol, alpha) = self.factor(&pts, &resid, &idx)?;
            for q in &query.points {
                let qp = self.locate(q.x_m, q.y_m, q.t_s, q.freq_hz);
                let (m, s) = self.predict(&pts, &idx, &chol, &alpha, &qp);
                mean.push(m);
                std.push(s);
            }
            return Ok(Estimate { mean, std: Some(std) });
        }
        // Local: group measurements by slice once.
        let nb = self.bands_hz.len();
        let mut by_slice: Vec<Vec<usize>> = vec![Vec::new(); self.slots_s.len() * nb];
        for (i, p) in pts.iter().enumerate() {
            by_slice[p.slot * nb + p.band].push(i);
        }
        let occupied: Vec<usize> = (0..by_slice.len()).filter(|&s| !by_slice[s].is_empty()).collect();
        for q in &query.points {
            let qp = self.locate(q.x_m, q.y_m, q.t_s, q.freq_hz);
            let mut ranked: Vec<(f64, usize)> = occupied
                .iter()
                .map(|&s| {
                    let sp = Point { slot: s / nb, band: s % nb, ..qp };
                    (self.slice_corr(&qp, &sp), s)
                })
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut idx = Vec::new();
            for (rank, &(_, s)) in ranked.iter().take(1 + self.other_slices).enumerate() {
                let k = if rank == 0 { self.neighbours_same_slice } else { self.neighbours_other_slice };
                let members = &by_slice[s];
                let mut d: Vec<(f64, usize)> =
                    members.iter().map(|&i| ((pts[i].x - qp.x).powi(2) + (pts[i].y - qp.y).powi(2), i)).collect();
                d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                idx.extend(d.iter().take(k).map(|&(_, i)| i));
            }
            let (chol, alpha) = self.factor(&pts, &resid, &idx)?;
            let (m, s) = self.predict(&pts, &idx, &chol, &alpha, &qp);
            mean.push(m);
            std.push(s);
        }
        Ok(Estimate { mean, std: Some(std) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::kriging::Kriging;
    use crate::classic::slices::Sliced;
    use crate::classic::variogram::{Variogram, VariogramModel};
    use crate::map::{Grid, Measurement, Query};
    use crate::rng::Rng;
    use crate::sim::propagation::{RX_HEIGHT_M, mean_power_dbm as mp};
    use std::sync::Arc;

    /// A one-transmitter, one-slot, one-band scene with a log-normal shadowing field.
    fn scene() -> RadioMap {
        let grid = Grid::new(32, 32, 4.0, [0.0, 0.0]).unwrap();
        let truth = PropagationTruth {
            path_loss_exponent: 3.0,
            reference_distance_m: 1.0,
            shadowing_sigma_db: 6.0,
            shadowing_corr_dist_m: 25.0,
            band_common_share: 0.8,
            tx_decorrelation_m: 50.0,
            noise_dbm: -107.0,
        };
        let tx = TxTrack { positions_m: vec![[40.0, 60.0, RX_HEIGHT_M]], power_dbm: 10.0, bands: vec![], active: vec![] };
        let sampler = crate::sim::fields::GaussianFieldSampler::new(
            32,
            32,
            4.0,
            crate::sim::fields::ExponentialCovariance { sigma_db: 6.0, corr_dist_m: 25.0 },
        )
        .unwrap();
        let (field, _) = sampler.sample_pair(&mut Rng::new(9));
        let values = grid
            .centers()
            .iter()
            .zip(&field)
            .map(|(c, s)| (mp(&truth, std::slice::from_ref(&tx), 0, 0, 3e9, c[0], c[1]) + s) as f32)
            .collect();
        let mut m = RadioMap::new("one-tx", grid, vec![0.0], vec![3e9], values, "power_dbm").unwrap();
        m.tx = vec![tx];
        m.truth = Some(truth);
        m
    }

    #[test]
    fn simple_kriging_with_the_true_model_equals_the_oracle() {
        let map = scene();
        let oracle = GpOracle::from_map(&map).unwrap();
        let mut rng = Rng::new(1);
        let vox = rng.choose_indices(map.grid.len(), 120);
        let obs = map.measurements_at(&vox);
        let queries = QuerySet {
            points: (0..50).map(|i| Query { x_m: 1.3 + 2.5 * i as f64, y_m: 120.0 - 2.2 * i as f64, t_s: 0.0, freq_hz: 3e9 }).collect(),
        };
        let (truth, tx) = (map.truth.clone().unwrap(), map.tx.clone());
        let mean: crate::classic::kriging::MeanFn = Arc::new(move |_, x, y| mp(&truth, &tx, 0, 0, 3e9, x, y));
        let v = Variogram { model: VariogramModel::Exponential, nugget: 0.0, partial_sill: 36.0, range: 25.0 };
        let sk = Sliced(Kriging { exact_limit: 10_000, ..Kriging::simple(mean, v) });
        let a = oracle.estimate(&obs, &queries).unwrap();
        let b = sk.estimate(&obs, &queries).unwrap();
        for i in 0..queries.len() {
            assert!((a.mean[i] - b.mean[i]).abs() < 1e-6, "mean {i}: {} vs {}", a.mean[i], b.mean[i]);
            let (sa, sb) = (a.std.as_ref().unwrap()[i], b.std.as_ref().unwrap()[i]);
            assert!((sa - sb).abs() < 1e-4, "σ {i}: {sa} vs {sb}");
        }
    }

    #[test]
    fn oracle_beats_the_prior_mean() {
        let map = scene();
        let oracle = GpOracle::from_map(&map).unwrap();
        let mut rng = Rng::new(2);
        let vox = rng.choose_indices(map.grid.len(), 100);
        let rest: Vec<usize> = (0..map.grid.len()).filter(|v| !vox.contains(v)).collect();
        let e = oracle.estimate(&map.measurements_at(&vox), &map.queries_at(&rest)).unwrap();
        let truth: Vec<f64> = rest.iter().map(|&v| map.values[v] as f64).collect();
        let prior: Vec<f64> = rest
            .iter()
            .map(|&v| {
                let q = map.voxel_point(v);
                oracle.mean(&oracle.locate(q.x_m, q.y_m, 0.0, 3e9))
            })
            .collect();
        let rmse = |a: &[f64]| (a.iter().zip(&truth).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64).sqrt();
        assert!(rmse(&e.mean) < 0.8 * rmse(&prior), "oracle {} prior {}", rmse(&e.mean), rmse(&prior));
    }

    #[test]
    fn maps_without_a_model_are_refused() {
        let grid = Grid::new(2, 2, 1.0, [0.0, 0.0]).unwrap();
        let m = RadioMap::new("x", grid, vec![], vec![], vec![0.0; 4], "power_dbm").unwrap();
        assert!(GpOracle::from_map(&m).is_err());
        let _ = Measurement { x_m: 0.0, y_m: 0.0, t_s: 0.0, freq_hz: 0.0, value: 0.0 };
    }
}
