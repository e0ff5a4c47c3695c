//! The four assumption checks, one module each, and the types they share.
//!
//! Every check returns a [`CheckResult`]: a verdict, a one-line summary, the reasons behind it,
//! headline metrics (estimate, confidence interval, tolerance, p-value) that every report format
//! renders, free-form detailed metrics for the JSON report, and the thresholds it applied.
//!
//! The verdict rule is the same everywhere (docs/methods.md, "The verdict rule"): each piece of
//! evidence is tested against its tolerance one-sidedly ([`PieceTest`]); a check **fails** only
//! when the fail test H₀: effect ≤ tolerance rejects after Holm over its pieces, **passes** when
//! every piece's equivalence test rejects (intersection–union), and is otherwise
//! **inconclusive** ("leaning fail" when an estimate lies beyond its tolerance). [`overall`]
//! combines the four checks (Holm over the four for fail, intersection–union for pass).

pub mod constant_covariance;
pub mod gaussian_noise;
pub mod ou_prediction;
pub mod quadratic_loss;
pub mod sampling_design;
pub mod small_step;

#[cfg(test)]
mod rule_tests;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::model::Context;
pub use crate::thresholds::Thresholds;

/// One of the four assumptions of the OU model, in the fixed order of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Assumption {
    GaussianNoise,
    ConstantCovariance,
    SmallStep,
    QuadraticLoss,
}

impl Assumption {
    /// The four, in report order.
    pub const ALL: [Assumption; 4] = [
        Assumption::GaussianNoise,
        Assumption::ConstantCovariance,
        Assumption::SmallStep,
        Assumption::QuadraticLoss,
    ];

    /// The report's key, e.g. `"gaussian_noise"`.
    pub fn key(self) -> &'static str {
        match self {
            Assumption::GaussianNoise => "gaussian_noise",
            Assumption::ConstantCovariance => "constant_covariance",
            Assumption::SmallStep => "small_step",
            Assumption::QuadraticLoss => "quadratic_loss",
        }
    }

    /// The title for people, e.g. `"1. Gaussian minibatch noise"`.
    pub fn title(self) -> &'static str {
        match self {
            Assumption::GaussianNoise => "1. Gaussian minibatch noise",
            Assumption::ConstantCovariance => "2. Constant noise covariance",
            Assumption::SmallStep => "3. Small step size",
            Assumption::QuadraticLoss => "4. Quadratic loss",
        }
    }
}

