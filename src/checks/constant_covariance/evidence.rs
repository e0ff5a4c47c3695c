//! The typed evidence (`metrics`) and applied thresholds (`thresholds`) of the
//! constant-covariance check, field by field as the JSON report writes them.
//!
//! Numbers that may be non-finite are written as `null` (an interval end, a ratio without a
//! denominator, …) and read back as NaN or `None`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::stats::covariance::{BoxM, PermutationCovTest};

/// The thresholds the constant-covariance check applied (`thresholds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// Tolerance on the RMS relative Frobenius deviation D of the per-checkpoint covariances
    /// from the pooled one (a fraction: 0.1 = 10%).
    pub max_rel_deviation: f64,
    /// Fewest checkpoints for a verdict (at least 2 are always needed).
    pub min_checkpoints: usize,
    /// Largest real level of Box's M χ² approximation (under the observed kurtosis) at which
    /// Box's M is used for independent rows; above it the permutation test decides.
    pub box_m_max_level: f64,
    /// Significance level of the test of equal covariances.
    pub alpha: f64,
    /// Coverage of the bootstrap intervals.
    pub ci_level: f64,
    /// Bootstrap resamples requested (at least 20 are drawn).
    pub bootstrap_resamples: usize,
    /// Random permutations of the permutation test.
    pub permutations: usize,
    /// Largest share of what is compared that one gradient row may carry before the check is
    /// inconclusive (a fraction).
    pub max_row_influence: f64,
}

/// Whether the checkpoints hold gradients of the same examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Design {
    /// The same examples at every checkpoint (equal n, centred rows correlated).
    Paired,
    /// Independent rows at each checkpoint.
    Independent,
}

/// The test of equal covariances that decided significance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestUsed {
    /// Paired design: the joint bootstrap of T (level at which its basic interval excludes 0).
    PairedBootstrap,
    /// Box's M χ² test (independent rows, calibrated here).
    BoxM,
    /// Studentised permutation test (independent rows, Box's M not calibrated).
    Permutation,
    /// No test could be run.
    None,
}

impl TestUsed {
    /// The JSON key, e.g. `"paired_bootstrap"`.
    pub fn key(self) -> &'static str {
        match self {
            TestUsed::PairedBootstrap => "paired_bootstrap",
            TestUsed::BoxM => "box_m",
            TestUsed::Permutation => "permutation",
            TestUsed::None => "none",
        }
    }
}

/// Where the stationary spread Σ_s of the Mahalanobis distances comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpreadSource {
    /// Covariance of the trajectory's iterates.
    Trajectory,
    /// Covariance of the checkpoint positions (no usable trajectory).
    Checkpoints,
}

/// Box's M test as computed (`box_m`); see [`BoxM`] for the formulas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BoxMEvidence {
    /// Box's M = (N − g) ln|S_p| − Σᵢ vᵢ ln|Sᵢ|.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub statistic: f64,
    /// (1 − c₁)·M, the χ² statistic.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub chi2: f64,
    /// f₁ = k(k + 1)(g − 1)/2, degrees of freedom of the χ².
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub dof: f64,
    /// χ² upper-tail p-value.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub p_value: f64,
    /// Box's c₁ correction.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub c1: f64,
    /// Box's c₂ correction.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub c2: f64,
    /// Box's F statistic (null when the F approximation is undefined).
    pub f_statistic: Option<f64>,
    /// Denominator degrees of freedom of the F approximation.
    pub f_df2: Option<f64>,
    /// F upper-tail p-value.
    pub f_p_value: Option<f64>,
}

impl From<&BoxM> for BoxMEvidence {
    fn from(b: &BoxM) -> Self {
        BoxMEvidence {
            statistic: b.statistic,
            chi2: b.chi2,
            dof: b.dof,
            p_value: b.p_value,
            c1: b.c1,
            c2: b.c2,
            f_statistic: b.f_statistic,
            f_df2: b.f_df2,
            f_p_value: b.f_p_value,
        }
    }
}

/// The studentised permutation test of equal covariances (`permutation_test`); see
/// [`PermutationCovTest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermutationEvidence {
    /// min(p_sum, p_max), the observed min-p combination statistic.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub statistic: f64,
    /// Permutation p-value of the min-p combination.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub p_value: f64,
    /// T_sum, mean over the k(k + 1)/2 entries of the studentised statistic.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub sum_statistic: f64,
    /// Permutation p-value of T_sum.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub sum_p_value: f64,
    /// T_max, the largest entry of the studentised statistic.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub max_statistic: f64,
    /// Permutation p-value of T_max.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub max_p_value: f64,
    /// Number of permutations.
    pub permutations: usize,
}

