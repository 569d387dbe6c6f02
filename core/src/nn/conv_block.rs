//! Two 3×3 convolutions with leaky ReLU: the stage block of the U-Nets and the completion
//! autoencoder. "Same" padding keeps the spatial size.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};

/// Slope of the leaky ReLU for negative inputs.
pub const LEAKY_SLOPE: f64 = 0.2;

/// Configuration of a [`ConvBlock`].
#[derive(Config, Debug)]
pub struct ConvBlockConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels (of both convolutions).
    pub out_channels: usize,
    /// Initialiser of both convolutions. Default burn's (Kaiming uniform with gain 1/√3,
    /// which shrinks the signal's variance about threefold per convolution); [`he_leaky`]
    /// keeps it.
    #[config(default = "Initializer::KaimingUniform { gain: 1.0 / 3.0f64.sqrt(), fan_out_only: false }")]
    pub initializer: Initializer,
}

/// He's initialisation for the leaky ReLU of these blocks: weight variance
/// `2 / ((1 + slope²)·fan_in)`, so a deep stack neither fades nor explodes at the start.
pub fn he_leaky() -> Initializer {
    Initializer::KaimingUniform { gain: (2.0 / (1.0 + LEAKY_SLOPE * LEAKY_SLOPE)).sqrt(), fan_out_only: false }
}

/// `conv3×3 → leaky ReLU → conv3×3 → leaky ReLU`.
#[derive(Module, Debug)]
pub struct ConvBlock {
    first: Conv2d,
    second: Conv2d,
}

impl ConvBlockConfig {
    /// Builds the block.
    pub fn init(&self, device: &Device) -> ConvBlock {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Same).with_initializer(self.initializer.clone()).init(device)
        };
        ConvBlock { first: conv(self.in_channels, self.out_channels), second: conv(self.out_channels, self.out_channels) }
    }
}

impl ConvBlock {
    /// # Shapes
    ///
    /// - input: `[batch, in_channels, height, width]`
    /// - output: `[batch, out_channels, height, width]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = leaky_relu(self.first.forward(x), LEAKY_SLOPE);
        leaky_relu(self.second.forward(x), LEAKY_SLOPE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;

    #[test]
    fn keeps_the_size_and_counts_its_parameters() {
        let d = cpu();
        let block = ConvBlockConfig::new(3, 8).init(&d);
        let y = block.forward(Tensor::zeros([2, 3, 10, 12], &d));
        assert_eq!(y.dims(), [2, 8, 10, 12]);
        // (3·8·9 + 8) + (8·8·9 + 8) = 224 + 584.
        assert_eq!(block.num_params(), 808);
    }
}
