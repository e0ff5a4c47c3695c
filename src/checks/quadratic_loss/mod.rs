//! Assumption 4: the loss is quadratic where the stationary distribution lives, so that
//! ∇L(θ) ≈ A(θ − θ̂) with a constant, positive-definite A.
//!
//! **Evidence**, each used when the run provides what it needs (the report says which):
//!
//! * *Hessian constancy* (needs hessian.npy at ≥ 2 checkpoints): R_H = max_i ‖H_i − H̄‖_F / ‖H̄‖_F
//!   of the projected Hessians P H_i Pᵀ. hessian.npy is taken as exact, so R_H has no interval.
//!   The relative change of the top eigenvalue is reported alongside (informative).
//! * *Gradient linearity*: the mean gradients ḡ_i at the checkpoints against a linear model
//!   ḡ_i = A θ_i + b. With Hessians, A = H̄ is fixed and only b is fitted (p = 1 parameter per
//!   coordinate); without, A and b are fitted by least squares (p = k + 1, needs m ≥ k + 2
//!   checkpoints). The effect is the unexplained fraction
//!   U = (RSS − ν_R) / (TSS − ν_T), RSS = Σ_i ‖ḡ_i − A θ_i − b‖², TSS = Σ_i ‖ḡ_i − mean ḡ‖²,
//!   where ν_R = (m − p)/m · Σ_i s_i and ν_T = (m − 1)/m · Σ_i s_i remove the expected sampling
//!   noise s_i = E‖ḡ_i − g(θ_i)‖² of each mean gradient (zero when all N examples were used:
//!   s_i = tr Ĉ_i (N − n_i)/(n_i (N − 1)) for per-example rows). Its interval comes from a
//!   bootstrap over checkpoints (percentile, B resamples).
//! * *Loss against the quadratic model* (needs k = d): trajectory losses (or exact checkpoint mean
//!   losses) against c + bᵀθ + ½θᵀAθ, A fitted when there are ≥ 10·q losses, else fixed; effect
//!   RSS/TSS with a moving-block bootstrap interval ([`loss_model_evidence`]).
//! * *Loss probes* (probe_*.npy): along each probe direction, the error of the best quadratic over
//!   ±c stationary sd of the iterates, relative to the loss range there, with an interval from the
//!   uncertainty of the sd ([`probe_evidence`]).
//! * *Curvature sign*: the eigenvalues of H̄ (else of the curvature module's primary estimate of A,
//!   else of the fitted A), per direction, and the fitted curvature along each probe. A flat or
//!   concave direction has no OU stationary law along it.
//!
//! **Verdict**: fail when any available piece of evidence fails (by the common rule against its
//! tolerance, or a non-positive curvature from the Hessian or a probe); pass when every available
//! piece passes; inconclusive when none is available or one is undecided. docs/methods.md,
//! section 4, has the rule and the reason for every threshold.
//!
//! Cost: O(B m k³) for the bootstrap of the gradient fit, O(T q² + B (T/b·q² + q³)) for the loss
//! model (q = 1 + k + k(k+1)/2 coefficients, block length b), O(J p) per region width for J probe
//! directions with p offsets.

use nalgebra::DMatrix;
use rand::RngExt;

use super::{Context, IntervalMethod, KeyMetric, PieceTest, ToleranceTests, Verdict};
use crate::linalg::{lstsq, sym_eigen_full};
use crate::run::GradientKind;
use crate::stats::descriptive::quantile_sorted;

mod evidence;
mod reset;
pub use evidence::{
    Applied, CurvatureSign, Evidence, GradientLinearity, HessianConstancy, LossModel, LossProbes,
    ProbeDirection,
};
pub use reset::{Reset, RESET_MAX_NONLINEAR_SHARE, RESET_ROWS_PER_COEFFICIENT};

/// Why the verdict is what it is: one entry per piece of evidence, carrying its numbers (the
/// words are written by `report::narrate::quadratic_loss`).
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Hessian constancy: the largest relative change against its tolerance.
    Hessian {
        checkpoints: usize,
        change: f64,
        within: bool,
        tolerance: f64,
    },
    /// Gradient linearity: the mean gradients do not vary beyond their sampling noise.
    GradientNoVariation,
    /// Gradient linearity: the unexplained fraction with its bootstrap interval. `decides` is
    /// false in a subspace that is not A-invariant (a "subspace approximation": the fit omits
    /// P A (I − PᵀP) θ), where it informs only.
    GradientLinearity {
        unexplained: f64,
        hessian_a: bool,
        decides: bool,
        level: f64,
        interval: [f64; 2],
        tolerance: f64,
    },
    /// Curvature sign: the eigen-decomposition failed.
    NoEigenvalues { error: String },
    /// Curvature sign: a non-positive eigenvalue.
    NonPositiveCurvature { min_eigenvalue: f64 },
    /// Loss probes: no direction has 5 offsets inside the region.
    ProbesOutsideRegion { region_sds: f64 },
    /// Loss probes: the largest quadratic error with its interval, and the directions whose
    /// offsets do not span the region or whose curvature is non-positive.
    Probes {
        error: f64,
        interval: [f64; 2],
        level: f64,
        region_sds: f64,
        directions: usize,
        checkpoints: usize,
        tolerance: f64,
        undecided: Vec<String>,
        concave: Vec<String>,
    },
    /// Loss model: the unexplained fraction with its block-bootstrap interval.
    LossModel {
        unexplained: f64,
        losses: &'static str,
        a_label: String,
        level: f64,
        interval: [f64; 2],
        tolerance: f64,
    },
    /// The loss model with A fixed to an estimate leaves more than the whole variation
    /// unexplained (RSS/TSS > 1): the estimate of A is inconsistent with the data, which says
    /// nothing about the shape of the loss. Never fails the check.
    InconsistentA { unexplained: f64, a_label: String },
    /// A loss model or curvature sign computed from an estimate of A that may not decide
    /// (`Estimate::decides` false): shown, never fails.
    InformativeA { source: String, what: &'static str },
    /// RESET in a subspace that is not A-invariant: partial R² of ŷ², ŷ³ with its interval.
    Reset {
        share: f64,
        losses: &'static str,
        rows: usize,
        level: f64,
        interval: [f64; 2],
        tolerance: f64,
    },
    /// No piece of evidence could be computed.
    NoEvidence,
}

/// The verdict and why.
pub type Decision = super::Decision<Reason>;

/// The typed outcome of the check, for the narration (`report::narrate::quadratic_loss`).
#[derive(Debug, Clone)]
pub struct Checked {
    pub evidence: Evidence,
    pub applied: Applied,
    pub decision: Decision,
    pub key_metrics: Vec<KeyMetric>,
    /// The tolerance tests behind the verdict (`None` when no piece of evidence exists).
    pub tests: Option<ToleranceTests>,
}

/// The check's verdict from its pieces' tolerance tests (issue 15): fail when the Holm-adjusted
/// one-sided fail test over the pieces rejects at α, pass when every piece's equivalence test
/// rejects (intersection–union), else inconclusive ("leaning fail" when an estimate is beyond
/// its tolerance). Inconclusive, with [`Reason::NoEvidence`] appended, without pieces.
pub fn decide_check(
    pieces: Vec<PieceTest>,
    mut reasons: Vec<Reason>,
    alpha: f64,
) -> (Decision, Option<ToleranceTests>) {
    if pieces.is_empty() {
        reasons.push(Reason::NoEvidence);
        let verdict = Verdict::Inconclusive;
        return (Decision { verdict, reasons }, None);
    }
    let tests = ToleranceTests::from_pieces(pieces, alpha);
    let verdict = tests.verdict(alpha);
    (Decision { verdict, reasons }, Some(tests))
}

