//! FM-RME's uncertainty: a Gaussian head that predicts the standard deviation of the error at
//! each query, trained by the negative log-likelihood of the truth under `N(mean, σ²)`
//! ([`super::loss::gaussian_nll`]).
//!
//! Why a head and not an ensemble: an ensemble multiplies the browser's inference time and
//! download by its size, and its members' spread measures the disagreement of models, not the
//! error of interpolation between few measurements, which is what a surveyor asks about (how
//! far the query is from its measurements, how much they disagree). The head sees exactly
//! that: the decoded query token (what the model learned of the set) and, explicitly, the
//! geometry of the query's nearest measurement and the spread of its neighbours' values. It
//! is trained after the mean, with everything else frozen ([`super::FmRme::with_std_head`]),
//! so adding σ leaves the estimates — and every accuracy table — exactly as they were.

use super::context::{NEIGHBOURS, PAIR_FEATURES};
use crate::nn::cpu_kernels::gelu;
use crate::nn::neighbour_interp::Neighbourhood;
use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

/// Inputs beside the token: the nearest neighbour's pair features and the log spread.
const EXTRA_FEATURES: usize = PAIR_FEATURES + 1;

/// Configuration of [`StdHead`].
#[derive(Config, Debug)]
pub struct StdHeadConfig {
    /// Width of the decoded query token (no default: the model's token width).
    pub d_model: usize,
    /// Hidden width of the MLP. Default 32.
    #[config(default = 32)]
    pub d_hidden: usize,
}

impl StdHeadConfig {
    /// Builds the head. Its output layer starts at zero: an untrained head answers σ = 1 in
    /// standardised units (the visible set's own standard deviation) everywhere.
    pub fn init(&self, device: &Device) -> StdHead {
        StdHead {
            input: LinearConfig::new(self.d_model + EXTRA_FEATURES, self.d_hidden).init(device),
            output: LinearConfig::new(self.d_hidden, 1).with_initializer(Initializer::Zeros).init(device),
        }
    }
}

/// `ln σ` of the standardised error at each query.
#[derive(Module, Debug)]
pub struct StdHead {
    input: Linear,
    output: Linear,
}

impl StdHead {
    /// The same head with its zero-initialised output layer re-drawn at random (for tests
    /// where σ must depend on every input, see [`super::FmRme::with_random_output_layers`]).
    pub fn with_random_output(mut self, device: &Device) -> Self {
        let [d_hidden, _] = self.output.weight.dims();
        self.output = LinearConfig::new(d_hidden, 1).init(device);
        self
    }

    /// Predicts `ln σ` (standardised units) from the decoded query tokens and the queries'
    /// neighbourhoods.
    ///
    /// # Shapes
    ///
    /// - tokens: `[B, Nq, d_model]`
    /// - neighbourhood: `[B, Nq, K(, PAIR_FEATURES)]`
    /// - output: `[B, Nq]`
    pub fn forward(&self, tokens: Tensor<3>, neighbourhood: &Neighbourhood) -> Tensor<2> {
        let [b, nq, _] = tokens.dims();
        let extra = Tensor::cat(vec![nearest_features(neighbourhood), log_spread(neighbourhood).unsqueeze_dim(2)], 2);
        let hidden = gelu(self.input.forward(Tensor::cat(vec![tokens, extra], 2)));
        self.output.forward(hidden).reshape([b, nq])
    }
}

/// `[B, Nq, PAIR_FEATURES]` the pair features of each query's nearest measurement (slot 0:
/// neighbourhoods are sorted by context score; a kriging candidate's marker, the last
/// feature where there is one, is not read).
fn nearest_features(h: &Neighbourhood) -> Tensor<3> {
    let [b, nq, _, _] = h.features.dims();
    h.features.clone().narrow(2, 0, 1).narrow(3, 0, PAIR_FEATURES).reshape([b, nq, PAIR_FEATURES])
}

/// `[B, Nq]` `ln(s + 10⁻³)` for `s` the standard deviation of the neighbours' values under the
/// prior (inverse-distance) weights: how much the measurements around the query disagree.
///
/// Only the measurements' slots count (the first [`NEIGHBOURS`]), not a kriging candidate's.
fn log_spread(h: &Neighbourhood) -> Tensor<2> {
    let k = h.values.dims()[2].min(NEIGHBOURS);
    let (prior, pad, values) = (h.prior.clone().narrow(2, 0, k), h.pad.clone().narrow(2, 0, k), h.values.clone().narrow(2, 0, k));
    let weights = softmax(prior.mask_fill(pad, -1e4), 2);
    let mean = (weights.clone() * values.clone()).sum_dim(2);
    let var = (weights * (values - mean).powi_scalar(2)).sum_dim(2);
    let [b, nq, _] = var.dims();
    (var.sqrt() + 1e-3).log().reshape([b, nq])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::tensor::{Bool, TensorData};

    fn neighbourhood(values: Vec<f32>, prior: Vec<f32>, pad: Vec<bool>, d: &Device) -> Neighbourhood {
        let k = values.len();
        Neighbourhood {
            values: Tensor::<3>::from_data(TensorData::new(values, [1, 1, k]), d),
            features: Tensor::<4>::from_data(
                TensorData::new((0..k * PAIR_FEATURES).map(|i| i as f32).collect::<Vec<f32>>(), [1, 1, k, PAIR_FEATURES]),
                d,
            ),
            prior: Tensor::<3>::from_data(TensorData::new(prior, [1, 1, k]), d),
            pad: Tensor::<3, Bool>::from_data(TensorData::new(pad, [1, 1, k]), d),
        }
    }

    #[test]
    fn shapes_parameters_and_the_untrained_answer() {
        let d = cpu();
        let head = StdHeadConfig::new(16).init(&d);
        // (16 + 10 + 1)·32 + 32, then 32 + 1.
        assert_eq!(head.num_params(), 27 * 32 + 32 + 33);
        let h = Neighbourhood {
            values: Tensor::zeros([2, 5, 3], &d),
            features: Tensor::zeros([2, 5, 3, PAIR_FEATURES], &d),
            prior: Tensor::zeros([2, 5, 3], &d),
            pad: Tensor::<3, Bool>::from_data(TensorData::new(vec![false; 30], [2, 5, 3]), &d),
        };
        let out = head.forward(Tensor::ones([2, 5, 16], &d), &h);
        assert_eq!(out.dims(), [2, 5]);
        // Zero output layer: ln σ = 0.
        let max: f32 = out.abs().max().into_scalar();
        assert_eq!(max, 0.0);
    }

    /// Values 1 and −1 with prior log-weights ln 3 and 0 (weights ¾, ¼; the third slot is
    /// padding): mean ½, variance ¾·¼ + ¼·9/4 = ¾, s = 0.866.
    #[test]
    fn spread_hand_computed() {
        let d = cpu();
        let h = neighbourhood(vec![1.0, -1.0, 50.0], vec![3f32.ln(), 0.0, 9.0], vec![false, false, true], &d);
        let v: f32 = log_spread(&h).into_scalar();
        assert!((v - (0.75f32.sqrt() + 1e-3).ln()).abs() < 1e-5, "{v}");
        // The nearest neighbour's features are slot 0's.
        let f: Vec<f32> = nearest_features(&h).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(f, (0..PAIR_FEATURES).map(|i| i as f32).collect::<Vec<_>>());
    }
}
