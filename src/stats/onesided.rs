//! One-sided tests against a tolerance and the fail / pass rule built from them.
//!
//! A check's evidence is an *effect* e ≥ 0 (a skewness, a relative error, a log-ratio, a norm)
//! and a tolerance δ. The check may only **fail** when the data reject
//!
//! **H₀: e ≤ δ** (the deviation is tolerable) in favour of H₁: e > δ,
//!
//! so that at the boundary e = δ the false-fail rate is at most α (instead of the ≈ 50 % of a
//! point-estimate rule "fail when ê > δ"). Every function here returns the p-value of that
//! one-sided test; the equivalent lower confidence bound is ê − z_{1−α}·se for the z version.
//!
//! Composition (the fail rule of issue 15):
//! * **inside a check** the pieces (directions, coordinates, statistics) are combined by Holm
//!   ([`holm_min`]: the smallest Holm-adjusted p-value, which is m·p₍₁₎ capped at 1); the check
//!   fails when it is ≤ α — family-wise error ≤ α under any dependence (Holm 1979);
//! * **over checks** the per-check p-values are Holm-adjusted again ([`holm_over_checks`]);
//!   check i fails overall when its adjusted p-value is ≤ α, so the overall "fail" has
//!   family-wise false-fail rate ≤ α;
//! * **pass** is an intersection–union test (Berger 1982, *Technometrics* 24:295–300): each check
//!   passes when its own equivalence test (H₀: e ≥ δ) rejects at level α, and the run passes when
//!   every check passes; the IUT p-value is the largest per-check p-value ([`iut_p_value`]) and
//!   needs no multiplicity adjustment.
//!
//! Reference values (`scipy.stats.norm.sf`, `t.sf`, `ncx2.sf`) are in
//! `tests/reference/decisions.json`, written by `tests/reference/generate_decisions.py`, and
//! checked in `tests/reference/stats_decisions.rs`.

use statrs::distribution::{ChiSquared, ContinuousCDF, Normal, StudentsT};

use super::multitest::{adjust, Method};
use super::StatsError;

/// Upper-tail probability P(Z > z) of the standard normal (`scipy.stats.norm.sf`).
pub fn norm_sf(z: f64) -> f64 {
    Normal::standard().sf(z)
}

fn check_se(se: f64) -> Result<(), StatsError> {
    if se.is_finite() && se > 0.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidArgument(format!(
            "standard error must be finite and > 0, got {se}"
        )))
    }
}

fn check_finite_args(v: &[f64]) -> Result<(), StatsError> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(StatsError::NonFinite)
    }
}

/// One-sided z test of H₀: e ≤ δ for an asymptotically normal estimate ê with standard error se.
///
/// Statistic z = (ê − δ)/se, p = P(Z > z) = Φ̄(z) (`scipy.stats.norm.sf(z)`). The test rejects at
/// level α exactly when the lower (1 − α) confidence bound ê − z_{1−α}·se exceeds δ.
/// Reference: any textbook one-sided Wald test (e.g. Lehmann & Romano 2005, §3.4).
/// Cost: O(1).
///
/// # Errors
/// [`StatsError::InvalidArgument`] for se ≤ 0; [`StatsError::NonFinite`] for a non-finite input.
pub fn z_upper(estimate: f64, se: f64, delta: f64) -> Result<super::TestResult, StatsError> {
    check_finite_args(&[estimate, delta])?;
    check_se(se)?;
    let z = (estimate - delta) / se;
    Ok(super::TestResult {
        statistic: z,
        p_value: norm_sf(z),
    })
}

