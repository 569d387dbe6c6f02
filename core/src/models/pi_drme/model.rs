//! PI-DRME's network: the shared pathloss module plus the client's shadowing module.

use super::autoencoder::ConvAutoencoder;
use super::config::PiDrmeConfig;
use super::loss::reconstruction_loss;
use crate::error::Result;
use crate::models::grid::{GridBatch, GridNetwork, GridTargets};
use crate::nn::unet::check_halvings;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// The network: `g_com` (pathloss, shared by all clients; its encoder is what the server
/// averages) and `g_ind` (shadowing, the client's own).
#[derive(Module, Debug)]
pub struct PiDrme {
    /// `g_com`: the shared pathloss autoencoder.
    pub common: ConvAutoencoder,
    /// `g_ind`: the client-specific shadowing autoencoder.
    pub individual: ConvAutoencoder,
    /// Halvings of the deeper module (the grid check's).
    pub(super) levels: usize,
    /// Whether the pathloss map is the template plus the shared module's output.
    pub(super) template_residual: bool,
}

/// Everything a forward pass yields, each `[batch, 1, rows, cols]`, normalised path gain.
#[derive(Clone, Debug)]
pub struct PiDrmeOutput {
    /// The common module's pathloss map.
    pub pathloss: Tensor<4>,
    /// The individual module's shadowing map.
    pub shadowing: Tensor<4>,
    /// The estimate: their sum.
    pub map: Tensor<4>,
}

impl PiDrmeConfig {
    /// Builds the network (call [`PiDrmeConfig::validate`] on configs from files first).
    pub fn init(&self, device: &Device) -> PiDrme {
        PiDrme {
            common: self.pathloss().init(device),
            individual: self.shadowing().init(device),
            levels: self.levels(),
            template_residual: self.template_residual,
        }
    }
}

/// The input planes both modules see: samples, mask and the LDPL template.
///
/// # Shapes
///
/// - batch planes: `[batch, 1, rows, cols]`
/// - output: `[batch, 3, rows, cols]`
pub fn input_planes(batch: &GridBatch) -> Tensor<4> {
    Tensor::cat(vec![batch.samples.clone(), batch.mask.clone(), batch.law.clone()], 1)
}

impl PiDrme {
    /// Both modules' maps and their sum.
    ///
    /// # Shapes
    ///
    /// - batch planes: `[batch, 1, rows, cols]`, rows and cols multiples of `2^levels`
    /// - output: see [`PiDrmeOutput`]
    pub fn forward_all(&self, batch: &GridBatch) -> PiDrmeOutput {
        let planes = input_planes(batch);
        let pathloss = self.pathloss(planes.clone(), batch);
        let shadowing = self.shadowing(planes, batch);
        PiDrmeOutput { map: pathloss.clone() + shadowing.clone(), pathloss, shadowing }
    }

    /// The pathloss map from the input planes ([`input_planes`] of `batch`): the shared
    /// module's output, plus the template when `template_residual` is on.
    ///
    /// # Shapes
    ///
    /// - planes: `[batch, 3, rows, cols]`
    /// - output: `[batch, 1, rows, cols]`
    pub fn pathloss(&self, planes: Tensor<4>, batch: &GridBatch) -> Tensor<4> {
        let out = self.common.forward(planes);
        if self.template_residual { out + batch.law.clone() } else { out }
    }

    /// The shadowing map: the individual module's output, plus the interpolation of the
    /// samples' departures from the template (`trend − law`: inverse-distance weighting of the
    /// residuals, exact at the samples) when `template_residual` is on.
    ///
    /// # Shapes
    ///
    /// - planes: `[batch, 3, rows, cols]`
    /// - output: `[batch, 1, rows, cols]`
    pub fn shadowing(&self, planes: Tensor<4>, batch: &GridBatch) -> Tensor<4> {
        let out = self.individual.forward(planes);
        if self.template_residual { out + batch.trend.clone() - batch.law.clone() } else { out }
    }
}

impl GridNetwork for PiDrme {
    fn forward(&self, batch: &GridBatch) -> Tensor<4> {
        self.forward_all(batch).map
    }

    /// `L_rec`: what the individual phase of a round, the standalone baseline and FL-RME train
    /// with. The shared phase's `μ₁·L_gra + μ₂·L_con` needs the round's global parameters and
    /// is assembled by the federation from [`super::loss`].
    fn loss(&self, batch: &GridBatch, targets: &GridTargets) -> Tensor<1> {
        reconstruction_loss(self.forward(batch), targets.map.clone(), targets.valid.clone())
    }