impl std::fmt::Display for Assumption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// Outcome of one check, or of the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// Combines verdicts: any fail → fail; else any inconclusive → inconclusive; else pass.
    pub fn combine(vs: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut out = Verdict::Pass;
        for v in vs {
            match v {
                Verdict::Fail => return Verdict::Fail,
                Verdict::Inconclusive => out = Verdict::Inconclusive,
                Verdict::Pass => {}
            }
        }
        out
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a confidence interval was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IntervalMethod {
    /// Not recorded by the check that made the interval (see docs/methods.md for each metric).
    Unrecorded,
    /// estimate ± z·(bootstrap standard error), z Bonferroni-adjusted over directions when the
    /// metric is a maximum over them (normal approximation).
    NormalBootstrapSe,
    /// Basic (reverse-percentile) bootstrap interval, 2θ̂ − q_{1−α/2}, 2θ̂ − q_{α/2}.
    BasicBootstrap,
    /// Percentile bootstrap interval [q_{α/2}, q_{1−α/2}].
    PercentileBootstrap,
    /// Percentile interval of a moving-block bootstrap of a series.
    MovingBlockBootstrap,
    /// The range of the per-checkpoint values: not a confidence interval.
    RangeOverCheckpoints,
    /// mean ± z·sd/√ESS of a trajectory statistic (ESS by Geyer's initial sequence).
    MeanZSdOverSqrtEss,
    /// An interval taken over from the curvature estimate the metric is computed from.
    FromCurvature,
    /// A closed-form (Wald or exact) interval stated in docs/methods.md for the metric.
    Analytic,
    /// The range of the effect over the χ² interval of the iterates' spread (loss probes).
    SpreadChiSquareRange,
    /// Student-t interval of batch means (batch size ⌊√m⌋).
    BatchMeansT,
    /// Normal interval from the standard error of a bootstrap over checkpoints (resampled with
    /// replacement as whole units: includes checkpoint-position uncertainty).
    CheckpointBootstrap,
    /// Centred (basic) bootstrap interval 2θ̂ − q_{1−α/2}, 2θ̂ − q_{α/2} of a fraction.
    CentredBootstrap,
    /// Ratio interval on the log scale: r̂·exp(±z·se/r̂), se = sd/√ESS of the trajectory
    /// statistic (delta method; never negative).
    LogScaleZSdOverSqrtEss,
}

impl IntervalMethod {
    /// The method in words, as the reports print it.
    pub fn describe(self) -> &'static str {
        match self {
            IntervalMethod::Unrecorded => "see docs/methods.md",
            IntervalMethod::NormalBootstrapSe => {
                "normal-approximation interval from a bootstrap standard error"
            }
            IntervalMethod::BasicBootstrap => "basic bootstrap interval",
            IntervalMethod::PercentileBootstrap => "percentile bootstrap interval",
            IntervalMethod::MovingBlockBootstrap => "moving-block bootstrap of the series",
            IntervalMethod::RangeOverCheckpoints => {
                "range over the checkpoints (not a confidence interval)"
            }
            IntervalMethod::MeanZSdOverSqrtEss => "mean ± z·sd/√ESS (ESS by Geyer)",
            IntervalMethod::FromCurvature => "interval of the curvature estimate",
            IntervalMethod::Analytic => "closed-form interval (docs/methods.md)",
            IntervalMethod::SpreadChiSquareRange => "interval over the loss probes",
            IntervalMethod::BatchMeansT => "Student-t interval of batch means",
            IntervalMethod::CheckpointBootstrap => {
                "normal interval from a bootstrap over checkpoints"
            }
            IntervalMethod::CentredBootstrap => "centred bootstrap interval",
            IntervalMethod::LogScaleZSdOverSqrtEss => {
                "log-scale interval r·exp(±z·se/r), se = sd/√ESS (ESS by Geyer)"
            }
        }
    }
}

/// A confidence interval [lo, hi] of coverage `level`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Interval {
    /// Lower end (`null` when undefined).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub lo: f64,
    /// Upper end (`null` when undefined).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub hi: f64,
    /// Nominal coverage, e.g. 0.95 (1.0 for a range over checkpoints).
    pub level: f64,
    /// How the interval was computed.
    pub method: IntervalMethod,
}

/// Which side of a tolerance is acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToleranceKind {
    /// estimate ≤ bound.
    AtMost,
    /// |estimate| ≤ bound.
    AbsAtMost,
    /// |estimate − 1| ≤ bound (a ratio to its prediction).
    RatioWithin,
}

/// A numeric tolerance with its direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tolerance {
    /// Which side of the bound is acceptable.
    pub kind: ToleranceKind,
    /// The bound.
    pub bound: f64,
}

impl Tolerance {
    /// estimate ≤ `bound`.
    pub fn at_most(bound: f64) -> Self {
        Tolerance {
            kind: ToleranceKind::AtMost,
            bound,
        }
    }
    /// |estimate| ≤ `bound`.
    pub fn abs_at_most(bound: f64) -> Self {
        Tolerance {
            kind: ToleranceKind::AbsAtMost,
            bound,
        }
    }
    /// |estimate − 1| ≤ `bound`.
    pub fn ratio_within(bound: f64) -> Self {
        Tolerance {
            kind: ToleranceKind::RatioWithin,
            bound,
        }
    }
    /// Whether `x` is within the tolerance.
    pub fn holds(&self, x: f64) -> bool {
        match self.kind {
            ToleranceKind::AtMost => x <= self.bound,
            ToleranceKind::AbsAtMost => x.abs() <= self.bound,
            ToleranceKind::RatioWithin => (x - 1.0).abs() <= self.bound,
        }
    }
}

