//! Configuration and presets of PI-DRME.

use super::autoencoder::ConvAutoencoderConfig;
use crate::error::RmeError;
use burn::config::Config;

/// Input planes of both autoencoders: the normalised samples (0 where unsampled), the
/// sampling mask and the LDPL template.
pub const INPUT_PLANES: usize = 3;

/// Architecture of a [`super::PiDrme`]. The paper does not give its layer lists; these are
/// sizes a 2-core CPU can federate in minutes at 64² (`small`) and a GPU-sized network
/// (`paper`). Training settings (the rounds, τ, μ₁, μ₂, learning rates) are not architecture
/// and live with the federation.
#[derive(Config, Debug, PartialEq)]
pub struct PiDrmeConfig {
    /// Channels of each level of the shared pathloss autoencoder, finest first (each level a
    /// two-convolution block then 2×2 average pooling; the decoder mirrors them).
    /// Default `[16, 32, 64]`.
    #[config(default = "vec![16, 32, 64]")]
    pub pathloss_channels: Vec<usize>,
    /// Bottleneck channels of the pathloss autoencoder. Default 64.
    #[config(default = 64)]
    pub pathloss_latent: usize,
    /// Channels of each level of the individual shadowing autoencoder. Default `[16, 32]`:
    /// shadowing is local (building edges), so it needs less depth than the pathloss.
    #[config(default = "vec![16, 32]")]
    pub shadowing_channels: Vec<usize>,
    /// Bottleneck channels of the shadowing autoencoder. Default 32.
    #[config(default = 32)]
    pub shadowing_latent: usize,
    /// Both modules refine the statistical model instead of starting from nothing: the
    /// pathloss map is the LDPL template plus the shared module's output, the shadowing map
    /// the inverse-distance interpolation of the samples' residuals from the template plus
    /// the individual module's output, and both heads start at zero. So an untrained network
    /// answers the statistical estimate ([`crate::models::grid::ldpl_trend`], exact at the
    /// samples), and training learns what the buildings add. Without it the plain
    /// autoencoders start from a constant map and a round's few dozen steps left them near
    /// 20 dB RMSE (measured: 5 rounds, 4 clients, uniform 12.5 %: 20.08 dB PI-DRME, 19.87
    /// standalone); with the template alone (no residual interpolation) at 11.7 dB after 4
    /// rounds, where the template itself gives 11.75. Default true; false is the paper's
    /// plain sum of two autoencoders.
    #[config(default = true)]
    pub template_residual: bool,
}

impl PiDrmeConfig {
    /// `small` (the defaults) or `paper` (four levels up to 256 channels in the shared
    /// module, three up to 128 in the individual one).
    pub fn preset(name: &str) -> crate::error::Result<Self> {
        match name {
            "small" => Ok(Self::new()),
            "paper" => Ok(Self::new()
                .with_pathloss_channels(vec![32, 64, 128, 256])
                .with_pathloss_latent(256)
                .with_shadowing_channels(vec![32, 64, 128])
                .with_shadowing_latent(128)),
            other => Err(RmeError::invalid("pi-drme preset", format!("'{other}' is not small or paper"))),
        }
    }

    /// The shared (pathloss) module's config.
    pub fn pathloss(&self) -> ConvAutoencoderConfig {
        ConvAutoencoderConfig::new(INPUT_PLANES, self.pathloss_channels.clone(), self.pathloss_latent)
            .with_zero_output(self.template_residual)
    }

    /// The individual (shadowing) module's config.
    pub fn shadowing(&self) -> ConvAutoencoderConfig {
        ConvAutoencoderConfig::new(INPUT_PLANES, self.shadowing_channels.clone(), self.shadowing_latent)
            .with_zero_output(self.template_residual)
    }

    /// Checks the sizes (a config read from a file may hold anything).
    pub fn validate(&self) -> crate::error::Result<()> {
        self.pathloss().validate().map_err(|e| RmeError::invalid("pi-drme pathloss module", e.to_string()))?;
        self.shadowing().validate().map_err(|e| RmeError::invalid("pi-drme shadowing module", e.to_string()))
    }

    /// Halvings of the deeper module: grids must be multiples of `2^levels`.
    pub fn levels(&self) -> usize {
        self.pathloss_channels.len().max(self.shadowing_channels.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_bad_ones_are_named() {
        for p in ["small", "paper"] {
            PiDrmeConfig::preset(p).unwrap().validate().unwrap();
        }
        assert!(PiDrmeConfig::preset("huge").unwrap_err().to_string().contains("huge"));
        let e = PiDrmeConfig::new().with_shadowing_channels(vec![]).validate().unwrap_err().to_string();
        assert!(e.contains("shadowing"), "{e}");
        let e = PiDrmeConfig::new().with_pathloss_latent(0).validate().unwrap_err().to_string();
        assert!(e.contains("pathloss"), "{e}");
        assert_eq!(PiDrmeConfig::new().levels(), 3);
    }
}
