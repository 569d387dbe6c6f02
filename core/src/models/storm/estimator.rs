//! STORM behind the [`crate::Estimator`] interface: a spatial method ([`SpatialMethod`]), so
//! [`crate::classic::Sliced`] runs it one `(slot, band)` slice at a time, as kriging.

use super::batch::{StormBatch, baseline_tokens};
use super::config::StormConfig;
use super::features::{QueryTokens, SliceFrame};
use super::model::Storm;
use crate::classic::slices::{Sample, SliceContext, Sliced, SpatialMethod, slice_tasks};
use crate::error::{Result, RmeError};
use crate::map::{Estimate, MeasurementSet, QuerySet};
use crate::models::fm_rme::loss::LOG_STD_RANGE;
use burn::tensor::{Device, Tensor, TensorData};

/// Queries per forward pass unless set: bounds memory (each query is a sequence of k + 1
/// tokens) while keeping tensor operations large.
pub const DEFAULT_QUERY_CHUNK: usize = 1024;

/// A trained STORM model ready to interpolate a slice.
#[derive(Clone)]
pub struct StormMethod {
    /// The network.
    pub model: Storm,
    /// Its architecture.
    pub config: StormConfig,
    /// Where it runs.
    pub device: Device,
    /// The method's name.
    pub label: String,
    /// Queries per forward pass (an execution setting: any value gives the same numbers).
    pub query_chunk: usize,
}

impl StormMethod {
    /// Checks the config.
    pub fn new(model: Storm, config: StormConfig, device: Device, label: impl Into<String>) -> Result<Self> {
        config.validate()?;
        Ok(Self { model, config, device, label: label.into(), query_chunk: DEFAULT_QUERY_CHUNK })
    }

    /// The method over every slot and band.
    pub fn into_estimator(self) -> Sliced<Self> {
        Sliced(self)
    }
}

impl StormMethod {
    /// The forward pass of one chunk of queries: `[2Q]`, the standardised means then `ln σ`,
    /// in one tensor so that a GPU reads them back once.
    fn chunk_output(&self, tokens: &QueryTokens) -> Result<Tensor<1>> {
        let out = self.model.forward(&StormBatch::new(tokens, None, &self.device)?);
        Ok(Tensor::cat(vec![out.mean, out.log_std], 0))
    }

    /// The slice's frame and its queries' tokens (the baseline fitted once for all), in
    /// chunks of `query_chunk`.
    fn slice_chunks(&self, samples: &[Sample], queries: &[[f64; 2]]) -> Result<(SliceFrame, Vec<QueryTokens>)> {
        let frame = SliceFrame::of(samples)?;
        let tokens = baseline_tokens(samples, &frame, queries, &self.config)?;
        let step = self.query_chunk.max(1);
        let chunks = (0..queries.len()).step_by(step).map(|s| tokens.range(s..(s + step).min(queries.len()))).collect();
        Ok((frame, chunks))
    }

    /// Appends a chunk's read-back output, in dB, to `mean` and `std`.
    fn restore(frame: &SliceFrame, data: TensorData, mean: &mut Vec<f64>, std: &mut Vec<f64>) -> Result<()> {
        let v = data.try_into_vec::<f32>().map_err(|e| RmeError::invalid("STORM output", format!("{e:?}")))?;
        let (m, l) = v.split_at(v.len() / 2);
        mean.extend(m.iter().map(|&z| frame.restore(z as f64)));
        std.extend(l.iter().map(|&v| (v.clamp(LOG_STD_RANGE.0, LOG_STD_RANGE.1) as f64).exp() * frame.scale));
        Ok(())
    }

    /// [`crate::Estimator::estimate`] reading every chunk's output back asynchronously (what
    /// WebGPU requires), on the same slice tasks as [`Sliced`]: the same numbers.
    pub async fn estimate_async(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate> {
        let mut out = Estimate { mean: vec![f64::NAN; query.len()], std: None };
        for task in slice_tasks(obs, query)? {
            let (frame, chunks) = self.slice_chunks(&task.samples, &task.points)?;
            let (mut mean, mut std) = (Vec::with_capacity(task.points.len()), Vec::with_capacity(task.points.len()));
            for chunk in &chunks {
                let data =
                    self.chunk_output(chunk)?.into_data_async().await.map_err(|e| RmeError::invalid("STORM output", format!("{e:?}")))?;
                Self::restore(&frame, data, &mut mean, &mut std)?;
            }
            task.fill(&mut out, &mean, Some(&std));
        }
        Ok(out)
    }
}

impl SpatialMethod for StormMethod {
    fn name(&self) -> &str {
        &self.label
    }

    fn estimate_slice(&self, _ctx: &SliceContext, samples: &[Sample], queries: &[[f64; 2]]) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
        let (frame, chunks) = self.slice_chunks(samples, queries)?;
        let (mut mean, mut std) = (Vec::with_capacity(queries.len()), Vec::with_capacity(queries.len()));
        for chunk in &chunks {
            Self::restore(&frame, self.chunk_output(chunk)?.into_data(), &mut mean, &mut std)?;
        }
        Ok((mean, Some(std)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::estimator::Estimator;
    use crate::map::{Measurement, Query};

    fn method() -> StormMethod {
        let d = cpu();
        let cfg = StormConfig::tiny();
        StormMethod::new(cfg.init(&d).with_random_heads(&d), cfg, d, "storm").unwrap()
    }

    fn data() -> (MeasurementSet, QuerySet) {
        let pts = (0..30)
            .map(|i| Measurement {
                x_m: (i % 6) as f64 * 5.0,
                y_m: (i / 6) as f64 * 4.0,
                t_s: 0.0,
                freq_hz: 2.4e9,
                value: -50.0 - i as f64,
            })
            .collect();
        let q = (0..50).map(|i| Query { x_m: i as f64 * 0.5, y_m: (i % 7) as f64, t_s: 0.0, freq_hz: 2.4e9 }).collect();
        (MeasurementSet::from_points(pts), QuerySet { points: q })
    }

    #[test]
    fn chunking_changes_nothing_and_sigma_is_positive() {
        let (obs, q) = data();
        let one = method();
        let whole = one.clone().into_estimator().estimate_checked(&obs, &q).unwrap();
        let mut m = one;
        m.query_chunk = 7;
        let chunked = m.into_estimator().estimate(&obs, &q).unwrap();
        for (a, b) in whole.mean.iter().zip(&chunked.mean) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert!(whole.std.unwrap().iter().all(|s| *s > 0.0 && s.is_finite()));
    }

    /// Polls a future to its end (the CPU backend's read-backs are ready at once).
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut f = std::pin::pin!(f);
        loop {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }

    /// The asynchronous path (WebGPU's) gives the numbers of the synchronous one.
    #[test]
    fn asynchronous_estimate_is_the_synchronous_one() {
        let (obs, q) = data();
        let m = method();
        let sync = m.clone().into_estimator().estimate(&obs, &q).unwrap();
        let asynchronous = block_on(m.estimate_async(&obs, &q)).unwrap();
        assert_eq!(sync, asynchronous);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let (mut obs, q) = data();
        obs.points[3].value = f64::NAN;
        assert!(method().into_estimator().estimate(&obs, &q).is_err());
        let empty = MeasurementSet::from_points(vec![]);
        assert!(method().into_estimator().estimate(&empty, &data().1).is_err());
    }
}
