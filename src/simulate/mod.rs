//! Run directories from models whose truth is known.
//!
//! Each [`Scenario`] is a finite data set of N examples with per-example losses l_i(θ) built so
//! that each of the four Ornstein–Uhlenbeck assumptions (Mandt, Hoffman & Blei 2017) holds or fails
//! *by construction*. [`simulate`] actually runs SGD on it — each step draws S distinct indices
//! uniformly, ĝ = (1/S) Σ_{i∈B} ∇l_i(θ), θ ← θ − εĝ — and writes a run directory in format v1
//! (`run.json`, `checkpoints/step_<N>/{params,grads,losses,hessian}.npy`, `trajectory/`), with the
//! truth (θ*, H, the exact noise covariance C, the discrete-Lyapunov stationary covariance and the
//! expected verdicts) in `run.json["simulation"]` and in the returned [`SimSummary`].
//!
//! The scenarios, their parameters and why each assumption must pass or fail are documented in
//! `docs/scenarios.md`.
//!
//! Randomness: every draw comes from `crate::rng::stream(seed, "simulate/<scenario>/<purpose>")`
//! (ChaCha8), with purposes `rotation`, `noise_rotation`, `theta_star`, `dataset`, `sgd` and
//! `checkpoint_minibatches/step_<N>`; the same seed gives byte-identical files on the same
//! platform (the floating-point math library may differ in the last bit across platforms).

mod dim;
mod model;
mod rotated;
mod truth;

pub use dim::{EigenTruth, DENSE_TRUTH_MAX_DIM};
pub use rotated::{log_uniform_spectrum, BlockRotation, RotatedOperator};

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::rng;
use crate::run::npy;
use crate::stats::descriptive::Moments;

use model::{Kind, Model};
use truth::{
    continuous_lyapunov, discrete_lyapunov, least_squares_stationary, symmetrize,
    without_replacement_factor, BatchSampler, ReshuffleSampler,
};

/// A model with known truth. See `docs/scenarios.md` for each one's construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Exact quadratic loss, constant Gaussian noise, small step: all four assumptions hold.
    QuadraticGaussian,
    /// As quadratic-gaussian but with symmetric α-stable (α = 1.5) per-example noise.
    HeavyTailedNoise,
    /// Gaussian noise whose scale depends on the position: C(θ) = s(θ)² C.
    StateDependentNoise,
    /// Quadratic-gaussian with ε λ_max = 1.2 (stable, far from the continuous limit).
    LargeStep,
    /// A flat quartic minimum: the gradient is cubic in θ − θ*.
    QuarticBasin,
    /// Linear least-squares regression; all assumptions hold approximately.
    LeastSquares,
    /// A double well with a barrier high relative to the noise: iterates stay in one well.
    DoubleWellDeep,
    /// A double well with a low barrier: iterates cross between the wells.
    DoubleWellCrossing,
    /// Quadratic-gaussian started far from θ*: a drift phase, then stationary diffusion.
    DriftThenDiffusion,
}

const ALL: [Scenario; 9] = [
    Scenario::QuadraticGaussian,
    Scenario::HeavyTailedNoise,
    Scenario::StateDependentNoise,
    Scenario::LargeStep,
    Scenario::QuarticBasin,
    Scenario::LeastSquares,
    Scenario::DoubleWellDeep,
    Scenario::DoubleWellCrossing,
    Scenario::DriftThenDiffusion,
];

/// What a scenario pins for one assumption check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectedVerdict {
    /// The check must pass.
    Pass,
    /// The check must fail.
    Fail,
    /// The scenario does not pin this check.
    Any,
}

impl ExpectedVerdict {
    /// `"pass"`, `"fail"` or `"any"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectedVerdict::Pass => "pass",
            ExpectedVerdict::Fail => "fail",
            ExpectedVerdict::Any => "any",
        }
    }

    /// Whether a check's verdict is what the scenario expects.
    pub fn admits(self, v: crate::checks::Verdict) -> bool {
        use crate::checks::Verdict;
        match self {
            ExpectedVerdict::Pass => v == Verdict::Pass,
            ExpectedVerdict::Fail => v == Verdict::Fail,
            ExpectedVerdict::Any => true,
        }
    }
}

impl std::fmt::Display for ExpectedVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Expected verdict of each assumption check on a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Expected {
    pub gaussian_noise: ExpectedVerdict,
    pub constant_covariance: ExpectedVerdict,
    pub small_step: ExpectedVerdict,
    pub quadratic_loss: ExpectedVerdict,
}

impl Expected {
    /// The expectation for one assumption.
    pub fn get(&self, a: crate::checks::Assumption) -> ExpectedVerdict {
        use crate::checks::Assumption;
        match a {
            Assumption::GaussianNoise => self.gaussian_noise,
            Assumption::ConstantCovariance => self.constant_covariance,
            Assumption::SmallStep => self.small_step,
            Assumption::QuadraticLoss => self.quadratic_loss,
        }
    }
}

/// Pass, pass, pass, pass except the assumptions named to fail.
const fn expect(
    g: ExpectedVerdict,
    c: ExpectedVerdict,
    s: ExpectedVerdict,
    q: ExpectedVerdict,
) -> Expected {
    Expected {
        gaussian_noise: g,
        constant_covariance: c,
        small_step: s,
        quadratic_loss: q,
    }
}

impl Scenario {
    /// Parses a kebab-case name (`"quadratic-gaussian"`, …). Cost O(number of scenarios).
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.iter().copied().find(|s| s.name() == name)
    }

    /// The kebab-case name used on the command line and in `run.json`. Cost O(1).
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::QuadraticGaussian => "quadratic-gaussian",
            Scenario::HeavyTailedNoise => "heavy-tailed-noise",
            Scenario::StateDependentNoise => "state-dependent-noise",
            Scenario::LargeStep => "large-step",
            Scenario::QuarticBasin => "quartic-basin",
            Scenario::LeastSquares => "least-squares",
            Scenario::DoubleWellDeep => "double-well-deep",
            Scenario::DoubleWellCrossing => "double-well-crossing",
            Scenario::DriftThenDiffusion => "drift-then-diffusion",
        }
    }

    /// All scenarios, in documentation order. Cost O(1).
    pub fn all() -> &'static [Scenario] {
        &ALL
    }

    /// One-paragraph description of the model and of what it tests. Cost O(1).
    pub fn description(&self) -> &'static str {
        match self {
            Scenario::QuadraticGaussian => {
                "l_i(θ) = ½(θ−θ*)ᵀH(θ−θ*) + ξ_iᵀ(θ−θ*) with fixed Gaussian ξ_i (centred), H = U diag(λ) Uᵀ; \
                 exactly quadratic, constant Gaussian noise, ε·λ_max = 0.06: all four assumptions hold"
            }
            Scenario::HeavyTailedNoise => {
                "as quadratic-gaussian but ξ_i has symmetric α-stable coordinates (α = 1.5, infinite \
                 variance in the population law): the minibatch noise is not Gaussian; the other \
                 assumptions hold"
            }
            Scenario::StateDependentNoise => {
                "∇l_i = H(θ−θ*) + s(θ)ξ_i with s(θ) = exp(β·z_c·tanh(z/z_c)), z the standardized position \
                 along a fixed direction: the noise covariance s(θ)²C changes by a large factor over \
                 the region the iterates visit (an oracle, not the gradient of a loss)"
            }
            Scenario::LargeStep => {
                "quadratic-gaussian with ε·λ_max = 1.2: stable, but the stationary variance of the \
                 stiffest mode is 2.5× the continuous-time (OU) prediction"
            }
            Scenario::QuarticBasin => {
                "l_i(θ) = ¼Σ_j a_j (u_jᵀ(θ−θ*))⁴ + ξ_iᵀ(θ−θ*): a flat minimum (zero Hessian at θ*) whose \
                 gradient is cubic over the stationary region; Gaussian constant noise, small step"
            }
            Scenario::LeastSquares => {
                "linear regression l_i = ½(x_iᵀθ − y_i)² with Gaussian x_i and noise, batch size 64: \
                 per-example gradients are non-Gaussian but minibatch noise is close to Gaussian, the \
                 loss is exactly quadratic and C(θ) varies negligibly: all hold approximately"
            }
            Scenario::DoubleWellDeep => {
                "h(z²−1)² along one direction (wells at z = ±1) plus a quadratic elsewhere, barrier 200× \
                 the noise temperature: the iterates stay in one well, where the loss is locally \
                 quadratic; all four hold"
            }
            Scenario::DoubleWellCrossing => {
                "the same double well with a barrier of 1.5 noise temperatures: the iterates cross \
                 between the wells during the recorded window, so the loss over the visited region is \
                 not quadratic"
            }
            Scenario::DriftThenDiffusion => {
                "quadratic-gaussian started 50 stationary standard deviations from θ* along the softest \
                 direction, checkpoints from step 0: the first checkpoints are in the drift phase, \
                 the later ones stationary; all four hold once the analysis is restricted to the \
                 diffusion phase"
            }
        }
    }

    /// The verdict each assumption check must reach on this scenario (see `docs/scenarios.md`
    /// for the reasoning behind each entry). Cost O(1).
    pub fn expected(&self) -> Expected {
        use ExpectedVerdict::{Fail as F, Pass as P};
        match self {
            Scenario::QuadraticGaussian => expect(P, P, P, P),
            Scenario::HeavyTailedNoise => expect(F, P, P, P),
            Scenario::StateDependentNoise => expect(P, F, P, P),
            Scenario::LargeStep => expect(P, P, F, P),
            Scenario::QuarticBasin => expect(P, P, P, F),
            Scenario::LeastSquares => expect(P, P, P, P),
            Scenario::DoubleWellDeep => expect(P, P, P, P),
            Scenario::DoubleWellCrossing => expect(P, P, P, F),
            Scenario::DriftThenDiffusion => expect(P, P, P, P),
        }
    }

    /// Conditions attached to the expected verdicts (empty when there are none). Cost O(1).
    pub fn expected_note(&self) -> &'static str {
        match self {
            Scenario::HeavyTailedNoise => {
                "constant_covariance: the per-example gradient covariance is exactly the same at every \
                 checkpoint; tests that assume Gaussian data (Box's M) are not calibrated here"
            }
            Scenario::StateDependentNoise => {
                "gaussian_noise: Gaussian at each fixed θ (pooling across checkpoints mixes scales); \
                 quadratic_loss: the mean loss is exactly quadratic, but checks that compare the iterate \
                 covariance with a constant-C Lyapunov prediction are confounded by the varying C"
            }
            Scenario::LeastSquares => {
                "approximate: per-example gradients are products of normals (excess kurtosis ≈ 6 per \
                 coordinate), the minibatch mean at S = 64 has excess kurtosis ≈ 6/64; C(θ) varies by \
                 well under 1% over the stationary region"
            }
            Scenario::DoubleWellCrossing => {
                "small_step: ε times the largest curvature in the wells is 0.06, but the Hessian is \
                 indefinite near the barrier"
            }
            Scenario::DriftThenDiffusion => {
                "verdicts apply to the checkpoints at or after simulation.truth.stationary_from_step; \
                 on all checkpoints a stationarity gate must flag the drift phase"
            }
            _ => "",
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scenario {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Scenario::from_name(s).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|s| s.name()).collect();
            Error::Usage(format!(
                "unknown scenario {s:?}; expected one of {}",
                names.join(", ")
            ))
        })
    }
}

