//! A mutation fuzzer for every parser of outside input, on stable Rust: measurement CSV with
//! its JSON sidecar, query CSV, npy, map-set index, weights manifest, checkpoint state.
//!
//! Each target starts from valid seed inputs and stacks random mutations on them (bit flips,
//! interesting bytes, inserted or deleted ranges, duplicated lines, tokens that parsers trip
//! on: `NaN`, `1e400`, quotes, separators, keys). Every input is parsed under `catch_unwind`
//! and timed: a panic or a parse over [`HANG`] is a finding, saved with the input. The inputs
//! come from a seeded [`Rng`], so a run is reproducible from its seed.
//!
//! - short run, in `cargo test`: [`SHORT_RUN`] inputs per parser;
//! - long run, a command of its own: `scripts/fuzz.sh [INPUTS] [SEED]` (1 M inputs per
//!   parser by default), which also writes the slowest rejected inputs of the measurement
//!   parser to `tests/e2e/fixtures/fuzz/` for the browser test that uploads them.

use crate::train_loop::State;
use rme_core::io::csv::{parse_sidecar, read_measurements, read_queries};
use rme_core::io::mapset::read_mapset;
use rme_core::io::npy::{read_npy, write_npy_f32, write_npy_u8};
use rme_core::models::fm_rme::weights::configs_of;
use rme_core::models::grid_nets::GridNetConfig;
use rme_core::models::weights::{Manifest, check_manifest};
use rme_core::rng::Rng;
use rme_core::{RmeError, io::csv::write_measurements};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

/// A parse slower than this is a hang.
pub const HANG: Duration = Duration::from_secs(1);

/// Inputs per parser in the test suite's short run.
pub const SHORT_RUN: usize = 20_000;

/// Largest input the mutator grows to (bytes): parsers get big inputs, the run stays quick.
const MAX_LEN: usize = 64 * 1024;

/// Tokens parsers trip on, spliced into inputs.
const DICTIONARY: &[&str] = &[
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "-1e308",
    "1e38",
    "1e300",
    "0",
    "-0",
    "1e-320",
    "99999999999999999999",
    "\"",
    ",",
    "\n",
    "\r\n",
    "#",
    " ",
    "\t",
    "\u{feff}",
    "x_m",
    "y_m",
    "power_dbm",
    "power_db",
    "path_gain_db",
    "t_s",
    "freq_hz",
    "{",
    "}",
    "[",
    "]",
    ":",
    "null",
    "true",
    "'descr'",
    "'<f4'",
    "'|u1'",
    "'>f8'",
    "'shape'",
    "(",
    ")",
    "'fortran_order'",
    "\u{93}NUMPY",
    "\"maps\"",
    "\"shape\"",
    "\"values\"",
    "\"buildings\"",
    "../",
    "/",
    "\"step\"",
    "\"seconds\"",
    "\"config\"",
    "\"kind\"",
    "\"sha256\"",
    "-1",
    "18446744073709551616",
];

/// A parse of one input: whether it was accepted.
pub type Parse = Box<dyn Fn(&[u8]) -> bool>;

/// One parser under test: its name, valid seed inputs, and the parse (its error is an
/// accepted outcome; only a panic or a hang is a finding).
pub struct Target {
    pub name: &'static str,
    pub seeds: Vec<Vec<u8>>,
    pub parse: Parse,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Findings {
    pub inputs: usize,
    pub accepted: usize,
    pub panics: Vec<Vec<u8>>,
    pub hangs: Vec<(Vec<u8>, Duration)>,
    /// The slowest rejected inputs (parse time, input), slowest first.
    pub slowest_rejected: Vec<(Duration, Vec<u8>)>,
    pub longest: Duration,
}

/// Applies 1–8 random mutations to a copy of `seed`.
pub fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        let len = v.len();
        let at = |rng: &mut Rng| if len == 0 { 0 } else { rng.below(len + 1) };
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = [0u8, 0xff, b'\n', b',', b'"', b'0', b'-', b'e', b'.', 0x80][rng.below(10)];
            }
            2 => {
                let i = at(rng);
                let t = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                v.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                // Duplicate a range (lines, rows, keys), up to 8 times.
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let piece: Vec<u8> = v[i..i + n].to_vec();
                let j = at(rng);
                for _ in 0..1 + rng.below(8) {
                    v.splice(j..j, piece.iter().copied());
                }
            }
            5 if len > 0 => v.truncate(rng.below(len)),
            6 => {
                let i = at(rng);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                v.splice(i..i, bytes);
            }
            7 => {
                // A long run of one token: many columns, rows or digits.
                let i = at(rng);
                let t = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                for _ in 0..rng.below(200) {
                    v.splice(i..i, t.iter().copied());
                }
            }
            _ if len > 0 => {
                // Swap two bytes.
                let (i, j) = (rng.below(len), rng.below(len));
                v.swap(i, j);
            }
            _ => {}
        }
        v.truncate(MAX_LEN);
    }
    v
}

