//! The channel-wise attention module (CAM, eqs. 17–18) of the proximal mapping module's stage
//! blocks: attention between channels over the whole map, which gives the U-net long-range
//! dependencies at a cost linear in the number of cells.

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};

/// Configuration of a [`ChannelAttention`].
#[derive(Config, Debug)]
pub struct ChannelAttentionConfig {
    /// Channels.
    pub channels: usize,
}

/// `f → Proj(Softmax(τ·Q̂K̂ᵀ)·V)` with `Q, K, V = DConv(Conv1×1(LN(f)))`.
///
/// Eq. 18 writes the attention as `Softmax(QKᵀ)`; its dot products sum over every cell, so
/// their size grows with the map and the softmax saturates at 256². As in the hybrid block the
/// paper builds on (Restormer's transposed attention), Q and K are L2-normalised over the
/// cells and the logits scaled by a learned temperature τ: the same operator, independent of
/// the map's size (no parameter here depends on H·W either).
#[derive(Module, Debug)]
pub struct ChannelAttention {
    /// Per-channel scale and shift of the layer normalisation (over channels, per cell).
    norm_scale: Param<Tensor<1>>,
    norm_shift: Param<Tensor<1>>,
    qkv: Conv2d,
    qkv_depthwise: Conv2d,
    temperature: Param<Tensor<1>>,
    project: Conv2d,
}

impl ChannelAttentionConfig {
    /// Builds the module.
    pub fn init(&self, device: &Device) -> ChannelAttention {
        let c = self.channels;
        ChannelAttention {
            norm_scale: Initializer::Ones.init([c], device),
            norm_shift: Initializer::Zeros.init([c], device),
            qkv: Conv2dConfig::new([c, 3 * c], [1, 1]).init(device),
            qkv_depthwise: Conv2dConfig::new([3 * c, 3 * c], [3, 3]).with_groups(3 * c).with_padding(PaddingConfig2d::Same).init(device),
            temperature: Initializer::Ones.init([1], device),
            project: Conv2dConfig::new([c, c], [1, 1]).init(device),
        }
    }
}

/// Divides each row of `x` (`[batch, channels, cells]`) by its L2 norm.
fn l2_normalise(x: Tensor<3>) -> Tensor<3> {
    let norm = x.clone().powi_scalar(2).sum_dim(2).sqrt().clamp_min(1e-6);
    x / norm
}

impl ChannelAttention {
    /// # Shapes
    ///
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, channels, height, width]`
    pub fn forward(&self, f: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = f.dims();
        let mean = f.clone().mean_dim(1);
        let centred = f - mean;
        let var = centred.clone().powi_scalar(2).mean_dim(1);
        let normed =
            centred / (var + 1e-5).sqrt() * self.norm_scale.val().reshape([1, c, 1, 1]) + self.norm_shift.val().reshape([1, c, 1, 1]);
        let qkv = self.qkv_depthwise.forward(self.qkv.forward(normed));
        let mut parts = qkv.chunk(3, 1).into_iter().map(|t| t.reshape([b, c, h * w]));
        let (q, k, v) = match (parts.next(), parts.next(), parts.next()) {
            (Some(q), Some(k), Some(v)) => (q, k, v),
            _ => unreachable!("chunk(3) of 3·C channels gives three parts"),
        };
        let logits = l2_normalise(q).matmul(l2_normalise(k).swap_dims(1, 2)) * self.temperature.val().reshape([1, 1, 1]);
        let attended = softmax(logits, 2).matmul(v);
        self.project.forward(attended.reshape([b, c, h, w]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::tensor::Distribution;

    #[test]
    fn shapes_and_parameter_count() {
        let d = cpu();
        let cam = ChannelAttentionConfig::new(4).init(&d);
        assert_eq!(cam.forward(Tensor::zeros([2, 4, 6, 10], &d)).dims(), [2, 4, 6, 10]);
        // LN 4 + 4; qkv 4→12 (60); depthwise 3×3 on 12 (120); τ 1; projection 4→4 (20).
        assert_eq!(cam.num_params(), 8 + 60 + 120 + 1 + 20);
    }

    #[test]
    fn a_change_anywhere_reaches_everywhere() {
        // The attention weights are computed over all cells: moving one corner of the map
        // changes the output at the opposite corner, far beyond any convolution's reach (where
        // a local layer's output would keep its bits). One 8×8 corner of one channel moves,
        // so that the effect stands far above rounding whatever the draw: over 500 draws of
        // weights and input the far corner moved by 6·10⁻⁵ at the least (one cell moved it
        // by 3·10⁻⁸ at times).
        let d = cpu();
        let cam = ChannelAttentionConfig::new(4).init(&d);
        let x = Tensor::<4>::random([1, 4, 32, 32], Distribution::Normal(0.0, 1.0), &d);
        let mut bumped = x.clone().into_data().try_to_vec::<f32>().unwrap();
        for row in 0..8 {
            for col in 0..8 {
                bumped[row * 32 + col] += 3.0;
            }
        }
        let y0 = cam.forward(x).into_data().try_to_vec::<f32>().unwrap();
        let y1 =
            cam.forward(Tensor::<1>::from_floats(bumped.as_slice(), &d).reshape([1, 4, 32, 32])).into_data().try_to_vec::<f32>().unwrap();
        let far = |y: &[f32], channel: usize| y[channel * 32 * 32 + 32 * 32 - 1];
        let moved = (0..4).map(|c| (far(&y1, c) - far(&y0, c)).abs()).fold(0.0f32, f32::max);
        assert!(moved > 1e-6, "the far corner moved by {moved}");
    }
}
