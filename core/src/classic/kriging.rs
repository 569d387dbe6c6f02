//! Kriging: ordinary (unknown constant mean), universal (log-distance trend in the
//! transmitter distance) and simple (known mean) — with a variogram fitted to the data
//! (exponential, Gaussian or spherical, chosen by fit) or given.
//!
//! Neighbourhood: with at most `exact_limit` samples the system is solved once over all of
//! them (exact). Above it each query uses its `neighbours` nearest samples — the usual local
//! kriging: by the screening effect, far samples get almost no weight, and the error this
//! makes is checked against the exact solve in the tests (< 0.05 dB).

use super::linalg::{Cholesky, Lu, Matrix};
use super::slices::{NearestSamples, Sample, SliceContext, SpatialMethod, nearest};
use super::variogram::{Variogram, empirical, fit};
use crate::error::{Result, RmeError};
use std::collections::HashMap;
use std::sync::Arc;

/// Known mean of the field at `(x, y)` in a slice.
pub type MeanFn = Arc<dyn Fn(&SliceContext, f64, f64) -> f64 + Send + Sync>;

/// The mean (trend) model.
#[derive(Clone)]
pub enum Trend {
    /// Ordinary kriging: unknown constant mean.
    Constant,
    /// Universal kriging with drift `[1, −10·log10 d]`, `d` the distance to the known
    /// transmitter (falls back to `Constant` when the measurement set names none).
    LogDistance,
    /// Simple kriging around a known mean.
    Known(MeanFn),
}

impl std::fmt::Debug for Trend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trend::Constant => write!(f, "Constant"),
            Trend::LogDistance => write!(f, "LogDistance"),
            Trend::Known(_) => write!(f, "Known(..)"),
        }
    }
}

/// Where the variogram comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum VariogramSpec {
    /// Fitted to the (detrended) samples of each slice.
    Fit,
    /// Given (e.g. the simulator's true one).
    Fixed(Variogram),
}

/// Kriging estimator settings.
#[derive(Clone, Debug)]
pub struct Kriging {
    /// The mean model: constant (ordinary), log-distance (universal) or known (simple).
    pub trend: Trend,
    /// Fitted from the data, or given.
    pub variogram: VariogramSpec,
    /// Samples per query in the local neighbourhood.
    pub neighbours: usize,
    /// Up to this many samples, solve once over all of them.
    pub exact_limit: usize,
    /// Lag bins of the empirical variogram.
    pub bins: usize,
}

impl Default for Kriging {
    fn default() -> Self {
        Self { trend: Trend::Constant, variogram: VariogramSpec::Fit, neighbours: 64, exact_limit: 400, bins: 15 }
    }
}

impl Kriging {
    /// Ordinary kriging with a fitted variogram.
    pub fn ordinary() -> Self {
        Self::default()
    }
    /// Universal kriging: log-distance trend when the transmitter is known, ordinary otherwise.
    pub fn universal() -> Self {
        Self { trend: Trend::LogDistance, ..Self::default() }
    }
    /// Simple kriging with a known mean function and variogram.
    pub fn simple(mean: MeanFn, variogram: Variogram) -> Self {
        Self { trend: Trend::Known(mean), variogram: VariogramSpec::Fixed(variogram), ..Self::default() }
    }

    /// The variogram used for a slice, fitted when asked to.
    pub fn variogram_for(&self, ctx: &SliceContext, samples: &[Sample]) -> Result<Variogram> {
        match self.variogram {
            VariogramSpec::Fixed(v) => Ok(v),
            VariogramSpec::Fit => {
                let resid = self.residuals(ctx, samples)?;
                fit(&empirical(&resid, self.bins)?)
            }
        }
    }

    fn drift(&self, ctx: &SliceContext, x: f64, y: f64) -> Vec<f64> {
        match (&self.trend, ctx.tx_m) {
            (Trend::LogDistance, Some(tx)) => {
                let d = ((x - tx[0]).powi(2) + (y - tx[1]).powi(2) + tx[2].powi(2)).sqrt().max(1.0);
                vec![1.0, -10.0 * d.log10()]
            }
            (Trend::Known(_), _) => vec![],
            _ => vec![1.0],
        }
    }

