//! Assumption 3: the step size ε is small enough that the discrete chain
//! θ_{t+1} = θ_t − ε ĝ_S(θ_t) is well approximated by the continuous OU process.
//!
//! **What is measured.** With A the curvature (drift) matrix in the analysis subspace
//! ([`crate::model::curvature::estimate`]: hessian.npy, else the trajectory's lag-1 fit, else the
//! gradient regression) and Q = Cov(ĝ) the minibatch-noise covariance
//! ([`crate::model::curvature::noise_covariance`]), the continuous model's stationary covariance solves
//! AΣ_c + Σ_cA = εQ and the exact stationary covariance of the linear discrete chain solves
//! Σ_d = (I − εA)Σ_d(I − εA) + ε²Q (`ou::stationary_cov_continuous`, `ou::stationary_cov_discrete`).
//! When A and Q commute, mode a's variance is inflated by 1/(1 − ελ_a/2) in the discrete chain
//! (Liu, Ziyin & Ueda 2021). Reported: ε·λ for every mode (`ou::mode_diagnostics`), the stability
//! limit ελ_max < 2, the per-mode inflation, and the gap between Σ_d and Σ_c (relative Frobenius,
//! KL, and the variance ratio uᵀΣ_du/uᵀΣ_cu along each eigenvector u of A).
//!
//! **Effect**: the stiffest mode's inflation minus one, 1/(1 − ελ_max/2) − 1, with the interval
//! obtained by mapping the interval of λ_max of the primary estimate (range over checkpoints
//! for Hessians; delta-method interval for the lag-1 fit and the regression) through this
//! monotone function. **Significance**: the lower end of the λ_max interval is above zero.
//!
//! **Verdict** (`decide`): fail when ελ_max ≥ 2 (no stationary law) or the inflation's interval
//! lies above the tolerance, or its estimate does and it is significant; pass when the interval's
//! upper end is within the tolerance; inconclusive otherwise, and when A cannot be estimated.
//! In a random subspace of a larger space, λ_max of P A Pᵀ only bounds the full-space λ_max from
//! below (Cauchy interlacing), so a pass there is reported as inconclusive. When the run has a
//! Hessian eigenbasis (basis/, or a full hessian.npy with d ≤ 2,048) the check runs in it
//! (`Run::invariant_view`): λ_max is then λ_1 of the basis, the full-space value.
//!
//! Cost: O(k³) plus the curvature estimates (O(T k² + m n k²)).

use nalgebra::DMatrix;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    Context, IntervalMethod, KeyMetric, PieceTest, Thresholds, Tolerance, ToleranceTests, Verdict,
};
use crate::model::curvature::{self, rows, CurvatureSummary};
use crate::ou;

/// The thresholds the small-step check applied (`thresholds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// Tolerance on the stiffest mode's variance inflation minus one (a fraction: 0.1 = 10%).
    pub max_inflation: f64,
    /// The ε·λ_max at which the inflation reaches the tolerance, 2(1 − 1/(1 + tol)).
    pub max_lr_lambda: f64,
    /// ε·λ_max at which the discrete chain has no stationary law (2).
    pub stability_limit_lr_lambda: f64,
    /// Coverage of the curvature intervals.
    pub ci_level: f64,
}

/// One eigen-mode of the curvature A (`modes[]`), stiffest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mode {
    /// Eigenvalue λ of A (curvature, 1/(parameter units)²·loss).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub lambda: f64,
    /// ε·λ (dimensionless; stable below 2).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub lr_lambda: f64,
    /// 1/(1 − ελ/2) when 0 < ελ < 2, else null.
    pub variance_inflation: Option<f64>,
    /// uᵀΣ_d u / uᵀΣ_c u along the mode's eigenvector u (null when the stationary covariances
    /// are not computed).
    pub discrete_over_continuous_variance: Option<f64>,
}

