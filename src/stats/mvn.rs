//! Multivariate normality: Henze–Zirkler, Mardia skewness and kurtosis, a Monte Carlo null for
//! all three, and the random-projection (Cramér–Wold) test for large d.
//!
//! Observations are the rows of an n × d matrix. With x̄ the sample mean and
//! S = (1/n) Σⱼ (xⱼ − x̄)(xⱼ − x̄)ᵀ the biased ("population") covariance, the affine-invariant
//! tests are functions of the Mahalanobis inner products D_jk = (xⱼ − x̄)ᵀ S⁻¹ (x_k − x̄),
//! D_j = D_jj.
//!
//! **d ≥ n − 1.** The centred data then span at most n − 1 dimensions and D_jj = n − 1,
//! D_jk = −1 for every data set: every affine-invariant statistic is a constant. The functions
//! here return [`StatsError::Degenerate`] in that regime (pingouin returns HZ = 4n, p ≈ 0 —
//! "not normal" for any data; R MVN stops with an error). Use [`projection_test`] instead.
//!
//! **Calibration.** The analytic p-values are approximations. Measured type-I error at
//! α = 0.05 under correlated normal data (n = 200, 1000 replications;
//! `tests/calibration/calibration_multivariate.rs`): Henze–Zirkler 0.047 (d = 3) and 0.047 (d = 20);
//! Mardia kurtosis with the exact moments 0.055 and 0.047; Mardia skewness with the small-sample
//! correction 0.056 and **0.078** — the χ² approximation is liberal at d/n ≳ 0.05 because the
//! corrected statistic has the exact null mean but a variance 10–30 % above 2·df. All three
//! statistics are affine invariant, so their null law depends on (n, d) only and [`MvnNull`]
//! gives Monte Carlo p-values that are exact up to Monte Carlo error (measured at (200, 20)
//! with B = 999: 0.063, 0.060, 0.042, each within ±0.039 of 0.05). Power at (200, 3): ≥ 0.96
//! against i.i.d. t₃ coordinates and 1.0 against the scale mixture 0.8·N(0, I) + 0.2·N(0, 9I).
//!
//! **Projection test and the univariate test's tail.** [`projection_test`] runs each of its k
//! univariate tests at about α/k, so the univariate p-values must be accurate in the far tail.
//! With D'Agostino's K² and its χ²₂ p-value (liberal there: 1.1 % rejections at nominal 0.625 %
//! for n = 200) the projection test rejected 6.5–7.3 % of true nulls at k = 8; with K²
//! calibrated by simulation it rejected 3.7–4.0 % (conservative, as Holm over correlated
//! projections must be).

use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF, LogNormal, Normal};

use super::multitest::{self, Method};
use super::StatsError;

/// Data whitened by the biased sample covariance: rows wⱼ with wⱼ·w_k = D_jk.
struct Whitened {
    /// n × d, column-major.
    w: DMatrix<f64>,
    /// D_j = ‖wⱼ‖².
    diag: Vec<f64>,
}

/// Pivot threshold of the Cholesky factor of the sample *correlation* matrix. A pivot L_ii² is
/// the fraction of the variance of column i not explained by columns 0..i; below 1e-10 the
/// column is a linear combination of the others to 10 significant digits.
const COLLINEAR_PIVOT: f64 = 1e-10;

fn check_matrix(x: &DMatrix<f64>, test: &'static str, min_n: usize) -> Result<(), StatsError> {
    let (n, d) = x.shape();
    if d == 0 {
        return Err(StatsError::InvalidArgument(
            "the data have no columns (d = 0)".into(),
        ));
    }
    if n < min_n {
        return Err(StatsError::TooFewSamples {
            test,
            needed: min_n,
            got: n,
        });
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite);
    }
    Ok(())
}

