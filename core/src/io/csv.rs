//! Measurement, query and estimate CSV files (FORMATS.md), from and to text.
//!
//! Policy for measurement files:
//! - a header row is required and names no column twice; columns are found by name in any
//!   order; extra columns are ignored; `x_m`, `y_m` and exactly one power column
//!   (`power_dbm`, `power_db`, `rss_dbm`, `path_gain_db`) are required, `t_s` and `freq_hz`
//!   optional; every row has exactly the header's fields (one too many would shift the
//!   columns after it);
//! - a row with a missing, unparsable, NaN, infinite or out-of-range number (coordinates
//!   beyond ±[`MAX_COORDINATE_M`], powers beyond ±[`MAX_ABS_DB`]) rejects the file: the error
//!   gives the count of such rows and the first line;
//! - rows at the same `(x, y, t, f)` are averaged (in dB) into one measurement and counted
//!   in the report (repeated readings at one spot are common in drive tests and drone logs);
//! - positions far from the rest (more than 10× the median distance to the median position)
//!   are kept but counted in the report, with the first line, so a user can spot a unit or
//!   coordinate-frame mistake.

use crate::error::{Result, RmeError};
use crate::map::{Estimate, Measurement, MeasurementSet, Query, QuerySet};
use serde::Deserialize;
use std::collections::HashMap;

/// Power column names accepted, in the order they are looked for.
pub const POWER_COLUMNS: [&str; 4] = ["power_dbm", "power_db", "rss_dbm", "path_gain_db"];

/// Largest file accepted (rows), so a runaway upload cannot exhaust memory.
pub const MAX_ROWS: usize = 2_000_000;

/// Largest coordinate accepted, metres: positions are local projected coordinates (a city, a
/// region); 1e8 m is beyond any of them, and far below where distances lose their precision
/// or square to infinity.
pub const MAX_COORDINATE_M: f64 = 1e8;

/// Largest power or path gain accepted in absolute value, dB.
pub const MAX_ABS_DB: f64 = 1e3;

/// What the reader noticed while reading a measurement file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsvReport {
    /// Data rows read.
    pub rows: usize,
    /// The power column found.
    pub power_column: String,
    /// Rows averaged into an earlier one at the same position.
    pub duplicates_merged: usize,
    /// Line of the first of those.
    pub first_duplicate_line: Option<usize>,
    /// Points far outside the others.
    pub far_points: usize,
    /// Line of the first of those.
    pub first_far_line: Option<usize>,
}

impl CsvReport {
    /// Human-readable notes (empty when there is nothing to say).
    pub fn notes(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.duplicates_merged > 0 {
            v.push(format!(
                "{} rows repeat an earlier position and were averaged into it (first at line {})",
                self.duplicates_merged,
                self.first_duplicate_line.unwrap_or(0)
            ));
        }
        if self.far_points > 0 {
            v.push(format!(
                "{} points lie far outside the others (first at line {}); check units and coordinate frame",
                self.far_points,
                self.first_far_line.unwrap_or(0)
            ));
        }
        v
    }
}

/// Metadata from a measurement file's JSON sidecar.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Sidecar {
    /// Frequency of every row without a `freq_hz` column, Hz.
    #[serde(default)]
    pub frequency_hz: Option<f64>,
    /// Transmitter position `[x, y]` or `[x, y, z]`, metres.
    #[serde(default)]
    pub tx_m: Option<Vec<f64>>,
    /// What the power column measures.
    #[serde(default)]
    pub quantity: Option<String>,
    /// Where the data come from.
    #[serde(default)]
    pub source: Option<String>,
}

