//! `rme eval --suite radiodun`: the RadioDUN paper's six tables, RadioDUN beside RadioUNet,
//! the completion autoencoder and kriging.
//!
//! - I: 9 samples, transmitter known and unknown: RMSE (dB and normalised), SSIM, PSNR, with
//!   the shipped weights on the test cities.
//! - II: training-size sensitivity: each learned model trained from scratch on 1/8 … all of
//!   the training cities, the same steps for every run; RMSE and Dec % (how much worse than
//!   with all cities).
//! - III: samples 9 … 100 (t², t = 3 … 10), shipped weights.
//! - IV: transfer to the ray-traced Sionna maps: zero-shot (shipped weights), and fine-tuned
//!   from them on 10 % and 30 % of the Sionna maps; the split is by transmitter (tuned on
//!   transmitters 0–1, tested on 2–5).
//! - V: ablation of the dynamic reweighting module × the shadowing loss.
//! - VI: K = 2 … 5 unfolding blocks, with parameters and GFLOPs counted from the layer shapes.
//!
//! II, V and VI train their own models (`--train-steps` steps at `--train-size`², into
//! `--runs`; a finished run is reused, an interrupted one resumed). Their budget is a
//! command-line choice: the tables say what it was.

use crate::common::{Provenance, Table, load_mapset, write_report};
use crate::suite_urban::{Draws, Method, Scores, evaluate, load_method, metric_columns, metric_notes, test_maps};
use crate::train_grid::{self, GridRunSpec, MapSubset};
use anyhow::{Context, Result, ensure};
use rme_core::RadioMap;
use rme_core::models::grid_nets::{GridNetConfig, grid_model_from_bytes};
use rme_core::models::radiodun::RadioDunConfig;
use rme_core::sim::urban::Sampling;
use std::path::PathBuf;

/// The tables.
pub const TABLES: [&str; 6] = ["I", "II", "III", "IV", "V", "VI"];
/// Default methods of tables I, III and IV.
pub const DEFAULT_METHODS: &str = "kriging,autoencoder-small,radiounet-small,radiodun-small";
/// Training cities in the pool of a full-size run (II's "all").
pub const TRAINING_CITIES: usize = 64;
/// Shares of the training cities in table II.
pub const CITY_SHARES: [f64; 4] = [0.125, 0.25, 0.5, 1.0];

pub struct Args {
    pub tables: Vec<String>,
    /// Test maps of I and III: cells per side, cities, transmitters per city.
    pub size: usize,
    pub cities: usize,
    pub maps_per_city: usize,
    /// Methods of I, III, IV (classical names or model folders under `models`).
    pub methods: Vec<String>,
    pub models: PathBuf,
    /// The Sionna map set of IV.
    pub sionna: PathBuf,
    pub seed: u64,
    pub out: Option<PathBuf>,
    /// Where II, IV, V and VI keep their training runs.
    pub runs: PathBuf,
    /// Grid of II, V and VI's runs and of their test maps.
    pub train_size: usize,
    /// Steps of each run of II, V and VI.
    pub train_steps: u64,
    /// Steps of each fine-tuning run of IV.
    pub fine_tune_steps: u64,
    /// Training device (cpu, wgpu).
    pub device: String,
    /// Sampling draws per test map ([`Draws`]).
    pub draws: usize,
}

impl Args {
    fn draws(&self) -> Draws {
        Draws { seed: self.seed, draws: self.draws }
    }
}

fn mode(tx_known: bool) -> &'static str {
    if tx_known { "transmitter known" } else { "transmitter unknown" }
}

/// A run of `steps` steps of batch 8 at `size`² with learning rate `lr` (warm-up a tenth of
/// the steps, one validation at the end), on all training cities.
fn run_spec(args: &Args, kind: &str, model: serde_json::Value, size: usize, steps: u64, lr: f64) -> GridRunSpec {
    GridRunSpec {
        kind: kind.into(),
        model,
        size,
        cities: TRAINING_CITIES,
        maps_per_city: 16,
        tx_known_share: 0.5,
        steps,
        batch: 8,
        lr,
        weight_decay: 0.01,
        warmup: (steps / 10).max(1),
        seed: args.seed,
        val_every: steps,
        checkpoint_every: (steps / 4).max(1),
        init: None,
        mapset: None,
        deep_shadow_slope: 0.0,
    }
}

