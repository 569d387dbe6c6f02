//! Random city layouts: buildings as footprints in metres, rasterised onto any grid.
//!
//! A city is drawn from `(style, seed)` alone, in metres, so the same city can be rasterised at
//! 128² and 256² cells. Four styles make cities differ in the way the papers' RadioMapSeer
//! cities (and real ones) do:
//! - [`CityStyle::Grid`]: a Manhattan grid of streets of varied width (some avenues), blocks cut
//!   into lots with narrow gaps, a few empty lots (squares, parks);
//! - [`CityStyle::Rotated`]: the same, turned by 10–40° so that streets are not aligned with the
//!   raster (what real maps look like, e.g. the Sionna scenes in `data/sionna-dev`);
//! - [`CityStyle::Organic`]: recursive binary splits of the region by streets whose width
//!   shrinks with depth (an irregular old town with wide arteries and narrow lanes);
//! - [`CityStyle::Scattered`]: detached buildings of varied size and orientation with open
//!   space between them (a campus or suburb).

use crate::error::{Result, RmeError};
use crate::map::Grid;
use crate::rng::Rng;

/// The kind of layout a city is drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CityStyle {
    /// Axis-aligned street grid.
    Grid,
    /// Street grid at an angle to the raster.
    Rotated,
    /// Recursive splits by streets of shrinking width.
    Organic,
    /// Detached buildings with open space between them.
    Scattered,
}

impl CityStyle {
    /// All styles, in the order datasets cycle through them.
    pub const ALL: [CityStyle; 4] = [CityStyle::Grid, CityStyle::Rotated, CityStyle::Organic, CityStyle::Scattered];

    /// The style's name on the command line and in map ids.
    pub fn name(self) -> &'static str {
        match self {
            CityStyle::Grid => "grid",
            CityStyle::Rotated => "rotated",
            CityStyle::Organic => "organic",
            CityStyle::Scattered => "scattered",
        }
    }

    /// The style called `name`.
    pub fn by_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| RmeError::invalid("city style", format!("'{name}' is not one of grid, rotated, organic, scattered")))
    }
}

/// A building footprint: a rectangle of half sizes `half_m` centred at `center_m`, turned by
/// `angle_rad` (counter-clockwise from the x axis).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Footprint {
    /// Centre, metres.
    pub center_m: [f64; 2],
    /// Half extents along the rectangle's own axes, metres.
    pub half_m: [f64; 2],
    /// Orientation, radians.
    pub angle_rad: f64,
}

impl Footprint {
    fn contains(&self, x: f64, y: f64, cos: f64, sin: f64) -> bool {
        let (dx, dy) = (x - self.center_m[0], y - self.center_m[1]);
        let u = dx * cos + dy * sin;
        let v = -dx * sin + dy * cos;
        u.abs() <= self.half_m[0] && v.abs() <= self.half_m[1]
    }

    /// Radius of the circle around the footprint.
    fn radius(&self) -> f64 {
        (self.half_m[0] * self.half_m[0] + self.half_m[1] * self.half_m[1]).sqrt()
    }
}

/// A city: its footprints over a square region `[0, side_m]²`.
#[derive(Clone, Debug, PartialEq)]
pub struct City {
    /// The layout style it was drawn from.
    pub style: CityStyle,
    /// The seed it was drawn from.
    pub seed: u64,
    /// Side of the square region, metres.
    pub side_m: f64,
    /// Building footprints.
    pub footprints: Vec<Footprint>,
}

