//! The words of the `gaussian_noise` check (summary and reasons) from its typed evidence and decision.

use crate::checks::gaussian_noise::every_coordinate::{CoordinateRow, EveryCoordinate, ScreenNote};
use crate::checks::gaussian_noise::{
    Checked, EffectRow, Evidence, Moment, Reason, Route, StationaryImpact, HEAVY_TAIL_BLOCK_SUM,
    HEAVY_TAIL_HILL,
};
use crate::checks::{Applied, CheckResult, Evidence as AnyEvidence, NoEvidence, Verdict};
use crate::fmt::p_text;

/// The check's result as the report prints it.
pub fn narrate(c: Checked) -> CheckResult {
    let reasons = c.decision.reasons.iter().map(reason).collect();
    let tests = c.decision.tests.clone();
    let summary = match &c.evidence {
        None => "The minibatch noise cannot be assessed: no checkpoints or no analysis directions."
            .to_string(),
        Some(ev) => summary(
            c.decision.verdict,
            ev,
            tests.as_ref().is_some_and(|t| t.leaning_fail),
        ),
    };
    CheckResult {
        verdict: c.decision.verdict,
        summary,
        reasons,
        key_metrics: c.key_metrics,
        metrics: match c.evidence {
            Some(ev) => AnyEvidence::GaussianNoise(Box::new(ev)),
            None => AnyEvidence::None(NoEvidence {}),
        },
        thresholds: Applied::GaussianNoise(c.applied),
        tests,
        basis: None,
    }
}

fn summary(verdict: Verdict, ev: &Evidence, leaning_fail: bool) -> String {
    let (s, k, w) = (ev.batch_size, ev.directions, ev.worst_direction);
    let screen = ev
        .every_coordinate
        .as_ref()
        .filter(|e| e.votes && e.flagged > 0);
    if let (Verdict::Fail, Some(e)) = (verdict, screen) {
        return format!(
            "The minibatch noise at S = {s} is non-Gaussian beyond tolerance in {} of {} \
                 coordinates (worst: {}), which the {k} analysis directions dilute.",
            e.flagged,
            e.coordinates,
            e.worst.first().map_or_else(String::new, coordinate_name)
        );
    }
    match verdict {
        Verdict::Pass => format!(
            "The minibatch noise at S = {s} is Gaussian within tolerance in all {k} directions."
        ),
        Verdict::Fail => format!(
            "The minibatch noise at S = {s} is non-Gaussian beyond tolerance: a one-sided test \
             rejects |skewness| or |excess kurtosis| within tolerance (worst direction {w})."
        ),
        Verdict::Inconclusive if leaning_fail => format!(
            "Leaning fail: the minibatch noise at S = {s} looks non-Gaussian beyond tolerance \
             (worst direction {w}), but not significantly so."
        ),
        Verdict::Inconclusive => format!(
            "The data cannot decide whether the minibatch noise at S = {s} is Gaussian within \
             tolerance."
        ),
    }
}

fn reason(r: &Reason) -> String {
    match r {
        Reason::NoData => "the run has no checkpoint gradients in the analysis subspace".into(),
        Reason::Degenerate { directions } => format!(
            "direction(s) {directions:?}: no noise or too few rows to estimate the minibatch \
             noise's shape (constant gradients, S ≥ N, or fewer than 8 samples)"
        ),
        Reason::DirectTestsNotRun {
            samples,
            minimum,
            clt_route,
        } => format!(
            "only {samples} direct minibatch-noise samples per direction (fewer than {minimum}): \
             the direct normality tests were not run{}",
            if *clt_route {
                "; the verdict rests on the CLT intervals alone (export n ≥ 20·S rows over all \
                 checkpoints for the direct tests)"
            } else {
                ""
            }
        ),
        Reason::WorstDirection {
            direction,
            effect,
            route,
            ci_level,
            p_holm,
            direct_samples,
        } => worst_direction(
            *direction,
            effect,
            *route == Route::CltPredictionAndDirect,
            *ci_level,
            *p_holm,
            *direct_samples,
        ),
        Reason::TailIndices {
            direction,
            hill,
            block_sum,
            hill_cutoff,
            block_sum_cutoff,
        } => tail_indices(
            *direction,
            *hill,
            *block_sum,
            *hill_cutoff,
            *block_sum_cutoff,
        ),
        Reason::Tests {
            pieces,
            p_fail,
            p_pass,
            alpha,
        } => format!(
            "one-sided tests against the tolerances over {pieces} pieces (|skewness| and \
             |excess kurtosis| per direction, robust bootstrap SEs): fail test p = {} (Holm), \
             equivalence test p = {} (TOST, intersection–union); level α = {alpha}",
            p_text(Some(*p_fail)),
            p_text(Some(*p_pass)),
        ),
        Reason::LeaningFail {
            direction,
            moment,
            estimate,
            tolerance,
            p_fail_holm,
        } => format!(
            "leaning fail: the {} in direction {direction} is {estimate:.3}, beyond the \
             tolerance ±{tolerance}, but the one-sided test of |·| ≤ {tolerance} does not \
             reject (Holm p = {}); more examples per checkpoint would decide",
            match moment {
                Moment::Skewness => "minibatch skewness",
                Moment::ExcessKurtosis => "minibatch excess kurtosis",
            },
            p_text(Some(*p_fail_holm)),
        ),
        Reason::Impact(i) => impact(i),
        Reason::EveryCoordinate(e) => every_coordinate(e),
        Reason::NoisePrincipal(np) => noise_principal(np),
        Reason::Undecided => "every estimate is within its tolerance, but not every \
                              equivalence test rejects: more examples per checkpoint would \
                              decide"
            .into(),
    }
}

