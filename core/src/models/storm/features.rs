//! The invariant description of a query's neighbourhood (STORM's input).
//!
//! For a query `q`, its `k` nearest measurements of the slice, nearest first. Each is
//! described in a frame centred on `q`, scaled by the slice's mean sample spacing and rotated
//! so that the x axis points to the "centre of power" of the neighbours — the mean of their
//! offsets weighted by the softmax of their standardised values, which leans towards the
//! strong side, where a transmitter usually is. Translating, rotating or uniformly scaling the
//! whole scene, or adding a constant to every value, leaves every feature unchanged (tested).
//!
//! Features per neighbour ([`STORM_FEATURES`]): standardised value, rotated offset (x, y),
//! cosine and sine of its bearing, distance, and two bounded proximities `ρ = 0.1 / (d + 0.1)`
//! and `ρ²` (distance in spacings), which let attention resolve the nearest neighbours sharply.

use crate::classic::slices::{Sample, nearest};
use crate::error::{Result, RmeError};

/// Features per neighbour token.
pub const STORM_FEATURES: usize = 8;

/// Offset, in spacings, of the proximity `ρ = OFFSET / (d + OFFSET)`.
const PROXIMITY_OFFSET: f64 = 0.1;

/// How a slice's values and positions are normalised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SliceFrame {
    /// Mean of the slice's values.
    pub mean: f64,
    /// Their standard deviation, at least [`SliceFrame::MIN_SCALE`].
    pub scale: f64,
    /// Mean sample spacing, metres: `sqrt(A / n)` with `A = 12·sqrt(det Σ)`, Σ the covariance
    /// of the positions — the area of a uniformly covered rectangle with that covariance, and
    /// unlike a bounding box the same in every orientation.
    pub spacing_m: f64,
}

impl SliceFrame {
    /// Floor of the value scale (in the values' unit, dB): a nearly flat slice is not blown up
    /// into noise.
    pub const MIN_SCALE: f64 = 1.0;

    /// The frame of a slice's measurements. Fails on an empty slice or a non-finite value.
    pub fn of(samples: &[Sample]) -> Result<Self> {
        if samples.is_empty() {
            return Err(RmeError::Empty("STORM: the slice's measurement set".into()));
        }
        if let Some(s) = samples.iter().find(|s| !(s.x.is_finite() && s.y.is_finite() && s.value.is_finite())) {
            return Err(RmeError::invalid("STORM measurement", format!("non-finite value or position at ({}, {})", s.x, s.y)));
        }
        let n = samples.len() as f64;
        let mean = samples.iter().map(|s| s.value).sum::<f64>() / n;
        let var = samples.iter().map(|s| (s.value - mean).powi(2)).sum::<f64>() / n;
        let (cx, cy) = (samples.iter().map(|s| s.x).sum::<f64>() / n, samples.iter().map(|s| s.y).sum::<f64>() / n);
        let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
        for s in samples {
            let (dx, dy) = (s.x - cx, s.y - cy);
            (sxx, syy, sxy) = (sxx + dx * dx / n, syy + dy * dy / n, sxy + dx * dy / n);
        }
        let det = (sxx * syy - sxy * sxy).max(0.0);
        let largest = 0.5 * (sxx + syy) + (0.25 * (sxx - syy).powi(2) + sxy * sxy).sqrt();
        // Samples along a line have no area: their spacing is the line's length over n (the
        // length of a uniform segment with that variance, sqrt(12·λ_max)).
        let spacing_m = (12.0 * det.sqrt() / n).sqrt().max((12.0 * largest).sqrt() / n).max(1e-3);
        Ok(Self { mean, scale: var.sqrt().max(Self::MIN_SCALE), spacing_m })
    }

    /// A value in the frame's standardised units.
    pub fn standardise(&self, value: f64) -> f64 {
        (value - self.mean) / self.scale
    }

    /// A standardised value back in the values' unit.
    pub fn restore(&self, z: f64) -> f64 {
        z * self.scale + self.mean
    }
}

/// The neighbour tokens of a set of queries, flat, ready for [`super::StormBatch`].
#[derive(Clone, Debug, PartialEq)]
pub struct QueryTokens {
    /// Neighbours per query (the sequence length, padded).
    pub k: usize,
    /// `[Q, k, STORM_FEATURES]`, row-major; zeros at padding.
    pub features: Vec<f32>,
    /// `[Q, k]`: true at padding (a slice with fewer than `k` measurements).
    pub pad: Vec<bool>,
    /// `[Q]`: the baseline's standardised mean: the inverse-distance mean (weights `ρ²`) of the
    /// neighbours, or kriging's ([`QueryTokens::with_baseline`]).
    pub baseline: Vec<f32>,
    /// `[Q]`: `ln σ` of the baseline, standardised: 0 for the inverse-distance mean (which has
    /// none), kriging's otherwise.
    pub baseline_log_std: Vec<f32>,
}

