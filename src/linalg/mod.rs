//! The crate's one linear-algebra module: input validation, symmetrising and sorted symmetric
//! eigendecompositions (written once, used by the OU solvers, the curvature estimate, the checks
//! and the simulator), a guarded real Schur decomposition, the quasi-triangular Lyapunov
//! back-substitution of Bartels & Stewart (1972), and the Lanczos extreme eigenvalues
//! ([`lanczos`]).
//!
//! The validating helpers report [`OuError`], the typed error of the OU solvers that call them.

mod lanczos;

pub(crate) use lanczos::lanczos_extremes;

use nalgebra::{Complex, DMatrix, DVector, Dyn, FullPivLU, Schur, SymmetricEigen, SVD};

use crate::ou::OuError;

/// Relative tolerance below which |λ_i + λ_j| counts as zero: 64·k·ε_mach (times ‖A‖_F).
pub(crate) fn singular_tol(k: usize) -> f64 {
    64.0 * k as f64 * f64::EPSILON
}

/// Inputs whose relative asymmetry is at most this are accepted as symmetric covariances (and
/// symmetrised); beyond it they are rejected.
pub(crate) const SYMMETRY_TOL: f64 = 1e-8;

/// A solution whose relative residual exceeds this is reported as a numerical failure rather
/// than returned. Backward-stable solvers give ~1e-15; this only catches breakdowns.
pub(crate) const RESIDUAL_TOL: f64 = 1e-8;

pub(crate) fn shape(m: &DMatrix<f64>) -> String {
    format!("{}×{}", m.nrows(), m.ncols())
}

/// Checks that `m` is square, non-empty and finite; returns its dimension.
pub(crate) fn check_square(what: &'static str, m: &DMatrix<f64>) -> Result<usize, OuError> {
    if m.nrows() != m.ncols() || m.nrows() == 0 {
        return Err(OuError::Shape {
            what,
            expected: "a non-empty square matrix".into(),
            got: shape(m),
        });
    }
    check_finite(what, m)?;
    Ok(m.nrows())
}

pub(crate) fn check_finite(what: &'static str, m: &DMatrix<f64>) -> Result<(), OuError> {
    if m.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(OuError::NonFinite(what))
    }
}

/// Checks that `m` is a finite k × k matrix.
pub(crate) fn check_dim(what: &'static str, m: &DMatrix<f64>, k: usize) -> Result<(), OuError> {
    if m.nrows() != k || m.ncols() != k {
        return Err(OuError::Shape {
            what,
            expected: format!("{k}×{k}"),
            got: shape(m),
        });
    }
    check_finite(what, m)
}

pub(crate) fn check_lr(lr: f64) -> Result<(), OuError> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(OuError::InvalidArgument(format!(
            "the learning rate must be finite and > 0, got {lr}"
        )))
    }
}

/// ‖M − Mᵀ‖_F / ‖M‖_F (0 for the zero matrix).
pub(crate) fn asymmetry(m: &DMatrix<f64>) -> f64 {
    let norm = m.norm();
    if norm == 0.0 {
        return 0.0;
    }
    (m - m.transpose()).norm() / norm
}

pub(crate) fn is_exactly_symmetric(m: &DMatrix<f64>) -> bool {
    let k = m.nrows();
    (0..k).all(|i| (0..i).all(|j| m[(i, j)] == m[(j, i)]))
}

/// Checks that a covariance-like input is symmetric within [`SYMMETRY_TOL`] and returns its
/// symmetric part (M + Mᵀ)/2.
pub(crate) fn symmetric_input(
    what: &'static str,
    m: &DMatrix<f64>,
) -> Result<DMatrix<f64>, OuError> {
    let asym = asymmetry(m);
    if asym > SYMMETRY_TOL {
        return Err(OuError::NotSymmetric {
            what,
            asymmetry: asym,
        });
    }
    Ok(symmetric_part(m))
}

/// The symmetric part ½(M + Mᵀ). Cost O(k²).
pub(crate) fn symmetric_part(m: &DMatrix<f64>) -> DMatrix<f64> {
    (m + m.transpose()) * 0.5
}

