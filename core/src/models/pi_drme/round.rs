//! One client's part of a federated round (MODELS.md §2.3), for PI-DRME and its two baselines.
//!
//! PI-DRME's round on client `s`, given the server's global shared encoder `Θ_g`:
//! 1. `Θ_g` replaces the client's shared encoder (its shared decoder stays its own);
//! 2. the individual (shadowing) module trains on `L_rec` until a window's mean loss falls by
//!    less than `τ` (or a step cap), the shared module frozen;
//! 3. the shared (pathloss) module trains on `L_rec + μ₁·L_gra + μ₂·L_con`, the individual one
//!    frozen; `L_con`'s weight is how far step 2 moved the individual module;
//! 4. the shared encoder's parameters go back to the server, and nothing else.
//!
//! MODELS.md writes step 3's loss as `μ₁·L_gra + μ₂·L_con`; here `L_rec` stays in it. Both
//! terms are regularisers: the cosine of `L_gra` ignores the pathloss map's level and scale,
//! and `L_con` only pulls towards the consensus, so without a data term the shared module
//! would learn the template's shape at an arbitrary level and the individual module would have
//! to carry the level too.
//!
//! The baselines train the whole model on `L_rec` for the same number of steps as PI-DRME's
//! cap (`individual_steps + shared_steps`): FL-RME sends every parameter to be averaged
//! (FedAvg of the whole model), the standalone client sends nothing.

use super::loss::{constraint_loss, gradient_loss, reconstruction_loss};
use super::model::PiDrme;
use super::params::{FlatParameter, NamedParameter, flat_parameters, load_parameters, named_parameters, parameter_distance};
use crate::error::RmeError;
// `Result` is spelt out (crate::error::Result): burn's `Config` derive names a plain `Result`.
use crate::map::RadioMap;
use crate::metrics::SquaredErrors;
use crate::models::grid::{GridBatch, GridExample, GridNetwork, GridTargets, denormalise_db};
use crate::rng::Rng;
use crate::sim::dynamic::sample_seed;
use crate::sim::urban::Sampling;
use burn::config::Config;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Device;

/// Where the parameters that PI-DRME shares sit in a [`PiDrme`]: the shared module's encoder.
pub const SHARED_PREFIX: &str = "common.encoder.";

/// Which parameters travel and how the client trains: PI-DRME or one of its baselines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Federation {
    /// The shared module's encoder travels; the two-phase round above.
    PiDrme,
    /// FL-RME: FedAvg of the whole model, trained on `L_rec`.
    FlRme,
    /// Each client alone: nothing travels.
    Standalone,
}

impl Federation {
    /// By name: `pi-drme`, `fl-rme` or `standalone`.
    pub fn by_name(name: &str) -> crate::error::Result<Self> {
        match name {
            "pi-drme" => Ok(Self::PiDrme),
            "fl-rme" => Ok(Self::FlRme),
            "standalone" => Ok(Self::Standalone),
            other => Err(RmeError::invalid("federation mode", format!("'{other}' is not pi-drme, fl-rme or standalone"))),
        }
    }

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::PiDrme => "pi-drme",
            Self::FlRme => "fl-rme",
            Self::Standalone => "standalone",
        }
    }

    /// Whether the parameter at `path` (in a [`PiDrme`]) goes to the server.
    pub fn shares(self, path: &str) -> bool {
        match self {
            Self::PiDrme => path.starts_with(SHARED_PREFIX),
            Self::FlRme => true,
            Self::Standalone => false,
        }
    }

    /// The parameters of `net` that travel, as plain numbers.
    pub fn shared_parameters(self, net: &PiDrme) -> crate::error::Result<Vec<FlatParameter>> {
        flat_parameters(net, |p| self.shares(p))
    }

    /// `net` with the server's parameters in place of its travelling ones (checked: exactly
    /// those, with their shapes).
    pub fn load_global(self, net: PiDrme, global: &[FlatParameter]) -> crate::error::Result<PiDrme> {
        load_parameters(net, global, |p| self.shares(p))
    }
}

/// Where a client's measurements are: one of the urban sampling schemes, or a random share of
/// the street cells drawn anew for every map from a range (PI-DRME's case 2, 1–10 %).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClientSampling {
    /// The same scheme for every map.
    Scheme(Sampling),
    /// A share drawn uniformly from `[low, high]` for each map.
    FractionRange(f64, f64),
}

