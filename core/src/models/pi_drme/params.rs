//! A module's parameters as named flat tensors: what PI-DRME exchanges (the shared encoder)
//! and what its constraint loss compares (the shared module against the global one).

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// One float parameter: its path in the module (e.g. `levels.0.first.weight`), its shape, and
/// its values flattened (still on the module's device, still tracked by autodiff).
#[derive(Clone, Debug)]
pub struct NamedParameter {
    /// Dotted path of the parameter in its module.
    pub name: String,
    /// The parameter's shape.
    pub shape: Vec<usize>,
    /// The values, flattened in row-major order.
    pub values: Tensor<1>,
}

/// Collects parameters; the path is kept from the enter/exit calls the derived `visit` makes
/// around every field (a parameter's own field name included).
#[derive(Default)]
struct Collector {
    path: Vec<String>,
    found: Vec<NamedParameter>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let n = shape.iter().product::<usize>();
        self.found.push(NamedParameter { name: self.path.join("."), shape, values: tensor.reshape([n]) });
    }
}

/// Every float parameter of `module`, in its visiting order (the same for two modules of
/// one config).
pub fn named_parameters<M: Module>(module: &M) -> Vec<NamedParameter> {
    let mut collector = Collector::default();
    module.visit(&mut collector);
    collector.found
}

/// `‖a − b‖₂` over all parameters of two modules of one config, as a plain number (for the
/// constraint loss's weight, which is not differentiated). `None` when their parameters do
/// not match in names and shapes.
pub fn parameter_distance<M: Module>(a: &M, b: &M) -> Option<f64> {
    let (pa, pb) = (named_parameters(a), named_parameters(b));
    if pa.len() != pb.len() || pa.iter().zip(&pb).any(|(x, y)| x.name != y.name || x.shape != y.shape) {
        return None;
    }
    let mut squared = 0.0f64;
    for (x, y) in pa.into_iter().zip(pb) {
        let d: f32 = (x.values - y.values).powi_scalar(2).sum().into_scalar();
        squared += d as f64;
    }
    Some(squared.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::models::pi_drme::encoder::ConvEncoderConfig;

    #[test]
    fn names_shapes_and_distance() {
        let d = cpu();
        let config = ConvEncoderConfig::new(1, vec![2], 2);
        let a = config.init(&d);
        let params = named_parameters(&a);
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"levels.0.first.weight") && names.contains(&"latent.second.bias"), "{names:?}");
        assert_eq!(params.iter().map(|p| p.shape.iter().product::<usize>()).sum::<usize>(), a.num_params());
        assert_eq!(parameter_distance(&a, &a), Some(0.0));
        // Another draw differs; a module of another shape does not compare.
        let b = config.init(&d);
        assert!(parameter_distance(&a, &b).unwrap() > 0.0);
        assert_eq!(parameter_distance(&a, &ConvEncoderConfig::new(1, vec![3], 2).init(&d)), None);
    }
}