/// Iterations allowed to every iterative decomposition of a k × k (or k-column) matrix in the
/// crate (SVD, symmetric eigendecomposition): 1000·max(k, 10). Converging inputs need a few
/// sweeps per eigen/singular value (≤ ~30 k in practice); nalgebra's `new` constructors have no
/// cap at all and loop forever on a matrix whose entries overflow when squared (entries near
/// 1e155 and beyond, issue 17), so every decomposition goes through the capped forms below and a
/// non-convergence becomes an error the checks report as *inconclusive*.
pub fn iteration_cap(k: usize) -> usize {
    1000 * k.max(10)
}

fn not_converged(what: &str, m: &DMatrix<f64>, cap: usize) -> OuError {
    OuError::Numerical(format!(
        "the {what} of a {} matrix did not converge within {cap} iterations (largest entry {:e})",
        shape(m),
        m.camax()
    ))
}

fn finite_or(what: &str, m: &DMatrix<f64>) -> Result<(), OuError> {
    if m.iter().all(|v| v.is_finite()) && !m.is_empty() {
        Ok(())
    } else {
        Err(OuError::Numerical(format!(
            "the {what} of a {} matrix is undefined: it is empty or has NaN or infinite entries \
             (values too large for float64 arithmetic)",
            shape(m)
        )))
    }
}

/// SVD with U and V, singular values in descending order, as `DMatrix::svd(true, true)` (same
/// tolerance 5·ε, so the same bits) but with the iteration cap `cap`; an error for empty or
/// non-finite input or non-convergence. Cost O(m n min(m, n)).
pub(crate) fn svd_capped(m: &DMatrix<f64>, cap: usize) -> Result<SVD<f64, Dyn, Dyn>, OuError> {
    finite_or("SVD", m)?;
    SVD::try_new(m.clone(), true, true, 5.0 * f64::EPSILON, cap)
        .ok_or_else(|| not_converged("SVD", m, cap))
}

/// [`svd_capped`] with the cap [`iteration_cap`]`(max(rows, cols))`.
pub(crate) fn svd(m: &DMatrix<f64>) -> Result<SVD<f64, Dyn, Dyn>, OuError> {
    svd_capped(m, iteration_cap(m.nrows().max(m.ncols())))
}

/// Least-squares solution x of A x ≈ b by [`svd`], singular values ≤ `eps` treated as zero
/// (nalgebra `SVD::solve`). Cost O(m n²).
pub(crate) fn lstsq(a: &DMatrix<f64>, b: &DMatrix<f64>, eps: f64) -> Result<DMatrix<f64>, OuError> {
    svd(a)?
        .solve(b, eps)
        .map_err(|e| OuError::Numerical(format!("least squares: {e}")))
}

/// Moore–Penrose pseudo-inverse by [`svd`] (singular values ≤ `eps` dropped), as nalgebra's
/// `pseudo_inverse` but capped. Cost O(k³).
pub(crate) fn pseudo_inverse(m: &DMatrix<f64>, eps: f64) -> Result<DMatrix<f64>, OuError> {
    svd(m)?
        .pseudo_inverse(eps)
        .map_err(|e| OuError::Numerical(format!("pseudo-inverse: {e}")))
}

/// Symmetric eigendecomposition (lower triangle), as `DMatrix::symmetric_eigen` (same tolerance
/// ε, so the same bits) but with the iteration cap `cap`; eigenvalues unsorted. Cost O(k³).
pub(crate) fn sym_eigen_capped(
    m: &DMatrix<f64>,
    cap: usize,
) -> Result<SymmetricEigen<f64, Dyn>, OuError> {
    finite_or("symmetric eigendecomposition", m)?;
    SymmetricEigen::try_new(m.clone(), f64::EPSILON, cap)
        .ok_or_else(|| not_converged("symmetric eigendecomposition", m, cap))
}

/// [`sym_eigen_capped`] with the cap [`iteration_cap`]`(k)`.
pub(crate) fn sym_eigen_full(m: &DMatrix<f64>) -> Result<SymmetricEigen<f64, Dyn>, OuError> {
    sym_eigen_capped(m, iteration_cap(m.nrows()))
}