/// An axis-aligned rectangle `[x0, x1] × [y0, y1]` in a layout's own frame, metres.
#[derive(Clone, Copy, Debug)]
struct Rect {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Rect {
    fn width(&self) -> f64 {
        self.x1 - self.x0
    }
    fn height(&self) -> f64 {
        self.y1 - self.y0
    }
}

/// A street width: mostly lanes and streets, sometimes an avenue.
fn street_width(rng: &mut Rng) -> f64 {
    if rng.bernoulli(0.2) { rng.range(16.0, 26.0) } else { rng.range(6.0, 14.0) }
}

impl City {
    /// Draws a city of `style` over a `side_m` square from `seed` (same seed, same city).
    pub fn generate(style: CityStyle, seed: u64, side_m: f64) -> Result<Self> {
        if !(side_m.is_finite() && side_m >= 32.0) {
            return Err(RmeError::invalid("city side", format!("{side_m} m must be at least 32 m")));
        }
        let mut rng = Rng::new(seed ^ 0x5EED_C17E_0000_0000);
        let footprints = match style {
            CityStyle::Grid => street_grid(&mut rng, side_m, 0.0),
            CityStyle::Rotated => {
                let angle = rng.range(10.0, 40.0).to_radians() * if rng.bernoulli(0.5) { 1.0 } else { -1.0 };
                street_grid(&mut rng, side_m, angle)
            }
            CityStyle::Organic => organic(&mut rng, side_m),
            CityStyle::Scattered => scattered(&mut rng, side_m),
        };
        Ok(City { style, seed, side_m, footprints })
    }

