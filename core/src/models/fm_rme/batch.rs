//! FM-RME's data side, on the host: examples (visible set, queries, targets), the model's
//! coordinate frame, per-set power standardisation, the k-NN graph of GAFE and padded
//! batches as tensors; training examples cut from simulated maps by a mask split.

use super::candidate::kriging_at;
use super::config::FmRmeConfig;
use super::context::{ContextRule, QueryNeighbourhoods};
use super::noise::denoise_measurements;
use crate::error::RmeError;
use crate::map::{Measurement, MeasurementSet, RadioMap};
use crate::mask::Split;
use crate::nn::egnn::Graph;
use crate::nn::neighbour_interp::Neighbourhood;
use crate::rank;
use crate::rng::Rng;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

type RmeResult<T> = crate::error::Result<T>;

/// Depths of the fading dips of [`Example::add_fading_dips`] (dB, uniform): the 6 dB that
/// separates a dip from ordinary scatter in `real-dev`'s USRP files to about their 1 %
/// quantile below the local median (16 dB) and a little past it.
pub const FADING_DIP_DB: (f64, f64) = (6.0, 18.0);

/// The distribution of the measurement noise added to training readings
/// ([`Example::add_measurement_noise`]), of unit variance before its scale.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum NoiseShape {
    /// Normal.
    #[default]
    Gaussian,
    /// Student's t with this many degrees of freedom (at least 3): the same variance, rarer
    /// but larger errors. Why: repeated readings at one position of the USRP files in
    /// `real-dev` differ with a kurtosis of about 5 (a normal's is 3; ν = 7 gives 5): fading
    /// dips and peaks that a model trained on Gaussian noise reads as a shadow or a hot spot.
    StudentT(u32),
}

impl NoiseShape {
    /// The shape for a number of degrees of freedom, 0 meaning Gaussian.
    pub fn from_dof(dof: u32) -> Self {
        if dof == 0 { Self::Gaussian } else { Self::StudentT(dof) }
    }

    /// One unit-variance draw.
    pub fn draw(self, rng: &mut Rng) -> f64 {
        match self {
            Self::Gaussian => rng.normal(),
            Self::StudentT(dof) => rng.student_t_unit(dof),
        }
    }
}

/// A padded batch of (visible set, query set) pairs, in model units.
#[derive(Clone, Debug)]
pub struct FmRmeBatch {
    /// `[B, Nv, 3]`: standardised power, f̃, t̃.
    pub features: Tensor<3>,
    /// `[B, Nv, 2]`: centred, scaled positions.
    pub positions: Tensor<3>,
    /// `[B, Nv, 4]` and `[B, Nq, 4]`: (x, y, t, f) for STS-PE.
    pub visible_coords: Tensor<3>,
    /// `[B, Nq, 4]`: the queries' (x, y, t, f) for STS-PE.
    pub query_coords: Tensor<3>,
    /// `[B, Nv]`: true at padding.
    pub visible_pad: Tensor<2, Bool>,
    /// Whether any visible token is padding (some example has fewer than `Nv`), known on the
    /// host: without padding the decoder skips its mask.
    pub visible_padded: bool,
    /// `[B, Nq]`: true at padding.
    pub query_pad: Tensor<2, Bool>,
    /// GAFE's k-NN graph over the visible points.
    pub graph: Graph,
    /// `[B, Nq]` standardised true power (0 at padding, and everywhere at inference).
    pub targets: Tensor<2>,
    /// `[B, Nq]` the local interpolation baseline at each query (standardised; see
    /// [`super::context::local_baseline`]).
    pub baseline: Tensor<2>,
    /// Each query's `NEIGHBOURS` nearest visible points (by context score) for the learned
    /// interpolation ([`QueryNeighbourhoods`]).
    pub neighbourhood: Neighbourhood,
    /// Per example: (mean, standard deviation) of the visible power, dB — prediction × std +
    /// mean is the estimate in the data's unit.
    pub scales: Vec<(f64, f64)>,
}

