//! rme in the browser: the wasm-bindgen surface over `rme-core`. Every model, simulator,
//! estimator, metric and file format is `rme-core`'s, so the page runs the same code as the
//! CLI; this crate only converts between JavaScript values and core types.
//!
//! The page runs this module inside a Web Worker (`static/rme-worker.js`), so estimation
//! never blocks the main thread. Objects:
//! - [`Engine`]: the compute device (WebGPU or burn's CPU backend) and the loaded models.
//! - [`Scene`]: one slice of a simulated sample with its observed cells (`rme_core::scene`).
//! - [`Dataset`]: an uploaded measurement CSV and the grid it is estimated on.
//! - [`Problem`]: measurements + queries, taken from a scene or a dataset, for an estimate.
//!
//! Every fallible call returns a JavaScript `Error` whose message names the bad input; none
//! panics on user input (a panic would kill the worker).

mod engine;
mod render;

pub use engine::{Engine, EstimateOut, Problem};
pub use render::{colormap_rgba, png_bytes};

use rme_core::io::csv::{read_measurements, write_estimate, write_measurements};
use rme_core::models::grid::GridScene;
use rme_core::scene::{SliceTask, URBAN_PRESET, scene_map, urban_scene_with_tx};
use rme_core::sim::{DynamicPreset, DynamicSimulator, TxPin};
use rme_core::{Estimate, Grid, MeasurementSet, QuerySet, Result as CoreResult, RmeError};
use wasm_bindgen::prelude::*;

/// Most measurements an uploaded file may hold in the browser; larger sets belong to
/// `rme estimate`, where memory and time are not a page's.
pub const MAX_BROWSER_MEASUREMENTS: usize = 20_000;

/// Cells along the longer side of the grid an uploaded data set is estimated on.
pub const DATASET_GRID_CELLS: usize = 64;

pub(crate) fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Logs panics to the console before the worker dies (there should be none: this is the
/// last line of defence, which makes a bug visible instead of a silent hang).
#[wasm_bindgen(start)]
pub fn start() {
    #[cfg(target_arch = "wasm32")]
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("rme panicked: {info}").into());
    }));
}

/// Version of the rme crates in this bundle.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The classical methods the page offers beside the loaded models.
#[wasm_bindgen]
pub fn classical_methods() -> Vec<String> {
    engine::CLASSICAL.iter().map(|m| m.to_string()).collect()
}

/// Names of the scenes: the simulator presets D1–D7, then "urban" (a test city with
/// buildings and one transmitter, 128²).
#[wasm_bindgen]
pub fn presets() -> Vec<String> {
    rme_core::sim::PRESETS.iter().map(|p| p.name.to_string()).chain([URBAN_PRESET.to_string()]).collect()
}

/// sha256 of the scene of `seed` of a preset (D1–D7 or urban; [`rme_core::RadioMap::digest`]). The
/// browser tests compare it with the native value: the simulators are bit-for-bit the same
/// in WebAssembly.
#[wasm_bindgen]
pub fn simulator_digest(preset: &str, seed: u64) -> Result<String, JsError> {
    Ok(scene_map(preset, seed).map_err(js_error)?.digest())
}

/// One slice of a simulated sample (a dynamic preset, or the urban scene), the cells observed
/// in it, and its transmitters (any of which the user may move: the sample is then
/// re-simulated with it parked there).
#[wasm_bindgen]
#[derive(Debug)]
pub struct Scene {
    preset: String,
    seed: u64,
    pins: Vec<TxPin>,
    task: SliceTask,
}

#[wasm_bindgen]
impl Scene {
    /// Simulates sample `seed` of `preset` ("D1"…"D7"); starts at slot 0, band 0, with no
    /// observed cell.
    #[wasm_bindgen(constructor)]
    pub fn new(preset: &str, seed: u64) -> Result<Scene, JsError> {
        Scene::simulate(preset, seed).map_err(js_error)
    }

