//! The proximal mapping module's stage block (Fig. 4a): a convolution branch and a
//! channel-attention branch in parallel, summed with the input, then a three-convolution
//! feed-forward network, with shortcuts around both.

use super::channel_attention::{ChannelAttention, ChannelAttentionConfig};
use crate::nn::conv_block::{ConvBlock, ConvBlockConfig, LEAKY_SLOPE};
use burn::config::Config;
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};

/// Configuration of a [`StageBlock`].
#[derive(Config, Debug)]
pub struct StageBlockConfig {
    /// Channels (in and out).
    pub channels: usize,
    /// Hidden channels of the feed-forward network, as a multiple of `channels`. Default 2.
    #[config(default = 2)]
    pub expansion: usize,
}

/// `f₁ = f + Conv(f) + CAM(f)`, `f₂ = f₁ + FFN(f₁)`; the FFN is 1×1 → depthwise 3×3 → 1×1
/// (local mixing at a fraction of a full 3×3's cost).
#[derive(Module, Debug)]
pub struct StageBlock {
    conv: ConvBlock,
    attention: ChannelAttention,
    expand: Conv2d,
    depthwise: Conv2d,
    reduce: Conv2d,
}

impl StageBlockConfig {
    /// Builds the block.
    pub fn init(&self, device: &Device) -> StageBlock {
        let (c, h) = (self.channels, self.channels * self.expansion);
        StageBlock {
            conv: ConvBlockConfig::new(c, c).init(device),
            attention: ChannelAttentionConfig::new(c).init(device),
            expand: Conv2dConfig::new([c, h], [1, 1]).init(device),
            depthwise: Conv2dConfig::new([h, h], [3, 3]).with_groups(h).with_padding(PaddingConfig2d::Same).init(device),
            reduce: Conv2dConfig::new([h, c], [1, 1]).init(device),
        }
    }
}

impl StageBlock {
    /// # Shapes
    ///
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, channels, height, width]`
    pub fn forward(&self, f: Tensor<4>) -> Tensor<4> {
        let f = f.clone() + self.conv.forward(f.clone()) + self.attention.forward(f);
        let hidden = leaky_relu(self.expand.forward(f.clone()), LEAKY_SLOPE);
        let hidden = leaky_relu(self.depthwise.forward(hidden), LEAKY_SLOPE);
        f + self.reduce.forward(hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;

    #[test]
    fn shapes_and_parameter_count() {
        let d = cpu();
        let block = StageBlockConfig::new(4).init(&d);
        assert_eq!(block.forward(Tensor::zeros([1, 4, 8, 8], &d)).dims(), [1, 4, 8, 8]);
        // Conv block 4→4 (148 + 148); CAM 209; FFN 4→8 (40), depthwise on 8 (80), 8→4 (36).
        assert_eq!(block.num_params(), 296 + 209 + 40 + 80 + 36);
    }
}
