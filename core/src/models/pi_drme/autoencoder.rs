//! One of PI-DRME's two modules: an encoder–decoder from the input planes to one map plane.

use super::decoder::{ConvDecoder, ConvDecoderConfig};
use super::encoder::{ConvEncoder, ConvEncoderConfig};
use crate::error::RmeError;
use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// Configuration of a [`ConvAutoencoder`].
#[derive(Config, Debug, PartialEq)]
pub struct ConvAutoencoderConfig {
    /// Input planes.
    pub in_planes: usize,
    /// Channels of each level, finest first.
    pub channels: Vec<usize>,
    /// Bottleneck channels.
    pub latent_channels: usize,
    /// Start the output at zero (the decoder's head zero-initialised). Default false.
    #[config(default = false)]
    pub zero_output: bool,
}

impl ConvAutoencoderConfig {
    /// Builds the module.
    pub fn init(&self, device: &Device) -> ConvAutoencoder {
        ConvAutoencoder {
            encoder: ConvEncoderConfig::new(self.in_planes, self.channels.clone(), self.latent_channels).init(device),
            decoder: ConvDecoderConfig::new(self.latent_channels, self.channels.clone()).with_zero_head(self.zero_output).init(device),
        }
    }

    /// Checks the sizes.
    pub fn validate(&self) -> crate::error::Result<()> {
        if self.in_planes == 0
            || self.channels.is_empty()
            || self.channels.len() > 8
            || self.channels.iter().chain([&self.latent_channels]).any(|&c| c == 0 || c > 4096)
        {
            return Err(RmeError::invalid("autoencoder", format!("channels {:?}, latent {}", self.channels, self.latent_channels)));
        }
        Ok(())
    }
}

/// Encoder then decoder; the encoder is a field of its own so that its parameters alone can
/// be exchanged (see [`super::params`]).
#[derive(Module, Debug)]
pub struct ConvAutoencoder {
    /// The half that PI-DRME's server averages (in the shared module).
    pub encoder: ConvEncoder,
    /// The half that stays with the client.
    pub decoder: ConvDecoder,
}

impl ConvAutoencoder {
    /// # Shapes
    ///
    /// - input: `[batch, in_planes, rows, cols]`, rows and cols multiples of `2^levels`
    /// - output: `[batch, 1, rows, cols]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.decoder.forward(self.encoder.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;

    #[test]
    fn shapes_and_parameter_count() {
        let d = cpu();
        let ae = ConvAutoencoderConfig::new(3, vec![4, 8], 8).init(&d);
        assert_eq!(ae.forward(Tensor::zeros([1, 3, 16, 16], &d)).dims(), [1, 1, 16, 16]);
        // The encoder's and the decoder's own tests count each half.
        assert_eq!(ae.num_params(), 2308 + 1865);
        assert!(ConvAutoencoderConfig::new(3, vec![], 8).validate().is_err());
        assert!(ConvAutoencoderConfig::new(0, vec![4], 8).validate().is_err());
    }
}