    /// Samples minus the trend (OLS fit of the drift for ordinary/universal kriging).
    fn residuals(&self, ctx: &SliceContext, samples: &[Sample]) -> Result<Vec<Sample>> {
        if let Trend::Known(m) = &self.trend {
            return Ok(samples.iter().map(|s| Sample { value: s.value - m(ctx, s.x, s.y), ..*s }).collect());
        }
        let p = self.drift(ctx, 0.0, 0.0).len();
        let cols: Vec<Vec<f64>> = (0..p).map(|j| samples.iter().map(|s| self.drift(ctx, s.x, s.y)[j]).collect()).collect();
        let refs: Vec<&[f64]> = cols.iter().map(|c| c.as_slice()).collect();
        let y: Vec<f64> = samples.iter().map(|s| s.value).collect();
        let beta = super::linalg::least_squares(&refs, &y).or_else(|_| super::linalg::least_squares(&refs[..1], &y))?;
        Ok(samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let t: f64 = beta.iter().enumerate().map(|(j, b)| b * cols[j][i]).sum();
                Sample { value: s.value - t, ..*s }
            })
            .collect())
    }

    /// Builds the kriging matrix over `idx` and factors it.
    fn system(&self, ctx: &SliceContext, v: &Variogram, s: &[Sample], idx: &[usize]) -> Result<(Lu, usize)> {
        let n = idx.len();
        let p = self.drift(ctx, 0.0, 0.0).len();
        let mut a = Matrix::zeros(n + p);
        for (r, &i) in idx.iter().enumerate() {
            a.set(r, r, v.sill());
            // Symmetric: each pair's covariance once.
            for (c, &j) in idx.iter().enumerate().skip(r + 1) {
                let h = ((s[i].x - s[j].x).powi(2) + (s[i].y - s[j].y).powi(2)).sqrt();
                let cov = v.covariance(h.max(1e-12));
                a.set(r, c, cov);
                a.set(c, r, cov);
            }
            let f = self.drift(ctx, s[i].x, s[i].y);
            for k in 0..p {
                a.set(r, n + k, f[k]);
                a.set(n + k, r, f[k]);
            }
        }
        Ok((Lu::new(a)?, p))
    }

    /// Mean and σ at `q`. `zero_lag` is the covariance between `q` and a sample at the same
    /// place: the sill to reproduce the sample (exact interpolation), the partial sill to
    /// estimate the noise-free field there ([`Kriging::denoise`]).
    #[allow(clippy::too_many_arguments)]
    fn predict(
        &self,
        ctx: &SliceContext,
        v: &Variogram,
        s: &[Sample],
        idx: &[usize],
        lu: &Lu,
        p: usize,
        q: [f64; 2],
        zero_lag: f64,
    ) -> (f64, f64) {
        let n = idx.len();
        let mut b = Vec::with_capacity(n + p);
        for &i in idx {
            let h = ((s[i].x - q[0]).powi(2) + (s[i].y - q[1]).powi(2)).sqrt();
            b.push(if h < 1e-9 { zero_lag } else { v.covariance(h) });
        }
        b.extend(self.drift(ctx, q[0], q[1]));
        let sol = lu.solve(&b);
        let (mean, var) = match &self.trend {
            Trend::Known(m) => {
                let m0 = m(ctx, q[0], q[1]);
                let mut est = m0;
                let mut var = v.sill();
                for (k, &i) in idx.iter().enumerate() {
                    est += sol[k] * (s[i].value - m(ctx, s[i].x, s[i].y));
                    var -= sol[k] * b[k];
                }
                (est, var)
            }
            _ => {
                let mut est = 0.0;
                let mut var = v.sill();
                for k in 0..n + p {
                    if k < n {
                        est += sol[k] * s[idx[k]].value;
                    }
                    var -= sol[k] * b[k];
                }
                (est, var)
            }
        };
        (mean, var.max(0.0).sqrt())
    }
}

