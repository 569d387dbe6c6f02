//! Configuration and presets of RadioDUN.

use crate::error::RmeError;
use burn::config::Config;

/// Architecture of a [`super::RadioDun`]. Training and inference settings live elsewhere
/// (the trainer's run spec); the loss weights are here because the shadowing loss needs the
/// shadowing head this config creates.
#[derive(Config, Debug, PartialEq)]
pub struct RadioDunConfig {
    /// Unfolding blocks K (iterations of the alternating optimisation). Default 3.
    #[config(default = 3)]
    pub blocks: usize,
    /// Channels C of the factoring feature `v` (eq. 16) and of the factor initialisers'
    /// hidden layer. Default 8.
    #[config(default = 8)]
    pub feature_channels: usize,
    /// Channels of the proximal mapping module's U-net levels, finest first; its length is
    /// the number of levels. Default `[8, 16, 32, 64]`.
    #[config(default = "vec![8, 16, 32, 64]")]
    pub proximal_channels: Vec<usize>,
    /// Whether the dynamic reweighting module (CBAM attention + gating, eqs. 14–16) combines
    /// the factors; off, a 1×1 convolution does (the paper's ablation counterpart). Default on.
    #[config(default = true)]
    pub reweighting: bool,
    /// Whether the shadowing loss (eqs. 19–22) is part of the objective. Default on.
    #[config(default = true)]
    pub shadowing_loss: bool,
    /// μ, the weight of the MSE in the total loss (eq. 24). Default 1.
    #[config(default = 1.0)]
    pub mse_weight: f64,
    /// Initial gradient step β of every factor. Default 0.5.
    #[config(default = 0.5)]
    pub initial_step: f64,
    /// Initial soft threshold ε (normalised units). Default 0.001.
    #[config(default = 0.001)]
    pub initial_threshold: f64,
    /// Whether `X^0` is the statistical trend plus the factors' fusion (a correction of the
    /// trend) instead of the fusion alone (eq. 10). The convolutions of the factor
    /// initialisers blur the trend's detail at the sampled cells; with the trend carried past
    /// them, dense samples are not lost (see the README's "Models and choices"). Default off,
    /// so a config written before this field keeps its meaning; both presets turn it on.
    #[config(default = false)]
    pub trend_residual: bool,
}

/// Obstacle planes the urban scenes provide (m): the building mask.
pub const OBSTACLE_PLANES: usize = 1;

impl RadioDunConfig {
    /// `small`: trainable on one core of a 2-core CPU in about an hour at 128² (K = 3, C = 8, a
    /// 4-level proximal U-net of 8…64 channels; its forward pass costs about 1.3× RadioUNet
    /// small's). `paper`: the published depth at a GPU's width (C = 32, 32…256 channels).
    pub fn preset(name: &str) -> crate::error::Result<Self> {
        match name {
            "small" => Ok(Self::new().with_trend_residual(true)),
            "paper" => Ok(Self::new().with_trend_residual(true).with_feature_channels(32).with_proximal_channels(vec![32, 64, 128, 256])),
            other => Err(RmeError::invalid("radiodun preset", format!("'{other}' is not small or paper"))),
        }
    }

    /// Number of factors `s_0 … s_m`: the distance factor and one per obstacle plane.
    pub fn factors(&self) -> usize {
        1 + OBSTACLE_PLANES
    }

    /// Checks the sizes (a config read from a file may hold anything).
    pub fn validate(&self) -> crate::error::Result<()> {
        let c = &self.proximal_channels;
        let ok = (1..=8).contains(&self.blocks)
            && (1..=1024).contains(&self.feature_channels)
            && !c.is_empty()
            && c.len() <= 6
            && c.iter().all(|&v| (1..=4096).contains(&v))
            && (0.0..=100.0).contains(&self.mse_weight)
            && self.initial_step.is_finite()
            && self.initial_threshold >= 0.0
            && self.initial_threshold.is_finite();
        if !ok {
            return Err(RmeError::invalid(
                "radiodun config",
                format!(
                    "blocks {}, feature channels {}, proximal channels {:?}, mse weight {}, step {}, threshold {}",
                    self.blocks, self.feature_channels, c, self.mse_weight, self.initial_step, self.initial_threshold
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_bad_ones_are_named() {
        for p in ["small", "paper"] {
            RadioDunConfig::preset(p).unwrap().validate().unwrap();
        }
        assert!(RadioDunConfig::preset("huge").unwrap_err().to_string().contains("huge"));
        let e = RadioDunConfig::new().with_blocks(0).validate().unwrap_err().to_string();
        assert!(e.contains("blocks 0"), "{e}");
        assert!(RadioDunConfig::new().with_proximal_channels(vec![]).validate().is_err());
        assert!(RadioDunConfig::new().with_initial_threshold(-1.0).validate().is_err());
    }
}