impl QueryTokens {
    /// The tokens of every query: its `k` nearest `samples`, in `frame`.
    pub fn build(samples: &[Sample], frame: &SliceFrame, queries: &[[f64; 2]], k: usize) -> Self {
        let mut out = Self {
            k,
            features: Vec::with_capacity(queries.len() * k * STORM_FEATURES),
            pad: vec![],
            baseline: vec![],
            baseline_log_std: vec![],
        };
        for &q in queries {
            out.push_query(samples, frame, q);
        }
        out
    }

    /// Number of queries.
    pub fn len(&self) -> usize {
        self.baseline.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.baseline.is_empty()
    }

    /// Appends another set's queries (with the same `k`).
    pub fn append(&mut self, other: &Self) -> Result<()> {
        if other.k != self.k {
            return Err(RmeError::invalid("STORM tokens", format!("k {} and {} cannot share a batch", self.k, other.k)));
        }
        self.features.extend_from_slice(&other.features);
        self.pad.extend_from_slice(&other.pad);
        self.baseline.extend_from_slice(&other.baseline);
        self.baseline_log_std.extend_from_slice(&other.baseline_log_std);
        Ok(())
    }

    /// The queries `range` of these tokens.
    pub fn range(&self, range: std::ops::Range<usize>) -> Self {
        let (k, f) = (self.k, STORM_FEATURES);
        Self {
            k,
            features: self.features[range.start * k * f..range.end * k * f].to_vec(),
            pad: self.pad[range.start * k..range.end * k].to_vec(),
            baseline: self.baseline[range.clone()].to_vec(),
            baseline_log_std: self.baseline_log_std[range].to_vec(),
        }
    }

    /// The same tokens with another baseline: `mean` and `std` per query in the values' unit
    /// (kriging's), standardised by `frame`.
    pub fn with_baseline(mut self, frame: &SliceFrame, mean: &[f64], std: &[f64]) -> Result<Self> {
        if mean.len() != self.len() || std.len() != self.len() {
            return Err(RmeError::invalid(
                "STORM baseline",
                format!("{} means and {} σ for {} queries", mean.len(), std.len(), self.len()),
            ));
        }
        self.baseline = mean.iter().map(|&m| frame.standardise(m) as f32).collect();
        // σ floored at 1 % of the slice's spread: kriging is exact at a sample without nugget.
        self.baseline_log_std = std.iter().map(|&s| (s / frame.scale).max(0.01).ln() as f32).collect();
        Ok(self)
    }

