//! The STORM network: each query's neighbour tokens ([`super::features`]) are embedded, a
//! learned readout token, told the baseline's answer, is put in front, a pre-norm transformer
//! mixes them (padding masked), and two linear heads read the readout token: corrections to
//! the baseline's standardised mean and to its `ln σ`.

use super::batch::StormBatch;
use super::config::StormConfig;
use super::features::STORM_FEATURES;
use burn::module::{Initializer, Module, Param};
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor};

impl StormConfig {
    /// Builds the model. The config must be valid ([`StormConfig::validate`]).
    pub fn init(&self, device: &Device) -> Storm {
        let d = self.d_model;
        Storm {
            embed: LinearConfig::new(STORM_FEATURES, d).init(device),
            readout_token: Initializer::Normal { mean: 0.0, std: 0.02 }.init([d], device),
            baseline_embed: LinearConfig::new(2, d).init(device),
            encoder: TransformerEncoderConfig::new(d, self.d_ff, self.n_heads, self.n_layers)
                .with_norm_first(true)
                .with_dropout(self.dropout)
                .init(device),
            norm: LayerNormConfig::new(d).init(device),
            // Zero-initialised: an untrained model returns the baseline (kriging's mean and σ;
            // the inverse-distance mean with σ = the slice's spread), and training only
            // learns corrections.
            mean_head: LinearConfig::new(d, 1).with_initializer(Initializer::Zeros).init(device),
            std_head: LinearConfig::new(d, 1).with_initializer(Initializer::Zeros).init(device),
        }
    }
}

/// The STORM network.
#[derive(Module, Debug)]
pub struct Storm {
    embed: Linear,
    readout_token: Param<Tensor<1>>,
    /// The baseline's answer (standardised mean and `ln σ`), added to the readout token.
    baseline_embed: Linear,
    encoder: TransformerEncoder,
    norm: LayerNorm,
    mean_head: Linear,
    std_head: Linear,
}

/// What the network gives at each query, standardised by the slice's frame.
#[derive(Clone, Debug)]
pub struct StormOutput {
    /// `[Q]` the mean.
    pub mean: Tensor<1>,
    /// `[Q]` `ln σ` of its error.
    pub log_std: Tensor<1>,
}

impl Storm {
    /// Re-draws the zero-initialised heads at random, so that tests see every part of the
    /// network reach the output.
    pub fn with_random_heads(mut self, device: &Device) -> Self {
        let [d, _] = self.mean_head.weight.dims();
        self.mean_head = LinearConfig::new(d, 1).init(device);
        self.std_head = LinearConfig::new(d, 1).init(device);
        self
    }

    /// Estimates at every query of the batch.
    ///
    /// # Shapes
    ///
    /// - features: `[Q, k, STORM_FEATURES]`, pad `[Q, k]`, baseline `[Q]`
    /// - output: mean and log_std `[Q]`
    pub fn forward(&self, batch: &StormBatch) -> StormOutput {
        let [q, _, _] = batch.features.dims();
        let tokens = self.embed.forward(batch.features.clone());
        let [_, _, d] = tokens.dims();
        let baseline = Tensor::stack::<2>(vec![batch.baseline.clone(), batch.baseline_log_std.clone()], 1);
        let readout =
            self.readout_token.val().reshape([1, 1, d]).expand([q, 1, d]) + self.baseline_embed.forward(baseline).reshape([q, 1, d]);
        let sequence = Tensor::cat(vec![readout, tokens], 1);
        let device = batch.pad.device();
        let pad = Tensor::cat(vec![Tensor::<2, Bool>::full([q, 1], false, &device), batch.pad.clone()], 1);
        let encoded = self.encoder.forward(TransformerEncoderInput::new(sequence).mask_pad(pad));
        let head_in = self.norm.forward(encoded.narrow(1, 0, 1).reshape([q, d]));
        StormOutput {
            mean: batch.baseline.clone() + self.mean_head.forward(head_in.clone()).reshape([q]),
            log_std: batch.baseline_log_std.clone() + self.std_head.forward(head_in).reshape([q]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::classic::Sample;
    use crate::models::storm::batch::baseline_tokens;
    use crate::models::storm::{QueryTokens, SliceFrame};
    use burn::tensor::Tolerance;

    fn samples(n: usize) -> Vec<Sample> {
        (0..n).map(|i| Sample { x: (i % 5) as f64 * 4.0, y: (i / 5) as f64 * 3.0, value: -70.0 + (i as f64 * 1.3).sin() * 6.0 }).collect()
    }

    fn batch(samples: &[Sample], queries: &[[f64; 2]], k: usize) -> StormBatch {
        let t = QueryTokens::build(samples, &SliceFrame::of(samples).unwrap(), queries, k);
        StormBatch::new(&t, None, &cpu()).unwrap()
    }

    #[test]
    fn shapes_and_parameter_counts() {
        let d = cpu();
        let cfg = StormConfig::tiny();
        let out = cfg.init(&d).forward(&batch(&samples(20), &[[1.0, 1.0], [7.0, 2.0], [3.0, 9.0]], cfg.neighbours));
        assert_eq!((out.mean.dims(), out.log_std.dims()), ([3], [3]));
        // tiny: embed 8·16+16, token 16, baseline embedding 2·16+16, one layer (attention 4·(16·16+16), FFN 16·32+32+32·16+16,
        // two norms 2·32), final norm 32, heads 2·17.
        let layer = 4 * (16 * 16 + 16) + (16 * 32 + 32 + 32 * 16 + 16) + 2 * 32;
        assert_eq!(cfg.init(&d).num_params(), 8 * 16 + 16 + 16 + 48 + layer + 32 + 2 * 17);
        assert_eq!(StormConfig::new().init(&d).num_params(), 101_314 + 3 * 64);
    }

    #[test]
    fn untrained_model_returns_the_baseline() {
        let d = cpu();
        let s = samples(20);
        let queries = [[1.0, 1.0], [7.0, 2.0]];
        let cfg = StormConfig::tiny();
        let b = StormBatch::new(&baseline_tokens(&s, &SliceFrame::of(&s).unwrap(), &queries, &cfg).unwrap(), None, &d).unwrap();
        let out = cfg.init(&d).forward(&b);
        out.mean.into_data().assert_approx_eq::<f32>(&b.baseline.into_data(), Tolerance::absolute(1e-6));
        out.log_std.into_data().assert_approx_eq::<f32>(&b.baseline_log_std.clone().into_data(), Tolerance::absolute(1e-6));
        // That baseline is kriging's: its σ is not the slice's spread.
        assert!(b.baseline_log_std.into_data().iter::<f32>().any(|v| v.abs() > 1e-3));
    }

    /// Padding is masked: a slice with fewer measurements than `k` gives the same estimate
    /// whatever k pads it to.
    #[test]
    fn padding_changes_nothing() {
        let d = cpu();
        let model = StormConfig::tiny().with_neighbours(8).init(&d).with_random_heads(&d);
        let s = samples(5);
        let a = model.forward(&batch(&s, &[[1.0, 1.0], [9.0, 0.5]], 5));
        let b = model.forward(&batch(&s, &[[1.0, 1.0], [9.0, 0.5]], 8));
        a.mean.into_data().assert_approx_eq::<f32>(&b.mean.into_data(), Tolerance::absolute(1e-5));
        a.log_std.into_data().assert_approx_eq::<f32>(&b.log_std.into_data(), Tolerance::absolute(1e-5));
    }
}
