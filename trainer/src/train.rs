//! `rme train fm-rme`: masked pre-training of FM-RME on simulated data (fm-rme.txt §III-A).
//!
//! Data: a pool of training samples per preset, simulated once from the training seeds
//! (validation and test seeds are disjoint, `DataSplit`). Every step draws, for each batch
//! slot, a sample, a masking strategy and its parameters from a generator seeded by
//! `(seed, step, slot)` alone — so a resumed run sees exactly the batches it would have seen.
//! Each batch carries the three strategies (spatial, temporal, spectral) in equal thirds; the
//! loss is the mean of their three masked MSEs on standardised power. AdamW with linear
//! warm-up and cosine decay. Checkpoints (model, optimizer, step) are written atomically;
//! `--resume` continues from the last one and truncates the curve to it, so the curve has no
//! gap and no duplicate.

use crate::common::{load_fm_rme_weights, progress};
use crate::train_loop::{
    Cadence, Finished, Session, State, device, drive, load_checkpoint, open_run, plot_curve_columns, schedule, truncate_curve,
};
use anyhow::{Context, Result, bail, ensure};
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use rme_core::RadioMap;
use rme_core::mask::MaskStrategy;
use rme_core::metrics::SquaredErrors;
use rme_core::models::fm_rme::weights::{fm_rme_from_bytes, fm_rme_to_bytes};
use rme_core::models::fm_rme::{
    ContextConfig, ContextRule, Example, FmRme, FmRmeBatch, FmRmeConfig, NoiseShape, gaussian_nll, masked_mse, relative_masked_mse,
    training_example,
};
use rme_core::rng::Rng;
use rme_core::sim::dynamic::{DataSplit, sample_seed, split_seed};
use rme_core::sim::{DynamicPreset, DynamicSimulator};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything that defines a run; stored in `run.json` and checked on `--resume`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Runs written before a field of the architecture existed read it as its default.
    #[serde(deserialize_with = "stored_model")]
    pub model: FmRmeConfig,
    /// The context rule the examples are drawn with (the estimator uses the same one; the
    /// export writes it into the manifest). Runs written before it was split from `model`
    /// held it there.
    #[serde(default = "ContextConfig::new", deserialize_with = "stored_context")]
    pub context: ContextConfig,
    pub presets: Vec<String>,
    pub steps: u64,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Gradient clipping by norm (per parameter tensor); 0 disables it.
    pub grad_clip: f64,
    /// The objective: "relative" (each set's masked MSE over its baseline's, see
    /// `relative_masked_mse`) or "mse" (the plain masked MSE). Runs written before this field
    /// existed used "mse".
    #[serde(default = "plain_mse")]
    pub loss: String,
    pub warmup: u64,
    pub seed: u64,
    pub pool: usize,
    pub max_visible: usize,
    pub max_queries: usize,
    pub val_every: u64,
    pub checkpoint_every: u64,
    /// Start from these shipped weights (their architecture and context rule) instead of a
    /// random initialisation. With the loss "nll" a σ head is added and only it trains.
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// Half the examples get i.i.d. Gaussian noise on their visible readings, of a standard
    /// deviation drawn up to this share of their spread (`Example::add_measurement_noise`),
    /// and with the loss "nll" on their targets too (`Example::add_target_noise`); 0: none
    /// (runs written before this field existed).
    #[serde(default)]
    pub max_noise_share: f64,
    /// Degrees of freedom of that noise's Student's t ([`NoiseShape::from_dof`]); 0 (runs
    /// written before this field existed): Gaussian.
    #[serde(default)]
    pub noise_dof: u32,
    /// Those examples' readings also dip ([`Example::add_fading_dips`]) with a probability
    /// drawn up to this share, their targets moved by the dips' expectation; 0 (runs written
    /// before this field existed): no dips.
    #[serde(default)]
    pub max_dip_share: f64,
}

