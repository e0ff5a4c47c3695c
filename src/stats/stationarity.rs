//! Stationarity and truncation of a series: MSER / MSER-5 truncation points, Geweke's
//! diagnostic with batch-means standard errors, and Yaida's FDR1 check from plain arrays.
//!
//! Reference values: a numpy implementation of the same formulas in
//! `tests/reference/generate_decisions.py` (section `stationarity`), checked in
//! `tests/reference/stats_decisions.rs` to 1e-10 relative. (ArviZ's `geweke` uses plain variances, not a
//! spectral density at zero; the formula here is the batch-means one documented below.)

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::{check_finite, StatsError};

/// MSER truncation (White 1997, *Simulation* 69:323–334): the d ∈ [0, n/2] minimising
/// MSER(d) = Σ_{i≥d} (x_i − x̄_d)² / (n − d)², x̄_d the mean of x_d..x_{n−1}. Returns d.
/// Cost: O(n) (suffix sums).
///
/// # Errors
/// [`StatsError::TooFewSamples`] for n < 4; [`StatsError::NonFinite`].
pub fn mser(x: &[f64]) -> Result<usize, StatsError> {
    let n = x.len();
    if n < 4 {
        return Err(StatsError::TooFewSamples {
            test: "MSER",
            needed: 4,
            got: n,
        });
    }
    check_finite(x)?;
    let (mut s, mut s2) = (0.0, 0.0);
    let mut best = (f64::INFINITY, 0);
    for d in (0..n).rev() {
        s += x[d];
        s2 += x[d] * x[d];
        let k = (n - d) as f64;
        let stat = (s2 - s * s / k).max(0.0) / (k * k);
        if d <= n / 2 && stat <= best.0 {
            best = (stat, d);
        }
    }
    Ok(best.1)
}

/// Batch size of MSER-5 (White, Cobb & Spratt 2000, *Proc. Winter Simulation Conf.*).
pub const MSER_BATCH: usize = 5;

/// MSER-5: [`mser`] on the means of consecutive batches of 5 (a trailing partial batch is
/// dropped); returns the truncation point in original steps, 5·d*. Cost: O(n).
///
/// # Errors
/// As [`mser`] for fewer than 4 batches.
pub fn mser5(x: &[f64]) -> Result<usize, StatsError> {
    let means: Vec<f64> = x
        .chunks_exact(MSER_BATCH)
        .map(|c| c.iter().sum::<f64>() / MSER_BATCH as f64)
        .collect();
    Ok(MSER_BATCH * mser(&means)?)
}

/// Mean and batch-means variance of the mean of a segment: B = ⌊√n⌋ batches of size ⌊n/B⌋
/// (the first B·⌊n/B⌋ values), Var(x̄) ≈ s²_batch/B with s²_batch the ddof-1 variance of the
/// batch means. Returns (mean of the used values, variance of the mean, B).
fn batch_mean_var(x: &[f64]) -> (f64, f64, usize) {
    let b = (x.len() as f64).sqrt().floor() as usize;
    let size = x.len() / b;
    let means: Vec<f64> = x
        .chunks_exact(size)
        .take(b)
        .map(|c| c.iter().sum::<f64>() / size as f64)
        .collect();
    let m = means.iter().sum::<f64>() / b as f64;
    let v = means.iter().map(|y| (y - m) * (y - m)).sum::<f64>() / (b as f64 - 1.0);
    (m, v / b as f64, b)
}

/// Difference of two means with batch-means SEs: z, two-sided p from Student t with Welch df.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MeanDifference {
    /// mean(a) − mean(b).
    pub difference: f64,
    /// Standard error of the difference (batch means, the two parts independent).
    pub se: f64,
    /// difference / se.
    pub z: f64,
    /// Welch–Satterthwaite degrees of freedom (va + vb)²/(va²/(Ba − 1) + vb²/(Bb − 1)).
    pub df: f64,
    /// Two-sided p-value 2·P(T_df > |z|).
    pub p_value: f64,
}

