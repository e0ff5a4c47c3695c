//! Standard normal tail functions shared by the normality tests.
//!
//! `erf`/`erfc` are ported from Cephes (S. L. Moshier, `ndtr.c`, as shipped in scipy's `xsf`
//! library, `include/xsf/cephes/ndtr.h`), which is what `scipy.special.ndtr` (and so
//! `scipy.stats.norm.cdf`/`sf`) evaluates. statrs 0.19.1's `erfc` is not used: it has relative
//! errors up to about 1e-10 for |x| ≥ 0.5 (checked against scipy on a grid over [−10, 10];
//! its interval offsets are single-precision constants), which would move the Lilliefors D and
//! the Anderson–Darling A² by more than the 1e-10 the reference tests allow.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// ln of the largest finite double (Cephes `MAXLOG`).
#[allow(clippy::excessive_precision)] // Cephes coefficients, kept verbatim
const MAXLOG: f64 = 7.097_827_128_933_84e2;

#[allow(clippy::excessive_precision)] // Cephes coefficients, kept verbatim
const P: [f64; 9] = [
    2.461_969_814_735_305_125_24e-10,
    5.641_895_648_310_688_219_77e-1,
    7.463_210_564_422_699_126_87e0,
    4.863_719_709_856_813_666_14e1,
    1.965_208_329_560_771_982_42e2,
    5.264_451_949_954_773_586_31e2,
    9.345_285_271_719_576_075_40e2,
    1.027_551_886_895_157_102_72e3,
    5.575_353_353_693_993_275_26e2,
];
#[allow(clippy::excessive_precision)] // Cephes coefficients, kept verbatim
const Q: [f64; 8] = [
    1.322_819_511_547_449_925_08e1,
    8.670_721_408_859_897_423_29e1,
    3.549_377_788_878_198_910_62e2,
    9.757_085_017_432_054_897_53e2,
    1.823_909_166_879_097_362_89e3,
    2.246_337_608_187_109_817_92e3,
    1.656_663_091_941_613_501_82e3,
    5.575_353_408_177_276_755_46e2,
];
#[allow(clippy::excessive_precision)] // Cephes coefficients, kept verbatim
const R: [f64; 6] = [
    5.641_895_835_477_550_739_84e-1,
    1.275_366_707_599_781_044_16e0,
    5.019_050_422_511_804_774_14e0,
    6.160_210_979_930_535_851_95e0,
    7.409_742_699_504_489_391_60e0,
    2.978_866_653_721_002_406_70e0,
];
#[allow(clippy::excessive_precision)] // Cephes coefficients, kept verbatim
const S: [f64; 6] = [
    2.260_528_632_201_172_765_90e0,
    9.396_035_249_380_014_346_73e0,
    1.204_895_398_080_966_566_05e1,
    1.708_144_507_475_658_972_22e1,
    9.608_968_090_632_858_781_98e0,
    3.369_076_451_000_815_160_50e0,
];
#[allow(clippy::excessive_precision)] // Cephes coefficients, kept verbatim
const T: [f64; 5] = [
    9.604_973_739_870_516_387_49e0,
    9.002_601_972_038_426_892_17e1,
    2.232_005_345_946_843_192_26e3,
    7.003_325_141_128_050_754_73e3,
    5.559_230_130_103_949_627_68e4,
];
#[allow(clippy::excessive_precision)] // Cephes coefficients, kept verbatim
const U: [f64; 5] = [
    3.356_171_416_475_030_996_47e1,
    5.213_579_497_801_526_797_95e2,
    4.594_323_829_709_801_279_87e3,
    2.262_900_006_138_909_342_46e4,
    4.926_739_426_086_359_210_86e4,
];

/// Cephes `polevl`: c[0]·xᴺ + … + c[N].
fn polevl(x: f64, c: &[f64]) -> f64 {
    c[1..].iter().fold(c[0], |acc, &ci| acc * x + ci)
}

