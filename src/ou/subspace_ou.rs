//! What a k-dimensional projection Pθ of a d-dimensional OU process predicts (issue 16).
//!
//! For an orthonormal P (k × d, P Pᵀ = I_k), symmetric A (d × d) and noise covariance Q:
//!
//! * Pθ is an OU process only if the row space of P is A-invariant (PA = ÃP); otherwise its
//!   drift depends on the unobserved (I − PᵀP)θ. [`invariance_defect`] measures
//!   ‖PA − (PAPᵀ)P‖_F / ‖PA‖_F (0 exactly for spans of eigenvectors of A).
//! * The subspace Lyapunov "prediction" from PAPᵀ and PQPᵀ differs from the exact PΣPᵀ unless
//!   the subspace is invariant ([`subspace_prediction`]). With isotropic noise and the continuous
//!   model Σ = (ε/2)A⁻¹, so PΣPᵀ = (ε/2)PA⁻¹Pᵀ ⪰ (ε/2)(PAPᵀ)⁻¹ (Schur complement / Cauchy
//!   interlacing): the prediction under-predicts. With Q ∝ A (continuous model) both equal
//!   (ε/2)c·I and the prediction is exact for every P; for general Q the bias has either sign.
//! * Gradient linearity in the subspace: Pg = PAθ = (PAPᵀ)(Pθ) + PA(I − PᵀP)θ;
//!   [`omitted_gradient_term`] is the second term and [`omitted_fraction`] its share of
//!   E‖PAθ‖² under a stationary covariance Σ.
//!
//! Dense algebra on d × d matrices: meant for tests, calibration and small d (cost O(d³) for the
//! full Lyapunov solve); the checks use these quantities to label subspace results.

use nalgebra::{DMatrix, DVector};

use super::{stationary_cov_continuous, stationary_cov_discrete, OuError};

fn check_p(p: &DMatrix<f64>, d: usize) -> Result<(), OuError> {
    if p.ncols() != d || p.nrows() == 0 || p.nrows() > d {
        return Err(OuError::Shape {
            what: "P",
            expected: format!("k × {d}, 1 ≤ k ≤ {d}"),
            got: format!("{} × {}", p.nrows(), p.ncols()),
        });
    }
    let k = p.nrows();
    let defect = (p * p.transpose() - DMatrix::identity(k, k)).norm();
    if !defect.is_finite() || defect > 1e-8 * (k as f64).sqrt() {
        return Err(OuError::InvalidArgument(format!(
            "P must have orthonormal rows (‖PPᵀ − I‖_F = {defect:e})"
        )));
    }
    Ok(())
}

fn check_square(what: &'static str, m: &DMatrix<f64>, d: usize) -> Result<(), OuError> {
    if m.nrows() != d || m.ncols() != d {
        return Err(OuError::Shape {
            what,
            expected: format!("{d} × {d}"),
            got: format!("{} × {}", m.nrows(), m.ncols()),
        });
    }
    if m.iter().any(|v| !v.is_finite()) {
        return Err(OuError::NonFinite(what));
    }
    Ok(())
}

/// Relative A-invariance defect of the row space of P: ‖PA − (PAPᵀ)P‖_F / ‖PA‖_F ∈ [0, 1]
/// (the part of the rows of PA outside the row space of P). 0 iff PA = ÃP. Cost O(k d²).
///
/// # Errors
/// [`OuError::Shape`] / [`OuError::NonFinite`] for bad A, [`OuError::InvalidArgument`] when P is
/// not orthonormal.
pub fn invariance_defect(a: &DMatrix<f64>, p: &DMatrix<f64>) -> Result<f64, OuError> {
    let d = a.nrows();
    check_square("A", a, d)?;
    check_p(p, d)?;
    let pa = p * a;
    let num = (&pa - (&pa * p.transpose()) * p).norm();
    let den = pa.norm();
    Ok(if den > 0.0 { num / den } else { 0.0 })
}

/// Which stationary equation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// A Σ + Σ Aᵀ = ε Q (continuous OU, time in iterations).
    Continuous,
    /// Σ = (I − εA) Σ (I − εA)ᵀ + ε² Q (exact for the linear SGD chain).
    Discrete,
}