fn mean_difference(a: &[f64], b: &[f64]) -> Result<MeanDifference, StatsError> {
    let (ma, va, ba) = batch_mean_var(a);
    let (mb, vb, bb) = batch_mean_var(b);
    let var = va + vb;
    if var <= 0.0 {
        return Err(StatsError::ZeroVariance);
    }
    let df = var * var / (va * va / (ba as f64 - 1.0) + vb * vb / (bb as f64 - 1.0));
    let z = (ma - mb) / var.sqrt();
    let t = StudentsT::new(0.0, 1.0, df).map_err(|e| StatsError::Degenerate(e.to_string()))?;
    Ok(MeanDifference {
        difference: ma - mb,
        se: var.sqrt(),
        z,
        df,
        p_value: (2.0 * t.sf(z.abs())).min(1.0),
    })
}

/// Geweke (1992) diagnostic: mean of the first 10 % vs the last 50 % of the series, each SE from
/// batch means (B = ⌊√n_part⌋ batches; a stand-in for the spectral density at zero), the two
/// parts treated as independent; two-sided p from Student t with Welch df (the batch-means
/// variance has few degrees of freedom). Reference: Geweke (1992) in *Bayesian Statistics 4*,
/// 169–193. Cost: O(n).
///
/// # Errors
/// [`StatsError::TooFewSamples`] for n < 90 (≥ 3 batches in the first 10 %);
/// [`StatsError::ZeroVariance`]; [`StatsError::NonFinite`].
pub fn geweke(x: &[f64]) -> Result<MeanDifference, StatsError> {
    const FIRST: f64 = 0.1; // Geweke's default first window
    const LAST: f64 = 0.5; // Geweke's default last window
    let n = x.len();
    if n < 90 {
        return Err(StatsError::TooFewSamples {
            test: "Geweke",
            needed: 90,
            got: n,
        });
    }
    check_finite(x)?;
    let na = (FIRST * n as f64).floor() as usize;
    let nb = (LAST * n as f64).floor() as usize;
    mean_difference(&x[..na], &x[n - nb..])
}

/// Yaida's (2019, ICLR, arXiv:1810.00004) first fluctuation–dissipation relation at a
/// stationary state, ⟨θ·∇L⟩ = (ε/2)⟨‖ĝ_S‖²⟩, tested from per-step observables
/// o_L = θ_t·∇L(θ_t) and o_R = (ε/2)‖ĝ_t‖² (plain SGD; with momentum μ and dampening the caller
/// scales o_R by (1 + μ)/(1 − damp)). The paired difference o_L − o_R is tested against 0 with a
/// batch-means SE (⌊√n⌋ batches, t with B − 1 df); also returned: the ratio ⟨o_L⟩/⟨o_R⟩ whose
/// distance from 1 Yaida's scheduler compares with X = 0.01. Cost: O(n).
///
/// # Errors
/// [`StatsError::InvalidArgument`] for unequal lengths; [`StatsError::TooFewSamples`] for n < 9.
pub fn fdr1(o_l: &[f64], o_r: &[f64]) -> Result<Fdr1, StatsError> {
    if o_l.len() != o_r.len() {
        return Err(StatsError::InvalidArgument(
            "FDR1 observables must have equal lengths".into(),
        ));
    }
    if o_l.len() < 9 {
        return Err(StatsError::TooFewSamples {
            test: "FDR1",
            needed: 9,
            got: o_l.len(),
        });
    }
    check_finite(o_l)?;
    check_finite(o_r)?;
    let d: Vec<f64> = o_l.iter().zip(o_r).map(|(l, r)| l - r).collect();
    let (m, v, b) = batch_mean_var(&d);
    if v <= 0.0 {
        return Err(StatsError::ZeroVariance);
    }
    let t = StudentsT::new(0.0, 1.0, b as f64 - 1.0).expect("b ≥ 3");
    let (ml, mr) = (mean(o_l), mean(o_r));
    Ok(Fdr1 {
        ratio: ml / mr,
        difference: m,
        se: v.sqrt(),
        p_value: (2.0 * t.sf((m / v.sqrt()).abs())).min(1.0),
    })
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Result of [`fdr1`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Fdr1 {
    /// ⟨o_L⟩/⟨o_R⟩ (1 at stationarity).
    pub ratio: f64,
    /// Mean of o_L − o_R over the batch-means range.
    pub difference: f64,
    /// Batch-means standard error of `difference`.
    pub se: f64,
    /// Two-sided p-value of "FDR1 holds".
    pub p_value: f64,
}
