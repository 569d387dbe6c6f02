//! FM-RME: the radio-map foundation model (fm-rme.txt §III; MODELS.md §2.1).
//!
//! Visible measurements are graph nodes: GAFE (equivariant message passing over their k
//! nearest spatial neighbours) turns `[power, f̃, t̃]` into geometry-aware tokens; STS-PE adds
//! their continuous position, slot and band; a pre-norm transformer encoder mixes them. The
//! decoder sees the encoded visible tokens plus one shared learnable mask token at every
//! query (with the query's STS-PE and an embedding of a local interpolation baseline,
//! [`local_baseline`]). The output at a query is a learned weighted mean of its nearest
//! visible measurements ([`NeighbourInterpolation`], weights conditioned on the decoded query
//! token) plus a linear head's residual on that token. Query tokens attend to the visible
//! tokens and to themselves only ([`query_isolation_mask`]), so the estimator can decode them in chunks of `query_chunk`,
//! each with all visible tokens, and get the same answer as in one pass — full maps have up
//! to 10⁵ voxels; training uses sampled token sets.
//!
//! Coordinates are centred on the centroid of the visible measurements before encoding, so
//! the model's output does not depend on where the local frame's origin is. Power is
//! standardised per set — by the mean and standard deviation of the visible values — and the
//! prediction is mapped back with the same two numbers: the model learns the shape of a
//! radio map, not a dataset's absolute level, so it can be used zero-shot on data of another
//! level or quantity (path gain in dB, uncalibrated receivers). (MODELS.md suggests dataset
//! statistics; per-set statistics need no dataset at inference, which zero-shot use lacks.)

use crate::error::RmeError;
// `Result` stays the standard one here: burn's `Config` derive expands to code that names it.
type RmeResult<T> = crate::error::Result<T>;
use super::fm_rme_context::{context_score, select_context};
use crate::nn::egnn::{Gafe, GafeConfig, Graph};
use crate::nn::neighbour_interp::{NeighbourInterpolation, NeighbourInterpolationConfig, Neighbourhood};
use crate::nn::pos_enc::{StsPositionalEncoding, StsPositionalEncodingConfig};
use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

/// Configuration of [`FmRme`]. Presets: [`FmRmeConfig::tiny`], [`FmRmeConfig::small`],
/// [`FmRmeConfig::base`].
#[derive(Config, Debug, PartialEq)]
pub struct FmRmeConfig {
    /// Token width (a multiple of 8 and of `n_heads`).
    #[config(default = 64)]
    pub d_model: usize,
    #[config(default = 4)]
    pub n_heads: usize,
    #[config(default = 128)]
    pub d_ff: usize,
    #[config(default = 2)]
    pub gafe_layers: usize,
    #[config(default = 3)]
    pub encoder_layers: usize,
    #[config(default = 2)]
    pub decoder_layers: usize,
    /// Spatial neighbours per node in the GAFE graph.
    #[config(default = 12)]
    pub k_neighbours: usize,
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Metres per model length unit.
    #[config(default = 64.0)]
    pub length_scale_m: f64,
    /// Seconds per model time unit.
    #[config(default = 30.0)]
    pub time_scale_s: f64,
    /// Centre and scale of the frequency axis, Hz.
    #[config(default = 4.2e9)]
    pub freq_center_hz: f64,
    #[config(default = 1.0e9)]
    pub freq_scale_hz: f64,
    /// Floor of the per-set power standard deviation used for standardisation, dB (a context
    /// that is all noise floor would otherwise blow small errors up).
    #[config(default = 3.0)]
    pub min_power_std_db: f64,
    /// Queries decoded together at inference.
    #[config(default = 1024)]
    pub query_chunk: usize,
    /// Visible tokens per context at most (see `fm_rme_context`).
    #[config(default = 384)]
    pub max_visible: usize,
    /// Context score weight of slice distance against spatial distance (both in model units).
    /// 32 (was 8): on validation seeds, inverse-distance weighting over the 16 lowest-score
    /// points gave 1.68 dB at 10 % spatial with 8 and 1.54 dB with 32 — with 8, D1's 1-s
    /// slots let neighbouring slots (where transmitters have moved) crowd out the query's own.
    #[config(default = 32.0)]
    pub slice_weight: f64,
    /// Side of the spatial tiles queries are grouped in at inference, metres.
    #[config(default = 64.0)]
    pub tile_m: f64,
}

