//! Which visible measurements FM-RME sees for a target slice, in training and at inference
//! alike (one rule, so the model is used the way it was trained).
//!
//! A 4-D map has up to 10⁶ visible voxels at 50 % sparsity; the transformer takes at most
//! `max_visible` tokens. For a target (slot time `t`, band `f`) the visible points are grouped
//! by their own (t, f) slice and the slices are ranked by `|Δt|/time_scale + |Δf|/freq_scale`
//! (model units): the target's own slice first, then the nearest slots and bands. Whole slices
//! are taken in that order until the budget is reached; the slice that does not fit whole
//! contributes an evenly spread (strided) subset, so the choice is deterministic and covers
//! the area. Queries are then decoded slice by slice.

use super::fm_rme::{Example, FmRmeConfig};
use crate::map::RadioMap;
use crate::mask::Split;
use crate::rng::Rng;
use std::collections::BTreeMap;

/// Indices of the visible points to use for a target `(t, f)`; `tf[i]` is point i's (t, f).
pub fn select_context(tf: &[(f64, f64)], target: (f64, f64), budget: usize, cfg: &FmRmeConfig) -> Vec<usize> {
    let mut groups: BTreeMap<(u64, u64), Vec<usize>> = BTreeMap::new();
    for (i, &(t, f)) in tf.iter().enumerate() {
        groups.entry((t.to_bits(), f.to_bits())).or_default().push(i);
    }
    let dist = |t: f64, f: f64| {
        let dt = (t - target.0).abs() / cfg.time_scale_s;
        let df = if f.is_finite() && target.1.is_finite() { (f - target.1).abs() / cfg.freq_scale_hz } else { 0.0 };
        dt + df
    };
    let mut ranked: Vec<(f64, (u64, u64))> =
        groups.keys().map(|&k| (dist(f64::from_bits(k.0), f64::from_bits(k.1)), k)).collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out = Vec::with_capacity(budget.min(tf.len()));
    for (_, key) in ranked {
        let members = &groups[&key];
        let room = budget - out.len();
        if members.len() <= room {
            out.extend_from_slice(members);
        } else {
            out.extend((0..room).map(|j| members[j * members.len() / room]));
        }
        if out.len() >= budget {
            break;
        }
    }
    out
}

/// A training example from a map and a mask split: the slice of a random hidden voxel is the
/// target; up to `max_queries` hidden voxels of that slice are the queries; the context rule
/// picks up to `max_visible` visible voxels. `None` when the split hides nothing.
pub fn training_example(map: &RadioMap, split: &Split, rng: &mut Rng, max_visible: usize, max_queries: usize, cfg: &FmRmeConfig) -> Option<Example> {
    if split.hidden.is_empty() || split.visible.is_empty() {
        return None;
    }
    let n = map.grid.len();
    let slice = split.hidden[rng.below(split.hidden.len())] / n;
    let in_slice: Vec<usize> = split.hidden.iter().copied().filter(|v| v / n == slice).collect();
    let picked = rng.choose_indices(in_slice.len(), max_queries);
    let queries: Vec<usize> = picked.iter().map(|&i| in_slice[i]).collect();
    let tf: Vec<(f64, f64)> = split
        .visible
        .iter()
        .map(|&v| {
            let s = v / n;
            (map.slots_s[s / map.bands()], map.bands_hz[s % map.bands()])
        })
        .collect();
    let target = (map.slots_s[slice / map.bands()], map.bands_hz[slice % map.bands()]);
    let ctx = select_context(&tf, target, max_visible, cfg);
    let point = |v: usize| map.voxel_point(v);
    Some(Example {
        visible: ctx
            .iter()
            .map(|&i| {
                let v = split.visible[i];
                let q = point(v);
                [q.x_m, q.y_m, q.t_s, q.freq_hz, map.values[v] as f64]
            })
            .collect(),
        queries: queries.iter().map(|&v| {
            let q = point(v);
            [q.x_m, q.y_m, q.t_s, q.freq_hz]
        }).collect(),
        targets: queries.iter().map(|&v| map.values[v] as f64).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::MaskStrategy;
    use crate::sim::{DynamicPreset, DynamicSimulator};

    #[test]
    fn own_slice_first_then_nearest_and_strided_when_full() {
        let cfg = FmRmeConfig::tiny();
        // 10 points at (t=0, f=3.5 GHz), 10 at t=1 s, 10 at another band.
        let mut tf = vec![(0.0, 3.5e9); 10];
        tf.extend(vec![(1.0, 3.5e9); 10]);
        tf.extend(vec![(0.0, 5.0e9); 10]);
        let c = select_context(&tf, (0.0, 3.5e9), 15, &cfg);
        assert_eq!(c.len(), 15);
        assert!(c[..10].iter().all(|&i| i < 10), "own slice first: {c:?}");
        assert!(c[10..].iter().all(|&i| (10..20).contains(&i)), "then the nearest slot: {c:?}");
        // Strided, not the first five.
        assert_eq!(&c[10..], &[10, 12, 14, 16, 18]);
        assert_eq!(select_context(&tf, (0.0, 3.5e9), 100, &cfg).len(), 30);
    }

    #[test]
    fn training_examples_respect_the_split() {
        let cfg = FmRmeConfig::tiny();
        let map = DynamicSimulator::new(DynamicPreset::by_name("D1").unwrap()).unwrap().simulate(1).unwrap();
        let split = MaskStrategy::Temporal { cutoff_slot: 4, visible_ratio: 0.1 }.split(&map, 2).unwrap();
        let mut rng = Rng::new(3);
        let e = training_example(&map, &split, &mut rng, 200, 50, &cfg).unwrap();
        assert_eq!(e.visible.len(), 200);
        assert_eq!(e.queries.len(), 50);
        assert_eq!(e.targets.len(), 50);
        // Temporal split: queries at or after the cut-off (t ≥ 4 s), context before it.
        assert!(e.queries.iter().all(|q| q[2] >= 4.0));
        assert!(e.visible.iter().all(|v| v[2] < 4.0));
        // Context starts from the latest visible slot of the query's band.
        assert_eq!(e.visible[0][2], 3.0);
        assert_eq!(e.visible[0][3], e.queries[0][3]);
    }
}
