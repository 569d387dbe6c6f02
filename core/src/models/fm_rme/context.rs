//! Which visible measurements FM-RME sees for a group of queries — one rule for training and
//! inference, so the model is used the way it was trained.
//!
//! A 4-D map holds up to 10⁶ visible voxels; a context holds at most `max_visible` tokens.
//! Like kriging's local neighbourhood, the context of a query group is local: each visible
//! point is scored by its distance to the group's centre in space and in (slot, band),
//! `|Δx|/length_scale + slice_weight·(|Δt|/time_scale + |Δf|/freq_scale)`, and the
//! `max_visible` lowest scores are taken (ties by index: deterministic, [`crate::rank`]). With the defaults a
//! point one 1-s slot away counts like a point 68 m away in the same slot, and one 180-MHz band
//! away like 369 m: a query's own slice comes first, other slices fill in where it is sparse
//! or empty (temporal and spectral prediction). At inference the queries of a slice are
//! grouped in square tiles of `tile_m`; in training the queries are the hidden voxels nearest to a random centre.

use super::config::{ContextConfig, FmRmeConfig};
use crate::map::SliceKey;
use crate::nn::neighbour_interp::Neighbourhood;
use crate::rank;
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// The context score of the model: the model's scales (which the weights were trained with)
/// and the context's slice weight, in one value the selection functions share.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContextRule {
    /// Metres per model length unit ([`FmRmeConfig::length_scale_m`]).
    pub length_scale_m: f64,
    /// Seconds per model time unit ([`FmRmeConfig::time_scale_s`]).
    pub time_scale_s: f64,
    /// Hertz per model frequency unit ([`FmRmeConfig::freq_scale_hz`]).
    pub freq_scale_hz: f64,
    /// Weight of slice distance against spatial distance ([`ContextConfig::slice_weight`]).
    pub slice_weight: f64,
}

impl ContextRule {
    /// The rule of a model and its context settings.
    pub fn new(model: &FmRmeConfig, context: &ContextConfig) -> Self {
        Self {
            length_scale_m: model.length_scale_m,
            time_scale_s: model.time_scale_s,
            freq_scale_hz: model.freq_scale_hz,
            slice_weight: context.slice_weight,
        }
    }

    /// The context score of point `p = (x, y, t, f, ·)` for a centre `c = (x, y, t, f)`.
    #[inline]
    pub fn score(&self, p: &[f64; 5], c: &[f64; 4]) -> f64 {
        let space = ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt() / self.length_scale_m;
        let dt = (p[2] - c[2]).abs() / self.time_scale_s;
        let df = if p[3].is_finite() && c[3].is_finite() { (p[3] - c[3]).abs() / self.freq_scale_hz } else { 0.0 };
        space + self.slice_weight * (dt + df)
    }

    /// (score, index) of the (at most) `budget` points with the lowest score for `centre`,
    /// in increasing score.
    pub fn lowest(&self, points: &[[f64; 5]], centre: &[f64; 4], budget: usize) -> Vec<(f64, usize)> {
        rank::lowest(points.iter().enumerate().map(|(i, p)| (self.score(p, centre), i)).collect(), budget)
    }

    /// Indices of the (at most) `budget` points with the lowest score for `centre`, in
    /// increasing score.
    pub fn select(&self, points: &[[f64; 5]], centre: &[f64; 4], budget: usize) -> Vec<usize> {
        self.lowest(points, centre, budget).into_iter().map(|(_, i)| i).collect()
    }
}

/// Points ordered by `x`, for many small neighbour searches among the same points: a search
/// visits the points in increasing `|Δx|` from its centre and stops once `|Δx|` alone puts a
/// point's score past the worst of the `k` kept (the slice term of a score is never negative).
/// It returns [`ContextRule::lowest`]'s answer exactly; it only skips points that cannot enter.
struct SweepByX<'a> {
    points: &'a [[f64; 5]],
    /// Indices into `points`, by increasing `x`.
    order: Vec<usize>,
    /// `x` of `order`'s points.
    xs: Vec<f64>,
}