impl FmRmeConfig {
    /// For tests: a few thousand parameters.
    pub fn tiny() -> Self {
        Self::new()
            .with_d_model(16)
            .with_n_heads(2)
            .with_d_ff(32)
            .with_gafe_layers(1)
            .with_encoder_layers(1)
            .with_decoder_layers(1)
            .with_k_neighbours(4)
    }
    /// CPU-trainable; the browser default.
    pub fn small() -> Self {
        Self::new()
    }
    /// GPU-sized.
    pub fn base() -> Self {
        Self::new()
            .with_d_model(192)
            .with_n_heads(6)
            .with_d_ff(768)
            .with_gafe_layers(3)
            .with_encoder_layers(6)
            .with_decoder_layers(4)
            .with_k_neighbours(16)
    }
    /// By name: "tiny", "small", "base".
    pub fn preset(name: &str) -> RmeResult<Self> {
        match name {
            "tiny" => Ok(Self::tiny()),
            "small" => Ok(Self::small()),
            "base" => Ok(Self::base()),
            other => Err(RmeError::invalid("FM-RME preset", format!("'{other}' is not one of tiny, small, base"))),
        }
    }

    /// Checks the widths and scales before building anything.
    pub fn validate(&self) -> RmeResult<()> {
        let bad = |m: String| Err(RmeError::invalid("FM-RME config", m));
        if self.d_model == 0 || self.d_model % 8 != 0 {
            return bad(format!("d_model {} must be a positive multiple of 8", self.d_model));
        }
        if self.n_heads == 0 || self.d_model % self.n_heads != 0 {
            return bad(format!("d_model {} is not divisible by n_heads {}", self.d_model, self.n_heads));
        }
        if self.k_neighbours == 0 || self.query_chunk == 0 || self.max_visible == 0 {
            return bad("k_neighbours, query_chunk and max_visible must be positive".into());
        }
        for (name, v) in [
            ("length_scale_m", self.length_scale_m),
            ("time_scale_s", self.time_scale_s),
            ("freq_scale_hz", self.freq_scale_hz),
            ("min_power_std_db", self.min_power_std_db),
            ("slice_weight", self.slice_weight),
            ("tile_m", self.tile_m),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(format!("{name} = {v} must be positive"));
            }
        }
        Ok(())
    }

    /// Builds the model. The config must be valid ([`FmRmeConfig::validate`]).
    pub fn init(&self, device: &Device) -> FmRme {
        let d = self.d_model;
        let stack = |layers: usize| {
            TransformerEncoderConfig::new(d, self.d_ff, self.n_heads, layers).with_norm_first(true).with_dropout(self.dropout).init(device)
        };
        FmRme {
            gafe: GafeConfig::new(d).with_n_layers(self.gafe_layers).init(device),
            pos_enc: StsPositionalEncodingConfig::new(d).init(device),
            encoder: stack(self.encoder_layers),
            encoder_norm: LayerNormConfig::new(d).init(device),
            decoder_embed: LinearConfig::new(d, d).init(device),
            mask_token: Initializer::Normal { mean: 0.0, std: 0.02 }.init([d], device),
            baseline_embed: LinearConfig::new(1, d).init(device),
            decoder: stack(self.decoder_layers),
            decoder_norm: LayerNormConfig::new(d).init(device),
            interpolation: NeighbourInterpolationConfig::new(d).with_n_pair_features(PAIR_FEATURES).init(device),
            // Zero-initialised: an untrained model returns the baseline exactly, and training
            // only ever has to learn a correction.
            head: LinearConfig::new(d, 1).with_initializer(Initializer::Zeros).init(device),
        }
    }
}

/// The FM-RME network.
#[derive(Module, Debug)]
pub struct FmRme {
    gafe: Gafe,
    pos_enc: StsPositionalEncoding,
    encoder: TransformerEncoder,
    encoder_norm: LayerNorm,
    decoder_embed: Linear,
    mask_token: Param<Tensor<1>>,
    baseline_embed: Linear,
    decoder: TransformerEncoder,
    decoder_norm: LayerNorm,
    interpolation: NeighbourInterpolation,
    head: Linear,
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
    pub query_coords: Tensor<3>,
    /// `[B, Nv]` and `[B, Nq]`: true at padding.
    pub visible_pad: Tensor<2, Bool>,
    pub query_pad: Tensor<2, Bool>,
    pub graph: Graph,
    /// `[B, Nq]` standardised true power (0 at padding, and everywhere at inference).
    pub targets: Tensor<2>,
    /// `[B, Nq]` the local interpolation baseline at each query (standardised; see
    /// [`local_baseline`]).
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
    pub visible: Vec<[f64; 5]>,
    pub queries: Vec<[f64; 4]>,
    pub targets: Vec<f64>,
}

/// The model's coordinate frame for one visible set: positions relative to its centroid in
/// units of `length_scale_m`, time in `time_scale_s`, frequency centred and scaled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelFrame {
    pub cx: f64,
    pub cy: f64,
}

