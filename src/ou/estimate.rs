//! Estimators of the drift matrix A of the OU model, each with its diagnostics.
//!
//! * [`from_hessian`]: a measured Hessian, symmetrised.
//! * [`from_lag1`]: from the iterates alone, through the VAR(1) form of the linear SGD chain,
//!   Cov(θ_{t+1}, θ_t) = (I − εA)Σ.
//! * [`from_gradient_regression`]: from full-batch gradients at known positions,
//!   g(θ) ≈ Aθ + b.
//! * [`compare_estimates`]: how far two estimates agree (assumptions 2 and 4 predict that they
//!   do).

use nalgebra::{DMatrix, DVector, SVD};
use serde::Serialize;

use super::OuError;
use crate::linalg::{
    asymmetry, check_dim, check_finite, check_lr, check_square, real_schur, shape,
    sym_eigenvalues_desc, symmetric_part,
};

/// Largest condition number accepted for a matrix that an estimator inverts. Beyond it the
/// rounding error of the solve (≈ condition · 1.1e-16) would exceed 1e-4 relative.
pub const MAX_CONDITION: f64 = 1e12;

/// A Hessian taken as the drift matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct HessianEstimate {
    /// (H + Hᵀ)/2.
    pub a: DMatrix<f64>,
    /// ‖H − Hᵀ‖_F / ‖H‖_F of the input (0 for the zero matrix).
    pub asymmetry: f64,
    /// max_ij |H_ij − H_ji|.
    pub max_abs_asymmetry: f64,
}

/// Symmetrises a measured Hessian H (e.g. from Hessian–vector products, which are symmetric
/// only up to rounding and minibatch noise): A = (H + Hᵀ)/2, the nearest symmetric matrix in
/// Frobenius norm, and reports the asymmetry ‖H − Hᵀ‖_F/‖H‖_F.
///
/// *Reference.* Direct formula (`0.5 * (h + h.T)`, `np.linalg.norm(h - h.T) / np.linalg.norm(h)`);
/// tested in `tests/reference/ou_estimate.rs`.
///
/// *Cost.* O(k²).
pub fn from_hessian(h: &DMatrix<f64>) -> Result<HessianEstimate, OuError> {
    check_square("Hessian", h)?;
    let d = h - h.transpose();
    Ok(HessianEstimate {
        a: symmetric_part(h),
        asymmetry: asymmetry(h),
        max_abs_asymmetry: d.amax(),
    })
}

/// Drift matrix estimated from the iterates through the lag-1 autocovariance.
#[derive(Debug, Clone, PartialEq)]
pub struct Lag1Estimate {
    /// Â = (I − F̂)/ε (not symmetrised; see `asymmetry`).
    pub a: DMatrix<f64>,
    /// F̂ = Σ̂₁ Σ̂₀⁻¹, the VAR(1) transition matrix (estimate of I − εA).
    pub transition: DMatrix<f64>,
    /// ĉ, the VAR(1) intercept (estimate of εAθ*).
    pub intercept: DVector<f64>,
    /// θ̂* = (I − F̂)⁻¹ ĉ, the centre of the OU process (`None` if I − F̂ is singular).
    pub centre: Option<DVector<f64>>,
    /// Σ̂_u, covariance of the innovations r_t = θ_{t+1} − ĉ − F̂θ_t with divisor n − k − 1
    /// (n = T − 1 pairs); estimates ε²Q.
    pub innovation_cov: DMatrix<f64>,
    /// Q̂ = Σ̂_u / ε², the implied minibatch-noise covariance.
    pub noise_cov: DMatrix<f64>,
    /// Σ̂₀, covariance of θ_0 … θ_{T−2} (divisor n − 1).
    pub lag0_cov: DMatrix<f64>,
    /// Σ̂₁ = Σ (θ_{t+1} − θ̄₊)(θ_t − θ̄)ᵀ / (n − 1).
    pub lag1_cov: DMatrix<f64>,
    /// n = T − 1, the number of (θ_t, θ_{t+1}) pairs.
    pub n_pairs: usize,
    /// n / k. The fit has k² + k coefficients from n·k observations, so it needs n ≫ k.
    pub pairs_per_dimension: f64,
    /// cond(Σ̂₀) = λ_max/λ_min.
    pub lag0_condition: f64,
    /// ρ(F̂); the fitted chain is stationary iff < 1.
    pub spectral_radius: f64,
    /// ‖Â − Âᵀ‖_F / ‖Â‖_F: the Hessian is symmetric, so this is estimation noise or a sign of
    /// non-gradient (e.g. momentum-like) dynamics.
    pub asymmetry: f64,
}

