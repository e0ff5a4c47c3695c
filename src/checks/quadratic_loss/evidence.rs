//! The typed evidence of the quadratic-loss check (`assumptions.quadratic_loss.metrics` and
//! `.thresholds` in the JSON report). Field order is the JSON key order.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Evidence of the quadratic-loss check: one part per kind of evidence, each saying whether it
/// was available.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Constancy of the projected Hessian across checkpoints (needs hessian.npy at ≥ 2).
    pub hessian_constancy: HessianConstancy,
    /// Linearity of the mean gradient in the position across checkpoints.
    pub gradient_linearity: GradientLinearity,
    /// The losses against the quadratic model c + bᵀθ + ½θᵀAθ.
    pub loss_model: LossModel,
    /// The loss along the probe directions against the best quadratic.
    pub loss_probes: LossProbes,
    /// Sign of the curvature matrix, per direction (absent when no curvature matrix is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curvature: Option<CurvatureSign>,
    /// RESET of the losses against a quadratic in the projected position (only in a subspace
    /// that is not A-invariant, where it decides instead of gradient linearity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<super::Reset>,
}

/// Hessian constancy: R_H = max_i ‖H_i − H̄‖_F / ‖H̄‖_F of the projected Hessians.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HessianConstancy {
    /// Whether the run provides this evidence.
    pub available: bool,
    /// Why it is unavailable (only when `available` is false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Number of checkpoints with a Hessian.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<usize>,
    /// R_H, the largest relative Frobenius change from the mean Hessian (dimensionless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub max_rel_change: Option<f64>,
    /// ‖H_i − H̄‖_F / ‖H̄‖_F per checkpoint with a Hessian (null when not finite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_vec")]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub per_checkpoint: Option<Vec<f64>>,
    /// Top eigenvalue of the mean Hessian H̄ (null when its decomposition failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub top_eigenvalue_of_mean: Option<f64>,
    /// Top eigenvalue of each checkpoint's Hessian (null when a decomposition failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_vec")]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub top_eigenvalue_per_checkpoint: Option<Vec<f64>>,
    /// Largest relative change of the top eigenvalue from that of H̄ (informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub max_rel_change_top_eigenvalue: Option<f64>,
    /// Smallest eigenvalue of each checkpoint's Hessian (null when a decomposition failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_vec")]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub min_eigenvalue_per_checkpoint: Option<Vec<f64>>,
}

/// Gradient linearity: the unexplained fraction U of the mean-gradient variation across
/// checkpoints under ḡ_i = Aθ_i + b, sampling noise removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GradientLinearity {
    /// Whether the test was computed.
    pub available: bool,
    /// Why it was not (only when `available` is false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where A came from: `"hessian"` (mean Hessian, fixed) or `"least_squares"` (fitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_source: Option<String>,
    /// Number of checkpoints m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<usize>,
    /// U = (RSS − ν_R)/(TSS − ν_T), a fraction in [0, ∞).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub unexplained_fraction: Option<f64>,
    /// Percentile-bootstrap interval [lo, hi] of U over checkpoints (null for an infinite end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_vec")]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub ci: Option<Vec<f64>>,
    /// Bootstrap resamples that gave a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_resamples_used: Option<usize>,
    /// Expected sampling noise s_i = E‖ḡ_i − g(θ_i)‖² of each checkpoint's mean gradient
    /// (squared gradient units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_vec")]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub mean_gradient_noise: Option<Vec<f64>>,
    /// `true` in a subspace that is not A-invariant: the fit omits P A (I − PᵀP) θ, so the
    /// fraction is a subspace approximation, reported but never deciding (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subspace_approximation: Option<bool>,
}

/// Loss against the quadratic model: U_L = RSS/TSS of the losses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossModel {
    /// Whether the test was computed.
    pub available: bool,
    /// Why it was not (only when `available` is false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which losses: `"trajectory"` or `"checkpoints"` (exact checkpoint mean losses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Where A came from: `"fitted"` (a full quadratic fitted) or the source of the fixed A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_source: Option<String>,
    /// Number of losses T.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub losses: Option<usize>,
    /// U_L = RSS/TSS, a fraction in [0, 1] when A is fitted (> 1 possible with A fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub unexplained_fraction: Option<f64>,
    /// Moving-block bootstrap interval [lo, hi] of U_L (null for an infinite end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_vec")]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub ci: Option<Vec<f64>>,
    /// Block length of the bootstrap, in rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_length: Option<usize>,
    /// Bootstrap resamples that gave a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_resamples_used: Option<usize>,
    /// `true` when A was fixed to an estimate and U_L > 1 (RSS > TSS): the estimate of A is
    /// inconsistent with the data; this says nothing about the shape of the loss (absent
    /// otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_inconsistent: Option<bool>,
    /// The factor s by which the fixed estimate of A was scaled: the value within its λ_max
    /// interval (as a ratio to the matrix's own λ_max) that fits the losses best (absent when
    /// A was fitted, is the Hessian, or s = 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub a_scale: Option<f64>,
}