impl ModelFrame {
    pub fn of(visible: &[[f64; 5]]) -> Self {
        let n = visible.len().max(1) as f64;
        Self { cx: visible.iter().map(|v| v[0]).sum::<f64>() / n, cy: visible.iter().map(|v| v[1]).sum::<f64>() / n }
    }
    pub fn xy(&self, cfg: &FmRmeConfig, x: f64, y: f64) -> [f32; 2] {
        [((x - self.cx) / cfg.length_scale_m) as f32, ((y - self.cy) / cfg.length_scale_m) as f32]
    }
    pub fn time(cfg: &FmRmeConfig, t: f64) -> f32 {
        (t / cfg.time_scale_s) as f32
    }
    /// Unknown frequency (single-band data) maps to the centre.
    pub fn freq(cfg: &FmRmeConfig, f: f64) -> f32 {
        if f.is_finite() { ((f - cfg.freq_center_hz) / cfg.freq_scale_hz) as f32 } else { 0.0 }
    }
    /// STS-PE coordinates `[N, 4]` of query points, as a `[1, N, 4]` tensor.
    pub fn query_coords(&self, cfg: &FmRmeConfig, queries: &[[f64; 4]], device: &Device) -> Tensor<3> {
        let mut v = Vec::with_capacity(queries.len() * 4);
        for q in queries {
            let p = self.xy(cfg, q[0], q[1]);
            v.extend_from_slice(&[p[0], p[1], Self::time(cfg, q[2]), Self::freq(cfg, q[3])]);
        }
        Tensor::<3>::from_data(TensorData::new(v, [1, queries.len(), 4]), device)
    }
}