impl<'a> SweepByX<'a> {
    fn new(points: &'a [[f64; 5]]) -> Self {
        let mut order: Vec<usize> = (0..points.len()).collect();
        order.sort_by(|&a, &b| points[a][0].total_cmp(&points[b][0]));
        let xs = order.iter().map(|&i| points[i][0]).collect();
        Self { points, order, xs }
    }

    /// [`ContextRule::lowest`] of the points for `centre` and `k`, offering the points of
    /// `hint` (distinct indices into the points) first. Why: a map's queries come row by
    /// row, and the last query's neighbours are mostly the next one's; offered first they
    /// set a tight bar from the start, and the sweep then visits and offers far fewer points
    /// (the bench's 64² map from 400 readings: 78 ms instead of 92, with the AVX-512 kernels).
    /// The answer is the same for any hint.
    fn lowest_from(&self, rule: &ContextRule, centre: &[f64; 4], k: usize, hint: &[usize]) -> Vec<(f64, usize)> {
        let mut top = rank::TopK::new(k);
        for &i in hint {
            top.offer(rule.score(&self.points[i], centre), i);
        }
        // Squared metres past which a spatial distance alone reaches the bar. The margin
        // (10⁻⁹ relative) is far above the score's rounding and far below any distance that matters.
        let reach = |top: &rank::TopK| top.bar().map(|bar| (bar * rule.length_scale_m).powi(2) * (1.0 + 1e-9));
        let n = self.xs.len();
        let (mut below, mut above) = {
            let at = self.xs.partition_point(|&x| x < centre[0]);
            (at, at)
        };
        loop {
            // The nearer in x of the next point on each side.
            let left = (below > 0).then(|| centre[0] - self.xs[below - 1]);
            let right = (above < n).then(|| self.xs[above] - centre[0]);
            let (dx, at) = match (left, right) {
                (Some(l), Some(r)) if l <= r => (l, below - 1),
                (Some(l), None) => (l, below - 1),
                (_, Some(r)) => (r, above),
                (None, None) => break,
            };
            if at < below {
                below -= 1;
            } else {
                above += 1;
            }
            let reach = reach(&top);
            if reach.is_some_and(|r2| dx * dx > r2) {
                // Every point left is at least this far in x.
                break;
            }
            let i = self.order[at];
            let p = &self.points[i];
            if reach.is_some_and(|r2| dx * dx + (p[1] - centre[1]).powi(2) > r2) || hint.contains(&i) {
                continue;
            }
            top.offer(rule.score(p, centre), i);
        }
        top.into_sorted()
    }
}

/// Visible points per query in the local baseline and the learned interpolation.
pub const NEIGHBOURS: usize = 16;
/// Geometric features per (query, neighbour) pair, see [`QueryNeighbourhoods`].
pub const PAIR_FEATURES: usize = 10;

