//! The words of the `constant_covariance` check (summary and reasons) from its typed evidence and
//! decision.

use crate::checks::constant_covariance::{Checked, Deviation, Evidence, Reason, TestChoice};
use crate::checks::{self, Applied, CheckResult, NoEvidence, Verdict};
use crate::fmt::p_text;

fn pct(x: f64) -> f64 {
    100.0 * x
}

/// The check's result with its sentences: the summary, the reasons, and the evidence's
/// `test_reason`.
pub fn narrate(c: Checked) -> CheckResult {
    let leaning = c.tests.as_ref().is_some_and(|t| t.leaning_fail);
    let summary = match (&c.deviation, c.decision.reasons.first()) {
        (Some(dev), _) => summary(c.decision.verdict, dev, leaning),
        (None, Some(r)) => stop_summary(r).to_string(),
        (None, None) => String::new(),
    };
    let mut evidence = c.evidence;
    if let Some(Evidence::Measured(m)) = evidence.as_mut() {
        if let Some(choice) = c.decision.reasons.iter().find_map(|r| match r {
            Reason::Test { choice, .. } => Some(choice),
            _ => None,
        }) {
            m.test_reason = test_reason(choice);
        }
    }
    CheckResult {
        verdict: c.decision.verdict,
        summary,
        reasons: c.decision.reasons.iter().map(reason).collect(),
        key_metrics: c.key_metrics,
        metrics: match evidence {
            Some(e) => checks::Evidence::ConstantCovariance(Box::new(e)),
            None => checks::Evidence::None(NoEvidence {}),
        },
        thresholds: Applied::ConstantCovariance(c.applied),
        tests: c.tests,
        basis: None,
    }
}

fn summary(verdict: Verdict, dev: &Deviation, leaning: bool) -> String {
    let (d, lo, hi, g) = (dev.estimate, dev.lo, dev.hi, dev.checkpoints);
    let (level, tol) = (dev.level, dev.tolerance);
    match verdict {
        Verdict::Pass => format!(
            "The noise covariance varies by about {:.1}% across the {g} checkpoints \
             ({:.0}% CI up to {:.1}%), within the {:.0}% tolerance.",
            pct(d),
            pct(level),
            pct(hi),
            pct(tol)
        ),
        Verdict::Fail => format!(
            "The noise covariance changes by about {:.0}% across the {g} checkpoints \
             ({:.0}% CI {:.0}%–{:.0}%), more than the {:.0}% tolerance.",
            pct(d),
            pct(level),
            pct(lo),
            pct(hi),
            pct(tol)
        ),
        Verdict::Inconclusive if leaning => format!(
            "Leaning fail: the noise covariance changes by about {:.0}% across the {g} \
             checkpoints (CI {:.0}%–{:.0}%), above the {:.0}% tolerance, but not significantly \
             so with these data.",
            pct(d),
            pct(lo),
            pct(hi),
            pct(tol)
        ),
        Verdict::Inconclusive => format!(
            "The change of the noise covariance ({:.1}%, CI {:.1}%–{:.1}%) cannot be placed \
             on either side of the {:.0}% tolerance with these data.",
            pct(d),
            pct(lo),
            pct(hi),
            pct(tol)
        ),
    }
}

/// The summary of a check that stopped before measuring.
fn stop_summary(r: &Reason) -> &'static str {
    match r {
        Reason::TooFewCheckpoints { .. } => {
            "Too few checkpoints to tell whether the noise covariance changes across the \
             stationary region."
        }
        Reason::EmptySubspace => "The analysis subspace is empty.",
        Reason::TooFewRows { .. } => {
            "Too few gradients per checkpoint to estimate the noise covariance."
        }
        Reason::NonFinite { .. } => {
            "Non-finite gradients: the noise covariance cannot be estimated."
        }
        Reason::ZeroNoise => "The gradient noise is zero in the analysis subspace.",
        Reason::DominantRow { .. } => {
            "The noise covariance is dominated by a few examples, so its change across \
             checkpoints cannot be measured from these rows."
        }
        Reason::BootstrapFailed { .. } => "The bootstrap of the noise covariance failed.",
        _ => "",
    }
}

