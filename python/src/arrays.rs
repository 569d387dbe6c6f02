//! numpy ⇄ Rust conversions, each checking shapes and values and naming the argument.

use crate::py_err;
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArray2, PyReadonlyArray3, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rme_core::RadioMap;
use rme_core::map::{Grid, TxTrack};
use rme_core::models::pi_drme::params::FlatParameter;

/// An `[n, 2]` array of `(x, y)` metres as points.
pub fn points(array: &PyReadonlyArray2<'_, f64>, what: &str) -> PyResult<Vec<[f64; 2]>> {
    let view = array.as_array();
    if view.ncols() != 2 {
        return Err(py_err(format!("{what}: shape {:?}, expected [n, 2] (x, y in metres)", view.shape())));
    }
    let out: Vec<[f64; 2]> = view.rows().into_iter().map(|r| [r[0], r[1]]).collect();
    if let Some(i) = out.iter().position(|p| !(p[0].is_finite() && p[1].is_finite())) {
        return Err(py_err(format!("{what}: row {i} is not finite")));
    }
    Ok(out)
}

/// A float32 numpy array of `shape` holding `values`.
pub fn array_f32<'py>(py: Python<'py>, values: Vec<f32>, shape: &[usize]) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    Ok(ArrayD::from_shape_vec(IxDyn(shape), values).map_err(py_err)?.into_pyarray(py))
}

/// Named parameters as a `dict[str, numpy.ndarray]` (float32, their shapes), in module order.
pub fn parameters_to_dict<'py>(py: Python<'py>, params: Vec<FlatParameter>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for p in params {
        dict.set_item(&p.name, array_f32(py, p.values, &p.shape)?)?;
    }
    Ok(dict)
}

/// A `dict[str, numpy.ndarray]` of float32 or float64 arrays as named parameters.
pub fn parameters_from_dict(dict: &Bound<'_, PyDict>) -> PyResult<Vec<FlatParameter>> {
    let mut out = Vec::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let name: String = key.extract().map_err(|_| py_err("parameters: every key must be a str (a parameter's path)"))?;
        let (shape, values) = if let Ok(a) = value.extract::<PyReadonlyArrayDyn<'_, f32>>() {
            (a.shape().to_vec(), a.as_array().iter().copied().collect())
        } else if let Ok(a) = value.extract::<PyReadonlyArrayDyn<'_, f64>>() {
            (a.shape().to_vec(), a.as_array().iter().map(|&v| v as f32).collect())
        } else {
            return Err(py_err(format!("parameter {name}: not a float32 or float64 numpy array")));
        };
        out.push(FlatParameter { name, shape, values });
    }
    Ok(out)
}

/// Single-slice path-gain maps of one region from arrays: `maps [n, rows, cols]` (dB, NaN =
/// no value), `buildings [rows, cols]` (1 = building), `tx [n, 3]` (each map's transmitter,
/// metres), on a grid of `cell_size_m` from `origin_m`.
pub fn region_maps(
    maps: &PyReadonlyArray3<'_, f32>,
    buildings: &PyReadonlyArray2<'_, u8>,
    tx: &PyReadonlyArray2<'_, f64>,
    cell_size_m: f64,
    origin_m: (f64, f64),
) -> PyResult<Vec<RadioMap>> {
    let (m, b, t) = (maps.as_array(), buildings.as_array(), tx.as_array());
    let [n, rows, cols] = [m.shape()[0], m.shape()[1], m.shape()[2]];
    if n == 0 {
        return Err(py_err("maps: no map (shape [0, …])"));
    }
    if b.shape() != [rows, cols] {
        return Err(py_err(format!("buildings: shape {:?}, the maps are {rows}×{cols}", b.shape())));
    }
    if t.shape() != [n, 3] {
        return Err(py_err(format!("tx: shape {:?}, expected [{n}, 3] (one x, y, height per map)", t.shape())));
    }
    if let Some(i) = t.iter().position(|v| !v.is_finite()) {
        return Err(py_err(format!("tx: value {i} is not finite")));
    }
    let grid = Grid::new(rows, cols, cell_size_m, [origin_m.0, origin_m.1]).map_err(py_err)?;
    let mask: Vec<u8> = b.iter().map(|&v| (v != 0) as u8).collect();
    (0..n)
        .map(|k| {
            let values: Vec<f32> = m.index_axis(numpy::ndarray::Axis(0), k).iter().copied().collect();
            if values.iter().any(|v| v.is_infinite()) {
                return Err(py_err(format!("maps[{k}]: holds an infinite value (NaN marks a cell without a value)")));
            }
            let mut map = RadioMap::new(format!("map{k}"), grid, vec![0.0], vec![], values, "path_gain_db").map_err(py_err)?;
            map.buildings = Some(mask.clone());
            let p = [t[[k, 0]], t[[k, 1]], t[[k, 2]]];
            if grid.cell_of(p[0], p[1]).is_none() {
                return Err(py_err(format!("tx[{k}]: ({}, {}) is outside the grid", p[0], p[1])));
            }
            map.tx = vec![TxTrack { positions_m: vec![p], power_dbm: 0.0, bands: Vec::new(), active: Vec::new() }];
            Ok(map)
        })
        .collect()
}