/// One example before batching: visible `(x, y, t, f, power_dbm)`, query `(x, y, t, f)` and,
/// for training, the true power at each query (empty at inference).
#[derive(Clone, Debug, Default)]
pub struct Example {
    /// Visible `(x, y, t, f, power)`.
    pub visible: Vec<[f64; 5]>,
    /// Query `(x, y, t, f)`.
    pub queries: Vec<[f64; 4]>,
    /// True power at each query (training; empty at inference).
    pub targets: Vec<f64>,
    /// Kriging's `[mean, σ]` (dB) at each query, for a model with a kriging candidate
    /// ([`super::kriging_at`], NaN where there is none); empty otherwise.
    pub kriging: Vec<[f64; 2]>,
}

impl Example {
    /// Adds i.i.d. measurement noise of `shape` to the visible readings, of a standard
    /// deviation `share` × their spread, and leaves the targets clean: a receiver's noise and
    /// small-scale fading make real campaigns read values several dB apart at one place
    /// (`real-dev`'s USRP files: about 4 dB, some half of their spread), which the noise-free
    /// simulator never shows, so a model trained only on it interpolates the noise. With
    /// clean targets the model learns to average it out. Returns the standard deviation added.
    pub fn add_measurement_noise(&mut self, share: f64, shape: NoiseShape, rng: &mut Rng) -> f64 {
        if self.visible.is_empty() || share <= 0.0 {
            return 0.0;
        }
        let sd = share * power_mean_and_spread(&self.visible).1;
        for v in &mut self.visible {
            v[4] += sd * shape.draw(rng);
        }
        sd
    }

    /// Fills [`Example::kriging`] from the example's readings as they are now (call it before
    /// any denoising: the estimator's candidate sees the readings as measured) where `cfg`
    /// has a kriging candidate; leaves it empty otherwise.
    pub fn derive_kriging_candidate(&mut self, cfg: &FmRmeConfig) {
        self.kriging = if cfg.kriging_candidate { kriging_at(&self.visible, &self.queries) } else { Vec::new() };
    }

    /// Replaces the visible readings by what the estimator's denoiser makes of them
    /// ([`denoise_measurements`], the rule of [`super::ContextConfig::denoise`]), slice by
    /// slice: a model that is used on denoised readings is trained on them too. Noise-free
    /// readings mostly pass through; of noisy ones the denoiser removes only what its checks
    /// call noise, so the network still sees the rest and learns to average it out.
    pub fn denoise_visible(&mut self) -> RmeResult<()> {
        let points = self.visible.iter().map(|v| Measurement { x_m: v[0], y_m: v[1], t_s: v[2], freq_hz: v[3], value: v[4] }).collect();
        let (denoised, _) = denoise_measurements(&MeasurementSet::from_points(points))?;
        for (v, m) in self.visible.iter_mut().zip(&denoised.points) {
            v[4] = m.value;
        }
        Ok(())
    }

    /// Deep fading dips: each visible reading drops, with probability `share`, by a depth
    /// drawn uniformly in [`FADING_DIP_DB`]; each target moves by the dips' expectation,
    /// `−share · mean depth`. Why: in `real-dev`'s USRP files most readings sit within a dB
    /// or two of their neighbours, but about one in seven lies 6 dB or more *below* the local
    /// median (one in fifty above), and a held-out truth is the mean of one or two such
    /// readings. Symmetric noise teaches neither the one-sided outliers nor that the truth,
    /// dips included, sits below the dip-free level; a predictor of the truth must learn both
    /// (the expectation, not a drawn dip, keeps the targets free of extra variance).
    /// Returns the target shift (dB, ≤ 0).
    pub fn add_fading_dips(&mut self, share: f64, rng: &mut Rng) -> f64 {
        if share <= 0.0 {
            return 0.0;
        }
        let (lo, hi) = FADING_DIP_DB;
        for v in &mut self.visible {
            if rng.bernoulli(share) {
                v[4] -= rng.range(lo, hi);
            }
        }
        let shift = -share * 0.5 * (lo + hi);
        for t in &mut self.targets {
            *t += shift;
        }
        shift
    }

