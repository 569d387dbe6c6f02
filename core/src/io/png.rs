//! Map rendering to PNG: a perceptual colormap (viridis), a colour bar with labelled ticks,
//! NaN cells in grey, buildings in dark grey, north up (row 0 is the south edge, so it is
//! drawn at the bottom); and the world file (`.pgw`) that places the image in GIS tools.

use crate::error::{Result, RmeError};
use crate::map::Grid;

/// Viridis sampled at nine stops (matplotlib's table at 0, 1/8, …, 1), interpolated linearly.
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];

/// Colour of `t ∈ [0, 1]` (clamped).
pub fn viridis(t: f64) -> [u8; 3] {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
    let x = t * 8.0;
    let i = (x.floor() as usize).min(7);
    let f = x - i as f64;
    let mut c = [0u8; 3];
    for k in 0..3 {
        c[k] = (VIRIDIS[i][k] as f64 * (1.0 - f) + VIRIDIS[i + 1][k] as f64 * f).round() as u8;
    }
    c
}

const NAN_GREY: [u8; 3] = [160, 160, 160];
const BUILDING: [u8; 3] = [45, 45, 45];
const BACKGROUND: [u8; 3] = [255, 255, 255];
const INK: [u8; 3] = [20, 20, 20];

/// 3×5 glyphs for the colour bar's labels.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b001, 0b001, 0b001],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        'd' => [0b001, 0b001, 0b111, 0b101, 0b111],
        'B' => [0b110, 0b101, 0b110, 0b101, 0b110],
        'm' => [0b000, 0b000, 0b111, 0b111, 0b101],
        ' ' => [0; 5],
        _ => return None,
    })
}

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Self {
        let mut px = Vec::with_capacity(w * h * 3);
        for _ in 0..w * h {
            px.extend_from_slice(&BACKGROUND);
        }
        Self { w, h, px }
    }
    fn put(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.w && y < self.h {
            let i = (y * self.w + x) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }
    fn text(&mut self, x: usize, y: usize, s: &str, scale: usize) {
        let mut cx = x;
        for ch in s.chars() {
            if let Some(g) = glyph(ch) {
                for (row, bits) in g.iter().enumerate() {
                    for col in 0..3 {
                        if bits & (0b100 >> col) != 0 {
                            for dy in 0..scale {
                                for dx in 0..scale {
                                    self.put(cx + col * scale + dx, y + row * scale + dy, INK);
                                }
                            }
                        }
                    }
                }
            }
            cx += 4 * scale;
        }
    }
    fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        {
            let mut enc = ::png::Encoder::new(&mut out, self.w as u32, self.h as u32);
            enc.set_color(::png::ColorType::Rgb);
            enc.set_depth(::png::BitDepth::Eight);
            let mut wr = enc.write_header().map_err(|e| RmeError::invalid("PNG", e.to_string()))?;
            wr.write_image_data(&self.px).map_err(|e| RmeError::invalid("PNG", e.to_string()))?;
        }
        Ok(out)
    }
}

/// How to draw maps.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderOptions {
    /// Pixels per cell.
    pub scale: usize,
    /// Colour range; `None` = the finite min and max of the data.
    pub range: Option<(f64, f64)>,
    /// Unit written above the colour bar ("dBm", "dB").
    pub unit: String,
    /// Cells `(row, col)` to mark (measurement positions), drawn as white squares with a
    /// dark centre on the first tile.
    pub markers: Vec<(usize, usize)>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self { scale: 4, range: None, unit: "dBm".into(), markers: Vec::new() }
    }
}