/// Exact projected stationary covariance and the subspace prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct SubspacePrediction {
    /// P Σ Pᵀ with Σ the d-dimensional stationary covariance.
    pub exact: DMatrix<f64>,
    /// Stationary covariance of the k-dimensional model with drift PAPᵀ and noise PQPᵀ.
    pub predicted: DMatrix<f64>,
    /// tr(exact) / tr(predicted): > 1 means the subspace model under-predicts.
    pub trace_ratio: f64,
}

/// PΣPᵀ versus the "subspace Lyapunov prediction" (module docs). Cost O(d³ + k³).
///
/// # Errors
/// As [`stationary_cov_continuous`] / [`stationary_cov_discrete`] (A must be stable, Q
/// symmetric, ε > 0), plus shape errors.
pub fn subspace_prediction(
    a: &DMatrix<f64>,
    q: &DMatrix<f64>,
    p: &DMatrix<f64>,
    lr: f64,
    model: Model,
) -> Result<SubspacePrediction, OuError> {
    let d = a.nrows();
    check_square("A", a, d)?;
    check_square("Q", q, d)?;
    check_p(p, d)?;
    let solve = |a: &DMatrix<f64>, q: &DMatrix<f64>| match model {
        Model::Continuous => stationary_cov_continuous(a, q, lr),
        Model::Discrete => stationary_cov_discrete(a, q, lr),
    };
    let pt = p.transpose();
    let sigma = solve(a, q)?;
    let exact = p * sigma * &pt;
    let predicted = solve(&(p * a * &pt), &(p * q * &pt))?;
    let trace_ratio = exact.trace() / predicted.trace();
    Ok(SubspacePrediction {
        exact,
        predicted,
        trace_ratio,
    })
}

/// The term that subspace gradient linearity omits: P A (I − PᵀP) θ, so that
/// P A θ = (PAPᵀ)(Pθ) + this. Cost O(k d + d²).
///
/// # Errors
/// Shape / orthonormality errors as [`invariance_defect`].
pub fn omitted_gradient_term(
    a: &DMatrix<f64>,
    p: &DMatrix<f64>,
    theta: &DVector<f64>,
) -> Result<DVector<f64>, OuError> {
    let d = a.nrows();
    check_square("A", a, d)?;
    check_p(p, d)?;
    if theta.len() != d {
        return Err(OuError::Shape {
            what: "θ",
            expected: format!("{d}"),
            got: format!("{}", theta.len()),
        });
    }
    let perp = theta - p.transpose() * (p * theta);
    Ok(p * (a * perp))
}

/// Share of E‖PAθ‖² that the omitted term carries under a stationary covariance Σ (θ centred):
/// tr(M Σ Mᵀ) / tr(PA Σ A Pᵀ), M = PA(I − PᵀP). For an exactly quadratic loss this is the
/// "unexplained" fraction a regression of Pg on Pθ with the slope fixed to PAPᵀ sees
/// (the fitted-slope regression absorbs the part of the omitted term correlated with Pθ).
/// Cost O(d³).
///
/// # Errors
/// Shape / orthonormality errors.
pub fn omitted_fraction(
    a: &DMatrix<f64>,
    p: &DMatrix<f64>,
    sigma: &DMatrix<f64>,
) -> Result<f64, OuError> {
    let d = a.nrows();
    check_square("A", a, d)?;
    check_square("Σ", sigma, d)?;
    check_p(p, d)?;
    let pa = p * a;
    let m = &pa - (&pa * p.transpose()) * p;
    let num = (&m * sigma * m.transpose()).trace();
    let den = (&pa * sigma * pa.transpose()).trace();
    Ok(if den > 0.0 { num / den } else { 0.0 })
}

