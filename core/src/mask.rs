//! The three masking strategies of FM-RME (fm-rme.txt §III-A, MODELS.md §2.1), as splits of a
//! map's voxels into what an estimator sees and what it must predict. All seeded.
//! Voxels without a usable ground truth (NaN, inside buildings) are in neither part.

use crate::error::{Result, RmeError};
use crate::map::RadioMap;
use crate::rng::Rng;

/// How to split a map.
#[derive(Clone, Debug, PartialEq)]
pub enum MaskStrategy {
    /// A random `visible_ratio` of all voxels is seen; the rest is predicted.
    Spatial {
        /// Share of the voxels seen, in (0, 1).
        visible_ratio: f64,
    },
    /// Slots before `cutoff_slot` are seen at `visible_ratio`; every voxel from the cut-off on
    /// is predicted (forecasting).
    Temporal {
        /// First predicted slot.
        cutoff_slot: usize,
        /// Share of the earlier voxels seen, in (0, 1).
        visible_ratio: f64,
    },
    /// `masked_bands` bands chosen at random are predicted whole; the others are seen at
    /// `visible_ratio`.
    Spectral {
        /// Bands predicted whole.
        masked_bands: usize,
        /// Share of the other bands' voxels seen, in (0, 1).
        visible_ratio: f64,
    },
}

/// Flat voxel indices (`[T, F, H, W]` order) seen and to predict.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Split {
    /// Flat voxel indices the estimator sees.
    pub visible: Vec<usize>,
    /// Flat voxel indices it must predict (valid voxels only).
    pub hidden: Vec<usize>,
    /// For spectral masks: the bands predicted.
    pub masked_bands: Vec<usize>,
}

fn check_ratio(r: f64) -> Result<()> {
    if !(r > 0.0 && r <= 1.0) {
        return Err(RmeError::invalid("visible ratio", format!("{r} is not in (0, 1]")));
    }
    Ok(())
}

/// Picks `round(ratio·n)` (at least 1) of `candidates` at random, in increasing order.
fn pick(rng: &mut Rng, candidates: &[usize], ratio: f64) -> Vec<usize> {
    if candidates.is_empty() {
        return Vec::new();
    }
    let k = ((ratio * candidates.len() as f64).round() as usize).clamp(1, candidates.len());
    let mut chosen: Vec<usize> = rng.choose_indices(candidates.len(), k).into_iter().map(|i| candidates[i]).collect();
    chosen.sort_unstable();
    chosen
}

impl MaskStrategy {
    /// Splits the valid voxels of `map` into visible and hidden, reproducibly for `seed`.
    pub fn split(&self, map: &RadioMap, seed: u64) -> Result<Split> {
        let mut rng = Rng::new(seed);
        let n = map.grid.len();
        let [t_count, f_count, _, _] = map.shape();
        let valid = |v: usize| map.is_valid_voxel(v);
        match *self {
            MaskStrategy::Spatial { visible_ratio } => {
                check_ratio(visible_ratio)?;
                let all: Vec<usize> = (0..map.values.len()).filter(|&v| valid(v)).collect();
                if all.is_empty() {
                    return Err(RmeError::Empty(format!("map {} (no valid voxel)", map.id)));
                }
                let visible = pick(&mut rng, &all, visible_ratio);
                let hidden = complement(&all, &visible);
                Ok(Split { visible, hidden, masked_bands: vec![] })
            }
            MaskStrategy::Temporal { cutoff_slot, visible_ratio } => {
                check_ratio(visible_ratio)?;
                if cutoff_slot == 0 || cutoff_slot >= t_count {
                    return Err(RmeError::invalid("temporal cut-off", format!("slot {cutoff_slot} must be in 1..{t_count}")));
                }
                let boundary = cutoff_slot * f_count * n;
                let past: Vec<usize> = (0..boundary).filter(|&v| valid(v)).collect();
                let future: Vec<usize> = (boundary..map.values.len()).filter(|&v| valid(v)).collect();
                Ok(Split { visible: pick(&mut rng, &past, visible_ratio), hidden: future, masked_bands: vec![] })
            }
            MaskStrategy::Spectral { masked_bands, visible_ratio } => {
                check_ratio(visible_ratio)?;
                if masked_bands == 0 || masked_bands >= f_count {
                    return Err(RmeError::invalid(
                        "spectral mask",
                        format!("{masked_bands} masked bands of {f_count}: must leave at least one"),
                    ));
                }
                let mut bands = rng.choose_indices(f_count, masked_bands);
                bands.sort_unstable();
                let band_of = |v: usize| (v / n) % f_count;
                let seen: Vec<usize> = (0..map.values.len()).filter(|&v| valid(v) && !bands.contains(&band_of(v))).collect();
                let hidden: Vec<usize> = (0..map.values.len()).filter(|&v| valid(v) && bands.contains(&band_of(v))).collect();
                Ok(Split { visible: pick(&mut rng, &seen, visible_ratio), hidden, masked_bands: bands })
            }
        }
    }
}