    #[wasm_bindgen(getter)]
    pub fn preset(&self) -> String {
        self.preset.clone()
    }

    /// Unit of the scene's values: "dBm" (received power) or "dB" (path gain, the urban scene).
    #[wasm_bindgen(getter)]
    pub fn unit(&self) -> String {
        if self.task.map.quantity == "path_gain_db" { "dB".into() } else { "dBm".into() }
    }

    /// Building mask of the scene, row-major (1 = building); empty when it has none.
    pub fn buildings(&self) -> Vec<u8> {
        self.task.map.buildings.clone().unwrap_or_default()
    }
    #[wasm_bindgen(getter)]
    pub fn seed(&self) -> u64 {
        self.seed
    }
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.task.map.grid.rows
    }
    #[wasm_bindgen(getter)]
    pub fn cols(&self) -> usize {
        self.task.map.grid.cols
    }
    #[wasm_bindgen(getter)]
    pub fn cell_size_m(&self) -> f64 {
        self.task.map.grid.cell_size_m
    }
    #[wasm_bindgen(getter)]
    pub fn slots(&self) -> usize {
        self.task.map.slots()
    }
    #[wasm_bindgen(getter)]
    pub fn bands(&self) -> usize {
        self.task.map.bands()
    }
    #[wasm_bindgen(getter)]
    pub fn slot(&self) -> usize {
        self.task.slot
    }
    #[wasm_bindgen(getter)]
    pub fn band(&self) -> usize {
        self.task.band
    }
    /// Time of the current slot, s.
    #[wasm_bindgen(getter)]
    pub fn t_s(&self) -> f64 {
        self.task.map.slots_s[self.task.slot]
    }
    /// Centre frequency of the current band, Hz.
    #[wasm_bindgen(getter)]
    pub fn freq_hz(&self) -> f64 {
        self.task.map.bands_hz[self.task.band]
    }

    /// Selects the slice shown and estimated; the observed cells stay.
    pub fn set_slice(&mut self, slot: usize, band: usize) -> Result<(), JsError> {
        self.try_set_slice(slot, band).map_err(js_error)
    }

    /// Observes `count` cells drawn at random from `seed` (the same cells as
    /// `rme demo --samples count --seed seed`).
    pub fn sample_random(&mut self, count: usize, seed: u64) -> Result<(), JsError> {
        self.task.sample_random(count, seed).map_err(js_error)
    }

    /// Observes exactly these cells (row-major indices).
    pub fn set_cells(&mut self, cells: Vec<u32>) -> Result<(), JsError> {
        self.task.set_cells(cells.into_iter().map(|c| c as usize).collect()).map_err(js_error)
    }

    /// Adds a measurement at the cell containing `(x_m, y_m)`, or removes the one there.
    /// Returns whether the cell is observed afterwards.
    pub fn toggle_at(&mut self, x_m: f64, y_m: f64) -> Result<bool, JsError> {
        self.try_toggle_at(x_m, y_m).map_err(js_error)
    }

    /// Observed cells, row-major indices.
    pub fn cells(&self) -> Vec<u32> {
        self.task.cells().iter().map(|&c| c as u32).collect()
    }

    /// Transmitters at the current slot: `[x_m, y_m, on]` per transmitter (`on` = 1 when it
    /// transmits in the current band).
    pub fn transmitters(&self) -> Vec<f64> {
        let (t, f) = (self.task.slot, self.task.band);
        self.task
            .map
            .tx
            .iter()
            .flat_map(|tx| {
                let p = tx.position(t).unwrap_or([f64::NAN; 3]);
                [p[0], p[1], if tx.is_active(t, f) { 1.0 } else { 0.0 }]
            })
            .collect()
    }

    /// Parks transmitter `index` at `(x_m, y_m)` and re-simulates the sample (the other
    /// transmitters and the fields are unchanged; the observed cells stay).
    pub fn move_transmitter(&mut self, index: usize, x_m: f64, y_m: f64) -> Result<(), JsError> {
        self.try_move_transmitter(index, x_m, y_m).map_err(js_error)
    }

    /// True power of the current slice, dBm, row-major (row 0 south).
    pub fn truth(&self) -> Vec<f32> {
        self.task.map.slice(self.task.slot, self.task.band).to_vec()
    }

    /// The observed measurements and a query at every cell of the slice, with the scene's
    /// grid and buildings for the grid models. In the urban scene the transmitter's position
    /// is known (it is drawn on the map).
    pub fn problem(&self) -> Problem {
        let scene = GridScene::new(self.task.map.grid, self.task.map.buildings.clone()).ok();
        Problem::new(self.task.measurements(), self.task.queries()).with_scene(scene)
    }

    /// RMSE (dB) of a full-slice estimate over the cells that are not observed.
    pub fn rmse(&self, estimate: &[f32]) -> Result<f64, JsError> {
        let e: Vec<f64> = estimate.iter().map(|&v| v as f64).collect();
        self.task.hidden_rmse(&e).map_err(js_error)
    }

    /// The observed measurements as a measurement CSV (FORMATS.md).
    pub fn measurements_csv(&self) -> String {
        write_measurements(&self.task.measurements())
    }

    /// A full-slice estimate as an estimate CSV (FORMATS.md).
    pub fn estimate_csv(&self, mean: &[f32], std: Option<Vec<f32>>) -> Result<String, JsError> {
        estimate_csv(&self.task.queries(), mean, std, "power_dbm").map_err(js_error)
    }

    /// Where to measure next: the cell (row-major) of largest σ among those outdoors and not
    /// yet measured, for `std`, a full-slice σ of the current estimate; `undefined` when no
    /// cell is left ([`rme_core::suggest_next`]).
    pub fn suggest_next(&self, std: &[f32], method: &str) -> Result<Option<u32>, JsError> {
        suggest_cell(std, &self.task.hidden(), method).map_err(js_error)
    }
}

