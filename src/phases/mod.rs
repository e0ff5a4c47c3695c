//! Drift and diffusion phases, and the analysis window.
//!
//! The OU model describes only the late, stationary part of training. Early on, SGD is in a
//! *drift* phase: the mean gradient dominates the minibatch noise and the loss falls. Later, in
//! the *diffusion* phase, the noise dominates and the iterates wander around a minimum. The phases
//! are told apart by gradient statistics only (no information-plane claims, cf. Saxe et al. 2018):
//!
//! * signal: ‖g‖², estimated without bias from the mean ḡ of n rows as
//!   ‖ḡ‖² − tr Ĉ · (N − n)/(n (N − 1)) (finite-population correction; exact when n = N);
//! * noise: tr Q = f · tr Ĉ, the trace of the minibatch-noise covariance at batch size S
//!   (f = `Manifest::minibatch_cov_factor`, ≈ 1/S);
//! * the gradient noise scale B_simple = tr C / ‖g‖² (McCandlish et al. 2018, "An empirical model
//!   of large-batch training") and the noise-to-signal ratio NSR = tr Q / ‖g‖² ≈ B_simple / S.
//!
//! A checkpoint is in the diffusion phase when NSR ≥ 1 (the noise in one SGD step is at least as
//! large as its drift). For an OU process at stationarity E‖g‖² = tr(A²Σ) ≈ (ε/2)·tr(AQ) ≤
//! (ελ_max/2)·tr Q, so NSR ≥ 2/(ελ_max) ≫ 1 there; in the drift phase NSR ≪ 1.
//!
//! **Window rule** (default, issue 15): the stationary phase. Guarded MSER truncation cuts on the
//! trajectory loss and projected coordinates (on checkpoint loss and ‖g‖² without a trajectory),
//! each accepted only when the means before and after it differ (p < 0.001/m), repeated on the
//! kept stretch; the window starts at the final cut and not before the first checkpoint with
//! NSR ≥ 1. It is empty (every check inconclusive) when fewer than 2 checkpoints remain, when FDR1
//! and Geweke both reject at 0.001 on the kept stretch, or when the median NSR there is below 1
//! ([`stationarity`], docs/methods.md "The window: stationary phase"). Later checkpoints whose
//! NSR dips below 1 stay in the window (at stationarity ‖g‖² fluctuates like a weighted χ²).
//! `--from-step` and `--to-step` override the rule; the evidence is then computed and reported
//! but changes nothing. Checkpoint statistics come from the reader's streaming pass; the window
//! evidence costs O(T k log T) for a trajectory of T rows, else
//! O(number of checkpoints).

use serde::{Deserialize, Serialize};

use crate::run::{GradientKind, Run};
use crate::stats::descriptive::neumaier_sum;

mod explain;
pub mod stationarity;

use explain::explain;
pub use explain::{evidence_lines, warnings};
use stationarity::{cuts, fdr1_kept, geweke_kept, series_between, Series, STATIONARITY_LEVEL};
pub use stationarity::{EmptyReason, SeriesCut, SeriesSource, StartReason, WindowEvidence};

/// Phase of one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Drift,
    Diffusion,
}

/// Signal and noise at one checkpoint (full space).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckpointPhase {
    /// The checkpoint's step.
    pub step: u64,
    /// Unbiased ‖g‖² (may be slightly negative by sampling error when g ≈ 0).
    pub grad_norm2: f64,
    /// tr Ĉ of the per-example gradients.
    pub trace_cov: f64,
    /// tr Q: trace of the minibatch-noise covariance at batch size S.
    pub trace_noise: f64,
    /// B_simple = tr C / ‖g‖² (McCandlish et al. 2018); infinite when ‖g‖² ≤ 0.
    pub noise_scale: Option<f64>,
    /// tr Q / ‖g‖²; `null` (infinite) when ‖g‖² ≤ 0.
    pub noise_to_signal: Option<f64>,
    /// Mean of the losses recorded at the checkpoint (losses.npy: per-example losses, or the
    /// minibatch losses of a minibatch run), when present; `null` otherwise.
    #[serde(default)]
    pub mean_loss: Option<f64>,
    /// drift or diffusion.
    pub phase: Phase,
}

/// How the analysis window was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowMethod {
    /// The diffusion phase, found automatically.
    Auto,
    /// The user's first and/or last step (`Options::from_step`, `Options::to_step`).
    User,
}

impl std::fmt::Display for WindowMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WindowMethod::Auto => "auto",
            WindowMethod::User => "user",
        })
    }
}