/// How each SGD step draws its minibatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplingDesign {
    /// S distinct examples drawn afresh at every step, independently of the other steps
    /// (run.json `sampling: "without_replacement"`, format 1).
    #[default]
    Fresh,
    /// Epoch-wise reshuffling with drop_last: a uniform permutation of the N examples per
    /// epoch, cut into m = ⌊N/S⌋ consecutive batches; epochs start at step 0 (run.json format 2,
    /// `sampling: "reshuffled"` with `steps_per_epoch`, `first_epoch_step` = 0,
    /// `drop_last` = true).
    Reshuffled,
}

impl SamplingDesign {
    /// Whether this is the default fresh design (then it is left out of run.json).
    pub fn is_fresh(&self) -> bool {
        *self == SamplingDesign::Fresh
    }
}

impl FromStr for SamplingDesign {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fresh" => Ok(SamplingDesign::Fresh),
            "reshuffled" => Ok(SamplingDesign::Reshuffled),
            _ => Err(usage(format!(
                "unknown sampling design {s:?}; expected \"fresh\" or \"reshuffled\""
            ))),
        }
    }
}

/// Size, schedule and model parameters of a simulated run. Start from
/// [`SimConfig::default_for`] and change fields; [`simulate`] validates them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimConfig {
    /// Number of parameters d.
    pub d: usize,
    /// Eigenvalues λ_k of the quadratic part (length d). The Hessian is H = U diag(λ) Uᵀ with a
    /// seeded Haar rotation U; the anisotropic noise has the same spectrum with an independent
    /// rotation. Quartic basin: a_j = `quartic_scale`·λ_j. Double wells: the last direction
    /// carries the well (its curvature there is 8·`barrier_height`), λ_d is unused.
    /// With `dim_rotated`, a list whose length is not d (e.g. empty) selects the default
    /// spectrum [`log_uniform_spectrum`] (see [`SimConfig::spectrum`]); empty lists are left out
    /// of run.json.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub curvatures: Vec<f64>,
    /// N, the number of examples (and of rows of `grads.npy` in per-example mode).
    pub dataset_size: usize,
    /// S, the minibatch size (S distinct examples per step, mean reduction).
    pub batch_size: usize,
    /// ε, the constant learning rate.
    pub learning_rate: f64,
    /// Scale of the per-example noise ξ_i (standard deviation multiplier).
    pub noise_scale: f64,
    /// Number of checkpoints K.
    pub checkpoints: usize,
    /// Steps between checkpoints.
    pub checkpoint_spacing: usize,
    /// Step of the first checkpoint (the trajectory starts here too).
    pub burn_in: usize,
    /// Write `trajectory/` (every step from `burn_in` to the last checkpoint).
    pub write_trajectory: bool,
    /// Write `hessian.npy` at each checkpoint.
    pub write_hessian: bool,
    /// Write `losses.npy` at each checkpoint and `trajectory/losses.npy`.
    pub write_losses: bool,
    /// Write `"gradients": "minibatch"`: each row of `grads.npy` is a fresh minibatch gradient at
    /// batch size S (and `losses.npy` holds the matching minibatch mean losses).
    pub minibatch_gradients: bool,
    /// Number of minibatch rows per checkpoint when `minibatch_gradients` is set.
    pub minibatches: usize,
    /// Write float arrays as float32 instead of float64.
    pub float32: bool,
    /// heavy-tailed-noise: stability index α ∈ [0.5, 2] of the symmetric α-stable noise.
    pub tail_index: f64,
    /// state-dependent-noise: β in s(θ) = exp(β·z_c·tanh(z/z_c)).
    pub state_beta: f64,
    /// state-dependent-noise: z_c, the soft cap on |log s|/β that keeps SGD stable.
    pub state_cap: f64,
    /// quartic-basin: a_j = quartic_scale·λ_j.
    pub quartic_scale: f64,
    /// Double wells: barrier height h of V(z) = h(z² − 1)².
    pub barrier_height: f64,
    /// least-squares: standard deviation σ of the regression noise.
    pub regression_noise: f64,
    /// drift-then-diffusion: ‖θ₀ − θ*‖ in stationary standard deviations along the softest direction.
    pub start_distance: f64,
    /// least-squares: `Some(ν)` draws the label noise e_i from a Student-t law with ν degrees of
    /// freedom (scaled by `regression_noise`; infinite variance for ν ≤ 2) instead of N(0, 1).
    /// `None` (the default) leaves the scenario unchanged, byte for byte (also in run.json).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regression_noise_df: Option<f64>,
    /// Write the loss probes (`probe_directions.npy`, `probe_offsets.npy`, `probe_losses.npy`) at
    /// each checkpoint when `Some` (default `None`, and then absent from run.json, so existing
    /// runs are unchanged). See [`ProbeConfig`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<ProbeConfig>,
    /// `Some(γ)` makes the per-example noise scale depend on the batch size:
    /// s(S) = `noise_scale`·(S/[`NOISE_REFERENCE_BATCH`])^γ, so the minibatch noise covariance
    /// scales as S^(2γ − 1) instead of 1/S (γ = ½: not at all). It builds grids that violate the
    /// OU model's noise-scale law on purpose (`sgd-ou compare`, docs/compare.md). `None` (the
    /// default) leaves every scenario unchanged, byte for byte (also in run.json).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_batch_exponent: Option<f64>,
    /// Fresh draws at every step (the default, absent from run.json so existing runs are
    /// unchanged byte for byte) or epoch-wise reshuffling (see [`SamplingDesign`]).
    #[serde(skip_serializing_if = "SamplingDesign::is_fresh")]
    pub sampling: SamplingDesign,
    /// `--dim`: the quadratic is A = U diag(λ) Uᵀ with U = P G₂ G₁ (two layers of seeded Givens
    /// rotations on disjoint pairs and a seeded permutation, [`BlockRotation`]), applied in O(d),
    /// so d may be large; the spectrum is [`SimConfig::spectrum`] and the per-example noise
    /// ξ_i = σ U diag(√λ) z_i (C = σ²A). Only quadratic-gaussian and large-step support it. No
    /// d × d matrix is built; dense truth (SimSummary.hessian, …) only for
    /// d ≤ [`DENSE_TRUTH_MAX_DIM`], and run.json holds no d-length array. `false` (the default)
    /// leaves every scenario unchanged, byte for byte.
    #[serde(skip_serializing_if = "is_false")]
    pub dim_rotated: bool,
    /// Number m of exact top eigenvectors of A written to format-2 `basis/` (with the
    /// eigenvalues, the residuals ‖Av − λv‖ of the stored vectors, run.json `basis.at_step` = the
    /// first checkpoint, and `hessian_in_basis.npy` = diag(λ₁..λ_m) at every checkpoint).
    /// 0 (default): no basis. Needs `dim_rotated` and `format` = 2.
    #[serde(skip_serializing_if = "is_zero")]
    pub basis_dims: usize,
    /// run.json `format_version`: 1 (default) or 2 (adds the `parameters` map). Reshuffled
    /// sampling writes format 2 whatever this says.
    #[serde(skip_serializing_if = "is_one")]
    pub format: u32,
    /// Format 2 parameter map as (name, shape) in flattening order (sizes must sum to d);
    /// `None`: one tensor `"theta"` of shape [d].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_shapes: Option<Vec<(String, Vec<usize>)>>,
    /// Whether the per-example noise covariance depends on θ (see [`NoiseModel`]).
    #[serde(skip_serializing_if = "NoiseModel::is_additive")]
    pub noise_model: NoiseModel,
    /// Non-Gaussian per-example noise on a few named coordinates (see [`TailSpec`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tail: Option<TailSpec>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn is_one(v: &u32) -> bool {
    *v == 1
}

