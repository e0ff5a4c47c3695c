//! Top principal directions of a tall data matrix by randomized sketches (Halko, Martinsson &
//! Tropp 2011, *SIAM Review* 53:217; Tropp, Yurtsever, Udell & Cevher 2017, "Fixed-rank
//! approximation of a positive-semidefinite matrix from streaming data", *NeurIPS*), for the
//! noise principal subspace of the per-example gradients (issue 16).
//!
//! * [`range_finder`]: Halko et al. Alg. 4.4 (randomized subspace iteration): Y = (AAᵀ)^q AΩ
//!   with re-orthonormalisation after every product, Ω a seeded d × l Gaussian; Q = orth(Y).
//!   [`top_right_singular`] then takes the SVD of the l × d matrix B = QᵀA (Alg. 5.1). Cost
//!   O((2q + 2)·n·d·l); the reference the sketch is tested against.
//! * [`Sketch`]: a single-pass Nyström sketch (Halko §5.4; Tropp et al. 2017) of the covariance
//!   Ĉ of rows that are seen once: Z = Σᵢ xᵢ(xᵢᵀΩ) accumulated row by row, centred at the end
//!   (Z_c = (Z − m·x̄(x̄ᵀΩ))/(m − 1) = ĈΩ), then Ĉ ≈ Z_c(ΩᵀZ_c)⁺Z_cᵀ, whose eigenvectors
//!   come from an l × l eigenproblem. Accuracy as one step of subspace iteration on A (q = 1 in
//!   Alg. 4.4), from one pass. Cost O(2·n·d·l) during the pass, O(d l²) at the end; memory
//!   O(l·d).
//!
//! Accuracy (Halko Thm 10.5): with oversampling p = l − k ≥ 2 the expected error of the rank-k
//! approximation is within a factor (1 + √(k/(p − 1)) + …) of the best, and far better when the
//! spectrum decays; a flat spectrum (isotropic noise) gives directions that are no better than
//! any other, which is why they are chosen on some examples and tested on the others.

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;

/// Orthonormal basis of the columns of `y` (thin QR; columns of y assumed independent, which a
/// Gaussian sketch gives with probability 1 unless rank(A) < l, in which case the extra
/// columns are whatever QR returns). O(n l²).
fn orth(y: &DMatrix<f64>) -> DMatrix<f64> {
    y.clone().qr().q()
}

/// A seeded rows × cols standard Gaussian matrix. O(rows·cols).
pub fn gaussian(rows: usize, cols: usize, rng: &mut impl Rng) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| rng.sample::<f64, _>(StandardNormal))
}

/// Halko et al. Alg. 4.4: an n × l orthonormal Q whose range approximates that of the n × d
/// matrix `a`, with `q` power iterations. O((2q + 1)·n·d·l).
pub fn range_finder(a: &DMatrix<f64>, l: usize, q: usize, rng: &mut impl Rng) -> DMatrix<f64> {
    let omega = gaussian(a.ncols(), l, rng);
    let mut qm = orth(&(a * omega));
    for _ in 0..q {
        let z = orth(&(a.transpose() * &qm));
        qm = orth(&(a * z));
    }
    qm
}

/// The top `k` right singular vectors (k × d, rows) and singular values of `a` by
/// [`range_finder`] with l = k + `oversample` and `q` power iterations, then the SVD of
/// B = QᵀA. O((2q + 2)·n·d·l).
pub fn top_right_singular(
    a: &DMatrix<f64>,
    k: usize,
    oversample: usize,
    q: usize,
    rng: &mut impl Rng,
) -> (DMatrix<f64>, Vec<f64>) {
    let l = (k + oversample).min(a.nrows()).min(a.ncols());
    let qm = range_finder(a, l, q, rng);
    let b = qm.transpose() * a;
    top_rows_of(&b, k)
}

