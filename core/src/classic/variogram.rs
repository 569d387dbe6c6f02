//! Semivariogram models and their fit to an empirical semivariogram.
//!
//! `γ(h) = c₀ + c·g(h/a)` for `h > 0` (nugget `c₀`, partial sill `c`, range parameter `a`),
//! `γ(0) = 0`. The matching covariance is `C(0) = c₀ + c`, `C(h) = c·(1 − g(h/a))`: kriging
//! with it is an exact interpolator (the nugget is micro-scale variation, not measurement
//! error), so the kriging σ is 0 at a sample.

use super::slices::Sample;
use crate::error::{Result, RmeError};
use crate::rng::Rng;

/// The shape of a variogram model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VariogramModel {
    /// `g = 1 − exp(−h/a)`.
    Exponential,
    /// `g = 1 − exp(−h²/a²)`.
    Gaussian,
    /// `g = 1.5·h/a − 0.5·(h/a)³` up to `a`, 1 beyond.
    Spherical,
}

impl VariogramModel {
    /// Every model, in the order they are tried.
    pub const ALL: [VariogramModel; 3] = [VariogramModel::Exponential, VariogramModel::Gaussian, VariogramModel::Spherical];

    /// The normalised shape at lag `h` for range `a` (0 at 0, 1 at infinity).
    pub fn shape(&self, h: f64, a: f64) -> f64 {
        let r = h / a;
        match self {
            VariogramModel::Exponential => 1.0 - (-r).exp(),
            VariogramModel::Gaussian => 1.0 - (-r * r).exp(),
            VariogramModel::Spherical => {
                if r >= 1.0 {
                    1.0
                } else {
                    1.5 * r - 0.5 * r * r * r
                }
            }
        }
    }

    /// Its name in reports.
    pub fn label(&self) -> &'static str {
        match self {
            VariogramModel::Exponential => "exponential",
            VariogramModel::Gaussian => "gaussian",
            VariogramModel::Spherical => "spherical",
        }
    }
}

/// A semivariogram with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Variogram {
    /// Its shape.
    pub model: VariogramModel,
    /// Variance at lag 0⁺ (measurement noise and micro-scale variation).
    pub nugget: f64,
    /// Variance of the correlated part.
    pub partial_sill: f64,
    /// Range parameter, metres.
    pub range: f64,
}

impl Variogram {
    /// Semivariance at lag `h`.
    pub fn gamma(&self, h: f64) -> f64 {
        if h <= 0.0 { 0.0 } else { self.nugget + self.partial_sill * self.model.shape(h, self.range) }
    }

    /// Total variance (nugget + partial sill).
    pub fn sill(&self) -> f64 {
        self.nugget + self.partial_sill
    }

    /// Covariance `C(h) = sill − γ(h)`.
    pub fn covariance(&self, h: f64) -> f64 {
        self.sill() - self.gamma(h)
    }
}

/// One bin of an empirical semivariogram.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VariogramBin {
    /// Mean lag of the bin, metres.
    pub lag: f64,
    /// Empirical semivariance of the bin.
    pub gamma: f64,
    /// Number of pairs in the bin.
    pub pairs: usize,
}

/// Largest number of samples used to estimate the empirical variogram (pairs grow as n²);
/// above it a fixed-seed random subset is used.
pub const MAX_VARIOGRAM_SAMPLES: usize = 1500;

/// Classical (Matheron) estimator in `bins` equal lag bins up to half the largest extent.
pub fn empirical(samples: &[Sample], bins: usize) -> Result<Vec<VariogramBin>> {
    if samples.len() < 3 {
        return Err(RmeError::invalid("variogram", format!("{} samples; at least 3 are needed", samples.len())));
    }
    let subset: Vec<Sample> = if samples.len() > MAX_VARIOGRAM_SAMPLES {
        let mut rng = Rng::new(0x5EED);
        rng.choose_indices(samples.len(), MAX_VARIOGRAM_SAMPLES).into_iter().map(|i| samples[i]).collect()
    } else {
        samples.to_vec()
    };
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for s in &subset {
        x0 = x0.min(s.x);
        y0 = y0.min(s.y);
        x1 = x1.max(s.x);
        y1 = y1.max(s.y);
    }
    let max_lag = 0.5 * ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
    if max_lag <= 0.0 {
        return Err(RmeError::invalid("variogram", "all samples are at one position"));
    }
    let width = max_lag / bins as f64;
    let mut sum = vec![0.0; bins];
    let mut lag = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    for i in 0..subset.len() {
        for j in i + 1..subset.len() {
            let h = ((subset[i].x - subset[j].x).powi(2) + (subset[i].y - subset[j].y).powi(2)).sqrt();
            if h <= 0.0 || h >= max_lag {
                continue;
            }
            let b = ((h / width) as usize).min(bins - 1);
            sum[b] += 0.5 * (subset[i].value - subset[j].value).powi(2);
            lag[b] += h;
            count[b] += 1;
        }
    }
    Ok((0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| VariogramBin { lag: lag[b] / count[b] as f64, gamma: sum[b] / count[b] as f64, pairs: count[b] })
        .collect())
}

/// Smallest nugget, as a share of the sill, allowed with the Gaussian model (the usual
/// remedy for its ill-conditioned kriging systems).
pub const GAUSSIAN_MIN_NUGGET: f64 = 0.01;

