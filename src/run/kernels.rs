//! Consumers of the streaming pass ([`BlockSink`]s): projection onto an analysis basis, the
//! per-coordinate moments (column sums and shifted sums of squares), and plain collection.
//!
//! The projection is a blocked matrix product X Pᵀ computed four rows at a time with the k basis
//! coefficients of a coordinate in SIMD lanes (AVX2 when the CPU has it, chosen at run time).
//! Each output entry is still the sum over coordinates j = 0, 1, …, d − 1 in increasing order,
//! with separate multiply and add (Rust never fuses them), so the projected rows are
//! bit-identical to the element-by-element definition `out[a] += x_j · P[a, j]`, on every CPU
//! and for every block size. Cost O(rows · d · k) flops, streaming the block once per 8 lanes.

use super::pass::{Block, BlockSink};
use super::subspace::{Subspace, SubspaceKind};

/// Projects the rows of an (n × d) array onto a subspace: `out` is n × k, row-major.
pub struct Projector<'a> {
    sub: &'a Subspace,
    pub out: Vec<f64>,
}

impl<'a> Projector<'a> {
    /// A projector for `rows` rows. Memory: rows · k doubles.
    pub fn new(sub: &'a Subspace, rows: usize) -> Self {
        Projector {
            sub,
            out: vec![0.0; rows * sub.k()],
        }
    }
}

impl BlockSink for Projector<'_> {
    fn consume(&mut self, b: &Block) {
        let k = self.sub.k();
        let out = &mut self.out[b.rows.start * k..b.rows.end * k];
        match (self.sub.kind(), b.col_major) {
            (SubspaceKind::Identity, false) => {
                let w = b.cols.len();
                for (o, x) in out.chunks_exact_mut(k).zip(b.data.chunks_exact(w)) {
                    for (o, x) in o[b.cols.clone()].iter_mut().zip(x) {
                        *o += x;
                    }
                }
            }
            (SubspaceKind::RandomOrthonormal | SubspaceKind::HessianEigenbasis, false) => {
                project_rows(b.data, b.cols.len(), self.sub.panel(b.cols.clone()), k, out)
            }
            (_, true) => {
                for j in b.cols.clone() {
                    for (i, o) in b.rows.clone().zip(out.chunks_exact_mut(k)) {
                        self.sub.accumulate(j, b.get(i, j), o);
                    }
                }
            }
        }
    }
}

avx2_dispatch! {
    /// out (rows × k) += X (rows × width, row-major) · panel (width × k, row j = coefficients of
    /// coordinate j); per output entry the terms are added in increasing j.
    pub fn project_rows(x: &[f64], width: usize, panel: &[f64], k: usize, out: &mut [f64]) -> () =
        project_rows_impl
}

#[inline(always)]
fn project_rows_impl(x: &[f64], width: usize, panel: &[f64], k: usize, out: &mut [f64]) {
    if width == 0 || k == 0 {
        return;
    }
    let panel = &panel[..width * k];
    let mut rows = x.chunks_exact(4 * width).zip(out.chunks_exact_mut(4 * k));
    for (x4, o4) in &mut rows {
        let mut a0 = 0;
        while a0 + 8 <= k {
            rows4_lanes8(x4, width, panel, k, a0, o4);
            a0 += 8;
        }
        for a in a0..k {
            for r in 0..4 {
                let xr = &x4[r * width..(r + 1) * width];
                let mut acc = o4[r * k + a];
                for (xj, p) in xr.iter().zip(panel.chunks_exact(k)) {
                    acc += xj * p[a];
                }
                o4[r * k + a] = acc;
            }
        }
    }
    let done = x.len() / (4 * width) * 4;
    for (xr, o) in x[done * width..]
        .chunks_exact(width)
        .zip(out[done * k..].chunks_exact_mut(k))
    {
        for (xj, p) in xr.iter().zip(panel.chunks_exact(k)) {
            for (o, p) in o.iter_mut().zip(p) {
                *o += xj * p;
            }
        }
    }
}

