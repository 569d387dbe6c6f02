//! The data model: grid radio maps `[T, F, H, W]`, gridless measurement and query sets, and
//! estimates.
//!
//! Conventions (FORMATS.md): positions in metres in a local frame; row index grows with `y`
//! (row 0 is the south edge), column index with `x`; `origin_m` is the outer (south-west)
//! corner of cell (row 0, col 0).

use crate::error::{Result, RmeError};
use serde::{Deserialize, Serialize};

/// A regular 2-D grid in a local metric frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    /// Rows (the y axis; row 0 is the south edge).
    pub rows: usize,
    /// Columns (the x axis).
    pub cols: usize,
    /// Side of a square cell, metres.
    pub cell_size_m: f64,
    /// `[x, y]` of the outer corner of cell (0, 0).
    pub origin_m: [f64; 2],
}

impl Grid {
    /// Checks the shape, the cell size and the origin.
    pub fn new(rows: usize, cols: usize, cell_size_m: f64, origin_m: [f64; 2]) -> Result<Self> {
        if rows == 0 || cols == 0 {
            return Err(RmeError::invalid("grid", format!("shape {rows}x{cols} has no cells")));
        }
        if rows.checked_mul(cols).is_none() {
            return Err(RmeError::invalid("grid", format!("shape {rows}x{cols} has more cells than this machine can count")));
        }
        if !(cell_size_m.is_finite() && cell_size_m > 0.0) {
            return Err(RmeError::invalid("grid", format!("cell size {cell_size_m} m must be positive")));
        }
        if !origin_m.iter().all(|v| v.is_finite()) {
            return Err(RmeError::invalid("grid", "origin is not finite"));
        }
        Ok(Self { rows, cols, cell_size_m, origin_m })
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// True when the grid has no cell (never, for a grid made by [`Grid::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Centre of cell `(row, col)`.
    pub fn cell_center(&self, row: usize, col: usize) -> [f64; 2] {
        [self.origin_m[0] + (col as f64 + 0.5) * self.cell_size_m, self.origin_m[1] + (row as f64 + 0.5) * self.cell_size_m]
    }

    /// The cell that contains `(x, y)`, if inside.
    pub fn cell_of(&self, x: f64, y: f64) -> Option<(usize, usize)> {
        let c = ((x - self.origin_m[0]) / self.cell_size_m).floor();
        let r = ((y - self.origin_m[1]) / self.cell_size_m).floor();
        if c >= 0.0 && r >= 0.0 && (c as usize) < self.cols && (r as usize) < self.rows { Some((r as usize, c as usize)) } else { None }
    }

    /// Width and height in metres.
    pub fn extent_m(&self) -> [f64; 2] {
        [self.cols as f64 * self.cell_size_m, self.rows as f64 * self.cell_size_m]
    }

    /// All cell centres, row-major.
    pub fn centers(&self) -> Vec<[f64; 2]> {
        let mut out = Vec::with_capacity(self.len());
        for r in 0..self.rows {
            for c in 0..self.cols {
                out.push(self.cell_center(r, c));
            }
        }
        out
    }

    /// The grid covering a set of points with the given cell size (a half-cell margin).
    pub fn covering(points: &[[f64; 2]], cell_size_m: f64) -> Result<Self> {
        if points.is_empty() {
            return Err(RmeError::Empty("point set for the grid".into()));
        }
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in points {
            x0 = x0.min(p[0]);
            y0 = y0.min(p[1]);
            x1 = x1.max(p[0]);
            y1 = y1.max(p[1]);
        }
        if !(cell_size_m.is_finite() && cell_size_m > 0.0) {
            return Err(RmeError::invalid("cell size", format!("{cell_size_m} m must be positive")));
        }
        // In floating point first: a far point must not overflow the cell count.
        let (cols_f, rows_f) = (((x1 - x0) / cell_size_m).floor() + 1.0, ((y1 - y0) / cell_size_m).floor() + 1.0);
        if !(cols_f * rows_f <= 16e6) {
            return Err(RmeError::invalid("cell size", format!("{cell_size_m} m gives a {rows_f}x{cols_f} grid, over 16 million cells")));
        }
        let (cols, rows) = (cols_f as usize, rows_f as usize);
        if rows * cols > 16_000_000 {
            return Err(RmeError::invalid("cell size", format!("{cell_size_m} m gives a {rows}x{cols} grid, over 16 million cells")));
        }
        Grid::new(rows, cols, cell_size_m, [x0 - 0.5 * cell_size_m, y0 - 0.5 * cell_size_m])
    }
}

/// One transmitter of a simulated scene: its track (one position per slot), power and bands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxTrack {
    /// `[x, y, z]` per slot, metres.
    pub positions_m: Vec<[f64; 3]>,
    /// Transmit power (PSD in a 1 MHz resolution bandwidth for the dynamic simulator), dBm.
    pub power_dbm: f64,
    /// Indices of the bands this transmitter occupies (all bands when empty).
    #[serde(default)]
    pub bands: Vec<usize>,
    /// Whether it transmits in each slot (always, when empty).
    #[serde(default)]
    pub active: Vec<bool>,
}

