//! A U-Net (Ronneberger et al. 2015): an encoder of [`ConvBlock`]s with 2×2 average pooling,
//! a decoder of 2×2 transposed convolutions whose output is concatenated with the encoder's
//! feature map of the same size (the skip connection) and fused by a [`ConvBlock`], and a
//! 1×1 convolution to the output channels. RadioUNet cascades two of them.

use super::conv_block::{ConvBlock, ConvBlockConfig};
use crate::error::RmeError;
use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::tensor::{Device, Tensor};

/// Configuration of a [`UNet`].
#[derive(Config, Debug)]
pub struct UNetConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels. Default 1 (a map).
    #[config(default = 1)]
    pub out_channels: usize,
    /// Channels of each level, finest first; its length is the number of levels (the input
    /// size must be divisible by `2^(levels − 1)`). Default `[16, 32, 64, 128]`.
    #[config(default = "vec![16, 32, 64, 128]")]
    pub channels: Vec<usize>,
}

/// The U-Net.
#[derive(Module, Debug)]
pub struct UNet {
    down: Vec<ConvBlock>,
    pool: AvgPool2d,
    up: Vec<ConvTranspose2d>,
    fuse: Vec<ConvBlock>,
    head: Conv2d,
}

impl UNetConfig {
    /// Builds the network. Panics on an empty `channels` (a programming error; model configs
    /// are checked before they get here).
    pub fn init(&self, device: &Device) -> UNet {
        assert!(!self.channels.is_empty(), "a U-Net needs at least one level");
        let c = &self.channels;
        let mut down = Vec::with_capacity(c.len());
        let mut prev = self.in_channels;
        for &ch in c {
            down.push(ConvBlockConfig::new(prev, ch).init(device));
            prev = ch;
        }
        let mut up = Vec::new();
        let mut fuse = Vec::new();
        for l in (0..c.len() - 1).rev() {
            up.push(ConvTranspose2dConfig::new([c[l + 1], c[l]], [2, 2]).with_stride([2, 2]).init(device));
            fuse.push(ConvBlockConfig::new(2 * c[l], c[l]).init(device));
        }
        UNet {
            down,
            pool: AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            up,
            fuse,
            head: Conv2dConfig::new([c[0], self.out_channels], [1, 1]).init(device),
        }
    }

    /// Checks that a `height × width` input fits the pooling levels.
    pub fn check_input(&self, height: usize, width: usize) -> crate::error::Result<()> {
        check_halvings("grid for the U-Net", self.channels.len().saturating_sub(1), height, width)
    }
}

/// Checks that a `height × width` input survives `halvings` 2×2 poolings (both sides
/// multiples of `2^halvings`, neither 0), with an error naming `subject` and the size. Every
/// pooling grid network (U-Nets, the autoencoder, RadioDUN's proximal U-net) checks with it.
pub fn check_halvings(subject: &str, halvings: usize, height: usize, width: usize) -> crate::error::Result<()> {
    let k = 1usize << halvings;
    if height == 0 || width == 0 || !height.is_multiple_of(k) || !width.is_multiple_of(k) {
        return Err(RmeError::invalid(
            subject,
            format!("{height}x{width} is not a multiple of {k} (the network halves it {halvings} times)"),
        ));
    }
    Ok(())
}

impl UNet {
    /// # Shapes
    ///
    /// - input: `[batch, in_channels, height, width]`, height and width multiples of
    ///   `2^(levels − 1)` (see [`UNetConfig::check_input`])
    /// - output: `[batch, out_channels, height, width]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut skips = Vec::with_capacity(self.down.len());
        let mut x = x;
        for (l, block) in self.down.iter().enumerate() {
            if l > 0 {
                x = self.pool.forward(x);
            }
            x = block.forward(x);
            skips.push(x.clone());
        }
        skips.pop(); // the coarsest level is the decoder's start
        for (up, fuse) in self.up.iter().zip(&self.fuse) {
            let skip = skips.pop().expect("one skip per decoder level");
            x = fuse.forward(Tensor::cat(vec![up.forward(x), skip], 1));
        }
        self.head.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::tensor::Distribution;

    fn config() -> UNetConfig {
        UNetConfig::new(2).with_channels(vec![4, 8, 16])
    }

    #[test]
    fn output_has_the_input_size() {
        let d = cpu();
        let net = config().init(&d);
        assert_eq!(net.forward(Tensor::zeros([3, 2, 16, 8], &d)).dims(), [3, 1, 16, 8]);
    }

    #[test]
    fn parameter_count() {
        // Blocks: 2→4 (2·4·9+4 + 4·4·9+4 = 224), 4→8 (296 + 584 = 880), 8→16 (1168 + 2320 = 3488);
        // up 16→8 (16·8·4 + 8 = 520) and fuse 16→8 (1160 + 584 = 1744); up 8→4 (8·4·4 + 4 = 132)
        // and fuse 8→4 (292 + 148 = 440); head 4→1 (5).
        assert_eq!(config().init(&cpu()).num_params(), 224 + 880 + 3488 + 520 + 1744 + 132 + 440 + 5);
    }

    #[test]
    fn the_receptive_field_is_local() {
        // Three levels see about ±25 pixels: a change in one corner of a 64² input moves the
        // output near it and leaves the opposite corner exactly as it was (no global mixing).
        let d = cpu();
        let net = config().init(&d);
        let x = Tensor::<4>::random([1, 2, 64, 64], Distribution::Normal(0.0, 1.0), &d);
        let mut bumped = x.clone().into_data().try_to_vec::<f32>().unwrap();
        bumped[0] += 5.0;
        let y0 = net.forward(x).into_data().try_to_vec::<f32>().unwrap();
        let y1 =
            net.forward(Tensor::<1>::from_floats(bumped.as_slice(), &d).reshape([1, 2, 64, 64])).into_data().try_to_vec::<f32>().unwrap();
        assert!((y1[3 * 64 + 3] - y0[3 * 64 + 3]).abs() > 1e-6);
        assert_eq!(y1[63 * 64 + 63], y0[63 * 64 + 63]);
    }

    #[test]
    fn sizes_that_do_not_pool_are_refused() {
        let e = config().check_input(30, 32).unwrap_err().to_string();
        assert!(e.contains("30x32") && e.contains("multiple of 4"), "{e}");
        assert!(config().check_input(32, 64).is_ok());
    }
}