/// Centres, checks for degeneracy and whitens. Cost O(nd² + d³).
fn whiten(x: &DMatrix<f64>, test: &'static str) -> Result<Whitened, StatsError> {
    check_matrix(x, test, 3)?;
    let (n, d) = x.shape();
    if d + 1 >= n {
        return Err(StatsError::Degenerate(format!(
            "{test}: d = {d} ≥ n − 1 = {}: the Mahalanobis matrix is the same for every data \
             set, so no affine-invariant test is possible; use the projection test",
            n - 1
        )));
    }
    let mean = x.row_mean();
    let mut z = crate::stats::descriptive::centre_columns(x);
    let s = z.transpose() * &z / n as f64;
    let mut scale = Vec::with_capacity(d);
    for i in 0..d {
        if s[(i, i)] <= 0.0 || s[(i, i)].sqrt() <= f64::EPSILON * mean[i].abs() {
            return Err(StatsError::ZeroVariance);
        }
        scale.push(1.0 / s[(i, i)].sqrt());
    }
    // Correlation matrix and scaled data, for a scale-free collinearity check.
    for (j, mut col) in z.column_iter_mut().enumerate() {
        col *= scale[j];
    }
    let r = DMatrix::from_fn(d, d, |i, j| s[(i, j)] * scale[i] * scale[j]);
    let chol = nalgebra::Cholesky::new(r).ok_or_else(|| collinear(test))?;
    let l = chol.l();
    if (0..d).any(|i| l[(i, i)] * l[(i, i)] < COLLINEAR_PIVOT) {
        return Err(collinear(test));
    }
    // W = Z L⁻ᵀ, i.e. solve L Wᵀ = Zᵀ.
    let wt = l
        .solve_lower_triangular(&z.transpose())
        .ok_or_else(|| collinear(test))?;
    let w = wt.transpose();
    let diag = (0..n).map(|j| w.row(j).norm_squared()).collect();
    Ok(Whitened { w, diag })
}

fn collinear(test: &str) -> StatsError {
    StatsError::Degenerate(format!(
        "{test}: the sample covariance is singular (a column is, to 10 digits, a linear \
         combination of the others); drop redundant columns or use the projection test"
    ))
}

/// Σ_j Σ_k f(D_jk, D_j, D_k) over all ordered pairs (j, k), both components of `f` at once.
///
/// Uses symmetry (pairs k > j counted twice) and row blocks of W·Wᵀ, so memory is O(block·n)
/// rather than O(n²). Blocks run in parallel; their partial sums are added in block order, so
/// the result does not depend on the number of threads. Cost O(n²d/2) multiply-adds plus n²/2
/// evaluations of `f`.
fn pair_sums<F>(wh: &Whitened, f: F) -> (f64, f64)
where
    F: Fn(f64, f64, f64) -> (f64, f64) + Sync,
{
    let n = wh.w.nrows();
    let wt = wh.w.transpose();
    let block = (1usize << 20).checked_div(n).unwrap_or(1).clamp(8, 256);
    let starts: Vec<usize> = (0..n).step_by(block).collect();
    let partial: Vec<(f64, f64)> = starts
        .par_iter()
        .map(|&r0| {
            let rows = block.min(n - r0);
            let g = wh.w.rows(r0, rows) * wt.columns(r0, n - r0);
            let (mut a, mut b) = (0.0, 0.0);
            for kk in 0..(n - r0) {
                let k = r0 + kk;
                for jj in 0..rows.min(kk + 1) {
                    let j = r0 + jj;
                    let (fa, fb) = f(g[(jj, kk)], wh.diag[j], wh.diag[k]);
                    let weight = if j == k { 1.0 } else { 2.0 };
                    a += weight * fa;
                    b += weight * fb;
                }
            }
            (a, b)
        })
        .collect();
    partial
        .iter()
        .fold((0.0, 0.0), |acc, p| (acc.0 + p.0, acc.1 + p.1))
}

/// Henze–Zirkler smoothing parameter β = (1/√2)·((2d + 1)/4)^{1/(d+4)}·n^{1/(d+4)}.
fn hz_beta(n: usize, d: usize) -> f64 {
    let p = d as f64;
    1.0 / 2f64.sqrt()
        * ((2.0 * p + 1.0) / 4.0).powf(1.0 / (p + 4.0))
        * (n as f64).powf(1.0 / (p + 4.0))
}