/// The run spec of a from-scratch run of II, V or VI.
fn budget_spec(args: &Args, kind: &str, model: serde_json::Value, cities: usize) -> GridRunSpec {
    GridRunSpec { cities, ..run_spec(args, kind, model, args.train_size, args.train_steps, 1e-3) }
}

/// Trains `spec` into `runs/name` (reusing a finished run of the same spec, resuming an
/// interrupted one) and loads the result.
fn trained(args: &Args, name: &str, spec: GridRunSpec) -> Result<(String, Method)> {
    let out = args.runs.join(name);
    let finished = out.join("summary.json").exists() && out.join("model.bpk").exists();
    if finished {
        let stored: GridRunSpec =
            serde_json::from_slice(&std::fs::read(out.join("run.json"))?).with_context(|| format!("{}/run.json", out.display()))?;
        ensure!(stored == spec, "{} holds another run than this table needs: remove it, or choose another --runs", out.display());
        eprintln!("{name}: reusing the finished run in {}", out.display());
    } else {
        eprintln!("{name}: training {} steps into {}", spec.steps, out.display());
        let resume = out.join("run.json").exists();
        train_grid::run(&train_grid::Args { spec: spec.clone(), device: args.device.clone(), out: out.clone(), resume, stop_after: None })?;
    }
    let config = GridNetConfig::from_json(&spec.kind, &spec.model, "run.json")?;
    let path = out.join("model.bpk");
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let model = grid_model_from_bytes(&config, &bytes, &burn::tensor::Device::flex(), &path.display().to_string(), name)?;
    Ok((name.to_string(), Method::Grid(Box::new(model))))
}

fn rmse(s: &Scores) -> Option<f64> {
    (s.errors.count() > 0).then(|| s.errors.rmse())
}

fn cell(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "n/a".into())
}

fn load_methods(args: &Args) -> Result<Vec<(String, Method)>> {
    args.methods.iter().map(|m| Ok((m.clone(), load_method(m, &args.models)?))).collect()
}

fn table_one(args: &Args, maps: &[RadioMap], methods: &[(String, Method)]) -> Result<Vec<Table>> {
    let mut out = Vec::new();
    for tx_known in [true, false] {
        let scores = evaluate(maps, methods, Sampling::Count(9), tx_known, args.draws(), 0)?;
        out.push(Table {
            title: format!(
                "Table I: 9 samples, {}, {} test cities × {} transmitters, {}²",
                mode(tx_known),
                args.cities,
                args.maps_per_city,
                args.size
            ),
            columns: metric_columns(),
            rows: methods.iter().zip(&scores).map(|((n, _), s)| s.row(n)).collect(),
            notes: metric_notes(maps.len(), tx_known),
        });
    }
    Ok(out)
}

fn table_two(args: &Args) -> Result<Vec<Table>> {
    let maps = test_maps(args.train_size, args.cities, args.maps_per_city)?;
    let kinds = [("radiodun", "radiodun"), ("radiounet", "radiounet"), ("autoencoder", "autoencoder")];
    // Rows: kriging, then each learned model; columns: each share's RMSE.
    let mut rows_known: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    let mut rows_unknown: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    let kriging = vec![("kriging".to_string(), load_method("kriging", &args.models)?)];
    for tx_known in [true, false] {
        let s = evaluate(&maps, &kriging, Sampling::Count(9), tx_known, args.draws(), 0)?;
        let row = ("kriging".to_string(), vec![rmse(&s[0]); CITY_SHARES.len()]);
        if tx_known { rows_known.push(row) } else { rows_unknown.push(row) }
    }
    for (label, kind) in kinds {
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for share in CITY_SHARES {
            let cities = ((TRAINING_CITIES as f64 * share).round() as usize).max(1);
            let model = GridNetConfig::preset(kind, "small")?.to_json();
            let name = format!("{label}-cities{cities}-{}steps-{}", args.train_steps, args.train_size);
            let method = vec![trained(args, &name, budget_spec(args, kind, model, cities))?];
            known.push(rmse(&evaluate(&maps, &method, Sampling::Count(9), true, args.draws(), 0)?[0]));
            unknown.push(rmse(&evaluate(&maps, &method, Sampling::Count(9), false, args.draws(), 0)?[0]));
        }
        rows_known.push((format!("{label}-small"), known));
        rows_unknown.push((format!("{label}-small"), unknown));
    }
    let mut out = Vec::new();
    for (tx_known, rows) in [(true, rows_known), (false, rows_unknown)] {
        let mut columns = vec!["method".to_string()];
        for share in CITY_SHARES {
            let cities = ((TRAINING_CITIES as f64 * share).round() as usize).max(1);
            columns.push(format!("{cities} cities: RMSE (dB)"));
            columns.push(format!("{cities} cities: Dec %"));
        }
        let rows = rows
            .into_iter()
            .map(|(name, v)| {
                let full = v.last().copied().flatten();
                let mut r = vec![name];
                for x in v {
                    r.push(cell(x));
                    r.push(match (x, full) {
                        (Some(x), Some(f)) => format!("{:+.1}", 100.0 * (x - f) / f),
                        _ => "n/a".into(),
                    });
                }
                r
            })
            .collect();
        out.push(Table {
            title: format!("Table II: training-size sensitivity, 9 samples, {}, {}²", mode(tx_known), args.train_size),
            columns,
            rows,
            notes: vec![
                format!(
                    "each learned model trained from scratch for {} steps of batch 8 at {}² on the first N of {} training cities × 16 transmitters (runs in {})",
                    args.train_steps,
                    args.train_size,
                    TRAINING_CITIES,
                    args.runs.display()
                ),
                "Dec %: RMSE relative to the same model trained on all cities (positive = worse)".into(),
                format!("test: {} test cities × {} transmitters", args.cities, args.maps_per_city),
            ],
        });
    }
    Ok(out)
}