    /// Adds i.i.d. Gaussian noise of standard deviation `sd` to the targets, so that they
    /// are readings as the visible ones are: what a σ head trained on them predicts is the
    /// error against a new *reading*, the receiver's noise included, which it can tell from
    /// the roughness of the visible readings (and which is zero on noise-free data).
    pub fn add_target_noise(&mut self, sd: f64, rng: &mut Rng) {
        if sd > 0.0 {
            for t in &mut self.targets {
                *t += sd * rng.normal();
            }
        }
    }
}

/// The model's coordinate frame for one visible set: positions relative to its centroid in
/// units of `length_scale_m`, time in `time_scale_s`, frequency centred and scaled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelFrame {
    /// Centroid of the visible set: x…
    pub cx: f64,
    /// …and y, metres.
    pub cy: f64,
}

impl ModelFrame {
    /// The frame of a visible set (centred on its centroid).
    pub fn of(visible: &[[f64; 5]]) -> Self {
        let n = visible.len().max(1) as f64;
        Self { cx: visible.iter().map(|v| v[0]).sum::<f64>() / n, cy: visible.iter().map(|v| v[1]).sum::<f64>() / n }
    }
    /// A position in model units.
    pub fn xy(&self, cfg: &FmRmeConfig, x: f64, y: f64) -> [f32; 2] {
        [((x - self.cx) / cfg.length_scale_m) as f32, ((y - self.cy) / cfg.length_scale_m) as f32]
    }
    /// A time in model units.
    pub fn time(cfg: &FmRmeConfig, t: f64) -> f32 {
        (t / cfg.time_scale_s) as f32
    }
    /// Unknown frequency (single-band data) maps to the centre.
    pub fn freq(cfg: &FmRmeConfig, f: f64) -> f32 {
        if f.is_finite() { ((f - cfg.freq_center_hz) / cfg.freq_scale_hz) as f32 } else { 0.0 }
    }
}

impl FmRmeBatch {
    /// Pads and converts examples; computes the k-NN graph of each visible set on the CPU.
    pub fn new(examples: &[Example], cfg: &FmRmeConfig, rule: &ContextRule, device: &Device) -> RmeResult<Self> {
        check_examples(examples)?;
        let visible = VisibleTensors::new(examples, cfg, device)?;
        QueryTensors::new(examples, cfg, rule, device)?.with(visible)
    }

    /// The batch of `examples`, whose visible sets must be this batch's, example by example
    /// (more queries of the same contexts): the visible tensors and GAFE's graph are shared,
    /// only the queries' part is built. The estimator's later chunks of a group take this way,
    /// as the encoder's output is reused for them anyway.
    pub(crate) fn with_queries_of(&self, examples: &[Example], cfg: &FmRmeConfig, rule: &ContextRule, device: &Device) -> RmeResult<Self> {
        check_examples(examples)?;
        let [b, nv, _] = self.features.dims();
        let nv_new = examples.iter().map(|e| e.visible.len()).max().unwrap_or(0);
        if examples.len() != b || nv_new != nv {
            return Err(RmeError::invalid(
                "FM-RME batch",
                format!("{} examples of up to {nv_new} visible points reuse a batch of {b} × {nv}", examples.len()),
            ));
        }
        let visible = VisibleTensors {
            features: self.features.clone(),
            positions: self.positions.clone(),
            visible_coords: self.visible_coords.clone(),
            visible_pad: self.visible_pad.clone(),
            visible_padded: self.visible_padded,
            graph: self.graph.clone(),
        };
        QueryTensors::new(examples, cfg, rule, device)?.with(visible)
    }
}

fn check_examples(examples: &[Example]) -> RmeResult<()> {
    if examples.is_empty() {
        return Err(RmeError::Empty("FM-RME batch".into()));
    }
    if let Some(i) = examples.iter().position(|e| e.visible.is_empty() || e.queries.is_empty()) {
        return Err(RmeError::Empty(format!("visible or query set of example {i}")));
    }
    Ok(())
}

