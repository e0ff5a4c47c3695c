//! Stationary covariance of SGD on a quadratic loss under **epoch-wise reshuffling**.
//!
//! Model: θ_{t+1} = F θ_t − ε ξ_t with F = I − εA (θ* = 0), A symmetric. The data (N examples)
//! are reshuffled once per epoch and cut into m = N/S minibatches (drop_last), so the m noises
//! ξ_1..ξ_m of one epoch are exchangeable with Σ_j ξ_j = 0:
//!
//! Cov(ξ_i, ξ_i) = Q, Cov(ξ_i, ξ_j) = −Q/(m − 1) (i ≠ j, same epoch), independent across epochs,
//!
//! with Q = C(N − S)/(S(N − 1)), the per-step covariance of sampling without replacement (C the
//! per-example gradient covariance with divisor N). Fresh draws have the same Q but no
//! correlation across steps; their stationary covariance is
//! [`stationary_cov_discrete`](super::stationary_cov_discrete).
//!
//! Derivation (docs/methods.md, "Sampling designs: fresh and reshuffled"). In the eigenbasis A = VΛVᵀ,
//! F = diag(f), f_k = 1 − ελ_k, Q̃ = VᵀQV. After p steps of an epoch started at θ_0,
//! θ_p = F^p θ_0 − ε Σ_{i<p} F^{p−1−i} ξ_i, θ_0 independent of the epoch's noises, so
//!
//! Cov θ_p = F^p Σ₀ F^p + ε² Q̃ ∘ K(p)/(m − 1),
//! K_kl(p) = m·P_kl(p) − S_k(p) S_l(p) = (m − p)·P_kl(p) + p·Σ_{a<p} u_k(a) u_l(a),
//!
//! with S_k(p) = Σ_{a<p} f_k^a, P_kl(p) = Σ_{a<p} (f_k f_l)^a and u_k(a) = f_k^a − S_k(p)/p (the
//! centred form avoids the cancellation of m·P − S·S when ελ is small). The epoch-start
//! covariance Σ₀ solves the discrete Lyapunov equation Σ₀ = F^m Σ₀ F^m + W, W = ε² Q̃ ∘ K(m)/(m−1)
//! (solved by [`solve_discrete_lyapunov`](super::solve_discrete_lyapunov)); the covariance of
//! an iterate at a uniformly random step is the average of Cov θ_p over p = 0..m−1.
//! When ε·λ·m ≪ 1 the epoch's noise nearly cancels (its sum is exactly 0) and the covariance
//! shrinks to ≈ 2ελ(m + 1)/6 of the fresh value plus the epoch-boundary term; when
//! ε·λ·m ≫ 1 the iterate forgets an epoch's start within the epoch and the ratio → 1.

use nalgebra::DMatrix;

use super::{solve_discrete_lyapunov, OuError};
use crate::linalg::{check_dim, check_lr, check_square, sym_eigen, symmetric_input};

/// Stationary covariances of reshuffled SGD, in the coordinates of the input.
#[derive(Debug, Clone, PartialEq)]
pub struct ReshuffledCovariance {
    /// Covariance of the iterate at an epoch boundary (before the epoch's first step).
    pub at_epoch_start: DMatrix<f64>,
    /// Covariance of the iterate at a uniformly random step: the mean of Cov θ_p over the m
    /// positions of an epoch. This is what a trajectory covariance over all steps estimates.
    pub mean_over_epoch: DMatrix<f64>,
}

/// Stationary covariance of reshuffled SGD for a symmetric A (any basis): eigendecomposes A and
/// calls [`stationary_cov_reshuffled_eigen`], then rotates back.
///
/// *Arguments.* `a` symmetric drift matrix (Hessian), `q` per-step noise covariance (sampling
/// without replacement), `lr` = ε, `steps_per_epoch` = m = N/S ≥ 2.
///
/// *Reference.* Derivation in the module doc; checked against a seeded Monte Carlo simulation of
/// reshuffled SGD in `tests/reference/ou_reshuffled.rs`. For m → ∞ it tends to the fresh-sampling
/// covariance.
///
/// *Errors.* Shape/symmetry errors as the Lyapunov solvers; [`OuError::InvalidArgument`] for
/// lr ≤ 0 or m < 2; [`OuError::Unstable`] when max_k |1 − ελ_k| ≥ 1.
///
/// *Cost.* O(k³ + m·k²).
pub fn stationary_cov_reshuffled(
    a: &DMatrix<f64>,
    q: &DMatrix<f64>,
    lr: f64,
    steps_per_epoch: usize,
) -> Result<ReshuffledCovariance, OuError> {
    let k = check_square("A", a)?;
    check_dim("Q", q, k)?;
    let a = symmetric_input("A", a)?;
    let q = symmetric_input("Q", q)?;
    let (lambda, v) = sym_eigen(&a)?;
    let qt = v.transpose() * &q * &v;
    let r = stationary_cov_reshuffled_eigen(&lambda, &qt, lr, steps_per_epoch)?;
    let back = |m: &DMatrix<f64>| {
        let x = &v * m * v.transpose();
        (&x + x.transpose()) * 0.5
    };
    Ok(ReshuffledCovariance {
        at_epoch_start: back(&r.at_epoch_start),
        mean_over_epoch: back(&r.mean_over_epoch),
    })
}