/// Rows of a trajectory processed at once when accumulating cross-products (bounds the extra
/// memory at BLOCK · k values).
const BLOCK: usize = 4096;

/// Column means of rows [start, start + len) of `x`.
fn row_range_mean(x: &DMatrix<f64>, start: usize, len: usize) -> DVector<f64> {
    DVector::from_fn(x.ncols(), |c, _| {
        x.view((start, c), (len, 1)).sum() / len as f64
    })
}

/// Centred copy of rows [start, start + len) of `x` (mean `mean` subtracted from each row).
fn centred_rows(x: &DMatrix<f64>, start: usize, len: usize, mean: &DVector<f64>) -> DMatrix<f64> {
    let mut b = x.rows(start, len).into_owned();
    for (c, mut col) in b.column_iter_mut().enumerate() {
        col.add_scalar_mut(-mean[c]);
    }
    b
}

/// Estimates A from the iterates alone, through the VAR(1) form of the linear SGD chain:
///
/// θ_{t+1} = c + F θ_t + u_t, F = I − εA, c = εAθ*, u_t = −εξ_t, Cov u = ε²Q,
///
/// so Cov(θ_{t+1}, θ_t) = FΣ and **Â = (I − Σ̂₁ Σ̂₀⁻¹)/ε** (the VAR(1) / Yule–Walker form of the chain). F̂ = Σ̂₁Σ̂₀⁻¹ is the
/// ordinary least-squares fit of θ_{t+1} on (1, θ_t) over the n = T − 1 consecutive pairs, with
/// Σ̂₀ = Σ_t (θ_t − θ̄)(θ_t − θ̄)ᵀ/(n − 1) and Σ̂₁ = Σ_t (θ_{t+1} − θ̄₊)(θ_t − θ̄)ᵀ/(n − 1) (θ̄ the
/// mean of θ_0 … θ_{T−2}, θ̄₊ of θ_1 … θ_{T−1}). The innovation covariance Σ̂_u uses the OLS
/// divisor n − k − 1; Q̂ = Σ̂_u/ε². `traj` is T × k, one iterate per row, ideally projected onto a
/// k-dimensional subspace first (projection onto eigenvectors of A keeps the process OU).
///
/// The estimate needs T ≫ k and a stationary trajectory (discard burn-in first). Its sampling
/// error per entry of F̂ is of order √((1 − ρ²)/n) for a mode with autoregression ρ = 1 − ελ,
/// so entries of Â have standard error ≈ √(2λ/(εn)) for small ελ.
///
/// *Reference.* statsmodels 0.15.0 `VAR(traj).fit(1, trend="c")`: `coefs[0]` = F̂,
/// `intercept` = ĉ, `sigma_u` = Σ̂_u; checked to 1e-10 relative in `tests/reference/ou_estimate.rs`.
///
/// *Errors.* [`OuError::Underdetermined`] when T < k + 3 (no residual degrees of freedom);
/// [`OuError::RankDeficient`] when cond(Σ̂₀) > 1e12 (e.g. a constant or collinear coordinate);
/// [`OuError::InvalidArgument`] for lr ≤ 0.
///
/// *Cost.* O(T k² + k³) time, O(k²) extra memory beyond blocks of 4096 rows.
pub fn from_lag1(traj: &DMatrix<f64>, lr: f64) -> Result<Lag1Estimate, OuError> {
    check_lr(lr)?;
    check_finite("trajectory", traj)?;
    let (t_len, k) = traj.shape();
    if k == 0 {
        return Err(OuError::Shape {
            what: "trajectory",
            expected: "T × k with k ≥ 1".into(),
            got: shape(traj),
        });
    }
    if t_len < k + 3 {
        return Err(OuError::Underdetermined {
            what: "from_lag1 (trajectory)",
            needed: k + 3,
            got: t_len,
        });
    }
    let n = t_len - 1;
    let x_mean = row_range_mean(traj, 0, n);
    let y_mean = row_range_mean(traj, 1, n);
    let mut sxx = DMatrix::<f64>::zeros(k, k);
    let mut syx = DMatrix::<f64>::zeros(k, k);
    let mut start = 0;
    while start < n {
        let len = BLOCK.min(n - start);
        let xb = centred_rows(traj, start, len, &x_mean);
        let yb = centred_rows(traj, start + 1, len, &y_mean);
        // Explicit transposes route the products through matrixmultiply's blocked dgemm
        // (nalgebra's gemm_tr evaluates one dot product per entry).
        let xbt = xb.transpose();
        sxx.gemm(1.0, &xbt, &xb, 1.0);
        syx.gemm(1.0, &yb.transpose(), &xb, 1.0);
        start += len;
    }
    let sxx = symmetric_part(&sxx);
    let denom = (n - 1) as f64;
    let lag0_cov = &sxx / denom;
    let lag1_cov = &syx / denom;

    let ev = sym_eigenvalues_desc(&lag0_cov)?;
    let condition = condition_from(&ev);
    if condition.is_nan() || condition > MAX_CONDITION {
        return Err(OuError::RankDeficient {
            what: "lag-0 covariance of the trajectory",
            condition,
        });
    }
    let chol = nalgebra::Cholesky::new(sxx.clone()).ok_or(OuError::RankDeficient {
        what: "lag-0 covariance of the trajectory",
        condition,
    })?;
    // F̂ Sxx = Syx  ⇔  Sxx F̂ᵀ = Syxᵀ.
    let transition = chol.solve(&syx.transpose()).transpose();
    let intercept = &y_mean - &transition * &x_mean;

    // Innovations, computed directly (the algebraic shortcut S_yy − S_yx S_xx⁻¹ S_xy cancels
    // badly when ρ ≈ 1).
    let mut ssr = DMatrix::<f64>::zeros(k, k);
    let mut start = 0;
    while start < n {
        let len = BLOCK.min(n - start);
        let xb = centred_rows(traj, start, len, &x_mean);
        let mut rb = centred_rows(traj, start + 1, len, &y_mean);
        rb.gemm(-1.0, &xb, &transition.transpose(), 1.0);
        ssr.gemm(1.0, &rb.transpose(), &rb, 1.0);
        start += len;
    }
    let innovation_cov = symmetric_part(&ssr) / (n - k - 1) as f64;
    let noise_cov = &innovation_cov / (lr * lr);

    let id = DMatrix::<f64>::identity(k, k);
    let i_minus_f = &id - &transition;
    let a = &i_minus_f / lr;
    let centre = i_minus_f.clone().lu().solve(&intercept);
    let spectral_radius = real_schur(&transition)?
        .eigenvalues()
        .iter()
        .fold(0.0f64, |m, z| m.max(z.norm()));
    Ok(Lag1Estimate {
        asymmetry: asymmetry(&a),
        a,
        transition,
        intercept,
        centre,
        innovation_cov,
        noise_cov,
        lag0_cov,
        lag1_cov,
        n_pairs: n,
        pairs_per_dimension: n as f64 / k as f64,
        lag0_condition: condition,
        spectral_radius,
    })
}

