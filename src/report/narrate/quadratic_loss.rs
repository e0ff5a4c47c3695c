//! The words of the `quadratic_loss` check (summary and reasons) from its typed evidence and decision.

use crate::checks::quadratic_loss::{Checked, Reason};
use crate::checks::{self, Applied, CheckResult, Verdict};

/// The check's result with its sentences.
pub fn narrate(c: Checked) -> CheckResult {
    let mut reasons: Vec<String> = c.decision.reasons.iter().map(reason).collect();
    let leaning = c.tests.as_ref().is_some_and(|t| t.leaning_fail);
    if let Some(t) = &c.tests {
        reasons.insert(0, tests_reason(c.decision.verdict, t));
    }
    CheckResult {
        verdict: c.decision.verdict,
        summary: if leaning {
            "Leaning fail: an estimate lies beyond its tolerance, but not significantly so with \
             these data; the loss may not be quadratic where the iterates live."
                .to_string()
        } else {
            summary(c.decision.verdict).to_string()
        },
        reasons,
        key_metrics: c.key_metrics,
        metrics: checks::Evidence::QuadraticLoss(Box::new(c.evidence)),
        thresholds: Applied::QuadraticLoss(c.applied),
        tests: c.tests,
        basis: None,
    }
}

/// The sentence of the tolerance tests behind the verdict (Holm over the pieces for fail,
/// intersection–union for pass).
fn tests_reason(verdict: Verdict, t: &checks::ToleranceTests) -> String {
    let names = |f: &dyn Fn(&checks::PieceTest) -> bool| {
        t.pieces
            .iter()
            .filter(|p| f(p))
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match verdict {
        Verdict::Fail => format!(
            "the one-sided test against the tolerance rejects after Holm over the {} piece(s) \
             (p = {}); beyond the tolerance: {}",
            t.pieces.len(),
            crate::fmt::p_text(Some(t.p_fail)),
            names(&|p| p.beyond)
        ),
        Verdict::Pass => format!(
            "every piece is within its tolerance by its equivalence test (largest p = {})",
            crate::fmt::p_text(Some(t.p_pass))
        ),
        Verdict::Inconclusive if t.leaning_fail => format!(
            "leaning fail: {} beyond the tolerance, but the fail test does not reject after \
             Holm over the {} piece(s) (p = {})",
            names(&|p| p.beyond),
            t.pieces.len(),
            crate::fmt::p_text(Some(t.p_fail))
        ),
        Verdict::Inconclusive => format!(
            "neither the fail test (Holm over {} piece(s), p = {}) nor every piece's equivalence \
             test (largest p = {}) rejects; not testable: {}",
            t.pieces.len(),
            crate::fmt::p_text(Some(t.p_fail)),
            crate::fmt::p_text(Some(t.p_pass)),
            names(&|p| p.p_fail.is_none())
        ),
    }
}

fn summary(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => {
            "A quadratic model explains the loss, gradients and Hessians available \
                          over the region the iterates occupy, within tolerance."
        }
        Verdict::Fail => "The loss is not quadratic over the region the checkpoints occupy.",
        Verdict::Inconclusive => {
            "The data cannot decide whether the loss is quadratic where the \
                                  iterates live."
        }
    }
}

/// `{:.1}%` of a fraction, `∞` when it is infinite.
fn percent_or_infinity(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", 100.0 * x)
    } else {
        "∞".into()
    }
}

