//! The OU model's consequences, checked against the run (a fifth report section, next to the
//! four assumptions). It informs; it is not an assumption verdict and does not enter the overall
//! verdict.
//!
//! Four checks, each computed when its data are present (docs/methods.md, "OU prediction"):
//!
//! 1. **Stationary covariance** (Mandt, Hoffman & Blei 2017, §4): the empirical covariance Σ̂ of
//!    the trajectory rows between the first and the last checkpoint against the continuous
//!    (AΣ + ΣA = εQ) and the exact discrete (Σ = (I − εA)Σ(I − εA) + ε²Q) predictions, with A the
//!    primary curvature estimate and Q the pooled minibatch-noise covariance. Effect: the trace
//!    ratio r = tr Σ̂ / tr Σ_pred; its interval is tr Σ̂'s, mean of the series ‖θ_t − θ̄‖² ±
//!    z·sd/√ESS (ESS by Geyer's initial monotone sequence, `crate::stats::ess::effective_sample_size`), divided
//!    by tr Σ_pred (the prediction's own uncertainty is not included). Also reported: relative
//!    Frobenius errors, KL and whitened eigenvalues against each prediction, and which is closer.
//! 2. **Yaida's first fluctuation–dissipation relation** ⟨θ·∇L⟩ = (ε/2)⟨‖ĝ_S‖²⟩, exact at any
//!    stationary state for any loss and noise law, and exact in any orthonormal projection P
//!    (from ⟨‖Pθ_{t+1}‖²⟩ = ⟨‖Pθ_t‖²⟩). Evaluated at the checkpoints, the only places where the
//!    gradient is known: O_L,i = m/(m − 1)·(Pθ_i − θ̄)·Pḡ_i (centred at the checkpoints' mean
//!    position, which is allowed because ⟨∇L⟩ = 0 at stationarity; the factor m/(m − 1) removes
//!    the bias of centring at a sample mean, exactly for independent checkpoints and a quadratic
//!    loss, where E Σ_i (θ_i − θ̄)ᵀH(θ_i − θ̄) = (m − 1) tr(HΣ)) and O_R,i = (ε/2)(‖Pḡ_i‖² + tr Q_i),
//!    using E[‖Pĝ‖² | θ] = ‖Pḡ‖² + tr(PQPᵀ) with Q_i the checkpoint's minibatch-noise covariance.
//!    Effect: δ = mean(O_L − O_R)/mean(O_R); interval by batch means (batch size ⌊√m⌋, the
//!    earliest remainder dropped, Student t with (batches − 1) degrees of freedom, as SASA does).
//! 3. **Equipartition** E[L] − L* = ½tr(AΣ) = (ε/4)tr Q (continuous) or
//!    (ε/4)tr Q + (ε/4)tr(AΣ_dA) (discrete), when losses are present and the subspace is the
//!    whole parameter space (A and Q must be the full ones). L* is estimated at each checkpoint by
//!    the quadratic model, L*_i = L_i − ½ḡ_iᵀA⁻¹ḡ_i (exact for a quadratic loss), and averaged;
//!    E[L] is the mean of the trajectory losses in the window (interval by ESS), or of the
//!    checkpoint mean losses.
//! 4. **Mean squared displacement** MSD(τ) = mean ‖θ_{t+τ} − θ_t‖² of the trajectory window at
//!    lags up to T/4, against the OU prediction 2tr Σ_d − 2tr((I − εA)^τ Σ_d), and its growth
//!    exponent log(MSD(τ_max)/MSD(τ_max/4))/log 4 (≈ 0 on a plateau, 1 for free diffusion).
//!    Descriptive; no interval.
//!
//! **Basis** (docs/methods.md, "Analysis bases"): in the run's Hessian eigenbasis when it has one
//! (`Run::invariant_view`; `Coordinates::InvariantBasis`, exact, may hold back an overall pass);
//! with d ≤ k in all coordinates; otherwise in the seeded random subspace, where the covariance
//! ratio is a subspace approximation — reported, its piece untested (`Reason::
//! SubspaceApproximation`) — while FDR1, exact under any orthonormal projection, stays tested.
//!
//! **Verdict** (informative): each of checks 1–3 gives `decide` on |effect| against
//! `ou_prediction_max_rel_deviation` (1 against the discrete prediction), significance = the
//! interval excludes the null; the section fails if any fails, passes if all computed pass and
//! the covariance check was computed, else inconclusive.
//!
//! Cost: O(T k² + T·L k) for T trajectory rows and L MSD lags, plus O(m n k²) for the checkpoints.

use nalgebra::{DMatrix, DVector};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::{Context, IntervalMethod, KeyMetric, Verdict};
use crate::model::curvature::{self, rows};
use crate::ou;
use crate::run::SubspaceKind;

mod evidence;
pub use evidence::{
    Applied, Coordinates, Equipartition, Evidence, Fdr1, Fdr1Entry, Inapplicable, Msd,
    PredictionKind, StationaryCovariance,
};

/// Mean of a series and its (lo, hi) interval at normal quantile z with the Geyer ESS; `None`
/// for the interval when the ESS cannot be computed.
pub fn mean_ess_interval(x: &[f64], z: f64) -> (f64, Option<(f64, f64, f64)>) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n.max(1.0);
    let Ok(e) = crate::stats::ess::effective_sample_size(x) else {
        return (mean, None);
    };
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se = (var / e.ess).sqrt();
    (mean, Some((mean - z * se, mean + z * se, e.ess)))
}

