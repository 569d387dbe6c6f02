//! End-to-end tests of the `rme` binary: simulate → eval, the shipped real and ray-traced data,
//! estimate outputs, reproducibility, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rme(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rme")).args(args).output().expect("the rme binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = rme(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rme {args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The repository's `data/` (real and ray-traced sets shipped with it, see data/README.md).
fn repo_data() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data");
    assert!(p.is_dir(), "{} is missing: the tests read the repository's real and ray-traced data", p.display());
    p
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Trains a run whole into `whole` and in two parts into `parts` (stopped after step 3, then
/// resumed), and checks that both curves hold the same `steps` losses.
fn assert_resume_is_exact(args: &dyn Fn(&Path, &[&str]) -> Vec<String>, whole: &Path, parts: &Path, steps: usize) {
    let call = |v: Vec<String>| ok(&v.iter().map(String::as_str).collect::<Vec<_>>());
    call(args(whole, &[]));
    call(args(parts, &["--stop-after", "3"]));
    call(args(parts, &["--resume"]));
    let losses = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p.join("curve.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(losses(whole).len(), steps);
    assert_eq!(losses(whole), losses(parts));
}

/// The RMSE column of a method's row at a fraction in an eval table.
fn rmse(table: &str, method: &str, fraction: &str) -> f64 {
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("| {method} | {fraction} |")))
        .unwrap_or_else(|| panic!("no row for {method} at {fraction} in\n{table}"));
    let cells: Vec<&str> = row.split('|').map(|c| c.trim()).collect();
    cells[3].parse().unwrap_or_else(|_| panic!("RMSE of {method} is not a number: {row}"))
}

#[test]
fn simulated_d7_is_read_back_by_eval_and_the_oracle_is_best() {
    let dir = scratch("d7");
    let d = dir.to_str().unwrap();
    ok(&["simulate", "--preset", "D7", "--count", "1", "--seed", "3", "--out", d]);
    assert!(dir.join("preview.png").is_file());
    let table = ok(&[
        "eval",
        "--mapset",
        d,
        "--methods",
        "idw,kriging,oracle",
        "--fractions",
        "0.1",
        "--seed",
        "1",
        "--slices",
        "1",
        "--out",
        dir.join("table").to_str().unwrap(),
    ]);
    let (idw, krig, oracle) = (rmse(&table, "idw", "0.1"), rmse(&table, "kriging", "0.1"), rmse(&table, "oracle", "0.1"));
    assert!(idw > 0.0 && krig > 0.0 && oracle > 0.0);
    // Fixed seeds: the oracle (true mean and covariance) must beat the data-only methods.
    assert!(oracle < krig && oracle < idw, "oracle {oracle}, kriging {krig}, idw {idw}");
    let csv = std::fs::read_to_string(dir.join("table.csv")).unwrap();
    assert!(csv.contains("# seed: 1") && csv.contains("# commit:") && csv.contains("# machine:"));
}

#[test]
fn same_seed_gives_identical_files() {
    let (a, b) = (scratch("same-a"), scratch("same-b"));
    for d in [&a, &b] {
        ok(&["simulate", "--preset", "D1", "--count", "2", "--seed", "9", "--out", d.to_str().unwrap()]);
    }
    for rel in ["index.json", "maps/D1_seed9_00000.npy", "maps/D1_seed9_00001.npy", "preview.png"] {
        assert_eq!(std::fs::read(a.join(rel)).unwrap(), std::fs::read(b.join(rel)).unwrap(), "{rel} differs");
    }
    let c = scratch("same-c");
    ok(&["simulate", "--preset", "D1", "--count", "1", "--seed", "10", "--out", c.to_str().unwrap()]);
    assert_ne!(std::fs::read(a.join("maps/D1_seed9_00000.npy")).unwrap(), std::fs::read(c.join("maps/D1_seed10_00000.npy")).unwrap());
}

#[test]
fn eval_reads_the_ray_traced_sionna_maps() {
    let sionna = repo_data().join("sionna-dev");
    let table = ok(&[
        "eval",
        "--mapset",
        sionna.to_str().unwrap(),
        "--methods",
        "idw,universal-kriging,oracle",
        "--fractions",
        "0.1",
        "--limit",
        "2",
        "--seed",
        "2",
    ]);
    let uk = rmse(&table, "universal-kriging", "0.1");
    assert!(uk > 0.5 && uk < 20.0, "universal kriging RMSE {uk} dB on ray-traced maps");
    // No simulator model in ray-traced data: the oracle row says why instead of failing.
    assert!(table.contains("| oracle | 0.1 | n/a"), "{table}");
}

