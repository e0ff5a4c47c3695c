//! The typed evidence (`metrics`) and applied thresholds (`thresholds`) of the Gaussian-noise
//! check, field by field in the order of the JSON report. Values that may be NaN or ±∞ are
//! written as `null`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::Verdict;

/// A pair [lo, hi] (either end `null` when it could not be computed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Bounds(
    /// Lower end.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub f64,
    /// Upper end.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub f64,
);

/// Which estimate of the minibatch noise's shape the verdict rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Route {
    /// Per-example gradients: the CLT prediction at S votes; the direct samples are reported.
    #[serde(rename = "clt_prediction+direct")]
    CltPredictionAndDirect,
    /// Minibatch gradients: the direct samples vote.
    #[serde(rename = "direct")]
    Direct,
}

/// How a checkpoint's direct noise samples were formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SampleNote {
    /// Per-example rows: disjoint minibatches of S rows.
    #[serde(rename = "disjoint minibatches of size S from the n rows (⌊n/S⌋ available)")]
    DisjointMinibatches,
    /// The rows are minibatch gradients already.
    #[serde(rename = "rows are minibatch gradients (gradients: \"minibatch\")")]
    MinibatchRows,
}

/// The direct noise samples one checkpoint contributed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleRow {
    /// Training step of the checkpoint.
    pub step: u64,
    /// Gradient rows n exported at the checkpoint.
    pub rows: usize,
    /// Direct minibatch-noise samples formed from them (⌊n/S⌋ per-example, n minibatch).
    pub minibatch_samples: usize,
    /// Rows left over after cutting ⌊n/S⌋ minibatches (0 for minibatch rows).
    pub rows_unused: usize,
    /// How the samples were formed.
    pub note: SampleNote,
}

/// Skewness and excess kurtosis of the minibatch noise along one direction, with simultaneous
/// intervals (estimate ± z·bootstrap SE).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EffectRow {
    /// Skewness (dimensionless; 0 for Gaussian noise).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub skewness: f64,
    /// Simultaneous interval of the skewness.
    pub skewness_ci: Bounds,
    /// Excess kurtosis (dimensionless; 0 for Gaussian noise).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub excess_kurtosis: f64,
    /// Simultaneous interval of the excess kurtosis.
    pub excess_kurtosis_ci: Bounds,
    /// Robust bootstrap standard error of the skewness, (q₀.₈₄ − q₀.₁₆)/2 of the replicates,
    /// used by the tests against the tolerance (`null` when not computed).
    #[serde(default)]
    pub skewness_se: Option<f64>,
    /// Robust bootstrap standard error of the excess kurtosis (as `skewness_se`).
    #[serde(default)]
    pub excess_kurtosis_se: Option<f64>,
    /// Robust bootstrap standard error of log|skewness| (the log-scale fail test).
    #[serde(default)]
    pub skewness_se_log: Option<f64>,
    /// Robust bootstrap standard error of log|excess kurtosis| (the log-scale fail test).
    #[serde(default)]
    pub excess_kurtosis_se_log: Option<f64>,
    /// Berry–Esseen bound on the Kolmogorov distance from the normal law, in [0, 1] (CLT route
    /// only; `null` for the direct samples).
    pub berry_esseen_bound: Option<f64>,
    /// Its interval, clipped to [0, 1] (CLT route only).
    pub berry_esseen_bound_ci: Option<Bounds>,
}

/// The verdict-relevant numbers of one analysis direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectionRow {
    /// Index of the analysis direction.
    pub direction: usize,
    /// The effect that votes: the CLT prediction (per-example runs) or the direct sample
    /// moments (minibatch runs); `null` when it cannot be estimated (no noise, too few rows).
    pub effect: Option<EffectRow>,
    /// Skewness and excess kurtosis of the pooled direct samples (reported, not voted, in
    /// per-example runs).
    pub direct_sample_moments: Option<EffectRow>,
    /// D'Agostino–Pearson K² of the pooled direct samples (`null` when not run).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub k2_statistic: f64,
    /// K² p-value of the direct samples (Monte Carlo calibrated at small n; see `k2_p_values`).
    pub p_value_direct: Option<f64>,
    /// Smallest per-checkpoint K² p-value of the per-example gradients ×K checkpoints
    /// (per-example runs).
    pub p_value_per_example: Option<f64>,
    /// The direction's p-value: the direct one, or Bonferroni over both routes.
    pub p_value_combined: Option<f64>,
    /// `p_value_combined` after Holm over the k directions (`null` when a direction was not
    /// tested).
    pub p_value_holm: Option<f64>,
    /// The direction's verdict (`pass`, `fail` or `inconclusive`).
    #[schemars(with = "Option<String>")]
    pub verdict: Option<Verdict>,
}

