//! `rme bench`: wall-clock benchmarks of the simulators and the classical estimators (median
//! of repeated runs after one warm-up; build with `--release` for meaningful numbers).

use crate::common::{Provenance, Table, write_report};
use anyhow::Result;
use rme_core::classic::{Idw, Kriging, Sliced};
use rme_core::rng::Rng;
use rme_core::sim::urban::{Split, UrbanSimulator};
use rme_core::sim::{DynamicPreset, DynamicSimulator};
use rme_core::{Estimator, Grid, Measurement, MeasurementSet, QuerySet};
use std::path::Path;
use std::time::Instant;

fn time<F: FnMut() -> Result<()>>(reps: usize, mut f: F) -> Result<(f64, f64)> {
    f()?; // warm-up
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok((t[t.len() / 2], t[0]))
}

/// A benchmark's name, (median, min) seconds, and note.
type BenchRow = (String, (f64, f64), String);

pub fn run(reps: usize, out: Option<&Path>) -> Result<String> {
    let reps = reps.max(1);
    let mut rows = Vec::new();
    let mut push = |what: &str, (median, min): (f64, f64), unit_note: &str| {
        rows.push(vec![what.to_string(), format!("{:.1}", median * 1e3), format!("{:.1}", min * 1e3), unit_note.to_string()]);
    };

    for name in ["D1", "D7"] {
        let p = DynamicPreset::by_name(name)?;
        let sim = DynamicSimulator::new(p)?;
        let mut seed = 0;
        let r = time(reps, || {
            seed += 1;
            sim.simulate(seed)?;
            Ok(())
        })?;
        push(&format!("simulate {name} sample"), r, &format!("[T, F, H, W] = [{}, {}, {}, {}]", p.slots, p.bands, p.grid, p.grid));
    }

    // One urban map (a city's rasterised buildings are made once per city, so they are
    // outside the timing; the propagation, clutter and map assembly are inside).
    for size in [128, 256] {
        let sim = UrbanSimulator::new(size)?;
        let city = sim.split_city(Split::Test, 0)?;
        let mut seed = 0;
        let r = time(reps, || {
            seed += 1;
            sim.simulate(&city, seed)?;
            Ok(())
        })?;
        push(&format!("simulate urban {size}² map"), r, "one transmitter, path gain with clutter");
    }

    // 1 000 samples of one 128² slice of a D3 scene → every cell of the 128² grid.
    let sim = DynamicSimulator::new(DynamicPreset::by_name("D3")?)?;
    let map = sim.simulate(7)?;
    let mut rng = Rng::new(1);
    let cells = rng.choose_indices(map.grid.len(), 1000);
    let obs = MeasurementSet::from_points(
        cells
            .iter()
            .map(|&c| {
                let p = map.grid.cell_center(c / map.grid.cols, c % map.grid.cols);
                Measurement { x_m: p[0], y_m: p[1], t_s: 0.0, freq_hz: map.bands_hz[0], value: map.values[c] as f64 }
            })
            .collect(),
    );
    let grid: Grid = map.grid;
    let q = QuerySet::from_grid(&grid, 0.0, map.bands_hz[0]);
    let krig = Sliced(Kriging::ordinary());
    let r = time(reps.min(3), || {
        krig.estimate(&obs, &q)?;
        Ok(())
    })?;
    push("ordinary kriging 1000 samples → 128² grid", r, "variogram fit + 64-neighbour local systems");
    let idw = Sliced(Idw::default());
    let r = time(reps, || {
        idw.estimate(&obs, &q)?;
        Ok(())
    })?;
    push("IDW 1000 samples → 128² grid", r, "16 neighbours");

    // The learned urban models (small presets): a 128² map from 9 samples through the grid
    // adapter (rasterise, forward, answer every cell), and one training step of batch 8. The
    // cost does not depend on the weights' values: fresh ones are used.
    {
        use burn::module::Module;
        use burn::optim::{AdamWConfig, GradientsParams};
        use rme_core::models::grid::{GridBatch, GridEstimator, GridExample, GridNetwork, GridScene, GridTargets, NetworkModel};
        use rme_core::models::grid_nets::check_example;
        use rme_core::models::radiodun::RadioDunConfig;
        use rme_core::models::radiounet::RadioUnetConfig;
        fn grid_bench<N: GridNetwork + Module + Clone>(
            label: &str,
            init: impl Fn(&burn::tensor::Device) -> N,
            reps: usize,
        ) -> Result<Vec<BenchRow>> {
            let mut out = Vec::new();
            let (map, cells) = check_example(128, 0, 0)?;
            let device = burn::tensor::Device::flex();
            let scene = GridScene::new(map.grid, map.buildings.clone())?;
            let est = GridEstimator::new(NetworkModel { net: init(&device), device: device.clone(), label: label.into() }, scene);
            let obs = map.measurements_at(&cells);
            let q = rme_core::QuerySet::from_grid(&map.grid, 0.0, f64::NAN);
            let r = time(reps, || {
                est.estimate(&obs, &q)?;
                Ok(())
            })?;
            out.push((
                format!("{label}: 9 samples → 128² map (flex CPU)"),
                r,
                "rasterise + one forward pass + every cell answered".to_string(),
            ));
            let dev = device.autodiff();
            let mut net = init(&dev);
            let mut optim = AdamWConfig::new().init();
            let example = GridExample::from_map(&map, &cells, true)?;
            let inputs: Vec<_> = (0..8).map(|_| &example.inputs).collect();
            let batch = GridBatch::new(&inputs, &dev)?;
            let targets = GridTargets::new(&[&example; 8], &dev)?;
            let r = time(reps.min(3), || {
                let loss = net.loss(&batch, &targets);
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(1e-4, net.clone(), grads);
                Ok(())
            })?;
            out.push((format!("{label}: training step, batch 8 at 128² (flex CPU)"), r, format!("{:.2} steps/s", 1.0 / r.0)));
            Ok(out)
        }
        let mut rows = grid_bench("radiounet small", |d| RadioUnetConfig::new().init(d), reps)?;
        rows.extend(grid_bench("radiodun small", |d| RadioDunConfig::new().init(d), reps)?);
        for (what, r, note) in rows {
            push(&what, r, &note);
        }
    }

    // FM-RME (small): one training step (batch 6, autodiff) and a 64² map from 400 samples.
    {
        use burn::optim::AdamWConfig;
        use rme_core::models::fm_rme::{ContextConfig, FmRmeConfig, FmRmeEstimator};
        let spec = crate::train::RunSpec {
            model: FmRmeConfig::small(),
            context: ContextConfig::new(),
            presets: vec!["D1".into()],
            steps: 100,
            batch: 6,
            lr: 1e-3,
            weight_decay: 0.01,
            grad_clip: 1.0,
            loss: "relative".into(),
            warmup: 10,
            seed: 0,
            pool: 1,
            max_visible: 384,
            max_queries: 128,
            val_every: 100,
            checkpoint_every: 100,
            init: None,
            max_noise_share: 0.0,
            noise_dof: 0,
            max_dip_share: 0.0,
        };
        let pool = crate::train::training_pool(&spec)?;
        let dev = burn::tensor::Device::flex().autodiff();
        let mut model = spec.model.init(&dev);
        let mut optim = AdamWConfig::new().init();
        let mut step = 0;
        let r = time(reps.min(5), || {
            step += 1;
            model = crate::train::train_step(model.clone(), &mut optim, &spec, &pool, step, 1e-3, &dev)?.0;
            Ok(())
        })?;
        let steps_per_s = 1.0 / r.0;
        push(
            "fm-rme small: training step, batch 6 (flex CPU)",
            r,
            &format!("{steps_per_s:.2} steps/s; ≤ 384 visible + 128 query tokens per example"),
        );
        // The shipped weights and their context (what `rme estimate` and the page run).
        let shipped = crate::common::load_fm_rme_weights(Path::new(crate::common::DEFAULT_WEIGHTS))?;
        let d1 = DynamicSimulator::new(DynamicPreset::by_name("D1")?)?.simulate(3)?;
        let q = rme_core::QuerySet::from_grid(&d1.grid, 0.0, d1.bands_hz[0]);
        for (samples, budget, batch_groups) in [(400, shipped.context.max_visible, 1), (400, shipped.context.max_visible, 8), (400, 384, 1)]
        {
            let cells = Rng::new(2).choose_indices(d1.grid.len(), samples);
            let obs = d1.measurements_at(&cells);
            let fm = FmRmeEstimator { context: ContextConfig { max_visible: budget, ..shipped.context.clone() }, ..shipped.clone() }
                .with_batch_groups(batch_groups);
            let r = time(reps, || {
                fm.estimate(&obs, &q)?;
                Ok(())
            })?;
            let contexts = if samples <= budget {
                "one context of all samples (encoded once)".to_string()
            } else {
                format!("a context of {budget} per 64 m tile")
            };
            push(
                &format!(
                    "fm-rme-small (shipped): {samples} samples → 64² map, context budget {budget}, {batch_groups} chunks per pass (flex CPU)"
                ),
                r,
                &format!("{contexts}; chunks of {} queries, one read-back per pass", fm.context.query_chunk),
            );
        }
        // STORM, the point-based peer, on the same problem (where its weights are shipped).
        let storm_dir = Path::new(crate::common::STORM_WEIGHTS);
        if storm_dir.join("manifest.json").is_file() {
            let storm = crate::common::load_storm_weights(storm_dir)?.into_estimator();
            let obs = d1.measurements_at(&Rng::new(2).choose_indices(d1.grid.len(), 400));
            let r = time(reps.min(3), || {
                storm.estimate(&obs, &q)?;
                Ok(())
            })?;
            push(
                "storm-small (shipped): 400 samples → 64² map (flex CPU)",
                r,
                &format!("{} nearest measurements per query; the kriging baseline fitted once per slice", storm.0.config.neighbours),
            );
        }
    }

    let table = Table {
        title: "rme bench".into(),
        columns: ["benchmark", "median ms", "min ms", "notes"].map(String::from).to_vec(),
        rows,
        notes: vec![format!(
            "{reps} timed runs after one warm-up (kriging, grid training steps and STORM: {}); build profile: {}; single thread",
            reps.min(3),
            if cfg!(debug_assertions) { "debug (numbers not representative)" } else { "release" }
        )],
    };
    let prov = Provenance::capture(None);
    let md = table.markdown(&prov);
    if let Some(out) = out {
        write_report(out, &[("md", md.as_bytes()), ("csv", table.csv(&prov).as_bytes())])?;
    }
    Ok(md)
}
