//! `rme eval`: accuracy of the estimators on map sets (per-slice spatial interpolation from a
//! random fraction of cells) and on measurement files (random hold-out of positions).

use crate::common::{Provenance, Table, coverage_cells, csv_files, estimator_for, load_mapset, load_measurements, progress, write_report};
use anyhow::Result;
use rme_core::metrics::{IntervalCoverage, SquaredErrors, psnr, ssim};
use rme_core::rng::Rng;
use rme_core::{Estimate, Estimator, MeasurementSet, QuerySet, RadioMap};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the coverage columns mean.
const COVERAGE_NOTE: &str = "±1σ %, ±2σ %: share of predicted truths within one and two of the method's standard deviations of its mean (a calibrated Gaussian: 68.3 and 95.4); - for a method without σ";

/// Fewest observed points in any split (kriging needs a few to fit a variogram).
const MIN_OBSERVED: usize = 5;

#[derive(Default)]
struct Acc {
    errors: SquaredErrors,
    coverage: IntervalCoverage,
    abs: f64,
    ssim: f64,
    psnr: f64,
    images: usize,
    cases: usize,
    seconds: f64,
    failure: Option<String>,
    failures: usize,
}

impl Acc {
    fn add(&mut self, est: &[f64], std: Option<&[f64]>, truth: &[f64], secs: f64) {
        self.errors.extend(est, truth);
        if let Some(std) = std {
            self.coverage.extend(est, std, truth);
        }
        self.abs += est.iter().zip(truth).map(|(e, t)| (e - t).abs()).sum::<f64>();
        self.cases += 1;
        self.seconds += secs;
    }

    fn cells(&self) -> [String; 5] {
        let n = self.errors.count();
        if n == 0 {
            let why = self.failure.clone().unwrap_or_else(|| "no case".into());
            return ["n/a".into(), "n/a".into(), "n/a".into(), "n/a".into(), why];
        }
        let f = |v: f64, d: usize| format!("{v:.d$}");
        [
            f(self.errors.rmse(), 2),
            f(self.abs / n as f64, 2),
            if self.images > 0 { f(self.ssim / self.images as f64, 3) } else { "-".into() },
            if self.images > 0 { f(self.psnr / self.images as f64, 2) } else { "-".into() },
            f(1e3 * self.seconds / self.cases as f64, 1),
        ]
    }
}

/// The estimate (mean and σ where the method has one) and the seconds it took.
fn run_method(est: &dyn Estimator, obs: &MeasurementSet, q: &QuerySet) -> std::result::Result<(Estimate, f64), String> {
    let t0 = Instant::now();
    match est.estimate_checked(obs, q) {
        Ok(e) => Ok((e, t0.elapsed().as_secs_f64())),
        Err(e) => Err(e.to_string()),
    }
}

pub struct MapsetArgs {
    pub dir: PathBuf,
    pub methods: Vec<String>,
    pub fractions: Vec<f64>,
    pub seed: u64,
    pub limit: Option<usize>,
    pub slices: usize,
    pub weights: Option<PathBuf>,
    pub out: Option<PathBuf>,
}