/// HZ statistic from Σ_jk exp(−β² D̃_jk/2) and the whitened data.
fn hz_from_sums(n: usize, d: usize, beta: f64, pair_exp_sum: f64, wh: &Whitened) -> f64 {
    let nf = n as f64;
    let p = d as f64;
    let b2 = beta * beta;
    let single: f64 = wh
        .diag
        .iter()
        .map(|&dj| (-(b2 / (2.0 * (1.0 + b2))) * dj).exp())
        .sum();
    nf * (pair_exp_sum / (nf * nf) - 2.0 * (1.0 + b2).powf(-p / 2.0) * single / nf
        + (1.0 + 2.0 * b2).powf(-p / 2.0))
}

/// Parameters (m, s) of the Henze–Zirkler (1990) lognormal approximation to the null law of HZ.
fn hz_lognormal(d: usize, beta: f64) -> (f64, f64) {
    let p = d as f64;
    let b2 = beta * beta;
    let b4 = b2 * b2;
    let b8 = b4 * b4;
    let a = 1.0 + 2.0 * b2;
    let wb = (1.0 + b2) * (1.0 + 3.0 * b2);
    let mu = 1.0 - a.powf(-p / 2.0) * (1.0 + p * b2 / a + p * (p + 2.0) * b4 / (2.0 * a * a));
    let si2 = 2.0 * (1.0 + 4.0 * b2).powf(-p / 2.0)
        + 2.0
            * a.powf(-p)
            * (1.0 + 2.0 * p * b4 / (a * a) + 3.0 * p * (p + 2.0) * b8 / (4.0 * a.powi(4)))
        - 4.0
            * wb.powf(-p / 2.0)
            * (1.0 + 3.0 * p * b4 / (2.0 * wb) + p * (p + 2.0) * b8 / (2.0 * wb * wb));
    let m = (mu.powi(4) / (si2 + mu * mu)).sqrt().ln();
    let s = (si2 / (mu * mu)).ln_1p().sqrt();
    (m, s)
}

/// Result of the Henze–Zirkler test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HenzeZirkler {
    /// HZ, the weighted L² distance between the empirical and the normal characteristic
    /// function of the standardised data.
    pub statistic: f64,
    /// Upper-tail p-value of the lognormal approximation.
    pub p_value: f64,
    /// Smoothing parameter β.
    pub beta: f64,
    /// Location m of the approximating lognormal (log scale).
    pub lognormal_location: f64,
    /// Scale s of the approximating lognormal (log scale).
    pub lognormal_scale: f64,
}

/// Henze–Zirkler (1990) test of multivariate normality with the lognormal p-value.
///
/// With β = (1/√2)·(n(2d + 1)/4)^{1/(d+4)} and D̃_jk = D_j + D_k − 2D_jk,
///
/// HZ = n·[ (1/n²) Σⱼ Σ_k exp(−β²D̃_jk/2) − 2(1 + β²)^{−d/2} (1/n) Σⱼ exp(−β²Dⱼ/(2(1 + β²)))
///        + (1 + 2β²)^{−d/2} ].
///
/// p = P(LogNormal(m, s) > HZ) with m, s from the null mean and variance of HZ given by Henze &
/// Zirkler (1990) (see the module notes in `statistical-tests.md` §2.2 for μ and σ²).
///
/// Reference: Henze & Zirkler (1990) *Commun. Stat. Theory Methods* 19:3595–3617. Checked
/// against `pingouin.multivariate_normality` 0.7.0 (statistic to 1e-10, p to 1e-9 relative).
/// Differences from pingouin: a singular covariance is an error here (pingouin sets HZ = 4n
/// and reports p ≈ 0), and d = 1 is allowed (pingouin asserts d ≥ 2; the formula is the same).
///
/// Cost: O(n²d/2 + nd² + d³) time, O(n·256 + nd) memory; measured (release, 2 shared cores,
/// `benches/multivariate.rs`) 20 ms at n = 2000, d = 8 and 34 ms at d = 64.
///
/// # Errors
/// `TooFewSamples` (n < 3), `NonFinite`, `ZeroVariance` (a constant column), `Degenerate`
/// (d ≥ n − 1 or collinear columns), `InvalidArgument` (d = 0).
pub fn henze_zirkler(x: &DMatrix<f64>) -> Result<HenzeZirkler, StatsError> {
    let wh = whiten(x, "Henze–Zirkler")?;
    let (n, d) = x.shape();
    let beta = hz_beta(n, d);
    let half_b2 = beta * beta / 2.0;
    let (s, _) = pair_sums(&wh, |djk, dj, dk| {
        ((-half_b2 * (dj + dk - 2.0 * djk)).exp(), 0.0)
    });
    let statistic = hz_from_sums(n, d, beta, s, &wh);
    let (m, sd) = hz_lognormal(d, beta);
    let p_value = lognormal_sf(m, sd, statistic)?;
    Ok(HenzeZirkler {
        statistic,
        p_value,
        beta,
        lognormal_location: m,
        lognormal_scale: sd,
    })
}

