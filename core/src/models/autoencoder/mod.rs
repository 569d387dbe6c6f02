//! The deep completion autoencoder of Teganya and Romero (2021), the learned baseline of the
//! urban tables (MODELS.md §2.4): a convolutional encoder–decoder that maps the sparse map
//! and its sampling mask to the complete map. It sees neither buildings nor the transmitter:
//! it completes the map from the samples alone.

pub mod config;
pub mod model;

pub use config::AutoencoderConfig;
pub use model::Autoencoder;
