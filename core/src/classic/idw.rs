//! Inverse-distance weighting over the `k` nearest samples.

use super::slices::{NearestSamples, Sample, SliceContext, SpatialMethod};
use crate::error::{Result, RmeError};

/// IDW: `ẑ(q) = Σ w_i z_i / Σ w_i`, `w_i = 1 / d_i^p`, over the `neighbours` nearest samples;
/// a query on a sample returns that sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Idw {
    /// Exponent of the inverse distance. Default 2.
    pub power: f64,
    /// Nearest samples used per query. Default 16.
    pub neighbours: usize,
}

impl Default for Idw {
    fn default() -> Self {
        Self { power: 2.0, neighbours: 16 }
    }
}

impl SpatialMethod for Idw {
    fn name(&self) -> &str {
        "idw"
    }

    fn estimate_slice(&self, _: &SliceContext, samples: &[Sample], queries: &[[f64; 2]]) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        if samples.is_empty() {
            return Err(RmeError::Empty("IDW sample set".into()));
        }
        if self.neighbours == 0 || !(self.power > 0.0) {
            return Err(RmeError::invalid("IDW settings", "neighbours and power must be positive"));
        }
        let search = NearestSamples::new(samples);
        let out = queries
            .iter()
            .map(|&q| {
                let idx = search.of(q, self.neighbours);
                let (mut num, mut den) = (0.0, 0.0);
                for &i in &idx {
                    let s = samples[i];
                    let d2 = (s.x - q[0]).powi(2) + (s.y - q[1]).powi(2);
                    if d2 < 1e-18 {
                        return s.value;
                    }
                    let w = d2.powf(-self.power / 2.0);
                    num += w * s.value;
                    den += w;
                }
                num / den
            })
            .collect();
        Ok((out, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SliceContext {
        SliceContext { t_s: 0.0, freq_hz: f64::NAN, tx_m: None }
    }

    #[test]
    fn hand_computed_case() {
        let s = [Sample { x: 0.0, y: 0.0, value: 10.0 }, Sample { x: 2.0, y: 0.0, value: 20.0 }];
        // At x = 0.5: w = 1/0.25 = 4 and 1/2.25; ẑ = (40 + 20/2.25)/(4 + 1/2.25) = 11.0.
        let (m, _) = Idw::default().estimate_slice(&ctx(), &s, &[[0.5, 0.0], [2.0, 0.0]]).unwrap();
        assert!((m[0] - 11.0).abs() < 1e-12, "{}", m[0]);
        assert_eq!(m[1], 20.0);
    }
}