/// The full evidence of the small-step check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    /// Source of the curvature estimate used (`hessian`, `lag1` or `regression`).
    pub a_source: String,
    /// The effective learning rate ε.
    pub effective_learning_rate: f64,
    /// λ_max of the primary curvature estimate.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub lambda_max: f64,
    /// Its interval [lo, hi] (see the curvature's `interval_method`).
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub lambda_max_interval: Vec<f64>,
    /// λ_max of the subspace only bounds the full-space λ_max from below.
    pub lambda_max_is_lower_bound: bool,
    /// Interval of the stiffest mode's variance inflation minus one (null: beyond the
    /// stability limit).
    pub variance_inflation_interval: [Option<f64>; 2],
    /// ε·λ_max < 2.
    pub stable: bool,
    /// Spectral radius of I − εA (null when the modes are not computed).
    pub spectral_radius: Option<f64>,
    /// The eigen-modes of A, stiffest first.
    pub modes: Vec<Mode>,
    /// Q, the pooled minibatch-noise covariance (k × k, row-major).
    #[serde(with = "crate::fmt::nullable_matrix")]
    #[schemars(with = "Vec<Vec<Option<f64>>>")]
    pub noise_covariance: Vec<Vec<f64>>,
    /// Σ_c solving AΣ + ΣA = εQ (null when it could not be computed).
    pub stationary_covariance_continuous: Option<Vec<Vec<Option<f64>>>>,
    /// Σ_d solving Σ = (I − εA)Σ(I − εA) + ε²Q (null when it could not be computed).
    pub stationary_covariance_discrete: Option<Vec<Vec<Option<f64>>>>,
    /// ‖Σ_d − Σ_c‖_F/‖Σ_c‖_F.
    pub relative_gap_frobenius: Option<f64>,
    /// KL(N(0, Σ_d) ‖ N(0, Σ_c)) in nats.
    pub gap_kl: Option<f64>,
    /// Generalised eigenvalues of (Σ_d, Σ_c), ascending.
    pub gap_whitened_eigenvalues: Option<Vec<Option<f64>>>,
    /// Every estimate of the curvature A and how far they agree.
    pub curvature: CurvatureSummary,
}

/// Evidence when no curvature estimate is available.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoCurvature {
    /// Why each source of the curvature is unavailable.
    pub curvature: CurvatureSummary,
}

/// The small-step check's evidence (`metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Evidence {
    /// The step was judged against the curvature.
    Measured(Box<Measured>),
    /// No estimate of A.
    NoCurvature(NoCurvature),
}

impl Evidence {
    /// The curvature summary (present in both shapes).
    pub fn curvature(&self) -> &CurvatureSummary {
        match self {
            Evidence::Measured(m) => &m.curvature,
            Evidence::NoCurvature(n) => &n.curvature,
        }
    }
}

/// The stiffest mode's step and inflation, with intervals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepEffect {
    /// ε·λ_max.
    pub lr_lambda: f64,
    /// ε·(lower end of the λ_max interval).
    pub lr_lambda_lo: f64,
    /// λ_max.
    pub lambda_max: f64,
    /// 1/(1 − ελ_max/2) − 1 and its interval.
    pub inflation: f64,
    pub inflation_lo: f64,
    pub inflation_hi: f64,
    /// Tolerance on the inflation.
    pub tolerance: f64,
}

/// Why the verdict is what it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// No curvature estimate: why each source is unavailable.
    NoCurvature { why: String },
    /// The effective learning rate is not positive and finite.
    BadLearningRate { lr: f64 },
    /// The measurement: ε·λ_max with its source and interval, and the inflation.
    Measured {
        effect: StepEffect,
        lr: f64,
        source: &'static str,
        lambda_max_interval: [f64; 2],
        interval_method: &'static str,
    },
    /// λ_max ≤ 0.
    NotPositive,
    /// The stationary covariances could not be computed.
    NoStationaryCovariances { error: String },
    /// A pass downgraded: λ_max is a lower bound (random subspace).
    LowerBound,
    /// A fail downgraded: the estimate of A may inform but not decide (`Estimate::decides`:
    /// a lag-1 fit with too few pairs per dimension, or a fit in a non-invariant subspace).
    InformativeOnly { source: &'static str },
    /// Two curvature estimates compared (λ_max of both when one is the lag-1 fit).
    Agreement {
        estimate: String,
        reference: String,
        relative_frobenius: f64,
        max_relative_eigenvalue_difference: f64,
        lag1_lambdas: Option<(f64, f64)>,
    },
    /// The one-sided tests of ε·λ_max against its tolerance (issue 15).
    Tested {
        /// Standard error of ε·λ_max (ε × the curvature's λ_max SE).
        se: f64,
        /// Fail p-value of H₀: ε·λ_max ≤ tolerance.
        p_fail: f64,
        /// Equivalence p-value of H₀: ε·λ_max ≥ tolerance.
        p_pass: f64,
        /// The tolerance on ε·λ_max, 2(1 − 1/(1 + tol)).
        tolerance: f64,
        /// Beyond the tolerance without a rejecting fail test.
        leaning_fail: bool,
    },
    /// No standard error of λ_max (a range over checkpoints): the piece cannot be tested and
    /// the interval rule decides.
    Untestable,
}

