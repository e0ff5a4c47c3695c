//! Assumption 3: the step size ε is small enough that the discrete chain
//! θ_{t+1} = θ_t − ε ĝ_S(θ_t) is well approximated by the continuous OU process.
//!
//! **What is measured.** With A the curvature (drift) matrix in the analysis subspace
//! ([`crate::model::curvature::estimate`]: hessian.npy, else the trajectory's lag-1 fit, else the
//! gradient regression) and Q = Cov(ĝ) the minibatch-noise covariance
//! ([`crate::model::curvature::noise_covariance`]), the continuous model's stationary covariance solves
//! AΣ_c + Σ_cA = εQ and the exact stationary covariance of the linear discrete chain solves
//! Σ_d = (I − εA)Σ_d(I − εA) + ε²Q (`ou::stationary_cov_continuous`, `ou::stationary_cov_discrete`).
//! When A and Q commute, mode a's variance is inflated by 1/(1 − ελ_a/2) in the discrete chain
//! (Liu, Ziyin & Ueda 2021). Reported: ε·λ for every mode (`ou::mode_diagnostics`), the stability
//! limit ελ_max < 2, the per-mode inflation, and the gap between Σ_d and Σ_c (relative Frobenius,
//! KL, and the variance ratio uᵀΣ_du/uᵀΣ_cu along each eigenvector u of A).
//!
//! **Effect**: the stiffest mode's inflation minus one, 1/(1 − ελ_max/2) − 1, with the interval
//! obtained by mapping the interval of λ_max of the primary estimate (range over checkpoints
//! for Hessians; delta-method interval for the lag-1 fit and the regression) through this
//! monotone function. **Significance**: the lower end of the λ_max interval is above zero.
//!
//! **Verdict** (`decide`): fail when ελ_max ≥ 2 (no stationary law) or the inflation's interval
//! lies above the tolerance, or its estimate does and it is significant; pass when the interval's
//! upper end is within the tolerance; inconclusive otherwise, and when A cannot be estimated.
//! In a random subspace of a larger space, λ_max of P A Pᵀ only bounds the full-space λ_max from
//! below (Cauchy interlacing), so a pass there is reported as inconclusive.
//!
//! Cost: O(k³) plus the curvature estimates (O(T k² + m n k²)).

use nalgebra::DMatrix;
use serde_json::json;

use super::{decide, CheckResult, Context, KeyMetric, Verdict};
use crate::model::curvature::{self, rows};
use crate::ou;

/// This check's evidence (`metrics`); not typed yet.
pub type Evidence = super::Untyped;
/// The thresholds this check applied; not typed yet.
pub type Applied = super::Untyped;

fn untyped_evidence(v: serde_json::Value) -> super::Evidence {
    super::Evidence::SmallStep(Box::new(super::Untyped(v)))
}

fn untyped_applied(v: serde_json::Value) -> super::Applied {
    super::Applied::SmallStep(super::Untyped(v))
}

/// Inflation 1/(1 − x/2) of a mode with step eigenvalue x = ελ (∞ at or beyond the stability
/// limit, 1 for non-positive x, which has no stationary variance and is reported separately).
pub fn inflation(x: f64) -> f64 {
    if x >= 2.0 || x.is_nan() {
        f64::INFINITY
    } else if x <= 0.0 {
        1.0
    } else {
        1.0 / (1.0 - x / 2.0)
    }
}

