//! The urban simulator (RadioDUN and PI-DRME's world; MODELS.md §1.3): random cities with
//! buildings, one transmitter per map, path gain on 128² or 256² grids.
//!
//! A map is fixed by `(city, transmitter seed)`; a city by `(split, index)`. The three splits
//! draw their cities from disjoint seed ranges, so a model is tested on cities it never saw
//! (the papers' RadioMapSeer splits by city too). Each city also draws its own materials
//! (wall and indoor loss, corner loss, path-loss exponent), so cities differ in propagation
//! as well as in layout. Every draw goes through [`Rng`] and every transcendental through
//! `libm`: the same seed gives the same bytes on every platform.

pub mod city;
pub mod deep_shadow;
pub mod propagation;
pub mod sampling;

pub use city::{City, CityStyle, Footprint};
pub use deep_shadow::{DeepShadowVariation, strong_level_db};
pub use propagation::{PathGain, UrbanPropagation};
pub use sampling::Sampling;

use super::fields::{ExponentialCovariance, GaussianFieldSampler};
use crate::error::{Result, RmeError};
use crate::map::{Grid, RadioMap, TxTrack};
use crate::rng::Rng;

/// Side of every simulated city, metres (RadioMapSeer's maps are 256 m × 256 m too).
pub const CITY_SIDE_M: f64 = 256.0;

/// Which part of a dataset a city belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// Cities models are fitted on.
    Train,
    /// Cities for early stopping and model choice.
    Validation,
    /// Cities every reported number comes from.
    Test,
}

impl Split {
    /// The split called `name` ("train", "validation"/"val", "test").
    pub fn by_name(name: &str) -> Result<Self> {
        match name {
            "train" => Ok(Split::Train),
            "validation" | "val" => Ok(Split::Validation),
            "test" => Ok(Split::Test),
            other => Err(RmeError::invalid("split", format!("'{other}' is not train, validation or test"))),
        }
    }

    /// Its name in map ids.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    /// High bits of the city seeds of this split: the ranges never overlap.
    fn seed_base(self) -> u64 {
        match self {
            Split::Train => 0x1000_0000_0000,
            Split::Validation => 0x2000_0000_0000,
            Split::Test => 0x3000_0000_0000,
        }
    }
}

/// The `index`-th city of a split: the style cycles so that every split has all four.
pub fn city_of(split: Split, index: u64) -> (CityStyle, u64) {
    (CityStyle::ALL[(index % CityStyle::ALL.len() as u64) as usize], split.seed_base() | index)
}

/// A city rasterised onto a simulator's grid, with its materials.
#[derive(Clone, Debug, PartialEq)]
pub struct UrbanCity {
    /// The layout.
    pub city: City,
    /// Building mask on the simulator's grid (row-major, 1 = building).
    pub buildings: Vec<u8>,
    /// The city's propagation parameters.
    pub propagation: UrbanPropagation,
    /// Standard deviation of the small-scale clutter added to every map, dB (0: none).
    pub clutter_sigma_db: f64,
    /// Its name in map ids.
    pub name: String,
}

/// Draws urban maps on a square grid of `cells` per side over a [`CITY_SIDE_M`] city.
pub struct UrbanSimulator {
    grid: Grid,
    /// Unit-variance clutter field (scaled per city).
    clutter: GaussianFieldSampler,
}

/// Correlation distance of the small-scale clutter, metres (a few wavelengths of a car or a tree).
pub const CLUTTER_CORR_M: f64 = 4.0;

impl UrbanSimulator {
    /// A simulator for maps of `cells × cells` (128 or 256 in the papers; 32…1024 accepted).
    pub fn new(cells: usize) -> Result<Self> {
        if !(32..=1024).contains(&cells) {
            return Err(RmeError::invalid("urban map size", format!("{cells} cells per side is not in 32…1024")));
        }
        let grid = Grid::new(cells, cells, CITY_SIDE_M / cells as f64, [0.0, 0.0])?;
        let clutter = GaussianFieldSampler::new(
            cells,
            cells,
            grid.cell_size_m,
            ExponentialCovariance { sigma_db: 1.0, corr_dist_m: CLUTTER_CORR_M },
        )?;
        Ok(Self { grid, clutter })
    }

    /// The maps' grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The city of `(style, seed)` on this grid, with materials drawn from the same seed.
    pub fn city(&self, style: CityStyle, seed: u64) -> Result<UrbanCity> {
        let city = City::generate(style, seed, CITY_SIDE_M)?;
        let buildings = city.rasterise(&self.grid);
        let mut rng = Rng::new(seed ^ 0x3A7E_41A1_5000_0000);
        let propagation = UrbanPropagation {
            path_loss_exponent: rng.range(2.0, 2.5),
            wall_loss_db: rng.range(8.0, 18.0),
            indoor_loss_db_per_m: rng.range(0.6, 1.8),
            corner_loss_db: rng.range(8.0, 16.0),
            ..UrbanPropagation::default()
        };
        let clutter_sigma_db = rng.range(0.5, 2.0);
        Ok(UrbanCity { city, buildings, propagation, clutter_sigma_db, name: format!("{}{seed:x}", style.name()) })
    }