/// The verdict and why.
pub type Decision = super::Decision<Reason>;

/// The typed outcome of the check, for the narration (`report::narrate::small_step`).
#[derive(Debug, Clone)]
pub struct Checked {
    /// `None` when the check stopped before measuring.
    pub evidence: Option<Evidence>,
    pub applied: Applied,
    pub decision: Decision,
    pub key_metrics: Vec<KeyMetric>,
    /// The effect, when measured.
    pub effect: Option<StepEffect>,
    /// The tests against the tolerance (`None` when λ_max has no standard error).
    pub tests: Option<ToleranceTests>,
    /// The basis the check decided in.
    pub basis: Option<super::AnalysisBasis>,
}

/// Inflation 1/(1 − x/2) of a mode with step eigenvalue x = ελ (∞ at or beyond the stability
/// limit, 1 for non-positive x, which has no stationary variance and is reported separately).
pub fn inflation(x: f64) -> f64 {
    if x >= 2.0 || x.is_nan() {
        f64::INFINITY
    } else if x <= 0.0 {
        1.0
    } else {
        1.0 / (1.0 - x / 2.0)
    }
}

/// The verdict rule (module documentation), before the random-subspace caveat: fail beyond
/// the stability limit; inconclusive without a positive finite λ_max; else [`super::decide`]
/// on the inflation, significant when the lower end of the λ_max interval is above zero.
pub fn decide(e: &StepEffect) -> Verdict {
    if e.lr_lambda >= 2.0 || e.lr_lambda_lo >= 2.0 {
        Verdict::Fail
    } else if !e.lr_lambda.is_finite() || e.lambda_max <= 0.0 {
        Verdict::Inconclusive
    } else {
        let significant = e.lr_lambda_lo > 0.0;
        super::decide(
            e.inflation,
            e.inflation_hi,
            e.inflation_lo,
            e.tolerance,
            significant,
        )
    }
}

/// The tests of the one piece ε·λ_max ≤ δ_ελ = 2(1 − 1/(1 + tol)) (the step at which the
/// stiffest mode's inflation reaches the tolerance): with se = ε·SE(λ̂_max) (delta method of the
/// lag-1 fit or the regression), p_fail = Φ̄((ελ̂ − δ)/se) ([`z_upper`]) and
/// p_pass = Φ̄((δ − ελ̂)/se). `None` without a positive finite SE (Hessians: the interval is a
/// range over checkpoints, not a confidence interval) — the piece is then untestable and cannot
/// fail by test. Cost O(1).
///
/// [`z_upper`]: crate::stats::onesided::z_upper
pub fn step_tests(
    e: &StepEffect,
    lambda_max_se: Option<f64>,
    lr: f64,
    alpha: f64,
) -> Option<ToleranceTests> {
    let se = lambda_max_se.filter(|s| s.is_finite() && *s > 0.0)? * lr;
    let tol = 2.0 * (1.0 - 1.0 / (1.0 + e.tolerance));
    let p_fail = crate::stats::onesided::z_upper(e.lr_lambda, se, tol)
        .ok()?
        .p_value;
    let p_pass = crate::stats::onesided::norm_sf((tol - e.lr_lambda) / se);
    let piece = PieceTest {
        name: "lr_lambda_max".into(),
        estimate: e.lr_lambda,
        tolerance: Tolerance::at_most(tol),
        beyond: e.lr_lambda > tol,
        p_fail: Some(p_fail),
        p_pass: Some(p_pass),
    };
    Some(ToleranceTests::from_pieces(vec![piece], alpha))
}

