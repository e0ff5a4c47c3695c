//! The verdict of the Gaussian-noise check from its evidence (module docs, "Verdict").

use super::evidence::{EffectRow, Evidence, Route};
use crate::checks::{decide as rule, Thresholds, Verdict};

/// Why the verdict is what it is: the numbers each sentence of the narration needs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reason {
    /// The run has no checkpoints, no analysis directions or S = 0.
    NoData,
    /// These directions have no estimable effect (no noise, S ≥ N, fewer than 8 samples).
    Degenerate {
        /// The directions.
        directions: Vec<usize>,
    },
    /// Too few pooled direct samples for the direct normality tests.
    DirectTestsNotRun {
        /// Pooled direct samples per direction M.
        samples: usize,
        /// The minimum (`gaussian_min_minibatch_samples`).
        minimum: usize,
        /// Whether the verdict then rests on the CLT intervals (per-example runs).
        clt_route: bool,
    },
    /// The worst direction's effect and significance.
    WorstDirection {
        /// The direction.
        direction: usize,
        /// Its effect (skewness, excess kurtosis, simultaneous intervals).
        effect: EffectRow,
        /// Whose effect it is.
        route: Route,
        /// Coverage of the intervals.
        ci_level: f64,
        /// Its Holm-corrected p-value, when every direction was tested.
        p_holm: Option<f64>,
        /// Pooled direct samples per direction.
        direct_samples: usize,
    },
    /// The worst direction's tail indices.
    TailIndices {
        /// The direction.
        direction: usize,
        /// Hill α̂.
        hill: f64,
        /// Block-sum α̂.
        block_sum: f64,
    },
    /// An interval straddles its tolerance, or a large deviation is not significant.
    Undecided,
}

/// Hill α̂ below which (or block-sum α̂ below which) the narration speaks of heavy tails.
pub const HEAVY_TAIL_HILL: f64 = 3.0;
/// Block-sum α̂ below which the narration speaks of heavy tails.
pub const HEAVY_TAIL_BLOCK_SUM: f64 = 1.9;

/// The check's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The combined verdict.
    pub verdict: Verdict,
    /// One verdict per direction (empty when no evidence).
    pub per_direction: Vec<Verdict>,
    /// The direction that drives the verdict (fail, then inconclusive, then the largest effect
    /// relative to its tolerance); `None` when every direction is degenerate.
    pub worst: Option<usize>,
    /// The reasons, in the order the report lists them.
    pub reasons: Vec<Reason>,
}

impl Decision {
    /// Inconclusive: nothing to analyse.
    pub fn no_data() -> Self {
        Decision {
            verdict: Verdict::Inconclusive,
            per_direction: Vec::new(),
            worst: None,
            reasons: vec![Reason::NoData],
        }
    }
}

/// Interval of |x| from an interval [lo, hi] of x.
pub(super) fn abs_interval(lo: f64, hi: f64) -> [f64; 2] {
    if lo <= 0.0 && hi >= 0.0 {
        [0.0, lo.abs().max(hi.abs())]
    } else {
        [lo.abs().min(hi.abs()), lo.abs().max(hi.abs())]
    }
}

fn finite(e: &EffectRow) -> bool {
    [
        e.skewness,
        e.skewness_ci.0,
        e.skewness_ci.1,
        e.excess_kurtosis,
        e.excess_kurtosis_ci.0,
        e.excess_kurtosis_ci.1,
    ]
    .iter()
    .all(|v| v.is_finite())
}

/// One direction's verdict: the common rule ([`rule`]) on |skewness| and on |excess kurtosis|,
/// combined.
fn direction_verdict(e: &EffectRow, significant: bool, th: &Thresholds) -> Verdict {
    let sk = abs_interval(e.skewness_ci.0, e.skewness_ci.1);
    let ku = abs_interval(e.excess_kurtosis_ci.0, e.excess_kurtosis_ci.1);
    let v_s = rule(
        e.skewness.abs(),
        sk[1],
        sk[0],
        th.gaussian_max_abs_skewness,
        significant,
    );
    let v_k = rule(
        e.excess_kurtosis.abs(),
        ku[1],
        ku[0],
        th.gaussian_max_abs_excess_kurtosis,
        significant,
    );
    Verdict::combine([v_s, v_k])
}