/// Eigenvalues of a symmetric matrix in descending order with the unit eigenvector of the
/// largest; `None` when the matrix is empty or not finite or the decomposition does not
/// converge. Cost O(k³).
pub(crate) fn eigen_desc_top(a: &DMatrix<f64>) -> Option<(Vec<f64>, DVector<f64>)> {
    if a.iter().any(|x| !x.is_finite()) || a.nrows() == 0 {
        return None;
    }
    let e = sym_eigen_full(a).ok()?;
    let mut idx: Vec<usize> = (0..e.eigenvalues.len()).collect();
    idx.sort_by(|&i, &j| e.eigenvalues[j].total_cmp(&e.eigenvalues[i]));
    let ev = idx.iter().map(|&i| e.eigenvalues[i]).collect();
    Some((ev, e.eigenvectors.column(idx[0]).into_owned()))
}

/// Symmetric eigendecomposition M = V diag(λ) Vᵀ with the iteration count capped (nalgebra's
/// `SymmetricEigen::new` would loop without bound). Eigenvalues are returned unsorted.
pub(crate) fn sym_eigen(m: &DMatrix<f64>) -> Result<(Vec<f64>, DMatrix<f64>), OuError> {
    let eig = sym_eigen_full(m)?;
    Ok((eig.eigenvalues.iter().copied().collect(), eig.eigenvectors))
}

/// Eigenvalues of a symmetric matrix, sorted in descending order.
pub(crate) fn sym_eigenvalues_desc(m: &DMatrix<f64>) -> Result<Vec<f64>, OuError> {
    let (mut vals, _) = sym_eigen(m)?;
    vals.sort_by(|a, b| b.total_cmp(a));
    Ok(vals)
}

/// Real Schur form A = U T Uᵀ with T quasi-upper-triangular (1×1 and 2×2 diagonal blocks).
/// Diagonal blocks of a quasi-triangular matrix as (first index, size ∈ {1, 2}).
pub(crate) type Blocks = Vec<(usize, usize)>;

pub(crate) struct RealSchur {
    pub u: DMatrix<f64>,
    pub t: DMatrix<f64>,
    /// Diagonal blocks of `t` as (first index, size ∈ {1, 2}).
    pub blocks: Vec<(usize, usize)>,
}

impl RealSchur {
    pub(crate) fn eigenvalues(&self) -> Vec<Complex<f64>> {
        block_eigenvalues(&self.t, &self.blocks)
    }
}

/// Real Schur decomposition (Francis double-shift QR, nalgebra) with an iteration cap of
/// 60·k + 100 sweeps. nalgebra's QR has no exceptional shifts, so on a stall (for example a
/// cyclic permutation matrix) it is retried once on P A P with a fixed Householder reflector P,
/// which breaks the symmetry that makes the shifts stall. Cost O(k³).
pub(crate) fn real_schur(a: &DMatrix<f64>) -> Result<RealSchur, OuError> {
    let k = a.nrows();
    let max_iter = 60 * k + 100;
    let (u, t) = match Schur::try_new(a.clone(), f64::EPSILON, max_iter) {
        Some(s) => s.unpack(),
        None => {
            let v = DMatrix::from_fn(k, 1, |i, _| 1.0 + 0.618_033_988_749_894_9 * i as f64);
            let p = DMatrix::identity(k, k) - (&v * v.transpose()) * (2.0 / v.norm_squared());
            let b = &p * a * &p;
            let s = Schur::try_new(b, f64::EPSILON, max_iter).ok_or_else(|| {
                OuError::Numerical("real Schur decomposition did not converge".into())
            })?;
            let (q, t) = s.unpack();
            (p * q, t)
        }
    };
    let (t, blocks) = quasi_triangular_blocks(t)?;
    Ok(RealSchur { u, t, blocks })
}