impl std::fmt::Display for Tolerance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ToleranceKind::AtMost => write!(f, "≤ {}", self.bound),
            ToleranceKind::AbsAtMost => write!(f, "|·| ≤ {}", self.bound),
            ToleranceKind::RatioWithin => write!(f, "|r − 1| ≤ {}", self.bound),
        }
    }
}

/// A headline number: rendered in every report format.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KeyMetric {
    /// Stable identifier, e.g. `"minibatch_excess_kurtosis"`.
    pub name: String,
    /// What it is, for a reader.
    pub description: String,
    /// The point estimate (`null` when undefined).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub estimate: f64,
    /// Confidence interval, when one is computed.
    pub ci: Option<Interval>,
    /// The tolerance the estimate is compared with.
    pub tolerance: Option<Tolerance>,
    /// p-value of the associated significance test (after multiple-testing correction).
    pub p_value: Option<f64>,
}

impl KeyMetric {
    pub fn new(name: &str, description: &str, estimate: f64) -> Self {
        KeyMetric {
            name: name.into(),
            description: description.into(),
            estimate,
            ci: None,
            tolerance: None,
            p_value: None,
        }
    }
    pub fn ci(mut self, lo: f64, hi: f64, level: f64) -> Self {
        self.ci = Some(Interval {
            lo,
            hi,
            level,
            method: IntervalMethod::Unrecorded,
        });
        self
    }
    /// The interval with the method that made it.
    pub fn ci_by(mut self, lo: f64, hi: f64, level: f64, method: IntervalMethod) -> Self {
        self.ci = Some(Interval {
            lo,
            hi,
            level,
            method,
        });
        self
    }
    pub fn tolerance(mut self, t: Tolerance) -> Self {
        self.tolerance = Some(t);
        self
    }
    pub fn p_value(mut self, p: f64) -> Self {
        self.p_value = Some(p);
        self
    }
    pub fn p_value_opt(mut self, p: Option<f64>) -> Self {
        self.p_value = p;
        self
    }
}

/// The result of one assumption check.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckResult {
    /// pass, fail or inconclusive (docs/methods.md, "The verdict rule").
    pub verdict: Verdict,
    /// One sentence a reader can quote.
    pub summary: String,
    /// Why the verdict is what it is (for inconclusive: what is missing).
    pub reasons: Vec<String>,
    /// The headline numbers every report format shows.
    pub key_metrics: Vec<KeyMetric>,
    /// Detailed evidence (per checkpoint, per direction, …), typed per check.
    pub metrics: Evidence,
    /// The tolerances and levels this check applied (also in docs/methods.md).
    pub thresholds: Applied,
    /// The one-sided tests against the tolerances behind the verdict (docs/methods.md, "The
    /// verdict rule"); `null` for a check that stopped before testing anything.
    #[serde(default)]
    pub tests: Option<ToleranceTests>,
    /// The analysis basis the check decided in (docs/methods.md, "Analysis bases"); absent
    /// when the check does not record it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<AnalysisBasis>,
}

/// The analysis basis a check decided in (docs/methods.md, "Analysis bases").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisBasis {
    /// Every parameter (d ≤ k): the analysis subspace is the whole space.
    AllCoordinates,
    /// Eigenvectors of the Hessian with λ > 0 (format v2 basis/, or computed from a full
    /// hessian.npy): A-invariant, so the projected process is OU and the predictions are exact.
    HessianEigenbasis,
    /// The seeded random k-dimensional subspace: predictions there are subspace
    /// approximations unless the check's statistic stays valid under any projection.
    RandomSubspace,
    /// The top principal directions of the per-example gradient covariance.
    NoisePrincipal,
    /// A marginal screen of every coordinate.
    EveryCoordinate,
}

