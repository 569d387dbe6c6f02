//! Portable, seeded randomness.
//!
//! Every generator in rme takes a `u64` seed and must give the same bytes on every platform
//! (native and wasm32). ChaCha8 is specified bit-exactly; normal variates use Box–Muller with
//! `libm` (a pure-Rust libm, so `ln`/`cos` do not depend on the platform's C library).

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Seeded random source used by simulators, masks and hold-out splits.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: ChaCha8Rng,
    spare_normal: Option<f64>,
}

impl Rng {
    /// A generator seeded with `seed` (the same stream on every platform).
    pub fn new(seed: u64) -> Self {
        Self { inner: ChaCha8Rng::seed_from_u64(seed), spare_normal: None }
    }

    /// A child generator for a named sub-stream, so that adding draws in one part of a
    /// simulator does not shift the draws of another.
    pub fn fork(&mut self, stream: u64) -> Rng {
        let s = self.next_u64() ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Rng::new(s)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in [0, n). `n` must be > 0.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        // Lemire's multiply-shift; the tiny bias (< n / 2^64) is irrelevant here.
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// True with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal variate (Box–Muller, both values used).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        // u1 in (0, 1] so that ln(u1) is finite.
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        let r = libm::sqrt(-2.0 * libm::log(u1));
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare_normal = Some(r * libm::sin(theta));
        r * libm::cos(theta)
    }

    /// Student's t variate with `dof` degrees of freedom (at least 3), scaled to unit
    /// variance: `z / sqrt(χ²/ν) · sqrt((ν − 2)/ν)`, the χ² a sum of `dof` squared normals.
    /// Heavier tails than [`Self::normal`] (kurtosis `3 + 6/(ν − 4)` for ν > 4) with the same
    /// variance; `dof` below 3 (infinite variance) is taken as 3.
    pub fn student_t_unit(&mut self, dof: u32) -> f64 {
        let dof = dof.max(3);
        let z = self.normal();
        let chi2: f64 = (0..dof).map(|_| self.normal().powi(2)).sum();
        let nu = f64::from(dof);
        // χ² is positive with probability one; the floor only guards a zero from rounding.
        z / (chi2 / nu).max(f64::MIN_POSITIVE).sqrt() * ((nu - 2.0) / nu).sqrt()
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// `k` distinct indices out of `0..n`, in random order.
    pub fn choose_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below(n - i);
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.normal().to_bits(), b.normal().to_bits());
        }
    }

    #[test]
    fn normal_moments() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
    }

    /// Unit variance and the heavier tails of Student's t: ν = 10 has kurtosis 3 + 6/6 = 4
    /// (a normal's is 3).
    #[test]
    fn student_t_has_unit_variance_and_its_kurtosis() {
        let mut r = Rng::new(2);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.student_t_unit(10)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let kurtosis = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64 / var.powi(2);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
        assert!((kurtosis - 4.0).abs() < 0.35, "kurtosis {kurtosis}");
    }

    #[test]
    fn choose_indices_distinct() {
        let mut r = Rng::new(3);
        let mut v = r.choose_indices(50, 20);
        v.sort();
        v.dedup();
        assert_eq!(v.len(), 20);
        assert!(v.iter().all(|&i| i < 50));
    }
}
