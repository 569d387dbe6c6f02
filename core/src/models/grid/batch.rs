//! Batches of grid models: the rasterised input planes of several scenes stacked into
//! `[batch, 1, rows, cols]` tensors, and, for training, the target maps with the cells the
//! loss counts.

use super::{GridInputs, normalise_db};
use crate::error::{Result, RmeError};
use crate::map::{MeasurementSet, RadioMap};
use burn::tensor::{Device, Tensor, TensorData};

/// Input planes of a batch, each `[batch, 1, rows, cols]`.
#[derive(Clone, Debug)]
pub struct GridBatch {
    /// Normalised mean sample per cell (0 where unsampled).
    pub samples: Tensor<4>,
    /// 1 where sampled.
    pub mask: Tensor<4>,
    /// 1 = building.
    pub buildings: Tensor<4>,
    /// Distance from the transmitter (or from the grid's corner when unknown), in diagonals.
    pub distance: Tensor<4>,
    /// The statistical model's estimate ([`super::ldpl_trend`]), normalised.
    pub trend: Tensor<4>,
    /// The fitted log-distance law alone ([`super::ldpl_law`]), normalised.
    pub law: Tensor<4>,
}

fn plane(values: Vec<f32>, batch: usize, rows: usize, cols: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, [batch, 1, rows, cols]), device)
}

impl GridBatch {
    /// Stacks the inputs of several scenes; all must share one grid shape.
    pub fn new(inputs: &[&GridInputs], device: &Device) -> Result<Self> {
        let first = inputs.first().ok_or_else(|| RmeError::Empty("batch of grid inputs".into()))?;
        let (rows, cols) = (first.grid.rows, first.grid.cols);
        if let Some(other) = inputs.iter().find(|i| i.grid.rows != rows || i.grid.cols != cols) {
            return Err(RmeError::invalid(
                "batch",
                format!("grids {rows}x{cols} and {}x{} in one batch", other.grid.rows, other.grid.cols),
            ));
        }
        let b = inputs.len();
        let gather = |f: &dyn Fn(&GridInputs) -> &[f32]| inputs.iter().flat_map(|i| f(i).iter().copied()).collect::<Vec<f32>>();
        Ok(Self {
            samples: plane(gather(&|i| &i.samples), b, rows, cols, device),
            mask: plane(gather(&|i| &i.mask), b, rows, cols, device),
            buildings: plane(gather(&|i| &i.buildings), b, rows, cols, device),
            distance: plane(gather(&|i| &i.distance), b, rows, cols, device),
            trend: plane(gather(&|i| &i.trend), b, rows, cols, device),
            law: plane(gather(&|i| &i.law), b, rows, cols, device),
        })
    }

    /// `[batch, rows, cols]` of the planes.
    pub fn dims(&self) -> [usize; 3] {
        let [b, _, r, c] = self.samples.dims();
        [b, r, c]
    }
}

/// Targets of a training batch, each `[batch, 1, rows, cols]`.
#[derive(Clone, Debug)]
pub struct GridTargets {
    /// The true map, normalised (0 where not counted).
    pub map: Tensor<4>,
    /// 1 where the loss counts the cell (outdoor, finite truth).
    pub valid: Tensor<4>,
}

impl GridTargets {
    /// Stacks the targets of several examples.
    pub fn new(examples: &[&GridExample], device: &Device) -> Result<Self> {
        let first = examples.first().ok_or_else(|| RmeError::Empty("batch of grid examples".into()))?;
        let (rows, cols) = (first.inputs.grid.rows, first.inputs.grid.cols);
        let b = examples.len();
        let map = examples.iter().flat_map(|e| e.target.iter().copied()).collect::<Vec<f32>>();
        let valid = examples.iter().flat_map(|e| e.valid.iter().copied()).collect::<Vec<f32>>();
        if map.len() != b * rows * cols {
            return Err(RmeError::invalid("batch", "examples of different grid shapes"));
        }
        Ok(Self { map: plane(map, b, rows, cols, device), valid: plane(valid, b, rows, cols, device) })
    }
}

/// One training (or evaluation) example: a map's inputs from some of its cells, and the map.
#[derive(Clone, Debug, PartialEq)]
pub struct GridExample {
    /// What the model sees.
    pub inputs: GridInputs,
    /// The whole map, normalised (0 where not valid).
    pub target: Vec<f32>,
    /// 1 where the target counts: outdoor cells with a finite value.
    pub valid: Vec<f32>,
}

impl GridExample {
    /// The example of a single-slice `map` observed at `cells` (row-major indices), with the
    /// transmitter's position given to the model when `tx_known`.
    pub fn from_map(map: &RadioMap, cells: &[usize], tx_known: bool) -> Result<Self> {
        if map.slots() * map.bands() != 1 {
            return Err(RmeError::invalid(format!("map {}", map.id), "grid models take single-slice maps"));
        }
        let scene = super::GridScene::new(map.grid, map.buildings.clone())?;
        let mut obs: MeasurementSet = map.measurements_at(cells);
        if !tx_known {
            obs.tx_m = None;
        } else if obs.tx_m.is_none() {
            return Err(RmeError::unsupported("transmitter-known example", format!("map {} has no single transmitter", map.id)));
        }
        let inputs = GridInputs::from_measurements(&scene, &obs)?;
        let n = map.grid.len();
        let valid: Vec<f32> = (0..n).map(|i| map.is_valid_voxel(i) as u8 as f32).collect();
        let target = (0..n).map(|i| if valid[i] > 0.0 { normalise_db(map.values[i] as f64) as f32 } else { 0.0 }).collect();
        Ok(Self { inputs, target, valid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::sim::urban::{Split, UrbanSimulator};

    #[test]
    fn an_example_hides_the_transmitter_when_asked_and_counts_outdoor_cells() {
        let sim = UrbanSimulator::new(32).unwrap();
        let map = sim.simulate(&sim.split_city(Split::Train, 0).unwrap(), 1).unwrap();
        let cells: Vec<usize> = (0..map.grid.len()).filter(|&i| !map.is_building(i / 32, i % 32)).take(5).collect();
        let known = GridExample::from_map(&map, &cells, true).unwrap();
        let unknown = GridExample::from_map(&map, &cells, false).unwrap();
        assert!(known.inputs.tx_known && !unknown.inputs.tx_known);
        assert_ne!(known.inputs.distance, unknown.inputs.distance);
        let outdoor = map.buildings.as_ref().unwrap().iter().filter(|&&b| b == 0).count();
        assert_eq!(known.valid.iter().sum::<f32>() as usize, outdoor);
        assert_eq!(known.inputs.mask.iter().sum::<f32>(), 5.0);
        let batch = GridBatch::new(&[&known.inputs, &unknown.inputs], &cpu()).unwrap();
        assert_eq!(batch.dims(), [2, 32, 32]);
        let targets = GridTargets::new(&[&known, &unknown], &cpu()).unwrap();
        assert_eq!(targets.map.dims(), [2, 1, 32, 32]);
    }
}