/// The finite min and max of some values.
pub fn finite_range<'a>(values: impl IntoIterator<Item = &'a f64>) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for &v in values {
        if v.is_finite() {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    (lo <= hi).then_some((lo, if hi > lo { hi } else { lo + 1.0 }))
}

/// Renders `tiles` (each `rows × cols`, row 0 south) in a grid of `tile_cols` columns, with
/// one shared colour bar. `buildings` (`rows × cols`, 1 = building) is drawn on every tile;
/// `opts.markers` on the first.
pub fn render_mosaic(
    tiles: &[Vec<f64>],
    rows: usize,
    cols: usize,
    tile_cols: usize,
    buildings: Option<&[u8]>,
    opts: &RenderOptions,
) -> Result<Vec<u8>> {
    let tiles: Vec<Tile> =
        tiles.iter().enumerate().map(|(i, values)| Tile { values, buildings, markers: if i == 0 { &opts.markers } else { &[] } }).collect();
    render_tiles(&tiles, rows, cols, tile_cols, opts)
}

/// One tile of [`render_tiles`]: its values, its own building mask and its own markers.
#[derive(Clone, Copy, Debug)]
pub struct Tile<'a> {
    /// `rows × cols` values, row 0 south.
    pub values: &'a [f64],
    /// `rows × cols`, 1 = building (drawn dark grey).
    pub buildings: Option<&'a [u8]>,
    /// Cells `(row, col)` to mark (a transmitter, measurement positions).
    pub markers: &'a [(usize, usize)],
}

/// Renders tiles that each have their own buildings and markers (a mosaic of different
/// cities) with one shared colour bar; `opts.markers` is ignored.
pub fn render_tiles(tiles: &[Tile], rows: usize, cols: usize, tile_cols: usize, opts: &RenderOptions) -> Result<Vec<u8>> {
    if tiles.is_empty() || rows == 0 || cols == 0 || tile_cols == 0 {
        return Err(RmeError::invalid("render", "nothing to draw"));
    }
    if let Some(t) = tiles.iter().find(|t| t.values.len() != rows * cols || t.buildings.is_some_and(|b| b.len() != rows * cols)) {
        return Err(RmeError::invalid("render", format!("a tile has {} values for {rows}x{cols}", t.values.len())));
    }
    let s = opts.scale.clamp(1, 64);
    let (lo, hi) = opts.range.or_else(|| finite_range(tiles.iter().flat_map(|t| t.values.iter()))).unwrap_or((0.0, 1.0));
    let gap = 4;
    let tile_rows = tiles.len().div_ceil(tile_cols);
    let map_w = tile_cols * cols * s + (tile_cols - 1) * gap;
    let map_h = tile_rows * rows * s + (tile_rows - 1) * gap;
    let margin = 8;
    let bar_w = 14;
    let label_w = 7 * 8 + 8;
    let width = margin + map_w + margin + bar_w + 4 + label_w;
    let height = (margin + map_h + margin).max(120);
    if width * height > 64_000_000 {
        return Err(RmeError::invalid("render", "image over 64 megapixels; lower the scale"));
    }
    let mut cv = Canvas::new(width, height);
    for (ti, tile) in tiles.iter().enumerate() {
        let ox = margin + (ti % tile_cols) * (cols * s + gap);
        let oy = margin + (ti / tile_cols) * (rows * s + gap);
        for r in 0..rows {
            for c in 0..cols {
                let v = tile.values[r * cols + c];
                let color = if tile.buildings.is_some_and(|b| b[r * cols + c] != 0) {
                    BUILDING
                } else if v.is_finite() {
                    viridis((v - lo) / (hi - lo))
                } else {
                    NAN_GREY
                };
                let py = oy + (rows - 1 - r) * s; // north up
                for dy in 0..s {
                    for dx in 0..s {
                        cv.put(ox + c * s + dx, py + dy, color);
                    }
                }
            }
        }
        for &(r, c) in tile.markers {
            if r >= rows || c >= cols {
                continue;
            }
            let (cx, cy) = (ox + c * s + s / 2, oy + (rows - 1 - r) * s + s / 2);
            let half = (s / 2).max(2);
            for dy in 0..=2 * half {
                for dx in 0..=2 * half {
                    let (x, y) = ((cx + dx).saturating_sub(half), (cy + dy).saturating_sub(half));
                    let inner = dx.abs_diff(half) < half && dy.abs_diff(half) < half;
                    cv.put(x, y, if inner { INK } else { BACKGROUND });
                }
            }
        }
    }
    // Colour bar: top = hi.
    let bx = margin + map_w + margin;
    let by = margin + 22;
    let bh = height - by - margin - 4;
    for y in 0..bh {
        let t = 1.0 - y as f64 / (bh - 1).max(1) as f64;
        for x in 0..bar_w {
            cv.put(bx + x, by + y, viridis(t));
        }
    }
    cv.text(bx, margin, &opts.unit, 2);
    let ticks = 5;
    for k in 0..ticks {
        let t = k as f64 / (ticks - 1) as f64;
        let y = by + ((1.0 - t) * (bh - 1) as f64) as usize;
        for x in 0..4 {
            cv.put(bx + bar_w + x, y, INK);
        }
        let v = lo + t * (hi - lo);
        let label = if (hi - lo) < 10.0 { format!("{v:.1}") } else { format!("{v:.0}") };
        cv.text(bx + bar_w + 6, y.saturating_sub(5).min(height - 11), &label, 2);
    }
    cv.encode()
}

