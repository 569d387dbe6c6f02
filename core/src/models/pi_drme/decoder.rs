//! The decoder half of PI-DRME's autoencoders.

use crate::nn::conv_block::{ConvBlock, ConvBlockConfig, he_leaky};
use burn::config::Config;
use burn::module::Module;
use burn::nn::Initializer;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::{Device, Tensor};

/// Configuration of a [`ConvDecoder`]: the mirror of a [`super::encoder::ConvEncoderConfig`].
#[derive(Config, Debug)]
pub struct ConvDecoderConfig {
    /// Channels of the bottleneck it starts from.
    pub latent_channels: usize,
    /// Channels of each level, finest first (as the encoder's; the decoder runs them coarsest
    /// first).
    pub channels: Vec<usize>,
    /// Start the 1×1 head at zero, so that the decoder first outputs 0 (a correction that
    /// starts at nothing). Default false.
    #[config(default = false)]
    pub zero_head: bool,
}

/// Per level: a 2×2 transposed convolution (stride 2) then a two-convolution block; a 1×1
/// head to one plane. No skip connections: everything passes the bottleneck. He's
/// initialisation, as the encoder's.
#[derive(Module, Debug)]
pub struct ConvDecoder {
    up: Vec<ConvTranspose2d>,
    levels: Vec<ConvBlock>,
    head: Conv2d,
}

impl ConvDecoderConfig {
    /// Builds the decoder.
    pub fn init(&self, device: &Device) -> ConvDecoder {
        let mut up = Vec::with_capacity(self.channels.len());
        let mut levels = Vec::with_capacity(self.channels.len());
        let mut prev = self.latent_channels;
        for &ch in self.channels.iter().rev() {
            up.push(ConvTranspose2dConfig::new([prev, ch], [2, 2]).with_stride([2, 2]).with_initializer(he_leaky()).init(device));
            levels.push(ConvBlockConfig::new(ch, ch).with_initializer(he_leaky()).init(device));
            prev = ch;
        }
        let head = Conv2dConfig::new([prev, 1], [1, 1]);
        let head = if self.zero_head { head.with_initializer(Initializer::Zeros) } else { head };
        ConvDecoder { up, levels, head: head.init(device) }
    }
}

impl ConvDecoder {
    /// # Shapes
    ///
    /// - input: `[batch, latent_channels, rows, cols]`
    /// - output: `[batch, 1, rows · 2^levels, cols · 2^levels]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = x;
        for (up, block) in self.up.iter().zip(&self.levels) {
            x = block.forward(up.forward(x));
        }
        self.head.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;

    #[test]
    fn shapes_and_parameter_count() {
        let d = cpu();
        let dec = ConvDecoderConfig::new(8, vec![4, 8]).init(&d);
        assert_eq!(dec.forward(Tensor::zeros([2, 8, 4, 2], &d)).dims(), [2, 1, 16, 8]);
        // Up 8→8 (8·8·4 + 8 = 264), block 8→8 (584 + 584); up 8→4 (132), block 4→4 (148 + 148);
        // head 4→1 (5).
        assert_eq!(dec.num_params(), 264 + 1168 + 132 + 296 + 5);
    }

    #[test]
    fn a_zero_head_outputs_zero_and_still_counts_its_parameters() {
        let d = cpu();
        let dec = ConvDecoderConfig::new(8, vec![4]).with_zero_head(true).init(&d);
        let x = Tensor::<4>::random([1, 8, 3, 3], burn::tensor::Distribution::Uniform(-1.0, 1.0), &d);
        assert_eq!(dec.forward(x).abs().max().into_scalar::<f32>(), 0.0);
        assert_eq!(dec.num_params(), ConvDecoderConfig::new(8, vec![4]).init(&d).num_params());
    }
}
