//! The single report model and its exporters.
//!
//! [`Report`] is built once by [`crate::verify`]; [`json`], [`markdown`], [`latex`] and
//! [`text`] render it. The JSON form (`schema_version` 2) is the canonical, machine-readable one;
//! its fields are documented in docs/report.md. The same inputs and seed give a byte-identical
//! JSON report, whatever the thread count (no timestamps, fixed iteration orders).
//!
//! Non-finite numbers (an undefined statistic) are written as JSON `null`.

pub mod json;
pub mod latex;
pub mod markdown;
pub mod text;
pub mod write;

pub mod bib;
pub mod build_info;
pub mod escape;
pub mod evidence_view;
pub mod figures;
pub mod html;
pub mod methods;
pub mod narrate;
pub mod plots;
pub mod schema;
pub mod words;

use serde::{Deserialize, Serialize};

pub use crate::fmt::{num, p_text};

use crate::checks::{Assumption, CheckResult, Thresholds, Verdict};
use crate::error::AssumptionsNotMet;
use crate::run::{InputFile, Manifest, SubspaceKind};

/// Version of the JSON report schema.
pub const SCHEMA_VERSION: u32 = 2;

/// The report of one `verify` run.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    /// Version of this schema ([`SCHEMA_VERSION`]): 2.
    pub schema_version: u32,
    /// The program that wrote the report.
    pub tool: Tool,
    /// What was analysed: the run, its window, dimensions and input digests.
    pub run: RunInfo,
    /// The seed of all randomness (subspace, minibatch draws, bootstrap).
    pub seed: u64,
    /// Every tolerance and level applied (docs/methods.md gives the reasons).
    pub thresholds: Thresholds,
    /// The four assumption checks.
    pub assumptions: Assumptions,
    /// The OU model's consequences checked against the run (stationary covariance against the
    /// Lyapunov predictions, fluctuation–dissipation, equipartition, mean squared displacement).
    /// Informative: its verdict ("pass" = consistent with the OU model) does not enter the
    /// overall verdict.
    pub ou_prediction: CheckResult,
    /// Overall verdict: fail when an assumption fails after Holm over the four, pass when all
    /// four pass (intersection–union), otherwise inconclusive (docs/methods.md, "The overall
    /// verdict").
    pub verdict: Verdict,
    /// The tests behind the overall verdict.
    #[serde(default)]
    pub verdict_tests: Option<crate::checks::OverallTests>,
    /// Things a reader should know that are not a verdict (e.g. subspace caveats).
    pub warnings: Vec<String>,
    /// How the report was made: build commit and command line. Set by the `sgd-ou` command
    /// line; absent (and not written) in reports made through the library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// Seed stability: every check's verdict under the report's seed and `--draws` more seeds,
    /// when the analysis used a random subspace (docs/methods.md, "Seed stability"). Absent when
    /// no random subspace was used or the draws were turned off. The verdicts above are those
    /// of `seed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw_stability: Option<crate::stability::DrawStability>,
}

/// How a report was made (docs/report.md, "Provenance").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Provenance {
    /// The git commit sgd-ou was built from ([`build_info::GIT_COMMIT`]).
    pub build_commit: String,
    /// The command line, shell-quoted, program name without its directory; path arguments
    /// relative to the current directory unless `absolute_paths`.
    pub command_line: String,
    /// Whether paths (this command line, `run.dir`) are absolute (`--absolute-paths`).
    pub absolute_paths: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tool {
    /// `"sgd-ou"`.
    pub name: String,
    /// Its version (Cargo package version).
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// What was analysed.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunInfo {
    /// The run directory as given.
    pub dir: String,
    /// run.json with defaults filled in; unknown keys echoed.
    pub manifest: Manifest,
    /// Steps of the checkpoints analysed (the analysis window).
    pub checkpoints: Vec<u64>,
    /// Gradient rows per analysed checkpoint.
    pub rows_per_checkpoint: Vec<usize>,
    /// Steps of every checkpoint in the run directory.
    pub all_checkpoints: Vec<u64>,
    /// The analysis window: which checkpoints were analysed, how they were chosen and why.
    pub window: crate::phases::Window,
    /// Drift/diffusion evidence of every checkpoint (signal ‖g‖², noise tr Q, their ratio): the
    /// data for a plot of signal and noise over steps.
    pub phases: Vec<crate::phases::CheckpointPhase>,
    /// Number of parameters and of analysis dimensions.
    pub dims: Dims,
    /// Number of trajectory rows, when trajectory/ is present.
    pub trajectory_length: Option<usize>,
    /// ε in mean-gradient units (ε·S for `loss_reduction: "sum"`).
    pub effective_learning_rate: f64,
    /// f with Cov(minibatch gradient) = f · C (finite-population corrected when sampling without
    /// replacement).
    pub minibatch_cov_factor: f64,
    /// Every file read, with its SHA-256.
    pub inputs: Vec<InputFile>,
    /// SHA-256 over the (path, sha256) list: one digest to quote.
    pub inputs_digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Dims {
    /// Number of parameters.
    pub d: usize,
    /// Dimension of the analysis subspace.
    pub k: usize,
    /// How the k analysis directions were chosen.
    pub subspace: SubspaceKind,
}

/// The four assumption verdicts; these keys are fixed by the schema.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Assumptions {
    /// 1. Gaussian minibatch noise.
    pub gaussian_noise: CheckResult,
    /// 2. Constant noise covariance.
    pub constant_covariance: CheckResult,
    /// 3. Small step size.
    pub small_step: CheckResult,
    /// 4. Quadratic loss.
    pub quadratic_loss: CheckResult,
}

