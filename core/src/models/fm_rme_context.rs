//! Which visible measurements FM-RME sees for a group of queries — one rule for training and
//! inference, so the model is used the way it was trained.
//!
//! A 4-D map holds up to 10⁶ visible voxels; a context holds at most `max_visible` tokens.
//! Like kriging's local neighbourhood, the context of a query group is local: each visible
//! point is scored by its distance to the group's centre in space and in (slot, band),
//! `|Δx|/length_scale + slice_weight·(|Δt|/time_scale + |Δf|/freq_scale)`, and the
//! `max_visible` lowest scores are taken (ties by index: deterministic). With the defaults a
//! point one 1-s slot away counts like a point 68 m away in the same slot, and one 180-MHz band
//! away like 369 m: a query's own slice comes first, other slices fill in where it is sparse
//! or empty (temporal and spectral prediction). At inference the queries of a slice are
//! grouped in square tiles of `tile_m`; in training the queries are the hidden voxels nearest to a random centre.

use super::fm_rme::{Example, FmRmeConfig};
use crate::map::RadioMap;
use crate::mask::Split;
use crate::rng::Rng;

/// The context score of point `p = (x, y, t, f, ·)` for a centre `c = (x, y, t, f)`.
pub fn context_score(p: &[f64; 5], c: &[f64; 4], cfg: &FmRmeConfig) -> f64 {
    let space = ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt() / cfg.length_scale_m;
    let dt = (p[2] - c[2]).abs() / cfg.time_scale_s;
    let df = if p[3].is_finite() && c[3].is_finite() { (p[3] - c[3]).abs() / cfg.freq_scale_hz } else { 0.0 };
    space + cfg.slice_weight * (dt + df)
}

/// Indices of the (at most) `budget` points with the lowest context score for `centre`,
/// in increasing score.
pub fn select_context(points: &[[f64; 5]], centre: &[f64; 4], budget: usize, cfg: &FmRmeConfig) -> Vec<usize> {
    let mut scored: Vec<(f64, usize)> = points.iter().enumerate().map(|(i, p)| (context_score(p, centre, cfg), i)).collect();
    let cmp = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if budget < scored.len() {
        scored.select_nth_unstable_by(budget, cmp);
        scored.truncate(budget);
    }
    scored.sort_by(cmp);
    scored.into_iter().map(|(_, i)| i).collect()
}

/// A training example from a map and a mask split: a random hidden voxel is the centre; the
/// up to `max_queries` hidden voxels of its slice nearest to it are the queries; the context
/// rule picks up to `max_visible` visible voxels. `None` when the split hides or shows nothing.
pub fn training_example(
    map: &RadioMap,
    split: &Split,
    rng: &mut Rng,
    max_visible: usize,
    max_queries: usize,
    cfg: &FmRmeConfig,
) -> Option<Example> {
    if split.hidden.is_empty() || split.visible.is_empty() {
        return None;
    }
    let n = map.grid.len();
    let centre_voxel = split.hidden[rng.below(split.hidden.len())];
    let slice = centre_voxel / n;
    let c = map.voxel_point(centre_voxel);
    let centre = [c.x_m, c.y_m, c.t_s, c.freq_hz];
    let mut in_slice: Vec<(f64, usize)> = split
        .hidden
        .iter()
        .copied()
        .filter(|v| v / n == slice)
        .map(|v| {
            let q = map.voxel_point(v);
            ((q.x_m - c.x_m).powi(2) + (q.y_m - c.y_m).powi(2), v)
        })
        .collect();
    let cmp = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if max_queries < in_slice.len() {
        in_slice.select_nth_unstable_by(max_queries, cmp);
        in_slice.truncate(max_queries);
    }
    let visible: Vec<[f64; 5]> = split
        .visible
        .iter()
        .map(|&v| {
            let q = map.voxel_point(v);
            [q.x_m, q.y_m, q.t_s, q.freq_hz, map.values[v] as f64]
        })
        .collect();
    let ctx = select_context(&visible, &centre, max_visible, cfg);
    Some(Example {
        visible: ctx.iter().map(|&i| visible[i]).collect(),
        queries: in_slice
            .iter()
            .map(|&(_, v)| {
                let q = map.voxel_point(v);
                [q.x_m, q.y_m, q.t_s, q.freq_hz]
            })
            .collect(),
        targets: in_slice.iter().map(|&(_, v)| map.values[v] as f64).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::MaskStrategy;
    use crate::sim::{DynamicPreset, DynamicSimulator};

    #[test]
    fn context_prefers_near_points_of_the_same_slice() {
        let cfg = FmRmeConfig::tiny().with_slice_weight(8.0);
        let p = |x: f64, t: f64, f: f64| [x, 0.0, t, f, -60.0];
        let pts = vec![p(100.0, 0.0, 3.5e9), p(10.0, 0.0, 3.5e9), p(0.0, 1.0, 3.5e9), p(0.0, 0.0, 3.7e9), p(0.0, 60.0, 3.5e9)];
        // Scores: 1.5625; 0.156; 8/30 = 0.267; 8·0.2 = 1.6; 16.
        let c = select_context(&pts, &[0.0, 0.0, 0.0, 3.5e9], 4, &cfg);
        assert_eq!(c, vec![1, 2, 0, 3]);
        assert!((context_score(&pts[3], &[0.0, 0.0, 0.0, 3.5e9], &cfg) - 1.6).abs() < 1e-9);
        assert_eq!(select_context(&pts, &[0.0, 0.0, 0.0, 3.5e9], 100, &cfg).len(), 5);
    }

    #[test]
    fn training_examples_respect_the_split() {
        let cfg = FmRmeConfig::tiny();
        let map = DynamicSimulator::new(DynamicPreset::by_name("D1").unwrap()).unwrap().simulate(1).unwrap();
        let split = MaskStrategy::Temporal { cutoff_slot: 4, visible_ratio: 0.1 }.split(&map, 2).unwrap();
        let mut rng = Rng::new(3);
        let e = training_example(&map, &split, &mut rng, 200, 50, &cfg).unwrap();
        assert_eq!((e.visible.len(), e.queries.len(), e.targets.len()), (200, 50, 50));
        // Temporal split: queries at or after the cut-off (t ≥ 4 s), context before it.
        assert!(e.queries.iter().all(|q| q[2] >= 4.0 && q[2] == e.queries[0][2] && q[3] == e.queries[0][3]));
        assert!(e.visible.iter().all(|v| v[2] < 4.0));
        // The query band's latest visible slot gives more of the context than any other slice.
        let count = |t: f64, f: f64| e.visible.iter().filter(|v| v[2] == t && v[3] == f).count();
        let latest = count(3.0, e.queries[0][3]);
        for t in [0.0, 1.0, 2.0, 3.0] {
            for &f in &map.bands_hz {
                if (t, f) != (3.0, e.queries[0][3]) {
                    assert!(count(t, f) < latest, "slot {t} band {f}: {} vs {latest}", count(t, f));
                }
            }
        }
    }
}
