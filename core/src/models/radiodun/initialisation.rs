//! The initialisation module (eqs. 8–10): the distance map `P0`, the initial factors
//! `s_0 … s_m` by sequential two-layer convolutions, their 1×1 fusion into `X^0`, and the first
//! factoring feature `v^0` that guides the first block's reweighting.

use crate::models::grid::GridBatch;
use crate::nn::conv_block::LEAKY_SLOPE;
use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};

/// Planes every factor initialiser sees besides the factors and obstacles: the samples `y`,
/// the sampling mask `Φ`, and the fitted log-distance trend.
pub const MEASUREMENT_PLANES: usize = 3;

/// Configuration of an [`Initialisation`].
#[derive(Config, Debug)]
pub struct InitialisationConfig {
    /// Number of factors `m + 1` (the distance factor and one per obstacle plane).
    pub factors: usize,
    /// Hidden channels of each factor's two convolutions, and channels of `v^0`.
    pub channels: usize,
    /// Whether `X^0` adds the fusion to the trend plane (see
    /// [`super::RadioDunConfig::trend_residual`]). Default off (eq. 10 as published).
    #[config(default = false)]
    pub trend_residual: bool,
}

/// One factor's `Conv₂` of eq. 9: 3×3 → leaky ReLU → 3×3 to one plane.
#[derive(Module, Debug)]
pub struct FactorInit {
    hidden: Conv2d,
    out: Conv2d,
}

impl FactorInit {
    /// # Shapes
    ///
    /// - input: `[batch, planes, height, width]`
    /// - output: `[batch, 1, height, width]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.out.forward(leaky_relu(self.hidden.forward(x), LEAKY_SLOPE))
    }
}

/// The initialisation module.
#[derive(Module, Debug)]
pub struct Initialisation {
    factors: Vec<FactorInit>,
    fusion: Conv2d,
    guide: Conv2d,
    trend_residual: bool,
}

/// What the initialisation hands the first unfolding block.
#[derive(Clone, Debug)]
pub struct InitialState {
    /// `s_0^0 … s_m^0`, each `[batch, 1, height, width]`.
    pub factors: Vec<Tensor<4>>,
    /// `X^0`, `[batch, 1, height, width]`.
    pub map: Tensor<4>,
    /// `v^0`, `[batch, channels, height, width]`.
    pub guide: Tensor<4>,
}

impl InitialisationConfig {
    /// Builds the module.
    pub fn init(&self, device: &Device) -> Initialisation {
        let conv3 = |i: usize, o: usize| Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Same).init(device);
        // Every initialiser sees the measurement planes and m + 1 others: for s_i, the i
        // factors before it and the obstacle planes P_i … P_m (P_0 being the distance map).
        let planes = MEASUREMENT_PLANES + self.factors;
        Initialisation {
            factors: (0..self.factors).map(|_| FactorInit { hidden: conv3(planes, self.channels), out: conv3(self.channels, 1) }).collect(),
            // As a correction of the trend the fusion starts at zero, so an untrained network
            // answers the trend itself.
            fusion: match self.trend_residual {
                true => Conv2dConfig::new([self.factors, 1], [1, 1]).with_initializer(Initializer::Zeros).init(device),
                false => Conv2dConfig::new([self.factors, 1], [1, 1]).init(device),
            },
            guide: conv3(self.factors + 1, self.channels),
            trend_residual: self.trend_residual,
        }
    }
}

/// Eq. 8: `P0 = 1 − minmax(log10(1 + d))`, `d` the distance in cells, normalised per map.
///
/// # Shapes
///
/// - distance (in grid diagonals, as [`GridBatch::distance`]): `[batch, 1, height, width]`
/// - output: `[batch, 1, height, width]`
pub fn distance_map(distance: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = distance.dims();
    let diagonal_cells = ((h * h + w * w) as f64).sqrt();
    let log = (distance * diagonal_cells).log1p() / std::f64::consts::LN_10;
    let low = log.clone().min_dims(&[1, 2, 3]);
    let high = log.clone().max_dims(&[1, 2, 3]);
    (log - low.clone()) / (high - low).clamp_min(1e-6) * -1.0 + 1.0
}

impl Initialisation {
    /// # Shapes
    ///
    /// - batch planes: `[batch, 1, height, width]`
    /// - output: see [`InitialState`]
    pub fn forward(&self, batch: &GridBatch) -> InitialState {
        let measured = vec![batch.samples.clone(), batch.mask.clone(), batch.trend.clone()];
        let obstacles = [distance_map(batch.distance.clone()), batch.buildings.clone()];
        let mut factors: Vec<Tensor<4>> = Vec::with_capacity(self.factors.len());
        for (i, init) in self.factors.iter().enumerate() {
            let mut planes = measured.clone();
            planes.extend(factors.iter().cloned());
            planes.extend(obstacles.iter().skip(i).cloned());
            factors.push(init.forward(Tensor::cat(planes, 1)));
        }
        let fused = self.fusion.forward(Tensor::cat(factors.clone(), 1));
        let map = if self.trend_residual { batch.trend.clone() + fused } else { fused };
        let mut guide_planes = factors.clone();
        guide_planes.push(map.clone());
        let guide = leaky_relu(self.guide.forward(Tensor::cat(guide_planes, 1)), LEAKY_SLOPE);
        InitialState { factors, map, guide }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;

    #[test]
    fn the_distance_map_by_hand() {
        // A 1×3 row (diagonal √10 cells) at distances 0, 1, 3 cells: log10(1 + d) = 0,
        // log10 2, log10 4 = 2·log10 2, so P0 = 1, 0.5, 0.
        let d = cpu();
        let diag = 10f32.sqrt();
        let dist = Tensor::<1>::from_floats([0.0, 1.0 / diag, 3.0 / diag], &d).reshape([1, 1, 1, 3]);
        let p = distance_map(dist).into_data().try_to_vec::<f32>().unwrap();
        for (got, want) in p.iter().zip([1.0, 0.5, 0.0]) {
            assert!((got - want).abs() < 1e-5, "{p:?}");
        }
    }

    #[test]
    fn shapes_and_parameter_count() {
        let d = cpu();
        let init = InitialisationConfig::new(2, 4).init(&d);
        let z = || Tensor::<4>::zeros([2, 1, 8, 8], &d);
        let batch = GridBatch { samples: z(), mask: z(), buildings: z(), distance: z() + 0.5, trend: z(), law: z() };
        let s = init.forward(&batch);
        assert_eq!(s.factors.len(), 2);
        assert_eq!((s.factors[1].dims(), s.map.dims(), s.guide.dims()), ([2, 1, 8, 8], [2, 1, 8, 8], [2, 4, 8, 8]));
        // Two initialisers 5→4 (184) and 4→1 (37); fusion 2→1 (3); guide 3→4 (112).
        assert_eq!(init.num_params(), 2 * (184 + 37) + 3 + 112);
    }
}
