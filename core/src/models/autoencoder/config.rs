//! Configuration and presets of the completion autoencoder.

use crate::error::RmeError;
use burn::config::Config;

/// Architecture of an [`super::Autoencoder`].
#[derive(Config, Debug, PartialEq)]
pub struct AutoencoderConfig {
    /// Channels of each encoder level, finest first (each level: a two-convolution block then
    /// 2×2 average pooling; the decoder mirrors them). Default `[16, 32, 64]`.
    #[config(default = "vec![16, 32, 64]")]
    pub channels: Vec<usize>,
    /// Channels of the bottleneck block. Default 64.
    #[config(default = 64)]
    pub latent_channels: usize,
}

impl AutoencoderConfig {
    /// `small`: trainable on a 2-core CPU within an hour at 128². `paper`: the scale of the
    /// published network (four levels, up to 256 channels); the papers here do not restate its
    /// exact layer list, so this is a faithful size, not a layer-by-layer copy.
    pub fn preset(name: &str) -> crate::error::Result<Self> {
        match name {
            "small" => Ok(Self::new()),
            "paper" => Ok(Self::new().with_channels(vec![32, 64, 128, 256]).with_latent_channels(256)),
            other => Err(RmeError::invalid("autoencoder preset", format!("'{other}' is not small or paper"))),
        }
    }

    /// Checks the sizes (a config read from a file may hold anything).
    pub fn validate(&self) -> crate::error::Result<()> {
        if self.channels.is_empty()
            || self.channels.len() > 8
            || self.channels.iter().chain([&self.latent_channels]).any(|&c| c == 0 || c > 4096)
        {
            return Err(RmeError::invalid("autoencoder config", format!("channels {:?}, latent {}", self.channels, self.latent_channels)));
        }
        Ok(())
    }
}