/// Runs `inputs` mutated inputs through `target`; `keep` slowest rejected inputs are kept.
pub fn run(target: &Target, inputs: usize, seed: u64, keep: usize) -> Findings {
    let mut rng = Rng::new(seed);
    let mut f = Findings::default();
    for k in 0..inputs {
        let base = &target.seeds[k % target.seeds.len()];
        let input = if k < target.seeds.len() { base.clone() } else { mutate(base, &mut rng) };
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| (target.parse)(&input)));
        let took = started.elapsed();
        f.inputs += 1;
        f.longest = f.longest.max(took);
        match outcome {
            Err(_) => f.panics.push(input),
            Ok(_) if took > HANG => f.hangs.push((input, took)),
            Ok(true) => f.accepted += 1,
            Ok(false) => {
                if keep > 0 && (f.slowest_rejected.len() < keep || took > f.slowest_rejected.last().map_or(Duration::ZERO, |s| s.0)) {
                    f.slowest_rejected.push((took, input));
                    f.slowest_rejected.sort_by_key(|s| std::cmp::Reverse(s.0));
                    f.slowest_rejected.truncate(keep);
                }
            }
        }
    }
    f
}

/// Lossy text of an input, as the readers get it (`read_to_string` refuses invalid UTF-8
/// before any parser; the page's upload decodes lossily).
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Splits an input at the first NUL into a CSV part and a sidecar part.
fn csv_and_sidecar(b: &[u8]) -> (String, Option<String>) {
    match b.iter().position(|&c| c == 0) {
        Some(i) => (text(&b[..i]), Some(text(&b[i + 1..]))),
        None => (text(b), None),
    }
}

/// Every parser's target, with seeds built from valid examples.
pub fn targets() -> Vec<Target> {
    let csv =
        "x_m,y_m,t_s,freq_hz,power_dbm\n0,0,0,3.5e9,-60.5\n10.5,-3,0,3.5e9,-70\n\"20\",7,1,3.5e9,-80.25\n# comment\n\n30,30,1,3.6e9,-90\n";
    let sidecar = r#"{"frequency_hz": 3.5e9, "tx_m": [1.0, 2.0, 30.0], "quantity": "power_dbm", "source": "fuzz"}"#;
    let mut measurement_seeds = vec![csv.as_bytes().to_vec(), format!("{csv}\0{sidecar}").into_bytes()];
    let points: Vec<rme_core::Measurement> = (0..40)
        .map(|i| rme_core::Measurement { x_m: i as f64 * 1.5, y_m: (i % 7) as f64, t_s: 0.0, freq_hz: f64::NAN, value: -50.0 - i as f64 })
        .collect();
    measurement_seeds.push(write_measurements(&rme_core::MeasurementSet::from_points(points)).into_bytes());
    let queries = "x_m,y_m,t_s,freq_hz\n0,0,0,3.5e9\n5,5,0,3.5e9\n-1.5,2e3,10,\n";

    let npy_f32 = write_npy_f32(&[2, 3], &[1.0, -2.5, 3.0, f32::MIN_POSITIVE, 0.0, 7.0]);
    let npy_u8 = write_npy_u8(&[2, 2], &[0, 1, 1, 0]);
    let index = r#"{"format":"rme-mapset/1","source":"fuzz","maps":[{"id":"a","shape":[1,1,2,3],"cell_size_m":2.0,"origin_m":[0,0],"quantity":"power_dbm","values":"maps/a.npy","buildings":"scenes/b.npy","tx":[{"position_m":[1,2,3],"power_dbm":20}],"slots_s":[0],"bands_hz":[3.5e9]}]}"#;
    let index_plain = r#"{"format":"rme-mapset/1","maps":[{"id":"b","shape":[2,3],"cell_size_m":1,"origin_m":[5,5],"quantity":"path_gain_db","values":"v.npy"}]}"#;
    let mask = write_npy_u8(&[2, 3], &[0, 1, 0, 0, 0, 1]);

    let (weights, manifest) = tiny_shipped();
    let manifest_text = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
    let state = br#"{"step": 3, "seconds": 12.5, "model_sha256": "", "optimizer_sha256": ""}"#.to_vec();

    vec![
        Target {
            name: "measurement CSV + sidecar",
            seeds: measurement_seeds,
            parse: Box::new(|b| {
                let (csv, sidecar) = csv_and_sidecar(b);
                let sidecar = match sidecar.map(|s| parse_sidecar(&s, "m.json")) {
                    Some(Ok(s)) => Some(s),
                    Some(Err(_)) => return false,
                    None => None,
                };
                read_measurements(&csv, "m.csv", sidecar.as_ref()).is_ok()
            }),
        },
        Target {
            name: "query CSV",
            seeds: vec![queries.as_bytes().to_vec()],
            parse: Box::new(|b| read_queries(&text(b), "q.csv").is_ok()),
        },
        Target { name: "npy", seeds: vec![npy_f32.clone(), npy_u8], parse: Box::new(|b| read_npy(b, "a.npy").is_ok()) },
        Target {
            name: "map-set index",
            seeds: vec![index.as_bytes().to_vec(), index_plain.as_bytes().to_vec()],
            parse: Box::new(move |b| {
                let mut load = |p: &str| -> rme_core::Result<Vec<u8>> {
                    match p {
                        "maps/a.npy" | "v.npy" => Ok(npy_f32.clone()),
                        "scenes/b.npy" => Ok(mask.clone()),
                        other => Err(RmeError::parse(other, None, "no such file")),
                    }
                };
                read_mapset(&text(b), "index.json", None, &mut load).is_ok()
            }),
        },
        Target {
            name: "weights manifest",
            seeds: vec![manifest_text],
            parse: Box::new(move |b| {
                let Ok(m) = Manifest::parse(&text(b), "manifest.json") else { return false };
                let config_ok = if m.kind == "fm-rme" {
                    configs_of(&m, "manifest.json").is_ok()
                } else {
                    GridNetConfig::from_json(&m.kind, &m.config, "manifest.json").is_ok()
                };
                config_ok && check_manifest(&m, &m.kind, &weights, "model.bpk").is_ok()
            }),
        },
        Target { name: "checkpoint state", seeds: vec![state], parse: Box::new(|b| State::parse(b, "state.json", 10).is_ok()) },
    ]
}

