//! The words of the `ou_prediction` check (summary and reasons) from its typed evidence and decision.

use crate::checks::ou_prediction::{Checked, Evidence, Inapplicable, Reason};
use crate::checks::sampling_design::{Design, NotTestable, SamplingDesignTest};
use crate::checks::{self, Applied, CheckResult, Verdict};

/// The check's result with its sentences.
pub fn narrate(c: Checked) -> CheckResult {
    let mut reasons: Vec<String> = c.decision.reasons.iter().map(reason).collect();
    if let Some(b) = c.basis {
        reasons.push(super::basis_sentence(b));
    }
    CheckResult {
        verdict: c.decision.verdict,
        summary: summary(c.decision.verdict).to_string(),
        reasons,
        key_metrics: c.key_metrics,
        metrics: checks::Evidence::OuPrediction(Box::new(c.evidence)),
        thresholds: Applied::OuPrediction(c.applied),
        tests: c.tests,
        basis: c.basis,
    }
}

fn summary(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => {
            "The run's stationary behaviour matches the OU model's predictions within \
                          the tolerances."
        }
        Verdict::Fail => {
            "The run's stationary behaviour deviates from the OU model's \
                          predictions beyond the tolerances."
        }
        Verdict::Inconclusive => {
            "The OU model's predictions could not be confirmed or refuted \
                                  with the available data."
        }
    }
}

fn reason(r: &Reason) -> String {
    match r {
        Reason::NoCurvature { why } => {
            format!("no estimate of A ({why}): no covariance, equipartition or MSD prediction")
        }
        Reason::NoStationarySolution => {
            "the Lyapunov equations have no stationary solution for the estimated A (a mode is \
             not confining or ελ ≥ 2)"
                .into()
        }
        Reason::Covariance {
            ratio_discrete: rd,
            interval_discrete: [dlo, dhi],
            ratio_continuous: rc,
            interval_continuous: [clo, chi],
            ess,
            steps: t,
            closer,
            verdict: v,
        } => format!(
            "stationary covariance: tr Σ̂/tr Σ_discrete = {rd:.3} [{dlo:.3}, {dhi:.3}], \
             tr Σ̂/tr Σ_continuous = {rc:.3} [{clo:.3}, {chi:.3}] (ESS {ess:.0} of {t} steps); \
             the {closer} prediction is closer; {v}"
        ),
        Reason::CovarianceReshuffled {
            ratio,
            interval: [lo, hi],
            ratio_discrete,
            ess,
            steps,
            verdict: v,
        } => format!(
            "stationary covariance under epoch-wise reshuffling: tr Σ̂/tr Σ_reshuffled = \
             {ratio:.3} [{lo:.3}, {hi:.3}] (ESS {ess:.0} of {steps} steps); against the \
             fresh-sampling prediction it would be {ratio_discrete:.3}; {v}"
        ),
        Reason::PredictionInapplicable(why) => inapplicable(why),
        Reason::SamplingDesign(t) => design_sentence(t),
        Reason::CovarianceNoInterval => {
            "stationary covariance: no effective sample size (constant or too short series); no \
             interval"
                .into()
        }
        Reason::CovarianceNoTrajectory => {
            "stationary covariance: no trajectory with at least 8 steps between the first and \
             last checkpoint"
                .into()
        }
        Reason::SubspaceApproximation => {
            "the covariance prediction is a subspace approximation: the random analysis subspace \
             is not invariant under A, so the projected process is not OU and the subspace \
             Lyapunov prediction is biased (either way); the ratio is reported, not tested — \
             provide basis/ (format 2) or hessian.npy for an exact prediction in the Hessian \
             eigenbasis"
                .into()
        }
        Reason::Circular => {
            "A was estimated from the same trajectory (lag-1 fit), so the covariance comparison \
             is partly circular"
                .into()
        }
        Reason::Fdr1 {
            source,
            samples,
            deviation: d,
            interval: [lo, hi],
            batches,
            verdict: v,
        } => format!(
            "fluctuation–dissipation (FDR1) from the {source} ({samples} samples): \
             ⟨θ·∇L⟩/⟨(ε/2)‖ĝ‖²⟩ − 1 = {d:.3} [{lo:.3}, {hi:.3}] ({batches} batch means); {v}"
        ),
        Reason::Fdr1NoData => {
            "FDR1: needs a trajectory of ≥ 64 consecutive steps or ≥ 4 checkpoints".into()
        }
        Reason::EquipartitionNotFullSpace => {
            "equipartition: needs the full A and Q (analysis subspace = parameter space)".into()
        }
        Reason::EquipartitionNoLossesOrSingular => {
            "equipartition: needs losses at every checkpoint and an invertible A".into()
        }
        Reason::Equipartition {
            ratio: r,
            interval: [lo, hi],
            ess,
            verdict: v,
        } => format!(
            "equipartition: (E[L] − L*)/prediction = {r:.3} [{lo:.3}, {hi:.3}] (ESS {ess:.0}); {v}"
        ),
        Reason::Msd {
            exponent,
            from_lag,
            to_lag,
        } => format!(
            "mean squared displacement: growth exponent {exponent:.3} between lags {from_lag} and \
             {to_lag} (≈ 0 on a plateau, as an OU process must show; 1 for free diffusion)"
        ),
    }
}

