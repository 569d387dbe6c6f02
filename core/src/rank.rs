//! The one top-k rule of the crate: the `k` lowest scores, ties broken by index, in increasing
//! order — deterministic on every platform. Neighbour searches (kriging's local
//! neighbourhoods, FM-RME's contexts and k-NN graph) all select through it.

/// The (at most) `k` entries of `scored` with the lowest `(score, index)`, sorted that way.
pub fn lowest(mut scored: Vec<(f64, usize)>, k: usize) -> Vec<(f64, usize)> {
    let order = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if k < scored.len() {
        scored.select_nth_unstable_by(k, order);
        scored.truncate(k);
    }
    scored.sort_by(order);
    scored
}

/// The `k` lowest `(score, index)` entries among those offered, in any order: a sorted buffer
/// that an entry enters only when it beats the worst kept one — for `k ≪ n` (a query's 16
/// neighbours among hundreds of points, thousands of times per map) most offers cost one
/// comparison. [`TopK::into_sorted`] equals [`lowest`] of the same entries.
#[derive(Clone, Debug)]
pub struct TopK {
    k: usize,
    best: Vec<(f64, usize)>,
}

impl TopK {
    /// An empty selection of at most `k` entries.
    pub fn new(k: usize) -> Self {
        Self { k, best: Vec::with_capacity(k + 1) }
    }

    /// The worst score kept once `k` are kept (an entry must score below it, or tie it with a
    /// lower index, to enter); `None` until then.
    pub fn bar(&self) -> Option<f64> {
        (self.k > 0 && self.best.len() == self.k).then(|| self.best[self.k - 1].0)
    }

    /// Offers entry `(score, index)`.
    pub fn offer(&mut self, score: f64, index: usize) {
        let order = |e: &(f64, usize)| e.0.total_cmp(&score).then(e.1.cmp(&index));
        if self.best.len() == self.k {
            match self.best.last() {
                Some(worst) if order(worst).is_gt() => {
                    self.best.pop();
                }
                _ => return,
            }
        }
        let at = self.best.partition_point(|e| order(e).is_lt());
        self.best.insert(at, (score, index));
    }

    /// The kept entries in increasing `(score, index)`.
    pub fn into_sorted(self) -> Vec<(f64, usize)> {
        self.best
    }
}

/// Indices of the (at most) `k` lowest scores, in increasing `(score, index)`.
pub fn lowest_indices(scores: impl Iterator<Item = f64>, k: usize) -> Vec<usize> {
    lowest(scores.enumerate().map(|(i, s)| (s, i)).collect(), k).into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_breaks_ties_by_index_and_sorts() {
        let got = lowest(vec![(3.0, 0), (1.0, 1), (1.0, 2), (0.5, 3), (9.0, 4)], 3);
        assert_eq!(got, vec![(0.5, 3), (1.0, 1), (1.0, 2)]);
        assert_eq!(lowest_indices([2.0, 1.0].into_iter(), 5), vec![1, 0]);
        assert!(lowest(vec![], 3).is_empty());
        assert!(lowest_indices([1.0].into_iter(), 0).is_empty());
    }

    #[test]
    fn top_k_selects_what_lowest_selects_in_any_order() {
        let mut rng = crate::rng::Rng::new(7);
        for n in [0, 1, 5, 40, 400] {
            // Coarse scores, so that ties are common; a NaN and infinities among them.
            let mut scores: Vec<f64> = (0..n).map(|_| rng.below(20) as f64).collect();
            if n > 3 {
                scores[1] = f64::NAN;
                scores[2] = f64::INFINITY;
                scores[3] = f64::NEG_INFINITY;
            }
            let mut shuffled: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                shuffled.swap(i, rng.below(i + 1));
            }
            for k in [0, 1, 3, 16, 50, 500] {
                let want = lowest(scores.iter().copied().enumerate().map(|(i, s)| (s, i)).collect(), k);
                let bits = |v: &[(f64, usize)]| v.iter().map(|&(s, i)| (s.to_bits(), i)).collect::<Vec<_>>();
                for order in [(0..n).collect::<Vec<_>>(), shuffled.clone()] {
                    let mut top = TopK::new(k);
                    for &i in &order {
                        top.offer(scores[i], i);
                    }
                    assert_eq!(bits(&top.into_sorted()), bits(&want), "n {n}, k {k}");
                }
            }
        }
    }
}