/// [`rme_core::suggest_next`] over a full-grid σ from JavaScript, as a cell index.
fn suggest_cell(std: &[f32], candidates: &[usize], method: &str) -> CoreResult<Option<u32>> {
    let estimate = Estimate { mean: vec![0.0; std.len()], std: Some(std.iter().map(|&v| v as f64).collect()) };
    Ok(rme_core::suggest_next(&estimate, candidates, method)?.map(|s| s.query as u32))
}

/// The scene's operations with core errors (testable off the browser; the exported methods
/// above convert the error for JavaScript).
impl Scene {
    pub fn simulate(preset: &str, seed: u64) -> CoreResult<Scene> {
        let map = scene_map(preset, seed)?;
        Ok(Scene { preset: preset.to_string(), seed, pins: Vec::new(), task: SliceTask::new(map, 0, 0)? })
    }

    pub fn try_set_slice(&mut self, slot: usize, band: usize) -> CoreResult<()> {
        self.replace_task(self.task.map.clone(), slot, band)
    }

    /// Shows `map` at `(slot, band)`, keeping the observed cells.
    fn replace_task(&mut self, map: rme_core::RadioMap, slot: usize, band: usize) -> CoreResult<()> {
        let mut task = SliceTask::new(map, slot, band)?;
        task.set_cells(self.task.cells().to_vec())?;
        self.task = task;
        Ok(())
    }

    pub fn try_toggle_at(&mut self, x_m: f64, y_m: f64) -> CoreResult<bool> {
        let grid = &self.task.map.grid;
        let Some((r, c)) = grid.cell_of(x_m, y_m) else {
            let [w, h] = grid.extent_m();
            return Err(RmeError::invalid(
                "measurement position",
                format!("({x_m:.1}, {y_m:.1}) m is outside the {w:.0} m × {h:.0} m area"),
            ));
        };
        self.task.toggle(r * grid.cols + c)
    }