impl FmRmeBatch {
    /// Pads and converts examples; computes the k-NN graph of each visible set on the CPU.
    pub fn new(examples: &[Example], cfg: &FmRmeConfig, device: &Device) -> RmeResult<Self> {
        if examples.is_empty() {
            return Err(RmeError::Empty("FM-RME batch".into()));
        }
        let b = examples.len();
        let nv = examples.iter().map(|e| e.visible.len()).max().unwrap_or(0);
        let nq = examples.iter().map(|e| e.queries.len()).max().unwrap_or(0);
        if let Some(i) = examples.iter().position(|e| e.visible.is_empty() || e.queries.is_empty()) {
            return Err(RmeError::Empty(format!("visible or query set of example {i}")));
        }
        let k = cfg.k_neighbours;
        let mut features = vec![0f32; b * nv * 3];
        let mut positions = vec![0f32; b * nv * 2];
        let mut vcoords = vec![0f32; b * nv * 4];
        let mut qcoords = vec![0f32; b * nq * 4];
        let mut vpad = vec![true; b * nv];
        let mut qpad = vec![true; b * nq];
        let mut targets = vec![0f32; b * nq];
        let mut hoods = Vec::with_capacity(b);
        let mut neighbours = vec![0i64; b * nv * k];
        let mut edge_attr = vec![0f32; b * nv * k * 2];
        let mut edge_mask = vec![0f32; b * nv * k];
        let t_of = |t: f64| ModelFrame::time(cfg, t);
        let f_of = |f: f64| ModelFrame::freq(cfg, f);
        let mut scales = Vec::with_capacity(b);
        for (bi, e) in examples.iter().enumerate() {
            let frame = ModelFrame::of(&e.visible);
            let (mean, std) = power_scale(&e.visible, cfg);
            scales.push((mean, std));
            let xy = |x: f64, y: f64| frame.xy(cfg, x, y);
            for (i, v) in e.visible.iter().enumerate() {
                if !v.iter().enumerate().all(|(c, x)| x.is_finite() || c == 3) {
                    return Err(RmeError::invalid("FM-RME input", format!("visible point {i} of example {bi} is not finite")));
                }
                let o = bi * nv + i;
                let p = xy(v[0], v[1]);
                let (t, f) = (t_of(v[2]), f_of(v[3]));
                features[o * 3..o * 3 + 3].copy_from_slice(&[((v[4] - mean) / std) as f32, f, t]);
                positions[o * 2..o * 2 + 2].copy_from_slice(&p);
                vcoords[o * 4..o * 4 + 4].copy_from_slice(&[p[0], p[1], t, f]);
                vpad[o] = false;
            }
            for (i, q) in e.queries.iter().enumerate() {
                if !(q[0].is_finite() && q[1].is_finite() && q[2].is_finite()) {
                    return Err(RmeError::invalid("FM-RME input", format!("query {i} of example {bi} is not finite")));
                }
                let o = bi * nq + i;
                let p = xy(q[0], q[1]);
                qcoords[o * 4..o * 4 + 4].copy_from_slice(&[p[0], p[1], t_of(q[2]), f_of(q[3])]);
                qpad[o] = false;
                if let Some(&v) = e.targets.get(i) {
                    if !v.is_finite() {
                        return Err(RmeError::invalid("FM-RME input", format!("target {i} of example {bi} is not finite")));
                    }
                    targets[o] = ((v - mean) / std) as f32;
                }
            }
            hoods.push(QueryNeighbourhoods::of(&e.visible, &e.queries, mean, std, cfg));
            // k-NN in space among the real nodes; missing slots point at the node itself, masked.
            let m = e.visible.len();
            for i in 0..nv {
                let o = bi * nv + i;
                let mut near: Vec<(f64, usize)> = if i < m {
                    (0..m)
                        .filter(|&j| j != i)
                        .map(|j| ((e.visible[i][0] - e.visible[j][0]).powi(2) + (e.visible[i][1] - e.visible[j][1]).powi(2), j))
                        .collect()
                } else {
                    Vec::new()
                };
                if near.len() > k {
                    near.select_nth_unstable_by(k, |a, c| a.0.total_cmp(&c.0).then(a.1.cmp(&c.1)));
                    near.truncate(k);
                }
                near.sort_by(|a, c| a.0.total_cmp(&c.0).then(a.1.cmp(&c.1)));
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
        let f3 = |v: Vec<f32>, n: usize, c: usize| Tensor::<3>::from_data(TensorData::new(v, [b, n, c]), device);
        let (baseline, neighbourhood) = QueryNeighbourhoods::to_tensors(&hoods, nq, device);
        Ok(Self {
            features: f3(features, nv, 3),
            positions: f3(positions, nv, 2),
            visible_coords: f3(vcoords, nv, 4),
            query_coords: f3(qcoords, nq, 4),
            visible_pad: Tensor::<2, Bool>::from_data(TensorData::new(vpad, [b, nv]), device),
            query_pad: Tensor::<2, Bool>::from_data(TensorData::new(qpad, [b, nq]), device),
            graph: Graph {
                neighbours: Tensor::<1, Int>::from_data(TensorData::new(neighbours, [b * nv * k]), device),
                edge_attr: Tensor::<4>::from_data(TensorData::new(edge_attr, [b, nv, k, 2]), device),
                edge_mask: Tensor::<4>::from_data(TensorData::new(edge_mask, [b, nv, k, 1]), device),
                k,
            },
            targets: Tensor::<2>::from_data(TensorData::new(targets, [b, nq]), device),
            baseline,
            neighbourhood,
            scales,
        })
    }
}

/// Visible points per query in the local baseline and the learned interpolation.
pub const NEIGHBOURS: usize = 16;
/// Geometric features per (query, neighbour) pair, see [`QueryNeighbourhoods`].
pub const PAIR_FEATURES: usize = 10;

/// The host-side neighbourhoods of one example's queries: for each query its `NEIGHBOURS`
/// visible points with the lowest context score (distance in space, slot and band,
/// `fm_rme_context`), flattened `[Nq, NEIGHBOURS]` (features `[Nq, NEIGHBOURS, PAIR_FEATURES]`).
///
/// Pair features of neighbour `j` (positions in model units, relative to the query):
/// 0 spatial distance `d_j`; 1 `|Δt|`; 2 `|Δf|`; 3 same slice (1/0); 4 `d_j / mean d`;
/// 5 crowding, the mean over the other neighbours `k` of `1 / (1 + (|x_j − x_k| / mean d)²)`;
/// 6 screening, the largest `cos ∠(j, k)` over nearer neighbours `k` (−1 when none);
/// 7 the neighbour's value minus the baseline; 8 `ln(d_j + 10⁻³)`; 9 `ln(s_j + 10⁻³)` for
/// context score `s_j` (the logarithms give the weighting MLP a direct handle on the power
/// of an inverse-distance law). The prior log-weight is `−ln(s_j² + 10⁻⁶)`
/// so that the softmax of the priors is [`local_baseline`]'s weights.
#[derive(Clone, Debug, Default)]
pub struct QueryNeighbourhoods {
    pub baseline: Vec<f32>,
    pub values: Vec<f32>,
    pub features: Vec<f32>,
    pub prior: Vec<f32>,
    pub pad: Vec<bool>,
}

impl QueryNeighbourhoods {
    pub fn of(visible: &[[f64; 5]], queries: &[[f64; 4]], mean: f64, std: f64, cfg: &FmRmeConfig) -> Self {
        let (k, p) = (NEIGHBOURS, PAIR_FEATURES);
        let nq = queries.len();
        let mut out = Self {
            baseline: Vec::with_capacity(nq),
            values: vec![0.0; nq * k],
            features: vec![0.0; nq * k * p],
            prior: vec![0.0; nq * k],
            pad: vec![true; nq * k],
        };
        for (qi, q) in queries.iter().enumerate() {
            // The same rule as a group's context, with the query as the centre.
            let scored: Vec<(f64, usize)> =
                select_context(visible, q, k, cfg).into_iter().map(|i| (context_score(&visible[i], q, cfg), i)).collect();
            let value = |i: usize| (visible[i][4] - mean) / std;
            let (mut num, mut den) = (0.0, 0.0);
            for &(s, i) in &scored {
                let w = 1.0 / (s * s + 1e-6);
                num += w * value(i);
                den += w;
            }
            let base = if den > 0.0 { num / den } else { 0.0 };
            out.baseline.push(base as f32);
            // Offsets from the query in model length units.
            let offset: Vec<[f64; 2]> = scored
                .iter()
                .map(|&(_, i)| [(visible[i][0] - q[0]) / cfg.length_scale_m, (visible[i][1] - q[1]) / cfg.length_scale_m])
                .collect();
            let dist: Vec<f64> = offset.iter().map(|o| o[0].hypot(o[1])).collect();
            let scale = dist.iter().sum::<f64>() / dist.len().max(1) as f64 + 1e-3;
            for (j, &(s, i)) in scored.iter().enumerate() {
                let v = &visible[i];
                let dt = (v[2] - q[2]).abs() / cfg.time_scale_s;
                let df = if v[3].is_finite() && q[3].is_finite() { (v[3] - q[3]).abs() / cfg.freq_scale_hz } else { 0.0 };
                let others = (0..scored.len()).filter(|&m| m != j);
                let crowding = others
                    .clone()
                    .map(|m| 1.0 / (1.0 + ((offset[j][0] - offset[m][0]).hypot(offset[j][1] - offset[m][1]) / scale).powi(2)))
                    .sum::<f64>()
                    / (scored.len().max(2) - 1) as f64;
                let screening = others
                    .filter(|&m| dist[m] < dist[j])
                    .map(|m| {
                        if dist[m] < 1e-9 { 1.0 } else { (offset[j][0] * offset[m][0] + offset[j][1] * offset[m][1]) / (dist[j] * dist[m]) }
                    })
                    .fold(-1.0f64, f64::max);
                let slot = qi * k + j;
                let same_slice = if dt == 0.0 && df == 0.0 { 1.0 } else { 0.0 };
                let f = [
                    dist[j],
                    dt,
                    df,
                    same_slice,
                    dist[j] / scale,
                    crowding,
                    screening,
                    value(i) - base,
                    (dist[j] + 1e-3).ln(),
                    (s + 1e-3).ln(),
                ];
                for (c, x) in f.iter().enumerate() {
                    out.features[slot * p + c] = *x as f32;
                }
                out.values[slot] = value(i) as f32;
                out.prior[slot] = -((s * s + 1e-6).ln()) as f32;
                out.pad[slot] = false;
            }
        }
        out
    }

    /// A batch's `[B, Nq]` baselines and its neighbourhood tensors, padded to `nq` queries
    /// (baseline 0 and all slots padding at padded queries).
    pub fn to_tensors(parts: &[Self], nq: usize, device: &Device) -> (Tensor<2>, Neighbourhood) {
        let (b, k, p) = (parts.len(), NEIGHBOURS, PAIR_FEATURES);
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
/// ([`NeighbourInterpolation`]) and the reference of [`relative_masked_mse`] — the model
/// starts from a sound interpolator instead of learning interpolation from nothing, which a
/// small model trained on a CPU cannot afford. (An addition to the paper's decoder.)
pub fn local_baseline(visible: &[[f64; 5]], queries: &[[f64; 4]], mean: f64, std: f64, cfg: &FmRmeConfig) -> Vec<f32> {
    QueryNeighbourhoods::of(visible, queries, mean, std, cfg).baseline
}

/// Mean and standard deviation (floored at `min_power_std_db`) of the visible power.
pub fn power_scale(visible: &[[f64; 5]], cfg: &FmRmeConfig) -> (f64, f64) {
    let n = visible.len().max(1) as f64;
    let mean = visible.iter().map(|v| v[4]).sum::<f64>() / n;
    let var = visible.iter().map(|v| (v[4] - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt().max(cfg.min_power_std_db))
}

/// Mean squared error over the real (non-padded) queries.
///
/// # Shapes
///
/// - prediction, target, pad: `[B, Nq]`
/// - output: `[1]`
pub fn masked_mse(prediction: Tensor<2>, target: Tensor<2>, pad: Tensor<2, Bool>) -> Tensor<1> {
    let valid = pad.bool_not().float();
    let count = valid.clone().sum().clamp_min(1.0);
    ((prediction - target).powi_scalar(2) * valid).sum() / count
}

/// Per-set MSE relative to the local baseline's, averaged over the sets of the batch: each
/// set's masked MSE divided by the MSE of its [`local_baseline`] (floored at `floor`), so 1.0
/// means "no better than the baseline".
///
/// Why: on standardised power the three masking tasks differ by two orders of magnitude in
/// difficulty (a spatial query sits between visible neighbours, a spectral one may be 20 dB
/// off every visible reading). With a plain MSE the few hardest sets dominate the gradient,
/// and the model learns corrections that help them while degrading the easy, common spatial
/// case (measured: spatial MSE ×4 over 1 600 steps). Dividing by the baseline's error weighs
/// every set by how much it can still be improved.
///
/// # Shapes
///
/// - prediction, baseline, target, pad: `[B, Nq]`
/// - output: `[1]`
pub fn relative_masked_mse(prediction: Tensor<2>, baseline: Tensor<2>, target: Tensor<2>, pad: Tensor<2, Bool>, floor: f32) -> Tensor<1> {
    let [b, _] = prediction.dims();
    let valid = pad.bool_not().float();
    let count = valid.clone().sum_dim(1).clamp_min(1.0);
    let model = ((prediction - target.clone()).powi_scalar(2) * valid.clone()).sum_dim(1) / count.clone();
    let reference = ((baseline - target).powi_scalar(2) * valid).sum_dim(1) / count;
    (model / reference.clamp_min(floor)).sum() / b as f32
}

/// Decoder attention mask `[L, L]` (true = blocked) over `nv` visible then `nq` query tokens:
/// no token attends to a query token other than itself. Each query's prediction is then a
/// function of the visible set and its own position only — the same whether queries are
/// decoded together or in chunks of any size, in training and at inference. (A plain MAE
/// decoder lets mask tokens attend to each other, which makes an estimate depend on which
/// other points were asked for.)
pub fn query_isolation_mask(nv: usize, nq: usize, device: &Device) -> Tensor<2, Bool> {
    let l = nv + nq;
    let mut blocked = vec![false; l * l];
    for i in 0..l {
        for j in nv..l {
            blocked[i * l + j] = j != i;
        }
    }
    Tensor::<2, Bool>::from_data(TensorData::new(blocked, [l, l]), device)
}

/// The decoder's view of the encoded visible set: `[B, Nv, d_model]` tokens (with their
/// STS-PE) and their padding mask.
#[derive(Clone, Debug)]
pub struct EncodedVisible {
    pub tokens: Tensor<3>,
    pub pad: Tensor<2, Bool>,
}

impl FmRme {
    /// Predicts standardised power at every query.
    ///
    /// # Shapes
    ///
    /// - batch: visible `[B, Nv, ·]`, queries `[B, Nq, ·]` (see [`FmRmeBatch`])
    /// - output: `[B, Nq]` (values at padded queries are meaningless)
    pub fn forward(&self, batch: &FmRmeBatch) -> Tensor<2> {
        let encoded = self.encode(batch);
        self.decode(&encoded, batch.query_coords.clone(), batch.query_pad.clone(), batch.baseline.clone(), &batch.neighbourhood)
    }

    /// GAFE + STS-PE + encoder over the visible set; computed once per set at inference.
    ///
    /// # Shapes
    ///
    /// - output tokens: `[B, Nv, d_model]`
    pub fn encode(&self, batch: &FmRmeBatch) -> EncodedVisible {
        let h = self.gafe.forward(batch.features.clone(), batch.positions.clone(), &batch.graph);
        let tokens = h + self.pos_enc.forward(batch.visible_coords.clone());
        let encoded = self.encoder.forward(TransformerEncoderInput::new(tokens).mask_pad(batch.visible_pad.clone()));
        let encoded = self.encoder_norm.forward(encoded);
        let tokens = self.decoder_embed.forward(encoded) + self.pos_enc.forward(batch.visible_coords.clone());
        EncodedVisible { tokens, pad: batch.visible_pad.clone() }
    }

    /// Decodes queries against encoded visible tokens.
    ///
    /// # Shapes
    ///
    /// - query_coords: `[B, Nq, 4]`, query_pad: `[B, Nq]`, baseline: `[B, Nq]`
    /// - neighbourhood: `[B, Nq, NEIGHBOURS(, PAIR_FEATURES)]`
    /// - output: `[B, Nq]` = learned interpolation + predicted residual
    pub fn decode(
        &self,
        visible: &EncodedVisible,
        query_coords: Tensor<3>,
        query_pad: Tensor<2, Bool>,
        baseline: Tensor<2>,
        neighbourhood: &Neighbourhood,
    ) -> Tensor<2> {
        let [b, nv, d] = visible.tokens.dims();
        let [_, nq, _] = query_coords.dims();
        let masks = self.mask_token.val().reshape([1, 1, d]).expand([b, nq, d])
            + self.pos_enc.forward(query_coords)
            + self.baseline_embed.forward(baseline.reshape([b, nq, 1]));
        let seq = Tensor::cat(vec![visible.tokens.clone(), masks], 1);
        let pad = Tensor::cat(vec![visible.pad.clone(), query_pad], 1);
        let attn = query_isolation_mask(nv, nq, &visible.tokens.device()).unsqueeze_dim::<3>(0).expand([b, nv + nq, nv + nq]);
        let input = TransformerEncoderInput::new(seq).mask_pad(pad).mask_attn(attn);
        let decoded = self.decoder_norm.forward(self.decoder.forward(input)).narrow(1, nv, nq);
        let interpolated = self.interpolation.forward(neighbourhood, decoded.clone());
        self.head.forward(decoded).reshape([b, nq]) + interpolated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::rng::Rng;

    fn example(rng: &mut Rng, nv: usize, nq: usize) -> Example {
        Example {
            targets: vec![],
            visible: (0..nv)
                .map(|_| {
                    [
                        rng.range(0.0, 256.0),
                        rng.range(0.0, 256.0),
                        2.0 * rng.below(5) as f64,
                        3.5e9 + 1e8 * rng.below(3) as f64,
                        -90.0 + 20.0 * rng.normal(),
                    ]
                })
                .collect(),
            queries: (0..nq).map(|_| [rng.range(0.0, 256.0), rng.range(0.0, 256.0), 4.0, 3.6e9]).collect(),
        }
    }

    #[test]
    fn parameter_counts_of_the_presets() {
        let d = cpu();
        let tiny = FmRmeConfig::tiny().init(&d).num_params();
        let small = FmRmeConfig::small().init(&d).num_params();
        let base = FmRmeConfig::base().init(&d).num_params();
        // Recorded counts: a change of architecture must update them deliberately.
        assert_eq!((tiny, small, base), (TINY_PARAMS, SMALL_PARAMS, BASE_PARAMS));
    }

    /// tiny (d = 16, d_ff = 32, one layer each), by hand: lift 3·16+16 = 64; GAFE layer
    /// (35·16+16) + 272 + 272 + 16 + (33·16+16) + 272 = 1952; transformer layer: attention
    /// 4·272 = 1088, feed-forward (16·32+32) + (32·16+16) = 1072, two layer norms 64 → 2224;
    /// encoder norm 32; decoder embedding 272; mask token 16; baseline embedding 1·16+16 = 32;
    /// decoder layer 2224; decoder norm 32; head 17; neighbour interpolation
    /// (10·32+32) + (16·32+32) + (32·32+32) + 33 = 1985. Total 8850.
    const TINY_PARAMS: usize = 64 + 1952 + 2224 + 32 + 272 + 16 + 32 + 2224 + 32 + 17 + 1985;
    /// The interpolation's context projection grows with d_model: 64·32+32 and 192·32+32.
    const SMALL_PARAMS: usize = 230_913 + 352 + 2080 + 1056 + 33;
    const BASE_PARAMS: usize = 5_267_905 + 352 + 6176 + 1056 + 33;

    #[test]
    fn padded_batch_gives_each_set_its_own_answer() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&d);
        let mut rng = Rng::new(3);
        let a = example(&mut rng, 7, 5);
        let b = example(&mut rng, 12, 9);
        let both = model.forward(&FmRmeBatch::new(&[a.clone(), b.clone()], &cfg, &d).unwrap());
        assert_eq!(both.dims(), [2, 9]);
        let alone = model.forward(&FmRmeBatch::new(&[a], &cfg, &d).unwrap());
        assert_eq!(alone.dims(), [1, 5]);
        let both: Vec<f32> = both.into_data().try_to_vec::<f32>().unwrap();
        let alone: Vec<f32> = alone.into_data().try_to_vec::<f32>().unwrap();
        for i in 0..5 {
            assert!((both[i] - alone[i]).abs() < 1e-4, "query {i}: {} padded vs {} alone", both[i], alone[i]);
        }
    }

    #[test]
    fn output_does_not_depend_on_the_frame_origin() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&d);
        let mut rng = Rng::new(4);
        let a = example(&mut rng, 10, 4);
        let mut shifted = a.clone();
        for v in &mut shifted.visible {
            v[0] += 1000.0;
            v[1] -= 500.0;
        }
        for q in &mut shifted.queries {
            q[0] += 1000.0;
            q[1] -= 500.0;
        }
        let run =
            |e: Example| -> Vec<f32> { model.forward(&FmRmeBatch::new(&[e], &cfg, &d).unwrap()).into_data().try_to_vec::<f32>().unwrap() };
        let (x, y) = (run(a), run(shifted));
        for (p, q) in x.iter().zip(&y) {
            assert!((p - q).abs() < 1e-4);
        }
    }

    #[test]
    fn masked_mse_ignores_padding_hand_computed() {
        let d = cpu();
        let p = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 9.0, 0.0], [2, 2]), &d);
        let t = Tensor::<2>::from_data(TensorData::new(vec![0.0f32, 0.0, 3.0, 5.0], [2, 2]), &d);
        let pad = Tensor::<2, Bool>::from_data(TensorData::new(vec![false, false, false, true], [2, 2]), &d);
        // (1 + 4 + 36) / 3
        let v: f32 = masked_mse(p, t, pad).into_scalar();
        assert!((v - 41.0 / 3.0).abs() < 1e-5);
    }

    #[test]
    fn relative_masked_mse_hand_computed() {
        let d = cpu();
        let t2 = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [2, 2]), &d);
        let p = t2(vec![1.0, 2.0, 9.0, 0.0]);
        let base = t2(vec![2.0, 2.0, 3.0, 7.0]);
        let t = t2(vec![0.0, 0.0, 3.0, 5.0]);
        let pad = Tensor::<2, Bool>::from_data(TensorData::new(vec![false, false, false, true], [2, 2]), &d);
        // Set 0: model (1 + 4) / 2 = 2.5, baseline (4 + 4) / 2 = 4 → 0.625.
        // Set 1: model 36 / 1, baseline 0 floored at 0.5 → 72. Mean 36.3125.
        let v: f32 = relative_masked_mse(p.clone(), base.clone(), t.clone(), pad.clone(), 0.5).into_scalar();
        assert!((v - 36.3125).abs() < 1e-4, "{v}");
        // The baseline itself scores exactly 1 where its error is above the floor.
        let one: f32 = relative_masked_mse(base.clone().narrow(0, 0, 1), base.narrow(0, 0, 1), t.narrow(0, 0, 1), pad.narrow(0, 0, 1), 0.5)
            .into_scalar();
        assert!((one - 1.0).abs() < 1e-6);
    }

    #[test]
    fn untrained_model_returns_the_baseline() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&d);
        let mut rng = Rng::new(8);
        let batch = FmRmeBatch::new(&[example(&mut rng, 20, 6)], &cfg, &d).unwrap();
        let out: Vec<f32> = model.forward(&batch).into_data().try_to_vec::<f32>().unwrap();
        let base: Vec<f32> = batch.baseline.into_data().try_to_vec::<f32>().unwrap();
        for (o, b) in out.iter().zip(&base) {
            // The softmax of the prior log-weights is the baseline's weights, up to f32 rounding.
            assert!((o - b).abs() < 1e-5, "{o} vs {b}");
        }
    }

    #[test]
    fn local_baseline_hand_computed() {
        let cfg = FmRmeConfig::tiny();
        // Two points of the query's slice, 64 m (score 1) and 128 m (score 2) away, values
        // standardised to 1 and −1: weights 1 and 1/4 → (1 − 0.25) / 1.25 = 0.6.
        let v = [[64.0, 0.0, 0.0, 3e9, 10.0], [-128.0, 0.0, 0.0, 3e9, -10.0]];
        let b = local_baseline(&v, &[[0.0, 0.0, 0.0, 3e9]], 0.0, 10.0, &cfg);
        assert!((b[0] - 0.6).abs() < 1e-5, "{}", b[0]);
        // On a visible point the baseline is that point.
        let b = local_baseline(&v, &[[64.0, 0.0, 0.0, 3e9]], 0.0, 10.0, &cfg);
        assert!((b[0] - 1.0).abs() < 1e-4);
    }

    #[test]
    fn neighbourhood_features_hand_computed() {
        let cfg = FmRmeConfig::tiny().with_slice_weight(8.0);
        // The query at the origin; neighbours 64 m (d = 1) and 128 m (d = 2) along +x in its
        // slice, values standardised to 1 and −1; a third 64 m along −x one slot later.
        let v = [[64.0, 0.0, 0.0, 3e9, 10.0], [128.0, 0.0, 0.0, 3e9, -10.0], [-64.0, 0.0, 30.0, 3e9, 0.0]];
        let h = QueryNeighbourhoods::of(&v, &[[0.0, 0.0, 0.0, 3e9]], 0.0, 10.0, &cfg);
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

    #[test]
    fn bad_input_is_an_error() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        assert!(FmRmeBatch::new(&[], &cfg, &d).is_err());
        assert!(FmRmeBatch::new(&[Example { visible: vec![], queries: vec![[0.0; 4]], targets: vec![] }], &cfg, &d).is_err());
        let nan = Example { visible: vec![[f64::NAN, 0.0, 0.0, 3e9, -50.0]], queries: vec![[0.0; 4]], targets: vec![] };
        assert!(FmRmeBatch::new(&[nan], &cfg, &d).is_err());
        assert!(FmRmeConfig::tiny().with_d_model(12).validate().is_err());
        assert!(FmRmeConfig::preset("huge").is_err());
        assert!(FmRmeConfig::small().validate().is_ok());
    }
}
