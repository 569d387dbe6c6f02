//! FM-RME behind the [`Estimator`] interface: zero-shot estimation from any measurement set
//! at any query points. Queries are grouped by (slot, band) and spatial tile; for each group
//! the context rule ([`ContextRule::select`]) picks up to `max_visible` measurements. Each
//! group's queries are cut into chunks of `query_chunk`, and the chunks of several groups run
//! as one padded batch (`batch_groups` per forward pass, one read-back each). Neither
//! chunking nor batching changes results: queries attend only to their own group's visible
//! tokens and themselves, and padding is masked (both are tested). Tiles whose contexts are
//! the same points form one group, and a group's context is encoded once for all its chunks.

use super::batch::{Example, FmRmeBatch};
use super::candidate::kriging_at;
use super::config::{ContextConfig, FmRmeConfig};
use super::context::ContextRule;
use super::loss::LOG_STD_RANGE;
use super::model::{Decoded, EncodedVisible, FmRme};
use super::noise::{NoiseFound, denoise_measurements, slice_nugget};
use crate::error::{Result, RmeError};
use crate::estimator::Estimator;
use crate::map::{Estimate, MeasurementSet, QuerySet, SliceKey};
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::BTreeMap;

/// A trained (or freshly initialised) FM-RME model ready to estimate.
#[derive(Clone)]
pub struct FmRmeEstimator {
    /// The network.
    pub model: FmRme,
    /// Its architecture.
    pub config: FmRmeConfig,
    /// The context rule and grouping it estimates with.
    pub context: ContextConfig,
    /// Where the network runs.
    pub device: Device,
    /// The method's name in tables and on the page.
    pub label: String,
    /// Chunks of query groups per forward pass (padded to one batch): an execution setting,
    /// not an inference one — any value gives the same numbers (to float rounding).
    pub batch_groups: usize,
}

/// Chunks per forward pass unless set ([`FmRmeEstimator::with_batch_groups`]): one, because on
/// a CPU padded batches gain nothing (`rme bench`, one core, the 64² map from 400 samples:
/// 880 and 997 ms at 1 per pass, 1152 and 972 ms at 8 with a context per tile; with one
/// context for the map, 240 ms at 1 and 371 ms at 8, which encodes it once per batch item). A
/// GPU engine sets more: there each pass is one dispatch and one read-back.
pub const DEFAULT_BATCH_GROUPS: usize = 1;

impl FmRmeEstimator {
    /// Checks both configs; `label` names the method.
    pub fn new(model: FmRme, config: FmRmeConfig, context: ContextConfig, device: Device, label: impl Into<String>) -> Result<Self> {
        config.validate()?;
        context.validate()?;
        Ok(Self { model, config, context, device, label: label.into(), batch_groups: DEFAULT_BATCH_GROUPS })
    }

    /// The same estimator running `n` (at least 1) chunks of query groups per forward pass.
    pub fn with_batch_groups(self, n: usize) -> Self {
        Self { batch_groups: n.max(1), ..self }
    }

    /// The context score of the current `config` and `context` (derived on use, so that a
    /// change to either public field is never out of step with it).
    fn rule(&self) -> ContextRule {
        ContextRule::new(&self.config, &self.context)
    }

