//! RadioDUN (Chen, Zhou et al.): radio map estimation as sparse signal recovery, the map the
//! sum of factors of a statistical propagation model (eq. 4: a distance factor and one per
//! obstacle plane), recovered by K unfolded iterations of alternating optimisation. Each
//! unfolding block runs a gradient step with soft thresholding on every factor (GDM), weighs
//! the factors into a rough map with attention guided by the previous block (DRM), and refines
//! it with a learned proximal operator (PMM, a U-net of conv + channel-attention stage blocks).
//! A shadowing factor from the obstacle factors adds the shadowing loss (eqs. 19–22) to the
//! MSE. MODELS.md §2.2 restores the equations.
//!
//! Two faults of the authors' public code are avoided: its step sizes are not registered as
//! parameters, so they never learn (here β and ε are parameters; a test shows they move in
//! training), and its data split lets test maps leak into training (here the split is by city:
//! training, validation and test cities come from disjoint seed ranges).
//!
//! Choices where the paper is silent or loose, each documented where it is made:
//! - the data term's residual is taken from the current map (the previous block's refined
//!   map, corrected by the factor updates), so the PMM's refinement reaches the next block;
//! - the DRM's output is a correction to that map, and the PMM's a correction to `X'`, both
//!   zero-initialised, so an untrained network starts from its initial map `X⁰`;
//! - the factor initialisers also see the sampling mask and the statistical model's dense
//!   estimate ([`crate::models::grid::ldpl_trend`]: eq. 3's log-distance law fitted to the
//!   samples, plus the inverse-distance interpolation of its residuals; plain IDW with the
//!   transmitter unknown). Measured reason: with the fitted law alone (its level only when the
//!   transmitter is unknown), a run checked at step 300 beat RadioUNet with the transmitter
//!   known (11.30 dB against 12.04 at 9 samples) but lost badly where the samples carry the
//!   information: 16.34 dB against kriging's 12.40 with the transmitter unknown, and 12.03
//!   against 9.19 at 1 % on the ray-traced maps. The network now refines an interpolation
//!   that already honours the samples;
//! - with [`RadioDunConfig::trend_residual`] (both presets) `X⁰` is that estimate plus the
//!   factors' fusion (zero-initialised) rather than the fusion alone. Measured reason: the
//!   initialisers' convolutions blurred the estimate's detail at the samples, so at 10 %
//!   samples the network was worse than its own input (7.14 dB against 5.15 on test cities,
//!   64², 200 steps); with the estimate carried past them, 4.87;
//! - the CAM normalises Q and K (see [`channel_attention`]).
//!
//! No parameter depends on the map's size: the same weights run at 128² and 256².

pub mod channel_attention;
pub mod config;
pub mod cost;
pub mod gradient_step;
pub mod initialisation;
pub mod loss;
pub mod model;
pub mod proximal;
pub mod reweighting;
pub mod stage_block;

pub use config::RadioDunConfig;
pub use model::{RadioDun, RadioDunOutput};