/// Ranking score of a direction: monotone in (verdict rank, effect/tolerance ratio), the ratio
/// squashed into [0, 1).
fn score(v: Verdict, e: &EffectRow, th: &Thresholds) -> f64 {
    let rank = match v {
        Verdict::Fail => 2.0,
        Verdict::Inconclusive => 1.0,
        Verdict::Pass => 0.0,
    };
    let ratio = (e.skewness.abs() / th.gaussian_max_abs_skewness)
        .max(e.excess_kurtosis.abs() / th.gaussian_max_abs_excess_kurtosis);
    rank + ratio / (1.0 + ratio)
}

/// The verdict per direction and combined (module docs, "Verdict"): fail when a direction is
/// significant after Holm and its effect exceeds the tolerance, or its interval lies above it;
/// pass when every interval lies within the tolerances; inconclusive otherwise. O(k).
pub fn decide(ev: &Evidence, th: &Thresholds) -> Decision {
    let tested = ev.per_direction.iter().all(|d| d.p_value_holm.is_some());
    let mut per_direction = Vec::with_capacity(ev.per_direction.len());
    let mut worst: Option<(usize, f64)> = None;
    let mut degenerate = Vec::new();
    for (j, d) in ev.per_direction.iter().enumerate() {
        let Some(e) = d.effect.filter(finite) else {
            per_direction.push(Verdict::Inconclusive);
            degenerate.push(j);
            continue;
        };
        let sig = tested && d.p_value_holm.is_some_and(|p| p < th.alpha);
        let v = direction_verdict(&e, sig, th);
        per_direction.push(v);
        let sc = score(v, &e, th);
        if worst.is_none_or(|(_, w)| sc > w) {
            worst = Some((j, sc));
        }
    }
    let verdict = Verdict::combine(per_direction.iter().copied());
    let worst = worst.map(|(j, _)| j);
    let mut reasons = Vec::new();
    if !degenerate.is_empty() {
        reasons.push(Reason::Degenerate {
            directions: degenerate.clone(),
        });
    }
    if !ev.direct_tests_run {
        reasons.push(Reason::DirectTestsNotRun {
            samples: ev.direct_samples_per_direction,
            minimum: th.gaussian_min_minibatch_samples,
            clt_route: ev.route == Route::CltPredictionAndDirect,
        });
    }
    if let Some(w) = worst {
        worst_reasons(ev, w, th, &mut reasons);
    }
    if verdict == Verdict::Inconclusive && degenerate.len() < ev.directions {
        reasons.push(Reason::Undecided);
    }
    Decision {
        verdict,
        per_direction,
        worst,
        reasons,
    }
}

/// The worst direction's effect and, when both are estimated, its tail indices.
fn worst_reasons(ev: &Evidence, w: usize, th: &Thresholds, reasons: &mut Vec<Reason>) {
    let row = &ev.per_direction[w];
    let Some(effect) = row.effect else { return };
    reasons.push(Reason::WorstDirection {
        direction: w,
        effect,
        route: ev.route,
        ci_level: th.ci_level,
        p_holm: row.p_value_holm,
        direct_samples: ev.direct_samples_per_direction,
    });
    let Some(t) = ev.tail_indices.get(w) else {
        return;
    };
    let est = |f: &Option<super::evidence::TailFit>| {
        f.as_ref()
            .and_then(super::evidence::TailFit::estimate)
            .filter(|v| v.is_finite())
    };
    if let (Some(hill), Some(block_sum)) = (est(&t.hill), est(&t.block_sum_alpha)) {
        reasons.push(Reason::TailIndices {
            direction: w,
            hill,
            block_sum,
        });
    }
}
