//! FM-RME behind the [`Estimator`] interface: zero-shot estimation from any measurement set
//! at any query points. Queries are grouped by (slot, band); for each group the context rule
//! ([`select_context`]) picks up to `max_visible` measurements, which are encoded once; the
//! group's queries are decoded in chunks of `query_chunk` (chunking does not change results:
//! queries attend only to the visible tokens and themselves).

use super::fm_rme::{local_baseline, Example, FmRme, FmRmeBatch, FmRmeConfig, ModelFrame};
use super::fm_rme_context::select_context;
use crate::error::{Result, RmeError};
use crate::estimator::Estimator;
use crate::map::{Estimate, MeasurementSet, QuerySet};
use burn::tensor::{Bool, Device, Tensor, TensorData};
use std::collections::BTreeMap;

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

    /// Standardised predictions for queries of one slice given their context.
    fn decode_slice(&self, visible: Vec<[f64; 5]>, queries: &[[f64; 4]]) -> Result<Vec<f64>> {
        let cfg = &self.config;
        let frame = ModelFrame::of(&visible);
        let probe = Example { queries: vec![queries[0]], visible: visible.clone(), targets: vec![] };
        let batch = FmRmeBatch::new(&[probe], cfg, &self.device)?;
        let (mean, std) = batch.scales[0];
        let encoded = self.model.encode(&batch);
        let mut out = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(cfg.query_chunk) {
            let coords = frame.query_coords(cfg, chunk, &self.device);
            let pad = Tensor::<2, Bool>::from_data(TensorData::new(vec![false; chunk.len()], [1, chunk.len()]), &self.device);
            let base = local_baseline(&visible, chunk, mean, std, cfg);
            let base = Tensor::<2>::from_data(TensorData::new(base, [1, chunk.len()]), &self.device);
            let values: Vec<f32> = self
                .model
                .decode(&encoded, coords, pad, base)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| RmeError::numerical("FM-RME output", format!("{e:?}")))?;
            out.extend(values.iter().map(|&v| v as f64 * std + mean));
        }
        Ok(out)
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
        let points: Vec<[f64; 5]> = obs.points.iter().map(|m| [m.x_m, m.y_m, m.t_s, m.freq_hz, m.value]).collect();
        // Groups: one (slot, band) and one spatial tile of side `tile_m`.
        let mut groups: BTreeMap<(u64, u64, i64, i64), Vec<usize>> = BTreeMap::new();
        for (i, q) in query.points.iter().enumerate() {
            let tile = ((q.x_m / cfg.tile_m).floor() as i64, (q.y_m / cfg.tile_m).floor() as i64);
            groups.entry((q.t_s.to_bits(), q.freq_hz.to_bits(), tile.0, tile.1)).or_default().push(i);
        }
        let mut mean = vec![f64::NAN; query.len()];
        for idx in groups.values() {
            let qs: Vec<[f64; 4]> = idx.iter().map(|&i| {
                let q = query.points[i];
                [q.x_m, q.y_m, q.t_s, q.freq_hz]
            }).collect();
            let n = qs.len() as f64;
            let centre = [qs.iter().map(|q| q[0]).sum::<f64>() / n, qs.iter().map(|q| q[1]).sum::<f64>() / n, qs[0][2], qs[0][3]];
            let ctx = select_context(&points, &centre, cfg.max_visible, cfg);
            let visible: Vec<[f64; 5]> = ctx.iter().map(|&i| points[i]).collect();
            for (k, v) in self.decode_slice(visible, &qs)?.into_iter().enumerate() {
                mean[idx[k]] = v;
            }
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
            (0..30).map(|i| Measurement { x_m: (i * 7 % 50) as f64, y_m: (i * 13 % 40) as f64, t_s: (i % 2) as f64, freq_hz: 3.5e9, value: -70.0 - i as f64 * 0.3 }).collect(),
        );
        let query = QuerySet { points: (0..20).map(|i| Query { x_m: i as f64 * 2.0, y_m: 10.0, t_s: (i % 3) as f64, freq_hz: 3.5e9 }).collect() };
        let chunked = FmRmeEstimator::new(model.clone(), cfg.clone(), d.clone(), "fm-rme").unwrap().estimate(&obs, &query).unwrap();
        let whole = FmRmeEstimator::new(model, cfg.with_query_chunk(1000), d, "fm-rme").unwrap().estimate(&obs, &query).unwrap();
        assert_eq!(chunked.mean.len(), 20);
        for (a, b) in chunked.mean.iter().zip(&whole.mean) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert!(chunked.mean.iter().all(|v| v.is_finite()));
    }
}