/// Identifies the 1×1 / 2×2 diagonal blocks of a quasi-upper-triangular matrix from its non-zero
/// subdiagonal entries and clears everything below the block diagonal.
fn quasi_triangular_blocks(mut t: DMatrix<f64>) -> Result<(DMatrix<f64>, Blocks), OuError> {
    let k = t.nrows();
    let mut blocks = Vec::with_capacity(k);
    let mut i = 0;
    while i < k {
        if i + 1 < k && t[(i + 1, i)] != 0.0 {
            if i + 2 < k && t[(i + 2, i + 1)] != 0.0 {
                return Err(OuError::Numerical(
                    "Schur form has a diagonal block larger than 2×2".into(),
                ));
            }
            blocks.push((i, 2));
            i += 2;
        } else {
            blocks.push((i, 1));
            i += 1;
        }
    }
    zero_below_blocks(&mut t, &blocks);
    Ok((t, blocks))
}

/// Sets to zero every entry strictly below the block diagonal.
pub(crate) fn zero_below_blocks(t: &mut DMatrix<f64>, blocks: &[(usize, usize)]) {
    let k = t.nrows();
    for &(start, size) in blocks {
        for c in start..start + size {
            for r in start + size..k {
                t[(r, c)] = 0.0;
            }
        }
    }
}

/// Eigenvalues of a quasi-triangular matrix from its diagonal blocks.
pub(crate) fn block_eigenvalues(t: &DMatrix<f64>, blocks: &[(usize, usize)]) -> Vec<Complex<f64>> {
    let mut out = Vec::with_capacity(t.nrows());
    for &(s, size) in blocks {
        if size == 1 {
            out.push(Complex::new(t[(s, s)], 0.0));
        } else {
            let (a, b, c, d) = (t[(s, s)], t[(s, s + 1)], t[(s + 1, s)], t[(s + 1, s + 1)]);
            let half_tr = 0.5 * (a + d);
            let p = 0.5 * (a - d);
            let disc = p * p + b * c;
            if disc >= 0.0 {
                let r = disc.sqrt();
                out.push(Complex::new(half_tr + r, 0.0));
                out.push(Complex::new(half_tr - r, 0.0));
            } else {
                let r = (-disc).sqrt();
                out.push(Complex::new(half_tr, r));
                out.push(Complex::new(half_tr, -r));
            }
        }
    }
    out
}

/// min over i ≤ j of |μ_i + μ_j|.
pub(crate) fn min_eigen_sum(eig: &[Complex<f64>]) -> f64 {
    let mut m = f64::INFINITY;
    for i in 0..eig.len() {
        for j in i..eig.len() {
            m = m.min((eig[i] + eig[j]).norm());
        }
    }
    m
}

/// Errors with [`OuError::Singular`] when min |μ_i + μ_j| ≤ 64·k·ε_mach·`scale`.
pub(crate) fn check_eigen_sums(eig: &[Complex<f64>], scale: f64) -> Result<(), OuError> {
    let m = min_eigen_sum(eig);
    if m.is_nan() || m <= singular_tol(eig.len()) * scale {
        return Err(OuError::Singular {
            min_eigen_sum: m,
            scale,
        });
    }
    Ok(())
}

