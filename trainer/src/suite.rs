//! `rme eval fm-rme --weights DIR --suite paper`: the four experiments of FM-RME §IV-B (spatial
//! at 10/30/50 % visible on D1–D6, zero-shot D7, temporal on D2/D3/D4/D6, spectral on
//! D1/D4/D5) and zero-shot on the ray-traced Sionna maps, FM-RME beside IDW, LDPL, kriging
//! and the GP oracle. All maps come from the test seeds (never used in training or
//! validation); `--split validation` runs the same cases on validation seeds, for choosing
//! between runs without looking at the test numbers. `--tables` picks the tables.
//!
//! Per case: a test sample, a mask over its whole `[T, F, H, W]` tensor (every method sees the
//! same visible voxels, from every slot and band), `--slices` random target slices among the
//! hidden voxels, and up to `--queries` hidden voxels of each target slice to predict. The
//! classical methods interpolate per slice (see `classic::slices` for how they stand in for
//! a slice with no measurement); FM-RME and the oracle use other slots and bands too.

use crate::common::{Provenance, Table, coverage_cells, estimator_for, load_fm_rme_weights, load_mapset, write_report};
use anyhow::Result;
use rme_core::mask::MaskStrategy;
use rme_core::metrics::{IntervalCoverage, SquaredErrors};
use rme_core::models::fm_rme::FmRmeEstimator;
use rme_core::rng::Rng;
use rme_core::sim::dynamic::{DataSplit, split_seed};
use rme_core::sim::{DynamicPreset, DynamicSimulator};
use rme_core::{Estimator, RadioMap};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Args {
    pub weights: Option<PathBuf>,
    pub maps: usize,
    pub slices: usize,
    pub queries: usize,
    pub seed: u64,
    pub sionna: Option<PathBuf>,
    pub out: Option<PathBuf>,
    /// Which tables: any of "spatial", "zero-shot", "temporal", "spectral" (Sionna: `sionna`).
    pub tables: Vec<String>,
    /// Classical methods beside FM-RME (the Sionna table uses its own list).
    pub methods: Vec<String>,
    /// Seeds the maps come from: test (the reported numbers) or validation (for tuning).
    pub split: DataSplit,
}

/// The suite's table names, in order.
pub const TABLES: [&str; 4] = ["spatial", "zero-shot", "temporal", "spectral"];

#[derive(Default, Clone)]
struct Acc {
    errors: SquaredErrors,
    coverage: IntervalCoverage,
    failure: Option<String>,
}

impl Acc {
    fn cell(&self) -> String {
        if self.errors.count() > 0 {
            format!("{:.2}", self.errors.rmse())
        } else {
            self.failure.as_ref().map(|f| format!("n/a ({})", f.chars().take(60).collect::<String>())).unwrap_or_else(|| "n/a".into())
        }
    }
}

/// Adds one case's accumulators into another's.
fn merge(into: &mut BTreeMap<String, Acc>, from: &BTreeMap<String, Acc>) {
    for (k, v) in from {
        let a = into.entry(k.clone()).or_default();
        a.errors.merge(&v.errors);
        a.coverage.merge(&v.coverage);
        if a.failure.is_none() {
            a.failure = v.failure.clone();
        }
    }
}

/// A classical estimator built by name, or why it could not be.
type Built<'a> = Result<Box<dyn Estimator + 'a>, String>;

