//! The FM-RME network (fm-rme.txt §III; MODELS.md §2.1).
//!
//! Visible measurements are graph nodes: GAFE (equivariant message passing over their k
//! nearest spatial neighbours) turns `[power, f̃, t̃]` into geometry-aware tokens; STS-PE adds
//! their continuous position, slot and band; a pre-norm transformer encoder mixes them. The
//! decoder sees the encoded visible tokens plus one shared learnable mask token at every
//! query (with the query's STS-PE and an embedding of a local interpolation baseline,
//! [`super::context::local_baseline`]). The output at a query is a learned weighted mean of its nearest
//! visible measurements ([`NeighbourInterpolation`], weights conditioned on the decoded query
//! token) plus a linear head's residual on that token. Query tokens attend to the visible
//! tokens and to themselves only ([`query_isolation_mask`]), so the estimator can decode them in chunks of
//! [`super::ContextConfig::query_chunk`],
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

use super::batch::FmRmeBatch;
use super::config::FmRmeConfig;
use super::context::PAIR_FEATURES;
use super::std_head::{StdHead, StdHeadConfig};
use crate::nn::egnn::{Gafe, GafeConfig};
use crate::nn::neighbour_interp::{NeighbourInterpolation, NeighbourInterpolationConfig, Neighbourhood};
use crate::nn::pos_enc::{StsPositionalEncoding, StsPositionalEncodingConfig};
pub use crate::nn::query_decoder::query_isolation_mask;
use crate::nn::query_decoder::{VisibleKeys, decode_queries, encode_tokens};
use burn::module::{Initializer, Module, Param};
use burn::nn::transformer::{TransformerEncoder, TransformerEncoderConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Bool, Device, Tensor};

impl FmRmeConfig {
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
            interpolation: NeighbourInterpolationConfig::new(d)
                .with_n_pair_features(PAIR_FEATURES + usize::from(self.kriging_candidate))
                .init(device),
            // Zero-initialised: an untrained model returns the baseline exactly, and training
            // only ever has to learn a correction.
            head: LinearConfig::new(d, 1).with_initializer(Initializer::Zeros).init(device),
            std_head: self.std_head.then(|| StdHeadConfig::new(d).init(device)),
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
    /// σ, where the config asks for it ([`FmRmeConfig::std_head`]).
    std_head: Option<StdHead>,
}

impl FmRme {
    /// Re-draws the zero-initialised output layers (the head, the interpolation's logit layer
    /// and, where there is one, the σ head's output) at random. A freshly initialised model returns its interpolation baseline
    /// exactly, so nothing of the encoder, the attention or the masks reaches its output;
    /// tests of those parts (padding, frame, chunking, weight round trips, browser = native)
    /// run on a model built with this, where every part does.
    pub fn with_random_output_layers(mut self, device: &Device) -> Self {
        let [d_model, _] = self.head.weight.dims();
        self.head = LinearConfig::new(d_model, 1).init(device);
        self.interpolation = self.interpolation.with_random_logits(device);
        self.std_head = self.std_head.map(|h| h.with_random_output(device));
        self
    }

    /// The same network with a fresh σ head, every other parameter frozen: training it fits
    /// σ and leaves the mean exactly as it was ([`super::std_head`]).
    pub fn with_std_head(mut self, device: &Device) -> Self {
        let [d_model, _] = self.head.weight.dims();
        self.std_head = Some(StdHeadConfig::new(d_model).init(device));
        self.frozen_but_std_head()
    }

    /// Stops gradients to every parameter but the σ head's (again after loading a checkpoint,
    /// which does not record what was frozen).
    pub fn frozen_but_std_head(mut self) -> Self {
        let head = self.std_head.take();
        let mut frozen = self.no_grad();
        frozen.std_head = head;
        frozen
    }

    /// The same network reading a kriging candidate ([`FmRmeConfig::kriging_candidate`]): the
    /// interpolation's pair-feature input grows by the candidate's marker with zero weights.
    /// Its outputs change only through the candidate's slot (its prior weight), and training
    /// learns from there.
    pub fn with_kriging_candidate(mut self, device: &Device) -> Self {
        self.interpolation = self.interpolation.with_extra_pair_feature(device);
        self
    }

    /// Whether the network gives σ.
    pub fn has_std_head(&self) -> bool {
        self.std_head.is_some()
    }
}

/// What the decoder gives at the queries.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// `[B, Nq]` the standardised mean.
    pub mean: Tensor<2>,
    /// `[B, Nq]` `ln σ` of the standardised error, where the network has a σ head.
    pub log_std: Option<Tensor<2>>,
}

/// The decoder's view of the encoded visible set: its visible stream, every decoder layer's
/// keys and values of the encoded tokens (with their STS-PE) and the padding — all a query
/// chunk reads, so the many chunks of one context compute none of it again.
#[derive(Clone, Debug)]
pub struct EncodedVisible {
    /// The decoder's visible stream ([`VisibleKeys`]).
    pub keys: VisibleKeys,
    /// `B`, the batch size.
    pub batch: usize,
}