/// "fc2.weight[17, 3]" (format v2) or "coordinate 17".
fn coordinate_name(r: &CoordinateRow) -> String {
    r.name
        .clone()
        .unwrap_or_else(|| format!("coordinate {}", r.index))
}

/// The every-coordinate sentence: whether it voted, how many coordinates it flags, and the
/// worst three by name.
fn every_coordinate(e: &EveryCoordinate) -> String {
    let why = vote_why(e.note.as_ref(), "rows per checkpoint");
    let worst: Vec<String> = e
        .worst
        .iter()
        .take(3)
        .map(|r| {
            format!(
                "{} (step {}): skewness {:.3}, excess kurtosis {:.3}, Hill α̂ {}, Holm p = {}",
                coordinate_name(r),
                r.step,
                r.minibatch_skewness,
                r.minibatch_excess_kurtosis,
                if r.tail_index.is_finite() {
                    format!("{:.2}", r.tail_index)
                } else {
                    "—".into()
                },
                p_text(Some(r.p_holm.iter().copied().fold(1.0, f64::min))),
            )
        })
        .collect();
    format!(
        "every coordinate ({why}): minibatch skewness and excess kurtosis of all {} coordinates \
         at {} checkpoint(s) by the finite-population CLT, and a Hill tail-index rule (K = {}, \
         α₀ = {}), Holm over {} p-values: {} coordinate(s) beyond tolerance ({} by the tail \
         rule){}, smallest Holm p = {}; worst: {}",
        e.coordinates,
        e.checkpoints,
        e.tail_k,
        e.tail_alpha0,
        e.tests,
        e.flagged,
        e.flagged_by_tail,
        e.kept.map_or(String::new(), |k| format!(
            " among the {k} most extreme (checkpoint, coordinate) pairs kept at this d (a \
             lower bound; the smallest Holm p is exact)"
        )),
        p_text(Some(e.p_fail_holm)),
        if worst.is_empty() {
            "none".to_string()
        } else {
            worst.join("; ")
        }
    )
}

/// Whether a fail-only piece votes, or why it is reported only (`rows`: what its row count
/// counts).
fn vote_why(note: Option<&ScreenNote>, rows_of: &str) -> String {
    match note {
        None => "fail-only piece: it can fail the check, never pass it".to_string(),
        Some(ScreenNote::FewRows { rows, minimum }) => {
            format!("reported only: {rows} {rows_of}, fewer than the {minimum} it needs to vote")
        }
        Some(ScreenNote::LargeBatch {
            batch_size,
            population,
        }) => format!(
            "reported only: S = {batch_size} is at least half of N = {population}, where the \
             finite-population images are unstable"
        ),
    }
}

/// The noise-principal sentence: variance captured on held-out rows against the random
/// directions, the largest minibatch shape there and the piece's Holm p-value.
fn noise_principal(np: &crate::checks::gaussian_noise::noise_principal::NoisePrincipal) -> String {
    let r = &np.per_checkpoint;
    let mean =
        |f: &dyn Fn(&crate::checks::gaussian_noise::noise_principal::NoisePrincipalRow) -> f64| {
            r.iter().map(f).sum::<f64>() / r.len().max(1) as f64
        };
    format!(
        "noise principal subspace ({}): {} directions chosen on a seeded subset of the \
         examples (at most half) capture {:.1} % of the held-out examples' gradient-noise \
         variance (the random analysis directions {:.1} %; mean over {} checkpoint(s)); there \
         the largest minibatch |skewness| is {:.3} and |excess kurtosis| {:.3} (CLT, held-out \
         rows), Holm over {} p-values: smallest p = {}",
        vote_why(np.note.as_ref(), "held-out rows at a checkpoint"),
        r.first().map_or(0, |x| x.directions),
        100.0 * mean(&|x| x.variance_share),
        100.0 * mean(&|x| x.random_subspace_share),
        r.len(),
        np.largest_abs_skewness,
        np.largest_abs_excess_kurtosis,
        np.tests,
        p_text(Some(np.p_fail_holm)),
    )
}

