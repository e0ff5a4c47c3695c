//! The Shapiro–Wilk W test with Royston's (1992, 1995) approximations (algorithm AS R94), ported
//! from scipy's double-precision Cython translation (`scipy/stats/_ansari_swilk_statistics.pyx`,
//! functions `swilk`, `_ppnd`, `_alnorm`, `_poly`; wrapper `scipy.stats.shapiro` in
//! `scipy/stats/_morestats.py`, scipy 1.17.1).

use std::f64::consts::PI;

use super::{check_sample, sorted_copy};
use crate::stats::{StatsError, TestResult};

/// Largest sample size [`shapiro_wilk`] accepts (the upper end of Royston's fit).
pub const SHAPIRO_WILK_MAX_N: usize = 5000;

/// Shapiro–Wilk test of normality (Royston's AS R94), matching `scipy.stats.shapiro`.
///
/// **Statistic.** With the order statistics y₍₁₎ ≤ … ≤ y₍ₙ₎ and the antisymmetric coefficients
/// aᵢ = −aₙ₊₁₋ᵢ, W = (Σ aᵢ y₍ᵢ₎)² / Σ (yᵢ − ȳ)², computed as one minus
/// 1 − W = (√(SSA·SSX) − SAX)(√(SSA·SSX) + SAX)/(SSA·SSX) on range-scaled data (SSA, SSX: centred
/// sums of squares of a and y; SAX: their centred cross-product). Royston's coefficients:
/// mᵢ = Φ⁻¹((i − 0.375)/(n + 0.25)), a₁ (and a₂ for n > 5) from fitted polynomials in 1/√n,
/// the rest proportional to mᵢ.
///
/// **p-value** (upper tail), y = ln(1 − W): n = 3 exact, p = 1 − (6/π)·acos(√W); for
/// 4 ≤ n ≤ 11 y ← −ln(γ − y) with γ = −2.273 + 0.459n and normal μ, σ cubic in n; for n ≥ 12 μ, σ
/// polynomial in ln n; p = Q((y − μ)/σ).
///
/// **Numerics.** Φ⁻¹ is AS 111 (`ppnd`, absolute error ≤ 6e-7) and Q is AS 66 (`alnorm`),
/// exactly as scipy uses them: with a full-precision Φ⁻¹ (as R does) W would move by up to
/// about 1e-9 and p by up to 1e-7 relative, so the reference's own routines are ported to make
/// the result reproducible against scipy (W and p are bit-identical to scipy's on all 29
/// committed data sets). As in scipy, the data are shifted by the ⌊n/2⌋-th input value before the
/// statistic is formed (scipy gh-15777), which keeps data with a large offset exact.
///
/// **Sample size.** 3 ≤ n ≤ 5000. Royston fitted the normalising transformation of W for
/// n ≤ 5000; above that scipy still returns a p-value with the warning "p-value may not be
/// accurate" and R's `shapiro.test` refuses. A report must not quote a p-value of unknown
/// accuracy, so this function returns `TooManySamples` for n > 5000: test a seeded random
/// subsample of 5000, or use [`anderson_darling`](super::anderson_darling) or
/// [`dagostino_pearson`](super::dagostino_pearson), which have no upper limit.
///
/// **Edge cases.** Constant data: `ZeroVariance` (scipy warns "range zero" and returns
/// W = 1, p = 1; R errors). scipy also treats a range below 1e-19 (absolute) as zero; here only
/// an exactly zero range is, so the test is scale invariant down to subnormal numbers. For
/// n = 3, W < 0.75 (only possible through rounding) is returned as W = 0.75, p = 0, as scipy
/// does. For 4 ≤ n ≤ 11 a W so small that y ≥ γ gives p = 1e-19 (scipy's floor; R uses 1e-99).
/// If rounding makes 1 − W negative it is set to 0 (W = 1, p = 1; scipy would report W
/// slightly above 1). Ties need no special treatment; they lower W.
///
/// Reference: Royston, P. (1992), *Statistics and Computing* 2, 117–119; Royston, P. (1995),
/// "Remark AS R94", *Applied Statistics* 44, 547–551; Shapiro, S. S. & Wilk, M. B. (1965),
/// *Biometrika* 52, 591–611. Checked against `scipy.stats.shapiro(x)` (scipy 1.17.1).
///
/// Cost: O(n log n) time for the sort plus O(n) for the coefficients (⌊n/2⌋ evaluations of
/// `ppnd`); O(n) memory.
pub fn shapiro_wilk(x: &[f64]) -> Result<TestResult, StatsError> {
    let n = x.len();
    if n > SHAPIRO_WILK_MAX_N {
        return Err(StatsError::TooManySamples {
            test: "shapiro_wilk",
            max: SHAPIRO_WILK_MAX_N,
            got: n,
        });
    }
    check_sample("shapiro_wilk", x, 3)?;

    let mut y = sorted_copy(x);
    let shift = x[n / 2];
    for v in &mut y {
        *v -= shift;
    }
    let range = y[n - 1] - y[0];
    if range <= 0.0 {
        return Err(StatsError::ZeroVariance);
    }
    let a = coefficients(n);
    Ok(swilk(&mut y, &a, range))
}