/// CLT prediction at one checkpoint and direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CltRow {
    /// Predicted skewness of the minibatch mean at S.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub skewness: f64,
    /// Simultaneous interval of the skewness.
    pub skewness_ci: Bounds,
    /// Predicted excess kurtosis of the minibatch mean at S.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub excess_kurtosis: f64,
    /// Simultaneous interval of the excess kurtosis.
    pub excess_kurtosis_ci: Bounds,
    /// Berry–Esseen bound 0.4748·ρ/(σ³√S), capped at 1.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub berry_esseen_bound: f64,
}

/// Moments of one checkpoint's standardised direct samples in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectRow {
    /// Number of direct samples.
    pub samples: usize,
    /// Sample skewness.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub skewness: f64,
    /// Sample excess kurtosis.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub excess_kurtosis: f64,
}

/// One checkpoint's contribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRow {
    /// Training step.
    pub step: u64,
    /// Its direct samples (as in `samples`).
    pub samples: SampleRow,
    /// CLT prediction per direction (`null` in minibatch runs; an entry is `null` where the
    /// direction is degenerate).
    pub clt_prediction: Option<Vec<Option<CltRow>>>,
    /// Direct-sample moments per direction (`null` where the direction has no noise).
    pub direct: Vec<Option<DirectRow>>,
}

/// A tail-index estimate with its percentile-bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TailEstimate {
    /// Point estimate α̂.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub estimate: f64,
    /// Percentile-bootstrap interval (upper end `null` when infinite).
    pub ci: Bounds,
    /// Coverage of the interval.
    pub level: f64,
    /// Observations used.
    pub n_used: usize,
}

/// A tail-index estimate, or why it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TailFit {
    /// The estimate.
    Estimate(TailEstimate),
    /// The estimator's error message.
    Failed {
        /// Why no estimate.
        error: String,
    },
}

impl TailFit {
    /// The point estimate, when there is one.
    pub fn estimate(&self) -> Option<f64> {
        match self {
            TailFit::Estimate(t) => Some(t.estimate),
            TailFit::Failed { .. } => None,
        }
    }
}

/// Why a direction has no tail indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TailNote {
    /// Tail indices need at least 50 direct samples.
    #[serde(rename = "fewer than 50 direct samples")]
    TooFewSamples,
}

/// Tail indices of the direct samples of one direction (diagnostic).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TailRow {
    /// Index of the analysis direction.
    pub direction: usize,
    /// Why the indices were not computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<TailNote>,
    /// Order statistics k = ⌊√M⌋ of the Hill estimator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hill_k: Option<usize>,
    /// Hill estimate of the tail index (Gaussian noise gives ≈ 4–6 at this k).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hill: Option<TailFit>,
    /// Block size m of the block-sum estimator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_sum_m: Option<usize>,
    /// Block-sum estimate of the stable index α (≈ 2 for Gaussian noise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_sum_alpha: Option<TailFit>,
    /// 5 % quantile of the Hill estimate over 400 seeded Gaussian samples of this size: below
    /// it the Hill α̂ points to heavy tails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hill_gaussian_q05: Option<f64>,
    /// 5 % quantile of the block-sum α̂ over the same kind of Gaussian samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_sum_gaussian_q05: Option<f64>,
}

/// Henze–Zirkler and Mardia on the whitened direct samples of the first p directions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultivariateTests {
    /// Dimension p = min(k, 5).
    pub dimension: usize,
    /// Pooled whitened samples M used (a systematic subsample of at most 1,000).
    pub samples: usize,
    /// The directions tested (0..p).
    pub directions: Vec<usize>,
    /// Henze–Zirkler statistic.
    pub henze_zirkler: f64,
    /// Its p-value.
    pub henze_zirkler_p: f64,
    /// Mardia's multivariate skewness b₁,p.
    pub mardia_skewness_b1: f64,
    /// Its p-value.
    pub mardia_skewness_p: f64,
    /// Mardia's multivariate kurtosis b₂,p.
    pub mardia_kurtosis_b2: f64,
    /// Its value p(p + 2) under normality (large M).
    pub mardia_kurtosis_expected: f64,
    /// Its two-sided p-value.
    pub mardia_kurtosis_p: f64,
    /// How the p-values were computed (Monte Carlo below M = 50p, asymptotic beyond).
    pub p_values: String,
}