/// Ramsey's (1969) RESET test of nonlinearity of one response y (n) in the regressors x
/// (n × m; an intercept is added): OLS of y on [1, x] gives ŷ; the augmented regression adds
/// ŷ², …, ŷ^power and F = ((RSS_r − RSS_u)/q) / (RSS_u/(n − m − 1 − q)), q = power − 1,
/// p = P(F_{q, n−m−1−q} ≥ F). ŷ is standardised before taking powers (the span of
/// {1, x, ŷ², …} is unchanged, so F is too, and the design stays well conditioned).
///
/// **Why it is valid in any subspace.** If θ is Gaussian (the stationary law of a linear OU
/// process), then E[θ | Pθ] = Σ Pᵀ (PΣPᵀ)⁻¹ Pθ is linear in Pθ, hence for a quadratic loss
/// (g = Aθ, noise with E[ξ | θ] = 0) E[Pg | Pθ] = PA E[θ | Pθ] = PAΣPᵀ(PΣPᵀ)⁻¹ Pθ is linear in
/// Pθ although its slope is not PAPᵀ. A regression of each component of Pg on Pθ with a free
/// slope therefore has a linear conditional mean, and RESET's null holds; curvature of the loss
/// (E[Pg | Pθ] nonlinear) is what it detects. Its errors are heteroscedastic when the noise
/// depends on θ; the F-test assumes homoscedasticity.
///
/// Reference: Ramsey (1969) *JRSS-B* 31:350–371; checked against
/// `statsmodels.stats.diagnostic.linear_reset(OLS(y, add_constant(x)).fit(), power=power,
/// test_type="fitted", use_f=True)` (tests/reference/subspace_reset.json). Cost O(n m²).
///
/// # Errors
/// [`OuError::Underdetermined`] when n ≤ m + power; [`OuError::Shape`], [`OuError::NonFinite`];
/// [`OuError::RankDeficient`] for a singular design.
pub fn reset_test(
    y: &DVector<f64>,
    x: &DMatrix<f64>,
    power: usize,
) -> Result<crate::stats::TestResult, OuError> {
    use statrs::distribution::{ContinuousCDF, FisherSnedecor};
    let (n, m) = x.shape();
    if y.len() != n {
        return Err(OuError::Shape {
            what: "y",
            expected: format!("{n}"),
            got: format!("{}", y.len()),
        });
    }
    if y.iter().chain(x.iter()).any(|v| !v.is_finite()) {
        return Err(OuError::NonFinite("RESET data"));
    }
    if power < 2 {
        return Err(OuError::InvalidArgument("RESET power must be ≥ 2".into()));
    }
    let q = power - 1;
    let df = n as i64 - m as i64 - 1 - q as i64;
    if df < 1 {
        return Err(OuError::Underdetermined {
            what: "RESET",
            needed: m + q + 2,
            got: n,
        });
    }
    let base = DMatrix::from_fn(n, m + 1, |i, j| if j == 0 { 1.0 } else { x[(i, j - 1)] });
    let (fit, rss_r) = ols(&base, y)?;
    let mean = fit.mean();
    let sd = fit.variance().sqrt().max(f64::MIN_POSITIVE);
    let z = fit.map(|v| (v - mean) / sd);
    let aug = DMatrix::from_fn(n, m + 1 + q, |i, j| {
        if j <= m {
            base[(i, j)]
        } else {
            z[i].powi((j - m + 1) as i32)
        }
    });
    let (_, rss_u) = ols(&aug, y)?;
    let f = ((rss_r - rss_u) / q as f64) / (rss_u / df as f64);
    let dist = FisherSnedecor::new(q as f64, df as f64)
        .map_err(|e| OuError::Numerical(format!("F distribution: {e}")))?;
    Ok(crate::stats::TestResult {
        statistic: f,
        p_value: dist.sf(f.max(0.0)),
    })
}

/// OLS fitted values and residual sum of squares via a thin SVD. Cost O(n m²).
fn ols(x: &DMatrix<f64>, y: &DVector<f64>) -> Result<(DVector<f64>, f64), OuError> {
    let svd = crate::linalg::svd(x)?;
    let s = &svd.singular_values;
    let (smax, smin) = (s.max(), s.min());
    if smin.is_nan() || smin <= 1e-12 * smax {
        return Err(OuError::RankDeficient {
            what: "RESET design",
            condition: smax / smin,
        });
    }
    let beta = svd
        .solve(y, 0.0)
        .map_err(|e| OuError::Numerical(format!("OLS: {e}")))?;
    let fit = x * beta;
    let rss = (y - &fit).norm_squared();
    Ok((fit, rss))
}