/// One-sided t test of H₀: e ≤ δ: t = (ê − δ)/se with `df` degrees of freedom,
/// p = P(T_df > t) (`scipy.stats.t.sf(t, df)`). Use when se is estimated from df residual degrees
/// of freedom (a mean of n values: df = n − 1). Cost: O(1).
///
/// # Errors
/// As [`z_upper`], and [`StatsError::InvalidArgument`] for df ≤ 0.
pub fn t_upper(
    estimate: f64,
    se: f64,
    df: f64,
    delta: f64,
) -> Result<super::TestResult, StatsError> {
    check_finite_args(&[estimate, delta])?;
    check_se(se)?;
    let dist = StudentsT::new(0.0, 1.0, df)
        .map_err(|_| StatsError::InvalidArgument(format!("df must be > 0, got {df}")))?;
    let t = (estimate - delta) / se;
    Ok(super::TestResult {
        statistic: t,
        p_value: dist.sf(t),
    })
}

/// Bootstrap (percentile) one-sided test of H₀: e ≤ δ from B bootstrap replicates e*_b:
///
/// p = (1 + #{b : e*_b ≤ δ}) / (B + 1),
///
/// the share of replicates on the null side with the +1 correction that keeps p > 0 and the
/// test valid at finite B (Davison & Hinkley 1997, eq. 4.11; Phipson & Smyth 2010). It rejects
/// at level α when the α-quantile of the replicates (the percentile lower bound) exceeds δ.
/// The statistic returned is the share of replicates ≤ δ without correction. Cost: O(B).
///
/// # Errors
/// [`StatsError::TooFewSamples`] for B = 0; [`StatsError::NonFinite`] for non-finite values.
pub fn bootstrap_upper(replicates: &[f64], delta: f64) -> Result<super::TestResult, StatsError> {
    if replicates.is_empty() {
        return Err(StatsError::TooFewSamples {
            test: "bootstrap one-sided test",
            needed: 1,
            got: 0,
        });
    }
    check_finite_args(replicates)?;
    check_finite_args(&[delta])?;
    let below = replicates.iter().filter(|&&r| r <= delta).count() as f64;
    let b = replicates.len() as f64;
    Ok(super::TestResult {
        statistic: below / b,
        p_value: (1.0 + below) / (b + 1.0),
    })
}

/// Test of H₀: |log r| ≤ log(1 + δ) for a positive ratio r (e.g. an observed over a predicted
/// variance), from ℓ̂ = log r̂ with standard error `se_log` (delta method: se_log ≈ se(r̂)/r̂, or a
/// bootstrap SE of log r̂). With c = log(1 + δ) and the two one-sided pieces
/// p₊ = Φ̄((ℓ̂ − c)/se) (too large) and p₋ = Φ̄((−ℓ̂ − c)/se) (too small),
///
/// p = Φ̄((|ℓ̂| − c)/se) + Φ̄((|ℓ̂| + c)/se) = P_{ℓ = c}(|ℓ̂| ≥ |ℓ̂_obs|),
///
/// the exact p-value of the rejection region |ℓ̂| > t, whose size is largest at the boundary
/// |ℓ| = c. (Equals p₊ + Φ̄(z + 2c/se) when ℓ̂ > 0.) The statistic is (|ℓ̂| − c)/se.
/// A log scale makes the test symmetric in r ↔ 1/r and its interval never negative.
/// Cost: O(1).
///
/// # Errors
/// [`StatsError::InvalidArgument`] for r ≤ 0, δ < 0 or se ≤ 0.
pub fn log_ratio(ratio: f64, se_log: f64, delta: f64) -> Result<super::TestResult, StatsError> {
    check_finite_args(&[ratio, delta])?;
    check_se(se_log)?;
    if ratio <= 0.0 || delta < 0.0 {
        return Err(StatsError::InvalidArgument(format!(
            "log-ratio test needs ratio > 0 and tolerance ≥ 0, got {ratio} and {delta}"
        )));
    }
    let c = delta.ln_1p();
    let a = ratio.ln().abs();
    let z = (a - c) / se_log;
    Ok(super::TestResult {
        statistic: z,
        p_value: (norm_sf(z) + norm_sf((a + c) / se_log)).min(1.0),
    })
}