fn table_three(args: &Args, maps: &[RadioMap], methods: &[(String, Method)]) -> Result<Vec<Table>> {
    let counts: Vec<usize> = (3..=10).map(|t| t * t).collect();
    let mut out = Vec::new();
    for tx_known in [true, false] {
        let mut rows: Vec<Vec<String>> = methods.iter().map(|(n, _)| vec![n.clone()]).collect();
        for (k, &n) in counts.iter().enumerate() {
            let scores = evaluate(maps, methods, Sampling::Count(n), tx_known, args.draws(), 1 + k)?;
            for (row, s) in rows.iter_mut().zip(&scores) {
                row.push(cell(rmse(s)));
            }
        }
        let mut columns = vec!["method".to_string()];
        columns.extend(counts.iter().map(|n| format!("{n} samples")));
        out.push(Table {
            title: format!("Table III: RMSE (dB) against the number of samples, {}, {}²", mode(tx_known), args.size),
            columns,
            rows,
            notes: metric_notes(maps.len(), tx_known),
        });
    }
    Ok(out)
}

/// The Sionna maps at 128², split by transmitter: (tuning pool in order, test maps).
fn sionna_split(args: &Args) -> Result<(Vec<RadioMap>, Vec<RadioMap>)> {
    let maps: Vec<RadioMap> = load_mapset(&args.sionna, None)?.into_iter().filter(|m| m.grid.rows == 128 && m.grid.cols == 128).collect();
    ensure!(!maps.is_empty(), "{} has no 128² map", args.sionna.display());
    let tuning = |m: &RadioMap| m.id.contains("_tx0_") || m.id.contains("_tx1_");
    let (mut pool, test): (Vec<RadioMap>, Vec<RadioMap>) = maps.into_iter().partition(tuning);
    pool.sort_by(|a, b| a.id.cmp(&b.id));
    ensure!(!pool.is_empty() && !test.is_empty(), "{}: expected maps of transmitters 0–1 and 2–5", args.sionna.display());
    Ok((pool, test))
}

