//! `rme.simulate` and `rme.simulate_city`: the project's simulators, numpy out.

use crate::arrays::array_f32;
use crate::py_err;
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rme_core::RadioMap;
use rme_core::sim::dynamic::{DynamicPreset, DynamicSimulator};
use rme_core::sim::urban::{Split, UrbanSimulator};

/// The grid fields every simulated dict carries.
fn grid_fields(dict: &Bound<'_, PyDict>, map: &RadioMap) -> PyResult<()> {
    dict.set_item("cell_size_m", map.grid.cell_size_m)?;
    dict.set_item("origin_m", (map.grid.origin_m[0], map.grid.origin_m[1]))?;
    Ok(())
}

/// One sample of a dynamic spectrum preset (FM-RME's D1–D7), reproducible from `seed`.
///
/// Returns a dict: `values` float32 `[slots, bands, rows, cols]` (dBm), `slots_s`, `bands_hz`,
/// `cell_size_m`, `origin_m` (x, y of the grid's south-west corner), `tx` (a list of
/// `[slots, 3]` float64 arrays, each transmitter's position per slot) and `id`.
#[pyfunction]
#[pyo3(signature = (preset, seed = 0))]
pub fn simulate<'py>(py: Python<'py>, preset: &str, seed: u64) -> PyResult<Bound<'py, PyDict>> {
    let p = DynamicPreset::by_name(preset).map_err(py_err)?;
    let map = py.detach(|| DynamicSimulator::new(p).and_then(|s| s.simulate(seed))).map_err(py_err)?;
    let dict = PyDict::new(py);
    let [t, f, h, w] = map.shape();
    dict.set_item("values", array_f32(py, map.values.clone(), &[t, f, h, w])?)?;
    dict.set_item("slots_s", PyArray1::from_vec(py, map.slots_s.clone()))?;
    dict.set_item("bands_hz", PyArray1::from_vec(py, map.bands_hz.clone()))?;
    grid_fields(&dict, &map)?;
    let tracks: Vec<_> = map
        .tx
        .iter()
        .map(|tx| numpy::PyArray2::from_vec2(py, &tx.positions_m.iter().map(|p| p.to_vec()).collect::<Vec<_>>()).map_err(py_err))
        .collect::<PyResult<_>>()?;
    dict.set_item("tx", tracks)?;
    dict.set_item("id", &map.id)?;
    Ok(dict)
}

/// Maps of one city of the urban simulator (buildings, one transmitter per map, path gain in
/// dB): the `index`-th city of `split` ("train", "validation" or "test"; the splits never
/// share a city), on a `size`² grid, with `transmitters` maps whose transmitters are drawn
/// from seeds `seed`, `seed + 1`, ….
///
/// Returns a dict: `maps` float32 `[transmitters, size, size]` (dB), `buildings` uint8
/// `[size, size]` (1 = building), `tx` float64 `[transmitters, 3]` (x, y, height in metres),
/// `cell_size_m`, `origin_m` and `city` (its name).
#[pyfunction]
#[pyo3(signature = (index, split = "train", size = 128, transmitters = 1, seed = 0))]
pub fn simulate_city<'py>(
    py: Python<'py>,
    index: u64,
    split: &str,
    size: usize,
    transmitters: usize,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let split = Split::by_name(split).map_err(py_err)?;
    if !(1..=10_000).contains(&transmitters) {
        return Err(py_err(format!("transmitters: {transmitters} is not in 1…10000")));
    }
    let (city, maps) = py
        .detach(|| -> rme_core::Result<_> {
            let sim = UrbanSimulator::new(size)?;
            let city = sim.split_city(split, index)?;
            let maps = (0..transmitters as u64).map(|k| sim.simulate(&city, seed + k)).collect::<rme_core::Result<Vec<_>>>()?;
            Ok((city, maps))
        })
        .map_err(py_err)?;
    let dict = PyDict::new(py);
    let values: Vec<f32> = maps.iter().flat_map(|m| m.values.iter().copied()).collect();
    dict.set_item("maps", array_f32(py, values, &[transmitters, size, size])?)?;
    let buildings = numpy::ndarray::Array2::from_shape_vec((size, size), city.buildings.clone()).map_err(py_err)?;
    dict.set_item("buildings", numpy::IntoPyArray::into_pyarray(buildings, py))?;
    let tx: Vec<Vec<f64>> = maps.iter().map(|m| m.tx[0].positions_m[0].to_vec()).collect();
    dict.set_item("tx", numpy::PyArray2::from_vec2(py, &tx).map_err(py_err)?)?;
    grid_fields(&dict, &maps[0])?;
    dict.set_item("city", &city.name)?;
    Ok(dict)
}
