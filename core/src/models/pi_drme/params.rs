//! A module's parameters as named flat tensors: what PI-DRME exchanges (the shared encoder)
//! and what its constraint loss compares (the shared module against the global one).

use crate::error::{Result, RmeError};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::HashMap;

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

/// One parameter as plain numbers: what crosses the network (and the Python boundary).
#[derive(Clone, Debug, PartialEq)]
pub struct FlatParameter {
    /// Dotted path of the parameter in its module.
    pub name: String,
    /// The parameter's shape.
    pub shape: Vec<usize>,
    /// The values in row-major order (`shape`'s product of them).
    pub values: Vec<f32>,
}

impl FlatParameter {
    /// The parameter on `device`, as [`named_parameters`] gives it (not tracked by autodiff).
    pub fn to_named(&self, device: &Device) -> NamedParameter {
        NamedParameter {
            name: self.name.clone(),
            shape: self.shape.clone(),
            values: Tensor::from_data(TensorData::new(self.values.clone(), [self.values.len()]), device),
        }
    }
}

/// The float parameters of `module` whose path `keep` accepts, read back as plain numbers.
pub fn flat_parameters<M: Module>(module: &M, keep: impl Fn(&str) -> bool) -> Result<Vec<FlatParameter>> {
    named_parameters(module)
        .into_iter()
        .filter(|p| keep(&p.name))
        .map(|p| {
            let values =
                p.values.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| RmeError::numerical(&p.name, format!("{e:?}")))?;
            Ok(FlatParameter { name: p.name, shape: p.shape, values })
        })
        .collect()
}

/// Replaces the parameters of `module` named in `given` by their values. `given` must hold
/// exactly the parameters `keep` accepts, each with the module's shape: a missing, extra,
/// misshapen or non-finite one is an error naming it, and the module is then not returned
/// half-changed (it is consumed either way, as burn's mappers consume modules).
pub fn load_parameters<M: Module>(module: M, given: &[FlatParameter], keep: impl Fn(&str) -> bool) -> Result<M> {
    let expected: Vec<(String, Vec<usize>)> =
        named_parameters(&module).into_iter().filter(|p| keep(&p.name)).map(|p| (p.name, p.shape)).collect();
    let mut by_name: HashMap<&str, &FlatParameter> = HashMap::with_capacity(given.len());
    for p in given {
        if by_name.insert(p.name.as_str(), p).is_some() {
            return Err(RmeError::invalid(format!("parameter {}", p.name), "given twice"));
        }
    }
    for (name, shape) in &expected {
        let p = by_name.get(name.as_str()).ok_or_else(|| RmeError::invalid(format!("parameter {name}"), "missing"))?;
        if &p.shape != shape || p.values.len() != shape.iter().product::<usize>() {
            return Err(RmeError::invalid(
                format!("parameter {name}"),
                format!("shape {:?} with {} values, the module's is {shape:?}", p.shape, p.values.len()),
            ));
        }
        if p.values.iter().any(|v| !v.is_finite()) {
            return Err(RmeError::invalid(format!("parameter {name}"), "holds a non-finite value"));
        }
    }
    if let Some(extra) = given.iter().find(|p| !expected.iter().any(|(n, _)| n == &p.name)) {
        return Err(RmeError::invalid(format!("parameter {}", extra.name), "not one of the module's shared parameters"));
    }
    let mut loader = Loader { path: Vec::new(), given: by_name };
    Ok(module.map(&mut loader))
}

/// Puts checked values into the parameters it passes, keeping each one's id and whether it
/// requires gradients.
struct Loader<'a> {
    path: Vec<String>,
    given: HashMap<&'a str, &'a FlatParameter>,
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(p) = self.given.get(self.path.join(".").as_str()) else {
            return param;
        };
        param.map(|old| {
            let shape: [usize; D] = old.dims();
            let fresh = Tensor::<D>::from_data(TensorData::new(p.values.clone(), shape), &old.device());
            fresh.set_require_grad(old.is_require_grad())
        })
    }
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

    #[test]
    fn flat_parameters_load_into_another_draw_and_bad_ones_are_named() {
        let d = cpu();
        let config = ConvEncoderConfig::new(1, vec![2], 2);
        let (a, b) = (config.init(&d), config.init(&d));
        let all = |_: &str| true;
        let flat = flat_parameters(&a, all).unwrap();
        assert_eq!(flat.iter().map(|p| p.values.len()).sum::<usize>(), a.num_params());
        let loaded = load_parameters(b, &flat, all).unwrap();
        assert_eq!(parameter_distance(&a, &loaded), Some(0.0));
        // Only the latent block: the other parameters stay where they were.
        let latent = |n: &str| n.starts_with("latent.");
        let c = config.init(&d);
        let before = flat_parameters(&c, |n| !latent(n)).unwrap();
        let c = load_parameters(c, &flat_parameters(&a, latent).unwrap(), latent).unwrap();
        assert_eq!(flat_parameters(&c, latent).unwrap(), flat_parameters(&a, latent).unwrap());
        assert_eq!(flat_parameters(&c, |n| !latent(n)).unwrap(), before);
        // Missing, extra, misshapen, non-finite, twice.
        let err = |given: &[FlatParameter]| load_parameters(config.init(&d), given, all).unwrap_err().to_string();
        assert!(err(&flat[1..]).contains("missing"), "{}", err(&flat[1..]));
        let mut extra = flat.clone();
        extra.push(FlatParameter { name: "head.weight".into(), shape: vec![1], values: vec![0.0] });
        assert!(err(&extra).contains("head.weight"));
        let mut misshapen = flat.clone();
        misshapen[0].shape = vec![misshapen[0].values.len()];
        assert!(err(&misshapen).contains(&flat[0].name));
        let mut nan = flat.clone();
        nan[0].values[0] = f32::NAN;
        assert!(err(&nan).contains("non-finite"));
        let mut twice = flat.clone();
        twice.push(flat[0].clone());
        assert!(err(&twice).contains("twice"));
    }
}
