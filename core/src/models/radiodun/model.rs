//! RadioDUN's network: initialisation, K unfolding blocks (GDM → DRM → PMM), and the
//! shadowing head.

use super::config::{OBSTACLE_PLANES, RadioDunConfig};
use super::gradient_step::{GradientStep, GradientStepConfig};
use super::initialisation::{Initialisation, InitialisationConfig};
use super::loss::total_loss;
use super::proximal::{ProximalMapping, ProximalMappingConfig};
use super::reweighting::{Reweighting, ReweightingConfig};
use crate::error::Result;
use crate::models::grid::{GridBatch, GridNetwork, GridTargets};
use crate::nn::unet::check_halvings;
use burn::module::{Initializer, Module};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

/// One unfolding block `U_k`.
#[derive(Module, Debug)]
pub struct UnfoldingBlock {
    gradient: GradientStep,
    /// The DRM, or (ablation) a 1×1 convolution over the factors and the previous map.
    reweighting: Option<Reweighting>,
    plain: Option<Conv2d>,
    proximal: ProximalMapping,
}

/// The network.
#[derive(Module, Debug)]
pub struct RadioDun {
    init: Initialisation,
    blocks: Vec<UnfoldingBlock>,
    /// Eq. 22: the obstacle factors → the shadowing factor `X̂σ`.
    shadowing: Conv2d,
    shadowing_loss: bool,
    mse_weight: f64,
    proximal_levels: usize,
}

/// Everything a forward pass yields.
#[derive(Clone, Debug)]
pub struct RadioDunOutput {
    /// The estimate `X̂ = X̂^K`, `[batch, 1, height, width]`.
    pub map: Tensor<4>,
    /// The shadowing factor `X̂σ`, `[batch, 1, height, width]`.
    pub shadowing: Tensor<4>,
    /// The final factors `s_0^K … s_m^K`, each `[batch, 1, height, width]`.
    pub factors: Vec<Tensor<4>>,
}

impl RadioDunConfig {
    /// Builds the network (call [`RadioDunConfig::validate`] on configs from files first).
    pub fn init(&self, device: &Device) -> RadioDun {
        let factors = self.factors();
        let c = self.feature_channels;
        let block = || UnfoldingBlock {
            gradient: GradientStepConfig::new(factors)
                .with_initial_step(self.initial_step)
                .with_initial_threshold(self.initial_threshold)
                .init(device),
            reweighting: self.reweighting.then(|| ReweightingConfig::new(factors + 1, c).init(device)),
            plain: (!self.reweighting)
                .then(|| Conv2dConfig::new([factors + 1, 1], [1, 1]).with_initializer(Initializer::Zeros).init(device)),
            proximal: ProximalMappingConfig::new(1 + factors).with_channels(self.proximal_channels.clone()).init(device),
        };
        RadioDun {
            init: InitialisationConfig::new(factors, c).with_trend_residual(self.trend_residual).init(device),
            blocks: (0..self.blocks).map(|_| block()).collect(),
            shadowing: Conv2dConfig::new([OBSTACLE_PLANES, 1], [1, 1]).init(device),
            shadowing_loss: self.shadowing_loss,
            mse_weight: self.mse_weight,
            proximal_levels: self.proximal_channels.len(),
        }
    }
}

impl RadioDun {
    /// The estimate, the shadowing factor and the final factors.
    ///
    /// Each block: the GDM updates the factors against the samples; the DRM weighs them
    /// (with the previous map) into a correction of the updated map, giving the rough map
    /// `X'`; the PMM adds its correction to `X'`.
    ///
    /// # Shapes
    ///
    /// - batch planes: `[batch, 1, height, width]`
    /// - output: see [`RadioDunOutput`]
    pub fn forward_all(&self, batch: &GridBatch) -> RadioDunOutput {
        let start = self.init.forward(batch);
        let (mut factors, mut map, mut guide) = (start.factors, start.map, start.guide);
        for block in &self.blocks {
            let (updated, moved) = block.gradient.forward(&factors, map.clone(), batch.samples.clone(), batch.mask.clone());
            let mut planes = updated.clone();
            planes.push(map);
            let planes = Tensor::cat(planes, 1);
            let correction = match (&block.reweighting, &block.plain) {
                (Some(drm), _) => {
                    let (x, v) = drm.forward(planes, guide.clone());
                    guide = v;
                    x
                }
                (None, Some(conv)) => conv.forward(planes),
                (None, None) => unreachable!("a block has the DRM or its 1×1 counterpart"),
            };
            let rough = moved + correction;
            let mut prox_in = vec![rough.clone()];
            prox_in.extend(updated.iter().cloned());
            map = rough + block.proximal.forward(Tensor::cat(prox_in, 1));
            factors = updated;
        }
        let shadowing = self.shadowing.forward(Tensor::cat(factors[1..].to_vec(), 1));
        RadioDunOutput { map, shadowing, factors }
    }

