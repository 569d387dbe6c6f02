//! RadioUNet's network: two U-Nets in cascade.

use super::config::RadioUnetConfig;
use crate::error::Result;
use crate::models::grid::{GridBatch, GridNetwork, GridTargets, masked_grid_mse};
use crate::nn::unet::{UNet, UNetConfig, check_halvings};
use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// Input planes of the first U-Net: buildings, distance map, samples, mask.
pub const INPUT_PLANES: usize = 4;

/// The two cascaded U-Nets.
#[derive(Module, Debug)]
pub struct RadioUnet {
    first: UNet,
    second: UNet,
    first_loss_weight: f64,
    first_levels: usize,
    second_levels: usize,
}

impl RadioUnetConfig {
    /// Builds the network (call [`RadioUnetConfig::validate`] on configs from files first).
    pub fn init(&self, device: &Device) -> RadioUnet {
        RadioUnet {
            first: UNetConfig::new(INPUT_PLANES).with_channels(self.first_channels.clone()).init(device),
            second: UNetConfig::new(INPUT_PLANES + 1).with_channels(self.second_channels.clone()).init(device),
            first_loss_weight: self.first_loss_weight,
            first_levels: self.first_channels.len(),
            second_levels: self.second_channels.len(),
        }
    }
}

impl RadioUnet {
    /// Both U-Nets' maps.
    ///
    /// # Shapes
    ///
    /// - batch planes: `[batch, 1, rows, cols]`
    /// - output: (first, second), each `[batch, 1, rows, cols]`
    pub fn forward_both(&self, batch: &GridBatch) -> (Tensor<4>, Tensor<4>) {
        let inputs = Tensor::cat(vec![batch.buildings.clone(), batch.distance.clone(), batch.samples.clone(), batch.mask.clone()], 1);
        let coarse = self.first.forward(inputs.clone());
        let refined = self.second.forward(Tensor::cat(vec![inputs, coarse.clone()], 1));
        (coarse, refined)
    }
}

impl GridNetwork for RadioUnet {
    fn forward(&self, batch: &GridBatch) -> Tensor<4> {
        self.forward_both(batch).1
    }

    fn loss(&self, batch: &GridBatch, targets: &GridTargets) -> Tensor<1> {
        let (coarse, refined) = self.forward_both(batch);
        masked_grid_mse(refined, targets.map.clone(), targets.valid.clone())
            + masked_grid_mse(coarse, targets.map.clone(), targets.valid.clone()) * self.first_loss_weight
    }

    fn check_grid(&self, rows: usize, cols: usize) -> Result<()> {
        check_halvings("grid for RadioUNet", self.first_levels.max(self.second_levels).saturating_sub(1), rows, cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::tensor::Distribution;

    fn tiny() -> RadioUnetConfig {
        RadioUnetConfig::new().with_first_channels(vec![4, 8]).with_second_channels(vec![4])
    }

    fn batch(d: &Device) -> GridBatch {
        let r = || Tensor::<4>::random([2, 1, 8, 8], Distribution::Uniform(0.0, 1.0), d);
        GridBatch { samples: r(), mask: r(), buildings: r(), distance: r(), trend: r(), law: r() }
    }

    #[test]
    fn shapes_and_parameter_count() {
        let d = cpu();
        let net = tiny().init(&d);
        let (a, b) = net.forward_both(&batch(&d));
        assert_eq!((a.dims(), b.dims()), ([2, 1, 8, 8], [2, 1, 8, 8]));
        let first = UNetConfig::new(4).with_channels(vec![4, 8]).init(&d).num_params();
        let second = UNetConfig::new(5).with_channels(vec![4]).init(&d).num_params();
        assert_eq!(net.num_params(), first + second);
        // Second U-Net, one level: block 5→4 (184 + 148) and head (5).
        assert_eq!(second, 184 + 148 + 5);
    }

    #[test]
    fn buildings_and_transmitter_are_inputs() {
        let d = cpu();
        let net = tiny().init(&d);
        let b = batch(&d);
        let y = net.forward(&b).into_data();
        let moved = GridBatch { distance: b.distance.clone() * 0.5, ..b.clone() };
        assert!(y.try_to_vec::<f32>().unwrap() != net.forward(&moved).into_data().try_to_vec::<f32>().unwrap());
        let rebuilt = GridBatch { buildings: b.buildings.clone() * 0.0, ..b };
        assert!(y.try_to_vec::<f32>().unwrap() != net.forward(&rebuilt).into_data().try_to_vec::<f32>().unwrap());
    }

    #[test]
    fn the_loss_weighs_both_maps() {
        let d = cpu();
        let b = batch(&d);
        let targets = GridTargets { map: Tensor::zeros([2, 1, 8, 8], &d), valid: Tensor::ones([2, 1, 8, 8], &d) };
        let net = tiny().init(&d);
        let (coarse, refined) = net.forward_both(&b);
        let expected: f32 = (refined.powi_scalar(2).mean() + coarse.powi_scalar(2).mean() * 0.5).into_scalar();
        let got: f32 = net.loss(&b, &targets).into_scalar();
        assert!((got - expected).abs() < 1e-5 * expected.abs().max(1.0), "{got} vs {expected}");
    }
}
