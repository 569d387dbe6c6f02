//! Accuracy metrics. RMSE and MAE are in the data's unit (dB); normalised RMSE divides by a
//! declared span; SSIM and PSNR take a declared data range, as images of radio maps have no
//! natural one.

use crate::error::{Result, RmeError};

fn check_pair(what: &str, a: &[f64], b: &[f64]) -> Result<()> {
    if a.len() != b.len() {
        return Err(RmeError::invalid(what, format!("lengths differ: {} vs {}", a.len(), b.len())));
    }
    if a.is_empty() {
        return Err(RmeError::Empty(format!("{what} input")));
    }
    if let Some(i) = a.iter().zip(b).position(|(x, y)| !x.is_finite() || !y.is_finite()) {
        return Err(RmeError::invalid(what, format!("value {i} is not finite")));
    }
    Ok(())
}

/// Mean squared error.
pub fn mse(estimate: &[f64], truth: &[f64]) -> Result<f64> {
    check_pair("MSE", estimate, truth)?;
    Ok(estimate.iter().zip(truth).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / estimate.len() as f64)
}

/// Root-mean-square error.
pub fn rmse(estimate: &[f64], truth: &[f64]) -> Result<f64> {
    Ok(mse(estimate, truth)?.sqrt())
}

/// Mean absolute error.
pub fn mae(estimate: &[f64], truth: &[f64]) -> Result<f64> {
    check_pair("MAE", estimate, truth)?;
    Ok(estimate.iter().zip(truth).map(|(a, b)| (a - b).abs()).sum::<f64>() / estimate.len() as f64)
}

/// RMSE divided by a declared span (e.g. the [min, max] of the normalisation, so that it is
/// the RMSE of maps min-max scaled to [0, 1]).
pub fn normalised_rmse(estimate: &[f64], truth: &[f64], span: f64) -> Result<f64> {
    if !(span.is_finite() && span > 0.0) {
        return Err(RmeError::invalid("normalised RMSE", format!("span {span} must be positive")));
    }
    Ok(rmse(estimate, truth)? / span)
}

/// Peak signal-to-noise ratio, dB: `10·log10(range² / MSE)`.
pub fn psnr(estimate: &[f64], truth: &[f64], data_range: f64) -> Result<f64> {
    if !(data_range.is_finite() && data_range > 0.0) {
        return Err(RmeError::invalid("PSNR", format!("data range {data_range} must be positive")));
    }
    let m = mse(estimate, truth)?;
    Ok(if m == 0.0 { f64::INFINITY } else { 10.0 * (data_range * data_range / m).log10() })
}

