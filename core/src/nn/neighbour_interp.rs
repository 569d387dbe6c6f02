//! Learned neighbourhood interpolation: the estimate at a query is a weighted mean of its `K`
//! nearest visible measurements, with weights
//!
//! ```text
//! w_j = softmax_j( prior_j + φ(g_j, c) )
//! ```
//!
//! where `prior_j` is a fixed log-weight (FM-RME: inverse-square distance, so that an
//! untrained layer is exactly inverse-distance weighting), `g_j` are geometric features of the
//! (query, neighbour) pair — distance, slot and band offsets, how crowded the neighbour is,
//! whether a nearer neighbour screens it — and `c` is the query's decoded token, which carries
//! what the model knows of the whole set (its smoothness, density, spread). `φ` is a small MLP
//! whose last layer starts at zero.
//!
//! Why: what separates kriging from inverse-distance weighting is the weights — they follow
//! the field's correlation length, shrink towards the mean where the data are noisy, and
//! decluster crowded points. Those are functions of a handful of geometric numbers and of the
//! set's statistics, which a small MLP learns within a few thousand CPU steps, whereas
//! learning to interpolate through attention over sinusoidal position codes takes far longer
//! than a CPU-trained model gets. Weights from a softmax are positive and sum to one, so the
//! output always stays within the range of the neighbours' values.

use super::cpu_kernels::gelu;
use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Tensor};

/// Configuration of [`NeighbourInterpolation`].
#[derive(Config, Debug)]
pub struct NeighbourInterpolationConfig {
    /// Width of the per-query context token `c` (no default: the model's token width).
    pub d_context: usize,
    /// Geometric features per (query, neighbour) pair. Default 8 (FM-RME passes its 10).
    #[config(default = 8)]
    pub n_pair_features: usize,
    /// Hidden width of the weighting MLP `φ`. Default 32.
    #[config(default = 32)]
    pub d_hidden: usize,
}

/// The per-query neighbourhoods of a padded batch (built on the host, see
/// `fm_rme::QueryNeighbourhoods`).
#[derive(Clone, Debug)]
pub struct Neighbourhood {
    /// `[B, Nq, K]` the neighbours' values (standardised power).
    pub values: Tensor<3>,
    /// `[B, Nq, K, P]` pair features `g_j`.
    pub features: Tensor<4>,
    /// `[B, Nq, K]` fixed log-weights.
    pub prior: Tensor<3>,
    /// `[B, Nq, K]` true where a slot holds no neighbour.
    pub pad: Tensor<3, Bool>,
}

/// Weighted mean of each query's neighbours with learned weights.
#[derive(Module, Debug)]
pub struct NeighbourInterpolation {
    pair_in: Linear,
    context_in: Linear,
    hidden: Linear,
    logit_out: Linear,
}

impl NeighbourInterpolationConfig {
    /// Builds the layer; its last layer starts at zero (the prior weights alone).
    pub fn init(&self, device: &Device) -> NeighbourInterpolation {
        let h = self.d_hidden;
        NeighbourInterpolation {
            pair_in: LinearConfig::new(self.n_pair_features, h).init(device),
            context_in: LinearConfig::new(self.d_context, h).init(device),
            hidden: LinearConfig::new(h, h).init(device),
            // Zero-initialised: an untrained layer uses the prior weights alone.
            logit_out: LinearConfig::new(h, 1).with_initializer(Initializer::Zeros).init(device),
        }
    }
}

impl NeighbourInterpolation {
    /// Re-draws the zero-initialised logit layer at random, so that the output depends on the
    /// pair features and the context (tests of the models around this layer use it: with a
    /// zero layer nothing upstream reaches the output).
    pub fn with_random_logits(mut self, device: &Device) -> Self {
        let [d_hidden, _] = self.logit_out.weight.dims();
        self.logit_out = LinearConfig::new(d_hidden, 1).init(device);
        self
    }

    /// The same layer reading one more pair feature (appended last), whose input weights
    /// start at zero: the outputs stay exactly as they were until training moves them.
    pub fn with_extra_pair_feature(mut self, device: &Device) -> Self {
        let weight = self.pair_in.weight.val();
        let [_, d_hidden] = weight.dims();
        // Detached: on an autodiff device the concatenation is not a leaf, and a parameter must be.
        let widened = Tensor::cat(vec![weight, Tensor::zeros([1, d_hidden], device)], 0).detach();
        self.pair_in.weight = Param::from_tensor(widened);
        self
    }