fn reason(r: &Reason) -> String {
    match r {
        Reason::TooFewCheckpoints { g, need } => format!(
            "the run has {g} checkpoint(s); comparing the noise covariance across the region \
             the iterates occupy needs at least {need}"
        ),
        Reason::EmptySubspace => "k = 0 dimensions".into(),
        Reason::TooFewRows { step, n, k } => format!(
            "checkpoint step {step} has n = {n} gradient rows; estimating a {k}×{k} covariance \
             needs n ≥ k + 2 = {}",
            k + 2
        ),
        Reason::NonFinite { step } => {
            format!("checkpoint step {step} has NaN or infinite projected gradient entries")
        }
        Reason::ZeroNoise => "all gradient rows are identical at every checkpoint, so there is \
                              no noise covariance to compare"
            .into(),
        Reason::DominantRow {
            step,
            influence,
            allowed,
        } => format!(
            "one gradient row at checkpoint step {step} carries {:.1}% of \
             what is compared (allowed {:.1}%): resampling rows cannot measure \
             the sampling variability of such an estimate (typical of infinite-variance, \
             α-stable-like gradient noise); more rows per checkpoint, or the same examples at \
             every checkpoint, are needed",
            pct(*influence),
            pct(*allowed)
        ),
        Reason::BootstrapFailed { used, resamples } => format!(
            "only {used} of {resamples} bootstrap resamples had a non-zero pooled covariance (a \
             few rows carry all the noise)"
        ),
        Reason::WithinTolerance { p_pass } => format!(
            "the relative deviation is within the tolerance: the equivalence test of \
             H₀: D ≥ tolerance rejects (p = {}; bootstrap over checkpoints)",
            p_text(Some(*p_pass))
        ),
        Reason::AboveTolerance { p_fail } => format!(
            "the relative deviation exceeds the tolerance: the one-sided test of \
             H₀: D ≤ tolerance rejects (p = {}; bootstrap over checkpoints)",
            p_text(Some(*p_fail))
        ),
        Reason::LeaningFail { p_fail } => format!(
            "leaning fail: the relative deviation exceeds the tolerance, but the one-sided test \
             of H₀: D ≤ tolerance does not reject (p = {}); more checkpoints spread over the \
             stationary region, or more gradient rows per checkpoint, would settle it",
            p_text(*p_fail)
        ),
        Reason::IntervalContainsTolerance { p_pass } => format!(
            "the relative deviation is within the tolerance but the equivalence test does not \
             reject (p = {}): the interval reaches above the tolerance; more checkpoints or more \
             gradient rows per checkpoint would narrow it",
            p_text(*p_pass)
        ),
        Reason::Test { choice, p } => format!(
            "test of equal covariances: {} (p = {}); {}",
            choice.used().key(),
            p_text(*p),
            test_reason(choice)
        ),
        Reason::Sensitivity {
            estimate,
            lo,
            hi,
            distance_min,
            distance_max,
        } => format!(
            "sensitivity to position: C changes by about {:.1}% (CI {:.1}%–{:.1}%) per \
             stationary standard deviation of displacement; checkpoints lie {:.1}–{:.1} sd from \
             the mean iterate",
            pct(*estimate),
            pct(*lo),
            pct(*hi),
            distance_min,
            distance_max
        ),
    }
}