/// Cephes `p1evl`: xᴺ + c[0]·xᴺ⁻¹ + … + c[N−1] (leading coefficient 1).
fn p1evl(x: f64, c: &[f64]) -> f64 {
    c[1..].iter().fold(x + c[0], |acc, &ci| acc * x + ci)
}

/// Error function (Cephes `erf`; 3.7e-16 peak relative error on [0, 1]).
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return -erf(-x);
    }
    if x > 1.0 {
        return 1.0 - erfc(x);
    }
    let z = x * x;
    x * polevl(z, &T) / p1evl(z, &U)
}

/// Complementary error function (Cephes `erfc`; 5.7e-14 peak relative error on [0, 26.6],
/// from the rounding of x² inside exp(−x²)). Underflows to 0 above x ≈ 26.6.
pub(crate) fn erfc(a: f64) -> f64 {
    if a.is_nan() {
        return f64::NAN;
    }
    let x = a.abs();
    if x < 1.0 {
        return 1.0 - erf(a);
    }
    let z = -a * a;
    if z < -MAXLOG {
        return if a < 0.0 { 2.0 } else { 0.0 };
    }
    let z = z.exp();
    let (p, q) = if x < 8.0 {
        (polevl(x, &P), p1evl(x, &Q))
    } else {
        (polevl(x, &R), p1evl(x, &S))
    };
    let mut y = (z * p) / q;
    if a < 0.0 {
        y = 2.0 - y;
    }
    if y != 0.0 {
        y
    } else if a < 0.0 {
        2.0
    } else {
        0.0
    }
}

/// Φ(a) as Cephes `ndtr` (scipy `special.ndtr`). Cost O(1).
fn ndtr(a: f64) -> f64 {
    if a.is_nan() {
        return f64::NAN;
    }
    let x = a * FRAC_1_SQRT_2;
    let z = x.abs();
    if z < 1.0 {
        0.5 + 0.5 * erf(x)
    } else {
        let y = 0.5 * erfc(z);
        if x > 0.0 {
            1.0 - y
        } else {
            y
        }
    }
}

/// Upper tail Q(z) = P(Z > z) = Φ(−z), as scipy's `_SimpleNormal.sf` (`special.ndtr(-z)`);
/// relative accuracy is kept far into the upper tail. Cost O(1).
pub(crate) fn sf(z: f64) -> f64 {
    ndtr(-z)
}

/// Φ(z) (scipy `special.ndtr(z)`, used by `scipy.stats.norm.cdf`). Cost O(1).
pub(crate) fn cdf(z: f64) -> f64 {
    ndtr(z)
}

/// Two-sided p-value 2·Q(|z|) of a standard normal statistic. Cost O(1).
pub(crate) fn two_sided_p(z: f64) -> f64 {
    2.0 * sf(z.abs())
}