/// Batch-means t-interval of the mean of `x` (batch size ⌊√m⌋, earliest remainder dropped);
/// returns (mean, lo, hi, batches), or `None` with fewer than 2 batches. `level` two-sided.
pub fn batch_means_interval(x: &[f64], level: f64) -> Option<(f64, f64, f64, usize)> {
    let m = x.len();
    let b = ((m as f64).sqrt().floor() as usize).max(1);
    let nb = m / b;
    if nb < 2 {
        return None;
    }
    let start = m - nb * b;
    let means: Vec<f64> = (0..nb)
        .map(|j| x[start + j * b..start + (j + 1) * b].iter().sum::<f64>() / b as f64)
        .collect();
    batch_means_interval_of_means(&means, level)
}

/// Batch-ratio interval for ⟨a⟩/⟨b⟩ − 1: the series are cut into ⌊m/B⌋ batches of
/// B = ⌊√m⌋ consecutive values (earliest remainder dropped); per batch r_j = Σa/Σb − 1; returns
/// (mean r_j, t-interval lo, hi, batches), or `None` with fewer than 2 batches or a batch with
/// Σb ≤ 0. Per-batch ratios keep a trend in scale (a drift) from inflating the spread.
pub fn batch_ratio_interval(a: &[f64], b: &[f64], level: f64) -> Option<(f64, f64, f64, usize)> {
    let m = a.len().min(b.len());
    let bs = ((m as f64).sqrt().floor() as usize).max(1);
    let nb = m / bs;
    if nb < 2 {
        return None;
    }
    let start = m - nb * bs;
    let mut r = Vec::with_capacity(nb);
    for j in 0..nb {
        let rng = start + j * bs..start + (j + 1) * bs;
        let sb: f64 = b[rng.clone()].iter().sum();
        if sb.is_nan() || sb <= 0.0 {
            return None;
        }
        r.push(a[rng].iter().sum::<f64>() / sb - 1.0);
    }
    let (mean, lo, hi, _) = batch_means_interval_of_means(&r, level)?;
    Some((mean, lo, hi, nb))
}

/// t-interval of the mean of already formed batch means.
fn batch_means_interval_of_means(means: &[f64], level: f64) -> Option<(f64, f64, f64, usize)> {
    let nb = means.len();
    if nb < 2 {
        return None;
    }
    let mean = means.iter().sum::<f64>() / nb as f64;
    let var = means.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (nb - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, (nb - 1) as f64)
        .ok()?
        .inverse_cdf(0.5 + level / 2.0);
    let half = t * (var / nb as f64).sqrt();
    half.is_finite()
        .then_some((mean, mean - half, mean + half, nb))
}

/// Log-scale interval and tolerance tests of a ratio r̂ > 0 whose standard error is `se`
/// (delta method: se(log r̂) = se/r̂). Interval r̂·exp(±z·se_log) (never negative, symmetric in
/// r ↔ 1/r); fail test H₀: |log r| ≤ log(1 + δ) by [`crate::stats::onesided::log_ratio`];
/// equivalence test (TOST, Schuirmann 1987) p = max(Φ̄((c − ℓ̂)/se_log), Φ̄((ℓ̂ + c)/se_log)),
/// c = log(1 + δ). Returns (piece, interval, the piece's unadjusted verdict at α). Cost O(1).
pub fn log_ratio_piece(
    name: &str,
    r: f64,
    se: f64,
    z: f64,
    tol: f64,
    alpha: f64,
) -> (super::PieceTest, Option<[f64; 2]>, Verdict) {
    use crate::stats::onesided::{log_ratio, norm_sf};
    let tolerance = super::Tolerance::ratio_within(tol);
    let se_log = se / r;
    let (p_fail, p_pass, iv) = match log_ratio(r, se_log, tol) {
        Ok(t) => {
            let (l, c) = (r.ln(), tol.ln_1p());
            let p_pass = norm_sf((c - l) / se_log).max(norm_sf((l + c) / se_log));
            let iv = [r * (-z * se_log).exp(), r * (z * se_log).exp()];
            (Some(t.p_value), Some(p_pass), Some(iv))
        }
        Err(_) => (None, None, None),
    };
    let piece = super::PieceTest::new(name, r, tolerance, p_fail, p_pass);
    let v = piece_verdict(&piece, alpha);
    (piece, iv, v)
}

/// Tolerance tests of |d| ≤ δ for an estimate d with standard error `se` and a Student-t law
/// with `df` degrees of freedom: fail p = P(T > (|d| − δ)/se) + P(T > (|d| + δ)/se) (exact
/// size at |d| = δ), equivalence p = max(P(T > (δ − d)/se), P(T > (d + δ)/se)). Cost O(1).
pub fn abs_t_piece(
    name: &str,
    d: f64,
    se: f64,
    df: f64,
    tol: f64,
    alpha: f64,
) -> (super::PieceTest, Verdict) {
    use crate::stats::onesided::t_upper;
    let p = |e: f64, delta: f64| t_upper(e, se, df, delta).ok().map(|t| t.p_value);
    let p_fail = p(d.abs(), tol)
        .zip(p(d.abs(), -tol))
        .map(|(a, b)| (a + b).min(1.0));
    let p_pass = p(tol, d).zip(p(d, -tol)).map(|(a, b)| a.max(b));
    let tolerance = super::Tolerance::abs_at_most(tol);
    let piece = super::PieceTest::new(name, d, tolerance, p_fail, p_pass);
    let v = piece_verdict(&piece, alpha);
    (piece, v)
}

/// A piece that could not be tested (counts as p = 1 on both sides).
fn untestable_piece(name: &str, estimate: f64, tolerance: super::Tolerance) -> super::PieceTest {
    super::PieceTest::new(name, estimate, tolerance, None, None)
}