/// The tests ([`step_tests`]), the verdict before the subspace caveat (the tests' verdict, but
/// never a pass with λ_max ≤ 0; the interval rule [`decide`] when untestable) and the reason.
fn tested_verdict(
    effect: &StepEffect,
    prim: &curvature::Estimate,
    lr: f64,
    alpha: f64,
) -> (Option<ToleranceTests>, Verdict, Reason) {
    let tests = step_tests(effect, prim.lambda_max_se, lr, alpha);
    let verdict = match &tests {
        Some(t) if prim.lambda_max > 0.0 => t.verdict(alpha),
        Some(_) => Verdict::Inconclusive,
        None => decide(effect),
    };
    let reason = match &tests {
        Some(t) => Reason::Tested {
            se: prim.lambda_max_se.unwrap_or(f64::NAN) * lr,
            p_fail: t.p_fail,
            p_pass: t.p_pass,
            tolerance: t.pieces[0].tolerance.bound,
            leaning_fail: t.leaning_fail,
        },
        None => Reason::Untestable,
    };
    (tests, verdict, reason)
}

fn applied(th: &Thresholds) -> Applied {
    let tol = th.small_step_max_inflation;
    Applied {
        max_inflation: tol,
        max_lr_lambda: 2.0 * (1.0 - 1.0 / (1.0 + tol)),
        stability_limit_lr_lambda: 2.0,
        ci_level: th.ci_level,
    }
}

fn stopped(th: &Thresholds, reason: Reason, evidence: Option<Evidence>) -> Checked {
    Checked {
        evidence,
        applied: applied(th),
        decision: Decision {
            verdict: Verdict::Inconclusive,
            reasons: vec![reason],
        },
        key_metrics: Vec::new(),
        effect: None,
        tests: None,
        basis: None,
    }
}

/// Stationary covariances Σ_c, Σ_d, their gap, and the variance ratio along each eigenvector
/// of A (stiffest first); the error when they cannot be computed.
struct Stationary {
    sc: Option<DMatrix<f64>>,
    sd: Option<DMatrix<f64>>,
    gap: Option<ou::CovarianceGap>,
    per_mode: Option<Vec<f64>>,
    error: Option<String>,
}

fn stationary(a: &DMatrix<f64>, q: &DMatrix<f64>, lr: f64) -> Stationary {
    let sc = ou::stationary_cov_continuous(a, q, lr);
    let sd = ou::stationary_cov_discrete(a, q, lr);
    let (gap, per_mode, error) = match (&sc, &sd) {
        (Ok(sc), Ok(sd)) => {
            let g = ou::covariance_gap(sd, sc).ok();
            let pm = crate::linalg::sym_eigen_full(a).ok().and_then(|eig| {
                let mut idx: Vec<usize> = (0..eig.eigenvalues.len()).collect();
                idx.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
                let u =
                    DMatrix::from_fn(a.nrows(), idx.len(), |r, c| eig.eigenvectors[(r, idx[c])]);
                ou::variance_ratios_along(sd, sc, &u).ok()
            });
            (g, pm, None)
        }
        (Err(e), _) | (_, Err(e)) => (None, None, Some(e.to_string())),
    };
    Stationary {
        sc: sc.ok(),
        sd: sd.ok(),
        gap,
        per_mode,
        error,
    }
}

/// Runs the check in the run's Hessian eigenbasis when it has one (λ_max is then λ_1 of the
/// basis, the full-space value, not a lower bound), else in the analysis subspace as given.
pub fn check(ctx: &Context) -> Checked {
    super::in_invariant_basis(ctx, |c| {
        let mut out = check_in(c);
        out.basis = Some(super::AnalysisBasis::of(c.run));
        out
    })
}