/// The host-side neighbourhoods of one example's queries: for each query its `NEIGHBOURS`
/// visible points with the lowest context score (distance in space, slot and band,
/// [`ContextRule`]), flattened `[Nq, NEIGHBOURS]` (features `[Nq, NEIGHBOURS, PAIR_FEATURES]`).
///
/// Pair features of neighbour `j` (positions in model units, relative to the query):
/// 0 spatial distance `d_j`; 1 `|Δt|`; 2 `|Δf|`; 3 same slice (1/0); 4 `d_j / mean d`;
/// 5 crowding, the mean over the other neighbours `k` of `1 / (1 + (|x_j − x_k| / mean d)²)`;
/// 6 screening, the largest `cos ∠(j, k)` over nearer neighbours `k` (−1 when none);
/// 7 the neighbour's value minus the baseline; 8 `ln(d_j + 10⁻³)`; 9 `ln(s_j + 10⁻³)` for
/// context score `s_j` (the logarithms give the weighting MLP a direct handle on the power
/// of an inverse-distance law). The prior log-weight is `−ln(s_j² + 10⁻⁶)`
/// so that the softmax of the priors is [`local_baseline`]'s weights.
///
/// With a kriging candidate (`[mean, σ]` per query, [`super::kriging_at`]) each query has one
/// slot more, the last, and every slot one feature more, the last: 1 at the candidate, 0 at
/// the measurements. The candidate's features read as a reading at the query in its slice
/// (0 distance and offsets, same slice 1, no crowding, screening −1), its value minus the
/// baseline, and `ln(σ / std + 10⁻³)` (σ standardised) in both logarithm features; its prior
/// log-weight is the nearest measurement's, so that it starts weighed as that one. A query
/// whose candidate is NaN has that slot as padding.
#[derive(Clone, Debug, Default)]
pub struct QueryNeighbourhoods {
    /// `[Nq]` the local interpolation baseline (standardised).
    pub baseline: Vec<f32>,
    /// `[Nq, K]` the neighbours' standardised values.
    pub values: Vec<f32>,
    /// `[Nq, K, P]` the pair features.
    pub features: Vec<f32>,
    /// `[Nq, K]` the prior log-weights.
    pub prior: Vec<f32>,
    /// `[Nq, K]` true where a slot holds no neighbour.
    pub pad: Vec<bool>,
    /// `K`: slots per query ([`NEIGHBOURS`], one more with a kriging candidate).
    pub slots: usize,
    /// `P`: features per slot ([`PAIR_FEATURES`], one more with a kriging candidate).
    pub n_features: usize,
}