/// The tolerance test of an asymptotically normal estimate with standard error `se` (z tests,
/// [`crate::stats::onesided::z_upper`]): p_fail = Φ̄((ê − δ)/se) for H₀: e ≤ δ, p_pass =
/// Φ̄((δ − ê)/se) for H₀: e ≥ δ. se = 0 (an exact estimate) is floored at 10⁻¹²·δ, which gives
/// p ∈ {0, 1}; a non-finite estimate or se leaves the piece untested (`None`). Cost: O(1).
pub fn z_piece(name: &str, estimate: f64, se: f64, tol: f64) -> PieceTest {
    use crate::stats::onesided::{norm_sf, z_upper};
    let se = if se.is_finite() {
        se.max(1e-12 * tol.max(f64::MIN_POSITIVE))
    } else {
        f64::NAN
    };
    let z = z_upper(estimate, se, tol).ok();
    PieceTest {
        name: name.into(),
        estimate,
        tolerance: super::Tolerance::at_most(tol),
        beyond: estimate > tol,
        p_fail: z.map(|z| z.p_value),
        p_pass: z.map(|z| norm_sf(-z.statistic)),
    }
}

/// A piece that could not be tested: blocks a pass, never fails.
fn untested(name: &str, estimate: f64, tol: f64) -> PieceTest {
    PieceTest {
        name: name.into(),
        estimate,
        tolerance: super::Tolerance::at_most(tol),
        beyond: false,
        p_fail: None,
        p_pass: None,
    }
}

/// Sample standard deviation (divisor n − 1; NaN for fewer than 2 values).
fn sd(v: &[f64]) -> f64 {
    crate::stats::descriptive::Moments::new(v).variance().sqrt()
}

/// What the check has gathered so far: tolerance tests, reasons and headline metrics of the
/// pieces.
#[derive(Default)]
struct Tally {
    pieces: Vec<PieceTest>,
    reasons: Vec<Reason>,
    key_metrics: Vec<KeyMetric>,
}

/// Runs the check.
///
/// With a Hessian eigenbasis (`Run.invariant`) the whole check runs in it: there gradient
/// linearity has no omitted term and decides, and RESET is not needed (docs/methods.md,
/// "Analysis bases"). When that basis carries only basis/'s eigenvalues (no per-checkpoint
/// Hessian), Hessian constancy is unavailable rather than trivially constant.
pub fn check(ctx: &Context) -> Checked {
    match ctx.run.invariant_view() {
        std::borrow::Cow::Borrowed(_) => check_in(ctx),
        std::borrow::Cow::Owned(mut view) => {
            let eigenvalues_only = ctx
                .run
                .invariant
                .as_ref()
                .is_some_and(|i| i.curvature_from_eigenvalues);
            if eigenvalues_only {
                view.checkpoints.iter_mut().for_each(|c| c.hessian = None);
            }
            check_in(&Context::new(&view, ctx.seed, ctx.thresholds))
        }
    }
}

fn check_in(ctx: &Context) -> Checked {
    let th = ctx.thresholds;
    let applied = Applied {
        max_unexplained_fraction: th.quadratic_max_unexplained,
        max_hessian_change: th.quadratic_max_hessian_change,
        max_probe_error: th.quadratic_max_probe_error,
        region_sds: th.quadratic_region_sds,
        max_loss_unexplained: th.quadratic_max_loss_unexplained,
        ci_level: th.ci_level,
    };
    let mut tally = Tally::default();
    let (hessian_constancy, h_bar) = hessian_part(ctx, &mut tally);
    let (gradient_linearity, a_fit) = gradient_part(ctx, h_bar.as_ref(), &mut tally);

    // A for the loss model and the curvature sign: the mean Hessian, else the first estimate of
    // the curvature module that may decide (`Curvature::deciding`), else the primary (informs
    // only), else the fitted A above (decides only in an A-invariant subspace).
    let invariant = ctx.run.subspace.kind().is_invariant();
    let mut curvature_matrix = h_bar.or(a_fit);
    let have_h = hessian_constancy.available;
    let mut a_source = if have_h { "hessian" } else { "least_squares" };
    let mut a_decides = have_h || invariant;
    let mut a_range = [1.0, 1.0];
    if !have_h {
        let curv = ctx.curvature();
        if let Some(e) = curv.deciding().or(curv.primary()) {
            curvature_matrix = Some(e.a_sym.clone());
            a_source = e.source;
            a_decides = e.decides;
            let raw = e.eigenvalues.first().copied().unwrap_or(f64::NAN);
            a_range = e.lambda_max_interval.map(|l| l / raw);
        }
    }
    let a = curvature_matrix.as_ref().map(|a| (a, a_source, a_range));
    let lm = loss_model_evidence(ctx, a);
    let loss_model = tally.take(informative_unless(lm, a_decides, a_source, "loss model"));
    let lp = probe_evidence(ctx);
    let loss_probes = tally.take(lp);
    let reset = reset::reset_evidence(ctx).map(|r| tally.take(r));
    let curvature = curvature_part(curvature_matrix.as_ref(), a_source, a_decides, &mut tally);

    let Tally {
        pieces,
        reasons,
        key_metrics,
    } = tally;
    let (decision, tests) = decide_check(pieces, reasons, th.alpha);
    Checked {
        evidence: Evidence {
            hessian_constancy,
            gradient_linearity,
            loss_model,
            loss_probes,
            curvature,
            reset,
        },
        applied,
        decision,
        key_metrics,
        tests,
    }
}

impl Tally {
    /// Records a part's verdict, reason and metric; returns its details.
    fn take<D>(&mut self, p: PartEvidence<D>) -> D {
        self.pieces.extend(p.piece);
        self.reasons.extend(p.reason);
        self.key_metrics.extend(p.metric);
        p.details
    }
}

/// Symmetric part (H + Hᵀ)/2.
fn sym(h: &DMatrix<f64>) -> DMatrix<f64> {
    (h + h.transpose()) * 0.5
}

/// *Hessian constancy*: R_H against its tolerance, and the mean Hessian H̄ (symmetrised) when
/// at least 2 checkpoints have one. Cost O(m k³).
fn hessian_part(ctx: &Context, tally: &mut Tally) -> (HessianConstancy, Option<DMatrix<f64>>) {
    let th = ctx.thresholds;
    let k = ctx.run.k();
    let hessians: Vec<&DMatrix<f64>> = ctx
        .run
        .checkpoints
        .iter()
        .filter_map(|c| c.hessian.as_ref())
        .collect();
    if hessians.len() < 2 {
        return (
            HessianConstancy::unavailable("hessian.npy present at fewer than 2 checkpoints"),
            None,
        );
    }
    let mut h_bar = DMatrix::zeros(k, k);
    for h in &hessians {
        h_bar += *h;
    }
    h_bar /= hessians.len() as f64;
    let h_bar = sym(&h_bar);
    let norm = h_bar.norm();
    let changes: Vec<f64> = hessians
        .iter()
        .map(|h| (*h - &h_bar).norm() / norm)
        .collect();
    let r_h = changes.iter().cloned().fold(0.0, f64::max);
    // Top eigenvalue of each checkpoint's Hessian against that of the mean Hessian; NaN
    // (reported as null) when the capped decomposition fails; informative only.
    let top = |h: &DMatrix<f64>| sym_eigen_full(&sym(h)).map_or(f64::NAN, |e| e.eigenvalues.max());
    let min_eig =
        |h: &DMatrix<f64>| sym_eigen_full(&sym(h)).map_or(f64::NAN, |e| e.eigenvalues.min());
    let top_bar = top(&h_bar);
    let top_each: Vec<f64> = hessians.iter().map(|h| top(h)).collect();
    let min_each: Vec<f64> = hessians.iter().map(|h| min_eig(h)).collect();
    let top_change = top_each
        .iter()
        .map(|t| (t - top_bar).abs() / top_bar.abs().max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max);
    let tol = th.quadratic_max_hessian_change;
    let mut star = hessian_bootstrap(ctx, &hessians);
    let (lo, hi) = percentile_interval(&mut star, r_h, th.ci_level, 0.0);
    tally
        .pieces
        .push(z_piece("hessian_rel_change", r_h, sd(&star), tol));
    tally.reasons.push(Reason::Hessian {
        checkpoints: hessians.len(),
        change: r_h,
        within: r_h <= tol,
        tolerance: tol,
    });
    tally.key_metrics.push(
        KeyMetric::new(
            "hessian_rel_change",
            "largest relative Frobenius change of the projected Hessian from its mean across \
             checkpoints",
            r_h,
        )
        .ci_by(lo, hi, th.ci_level, IntervalMethod::PercentileBootstrap)
        .tolerance(super::Tolerance::at_most(tol)),
    );
    tally.key_metrics.push(KeyMetric::new(
        "hessian_top_eigenvalue_change",
        "largest relative change of the top eigenvalue of the projected Hessian from that of \
             the mean Hessian (informative)",
        top_change,
    ));
    let ev = HessianConstancy {
        available: true,
        reason: None,
        checkpoints: Some(hessians.len()),
        max_rel_change: Some(r_h),
        per_checkpoint: Some(changes),
        top_eigenvalue_of_mean: Some(top_bar),
        top_eigenvalue_per_checkpoint: Some(top_each),
        max_rel_change_top_eigenvalue: Some(top_change),
        min_eigenvalue_per_checkpoint: Some(min_each),
    };
    (ev, Some(h_bar))
}

