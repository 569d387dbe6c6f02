//! The kriging candidate of FM-RME's learned interpolation
//! ([`FmRmeConfig::kriging_candidate`](super::FmRmeConfig::kriging_candidate)): ordinary
//! kriging's estimate and σ at each query, from the readings of the query's own slice as they
//! were measured (before any denoising: kriging's nugget does that itself).
//!
//! Why only the query's own slice: kriging is spatial, and a query slice without readings
//! (temporal or spectral prediction) is the network's own work; its candidate slot is left
//! empty there.
//!
//! Why local kriging over the [`CANDIDATE_NEIGHBOURS`] nearest readings, with one
//! neighbourhood per block of nearby queries ([`Kriging::estimate_in_blocks`]), not the
//! `kriging` method's 64 neighbours (or all readings up to 400) per query: it is what keeps a
//! 64² map from 400 readings inside the interactive budget (a few hundred 16×16 systems
//! instead of a 401×401 solve per query), and on the ten USRP files at 10 % it is as accurate
//! as the method (see `results/fm-rme-kriging-candidate.md`). The same rule in training
//! (windows of up to a few hundred readings) and in use (whole slices) keeps the candidate the
//! network learned on.

use crate::classic::{Kriging, Sample, SliceContext};
use crate::map::SliceKey;
use std::collections::BTreeMap;

/// Readings per query in the candidate's local kriging system.
pub const CANDIDATE_NEIGHBOURS: usize = 16;

/// Side of the candidate's query blocks, in mean reading spacings (the side of the square
/// each reading would have to itself): small enough that a block's neighbourhood holds each
/// of its queries' own nearest readings.
pub const CANDIDATE_BLOCK_SPACINGS: f64 = 0.75;

/// The kriging the candidate runs: ordinary, fitted variogram, local over
/// [`CANDIDATE_NEIGHBOURS`] readings at every slice size.
pub fn candidate_kriging() -> Kriging {
    Kriging { neighbours: CANDIDATE_NEIGHBOURS, exact_limit: 0, ..Kriging::ordinary() }
}

/// The candidate's block side for `samples` (metres): [`CANDIDATE_BLOCK_SPACINGS`] mean
/// spacings over their bounding box (at least a millimetre: readings along a line or at
/// one place have no area).
pub fn candidate_block_m(samples: &[Sample]) -> f64 {
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for s in samples {
        lo = [lo[0].min(s.x), lo[1].min(s.y)];
        hi = [hi[0].max(s.x), hi[1].max(s.y)];
    }
    let area = (hi[0] - lo[0]).max(0.0) * (hi[1] - lo[1]).max(0.0);
    let spacing = (area / samples.len().max(1) as f64).sqrt();
    if spacing.is_finite() { (CANDIDATE_BLOCK_SPACINGS * spacing).max(1e-3) } else { 1e-3 }
}