/// The check in the context's own analysis subspace.
fn check_in(ctx: &Context) -> Checked {
    let th = ctx.thresholds;
    let lr = ctx.lr();
    let curv = ctx.curvature();
    let Some(prim) = curv.primary() else {
        let why = curv.unavailable_reason();
        let ev = Evidence::NoCurvature(NoCurvature {
            curvature: curv.summary(),
        });
        return stopped(th, Reason::NoCurvature { why }, Some(ev));
    };
    if !(lr > 0.0 && lr.is_finite()) {
        return stopped(th, Reason::BadLearningRate { lr }, None);
    }
    let a = &prim.a_sym;
    let [lo_l, hi_l] = prim.lambda_max_interval;
    let effect = StepEffect {
        lr_lambda: lr * prim.lambda_max,
        lr_lambda_lo: lr * lo_l,
        lambda_max: prim.lambda_max,
        inflation: inflation(lr * prim.lambda_max) - 1.0,
        inflation_lo: inflation(lr * lo_l) - 1.0,
        inflation_hi: inflation(lr * hi_l) - 1.0,
        tolerance: th.small_step_max_inflation,
    };
    let q = curvature::noise_covariance(ctx);
    let st = stationary(a, &q, lr);
    let (mut tests, mut verdict, tested) = tested_verdict(&effect, prim, lr, th.alpha);
    if !prim.decides {
        // Informs only: its fail test may not fail the check nor the overall verdict.
        if let Some(t) = tests.as_mut() {
            t.p_fail = 1.0;
            t.pieces.iter_mut().for_each(|p| p.p_fail = None);
        }
    }
    let mut reasons = vec![
        Reason::Measured {
            effect,
            lr,
            source: prim.source,
            lambda_max_interval: prim.lambda_max_interval,
            interval_method: prim.interval_method,
        },
        tested,
    ];
    if prim.lambda_max <= 0.0 {
        reasons.push(Reason::NotPositive);
    }
    if let Some(error) = &st.error {
        reasons.push(Reason::NoStationaryCovariances {
            error: error.clone(),
        });
    }
    if curv.lambda_max_is_lower_bound && verdict == Verdict::Pass {
        verdict = Verdict::Inconclusive;
        reasons.push(Reason::LowerBound);
    }
    if !prim.decides && verdict == Verdict::Fail {
        verdict = Verdict::Inconclusive;
        reasons.push(Reason::InformativeOnly {
            source: prim.source,
        });
    }
    for ag in &curv.agreement {
        let lam = |s: &str| curv.get(s).map_or(f64::NAN, |e| e.lambda_max);
        let lag1 = ag.estimate == "lag1" || ag.reference == "lag1";
        reasons.push(Reason::Agreement {
            estimate: ag.estimate.clone(),
            reference: ag.reference.clone(),
            relative_frobenius: ag.agreement.relative_frobenius,
            max_relative_eigenvalue_difference: ag.agreement.max_relative_eigenvalue_difference,
            lag1_lambdas: lag1.then(|| (lam(&ag.estimate), lam(&ag.reference))),
        });
    }
    let method = if prim.source == "hessian" {
        IntervalMethod::RangeOverCheckpoints
    } else {
        IntervalMethod::FromCurvature
    };
    // A range over checkpoints is not a confidence interval: level 1.0 ("range").
    let level = if method == IntervalMethod::RangeOverCheckpoints {
        1.0
    } else {
        curv.ci_level
    };
    let key_metrics = key_metrics(&effect, [lr * lo_l, lr * hi_l], level, method, &st);
    let evidence = measured(ctx, prim, &effect, &q, st);
    Checked {
        evidence: Some(Evidence::Measured(Box::new(evidence))),
        applied: applied(th),
        decision: Decision { verdict, reasons },
        key_metrics,
        effect: Some(effect),
        tests,
        basis: None,
    }
}

fn key_metrics(
    e: &StepEffect,
    lr_lambda_interval: [f64; 2],
    level: f64,
    method: IntervalMethod,
    st: &Stationary,
) -> Vec<KeyMetric> {
    let [lo, hi] = lr_lambda_interval;
    let mut key_metrics = vec![
        KeyMetric::new(
            "lr_lambda_max",
            "ε·λ_max(A): stiffest mode's step relative to its curvature (stable below 2)",
            e.lr_lambda,
        )
        .ci_by(lo, hi, level, method),
        KeyMetric::new(
            "variance_inflation",
            "discrete over continuous stationary variance, minus 1, in the stiffest mode",
            e.inflation,
        )
        .ci_by(e.inflation_lo, e.inflation_hi, level, method)
        .tolerance(super::Tolerance::at_most(e.tolerance)),
    ];
    if let Some(g) = &st.gap {
        key_metrics.push(KeyMetric::new(
            "covariance_gap",
            "‖Σ_discrete − Σ_continuous‖_F / ‖Σ_continuous‖_F",
            g.relative_frobenius,
        ));
    }
    key_metrics
}