impl TxTrack {
    /// Whether it transmits in `band` during `slot`.
    pub fn is_active(&self, slot: usize, band: usize) -> bool {
        let in_band = self.bands.is_empty() || self.bands.contains(&band);
        let on = self.active.get(slot).copied().unwrap_or(true);
        in_band && on
    }

    /// Its position in `slot` (the last known one after the track ends).
    pub fn position(&self, slot: usize) -> Option<[f64; 3]> {
        self.positions_m.get(slot).or(self.positions_m.last()).copied()
    }
}

/// The statistical model a synthetic map was drawn from (log-distance path loss plus
/// Gudmundson shadowing). Known only for simulated data; the GP oracle uses it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropagationTruth {
    /// Path-loss exponent `n` of `10·n·log10(d/d0)`.
    pub path_loss_exponent: f64,
    /// Reference distance of the free-space term, metres.
    pub reference_distance_m: f64,
    /// Standard deviation of the shadowing, dB.
    pub shadowing_sigma_db: f64,
    /// Decorrelation distance `d_c` of Gudmundson's `σ²·exp(−d/d_c)`, metres.
    pub shadowing_corr_dist_m: f64,
    /// Share of the shadowing variance common to all bands (the rest is per band).
    pub band_common_share: f64,
    /// Distance travelled by a transmitter over which its shadowing decorrelates (e⁻¹), m.
    pub tx_decorrelation_m: f64,
    /// Noise PSD in the map's unit, dBm.
    pub noise_dbm: f64,
}

/// Received power (or path gain) on a grid over time slots and bands: values `[T, F, H, W]`.
#[derive(Clone, Debug, PartialEq)]
pub struct RadioMap {
    /// The grid of every slice.
    pub grid: Grid,
    /// Start time of each slot, seconds.
    pub slots_s: Vec<f64>,
    /// Centre frequency of each band, Hz.
    pub bands_hz: Vec<f64>,
    /// Row-major `[T, F, H, W]`; NaN = no value (no coverage).
    pub values: Vec<f32>,
    /// `[H, W]`, 1 = building.
    pub buildings: Option<Vec<u8>>,
    /// Transmitters, where known (simulated maps, ray-traced maps).
    pub tx: Vec<TxTrack>,
    /// "power_dbm" or "path_gain_db".
    pub quantity: String,
    /// The simulator's model, for simulated maps only (the GP oracle reads it).
    pub truth: Option<PropagationTruth>,
    /// Identifier (from the map set, or made by the simulator).
    pub id: String,
}

impl RadioMap {
    /// Checks shapes and finiteness of metadata.
    pub fn new(
        id: impl Into<String>,
        grid: Grid,
        slots_s: Vec<f64>,
        bands_hz: Vec<f64>,
        values: Vec<f32>,
        quantity: impl Into<String>,
    ) -> Result<Self> {
        let id = id.into();
        let t = slots_s.len().max(1);
        let f = bands_hz.len().max(1);
        let expected = t * f * grid.len();
        if values.len() != expected {
            return Err(RmeError::invalid(
                format!("map {id}"),
                format!("{} values for shape [{t}, {f}, {}, {}] ({expected})", values.len(), grid.rows, grid.cols),
            ));
        }
        let slots_s = if slots_s.is_empty() { vec![0.0] } else { slots_s };
        let bands_hz = if bands_hz.is_empty() { vec![f64::NAN] } else { bands_hz };
        Ok(Self { grid, slots_s, bands_hz, values, buildings: None, tx: Vec::new(), quantity: quantity.into(), truth: None, id })
    }

