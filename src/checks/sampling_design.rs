//! Which sampling design the trajectory shows: fresh minibatches at every step, or epoch-wise
//! reshuffling (check-internal; used by `ou_prediction`, docs/methods.md "Sampling designs:
//! fresh and reshuffled").
//!
//! Under reshuffling with drop_last the m = N/S minibatch noises of an epoch sum to zero; under
//! fresh draws their sum has E‖E_e‖² = m tr Q. The per-step noise is implied by the trajectory,
//! ξ_t = ĝ_t − A(θ_t − θ̄) with ĝ_t = (θ_t − θ_{t+1})/ε (every step recorded), A the primary
//! curvature estimate and θ̄ the window mean (the stationary mean of a quadratic loss). The
//! epoch-sum variance test [`crate::stats::portmanteau::epoch_sum_test`] gives
//! R = T_E/(n_e tr Q̂) (≈ 1 fresh, ≈ 0 reshuffled) and p_fresh (lower tail, Satterthwaite χ²).
//!
//! *Epoch boundaries.* A run that declares reshuffling gives them (first_epoch_step +
//! j·steps_per_epoch). A run that declares fresh draws is tested against the hypothesis of
//! hidden reshuffling with m = ⌊N/S⌋ at each of the m possible offsets; the offset with the
//! smallest p_fresh is reported, its p-value multiplied by m (Bonferroni over the offsets).
//! At a wrong offset an epoch sum spans two epochs and R ≈ 2j(m − j)/(m(m − 1)) ≤ ≈ ½.
//!
//! *Rule* (α the report's level): R ≥ ½ looks fresh; R < ½ with p_fresh ≤ α looks reshuffled;
//! otherwise undecided. A declared design that the trajectory contradicts (declared fresh,
//! looks reshuffled, or the reverse) makes the OU covariance prediction undecided.
//! Needs every step over ≥ 4 complete epochs, else "not testable" with the reason.
//!
//! Cost: O(T k²) per offset tested (O(m T k²) for a run declared fresh), T window rows.

use nalgebra::DMatrix;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Context;
use crate::model::curvature::Window;
use crate::stats::portmanteau::epoch_sum_test;

/// Fewest complete epochs the test uses: the Satterthwaite χ² reference of T_E has
/// ν ≈ n_e·(tr Q)²/tr Q² ≥ n_e degrees of freedom, and with fewer than 4 epochs a single epoch
/// sum dominates T_E (docs/methods.md, "Sampling designs: fresh and reshuffled").
pub const MIN_EPOCHS: usize = 4;

/// Epoch-sum ratio R at or above which a run looks fresh: halfway between the two designs'
/// expectations (E R = 1 fresh, R = 0 reshuffled with drop_last); with an estimated A the
/// reshuffled R is no longer exactly 0 and the fresh R reads low when taken at the best of the
/// m epoch offsets (0.63–0.98 on the nine scenarios), so the midpoint leaves room on both sides
/// (calibration: tests/calibration/sampling.rs, 0/20 fresh runs flagged, 20/20 reshuffled).
pub const FRESH_RATIO: f64 = 0.5;

/// The sampling design a run declares or its trajectory shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// Fresh minibatches at every step.
    Fresh,
    /// Epoch-wise reshuffling.
    Reshuffled,
    /// The test cannot tell (0.5 > R with p_fresh > α).
    Undecided,
}

/// Why the design cannot be tested on this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "reason", rename_all = "snake_case", deny_unknown_fields)]
pub enum NotTestable {
    /// No trajectory window, or it skips steps (the implied noise needs every step).
    NotEveryStep,
    /// No curvature estimate A.
    NoCurvature,
    /// Fewer than 2 steps per epoch (N < 2S).
    SingleStepEpochs,
    /// Fewer than [`MIN_EPOCHS`] complete epochs in the window.
    TooFewEpochs {
        /// Complete epochs available.
        epochs: usize,
        /// Steps per epoch assumed.
        steps_per_epoch: u64,
    },
    /// The implied noise is zero or not finite.
    Degenerate,
}

/// The epoch-sum test of the sampling design on the run's trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SamplingDesignTest {
    /// The design run.json declares.
    pub declared: Design,
    /// What the trajectory shows (absent when not testable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looks: Option<Design>,
    /// Why the design cannot be tested (absent when it can).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_testable: Option<NotTestable>,
    /// Steps per epoch m used for the epoch sums.
    pub steps_per_epoch: u64,
    /// The step at which the epochs used begin (declared, or the best offset found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_epoch_step: Option<u64>,
    /// Offsets tested (1 when the run declares its epochs; m otherwise).
    pub offsets_tested: u64,
    /// R = mean_e ‖E_e‖²/m / tr Q̂ (≈ 1 fresh, ≈ 0 reshuffled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// Lower-tail p-value of "fresh sampling", Bonferroni-adjusted over the offsets tested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_fresh: Option<f64>,
    /// Complete epochs used.
    pub epochs: usize,
    /// Whether the trajectory contradicts the declared design.
    pub contradicted: bool,
}