    fn push_query(&mut self, samples: &[Sample], frame: &SliceFrame, q: [f64; 2]) {
        let idx = nearest(samples, q, self.k);
        let scale = frame.spacing_m;
        let rel: Vec<[f64; 2]> = idx.iter().map(|&i| [(samples[i].x - q[0]) / scale, (samples[i].y - q[1]) / scale]).collect();
        let z: Vec<f64> = idx.iter().map(|&i| frame.standardise(samples[i].value)).collect();
        // Orientation: the softmax(z)-weighted mean offset (max subtracted for stability).
        let zmax = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = z.iter().map(|v| (v - zmax).exp()).collect();
        let wsum: f64 = w.iter().sum();
        let u = rel.iter().zip(&w).fold([0.0, 0.0], |a, (r, w)| [a[0] + r[0] * w / wsum, a[1] + r[1] * w / wsum]);
        let norm = (u[0] * u[0] + u[1] * u[1]).sqrt();
        let (c, s) = if norm > 1e-9 { (u[0] / norm, u[1] / norm) } else { (1.0, 0.0) };
        let (mut num, mut den) = (0.0, 0.0);
        for (r, &zi) in rel.iter().zip(&z) {
            let (x, y) = (c * r[0] + s * r[1], -s * r[0] + c * r[1]);
            let d = (x * x + y * y).sqrt();
            let (cos, sin) = if d > 1e-12 { (x / d, y / d) } else { (1.0, 0.0) };
            let rho = PROXIMITY_OFFSET / (d + PROXIMITY_OFFSET);
            self.features.extend([zi, x, y, cos, sin, d, rho, rho * rho].map(|v| v as f32));
            self.pad.push(false);
            num += rho * rho * zi;
            den += rho * rho;
        }
        for _ in idx.len()..self.k {
            self.features.extend([0.0; STORM_FEATURES]);
            self.pad.push(true);
        }
        self.baseline.push((num / den.max(1e-30)) as f32);
        self.baseline_log_std.push(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene() -> (Vec<Sample>, Vec<[f64; 2]>) {
        let samples = (0..12)
            .map(|i| {
                let (x, y) = ((i * 7 % 11) as f64 * 3.0, (i * 5 % 13) as f64 * 2.0);
                Sample { x, y, value: -60.0 - 0.8 * x + 0.3 * y + (i as f64).sin() }
            })
            .collect();
        (samples, vec![[4.0, 5.0], [20.0, 1.0], [9.0, 9.0]])
    }

    #[test]
    fn frame_is_the_hand_computed_one() {
        let s = [Sample { x: 0.0, y: 0.0, value: -60.0 }, Sample { x: 4.0, y: 0.0, value: -70.0 }, Sample { x: 4.0, y: 2.0, value: -65.0 }];
        let f = SliceFrame::of(&s).unwrap();
        assert!((f.mean + 65.0).abs() < 1e-12);
        assert!((f.scale - (50.0f64 / 3.0).sqrt()).abs() < 1e-12);
        // Covariance (32/9, 8/9; 8/9 8/9): det 192/81, area 12·sqrt(192)/9, 3 samples.
        assert!((f.spacing_m.powi(2) - 4.0 * 192f64.sqrt() / 9.0).abs() < 1e-9);
        // Flat values: the floor; a line of variance 9: length sqrt(108) over n = 2.
        let flat = [Sample { x: 0.0, y: 0.0, value: 1.0 }, Sample { x: 6.0, y: 0.0, value: 1.0 }];
        let f = SliceFrame::of(&flat).unwrap();
        assert_eq!(f.scale, SliceFrame::MIN_SCALE);
        assert!((f.spacing_m - 108f64.sqrt() / 2.0).abs() < 1e-12);
        assert!(SliceFrame::of(&[]).unwrap_err().to_string().contains("STORM"));
        assert!(SliceFrame::of(&[Sample { x: 0.0, y: f64::NAN, value: 1.0 }]).is_err());
    }

    #[test]
    fn one_neighbour_gives_the_hand_computed_token() {
        // Two samples, k = 1: the query at (1, 0) sees the sample at (0, 0), 1 m away, the
        // spacing being sqrt(12·4)/2 = sqrt(12) m (a line of variance 4, two samples);
        // rotated onto the +x axis.
        let s = [Sample { x: 0.0, y: 0.0, value: -60.0 }, Sample { x: 4.0, y: 0.0, value: -70.0 }];
        let f = SliceFrame::of(&s).unwrap();
        assert_eq!((f.mean, f.scale), (-65.0, 5.0));
        assert!((f.spacing_m - 12f64.sqrt()).abs() < 1e-12);
        let t = QueryTokens::build(&s, &f, &[[1.0, 0.0]], 1);
        let d = 1.0 / 12f64.sqrt();
        let rho = 0.1 / (d + 0.1);
        let want = [1.0, d, 0.0, 1.0, 0.0, d, rho, rho * rho];
        for (g, w) in t.features.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-6, "{:?} vs {want:?}", t.features);
        }
        assert_eq!((t.pad.clone(), t.baseline.clone()), (vec![false], vec![1.0]));
        // k beyond the samples: padded rows.
        let t = QueryTokens::build(&s, &f, &[[1.0, 0.0]], 3);
        assert_eq!(t.pad, vec![false, false, true]);
        assert!(t.features[2 * STORM_FEATURES..].iter().all(|v| *v == 0.0));
    }

    /// Rotating, translating and scaling the scene and offsetting every value changes no
    /// feature: what makes the model's estimate equivariant.
    #[test]
    fn features_are_invariant_to_rigid_motion_scale_and_level() {
        let (samples, queries) = scene();
        let (c, s, shift, zoom) = (0.7f64.cos(), 0.7f64.sin(), [130.0, -45.0], 3.5);
        let moved = |p: [f64; 2]| [zoom * (c * p[0] - s * p[1]) + shift[0], zoom * (s * p[0] + c * p[1]) + shift[1]];
        let samples2: Vec<Sample> = samples
            .iter()
            .map(|p| {
                let m = moved([p.x, p.y]);
                Sample { x: m[0], y: m[1], value: p.value + 40.0 }
            })
            .collect();
        let queries2: Vec<[f64; 2]> = queries.iter().map(|q| moved(*q)).collect();
        let t1 = QueryTokens::build(&samples, &SliceFrame::of(&samples).unwrap(), &queries, 6);
        let t2 = QueryTokens::build(&samples2, &SliceFrame::of(&samples2).unwrap(), &queries2, 6);
        assert_eq!(t1.pad, t2.pad);
        for (x, y) in t1.features.iter().zip(&t2.features).chain(t1.baseline.iter().zip(&t2.baseline)) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
        // A mirror image is not a rotation: the sign of the bearing's sine flips somewhere.
        let mirrored: Vec<Sample> = samples.iter().map(|p| Sample { x: -p.x, ..*p }).collect();
        let qm: Vec<[f64; 2]> = queries.iter().map(|q| [-q[0], q[1]]).collect();
        let t3 = QueryTokens::build(&mirrored, &SliceFrame::of(&mirrored).unwrap(), &qm, 6);
        assert!(t1.features.iter().zip(&t3.features).any(|(x, y)| (x - y).abs() > 1e-3));
    }
}
