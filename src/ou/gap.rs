//! Gap metrics between two covariance predictions (or a prediction and an empirical estimate).

use nalgebra::{Cholesky, DMatrix, Dyn};
use serde::Serialize;

use super::OuError;
use crate::linalg::{check_dim, check_finite, check_square, shape, sym_eigen, symmetric_input};

/// Relative Frobenius distance ‖X − R‖_F / ‖R‖_F of `x` from `reference`.
///
/// *Reference.* `numpy.linalg.norm(x - r) / numpy.linalg.norm(r)`; checked in
/// `tests/reference/ou_lyapunov.rs`.
///
/// *Errors.* [`OuError::InvalidArgument`] when the reference is the zero matrix.
///
/// *Cost.* O(k²).
pub fn relative_frobenius(x: &DMatrix<f64>, reference: &DMatrix<f64>) -> Result<f64, OuError> {
    check_square("reference", reference)?;
    check_finite("reference", reference)?;
    check_finite("x", x)?;
    if x.shape() != reference.shape() {
        return Err(OuError::Shape {
            what: "x",
            expected: shape(reference),
            got: shape(x),
        });
    }
    if reference.norm() == 0.0 {
        return Err(OuError::InvalidArgument(
            "relative Frobenius distance to a zero reference".into(),
        ));
    }
    // The arithmetic is the effect size of `stats::covariance`; this wrapper adds typed errors.
    Ok(crate::stats::covariance::relative_frobenius(x, reference))
}

/// Cholesky factor of a symmetric positive-definite covariance.
fn cholesky(what: &'static str, m: &DMatrix<f64>) -> Result<Cholesky<f64, Dyn>, OuError> {
    Cholesky::new(m.clone()).ok_or(OuError::NotPositiveDefinite(what))
}

/// Generalised eigenvalues μ_1 ≤ … ≤ μ_k of (Σ, R): the eigenvalues of R^{−1/2} Σ R^{−1/2}
/// (computed as L⁻¹ Σ L⁻ᵀ with R = L Lᵀ). They are the variance ratios uᵀΣu / uᵀRu at the
/// stationary directions u (a proposed, not published, equivalence margin is [0.8, 1.25]). When Σ and R
/// share eigenvectors they are the per-mode ratios Σ_k/R_k, for example 1/(1 − ελ_k/2) for the
/// discrete against the continuous Lyapunov solution with commuting A and Q.
///
/// *Reference.* `scipy.linalg.eigh(sigma, reference, eigvals_only=True)` (scipy 1.17.1), checked
/// to 1e-10 relative in `tests/reference/ou_lyapunov.rs`.
///
/// *Errors.* [`OuError::NotPositiveDefinite`] when `reference` is not positive definite;
/// [`OuError::NotSymmetric`] when either matrix is asymmetric beyond 1e-8 relative.
///
/// *Cost.* O(k³).
pub fn whitened_eigenvalues(
    sigma: &DMatrix<f64>,
    reference: &DMatrix<f64>,
) -> Result<Vec<f64>, OuError> {
    let k = check_square("reference", reference)?;
    check_dim("sigma", sigma, k)?;
    let r = symmetric_input("reference", reference)?;
    let s = symmetric_input("sigma", sigma)?;
    let l = cholesky("reference", &r)?.unpack();
    let left = l
        .solve_lower_triangular(&s)
        .ok_or(OuError::NotPositiveDefinite("reference"))?;
    let w = l
        .solve_lower_triangular(&left.transpose())
        .ok_or(OuError::NotPositiveDefinite("reference"))?;
    let w = (&w + w.transpose()) * 0.5;
    let (mut mu, _) = sym_eigen(&w)?;
    mu.sort_by(f64::total_cmp);
    Ok(mu)
}

