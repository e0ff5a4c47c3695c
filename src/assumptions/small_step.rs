//! Assumption 3: the step size ε is small enough that the discrete chain
//! θ_{t+1} = θ_t − ε ĝ_S(θ_t) is well approximated by the continuous OU process.
//!
//! **What is measured.** With A the curvature (drift) matrix in the analysis subspace and
//! Q = Cov(ĝ) the minibatch-noise covariance (f · C̄, f the finite-population factor), the
//! continuous model's stationary covariance solves AΣ_c + Σ_cA = εQ and the exact stationary
//! covariance of the linear discrete chain solves Σ_d = (I − εA)Σ_d(I − εA) + ε²Q
//! (sgd-ou-science notes §1 items 1–2). In the eigenbasis of symmetric A = UΛUᵀ, with
//! Q' = UᵀQU, both have closed forms:
//!
//! Σ'_c[a,b] = ε Q'[a,b] / (λ_a + λ_b),   Σ'_d[a,b] = ε Q'[a,b] / (λ_a + λ_b − ε λ_a λ_b),
//!
//! so mode a's variance is inflated by 1/(1 − ελ_a/2) in the discrete chain. The headline effect
//! is that inflation minus one in the stiffest mode; the stability limit is ελ_max < 2.
//!
//! **A** comes from hessian.npy when present (the mean of the projected Hessians; with several
//! checkpoints their spread of λ_max is the interval) — otherwise the check is inconclusive in
//! this version. When the analysis subspace is random but d is small enough to hold the Hessian
//! (`run::FULL_HESSIAN_MAX_D`), λ_max is that of the full Hessian, by Lanczos.
//!
//! **Verdict**: fail when ελ_max ≥ 2 (no stationary law) or the inflation interval lies above the
//! tolerance (or its estimate does, when significant); pass when the interval lies within it.
//! When only a projected Hessian is available, λ_max in a random k-dimensional subspace is only a
//! lower bound of the full-space λ_max (Cauchy interlacing), so a pass there is reported as
//! inconclusive.
//!
//! Cost: O(k³).

use nalgebra::DMatrix;
use serde_json::json;

use super::{decide, CheckResult, Context, KeyMetric, Verdict};
use crate::run::{GradientKind, SubspaceKind};
use crate::stats::descriptive::covariance_matrix;

/// Stationary covariances of the continuous model and of the exact discrete chain, for
/// symmetric A (eigen-decomposed) and noise covariance q. Entries for which the denominator is
/// not positive (unstable or non-positive modes) are NaN.
pub fn stationary_covariances(
    a: &DMatrix<f64>,
    q: &DMatrix<f64>,
    lr: f64,
) -> (DMatrix<f64>, DMatrix<f64>) {
    let eig = a.clone().symmetric_eigen();
    let u = &eig.eigenvectors;
    let l = &eig.eigenvalues;
    let qp = u.transpose() * q * u;
    let k = a.nrows();
    let sc = DMatrix::from_fn(k, k, |i, j| {
        let den = l[i] + l[j];
        if den > 0.0 {
            lr * qp[(i, j)] / den
        } else {
            f64::NAN
        }
    });
    let sd = DMatrix::from_fn(k, k, |i, j| {
        let den = l[i] + l[j] - lr * l[i] * l[j];
        if den > 0.0 && l[i] > 0.0 && l[j] > 0.0 {
            lr * qp[(i, j)] / den
        } else {
            f64::NAN
        }
    });
    (u * sc * u.transpose(), u * sd * u.transpose())
}

fn inflation(el: f64) -> f64 {
    if el < 2.0 {
        1.0 / (1.0 - el / 2.0)
    } else {
        f64::INFINITY
    }
}

