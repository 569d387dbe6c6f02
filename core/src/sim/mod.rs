//! Simulators: Gaussian shadowing fields, propagation, roads and the dynamic D1–D7 presets.

pub mod dynamic;
pub mod fft;
pub mod fields;
pub mod propagation;
pub mod roads;
pub mod urban;

pub use dynamic::{DynamicPreset, DynamicSimulator, PRESETS, TxPin};