impl QueryNeighbourhoods {
    /// The neighbourhoods of `queries` among `visible`, values standardised by `(mean, std)`;
    /// with `candidate` (kriging's `[mean, σ]` in dB per query) one slot more for it.
    pub fn of(visible: &[[f64; 5]], queries: &[[f64; 4]], mean: f64, std: f64, rule: &ContextRule, candidate: Option<&[[f64; 2]]>) -> Self {
        let extra = usize::from(candidate.is_some());
        let (k, p) = (NEIGHBOURS + extra, PAIR_FEATURES + extra);
        let nq = queries.len();
        let mut out = Self {
            baseline: Vec::with_capacity(nq),
            values: vec![0.0; nq * k],
            features: vec![0.0; nq * k * p],
            prior: vec![0.0; nq * k],
            pad: vec![true; nq * k],
            slots: k,
            n_features: p,
        };
        let sweep = SweepByX::new(visible);
        let mut last_neighbours: Vec<usize> = Vec::with_capacity(NEIGHBOURS);
        for (qi, q) in queries.iter().enumerate() {
            // The same rule as a group's context, with the query as the centre.
            let scored = sweep.lowest_from(rule, q, NEIGHBOURS, &last_neighbours);
            last_neighbours.clear();
            last_neighbours.extend(scored.iter().map(|&(_, i)| i));
            let value = |i: usize| (visible[i][4] - mean) / std;
            let (mut num, mut den) = (0.0, 0.0);
            for &(s, i) in &scored {
                let w = 1.0 / (s * s + 1e-6);
                num += w * value(i);
                den += w;
            }
            let base = if den > 0.0 { num / den } else { 0.0 };
            out.baseline.push(base as f32);
            // Offsets from the query in model length units (on the stack: this runs per query).
            let (mut offset, mut dist) = ([[0.0f64; 2]; NEIGHBOURS], [0.0f64; NEIGHBOURS]);
            // Unit offsets (zero at the query itself): the screening cosines below are their dot
            // products, without a division per pair.
            let mut unit = [[0.0f64; 2]; NEIGHBOURS];
            for (j, &(_, i)) in scored.iter().enumerate() {
                offset[j] = [(visible[i][0] - q[0]) / rule.length_scale_m, (visible[i][1] - q[1]) / rule.length_scale_m];
                // As the score computes it, so that in the query's slice the two are equal.
                dist[j] = ((visible[i][0] - q[0]).powi(2) + (visible[i][1] - q[1]).powi(2)).sqrt() / rule.length_scale_m;
                if dist[j] >= 1e-9 {
                    unit[j] = [offset[j][0] / dist[j], offset[j][1] / dist[j]];
                }
            }
            let scale = dist[..scored.len()].iter().sum::<f64>() / scored.len().max(1) as f64 + 1e-3;
            let inverse_scale_squared = 1.0 / (scale * scale);
            // 1 / (1 + (|x_j − x_m| / mean d)²) of every pair, once per pair (it is symmetric,
            // to the bit) and without a square root: the crowding sums below read it.
            let n = scored.len();
            let mut closeness = [[0.0f64; NEIGHBOURS]; NEIGHBOURS];
            for j in 0..n {
                for m in j + 1..n {
                    let c = 1.0
                        / (1.0 + ((offset[j][0] - offset[m][0]).powi(2) + (offset[j][1] - offset[m][1]).powi(2)) * inverse_scale_squared);
                    closeness[j][m] = c;
                    closeness[m][j] = c;
                }
            }
            for (j, &(s, i)) in scored.iter().enumerate() {
                let v = &visible[i];
                let dt = (v[2] - q[2]).abs() / rule.time_scale_s;
                let df = if v[3].is_finite() && q[3].is_finite() { (v[3] - q[3]).abs() / rule.freq_scale_hz } else { 0.0 };
                let others = (0..scored.len()).filter(|&m| m != j);
                let crowding = others.clone().map(|m| closeness[j][m]).sum::<f64>() / (n.max(2) - 1) as f64;
                let screening = others
                    .filter(|&m| dist[m] < dist[j])
                    .map(|m| if dist[m] < 1e-9 { 1.0 } else { unit[j][0] * unit[m][0] + unit[j][1] * unit[m][1] })
                    .fold(-1.0f64, f64::max);
                let slot = qi * k + j;
                let same_slice = if SliceKey::of(v[2], v[3]) == SliceKey::of(q[2], q[3]) { 1.0 } else { 0.0 };
                let log_dist = (dist[j] + 1e-3).ln();
                let f = [
                    dist[j],
                    dt,
                    df,
                    same_slice,
                    dist[j] / scale,
                    crowding,
                    screening,
                    value(i) - base,
                    log_dist,
                    // In the query's own slice the score is the distance: one logarithm for both.
                    if s == dist[j] { log_dist } else { (s + 1e-3).ln() },
                ];
                for (c, x) in f.iter().enumerate() {
                    out.features[slot * p + c] = *x as f32;
                }
                out.values[slot] = value(i) as f32;
                out.prior[slot] = -((s * s + 1e-6).ln()) as f32;
                out.pad[slot] = false;
            }
            let Some(&[kriged, sigma]) = candidate.and_then(|c| c.get(qi)) else { continue };
            if !(kriged.is_finite() && sigma.is_finite()) {
                continue;
            }
            let slot = qi * k + NEIGHBOURS;
            let v = (kriged - mean) / std;
            let log_sigma = (sigma / std + 1e-3).ln();
            let f = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, -1.0, v - base, log_sigma, log_sigma, 1.0];
            for (c, x) in f.iter().enumerate() {
                out.features[slot * p + c] = *x as f32;
            }
            out.values[slot] = v as f32;
            // The nearest measurement's prior (slot 0: sorted by score), 0 with none.
            out.prior[slot] = if scored.is_empty() { 0.0 } else { out.prior[qi * k] };
            out.pad[slot] = false;
        }
        out
    }

    /// A batch's `[B, Nq]` baselines and its neighbourhood tensors, padded to `nq` queries
    /// (baseline 0 and all slots padding at padded queries).
    /// Every part has the same widths (one model's batch).
    pub fn to_tensors(parts: &[Self], nq: usize, device: &Device) -> (Tensor<2>, Neighbourhood) {
        let (k, p) = parts.first().map_or((NEIGHBOURS, PAIR_FEATURES), |h| (h.slots, h.n_features));
        debug_assert!(parts.iter().all(|h| (h.slots, h.n_features) == (k, p)), "mixed neighbourhood widths in one batch");
        let b = parts.len();
        let mut baseline = vec![0f32; b * nq];
        let mut values = vec![0f32; b * nq * k];
        let mut features = vec![0f32; b * nq * k * p];
        let mut prior = vec![0f32; b * nq * k];
        let mut pad = vec![true; b * nq * k];
        for (bi, h) in parts.iter().enumerate() {
            baseline[bi * nq..bi * nq + h.baseline.len()].copy_from_slice(&h.baseline);
            let o = bi * nq * k;
            values[o..o + h.values.len()].copy_from_slice(&h.values);
            prior[o..o + h.prior.len()].copy_from_slice(&h.prior);
            pad[o..o + h.pad.len()].copy_from_slice(&h.pad);
            features[o * p..o * p + h.features.len()].copy_from_slice(&h.features);
        }
        let neighbourhood = Neighbourhood {
            values: Tensor::<3>::from_data(TensorData::new(values, [b, nq, k]), device),
            features: Tensor::<4>::from_data(TensorData::new(features, [b, nq, k, p]), device),
            prior: Tensor::<3>::from_data(TensorData::new(prior, [b, nq, k]), device),
            pad: Tensor::<3, Bool>::from_data(TensorData::new(pad, [b, nq, k]), device),
        };
        (Tensor::<2>::from_data(TensorData::new(baseline, [b, nq]), device), neighbourhood)
    }
}

