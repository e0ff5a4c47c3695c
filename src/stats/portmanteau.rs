//! Whiteness tests: portmanteau statistics up to lag h for a univariate and a multivariate
//! series, and the epoch-sum variance test that tells fresh minibatch sampling from epoch-wise
//! reshuffling.
//!
//! Reference values: `statsmodels.stats.diagnostic.acorr_ljungbox(x, lags=[h], boxpierce=True)`
//! (statsmodels 0.15.0) for the univariate statistics and a numpy implementation of Hosking's
//! (1980) formula for the multivariate ones, both written by
//! `tests/reference/generate_decisions.py` into `tests/reference/decisions.json` and checked in
//! `tests/reference/stats_decisions.rs` to 1e-10 relative.

use nalgebra::DMatrix;
use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::{StatsError, TestResult};

/// Ljung–Box and Box–Pierce statistics of one series at one maximal lag.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Portmanteau {
    /// Ljung–Box Q with its χ²_{df} p-value.
    pub ljung_box: TestResult,
    /// Box–Pierce Q with its χ²_{df} p-value.
    pub box_pierce: TestResult,
    /// Degrees of freedom: h for a univariate series, d²·h for a d-variate one.
    pub df: f64,
}

fn chi2_sf(q: f64, df: f64) -> f64 {
    ChiSquared::new(df).expect("df > 0").sf(q)
}

fn check_lags(n: usize, h: usize, test: &'static str) -> Result<(), StatsError> {
    if h == 0 || h >= n {
        return Err(StatsError::InvalidArgument(format!(
            "{test}: the lag must satisfy 1 ≤ h < n = {n}, got {h}"
        )));
    }
    if n < 3 {
        return Err(StatsError::TooFewSamples {
            test,
            needed: 3,
            got: n,
        });
    }
    Ok(())
}

/// Univariate Ljung–Box and Box–Pierce tests of "no autocorrelation up to lag h":
///
/// r_k = Σ_{t=k}^{n−1} (x_t − x̄)(x_{t−k} − x̄) / Σ_t (x_t − x̄)²,
/// Q_LB = n(n + 2) Σ_{k=1}^{h} r_k²/(n − k), Q_BP = n Σ_{k=1}^{h} r_k², p = P(χ²_h ≥ Q).
///
/// Reference: Ljung & Box (1978) *Biometrika* 65:297–303; Box & Pierce (1970) *JASA*
/// 65:1509–1526; matches `statsmodels.stats.diagnostic.acorr_ljungbox(x, lags=[h],
/// boxpierce=True)` (model_df = 0). Cost: O(n·h).
///
/// # Errors
/// [`StatsError::InvalidArgument`] unless 1 ≤ h < n; [`StatsError::ZeroVariance`] for a constant
/// series; [`StatsError::NonFinite`].
pub fn ljung_box(x: &[f64], h: usize) -> Result<Portmanteau, StatsError> {
    let n = x.len();
    check_lags(n, h, "Ljung-Box")?;
    super::check_finite(x)?;
    let mean = x.iter().sum::<f64>() / n as f64;
    let c: Vec<f64> = x.iter().map(|v| v - mean).collect();
    let c0: f64 = c.iter().map(|v| v * v).sum();
    if c0 == 0.0 {
        return Err(StatsError::ZeroVariance);
    }
    let nf = n as f64;
    let (mut lb, mut bp) = (0.0, 0.0);
    for k in 1..=h {
        let r = (k..n).map(|t| c[t] * c[t - k]).sum::<f64>() / c0;
        lb += r * r / (nf - k as f64);
        bp += r * r;
    }
    Ok(Portmanteau::from_statistics(
        nf * (nf + 2.0) * lb,
        nf * bp,
        h as f64,
    ))
}

/// Multivariate portmanteau tests of Hosking (1980) for an n × d series (rows = times):
///
/// C_k = (1/n) Σ_{t=k}^{n−1} (x_t − x̄)(x_{t−k} − x̄)ᵀ,
/// Q_H = n² Σ_{k=1}^{h} tr(C_kᵀ C_0⁻¹ C_k C_0⁻¹)/(n − k) (Ljung–Box form),
/// Q_BP = n Σ_{k=1}^{h} tr(C_kᵀ C_0⁻¹ C_k C_0⁻¹), p = P(χ²_{d²h} ≥ Q).
///
/// Reference: Hosking (1980) *JASA* 75:602–608, eq. (2.3) and its modified form; checked against
/// a numpy implementation of the same formula. Cost: O(n·d²·h + d³).
///
/// # Errors
/// As [`ljung_box`]; [`StatsError::Degenerate`] when C_0 is singular.
pub fn hosking(x: &DMatrix<f64>, h: usize) -> Result<Portmanteau, StatsError> {
    let (n, d) = x.shape();
    check_lags(n, h, "Hosking portmanteau")?;
    super::check_finite(x.as_slice())?;
    let mean = x.row_mean();
    let c = DMatrix::from_fn(n, d, |t, j| x[(t, j)] - mean[j]);
    let nf = n as f64;
    let c0 = c.transpose() * &c / nf;
    let c0_inv = c0
        .clone()
        .cholesky()
        .ok_or_else(|| StatsError::Degenerate("lag-0 covariance is singular".into()))?
        .inverse();
    let (mut lb, mut bp) = (0.0, 0.0);
    for k in 1..=h {
        let ck = c.rows(k, n - k).transpose() * c.rows(0, n - k) / nf;
        let tr = (ck.transpose() * &c0_inv * &ck * &c0_inv).trace();
        lb += tr / (nf - k as f64);
        bp += tr;
    }
    Ok(Portmanteau::from_statistics(
        nf * nf * lb,
        nf * bp,
        (d * d * h) as f64,
    ))
}

