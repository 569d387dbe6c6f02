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
}