/// Top `k` right singular vectors (rows, k × d) and singular values of a short l × d matrix
/// via the eigen-decomposition of B Bᵀ (l × l), V = Σ⁻¹UᵀB, sorted decreasingly. Directions
/// with σ = 0 are dropped. O(l²d).
fn top_rows_of(b: &DMatrix<f64>, k: usize) -> (DMatrix<f64>, Vec<f64>) {
    let gram = b * b.transpose();
    let eig = SymmetricEigen::new(gram);
    let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
    order.sort_by(|&x, &y| eig.eigenvalues[y].total_cmp(&eig.eigenvalues[x]));
    let keep: Vec<usize> = order
        .into_iter()
        .filter(|&i| eig.eigenvalues[i] > 0.0)
        .take(k)
        .collect();
    let mut v = DMatrix::zeros(keep.len(), b.ncols());
    let mut sigma = Vec::with_capacity(keep.len());
    for (r, &i) in keep.iter().enumerate() {
        let s = eig.eigenvalues[i].sqrt();
        let row = eig.eigenvectors.column(i).transpose() * b / s;
        v.row_mut(r).copy_from(&row);
        sigma.push(s);
    }
    (v, sigma)
}

/// Single-pass Nyström sketch of the covariance of the rows of an n × d matrix (module docs).
/// Rows may arrive whole or in column panels (a partial row is buffered, O(d)); only rows with
/// `take[i]` count. Column-major blocks (a Fortran-order file) are not supported: feeding one
/// marks the sketch invalid and [`Self::finish`] returns nothing.
#[derive(Debug, Clone)]
pub struct Sketch {
    /// Ωᵀ, Ω the d × l test matrix.
    omega_t: DMatrix<f64>,
    /// Zᵀ, Z = Σ_i x_i (x_iᵀΩ) (d × l) of the raw taken rows.
    z_t: DMatrix<f64>,
    /// Σ of the taken rows and their count.
    sum: DVector<f64>,
    count: usize,
    take: Vec<bool>,
    /// The row being assembled from panels.
    buf: Vec<f64>,
    /// Up to [`SKETCH_BATCH`] complete rows not yet added (row-major), and how many.
    pending: Vec<f64>,
    npend: usize,
    valid: bool,
}

/// Rows added to the sketch together: Ω and Z stream through the cache once per batch instead of
/// once per row (they are l·d doubles each, far larger than L2 at d = 10⁴).
const SKETCH_BATCH: usize = 4;

impl Sketch {
    /// A sketch with `l` columns for n rows of d coordinates, of the rows with `take[i]`.
    /// Memory 2·l·d + 2d doubles.
    pub fn new(n: usize, d: usize, l: usize, take: Vec<bool>, rng: &mut impl Rng) -> Self {
        debug_assert_eq!(take.len(), n);
        Sketch {
            omega_t: gaussian(d, l, rng).transpose(),
            z_t: DMatrix::zeros(l, d),
            sum: DVector::zeros(d),
            count: 0,
            take,
            buf: Vec::new(),
            pending: Vec::with_capacity(SKETCH_BATCH * d),
            npend: 0,
            valid: true,
        }
    }

    /// Adds coordinates `col0..col0 + x.len()` of row `i` (panels of a row in increasing column
    /// order). O(len) until the row is complete, then O(d·l).
    pub fn add(&mut self, i: usize, col0: usize, x: &[f64]) {
        if !self.take[i] {
            return;
        }
        let d = self.omega_t.ncols();
        if col0 == 0 && x.len() == d {
            self.row(x);
            return;
        }
        if col0 == 0 {
            self.buf.clear();
        }
        if self.buf.len() != col0 {
            self.valid = false;
            return;
        }
        self.buf.extend_from_slice(x);
        if self.buf.len() == d {
            let row = std::mem::take(&mut self.buf);
            self.row(&row);
            self.buf = row;
        }
    }

    /// Marks the sketch invalid (rows not seen whole in order, e.g. column-major data).
    pub fn invalidate(&mut self) {
        self.valid = false;
    }

    fn row(&mut self, x: &[f64]) {
        self.pending.extend_from_slice(x);
        self.npend += 1;
        if self.npend == SKETCH_BATCH {
            self.flush();
        }
    }

