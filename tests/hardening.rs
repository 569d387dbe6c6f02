//! Hostile and broken inputs to the `rme` binary (the hardening issue's eleven findings, one
//! test each): every one ends in a clear error naming the thing (exit 1, never a panic's 101
//! or an abort), leaves existing files as they were, and writes nothing half-made.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test: this build's, or `RME_BIN` (to show that each test fails on an
/// older build).
fn bin() -> String {
    std::env::var("RME_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rme").to_string())
}

fn rme(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().expect("the rme binary runs")
}

fn ok(args: &[&str]) -> Output {
    let out = rme(args);
    assert!(out.status.success(), "rme {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs `rme args`, expects exit code 1 (a handled error) and returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = rme(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    // clap's usage errors exit 2; handled errors 1; a panic 101; an abort 134.
    let code = out.status.code();
    assert!(matches!(code, Some(1) | Some(2)), "rme {args:?} exited {code:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "rme {args:?} panicked: {stderr}");
    stderr
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hardening").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small measurement file (a slope over a 40 m square) and its path.
fn measurements(dir: &Path) -> PathBuf {
    let mut text = String::from("x_m,y_m,power_dbm\n");
    for i in 0..40 {
        let (x, y) = ((i % 7) as f64 * 6.0, (i / 7) as f64 * 7.0);
        text.push_str(&format!("{x},{y},{}\n", -60.0 - 0.3 * x - 0.1 * y));
    }
    let p = dir.join("m.csv");
    std::fs::write(&p, text).unwrap();
    p
}

const TINY_TRAIN: [&str; 11] = ["train", "fm-rme", "--config", "tiny", "--steps", "3", "--batch", "3", "--pool", "1", "--presets"];

fn tiny_train(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = TINY_TRAIN.iter().map(|s| s.to_string()).collect();
    v.extend(["D1", "--val-every", "1", "--checkpoint-every", "1", "--out", s(out)].map(String::from));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// 1. An empty preset list was an index-out-of-bounds panic that left a half-made run folder.
#[test]
fn empty_lists_are_refused_before_anything_is_made() {
    let dir = scratch("1");
    for presets in ["", ","] {
        let out = dir.join("t2");
        let mut v: Vec<&str> = TINY_TRAIN.to_vec();
        v.extend([presets, "--out", s(&out)]);
        let e = fails(&v);
        assert!(e.contains("--presets"), "{e}");
        assert!(!out.exists(), "a run folder was made for a refused run");
    }
    let e = fails(&["eval", "--measurements", "x.csv", "--methods", "idw,,kriging"]);
    assert!(e.contains("--methods") && e.contains("empty item"), "{e}");
}

/// 2. Two trainings into one folder interleaved their curves; now the second is refused by
///    the folder's lock, naming the holder, and a lock left by a dead process is taken over.
#[test]
fn one_trainer_per_run_folder() {
    let dir = scratch("2");
    // Two at the same moment: exactly one runs, the other is refused by the lock.
    let out = dir.join("both");
    let spawn = || Command::new(bin()).args(args(&tiny_train(&out, &[]))).output();
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(spawn);
        let b = sc.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    let results = [a, b];
    let succeeded = results.iter().filter(|o| o.status.success()).count();
    let refused: Vec<String> =
        results.iter().filter(|o| !o.status.success()).map(|o| String::from_utf8_lossy(&o.stderr).to_string()).collect();
    assert!(succeeded >= 1, "neither run finished: {refused:?}");
    for e in &refused {
        assert!(e.contains("in use by another rme") || e.contains("already holds a run"), "{e}");
    }
    let curve = std::fs::read_to_string(out.join("curve.csv")).unwrap();
    let rows: Vec<&str> = curve.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{curve}");
    for (i, r) in rows.iter().enumerate() {
        assert!(r.starts_with(&format!("{},", i + 1)), "row {i}: {r}\n{curve}");
    }
    assert!(!out.join(".lock").exists(), "the lock outlived its run");

    // A lock held by a live process (this test) refuses; one left by a dead one is taken over.
    let held = dir.join("held");
    std::fs::create_dir_all(&held).unwrap();
    std::fs::write(held.join(".lock"), std::process::id().to_string()).unwrap();
    let e = fails(&args(&tiny_train(&held, &[])));
    assert!(e.contains(&format!("pid {}", std::process::id())) && e.contains(".lock"), "{e}");
    let mut gone = Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(held.join(".lock"), dead_pid.to_string()).unwrap();
    ok(&args(&tiny_train(&held, &[])));
}

/// 3. A command with several outputs replaced the first before failing on the second.
#[test]
fn outputs_are_all_or_nothing() {
    let dir = scratch("3");
    let m = measurements(&dir);
    let (o_csv, o_txt) = (dir.join("o.csv"), dir.join("o.txt"));
    std::fs::write(&o_csv, "SENTINEL").unwrap();
    let e = fails(&["estimate", "--measurements", s(&m), "--query", s(&m), "--out", s(&o_csv), s(&o_txt)]);
    assert!(e.contains("o.txt") && e.contains("unknown output type"), "{e}");
    assert_eq!(std::fs::read_to_string(&o_csv).unwrap(), "SENTINEL");
    // The second output's write fails (its folder is a file): the first is untouched and no
    // temporary is left behind.
    std::fs::write(dir.join("blocker"), "").unwrap();
    let blocked = dir.join("blocker/o.npy");
    fails(&["estimate", "--measurements", s(&m), "--grid-from", s(&m), "--out", s(&o_csv), s(&blocked)]);
    assert_eq!(std::fs::read_to_string(&o_csv).unwrap(), "SENTINEL");
    let partial: Vec<_> =
        std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains("partial")).collect();
    assert!(partial.is_empty(), "{partial:?}");
    // And when every output can be written, all are.
    ok(&["estimate", "--measurements", s(&m), "--grid-from", s(&m), "--out", s(&o_csv), s(&dir.join("o.npy"))]);
    assert!(std::fs::read_to_string(&o_csv).unwrap().starts_with("x_m"));
    assert!(dir.join("o.npy").is_file());
}

/// Peak resident memory of `rme simulate`, MB, as it reports it (Linux: its own `VmHWM`; a
/// child's `wait4` figure would include the memory of this test process, which it forked from).
fn simulate_peak_mb(args: &[&str]) -> u64 {
    let out = ok(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail = stderr.split("peak memory ").nth(1).unwrap_or_else(|| panic!("no peak memory in: {stderr}"));
    tail.split(' ').next().unwrap().parse().unwrap()
}

/// 4. Simulation kept every sample in memory (1 000 samples: 975 MB; 10⁸ aborted). Now each
///    is written as it is drawn: ten times the samples, about the same memory.
#[cfg(target_os = "linux")]
#[test]
fn simulation_memory_does_not_grow_with_count() {
    let dir = scratch("4");
    let few = simulate_peak_mb(&["simulate", "--preset", "D1", "--count", "4", "--out", s(&dir.join("few"))]);
    let many = simulate_peak_mb(&["simulate", "--preset", "D1", "--count", "40", "--out", s(&dir.join("many"))]);
    // Each D1 sample is 0.5 MB of values (1 MB with its file bytes): kept, 36 more would add
    // over 18 MB.
    assert!(many < few + 8, "peak memory {few} MB for 4 samples, {many} MB for 40");
    let index = std::fs::read_to_string(dir.join("many/index.json")).unwrap();
    assert_eq!(index.matches("\"id\"").count(), 40);
    // A count no disk holds is refused at once, before anything is written.
    let e = fails(&["simulate", "--preset", "D1", "--count", "100000000", "--out", s(&dir.join("huge"))]);
    assert!(e.contains("--count 100000000") && e.contains("GB free"), "{e}");
    assert!(!dir.join("huge").exists());
}

/// 5. Far-away points gave NaN or -inf with exit 0, or "shape 11x0 has no cells".
#[test]
fn non_finite_and_far_inputs_are_errors_naming_the_point() {
    let dir = scratch("5");
    let m = measurements(&dir);
    let q = dir.join("q.csv");
    std::fs::write(&q, "x_m,y_m\n1,2\n1e38,5\n").unwrap();
    let out = dir.join("o.csv");
    for method in ["idw", "ldpl", "kriging"] {
        let e = fails(&["estimate", "--measurements", s(&m), "--query", s(&q), "--method", method, "--out", s(&out)]);
        assert!(e.contains("q.csv line 3") && e.contains("x_m"), "{method}: {e}");
    }
    assert!(!out.exists());
    let far = dir.join("far.csv");
    std::fs::write(&far, "x_m,y_m,power_dbm\n0,0,-60\n1e300,5,-70\n3,4,-65\n").unwrap();
    let e = fails(&["estimate", "--measurements", s(&far), "--grid-from", s(&far), "--out", s(&out)]);
    assert!(e.contains("far.csv line 3") && e.contains("out-of-range"), "{e}");
}

/// A finished tiny run folder with a checkpoint at step 1 of 3.
fn stopped_run(dir: &Path) -> PathBuf {
    let out = dir.join("run");
    ok(&args(&tiny_train(&out, &["--stop-after", "1"])));
    assert!(out.join("checkpoint/state.json").is_file());
    out
}

/// 6. Damaged checkpoints were resumed from, edited manifests loaded, check.json ignored.
#[test]
fn checkpoints_and_shipped_weights_are_verified() {
    let dir = scratch("6");
    let out = stopped_run(&dir);
    let resume = tiny_train(&out, &["--resume"]);
    let model = out.join("checkpoint/model.bpk");
    let original = std::fs::read(&model).unwrap();
    let mut flipped = original.clone();
    let n = flipped.len();
    flipped[n / 2] ^= 1;
    std::fs::write(&model, &flipped).unwrap();
    let e = fails(&args(&resume));
    assert!(e.contains("model.bpk") && e.contains("sha256"), "{e}");
    std::fs::write(&model, &original).unwrap();
    let state = out.join("checkpoint/state.json");
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, text.replace("\"step\": 1", "\"step\": 9999")).unwrap();
    let e = fails(&args(&resume));
    assert!(e.contains("state.json") && e.contains("9999"), "{e}");
    std::fs::write(&state, &text).unwrap();
    ok(&args(&resume));

    // Shipped weights: an edited architecture or inference setting, or a changed check.json.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static/models/fm-rme-small");
    let m = measurements(&dir);
    let estimate = |w: &Path| {
        fails(&[
            "estimate",
            "--measurements",
            s(&m),
            "--query",
            s(&m),
            "--method",
            "fm-rme",
            "--weights",
            s(w),
            "--out",
            s(&dir.join("o.csv")),
        ])
    };
    for (field, from, to) in
        [("n_heads", "\"n_heads\": 4", "\"n_heads\": 2"), ("length_scale_m", "\"length_scale_m\": ", "\"length_scale_m\": 1")]
    {
        let w = dir.join(format!("w-{field}"));
        copy_dir(&shipped, &w);
        let manifest = std::fs::read_to_string(w.join("manifest.json")).unwrap();
        assert!(manifest.contains(from), "{field} not in the manifest");
        std::fs::write(w.join("manifest.json"), manifest.replacen(from, to, 1)).unwrap();
        let e = estimate(&w);
        assert!(e.contains(field) && e.contains("edited"), "{field}: {e}");
    }
    let w = dir.join("w-check");
    copy_dir(&shipped, &w);
    let mut check: serde_json::Value = serde_json::from_slice(&std::fs::read(w.join("check.json")).unwrap()).unwrap();
    let first = check["expected"][0].as_f64().unwrap();
    check["expected"][0] = serde_json::json!(first + 0.5);
    std::fs::write(w.join("check.json"), serde_json::to_vec(&check).unwrap()).unwrap();
    let e = estimate(&w);
    assert!(e.contains("check.json") && e.contains("at export"), "{e}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// 7. Errors that named nothing now name the file.
#[test]
fn errors_name_the_file() {
    let dir = scratch("7");
    let out = stopped_run(&dir);
    let state = out.join("checkpoint/state.json");
    std::fs::write(&state, "{ not json").unwrap();
    let e = fails(&args(&tiny_train(&out, &["--resume"])));
    assert!(e.contains("state.json"), "{e}");
    let run_json = out.join("run.json");
    std::fs::write(&run_json, "[1, 2").unwrap();
    let e = fails(&args(&tiny_train(&out, &["--resume"])));
    assert!(e.contains("run.json"), "{e}");
    let e = fails(&["export", "--run", s(&out), "--name", "x", "--out", s(&dir.join("models"))]);
    assert!(e.contains("run.json"), "{e}");

    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let finished = dir.join("finished");
    ok(&args(&tiny_train(&finished, &[])));
    let e = fails(&["export", "--run", s(&finished), "--name", "x", "--out", s(&dir.join("models")), "--metrics", s(&empty)]);
    assert!(e.contains("empty.csv"), "{e}");

    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let e = fails(&args(&tiny_train(&file, &[])));
    assert!(e.contains("a-file") && e.contains("is a file"), "{e}");
}

/// 8. Unknown method names went into a table cell with exit 0.
#[test]
fn unknown_methods_are_errors_listing_the_right_names() {
    let dir = scratch("8");
    let m = measurements(&dir);
    let e = fails(&["eval", "--measurements", s(&m), "--methods", "idw,foo", "--fractions", "0.5"]);
    assert!(e.contains("unknown method 'foo'"), "{e}");
    let e = fails(&["demo", "--methods", "foo", "--out", s(&dir.join("demo"))]);
    assert!(e.contains("unknown method 'foo'"), "{e}");
    assert!(!dir.join("demo").exists());
    let e = fails(&["estimate", "--measurements", s(&m), "--query", s(&m), "--method", "foo", "--out", s(&dir.join("o.csv"))]);
    assert!(e.contains("fm-rme") && !e.contains("oracle"), "{e}");
}

/// 9. `--name ../../x` wrote outside `--out`.
#[test]
fn export_names_cannot_escape() {
    let dir = scratch("9");
    let models = dir.join("a/b/models");
    for name in ["../../x", "..", "a/b", ".hidden"] {
        let e = fails(&["export", "--run", s(&dir), "--name", name, "--out", s(&models)]);
        assert!(e.contains("--name"), "{name}: {e}");
    }
    assert!(!dir.join("a/x").exists() && !models.exists());
}

/// 10. Silent fallbacks are said, and ambiguous inputs refused.
#[test]
fn fallbacks_are_said_and_ambiguous_inputs_refused() {
    let dir = scratch("10");
    let m = measurements(&dir);
    let out = dir.join("o.csv");
    for method in ["ldpl", "universal-kriging"] {
        let o = ok(&["estimate", "--measurements", s(&m), "--query", s(&m), "--method", method, "--out", s(&out)]);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("no transmitter position"), "{method}: {e}");
    }
    let o = ok(&["eval", "--measurements", s(&m), "--methods", "ldpl,kriging", "--fractions", "0.5"]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("m.csv: ldpl: no transmitter position"), "{table}");
    let dup = dir.join("dup.csv");
    std::fs::write(&dup, "x_m,y_m,power_dbm,x_m\n1,2,-60,5\n").unwrap();
    let e = fails(&["estimate", "--measurements", s(&dup), "--query", s(&m), "--out", s(&out)]);
    assert!(e.contains("dup.csv") && e.contains("'x_m' appears twice"), "{e}");
    let long = dir.join("long.csv");
    std::fs::write(&long, "x_m,y_m,power_dbm\n1,2,-60\n3,4,-61,7\n").unwrap();
    let e = fails(&["estimate", "--measurements", s(&long), "--query", s(&m), "--out", s(&out)]);
    assert!(e.contains("long.csv line 3") && e.contains("4 fields"), "{e}");
    let e = fails(&["eval", "--measurements", s(&m), "--slices", "0"]);
    assert!(e.contains("--slices"), "{e}");

    // A float32 buildings mask in a map set.
    let set = dir.join("set");
    ok(&["simulate", "--urban", "--size", "32", "--out", s(&set)]);
    let index = std::fs::read_to_string(set.join("index.json")).unwrap();
    let mask_rel = index.split("\"buildings\": \"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (32, 32), }";
    let pad = 64 - (10 + header.len() + 1) % 64;
    let header = format!("{header}{}\n", " ".repeat(pad));
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend((0..32 * 32).flat_map(|_| 1.0f32.to_le_bytes()));
    std::fs::write(set.join(&mask_rel), npy).unwrap();
    let e = fails(&["eval", "--mapset", s(&set), "--methods", "idw", "--fractions", "0.5"]);
    assert!(e.contains(&mask_rel) && e.contains("uint8 or bool"), "{e}");
}

/// 11. A long FM-RME estimate showed no progress. It now reports its parts (a bar on a
///     terminal, lines in a log); a core test checks every part is reported.
#[test]
fn long_estimates_report_progress() {
    let dir = scratch("11");
    let m = measurements(&dir);
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("../static/models/fm-rme-small");
    // Queries over 300 m: several of FM-RME's 64 m tiles, each a part.
    let q = dir.join("q.csv");
    let rows: String = (0..225).map(|i| format!("{},{}\n", (i % 15) * 20, (i / 15) * 20)).collect();
    std::fs::write(&q, format!("x_m,y_m\n{rows}")).unwrap();
    let o = ok(&[
        "estimate",
        "--measurements",
        s(&m),
        "--query",
        s(&q),
        "--method",
        "fm-rme",
        "--weights",
        s(&weights),
        "--out",
        s(&dir.join("o.csv")),
    ]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("fm-rme: 40 measurements") && e.contains("parts after"), "{e}");
}