    /// Number of time slots `T` (at least 1).
    pub fn slots(&self) -> usize {
        self.slots_s.len()
    }
    /// Number of bands `F` (at least 1).
    pub fn bands(&self) -> usize {
        self.bands_hz.len()
    }
    /// Lower-case hex sha256 of the map's shape (four little-endian u64) and values (f32
    /// little-endian bits, NaN included): two maps with the same digest hold the same numbers
    /// bit for bit. The golden tests of the simulators compare it across platforms.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for d in self.shape() {
            hash.update((d as u64).to_le_bytes());
        }
        for v in &self.values {
            hash.update(v.to_bits().to_le_bytes());
        }
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `[T, F, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        [self.slots(), self.bands(), self.grid.rows, self.grid.cols]
    }

    /// Flat index of voxel `(t, f, r, c)` in `values`.
    pub fn index(&self, t: usize, f: usize, r: usize, c: usize) -> usize {
        ((t * self.bands() + f) * self.grid.rows + r) * self.grid.cols + c
    }

    /// Value of voxel `(t, f, r, c)`.
    pub fn value(&self, t: usize, f: usize, r: usize, c: usize) -> f32 {
        self.values[self.index(t, f, r, c)]
    }

    /// The `[H, W]` slice of slot `t`, band `f`.
    pub fn slice(&self, t: usize, f: usize) -> &[f32] {
        let n = self.grid.len();
        let start = (t * self.bands() + f) * n;
        &self.values[start..start + n]
    }

    /// Whether cell `(r, c)` is inside a building (false without a building mask).
    pub fn is_building(&self, r: usize, c: usize) -> bool {
        self.buildings.as_ref().is_some_and(|b| b[r * self.grid.cols + c] != 0)
    }

    /// Whether voxel (flat index) holds a usable ground-truth value: finite and not inside a
    /// building (inside buildings ray tracers give through-wall values nobody measures).
    pub fn is_valid_voxel(&self, flat: usize) -> bool {
        let cell = flat % self.grid.len();
        self.values[flat].is_finite() && self.buildings.as_ref().is_none_or(|b| b[cell] == 0)
    }

    /// 1 for every cell of the first slice without a usable truth (buildings; cells no ray
    /// reached), 0 elsewhere: the mask samples are never drawn from.
    pub fn cells_without_truth(&self) -> Vec<u8> {
        (0..self.grid.len()).map(|i| (!self.is_valid_voxel(i)) as u8).collect()
    }

    /// Position, time and frequency of a voxel (flat index).
    pub fn voxel_point(&self, flat: usize) -> Query {
        let n = self.grid.len();
        let cell = flat % n;
        let tf = flat / n;
        let (t, f) = (tf / self.bands(), tf % self.bands());
        let p = self.grid.cell_center(cell / self.grid.cols, cell % self.grid.cols);
        Query { x_m: p[0], y_m: p[1], t_s: self.slots_s[t], freq_hz: self.bands_hz[f] }
    }

    /// The measurements at the given voxels (flat indices).
    pub fn measurements_at(&self, voxels: &[usize]) -> MeasurementSet {
        let points = voxels
            .iter()
            .map(|&v| {
                let q = self.voxel_point(v);
                Measurement { x_m: q.x_m, y_m: q.y_m, t_s: q.t_s, freq_hz: q.freq_hz, value: self.values[v] as f64 }
            })
            .collect();
        let mut set = MeasurementSet::from_points(points);
        set.quantity = self.quantity.clone();
        if self.tx.len() == 1 {
            set.tx_m = self.tx[0].position(0);
        }
        set
    }

    /// The query points at the given voxels (flat indices).
    pub fn queries_at(&self, voxels: &[usize]) -> QuerySet {
        QuerySet { points: voxels.iter().map(|&v| self.voxel_point(v)).collect() }
    }
}

/// One observation: position, time, frequency and a value (dBm or dB).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Position east, metres.
    pub x_m: f64,
    /// Position north, metres.
    pub y_m: f64,
    /// Seconds; 0 when the data has no time axis.
    pub t_s: f64,
    /// Hz; NaN when unknown (single-band data).
    pub freq_hz: f64,
    /// Measured power (dBm) or the set's quantity.
    pub value: f64,
}

/// A gridless set of observations with the metadata estimators may use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeasurementSet {
    /// The measurements.
    pub points: Vec<Measurement>,
    /// Name of the measured quantity ("power_dbm", "path_gain_db", …).
    pub quantity: String,
    /// Transmitter position when known (one transmitter).
    pub tx_m: Option<[f64; 3]>,
}

impl MeasurementSet {
    /// A set of power measurements with no transmitter position.
    pub fn from_points(points: Vec<Measurement>) -> Self {
        Self { points, quantity: "power_dbm".into(), tx_m: None }
    }

    /// Number of measurements.
    pub fn len(&self) -> usize {
        self.points.len()
    }
    /// True when there is no measurement.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Rejects empty sets and non-finite coordinates or values, naming the first bad point.
    pub fn validate(&self) -> Result<()> {
        if self.points.is_empty() {
            return Err(RmeError::Empty("measurement set".into()));
        }
        for (i, m) in self.points.iter().enumerate() {
            if !(m.x_m.is_finite() && m.y_m.is_finite() && m.t_s.is_finite() && m.value.is_finite()) {
                return Err(RmeError::invalid(
                    "measurement set",
                    format!("point {i} is not finite: ({}, {}, t={}, value={})", m.x_m, m.y_m, m.t_s, m.value),
                ));
            }
            if m.freq_hz.is_infinite() {
                return Err(RmeError::invalid("measurement set", format!("point {i} has an infinite frequency")));
            }
        }
        if let Some(tx) = self.tx_m
            && !tx.iter().all(|v| v.is_finite())
        {
            return Err(RmeError::invalid("transmitter position", "not finite"));
        }
        Ok(())
    }
}

/// A point where an estimate is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// Position east, metres.
    pub x_m: f64,
    /// Position north, metres.
    pub y_m: f64,
    /// Time, seconds.
    pub t_s: f64,
    /// Frequency, Hz (NaN when unknown).
    pub freq_hz: f64,
}

/// A set of query points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuerySet {
    /// The query points.
    pub points: Vec<Query>,
}

impl QuerySet {
    /// All cell centres of a grid at one time and frequency.
    pub fn from_grid(grid: &Grid, t_s: f64, freq_hz: f64) -> Self {
        Self { points: grid.centers().into_iter().map(|p| Query { x_m: p[0], y_m: p[1], t_s, freq_hz }).collect() }
    }
    /// Number of query points.
    pub fn len(&self) -> usize {
        self.points.len()
    }
    /// True when there is no query point.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
    /// Checks that every position and time is finite.
    pub fn validate(&self) -> Result<()> {
        if self.points.is_empty() {
            return Err(RmeError::Empty("query set".into()));
        }
        for (i, q) in self.points.iter().enumerate() {
            if !(q.x_m.is_finite() && q.y_m.is_finite() && q.t_s.is_finite()) || q.freq_hz.is_infinite() {
                return Err(RmeError::invalid("query set", format!("query {i} is not finite")));
            }
        }
        Ok(())
    }
}

/// Estimated value at every query, with a standard deviation where the method has one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimate {
    /// Estimated value at each query point.
    pub mean: Vec<f64>,
    /// Standard deviation at each query point, where the method gives one, dB.
    pub std: Option<Vec<f64>>,
}

impl Estimate {
    /// An error naming the first query whose mean or σ is not a finite number (and the
    /// method), so that a numerical breakdown never reaches a user as a silent NaN.
    pub fn check_finite(&self, query: &QuerySet, method: &str) -> Result<()> {
        if self.mean.len() != query.len() || self.std.as_ref().is_some_and(|s| s.len() != query.len()) {
            return Err(RmeError::numerical(method, format!("{} estimates for {} queries", self.mean.len(), query.len())));
        }
        let bad_std = |i: usize| self.std.as_ref().is_some_and(|s| !s[i].is_finite());
        if let Some(i) = (0..self.mean.len()).find(|&i| !self.mean[i].is_finite() || bad_std(i)) {
            let q = &query.points[i];
            let what = if self.mean[i].is_finite() { "σ" } else { "estimate" };
            return Err(RmeError::numerical(
                method,
                format!(
                    "the {what} at query {} (x {} m, y {} m, t {} s) is not a finite number; check that the queries lie near the measurements",
                    i + 1,
                    q.x_m,
                    q.y_m,
                    q.t_s
                ),
            ));
        }
        Ok(())
    }
}

/// The (slot, band) a point belongs to — the crate's one "same slice" rule: time rounded to
/// the microsecond, frequency to the hertz, an unknown (non-finite) frequency a band of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SliceKey {
    /// Slot start, microseconds.
    pub t_us: i64,
    /// Band centre, hertz; [`SliceKey::NO_FREQ`] when unknown.
    pub f_hz: i64,
}

impl SliceKey {
    /// The band of points whose frequency is unknown.
    pub const NO_FREQ: i64 = i64::MIN;

    /// The slice of a point at time `t_s` and frequency `f_hz` (NaN when unknown).
    pub fn of(t_s: f64, f_hz: f64) -> Self {
        Self { t_us: (t_s * 1e6).round() as i64, f_hz: if f_hz.is_finite() { f_hz.round() as i64 } else { Self::NO_FREQ } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_estimate_is_an_error_naming_the_query() {
        let q = QuerySet { points: (0..3).map(|i| Query { x_m: i as f64, y_m: 7.0, t_s: 0.0, freq_hz: f64::NAN }).collect() };
        assert!(Estimate { mean: vec![1.0, 2.0, 3.0], std: None }.check_finite(&q, "idw").is_ok());
        let e = Estimate { mean: vec![1.0, f64::NAN, 3.0], std: None }.check_finite(&q, "idw").unwrap_err().to_string();
        assert!(e.contains("idw") && e.contains("query 2") && e.contains("x 1 m"), "{e}");
        let e = Estimate { mean: vec![1.0, 2.0, 3.0], std: Some(vec![1.0, 1.0, f64::INFINITY]) }.check_finite(&q, "kriging").unwrap_err();
        assert!(e.to_string().contains("σ at query 3"), "{e}");
        assert!(Estimate { mean: vec![1.0], std: None }.check_finite(&q, "x").is_err());
    }

    #[test]
    fn grid_centres_and_lookup_agree() {
        let g = Grid::new(4, 5, 2.0, [-3.0, 10.0]).unwrap();
        for r in 0..4 {
            for c in 0..5 {
                let p = g.cell_center(r, c);
                assert_eq!(g.cell_of(p[0], p[1]), Some((r, c)));
            }
        }
        assert_eq!(g.cell_of(-3.1, 10.5), None);
        assert_eq!(g.cell_center(0, 0), [-2.0, 11.0]);
    }

    #[test]
    fn map_shape_is_checked() {
        let g = Grid::new(2, 2, 1.0, [0.0, 0.0]).unwrap();
        assert!(RadioMap::new("m", g, vec![0.0], vec![1e9], vec![0.0; 3], "power_dbm").is_err());
        let m = RadioMap::new("m", g, vec![0.0, 1.0], vec![1e9], vec![0.0; 8], "power_dbm").unwrap();
        assert_eq!(m.shape(), [2, 1, 2, 2]);
        assert_eq!(m.index(1, 0, 1, 1), 7);
    }

    #[test]
    fn validate_rejects_nan_and_empty() {
        assert!(MeasurementSet::default().validate().is_err());
        let m = Measurement { x_m: 0.0, y_m: f64::NAN, t_s: 0.0, freq_hz: f64::NAN, value: 1.0 };
        let err = MeasurementSet::from_points(vec![m]).validate().unwrap_err().to_string();
        assert!(err.contains("point 0"), "{err}");
    }
}