    fn check_grid(&self, rows: usize, cols: usize) -> Result<()> {
        check_halvings("grid for PI-DRME", self.levels, rows, cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use burn::tensor::Distribution;

    fn batch(side: usize, d: &Device) -> GridBatch {
        let r = || Tensor::<4>::random([2, 1, side, side], Distribution::Uniform(0.0, 1.0), d);
        GridBatch { samples: r(), mask: r(), buildings: r(), distance: r(), trend: r(), law: r() }
    }

    #[test]
    fn shapes_and_parameter_counts_per_preset() {
        let d = cpu();
        let net = PiDrmeConfig::new().init(&d);
        let out = net.forward_all(&batch(16, &d));
        assert_eq!((out.pathloss.dims(), out.shadowing.dims(), out.map.dims()), ([2, 1, 16, 16], [2, 1, 16, 16], [2, 1, 16, 16]));
        // By hand (a 3×3 conv i→o has 9·i·o + o parameters, a 2×2 transposed one 4·i·o + o):
        // common encoder 2 768 + 13 888 + 55 424 + latent 73 856 = 145 936, decoder
        // 16 448 + 73 856 + 8 224 + 18 496 + 2 064 + 4 640 + head 17 = 123 745;
        // individual encoder 2 768 + 13 888 + 18 496, decoder 4 128 + 18 496 + 2 064 + 4 640 + 17.
        assert_eq!(net.common.num_params(), 145_936 + 123_745);
        assert_eq!(net.individual.num_params(), 35_152 + 29_345);
        // paper: common 2 352 416 + 2 002 369, individual 582 176 + 494 273.
        assert_eq!(PiDrmeConfig::preset("paper").unwrap().init(&d).num_params(), 4_354_785 + 1_076_449);
        assert!(net.check_grid(16, 16).is_ok() && net.check_grid(12, 16).is_err());
    }

    #[test]
    fn an_untrained_network_answers_the_statistical_estimate_and_the_plain_sum_does_not() {
        let d = cpu();
        let b = batch(8, &d);
        let small = || PiDrmeConfig::new().with_pathloss_channels(vec![4]).with_shadowing_channels(vec![4]);
        let out = small().init(&d).forward_all(&b);
        let tol = burn::tensor::Tolerance::rel_abs(1e-5, 1e-6);
        // Pathloss: the template; shadowing: the interpolated residuals; the map: their sum.
        out.pathloss.into_data().assert_approx_eq::<f32>(&b.law.clone().into_data(), tol);
        out.shadowing.into_data().assert_approx_eq::<f32>(&(b.trend.clone() - b.law.clone()).into_data(), tol);
        out.map.into_data().assert_approx_eq::<f32>(&b.trend.clone().into_data(), tol);
        let plain = small().with_template_residual(false).init(&d).forward(&b);
        assert!((plain - b.trend).abs().max().into_scalar::<f32>() > 1e-3);
    }

    #[test]
    fn the_estimate_is_the_sum_of_the_two_modules() {
        let d = cpu();
        let net = PiDrmeConfig::new().with_pathloss_channels(vec![4]).with_shadowing_channels(vec![4]).init(&d);
        let out = net.forward_all(&batch(8, &d));
        (out.pathloss + out.shadowing)
            .into_data()
            .assert_approx_eq::<f32>(&out.map.into_data(), burn::tensor::Tolerance::rel_abs(1e-5, 1e-6));
    }

    #[test]
    fn buildings_and_distance_are_not_inputs() {
        // PI-DRME needs no landscaping information: only the samples, the mask, the template
        // and (with `template_residual`) the interpolation of the samples' residuals.
        let d = cpu();
        let b = batch(8, &d);
        let other = GridBatch { buildings: b.buildings.clone() * 0.0, distance: b.distance.clone() + 1.0, ..b.clone() };
        for residual in [true, false] {
            let net = PiDrmeConfig::new()
                .with_pathloss_channels(vec![4])
                .with_shadowing_channels(vec![4])
                .with_template_residual(residual)
                .init(&d);
            let y = net.forward(&b).into_data();
            y.assert_eq(&net.forward(&other).into_data(), true);
            // What it does read changes its answer: the template for the plain sum (an input
            // plane), the statistical estimate for the residual form (what it starts from).
            let moved = if residual {
                GridBatch { trend: b.trend.clone() + 0.5, ..b.clone() }
            } else {
                GridBatch { law: b.law.clone() + 0.5, ..b.clone() }
            };
            assert_ne!(net.forward(&moved).into_data().try_to_vec::<f32>().unwrap(), y.try_to_vec::<f32>().unwrap());
        }
    }
}
