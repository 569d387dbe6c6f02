//! Configuration and presets of RadioUNet.

use crate::error::RmeError;
use burn::config::Config;

/// Architecture of a [`super::RadioUnet`].
#[derive(Config, Debug, PartialEq)]
pub struct RadioUnetConfig {
    /// Channels of the first U-Net's levels, finest first. Default `[16, 32, 64, 128]`.
    #[config(default = "vec![16, 32, 64, 128]")]
    pub first_channels: Vec<usize>,
    /// Channels of the second (refining) U-Net's levels. Default `[16, 32, 64]`.
    #[config(default = "vec![16, 32, 64]")]
    pub second_channels: Vec<usize>,
    /// Weight of the first U-Net's own loss in the training objective (the published network
    /// trains the first U-Net, then the second with the first frozen; one joint objective with
    /// this weight trains both at once). Default 0.5.
    #[config(default = 0.5)]
    pub first_loss_weight: f64,
}

impl RadioUnetConfig {
    /// `small`: trainable on a 2-core CPU within an hour at 128². `paper`: the published scale
    /// (a deep first U-Net up to 512 channels, a lighter second one); the papers here do not
    /// restate its exact layer list, so this is a faithful size, not a layer-by-layer copy.
    pub fn preset(name: &str) -> crate::error::Result<Self> {
        match name {
            "small" => Ok(Self::new()),
            "paper" => Ok(Self::new().with_first_channels(vec![32, 64, 128, 256, 512]).with_second_channels(vec![32, 64, 128, 256])),
            other => Err(RmeError::invalid("radiounet preset", format!("'{other}' is not small or paper"))),
        }
    }

    /// Checks the sizes (a config read from a file may hold anything).
    pub fn validate(&self) -> crate::error::Result<()> {
        let ok = |c: &Vec<usize>| !c.is_empty() && c.len() <= 8 && c.iter().all(|&v| v > 0 && v <= 4096);
        if !ok(&self.first_channels) || !ok(&self.second_channels) || !(0.0..=10.0).contains(&self.first_loss_weight) {
            return Err(RmeError::invalid(
                "radiounet config",
                format!("first {:?}, second {:?}, first-loss weight {}", self.first_channels, self.second_channels, self.first_loss_weight),
            ));
        }
        Ok(())
    }
}
