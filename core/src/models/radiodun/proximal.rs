//! The proximal mapping module (PMM, Fig. 3c): a U-net of stage blocks that maps the rough map
//! (with the factors it came from) to a correction, the learned proximal operator of the
//! map's prior.

use super::stage_block::{StageBlock, StageBlockConfig};
use crate::nn::unet::check_halvings;
use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::tensor::{Device, Tensor};

/// Configuration of a [`ProximalMapping`].
#[derive(Config, Debug)]
pub struct ProximalMappingConfig {
    /// Input planes.
    pub in_planes: usize,
    /// Channels of the levels, finest first (the input size must be divisible by
    /// `2^(levels − 1)`). Default `[16, 32, 64]`.
    #[config(default = "vec![16, 32, 64]")]
    pub channels: Vec<usize>,
}

/// The U-net: embedding convolution, one stage block per level on the way down (average
/// pooling and a 1×1 convolution between levels), one per level on the way up (2×2 transposed
/// convolution, concatenation with the skip, 1×1 fusion), and a 1×1 head.
#[derive(Module, Debug)]
pub struct ProximalMapping {
    embed: Conv2d,
    encoder: Vec<StageBlock>,
    widen: Vec<Conv2d>,
    pool: AvgPool2d,
    up: Vec<ConvTranspose2d>,
    fuse: Vec<Conv2d>,
    decoder: Vec<StageBlock>,
    head: Conv2d,
}

impl ProximalMappingConfig {
    /// Builds the module. Panics on empty `channels` (configs are validated before).
    pub fn init(&self, device: &Device) -> ProximalMapping {
        assert!(!self.channels.is_empty(), "the proximal U-net needs at least one level");
        let c = &self.channels;
        let one = |i: usize, o: usize| Conv2dConfig::new([i, o], [1, 1]).init(device);
        let mut up = Vec::new();
        let mut fuse = Vec::new();
        let mut decoder = Vec::new();
        for l in (0..c.len() - 1).rev() {
            up.push(ConvTranspose2dConfig::new([c[l + 1], c[l]], [2, 2]).with_stride([2, 2]).init(device));
            fuse.push(one(2 * c[l], c[l]));
            decoder.push(StageBlockConfig::new(c[l]).init(device));
        }
        ProximalMapping {
            embed: Conv2dConfig::new([self.in_planes, c[0]], [3, 3]).with_padding(PaddingConfig2d::Same).init(device),
            encoder: c.iter().map(|&ch| StageBlockConfig::new(ch).init(device)).collect(),
            widen: c.windows(2).map(|w| one(w[0], w[1])).collect(),
            pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            up,
            fuse,
            decoder,
            // Zero-initialised: an untrained PMM is the identity on the rough map, so early
            // training shapes the factors and the reweighting before the prior.
            head: Conv2dConfig::new([c[0], 1], [1, 1]).with_initializer(Initializer::Zeros).init(device),
        }
    }

    /// Checks that a `height × width` input fits the pooling levels.
    pub fn check_input(&self, height: usize, width: usize) -> crate::error::Result<()> {
        check_halvings("grid for RadioDUN", self.channels.len().saturating_sub(1), height, width)
    }
}

impl ProximalMapping {
    /// The correction to add to the rough map.
    ///
    /// # Shapes
    ///
    /// - input: `[batch, in_planes, height, width]`, sizes multiples of `2^(levels − 1)`
    /// - output: `[batch, 1, height, width]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = self.embed.forward(x);
        let mut skips = Vec::with_capacity(self.encoder.len());
        for (l, block) in self.encoder.iter().enumerate() {
            if l > 0 {
                x = self.widen[l - 1].forward(self.pool.forward(x));
            }
            x = block.forward(x);
            skips.push(x.clone());
        }
        skips.pop(); // the coarsest level starts the decoder
        for ((up, fuse), block) in self.up.iter().zip(&self.fuse).zip(&self.decoder) {
            let skip = skips.pop().expect("one skip per decoder level");
            x = block.forward(fuse.forward(Tensor::cat(vec![up.forward(x), skip], 1)));
        }
        self.head.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;

    #[test]
    fn shapes_parameter_count_and_identity_at_start() {
        let d = cpu();
        let cfg = ProximalMappingConfig::new(3).with_channels(vec![4, 8]);
        let pmm = cfg.init(&d);
        let y = pmm.forward(Tensor::ones([2, 3, 8, 12], &d));
        assert_eq!(y.dims(), [2, 1, 8, 12]);
        // A zero head: the correction starts at exactly 0.
        assert_eq!(y.abs().sum().into_scalar::<f32>(), 0.0);
        let stage = |c| StageBlockConfig::new(c).init(&d).num_params();
        // embed 3→4 (112); widen 4→8 (40); up 8→4 (132); fuse 8→4 (36); head 4→1 (5).
        assert_eq!(pmm.num_params(), 112 + stage(4) + stage(8) + 40 + 132 + 36 + stage(4) + 5);
        assert!(cfg.check_input(8, 12).is_ok());
        let e = cfg.check_input(9, 12).unwrap_err().to_string();
        assert!(e.contains("9x12") && e.contains("multiple of 2"), "{e}");
    }
}
