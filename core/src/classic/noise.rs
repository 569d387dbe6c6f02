//! Measurement-noise variance from the shortest-lag pairs of a set of samples.
//!
//! A variogram model's fitted nugget is not a noise estimate: on a noise-free but smooth
//! field, sampled sparsely, an exponential or spherical model fits a positive nugget because
//! its shape cannot bend down to 0 between the origin and the first lag bin. Noise is what
//! stays at lag 0 when the semivariance of the *closest* pairs is extrapolated there. This
//! module does just that: each sample and each of its nearest few neighbours give a pair
//! (distance d, half squared difference g); a straight line g = τ² + b·d fitted to the closer
//! half of those pairs has intercept τ², the noise variance (clipped at 0). A field that is locally linear
//! (exponential covariance) or smoother (Gaussian) gives τ² ≈ 0; white noise of variance v
//! gives τ² ≈ v whatever the field.

use super::slices::{Sample, nearest};

/// Nearest-neighbour searches are capped at this many anchors (spread evenly over the
/// samples), so the cost stays O(anchors · n) on dense drone tracks.
const MAX_ANCHORS: usize = 2000;

/// Pairs per anchor: its nearest few samples, not only the nearest one. Why: on a regular
/// grid the nearest neighbours all lie one cell away, and a line through pairs at a single
/// distance cannot be extrapolated to 0 (its intercept would be the semivariance at one cell,
/// structure and all); the next few neighbours spread the distances.
const NEIGHBOURS_PER_ANCHOR: usize = 4;

/// Fewer samples than this give no estimate (0): a line through a handful of pairs is noise.
const MIN_SAMPLES: usize = 8;

/// The noise variance (squared units of `value`) of `samples`: the lag-0 intercept of the
/// semivariance of nearest-neighbour pairs, fitted on the closer half of them; 0 for fewer than
/// [`MIN_SAMPLES`] samples or non-finite input.
pub fn short_lag_noise_variance(samples: &[Sample]) -> f64 {
    let n = samples.len();
    if n < MIN_SAMPLES || samples.iter().any(|s| !(s.x.is_finite() && s.y.is_finite() && s.value.is_finite())) {
        return 0.0;
    }
    let anchors = n.min(MAX_ANCHORS);
    let mut pairs: Vec<(f64, f64)> = (0..anchors)
        .flat_map(|k| {
            let i = k * n / anchors;
            let a = &samples[i];
            // The nearest samples other than `i` (a coincident one counts: d = 0).
            nearest(samples, [a.x, a.y], NEIGHBOURS_PER_ANCHOR + 1).into_iter().filter(move |&j| j != i).take(NEIGHBOURS_PER_ANCHOR).map(
                move |j| {
                    let b = &samples[j];
                    ((a.x - b.x).hypot(a.y - b.y), 0.5 * (a.value - b.value).powi(2))
                },
            )
        })
        .collect();
    pairs.sort_by(|p, q| p.0.total_cmp(&q.0));
    pairs.truncate(pairs.len().div_ceil(2));
    intercept(&pairs).max(0.0)
}

/// Least-squares intercept of g = a + b·d over `(d, g)` pairs; the mean of g where all d agree.
fn intercept(pairs: &[(f64, f64)]) -> f64 {
    let m = pairs.len() as f64;
    let mean_d = pairs.iter().map(|p| p.0).sum::<f64>() / m;
    let mean_g = pairs.iter().map(|p| p.1).sum::<f64>() / m;
    let sdd: f64 = pairs.iter().map(|p| (p.0 - mean_d).powi(2)).sum();
    if sdd <= 1e-12 * mean_d.max(1.0).powi(2) {
        return mean_g;
    }
    let sdg: f64 = pairs.iter().map(|p| (p.0 - mean_d) * (p.1 - mean_g)).sum();
    mean_g - sdg / sdd * mean_d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic uniform number in [0, 1) from an index (a sine hash).
    fn hash(i: usize, salt: f64) -> f64 {
        ((i as f64 * 12.9898 + salt).sin() * 43758.5453).rem_euclid(1.0)
    }

    /// Positions scattered over 200 m × 200 m and a smooth field with 10 dB swings over ~60 m.
    fn field(n: usize, noise_halfwidth: f64) -> Vec<Sample> {
        (0..n)
            .map(|i| {
                let (x, y) = (200.0 * hash(i, 1.0), 200.0 * hash(i, 7.0));
                let smooth = -70.0 + 10.0 * (x / 60.0).sin() * (y / 45.0).cos() - 0.05 * x;
                Sample { x, y, value: smooth + noise_halfwidth * (2.0 * hash(i, 3.0) - 1.0) }
            })
            .collect()
    }

    #[test]
    fn a_noise_free_smooth_field_has_almost_no_noise() {
        let v = short_lag_noise_variance(&field(400, 0.0));
        // The field's own variance is ~25 dB²; its variogram nugget would be far from 0.
        assert!(v < 0.3, "τ² {v} dB²");
    }

    #[test]
    fn uniform_noise_is_recovered() {
        // Uniform on ±a has variance a²/3: ±6 dB → 12 dB².
        let v = short_lag_noise_variance(&field(1500, 6.0));
        assert!((v - 12.0).abs() < 2.5, "τ² {v} dB², expected ≈ 12");
    }

    #[test]
    fn noise_at_coincident_positions_is_half_the_squared_difference() {
        // Pairs at one position each: every nearest pair is at d = 0, so τ² is the mean of
        // ½Δ²; Δ = ±2 → 2 dB².
        let samples: Vec<Sample> =
            (0..10).flat_map(|i| [0.0, 2.0].map(|v| Sample { x: 10.0 * i as f64, y: 0.0, value: v + i as f64 })).collect();
        assert!((short_lag_noise_variance(&samples) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn too_few_or_bad_samples_give_zero() {
        assert_eq!(short_lag_noise_variance(&field(5, 6.0)), 0.0);
        let mut bad = field(50, 6.0);
        bad[3].value = f64::NAN;
        assert_eq!(short_lag_noise_variance(&bad), 0.0);
    }
}
