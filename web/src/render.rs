//! The colormap of the CLI's PNGs (viridis) for the page's canvases, and PNG files for
//! download, so that a map looks the same in the browser, in `rme estimate --out x.png` and
//! in a download.

use crate::js_error;
use rme_core::io::png::{RenderOptions, render_map, viridis};
use wasm_bindgen::prelude::*;

/// `n` RGBA colours of the colormap from low to high: the lookup table the page paints its
/// maps and colour bars with.
#[wasm_bindgen]
pub fn colormap_rgba(n: usize) -> Vec<u8> {
    let n = n.max(2);
    (0..n)
        .flat_map(|i| {
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
    fn colormap_runs_from_low_to_high() {
        assert_eq!(colormap_rgba(16).len(), 64);
        let [r, g, b] = viridis(0.0);
        assert_eq!(&colormap_rgba(16)[0..4], &[r, g, b, 255]);
    }
}
