//! Parsers of the CLI's values, run by clap where it parses each argument: a bad value is an
//! error naming the flag before any work starts (and before any output folder is made).

use clap::builder::RangedU64ValueParser;
use std::fmt;

/// A non-empty comma-separated list (`--methods idw,kriging`); items are trimmed, and an empty
/// item (`a,,b`, `""`, `","`) is an error rather than silently dropped.
#[derive(Clone, Debug, PartialEq)]
pub struct List(pub Vec<String>);

impl List {
    pub fn items(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

pub fn list(s: &str) -> Result<List, String> {
    let items: Vec<String> = s.split(',').map(|x| x.trim().to_string()).collect();
    if items.iter().all(|x| x.is_empty()) {
        return Err("the list is empty".into());
    }
    if items.iter().any(|x| x.is_empty()) {
        return Err(format!("'{s}' has an empty item"));
    }
    Ok(List(items))
}

/// A list of dynamic presets (D1 … D7), each checked by name.
pub fn presets(s: &str) -> Result<List, String> {
    let l = list(s)?;
    for p in l.items() {
        rme_core::sim::DynamicPreset::by_name(p).map_err(|e| e.to_string())?;
    }
    Ok(l)
}

/// One dynamic preset (D1 … D7).
pub fn preset(s: &str) -> Result<String, String> {
    rme_core::sim::DynamicPreset::by_name(s).map(|p| p.name.to_string()).map_err(|e| e.to_string())
}

/// A scene of the demo page: a dynamic preset or the urban scene.
pub fn scene_preset(s: &str) -> Result<String, String> {
    if s.eq_ignore_ascii_case(rme_core::scene::URBAN_PRESET) {
        return Ok(rme_core::scene::URBAN_PRESET.to_string());
    }
    preset(s).map_err(|e| format!("{e}, or {}", rme_core::scene::URBAN_PRESET))
}

/// Observed fractions, each in (0, 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Fractions(pub Vec<f64>);

pub fn fractions(s: &str) -> Result<Fractions, String> {
    let mut v = Vec::new();
    for x in list(s)?.items() {
        let f: f64 = x.parse().map_err(|_| format!("'{x}' is not a number"))?;
        if !(f > 0.0 && f < 1.0) {
            return Err(format!("{x} is not in (0, 1)"));
        }
        v.push(f);
    }
    Ok(Fractions(v))
}

/// An integer ≥ 1 (`--count`, `--slices`, `--steps` …): 0 is an error, never taken as 1.
pub fn at_least_one() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(1..)
}

/// A `u64` ≥ 1.
pub fn at_least_one_u64() -> RangedU64ValueParser<u64> {
    RangedU64ValueParser::<u64>::new().range(1..)
}

/// A finite number > 0 (learning rate, cell size).
pub fn positive(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !(v > 0.0 && v.is_finite()) {
        return Err(format!("{s} is not a finite number > 0"));
    }
    Ok(v)
}

/// A finite number ≥ 0 (weight decay, gradient clipping where 0 is off).
pub fn non_negative(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !(v >= 0.0 && v.is_finite()) {
        return Err(format!("{s} is not a finite number ≥ 0"));
    }
    Ok(v)
}

/// A share in [0, 1].
pub fn share(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{s} is not in [0, 1]"));
    }
    Ok(v)
}

/// A finite number (a time or a frequency).
pub fn finite(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() {
        return Err(format!("{s} is not finite"));
    }
    Ok(v)
}

/// A model name that is one plain folder name: letters, digits, `-`, `_` and `.`, not
/// starting with a dot — so `--name` can never reach outside `--out`.
pub fn folder_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if !ok {
        return Err(format!("'{s}' is not a plain name (letters, digits, '-', '_', '.'; not starting with '.')"));
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_reject_empty_items() {
        assert_eq!(list(" a, b ").unwrap().0, vec!["a", "b"]);
        for bad in ["", ",", " , ", "a,,b", "a,"] {
            assert!(list(bad).is_err(), "{bad:?}");
        }
        assert!(presets("D1,D9").unwrap_err().contains("D9"));
        assert_eq!(presets("d1,D2").unwrap().0.len(), 2);
        assert_eq!(scene_preset("urban").unwrap(), "urban");
        assert!(scene_preset("D8").unwrap_err().contains("urban"));
    }

    #[test]
    fn numbers_are_range_checked() {
        assert_eq!(fractions("0.1,0.5").unwrap().0, vec![0.1, 0.5]);
        for bad in ["0", "1", "nan", "0.1,x", ""] {
            assert!(fractions(bad).is_err(), "{bad:?}");
        }
        assert!(positive("0").is_err() && positive("inf").is_err() && positive("NaN").is_err());
        assert!(non_negative("-1").is_err() && non_negative("0").is_ok());
        assert!(share("1.5").is_err() && share("NaN").is_err() && share("1").is_ok());
        assert!(finite("inf").is_err() && finite("-3").is_ok());
    }

    #[test]
    fn folder_names_cannot_escape() {
        for bad in ["../../x", "a/b", "..", ".hidden", "", "a\\b", "a b"] {
            assert!(folder_name(bad).is_err(), "{bad:?}");
        }
        assert!(folder_name("fm-rme-small.v2").is_ok());
    }
}