const C1: [f64; 6] = [0.0, 0.221157, -0.147981, -2.071190, 4.434685, -2.706056];
const C2: [f64; 6] = [0.0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633];
const C3: [f64; 4] = [0.5440, -0.39978, 0.25054e-1, -0.6714e-3];
const C4: [f64; 4] = [0.13822e1, -0.77857, 0.62767e-1, -0.20322e-2];
const C5: [f64; 4] = [-0.15861e1, -0.31082, -0.83751e-1, 0.38915e-2];
const C6: [f64; 3] = [-0.4803, -0.82676e-1, 0.30302e-2];
const G: [f64; 2] = [-0.2273e1, 0.459];
/// scipy's "obviously non-normal" floor for 4 ≤ n ≤ 11.
const SMALL: f64 = 1e-19;

/// Royston's coefficients a₁..a_{⌊n/2⌋} (positive for the upper half). Cost O(n).
fn coefficients(n: usize) -> Vec<f64> {
    let nn2 = n / 2;
    let mut a = vec![0.0; nn2];
    if n == 3 {
        a[0] = std::f64::consts::FRAC_1_SQRT_2;
        return a;
    }
    let an = n as f64;
    let an25 = an + 0.25;
    let mut summ2 = 0.0;
    for (i, ai) in a.iter_mut().enumerate() {
        let m = ppnd((i as f64 + 1.0 - 0.375) / an25);
        *ai = m;
        summ2 += m * m;
    }
    summ2 *= 2.0;
    let ssumm2 = summ2.sqrt();
    let rsn = 1.0 / an.sqrt();
    let a1 = poly(&C1, rsn) - a[0] / ssumm2;
    let (i1, fac) = if n > 5 {
        let a2 = -a[1] / ssumm2 + poly(&C2, rsn);
        let fac = ((summ2 - 2.0 * (a[0] * a[0]) - 2.0 * (a[1] * a[1]))
            / (1.0 - 2.0 * (a1 * a1) - 2.0 * (a2 * a2)))
            .sqrt();
        a[1] = a2;
        (2, fac)
    } else {
        let fac = ((summ2 - 2.0 * (a[0] * a[0])) / (1.0 - 2.0 * (a1 * a1))).sqrt();
        (1, fac)
    };
    a[0] = a1;
    let scale = -1.0 / fac;
    for ai in &mut a[i1..] {
        *ai *= scale;
    }
    a
}