    pub fn try_move_transmitter(&mut self, index: usize, x_m: f64, y_m: f64) -> CoreResult<()> {
        if self.preset == URBAN_PRESET {
            if index != 0 {
                return Err(RmeError::invalid("transmitter", format!("the urban scene has one transmitter, not {}", index + 1)));
            }
            let map = urban_scene_with_tx(self.seed, x_m, y_m)?;
            return self.replace_task(map, 0, 0);
        }
        let mut pins: Vec<TxPin> = self.pins.iter().copied().filter(|p| p.index != index).collect();
        pins.push(TxPin { index, x_m, y_m });
        let map = DynamicSimulator::new(DynamicPreset::by_name(&self.preset)?)?.simulate_with(self.seed, &pins)?;
        self.replace_task(map, self.task.slot, self.task.band)?;
        self.pins = pins;
        Ok(())
    }
}

fn estimate_csv(query: &QuerySet, mean: &[f32], std: Option<Vec<f32>>, quantity: &str) -> CoreResult<String> {
    if mean.len() != query.len() || std.as_ref().is_some_and(|s| s.len() != query.len()) {
        return Err(RmeError::invalid("estimate", format!("{} values for {} queries", mean.len(), query.len())));
    }
    let est = Estimate { mean: mean.iter().map(|&v| v as f64).collect(), std: std.map(|s| s.iter().map(|&v| v as f64).collect()) };
    Ok(write_estimate(query, &est, quantity))
}

/// An uploaded measurement file and the grid it is estimated on (covering its points, with
/// at most `DATASET_GRID_CELLS` cells along the longer side), at the time and frequency of
/// its first row.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Dataset {
    name: String,
    obs: MeasurementSet,
    grid: Grid,
    notes: Vec<String>,
}

#[wasm_bindgen]
impl Dataset {
    /// Reads a measurement CSV (FORMATS.md); `name` names the file in errors.
    pub fn from_csv(text: &str, name: &str) -> Result<Dataset, JsError> {
        Dataset::read(text, name).map_err(js_error)
    }
}

impl Dataset {
    /// [`Dataset::from_csv`] with a core error.
    pub fn read(text: &str, name: &str) -> CoreResult<Dataset> {
        let (obs, report) = read_measurements(text, name, None)?;
        if obs.len() > MAX_BROWSER_MEASUREMENTS {
            return Err(RmeError::parse(
                name,
                None,
                format!(
                    "{} measurements; the browser estimates from at most {MAX_BROWSER_MEASUREMENTS} (use `rme estimate` for larger sets)",
                    obs.len()
                ),
            ));
        }
        let xy: Vec<[f64; 2]> = obs.points.iter().map(|p| [p.x_m, p.y_m]).collect();
        let span = |k: usize| {
            let (lo, hi) = xy.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p[k]), hi.max(p[k])));
            hi - lo
        };
        let longest = span(0).max(span(1));
        let cell = if longest > 0.0 { longest / (DATASET_GRID_CELLS - 1) as f64 } else { 1.0 };
        let grid = Grid::covering(&xy, cell)?;
        Ok(Dataset { name: name.to_string(), obs, grid, notes: report.notes() })
    }
}