/// The visible half of a batch: what the encoder reads.
struct VisibleTensors {
    features: Tensor<3>,
    positions: Tensor<3>,
    visible_coords: Tensor<3>,
    visible_pad: Tensor<2, Bool>,
    visible_padded: bool,
    graph: Graph,
}

impl VisibleTensors {
    fn new(examples: &[Example], cfg: &FmRmeConfig, device: &Device) -> RmeResult<Self> {
        let b = examples.len();
        let nv = examples.iter().map(|e| e.visible.len()).max().unwrap_or(0);
        let k = cfg.k_neighbours;
        let mut features = vec![0f32; b * nv * 3];
        let mut positions = vec![0f32; b * nv * 2];
        let mut vcoords = vec![0f32; b * nv * 4];
        let mut vpad = vec![true; b * nv];
        let mut neighbours = vec![0i64; b * nv * k];
        let mut edge_attr = vec![0f32; b * nv * k * 2];
        let mut edge_mask = vec![0f32; b * nv * k];
        let t_of = |t: f64| ModelFrame::time(cfg, t);
        let f_of = |f: f64| ModelFrame::freq(cfg, f);
        for (bi, e) in examples.iter().enumerate() {
            let frame = ModelFrame::of(&e.visible);
            let (mean, std) = power_scale(&e.visible, cfg);
            for (i, v) in e.visible.iter().enumerate() {
                if !v.iter().enumerate().all(|(c, x)| x.is_finite() || c == 3) {
                    return Err(RmeError::invalid("FM-RME input", format!("visible point {i} of example {bi} is not finite")));
                }
                let o = bi * nv + i;
                let p = frame.xy(cfg, v[0], v[1]);
                let (t, f) = (t_of(v[2]), f_of(v[3]));
                features[o * 3..o * 3 + 3].copy_from_slice(&[((v[4] - mean) / std) as f32, f, t]);
                positions[o * 2..o * 2 + 2].copy_from_slice(&p);
                vcoords[o * 4..o * 4 + 4].copy_from_slice(&[p[0], p[1], t, f]);
                vpad[o] = false;
            }
            // k-NN in space among the real nodes; missing slots point at the node itself, masked.
            let m = e.visible.len();
            for i in 0..nv {
                let o = bi * nv + i;
                let near = if i < m {
                    let dist2 = |j: usize| (e.visible[i][0] - e.visible[j][0]).powi(2) + (e.visible[i][1] - e.visible[j][1]).powi(2);
                    rank::lowest((0..m).filter(|&j| j != i).map(|j| (dist2(j), j)).collect(), k)
                } else {
                    Vec::new()
                };
                for s in 0..k {
                    let slot = o * k + s;
                    match near.get(s) {
                        Some(&(_, j)) => {
                            neighbours[slot] = (bi * nv + j) as i64;
                            edge_mask[slot] = 1.0;
                            edge_attr[slot * 2] = (t_of(e.visible[i][2]) - t_of(e.visible[j][2])).abs();
                            edge_attr[slot * 2 + 1] = (f_of(e.visible[i][3]) - f_of(e.visible[j][3])).abs();
                        }
                        None => neighbours[slot] = o as i64,
                    }
                }
            }
        }
        let f3 = |v: Vec<f32>, c: usize| Tensor::<3>::from_data(TensorData::new(v, [b, nv, c]), device);
        Ok(Self {
            features: f3(features, 3),
            positions: f3(positions, 2),
            visible_coords: f3(vcoords, 4),
            visible_pad: Tensor::<2, Bool>::from_data(TensorData::new(vpad, [b, nv]), device),
            visible_padded: examples.iter().any(|e| e.visible.len() < nv),
            graph: Graph {
                neighbours: Tensor::<1, Int>::from_data(TensorData::new(neighbours, [b * nv * k]), device),
                edge_attr: Tensor::<4>::from_data(TensorData::new(edge_attr, [b, nv, k, 2]), device),
                edge_mask: Tensor::<4>::from_data(TensorData::new(edge_mask, [b, nv, k, 1]), device),
                k,
            },
        })
    }
}