impl From<&PermutationCovTest> for PermutationEvidence {
    fn from(p: &PermutationCovTest) -> Self {
        PermutationEvidence {
            statistic: p.statistic,
            p_value: p.p_value,
            sum_statistic: p.sum_statistic,
            sum_p_value: p.sum_p_value,
            max_statistic: p.max_statistic,
            max_p_value: p.max_p_value,
            permutations: p.permutations,
        }
    }
}

/// The per-checkpoint relative covariance change against the checkpoint's distance from the
/// mean iterate (`plot_change_vs_distance`), one entry per checkpoint; `null` where not finite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlot {
    /// Mahalanobis distance of the checkpoint from the mean iterate, in stationary standard
    /// deviations.
    pub distance: Vec<Option<f64>>,
    /// ‖Ĉ_i − C̄‖_F/‖C̄‖_F, bootstrap bias-corrected (a fraction).
    pub rel_change: Vec<Option<f64>>,
    /// Lower end of its basic bootstrap interval.
    pub rel_change_lo: Vec<Option<f64>>,
    /// Upper end of its basic bootstrap interval.
    pub rel_change_hi: Vec<Option<f64>>,
    /// ‖Ĉ_i − C̄‖_F/‖C̄‖_F as measured (includes sampling noise).
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub rel_change_raw: Vec<f64>,
}

/// One checkpoint's noise covariance Ĉ_i (`per_checkpoint[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRow {
    /// Training step of the checkpoint.
    pub step: u64,
    /// Gradient rows at the checkpoint.
    pub n: usize,
    /// tr Ĉ_i (squared gradient units).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub trace: f64,
    /// Eigenvalues of Ĉ_i, descending (empty when the decomposition failed).
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub eigenvalues: Vec<f64>,
    /// The largest of them.
    pub largest_eigenvalue: Option<f64>,
    /// ‖Ĉ_i − C̄‖_F/‖C̄‖_F as measured.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub rel_deviation_from_pooled_raw: f64,
    /// The same, bootstrap bias-corrected.
    pub rel_deviation_from_pooled: Option<f64>,
    /// Its basic bootstrap interval [lo, hi] (pointwise).
    pub rel_deviation_ci: [Option<f64>; 2],
    /// Largest principal angle between the top-r eigenspaces of Ĉ_i and C̄, degrees.
    pub max_principal_angle_deg: Option<f64>,
    /// Mahalanobis distance of the checkpoint from the mean iterate (stationary sd).
    pub distance_from_mean_iterate: Option<f64>,
}

/// Evidence when one gradient row dominates what is compared (the check stops, inconclusive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RowDominated {
    /// Largest share of one row in what is compared (a fraction; null when not finite).
    pub max_row_influence: Option<f64>,
    /// Step of the checkpoint holding that row.
    pub max_row_influence_step: u64,
    /// Paired or independent rows.
    pub design: Design,
    /// Mean correlation of the centred rows of successive checkpoints (null: rows not
    /// pairable).
    pub pairing_correlation: Option<f64>,
    /// T, the weighted mean squared relative deviation from the pooled covariance, as measured.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub statistic_raw: f64,
}

