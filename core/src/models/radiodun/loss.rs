//! RadioDUN's objective (eqs. 19–24): the shadowing loss plus μ·MSE, over the cells that
//! count (outdoor, with a truth).

use crate::models::grid::masked_grid_mse;
use burn::tensor::Tensor;

/// The shadowing loss (eq. 21), per map then averaged over the batch's valid cells:
/// `mean((X̂σ − X̄σ)²) + mean((X_GT − X̂ + X̂σ − X̄σ)²)`, with `X̄σ` the mean of the shadowing
/// factor over the map's valid cells. The first term is the spread of the shadowing factor
/// (eq. 20: the fit error of the statistical model); the second ties the map's residual to it.
///
/// # Shapes
///
/// - map, shadowing, target, valid: `[batch, 1, height, width]`
/// - output: `[1]`
pub fn shadowing_loss(map: Tensor<4>, shadowing: Tensor<4>, target: Tensor<4>, valid: Tensor<4>) -> Tensor<1> {
    let per_map = valid.clone().sum_dims(&[1, 2, 3]).clamp_min(1.0);
    let mean = (shadowing.clone() * valid.clone()).sum_dims(&[1, 2, 3]) / per_map;
    let deviation = (shadowing - mean) * valid.clone();
    let count = valid.clone().sum().clamp_min(1.0);
    let spread = deviation.clone().powi_scalar(2).sum();
    let tied = ((target - map) * valid + deviation).powi_scalar(2).sum();
    (spread + tied) / count
}

/// The total loss (eq. 24): `L_σ + μ·L_MSE`, or `μ·L_MSE` alone without the shadowing loss.
///
/// # Shapes
///
/// - map, shadowing, target, valid: `[batch, 1, height, width]`
/// - output: `[1]`
pub fn total_loss(
    map: Tensor<4>,
    shadowing: Tensor<4>,
    target: Tensor<4>,
    valid: Tensor<4>,
    with_shadowing: bool,
    mse_weight: f64,
) -> Tensor<1> {
    let mse = masked_grid_mse(map.clone(), target.clone(), valid.clone()) * mse_weight;
    if with_shadowing { shadowing_loss(map, shadowing, target, valid) + mse } else { mse }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;

    fn plane(v: [f32; 4]) -> Tensor<4> {
        Tensor::<1>::from_floats(v, &cpu()).reshape([1, 1, 1, 4])
    }

    #[test]
    fn shadowing_loss_by_hand() {
        // Valid cells 0–2. Shadowing 1, 2, 3 (mean 2): deviations −1, 0, 1, spread 2/3.
        // Residual X_GT − X̂ = 0.5, 0, −1; plus deviations: −0.5, 0, 0, so 0.25/3.
        // Total (2 + 0.25)/3 = 0.75. The invalid cell (residual 100) counts nowhere.
        let valid = plane([1.0, 1.0, 1.0, 0.0]);
        let map = plane([0.0, 0.0, 1.0, 0.0]);
        let target = plane([0.5, 0.0, 0.0, 100.0]);
        let l: f32 = shadowing_loss(map.clone(), plane([1.0, 2.0, 3.0, 9.0]), target.clone(), valid.clone()).into_scalar();
        assert!((l - 0.75).abs() < 1e-6, "{l}");
        // MSE: (0.25 + 0 + 1)/3; μ = 2 adds twice that.
        let t: f32 = total_loss(map.clone(), plane([1.0, 2.0, 3.0, 9.0]), target.clone(), valid.clone(), true, 2.0).into_scalar();
        assert!((t - (0.75 + 2.0 * 1.25 / 3.0)).abs() < 1e-6, "{t}");
        let m: f32 = total_loss(map, plane([1.0, 2.0, 3.0, 9.0]), target, valid, false, 1.0).into_scalar();
        assert!((m - 1.25 / 3.0).abs() < 1e-6, "{m}");
    }

    #[test]
    fn a_constant_shadowing_factor_leaves_only_the_mse() {
        let valid = plane([1.0, 1.0, 0.0, 1.0]);
        let (map, target) = (plane([0.1, 0.2, 0.3, 0.4]), plane([0.3, 0.2, 0.0, 0.0]));
        let s: f32 = shadowing_loss(map.clone(), plane([5.0; 4]), target.clone(), valid.clone()).into_scalar();
        let mse: f32 = masked_grid_mse(map, target, valid).into_scalar();
        assert!((s - mse).abs() < 1e-6, "{s} vs {mse}");
    }
}
