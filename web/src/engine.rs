//! The compute engine: a burn device (WebGPU, or burn's CPU backend compiled to wasm), the
//! models loaded on it (FM-RME, STORM, and the grid models: autoencoder, RadioUNet,
//! RadioDUN), and estimation
//! of a [`Problem`] by any method.

use crate::js_error;
use burn::tensor::Device;
use js_sys::Promise;
use rme_core::models::fm_rme::{DEFAULT_BATCH_GROUPS, FmRmeEstimator, load_fm_rme};
use rme_core::models::grid::{GridInputs, GridScene, answer_queries, check_queries, denormalise_db};
use rme_core::models::grid_nets::{GRID_KINDS, LoadedGridModel, load_grid_model};
use rme_core::models::storm::weights::KIND as STORM_KIND;
use rme_core::models::storm::{StormMethod, load_storm};
use rme_core::models::weights::Manifest;
use rme_core::{Estimate, Measurement, MeasurementSet, Query, QuerySet, Result as CoreResult, RmeError, classical_by_name};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// The classical methods the page offers (the oracle needs the simulator's hidden model and
/// is left to `rme eval`).
pub const CLASSICAL: [&str; 3] = ["kriging", "idw", "ldpl"];

/// Measurements and the points to estimate at, and the grid (with buildings, where the
/// scene has them) that grid models estimate on.
#[wasm_bindgen]
pub struct Problem {
    pub(crate) obs: MeasurementSet,
    pub(crate) queries: QuerySet,
    pub(crate) scene: Option<GridScene>,
}

impl Problem {
    pub fn new(obs: MeasurementSet, queries: QuerySet) -> Self {
        Self { obs, queries, scene: None }
    }

    /// The same problem with a grid scene for the grid models.
    pub fn with_scene(mut self, scene: Option<GridScene>) -> Self {
        self.scene = scene;
        self
    }
}

/// A loaded model: FM-RME or STORM (gridless) or a grid model.
enum LoadedModel {
    FmRme(Rc<FmRmeEstimator>),
    Storm(Rc<StormMethod>),
    Grid(Rc<LoadedGridModel>),
}

impl Clone for LoadedModel {
    fn clone(&self) -> Self {
        match self {
            Self::FmRme(m) => Self::FmRme(m.clone()),
            Self::Storm(m) => Self::Storm(m.clone()),
            Self::Grid(m) => Self::Grid(m.clone()),
        }
    }
}

#[wasm_bindgen]
impl Problem {
    #[wasm_bindgen(getter)]
    pub fn measurements(&self) -> usize {
        self.obs.len()
    }
    #[wasm_bindgen(getter)]
    pub fn queries(&self) -> usize {
        self.queries.len()
    }
}

/// An estimate: the mean at every query (dBm) and, where the method gives one, σ (dB).
#[wasm_bindgen]
pub struct EstimateOut {
    mean: Vec<f32>,
    std: Option<Vec<f32>>,
}

#[wasm_bindgen]
impl EstimateOut {
    #[wasm_bindgen(getter)]
    pub fn mean(&self) -> Vec<f32> {
        self.mean.clone()
    }
    #[wasm_bindgen(getter)]
    pub fn std(&self) -> Option<Vec<f32>> {
        self.std.clone()
    }
}

impl From<Estimate> for EstimateOut {
    fn from(e: Estimate) -> Self {
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        Self { mean: f(&e.mean), std: e.std.as_deref().map(f) }
    }
}

/// What `load_model` reports.
#[derive(Serialize)]
struct ModelInfo {
    name: String,
    kind: String,
    params: usize,
    sha256: String,
    trained_on: String,
    hardware: String,
    steps: u64,
}

/// The WebGPU engine's backend name.
const WEBGPU: &str = "webgpu";

/// FM-RME's groups per pass on WebGPU: a 64² map's 16 tiles in one (its attention scores,
/// 16 × 4 heads × 640² floats, are 105 MB).
const WEBGPU_BATCH_GROUPS: usize = 16;

struct Inner {
    device: Device,
    backend: String,
    models: RefCell<BTreeMap<String, LoadedModel>>,
}

/// A compute device and the models loaded on it. Cloning shares them.
#[wasm_bindgen]
#[derive(Clone)]
pub struct Engine {
    inner: Rc<Inner>,
}

