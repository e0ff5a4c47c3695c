//! Wording shared by the report formats: human names of the key metrics, one plain-language
//! sentence per check for readers who are not statisticians, numbers printed with enough digits
//! to show how they compare with their tolerance, and the note that explains a tiny p-value
//! beside PASS (an equivalence decision). All text here is program-written (trusted Unicode);
//! the renderers escape it for their format.

use super::{num, Report};
use crate::checks::{Assumption, CheckResult, KeyMetric, ToleranceKind, Verdict};

/// A short human name of a key metric (for tables); the metric's own description otherwise.
pub fn metric_name(m: &KeyMetric) -> String {
    let s = match m.name.as_str() {
        "minibatch_abs_skewness" => "|skewness|, worst direction",
        "minibatch_abs_excess_kurtosis" => "|excess kurtosis|, worst direction",
        "minibatch_berry_esseen_bound" => "Berry–Esseen bound",
        "rel_covariance_deviation" => "relative covariance change",
        "top_eigenvalue_ratio" => "top-eigenvalue ratio",
        "max_principal_angle_deg" => "largest principal angle (°)",
        "covariance_sensitivity_per_sd" => "change per stationary sd",
        "lr_lambda_max" => "ε·λ_max",
        "variance_inflation" => "variance inflation",
        "covariance_gap" => "discrete–continuous gap",
        "hessian_rel_change" => "Hessian change",
        "hessian_top_eigenvalue_change" => "top-eigenvalue change",
        "unexplained_gradient_fraction" => "unexplained gradient fraction",
        "min_curvature" => "smallest curvature",
        "probe_quadratic_error" => "probe quadratic error",
        "loss_model_unexplained_fraction" => "unexplained loss fraction",
        "covariance_ratio_discrete" => "tr Σ̂ / tr Σ, discrete",
        "covariance_ratio_continuous" => "tr Σ̂ / tr Σ, continuous",
        "fdr1_relative_deviation" => "fluctuation–dissipation relation",
        "equipartition_ratio" => "equipartition ratio",
        "msd_growth_exponent" => "MSD growth exponent",
        _ => return m.description.clone(),
    };
    s.to_string()
}

/// `x` with the fewest significant digits (at least 3, at most 10) that keep it distinct from
/// every `bound` it differs from, so "0.1014" is never shown as "0.10" beside a tolerance 0.1.
pub fn num_against(x: f64, bounds: &[f64]) -> String {
    if !x.is_finite() {
        return num(x);
    }
    for digits in 3..=10usize {
        let s = sig(x, digits);
        let shown: f64 = s.parse().unwrap_or(x);
        if bounds.iter().all(|&b| x == b || shown != b) {
            return if digits <= 4 { num(x) } else { s };
        }
    }
    sig(x, 10)
}

/// `x` to `digits` significant digits (plain notation in [1e-3, 1e5), else scientific).
fn sig(x: f64, digits: usize) -> String {
    let a = x.abs();
    if x == 0.0 {
        return "0".into();
    }
    if (1e-3..1e5).contains(&a) {
        let d = (digits as i32 - 1 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.d$}")
    } else {
        format!("{x:.prec$e}", prec = digits - 1)
    }
}

/// The bounds an estimate is compared with under a tolerance (for [`num_against`]).
pub fn tolerance_points(m: &KeyMetric) -> Vec<f64> {
    match m.tolerance {
        None => Vec::new(),
        Some(t) => match t.kind {
            ToleranceKind::AtMost => vec![t.bound],
            ToleranceKind::AbsAtMost => vec![t.bound, -t.bound],
            ToleranceKind::RatioWithin => vec![1.0 + t.bound, 1.0 - t.bound],
        },
    }
}

/// The estimate of a key metric, digits enough to compare with its tolerance.
pub fn estimate_text(m: &KeyMetric) -> String {
    num_against(m.estimate, &tolerance_points(m))
}

/// "[lo, hi]" with the same digit rule, or "" without an interval.
pub fn interval_text(m: &KeyMetric) -> String {
    let b = tolerance_points(m);
    m.ci.map(|ci| format!("[{}, {}]", num_against(ci.lo, &b), num_against(ci.hi, &b)))
        .unwrap_or_default()
}

/// "p < 1e-16" or "p = 0.0312" (never "p = < 1e-16").
pub fn p_phrase(p: f64) -> String {
    let t = super::p_text(Some(p));
    if t.starts_with('<') {
        format!("p {t}")
    } else {
        format!("p = {t}")
    }
}

/// Program text with "= < 1e-16" (a p-value phrase of a check's reason) made "< 1e-16".
pub fn tidy(s: &str) -> String {
    s.replace("= < ", "< ")
}

/// How the estimate stands against its tolerance: "0.1014 > 0.1 (tolerance ≤ 0.1)".
pub fn comparison(m: &KeyMetric) -> Option<String> {
    let t = m.tolerance?;
    let x = m.estimate;
    let v = match t.kind {
        ToleranceKind::AtMost => x,
        ToleranceKind::AbsAtMost => x.abs(),
        ToleranceKind::RatioWithin => (x - 1.0).abs(),
    };
    let rel = if v <= t.bound { "≤" } else { ">" };
    let lhs = match t.kind {
        ToleranceKind::AtMost => estimate_text(m),
        ToleranceKind::AbsAtMost => format!("|{}|", estimate_text(m)),
        ToleranceKind::RatioWithin => format!("|{} − 1|", estimate_text(m)),
    };
    Some(format!("{lhs} {rel} {}", t.bound))
}

