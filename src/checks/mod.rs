//! The four assumption checks, one module each, and the types they share.
//!
//! Every check returns a [`CheckResult`]: a verdict, a one-line summary, the reasons behind it,
//! headline metrics (estimate, confidence interval, tolerance, p-value) that every report format
//! renders, free-form detailed metrics for the JSON report, and the thresholds it applied.
//!
//! The verdict rule is the same everywhere (docs/methods.md, "The verdict rule"): a check
//! **fails** only when a deviation is statistically significant *and* its effect size exceeds a
//! documented tolerance; it **passes** when the effect's confidence interval lies inside the
//! tolerance; otherwise it is **inconclusive**, with the reason.

pub mod constant_covariance;
pub mod gaussian_noise;
pub mod ou_prediction;
pub mod quadratic_loss;
pub mod small_step;

use serde::Serialize;
use serde_json::Value;

pub use crate::model::Context;
pub use crate::thresholds::Thresholds;

/// Outcome of one check, or of the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// A headline number: rendered in every report format.
#[derive(Debug, Clone, Serialize)]
pub struct KeyMetric {
    /// Stable identifier, e.g. `"minibatch_excess_kurtosis"`.
    pub name: String,
    /// What it is, for a reader.
    pub description: String,
    pub estimate: f64,
    /// Confidence interval [lo, hi] (level given in `ci_level`), when one is computed.
    pub ci: Option<[f64; 2]>,
    pub ci_level: Option<f64>,
    /// The tolerance the estimate is compared with, e.g. `"≤ 0.5"`.
    pub tolerance: Option<String>,
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
            ci_level: None,
            tolerance: None,
            p_value: None,
        }
    }
    pub fn ci(mut self, lo: f64, hi: f64, level: f64) -> Self {
        self.ci = Some([lo, hi]);
        self.ci_level = Some(level);
        self
    }
    pub fn tolerance(mut self, t: impl Into<String>) -> Self {
        self.tolerance = Some(t.into());
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
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub verdict: Verdict,
    /// One sentence a reader can quote.
    pub summary: String,
    /// Why the verdict is what it is (for inconclusive: what is missing).
    pub reasons: Vec<String>,
    pub key_metrics: Vec<KeyMetric>,
    /// Detailed evidence (per checkpoint, per direction, …).
    pub metrics: Value,
    /// The tolerances and levels this check applied (also in docs/methods.md).
    pub thresholds: Value,
}

impl CheckResult {
    /// An inconclusive result with one reason and no metrics.
    pub fn inconclusive(summary: impl Into<String>, reason: impl Into<String>) -> Self {
        CheckResult {
            verdict: Verdict::Inconclusive,
            summary: summary.into(),
            reasons: vec![reason.into()],
            key_metrics: Vec::new(),
            metrics: Value::Object(Default::default()),
            thresholds: Value::Object(Default::default()),
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