/// Runs every method on one case; squared errors per method.
fn run_case(
    map: &RadioMap,
    strategy: &MaskStrategy,
    args: &Args,
    case_seed: u64,
    methods: &[String],
    fm: Option<&FmRmeEstimator>,
) -> Result<BTreeMap<String, Acc>> {
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    let split = strategy.split(map, case_seed)?;
    let n = map.grid.len();
    let mut rng = Rng::new(case_seed ^ 0x51CE);
    let mut slices: Vec<usize> = split.hidden.iter().map(|v| v / n).collect();
    slices.sort_unstable();
    slices.dedup();
    let chosen: Vec<usize> = rng.choose_indices(slices.len(), args.slices).into_iter().map(|i| slices[i]).collect();
    let mut targets = Vec::new();
    for s in chosen {
        let hidden: Vec<usize> = split.hidden.iter().copied().filter(|v| v / n == s).collect();
        let pick = rng.choose_indices(hidden.len(), args.queries);
        targets.extend(pick.into_iter().map(|i| hidden[i]));
    }
    let obs = map.measurements_at(&split.visible);
    let q = map.queries_at(&targets);
    let truth: Vec<f64> = targets.iter().map(|&v| map.values[v] as f64).collect();
    let mut estimators: Vec<(String, Built<'_>)> = Vec::new();
    for m in methods {
        // The classical methods, storm and the grid models, by name.
        estimators.push((m.clone(), estimator_for(m, Some(map), None).map_err(|e| format!("{e:#}"))));
    }
    for (name, est) in estimators
        .iter()
        .map(|(n, e)| (n.clone(), e.as_ref().map(|b| b.as_ref() as &dyn Estimator).map_err(|e| e.clone())))
        .chain(fm.map(|f| ("fm-rme".to_string(), Ok(f as &dyn Estimator))))
    {
        let a = acc.entry(name).or_default();
        match est.and_then(|e| e.estimate_checked(&obs, &q).map_err(|e| e.to_string())) {
            Ok(e) => {
                a.errors.extend(&e.mean, &truth);
                if let Some(std) = &e.std {
                    a.coverage.extend(&e.mean, std, &truth);
                }
            }
            Err(why) => {
                a.failure.get_or_insert(why);
            }
        }
    }
    Ok(acc)
}

fn method_order(classical: &[String], fm: bool) -> Vec<String> {
    let mut v = classical.to_vec();
    if fm {
        v.push("fm-rme".into());
    }
    v
}

fn suite_maps(preset: &str, count: usize, split: DataSplit) -> Result<Vec<RadioMap>> {
    let p = DynamicPreset::by_name(preset)?;
    let sim = DynamicSimulator::new(p)?;
    (0..count).map(|i| Ok(sim.simulate(split_seed(split, p.name, i as u64))?)).collect()
}

pub fn run(args: &Args) -> Result<String> {
    let fm = match &args.weights {
        Some(w) => Some(load_fm_rme_weights(w)?),
        None => None,
    };
    let classical: Vec<String> = args.methods.iter().filter(|m| *m != "fm-rme").cloned().collect();
    let order = method_order(&classical, fm.is_some());
    let prov = Provenance::capture(Some(args.seed));
    let mut md = String::new();
    let mut csv = String::new();
    let mut json = serde_json::Map::new();
    let mut emit = |t: Table| {
        md.push_str(&t.markdown(&prov));
        md.push('\n');
        csv.push_str(&t.csv(&prov));
        csv.push('\n');
        // {table: {method: {column: RMSE}}} for manifests and scripts.
        let mut rows = serde_json::Map::new();
        for r in &t.rows {
            let cells: serde_json::Map<String, serde_json::Value> = t.columns[1..]
                .iter()
                .zip(&r[1..])
                .map(|(c, v)| (c.clone(), v.parse::<f64>().map(serde_json::Value::from).unwrap_or(serde_json::Value::Null)))
                .collect();
            rows.insert(r[0].clone(), serde_json::Value::Object(cells));
        }
        json.insert(t.title.clone(), serde_json::Value::Object(rows));
    };
    let pretrain = ["D1", "D2", "D3", "D4", "D5", "D6"];
    let mut cache: BTreeMap<String, Vec<RadioMap>> = BTreeMap::new();
    let mut maps_of = |p: &str| -> Result<Vec<RadioMap>> {
        if !cache.contains_key(p) {
            eprintln!("simulating {} {:?} samples of {p}", args.maps, args.split);
            cache.insert(p.to_string(), suite_maps(p, args.maps, args.split)?);
        }
        Ok(cache[p].clone())
    };
    let ratios = [0.1, 0.3, 0.5];

    // Table 1: spatial, D1–D6; Table 2: zero-shot D7; then their σ calibration.
    let mut coverage_tables = Vec::new();
    let wanted = |t: &str| args.tables.iter().any(|x| x == t);
    let samples = if args.split == DataSplit::Test { "test samples" } else { "VALIDATION samples" };
    for (table, title, presets) in [
        ("spatial", format!("Spatial estimation, D1–D6 {samples} (RMSE, dB)"), pretrain.to_vec()),
        ("zero-shot", "Zero-shot, D7 (never seen in training) (RMSE, dB)".to_string(), vec!["D7"]),
    ] {
        if !wanted(table) {
            continue;
        }
        let mut cols: Vec<BTreeMap<String, Acc>> = vec![BTreeMap::new(); ratios.len()];
        let mut per_preset: BTreeMap<String, BTreeMap<String, Acc>> = BTreeMap::new();
        for p in &presets {
            for (mi, map) in maps_of(p)?.iter().enumerate() {
                for (ri, &r) in ratios.iter().enumerate() {
                    let seed = args.seed ^ ((mi as u64) << 8) ^ ri as u64;
                    eprintln!("{title}: {p} sample {mi}, {:.0} % visible", r * 100.0);
                    let case = run_case(map, &MaskStrategy::Spatial { visible_ratio: r }, args, seed, &classical, fm.as_ref())?;
                    merge(&mut cols[ri], &case);
                    if ri == 0 && presets.len() > 1 {
                        merge(per_preset.entry(p.to_string()).or_default(), &case);
                    }
                }
            }
        }
        let mut columns = vec!["method".to_string(), "10 %".into(), "30 %".into(), "50 %".into()];
        if presets.len() > 1 {
            columns.extend(presets.iter().map(|p| format!("{p} @10 %")));
        }
        let rows = order
            .iter()
            .map(|m| {
                let mut r = vec![m.clone()];
                r.extend(cols.iter().map(|c| c.get(m).cloned().unwrap_or_default().cell()));
                if presets.len() > 1 {
                    r.extend(presets.iter().map(|p| per_preset[*p].get(m).cloned().unwrap_or_default().cell()));
                }
                r
            })
            .collect();
        let how = format!(
            "{} {samples} per preset, {} target slices each, ≤ {} predicted voxels per slice",
            args.maps, args.slices, args.queries
        );
        let with_std: Vec<&String> =
            order.iter().filter(|m| cols.iter().any(|c| c.get(*m).is_some_and(|a| a.coverage.count() > 0))).collect();
        if !with_std.is_empty() {
            let mut columns = vec!["method".to_string()];
            for r in ratios {
                columns.extend([format!("±1σ @{:.0} %", r * 100.0), format!("±2σ @{:.0} %", r * 100.0)]);
            }
            let rows = with_std
                .iter()
                .map(|m| {
                    let mut r = vec![m.to_string()];
                    r.extend(cols.iter().flat_map(|c| coverage_cells(&c.get(*m).cloned().unwrap_or_default().coverage)));
                    r
                })
                .collect();
            coverage_tables.push(Table {
                title: format!("{} — σ calibration (% of truths within ±1σ, ±2σ)", title.trim_end_matches(" (RMSE, dB)")),
                columns,
                rows,
                notes: vec![format!("{how}; a calibrated Gaussian covers 68.3 % and 95.4 %; methods without σ are not listed")],
            });
        }
        emit(Table { title, columns, rows, notes: vec![format!("{how}; RMSE pooled over all predicted voxels")] });
    }
    for t in coverage_tables {
        emit(t);
    }

    // Tables 3 and 4: temporal and spectral.
    for (title, presets, temporal) in [
        ("Temporal estimation: predict the slots after the cut-off (RMSE, dB)", vec!["D2", "D3", "D4", "D6"], true),
        ("Spectral estimation: predict a missing band (RMSE, dB)", vec!["D1", "D4", "D5"], false),
    ] {
        if !wanted(if temporal { "temporal" } else { "spectral" }) {
            continue;
        }
        let mut per: BTreeMap<String, BTreeMap<String, Acc>> = BTreeMap::new();
        let mut all: BTreeMap<String, Acc> = BTreeMap::new();
        for p in &presets {
            for (mi, map) in maps_of(p)?.iter().enumerate() {
                let [t, f, _, _] = map.shape();
                let strategy = if temporal {
                    MaskStrategy::Temporal { cutoff_slot: ((t as f64 * 0.8).floor() as usize).clamp(1, t - 1), visible_ratio: 0.1 }
                } else {
                    MaskStrategy::Spectral { masked_bands: 1, visible_ratio: 0.1 }
                };
                let _ = f;
                let seed = args.seed ^ ((mi as u64) << 8) ^ 0x77;
                eprintln!("{title}: {p} sample {mi}");
                let case = run_case(map, &strategy, args, seed, &classical, fm.as_ref())?;
                merge(per.entry(p.to_string()).or_default(), &case);
                merge(&mut all, &case);
            }
        }
        let mut columns = vec!["method".to_string()];
        columns.extend(presets.iter().map(|p| p.to_string()));
        columns.push("all".into());
        let rows = order
            .iter()
            .map(|m| {
                let mut r = vec![m.clone()];
                r.extend(presets.iter().map(|p| per[*p].get(m).cloned().unwrap_or_default().cell()));
                r.push(all.get(m).cloned().unwrap_or_default().cell());
                r
            })
            .collect();
        let how = if temporal {
            "cut-off at 80 % of the slots; 10 % of the earlier voxels visible"
        } else {
            "one band hidden whole; 10 % of the other bands' voxels visible"
        };
        emit(Table {
            title: title.into(),
            columns,
            rows,
            notes: vec![format!(
                "{how}; {} {samples} per preset, {} target slices, ≤ {} voxels each",
                args.maps, args.slices, args.queries
            )],
        });
    }

    // Zero-shot on ray-traced maps.
    if let Some(dir) = &args.sionna {
        let maps = load_mapset(dir, None)?;
        let methods: Vec<String> = ["idw", "ldpl", "kriging", "universal-kriging"].iter().map(|s| s.to_string()).collect();
        let mut order2 = methods.clone();
        if fm.is_some() {
            order2.push("fm-rme".into());
        }
        let fr = [0.01, 0.1];
        let mut cols: Vec<BTreeMap<String, Acc>> = vec![BTreeMap::new(); fr.len()];
        for (mi, map) in maps.iter().enumerate() {
            for (ri, &r) in fr.iter().enumerate() {
                let case = run_case(
                    map,
                    &MaskStrategy::Spatial { visible_ratio: r },
                    args,
                    args.seed ^ ((mi as u64) << 8) ^ ri as u64,
                    &methods,
                    fm.as_ref(),
                )?;
                merge(&mut cols[ri], &case);
            }
        }
        let rows = order2
            .iter()
            .map(|m| {
                let mut r = vec![m.clone()];
                r.extend(cols.iter().map(|c| c.get(m).cloned().unwrap_or_default().cell()));
                r
            })
            .collect();
        emit(Table {
            title: format!("Zero-shot on ray-traced maps ({}) (RMSE, dB of path gain)", dir.display()),
            columns: vec!["method".into(), "1 %".into(), "10 %".into()],
            rows,
            notes: vec![format!(
                "{} maps; visible cells at random (outside buildings); ≤ {} predicted cells per map",
                maps.len(),
                args.queries
            )],
        });
    }
    if let Some(out) = &args.out {
        json.insert("provenance".into(), serde_json::json!({ "command": prov.command, "seed": args.seed, "commit": prov.commit, "machine": prov.machine, "date": prov.date_utc }));
        let json = serde_json::to_vec_pretty(&serde_json::Value::Object(json))?;
        write_report(out, &[("md", md.as_bytes()), ("csv", csv.as_bytes()), ("json", &json)])?;
    }
    Ok(md)
}