/// Variance ratios along given directions: (uᵀ Σ u) / (uᵀ R u) for each column u of
/// `directions` (k × m). With the eigenvectors of a symmetric A as directions this is the
/// per-mode variance ratio of two covariance predictions.
///
/// *Reference.* Direct formula; checked against the closed form 1/(1 − ελ_k/2) of the commuting
/// case in `tests/reference/ou_lyapunov.rs`.
///
/// *Errors.* [`OuError::NotPositiveDefinite`] when uᵀRu ≤ 0 for some column.
///
/// *Cost.* O(m k²).
pub fn variance_ratios_along(
    sigma: &DMatrix<f64>,
    reference: &DMatrix<f64>,
    directions: &DMatrix<f64>,
) -> Result<Vec<f64>, OuError> {
    let k = check_square("reference", reference)?;
    check_dim("sigma", sigma, k)?;
    check_finite("directions", directions)?;
    if directions.nrows() != k || directions.ncols() == 0 {
        return Err(OuError::Shape {
            what: "directions",
            expected: format!("{k}×m with m ≥ 1"),
            got: shape(directions),
        });
    }
    let su = sigma * directions;
    let ru = reference * directions;
    directions
        .column_iter()
        .enumerate()
        .map(|(j, u)| {
            let den = u.dot(&ru.column(j));
            if den > 0.0 {
                Ok(u.dot(&su.column(j)) / den)
            } else {
                Err(OuError::NotPositiveDefinite(
                    "reference (along a direction)",
                ))
            }
        })
        .collect()
}

/// Kullback–Leibler divergence between centred Gaussians,
///
/// KL(N(0, Σ₁) ‖ N(0, Σ₂)) = ½ [ tr(Σ₂⁻¹Σ₁) − k + ln det Σ₂ − ln det Σ₁ ]
///                         = ½ Σ_i (μ_i − 1 − ln μ_i),
///
/// with μ_i the generalised eigenvalues of (Σ₁, Σ₂) ([`whitened_eigenvalues`]). The second form
/// is used: every term is ≥ 0 and is evaluated as d − ln(1 + d), d = μ − 1, which keeps full
/// relative accuracy when Σ₁ ≈ Σ₂ (no cancellation between tr and ln det). In nats.
///
/// *Reference.* The first form evaluated with numpy 2.4.6
/// (`0.5*(np.trace(np.linalg.solve(s2, s1)) - k + np.linalg.slogdet(s2)[1] - np.linalg.slogdet(s1)[1])`),
/// checked to 1e-10 relative in `tests/reference/ou_lyapunov.rs`.
///
/// *Errors.* [`OuError::NotPositiveDefinite`] when either matrix is not positive definite (the
/// divergence is then infinite or undefined).
///
/// *Cost.* O(k³).
pub fn gaussian_kl(sigma1: &DMatrix<f64>, sigma2: &DMatrix<f64>) -> Result<f64, OuError> {
    let mu = whitened_eigenvalues(sigma1, sigma2)?;
    kl_from_whitened(&mu)
}

fn kl_from_whitened(mu: &[f64]) -> Result<f64, OuError> {
    if mu.iter().any(|&m| m.is_nan() || m <= 0.0) {
        return Err(OuError::NotPositiveDefinite("sigma"));
    }
    Ok(0.5
        * mu.iter()
            .map(|&m| {
                let d = m - 1.0;
                d - d.ln_1p()
            })
            .sum::<f64>())
}

/// How far a covariance `sigma` is from a `reference` covariance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CovarianceGap {
    /// ‖Σ − R‖_F / ‖R‖_F.
    pub relative_frobenius: f64,
    /// KL(N(0, Σ) ‖ N(0, R)) in nats.
    pub kl: f64,
    /// Generalised eigenvalues of (Σ, R), ascending: the extreme variance ratios.
    pub whitened_eigenvalues: Vec<f64>,
}

/// All gap metrics of `sigma` against `reference` at once: relative Frobenius distance,
/// KL(N(0, Σ) ‖ N(0, R)) and the whitened eigenvalues (see [`relative_frobenius`],
/// [`gaussian_kl`], [`whitened_eigenvalues`] for formulas and references). For the discrete
/// against the continuous Lyapunov prediction call `covariance_gap(&sigma_d, &sigma_c)`; for an
/// empirical covariance against a model, `covariance_gap(&sigma_hat, &sigma_model)`.
///
/// *Cost.* O(k³).
pub fn covariance_gap(
    sigma: &DMatrix<f64>,
    reference: &DMatrix<f64>,
) -> Result<CovarianceGap, OuError> {
    let mu = whitened_eigenvalues(sigma, reference)?;
    Ok(CovarianceGap {
        relative_frobenius: relative_frobenius(sigma, reference)?,
        kl: kl_from_whitened(&mu)?,
        whitened_eigenvalues: mu,
    })
}