/// The query half of a batch: what the decoder reads besides the encoded visible tokens,
/// and the per-example power scales.
struct QueryTensors {
    query_coords: Tensor<3>,
    query_pad: Tensor<2, Bool>,
    targets: Tensor<2>,
    baseline: Tensor<2>,
    neighbourhood: Neighbourhood,
    scales: Vec<(f64, f64)>,
}

impl QueryTensors {
    fn new(examples: &[Example], cfg: &FmRmeConfig, rule: &ContextRule, device: &Device) -> RmeResult<Self> {
        let b = examples.len();
        let nq = examples.iter().map(|e| e.queries.len()).max().unwrap_or(0);
        let mut qcoords = vec![0f32; b * nq * 4];
        let mut qpad = vec![true; b * nq];
        let mut targets = vec![0f32; b * nq];
        let mut hoods = Vec::with_capacity(b);
        let mut scales = Vec::with_capacity(b);
        for (bi, e) in examples.iter().enumerate() {
            let frame = ModelFrame::of(&e.visible);
            let (mean, std) = power_scale(&e.visible, cfg);
            scales.push((mean, std));
            for (i, q) in e.queries.iter().enumerate() {
                if !(q[0].is_finite() && q[1].is_finite() && q[2].is_finite()) {
                    return Err(RmeError::invalid("FM-RME input", format!("query {i} of example {bi} is not finite")));
                }
                let o = bi * nq + i;
                let p = frame.xy(cfg, q[0], q[1]);
                qcoords[o * 4..o * 4 + 4].copy_from_slice(&[p[0], p[1], ModelFrame::time(cfg, q[2]), ModelFrame::freq(cfg, q[3])]);
                qpad[o] = false;
                if let Some(&v) = e.targets.get(i) {
                    if !v.is_finite() {
                        return Err(RmeError::invalid("FM-RME input", format!("target {i} of example {bi} is not finite")));
                    }
                    targets[o] = ((v - mean) / std) as f32;
                }
            }
            let candidate = cfg.kriging_candidate.then_some(e.kriging.as_slice());
            hoods.push(QueryNeighbourhoods::of(&e.visible, &e.queries, mean, std, rule, candidate));
        }
        let (baseline, neighbourhood) = QueryNeighbourhoods::to_tensors(&hoods, nq, device);
        Ok(Self {
            query_coords: Tensor::<3>::from_data(TensorData::new(qcoords, [b, nq, 4]), device),
            query_pad: Tensor::<2, Bool>::from_data(TensorData::new(qpad, [b, nq]), device),
            targets: Tensor::<2>::from_data(TensorData::new(targets, [b, nq]), device),
            baseline,
            neighbourhood,
            scales,
        })
    }

    fn with(self, visible: VisibleTensors) -> RmeResult<FmRmeBatch> {
        Ok(FmRmeBatch {
            features: visible.features,
            positions: visible.positions,
            visible_coords: visible.visible_coords,
            visible_pad: visible.visible_pad,
            visible_padded: visible.visible_padded,
            graph: visible.graph,
            query_coords: self.query_coords,
            query_pad: self.query_pad,
            targets: self.targets,
            baseline: self.baseline,
            neighbourhood: self.neighbourhood,
            scales: self.scales,
        })
    }
}

/// Mean and standard deviation (floored at `min_power_std_db`) of the visible power.
pub fn power_scale(visible: &[[f64; 5]], cfg: &FmRmeConfig) -> (f64, f64) {
    let (mean, spread) = power_mean_and_spread(visible);
    (mean, spread.max(cfg.min_power_std_db))
}