impl ClientSampling {
    /// Parses `uniform:12.5%`, `1%`, `9` (the [`Sampling`] forms) or a range `1-10%`.
    pub fn parse(text: &str) -> crate::error::Result<Self> {
        let t = text.trim();
        if let Some((low, high)) = t.strip_suffix('%').and_then(|r| r.split_once('-')) {
            let share = |s: &str| -> crate::error::Result<f64> {
                match Sampling::parse(&format!("{}%", s.trim()))? {
                    Sampling::Fraction(f) => Ok(f),
                    _ => Err(RmeError::invalid("sampling", format!("'{text}' is not a range like 1-10%"))),
                }
            };
            let (low, high) = (share(low)?, share(high)?);
            if low > high {
                return Err(RmeError::invalid("sampling", format!("'{text}': the range runs downwards")));
            }
            return Ok(Self::FractionRange(low, high));
        }
        Ok(Self::Scheme(Sampling::parse(t)?))
    }

    /// The sampled cells of `map` (street cells with a truth), drawn from `rng`.
    pub fn cells(&self, map: &RadioMap, rng: &mut Rng) -> crate::error::Result<Vec<usize>> {
        let scheme = match *self {
            Self::Scheme(s) => s,
            Self::FractionRange(low, high) => Sampling::Fraction(rng.range(low, high)),
        };
        scheme.cells(map.grid.rows, map.grid.cols, &map.cells_without_truth(), rng)
    }
}

/// The settings of a client's round (training, not architecture: [`super::PiDrmeConfig`] is
/// the architecture).
#[derive(Config, Debug, PartialEq)]
pub struct RoundConfig {
    /// Maps per optimisation step. Default 8.
    #[config(default = 8)]
    pub batch: usize,
    /// Adam's learning rate, both phases (a fresh optimizer every round and phase: a client
    /// keeps no optimizer state between rounds, as FedAvg clients usually do). Default 2e-3.
    #[config(default = 2e-3)]
    pub lr: f64,
    /// `τ`: phase 1 stops once a window's mean `L_rec` is less than this share below the
    /// previous window's. Default 0.02.
    #[config(default = 0.02)]
    pub tau: f64,
    /// Steps per window of the `τ` test. Default 5.
    #[config(default = 5)]
    pub window: usize,
    /// Most steps of phase 1 (the individual module). Default 30.
    #[config(default = 30)]
    pub individual_steps: usize,
    /// Steps of phase 2 (the shared module). Default 10.
    #[config(default = 10)]
    pub shared_steps: usize,
    /// `μ₁`, the weight of `L_gra`. Default 0.01 (`L_rec` on the normalised maps is of
    /// order 1e-3, `L_gra` of order 0.1–1).
    #[config(default = 0.01)]
    pub mu_gradient: f64,
    /// `μ₂`, the weight of `L_con`. Default 100 (a drift of one Adam step per parameter, 2e-3,
    /// squared, times a movement of order 1, is of order 1e-6).
    #[config(default = 100.0)]
    pub mu_constraint: f64,
}

impl RoundConfig {
    /// Checks the settings (they may come from a Python dict or a command line).
    pub fn validate(&self) -> crate::error::Result<()> {
        let bad = |what: &str, why: String| Err(RmeError::invalid(format!("round setting {what}"), why));
        if self.batch == 0 || self.batch > 256 {
            return bad("batch", format!("{} is not in 1…256", self.batch));
        }
        if !(self.lr > 0.0 && self.lr < 1.0) {
            return bad("lr", format!("{} is not in (0, 1)", self.lr));
        }
        if !(self.tau >= 0.0 && self.tau < 1.0) {
            return bad("tau", format!("{} is not in [0, 1)", self.tau));
        }
        if self.window == 0 || self.individual_steps == 0 || self.individual_steps > 100_000 || self.shared_steps > 100_000 {
            return bad("steps", format!("window {}, individual {}, shared {}", self.window, self.individual_steps, self.shared_steps));
        }
        if !(self.mu_gradient >= 0.0 && self.mu_gradient.is_finite() && self.mu_constraint >= 0.0 && self.mu_constraint.is_finite()) {
            return bad("mu", format!("μ₁ {}, μ₂ {}", self.mu_gradient, self.mu_constraint));
        }
        Ok(())
    }

    /// Local steps of a baseline round: PI-DRME's cap, so both spend at most the same compute.
    pub fn baseline_steps(&self) -> usize {
        self.individual_steps + self.shared_steps
    }
}

