//! The typed evidence of the OU-prediction check (`ou_prediction.metrics` and `.thresholds` in
//! the JSON report). Field order is the JSON key order.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::checks::sampling_design::{Design, SamplingDesignTest};
use crate::model::curvature::CurvatureSummary;

/// Evidence of the OU-prediction section: each prediction's comparison when its data are present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Which stationary-covariance prediction is tested: `discrete` (fresh sampling, exact
    /// discrete Lyapunov), `reshuffled` (epoch-wise reshuffling, `ou::reshuffled`) or `none`.
    pub prediction: PredictionKind,
    /// Why no prediction applies (absent when one does or when A is missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inapplicable: Option<Inapplicable>,
    /// Whether the predictions are made in all coordinates or in an analysis subspace (a
    /// subspace prediction is an approximation unless the subspace is invariant under A).
    pub coordinates: Coordinates,
    /// The epoch-sum test of the sampling design on the trajectory's implied noise.
    pub sampling_design: SamplingDesignTest,
    /// The trajectory's stationary covariance against the Lyapunov predictions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stationary_covariance: Option<StationaryCovariance>,
    /// Yaida's first fluctuation–dissipation relation, per data source.
    pub fdr1: Fdr1,
    /// Equipartition of the excess loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equipartition: Option<Equipartition>,
    /// Mean squared displacement of the trajectory window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msd: Option<Msd>,
    /// The curvature estimates (A) the predictions use.
    pub curvature: CurvatureSummary,
}

/// The stationary-covariance prediction the section tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PredictionKind {
    /// Fresh draws at every step: Σ = FΣFᵀ + ε²Q.
    Discrete,
    /// Epoch-wise reshuffling: the mean over an epoch's positions of Cov θ_p (`ou::reshuffled`).
    Reshuffled,
    /// No prediction applies (see `inapplicable`) or there is no A.
    None,
}

/// The coordinates the predictions are made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Coordinates {
    /// Every parameter (the analysis subspace is the whole space).
    All,
    /// A seeded random k-dimensional subspace of the d parameters, not invariant under A: the
    /// covariance prediction there is a subspace approximation and is not tested.
    Subspace,
    /// The Hessian eigenbasis (directions with λ > 0): invariant under A, so the projected
    /// process is OU and the prediction is exact.
    InvariantBasis,
}

/// Why the stationary-covariance prediction does not apply to the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "reason", rename_all = "snake_case", deny_unknown_fields)]
pub enum Inapplicable {
    /// Reshuffled sampling and A only from the lag-1 fit of the same trajectory: that fit
    /// assumes noise independent across steps, which reshuffling breaks.
    LagOneOnly,
    /// Reshuffled without drop_last and N mod S ≠ 0: the epoch's last batch is smaller, so
    /// the per-step noise covariance is not constant within an epoch.
    PartialBatch {
        /// N.
        dataset_size: u64,
        /// S.
        batch_size: u64,
    },
    /// The trajectory window does not visit the positions within an epoch evenly (fewer than
    /// one row at some position, or counts differing by more than one), so its covariance is
    /// not the mean over the epoch.
    UnevenEpochs {
        /// Fewest window rows at one position in the epoch.
        min_rows_per_position: usize,
        /// Most window rows at one position in the epoch.
        max_rows_per_position: usize,
    },
    /// The trajectory contradicts the declared sampling design (epoch-sum test,
    /// `sampling_design`): the prediction for the declared design would be tested on a run
    /// that does not follow it.
    DesignContradicted {
        /// The design run.json declares.
        declared: Design,
        /// The design the trajectory shows.
        looks: Design,
    },
}