fn lognormal_sf(m: f64, s: f64, x: f64) -> Result<f64, StatsError> {
    if x <= 0.0 {
        return Ok(1.0);
    }
    let ln = LogNormal::new(m, s)
        .map_err(|e| StatsError::Degenerate(format!("Henze–Zirkler null moments: {e}")))?;
    Ok(ln.sf(x))
}

/// Mardia's multivariate skewness test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MardiaSkewness {
    /// b₁,d = (1/n²) Σⱼ Σ_k D_jk³.
    pub b1: f64,
    /// n·k·b₁,d/6 with Mardia's small-sample correction k (see [`mardia`]).
    pub statistic: f64,
    /// χ² upper-tail p-value of `statistic` with `df` degrees of freedom.
    pub p_value: f64,
    /// d(d + 1)(d + 2)/6.
    pub df: f64,
    /// The correction factor k = (d+1)(n+1)(n+3) / (n((n+1)(d+1) − 6)).
    pub correction: f64,
    /// n·b₁,d/6 without the correction (R MVN for n ≥ 20).
    pub statistic_uncorrected: f64,
    /// χ² p-value of `statistic_uncorrected`.
    pub p_value_uncorrected: f64,
}

/// Mardia's multivariate kurtosis test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MardiaKurtosis {
    /// b₂,d = (1/n) Σⱼ Dⱼ².
    pub b2: f64,
    /// z = (b₂,d − E b₂,d)/√Var b₂,d with Mardia's (1974) exact null moments.
    pub statistic: f64,
    /// Two-sided normal p-value of `statistic`.
    pub p_value: f64,
    /// E b₂,d = d(d + 2)(n − 1)/(n + 1).
    pub expected: f64,
    /// Var b₂,d = 8d(d + 2)(n − 3)(n − d − 1)(n − d + 1) / ((n + 1)²(n + 3)(n + 5)).
    pub variance: f64,
    /// The asymptotic z = (b₂,d − d(d + 2))·√(n/(8d(d + 2))) used by R MVN.
    pub statistic_asymptotic: f64,
    /// Two-sided normal p-value of `statistic_asymptotic` (R MVN's p-value).
    pub p_value_asymptotic: f64,
}

/// Both Mardia tests, computed from one whitening.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Mardia {
    pub skewness: MardiaSkewness,
    pub kurtosis: MardiaKurtosis,
}

fn mardia_skewness_from_b1(n: usize, d: usize, b1: f64) -> Result<MardiaSkewness, StatsError> {
    let nf = n as f64;
    let p = d as f64;
    let df = p * (p + 1.0) * (p + 2.0) / 6.0;
    let correction = (p + 1.0) * (nf + 1.0) * (nf + 3.0) / (nf * ((nf + 1.0) * (p + 1.0) - 6.0));
    let chi = ChiSquared::new(df).map_err(|e| StatsError::Degenerate(format!("{e}")))?;
    let statistic = nf * correction * b1 / 6.0;
    let statistic_uncorrected = nf * b1 / 6.0;
    Ok(MardiaSkewness {
        b1,
        statistic,
        p_value: chi.sf(statistic),
        df,
        correction,
        statistic_uncorrected,
        p_value_uncorrected: chi.sf(statistic_uncorrected),
    })
}