#[test]
fn eval_runs_on_real_measurements() {
    let file = repo_data().join("real-dev/usrp-918mhz-000.csv");
    let table =
        ok(&["eval", "--measurements", file.to_str().unwrap(), "--methods", "idw,ldpl,kriging", "--fractions", "0.1", "--seed", "1"]);
    for m in ["idw", "ldpl", "kriging"] {
        let row = table.lines().find(|l| l.contains(&format!("| {m} | 0.1 |"))).unwrap_or_else(|| panic!("{table}"));
        let rmse: f64 = row.split('|').map(|c| c.trim()).nth(6).unwrap().parse().unwrap();
        assert!(rmse > 0.1 && rmse < 20.0, "{m}: {rmse}");
    }
    // The reader's report of repeated positions reaches the table's notes.
    assert!(table.contains("averaged"), "{table}");
}

/// Over a folder, `rme eval --measurements` adds the mean over every file and over each
/// campaign of several files (names alike but for their numbers), not over a lone file.
#[test]
fn eval_over_a_folder_averages_every_file_and_each_campaign() {
    let dir = scratch("eval-campaigns");
    for name in ["usrp-918mhz-000", "usrp-918mhz-001", "lte-mabia-000-rsrp"] {
        for ext in ["csv", "json"] {
            std::fs::copy(repo_data().join(format!("real-dev/{name}.{ext}")), dir.join(format!("{name}.{ext}"))).unwrap();
        }
    }
    let table = ok(&["eval", "--measurements", dir.to_str().unwrap(), "--methods", "idw", "--fractions", "0.1", "--seed", "1"]);
    let rmse_of = |first_cell: &str| -> f64 {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| {first_cell} | idw | 0.1 |")))
            .unwrap_or_else(|| panic!("no {first_cell} row: {table}"));
        row.split('|').map(|c| c.trim()).nth(6).unwrap().parse().unwrap()
    };
    let (a, b, c) = (rmse_of("usrp-918mhz-000.csv"), rmse_of("usrp-918mhz-001.csv"), rmse_of("lte-mabia-000-rsrp.csv"));
    assert!((rmse_of("mean of 2 usrp-918mhz files") - (a + b) / 2.0).abs() <= 0.011, "{table}");
    assert!((rmse_of("mean of 3 files") - (a + b + c) / 3.0).abs() <= 0.011, "{table}");
    assert!(!table.contains("lte-mabia-rsrp files"), "a campaign of one file is not averaged: {table}");
}

#[test]
fn estimate_writes_csv_npy_png_and_world_file() {
    let dir = scratch("estimate");
    let file = repo_data().join("real-dev/usrp-918mhz-003.csv");
    let f = file.to_str().unwrap();
    let out = |n: &str| dir.join(n).to_str().unwrap().to_string();
    ok(&[
        "estimate",
        "--measurements",
        f,
        "--grid-from",
        f,
        "--cell",
        "2",
        "--method",
        "kriging",
        "--out",
        &out("est.csv"),
        &out("est.npy"),
        &out("est.png"),
    ]);
    let csv = std::fs::read_to_string(dir.join("est.csv")).unwrap();
    assert!(csv.starts_with("x_m,y_m,freq_hz,power_db,std_db\n"), "{}", &csv[..80.min(csv.len())]);
    let npy = std::fs::read(dir.join("est.npy")).unwrap();
    assert!(npy.starts_with(b"\x93NUMPY"));
    assert!(std::fs::read(dir.join("est.png")).unwrap().starts_with(b"\x89PNG"));
    assert!(dir.join("est_std.png").is_file() && dir.join("est.pgw").is_file() && dir.join("est_std.npy").is_file());
    // Query file path.
    std::fs::write(dir.join("q.csv"), "x_m,y_m\n10,10\n20,30\n").unwrap();
    ok(&["estimate", "--measurements", f, "--query", &out("q.csv"), "--method", "idw", "--out", &out("q_est.csv")]);
    assert_eq!(std::fs::read_to_string(dir.join("q_est.csv")).unwrap().lines().count(), 3);
}

