//! The window's stationarity evidence: MSER truncation cuts with a test of each cut, Geweke's
//! diagnostic and Yaida's FDR1 on the kept stretch (issue 15, point 2).
//!
//! * **Series.** With a trajectory of at least [`MIN_TRAJECTORY_ROWS`] rows between the first and
//!   last checkpoint: the trajectory loss (when recorded) and each projected coordinate
//!   (P θ_t)_j. Without one: the checkpoint mean loss (when every checkpoint has losses) and the
//!   unbiased ‖g‖² per checkpoint.
//! * **Cut.** On a loss series' normal scores (ranks mapped through Φ⁻¹, robust to loss spikes
//!   under heavy-tailed noise), on coordinates as they are:
//!   MSER-5 (White 1997; White, Cobb & Spratt 2000) on a trajectory series, plain MSER on
//!   a checkpoint series ([`crate::stats::stationarity`]). The cut d > 0 is *accepted* only when
//!   the mean before it differs from the mean after it: z = (x̄_before − x̄_after) /
//!   √(V_before + V_after), where under H₀ (no change, the whole series stationary) the variance
//!   of a segment mean of length n_s is min(σ²_∞/n_s, s²), σ²_∞ = s²·n_a/ESS_a the long-run
//!   variance and s² the variance, both from the *after* segment (ESS by Geyer's initial monotone
//!   sequence, [`crate::stats::ess`]); two-sided p from Student t with ESS_a − 1 df. A checkpoint
//!   series treats checkpoints as independent (ESS = n_a). The before segment's own spread is not
//!   used: during a drift it is the trend itself and would hide the change. Accepted when
//!   p < 0.001/m for m series (Bonferroni). Cost O(n log n) per series.
//! * **Kept stretch.** Geweke (1992) per trajectory series (needs ≥ 90 rows; combined p =
//!   min(1, m·min p)); FDR1 from the trajectory (≥ 64 consecutive steps, ĝ_t = (θ_t − θ_{t+1})/ε,
//!   centred at the mean position) or from ≥ 9 checkpoints (o_R = (ε/2)(‖Pḡ‖² + tr PQPᵀ)).

use nalgebra::DVector;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::run::{GradientKind, Run};
use crate::stats::ess::effective_sample_size;
use crate::stats::stationarity::{fdr1, geweke, mser, mser5};

/// Family-wise level of the cut tests (divided by the number of series). Strict, because the
/// cut is tried on every run and a false cut throws stationary checkpoints away; the drift
/// calibrations of tests/calibration/window.rs hold at this level (docs/methods.md, "The window:
/// stationary phase").
pub const CUT_LEVEL: f64 = 0.001;
/// Level at which FDR1 and the combined Geweke test each reject on the kept stretch (both must
/// reject to empty the window; strict, since Geweke's batch-means SE false-alarms on stationary
/// OU coordinates: docs/methods.md, "The window: stationary phase").
pub const STATIONARITY_LEVEL: f64 = 0.001;
/// Fewest trajectory rows for the trajectory series (MSER-5 needs 4 batches of 5).
pub const MIN_TRAJECTORY_ROWS: usize = 20;

/// Where the series of the window evidence come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SeriesSource {
    /// The trajectory (every recorded step between the first and last checkpoint).
    Trajectory,
    /// One value per checkpoint (no usable trajectory).
    Checkpoints,
}

/// One series' truncation cut and its test.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SeriesCut {
    /// `loss`, `coordinate j` (projected trajectory), `checkpoint mean loss` or `checkpoint ‖g‖²`.
    pub series: String,
    /// Number of values in the series.
    pub samples: usize,
    /// Step of the first value after the MSER cut; `null` when MSER keeps everything.
    pub cut_step: Option<u64>,
    /// z of mean before vs after the cut (long-run variance under H₀ from the after segment).
    pub z: Option<f64>,
    /// Two-sided p of that z (Student t, ESS_after − 1 df).
    pub p_value: Option<f64>,
    /// Whether the cut was accepted (p below 0.001 / number of series).
    pub accepted: bool,
    /// Geweke z on the kept stretch (trajectory series of ≥ 90 values).
    pub geweke_z: Option<f64>,
    /// Geweke two-sided p on the kept stretch.
    pub geweke_p: Option<f64>,
}

