//! Log-distance path-loss fit: `P(d) = η − 10·α·log10(d)` by least squares to the samples.
//! With the transmitter known, `(η, α)` is a linear fit; with it unknown, its position is
//! fitted too: a coarse search over candidate positions (the closed-form `(η, α)` fit at each)
//! followed by a shrinking pattern search around the best one.

use super::linalg::least_squares;
use super::slices::{Sample, SliceContext, SpatialMethod};
use crate::error::{Result, RmeError};

/// Distances below this are clamped, metres (the log-distance law has no meaning at 0).
pub const MIN_DISTANCE_M: f64 = 1.0;

/// A fitted log-distance model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LdplFit {
    /// Power at 1 m, in the data's unit.
    pub eta: f64,
    /// Path-loss exponent.
    pub alpha: f64,
    /// Transmitter `[x, y, z]` (given, or fitted with z = 0 relative to the receivers).
    pub tx_m: [f64; 3],
    /// Root-mean-square residual of the fit.
    pub residual_rms: f64,
}

impl LdplFit {
    /// The fitted value at `(x, y)`.
    pub fn predict(&self, x: f64, y: f64) -> f64 {
        self.eta - 10.0 * self.alpha * log_distance(x, y, self.tx_m)
    }
}

fn log_distance(x: f64, y: f64, tx: [f64; 3]) -> f64 {
    let d = ((x - tx[0]).powi(2) + (y - tx[1]).powi(2) + tx[2].powi(2)).sqrt();
    d.max(MIN_DISTANCE_M).log10()
}

/// Fits `(η, α)` with the transmitter at `tx` (z is the height above the receivers).
pub fn fit_known(samples: &[Sample], tx: [f64; 3]) -> Result<LdplFit> {
    if samples.len() < 2 {
        return Err(RmeError::invalid("LDPL fit", format!("{} samples; at least 2 are needed", samples.len())));
    }
    let ones = vec![1.0; samples.len()];
    let minus10log: Vec<f64> = samples.iter().map(|s| -10.0 * log_distance(s.x, s.y, tx)).collect();
    let y: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let spread = minus10log.iter().fold(f64::MIN, |a, &b| a.max(b)) - minus10log.iter().fold(f64::MAX, |a, &b| a.min(b));
    let (eta, alpha) = if spread < 1e-9 {
        // All samples at one distance: the slope is not identifiable; keep a free-space slope.
        let alpha = 2.0;
        (y.iter().zip(&minus10log).map(|(v, l)| v - alpha * l).sum::<f64>() / y.len() as f64, alpha)
    } else {
        let beta = least_squares(&[&ones, &minus10log], &y)?;
        (beta[0], beta[1])
    };
    let rms = (y.iter().zip(&minus10log).map(|(v, l)| (v - eta - alpha * l).powi(2)).sum::<f64>() / y.len() as f64).sqrt();
    Ok(LdplFit { eta, alpha, tx_m: tx, residual_rms: rms })
}