    /// Groups the queries by (slot, band) and spatial tile of side `tile_m`, and picks each
    /// group's context (up to `max_visible` measurements, [`ContextRule::select`]); a group whose
    /// context does not comfortably surround its queries is split further ([`Self::refine`]).
    fn plan(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Vec<QueryGroup>> {
        obs.validate()?;
        query.validate()?;
        let tile_m = self.context.tile_m;
        let mut points: Vec<[f64; 5]> = obs.points.iter().map(|m| [m.x_m, m.y_m, m.t_s, m.freq_hz, m.value]).collect();
        let mut groups: BTreeMap<(SliceKey, i64, i64), Vec<usize>> = BTreeMap::new();
        for (i, q) in query.points.iter().enumerate() {
            let tile = ((q.x_m / tile_m).floor() as i64, (q.y_m / tile_m).floor() as i64);
            groups.entry((SliceKey::of(q.t_s, q.freq_hz), tile.0, tile.1)).or_default().push(i);
        }
        // Kriging's candidate from the readings as measured (kriging's nugget is its own
        // denoising), one variogram per slice for all of its queries.
        let candidates = self.config.kriging_candidate.then(|| {
            let all: Vec<[f64; 4]> = query.points.iter().map(|q| [q.x_m, q.y_m, q.t_s, q.freq_hz]).collect();
            kriging_at(&points, &all)
        });
        let mut noise: BTreeMap<SliceKey, f64> = BTreeMap::new();
        let wants_nugget = self.context.measurement_noise && self.model.has_std_head();
        if self.context.denoise {
            let (denoised, removed) = denoise_measurements(obs)?;
            points = denoised.points.iter().map(|m| [m.x_m, m.y_m, m.t_s, m.freq_hz, m.value]).collect();
            if wants_nugget {
                // The nugget where noise was found or it is large ([`NoiseFound::for_sigma`]).
                for (key, ..) in groups.keys() {
                    noise.insert(*key, removed.get(key).map_or(0.0, NoiseFound::for_sigma));
                }
            }
        } else if wants_nugget {
            for (key, ..) in groups.keys() {
                noise.entry(*key).or_insert_with(|| slice_nugget(obs, *key));
            }
        }
        let mut out = Vec::with_capacity(groups.len());
        for ((key, ..), indices) in groups {
            let noise_var = noise.get(&key).copied().unwrap_or(0.0);
            let queries: Vec<[f64; 4]> = indices
                .iter()
                .map(|&i| {
                    let q = query.points[i];
                    [q.x_m, q.y_m, q.t_s, q.freq_hz]
                })
                .collect();
            let first = out.len();
            self.refine(&points, indices, queries, 0, &mut out);
            for g in &mut out[first..] {
                g.noise_var = noise_var;
                if let Some(c) = &candidates {
                    g.kriging = g.indices.iter().map(|&i| c[i]).collect();
                }
            }
        }
        Ok(merge_identical_contexts(out))
    }

    /// Picks a group's context; if the context was cut to `max_visible` points and some query
    /// lies farther from the group's centre than half the context's spatial radius, splits
    /// the group into quadrants and recurses (at most 8 levels). Why: in training the queries
    /// are the hidden voxels nearest the centre of their context, well inside it; with dense
    /// measurements a fixed tile would put its corner queries at the context's edge, where
    /// their nearest neighbours all lie on one side (measured on validation seeds: 50 %
    /// visible on 128² maps was worse than inverse-distance weighting before this rule).
    fn refine(&self, points: &[[f64; 5]], indices: Vec<usize>, queries: Vec<[f64; 4]>, depth: usize, out: &mut Vec<QueryGroup>) {
        let n = queries.len() as f64;
        let centre =
            [queries.iter().map(|q| q[0]).sum::<f64>() / n, queries.iter().map(|q| q[1]).sum::<f64>() / n, queries[0][2], queries[0][3]];
        let chosen = self.rule().select(points, &centre, self.context.max_visible);
        let spatial = |x: f64, y: f64| (x - centre[0]).hypot(y - centre[1]);
        let radius = chosen.iter().map(|&i| spatial(points[i][0], points[i][1])).fold(0.0, f64::max);
        let reach = queries.iter().map(|q| spatial(q[0], q[1])).fold(0.0, f64::max);
        if chosen.len() < points.len() && reach > 0.5 * radius && queries.len() > 1 && depth < 8 {
            let mut quadrants: [(Vec<usize>, Vec<[f64; 4]>); 4] = Default::default();
            for (i, q) in indices.into_iter().zip(queries) {
                let k = usize::from(q[0] >= centre[0]) + 2 * usize::from(q[1] >= centre[1]);
                quadrants[k].0.push(i);
                quadrants[k].1.push(q);
            }
            for (idx, qs) in quadrants {
                if !qs.is_empty() {
                    self.refine(points, idx, qs, depth + 1, out);
                }
            }
            return;
        }
        // In measurement order, not score order: the network does not care (it is
        // permutation-invariant up to float rounding), and tiles that chose the same points
        // then hold equal contexts ([`merge_identical_contexts`]).
        let mut chosen = chosen;
        chosen.sort_unstable();
        let visible = chosen.iter().map(|&i| points[i]).collect();
        out.push(QueryGroup { indices, visible, queries, noise_var: 0.0, kriging: Vec::new() });
    }

    /// The plan's work as passes of at most `batch_groups` items, an item being one chunk
    /// (at most `query_chunk` queries) of one group: `(group, first query, end)`.
    fn passes(&self, plan: &[QueryGroup]) -> Vec<Vec<(usize, usize, usize)>> {
        let chunk = self.context.query_chunk.max(1);
        let items: Vec<(usize, usize, usize)> = plan
            .iter()
            .enumerate()
            .flat_map(|(g, group)| (0..group.queries.len()).step_by(chunk).map(move |a| (g, a, (a + chunk).min(group.queries.len()))))
            .collect();
        items.chunks(self.batch_groups.max(1)).map(<[_]>::to_vec).collect()
    }

    /// One pass's padded batch: each item's group context and its chunk of queries. A pass
    /// over the groups of the last one (more chunks of their queries) reuses its visible half.
    fn pass_batch(&self, plan: &[QueryGroup], pass: &[(usize, usize, usize)], shared: &Option<SharedContext>) -> Result<FmRmeBatch> {
        let examples: Vec<Example> = pass
            .iter()
            .map(|&(g, a, b)| Example {
                visible: plan[g].visible.clone(),
                queries: plan[g].queries[a..b].to_vec(),
                targets: vec![],
                kriging: plan[g].kriging.get(a..b).map(<[_]>::to_vec).unwrap_or_default(),
            })
            .collect();
        match shared {
            Some(last) if last.groups == groups_of(pass) => last.batch.with_queries_of(&examples, &self.config, &self.rule(), &self.device),
            _ => FmRmeBatch::new(&examples, &self.config, &self.rule(), &self.device),
        }
    }

    /// A pass's outputs ([`Self::pass_output`]). The visible sets are encoded once for
    /// consecutive passes over the same groups (more chunks of their queries): `shared`
    /// keeps the last pass's groups, batch and encoding.
    fn forward_pass(&self, pass: &[(usize, usize, usize)], batch: &FmRmeBatch, shared: &mut Option<SharedContext>) -> Tensor<1> {
        let groups = groups_of(pass);
        let visible = match shared {
            Some(last) if last.groups == groups => last.encoded.clone(),
            _ => {
                let encoded = self.model.encode(batch);
                *shared = Some(SharedContext { groups, batch: batch.clone(), encoded: encoded.clone() });
                encoded
            }
        };
        let decoded =
            self.model.decode(&visible, batch.query_coords.clone(), batch.query_pad.clone(), batch.baseline.clone(), &batch.neighbourhood);
        Self::pass_output(decoded)
    }

    /// Both outputs of a pass as one `[B·Nq]` or `[2·B·Nq]` tensor, so that a pass costs one
    /// read-back (asynchronous on WebGPU) whether or not there is a σ.
    fn pass_output(decoded: Decoded) -> Tensor<1> {
        match decoded.log_std {
            Some(log_std) => Tensor::cat(vec![decoded.mean.flatten(0, 1), log_std.flatten(0, 1)], 0),
            None => decoded.mean.flatten(0, 1),
        }
    }

    /// Maps a pass's standardised outputs ([`Self::pass_output`], rows of the batch's `Nq`)
    /// back to power (and σ to dB, times the calibration) at the items' query indices.
    fn scatter(
        &self,
        plan: &[QueryGroup],
        pass: &[(usize, usize, usize)],
        batch: &FmRmeBatch,
        output: &TensorData,
        out: &mut Estimate,
    ) -> Result<()> {
        let values = output.clone().try_to_vec::<f32>().map_err(read_error)?;
        let nq = batch.query_pad.dims()[1];
        let rows = pass.len() * nq;
        if values.len() < rows || (out.std.is_some() && values.len() < 2 * rows) {
            return Err(read_error(format!("{} outputs for {} queries", values.len(), rows)));
        }
        for (k, &(g, a, b)) in pass.iter().enumerate() {
            let (mean, std) = batch.scales[k];
            let indices = &plan[g].indices[a..b];
            for (j, &i) in indices.iter().enumerate() {
                out.mean[i] = values[k * nq + j] as f64 * std + mean;
            }
            if let Some(out_std) = out.std.as_mut() {
                let noise_var = plan[g].noise_var;
                for (j, &i) in indices.iter().enumerate() {
                    let l = values[rows + k * nq + j].clamp(LOG_STD_RANGE.0, LOG_STD_RANGE.1) as f64;
                    out_std[i] = (l.exp() * std * self.context.std_calibration).hypot(noise_var.sqrt());
                }
            }
        }
        Ok(())
    }

    /// An empty estimate for `n` queries: σ where the network has a head.
    fn empty_estimate(&self, n: usize) -> Estimate {
        Estimate { mean: vec![f64::NAN; n], std: self.model.has_std_head().then(|| vec![f64::NAN; n]) }
    }

    /// The same estimate as [`Estimator::estimate`], reading results back asynchronously —
    /// the only way on WebGPU in a browser, where a synchronous read cannot wait for the GPU.
    /// One read-back per pass.
    pub async fn estimate_async(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate> {
        let mut out = self.empty_estimate(query.len());
        let plan = self.plan(obs, query)?;
        let mut shared = None;
        for pass in self.passes(&plan) {
            let batch = self.pass_batch(&plan, &pass, &shared)?;
            let data = self.forward_pass(&pass, &batch, &mut shared).into_data_async().await.map_err(read_error)?;
            self.scatter(&plan, &pass, &batch, &data, &mut out)?;
        }
        Ok(out)
    }
}

/// What consecutive passes over the same groups share: the groups (one per pass item), the
/// first pass's batch (its visible half is reused) and the encoder's output for it.
struct SharedContext {
    groups: Vec<usize>,
    batch: FmRmeBatch,
    encoded: EncodedVisible,
}

/// The group of each item of a pass.
fn groups_of(pass: &[(usize, usize, usize)]) -> Vec<usize> {
    pass.iter().map(|&(g, ..)| g).collect()
}

/// Joins the groups that share their context (the same visible points and noise), keeping
/// the first one's place. Why: a query's estimate depends on its context and its own
/// position only ([`super::query_isolation_mask`]), so a joined group gives the same
/// numbers, and its context is encoded once instead of once per tile — with no more
/// measurements than `max_visible` in a slice every tile of it has them all.
fn merge_identical_contexts(groups: Vec<QueryGroup>) -> Vec<QueryGroup> {
    let mut out: Vec<QueryGroup> = Vec::with_capacity(groups.len());
    for group in groups {
        match out.iter_mut().find(|g| g.noise_var.to_bits() == group.noise_var.to_bits() && g.visible == group.visible) {
            Some(same) => {
                same.indices.extend(group.indices);
                same.queries.extend(group.queries);
                same.kriging.extend(group.kriging);
            }
            None => out.push(group),
        }
    }
    out
}

/// Queries of one (slot, band, tile) and the context they are estimated from.
struct QueryGroup {
    indices: Vec<usize>,
    visible: Vec<[f64; 5]>,
    queries: Vec<[f64; 4]>,
    /// Measurement-noise variance added to σ² (dB², [`ContextConfig::measurement_noise`]).
    noise_var: f64,
    /// Kriging's `[mean, σ]` at each query, where the model has a kriging candidate.
    kriging: Vec<[f64; 2]>,
}

fn read_error(e: impl std::fmt::Debug) -> RmeError {
    RmeError::numerical("FM-RME output", format!("{e:?}"))
}

impl Estimator for FmRmeEstimator {
    fn name(&self) -> &str {
        &self.label
    }

    fn estimate(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate> {
        self.estimate_with_progress(obs, query, &|_, _| {})
    }

    /// Reports the (slot, band, tile) chunks done after each pass.
    fn estimate_with_progress(&self, obs: &MeasurementSet, query: &QuerySet, progress: &dyn Fn(usize, usize)) -> Result<Estimate> {
        self.run_plan(&self.plan(obs, query)?, query.len(), progress)
    }
}

impl FmRmeEstimator {
    /// Runs a plan's passes for `n` queries, reporting the chunks done after each pass.
    fn run_plan(&self, plan: &[QueryGroup], n: usize, progress: &dyn Fn(usize, usize)) -> Result<Estimate> {
        let mut out = self.empty_estimate(n);
        let passes = self.passes(plan);
        let total: usize = passes.iter().map(Vec::len).sum();
        let mut done = 0;
        let mut shared = None;
        for pass in passes {
            let batch = self.pass_batch(plan, &pass, &shared)?;
            let data = self.forward_pass(&pass, &batch, &mut shared).into_data();
            self.scatter(plan, &pass, &batch, &data, &mut out)?;
            done += pass.len();
            progress(done, total);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::map::{Measurement, Query};
    use burn::tensor::Tolerance;

    /// Batched passes give the numbers of one chunk at a time, mean and σ, across groups of
    /// different context and query counts (padded in both).
    #[test]
    fn batched_passes_match_one_group_at_a_time() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny().with_std_head(true);
        let model = cfg.init(&d).with_std_head(&d).with_random_output_layers(&d);
        // Groups of 7 to 40 measurements and 1 to 23 queries, in two slots: every pass pads
        // both its visible and its query sets.
        let mut next = 0;
        let plan: Vec<QueryGroup> = (0..9)
            .map(|g| {
                let nv = 7 + (g * 11) % 34;
                let nq = 1 + (g * 5) % 23;
                let (x0, t) = (g as f64 * 30.0, (g % 2) as f64);
                let visible = (0..nv)
                    .map(|i| [x0 + (i * 7 % 29) as f64, (i * 13 % 31) as f64, t, 3.5e9, -60.0 - (i % 9) as f64 - 0.1 * x0])
                    .collect();
                let queries: Vec<[f64; 4]> = (0..nq).map(|i| [x0 + 0.5 + i as f64, 15.0, t, 3.5e9]).collect();
                let indices = (next..next + nq).collect();
                next += nq;
                QueryGroup { indices, visible, queries, noise_var: 0.0, kriging: Vec::new() }
            })
            .collect();
        let context = ContextConfig::new().with_query_chunk(9);
        let est = FmRmeEstimator::new(model, cfg, context, d, "fm-rme").unwrap();
        let one = est.clone().with_batch_groups(1).run_plan(&plan, next, &|_, _| {}).unwrap();
        for n in [3, 64] {
            let many = est.clone().with_batch_groups(n).run_plan(&plan, next, &|_, _| {}).unwrap();
            for (what, a, b) in [("mean", &one.mean, &many.mean), ("σ", one.std.as_ref().unwrap(), many.std.as_ref().unwrap())] {
                let worst = a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
                assert!(a.iter().all(|v| v.is_finite()) && worst < 1e-4, "{what}, {n} per pass: differs by {worst}");
            }
        }
        // σ varies (the random head reads every input), so the comparison could fail.
        let s = one.std.unwrap();
        assert!(s.iter().any(|v| (v - s[0]).abs() > 1e-3), "{s:?}");
    }

    /// A long estimate reports its progress, one (slot, band, tile) group at a time, and
    /// gives the same numbers as without a report.
    #[test]
    fn progress_is_reported_per_group() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        // Contexts of 10 of the 30 points: the tiles choose different ones (tiles with the
        // same context would be one group).
        let context = ContextConfig::new().with_max_visible(10);
        let est = FmRmeEstimator::new(cfg.init(&d), cfg, context, d, "fm-rme").unwrap().with_batch_groups(1);
        let obs = MeasurementSet::from_points(
            (0..30)
                .map(|i| Measurement { x_m: i as f64 * 9.0, y_m: (i % 5) as f64 * 40.0, t_s: 0.0, freq_hz: 3.5e9, value: -70.0 - i as f64 })
                .collect(),
        );
        // Queries over a 256 m square: several 64 m tiles.
        let query = QuerySet {
            points: (0..64).map(|i| Query { x_m: (i % 8) as f64 * 32.0, y_m: (i / 8) as f64 * 32.0, t_s: 0.0, freq_hz: 3.5e9 }).collect(),
        };
        let seen = std::cell::RefCell::new(Vec::new());
        let e = est.estimate_with_progress(&obs, &query, &|done, total| seen.borrow_mut().push((done, total))).unwrap();
        let seen = seen.into_inner();
        let total = seen[0].1;
        assert!(total > 1, "{seen:?}");
        assert_eq!(seen, (1..=total).map(|k| (k, total)).collect::<Vec<_>>());
        assert_eq!(e, est.estimate(&obs, &query).unwrap());
    }

    /// Dense measurements: groups are split until every query lies within half its context's
    /// radius of the group's centre; every query is in exactly one group.
    #[test]
    fn dense_measurements_split_groups_until_the_context_surrounds_them() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let est = FmRmeEstimator::new(cfg.init(&d), cfg, ContextConfig::new().with_max_visible(100), d, "fm-rme").unwrap();
        let cell = |i: usize| ((i % 32) as f64 * 2.0 + 1.0, (i / 32) as f64 * 2.0 + 1.0);
        let obs = MeasurementSet::from_points(
            (0..1024).map(|i| Measurement { x_m: cell(i).0, y_m: cell(i).1, t_s: 0.0, freq_hz: 3.5e9, value: -70.0 }).collect(),
        );
        let query =
            QuerySet { points: (0..1024).map(|i| Query { x_m: cell(i).0 + 0.5, y_m: cell(i).1, t_s: 0.0, freq_hz: 3.5e9 }).collect() };
        let groups = est.plan(&obs, &query).unwrap();
        // One 64 m tile would hold all 1024 queries; 100 points reach ~11 m from a centre.
        assert!(groups.len() >= 16, "{} groups", groups.len());
        let mut seen = vec![0; 1024];
        for g in &groups {
            let n = g.queries.len() as f64;
            let (cx, cy) = (g.queries.iter().map(|q| q[0]).sum::<f64>() / n, g.queries.iter().map(|q| q[1]).sum::<f64>() / n);
            let radius = g.visible.iter().map(|v| (v[0] - cx).hypot(v[1] - cy)).fold(0.0, f64::max);
            assert!(g.queries.iter().all(|q| (q[0] - cx).hypot(q[1] - cy) <= 0.5 * radius + 1e-9));
            g.indices.iter().for_each(|&i| seen[i] += 1);
        }
        assert!(seen.iter().all(|&c| c == 1));
        // Sparse measurements: the context is every point, nothing to gain by splitting.
        let sparse = MeasurementSet::from_points(obs.points[..50].to_vec());
        assert_eq!(est.plan(&sparse, &query).unwrap().len(), 1);
    }

    /// Few measurements: every 64 m tile's context is all of them, so the tiles are one group
    /// (one encoding), and each query gets the number it gets when its tile is asked alone.
    #[test]
    fn tiles_with_the_same_context_are_one_group_with_the_same_numbers() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&d).with_random_output_layers(&d);
        let est = FmRmeEstimator::new(model, cfg, ContextConfig::new(), d, "fm-rme").unwrap();
        let obs = MeasurementSet::from_points(
            (0..40)
                .map(|i| Measurement {
                    x_m: (i * 37 % 200) as f64,
                    y_m: (i * 53 % 190) as f64,
                    t_s: 0.0,
                    freq_hz: 3.5e9,
                    value: -60.0 - (i % 11) as f64,
                })
                .collect(),
        );
        let tile = |i: usize| Query {
            x_m: (i % 4) as f64 * 64.0 + 10.0 + (i / 16) as f64,
            y_m: ((i / 4) % 4) as f64 * 64.0 + 20.0,
            t_s: 0.0,
            freq_hz: 3.5e9,
        };
        let query = QuerySet { points: (0..48).map(tile).collect() };
        assert_eq!(est.plan(&obs, &query).unwrap().len(), 1);
        let together = est.estimate(&obs, &query).unwrap().mean;
        for t in 0..16 {
            let alone = QuerySet { points: (0..48).filter(|i| i % 16 == t).map(tile).collect() };
            assert_eq!(est.plan(&obs, &alone).unwrap().len(), 1);
            let mean = est.estimate(&obs, &alone).unwrap().mean;
            for (k, i) in (0..48).filter(|i| i % 16 == t).enumerate() {
                assert!((mean[k] - together[i]).abs() < 1e-4, "query {i}: {} alone, {} together", mean[k], together[i]);
            }
        }
    }

