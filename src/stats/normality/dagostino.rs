//! D'Agostino's skewness test, the Anscombe–Glynn kurtosis test and their omnibus combination
//! K² (D'Agostino & Pearson 1973), as in `scipy.stats.skewtest`, `kurtosistest` and
//! `normaltest` (scipy 1.17.1, `scipy/stats/_stats_py.py`).

use super::{check_sample, moments_with_spread, normal};
use crate::stats::descriptive::Moments;
use crate::stats::{StatsError, TestResult};

/// D'Agostino's (1970) test that the population skewness is zero, two-sided.
///
/// With the biased sample skewness g₁ = m₃/m₂^{3/2} (mₖ = Σ(xᵢ − x̄)ᵏ/n):
///
/// * Y = g₁·√((n+1)(n+3) / (6(n−2)))
/// * β₂ = 3(n² + 27n − 70)(n+1)(n+3) / ((n−2)(n+5)(n+7)(n+9))
/// * W² = −1 + √(2(β₂ − 1)),  δ = 1/√(½ ln W²),  α = √(2/(W² − 1))
/// * Z = δ·ln(Y/α + √((Y/α)² + 1)),  p = 2·Q(|Z|), Q the standard normal upper tail.
///
/// Reference: D'Agostino, R. B. (1970), *Biometrika* 57, 679–681; checked against
/// `scipy.stats.skewtest(x)` (scipy 1.17.1) to 1e-10 relative in Z and p.
///
/// **Where scipy and R disagree.** scipy replaces Y = 0 by Y = 1 (`y = where(y == 0, 1, y)`), so
/// a sample whose skewness is *exactly* zero (e.g. [−4, …, 4, 0]) gets Z = δ·asinh(1/α) ≈ 1.02
/// instead of 0. This function follows the formula (as R `moments::agostino.test` does) and
/// returns Z = 0, p = 1 in that case; `tests/reference/stats_normality.rs` checks this deviation explicitly.
///
/// Errors: n < 8 (as scipy), NaN/∞, constant data. Cost: O(n) time, O(1) memory.
pub fn skewtest(x: &[f64]) -> Result<TestResult, StatsError> {
    check_sample("skewtest", x, 8)?;
    let m = moments_with_spread(x)?;
    let z = skew_z(&m);
    Ok(TestResult {
        statistic: z,
        p_value: normal::two_sided_p(z),
    })
}

/// Anscombe & Glynn's (1983) test that the population kurtosis is 3 (normal), two-sided.
///
/// With the biased sample kurtosis b₂ = m₄/m₂² (not excess):
///
/// * E = 3(n−1)/(n+1),  Var b₂ = 24n(n−2)(n−3) / ((n+1)²(n+3)(n+5)),  x = (b₂ − E)/√Var b₂
/// * √β₁ = 6(n² − 5n + 2)/((n+7)(n+9)) · √(6(n+3)(n+5) / (n(n−2)(n−3)))
/// * A = 6 + (8/√β₁)·(2/√β₁ + √(1 + 4/β₁)),  D = 1 + x·√(2/(A − 4))
/// * Z = [1 − 2/(9A) − sign(D)·((1 − 2/A)/|D|)^{1/3}] / √(2/(9A)),  p = 2·Q(|Z|).
///
/// The cube root keeps the sign of D (as scipy; R `moments::anscombe.test` returns NaN for
/// D < 0). Reference: Anscombe, F. J. & Glynn, W. J. (1983), *Biometrika* 70, 227–234; checked
/// against `scipy.stats.kurtosistest(x)` (scipy 1.17.1) to 1e-10 relative.
///
/// Errors: n < 5 (as scipy), NaN/∞, constant data, and `Degenerate` when D = 0 (scipy returns
/// NaN with a warning there). Cost: O(n) time, O(1) memory.
pub fn kurtosistest(x: &[f64]) -> Result<TestResult, StatsError> {
    check_sample("kurtosistest", x, 5)?;
    let m = moments_with_spread(x)?;
    let z = kurtosis_z(&m)?;
    Ok(TestResult {
        statistic: z,
        p_value: normal::two_sided_p(z),
    })
}