/// Fits the transmitter position and `(η, α)`, requiring a physical exponent `α > 0`.
pub fn fit_unknown(samples: &[Sample]) -> Result<LdplFit> {
    if samples.len() < 4 {
        return Err(RmeError::invalid("LDPL fit", format!("{} samples; at least 4 are needed to place a transmitter", samples.len())));
    }
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for s in samples {
        x0 = x0.min(s.x);
        y0 = y0.min(s.y);
        x1 = x1.max(s.x);
        y1 = y1.max(s.y);
    }
    let span = (x1 - x0).max(y1 - y0).max(1.0);
    // The transmitter may lie somewhat outside the sampled area.
    let (cx0, cy0, size) = (x0 - 0.25 * span, y0 - 0.25 * span, 1.5 * span);
    let score = |x: f64, y: f64| -> Option<LdplFit> {
        let f = fit_known(samples, [x, y, 0.0]).ok()?;
        (f.alpha > 0.0 && f.residual_rms.is_finite()).then_some(f)
    };
    let steps = 24;
    let mut best: Option<LdplFit> = None;
    for i in 0..=steps {
        for j in 0..=steps {
            let x = cx0 + size * i as f64 / steps as f64;
            let y = cy0 + size * j as f64 / steps as f64;
            if let Some(f) = score(x, y)
                && best.is_none_or(|b| f.residual_rms < b.residual_rms)
            {
                best = Some(f);
            }
        }
    }
    let mut best = best.ok_or_else(|| RmeError::numerical("LDPL fit", "no transmitter position gives a decreasing power with distance"))?;
    let mut h = size / steps as f64;
    while h > 1e-3 * span {
        let mut improved = false;
        for (dx, dy) in [(h, 0.0), (-h, 0.0), (0.0, h), (0.0, -h), (h, h), (-h, -h), (h, -h), (-h, h)] {
            if let Some(f) = score(best.tx_m[0] + dx, best.tx_m[1] + dy)
                && f.residual_rms < best.residual_rms
            {
                best = f;
                improved = true;
            }
        }
        if !improved {
            h *= 0.5;
        }
    }
    Ok(best)
}

/// LDPL as a spatial method: uses the known transmitter when the measurement set has one and
/// `use_known_tx` is set, otherwise fits its position. The standard deviation reported is
/// the fit's residual RMS (constant over the map).
#[derive(Clone, Debug, PartialEq)]
pub struct Ldpl {
    /// Use the measurement set's transmitter position when it has one (else fit it).
    pub use_known_tx: bool,
}

impl Default for Ldpl {
    fn default() -> Self {
        Self { use_known_tx: true }
    }
}

impl SpatialMethod for Ldpl {
    fn name(&self) -> &str {
        "ldpl"
    }

    fn estimate_slice(&self, ctx: &SliceContext, samples: &[Sample], queries: &[[f64; 2]]) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        let fit = match ctx.tx_m {
            Some(tx) if self.use_known_tx => fit_known(samples, tx)?,
            _ => fit_unknown(samples)?,
        };
        let mean = queries.iter().map(|q| fit.predict(q[0], q[1])).collect();
        Ok((mean, Some(vec![fit.residual_rms; queries.len()])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn synthetic(tx: [f64; 3], eta: f64, alpha: f64, noise: f64, seed: u64) -> Vec<Sample> {
        let mut rng = Rng::new(seed);
        (0..300)
            .map(|_| {
                let (x, y) = (rng.range(0.0, 200.0), rng.range(0.0, 200.0));
                Sample { x, y, value: eta - 10.0 * alpha * log_distance(x, y, tx) + noise * rng.normal() }
            })
            .collect()
    }

    #[test]
    fn recovers_known_parameters_with_known_tx() {
        let tx = [60.0, 140.0, 10.0];
        let s = synthetic(tx, -30.0, 3.2, 2.0, 1);
        let f = fit_known(&s, tx).unwrap();
        assert!((f.alpha - 3.2).abs() < 0.1, "alpha {}", f.alpha);
        assert!((f.eta + 30.0).abs() < 2.0, "eta {}", f.eta);
        assert!((f.residual_rms - 2.0).abs() < 0.3);
    }

    #[test]
    fn recovers_transmitter_position_when_unknown() {
        let tx = [120.0, 45.0, 0.0];
        let s = synthetic(tx, -20.0, 2.8, 1.0, 2);
        let f = fit_unknown(&s).unwrap();
        let err = ((f.tx_m[0] - tx[0]).powi(2) + (f.tx_m[1] - tx[1]).powi(2)).sqrt();
        assert!(err < 3.0, "position off by {err} m: {:?}", f.tx_m);
        assert!((f.alpha - 2.8).abs() < 0.15, "alpha {}", f.alpha);
    }

    #[test]
    fn too_few_samples_is_an_error() {
        assert!(fit_known(&[Sample { x: 0.0, y: 0.0, value: 1.0 }], [1.0, 1.0, 0.0]).is_err());
        assert!(fit_unknown(&[]).is_err());
    }
}
