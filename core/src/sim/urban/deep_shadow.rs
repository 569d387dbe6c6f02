//! Cell-to-cell variation that grows in deep shadow: what the dominant-path simulator lacks
//! and real and ray-traced maps have.
//!
//! The simulator's map is a smooth dominant-path field plus a little correlated clutter
//! (0.5–2 dB). Where the dominant path is strong, real maps look like that. Where it is
//! weak, a cell's power is the sum of a few diffuse, reflected and diffracted paths, and
//! neighbouring cells differ by much more: on the ray-traced Sionna-dev maps (2 m cells)
//! adjacent cells differ by 0.8 dB RMS above −80 dB, 4 dB at −90…−80, 10 dB at −100…−90
//! and 14–26 dB below −110 dB (part of it is the ray tracer's Monte-Carlo noise, which its
//! notes say grows the same way). A model that never saw such variation trusts each
//! sample as if it were the smooth field and copies it into its neighbourhood, where
//! kriging, with its nugget, averages. Training examples drawn with this variation are
//! meant to teach a grid model to do the same where — and only where — the signal is weak.
//! Measured so far: fine-tuning radiodun-small 300 steps with it (slope up to 0.5) made it
//! slightly worse on Sionna-dev and on the test cities (results/radiodun-deep-shadow.md).
//!
//! The variation is white from cell to cell (its scale, a wavelength, is far below a cell)
//! with a standard deviation that rises linearly below a knee:
//! `σ(g) = min(slope · max(0, knee − g), max_sigma)` dB.

use crate::error::{Result, RmeError};
use crate::rng::Rng;

/// The variation's law (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeepShadowVariation {
    /// Path gain (dB) below which the variation starts.
    pub knee_db: f64,
    /// Growth of σ per dB below the knee (dB/dB).
    pub slope: f64,
    /// Cap of σ, dB.
    pub max_sigma_db: f64,
}

impl DeepShadowVariation {
    /// Cap used by [`DeepShadowVariation::draw`]: Sionna-dev's deepest cells vary by about
    /// this much.
    pub const DRAWN_MAX_SIGMA_DB: f64 = 20.0;

    /// A law; errors name a non-finite knee or a negative or non-finite slope or cap.
    pub fn new(knee_db: f64, slope: f64, max_sigma_db: f64) -> Result<Self> {
        if !knee_db.is_finite() {
            return Err(RmeError::invalid("deep-shadow knee", format!("{knee_db} dB is not finite")));
        }
        if !(slope >= 0.0 && slope.is_finite()) {
            return Err(RmeError::invalid("deep-shadow slope", format!("{slope} is not a finite number ≥ 0")));
        }
        if !(max_sigma_db >= 0.0 && max_sigma_db.is_finite()) {
            return Err(RmeError::invalid("deep-shadow cap", format!("{max_sigma_db} dB is not a finite number ≥ 0")));
        }
        Ok(Self { knee_db, slope, max_sigma_db })
    }

    /// A law drawn for one training example of a map whose strong cells are at `strong_db`
    /// (see [`strong_level_db`]): knee 0–15 dB below that level, slope uniform in
    /// `0…max_slope` (0 gives none), cap [`Self::DRAWN_MAX_SIGMA_DB`]. The knee follows the
    /// map's own level because what makes a cell erratic is how far it lies below the
    /// dominant paths, and the simulator's cities are darker than Sionna-dev's (median outdoor
    /// path gain about −105 dB against −85 dB); on Sionna-dev the variation starts 0–8 dB
    /// below its 90th percentile, with a slope of about 0.3.
    pub fn draw(max_slope: f64, strong_db: f64, rng: &mut Rng) -> Result<Self> {
        let knee = strong_db - rng.range(0.0, 15.0);
        let slope = rng.range(0.0, 1.0) * max_slope;
        Self::new(knee, slope, Self::DRAWN_MAX_SIGMA_DB)
    }

    /// σ (dB) of the variation at path gain `gain_db`.
    pub fn sigma_db(&self, gain_db: f64) -> f64 {
        (self.slope * (self.knee_db - gain_db).max(0.0)).min(self.max_sigma_db)
    }

    /// Adds the variation to every finite value of `values` (dB), σ taken at the value
    /// itself, and floors the result at `floor_db` (the simulator's sensitivity floor).
    /// Non-finite values (cells without a truth) stay as they are.
    pub fn apply(&self, values: &mut [f32], floor_db: f64, rng: &mut Rng) {
        for v in values.iter_mut().filter(|v| v.is_finite()) {
            let g = *v as f64;
            let sigma = self.sigma_db(g);
            if sigma > 0.0 {
                *v = (g + sigma * rng.normal()).max(floor_db) as f32;
            }
        }
    }
}