/// Four rows × eight lanes [a0, a0 + 8) of the output, kept in registers across the row.
#[inline(always)]
fn rows4_lanes8(x4: &[f64], width: usize, panel: &[f64], k: usize, a0: usize, o4: &mut [f64]) {
    let mut acc = [[0.0f64; 8]; 4];
    for (r, acc) in acc.iter_mut().enumerate() {
        acc.copy_from_slice(&o4[r * k + a0..r * k + a0 + 8]);
    }
    let (x0, rest) = x4.split_at(width);
    let (x1, rest) = rest.split_at(width);
    let (x2, x3) = rest.split_at(width);
    for ((((p, &v0), &v1), &v2), &v3) in panel.chunks_exact(k).zip(x0).zip(x1).zip(x2).zip(x3) {
        let b: &[f64; 8] = p[a0..a0 + 8].try_into().expect("8 lanes");
        let v = [v0, v1, v2, v3];
        for r in 0..4 {
            for l in 0..8 {
                acc[r][l] += v[r] * b[l];
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        o4[r * k + a0..r * k + a0 + 8].copy_from_slice(acc);
    }
}

/// Per-coordinate running moments of the rows of an (n × d) array: for every column j the sum
/// Σ_i x_ij and the sum of squares about the first row, Σ_i (x_ij − x_0j)², from which the mean
/// and the variance follow without cancellation (the shift makes the variance exact for data far
/// from 0). Cost 4 flops per element, vectorised along the row; memory 3 d doubles.
#[derive(Debug, Clone)]
pub struct CoordinateMoments {
    pub n: usize,
    pub shift: Vec<f64>,
    pub sum: Vec<f64>,
    pub sum_sq_shifted: Vec<f64>,
    /// The every-coordinate screen's sums and extremes ([`Self::with_screen`]), if asked for.
    pub screen: Option<ScreenSums>,
}

impl CoordinateMoments {
    pub fn new(n: usize, d: usize) -> Self {
        CoordinateMoments {
            n,
            shift: vec![0.0; d],
            sum: vec![0.0; d],
            sum_sq_shifted: vec![0.0; d],
            screen: None,
        }
    }

    /// As [`Self::new`], and also accumulates the power sums of the every-coordinate screen
    /// ([`ScreenSums`]): Σy, Σy³, Σy⁴ of y = x − x₀ per coordinate. Extra cost ~6 flops per
    /// element (one vectorised loop), memory 3d doubles. The Hill extremes are collected
    /// afterwards, for [`TAIL_CANDIDATES`] coordinates only ([`TailExtremes`]).
    pub fn with_screen(n: usize, d: usize) -> Self {
        let mut m = Self::new(n, d);
        m.screen = Some(ScreenSums::new(d));
        m
    }

    /// The screen's per-coordinate moments and, for the coordinates `tails` collected, Hill
    /// tail indices (NaN elsewhere; `tail_k` = 0 without `tails`). `None` without
    /// [`Self::with_screen`]. Cost O(d + M·K log K).
    pub fn screen_result(&self, tails: Option<&TailExtremes>) -> Option<CoordinateScreen> {
        self.screen.as_ref().map(|s| s.result(self, tails))
    }

    /// Mean of column j.
    pub fn mean(&self, j: usize) -> f64 {
        self.sum[j] / self.n as f64
    }

    /// Sample variance of column j (divisor n − 1), clamped at 0.
    pub fn variance(&self, j: usize) -> f64 {
        let n = self.n as f64;
        let dm = self.mean(j) - self.shift[j];
        ((self.sum_sq_shifted[j] - n * dm * dm) / (n - 1.0)).max(0.0)
    }
}

impl BlockSink for CoordinateMoments {
    fn consume(&mut self, b: &Block) {
        if b.col_major {
            for j in b.cols.clone() {
                for i in b.rows.clone() {
                    let v = b.get(i, j);
                    if i == 0 {
                        self.shift[j] = v;
                    }
                    self.sum[j] += v;
                    let t = v - self.shift[j];
                    self.sum_sq_shifted[j] += t * t;
                    if let Some(s) = self.screen.as_mut() {
                        s.push(j, t);
                    }
                }
            }
            return;
        }
        let cols = b.cols.clone();
        let w = cols.len();
        for (i, row) in b.rows.clone().zip(b.data.chunks_exact(w)) {
            if i == 0 {
                self.shift[cols.clone()].copy_from_slice(row);
            }
            let shift = &self.shift[cols.clone()];
            let sum = &mut self.sum[cols.clone()];
            let sq = &mut self.sum_sq_shifted[cols.clone()];
            accumulate_row(row, shift, sum, sq);
            if let Some(s) = self.screen.as_mut() {
                s.push_row(cols.clone(), row, shift);
            }
        }
    }
}

/// Most extremes the screen keeps per checkpoint being read (two buffers of 3(K + 1) per
/// candidate coordinate, f32 order keys: 64 MiB). With at most [`TAIL_CANDIDATES`] candidates
/// it does not bind at K ≤ 64; below [`MIN_SCREEN_TAIL_K`] the tail rule is not run.
pub const SCREEN_TAIL_BUDGET: usize = 1 << 24;

/// Fewest order statistics for a Hill estimate in the screen.
pub const MIN_SCREEN_TAIL_K: usize = 8;

/// Coordinates per checkpoint that get a Hill estimate: the M = min(d, 1,024) with the largest
/// per-example sample excess kurtosis m₄/m₂² − 3 (from the first pass's power sums). The
/// every-coordinate piece counts a Hill p-value only where the coordinate's kurtosis is already
/// beyond tolerance, so the other coordinates need none ("no tail evidence", as for a
/// coordinate within tolerance). Their K + 1 largest and smallest values are collected by a
/// second pass over the gradients ([`TailExtremes`]): 2·M·3(K + 1) f32 keys (≤ 1.6 MiB at
/// K = 64) instead of 2·d·3(K + 1), and no extremes bookkeeping in the first pass. (It was
/// 4,096 until the cost of the second pass was measured: the Hill extremes took 19 % of it at
/// d = 10⁴; a coordinate whose kurtosis ranks below the 1,024th is tested by its moments.)
pub const TAIL_CANDIDATES: usize = 1024;

/// K of the screen's Hill estimates at n rows and d coordinates: the documented
/// [`default_tail_k`](crate::stats::screen::default_tail_k)(n) = clamp(⌊n/8⌋, 8, 64), capped so
/// that the buffers of the min(d, [`TAIL_CANDIDATES`]) candidates, 2·M·3(K + 1) values, stay
/// within [`SCREEN_TAIL_BUDGET`]; 0 (no tail rule) when that leaves fewer than
/// [`MIN_SCREEN_TAIL_K`] or n < 2·1.5(K + 1) (the two buffers of a coordinate must not share a
/// row). O(1).
pub fn screen_tail_k(n: usize, d: usize) -> usize {
    let k = crate::stats::screen::default_tail_k(n);
    let m = d.clamp(1, TAIL_CANDIDATES);
    let cap = (SCREEN_TAIL_BUDGET / (6 * m)).saturating_sub(1);
    let k = k.min(cap);
    if k < MIN_SCREEN_TAIL_K || n < 2 * (k + 1 + k.div_ceil(2).max(4)) {
        0
    } else {
        k
    }
}

/// Capacity of a per-coordinate extremes buffer holding the `keep` largest: 3·keep, so that a
/// selection (O(cap)) happens after 2·keep entering values (about (keep)·ln(n/keep) values
/// enter in n rows of a continuous law: one or two selections per buffer).
fn buffer_len(keep: usize) -> usize {
    3 * keep.max(4)
}

/// Running power sums of the every-coordinate screen (issue 16): per coordinate j, with
/// y = x − x₀ⱼ (the first row, as for the variance), Σy, Σy³, Σy⁴ (Σy² is `sum_sq_shifted`).
/// The shift keeps the sums free of cancellation when the mean is far from 0. Each sum is added
/// in row order, so the result does not depend on the block plan or the thread count.
#[derive(Debug, Clone)]
pub struct ScreenSums {
    sum1: Vec<f64>,
    sum3: Vec<f64>,
    sum4: Vec<f64>,
}

/// Order-preserving map of v rounded to f32 → u32 (the order of `f32::total_cmp`). The Hill
/// estimate from f32-rounded extremes moves by ~1e-7 relative; the keys halve the memory.
#[inline(always)]
fn order_key(v: f64) -> u32 {
    let b = (v as f32).to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | (1 << 31)
    }
}

#[inline]
fn from_order_key(k: u32) -> f64 {
    f64::from(f32::from_bits(if k >> 31 == 1 {
        k & !(1 << 31)
    } else {
        !k
    }))
}

/// Appends `key` (already above the threshold) to a buffer keeping (at least) the `keep`
/// largest keys; when the buffer is full, moves its `keep` largest to the front (selection,
/// O(cap)) and raises the threshold to the smallest of them. Returns whether it did.
#[inline(always)]
fn buffer_offer(buf: &mut [u32], len: &mut u32, thr: &mut u32, keep: usize, key: u32) -> bool {
    buf[*len as usize] = key;
    *len += 1;
    let cap = buf.len();
    if *len as usize == cap {
        let cut = cap - keep;
        buf.select_nth_unstable(cut);
        *thr = buf[cut];
        buf.copy_within(cut..cap, 0);
        *len = keep as u32;
        return true;
    }
    false
}

impl ScreenSums {
    fn new(d: usize) -> Self {
        ScreenSums {
            sum1: vec![0.0; d],
            sum3: vec![0.0; d],
            sum4: vec![0.0; d],
        }
    }

    #[inline(always)]
    fn push(&mut self, j: usize, y: f64) {
        let y2 = y * y;
        self.sum1[j] += y;
        self.sum3[j] += y2 * y;
        self.sum4[j] += y2 * y2;
    }

    /// [`Self::push`] for a row of coordinates `cols`: the power sums in one vectorised loop
    /// (the same operations in the same order per coordinate, so bit-identical).
    fn push_row(&mut self, cols: std::ops::Range<usize>, row: &[f64], shift: &[f64]) {
        screen_sums(
            row,
            shift,
            &mut self.sum1[cols.clone()],
            &mut self.sum3[cols.clone()],
            &mut self.sum4[cols],
        );
    }

    /// Σy, Σy², Σy³, Σy⁴ of coordinate j.
    fn sums(&self, m: &CoordinateMoments, j: usize) -> [f64; 4] {
        [
            self.sum1[j],
            m.sum_sq_shifted[j],
            self.sum3[j],
            self.sum4[j],
        ]
    }

    fn result(&self, m: &CoordinateMoments, tails: Option<&TailExtremes>) -> CoordinateScreen {
        let (n, d) = (m.n, self.sum1.len());
        let k = tails.map_or(0, |t| t.keep.saturating_sub(1));
        let moments = |j: usize| crate::stats::screen::central_moments(n, self.sums(m, j));
        let unscreenable = (0..d).filter(|&j| !screenable(moments(j).0)).count();
        let cols = (d > SCREEN_KEEP).then(|| self.kept(m, tails));
        let len = cols.as_ref().map_or(d, Vec::len);
        let mut out = CoordinateScreen {
            n,
            tail_k: k,
            d,
            unscreenable,
            cols,
            m2: Vec::with_capacity(len),
            m3: Vec::with_capacity(len),
            m4: Vec::with_capacity(len),
            hill: if k > 0 {
                vec![f64::NAN; len]
            } else {
                Vec::new()
            },
        };
        for p in 0..len {
            let (m2, m3, m4) = moments(out.col(p));
            out.m2.push(m2);
            out.m3.push(m3);
            out.m4.push(m4);
        }
        if let (Some(t), true) = (tails, k > 0) {
            for (q, &j) in t.cols.iter().enumerate() {
                let top = t.top_abs(q, self.sum1[j] / n as f64);
                let a =
                    crate::stats::screen::hill_tail_test(&top, k, 4.0).map_or(f64::NAN, |t| t.0);
                if let Some(p) = out.position(j) {
                    out.hill[p] = a;
                }
            }
        }
        out
    }

    /// The coordinates kept when d > [`SCREEN_KEEP`]: the union of the [`SCREEN_KEEP`]
    /// screenable coordinates with the largest |g₁|, with the largest g₂ and with the smallest
    /// g₂ (g₁ = m₃/m₂^{3/2}, g₂ = m₄/m₂² − 3; ties by the higher index), and the tail
    /// candidates; ascending. Cost O(d log SCREEN_KEEP), memory O(SCREEN_KEEP).
    fn kept(&self, m: &CoordinateMoments, tails: Option<&TailExtremes>) -> Vec<usize> {
        let mut tops: [TopL; 3] = std::array::from_fn(|_| TopL::new(SCREEN_KEEP));
        for j in 0..self.sum1.len() {
            let (m2, m3, m4) = crate::stats::screen::central_moments(m.n, self.sums(m, j));
            if !screenable(m2) {
                continue;
            }
            let (g1, g2) = (m3 / m2.powf(1.5), m4 / (m2 * m2) - 3.0);
            tops[0].offer(g1.abs(), j);
            tops[1].offer(g2, j);
            tops[2].offer(-g2, j);
        }
        let mut cols: Vec<usize> = tops.into_iter().flat_map(TopL::into_cols).collect();
        cols.extend(tails.map_or(&[][..], |t| &t.cols[..]));
        cols.sort_unstable();
        cols.dedup();
        cols
    }
}

/// The `cap` largest keys offered, with their coordinates (a min-heap on (key, coordinate) in
/// `f64::total_cmp` order). O(log cap) per offer that enters.
struct TopL {
    cap: usize,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(TotalF64, usize)>>,
}

/// f64 ordered by `f64::total_cmp`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TotalF64(f64);

impl Eq for TotalF64 {}
impl PartialOrd for TotalF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for TotalF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

impl TopL {
    fn new(cap: usize) -> Self {
        TopL {
            cap,
            heap: std::collections::BinaryHeap::with_capacity(cap + 1),
        }
    }

    fn offer(&mut self, key: f64, j: usize) {
        let e = std::cmp::Reverse((TotalF64(key), j));
        if self.heap.len() < self.cap {
            self.heap.push(e);
        } else if self.heap.peek().is_some_and(|min| e < *min) {
            self.heap.pop();
            self.heap.push(e);
        }
    }

    fn into_cols(self) -> impl Iterator<Item = usize> {
        self.heap.into_iter().map(|std::cmp::Reverse((_, j))| j)
    }
}

/// Coordinates per checkpoint whose moments the screen keeps for the check when d is larger
/// (2¹⁶): the union of the 2¹⁶ with the largest |g₁|, the largest g₂ and the smallest g₂, and
/// the tail candidates — at most 3·2¹⁶ + 1,024 coordinates, ≤ 7.3 MiB per checkpoint instead of
/// 4d doubles (320 MB at d = 10⁷). Within a checkpoint every p-value of the check is monotone
/// in |g₁| or in |b·g₂ + c| (the same SEs for all coordinates), and the largest |b·g₂ + c| are
/// among the extremes of g₂, so each checkpoint's 2¹⁶ smallest skewness and kurtosis p-values
/// and all its tail p-values are kept (`checks::gaussian_noise::every_coordinate`).
pub const SCREEN_KEEP: usize = 1 << 16;

/// Whether the screen tests a coordinate whose second central moment is `m2`: not NaN and
/// above 1e-300 (a constant coordinate has no shape to test).
pub fn screenable(m2: f64) -> bool {
    !m2.is_nan() && m2 > 1e-300
}

/// The second-pass sink of the screen's tail rule: for the candidate coordinates (the
/// [`TAIL_CANDIDATES`] with the largest per-example excess kurtosis), the K + 1 largest and
/// K + 1 smallest y = x − x₀ⱼ (the first pass's shift) in flat per-candidate buffers of order
/// keys (a value enters when above the buffer's threshold; a full buffer keeps its K + 1
/// largest by selection, which sets the threshold: amortised O(1) per entering value). The kept
/// sets do not depend on the arrival order, so neither on the block plan nor the thread count.
#[derive(Debug, Clone)]
pub struct TailExtremes {
    /// The candidates, ascending.
    cols: Vec<usize>,
    /// x₀ⱼ per candidate.
    shift: Vec<f64>,
    /// K + 1.
    keep: usize,
    /// Buffer capacity per candidate ([`buffer_len`]).
    cap: usize,
    hi: Vec<u32>,
    lo: Vec<u32>,
    hi_len: Vec<u32>,
    lo_len: Vec<u32>,
    hi_thr: Vec<u32>,
    lo_thr: Vec<u32>,
    /// The thresholds as values (−∞ before the first selection): a value below them cannot
    /// enter, so most values are rejected by one f64 comparison, without their order key.
    hi_thr_v: Vec<f64>,
    lo_thr_v: Vec<f64>,
}

impl TailExtremes {
    /// The candidates after the first pass: the min(d, [`TAIL_CANDIDATES`]) coordinates with the
    /// largest sample excess kurtosis m₄/m₂² − 3 (ties by the lower index; coordinates with
    /// m₂ ≤ 1e-300 or NaN moments are not candidates). `None` without the screen or when
    /// [`screen_tail_k`] is 0. Cost O(d log d), memory O(d + M·K).
    pub fn select(m: &CoordinateMoments) -> Option<TailExtremes> {
        let s = m.screen.as_ref()?;
        let (n, d) = (m.n, s.sum1.len());
        let k = screen_tail_k(n, d);
        if k == 0 {
            return None;
        }
        let mut g2: Vec<(f64, usize)> = (0..d)
            .filter_map(|j| {
                let (m2, _, m4) = crate::stats::screen::central_moments(n, s.sums(m, j));
                let g = m4 / (m2 * m2) - 3.0;
                (m2 > 1e-300 && !g.is_nan()).then_some((g, j))
            })
            .collect();
        let mm = TAIL_CANDIDATES.min(g2.len());
        let by = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if mm < g2.len() && mm > 0 {
            g2.select_nth_unstable_by(mm - 1, by);
        }
        let mut cols: Vec<usize> = g2[..mm].iter().map(|x| x.1).collect();
        cols.sort_unstable();
        let keep = k + 1;
        let cap = buffer_len(keep);
        let c = cols.len();
        Some(TailExtremes {
            shift: cols.iter().map(|&j| m.shift[j]).collect(),
            cols,
            keep,
            cap,
            hi: vec![0; c * cap],
            lo: vec![0; c * cap],
            hi_len: vec![0; c],
            lo_len: vec![0; c],
            hi_thr: vec![0; c],
            lo_thr: vec![0; c],
            hi_thr_v: vec![f64::NEG_INFINITY; c],
            lo_thr_v: vec![f64::NEG_INFINITY; c],
        })
    }

    /// The candidates, ascending.
    pub fn cols(&self) -> &[usize] {
        &self.cols
    }

    #[inline(always)]
    fn push(&mut self, p: usize, v: f64) {
        let y = v - self.shift[p];
        let (cap, keep) = (self.cap, self.keep);
        // y ≥ the threshold's value is necessary for key(y) > threshold (f32 rounding is
        // monotone); ≥, not >, so that −0 and +0 are not told apart here.
        if y >= self.hi_thr_v[p] {
            let kh = order_key(y);
            if kh > self.hi_thr[p] {
                let b = &mut self.hi[p * cap..(p + 1) * cap];
                if buffer_offer(b, &mut self.hi_len[p], &mut self.hi_thr[p], keep, kh) {
                    self.hi_thr_v[p] = from_order_key(self.hi_thr[p]);
                }
            }
        }
        if -y >= self.lo_thr_v[p] {
            let kl = order_key(-y);
            if kl > self.lo_thr[p] {
                let b = &mut self.lo[p * cap..(p + 1) * cap];
                if buffer_offer(b, &mut self.lo_len[p], &mut self.lo_thr[p], keep, kl) {
                    self.lo_thr_v[p] = from_order_key(self.lo_thr[p]);
                }
            }
        }
    }

    /// The K + 1 largest |y − ȳ| of candidate p, largest first: they are among the K + 1
    /// largest and smallest y; when n < 2(K + 1) the sets overlap (excluded by
    /// [`screen_tail_k`]).
    fn top_abs(&self, p: usize, mean: f64) -> Vec<f64> {
        let (kp, cap) = (self.keep, self.cap);
        let hi = &self.hi[p * cap..p * cap + self.hi_len[p] as usize];
        let lo = &self.lo[p * cap..p * cap + self.lo_len[p] as usize];
        let mut v: Vec<f64> = hi
            .iter()
            .map(|&k| (from_order_key(k) - mean).abs())
            .chain(lo.iter().map(|&k| (-from_order_key(k) - mean).abs()))
            .collect();
        v.sort_by(|a, b| b.total_cmp(a));
        v.truncate(kp);
        v
    }
}

impl BlockSink for TailExtremes {
    fn consume(&mut self, b: &Block) {
        let p0 = self.cols.partition_point(|&j| j < b.cols.start);
        let p1 = self.cols.partition_point(|&j| j < b.cols.end);
        if p0 == p1 {
            return;
        }
        if b.col_major {
            for p in p0..p1 {
                let j = self.cols[p];
                for i in b.rows.clone() {
                    self.push(p, b.get(i, j));
                }
            }
            return;
        }
        let w = b.cols.len();
        for row in b.data.chunks_exact(w) {
            for p in p0..p1 {
                let v = row[self.cols[p] - b.cols.start];
                self.push(p, v);
            }
        }
    }
}

/// The every-coordinate screen of one checkpoint's rows (issue 16): per coordinate the central
/// moments m₂, m₃, m₄ (divisor n) and the Hill estimate α̂ of the tail index from the K largest
/// |x − x̄| (NaN when not estimable; empty when K = 0), for all d coordinates or, when
/// d > [`SCREEN_KEEP`], for the kept ones (`cols`). The tests are in
/// `checks::gaussian_noise::every_coordinate`. Memory 4 doubles per kept coordinate.
#[derive(Debug, Clone, PartialEq)]
pub struct CoordinateScreen {
    /// Rows n.
    pub n: usize,
    /// Order statistics K of the Hill estimates (0: no tail rule, see [`screen_tail_k`]).
    pub tail_k: usize,
    /// Coordinates d of the checkpoint.
    pub d: usize,
    /// Of the d, those the screen cannot test ([`screenable`] is false).
    pub unscreenable: usize,
    /// The kept coordinates, ascending, when d > [`SCREEN_KEEP`]; `None`: all d, in order.
    pub cols: Option<Vec<usize>>,
    /// Per kept coordinate (position p ↔ coordinate [`Self::col`](p)).
    pub m2: Vec<f64>,
    pub m3: Vec<f64>,
    pub m4: Vec<f64>,
    /// Hill α̂ per kept coordinate.
    pub hill: Vec<f64>,
}

impl CoordinateScreen {
    /// The coordinate at kept position p.
    pub fn col(&self, p: usize) -> usize {
        self.cols.as_ref().map_or(p, |c| c[p])
    }

    /// The kept position of coordinate j, if kept. O(log d).
    pub fn position(&self, j: usize) -> Option<usize> {
        match &self.cols {
            None => (j < self.d).then_some(j),
            Some(c) => c.binary_search(&j).ok(),
        }
    }

    /// Whether fewer than d coordinates were kept.
    pub fn is_partial(&self) -> bool {
        self.cols.is_some()
    }
}

avx2_dispatch! {
    /// sum += row, sq += (row − shift)², element by element in one fused loop.
    fn accumulate_row(row: &[f64], shift: &[f64], sum: &mut [f64], sq: &mut [f64]) -> () =
        accumulate_row_impl
}

#[inline(always)]
fn accumulate_row_impl(row: &[f64], shift: &[f64], sum: &mut [f64], sq: &mut [f64]) {
    for (((s, q), &v), &c) in sum.iter_mut().zip(sq.iter_mut()).zip(row).zip(shift) {
        *s += v;
        let t = v - c;
        *q += t * t;
    }
}

avx2_dispatch! {
    /// The screen's power sums of one row: with y = row − shift, s1 += y, s3 += y³, s4 += y⁴
    /// (y³ = y²·y, y⁴ = y²·y², as in `ScreenSums::push`).
    fn screen_sums(row: &[f64], shift: &[f64], s1: &mut [f64], s3: &mut [f64], s4: &mut [f64])
        -> () = screen_sums_impl
}

#[inline(always)]
fn screen_sums_impl(row: &[f64], shift: &[f64], s1: &mut [f64], s3: &mut [f64], s4: &mut [f64]) {
    let it = s1.iter_mut().zip(s3.iter_mut()).zip(s4.iter_mut());
    for (((a, b), c), (&v, &sh)) in it.zip(row.iter().zip(shift)) {
        let y = v - sh;
        let y2 = y * y;
        *a += y;
        *b += y2 * y;
        *c += y2 * y2;
    }
}

/// Extra sketch columns of the noise principal subspace beyond its k directions.
pub const NOISE_OVERSAMPLE: usize = 8;

/// Most rows that choose the noise principal directions: a rank-l Nyström sketch needs a few
/// hundred rows, not n/2 (its cost is 2·l·d flops per choosing row: 25 % of the pass at
/// d = 10⁴ with n/2 rows). Rows not chosen are held out, so the test gains them.
pub const NOISE_CHOOSE_MAX: usize = 256;

/// The seeded split of the n rows for the noise principal subspace: `true` for the rows that
/// choose the directions (the first min(⌈n/2⌉, max([`NOISE_CHOOSE_MAX`], 16·l)) of a seeded
/// permutation, stream `"run/noise_principal"`, l = k + [`NOISE_OVERSAMPLE`] the sketch's
/// columns), `false` for the held-out rows that test them. The same for every checkpoint with
/// the same n and k. O(n).
pub fn noise_split(n: usize, k: usize, seed: u64) -> Vec<bool> {
    use rand::seq::SliceRandom;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut crate::rng::stream(seed, "run/noise_principal"));
    let choose = n
        .div_ceil(2)
        .min(NOISE_CHOOSE_MAX.max(16 * (k + NOISE_OVERSAMPLE)));
    let mut take = vec![false; n];
    for &i in &idx[..choose] {
        take[i] = true;
    }
    take
}

