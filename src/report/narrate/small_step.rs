//! The words of the `small_step` check (summary and reasons) from its typed evidence and decision.

use crate::checks::small_step::{Checked, Reason, StepEffect};
use crate::checks::{self, Applied, CheckResult, NoEvidence, Verdict};

/// The check's result with its sentences.
pub fn narrate(c: Checked) -> CheckResult {
    let summary = match (&c.effect, c.decision.reasons.first()) {
        (Some(e), _) => summary(c.decision.verdict, e),
        (None, None) => String::new(),
        (None, Some(Reason::NoCurvature { .. })) => {
            "The curvature A could not be estimated, so the step size cannot be judged.".into()
        }
        (None, Some(_)) => "The step size cannot be judged.".into(),
    };
    let mut reasons: Vec<String> = c.decision.reasons.iter().map(reason).collect();
    if let Some(b) = c.basis {
        reasons.push(super::basis_sentence(b));
    }
    CheckResult {
        verdict: c.decision.verdict,
        summary,
        reasons,
        key_metrics: c.key_metrics,
        metrics: match c.evidence {
            Some(e) => checks::Evidence::SmallStep(Box::new(e)),
            None => checks::Evidence::None(NoEvidence {}),
        },
        thresholds: Applied::SmallStep(c.applied),
        tests: c.tests,
        basis: c.basis,
    }
}

fn summary(verdict: Verdict, e: &StepEffect) -> String {
    let el = e.lr_lambda;
    match verdict {
        Verdict::Pass => format!(
            "The step is small: ε·λ_max = {el:.3}, the discrete chain's variance exceeds the \
             continuous model's by {:.1}% at most (upper end of the interval).",
            100.0 * e.inflation_hi
        ),
        Verdict::Fail if el >= 2.0 => {
            format!("The step is beyond the stability limit: ε·λ_max = {el:.3} ≥ 2.")
        }
        Verdict::Fail => format!(
            "The step is too large for the continuous model: ε·λ_max = {el:.3} inflates the \
             stationary variance of the stiffest mode by {:.0}%.",
            100.0 * e.inflation
        ),
        Verdict::Inconclusive => format!(
            "The step size cannot be certified small: ε·λ_max = {el:.3} (inflation {:.1}%).",
            100.0 * e.inflation
        ),
    }
}