/// Smallest Holm-adjusted p-value of a family: the p-value of "some piece exceeds its
/// tolerance", i.e. min(1, m·p₍₁₎) (Holm 1979, *Scand. J. Stat.* 6:65–70).
///
/// *Max over m directions.* For an effect max_k e_k tested through per-direction p-values the
/// boundary case is **one direction at the tolerance, the other m − 1 null** (e_k = 0): it is
/// the least favourable configuration of H₀ for this statistic when the other directions can
/// only add rejections through their own null tails, and there the false-fail rate is
/// ≤ α (Bonferroni) for any dependence. Calibrations simulate exactly this configuration.
/// Cost: O(m log m).
///
/// # Errors
/// [`StatsError::TooFewSamples`] for an empty family; p-values outside [0, 1] as
/// [`adjust`].
pub fn holm_min(p: &[f64]) -> Result<f64, StatsError> {
    if p.is_empty() {
        return Err(StatsError::TooFewSamples {
            test: "Holm combination",
            needed: 1,
            got: 0,
        });
    }
    Ok(adjust(p, Method::Holm)?
        .into_iter()
        .fold(f64::INFINITY, f64::min))
}

/// Holm-adjusted p-values of the per-check fail tests (one value per check, each typically a
/// [`holm_min`] over the check's pieces), in input order; check i fails overall when its value
/// is ≤ α. Family-wise false-fail rate over the checks ≤ α under any dependence. Cost:
/// O(m log m).
///
/// # Errors
/// As [`adjust`].
pub fn holm_over_checks(p: &[f64]) -> Result<Vec<f64>, StatsError> {
    adjust(p, Method::Holm)
}

/// Intersection–union p-value for "every check passes" (Berger 1982, *Technometrics*
/// 24:295–300): max_i p_i of the per-check equivalence tests (H₀ᵢ: eᵢ ≥ δᵢ). The run passes at
/// level α when it is ≤ α; no multiplicity correction is needed (nor allowed to be relaxed).
/// Cost: O(m).
///
/// # Errors
/// [`StatsError::TooFewSamples`] for no checks; [`StatsError::InvalidArgument`] for a p-value
/// outside [0, 1].
pub fn iut_p_value(p: &[f64]) -> Result<f64, StatsError> {
    if p.is_empty() {
        return Err(StatsError::TooFewSamples {
            test: "intersection-union test",
            needed: 1,
            got: 0,
        });
    }
    if p.iter().any(|v| !(0.0..=1.0).contains(v)) {
        return Err(StatsError::InvalidArgument(
            "p-values must lie in [0, 1]".into(),
        ));
    }
    Ok(p.iter().fold(0.0, |m: f64, &v| m.max(v)))
}

/// Outcome of one check under the issue-15 fail rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The equivalence test (H₀: e ≥ δ) rejects: the deviation is within tolerance.
    Pass,
    /// The fail test (H₀: e ≤ δ) rejects after Holm: the deviation exceeds the tolerance.
    Fail,
    /// Neither rejects and the estimate is beyond the tolerance ("leaning fail").
    LeaningFail,
    /// Neither rejects and the estimate is within the tolerance.
    Inconclusive,
}

/// The decision of one check from its Holm-adjusted fail p-value, its pass (equivalence)
/// p-value and whether the point estimate lies beyond the tolerance. Fail takes precedence
/// (the two tests cannot both reject at α < ½ for a continuous statistic). Cost: O(1).
pub fn decide(p_fail_adjusted: f64, p_pass: f64, estimate_beyond: bool, alpha: f64) -> Decision {
    if p_fail_adjusted <= alpha {
        Decision::Fail
    } else if p_pass <= alpha {
        Decision::Pass
    } else if estimate_beyond {
        Decision::LeaningFail
    } else {
        Decision::Inconclusive
    }
}

/// Unbiased estimate of ‖x‖² from an unbiased estimate x̂ with covariance Cov(x̂):
/// E‖x̂‖² = ‖x‖² + tr Cov(x̂), so ‖x̂‖² − tr Cov(x̂) is unbiased (it may be negative; clip at 0
/// for display only — clipping reintroduces bias). The plain ‖x̂‖ overstates a null effect by
/// about √tr Cov(x̂), which would make a norm check fail on pure noise. Cost: O(m).
pub fn debiased_sq_norm(xhat: &[f64], trace_cov: f64) -> f64 {
    xhat.iter().map(|v| v * v).sum::<f64>() - trace_cov
}

