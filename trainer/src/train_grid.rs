//! `rme train autoencoder|radiounet|radiodun`: fits a learned grid model on urban maps of the
//! simulator's training cities.
//!
//! Data: a pool of maps (`--cities` training cities × `--maps-per-city` transmitters)
//! simulated once. Every step draws, for each batch slot, a map, a sampling scheme (half the
//! time 9–100 random samples as in RadioDUN, otherwise 0.5–12 % of the street cells as in
//! PI-DRME, one time in ten PI-DRME's uniform 12.5 % lattice) and whether the transmitter is
//! known (`--tx-known-share`), and, with `--deep-shadow-slope`, for half the examples a
//! deep-shadow variation drawn into the map (samples and target alike; see
//! [`DeepShadowVariation`]), from a generator seeded by `(seed, step, slot)` alone — so a
//! resumed run sees exactly the batches it would have seen. Loss: the model's masked MSE on
//! normalised path gain over outdoor cells. AdamW with warm-up and cosine decay; checkpoints
//! and `--resume` as for FM-RME (the same helpers). Validation: RMSE in dB on fixed maps of
//! validation cities (9 samples, transmitter known and unknown).

use crate::common::progress;
use crate::train_loop::{Cadence, Finished, Session, drive, load_checkpoint, open_run};
use crate::train_loop::{State, device, plot_curve_columns, schedule, truncate_curve};
use anyhow::{Context, Result, ensure};
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use rme_core::RadioMap;
use rme_core::metrics::SquaredErrors;
use rme_core::models::grid::{GridBatch, GridExample, GridNetwork, GridTargets, denormalise_db};
use rme_core::models::grid_nets::GridNetConfig;
use rme_core::models::weights::{module_from_bytes, module_to_bytes};
use rme_core::rng::Rng;
use rme_core::sim::dynamic::sample_seed;
use rme_core::sim::urban::{DeepShadowVariation, Sampling, Split, UrbanPropagation, UrbanSimulator, strong_level_db};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything that defines a grid run; stored in `run.json` and checked on `--resume`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridRunSpec {
    /// "autoencoder", "radiounet" or "radiodun".
    pub kind: String,
    /// The architecture (the kind's `#[derive(Config)]` JSON).
    pub model: serde_json::Value,
    /// Cells per side of the maps.
    pub size: usize,
    /// Training cities in the pool.
    pub cities: usize,
    /// Transmitters per city in the pool.
    pub maps_per_city: usize,
    /// Share of examples that give the model the transmitter's position.
    pub tx_known_share: f64,
    pub steps: u64,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup: u64,
    pub seed: u64,
    pub val_every: u64,
    pub checkpoint_every: u64,
    /// Weights folder (`static/models/NAME`) the run starts from instead of a random
    /// initialisation (fine-tuning, or more training of a shipped model); same kind and config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    /// Train on these maps of a map set (`maps/<id>` of its index, `size`² only) instead of
    /// simulated cities: fine-tuning on another simulator's maps. `cities` and
    /// `maps_per_city` are then unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapset: Option<MapSubset>,
    /// Largest slope (dB of σ per dB below the knee) of the deep-shadow variation drawn
    /// into half the examples ([`DeepShadowVariation`]); 0: none (runs before it had none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deep_shadow_slope: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// Some maps of a map set, by id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapSubset {
    pub dir: PathBuf,
    pub ids: Vec<String>,
}

impl GridRunSpec {
    fn config(&self) -> Result<GridNetConfig> {
        Ok(GridNetConfig::from_json(&self.kind, &self.model, "run.json")?)
    }
}