/// Solves T Y + Y Tᵀ = F for quasi-upper-triangular T with the given diagonal blocks, by block
/// back-substitution from the bottom-right corner (Bartels & Stewart 1972; the small p×q
/// Sylvester systems, p, q ≤ 2, are solved by fully pivoted LU as in LAPACK `dlasy2`).
/// Returns `None` when a small system is exactly singular. Cost O(k³).
pub(crate) fn solve_quasi_triangular_lyapunov(
    t: &DMatrix<f64>,
    blocks: &[(usize, usize)],
    f: &DMatrix<f64>,
) -> Option<DMatrix<f64>> {
    let k = t.nrows();
    let mut y = DMatrix::<f64>::zeros(k, k);
    for &(j0, q) in blocks.iter().rev() {
        for &(i0, p) in blocks.iter().rev() {
            // rhs = F_IJ − Σ_{s past block I} T[r,s] Y[s,c] − Σ_{l past block J} Y[r,l] T[c,l]
            let mut rhs = [[0.0f64; 2]; 2];
            for (cc, rhs_col) in rhs.iter_mut().enumerate().take(q) {
                let c = j0 + cc;
                for (rr, v) in rhs_col.iter_mut().enumerate().take(p) {
                    let r = i0 + rr;
                    let mut acc = f[(r, c)];
                    for s in i0 + p..k {
                        acc -= t[(r, s)] * y[(s, c)];
                    }
                    for l in j0 + q..k {
                        acc -= y[(r, l)] * t[(c, l)];
                    }
                    *v = acc;
                }
            }
            if p == 1 && q == 1 {
                let d = t[(i0, i0)] + t[(j0, j0)];
                if d == 0.0 {
                    return None;
                }
                y[(i0, j0)] = rhs[0][0] / d;
                continue;
            }
            // Unknowns vec(Y_IJ) in column-major order: index rr + p·cc.
            let n = p * q;
            let mut m = DMatrix::<f64>::zeros(n, n);
            let mut b = DMatrix::<f64>::zeros(n, 1);
            for cc in 0..q {
                for rr in 0..p {
                    let row = rr + p * cc;
                    b[(row, 0)] = rhs[cc][rr];
                    // (T_II Y)[rr,cc] = Σ_s T_II[rr,s] Y[s,cc]
                    for s in 0..p {
                        m[(row, s + p * cc)] += t[(i0 + rr, i0 + s)];
                    }
                    // (Y T_JJᵀ)[rr,cc] = Σ_l Y[rr,l] T_JJ[cc,l]
                    for l in 0..q {
                        m[(row, rr + p * l)] += t[(j0 + cc, j0 + l)];
                    }
                }
            }
            let sol = FullPivLU::new(m).solve(&b)?;
            for cc in 0..q {
                for rr in 0..p {
                    y[(i0 + rr, j0 + cc)] = sol[(rr + p * cc, 0)];
                }
            }
        }
    }
    Some(y)
}

/// Solves the Lyapunov equation T Y + Y Tᵀ = F in Schur coordinates, after checking that no two
/// eigenvalues of T sum to zero relative to `scale`.
pub(crate) fn lyapunov_in_schur(
    t: &DMatrix<f64>,
    blocks: &[(usize, usize)],
    f: &DMatrix<f64>,
    scale: f64,
) -> Result<DMatrix<f64>, OuError> {
    let eig = block_eigenvalues(t, blocks);
    check_eigen_sums(&eig, scale)?;
    let y = solve_quasi_triangular_lyapunov(t, blocks, f).ok_or(OuError::Singular {
        min_eigen_sum: min_eigen_sum(&eig),
        scale,
    })?;
    if y.iter().all(|v| v.is_finite()) {
        Ok(y)
    } else {
        Err(OuError::Numerical(
            "Lyapunov solution overflowed (near-singular equation)".into(),
        ))
    }
}