fn reason(r: &Reason) -> String {
    match r {
        Reason::NoCurvature { why } => format!(
            "no estimate of A is available ({why}); add hessian.npy at the checkpoints, a \
             trajectory of consecutive steps, or more checkpoints"
        ),
        Reason::BadLearningRate { lr } => {
            format!("the effective learning rate {lr} is not positive and finite")
        }
        Reason::Measured {
            effect: e,
            lr,
            source,
            lambda_max_interval: [lo, hi],
            interval_method,
        } => format!(
            "ε·λ_max = {:.4} (ε = {}, λ_max = {:.4} from {}, interval [{:.4}, {:.4}] by {}); \
             stiffest-mode variance inflation {:.2}% (interval [{:.2}%, {:.2}%], tolerance {:.0}%)",
            e.lr_lambda,
            lr,
            e.lambda_max,
            source,
            lo,
            hi,
            interval_method,
            100.0 * e.inflation,
            100.0 * e.inflation_lo,
            100.0 * e.inflation_hi,
            100.0 * e.tolerance
        ),
        Reason::NotPositive => "the largest curvature estimate is not positive: the run is not \
                                near a minimum in this subspace"
            .into(),
        Reason::NoStationaryCovariances { error } => {
            format!("stationary covariances not computed: {error}")
        }
        Reason::Tested {
            se,
            p_fail,
            p_pass,
            tolerance,
            leaning_fail,
        } => format!(
            "one-sided tests of ε·λ_max against its tolerance {tolerance:.4} (SE {se:.4}, from \
             the curvature's λ_max SE): fail test p = {}, equivalence test p = {}{}",
            crate::fmt::p_text(Some(*p_fail)),
            crate::fmt::p_text(Some(*p_pass)),
            if *leaning_fail {
                "; leaning fail: the estimate is beyond the tolerance but not significantly so"
            } else {
                ""
            }
        ),
        Reason::Untestable => "λ_max has no standard error (its interval is a range over the \
                               checkpoints' Hessians, not a confidence interval): the tolerance \
                               is not tested, and the verdict follows the range"
            .into(),
        Reason::LowerBound => "λ_max was measured in a random k-dimensional subspace, which only \
                               bounds the full-space λ_max from below; a pass cannot be certified"
            .into(),
        Reason::InformativeOnly { source } => format!(
            "the {source} estimate of A may inform but not decide (docs/methods.md, \"Quadratic \
             loss and A in a subspace\"): ε·λ_max beyond the tolerance does not fail the check"
        ),
        Reason::Agreement {
            estimate,
            reference,
            relative_frobenius,
            max_relative_eigenvalue_difference,
            lag1_lambdas,
        } => {
            let note = match lag1_lambdas {
                Some((a, b)) => format!(
                    " (the lag-1 matrix is not bias-corrected, only its λ_max is: λ_max \
                     {estimate} = {a:.3}, {reference} = {b:.3})"
                ),
                None => String::new(),
            };
            format!(
                "curvature estimates {estimate} vs {reference}: relative Frobenius difference \
                 {relative_frobenius:.3}, largest relative eigenvalue difference \
                 {max_relative_eigenvalue_difference:.3}{note}"
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::small_step::{self, decide, Evidence};
    use crate::checks::{Context, Evidence as AnyEvidence};
    use crate::run::{LoadOptions, Run};
    use crate::simulate::{simulate, Scenario, SimConfig};
    use crate::thresholds::Thresholds;

    fn result(s: Scenario, seed: u64, hessian: bool) -> CheckResult {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let mut cfg = SimConfig::default_for(s);
        cfg.write_hessian = hessian;
        simulate(s, &cfg, seed, &out).unwrap();
        let run = Run::load(&out, &LoadOptions { dims: 4, seed: 1 }).unwrap();
        let th = Thresholds {
            bootstrap_resamples: 50,
            ..Thresholds::default()
        };
        narrate(small_step::check(&Context::new(&run, 1, &th)))
    }

    /// The result serialises, deserialises back into a `CheckResult` whose evidence is this
    /// check's, and re-serialises to the same text; the interval method is recorded.
    #[test]
    fn result_round_trips_through_json_as_this_checks_evidence() {
        for (s, hessian) in [
            (Scenario::QuadraticGaussian, true),
            (Scenario::QuadraticGaussian, false),
            (Scenario::LargeStep, true),
        ] {
            let r = result(s, 3, hessian);
            let text = serde_json::to_string(&r).unwrap();
            let back: CheckResult = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), text, "{s:?}");
            let metrics = serde_json::to_string(&r.metrics).unwrap();
            let ev: Evidence = serde_json::from_str(&metrics).unwrap();
            assert_eq!(serde_json::to_string(&ev).unwrap(), metrics);
            let Evidence::Measured(m) = &ev else {
                panic!("{s:?}: {ev:?}")
            };
            assert_eq!(m.a_source == "hessian", hessian);
            let want = if hessian {
                crate::checks::IntervalMethod::RangeOverCheckpoints
            } else {
                crate::checks::IntervalMethod::FromCurvature
            };
            assert_eq!(r.key_metrics[0].ci.unwrap().method, want);
            // Untagged: the first variant that fits wins; deny_unknown_fields keeps them apart.
            assert!(matches!(back.metrics, AnyEvidence::SmallStep(_)), "{s:?}");
            assert!(matches!(back.thresholds, Applied::SmallStep(_)));
        }
    }

    #[test]
    fn decide_fails_beyond_the_stability_limit_and_passes_a_small_step() {
        let e = |lr_lambda: f64, lo: f64, hi: f64| StepEffect {
            lr_lambda,
            lr_lambda_lo: lo,
            lambda_max: lr_lambda / 0.01,
            inflation: small_step::inflation(lr_lambda) - 1.0,
            inflation_lo: small_step::inflation(lo) - 1.0,
            inflation_hi: small_step::inflation(hi) - 1.0,
            tolerance: 0.1,
        };
        assert_eq!(decide(&e(2.1, 1.9, 2.3)), Verdict::Fail);
        assert_eq!(decide(&e(0.05, 0.04, 0.06)), Verdict::Pass);
        assert_eq!(decide(&e(0.5, 0.4, 0.6)), Verdict::Fail);
        assert_eq!(decide(&e(0.17, 0.1, 0.3)), Verdict::Inconclusive);
    }
}
