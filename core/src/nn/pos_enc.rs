//! STS-PE: the spatial–temporal–spectral positional encoding of FM-RME (fm-rme.txt eqs. 9–10).
//!
//! Each continuous coordinate `s` (x, y, slot time, band frequency — already scaled to model
//! units) is encoded as `[sin(s·ω_k), cos(s·ω_k)]` with geometric frequencies
//! `ω_k = base^(−k/(n−1))·ω_max`, `k = 0..n`; the four encodings are concatenated. Being a
//! function of continuous coordinates, it works for any grid size and for off-grid points.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};

/// Configuration of [`StsPositionalEncoding`].
#[derive(Config, Debug)]
pub struct StsPositionalEncodingConfig {
    /// Output width; must be a multiple of 8 (four coordinates × sin/cos pairs). No default.
    pub d_model: usize,
    /// Highest angular frequency (radians per model unit). Default: π.
    #[config(default = "std::f64::consts::PI")]
    pub max_frequency: f64,
    /// Ratio of the highest to the lowest frequency. Default: 256.
    #[config(default = 256.0)]
    pub frequency_ratio: f64,
}

/// Sinusoidal encoding of `(x, y, t, f)`; it has no parameters.
#[derive(Module, Debug)]
pub struct StsPositionalEncoding {
    /// Angular frequencies, `[1, 1, n]` (a constant, not trained).
    omegas: Tensor<3>,
    /// Output width.
    pub d_model: usize,
}

impl StsPositionalEncodingConfig {
    /// Builds the encoding. Panics when `d_model` is not a multiple of 8 (a programming
    /// error of the model configuration, checked by the model config's own validation).
    pub fn init(&self, device: &Device) -> StsPositionalEncoding {
        assert!(self.d_model.is_multiple_of(8) && self.d_model > 0, "STS-PE width {} is not a positive multiple of 8", self.d_model);
        let n = self.d_model / 8;
        let omegas: Vec<f32> = (0..n)
            .map(|k| {
                let e = if n > 1 { k as f64 / (n - 1) as f64 } else { 0.0 };
                (self.max_frequency * self.frequency_ratio.powf(-e)) as f32
            })
            .collect();
        let omegas = Tensor::<3>::from_data(TensorData::new(omegas, [1, 1, n]), device);
        StsPositionalEncoding { omegas, d_model: self.d_model }
    }
}

impl StsPositionalEncoding {
    /// Encodes coordinates.
    ///
    /// # Shapes
    ///
    /// - coords: `[batch, tokens, 4]` — x, y, t, f in model units
    /// - output: `[batch, tokens, d_model]` — `[sin x, cos x, sin y, cos y, sin t, cos t, sin f, cos f]`,
    ///   each block `d_model / 8` wide
    pub fn forward(&self, coords: Tensor<3>) -> Tensor<3> {
        let [b, n, _] = coords.dims();
        let mut parts = Vec::with_capacity(8);
        for c in 0..4 {
            let s = coords.clone().narrow(2, c, 1); // [b, n, 1]
            let angles = s * self.omegas.clone(); // [b, n, k]
            parts.push(angles.clone().sin());
            parts.push(angles.cos());
        }
        let out = Tensor::cat(parts, 2);
        debug_assert_eq!(out.dims(), [b, n, self.d_model]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;

    #[test]
    fn shape_and_hand_computed_values() {
        let d = cpu();
        let pe = StsPositionalEncodingConfig::new(16).init(&d);
        // n = 2 frequencies: ω = π and π/256.
        let coords = Tensor::<3>::from_data(TensorData::new(vec![0.5f32, 0.0, 1.0, 2.0], [1, 1, 4]), &d);
        let out = pe.forward(coords);
        assert_eq!(out.dims(), [1, 1, 16]);
        let v: Vec<f32> = out.into_data().try_to_vec::<f32>().unwrap();
        // sin(π·0.5) = 1, sin(π/256·0.5), cos(π·0.5) = 0 …
        assert!((v[0] - 1.0).abs() < 1e-6);
        assert!((v[1] - (std::f32::consts::PI / 512.0).sin()).abs() < 1e-6);
        assert!(v[2].abs() < 1e-6);
        // y = 0: sin 0 = 0, cos 0 = 1.
        assert_eq!(&v[4..8], &[0.0, 0.0, 1.0, 1.0]);
        // t = 1: sin π ≈ 0, cos π = −1.
        assert!((v[10] + 1.0).abs() < 1e-6);
    }

    #[test]
    fn has_no_parameters() {
        let pe = StsPositionalEncodingConfig::new(32).init(&cpu());
        assert_eq!(pe.num_params(), 0);
    }
}