/// Loss probes: the error δ of the best quadratic along each probe direction over ±c stationary
/// sd, relative to the loss range there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LossProbes {
    /// Whether the run has loss probes.
    pub available: bool,
    /// Why there are none (only when `available` is false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The largest δ over the decided directions (fraction of the loss range).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub max_quadratic_error: Option<f64>,
    /// [lo, hi] of the largest δ over the spread's χ² interval; hi null when a region was not
    /// spanned by the offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<Vec<Option<f64>>>,
    /// c: the region's half-width in stationary standard deviations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub region_sds: Option<f64>,
    /// Directions with a non-positive fitted curvature ("step S direction j (d²q/dt² = …)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_positive: Option<Vec<String>>,
    /// One row per probe direction and checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directions: Option<Vec<ProbeDirection>>,
}

/// One probe direction at one checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeDirection {
    /// Training step of the checkpoint.
    pub step: u64,
    /// Index j of the direction in probe_directions.npy.
    pub direction: usize,
    /// Where the spread of u = v_jᵀθ was measured: `"trajectory"` or `"checkpoints"`.
    pub spread_source: String,
    /// μ_j, the mean of u over the iterates.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub mean: f64,
    /// σ_j, the standard deviation of u over the iterates.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub sd: f64,
    /// Effective sample size n_e of the spread (at least 2).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub effective_n: f64,
    /// ‖v_j‖.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub direction_norm: f64,
    /// Why the direction was not decided (absent when it was or when no χ² quantile exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The region [t_lo, t_hi] in probe offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_vec")]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub region_offsets: Option<Vec<f64>>,
    /// δ over the region (fraction of the loss range there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub quadratic_error: Option<f64>,
    /// [lo, hi] of δ over the spread's interval; hi null when not every width was spanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quadratic_error_ci: Option<Vec<Option<f64>>>,
    /// Whether the offsets span every region width evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsets_cover_region: Option<bool>,
    /// Fitted curvature d²q/du² along the direction (loss per squared unit of u).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub curvature: Option<f64>,
}

/// The sign of the curvature matrix the check used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CurvatureSign {
    /// The matrix: `"hessian"` (mean Hessian), the curvature module's primary estimate
    /// (`"lag1"`, `"regression"`), or `"least_squares"` (the gradient fit's A).
    pub source: String,
    /// Its eigenvalues, ascending (loss per squared parameter unit).
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub eigenvalues: Vec<f64>,
    /// Number of eigenvalues ≤ 1e-8·|λ_max|.
    pub non_positive_directions: usize,
    /// Whether the smallest eigenvalue is ≤ 1e-8·|λ_max| (a flat or concave direction).
    pub non_positive: bool,
}

/// The thresholds the quadratic-loss check applied (`thresholds` in the JSON report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// Tolerance on the unexplained mean-gradient fraction U.
    pub max_unexplained_fraction: f64,
    /// Tolerance on the Hessian change R_H.
    pub max_hessian_change: f64,
    /// Tolerance on the probe error δ.
    pub max_probe_error: f64,
    /// c: the probe region's half-width in stationary standard deviations.
    pub region_sds: f64,
    /// Tolerance on the loss model's unexplained fraction U_L.
    pub max_loss_unexplained: f64,
    /// Coverage of the intervals.
    pub ci_level: f64,
}

impl HessianConstancy {
    /// The part when the run has too few Hessians.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        HessianConstancy {
            available: false,
            reason: Some(reason.into()),
            checkpoints: None,
            max_rel_change: None,
            per_checkpoint: None,
            top_eigenvalue_of_mean: None,
            top_eigenvalue_per_checkpoint: None,
            max_rel_change_top_eigenvalue: None,
            min_eigenvalue_per_checkpoint: None,
        }
    }
}

impl GradientLinearity {
    /// The part when the test could not be computed (with the noise when it was measured).
    pub fn unavailable(reason: impl Into<String>, noise: Option<Vec<f64>>) -> Self {
        GradientLinearity {
            available: false,
            reason: Some(reason.into()),
            a_source: None,
            checkpoints: None,
            unexplained_fraction: None,
            ci: None,
            bootstrap_resamples_used: None,
            mean_gradient_noise: noise,
            subspace_approximation: None,
        }
    }
}

impl LossModel {
    /// The part when the test could not be computed.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        LossModel {
            available: false,
            reason: Some(reason.into()),
            source: None,
            a_source: None,
            losses: None,
            unexplained_fraction: None,
            ci: None,
            block_length: None,
            bootstrap_resamples_used: None,
            a_inconsistent: None,
            a_scale: None,
        }
    }
}

impl LossProbes {
    /// The part when the run has no loss probes.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        LossProbes {
            available: false,
            reason: Some(reason.into()),
            max_quadratic_error: None,
            ci: None,
            region_sds: None,
            non_positive: None,
            directions: None,
        }
    }
}