#[wasm_bindgen]
impl Dataset {
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.name.clone()
    }
    #[wasm_bindgen(getter)]
    pub fn len(&self) -> usize {
        self.obs.len()
    }
    /// Never true for a data set that was read (an empty file is an error); here for
    /// completeness of the collection-like interface.
    #[wasm_bindgen(getter)]
    pub fn is_empty(&self) -> bool {
        self.obs.is_empty()
    }
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.grid.rows
    }
    #[wasm_bindgen(getter)]
    pub fn cols(&self) -> usize {
        self.grid.cols
    }
    #[wasm_bindgen(getter)]
    pub fn cell_size_m(&self) -> f64 {
        self.grid.cell_size_m
    }
    /// `[x, y]` of the outer corner of cell (0, 0), m.
    pub fn origin_m(&self) -> Vec<f64> {
        self.grid.origin_m.to_vec()
    }
    #[wasm_bindgen(getter)]
    pub fn quantity(&self) -> String {
        self.obs.quantity.clone()
    }
    /// What the reader noticed (merged duplicates, far points), one sentence each.
    pub fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
    /// `[x_m, y_m, value]` per measurement.
    pub fn points(&self) -> Vec<f64> {
        self.obs.points.iter().flat_map(|m| [m.x_m, m.y_m, m.value]).collect()
    }

    fn queries(&self) -> QuerySet {
        let first = self.obs.points[0];
        QuerySet::from_grid(&self.grid, first.t_s, first.freq_hz)
    }

    /// The measurements and a query at every grid cell (grid models estimate on this grid,
    /// without buildings).
    pub fn problem(&self) -> Problem {
        Problem::new(self.obs.clone(), self.queries()).with_scene(GridScene::new(self.grid, None).ok())
    }

    /// A grid estimate as an estimate CSV.
    pub fn estimate_csv(&self, mean: &[f32], std: Option<Vec<f32>>) -> Result<String, JsError> {
        estimate_csv(&self.queries(), mean, std, &self.obs.quantity).map_err(js_error)
    }

    /// Where to measure next: the grid cell (row-major) of largest σ among those that hold no
    /// measurement, for `std`, σ of the current estimate at every cell.
    pub fn suggest_next(&self, std: &[f32], method: &str) -> Result<Option<u32>, JsError> {
        suggest_cell(std, &self.free_cells(), method).map_err(js_error)
    }

    /// The grid cells that hold no measurement.
    fn free_cells(&self) -> Vec<usize> {
        let mut taken = vec![false; self.grid.len()];
        for m in &self.obs.points {
            if let Some((r, c)) = self.grid.cell_of(m.x_m, m.y_m) {
                taken[r * self.grid.cols + c] = true;
            }
        }
        (0..self.grid.len()).filter(|&c| !taken[c]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's suggestion is the unmeasured outdoor cell of largest kriging σ: never a
    /// measured cell or one inside a building.
    #[test]
    fn the_suggested_cell_is_free_and_of_largest_std() {
        let mut s = Scene::simulate(URBAN_PRESET, 1).unwrap();
        s.sample_random(40, 2).unwrap();
        let p = s.problem();
        let e = rme_core::classical_by_name("kriging", None).unwrap().estimate(&p.obs, &p.queries).unwrap();
        let std: Vec<f32> = e.std.unwrap().iter().map(|&v| v as f32).collect();
        let hidden = s.task.hidden();
        let cell = suggest_cell(&std, &hidden, "kriging").unwrap().unwrap() as usize;
        assert!(hidden.contains(&cell));
        let cols = s.task.map.grid.cols;
        assert!(!s.task.map.is_building(cell / cols, cell % cols));
        assert!(hidden.iter().all(|&c| std[c] <= std[cell]));
        // A measured cell may have a larger σ than the suggestion (σ is not 0 there with a
        // nugget), but it is never suggested; a method without σ is an error naming it.
        assert!(suggest_cell(&std, &[], "kriging").unwrap().is_none());
        let d = Dataset::read("x_m,y_m,power_dbm\n0,0,-50\n10,0,-60\n0,10,-55\n", "d.csv").unwrap();
        let free = d.free_cells();
        assert_eq!(free.len(), d.grid.len() - 3);
    }

    #[test]
    fn scene_sampling_matches_the_native_task() {
        let mut s = Scene::simulate("D1", 3).unwrap();
        s.sample_random(200, 3).unwrap();
        let mut native =
            SliceTask::new(DynamicSimulator::new(DynamicPreset::by_name("D1").unwrap()).unwrap().simulate(3).unwrap(), 0, 0).unwrap();
        native.sample_random(200, 3).unwrap();
        assert_eq!(s.cells(), native.cells().iter().map(|&c| c as u32).collect::<Vec<_>>());
        assert_eq!(s.truth().len(), 64 * 64);
    }

    #[test]
    fn toggling_and_slices_keep_the_cells() {
        let mut s = Scene::simulate("D2", 1).unwrap();
        assert!(s.try_toggle_at(10.0, 10.0).unwrap());
        s.try_set_slice(3, 0).unwrap();
        assert_eq!(s.cells().len(), 1);
        assert!(!s.try_toggle_at(10.0, 10.0).unwrap());
        assert!(s.cells().is_empty());
        assert!(s.try_set_slice(99, 0).is_err());
        assert!(s.try_toggle_at(-5.0, 10.0).unwrap_err().to_string().contains("outside"));
    }

    #[test]
    fn moving_a_transmitter_changes_the_truth() {
        let mut s = Scene::simulate("D1", 2).unwrap();
        let before = s.task.map.values.clone();
        s.try_move_transmitter(0, 128.0, 128.0).unwrap();
        assert_eq!(&s.transmitters()[0..2], &[128.0, 128.0]);
        // Somewhere (in the slots and bands where transmitter 0 is on) the power changed.
        assert_ne!(before, s.task.map.values);
        assert!(s.try_move_transmitter(50, 1.0, 1.0).is_err());
        assert!(s.try_move_transmitter(0, 1e6, 1.0).is_err());
    }

    #[test]
    fn uploaded_csv_good_and_bad() {
        let ok = Dataset::read("x_m,y_m,power_dbm\n0,0,-60\n10,0,-65\n0,10,-70\n", "ok.csv").unwrap();
        assert_eq!((ok.len(), ok.rows().max(ok.cols())), (3, DATASET_GRID_CELLS));
        assert_eq!(ok.problem().queries.len(), ok.rows() * ok.cols());
        let missing = Dataset::read("x_m,power_dbm\n0,-60\n", "bad.csv").unwrap_err().to_string();
        assert!(missing.contains("bad.csv"), "{missing}");
        let nan = Dataset::read("x_m,y_m,power_dbm\n0,0,NaN\n", "nan.csv").unwrap_err().to_string();
        assert!(nan.contains("nan.csv line 2"), "{nan}");
        let mut big = String::from("x_m,y_m,power_dbm\n");
        for i in 0..100_000 {
            big.push_str(&format!("{},{},-70\n", i % 1000, i / 1000));
        }
        let big = Dataset::read(&big, "big.csv").unwrap_err().to_string();
        assert!(big.contains("100000 measurements") && big.contains("at most 20000"), "{big}");
    }

    #[test]
    fn the_urban_scene_draws_buildings_and_moves_its_transmitter() {
        let mut s = Scene::simulate("urban", 1).unwrap();
        assert_eq!((s.rows(), s.cols(), s.buildings().len()), (128, 128, 128 * 128));
        let before = s.truth();
        let b = s.buildings();
        let free = (0..b.len()).rev().find(|&i| b[i] == 0).unwrap();
        let (x, y) = ((free % 128) as f64 * 2.0 + 1.0, (free / 128) as f64 * 2.0 + 1.0);
        s.try_move_transmitter(0, x, y).unwrap();
        assert_eq!(&s.transmitters()[0..2], &[x, y]);
        assert_ne!(before, s.truth());
        let inside = b.iter().position(|&v| v == 1).unwrap();
        let (xb, yb) = ((inside % 128) as f64 * 2.0 + 1.0, (inside / 128) as f64 * 2.0 + 1.0);
        assert!(s.try_move_transmitter(0, xb, yb).unwrap_err().to_string().contains("inside a building"));
        assert!(s.try_move_transmitter(1, x, y).unwrap_err().to_string().contains("one transmitter"));
        assert!(s.try_toggle_at(xb, yb).unwrap_err().to_string().contains("inside a building"));
        assert!(s.problem().scene.is_some());
    }
}
