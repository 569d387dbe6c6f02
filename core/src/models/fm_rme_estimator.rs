//! FM-RME behind the [`Estimator`] interface: zero-shot estimation from any measurement set
//! at any query points. The visible set is encoded once; queries are decoded in chunks of
//! `query_chunk`, each chunk attending to all visible tokens.

use super::fm_rme::{Example, FmRme, FmRmeBatch, FmRmeConfig};
use crate::error::{Result, RmeError};
use crate::estimator::Estimator;
use crate::map::{Estimate, MeasurementSet, QuerySet};
use burn::tensor::{Bool, Device, Tensor, TensorData};

/// A trained (or freshly initialised) FM-RME model ready to estimate.
pub struct FmRmeEstimator {
    pub model: FmRme,
    pub config: FmRmeConfig,
    pub device: Device,
    pub label: String,
}

impl FmRmeEstimator {
    pub fn new(model: FmRme, config: FmRmeConfig, device: Device, label: impl Into<String>) -> Result<Self> {
        config.validate()?;
        Ok(Self { model, config, device, label: label.into() })
    }

    /// Visible points in model order; above `max_visible`, an evenly strided subset (a
    /// deterministic choice: the same input always gives the same estimate).
    fn visible(&self, obs: &MeasurementSet) -> Vec<[f64; 5]> {
        let n = obs.len();
        let keep = self.config.max_visible.min(n);
        (0..keep)
            .map(|i| {
                let m = obs.points[i * n / keep];
                [m.x_m, m.y_m, m.t_s, m.freq_hz, m.value]
            })
            .collect()
    }
}

impl Estimator for FmRmeEstimator {
    fn name(&self) -> &str {
        &self.label
    }

    fn estimate(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate> {
        obs.validate()?;
        query.validate()?;
        let cfg = &self.config;
        let visible = self.visible(obs);
        // Encode with one dummy query; the decoder below takes the real ones chunk by chunk.
        let probe = Example { visible: visible.clone(), queries: vec![[visible[0][0], visible[0][1], visible[0][2], visible[0][3]]] };
        let encoded = self.model.encode(&FmRmeBatch::new(&[probe], cfg, &self.device)?);
        let mut mean = Vec::with_capacity(query.len());
        for chunk in query.points.chunks(cfg.query_chunk) {
            let ex = Example { visible: visible.clone(), queries: chunk.iter().map(|q| [q.x_m, q.y_m, q.t_s, q.freq_hz]).collect() };
            // Only the query coordinates are needed here (same centring as the visible set).
            let qb = FmRmeBatch::new(std::slice::from_ref(&ex), cfg, &self.device)?;
            let pad = Tensor::<2, Bool>::from_data(TensorData::new(vec![false; chunk.len()], [1, chunk.len()]), &self.device);
            let out = self.model.decode(&encoded, qb.query_coords, pad);
            let values: Vec<f32> = out
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| RmeError::numerical("FM-RME output", format!("{e:?}")))?;
            mean.extend(values.iter().map(|&v| v as f64 * cfg.power_std_db + cfg.power_mean_dbm));
        }
        Ok(Estimate { mean, std: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::map::{Measurement, Query};

    #[test]
    fn estimates_every_query_in_chunks_and_matches_one_pass() {
        let d = cpu();
        let cfg = FmRmeConfig::tiny().with_query_chunk(7);
        let model = cfg.init(&d);
        let obs = MeasurementSet::from_points(
            (0..30).map(|i| Measurement { x_m: (i * 7 % 50) as f64, y_m: (i * 13 % 40) as f64, t_s: 0.0, freq_hz: 3.5e9, value: -70.0 - i as f64 * 0.3 }).collect(),
        );
        let query = QuerySet { points: (0..20).map(|i| Query { x_m: i as f64 * 2.0, y_m: 10.0, t_s: 0.0, freq_hz: 3.5e9 }).collect() };
        let chunked = FmRmeEstimator::new(model.clone(), cfg.clone(), d.clone(), "fm-rme").unwrap().estimate(&obs, &query).unwrap();
        let whole = FmRmeEstimator::new(model, cfg.with_query_chunk(1000), d, "fm-rme").unwrap().estimate(&obs, &query).unwrap();
        assert_eq!(chunked.mean.len(), 20);
        for (a, b) in chunked.mean.iter().zip(&whole.mean) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        assert!(chunked.mean.iter().all(|v| v.is_finite()));
    }
}
