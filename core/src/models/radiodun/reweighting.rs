//! The dynamic reweighting module (DRM, eqs. 14–16): weighs the updated factors into the rough
//! map `X'`, guided by the previous block's factoring feature through CBAM attention.

use crate::nn::conv_block::LEAKY_SLOPE;
use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, sigmoid};
use burn::tensor::{Device, Tensor};

/// Configuration of a [`Reweighting`].
#[derive(Config, Debug)]
pub struct ReweightingConfig {
    /// Input planes: the factors and the previous map.
    pub in_planes: usize,
    /// Channels C of the factoring feature.
    pub channels: usize,
}

/// The DRM of one unfolding block.
#[derive(Module, Debug)]
pub struct Reweighting {
    /// Factors (and the previous map) → the factoring feature `v^k`.
    feature_in: Conv2d,
    feature_out: Conv2d,
    /// Eq. 14's linear layer.
    channel_gate: Linear,
    /// Eq. 15's 7×7 convolution.
    spatial_gate: Conv2d,
    /// The 3×3 block that refines the attended guide into `v'`.
    refine: Conv2d,
    /// Eq. 16's depthwise convolutions: the gate applied to `v^k`, and the added term.
    gate: Conv2d,
    shift: Conv2d,
    /// Eq. 16's output convolution, to one plane.
    out: Conv2d,
}

impl ReweightingConfig {
    /// Builds the module.
    pub fn init(&self, device: &Device) -> Reweighting {
        let c = self.channels;
        let conv = |i: usize, o: usize, k: usize| Conv2dConfig::new([i, o], [k, k]).with_padding(PaddingConfig2d::Same).init(device);
        let depthwise = || Conv2dConfig::new([c, c], [3, 3]).with_groups(c).with_padding(PaddingConfig2d::Same).init(device);
        Reweighting {
            feature_in: conv(self.in_planes, c, 3),
            feature_out: conv(c, c, 3),
            channel_gate: LinearConfig::new(c, c).init(device),
            spatial_gate: conv(2, 1, 7),
            refine: conv(c, c, 3),
            gate: depthwise(),
            shift: depthwise(),
            // Zero: the rough map starts as the GDM's map, and the DRM learns a correction.
            out: Conv2dConfig::new([c, 1], [3, 3]).with_padding(PaddingConfig2d::Same).with_initializer(Initializer::Zeros).init(device),
        }
    }
}

impl Reweighting {
    /// The factoring feature of `planes` (the factors and the previous map, concatenated).
    ///
    /// # Shapes
    ///
    /// - planes: `[batch, in_planes, height, width]`
    /// - output: `[batch, channels, height, width]`
    pub fn feature(&self, planes: Tensor<4>) -> Tensor<4> {
        let v = leaky_relu(self.feature_in.forward(planes), LEAKY_SLOPE);
        leaky_relu(self.feature_out.forward(v), LEAKY_SLOPE)
    }

    /// CBAM on the guide (eqs. 14–15): channel then spatial attention.
    ///
    /// # Shapes
    ///
    /// - guide: `[batch, channels, height, width]`
    /// - output: `[batch, channels, height, width]`
    pub fn attend(&self, guide: Tensor<4>) -> Tensor<4> {
        let [b, c, _, _] = guide.dims();
        let pooled = guide.clone().mean_dims(&[2, 3]) + guide.clone().max_dims(&[2, 3]);
        let channel = sigmoid(self.channel_gate.forward(pooled.reshape([b, c]))).reshape([b, c, 1, 1]);
        let guided = guide * channel;
        let summary = Tensor::cat(vec![guided.clone().mean_dim(1), guided.clone().max_dim(1)], 1);
        guided * sigmoid(self.spatial_gate.forward(summary))
    }

    /// The rough map `X'` and the new factoring feature `v^k`.
    ///
    /// # Shapes
    ///
    /// - planes: `[batch, in_planes, height, width]`
    /// - guide (`v^{k−1}`): `[batch, channels, height, width]`
    /// - output: (`[batch, 1, height, width]`, `[batch, channels, height, width]`)
    pub fn forward(&self, planes: Tensor<4>, guide: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let v = self.feature(planes);
        let refined = leaky_relu(self.refine.forward(self.attend(guide)), LEAKY_SLOPE);
        let mixed = v.clone() * sigmoid(self.gate.forward(refined.clone())) + self.shift.forward(refined);
        (self.out.forward(mixed), v)
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
        let m = ReweightingConfig::new(3, 4).init(&d);
        let (x, v) = m.forward(Tensor::zeros([2, 3, 8, 6], &d), Tensor::zeros([2, 4, 8, 6], &d));
        assert_eq!((x.dims(), v.dims()), ([2, 1, 8, 6], [2, 4, 8, 6]));
        // feature 3→4 (112) and 4→4 (148); linear 4→4 (20); 7×7 2→1 (99); refine 4→4 (148);
        // two depthwise 3×3 on 4 channels (40 each); out 4→1 (37).
        assert_eq!(m.num_params(), 112 + 148 + 20 + 99 + 148 + 40 + 40 + 37);
    }

    #[test]
    fn attention_only_rescales_the_guide() {
        // Both gates are sigmoids: the attended guide has the guide's signs and is no larger.
        let d = cpu();
        let m = ReweightingConfig::new(2, 4).init(&d);
        let g = Tensor::<4>::random([1, 4, 8, 8], Distribution::Normal(0.0, 1.0), &d);
        let a = m.attend(g.clone()).into_data().try_to_vec::<f32>().unwrap();
        let g = g.into_data().try_to_vec::<f32>().unwrap();
        assert!(a.iter().zip(&g).all(|(a, g)| a.abs() <= g.abs() && a * g >= 0.0));
    }
}
