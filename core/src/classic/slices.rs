//! Classical estimators are spatial: they interpolate one `(slot, band)` slice at a time.
//! This module cuts measurement and query sets into slices and decides, for a query slice
//! with no measurements of its own, which slice stands in for it:
//! 1. the same band at the latest earlier slot (persistence, for temporal prediction), else
//!    the same band at the nearest slot;
//! 2. with no measurement in that band: the nearest band at the query's slot (else at the
//!    nearest slot), shifted by the free-space frequency term `−20·log10(f_q / f_s)` — the
//!    frequency dependence of the path loss (spectral prediction).

use crate::error::{Result, RmeError};
use crate::estimator::Estimator;
use crate::map::{Estimate, MeasurementSet, QuerySet, SliceKey as Key};
use std::collections::BTreeMap;

/// A measurement reduced to what a spatial method needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Position east, metres.
    pub x: f64,
    /// Position north, metres.
    pub y: f64,
    /// Measured value.
    pub value: f64,
}

/// What a spatial method may know about the slice it works on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SliceContext {
    /// The slice's slot time, seconds.
    pub t_s: f64,
    /// NaN when unknown.
    pub freq_hz: f64,
    /// Transmitter position, where known.
    pub tx_m: Option<[f64; 3]>,
}

/// A method that interpolates one slice.
pub trait SpatialMethod {
    /// The method's name.
    fn name(&self) -> &str;
    /// Mean (and standard deviation, where the method has one) at each query point.
    fn estimate_slice(&self, ctx: &SliceContext, samples: &[Sample], queries: &[[f64; 2]]) -> Result<(Vec<f64>, Option<Vec<f64>>)>;
}

/// Any spatial method, made into an [`Estimator`] over slots and bands.
pub struct Sliced<M: SpatialMethod>(pub M);

/// The slice whose measurements answer the query slice `want` (the module's rule).
fn source_for(slices: &BTreeMap<Key, Vec<Sample>>, want: Key) -> Option<Key> {
    if slices.contains_key(&want) {
        return Some(want);
    }
    let same_band: Vec<Key> = slices.keys().filter(|k| k.f_hz == want.f_hz).copied().collect();
    if !same_band.is_empty() {
        let past = same_band.iter().filter(|k| k.t_us <= want.t_us).max_by_key(|k| k.t_us);
        return past.copied().or_else(|| same_band.iter().min_by_key(|k| (k.t_us - want.t_us).abs()).copied());
    }
    // Nearest band, then nearest slot (ties: earlier).
    slices
        .keys()
        .min_by_key(|k| {
            let df = if k.f_hz == Key::NO_FREQ || want.f_hz == Key::NO_FREQ { i64::MAX / 4 } else { (k.f_hz - want.f_hz).abs() };
            (df, (k.t_us - want.t_us).abs(), k.t_us)
        })
        .copied()
}

impl<M: SpatialMethod> Estimator for Sliced<M> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn estimate(&self, obs: &MeasurementSet, query: &QuerySet) -> Result<Estimate> {
        let mut out = Estimate { mean: vec![f64::NAN; query.len()], std: None };
        for task in slice_tasks(obs, query)? {
            let (m, s) = self.0.estimate_slice(&task.ctx, &task.samples, &task.points)?;
            task.fill(&mut out, &m, s.as_deref());
        }
        Ok(out)
    }
}

/// The work of one query slice: the slice whose measurements answer it, the queries' places
/// in the query set and their positions, and the frequency shift when a band stands in for
/// another.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceTask {
    /// The answering slice.
    pub ctx: SliceContext,
    /// Its measurements.
    pub samples: Vec<Sample>,
    /// Indices of the queries in the query set.
    pub indices: Vec<usize>,
    /// Their positions.
    pub points: Vec<[f64; 2]>,
    /// Added to every mean: `−20·log10(f_q / f_s)` when the band differs, else 0.
    pub shift: f64,
}