/// Why the test of equal covariances was chosen (the evidence's `test_reason`).
fn test_reason(choice: &TestChoice) -> String {
    let level_text =
        |l: &Option<f64>| l.map_or("not computable".to_string(), |l| format!("{l:.3}"));
    match choice {
        TestChoice::Paired {
            correlation,
            threshold,
        } => format!(
            "the checkpoints hold gradients of the same examples (mean correlation of \
             centred rows {correlation:.2} > {threshold:.2}); Box's M and the permutation test \
             assume independent groups, so significance is read off the joint bootstrap of \
             T (the level at which its basic interval excludes 0)"
        ),
        TestChoice::BoxM {
            k_over_n,
            real_level,
            max_level,
        } => format!(
            "independent rows, k/n = {k_over_n:.3} ≤ 0.3 and near-Gaussian kurtosis: the real \
             level of Box's M χ² approximation at the upper bound of the pooled kurtosis is \
             {} ≤ {max_level}",
            level_text(real_level)
        ),
        TestChoice::Permutation {
            permutations,
            k_over_n,
            small_k,
            real_level,
            max_level,
            box_m_error,
        } => format!(
            "independent rows; studentised permutation test (Cai–Liu–Xia entries, \
             {permutations} permutations) because Box's M is not calibrated here: k/n = \
             {k_over_n:.3}{}, real level of its χ² approximation under the observed kurtosis {} \
             (allowed {max_level}){}",
            if *small_k { "" } else { " > 0.3" },
            level_text(real_level),
            box_m_error
                .as_ref()
                .map_or(String::new(), |e| format!("; Box's M: {e}"))
        ),
        TestChoice::Failed { error } => format!("no test could be run: {error}"),
        TestChoice::NotRun => "no test could be run".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{constant_covariance, Context, Evidence as AnyEvidence};
    use crate::run::{LoadOptions, Run};
    use crate::simulate::{simulate, Scenario, SimConfig};
    use crate::thresholds::Thresholds;

    fn result(s: Scenario, seed: u64) -> CheckResult {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        simulate(s, &SimConfig::default_for(s), seed, &out).unwrap();
        let run = Run::load(&out, &LoadOptions { dims: 4, seed: 1 }).unwrap();
        let th = Thresholds {
            bootstrap_resamples: 50,
            ..Thresholds::default()
        };
        narrate(constant_covariance::check(&Context::new(&run, 1, &th)))
    }

    /// The result serialises, deserialises back into a `CheckResult` whose evidence is this
    /// check's (not another variant of the untagged enum), and re-serialises to the same text.
    #[test]
    fn result_round_trips_through_json_as_this_checks_evidence() {
        for s in [Scenario::QuadraticGaussian, Scenario::StateDependentNoise] {
            let r = result(s, 3);
            let text = serde_json::to_string(&r).unwrap();
            let back: CheckResult = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), text, "{s:?}");
            // The evidence alone reads back as this check's, measured.
            let metrics = serde_json::to_string(&r.metrics).unwrap();
            let ev: Evidence = serde_json::from_str(&metrics).unwrap();
            assert_eq!(serde_json::to_string(&ev).unwrap(), metrics);
            let Evidence::Measured(m) = &ev else {
                panic!("{s:?}: {ev:?}")
            };
            // Untagged: the first variant that fits wins; deny_unknown_fields keeps them apart.
            assert!(
                matches!(&back.metrics, AnyEvidence::ConstantCovariance(e)
                    if matches!(**e, Evidence::Measured(_))),
                "{s:?}: {:?}",
                back.metrics
            );
            assert!(matches!(back.thresholds, Applied::ConstantCovariance(_)));
            // The narration wrote the test's reason into the evidence and the reasons.
            assert!(!m.test_reason.is_empty());
            assert!(r.reasons[1].ends_with(&m.test_reason), "{:?}", r.reasons);
        }
    }

    /// The verdict follows the tolerance test: fail when the one-sided z test rejects, pass
    /// when the equivalence test rejects, leaning fail above the tolerance otherwise.
    #[test]
    fn decide_follows_the_tolerance_tests() {
        use crate::checks::constant_covariance::{decide, tolerance_test};
        use crate::checks::ToleranceTests;
        let dev = |estimate: f64| Deviation {
            estimate,
            lo: 0.0,
            hi: 1.0,
            level: 0.95,
            tolerance: 0.1,
            checkpoints: 8,
        };
        let run = |t_d: f64, se: f64| {
            let piece = tolerance_test(t_d, se, se, &dev(t_d.max(0.0).sqrt()));
            decide(&ToleranceTests::from_pieces(vec![piece], 0.05), 0.05)
        };
        // T̂ = 0.0025 (D = 0.05), se 0.002: z = −3.75 → pass.
        let d = run(0.0025, 0.002);
        assert_eq!(d.verdict, Verdict::Pass, "{d:?}");
        assert!(matches!(d.reasons[0], Reason::WithinTolerance { p_pass } if p_pass < 1e-3));
        // T̂ = 0.0225 (D = 0.15), se 0.005: log scale, z = ln(2.25)/(0.005/0.0225) = 3.649 →
        // fail, p = Φ̄(3.649) ≈ 1.316e-4 (on the T scale z would be 2.5, p 0.0062).
        let d = run(0.0225, 0.005);
        assert_eq!(d.verdict, Verdict::Fail);
        let Reason::AboveTolerance { p_fail } = d.reasons[0] else {
            panic!("{d:?}")
        };
        let z = 2.25_f64.ln() * 4.5;
        assert!((z - 3.649_185_972_973_48).abs() < 1e-12, "{z}");
        assert!((p_fail - 1.315_363e-4).abs() < 1e-9, "{p_fail}");
        // Above the tolerance, not significant: leaning fail.
        let d = run(0.02, 0.02);
        assert_eq!(d.verdict, Verdict::Inconclusive);
        assert!(matches!(d.reasons[0], Reason::LeaningFail { p_fail: Some(p) } if p > 0.05));
        // Within, not significant: the interval contains the tolerance.
        let d = run(0.008, 0.02);
        assert!(matches!(
            d.reasons[0],
            Reason::IntervalContainsTolerance { .. }
        ));
        // Exact (se = 0) statistics decide with p 0.
        assert_eq!(run(0.0, 0.0).verdict, Verdict::Pass);
        assert_eq!(run(0.04, 0.0).verdict, Verdict::Fail);
        // NaN: untestable, inconclusive.
        assert_eq!(run(f64::NAN, 0.01).verdict, Verdict::Inconclusive);
    }
}