#[test]
fn bad_input_gives_a_clear_error_and_no_panic() {
    let dir = scratch("bad");
    let cases: [(&str, &str, &[&str]); 4] = [
        ("nan.csv", "x_m,y_m,power_dbm\n0,0,-50\n1,1,nan\n2,2,-52\n", &["line 3"]),
        ("cols.csv", "x,y,power\n0,0,-50\n", &["missing column 'x_m'"]),
        ("empty.csv", "", &["empty"]),
        ("two.csv", "x_m,y_m,power_dbm\n0,0,-50\n1,1,-51\n", &["at least"]),
    ];
    for (name, text, expected) in cases {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        let out = rme(&[
            "estimate",
            "--measurements",
            p.to_str().unwrap(),
            "--grid-from",
            p.to_str().unwrap(),
            "--out",
            dir.join("o.csv").to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name} panicked: {err}");
        for e in expected {
            assert!(err.contains(e), "{name}: expected '{e}' in: {err}");
        }
    }
    // A truncated map array in a map set.
    let set = scratch("bad-set");
    ok(&["simulate", "--preset", "D1", "--count", "1", "--seed", "1", "--out", set.to_str().unwrap()]);
    let npy = set.join("maps/D1_seed1_00000.npy");
    let bytes = std::fs::read(&npy).unwrap();
    std::fs::write(&npy, &bytes[..bytes.len() / 2]).unwrap();
    let out = rme(&["eval", "--mapset", set.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("truncated") && err.contains("D1_seed1_00000.npy"), "{err}");
    // Unknown preset and method.
    let out = rme(&["simulate", "--preset", "D9", "--out", dir.join("x").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("D9"));
    // An unknown suite table is named before anything is simulated.
    let out = rme(&["eval", "fm-rme", "--suite", "paper", "--tables", "spatial,spectrl"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("'spectrl'") && err.contains("temporal"), "{err}");
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["simulate", "estimate", "eval", "bench", "demo"] {
        let text = ok(&[sub, "--help"]);
        assert!(text.contains("Usage: rme"), "{sub}: {text}");
    }
}

/// A run killed with SIGKILL mid-way and resumed reaches the same step count, with every step
/// in the curve exactly once, and the steps recomputed after the checkpoint equal the ones the
/// killed run had logged (the data order and optimizer state are restored exactly).
#[test]
fn training_survives_sigkill_and_resumes_exactly() {
    let dir = scratch("resume");
    let out = dir.join("run");
    let args = |resume: bool| {
        let mut v: Vec<String> = [
            "train",
            "fm-rme",
            "--config",
            "tiny",
            "--presets",
            "D1",
            "--steps",
            "150",
            "--batch",
            "3",
            "--pool",
            "1",
            "--max-visible",
            "32",
            "--max-queries",
            "16",
            "--checkpoint-every",
            "20",
            "--val-every",
            "50",
            "--warmup",
            "5",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if resume {
            v.push("--resume".into());
        }
        v
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_rme")).args(args(false)).spawn().unwrap();
    let state = out.join("checkpoint/state.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let step =
            std::fs::read_to_string(&state).ok().and_then(|s| s.split("\"step\":").nth(1)?.split(',').next()?.trim().parse::<u64>().ok());
        if step.is_some_and(|s| s >= 40) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint at step 40 within 2 minutes");
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // SIGKILL: no chance to clean up.
    Command::new("kill").args(["-9", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    let before = std::fs::read_to_string(out.join("curve.csv")).unwrap();
    ok(&args(true).iter().map(|s| s.as_str()).collect::<Vec<_>>());
    let after = std::fs::read_to_string(out.join("curve.csv")).unwrap();
    let steps: Vec<u64> = after.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(steps, (1..=150).collect::<Vec<u64>>(), "every step exactly once");
    let loss_at = |text: &str, step: u64| -> Option<f64> {
        text.lines().skip(1).find(|l| l.starts_with(&format!("{step},"))).map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
    };
    let logged: Vec<u64> = before.lines().skip(1).filter_map(|l| l.split(',').next()?.parse().ok()).collect();
    let last_logged = *logged.last().unwrap();
    assert!(last_logged >= 40);
    for step in 1..=last_logged {
        let (a, b) = (loss_at(&before, step).unwrap(), loss_at(&after, step).unwrap());
        assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "step {step}: {a} before the kill, {b} after resuming");
    }
    assert!(out.join("model.bpk").is_file() && out.join("curve.png").is_file());
}

/// `rme simulate --urban`: a map set with buildings and transmitters and a preview, the same
/// bytes for the same seed; bad arguments are named.
#[test]
fn urban_simulation_writes_a_reproducible_map_set() {
    let dir = scratch("urban-sim");
    let run = |name: &str| {
        let out = dir.join(name);
        ok(&[
            "simulate",
            "--urban",
            "--size",
            "64",
            "--split",
            "test",
            "--cities",
            "2",
            "--count",
            "2",
            "--seed",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]);
        out
    };
    let (a, b) = (run("a"), run("b"));
    let index = std::fs::read_to_string(a.join("index.json")).unwrap();
    assert!(index.contains("\"buildings\"") && index.contains("\"path_gain_db\"") && index.contains("\"tx\""), "{index}");
    assert_eq!(std::fs::read(a.join("preview.png")).unwrap(), std::fs::read(b.join("preview.png")).unwrap());
    for entry in std::fs::read_dir(a.join("maps")).unwrap() {
        let name = entry.unwrap().file_name();
        assert_eq!(std::fs::read(a.join("maps").join(&name)).unwrap(), std::fs::read(b.join("maps").join(&name)).unwrap(), "{name:?}");
    }
    // Two cities: two building masks, shared by their maps.
    assert_eq!(std::fs::read_dir(a.join("scenes")).unwrap().count(), 2);
    // The maps are read back by the common reader.
    let table = ok(&["eval", "--mapset", a.to_str().unwrap(), "--methods", "idw", "--fractions", "0.1"]);
    assert!(table.contains("| idw |"), "{table}");
    for (args, needle) in [
        (vec!["simulate", "--urban", "--size", "8", "--out", "x"], "urban map size"),
        (vec!["simulate", "--urban", "--split", "holdout", "--out", "x"], "holdout"),
    ] {
        let out = rme(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(needle) && !err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A grid model's run stopped mid-way and resumed logs exactly the losses of an uninterrupted
/// run (the batches and the optimizer state are restored exactly), and exports in the shipped
/// form, which the urban suite then evaluates beside kriging.
#[test]
fn grid_training_resumes_exactly_and_exports() {
    let dir = scratch("grid-train");
    let args = |out: &Path, extra: &[&str]| {
        let mut v: Vec<String> = [
            "train",
            "autoencoder",
            "--config",
            "small",
            "--size",
            "32",
            "--cities",
            "1",
            "--maps-per-city",
            "2",
            "--steps",
            "6",
            "--batch",
            "2",
            "--lr",
            "1e-3",
            "--warmup",
            "2",
            "--checkpoint-every",
            "2",
            "--val-every",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    assert_resume_is_exact(&args, &whole, &parts, 6);
    // Resuming with other arguments is refused.
    let changed = args(&parts, &["--resume", "--tx-known-share", "0.9"]);
    let out = rme(&changed.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("differ"));
    // Export, then the urban suite with the exported model beside kriging.
    let models = dir.join("models");
    ok(&["export", "--run", whole.to_str().unwrap(), "--name", "ae-test", "--out", models.to_str().unwrap()]);
    let manifest = std::fs::read_to_string(models.join("ae-test/manifest.json")).unwrap();
    assert!(manifest.contains("\"kind\": \"autoencoder\""), "{manifest}");
    let md = ok(&[
        "eval",
        "--suite",
        "urban",
        "--size",
        "32",
        "--cities",
        "1",
        "--maps-per-city",
        "1",
        "--methods",
        "kriging,ae-test",
        "--models",
        models.to_str().unwrap(),
    ]);
    assert_eq!(md.matches("## Urban").count(), 6, "{md}");
    assert!(md.contains("| ae-test | ") && md.contains("| kriging | "), "{md}");
    assert!(!md.contains("n/a"), "{md}");
}

#[test]
fn the_radiodun_suite_trains_reuses_its_runs_and_counts_the_compute() {
    // Table I with the shipped weights on one test map; table VI with K = 2 … 5 trained for
    // one step each at 32² (the machinery, not the accuracy: `rme eval --suite radiodun` with
    // its default budget makes the real tables).
    let dir = scratch("radiodun-suite");
    let runs = dir.join("runs");
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static/models");
    let args = [
        "eval",
        "--suite",
        "radiodun",
        "--tables",
        "I,VI",
        "--cities",
        "1",
        "--maps-per-city",
        "1",
        "--methods",
        "kriging,radiodun-small",
        "--train-size",
        "32",
        "--train-steps",
        "1",
        "--runs",
        runs.to_str().unwrap(),
        "--models",
        models.to_str().unwrap(),
    ];
    let first = rme(&args);
    let md = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(md.contains("Table I: 9 samples, transmitter known") && md.contains("Table I: 9 samples, transmitter unknown"), "{md}");
    assert!(md.lines().any(|l| l.starts_with("| radiodun-small | ")), "{md}");
    // K = 2 … 5 with their parameter counts (the small preset has 617 644 at K = 3).
    for k in ["| 2 | 412133 |", "| 3 | 617644 |", "| 4 | 823155 |", "| 5 | 1028666 |"] {
        assert!(md.contains(k), "no row {k} in\n{md}");
    }
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 4);
    // A second run reuses the four finished runs and gives the same table VI.
    let second = rme(&args);
    assert!(String::from_utf8_lossy(&second.stderr).matches("reusing the finished run").count() == 4);
    let table_six = |s: &str| s[s.find("| K |").unwrap()..].lines().filter(|l| l.starts_with("| ")).map(String::from).collect::<Vec<_>>();
    assert_eq!(table_six(&md), table_six(&String::from_utf8_lossy(&second.stdout)));
    // A table that does not exist is named.
    let bad = rme(&["eval", "--suite", "radiodun", "--tables", "VII"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("unknown table 'VII'"));
}

/// `rme export --restamp DIR --max-visible N --denoise B` stores another context budget and
/// denoising setting in FM-RME weights (the tensors unchanged: they still reproduce the stored
/// check), adds the notes, and is refused for a grid model's weights.
#[test]
fn restamp_stores_another_context_budget() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static/models");
    let dir = scratch("restamp-budget");
    let copy = |name: &str| {
        let to = dir.join(name);
        std::fs::create_dir_all(&to).unwrap();
        for f in ["manifest.json", "model.bpk", "check.json"] {
            std::fs::copy(root.join(name).join(f), to.join(f)).unwrap();
        }
        to
    };
    let fm = copy("fm-rme-small");
    let was: serde_json::Value = serde_json::from_slice(&std::fs::read(fm.join("manifest.json")).unwrap()).unwrap();
    let denoise = !was["context"]["denoise"].as_bool().unwrap_or(false);
    ok(&[
        "export",
        "--restamp",
        fm.to_str().unwrap(),
        "--max-visible",
        "500",
        "--denoise",
        &denoise.to_string(),
        "--notes",
        "budget 500: test",
    ]);
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(fm.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["context"]["max_visible"], 500);
    assert_eq!(manifest["context"]["denoise"], denoise);
    assert!(manifest["notes"].as_str().unwrap().ends_with("budget 500: test"), "{}", manifest["notes"]);
    // The rewritten weights load (stamp and manifest agree) and estimate.
    let csv = repo_data().join("real-dev/usrp-918mhz-000.csv");
    let out = dir.join("est.csv");
    let (csv, out) = (csv.to_str().unwrap(), out.to_str().unwrap());
    ok(&[
        "estimate",
        "--measurements",
        csv,
        "--method",
        "fm-rme",
        "--weights",
        fm.to_str().unwrap(),
        "--grid-from",
        csv,
        "--cell",
        "10",
        "--out",
        out,
    ]);
    assert!(std::fs::read_to_string(out).unwrap().lines().count() > 10);
    let grid = copy("radiodun-small");
    let err = rme(&["export", "--restamp", grid.to_str().unwrap(), "--max-visible", "500"]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("FM-RME setting"), "{}", String::from_utf8_lossy(&err.stderr));
}

#[test]
fn storm_trains_resumes_exactly_exports_and_estimates_with_sigma() {
    let dir = scratch("storm-train");
    let args = |out: &Path, extra: &[&str]| {
        let mut v: Vec<String> = [
            "train",
            "storm",
            "--config",
            "tiny",
            "--presets",
            "D1",
            "--pool",
            "1",
            "--urban-maps",
            "1",
            "--steps",
            "6",
            "--batch",
            "2",
            "--queries",
            "4",
            "--warmup",
            "2",
            "--checkpoint-every",
            "2",
            "--val-every",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    assert_resume_is_exact(&args, &whole, &parts, 6);
    let models = dir.join("models");
    ok(&["export", "--run", whole.to_str().unwrap(), "--name", "storm-test", "--out", models.to_str().unwrap()]);
    let manifest = std::fs::read_to_string(models.join("storm-test/manifest.json")).unwrap();
    assert!(manifest.contains("\"kind\": \"storm\"") && models.join("storm-test/check.json").is_file(), "{manifest}");
    // The shipped STORM (static/models/storm-small, found from the repository's root as the
    // page and the docs run it) estimates a real file's points, with σ.
    let file = repo_data().join("real-dev/usrp-918mhz-003.csv");
    std::fs::write(dir.join("q.csv"), "x_m,y_m\n10,10\n20,30\n31.5,12.25\n").unwrap();
    let (q, est) = (dir.join("q.csv"), dir.join("q_est.csv"));
    let out = Command::new(env!("CARGO_BIN_EXE_rme"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(["estimate", "--measurements", file.to_str().unwrap(), "--query", q.to_str().unwrap(), "--method", "storm"])
        .args(["--out", est.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&est).unwrap();
    let rows: Vec<Vec<f64>> = text.lines().skip(1).map(|l| l.split(',').map(|c| c.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows.iter().all(|r| r[2] > 40.0 && r[2] < 110.0 && r[3] > 0.0), "{text}");
}