/// Test of H₀: ‖x‖ ≤ δ for x̂ ~ N(x, s²·I_m) (s² known, e.g. the per-coordinate variance after
/// whitening). Under H₀ the least favourable point is any x with ‖x‖ = δ (one direction at the
/// tolerance, the others null — by rotation invariance all such x are equivalent), where
/// ‖x̂‖²/s² is non-central χ² with m degrees of freedom and non-centrality λ = δ²/s²:
///
/// p = P(χ²_m(λ) ≥ ‖x̂‖²/s²) = Σ_j Pois(j; λ/2)·P(χ²_{m+2j} ≥ ‖x̂‖²/s²)
///
/// (`scipy.stats.ncx2.sf(q, m, lam)`). The statistic is the debiased ‖x̂‖² − m·s²
/// ([`debiased_sq_norm`]). The Poisson series is summed until its remaining weight is < 1e-15.
/// Cost: O(m + J) with J ≈ λ/2 + 10√(λ/2) + 40 terms.
///
/// # Errors
/// [`StatsError::InvalidArgument`] for s² ≤ 0 or δ < 0; [`StatsError::TooFewSamples`] for m = 0.
pub fn norm_upper(xhat: &[f64], s2: f64, delta: f64) -> Result<super::TestResult, StatsError> {
    if xhat.is_empty() {
        return Err(StatsError::TooFewSamples {
            test: "norm test",
            needed: 1,
            got: 0,
        });
    }
    check_finite_args(xhat)?;
    check_se(s2)?;
    if !(delta >= 0.0 && delta.is_finite()) {
        return Err(StatsError::InvalidArgument(format!(
            "tolerance must be ≥ 0, got {delta}"
        )));
    }
    let m = xhat.len() as f64;
    let q = xhat.iter().map(|v| v * v).sum::<f64>() / s2;
    Ok(super::TestResult {
        statistic: debiased_sq_norm(xhat, m * s2),
        p_value: ncx2_sf(q, m, delta * delta / s2),
    })
}

/// P(χ²_k(λ) ≥ q) by the Poisson mixture of central χ² tails.
fn ncx2_sf(q: f64, k: f64, lambda: f64) -> f64 {
    let half = lambda / 2.0;
    let mut log_w = -half; // log Pois(0; λ/2)
    let (mut total, mut mass) = (0.0, 0.0);
    let mut j = 0.0;
    while mass < 1.0 - 1e-15 && j < half + 10.0 * half.sqrt() + 200.0 {
        let w = log_w.exp();
        let chi = ChiSquared::new(k + 2.0 * j).expect("positive degrees of freedom");
        total += w * chi.sf(q);
        mass += w;
        j += 1.0;
        log_w += half.ln() - j.ln();
        if half == 0.0 {
            break;
        }
    }
    total.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_counts_with_plus_one() {
        let r = bootstrap_upper(&[0.1, 0.3, 0.5, 0.7], 0.4).unwrap();
        assert_eq!(r.p_value, 3.0 / 5.0);
        assert_eq!(r.statistic, 0.5);
    }

    #[test]
    fn decision_order() {
        assert_eq!(decide(0.01, 0.9, true, 0.05), Decision::Fail);
        assert_eq!(decide(0.2, 0.01, false, 0.05), Decision::Pass);
        assert_eq!(decide(0.2, 0.3, true, 0.05), Decision::LeaningFail);
        assert_eq!(decide(0.2, 0.3, false, 0.05), Decision::Inconclusive);
    }

    #[test]
    fn ncx2_central_case_is_chi2() {
        let c = ChiSquared::new(3.0).unwrap();
        assert!((ncx2_sf(2.5, 3.0, 0.0) - c.sf(2.5)).abs() < 1e-15);
    }
}
