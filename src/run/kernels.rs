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
}

impl CoordinateMoments {
    pub fn new(n: usize, d: usize) -> Self {
        CoordinateMoments {
            n,
            shift: vec![0.0; d],
            sum: vec![0.0; d],
            sum_sq_shifted: vec![0.0; d],
        }
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
        }
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