    /// The building mask on `grid` (row-major, 1 = building): a cell is a building when its
    /// centre lies in a footprint. The grid's origin places the city (a grid with origin
    /// `[0, 0]` and `rows·cell = side_m` covers it exactly).
    pub fn rasterise(&self, grid: &Grid) -> Vec<u8> {
        let mut mask = vec![0u8; grid.len()];
        let cell = grid.cell_size_m;
        for fp in &self.footprints {
            let (sin, cos) = (libm::sin(fp.angle_rad), libm::cos(fp.angle_rad));
            let r = fp.radius();
            // Cells whose centre may lie inside: the footprint's bounding circle's box.
            let c0 = (((fp.center_m[0] - r - grid.origin_m[0]) / cell).floor().max(0.0)) as usize;
            let r0 = (((fp.center_m[1] - r - grid.origin_m[1]) / cell).floor().max(0.0)) as usize;
            let c1 = (((fp.center_m[0] + r - grid.origin_m[0]) / cell).ceil().max(0.0) as usize).min(grid.cols);
            let r1 = (((fp.center_m[1] + r - grid.origin_m[1]) / cell).ceil().max(0.0) as usize).min(grid.rows);
            for row in r0..r1 {
                for col in c0..c1 {
                    let [x, y] = grid.cell_center(row, col);
                    if fp.contains(x, y, cos, sin) {
                        mask[row * grid.cols + col] = 1;
                    }
                }
            }
        }
        mask
    }
}

/// Fills a block (in the layout's frame) with buildings: one building with a setback, or lots
/// along the longer side with gaps between them; some lots stay empty.
fn fill_block(rng: &mut Rng, block: Rect, out: &mut Vec<Rect>) {
    if block.width() < 4.0 || block.height() < 4.0 {
        return;
    }
    if rng.bernoulli(0.08) {
        return; // a square or a park
    }
    let setback = rng.range(0.0, 2.5);
    let inner = Rect { x0: block.x0 + setback, y0: block.y0 + setback, x1: block.x1 - setback, y1: block.y1 - setback };
    if inner.width() < 3.0 || inner.height() < 3.0 {
        return;
    }
    if rng.bernoulli(0.3) || inner.width().max(inner.height()) < 18.0 {
        out.push(inner);
        return;
    }
    // Lots along the longer side; a second row when the block is deep.
    let along_x = inner.width() >= inner.height();
    let (len, depth) = if along_x { (inner.width(), inner.height()) } else { (inner.height(), inner.width()) };
    let rows_across = if depth > 36.0 && rng.bernoulli(0.7) { 2 } else { 1 };
    let gap_across = rng.range(1.0, 4.0);
    let row_depth = (depth - gap_across * (rows_across - 1) as f64) / rows_across as f64;
    for k in 0..rows_across {
        let d0 = k as f64 * (row_depth + gap_across);
        let mut s = 0.0;
        while s < len - 3.0 {
            let lot = rng.range(10.0, 28.0).min(len - s);
            let gap = if rng.bernoulli(0.6) { rng.range(1.0, 4.0) } else { 0.0 };
            if lot >= 4.0 && !rng.bernoulli(0.07) {
                // A lot's building may be shallower than the row (a front yard or back yard).
                let shallow = if rng.bernoulli(0.3) { rng.range(0.6, 0.95) } else { 1.0 };
                let dd = row_depth * shallow;
                let r = if along_x {
                    Rect { x0: inner.x0 + s, x1: inner.x0 + s + lot, y0: inner.y0 + d0, y1: inner.y0 + d0 + dd }
                } else {
                    Rect { y0: inner.y0 + s, y1: inner.y0 + s + lot, x0: inner.x0 + d0, x1: inner.x0 + d0 + dd }
                };
                out.push(r);
            }
            s += lot + gap;
        }
    }
}

/// Turns rectangles of a frame rotated by `angle` about the region's centre into footprints.
fn to_footprints(rects: &[Rect], side_m: f64, angle: f64) -> Vec<Footprint> {
    let (sin, cos) = (libm::sin(angle), libm::cos(angle));
    let c = side_m / 2.0;
    rects
        .iter()
        .map(|r| {
            let (u, v) = ((r.x0 + r.x1) / 2.0 - c, (r.y0 + r.y1) / 2.0 - c);
            Footprint {
                center_m: [c + u * cos - v * sin, c + u * sin + v * cos],
                half_m: [r.width() / 2.0, r.height() / 2.0],
                angle_rad: angle,
            }
        })
        .filter(|f| {
            // Keep what touches the region.
            let r = f.radius();
            f.center_m.iter().all(|&p| p > -r && p < side_m + r)
        })
        .collect()
}

/// Street lines along one axis over `[lo, hi]`: `(start, end)` of each block between streets.
fn block_spans(rng: &mut Rng, lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let mut spans = Vec::new();
    let mut s = lo + rng.range(0.0, 30.0);
    while s < hi {
        let block = rng.range(28.0, 70.0);
        spans.push((s, s + block));
        s += block + street_width(rng);
    }
    spans
}

fn street_grid(rng: &mut Rng, side_m: f64, angle: f64) -> Vec<Footprint> {
    // A rotated grid must still cover the corners of the region: lay it out over the diagonal.
    let margin = if angle == 0.0 { 0.0 } else { side_m * 0.25 };
    let (lo, hi) = (-margin - 20.0, side_m + margin);
    let xs = block_spans(rng, lo, hi);
    let ys = block_spans(rng, lo, hi);
    let mut rects = Vec::new();
    for &(y0, y1) in &ys {
        for &(x0, x1) in &xs {
            fill_block(rng, Rect { x0, y0, x1, y1 }, &mut rects);
        }
    }
    to_footprints(&rects, side_m, angle)
}

fn split_organic(rng: &mut Rng, r: Rect, depth: usize, out: &mut Vec<Rect>) {
    let longest = r.width().max(r.height());
    let stop = rng.range(35.0, 80.0);
    if longest < stop || depth > 8 {
        fill_block(rng, r, out);
        return;
    }
    // Arteries first, lanes later.
    let street = if depth < 2 { rng.range(12.0, 24.0) } else { rng.range(5.0, 11.0) };
    let at = rng.range(0.3, 0.7);
    if r.width() >= r.height() {
        let cut = r.x0 + at * r.width();
        split_organic(rng, Rect { x1: cut - street / 2.0, ..r }, depth + 1, out);
        split_organic(rng, Rect { x0: cut + street / 2.0, ..r }, depth + 1, out);
    } else {
        let cut = r.y0 + at * r.height();
        split_organic(rng, Rect { y1: cut - street / 2.0, ..r }, depth + 1, out);
        split_organic(rng, Rect { y0: cut + street / 2.0, ..r }, depth + 1, out);
    }
}

fn organic(rng: &mut Rng, side_m: f64) -> Vec<Footprint> {
    let mut rects = Vec::new();
    split_organic(rng, Rect { x0: -10.0, y0: -10.0, x1: side_m + 10.0, y1: side_m + 10.0 }, 0, &mut rects);
    to_footprints(&rects, side_m, 0.0)
}

fn scattered(rng: &mut Rng, side_m: f64) -> Vec<Footprint> {
    // One dominant orientation with some buildings off it, placed by rejection so that
    // bounding circles keep a gap (streets and yards between buildings).
    let main_angle = rng.range(0.0, std::f64::consts::FRAC_PI_2);
    let target = rng.range(0.18, 0.30) * side_m * side_m;
    let mut out: Vec<Footprint> = Vec::new();
    let mut area = 0.0;
    let mut tries = 0;
    while area < target && tries < 4000 {
        tries += 1;
        let half = [rng.range(4.0, 22.0), rng.range(4.0, 14.0)];
        let angle = if rng.bernoulli(0.75) { main_angle } else { rng.range(0.0, std::f64::consts::PI) };
        let fp = Footprint { center_m: [rng.range(0.0, side_m), rng.range(0.0, side_m)], half_m: half, angle_rad: angle };
        let gap = 5.0;
        let clear = out.iter().all(|o| {
            let (dx, dy) = (o.center_m[0] - fp.center_m[0], o.center_m[1] - fp.center_m[1]);
            (dx * dx + dy * dy).sqrt() > 0.8 * (o.radius() + fp.radius()) + gap
        });
        if clear {
            area += 4.0 * half[0] * half[1];
            out.push(fp);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid256() -> Grid {
        Grid::new(256, 256, 1.0, [0.0, 0.0]).unwrap()
    }

    #[test]
    fn same_seed_same_city_other_seed_other_city() {
        for style in CityStyle::ALL {
            let a = City::generate(style, 7, 256.0).unwrap();
            let b = City::generate(style, 7, 256.0).unwrap();
            let c = City::generate(style, 8, 256.0).unwrap();
            assert_eq!(a, b);
            assert_ne!(a.rasterise(&grid256()), c.rasterise(&grid256()), "{style:?}");
        }
    }

    #[test]
    fn every_style_builds_a_plausible_density() {
        for style in CityStyle::ALL {
            for seed in 0..5 {
                let mask = City::generate(style, seed, 256.0).unwrap().rasterise(&grid256());
                let share = mask.iter().filter(|&&b| b == 1).count() as f64 / mask.len() as f64;
                assert!((0.08..0.65).contains(&share), "{style:?} seed {seed}: building share {share}");
            }
        }
    }

    #[test]
    fn coarser_grid_rasterises_the_same_city() {
        let city = City::generate(CityStyle::Rotated, 3, 256.0).unwrap();
        let fine = city.rasterise(&grid256());
        let coarse = city.rasterise(&Grid::new(128, 128, 2.0, [0.0, 0.0]).unwrap());
        // A coarse cell's centre is the corner of four fine cells: they mostly agree.
        let mut agree = 0;
        for r in 0..128 {
            for c in 0..128 {
                agree += (coarse[r * 128 + c] == fine[(2 * r + 1) * 256 + 2 * c + 1]) as usize;
            }
        }
        assert!(agree as f64 / (128.0 * 128.0) > 0.93, "{agree}");
    }

    #[test]
    fn footprint_rasterisation_hand_case() {
        // A 4 m × 2 m building centred at (5, 5), not turned: cells with centres x in 3..7,
        // y in 4..6 → columns 3..=6 (centres 3.5…6.5), rows 4..=5.
        let city = City {
            style: CityStyle::Grid,
            seed: 0,
            side_m: 10.0,
            footprints: vec![Footprint { center_m: [5.0, 5.0], half_m: [2.0, 1.0], angle_rad: 0.0 }],
        };
        let mask = city.rasterise(&Grid::new(10, 10, 1.0, [0.0, 0.0]).unwrap());
        let cells: Vec<(usize, usize)> = (0..100).filter(|&i| mask[i] == 1).map(|i| (i / 10, i % 10)).collect();
        assert_eq!(cells, vec![(4, 3), (4, 4), (4, 5), (4, 6), (5, 3), (5, 4), (5, 5), (5, 6)]);
    }

    #[test]
    fn unknown_style_is_named() {
        let e = CityStyle::by_name("venice").unwrap_err().to_string();
        assert!(e.contains("venice"), "{e}");
    }
}
