//! The grid models' training loss.

use burn::tensor::Tensor;

/// Mean squared error over the cells where `valid` is 1 (outdoor cells with a truth).
///
/// # Shapes
///
/// - prediction, target, valid: `[batch, 1, rows, cols]`
/// - output: `[1]`
pub fn masked_grid_mse(prediction: Tensor<4>, target: Tensor<4>, valid: Tensor<4>) -> Tensor<1> {
    let count = valid.clone().sum().clamp_min(1.0);
    ((prediction - target).powi_scalar(2) * valid).sum() / count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;

    #[test]
    fn counts_only_valid_cells() {
        let d = cpu();
        let p = Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0], &d).reshape([1, 1, 2, 2]);
        let t = Tensor::<1>::from_floats([1.0, 0.0, 0.0, 100.0], &d).reshape([1, 1, 2, 2]);
        let v = Tensor::<1>::from_floats([1.0, 1.0, 1.0, 0.0], &d).reshape([1, 1, 2, 2]);
        // (0 + 4 + 9) / 3
        let l: f32 = masked_grid_mse(p, t, v).into_scalar();
        assert!((l - 13.0 / 3.0).abs() < 1e-6, "{l}");
    }
}