/// How the per-example noise depends on the position θ.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NoiseModel {
    /// ∇l_i(θ) = ∇L(θ) + ξ_i: the noise covariance C does not depend on θ (the default).
    #[default]
    Additive,
    /// ∇l_i(θ) = ∇L(θ) + s(θ) ξ_i with s(θ) = exp(β z_c tanh(z/z_c)), z the position along the
    /// softest eigen-direction in stationary standard deviations (z_c = `state_cap`): the
    /// covariance s(θ)² C depends on θ (the state-dependent-noise construction with β = `beta`).
    Multiplicative {
        /// β; 0 gives the additive model's draws.
        beta: f64,
    },
}

impl NoiseModel {
    /// Whether this is the default additive model (then it is left out of run.json).
    pub fn is_additive(&self) -> bool {
        *self == NoiseModel::Additive
    }
}

/// The law of the non-Gaussian coordinates of [`TailSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TailLaw {
    /// Centred lognormal e^{σZ} − e^{σ²/2} with σ = `param` (all moments finite, skewed).
    Lognormal,
    /// Student-t with ν = `param` degrees of freedom (moments of order ≥ ν infinite).
    StudentT,
}

impl FromStr for TailLaw {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "lognormal" => Ok(TailLaw::Lognormal),
            "student-t" => Ok(TailLaw::StudentT),
            _ => Err(usage(format!(
                "unknown tail law {s:?}; expected \"lognormal\" or \"student-t\""
            ))),
        }
    }
}

/// Per-example noise of the first `coords` coordinates (parameter coordinates 0..coords, i.e.
/// named entries of the parameter map) replaced by a non-Gaussian law scaled to the variance the
/// Gaussian noise has on that coordinate; the other coordinates keep their Gaussian noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TailSpec {
    /// Number of coordinates C (1 ≤ C ≤ d).
    pub coords: usize,
    /// The law.
    pub law: TailLaw,
    /// σ of the lognormal or ν of the Student-t (> 0; ν > 2 for a finite variance to match).
    pub param: f64,
}

/// Reference batch size of [`SimConfig::noise_batch_exponent`]: at S = 32 the per-example noise
/// scale is `noise_scale` whatever the exponent.
pub const NOISE_REFERENCE_BATCH: f64 = 32.0;

/// Loss probes written by the simulator. Directions: the d unit eigenvectors of the exact
/// Hessian at the checkpoint; offsets: `offsets` equally spaced values in [−R, R] with
/// R = `range`·max_j sd_j + max_j |v_jᵀθ − mean_j| (sd_j, mean_j of v_jᵀθ over the trajectory, or
/// over the checkpoints without one), so they cover the stationary spread; losses: the exact mean
/// loss L(θ + t v_j).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeConfig {
    /// Number of offsets p (≥ 3).
    pub offsets: usize,
    /// Half-width of the offsets in stationary standard deviations.
    pub range: f64,
}

impl Default for ProbeConfig {
    /// 121 offsets over ±12 standard deviations (plus the checkpoint's distance from the mean):
    /// wide enough for the upper end of the spread's confidence interval at ±2.5 sd when the
    /// trajectory holds only ~10 effective draws of the variance.
    fn default() -> Self {
        ProbeConfig {
            offsets: 121,
            range: 12.0,
        }
    }
}

/// Per-example isotropic noise scale s giving the temperature T = ε s² f / 2 (f the
/// without-replacement factor), the scale of exp(−V/T) in the small-step stationary law.
fn noise_for_temperature(t: f64, eps: f64, n: usize, s: usize) -> f64 {
    (2.0 * t / (eps * without_replacement_factor(n, s))).sqrt()
}

impl SimConfig {
    /// The defaults `sgd-ou simulate` uses: d = 4, λ = (1, 1.5, 2, 3), N = 1024, S = 32
    /// (64 for least-squares), ε = 0.02 (ε·λ_max = 0.06; 0.4 for large-step), 8 checkpoints every
    /// 150 steps after a burn-in of 400 steps. Scenario-specific values are listed in
    /// `docs/scenarios.md`.
    pub fn default_for(s: Scenario) -> Self {
        let mut c = SimConfig {
            d: 4,
            curvatures: vec![1.0, 1.5, 2.0, 3.0],
            dataset_size: 1024,
            batch_size: 32,
            learning_rate: 0.02,
            noise_scale: 1.0,
            checkpoints: 8,
            checkpoint_spacing: 150,
            burn_in: 400,
            write_trajectory: true,
            write_hessian: true,
            write_losses: true,
            minibatch_gradients: false,
            minibatches: 256,
            float32: false,
            tail_index: 1.5,
            state_beta: 0.7,
            state_cap: 3.0,
            quartic_scale: 1.0 / 12.0,
            barrier_height: 0.375,
            regression_noise: 0.5,
            start_distance: 50.0,
            regression_noise_df: None,
            probes: None,
            noise_batch_exponent: None,
            sampling: SamplingDesign::Fresh,
            dim_rotated: false,
            basis_dims: 0,
            format: 1,
            parameter_shapes: None,
            noise_model: NoiseModel::Additive,
            tail: None,
        };
        match s {
            Scenario::LargeStep => c.learning_rate = 0.4,
            Scenario::QuarticBasin => {
                c.quartic_scale = 1.0 / 12.0;
                c.noise_scale =
                    noise_for_temperature(0.55, c.learning_rate, c.dataset_size, c.batch_size);
                c.checkpoint_spacing = 600;
            }
            Scenario::LeastSquares => c.batch_size = 64,
            Scenario::DoubleWellDeep => {
                c.noise_scale = noise_for_temperature(
                    c.barrier_height / 200.0,
                    c.learning_rate,
                    c.dataset_size,
                    c.batch_size,
                );
            }
            Scenario::DoubleWellCrossing => {
                c.noise_scale = noise_for_temperature(
                    c.barrier_height / 1.5,
                    c.learning_rate,
                    c.dataset_size,
                    c.batch_size,
                );
                c.checkpoint_spacing = 600;
            }
            Scenario::DriftThenDiffusion => {
                c.burn_in = 0;
                c.checkpoints = 32;
                c.checkpoint_spacing = 25;
            }
            _ => {}
        }
        c
    }

    /// The per-example noise scale used to draw the data set: `noise_scale`, times
    /// (S/[`NOISE_REFERENCE_BATCH`])^γ when `noise_batch_exponent` is `Some(γ)`. Cost O(1).
    pub fn effective_noise_scale(&self) -> f64 {
        match self.noise_batch_exponent {
            None => self.noise_scale,
            Some(g) => self.noise_scale * (self.batch_size as f64 / NOISE_REFERENCE_BATCH).powf(g),
        }
    }

    /// The eigenvalues of the quadratic part: `curvatures`, except that with `dim_rotated` a
    /// list whose length is not d gives [`log_uniform_spectrum`]`(d)` (3 down to 0.3). Cost O(d).
    pub fn spectrum(&self) -> Vec<f64> {
        if self.dim_rotated && self.curvatures.len() != self.d {
            log_uniform_spectrum(self.d)
        } else {
            self.curvatures.clone()
        }
    }

    /// The SGD steps at which checkpoints are taken: burn_in + k·spacing, k = 0..K. Cost O(K).
    pub fn checkpoint_steps(&self) -> Vec<u64> {
        (0..self.checkpoints)
            .map(|k| (self.burn_in + k * self.checkpoint_spacing) as u64)
            .collect()
    }
}

