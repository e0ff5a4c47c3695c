//! What every check receives: the loaded run, the seed, the thresholds, and the estimates the
//! checks share, each computed once on first use (thread-safe, so the checks may run in
//! parallel): the curvature A with its bootstrap and the per-checkpoint gradient covariances.

use std::sync::OnceLock;

use nalgebra::DMatrix;

use super::curvature::{self, Curvature};

use crate::run::Run;
use crate::stats::descriptive::covariance_matrix;
use crate::thresholds::Thresholds;

/// Inputs shared by the four checks, and the estimates they share (computed once).
pub struct Context<'a> {
    pub run: &'a Run,
    pub seed: u64,
    pub thresholds: &'a Thresholds,
    curvature: OnceLock<Curvature>,
    gradient_covariances: OnceLock<Vec<DMatrix<f64>>>,
    noise_covariance: OnceLock<DMatrix<f64>>,
}

impl<'a> Context<'a> {
    /// A context for `run` (already restricted to the analysis window). Cost O(1); the shared
    /// estimates are computed on first use.
    pub fn new(run: &'a Run, seed: u64, thresholds: &'a Thresholds) -> Self {
        Context {
            run,
            seed,
            thresholds,
            curvature: OnceLock::new(),
            gradient_covariances: OnceLock::new(),
            noise_covariance: OnceLock::new(),
        }
    }

    /// Every available estimate of the curvature A ([`curvature::estimate`]), computed once.
    /// Cost of the first call O(B·T·k²) (the lag-1 bootstrap), then O(1).
    pub fn curvature(&self) -> &Curvature {
        self.curvature.get_or_init(|| curvature::estimate(self))
    }

    /// Minibatch-noise covariance of checkpoint `i` (see [`curvature::noise_covariance_at`]),
    /// from the cached gradient covariance. Cost O(k²).
    pub fn noise_covariance_at(&self, i: usize) -> DMatrix<f64> {
        let c = &self.gradient_covariances()[i];
        match self.run.manifest.gradients {
            crate::run::GradientKind::PerExample => c * self.run.manifest.minibatch_cov_factor(),
            crate::run::GradientKind::Minibatch => c.clone(),
        }
    }

    /// Pooled minibatch-noise covariance Q, the mean over checkpoints of
    /// [`Self::noise_covariance_at`] (k × k; zeros without checkpoints), computed once.
    pub fn noise_covariance(&self) -> &DMatrix<f64> {
        self.noise_covariance.get_or_init(|| {
            let k = self.run.k();
            let m = self.run.checkpoints.len();
            let mut q = DMatrix::zeros(k, k);
            for i in 0..m {
                q += self.noise_covariance_at(i);
            }
            if m > 0 {
                q /= m as f64;
            }
            q
        })
    }

    /// Effective learning rate in mean-gradient units (see `Manifest::effective_learning_rate`).
    pub fn lr(&self) -> f64 {
        self.run.manifest.effective_learning_rate()
    }

    /// Per-checkpoint sample covariance of the projected per-example gradients (k × k).
    /// Computed once; cost of the first call O(m n k²).
    pub fn gradient_covariances(&self) -> &[DMatrix<f64>] {
        self.gradient_covariances.get_or_init(|| {
            self.run
                .checkpoints
                .iter()
                .map(|c| covariance_matrix(&c.grads))
                .collect()
        })
    }

    /// Seeded generator for `label` within this analysis.
    pub fn rng(&self, label: &str) -> rand_chacha::ChaCha8Rng {
        crate::rng::stream(self.seed, label)
    }

    /// Bootstrap row indices: `b` resamples, each with one index vector per checkpoint.
    ///
    /// When every checkpoint has the same number of rows the indices are drawn *jointly* (the
    /// same draw for every checkpoint): exports usually compute the gradients of one fixed set of
    /// examples at every checkpoint, and joint resampling keeps that pairing (resampling each
    /// checkpoint independently would treat the same examples as new data and give intervals that
    /// are too narrow). For unpaired checkpoints joint resampling is still valid, as each
    /// checkpoint's draw is a uniform bootstrap sample. With unequal row counts the draws are
    /// independent. Cost O(b Σ n_i).
    pub fn bootstrap_indices(&self, label: &str, b: usize) -> Vec<Vec<Vec<usize>>> {
        use rand::RngExt;
        let ns: Vec<usize> = self.run.checkpoints.iter().map(|c| c.n).collect();
        let joint = ns.windows(2).all(|w| w[0] == w[1]);
        let mut rng = self.rng(label);
        (0..b)
            .map(|_| {
                if joint {
                    let idx: Vec<usize> = (0..ns[0]).map(|_| rng.random_range(0..ns[0])).collect();
                    vec![idx; ns.len()]
                } else {
                    ns.iter()
                        .map(|&n| (0..n).map(|_| rng.random_range(0..n)).collect())
                        .collect()
                }
            })
            .collect()
    }

    /// z-quantile for a two-sided interval of coverage `level` split over `m` intervals
    /// (Bonferroni), Φ⁻¹(1 − (1 − level)/(2m)).
    pub fn z_simultaneous(&self, m: usize) -> f64 {
        use statrs::distribution::{ContinuousCDF, Normal};
        let a = (1.0 - self.thresholds.ci_level) / (2.0 * m.max(1) as f64);
        Normal::standard().inverse_cdf(1.0 - a)
    }
}