impl Engine {
    pub fn with_device(device: Device, backend: &str) -> Self {
        Self { inner: Rc::new(Inner { device, backend: backend.into(), models: RefCell::new(BTreeMap::new()) }) }
    }

    /// Checks `bytes` against the manifest (kind, sha256, config, parameter count), decodes
    /// them on this engine's device and registers the model under `name`.
    pub fn add_model(&self, name: &str, manifest_text: &str, bytes: &[u8]) -> CoreResult<()> {
        let file = format!("{name}/model.bpk");
        let manifest = Manifest::parse(manifest_text, &format!("{name}/manifest.json"))?;
        let loaded = if GRID_KINDS.contains(&manifest.kind.as_str()) {
            // Labelled with the name the page uses.
            let m = Manifest { name: name.to_string(), ..manifest };
            LoadedModel::Grid(Rc::new(load_grid_model(&m, bytes, &self.inner.device, &file)?))
        } else if manifest.kind == STORM_KIND {
            let (model, config) = load_storm(&manifest, bytes, &self.inner.device, &file)?;
            LoadedModel::Storm(Rc::new(StormMethod::new(model, config, self.inner.device.clone(), name)?))
        } else {
            let (model, config, context) = load_fm_rme(&manifest, bytes, &self.inner.device, &file)?;
            let estimator = FmRmeEstimator::new(model, config, context, self.inner.device.clone(), name)?;
            // On a GPU every pass is a dispatch and an asynchronous read-back that waits a frame:
            // a 64² map's 16 groups go in one pass there; on the CPU padded batches are slower.
            let batch_groups = if self.inner.backend == WEBGPU { WEBGPU_BATCH_GROUPS } else { DEFAULT_BATCH_GROUPS };
            LoadedModel::FmRme(Rc::new(estimator.with_batch_groups(batch_groups)))
        };
        self.inner.models.borrow_mut().insert(name.to_string(), loaded);
        Ok(())
    }

    fn info(&self, name: &str, manifest_text: &str) -> CoreResult<ModelInfo> {
        let m = Manifest::parse(manifest_text, &format!("{name}/manifest.json"))?;
        Ok(ModelInfo {
            name: name.into(),
            kind: m.kind,
            params: m.params,
            sha256: m.sha256,
            trained_on: m.trained_on,
            hardware: m.hardware,
            steps: m.steps,
        })
    }

    /// Estimates `problem` with `method`: a loaded model's name or one of [`CLASSICAL`].
    /// Model outputs are read back asynchronously (required on WebGPU).
    pub async fn run(&self, method: &str, problem: &Problem) -> CoreResult<Estimate> {
        if problem.obs.is_empty() {
            return Err(RmeError::Empty("measurement set (add measurements first)".into()));
        }
        let model = self.inner.models.borrow().get(method).cloned();
        let estimate = match model {
            Some(LoadedModel::FmRme(m)) => m.estimate_async(&problem.obs, &problem.queries).await,
            Some(LoadedModel::Storm(m)) => m.estimate_async(&problem.obs, &problem.queries).await,
            Some(LoadedModel::Grid(m)) => {
                let scene =
                    problem.scene.as_ref().ok_or_else(|| RmeError::unsupported(method, "grid models need a grid to estimate on"))?;
                grid_estimate(&m, scene, problem).await
            }
            None if CLASSICAL.contains(&method) => classical_by_name(method, None)?.estimate(&problem.obs, &problem.queries),
            None => Err(RmeError::invalid(
                "method",
                format!("'{method}' is neither a loaded model ({}) nor one of {}", self.model_names().join(", "), CLASSICAL.join(", ")),
            )),
        }?;
        estimate.check_finite(&problem.queries, method)?;
        Ok(estimate)
    }

    pub fn model_names(&self) -> Vec<String> {
        self.inner.models.borrow().keys().cloned().collect()
    }