/// Renders one map.
pub fn render_map(values: &[f64], rows: usize, cols: usize, buildings: Option<&[u8]>, opts: &RenderOptions) -> Result<Vec<u8>> {
    render_mosaic(&[values.to_vec()], rows, cols, 1, buildings, opts)
}

/// Stacked line charts (one panel per series, sharing the x axis), for training curves:
/// each series is `(x, y)` points; `log_y` panels plot log10(y) with labels in y's units.
pub fn render_curves(series: &[(Vec<(f64, f64)>, bool)], width: usize, panel_height: usize) -> Result<Vec<u8>> {
    if series.is_empty() || width < 120 || panel_height < 60 {
        return Err(RmeError::invalid("curve plot", "nothing to draw or too small"));
    }
    const COLORS: [[u8; 3]; 3] = [[31, 119, 180], [214, 39, 40], [44, 160, 44]];
    let height = series.len() * panel_height;
    let mut cv = Canvas::new(width, height);
    let (left, right, top, bottom) = (64usize, 12usize, 10usize, 16usize);
    let xs = series.iter().flat_map(|(s, _)| s.iter().map(|p| p.0));
    let x_range = finite_range(xs.collect::<Vec<f64>>().iter()).unwrap_or((0.0, 1.0));
    for (pi, (points, log_y)) in series.iter().enumerate() {
        let oy = pi * panel_height;
        let tr = |y: f64| if *log_y { y.max(1e-12).log10() } else { y };
        let ys: Vec<f64> = points.iter().map(|p| tr(p.1)).filter(|v| v.is_finite()).collect();
        let (y0, y1) = finite_range(ys.iter()).unwrap_or((0.0, 1.0));
        let (pw, ph) = (width - left - right, panel_height - top - bottom);
        // Axes.
        for x in left..left + pw {
            cv.put(x, oy + top + ph, INK);
        }
        for y in oy + top..oy + top + ph {
            cv.put(left, y, INK);
        }
        for k in 0..3 {
            let t = k as f64 / 2.0;
            let y = oy + top + ((1.0 - t) * (ph - 1) as f64) as usize;
            let v = y0 + t * (y1 - y0);
            let v = if *log_y { 10f64.powf(v) } else { v };
            let label = if v.abs() >= 100.0 {
                format!("{v:.0}")
            } else if v.abs() >= 1.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.3}")
            };
            cv.text(2, y.saturating_sub(5), &label, 2);
            for x in left.saturating_sub(4)..left {
                cv.put(x, y, INK);
            }
        }
        let to_px = |p: (f64, f64)| -> Option<(usize, usize)> {
            let y = tr(p.1);
            if !y.is_finite() {
                return None;
            }
            let fx = (p.0 - x_range.0) / (x_range.1 - x_range.0);
            let fy = (y - y0) / (y1 - y0);
            Some((left + (fx * (pw - 1) as f64) as usize, oy + top + ((1.0 - fy) * (ph - 1) as f64) as usize))
        };
        let color = COLORS[pi % COLORS.len()];
        let mut prev: Option<(usize, usize)> = None;
        for &p in points {
            if let Some(q) = to_px(p) {
                if let Some(a) = prev {
                    let steps = a.0.abs_diff(q.0).max(a.1.abs_diff(q.1)).max(1);
                    for s in 0..=steps {
                        let f = s as f64 / steps as f64;
                        let x = (a.0 as f64 + f * (q.0 as f64 - a.0 as f64)).round() as usize;
                        let y = (a.1 as f64 + f * (q.1 as f64 - a.1 as f64)).round() as usize;
                        cv.put(x, y, color);
                        cv.put(x, y + 1, color);
                    }
                }
                prev = Some(q);
            }
        }
        let last = format!("{:.0}", x_range.1);
        cv.text(width - right - 4 * 2 * last.len(), oy + top + ph + 3, &last, 2);
    }
    cv.encode()
}

