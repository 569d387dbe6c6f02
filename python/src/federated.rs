//! The PI-DRME federated client (`rme.PiDrmeClient`) and the server's starting parameters
//! (`rme.initial_parameters`). A client is a directory: its model (`model.bpk`) and what it
//! was made with (`client.json`) live there between the rounds, because Flower starts the
//! client's process anew for every message. Its maps stay with the caller (the Flower
//! ClientApp reads them from the same private directory); only the parameters its mode shares
//! leave it.

use crate::arrays::{parameters_from_dict, parameters_to_dict, region_maps};
use crate::py_err;
use burn::tensor::Device;
use numpy::{PyArrayMethods, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rme_core::RadioMap;
use rme_core::models::pi_drme::round::{ClientData, ClientSampling, Federation, RoundConfig, client_round, evaluate};
use rme_core::models::pi_drme::{PiDrme, PiDrmeConfig};
use rme_core::models::weights::{module_from_bytes, module_to_bytes};
use std::path::PathBuf;

/// What `client.json` records: a state directory belongs to one mode, architecture and seed.
fn identity(federation: Federation, config: &PiDrmeConfig, seed: u64) -> serde_json::Value {
    serde_json::json!({ "mode": federation.name(), "config": config, "seed": seed })
}

/// The network of `config` drawn from `seed` (the same draw on every machine).
fn fresh(config: &PiDrmeConfig, seed: u64, device: &Device) -> PiDrme {
    device.seed(seed);
    config.init(device)
}

/// The parameters the server starts round 1 from: those `mode` shares ("pi-drme": the shared
/// module's encoder; "fl-rme": everything; "standalone": nothing) of the `config` preset
/// ("small" or "paper") drawn from `seed`, as `dict[str, numpy.ndarray]` (float32).
#[pyfunction]
#[pyo3(signature = (mode, config = "small", seed = 0))]
pub fn initial_parameters<'py>(py: Python<'py>, mode: &str, config: &str, seed: u64) -> PyResult<Bound<'py, PyDict>> {
    let federation = Federation::by_name(mode).map_err(py_err)?;
    let config = PiDrmeConfig::preset(config).map_err(py_err)?;
    let params = federation.shared_parameters(&fresh(&config, seed, &Device::flex())).map_err(py_err)?;
    parameters_to_dict(py, params)
}

/// One federated client of PI-DRME (or of a baseline: `mode` "fl-rme" or "standalone").
///
/// `state_dir` keeps the client's model between rounds; `maps` `[n, rows, cols]` float32 (dB),
/// `buildings` uint8 `[rows, cols]` and `tx` float64 `[n, 3]` are its region's training maps
/// (a `simulate_city` dict has them), on a grid of `cell_size_m` from `origin_m`. `sampling`
/// says where its measurements are: "uniform:12.5%", "5%", "1-10%" (a share drawn per map) or a
/// count. `config` is the architecture preset, `seed` the client's own (its batches, and the
/// first draw of the modules that do not travel).
#[pyclass(module = "rme._rme")]
pub struct PiDrmeClient {
    state_dir: PathBuf,
    maps: Vec<RadioMap>,
    buildings: Vec<u8>,
    federation: Federation,
    sampling: ClientSampling,
    config: PiDrmeConfig,
    seed: u64,
}

impl PiDrmeClient {
    fn model_path(&self) -> PathBuf {
        self.state_dir.join("model.bpk")
    }

    /// The client's network on `device`: the one it kept, or a fresh draw before its first round.
    fn load(&self, device: &Device) -> rme_core::Result<PiDrme> {
        let net = fresh(&self.config, self.seed, device);
        let path = self.model_path();
        match std::fs::read(&path) {
            Ok(bytes) => module_from_bytes(net, &bytes, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(net),
            Err(e) => Err(rme_core::RmeError::parse(path.display().to_string(), None, e.to_string())),
        }
    }

    /// Writes the network beside its final name, then renames it: a crash leaves the last one.
    fn save(&self, net: &PiDrme) -> PyResult<()> {
        let bytes = module_to_bytes(net).map_err(py_err)?;
        let tmp = self.state_dir.join(format!(".model.bpk.{}.partial", std::process::id()));
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, self.model_path()))
            .map_err(|e| py_err(format!("{}: {e}", self.model_path().display())))
    }
}

