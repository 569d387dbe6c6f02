//! `rme`: simulate radio maps, estimate maps from measurements, evaluate and benchmark. The
//! commands' work is in the `rme_trainer` library (which the Python package uses too); this
//! file is the command line.

use rme_trainer::{
    bench, calibrate, cli_values, common, demo, estimate, eval, export, simulate, suite, suite_radiodun, suite_urban, train, train_grid,
    train_storm,
};

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use cli_values::{Fractions, List, at_least_one, at_least_one_u64};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "rme", version, about = "Radio map estimation: simulate, estimate, evaluate, benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Draw samples of a dynamic spectrum preset (D1–D7), or urban maps (`--urban`: cities
    /// with buildings, one transmitter per map, path gain), into a map set with a PNG preview.
    Simulate {
        /// Preset name: D1 … D7 (FM-RME Table I). Not with --urban.
        #[arg(long, required_unless_present = "urban", conflicts_with = "urban", value_parser = cli_values::preset)]
        preset: Option<String>,
        /// Urban maps instead of a dynamic preset.
        #[arg(long)]
        urban: bool,
        /// Number of samples (with --urban: maps, i.e. transmitters, per city). Each is written
        /// as soon as it is drawn: memory does not grow with it.
        #[arg(long, default_value_t = 1, value_parser = at_least_one())]
        count: usize,
        /// Seed: the same seed gives the same bytes (with --urban: of the transmitters).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Urban: cells per side (the city is always 256 m wide).
        #[arg(long, default_value_t = 128, value_parser = at_least_one())]
        size: usize,
        /// Urban: the split whose cities are drawn (train, validation, test: disjoint cities).
        #[arg(long, default_value = "train", value_parser = ["train", "validation", "test"])]
        split: String,
        /// Urban: number of cities.
        #[arg(long, default_value_t = 1, value_parser = at_least_one())]
        cities: usize,
        /// Urban: index of the first city within the split.
        #[arg(long, default_value_t = 0)]
        first_city: u64,
        /// Output folder (map set: index.json, maps/*.npy, preview.png).
        #[arg(long)]
        out: PathBuf,
    },
    /// Estimate a map from a measurement CSV with one method.
    Estimate {
        /// Measurement CSV (with optional JSON sidecar of the same stem).
        #[arg(long)]
        measurements: PathBuf,
        /// Query CSV (x_m, y_m[, t_s][, freq_hz]).
        #[arg(long, conflicts_with = "grid_from")]
        query: Option<PathBuf>,
        /// Estimate on a grid covering the points of this CSV.
        #[arg(long)]
        grid_from: Option<PathBuf>,
        /// Grid cell size in metres (with --grid-from).
        #[arg(long, default_value_t = 2.0, value_parser = cli_values::positive)]
        cell: f64,
        /// Time of the grid, seconds (default: the first measurement's).
        #[arg(long, value_parser = cli_values::finite)]
        t_s: Option<f64>,
        /// Frequency of the grid, Hz (default: the first measurement's).
        #[arg(long, value_parser = cli_values::finite)]
        freq_hz: Option<f64>,
        /// Method: idw, ldpl, ldpl-unknown, kriging, universal-kriging, fm-rme.
        #[arg(long, default_value = "kriging")]
        method: String,
        /// Weights folder for fm-rme (default static/models/fm-rme-small).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Output files: .csv (queries + estimate + std_db), .npy and .png (grid only).
        #[arg(long, num_args = 1.., required = true)]
        out: Vec<PathBuf>,
    },
    /// Evaluate estimators on a map set or on measurement files, or run a paper's suite
    /// (Markdown + CSV tables).
    Eval {
        /// With --suite: the model whose weights are evaluated (fm-rme).
        model: Option<String>,
        /// Folder with model.bpk and manifest.json (e.g. static/models/fm-rme-small).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Run a paper's experiments: "paper" (FM-RME §IV-B), "urban" (the urban tables:
        /// classical methods and grid models on test cities and, with --sionna, Sionna maps) or
        /// "radiodun" (the RadioDUN paper's tables I–VI; --tables picks some).
        #[arg(long, value_parser = ["paper", "urban", "radiodun"])]
        suite: Option<String>,
        /// Urban suite: cells per side of the simulated maps.
        #[arg(long, default_value_t = 128, value_parser = at_least_one())]
        size: usize,
        /// Urban suite: test cities.
        #[arg(long, default_value_t = 8, value_parser = at_least_one())]
        cities: usize,
        /// Urban suite: transmitters (maps) per test city.
        #[arg(long, default_value_t = 4, value_parser = at_least_one())]
        maps_per_city: usize,
        /// Urban suite: folder of model folders; a method that is not classical names one.
        #[arg(long, default_value = "static/models")]
        models: PathBuf,
        /// Suite: test samples per preset.
        #[arg(long, default_value_t = 2, value_parser = at_least_one())]
        maps: usize,
        /// Suite: predicted voxels per target slice at most.
        #[arg(long, default_value_t = 1500, value_parser = at_least_one())]
        queries: usize,
        /// Suite: ray-traced map set for the zero-shot table.
        #[arg(long)]
        sionna: Option<PathBuf>,
        /// Map set folder (index.json): per-slice spatial interpolation.
        #[arg(long, conflicts_with = "measurements")]
        mapset: Option<PathBuf>,
        /// Measurement CSV or folder of them: random hold-out of positions.
        #[arg(long)]
        measurements: Option<PathBuf>,
        /// Comma-separated methods (idw, ldpl, ldpl-unknown, kriging, universal-kriging, oracle,
        /// fm-rme, and model folders under --models); default: idw,ldpl,kriging,oracle, or the
        /// suite's own.
        #[arg(long, value_parser = cli_values::list)]
        methods: Option<List>,
        /// Comma-separated observed fractions, each in (0, 1).
        #[arg(long, default_value = "0.01,0.1", value_parser = cli_values::fractions)]
        fractions: Fractions,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Evaluate only the first N maps of the set.
        #[arg(long, value_parser = at_least_one())]
        limit: Option<usize>,
        /// Random (slot, band) slices per map.
        #[arg(long, default_value_t = 2, value_parser = at_least_one())]
        slices: usize,
        /// Suite: which tables (paper: spatial, zero-shot, temporal, spectral, Sionna with
        /// --sionna; default all but Sionna. radiodun: I, II, III, IV, V, VI; default all).
        #[arg(long, value_parser = cli_values::list)]
        tables: Option<List>,
        /// Suite: simulator seeds of the maps — test (reported results) or validation (tuning).
        #[arg(long, default_value = "test", value_parser = ["test", "validation"])]
        split: String,
        /// Write the table to OUT.md and OUT.csv as well.
        #[arg(long)]
        out: Option<PathBuf>,
        /// RadioDUN suite: where tables II, IV, V and VI keep their training runs (finished
        /// runs are reused, interrupted ones resumed).
        #[arg(long, default_value = "runs/suite-radiodun")]
        runs: PathBuf,
        /// RadioDUN suite: cells per side of the maps tables II, V and VI train and test on.
        #[arg(long, default_value_t = 64, value_parser = at_least_one())]
        train_size: usize,
        /// RadioDUN suite: steps of each training run of tables II, V and VI.
        #[arg(long, default_value_t = 200, value_parser = at_least_one_u64())]
        train_steps: u64,
        /// RadioDUN suite: steps of each fine-tuning run of table IV.
        #[arg(long, default_value_t = 60, value_parser = at_least_one_u64())]
        fine_tune_steps: u64,
        /// RadioDUN suite: training device (cpu, wgpu).
        #[arg(long, default_value = "cpu", value_parser = ["cpu", "flex", "wgpu"])]
        train_device: String,
        /// Urban and RadioDUN suites: sampling draws per map (draw d samples as --seed + d
        /// would), every table pooled over them. One draw of a few maps is noisy: on the
        /// 18 Sionna maps at 1 % the kriging−RadioDUN gap changes sign from seed to seed.
        #[arg(long, default_value_t = 1, value_parser = at_least_one())]
        draws: usize,
    },
    /// Render a simulated scene, sampled measurements and every classical estimate, for the
    /// static demo page.
    Demo {
        /// A dynamic preset (D1 … D7) or "urban".
        #[arg(long, default_value = "D7", value_parser = cli_values::scene_preset)]
        preset: String,
        #[arg(long, default_value_t = 3)]
        seed: u64,
        #[arg(long, default_value_t = 0)]
        slot: usize,
        #[arg(long, default_value_t = 0)]
        band: usize,
        /// Measurements drawn at random cells of the slice.
        #[arg(long, default_value_t = 200, value_parser = at_least_one())]
        samples: usize,
        /// Methods; fm-rme is added when its weights exist.
        #[arg(long, default_value = "idw,ldpl-unknown,kriging,oracle", value_parser = cli_values::list)]
        methods: List,
        /// Weights folder for fm-rme (default static/models/fm-rme-small).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Output folder (images and results.json).
        #[arg(long)]
        out: PathBuf,
    },
    /// Train a model on simulated data: fm-rme (masked self-supervised pre-training on D1–D6),
    /// autoencoder, radiounet or radiodun (urban maps of the training cities), storm (static
    /// slices of D1–D6 and of urban maps).
    Train {
        /// Model to train: fm-rme, autoencoder, radiounet, radiodun, storm.
        #[arg(value_parser = ["fm-rme", "autoencoder", "radiounet", "radiodun", "storm"])]
        model: String,
        /// Model size: tiny, small, base (fm-rme); small, paper (autoencoder, radiounet, radiodun);
        /// tiny, small (storm).
        #[arg(long, default_value = "small")]
        config: String,
        /// Comma-separated pre-training presets.
        #[arg(long, default_value = "D1,D2,D3,D4,D5,D6", value_parser = cli_values::presets)]
        presets: List,
        #[arg(long, default_value_t = 2000, value_parser = at_least_one_u64())]
        steps: u64,
        /// Examples per step (fm-rme: thirds spatial, temporal, spectral masks; storm: slices).
        #[arg(long, default_value_t = 12, value_parser = at_least_one())]
        batch: usize,
        /// flex (CPU), wgpu (GPU; needs --features wgpu), cuda (not buildable here).
        #[arg(long, default_value = "flex", value_parser = ["flex", "cpu", "wgpu", "cuda"])]
        device: String,
        /// Run folder: run.json, curve.csv/png, checkpoint/, model.bpk.
        #[arg(long)]
        out: PathBuf,
        /// Continue the run in --out from its last checkpoint.
        #[arg(long)]
        resume: bool,
        #[arg(long, default_value_t = 3e-4, value_parser = cli_values::positive)]
        lr: f64,
        #[arg(long, default_value_t = 0.01, value_parser = cli_values::non_negative)]
        weight_decay: f64,
        /// Clip each parameter's gradient to this norm (0: off).
        #[arg(long, default_value_t = 1.0, value_parser = cli_values::non_negative)]
        grad_clip: f64,
        /// Objective: relative (each set's masked MSE over its interpolation baseline's; weighs
        /// the easy spatial sets and the hard spectral ones alike) or mse (plain masked MSE).
        /// nll (FM-RME with --init): fit a σ head by the Gaussian likelihood, everything else frozen.
        #[arg(long, default_value = "relative", value_parser = ["relative", "mse", "nll"])]
        loss: String,
        #[arg(long, default_value_t = 100)]
        warmup: u64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Training samples simulated per preset.
        #[arg(long, default_value_t = 4, value_parser = at_least_one())]
        pool: usize,
        /// Visible tokens per example at most (at least 8).
        #[arg(long, default_value_t = 384, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(8..))]
        max_visible: usize,
        /// Query tokens per example at most.
        #[arg(long, default_value_t = 128, value_parser = at_least_one())]
        max_queries: usize,
        /// Context-score weight of slot/band distance (see ContextConfig; default 32).
        #[arg(long, value_parser = cli_values::non_negative)]
        slice_weight: Option<f64>,
        #[arg(long, default_value_t = 100, value_parser = at_least_one_u64())]
        val_every: u64,
        #[arg(long, default_value_t = 50, value_parser = at_least_one_u64())]
        checkpoint_every: u64,
        /// Stop after this step, leaving the run resumable (for tests).
        #[arg(long, hide = true)]
        stop_after: Option<u64>,
        /// Grid models: cells per side of the urban maps.
        #[arg(long, default_value_t = 128, value_parser = at_least_one())]
        size: usize,
        /// Grid models: training cities in the pool.
        #[arg(long, default_value_t = 64, value_parser = at_least_one())]
        cities: usize,
        /// Grid models: transmitters (maps) per training city.
        #[arg(long, default_value_t = 16, value_parser = at_least_one())]
        maps_per_city: usize,
        /// Grid models: share of examples with the transmitter's position given, in [0, 1].
        #[arg(long, default_value_t = 0.5, value_parser = cli_values::share)]
        tx_known_share: f64,
        /// Grid models: draw a deep-shadow variation (σ growing below a knee 0–15 dB under
        /// the map's 90th percentile by up to this many dB per dB, capped at 20 dB) into half
        /// the training maps, so that the model learns to average weak, erratic cells as
        /// kriging does; 0: none. Experimental: a 300-step fine-tune with 0.5 did not help
        /// (results/radiodun-deep-shadow.md).
        #[arg(long, default_value_t = 0.0, value_parser = cli_values::non_negative)]
        deep_shadow_slope: f64,
        /// Start from these weights (a folder with model.bpk and manifest.json) instead of a
        /// random initialisation: grid models of the same kind and config; FM-RME takes the
        /// weights' architecture and context rule (with --loss nll: adds a σ head and trains only it;
        /// where the rule denoises readings, as fm-rme-small's does, the examples' readings are
        /// denoised the same way).
        #[arg(long)]
        init: Option<PathBuf>,
        /// STORM: queries per training slice.
        #[arg(long, default_value_t = 16, value_parser = at_least_one())]
        queries: usize,
        /// STORM: urban maps (one per training city, 64²) in the pool beside the presets' slices.
        #[arg(long, default_value_t = 64)]
        urban_maps: usize,
        /// STORM and FM-RME: half the training examples get measurement noise of a standard
        /// deviation drawn up to this share of their readings' spread (STORM: on readings and
        /// truths; FM-RME: on the visible readings, and with --loss nll on the truths too).
        /// Default: 0.7 for STORM, 0 for FM-RME.
        #[arg(long, value_parser = cli_values::non_negative)]
        max_noise_share: Option<f64>,
        /// FM-RME: that noise drawn from a Student's t of this many degrees of freedom (at
        /// least 3; scaled to the same standard deviation): heavy-tailed like the repeated
        /// readings of real campaigns (real-dev's USRP files: about 7); 0: Gaussian.
        #[arg(long, default_value_t = 0)]
        noise_dof: u32,
        /// FM-RME: the noisy half's readings also dip by 6–18 dB, each with a probability
        /// drawn up to this share (deep fades: one reading in seven in real-dev's USRP files),
        /// their targets moved by the dips' expectation; 0: none.
        #[arg(long, default_value_t = 0.0, value_parser = cli_values::non_negative)]
        max_dip_share: f64,
        /// FM-RME: the learned interpolation also weighs ordinary kriging's estimate at each
        /// query (from the raw readings of its slice), marked by one more pair feature; with
        /// --init the weights' interpolation is widened with zero weights for the marker.
        #[arg(long)]
        kriging_candidate: bool,
        /// Grid models: override one field of the preset's architecture, `KEY=VALUE` with a
        /// JSON value (repeatable), e.g. `--set blocks=2 --set reweighting=false`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Write a finished run's weights in the shipped form (static/models/NAME/).
    Export {
        /// Run folder made by `rme train`.
        #[arg(long, required_unless_present = "restamp")]
        run: Option<PathBuf>,
        /// Model name, e.g. fm-rme-small: a plain folder name (it is created under --out).
        #[arg(long, value_parser = cli_values::folder_name, required_unless_present = "restamp")]
        name: Option<String>,
        /// Instead: stamp the weights in this shipped folder (exported before weights carried
        /// their config) so that they load again; nothing else changes.
        #[arg(long, conflicts_with_all = ["run", "name"])]
        restamp: Option<PathBuf>,
        /// With --restamp (FM-RME): store this context budget (`max_visible`, measurements per
        /// query group) instead of the current one — an inference setting, the tensors stay
        /// as they are; --notes says why.
        #[arg(long, requires = "restamp")]
        max_visible: Option<usize>,
        /// With --restamp (FM-RME): store whether readings are denoised before the network
        /// sees them (`denoise`: kriging's noise-free estimate at each reading, the noise the
        /// smaller of the fitted nugget and the short-lag intercept) — an inference setting.
        #[arg(long, requires = "restamp", action = clap::ArgAction::Set)]
        denoise: Option<bool>,
        #[arg(long, default_value = "static/models")]
        out: PathBuf,
        /// JSON file of metrics to record in the manifest.
        #[arg(long)]
        metrics: Option<PathBuf>,
        /// Free text for the manifest (e.g. "trained on the CPU").
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// Choose FM-RME's σ scale on validation samples (±1σ, ±2σ as close to 68.3 % and 95.4 %
    /// as one factor allows) and, with --write, store it in the weights.
    Calibrate {
        /// Shipped FM-RME weights with a σ head.
        #[arg(long, default_value = common::DEFAULT_WEIGHTS)]
        weights: PathBuf,
        /// Comma-separated presets whose validation samples are used.
        #[arg(long, default_value = "D1,D2,D3,D4,D5,D6,D7", value_parser = cli_values::presets)]
        presets: List,
        /// Validation samples per preset.
        #[arg(long, default_value_t = 2, value_parser = at_least_one())]
        maps: usize,
        /// Comma-separated visible fractions of the spatial masks, each in (0, 1).
        #[arg(long, default_value = "0.1,0.3,0.5", value_parser = cli_values::fractions)]
        ratios: Fractions,
        /// Predicted voxels per target slice at most.
        #[arg(long, default_value_t = 1000, value_parser = at_least_one())]
        queries: usize,
        /// Random target slices per case.
        #[arg(long, default_value_t = 2, value_parser = at_least_one())]
        slices: usize,
        /// Whether σ adds each slice's measurement noise (the nugget of its fitted variogram).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        measurement_noise: bool,
        /// With --write: whether the stored context adds the slice's measurement noise at
        /// inference (default: as --measurement-noise). `--measurement-noise false
        /// --stored-measurement-noise true` chooses the scale on the simulator's noise-free
        /// slices as they are and adds the nugget only for use: a variogram fitted to a
        /// noise-free slice still finds a nugget, which is not noise, and a scale chosen with
        /// it shrinks σ wherever that nugget is small.
        #[arg(long, action = clap::ArgAction::Set)]
        stored_measurement_noise: Option<bool>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Store the chosen scale in the weights (their stamp and manifest).
        #[arg(long)]
        write: bool,
        /// Write the table to OUT.md and OUT.csv as well.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Benchmark the simulator and the classical estimators.
    Bench {
        /// Timed repetitions (after one warm-up).
        #[arg(long, default_value_t = 5, value_parser = at_least_one())]
        reps: usize,
        /// Write the table to OUT.md and OUT.csv as well.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `rme eval --suite paper`'s default tables (the RadioDUN suite's are I–VI).
const DEFAULT_PAPER_TABLES: &str = "spatial,zero-shot,temporal,spectral";

/// `rme eval`'s default methods (the urban suite has its own, `suite_urban::DEFAULT_METHODS`).
const DEFAULT_EVAL_METHODS: &str = "idw,ldpl,kriging,oracle";

fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

/// The given list's items, or the default's.
fn items_or(given: Option<List>, default: &str) -> Vec<String> {
    given.map(|l| l.0).unwrap_or_else(|| split_list(default))
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Simulate { preset, urban, count, seed, size, split, cities, first_city, out } => match preset {
            Some(preset) if !urban => simulate::run(&preset, count, seed, &out),
            _ => {
                let split = rme_core::sim::urban::Split::by_name(&split)?;
                simulate::run_urban(&simulate::UrbanArgs { size, split, cities, first_city, maps_per_city: count, seed }, &out)
            }
        },
        Command::Estimate { measurements, query, grid_from, cell, t_s, freq_hz, method, weights, out } => {
            common::check_methods(std::slice::from_ref(&method), common::MethodUse::OnMeasurements, "--method")?;
            estimate::run(&estimate::Args { measurements, query, grid_from, cell, t_s, freq_hz, method, weights, out })
        }
        Command::Eval {
            model,
            weights,
            suite,
            maps,
            queries,
            sionna,
            mapset,
            measurements,
            methods,
            fractions,
            seed,
            limit,
            slices,
            tables,
            split,
            out,
            size,
            cities,
            maps_per_city,
            models,
            runs,
            train_size,
            train_steps,
            fine_tune_steps,
            train_device,
            draws,
        } => {
            if suite.as_deref() == Some("radiodun") {
                let md = suite_radiodun::run(&suite_radiodun::Args {
                    tables: items_or(tables, &suite_radiodun::TABLES.join(",")),
                    size,
                    cities,
                    maps_per_city,
                    methods: items_or(methods, suite_radiodun::DEFAULT_METHODS),
                    models,
                    sionna: sionna.unwrap_or_else(|| PathBuf::from("data/sionna-dev")),
                    seed,
                    out,
                    runs,
                    train_size,
                    train_steps,
                    fine_tune_steps,
                    device: train_device,
                    draws,
                })?;
                println!("{md}");
                return Ok(());
            }
            if suite.as_deref() == Some("urban") {
                let md = suite_urban::run(&suite_urban::Args {
                    size,
                    cities,
                    maps_per_city,
                    methods: items_or(methods, suite_urban::DEFAULT_METHODS),
                    models,
                    sionna,
                    seed,
                    draws,
                    out,
                })?;
                println!("{md}");
                return Ok(());
            }
            if let Some(suite_name) = suite {
                anyhow::ensure!(suite_name == "paper", "unknown suite '{suite_name}' (paper, urban, radiodun)");
                anyhow::ensure!(model.as_deref().unwrap_or("fm-rme") == "fm-rme", "the paper suite evaluates fm-rme");
                let tables = items_or(tables, DEFAULT_PAPER_TABLES);
                if let Some(bad) = tables.iter().find(|t| !suite::TABLES.contains(&t.as_str())) {
                    bail!("--tables: unknown table '{bad}' (one of {})", suite::TABLES.join(", "));
                }
                let split = if split == "validation" {
                    rme_core::sim::dynamic::DataSplit::Validation
                } else {
                    rme_core::sim::dynamic::DataSplit::Test
                };
                let methods = items_or(methods, DEFAULT_EVAL_METHODS);
                common::check_methods(&methods, common::MethodUse::OnMaps, "--methods")?;
                let md = suite::run(&suite::Args { weights, maps, slices, queries, seed, sionna, out, tables, methods, split })?;
                println!("{md}");
                return Ok(());
            }
            anyhow::ensure!(model.is_none(), "a model name goes with --suite paper (use --methods fm-rme otherwise)");
            anyhow::ensure!(tables.is_none(), "--tables goes with --suite");
            let methods = items_or(methods, DEFAULT_EVAL_METHODS);
            let fractions = fractions.0;
            let md = match (mapset, measurements) {
                (Some(dir), None) => {
                    common::check_methods(&methods, common::MethodUse::OnMaps, "--methods")?;
                    eval::mapset(&eval::MapsetArgs { dir, methods, fractions, seed, limit, slices, weights, out })?
                }
                (None, Some(path)) => {
                    common::check_methods(&methods, common::MethodUse::OnMeasurements, "--methods")?;
                    eval::measurements(&eval::MeasurementArgs { path, methods, fractions, seed, weights, out })?
                }
                _ => bail!("give exactly one of --mapset DIR or --measurements PATH"),
            };
            println!("{md}");
            Ok(())
        }
        Command::Demo { preset, seed, slot, band, samples, methods, weights, out } => {
            let mut methods = methods.0;
            common::check_methods(&methods, common::MethodUse::OnMaps, "--methods")?;
            let w = weights.clone().unwrap_or_else(|| PathBuf::from(common::DEFAULT_WEIGHTS));
            if !methods.iter().any(|m| m == "fm-rme") && w.join("manifest.json").is_file() {
                methods.push("fm-rme".into());
            }
            demo::run(&demo::Args { preset, seed, slot, band, samples, methods, weights }, &out)
        }
        Command::Train {
            model,
            config,
            presets,
            steps,
            batch,
            device,
            out,
            resume,
            lr,
            weight_decay,
            grad_clip,
            loss,
            warmup,
            seed,
            pool,
            max_visible,
            max_queries,
            slice_weight,
            val_every,
            checkpoint_every,
            stop_after,
            size,
            cities,
            maps_per_city,
            tx_known_share,
            deep_shadow_slope,
            init,
            overrides,
            queries,
            urban_maps,
            max_noise_share,
            noise_dof,
            max_dip_share,
            kriging_candidate,
        } => {
            anyhow::ensure!(noise_dof == 0 || model == "fm-rme", "--noise-dof is an FM-RME option");
            anyhow::ensure!(max_dip_share == 0.0 || model == "fm-rme", "--max-dip-share is an FM-RME option");
            anyhow::ensure!(max_dip_share <= 1.0, "--max-dip-share {max_dip_share}: a probability, at most 1");
            anyhow::ensure!(
                noise_dof == 0 || noise_dof >= 3,
                "--noise-dof {noise_dof}: at least 3 (a Student's t of fewer has no variance), or 0 for Gaussian noise"
            );
            if model == "storm" {
                anyhow::ensure!(init.is_none() && overrides.is_empty(), "--init and --set are not STORM options");
                let spec = train_storm::StormRunSpec {
                    kind: model,
                    model: rme_core::models::storm::StormConfig::preset(&config)?,
                    presets: presets.0,
                    pool,
                    urban_maps,
                    steps,
                    batch,
                    queries,
                    max_noise_share: max_noise_share.unwrap_or(0.7),
                    lr,
                    weight_decay,
                    warmup,
                    seed,
                    val_every,
                    checkpoint_every,
                };
                return train_storm::run(&train_storm::Args { spec, device, out, resume, stop_after });
            }
            if !rme_core::models::grid_nets::GRID_KINDS.contains(&model.as_str()) {
                anyhow::ensure!(overrides.is_empty(), "--set is for the grid models (autoencoder, radiounet, radiodun)");
            }
            if rme_core::models::grid_nets::GRID_KINDS.contains(&model.as_str()) {
                let cfg = train_grid::with_overrides(&model, &config, &overrides)?;
                let spec = train_grid::GridRunSpec {
                    kind: model,
                    model: cfg.to_json(),
                    size,
                    cities,
                    maps_per_city,
                    tx_known_share,
                    steps,
                    batch,
                    lr,
                    weight_decay,
                    warmup,
                    seed,
                    val_every,
                    checkpoint_every,
                    init,
                    mapset: None,
                    deep_shadow_slope,
                };
                return train_grid::run(&train_grid::Args { spec, device, out, resume, stop_after });
            }
            anyhow::ensure!(model == "fm-rme", "model '{model}' is not one of fm-rme, autoencoder, radiounet, radiodun");
            let (mut cfg, mut context) = match &init {
                // The weights' own architecture and context rule: the model goes on the way it learned.
                Some(dir) => {
                    let shipped = common::load_fm_rme_weights(dir)?;
                    (shipped.config, shipped.context)
                }
                None => (
                    rme_core::models::fm_rme::FmRmeConfig::preset(&config)?,
                    rme_core::models::fm_rme::ContextConfig::new().with_max_visible(max_visible),
                ),
            };
            if loss == "nll" {
                cfg = cfg.with_std_head(true);
            }
            if kriging_candidate {
                cfg = cfg.with_kriging_candidate(true);
            }
            cfg.validate()?;
            if let Some(w) = slice_weight {
                context = context.with_slice_weight(w);
            }
            context.validate()?;
            let spec = train::RunSpec {
                model: cfg,
                context,
                presets: presets.0,
                steps,
                batch,
                lr,
                weight_decay,
                grad_clip,
                loss,
                warmup,
                seed,
                pool,
                max_visible,
                max_queries,
                val_every,
                checkpoint_every,
                init,
                max_noise_share: max_noise_share.unwrap_or(0.0),
                noise_dof,
                max_dip_share,
            };
            train::run(&train::Args { spec, device, out, resume, stop_after })
        }
        Command::Export { run, name, out, metrics, notes, restamp, max_visible, denoise } => match (restamp, run, name) {
            (Some(dir), _, _) => export::restamp(&dir, export::ContextChange { max_visible, denoise }, &notes),
            (None, Some(run), Some(name)) => export::run(&run, &name, &out, &notes, metrics.as_deref()),
            _ => bail!("give --run RUN and --name NAME (or --restamp DIR)"),
        },
        Command::Calibrate {
            weights,
            presets,
            maps,
            ratios,
            queries,
            slices,
            measurement_noise,
            stored_measurement_noise,
            seed,
            write,
            out,
        } => {
            let args = calibrate::Args {
                weights,
                presets: presets.0,
                maps,
                ratios: ratios.0,
                queries,
                slices,
                measurement_noise,
                stored_measurement_noise: stored_measurement_noise.unwrap_or(measurement_noise),
                seed,
                write,
                out,
            };
            println!("{}", calibrate::run(&args)?);
            Ok(())
        }
        Command::Bench { reps, out } => {
            println!("{}", bench::run(reps, out.as_deref())?);
            Ok(())
        }
    }
}

/// glibc returns every freed block over 128 KiB (a threshold that adapts only up to 32 MiB) to
/// the kernel and trims the heap's top above twice that; the next tensor of that size then pays
/// a page fault per 4 KiB page. A 64² FM-RME map allocates and frees many such tensors per
/// pass, and those faults were a quarter of its time (`rme bench`). The process keeps freed
/// memory for reuse instead: up to 64 MiB per block in the heap, trimmed above 512 MiB.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

fn main() {
    keep_freed_memory();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