/// λ_max/λ_min of a symmetric matrix from its descending eigenvalues (∞ when λ_min ≤ 0).
fn condition_from(ev_desc: &[f64]) -> f64 {
    let (max, min) = (ev_desc[0], ev_desc[ev_desc.len() - 1]);
    if min > 0.0 {
        max / min
    } else {
        f64::INFINITY
    }
}

/// Drift matrix estimated by regressing full-batch gradients on positions.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientRegression {
    /// Â, the least-squares slope (not symmetrised).
    pub a: DMatrix<f64>,
    /// (Â + Âᵀ)/2.
    pub a_sym: DMatrix<f64>,
    /// b̂, the intercept.
    pub intercept: DVector<f64>,
    /// θ̂* = −Â⁻¹b̂, where the fitted gradient vanishes (`None` if Â is singular).
    pub centre: Option<DVector<f64>>,
    /// R² = 1 − Σ‖g_i − ĝ_i‖² / Σ‖g_i − ḡ‖² (all coordinates pooled).
    pub r_squared: f64,
    /// ‖G − Ĝ‖_F / ‖G‖_F.
    pub relative_residual: f64,
    /// ‖Â − Âᵀ‖_F / ‖Â‖_F (a Hessian is symmetric).
    pub asymmetry: f64,
    /// Condition number σ_max/σ_min of the centred position matrix.
    pub condition: f64,
    /// m, the number of positions.
    pub n_points: usize,
}