/// Parses a sidecar; `name` is used in errors.
pub fn parse_sidecar(text: &str, name: &str) -> Result<Sidecar> {
    let s: Sidecar = serde_json::from_str(text).map_err(|e| RmeError::parse(name, Some(e.line()), e.to_string()))?;
    if let Some(f) = s.frequency_hz
        && !(f.is_finite() && f > 0.0)
    {
        return Err(RmeError::parse(name, None, format!("frequency_hz {f} must be positive")));
    }
    if let Some(tx) = &s.tx_m
        && (!(tx.len() == 2 || tx.len() == 3) || !tx.iter().all(|v| v.is_finite() && v.abs() <= MAX_COORDINATE_M))
    {
        return Err(RmeError::parse(name, None, format!("tx_m must be [x, y] or [x, y, z] in metres, within ±{MAX_COORDINATE_M:e}")));
    }
    Ok(s)
}

/// A CSV file's header (lower-cased, trimmed) and its data rows with their 1-based line
/// numbers. Parsing is the `csv` crate's (RFC 4180: quoted fields may hold commas, quotes and
/// line breaks); comment lines start with `#`, blank lines are skipped.
struct Table {
    header: Vec<String>,
    rows: Vec<(usize, csv::StringRecord)>,
}

fn read_table(text: &str, name: &str) -> Result<Table> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).comment(Some(b'#')).trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize);
            RmeError::parse(name, line, format!("not valid CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        match &header {
            None => {
                let h: Vec<String> = record.iter().map(|s| s.to_ascii_lowercase()).collect();
                if let Some(dup) = h.iter().enumerate().find(|(i, c)| !c.is_empty() && h[..*i].contains(c)).map(|(_, c)| c) {
                    return Err(RmeError::parse(name, Some(line), format!("column '{dup}' appears twice in the header")));
                }
                header = Some(h);
            }
            Some(h) => {
                // Short and long rows alike: a field too many shifts every column after it.
                if record.len() != h.len() {
                    return Err(RmeError::parse(name, Some(line), format!("{} fields, the header has {}", record.len(), h.len())));
                }
                rows.push((line, record));
                if rows.len() > MAX_ROWS {
                    return Err(RmeError::parse(name, Some(line), format!("more than {MAX_ROWS} rows")));
                }
            }
        }
    }
    let header = header.ok_or_else(|| RmeError::parse(name, None, "no header row (the file is empty)"))?;
    Ok(Table { header, rows })
}

fn column(header: &[String], col: &str) -> Option<usize> {
    header.iter().position(|h| h == col)
}

fn require(header: &[String], col: &str, name: &str) -> Result<usize> {
    column(header, col).ok_or_else(|| RmeError::parse(name, Some(1), format!("missing column '{col}' (header: {})", header.join(","))))
}