/// Weighted least-squares fit of each model (weights `N_j / h_j²`, gstat's default) with
/// non-negative nugget and sill; the range by a log-spaced search, `(c₀, c)` in closed form.
/// Returns the model with the smallest weighted residual.
pub fn fit(bins: &[VariogramBin]) -> Result<Variogram> {
    if bins.len() < 2 {
        return Err(RmeError::invalid("variogram fit", format!("{} non-empty lag bins; at least 2 are needed", bins.len())));
    }
    let w: Vec<f64> = bins.iter().map(|b| b.pairs as f64 / (b.lag * b.lag).max(1e-12)).collect();
    let hmin = bins.iter().map(|b| b.lag).fold(f64::MAX, f64::min);
    let hmax = bins.iter().map(|b| b.lag).fold(f64::MIN, f64::max);
    let mut best: Option<(f64, Variogram)> = None;
    for model in VariogramModel::ALL {
        for s in 0..80 {
            // Ranges from a third of the shortest lag to twice the longest: a range far beyond
            // the data is a trend, not a correlation, and makes kriging extrapolate wildly.
            let a = (hmin / 3.0) * ((2.0 * hmax / (hmin / 3.0)).ln() * s as f64 / 79.0).exp();
            let g: Vec<f64> = bins.iter().map(|b| model.shape(b.lag, a)).collect();
            let (mut nugget, mut sill_part) = nonneg_line_fit(&w, &g, bins);
            if model == VariogramModel::Gaussian && nugget < GAUSSIAN_MIN_NUGGET * (nugget + sill_part) {
                // The Gaussian model without nugget gives near-singular kriging systems.
                let total = nugget + sill_part;
                nugget = GAUSSIAN_MIN_NUGGET * total;
                sill_part = total - nugget;
            }
            let sse: f64 = bins.iter().zip(&g).zip(&w).map(|((b, gi), wi)| wi * (b.gamma - nugget - sill_part * gi).powi(2)).sum();
            let v = Variogram { model, nugget, partial_sill: sill_part, range: a };
            if best.is_none_or(|(e, _)| sse < e) {
                best = Some((sse, v));
            }
        }
    }
    let (_, mut v) = best.ok_or_else(|| RmeError::numerical("variogram fit", "no model fitted"))?;
    if v.partial_sill <= 0.0 {
        // A pure nugget is no spatial model; keep a small structured part so the kriging
        // system stays well posed (the estimate then tends to the local mean).
        v.partial_sill = (0.01 * v.nugget).max(1e-6);
    }
    Ok(v)
}

/// `min Σ w (γ − c₀ − c·g)²` subject to `c₀, c ≥ 0`.
fn nonneg_line_fit(w: &[f64], g: &[f64], bins: &[VariogramBin]) -> (f64, f64) {
    let (mut sw, mut sg, mut sgg, mut sy, mut sgy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for ((wi, gi), b) in w.iter().zip(g).zip(bins) {
        sw += wi;
        sg += wi * gi;
        sgg += wi * gi * gi;
        sy += wi * b.gamma;
        sgy += wi * gi * b.gamma;
    }
    let det = sw * sgg - sg * sg;
    if det.abs() > 1e-12 * sw * sgg {
        let c0 = (sgg * sy - sg * sgy) / det;
        let c = (sw * sgy - sg * sy) / det;
        if c0 >= 0.0 && c >= 0.0 {
            return (c0, c);
        }
    }
    // Boundary solutions: nugget 0, or a pure nugget.
    let c_only = if sgg > 0.0 { (sgy / sgg).max(0.0) } else { 0.0 };
    let c0_only = (sy / sw).max(0.0);
    let sse = |c0: f64, c: f64| -> f64 { w.iter().zip(g).zip(bins).map(|((wi, gi), b)| wi * (b.gamma - c0 - c * gi).powi(2)).sum() };
    if sse(0.0, c_only) <= sse(c0_only, 0.0) { (0.0, c_only) } else { (c0_only, 0.0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fields::{ExponentialCovariance, GaussianFieldSampler};

    #[test]
    fn gamma_and_covariance_are_consistent() {
        let v = Variogram { model: VariogramModel::Spherical, nugget: 1.0, partial_sill: 4.0, range: 10.0 };
        assert_eq!(v.gamma(0.0), 0.0);
        assert!((v.gamma(5.0) - (1.0 + 4.0 * (0.75 - 0.0625))).abs() < 1e-12);
        assert_eq!(v.gamma(20.0), 5.0);
        assert_eq!(v.covariance(0.0), 5.0);
        assert_eq!(v.covariance(20.0), 0.0);
    }

    #[test]
    fn fit_recovers_an_exponential_field() {
        let cov = ExponentialCovariance { sigma_db: 5.0, corr_dist_m: 15.0 };
        let s = GaussianFieldSampler::new(48, 48, 2.0, cov).unwrap();
        let mut rng = Rng::new(3);
        // Pool the empirical variograms of several fields for a stable estimate.
        let fields = s.sample_many(&mut rng, 6);
        let mut pooled: Vec<VariogramBin> = Vec::new();
        for f in &fields {
            let samples: Vec<Sample> = (0..600)
                .map(|_| {
                    let (r, c) = (rng.below(48), rng.below(48));
                    Sample { x: c as f64 * 2.0, y: r as f64 * 2.0, value: f[r * 48 + c] }
                })
                .collect();
            let bins = empirical(&samples, 15).unwrap();
            if pooled.is_empty() {
                pooled = bins;
            } else {
                for (p, b) in pooled.iter_mut().zip(&bins) {
                    p.gamma = (p.gamma * p.pairs as f64 + b.gamma * b.pairs as f64) / (p.pairs + b.pairs) as f64;
                    p.pairs += b.pairs;
                }
            }
        }
        let v = fit(&pooled).unwrap();
        // Finite domains bias sills low; a loose but meaningful check.
        assert!(v.sill() > 12.0 && v.sill() < 38.0, "sill {}", v.sill());
        assert!(v.gamma(2.0) < 0.5 * v.sill(), "short-lag γ {} vs sill {}", v.gamma(2.0), v.sill());
    }
}