impl Kriging {
    /// The estimate of the noise-free field at each sample's own position, under variogram
    /// `v` (a smoother, where [`SpatialMethod::estimate_slice`] interpolates): the nugget is
    /// taken as measurement noise, so a sample's reading counts for the partial sill's share
    /// of its variance and its neighbours for the rest. With a zero nugget every sample is
    /// returned as it is. `samples` must hold distinct positions ([`merge_duplicates`]).
    pub fn denoise(&self, ctx: &SliceContext, v: &Variogram, samples: &[Sample]) -> Result<Vec<f64>> {
        let p = self.drift(ctx, 0.0, 0.0).len();
        if samples.len() < p.max(1) + 1 {
            return Err(RmeError::invalid(
                "kriging",
                format!("{} distinct sample positions in a slice; at least 2 are needed", samples.len()),
            ));
        }
        let at = |i: usize| [samples[i].x, samples[i].y];
        if samples.len() <= self.exact_limit {
            // The dual form: the system is symmetric, so bᵢᵀ A⁻¹ [z; 0] for every sample i
            // needs one solve (α = A⁻¹ [z; 0]) and n dot products, not n solves.
            let known = |x: f64, y: f64| if let Trend::Known(m) = &self.trend { m(ctx, x, y) } else { 0.0 };
            let idx: Vec<usize> = (0..samples.len()).collect();
            let (lu, p) = self.system(ctx, v, samples, &idx)?;
            let mut rhs: Vec<f64> = samples.iter().map(|s| s.value - known(s.x, s.y)).collect();
            rhs.resize(samples.len() + p, 0.0);
            let alpha = lu.solve(&rhs);
            return Ok(samples
                .iter()
                .enumerate()
                .map(|(i, q)| {
                    let covariances = samples.iter().enumerate().map(|(j, s)| {
                        if j == i { v.partial_sill } else { v.covariance(((s.x - q.x).powi(2) + (s.y - q.y).powi(2)).sqrt().max(1e-12)) }
                    });
                    let drift = self.drift(ctx, q.x, q.y);
                    known(q.x, q.y) + covariances.chain(drift).zip(&alpha).map(|(b, a)| b * a).sum::<f64>()
                })
                .collect());
        }
        let search = NearestSamples::new(samples);
        (0..samples.len())
            .map(|i| {
                let idx = search.of(at(i), self.neighbours);
                let (lu, p) = self.system(ctx, v, samples, &idx)?;
                Ok(self.predict(ctx, v, samples, &idx, &lu, p, at(i), v.partial_sill).0)
            })
            .collect()
    }

    /// Mean squared leave-one-out error under variogram `v`: at up to `anchors` samples
    /// (spread evenly over the list) the reading is predicted from its `neighbours` nearest
    /// others. Comparing it between two variograms says which describes the readings better:
    /// with real measurement noise a nugget averages it out and predicts held-out readings
    /// better; on a noise-free field the nearest readings are worth more than a nugget lets
    /// them be. `samples` must hold distinct positions ([`merge_duplicates`]).
    pub fn leave_one_out_mse(&self, ctx: &SliceContext, v: &Variogram, samples: &[Sample], anchors: usize) -> Result<f64> {
        let n = samples.len();
        let p = self.drift(ctx, 0.0, 0.0).len();
        if n < p.max(1) + 2 || anchors == 0 {
            return Err(RmeError::invalid(
                "kriging",
                format!("{n} distinct sample positions in a slice, {anchors} anchors; cross-validation needs 3 and 1"),
            ));
        }
        let anchors = anchors.min(n);
        let mut sum = 0.0;
        for k in 0..anchors {
            let i = k * n / anchors;
            let q = [samples[i].x, samples[i].y];
            let idx: Vec<usize> = nearest(samples, q, self.neighbours + 1).into_iter().filter(|&j| j != i).take(self.neighbours).collect();
            let (lu, p) = self.system(ctx, v, samples, &idx)?;
            sum += (self.predict(ctx, v, samples, &idx, &lu, p, q, v.sill()).0 - samples[i].value).powi(2);
        }
        Ok(sum / anchors as f64)
    }
}

/// Averages samples that share a position: a kriging system cannot hold two at one point.
pub fn merge_duplicates(samples: &[Sample]) -> Vec<Sample> {
    let mut seen: HashMap<(u64, u64), (usize, f64, usize)> = HashMap::new();
    let mut order = Vec::new();
    for s in samples {
        let key = (s.x.to_bits(), s.y.to_bits());
        let e = seen.entry(key).or_insert_with(|| {
            order.push(key);
            (order.len() - 1, 0.0, 0)
        });
        e.1 += s.value;
        e.2 += 1;
    }
    let mut out = vec![Sample { x: 0.0, y: 0.0, value: 0.0 }; order.len()];
    for (key, (pos, sum, n)) in seen {
        out[pos] = Sample { x: f64::from_bits(key.0), y: f64::from_bits(key.1), value: sum / n as f64 };
    }
    out
}