/// What a simulated run contains, and the truth the tests and checks compare against.
#[derive(Debug, Clone)]
pub struct SimSummary {
    pub scenario: Scenario,
    /// The run directory written.
    pub out: PathBuf,
    pub seed: u64,
    pub learning_rate: f64,
    pub batch_size: usize,
    pub dataset_size: usize,
    /// θ*: the minimiser of the mean loss (the starting well for the double wells).
    pub theta_star: DVector<f64>,
    /// θ₀, the start of SGD.
    pub theta0: DVector<f64>,
    /// The exact Hessian of the mean loss at θ* (zero for quartic-basin).
    pub hessian: DMatrix<f64>,
    /// C: the population covariance (divisor N) of the N per-example gradients at θ*, exact for
    /// the drawn data set.
    pub noise_covariance: DMatrix<f64>,
    /// f·C with f = (N − S)/(S(N − 1)): the covariance of one minibatch gradient at θ*.
    pub minibatch_noise_covariance: DMatrix<f64>,
    /// Stationary covariance of the iterates from the discrete Lyapunov equation
    /// Σ = FΣFᵀ + ε² f C (F = I − εH); for least-squares the exact equation with the
    /// multiplicative term; for double-well-deep the linearisation in the well (approximate);
    /// `None` where no linear prediction applies (state-dependent, quartic, crossing).
    pub stationary_covariance: Option<DMatrix<f64>>,
    /// Whether `stationary_covariance` is the exact second moment of the stationary law.
    pub stationary_is_exact: bool,
    /// The continuous-time (OU) prediction HΣ + ΣH = ε f C, where it exists.
    pub stationary_covariance_continuous: Option<DMatrix<f64>>,
    /// Steps of the checkpoints written.
    pub checkpoint_steps: Vec<u64>,
    /// First and last step of `trajectory/`, if written.
    pub trajectory_steps: Option<(u64, u64)>,
    pub expected: Expected,
    /// The `run.json["simulation"]["truth"]` object (includes scenario-specific entries).
    pub truth: Value,
    /// `dim_rotated` runs: the truth in A's eigenbasis (O(d) storage); `None` otherwise. With
    /// d > [`DENSE_TRUTH_MAX_DIM`] the dense fields above (hessian, noise_covariance,
    /// minibatch_noise_covariance) are 0 × 0 and the stationary covariances `None`.
    pub eigen: Option<EigenTruth>,
    /// Total size of the files written, in bytes.
    pub bytes_written: u64,
}

/// The expected verdicts of scenario `s` under configuration `cfg`: the scenario's, except
/// that the multiplicative noise model with |β| ≥ 0.5 (a noise scale that changes by e^{±0.5}
/// or more per stationary standard deviation) must fail constant_covariance and pins nothing
/// below that. Cost O(1).
pub fn expected_for(s: Scenario, cfg: &SimConfig) -> Expected {
    let mut e = s.expected();
    if let NoiseModel::Multiplicative { beta } = cfg.noise_model {
        e.constant_covariance = if beta.abs() >= 0.5 {
            ExpectedVerdict::Fail
        } else {
            ExpectedVerdict::Any
        };
    }
    e
}

fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

/// Checks a configuration before anything is drawn: shapes, positivity, the checkpoint schedule
/// and each scenario's own parameters; a usage error names the parameter.
fn validate(s: Scenario, c: &SimConfig) -> Result<()> {
    validate_common(c)?;
    validate_schedule(c)?;
    dim::validate(s, c)?;
    validate_scenario(s, c)
}

/// Dimensions, curvatures, sizes, learning rate, noise scale and probes.
fn validate_common(c: &SimConfig) -> Result<()> {
    let pos = |v: f64| v.is_finite() && v > 0.0;
    if c.d == 0 {
        return Err(usage("simulate: d must be at least 1"));
    }
    if !c.dim_rotated && c.curvatures.len() != c.d {
        return Err(usage(format!(
            "simulate: curvatures has {} entries but d = {}; give one eigenvalue per parameter",
            c.curvatures.len(),
            c.d
        )));
    }
    if !c.spectrum().iter().all(|&l| pos(l)) {
        return Err(usage("simulate: curvatures must be finite and > 0"));
    }
    if c.dataset_size < 2 {
        return Err(usage("simulate: dataset_size must be at least 2"));
    }
    if c.batch_size == 0 || c.batch_size > c.dataset_size {
        return Err(usage(format!(
            "simulate: batch_size must be in 1..={} (dataset_size), got {}",
            c.dataset_size, c.batch_size
        )));
    }
    if !pos(c.learning_rate) {
        return Err(usage("simulate: learning_rate must be finite and > 0"));
    }
    if !pos(c.noise_scale) {
        return Err(usage("simulate: noise_scale must be finite and > 0"));
    }
    if !pos(c.effective_noise_scale()) {
        return Err(usage(
            "simulate: noise_batch_exponent must be finite and give a finite noise scale > 0",
        ));
    }
    if let Some(p) = &c.probes {
        if p.offsets < 3 || !pos(p.range) {
            return Err(usage(
                "simulate: probes.offsets must be at least 3 and probes.range finite and > 0",
            ));
        }
    }
    Ok(())
}

/// Checkpoints, spacing, burn-in and minibatch count.
fn validate_schedule(c: &SimConfig) -> Result<()> {
    if c.checkpoints == 0 {
        return Err(usage("simulate: checkpoints must be at least 1"));
    }
    if c.checkpoints > 1 && c.checkpoint_spacing == 0 {
        return Err(usage("simulate: checkpoint_spacing must be at least 1"));
    }
    // Bound the schedule so that step numbers fit comfortably in int64 and usize everywhere.
    let schedule_ok = ((c.checkpoints - 1) as u64)
        .checked_mul(c.checkpoint_spacing as u64)
        .and_then(|v| v.checked_add(c.burn_in as u64))
        .is_some_and(|last| last < (1u64 << 40) && usize::try_from(last).is_ok());
    if !schedule_ok {
        return Err(usage(
            "simulate: burn_in + (checkpoints − 1)·checkpoint_spacing is too large",
        ));
    }
    if c.sampling == SamplingDesign::Reshuffled && c.dataset_size / c.batch_size < 2 {
        return Err(usage(
            "simulate: reshuffled sampling needs at least 2 steps per epoch (dataset_size ≥ 2·batch_size)",
        ));
    }
    if c.minibatch_gradients && c.minibatches < 2 {
        return Err(usage(
            "simulate: minibatches must be at least 2 with minibatch_gradients",
        ));
    }
    Ok(())
}

/// The parameters only some scenarios read, and stability of the quadratic ones.
fn validate_scenario(s: Scenario, c: &SimConfig) -> Result<()> {
    let pos = |v: f64| v.is_finite() && v > 0.0;
    let lmax = c.spectrum().iter().copied().fold(0.0, f64::max);
    match s {
        Scenario::HeavyTailedNoise if !(c.tail_index >= 0.5 && c.tail_index <= 2.0) => {
            return Err(usage(
                "simulate: tail_index (α) must lie in [0.5, 2] (smaller α overflows f64 draws)",
            ));
        }
        Scenario::StateDependentNoise if !(c.state_beta.is_finite() && pos(c.state_cap)) => {
            return Err(usage(
                "simulate: state_beta must be finite and state_cap > 0",
            ));
        }
        Scenario::QuarticBasin if !pos(c.quartic_scale) => {
            return Err(usage("simulate: quartic_scale must be finite and > 0"));
        }
        Scenario::DoubleWellDeep | Scenario::DoubleWellCrossing => {
            if !pos(c.barrier_height) {
                return Err(usage("simulate: barrier_height must be finite and > 0"));
            }
            let others = c.curvatures[..c.d - 1].iter().copied().fold(0.0, f64::max);
            if c.learning_rate * (8.0 * c.barrier_height).max(others) >= 2.0 {
                return Err(usage(
                    "simulate: learning_rate × max(8·barrier_height, curvatures) must be < 2 for stability",
                ));
            }
        }
        Scenario::LeastSquares => {
            if !pos(c.regression_noise) {
                return Err(usage("simulate: regression_noise must be finite and > 0"));
            }
            if let Some(df) = c.regression_noise_df {
                if !pos(df) {
                    return Err(usage(
                        "simulate: regression_noise_df (Student-t ν) must be finite and > 0",
                    ));
                }
            }
            if c.dataset_size < 2 * c.d {
                return Err(usage("simulate: least-squares needs dataset_size ≥ 2·d"));
            }
        }
        Scenario::DriftThenDiffusion
            if !(c.start_distance.is_finite() && c.start_distance >= 0.0) =>
        {
            return Err(usage("simulate: start_distance must be finite and ≥ 0"));
        }
        _ => {}
    }
    if matches!(
        s,
        Scenario::QuadraticGaussian
            | Scenario::HeavyTailedNoise
            | Scenario::StateDependentNoise
            | Scenario::LargeStep
            | Scenario::DriftThenDiffusion
    ) && c.learning_rate * lmax >= 2.0
    {
        return Err(usage(format!(
            "simulate: learning_rate × λ_max = {} ≥ 2: SGD on this quadratic diverges",
            c.learning_rate * lmax
        )));
    }
    Ok(())
}