/// A client's training data: its maps (with their truth) and where its measurements are.
pub struct ClientData<'a> {
    /// Single-slice maps of the client's region, each with its transmitter.
    pub maps: &'a [RadioMap],
    /// Where the measurements of each example are drawn.
    pub sampling: ClientSampling,
    /// The client's seed: with the round and step it fixes every batch.
    pub seed: u64,
}

impl ClientData<'_> {
    /// The examples of one step: maps drawn with replacement, each with its own draw of cells,
    /// the transmitter known (PI-DRME's template needs it).
    fn batch(&self, batch: usize, round: u64, step: u64) -> crate::error::Result<Vec<GridExample>> {
        if self.maps.is_empty() {
            return Err(RmeError::Empty("client's training maps".into()));
        }
        (0..batch as u64)
            .map(|slot| {
                let mut rng = Rng::new(sample_seed(self.seed, (round << 32) ^ (step << 8) ^ slot));
                let map = &self.maps[rng.below(self.maps.len())];
                let cells = self.sampling.cells(map, &mut rng)?;
                GridExample::from_map(map, &cells, true)
            })
            .collect()
    }
}

/// What a client's round did, for the server's log and the tables.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoundReport {
    /// Steps of phase 1 (PI-DRME) or of the whole round (baselines).
    pub individual_steps: usize,
    /// Steps of phase 2 (PI-DRME only).
    pub shared_steps: usize,
    /// Mean `L_rec` of the round's last window of phase 1 (baselines: of the last steps).
    pub reconstruction: f64,
    /// Mean `L_gra` over phase 2.
    pub gradient: f64,
    /// Mean `L_con` over phase 2.
    pub constraint: f64,
    /// `‖Δθ_ind‖`: how far the individual module moved (the weight of `L_con`).
    pub individual_moved: f64,
}

/// Runs one client's round: `net` (on `device`, an autodiff device) with `global` (the server's
/// travelling parameters; `None` keeps the client's own, as a standalone client does) loaded,
/// trained as `federation` says. Returns the trained network and what it did.
pub fn client_round(
    net: PiDrme,
    global: Option<&[FlatParameter]>,
    federation: Federation,
    data: &ClientData,
    config: &RoundConfig,
    round: u64,
    device: &Device,
) -> crate::error::Result<(PiDrme, RoundReport)> {
    config.validate()?;
    let net = match global {
        Some(g) => federation.load_global(net, g)?,
        None => net,
    };
    let rows = data.maps.first().ok_or_else(|| RmeError::Empty("client's training maps".into()))?.grid.rows;
    net.check_grid(rows, data.maps[0].grid.cols)?;
    match federation {
        Federation::PiDrme => pi_drme_round(net, global, data, config, round, device),
        Federation::FlRme | Federation::Standalone => whole_model_round(net, data, config, round, device),
    }
}

fn inputs(examples: &[GridExample], device: &Device) -> crate::error::Result<(GridBatch, GridTargets)> {
    let refs: Vec<&GridExample> = examples.iter().collect();
    let inputs: Vec<_> = examples.iter().map(|e| &e.inputs).collect();
    Ok((GridBatch::new(&inputs, device)?, GridTargets::new(&refs, device)?))
}

fn finite(value: f32, what: &str, round: u64, step: usize) -> crate::error::Result<f64> {
    if value.is_finite() {
        Ok(value as f64)
    } else {
        Err(RmeError::numerical("PI-DRME round", format!("{what} is {value} at round {round}, step {step}: lower the learning rate")))
    }
}