    /// # Shapes
    ///
    /// - neighbourhood: values, prior, pad `[B, Nq, K]`; features `[B, Nq, K, P]`
    /// - context: `[B, Nq, d_context]`
    /// - output: `[B, Nq]`
    pub fn forward(&self, neighbourhood: &Neighbourhood, context: Tensor<3>) -> Tensor<2> {
        let [b, nq, k] = neighbourhood.values.dims();
        let x = self.pair_in.forward(neighbourhood.features.clone()) + self.context_in.forward(context).unsqueeze_dim::<4>(2);
        let x = gelu(x);
        let x = gelu(self.hidden.forward(x));
        let logits = self.logit_out.forward(x).reshape([b, nq, k]) + neighbourhood.prior.clone();
        // An all-padding row (a padded query) gets uniform weights over zero values: 0, no NaN.
        let weights = softmax(logits.mask_fill(neighbourhood.pad.clone(), -1.0e9), 2);
        (weights * neighbourhood.values.clone()).sum_dim(2).reshape([b, nq])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::tensor::{Distribution, TensorData};

    fn neighbourhood(values: Vec<f32>, prior: Vec<f32>, pad: Vec<bool>, k: usize, p: usize, device: &Device) -> Neighbourhood {
        let n = values.len() / k;
        Neighbourhood {
            values: Tensor::<3>::from_data(TensorData::new(values, [1, n, k]), device),
            features: Tensor::<4>::random([1, n, k, p], Distribution::Normal(0.0, 1.0), device),
            prior: Tensor::<3>::from_data(TensorData::new(prior, [1, n, k]), device),
            pad: Tensor::<3, Bool>::from_data(TensorData::new(pad, [1, n, k]), device),
        }
    }

    #[test]
    fn parameter_count() {
        let m = NeighbourInterpolationConfig::new(16).init(&cpu());
        // pair_in 8·32+32, context_in 16·32+32, hidden 32·32+32, logit_out 32+1.
        assert_eq!(m.num_params(), 288 + 544 + 1056 + 33);
    }

    /// Untrained, the layer is the prior's weighted mean; hand-computed: log-weights ln 1 and
    /// ln ¼ (inverse-square at distances 1 and 2) on values 1 and −1 → (1 − ¼)/(1 + ¼) = 0.6;
    /// a padded slot is ignored whatever its value and prior.
    #[test]
    fn untrained_layer_is_the_prior_weighted_mean() {
        let d = cpu();
        let m = NeighbourInterpolationConfig::new(16).init(&d);
        let quarter = 0.25f32.ln();
        let hood = neighbourhood(
            vec![1.0, -1.0, 50.0, 2.0, 4.0, 6.0],
            vec![0.0, quarter, 9.0, 0.0, 0.0, 0.0],
            vec![false, false, true, false, false, false],
            3,
            8,
            &d,
        );
        let context = Tensor::<3>::random([1, 2, 16], Distribution::Normal(0.0, 1.0), &d);
        let out: Vec<f32> = m.forward(&hood, context).into_data().try_to_vec::<f32>().unwrap();
        assert!((out[0] - 0.6).abs() < 1e-5, "{}", out[0]);
        assert!((out[1] - 4.0).abs() < 1e-5, "{}", out[1]);
    }

    /// A widened layer gives what the layer gave, whatever the new feature holds, and has
    /// one row more of input weights.
    #[test]
    fn an_extra_pair_feature_starts_without_effect() {
        let d = cpu();
        let m = NeighbourInterpolationConfig::new(8).init(&d).with_random_logits(&d);
        let hood = neighbourhood(vec![-3.0, 1.0, 2.0, 5.0, 0.5, -1.0], vec![0.0, -1.0, 0.5, 0.0, 0.3, -0.2], vec![false; 6], 3, 8, &d);
        let context = Tensor::<3>::random([1, 2, 8], Distribution::Normal(0.0, 1.0), &d);
        let before: Vec<f32> = m.forward(&hood, context.clone()).into_data().try_to_vec::<f32>().unwrap();
        let params = m.num_params();
        let wide = m.with_extra_pair_feature(&d);
        assert_eq!(wide.num_params(), params + 32);
        let extra = Tensor::<4>::random([1, 2, 3, 1], Distribution::Normal(0.0, 5.0), &d);
        let hood = Neighbourhood { features: Tensor::cat(vec![hood.features.clone(), extra], 3), ..hood };
        let after: Vec<f32> = wide.forward(&hood, context).into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in before.iter().zip(&after) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    /// Whatever the weights learn, the output is a convex combination: within the neighbours'
    /// range, and exactly the value when all neighbours agree. A padded query gives 0.
    #[test]
    fn output_is_a_convex_combination_and_padding_is_finite() {
        let d = cpu();
        let m = NeighbourInterpolationConfig::new(8).init(&d).with_random_logits(&d);
        let hood = neighbourhood(
            vec![-3.0, 1.0, 2.0, 7.0, 7.0, 7.0, 0.0, 0.0, 0.0],
            vec![0.0; 9],
            vec![false, false, false, false, false, false, true, true, true],
            3,
            8,
            &d,
        );
        let context = Tensor::<3>::random([1, 3, 8], Distribution::Normal(0.0, 1.0), &d);
        let out: Vec<f32> = m.forward(&hood, context).into_data().try_to_vec::<f32>().unwrap();
        assert!(out[0] > -3.0 && out[0] < 2.0, "{}", out[0]);
        assert!((out[1] - 7.0).abs() < 1e-5);
        assert_eq!(out[2], 0.0);
    }
}