fn table_four(args: &Args, methods: &[(String, Method)]) -> Result<Vec<Table>> {
    let (pool, test) = sionna_split(args)?;
    let all = pool.len() + test.len();
    // Maps tuned on for 10 % and 30 % of all the Sionna maps, taken in order from the pool.
    let tuned_counts: Vec<usize> = [0.1, 0.3].iter().map(|share| ((all as f64 * share).round() as usize).clamp(1, pool.len())).collect();
    let settings = [(Sampling::Fraction(0.01), true), (Sampling::Count(9), true), (Sampling::Fraction(0.01), false)];
    // rows[method][setting] = [zero-shot, tuned on 10 %, tuned on 30 %]
    let mut rows: Vec<Vec<Vec<Option<f64>>>> = vec![Vec::new(); methods.len()];
    for (mi, (name, method)) in methods.iter().enumerate() {
        // The fine-tuned versions of a learned model; a classical one has nothing to tune.
        let mut tuned: Vec<Option<(String, Method)>> = Vec::new();
        for &n in &tuned_counts {
            tuned.push(match method {
                Method::Classical(_) => None,
                Method::Grid(_) => {
                    let dir = args.models.join(name);
                    let manifest: rme_core::models::weights::Manifest = serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)?;
                    let spec = GridRunSpec {
                        cities: 0,
                        maps_per_city: 0,
                        init: Some(dir),
                        mapset: Some(MapSubset { dir: args.sionna.clone(), ids: pool[..n].iter().map(|m| m.id.clone()).collect() }),
                        ..run_spec(args, &manifest.kind, manifest.config.clone(), 128, args.fine_tune_steps, 3e-4)
                    };
                    Some(trained(args, &format!("{name}-sionna{n}-{}steps", args.fine_tune_steps), spec)?)
                }
            });
        }
        for (si, &(sampling, tx_known)) in settings.iter().enumerate() {
            let score = |m: &(String, Method)| -> Result<Option<f64>> {
                Ok(rmse(&evaluate(&test, std::slice::from_ref(m), sampling, tx_known, args.draws(), si)?[0]))
            };
            let zero_shot = score(&methods[mi])?;
            let mut row = vec![zero_shot];
            for t in &tuned {
                row.push(match t {
                    Some(m) => score(m)?,
                    None => zero_shot,
                });
            }
            rows[mi].push(row);
        }
    }
    let (n10, n30) = (tuned_counts[0], tuned_counts[1]);
    Ok(settings
        .iter()
        .enumerate()
        .map(|(si, &(sampling, tx_known))| Table {
            title: format!("Table IV: transfer to Sionna RT maps, {}, {} (RMSE, dB)", sampling.label(), mode(tx_known)),
            columns: vec![
                "method".into(),
                "zero-shot".into(),
                format!("fine-tuned on 10 % ({n10} maps)"),
                format!("fine-tuned on 30 % ({n30} maps)"),
            ],
            rows: methods.iter().zip(&rows).map(|((n, _), r)| std::iter::once(n.clone()).chain(r[si].iter().map(|v| cell(*v))).collect()).collect(),
            notes: vec![
                format!(
                    "{} test maps (transmitters 2–5, 3 frequencies each, 128² of 2 m); fine-tuning maps drawn in order from transmitters 0–1: {}",
                    test.len(),
                    pool[..n30].iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
                format!(
                    "fine-tuning: {} steps of batch 8 from the shipped weights, lr 3e-4 (runs in {}); classical methods have nothing to tune",
                    args.fine_tune_steps,
                    args.runs.display()
                ),
            ],
        })
        .collect())
}

/// RadioDUN small with `edit` applied, trained at the table budget on all training cities.
fn radiodun_variant(args: &Args, name: &str, edit: impl Fn(RadioDunConfig) -> RadioDunConfig) -> Result<(String, Method)> {
    let cfg = edit(RadioDunConfig::preset("small")?);
    cfg.validate()?;
    let spec = budget_spec(args, "radiodun", serde_json::to_value(&cfg)?, TRAINING_CITIES);
    trained(args, &format!("{name}-{}steps-{}", args.train_steps, args.train_size), spec)
}

fn table_five(args: &Args) -> Result<Vec<Table>> {
    let maps = test_maps(args.train_size, args.cities, args.maps_per_city)?;
    let mut rows = Vec::new();
    for (drm, sl) in [(false, false), (true, false), (false, true), (true, true)] {
        let name = if drm && sl { "radiodun-cities64".to_string() } else { format!("radiodun-drm{}-sl{}", drm as u8, sl as u8) };
        let method = vec![radiodun_variant(args, &name, |c| c.with_reweighting(drm).with_shadowing_loss(sl))?];
        let mut row = vec![if drm { "✓" } else { "✗" }.to_string(), if sl { "✓" } else { "✗" }.to_string()];
        for tx_known in [false, true] {
            let s = &evaluate(&maps, &method, Sampling::Count(9), tx_known, args.draws(), 0)?[0];
            let r = s.row("");
            row.extend(r.into_iter().skip(1));
        }
        rows.push(row);
    }
    let mut columns = vec!["DRM".to_string(), "SL".to_string()];
    for tx in ["unknown", "known"] {
        for m in metric_columns().into_iter().skip(1) {
            columns.push(format!("tx {tx}: {m}"));
        }
    }
    Ok(vec![Table {
        title: format!(
            "Table V: ablation of the dynamic reweighting module (DRM) and the shadowing loss (SL), 9 samples, {}²",
            args.train_size
        ),
        columns,
        rows,
        notes: vec![
            format!(
                "RadioDUN small trained from scratch for {} steps of batch 8 at {}² on {} training cities × 16 transmitters per variant; without the DRM a 1×1 convolution combines the factors",
                args.train_steps, args.train_size, TRAINING_CITIES
            ),
            format!("test: {} test cities × {} transmitters", args.cities, args.maps_per_city),
        ],
    }])
}

