//! Where to measure next: the candidate position where the estimate is least certain.
//!
//! The rule is the greedy uncertainty sampling of kriging-based survey design: among the
//! candidates (positions a surveyor could still measure: outdoors, not yet measured), take
//! the one with the largest predicted standard deviation. For a Gaussian process the
//! variance a new measurement removes at the other points grows with its own predictive
//! variance, so the largest σ is also, to first order, the largest drop of the map's mean σ
//! (the test below checks that on simulated maps, against random positions). Every method
//! that returns σ can suggest; a method without σ cannot, and says so.

use crate::error::{Result, RmeError};
use crate::map::Estimate;

/// The suggested next measurement: the candidate query with the largest σ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Suggestion {
    /// Index of the query (in the estimate's query set).
    pub query: usize,
    /// Its σ, in the estimate's unit (dB).
    pub std: f64,
}

/// The candidate of largest σ in `estimate` (ties: the lowest index, so the answer is the
/// same on every platform). `candidates` are query indices; `None` when there is none.
/// Errors: the method gives no σ (`method` names it), a candidate outside the estimate, or a
/// σ that is not a finite non-negative number.
pub fn suggest_next(estimate: &Estimate, candidates: &[usize], method: &str) -> Result<Option<Suggestion>> {
    let std = estimate
        .std
        .as_deref()
        .ok_or_else(|| RmeError::unsupported(method, "it gives no σ, so it cannot say where the map is least certain"))?;
    let mut best: Option<Suggestion> = None;
    for &query in candidates {
        let s = *std.get(query).ok_or_else(|| {
            RmeError::invalid("candidate position", format!("query {query} is outside the estimate ({} queries)", std.len()))
        })?;
        if !(s.is_finite() && s >= 0.0) {
            return Err(RmeError::numerical(method, format!("σ at query {query} is {s}")));
        }
        if best.is_none_or(|b| s > b.std || (s == b.std && query < b.query)) {
            best = Some(Suggestion { query, std: s });
        }
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::kriging::VariogramSpec;
    use crate::classic::{Kriging, Sample, SliceContext, Sliced};
    use crate::estimator::Estimator;
    use crate::rng::Rng;
    use crate::scene::SliceTask;
    use crate::sim::{DynamicPreset, DynamicSimulator};

    #[test]
    fn largest_std_among_the_candidates() {
        let e = Estimate { mean: vec![0.0; 5], std: Some(vec![1.0, 4.0, 2.0, 4.0, 9.0]) };
        // Query 4 is not a candidate; 1 and 3 tie: the lower index wins.
        assert_eq!(suggest_next(&e, &[0, 1, 2, 3], "m").unwrap(), Some(Suggestion { query: 1, std: 4.0 }));
        assert_eq!(suggest_next(&e, &[3, 1], "m").unwrap(), Some(Suggestion { query: 1, std: 4.0 }));
        assert_eq!(suggest_next(&e, &[], "m").unwrap(), None);
    }

    #[test]
    fn bad_input_is_an_error() {
        let no_std = Estimate { mean: vec![0.0; 3], std: None };
        let e = suggest_next(&no_std, &[0], "idw").unwrap_err().to_string();
        assert!(e.contains("idw") && e.contains("σ"), "{e}");
        let e = Estimate { mean: vec![0.0; 3], std: Some(vec![1.0, f64::NAN, 2.0]) };
        assert!(suggest_next(&e, &[7], "m").unwrap_err().to_string().contains("query 7"));
        assert!(suggest_next(&e, &[0, 1], "m").unwrap_err().to_string().contains("query 1"));
    }

    /// Mean σ over the slice's cells without a measurement after measuring `cells`, by kriging
    /// with the variogram `kriging` holds (fixed, so that only the new position changes σ,
    /// not a refit of the variogram).
    fn mean_std(kriging: &Kriging, task: &mut SliceTask, cells: &[usize]) -> f64 {
        task.set_cells(cells.to_vec()).unwrap();
        let e = Sliced(kriging.clone()).estimate(&task.measurements(), &task.queries()).unwrap();
        let std = e.std.unwrap();
        let hidden = task.hidden();
        hidden.iter().map(|&c| std[c]).sum::<f64>() / hidden.len() as f64
    }

    /// On simulated maps, measuring at the suggestion lowers the map's mean kriging σ more
    /// than measuring at a random free cell, on average over maps and sample sets.
    #[test]
    fn the_suggestion_lowers_the_mean_std_more_than_a_random_cell() {
        let sim = DynamicSimulator::new(DynamicPreset::by_name("D1").unwrap()).unwrap();
        let mut rng = Rng::new(11);
        let (mut gain_suggested, mut gain_random, mut trials) = (0.0, 0.0, 0);
        for seed in 0..4 {
            let mut task = SliceTask::new(sim.simulate(seed).unwrap(), 0, 0).unwrap();
            for draw in 0..2 {
                task.sample_random(25, seed * 10 + draw).unwrap();
                let cells = task.cells().to_vec();
                let hidden = task.hidden();
                let obs = task.measurements();
                let samples: Vec<Sample> = obs.points.iter().map(|m| Sample { x: m.x_m, y: m.y_m, value: m.value }).collect();
                let ctx = SliceContext { t_s: 0.0, freq_hz: f64::NAN, tx_m: None };
                let fitted = Kriging::ordinary().variogram_for(&ctx, &samples).unwrap();
                let kriging = Kriging { variogram: VariogramSpec::Fixed(fitted), ..Kriging::ordinary() };
                let e = Sliced(kriging.clone()).estimate(&obs, &task.queries()).unwrap();
                let before = mean_std(&kriging, &mut task, &cells);
                let next = suggest_next(&e, &hidden, "kriging").unwrap().unwrap().query;
                gain_suggested += before - mean_std(&kriging, &mut task, &[cells.clone(), vec![next]].concat());
                for _ in 0..3 {
                    let random = hidden[rng.below(hidden.len())];
                    gain_random += (before - mean_std(&kriging, &mut task, &[cells.clone(), vec![random]].concat())) / 3.0;
                }
                trials += 1;
            }
        }
        let (s, r) = (gain_suggested / trials as f64, gain_random / trials as f64);
        assert!(s > r, "mean σ drop: suggested {s:.4} dB, random {r:.4} dB");
    }
}