    /// Runs a model once on a small synthetic set, so that the first user estimate does not
    /// pay for shader compilation (WebGPU) or first-touch allocation. Grid models run on the
    /// urban scene's 128² grid (the shapes the page uses).
    pub async fn warm_up(&self, name: &str) -> CoreResult<()> {
        let scene = rme_core::Grid::new(rme_core::scene::URBAN_SCENE_CELLS, rme_core::scene::URBAN_SCENE_CELLS, 2.0, [0.0, 0.0])
            .and_then(|g| GridScene::new(g, None))?;
        let points: Vec<Measurement> = (0..48)
            .map(|i| Measurement {
                x_m: (i % 8) as f64 * 8.0,
                y_m: (i / 8) as f64 * 8.0,
                t_s: 0.0,
                freq_hz: 3.5e9,
                value: -60.0 - (i % 7) as f64,
            })
            .collect();
        let queries = QuerySet { points: (0..32).map(|i| Query { x_m: i as f64 * 2.0, y_m: 20.0, t_s: 0.0, freq_hz: 3.5e9 }).collect() };
        let problem = Problem::new(MeasurementSet::from_points(points), queries).with_scene(Some(scene));
        let e = self.run(name, &problem).await?;
        if e.mean.iter().all(|v| v.is_finite()) {
            Ok(())
        } else {
            Err(RmeError::numerical(name, "the warm-up estimate is not finite (weights or backend broken)"))
        }
    }
}

/// A grid model's estimate of `problem` on `scene`: rasterise, run (reading back
/// asynchronously), answer every query by bilinear interpolation — what
/// `rme_core::models::grid::GridEstimator` does natively.
async fn grid_estimate(model: &LoadedGridModel, scene: &GridScene, problem: &Problem) -> CoreResult<Estimate> {
    check_queries(&scene.grid, &problem.queries)?;
    let inputs = GridInputs::from_measurements(scene, &problem.obs)?;
    let dense: Vec<f64> = model.predict_async(&inputs).await?.into_iter().map(denormalise_db).collect();
    Ok(answer_queries(&scene.grid, &dense, &problem.queries))
}

#[wasm_bindgen]
impl Engine {
    /// burn's CPU backend (flex) compiled to WebAssembly.
    pub fn cpu() -> Engine {
        Engine::with_device(Device::flex(), "cpu (flex, wasm)")
    }

    /// WebGPU through burn's wgpu runtime. Resolves to an `Engine`; rejects (no panic) when
    /// the browser has no WebGPU adapter — the cue to fall back to `Engine.cpu()`.
    #[cfg(feature = "webgpu")]
    pub fn webgpu() -> Promise {
        future_to_promise(async move {
            let device = Device::wgpu_options()
                .graphics_api(burn::tensor::wgpu::WgpuBackend::WebGpu)
                .init_async()
                .await
                .map_err(|e| JsValue::from(js_error(format!("WebGPU is not available: {e:?}"))))?;
            Ok(JsValue::from(Engine::with_device(device, WEBGPU)))
        })
    }