/// Ordinary kriging's `[mean, σ]` (dB) at each of `queries` (`(x, y, t, f)`) from the readings
/// of `visible` (`(x, y, t, f, value)`) in the query's slice; `[NaN, NaN]` where that slice
/// has too few distinct positions for a variogram (fewer than 3) or kriging fails. One
/// variogram fit per slice; each block of nearby queries kriged from the
/// [`CANDIDATE_NEIGHBOURS`] readings nearest to it.
pub fn kriging_at(visible: &[[f64; 5]], queries: &[[f64; 4]]) -> Vec<[f64; 2]> {
    let mut out = vec![[f64::NAN; 2]; queries.len()];
    let mut by_slice: BTreeMap<SliceKey, Vec<usize>> = BTreeMap::new();
    for (i, q) in queries.iter().enumerate() {
        by_slice.entry(SliceKey::of(q[2], q[3])).or_default().push(i);
    }
    let kriging = candidate_kriging();
    for (key, indices) in by_slice {
        let samples: Vec<Sample> = visible
            .iter()
            .filter(|v| SliceKey::of(v[2], v[3]) == key)
            .filter(|v| v[0].is_finite() && v[1].is_finite() && v[4].is_finite())
            .map(|v| Sample { x: v[0], y: v[1], value: v[4] })
            .collect();
        if samples.len() < 3 {
            continue;
        }
        let first = queries[indices[0]];
        let ctx = SliceContext { t_s: first[2], freq_hz: first[3], tx_m: None };
        let points: Vec<[f64; 2]> = indices.iter().map(|&i| [queries[i][0], queries[i][1]]).collect();
        let Ok((mean, std)) = kriging.estimate_in_blocks(&ctx, &samples, &points, candidate_block_m(&samples)) else { continue };
        for (j, &i) in indices.iter().enumerate() {
            let s = std[j];
            if mean[j].is_finite() && s.is_finite() {
                out[i] = [mean[j], s];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::Sliced;
    use crate::estimator::Estimator;
    use crate::map::{Measurement, MeasurementSet, Query, QuerySet};
    use crate::rng::Rng;

    /// The block side: three quarters of the mean spacing over the readings' bounding box, a
    /// millimetre when they have no area.
    #[test]
    fn the_block_side_hand_computed() {
        let at = |x: f64, y: f64| Sample { x, y, value: 0.0 };
        // 10 m × 10 m, 4 readings: 25 m² each, a 5 m spacing.
        assert!((candidate_block_m(&[at(0.0, 0.0), at(10.0, 0.0), at(0.0, 10.0), at(10.0, 10.0)]) - 3.75).abs() < 1e-12);
        assert_eq!(candidate_block_m(&[at(0.0, 0.0), at(5.0, 0.0), at(9.0, 0.0)]), 1e-3);
        assert_eq!(candidate_block_m(&[]), 1e-3);
    }

    /// The candidate is local ordinary kriging's answer on the query's slice alone (queries
    /// 10 m apart: each in a block of its own, so per-query kriging), and empty where that
    /// slice has too few readings.
    #[test]
    fn the_candidate_is_kriging_on_the_query_slice() {
        let mut rng = Rng::new(3);
        let field = |x: f64, y: f64, t: f64| -70.0 + 5.0 * (x / 30.0).sin() + 3.0 * (y / 20.0).cos() + 8.0 * t;
        let visible: Vec<[f64; 5]> = (0..120)
            .map(|i| {
                let (x, y, t) = (rng.range(0.0, 100.0), rng.range(0.0, 100.0), f64::from(i % 2));
                [x, y, t, 3.5e9, field(x, y, t) + rng.normal()]
            })
            .collect();
        let queries: Vec<[f64; 4]> = (0..10).map(|i| [10.0 * i as f64, 50.0, f64::from(i % 2), 3.5e9]).collect();
        let mut with_empty = queries.clone();
        with_empty.push([5.0, 5.0, 7.0, 3.5e9]);
        let got = kriging_at(&visible, &with_empty);
        for t in [0.0, 1.0] {
            let obs = MeasurementSet::from_points(
                visible
                    .iter()
                    .filter(|v| v[2] == t)
                    .map(|v| Measurement { x_m: v[0], y_m: v[1], t_s: v[2], freq_hz: v[3], value: v[4] })
                    .collect(),
            );
            let mine: Vec<usize> = (0..queries.len()).filter(|&i| queries[i][2] == t).collect();
            let q = QuerySet {
                points: mine.iter().map(|&i| Query { x_m: queries[i][0], y_m: queries[i][1], t_s: t, freq_hz: 3.5e9 }).collect(),
            };
            let expected = Sliced(candidate_kriging()).estimate(&obs, &q).unwrap();
            for (j, &i) in mine.iter().enumerate() {
                assert!((got[i][0] - expected.mean[j]).abs() < 1e-9, "query {i}: {} vs {}", got[i][0], expected.mean[j]);
                assert!((got[i][1] - expected.std.as_ref().unwrap()[j]).abs() < 1e-9);
            }
        }
        assert!(got[10][0].is_nan() && got[10][1].is_nan(), "a slice without readings has no candidate");
        assert!(kriging_at(&visible[..2], &queries).iter().all(|c| c[0].is_nan()));
    }
}
