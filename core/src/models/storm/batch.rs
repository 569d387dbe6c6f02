//! STORM's input as padded tensors.

use super::config::StormConfig;
use super::features::{QueryTokens, STORM_FEATURES, SliceFrame};
use crate::classic::{Kriging, Sample, SliceContext, SpatialMethod};
use crate::error::{Result, RmeError};
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// A batch of queries: their neighbour tokens, padding, baseline and (in training) targets.
#[derive(Clone, Debug)]
pub struct StormBatch {
    /// `[Q, k, STORM_FEATURES]`.
    pub features: Tensor<3>,
    /// `[Q, k]`: true at padding.
    pub pad: Tensor<2, Bool>,
    /// `[Q]` the baseline's mean, standardised.
    pub baseline: Tensor<1>,
    /// `[Q]` the baseline's `ln σ`, standardised.
    pub baseline_log_std: Tensor<1>,
    /// `[Q]` the standardised truths, in training.
    pub targets: Option<Tensor<1>>,
}

impl StormBatch {
    /// The tensors of `tokens` (and of `targets`, one per query, when given).
    pub fn new(tokens: &QueryTokens, targets: Option<&[f32]>, device: &Device) -> Result<Self> {
        let (q, k) = (tokens.len(), tokens.k);
        if q == 0 {
            return Err(RmeError::Empty("STORM batch: no query".into()));
        }
        if let Some(t) = targets
            && t.len() != q
        {
            return Err(RmeError::invalid("STORM batch", format!("{} targets for {q} queries", t.len())));
        }
        Ok(Self {
            features: Tensor::from_data(TensorData::new(tokens.features.clone(), [q, k, STORM_FEATURES]), device),
            pad: Tensor::from_data(TensorData::new(tokens.pad.clone(), [q, k]), device),
            baseline: Tensor::from_data(TensorData::new(tokens.baseline.clone(), [q]), device),
            baseline_log_std: Tensor::from_data(TensorData::new(tokens.baseline_log_std.clone(), [q]), device),
            targets: targets.map(|t| Tensor::from_data(TensorData::new(t.to_vec(), [q]), device)),
        })
    }
}

/// One training example: the queries of one `(slot, band)` slice of a simulated map, with
/// their standardised truths.
#[derive(Clone, Debug, PartialEq)]
pub struct StormExample {
    /// The queries' neighbour tokens.
    pub tokens: QueryTokens,
    /// `[Q]` standardised truths.
    pub targets: Vec<f32>,
    /// The frame's value scale (dB per standardised unit), to report errors in dB.
    pub scale_db: f64,
}

/// How training slices are sampled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SliceSampling {
    /// Shares of the slice's cells measured are drawn from this range.
    pub visible_ratio: (f64, f64),
    /// Queries per slice (cells not measured).
    pub queries: usize,
    /// Measurements per slice at most (what a kriging baseline costs grows as its cube up to
    /// its exact limit).
    pub max_visible: usize,
    /// Half the slices get i.i.d. Gaussian measurement noise, on the measurements and the
    /// truths alike, as a receiver adds it, of a standard deviation drawn up to this share of
    /// the slice's spread: real campaigns repeat a reading at one place and get values
    /// several dB apart (`real-dev`'s USRP files: about 4 dB, some 0.5 of their spread).
    pub max_noise_share: f64,
}

impl StormExample {
    /// A random slice of `map` sampled as `sampling` says, described for a model of `config`
    /// (its neighbours and baseline); `None` when it has too few cells with a truth or its
    /// baseline cannot be fitted.
    pub fn draw(map: &crate::map::RadioMap, sampling: &SliceSampling, config: &StormConfig, rng: &mut crate::rng::Rng) -> Option<Self> {
        let [slots, bands, rows, cols] = map.shape();
        let (t, f) = (rng.below(slots), rng.below(bands));
        let cells: Vec<usize> = (0..rows * cols).filter(|&c| map.is_valid_voxel(map.index(t, f, c / cols, c % cols))).collect();
        let drawn = (rng.range(sampling.visible_ratio.0, sampling.visible_ratio.1) * cells.len() as f64).round() as usize;
        let visible_count = drawn.clamp(4, sampling.max_visible);
        if cells.len() < visible_count + sampling.queries {
            return None;
        }
        let value = |c: usize| map.values[map.index(t, f, c / cols, c % cols)] as f64;
        let share = if rng.bernoulli(0.5) { rng.range(0.0, sampling.max_noise_share) } else { 0.0 };
        let noise = if share > 0.0 {
            let n = cells.len() as f64;
            let mean = cells.iter().map(|&c| value(c)).sum::<f64>() / n;
            share * (cells.iter().map(|&c| (value(c) - mean).powi(2)).sum::<f64>() / n).sqrt()
        } else {
            0.0
        };
        let mut chosen = rng.choose_indices(cells.len(), visible_count + sampling.queries);
        let query_cells = chosen.split_off(visible_count);
        let point = |i: usize| map.grid.cell_center(cells[i] / cols, cells[i] % cols);
        let mut reading = |i: usize| value(cells[i]) + noise * rng.normal();
        let samples: Vec<Sample> = chosen
            .iter()
            .map(|&i| {
                let p = point(i);
                Sample { x: p[0], y: p[1], value: reading(i) }
            })
            .collect();
        let truths: Vec<f64> = query_cells.iter().map(|&i| reading(i)).collect();
        let frame = SliceFrame::of(&samples).ok()?;
        let queries: Vec<[f64; 2]> = query_cells.iter().map(|&i| point(i)).collect();
        Some(Self {
            tokens: baseline_tokens(&samples, &frame, &queries, config).ok()?,
            targets: truths.iter().map(|&v| frame.standardise(v) as f32).collect(),
            scale_db: frame.scale,
        })
    }

    /// The examples as one batch.
    pub fn batch(examples: &[Self], device: &Device) -> Result<StormBatch> {
        let first = examples.first().ok_or_else(|| RmeError::Empty("STORM batch: no example".into()))?;
        let mut tokens = QueryTokens { k: first.tokens.k, features: vec![], pad: vec![], baseline: vec![], baseline_log_std: vec![] };
        let mut targets = Vec::new();
        for e in examples {
            tokens.append(&e.tokens)?;
            targets.extend_from_slice(&e.targets);
        }
        StormBatch::new(&tokens, Some(&targets), device)
    }
}

/// The tokens of `queries` with the baseline `config` asks for: ordinary kriging fitted to
/// `samples` (an error when it cannot be), or the neighbours' inverse-distance mean.
pub fn baseline_tokens(samples: &[Sample], frame: &SliceFrame, queries: &[[f64; 2]], config: &StormConfig) -> Result<QueryTokens> {
    let tokens = QueryTokens::build(samples, frame, queries, config.neighbours);
    if !config.kriging_baseline {
        return Ok(tokens);
    }
    let ctx = SliceContext { t_s: 0.0, freq_hz: f64::NAN, tx_m: None };
    let (mean, std) = Kriging::ordinary().estimate_slice(&ctx, samples, queries)?;
    let std = std.ok_or_else(|| RmeError::numerical("STORM", "kriging gave no σ"))?;
    tokens.with_baseline(frame, &mean, &std)
}