impl Assumptions {
    /// (assumption, result) in the fixed order of the schema.
    pub fn iter(&self) -> [(Assumption, &CheckResult); 4] {
        [
            (Assumption::GaussianNoise, &self.gaussian_noise),
            (Assumption::ConstantCovariance, &self.constant_covariance),
            (Assumption::SmallStep, &self.small_step),
            (Assumption::QuadraticLoss, &self.quadratic_loss),
        ]
    }

    /// The result of one assumption.
    pub fn get(&self, a: Assumption) -> &CheckResult {
        match a {
            Assumption::GaussianNoise => &self.gaussian_noise,
            Assumption::ConstantCovariance => &self.constant_covariance,
            Assumption::SmallStep => &self.small_step,
            Assumption::QuadraticLoss => &self.quadratic_loss,
        }
    }
}

/// Human title of an assumption.
pub fn title(a: Assumption) -> &'static str {
    a.title()
}

impl Report {
    /// Process exit code of `sgd-ou verify`: 0 all pass, 1 any fails, 3 none fails but some
    /// inconclusive.
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Inconclusive => 3,
        }
    }

    /// Panics with a readable message unless every assumption passes. For use in a user's own
    /// `cargo test`: `sgd_ou::verify(dir, &Options::default())?.assert_ou_assumptions();`
    #[track_caller]
    pub fn assert_ou_assumptions(&self) {
        if let Err(msg) = self.check_ou_assumptions() {
            panic!("{msg}");
        }
    }

    /// `Ok(())` when every assumption passes; otherwise the assumptions that did not pass, each
    /// with its verdict, summary and reasons (the error's `Display` is a readable message).
    pub fn check_ou_assumptions(&self) -> Result<(), AssumptionsNotMet> {
        let failed: Vec<_> = self
            .assumptions
            .iter()
            .into_iter()
            .filter(|(_, r)| r.verdict != Verdict::Pass)
            .map(|(a, r)| (a, r.verdict, r.summary.clone(), r.reasons.clone()))
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(AssumptionsNotMet {
                run_dir: self.run.dir.clone(),
                overall: self.verdict,
                failed,
            })
        }
    }
}

/// The sampling scheme for people.
/// Format v2's epoch-wise reshuffling (`manifest.reshuffling`) is named with its epoch length.
pub fn sampling_text(m: &Manifest) -> String {
    match (m.sampling, &m.reshuffling) {
        (_, Some(r)) => format!(
            "reshuffled each epoch, {} steps per epoch",
            r.steps_per_epoch
        ),
        (crate::run::Sampling::WithoutReplacement, None) => "without replacement".to_string(),
        (crate::run::Sampling::WithReplacement, None) => "with replacement".to_string(),
    }
}

/// The subspace kind for people.
pub fn subspace_text(s: SubspaceKind) -> &'static str {
    match s {
        SubspaceKind::Identity => "all coordinates",
        SubspaceKind::RandomOrthonormal => "seeded random subspace",
        SubspaceKind::HessianEigenbasis => "Hessian eigenbasis (A-invariant)",
    }
}

/// The tolerance for people ("≤ 0.5", "|r − 1| ≤ 0.1") or "" when there is none.
pub fn tol_text(m: &crate::checks::KeyMetric) -> String {
    m.tolerance.map(|t| t.to_string()).unwrap_or_default()
}

/// "[lo, hi]" or "" when there is no interval.
pub fn ci_text(m: &crate::checks::KeyMetric) -> String {
    match m.ci {
        Some(ci) => format!("[{}, {}]", num(ci.lo), num(ci.hi)),
        None => String::new(),
    }
}