/// The temporary sibling folder and whether `out` already existed (as an empty directory).
fn prepare_out(out: &Path) -> Result<(PathBuf, bool)> {
    let existed = match fs::metadata(out) {
        Ok(m) if m.is_dir() => {
            let mut entries = fs::read_dir(out).map_err(|e| Error::Output {
                path: out.to_path_buf(),
                message: e.to_string(),
            })?;
            if entries.next().is_some() {
                return Err(usage(format!(
                    "{} exists and is not empty; refusing to overwrite it (choose a new --out or \
                     delete the directory)",
                    out.display()
                )));
            }
            true
        }
        Ok(_) => {
            return Err(usage(format!(
                "{} exists and is not a directory",
                out.display()
            )))
        }
        Err(_) => false,
    };
    let name = out
        .file_name()
        .ok_or_else(|| usage(format!("{} does not name a directory", out.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| Error::Output {
        path: parent.clone(),
        message: e.to_string(),
    })?;
    for k in 0..1000u32 {
        let tmp = parent.join(format!(".{name}.sgd-ou-tmp-{}-{k}", std::process::id()));
        match fs::create_dir(&tmp) {
            Ok(()) => return Ok((tmp, existed)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(Error::Output {
                    path: tmp,
                    message: e.to_string(),
                })
            }
        }
    }
    Err(Error::Output {
        path: parent,
        message: "cannot create a temporary folder".into(),
    })
}

fn mkdir(p: &Path) -> Result<()> {
    fs::create_dir_all(p).map_err(|e| Error::Output {
        path: p.to_path_buf(),
        message: e.to_string(),
    })
}

fn write_floats(path: &Path, shape: &[usize], data: &[f64], f32_out: bool) -> Result<()> {
    if f32_out {
        let v: Vec<f32> = data.iter().map(|&x| x as f32).collect();
        npy::write_f32(path, shape, &v)
    } else {
        npy::write_f64(path, shape, data)
    }
}

fn mat_json(m: &DMatrix<f64>) -> Value {
    Value::Array(
        (0..m.nrows())
            .map(|i| json!((0..m.ncols()).map(|j| m[(i, j)]).collect::<Vec<f64>>()))
            .collect(),
    )
}

fn vec_json(v: &DVector<f64>) -> Value {
    json!(v.iter().copied().collect::<Vec<f64>>())
}

/// Population covariance (divisor N) of the rows of an N × d row-major matrix. Cost O(N d²).
fn population_covariance(rows: &[f64], n: usize, d: usize) -> DMatrix<f64> {
    let mut mean = vec![0.0; d];
    for i in 0..n {
        for j in 0..d {
            mean[j] += rows[i * d + j];
        }
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    let mut c = DMatrix::<f64>::zeros(d, d);
    for i in 0..n {
        for a in 0..d {
            let da = rows[i * d + a] - mean[a];
            for b in 0..d {
                c[(a, b)] += da * (rows[i * d + b] - mean[b]);
            }
        }
    }
    symmetrize(&(c / n as f64))
}

fn sum_file_sizes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                total += sum_file_sizes(&p);
            } else if let Ok(m) = e.metadata() {
                total += m.len();
            }
        }
    }
    total
}

/// Simulates scenario `s` with configuration `cfg` and `seed`, and writes the run directory `out`
/// (format v1; see the module documentation and `docs/scenarios.md`).
///
/// `out` is created with its parents if missing; an existing non-empty directory is refused with
/// [`Error::Usage`]. Files are written into a temporary sibling folder that is renamed to `out` at
/// the end, so a failure never leaves a half-written run.
///
/// Cost: O((burn_in + K·spacing)·(S d + d²)) for the SGD steps plus O(K·N·d) for the checkpoints
/// (O(K·M·S·d) in minibatch mode), and O(N d²) for the truth; memory O(N d + T d).
///
/// # Errors
/// [`Error::Usage`] for an invalid configuration, an existing non-empty `out`, or a run that
/// diverges; [`Error::Output`] when a file cannot be written.
pub fn simulate(s: Scenario, cfg: &SimConfig, seed: u64, out: &Path) -> Result<SimSummary> {
    validate(s, cfg)?;
    let (tmp, existed) = prepare_out(out)?;
    match run_into(s, cfg, seed, &tmp, out) {
        Ok(mut summary) => {
            let finish = || -> std::io::Result<()> {
                if existed {
                    fs::remove_dir(out)?;
                }
                fs::rename(&tmp, out)
            };
            if let Err(e) = finish() {
                let _ = fs::remove_dir_all(&tmp);
                return Err(Error::Output {
                    path: out.to_path_buf(),
                    message: format!("cannot move the finished run into place: {e}"),
                });
            }
            summary.bytes_written = sum_file_sizes(out);
            Ok(summary)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(e)
        }
    }
}

/// (fresh-sampling prediction, reshuffled covariance at an epoch start) of a reshuffled run.
type ReshuffledTruth = (Option<DMatrix<f64>>, Option<DMatrix<f64>>);

/// The truth computed before the run.
struct Truth {
    hessian: DMatrix<f64>,
    noise_cov: DMatrix<f64>,
    stationary: Option<DMatrix<f64>>,
    exact: bool,
    continuous: Option<DMatrix<f64>>,
    kind: &'static str,
    l_star: f64,
    kurtosis: Vec<f64>,
    /// Reshuffled runs only: (the fresh-sampling prediction, the reshuffled covariance at an
    /// epoch start).
    reshuffled: Option<ReshuffledTruth>,
}

fn compute_truth(s: Scenario, model: &Model, theta_star: &DVector<f64>, cfg: &SimConfig) -> Truth {
    let (d, n) = (model.d, model.n);
    let eps = cfg.learning_rate;
    let f = without_replacement_factor(n, cfg.batch_size);
    let grads = model.all_gradients(theta_star);
    let noise_cov = population_covariance(&grads, n, d);
    let hessian = model.hessian(theta_star);
    let q = &noise_cov * f;
    let kurtosis = (0..d)
        .map(|j| {
            let col: Vec<f64> = (0..n).map(|i| grads[i * d + j]).collect();
            Moments::new(&col).excess_kurtosis()
        })
        .collect();
    let (stationary, exact, kind) = match s {
        Scenario::QuadraticGaussian
        | Scenario::HeavyTailedNoise
        | Scenario::LargeStep
        | Scenario::DriftThenDiffusion => (
            discrete_lyapunov(&hessian, &q, eps),
            true,
            "exact: discrete Lyapunov Σ = FΣFᵀ + ε²fC, F = I − εH",
        ),
        Scenario::LeastSquares => {
            let Kind::LeastSquares { x, y, .. } = &model.kind else {
                unreachable!("least-squares model")
            };
            let r: Vec<f64> = (0..n)
                .map(|i| y[i] - (0..d).map(|j| x[i * d + j] * theta_star[j]).sum::<f64>())
                .collect();
            (
                least_squares_stationary(x, &r, d, eps, cfg.batch_size),
                true,
                "exact: Σ = FΣF + ε²f[C* + M(Σ)] with the multiplicative term M of least squares",
            )
        }
        Scenario::DoubleWellDeep => (
            discrete_lyapunov(&hessian, &q, eps),
            false,
            "approximate: discrete Lyapunov of the quadratic expansion at the well minimum",
        ),
        _ => (
            None,
            false,
            "none: no linear model predicts the stationary covariance here",
        ),
    };
    let continuous = match s {
        Scenario::QuarticBasin | Scenario::StateDependentNoise | Scenario::DoubleWellCrossing => {
            None
        }
        _ => continuous_lyapunov(&hessian, &q, eps),
    };
    let l_star = match &model.kind {
        Kind::LeastSquares { l_star, .. } => *l_star,
        _ => 0.0,
    };
    let mut tr = Truth {
        hessian,
        noise_cov,
        stationary,
        exact,
        continuous,
        kind,
        l_star,
        kurtosis,
        reshuffled: None,
    };
    if cfg.sampling == SamplingDesign::Reshuffled {
        reshuffled_truth(s, &mut tr, &q, cfg);
    }
    tr
}

/// Replaces the stationary covariance by the reshuffled one (`ou::reshuffled`, mean over the
/// epoch's m = ⌊N/S⌋ positions) where a linear model gives it, keeping the fresh-sampling
/// prediction aside. Least squares has no reshuffled formula (its noise is multiplicative).
fn reshuffled_truth(s: Scenario, tr: &mut Truth, q: &DMatrix<f64>, cfg: &SimConfig) {
    let fresh = tr.stationary.take();
    let m = cfg.dataset_size / cfg.batch_size;
    let linear = matches!(
        s,
        Scenario::QuadraticGaussian
            | Scenario::HeavyTailedNoise
            | Scenario::LargeStep
            | Scenario::DriftThenDiffusion
            | Scenario::DoubleWellDeep
    );
    let r = linear
        .then(|| {
            crate::ou::reshuffled::stationary_cov_reshuffled(&tr.hessian, q, cfg.learning_rate, m)
                .ok()
        })
        .flatten();
    tr.kind = match (&r, s) {
        (Some(_), Scenario::DoubleWellDeep) => {
            "approximate: reshuffled SGD (ou::reshuffled, mean over the epoch) on the quadratic \
             expansion at the well minimum"
        }
        (Some(_), _) => {
            "exact: reshuffled SGD with drop_last, mean over the epoch of Cov θ_p \
             (ou::reshuffled; epoch start solves Σ₀ = F^mΣ₀F^m + W)"
        }
        (None, _) => "none: no reshuffled-sampling prediction for this model",
    };
    tr.exact = tr.exact && r.is_some();
    tr.stationary = r.as_ref().map(|r| r.mean_over_epoch.clone());
    tr.reshuffled = Some((fresh, r.map(|r| r.at_epoch_start)));
}