impl FmRme {
    /// Predicts standardised power at every query.
    ///
    /// # Shapes
    ///
    /// - batch: visible `[B, Nv, ·]`, queries `[B, Nq, ·]` (see [`FmRmeBatch`])
    /// - output: `[B, Nq]` (values at padded queries are meaningless)
    pub fn forward(&self, batch: &FmRmeBatch) -> Tensor<2> {
        self.forward_with_std(batch).mean
    }

    /// The mean and, where the network has a σ head, `ln σ` at every query.
    ///
    /// # Shapes
    ///
    /// - output: mean and `ln σ` `[B, Nq]`
    pub fn forward_with_std(&self, batch: &FmRmeBatch) -> Decoded {
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
        let encoded = encode_tokens(&self.encoder, tokens, batch.visible_pad.clone(), batch.visible_padded);
        let encoded = self.encoder_norm.forward(encoded);
        let tokens = self.decoder_embed.forward(encoded) + self.pos_enc.forward(batch.visible_coords.clone());
        let batch_size = tokens.dims()[0];
        EncodedVisible { keys: VisibleKeys::new(&self.decoder, tokens, batch.visible_pad.clone(), batch.visible_padded), batch: batch_size }
    }

    /// Decodes queries against encoded visible tokens: the mean and, where the network has a
    /// σ head, `ln σ`.
    ///
    /// # Shapes
    ///
    /// - query_coords: `[B, Nq, 4]`, query_pad: `[B, Nq]`, baseline: `[B, Nq]`
    /// - neighbourhood: `[B, Nq, NEIGHBOURS(, PAIR_FEATURES)]`
    /// - output: mean `[B, Nq]` = learned interpolation + predicted residual; `ln σ` `[B, Nq]`
    pub fn decode(
        &self,
        visible: &EncodedVisible,
        query_coords: Tensor<3>,
        query_pad: Tensor<2, Bool>,
        baseline: Tensor<2>,
        neighbourhood: &Neighbourhood,
    ) -> Decoded {
        let b = visible.batch;
        let [_, nq, _] = query_coords.dims();
        let d = self.mask_token.val().dims()[0];
        let masks = self.mask_token.val().reshape([1, 1, d]).expand([b, nq, d])
            + self.pos_enc.forward(query_coords)
            + self.baseline_embed.forward(baseline.reshape([b, nq, 1]));
        // The visible and query tokens as two streams: the numbers of one sequence under
        // [`query_isolation_mask`], with work linear in the queries.
        let decoded = decode_queries(&self.decoder, &visible.keys, masks, query_pad);
        let decoded = self.decoder_norm.forward(decoded);
        let interpolated = self.interpolation.forward(neighbourhood, decoded.clone());
        let log_std = self.std_head.as_ref().map(|h| h.forward(decoded.clone(), neighbourhood));
        Decoded { mean: self.head.forward(decoded).reshape([b, nq]) + interpolated, log_std }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::models::fm_rme::{ContextConfig, ContextRule, Example};
    use crate::rng::Rng;
    use burn::tensor::Tolerance;

    fn example(rng: &mut Rng, nv: usize, nq: usize) -> Example {
        Example {
            targets: vec![],
            kriging: vec![],
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

    /// Widened for a kriging candidate, a model gives what it gave wherever the candidate is
    /// absent (its slot padding), and has one row more of interpolation input weights.
    #[test]
    fn a_widened_model_without_candidates_answers_as_before() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&d).with_random_output_layers(&d);
        let wide_cfg = cfg.clone().with_kriging_candidate(true);
        let wide = model.clone().with_kriging_candidate(&d);
        assert_eq!(wide.num_params(), model.num_params() + 32);
        assert_eq!(wide.num_params(), wide_cfg.init(&d).num_params());
        let rule = ContextRule::new(&cfg, &ContextConfig::new());
        let mut rng = Rng::new(4);
        let e = example(&mut rng, 40, 9);
        let absent = Example { kriging: vec![[f64::NAN; 2]; 9], ..e.clone() };
        let before = model.forward(&FmRmeBatch::new(std::slice::from_ref(&e), &cfg, &rule, &d).unwrap());
        let after = wide.forward(&FmRmeBatch::new(std::slice::from_ref(&absent), &wide_cfg, &rule, &d).unwrap());
        before.into_data().assert_approx_eq::<f32>(&after.into_data(), Tolerance::rel_abs(1e-5, 1e-6));
        // With candidates present, the output moves towards them.
        let present = Example { kriging: vec![[500.0, 1.0]; 9], ..e };
        let moved = wide.forward(&FmRmeBatch::new(std::slice::from_ref(&present), &wide_cfg, &rule, &d).unwrap());
        let base = model.forward(&FmRmeBatch::new(std::slice::from_ref(&absent), &cfg, &rule, &d).unwrap());
        let gap: f32 = (moved - base).min().into_scalar();
        assert!(gap > 0.1, "a candidate far above every reading pulls the estimate up (least rise {gap})");
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

    /// A tiny model whose output depends on every layer (see
    /// [`FmRme::with_random_output_layers`]).
    fn random_model(cfg: &FmRmeConfig, d: &Device) -> FmRme {
        cfg.init(d).with_random_output_layers(d)
    }

    fn rule() -> ContextRule {
        ContextRule::new(&FmRmeConfig::tiny(), &ContextConfig::new())
    }

    /// The output of a random model is far from the interpolation baseline: the tests below
    /// then compare what the encoder, attention and masks computed, not the baseline alone.
    #[test]
    fn random_output_layers_make_the_network_reach_the_output() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let batch = FmRmeBatch::new(&[example(&mut Rng::new(8), 20, 6)], &cfg, &rule(), &d).unwrap();
        let out = random_model(&cfg, &d).forward(&batch);
        let gap: f32 = (out - batch.baseline.clone()).abs().max().into_scalar();
        assert!(gap > 1e-2, "a random model equals its baseline (gap {gap})");
    }

    #[test]
    fn padded_batch_gives_each_set_its_own_answer() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = random_model(&cfg, &d);
        let mut rng = Rng::new(3);
        let a = example(&mut rng, 7, 5);
        let b = example(&mut rng, 12, 9);
        let both = model.forward(&FmRmeBatch::new(&[a.clone(), b.clone()], &cfg, &rule(), &d).unwrap());
        assert_eq!(both.dims(), [2, 9]);
        let alone_a = model.forward(&FmRmeBatch::new(&[a], &cfg, &rule(), &d).unwrap());
        let alone_b = model.forward(&FmRmeBatch::new(&[b], &cfg, &rule(), &d).unwrap());
        let tol = Tolerance::<f32>::absolute(1e-4);
        both.clone().narrow(0, 0, 1).narrow(1, 0, 5).into_data().assert_approx_eq::<f32>(&alone_a.into_data(), tol);
        both.narrow(0, 1, 1).into_data().assert_approx_eq::<f32>(&alone_b.into_data(), tol);
    }