impl AnalysisBasis {
    /// The basis of a run's analysis subspace: all coordinates, the Hessian eigenbasis or the
    /// random subspace.
    pub fn of(run: &crate::run::Run) -> Self {
        match run.subspace.kind() {
            crate::run::SubspaceKind::Identity => AnalysisBasis::AllCoordinates,
            crate::run::SubspaceKind::HessianEigenbasis => AnalysisBasis::HessianEigenbasis,
            crate::run::SubspaceKind::RandomOrthonormal if run.d <= run.k() => {
                AnalysisBasis::AllCoordinates
            }
            crate::run::SubspaceKind::RandomOrthonormal => AnalysisBasis::RandomSubspace,
        }
    }

    /// The basis in words, as the reports print it.
    pub fn describe(self) -> &'static str {
        match self {
            AnalysisBasis::AllCoordinates => "all coordinates",
            AnalysisBasis::HessianEigenbasis => "Hessian eigenbasis (A-invariant, λ > 0 modes)",
            AnalysisBasis::RandomSubspace => "seeded random subspace (subspace approximation)",
            AnalysisBasis::NoisePrincipal => "principal directions of the gradient noise",
            AnalysisBasis::EveryCoordinate => "every coordinate (marginal screen)",
        }
    }
}

/// Runs `f` in the run's Hessian eigenbasis when it has one ([`crate::run::Run::invariant_view`],
/// with a fresh [`Context`] on the view: the shared estimates are recomputed there), else on
/// `ctx` itself. Cost O(Σ n m) for the view plus what `f` does.
pub fn in_invariant_basis<T>(ctx: &Context, f: impl FnOnce(&Context) -> T) -> T {
    match ctx.run.invariant_view() {
        std::borrow::Cow::Borrowed(_) => f(ctx),
        std::borrow::Cow::Owned(view) => f(&Context::new(&view, ctx.seed, ctx.thresholds)),
    }
}

/// One piece of a check's evidence tested against its tolerance: the fail test
/// H₀: effect ≤ tolerance and the equivalence test H₀: effect ≥ tolerance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PieceTest {
    /// The key metric tested (its `name`).
    pub name: String,
    /// Its point estimate (`null` when undefined).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub estimate: f64,
    /// The tolerance.
    pub tolerance: Tolerance,
    /// Whether the point estimate lies beyond the tolerance.
    pub beyond: bool,
    /// p-value of the fail test H₀: effect within the tolerance (unadjusted); small → the
    /// effect exceeds the tolerance. `null` when the piece could not be tested.
    pub p_fail: Option<f64>,
    /// p-value of the equivalence test H₀: effect at or beyond the tolerance; small → the
    /// effect is within it. `null` when the piece could not be tested.
    pub p_pass: Option<f64>,
}

/// The tests behind one check's verdict: the check fails when the Holm-adjusted fail p-value
/// over its pieces is ≤ α, passes when every piece's equivalence test rejects
/// (intersection–union, Berger 1982), and is otherwise inconclusive — "leaning fail" when an
/// estimate lies beyond its tolerance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToleranceTests {
    /// Holm-adjusted fail p-value over the pieces (min over pieces of the Holm-adjusted
    /// values; an untestable piece counts as 1).
    pub p_fail: f64,
    /// Intersection–union pass p-value: the largest piece p_pass (an untestable piece counts
    /// as 1).
    pub p_pass: f64,
    /// Inconclusive with an estimate beyond its tolerance whose fail test does not reject.
    pub leaning_fail: bool,
    /// The pieces, in the order of the key metrics.
    pub pieces: Vec<PieceTest>,
}

