//! What every check receives: the loaded run, the seed and the thresholds.

use nalgebra::DMatrix;

use crate::thresholds::Thresholds;
use crate::run::Run;
use crate::stats::descriptive::covariance_matrix;

/// Inputs shared by the four checks.
pub struct Context<'a> {
    pub run: &'a Run,
    pub seed: u64,
    pub thresholds: &'a Thresholds,
}

impl Context<'_> {
    /// Effective learning rate in mean-gradient units (see `Manifest::effective_learning_rate`).
    pub fn lr(&self) -> f64 {
        self.run.manifest.effective_learning_rate()
    }

    /// Per-checkpoint sample covariance of the projected per-example gradients (k × k).
    pub fn gradient_covariances(&self) -> Vec<DMatrix<f64>> {
        self.run
            .checkpoints
            .iter()
            .map(|c| covariance_matrix(&c.grads))
            .collect()
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