/// The first-pass sink of the noise principal subspace: a Nyström sketch
/// ([`Sketch`](crate::stats::range_finder::Sketch)) of the covariance of the choosing
/// rows. Column-major data invalidate it (no directions then). Cost 2l flops per element of a
/// choosing row, memory 2·l·d doubles.
pub struct NoiseSketch(pub crate::stats::range_finder::Sketch);

impl BlockSink for NoiseSketch {
    fn consume(&mut self, b: &Block) {
        if b.col_major {
            self.0.invalidate();
            return;
        }
        let w = b.cols.len();
        for (i, row) in b.rows.clone().zip(b.data.chunks_exact(w)) {
            self.0.add(i, b.cols.start, row);
        }
    }
}

/// The second-pass sink: rows projected onto explicit directions (`panel` d × k row-major,
/// row j = the k coefficients of coordinate j), and per coordinate Σx and Σx² of the held-out
/// rows (one vectorised loop, [`accumulate_row`] with a zero shift).
struct DirectionsProjector<'a> {
    panel: &'a [f64],
    k: usize,
    take: &'a [bool],
    out: Vec<f64>,
    zeros: Vec<f64>,
    sq: Vec<f64>,
    sum: Vec<f64>,
}

impl BlockSink for DirectionsProjector<'_> {
    fn consume(&mut self, b: &Block) {
        let k = self.k;
        let w = b.cols.len();
        let out = &mut self.out[b.rows.start * k..b.rows.end * k];
        let panel = &self.panel[b.cols.start * k..b.cols.end * k];
        project_rows(b.data, w, panel, k, out);
        let (sum, sq) = (&mut self.sum[b.cols.clone()], &mut self.sq[b.cols.clone()]);
        for (i, row) in b.rows.clone().zip(b.data.chunks_exact(w)) {
            if !self.take[i] {
                accumulate_row(row, &self.zeros[..w], sum, sq);
            }
        }
    }
}