    #[test]
    fn output_does_not_depend_on_the_frame_origin() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = random_model(&cfg, &d);
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
        let run = |e: Example| model.forward(&FmRmeBatch::new(&[e], &cfg, &rule(), &d).unwrap()).into_data();
        run(a).assert_approx_eq::<f32>(&run(shifted), Tolerance::absolute(1e-4));
    }

    #[test]
    fn untrained_model_returns_the_baseline() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&d);
        let mut rng = Rng::new(8);
        let batch = FmRmeBatch::new(&[example(&mut rng, 20, 6)], &cfg, &rule(), &d).unwrap();
        let out: Vec<f32> = model.forward(&batch).into_data().try_to_vec::<f32>().unwrap();
        let base: Vec<f32> = batch.baseline.into_data().try_to_vec::<f32>().unwrap();
        for (o, b) in out.iter().zip(&base) {
            // The softmax of the prior log-weights is the baseline's weights, up to f32 rounding.
            assert!((o - b).abs() < 1e-5, "{o} vs {b}");
        }
    }

    /// Training the σ head moves σ and nothing else: after a few likelihood steps the mean is
    /// bit-for-bit the one before, and σ has changed. (Shown to fail when `with_std_head`
    /// leaves the other parameters trainable.)
    #[cfg(feature = "train")]
    #[test]
    fn training_the_std_head_leaves_the_mean_unchanged() {
        use crate::models::fm_rme::gaussian_nll;
        use burn::optim::{AdamConfig, GradientsParams};
        let d = cpu().autodiff();
        let cfg = FmRmeConfig::tiny();
        let mut rng = Rng::new(5);
        let mut ex = example(&mut rng, 20, 8);
        ex.targets = (0..8).map(|i| -90.0 + 7.0 * i as f64).collect();
        let batch = FmRmeBatch::new(&[ex], &cfg, &rule(), &d).unwrap();
        let mut model = random_model(&cfg, &d).with_std_head(&d);
        let before = model.forward_with_std(&batch);
        let mut optim = AdamConfig::new().init();
        for _ in 0..3 {
            let out = model.forward_with_std(&batch);
            let loss = gaussian_nll(out.mean, out.log_std.unwrap(), batch.targets.clone(), batch.query_pad.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-2, model, grads);
        }
        let after = model.forward_with_std(&batch);
        after.mean.into_data().assert_eq(&before.mean.into_data(), true);
        let moved: f32 = (after.log_std.unwrap() - before.log_std.unwrap()).abs().max().into_scalar();
        assert!(moved > 1e-3, "σ did not move ({moved})");
    }
}
