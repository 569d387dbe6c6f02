//! A small radix-2 complex FFT, written here rather than taken from a crate so that results
//! are bit-identical on every platform: fixed operation order, no SIMD paths, twiddles from
//! `libm`. Sizes are powers of two (the circulant embedding pads to one anyway).

use crate::error::{Result, RmeError};

/// Precomputed plan for one transform length.
#[derive(Clone, Debug)]
pub struct Fft {
    n: usize,
    /// `exp(-2πi k / n)` for k < n/2, as (re, im).
    twiddles: Vec<(f64, f64)>,
    bitrev: Vec<usize>,
}

impl Fft {
    /// A plan for length `n` (a power of two).
    pub fn new(n: usize) -> Result<Self> {
        if n == 0 || !n.is_power_of_two() {
            return Err(RmeError::invalid("FFT length", format!("{n} is not a power of two")));
        }
        let bits = n.trailing_zeros();
        let bitrev = (0..n).map(|i| if bits == 0 { 0 } else { i.reverse_bits() >> (usize::BITS - bits) }).collect();
        let twiddles = (0..n / 2)
            .map(|k| {
                let a = -2.0 * std::f64::consts::PI * k as f64 / n as f64;
                (libm::cos(a), libm::sin(a))
            })
            .collect();
        Ok(Self { n, twiddles, bitrev })
    }

    /// The transform length.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True for a zero-length plan (never: `new` rejects it).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// In-place forward transform (no normalisation) of `re`/`im` read with `stride`.
    pub fn forward_strided(&self, re: &mut [f64], im: &mut [f64], offset: usize, stride: usize) {
        let n = self.n;
        let at = |i: usize| offset + i * stride;
        for i in 0..n {
            let j = self.bitrev[i];
            if j > i {
                re.swap(at(i), at(j));
                im.swap(at(i), at(j));
            }
        }
        let mut len = 2;
        while len <= n {
            let half = len / 2;
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..half {
                    let (wr, wi) = self.twiddles[k * step];
                    let a = at(start + k);
                    let b = at(start + k + half);
                    let tr = re[b] * wr - im[b] * wi;
                    let ti = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            len *= 2;
        }
    }
}

/// 2-D forward FFT of a row-major `rows × cols` complex array, in place.
pub struct Fft2 {
    rows: Fft,
    cols: Fft,
}

impl Fft2 {
    /// A plan for `rows × cols` (powers of two).
    pub fn new(rows: usize, cols: usize) -> Result<Self> {
        Ok(Self { rows: Fft::new(rows)?, cols: Fft::new(cols)? })
    }

    /// In-place forward transform of row-major `re + i·im`.
    pub fn forward(&self, re: &mut [f64], im: &mut [f64]) {
        let (r, c) = (self.rows.len(), self.cols.len());
        for row in 0..r {
            self.cols.forward_strided(re, im, row * c, 1);
        }
        // Columns: transpose so that each column is contiguous (strided access thrashes the
        // cache on large tori), transform, transpose back. Same arithmetic, same order.
        let mut tre = transpose(re, r, c);
        let mut tim = transpose(im, r, c);
        for col in 0..c {
            self.rows.forward_strided(&mut tre, &mut tim, col * r, 1);
        }
        re.copy_from_slice(&transpose(&tre, c, r));
        im.copy_from_slice(&transpose(&tim, c, r));
    }
}

/// Transpose of a row-major `rows × cols` array, in blocks for cache locality.
fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    const B: usize = 32;
    let mut out = vec![0.0; a.len()];
    for r0 in (0..rows).step_by(B) {
        for c0 in (0..cols).step_by(B) {
            for r in r0..(r0 + B).min(rows) {
                for c in c0..(c0 + B).min(cols) {
                    out[c * rows + r] = a[r * cols + c];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dft(re: &[f64], im: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let n = re.len();
        let mut or = vec![0.0; n];
        let mut oi = vec![0.0; n];
        for k in 0..n {
            for j in 0..n {
                let a = -2.0 * std::f64::consts::PI * (k * j) as f64 / n as f64;
                or[k] += re[j] * a.cos() - im[j] * a.sin();
                oi[k] += re[j] * a.sin() + im[j] * a.cos();
            }
        }
        (or, oi)
    }

    #[test]
    fn matches_naive_dft() {
        let n = 16;
        let mut re: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin() + 0.1 * i as f64).collect();
        let mut im: Vec<f64> = (0..n).map(|i| (i as f64 * 1.3).cos()).collect();
        let (er, ei) = naive_dft(&re, &im);
        Fft::new(n).unwrap().forward_strided(&mut re, &mut im, 0, 1);
        for k in 0..n {
            assert!((re[k] - er[k]).abs() < 1e-9 && (im[k] - ei[k]).abs() < 1e-9);
        }
    }

    #[test]
    fn rejects_non_power_of_two() {
        assert!(Fft::new(12).is_err());
    }

    #[test]
    fn two_d_of_delta_is_flat() {
        let f = Fft2::new(4, 8).unwrap();
        let mut re = vec![0.0; 32];
        let mut im = vec![0.0; 32];
        re[0] = 1.0;
        f.forward(&mut re, &mut im);
        assert!(re.iter().all(|v| (v - 1.0).abs() < 1e-12));
        assert!(im.iter().all(|v| v.abs() < 1e-12));
    }
}