/// One local neighbourhood's kriging system, factored.
enum LocalSystem {
    /// Ordinary kriging through the covariance matrix's Cholesky factor.
    Ordinary(OrdinaryCholesky),
    /// The full system (trend rows included), LU-factored; `usize`: the drift terms.
    Lu(Lu, usize),
}

/// Ordinary kriging over one neighbourhood with the unbiasedness constraint eliminated by
/// hand, so that only the (symmetric positive-definite) covariance matrix `C` is factored:
/// with `u = C⁻¹1`, `α = C⁻¹z` and `c` the covariances to the query, the weights are
/// `λ = C⁻¹c + κ u` with `κ = (1 − uᵀc) / 1ᵀu`, the mean `λᵀz = cᵀα + κ uᵀz` and the
/// variance `sill − λᵀc + κ`. It answers what the full `(n+1)²` system answers, at a sixth of
/// its factorisation's cost and one triangular solve per query (the mean needs none).
struct OrdinaryCholesky {
    factor: Cholesky,
    /// `C⁻¹1`.
    u: Vec<f64>,
    /// `1ᵀC⁻¹1`.
    sum_u: f64,
    /// `C⁻¹z`.
    alpha: Vec<f64>,
    /// `1ᵀC⁻¹z`.
    u_dot_z: f64,
}

impl OrdinaryCholesky {
    fn new(v: &Variogram, s: &[Sample], idx: &[usize]) -> Result<Self> {
        let n = idx.len();
        let mut c = Matrix::zeros(n);
        for (r, &i) in idx.iter().enumerate() {
            c.set(r, r, v.sill());
            for (col, &j) in idx.iter().enumerate().skip(r + 1) {
                let cov = v.covariance(((s[i].x - s[j].x).powi(2) + (s[i].y - s[j].y).powi(2)).sqrt().max(1e-12));
                c.set(r, col, cov);
                c.set(col, r, cov);
            }
        }
        let factor = Cholesky::new(&c)?;
        let u = factor.solve(&vec![1.0; n]);
        let z: Vec<f64> = idx.iter().map(|&i| s[i].value).collect();
        let alpha = factor.solve(&z);
        let sum_u: f64 = u.iter().sum();
        let u_dot_z = u.iter().zip(&z).map(|(a, b)| a * b).sum();
        if !(sum_u.is_finite() && sum_u.abs() > 1e-300) {
            return Err(RmeError::numerical("ordinary kriging", "the covariance matrix is too ill-conditioned"));
        }
        Ok(Self { factor, u, sum_u, alpha, u_dot_z })
    }

    /// Mean and σ at `q` (a sample at the query is reproduced: zero lag is the sill).
    fn predict(&self, v: &Variogram, s: &[Sample], idx: &[usize], q: [f64; 2]) -> (f64, f64) {
        let c: Vec<f64> = idx
            .iter()
            .map(|&i| {
                let h = ((s[i].x - q[0]).powi(2) + (s[i].y - q[1]).powi(2)).sqrt();
                if h < 1e-9 { v.sill() } else { v.covariance(h) }
            })
            .collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let u_dot_c = dot(&self.u, &c);
        let kappa = (1.0 - u_dot_c) / self.sum_u;
        let mean = dot(&c, &self.alpha) + kappa * self.u_dot_z;
        // cᵀC⁻¹c as the squared length of L⁻¹c: one forward substitution.
        let whitened = self.factor.forward(&c);
        let c_inv_c = dot(&whitened, &whitened);
        let var = v.sill() - (c_inv_c + kappa * u_dot_c) + kappa;
        (mean, var.max(0.0).sqrt())
    }
}