/// The multivariate tests (diagnostic), or why they were not run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Multivariate {
    /// The tests.
    Tests(MultivariateTests),
    /// Not run.
    NotRun {
        /// Why not.
        note: String,
    },
}

/// Q–Q data of the worst direction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QqRow {
    /// The worst direction.
    pub direction: usize,
    /// Standard normal quantiles at the plotting positions.
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub theoretical: Vec<f64>,
    /// The sorted standardised direct samples.
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub sample: Vec<f64>,
    /// The plotting positions used.
    pub plotting_positions: String,
}

/// What the noise's non-Gaussianity does to the stationary law of the stiffest mode (beside
/// the verdict, not voting): for x_{t+1} = (1 − ελ)x_t + εξ_t with i.i.d. ξ of skewness γ₁ and
/// excess kurtosis γ₂ (finite fourth moments), cumulant n of the stationary x is
/// εⁿκₙ(ξ)/(1 − (1 − ελ)ⁿ), so its skewness is γ₁(1 − r²)^{3/2}/(1 − r³) ≈ 0.94·√(ελ)·γ₁ and its
/// excess kurtosis γ₂(1 − r²)²/(1 − r⁴) ≈ ελ·γ₂ (r = 1 − ελ). α-stable noise stays α-stable.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StationaryImpact {
    /// ε·λ_max of the primary curvature estimate.
    pub lr_lambda_max: f64,
    /// The noise skewness used (largest |·| over the directions, signed).
    pub noise_skewness: f64,
    /// The noise excess kurtosis used (largest |·| over the directions, signed).
    pub noise_excess_kurtosis: f64,
    /// Skewness the stiffest mode's stationary law inherits.
    pub stationary_skewness: f64,
    /// Excess kurtosis the stiffest mode's stationary law inherits.
    pub stationary_excess_kurtosis: f64,
}

/// Evidence of the Gaussian-noise check (`assumptions.gaussian_noise.metrics`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Which estimate votes (`clt_prediction+direct` for per-example runs, `direct` for
    /// minibatch runs).
    pub route: Route,
    /// The run's batch size S.
    pub batch_size: usize,
    /// Data-set size N when minibatches are drawn without replacement, else `null`.
    pub population: Option<usize>,
    /// Whether the finite-population formulas were used.
    pub finite_population_correction: bool,
    /// Number k of analysis directions.
    pub directions: usize,
    /// Direct samples per checkpoint.
    pub samples: Vec<SampleRow>,
    /// Smallest pooled direct sample over the directions (M).
    pub direct_samples_per_direction: usize,
    /// Direct samples the checkpoints could give in total.
    pub direct_samples_available: usize,
    /// Whether M reached the minimum for the direct normality tests.
    pub direct_tests_run: bool,
    /// How the K² p-values were computed.
    pub k2_p_values: String,
    /// z of the 2k simultaneous intervals (Bonferroni).
    pub simultaneous_z: f64,
    /// One row per direction.
    pub per_direction: Vec<DirectionRow>,
    /// One row per checkpoint.
    pub per_checkpoint: Vec<CheckpointRow>,
    /// Tail indices per direction (diagnostic).
    pub tail_indices: Vec<TailRow>,
    /// Multivariate normality tests (diagnostic).
    pub multivariate: Multivariate,
    /// The direction that drives the verdict.
    pub worst_direction: usize,
    /// Q–Q data of the worst direction (`null` with fewer than 3 direct samples).
    pub qq_worst_direction: Option<QqRow>,
    /// The impact on the stationary law (`null` without ε and a positive stable λ_max).
    #[serde(default)]
    pub stationary_impact: Option<StationaryImpact>,
    /// The every-coordinate screen (per-example runs; fail-only piece, issue 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_coordinate: Option<super::every_coordinate::EveryCoordinate>,
    /// The noise principal subspace (per-example runs with d > k; a fail-only piece).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_principal: Option<super::noise_principal::NoisePrincipal>,
}

/// The thresholds the check applied (`assumptions.gaussian_noise.thresholds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// Tolerance on |minibatch skewness|.
    pub max_abs_skewness: f64,
    /// Tolerance on |minibatch excess kurtosis|.
    pub max_abs_excess_kurtosis: f64,
    /// Family-wise significance level.
    pub alpha: f64,
    /// Coverage of the simultaneous intervals.
    pub ci_level: f64,
    /// Fewest pooled direct samples for the direct tests.
    pub min_minibatch_samples: usize,
    /// Bootstrap resamples B.
    pub bootstrap_resamples: usize,
}