/// W and its p-value from sorted, shifted data `y` (range > 0) and coefficients `a`: a line by
/// line port of scipy's `swilk` without censoring (n1 = n). The sums run over i = 0..n in
/// scipy's order (split at the middle only to avoid a branch per element), so the result is
/// bit-identical to scipy's. Cost O(n).
fn swilk(y: &mut [f64], a: &[f64], range: f64) -> TestResult {
    let n = y.len();
    let an = n as f64;
    let nn2 = n / 2;
    // Range-scaled data, y[i]/range as scipy forms it (once instead of twice per element).
    for v in y.iter_mut() {
        *v /= range;
    }
    // Signed coefficient of the i-th order statistic: −a[i] in the lower half (i < nn2),
    // +a[n−1−i] in the upper half (i ≥ n − nn2), none for the middle of an odd sample.
    let upper = n - nn2;

    let mut sx = y[0];
    let mut sa = -a[0];
    for (i, &yi) in y.iter().enumerate().skip(1) {
        sx += yi;
        if i < nn2 {
            sa += -a[i];
        } else if i >= upper {
            sa += a[n - 1 - i];
        }
    }
    sa /= an;
    sx /= an;
    let (mut ssa, mut ssx, mut sax) = (0.0, 0.0, 0.0);
    let mut acc = |asa: f64, yi: f64| {
        let xsx = yi - sx;
        ssa += asa * asa;
        ssx += xsx * xsx;
        sax += asa * xsx;
    };
    for i in 0..nn2 {
        acc(-a[i] - sa, y[i]);
    }
    if upper > nn2 {
        acc(-sa, y[nn2]);
    }
    for i in upper..n {
        acc(a[n - 1 - i] - sa, y[i]);
    }
    let ssassx = (ssa * ssx).sqrt();
    let w1 = ((ssassx - sax) * (ssassx + sax) / (ssa * ssx)).max(0.0);
    let w = 1.0 - w1;

    if n == 3 {
        if w < 0.75 {
            return TestResult {
                statistic: 0.75,
                p_value: 0.0,
            };
        }
        let pw = 1.0 - 6.0 / PI * w.sqrt().acos();
        return TestResult {
            statistic: w,
            p_value: pw.clamp(0.0, 1.0),
        };
    }

    let mut yy = w1.ln();
    let lnn = an.ln();
    let (m, s) = if n <= 11 {
        let gamma = poly(&G, an);
        if yy >= gamma {
            return TestResult {
                statistic: w,
                p_value: SMALL,
            };
        }
        yy = -(gamma - yy).ln();
        (poly(&C3, an), poly(&C4, an).exp())
    } else {
        (poly(&C5, lnn), poly(&C6, lnn).exp())
    };
    TestResult {
        statistic: w,
        p_value: alnorm_upper((yy - m) / s),
    }
}

/// c[0] + c[1]·x + … + c[k−1]·x^{k−1}, evaluated in the same order as scipy's `_poly`.
fn poly(c: &[f64], x: f64) -> f64 {
    let nord = c.len();
    let res = c[0];
    if nord == 1 {
        return res;
    }
    let mut p = x * c[nord - 1];
    if nord == 2 {
        return res + p;
    }
    for &ci in c[1..nord - 1].iter().rev() {
        p = (p + ci) * x;
    }
    res + p
}

/// Upper normal tail Q(x) by Hill's algorithm AS 66 (`alnorm`, upper = true), with scipy's
/// `utzero` = 38. Accurate to about 1e-9 absolute; used only to reproduce scipy's p-value.
fn alnorm_upper(x: f64) -> f64 {
    const A1: f64 = 0.398942280444;
    const A2: f64 = 0.399903438504;
    const A3: f64 = 5.75885480458;
    const A4: f64 = 29.8213557808;
    const A5: f64 = 2.62433121679;
    const A6: f64 = 48.6959930692;
    const A7: f64 = 5.92885724438;
    const B1: f64 = 0.398942280385;
    const B2: f64 = 3.8052e-8;
    const B3: f64 = 1.00000615302;
    const B4: f64 = 3.98064794e-4;
    const B5: f64 = 1.98615381364;
    const B6: f64 = 0.151679116635;
    const B7: f64 = 5.29330324926;
    const B8: f64 = 4.8385912808;
    const B9: f64 = 15.1508972451;
    const B10: f64 = 0.742380924027;
    const B11: f64 = 30.789933034;
    const B12: f64 = 3.99019417011;
    const LTONE: f64 = 7.0;
    const UTZERO: f64 = 38.0;
    const CON: f64 = 1.28;

    let mut upper = true;
    let mut z = x;
    // NaN takes this branch too, as with scipy's `if not (z > 0)`, and then gives 1.
    if z.is_nan() || z <= 0.0 {
        upper = false;
        z = -z;
    }
    if !((z <= LTONE) || (upper && z <= UTZERO)) {
        return if upper { 0.0 } else { 1.0 };
    }
    let y = 0.5 * z * z;
    let temp = if z <= CON {
        0.5 - z * (A1 - A2 * y / (y + A3 - A4 / (y + A5 + A6 / (y + A7))))
    } else {
        B1 * (-y).exp()
            / (z - B2
                + B3 / (z + B4 + B5 / (z - B6 + B7 / (z + B8 - B9 / (z + B10 + B11 / (z + B12))))))
    };
    if upper {
        temp
    } else {
        1.0 - temp
    }
}