/// The chosen analysis window.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Window {
    /// `auto` (the diffusion phase) or `user` (--from-step/--to-step).
    pub method: WindowMethod,
    /// First step analysed, when set.
    pub from_step: Option<u64>,
    /// Last step analysed, when set.
    pub to_step: Option<u64>,
    /// Steps of the checkpoints analysed.
    pub checkpoints: Vec<u64>,
    /// Steps of the checkpoints left out, and why.
    pub excluded: Vec<u64>,
    /// Why these checkpoints, in words.
    pub reason: String,
    /// Loss trend over the window's trajectory: least-squares slope of the training loss per
    /// 1,000 steps with its standard error (corrected for autocorrelation by the residuals'
    /// effective sample size), when losses are present.
    pub loss_trend_per_1000_steps: Option<[f64; 2]>,
    /// The stationarity evidence behind the window (cuts, FDR1, Geweke, noise-to-signal);
    /// `null` in reports written before issue 15.
    #[serde(default)]
    pub evidence: Option<WindowEvidence>,
}

/// Phase statistics of every checkpoint.
pub fn checkpoint_phases(run: &Run) -> Vec<CheckpointPhase> {
    let m = &run.manifest;
    let n_total = m.dataset_size as f64;
    let f = m.minibatch_cov_factor();
    run.checkpoints
        .iter()
        .map(|c| {
            let n = c.n as f64;
            let (trace_cov, trace_noise, mean_noise) = match m.gradients {
                GradientKind::PerExample => (
                    c.trace_cov,
                    f * c.trace_cov,
                    c.trace_cov * (n_total - n).max(0.0) / (n * (n_total - 1.0).max(1.0)),
                ),
                // Rows are minibatch gradients: their covariance is Q itself.
                GradientKind::Minibatch => (c.trace_cov / f, c.trace_cov, c.trace_cov / n),
            };
            let g2 = c.mean_grad_norm2 - mean_noise;
            let (scale, nsr) = if g2 > 0.0 {
                (Some(trace_cov / g2), Some(trace_noise / g2))
            } else {
                (None, None)
            };
            CheckpointPhase {
                step: c.step,
                grad_norm2: g2,
                trace_cov,
                trace_noise,
                noise_scale: scale,
                noise_to_signal: nsr,
                mean_loss: c
                    .losses
                    .as_ref()
                    .filter(|l| !l.is_empty())
                    .map(|l| neumaier_sum(l.iter().copied()) / l.len() as f64),
                phase: if nsr.is_none_or(|r| r >= 1.0) {
                    Phase::Diffusion
                } else {
                    Phase::Drift
                },
            }
        })
        .collect()
}

/// Chooses the window: user bounds when given (evidence computed, no override), otherwise the
/// stationary phase ([`auto_window`]). The window's checkpoints are empty when no stationary
/// stretch was found, with the reason in `Window`.
pub fn select_window(
    run: &Run,
    phases: &[CheckpointPhase],
    from_step: Option<u64>,
    to_step: Option<u64>,
) -> Window {
    let steps: Vec<u64> = phases.iter().map(|p| p.step).collect();
    let (method, chosen, reason, evidence) = if from_step.is_some() || to_step.is_some() {
        let lo = from_step.unwrap_or(0);
        let hi = to_step.unwrap_or(u64::MAX);
        let chosen: Vec<u64> = steps
            .iter()
            .copied()
            .filter(|s| (lo..=hi).contains(s))
            .collect();
        let ev = user_evidence(run, phases, &chosen);
        (
            WindowMethod::User,
            chosen,
            format!(
                "checkpoints with step in [{}, {}] (the user's from_step/to_step)",
                lo,
                to_step.map(|s| s.to_string()).unwrap_or_else(|| "∞".into())
            ),
            ev,
        )
    } else {
        let (chosen, ev) = auto_window(run, phases);
        let reason = explain(&ev, &steps, &chosen);
        (WindowMethod::Auto, chosen, reason, ev)
    };
    let excluded = steps
        .iter()
        .copied()
        .filter(|s| !chosen.contains(s))
        .collect();
    let loss_trend = loss_trend(run, chosen.first().copied(), chosen.last().copied());
    Window {
        method,
        from_step,
        to_step,
        checkpoints: chosen,
        excluded,
        reason,
        loss_trend_per_1000_steps: loss_trend,
        evidence: Some(evidence),
    }
}