fn run_into(s: Scenario, cfg: &SimConfig, seed: u64, dir: &Path, out: &Path) -> Result<SimSummary> {
    if cfg.dim_rotated {
        return dim::run_rotated(s, cfg, seed, dir, out);
    }
    let f = without_replacement_factor(cfg.dataset_size, cfg.batch_size);
    let built = model::build(s, cfg, seed);
    if !built.model.is_finite() {
        return Err(usage(format!(
            "simulate: the drawn data set of {} overflowed (non-finite values); \
             raise tail_index or lower noise_scale",
            s.name()
        )));
    }
    let mut model = built.model;
    let theta_star = built.theta_star;
    let rot = built.rotation;
    let mut theta0 = built.theta0;
    let mut extra = serde_json::Map::new();
    let mult = match cfg.noise_model {
        NoiseModel::Multiplicative { beta } => Some(beta),
        NoiseModel::Additive => None,
    };
    if s == Scenario::StateDependentNoise || mult.is_some() {
        let beta = mult.unwrap_or(cfg.state_beta);
        make_state_dependent(&mut model, &theta_star, &rot, cfg, beta, &mut extra)?;
    }
    let mut tr = compute_truth(s, &model, &theta_star, cfg);
    if mult.is_some() {
        // The constant-C Lyapunov solution (base_stationary_covariance) is the additive model's.
        (tr.stationary, tr.continuous, tr.exact) = (None, None, false);
        tr.kind = "none: the noise covariance depends on θ (noise_model multiplicative); \
                   base_stationary_covariance is the additive model's";
        extra.insert("noise_model".into(), json!("multiplicative"));
    }
    if s == Scenario::DriftThenDiffusion {
        theta0 = drift_start(&tr, &theta_star, &rot, cfg, f, &mut extra)?;
    }
    model_extras(s, &model, &tr, &rot, cfg, f, &mut extra);
    let steps = cfg.checkpoint_steps();
    let sgd = run_sgd(s, &model, &theta0, cfg, seed, dir, &steps)?;
    if s == Scenario::StateDependentNoise || mult.is_some() {
        extra.insert(
            "noise_factor_at_checkpoints".into(),
            json!(sgd.noise_factors),
        );
    }
    extra.insert(
        "hessian_eigenvalues_at_checkpoints".into(),
        Value::Array(sgd.hessian_eigenvalues.clone()),
    );
    let trajectory_steps = write_trajectory(dir, cfg, &sgd)?;
    let truth = truth_json(
        &tr,
        &theta_star,
        &theta0,
        cfg,
        f,
        &steps,
        trajectory_steps,
        extra,
    );
    let expected = expected_for(s, cfg);
    write_manifest(dir, s, cfg, seed, expected, &truth)?;
    Ok(SimSummary {
        scenario: s,
        out: out.to_path_buf(),
        seed,
        learning_rate: cfg.learning_rate,
        batch_size: cfg.batch_size,
        dataset_size: cfg.dataset_size,
        theta_star,
        theta0,
        hessian: tr.hessian,
        minibatch_noise_covariance: &tr.noise_cov * f,
        noise_covariance: tr.noise_cov,
        stationary_covariance: tr.stationary,
        stationary_is_exact: tr.exact,
        stationary_covariance_continuous: tr.continuous,
        checkpoint_steps: steps,
        trajectory_steps,
        expected,
        truth,
        eigen: None,
        bytes_written: 0,
    })
}

/// Turns the quadratic model into the state-dependent one: the noise factor s(θ) is
/// standardised by the base model's stationary spread σ_u along the softest direction u.
fn make_state_dependent(
    model: &mut Model,
    theta_star: &DVector<f64>,
    rot: &DMatrix<f64>,
    cfg: &SimConfig,
    beta: f64,
    extra: &mut serde_json::Map<String, Value>,
) -> Result<()> {
    let base = compute_truth(Scenario::QuadraticGaussian, model, theta_star, cfg);
    let sigma = base
        .stationary
        .clone()
        .ok_or_else(|| usage("simulate: the base quadratic has no stationary law"))?;
    let soft = argmin(&cfg.curvatures);
    let u = rot.column(soft).into_owned();
    let sigma_u = u.dot(&(&sigma * &u)).sqrt();
    let Kind::Quadratic { h } = model.kind.clone() else {
        unreachable!("state-dependent starts from the quadratic model")
    };
    model.kind = Kind::StateDependent {
        h,
        u: u.clone(),
        sigma_u,
        beta,
        z_cap: cfg.state_cap,
    };
    extra.insert("direction_u".into(), vec_json(&u));
    extra.insert("sigma_u".into(), json!(sigma_u));
    extra.insert("beta".into(), json!(beta));
    extra.insert("z_cap".into(), json!(cfg.state_cap));
    extra.insert("base_stationary_covariance".into(), mat_json(&sigma));
    extra.insert(
        "noise_factor".into(),
        json!("C(θ) = s(θ)² C with s(θ) = exp(β z_c tanh(z/z_c)), z = uᵀ(θ − θ*)/σ_u"),
    );
    Ok(())
}

/// The drift scenario's start: `start_distance` stationary standard deviations from θ* along
/// the softest direction; records the drift phases in `extra`.
fn drift_start(
    tr: &Truth,
    theta_star: &DVector<f64>,
    rot: &DMatrix<f64>,
    cfg: &SimConfig,
    f: f64,
    extra: &mut serde_json::Map<String, Value>,
) -> Result<DVector<f64>> {
    let sigma = tr.stationary.clone().ok_or_else(|| {
        usage("simulate: learning_rate is at the stability limit; no stationary law exists")
    })?;
    let soft = argmin(&cfg.curvatures);
    let u = rot.column(soft).into_owned();
    let sd = u.dot(&(&sigma * &u)).sqrt();
    let theta0 = theta_star + &u * (cfg.start_distance * sd);
    let phases = drift_phases(
        cfg,
        &tr.hessian,
        &sigma,
        &(tr.noise_cov.clone() * f),
        &(&theta0 - theta_star),
    );
    extra.insert("start_direction".into(), vec_json(&u));
    extra.insert("start_distance_sd".into(), json!(cfg.start_distance));
    extra.insert("stationary_from_step".into(), phases.1);
    extra.insert("phases".into(), phases.0);
    Ok(theta0)
}

/// The truth specific to a model kind (quartic temperatures, double-well barrier, regression
/// noise, tail index) for `simulation.truth`.
fn model_extras(
    s: Scenario,
    model: &Model,
    tr: &Truth,
    rot: &DMatrix<f64>,
    cfg: &SimConfig,
    f: f64,
    extra: &mut serde_json::Map<String, Value>,
) {
    let eps = cfg.learning_rate;
    match &model.kind {
        Kind::Quartic { a, .. } => {
            // Small-step stationary law ∝ exp(−a_j w_j⁴ / (4 T_j)) per direction (continuous limit).
            let temps: Vec<f64> = (0..cfg.d)
                .map(|j| {
                    let u = rot.column(j);
                    eps * u.dot(&(&tr.noise_cov * u)) * f / 2.0
                })
                .collect();
            extra.insert("temperature_per_direction".into(), json!(temps));
            extra.insert("directions".into(), mat_json(rot));
            extra.insert("quartic_coefficients".into(), json!(a));
            extra.insert(
                "loss".into(),
                json!("L(θ) = ¼ Σ_j a_j (u_jᵀ(θ − θ*))⁴, u_j = column j of directions"),
            );
        }
        Kind::DoubleWell { well, barrier, .. } => {
            double_well_extras(model, tr, rot, (*well, *barrier), (eps, f), extra)
        }
        Kind::LeastSquares { .. } => {
            extra.insert("regression_noise".into(), json!(cfg.regression_noise));
            if let Some(df) = cfg.regression_noise_df {
                extra.insert("regression_noise_df".into(), json!(df));
            }
            extra.insert("data_directions".into(), mat_json(rot));
        }
        _ => {}
    }
    if s == Scenario::HeavyTailedNoise {
        extra.insert("tail_index".into(), json!(cfg.tail_index));
        extra.insert(
            "noise_law".into(),
            json!("ξ_i = noise_scale · W diag(√λ) z_i, z_i i.i.d. standard symmetric α-stable / √2 (Chambers–Mallows–Stuck), centred"),
        );
    }
}

/// The double well's truth: minima, barrier and its height over the noise temperature
/// ε·uᵀCu·f/2.
fn double_well_extras(
    model: &Model,
    tr: &Truth,
    rot: &DMatrix<f64>,
    (well, barrier): (usize, f64),
    (eps, f): (f64, f64),
    extra: &mut serde_json::Map<String, Value>,
) {
    let u = rot.column(well).into_owned();
    let temperature = eps * u.dot(&(&tr.noise_cov * &u)) * f / 2.0;
    extra.insert("barrier_center".into(), vec_json(&model.center));
    extra.insert("well_direction".into(), vec_json(&u));
    extra.insert("barrier_height".into(), json!(barrier));
    extra.insert("well_curvature".into(), json!(8.0 * barrier));
    extra.insert(
        "minima".into(),
        json!([
            vec_json(&(&model.center + &u)),
            vec_json(&(&model.center - &u))
        ]),
    );
    extra.insert("temperature".into(), json!(temperature));
    extra.insert(
        "barrier_over_temperature".into(),
        json!(barrier / temperature),
    );
    extra.insert(
        "loss".into(),
        json!(
            "L(θ) = h (z² − 1)² + ½ Σ_{k≠well} λ_k w_k², w = Uᵀ(θ − θ_c), z = w_well = uᵀ(θ − θ_c)"
        ),
    );
}

