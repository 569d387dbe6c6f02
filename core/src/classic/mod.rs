//! Classical estimators: IDW, log-distance path-loss fit, kriging (ordinary, universal,
//! simple) and the GP oracle, all behind [`crate::Estimator`].

pub mod gp_oracle;
pub mod idw;
pub mod kriging;
pub mod ldpl;
pub mod linalg;
pub mod noise;
pub mod registry;
pub mod slices;
pub mod variogram;

pub use gp_oracle::GpOracle;
pub use idw::Idw;
pub use kriging::Kriging;
pub use ldpl::Ldpl;
pub use noise::short_lag_noise_variance;
pub use registry::{CLASSICAL_METHODS, classical_by_name, fallback_note};
pub use slices::{Sample, SliceContext, Sliced, SpatialMethod};