/// Round settings from a Python dict: only [`RoundConfig`]'s fields, each a number.
fn round_settings(settings: Option<&Bound<'_, PyDict>>) -> PyResult<RoundConfig> {
    let mut json = serde_json::to_value(RoundConfig::new()).map_err(py_err)?;
    let fields = json.as_object_mut().ok_or_else(|| py_err("round settings are not an object"))?;
    if let Some(settings) = settings {
        for (key, value) in settings.iter() {
            let key: String = key.extract().map_err(|_| py_err("settings: keys must be str"))?;
            let Some(slot) = fields.get_mut(&key) else {
                let names: Vec<&String> = fields.keys().collect();
                return Err(py_err(format!("settings: unknown round setting '{key}' (one of {names:?})")));
            };
            let number: f64 = value.extract().map_err(|_| py_err(format!("settings['{key}']: not a number")))?;
            *slot = if slot.is_u64() {
                if number < 0.0 || number.fract() != 0.0 {
                    return Err(py_err(format!("settings['{key}']: {number} is not a whole number ≥ 0")));
                }
                serde_json::json!(number as u64)
            } else {
                serde_json::json!(number)
            };
        }
    }
    let config: RoundConfig = serde_json::from_value(json).map_err(py_err)?;
    config.validate().map_err(py_err)?;
    Ok(config)
}

#[pymethods]
impl PiDrmeClient {
    #[new]
    #[pyo3(signature = (state_dir, maps, buildings, tx, cell_size_m, origin_m = (0.0, 0.0), mode = "pi-drme", sampling = "uniform:12.5%", config = "small", seed = 0))]
    fn new(
        state_dir: &str,
        maps: PyReadonlyArray3<'_, f32>,
        buildings: PyReadonlyArray2<'_, u8>,
        tx: PyReadonlyArray2<'_, f64>,
        cell_size_m: f64,
        origin_m: (f64, f64),
        mode: &str,
        sampling: &str,
        config: &str,
        seed: u64,
    ) -> PyResult<Self> {
        let federation = Federation::by_name(mode).map_err(py_err)?;
        let sampling = ClientSampling::parse(sampling).map_err(py_err)?;
        let config = PiDrmeConfig::preset(config).map_err(py_err)?;
        let maps = region_maps(&maps, &buildings, &tx, cell_size_m, origin_m)?;
        let levels = 1usize << config.levels();
        if !maps[0].grid.rows.is_multiple_of(levels) || !maps[0].grid.cols.is_multiple_of(levels) {
            return Err(py_err(format!(
                "maps: {}×{} is not a multiple of {levels} (the model halves the grid {} times)",
                maps[0].grid.rows,
                maps[0].grid.cols,
                config.levels()
            )));
        }
        let state_dir = PathBuf::from(state_dir);
        std::fs::create_dir_all(&state_dir).map_err(|e| py_err(format!("state_dir {}: {e}", state_dir.display())))?;
        let who = identity(federation, &config, seed);
        let record = state_dir.join("client.json");
        match std::fs::read_to_string(&record) {
            Ok(text) => {
                let stored: serde_json::Value = serde_json::from_str(&text).map_err(|e| py_err(format!("{}: {e}", record.display())))?;
                if stored != who {
                    return Err(py_err(format!("{} belongs to a client {stored}, not {who}: use another state_dir", state_dir.display())));
                }
            }
            Err(_) => std::fs::write(&record, who.to_string()).map_err(|e| py_err(format!("{}: {e}", record.display())))?,
        }
        let buildings = maps[0].buildings.clone().unwrap_or_default();
        Ok(Self { state_dir, maps, buildings, federation, sampling, config, seed })
    }