    /// Each block's learnable steps β and threshold ε.
    pub fn steps(&self) -> Vec<(Vec<f32>, f32)> {
        self.blocks.iter().map(|b| b.gradient.values()).collect()
    }
}

impl GridNetwork for RadioDun {
    fn forward(&self, batch: &GridBatch) -> Tensor<4> {
        self.forward_all(batch).map
    }

    fn loss(&self, batch: &GridBatch, targets: &GridTargets) -> Tensor<1> {
        let out = self.forward_all(batch);
        total_loss(out.map, out.shadowing, targets.map.clone(), targets.valid.clone(), self.shadowing_loss, self.mse_weight)
    }

    fn check_grid(&self, rows: usize, cols: usize) -> Result<()> {
        check_halvings("grid for RadioDUN", self.proximal_levels.saturating_sub(1), rows, cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::tensor::Distribution;

    fn tiny() -> RadioDunConfig {
        RadioDunConfig::new().with_blocks(2).with_feature_channels(4).with_proximal_channels(vec![4, 8])
    }

    fn batch(b: usize, side: usize, d: &Device) -> GridBatch {
        let r = || Tensor::<4>::random([b, 1, side, side], Distribution::Uniform(0.0, 1.0), d);
        let mask = Tensor::<4>::random([b, 1, side, side], Distribution::Bernoulli(0.1), d);
        GridBatch { samples: r() * mask.clone(), mask, buildings: r().greater_elem(0.7).float(), distance: r(), trend: r(), law: r() }
    }

    #[test]
    fn shapes() {
        let d = cpu();
        let out = tiny().init(&d).forward_all(&batch(2, 8, &d));
        assert_eq!((out.map.dims(), out.shadowing.dims(), out.factors.len()), ([2, 1, 8, 8], [2, 1, 8, 8], 2));
    }

    #[test]
    fn parameter_counts_per_preset() {
        // Counted from the layer shapes in each module's own test; here the sums, so that a
        // change of architecture shows up as a changed number.
        let d = cpu();
        assert_eq!(RadioDunConfig::preset("small").unwrap().init(&d).num_params(), 617_644);
        assert_eq!(RadioDunConfig::preset("paper").unwrap().init(&d).num_params(), 9_443_764);
        // The ablation swaps each block's DRM for a 1×1 convolution (3 planes → 1: 4 parameters).
        let with = tiny().init(&d).num_params();
        let without = tiny().with_reweighting(false).init(&d).num_params();
        let drm = ReweightingConfig::new(3, 4).init(&d).num_params();
        assert_eq!(with - without, 2 * (drm - 4));
    }

    #[test]
    fn the_same_weights_run_at_128_and_256() {
        // No parameter is tied to the map's size: one network answers both, and a 256² map
        // built by repeating each cell of a 128² one 2×2 gives an answer of the same scale.
        let d = cpu();
        let net = RadioDunConfig::preset("small").unwrap().init(&d);
        for side in [128, 256] {
            net.check_grid(side, side).unwrap();
            let y = net.forward(&batch(1, side, &d));
            assert_eq!(y.dims(), [1, 1, side, side]);
            assert!(y.into_data().try_to_vec::<f32>().unwrap().iter().all(|v| v.is_finite()));
        }
        assert!(net.check_grid(130, 128).is_err());
    }

    #[test]
    fn an_untrained_trend_residual_network_answers_the_trend() {
        // Every correction (fusion, DRM output, PMM head) starts at zero, so away from the
        // samples only the soft thresholds move the map: by at most ε per factor and block.
        let d = cpu();
        let b = batch(1, 8, &d);
        let values = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
        let (trend, mask) = (values(b.trend.clone()), values(b.mask.clone()));
        let config = tiny().with_trend_residual(true);
        let bound = (config.blocks * config.factors()) as f64 * config.initial_threshold + 1e-6;
        let farthest = |net: &RadioDun| {
            let y = values(net.forward(&b));
            (0..y.len()).filter(|&i| mask[i] == 0.0).map(|i| (y[i] - trend[i]).abs() as f64).fold(0.0, f64::max)
        };
        let gap = farthest(&config.init(&d));
        assert!(gap <= bound, "{gap} > {bound}");
        // Without the trend carried past the initialisers, the map starts elsewhere.
        assert!(farthest(&tiny().init(&d)) > 10.0 * bound);
    }

    #[test]
    fn the_transmitter_and_the_buildings_are_inputs() {
        let d = cpu();
        let net = tiny().init(&d);
        let b = batch(1, 8, &d);
        let y = net.forward(&b).into_data().try_to_vec::<f32>().unwrap();
        let moved = GridBatch { distance: b.distance.clone() * 0.5 + 0.1, ..b.clone() };
        assert_ne!(y, net.forward(&moved).into_data().try_to_vec::<f32>().unwrap());
        let rebuilt = GridBatch { buildings: b.buildings.clone() * 0.0, ..b };
        assert_ne!(y, net.forward(&rebuilt).into_data().try_to_vec::<f32>().unwrap());
    }
}
