//! PI-DRME's losses: `L_rec` (the estimate against the truth), `L_gra` (the pathloss map's
//! spatial gradients aligned with the LDPL template's) and `L_con` (the shared module's drift
//! from the global one, weighted by how far the individual module moved).

use super::params::NamedParameter;
use crate::error::{Result, RmeError};
use crate::models::grid::masked_grid_mse;
use burn::tensor::Tensor;

/// Keeps the cosine defined for a flat map (zero gradients).
const COSINE_EPSILON: f64 = 1e-8;

/// `L_rec`: the mean squared error over the cells that count (outdoor, with a truth).
///
/// # Shapes
///
/// - map, target, valid: `[batch, 1, rows, cols]`
/// - output: `[1]`
pub fn reconstruction_loss(map: Tensor<4>, target: Tensor<4>, valid: Tensor<4>) -> Tensor<1> {
    masked_grid_mse(map, target, valid)
}

/// The differences of `x` between neighbouring cells in four directions — east, north,
/// north-east and north-west (rows grow northwards) — concatenated per map.
///
/// # Shapes
///
/// - x: `[batch, 1, rows, cols]`, rows and cols at least 2
/// - output: `[batch, (r−1)·c + r·(c−1) + 2·(r−1)·(c−1)]`
pub fn directional_gradients(x: Tensor<4>) -> Tensor<2> {
    let [b, _, r, c] = x.dims();
    let part = |from: Tensor<4>, to: Tensor<4>| {
        let [_, _, h, w] = from.dims();
        (to - from).reshape([b, h * w])
    };
    let east = part(x.clone().narrow(3, 0, c - 1), x.clone().narrow(3, 1, c - 1));
    let north = part(x.clone().narrow(2, 0, r - 1), x.clone().narrow(2, 1, r - 1));
    let north_east = part(x.clone().narrow(2, 0, r - 1).narrow(3, 0, c - 1), x.clone().narrow(2, 1, r - 1).narrow(3, 1, c - 1));
    let north_west = part(x.clone().narrow(2, 0, r - 1).narrow(3, 1, c - 1), x.narrow(2, 1, r - 1).narrow(3, 0, c - 1));
    Tensor::cat(vec![east, north, north_east, north_west], 1)
}

/// `L_gra = 1 − cos(∇pathloss, ∇template)`, the cosine between the two maps' gradients in the
/// four directions ([`directional_gradients`]), per map, averaged over the batch. Why the
/// gradients and not the values: the template's level is a fit to a few samples, but its
/// shape — smooth decay away from the transmitter — is the physics the shared module should
/// learn; the cosine ignores the scale too.
///
/// # Shapes
///
/// - pathloss, template: `[batch, 1, rows, cols]`
/// - output: `[1]`
pub fn gradient_loss(pathloss: Tensor<4>, template: Tensor<4>) -> Tensor<1> {
    let (p, t) = (directional_gradients(pathloss), directional_gradients(template));
    let dot = (p.clone() * t.clone()).sum_dim(1);
    let norms = (p.powi_scalar(2).sum_dim(1) * t.powi_scalar(2).sum_dim(1)).sqrt() + COSINE_EPSILON;
    let cosine = (dot / norms).reshape([-1]);
    cosine.neg().add_scalar(1.0).mean()
}