/// The tail-index sentence: both estimates against their simulated Gaussian 5 % cutoffs (fixed
/// fallbacks when the run's cutoffs could not be simulated).
fn tail_indices(
    direction: usize,
    hill: f64,
    block_sum: f64,
    hill_cutoff: Option<f64>,
    block_sum_cutoff: Option<f64>,
) -> String {
    let hc = hill_cutoff.unwrap_or(HEAVY_TAIL_HILL);
    let bc = block_sum_cutoff.unwrap_or(HEAVY_TAIL_BLOCK_SUM);
    format!(
        "tail indices of the minibatch noise, direction {direction}: Hill α̂ = \
         {hill:.2}, block-sum α̂ = {block_sum:.2} (Gaussian samples of this size fall \
         below {hc:.2} and {bc:.2} only 5 % of the time{}; {})",
        if hill_cutoff.is_some() && block_sum_cutoff.is_some() {
            ", 400 seeded simulations"
        } else {
            ", fixed fallback cutoffs"
        },
        if block_sum < bc && hill < hc {
            "both below: these values point to heavy tails, the published objection \
             to this assumption"
        } else {
            "not both below: no clear sign of heavy tails"
        }
    )
}

/// The impact sentence: what the noise's skewness and kurtosis do to the stationary law.
fn impact(i: &StationaryImpact) -> String {
    format!(
        "impact beside the verdict: the stiffest mode (ε·λ_max = {:.3}) averages the noise \
         over ≈ 1/(ελ) steps, so noise skewness {:.3} and excess kurtosis {:.3} leave its \
         stationary law with skewness ≈ {:.3} and excess kurtosis ≈ {:.3} (≈ 0.94·√(ελ)·γ₁ \
         and ελ·γ₂; finite fourth moments assumed — α-stable noise stays α-stable)",
        i.lr_lambda_max,
        i.noise_skewness,
        i.noise_excess_kurtosis,
        i.stationary_skewness,
        i.stationary_excess_kurtosis
    )
}

/// The worst direction's effect, intervals and corrected p-value.
fn worst_direction(
    direction: usize,
    e: &EffectRow,
    per_example: bool,
    ci_level: f64,
    p_holm: Option<f64>,
    direct_samples: usize,
) -> String {
    format!(
        "worst direction {direction}: minibatch skewness {:.3} [{:.3}, {:.3}], excess \
         kurtosis {:.3} [{:.3}, {:.3}] ({}; {:.0}% simultaneous intervals){}",
        e.skewness,
        e.skewness_ci.0,
        e.skewness_ci.1,
        e.excess_kurtosis,
        e.excess_kurtosis_ci.0,
        e.excess_kurtosis_ci.1,
        if per_example {
            "CLT prediction from per-example gradients"
        } else {
            "direct minibatch samples"
        },
        100.0 * ci_level,
        match p_holm {
            Some(p) => format!(
                "; D'Agostino–Pearson K² p = {} (Holm over directions{}; {direct_samples} \
                 direct samples; reported, does not vote)",
                p_text(Some(p)),
                if per_example {
                    ", Bonferroni over the direct and per-example tests"
                } else {
                    ""
                }
            ),
            None => String::new(),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::gaussian_noise::tests::checked;
    use crate::checks::gaussian_noise::Decision;
    use crate::simulate::{Scenario, SimConfig};
    use crate::thresholds::Thresholds;

    /// Serialise → deserialise → serialise gives the same string, and the evidence comes back
    /// as this check's variant (per-example and minibatch runs).
    #[test]
    fn report_round_trips_through_json() {
        for minibatch in [false, true] {
            let s = Scenario::HeavyTailedNoise;
            let mut cfg = SimConfig::default_for(s);
            cfg.minibatch_gradients = minibatch;
            cfg.write_trajectory = false;
            let (c, _) = checked(s, &cfg, 3);
            let want = if minibatch {
                Route::Direct
            } else {
                Route::CltPredictionAndDirect
            };
            assert_eq!(c.evidence.as_ref().unwrap().route, want);
            let r = narrate(c);
            let json = serde_json::to_string(&r).unwrap();
            let back: CheckResult = serde_json::from_str(&json).unwrap();
            assert!(matches!(back.metrics, AnyEvidence::GaussianNoise(_)));
            assert!(matches!(back.thresholds, Applied::GaussianNoise(_)));
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
        }
    }

    /// No directions or no checkpoints: inconclusive with the no-data reason, no evidence
    /// (`{}`), the applied thresholds kept, and the JSON still round-trips.
    #[test]
    fn no_data_is_inconclusive_without_evidence() {
        let th = Thresholds::default();
        let c = Checked {
            evidence: None,
            applied: crate::checks::gaussian_noise::applied(&th),
            decision: Decision::no_data(),
            key_metrics: Vec::new(),
        };
        let r = narrate(c);
        assert_eq!(r.verdict, Verdict::Inconclusive);
        assert_eq!(
            r.reasons,
            ["the run has no checkpoint gradients in the analysis subspace"]
        );
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""metrics":{}"#), "{json}");
        let back: CheckResult = serde_json::from_str(&json).unwrap();
        assert!(matches!(back.metrics, AnyEvidence::None(_)));
        assert!(matches!(back.thresholds, Applied::GaussianNoise(_)));
    }
}