/// Implied per-step noise ξ_t = (θ_t − θ_{t+1})/ε − A(θ_t − θ̄), rows 0..T−1 of the window;
/// `None` unless the window holds consecutive steps. Cost O(T k²).
fn implied_noise(win: &Window, a: &DMatrix<f64>, lr: f64) -> Option<DMatrix<f64>> {
    let w = &win.params;
    let t = w.nrows();
    if t < 3 || !win.steps.windows(2).all(|s| s[1] == s[0] + 1) {
        return None;
    }
    let mean = w.row_mean();
    let mut xi = DMatrix::zeros(t - 1, w.ncols());
    for i in 0..t - 1 {
        let g = (w.row(i) - w.row(i + 1)) / lr;
        let drift = (a * (w.row(i) - &mean).transpose()).transpose();
        xi.set_row(i, &(g - drift));
    }
    Some(xi)
}

/// Row indices where an epoch starts (steps ≡ offset mod m), up to and including the row
/// after the last noise row (so that the last complete epoch closes).
fn epoch_starts(steps: &[i64], rows: usize, m: u64, offset: u64) -> Vec<usize> {
    (0..=rows)
        .filter(|&i| (steps[i] - offset as i64).rem_euclid(m as i64) == 0)
        .collect()
}

/// Tests the design of `ctx`'s run from its trajectory window and A (see the module doc).
pub fn assess(ctx: &Context, a: Option<&DMatrix<f64>>, win: Option<&Window>) -> SamplingDesignTest {
    let man = &ctx.run.manifest;
    let declared = if man.reshuffling.is_some() {
        Design::Reshuffled
    } else {
        Design::Fresh
    };
    let m = man
        .reshuffling
        .map_or(man.dataset_size / man.batch_size.max(1), |r| {
            r.steps_per_epoch
        });
    let offsets: Vec<u64> = match man.reshuffling {
        Some(r) => vec![r.first_epoch_step % m.max(1)],
        None => (0..m).collect(),
    };
    let mut out = SamplingDesignTest {
        declared,
        looks: None,
        not_testable: None,
        steps_per_epoch: m,
        first_epoch_step: None,
        offsets_tested: offsets.len() as u64,
        ratio: None,
        p_fresh: None,
        epochs: 0,
        contradicted: false,
    };
    let noise = match (a, win) {
        _ if m < 2 => Err(NotTestable::SingleStepEpochs),
        (None, _) => Err(NotTestable::NoCurvature),
        (Some(a), Some(w)) => implied_noise(w, a, ctx.lr()).ok_or(NotTestable::NotEveryStep),
        (Some(_), None) => Err(NotTestable::NotEveryStep),
    };
    // R and p_fresh are scale invariant; dividing by max |ξ| keeps tr Q̂² from overflowing.
    let scale = noise.as_ref().map_or(0.0, |x| x.amax());
    let xi = match noise {
        Ok(x) if scale.is_finite() && scale > 0.0 => x / scale,
        Ok(_) => {
            out.not_testable = Some(NotTestable::Degenerate);
            return out;
        }
        Err(e) => {
            out.not_testable = Some(e);
            return out;
        }
    };
    let steps = &win.expect("window").steps;
    let mut best: Option<(u64, crate::stats::portmanteau::EpochSumTest)> = None;
    for &o in &offsets {
        let starts = epoch_starts(steps, xi.nrows(), m, o);
        out.epochs = out.epochs.max(starts.len().saturating_sub(1));
        if starts.len() < MIN_EPOCHS + 1 {
            continue;
        }
        let Ok(r) = epoch_sum_test(&xi, &starts) else {
            continue;
        };
        if best.as_ref().is_none_or(|(_, b)| r.p_fresh < b.p_fresh) {
            best = Some((o, r));
        }
    }
    let Some((o, r)) = best else {
        out.not_testable = Some(if out.epochs < MIN_EPOCHS {
            NotTestable::TooFewEpochs {
                epochs: out.epochs,
                steps_per_epoch: m,
            }
        } else {
            NotTestable::Degenerate
        });
        return out;
    };
    let p = (r.p_fresh * offsets.len() as f64).min(1.0);
    let looks = classify(r.ratio, p, ctx.thresholds.alpha);
    out.looks = Some(looks);
    out.first_epoch_step = Some(o);
    out.ratio = Some(r.ratio);
    out.p_fresh = Some(p);
    out.epochs = r.epochs;
    out.contradicted = matches!(
        (declared, looks),
        (Design::Fresh, Design::Reshuffled) | (Design::Reshuffled, Design::Fresh)
    );
    out
}

/// R ≥ ½ ([`FRESH_RATIO`]) → fresh; R < ½ and p_fresh ≤ α → reshuffled; else undecided.
pub fn classify(ratio: f64, p_fresh: f64, alpha: f64) -> Design {
    if ratio >= FRESH_RATIO {
        Design::Fresh
    } else if p_fresh <= alpha {
        Design::Reshuffled
    } else {
        Design::Undecided
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_rule() {
        assert_eq!(classify(0.9, 0.4, 0.05), Design::Fresh);
        assert_eq!(classify(0.6, 0.001, 0.05), Design::Fresh);
        assert_eq!(classify(0.1, 0.001, 0.05), Design::Reshuffled);
        assert_eq!(classify(0.4, 0.2, 0.05), Design::Undecided);
    }

    #[test]
    fn epoch_starts_follow_the_offset() {
        let steps: Vec<i64> = (10..30).collect();
        assert_eq!(epoch_starts(&steps, 19, 4, 0), vec![2, 6, 10, 14, 18]);
        assert_eq!(epoch_starts(&steps, 19, 4, 3), vec![1, 5, 9, 13, 17]);
    }
}