/// Why the window starts where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartReason {
    /// No accepted cut and the first checkpoint already has noise-to-signal ratio ≥ 1.
    FirstCheckpoint,
    /// The latest accepted truncation cut.
    Truncation,
    /// The first checkpoint with noise-to-signal ratio ≥ 1 (later than any accepted cut).
    NoiseToSignal,
    /// The user's --from-step/--to-step.
    User,
    /// The window is empty (see `empty`).
    Empty,
}

/// Why an automatic window is empty (every check inconclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmptyReason {
    /// No checkpoint has noise-to-signal ratio ≥ 1.
    NoDiffusionPhase,
    /// Fewer than 2 checkpoints remain after the cut.
    TooFewCheckpoints,
    /// FDR1 and Geweke both reject at 0.001 on the kept stretch.
    NotStationary,
    /// The median noise-to-signal ratio of the kept checkpoints is below 1.
    NoiseBelowSignal,
}

/// The evidence behind the window (issue 15): cuts, stationarity tests, noise-to-signal.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WindowEvidence {
    /// Where the series come from; `null` when no series was long enough.
    pub source: Option<SeriesSource>,
    /// Level of each cut test: 0.001 / number of series.
    pub cut_level: f64,
    /// Each series' cut, its test, and Geweke on the kept stretch.
    pub series: Vec<SeriesCut>,
    /// The latest accepted cut (step), if any.
    pub truncation_step: Option<u64>,
    /// The accepted cut of each truncation pass (pass 2 cuts the stretch kept by pass 1, …);
    /// `series` shows the first pass.
    #[serde(default)]
    pub truncation_passes: Vec<u64>,
    /// An accepted cut of a later pass (pass 2 on) that was not applied because it would leave
    /// fewer than 2 checkpoints: on a short kept stretch a slow stationary wander (a mode
    /// relaxing over hundreds of steps) is not told apart from a drift, so the refinement stops
    /// and the kept stretch is left to the FDR1/Geweke/NSR conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unapplied_cut: Option<u64>,
    /// The first checkpoint with noise-to-signal ratio ≥ 1, if any.
    pub noise_to_signal_step: Option<u64>,
    /// Why the window starts where it does.
    pub start: StartReason,
    /// Why the window is empty, when it is.
    pub empty: Option<EmptyReason>,
    /// FDR1 on the kept stretch: `trajectory` or `checkpoints`.
    pub fdr1_source: Option<SeriesSource>,
    /// ⟨o_L⟩/⟨o_R⟩ (1 at stationarity).
    pub fdr1_ratio: Option<f64>,
    /// Two-sided p of FDR1 (batch means).
    pub fdr1_p: Option<f64>,
    /// Geweke over the series on the kept stretch: min(1, m·min p).
    pub geweke_p: Option<f64>,
    /// Largest |Geweke z| over the series.
    pub geweke_max_abs_z: Option<f64>,
    /// Median noise-to-signal ratio of the kept checkpoints (∞ counts as large).
    pub noise_to_signal_median: Option<f64>,
}

/// A named series with the step of each value.
pub(crate) struct Series {
    pub name: String,
    pub steps: Vec<u64>,
    pub values: Vec<f64>,
}

/// The series between steps lo and hi: trajectory loss and coordinates when the trajectory has
/// ≥ [`MIN_TRAJECTORY_ROWS`] rows there, else the checkpoint mean loss and ‖g‖².
pub(crate) fn series_between(
    run: &Run,
    phases: &[super::CheckpointPhase],
    lo: u64,
    hi: u64,
) -> (SeriesSource, Vec<Series>) {
    if let Some(t) = run.trajectory.as_ref() {
        let rows: Vec<usize> = (0..t.steps.len())
            .filter(|&i| t.steps[i] >= lo as i64 && t.steps[i] <= hi as i64)
            .collect();
        if rows.len() >= MIN_TRAJECTORY_ROWS {
            let steps: Vec<u64> = rows.iter().map(|&i| t.steps[i] as u64).collect();
            let mut out = Vec::new();
            if let Some(l) = t.losses.as_ref() {
                out.push(Series {
                    name: "loss".into(),
                    steps: steps.clone(),
                    values: rows.iter().map(|&i| l[i]).collect(),
                });
            }
            for j in 0..t.params.ncols() {
                out.push(Series {
                    name: format!("coordinate {}", j + 1),
                    steps: steps.clone(),
                    values: rows.iter().map(|&i| t.params[(i, j)]).collect(),
                });
            }
            return (SeriesSource::Trajectory, out);
        }
    }
    let kept: Vec<&super::CheckpointPhase> = phases
        .iter()
        .filter(|p| (lo..=hi).contains(&p.step))
        .collect();
    let steps: Vec<u64> = kept.iter().map(|p| p.step).collect();
    let mut out = Vec::new();
    if kept.iter().all(|p| p.mean_loss.is_some()) {
        out.push(Series {
            name: "checkpoint mean loss".into(),
            steps: steps.clone(),
            values: kept.iter().filter_map(|p| p.mean_loss).collect(),
        });
    }
    out.push(Series {
        name: "checkpoint ‖g‖²".into(),
        steps,
        values: kept.iter().map(|p| p.grad_norm2).collect(),
    });
    (SeriesSource::Checkpoints, out)
}

