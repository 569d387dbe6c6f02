//! Trained models.

pub mod fm_rme;
pub mod fm_rme_context;
pub mod fm_rme_estimator;
pub mod weights;