fn pi_drme_round(
    net: PiDrme,
    global: Option<&[FlatParameter]>,
    data: &ClientData,
    config: &RoundConfig,
    round: u64,
    device: &Device,
) -> crate::error::Result<(PiDrme, RoundReport)> {
    let mut report = RoundReport::default();
    let mut net = net;
    // Phase 1: the individual module alone, to τ.
    net.common = net.common.set_require_grad(false);
    let individual_before = net.individual.clone();
    let mut optim = AdamConfig::new().init();
    let (mut window_sum, mut previous_window) = (0.0, f64::INFINITY);
    for step in 0..config.individual_steps {
        let (batch, targets) = inputs(&data.batch(config.batch, round, step as u64)?, device)?;
        let loss = reconstruction_loss(net.forward_all(&batch).map, targets.map, targets.valid);
        window_sum += finite(loss.clone().into_scalar::<f32>(), "L_rec", round, step)?;
        let grads = GradientsParams::from_grads(loss.backward(), &net.individual);
        net.individual = optim.step(config.lr, net.individual, grads);
        report.individual_steps = step + 1;
        if report.individual_steps.is_multiple_of(config.window) {
            let mean = window_sum / config.window as f64;
            report.reconstruction = mean;
            window_sum = 0.0;
            let converged = previous_window.is_finite() && mean > previous_window * (1.0 - config.tau);
            previous_window = mean;
            if converged {
                break;
            }
        }
    }
    if report.individual_steps < config.window {
        report.reconstruction = window_sum / report.individual_steps.max(1) as f64;
    }
    report.individual_moved = parameter_distance(&individual_before, &net.individual)
        .ok_or_else(|| RmeError::invalid("individual module", "changed shape in training"))?;
    // Phase 2: the shared module on L_rec + μ₁·L_gra + μ₂·L_con, the individual module frozen.
    net.individual = net.individual.set_require_grad(false);
    net.common = net.common.set_require_grad(true);
    // The consensus the constraint holds the encoder to: the server's parameters, or (a first
    // local round without them) where the encoder starts.
    let global_named: Vec<NamedParameter> = match global {
        Some(g) => g.iter().map(|p| p.to_named(device)).collect(),
        None => named_parameters(&net.common.encoder)
            .into_iter()
            .map(|p| NamedParameter { name: format!("{SHARED_PREFIX}{}", p.name), values: p.values.detach(), ..p })
            .collect(),
    };
    let global_named: Vec<NamedParameter> =
        global_named.into_iter().map(|p| NamedParameter { name: p.name.trim_start_matches(SHARED_PREFIX).to_string(), ..p }).collect();
    let mut optim = AdamConfig::new().init();
    let (mut gradient_sum, mut constraint_sum) = (0.0, 0.0);
    for step in 0..config.shared_steps {
        let (batch, targets) = inputs(&data.batch(config.batch, round, (config.individual_steps + step) as u64)?, device)?;
        let out = net.forward_all(&batch);
        let rec = reconstruction_loss(out.map, targets.map, targets.valid);
        let gra = gradient_loss(out.pathloss, batch.law);
        let con = constraint_loss(&named_parameters(&net.common.encoder), &global_named, report.individual_moved)?;
        gradient_sum += finite(gra.clone().into_scalar::<f32>(), "L_gra", round, step)?;
        constraint_sum += finite(con.clone().into_scalar::<f32>(), "L_con", round, step)?;
        let loss = rec + gra * config.mu_gradient + con * config.mu_constraint;
        finite(loss.clone().into_scalar::<f32>(), "the shared loss", round, step)?;
        let grads = GradientsParams::from_grads(loss.backward(), &net.common);
        net.common = optim.step(config.lr, net.common, grads);
        report.shared_steps = step + 1;
    }
    if report.shared_steps > 0 {
        report.gradient = gradient_sum / report.shared_steps as f64;
        report.constraint = constraint_sum / report.shared_steps as f64;
    }
    net.individual = net.individual.set_require_grad(true);
    Ok((net, report))
}

fn whole_model_round(
    net: PiDrme,
    data: &ClientData,
    config: &RoundConfig,
    round: u64,
    device: &Device,
) -> crate::error::Result<(PiDrme, RoundReport)> {
    let mut report = RoundReport::default();
    let individual_before = net.individual.clone();
    let mut net = net;
    let mut optim = AdamConfig::new().init();
    let steps = config.baseline_steps();
    let mut recent = Vec::with_capacity(steps);
    for step in 0..steps {
        let (batch, targets) = inputs(&data.batch(config.batch, round, step as u64)?, device)?;
        let loss = net.loss(&batch, &targets);
        recent.push(finite(loss.clone().into_scalar::<f32>(), "L_rec", round, step)?);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(config.lr, net, grads);
    }
    report.individual_steps = steps;
    let tail = &recent[recent.len().saturating_sub(config.window)..];
    report.reconstruction = tail.iter().sum::<f64>() / tail.len().max(1) as f64;
    report.individual_moved = parameter_distance(&individual_before, &net.individual).unwrap_or(0.0);
    Ok((net, report))
}