    /// Adds the pending rows: y_q = Ωᵀx_q, then Zᵀ += y_q x_qᵀ and Σ += x_q in row order, so
    /// every entry receives the same additions in the same order as one row at a time
    /// (bit-identical). O(r·d·l) for r pending rows.
    fn flush(&mut self) {
        let (l, d, r) = (self.omega_t.nrows(), self.omega_t.ncols(), self.npend);
        let xs = &self.pending[..r * d];
        let mut y = vec![0.0; r * l];
        sketch_y(xs, d, self.omega_t.as_slice(), l, &mut y);
        sketch_z(xs, d, &y, l, self.z_t.as_mut_slice());
        for x in xs.chunks_exact(d) {
            for (s, &v) in self.sum.iter_mut().zip(x) {
                *s += v;
            }
        }
        self.count += r;
        self.npend = 0;
        self.pending.clear();
    }

    /// The top `k` principal directions (k × d, orthonormal rows) of the covariance Ĉ
    /// (divisor m − 1) of the taken rows and the variances along them, from the Nyström
    /// approximation Ĉ ≈ Z_c (ΩᵀZ_c)⁺ Z_cᵀ, Z_c = ĈΩ (Halko §5.4): with Z_c = QR,
    /// eig(R (ΩᵀZ_c)⁺ Rᵀ) = UΛUᵀ, directions (QU)ᵀ. Empty when invalid or m < 2.
    /// O(d l² + l³).
    pub fn finish(&self, k: usize) -> (DMatrix<f64>, Vec<f64>) {
        if self.npend > 0 {
            let mut done = self.clone();
            done.flush();
            return done.finish(k);
        }
        let d = self.omega_t.ncols();
        let m = self.count as f64;
        if !self.valid || self.count < 2 {
            return (DMatrix::zeros(0, d), Vec::new());
        }
        let mean = &self.sum / m;
        let mo = &self.omega_t * &mean; // l
        let zc = (self.z_t.transpose() - (&mean * mo.transpose()) * m) / (m - 1.0);
        let mm = &self.omega_t * &zc;
        let mm = (&mm + mm.transpose()) * 0.5;
        let eig = SymmetricEigen::new(mm);
        let top = eig.eigenvalues.iter().cloned().fold(0.0, f64::max);
        let inv = DMatrix::from_diagonal(&eig.eigenvalues.map(|e| {
            if e > 1e-12 * top {
                1.0 / e
            } else {
                0.0
            }
        }));
        let pinv = &eig.eigenvectors * inv * eig.eigenvectors.transpose();
        let qr = zc.qr();
        let (q, r) = (qr.q(), qr.r());
        let t = &r * pinv * r.transpose();
        let t = (&t + t.transpose()) * 0.5;
        let e = SymmetricEigen::new(t);
        let mut order: Vec<usize> = (0..e.eigenvalues.len()).collect();
        order.sort_by(|&x, &y| e.eigenvalues[y].total_cmp(&e.eigenvalues[x]));
        let keep: Vec<usize> = order
            .into_iter()
            .filter(|&i| e.eigenvalues[i] > 0.0)
            .take(k)
            .collect();
        let mut v = DMatrix::zeros(keep.len(), d);
        for (row, &i) in keep.iter().enumerate() {
            let dir = &q * e.eigenvectors.column(i);
            v.row_mut(row).copy_from(&dir.transpose());
        }
        (v, keep.iter().map(|&i| e.eigenvalues[i]).collect())
    }
}

avx2_dispatch! {
    /// y_q += Ωᵀ x_q for the r = y.len()/l rows x_q of `xs` (row-major, width d); Ωᵀ is l × d
    /// column-major (`omega_t`), so coordinate j's l values are contiguous. Terms added in
    /// increasing j.
    fn sketch_y(xs: &[f64], d: usize, omega_t: &[f64], l: usize, y: &mut [f64]) -> () =
        sketch_y_impl
}

