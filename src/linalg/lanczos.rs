//! Extreme eigenvalues of a large symmetric operator by Lanczos (what nalgebra does not provide).

use nalgebra::{DMatrix, DVector};
use rand_distr::{Distribution, StandardNormal};

/// Largest and smallest eigenvalues of a symmetric d × d matrix given as a matrix–vector
/// product, by the Lanczos method with full reorthogonalisation (Golub & Van Loan, *Matrix
/// Computations*, 4th ed., §10.1), started from a seeded Gaussian vector.
///
/// With m = min(d, `steps`) iterations the extreme Ritz values converge to the extreme
/// eigenvalues from inside the spectrum: the returned λ_max is a lower bound of the true one and
/// λ_min an upper bound, typically exact to many digits after 40–80 steps. Exact (up to rounding)
/// when m = d. Both are NaN when the tridiagonal eigenproblem has non-finite entries or does not
/// converge within [`super::iteration_cap`] (an overflowing operator). Cost: m matrix–vector
/// products plus O(m² d).
pub(crate) fn lanczos_extremes(
    d: usize,
    steps: usize,
    seed: u64,
    matvec: &mut dyn FnMut(&DVector<f64>) -> DVector<f64>,
) -> (f64, f64) {
    let m = steps.min(d).max(1);
    let mut rng = crate::rng::stream(seed, "linalg/lanczos");
    let mut v = DVector::from_fn(d, |_, _| StandardNormal.sample(&mut rng));
    v /= v.norm();
    let mut basis: Vec<DVector<f64>> = Vec::with_capacity(m);
    let mut alpha = Vec::with_capacity(m);
    let mut beta: Vec<f64> = Vec::with_capacity(m);
    for j in 0..m {
        let mut w = matvec(&v);
        let a = w.dot(&v);
        alpha.push(a);
        w -= &v * a;
        if j > 0 {
            w -= &basis[j - 1] * beta[j - 1];
        }
        basis.push(v.clone());
        for _ in 0..2 {
            for q in &basis {
                let c = w.dot(q);
                w -= q * c;
            }
        }
        let b = w.norm();
        if j + 1 == m || b <= 1e-12 * a.abs().max(1e-300) {
            break;
        }
        beta.push(b);
        v = w / b;
    }
    let n = alpha.len();
    let t = DMatrix::from_fn(n, n, |i, j| {
        if i == j {
            alpha[i]
        } else if i + 1 == j || j + 1 == i {
            beta[i.min(j)]
        } else {
            0.0
        }
    });
    match super::sym_eigen_full(&t) {
        Ok(e) => (e.eigenvalues.max(), e.eigenvalues.min()),
        Err(_) => (f64::NAN, f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanczos_finds_extreme_eigenvalues() {
        // Diagonal spectrum 1..=200 in a rotated basis: λ_max = 200, λ_min = 1.
        let d = 200;
        let q = DMatrix::from_fn(d, d, |i, j| ((i * 7 + j * 13) % 17) as f64 - 8.0)
            .qr()
            .q();
        let l = DMatrix::from_diagonal(&DVector::from_fn(d, |i, _| (i + 1) as f64));
        let a = &q * l * q.transpose();
        let (mx, mn) = lanczos_extremes(d, 120, 1, &mut |v| &a * v);
        assert!((mx - 200.0).abs() < 1e-6, "{mx}");
        assert!((mn - 1.0).abs() < 1e-3, "{mn}");
        // With m = d the result is exact up to rounding.
        let (mx, mn) = lanczos_extremes(d, d, 2, &mut |v| &a * v);
        assert!((mx - 200.0).abs() < 1e-8 && (mn - 1.0).abs() < 1e-8);
    }
}
