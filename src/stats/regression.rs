//! Ordinary least squares with an intercept, for the across-run scaling laws of
//! `crate::compare`.
//!
//! Model y = β₀ + Σ_j β_j x_j + e with i.i.d. errors: β̂ = (XᵀX)⁻¹Xᵀy, residual variance
//! σ̂² = ‖y − Xβ̂‖²/(n − p) (p = number of columns of X, the intercept included), standard errors
//! se_j = √(σ̂²·[(XᵀX)⁻¹]_jj), two-sided t intervals β̂_j ± t_{n−p, (1+level)/2}·se_j and
//! R² = 1 − SSR/SST. These are the values of `statsmodels.api.OLS(y, add_constant(X)).fit()`
//! (`params`, `bse`, `conf_int`, `tvalues`, `pvalues`, `rsquared`); reference values in
//! `tests/reference/compare.json`, written by `tests/reference/generate_compare.py`.
//!
//! Cost: O(n p² + p³).

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use super::{check_finite, StatsError, TestResult};

/// An OLS fit: intercept first, then one coefficient per regressor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OlsFit {
    /// Number of observations n.
    pub n: usize,
    /// Residual degrees of freedom n − p.
    pub df_resid: usize,
    /// β̂ (intercept first).
    pub coef: Vec<f64>,
    /// Standard errors of β̂.
    pub se: Vec<f64>,
    /// σ̂², the residual variance SSR/(n − p).
    pub sigma2: f64,
    /// R² = 1 − SSR/SST; `None` when y is constant to rounding (SST ≤ (10⁻¹²·max|y|)²·n), where
    /// R² is meaningless.
    pub r_squared: Option<f64>,
}

/// Fits y on an intercept and the `regressors` (each of length n).
///
/// *Errors.* `TooFewSamples` unless n ≥ p + 1 (at least one residual degree of freedom);
/// `InvalidArgument` for regressors of another length; `NonFinite`; `Degenerate` when XᵀX is singular (a constant or collinear regressor).
pub fn ols(y: &[f64], regressors: &[&[f64]]) -> Result<OlsFit, StatsError> {
    let n = y.len();
    let p = regressors.len() + 1;
    if n < p + 1 {
        return Err(StatsError::TooFewSamples {
            test: "ols",
            needed: p + 1,
            got: n,
        });
    }
    check_finite(y)?;
    for x in regressors {
        if x.len() != n {
            return Err(StatsError::InvalidArgument(format!(
                "a regressor has {} values, y has {n}",
                x.len()
            )));
        }
        check_finite(x)?;
    }
    let x = DMatrix::from_fn(n, p, |i, j| if j == 0 { 1.0 } else { regressors[j - 1][i] });
    let yv = DVector::from_column_slice(y);
    let xtx = x.transpose() * &x;
    let degenerate = || StatsError::Degenerate("the regressors are constant or collinear".into());
    let chol = xtx.clone().cholesky().ok_or_else(degenerate)?;
    // A pivot far below its column's scale means (numerical) collinearity.
    let l = chol.l();
    if (0..p).any(|j| l[(j, j)] <= 1e-10 * xtx[(j, j)].sqrt()) {
        return Err(degenerate());
    }
    let inv = chol.inverse();
    let beta = &inv * (x.transpose() * &yv);
    let resid = &yv - &x * &beta;
    let ssr = resid.norm_squared();
    let mean = yv.mean();
    let sst: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
    let scale = y.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let r_squared = (sst > (1e-12 * scale).powi(2) * n as f64).then(|| 1.0 - ssr / sst);
    let df = n - p;
    let sigma2 = ssr / df as f64;
    let se = (0..p)
        .map(|j| (sigma2 * inv[(j, j)]).max(0.0).sqrt())
        .collect();
    Ok(OlsFit {
        n,
        df_resid: df,
        coef: beta.iter().copied().collect(),
        se,
        sigma2,
        r_squared,
    })
}

impl OlsFit {
    /// Two-sided t interval of coefficient `j` at confidence `level` (statsmodels
    /// `conf_int(alpha = 1 − level)`).
    pub fn conf_int(&self, j: usize, level: f64) -> (f64, f64) {
        let t = t_quantile(self.df_resid, 0.5 + level / 2.0);
        (self.coef[j] - t * self.se[j], self.coef[j] + t * self.se[j])
    }

    /// t test of H₀: β_j = `null`: statistic (β̂_j − null)/se_j and two-sided p-value
    /// (statsmodels `tvalues`, `pvalues` for null = 0).
    pub fn t_test(&self, j: usize, null: f64) -> TestResult {
        let t = (self.coef[j] - null) / self.se[j];
        let p = match StudentsT::new(0.0, 1.0, self.df_resid as f64) {
            Ok(d) if t.is_finite() => 2.0 * d.sf(t.abs()),
            _ => f64::NAN,
        };
        TestResult {
            statistic: t,
            p_value: p,
        }
    }
}

fn t_quantile(df: usize, q: f64) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).map_or(f64::NAN, |d| d.inverse_cdf(q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line_and_errors() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [3.0, 5.0, 7.1, 8.9];
        let f = ols(&y, &[&x]).unwrap();
        assert!((f.coef[1] - 1.98).abs() < 1e-12, "{f:?}");
        assert!((f.coef[0] - 1.05).abs() < 1e-12, "{f:?}");
        assert!(matches!(
            ols(&y[..2], &[&x[..2]]),
            Err(StatsError::TooFewSamples { .. })
        ));
        assert!(matches!(
            ols(&y, &[&[1.0; 4]]),
            Err(StatsError::Degenerate(_))
        ));
    }
}