impl PieceTest {
    /// A piece whose `beyond` is read off the estimate and the tolerance (a non-finite
    /// estimate is never beyond). Cost O(1).
    pub fn new(
        name: impl Into<String>,
        estimate: f64,
        tolerance: Tolerance,
        p_fail: Option<f64>,
        p_pass: Option<f64>,
    ) -> Self {
        PieceTest {
            name: name.into(),
            estimate,
            tolerance,
            beyond: estimate.is_finite() && !tolerance.holds(estimate),
            p_fail,
            p_pass,
        }
    }
}

impl ToleranceTests {
    /// Combines the pieces (Holm for fail, intersection–union for pass). Cost: O(m log m).
    pub fn from_pieces(pieces: Vec<PieceTest>, alpha: f64) -> Self {
        let pf: Vec<f64> = pieces.iter().map(|p| p.p_fail.unwrap_or(1.0)).collect();
        let p_fail = crate::stats::onesided::holm_min(&pf).unwrap_or(1.0);
        let p_pass = pieces
            .iter()
            .map(|p| p.p_pass.unwrap_or(1.0))
            .fold(if pieces.is_empty() { 1.0 } else { 0.0 }, f64::max);
        let beyond = pieces.iter().any(|p| p.beyond);
        ToleranceTests {
            p_fail,
            p_pass,
            leaning_fail: p_fail > alpha && p_pass > alpha && beyond,
            pieces,
        }
    }

    /// The verdict the tests give at level `alpha`: fail, pass, else inconclusive.
    pub fn verdict(&self, alpha: f64) -> Verdict {
        if self.p_fail <= alpha {
            Verdict::Fail
        } else if self.p_pass <= alpha {
            Verdict::Pass
        } else {
            Verdict::Inconclusive
        }
    }
}

/// The overall verdict's tests: Holm over the four checks' fail p-values, intersection–union
/// for pass (docs/methods.md, "The overall verdict").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OverallTests {
    /// Holm-adjusted fail p-value of each assumption, in report order (`null` for a check
    /// without tests).
    pub holm_p_fail: Vec<Option<f64>>,
    /// The assumptions that fail after Holm over the four.
    pub failing: Vec<Assumption>,
    /// Inconclusive overall while some check fails on its own (not after Holm over the four)
    /// or leans to fail.
    pub leaning_fail: bool,
    /// The OU prediction, made in all coordinates (or an invariant basis), is contradicted by
    /// the trajectory (its fail test rejects at α), so an overall pass is held back
    /// (inconclusive). A prediction made in a subspace approximation never holds back.
    #[serde(default)]
    pub ou_prediction_contradicted: bool,
}

/// The overall verdict from the four checks (report order): **fail** when some check's fail
/// p-value is ≤ α after Holm over the four (family-wise false-fail rate ≤ α), **pass** when
/// every check passes (intersection–union: no correction needed), otherwise
/// **inconclusive**. A check without tests counts by its verdict. `ou` holds the OU
/// prediction's tests when the prediction may hold back a pass (made in all coordinates or an
/// invariant basis; the caller decides): when its fail test rejects at α, a pass becomes
/// inconclusive. Cost: O(1).
pub fn overall(
    checks: &[(Assumption, Verdict, Option<&ToleranceTests>)],
    ou: Option<&ToleranceTests>,
    alpha: f64,
) -> (Verdict, OverallTests) {
    let raw: Vec<f64> = checks
        .iter()
        .map(|(_, _, t)| t.map_or(1.0, |t| t.p_fail))
        .collect();
    let adj = crate::stats::onesided::holm_over_checks(&raw).unwrap_or(raw.clone());
    let mut failing = Vec::new();
    let mut holm = Vec::new();
    for ((a, v, t), p) in checks.iter().zip(adj) {
        holm.push(t.map(|_| p));
        if (t.is_some() && p <= alpha) || (t.is_none() && *v == Verdict::Fail) {
            failing.push(*a);
        }
    }
    let verdict = if !failing.is_empty() {
        Verdict::Fail
    } else {
        Verdict::combine(checks.iter().map(|(_, v, _)| match v {
            Verdict::Fail => Verdict::Inconclusive,
            v => *v,
        }))
    };
    let ou_prediction_contradicted = ou.is_some_and(|t| t.p_fail <= alpha);
    let verdict = if verdict == Verdict::Pass && ou_prediction_contradicted {
        Verdict::Inconclusive
    } else {
        verdict
    };
    let leaning_fail = verdict == Verdict::Inconclusive
        && checks
            .iter()
            .any(|(_, v, t)| *v == Verdict::Fail || t.is_some_and(|t| t.leaning_fail));
    (
        verdict,
        OverallTests {
            holm_p_fail: holm,
            failing,
            leaning_fail,
            ou_prediction_contradicted,
        },
    )
}

