//! Test batteries: the multivariate-normality battery (Henze–Zirkler, Mardia, the calibrated
//! random-projection test) and the covariance-equality battery (Box's M, the studentised
//! permutation test, effect sizes against a reference group), composed once here so that the
//! `gaussian_noise` check and `sgd-ou stats mvn` / `stats cov-equal` make the same choices.
//!
//! The p-value choice of the affine-invariant tests ([`MvnBattery::p_values`]): Monte Carlo
//! p-values from [`MvnNull`] when a null was simulated (exact up to Monte Carlo error at any
//! d < n − 1), the analytic ones otherwise (accurate for d/n small; the check simulates a null
//! below n = 50d).
//!
//! Cost: as the tests composed (see each in [`super::mvn`] and [`super::covariance`]).

use nalgebra::DMatrix;

use super::covariance::{
    box_m, permutation_cov_test, principal_angles, relative_frobenius, top_eigenvalue_ratio, BoxM,
    PermutationCovTest,
};
use super::descriptive::covariance_matrix;
use super::mvn::{
    henze_zirkler, mardia, projection_test, HenzeZirkler, Mardia, MvnNull, ProjectionTest,
    UnivariateNull,
};
use super::normality::dagostino_pearson;
use super::StatsError;

/// Henze–Zirkler and both Mardia tests on one sample, with the Monte Carlo null when one was
/// asked for.
#[derive(Debug, Clone)]
pub struct MvnBattery {
    /// Henze–Zirkler with its lognormal p-value.
    pub henze_zirkler: Result<HenzeZirkler, StatsError>,
    /// Mardia's skewness and kurtosis with their analytic p-values.
    pub mardia: Result<Mardia, StatsError>,
    /// The N(0, I) null of the three statistics at this (n, d), when simulated.
    pub null: Option<MvnNull>,
}

/// The p-values a battery reports for its three affine-invariant tests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MvnPValues {
    /// Henze–Zirkler (upper tail).
    pub henze_zirkler: f64,
    /// Mardia skewness (upper tail).
    pub mardia_skewness: f64,
    /// Mardia kurtosis (two-sided).
    pub mardia_kurtosis: f64,
    /// Whether they are Monte Carlo p-values (else analytic).
    pub monte_carlo: bool,
}

impl MvnBattery {
    /// Runs HZ and Mardia on `x` (n × d) and, when `mc_draws` > 0 and HZ is defined, simulates
    /// their null from `rng`. Cost O(n²d) plus `mc_draws`·O(n²d) for the null.
    ///
    /// # Errors
    /// Only the simulation of the null (an n × d N(0, I) sample the tests refuse); the tests'
    /// own errors are kept in the fields.
    pub fn run(
        x: &DMatrix<f64>,
        mc_draws: usize,
        rng: &mut impl rand::Rng,
    ) -> Result<Self, StatsError> {
        let henze_zirkler = henze_zirkler(x);
        let mardia = mardia(x);
        let null = if mc_draws > 0 && henze_zirkler.is_ok() {
            Some(MvnNull::simulate(x.nrows(), x.ncols(), mc_draws, rng)?)
        } else {
            None
        };
        Ok(MvnBattery {
            henze_zirkler,
            mardia,
            null,
        })
    }

    /// The p-values: Monte Carlo when the null was simulated, analytic otherwise; `None` when
    /// HZ or Mardia is undefined on this sample.
    pub fn p_values(&self) -> Option<MvnPValues> {
        let (hz, m) = (
            self.henze_zirkler.as_ref().ok()?,
            self.mardia.as_ref().ok()?,
        );
        Some(match &self.null {
            Some(null) => MvnPValues {
                henze_zirkler: null.p_henze_zirkler(hz.statistic),
                mardia_skewness: null.p_skewness(m.skewness.b1),
                mardia_kurtosis: null.p_kurtosis(m.kurtosis.b2),
                monte_carlo: true,
            },
            None => MvnPValues {
                henze_zirkler: hz.p_value,
                mardia_skewness: m.skewness.p_value,
                mardia_kurtosis: m.kurtosis.p_value,
                monte_carlo: false,
            },
        })
    }
}

/// The seeded null of the D'Agostino–Pearson K² p-value at sample size n ([`UnivariateNull`]
/// with `normaltest`): calibrates K², which is liberal at small n. Cost `draws`·O(n).
///
/// # Errors
/// As [`UnivariateNull::simulate`] (`draws` = 0, n < 8).
pub fn k2_null(
    n: usize,
    draws: usize,
    rng: &mut impl rand::Rng,
) -> Result<UnivariateNull, StatsError> {
    UnivariateNull::simulate(n, draws, rng, k2_p_value)
}

/// The asymptotic D'Agostino–Pearson K² p-value of `x`.
fn k2_p_value(x: &[f64]) -> Result<f64, StatsError> {
    dagostino_pearson(x).map(|t| t.p_value)
}

