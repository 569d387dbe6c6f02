//! STORM's training objective: the mean's squared error plus the Gaussian likelihood of σ
//! around a mean the likelihood cannot move.

use super::model::StormOutput;
use crate::models::fm_rme::loss::LOG_STD_RANGE;
use burn::tensor::Tensor;

/// The loss of one batch and its mean squared error (standardised units).
///
/// `total = MSE(mean, target) + NLL(target | detach(mean), σ)` with
/// `NLL = mean(ln σ + (t − μ)² / (2σ²))`: the mean learns from the squared error alone (so σ
/// cannot buy a lower loss by bending it), σ from the likelihood of the mean's actual errors.
///
/// # Shapes
///
/// - output: mean, log_std `[Q]`; target `[Q]`
/// - returns: total and MSE `[1]`
pub fn storm_loss(output: &StormOutput, target: Tensor<1>) -> (Tensor<1>, Tensor<1>) {
    let mse = (output.mean.clone() - target.clone()).powi_scalar(2).mean();
    let log_std = output.log_std.clone().clamp(LOG_STD_RANGE.0, LOG_STD_RANGE.1);
    let error = (target - output.mean.clone().detach()).powi_scalar(2);
    let nll = (log_std.clone() + error * (log_std * -2.0).exp() * 0.5).mean();
    (mse.clone() + nll, mse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::tensor::TensorData;

    #[test]
    fn loss_is_the_hand_computed_value() {
        let d = cpu();
        let t = |v: Vec<f32>| Tensor::<1>::from_data(TensorData::new(v, [2]), &d);
        let out = StormOutput { mean: t(vec![1.0, -1.0]), log_std: t(vec![0.0, 2.0f32.ln()]) };
        let (total, mse) = storm_loss(&out, t(vec![2.0, 1.0]));
        // errors 1 and 2: MSE (1 + 4) / 2 = 2.5; NLL ((0 + 1/2) + (ln 2 + 4/8)) / 2.
        let want_nll = (0.5 + (2.0f32.ln() + 0.5)) / 2.0;
        assert!((mse.into_scalar::<f32>() - 2.5).abs() < 1e-6);
        assert!((total.into_scalar::<f32>() - (2.5 + want_nll)).abs() < 1e-5);
    }
}
