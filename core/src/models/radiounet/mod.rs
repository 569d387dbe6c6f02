//! RadioUNet (Levie, Yapar, Kutyniok and Caire 2021): two cascaded U-Nets. The first maps the
//! city (building mask), the transmitter (distance map) and the samples to a coarse map; the
//! second sees the same inputs plus the first's map and refines it. The urban tables' strongest
//! learned baseline (MODELS.md §2.4).

pub mod config;
pub mod model;

pub use config::RadioUnetConfig;
pub use model::RadioUnet;
