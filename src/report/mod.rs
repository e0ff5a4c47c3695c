//! The single report model and its exporters.
//!
//! [`Report`] is built once by [`crate::verify`]; [`json`], [`markdown`], [`latex`] and
//! [`text`] render it. The JSON form (`schema_version` 1) is the canonical, machine-readable one;
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
pub mod figures;

use serde::Serialize;

use crate::assumptions::{CheckResult, Thresholds, Verdict};
use crate::run::{InputFile, Manifest, SubspaceKind};

/// Version of the JSON report schema.
pub const SCHEMA_VERSION: u32 = 1;

/// The report of one `verify` run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub run: RunInfo,
    pub seed: u64,
    pub thresholds: Thresholds,
    pub assumptions: Assumptions,
    /// The OU model's consequences checked against the run (stationary covariance against the
    /// Lyapunov predictions, fluctuation–dissipation, equipartition, mean squared displacement).
    /// Informative: its verdict ("pass" = consistent with the OU model) does not enter the
    /// overall verdict.
    pub ou_prediction: CheckResult,
    /// Overall verdict: fail if any assumption fails, else inconclusive if any is, else pass.
    pub verdict: Verdict,
    /// Things a reader should know that are not a verdict (e.g. subspace caveats).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: String,
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
#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct Dims {
    /// Number of parameters.
    pub d: usize,
    /// Dimension of the analysis subspace.
    pub k: usize,
    pub subspace: SubspaceKind,
}

/// The four assumption verdicts; these keys are fixed by the schema.
#[derive(Debug, Clone, Serialize)]
pub struct Assumptions {
    pub gaussian_noise: CheckResult,
    pub constant_covariance: CheckResult,
    pub small_step: CheckResult,
    pub quadratic_loss: CheckResult,
}

impl Assumptions {
    /// (key, result) in the fixed order of the schema.
    pub fn iter(&self) -> [(&'static str, &CheckResult); 4] {
        [
            ("gaussian_noise", &self.gaussian_noise),
            ("constant_covariance", &self.constant_covariance),
            ("small_step", &self.small_step),
            ("quadratic_loss", &self.quadratic_loss),
        ]
    }
}

/// Human title of an assumption key.
pub fn title(key: &str) -> &'static str {
    match key {
        "gaussian_noise" => "1. Gaussian minibatch noise",
        "constant_covariance" => "2. Constant noise covariance",
        "small_step" => "3. Small step size",
        "quadratic_loss" => "4. Quadratic loss",
        _ => "",
    }
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

    /// `Ok(())` when every assumption passes; otherwise a message naming each assumption that did
    /// not pass, its verdict, summary and reasons.
    pub fn check_ou_assumptions(&self) -> Result<(), String> {
        let bad: Vec<String> = self
            .assumptions
            .iter()
            .iter()
            .filter(|(_, r)| r.verdict != Verdict::Pass)
            .map(|(k, r)| {
                format!(
                    "  {k}: {}: {} ({})",
                    r.verdict,
                    r.summary,
                    r.reasons.join("; ")
                )
            })
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the OU model's assumptions do not all hold for run {} (overall: {}):\n{}",
                self.run.dir,
                self.verdict,
                bad.join("\n")
            ))
        }
    }
}

/// The sampling scheme for people.
pub fn sampling_text(s: crate::run::Sampling) -> &'static str {
    match s {
        crate::run::Sampling::WithoutReplacement => "without replacement",
        crate::run::Sampling::WithReplacement => "with replacement",
    }
}

/// The subspace kind for people.
pub fn subspace_text(s: SubspaceKind) -> &'static str {
    match s {
        SubspaceKind::Identity => "all coordinates",
        SubspaceKind::RandomOrthonormal => "seeded random subspace",
    }
}

/// A number for people: 4 significant digits, scientific notation outside [1e-3, 1e5), "–" for
/// a non-finite value.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        format!("{x:.digits$}")
    } else {
        format!("{x:.3e}")
    }
}

/// "[lo, hi]" or "" when there is no interval.
pub fn ci_text(m: &crate::assumptions::KeyMetric) -> String {
    match m.ci {
        Some([lo, hi]) => format!("[{}, {}]", num(lo), num(hi)),
        None => String::new(),
    }
}

/// A p-value for people: "< 1e-16" below machine precision, else 3 significant digits.
pub fn p_text(p: Option<f64>) -> String {
    match p {
        None => String::new(),
        Some(p) if p < 1e-16 => "< 1e-16".into(),
        Some(p) if p < 1e-3 => format!("{p:.2e}"),
        Some(p) => format!("{p:.3}"),
    }
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_for_people() {
        assert_eq!(num(0.123456), "0.1235");
        assert_eq!(num(12.3456), "12.35");
        assert_eq!(num(1.0e-5), "1.000e-5");
        assert_eq!(num(f64::NAN), "–");
        assert_eq!(num(0.0), "0");
    }
}