/// ln Φ(z), accurate in both tails (scipy `special.log_ndtr`). Cost O(1).
///
/// * z ≥ −1: ln(1 − Q(z)) = ln_1p(−erfc(z/√2)/2), so no precision is lost where Φ(z) ≈ 1.
/// * −30 ≤ z < −1: ln(erfc(−z/√2)/2); erfc keeps its relative precision down to about 1e-196.
/// * z < −30 (where erfc would underflow): the asymptotic Mills-ratio series
///   ln Φ(z) = −z²/2 − ln(−z) − ½ln(2π) + ln(1 − 1/z² + 3/z⁴ − 15/z⁶ + …), truncated after ten
///   terms; the first omitted term is below 1e-20 for |z| ≥ 30.
pub(crate) fn log_cdf(z: f64) -> f64 {
    if z >= -1.0 {
        (-0.5 * erfc(z * FRAC_1_SQRT_2)).ln_1p()
    } else if z >= -30.0 {
        (0.5 * erfc(-z * FRAC_1_SQRT_2)).ln()
    } else if z.is_finite() {
        let z2 = z * z;
        let inv = 1.0 / z2;
        // Σ_{k=0}^{10} (−1)^k (2k−1)!! / z^{2k}
        let mut term = 1.0;
        let mut series = 1.0;
        for k in 1..=10 {
            term *= -((2 * k - 1) as f64) * inv;
            series += term;
        }
        -0.5 * z2 - (-z).ln() - 0.5 * (2.0 * PI).ln() + series.ln()
    } else {
        f64::NEG_INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_and_ndtr_match_scipy() {
        // scipy 1.17.1: scipy.special.erfc(x) and scipy.special.ndtr(x), printed with repr().
        // 0.6 and 0.9 lie where statrs 0.19.1's erfc is off by ~1e-10.
        let erfc_cases = [
            (-3.0, 1.999_977_909_503_001_5),
            (-0.6, 1.603_856_090_847_925_8),
            (0.3, 0.671_373_240_540_872_6),
            (0.6, 0.396_143_909_152_074_2),
            (0.9, 0.203_091_787_577_167_84),
            (1.5, 0.033_894_853_524_689_27),
            (5.0, 1.537_459_794_428_034_7e-12),
            (12.0, 1.356_261_169_205_904_7e-64),
            (26.0, 5.663_192_408_856_145e-296),
        ];
        for (x, want) in erfc_cases {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1e-15,
                "erfc({x}) = {got:e}, want {want:e}"
            );
        }
        let ndtr_cases = [
            (-8.0, 6.220_960_574_271_74e-16),
            (-1.2, 0.115_069_670_221_708_22),
            (0.2, 0.579_259_709_439_103),
            (1.2, 0.884_930_329_778_291_8),
            (8.0, 0.999_999_999_999_999_3),
        ];
        for (x, want) in ndtr_cases {
            let got = cdf(x);
            assert!(
                ((got - want) / want).abs() < 1e-15,
                "ndtr({x}) = {got:e}, want {want:e}"
            );
        }
        assert_eq!(cdf(-40.0), 0.0);
        assert_eq!(sf(40.0), 0.0);
        assert!(erfc(f64::NAN).is_nan());
    }

    #[test]
    fn log_cdf_is_continuous_at_the_branch_points() {
        // The branches are different formulas for the same function: on both sides of each
        // switch point they must agree to near machine precision.
        for &z in &[-1.0_f64, -30.0] {
            let lo = z - 1e-9;
            let hi = z + 1e-9;
            let (a, b) = (log_cdf(lo), log_cdf(hi));
            assert!(((a - b) / b).abs() < 1e-8, "jump at {z}: {a} vs {b}");
        }
        // Above the switch the erfc branch is exact to ~1e-16; the series must agree with it
        // there too (erfc(21.2) is still a normal number).
        let z = -29.99;
        let series = {
            let z2 = z * z;
            let mut term = 1.0;
            let mut s = 1.0;
            for k in 1..=10 {
                term *= -((2 * k - 1) as f64) / z2;
                s += term;
            }
            -0.5 * z2 - (-z).ln() - 0.5 * (2.0 * PI).ln() + f64::ln(s)
        };
        assert!(((log_cdf(z) - series) / series).abs() < 1e-14);
    }

    #[test]
    fn log_cdf_known_values() {
        // scipy 1.17.1: scipy.special.log_ndtr([-40., -5., 0., 5.]) =
        // [-804.6084420137539, -15.064998393988727, -0.6931471805599453, -2.8665161296376294e-07]
        let cases = [
            (-40.0, -804.608_442_013_753_9),
            (-5.0, -15.064_998_393_988_727),
            (0.0, -std::f64::consts::LN_2),
            (5.0, -2.866_516_129_637_629_4e-7),
        ];
        for (z, want) in cases {
            let got = log_cdf(z);
            assert!(
                ((got - want) / want).abs() < 1e-13,
                "z = {z}: {got} vs {want}"
            );
        }
        assert_eq!(log_cdf(f64::NEG_INFINITY), f64::NEG_INFINITY);
    }
}