/// The per-step minibatch draw of the configured [`SamplingDesign`].
enum StepSampler {
    Fresh(BatchSampler),
    Reshuffled(ReshuffleSampler),
}

impl StepSampler {
    fn new(cfg: &SimConfig) -> Self {
        match cfg.sampling {
            SamplingDesign::Fresh => {
                StepSampler::Fresh(BatchSampler::new(cfg.dataset_size, cfg.batch_size))
            }
            SamplingDesign::Reshuffled => {
                StepSampler::Reshuffled(ReshuffleSampler::new(cfg.dataset_size, cfg.batch_size))
            }
        }
    }

    fn next<R: rand::Rng + ?Sized>(&mut self, rng: &mut R) -> &[usize] {
        match self {
            StepSampler::Fresh(s) => s.next(rng),
            StepSampler::Reshuffled(s) => s.next(rng),
        }
    }
}

/// What the SGD loop recorded besides the checkpoints it wrote.
struct SgdOutput {
    last: usize,
    traj_params: Vec<f64>,
    traj_losses: Vec<f64>,
    noise_factors: Vec<f64>,
    hessian_eigenvalues: Vec<Value>,
}

/// Runs SGD from θ₀ to the last checkpoint step, writing each checkpoint (and the probes) as it
/// passes; keeps the trajectory after burn-in. Cost O(T·S·d) for T steps of batch size S.
fn run_sgd(
    s: Scenario,
    model: &Model,
    theta0: &DVector<f64>,
    cfg: &SimConfig,
    seed: u64,
    dir: &Path,
    steps: &[u64],
) -> Result<SgdOutput> {
    let name = s.name();
    let last = *steps.last().expect("checkpoints ≥ 1") as usize;
    let mut sampler = StepSampler::new(cfg);
    let mut sgd_rng = rng::stream(seed, &format!("simulate/{name}/sgd"));
    let mut theta = theta0.clone();
    let mut grad = DVector::<f64>::zeros(cfg.d);
    let mut o = SgdOutput {
        last,
        traj_params: Vec::new(),
        traj_losses: Vec::new(),
        noise_factors: Vec::new(),
        hessian_eigenvalues: Vec::new(),
    };
    mkdir(&dir.join("checkpoints"))?;
    let mut next_ck = 0usize;
    let mut ck_thetas: Vec<(usize, DVector<f64>)> = Vec::new();
    for t in 0..=last {
        if t >= cfg.burn_in && cfg.write_trajectory {
            o.traj_params.extend(theta.iter());
            o.traj_losses.push(model.mean_loss(&theta));
        }
        if next_ck < steps.len() && steps[next_ck] as usize == t {
            let hess = write_checkpoint(dir, model, &theta, t, cfg, seed, name)?;
            if cfg.probes.is_some() {
                ck_thetas.push((t, theta.clone()));
            }
            o.noise_factors.push(model.noise_factor(&theta));
            if let Some(hess) = hess {
                let ev: Vec<f64> = SymmetricEigen::new(hess)
                    .eigenvalues
                    .iter()
                    .copied()
                    .collect();
                o.hessian_eigenvalues.push(json!(ev));
            }
            next_ck += 1;
        }
        if t == last {
            break;
        }
        let batch = sampler.next(&mut sgd_rng);
        model.batch_gradient(&theta, batch, &mut grad);
        theta.axpy(-cfg.learning_rate, &grad, 1.0);
        if !theta.iter().all(|v| v.is_finite() && v.abs() < 1e150) {
            return Err(usage(format!(
                "simulate: SGD diverged at step {} of {name}; lower learning_rate or noise_scale",
                t + 1
            )));
        }
    }
    if let Some(pc) = &cfg.probes {
        write_probes(dir, model, &ck_thetas, &o.traj_params, pc, cfg.float32)?;
    }
    Ok(o)
}

/// Writes trajectory/{steps,params,losses}.npy when the configuration asks for it; returns the
/// first and last recorded steps.
fn write_trajectory(dir: &Path, cfg: &SimConfig, sgd: &SgdOutput) -> Result<Option<(u64, u64)>> {
    if !cfg.write_trajectory {
        return Ok(None);
    }
    let tdir = dir.join("trajectory");
    mkdir(&tdir)?;
    let tsteps: Vec<i64> = (cfg.burn_in..=sgd.last).map(|t| t as i64).collect();
    npy::write_i64(&tdir.join("steps.npy"), &tsteps)?;
    write_floats(
        &tdir.join("params.npy"),
        &[tsteps.len(), cfg.d],
        &sgd.traj_params,
        cfg.float32,
    )?;
    if cfg.write_losses {
        write_floats(
            &tdir.join("losses.npy"),
            &[tsteps.len()],
            &sgd.traj_losses,
            cfg.float32,
        )?;
    }
    Ok(Some((cfg.burn_in as u64, sgd.last as u64)))
}

/// `simulation.truth` of run.json: the model's known quantities, then the scenario's extras.
#[allow(clippy::too_many_arguments)]
fn truth_json(
    tr: &Truth,
    theta_star: &DVector<f64>,
    theta0: &DVector<f64>,
    cfg: &SimConfig,
    f: f64,
    steps: &[u64],
    trajectory_steps: Option<(u64, u64)>,
    extra: serde_json::Map<String, Value>,
) -> Value {
    let eig = SymmetricEigen::new(tr.hessian.clone());
    let mut eigs: Vec<f64> = eig.eigenvalues.iter().copied().collect();
    eigs.sort_by(f64::total_cmp);
    let lmax = eigs.last().copied().unwrap_or(0.0);
    let opt = |m: &Option<DMatrix<f64>>| m.as_ref().map(mat_json).unwrap_or(Value::Null);
    let mut truth = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        truth.insert(k.into(), v);
    };
    put("theta_star", vec_json(theta_star));
    put("theta0", vec_json(theta0));
    put("hessian_at_theta_star", mat_json(&tr.hessian));
    put("hessian_eigenvalues_at_theta_star", json!(eigs));
    put(
        "eps_lambda_max_at_theta_star",
        json!(cfg.learning_rate * lmax),
    );
    put("minimum_mean_loss", json!(tr.l_star));
    put("noise_covariance_at_theta_star", mat_json(&tr.noise_cov));
    put("finite_population_factor", json!(f));
    put(
        "minibatch_noise_covariance_at_theta_star",
        mat_json(&(&tr.noise_cov * f)),
    );
    put("stationary_covariance", opt(&tr.stationary));
    put("stationary_covariance_kind", json!(tr.kind));
    if let Some((fresh, start)) = &tr.reshuffled {
        put("sampling_design", json!("reshuffled"));
        put("steps_per_epoch", json!(cfg.dataset_size / cfg.batch_size));
        put("stationary_covariance_fresh_sampling", opt(fresh));
        put("stationary_covariance_at_epoch_start", opt(start));
    }
    put("stationary_covariance_continuous", opt(&tr.continuous));
    put(
        "per_example_gradient_excess_kurtosis_at_theta_star",
        json!(tr.kurtosis),
    );
    put("checkpoint_steps", json!(steps));
    put(
        "trajectory_steps",
        trajectory_steps
            .map(|(a, b)| json!([a, b]))
            .unwrap_or(Value::Null),
    );
    for (k, v) in extra {
        truth.insert(k, v);
    }
    Value::Object(truth)
}

/// Writes run.json (format 1) with the simulation block: parameters, expected verdicts, truth.
fn write_manifest(
    dir: &Path,
    s: Scenario,
    cfg: &SimConfig,
    seed: u64,
    expected: Expected,
    truth: &Value,
) -> Result<()> {
    let (name, n) = (s.name(), cfg.dataset_size);
    let manifest = json!({
        "format_version": 1,
        "learning_rate": cfg.learning_rate,
        "batch_size": cfg.batch_size,
        "dataset_size": n,
        "loss_reduction": "mean",
        "gradients": if cfg.minibatch_gradients { "minibatch" } else { "per_example" },
        "sampling": "without_replacement",
        "model": model_label(s, cfg.d),
        "dataset": format!("synthetic: {n} examples drawn once from the streams simulate/{name}/{{rotation,noise_rotation,theta_star,dataset}}"),
        "seed": seed,
        "framework": "sgd-ou simulate",
        "notes": format!(
            "Simulated by sgd-ou {} (scenario {name}); the truth is in simulation.truth and the \
             scenario is documented in docs/scenarios.md. {}",
            env!("CARGO_PKG_VERSION"),
            s.description()
        ),
        "simulation": {
            "scenario": name,
            "description": s.description(),
            "generator": format!("sgd-ou {}", env!("CARGO_PKG_VERSION")),
            "rng": format!("ChaCha8 streams rng::stream(seed, \"simulate/{name}/<purpose>\")"),
            "parameters": cfg,
            "expected": expected,
            "expected_note": s.expected_note(),
            "truth": truth,
        }
    });
    let mut manifest = manifest;
    dim::format2_fields(&mut manifest, cfg);
    if cfg.sampling == SamplingDesign::Reshuffled {
        manifest["format_version"] = json!(2);
        manifest["sampling"] = json!("reshuffled");
        manifest["steps_per_epoch"] = json!(cfg.dataset_size / cfg.batch_size);
        manifest["first_epoch_step"] = json!(0);
        manifest["drop_last"] = json!(true);
    }
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| Error::Output {
        path: dir.join("run.json"),
        message: e.to_string(),
    })? + "\n";
    fs::write(dir.join("run.json"), text).map_err(|e| Error::Output {
        path: dir.join("run.json"),
        message: e.to_string(),
    })
}

