//! `rme.methods`, `rme.estimate` and `rme.evaluate`: any method of the project (the classical
//! ones, FM-RME, the grid models) behind its one `Estimator` interface, and the metrics.

use crate::arrays::points;
use crate::py_err;
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rme_core::map::{Grid, Measurement, MeasurementSet, Query, QuerySet};
use rme_core::{CLASSICAL_METHODS, RadioMap};
use rme_trainer::common::{estimator_for, grid_model_folders};
use std::path::Path;

/// The method names `estimate` accepts here: the classical ones, `fm-rme`, and every model
/// folder under `static/models` of the working directory (grid models need `city=`).
#[pyfunction]
pub fn methods() -> Vec<String> {
    let mut out: Vec<String> = CLASSICAL_METHODS.iter().map(|m| m.to_string()).collect();
    out.push("fm-rme".into());
    out.extend(grid_model_folders());
    out
}

/// The scene a grid model estimates on, from a `simulate_city` dict (its grid and buildings).
fn scene_of(city: &Bound<'_, PyDict>) -> PyResult<RadioMap> {
    let get = |k: &str| city.get_item(k)?.ok_or_else(|| py_err(format!("city: no '{k}' (pass a dict from rme.simulate_city)")));
    let buildings: PyReadonlyArray2<'_, u8> =
        get("buildings")?.extract().map_err(|_| py_err("city['buildings']: not a uint8 array [rows, cols]"))?;
    let cell: f64 = get("cell_size_m")?.extract()?;
    let origin: (f64, f64) = get("origin_m")?.extract()?;
    let b = buildings.as_array();
    let (rows, cols) = (b.shape()[0], b.shape()[1]);
    let grid = Grid::new(rows, cols, cell, [origin.0, origin.1]).map_err(py_err)?;
    let mut map = RadioMap::new("scene", grid, vec![0.0], vec![], vec![f32::NAN; rows * cols], "path_gain_db").map_err(py_err)?;
    map.buildings = Some(b.iter().map(|&v| (v != 0) as u8).collect());
    Ok(map)
}

/// `(mean, std)` as numpy arrays; `std` only for methods that have one.
type MeanAndStd<'py> = (Bound<'py, PyArray1<f64>>, Option<Bound<'py, PyArray1<f64>>>);

/// Estimates the field at `queries` (`[m, 2]`, x, y in metres) from measurements at `points`
/// (`[n, 2]`) with `values` (`[n]`, dBm or dB), by `method` (see `methods()`).
///
/// `weights` is a model folder (`model.bpk` + `manifest.json`) for `fm-rme` or a grid model
/// (default: the shipped one under `static/models`); `tx` the transmitter's `(x, y, height)`
/// where the method can use it (LDPL, universal kriging, the grid models); `city` a
/// `simulate_city` dict, required by the grid models (their grid and buildings); `t_s` and
/// `freq_hz` the time and frequency of every point and query.
///
/// Returns `(mean, std)`, each float64 `[m]`; `std` is None for methods without one.
#[pyfunction]
#[pyo3(signature = (points, values, queries, method = "kriging", weights = None, tx = None, city = None, t_s = 0.0, freq_hz = f64::NAN))]
pub fn estimate<'py>(
    py: Python<'py>,
    points: PyReadonlyArray2<'py, f64>,
    values: PyReadonlyArray1<'py, f64>,
    queries: PyReadonlyArray2<'py, f64>,
    method: &str,
    weights: Option<&str>,
    tx: Option<(f64, f64, f64)>,
    city: Option<Bound<'py, PyDict>>,
    t_s: f64,
    freq_hz: f64,
) -> PyResult<MeanAndStd<'py>> {
    let at = crate::arrays::points(&points, "points")?;
    let values = values.as_array().to_vec();
    if values.len() != at.len() {
        return Err(py_err(format!("values: {} of them for {} points", values.len(), at.len())));
    }
    let q = self::points(&queries, "queries")?;
    let mut obs = MeasurementSet::from_points(
        at.iter().zip(&values).map(|(p, &value)| Measurement { x_m: p[0], y_m: p[1], t_s, freq_hz, value }).collect(),
    );
    obs.tx_m = tx.map(|(x, y, z)| [x, y, z]);
    obs.validate().map_err(py_err)?;
    let query = QuerySet { points: q.iter().map(|p| Query { x_m: p[0], y_m: p[1], t_s, freq_hz }).collect() };
    query.validate().map_err(py_err)?;
    let scene = city.as_ref().map(scene_of).transpose()?;
    if let Some(s) = &scene {
        obs.quantity = s.quantity.clone();
    }
    // Loading the weights and estimating run without the GIL (other Python threads go on);
    // `{:#}` keeps the whole chain of what failed (e.g. which weights file, then why).
    let est = py
        .detach(|| -> Result<_, String> {
            let estimator = estimator_for(method, scene.as_ref(), weights.map(Path::new)).map_err(|e| format!("{e:#}"))?;
            estimator.estimate_checked(&obs, &query).map_err(|e| e.to_string())
        })
        .map_err(py_err)?;
    Ok((PyArray1::from_vec(py, est.mean), est.std.map(|s| PyArray1::from_vec(py, s))))
}

/// Scores `estimate` against `truth` (equal shapes; cells where the truth is NaN are left
/// out). Returns a dict: `rmse`, `mae`, `count`, `squared_error_sum` (so that scores of
/// several parties pool exactly: `sqrt(Σ sums / Σ counts)`).
#[pyfunction]
pub fn evaluate<'py>(
    py: Python<'py>,
    estimate: numpy::PyReadonlyArrayDyn<'py, f64>,
    truth: numpy::PyReadonlyArrayDyn<'py, f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let (e, t) = (estimate.as_array(), truth.as_array());
    if e.shape() != t.shape() {
        return Err(py_err(format!("estimate has shape {:?}, truth {:?}", e.shape(), t.shape())));
    }
    let (mut est, mut tru) = (Vec::new(), Vec::new());
    for (&a, &b) in e.iter().zip(t.iter()) {
        if !b.is_nan() {
            est.push(a);
            tru.push(b);
        }
    }
    let rmse = rme_core::metrics::rmse(&est, &tru).map_err(py_err)?;
    let mae = rme_core::metrics::mae(&est, &tru).map_err(py_err)?;
    let mut acc = rme_core::metrics::SquaredErrors::default();
    acc.extend(&est, &tru);
    let dict = PyDict::new(py);
    dict.set_item("rmse", rmse)?;
    dict.set_item("mae", mae)?;
    dict.set_item("count", acc.count())?;
    dict.set_item("squared_error_sum", acc.sum())?;
    Ok(dict)
}