/// For each map, `slices` random (slot, band) slices; in each, a random `fraction` of the
/// valid cells (finite, outside buildings) is observed and the rest predicted. RMSE and MAE
/// are pooled over every predicted cell; SSIM and PSNR are computed on the whole slice image
/// (observed cells keep their true value; data range = the slice's true max − min).
pub fn mapset(a: &MapsetArgs) -> Result<String> {
    let maps = load_mapset(&a.dir, a.limit)?;
    let mut acc: BTreeMap<(usize, usize), Acc> = BTreeMap::new();
    let total: usize = maps.iter().map(|m| a.slices.min(m.slots() * m.bands())).sum();
    let pb = progress((total * a.fractions.len()) as u64, "eval");
    for (mi, map) in maps.iter().enumerate() {
        let mut rng = Rng::new(a.seed ^ (mi as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let tf = map.slots() * map.bands();
        let chosen = rng.choose_indices(tf, a.slices.min(tf));
        let estimators: Vec<std::result::Result<Box<dyn Estimator>, String>> =
            a.methods.iter().map(|m| estimator_for(m, Some(map), a.weights.as_deref()).map_err(|e| format!("{e:#}"))).collect();
        for &slice in &chosen {
            let n = map.grid.len();
            let valid: Vec<usize> = (slice * n..(slice + 1) * n).filter(|&v| map.is_valid_voxel(v)).collect();
            for (fi, &frac) in a.fractions.iter().enumerate() {
                pb.inc(1);
                if valid.len() < MIN_OBSERVED + 1 {
                    continue;
                }
                let k = ((frac * valid.len() as f64).round() as usize).clamp(MIN_OBSERVED, valid.len() - 1);
                let mut picked = rng.choose_indices(valid.len(), k);
                picked.sort_unstable();
                let visible: Vec<usize> = picked.iter().map(|&i| valid[i]).collect();
                let mut is_vis = vec![false; valid.len()];
                for &i in &picked {
                    is_vis[i] = true;
                }
                let hidden: Vec<usize> = valid.iter().zip(&is_vis).filter(|(_, v)| !**v).map(|(&x, _)| x).collect();
                let obs = map.measurements_at(&visible);
                let q = map.queries_at(&hidden);
                let truth: Vec<f64> = hidden.iter().map(|&v| map.values[v] as f64).collect();
                for (mi2, est) in estimators.iter().enumerate() {
                    let cell = acc.entry((mi2, fi)).or_default();
                    let est = match est {
                        Ok(e) => e,
                        Err(why) => {
                            cell.failure.get_or_insert_with(|| why.clone());
                            continue;
                        }
                    };
                    match run_method(est.as_ref(), &obs, &q) {
                        Ok((e, secs)) => {
                            cell.add(&e.mean, e.std.as_deref(), &truth, secs);
                            if let Some((s, p)) = image_scores(map, slice, &hidden, &e.mean) {
                                cell.ssim += s;
                                cell.psnr += p;
                                cell.images += 1;
                            }
                        }
                        Err(why) => {
                            cell.failures += 1;
                            cell.failure.get_or_insert(why);
                        }
                    }
                }
            }
        }
    }
    pb.finish_and_clear();
    let mut rows = Vec::new();
    let mut failure_notes = Vec::new();
    for (mi, m) in a.methods.iter().enumerate() {
        for (fi, f) in a.fractions.iter().enumerate() {
            let c = acc.remove(&(mi, fi)).unwrap_or_default();
            if c.failures > 0 && c.errors.count() > 0 {
                failure_notes.push(format!(
                    "{m} at {f}: {} slices failed and are not in the row (first: {})",
                    c.failures,
                    c.failure.clone().unwrap_or_default()
                ));
            }
            let cases = c.cases.to_string();
            let cells = c.cells();
            let [one, two] = coverage_cells(&c.coverage);
            rows.push(vec![
                m.clone(),
                format!("{f}"),
                cells[0].clone(),
                cells[1].clone(),
                cells[2].clone(),
                cells[3].clone(),
                one,
                two,
                cases,
                cells[4].clone(),
            ]);
        }
    }
    let unit = maps.first().map(|m| if m.quantity == "path_gain_db" { "dB (path gain)" } else { "dB" }).unwrap_or("dB");
    let table = Table {
        title: format!("rme eval --mapset {}", a.dir.display()),
        columns: ["method", "fraction observed", "RMSE", "MAE", "SSIM", "PSNR", "±1σ %", "±2σ %", "slices", "ms/estimate"].map(String::from).to_vec(),
        rows,
        notes: vec![
            format!("{} maps, up to {} (slot, band) slices each; errors in {unit}, pooled over all predicted cells", maps.len(), a.slices),
            "observed cells: a random fraction of the slice's valid cells (finite, outside buildings), at least 5; predicted: all other valid cells".into(),
            "SSIM (11x11 Gaussian window, σ 1.5) and PSNR on the slice image with observed cells at their true value; data range = the slice's true max − min".into(),
            COVERAGE_NOTE.into(),
        ]
        .into_iter()
        .chain(failure_notes)
        .collect(),
    };
    finish(&table, a.seed, a.out.as_deref())
}

fn image_scores(map: &RadioMap, slice: usize, hidden: &[usize], mean: &[f64]) -> Option<(f64, f64)> {
    let (rows, cols) = (map.grid.rows, map.grid.cols);
    if rows < 11 || cols < 11 {
        return None;
    }
    let n = rows * cols;
    let base = slice * n;
    let valid: Vec<bool> = (0..n).map(|c| map.is_valid_voxel(base + c)).collect();
    let vals: Vec<f64> = (0..n).map(|c| map.values[base + c] as f64).collect();
    let lo = vals.iter().zip(&valid).filter(|(_, v)| **v).map(|(x, _)| *x).fold(f64::INFINITY, f64::min);
    let hi = vals.iter().zip(&valid).filter(|(_, v)| **v).map(|(x, _)| *x).fold(f64::NEG_INFINITY, f64::max);
    if !(hi > lo) {
        return None;
    }
    let truth: Vec<f64> = vals.iter().zip(&valid).map(|(x, v)| if *v { *x } else { lo }).collect();
    let mut est = truth.clone();
    for (&h, &m) in hidden.iter().zip(mean) {
        est[h - base] = m;
    }
    let s = ssim(&est, &truth, rows, cols, hi - lo).ok()?;
    let p = psnr(&est, &truth, hi - lo).ok()?;
    Some((s, p))
}

pub struct MeasurementArgs {
    pub path: PathBuf,
    pub methods: Vec<String>,
    pub fractions: Vec<f64>,
    pub seed: u64,
    pub weights: Option<PathBuf>,
    pub out: Option<PathBuf>,
}

/// The campaign a measurement file belongs to: its stem without the dash-separated parts that
/// are all digits (`usrp-918mhz-003.csv` → `usrp-918mhz`, `lte-mabia-000-rsrp.csv` →
/// `lte-mabia-rsrp`; a stem of numbers only stays whole), so the files of one campaign can be
/// averaged apart from the others.
fn campaign(file_name: &str) -> String {
    let stem = file_name.rsplit_once('.').map_or(file_name, |(stem, _)| stem);
    let name = stem.split('-').filter(|part| part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit())).collect::<Vec<_>>().join("-");
    // A name of numbers only is its own campaign (never "", which stands for every file).
    if name.is_empty() { stem.to_string() } else { name }
}

/// For each file and fraction: a random `fraction` of the unique positions (repeated readings
/// at one position are averaged by the reader) is observed, all others are predicted.
pub fn measurements(a: &MeasurementArgs) -> Result<String> {
    let files = csv_files(&a.path)?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    // Per (group, method, fraction): each file's RMSE (for the mean over files) and the pooled
    // coverage; group "" is every file, the others campaigns ([`campaign`]).
    let mut summary: BTreeMap<(String, usize, usize), (Vec<f64>, IntervalCoverage)> = BTreeMap::new();
    let pb = progress((files.len() * a.fractions.len()) as u64, "eval");
    for file in &files {
        let (set, report) = load_measurements(file)?;
        let name = file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        for n in report.notes() {
            notes.push(format!("{name}: {n}"));
        }
        for m in &a.methods {
            if let Some(n) = rme_core::classic::fallback_note(m, &set) {
                notes.push(format!("{name}: {n}"));
            }
        }
        let estimators: Vec<std::result::Result<Box<dyn Estimator>, String>> =
            a.methods.iter().map(|m| estimator_for(m, None, a.weights.as_deref()).map_err(|e| format!("{e:#}"))).collect();
        for (fi, &frac) in a.fractions.iter().enumerate() {
            pb.inc(1);
            let mut rng = Rng::new(a.seed ^ (fi as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
            let n = set.len();
            anyhow::ensure!(n > MIN_OBSERVED, "{name}: {n} unique positions, too few to hold any out");
            let k = ((frac * n as f64).round() as usize).clamp(MIN_OBSERVED, n - 1);
            let mut order: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut order);
            let (seen, held) = order.split_at(k);
            let obs = MeasurementSet { points: seen.iter().map(|&i| set.points[i]).collect(), ..set.clone() };
            let q = QuerySet {
                points: held
                    .iter()
                    .map(|&i| {
                        let p = set.points[i];
                        rme_core::Query { x_m: p.x_m, y_m: p.y_m, t_s: p.t_s, freq_hz: p.freq_hz }
                    })
                    .collect(),
            };
            let truth: Vec<f64> = held.iter().map(|&i| set.points[i].value).collect();
            for (mi, (m, est)) in a.methods.iter().zip(&estimators).enumerate() {
                let mut acc = Acc::default();
                match est.as_ref().map_err(|e| e.clone()).and_then(|e| run_method(e.as_ref(), &obs, &q)) {
                    Ok((e, secs)) => acc.add(&e.mean, e.std.as_deref(), &truth, secs),
                    Err(why) => acc.failure = Some(why),
                }
                for group in [String::new(), campaign(&name)] {
                    let entry = summary.entry((group, mi, fi)).or_default();
                    entry.0.push(acc.errors.rmse());
                    entry.1.merge(&acc.coverage);
                }
                let c = acc.cells();
                let [one, two] = coverage_cells(&acc.coverage);
                rows.push(vec![
                    name.clone(),
                    m.clone(),
                    format!("{frac}"),
                    k.to_string(),
                    (n - k).to_string(),
                    c[0].clone(),
                    c[1].clone(),
                    one,
                    two,
                    c[4].clone(),
                ]);
            }
        }
    }
    pb.finish_and_clear();
    if files.len() > 1 {
        // Every file first, then each campaign of several (but not all) files.
        let groups = summary.iter().filter(|((g, ..), (rmses, _))| g.is_empty() || (rmses.len() > 1 && rmses.len() < files.len()));
        let (all, campaigns): (Vec<_>, Vec<_>) = groups.partition(|((g, ..), _)| g.is_empty());
        for ((group, mi, fi), (rmses, coverage)) in all.into_iter().chain(campaigns) {
            let mean = rmses.iter().sum::<f64>() / rmses.len() as f64;
            let [one, two] = coverage_cells(coverage);
            let label =
                if group.is_empty() { format!("mean of {} files", rmses.len()) } else { format!("mean of {} {group} files", rmses.len()) };
            rows.push(vec![
                label,
                a.methods[*mi].clone(),
                format!("{}", a.fractions[*fi]),
                "-".into(),
                "-".into(),
                // One decimal more than a file's row: methods' means often differ by less
                // than the last digit of their files' RMSEs.
                if mean.is_finite() { format!("{mean:.3}") } else { "n/a".into() },
                "-".into(),
                one,
                two,
                "-".into(),
            ]);
        }
        notes.push("mean of N files: the files' RMSEs averaged, from their unrounded values (n/a when a method failed on one); coverage pooled over all their predicted positions; a campaign's mean (files named alike but for their numbers, e.g. usrp-918mhz-000 … 009) likewise".into());
    }
    notes.push(
        "hold-out: a random fraction of the unique positions is observed, every other position predicted; errors in the file's unit (dB)"
            .into(),
    );
    notes.push(COVERAGE_NOTE.into());
    let table = Table {
        title: format!("rme eval --measurements {}", a.path.display()),
        columns: ["file", "method", "fraction observed", "observed", "predicted", "RMSE", "MAE", "±1σ %", "±2σ %", "ms/estimate"]
            .map(String::from)
            .to_vec(),
        rows,
        notes,
    };
    finish(&table, a.seed, a.out.as_deref())
}

fn finish(table: &Table, seed: u64, out: Option<&Path>) -> Result<String> {
    let prov = Provenance::capture(Some(seed));
    let md = table.markdown(&prov);
    if let Some(out) = out {
        write_report(out, &[("md", md.as_bytes()), ("csv", table.csv(&prov).as_bytes())])?;
    }
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::campaign;

    #[test]
    fn campaign_drops_the_numbered_parts_of_the_stem() {
        assert_eq!(campaign("usrp-918mhz-003.csv"), "usrp-918mhz");
        assert_eq!(campaign("lte-mabia-000-rsrp.csv"), "lte-mabia-rsrp");
        assert_eq!(campaign("survey.csv"), "survey");
        assert_eq!(campaign("2024-05-01.csv"), "2024-05-01");
    }
}