impl SliceTask {
    /// Writes a slice method's answer (mean and, where it has one, σ) into `out`.
    pub fn fill(&self, out: &mut Estimate, mean: &[f64], std: Option<&[f64]>) {
        let len = out.mean.len();
        for (k, &i) in self.indices.iter().enumerate() {
            out.mean[i] = mean[k] + self.shift;
        }
        if let Some(s) = std {
            let o = out.std.get_or_insert_with(|| vec![f64::NAN; len]);
            for (k, &i) in self.indices.iter().enumerate() {
                o[i] = s[k];
            }
        }
    }
}

/// Cuts a problem into slice tasks (the rule of the module's doc), checking both sets first.
/// [`Sliced`] runs them one after another; a model that reads its results back
/// asynchronously (STORM on WebGPU) runs the same tasks.
pub fn slice_tasks(obs: &MeasurementSet, query: &QuerySet) -> Result<Vec<SliceTask>> {
    obs.validate()?;
    query.validate()?;
    let mut slices: BTreeMap<Key, Vec<Sample>> = BTreeMap::new();
    for m in &obs.points {
        slices.entry(Key::of(m.t_s, m.freq_hz)).or_default().push(Sample { x: m.x_m, y: m.y_m, value: m.value });
    }
    let mut groups: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, q) in query.points.iter().enumerate() {
        groups.entry(Key::of(q.t_s, q.freq_hz)).or_default().push(i);
    }
    let mut tasks = Vec::with_capacity(groups.len());
    for (want, indices) in groups {
        let src = source_for(&slices, want).ok_or_else(|| RmeError::Empty("measurement set".into()))?;
        let first = &query.points[indices[0]];
        let ctx = SliceContext {
            t_s: src.t_us as f64 * 1e-6,
            freq_hz: if src.f_hz == Key::NO_FREQ { f64::NAN } else { src.f_hz as f64 },
            tx_m: obs.tx_m,
        };
        // Frequency correction when a band stands in for another.
        let shift = if src.f_hz != want.f_hz && src.f_hz != Key::NO_FREQ && first.freq_hz.is_finite() {
            -20.0 * (first.freq_hz / ctx.freq_hz).log10()
        } else {
            0.0
        };
        let points = indices.iter().map(|&i| [query.points[i].x_m, query.points[i].y_m]).collect();
        tasks.push(SliceTask { ctx, samples: slices[&src].clone(), indices, points, shift });
    }
    Ok(tasks)
}

/// Indices of the `k` samples nearest to `q` (all when there are at most `k`).
pub fn nearest(samples: &[Sample], q: [f64; 2], k: usize) -> Vec<usize> {
    crate::rank::lowest_indices(samples.iter().map(|s| (s.x - q[0]).powi(2) + (s.y - q[1]).powi(2)), k)
}

/// Many [`nearest`] searches among the same samples (a map's thousands of queries): the
/// samples binned once into square cells (about two per cell); each search visits rings of
/// cells outward from its query's cell and stops once a ring's nearest possible point is
/// past the worst of the `k` kept. Its answers are [`nearest`]'s exactly (ties by index
/// included); it only skips samples that cannot enter.
pub struct NearestSamples<'a> {
    samples: &'a [Sample],
    /// Lower-left corner of the cell grid.
    origin: [f64; 2],
    /// Cell side (metres).
    cell: f64,
    /// Cells per row and per column.
    cols: usize,
    rows: usize,
    /// Sample indices by cell, row-major: cell `c` holds `members[starts[c]..starts[c + 1]]`.
    starts: Vec<usize>,
    members: Vec<usize>,
}

