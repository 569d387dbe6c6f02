//! One slice (time slot, band) of a simulated sample with measurements at some of its cells:
//! the task that `rme demo`, the browser demo page and the widget all solve. It is written
//! once, here, so that an RMSE shown in the browser and one printed natively come from the
//! same sampling, the same measurement set and the same error definition.

use crate::error::{Result, RmeError};
use crate::map::{MeasurementSet, QuerySet, RadioMap};
use crate::metrics::rmse;
use crate::rng::Rng;
use crate::sim::urban::{Split, UrbanSimulator};
use crate::sim::{DynamicPreset, DynamicSimulator};

/// Mixed into the seed of "sample N cells at random", so that the sample set of seed `s` is
/// not correlated with the simulated scene of seed `s`.
const SAMPLING_STREAM: u64 = 0xDE30;

/// The preset name of the urban scene (beside D1–D7).
pub const URBAN_PRESET: &str = "urban";

/// Cells per side of the urban scene (the shipped grid models' size).
pub const URBAN_SCENE_CELLS: usize = 128;

/// The map of a demo scene: sample `seed` of a dynamic preset ("D1"…"D7"), or, for
/// [`URBAN_PRESET`], test city `seed` (a city no model trained on) with its transmitter drawn
/// from `seed`. `rme demo` and the page build their scenes here, so they show the same map.
pub fn scene_map(preset: &str, seed: u64) -> Result<RadioMap> {
    if preset == URBAN_PRESET {
        let sim = UrbanSimulator::new(URBAN_SCENE_CELLS)?;
        return sim.simulate(&sim.split_city(Split::Test, seed)?, seed);
    }
    DynamicSimulator::new(DynamicPreset::by_name(preset)?)?.simulate(seed)
}

/// The urban scene of `seed` with its transmitter moved to `(x_m, y_m)` (same height, same
/// clutter). Errors name a position outside the area or inside a building.
pub fn urban_scene_with_tx(seed: u64, x_m: f64, y_m: f64) -> Result<RadioMap> {
    let sim = UrbanSimulator::new(URBAN_SCENE_CELLS)?;
    let city = sim.split_city(Split::Test, seed)?;
    let drawn = sim.draw_transmitter(&city, seed)?;
    let mut map = sim.simulate_at(&city, [x_m, y_m, drawn[2]], seed)?;
    map.id = format!("{}_tx_at_{x_m:.1}_{y_m:.1}", city.name);
    Ok(map)
}

/// A slice of a simulated map and the cells of it that are observed.
#[derive(Clone, Debug)]
pub struct SliceTask {
    /// The simulated sample.
    pub map: RadioMap,
    /// The slice shown: time slot…
    pub slot: usize,
    /// …and band.
    pub band: usize,
    /// Observed cells (row-major index into the slice), sorted, without duplicates.
    cells: Vec<usize>,
}

impl SliceTask {
    /// The slice `(slot, band)` of `map`, with no cell observed yet.
    pub fn new(map: RadioMap, slot: usize, band: usize) -> Result<Self> {
        if slot >= map.slots() || band >= map.bands() {
            return Err(RmeError::invalid(
                "slice",
                format!("slot {slot} / band {band} is out of range ({} slots, {} bands)", map.slots(), map.bands()),
            ));
        }
        Ok(Self { map, slot, band, cells: Vec::new() })
    }

    /// Number of cells in the slice.
    pub fn len(&self) -> usize {
        self.map.grid.len()
    }

    /// True when no cell is observed.
    pub fn is_empty(&self) -> bool {
        self.map.grid.is_empty()
    }

    /// Observes `count` cells drawn uniformly without replacement from `seed` (replacing the
    /// current set). The same `(count, seed)` gives the same cells on every platform.
    pub fn sample_random(&mut self, count: usize, seed: u64) -> Result<()> {
        // Only cells with a truth (outside buildings) are measured; for a map without
        // buildings that is every cell, in order, so the draw is the one it always was.
        let valid = self.valid_cells();
        let n = valid.len();
        if count == 0 || count >= n {
            return Err(RmeError::invalid("samples", format!("{count} is not in 1..{n} (the slice has {n} cells with a value)")));
        }
        let mut rng = Rng::new(seed ^ SAMPLING_STREAM);
        self.set_cells(rng.choose_indices(n, count).into_iter().map(|k| valid[k]).collect())
    }

