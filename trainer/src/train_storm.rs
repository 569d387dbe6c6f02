//! `rme train storm`: STORM (the point-based peer, `rme_core::models::storm`) trained on
//! static slices of simulated maps: the dynamic presets' (slot, band) slices and, where
//! asked, urban maps (one transmitter, buildings: the shape of a real drone or street survey).
//!
//! Every step draws `batch` slices, each with a random share of its cells measured and
//! `queries` other cells to estimate, from a generator seeded by `(seed, step, slot)` alone,
//! so a resumed run sees the batches it would have seen. AdamW with warm-up and cosine decay,
//! checkpoints and the curve through the shared loop ([`crate::train_loop`]).

use crate::common::progress;
use crate::train_loop::truncate_curve;
use crate::train_loop::{Cadence, Finished, Session, State, device, drive, load_checkpoint, open_run, plot_curve_columns, schedule};
use anyhow::{Context, Result, ensure};
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use rme_core::RadioMap;
use rme_core::metrics::SquaredErrors;
use rme_core::models::storm::weights::{storm_from_bytes, storm_to_bytes};
use rme_core::models::storm::{SliceSampling, Storm, StormConfig, StormExample, storm_loss};
use rme_core::rng::Rng;
use rme_core::sim::dynamic::{DataSplit, sample_seed, split_seed};
use rme_core::sim::urban::{Split, UrbanSimulator};
use rme_core::sim::{DynamicPreset, DynamicSimulator};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything that defines a run; stored in `run.json` and checked on `--resume`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StormRunSpec {
    /// Always "storm" (`rme export` reads the kind from here).
    pub kind: String,
    pub model: StormConfig,
    /// Dynamic presets whose training seeds give slices.
    pub presets: Vec<String>,
    /// Maps simulated per preset.
    pub pool: usize,
    /// Urban maps (one per training city, 64² cells) in the pool; 0: none.
    pub urban_maps: usize,
    pub steps: u64,
    /// Slices per step.
    pub batch: usize,
    /// Queries per slice.
    pub queries: usize,
    /// Largest measurement-noise standard deviation drawn, as a share of the slice's spread.
    pub max_noise_share: f64,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup: u64,
    pub seed: u64,
    pub val_every: u64,
    pub checkpoint_every: u64,
}

impl StormRunSpec {
    fn sampling(&self) -> SliceSampling {
        SliceSampling { visible_ratio: (0.02, 0.5), queries: self.queries, max_visible: MAX_VISIBLE, max_noise_share: self.max_noise_share }
    }
}

pub struct Args {
    pub spec: StormRunSpec,
    pub device: String,
    pub out: PathBuf,
    pub resume: bool,
    pub stop_after: Option<u64>,
}

/// Measurements per training slice at most: real surveys of interest have hundreds, and a
/// kriging baseline's cost grows as the cube of them up to its exact limit.
const MAX_VISIBLE: usize = 1200;

/// Cells per side of the urban training maps.
const URBAN_SIZE: usize = 64;