impl<'a> NearestSamples<'a> {
    /// The search structure over `samples` (samples at non-finite positions are binned
    /// nowhere: they are never nearer than a finite one).
    pub fn new(samples: &'a [Sample]) -> Self {
        let finite = || samples.iter().filter(|s| s.x.is_finite() && s.y.is_finite());
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for s in finite() {
            lo = [lo[0].min(s.x), lo[1].min(s.y)];
            hi = [hi[0].max(s.x), hi[1].max(s.y)];
        }
        let count = finite().count();
        if count == 0 {
            return Self { samples, origin: [0.0; 2], cell: 1.0, cols: 1, rows: 1, starts: vec![0, 0], members: vec![] };
        }
        let extent = [(hi[0] - lo[0]).max(1e-9), (hi[1] - lo[1]).max(1e-9)];
        // About two samples per cell; a grid of at most 4096 cells a side.
        let cell = (extent[0] * extent[1] / (count as f64 / 2.0).max(1.0)).sqrt().max(extent[0].max(extent[1]) / 4096.0);
        let cols = ((extent[0] / cell).floor() as usize + 1).min(4097);
        let rows = ((extent[1] / cell).floor() as usize + 1).min(4097);
        let mut this = Self { samples, origin: lo, cell, cols, rows, starts: vec![0; cols * rows + 1], members: vec![] };
        let cell_of = |s: &Sample| this.cell_index(this.column(s.x), this.row(s.y));
        let cells: Vec<Option<usize>> = samples.iter().map(|s| (s.x.is_finite() && s.y.is_finite()).then(|| cell_of(s))).collect();
        for c in cells.iter().flatten() {
            this.starts[c + 1] += 1;
        }
        for c in 0..cols * rows {
            this.starts[c + 1] += this.starts[c];
        }
        let mut next = this.starts.clone();
        this.members = vec![0; count];
        for (i, c) in cells.iter().enumerate() {
            if let Some(c) = c {
                this.members[next[*c]] = i;
                next[*c] += 1;
            }
        }
        this
    }

    fn column(&self, x: f64) -> usize {
        (((x - self.origin[0]) / self.cell).floor().max(0.0) as usize).min(self.cols - 1)
    }

    fn row(&self, y: f64) -> usize {
        (((y - self.origin[1]) / self.cell).floor().max(0.0) as usize).min(self.rows - 1)
    }

    fn cell_index(&self, column: usize, row: usize) -> usize {
        row * self.cols + column
    }

    /// Squared distance from `q` to the nearest point of cell `(column, row)`.
    fn gap2(&self, q: [f64; 2], column: usize, row: usize) -> f64 {
        let axis = |v: f64, lo: f64| (lo - v).max(v - (lo + self.cell)).max(0.0);
        let dx = axis(q[0], self.origin[0] + column as f64 * self.cell);
        let dy = axis(q[1], self.origin[1] + row as f64 * self.cell);
        dx * dx + dy * dy
    }

