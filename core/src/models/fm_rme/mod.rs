//! FM-RME: the radio-map foundation model (fm-rme.txt §III; MODELS.md §2.1), split the way
//! burn's guide splits a model:
//!
//! - [`config`]: the architecture ([`FmRmeConfig`], stored with the weights) and the context
//!   rule ([`ContextConfig`], an inference setting);
//! - [`candidate`]: kriging's estimate at each query, a candidate of the learned
//!   interpolation where the architecture has one;
//! - [`context`]: which visible measurements a query group sees, and each query's nearest
//!   neighbours with the local interpolation baseline;
//! - [`batch`]: examples, the model's frame, the k-NN graph, padded batches;
//! - [`model`]: the network (GAFE, STS-PE, masked-autoencoder encoder and decoder, learned
//!   neighbourhood interpolation);
//! - [`std_head`]: the Gaussian head that gives σ (trained after the mean, the rest frozen);
//! - [`loss`]: masked and baseline-relative MSE, the Gaussian likelihood of the σ head;
//! - [`noise`]: measurement noise in the inputs (the nugget σ adds, the optional denoising);
//! - [`estimator`]: the model behind [`crate::Estimator`], chunked and tiled;
//! - [`weights`]: shipped weights with their manifest.

pub mod batch;
pub mod candidate;
pub mod config;
pub mod context;
pub mod estimator;
pub mod loss;
pub mod model;
pub mod noise;
pub mod std_head;
pub mod weights;

pub use batch::{Example, FADING_DIP_DB, FmRmeBatch, ModelFrame, NoiseShape, training_example};
pub use candidate::kriging_at;
pub use config::{ContextConfig, FmRmeConfig};
pub use context::{ContextRule, NEIGHBOURS, PAIR_FEATURES, QueryNeighbourhoods, local_baseline};
pub use estimator::{DEFAULT_BATCH_GROUPS, FmRmeEstimator};
pub use loss::{gaussian_nll, masked_mse, relative_masked_mse};
pub use model::{Decoded, EncodedVisible, FmRme, query_isolation_mask};
pub use noise::{NoiseFound, SIGMA_NUGGET_SHARE, SliceNoise, denoise_measurements, slice_nugget};
pub use std_head::{StdHead, StdHeadConfig};
pub use weights::load_fm_rme;