fn mardia_kurtosis_from_b2(n: usize, d: usize, b2: f64) -> MardiaKurtosis {
    let nf = n as f64;
    let p = d as f64;
    let expected = p * (p + 2.0) * (nf - 1.0) / (nf + 1.0);
    let variance = 8.0 * p * (p + 2.0) * (nf - 3.0) * (nf - p - 1.0) * (nf - p + 1.0)
        / ((nf + 1.0).powi(2) * (nf + 3.0) * (nf + 5.0));
    let statistic = (b2 - expected) / variance.sqrt();
    let statistic_asymptotic = (b2 - p * (p + 2.0)) * (nf / (8.0 * p * (p + 2.0))).sqrt();
    MardiaKurtosis {
        b2,
        statistic,
        p_value: two_sided_normal(statistic),
        expected,
        variance,
        statistic_asymptotic,
        p_value_asymptotic: two_sided_normal(statistic_asymptotic),
    }
}

fn two_sided_normal(z: f64) -> f64 {
    (2.0 * Normal::standard().sf(z.abs())).min(1.0)
}

/// Mardia's (1970) multivariate skewness and kurtosis tests.
///
/// * b₁,d = (1/n²) Σⱼ Σ_k D_jk³; statistic n·k·b₁,d/6 referred to χ² with d(d+1)(d+2)/6
///   degrees of freedom, with the small-sample correction
///   k = (d+1)(n+1)(n+3) / (n((n+1)(d+1) − 6)), which makes the null mean of the statistic
///   exact (Mardia 1974: E b₁,d = d(d+2)((n+1)(d+1) − 6)/((n+1)(n+3))).
/// * b₂,d = (1/n) Σⱼ Dⱼ²; z = (b₂,d − E b₂,d)/√Var b₂,d with Mardia's (1974) exact null
///   moments E b₂,d = d(d+2)(n−1)/(n+1) and
///   Var b₂,d = 8d(d+2)(n−3)(n−d−1)(n−d+1)/((n+1)²(n+3)(n+5)); two-sided normal p-value.
///
/// Reference: Mardia (1970) *Biometrika* 57:519–530; Mardia (1974) *Sankhyā B* 36:115–128.
/// b₁,d, b₂,d and R MVN's statistics (`statistic_uncorrected`, `statistic_asymptotic` and their
/// p-values; the corrected skewness equals MVN's `small.skew`) are checked against a
/// transcription of R MVN's `mardia` (cran/MVN `R/mvn.R`, `use_population = TRUE`), to 1e-10
/// relative. Deliberate differences from R MVN: the skewness correction is applied at every n
/// (MVN applies it only for n < 20), and the kurtosis uses the exact moments (MVN's asymptotic
/// z rejects 97 % of true nulls at d/n = 0.4). The skewness χ² approximation is liberal at
/// d/n ≳ 0.05 even with the correction (module notes); use [`MvnNull`] there.
///
/// Cost: O(n²d/2 + nd² + d³) time, O(n·256 + nd) memory; [`mardia_kurtosis`] alone is
/// O(nd² + d³). Measured at n = 2000 (release, 2 shared cores): 5.3 ms (d = 8) and 14 ms
/// (d = 64); kurtosis alone 0.28 ms and 3.6 ms.
///
/// # Errors
/// As [`henze_zirkler`]; additionally n ≥ 4 (the exact kurtosis variance needs n > 3).
pub fn mardia(x: &DMatrix<f64>) -> Result<Mardia, StatsError> {
    check_matrix(x, "Mardia", 4)?;
    let wh = whiten(x, "Mardia")?;
    let (n, d) = x.shape();
    let nf = n as f64;
    let (s3, _) = pair_sums(&wh, |djk, _, _| (djk * djk * djk, 0.0));
    let b1 = s3 / (nf * nf);
    let b2 = wh.diag.iter().map(|v| v * v).sum::<f64>() / nf;
    Ok(Mardia {
        skewness: mardia_skewness_from_b1(n, d, b1)?,
        kurtosis: mardia_kurtosis_from_b2(n, d, b2),
    })
}