/// R_H = max_i ‖H_i − H̄‖_F/‖H̄‖_F of Hessians (H̄ their symmetrised mean; NaN when H̄ = 0).
fn r_h_of(hessians: &[&DMatrix<f64>]) -> f64 {
    let k = hessians[0].nrows();
    let mut h_bar = DMatrix::zeros(k, k);
    for h in hessians {
        h_bar += *h;
    }
    let h_bar = sym(&(h_bar / hessians.len() as f64));
    let norm = h_bar.norm();
    hessians
        .iter()
        .map(|h| (*h - &h_bar).norm() / norm)
        .fold(0.0, f64::max)
}

/// Percentile bootstrap of R_H over the Hessian checkpoints (resampled with replacement,
/// B = max(20, `bootstrap_resamples`), stream `quadratic_loss/hessian_bootstrap`): the
/// uncertainty of where the checkpoints lie (hessian.npy itself is exact). Non-finite
/// replicates are dropped. Cost: O(B m k²).
fn hessian_bootstrap(ctx: &Context, hessians: &[&DMatrix<f64>]) -> Vec<f64> {
    let m = hessians.len();
    let mut rng = ctx.rng("quadratic_loss/hessian_bootstrap");
    (0..ctx.thresholds.bootstrap_resamples.max(20))
        .filter_map(|_| {
            let pick: Vec<&DMatrix<f64>> =
                (0..m).map(|_| hessians[rng.random_range(0..m)]).collect();
            Some(r_h_of(&pick)).filter(|v| v.is_finite())
        })
        .collect()
}

/// Expected sampling noise s_i = E‖ḡ_i − g(θ_i)‖² of each checkpoint's mean gradient.
fn mean_gradient_noise(ctx: &Context) -> Vec<f64> {
    let run = ctx.run;
    let n_total = run.manifest.dataset_size as f64;
    run.checkpoints
        .iter()
        .map(|c| {
            let n = c.n as f64;
            let tr = crate::stats::descriptive::covariance_matrix(&c.grads).trace();
            match run.manifest.gradients {
                GradientKind::PerExample => tr * ((n_total - n).max(0.0)) / (n * (n_total - 1.0)),
                GradientKind::Minibatch => tr / n,
            }
        })
        .collect()
}

/// *Gradient linearity*: U with its percentile-bootstrap interval over checkpoints, and the
/// fitted A (symmetrised) when A was fitted. Cost O(B m k³).
fn gradient_part(
    ctx: &Context,
    h_bar: Option<&DMatrix<f64>>,
    tally: &mut Tally,
) -> (GradientLinearity, Option<DMatrix<f64>>) {
    let th = ctx.thresholds;
    let cps = &ctx.run.checkpoints;
    let (k, m) = (ctx.run.k(), cps.len());
    let positions = DMatrix::from_fn(m, k, |i, j| cps[i].theta[j]);
    let grads = DMatrix::from_fn(m, k, |i, j| cps[i].grads.column(j).mean());
    let noise = mean_gradient_noise(ctx);
    let p = if h_bar.is_some() { 1 } else { k + 1 };
    if m <= p {
        let reason = format!(
            "{m} checkpoints; fitting A and θ̂ in k = {k} dimensions needs at least {}, or \
             hessian.npy at the checkpoints",
            p + 1
        );
        return (GradientLinearity::unavailable(reason, None), None);
    }
    let fit = |rows: &[usize]| linear_fit(&positions, &grads, &noise, rows, h_bar);
    let all: Vec<usize> = (0..m).collect();
    let Some((u, a_fit)) = fit(&all) else {
        let tol = th.quadratic_max_unexplained;
        if ctx.run.subspace.kind().is_invariant() {
            tally
                .pieces
                .push(untested("unexplained_gradient_fraction", f64::NAN, tol));
        }
        tally.reasons.push(Reason::GradientNoVariation);
        let reason = "no variation of the mean gradient beyond its sampling noise";
        return (GradientLinearity::unavailable(reason, Some(noise)), None);
    };
    let mut rng = ctx.rng("quadratic_loss/bootstrap");
    let mut us = Vec::new();
    for _ in 0..th.bootstrap_resamples.max(20) {
        let rows: Vec<usize> = (0..m).map(|_| rng.random_range(0..m)).collect();
        let mut distinct = rows.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() < p + 1 {
            continue;
        }
        if let Some((ub, _)) = fit(&rows) {
            us.push(ub);
        }
    }
    let (lo, hi) = centred_interval(&mut us, u, th.ci_level);
    let tol = th.quadratic_max_unexplained;
    // In a subspace that is not A-invariant the fit omits P A (I − PᵀP) θ: informative only.
    let decides = ctx.run.subspace.kind().is_invariant();
    if decides {
        tally
            .pieces
            .push(z_piece("unexplained_gradient_fraction", u, sd(&us), tol));
    }
    tally.reasons.push(Reason::GradientLinearity {
        unexplained: u,
        hessian_a: h_bar.is_some(),
        decides,
        level: th.ci_level,
        interval: [lo, hi],
        tolerance: tol,
    });
    tally.key_metrics.push(
        KeyMetric::new(
            "unexplained_gradient_fraction",
            "fraction of the variation of the mean gradient across checkpoints not \
             explained by ∇L = A(θ − θ̂), sampling noise removed",
            u,
        )
        .ci_by(lo, hi, th.ci_level, IntervalMethod::CentredBootstrap)
        .tolerance(super::Tolerance::at_most(tol)),
    );
    let ev = GradientLinearity {
        available: true,
        reason: None,
        a_source: Some(
            if h_bar.is_some() {
                "hessian"
            } else {
                "least_squares"
            }
            .into(),
        ),
        checkpoints: Some(m),
        unexplained_fraction: Some(u),
        ci: Some(vec![lo, hi]),
        bootstrap_resamples_used: Some(us.len()),
        mean_gradient_noise: Some(noise),
        subspace_approximation: (!decides).then_some(true),
    };
    (ev, a_fit.map(|a| sym(&a)))
}

/// Centred (basic) bootstrap interval [2û − q_{1−a/2}(u*), 2û − q_{a/2}(u*)] of the values `us`
/// (sorted here) around `est` (Davison & Hinkley 1997, §5.2.1): it corrects the percentile
/// interval's drift when the bootstrap distribution is shifted from û; (−∞, +∞) with fewer
/// than 10 values. Cost: O(B log B).
fn centred_interval(us: &mut [f64], est: f64, level: f64) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    let a = 1.0 - level;
    if us.len() >= 10 {
        (
            2.0 * est - quantile_sorted(us, 1.0 - a / 2.0),
            2.0 * est - quantile_sorted(us, a / 2.0),
        )
    } else {
        (f64::NEG_INFINITY, f64::INFINITY)
    }
}

/// Percentile interval of the bootstrap values `us` (sorted here), widened to contain `est`;
/// (`lo_missing`, +∞) with fewer than 10 values.
fn percentile_interval(us: &mut [f64], est: f64, level: f64, lo_missing: f64) -> (f64, f64) {
    us.sort_by(f64::total_cmp);
    let a = 1.0 - level;
    if us.len() >= 10 {
        (
            quantile_sorted(us, a / 2.0).min(est),
            quantile_sorted(us, 1.0 - a / 2.0).max(est),
        )
    } else {
        (lo_missing, f64::INFINITY)
    }
}