/// Fails with [`OuError::Numerical`] when `residual / scale` exceeds [`RESIDUAL_TOL`].
pub(crate) fn check_residual(what: &str, residual: f64, scale: f64) -> Result<(), OuError> {
    let rel = if scale > 0.0 {
        residual / scale
    } else {
        residual
    };
    if rel <= RESIDUAL_TOL {
        Ok(())
    } else {
        Err(OuError::Numerical(format!(
            "{what}: relative residual {rel:e} exceeds {RESIDUAL_TOL:e}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-scaled test matrix: entries of mixed sign, full rank.
    fn mixed(rows: usize, cols: usize, scale: f64) -> DMatrix<f64> {
        DMatrix::from_fn(rows, cols, |i, j| {
            scale * (((i * 7 + j * 13) % 17) as f64 - 8.0 + if i == j { 0.1 } else { 0.0 })
        })
    }

    #[test]
    fn capped_decompositions_give_the_uncapped_bits() {
        let a = mixed(9, 4, 1.0);
        let b = DMatrix::from_fn(9, 2, |i, j| (i + 2 * j) as f64);
        let s = svd(&a).unwrap();
        let reference = a.clone().svd(true, true);
        assert_eq!(s.singular_values, reference.singular_values);
        assert_eq!(
            lstsq(&a, &b, 1e-12).unwrap(),
            reference.solve(&b, 1e-12).unwrap()
        );
        let sym = &a.transpose() * &a;
        let e = sym_eigen_full(&sym).unwrap();
        assert_eq!(e.eigenvalues, sym.clone().symmetric_eigen().eigenvalues);
    }

    #[test]
    fn decompositions_stop_at_their_cap() {
        // A matrix that needs several QR sweeps cannot converge in one.
        let a = mixed(12, 12, 1.0);
        let sym = &a + a.transpose();
        let err = svd_capped(&a, 1).err().unwrap().to_string();
        assert!(
            err.contains("did not converge within 1 iterations"),
            "{err}"
        );
        let err = sym_eigen_capped(&sym, 1).err().unwrap().to_string();
        assert!(err.contains("did not converge"), "{err}");
        assert!(svd_capped(&a, iteration_cap(12)).is_ok());
    }

    #[test]
    fn huge_and_tiny_finite_matrices_end() {
        // nalgebra's uncapped SVD loops forever on a matrix with infinite entries (the Gram
        // matrix of 1e100-scale iterates overflows); the capped forms refuse it at once.
        let mut inf = mixed(6, 6, 1.0);
        inf[(2, 3)] = f64::INFINITY;
        let err = svd(&inf).err().unwrap().to_string();
        assert!(err.contains("infinite"), "{err}");
        assert!(sym_eigen_full(&inf).is_err());
        // Finite extreme scales converge (nalgebra divides by the largest entry first) and give
        // the scaled singular values.
        for scale in [1e150, 1e-150, 1e300, 1e-300] {
            let a = mixed(8, 5, scale);
            let s = svd(&a).unwrap().singular_values;
            let unit = svd(&mixed(8, 5, 1.0)).unwrap().singular_values;
            for (x, u) in s.iter().zip(unit.iter()) {
                assert!(
                    (x / scale - u).abs() <= 1e-12 * unit[0],
                    "{scale}: {x} vs {u}"
                );
            }
            let sym = mixed(5, 5, scale);
            let sym = &sym + sym.transpose();
            assert!(sym_eigen_full(&sym).is_ok(), "{scale}");
        }
    }

    #[test]
    fn schur_of_a_cyclic_permutation_converges() {
        // Eigenvalues are the cube roots of unity: 1 and −1/2 ± i√3/2.
        let a = DMatrix::from_row_slice(3, 3, &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let s = real_schur(&a).unwrap();
        let back = &s.u * &s.t * s.u.transpose();
        assert!((back - &a).norm() < 1e-12);
        let mut eig = s.eigenvalues();
        eig.sort_by(|x, y| x.re.total_cmp(&y.re).then(x.im.total_cmp(&y.im)));
        assert!((eig[0] - Complex::new(-0.5, -(3f64.sqrt()) / 2.0)).norm() < 1e-12);
        assert!((eig[1] - Complex::new(-0.5, 3f64.sqrt() / 2.0)).norm() < 1e-12);
        assert!((eig[2] - Complex::new(1.0, 0.0)).norm() < 1e-12);
    }

    #[test]
    fn quasi_triangular_solve_matches_definition() {
        // T with a 2×2 block (complex pair 1 ± 2i) followed by a 1×1 block.
        let t = DMatrix::from_row_slice(3, 3, &[1.0, 2.0, 0.3, -2.0, 1.0, 0.5, 0.0, 0.0, 0.7]);
        let blocks = vec![(0, 2), (2, 1)];
        let f = DMatrix::from_row_slice(3, 3, &[1.0, 0.2, 0.1, 0.3, 2.0, -0.4, 0.5, 0.6, 3.0]);
        let y = solve_quasi_triangular_lyapunov(&t, &blocks, &f).unwrap();
        let r = &t * &y + &y * t.transpose() - &f;
        assert!(r.norm() < 1e-13, "residual {}", r.norm());
    }
}