/// Mardia's kurtosis test alone (see [`mardia`]); O(nd² + d³) time, no n² term.
///
/// # Errors
/// As [`mardia`].
pub fn mardia_kurtosis(x: &DMatrix<f64>) -> Result<MardiaKurtosis, StatsError> {
    check_matrix(x, "Mardia kurtosis", 4)?;
    let wh = whiten(x, "Mardia kurtosis")?;
    let (n, d) = x.shape();
    let b2 = wh.diag.iter().map(|v| v * v).sum::<f64>() / n as f64;
    Ok(mardia_kurtosis_from_b2(n, d, b2))
}

/// HZ, b₁,d and b₂,d of one data set from a single pass over the pairs.
fn affine_invariant_statistics(x: &DMatrix<f64>) -> Result<[f64; 3], StatsError> {
    check_matrix(x, "Monte Carlo null", 4)?;
    let wh = whiten(x, "Monte Carlo null")?;
    let (n, d) = x.shape();
    let nf = n as f64;
    let beta = hz_beta(n, d);
    let half_b2 = beta * beta / 2.0;
    let (se, s3) = pair_sums(&wh, |djk, dj, dk| {
        ((-half_b2 * (dj + dk - 2.0 * djk)).exp(), djk * djk * djk)
    });
    let hz = hz_from_sums(n, d, beta, se, &wh);
    let b2 = wh.diag.iter().map(|v| v * v).sum::<f64>() / nf;
    Ok([hz, s3 / (nf * nf), b2])
}

/// Monte Carlo null distribution of HZ, b₁,d and b₂,d for one (n, d).
///
/// The three statistics are affine invariant, so under H₀ their joint law is that of
/// N(0, I_d) samples of the same n: this gives p-values that are exact up to Monte Carlo error
/// at any d < n − 1, where the analytic approximations fail. Build once per (n, d) and reuse.
#[derive(Debug, Clone, PartialEq)]
pub struct MvnNull {
    n: usize,
    d: usize,
    hz: Vec<f64>,
    b1: Vec<f64>,
    b2: Vec<f64>,
}

impl MvnNull {
    /// Simulates `draws` N(0, I_d) samples of size n with `rng` and stores the sorted null
    /// statistics.
    ///
    /// Cost: `draws`·O(n²d/2 + nd² + d³) time; O(draws + nd) memory.
    ///
    /// # Errors
    /// `InvalidArgument` if `draws` = 0; otherwise as [`mardia`] for an n × d sample.
    pub fn simulate(
        n: usize,
        d: usize,
        draws: usize,
        rng: &mut impl rand::Rng,
    ) -> Result<Self, StatsError> {
        if draws == 0 {
            return Err(StatsError::InvalidArgument(
                "the Monte Carlo null needs at least one draw".into(),
            ));
        }
        let (mut hz, mut b1, mut b2) = (
            Vec::with_capacity(draws),
            Vec::with_capacity(draws),
            Vec::with_capacity(draws),
        );
        for _ in 0..draws {
            let x = DMatrix::from_fn(n, d, |_, _| rng.sample::<f64, _>(StandardNormal));
            let [a, b, c] = affine_invariant_statistics(&x)?;
            hz.push(a);
            b1.push(b);
            b2.push(c);
        }
        for v in [&mut hz, &mut b1, &mut b2] {
            v.sort_by(f64::total_cmp);
        }
        Ok(MvnNull { n, d, hz, b1, b2 })
    }

    /// (n, d) this null distribution was simulated for.
    pub fn shape(&self) -> (usize, usize) {
        (self.n, self.d)
    }

    /// Number of null draws B.
    pub fn draws(&self) -> usize {
        self.hz.len()
    }

    /// Monte Carlo upper-tail p-value of an HZ statistic: (1 + #{HZ_b ≥ HZ})/(B + 1).
    pub fn p_henze_zirkler(&self, statistic: f64) -> f64 {
        upper_p(&self.hz, statistic)
    }

    /// Monte Carlo upper-tail p-value of b₁,d (the correction factor k is a constant for fixed
    /// (n, d), so b₁,d and the corrected statistic give the same p-value).
    pub fn p_skewness(&self, b1: f64) -> f64 {
        upper_p(&self.b1, b1)
    }