fn model_label(s: Scenario, d: usize) -> String {
    let what = match s {
        Scenario::QuadraticGaussian | Scenario::LargeStep | Scenario::DriftThenDiffusion => {
            "noisy quadratic, Gaussian per-example noise"
        }
        Scenario::HeavyTailedNoise => "noisy quadratic, symmetric alpha-stable per-example noise",
        Scenario::StateDependentNoise => {
            "quadratic with state-dependent Gaussian noise (gradient oracle)"
        }
        Scenario::QuarticBasin => "quartic basin, Gaussian per-example noise",
        Scenario::LeastSquares => "linear least-squares regression",
        Scenario::DoubleWellDeep | Scenario::DoubleWellCrossing => {
            "double well along one direction, quadratic elsewhere, Gaussian per-example noise"
        }
    };
    format!("synthetic {what} (d = {d})")
}

fn argmin(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x < v[best] {
            best = i;
        }
    }
    best
}

/// Phase labels of drift-then-diffusion at each checkpoint, from the exact mean path
/// m_t = F^t δ₀ and covariance deficit F^tΣF^tᵀ: NSR_t = tr(fC)/‖H m_t‖² (< 1: drift),
/// "diffusion" once the mean offset is below 0.1 stationary sd (Mahalanobis) and the covariance is
/// within 1% (Frobenius) of Σ. Returns (per-checkpoint table, first step from which every later
/// checkpoint is "diffusion").
fn drift_phases(
    cfg: &SimConfig,
    h: &DMatrix<f64>,
    sigma: &DMatrix<f64>,
    q: &DMatrix<f64>,
    delta0: &DVector<f64>,
) -> (Value, Value) {
    let d = cfg.d;
    let fmat = DMatrix::<f64>::identity(d, d) - h * cfg.learning_rate;
    let sigma_inv = sigma
        .clone()
        .try_inverse()
        .unwrap_or_else(|| DMatrix::zeros(d, d));
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    let mut m = delta0.clone();
    let mut ft = DMatrix::<f64>::identity(d, d);
    let mut t = 0usize;
    for step in cfg.checkpoint_steps() {
        while t < step as usize {
            m = &fmat * m;
            ft = &fmat * ft;
            t += 1;
        }
        let hm = h * &m;
        let nsr = q.trace() / hm.norm_squared();
        let maha = m.dot(&(&sigma_inv * &m)).max(0.0).sqrt();
        let deficit = (&ft * sigma * ft.transpose()).norm() / sigma.norm();
        let label = if nsr < 1.0 {
            "drift"
        } else if maha < 0.1 && deficit < 0.01 {
            "diffusion"
        } else {
            "transition"
        };
        labels.push((step, label));
        rows.push(json!({
            "step": step,
            "expected_noise_to_signal": nsr,
            "mean_offset_mahalanobis": maha,
            "covariance_deficit": deficit,
            "phase": label,
        }));
    }
    let mut from = Value::Null;
    for (i, (step, _)) in labels.iter().enumerate() {
        if labels[i..].iter().all(|(_, l)| *l == "diffusion") {
            from = json!(step);
            break;
        }
    }
    (Value::Array(rows), from)
}

/// Writes the loss probes of every checkpoint (see [`ProbeConfig`]). The spread
/// along each direction comes from `traj` (T × d row-major) when non-empty, else from the
/// checkpoints. Cost O(K d (d² + T + p·cost of the mean loss)).
fn write_probes(
    dir: &Path,
    model: &Model,
    cks: &[(usize, DVector<f64>)],
    traj: &[f64],
    cfg: &ProbeConfig,
    float32: bool,
) -> Result<()> {
    let d = model.d;
    let points: Vec<DVector<f64>> = if traj.is_empty() {
        cks.iter().map(|c| c.1.clone()).collect()
    } else {
        traj.chunks(d).map(DVector::from_row_slice).collect()
    };
    for (t, theta) in cks {
        let eig = SymmetricEigen::new(model.hessian(theta));
        let dirs: Vec<DVector<f64>> = (0..d).map(|j| eig.eigenvectors.column(j).into()).collect();
        let mut half: f64 = 0.0;
        let mut shift: f64 = 0.0;
        for v in &dirs {
            let c: Vec<f64> = points.iter().map(|x| v.dot(x)).collect();
            let mean = c.iter().sum::<f64>() / c.len() as f64;
            let var =
                c.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (c.len().max(2) - 1) as f64;
            half = half.max(var.sqrt());
            shift = shift.max((v.dot(theta) - mean).abs());
        }
        let r = cfg.range * half + shift;
        let r = if r > 0.0 && r.is_finite() { r } else { 1.0 };
        let p = cfg.offsets;
        let offsets: Vec<f64> = (0..p)
            .map(|l| -r + 2.0 * r * l as f64 / (p - 1) as f64)
            .collect();
        let mut losses = Vec::with_capacity(d * p);
        for v in &dirs {
            for &o in &offsets {
                losses.push(model.mean_loss(&(theta + v * o)));
            }
        }
        let flat: Vec<f64> = dirs.iter().flat_map(|v| v.iter().copied()).collect();
        let cdir = dir.join("checkpoints").join(format!("step_{t}"));
        write_floats(&cdir.join("probe_directions.npy"), &[d, d], &flat, float32)?;
        write_floats(&cdir.join("probe_offsets.npy"), &[p], &offsets, float32)?;
        write_floats(&cdir.join("probe_losses.npy"), &[d, p], &losses, float32)?;
    }
    Ok(())
}

/// Writes `checkpoints/step_<t>/` and returns the Hessian written there (`None` for
/// `dim_rotated` runs, whose checkpoints carry a dense `hessian.npy` only when
/// d ≤ [`DENSE_TRUTH_MAX_DIM`]).
fn write_checkpoint(
    dir: &Path,
    model: &Model,
    theta: &DVector<f64>,
    t: usize,
    cfg: &SimConfig,
    seed: u64,
    name: &str,
) -> Result<Option<DMatrix<f64>>> {
    let (d, n) = (model.d, model.n);
    let cdir = dir.join("checkpoints").join(format!("step_{t}"));
    mkdir(&cdir)?;
    write_floats(
        &cdir.join("params.npy"),
        &[d],
        theta.as_slice(),
        cfg.float32,
    )?;
    let base_loss = model.mean_loss(theta);
    let s = model.noise_factor(theta);
    if cfg.minibatch_gradients {
        let m = cfg.minibatches;
        let mut rng = rng::stream(
            seed,
            &format!("simulate/{name}/checkpoint_minibatches/step_{t}"),
        );
        let mut sampler = BatchSampler::new(n, cfg.batch_size);
        let mut rows = vec![0.0; m * d];
        let mut losses = vec![0.0; m];
        let mut g = DVector::<f64>::zeros(d);
        for r in 0..m {
            let batch = sampler.next(&mut rng);
            model.batch_gradient(theta, batch, &mut g);
            rows[r * d..(r + 1) * d].copy_from_slice(g.as_slice());
            losses[r] = batch
                .iter()
                .map(|&i| model.example_loss(theta, i, base_loss, s))
                .sum::<f64>()
                / batch.len() as f64;
        }
        write_floats(&cdir.join("grads.npy"), &[m, d], &rows, cfg.float32)?;
        if cfg.write_losses {
            write_floats(&cdir.join("losses.npy"), &[m], &losses, cfg.float32)?;
        }
    } else {
        let grads = model.all_gradients(theta);
        write_floats(&cdir.join("grads.npy"), &[n, d], &grads, cfg.float32)?;
        if cfg.write_losses {
            let losses: Vec<f64> = (0..n)
                .map(|i| model.example_loss(theta, i, base_loss, s))
                .collect();
            write_floats(&cdir.join("losses.npy"), &[n], &losses, cfg.float32)?;
        }
    }
    if cfg.dim_rotated {
        if cfg.write_hessian && d <= DENSE_TRUTH_MAX_DIM {
            write_hessian(&cdir, &model.hessian(theta), cfg.float32)?;
        }
        return Ok(None);
    }
    let hess = model.hessian(theta);
    if cfg.write_hessian {
        write_hessian(&cdir, &hess, cfg.float32)?;
    }
    Ok(Some(hess))
}

fn write_hessian(cdir: &Path, hess: &DMatrix<f64>, float32: bool) -> Result<()> {
    let d = hess.nrows();
    let flat: Vec<f64> = (0..d)
        .flat_map(|i| (0..d).map(move |j| (i, j)))
        .map(|(i, j)| hess[(i, j)])
        .collect();
    write_floats(&cdir.join("hessian.npy"), &[d, d], &flat, float32)
}