/// The pool: `pool` maps of each preset (training seeds) and `urban_maps` urban maps of
/// training cities.
pub fn training_pool(spec: &StormRunSpec) -> Result<Vec<RadioMap>> {
    let mut maps = Vec::new();
    let pb = progress((spec.presets.len() * spec.pool + spec.urban_maps) as u64, "simulate");
    for name in &spec.presets {
        let p = DynamicPreset::by_name(name)?;
        let sim = DynamicSimulator::new(p)?;
        for i in 0..spec.pool {
            maps.push(sim.simulate(split_seed(DataSplit::Train, p.name, i as u64))?);
            pb.inc(1);
        }
    }
    if spec.urban_maps > 0 {
        let sim = UrbanSimulator::new(URBAN_SIZE)?;
        for c in 0..spec.urban_maps as u64 {
            maps.push(sim.simulate(&sim.split_city(Split::Train, c)?, 0)?);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    ensure!(!maps.is_empty(), "the training pool is empty: give --presets or --urban-maps");
    Ok(maps)
}

/// The slices of `step` (1-based).
pub fn batch_examples(spec: &StormRunSpec, pool: &[RadioMap], step: u64) -> Vec<StormExample> {
    let sampling = spec.sampling();
    let mut out = Vec::with_capacity(spec.batch);
    for slot in 0..spec.batch {
        let mut rng = Rng::new(sample_seed(spec.seed, step * spec.batch as u64 + slot as u64));
        for _attempt in 0..8 {
            if let Some(e) = StormExample::draw(&pool[rng.below(pool.len())], &sampling, &spec.model, &mut rng) {
                out.push(e);
                break;
            }
        }
    }
    out
}

/// Validation: fixed slices of each preset's first validation map (and of two validation
/// cities' maps when the run trains on urban maps), 10 % measured, no added noise.
pub struct Validation {
    /// The examples and the scale of their frame (to report dB).
    examples: Vec<(StormExample, f64)>,
}

impl Validation {
    pub fn new(spec: &StormRunSpec) -> Result<Self> {
        let mut maps = Vec::new();
        for name in &spec.presets {
            let p = DynamicPreset::by_name(name)?;
            maps.push(DynamicSimulator::new(p)?.simulate(split_seed(DataSplit::Validation, p.name, 0))?);
        }
        if spec.urban_maps > 0 {
            let sim = UrbanSimulator::new(URBAN_SIZE)?;
            for c in 0..2 {
                maps.push(sim.simulate(&sim.split_city(Split::Validation, c)?, 0)?);
            }
        }
        let sampling = SliceSampling { visible_ratio: (0.1, 0.1), queries: 128, max_visible: MAX_VISIBLE, max_noise_share: 0.0 };
        let mut rng = Rng::new(17);
        let mut examples = Vec::new();
        for map in &maps {
            for _ in 0..2 {
                let e = StormExample::draw(map, &sampling, &spec.model, &mut rng).context("a validation slice with too few cells")?;
                let scale = e.scale_db;
                examples.push((e, scale));
            }
        }
        Ok(Self { examples })
    }

    pub fn rmse_db(&self, model: &Storm, device: &Device) -> Result<f64> {
        let model = model.valid();
        let mut errors = SquaredErrors::default();
        for (e, scale) in &self.examples {
            let out = model.forward(&StormExample::batch(std::slice::from_ref(e), device)?);
            let pred: Vec<f32> = out.mean.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            for (p, t) in pred.iter().zip(&e.targets) {
                errors.push(*p as f64 * scale, *t as f64 * scale);
            }
        }
        Ok(errors.rmse())
    }
}

const CURVE_HEADER: &str = "step,loss,mse,lr,val_rmse_db,seconds";

pub fn run(a: &Args) -> Result<()> {
    let spec = &a.spec;
    spec.model.validate()?;
    ensure!(spec.steps > 0 && spec.batch > 0 && spec.queries > 0, "steps, batch and queries must be positive");
    for p in &spec.presets {
        DynamicPreset::by_name(p)?;
    }
    let out = &a.out;
    let _lock = open_run(out, spec, a.resume)?;
    let ckpt = out.join("checkpoint");
    let base = device(&a.device)?;
    let dev = base.clone().autodiff();
    dev.seed(spec.seed);
    let mut optim = AdamWConfig::new().with_weight_decay(spec.weight_decay as f32).init();
    let (model, mut state) = if a.resume && ckpt.exists() {
        let (bytes, restored, state) = load_checkpoint(out, optim, spec.steps)?;
        optim = restored;
        (storm_from_bytes(&bytes, &spec.model, &dev, &ckpt.join("model.bpk").display().to_string())?.train(), state)
    } else {
        (spec.model.init(&dev), State::default())
    };
    let curve = out.join("curve.csv");
    truncate_curve(&curve, CURVE_HEADER, state.step)?;
    let pool = training_pool(spec)?;
    let validation = Validation::new(spec)?;
    if state.step == 0 {
        eprintln!(
            "validation RMSE before training (the baseline alone: kriging, or the inverse-distance mean): {:.2} dB",
            validation.rmse_db(&model, &base)?
        );
    }
    let mut session = StormSession { model: Some(model), optim, spec, pool, validation, device: dev, base };
    let lr = |step: u64| schedule(spec.lr, spec.warmup, spec.steps, step);
    let cadence = Cadence {
        steps: spec.steps,
        val_every: spec.val_every,
        checkpoint_every: spec.checkpoint_every,
        stop_after: a.stop_after,
        lr: &lr,
    };
    drive(&mut session, &cadence, out, &curve, &mut state)?;
    let model = session.model()?;
    if state.step == spec.steps {
        let finished = Finished { state: &state, device: &a.device, seed: spec.seed, params: model.num_params() };
        let extra = serde_json::json!({
            "kind": "storm",
            "trained_on": format!(
                "static slices of the dynamic presets {} ({} maps each, training seeds){}",
                spec.presets.join(","),
                spec.pool,
                if spec.urban_maps > 0 { format!(" and {} urban maps of training cities ({URBAN_SIZE}²)", spec.urban_maps) } else { String::new() }
            ),
        });
        finished.write(out, &storm_to_bytes(&model.valid())?, serde_json::to_value(&spec.model)?, extra)?;
    }
    plot_curve_columns(&curve, &out.join("curve.png"), 4)?;
    eprintln!("step {} of {} in {:.0} s; curve: {}", state.step, spec.steps, state.seconds, curve.display());
    Ok(())
}

/// STORM's part of the shared loop.
struct StormSession<'a> {
    model: Option<Storm>,
    optim: burn::optim::ModuleOptimizer,
    spec: &'a StormRunSpec,
    pool: Vec<RadioMap>,
    validation: Validation,
    device: Device,
    base: Device,
}

impl StormSession<'_> {
    fn model(&self) -> Result<&Storm> {
        self.model.as_ref().context("the model was lost in a failed step")
    }
}

