//! FM-RME's training losses over padded query sets.

use burn::tensor::{Bool, Tensor};

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
/// set's masked MSE divided by the MSE of its [`super::context::local_baseline`] (floored at `floor`), so 1.0
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

/// Bounds of the predicted `ln σ` in the likelihood (standardised units): σ between 0.0025
/// and 400 times the visible set's spread — beyond them the loss's gradient only blows up.
pub const LOG_STD_RANGE: (f32, f32) = (-6.0, 6.0);

/// Mean Gaussian negative log-likelihood (without the constant ½ ln 2π) of the targets under
/// `N(mean, σ²)`, `ln σ` = `log_std`, over the real queries: `ln σ + (t − μ)² / (2σ²)`.
///
/// # Shapes
///
/// - mean, log_std, target, pad: `[B, Nq]`
/// - output: `[1]`
pub fn gaussian_nll(mean: Tensor<2>, log_std: Tensor<2>, target: Tensor<2>, pad: Tensor<2, Bool>) -> Tensor<1> {
    let valid = pad.bool_not().float();
    let count = valid.clone().sum().clamp_min(1.0);
    let log_std = log_std.clamp(LOG_STD_RANGE.0, LOG_STD_RANGE.1);
    let nll = log_std.clone() + (target - mean).powi_scalar(2) * (log_std * -2.0).exp() * 0.5;
    (nll * valid).sum() / count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::tensor::TensorData;

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
    fn gaussian_nll_hand_computed() {
        let d = cpu();
        let t2 = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [1, 3]), &d);
        let pad = Tensor::<2, Bool>::from_data(TensorData::new(vec![false, false, true], [1, 3]), &d);
        // Query 0: error 2, σ = 1 → 0 + 2; query 1: error 1, ln σ = ln 2 → ln 2 + 1/8; the
        // third is padding. Mean (2 + ln 2 + 0.125) / 2.
        let v: f32 = gaussian_nll(t2(vec![1.0, 0.0, 5.0]), t2(vec![0.0, 2f32.ln(), 0.0]), t2(vec![3.0, 1.0, 0.0]), pad).into_scalar();
        assert!((v - (2.125 + 2f32.ln()) / 2.0).abs() < 1e-5, "{v}");
        // For a fixed error the loss is smallest at σ = |error|.
        let at = |s: f32| -> f32 {
            let pad = Tensor::<2, Bool>::from_data(TensorData::new(vec![false], [1, 1]), &d);
            let one = |v: f32| Tensor::<2>::from_data(TensorData::new(vec![v], [1, 1]), &d);
            gaussian_nll(one(0.0), one(s.ln()), one(3.0), pad).into_scalar()
        };
        assert!(at(3.0) < at(2.5) && at(3.0) < at(3.5));
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
}