/// Stationary covariance Σ̂ of the trajectory window against the continuous (AΣ + ΣA = εQ) and
/// exact discrete Lyapunov predictions (parameter units squared).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StationaryCovariance {
    /// Source of A: `"hessian"`, `"lag1"` or `"regression"`.
    pub a_source: String,
    /// Trajectory rows in the window.
    pub steps: usize,
    /// Geyer effective sample size of ‖θ_t − θ̄‖² (null when it cannot be computed).
    pub effective_sample_size: Option<f64>,
    /// Σ̂, row-major (k × k).
    #[serde(with = "crate::fmt::nullable_matrix")]
    #[schemars(with = "Vec<Vec<Option<f64>>>")]
    pub empirical: Vec<Vec<f64>>,
    /// Σ_discrete, row-major.
    #[serde(with = "crate::fmt::nullable_matrix")]
    #[schemars(with = "Vec<Vec<Option<f64>>>")]
    pub discrete: Vec<Vec<f64>>,
    /// Σ_continuous, row-major.
    #[serde(with = "crate::fmt::nullable_matrix")]
    #[schemars(with = "Vec<Vec<Option<f64>>>")]
    pub continuous: Vec<Vec<f64>>,
    /// tr Σ̂, centring-bias corrected.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub trace_empirical: f64,
    /// The centring correction added to tr Σ̂ (Σ_j s_j²/ESS_j).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub trace_centring_correction: f64,
    /// tr Σ̂ / tr Σ_discrete.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub trace_ratio_discrete: f64,
    /// tr Σ̂ / tr Σ_continuous.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub trace_ratio_continuous: f64,
    /// ‖Σ̂ − Σ_discrete‖_F / ‖Σ_discrete‖_F.
    pub relative_frobenius_discrete: Option<f64>,
    /// ‖Σ̂ − Σ_continuous‖_F / ‖Σ_continuous‖_F.
    pub relative_frobenius_continuous: Option<f64>,
    /// KL(N(0, Σ̂) ‖ N(0, Σ_discrete)) in nats.
    pub kl_discrete: Option<f64>,
    /// KL(N(0, Σ̂) ‖ N(0, Σ_continuous)) in nats.
    pub kl_continuous: Option<f64>,
    /// Generalised eigenvalues of (Σ̂, Σ_discrete), ascending.
    #[serde(with = "crate::fmt::opt_nullable_vec")]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub whitened_eigenvalues_discrete: Option<Vec<f64>>,
    /// Generalised eigenvalues of (Σ̂, Σ_continuous), ascending.
    #[serde(with = "crate::fmt::opt_nullable_vec")]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub whitened_eigenvalues_continuous: Option<Vec<f64>>,
    /// Which prediction is closer (smaller KL): `"discrete"` or `"continuous"`.
    pub closer: String,
    /// Whether A was estimated from the same trajectory (lag-1 fit).
    pub circular: bool,
    /// Σ_reshuffled, row-major: the mean over the epoch of the reshuffled-SGD covariance
    /// (present when the run declares reshuffled sampling and the prediction applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reshuffled: Option<Vec<Vec<f64>>>,
    /// tr Σ̂ / tr Σ_reshuffled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_ratio_reshuffled: Option<f64>,
}

/// FDR1 ⟨θ·∇L⟩ = (ε/2)⟨‖ĝ‖²⟩ from each source that has the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fdr1 {
    /// From the trajectory's consecutive steps (exact minibatch gradients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<Fdr1Entry>,
    /// From the checkpoints' mean gradients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<Fdr1Entry>,
    /// The source that decides: `"trajectory"` or `"checkpoints"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
}

/// FDR1 from one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fdr1Entry {
    /// Number of (O_L, O_R) samples.
    pub samples: usize,
    /// Batch means used for the interval (absent without an interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batches: Option<usize>,
    /// Centre of θ: `"quadratic_model_minimum"` or `"mean_position"` (absent without an interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centre: Option<String>,
    /// mean O_L = ⟨(θ − c)·ĝ⟩ (loss units).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub mean_o_left: f64,
    /// mean O_R = ⟨(ε/2)‖ĝ‖²⟩ (loss units).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub mean_o_right: f64,
    /// δ, the mean of the per-batch ratios Σ O_L/Σ O_R − 1 (absent without an interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(with = "crate::fmt::opt_nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub relative_deviation: Option<f64>,
    /// Batch-means t-interval [lo, hi] of δ (null when fewer than 2 batches).
    pub interval: Option<[f64; 2]>,
}

/// Equipartition E[L] − L* against (ε/4)tr Q (+ (ε/4)tr(AΣ_dA) discrete), in loss units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Equipartition {
    /// E[L]: mean of the trajectory window's losses, or of the checkpoints' mean losses.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub mean_loss: f64,
    /// L*: mean over checkpoints of L_i − ½ḡ_iᵀA⁻¹ḡ_i.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub l_star: f64,
    /// L*_i per checkpoint.
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub l_star_per_checkpoint: Vec<f64>,
    /// E[L] − L*.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub excess: f64,
    /// (ε/4)tr Q.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub predicted_continuous: f64,
    /// (ε/4)tr Q + (ε/4)tr(AΣ_dA).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub predicted_discrete: f64,
    /// excess / predicted_discrete.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub ratio_discrete: f64,
    /// excess / predicted_continuous.
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub ratio_continuous: f64,
    /// Length of the loss series E[L] is the mean of.
    pub series_length: usize,
}

/// Mean squared displacement MSD(τ) = mean ‖θ_{t+τ} − θ_t‖² of the trajectory window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Msd {
    /// Lags τ in steps (powers of two, then T/4).
    pub lags: Vec<usize>,
    /// MSD at each lag (parameter units squared).
    #[serde(with = "crate::fmt::nullable_vec")]
    #[schemars(with = "Vec<Option<f64>>")]
    pub msd: Vec<f64>,
    /// OU prediction 2tr Σ_d − 2tr((I − εA)^τ Σ_d) at each lag (null without a prediction).
    #[serde(with = "crate::fmt::opt_nullable_vec")]
    #[schemars(with = "Option<Vec<Option<f64>>>")]
    pub predicted: Option<Vec<f64>>,
    /// log(MSD(τ_max)/MSD(τ_max/4))/log 4 (≈ 0 on a plateau, 1 for free diffusion).
    #[serde(with = "crate::fmt::nullable_f64")]
    #[schemars(with = "Option<f64>")]
    pub growth_exponent: f64,
}

/// The thresholds the OU-prediction section applied (`thresholds` in the JSON report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// Tolerance on each relative deviation.
    pub max_rel_deviation: f64,
    /// Coverage of the intervals.
    pub ci_level: f64,
}