/// One piece's own (unadjusted) verdict at α: fail, pass or inconclusive.
fn piece_verdict(p: &super::PieceTest, alpha: f64) -> Verdict {
    if p.p_fail.is_some_and(|x| x <= alpha) {
        Verdict::Fail
    } else if p.p_pass.is_some_and(|x| x <= alpha) {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

/// Why the verdict is what it is: one entry per part, carrying its numbers (the words are
/// written by `report::narrate::ou_prediction`).
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// No curvature estimate: why each source is unavailable.
    NoCurvature { why: String },
    /// The Lyapunov equations have no stationary solution for the estimated A.
    NoStationarySolution,
    /// Stationary covariance: the trace ratios against both predictions with their intervals.
    Covariance {
        ratio_discrete: f64,
        interval_discrete: [f64; 2],
        ratio_continuous: f64,
        interval_continuous: [f64; 2],
        ess: f64,
        steps: usize,
        closer: &'static str,
        verdict: Verdict,
    },
    /// Stationary covariance under reshuffled sampling: the trace ratio against the reshuffled
    /// prediction (tested) and against the fresh-sampling discrete one (for comparison).
    CovarianceReshuffled {
        ratio: f64,
        interval: [f64; 2],
        ratio_discrete: f64,
        ess: f64,
        steps: usize,
        verdict: Verdict,
    },
    /// The epoch-sum test of the sampling design.
    SamplingDesign(Box<super::sampling_design::SamplingDesignTest>),
    /// No stationary-covariance prediction applies to this run (why).
    PredictionInapplicable(Inapplicable),
    /// Stationary covariance: tr Σ̂ has no effective sample size, hence no interval.
    CovarianceNoInterval,
    /// Stationary covariance: the trajectory window is missing or shorter than 8 steps.
    CovarianceNoTrajectory,
    /// A came from the lag-1 fit of the same trajectory.
    Circular,
    /// The covariance prediction was made in a random subspace that A does not leave invariant:
    /// reported, not tested (it is biased either way; docs/methods.md, "Analysis bases").
    SubspaceApproximation,
    /// FDR1: the relative deviation from the primary source with its batch-means interval.
    Fdr1 {
        source: &'static str,
        samples: usize,
        deviation: f64,
        interval: [f64; 2],
        batches: usize,
        verdict: Verdict,
    },
    /// FDR1: neither a long enough trajectory nor enough checkpoints.
    Fdr1NoData,
    /// Equipartition: the subspace is not the whole parameter space.
    EquipartitionNotFullSpace,
    /// Equipartition: losses missing at a checkpoint, or A not invertible.
    EquipartitionNoLossesOrSingular,
    /// Equipartition: the ratio to the discrete prediction with its interval.
    Equipartition {
        ratio: f64,
        interval: [f64; 2],
        ess: f64,
        verdict: Verdict,
    },
    /// MSD: the growth exponent between two lags (descriptive).
    Msd {
        exponent: f64,
        from_lag: usize,
        to_lag: usize,
    },
}

/// The verdict and why.
pub type Decision = super::Decision<Reason>;

/// The typed outcome of the check, for the narration (`report::narrate::ou_prediction`).
#[derive(Debug, Clone)]
pub struct Checked {
    pub evidence: Evidence,
    pub applied: Applied,
    pub decision: Decision,
    pub key_metrics: Vec<KeyMetric>,
    /// The tolerance tests behind the verdict (`None` when nothing could be tested).
    pub tests: Option<super::ToleranceTests>,
    /// The basis the section decided in.
    pub basis: Option<super::AnalysisBasis>,
}

/// The section's verdict from its parts' verdicts: fail if any fails; pass if the covariance
/// part was decided and every decided part passes; else inconclusive.
pub fn decide_section(verdicts: &[Verdict], covariance_done: bool) -> Verdict {
    if verdicts.contains(&Verdict::Fail) {
        Verdict::Fail
    } else if covariance_done
        && !verdicts.is_empty()
        && verdicts.iter().all(|v| *v == Verdict::Pass)
    {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

/// What the section has gathered so far: verdicts, reasons and headline metrics.
#[derive(Default)]
struct Tally {
    verdicts: Vec<Verdict>,
    pieces: Vec<super::PieceTest>,
    reasons: Vec<Reason>,
    key_metrics: Vec<KeyMetric>,
}

/// The estimates every part uses: A (primary curvature estimate), Q, the Lyapunov predictions
/// and the trajectory window.
struct Inputs<'a> {
    ctx: &'a Context<'a>,
    tol: f64,
    level: f64,
    z: f64,
    lr: f64,
    q: DMatrix<f64>,
    /// (primary estimate of A, Σ_continuous, Σ_discrete), the fresh-sampling predictions.
    preds: Option<(&'a curvature::Estimate, DMatrix<f64>, DMatrix<f64>)>,
    window: Option<curvature::Window>,
    /// The prediction tested and, under reshuffling, Σ_reshuffled.
    prediction: PredictionKind,
    reshuffled: Option<DMatrix<f64>>,
    /// The covariance prediction is a subspace approximation (random subspace of a larger
    /// space): its pieces are reported but not tested.
    approx: bool,
}

/// Why the declared reshuffling makes the prediction inapplicable, if it does: A from the lag-1
/// fit only, a partial last batch, or a window that visits the epoch's positions unevenly.
/// Cost O(T).
pub fn reshuffled_inapplicable(
    ctx: &Context,
    a_source: &str,
    window: Option<&curvature::Window>,
) -> Option<Inapplicable> {
    let m = &ctx.run.manifest;
    let r = m.reshuffling?;
    if a_source == "lag1" {
        return Some(Inapplicable::LagOneOnly);
    }
    if !r.drop_last && !m.dataset_size.is_multiple_of(m.batch_size) {
        return Some(Inapplicable::PartialBatch {
            dataset_size: m.dataset_size,
            batch_size: m.batch_size,
        });
    }
    let mut counts = vec![0usize; r.steps_per_epoch.max(1) as usize];
    for &s in window.map_or(&[][..], |w| &w.steps[..]) {
        counts[r.step_in_epoch(s.max(0) as u64) as usize] += 1;
    }
    let (lo, hi) = (
        counts.iter().copied().min().unwrap_or(0),
        counts.iter().copied().max().unwrap_or(0),
    );
    (window.is_some() && (lo == 0 || hi - lo > 1)).then_some(Inapplicable::UnevenEpochs {
        min_rows_per_position: lo,
        max_rows_per_position: hi,
    })
}

/// The prediction kind and Σ_reshuffled for the run's declared design (pushes the reason when
/// it is inapplicable). Cost O(k³ + m k²).
fn choose_prediction(
    ctx: &Context,
    preds: Option<&(&curvature::Estimate, DMatrix<f64>, DMatrix<f64>)>,
    q: &DMatrix<f64>,
    window: Option<&curvature::Window>,
    tally: &mut Tally,
) -> (PredictionKind, Option<DMatrix<f64>>, Option<Inapplicable>) {
    let Some((p, _, _)) = preds else {
        return (PredictionKind::None, None, None);
    };
    let design = super::sampling_design::assess(ctx, Some(&p.a_sym), window);
    if design.contradicted {
        let why = Inapplicable::DesignContradicted {
            declared: design.declared,
            looks: design
                .looks
                .unwrap_or(super::sampling_design::Design::Undecided),
        };
        tally
            .reasons
            .push(Reason::PredictionInapplicable(why.clone()));
        return (PredictionKind::None, None, Some(why));
    }
    let Some(r) = ctx.run.manifest.reshuffling else {
        return (PredictionKind::Discrete, None, None);
    };
    if let Some(why) = reshuffled_inapplicable(ctx, p.source, window) {
        tally
            .reasons
            .push(Reason::PredictionInapplicable(why.clone()));
        return (PredictionKind::None, None, Some(why));
    }
    match ou::reshuffled::stationary_cov_reshuffled(
        &p.a_sym,
        q,
        ctx.lr(),
        r.steps_per_epoch as usize,
    ) {
        Ok(c) => (PredictionKind::Reshuffled, Some(c.mean_over_epoch), None),
        Err(_) => {
            tally.reasons.push(Reason::NoStationarySolution);
            (PredictionKind::None, None, None)
        }
    }
}

/// Runs the OU-consequence checks in the run's Hessian eigenbasis when it has one (exact
/// prediction), else in the analysis subspace as given (a random subspace of a larger space
/// makes the covariance comparison a subspace approximation, reported but not tested).
pub fn check(ctx: &Context) -> Checked {
    super::in_invariant_basis(ctx, |c| {
        let mut out = check_in(c);
        out.basis = Some(super::AnalysisBasis::of(c.run));
        out
    })
}

/// Which coordinates the context's subspace represents.
fn coordinates(run: &crate::run::Run) -> Coordinates {
    match run.subspace.kind() {
        _ if run.d <= run.k() => Coordinates::All,
        SubspaceKind::Identity => Coordinates::All,
        SubspaceKind::HessianEigenbasis => Coordinates::InvariantBasis,
        SubspaceKind::RandomOrthonormal => Coordinates::Subspace,
    }
}

/// The sections' checks in the context's own analysis subspace.
fn check_in(ctx: &Context) -> Checked {
    let th = ctx.thresholds;
    let curv = ctx.curvature();
    let q = curvature::noise_covariance(ctx);
    let lr = ctx.lr();
    let prim = curv.primary();
    let preds = prim.and_then(|p| {
        let sc = ou::stationary_cov_continuous(&p.a_sym, &q, lr).ok()?;
        let sd = ou::stationary_cov_discrete(&p.a_sym, &q, lr).ok()?;
        Some((p, sc, sd))
    });
    let mut tally = Tally::default();
    if prim.is_none() {
        tally.reasons.push(Reason::NoCurvature {
            why: curv.unavailable_reason(),
        });
    } else if preds.is_none() {
        tally.reasons.push(Reason::NoStationarySolution);
    }
    let window = curvature::trajectory_window(ctx);
    let (prediction, reshuffled, inapplicable) =
        choose_prediction(ctx, preds.as_ref(), &q, window.as_ref(), &mut tally);
    let inp = Inputs {
        ctx,
        tol: th.ou_prediction_max_rel_deviation,
        level: th.ci_level,
        z: ctx.z_simultaneous(1),
        lr,
        q,
        preds,
        window,
        prediction,
        reshuffled,
        approx: coordinates(ctx.run) == Coordinates::Subspace,
    };
    let stationary_covariance = covariance_part(&inp, &mut tally);
    if tally.pieces.is_empty() && prim.is_some() {
        let name = match inp.prediction {
            PredictionKind::Reshuffled => "covariance_ratio_reshuffled",
            _ => "covariance_ratio_discrete",
        };
        tally.pieces.push(untestable_piece(
            name,
            f64::NAN,
            super::Tolerance::ratio_within(inp.tol),
        ));
    }
    let fdr1 = fdr1_part(&inp, prim, &mut tally);
    let equipartition = equipartition_part(&inp, &mut tally);
    let msd = msd_part(&inp, &mut tally);
    let sampling_design =
        super::sampling_design::assess(ctx, prim.map(|p| &p.a_sym), inp.window.as_ref());
    tally
        .reasons
        .push(Reason::SamplingDesign(Box::new(sampling_design.clone())));
    let evidence = Evidence {
        sampling_design,
        prediction: inp.prediction,
        inapplicable,
        coordinates: coordinates(ctx.run),
        stationary_covariance,
        fdr1,
        equipartition,
        msd,
        curvature: curv.summary(),
    };
    let Tally {
        pieces,
        reasons,
        key_metrics,
        ..
    } = tally;
    let alpha = th.alpha;
    let tests = (!pieces.is_empty()).then(|| super::ToleranceTests::from_pieces(pieces, alpha));
    Checked {
        evidence,
        applied: Applied {
            max_rel_deviation: inp.tol,
            ci_level: inp.level,
        },
        decision: Decision {
            verdict: tests
                .as_ref()
                .map_or(Verdict::Inconclusive, |t| t.verdict(alpha)),
            reasons,
        },
        key_metrics,
        tests,
        basis: None,
    }
}

/// A covariance piece as the subspace approximation makes it: reported, not tested (p-values
/// removed, verdict inconclusive), when `inp.approx`; unchanged otherwise.
fn approximate(inp: &Inputs, piece: &mut super::PieceTest, v: &mut Verdict, tally: &mut Tally) {
    if inp.approx {
        piece.p_fail = None;
        piece.p_pass = None;
        *v = Verdict::Inconclusive;
        if !tally.reasons.contains(&Reason::SubspaceApproximation) {
            tally.reasons.push(Reason::SubspaceApproximation);
        }
    }
}

/// tr Σ̂ against the two predictions, with tr Σ̂'s interval (lo, hi, ESS) when it has one.
#[derive(Clone, Copy)]
struct TraceInterval {
    rd: f64,
    rc: f64,
    trd: f64,
    /// t/(t − 1), the unbiasing factor of the interval ends.
    f: f64,
    t: usize,
    closer: &'static str,
    iv: Option<(f64, f64, f64)>,
    /// (tr Σ̂ / tr Σ_reshuffled, tr Σ_reshuffled) under reshuffling.
    resh: Option<(f64, f64)>,
}

/// The covariance ratios' key metrics, verdict and reason; returns the ESS of the interval.
fn trace_metrics(inp: &Inputs, tr: &TraceInterval, tally: &mut Tally) -> Option<f64> {
    let (level, tol) = (inp.level, inp.tol);
    let TraceInterval {
        rd,
        rc,
        trd,
        f,
        t,
        closer,
        iv,
        resh,
    } = *tr;
    let mut md = KeyMetric::new(
        "covariance_ratio_discrete",
        "tr Σ̂ (trajectory) / tr Σ_discrete (exact discrete Lyapunov prediction)",
        rd,
    );
    if inp.prediction == PredictionKind::Discrete {
        md = md.tolerance(super::Tolerance::ratio_within(tol));
    }
    let mut mc = KeyMetric::new(
        "covariance_ratio_continuous",
        "tr Σ̂ (trajectory) / tr Σ_continuous (Mandt's continuous Lyapunov prediction)",
        rc,
    );
    let ess = iv.map(|x| x.2);
    if let Some((lo, hi, _)) = iv {
        // tr Σ̂ ± z·se: se(tr Σ̂) = f·(hi − lo)/(2z); every ratio shares se(log r) = se/tr Σ̂.
        let (z, alpha) = (inp.z, inp.ctx.thresholds.alpha);
        let se_tr = f * (hi - lo) / (2.0 * z);
        let tr_hat = rd * trd;
        let log_iv = |r: f64| {
            let s = se_tr / tr_hat;
            [r * (-z * s).exp(), r * (z * s).exp()]
        };
        let method = IntervalMethod::LogScaleZSdOverSqrtEss;
        let (dl, cl) = (log_iv(rd), log_iv(rc));
        md = md.ci_by(dl[0], dl[1], level, method);
        mc = mc.ci_by(cl[0], cl[1], level, method);
        if inp.prediction != PredictionKind::Discrete {
            tally.key_metrics.push(md);
            tally.key_metrics.push(mc);
            if let Some((rr, _)) = resh {
                reshuffled_metric(inp, rr, se_tr * rr / tr_hat, (rd, ess, t), tally);
            }
            return ess;
        }
        let (mut piece, _, mut v) = log_ratio_piece(
            "covariance_ratio_discrete",
            rd,
            se_tr * rd / tr_hat,
            z,
            tol,
            alpha,
        );
        approximate(inp, &mut piece, &mut v, tally);
        tally.pieces.push(piece);
        tally.verdicts.push(v);
        tally.reasons.push(Reason::Covariance {
            ratio_discrete: rd,
            interval_discrete: dl,
            ratio_continuous: rc,
            interval_continuous: cl,
            ess: ess.unwrap_or(f64::NAN),
            steps: t,
            closer,
            verdict: v,
        });
    } else {
        tally.reasons.push(Reason::CovarianceNoInterval);
    }
    tally.key_metrics.push(md);
    tally.key_metrics.push(mc);
    ess
}

/// The tested covariance ratio under reshuffling: key metric, verdict and reason.
fn reshuffled_metric(
    inp: &Inputs,
    rr: f64,
    se: f64,
    (rd, ess, steps): (f64, Option<f64>, usize),
    tally: &mut Tally,
) {
    let alpha = inp.ctx.thresholds.alpha;
    let (mut piece, iv, mut v) =
        log_ratio_piece("covariance_ratio_reshuffled", rr, se, inp.z, inp.tol, alpha);
    approximate(inp, &mut piece, &mut v, tally);
    let [lo, hi] = iv.unwrap_or([f64::NAN, f64::NAN]);
    tally.pieces.push(piece);
    tally.verdicts.push(v);
    tally.reasons.push(Reason::CovarianceReshuffled {
        ratio: rr,
        interval: [lo, hi],
        ratio_discrete: rd,
        ess: ess.unwrap_or(f64::NAN),
        steps,
        verdict: v,
    });
    tally.key_metrics.push(
        KeyMetric::new(
            "covariance_ratio_reshuffled",
            "tr Σ̂ (trajectory) / tr Σ_reshuffled (epoch-wise reshuffled SGD, mean over the epoch)",
            rr,
        )
        .ci_by(lo, hi, inp.level, IntervalMethod::LogScaleZSdOverSqrtEss)
        .tolerance(super::Tolerance::ratio_within(inp.tol)),
    );
}

/// Part 1, *Stationary covariance*: Σ̂ of the trajectory window (≥ 8 rows) against the predictions;
/// pushes a verdict only when tr Σ̂ has an interval. Cost O(T k² + k³).
fn covariance_part(inp: &Inputs, tally: &mut Tally) -> Option<StationaryCovariance> {
    let (p, sc, sd) = inp.preds.as_ref()?;
    let Some(win) = inp.window.as_ref().filter(|w| w.params.nrows() >= 8) else {
        tally.reasons.push(Reason::CovarianceNoTrajectory);
        return None;
    };
    let w = &win.params;
    let (t, k) = (w.nrows(), w.ncols());
    let mean = w.row_mean();
    let centred = DMatrix::from_fn(t, k, |i, j| w[(i, j)] - mean[j]);
    let sq: Vec<f64> = (0..t).map(|i| centred.row(i).norm_squared()).collect();
    let emp = centred.transpose() * &centred / (t as f64 - 1.0);
    let (tr_hat, iv) = mean_ess_interval(&sq, inp.z);
    // Centring at the window mean removes Var(θ̄) ≈ Σ_j s_j²/ESS_j from the trace (large when
    // the slowest mode has few independent excursions); add it back (first-order correction,
    // ESS of each coordinate's mean).
    let bias: f64 = (0..k)
        .map(|j| {
            let col: Vec<f64> = w.column(j).iter().cloned().collect();
            let var = emp[(j, j)];
            crate::stats::ess::effective_sample_size(&col).map_or(0.0, |e| var / e.ess.max(1.0))
        })
        .sum();
    let f = t as f64 / (t as f64 - 1.0);
    let tr_hat = tr_hat * f + bias;
    let iv = iv.map(|(lo, hi, e)| (lo + bias / f, hi + bias / f, e));
    let (trd, trc) = (sd.trace(), sc.trace());
    let (rd, rc) = (tr_hat / trd, tr_hat / trc);
    let gd = ou::covariance_gap(&emp, sd).ok();
    let gc = ou::covariance_gap(&emp, sc).ok();
    let closer = match (&gd, &gc) {
        (Some(a), Some(b)) if a.kl <= b.kl => "discrete",
        (Some(_), Some(_)) => "continuous",
        _ if (rd - 1.0).abs() <= (rc - 1.0).abs() => "discrete",
        _ => "continuous",
    };
    let trace = TraceInterval {
        rd,
        rc,
        trd,
        f,
        t,
        closer,
        iv,
        resh: inp
            .reshuffled
            .as_ref()
            .map(|r| (tr_hat / r.trace(), r.trace())),
    };
    let ess = trace_metrics(inp, &trace, tally);
    if p.source == "lag1" {
        tally.reasons.push(Reason::Circular);
    }
    Some(StationaryCovariance {
        a_source: p.source.into(),
        steps: t,
        effective_sample_size: ess,
        empirical: rows(&emp),
        discrete: rows(sd),
        continuous: rows(sc),
        trace_empirical: tr_hat,
        trace_centring_correction: bias,
        trace_ratio_discrete: rd,
        trace_ratio_continuous: rc,
        relative_frobenius_discrete: ou::relative_frobenius(&emp, sd).ok(),
        relative_frobenius_continuous: ou::relative_frobenius(&emp, sc).ok(),
        kl_discrete: gd.as_ref().map(|g| g.kl),
        kl_continuous: gc.as_ref().map(|g| g.kl),
        whitened_eigenvalues_discrete: gd.map(|g| g.whitened_eigenvalues),
        whitened_eigenvalues_continuous: gc.map(|g| g.whitened_eigenvalues),
        closer: closer.into(),
        circular: p.source == "lag1",
        reshuffled: inp.reshuffled.as_ref().map(rows),
        trace_ratio_reshuffled: inp.reshuffled.as_ref().map(|r| tr_hat / r.trace()),
    })
}

/// Mean gradient ḡ = mean of the checkpoint's gradient rows.
fn mean_gradient(c: &crate::run::Checkpoint) -> DVector<f64> {
    DVector::from_fn(c.theta.len(), |j, _| {
        c.grads.column(j).sum() / c.n.max(1) as f64
    })
}

/// Centre c: θ̂* = mean_i(θ_i − A⁻¹ḡ_i) from the primary curvature estimate when A is
/// invertible (the minimum under the quadratic model; during a drift it is where the run is
/// heading, so every batch shows the same sign of deviation), else `None` (the mean position).
fn fdr1_centre(ctx: &Context, prim: Option<&curvature::Estimate>) -> Option<DVector<f64>> {
    let run = ctx.run;
    let (k, m) = (run.k(), run.checkpoints.len());
    let inv = prim?.a_sym.clone().try_inverse()?;
    let mut c = DVector::zeros(k);
    for ck in &run.checkpoints {
        c += &ck.theta - &inv * mean_gradient(ck);
    }
    let c = c / m.max(1) as f64;
    c.iter().all(|x| x.is_finite()).then_some(c)
}

/// FDR1 series (O_L, O_R) from the trajectory window when it has ≥ 64 consecutive steps (exact
/// minibatch gradients ĝ_t = (θ_t − θ_{t+1})/ε).
fn fdr1_from_trajectory(
    inp: &Inputs,
    centre: Option<&DVector<f64>>,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let win = inp.window.as_ref()?;
    let t = win.params.nrows();
    let consecutive = win.steps.windows(2).all(|w| w[1] == w[0] + 1);
    if !(consecutive && t >= 64) {
        return None;
    }
    let (w, lr) = (&win.params, inp.lr);
    let c = centre.map_or_else(|| w.row_mean(), |c| c.transpose());
    let mut ol = Vec::with_capacity(t - 1);
    let mut or = Vec::with_capacity(t - 1);
    for i in 0..t - 1 {
        let g = (w.row(i) - w.row(i + 1)) / lr;
        ol.push((w.row(i) - &c).dot(&g));
        or.push(0.5 * lr * g.norm_squared());
    }
    Some((ol, or))
}

/// FDR1 series (O_L, O_R) at the checkpoints (needs ≥ 4).
fn fdr1_from_checkpoints(
    inp: &Inputs,
    centre: Option<&DVector<f64>>,
) -> Option<(Vec<f64>, Vec<f64>)> {
    let ctx = inp.ctx;
    let run = ctx.run;
    let (k, m) = (run.k(), run.checkpoints.len());
    if m < 4 {
        return None;
    }
    let mut theta_bar = DVector::zeros(k);
    for c in &run.checkpoints {
        theta_bar += &c.theta;
    }
    theta_bar /= m as f64;
    // The sample-mean centring bias factor m/(m − 1) applies only to θ̄.
    let factor = if centre.is_some() {
        1.0
    } else {
        m as f64 / (m as f64 - 1.0)
    };
    let theta_bar = centre.cloned().unwrap_or(theta_bar);
    let mut ol = Vec::with_capacity(m);
    let mut or = Vec::with_capacity(m);
    for (i, c) in run.checkpoints.iter().enumerate() {
        let g = mean_gradient(c);
        ol.push(factor * (&c.theta - &theta_bar).dot(&g));
        let tr_q = curvature::noise_covariance_at(ctx, i).trace();
        or.push(0.5 * inp.lr * (g.norm_squared() + tr_q));
    }
    Some((ol, or))
}

/// Part 2, *Yaida FDR1*: from the trajectory when its window has consecutive steps, else at the
/// checkpoints; the first source with a batch-means interval decides. Cost O(T k + m n k).
fn fdr1_part(inp: &Inputs, prim: Option<&curvature::Estimate>, tally: &mut Tally) -> Fdr1 {
    let centre = fdr1_centre(inp.ctx, prim);
    let centre_source = if centre.is_some() {
        "quadratic_model_minimum"
    } else {
        "mean_position"
    };
    let mut out = Fdr1 {
        trajectory: None,
        checkpoints: None,
        primary: None,
    };
    let mut primary = None;
    let sources = [
        (fdr1_from_trajectory(inp, centre.as_ref()), "trajectory"),
        (fdr1_from_checkpoints(inp, centre.as_ref()), "checkpoints"),
    ];
    for (series, src) in sources {
        let Some((ol, or)) = series else { continue };
        let n = ol.len();
        let mr = or.iter().sum::<f64>() / n as f64;
        let ml = ol.iter().sum::<f64>() / n as f64;
        let res = batch_ratio_interval(&ol, &or, inp.level).filter(|_| mr > 0.0);
        if primary.is_none() {
            primary = res.map(|(d, dlo, dhi, nb)| (src, n, d, dlo, dhi, nb));
        }
        let entry = Fdr1Entry {
            samples: n,
            batches: res.map(|r| r.3),
            centre: res.map(|_| centre_source.to_string()),
            mean_o_left: ml,
            mean_o_right: mr,
            relative_deviation: res.map(|r| r.0),
            interval: res.map(|r| [r.1, r.2]),
        };
        match src {
            "trajectory" => out.trajectory = Some(entry),
            _ => out.checkpoints = Some(entry),
        }
    }
    let Some((src, n, d, dlo, dhi, nb)) = primary else {
        tally.reasons.push(Reason::Fdr1NoData);
        return out;
    };
    let tq = StudentsT::new(0.0, 1.0, (nb - 1) as f64)
        .map_or(f64::NAN, |t| t.inverse_cdf(0.5 + inp.level / 2.0));
    let se = (dhi - dlo) / (2.0 * tq);
    let (piece, v) = abs_t_piece(
        "fdr1_relative_deviation",
        d,
        se,
        (nb - 1) as f64,
        inp.tol,
        inp.ctx.thresholds.alpha,
    );
    tally.pieces.push(piece);
    tally.verdicts.push(v);
    tally.reasons.push(Reason::Fdr1 {
        source: src,
        samples: n,
        deviation: d,
        interval: [dlo, dhi],
        batches: nb,
        verdict: v,
    });
    tally.key_metrics.push(
        KeyMetric::new(
            "fdr1_relative_deviation",
            "Yaida FDR1: ⟨(θ − θ̄)·ĝ⟩ / ⟨(ε/2)‖ĝ‖²⟩ − 1 (a stationarity test)",
            d,
        )
        .ci_by(dlo, dhi, inp.level, IntervalMethod::BatchMeansT)
        .tolerance(super::Tolerance::abs_at_most(inp.tol)),
    );
    out.primary = Some(src.into());
    out
}

/// Part 3, *Equipartition*, when the subspace is the whole parameter space, every checkpoint has
/// losses and A is invertible. Cost O(m k² + k³).
fn equipartition_part(inp: &Inputs, tally: &mut Tally) -> Option<Equipartition> {
    let (p, _, sd) = inp.preds.as_ref()?;
    let run = inp.ctx.run;
    let (k, m) = (run.k(), run.checkpoints.len());
    let identity = run.subspace.kind() == SubspaceKind::Identity || run.d <= k;
    let ck_losses: Vec<Option<f64>> = run
        .checkpoints
        .iter()
        .map(|c| {
            c.losses
                .as_ref()
                .filter(|l| !l.is_empty())
                .map(|l| l.iter().sum::<f64>() / l.len() as f64)
        })
        .collect();
    if !identity {
        tally.reasons.push(Reason::EquipartitionNotFullSpace);
        return None;
    }
    let inv = p.a_sym.clone().try_inverse();
    let (Some(inv), true) = (inv, ck_losses.iter().all(|l| l.is_some())) else {
        tally.reasons.push(Reason::EquipartitionNoLossesOrSingular);
        return None;
    };
    let lstar: Vec<f64> = run
        .checkpoints
        .iter()
        .zip(&ck_losses)
        .map(|(c, l)| {
            let g = mean_gradient(c);
            l.unwrap_or(f64::NAN) - 0.5 * (g.transpose() * &inv * &g)[(0, 0)]
        })
        .collect();
    let ls = lstar.iter().sum::<f64>() / m as f64;
    let series: Vec<f64> = match &inp.window {
        Some(curvature::Window {
            losses: Some(l), ..
        }) if l.len() >= 8 => l.clone(),
        _ => ck_losses.iter().map(|l| l.unwrap_or(f64::NAN)).collect(),
    };
    let (el, iv) = mean_ess_interval(&series, inp.z);
    let pred_c = 0.25 * inp.lr * inp.q.trace();
    // ½tr(AΣ) for a quadratic loss; for the discrete Σ it equals (ε/4)tr Q + (ε/4)tr(AΣ_dA).
    let pred_d = match (inp.prediction, &inp.reshuffled) {
        (PredictionKind::Discrete, _) => {
            pred_c + 0.25 * inp.lr * (&p.a_sym * sd * &p.a_sym).trace()
        }
        (PredictionKind::Reshuffled, Some(r)) => 0.5 * (&p.a_sym * r).trace(),
        _ => return None,
    };
    let excess = el - ls;
    let r = excess / pred_d;
    let mut km = KeyMetric::new(
        "equipartition_ratio",
        "(E[L] − L*) / ((ε/4)tr Q + (ε/4)tr(AΣ_dA)), L* from the quadratic model at the checkpoints",
        r,
    )
    .tolerance(super::Tolerance::ratio_within(inp.tol));
    if let (Some((lo, hi, ess)), true) = (iv, pred_d > 0.0) {
        let se = (hi - lo) / (2.0 * inp.z * pred_d);
        let alpha = inp.ctx.thresholds.alpha;
        let (piece, log_iv, v) =
            log_ratio_piece("equipartition_ratio", r, se, inp.z, inp.tol, alpha);
        let (rlo, rhi) = match log_iv {
            Some([a, b]) => (a, b),
            None => ((lo - ls) / pred_d, (hi - ls) / pred_d),
        };
        let method = if log_iv.is_some() {
            IntervalMethod::LogScaleZSdOverSqrtEss
        } else {
            IntervalMethod::MeanZSdOverSqrtEss
        };
        km = km.ci_by(rlo, rhi, inp.level, method);
        tally.pieces.push(piece);
        tally.verdicts.push(v);
        tally.reasons.push(Reason::Equipartition {
            ratio: r,
            interval: [rlo, rhi],
            ess,
            verdict: v,
        });
    }
    tally.key_metrics.push(km);
    Some(Equipartition {
        mean_loss: el,
        l_star: ls,
        l_star_per_checkpoint: lstar,
        excess,
        predicted_continuous: pred_c,
        predicted_discrete: pred_d,
        ratio_discrete: r,
        ratio_continuous: excess / pred_c,
        series_length: series.len(),
    })
}

/// Part 4, *Mean squared displacement* of the trajectory window at lags 1, 2, 4, … up to T/4 (needs
/// T/4 ≥ 4), with the OU prediction when there is one. Descriptive. Cost O(T L k).
fn msd_part(inp: &Inputs, tally: &mut Tally) -> Option<Msd> {
    let w = &inp.window.as_ref()?.params;
    let (t, k) = (w.nrows(), w.ncols());
    let tmax = t / 4;
    if tmax < 4 {
        return None;
    }
    let mut lags = vec![1usize];
    while lags[lags.len() - 1] * 2 <= tmax {
        lags.push(lags[lags.len() - 1] * 2);
    }
    if lags[lags.len() - 1] != tmax {
        lags.push(tmax);
    }
    let msd: Vec<f64> = lags
        .iter()
        .map(|&l| {
            (0..t - l)
                .map(|i| (w.row(i + l) - w.row(i)).norm_squared())
                .sum::<f64>()
                / (t - l) as f64
        })
        .collect();
    let q4 = lags.iter().position(|&l| l * 4 >= tmax).unwrap_or(0);
    let last = lags.len() - 1;
    let expo = (msd[last] / msd[q4]).ln() / (lags[last] as f64 / lags[q4] as f64).ln();
    let discrete = inp.prediction == PredictionKind::Discrete;
    let predicted: Option<Vec<f64>> = inp.preds.as_ref().filter(|_| discrete).map(|(p, _, sd)| {
        let f = DMatrix::identity(k, k) - &p.a_sym * inp.lr;
        lags.iter()
            .map(|&l| 2.0 * sd.trace() - 2.0 * (f.pow(l as u32) * sd).trace())
            .collect()
    });
    tally.reasons.push(Reason::Msd {
        exponent: expo,
        from_lag: lags[q4],
        to_lag: lags[last],
    });
    tally.key_metrics.push(KeyMetric::new(
        "msd_growth_exponent",
        "log(MSD(τ_max)/MSD(τ_max/4))/log 4 on the trajectory window (descriptive)",
        expo,
    ));
    Some(Msd {
        lags,
        msd,
        predicted,
        growth_exponent: expo,
    })
}