/// *Curvature sign*: eigenvalues of the curvature matrix; a non-positive one fails the check
/// when the matrix is the (exact) mean Hessian, else leaves it undecided; from an estimate that
/// may not decide (`decides` false) it is reported only. Cost O(k³).
fn curvature_part(
    a: Option<&DMatrix<f64>>,
    a_source: &str,
    decides: bool,
    tally: &mut Tally,
) -> Option<CurvatureSign> {
    let eig = match sym_eigen_full(a?) {
        Ok(e) => e.eigenvalues,
        Err(e) => {
            tally.pieces.push(untested("min_curvature", f64::NAN, 0.0));
            tally.reasons.push(Reason::NoEigenvalues {
                error: e.to_string(),
            });
            return None;
        }
    };
    let lmax = eig.max();
    let lmin = eig.min();
    let flat = lmin <= 1e-8 * lmax.abs().max(f64::MIN_POSITIVE);
    let mut eigs: Vec<f64> = eig.iter().cloned().collect();
    eigs.sort_by(f64::total_cmp);
    tally.key_metrics.push(KeyMetric::new(
        "min_curvature",
        "smallest eigenvalue of the (projected) curvature matrix",
        lmin,
    ));
    if flat && !decides {
        tally.reasons.push(Reason::InformativeA {
            source: a_source.into(),
            what: "non-positive curvature",
        });
    } else if flat {
        // A fitted A is noisy: a non-positive eigenvalue there is evidence, not proof (untested
        // piece: blocks a pass). The mean Hessian is exact: p_fail = 0.
        tally.pieces.push(if a_source == "hessian" {
            PieceTest {
                p_fail: Some(0.0),
                p_pass: Some(1.0),
                beyond: true,
                ..untested("min_curvature", lmin, 0.0)
            }
        } else {
            untested("min_curvature", lmin, 0.0)
        });
        tally.reasons.push(Reason::NonPositiveCurvature {
            min_eigenvalue: lmin,
        });
    }
    Some(CurvatureSign {
        source: a_source.into(),
        non_positive_directions: eigs.iter().filter(|&&l| l <= 1e-8 * lmax.abs()).count(),
        eigenvalues: eigs,
        non_positive: flat,
    })
}

/// Least-squares fit of ḡ_i = A θ_i + b over `rows` (A fixed to `a_fixed` when given).
/// Returns the noise-corrected unexplained fraction and the fitted A (when it was fitted).
fn linear_fit(
    positions: &DMatrix<f64>,
    grads: &DMatrix<f64>,
    noise: &[f64],
    rows: &[usize],
    a_fixed: Option<&DMatrix<f64>>,
) -> Option<(f64, Option<DMatrix<f64>>)> {
    let m = rows.len();
    let k = positions.ncols();
    let x = positions.select_rows(rows.iter());
    let g = grads.select_rows(rows.iter());
    let noise_sum: f64 = rows.iter().map(|&i| noise[i]).sum();
    let g_mean = g.row_mean();
    let mut tss = 0.0;
    for i in 0..m {
        tss += (g.row(i) - &g_mean).norm_squared();
    }
    let (rss, a_fit, p) = match a_fixed {
        Some(a) => {
            // Residual r_i = g_i − A θ_i; b = mean r.
            let r = &g - &x * a.transpose();
            let r_mean = r.row_mean();
            let mut rss = 0.0;
            for i in 0..m {
                rss += (r.row(i) - &r_mean).norm_squared();
            }
            (rss, None, 1)
        }
        None => {
            let design = DMatrix::from_fn(m, k + 1, |i, j| if j < k { x[(i, j)] } else { 1.0 });
            let coef = lstsq(&design, &g, 1e-12).ok()?; // (k+1) × k: g ≈ design · coef
            let resid = &g - &design * &coef;
            let a = coef.rows(0, k).transpose();
            (resid.norm_squared(), Some(a), k + 1)
        }
    };
    let rss_c = (rss - (m as f64 - p as f64) / m as f64 * noise_sum).max(0.0);
    let tss_c = tss - (m as f64 - 1.0) / m as f64 * noise_sum;
    if tss_c.is_nan() || tss_c <= 0.0 {
        return None;
    }
    Some((rss_c / tss_c, a_fit))
}

/// The power of two 2^−e with 2^e ≥ `max_abs` > 2^(e−1) when `max_abs` lies outside
/// [2⁻⁶⁴, 2⁶⁴] (squares and products of such values leave the float64 range), else 1 (ordinary
/// runs are computed unscaled). Multiplying by it is exact.
fn pow2_rescale(max_abs: f64) -> f64 {
    let ordinary = (2f64.powi(-64)..=2f64.powi(64)).contains(&max_abs);
    if ordinary || !max_abs.is_finite() || max_abs == 0.0 {
        1.0
    } else {
        2f64.powi(-(max_abs.log2().ceil() as i32))
    }
}

/// The loss model's evidence, made informative when A is fixed to an estimate that may not decide
/// (its piece dropped, [`Reason::InformativeA`] added), and turned into [`Reason::InconsistentA`]
/// with an untested piece (blocks a pass, never fails) when A is fixed and RSS/TSS > 1: the
/// estimate of A, not the loss, is then what the data reject.
fn informative_unless(
    mut p: PartEvidence<LossModel>,
    decides: bool,
    source: &str,
    what: &'static str,
) -> PartEvidence<LossModel> {
    let fixed = p.details.a_source.as_deref().is_some_and(|s| s != "fitted");
    let Some(u) = p.details.unexplained_fraction else {
        return p;
    };
    if fixed && u > 1.0 {
        let tol = p.piece.as_ref().map_or(f64::NAN, |t| t.tolerance.bound);
        p.piece = decides.then(|| untested("loss_model_unexplained_fraction", u, tol));
        p.reason = Some(Reason::InconsistentA {
            unexplained: u,
            a_label: source.into(),
        });
        p.details.a_inconsistent = Some(true);
    } else if fixed && !decides {
        p.piece = None;
        p.reason = Some(Reason::InformativeA {
            source: source.into(),
            what,
        });
    }
    p
}

/// Outcome of one piece of evidence: verdict, reason, headline metric, details.
struct PartEvidence<D> {
    piece: Option<PieceTest>,
    reason: Option<Reason>,
    metric: Option<KeyMetric>,
    details: D,
}

impl<D> PartEvidence<D> {
    /// A part that was not computed: no verdict, reason or metric.
    fn unavailable(details: D) -> PartEvidence<D> {
        PartEvidence {
            piece: None,
            reason: None,
            metric: None,
            details,
        }
    }
}

/// Least-squares polynomial of degree `deg` through (t_l, y_l), in the scaled variable
/// x = (t − mid)/half for conditioning. Returns the coefficients in x (ascending) and the fitted
/// values. Cost O(p deg²).
fn polyfit(t: &[f64], y: &[f64], deg: usize, mid: f64, half: f64) -> Option<(Vec<f64>, Vec<f64>)> {
    let p = t.len();
    if p <= deg {
        return None;
    }
    let x = DMatrix::from_fn(p, deg + 1, |i, j| ((t[i] - mid) / half).powi(j as i32));
    let yv = DMatrix::from_column_slice(p, 1, y);
    let coef = lstsq(&x, &yv, 1e-13).ok()?;
    let fit = &x * &coef;
    Some((
        coef.iter().cloned().collect(),
        fit.iter().cloned().collect(),
    ))
}