    /// Cells of the slice with a truth: finite, outside buildings.
    pub fn valid_cells(&self) -> Vec<usize> {
        let base = self.base();
        (0..self.len()).filter(|&c| self.map.is_valid_voxel(base + c)).collect()
    }

    /// Observes exactly `cells` (any order; duplicates are merged).
    pub fn set_cells(&mut self, mut cells: Vec<usize>) -> Result<()> {
        let n = self.len();
        if let Some(bad) = cells.iter().find(|&&c| c >= n) {
            return Err(RmeError::invalid("cell", format!("{bad} is outside the slice ({n} cells)")));
        }
        cells.sort_unstable();
        cells.dedup();
        self.cells = cells;
        Ok(())
    }

    /// Adds `cell` to the observed set, or removes it if it is there; returns whether it is
    /// observed afterwards.
    pub fn toggle(&mut self, cell: usize) -> Result<bool> {
        let n = self.len();
        if cell >= n {
            return Err(RmeError::invalid("cell", format!("{cell} is outside the slice ({n} cells)")));
        }
        if self.map.is_building(cell / self.map.grid.cols, cell % self.map.grid.cols) && self.cells.binary_search(&cell).is_err() {
            return Err(RmeError::invalid("measurement position", "it is inside a building (measurements are taken outdoors)"));
        }
        match self.cells.binary_search(&cell) {
            Ok(i) => {
                self.cells.remove(i);
                Ok(false)
            }
            Err(i) => {
                self.cells.insert(i, cell);
                Ok(true)
            }
        }
    }

    /// The observed cells (row-major indices of the grid).
    pub fn cells(&self) -> &[usize] {
        &self.cells
    }

    fn base(&self) -> usize {
        (self.slot * self.map.bands() + self.band) * self.len()
    }

    /// The measurements at the observed cells (with the transmitter position when the map
    /// has exactly one transmitter, as `RadioMap::measurements_at`).
    pub fn measurements(&self) -> MeasurementSet {
        let base = self.base();
        let voxels: Vec<usize> = self.cells.iter().map(|c| base + c).collect();
        self.map.measurements_at(&voxels)
    }

    /// A query at every cell of the slice, row-major.
    pub fn queries(&self) -> QuerySet {
        let base = self.base();
        let voxels: Vec<usize> = (base..base + self.len()).collect();
        self.map.queries_at(&voxels)
    }

    /// The true values of the slice, row-major.
    pub fn truth(&self) -> Vec<f64> {
        self.map.slice(self.slot, self.band).iter().map(|&v| v as f64).collect()
    }

    /// The cells with a truth (outside buildings) that are not observed.
    pub fn hidden(&self) -> Vec<usize> {
        self.valid_cells().into_iter().filter(|c| self.cells.binary_search(c).is_err()).collect()
    }