/// The random-projection test of `x` with each projection's K² p-value calibrated by a
/// simulated null of `null_draws` samples of size n (drawn from `null_rng`), on `projections`
/// directions drawn from `direction_rng`; Holm over the projections ([`projection_test`]).
/// Cost `null_draws`·O(n) + `projections`·O(nd).
///
/// # Errors
/// As [`k2_null`] and [`projection_test`].
pub fn calibrated_projection_test(
    x: &DMatrix<f64>,
    projections: usize,
    null_draws: usize,
    null_rng: &mut impl rand::Rng,
    direction_rng: &mut impl rand::Rng,
) -> Result<ProjectionTest, StatsError> {
    let null = k2_null(x.nrows(), null_draws, null_rng)?;
    projection_test(x, projections, direction_rng, |y| {
        Ok(null.p_value(k2_p_value(y)?))
    })
}

/// Effect sizes of one group's covariance against the reference group's.
#[derive(Debug, Clone, PartialEq)]
pub struct CovEffect {
    /// Index of the group (1, 2, …).
    pub group: usize,
    /// ‖Cᵢ − C₀‖_F / ‖C₀‖_F.
    pub relative_frobenius: f64,
    /// λ_max(Cᵢ)/λ_max(C₀).
    pub top_eigenvalue_ratio: f64,
    /// Number r of leading eigenvectors compared (min(d, 3)).
    pub principal_angles_top: usize,
    /// Principal angles (radians) between the top-r eigenspaces, or why not computed.
    pub principal_angles: Result<Vec<f64>, StatsError>,
}

/// Box's M, the studentised permutation test and the effect sizes of every group against the
/// first.
#[derive(Debug, Clone)]
pub struct CovEqualBattery {
    /// Box's M test.
    pub box_m: Result<BoxM, StatsError>,
    /// The studentised permutation test.
    pub permutation: Result<PermutationCovTest, StatsError>,
    /// Groups 1.. against group 0.
    pub effects: Vec<CovEffect>,
}

/// Groups (by index) with fewer than 2 rows: no covariance, so the battery is not run.
pub fn too_small_groups(groups: &[DMatrix<f64>]) -> Vec<usize> {
    (0..groups.len())
        .filter(|&i| groups[i].nrows() < 2)
        .collect()
}

impl CovEqualBattery {
    /// Runs the battery on groups of equal dimension d, each with at least 2 rows
    /// ([`too_small_groups`] is empty). Cost O(B·N·d²) for B permutations plus O(g·d³).
    pub fn run(groups: &[DMatrix<f64>], permutations: usize, rng: &mut impl rand::Rng) -> Self {
        let box_m = box_m(groups);
        let permutation = permutation_cov_test(groups, permutations, rng);
        let covs: Vec<DMatrix<f64>> = groups.iter().map(covariance_matrix).collect();
        let r = groups.first().map_or(0, |g| g.ncols().min(3));
        let effects = covs
            .iter()
            .enumerate()
            .skip(1)
            .map(|(group, c)| CovEffect {
                group,
                relative_frobenius: relative_frobenius(c, &covs[0]),
                top_eigenvalue_ratio: top_eigenvalue_ratio(c, &covs[0]),
                principal_angles_top: r,
                principal_angles: principal_angles(c, &covs[0], r),
            })
            .collect();
        CovEqualBattery {
            box_m,
            permutation,
            effects,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};

    fn sample(n: usize, d: usize, seed: u64) -> DMatrix<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        DMatrix::from_fn(n, d, |_, _| {
            let z: f64 = StandardNormal.sample(&mut rng);
            z.exp() // lognormal: clearly non-normal
        })
    }

    /// Without a null the analytic p-values; with one, the Monte Carlo p-values of that null.
    #[test]
    fn p_value_choice_follows_the_null() {
        let x = sample(60, 3, 1);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let a = MvnBattery::run(&x, 0, &mut rng).unwrap();
        let pa = a.p_values().unwrap();
        assert!(!pa.monte_carlo && a.null.is_none());
        assert_eq!(pa.henze_zirkler, a.henze_zirkler.as_ref().unwrap().p_value);
        let b = MvnBattery::run(&x, 49, &mut rng).unwrap();
        let pb = b.p_values().unwrap();
        let null = b.null.as_ref().unwrap();
        assert!(pb.monte_carlo);
        let hz = b.henze_zirkler.as_ref().unwrap().statistic;
        assert_eq!(pb.henze_zirkler, null.p_henze_zirkler(hz));
        // Strongly non-normal data: the smallest attainable Monte Carlo p-value, 1/(B + 1).
        assert_eq!(pb.henze_zirkler, 1.0 / 50.0);
        // d ≥ n − 1: no affine-invariant test, no p-values, no null simulated.
        let w = MvnBattery::run(&sample(4, 5, 3), 49, &mut rng).unwrap();
        assert!(w.p_values().is_none() && w.null.is_none());
    }

    #[test]
    fn cov_equal_effects_are_against_the_first_group() {
        let g = vec![sample(40, 3, 4), sample(50, 3, 5), sample(2, 3, 6)];
        assert!(too_small_groups(&g).is_empty());
        assert_eq!(too_small_groups(&[sample(1, 3, 7)]), [0]);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let b = CovEqualBattery::run(&g[..2], 19, &mut rng);
        assert_eq!(b.effects.len(), 1);
        let e = &b.effects[0];
        assert_eq!((e.group, e.principal_angles_top), (1, 3));
        let c: Vec<_> = g[..2].iter().map(covariance_matrix).collect();
        assert_eq!(e.relative_frobenius, relative_frobenius(&c[1], &c[0]));
        assert!(b.box_m.is_ok() && b.permutation.is_ok());
    }
}
