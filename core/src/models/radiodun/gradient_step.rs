//! The gradient descent module (GDM, eqs. 11–13): one step of alternating gradient descent on
//! `½‖Φ Σ s − y‖²` per factor, then soft thresholding, with learnable steps and threshold.

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Configuration of a [`GradientStep`].
#[derive(Config, Debug)]
pub struct GradientStepConfig {
    /// Number of factors `m + 1`.
    pub factors: usize,
    /// Initial step β of every factor. Default 0.5.
    #[config(default = 0.5)]
    pub initial_step: f64,
    /// Initial threshold ε. Default 0.001.
    #[config(default = 0.001)]
    pub initial_threshold: f64,
}

/// The GDM of one unfolding block.
///
/// The authors' public code keeps its step sizes as plain tensors that the optimiser never
/// sees, so they stay at their initial values; here β and ε are parameters and learn (a test
/// checks that they move in training).
#[derive(Module, Debug)]
pub struct GradientStep {
    /// β_i, one per factor.
    steps: Param<Tensor<1>>,
    /// ε (its absolute value is used: a threshold is never negative).
    threshold: Param<Tensor<1>>,
}

impl GradientStepConfig {
    /// Builds the module.
    pub fn init(&self, device: &Device) -> GradientStep {
        GradientStep {
            steps: Initializer::Constant { value: self.initial_step }.init([self.factors], device),
            threshold: Initializer::Constant { value: self.initial_threshold }.init([1], device),
        }
    }
}

/// `soft(z, ε) = sign(z)·max(|z| − ε, 0)` (eq. 12), written as `relu(z − ε) − relu(−z − ε)` so
/// that its gradient is defined everywhere autodiff looks.
///
/// # Shapes
///
/// - z: `[batch, channels, height, width]`
/// - threshold: `[1]`
/// - output: as z
pub fn soft_threshold(z: Tensor<4>, threshold: Tensor<1>) -> Tensor<4> {
    let eps = threshold.reshape([1, 1, 1, 1]);
    relu(z.clone() - eps.clone()) - relu(z.neg() - eps)
}

impl GradientStep {
    /// Updates the factors one after another (eq. 13: factor i sees the factors before it
    /// already updated). The data term's residual is taken from `map`, the current estimate of
    /// `Σ s`, corrected by each update as it is made — exactly eq. 13 when the map is the sum
    /// of its factors (eq. 4), and the way the previous block's refined map reaches this one.
    /// On a grid `Φᵀ(Φx − y)` is `mask ⊙ (x − y)`.
    ///
    /// # Shapes
    ///
    /// - factors: each `[batch, 1, height, width]`
    /// - map, samples, mask: `[batch, 1, height, width]`
    /// - output: the updated factors, each `[batch, 1, height, width]`, and the map with
    ///   their updates applied, `[batch, 1, height, width]`
    pub fn forward(&self, factors: &[Tensor<4>], map: Tensor<4>, samples: Tensor<4>, mask: Tensor<4>) -> (Vec<Tensor<4>>, Tensor<4>) {
        let threshold = self.threshold.val().abs();
        let steps = self.steps.val();
        let mut current = map;
        let mut out = Vec::with_capacity(factors.len());
        for (i, s) in factors.iter().enumerate() {
            let beta = steps.clone().narrow(0, i, 1).reshape([1, 1, 1, 1]);
            let gradient = mask.clone() * (current.clone() - samples.clone());
            let updated = soft_threshold(s.clone() - gradient * beta, threshold.clone());
            current = current + updated.clone() - s.clone();
            out.push(updated);
        }
        (out, current)
    }

    /// The steps β_i and the threshold ε, as numbers (for tests and reports).
    pub fn values(&self) -> (Vec<f32>, f32) {
        let steps = self.steps.val().into_data().try_to_vec::<f32>().unwrap_or_default();
        let eps = self.threshold.val().into_data().try_to_vec::<f32>().unwrap_or_default();
        (steps, eps.first().copied().unwrap_or(f32::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;

    fn plane(v: [f32; 2], d: &Device) -> Tensor<4> {
        Tensor::<1>::from_floats(v, d).reshape([1, 1, 1, 2])
    }

    #[test]
    fn soft_thresholding_by_hand() {
        let d = cpu();
        let z = Tensor::<1>::from_floats([-2.0, -0.5, 0.0, 0.3, 1.5], &d).reshape([1, 1, 1, 5]);
        let y = soft_threshold(z, Tensor::from_floats([0.5], &d)).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![-1.5, 0.0, 0.0, 0.0, 1.0]);
    }

    #[test]
    fn alternating_steps_by_hand() {
        // Two cells, the first sampled (y = 1), the second not. Factors 1 and 2, map 3, β 0.5,
        // ε 0: factor 0 moves by −0.5·(3 − 1) = −1 to 0; the map is now 2, so factor 1 moves
        // by −0.5·(2 − 1) to 1.5. The unsampled cell keeps its factors.
        let d = cpu();
        let gdm = GradientStepConfig::new(2).with_initial_threshold(0.0).init(&d);
        let (out, map) = gdm.forward(
            &[plane([1.0, 1.0], &d), plane([2.0, 2.0], &d)],
            plane([3.0, 3.0], &d),
            plane([1.0, 0.0], &d),
            plane([1.0, 0.0], &d),
        );
        assert_eq!(out[0].clone().into_data().try_to_vec::<f32>().unwrap(), vec![0.0, 1.0]);
        assert_eq!(out[1].clone().into_data().try_to_vec::<f32>().unwrap(), vec![1.5, 2.0]);
        // The map moved with both updates (−1, then −0.5) where sampled.
        assert_eq!(map.into_data().try_to_vec::<f32>().unwrap(), vec![1.5, 3.0]);
        assert_eq!(gdm.num_params(), 3);
    }
}
