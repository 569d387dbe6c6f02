//! Map sets (FORMATS.md): a folder with `index.json` and `.npy` arrays. Core reads and writes
//! them through bytes only: the caller supplies a loader that maps a relative path to the
//! file's bytes (the CLI reads disk; the browser would fetch).
//!
//! Extensions this project writes (readers elsewhere may ignore them): `tx_tracks` (every
//! transmitter's position per slot, power, bands, activity) and `truth` (the simulator's
//! propagation model, which the GP oracle needs).

use super::npy::{read_npy, write_npy_f32, write_npy_u8};
use crate::error::{Result, RmeError};
use crate::map::{Grid, PropagationTruth, RadioMap, TxTrack};
use serde::{Deserialize, Serialize};

/// The `format` string of an `index.json` this reader accepts.
pub const FORMAT: &str = "rme-mapset/1";

/// A transmitter in `index.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxEntry {
    /// `[x, y]` or `[x, y, z]`, metres.
    pub position_m: Vec<f64>,
    /// Transmit power, dBm, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_dbm: Option<f64>,
}

/// One map of `index.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapEntry {
    /// The map's identifier.
    pub id: String,
    /// `[rows, cols]` or `[T, F, rows, cols]`.
    pub shape: Vec<usize>,
    /// Cell side, metres.
    pub cell_size_m: f64,
    /// `[x, y]` of the outer corner of cell (row 0, col 0), metres.
    pub origin_m: [f64; 2],
    /// Frequency of a single-band map, Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_hz: Option<f64>,
    /// "path_gain_db" or "power_dbm".
    pub quantity: String,
    /// Relative path of the values `.npy` (float32 `[rows, cols]` or `[T, F, rows, cols]`).
    pub values: String,
    /// Relative path of the building mask `.npy` (uint8 `[rows, cols]`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildings: Option<String>,
    /// Transmitters, where known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tx: Vec<TxEntry>,
    /// Slot start times of a 4-D map, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots_s: Option<Vec<f64>>,
    /// Band centres of a 4-D map, Hz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bands_hz: Option<Vec<f64>>,
    /// Receiver height, metres, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_height_m: Option<f64>,
    /// Name of the scene the map was made in, where given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
    /// Transmitter tracks of a simulated map (written by `rme simulate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_tracks: Option<Vec<TxTrack>>,
    /// The simulator's model of a simulated map (the GP oracle reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<PropagationTruth>,
}

/// `index.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapSetIndex {
    /// Must be [`FORMAT`].
    pub format: String,
    /// Where the maps come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Anything a user of the set should know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The maps.
    pub maps: Vec<MapEntry>,
}

impl MapSetIndex {
    /// Parses an `index.json`; `name` names the file in errors.
    pub fn parse(text: &str, name: &str) -> Result<Self> {
        let idx: MapSetIndex = serde_json::from_str(text).map_err(|e| RmeError::parse(name, Some(e.line()), e.to_string()))?;
        if idx.format != FORMAT {
            return Err(RmeError::parse(name, None, format!("format '{}' is not '{FORMAT}'", idx.format)));
        }
        Ok(idx)
    }
}

/// Values one map may hold at most (T·F·rows·cols; 4 GiB of float32).
pub const MAX_MAP_VALUES: usize = 1 << 30;

/// Paths in an index must stay inside the map set's folder.
fn check_path(p: &str, name: &str) -> Result<()> {
    if p.is_empty() || p.starts_with('/') || p.starts_with('\\') || p.contains(':') || p.split(['/', '\\']).any(|c| c == "..") {
        return Err(RmeError::parse(name, None, format!("path '{p}' must be relative and inside the map set")));
    }
    Ok(())
}

