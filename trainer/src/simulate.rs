//! `rme simulate`: draws samples of a dynamic preset, or urban maps, into a map set with a
//! PNG preview.

use crate::common::{ensure_disk_space, peak_memory_note, progress, write_atomic};
use anyhow::{Context, Result};
use rme_core::RadioMap;
use rme_core::io::mapset::MapSetWriter;
use rme_core::io::png::{RenderOptions, Tile, render_mosaic, render_tiles};
use rme_core::sim::dynamic::sample_seed;
use rme_core::sim::urban::{Split, UrbanSimulator};
use rme_core::sim::{DynamicPreset, DynamicSimulator};
use std::path::Path;

/// Slots shown in the preview at most (evenly spaced); every band is shown.
const PREVIEW_SLOTS: usize = 6;

/// Writes each map's files as soon as it is drawn and keeps only its index entry, so memory
/// stays that of one map whatever `--count`; the index is written last.
fn write_streamed(out: &Path, writer: &mut MapSetWriter, map: &RadioMap) -> Result<()> {
    for (rel, bytes) in writer.add(map) {
        write_atomic(&out.join(rel), &bytes)?;
    }
    Ok(())
}

pub fn run(preset: &str, count: usize, seed: u64, out: &Path) -> Result<()> {
    anyhow::ensure!(count > 0, "--count must be at least 1");
    anyhow::ensure!(!out.is_file(), "--out {} is a file, not a folder", out.display());
    let preset = DynamicPreset::by_name(preset)?;
    let per_sample = 4 * preset.voxels() as u64 + 128;
    ensure_disk_space(out, per_sample.saturating_mul(count as u64), &format!("--count {count} samples of {}", preset.name))?;
    let sim = DynamicSimulator::new(preset)?;
    let source = format!("rme simulate --preset {} --count {count} --seed {seed} (rme {})", preset.name, env!("CARGO_PKG_VERSION"));
    let mut writer = MapSetWriter::new(&source);
    let pb = progress(count as u64, preset.name);
    let mut first = None;
    for i in 0..count {
        let mut m = sim.simulate(sample_seed(seed, i as u64))?;
        m.id = format!("{}_seed{seed}_{i:05}", preset.name);
        write_streamed(out, &mut writer, &m)?;
        if first.is_none() {
            first = Some(m);
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    write_atomic(&out.join("index.json"), writer.finish()?.as_bytes())?;

    // Preview: slot × band mosaic of the first sample.
    let m = first.as_ref().context("no sample drawn")?;
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
        "wrote {count} samples of {} ([T, F, H, W] = [{t}, {f}, {rows}, {cols}]) to {}; preview.png shows slots {:?} (rows) × {f} bands (columns) of the first{}",
        preset.name,
        out.display(),
        shown,
        peak_memory_note()
    );
    Ok(())
}

/// What `rme simulate --urban` draws.
pub struct UrbanArgs {
    /// Cells per side (128 or 256).
    pub size: usize,
    /// Which split's cities.
    pub split: Split,
    /// Cities, the split's first ones from `first_city`.
    pub cities: usize,
    /// Index of the first city in the split.
    pub first_city: u64,
    /// Maps (transmitters) per city.
    pub maps_per_city: usize,
    /// Seed of the transmitters: map `k` of every city uses transmitter seed `seed + k`.
    pub seed: u64,
}

/// Tiles per row of the urban preview, and cities shown.
const PREVIEW_CITIES: usize = 8;

pub fn run_urban(a: &UrbanArgs, out: &Path) -> Result<()> {
    anyhow::ensure!(a.cities > 0 && a.maps_per_city > 0, "--cities and --count (maps per city) must be at least 1");
    anyhow::ensure!(!out.is_file(), "--out {} is a file, not a folder", out.display());
    let sim = UrbanSimulator::new(a.size)?;
    let total = a.cities.checked_mul(a.maps_per_city).context("--cities × --count overflows")?;
    let per_map = 5 * (a.size * a.size) as u64 + 256;
    ensure_disk_space(out, per_map.saturating_mul(total as u64), &format!("{total} urban maps"))?;
    let source = format!(
        "rme simulate --urban --size {} --split {} --cities {} --first-city {} --count {} --seed {} (rme {})",
        a.size,
        a.split.name(),
        a.cities,
        a.first_city,
        a.maps_per_city,
        a.seed,
        env!("CARGO_PKG_VERSION")
    );
    // Preview: up to 8 cities (columns) × up to 2 transmitters (rows), buildings dark grey,
    // the transmitter marked. Only those maps are kept; the others are written and dropped.
    let shown_cities = a.cities.min(PREVIEW_CITIES);
    let shown_maps = a.maps_per_city.min(2);
    let mut writer = MapSetWriter::new(&source);
    let mut kept: Vec<Option<RadioMap>> = vec![None; shown_cities * shown_maps];
    let pb = progress(total as u64, "urban");
    for ci in 0..a.cities {
        let city = sim.split_city(a.split, a.first_city + ci as u64)?;
        for k in 0..a.maps_per_city {
            let mut m = sim.simulate(&city, a.seed + k as u64)?;
            m.id = format!("{}_{}_{}", a.split.name(), a.first_city + ci as u64, m.id);
            write_streamed(out, &mut writer, &m)?;
            if ci < shown_cities && k < shown_maps {
                kept[k * shown_cities + ci] = Some(m);
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    write_atomic(&out.join("index.json"), writer.finish()?.as_bytes())?;

    let grid = *sim.grid();
    let mut values = Vec::new();
    let mut markers = Vec::new();
    let mut picked = Vec::new();
    for k in 0..shown_maps {
        for ci in 0..shown_cities {
            let m = kept[k * shown_cities + ci].as_ref().context("a preview map was not drawn")?;
            values.push(m.values.iter().map(|&v| v as f64).collect::<Vec<f64>>());
            let tx = m.tx[0].positions_m[0];
            markers.push(grid.cell_of(tx[0], tx[1]).map(|rc| vec![rc]).unwrap_or_default());
            picked.push(m);
        }
    }
    let tiles: Vec<Tile> = picked
        .iter()
        .zip(&values)
        .zip(&markers)
        .map(|((m, v), mk)| Tile { values: v, buildings: m.buildings.as_deref(), markers: mk })
        .collect();
    let scale = if a.size <= 128 { 2 } else { 1 };
    let opts = RenderOptions { scale, unit: "dB".into(), range: Some((-160.0, -40.0)), ..Default::default() };
    write_atomic(&out.join("preview.png"), &render_tiles(&tiles, grid.rows, grid.cols, shown_cities, &opts)?)?;
    eprintln!(
        "wrote {total} urban maps ({} cities of the {} split × {} transmitters, {}x{} cells of {} m) to {}; preview.png shows {shown_cities} cities (columns) × {shown_maps} transmitters (rows){}",
        a.cities,
        a.split.name(),
        a.maps_per_city,
        grid.rows,
        grid.cols,
        grid.cell_size_m,
        out.display(),
        peak_memory_note()
    );
    Ok(())
}
