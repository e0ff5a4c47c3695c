//! Per-mode small-step-size diagnostics (assumption 3).

use nalgebra::{Complex, DMatrix};
use serde::Serialize;

use super::OuError;
use crate::linalg::{
    asymmetry, check_lr, check_square, is_exactly_symmetric, real_schur, sym_eigenvalues_desc,
    symmetric_part,
};

/// Which matrix the mode eigenvalues were taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EigenvalueSource {
    /// A was exactly symmetric: its own eigenvalues.
    Symmetric,
    /// A was not symmetric (an estimate): eigenvalues of its symmetric part (A + Aᵀ)/2.
    SymmetricPart,
}

/// Small-step quantities per mode of the drift matrix A at learning rate ε.
///
/// Mode k has eigenvalue λ_k (sorted in descending order, so index 0 is the stiffest mode),
/// step eigenvalue ε·λ_k and variance inflation 1/(1 − ελ_k/2): the factor by which the exact
/// discrete stationary variance of that mode exceeds the continuous (Mandt) prediction when A
/// and Q commute (Σ_k^disc/Σ_k^cont = [εq_k/(λ_k(2 − ελ_k))]/[εq_k/(2λ_k)]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeDiagnostics {
    /// The learning rate ε.
    pub lr: f64,
    pub eigenvalue_source: EigenvalueSource,
    /// ‖A − Aᵀ‖_F / ‖A‖_F (0 for a symmetric A).
    pub asymmetry: f64,
    /// λ_k, descending.
    pub eigenvalues: Vec<f64>,
    /// ε·λ_k, descending.
    pub step_eigenvalues: Vec<f64>,
    /// 1/(1 − ελ_k/2) when 0 < ελ_k < 2 (the mode has a stationary variance); `None` otherwise.
    pub inflation: Vec<Option<f64>>,
    /// ε·λ_max (the stiffest mode).
    pub lr_lambda_max: f64,
    /// Inflation of the stiffest mode, the largest of all (`None` when ελ_max ∉ (0, 2)).
    pub max_inflation: Option<f64>,
    /// ε·λ_max < 2: the linear-stability limit.
    pub stable: bool,
    /// λ_min > 0: every mode is confining.
    pub positive_definite: bool,
    /// ρ(I − εA) computed from the (complex) eigenvalues of A itself: the linear SGD chain has a
    /// stationary law iff this is < 1. For a symmetric A it equals max_k |1 − ελ_k|.
    pub spectral_radius: f64,
}

impl ModeDiagnostics {
    /// Whether the linear SGD chain θ ← (I − εA)θ − εξ has a stationary law
    /// (spectral radius of I − εA below 1).
    pub fn stationary(&self) -> bool {
        self.spectral_radius < 1.0
    }
}

/// Per-mode small-step diagnostics of the drift matrix `a` at learning rate `lr` = ε.
///
/// *Formulas.* λ_k = eigenvalues of A (symmetric A) or of its symmetric part (A + Aᵀ)/2
/// (non-symmetric A, e.g. an estimate from [`super::from_lag1`]; the true Hessian is symmetric,
/// so its asymmetry is estimation noise, and the symmetric part gives real, ordered curvatures
/// with orthonormal modes; λ_min of the symmetric part > 0 also implies every eigenvalue of A
/// has a positive real part). Step eigenvalues ελ_k, inflation 1/(1 − ελ_k/2), stability
/// ελ_max < 2 (Liu, Ziyin & Ueda, ICML 2021; at ελ_max = 0.1 the continuous model underestimates
/// the stiffest mode's variance by 5.3 %). Independently of that choice, `spectral_radius` = ρ(I − εA) = max |1 − εμ|
/// over the complex eigenvalues μ of A, the exact stability criterion of the linear chain.
///
/// *Reference.* Eigenvalues as `numpy.linalg.eigvalsh` on the symmetric part; checked on fixed
/// matrices and against closed forms in `tests/reference/ou_lyapunov.rs`.
///
/// *Cost.* O(k³) (one symmetric eigendecomposition, plus a real Schur decomposition when A is
/// not symmetric).
pub fn mode_diagnostics(a: &DMatrix<f64>, lr: f64) -> Result<ModeDiagnostics, OuError> {
    check_square("A", a)?;
    check_lr(lr)?;
    let symmetric = is_exactly_symmetric(a);
    let (source, eigenvalues, spectral_radius) = if symmetric {
        let ev = sym_eigenvalues_desc(a)?;
        let rho = ev.iter().fold(0.0f64, |m, &l| m.max((1.0 - lr * l).abs()));
        (EigenvalueSource::Symmetric, ev, rho)
    } else {
        let ev = sym_eigenvalues_desc(&symmetric_part(a))?;
        let rho = real_schur(a)?.eigenvalues().iter().fold(0.0f64, |m, z| {
            m.max((Complex::new(1.0, 0.0) - z * lr).norm())
        });
        (EigenvalueSource::SymmetricPart, ev, rho)
    };
    let step: Vec<f64> = eigenvalues.iter().map(|l| lr * l).collect();
    let inflation: Vec<Option<f64>> = step
        .iter()
        .map(|&s| (s > 0.0 && s < 2.0).then(|| 1.0 / (1.0 - 0.5 * s)))
        .collect();
    let lr_lambda_max = step[0];
    Ok(ModeDiagnostics {
        lr,
        eigenvalue_source: source,
        asymmetry: asymmetry(a),
        lr_lambda_max,
        max_inflation: inflation[0],
        stable: lr_lambda_max < 2.0,
        positive_definite: *eigenvalues.last().expect("k ≥ 1") > 0.0,
        eigenvalues,
        step_eigenvalues: step,
        inflation,
        spectral_radius,
    })
}