/// Evidence with no cut applied yet: the cuts of every series over [lo, hi].
fn cut_evidence(
    run: &Run,
    phases: &[CheckpointPhase],
    lo: u64,
    hi: u64,
) -> (Vec<Series>, WindowEvidence) {
    let (source, series) = series_between(run, phases, lo, hi);
    let (level, cuts) = cuts(source, &series);
    let truncation_step = cuts
        .iter()
        .filter(|c| c.accepted)
        .filter_map(|c| c.cut_step)
        .max();
    let ev = WindowEvidence {
        source: (!series.is_empty()).then_some(source),
        cut_level: level,
        series: cuts,
        truncation_step,
        truncation_passes: Vec::new(),
        unapplied_cut: None,
        noise_to_signal_step: phases
            .iter()
            .find(|p| p.phase == Phase::Diffusion)
            .map(|p| p.step),
        start: StartReason::Empty,
        empty: None,
        fdr1_source: None,
        fdr1_ratio: None,
        fdr1_p: None,
        geweke_p: None,
        geweke_max_abs_z: None,
        noise_to_signal_median: None,
    };
    (series, ev)
}

/// Geweke, FDR1 and the median noise-to-signal ratio on the kept checkpoints (written into ev).
fn kept_evidence(
    run: &Run,
    phases: &[CheckpointPhase],
    series: &[Series],
    kept: &[u64],
    ev: &mut WindowEvidence,
) {
    let (Some(&lo), Some(&hi)) = (kept.first(), kept.last()) else {
        return;
    };
    let (gp, gz) = geweke_kept(series, lo, &mut ev.series);
    ev.geweke_p = gp;
    ev.geweke_max_abs_z = gz;
    if let Some((src, ratio, p)) = fdr1_kept(run, lo, hi) {
        ev.fdr1_source = Some(src);
        ev.fdr1_ratio = Some(ratio);
        ev.fdr1_p = Some(p);
    }
    let mut nsr: Vec<f64> = phases
        .iter()
        .filter(|p| kept.contains(&p.step))
        .map(|p| p.noise_to_signal.unwrap_or(f64::INFINITY))
        .collect();
    nsr.sort_by(f64::total_cmp);
    ev.noise_to_signal_median = match nsr.len() {
        0 => None,
        n if n % 2 == 1 => Some(nsr[n / 2]),
        n => Some(0.5 * (nsr[n / 2 - 1] + nsr[n / 2])),
    }
    .filter(|m| m.is_finite())
    .or((!nsr.is_empty()).then_some(f64::MAX));
}

/// Most truncation passes (each keeps at least half of the remaining series, so 6 passes can
/// shrink it to 1/64 at most: a bound on the work, not a tuned value).
pub const MAX_TRUNCATION_PASSES: usize = 6;

/// Repeated truncation: cuts over the checkpoints' range; while a cut is accepted, cuts again on
/// the stretch from the first checkpoint at or after it (a drift that fades slowly is cut in
/// steps; MSER never cuts more than half). A later pass's cut that would leave fewer than 2
/// checkpoints is not applied (`unapplied_cut`): on a short stretch a slow stationary wander is
/// not told apart from a drift. Returns the first pass's series and evidence (with
/// every pass's cut) and the checkpoint at or after the final cut, if any.
fn truncate(
    run: &Run,
    phases: &[CheckpointPhase],
    steps: &[u64],
) -> (Vec<Series>, WindowEvidence, Option<u64>) {
    let (lo, hi) = (steps[0], steps[steps.len() - 1]);
    let (series, mut ev) = cut_evidence(run, phases, lo, hi);
    let mut cut = ev.truncation_step;
    let mut cut_ck = None;
    while let Some(t) = cut {
        let ck = steps.iter().copied().find(|&s| s >= t);
        let left = ck.map_or(0, |c| steps.iter().filter(|&&s| s >= c).count());
        if !ev.truncation_passes.is_empty() && left < 2 {
            ev.unapplied_cut = Some(t);
            break;
        }
        ev.truncation_passes.push(t);
        cut_ck = ck;
        let Some(c) = cut_ck else { break };
        if ev.truncation_passes.len() >= MAX_TRUNCATION_PASSES
            || steps.iter().filter(|&&s| s >= c).count() < 2
        {
            break;
        }
        cut = cut_evidence(run, phases, c, hi).1.truncation_step;
    }
    ev.truncation_step = ev.truncation_passes.last().copied();
    (series, ev, cut_ck)
}

