//! The kriging candidate of FM-RME's learned interpolation
//! ([`FmRmeConfig::kriging_candidate`](super::FmRmeConfig::kriging_candidate)): ordinary
//! kriging's estimate and σ at each query, from the readings of the query's own slice as they
//! were measured (before any denoising: kriging's nugget does that itself).
//!
//! Why only the query's own slice: kriging is spatial, and a query slice without readings
//! (temporal or spectral prediction) is the network's own work; its candidate slot is left
//! empty there.

use crate::classic::{Kriging, Sample, SliceContext, SpatialMethod};
use crate::map::SliceKey;
use std::collections::BTreeMap;

/// Ordinary kriging's `[mean, σ]` (dB) at each of `queries` (`(x, y, t, f)`) from the readings
/// of `visible` (`(x, y, t, f, value)`) in the query's slice; `[NaN, NaN]` where that slice
/// has too few distinct positions for a variogram (fewer than 3) or kriging fails. One
/// variogram fit per slice.
pub fn kriging_at(visible: &[[f64; 5]], queries: &[[f64; 4]]) -> Vec<[f64; 2]> {
    let mut out = vec![[f64::NAN; 2]; queries.len()];
    let mut by_slice: BTreeMap<SliceKey, Vec<usize>> = BTreeMap::new();
    for (i, q) in queries.iter().enumerate() {
        by_slice.entry(SliceKey::of(q[2], q[3])).or_default().push(i);
    }
    let kriging = Kriging::ordinary();
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
        let Ok((mean, std)) = kriging.estimate_slice(&ctx, &samples, &points) else { continue };
        for (j, &i) in indices.iter().enumerate() {
            let s = std.as_ref().map_or(f64::NAN, |s| s[j]);
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

    /// The candidate is the `kriging` method's answer on the query's slice alone, and empty
    /// where that slice has too few readings.
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
            let expected = Sliced(Kriging::ordinary()).estimate(&obs, &q).unwrap();
            for (j, &i) in mine.iter().enumerate() {
                assert!((got[i][0] - expected.mean[j]).abs() < 1e-9, "query {i}: {} vs {}", got[i][0], expected.mean[j]);
                assert!((got[i][1] - expected.std.as_ref().unwrap()[j]).abs() < 1e-9);
            }
        }
        assert!(got[10][0].is_nan() && got[10][1].is_nan(), "a slice without readings has no candidate");
        assert!(kriging_at(&visible[..2], &queries).iter().all(|c| c[0].is_nan()));
    }
}