    /// The parameters this client would send now (those its mode shares), `dict[str, ndarray]`.
    fn shared_parameters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let net = self.load(&Device::flex()).map_err(py_err)?;
        parameters_to_dict(py, self.federation.shared_parameters(&net).map_err(py_err)?)
    }

    /// Runs round `round` (1-based) from the server's `global_parameters` (None: keep the
    /// client's own, as a standalone client does), with `settings` overriding the round's
    /// defaults (batch, lr, tau, window, individual_steps, shared_steps, mu_gradient,
    /// mu_constraint). Keeps the trained model in `state_dir` and returns
    /// `(parameters to send, metrics)`; the metrics include `num-examples` (the client's maps)
    /// for the server's weighted average.
    #[pyo3(signature = (global_parameters, round, settings = None))]
    fn train_round<'py>(
        &self,
        py: Python<'py>,
        global_parameters: Option<Bound<'py, PyDict>>,
        round: u64,
        settings: Option<Bound<'py, PyDict>>,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
        let global = global_parameters.as_ref().map(parameters_from_dict).transpose()?;
        let settings = round_settings(settings.as_ref())?;
        let device = Device::flex().autodiff();
        let (net, report) = py
            .detach(|| {
                let net = self.load(&device)?;
                let data = ClientData { maps: &self.maps, sampling: self.sampling, seed: self.seed };
                client_round(net, global.as_deref(), self.federation, &data, &settings, round, &device)
            })
            .map_err(py_err)?;
        self.save(&net)?;
        let sent = parameters_to_dict(py, self.federation.shared_parameters(&net).map_err(py_err)?)?;
        let metrics = PyDict::new(py);
        metrics.set_item("num-examples", self.maps.len())?;
        metrics.set_item("individual-steps", report.individual_steps)?;
        metrics.set_item("shared-steps", report.shared_steps)?;
        metrics.set_item("loss-reconstruction", report.reconstruction)?;
        metrics.set_item("loss-gradient", report.gradient)?;
        metrics.set_item("loss-constraint", report.constraint)?;
        metrics.set_item("individual-moved", report.individual_moved)?;
        Ok((sent, metrics))
    }

    /// Scores the client's model on `maps` `[n, rows, cols]` (its region's test maps: the same
    /// buildings) with transmitters `tx` `[n, 3]`, measured where `sampling` (default: the
    /// client's) says, drawn from `seed`. Returns a dict: `rmse_db`, `count`,
    /// `squared_error_sum`, `num-examples`.
    #[pyo3(signature = (maps, tx, sampling = None, seed = 0))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        maps: PyReadonlyArray3<'py, f32>,
        tx: PyReadonlyArray2<'py, f64>,
        sampling: Option<&str>,
        seed: u64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let sampling = sampling.map(ClientSampling::parse).transpose().map_err(py_err)?.unwrap_or(self.sampling);
        let grid = self.maps[0].grid;
        let [rows, cols] = [grid.rows, grid.cols];
        let buildings = numpy::ndarray::Array2::from_shape_vec((rows, cols), self.buildings.clone()).map_err(py_err)?;
        let buildings = numpy::IntoPyArray::into_pyarray(buildings, py).readonly();
        let test = region_maps(&maps, &buildings, &tx, grid.cell_size_m, (grid.origin_m[0], grid.origin_m[1]))?;
        let device = Device::flex();
        let errors = py.detach(|| self.load(&device).and_then(|net| evaluate(&net, &test, sampling, seed, &device))).map_err(py_err)?;
        let dict = PyDict::new(py);
        dict.set_item("rmse_db", errors.rmse())?;
        dict.set_item("count", errors.count())?;
        dict.set_item("squared_error_sum", errors.sum())?;
        dict.set_item("num-examples", test.len())?;
        Ok(dict)
    }

    /// The directory the client keeps its model in.
    #[getter]
    fn state_dir(&self) -> String {
        self.state_dir.display().to_string()
    }

    /// Its mode: "pi-drme", "fl-rme" or "standalone".
    #[getter]
    fn mode(&self) -> &'static str {
        self.federation.name()
    }
}