/// A check's verdict and its typed reasons `R` (each check's `Reason` enum carries the numbers
/// its sentences need; `report::narrate` writes the words).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<R> {
    pub verdict: Verdict,
    pub reasons: Vec<R>,
}

/// No evidence (a check that stopped before computing any): written as `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoEvidence {}

/// The detailed evidence of one check, one variant per check (`metrics` in the JSON report).
///
/// Untagged: the JSON holds the check's own object; which variant it is follows from the key
/// it sits under (each variant's struct denies unknown fields).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Evidence {
    None(NoEvidence),
    GaussianNoise(Box<gaussian_noise::Evidence>),
    ConstantCovariance(Box<constant_covariance::Evidence>),
    SmallStep(Box<small_step::Evidence>),
    QuadraticLoss(Box<quadratic_loss::Evidence>),
    OuPrediction(Box<ou_prediction::Evidence>),
}

/// The tolerances and levels a check applied (`thresholds` in the JSON report), per check.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Applied {
    None(NoEvidence),
    GaussianNoise(gaussian_noise::Applied),
    ConstantCovariance(constant_covariance::Applied),
    SmallStep(small_step::Applied),
    QuadraticLoss(quadratic_loss::Applied),
    OuPrediction(ou_prediction::Applied),
}

impl CheckResult {
    /// An inconclusive result with one reason and no metrics.
    pub fn inconclusive(summary: impl Into<String>, reason: impl Into<String>) -> Self {
        CheckResult {
            verdict: Verdict::Inconclusive,
            summary: summary.into(),
            reasons: vec![reason.into()],
            key_metrics: Vec::new(),
            metrics: Evidence::None(NoEvidence {}),
            thresholds: Applied::None(NoEvidence {}),
            tests: None,
            basis: None,
        }
    }
}

/// Decision of the common rule from an effect's interval and a significance flag.
///
/// * `Fail` when the deviation is significant and the effect (point estimate) exceeds the
///   tolerance, or when the whole interval lies above the tolerance (which implies significance
///   at the interval's level, as the tolerance is positive);
/// * `Pass` when the interval's upper end is within the tolerance;
/// * `Inconclusive` otherwise.
pub fn decide(estimate: f64, ci_hi: f64, ci_lo: f64, tolerance: f64, significant: bool) -> Verdict {
    if ci_lo > tolerance || (significant && estimate > tolerance) {
        Verdict::Fail
    } else if ci_hi <= tolerance {
        Verdict::Pass
    } else {
        Verdict::Inconclusive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combine_and_decide() {
        use Verdict::*;
        assert_eq!(Verdict::combine([Pass, Pass]), Pass);
        assert_eq!(Verdict::combine([Pass, Inconclusive]), Inconclusive);
        assert_eq!(Verdict::combine([Inconclusive, Fail]), Fail);
        assert_eq!(decide(0.1, 0.2, 0.0, 0.5, true), Pass);
        assert_eq!(decide(0.6, 0.9, 0.3, 0.5, true), Fail);
        assert_eq!(decide(0.6, 0.9, 0.3, 0.5, false), Inconclusive);
        assert_eq!(decide(0.8, 0.9, 0.6, 0.5, false), Fail);
        assert_eq!(decide(0.4, 0.7, 0.1, 0.5, false), Inconclusive);
    }
}