/// Runs the check.
pub fn check(ctx: &Context) -> CheckResult {
    let th = ctx.thresholds;
    let lr = ctx.lr();
    let tol = th.small_step_max_inflation;
    let thresholds = json!({
        "max_inflation": tol,
        "max_lr_lambda": 2.0 * (1.0 - 1.0 / (1.0 + tol)),
        "stability_limit_lr_lambda": 2.0,
        "ci_level": th.ci_level,
    });
    let curv = ctx.curvature();
    let Some(prim) = curv.primary() else {
        let mut r = CheckResult::inconclusive(
            "The curvature A could not be estimated, so the step size cannot be judged.",
            format!(
                "no estimate of A is available ({}); add hessian.npy at the checkpoints, a \
                 trajectory of consecutive steps, or more checkpoints",
                curv.unavailable_reason()
            ),
        );
        r.thresholds = untyped_applied(thresholds.clone());
        r.metrics = untyped_evidence(json!({ "curvature": curv.summary() }));
        return r;
    };
    if !(lr > 0.0 && lr.is_finite()) {
        let mut r = CheckResult::inconclusive(
            "The step size cannot be judged.",
            format!("the effective learning rate {lr} is not positive and finite"),
        );
        r.thresholds = untyped_applied(thresholds.clone());
        return r;
    }
    let a = &prim.a_sym;
    let modes = ou::mode_diagnostics(a, lr).ok();
    let lmax = prim.lambda_max;
    let [lo_l, hi_l] = prim.lambda_max_interval;
    let el = lr * lmax;
    let (infl, infl_lo, infl_hi) = (
        inflation(el) - 1.0,
        inflation(lr * lo_l) - 1.0,
        inflation(lr * hi_l) - 1.0,
    );

    // Stationary covariances and their gap.
    let q = curvature::noise_covariance(ctx);
    let sc = ou::stationary_cov_continuous(a, &q, lr);
    let sd = ou::stationary_cov_discrete(a, &q, lr);
    let (gap, per_mode, cov_note) = match (&sc, &sd) {
        (Ok(sc), Ok(sd)) => {
            let g = ou::covariance_gap(sd, sc).ok();
            let pm = crate::linalg::sym_eigen_full(a).ok().and_then(|eig| {
                let mut idx: Vec<usize> = (0..eig.eigenvalues.len()).collect();
                idx.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
                let u =
                    DMatrix::from_fn(a.nrows(), idx.len(), |r, c| eig.eigenvectors[(r, idx[c])]);
                ou::variance_ratios_along(sd, sc, &u).ok()
            });
            (g, pm, None)
        }
        (Err(e), _) | (_, Err(e)) => (None, None, Some(e.to_string())),
    };
    let rel_gap = gap.as_ref().map(|g| g.relative_frobenius);

    let significant = lo_l > 0.0;
    let mut verdict = if el >= 2.0 || (lr * lo_l >= 2.0) {
        Verdict::Fail
    } else if !el.is_finite() || lmax <= 0.0 {
        Verdict::Inconclusive
    } else {
        decide(infl, infl_hi, infl_lo, tol, significant)
    };
    let mut reasons = vec![format!(
        "ε·λ_max = {:.4} (ε = {}, λ_max = {:.4} from {}, interval [{:.4}, {:.4}] by {}); \
         stiffest-mode variance inflation {:.2}% (interval [{:.2}%, {:.2}%], tolerance {:.0}%)",
        el,
        lr,
        lmax,
        prim.source,
        lo_l,
        hi_l,
        prim.interval_method,
        100.0 * infl,
        100.0 * infl_lo,
        100.0 * infl_hi,
        100.0 * tol
    )];
    if lmax <= 0.0 {
        reasons.push(
            "the largest curvature estimate is not positive: the run is not near a minimum in \
             this subspace"
                .into(),
        );
    }
    if let Some(n) = &cov_note {
        reasons.push(format!("stationary covariances not computed: {n}"));
    }
    if curv.lambda_max_is_lower_bound && verdict == Verdict::Pass {
        verdict = Verdict::Inconclusive;
        reasons.push(
            "λ_max was measured in a random k-dimensional subspace, which only bounds the \
             full-space λ_max from below; a pass cannot be certified"
                .to_string(),
        );
    }
    for ag in &curv.agreement {
        let lam = |s: &str| curv.get(s).map_or(f64::NAN, |e| e.lambda_max);
        let note = if ag.estimate == "lag1" || ag.reference == "lag1" {
            format!(
                " (the lag-1 matrix is not bias-corrected, only its λ_max is: λ_max {} = {:.3}, \
                 {} = {:.3})",
                ag.estimate,
                lam(&ag.estimate),
                ag.reference,
                lam(&ag.reference)
            )
        } else {
            String::new()
        };
        reasons.push(format!(
            "curvature estimates {} vs {}: relative Frobenius difference {:.3}, largest relative \
             eigenvalue difference {:.3}{note}",
            ag.estimate,
            ag.reference,
            ag.agreement.relative_frobenius,
            ag.agreement.max_relative_eigenvalue_difference
        ));
    }
    let summary = match verdict {
        Verdict::Pass => format!(
            "The step is small: ε·λ_max = {el:.3}, the discrete chain's variance exceeds the \
             continuous model's by {:.1}% at most (upper end of the interval).",
            100.0 * infl_hi
        ),
        Verdict::Fail if el >= 2.0 => {
            format!("The step is beyond the stability limit: ε·λ_max = {el:.3} ≥ 2.")
        }
        Verdict::Fail => format!(
            "The step is too large for the continuous model: ε·λ_max = {el:.3} inflates the \
             stationary variance of the stiffest mode by {:.0}%.",
            100.0 * infl
        ),
        Verdict::Inconclusive => format!(
            "The step size cannot be certified small: ε·λ_max = {el:.3} (inflation {:.1}%).",
            100.0 * infl
        ),
    };
    let level = curv.ci_level;
    let infl_metric = |x: f64| if x.is_finite() { json!(x) } else { json!(null) };
    let modes_json: Vec<_> = match &modes {
        Some(m) => m
            .eigenvalues
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({
                    "lambda": l,
                    "lr_lambda": lr * l,
                    "variance_inflation": m.inflation[i],
                    "discrete_over_continuous_variance": per_mode.as_ref().map(|p| p[i]),
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let mut key_metrics = vec![
        KeyMetric::new(
            "lr_lambda_max",
            "ε·λ_max(A): stiffest mode's step relative to its curvature (stable below 2)",
            el,
        )
        .ci(lr * lo_l, lr * hi_l, level),
        KeyMetric::new(
            "variance_inflation",
            "discrete over continuous stationary variance, minus 1, in the stiffest mode",
            infl,
        )
        .ci(infl_lo, infl_hi, level)
        .tolerance(super::Tolerance::at_most(tol)),
    ];
    if let Some(g) = rel_gap {
        key_metrics.push(KeyMetric::new(
            "covariance_gap",
            "‖Σ_discrete − Σ_continuous‖_F / ‖Σ_continuous‖_F",
            g,
        ));
    }
    CheckResult {
        verdict,
        summary,
        reasons,
        key_metrics,
        metrics: untyped_evidence(json!({
            "a_source": prim.source,
            "effective_learning_rate": lr,
            "lambda_max": lmax,
            "lambda_max_interval": [lo_l, hi_l],
            "lambda_max_is_lower_bound": curv.lambda_max_is_lower_bound,
            "variance_inflation_interval": [infl_metric(infl_lo), infl_metric(infl_hi)],
            "stable": el < 2.0,
            "spectral_radius": modes.as_ref().map(|m| m.spectral_radius),
            "modes": modes_json,
            "noise_covariance": rows(&q),
            "stationary_covariance_continuous": sc.as_ref().ok().map(rows),
            "stationary_covariance_discrete": sd.as_ref().ok().map(rows),
            "relative_gap_frobenius": rel_gap,
            "gap_kl": gap.as_ref().map(|g| g.kl),
            "gap_whitened_eigenvalues": gap.as_ref().map(|g| g.whitened_eigenvalues.clone()),
            "curvature": curv.summary(),
        })),
        thresholds: untyped_applied(thresholds),
    }
}