/// Runs the check.
pub fn check(ctx: &Context) -> CheckResult {
    let th = ctx.thresholds;
    let run = ctx.run;
    let lr = ctx.lr();
    let thresholds = json!({
        "max_inflation": th.small_step_max_inflation,
        "max_lr_lambda": 2.0 * (1.0 - 1.0 / (1.0 + th.small_step_max_inflation)),
        "stability_limit_lr_lambda": 2.0,
    });
    let hessians: Vec<&DMatrix<f64>> = run
        .checkpoints
        .iter()
        .filter_map(|c| c.hessian.as_ref())
        .collect();
    if hessians.is_empty() {
        let mut r = CheckResult::inconclusive(
            "The curvature A could not be estimated, so the step size cannot be judged.",
            "no checkpoint has hessian.npy; add the Hessian of the mean loss at the checkpoints",
        );
        r.thresholds = thresholds;
        return r;
    }
    let k = run.k();
    let mut a = DMatrix::zeros(k, k);
    for h in &hessians {
        a += (*h + h.transpose()) * 0.5;
    }
    a /= hessians.len() as f64;
    // λ_max of the full Hessian when the reader could compute it (random subspace, d small
    // enough to hold H); otherwise of the projected Hessian (a lower bound when d > k).
    let full: Vec<f64> = run
        .checkpoints
        .iter()
        .filter_map(|c| c.hessian_extremes_full.map(|e| e.0))
        .collect();
    let random = run.subspace.kind() == SubspaceKind::RandomOrthonormal;
    let full_space = !random || full.len() == hessians.len();
    let lmax_each: Vec<f64> = if random && full_space {
        full
    } else {
        hessians
            .iter()
            .map(|h| {
                ((*h + h.transpose()) * 0.5)
                    .symmetric_eigen()
                    .eigenvalues
                    .max()
            })
            .collect()
    };
    let eig = a.clone().symmetric_eigen();
    let mut lambdas: Vec<f64> = eig.eigenvalues.iter().cloned().collect();
    lambdas.sort_by(|x, y| y.total_cmp(x));
    let lmax = if random && full_space {
        lmax_each.iter().sum::<f64>() / lmax_each.len() as f64
    } else {
        lambdas[0]
    };
    let lo_l = lmax_each.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi_l = lmax_each.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let el = lr * lmax;
    let (infl, infl_lo, infl_hi) = (
        inflation(el) - 1.0,
        inflation(lr * lo_l) - 1.0,
        inflation(lr * hi_l) - 1.0,
    );

    // Noise covariance of the minibatch gradient.
    let covs: Vec<DMatrix<f64>> = run
        .checkpoints
        .iter()
        .map(|c| covariance_matrix(&c.grads))
        .collect();
    let mut c_bar = DMatrix::zeros(k, k);
    for c in &covs {
        c_bar += c;
    }
    c_bar /= covs.len() as f64;
    let q = match run.manifest.gradients {
        GradientKind::PerExample => c_bar * run.manifest.minibatch_cov_factor(),
        GradientKind::Minibatch => c_bar,
    };
    let (sc, sd) = stationary_covariances(&a, &q, lr);
    let gap = (&sd - &sc).norm() / sc.norm();

    let tol = th.small_step_max_inflation;
    let mut verdict = if hi_l * lr >= 2.0 || lo_l * lr >= 2.0 {
        Verdict::Fail
    } else {
        decide(infl, infl_hi, infl_lo, tol, true)
    };
    let mut reasons = vec![format!(
        "ε·λ_max = {:.4} (ε = {}, λ_max = {:.4} from hessian.npy at {} checkpoint(s), range \
         [{:.4}, {:.4}]); stiffest-mode variance inflation {:.2}% (tolerance {:.0}%)",
        el,
        lr,
        lmax,
        hessians.len(),
        lo_l,
        hi_l,
        100.0 * infl,
        100.0 * tol
    )];
    let mut warnings = Vec::new();
    if !full_space && verdict == Verdict::Pass {
        verdict = Verdict::Inconclusive;
        warnings.push(
            "λ_max was measured in a random k-dimensional subspace, which only bounds the \
             full-space λ_max from below; a pass cannot be certified"
                .to_string(),
        );
        reasons.push(warnings[0].clone());
    }
    let summary = match verdict {
        Verdict::Pass => format!(
            "The step is small: ε·λ_max = {el:.3}, the discrete chain's variance exceeds the \
             continuous model's by {:.1}% at most.",
            100.0 * infl
        ),
        Verdict::Fail if el >= 2.0 => {
            format!("The step is beyond the stability limit: ε·λ_max = {el:.3} ≥ 2.")
        }
        Verdict::Fail => format!(
            "The step is too large for the continuous model: ε·λ_max = {el:.3} inflates the \
             stationary variance by {:.0}%.",
            100.0 * infl
        ),
        Verdict::Inconclusive => format!(
            "The step size cannot be certified small: ε·λ_max = {el:.3} (inflation {:.1}%).",
            100.0 * infl
        ),
    };
    let modes: Vec<_> = lambdas
        .iter()
        .map(|l| json!({"lambda": l, "lr_lambda": lr * l, "variance_inflation": inflation(lr * l)}))
        .collect();
    CheckResult {
        verdict,
        summary,
        reasons,
        key_metrics: vec![
            KeyMetric::new(
                "lr_lambda_max",
                "ε·λ_max(A): stiffest mode's step relative to its curvature (stable below 2)",
                el,
            )
            .ci(lr * lo_l, lr * hi_l, 1.0),
            KeyMetric::new(
                "variance_inflation",
                "discrete over continuous stationary variance, minus 1, in the stiffest mode",
                infl,
            )
            .ci(infl_lo, infl_hi, 1.0)
            .tolerance(format!("≤ {tol}")),
            KeyMetric::new(
                "covariance_gap",
                "‖Σ_discrete − Σ_continuous‖_F / ‖Σ_continuous‖_F",
                gap,
            ),
        ],
        metrics: json!({
            "a_source": "hessian",
            "effective_learning_rate": lr,
            "modes": modes,
            "lambda_max_per_checkpoint": lmax_each,
            "stationary_covariance_continuous": sc.iter().collect::<Vec<_>>(),
            "stationary_covariance_discrete": sd.iter().collect::<Vec<_>>(),
            "relative_gap_frobenius": gap,
        }),
        thresholds,
    }
}
