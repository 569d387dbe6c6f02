//! Urban propagation on a building raster: a dominant-path model.
//!
//! Every cell takes the strongest of three paths from the transmitter (all losses in dB,
//! `PL` the log-distance law of [`LogDistance`] on the 3-D length):
//! 1. **direct**: the straight segment, through whatever it meets: `PL(d) + W·walls + β·metres
//!    inside buildings` — exactly `PL(d)` in line of sight;
//! 2. **around**: the shortest path through free space (any-angle, found by a Theta*-style
//!    Dijkstra on the 8-connected raster whose nodes inherit their predecessor's parent
//!    while it stays in sight), `PL(length) + Σ D(θ)` with a diffraction loss at every corner
//!    that grows with the turn `θ`: `D(θ) = D₉₀·√(1 − cos θ)` (zero for a grazing path, so the
//!    field is continuous at shadow edges, `D₉₀` at a right-angle turn);
//! 3. **in through a wall** (cells inside buildings): the best neighbouring outdoor cell's
//!    loss plus `W` plus `β` per metre walked inside.
//!
//! The around-path minimises length, not loss (the dominant-path model of Wölfle and
//! Landstorfer minimises a loss; the shortest path is its usual approximation and keeps the
//! search a plain Dijkstra). Street canyons carry the signal because the shortest path runs
//! along them; shadows behind buildings are hard because the direct path pays the walls.

use super::super::propagation::LogDistance;
use crate::error::{Result, RmeError};
use crate::map::Grid;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Materials and geometry of the propagation model.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UrbanPropagation {
    /// Carrier frequency, Hz.
    pub frequency_hz: f64,
    /// Exponent `n` of the log-distance law along every path.
    pub path_loss_exponent: f64,
    /// Reference distance of the free-space term, metres.
    pub reference_distance_m: f64,
    /// Loss per wall a direct path crosses (in or out), dB.
    pub wall_loss_db: f64,
    /// Loss per metre inside a building, dB/m.
    pub indoor_loss_db_per_m: f64,
    /// Diffraction loss `D₉₀` of a right-angle turn, dB.
    pub corner_loss_db: f64,
    /// Receiver height, metres.
    pub rx_height_m: f64,
    /// Path gains below this are clipped to it (the receiver's sensitivity), dB.
    pub floor_db: f64,
}

impl Default for UrbanPropagation {
    fn default() -> Self {
        Self {
            frequency_hz: 3.5e9,
            path_loss_exponent: 2.2,
            reference_distance_m: 1.0,
            wall_loss_db: 12.0,
            indoor_loss_db_per_m: 1.0,
            corner_loss_db: 12.0,
            rx_height_m: 1.5,
            floor_db: -160.0,
        }
    }
}

impl UrbanPropagation {
    /// Checks that every parameter is finite and in its physical range.
    pub fn validate(&self) -> Result<()> {
        let checks = [
            ("frequency", self.frequency_hz, self.frequency_hz > 0.0),
            ("path-loss exponent", self.path_loss_exponent, self.path_loss_exponent > 0.0),
            ("reference distance", self.reference_distance_m, self.reference_distance_m > 0.0),
            ("wall loss", self.wall_loss_db, self.wall_loss_db >= 0.0),
            ("indoor loss", self.indoor_loss_db_per_m, self.indoor_loss_db_per_m >= 0.0),
            ("corner loss", self.corner_loss_db, self.corner_loss_db >= 0.0),
            ("receiver height", self.rx_height_m, self.rx_height_m >= 0.0),
            ("floor", self.floor_db, true),
        ];
        for (what, v, ok) in checks {
            if !(v.is_finite() && ok) {
                return Err(RmeError::invalid(format!("urban propagation {what}"), format!("{v} is out of range")));
            }
        }
        Ok(())
    }

    fn law(&self) -> LogDistance {
        LogDistance { exponent: self.path_loss_exponent, reference_distance_m: self.reference_distance_m }
    }