fn reason(r: &Reason) -> String {
    match r {
        Reason::Hessian {
            checkpoints,
            change,
            within,
            tolerance,
        } => format!(
            "Hessian change across {checkpoints} checkpoints: {change:.3} ({} the tolerance \
             {tolerance})",
            if *within { "within" } else { "above" }
        ),
        Reason::GradientNoVariation => "gradient linearity: the mean gradients do not vary \
                                        across checkpoints beyond their sampling noise, so a \
                                        linear model cannot be tested; export gradients of more \
                                        examples per checkpoint"
            .into(),
        Reason::GradientLinearity { .. } => gradient_linearity(r),
        Reason::InconsistentA {
            unexplained,
            a_label,
        } => format!(
            "loss model: with A fixed to the {a_label} estimate, {} of the loss variation is \
             unexplained (RSS > TSS): the estimate of A is inconsistent with the data; this is \
             not evidence against a quadratic loss",
            percent_or_infinity(*unexplained)
        ),
        Reason::InformativeA { source, what } => format!(
            "{what}: computed from the {source} estimate of A, which may not decide a verdict \
             here (a lag-1 fit with too few steps per dimension or in a subspace that is not \
             invariant under A); shown for information only"
        ),
        Reason::Reset { .. } => reset(r),
        Reason::NoEigenvalues { error } => {
            format!("the curvature matrix has no eigenvalues to inspect: {error}")
        }
        Reason::NonPositiveCurvature { min_eigenvalue } => format!(
            "the curvature matrix has a non-positive eigenvalue ({min_eigenvalue:.3e}): a flat \
             or concave direction has no OU stationary distribution"
        ),
        Reason::ProbesOutsideRegion { region_sds } => format!(
            "loss probes: no probe direction has 5 offsets inside the region the iterates \
             occupy (±{region_sds} sd); add finer offsets spanning the stationary spread"
        ),
        Reason::Probes { .. } => probes(r),
        Reason::LossModel {
            unexplained,
            losses,
            a_label,
            level,
            interval: [lo, hi],
            tolerance,
        } => format!(
            "loss model: {:.1}% of the variation of the {losses} losses is unexplained by \
             L̂ + bᵀθ + ½θᵀAθ ({a_label} A; {:.0}% CI {:.1}%–{:.1}%, tolerance {:.0}%)",
            100.0 * unexplained,
            100.0 * level,
            100.0 * lo,
            100.0 * hi,
            100.0 * tolerance
        ),
        Reason::NoEvidence => "the run provides no evidence on the shape of the loss: add \
                               hessian.npy to the checkpoints or export at least k + 2 \
                               checkpoints"
            .into(),
    }
}

/// The gradient-linearity reason, labelled a subspace approximation when it does not decide.
fn gradient_linearity(r: &Reason) -> String {
    let Reason::GradientLinearity {
        unexplained,
        hessian_a,
        decides,
        level,
        interval: [lo, hi],
        tolerance,
    } = r
    else {
        return String::new();
    };
    format!(
        "gradient linearity{}: {:.1}% of the mean-gradient variation across checkpoints is \
         unexplained by a linear model ({} A; {:.0}% CI {:.1}%–{:.1}%, tolerance {:.0}%){}",
        if *decides {
            ""
        } else {
            " (subspace approximation, informative)"
        },
        100.0 * unexplained,
        if *hessian_a { "Hessian" } else { "fitted" },
        100.0 * level,
        100.0 * lo,
        100.0 * hi,
        100.0 * tolerance,
        if *decides {
            ""
        } else {
            "; the random subspace is not invariant under A, so the projected gradient also \
             depends on the unprojected coordinates (the term P A (I − PᵀP) θ) and this \
             fraction does not decide; RESET decides instead"
        }
    )
}

/// The RESET reason (random subspace; fail-only).
fn reset(r: &Reason) -> String {
    let Reason::Reset {
        share,
        losses,
        rows,
        level,
        interval: [lo, hi],
        tolerance,
    } = r
    else {
        return String::new();
    };
    format!(
        "RESET in the random subspace: the terms ŷ², ŷ³ explain {:.1}% of the residual \
         variance of the {rows} {losses} losses around a quadratic in the projected \
         position ({:.0}% block-bootstrap CI {:.1}%–{:.1}%, tolerance {:.0}%); valid in any \
         subspace because E[L | Pθ] is quadratic for a quadratic loss under a Gaussian \
         stationary law; it can fail the check but not pass it (a non-quadratic part is \
         diluted by the unseen coordinates; analyse in a Hessian eigenbasis to decide)",
        100.0 * share,
        100.0 * level,
        100.0 * lo,
        100.0 * hi,
        100.0 * tolerance
    )
}

/// The loss probes' reason: the error with its interval, then the directions whose offsets do
/// not span the region and those with a non-positive curvature.
fn probes(r: &Reason) -> String {
    let Reason::Probes {
        error,
        interval: [lo, hi],
        level,
        region_sds,
        directions,
        checkpoints,
        tolerance,
        undecided,
        concave,
    } = r
    else {
        return String::new();
    };
    let mut reason = format!(
        "loss probes: the best quadratic misses the loss by up to {:.1}% of its range over \
         ±{region_sds} stationary sd ({directions} directions at {checkpoints} checkpoints; \
         {:.0}% CI {:.1}%–{}, tolerance {:.0}%)",
        100.0 * error,
        100.0 * level,
        100.0 * lo,
        percent_or_infinity(*hi),
        100.0 * tolerance
    );
    if !undecided.is_empty() {
        reason.push_str(&format!(
            "; the offsets do not span the region (at the upper end of the spread's interval) \
             of {}: extend them, or export a longer trajectory to narrow the spread's interval",
            undecided.join(", ")
        ));
    }
    if !concave.is_empty() {
        reason.push_str(&format!(
            "; non-positive curvature along {}: no OU stationary law there",
            concave.join(", ")
        ));
    }
    reason
}