impl Session for StormSession<'_> {
    fn step(&mut self, step: u64, lr: f64) -> Result<(f64, String)> {
        let model = self.model.take().context("the model was lost in a failed step")?;
        let examples = batch_examples(self.spec, &self.pool, step);
        let batch = StormExample::batch(&examples, &self.device)?;
        let targets = batch.targets.clone().context("training batch without targets")?;
        let (loss, mse) = storm_loss(&model.forward(&batch), targets);
        let value = loss.clone().into_scalar::<f32>() as f64;
        ensure!(value.is_finite(), "loss is {value} at step {step}: lower --lr");
        let mse = mse.into_scalar::<f32>() as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.model = Some(self.optim.step(lr, model, grads));
        Ok((value, format!(",{mse:.6}")))
    }

    fn validate(&self) -> Result<f64> {
        self.validation.rmse_db(self.model()?, &self.base)
    }

    fn model_bytes(&self) -> Result<Vec<u8>> {
        Ok(storm_to_bytes(&self.model()?.valid())?)
    }

    fn optimizer(&self) -> &burn::optim::ModuleOptimizer {
        &self.optim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_spec(steps: u64) -> StormRunSpec {
        StormRunSpec {
            kind: "storm".into(),
            model: StormConfig::tiny(),
            presets: vec!["D1".into()],
            pool: 1,
            urban_maps: 0,
            steps,
            batch: 2,
            queries: 8,
            max_noise_share: 0.5,
            lr: 3e-3,
            weight_decay: 0.0,
            warmup: 1,
            seed: 3,
            val_every: 1000,
            checkpoint_every: 1000,
        }
    }

    #[test]
    fn same_step_same_batch_and_steps_differ() {
        let spec = tiny_spec(10);
        let pool = training_pool(&spec).unwrap();
        let (a, b, c) = (batch_examples(&spec, &pool, 4), batch_examples(&spec, &pool, 4), batch_examples(&spec, &pool, 5));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 2);
    }

    /// A few steps on one fixed batch lower its loss: the gradient reaches the heads.
    #[test]
    fn tiny_model_fits_a_fixed_batch() {
        let spec = tiny_spec(40);
        let pool = training_pool(&spec).unwrap();
        let dev = rme_core::backend::cpu().autodiff();
        let examples = batch_examples(&spec, &pool, 1);
        let batch = StormExample::batch(&examples, &dev).unwrap();
        let targets = batch.targets.clone().unwrap();
        let mut model = spec.model.init(&dev);
        let mut optim = AdamWConfig::new().init();
        let first = storm_loss(&model.forward(&batch), targets.clone()).1.into_scalar::<f32>();
        for _ in 0..40 {
            let (loss, _) = storm_loss(&model.forward(&batch), targets.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(3e-3, model, grads);
        }
        let last = storm_loss(&model.forward(&batch), targets).1.into_scalar::<f32>();
        assert!(last < 0.7 * first, "MSE {first} → {last}");
    }
}