    /// Which backend runs: "webgpu" or "cpu (flex, wasm)".
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.inner.backend.clone()
    }

    /// Names of the loaded models.
    pub fn models(&self) -> Vec<String> {
        self.model_names()
    }

    /// Checks, decodes and warms up a model (`bytes` = `model.bpk`, `manifest` = the text of
    /// `manifest.json`). Resolves to `{name, kind, params, sha256, …}`; rejects with a message
    /// naming the file when the hash, config or tensors do not match.
    pub fn load_model(&self, name: String, manifest: String, bytes: Vec<u8>) -> Promise {
        let engine = self.clone();
        future_to_promise(async move {
            let err = |e: RmeError| JsValue::from(js_error(e));
            engine.add_model(&name, &manifest, &bytes).map_err(err)?;
            engine.warm_up(&name).await.map_err(err)?;
            let info = engine.info(&name, &manifest).map_err(err)?;
            serde_wasm_bindgen::to_value(&info).map_err(|e| JsValue::from(js_error(e)))
        })
    }

    /// Estimates `problem` with `method` (a loaded model's name, "kriging", "idw" or
    /// "ldpl"). Resolves to an `EstimateOut`.
    pub fn estimate(&self, method: String, problem: Problem) -> Promise {
        let engine = self.clone();
        future_to_promise(async move {
            let e = engine.run(&method, &problem).await.map_err(|e| JsValue::from(js_error(e)))?;
            Ok(JsValue::from(EstimateOut::from(e)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{TensorData, Tolerance};
    use rme_core::Estimator;
    use rme_core::models::fm_rme::{ContextConfig, FmRme, FmRmeConfig};
    use rme_core::models::weights::shipped;

    /// Polls a future that never waits (CPU backend) to completion.
    fn ready<F: std::future::Future>(f: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    /// The shipped form of `model`: stamped bytes and their manifest's JSON.
    fn shipped_form(model: &FmRme, cfg: &FmRmeConfig) -> (Vec<u8>, String) {
        let (bytes, manifest) = shipped(model, "t", "fm-rme", serde_json::to_value(cfg).unwrap(), None).unwrap();
        (bytes, serde_json::to_string(&manifest).unwrap())
    }

    /// The page's path (manifest checks, decoding, async read-back) gives the native
    /// estimator's numbers. The model has random output layers, so its estimate depends on
    /// every layer of the network, not only on the interpolation baseline.
    #[test]
    fn loads_a_model_and_matches_the_native_estimator() {
        let engine = Engine::cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&Device::flex()).with_random_output_layers(&Device::flex());
        let (bytes, manifest) = shipped_form(&model, &cfg);
        engine.add_model("tiny", &manifest, &bytes).unwrap();
        ready(engine.warm_up("tiny")).unwrap();
        let mut scene = crate::Scene::simulate("D1", 4).unwrap();
        scene.sample_random(100, 4).unwrap();
        let problem = scene.problem();
        let web = ready(engine.run("tiny", &problem)).unwrap();
        let native = FmRmeEstimator::new(model, cfg.clone(), ContextConfig::new(), Device::flex(), "tiny").unwrap();
        let native = native.estimate(&problem.obs, &problem.queries).unwrap();
        let as_data = |v: &[f64]| TensorData::new(v.iter().map(|&x| x as f32).collect(), [v.len()]);
        as_data(&web.mean).assert_approx_eq::<f32>(&as_data(&native.mean), Tolerance::absolute(1e-4));
        // The trained part matters: the bare interpolation baseline gives other numbers.
        let baseline = FmRmeEstimator::new(cfg.init(&Device::flex()), cfg, ContextConfig::new(), Device::flex(), "base").unwrap();
        let baseline = baseline.estimate(&problem.obs, &problem.queries).unwrap();
        let gap = web.mean.iter().zip(&baseline.mean).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(gap > 1e-2, "the model's estimate equals its baseline (gap {gap} dB)");
        let k = ready(engine.run("kriging", &problem)).unwrap();
        assert_eq!(k.mean.len(), 64 * 64);
    }

    /// STORM through the page's path (manifest checks, async read-back) gives the native
    /// estimator's numbers, σ included.
    #[test]
    fn storm_matches_the_native_estimator() {
        use rme_core::models::storm::StormConfig;
        let engine = Engine::cpu();
        let cfg = StormConfig::tiny();
        let model = cfg.init(&Device::flex()).with_random_heads(&Device::flex());
        let (bytes, manifest) = shipped(&model, "storm", "storm", serde_json::to_value(&cfg).unwrap(), None).unwrap();
        engine.add_model("storm", &serde_json::to_string(&manifest).unwrap(), &bytes).unwrap();
        ready(engine.warm_up("storm")).unwrap();
        let mut scene = crate::Scene::simulate("D1", 4).unwrap();
        scene.sample_random(100, 4).unwrap();
        let problem = scene.problem();
        let web = ready(engine.run("storm", &problem)).unwrap();
        let native = StormMethod::new(model, cfg, Device::flex(), "storm").unwrap().into_estimator();
        let native = native.estimate(&problem.obs, &problem.queries).unwrap();
        assert_eq!(web, native);
        assert!(web.std.is_some());
    }

    #[test]
    fn bad_weights_and_methods_are_errors() {
        let engine = Engine::cpu();
        let cfg = FmRmeConfig::tiny();
        let model = cfg.init(&Device::flex());
        let (mut bytes, manifest) = shipped_form(&model, &cfg);
        let n = bytes.len();
        bytes[n / 2] ^= 0x55;
        let e = engine.add_model("tiny", &manifest, &bytes).unwrap_err().to_string();
        assert!(e.contains("tiny/model.bpk") && e.contains("sha256"), "{e}");
        assert!(engine.add_model("tiny", "{", &bytes).unwrap_err().to_string().contains("tiny/manifest.json"));
        let mut scene = crate::Scene::simulate("D1", 4).unwrap();
        let empty = ready(engine.run("kriging", &scene.problem())).unwrap_err().to_string();
        assert!(empty.contains("empty"), "{empty}");
        scene.sample_random(10, 1).unwrap();
        let unknown = ready(engine.run("fm-rme-huge", &scene.problem())).unwrap_err().to_string();
        assert!(unknown.contains("fm-rme-huge"), "{unknown}");
    }
}