    /// RMSE (dB) of a full-slice estimate (row-major, one value per cell) over the cells that
    /// are not observed — the number every front end reports.
    pub fn hidden_rmse(&self, estimate: &[f64]) -> Result<f64> {
        if estimate.len() != self.len() {
            return Err(RmeError::invalid("estimate", format!("{} values for a slice of {} cells", estimate.len(), self.len())));
        }
        let truth = self.map.slice(self.slot, self.band);
        let hidden = self.hidden();
        let est: Vec<f64> = hidden.iter().map(|&c| estimate[c]).collect();
        let tru: Vec<f64> = hidden.iter().map(|&c| truth[c] as f64).collect();
        rmse(&est, &tru)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{DynamicPreset, DynamicSimulator};

    fn task() -> SliceTask {
        let map = DynamicSimulator::new(DynamicPreset::by_name("D1").unwrap()).unwrap().simulate(3).unwrap();
        SliceTask::new(map, 0, 1).unwrap()
    }

    #[test]
    fn random_sampling_is_reproducible_and_distinct() {
        let mut a = task();
        let mut b = task();
        a.sample_random(200, 9).unwrap();
        b.sample_random(200, 9).unwrap();
        assert_eq!(a.cells(), b.cells());
        assert_eq!(a.cells().len(), 200);
        assert_eq!(a.measurements().len(), 200);
        assert_eq!(a.hidden().len(), a.len() - 200);
        b.sample_random(200, 10).unwrap();
        assert_ne!(a.cells(), b.cells());
    }

    #[test]
    fn toggling_adds_then_removes() {
        let mut t = task();
        assert!(t.toggle(17).unwrap());
        assert!(t.toggle(3).unwrap());
        assert_eq!(t.cells(), &[3, 17]);
        assert!(!t.toggle(17).unwrap());
        assert_eq!(t.cells(), &[3]);
        assert!(t.toggle(t.len()).is_err());
        assert!(t.set_cells(vec![5, 5, 1]).is_ok());
        assert_eq!(t.cells(), &[1, 5]);
    }

    #[test]
    fn measurements_carry_the_slice_values() {
        let mut t = task();
        t.set_cells(vec![0, 65]).unwrap();
        let m = t.measurements();
        let truth = t.truth();
        assert_eq!(m.points[1].value, truth[65]);
        let q = t.queries();
        assert_eq!((q.points[65].x_m, q.points[65].y_m), (m.points[1].x_m, m.points[1].y_m));
        assert_eq!(m.points[0].freq_hz, t.map.bands_hz[1]);
    }

    #[test]
    fn hidden_rmse_ignores_observed_cells_hand_computed() {
        let mut t = task();
        t.set_cells(vec![0]).unwrap();
        let mut est = t.truth();
        est[0] += 100.0; // observed: not counted
        est[1] += 3.0;
        est[2] -= 4.0;
        let n = (t.len() - 1) as f64;
        let want = (25.0 / n).sqrt();
        assert!((t.hidden_rmse(&est).unwrap() - want).abs() < 1e-9);
        assert!(t.hidden_rmse(&est[1..]).is_err());
        assert!(t.sample_random(0, 1).is_err());
        assert!(SliceTask::new(t.map.clone(), 99, 0).is_err());
    }

    #[test]
    fn urban_scenes_sample_outdoors_and_score_outdoors() {
        let map = scene_map(URBAN_PRESET, 2).unwrap();
        let mut task = SliceTask::new(map, 0, 0).unwrap();
        task.sample_random(50, 2).unwrap();
        assert!(task.cells().iter().all(|&c| !task.map.is_building(c / 128, c % 128)));
        assert!(task.hidden().iter().all(|&c| !task.map.is_building(c / 128, c % 128)));
        let inside = (0..128 * 128).find(|&c| task.map.is_building(c / 128, c % 128)).unwrap();
        assert!(task.toggle(inside).unwrap_err().to_string().contains("inside a building"));
        let moved = urban_scene_with_tx(2, 3.0, 3.0);
        match moved {
            Ok(m) => assert_ne!(m.values, task.map.values),
            Err(e) => assert!(e.to_string().contains("inside a building"), "{e}"),
        }
        assert!(urban_scene_with_tx(2, -5.0, 3.0).unwrap_err().to_string().contains("outside"));
    }

    /// The urban scene of seed 1, bit for bit: the same constant is checked in WebAssembly by
    /// the browser tests (tests/e2e/demo.test.mjs), so native and wasm maps are identical.
    #[test]
    fn urban_scene_golden_digest() {
        assert_eq!(scene_map(URBAN_PRESET, 1).unwrap().digest(), URBAN_SEED1_DIGEST);
    }

    const URBAN_SEED1_DIGEST: &str = "acda03d1ee223b9cb4ac5670987cafe0fbfceef8a48a226b403fb48c50355104";
}