/// The client's test: `net` (any device) estimates each of `maps` from the cells `sampling`
/// draws (seeded by `seed` and the map's index, so every method sees the same measurements),
/// scored in dB over the outdoor cells with a truth.
pub fn evaluate(
    net: &PiDrme,
    maps: &[RadioMap],
    sampling: ClientSampling,
    seed: u64,
    device: &Device,
) -> crate::error::Result<SquaredErrors> {
    if maps.is_empty() {
        return Err(RmeError::Empty("client's test maps".into()));
    }
    let net = net.valid();
    let mut errors = SquaredErrors::default();
    for (k, map) in maps.iter().enumerate() {
        net.check_grid(map.grid.rows, map.grid.cols)?;
        let mut rng = Rng::new(sample_seed(seed ^ 0x7E57, k as u64));
        let cells = sampling.cells(map, &mut rng)?;
        let example = GridExample::from_map(map, &cells, true)?;
        let out = net.forward(&GridBatch::new(&[&example.inputs], device)?);
        let pred = out
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| RmeError::numerical("PI-DRME estimate", format!("{e:?}")))?;
        for (i, &p) in pred.iter().enumerate() {
            if example.valid[i] > 0.0 {
                errors.push(denormalise_db(p as f64), denormalise_db(example.target[i] as f64));
            }
        }
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu;
    use crate::models::pi_drme::PiDrmeConfig;
    use crate::sim::urban::{Split, UrbanSimulator};

    fn tiny() -> PiDrmeConfig {
        PiDrmeConfig::new()
            .with_pathloss_channels(vec![4, 8])
            .with_pathloss_latent(8)
            .with_shadowing_channels(vec![4])
            .with_shadowing_latent(4)
    }

    fn maps(n: u64) -> Vec<RadioMap> {
        let sim = UrbanSimulator::new(32).unwrap();
        let city = sim.split_city(Split::Train, 1).unwrap();
        (0..n).map(|k| sim.simulate(&city, k).unwrap()).collect()
    }

    fn settings() -> RoundConfig {
        RoundConfig::new().with_batch(2).with_individual_steps(4).with_window(2).with_shared_steps(2).with_tau(0.0)
    }

    #[test]
    fn modes_share_what_they_say() {
        let net = tiny().init(&cpu());
        let pi = Federation::PiDrme.shared_parameters(&net).unwrap();
        assert!(!pi.is_empty() && pi.iter().all(|p| p.name.starts_with("common.encoder.")));
        assert_eq!(pi.iter().map(|p| p.values.len()).sum::<usize>(), net.common.encoder.num_params());
        assert_eq!(Federation::FlRme.shared_parameters(&net).unwrap().iter().map(|p| p.values.len()).sum::<usize>(), net.num_params());
        assert!(Federation::Standalone.shared_parameters(&net).unwrap().is_empty());
        for m in ["pi-drme", "fl-rme", "standalone"] {
            assert_eq!(Federation::by_name(m).unwrap().name(), m);
        }
        assert!(Federation::by_name("fedprox").unwrap_err().to_string().contains("fedprox"));
    }

    #[test]
    fn sampling_cases_parse_and_draw_street_cells() {
        assert_eq!(ClientSampling::parse("1-10%").unwrap(), ClientSampling::FractionRange(0.01, 0.1));
        assert_eq!(ClientSampling::parse("uniform:12.5%").unwrap(), ClientSampling::Scheme(Sampling::Uniform(0.125)));
        for bad in ["10-1%", "a-b%", "0%", ""] {
            assert!(ClientSampling::parse(bad).is_err(), "{bad}");
        }
        let map = &maps(1)[0];
        let cells = ClientSampling::parse("1-10%").unwrap().cells(map, &mut Rng::new(3)).unwrap();
        let outdoor = map.buildings.as_ref().unwrap().iter().filter(|&&b| b == 0).count();
        assert!(!cells.is_empty() && cells.len() <= outdoor / 10 + 1 && cells.iter().all(|&i| !map.is_building(i / 32, i % 32)));
    }

    #[test]
    fn a_pi_drme_round_trains_each_module_in_its_phase_and_keeps_the_decoder_local() {
        let d = cpu().autodiff();
        d.seed(5);
        let net = tiny().init(&d);
        let maps = maps(3);
        let data = ClientData { maps: &maps, sampling: ClientSampling::parse("10%").unwrap(), seed: 1 };
        // A "global" encoder from another draw: the round starts from it.
        let global = Federation::PiDrme.shared_parameters(&tiny().init(&d)).unwrap();
        let before = net.clone();
        // Three shared steps: the zero-started head moves first, the encoder from the second
        // step on, and the third step's constraint sees its drift.
        let cfg = settings().with_shared_steps(3);
        let (after, report) = client_round(net, Some(&global), Federation::PiDrme, &data, &cfg, 1, &d).unwrap();
        assert_eq!((report.individual_steps, report.shared_steps), (4, 3));
        assert!(report.individual_moved > 0.0 && report.reconstruction > 0.0 && report.gradient > -1e-6, "{report:?}");
        // The encoder drifted from the global one during phase 2, so the constraint counted.
        assert!(report.constraint > 0.0, "{report:?}");
        // Both modules moved (each in its phase); the encoder moved away from the global one
        // it started from, and the sent parameters are exactly the encoder's.
        assert!(parameter_distance(&before.individual, &after.individual).unwrap() > 0.0);
        assert!(parameter_distance(&before.common.decoder, &after.common.decoder).unwrap() > 0.0);
        let sent = Federation::PiDrme.shared_parameters(&after).unwrap();
        assert_eq!(
            sent.iter().map(|p| (&p.name, &p.shape)).collect::<Vec<_>>(),
            global.iter().map(|p| (&p.name, &p.shape)).collect::<Vec<_>>()
        );
        assert_ne!(sent, global);
        // The same round again gives the same result (batches are fixed by seed, round, step).
        let (again, _) = client_round(before, Some(&global), Federation::PiDrme, &data, &cfg, 1, &d).unwrap();
        assert_eq!(Federation::FlRme.shared_parameters(&again).unwrap(), Federation::FlRme.shared_parameters(&after).unwrap());
    }

    #[test]
    fn tau_stops_phase_one_early() {
        let d = cpu().autodiff();
        let maps = maps(2);
        let data = ClientData { maps: &maps, sampling: ClientSampling::parse("10%").unwrap(), seed: 2 };
        // τ just under 1: any second window that does not halve the loss... almost: stops at the
        // second window (4 steps of 2) instead of running the cap of 40.
        let cfg = settings().with_individual_steps(40).with_tau(0.999);
        let (_, report) = client_round(tiny().init(&d), None, Federation::PiDrme, &data, &cfg, 1, &d).unwrap();
        assert_eq!(report.individual_steps, 4);
    }

    #[test]
    fn baselines_train_the_whole_model_and_a_standalone_client_sends_nothing() {
        let d = cpu().autodiff();
        let maps = maps(2);
        let data = ClientData { maps: &maps, sampling: ClientSampling::parse("uniform:12.5%").unwrap(), seed: 3 };
        let net = tiny().init(&d);
        let global = Federation::FlRme.shared_parameters(&tiny().init(&d)).unwrap();
        let (after, report) = client_round(net, Some(&global), Federation::FlRme, &data, &settings(), 2, &d).unwrap();
        assert_eq!(report.individual_steps, settings().baseline_steps());
        assert_ne!(Federation::FlRme.shared_parameters(&after).unwrap(), global);
        let (_, report) = client_round(tiny().init(&d), Some(&[]), Federation::Standalone, &data, &settings(), 2, &d).unwrap();
        assert_eq!(report.individual_steps, 6);
        // A global set of the wrong mode is refused, naming a parameter.
        let e = client_round(tiny().init(&d), Some(&global), Federation::PiDrme, &data, &settings(), 1, &d).unwrap_err().to_string();
        assert!(e.contains("parameter common."), "{e}");
    }

    #[test]
    fn evaluation_is_seeded_and_bad_settings_are_named() {
        let d = cpu();
        let net = tiny().init(&d);
        let maps = maps(2);
        let s = ClientSampling::parse("5%").unwrap();
        let a = evaluate(&net, &maps, s, 9, &d).unwrap();
        let b = evaluate(&net, &maps, s, 9, &d).unwrap();
        assert_eq!(a.rmse(), b.rmse());
        let outdoor: usize = maps.iter().map(|m| m.buildings.as_ref().unwrap().iter().filter(|&&x| x == 0).count()).sum();
        assert_eq!(a.count(), outdoor);
        assert!(evaluate(&net, &[], s, 9, &d).is_err());
        assert!(settings().with_lr(0.0).validate().unwrap_err().to_string().contains("lr"));
        assert!(settings().with_batch(0).validate().unwrap_err().to_string().contains("batch"));
    }
}