    /// Monte Carlo two-sided p-value of b₂,d: min(1, 2·min of the two one-sided
    /// (1 + count)/(B + 1) tail proportions).
    pub fn p_kurtosis(&self, b2: f64) -> f64 {
        let up = upper_p(&self.b2, b2);
        let below = self.b2.partition_point(|&v| v <= b2);
        let low = (1.0 + below as f64) / (self.b2.len() as f64 + 1.0);
        (2.0 * up.min(low)).min(1.0)
    }
}

/// (1 + #{v ≥ t})/(B + 1) on a sorted null sample.
fn upper_p(sorted: &[f64], t: f64) -> f64 {
    let at_least = sorted.len() - sorted.partition_point(|&v| v < t);
    (1.0 + at_least as f64) / (sorted.len() as f64 + 1.0)
}

/// Monte Carlo null distribution of a univariate normality test's p-value at one sample size.
///
/// Every standard univariate normality test (Shapiro–Wilk, K², Anderson–Darling, Jarque–Bera,
/// Lilliefors) is location-scale invariant, so under H₀ its p-value has the same law for every
/// N(μ, σ²) sample of size n: simulating B N(0, 1) samples gives p-values exact up to Monte
/// Carlo error, (1 + #{p_b ≤ p})/(B + 1), also in the far tail where analytic approximations
/// drift. Use it to make [`projection_test`] calibrated: its k univariate tests run at ≈ α/k.
#[derive(Debug, Clone, PartialEq)]
pub struct UnivariateNull {
    n: usize,
    null_p: Vec<f64>,
}

impl UnivariateNull {
    /// Runs `test` on `draws` N(0, 1) samples of size n drawn from `rng`.
    ///
    /// Cost: `draws`·(n + U(n)), U(n) the cost of the test; O(draws + n) memory.
    ///
    /// # Errors
    /// `InvalidArgument` for `draws` = 0 or a p-value outside [0, 1]; whatever `test` returns.
    pub fn simulate<F>(
        n: usize,
        draws: usize,
        rng: &mut impl rand::Rng,
        test: F,
    ) -> Result<Self, StatsError>
    where
        F: Fn(&[f64]) -> Result<f64, StatsError>,
    {
        if draws == 0 {
            return Err(StatsError::InvalidArgument(
                "the Monte Carlo null needs at least one draw".into(),
            ));
        }
        let mut x = vec![0.0; n];
        let mut null_p = Vec::with_capacity(draws);
        for _ in 0..draws {
            for v in x.iter_mut() {
                *v = rng.sample(StandardNormal);
            }
            let p = test(&x)?;
            if !(0.0..=1.0).contains(&p) {
                return Err(StatsError::InvalidArgument(format!(
                    "the univariate test returned p = {p}, outside [0, 1]"
                )));
            }
            null_p.push(p);
        }
        null_p.sort_by(f64::total_cmp);
        Ok(UnivariateNull { n, null_p })
    }

    /// Sample size the null was simulated for.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of null draws B.
    pub fn draws(&self) -> usize {
        self.null_p.len()
    }

    /// Monte Carlo p-value of an observed p-value `p`: (1 + #{p_b ≤ p})/(B + 1).
    pub fn p_value(&self, p: f64) -> f64 {
        let at_most = self.null_p.partition_point(|&v| v <= p);
        (1.0 + at_most as f64) / (self.null_p.len() as f64 + 1.0)
    }
}

/// Result of the random-projection test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectionTest {
    /// Smallest unadjusted per-projection p-value.
    pub statistic: f64,
    /// Holm-combined p-value of the global null = min over projections of the Holm-adjusted
    /// p-values = min(1, k·min p).
    pub p_value: f64,
    /// Number of directions k.
    pub directions: usize,
    /// Unadjusted p-value of each projection, in the order the directions were drawn.
    pub p_values: Vec<f64>,
    /// Holm-adjusted p-values, same order.
    pub adjusted: Vec<f64>,
}