/// Quadratic-model error of one probe over the offsets in [lo, hi]:
/// δ = max_l |L_l − q(t_l)| / (max_l L_l − min_l L_l) with q the least-squares quadratic over those
/// offsets, plus the fitted curvature d²q/dt² and 1 when the offsets span [lo, hi] (else 0).
/// `None` when fewer than 5 offsets lie in the region.
fn probe_error(offsets: &[f64], losses: &[f64], lo: f64, hi: f64) -> Option<(f64, f64, f64)> {
    let idx: Vec<usize> = (0..offsets.len())
        .filter(|&l| offsets[l] >= lo && offsets[l] <= hi)
        .collect();
    if idx.len() < 5 {
        return None;
    }
    let t: Vec<f64> = idx.iter().map(|&l| offsets[l]).collect();
    let y: Vec<f64> = idx.iter().map(|&l| losses[l]).collect();
    let mid = 0.5 * (lo + hi);
    let half = (0.5 * (hi - lo)).max(f64::MIN_POSITIVE);
    let (coef, fit) = polyfit(&t, &y, 2, mid, half)?;
    let ymax = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let ymin = y.iter().cloned().fold(f64::INFINITY, f64::min);
    let range = ymax - ymin;
    let resid = y
        .iter()
        .zip(&fit)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let scale = ymax.abs().max(ymin.abs()).max(f64::MIN_POSITIVE);
    let delta = if range <= 1e-12 * scale {
        0.0
    } else {
        resid / range
    };
    let curvature = 2.0 * coef[2] / (half * half);
    let slack = 1e-9 * (hi - lo);
    let spans = offsets[0] <= lo + slack && offsets[offsets.len() - 1] >= hi - slack;
    Some((delta, curvature, if spans { 1.0 } else { 0.0 }))
}

/// What one probe direction gave: δ over the region, its interval over the spread's interval
/// (hi = ∞ when a region width is not spanned by the offsets) and the fitted curvature d²q/dt².
struct ProbeFit {
    delta: f64,
    lo: f64,
    hi: f64,
    curvature: f64,
    /// p-values of the tolerance tests from inverting the spread's interval
    /// ([`probe_p_values`]).
    p_fail: f64,
    p_pass: f64,
}

/// The tolerance tests of one probe direction by inverting the χ² interval of the spread σ
/// (the probe losses are exact; only the region width cσ is uncertain). On the geometric grid
/// s = σ̂·1.05^{±m}, m ≤ 60, with δ(s) the quadratic error over the region of width s:
///
/// * fail (H₀: δ ≤ tol), when δ(σ̂) > tol: s_f = the smallest grid width down to which δ stays
///   above tol (region still holding 5 offsets); δ > tol needs σ > s_f only if δ grows with the
///   width, so p_fail = P(σ̂ ≥ σ̂_obs | σ = s_f) = P(χ²_ν ≥ ν·σ̂²/s_f²), ν = n_e − 1;
/// * pass (H₀: δ ≥ tol), when δ(σ̂) ≤ tol and the offsets cover the region: s_p = the largest
///   grid width up to which δ stays ≤ tol with the region covered; p_pass = P(χ²_ν ≤ ν·σ̂²/s_p²).
///
/// Otherwise the p-value is 1. Taking the last grid point on the null side is conservative.
/// Cost: O(60 p) per direction.
fn probe_p_values(
    delta_at: &dyn Fn(f64) -> Option<(f64, bool)>,
    sd: f64,
    nu: f64,
    tol: f64,
) -> (f64, f64) {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    let Ok(chi) = ChiSquared::new(nu) else {
        return (1.0, 1.0);
    };
    let Some((d0, cov0)) = delta_at(sd) else {
        return (1.0, 1.0);
    };
    let walk = |up: bool, keep: &dyn Fn(f64, bool) -> bool| {
        let mut last = sd;
        for m in 1..=60 {
            let s = sd * 1.05f64.powi(if up { m } else { -m });
            match delta_at(s) {
                Some((d, cov)) if keep(d, cov) => last = s,
                _ => break,
            }
        }
        last
    };
    if d0 > tol {
        let s_f = walk(false, &|d, _| d > tol);
        (chi.sf(nu * (sd / s_f).powi(2)), 1.0)
    } else if cov0 {
        let s_p = walk(true, &|d, cov| d <= tol && cov);
        (1.0, chi.cdf(nu * (sd / s_p).powi(2)))
    } else {
        (1.0, 1.0)
    }
}

/// Finite value or `None` (written as JSON null).
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// One probe direction j of checkpoint `c`: its row, and its fit when the region holds ≥ 5
/// offsets and the spread has a χ² interval (`a`: the two-sided level of that interval).
fn probe_direction(
    c: &crate::run::Checkpoint,
    j: usize,
    a: f64,
    c_sd: f64,
    tol: f64,
) -> (ProbeDirection, Option<ProbeFit>) {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    let Some(p) = c.probes.as_ref() else {
        unreachable!("probe_direction is called on checkpoints with probes")
    };
    let (spread, source) = match &p.trajectory_spread {
        Some(t) => (&t[j], "trajectory"),
        None => (&p.checkpoint_spread[j], "checkpoints"),
    };
    let ne = spread.ess.max(2.0);
    let sd = spread.sd;
    let nv2 = p.direction_norms[j].powi(2);
    let losses: Vec<f64> = p.losses.row(j).iter().cloned().collect();
    let region = |s: f64| {
        (
            (spread.mean - c_sd * s - p.origin[j]) / nv2,
            (spread.mean + c_sd * s - p.origin[j]) / nv2,
        )
    };
    let mut row = ProbeDirection {
        step: c.step,
        direction: j,
        spread_source: source.into(),
        mean: spread.mean,
        sd,
        effective_n: ne,
        direction_norm: p.direction_norms[j],
        status: None,
        region_offsets: None,
        quadratic_error: None,
        quadratic_error_ci: None,
        offsets_cover_region: None,
        curvature: None,
    };
    if sd.is_nan() || sd <= 0.0 || spread.n < 3 {
        row.status = Some("the iterates do not spread along this direction".into());
        return (row, None);
    }
    let Ok(chi) = ChiSquared::new(ne - 1.0) else {
        return (row, None);
    };
    let delta_at = |s: f64| {
        let (l, h) = region(s);
        probe_error(&p.offsets, &losses, l, h).map(|(d, _, cov)| (d, cov >= 1.0))
    };
    let (p_fail, p_pass) = probe_p_values(&delta_at, sd, ne - 1.0, tol);
    let s_lo = sd * ((ne - 1.0) / chi.inverse_cdf(1.0 - a / 2.0)).sqrt();
    let s_hi = sd * ((ne - 1.0) / chi.inverse_cdf(a / 2.0)).sqrt();
    let (r_lo, r_hi) = region(sd);
    let Some((delta, curv, coverage)) = probe_error(&p.offsets, &losses, r_lo, r_hi) else {
        row.status = Some(format!(
            "fewer than 5 probe offsets lie in the region t ∈ [{r_lo:.4e}, {r_hi:.4e}]"
        ));
        return (row, None);
    };
    let (mut dlo, mut dhi) = (delta, delta);
    let mut complete = coverage >= 1.0;
    for w in 0..7 {
        let s = s_lo * (s_hi / s_lo).powf(w as f64 / 6.0);
        let (l, h) = region(s);
        match probe_error(&p.offsets, &losses, l, h) {
            Some((dl, _, cov)) => {
                dlo = dlo.min(dl);
                dhi = dhi.max(dl);
                complete &= cov >= 1.0;
            }
            None => complete = false,
        }
    }
    if !complete {
        dhi = f64::INFINITY;
    }
    row.region_offsets = Some(vec![r_lo, r_hi]);
    row.quadratic_error = Some(delta);
    row.quadratic_error_ci = Some(vec![finite(dlo), finite(dhi)]);
    row.offsets_cover_region = Some(complete);
    row.curvature = Some(curv / nv2);
    let fit = ProbeFit {
        delta,
        lo: dlo,
        hi: dhi,
        curvature: curv,
        p_fail,
        p_pass,
    };
    (row, Some(fit))
}

/// Every probe direction of the checkpoints `with`: their rows, the largest δ and interval ends
/// over the decided ones, and the labels of the undecided and non-convex ones.
struct ProbeScan {
    rows: Vec<ProbeDirection>,
    est: f64,
    lo_all: f64,
    hi_all: f64,
    undecided: Vec<String>,
    concave: Vec<String>,
    decided: bool,
    /// Smallest per-direction fail p-value and largest pass p-value (1 for an undecided
    /// direction).
    p_fail_min: f64,
    p_pass_max: f64,
}