/// Sorted `all` minus sorted `taken`.
fn complement(all: &[usize], taken: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(all.len() - taken.len());
    let mut j = 0;
    for &v in all {
        while j < taken.len() && taken[j] < v {
            j += 1;
        }
        if j < taken.len() && taken[j] == v {
            continue;
        }
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::Grid;

    fn map() -> RadioMap {
        let g = Grid::new(10, 10, 1.0, [0.0, 0.0]).unwrap();
        let mut values: Vec<f32> = (0..4 * 3 * 100).map(|i| i as f32).collect();
        values[5] = f32::NAN;
        let mut m = RadioMap::new("m", g, vec![0.0, 1.0, 2.0, 3.0], vec![1e9, 2e9, 3e9], values, "power_dbm").unwrap();
        let mut b = vec![0u8; 100];
        b[7] = 1;
        m.buildings = Some(b);
        m
    }

    #[test]
    fn spatial_mask_selects_the_ratio_and_partitions_valid_voxels() {
        let m = map();
        let s = MaskStrategy::Spatial { visible_ratio: 0.1 }.split(&m, 1).unwrap();
        let valid = m.values.len() - 1 - 12; // one NaN, a building cell in each of 12 slices
        assert_eq!(s.visible.len() + s.hidden.len(), valid);
        assert_eq!(s.visible.len(), (0.1 * valid as f64).round() as usize);
        assert!(s.visible.iter().chain(&s.hidden).all(|&v| m.is_valid_voxel(v)));
        assert!(s.visible.iter().all(|v| !s.hidden.contains(v)));
        assert_eq!(s, MaskStrategy::Spatial { visible_ratio: 0.1 }.split(&m, 1).unwrap());
        assert_ne!(s, MaskStrategy::Spatial { visible_ratio: 0.1 }.split(&m, 2).unwrap());
    }

    #[test]
    fn temporal_mask_hides_every_slot_after_the_cutoff() {
        let m = map();
        let s = MaskStrategy::Temporal { cutoff_slot: 3, visible_ratio: 0.5 }.split(&m, 1).unwrap();
        let slot = |v: usize| v / 300;
        assert!(s.visible.iter().all(|&v| slot(v) < 3));
        assert!(s.hidden.iter().all(|&v| slot(v) == 3));
        assert_eq!(s.hidden.len(), 3 * 99); // slot 3, three bands: 100 cells minus the building each
        assert!(MaskStrategy::Temporal { cutoff_slot: 4, visible_ratio: 0.5 }.split(&m, 1).is_err());
    }

    #[test]
    fn spectral_mask_hides_whole_bands() {
        let m = map();
        let s = MaskStrategy::Spectral { masked_bands: 1, visible_ratio: 0.3 }.split(&m, 4).unwrap();
        let band = |v: usize| (v / 100) % 3;
        assert_eq!(s.masked_bands.len(), 1);
        let b = s.masked_bands[0];
        assert!(s.hidden.iter().all(|&v| band(v) == b));
        assert!(s.visible.iter().all(|&v| band(v) != b));
        assert_eq!(s.hidden.len(), 4 * 99 - usize::from(b == 0)); // NaN voxel 5 is in band 0
        assert!(MaskStrategy::Spectral { masked_bands: 3, visible_ratio: 0.3 }.split(&m, 4).is_err());
    }

    #[test]
    fn bad_ratio_is_an_error() {
        assert!(MaskStrategy::Spatial { visible_ratio: 0.0 }.split(&map(), 1).is_err());
        assert!(MaskStrategy::Spatial { visible_ratio: f64::NAN }.split(&map(), 1).is_err());
    }
}