/// The automatic window (module docs): start = the later of the latest accepted cut (mapped to
/// the first checkpoint at or after it) and the first checkpoint with NSR ≥ 1; empty when fewer
/// than 2 checkpoints remain, when FDR1 and Geweke both reject at 0.001 on the kept stretch, or
/// when the kept checkpoints' median NSR is below 1.
fn auto_window(run: &Run, phases: &[CheckpointPhase]) -> (Vec<u64>, WindowEvidence) {
    let steps: Vec<u64> = phases.iter().map(|p| p.step).collect();
    let (Some(&lo), Some(_)) = (steps.first(), steps.last()) else {
        let (_, mut ev) = cut_evidence(run, phases, 0, 0);
        ev.empty = Some(EmptyReason::TooFewCheckpoints);
        return (Vec::new(), ev);
    };
    let (series, mut ev, cut_ck) = truncate(run, phases, &steps);
    let Some(nsr_step) = ev.noise_to_signal_step else {
        ev.empty = Some(EmptyReason::NoDiffusionPhase);
        return (Vec::new(), ev);
    };
    let start = match cut_ck {
        Some(c) if c >= nsr_step && c > lo => {
            ev.start = StartReason::Truncation;
            c
        }
        _ if nsr_step > lo => {
            ev.start = StartReason::NoiseToSignal;
            nsr_step
        }
        _ => {
            ev.start = StartReason::FirstCheckpoint;
            lo
        }
    };
    // A cut after the last checkpoint keeps nothing.
    let kept: Vec<u64> = if ev.truncation_step.is_some() && cut_ck.is_none() {
        Vec::new()
    } else {
        steps.iter().copied().filter(|&s| s >= start).collect()
    };
    kept_evidence(run, phases, &series, &kept, &mut ev);
    let rejects = |p: Option<f64>| p.is_some_and(|p| p < STATIONARITY_LEVEL);
    ev.empty = if kept.len() < 2 {
        Some(EmptyReason::TooFewCheckpoints)
    } else if rejects(ev.fdr1_p) && rejects(ev.geweke_p) {
        Some(EmptyReason::NotStationary)
    } else if ev.noise_to_signal_median.is_some_and(|m| m < 1.0) {
        Some(EmptyReason::NoiseBelowSignal)
    } else {
        None
    };
    if ev.empty.is_some() {
        ev.start = StartReason::Empty;
        return (Vec::new(), ev);
    }
    (kept, ev)
}

/// Evidence for a user window: cuts and tests on the user's stretch, describing it only.
fn user_evidence(run: &Run, phases: &[CheckpointPhase], chosen: &[u64]) -> WindowEvidence {
    let (Some(&lo), Some(&hi)) = (chosen.first(), chosen.last()) else {
        let (_, mut ev) = cut_evidence(run, phases, 1, 0);
        ev.start = StartReason::User;
        return ev;
    };
    let kept_phases: Vec<CheckpointPhase> = phases
        .iter()
        .filter(|p| chosen.contains(&p.step))
        .cloned()
        .collect();
    let (series, mut ev) = cut_evidence(run, &kept_phases, lo, hi);
    ev.start = StartReason::User;
    kept_evidence(run, phases, &series, chosen, &mut ev);
    ev
}

/// Least-squares slope of the trajectory loss over [lo, hi] (per 1,000 steps) with an
/// autocorrelation-corrected standard error, when the trajectory has losses.
fn loss_trend(run: &Run, lo: Option<u64>, hi: Option<u64>) -> Option<[f64; 2]> {
    let t = run.trajectory.as_ref()?;
    let losses = t.losses.as_ref()?;
    let (lo, hi) = (lo? as i64, hi? as i64);
    let pts: Vec<(f64, f64)> = t
        .steps
        .iter()
        .zip(losses)
        .filter(|(s, _)| (lo..=hi).contains(*s))
        .map(|(&s, &l)| (s as f64 / 1000.0, l))
        .collect();
    if pts.len() < 20 {
        return None;
    }
    let slope = |p: &[(f64, f64)]| {
        let n = p.len() as f64;
        let mx = p.iter().map(|x| x.0).sum::<f64>() / n;
        let my = p.iter().map(|x| x.1).sum::<f64>() / n;
        let sxy: f64 = p.iter().map(|x| (x.0 - mx) * (x.1 - my)).sum();
        let sxx: f64 = p.iter().map(|x| (x.0 - mx).powi(2)).sum();
        sxy / sxx
    };
    let b = slope(&pts);
    // Standard error of the OLS slope with autocorrelated residuals: the iid formula
    // sqrt(σ̂²/Sxx) inflated by sqrt(n/ESS), ESS the effective sample size of the residuals
    // (Geyer's initial monotone sequence, `crate::stats::ess::effective_sample_size`).
    let n = pts.len() as f64;
    let mx = pts.iter().map(|x| x.0).sum::<f64>() / n;
    let my = pts.iter().map(|x| x.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|x| (x.0 - mx).powi(2)).sum();
    let resid: Vec<f64> = pts.iter().map(|x| x.1 - my - b * (x.0 - mx)).collect();
    let s2 = resid.iter().map(|r| r * r).sum::<f64>() / (n - 2.0);
    let ess = crate::stats::ess::effective_sample_size(&resid)
        .map(|e| e.ess.clamp(2.0, n))
        .unwrap_or(n);
    let se = (s2 / sxx * n / ess).sqrt();
    Some([b, se])
}