fn stored_model<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<FmRmeConfig, D::Error> {
    FmRmeConfig::from_stored(&serde_json::Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn stored_context<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<ContextConfig, D::Error> {
    ContextConfig::from_stored(&serde_json::Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn plain_mse() -> String {
    "mse".into()
}

impl RunSpec {
    /// The context score the run's examples are selected with.
    pub fn rule(&self) -> ContextRule {
        ContextRule::new(&self.model, &self.context)
    }
}

/// Floor of the baseline's per-set MSE (standardised units) in the relative loss: a set the
/// baseline already fits to within ~0.1 σ is not weighted up further.
pub const RELATIVE_LOSS_FLOOR: f32 = 0.01;

pub struct Args {
    pub spec: RunSpec,
    pub device: String,
    pub out: PathBuf,
    pub resume: bool,
    /// Stop after this step (for tests of resume); the run stays resumable.
    pub stop_after: Option<u64>,
}

/// AdamW with the run's weight decay and gradient clipping.
pub fn optimizer(spec: &RunSpec) -> AdamWConfig {
    let clip = (spec.grad_clip > 0.0).then_some(burn::optim::grad_clipping::GradientClippingConfig::Norm(spec.grad_clip as f32));
    AdamWConfig::new().with_weight_decay(spec.weight_decay as f32).with_grad_clipping(clip)
}

/// Learning rate at `step` (1-based): linear warm-up, then cosine decay to 5 % of the peak.
pub fn learning_rate(spec: &RunSpec, step: u64) -> f64 {
    schedule(spec.lr, spec.warmup, spec.steps, step)
}

/// The training pool: `pool` samples of each preset from the training seeds.
pub fn training_pool(spec: &RunSpec) -> Result<Vec<RadioMap>> {
    let mut maps = Vec::new();
    let pb = progress((spec.presets.len() * spec.pool) as u64, "simulate");
    for name in &spec.presets {
        let p = DynamicPreset::by_name(name)?;
        let sim = DynamicSimulator::new(p)?;
        for i in 0..spec.pool {
            maps.push(sim.simulate(split_seed(DataSplit::Train, p.name, i as u64))?);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(maps)
}

/// A random mask of each kind, with parameters drawn from `rng`.
pub fn random_strategy(kind: usize, map: &RadioMap, rng: &mut Rng) -> MaskStrategy {
    let ratio = rng.range(0.02, 0.5);
    let [t, f, _, _] = map.shape();
    match kind {
        1 if t > 1 => MaskStrategy::Temporal { cutoff_slot: 1 + rng.below(t - 1), visible_ratio: ratio },
        2 if f > 1 => MaskStrategy::Spectral { masked_bands: 1 + rng.below(f - 1), visible_ratio: ratio },
        _ => MaskStrategy::Spatial { visible_ratio: ratio },
    }
}

/// The three sub-batches (spatial, temporal, spectral) of `step`.
pub fn batch_examples(spec: &RunSpec, pool: &[RadioMap], step: u64) -> Result<[Vec<Example>; 3]> {
    let mut out: [Vec<_>; 3] = Default::default();
    let rule = spec.rule();
    for slot in 0..spec.batch {
        let kind = slot % 3;
        let mut rng = Rng::new(sample_seed(spec.seed, step * spec.batch as u64 + slot as u64));
        for _attempt in 0..8 {
            let map = &pool[rng.below(pool.len())];
            let strategy = random_strategy(kind, map, &mut rng);
            let split = strategy.split(map, rng.next_u64())?;
            let budget = (spec.max_visible / 4) + rng.below(spec.max_visible - spec.max_visible / 4 + 1);
            if let Some(mut e) = training_example(map, &split, &mut rng, budget.max(8), spec.max_queries, &rule) {
                // Drawn only when asked, so that runs without noise see the batches they always did.
                if (spec.max_noise_share > 0.0 || spec.max_dip_share > 0.0) && rng.bernoulli(0.5) {
                    let share = rng.range(0.0, spec.max_noise_share);
                    let sd = e.add_measurement_noise(share, NoiseShape::from_dof(spec.noise_dof), &mut rng);
                    // The σ head learns the error against a new reading (noise included);
                    // the mean learns the clean field.
                    if spec.loss == "nll" {
                        e.add_target_noise(sd, &mut rng);
                    }
                    if spec.max_dip_share > 0.0 {
                        let dips = rng.range(0.0, spec.max_dip_share);
                        e.add_fading_dips(dips, &mut rng);
                    }
                }
                as_used(spec, &mut e)?;
                out[kind].push(e);
                break;
            }
        }
    }
    Ok(out)
}

/// Trained as used: an example's kriging candidate from its readings as drawn (noise
/// included), then, where the estimator denoises its readings, the same denoiser over them
/// (noisy or clean).
fn as_used(spec: &RunSpec, e: &mut Example) -> Result<()> {
    e.derive_kriging_candidate(&spec.model);
    if spec.context.denoise {
        e.denoise_visible()?;
    }
    Ok(())
}

/// One optimisation target: the mean of the per-strategy masked (relative) MSEs; also each
/// strategy's value.
pub fn loss(model: &FmRme, spec: &RunSpec, subs: &[Vec<Example>; 3], device: &Device) -> Result<(burn::tensor::Tensor<1>, [f64; 3])> {
    let mut total: Option<burn::tensor::Tensor<1>> = None;
    let mut parts = [f64::NAN; 3];
    let mut n = 0.0;
    for (k, ex) in subs.iter().enumerate() {
        if ex.is_empty() {
            continue;
        }
        let batch = FmRmeBatch::new(ex, &spec.model, &spec.rule(), device)?;
        let l = match spec.loss.as_str() {
            "nll" => {
                let out = model.forward_with_std(&batch);
                let log_std = out.log_std.context("the loss nll needs a σ head (train it with --init WEIGHTS)")?;
                gaussian_nll(out.mean, log_std, batch.targets.clone(), batch.query_pad.clone())
            }
            "mse" => masked_mse(model.forward(&batch), batch.targets.clone(), batch.query_pad.clone()),
            "relative" => {
                let prediction = model.forward(&batch);
                relative_masked_mse(prediction, batch.baseline.clone(), batch.targets.clone(), batch.query_pad.clone(), RELATIVE_LOSS_FLOOR)
            }
            other => bail!("unknown loss '{other}' (relative, mse, nll)"),
        };
        parts[k] = l.clone().into_scalar::<f32>() as f64;
        total = Some(match total {
            Some(t) => t + l,
            None => l,
        });
        n += 1.0;
    }
    let total = total.context("empty batch")?;
    Ok((total / n, parts))
}

/// One optimisation step on the batch of `step` (1-based): forward, loss, backward, AdamW
/// at learning rate `lr`. Returns the updated model, the loss and its per-strategy parts.
/// `rme train` and `rme bench` both step through here.
pub fn train_step(
    model: FmRme,
    optim: &mut burn::optim::ModuleOptimizer,
    spec: &RunSpec,
    pool: &[RadioMap],
    step: u64,
    lr: f64,
    device: &Device,
) -> Result<(FmRme, f64, [f64; 3])> {
    let subs = batch_examples(spec, pool, step)?;
    let (l, parts) = loss(&model, spec, &subs, device)?;
    let value = l.clone().into_scalar::<f32>() as f64;
    ensure!(value.is_finite(), "loss is {value} at step {step}: lower --lr");
    let grads = GradientsParams::from_grads(l.backward(), &model);
    Ok((optim.step(lr, model, grads), value, parts))
}

/// Validation: RMSE in dB on fixed examples of each preset's validation seeds (spatial 10 %).
pub struct Validation {
    examples: Vec<Example>,
}

impl Validation {
    pub fn new(spec: &RunSpec) -> Result<Self> {
        let mut examples = Vec::new();
        for name in &spec.presets {
            let p = DynamicPreset::by_name(name)?;
            let map = DynamicSimulator::new(p)?.simulate(split_seed(DataSplit::Validation, p.name, 0))?;
            let split = MaskStrategy::Spatial { visible_ratio: 0.1 }.split(&map, 1)?;
            let mut rng = Rng::new(17);
            for _ in 0..2 {
                if let Some(mut e) = training_example(&map, &split, &mut rng, spec.max_visible, 256, &spec.rule()) {
                    as_used(spec, &mut e)?;
                    examples.push(e);
                }
            }
        }
        Ok(Self { examples })
    }

    pub fn rmse_db(&self, model: &FmRme, spec: &RunSpec, device: &Device) -> Result<f64> {
        let model = model.valid();
        let mut errors = SquaredErrors::default();
        for e in &self.examples {
            let batch = FmRmeBatch::new(std::slice::from_ref(e), &spec.model, &spec.rule(), device)?;
            let (mean, std) = batch.scales[0];
            let pred: Vec<f32> = model.forward(&batch).into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            for (p, t) in pred.iter().zip(&e.targets) {
                errors.push(*p as f64 * std + mean, *t);
            }
        }
        Ok(errors.rmse())
    }
}

const CURVE_HEADER: &str = "step,loss,loss_spatial,loss_temporal,loss_spectral,lr,val_rmse_db,seconds";

pub fn run(a: &Args) -> Result<()> {
    let spec = &a.spec;
    spec.model.validate()?;
    spec.context.validate()?;
    ensure!(spec.batch >= 3, "--batch must be at least 3 (a third per masking strategy)");
    ensure!(
        spec.steps > 0 && spec.pool > 0 && spec.max_visible >= 8 && spec.max_queries > 0,
        "steps, pool, max-visible (≥ 8) and max-queries must be positive"
    );
    ensure!(!spec.presets.is_empty(), "--presets is empty: give at least one of D1 … D7");
    for p in &spec.presets {
        DynamicPreset::by_name(p)?;
    }
    ensure!(
        spec.loss != "nll" || (spec.init.is_some() && spec.model.std_head),
        "the loss nll trains a σ head on trained weights: give --init WEIGHTS"
    );
    let out = &a.out;
    let _lock = open_run(out, spec, a.resume)?;
    let ckpt = out.join("checkpoint");
    let base = device(&a.device)?;
    let dev = base.clone().autodiff();
    // The initial weights come from the run's seed too: the same command, the same run.
    dev.seed(spec.seed);
    let mut optim = optimizer(spec).init();
    let std_only = spec.loss == "nll";
    let (model, mut state) = if a.resume && ckpt.exists() {
        let (bytes, restored, state) = load_checkpoint(out, optim, spec.steps)?;
        optim = restored;
        let model = fm_rme_from_bytes(&bytes, &spec.model, &dev, &ckpt.join("model.bpk").display().to_string())?.train();
        // A checkpoint does not record what was frozen.
        (if std_only { model.frozen_but_std_head() } else { model }, state)
    } else if let Some(init) = &spec.init {
        let shipped = load_fm_rme_weights(init)?;
        let mean_config =
            spec.model.clone().with_std_head(shipped.config.std_head).with_kriging_candidate(shipped.config.kriging_candidate);
        let name = init.join("model.bpk").display().to_string();
        let model = fm_rme_from_bytes(&fm_rme_to_bytes(&shipped.model)?, &mean_config, &dev, &name)?;
        let model =
            if spec.model.kriging_candidate && !shipped.config.kriging_candidate { model.with_kriging_candidate(&dev) } else { model };
        (if std_only { model.with_std_head(&dev) } else { model }, State::default())
    } else {
        (spec.model.init(&dev), State::default())
    };
    let curve = out.join("curve.csv");
    truncate_curve(&curve, CURVE_HEADER, state.step)?;
    let pool = training_pool(spec)?;
    let validation = Validation::new(spec)?;
    if state.step == 0 {
        // The untrained model returns its interpolation baseline: the line to beat.
        eprintln!("validation RMSE before training (the baseline): {:.2} dB", validation.rmse_db(&model, spec, &base)?);
    }
    let mut session = FmSession { model: Some(model), optim, spec, pool, validation, device: dev, base };
    let lr = |step: u64| learning_rate(spec, step);
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
        finished.write(out, &fm_rme_to_bytes(&model.valid())?, serde_json::to_value(&spec.model)?, serde_json::json!({}))?;
    }
    plot_curve(&curve, &out.join("curve.png"))?;
    eprintln!("step {} of {} in {:.0} s; curve: {}", state.step, spec.steps, state.seconds, curve.display());
    Ok(())
}

/// FM-RME's part of the shared loop.
struct FmSession<'a> {
    /// Moved through each step (burn's optimizer takes and returns the module).
    model: Option<FmRme>,
    optim: burn::optim::ModuleOptimizer,
    spec: &'a RunSpec,
    pool: Vec<RadioMap>,
    validation: Validation,
    /// The autodiff device the model trains on, and the plain one it validates on.
    device: Device,
    base: Device,
}

impl FmSession<'_> {
    fn model(&self) -> Result<&FmRme> {
        self.model.as_ref().context("the model was lost in a failed step")
    }
}

impl Session for FmSession<'_> {
    fn step(&mut self, step: u64, lr: f64) -> Result<(f64, String)> {
        let model = self.model.take().context("the model was lost in a failed step")?;
        let (next, loss, parts) = train_step(model, &mut self.optim, self.spec, &self.pool, step, lr, &self.device)?;
        self.model = Some(next);
        Ok((loss, format!(",{:.6},{:.6},{:.6}", parts[0], parts[1], parts[2])))
    }

    fn validate(&self) -> Result<f64> {
        self.validation.rmse_db(self.model()?, self.spec, &self.base)
    }

    fn model_bytes(&self) -> Result<Vec<u8>> {
        Ok(fm_rme_to_bytes(&self.model()?.valid())?)
    }

    fn optimizer(&self) -> &burn::optim::ModuleOptimizer {
        &self.optim
    }
}

/// `curve.png`: training loss (log scale) above validation RMSE (dB).
pub fn plot_curve(csv: &Path, png: &Path) -> Result<()> {
    plot_curve_columns(csv, png, 6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rme_core::models::fm_rme::kriging_at;

    fn tiny_spec(steps: u64) -> RunSpec {
        RunSpec {
            model: FmRmeConfig::tiny(),
            context: ContextConfig::new().with_max_visible(32),
            presets: vec!["D1".into()],
            steps,
            batch: 3,
            lr: 3e-3,
            weight_decay: 0.0,
            grad_clip: 0.0,
            loss: "mse".into(),
            warmup: 10,
            seed: 1,
            pool: 1,
            max_visible: 32,
            max_queries: 32,
            val_every: 1000,
            checkpoint_every: 1000,
            init: None,
            max_noise_share: 0.0,
            noise_dof: 0,
            max_dip_share: 0.0,
        }
    }

    #[test]
    fn learning_rate_warms_up_then_decays() {
        let s = tiny_spec(100);
        assert!((learning_rate(&s, 5) - 1.5e-3).abs() < 1e-12);
        assert!((learning_rate(&s, 10) - 3e-3).abs() < 1e-12);
        assert!(learning_rate(&s, 50) < 3e-3 && learning_rate(&s, 100) >= 0.05 * 3e-3 - 1e-12);
    }

    #[test]
    fn same_step_same_batch() {
        let s = tiny_spec(10);
        let pool = training_pool(&s).unwrap();
        let a = batch_examples(&s, &pool, 7).unwrap();
        let b = batch_examples(&s, &pool, 7).unwrap();
        assert_eq!(a[0][0].targets, b[0][0].targets);
        assert_eq!(a.iter().map(|v| v.len()).sum::<usize>(), 3);
    }

    /// With noise, about half the examples read noisy values at the same points (the truths
    /// stay clean), and with the loss "nll" those examples' truths are noisy too; without,
    /// the batches are those of runs that predate the option.
    #[test]
    fn measurement_noise_reaches_the_readings_and_with_nll_the_truths() {
        let clean = RunSpec { batch: 12, ..tiny_spec(10) };
        let noisy = RunSpec { max_noise_share: 1.0, ..clean.clone() };
        let nll = RunSpec { loss: "nll".into(), ..noisy.clone() };
        let pool = training_pool(&clean).unwrap();
        let (mut changed, mut total) = (0, 0);
        for step in 1..=4 {
            let [a, b, c] = [&clean, &noisy, &nll].map(|s| batch_examples(s, &pool, step).unwrap());
            for k in 0..3 {
                for ((a, b), c) in a[k].iter().zip(&b[k]).zip(&c[k]) {
                    total += 1;
                    assert!(a.visible.iter().zip(&b.visible).all(|(x, y)| x[..4] == y[..4]), "the points moved");
                    assert_eq!(a.targets, b.targets, "the mean's truths must stay clean");
                    assert_eq!(b.visible, c.visible);
                    if a.visible != b.visible {
                        changed += 1;
                        assert_ne!(a.targets, c.targets, "nll: a noisy example's truths are readings");
                    } else {
                        assert_eq!(a.targets, c.targets);
                    }
                }
            }
        }
        assert!(total >= 40 && (total / 4..=3 * total / 4).contains(&changed), "{changed} of {total} examples noisy");
    }

    /// Trained as used: with a denoising context each example's readings are what the
    /// estimator's denoiser makes of the readings the same run without it draws (noisy or
    /// clean); queries and truths are untouched.
    #[test]
    fn a_denoising_context_trains_on_denoised_readings() {
        let plain = RunSpec { batch: 6, max_noise_share: 1.0, ..tiny_spec(10) };
        let mut denoising = plain.clone();
        denoising.context = denoising.context.with_denoise(true);
        let pool = training_pool(&plain).unwrap();
        let mut moved = 0;
        for step in 1..=2 {
            let (a, b) = (batch_examples(&plain, &pool, step).unwrap(), batch_examples(&denoising, &pool, step).unwrap());
            for (a, b) in a.iter().flatten().zip(b.iter().flatten()) {
                let mut expected = a.clone();
                expected.denoise_visible().unwrap();
                assert_eq!(b.visible, expected.visible);
                assert_eq!((&b.queries, &b.targets), (&a.queries, &a.targets));
                moved += usize::from(b.visible != a.visible);
            }
        }
        assert!(moved > 0, "no example's readings were denoised");
    }

    /// With a kriging candidate each example carries kriging's answer at its queries from
    /// its readings as drawn (noise included, before any denoising); without, none.
    #[test]
    fn the_kriging_candidate_sees_the_readings_as_measured() {
        let plain = RunSpec { batch: 6, max_noise_share: 1.0, ..tiny_spec(10) };
        let mut with = plain.clone();
        with.model = with.model.with_kriging_candidate(true);
        with.context = with.context.with_denoise(true);
        let pool = training_pool(&plain).unwrap();
        let (a, b) = (batch_examples(&plain, &pool, 1).unwrap(), batch_examples(&with, &pool, 1).unwrap());
        let mut found = 0;
        for (a, b) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!(a.kriging.is_empty());
            let expected = kriging_at(&a.visible, &a.queries);
            assert_eq!(b.kriging.len(), expected.len());
            for (x, y) in b.kriging.iter().zip(&expected) {
                assert!(x == y || (x[0].is_nan() && y[0].is_nan()), "{x:?} vs {y:?}");
            }
            found += b.kriging.iter().filter(|c| c[0].is_finite()).count();
        }
        assert!(found > 0, "no query got a candidate");
    }

    /// A tiny model overfits one fixed batch: the loss falls by 10× within a few hundred steps.
    #[test]
    fn tiny_model_overfits_a_fixed_batch() {
        let s = tiny_spec(500);
        let pool = training_pool(&s).unwrap();
        let subs = batch_examples(&s, &pool, 1).unwrap();
        let dev = Device::flex().autodiff();
        let mut model = s.model.init(&dev);
        let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
        let mut first = None;
        let mut last = f64::NAN;
        for _ in 1..=500u64 {
            let (l, _) = loss(&model, &s, &subs, &dev).unwrap();
            last = l.clone().into_scalar::<f32>() as f64;
            first.get_or_insert(last);
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optim.step(5e-3, model, grads);
            if last < first.unwrap() / 10.0 {
                break;
            }
        }
        let first = first.unwrap();
        assert!(last < first / 10.0, "loss {first:.4} → {last:.4}");
    }
}
