//! The input/output pair a shipped model stores at export (`check.json`): written by
//! `rme export`, replayed on every load so that weights or a manifest changed since are
//! caught, and by the tests.

use anyhow::{Context, Result};
use burn::tensor::Device;
use rme_core::classic::{Sample, SliceContext, SpatialMethod};
use rme_core::models::fm_rme::{ContextConfig, ContextRule, Example, FmRme, FmRmeBatch, FmRmeConfig};
use rme_core::models::grid::{GridExample, GridModel};
use rme_core::models::grid_nets::{LoadedGridModel, check_example};
use rme_core::models::storm::StormMethod;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The stored input/output pair.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    pub visible: Vec<[f64; 5]>,
    pub queries: Vec<[f64; 4]>,
    /// Standardised outputs of `FmRme::forward` on this single example.
    pub expected: Vec<f32>,
}

impl Check {
    /// Replays the stored input through `model`; an error names `dir`'s check.json.
    pub fn verify(&self, model: &FmRme, config: &FmRmeConfig, context: &ContextConfig, device: &Device, dir: &Path) -> Result<()> {
        let mut example = Example { visible: self.visible.clone(), queries: self.queries.clone(), ..Example::default() };
        // A kriging candidate is derived from the stored input, as the estimator derives it.
        example.derive_kriging_candidate(config);
        let batch = FmRmeBatch::new(&[example], config, &ContextRule::new(config, context), device)?;
        let got: Vec<f32> = model.forward(&batch).into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let pairs = self.expected.iter().map(|&e| e as f64).zip(got.iter().map(|&g| g as f64)).enumerate();
        compare_check(dir, self.expected.len(), got.len(), pairs)
    }
}

/// The stored input/output pair of a grid model: a test-city map observed at 9 cells with
/// the transmitter known, and the model's normalised output at every 61st cell.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GridCheck {
    pub size: usize,
    /// Index of the test city and transmitter seed of the map.
    pub city: u64,
    pub tx_seed: u64,
    pub cells: Vec<usize>,
    pub tx_known: bool,
    /// `(cell, output)` pairs.
    pub expected: Vec<(usize, f64)>,
}

impl GridCheck {
    /// Rebuilds the stored example from its seeds and replays it through `model`.
    pub fn verify(&self, model: &LoadedGridModel, dir: &Path) -> Result<()> {
        let (map, cells) = check_example(self.size, self.city, self.tx_seed)?;
        anyhow::ensure!(cells == self.cells, "{}: the stored example's cells are not the simulator's", dir.join("check.json").display());
        let out = model.predict(&GridExample::from_map(&map, &cells, self.tx_known)?.inputs)?;
        let pairs = self.expected.iter().map(|&(i, e)| (i, (e, out.get(i).copied().unwrap_or(f64::NAN))));
        compare_check(dir, self.expected.len(), out.len(), pairs)
    }
}

/// The folder's `check.json` (the input/output pair stored at export), if it has one.
pub fn read_check<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<Option<T>> {
    let path = dir.join("check.json");
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("{}: not a check of this model (damaged?)", path.display()))?))
}

/// How far a reloaded model's output may be from the one stored at export (normalised units;
/// the CPU backend reproduces it to about 1e-6).
const CHECK_TOLERANCE: f64 = 1e-3;

/// Fails when any `(index, (stored, now))` pair differs by more than [`CHECK_TOLERANCE`].
fn compare_check(dir: &Path, stored: usize, now: usize, pairs: impl Iterator<Item = (usize, (f64, f64))>) -> Result<()> {
    let path = dir.join("check.json");
    anyhow::ensure!(stored > 0 && stored <= now, "{}: {stored} stored outputs, the model gives {now}", path.display());
    for (i, (expected, got)) in pairs {
        anyhow::ensure!(
            (expected - got).abs() <= CHECK_TOLERANCE,
            "{}: output {i} is {got:.6} now and was {expected:.6} at export: the weights or their manifest changed since",
            path.display()
        );
    }
    Ok(())
}

/// The stored input/output pair of STORM: a fixed synthetic slice (60 measurements of a
/// smooth field with a transmitter-like peak) and the estimates, dB, at 16 queries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StormCheck {
    pub samples: Vec<[f64; 3]>,
    pub queries: Vec<[f64; 2]>,
    pub expected: Vec<f64>,
}

impl StormCheck {
    /// The fixed slice and `method`'s estimates on it.
    pub fn of(method: &StormMethod) -> Result<Self> {
        let mut rng = rme_core::rng::Rng::new(5);
        let field =
            |x: f64, y: f64| -40.0 - 25.0 * (((x - 30.0).powi(2) + (y - 70.0).powi(2)).sqrt() + 1.0).log10() + 3.0 * (x / 9.0).sin();
        let samples: Vec<[f64; 3]> = (0..60)
            .map(|_| {
                let (x, y) = (rng.range(0.0, 100.0), rng.range(0.0, 100.0));
                [x, y, field(x, y)]
            })
            .collect();
        let queries: Vec<[f64; 2]> = (0..16).map(|i| [6.0 * i as f64 + 2.0, 100.0 - 5.5 * i as f64]).collect();
        let expected = Self::estimate(method, &samples, &queries)?;
        Ok(Self { samples, queries, expected })
    }

    fn estimate(method: &StormMethod, samples: &[[f64; 3]], queries: &[[f64; 2]]) -> Result<Vec<f64>> {
        let s: Vec<Sample> = samples.iter().map(|p| Sample { x: p[0], y: p[1], value: p[2] }).collect();
        let ctx = SliceContext { t_s: 0.0, freq_hz: f64::NAN, tx_m: None };
        Ok(method.estimate_slice(&ctx, &s, queries)?.0)
    }

    /// Replays the stored input through `method`; an error names `dir`'s check.json.
    pub fn verify(&self, method: &StormMethod, dir: &Path) -> Result<()> {
        let got = Self::estimate(method, &self.samples, &self.queries)?;
        let pairs = self.expected.iter().copied().zip(got.iter().copied()).enumerate();
        compare_check(dir, self.expected.len(), got.len(), pairs)
    }
}
