//! PI-DRME (physics-inspired distributed radio map estimation; pi-drme.txt, MODELS.md §2.3):
//! clients (regions: cities of the urban simulator) each keep their radio maps; the model is
//! split into a globally shared *pathloss* autoencoder and a client-specific *shadowing*
//! autoencoder, and the estimate is their sum. The pathloss module is guided by physics: the
//! log-distance law fitted to the client's samples (the *template*, [`crate::models::grid::ldpl_law`])
//! and a loss aligning the spatial gradients of the predicted pathloss map with the template's
//! ([`loss::gradient_loss`]); a constraint loss keeps the shared parameters near the global
//! ones, weighted by how far the client's individual module moved in its round
//! ([`loss::constraint_loss`]). Only the shared module's encoder travels to the server.
//!
//! This folder holds the model: its config, the two autoencoders, the losses, the named
//! parameters that travel, and (with the `train` feature) a client's round ([`round`]); its
//! batch is the grid adapter's ([`crate::models::grid::GridBatch`], whose `law` plane is the
//! template). The federation itself (the server, the clients as separate processes) runs on
//! Flower (`federated/`), calling the round through the Python package (`python/`).

pub mod autoencoder;
pub mod config;
pub mod decoder;
pub mod encoder;
pub mod loss;
pub mod model;
pub mod params;
#[cfg(feature = "train")]
pub mod round;

pub use autoencoder::{ConvAutoencoder, ConvAutoencoderConfig};
pub use config::PiDrmeConfig;
pub use model::{PiDrme, PiDrmeOutput};
