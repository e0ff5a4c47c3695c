//! Univariate normality tests: is a sample of real numbers compatible with *some* normal
//! distribution N(μ, σ²), with μ and σ² unknown (estimated from the sample)?
//!
//! | function | statistic | p-value checked against | sample size |
//! | --- | --- | --- | --- |
//! | [`shapiro_wilk`] | W (Royston 1992, AS R94) | `scipy.stats.shapiro` | 3 ≤ n ≤ 5000 |
//! | [`anderson_darling`] | A² | statistic: `scipy.stats.anderson`; p: `statsmodels.stats.diagnostic.normal_ad` | n ≥ 8 |
//! | [`dagostino_pearson`] | K² = Z_s² + Z_k² | `scipy.stats.normaltest` | n ≥ 8 |
//! | [`skewtest`] | Z_s (D'Agostino 1970) | `scipy.stats.skewtest` | n ≥ 8 |
//! | [`kurtosistest`] | Z_k (Anscombe & Glynn 1983) | `scipy.stats.kurtosistest` | n ≥ 5 |
//! | [`jarque_bera`] | JB | `scipy.stats.jarque_bera` | n ≥ 2 |
//! | [`lilliefors`] | D (KS distance to N(x̄, s²)) | `statsmodels…lilliefors(pvalmethod='approx')` | n ≥ 4 |
//!
//! Every function is pure (a slice in, numbers out), never panics, and returns a typed
//! [`StatsError`] for: fewer observations than the test's minimum (`TooFewSamples`), more than
//! its maximum (`TooManySamples`, Shapiro–Wilk only), NaN or ±∞ (`NonFinite`), and constant data
//! (`ZeroVariance`). "Constant" means all values equal or, for the moment-based statistics,
//! scipy's rule: the biased variance satisfies m₂ ≤ (ε·x̄)², with ε the f64 machine epsilon,
//! i.e. the spread is at the rounding level of the mean (scipy `skew`/`kurtosis` return NaN). The reference values,
//! the exact calls that produced them and the tolerances are in `tests/reference/univariate.json`
//! and `tests/stats_normality.rs`.
//!
//! **Accuracy with a large offset.** The moment-based statistics (skewtest, kurtosistest, K², JB,
//! A², D) standardise with the mean as scipy and statsmodels do. The mean of data with
//! |x̄|/s = 10⁶ is itself only representable to about 1e-16·|x̄|, which moves the sample
//! skewness by about 3e-16·|x̄|/s in absolute terms; these functions share that limitation with
//! the references (and agree with them), so centre such data first when that matters.
//! Shapiro–Wilk subtracts a data value first, as scipy does, and is unaffected.
//!
//! **Which tests to trust at small n** (Monte Carlo, Gaussian samples, α = 0.05, 20 000
//! replications, scipy/statsmodels): Shapiro–Wilk and Anderson–Darling are within ±0.004 of
//! 0.05 from n = 20; D'Agostino–Pearson K² is slightly liberal (0.060 at n = 20, 0.054 at
//! n = 50); Jarque–Bera is conservative (0.025 at n = 20, 0.036 at n = 50, 0.043 at n = 100) and
//! reaches 0.05 only near n = 500. The calibration tests in `tests/calibration_normality.rs`
//! re-check these rates for this implementation.

mod anderson;
mod dagostino;
mod jarque_bera;
mod lilliefors;
mod normal;
mod shapiro;

pub use anderson::{anderson_darling, AndersonDarling};
pub use dagostino::{dagostino_pearson, kurtosistest, skewtest};
pub use jarque_bera::jarque_bera;
pub use lilliefors::{
    lilliefors, lilliefors_critical_values_for_tests, lilliefors_table_for_tests, lilliefors_with,
    LillieforsPValue,
};
pub use shapiro::{shapiro_wilk, SHAPIRO_WILK_MAX_N};

use super::descriptive::Moments;
use super::{check_finite, StatsError};

/// Checks the sample size (`n ≥ needed`) and then that every value is finite. Cost O(n).
fn check_sample(test: &'static str, x: &[f64], needed: usize) -> Result<(), StatsError> {
    if x.len() < needed {
        return Err(StatsError::TooFewSamples {
            test,
            needed,
            got: x.len(),
        });
    }
    check_finite(x)
}

/// Moments of `x`, or `ZeroVariance` when all values are equal or the spread is at the rounding
/// level of the mean (scipy's rule in `skew`/`kurtosis`: m₂ ≤ (ε·x̄)²). `x` is non-empty.
/// Cost O(n).
fn moments_with_spread(x: &[f64]) -> Result<Moments, StatsError> {
    if x.iter().all(|&v| v == x[0]) {
        return Err(StatsError::ZeroVariance);
    }
    let m = Moments::new(x);
    let floor = f64::EPSILON * m.mean;
    if m.m2 > floor * floor {
        Ok(m)
    } else {
        Err(StatsError::ZeroVariance)
    }
}

/// `x` sorted ascending (total order; callers have already rejected NaN). Cost O(n log n).
fn sorted_copy(x: &[f64]) -> Vec<f64> {
    let mut y = x.to_vec();
    y.sort_unstable_by(f64::total_cmp);
    y
}