/// The full evidence of a measured covariance change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Measured {
    /// T = Σ_i w_i ‖Ĉ_i − C̄‖²_F/‖C̄‖²_F as measured (D² before bias correction).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub statistic_raw: f64,
    /// T bias-corrected by the bootstrap, 2T − mean(T*).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub statistic_bias_corrected: f64,
    /// Basic bootstrap interval of T, [lo, hi].
    pub statistic_ci: [Option<f64>; 2],
    /// mean(T*) over the bootstrap resamples.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub bootstrap_mean: f64,
    /// Bootstrap resamples with a non-zero pooled covariance.
    pub bootstrap_resamples_used: usize,
    /// The population factor c = 1/(1 − Σ w̃_i²) (w̃ normalised weights): c·T estimates the
    /// covariance variance over the stationary law, not only over these checkpoints.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub population_factor: f64,
    /// The tested statistic T̂_d = c·(2T − mean T*): D² over the stationary law, sampling noise
    /// removed (may be negative by chance).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub statistic_debiased: f64,
    /// Standard error of T̂_d from the bootstrap over checkpoints (resampled with replacement
    /// as whole units): includes the checkpoint-position uncertainty.
    pub statistic_se_checkpoint: Option<f64>,
    /// Checkpoint-bootstrap resamples used for that standard error.
    pub checkpoint_bootstrap_resamples_used: usize,
    /// Impact: excess kurtosis 3·D² of the noise scale mixture implied by D when C changes by a
    /// scale only (C(θ) = s(θ)²C; docs/methods.md, "The verdict rule: constant covariance and
    /// quadratic loss"); the stationary law of θ averages over ≈ 1/(ελ) steps and is damped
    /// further. `null` when D is not finite.
    pub implied_noise_excess_kurtosis: Option<f64>,
    /// Paired or independent rows.
    pub design: Design,
    /// Mean correlation of the centred rows of successive checkpoints (null: rows not
    /// pairable).
    pub pairing_correlation: Option<f64>,
    /// Correlation above which the design is paired, max(0.1, 3/√(n k (g − 1))).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub pairing_threshold: f64,
    /// Largest share of one gradient row in what is compared (a fraction).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub max_row_influence: f64,
    /// Whether the test of equal covariances rejects at `alpha`.
    pub significant: bool,
    /// The test that decided significance.
    pub test_used: TestUsed,
    /// Why that test, in words.
    pub test_reason: String,
    /// The permutation test, when it ran.
    pub permutation_test: Option<PermutationEvidence>,
    /// Box's M, when computable (reported even when it did not decide).
    pub box_m: Option<BoxMEvidence>,
    /// Whether Box's M was calibrated here and decided.
    pub box_m_valid: bool,
    /// Real level of Box's M χ² approximation at nominal `alpha` under the upper 2-SE bound of
    /// the pooled kurtosis.
    pub box_m_real_level: Option<f64>,
    /// Pooled elliptical kurtosis parameter κ̂ (Mardia b₂ / its normal mean − 1).
    pub pooled_kurtosis_kappa: Option<f64>,
    /// Normal-theory standard error of κ̂.
    pub pooled_kurtosis_se: Option<f64>,
    /// max_i λ_max(Ĉ_i)/min_i λ_max(Ĉ_i) as measured.
    pub top_eigenvalue_ratio_raw: Option<f64>,
    /// The same, bootstrap bias-corrected.
    pub top_eigenvalue_ratio: Option<f64>,
    /// Its basic bootstrap interval.
    pub top_eigenvalue_ratio_ci: [Option<f64>; 2],
    /// r, the dimension of the top eigenspaces compared (min(3, max(1, k/2))).
    pub principal_angle_rank: usize,
    /// (λ_r − λ_{r+1})/λ_1 of the pooled covariance: how well its top-r eigenspace is defined.
    pub pooled_eigengap_rel: Option<f64>,
    /// Largest principal angle (degrees) between a checkpoint's and the pooled top-r
    /// eigenspace, as measured.
    pub max_principal_angle_deg_raw: Option<f64>,
    /// Its basic bootstrap interval (degrees).
    pub max_principal_angle_ci: [Option<f64>; 2],
    /// L, relative change of C per stationary standard deviation of displacement,
    /// bootstrap bias-corrected.
    pub sensitivity_per_stationary_sd: Option<f64>,
    /// Basic bootstrap interval of L.
    pub sensitivity_ci: [Option<f64>; 2],
    /// L as measured.
    pub sensitivity_raw: Option<f64>,
    /// Where the stationary spread of the distances comes from.
    pub spread_source: SpreadSource,
    /// Per-checkpoint change against distance, for the figure.
    pub plot_change_vs_distance: ChangePlot,
    /// tr C̄ of the pooled covariance.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub pooled_trace: f64,
    /// Eigenvalues of C̄, descending.
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub pooled_eigenvalues: Vec<f64>,
    /// One row per checkpoint.
    pub per_checkpoint: Vec<CheckpointRow>,
}

/// The constant-covariance check's evidence (`metrics`): the full measurement, or the few
/// numbers of a run whose covariance is dominated by one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Evidence {
    /// The covariance change was measured.
    Measured(Box<Measured>),
    /// One row dominates: the change cannot be measured from these rows.
    RowDominated(RowDominated),
}