/// The local interpolation baseline: for each query, inverse-square weighting of the
/// standardised power of its `NEIGHBOURS` visible points with the lowest context score. It
/// is embedded into the query token, is the prior of the learned interpolation
/// ([`crate::nn::neighbour_interp::NeighbourInterpolation`]) and the reference of [`super::loss::relative_masked_mse`] — the model
/// starts from a sound interpolator instead of learning interpolation from nothing, which a
/// small model trained on a CPU cannot afford. (An addition to the paper's decoder.)
pub fn local_baseline(visible: &[[f64; 5]], queries: &[[f64; 4]], mean: f64, std: f64, rule: &ContextRule) -> Vec<f32> {
    QueryNeighbourhoods::of(visible, queries, mean, std, rule, None).baseline
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_prefers_near_points_of_the_same_slice() {
        let rule = ContextRule::new(&FmRmeConfig::tiny(), &ContextConfig::new().with_slice_weight(8.0));
        let p = |x: f64, t: f64, f: f64| [x, 0.0, t, f, -60.0];
        let pts = vec![p(100.0, 0.0, 3.5e9), p(10.0, 0.0, 3.5e9), p(0.0, 1.0, 3.5e9), p(0.0, 0.0, 3.7e9), p(0.0, 60.0, 3.5e9)];
        // Scores: 1.5625; 0.156; 8/30 = 0.267; 8·0.2 = 1.6; 16.
        let c = rule.select(&pts, &[0.0, 0.0, 0.0, 3.5e9], 4);
        assert_eq!(c, vec![1, 2, 0, 3]);
        assert!((rule.score(&pts[3], &[0.0, 0.0, 0.0, 3.5e9]) - 1.6).abs() < 1e-9);
        assert_eq!(rule.select(&pts, &[0.0, 0.0, 0.0, 3.5e9], 100).len(), 5);
    }

    #[test]
    fn the_sweep_finds_what_scoring_every_point_finds() {
        let rule = ContextRule::new(&FmRmeConfig::tiny(), &ContextConfig::new());
        let mut rng = crate::rng::Rng::new(11);
        // Grid positions (many equal distances, so ties are common) over three slots and two
        // bands, and a few points stacked on one spot.
        let mut points: Vec<[f64; 5]> = (0..300)
            .map(|_| {
                let (x, y) = (4.0 * rng.below(40) as f64, 4.0 * rng.below(40) as f64);
                [x, y, rng.below(3) as f64, 3.5e9 + 1e8 * rng.below(2) as f64, 0.0]
            })
            .collect();
        points.extend([[80.0, 80.0, 0.0, 3.5e9, 0.0]; 5]);
        let sweep = SweepByX::new(&points);
        for _ in 0..200 {
            let q = [rng.range(-20.0, 180.0), 4.0 * rng.below(40) as f64, rng.below(3) as f64, 3.5e9];
            for k in [1, 16, 40, 400] {
                let expected = rule.lowest(&points, &q, k);
                assert_eq!(sweep.lowest_from(&rule, &q, k, &[]), expected, "query {q:?}, k {k}");
                // Any hint (here: near points, far points, the answer itself) changes nothing.
                let hint: Vec<usize> =
                    (0..rng.below(30)).map(|_| rng.below(points.len())).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
                assert_eq!(sweep.lowest_from(&rule, &q, k, &hint), expected, "query {q:?}, k {k}, hint {hint:?}");
                let own: Vec<usize> = expected.iter().map(|&(_, i)| i).collect();
                assert_eq!(sweep.lowest_from(&rule, &q, k, &own), expected, "query {q:?}, k {k}, its own answer as the hint");
            }
        }
        assert!(SweepByX::new(&[]).lowest_from(&rule, &[0.0; 4], 16, &[]).is_empty());
    }

    #[test]
    fn local_baseline_hand_computed() {
        let rule = ContextRule::new(&FmRmeConfig::tiny(), &ContextConfig::new());
        // Two points of the query's slice, 64 m (score 1) and 128 m (score 2) away, values
        // standardised to 1 and −1: weights 1 and 1/4 → (1 − 0.25) / 1.25 = 0.6.
        let v = [[64.0, 0.0, 0.0, 3e9, 10.0], [-128.0, 0.0, 0.0, 3e9, -10.0]];
        let b = local_baseline(&v, &[[0.0, 0.0, 0.0, 3e9]], 0.0, 10.0, &rule);
        assert!((b[0] - 0.6).abs() < 1e-5, "{}", b[0]);
        // On a visible point the baseline is that point.
        let b = local_baseline(&v, &[[64.0, 0.0, 0.0, 3e9]], 0.0, 10.0, &rule);
        assert!((b[0] - 1.0).abs() < 1e-4);
    }

    #[test]
    fn neighbourhood_features_hand_computed() {
        let rule = ContextRule::new(&FmRmeConfig::tiny(), &ContextConfig::new().with_slice_weight(8.0));
        // The query at the origin; neighbours 64 m (d = 1) and 128 m (d = 2) along +x in its
        // slice, values standardised to 1 and −1; a third 64 m along −x one slot later.
        let v = [[64.0, 0.0, 0.0, 3e9, 10.0], [128.0, 0.0, 0.0, 3e9, -10.0], [-64.0, 0.0, 30.0, 3e9, 0.0]];
        let h = QueryNeighbourhoods::of(&v, &[[0.0, 0.0, 0.0, 3e9]], 0.0, 10.0, &rule, None);
        let f = |j: usize| &h.features[j * PAIR_FEATURES..(j + 1) * PAIR_FEATURES];
        // Scores 1, 2 and 1 + 8·1 = 9: order A, B, C; weights 1, ¼, 1/81.
        let base: f64 = (1.0 - 0.25) / (1.0 + 0.25 + 1.0 / 81.0);
        assert!((h.baseline[0] - base as f32).abs() < 1e-5);
        let scale: f64 = (1.0 + 2.0 + 1.0) / 3.0 + 1e-3;
        // Crowding of A: B at distance 1, C at distance 2 from it.
        let crowd_a = (1.0 / (1.0 + (1.0 / scale).powi(2)) + 1.0 / (1.0 + (2.0 / scale).powi(2))) / 2.0;
        let expect_a = [1.0, 0.0, 0.0, 1.0, 1.0 / scale, crowd_a, -1.0, 1.0 - base, 1.001f64.ln(), 1.001f64.ln()];
        for (c, (x, e)) in f(0).iter().zip(expect_a).enumerate() {
            assert!((*x as f64 - e).abs() < 1e-5, "A feature {c}: {x} vs {e}");
        }
        // B lies behind A (cos 1); C, one slot later, is opposite A (cos −1) and not behind B.
        assert!((f(1)[6] - 1.0).abs() < 1e-6 && (f(2)[6] + 1.0).abs() < 1e-6);
        assert!((f(2)[1] - 1.0).abs() < 1e-6 && f(2)[3] == 0.0);
        assert!((h.prior[1] + 4f32.ln()).abs() < 1e-5 && (h.prior[2] + 81f32.ln()).abs() < 1e-4);
        // Fewer visible points than NEIGHBOURS: the rest are padding.
        assert_eq!(h.pad.iter().filter(|p| !**p).count(), 3);
        assert!(h.pad[3..NEIGHBOURS].iter().all(|p| *p));
    }

    /// A kriging candidate: one slot more (the last) and one feature more (the marker, 1 only
    /// there); the measurements' slots are as without it; the candidate reads as a reading at
    /// the query, weighs as the nearest measurement, and a NaN candidate is padding.
    #[test]
    fn the_kriging_candidate_slot_hand_computed() {
        let rule = ContextRule::new(&FmRmeConfig::tiny(), &ContextConfig::new().with_slice_weight(8.0));
        let v = [[64.0, 0.0, 0.0, 3e9, 10.0], [128.0, 0.0, 0.0, 3e9, -10.0], [-64.0, 0.0, 30.0, 3e9, 0.0]];
        let q = [[0.0, 0.0, 0.0, 3e9], [10.0, 0.0, 0.0, 3e9]];
        let plain = QueryNeighbourhoods::of(&v, &q, 0.0, 10.0, &rule, None);
        let with = QueryNeighbourhoods::of(&v, &q, 0.0, 10.0, &rule, Some(&[[5.0, 2.0], [f64::NAN, f64::NAN]]));
        let (k, p) = (NEIGHBOURS + 1, PAIR_FEATURES + 1);
        assert_eq!((with.slots, with.n_features, plain.slots, plain.n_features), (k, p, NEIGHBOURS, PAIR_FEATURES));
        assert_eq!(with.baseline, plain.baseline);
        for qi in 0..2 {
            for j in 0..NEIGHBOURS {
                let (a, b) = (qi * k + j, qi * NEIGHBOURS + j);
                assert_eq!((with.values[a], with.prior[a], with.pad[a]), (plain.values[b], plain.prior[b], plain.pad[b]));
                assert_eq!(with.features[a * p..a * p + PAIR_FEATURES], plain.features[b * PAIR_FEATURES..(b + 1) * PAIR_FEATURES]);
                assert_eq!(with.features[a * p + PAIR_FEATURES], 0.0, "the marker is 0 at a measurement");
            }
        }
        let c = NEIGHBOURS;
        assert!(!with.pad[c] && with.pad[k + c], "the NaN candidate is padding");
        assert!((with.values[c] - 0.5).abs() < 1e-6, "5 dB standardised by (0, 10)");
        assert_eq!(with.prior[c], with.prior[0]);
        let log_sigma = (0.2f64 + 1e-3).ln();
        let base = f64::from(with.baseline[0]);
        let expected = [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, -1.0, 0.5 - base, log_sigma, log_sigma, 1.0];
        for (i, e) in expected.iter().enumerate() {
            assert!((f64::from(with.features[c * p + i]) - e).abs() < 1e-5, "feature {i}: {} vs {e}", with.features[c * p + i]);
        }
    }
}