/// Scans the probe directions of the checkpoints `with` ([`probe_direction`] each).
fn scan_probes(with: &[&crate::run::Checkpoint], a: f64, c_sd: f64, tol: f64) -> ProbeScan {
    let (mut p_fail_min, mut p_pass_max) = (1.0f64, 0.0f64);
    let mut rows = Vec::new();
    let (mut est, mut lo_all, mut hi_all) = (0.0f64, 0.0f64, 0.0f64);
    let mut undecided = Vec::new();
    let mut concave = Vec::new();
    let mut decided = false;
    for c in with {
        for j in 0..c.probes.as_ref().map_or(0, |p| p.m()) {
            let (row, fit) = probe_direction(c, j, a, c_sd, tol);
            // No spread (no status, or the no-spread status) against too few offsets.
            let no_spread = !row
                .status
                .as_deref()
                .is_some_and(|s| s.starts_with("fewer than 5"));
            rows.push(row);
            p_pass_max = p_pass_max.max(fit.as_ref().map_or(1.0, |f| f.p_pass));
            p_fail_min = p_fail_min.min(fit.as_ref().map_or(1.0, |f| f.p_fail));
            let Some(f) = fit else {
                undecided.push(if no_spread {
                    format!("step {} direction {j}: no spread", c.step)
                } else {
                    format!("step {} direction {j}", c.step)
                });
                continue;
            };
            decided = true;
            if !f.hi.is_finite() {
                undecided.push(format!("step {} direction {j}", c.step));
            }
            if f.curvature <= 0.0 {
                concave.push(format!(
                    "step {} direction {j} (d²q/dt² = {:.3e})",
                    c.step, f.curvature
                ));
            }
            est = est.max(f.delta);
            lo_all = lo_all.max(f.lo);
            hi_all = hi_all.max(f.hi);
        }
    }
    ProbeScan {
        rows,
        est,
        lo_all,
        hi_all,
        undecided,
        concave,
        decided,
        p_fail_min,
        p_pass_max,
    }
}

/// *Loss probes*: along each probe direction v_j of each checkpoint, the quadratic-model error δ
/// over the region the iterates occupy, R_j = {u : |u − μ_j| ≤ c σ_j} in the coordinate
/// u = v_jᵀθ (μ_j, σ_j over the trajectory, else over the checkpoints; c =
/// `quadratic_region_sds`), i.e. offsets t with (μ_j − cσ_j − v_jᵀθ_c)/‖v_j‖² ≤ t ≤ (μ_j + cσ_j −
/// v_jᵀθ_c)/‖v_j‖². The interval of δ covers the uncertainty of σ_j: σ_j's χ² interval on its
/// effective sample size n_e, (n_e − 1)s²/χ²_{n_e−1}, at level 1 − (1 − ci_level)/J (Bonferroni
/// over the J directions), with δ evaluated on 7 region widths spanning it. Probe losses are taken
/// as exact. Effect: the largest δ over directions; the interval: the largest lower and upper
/// ends. Cost O(J p) per width.
fn probe_evidence(ctx: &Context) -> PartEvidence<LossProbes> {
    let th = ctx.thresholds;
    let with: Vec<&crate::run::Checkpoint> = ctx
        .run
        .checkpoints
        .iter()
        .filter(|c| c.probes.is_some())
        .collect();
    if with.is_empty() {
        return PartEvidence::unavailable(LossProbes::unavailable(
            "no checkpoint has probe_directions.npy, probe_offsets.npy and probe_losses.npy",
        ));
    }
    let j_total: usize = with
        .iter()
        .filter_map(|c| c.probes.as_ref())
        .map(|p| p.m())
        .sum();
    let a = (1.0 - th.ci_level) / j_total as f64;
    let c_sd = th.quadratic_region_sds;
    let tol = th.quadratic_max_probe_error;
    let ProbeScan {
        rows,
        est,
        lo_all,
        hi_all,
        undecided,
        concave,
        decided,
        p_fail_min,
        p_pass_max,
    } = scan_probes(&with, a, c_sd, tol);
    if !decided {
        return probes_outside_region(rows, c_sd, tol);
    }
    // Bonferroni over the J directions for "some direction exceeds"; intersection–union
    // (largest p) for "every direction is within". A concave direction (exact losses) fails.
    let p_fail = if concave.is_empty() {
        (j_total as f64 * p_fail_min).min(1.0)
    } else {
        0.0
    };
    let piece = PieceTest {
        name: "probe_quadratic_error".into(),
        estimate: est,
        tolerance: super::Tolerance::at_most(tol),
        beyond: est > tol || !concave.is_empty(),
        p_fail: Some(p_fail),
        p_pass: Some(p_pass_max),
    };
    let reason = Reason::Probes {
        error: est,
        interval: [lo_all, hi_all],
        level: th.ci_level,
        region_sds: c_sd,
        directions: j_total,
        checkpoints: with.len(),
        tolerance: tol,
        undecided,
        concave: concave.clone(),
    };
    let metric = probe_metric(est, lo_all, hi_all, th.ci_level, tol);
    PartEvidence {
        piece: Some(piece),
        reason: Some(reason),
        metric: Some(metric),
        details: LossProbes {
            available: true,
            reason: None,
            max_quadratic_error: Some(est),
            ci: Some(vec![finite(lo_all), finite(hi_all)]),
            region_sds: Some(c_sd),
            non_positive: Some(concave),
            directions: Some(rows),
        },
    }
}

/// The probe piece when no probe direction had offsets inside the occupied region: untested,
/// with the reason and the per-direction rows.
fn probes_outside_region(
    rows: Vec<ProbeDirection>,
    c_sd: f64,
    tol: f64,
) -> PartEvidence<LossProbes> {
    PartEvidence {
        piece: Some(untested("probe_quadratic_error", f64::NAN, tol)),
        reason: Some(Reason::ProbesOutsideRegion { region_sds: c_sd }),
        metric: None,
        details: LossProbes {
            available: true,
            reason: None,
            max_quadratic_error: None,
            ci: None,
            region_sds: None,
            non_positive: None,
            directions: Some(rows),
        },
    }
}

/// The key metric of the probe error with its interval over the spread's χ² range.
fn probe_metric(est: f64, lo: f64, hi: f64, level: f64, tol: f64) -> KeyMetric {
    KeyMetric::new(
        "probe_quadratic_error",
        "largest error of the best quadratic along the loss probes over ±c stationary sd, \
         relative to the loss range there",
        est,
    )
    .tolerance(super::Tolerance::at_most(tol))
    .ci_by(lo, hi, level, IntervalMethod::SpreadChiSquareRange)
}

/// A fixed for the loss model: the matrix, its source, and the range [s_lo, s_hi] of scale
/// factors its uncertainty allows (λ_max interval / λ_max of the matrix; [1, 1] for the Hessian).
type FixedA<'a> = (&'a DMatrix<f64>, &'a str, [f64; 2]);

/// The scale s ∈ [s_lo, s_hi] (9 points, geometric, plus 1) of A that minimises U_L: the loss
/// model tests the shape of the loss, A is a nuisance known only up to its interval, so the
/// check uses the most favourable A the interval allows (a profile over the scale of A). Cost
/// O(10 n k²).
fn best_scale(x: &DMatrix<f64>, y: &[f64], a: &DMatrix<f64>, range: [f64; 2]) -> f64 {
    let [lo, hi] = range;
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi > lo) {
        return 1.0;
    }
    let grid = (0..9).map(|i| lo * (hi / lo).powf(i as f64 / 8.0));
    let u_at = |s: f64| {
        let (xs, r, ys) = responses(x.clone(), y.to_vec(), Some(&(a * s)));
        let f = Features { x: &xs, pairs: &[] };
        rss_over_tss(&f, &r, &ys).unwrap_or(f64::INFINITY)
    };
    std::iter::once(1.0)
        .chain(grid)
        .map(|s| (s, u_at(s)))
        .fold((1.0, f64::INFINITY), |b, c| if c.1 < b.1 { c } else { b })
        .0
}