/// The same in the eigenbasis of A: `lambda` its eigenvalues, `q_eig` = VᵀQV (any symmetric
/// matrix; not assumed diagonal). Formulas in the module doc. Cost: O(k³ + m·k²).
///
/// # Errors
/// As [`stationary_cov_reshuffled`].
pub fn stationary_cov_reshuffled_eigen(
    lambda: &[f64],
    q_eig: &DMatrix<f64>,
    lr: f64,
    steps_per_epoch: usize,
) -> Result<ReshuffledCovariance, OuError> {
    let k = lambda.len();
    check_dim("Q (eigenbasis)", q_eig, k)?;
    check_lr(lr)?;
    let m = steps_per_epoch;
    if m < 2 {
        return Err(OuError::InvalidArgument(format!(
            "reshuffling needs at least 2 steps per epoch (N/S), got {m}"
        )));
    }
    let f: Vec<f64> = lambda.iter().map(|l| 1.0 - lr * l).collect();
    let rho = f.iter().fold(0.0f64, |r, x| r.max(x.abs()));
    if rho.is_nan() || rho >= 1.0 {
        return Err(OuError::Unstable {
            spectral_radius: rho,
        });
    }
    let scale = lr * lr / (m as f64 - 1.0);
    let noise = |p: usize| noise_kernel(&f, p, m).component_mul(q_eig) * scale;
    let fm = DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
        k,
        f.iter().map(|x| x.powi(m as i32)),
    ));
    let sigma0 = solve_discrete_lyapunov(&fm, &noise(m))?;
    let mut mean = DMatrix::zeros(k, k);
    for p in 0..m {
        let prop = DMatrix::from_fn(k, k, |i, j| {
            sigma0[(i, j)] * f[i].powi(p as i32) * f[j].powi(p as i32)
        });
        mean += prop + noise(p);
    }
    mean /= m as f64;
    Ok(ReshuffledCovariance {
        at_epoch_start: (&sigma0 + sigma0.transpose()) * 0.5,
        mean_over_epoch: (&mean + mean.transpose()) * 0.5,
    })
}

/// K(p) = m·P(p) − S(p)S(p)ᵀ in the cancellation-free form (m − p)·P(p) + p·Σ_{a<p} u uᵀ.
fn noise_kernel(f: &[f64], p: usize, m: usize) -> DMatrix<f64> {
    let k = f.len();
    if p == 0 {
        return DMatrix::zeros(k, k);
    }
    // powers[a][i] = f_i^a, a < p
    let powers = DMatrix::from_fn(p, k, |a, i| f[i].powi(a as i32));
    let means = powers.row_mean();
    let centred = DMatrix::from_fn(p, k, |a, i| powers[(a, i)] - means[i]);
    let pp = powers.transpose() * &powers;
    let uu = centred.transpose() * &centred;
    pp * (m - p) as f64 + uu * p as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_matches_the_direct_double_sum() {
        let (f, m) = ([0.9, 0.5, -0.3], 6);
        for p in 0..=m {
            let kern = noise_kernel(&f, p, m);
            for i in 0..3 {
                for j in 0..3 {
                    let s = |x: f64| (0..p).map(|a| x.powi(a as i32)).sum::<f64>();
                    let pij = (0..p).map(|a| (f[i] * f[j]).powi(a as i32)).sum::<f64>();
                    let direct = m as f64 * pij - s(f[i]) * s(f[j]);
                    assert!((kern[(i, j)] - direct).abs() < 1e-12, "p={p} {i}{j}");
                }
            }
        }
    }

    #[test]
    fn rejects_single_batch_epochs_and_unstable_steps() {
        let q = DMatrix::identity(1, 1);
        assert!(stationary_cov_reshuffled_eigen(&[1.0], &q, 0.1, 1).is_err());
        assert!(matches!(
            stationary_cov_reshuffled_eigen(&[1.0], &q, 2.5, 4),
            Err(OuError::Unstable { .. })
        ));
    }
}