/// Test of an MSER cut at d: z and two-sided p (module docs). `None` when a segment is too
/// short (before < 1, after < 8 values for a trajectory, < 3 for checkpoints) or has no spread.
pub(crate) fn cut_test(x: &[f64], d: usize, source: SeriesSource) -> Option<(f64, f64)> {
    let (b, a) = x.split_at(d);
    let min_after = if source == SeriesSource::Trajectory {
        8
    } else {
        3
    };
    if b.is_empty() || a.len() < min_after || !x.iter().all(|v| v.is_finite()) {
        return None;
    }
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (mb, ma) = (mean(b), mean(a));
    let na = a.len() as f64;
    let s2 = a.iter().map(|v| (v - ma).powi(2)).sum::<f64>() / (na - 1.0);
    if s2 <= 0.0 {
        return None;
    }
    let ess = match source {
        SeriesSource::Trajectory => effective_sample_size(a).ok()?.ess.clamp(2.0, na),
        SeriesSource::Checkpoints => na,
    };
    let lrv = s2 * na / ess;
    let var_mean = |n: usize| (lrv / n as f64).min(s2);
    let z = (mb - ma) / (var_mean(b.len()) + var_mean(a.len())).sqrt();
    let t = StudentsT::new(0.0, 1.0, (ess - 1.0).max(1.0)).ok()?;
    Some((z, (2.0 * t.sf(z.abs())).min(1.0)))
}

/// Normal scores Φ⁻¹(r/(n + 1)) of the ranks r (ties by order): the cut and its test run on
/// these, so a heavy-tailed series (one loss spike) cannot fake a change in mean, while a drift
/// (every early value extreme) still shows. Cost O(n log n).
pub(crate) fn normal_scores(x: &[f64]) -> Vec<f64> {
    use statrs::distribution::Normal;
    let n = x.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let z = Normal::standard();
    let mut out = vec![0.0; n];
    for (r, &i) in idx.iter().enumerate() {
        out[i] = z.inverse_cdf((r as f64 + 1.0) / (n as f64 + 1.0));
    }
    out
}

/// MSER(-5) cut of every series (a loss series on its normal scores: losses spike under heavy-tailed
/// noise; coordinates raw, where ranks would cost the power to see a drift's tail) and its test;
/// accepted when p < [`CUT_LEVEL`]/m.
pub(crate) fn cuts(source: SeriesSource, series: &[Series]) -> (f64, Vec<SeriesCut>) {
    let level = CUT_LEVEL / series.len().max(1) as f64;
    let out = series
        .iter()
        .map(|s| {
            let is_loss = s.name.contains("loss");
            let scores = if is_loss && s.values.iter().all(|v| v.is_finite()) {
                normal_scores(&s.values)
            } else {
                s.values.clone()
            };
            let d = match source {
                SeriesSource::Trajectory => mser5(&scores),
                SeriesSource::Checkpoints => mser(&scores),
            }
            .ok()
            .filter(|&d| d > 0 && d < s.values.len());
            let test = d.and_then(|d| cut_test(&scores, d, source));
            SeriesCut {
                series: s.name.clone(),
                samples: s.values.len(),
                cut_step: d.map(|d| s.steps[d]),
                z: test.map(|t| t.0),
                p_value: test.map(|t| t.1),
                accepted: test.is_some_and(|t| t.1 < level),
                geweke_z: None,
                geweke_p: None,
            }
        })
        .collect();
    (level, out)
}

