//! Words for the window: the reason sentence, the evidence block every report prints, and the
//! warnings the evidence raises.

use super::stationarity::{
    EmptyReason, SeriesSource, StartReason, WindowEvidence, STATIONARITY_LEVEL,
};
use super::{Window, WindowMethod};
use crate::fmt::num;

/// "the window starts at step X because …" (or why it is empty).
pub(crate) fn explain(ev: &WindowEvidence, steps: &[u64], chosen: &[u64]) -> String {
    let dropped = chosen
        .first()
        .map_or(steps.len(), |f| steps.iter().filter(|s| *s < f).count());
    let first = chosen.first().copied().unwrap_or_default();
    match (ev.start, ev.empty) {
        (StartReason::FirstCheckpoint, _) => format!(
            "the window starts at the first checkpoint (step {first}) because no truncation cut \
             was significant and its noise-to-signal ratio is already ≥ 1"
        ),
        (StartReason::Truncation, _) => format!(
            "the window starts at step {first} because the series before step {} differ in mean \
             from those after it (accepted MSER truncation cut{}); {dropped} earlier \
             checkpoint(s) are excluded as drift{}",
            ev.truncation_step.unwrap_or(first),
            match ev.truncation_passes.len() {
                0 | 1 => String::new(),
                n => format!(
                    "s in {n} passes, at steps {}",
                    ev.truncation_passes
                        .iter()
                        .map(|s| s.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            match ev.unapplied_cut {
                Some(u) => format!(
                    "; a later cut at step {u} was not applied (it would leave fewer than 2 \
                     checkpoints, and on so short a stretch a slow stationary wander is not told \
                     apart from a drift)"
                ),
                None => String::new(),
            }
        ),
        (StartReason::NoiseToSignal, _) => format!(
            "the window starts at step {first}, the first checkpoint with noise-to-signal ratio \
             ≥ 1 (the diffusion phase; no later truncation cut was significant); {dropped} \
             earlier checkpoint(s) in the drift phase are excluded"
        ),
        (StartReason::User, _) => "the user's from_step/to_step".into(),
        (StartReason::Empty, Some(EmptyReason::NoDiffusionPhase)) => {
            "every checkpoint is in the drift phase (mean gradient larger than the minibatch \
             noise): the run has no diffusion phase yet"
                .into()
        }
        (StartReason::Empty, Some(EmptyReason::TooFewCheckpoints)) => format!(
            "no stationary stretch: the truncation cut (step {}) leaves fewer than 2 checkpoints",
            ev.truncation_step
                .map(|s| s.to_string())
                .unwrap_or_else(|| "–".into())
        ),
        (StartReason::Empty, Some(EmptyReason::NotStationary)) => format!(
            "no stationary stretch: on the checkpoints left after the cut both Yaida's FDR1 (p = \
             {}) and Geweke's test (p = {}) reject stationarity at {STATIONARITY_LEVEL}",
            opt(ev.fdr1_p),
            opt(ev.geweke_p)
        ),
        (StartReason::Empty, _) => format!(
            "no stationary stretch: the median noise-to-signal ratio of the remaining checkpoints \
             is {} < 1 (the mean gradient dominates the minibatch noise: drift, not diffusion)",
            opt(ev.noise_to_signal_median)
        ),
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(num).unwrap_or_else(|| "–".into())
}

/// The evidence block of every report: one line per fact, plain text (exporters escape).
pub fn evidence_lines(w: &Window) -> Vec<String> {
    let Some(ev) = w.evidence.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let src = match ev.source {
        Some(SeriesSource::Trajectory) => "the trajectory (loss and projected coordinates)",
        Some(SeriesSource::Checkpoints) => "one value per checkpoint (no usable trajectory)",
        None => "no series long enough",
    };
    out.push(format!(
        "Truncation (MSER, White 1997) on {src}; a cut counts when its before/after mean test has \
         p < {}:",
        num(ev.cut_level)
    ));
    for c in &ev.series {
        out.push(format!(
            "  {}: cut {} (z {}, p {}){}; Geweke on the kept stretch z {}, p {}",
            c.series,
            c.cut_step
                .map_or_else(|| "none".into(), |s| format!("at step {s}")),
            opt(c.z),
            opt(c.p_value),
            if c.accepted { ", accepted" } else { "" },
            opt(c.geweke_z),
            opt(c.geweke_p),
        ));
    }
    out.push(format!(
        "Kept stretch: FDR1 ratio {} (p {}, from the {}), Geweke combined p {}, median \
         noise-to-signal ratio {}.",
        opt(ev.fdr1_ratio),
        opt(ev.fdr1_p),
        match ev.fdr1_source {
            Some(SeriesSource::Trajectory) => "trajectory",
            Some(SeriesSource::Checkpoints) => "checkpoints",
            None => "–",
        },
        opt(ev.geweke_p),
        opt(ev.noise_to_signal_median)
    ));
    if w.method == WindowMethod::User {
        out.push("The user's window is used as given; this evidence only describes it.".into());
    }
    out
}

/// Warnings raised by the evidence: one stationarity test rejecting alone, or a user window
/// that the automatic rule would cut or empty.
pub fn warnings(w: &Window) -> Vec<String> {
    let Some(ev) = w.evidence.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let rejects = |p: Option<f64>| p.is_some_and(|p| p < STATIONARITY_LEVEL);
    // Geweke alone is not warned about: its batch-means variance false-alarms on strongly
    // autocorrelated stationary series (reported in the evidence only).
    if ev.empty.is_none() && rejects(ev.fdr1_p) {
        out.push(format!(
            "Yaida's FDR1 rejects stationarity on the analysis window (p = {}, Geweke p = {}; \
             one test alone does not exclude the window): it may still include drift",
            opt(ev.fdr1_p),
            opt(ev.geweke_p)
        ));
    }
    if w.method == WindowMethod::User {
        if ev.series.iter().any(|c| c.accepted) {
            out.push(format!(
                "the user's window contains a significant truncation cut (at step {}): its \
                 start may still be in the drift phase",
                ev.truncation_step
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "–".into())
            ));
        }
        if ev.noise_to_signal_median.is_some_and(|m| m < 1.0) {
            out.push(
                "the user's window has median noise-to-signal ratio below 1 (drift, not \
                 diffusion)"
                    .into(),
            );
        }
    }
    out
}
