//! `rme._rme`: the Python extension module over `rme-core` and `rme-trainer`. Arrays come in
//! and go out as numpy arrays; every failure is an `rme.RmeError` (a `ValueError`) carrying
//! the Rust message, never a panic across the boundary. The package `rme` (python/rme/)
//! re-exports these functions with their type hints.

mod arrays;
mod estimate;
mod federated;
mod simulate;

use pyo3::prelude::*;

pyo3::create_exception!(
    _rme,
    RmeError,
    pyo3::exceptions::PyValueError,
    "An rme error: bad input, a bad file, or a failed computation; the message names the thing."
);

/// Any error of the Rust side as an [`RmeError`].
pub(crate) fn py_err(e: impl std::fmt::Display) -> PyErr {
    RmeError::new_err(e.to_string())
}

#[pymodule]
fn _rme(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RmeError", m.py().get_type::<RmeError>())?;
    m.add_function(wrap_pyfunction!(simulate::simulate, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::simulate_city, m)?)?;
    m.add_function(wrap_pyfunction!(estimate::methods, m)?)?;
    m.add_function(wrap_pyfunction!(estimate::estimate, m)?)?;
    m.add_function(wrap_pyfunction!(estimate::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(federated::initial_parameters, m)?)?;
    m.add_class::<federated::PiDrmeClient>()?;
    Ok(())
}