/// Decodes one entry, loading its arrays through `load`.
pub fn decode_entry(entry: &MapEntry, name: &str, load: &mut dyn FnMut(&str) -> Result<Vec<u8>>) -> Result<RadioMap> {
    let ctx = format!("{name} map '{}'", entry.id);
    check_path(&entry.values, &ctx)?;
    let (t, f, rows, cols) = match entry.shape.as_slice() {
        [r, c] => (1, 1, *r, *c),
        [t, f, r, c] => (*t, *f, *r, *c),
        other => return Err(RmeError::parse(&ctx, None, format!("shape {other:?} is neither [rows, cols] nor [T, F, rows, cols]"))),
    };
    // Found by the fuzzer: a shape such as [1e19, 1, 2, 3] overflowed the product below.
    if [t, f, rows, cols].iter().try_fold(1usize, |a, &b| a.checked_mul(b)).is_none_or(|n| n > MAX_MAP_VALUES) {
        return Err(RmeError::parse(&ctx, None, format!("shape {:?} is larger than {MAX_MAP_VALUES} values", entry.shape)));
    }
    let grid = Grid::new(rows, cols, entry.cell_size_m, entry.origin_m).map_err(|e| RmeError::parse(&ctx, None, e.to_string()))?;
    let values = read_npy(&load(&entry.values)?, &entry.values)?;
    let expected: Vec<usize> = if entry.shape.len() == 2 { vec![rows, cols] } else { vec![t, f, rows, cols] };
    if values.shape != expected && !(values.shape.iter().product::<usize>() == t * f * rows * cols && values.shape.len() == 4 && t * f == 1)
    {
        return Err(RmeError::parse(&ctx, None, format!("{} has shape {:?}, the index says {:?}", entry.values, values.shape, expected)));
    }
    let slots = match &entry.slots_s {
        Some(s) if s.len() == t => s.clone(),
        Some(s) => return Err(RmeError::parse(&ctx, None, format!("{} slots_s for {t} slots", s.len()))),
        None if t == 1 => vec![0.0],
        None => (0..t).map(|i| i as f64).collect(),
    };
    let bands = match &entry.bands_hz {
        Some(b) if b.len() == f => b.clone(),
        Some(b) => return Err(RmeError::parse(&ctx, None, format!("{} bands_hz for {f} bands", b.len()))),
        None if f == 1 => vec![entry.frequency_hz.unwrap_or(f64::NAN)],
        None => return Err(RmeError::parse(&ctx, None, "a multi-band map needs bands_hz")),
    };
    let mut map = RadioMap::new(entry.id.clone(), grid, slots, bands, values.data, entry.quantity.clone())?;
    if let Some(b) = &entry.buildings {
        check_path(b, &ctx)?;
        let arr = read_npy(&load(b)?, b)?;
        if arr.shape != [rows, cols] {
            return Err(RmeError::parse(&ctx, None, format!("{b} has shape {:?}, the map is [{rows}, {cols}]", arr.shape)));
        }
        // A mask is 0/1 bytes (FORMATS.md); a float array is more likely a map or a "valid"
        // mask with the opposite meaning, so it is refused rather than guessed at.
        if !matches!(arr.dtype.as_str(), "|u1" | "<u1" | "u1" | "|b1" | "<b1" | "b1") {
            return Err(RmeError::parse(b, None, format!("a buildings mask is uint8 or bool (1 = building), not '{}'", arr.dtype)));
        }
        if let Some(v) = arr.data.iter().find(|&&v| v != 0.0 && v != 1.0) {
            return Err(RmeError::parse(b, None, format!("a buildings mask holds 0 and 1 only, not {v}")));
        }
        if arr.data.iter().all(|&v| v == 1.0) {
            return Err(RmeError::parse(b, None, "the buildings mask covers every cell: nothing is left to estimate"));
        }
        map.buildings = Some(arr.data.iter().map(|&v| u8::from(v != 0.0)).collect());
    }
    map.tx = match &entry.tx_tracks {
        Some(tracks) => tracks.clone(),
        None => entry
            .tx
            .iter()
            .filter(|t| t.position_m.len() >= 2)
            .map(|t| {
                let z = t.position_m.get(2).copied().unwrap_or(0.0) - entry.rx_height_m.unwrap_or(0.0);
                TxTrack {
                    positions_m: vec![[t.position_m[0], t.position_m[1], z]],
                    power_dbm: t.power_dbm.unwrap_or(0.0),
                    bands: vec![],
                    active: vec![],
                }
            })
            .collect(),
    };
    map.truth = entry.truth.clone();
    Ok(map)
}

/// Reads every map of a set (or the first `limit`).
pub fn read_mapset(
    index_text: &str,
    name: &str,
    limit: Option<usize>,
    load: &mut dyn FnMut(&str) -> Result<Vec<u8>>,
) -> Result<Vec<RadioMap>> {
    let idx = MapSetIndex::parse(index_text, name)?;
    if idx.maps.is_empty() {
        return Err(RmeError::parse(name, None, "the map set lists no maps"));
    }
    idx.maps.iter().take(limit.unwrap_or(usize::MAX)).map(|e| decode_entry(e, name, load)).collect()
}

/// One file of a map set: its path relative to the folder, and its bytes.
pub type MapsetFile = (String, Vec<u8>);

/// Files of a map set to write: `index.json` text and `(relative path, bytes)` of each array.
pub fn write_mapset(maps: &[RadioMap], source: &str) -> Result<(String, Vec<MapsetFile>)> {
    let mut writer = MapSetWriter::new(source);
    let mut files = Vec::new();
    for m in maps {
        files.extend(writer.add(m));
    }
    Ok((writer.finish()?, files))
}

/// Writes a map set one map at a time, so that memory does not grow with the number of maps:
/// [`MapSetWriter::add`] gives each map's files to write at once, [`MapSetWriter::finish`]
/// the index (to write last: a set cut short has no index and is not mistaken for whole).
pub struct MapSetWriter {
    source: String,
    entries: Vec<MapEntry>,
    /// Building masks written so far (their sha256 and path): maps of one city share theirs.
    masks: Vec<(Vec<u8>, String)>,
}

impl MapSetWriter {
    /// A writer whose index names `source` (the command that made the set).
    pub fn new(source: &str) -> Self {
        Self { source: source.into(), entries: Vec::new(), masks: Vec::new() }
    }

