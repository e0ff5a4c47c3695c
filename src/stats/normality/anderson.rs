//! The Anderson–Darling test for normality with mean and variance estimated ("case 3").
//! Statistic and critical values as `scipy.stats.anderson(x, dist='norm')`
//! (`scipy/stats/_morestats.py`, scipy 1.17.1); p-value as
//! `statsmodels.stats.diagnostic.normal_ad` (`statsmodels/stats/_adnorm.py`, statsmodels 0.15.0).

use serde::Serialize;

use super::{check_sample, moments_with_spread, normal, sorted_copy};
use crate::stats::descriptive::Centre;
use crate::stats::StatsError;

/// Result of [`anderson_darling`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AndersonDarling {
    /// A² (unmodified, as `scipy.stats.anderson`).
    pub statistic: f64,
    /// D'Agostino–Stephens p-value of the modified statistic A²·(1 + 0.75/n + 2.25/n²), as
    /// statsmodels `normal_ad`.
    pub p_value: f64,
    /// scipy's critical values of A² at `significance_levels`:
    /// round([0.561, 0.631, 0.752, 0.873, 1.035] / (1 + 0.75/n + 2.25/n²), 3).
    pub critical_values: [f64; 5],
    /// Significance levels of `critical_values` **in percent**, as scipy reports them:
    /// [15, 10, 5, 2.5, 1].
    pub significance_levels: [f64; 5],
}

/// scipy's `_Avals_norm` (Stephens 1974; D'Agostino & Stephens 1986, Table 4.7).
const AVALS_NORM: [f64; 5] = [0.561, 0.631, 0.752, 0.873, 1.035];
const SIGNIFICANCE_PERCENT: [f64; 5] = [15.0, 10.0, 5.0, 2.5, 1.0];

/// Anderson–Darling test of normality with estimated mean and variance.
///
/// **Statistic.** With wᵢ = (y₍ᵢ₎ − x̄)/s (order statistics, s with divisor n − 1; the
/// deviations y₍ᵢ₎ − x̄ by the corrected two-pass mean [`Centre`], so an offset of 10⁸ costs no
/// accuracy),
/// A² = −n − Σᵢ₌₁ⁿ ((2i − 1)/n)·[ln Φ(wᵢ) + ln Q(wₙ₊₁₋ᵢ)], using tail-accurate ln Φ and ln Q
/// (as scipy's `norm.logcdf`/`logsf`; R nortest does the same), so a far outlier gives a large
/// finite A² rather than ∞. The sum is compensated (Neumaier), since it cancels against −n.
///
/// **p-value** (D'Agostino & Stephens 1986, Table 4.9), with AA = A²·(1 + 0.75/n + 2.25/n²):
///
/// | AA | p |
/// | --- | --- |
/// | < 0.2 | 1 − exp(−13.436 + 101.14·AA − 223.73·AA²) |
/// | < 0.34 | 1 − exp(−8.318 + 42.796·AA − 59.938·AA²) |
/// | < 0.6 | exp(0.9177 − 4.279·AA − 1.38·AA²) |
/// | ≤ 13 | exp(1.2937 − 5.709·AA + 0.0186·AA²) |
/// | > 13 | 0 (the true value is below 5e-31) |
///
/// This is statsmodels `normal_ad` (R `nortest::ad.test` has the same branches but cuts at 10
/// and returns 3.7e-24 above it). The cut-off matters: the last quadratic has its minimum at
/// AA ≈ 153.5 and would *increase* beyond it (statrs' `anderson_darling` has no cut-off).
/// scipy 1.17's own `method='interpolate'` p-value is a linear interpolation in the critical
/// values clipped to [0.01, 0.15] and is not used; scipy's critical values are reported in
/// [`AndersonDarling::critical_values`].
///
/// **Minimum n = 8**, following R `nortest::ad.test` ("sample size must be greater than 7").
/// scipy and statsmodels compute from n = 2, where the statistic carries no information (two
/// distinct values always standardise to ±1/√2, so A² is the same for every sample); here
/// n < 8 is `TooFewSamples`.
///
/// References: Anderson, T. W. & Darling, D. A. (1954), *JASA* 49, 765–769; Stephens, M. A.
/// (1974), *JASA* 69, 730–737; D'Agostino, R. B. & Stephens, M. A. (1986), *Goodness-of-Fit
/// Techniques*, Dekker. Checked against `scipy.stats.anderson(x, dist='norm')` (A², critical
/// values) and `statsmodels.stats.diagnostic.normal_ad(x)` (p) to 1e-10 relative.
///
/// Errors: n < 8, NaN/∞, constant data. Cost: O(n log n) time (sort), O(n) memory.
pub fn anderson_darling(x: &[f64]) -> Result<AndersonDarling, StatsError> {
    check_sample("anderson_darling", x, 8)?;
    let m = moments_with_spread(x)?;
    let c = Centre::of(x);
    let n = x.len();
    let nf = n as f64;
    let s = m.variance().sqrt();
    let y = sorted_copy(x);

    // ln Φ(wᵢ) and ln Q(wᵢ) = ln Φ(−wᵢ) for each order statistic.
    let (mut sum, mut comp) = (0.0_f64, 0.0_f64);
    for i in 0..n {
        let wi = c.dev(y[i]) / s;
        let wj = c.dev(y[n - 1 - i]) / s;
        let term = (2.0 * (i + 1) as f64 - 1.0) / nf * (normal::log_cdf(wi) + normal::log_cdf(-wj));
        // Neumaier's compensated summation.
        let t = sum + term;
        if sum.abs() >= term.abs() {
            comp += (sum - t) + term;
        } else {
            comp += (term - t) + sum;
        }
        sum = t;
    }
    let a2 = -nf - (sum + comp);

    let factor = 1.0 + 0.75 / nf + 2.25 / nf / nf;
    let mut critical_values = [0.0; 5];
    for (c, &v) in critical_values.iter_mut().zip(AVALS_NORM.iter()) {
        *c = round3(v / factor);
    }
    let aa = a2 * (1.0 + 0.75 / nf + 2.25 / (nf * nf));
    Ok(AndersonDarling {
        statistic: a2,
        p_value: dagostino_stephens_p(aa),
        critical_values,
        significance_levels: SIGNIFICANCE_PERCENT,
    })
}