    /// Diffraction loss of a turn whose cosine is `cos_turn`.
    fn corner_db(&self, cos_turn: f64) -> f64 {
        self.corner_loss_db * (1.0 - cos_turn.clamp(-1.0, 1.0)).sqrt()
    }

    /// Path gain (dB, `−loss`, clipped at the floor) of every cell of `grid` from a transmitter
    /// at `tx_m = [x, y, height]`, over the building mask `buildings` (row-major, 1 =
    /// building). Also says which cells the transmitter sees.
    pub fn path_gain(&self, grid: &Grid, buildings: &[u8], tx_m: [f64; 3]) -> Result<PathGain> {
        self.validate()?;
        if buildings.len() != grid.len() {
            return Err(RmeError::invalid(
                "building mask",
                format!("{} cells for a {}x{} grid ({})", buildings.len(), grid.rows, grid.cols, grid.len()),
            ));
        }
        if !tx_m.iter().all(|v| v.is_finite()) || tx_m[2] < 0.0 {
            return Err(RmeError::invalid("transmitter position", format!("{tx_m:?} must be finite with a height ≥ 0")));
        }
        let Some((tr, tc)) = grid.cell_of(tx_m[0], tx_m[1]) else {
            return Err(RmeError::invalid("transmitter position", format!("({}, {}) m is outside the grid", tx_m[0], tx_m[1])));
        };
        let (rows, cols) = (grid.rows, grid.cols);
        if buildings[tr * cols + tc] != 0 {
            return Err(RmeError::invalid("transmitter position", format!("({}, {}) m is inside a building", tx_m[0], tx_m[1])));
        }
        let cell = grid.cell_size_m;
        // Positions in cell units: u along columns (x), v along rows (y).
        let tx_uv = [(tx_m[0] - grid.origin_m[0]) / cell, (tx_m[1] - grid.origin_m[1]) / cell];
        let dh = tx_m[2] - self.rx_height_m;
        let law = self.law();
        let loss_at = |length_cells: f64| {
            let d = length_cells * cell;
            law.loss_db((d * d + dh * dh).sqrt(), self.frequency_hz)
        };
        let center = |i: usize| [(i % cols) as f64 + 0.5, (i / cols) as f64 + 0.5];
        let n = grid.len();

        // 1. Direct paths.
        let mut direct = vec![0.0f64; n];
        let mut line_of_sight = vec![false; n];
        for i in 0..n {
            let target = center(i);
            let mut walls = 0u32;
            let mut inside_cells = 0.0;
            let mut was_building = false;
            traverse(cols, rows, tx_uv, target, |j, frac| {
                let b = buildings[j] != 0;
                if b != was_building {
                    walls += 1;
                    was_building = b;
                }
                if b {
                    inside_cells += frac;
                }
                true
            });
            // The 3-D length straight from metres, so that line of sight is the law exactly.
            let [x, y] = grid.cell_center(i / cols, i % cols);
            let (dx, dy) = (x - tx_m[0], y - tx_m[1]);
            let length_m = (dx * dx + dy * dy + dh * dh).sqrt();
            let horizontal_m = dist(tx_uv, target) * cell;
            line_of_sight[i] = walls == 0;
            direct[i] = law.loss_db(length_m, self.frequency_hz)
                + self.wall_loss_db * walls as f64
                + self.indoor_loss_db_per_m * inside_cells * horizontal_m;
        }

        // 2. Around buildings: any-angle shortest paths through free space.
        const TX: u32 = u32::MAX;
        let mut length = vec![f64::INFINITY; n];
        let mut parent = vec![TX; n];
        let mut corners_db = vec![0.0f64; n];
        let mut done = vec![false; n];
        let pos = |p: u32| if p == TX { tx_uv } else { center(p as usize) };
        let length_of = |length: &[f64], p: u32| if p == TX { 0.0 } else { length[p as usize] };
        let start = tr * cols + tc;
        length[start] = dist(tx_uv, center(start));
        let mut heap = BinaryHeap::new();
        heap.push(Reverse((length[start].to_bits(), start as u32)));
        while let Some(Reverse((_, ci))) = heap.pop() {
            let c = ci as usize;
            if done[c] {
                continue;
            }
            done[c] = true;
            let (r, cc) = ((c / cols) as i64, (c % cols) as i64);
            for (dr, dc) in NEIGHBOURS {
                let (nr, nc) = (r + dr, cc + dc);
                if nr < 0 || nc < 0 || nr >= rows as i64 || nc >= cols as i64 {
                    continue;
                }
                let m = nr as usize * cols + nc as usize;
                if done[m] || buildings[m] != 0 {
                    continue;
                }
                // No squeezing between two buildings that touch at a corner.
                if dr != 0
                    && dc != 0
                    && (buildings[r as usize * cols + nc as usize] != 0 || buildings[nr as usize * cols + cc as usize] != 0)
                {
                    continue;
                }
                let p = parent[c];
                let via_parent = length_of(&length, p) + dist(pos(p), center(m));
                if via_parent >= length[m] {
                    continue; // neither candidate can improve (via c is never shorter)
                }
                let sees = if p == TX { line_of_sight[m] } else { segment_is_free(cols, rows, buildings, pos(p), center(m)) };
                let (len_m, parent_m, corners_m) = if sees {
                    let turn = if p == TX { 0.0 } else { self.corner_db(cos_turn(pos(parent[p as usize]), pos(p), center(m))) };
                    let base = if p == TX { 0.0 } else { corners_db[p as usize] };
                    (via_parent, p, base + turn)
                } else {
                    // The path turns at c.
                    let via_c = length[c] + dist(center(c), center(m));
                    if via_c >= length[m] {
                        continue;
                    }
                    (via_c, ci, corners_db[c] + self.corner_db(cos_turn(pos(p), center(c), center(m))))
                };
                length[m] = len_m;
                parent[m] = parent_m;
                corners_db[m] = corners_m;
                heap.push(Reverse((len_m.to_bits(), m as u32)));
            }
        }
        let mut loss = direct;
        for i in 0..n {
            // In line of sight the shortest path is the straight one: the direct value stands.
            if length[i].is_finite() && buildings[i] == 0 && !line_of_sight[i] {
                loss[i] = loss[i].min(loss_at(length[i]) + corners_db[i]);
            }
        }

        // 3. Into buildings through their walls: a Dijkstra on the loss itself (additive in dB).
        let mut indoor = vec![f64::INFINITY; n];
        let mut heap = BinaryHeap::new();
        for i in 0..n {
            if buildings[i] == 0 {
                continue;
            }
            let (r, c) = ((i / cols) as i64, (i % cols) as i64);
            for (dr, dc) in NEIGHBOURS.iter().take(4) {
                let (nr, nc) = (r + dr, c + dc);
                if nr >= 0 && nc >= 0 && nr < rows as i64 && nc < cols as i64 {
                    let j = nr as usize * cols + nc as usize;
                    if buildings[j] == 0 {
                        let l = loss[j] + self.wall_loss_db + self.indoor_loss_db_per_m * cell;
                        if l < indoor[i] {
                            indoor[i] = l;
                        }
                    }
                }
            }
            if indoor[i].is_finite() {
                heap.push(Reverse((indoor[i].to_bits(), i as u32)));
            }
        }
        let mut settled = vec![false; n];
        while let Some(Reverse((bits, ii))) = heap.pop() {
            let i = ii as usize;
            let l = f64::from_bits(bits);
            if settled[i] || l > indoor[i] {
                continue;
            }
            settled[i] = true;
            let (r, c) = ((i / cols) as i64, (i % cols) as i64);
            for (dr, dc) in NEIGHBOURS.iter().take(4) {
                let (nr, nc) = (r + dr, c + dc);
                if nr >= 0 && nc >= 0 && nr < rows as i64 && nc < cols as i64 {
                    let j = nr as usize * cols + nc as usize;
                    let lj = l + self.indoor_loss_db_per_m * cell;
                    if buildings[j] != 0 && !settled[j] && lj < indoor[j] {
                        indoor[j] = lj;
                        heap.push(Reverse((lj.to_bits(), j as u32)));
                    }
                }
            }
        }
        let gain_db = (0..n)
            .map(|i| {
                let l = if buildings[i] != 0 { loss[i].min(indoor[i]) } else { loss[i] };
                (-l).max(self.floor_db)
            })
            .collect();
        Ok(PathGain { gain_db, line_of_sight })
    }
}