fn opt_rows(m: &DMatrix<f64>) -> Vec<Vec<Option<f64>>> {
    rows(m)
        .into_iter()
        .map(|r| r.into_iter().map(Some).collect())
        .collect()
}

fn measured(
    ctx: &Context,
    prim: &curvature::Estimate,
    e: &StepEffect,
    q: &DMatrix<f64>,
    st: Stationary,
) -> Measured {
    let lr = ctx.lr();
    let curv = ctx.curvature();
    let modes = ou::mode_diagnostics(&prim.a_sym, lr).ok();
    let fin = |x: f64| x.is_finite().then_some(x);
    let mode_rows = modes.as_ref().map_or_else(Vec::new, |m| {
        (0..m.eigenvalues.len())
            .map(|i| Mode {
                lambda: m.eigenvalues[i],
                lr_lambda: lr * m.eigenvalues[i],
                variance_inflation: m.inflation[i],
                discrete_over_continuous_variance: st.per_mode.as_ref().map(|p| p[i]),
            })
            .collect()
    });
    Measured {
        a_source: prim.source.to_string(),
        effective_learning_rate: lr,
        lambda_max: prim.lambda_max,
        lambda_max_interval: prim.lambda_max_interval.to_vec(),
        lambda_max_is_lower_bound: curv.lambda_max_is_lower_bound,
        variance_inflation_interval: [fin(e.inflation_lo), fin(e.inflation_hi)],
        stable: e.lr_lambda < 2.0,
        spectral_radius: modes.as_ref().map(|m| m.spectral_radius),
        modes: mode_rows,
        noise_covariance: rows(q),
        stationary_covariance_continuous: st.sc.as_ref().map(opt_rows),
        stationary_covariance_discrete: st.sd.as_ref().map(opt_rows),
        relative_gap_frobenius: st.gap.as_ref().map(|g| g.relative_frobenius),
        gap_kl: st.gap.as_ref().map(|g| g.kl),
        gap_whitened_eigenvalues: st
            .gap
            .as_ref()
            .map(|g| g.whitened_eigenvalues.iter().copied().map(Some).collect()),
        curvature: curv.summary(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(lr_lambda: f64) -> StepEffect {
        StepEffect {
            lr_lambda,
            lr_lambda_lo: lr_lambda,
            lambda_max: lr_lambda / 0.1,
            inflation: inflation(lr_lambda) - 1.0,
            inflation_lo: inflation(lr_lambda) - 1.0,
            inflation_hi: inflation(lr_lambda) - 1.0,
            tolerance: 0.1,
        }
    }

    /// At the tolerance 2(1 − 1/1.1) the fail test has p = ½; far above it fails, far below it
    /// passes; without an SE the piece is untestable.
    #[test]
    fn step_tests_at_known_points() {
        let tol = 2.0 * (1.0 - 1.0 / 1.1);
        let t = step_tests(&effect(tol), Some(0.1), 0.1, 0.05).unwrap();
        assert!((t.p_fail - 0.5).abs() < 1e-12 && (t.p_pass - 0.5).abs() < 1e-12);
        assert_eq!(t.pieces[0].tolerance.bound, tol);
        // se = ε·SE(λ) = 0.1 · 0.1 = 0.01.
        let hi = step_tests(&effect(tol + 0.05), Some(0.1), 0.1, 0.05).unwrap();
        assert_eq!(hi.verdict(0.05), Verdict::Fail);
        let lo = step_tests(&effect(tol - 0.05), Some(0.1), 0.1, 0.05).unwrap();
        assert_eq!(lo.verdict(0.05), Verdict::Pass);
        let lean = step_tests(&effect(tol + 0.01), Some(0.1), 0.1, 0.05).unwrap();
        assert!(lean.leaning_fail && lean.verdict(0.05) == Verdict::Inconclusive);
        assert!(step_tests(&effect(tol), None, 0.1, 0.05).is_none());
        assert!(step_tests(&effect(tol), Some(0.0), 0.1, 0.05).is_none());
    }
}
