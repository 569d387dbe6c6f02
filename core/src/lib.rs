//! # rme-core
//!
//! Radio map estimation: the data model (grid maps `[T, F, H, W]`, gridless measurement and
//! query sets), the dynamic spectrum simulator (FM-RME's D1–D7), the three masking strategies,
//! classical estimators (IDW, LDPL, kriging, GP oracle) behind one [`Estimator`] trait,
//! metrics, and the file formats as bytes. No file-system, thread or DOM access: the same
//! code runs natively and in WebAssembly.

#![warn(missing_docs)]

pub mod backend;
pub mod classic;
pub mod error;
pub mod estimator;
pub mod io;
pub mod map;
pub mod mask;
pub mod metrics;
pub mod models;
pub mod next_measurement;
pub mod nn;
pub mod rank;
pub mod rng;
pub mod scene;
pub mod sim;

pub use classic::{CLASSICAL_METHODS, classical_by_name};
pub use error::{Result, RmeError};
pub use estimator::Estimator;
pub use map::{Estimate, Grid, Measurement, MeasurementSet, Query, QuerySet, RadioMap};
pub use next_measurement::{Suggestion, suggest_next};