/// The strong level of a map: the 90th percentile of its finite values at the cells where
/// `counts` is true (None when there is none).
pub fn strong_level_db(values: &[f32], counts: impl Fn(usize) -> bool) -> Option<f64> {
    let mut v: Vec<f32> = values.iter().enumerate().filter(|&(i, v)| counts(i) && v.is_finite()).map(|(_, &v)| v).collect();
    if v.is_empty() {
        return None;
    }
    let k = ((v.len() - 1) as f64 * 0.9).round() as usize;
    let (_, at, _) = v.select_nth_unstable_by(k, f32::total_cmp);
    Some(*at as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_is_zero_above_the_knee_linear_below_and_capped() {
        let law = DeepShadowVariation::new(-80.0, 0.3, 12.0).unwrap();
        assert_eq!(law.sigma_db(-60.0), 0.0);
        assert_eq!(law.sigma_db(-80.0), 0.0);
        assert!((law.sigma_db(-90.0) - 3.0).abs() < 1e-12);
        assert!((law.sigma_db(-110.0) - 9.0).abs() < 1e-12);
        assert_eq!(law.sigma_db(-150.0), 12.0);
    }

    #[test]
    fn applied_variation_has_the_law_s_spread_and_leaves_strong_cells_alone() {
        let law = DeepShadowVariation::new(-80.0, 0.3, 20.0).unwrap();
        let n = 20_000;
        // Half the cells at −70 dB (above the knee), half at −110 dB (σ = 9 dB), one hole.
        let mut values: Vec<f32> = (0..n).map(|i| if i % 2 == 0 { -70.0 } else { -110.0 }).collect();
        values[0] = f32::NAN;
        let mut rng = Rng::new(7);
        law.apply(&mut values, -160.0, &mut rng);
        assert!(values[0].is_nan());
        assert!(values.iter().skip(2).step_by(2).all(|&v| v == -70.0));
        let deep: Vec<f64> = values.iter().skip(1).step_by(2).map(|&v| v as f64 + 110.0).collect();
        let mean = deep.iter().sum::<f64>() / deep.len() as f64;
        let sd = (deep.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / deep.len() as f64).sqrt();
        assert!(mean.abs() < 0.3, "mean offset {mean}");
        assert!((sd - 9.0).abs() < 0.3, "σ {sd}");
        // The same seed gives the same variation.
        let mut again: Vec<f32> = (0..n).map(|i| if i % 2 == 0 { -70.0 } else { -110.0 }).collect();
        again[0] = f32::NAN;
        law.apply(&mut again, -160.0, &mut Rng::new(7));
        assert_eq!(
            values.iter().skip(1).map(|v| v.to_bits()).collect::<Vec<_>>(),
            again.iter().skip(1).map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_floor_holds_and_bad_laws_are_named() {
        let law = DeepShadowVariation::new(-80.0, 1.0, 20.0).unwrap();
        let mut values = vec![-158.0f32; 1000];
        law.apply(&mut values, -160.0, &mut Rng::new(1));
        assert!(values.iter().all(|&v| v >= -160.0));
        assert!(DeepShadowVariation::new(f64::NAN, 0.3, 20.0).unwrap_err().to_string().contains("knee"));
        assert!(DeepShadowVariation::new(-80.0, -0.1, 20.0).unwrap_err().to_string().contains("slope"));
        assert!(DeepShadowVariation::new(-80.0, 0.1, f64::INFINITY).unwrap_err().to_string().contains("cap"));
        let drawn = DeepShadowVariation::draw(0.5, -80.0, &mut Rng::new(3)).unwrap();
        assert!((-95.0..=-80.0).contains(&drawn.knee_db) && (0.0..=0.5).contains(&drawn.slope));
    }

    #[test]
    fn the_strong_level_is_the_90th_percentile_of_the_counted_cells() {
        // −100, −99, …, −1 dB (index i holds −100 + i); the 90th percentile of 100 values by
        // nearest rank (index round(99 · 0.9) = 89) is −11 dB.
        let values: Vec<f32> = (0..100).map(|i| -100.0 + i as f32).collect();
        assert_eq!(strong_level_db(&values, |_| true), Some(-11.0));
        // Only the even cells count: −100, −98, …, −2; index round(49 · 0.9) = 44 → −12 dB.
        assert_eq!(strong_level_db(&values, |i| i % 2 == 0), Some(-12.0));
        assert_eq!(strong_level_db(&[f32::NAN], |_| true), None);
    }
}
