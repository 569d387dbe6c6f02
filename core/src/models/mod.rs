//! Trained models, one folder each, and the weight files they share.

pub mod autoencoder;
pub mod fm_rme;
pub mod grid;
pub mod grid_nets;
pub mod pi_drme;
pub mod radiodun;
pub mod radiounet;
pub mod storm;
pub mod weights;