/// Positions (rows), losses, and which losses (`"trajectory"` or `"checkpoints"`).
type LossData = (DMatrix<f64>, Vec<f64>, &'static str);

/// The losses the loss model is fitted to, with their positions: the trajectory's, else the
/// checkpoints' exact mean losses (per-example losses of all N examples at every checkpoint).
fn loss_series(run: &crate::run::Run) -> Result<LossData, Box<LossModel>> {
    let k = run.k();
    if let Some((t, l)) = run
        .trajectory
        .as_ref()
        .and_then(|t| t.losses.as_ref().map(|l| (t, l)))
    {
        return Ok((t.params.clone(), l.clone(), "trajectory"));
    }
    let exact = run.manifest.gradients == GradientKind::PerExample
        && run
            .checkpoints
            .iter()
            .all(|c| c.losses.is_some() && c.n as u64 == run.manifest.dataset_size);
    if !exact {
        return Err(Box::new(LossModel::unavailable(
            "needs trajectory/losses.npy, or losses.npy of all N examples at every checkpoint",
        )));
    }
    let x = DMatrix::from_fn(run.checkpoints.len(), k, |i, j| run.checkpoints[i].theta[j]);
    let y = run
        .checkpoints
        .iter()
        .filter_map(|c| c.losses.as_ref())
        .map(|l| l.iter().sum::<f64>() / l.len() as f64)
        .collect();
    Ok((x, y, "checkpoints"))
}

/// The loss model's features of row i: θ (centred, rescaled), the products θ_pθ_q of `pairs`
/// (free A), and 1.
struct Features<'a> {
    x: &'a DMatrix<f64>,
    pairs: &'a [(usize, usize)],
}

impl Features<'_> {
    fn cols(&self) -> usize {
        self.x.ncols() + self.pairs.len() + 1
    }
    fn row(&self, i: usize) -> Vec<f64> {
        let x = self.x;
        let mut z: Vec<f64> = (0..x.ncols()).map(|j| x[(i, j)]).collect();
        z.extend(self.pairs.iter().map(|&(p, q)| x[(i, p)] * x[(i, q)]));
        z.push(1.0);
        z
    }
}

/// Moving-block bootstrap of RSS/TSS of the regression of `r` on the features (TSS of `y`):
/// blocks of `block` rows drawn uniformly until n rows are taken, `resamples` times. Computed by
/// block sums: prefix sums of zzᵀ, z r, r², y, y² (r, y centred) over rows, so a resample costs
/// O((n/b) q² + q³) instead of O(n q²). Returns the values of the resamples whose fit exists.
fn block_bootstrap(
    f: &Features,
    r: &[f64],
    y: &[f64],
    block: usize,
    resamples: usize,
    rng: &mut impl rand::Rng,
) -> Vec<f64> {
    let n = y.len();
    let cols = f.cols();
    let r_mean = r.iter().sum::<f64>() / n as f64;
    let y_mean = y.iter().sum::<f64>() / n as f64;
    let w = cols * cols + cols + 3;
    let mut prefix = vec![0.0; (n + 1) * w];
    for i in 0..n {
        let z = f.row(i);
        let (ri, yi) = (r[i] - r_mean, y[i] - y_mean);
        let (head, tail) = prefix.split_at_mut((i + 1) * w);
        let prev = &head[i * w..];
        let cur = &mut tail[..w];
        cur.copy_from_slice(prev);
        for a in 0..cols {
            for b in 0..cols {
                cur[a * cols + b] += z[a] * z[b];
            }
            cur[cols * cols + a] += z[a] * ri;
        }
        cur[cols * cols + cols] += ri * ri;
        cur[cols * cols + cols + 1] += yi;
        cur[cols * cols + cols + 2] += yi * yi;
    }
    let mut us = Vec::new();
    let mut acc = vec![0.0; w];
    for _ in 0..resamples {
        acc.iter_mut().for_each(|v| *v = 0.0);
        let mut taken = 0;
        while taken < n {
            let s = rng.random_range(0..=(n - block));
            let e = s + block.min(n - taken);
            for (a, v) in acc.iter_mut().enumerate() {
                *v += prefix[e * w + a] - prefix[s * w + a];
            }
            taken += e - s;
        }
        let zz = DMatrix::from_row_slice(cols, cols, &acc[..cols * cols]);
        let zr = DMatrix::from_column_slice(cols, 1, &acc[cols * cols..cols * cols + cols]);
        let Ok(beta) = lstsq(&zz, &zr, 1e-12) else {
            continue;
        };
        let rss = (acc[cols * cols + cols] - beta.dot(&zr)).max(0.0);
        let sy = acc[cols * cols + cols + 1];
        let tss = acc[cols * cols + cols + 2] - sy * sy / n as f64;
        if tss > 0.0 && rss.is_finite() {
            us.push(rss / tss);
        }
    }
    us
}

/// The loss model's responses: L − ½θᵀAθ with A fixed (`a`), else L; then θ, and the losses
/// with the responses, rescaled by powers of two when their magnitude is extreme (the quadratic
/// features would overflow or underflow): exact, and RSS/TSS does not change under either
/// scaling. Returns (θ, responses, losses).
fn responses(
    x: DMatrix<f64>,
    y: Vec<f64>,
    a: Option<&DMatrix<f64>>,
) -> (DMatrix<f64>, Vec<f64>, Vec<f64>) {
    let r: Vec<f64> = (0..y.len())
        .map(|i| match a {
            None => y[i],
            Some(a) => {
                let th_i = x.row(i).transpose();
                y[i] - 0.5 * th_i.dot(&(a * &th_i))
            }
        })
        .collect();
    let sx = pow2_rescale(x.camax());
    let x = x * sx;
    let sy = pow2_rescale(r.iter().chain(&y).fold(0.0, |m: f64, v| m.max(v.abs())));
    if sy == 1.0 {
        return (x, r, y);
    }
    let scale = |v: &[f64]| v.iter().map(|v| v * sy).collect();
    (x, scale(&r), scale(&y))
}

/// RSS/TSS of the least-squares regression of `r` on the features over all rows (TSS of `y`);
/// `None` when the fit fails or `y` does not vary (TSS ≤ 1e-24·ȳ²·n). Cost O(n q²).
fn rss_over_tss(f: &Features, r: &[f64], y: &[f64]) -> Option<f64> {
    let m = y.len();
    let cols = f.cols();
    let rows: Vec<Vec<f64>> = (0..m).map(|i| f.row(i)).collect();
    let design = DMatrix::from_fn(m, cols, |i, j| rows[i][j]);
    let rv = DMatrix::from_column_slice(m, 1, r);
    let coef = lstsq(&design, &rv, 1e-12).ok()?;
    let rss = (&rv - &design * coef).norm_squared();
    let ym = y.iter().sum::<f64>() / m as f64;
    let tss: f64 = y.iter().map(|v| (v - ym).powi(2)).sum();
    let scale = ym.abs().max(f64::MIN_POSITIVE);
    (tss > 1e-24 * scale * scale * m as f64).then(|| rss / tss)
}