/// Φ⁻¹(p) by Beasley & Springer's algorithm AS 111 (`ppnd`); absolute error about 1e-9 for
/// 0.08 ≤ p ≤ 0.92, 6e-7 at p = 1.25e-4 (the smallest argument, n = 5000). Used only to
/// reproduce scipy's Shapiro–Wilk coefficients. `p` is in (0, 1) here.
fn ppnd(p: f64) -> f64 {
    const A0: f64 = 2.50662823884;
    const A1: f64 = -18.61500062529;
    const A2: f64 = 41.39119773534;
    const A3: f64 = -25.44106049637;
    const B1: f64 = -8.47351093090;
    const B2: f64 = 23.08336743743;
    const B3: f64 = -21.06224101826;
    const B4: f64 = 3.13082909833;
    const C0: f64 = -2.78718931138;
    const C1: f64 = -2.29796479134;
    const C2: f64 = 4.85014127135;
    const C3: f64 = 2.32121276858;
    const D1: f64 = 3.54388924762;
    const D2: f64 = 1.63706781897;
    const SPLIT: f64 = 0.42;

    let q = p - 0.5;
    if q.abs() <= SPLIT {
        let r = q * q;
        let num = q * (((A3 * r + A2) * r + A1) * r + A0);
        return num / ((((B4 * r + B3) * r + B2) * r + B1) * r + 1.0);
    }
    let mut r = if q > 0.0 { 1.0 - p } else { p };
    if r > 0.0 {
        r = (-r.ln()).sqrt();
    } else {
        return 0.0;
    }
    let temp = ((C3 * r + C2) * r + C1) * r + C0;
    let temp = temp / ((D2 * r + D1) * r + 1.0);
    if q < 0.0 {
        -temp
    } else {
        temp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poly_is_ascending() {
        // 1 + 2x + 3x² at x = 2 is 17; linear and constant cases take scipy's early returns.
        assert_eq!(poly(&[1.0, 2.0, 3.0], 2.0), 17.0);
        assert_eq!(poly(&[1.0, 2.0], 3.0), 7.0);
        assert_eq!(poly(&[4.0], 3.0), 4.0);
    }

    #[test]
    fn ppnd_and_alnorm_are_close_to_the_exact_normal() {
        // AS 111 and AS 66 are approximations; check them against full-precision functions
        // (statrs' quantile, the Cephes tail) at their accuracy: for ppnd about 1e-9 in the
        // centre, 6e-7 at the smallest argument used; for alnorm 1e-9 absolute.
        use statrs::distribution::{ContinuousCDF, Normal};
        let nd = Normal::standard();
        // Shapiro–Wilk evaluates ppnd at (i − 0.375)/(n + 0.25) ≥ 0.625/5000.25 ≈ 1.25e-4.
        for &(p, tol) in &[
            (1.25e-4, 1e-6),
            (1e-3, 1e-7),
            (0.01, 1e-8),
            (0.08, 1e-8),
            (0.3, 1e-8),
            (0.5, 1e-15),
            (0.77, 1e-8),
            (0.95, 1e-8),
            (0.999, 1e-7),
        ] {
            let exact = nd.inverse_cdf(p);
            assert!((ppnd(p) - exact).abs() <= tol, "p = {p}");
        }
        for &z in &[-8.0, -2.0, -0.5, 0.0, 0.7, 1.28, 1.3, 3.0, 6.9, 7.5, 20.0] {
            assert!(
                (alnorm_upper(z) - super::super::normal::sf(z)).abs() < 1e-9,
                "z = {z}"
            );
        }
        assert_eq!(alnorm_upper(39.0), 0.0);
        assert_eq!(alnorm_upper(f64::NAN), 1.0);
    }
}