#[inline(always)]
fn sketch_y_impl(xs: &[f64], d: usize, omega_t: &[f64], l: usize, y: &mut [f64]) {
    for (j, om) in omega_t.chunks_exact(l).enumerate() {
        for (q, yq) in y.chunks_exact_mut(l).enumerate() {
            let v = xs[q * d + j];
            for (ya, o) in yq.iter_mut().zip(om) {
                *ya += v * o;
            }
        }
    }
}

avx2_dispatch! {
    /// Zᵀ += Σ_q y_q x_qᵀ (coordinate j's l values contiguous), rows q in order.
    fn sketch_z(xs: &[f64], d: usize, y: &[f64], l: usize, z_t: &mut [f64]) -> () = sketch_z_impl
}

#[inline(always)]
fn sketch_z_impl(xs: &[f64], d: usize, y: &[f64], l: usize, z_t: &mut [f64]) {
    for (j, zj) in z_t.chunks_exact_mut(l).enumerate() {
        for (q, yq) in y.chunks_exact(l).enumerate() {
            let v = xs[q * d + j];
            for (z, ya) in zj.iter_mut().zip(yq) {
                *z += v * ya;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A 60 × 40 matrix with singular values 10, 7, 5, 3 and 0.05 noise: the range finder
    /// (l = 8, q = 1) and the single-pass Nyström sketch (l = 8, of the offset rows, which it
    /// centres, fed as two column panels) recover the top 3 right singular vectors of
    /// nalgebra's SVD with |cos| > 0.999 and the singular values within 1 %. (A co-range
    /// sketch, Tropp et al. 2017 SIMAX 38:1454, reached only |cos| 0.989 at l = 8 here, hence Nyström.)
    #[test]
    fn matches_nalgebra_svd() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (n, d) = (60, 40);
        let u = orth(&gaussian(n, 4, &mut rng));
        let v = orth(&gaussian(d, 4, &mut rng));
        let s = DMatrix::from_diagonal(&DVector::from_vec(vec![10.0, 7.0, 5.0, 3.0]));
        let mut a = &u * s * v.transpose() + gaussian(n, d, &mut rng) * 0.05;
        // centre the columns so that the sketch (which centres) sees the same matrix
        for mut c in a.column_iter_mut() {
            let m = c.mean();
            c.add_scalar_mut(-m);
        }
        let svd = a.clone().svd(true, true);
        let mut idx: Vec<usize> = (0..svd.singular_values.len()).collect();
        idx.sort_by(|&x, &y| svd.singular_values[y].total_cmp(&svd.singular_values[x]));
        let vt = svd.v_t.unwrap();
        let check = |vk: &DMatrix<f64>, sig: &[f64], what: &str, min_cos: f64, max_rel: f64| {
            for (r, &i) in idx.iter().take(3).enumerate() {
                let cos = (vk.row(r) * vt.row(i).transpose())[(0, 0)].abs();
                assert!(cos > min_cos, "{what} direction {r}: |cos| {cos}");
                let rel = (sig[r] / svd.singular_values[i] - 1.0).abs();
                assert!(
                    rel < max_rel,
                    "{what} σ{r}: {} vs {}",
                    sig[r],
                    svd.singular_values[i]
                );
            }
        };
        let (vk, sig) = top_right_singular(&a, 3, 5, 1, &mut rng);
        check(&vk, &sig, "range finder", 0.999, 0.01);
        let mut sk = Sketch::new(n, d, 8, vec![true; n], &mut rng);
        for i in 0..n {
            // offset rows: the sketch centres them itself
            let row: Vec<f64> = a
                .row(i)
                .iter()
                .enumerate()
                .map(|(j, v)| v + 3.0 + j as f64)
                .collect();
            sk.add(i, 0, &row[..25]);
            sk.add(i, 25, &row[25..]);
        }
        let (vk, var) = sk.finish(3);
        let sig: Vec<f64> = var.iter().map(|v| (v * (n - 1) as f64).sqrt()).collect();
        check(&vk, &sig, "sketch", 0.999, 0.01);
        // orthonormal rows
        let g = &vk * vk.transpose();
        assert!((g - DMatrix::identity(3, 3)).norm() < 1e-9);
    }
}
