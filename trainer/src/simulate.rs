//! `rme simulate`: draws samples of a dynamic preset into a map set with a PNG preview.

use crate::common::{progress, write_atomic};
use anyhow::Result;
use rme_core::io::mapset::write_mapset;
use rme_core::io::png::{RenderOptions, render_mosaic};
use rme_core::sim::dynamic::sample_seed;
use rme_core::sim::{DynamicPreset, DynamicSimulator};
use std::path::Path;

/// Slots shown in the preview at most (evenly spaced); every band is shown.
const PREVIEW_SLOTS: usize = 6;

pub fn run(preset: &str, count: usize, seed: u64, out: &Path) -> Result<()> {
    anyhow::ensure!(count > 0, "--count must be at least 1");
    let preset = DynamicPreset::by_name(preset)?;
    let sim = DynamicSimulator::new(preset)?;
    let pb = progress(count as u64, preset.name);
    let mut maps = Vec::with_capacity(count);
    for i in 0..count {
        let mut m = sim.simulate(sample_seed(seed, i as u64))?;
        m.id = format!("{}_seed{seed}_{i:05}", preset.name);
        maps.push(m);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let source = format!("rme simulate --preset {} --count {count} --seed {seed} (rme {})", preset.name, env!("CARGO_PKG_VERSION"));
    let (index, files) = write_mapset(&maps, &source)?;
    for (rel, bytes) in &files {
        write_atomic(&out.join(rel), bytes)?;
    }
    write_atomic(&out.join("index.json"), index.as_bytes())?;

    // Preview: slot × band mosaic of the first sample.
    let m = &maps[0];
    let [t, f, rows, cols] = m.shape();
    let shown: Vec<usize> =
        if t <= PREVIEW_SLOTS { (0..t).collect() } else { (0..PREVIEW_SLOTS).map(|k| k * (t - 1) / (PREVIEW_SLOTS - 1)).collect() };
    let mut tiles = Vec::new();
    for &ti in &shown {
        for fi in 0..f {
            tiles.push(m.slice(ti, fi).iter().map(|&v| v as f64).collect::<Vec<f64>>());
        }
    }
    let scale = if rows <= 64 { 2 } else { 1 };
    let png = render_mosaic(&tiles, rows, cols, f, None, &RenderOptions { scale, ..Default::default() })?;
    write_atomic(&out.join("preview.png"), &png)?;
    eprintln!(
        "wrote {count} samples of {} ([T, F, H, W] = [{t}, {f}, {rows}, {cols}]) to {}; preview.png shows slots {:?} (rows) × {f} bands (columns) of the first",
        preset.name,
        out.display(),
        shown
    );
    Ok(())
}