/// Geweke on each series from step `lo` on (written into `cuts`); returns the combined p
/// min(1, m·min p) and the largest |z| when any series had ≥ 90 values.
pub(crate) fn geweke_kept(
    series: &[Series],
    lo: u64,
    cuts: &mut [SeriesCut],
) -> (Option<f64>, Option<f64>) {
    let mut ps = Vec::new();
    let mut zmax: Option<f64> = None;
    for (s, c) in series.iter().zip(cuts.iter_mut()) {
        let kept: Vec<f64> = s
            .steps
            .iter()
            .zip(&s.values)
            .filter(|(&st, _)| st >= lo)
            .map(|(_, &v)| v)
            .collect();
        if let Ok(g) = geweke(&kept) {
            c.geweke_z = Some(g.z);
            c.geweke_p = Some(g.p_value);
            ps.push(g.p_value);
            zmax = Some(zmax.map_or(g.z.abs(), |m: f64| m.max(g.z.abs())));
        }
    }
    let p = ps
        .iter()
        .copied()
        .reduce(f64::min)
        .map(|p| (p * series.len() as f64).min(1.0));
    (p, zmax)
}

/// FDR1 on the kept stretch [lo, hi]: from ≥ 64 consecutive trajectory steps, else from ≥ 9
/// checkpoints. Returns (source, ratio, p).
pub(crate) fn fdr1_kept(run: &Run, lo: u64, hi: u64) -> Option<(SeriesSource, f64, f64)> {
    let lr = run.manifest.effective_learning_rate();
    if let Some(t) = run.trajectory.as_ref() {
        let rows: Vec<usize> = (0..t.steps.len())
            .filter(|&i| t.steps[i] >= lo as i64 && t.steps[i] <= hi as i64)
            .collect();
        let consecutive = rows.windows(2).all(|w| t.steps[w[1]] == t.steps[w[0]] + 1);
        if consecutive && rows.len() >= 64 {
            let w = t.params.select_rows(rows.iter());
            let c = w.row_mean();
            let (mut ol, mut or) = (Vec::new(), Vec::new());
            for i in 0..w.nrows() - 1 {
                let g = (w.row(i) - w.row(i + 1)) / lr;
                ol.push((w.row(i) - &c).dot(&g));
                or.push(0.5 * lr * g.norm_squared());
            }
            if let Ok(f) = fdr1(&ol, &or) {
                return Some((SeriesSource::Trajectory, f.ratio, f.p_value));
            }
        }
    }
    fdr1_checkpoints(run, lo, hi, lr)
}

/// FDR1 from the checkpoints in [lo, hi] (≥ 9): o_L = (Pθ_i − mean)·Pḡ_i · m/(m − 1),
/// o_R = (ε/2)(‖Pḡ_i‖² + tr PQ_iPᵀ).
fn fdr1_checkpoints(run: &Run, lo: u64, hi: u64, lr: f64) -> Option<(SeriesSource, f64, f64)> {
    let cks: Vec<_> = run
        .checkpoints
        .iter()
        .filter(|c| (lo..=hi).contains(&c.step) && c.n >= 2)
        .collect();
    let m = cks.len();
    if m < 9 {
        return None;
    }
    let k = cks[0].theta.len();
    let mean_theta = cks.iter().fold(DVector::zeros(k), |a, c| a + &c.theta) / m as f64;
    let f = match run.manifest.gradients {
        GradientKind::PerExample => run.manifest.minibatch_cov_factor(),
        GradientKind::Minibatch => 1.0,
    };
    let (mut ol, mut or) = (Vec::new(), Vec::new());
    for c in cks {
        let n = c.n as f64;
        let g = DVector::from_fn(k, |j, _| c.grads.column(j).sum() / n);
        let tr_c: f64 = (0..k)
            .map(|j| {
                c.grads
                    .column(j)
                    .iter()
                    .map(|v| (v - g[j]).powi(2))
                    .sum::<f64>()
                    / (n - 1.0)
            })
            .sum();
        ol.push((&c.theta - &mean_theta).dot(&g) * m as f64 / (m as f64 - 1.0));
        or.push(0.5 * lr * (g.norm_squared() + f * tr_c));
    }
    let r = fdr1(&ol, &or).ok()?;
    Some((SeriesSource::Checkpoints, r.ratio, r.p_value))
}