/// Estimates A by ordinary least squares on g_i ≈ A θ_i + b over m positions θ_i (rows of
/// `positions`, m × k) with full-batch mean gradients g_i (rows of `mean_grads`, m × k). With
/// centred data Θ_c = Θ − 1θ̄ᵀ and G_c = G − 1ḡᵀ: Âᵀ = argmin ‖G_c − Θ_c Aᵀ‖_F (solved by
/// Householder QR of Θ_c), b̂ = ḡ − Âθ̄, θ̂* = −Â⁻¹b̂. Diagnostics: pooled R², relative residual, asymmetry of
/// Â, condition number of Θ_c. A quadratic loss (assumption 4) gives R² ≈ 1 and a symmetric Â.
///
/// *Reference.* numpy 2.4.6 `np.linalg.lstsq(np.c_[positions, np.ones(m)], mean_grads)`
/// (coefficients = [Âᵀ; b̂ᵀ]); checked to 1e-10 relative in `tests/reference/ou_estimate.rs`.
///
/// *Errors.* [`OuError::Underdetermined`] when m < k + 1; [`OuError::RankDeficient`] when the
/// centred positions do not span k dimensions (condition > 1e12); [`OuError::ZeroVariance`]
/// when all gradients are equal to working precision (R² undefined).
///
/// *Cost.* O(m k² + k³) time, O(m k) memory.
pub fn from_gradient_regression(
    positions: &DMatrix<f64>,
    mean_grads: &DMatrix<f64>,
) -> Result<GradientRegression, OuError> {
    check_finite("positions", positions)?;
    check_finite("mean_grads", mean_grads)?;
    let (m, k) = positions.shape();
    if k == 0 {
        return Err(OuError::Shape {
            what: "positions",
            expected: "m × k with k ≥ 1".into(),
            got: shape(positions),
        });
    }
    if mean_grads.shape() != (m, k) {
        return Err(OuError::Shape {
            what: "mean_grads",
            expected: shape(positions),
            got: shape(mean_grads),
        });
    }
    if m < k + 1 {
        return Err(OuError::Underdetermined {
            what: "from_gradient_regression (positions)",
            needed: k + 1,
            got: m,
        });
    }
    let p_mean = row_range_mean(positions, 0, m);
    let g_mean = row_range_mean(mean_grads, 0, m);
    let pc = centred_rows(positions, 0, m, &p_mean);
    let gc = centred_rows(mean_grads, 0, m, &g_mean);
    let sst = gc.norm_squared();
    // Centring a constant column leaves rounding noise of order ε_mach·|g|, not exact zeros.
    if sst <= (64.0 * f64::EPSILON).powi(2) * mean_grads.norm_squared() {
        return Err(OuError::ZeroVariance("mean gradients"));
    }
    // Householder QR Θ_c = QR (backward stable); the condition number of Θ_c is that of R.
    let qr = pc.clone().qr();
    let r = qr.r();
    let sv = SVD::try_new(r.clone(), false, false, f64::EPSILON, 1000 * k.max(10))
        .ok_or_else(|| OuError::Numerical("SVD of R did not converge".into()))?
        .singular_values;
    let (smax, smin) = (sv.max(), sv.min());
    let condition = if smin > 0.0 {
        smax / smin
    } else {
        f64::INFINITY
    };
    if condition.is_nan() || condition > MAX_CONDITION {
        return Err(OuError::RankDeficient {
            what: "centred positions",
            condition,
        });
    }
    let mut qt_g = gc.clone();
    qr.q_tr_mul(&mut qt_g);
    let a_t = r
        .solve_upper_triangular(&qt_g.rows(0, k).into_owned())
        .ok_or(OuError::RankDeficient {
            what: "centred positions",
            condition,
        })?;
    let a = a_t.transpose();
    let intercept = &g_mean - &a * &p_mean;
    let resid = &gc - &pc * &a_t;
    let ssr = resid.norm_squared();
    let centre = a.clone().lu().solve(&(-&intercept));
    Ok(GradientRegression {
        a_sym: symmetric_part(&a),
        asymmetry: asymmetry(&a),
        intercept,
        centre,
        r_squared: 1.0 - ssr / sst,
        relative_residual: ssr.sqrt() / mean_grads.norm(),
        condition,
        n_points: m,
        a,
    })
}

