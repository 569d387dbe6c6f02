//! Where measurements are taken on an urban map: the papers' sampling schemes. Samples are
//! only taken outdoors (nobody drives a measurement car through a building), so fractions
//! are fractions of the street cells.

use crate::error::{Result, RmeError};
use crate::rng::Rng;

/// A sampling scheme.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    /// Exactly `n` random outdoor cells (RadioDUN: 9…100).
    Count(usize),
    /// A random share of the outdoor cells (PI-DRME: 1 %…10 %).
    Fraction(f64),
    /// A regular lattice covering about this share of the cells, at a random offset,
    /// keeping its outdoor points (PI-DRME's 12.5 % uniform: every 2nd row, every 4th column).
    Uniform(f64),
}

impl Sampling {
    /// Parses `"9"` (a count), `"1%"` (a random fraction) or `"uniform:12.5%"`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || RmeError::invalid("sampling", format!("'{text}' is not a count (9), a percentage (1%) or uniform:12.5%"));
        let percent = |s: &str| -> Result<f64> {
            let v: f64 = s.strip_suffix('%').ok_or_else(bad)?.trim().parse().map_err(|_| bad())?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(RmeError::invalid("sampling", format!("{v} % is not in (0, 100]")));
            }
            Ok(v / 100.0)
        };
        let t = text.trim();
        if let Some(rest) = t.strip_prefix("uniform:") {
            return Ok(Sampling::Uniform(percent(rest)?));
        }
        if t.ends_with('%') {
            return Ok(Sampling::Fraction(percent(t)?));
        }
        match t.parse::<usize>() {
            Ok(0) => Err(RmeError::invalid("sampling", "a count of 0 samples")),
            Ok(n) => Ok(Sampling::Count(n)),
            Err(_) => Err(bad()),
        }
    }

    /// Its label in tables: `9 samples`, `1 %`, `uniform 12.5 %`.
    pub fn label(&self) -> String {
        match self {
            Sampling::Count(n) => format!("{n} samples"),
            Sampling::Fraction(f) => format!("{} %", f * 100.0),
            Sampling::Uniform(f) => format!("uniform {} %", f * 100.0),
        }
    }

    /// The sampled cells (row-major indices, sorted) of a `rows × cols` map with building mask
    /// `buildings` (1 = building), drawn from `rng`. Errors when the map has no outdoor cell or
    /// fewer than a count asks for.
    pub fn cells(&self, rows: usize, cols: usize, buildings: &[u8], rng: &mut Rng) -> Result<Vec<usize>> {
        if buildings.len() != rows * cols {
            return Err(RmeError::invalid("building mask", format!("{} cells for {rows}x{cols}", buildings.len())));
        }
        let outdoor: Vec<usize> = (0..rows * cols).filter(|&i| buildings[i] == 0).collect();
        if outdoor.is_empty() {
            return Err(RmeError::Empty("outdoor area of the map".into()));
        }
        let mut cells = match *self {
            Sampling::Count(n) => {
                if n > outdoor.len() {
                    return Err(RmeError::invalid("sampling", format!("{n} samples but only {} outdoor cells", outdoor.len())));
                }
                rng.choose_indices(outdoor.len(), n).into_iter().map(|k| outdoor[k]).collect()
            }
            Sampling::Fraction(f) => {
                let n = ((f * outdoor.len() as f64).round() as usize).clamp(1, outdoor.len());
                rng.choose_indices(outdoor.len(), n).into_iter().map(|k| outdoor[k]).collect()
            }
            Sampling::Uniform(f) => {
                let (sr, sc) = lattice_strides(f);
                let (or, oc) = (rng.below(sr), rng.below(sc));
                let cells: Vec<usize> = (or..rows)
                    .step_by(sr)
                    .flat_map(|r| (oc..cols).step_by(sc).map(move |c| r * cols + c))
                    .filter(|&i| buildings[i] == 0)
                    .collect();
                if cells.is_empty() {
                    return Err(RmeError::Empty("uniform lattice's outdoor points".into()));
                }
                cells
            }
        };
        cells.sort_unstable();
        Ok(cells)
    }
}

/// Row and column strides of a lattice with about `fraction` of the cells: the most square
/// factorisation of `round(1/fraction)` (8 → 2 × 4).
fn lattice_strides(fraction: f64) -> (usize, usize) {
    let k = ((1.0 / fraction).round() as usize).max(1);
    let mut best = (1, k);
    for a in 1..=k {
        if a * a > k {
            break;
        }
        if k.is_multiple_of(a) {
            best = (a, k / a);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_papers_schemes() {
        assert_eq!(Sampling::parse("9").unwrap(), Sampling::Count(9));
        assert_eq!(Sampling::parse("10%").unwrap(), Sampling::Fraction(0.1));
        assert_eq!(Sampling::parse("uniform:12.5%").unwrap(), Sampling::Uniform(0.125));
        for bad in ["0", "-3", "ten", "150%", "uniform:x%", ""] {
            let e = Sampling::parse(bad).unwrap_err().to_string();
            assert!(e.contains("sampling"), "{bad}: {e}");
        }
    }

    #[test]
    fn samples_stay_outdoors_and_counts_hold() {
        let (rows, cols) = (32, 32);
        // Every 4th row is a building: 768 outdoor cells.
        let buildings: Vec<u8> = (0..rows * cols).map(|i| ((i / cols) % 4 == 0) as u8).collect();
        let mut rng = Rng::new(1);
        for s in [Sampling::Count(9), Sampling::Fraction(0.1), Sampling::Uniform(0.125)] {
            let cells = s.cells(rows, cols, &buildings, &mut rng).unwrap();
            assert!(cells.iter().all(|&i| buildings[i] == 0), "{s:?}");
            let n = cells.len();
            match s {
                Sampling::Count(k) => assert_eq!(n, k),
                Sampling::Fraction(_) => assert_eq!(n, 77), // round(0.1 · 768)
                // Rows 2 apart, columns 4 apart: 8 columns × (16 rows, or 8 when the offset
                // lands the lattice on the building rows).
                Sampling::Uniform(_) => assert!(n == 128 || n == 64, "{n}"),
            }
        }
        assert_eq!(lattice_strides(0.125), (2, 4));
        let e = Sampling::Count(2000).cells(rows, cols, &buildings, &mut rng).unwrap_err().to_string();
        assert!(e.contains("768 outdoor"), "{e}");
    }
}