/// The preset `preset` of `kind` with `KEY=VALUE` overrides (JSON values) of its fields,
/// checked like a config read from a file.
pub fn with_overrides(kind: &str, preset: &str, overrides: &[String]) -> Result<GridNetConfig> {
    let mut json = GridNetConfig::preset(kind, preset)?.to_json();
    for o in overrides {
        let (key, value) = o.split_once('=').with_context(|| format!("--set {o}: expected KEY=VALUE"))?;
        let fields = json.as_object_mut().context("a grid model's config is a JSON object")?;
        ensure!(
            fields.contains_key(key),
            "--set {o}: {kind} has no field '{key}' (it has {})",
            fields.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        let value: serde_json::Value = serde_json::from_str(value).with_context(|| format!("--set {o}: '{value}' is not a JSON value"))?;
        fields.insert(key.to_string(), value);
    }
    Ok(GridNetConfig::from_json(kind, &json, "--set")?)
}

pub struct Args {
    pub spec: GridRunSpec,
    pub device: String,
    pub out: PathBuf,
    pub resume: bool,
    /// Stop after this step (for tests of resume); the run stays resumable.
    pub stop_after: Option<u64>,
}

/// Curve columns.
const CURVE_HEADER: &str = "step,loss,lr,val_rmse_db,seconds";

/// The training pool: every map of the first `cities` training cities, or the chosen maps
/// of a map set.
pub fn training_pool(spec: &GridRunSpec) -> Result<Vec<RadioMap>> {
    if let Some(subset) = &spec.mapset {
        let all = crate::common::load_mapset(&subset.dir, None)?;
        let mut maps = Vec::with_capacity(subset.ids.len());
        for id in &subset.ids {
            let map = all.iter().find(|m| &m.id == id).with_context(|| format!("{} has no map '{id}'", subset.dir.display()))?;
            ensure!(
                map.grid.rows == spec.size && map.grid.cols == spec.size,
                "map '{id}' is {}x{}, the run trains at {}²",
                map.grid.rows,
                map.grid.cols,
                spec.size
            );
            maps.push(map.clone());
        }
        ensure!(!maps.is_empty(), "no maps chosen from {}", subset.dir.display());
        return Ok(maps);
    }
    let sim = UrbanSimulator::new(spec.size)?;
    let pb = progress((spec.cities * spec.maps_per_city) as u64, "simulate");
    let mut maps = Vec::with_capacity(spec.cities * spec.maps_per_city);
    for c in 0..spec.cities as u64 {
        let city = sim.split_city(Split::Train, c)?;
        for k in 0..spec.maps_per_city as u64 {
            maps.push(sim.simulate(&city, k)?);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(maps)
}

/// The sampling scheme of one training example.
pub fn random_sampling(rng: &mut Rng) -> Sampling {
    let u = rng.uniform();
    if u < 0.1 {
        Sampling::Uniform(0.125)
    } else if u < 0.55 {
        Sampling::Count(9 + rng.below(92))
    } else {
        Sampling::Fraction(rng.range(0.005, 0.12))
    }
}

/// The examples of `step` (1-based).
pub fn batch_examples(spec: &GridRunSpec, pool: &[RadioMap], step: u64) -> Result<Vec<GridExample>> {
    let mut out = Vec::with_capacity(spec.batch);
    for slot in 0..spec.batch {
        let mut rng = Rng::new(sample_seed(spec.seed, step * spec.batch as u64 + slot as u64));
        let map = &pool[rng.below(pool.len())];
        let sampling = random_sampling(&mut rng);
        let cells = sampling.cells(map.grid.rows, map.grid.cols, &map.cells_without_truth(), &mut rng)?;
        let known = rng.bernoulli(spec.tx_known_share);
        // Drawn after everything else, and only when asked for: runs without it see the
        // batches they always saw.
        let varied;
        let map = if spec.deep_shadow_slope > 0.0 && rng.bernoulli(0.5) {
            let strong = strong_level_db(&map.values, |i| map.is_valid_voxel(i)).context("a training map without a finite outdoor cell")?;
            let law = DeepShadowVariation::draw(spec.deep_shadow_slope, strong, &mut rng)?;
            let mut copy = map.clone();
            law.apply(&mut copy.values, UrbanPropagation::default().floor_db, &mut rng);
            varied = copy;
            &varied
        } else {
            map
        };
        out.push(GridExample::from_map(map, &cells, known)?);
    }
    Ok(out)
}

/// Validation: fixed maps of the first validation cities, 9 samples, each with the
/// transmitter known and unknown.
pub struct Validation {
    examples: Vec<GridExample>,
}

impl Validation {
    pub fn new(size: usize) -> Result<Self> {
        let sim = UrbanSimulator::new(size)?;
        let mut examples = Vec::new();
        let mut rng = Rng::new(99);
        for c in 0..4 {
            let city = sim.split_city(Split::Validation, c)?;
            for k in 0..2 {
                let map = sim.simulate(&city, k)?;
                let cells = Sampling::Count(9).cells(map.grid.rows, map.grid.cols, map.buildings.as_deref().unwrap_or(&[]), &mut rng)?;
                examples.push(GridExample::from_map(&map, &cells, true)?);
                examples.push(GridExample::from_map(&map, &cells, false)?);
            }
        }
        Ok(Self { examples })
    }

    /// RMSE in dB over the outdoor cells of every validation example.
    pub fn rmse_db<N: GridNetwork + Module>(&self, net: &N, device: &Device) -> Result<f64> {
        let net = net.valid();
        let mut errors = SquaredErrors::default();
        for chunk in self.examples.chunks(4) {
            let inputs: Vec<_> = chunk.iter().map(|e| &e.inputs).collect();
            let out = net.forward(&GridBatch::new(&inputs, device)?);
            let pred: Vec<f32> = out.into_data().try_to_vec::<f32>().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let n = chunk[0].target.len();
            for (k, e) in chunk.iter().enumerate() {
                for i in 0..n {
                    if e.valid[i] > 0.0 {
                        errors.push(denormalise_db(pred[k * n + i] as f64), denormalise_db(e.target[i] as f64));
                    }
                }
            }
        }
        Ok(errors.rmse())
    }
}

pub fn run(a: &Args) -> Result<()> {
    match a.spec.config()? {
        GridNetConfig::Autoencoder(c) => run_with(a, |d| c.init(d)),
        GridNetConfig::RadioUnet(c) => run_with(a, |d| c.init(d)),
        GridNetConfig::RadioDun(c) => run_with(a, |d| c.init(d)),
    }
}

fn run_with<N: GridNetwork + Module>(a: &Args, init: impl Fn(&Device) -> N) -> Result<()> {
    let spec = &a.spec;
    ensure!(spec.steps > 0 && spec.batch > 0, "steps and batch must be positive");
    ensure!(spec.mapset.is_some() || (spec.cities > 0 && spec.maps_per_city > 0), "cities and maps per city must be positive");
    ensure!((0.0..=1.0).contains(&spec.tx_known_share), "--tx-known-share must be in [0, 1]");
    let out = &a.out;
    let _lock = open_run(out, spec, a.resume)?;
    let ckpt = out.join("checkpoint");
    let base = device(&a.device)?;
    let dev = base.clone().autodiff();
    // The initial weights come from the run's seed too: the same command, the same run.
    dev.seed(spec.seed);
    let mut optim = AdamWConfig::new().with_weight_decay(spec.weight_decay as f32).init();
    let (net, mut state) = if a.resume && ckpt.exists() {
        let (bytes, restored, state) = load_checkpoint(out, optim, spec.steps)?;
        optim = restored;
        (module_from_bytes(init(&dev), &bytes, &ckpt.join("model.bpk").display().to_string())?.train(), state)
    } else if let Some(dir) = &spec.init {
        let manifest: rme_core::models::weights::Manifest = serde_json::from_slice(
            &std::fs::read(dir.join("manifest.json")).with_context(|| format!("--init: reading {}/manifest.json", dir.display()))?,
        )?;
        ensure!(
            manifest.kind == spec.kind && manifest.config == spec.model,
            "--init {}: a {} with config {}, this run trains a {} with config {}",
            dir.display(),
            manifest.kind,
            manifest.config,
            spec.kind,
            spec.model
        );
        // The shipped file's sha256 is checked by the loader the estimators use.
        crate::common::load_grid_weights(dir)?;
        let path = dir.join("model.bpk");
        let net = module_from_bytes(init(&dev), &std::fs::read(&path)?, &path.display().to_string())?.train();
        eprintln!("starting from the weights in {} ({} steps already)", dir.display(), manifest.steps);
        (net, State::default())
    } else {
        (init(&dev), State::default())
    };
    net.check_grid(spec.size, spec.size)?;
    let curve = out.join("curve.csv");
    truncate_curve(&curve, CURVE_HEADER, state.step)?;
    let pool = training_pool(spec)?;
    let validation = Validation::new(spec.size)?;
    let mut session = GridSession { net: Some(net), optim, spec, pool, validation, device: dev, base };
    let lr = |step: u64| schedule(spec.lr, spec.warmup, spec.steps, step);
    let cadence = Cadence {
        steps: spec.steps,
        val_every: spec.val_every,
        checkpoint_every: spec.checkpoint_every,
        stop_after: a.stop_after,
        lr: &lr,
    };
    drive(&mut session, &cadence, out, &curve, &mut state)?;
    let net = session.net()?;
    if state.step == spec.steps {
        let finished = Finished { state: &state, device: &a.device, seed: spec.seed, params: net.num_params() };
        let extra = serde_json::json!({
            "kind": spec.kind,
            "trained_on": match &spec.mapset {
                Some(m) => format!("{} maps of {} ({}), {}² cells", m.ids.len(), m.dir.display(), m.ids.join(", "), spec.size),
                None => format!("urban simulator, {} training cities × {} transmitters, {}² cells", spec.cities, spec.maps_per_city, spec.size),
            },
        });
        finished.write(out, &module_to_bytes(&net.valid())?, spec.model.clone(), extra)?;
    }
    plot_curve_columns(&curve, &out.join("curve.png"), 3)?;
    eprintln!("step {} of {} in {:.0} s; curve: {}", state.step, spec.steps, state.seconds, curve.display());
    Ok(())
}

/// A grid model's part of the shared loop.
struct GridSession<'a, N> {
    /// Moved through each step (burn's optimizer takes and returns the module).
    net: Option<N>,
    optim: burn::optim::ModuleOptimizer,
    spec: &'a GridRunSpec,
    pool: Vec<RadioMap>,
    validation: Validation,
    /// The autodiff device the model trains on, and the plain one it validates on.
    device: Device,
    base: Device,
}

impl<N: GridNetwork + Module> GridSession<'_, N> {
    fn net(&self) -> Result<&N> {
        self.net.as_ref().context("the model was lost in a failed step")
    }
}

impl<N: GridNetwork + Module> Session for GridSession<'_, N> {
    fn step(&mut self, step: u64, lr: f64) -> Result<(f64, String)> {
        let net = self.net.take().context("the model was lost in a failed step")?;
        let examples = batch_examples(self.spec, &self.pool, step)?;
        let refs: Vec<&GridExample> = examples.iter().collect();
        let inputs: Vec<_> = examples.iter().map(|e| &e.inputs).collect();
        let loss = net.loss(&GridBatch::new(&inputs, &self.device)?, &GridTargets::new(&refs, &self.device)?);
        let value = loss.clone().into_scalar::<f32>() as f64;
        ensure!(value.is_finite(), "loss is {value} at step {step}: lower --lr");
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        self.net = Some(self.optim.step(lr, net, grads));
        Ok((value, String::new()))
    }

    fn validate(&self) -> Result<f64> {
        self.validation.rmse_db(self.net()?, &self.base)
    }

    fn model_bytes(&self) -> Result<Vec<u8>> {
        Ok(module_to_bytes(&self.net()?.valid())?)
    }

    fn optimizer(&self) -> &burn::optim::ModuleOptimizer {
        &self.optim
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rme_core::models::autoencoder::AutoencoderConfig;

    fn tiny(steps: u64) -> GridRunSpec {
        GridRunSpec {
            kind: "autoencoder".into(),
            model: serde_json::to_value(AutoencoderConfig::new().with_channels(vec![4, 8]).with_latent_channels(8)).unwrap(),
            size: 32,
            cities: 2,
            maps_per_city: 2,
            tx_known_share: 0.5,
            steps,
            batch: 2,
            lr: 3e-3,
            weight_decay: 0.0,
            warmup: 2,
            seed: 1,
            val_every: 1000,
            checkpoint_every: 1000,
            init: None,
            mapset: None,
            deep_shadow_slope: 0.0,
        }
    }

    #[test]
    fn same_step_same_batch_and_other_steps_differ() {
        let s = tiny(10);
        let pool = training_pool(&s).unwrap();
        let a = batch_examples(&s, &pool, 3).unwrap();
        assert_eq!(a, batch_examples(&s, &pool, 3).unwrap());
        assert_ne!(a, batch_examples(&s, &pool, 4).unwrap());
    }

    #[test]
    fn deep_shadow_variation_changes_some_maps_and_keeps_the_rest() {
        // With it, over a few steps some targets change (the varied half) and the others are
        // the batches a run without it sees, sample cells and transmitter setting included.
        let plain = GridRunSpec { batch: 4, ..tiny(10) };
        let varied = GridRunSpec { deep_shadow_slope: 0.5, ..plain.clone() };
        let pool = training_pool(&plain).unwrap();
        let (mut same, mut changed) = (0, 0);
        for step in 1..=4 {
            for (p, v) in batch_examples(&plain, &pool, step).unwrap().iter().zip(batch_examples(&varied, &pool, step).unwrap()) {
                assert_eq!((&p.inputs.mask, p.inputs.tx_known, &p.valid), (&v.inputs.mask, v.inputs.tx_known, &v.valid));
                if p.target == v.target { same += 1 } else { changed += 1 }
            }
        }
        assert!(same > 0 && changed > 0, "{same} unchanged, {changed} varied");
    }

    #[test]
    fn overrides_change_one_field_and_unknown_ones_are_named() {
        let cfg = with_overrides("radiodun", "small", &["blocks=2".into(), "reweighting=false".into()]).unwrap();
        match cfg {
            GridNetConfig::RadioDun(c) => assert!(c.blocks == 2 && !c.reweighting && c.feature_channels == 8),
            other => panic!("{other:?}"),
        }
        let e = with_overrides("radiodun", "small", &["depth=2".into()]).unwrap_err().to_string();
        assert!(e.contains("no field 'depth'") && e.contains("blocks"), "{e}");
        assert!(with_overrides("radiodun", "small", &["blocks=0".into()]).is_err());
        assert!(with_overrides("radiodun", "small", &["blocks".into()]).unwrap_err().to_string().contains("KEY=VALUE"));
    }

    #[test]
    fn radiodun_learns_its_steps_and_thresholds() {
        // The authors' code never trains β and ε; here three training steps move them all.
        use rme_core::models::radiodun::{RadioDun, RadioDunConfig};
        let cfg = RadioDunConfig::new().with_blocks(2).with_feature_channels(4).with_proximal_channels(vec![4, 8]);
        let mut spec = tiny(3);
        spec.kind = "radiodun".into();
        spec.model = serde_json::to_value(&cfg).unwrap();
        spec.lr = 1e-2;
        let out = std::env::temp_dir().join(format!("rme-radiodun-steps-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        run(&Args { spec, device: "cpu".into(), out: out.clone(), resume: false, stop_after: None }).unwrap();
        let d = rme_core::backend::cpu();
        d.seed(1);
        let before = cfg.init(&d).steps();
        let trained: RadioDun = module_from_bytes(cfg.init(&d), &std::fs::read(out.join("model.bpk")).unwrap(), "model.bpk").unwrap();
        for ((b0, e0), (b1, e1)) in before.iter().zip(trained.steps()) {
            assert!(b0.iter().zip(&b1).all(|(x, y)| (x - y).abs() > 1e-4), "β {b0:?} → {b1:?}");
            assert!((e0 - e1).abs() > 1e-5, "ε {e0} → {e1}");
        }
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn bad_model_config_is_named() {
        let mut s = tiny(1);
        s.model = serde_json::json!({"channels": []});
        let e = s.config().unwrap_err().to_string();
        assert!(e.contains("run.json"), "{e}");
    }
}