/// How far an estimate of A agrees with a reference estimate.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct EstimateAgreement {
    /// ‖A − A_ref‖_F / ‖A_ref‖_F.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub relative_frobenius: f64,
    /// Eigenvalues of the symmetric part of A, descending.
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub eigenvalues: Vec<f64>,
    /// Eigenvalues of the symmetric part of A_ref, descending.
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub reference_eigenvalues: Vec<f64>,
    /// (λ_k − λ_ref,k)/|λ_ref,k| for the k-th largest eigenvalues (±∞ where λ_ref,k = 0).
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub relative_eigenvalue_differences: Vec<f64>,
    /// max_k |relative_eigenvalue_differences_k|.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub max_relative_eigenvalue_difference: f64,
}

/// Compares two estimates of A (for example [`from_lag1`] against [`from_hessian`]): relative
/// Frobenius distance ‖A − A_ref‖_F/‖A_ref‖_F, and the eigenvalues of the symmetric parts
/// (A + Aᵀ)/2 matched in descending order with their relative differences. Under assumptions
/// 2 and 4 all estimators target the same Hessian, so a large disagreement (beyond sampling
/// error) is evidence against the OU model.
///
/// *Reference.* `np.linalg.norm(a - r) / np.linalg.norm(r)` and `np.linalg.eigvalsh` on the
/// symmetric parts; checked in `tests/reference/ou_estimate.rs`.
///
/// *Errors.* Shape and non-finite errors; [`OuError::InvalidArgument`] when A_ref = 0.
///
/// *Cost.* O(k³).
pub fn compare_estimates(
    a: &DMatrix<f64>,
    reference: &DMatrix<f64>,
) -> Result<EstimateAgreement, OuError> {
    let k = check_square("reference", reference)?;
    check_dim("a", a, k)?;
    let rel = super::gap::relative_frobenius(a, reference)?;
    let ev = sym_eigenvalues_desc(&symmetric_part(a))?;
    let ev_ref = sym_eigenvalues_desc(&symmetric_part(reference))?;
    let diffs: Vec<f64> = ev
        .iter()
        .zip(&ev_ref)
        .map(|(l, r)| (l - r) / r.abs())
        .collect();
    let max = diffs.iter().fold(0.0f64, |m, d| m.max(d.abs()));
    Ok(EstimateAgreement {
        relative_frobenius: rel,
        eigenvalues: ev,
        reference_eigenvalues: ev_ref,
        relative_eigenvalue_differences: diffs,
        max_relative_eigenvalue_difference: max,
    })
}