/// A small shipped model (a RadioUNet of two levels) and its manifest: the manifest
/// target's seed, and the bytes its parse checks against.
fn tiny_shipped() -> (Vec<u8>, Manifest) {
    let cfg = rme_core::models::radiounet::RadioUnetConfig::new().with_first_channels(vec![2, 4]).with_second_channels(vec![2]);
    let json = GridNetConfig::RadioUnet(cfg.clone()).to_json();
    let model = cfg.init(&burn::tensor::Device::flex());
    rme_core::models::weights::shipped(&model, "fuzz-radiounet", "radiounet", json.clone(), None)
        .unwrap_or_else(|_| (Vec::new(), Manifest::describing("x", "radiounet", json, 0, &[])))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The short run: every parser, [`SHORT_RUN`] inputs, no panic and no hang.
    #[test]
    fn parsers_survive_mutated_inputs() {
        for target in targets() {
            let f = run(&target, SHORT_RUN, 1, 0);
            assert!(f.panics.is_empty(), "{}: {} panics, e.g. {:?}", target.name, f.panics.len(), String::from_utf8_lossy(&f.panics[0]));
            assert!(f.hangs.is_empty(), "{}: {} inputs over {HANG:?}", target.name, f.hangs.len());
            // The seeds parse, so the run reaches past the first checks.
            assert!(f.accepted >= target.seeds.len(), "{}: {} accepted", target.name, f.accepted);
        }
    }

    /// The harness finds what it is for: a parser that panics on some input is caught, and
    /// the input is kept.
    #[test]
    fn a_panicking_parser_is_caught() {
        let target = Target {
            name: "indexes its input",
            seeds: vec![b"abc".to_vec()],
            parse: Box::new(|b| {
                assert!(b.len() >= 3, "short input");
                true
            }),
        };
        let f = run(&target, 500, 2, 0);
        assert!(!f.panics.is_empty() && f.panics.iter().all(|p| p.len() < 3));
    }

    /// The long run (`scripts/fuzz.sh`): `RME_FUZZ_INPUTS` inputs per parser (1 M by
    /// default) from seed `RME_FUZZ_SEED`; writes the measurement parser's 20 slowest
    /// rejected inputs to `RME_FUZZ_WORST` when set.
    #[test]
    #[ignore = "long: run by scripts/fuzz.sh"]
    fn long_run() {
        let inputs: usize = std::env::var("RME_FUZZ_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
        let seed: u64 = std::env::var("RME_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
        let mut failed = Vec::new();
        for target in targets() {
            let started = Instant::now();
            let keep = if target.name.starts_with("measurement") { 20 } else { 0 };
            let f = run(&target, inputs, seed, keep);
            eprintln!(
                "{:<26} {:>9} inputs  {:>8} accepted  {} panics  {} hangs  longest {:.1} ms  {:.0} s",
                target.name,
                f.inputs,
                f.accepted,
                f.panics.len(),
                f.hangs.len(),
                f.longest.as_secs_f64() * 1e3,
                started.elapsed().as_secs_f64()
            );
            if let Ok(dir) = std::env::var("RME_FUZZ_WORST")
                && keep > 0
            {
                let dir = std::path::Path::new(&dir);
                std::fs::create_dir_all(dir).unwrap();
                for (i, (_, input)) in f.slowest_rejected.iter().enumerate() {
                    let (csv, _) = csv_and_sidecar(input);
                    std::fs::write(dir.join(format!("worst-{i:02}.csv")), csv).unwrap();
                }
            }
            if !f.panics.is_empty() || !f.hangs.is_empty() {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-findings");
                std::fs::create_dir_all(&dir).unwrap();
                for (i, p) in f.panics.iter().chain(f.hangs.iter().map(|h| &h.0)).enumerate().take(50) {
                    std::fs::write(dir.join(format!("{}-{i}", target.name.replace(' ', "_"))), p).unwrap();
                }
                failed.push(target.name);
            }
        }
        assert!(failed.is_empty(), "findings in {failed:?}: see target/fuzz-findings/");
    }
}