/// One plain-language sentence: what the verdict means for the user's training.
pub fn plain_sentence(a: Assumption, v: Verdict) -> &'static str {
    use Assumption::*;
    use Verdict::*;
    match (a, v) {
        (GaussianNoise, Pass) => "The random part of each SGD step is close enough to a bell curve that the OU model's Gaussian noise is a fair description.",
        (GaussianNoise, Fail) => "The random part of each SGD step has heavier tails or more asymmetry than a bell curve allows, so the OU model misdescribes rare large steps.",
        (GaussianNoise, Inconclusive) => "There were too few minibatch samples to tell whether the step noise is bell-shaped.",
        (ConstantCovariance, Pass) => "The size and shape of the gradient noise stay the same across the analysed checkpoints, as the OU model assumes.",
        (ConstantCovariance, Fail) => "The gradient noise changes between checkpoints, so one fixed noise matrix (as in the OU model) does not describe this run.",
        (ConstantCovariance, Inconclusive) => "There were too few checkpoints or examples to tell whether the gradient noise stays the same.",
        (SmallStep, Pass) => "The learning rate is small enough that the continuous-time OU model describes the discrete SGD steps well.",
        (SmallStep, Fail) => "The learning rate is large relative to the curvature, so the discrete SGD steps behave differently from the continuous-time OU model.",
        (SmallStep, Inconclusive) => "The curvature could not be estimated well enough to judge whether the learning rate is small.",
        (QuadraticLoss, Pass) => "Around where training settled the loss is shaped like a bowl (quadratic), which is what makes the dynamics an OU process.",
        (QuadraticLoss, Fail) => "The loss is not bowl-shaped around where training settled, so the linear restoring force of the OU model is missing.",
        (QuadraticLoss, Inconclusive) => "The run holds too little loss, gradient or Hessian data to tell whether the loss is bowl-shaped there.",
    }
}

/// The plain sentence of the informative OU-prediction section.
pub fn ou_prediction_sentence(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "The spread of the iterates matches what the OU model predicts from the curvature and the noise.",
        Verdict::Fail => "The spread of the iterates differs from what the OU model predicts from the curvature and the noise.",
        Verdict::Inconclusive => "The trajectory is too short (too few independent samples) to confirm or refute the OU model's predicted spread.",
    }
}

/// Explains a small p-value beside a PASS: the verdict is an equivalence decision on the size
/// of the effect, not on the test of exact normality / equality.
pub fn p_value_note(c: &CheckResult, alpha: f64) -> Option<String> {
    let p = c
        .key_metrics
        .iter()
        .filter_map(|m| m.p_value)
        .min_by(f64::total_cmp)?;
    (c.verdict == Verdict::Pass && p < alpha).then(|| {
        format!(
            "Why PASS despite {}: the p-value tests for any departure at all, and with many \
             samples even a harmless departure is detected. The verdict is an equivalence \
             decision: it passes because the estimated size of the departure (with its interval) \
             is within the tolerance.",
            p_phrase(p)
        )
    })
}

/// What the relative Frobenius difference means, for sections that report one.
pub const FROBENIUS_NOTE: &str = "A relative Frobenius difference ‖X − Y‖_F/‖Y‖_F compares two \
    matrices entry by entry: 0 means identical, 0.1 means the entries differ by about 10 % of \
    the matrix's size, and values above 1 mean the difference is larger than the matrix itself.";

/// The label of a run for LaTeX (`tab:sgd-ou:MODEL-DIGEST8`), from the model name (else the run
/// directory's last component) and the first 8 hex digits of the inputs digest.
pub fn run_label(r: &Report) -> String {
    let model = super::evidence_view::metadata_text(r, "model").filter(|m| !m.trim().is_empty());
    let base = model.unwrap_or_else(|| {
        std::path::Path::new(&r.run.dir)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into())
    });
    let short: String = super::escape::latex_label(&base).chars().take(32).collect();
    let digest: String = r.run.inputs_digest.chars().take(8).collect();
    format!(
        "{}-{}",
        short.trim_end_matches('-'),
        super::escape::latex_label(&digest)
    )
}

/// One sentence explaining an overall verdict that is not the plain combination of the four
/// checks: a pass held back by a contradicted OU prediction, or an inconclusive verdict that
/// leans to fail (a check fails on its own but not after Holm over the four, or leans to fail).
/// `None` when the four verdicts explain it.
pub fn overall_note(r: &Report) -> Option<String> {
    let t = r.verdict_tests.as_ref()?;
    if t.ou_prediction_contradicted && r.verdict == Verdict::Inconclusive {
        let all_pass = r
            .assumptions
            .iter()
            .into_iter()
            .all(|(_, c)| c.verdict == Verdict::Pass);
        if all_pass {
            return Some(
                "held back from PASS: all four assumptions pass, but the OU model's prediction \
                 of the stationary covariance, made in all coordinates, is contradicted by the \
                 trajectory (see the OU prediction)"
                    .into(),
            );
        }
    }
    if t.leaning_fail {
        return Some(
            "leaning fail: a check's estimate lies beyond its tolerance, but its fail test does \
             not reject after Holm over the four checks"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_show_the_comparison_with_the_tolerance() {
        assert_eq!(num_against(0.1014, &[0.1]), "0.1014");
        assert_eq!(num_against(0.100004, &[0.1]), "0.100004");
        assert_eq!(num_against(0.1, &[0.1]), "0.1000");
        assert_eq!(num_against(0.0208, &[0.2]), "0.02080");
        assert_eq!(num_against(1.10000002, &[1.1, 0.9]), "1.10000002");
    }

    #[test]
    fn p_phrases_never_say_equals_less() {
        assert_eq!(p_phrase(1e-20), "p < 1e-16");
        assert_eq!(p_phrase(0.25), "p = 0.250");
        assert_eq!(tidy("K² p = < 1e-16"), "K² p < 1e-16");
    }
}
