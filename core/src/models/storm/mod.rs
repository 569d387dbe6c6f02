//! STORM, the point-based peer of FM-RME (Viet & Romero, "Spatial Transformer for Radio Map
//! Estimation", ICC 2025; the baseline of fm-rme.txt §IV; MODELS.md §2.4): for each query, a
//! transformer over its nearest measurements, described only by features that do not change
//! when the whole scene is translated or rotated. Split the way burn's guide splits a model:
//!
//! - [`config`]: the architecture ([`StormConfig`], stored with the weights);
//! - [`features`]: the invariant frame and features of a query's neighbours ([`QueryTokens`]);
//! - [`batch`]: those features as padded tensors, with the training targets;
//! - [`model`]: the network (embedding, readout token, pre-norm transformer, mean and σ heads);
//! - [`loss`]: squared error of the mean plus the Gaussian likelihood of σ;
//! - [`estimator`]: the model behind [`crate::Estimator`], one `(slot, band)` slice at a time;
//! - [`weights`]: shipped weights with their manifest.
//!
//! What differs from the authors' public code (read, not copied), and why:
//! - values are standardised by the slice's own mean and spread and positions scaled by the
//!   slice's mean sample spacing, so the one model runs zero-shot on any level and any area
//!   (the authors train one model per dataset, in that dataset's units);
//! - a query sees its `k` nearest measurements, not every measurement of a patch, so the cost
//!   of a map is linear in its queries and bounded per query;
//! - a learned readout token gives the estimate (the authors average the last token's
//!   channels under a causal mask), on top of an inverse-distance baseline of the same
//!   neighbours, so an untrained model already interpolates and training learns a correction;
//! - the raw angle feature is left out (it jumps from π to −π; its cosine and sine stay);
//! - a second head gives σ, trained by likelihood, so the page can show it and suggest where
//!   to measure next.

pub mod batch;
pub mod config;
pub mod estimator;
pub mod features;
pub mod loss;
pub mod model;
pub mod weights;

pub use batch::{SliceSampling, StormBatch, StormExample};
pub use config::StormConfig;
pub use estimator::StormMethod;
pub use features::{QueryTokens, STORM_FEATURES, SliceFrame};
pub use loss::storm_loss;
pub use model::{Storm, StormOutput};
pub use weights::load_storm;