/// Mean and (population) standard deviation of the visible power; (0, 0) for no points.
fn power_mean_and_spread(visible: &[[f64; 5]]) -> (f64, f64) {
    let n = visible.len().max(1) as f64;
    let mean = visible.iter().map(|v| v[4]).sum::<f64>() / n;
    let var = visible.iter().map(|v| (v[4] - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
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
    rule: &ContextRule,
) -> Option<Example> {
    if split.hidden.is_empty() || split.visible.is_empty() {
        return None;
    }
    let n = map.grid.len();
    let centre_voxel = split.hidden[rng.below(split.hidden.len())];
    let slice = centre_voxel / n;
    let c = map.voxel_point(centre_voxel);
    let centre = [c.x_m, c.y_m, c.t_s, c.freq_hz];
    let in_slice: Vec<(f64, usize)> = split
        .hidden
        .iter()
        .copied()
        .filter(|v| v / n == slice)
        .map(|v| {
            let q = map.voxel_point(v);
            ((q.x_m - c.x_m).powi(2) + (q.y_m - c.y_m).powi(2), v)
        })
        .collect();
    let nearest = rank::lowest(in_slice, max_queries);
    let visible: Vec<[f64; 5]> = split
        .visible
        .iter()
        .map(|&v| {
            let q = map.voxel_point(v);
            [q.x_m, q.y_m, q.t_s, q.freq_hz, map.values[v] as f64]
        })
        .collect();
    let ctx = rule.select(&visible, &centre, max_visible);
    Some(Example {
        visible: ctx.iter().map(|&i| visible[i]).collect(),
        queries: nearest
            .iter()
            .map(|&(_, v)| {
                let q = map.voxel_point(v);
                [q.x_m, q.y_m, q.t_s, q.freq_hz]
            })
            .collect(),
        targets: nearest.iter().map(|&(_, v)| map.values[v] as f64).collect(),
        // Filled by the trainer where the model has a kriging candidate, after any noise is
        // added to the readings (the candidate sees them as measured).
        kriging: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::MaskStrategy;
    use crate::models::fm_rme::ContextConfig;
    use crate::sim::{DynamicPreset, DynamicSimulator};

    #[test]
    fn training_examples_respect_the_split() {
        let rule = ContextRule::new(&FmRmeConfig::tiny(), &ContextConfig::new());
        let map = DynamicSimulator::new(DynamicPreset::by_name("D1").unwrap()).unwrap().simulate(1).unwrap();
        let split = MaskStrategy::Temporal { cutoff_slot: 4, visible_ratio: 0.1 }.split(&map, 2).unwrap();
        let mut rng = Rng::new(3);
        let e = training_example(&map, &split, &mut rng, 200, 50, &rule).unwrap();
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

    /// Dips: about `share` of the readings drop, each by 6–18 dB, none rises; the targets move
    /// by exactly `−share · 12` dB; share 0 changes nothing.
    #[test]
    fn fading_dips_drop_a_share_of_the_readings_and_shift_the_targets() {
        let visible: Vec<[f64; 5]> = (0..20_000).map(|i| [i as f64, 0.0, 0.0, 3e9, -70.0]).collect();
        let clean = Example { visible, queries: vec![[0.5, 0.0, 0.0, 3e9]; 2], targets: vec![-70.0, -60.0], kriging: vec![] };
        let mut dipped = clean.clone();
        let shift = dipped.add_fading_dips(0.2, &mut Rng::new(5));
        assert!((shift + 2.4).abs() < 1e-12, "{shift}");
        assert_eq!(dipped.targets, vec![-72.4, -62.4]);
        let drops: Vec<f64> = dipped.visible.iter().map(|v| -70.0 - v[4]).filter(|&d| d != 0.0).collect();
        let share = drops.len() as f64 / 20_000.0;
        assert!((share - 0.2).abs() < 0.01, "dipped share {share}");
        assert!(drops.iter().all(|&d| (6.0..18.0).contains(&d)), "a drop outside 6–18 dB");
        let mean = drops.iter().sum::<f64>() / drops.len() as f64;
        assert!((mean - 12.0).abs() < 0.2, "mean depth {mean}");
        let mut same = clean.clone();
        assert_eq!(same.add_fading_dips(0.0, &mut Rng::new(5)), 0.0);
        assert_eq!((same.visible, same.targets), (clean.visible, clean.targets));
    }

    #[test]
    fn measurement_noise_is_on_the_readings_only_and_of_the_asked_spread() {
        // Readings alternate −60/−80 dB: spread 10 dB, so share 0.5 adds noise of sd 5 dB.
        let visible: Vec<[f64; 5]> = (0..4000).map(|i| [i as f64, 0.0, 0.0, 3e9, if i % 2 == 0 { -60.0 } else { -80.0 }]).collect();
        let clean = Example { visible, queries: vec![[0.5, 0.0, 0.0, 3e9]], targets: vec![-70.0], kriging: vec![] };
        let mut noisy = clean.clone();
        let sd = noisy.add_measurement_noise(0.5, NoiseShape::Gaussian, &mut Rng::new(4));
        assert!((sd - 5.0).abs() < 1e-9, "{sd}");
        let diffs: Vec<f64> = noisy.visible.iter().zip(&clean.visible).map(|(a, b)| a[4] - b[4]).collect();
        let rms = (diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64).sqrt();
        assert!((rms - 5.0).abs() < 0.25, "added noise RMS {rms}");
        assert!(noisy.visible.iter().zip(&clean.visible).all(|(a, b)| a[..4] == b[..4]), "positions moved");
        assert_eq!((noisy.queries.clone(), noisy.targets.clone()), (clean.queries.clone(), clean.targets.clone()));
        let mut same = clean.clone();
        assert_eq!(same.add_measurement_noise(0.0, NoiseShape::StudentT(5), &mut Rng::new(4)), 0.0);
        same.add_target_noise(0.0, &mut Rng::new(4));
        assert_eq!((same.visible.clone(), same.targets.clone()), (clean.visible.clone(), clean.targets.clone()));
        // Noisy targets: 2000 of them at sd 3, about 3 dB RMS from the clean ones.
        let mut readings = Example { targets: vec![-70.0; 2000], ..clean.clone() };
        readings.add_target_noise(3.0, &mut Rng::new(6));
        let rms = (readings.targets.iter().map(|t| (t + 70.0).powi(2)).sum::<f64>() / 2000.0).sqrt();
        assert!((rms - 3.0).abs() < 0.2, "target noise RMS {rms}");
    }

    /// The examples' denoiser is the estimator's: the same values as [`denoise_measurements`]
    /// over the readings of both slices, positions, queries and targets untouched.
    #[test]
    fn denoising_an_example_is_the_estimators_denoising_of_its_readings() {
        let field = |x: f64, y: f64| -70.0 + 6.0 * (x / 15.0).sin() * (y / 20.0).cos();
        let mut rng = Rng::new(8);
        let visible: Vec<[f64; 5]> = (0..600)
            .map(|i| {
                let (x, y, t) = (rng.range(0.0, 120.0), rng.range(0.0, 120.0), (i % 2) as f64);
                [x, y, t, 3.5e9, field(x, y) + 10.0 * t + 3.0 * rng.normal()]
            })
            .collect();
        let raw = Example { visible, queries: vec![[1.0, 2.0, 0.0, 3.5e9]], targets: vec![-70.0], kriging: vec![] };
        let mut denoised = raw.clone();
        denoised.denoise_visible().unwrap();
        let points = raw.visible.iter().map(|v| Measurement { x_m: v[0], y_m: v[1], t_s: v[2], freq_hz: v[3], value: v[4] }).collect();
        let (expected, found) = denoise_measurements(&MeasurementSet::from_points(points)).unwrap();
        assert!(found.len() == 2 && found.values().all(|f| f.removed > 0.0), "{found:?}");
        for ((a, b), m) in denoised.visible.iter().zip(&raw.visible).zip(&expected.points) {
            assert_eq!(a[..4], b[..4]);
            assert_eq!(a[4], m.value);
        }
        assert!(denoised.visible.iter().zip(&raw.visible).any(|(a, b)| (a[4] - b[4]).abs() > 0.5), "nothing removed");
        let err = |e: &Example| e.visible.iter().map(|v| (v[4] - field(v[0], v[1]) - 10.0 * v[2]).powi(2)).sum::<f64>();
        assert!(err(&denoised) < 0.7 * err(&raw), "closer to the field: {} vs {}", err(&denoised), err(&raw));
        assert_eq!((denoised.queries, denoised.targets), (raw.queries, raw.targets));
    }

    /// More queries of the same contexts: the visible half is reused, the rest is what a new
    /// batch would hold; other contexts are refused.
    #[test]
    fn a_batch_for_more_queries_of_the_same_contexts_equals_a_new_one() {
        let d = crate::backend::cpu();
        let cfg = FmRmeConfig::tiny();
        let rule = ContextRule::new(&cfg, &ContextConfig::new());
        let mut rng = Rng::new(5);
        let visible: Vec<[f64; 5]> =
            (0..30).map(|_| [rng.range(0.0, 100.0), rng.range(0.0, 100.0), 0.0, 3.5e9, rng.range(-90.0, -50.0)]).collect();
        let queries =
            |rng: &mut Rng, n: usize| (0..n).map(|_| [rng.range(0.0, 100.0), rng.range(0.0, 100.0), 0.0, 3.5e9]).collect::<Vec<_>>();
        let first = [Example { visible: visible.clone(), queries: queries(&mut rng, 7), targets: vec![], kriging: vec![] }];
        let second = [Example { visible: visible.clone(), queries: queries(&mut rng, 5), targets: vec![], kriging: vec![] }];
        let a = FmRmeBatch::new(&first, &cfg, &rule, &d).unwrap();
        let reused = a.with_queries_of(&second, &cfg, &rule, &d).unwrap();
        let fresh = FmRmeBatch::new(&second, &cfg, &rule, &d).unwrap();
        let same3 = |x: &Tensor<3>, y: &Tensor<3>| x.clone().into_data().assert_eq(&y.clone().into_data(), true);
        same3(&reused.features, &fresh.features);
        same3(&reused.positions, &fresh.positions);
        same3(&reused.visible_coords, &fresh.visible_coords);
        same3(&reused.query_coords, &fresh.query_coords);
        same3(&reused.neighbourhood.values, &fresh.neighbourhood.values);
        reused.baseline.clone().into_data().assert_eq(&fresh.baseline.clone().into_data(), true);
        reused.graph.neighbours.clone().into_data().assert_eq(&fresh.graph.neighbours.clone().into_data(), true);
        reused.graph.edge_attr.clone().into_data().assert_eq(&fresh.graph.edge_attr.clone().into_data(), true);
        reused.neighbourhood.features.clone().into_data().assert_eq(&fresh.neighbourhood.features.clone().into_data(), true);
        assert_eq!(reused.scales, fresh.scales);
        let other = [Example { visible: visible[..20].to_vec(), queries: queries(&mut rng, 3), targets: vec![], kriging: vec![] }];
        assert!(a.with_queries_of(&other, &cfg, &rule, &d).is_err());
        assert!(a.with_queries_of(&[first[0].clone(), second[0].clone()], &cfg, &rule, &d).is_err());
    }

    #[test]
    fn bad_input_is_an_error() {
        let d = crate::backend::cpu();
        let cfg = FmRmeConfig::tiny();
        let rule = ContextRule::new(&cfg, &ContextConfig::new());
        assert!(FmRmeBatch::new(&[], &cfg, &rule, &d).is_err());
        let empty = Example { visible: vec![], queries: vec![[0.0; 4]], targets: vec![], kriging: vec![] };
        assert!(FmRmeBatch::new(&[empty], &cfg, &rule, &d).is_err());
        let nan = Example { visible: vec![[f64::NAN, 0.0, 0.0, 3e9, -50.0]], queries: vec![[0.0; 4]], targets: vec![], kriging: vec![] };
        assert!(FmRmeBatch::new(&[nan], &cfg, &rule, &d).is_err());
    }
}