/// Structural similarity (Wang et al. 2004) of two `rows × cols` images: 11×11 Gaussian
/// window with σ = 1.5, K1 = 0.01, K2 = 0.03, the given data range; the mean over all
/// window positions that fit inside the image (no padding).
pub fn ssim(a: &[f64], b: &[f64], rows: usize, cols: usize, data_range: f64) -> Result<f64> {
    check_pair("SSIM", a, b)?;
    if a.len() != rows * cols {
        return Err(RmeError::invalid("SSIM", format!("{} values for a {rows}x{cols} image", a.len())));
    }
    if !(data_range.is_finite() && data_range > 0.0) {
        return Err(RmeError::invalid("SSIM", format!("data range {data_range} must be positive")));
    }
    const W: usize = 11;
    if rows < W || cols < W {
        return Err(RmeError::invalid("SSIM", format!("a {rows}x{cols} image is smaller than the 11x11 window")));
    }
    let sigma = 1.5f64;
    let g1: Vec<f64> = (0..W).map(|i| (-((i as f64 - 5.0).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let s: f64 = g1.iter().sum();
    let g1: Vec<f64> = g1.iter().map(|v| v / s).collect();
    let c1 = (0.01 * data_range).powi(2);
    let c2 = (0.03 * data_range).powi(2);
    let mut total = 0.0;
    let mut count = 0usize;
    for r0 in 0..=rows - W {
        for c0 in 0..=cols - W {
            let (mut ma, mut mb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for i in 0..W {
                for j in 0..W {
                    let w = g1[i] * g1[j];
                    let k = (r0 + i) * cols + c0 + j;
                    ma += w * a[k];
                    mb += w * b[k];
                    saa += w * a[k] * a[k];
                    sbb += w * b[k] * b[k];
                    sab += w * a[k] * b[k];
                }
            }
            let (va, vb, cov) = (saa - ma * ma, sbb - mb * mb, sab - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            count += 1;
        }
    }
    Ok(total / count as f64)
}

/// Running sum of squared errors: RMSE over many cases, mergeable across them (the one
/// accumulator behind every RMSE table).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SquaredErrors {
    sum: f64,
    count: usize,
}

impl SquaredErrors {
    /// Adds one estimate–truth pair.
    pub fn push(&mut self, estimate: f64, truth: f64) {
        self.sum += (estimate - truth).powi(2);
        self.count += 1;
    }
    /// Adds pairs of equal-length slices.
    pub fn extend(&mut self, estimate: &[f64], truth: &[f64]) {
        estimate.iter().zip(truth).for_each(|(e, t)| self.push(*e, *t));
    }
    /// Adds another accumulator's pairs.
    pub fn merge(&mut self, other: &Self) {
        self.sum += other.sum;
        self.count += other.count;
    }
    /// Pairs added so far.
    pub fn count(&self) -> usize {
        self.count
    }
    /// Sum of the squared errors so far (what parties exchange to pool an RMSE exactly).
    pub fn sum(&self) -> f64 {
        self.sum
    }
    /// Root-mean-square error of the pairs so far (NaN when there are none).
    pub fn rmse(&self) -> f64 {
        if self.count == 0 { f64::NAN } else { (self.sum / self.count as f64).sqrt() }
    }
}

/// How often held-out truths fall within ±1σ and ±2σ of an estimate with a standard
/// deviation: the calibration check of an uncertainty (a Gaussian's are 68.3 % and 95.4 %).
/// Mergeable across cases like [`SquaredErrors`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IntervalCoverage {
    within_one: usize,
    within_two: usize,
    count: usize,
}

impl IntervalCoverage {
    /// Adds one truth against an estimate `mean ± std`. A non-finite or negative σ counts as
    /// a miss (an uncertainty that cannot be read covers nothing).
    pub fn push(&mut self, mean: f64, std: f64, truth: f64) {
        let z = (truth - mean).abs();
        let ok = std.is_finite() && std >= 0.0 && z.is_finite();
        self.within_one += (ok && z <= std) as usize;
        self.within_two += (ok && z <= 2.0 * std) as usize;
        self.count += 1;
    }
    /// Adds triples of equal-length slices.
    pub fn extend(&mut self, mean: &[f64], std: &[f64], truth: &[f64]) {
        for ((m, s), t) in mean.iter().zip(std).zip(truth) {
            self.push(*m, *s, *t);
        }
    }
    /// Adds another accumulator's truths.
    pub fn merge(&mut self, other: &Self) {
        self.within_one += other.within_one;
        self.within_two += other.within_two;
        self.count += other.count;
    }
    /// Truths added so far.
    pub fn count(&self) -> usize {
        self.count
    }
    /// Fractions within ±1σ and ±2σ (NaN when there are none).
    pub fn fractions(&self) -> (f64, f64) {
        if self.count == 0 {
            return (f64::NAN, f64::NAN);
        }
        let n = self.count as f64;
        (self.within_one as f64 / n, self.within_two as f64 / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_coverage_counts_truths_within_one_and_two_sigma() {
        let mut c = IntervalCoverage::default();
        assert!(c.fractions().0.is_nan());
        // |errors| / σ: 0.5 (both), 1.5 (2σ only), 3 (neither), exactly 1 (both), NaN σ (neither).
        c.extend(&[0.0, 0.0, 1.0, 0.0], &[2.0, 2.0, 1.0, 4.0], &[1.0, -3.0, 4.0, 4.0]);
        let mut d = IntervalCoverage::default();
        d.push(0.0, f64::NAN, 0.0);
        c.merge(&d);
        assert_eq!(c.count(), 5);
        assert_eq!(c.fractions(), (2.0 / 5.0, 3.0 / 5.0));
    }

    #[test]
    fn squared_errors_accumulate_and_merge_hand_computed() {
        let mut a = SquaredErrors::default();
        assert!(a.rmse().is_nan());
        a.extend(&[1.0, 2.0], &[0.0, 0.0]);
        let mut b = SquaredErrors::default();
        b.push(3.0, 0.0);
        a.merge(&b);
        // (1 + 4 + 9) / 3
        assert_eq!(a.count(), 3);
        assert!((a.rmse() - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn rmse_mae_hand_computed() {
        let e = [1.0, 2.0, 3.0, 4.0];
        let t = [1.0, 4.0, 3.0, 0.0];
        // errors 0, -2, 0, 4 → MSE 5, MAE 1.5
        assert!((rmse(&e, &t).unwrap() - 5f64.sqrt()).abs() < 1e-12);
        assert!((mae(&e, &t).unwrap() - 1.5).abs() < 1e-12);
        assert!((normalised_rmse(&e, &t, 10.0).unwrap() - 5f64.sqrt() / 10.0).abs() < 1e-12);
    }

    #[test]
    fn psnr_hand_computed() {
        // MSE = 1, range 255 → 20·log10(255) = 48.1308 dB.
        let e = [1.0, 3.0];
        let t = [0.0, 2.0];
        assert!((psnr(&e, &t, 255.0).unwrap() - 48.130_803_6).abs() < 1e-6);
        assert!(psnr(&t, &t, 1.0).unwrap().is_infinite());
    }

    #[test]
    fn ssim_of_identical_images_is_one_and_drops_with_noise() {
        let (r, c) = (24, 20);
        let x: Vec<f64> = (0..r * c).map(|i| ((i % c) as f64 * 0.3).sin() * 10.0 - 70.0 + (i / c) as f64).collect();
        assert!((ssim(&x, &x, r, c, 60.0).unwrap() - 1.0).abs() < 1e-12);
        let y: Vec<f64> = x.iter().enumerate().map(|(i, v)| v + if i % 2 == 0 { 5.0 } else { -5.0 }).collect();
        let s = ssim(&x, &y, r, c, 60.0).unwrap();
        assert!(s < 0.9 && s > -1.0, "{s}");
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(rmse(&[1.0], &[1.0, 2.0]).is_err());
        assert!(rmse(&[], &[]).is_err());
        assert!(rmse(&[f64::NAN], &[1.0]).is_err());
        assert!(ssim(&[0.0; 25], &[0.0; 25], 5, 5, 1.0).is_err());
        assert!(psnr(&[0.0], &[0.0], 0.0).is_err());
    }
}