impl Kriging {
    /// A slice's samples with duplicates merged, and the variogram to krige them with; an
    /// error where there are too few of them or the settings cannot work.
    fn prepared(&self, ctx: &SliceContext, samples: &[Sample]) -> Result<(Vec<Sample>, Variogram)> {
        let s = merge_duplicates(samples);
        let p = self.drift(ctx, 0.0, 0.0).len();
        if s.len() < p.max(1) + 1 || (matches!(self.variogram, VariogramSpec::Fit) && s.len() < 3) {
            return Err(RmeError::invalid("kriging", format!("{} distinct sample positions in a slice; at least 3 are needed", s.len())));
        }
        if self.neighbours <= p {
            return Err(RmeError::invalid("kriging settings", "neighbours must exceed the number of drift terms"));
        }
        let v = self.variogram_for(ctx, &s)?;
        Ok((s, v))
    }

    /// The factored system of the neighbourhood `idx` of samples `s`: through the covariance
    /// matrix's Cholesky factor for ordinary kriging (positive definite with a nugget or
    /// distinct samples), the full system's LU otherwise or where that fails.
    fn local_system(&self, ctx: &SliceContext, v: &Variogram, s: &[Sample], idx: &[usize]) -> Result<LocalSystem> {
        if matches!(self.trend, Trend::Constant)
            && let Ok(system) = OrdinaryCholesky::new(v, s, idx)
        {
            return Ok(LocalSystem::Ordinary(system));
        }
        let (lu, p) = self.system(ctx, v, s, idx)?;
        Ok(LocalSystem::Lu(lu, p))
    }

    /// Mean and σ at `q` from a neighbourhood's factored system.
    fn local_predict(
        &self,
        ctx: &SliceContext,
        v: &Variogram,
        s: &[Sample],
        idx: &[usize],
        system: &LocalSystem,
        q: [f64; 2],
    ) -> (f64, f64) {
        match system {
            LocalSystem::Ordinary(ok) => ok.predict(v, s, idx, q),
            LocalSystem::Lu(lu, p) => self.predict(ctx, v, s, idx, lu, *p, q, v.sill()),
        }
    }

    /// Local kriging with one neighbourhood per block of queries — the "moving neighbourhood"
    /// shared by nearby queries: the queries are binned into squares of side `block_m`, and
    /// each block's system is built over the `neighbours` samples nearest to its queries'
    /// centroid, factored once for all of them. On a map's grid this factors a few hundred
    /// systems instead of one per cell; a query's estimate moves only where its own nearest
    /// samples would differ from its block's, which the screening effect makes small.
    /// Mean and σ per query, like [`SpatialMethod::estimate_slice`].
    pub fn estimate_in_blocks(
        &self,
        ctx: &SliceContext,
        samples: &[Sample],
        queries: &[[f64; 2]],
        block_m: f64,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        if !(block_m.is_finite() && block_m > 0.0) {
            return Err(RmeError::invalid("kriging block size", format!("{block_m} m; it must be positive")));
        }
        let (s, v) = self.prepared(ctx, samples)?;
        let search = NearestSamples::new(&s);
        let mut blocks: HashMap<(i64, i64), Vec<usize>> = HashMap::new();
        // A query at a non-finite position is in no block: its answer stays NaN.
        for (i, q) in queries.iter().enumerate().filter(|(_, q)| q[0].is_finite() && q[1].is_finite()) {
            blocks.entry(((q[0] / block_m).floor() as i64, (q[1] / block_m).floor() as i64)).or_default().push(i);
        }
        let (mut mean, mut std) = (vec![f64::NAN; queries.len()], vec![f64::NAN; queries.len()]);
        for members in blocks.values() {
            let centre = members.iter().fold([0.0, 0.0], |c, &i| [c[0] + queries[i][0], c[1] + queries[i][1]]);
            let centre = [centre[0] / members.len() as f64, centre[1] / members.len() as f64];
            let idx = search.of(centre, self.neighbours);
            let system = self.local_system(ctx, &v, &s, &idx)?;
            for &i in members {
                (mean[i], std[i]) = self.local_predict(ctx, &v, &s, &idx, &system, queries[i]);
            }
        }
        Ok((mean, std))
    }
}

impl SpatialMethod for Kriging {
    fn name(&self) -> &str {
        match self.trend {
            Trend::Constant => "kriging",
            Trend::LogDistance => "universal-kriging",
            Trend::Known(_) => "simple-kriging",
        }
    }

