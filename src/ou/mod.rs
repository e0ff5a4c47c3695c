//! The Ornstein–Uhlenbeck model of SGD near a minimum: Lyapunov solvers for its stationary
//! covariance, small-step diagnostics, gaps between covariance predictions, and estimators of the
//! drift matrix A from a run.
//!
//! # Conventions
//!
//! * The SGD update is θ_{t+1} = θ_t − ε ĝ_t, with ĝ_t the minibatch gradient the optimizer used
//!   and ε the learning rate (`lr`).
//! * A is the Hessian (drift matrix) of the mean loss at the minimum θ*.
//! * Q = Cov(ĝ_t) is the minibatch-noise covariance: C/S when minibatches are drawn with
//!   replacement, C·(N − S)/(S(N − 1)) without (C the per-example gradient covariance). The
//!   caller computes Q.
//! * For a quadratic loss with constant noise the iterates follow the linear chain
//!   θ_{t+1} − θ* = (I − εA)(θ_t − θ*) − εξ_t with Cov ξ_t = Q. Its exact stationary covariance
//!   solves the *discrete* equation Σ = (I − εA)Σ(I − εA)ᵀ + ε²Q; the continuous OU model of
//!   Mandt, Hoffman & Blei (2017), with time counted in iterations, gives AΣ + ΣAᵀ = εQ instead.
//!   When A and Q commute the two differ per mode by the factor 1/(1 − ελ_k/2).
//! * Matrices are `nalgebra::DMatrix<f64>` of the analysis subspace, dimension k ≤ ~64.
//!
//! Nothing here reads files; every function validates its input (square, matching dimensions,
//! finite) and fails with a typed [`OuError`] instead of panicking.
//!
//! Reference values (scipy, statsmodels, ArviZ) are produced by `tests/reference/generate_ou.py`
//! into `tests/reference/ou.json` and checked by `tests/reference/ou_lyapunov.rs` and
//! `tests/reference/ou_estimate.rs`.

pub mod estimate;
pub mod gap;
pub mod lyapunov;
pub mod modes;
pub mod reshuffled;
pub mod subspace_ou;

pub use estimate::{
    compare_estimates, from_gradient_regression, from_hessian, from_lag1, EstimateAgreement,
    GradientRegression, HessianEstimate, Lag1Estimate,
};
pub use gap::{
    covariance_gap, gaussian_kl, relative_frobenius, variance_ratios_along, whitened_eigenvalues,
    CovarianceGap,
};
pub use lyapunov::{
    solve_continuous_lyapunov, solve_discrete_lyapunov, stationary_cov_continuous,
    stationary_cov_discrete,
};
pub use modes::{mode_diagnostics, EigenvalueSource, ModeDiagnostics};

/// Why an OU quantity could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OuError {
    /// A matrix that must be square is not, or two inputs have incompatible shapes.
    #[error("{what}: expected shape {expected}, got {got}")]
    Shape {
        what: &'static str,
        expected: String,
        got: String,
    },
    /// An input contains NaN or ±∞.
    #[error("{0} contains NaN or infinite values")]
    NonFinite(&'static str),
    /// A scalar argument is out of range (for example a learning rate ≤ 0).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The continuous Lyapunov operator X ↦ AX + XAᵀ is singular: A has eigenvalues with
    /// λ_i + λ_j = 0 (to working precision). `min_eigen_sum` is min |λ_i + λ_j| and `scale` the
    /// Frobenius norm of the matrix it is compared with.
    #[error(
        "singular Lyapunov equation: min |λ_i + λ_j| = {min_eigen_sum:e} is zero relative to \
         ‖A‖_F = {scale:e}"
    )]
    Singular { min_eigen_sum: f64, scale: f64 },
    /// The discrete iteration has no stationary law: the spectral radius of its iteration matrix
    /// (F, or I − εA) is ≥ 1.
    #[error("no stationary law: spectral radius of the iteration matrix is {spectral_radius} ≥ 1")]
    Unstable { spectral_radius: f64 },
    /// The OU drift has no stationary law: some eigenvalue of A has real part ≤ 0.
    #[error(
        "no stationary law: the drift matrix has an eigenvalue with real part {min_real_part} ≤ 0"
    )]
    NotStable { min_real_part: f64 },
    /// A matrix that must be symmetric is not (relative asymmetry ‖M − Mᵀ‖_F/‖M‖_F given).
    #[error("{what} is not symmetric (relative asymmetry {asymmetry:e})")]
    NotSymmetric { what: &'static str, asymmetry: f64 },
    /// A matrix that must be positive definite is not.
    #[error("{0} is not positive definite")]
    NotPositiveDefinite(&'static str),
    /// Too few observations to identify the estimate.
    #[error("{what} needs at least {needed} rows, got {got}")]
    Underdetermined {
        what: &'static str,
        needed: usize,
        got: usize,
    },
    /// A matrix that must be inverted is singular or too ill-conditioned to invert reliably.
    #[error("{what} is singular or too ill-conditioned (condition number {condition:e})")]
    RankDeficient { what: &'static str, condition: f64 },
    /// All values of a series are equal.
    #[error("{0}: all values are equal (zero variance)")]
    ZeroVariance(&'static str),
    /// An iterative decomposition did not converge, or a solution failed its residual check.
    #[error("numerical failure: {0}")]
    Numerical(String),
}