/// Why no covariance prediction applies, in words.
pub fn inapplicable(why: &Inapplicable) -> String {
    match why {
        Inapplicable::LagOneOnly => "no OU covariance prediction: the run declares epoch-wise \
             reshuffling and A comes only from the lag-1 fit of the trajectory, which assumes \
             noise independent across steps (reshuffled noise is not); record Hessians or \
             per-example gradients at several checkpoints"
            .into(),
        Inapplicable::PartialBatch {
            dataset_size,
            batch_size,
        } => format!(
            "no OU covariance prediction: reshuffled without drop_last and N = {dataset_size} is \
             not a multiple of S = {batch_size}, so each epoch ends with a smaller batch whose \
             noise differs; the reshuffled formula assumes equal batches (use drop_last=True)"
        ),
        Inapplicable::DesignContradicted { declared, looks } => format!(
            "OU covariance prediction undecided: run.json declares {} sampling but the epoch sums \
             of the trajectory's implied noise look {} (see the sampling-design test); correct \
             `sampling` in run.json",
            design_word(*declared),
            design_word(*looks)
        ),
        Inapplicable::UnevenEpochs {
            min_rows_per_position,
            max_rows_per_position,
        } => format!(
            "no OU covariance prediction: the trajectory window visits the positions within an \
             epoch unevenly ({min_rows_per_position} to {max_rows_per_position} rows per \
             position), so its covariance is not the epoch mean the reshuffled formula gives \
             (record every step, or every k-th with k coprime to the steps per epoch)"
        ),
    }
}

fn design_word(d: Design) -> &'static str {
    match d {
        Design::Fresh => "fresh (independent minibatches at every step)",
        Design::Reshuffled => "epoch-wise reshuffled",
        Design::Undecided => "undecided",
    }
}

/// The sampling-design test in one sentence.
fn design_sentence(t: &SamplingDesignTest) -> String {
    let m = t.steps_per_epoch;
    if let Some(why) = &t.not_testable {
        let what = match why {
            NotTestable::NotEveryStep => "the trajectory window does not record every step".into(),
            NotTestable::NoCurvature => "there is no estimate of A".into(),
            NotTestable::SingleStepEpochs => "an epoch has fewer than 2 steps".into(),
            NotTestable::TooFewEpochs { epochs, .. } => {
                format!("the window holds {epochs} complete epochs of {m} steps (needs 4)")
            }
            NotTestable::Degenerate => "the implied noise is zero or not finite".into(),
        };
        return format!("sampling design: not testable ({what})");
    }
    format!(
        "sampling design: epoch sums of the implied noise over {} epochs of {m} steps have \
         R = {:.3} of their fresh-sampling size (≈ 1 fresh, ≈ 0 reshuffled), p_fresh = {}{}; \
         the trajectory looks {}{}",
        t.epochs,
        t.ratio.unwrap_or(f64::NAN),
        crate::report::num(t.p_fresh.unwrap_or(f64::NAN)),
        if t.offsets_tested > 1 {
            format!(" (Bonferroni over {} epoch offsets)", t.offsets_tested)
        } else {
            String::new()
        },
        design_word(t.looks.unwrap_or(Design::Undecided)),
        if t.contradicted {
            format!(", contradicting the declared {}", design_word(t.declared))
        } else {
            String::new()
        }
    )
}

/// The report warning when the trajectory contradicts the declared sampling design.
pub fn design_warning(e: &Evidence) -> Option<String> {
    let t = &e.sampling_design;
    t.contradicted.then(|| {
        format!(
            "run.json declares {} sampling, but the trajectory looks {} (epoch-sum ratio R = \
             {:.3}, p_fresh = {}); the OU covariance prediction is left undecided — correct \
             `sampling` (and the epoch fields) in run.json",
            design_word(t.declared),
            design_word(t.looks.unwrap_or(Design::Undecided)),
            t.ratio.unwrap_or(f64::NAN),
            crate::report::num(t.p_fresh.unwrap_or(f64::NAN))
        )
    })
}