    /// The files of one map (its values, and its building mask unless an earlier map had the
    /// same one), `(relative path, bytes)`.
    pub fn add(&mut self, m: &RadioMap) -> Vec<MapsetFile> {
        let mut files = Vec::new();
        let [t, f, r, c] = m.shape();
        let safe: String = m.id.chars().map(|ch| if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' { ch } else { '_' }).collect();
        let values = format!("maps/{safe}.npy");
        files.push((values.clone(), write_npy_f32(&[t, f, r, c], &m.values)));
        let buildings = m.buildings.as_ref().map(|b| {
            let digest = <sha2::Sha256 as sha2::Digest>::digest(b).to_vec();
            if let Some((_, p)) = self.masks.iter().find(|(d, _)| *d == digest) {
                return p.clone();
            }
            let p = format!("scenes/{safe}_buildings.npy");
            files.push((p.clone(), write_npy_u8(&[r, c], b)));
            self.masks.push((digest, p.clone()));
            p
        });
        self.entries.push(MapEntry {
            id: m.id.clone(),
            shape: vec![t, f, r, c],
            cell_size_m: m.grid.cell_size_m,
            origin_m: m.grid.origin_m,
            frequency_hz: (f == 1 && m.bands_hz[0].is_finite()).then(|| m.bands_hz[0]),
            quantity: m.quantity.clone(),
            values,
            buildings,
            tx: m
                .tx
                .iter()
                .filter_map(|tr| tr.position(0))
                .zip(&m.tx)
                .map(|(p, tr)| TxEntry { position_m: p.to_vec(), power_dbm: Some(tr.power_dbm) })
                .collect(),
            slots_s: Some(m.slots_s.clone()),
            bands_hz: Some(m.bands_hz.clone()),
            rx_height_m: None,
            scene: None,
            tx_tracks: (!m.tx.is_empty()).then(|| m.tx.clone()),
            truth: m.truth.clone(),
        });
        files
    }

    /// The `index.json` text of every map added.
    pub fn finish(self) -> Result<String> {
        let index = MapSetIndex { format: FORMAT.into(), source: Some(self.source), notes: None, maps: self.entries };
        serde_json::to_string_pretty(&index).map_err(|e| RmeError::invalid("map set index", e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{DynamicPreset, DynamicSimulator};
    use std::collections::HashMap;

    #[test]
    fn simulated_maps_round_trip_through_the_format() {
        let sim = DynamicSimulator::new(DynamicPreset::by_name("D1").unwrap()).unwrap();
        let maps = vec![sim.simulate(3).unwrap()];
        let (index, files) = write_mapset(&maps, "test").unwrap();
        let store: HashMap<String, Vec<u8>> = files.into_iter().collect();
        let mut load = |p: &str| store.get(p).cloned().ok_or_else(|| RmeError::parse(p, None, "missing"));
        let back = read_mapset(&index, "index.json", None, &mut load).unwrap();
        assert_eq!(
            back[0].values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            maps[0].values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(back[0].tx, maps[0].tx);
        assert_eq!(back[0].truth, maps[0].truth);
        assert_eq!(back[0].bands_hz, maps[0].bands_hz);
    }

    #[test]
    fn bad_indexes_are_errors() {
        let mut none = |p: &str| -> Result<Vec<u8>> { Err(RmeError::parse(p, None, "missing")) };
        assert!(read_mapset("{", "i.json", None, &mut none).is_err());
        assert!(read_mapset(r#"{"format":"other","maps":[]}"#, "i.json", None, &mut none).is_err());
        assert!(read_mapset(r#"{"format":"rme-mapset/1","maps":[]}"#, "i.json", None, &mut none).is_err());
        let escape = r#"{"format":"rme-mapset/1","maps":[{"id":"a","shape":[2,2],"cell_size_m":1,"origin_m":[0,0],"quantity":"power_dbm","values":"../../etc/passwd"}]}"#;
        assert!(read_mapset(escape, "i.json", None, &mut none).unwrap_err().to_string().contains("inside the map set"));
        let bad_shape = r#"{"format":"rme-mapset/1","maps":[{"id":"a","shape":[2,2],"cell_size_m":1,"origin_m":[0,0],"quantity":"power_dbm","values":"a.npy"}]}"#;
        let arr = write_npy_f32(&[3], &[1.0, 2.0, 3.0]);
        let mut one = |_: &str| Ok(arr.clone());
        assert!(read_mapset(bad_shape, "i.json", None, &mut one).unwrap_err().to_string().contains("shape"));
        // Found by the fuzzer (scripts/fuzz.sh): the product of this shape overflowed.
        let huge = r#"{"format":"rme-mapset/1","maps":[{"id":"a","shape":[10000000000000000000,1,2,3],"cell_size_m":1,"origin_m":[0,0],"quantity":"power_dbm","values":"a.npy"}]}"#;
        assert!(read_mapset(huge, "i.json", None, &mut one).unwrap_err().to_string().contains("larger than"));
    }
}