/// `L_con = w · mean((θ_com − θ_global)²)` over the shared module's parameters, with `w` the
/// distance the client's individual module moved since the last round
/// ([`super::params::parameter_distance`], a plain number: the weight is not differentiated).
/// A client whose individual module still moves a lot is held closer to the consensus, so that
/// the shared module does not absorb its local shadowing; one whose individual module has
/// settled may adapt the shared one. `shared` and `global` are the same module's parameters
/// ([`super::params::named_parameters`]), `global` detached.
///
/// # Shapes
///
/// - output: `[1]`
pub fn constraint_loss(shared: &[NamedParameter], global: &[NamedParameter], individual_moved: f64) -> Result<Tensor<1>> {
    if shared.len() != global.len() || shared.iter().zip(global).any(|(s, g)| s.name != g.name || s.shape != g.shape) {
        return Err(RmeError::invalid(
            "global parameters",
            format!("{} tensors that do not match the shared module's {}", global.len(), shared.len()),
        ));
    }
    let mut total: Option<Tensor<1>> = None;
    let mut count = 0usize;
    for (s, g) in shared.iter().zip(global) {
        count += s.values.dims()[0];
        let squared = (s.values.clone() - g.values.clone().detach()).powi_scalar(2).sum();
        total = Some(match total {
            Some(t) => t + squared,
            None => squared,
        });
    }
    let total = total.ok_or_else(|| RmeError::Empty("shared module's parameters".into()))?;
    Ok(total * (individual_moved / count as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::models::pi_drme::params::named_parameters;

    fn map(values: [f32; 4]) -> Tensor<4> {
        Tensor::<1>::from_floats(values, &cpu()).reshape([1, 1, 2, 2])
    }

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar()
    }

    #[test]
    fn gradients_by_hand() {
        // Rows [0, 1] (south) and [2, 3] (north): east 1, 1; north 2, 2; north-east 3 − 0;
        // north-west 2 − 1.
        let g = directional_gradients(map([0.0, 1.0, 2.0, 3.0])).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(g, vec![1.0, 1.0, 2.0, 2.0, 3.0, 1.0]);
    }

    #[test]
    fn gradient_loss_is_zero_for_identical_maps_and_matches_a_hand_computed_case() {
        let p = map([0.0, 1.0, 2.0, 3.0]);
        assert!(scalar(gradient_loss(p.clone(), p.clone())).abs() < 1e-6);
        // The same shape at another level and scale: still aligned.
        assert!(scalar(gradient_loss(p.clone(), p.clone() * 3.0 + 7.0)).abs() < 1e-6);
        // Template rows [0, 0], [1, 1]: gradients (0, 0, 1, 1, 1, 1). Against (1, 1, 2, 2, 3, 1):
        // dot 8, norms √20 and 2, so L = 1 − 8 / (2·√20) = 1 − 0.894427.
        let l = scalar(gradient_loss(p, map([0.0, 0.0, 1.0, 1.0])));
        assert!((l - (1.0 - 8.0 / (2.0 * 20f32.sqrt()))).abs() < 1e-6, "{l}");
    }

    #[test]
    fn constraint_loss_is_zero_without_drift_and_matches_a_hand_computed_case() {
        let d = cpu();
        let config = crate::models::pi_drme::encoder::ConvEncoderConfig::new(1, vec![2], 2);
        let module = config.init(&d);
        let params = named_parameters(&module);
        // The shared module where the global one is: nothing drifted, whatever the weight.
        assert_eq!(scalar(constraint_loss(&params, &params, 3.0).unwrap()), 0.0);
        // Drifted, but the individual module did not move: no constraint.
        let other = named_parameters(&config.init(&d));
        assert_eq!(scalar(constraint_loss(&params, &other, 0.0).unwrap()), 0.0);
        // By hand: θ = (1, 2), θ_global = (0, 0), moved 0.5 → 0.5 · (1 + 4) / 2 = 1.25.
        let named = |v: [f32; 2]| vec![NamedParameter { name: "w".into(), shape: vec![2], values: Tensor::<1>::from_floats(v, &d) }];
        assert!((scalar(constraint_loss(&named([1.0, 2.0]), &named([0.0, 0.0]), 0.5).unwrap()) - 1.25).abs() < 1e-6);
        // Parameters of another module, or none, are named errors.
        assert!(constraint_loss(&named([1.0, 2.0]), &params, 1.0).unwrap_err().to_string().contains("global parameters"));
        assert!(constraint_loss(&[], &[], 1.0).is_err());
    }
}