impl Portmanteau {
    /// Both statistics with their χ²_df upper-tail p-values.
    fn from_statistics(lb: f64, bp: f64, df: f64) -> Self {
        let test = |q: f64| TestResult {
            statistic: q,
            p_value: chi2_sf(q, df),
        };
        Portmanteau {
            ljung_box: test(lb),
            box_pierce: test(bp),
            df,
        }
    }
}

/// Result of the epoch-sum variance test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EpochSumTest {
    /// R = mean_e(‖E_e‖²/m_e) / tr Q̂: ≈ 1 for fresh sampling, ≈ 0 under reshuffling.
    pub ratio: f64,
    /// Lower-tail p-value of H₀ "fresh sampling" (small when epoch sums are too small).
    pub p_fresh: f64,
    /// Number of complete epochs used.
    pub epochs: usize,
    /// Satterthwaite degrees of freedom ν of the null law.
    pub df: f64,
}

/// Epoch-sum variance test of the sampling design from per-step noise vectors ξ_t (rows of
/// `noise`, e.g. ĝ_t − A(θ_t − θ*) or the implied −(θ_{t+1} − θ_t + εA(θ_t − θ*))/ε) and epoch
/// boundaries `starts` (epoch e covers rows starts[e]..starts[e+1]; rows after the last boundary
/// are ignored as an incomplete epoch).
///
/// Under fresh draws the noises are independent, E‖E_e‖² = m_e tr Q for the epoch sum
/// E_e = Σ_{t∈e} ξ_t; under epoch-wise reshuffling with drop_last Σ_{t∈e} ξ_t = 0
/// (Cov(ξ_i, ξ_j) = −Q/(m − 1)), so the epoch sums vanish. With Q̂ = (1/T) Σ_t ξ_t ξ_tᵀ (the same
/// per-step covariance under both designs) and T_E = Σ_e ‖E_e‖²/m_e, under fresh Gaussian noise
/// E T_E = n_e tr Q and Var T_E = 2 n_e tr Q², matched by g·χ²_ν with g = tr Q²/tr Q,
/// ν = n_e (tr Q)²/tr Q² (Satterthwaite 1946); p_fresh = P(χ²_ν ≤ T_E/g).
/// Cost: O(T·d²).
///
/// # Errors
/// [`StatsError::TooFewSamples`] for fewer than 2 complete epochs; [`StatsError::InvalidArgument`]
/// for boundaries that are not increasing, an epoch shorter than 2 steps, or a boundary past the
/// end; [`StatsError::ZeroVariance`] for zero noise.
pub fn epoch_sum_test(noise: &DMatrix<f64>, starts: &[usize]) -> Result<EpochSumTest, StatsError> {
    let t = noise.nrows();
    super::check_finite(noise.as_slice())?;
    if starts.len() < 3 {
        return Err(StatsError::TooFewSamples {
            test: "epoch-sum test (complete epochs)",
            needed: 2,
            got: starts.len().saturating_sub(1),
        });
    }
    if starts.windows(2).any(|w| w[1] < w[0] + 2) || starts[starts.len() - 1] > t {
        return Err(StatsError::InvalidArgument(format!(
            "epoch boundaries must increase by ≥ 2 steps and stay within the {t} steps"
        )));
    }
    let used = noise.rows(starts[0], starts[starts.len() - 1] - starts[0]);
    let q = used.transpose() * used / used.nrows() as f64;
    let (tr, tr2) = (q.trace(), q.norm_squared());
    if tr == 0.0 {
        return Err(StatsError::ZeroVariance);
    }
    let epochs = starts.len() - 1;
    let te: f64 = starts
        .windows(2)
        .map(|w| {
            let s = noise.rows(w[0], w[1] - w[0]).row_sum();
            s.norm_squared() / (w[1] - w[0]) as f64
        })
        .sum();
    let (g, nu) = (tr2 / tr, epochs as f64 * tr * tr / tr2);
    Ok(EpochSumTest {
        ratio: te / (epochs as f64 * tr),
        p_fresh: ChiSquared::new(nu).expect("ν > 0").cdf(te / g),
        epochs,
        df: nu,
    })
}