    /// The city a dataset split holds at `index`.
    pub fn split_city(&self, split: Split, index: u64) -> Result<UrbanCity> {
        let (style, seed) = city_of(split, index);
        self.city(style, seed)
    }

    /// A transmitter drawn from `tx_seed`: a random street cell's centre (never inside a
    /// building), 1.5–6 m above the street.
    pub fn draw_transmitter(&self, city: &UrbanCity, tx_seed: u64) -> Result<[f64; 3]> {
        let free: Vec<usize> = (0..self.grid.len()).filter(|&i| city.buildings[i] == 0).collect();
        if free.is_empty() {
            return Err(RmeError::Empty(format!("street area of city {}", city.name)));
        }
        let mut rng = Rng::new(tx_seed ^ 0x7E_0000_0000);
        let i = free[rng.below(free.len())];
        let [x, y] = self.grid.cell_center(i / self.grid.cols, i % self.grid.cols);
        Ok([x, y, rng.range(1.5, 6.0)])
    }

    /// The map of `city` with its transmitter drawn from `tx_seed` (clutter drawn from it too).
    pub fn simulate(&self, city: &UrbanCity, tx_seed: u64) -> Result<RadioMap> {
        let tx = self.draw_transmitter(city, tx_seed)?;
        let mut map = self.simulate_at(city, tx, tx_seed)?;
        map.id = format!("{}_tx{tx_seed}", city.name);
        Ok(map)
    }

    /// The map of `city` with the transmitter at `tx_m = [x, y, height]` (the demo's drag),
    /// clutter drawn from `clutter_seed`. Errors name a transmitter outside the grid or inside a
    /// building.
    pub fn simulate_at(&self, city: &UrbanCity, tx_m: [f64; 3], clutter_seed: u64) -> Result<RadioMap> {
        let gain = city.propagation.path_gain(&self.grid, &city.buildings, tx_m)?;
        let mut values: Vec<f32> = gain.gain_db.iter().map(|&g| g as f32).collect();
        if city.clutter_sigma_db > 0.0 {
            let mut rng = Rng::new(clutter_seed ^ 0xC1_077E_0000);
            let (field, _) = self.clutter.sample_pair(&mut rng);
            let floor = city.propagation.floor_db;
            for (v, z) in values.iter_mut().zip(field) {
                *v = ((*v as f64 + city.clutter_sigma_db * z).max(floor)) as f32;
            }
        }
        let mut map =
            RadioMap::new(format!("{}_tx", city.name), self.grid, vec![0.0], vec![city.propagation.frequency_hz], values, "path_gain_db")?;
        map.buildings = Some(city.buildings.clone());
        map.tx = vec![TxTrack { positions_m: vec![tx_m], power_dbm: 0.0, bands: Vec::new(), active: Vec::new() }];
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_identical_bytes_and_splits_do_not_share_cities() {
        let sim = UrbanSimulator::new(64).unwrap();
        let city = sim.split_city(Split::Train, 3).unwrap();
        let a = sim.simulate(&city, 11).unwrap();
        let b = sim.simulate(&sim.split_city(Split::Train, 3).unwrap(), 11).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), sim.simulate(&city, 12).unwrap().digest());
        let (_, train) = city_of(Split::Train, 5);
        let (_, test) = city_of(Split::Test, 5);
        assert_ne!(train, test);
        assert_ne!(sim.split_city(Split::Test, 3).unwrap().buildings, city.buildings);
    }

    #[test]
    fn a_map_looks_like_a_radio_map() {
        let sim = UrbanSimulator::new(128).unwrap();
        for index in 0..4 {
            let city = sim.split_city(Split::Validation, index).unwrap();
            let map = sim.simulate(&city, 1).unwrap();
            let tx = map.tx[0].positions_m[0];
            let (tr, tc) = sim.grid().cell_of(tx[0], tx[1]).unwrap();
            let near = map.values[tr * 128 + tc];
            let (lo, hi) = map.values.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            // Brightest at the transmitter (up to clutter), a wide dynamic range.
            assert!(near > hi - 6.0, "city {index}: {near} vs max {hi}");
            assert!(hi - lo > 60.0, "city {index}: range {lo}…{hi}");
            assert!(map.values.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn a_dragged_transmitter_inside_a_building_is_refused() {
        let sim = UrbanSimulator::new(64).unwrap();
        let city = sim.split_city(Split::Test, 0).unwrap();
        let i = city.buildings.iter().position(|&b| b == 1).unwrap();
        let [x, y] = sim.grid().cell_center(i / 64, i % 64);
        let e = sim.simulate_at(&city, [x, y, 2.0], 0).unwrap_err().to_string();
        assert!(e.contains("inside a building"), "{e}");
        assert!(UrbanSimulator::new(8).err().unwrap().to_string().contains("urban map size"));
    }
}