    #[test]
    fn estimates_every_query_in_chunks_and_matches_one_pass() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        // Random output layers: the decoded query tokens reach the output, so a query that
        // saw another query (a broken isolation mask) would change the answer.
        let model = cfg.init(&d).with_random_output_layers(&d);
        let obs = MeasurementSet::from_points(
            (0..30)
                .map(|i| Measurement {
                    x_m: (i * 7 % 50) as f64,
                    y_m: (i * 13 % 40) as f64,
                    t_s: (i % 2) as f64,
                    freq_hz: 3.5e9,
                    value: -70.0 - i as f64 * 0.3,
                })
                .collect(),
        );
        let query = QuerySet { points: (0..40).map(|i| Query { x_m: i as f64, y_m: 10.0, t_s: (i % 2) as f64, freq_hz: 3.5e9 }).collect() };
        let run = |chunk: usize| {
            let context = ContextConfig::new().with_query_chunk(chunk);
            let est = FmRmeEstimator::new(model.clone(), cfg.clone(), context, d.clone(), "fm-rme").unwrap();
            let mean = est.estimate(&obs, &query).unwrap().mean;
            TensorData::new(mean.iter().map(|&v| v as f32).collect(), [mean.len()])
        };
        // Two groups (slots 0 and 1) of 20 queries: chunks of 7, 7 and 6 against one pass.
        let (chunked, whole) = (run(7), run(1000));
        assert_eq!(chunked.num_elements(), 40);
        assert!(chunked.iter::<f32>().all(f32::is_finite));
        chunked.assert_approx_eq::<f32>(&whole, Tolerance::absolute(1e-4));
    }

    /// With a σ head the estimate has a σ at every query, positive and finite, scaled by the
    /// context's calibration factor; the mean is the same as without the head.
    #[test]
    fn a_std_head_gives_a_calibrated_std_and_the_same_mean() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let plain = cfg.init(&d).with_random_output_layers(&d);
        let with_head = plain.clone().with_std_head(&d);
        let obs = MeasurementSet::from_points(
            (0..30)
                .map(|i| Measurement {
                    x_m: (i * 7 % 50) as f64,
                    y_m: (i * 13 % 40) as f64,
                    t_s: 0.0,
                    freq_hz: 3.5e9,
                    value: -70.0 - i as f64,
                })
                .collect(),
        );
        let query = QuerySet { points: (0..20).map(|i| Query { x_m: i as f64 * 2.0, y_m: 10.0, t_s: 0.0, freq_hz: 3.5e9 }).collect() };
        let run = |model: FmRme, calibration: f64| {
            let context = ContextConfig::new().with_std_calibration(calibration);
            FmRmeEstimator::new(model, cfg.clone().with_std_head(true), context, d.clone(), "fm-rme")
                .unwrap()
                .estimate(&obs, &query)
                .unwrap()
        };
        let (a, b) = (run(with_head.clone(), 1.0), run(with_head, 2.0));
        assert_eq!(run(plain, 1.0).std, None);
        let (sa, sb) = (a.std.unwrap(), b.std.unwrap());
        assert!(sa.iter().all(|s| s.is_finite() && *s > 0.0));
        // A fresh head answers σ = the visible set's standard deviation (ln σ = 0).
        let spread = {
            let v: Vec<f64> = obs.points.iter().map(|m| m.value).collect();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
        };
        assert!(sa.iter().all(|s| (s - spread).abs() < 1e-3), "{sa:?} vs {spread}");
        assert!(sa.iter().zip(&sb).all(|(x, y)| (2.0 * x - y).abs() < 1e-9));
        assert_eq!(a.mean, b.mean);
    }

    /// `n` readings of a smooth field plus uniform ±4 dB of white noise (a hash of the index:
    /// a clear nugget) in one slice, and 30 queries on a line across it.
    fn noisy_readings_and_a_query_line(n: usize) -> (MeasurementSet, QuerySet) {
        let obs = MeasurementSet::from_points(
            (0..n)
                .map(|i| {
                    let (x, y) = ((i * 37 % 97) as f64 * 2.0, (i * 53 % 89) as f64 * 2.0);
                    let noise = 8.0 * ((i as f64 * 12.9898).sin() * 43758.5453).rem_euclid(1.0) - 4.0;
                    Measurement { x_m: x, y_m: y, t_s: 0.0, freq_hz: 3.5e9, value: -70.0 - 0.05 * x + noise }
                })
                .collect(),
        );
        let query = QuerySet { points: (0..30).map(|i| Query { x_m: i as f64 * 6.0, y_m: 50.0, t_s: 0.0, freq_hz: 3.5e9 }).collect() };
        (obs, query)
    }

    /// With `measurement_noise`, σ² gains the nugget of the slice's fitted variogram, the
    /// same at every query of the slice; the mean does not change.
    #[test]
    fn measurement_noise_adds_the_slices_nugget_to_the_variance() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny().with_std_head(true);
        let model = cfg.init(&d).with_std_head(&d).with_random_output_layers(&d);
        let (obs, query) = noisy_readings_and_a_query_line(80);
        let run = |noise: bool| {
            let context = ContextConfig::new().with_measurement_noise(noise);
            FmRmeEstimator::new(model.clone(), cfg.clone(), context, d.clone(), "fm-rme").unwrap().estimate(&obs, &query).unwrap()
        };
        let (plain, noisy) = (run(false), run(true));
        assert_eq!(plain.mean, noisy.mean);
        let nugget = slice_nugget(&obs, SliceKey::of(0.0, 3.5e9));
        assert!(nugget > 1.0, "nugget {nugget} dB²");
        for (a, b) in plain.std.unwrap().iter().zip(noisy.std.unwrap()) {
            assert!((b * b - a * a - nugget).abs() < 1e-6 * nugget.max(1.0), "σ {a} → {b}, nugget {nugget}");
        }
    }

    /// With `denoise`, the network sees each reading's denoised value: the estimate is the one
    /// it gives when handed [`denoise_measurements`]'s output without denoising, and not the
    /// one from the raw readings; σ still gains the slice's nugget.
    #[test]
    fn denoise_feeds_the_network_the_denoised_readings() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny().with_std_head(true);
        let model = cfg.init(&d).with_std_head(&d).with_random_output_layers(&d);
        let (obs, query) = noisy_readings_and_a_query_line(300);
        let run = |denoise: bool, obs: &MeasurementSet| {
            let context = ContextConfig::new().with_measurement_noise(true).with_denoise(denoise);
            FmRmeEstimator::new(model.clone(), cfg.clone(), context, d.clone(), "fm-rme").unwrap().estimate(obs, &query).unwrap()
        };
        let (denoised_obs, _) = denoise_measurements(&obs).unwrap();
        assert_ne!(denoised_obs.points, obs.points, "the readings are noisy: something is removed");
        let (raw, denoised, by_hand) = (run(false, &obs), run(true, &obs), run(false, &denoised_obs));
        for (a, b) in denoised.mean.iter().zip(&by_hand.mean) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert!(raw.mean.iter().zip(&denoised.mean).any(|(a, b)| (a - b).abs() > 1e-3));
        // σ adds the slice's nugget where noise was found: the truths predicted carry it too.
        let found = denoise_measurements(&obs).unwrap().1[&SliceKey::of(0.0, 3.5e9)];
        assert!(found.removed > 1.0, "{found:?}");
        let removed = found.nugget;
        let quiet = FmRmeEstimator::new(model.clone(), cfg.clone(), ContextConfig::new().with_denoise(true), d.clone(), "fm-rme").unwrap();
        let quiet = quiet.estimate(&obs, &query).unwrap();
        assert_eq!(quiet.mean, denoised.mean);
        for (a, b) in quiet.std.unwrap().iter().zip(denoised.std.unwrap()) {
            assert!((b * b - a * a - removed).abs() < 1e-6 * removed, "σ {a} → {b}, nugget {removed}");
        }
    }
}