/// The noise principal subspace of one checkpoint (issue 16): k directions chosen on one half
/// of the rows by a randomized sketch, and the held-out rows projected onto them.
#[derive(Debug, Clone, PartialEq)]
pub struct NoisePrincipal {
    /// The held-out rows (indices into the n rows).
    pub held_out: Vec<usize>,
    /// Held-out rows projected on the directions (|held_out| × k), minus their mean, in mean
    /// gradient units.
    pub projected: nalgebra::DMatrix<f64>,
    /// Variances along the directions on the choosing rows (Nyström eigenvalues).
    pub chosen_variance: Vec<f64>,
    /// tr Ĉ of the held-out rows (divisor m − 1).
    pub held_out_trace: f64,
}

/// Finishes the sketch and, by a second pass over `grads`, projects the held-out rows onto the
/// k directions; `extra` (the screen's [`TailExtremes`]) is fed by the same pass. `None` when
/// the sketch gave no directions (column-major data, too few rows; the pass is still made for
/// `extra`). `scale` multiplies the gradients (1/S for sum-reduced minibatch rows). Cost
/// O(n·d·k) for the pass, memory O(k·d + n·k).
pub fn noise_principal(
    sketch: &NoiseSketch,
    take: &[bool],
    grads: &dyn super::array::ArraySource,
    k: usize,
    scale: f64,
    extra: Option<&mut dyn BlockSink>,
) -> crate::error::Result<Option<NoisePrincipal>> {
    let (v, var) = sketch.0.finish(k);
    let kk = v.nrows();
    if kk == 0 {
        if let Some(e) = extra {
            grads.stream(e)?;
        }
        return Ok(None);
    }
    let (n, d) = (take.len(), v.ncols());
    let mut panel = vec![0.0; d * kk];
    for j in 0..d {
        for a in 0..kk {
            panel[j * kk + a] = v[(a, j)];
        }
    }
    let held_out: Vec<usize> = (0..n).filter(|&i| !take[i]).collect();
    let mut p = DirectionsProjector {
        panel: &panel,
        k: kk,
        take,
        out: vec![0.0; n * kk],
        zeros: vec![0.0; d],
        sq: vec![0.0; d],
        sum: vec![0.0; d],
    };
    let mut sinks: Vec<&mut dyn BlockSink> = vec![&mut p];
    if let Some(e) = extra {
        sinks.push(e);
    }
    super::pass::stream_file(grads.file(), &mut [grads.region(sinks)])?;
    let m = held_out.len();
    if m < 2 {
        return Ok(None);
    }
    let mut proj = nalgebra::DMatrix::from_fn(m, kk, |r, a| p.out[held_out[r] * kk + a] * scale);
    for mut c in proj.column_iter_mut() {
        let mean = c.mean();
        c.add_scalar_mut(-mean);
    }
    // tr Ĉ of the held-out rows = (Σ‖x‖² − m‖x̄‖²)/(m − 1) (cancels when ‖x̄‖ ≫ the spread;
    // near stationarity the mean gradient is small against the noise).
    let mf = m as f64;
    let mean2 = p.sum.iter().map(|s| (s / mf) * (s / mf)).sum::<f64>();
    Ok(Some(NoisePrincipal {
        held_out,
        projected: proj,
        chosen_variance: var.iter().map(|v| v * scale * scale).collect(),
        held_out_trace: ((p.sq.iter().sum::<f64>() - mf * mean2) / (mf - 1.0)).max(0.0)
            * scale
            * scale,
    }))
}