    /// [`nearest`]`(samples, q, k)`.
    pub fn of(&self, q: [f64; 2], k: usize) -> Vec<usize> {
        if k >= self.members.len() || !(q[0].is_finite() && q[1].is_finite()) {
            // Every sample is an answer (or the query is nowhere): the plain scan is as cheap.
            return nearest(self.samples, q, k);
        }
        let mut top = crate::rank::TopK::new(k);
        let (qc, qr) = (self.column(q[0]) as isize, self.row(q[1]) as isize);
        let (cols, rows) = (self.cols as isize, self.rows as isize);
        let visit = |column: isize, row: isize, top: &mut crate::rank::TopK| {
            if column < 0 || row < 0 || column >= cols || row >= rows {
                return;
            }
            let (cu, ru) = (column as usize, row as usize);
            if top.bar().is_some_and(|bar| self.gap2(q, cu, ru) > bar) {
                return;
            }
            let cell = self.cell_index(cu, ru);
            for &i in &self.members[self.starts[cell]..self.starts[cell + 1]] {
                let s = &self.samples[i];
                let d2 = (s.x - q[0]).powi(2) + (s.y - q[1]).powi(2);
                // Strictly past the bar: one at exactly the bar may still enter on its index.
                if !top.bar().is_some_and(|bar| d2 > bar) {
                    top.offer(d2, i);
                }
            }
        };
        for ring in 0..=cols.max(rows) {
            // Every cell of ring `ring` is at least `ring − 1` whole cells from the query (a
            // query outside the grid is further still from all but its clamped edge cell).
            let reach = ((ring - 1).max(0) as f64) * self.cell;
            if top.bar().is_some_and(|bar| reach * reach > bar) {
                break;
            }
            let (r0, r1, c0, c1) = (qr - ring, qr + ring, qc - ring, qc + ring);
            if ring > 0 && r0 < 0 && c0 < 0 && r1 >= rows && c1 >= cols {
                break; // the ring, and every later one, lies wholly outside the grid
            }
            // The ring's top and bottom rows whole, its side columns between them.
            for c in c0.max(0)..=c1.min(cols - 1) {
                visit(c, r0, &mut top);
                if r1 != r0 {
                    visit(c, r1, &mut top);
                }
            }
            for r in (r0 + 1).max(0)..=(r1 - 1).min(rows - 1) {
                visit(c0, r, &mut top);
                if c1 != c0 {
                    visit(c1, r, &mut top);
                }
            }
        }
        top.into_sorted().into_iter().map(|(_, i)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::{Measurement, Query};

    /// Returns the mean of the slice it is given: shows which slice was chosen.
    struct SliceMean;
    impl SpatialMethod for SliceMean {
        fn name(&self) -> &str {
            "slice-mean"
        }
        fn estimate_slice(&self, _: &SliceContext, s: &[Sample], q: &[[f64; 2]]) -> Result<(Vec<f64>, Option<Vec<f64>>)> {
            let m = s.iter().map(|s| s.value).sum::<f64>() / s.len() as f64;
            Ok((vec![m; q.len()], None))
        }
    }

    fn m(t: f64, f: f64, v: f64) -> Measurement {
        Measurement { x_m: 0.0, y_m: 0.0, t_s: t, freq_hz: f, value: v }
    }
    fn q(t: f64, f: f64) -> Query {
        Query { x_m: 1.0, y_m: 1.0, t_s: t, freq_hz: f }
    }

    #[test]
    fn picks_same_slice_then_persistence_then_nearest_band() {
        let obs = MeasurementSet::from_points(vec![m(0.0, 3e9, -50.0), m(1.0, 3e9, -60.0), m(0.0, 4e9, -70.0)]);
        let qs = QuerySet { points: vec![q(1.0, 3e9), q(5.0, 3e9), q(0.0, 6e9), q(5.0, 4e9)] };
        let e = Sliced(SliceMean).estimate(&obs, &qs).unwrap();
        assert_eq!(e.mean[0], -60.0);
        assert_eq!(e.mean[1], -60.0); // latest earlier slot of the band
        // 6 GHz has no data: nearest band 4 GHz at t=0, minus 20·log10(6/4).
        assert!((e.mean[2] - (-70.0 - 20.0 * 1.5f64.log10())).abs() < 1e-9);
        assert_eq!(e.mean[3], -70.0);
    }

    #[test]
    fn nearest_returns_sorted_k() {
        let s: Vec<Sample> = (0..10).map(|i| Sample { x: i as f64, y: 0.0, value: 0.0 }).collect();
        assert_eq!(nearest(&s, [3.2, 0.0], 3), vec![3, 4, 2]);
        assert_eq!(nearest(&s, [0.0, 0.0], 20).len(), 10);
    }

    /// The binned search answers what the full scan answers: random samples on a coarse lattice (many
    /// ties in distance, several per cell), queries on and off it, k below and above the sample count.
    #[test]
    fn the_binned_search_finds_the_nearest_exactly() {
        let mut rng = crate::rng::Rng::new(5);
        for n in [0, 1, 7, 60, 400] {
            let s: Vec<Sample> =
                (0..n).map(|_| Sample { x: (rng.range(0.0, 20.0)).round(), y: (rng.range(0.0, 20.0)).round(), value: 0.0 }).collect();
            let sweep = NearestSamples::new(&s);
            for _ in 0..200 {
                let q = [rng.range(-5.0, 25.0).round() * 0.5, rng.range(-5.0, 25.0)];
                for k in [0, 1, 5, 16, 500] {
                    assert_eq!(sweep.of(q, k), nearest(&s, q, k), "n {n}, q {q:?}, k {k}");
                }
            }
        }
    }
}