/// Numbers of one row; `None` marks a bad field.
fn number(field: &str) -> Option<f64> {
    field.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A coordinate within ±[`MAX_COORDINATE_M`].
fn coordinate(field: &str) -> Option<f64> {
    number(field).filter(|v| v.abs() <= MAX_COORDINATE_M)
}

/// Reads a measurement CSV. `sidecar` (if any) supplies frequency and transmitter position.
pub fn read_measurements(text: &str, name: &str, sidecar: Option<&Sidecar>) -> Result<(MeasurementSet, CsvReport)> {
    let table = read_table(text, name)?;
    let h = &table.header;
    let ix = require(h, "x_m", name)?;
    let iy = require(h, "y_m", name)?;
    let power: Vec<&str> = POWER_COLUMNS.iter().copied().filter(|c| column(h, c).is_some()).collect();
    let power_col = match power.as_slice() {
        [one] => *one,
        [] => {
            return Err(RmeError::parse(
                name,
                Some(1),
                format!("no power column: expected one of {} (header: {})", POWER_COLUMNS.join(", "), h.join(",")),
            ));
        }
        many => return Err(RmeError::parse(name, Some(1), format!("several power columns ({}); keep exactly one", many.join(", ")))),
    };
    let ip = require(h, power_col, name)?;
    let it = column(h, "t_s");
    let ifq = column(h, "freq_hz");
    let default_f = sidecar.and_then(|s| s.frequency_hz).unwrap_or(f64::NAN);

    let mut bad_rows = 0usize;
    let mut first_bad: Option<(usize, String)> = None;
    let mut report = CsvReport { power_column: power_col.to_string(), ..Default::default() };
    let mut points: Vec<Measurement> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    let mut index: HashMap<[u64; 4], usize> = HashMap::new();
    for (line, f) in &table.rows {
        report.rows += 1;
        let get = |i: usize| number(&f[i]);
        let parsed = (|| {
            let x = coordinate(&f[ix]).ok_or(h[ix].as_str())?;
            let y = coordinate(&f[iy]).ok_or(h[iy].as_str())?;
            let v = get(ip).filter(|v| v.abs() <= MAX_ABS_DB).ok_or(h[ip].as_str())?;
            let t = match it {
                Some(i) => get(i).ok_or("t_s")?,
                None => 0.0,
            };
            let fr = match ifq {
                Some(i) => get(i).ok_or("freq_hz")?,
                None => default_f,
            };
            Ok::<_, &str>(Measurement { x_m: x, y_m: y, t_s: t, freq_hz: fr, value: v })
        })();
        match parsed {
            Err(col) => {
                bad_rows += 1;
                if first_bad.is_none() {
                    first_bad = Some((*line, col.to_string()));
                }
            }
            Ok(m) => {
                let key = [m.x_m.to_bits(), m.y_m.to_bits(), m.t_s.to_bits(), m.freq_hz.to_bits()];
                match index.get(&key) {
                    Some(&k) => {
                        points[k].value += m.value;
                        counts[k] += 1;
                        report.duplicates_merged += 1;
                        report.first_duplicate_line.get_or_insert(*line);
                    }
                    None => {
                        index.insert(key, points.len());
                        points.push(m);
                        counts.push(1);
                        lines.push(*line);
                    }
                }
            }
        }
    }
    if let Some((line, col)) = first_bad {
        return Err(RmeError::parse(
            name,
            Some(line),
            format!(
                "{bad_rows} rows have a missing, non-numeric, NaN, infinite or out-of-range value (first in column '{col}'; coordinates within ±{MAX_COORDINATE_M:e} m, power within ±{MAX_ABS_DB} dB); fix or remove them"
            ),
        ));
    }
    if points.is_empty() {
        return Err(RmeError::parse(name, None, "no data rows"));
    }
    for (p, c) in points.iter_mut().zip(&counts) {
        p.value /= *c as f64;
    }
    // Far points: distance to the median position against the median distance.
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mx = median(points.iter().map(|p| p.x_m).collect());
    let my = median(points.iter().map(|p| p.y_m).collect());
    let dist: Vec<f64> = points.iter().map(|p| ((p.x_m - mx).powi(2) + (p.y_m - my).powi(2)).sqrt()).collect();
    let md = median(dist.clone());
    if md > 0.0 {
        for (d, l) in dist.iter().zip(&lines) {
            if *d > 10.0 * md {
                report.far_points += 1;
                report.first_far_line.get_or_insert(*l);
            }
        }
    }
    let mut set = MeasurementSet::from_points(points);
    set.quantity = power_col.to_string();
    if let Some(tx) = sidecar.and_then(|s| s.tx_m.as_ref()) {
        set.tx_m = Some([tx[0], tx[1], tx.get(2).copied().unwrap_or(0.0)]);
    }
    Ok((set, report))
}

/// Reads a query CSV (`x_m, y_m[, t_s][, freq_hz]`).
pub fn read_queries(text: &str, name: &str) -> Result<QuerySet> {
    let table = read_table(text, name)?;
    let h = &table.header;
    let ix = require(h, "x_m", name)?;
    let iy = require(h, "y_m", name)?;
    let it = column(h, "t_s");
    let ifq = column(h, "freq_hz");
    let mut points = Vec::with_capacity(table.rows.len());
    for (line, f) in &table.rows {
        let bad = |col: &str| RmeError::parse(name, Some(*line), format!("column '{col}' is not a finite number"));
        let far = |col: &str| RmeError::parse(name, Some(*line), format!("column '{col}' is outside ±{MAX_COORDINATE_M:e} m"));
        let x = number(&f[ix]).ok_or_else(|| bad("x_m"))?;
        let y = number(&f[iy]).ok_or_else(|| bad("y_m"))?;
        if x.abs() > MAX_COORDINATE_M {
            return Err(far("x_m"));
        }
        if y.abs() > MAX_COORDINATE_M {
            return Err(far("y_m"));
        }
        let t = match it {
            Some(i) => number(&f[i]).ok_or_else(|| bad("t_s"))?,
            None => 0.0,
        };
        let fr = match ifq {
            Some(i) => number(&f[i]).ok_or_else(|| bad("freq_hz"))?,
            None => f64::NAN,
        };
        points.push(Query { x_m: x, y_m: y, t_s: t, freq_hz: fr });
    }
    if points.is_empty() {
        return Err(RmeError::parse(name, None, "no query rows"));
    }
    Ok(QuerySet { points })
}

/// Writes a measurement set as a measurement CSV (position, time and frequency columns as
/// needed, then the quantity), which `read_measurements` reads back.
pub fn write_measurements(obs: &MeasurementSet) -> String {
    let query = QuerySet { points: obs.points.iter().map(|m| Query { x_m: m.x_m, y_m: m.y_m, t_s: m.t_s, freq_hz: m.freq_hz }).collect() };
    let values = Estimate { mean: obs.points.iter().map(|m| m.value).collect(), std: None };
    write_estimate(&query, &values, &obs.quantity)
}

/// Writes an estimate: the query columns, the quantity and `std_db` where there is one.
pub fn write_estimate(query: &QuerySet, est: &Estimate, quantity: &str) -> String {
    let with_t = query.points.iter().any(|q| q.t_s != 0.0);
    let with_f = query.points.iter().any(|q| q.freq_hz.is_finite());
    let mut out = String::from("x_m,y_m");
    if with_t {
        out.push_str(",t_s");
    }
    if with_f {
        out.push_str(",freq_hz");
    }
    out.push(',');
    out.push_str(if quantity.is_empty() { "power_dbm" } else { quantity });
    if est.std.is_some() {
        out.push_str(",std_db");
    }
    out.push('\n');
    for (i, q) in query.points.iter().enumerate() {
        out.push_str(&format!("{:.3},{:.3}", q.x_m, q.y_m));
        if with_t {
            out.push_str(&format!(",{}", q.t_s));
        }
        if with_f {
            out.push_str(&format!(",{}", q.freq_hz));
        }
        out.push_str(&format!(",{:.3}", est.mean[i]));
        if let Some(s) = &est.std {
            out.push_str(&format!(",{:.3}", s[i]));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_columns_by_name_with_comments_and_duplicates() {
        let text = "# drive test\ny_m,extra,x_m,power_dbm\n1,a,2,-50\n1,b,2,-60\n3,c,4,-70\n";
        let (set, rep) = read_measurements(text, "m.csv", None).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.points[0].x_m, 2.0);
        assert_eq!(set.points[0].value, -55.0);
        assert_eq!(rep.duplicates_merged, 1);
        assert_eq!(rep.first_duplicate_line, Some(4));
        assert!(set.points[0].freq_hz.is_nan());
    }

    /// A quoted field may hold a comma (an extra column of notes, say): the columns stay
    /// where the header says they are.
    #[test]
    fn quoted_fields_with_commas_keep_the_columns() {
        let text = "note,x_m,y_m,power_dbm\n\"roof, north side\",1,2,-60\n\"a \"\"quote\"\"\",3,4,-70\n";
        let (set, _) = read_measurements(text, "q.csv", None).unwrap();
        assert_eq!(set.points.len(), 2);
        assert_eq!((set.points[0].x_m, set.points[0].y_m, set.points[0].value), (1.0, 2.0, -60.0));
        assert_eq!((set.points[1].x_m, set.points[1].value), (3.0, -70.0));
        let e = read_measurements("x_m,y_m,power_dbm\n\"1,2,-60\n", "open.csv", None).unwrap_err().to_string();
        assert!(e.contains("open.csv"), "{e}");
    }

    #[test]
    fn sidecar_supplies_frequency_and_transmitter() {
        let sc = parse_sidecar(r#"{"frequency_hz": 918e6, "tx_m": [1, 2, 3], "quantity": "x"}"#, "m.json").unwrap();
        let (set, _) = read_measurements("x_m,y_m,power_db\n0,0,-1\n", "m.csv", Some(&sc)).unwrap();
        assert_eq!(set.points[0].freq_hz, 918e6);
        assert_eq!(set.tx_m, Some([1.0, 2.0, 3.0]));
        assert!(parse_sidecar("{\"frequency_hz\": -1}", "s.json").is_err());
        assert!(parse_sidecar("{not json", "s.json").is_err());
    }

    #[test]
    fn malformed_measurement_files_are_clear_errors() {
        let cases = [
            ("", "empty"),
            ("x_m,power_dbm\n1,2\n", "missing column 'y_m'"),
            ("x_m,y_m\n1,2\n", "no power column"),
            ("x_m,y_m,power_dbm,rss_dbm\n1,2,3,4\n", "several power columns"),
            ("x_m,y_m,power_dbm\n1,2,3\n1,2,nan\n5,6,inf\n", "2 rows"),
            ("x_m,y_m,power_dbm\n1,2\n", "line 2"),
            ("x_m,y_m,power_dbm\n", "no data rows"),
            ("x_m,y_m,power_dbm\n1,2,abc\n", "column 'power_dbm'"),
        ];
        for (text, expected) in cases {
            let e = read_measurements(text, "bad.csv", None).unwrap_err().to_string();
            assert!(e.contains("bad.csv") && e.contains(expected), "{text:?}: {e}");
        }
        let e = read_measurements("x_m,y_m,power_dbm\n1,2,3\n1,2,nan\n", "b.csv", None).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn far_points_are_reported() {
        let mut t = String::from("x_m,y_m,power_dbm\n");
        for i in 0..20 {
            t.push_str(&format!("{},{},-50\n", i, i % 5));
        }
        t.push_str("100000,0,-50\n");
        let (set, rep) = read_measurements(&t, "f.csv", None).unwrap();
        assert_eq!(set.len(), 21);
        assert_eq!(rep.far_points, 1);
        assert_eq!(rep.first_far_line, Some(22));
    }

    #[test]
    fn queries_and_estimate_round_trip() {
        let q = read_queries("x_m,y_m,t_s\n1,2,0\n3,4,1\n", "q.csv").unwrap();
        assert_eq!(q.len(), 2);
        assert!(read_queries("x_m,y_m\n1,x\n", "q.csv").unwrap_err().to_string().contains("line 2"));
        let est = Estimate { mean: vec![-50.0, -60.5], std: Some(vec![1.0, 2.0]) };
        let text = write_estimate(&q, &est, "power_dbm");
        assert!(text.starts_with("x_m,y_m,t_s,power_dbm,std_db\n1.000,2.000,0,-50.000,1.000\n"), "{text}");
        // The estimate is itself a valid measurement file.
        let (back, _) = read_measurements(&text, "e.csv", None).unwrap();
        assert_eq!(back.points[1].value, -60.5);
    }

    #[test]
    fn measurements_round_trip() {
        let obs = MeasurementSet::from_points(vec![
            Measurement { x_m: 1.0, y_m: 2.0, t_s: 0.0, freq_hz: 3.5e9, value: -61.25 },
            Measurement { x_m: 4.0, y_m: 8.0, t_s: 1.0, freq_hz: 3.5e9, value: -70.5 },
        ]);
        let text = write_measurements(&obs);
        assert!(text.starts_with("x_m,y_m,t_s,freq_hz,power_dbm\n"), "{text}");
        let (back, _) = read_measurements(&text, "m.csv", None).unwrap();
        assert_eq!(back.points, obs.points);
    }
}