/// *Loss against the quadratic model*: the trajectory's losses (or, without them, the checkpoints'
/// exact mean losses) against L_t = c + bᵀθ_t + ½θ_tᵀAθ_t, fitted by least squares (b absorbs θ̂
/// and a linear term). A is fitted too (a full quadratic in θ, q = 1 + k + k(k+1)/2 coefficients)
/// when there are at least 10·q losses, so that the test does not inherit the error of an
/// estimated A; otherwise A is fixed to the given estimate, scaled within its λ_max interval to
/// the factor that fits best ([`best_scale`]: A's uncertainty carried into the model). With A
/// fixed, U_L > 1 (RSS > TSS even at the best scale) says the estimate of A is inconsistent with
/// the data, not that the loss is not quadratic ([`Reason::InconsistentA`]). Effect: U_L = RSS/TSS. Interval: moving-block
/// bootstrap over rows (block length ⌈√T⌉, B resamples, percentile). Needs the analysis subspace
/// to be the full space (k = d): with k < d the loss also varies with the unprojected
/// coordinates. Cost O(B T k²).
fn loss_model_evidence(ctx: &Context, a: Option<FixedA>) -> PartEvidence<LossModel> {
    let th = ctx.thresholds;
    let run = ctx.run;
    let k = run.k();
    let Some((a, source, range)) = a else {
        return PartEvidence::unavailable(LossModel::unavailable("no estimate of A"));
    };
    if k < run.d {
        return PartEvidence::unavailable(LossModel::unavailable(format!(
            "the analysis subspace (k = {k}) is smaller than the parameter space (d = {}); the \
             loss depends on the unprojected coordinates too (rerun with --dims ≥ d)",
            run.d
        )));
    }
    let (x, y, what) = match loss_series(run) {
        Ok(v) => v,
        Err(e) => return PartEvidence::unavailable(*e),
    };
    let n = y.len();
    // Centre θ for conditioning (the model class is unchanged by a shift).
    let centre = x.row_mean();
    let x = DMatrix::from_fn(n, k, |i, j| x[(i, j)] - centre[j]);
    let q_free = 1 + k + k * (k + 1) / 2;
    let free = n >= 10 * q_free;
    if !free && n < k + 4 {
        return PartEvidence::unavailable(LossModel::unavailable(format!(
            "{n} losses; fitting c and b in k = {k} dimensions needs at least {}",
            k + 4
        )));
    }
    let a_label = if free { "fitted" } else { source };
    let scale = if free {
        1.0
    } else {
        best_scale(&x, &y, a, range)
    };
    let a_scaled = a * scale;
    let (x, r, y) = responses(x, y, (!free).then_some(&a_scaled));
    let pairs: Vec<(usize, usize)> = if free {
        (0..k).flat_map(|p| (p..k).map(move |q| (p, q))).collect()
    } else {
        Vec::new()
    };
    let features = Features {
        x: &x,
        pairs: &pairs,
    };
    let Some(u) = rss_over_tss(&features, &r, &y) else {
        return PartEvidence::unavailable(LossModel::unavailable(
            "the loss does not vary along the iterates",
        ));
    };
    let block = if what == "trajectory" {
        ((n as f64).sqrt().ceil() as usize).max(1)
    } else {
        1
    };
    let mut rng = ctx.rng("quadratic_loss/loss_model_bootstrap");
    let resamples = th.bootstrap_resamples.max(20);
    let mut us = block_bootstrap(&features, &r, &y, block, resamples, &mut rng);
    let (lo, hi) = percentile_interval(&mut us, u, th.ci_level, 0.0);
    let tol = th.quadratic_max_loss_unexplained;
    let piece = z_piece("loss_model_unexplained_fraction", u, sd(&us), tol);
    PartEvidence {
        piece: Some(piece),
        reason: Some(Reason::LossModel {
            unexplained: u,
            losses: what,
            a_label: a_label.to_string(),
            level: th.ci_level,
            interval: [lo, hi],
            tolerance: tol,
        }),
        metric: Some(
            KeyMetric::new(
                "loss_model_unexplained_fraction",
                "fraction of the variation of the mean loss along the iterates not explained by \
                 the quadratic model with A fixed",
                u,
            )
            .ci_by(lo, hi, th.ci_level, IntervalMethod::MovingBlockBootstrap)
            .tolerance(super::Tolerance::at_most(tol)),
        ),
        details: LossModel {
            available: true,
            reason: None,
            source: Some(what.into()),
            a_source: Some(a_label.into()),
            losses: Some(n),
            unexplained_fraction: Some(u),
            ci: Some(vec![lo, hi]),
            block_length: Some(block),
            bootstrap_resamples_used: Some(us.len()),
            a_inconsistent: None,
            a_scale: (scale != 1.0).then_some(scale),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(p: usize) -> Vec<f64> {
        (0..p)
            .map(|l| -1.0 + 2.0 * l as f64 / (p - 1) as f64)
            .collect()
    }

    /// The probe tests invert the spread's χ² interval on the 1.05 grid: δ(s) = 0.3·s with
    /// σ̂ = 1 exceeds tol = 0.1 down to s = 1.05⁻²² (0.342 > 1/3), so p_fail =
    /// P(χ²_ν ≥ ν/0.342²); δ(s) = 0.05·s stays ≤ 0.1 up to s = 1.05¹⁴ (1.980 < 2), so p_pass =
    /// P(χ²_ν ≤ ν/1.980²); a region not covered by the offsets cannot pass.
    #[test]
    fn probe_p_values_invert_the_spread_interval() {
        use statrs::distribution::{ChiSquared, ContinuousCDF};
        let nu = 20.0;
        let chi = ChiSquared::new(nu).unwrap();
        let (pf, pp) = probe_p_values(&|s| Some((0.3 * s, true)), 1.0, nu, 0.1);
        let s_f = 1.05f64.powi(-22);
        assert!(
            (pf - chi.sf(nu / (s_f * s_f))).abs() < 1e-15 && pp == 1.0,
            "{pf} {pp}"
        );
        assert!(pf < 1e-6);
        let (pf, pp) = probe_p_values(&|s| Some((0.05 * s, true)), 1.0, nu, 0.1);
        let s_p = 1.05f64.powi(14);
        assert!(
            (pp - chi.cdf(nu / (s_p * s_p))).abs() < 1e-15 && pf == 1.0,
            "{pf} {pp}"
        );
        assert!(pp < 0.01);
        assert_eq!(
            probe_p_values(&|s| Some((0.05 * s, false)), 1.0, nu, 0.1),
            (1.0, 1.0)
        );
        // z pieces: exact zero passes with p 0, NaN is untested.
        let z = z_piece("x", 0.0, 0.0, 0.1);
        assert_eq!((z.p_fail, z.p_pass), (Some(1.0), Some(0.0)));
        assert_eq!(z_piece("x", f64::NAN, 0.1, 0.1).p_fail, None);
        // 0.2 ± 0.05 against 0.1: z = 2, p_fail = Φ̄(2) = 0.022750131948179195.
        let z = z_piece("x", 0.2, 0.05, 0.1);
        let p = z.p_fail.unwrap();
        assert!((p - 0.022_750_131_948_179_195).abs() < 1e-10, "{p}"); // statrs erfc: ~1e-12
    }

    /// References: a quadratic is fitted exactly (δ = 0, q″ = 2a); t⁴ on [−1, 1] leaves the
    /// Legendre term (8/35)·P₄(t), whose largest value is 8/35 at the ends while t⁴ ranges over
    /// [0, 1], so δ → 8/35 as the grid refines; a cubic of relative size ρ at the edge leaves
    /// (t³ − 3t/5)·ρ, largest 0.4ρ at the ends, against a range ≈ 1 (+ρ asymmetry).
    #[test]
    fn probe_error_matches_closed_forms() {
        let t = grid(2001);
        let quad: Vec<f64> = t.iter().map(|x| 3.0 + 0.5 * x + 2.0 * x * x).collect();
        let (d, c, cov) = probe_error(&t, &quad, -1.0, 1.0).unwrap();
        assert!(d < 1e-10 && (c - 4.0).abs() < 1e-8 && cov == 1.0);
        let quart: Vec<f64> = t.iter().map(|x| x.powi(4)).collect();
        let (d, c, _) = probe_error(&t, &quart, -1.0, 1.0).unwrap();
        assert!((d - 8.0 / 35.0).abs() < 2e-3, "{d}");
        assert!(c > 0.0);
        let rho = 0.1;
        let cubic: Vec<f64> = t.iter().map(|x| x * x + rho * x.powi(3)).collect();
        let (d, _, _) = probe_error(&t, &cubic, -1.0, 1.0).unwrap();
        assert!((d - 0.4 * rho).abs() < 0.01, "{d}");
        // A concave probe has negative fitted curvature; too few offsets in the region → None;
        // offsets not spanning the region → coverage 0.
        let cap: Vec<f64> = t.iter().map(|x| -x * x).collect();
        assert!(probe_error(&t, &cap, -1.0, 1.0).unwrap().1 < 0.0);
        assert!(probe_error(&grid(4), &[0.0; 4], -1.0, 1.0).is_none());
        assert_eq!(probe_error(&t, &quad, -0.5, 1.5).unwrap().2, 0.0);
    }
}