/// Most values of the noise sketch Z (l·d) per checkpoint being read (128 MiB, and as much for
/// Ω): above it (d > 2²⁴/(k + 8), ≈ 10⁶ at k = 8) the noise principal subspace is not computed.
pub const NOISE_SKETCH_BUDGET: usize = 1 << 24;

/// Whether the noise sketch of d coordinates at k directions fits [`NOISE_SKETCH_BUDGET`].
pub fn noise_sketch_fits(d: usize, k: usize) -> bool {
    d.saturating_mul(k + NOISE_OVERSAMPLE) <= NOISE_SKETCH_BUDGET
}

/// Collects an array whole, row-major. Only for arrays that are small by construction (params,
/// losses, probe files) or bounded by a documented ceiling (the Hessian).
pub struct Collect {
    pub cols: usize,
    pub out: Vec<f64>,
}

impl Collect {
    pub fn new(rows: usize, cols: usize) -> Self {
        Collect {
            cols,
            out: vec![0.0; rows * cols],
        }
    }
}

impl BlockSink for Collect {
    fn consume(&mut self, b: &Block) {
        if b.col_major {
            for j in b.cols.clone() {
                for i in b.rows.clone() {
                    self.out[i * self.cols + j] = b.get(i, j);
                }
            }
            return;
        }
        let w = b.cols.len();
        for (i, row) in b.rows.clone().zip(b.data.chunks_exact(w)) {
            self.out[i * self.cols + b.cols.start..i * self.cols + b.cols.end].copy_from_slice(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The screen's moments and Hill estimates equal `stats::screen::PowerSums` (compensated,
    /// tested against scipy) on the same rows, whether the rows arrive whole, as column
    /// panels or column-major; and the block plan does not change a bit.
    #[test]
    fn screen_matches_power_sums_in_every_block_plan() {
        use crate::stats::screen::{central_moments, hill_tail_test, PowerSums};
        let mut state = 99u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let (n, d) = (300, 7);
        // Column j: 5 + a heavy-ish tail u^(-1/3) for odd j, uniform for even j.
        let x: Vec<f64> = (0..n * d)
            .map(|i| {
                let u = next().max(1e-12);
                if (i % d) % 2 == 1 {
                    5.0 + u.powf(-1.0 / 3.0)
                } else {
                    5.0 + u
                }
            })
            .collect();
        let k = screen_tail_k(n, d);
        assert_eq!(k, 37);
        let mut ps = PowerSums::new(d, k, None).unwrap();
        ps.add_block(&x).unwrap();
        // Two passes: power sums, then the candidates' extremes (all d < TAIL_CANDIDATES).
        let whole_block = Block {
            rows: 0..n,
            cols: 0..d,
            col_major: false,
            data: &x,
        };
        let whole = {
            let mut m = CoordinateMoments::with_screen(n, d);
            m.consume(&whole_block);
            let mut t = TailExtremes::select(&m).unwrap();
            assert_eq!(t.cols(), &(0..d).collect::<Vec<_>>()[..]);
            t.consume(&whole_block);
            m.screen_result(Some(&t)).unwrap()
        };
        for j in 0..d {
            let (m2, m3, m4) = central_moments(n, ps.sums(j));
            let rel = |a: f64, b: f64| (a - b).abs() <= 1e-10 * b.abs().max(1e-300);
            assert!(
                rel(whole.m2[j], m2) && rel(whole.m3[j], m3) && rel(whole.m4[j], m4),
                "{j}"
            );
            let (a, _) = hill_tail_test(&ps.top_abs(j), k, 4.0).unwrap();
            let close = (whole.hill[j] - a).abs() <= 1e-5 * a;
            assert!(close, "{j}: {} vs {a}", whole.hill[j]);
        }
        // Column panels of widths 3 + 4, row by row.
        let panels = |sink: &mut dyn BlockSink| {
            for i in 0..n {
                for cols in [0..3, 3..d] {
                    let row = &x[i * d + cols.start..i * d + cols.end];
                    sink.consume(&Block {
                        rows: i..i + 1,
                        cols,
                        col_major: false,
                        data: row,
                    });
                }
            }
        };
        let mut m = CoordinateMoments::with_screen(n, d);
        panels(&mut m);
        let mut t = TailExtremes::select(&m).unwrap();
        panels(&mut t);
        assert_eq!(m.screen_result(Some(&t)).unwrap(), whole);
        // Column-major, whole.
        let t: Vec<f64> = (0..d)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .map(|(i, j)| x[i * d + j])
            .collect();
        let cm = Block {
            rows: 0..n,
            cols: 0..d,
            col_major: true,
            data: &t,
        };
        let mut m = CoordinateMoments::with_screen(n, d);
        m.consume(&cm);
        let mut tails = TailExtremes::select(&m).unwrap();
        tails.consume(&cm);
        assert_eq!(m.screen_result(Some(&tails)).unwrap(), whole);
        // With only the candidates collected, the others carry no Hill estimate.
        let mut tails = TailExtremes::select(&m).unwrap();
        tails.cols = vec![1, 4];
        tails.shift = vec![m.shift[1], m.shift[4]];
        tails.consume(&cm);
        let part = m.screen_result(Some(&tails)).unwrap();
        for j in 0..d {
            if j == 1 || j == 4 {
                assert_eq!(part.hill[j], whole.hill[j], "{j}");
            } else {
                assert!(part.hill[j].is_nan(), "{j}");
            }
        }
    }

    /// K: at most 64, the budget counts min(d, TAIL_CANDIDATES) candidates; none below 8.
    #[test]
    fn screen_tail_k_is_capped() {
        assert_eq!(screen_tail_k(4096, 10), 64);
        assert_eq!(screen_tail_k(4096, 1 << 20), 64);
        assert_eq!(screen_tail_k(16, 3), 0);
        assert_eq!(screen_tail_k(300, 7), 37);
    }

    /// The candidates are the TAIL_CANDIDATES coordinates with the largest excess kurtosis.
    #[test]
    fn tail_candidates_are_the_most_kurtotic() {
        let (n, d) = (600, TAIL_CANDIDATES + 50);
        // Column j: ±1 with a spike of height h_j in row j % n (kurtosis grows with h_j);
        // the 50 flat columns (h = 0) at every 83rd coordinate must be left out.
        let h = |j: usize| {
            if j.is_multiple_of(83) && j / 83 < 50 {
                0.0
            } else {
                2.0 + (j % 7) as f64
            }
        };
        let x: Vec<f64> = (0..n * d)
            .map(|e| {
                let (i, j) = (e / d, e % d);
                let base = if (i + j) % 2 == 0 { 1.0 } else { -1.0 };
                if i == j % n {
                    base * (1.0 + h(j))
                } else {
                    base
                }
            })
            .collect();
        let mut m = CoordinateMoments::with_screen(n, d);
        m.consume(&Block {
            rows: 0..n,
            cols: 0..d,
            col_major: false,
            data: &x,
        });
        let t = TailExtremes::select(&m).unwrap();
        assert_eq!(t.cols().len(), TAIL_CANDIDATES);
        assert!(t.cols().windows(2).all(|w| w[0] < w[1]));
        assert!(t.cols().iter().all(|&j| h(j) > 0.0));
    }

    /// The buffers keep exactly the K + 1 largest order keys of y and of −y, as a full sort
    /// does, with ties and signed zeros (the f64 pre-check uses ≥, so −0 and +0 thresholds turn
    /// nothing away that the keys would take).
    #[test]
    fn tail_buffers_keep_the_extremes_with_ties_and_signed_zeros() {
        let (n, d) = (400, 3);
        let vals = [-0.0, 0.0, 1.0, -1.0, 2.0, 0.5, -0.0, 0.0];
        let x: Vec<f64> = (0..n * d)
            .map(|e| {
                let (i, j) = (e / d, e % d);
                match j {
                    0 => vals[(i * 7 + 3) % vals.len()],
                    1 => ((i * 37) % 101) as f64 - 50.0,
                    _ => {
                        if i % 3 == 0 {
                            -0.0
                        } else {
                            0.0
                        }
                    }
                }
            })
            .collect();
        let block = Block {
            rows: 0..n,
            cols: 0..d,
            col_major: false,
            data: &x,
        };
        let mut m = CoordinateMoments::with_screen(n, d);
        m.consume(&block);
        let mut t = TailExtremes::select(&m).unwrap();
        t.cols = (0..d).collect();
        t.shift = m.shift.clone();
        t.hi = vec![0; d * t.cap];
        t.lo = vec![0; d * t.cap];
        for v in [&mut t.hi_len, &mut t.lo_len, &mut t.hi_thr, &mut t.lo_thr] {
            *v = vec![0; d];
        }
        t.hi_thr_v = vec![f64::NEG_INFINITY; d];
        t.lo_thr_v = vec![f64::NEG_INFINITY; d];
        t.consume(&block);
        for p in 0..d {
            let top = |neg: bool| {
                let mut keys: Vec<u32> = (0..n)
                    .map(|i| {
                        let y = x[i * d + p] - m.shift[p];
                        order_key(if neg { -y } else { y })
                    })
                    .collect();
                keys.sort_unstable_by(|a, b| b.cmp(a));
                keys.truncate(t.keep);
                keys
            };
            for (neg, buf, len) in [(false, &t.hi, &t.hi_len), (true, &t.lo, &t.lo_len)] {
                let mut kept = buf[p * t.cap..p * t.cap + len[p] as usize].to_vec();
                kept.sort_unstable_by(|a, b| b.cmp(a));
                kept.truncate(t.keep);
                assert_eq!(kept, top(neg), "column {p}, negated {neg}");
            }
        }
    }

    /// At most max(256, 16·l) rows choose the noise directions, never more than half.
    #[test]
    fn noise_split_bounds_the_choosing_rows() {
        let count = |n, k| noise_split(n, k, 7).iter().filter(|&&t| t).count();
        assert_eq!(count(100, 8), 50);
        assert_eq!(count(511, 8), 256);
        assert_eq!(count(2000, 8), 256);
        assert_eq!(count(2000, 32), 640);
        assert_eq!(noise_split(2000, 8, 7), noise_split(2000, 8, 7));
    }

    /// Above SCREEN_KEEP coordinates the screen keeps each group's SCREEN_KEEP most extreme
    /// (|g₁|; g₂ both ways, so also |b·g₂ + c| for any b, c) with their exact moments.
    #[test]
    fn a_wide_screen_keeps_the_extremes_of_every_group() {
        let (n, d) = (40, SCREEN_KEEP + 3000);
        let mut state = 3u64;
        let x: Vec<f64> = (0..n * d)
            .map(|e| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                // Constant columns at every 1,000th coordinate: not screenable.
                if (e % d) % 1000 == 7 {
                    1.0
                } else {
                    u.powi(1 + ((e % d) % 3) as i32)
                }
            })
            .collect();
        let mut m = CoordinateMoments::with_screen(n, d);
        m.consume(&Block {
            rows: 0..n,
            cols: 0..d,
            col_major: false,
            data: &x,
        });
        let sc = m.screen_result(None).unwrap();
        let cols = sc.cols.clone().expect("partial");
        assert!(cols.len() <= 3 * SCREEN_KEEP && cols.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sc.unscreenable, d.div_ceil(1000));
        let s = m.screen.as_ref().unwrap();
        let g: Vec<Option<(f64, f64)>> = (0..d)
            .map(|j| {
                let (m2, m3, m4) = crate::stats::screen::central_moments(n, s.sums(&m, j));
                screenable(m2).then(|| (m3 / m2.powf(1.5), m4 / (m2 * m2) - 3.0))
            })
            .collect();
        let kth = |key: &dyn Fn(f64, f64) -> f64| {
            let mut v: Vec<f64> = g.iter().flatten().map(|&(a, b)| key(a, b)).collect();
            v.sort_by(|a, b| b.total_cmp(a));
            v[SCREEN_KEEP - 1]
        };
        let keys: [&dyn Fn(f64, f64) -> f64; 4] = [
            &|a, _| a.abs(),
            &|_, b| (0.25 * b + 0.1).abs(),
            &|_, b| (-0.5 * b - 2.0).abs(),
            &|_, b| (b - 1.0).abs(),
        ];
        for key in keys {
            let t = kth(key);
            for (j, gj) in g.iter().enumerate() {
                if let Some((a, b)) = gj {
                    if key(*a, *b) > t {
                        let p = sc.position(j).unwrap_or_else(|| panic!("{j} dropped"));
                        assert_eq!(sc.col(p), j);
                    }
                }
            }
        }
        for (p, &j) in cols.iter().enumerate() {
            let (m2, m3, m4) = crate::stats::screen::central_moments(n, s.sums(&m, j));
            assert_eq!((sc.m2[p], sc.m3[p], sc.m4[p]), (m2, m3, m4));
        }
    }

    /// The blocked kernel equals the element-by-element definition bit for bit.
    #[test]
    fn project_rows_is_bitwise_the_definition() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        };
        for (rows, width, k) in [(9, 13, 8), (5, 7, 3), (4, 33, 17), (1, 5, 8), (8, 1, 16)] {
            let x: Vec<f64> = (0..rows * width).map(|_| next() * 1e3).collect();
            let p: Vec<f64> = (0..width * k).map(|_| next()).collect();
            let mut got = vec![0.0; rows * k];
            project_rows(&x, width, &p, k, &mut got);
            let mut want = vec![0.0; rows * k];
            for i in 0..rows {
                for j in 0..width {
                    for a in 0..k {
                        want[i * k + a] += x[i * width + j] * p[j * k + a];
                    }
                }
            }
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "rows {rows} width {width} k {k}"
            );
        }
    }
}
