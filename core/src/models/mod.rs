//! Trained models, one folder each, and the weight files they share.

pub mod fm_rme;
pub mod weights;