/// Random-projection (Cramér–Wold) test of multivariate normality.
///
/// Draws k directions u₁..u_k uniformly on the unit sphere S^{d−1} (normalised N(0, I_d)
/// vectors) from `rng` *before looking at the data*, applies `univariate` (which returns a
/// p-value) to each projected sample (u_iᵀxⱼ)ⱼ, and combines the k p-values with Holm:
/// p = min_i p̃_i = min(1, k·min_i p_i). Under H₀ every projection is exactly univariate normal,
/// so each p_i is valid and Holm controls the error under the arbitrary dependence between
/// projections. The rng consumes exactly k·d standard normals, whatever the data.
///
/// Directions are uniform in the data's own coordinates: rescale columns that are in different
/// units first (a data-dependent whitening would invalidate the per-projection p-values).
///
/// Reference: Cramér & Wold (1936); Cuesta-Albertos, del Barrio, Fraiman & Matrán (2007)
/// *CSDA* 51:4814–4831; Holm (1979). The Holm step is [`multitest::adjust`], checked against
/// statsmodels; the type-I error and power are checked by simulation in
/// `tests/calibration/calibration_multivariate.rs`.
///
/// Cost: O(k·(nd + U(n))) with U(n) the cost of the univariate test; O(n + k·d) memory.
///
/// # Errors
/// `InvalidArgument` (k = 0, d = 0, or `univariate` returning a value outside [0, 1]),
/// `NonFinite`, and whatever `univariate` returns (for example `ZeroVariance` for a constant
/// projection).
pub fn projection_test<F>(
    x: &DMatrix<f64>,
    k: usize,
    rng: &mut impl rand::Rng,
    univariate: F,
) -> Result<ProjectionTest, StatsError>
where
    F: Fn(&[f64]) -> Result<f64, StatsError>,
{
    if k == 0 {
        return Err(StatsError::InvalidArgument(
            "the projection test needs at least one direction".into(),
        ));
    }
    check_matrix(x, "projection test", 1)?;
    let d = x.ncols();
    let directions = random_directions(d, k, rng);
    let mut p_values = Vec::with_capacity(k);
    for u in directions.column_iter() {
        let y = x * u;
        let p = univariate(y.as_slice())?;
        if !(0.0..=1.0).contains(&p) {
            return Err(StatsError::InvalidArgument(format!(
                "the univariate test returned p = {p}, outside [0, 1]"
            )));
        }
        p_values.push(p);
    }
    let adjusted = multitest::adjust(&p_values, Method::Holm)?;
    let statistic = p_values.iter().copied().fold(f64::INFINITY, f64::min);
    let p_value = adjusted.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(ProjectionTest {
        statistic,
        p_value,
        directions: k,
        p_values,
        adjusted,
    })
}

/// k directions uniform on S^{d−1}, as the columns of a d × k matrix. Consumes k·d normals.
pub fn random_directions(d: usize, k: usize, rng: &mut impl rand::Rng) -> DMatrix<f64> {
    let mut u = DMatrix::from_fn(d, k, |_, _| rng.sample::<f64, _>(StandardNormal));
    for mut col in u.column_iter_mut() {
        let norm = col.norm();
        // A zero vector has probability zero; guard anyway by falling back to e₁.
        if norm > 0.0 {
            col /= norm;
        } else {
            col.fill(0.0);
            col[0] = 1.0;
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_when_d_at_least_n_minus_1() {
        let x = DMatrix::from_fn(5, 4, |i, j| ((i * 7 + j * 3) % 5) as f64 + 0.1 * j as f64);
        assert!(matches!(henze_zirkler(&x), Err(StatsError::Degenerate(_))));
        assert!(matches!(mardia(&x), Err(StatsError::Degenerate(_))));
    }

    #[test]
    fn whitening_gives_identity_covariance() {
        let x = DMatrix::from_fn(30, 3, |i, j| {
            ((i * i + 3 * j + i * j) % 11) as f64 + (i as f64).sin()
        });
        let wh = whiten(&x, "t").unwrap();
        let c = wh.w.transpose() * &wh.w / 30.0;
        assert!((c - DMatrix::<f64>::identity(3, 3)).abs().max() < 1e-12);
    }
}