/// The outcome of [`UrbanPropagation::path_gain`].
#[derive(Clone, Debug, PartialEq)]
pub struct PathGain {
    /// Path gain per cell, dB (row-major).
    pub gain_db: Vec<f64>,
    /// Whether the straight segment from the transmitter to the cell's centre crosses no building.
    pub line_of_sight: Vec<bool>,
}

/// The 4 axis neighbours first (the indoor search uses only those), then the diagonals.
const NEIGHBOURS: [(i64, i64); 8] = [(0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)];

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    (dx * dx + dy * dy).sqrt()
}

/// Cosine of the turn at `b` of the path `a → b → c` (1 when straight on).
fn cos_turn(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    let (ux, uy) = (b[0] - a[0], b[1] - a[1]);
    let (vx, vy) = (c[0] - b[0], c[1] - b[1]);
    let norm = ((ux * ux + uy * uy) * (vx * vx + vy * vy)).sqrt();
    if norm == 0.0 { 1.0 } else { (ux * vx + uy * vy) / norm }
}

/// Whether the segment `a → b` (cell units) crosses no building cell.
fn segment_is_free(cols: usize, rows: usize, buildings: &[u8], a: [f64; 2], b: [f64; 2]) -> bool {
    let mut free = true;
    traverse(cols, rows, a, b, |j, _| {
        free = buildings[j] == 0;
        free
    });
    free
}