/// D'Agostino–Pearson omnibus test K² = Z_s² + Z_k² (the statistics of [`skewtest`] and
/// [`kurtosistest`]), referred to χ²₂: p = exp(−K²/2).
///
/// Reference: D'Agostino, R. B. & Pearson, E. S. (1973), *Biometrika* 60, 613–622; checked
/// against `scipy.stats.normaltest(x)` (scipy 1.17.1) to 1e-10 relative in K² and p. The
/// zero-skewness deviation documented in [`skewtest`] carries over.
///
/// Errors: n < 8, NaN/∞, constant data, `Degenerate` as in [`kurtosistest`].
/// Cost: O(n) time (one pass for the mean, one for m₂, m₃, m₄), O(1) memory.
pub fn dagostino_pearson(x: &[f64]) -> Result<TestResult, StatsError> {
    check_sample("dagostino_pearson", x, 8)?;
    let m = moments_with_spread(x)?;
    let zs = skew_z(&m);
    let zk = kurtosis_z(&m)?;
    let k2 = zs * zs + zk * zk;
    Ok(TestResult {
        statistic: k2,
        p_value: (-0.5 * k2).exp(),
    })
}

/// Z of the skewness test from validated moments (n ≥ 8, m₂ > 0).
fn skew_z(m: &Moments) -> f64 {
    let n = m.n as f64;
    let g1 = m.skewness();
    let y = g1 * (((n + 1.0) * (n + 3.0)) / (6.0 * (n - 2.0))).sqrt();
    if y == 0.0 {
        return 0.0;
    }
    let beta2 = 3.0 * (n * n + 27.0 * n - 70.0) * (n + 1.0) * (n + 3.0)
        / ((n - 2.0) * (n + 5.0) * (n + 7.0) * (n + 9.0));
    let w2 = -1.0 + (2.0 * (beta2 - 1.0)).sqrt();
    let delta = 1.0 / (0.5 * w2.ln()).sqrt();
    let alpha = (2.0 / (w2 - 1.0)).sqrt();
    let r = y / alpha;
    delta * (r + (r * r + 1.0).sqrt()).ln()
}

/// Z of the kurtosis test from validated moments (n ≥ 5, m₂ > 0).
fn kurtosis_z(m: &Moments) -> Result<f64, StatsError> {
    let n = m.n as f64;
    let b2 = m.m4 / (m.m2 * m.m2);
    let e = 3.0 * (n - 1.0) / (n + 1.0);
    let varb2 = 24.0 * n * (n - 2.0) * (n - 3.0) / ((n + 1.0) * (n + 1.0) * (n + 3.0) * (n + 5.0));
    let x = (b2 - e) / varb2.sqrt();
    let sqrtbeta1 = 6.0 * (n * n - 5.0 * n + 2.0) / ((n + 7.0) * (n + 9.0))
        * ((6.0 * (n + 3.0) * (n + 5.0)) / (n * (n - 2.0) * (n - 3.0))).sqrt();
    let a =
        6.0 + 8.0 / sqrtbeta1 * (2.0 / sqrtbeta1 + (1.0 + 4.0 / (sqrtbeta1 * sqrtbeta1)).sqrt());
    let term1 = 1.0 - 2.0 / (9.0 * a);
    let denom = 1.0 + x * (2.0 / (a - 4.0)).sqrt();
    if denom == 0.0 {
        return Err(StatsError::Degenerate(
            "kurtosistest: the Anscombe–Glynn transform divides by zero (1 + x·√(2/(A−4)) = 0)"
                .into(),
        ));
    }
    let term2 = denom.signum() * ((1.0 - 2.0 / a) / denom.abs()).powf(1.0 / 3.0);
    Ok((term1 - term2) / (2.0 / (9.0 * a)).sqrt())
}