/// ESRI world file for a single-map PNG from [`render_map`]: pixel size, rotation terms, and
/// the centre of the map's top-left pixel (the map starts at the 8-pixel margin).
pub fn world_file(grid: &Grid, scale: usize) -> String {
    let px = grid.cell_size_m / scale.max(1) as f64;
    let margin = 8.0;
    let top = grid.origin_m[1] + grid.rows as f64 * grid.cell_size_m;
    let x0 = grid.origin_m[0] + 0.5 * px - margin * px;
    let y0 = top - 0.5 * px + margin * px;
    format!("{px}\n0\n0\n{}\n{x0}\n{y0}\n", -px)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colormap_ends() {
        assert_eq!(viridis(0.0), [68, 1, 84]);
        assert_eq!(viridis(1.0), [253, 231, 37]);
        assert_eq!(viridis(f64::NAN), [68, 1, 84]);
    }

    #[test]
    fn renders_a_decodable_png_with_north_up() {
        let (rows, cols) = (4, 6);
        let mut v: Vec<f64> = (0..rows * cols).map(|i| (i / cols) as f64).collect();
        v[0] = f64::NAN;
        let bytes = render_map(&v, rows, cols, None, &RenderOptions { scale: 2, ..Default::default() }).unwrap();
        let dec = ::png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = dec.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let w = info.width as usize;
        // Top-left map pixel is the northern row (max value = yellow end).
        let at = |x: usize, y: usize| [buf[(y * w + x) * 3], buf[(y * w + x) * 3 + 1], buf[(y * w + x) * 3 + 2]];
        assert_eq!(at(8, 8), viridis(1.0));
        // Bottom-left is row 0, col 0: NaN grey.
        assert_eq!(at(8, 8 + rows * 2 - 1), NAN_GREY);
    }

    #[test]
    fn curves_render() {
        let loss: Vec<(f64, f64)> = (1..100).map(|i| (i as f64, 1.0 / i as f64)).collect();
        let val: Vec<(f64, f64)> = (1..10).map(|i| (10.0 * i as f64, 5.0 - 0.1 * i as f64)).collect();
        let png = render_curves(&[(loss, true), (val, false)], 640, 200).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        assert!(render_curves(&[], 640, 200).is_err());
    }

    #[test]
    fn world_file_places_the_map() {
        let g = Grid::new(10, 10, 2.0, [100.0, 200.0]).unwrap();
        let w = world_file(&g, 4);
        let lines: Vec<f64> = w.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(lines[0], 0.5);
        assert_eq!(lines[3], -0.5);
        // Pixel (8, 8) is the map's top-left pixel: its centre is 0.25 m inside the corner.
        assert!((lines[4] + 8.0 * 0.5 - 100.25).abs() < 1e-9);
        assert!((lines[5] - 8.0 * 0.5 - (220.0 - 0.25)).abs() < 1e-9);
    }
}