/// numpy's `around(v, 3)`: round half to even on v·1000.
fn round3(v: f64) -> f64 {
    (v * 1000.0).round_ties_even() / 1000.0
}

/// D'Agostino–Stephens p-value of the modified statistic `aa`, with statsmodels' branches.
fn dagostino_stephens_p(aa: f64) -> f64 {
    let p = if aa < 0.2 {
        1.0 - (-13.436 + 101.14 * aa - 223.73 * aa * aa).exp()
    } else if aa < 0.34 {
        1.0 - (-8.318 + 42.796 * aa - 59.938 * aa * aa).exp()
    } else if aa < 0.6 {
        (0.9177 - 4.279 * aa - 1.38 * aa * aa).exp()
    } else if aa <= 13.0 {
        (1.2937 - 5.709 * aa + 0.0186 * aa * aa).exp()
    } else {
        0.0
    };
    p.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_value_branches_meet_and_decrease() {
        // The four fitted pieces are nearly continuous at their joins (within 0.005, the
        // accuracy of the table they approximate) and the p-value never increases with AA.
        for &b in &[0.2, 0.34, 0.6] {
            let (lo, hi) = (dagostino_stephens_p(b - 1e-12), dagostino_stephens_p(b));
            assert!((lo - hi).abs() < 5e-3, "jump at {b}: {lo} vs {hi}");
        }
        let mut prev = 1.0;
        for k in 0..=1400 {
            let p = dagostino_stephens_p(k as f64 * 0.01);
            assert!(
                p <= prev + 1e-12 && (0.0..=1.0).contains(&p),
                "AA = {}",
                k as f64 * 0.01
            );
            prev = p;
        }
        assert_eq!(dagostino_stephens_p(13.0 + 1e-9), 0.0);
        assert_eq!(dagostino_stephens_p(200.0), 0.0);
    }

    #[test]
    fn round3_matches_numpy_half_even() {
        // numpy 2.4.6: np.around([0.0005, 0.0015, 0.5385, 1.0345], 3) = [0., 0.002, 0.538, 1.034]
        // (each v·1000 rounds to an exact midpoint in f64, which numpy rounds to even).
        assert_eq!(round3(0.0005), 0.0);
        assert_eq!(round3(0.0015), 0.002);
        assert_eq!(round3(0.5385), 0.538);
        assert_eq!(round3(1.0345), 1.034);
    }
}