/// Visits the cells the segment `a → b` (cell units, both inside the grid) passes through, in
/// order, with the fraction of the segment inside each (Amanatides and Woo); stops when
/// `visit` returns false. Exactly `|Δcol| + |Δrow| + 1` cells are visited, so rounding can
/// never make it run away.
fn traverse(cols: usize, rows: usize, a: [f64; 2], b: [f64; 2], mut visit: impl FnMut(usize, f64) -> bool) {
    let clamp = |v: f64, n: usize| (v.floor() as i64).clamp(0, n as i64 - 1);
    let (mut c, mut r) = (clamp(a[0], cols), clamp(a[1], rows));
    let (ce, re) = (clamp(b[0], cols), clamp(b[1], rows));
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let step_c = if dx > 0.0 { 1 } else { -1 };
    let step_r = if dy > 0.0 { 1 } else { -1 };
    let next_boundary = |p: f64, cell: i64, step: i64| if step > 0 { (cell + 1) as f64 - p } else { p - cell as f64 };
    let (mut t_c, delta_c) = if dx != 0.0 { (next_boundary(a[0], c, step_c) / dx.abs(), 1.0 / dx.abs()) } else { (f64::INFINITY, 0.0) };
    let (mut t_r, delta_r) = if dy != 0.0 { (next_boundary(a[1], r, step_r) / dy.abs(), 1.0 / dy.abs()) } else { (f64::INFINITY, 0.0) };
    let steps = (ce - c).abs() + (re - r).abs();
    let mut t = 0.0;
    for k in 0..=steps {
        let last = k == steps;
        let t_next = if last { 1.0 } else { t_c.min(t_r).min(1.0) };
        if !visit(r as usize * cols + c as usize, (t_next - t).max(0.0)) || last {
            return;
        }
        t = t_next;
        // Step along the axis whose boundary comes first, unless that axis is already at its end.
        if (t_c < t_r && c != ce) || r == re {
            c += step_c;
            t_c += delta_c;
        } else {
            r += step_r;
            t_r += delta_r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64×64 grid of 1 m cells with the given building rectangles (rows r0..r1, cols c0..c1).
    fn world(blocks: &[(usize, usize, usize, usize)]) -> (Grid, Vec<u8>) {
        let grid = Grid::new(64, 64, 1.0, [0.0, 0.0]).unwrap();
        let mut b = vec![0u8; 64 * 64];
        for &(r0, r1, c0, c1) in blocks {
            for r in r0..r1 {
                for c in c0..c1 {
                    b[r * 64 + c] = 1;
                }
            }
        }
        (grid, b)
    }

    fn no_floor() -> UrbanPropagation {
        UrbanPropagation { floor_db: -1e9, ..Default::default() }
    }

    #[test]
    fn traverse_visits_a_connected_exact_chain() {
        let mut cells = Vec::new();
        let mut total = 0.0;
        traverse(10, 10, [0.5, 0.5], [3.5, 1.5], |j, f| {
            cells.push(j);
            total += f;
            true
        });
        // From (col 0, row 0) to (col 3, row 1): 3 + 1 steps, 5 cells, fractions sum to 1.
        assert_eq!(cells.len(), 5);
        assert_eq!((cells[0], *cells.last().unwrap()), (0, 13));
        assert!((total - 1.0).abs() < 1e-12, "{total}");
        for w in cells.windows(2) {
            let (a, b) = ((w[0] / 10) as i64 * 10 + (w[0] % 10) as i64, w[1] as i64);
            assert!((a - b).abs() == 1 || (a - b).abs() == 10, "{cells:?}");
        }
    }

    #[test]
    fn line_of_sight_cells_follow_the_log_distance_law_exactly() {
        let (grid, b) = world(&[(20, 40, 30, 34), (5, 12, 5, 50)]);
        let p = no_floor();
        let tx = [10.3, 30.7, 6.0];
        let out = p.path_gain(&grid, &b, tx).unwrap();
        let law = LogDistance { exponent: p.path_loss_exponent, reference_distance_m: p.reference_distance_m };
        let mut seen = 0;
        for i in 0..grid.len() {
            if out.line_of_sight[i] {
                let [x, y] = grid.cell_center(i / 64, i % 64);
                let (dx, dy, dh) = (x - tx[0], y - tx[1], tx[2] - p.rx_height_m);
                let d = (dx * dx + dy * dy + dh * dh).sqrt();
                assert_eq!(out.gain_db[i], -law.loss_db(d, p.frequency_hz), "cell {i}");
                seen += 1;
            }
        }
        assert!(seen > 2000, "{seen} line-of-sight cells");
        // And the blocks do cast shadows.
        assert!(seen < 64 * 64 - 400);
    }

    #[test]
    fn a_cell_behind_a_building_is_weaker_than_one_in_sight_at_the_same_distance() {
        // A 20 m long, 6 m thick wall of buildings; the transmitter 10 m in front of its middle.
        let (grid, b) = world(&[(30, 36, 22, 42)]);
        let p = no_floor();
        let out = p.path_gain(&grid, &b, [32.5, 20.5, 1.5]).unwrap();
        let behind = 45 * 64 + 32; // 25 m north, right behind the wall
        let beside = 20 * 64 + 57; // 25 m east, in the open
        assert!(!out.line_of_sight[behind] && out.line_of_sight[beside]);
        let margin = out.gain_db[beside] - out.gain_db[behind];
        assert!(margin > 10.0, "shadow only {margin} dB deep");
    }

    #[test]
    fn power_decreases_along_an_open_street() {
        // A 6 m wide east–west street between two rows of blocks; transmitter in it.
        let (grid, b) = world(&[(0, 29, 0, 64), (35, 64, 0, 64)]);
        let mut p = no_floor();
        p.corner_loss_db = 20.0;
        let out = p.path_gain(&grid, &b, [10.5, 32.0, 3.0]).unwrap();
        for row in 29..35 {
            let gains: Vec<f64> = (11..64).map(|c| out.gain_db[row * 64 + c]).collect();
            for w in gains.windows(2) {
                assert!(w[1] < w[0], "row {row}: {gains:?}");
            }
        }
    }

    #[test]
    fn the_street_carries_the_signal_around_a_corner() {
        // An L-shaped street: east–west along rows 30..36, then north along cols 50..56.
        let (grid, b) = world(&[(0, 30, 0, 64), (36, 64, 0, 50), (36, 64, 56, 64)]);
        let tx = [10.5, 33.0, 1.5];
        let target = 60 * 64 + 53; // centre (53.5, 60.5), up the side street
        let p = no_floor();
        let out = p.path_gain(&grid, &b, tx).unwrap();
        assert!(!out.line_of_sight[target]);
        let law = p.law();
        // Through the block: 2 walls and 41.3 m inside (hand-computed from the segment).
        let straight = ((53.5f64 - 10.5).powi(2) + (60.5f64 - 33.0).powi(2)).sqrt();
        let through = -(law.loss_db(straight, p.frequency_hz) + 2.0 * p.wall_loss_db + 41.3 * p.indoor_loss_db_per_m);
        assert!(out.gain_db[target] > through + 10.0, "{} vs {through}", out.gain_db[target]);
        // Without corner loss the street path is pure distance: tx → the corner cell's centre
        // (50.5, 35.5) → target.
        let free = UrbanPropagation { corner_loss_db: 0.0, ..no_floor() }.path_gain(&grid, &b, tx).unwrap();
        let geodesic = ((50.5f64 - 10.5).powi(2) + 2.5f64.powi(2)).sqrt() + (3.0f64.powi(2) + 25.0f64.powi(2)).sqrt();
        let expected = -law.loss_db(geodesic, p.frequency_hz);
        assert!((free.gain_db[target] - expected).abs() < 0.2, "{} vs {expected}", free.gain_db[target]);
        // The turn is about 80°: D₉₀·√(1 − cos θ) ≈ 11 dB more with the default corner loss.
        let extra = free.gain_db[target] - out.gain_db[target];
        assert!((8.0..14.0).contains(&extra), "{extra}");
    }

    #[test]
    fn indoor_cells_pay_the_wall_and_the_metres() {
        let (grid, b) = world(&[(20, 44, 20, 44)]);
        let p = no_floor();
        let out = p.path_gain(&grid, &b, [5.5, 32.5, 1.5]).unwrap();
        // Deeper inside the building (same row, further from the transmitter's wall): weaker.
        let row: Vec<f64> = (20..32).map(|c| out.gain_db[32 * 64 + c]).collect();
        for w in row.windows(2) {
            assert!(w[1] < w[0], "{row:?}");
        }
        // The first indoor cell: just outside is line of sight; inside adds at least one wall.
        assert!(out.gain_db[32 * 64 + 19] - out.gain_db[32 * 64 + 20] > p.wall_loss_db);
    }

    #[test]
    fn bad_inputs_are_named() {
        let (grid, b) = world(&[(20, 44, 20, 44)]);
        let p = UrbanPropagation::default();
        let e = p.path_gain(&grid, &b[..100], [5.0, 5.0, 1.5]).unwrap_err().to_string();
        assert!(e.contains("building mask"), "{e}");
        let e = p.path_gain(&grid, &b, [30.0, 30.0, 1.5]).unwrap_err().to_string();
        assert!(e.contains("inside a building"), "{e}");
        let e = p.path_gain(&grid, &b, [300.0, 5.0, 1.5]).unwrap_err().to_string();
        assert!(e.contains("outside the grid"), "{e}");
        let e = p.path_gain(&grid, &b, [f64::NAN, 5.0, 1.5]).unwrap_err().to_string();
        assert!(e.contains("transmitter position"), "{e}");
        let bad = UrbanPropagation { wall_loss_db: f64::NAN, ..p };
        let e = bad.path_gain(&grid, &b, [5.0, 5.0, 1.5]).unwrap_err().to_string();
        assert!(e.contains("wall loss"), "{e}");
    }
}