    fn estimate_slice(&self, ctx: &SliceContext, samples: &[Sample], queries: &[[f64; 2]]) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        let (s, v) = self.prepared(ctx, samples)?;
        let mut mean = Vec::with_capacity(queries.len());
        let mut std = Vec::with_capacity(queries.len());
        if s.len() <= self.exact_limit {
            let idx: Vec<usize> = (0..s.len()).collect();
            let (lu, p) = self.system(ctx, &v, &s, &idx)?;
            for &q in queries {
                let (m, sd) = self.predict(ctx, &v, &s, &idx, &lu, p, q, v.sill());
                mean.push(m);
                std.push(sd);
            }
        } else {
            // Neighbouring queries (a grid's cells, in order) often share their nearest
            // samples: the system of the last neighbourhood is kept and reused when the next
            // query's is the same set. Sorted, a set has one system whatever the query, so the
            // answer does not depend on the order of the queries.
            let search = NearestSamples::new(&s);
            let mut kept: Option<(Vec<usize>, LocalSystem)> = None;
            for &q in queries {
                let mut idx = search.of(q, self.neighbours);
                idx.sort_unstable();
                let (idx, system) = match kept.take() {
                    Some(same) if same.0 == idx => same,
                    _ => {
                        let system = self.local_system(ctx, &v, &s, &idx)?;
                        (idx, system)
                    }
                };
                let (m, sd) = self.local_predict(ctx, &v, &s, &idx, &system, q);
                mean.push(m);
                std.push(sd);
                kept = Some((idx, system));
            }
        }
        Ok((mean, Some(std)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::variogram::VariogramModel;
    use super::*;
    use crate::rng::Rng;
    use crate::sim::fields::{ExponentialCovariance, GaussianFieldSampler};

    fn ctx() -> SliceContext {
        SliceContext { t_s: 0.0, freq_hz: f64::NAN, tx_m: None }
    }

    fn field_samples(n: usize, seed: u64) -> (Vec<f64>, Vec<Sample>) {
        let cov = ExponentialCovariance { sigma_db: 6.0, corr_dist_m: 20.0 };
        let sampler = GaussianFieldSampler::new(64, 64, 2.0, cov).unwrap();
        let mut rng = Rng::new(seed);
        let (f, _) = sampler.sample_pair(&mut rng);
        let cells = rng.choose_indices(64 * 64, n);
        let s =
            cells.iter().map(|&c| Sample { x: (c % 64) as f64 * 2.0 + 1.0, y: (c / 64) as f64 * 2.0 + 1.0, value: -70.0 + f[c] }).collect();
        (f, s)
    }

    /// Blocks of one query each are per-query local kriging; blocks of about a sample spacing
    /// on a grid stay close to it; a query at a non-finite position gets NaN, the others
    /// their estimates; a block side that is not positive is an error.
    #[test]
    fn kriging_in_blocks() {
        let (_, s) = field_samples(150, 6);
        let local = Kriging { neighbours: 16, exact_limit: 0, ..Kriging::ordinary() };
        let grid: Vec<[f64; 2]> = (0..32 * 32).map(|c| [(c % 32) as f64 * 4.0 + 0.5, (c / 32) as f64 * 4.0 + 0.5]).collect();
        let (m0, s0) = local.estimate_slice(&ctx(), &s, &grid).unwrap();
        let s0 = s0.unwrap();
        let (m1, s1) = local.estimate_in_blocks(&ctx(), &s, &grid, 1e-3).unwrap();
        for i in 0..grid.len() {
            assert!((m0[i] - m1[i]).abs() < 1e-9 && (s0[i] - s1[i]).abs() < 1e-9, "query {i}");
        }
        let spacing = (128.0f64 * 128.0 / 150.0).sqrt();
        let (m2, s2) = local.estimate_in_blocks(&ctx(), &s, &grid, spacing).unwrap();
        let rms = |a: &[f64], b: &[f64]| (a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64).sqrt();
        assert!(rms(&m0, &m2) < 0.3 && rms(&s0, &s2) < 0.1, "blocks of a spacing: {} dB, σ {} dB", rms(&m0, &m2), rms(&s0, &s2));
        assert!(m0.iter().zip(&m2).any(|(a, b)| a != b), "blocks of a spacing share neighbourhoods");
        let mut with_nan = grid[..5].to_vec();
        with_nan.push([f64::NAN, 3.0]);
        let (m3, s3) = local.estimate_in_blocks(&ctx(), &s, &with_nan, spacing).unwrap();
        assert!(m3[5].is_nan() && s3[5].is_nan() && m3[..5].iter().all(|v| v.is_finite()));
        assert!(local.estimate_in_blocks(&ctx(), &s, &grid, 0.0).is_err());
    }

    /// The Cholesky route of local ordinary kriging answers what the full (n+1)² system
    /// answers: mean and σ, with and without a nugget, at queries on and off the samples.
    #[test]
    fn the_cholesky_route_equals_the_full_system() {
        let (_, s) = field_samples(40, 4);
        let k = Kriging::ordinary();
        let idx: Vec<usize> = (0..16).map(|i| i * 2).collect();
        for v in [
            Variogram { model: VariogramModel::Exponential, nugget: 2.0, partial_sill: 30.0, range: 25.0 },
            Variogram { model: VariogramModel::Gaussian, nugget: 0.0, partial_sill: 30.0, range: 8.0 },
        ] {
            let ok = OrdinaryCholesky::new(&v, &s, &idx).unwrap();
            let (lu, p) = k.system(&ctx(), &v, &s, &idx).unwrap();
            for q in [[10.0, 20.0], [s[idx[3]].x, s[idx[3]].y], [130.0, -5.0], [64.5, 63.5]] {
                let (m1, s1) = ok.predict(&v, &s, &idx, q);
                let (m2, s2) = k.predict(&ctx(), &v, &s, &idx, &lu, p, q, v.sill());
                assert!((m1 - m2).abs() < 1e-7 && (s1 - s2).abs() < 1e-6, "{v:?} at {q:?}: ({m1}, {s1}) vs ({m2}, {s2})");
            }
        }
    }

    #[test]
    fn sigma_is_zero_at_a_sample_and_grows_away_from_it() {
        let (_, s) = field_samples(60, 1);
        let p = [s[0].x, s[0].y];
        // Fitted variogram (whatever its nugget): exact at the sample, σ = 0 there.
        let (m, sd) = Kriging::ordinary().estimate_slice(&ctx(), &s, &[p]).unwrap();
        assert!((m[0] - s[0].value).abs() < 1e-6, "exact interpolation");
        assert!(sd.unwrap()[0] < 1e-6);
        // Continuous variogram: σ grows steadily on the way out from the sample.
        let v = Variogram { model: VariogramModel::Exponential, nugget: 0.0, partial_sill: 36.0, range: 20.0 };
        let k = Kriging { variogram: VariogramSpec::Fixed(v), ..Kriging::ordinary() };
        let away: Vec<[f64; 2]> = (0..4).map(|i| [p[0] + 0.4 * i as f64, p[1] + 0.3 * i as f64]).collect();
        let (_, sd) = k.estimate_slice(&ctx(), &s, &away).unwrap();
        let sd = sd.unwrap();
        assert!(sd[0] < 1e-6, "σ at the sample {}", sd[0]);
        for w in sd.windows(2) {
            assert!(w[1] > w[0], "σ does not grow: {sd:?}");
        }
    }

    /// Two readings 10 m apart, 0 and 10 dB, exponential variogram (nugget n = 4, partial sill
    /// 12, range 20): ordinary kriging of the noise-free field at a reading weighs it by
    /// w = 1 − n / (2 (sill − C(10))) with C(10) = 12·e^(−½), and its neighbour by 1 − w.
    #[test]
    fn denoise_matches_the_two_sample_closed_form_and_keeps_noise_free_readings() {
        let s = [Sample { x: 0.0, y: 0.0, value: 0.0 }, Sample { x: 10.0, y: 0.0, value: 10.0 }];
        let v = Variogram { model: VariogramModel::Exponential, nugget: 4.0, partial_sill: 12.0, range: 20.0 };
        let w = 1.0 - 4.0 / (2.0 * (16.0 - 12.0 * (-0.5f64).exp()));
        for exact_limit in [400, 0] {
            let k = Kriging { variogram: VariogramSpec::Fixed(v), exact_limit, ..Kriging::ordinary() };
            let d = k.denoise(&ctx(), &v, &s).unwrap();
            assert!((d[0] - 10.0 * (1.0 - w)).abs() < 1e-9 && (d[1] - 10.0 * w).abs() < 1e-9, "{d:?}, w = {w}");
        }
        let clean = Variogram { nugget: 0.0, ..v };
        let d = Kriging::ordinary().denoise(&ctx(), &clean, &s).unwrap();
        assert!((d[0] - 0.0).abs() < 1e-9 && (d[1] - 10.0).abs() < 1e-9, "{d:?}");
        assert!(Kriging::ordinary().denoise(&ctx(), &v, &s[..1]).is_err());
    }

    /// The exact path's one-solve (dual) form gives what a solve per sample over all of them
    /// gives.
    #[test]
    fn denoise_dual_form_matches_a_solve_per_sample() {
        let (_, s) = field_samples(80, 3);
        let v = Variogram { model: VariogramModel::Spherical, nugget: 5.0, partial_sill: 30.0, range: 25.0 };
        let dual = Kriging { variogram: VariogramSpec::Fixed(v), ..Kriging::ordinary() };
        let per_sample = Kriging { exact_limit: 0, neighbours: 80, ..dual.clone() };
        let (a, b) = (dual.denoise(&ctx(), &v, &s).unwrap(), per_sample.denoise(&ctx(), &v, &s).unwrap());
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-6, "dual vs per sample: {worst} dB");
        assert!(a.iter().zip(&s).any(|(x, s)| (x - s.value).abs() > 0.1), "nothing was smoothed");
    }

    #[test]
    fn local_neighbourhood_within_0_05_db_of_exact() {
        let (_, s) = field_samples(900, 2);
        let v = Variogram { model: VariogramModel::Exponential, nugget: 0.0, partial_sill: 36.0, range: 20.0 };
        let queries: Vec<[f64; 2]> = (0..40).map(|i| [3.3 + 3.1 * i as f64, 5.0 + 2.9 * i as f64]).collect();
        let exact = Kriging { variogram: VariogramSpec::Fixed(v), exact_limit: 10_000, ..Kriging::ordinary() };
        let local = Kriging { variogram: VariogramSpec::Fixed(v), exact_limit: 0, ..Kriging::ordinary() };
        let (a, _) = exact.estimate_slice(&ctx(), &s, &queries).unwrap();
        let (b, _) = local.estimate_slice(&ctx(), &s, &queries).unwrap();
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(worst < 0.05, "local vs exact: {worst} dB");
    }

    #[test]
    fn universal_kriging_follows_the_log_distance_trend() {
        let tx = [30.0, 40.0, 5.0];
        let mut rng = Rng::new(4);
        let s: Vec<Sample> = (0..200)
            .map(|_| {
                let (x, y) = (rng.range(0.0, 128.0), rng.range(0.0, 128.0));
                let d = ((x - tx[0]).powi(2) + (y - tx[1]).powi(2) + 25.0).sqrt();
                Sample { x, y, value: -20.0 - 30.0 * d.log10() + 0.5 * rng.normal() }
            })
            .collect();
        let c = SliceContext { tx_m: Some(tx), ..ctx() };
        // Far outside the samples the trend, not the mean, must carry the estimate.
        let q = [[400.0, 400.0]];
        let (m, _) = Kriging::universal().estimate_slice(&c, &s, &q).unwrap();
        let d = ((400.0f64 - 30.0).powi(2) + (400.0f64 - 40.0).powi(2) + 25.0).sqrt();
        let truth = -20.0 - 30.0 * d.log10();
        assert!((m[0] - truth).abs() < 1.5, "UK {} vs {}", m[0], truth);
    }

    #[test]
    fn duplicates_are_merged() {
        let s = [Sample { x: 0.0, y: 0.0, value: 1.0 }, Sample { x: 0.0, y: 0.0, value: 3.0 }, Sample { x: 1.0, y: 0.0, value: 5.0 }];
        let m = merge_duplicates(&s);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].value, 2.0);
    }

    #[test]
    fn too_few_samples_is_an_error() {
        let s = [Sample { x: 0.0, y: 0.0, value: 1.0 }];
        assert!(Kriging::ordinary().estimate_slice(&ctx(), &s, &[[1.0, 1.0]]).is_err());
    }
}
