//! Every tolerance and level the checks use, in one place. docs/methods.md gives the reason for
//! each value; the report echoes the values that were applied.
//!
//! The guiding principle: a tolerance bounds how far a violated assumption could move what the
//! OU model predicts (the stationary covariance Σ) or how far the noise law is from the Gaussian
//! one, at a level (about 10 %) that is small next to the other approximations a paper makes.

use serde::{Deserialize, Serialize};

use crate::error::OptionError;

/// Tolerances and statistical levels. `Thresholds::default()` is what the CLI uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Thresholds {
    /// Family-wise significance level of every test, after Holm correction.
    pub alpha: f64,
    /// Coverage of the reported (simultaneous where stated) confidence intervals.
    pub ci_level: f64,
    /// Bootstrap resamples for confidence intervals.
    pub bootstrap_resamples: usize,
    /// Random permutations of permutation tests ((B + 1)·α is an integer at α = 0.05).
    pub permutations: usize,
    /// gaussian_noise: largest tolerated |skewness| of the minibatch noise along a direction.
    pub gaussian_max_abs_skewness: f64,
    /// gaussian_noise: largest tolerated |excess kurtosis| of the minibatch noise.
    pub gaussian_max_abs_excess_kurtosis: f64,
    /// gaussian_noise: fewest direct minibatch noise samples (pooled over checkpoints) for the
    /// direct normality tests to run.
    pub gaussian_min_minibatch_samples: usize,
    /// constant_covariance: largest tolerated relative Frobenius deviation of a checkpoint's noise
    /// covariance from the pooled one (sampling noise removed).
    pub covariance_max_rel_deviation: f64,
    /// small_step: largest tolerated variance inflation of the discrete chain over the continuous
    /// OU model in the stiffest mode, 1/(1 − ελ_max/2) − 1.
    pub small_step_max_inflation: f64,
    /// quadratic_loss: largest tolerated fraction of the mean-gradient variation across
    /// checkpoints that a linear gradient model (quadratic loss) leaves unexplained.
    pub quadratic_max_unexplained: f64,
    /// quadratic_loss: largest tolerated relative change of the (projected) Hessian across the
    /// checkpoints, ‖H_i − H̄‖_F / ‖H̄‖_F.
    pub quadratic_max_hessian_change: f64,
    /// constant_covariance: fewest checkpoints for the check to give a verdict (with fewer, the
    /// stationary region is sampled at too few positions to say C is constant over it).
    pub covariance_min_checkpoints: usize,
    /// constant_covariance: largest real level of Box's M χ² approximation (inflated by the
    /// data's multivariate kurtosis, Muirhead & Waternaux 1980) at which Box's M is used as the
    /// significance test; above it the studentised permutation test is used.
    pub covariance_box_m_max_level: f64,
    /// constant_covariance: largest tolerated share of one example (row) in what is compared (its
    /// checkpoint's covariance, or for paired rows the covariance change); above it the estimate is
    /// essentially one example's outer product, the bootstrap cannot measure its variability, and
    /// the check is inconclusive.
    pub covariance_max_row_influence: f64,
    /// ou_prediction: largest tolerated relative deviation of an OU consequence (trace of the
    /// empirical stationary covariance against the discrete Lyapunov prediction, Yaida's FDR1,
    /// the equipartition identity) from what the model predicts.
    pub ou_prediction_max_rel_deviation: f64,
    /// quadratic_loss: largest tolerated error of the best quadratic along a loss probe, over the
    /// region the iterates occupy: max |L − q| / (max L − min L) on that region.
    pub quadratic_max_probe_error: f64,
    /// quadratic_loss: half-width, in stationary standard deviations along each probe direction,
    /// of the region over which the loss must be quadratic.
    pub quadratic_region_sds: f64,
    /// quadratic_loss: largest tolerated fraction of the variation of the mean loss along the
    /// iterates that the quadratic model L̂ + bᵀθ + ½θᵀAθ leaves unexplained.
    pub quadratic_max_loss_unexplained: f64,
}

impl Thresholds {
    /// Checks every level is in (0, 1), the resample counts are at least 1 and every tolerance
    /// is finite and positive. Called by [`crate::Options::validate`].
    pub fn validate(&self) -> Result<(), OptionError> {
        let unit = [
            ("thresholds.alpha", self.alpha),
            ("thresholds.ci_level", self.ci_level),
        ];
        for (name, v) in unit {
            if !(v > 0.0 && v < 1.0) {
                return Err(bad(name, v, "in (0, 1)"));
            }
        }
        let counts = [
            ("thresholds.bootstrap_resamples", self.bootstrap_resamples),
            ("thresholds.permutations", self.permutations),
            (
                "thresholds.gaussian_min_minibatch_samples",
                self.gaussian_min_minibatch_samples,
            ),
            (
                "thresholds.covariance_min_checkpoints",
                self.covariance_min_checkpoints,
            ),
        ];
        for (name, v) in counts {
            if v == 0 {
                return Err(bad(name, 0.0, "at least 1"));
            }
        }
        let positive = [
            (
                "thresholds.gaussian_max_abs_skewness",
                self.gaussian_max_abs_skewness,
            ),
            (
                "thresholds.gaussian_max_abs_excess_kurtosis",
                self.gaussian_max_abs_excess_kurtosis,
            ),
            (
                "thresholds.covariance_max_rel_deviation",
                self.covariance_max_rel_deviation,
            ),
            (
                "thresholds.small_step_max_inflation",
                self.small_step_max_inflation,
            ),
            (
                "thresholds.quadratic_max_unexplained",
                self.quadratic_max_unexplained,
            ),
            (
                "thresholds.quadratic_max_hessian_change",
                self.quadratic_max_hessian_change,
            ),
            (
                "thresholds.covariance_box_m_max_level",
                self.covariance_box_m_max_level,
            ),
            (
                "thresholds.covariance_max_row_influence",
                self.covariance_max_row_influence,
            ),
            (
                "thresholds.ou_prediction_max_rel_deviation",
                self.ou_prediction_max_rel_deviation,
            ),
            (
                "thresholds.quadratic_max_probe_error",
                self.quadratic_max_probe_error,
            ),
            ("thresholds.quadratic_region_sds", self.quadratic_region_sds),
            (
                "thresholds.quadratic_max_loss_unexplained",
                self.quadratic_max_loss_unexplained,
            ),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(name, v, "finite and positive"));
            }
        }
        Ok(())
    }
}

fn bad(name: &'static str, v: f64, requirement: &'static str) -> OptionError {
    OptionError {
        name,
        value: v.to_string(),
        requirement,
    }
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            alpha: 0.05,
            ci_level: 0.95,
            bootstrap_resamples: 200,
            permutations: 199,
            gaussian_max_abs_skewness: 0.2,
            gaussian_max_abs_excess_kurtosis: 0.5,
            gaussian_min_minibatch_samples: 20,
            covariance_max_rel_deviation: 0.10,
            small_step_max_inflation: 0.10,
            quadratic_max_unexplained: 0.10,
            quadratic_max_hessian_change: 0.20,
            covariance_min_checkpoints: 3,
            covariance_box_m_max_level: 0.06,
            covariance_max_row_influence: 0.5,
            ou_prediction_max_rel_deviation: 0.10,
            quadratic_max_probe_error: 0.10,
            quadratic_region_sds: 2.5,
            quadratic_max_loss_unexplained: 0.10,
        }
    }
}
