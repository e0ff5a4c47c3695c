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

    /// Bootstrap row indices: `b` resamples, each with one index vector per checkpoint,
    /// generated one resample at a time (see [`BootstrapIndices`]).
    ///
    /// When every checkpoint has the same number of rows the indices are drawn *jointly* (the
    /// same draw for every checkpoint): exports usually compute the gradients of one fixed set of
    /// examples at every checkpoint, and joint resampling keeps that pairing (resampling each
    /// checkpoint independently would treat the same examples as new data and give intervals that
    /// are too narrow). For unpaired checkpoints joint resampling is still valid, as each
    /// checkpoint's draw is a uniform bootstrap sample. With unequal row counts the draws are
    /// independent. Cost O(b Σ n_i) time in total; memory O(Σ n_i) (one resample alive at a
    /// time; O(n) when joint).
    pub fn bootstrap_indices(&self, label: &str, b: usize) -> BootstrapIndices {
        let ns: Vec<usize> = self.run.checkpoints.iter().map(|c| c.n).collect();
        let joint = ns.windows(2).all(|w| w[0] == w[1]);
        BootstrapIndices {
            ns,
            joint,
            rng: self.rng(label),
            left: b,
        }
    }

    /// z-quantile for a two-sided interval of coverage `level` split over `m` intervals
    /// (Bonferroni), Φ⁻¹(1 − (1 − level)/(2m)).
    pub fn z_simultaneous(&self, m: usize) -> f64 {
        use statrs::distribution::{ContinuousCDF, Normal};
        let a = (1.0 - self.thresholds.ci_level) / (2.0 * m.max(1) as f64);
        Normal::standard().inverse_cdf(1.0 - a)
    }
}

/// The bootstrap resamples of [`Context::bootstrap_indices`], drawn on demand from the seeded
/// stream: resample after resample, and within one the checkpoints in order, n_i uniform draws
/// from 0..n_i each (a joint draw once). Storing them all would take B × checkpoints × n words
/// (2.5 GiB at n = 10⁵, 8 checkpoints, B = 400); only the current resample is held.
pub struct BootstrapIndices {
    ns: Vec<usize>,
    joint: bool,
    rng: rand_chacha::ChaCha8Rng,
    left: usize,
}

impl Iterator for BootstrapIndices {
    type Item = Resample;

    fn next(&mut self) -> Option<Resample> {
        use rand::RngExt;
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let rng = &mut self.rng;
        let rows: Vec<Vec<usize>> = if self.joint {
            let n = self.ns.first().copied().unwrap_or(0);
            vec![(0..n).map(|_| rng.random_range(0..n)).collect()]
        } else {
            self.ns
                .iter()
                .map(|&n| (0..n).map(|_| rng.random_range(0..n)).collect())
                .collect()
        };
        Some(Resample {
            rows,
            checkpoints: self.ns.len(),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for BootstrapIndices {}

/// One bootstrap resample: the row indices of every checkpoint (`resample[c]`, or iterate over
/// `&resample` in checkpoint order). A joint draw is stored once and shared by all checkpoints.
pub struct Resample {
    rows: Vec<Vec<usize>>,
    checkpoints: usize,
}

impl Resample {
    /// Number of checkpoints.
    pub fn len(&self) -> usize {
        self.checkpoints
    }

    /// Whether the run has no checkpoints.
    pub fn is_empty(&self) -> bool {
        self.checkpoints == 0
    }
}

impl std::ops::Index<usize> for Resample {
    type Output = [usize];

    fn index(&self, checkpoint: usize) -> &[usize] {
        assert!(
            checkpoint < self.checkpoints,
            "checkpoint {checkpoint} out of range"
        );
        if self.rows.len() == 1 {
            &self.rows[0]
        } else {
            &self.rows[checkpoint]
        }
    }
}

impl<'r> IntoIterator for &'r Resample {
    type Item = &'r [usize];
    type IntoIter = Box<dyn Iterator<Item = &'r [usize]> + 'r>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new((0..self.checkpoints).map(move |c| &self[c]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator draws exactly the stream the stored version drew (so reports keep their
    /// bits): per resample, n draws when joint, else n_i draws per checkpoint in order.
    #[test]
    fn resamples_follow_the_seeded_stream_in_order() {
        use rand::RngExt;
        for ns in [vec![5, 5, 5], vec![4, 6]] {
            let joint = ns.windows(2).all(|w| w[0] == w[1]);
            let gen = BootstrapIndices {
                ns: ns.clone(),
                joint,
                rng: crate::rng::stream(9, "x"),
                left: 3,
            };
            assert_eq!(gen.len(), 3);
            let mut rng = crate::rng::stream(9, "x");
            let mut count = 0;
            for r in gen {
                count += 1;
                assert_eq!(r.len(), ns.len());
                let first: Vec<usize> = (0..ns[0]).map(|_| rng.random_range(0..ns[0])).collect();
                assert_eq!(&r[0], &first[..]);
                for (c, &n) in ns.iter().enumerate().skip(1) {
                    if joint {
                        assert_eq!(&r[c], &first[..]);
                    } else {
                        let want: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
                        assert_eq!(&r[c], &want[..]);
                    }
                }
                assert_eq!((&r).into_iter().count(), ns.len());
            }
            assert_eq!(count, 3);
        }
    }
}