fn table_six(args: &Args) -> Result<Vec<Table>> {
    let maps = test_maps(args.train_size, args.cities, args.maps_per_city)?;
    let mut rows = Vec::new();
    for k in 2..=5usize {
        let cfg = RadioDunConfig::preset("small")?.with_blocks(k);
        let params = {
            use burn::module::Module;
            cfg.init(&burn::tensor::Device::flex()).num_params()
        };
        let name = if k == 3 { "radiodun-cities64".to_string() } else { format!("radiodun-k{k}") };
        let method = vec![radiodun_variant(args, &name, |c| c.with_blocks(k))?];
        let known = rmse(&evaluate(&maps, &method, Sampling::Count(9), true, args.draws(), 0)?[0]);
        let unknown = rmse(&evaluate(&maps, &method, Sampling::Count(9), false, args.draws(), 0)?[0]);
        rows.push(vec![k.to_string(), params.to_string(), format!("{:.2}", cfg.gflops(128, 128)), cell(known), cell(unknown)]);
    }
    Ok(vec![Table {
        title: format!("Table VI: unfolding blocks K, 9 samples, {}²", args.train_size),
        columns: vec![
            "K".into(),
            "parameters".into(),
            "GFLOPs per 128² map".into(),
            "RMSE (dB), tx known".into(),
            "RMSE (dB), tx unknown".into(),
        ],
        rows,
        notes: vec![
            "GFLOPs: 2 × the multiply-accumulates of every convolution, linear layer and attention product, counted from the layer shapes (rme_core::models::radiodun::cost)".into(),
            format!(
                "each K trained from scratch for {} steps of batch 8 at {}² on {} training cities × 16 transmitters; test: {} test cities × {} transmitters",
                args.train_steps, args.train_size, TRAINING_CITIES, args.cities, args.maps_per_city
            ),
        ],
    }])
}

pub fn run(args: &Args) -> Result<String> {
    if let Some(bad) = args.tables.iter().find(|t| !TABLES.contains(&t.as_str())) {
        anyhow::bail!("--tables: unknown table '{bad}' (one of {})", TABLES.join(", "));
    }
    ensure!(args.train_steps > 0 && args.fine_tune_steps > 0, "--train-steps and --fine-tune-steps must be positive");
    let want = |t: &str| args.tables.iter().any(|x| x == t);
    let methods = if want("I") || want("III") || want("IV") { load_methods(args)? } else { Vec::new() };
    let maps = if want("I") || want("III") { test_maps(args.size, args.cities, args.maps_per_city)? } else { Vec::new() };
    let prov = Provenance::capture(Some(args.seed));
    let mut tables = Vec::new();
    for t in TABLES.iter().filter(|t| want(t)) {
        eprintln!("table {t}");
        let mut made = match *t {
            "I" => table_one(args, &maps, &methods)?,
            "II" => table_two(args)?,
            "III" => table_three(args, &maps, &methods)?,
            "IV" => table_four(args, &methods)?,
            "V" => table_five(args)?,
            _ => table_six(args)?,
        };
        made.iter_mut().for_each(|table| table.notes.extend(args.draws().note()));
        tables.extend(made);
        // Written after every table: a long run keeps what it has.
        if let Some(out) = &args.out {
            let md: String = tables.iter().map(|t| t.markdown(&prov)).collect::<Vec<_>>().join("\n");
            let csv: String = tables.iter().map(|t| format!("# {}\n{}", t.title, t.csv(&prov))).collect::<Vec<_>>().join("\n");
            write_report(out, &[("md", md.as_bytes()), ("csv", csv.as_bytes())])?;
        }
    }
    Ok(tables.iter().map(|t| t.markdown(&prov)).collect::<Vec<_>>().join("\n"))
}
