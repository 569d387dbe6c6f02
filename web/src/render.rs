//! Pixels for the page's canvases, with the colormap of the CLI's PNGs (viridis), so that a
//! map looks the same in the browser, in `rme estimate --out x.png` and in a download.

use crate::js_error;
use rme_core::io::png::{render_map, viridis, RenderOptions};
use wasm_bindgen::prelude::*;

/// RGBA pixels (`rows × cols`, north up, one pixel per cell) of a row-major map whose row 0
/// is the south edge, coloured over `[lo, hi]` (clamped). Non-finite cells are transparent.
#[wasm_bindgen]
pub fn render_rgba(values: &[f32], rows: usize, cols: usize, lo: f64, hi: f64) -> Result<Vec<u8>, JsError> {
    rgba(values, rows, cols, lo, hi).map_err(js_error)
}

fn rgba(values: &[f32], rows: usize, cols: usize, lo: f64, hi: f64) -> Result<Vec<u8>, String> {
    if values.len() != rows * cols {
        return Err(format!("{} values for a {rows} × {cols} map", values.len()));
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(format!("colour range [{lo}, {hi}] is not finite"));
    }
    let span = if hi > lo { hi - lo } else { 1.0 };
    let mut out = vec![0u8; rows * cols * 4];
    for r in 0..rows {
        // Canvas row 0 is the top (north) edge.
        let src = (rows - 1 - r) * cols;
        for c in 0..cols {
            let v = values[src + c] as f64;
            let px = &mut out[(r * cols + c) * 4..(r * cols + c) * 4 + 4];
            if v.is_finite() {
                let [red, green, blue] = viridis(((v - lo) / span).clamp(0.0, 1.0));
                px.copy_from_slice(&[red, green, blue, 255]);
            }
        }
    }
    Ok(out)
}

/// `n` RGBA colours of the colormap from low to high (for the colour bar).
#[wasm_bindgen]
pub fn colormap_rgba(n: usize) -> Vec<u8> {
    let n = n.max(2);
    (0..n).flat_map(|i| {
        let [r, g, b] = viridis(i as f64 / (n - 1) as f64);
        [r, g, b, 255]
    })
    .collect()
}

/// A PNG file of a map (with its colour bar, as the CLI writes them) for download.
#[wasm_bindgen]
pub fn png_bytes(values: &[f32], rows: usize, cols: usize, lo: f64, hi: f64, unit: &str) -> Result<Vec<u8>, JsError> {
    let v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    let scale = (512 / rows.max(cols).max(1)).clamp(1, 8);
    let opts = RenderOptions { scale, range: Some((lo, hi)), unit: unit.into(), markers: vec![] };
    render_map(&v, rows, cols, None, &opts).map_err(js_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_flipped_north_up_and_nan_is_transparent() {
        // 2 × 1 map: row 0 (south) = lo, row 1 (north) = NaN.
        let px = rgba(&[0.0, f32::NAN], 2, 1, 0.0, 1.0).unwrap();
        assert_eq!(&px[0..4], &[0, 0, 0, 0]); // top pixel: the north cell, NaN
        let [r, g, b] = viridis(0.0);
        assert_eq!(&px[4..8], &[r, g, b, 255]);
        assert!(rgba(&[0.0], 2, 1, 0.0, 1.0).is_err());
        assert!(rgba(&[0.0, 0.0], 2, 1, f64::NAN, 1.0).is_err());
        assert_eq!(colormap_rgba(16).len(), 64);
    }
}
