//! rme in the browser. This crate holds only the wasm-bindgen surface; every model, simulator
//! and estimator lives in `rme-core`, so the browser runs the same code as the CLI.
//! (The demo page and the widget are built on it by the web issue.)

use rme_core::sim::{DynamicPreset, DynamicSimulator};
use wasm_bindgen::prelude::*;

/// Version of the rme crates in this bundle.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// One `[H, W]` slice (row 0 south) of a simulated sample, dBm; errors name the bad argument.
#[wasm_bindgen]
pub fn simulate_slice(preset: &str, seed: u64, slot: usize, band: usize) -> Result<Vec<f32>, JsError> {
    let p = DynamicPreset::by_name(preset)?;
    if slot >= p.slots || band >= p.bands {
        return Err(JsError::new(&format!("{}: slot {slot} / band {band} out of range ({} slots, {} bands)", p.name, p.slots, p.bands)));
    }
    let map = DynamicSimulator::new(p)?.simulate(seed)?;
    Ok(map.slice(slot, band).to_vec())
}

#[cfg(test)]
mod tests {
    #[test]
    fn simulate_slice_has_the_grid_size() {
        let v = super::simulate_slice("D1", 1, 0, 0).unwrap();
        assert_eq!(v.len(), 64 * 64);
    }
}
