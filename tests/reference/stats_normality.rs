//! Univariate normality tests against their reference implementations.
//!
//! The reference values come from `tests/reference/univariate.json`, written by
//! `tests/reference/generate_univariate.py` (scipy 1.17.1, statsmodels 0.15.0, numpy 2.4.6; the
//! versions and the exact call behind every value are recorded in the file). Each data set is
//! stored in full, so this test feeds the functions exactly the numbers the references saw.
//!
//! Tolerances (relative):
//! * statistics: 1e-10 (the bound). Statistics whose reference magnitude is below 1e-3
//!   are rounding noise around zero (e.g. the skewness Z of a perfectly symmetric sample is
//!   ~1e-16), so the bound is applied to max(|reference|, 1e-3), i.e. 1e-13 absolute there.
//! * p-values: 1e-9 for every test, including Shapiro–Wilk (AS 111 and AS 66 are ported from
//!   scipy, see `shapiro_wilk`) and Lilliefors (statsmodels' table is copied entry by entry and
//!   interpolated the same way). The issue asks for 1e-6 (Shapiro–Wilk) and "table accuracy"
//!   (Lilliefors); the tighter bound is met.
//! * Anderson–Darling critical values: exact (both sides round to 3 decimals the same way).

use serde_json::Value;
use sgd_ou::stats::normality::{
    anderson_darling, dagostino_pearson, jarque_bera, kurtosistest, lilliefors,
    lilliefors_critical_values_for_tests, lilliefors_table_for_tests, lilliefors_with,
    shapiro_wilk, skewtest, LillieforsPValue,
};
use sgd_ou::stats::{StatsError, TestResult};

const STAT_RTOL: f64 = 1e-10;
const STAT_FLOOR: f64 = 1e-3;
const P_RTOL: f64 = 1e-9;
/// On `offset60` (10⁶ + N(0, 1) rounded to 6 decimals) the reference itself is inexact: scipy
/// and statsmodels standardise with a mean rounded to ε·10⁶, which moves skewness, kurtosis, A²
/// and D by up to ~1e-9 relative, while sgd-ou uses a corrected two-pass mean. The comparison
/// with scipy there is to this looser bound; `tests/reference/stats_offset.rs` checks the same data
/// against 60-digit mpmath values to 1e-12.
const OFFSET60_RTOL: f64 = 1e-8;

fn reference() -> Value {
    serde_json::from_str(include_str!("univariate.json")).expect("valid JSON")
}

struct Dataset {
    name: String,
    x: Vec<f64>,
    results: Value,
}

fn datasets() -> Vec<Dataset> {
    let r = reference();
    r["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| Dataset {
            name: d["name"].as_str().unwrap().to_string(),
            x: d["x"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect(),
            results: d["results"].clone(),
        })
        .collect()
}

fn dataset(name: &str) -> Dataset {
    datasets()
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no data set {name}"))
}

fn rel_err(got: f64, want: f64, floor: f64) -> f64 {
    if got == want {
        return 0.0;
    }
    (got - want).abs() / want.abs().max(floor)
}

fn assert_close(what: &str, got: f64, want: f64, rtol: f64, floor: f64) {
    let e = rel_err(got, want, floor);
    assert!(
        e <= rtol,
        "{what}: got {got:e}, reference {want:e}, relative error {e:e} > {rtol:e}"
    );
}

/// The reference's (statistic, p) when it returned numbers, None when it returned NaN/raised.
fn ref_pair(rec: &Value) -> Option<(f64, f64)> {
    Some((rec["statistic"].as_f64()?, rec["p_value"].as_f64()?))
}

/// Returns the relative errors (statistic, p) after asserting them.
fn check_pair(what: &str, got: &TestResult, want: (f64, f64)) -> (f64, f64) {
    let offset = what.ends_with(" offset60");
    let (srtol, prtol) = if offset {
        (OFFSET60_RTOL, OFFSET60_RTOL)
    } else {
        (STAT_RTOL, P_RTOL)
    };
    assert_close(
        &format!("{what} statistic"),
        got.statistic,
        want.0,
        srtol,
        STAT_FLOOR,
    );
    assert_close(&format!("{what} p-value"), got.p_value, want.1, prtol, 0.0);
    if offset {
        return (0.0, 0.0);
    }
    (
        rel_err(got.statistic, want.0, STAT_FLOOR),
        rel_err(got.p_value, want.1, 0.0),
    )
}

fn is_constant(x: &[f64]) -> bool {
    x.iter().all(|&v| v == x[0])
}

/// Runs `f` on every data set and compares with the reference record `key`.
///
/// Where the reference returns NaN (or raises), the function must return an error. Constant
/// data are always `ZeroVariance` here: scipy's `shapiro` returns (1, 1) with a "range zero"
/// warning and statsmodels computes a meaningless D and A² from a rounding-noise standard
/// deviation; `is_documented_constant_deviation` checks that the reference really does so.
/// `skip` lists further documented deviations, tested separately below.
fn check_all(
    key: &str,
    min_n: usize,
    skip: &[&str],
    f: impl Fn(&[f64]) -> Result<TestResult, StatsError>,
    pick: impl Fn(&Value) -> &Value,
) {
    let mut compared = 0;
    let (mut worst_stat, mut worst_p) = (0.0_f64, 0.0_f64);
    for d in datasets() {
        if skip.contains(&d.name.as_str()) {
            continue;
        }
        let what = format!("{key} on {}", d.name);
        let got = f(&d.x);
        let rec = pick(&d.results);
        if d.x.len() < min_n {
            assert!(
                matches!(got, Err(StatsError::TooFewSamples { needed, got, .. })
                    if needed == min_n && got == d.x.len()),
                "{what}: expected TooFewSamples, got {got:?}"
            );
            continue;
        }
        if is_constant(&d.x) {
            assert_eq!(got, Err(StatsError::ZeroVariance), "{what}");
            continue;
        }
        match ref_pair(rec) {
            Some(want) => {
                let got = got.unwrap_or_else(|e| panic!("{what}: unexpected error {e}"));
                let (es, ep) = check_pair(&what, &got, want);
                worst_stat = worst_stat.max(es);
                worst_p = worst_p.max(ep);
                compared += 1;
            }
            None => assert!(got.is_err(), "{what}: reference gave NaN, we gave {got:?}"),
        }
    }
    assert!(compared >= 20, "{key}: only {compared} comparisons");
    eprintln!("{key}: {compared} data sets, worst relative error statistic {worst_stat:.1e}, p {worst_p:.1e}");
}

#[test]
fn skewtest_against_scipy() {
    check_all("skewtest", 8, &["symmetric10"], skewtest, |r| {
        &r["skewtest"]
    });
}

#[test]
fn kurtosistest_against_scipy() {
    check_all("kurtosistest", 5, &[], kurtosistest, |r| &r["kurtosistest"]);
}

#[test]
fn dagostino_pearson_against_scipy_normaltest() {
    check_all("normaltest", 8, &["symmetric10"], dagostino_pearson, |r| {
        &r["dagostino_pearson"]
    });
}

/// scipy's `skewtest` replaces Y = 0 by Y = 1 (`y = where(y == 0, 1, y)`), so an exactly
/// symmetric sample gets Z ≈ 1.02 instead of 0. We follow the formula (as R
/// `moments::agostino.test`): Z = 0, p = 1, and K² = Z_k² with Z_k from `kurtosistest`.
#[test]
fn skewtest_zero_skewness_deviates_from_scipy_as_documented() {
    let d = dataset("symmetric10");
    // The reference does show the quirk (otherwise this deviation would not be needed).
    let (scipy_z, _) = ref_pair(&d.results["skewtest"]).unwrap();
    assert!((scipy_z - 1.024_073_604_571_085).abs() < 1e-12);

    let s = skewtest(&d.x).unwrap();
    assert_eq!(s.statistic, 0.0);
    assert_eq!(s.p_value, 1.0);

    let zk = ref_pair(&d.results["kurtosistest"]).unwrap().0;
    let k2 = dagostino_pearson(&d.x).unwrap();
    assert_close("K² on symmetric10", k2.statistic, zk * zk, STAT_RTOL, 0.0);
    assert_close(
        "K² p on symmetric10",
        k2.p_value,
        (-0.5 * zk * zk).exp(),
        P_RTOL,
        0.0,
    );
}

#[test]
fn jarque_bera_against_scipy() {
    check_all("jarque_bera", 2, &[], jarque_bera, |r| &r["jarque_bera"]);
}

#[test]
fn shapiro_wilk_against_scipy() {
    check_all("shapiro_wilk", 3, &[], shapiro_wilk, |r| &r["shapiro_wilk"]);
}

#[test]
fn constant_data_deviations_are_what_the_docs_say() {
    // scipy.stats.shapiro returns W = 1, p = 1 with a "range zero" warning; statsmodels
    // lilliefors computes a meaningless D on 0.1 × 12 (its standard deviation is rounding
    // noise). We return ZeroVariance in both cases (checked in `check_all`).
    for name in ["constant5", "constant12_01"] {
        let d = dataset(name);
        let sw = &d.results["shapiro_wilk"];
        assert_eq!(ref_pair(sw), Some((1.0, 1.0)), "{name}");
        assert!(sw["warnings"][0].as_str().unwrap().contains("range zero"));
    }
    let d = dataset("constant12_01");
    let (dstat, _) = ref_pair(&d.results["lilliefors_approx"]).unwrap();
    assert!(dstat > 0.5, "statsmodels' D on constant data: {dstat}");
}

#[test]
fn anderson_darling_against_scipy_and_statsmodels() {
    let mut compared = 0;
    let mut infinite_sm = 0;
    let (mut worst_stat, mut worst_p) = (0.0_f64, 0.0_f64);
    for d in datasets() {
        let what = format!("anderson_darling on {}", d.name);
        let got = anderson_darling(&d.x);
        if d.x.len() < 8 {
            // Documented: nortest's minimum (scipy and statsmodels compute from n = 2).
            assert!(
                matches!(got, Err(StatsError::TooFewSamples { needed: 8, .. })),
                "{what}: {got:?}"
            );
            continue;
        }
        if is_constant(&d.x) {
            assert_eq!(got, Err(StatsError::ZeroVariance), "{what}");
            continue;
        }
        let sc = &d.results["anderson_darling"]["scipy"];
        let sm = &d.results["anderson_darling"]["statsmodels"];
        let got = got.unwrap();
        let a2 = sc["statistic"].as_f64().unwrap();
        let (srtol, prtol) = if d.name == "offset60" {
            (OFFSET60_RTOL, OFFSET60_RTOL)
        } else {
            (STAT_RTOL, P_RTOL)
        };
        assert_close(
            &format!("{what} A² (scipy)"),
            got.statistic,
            a2,
            srtol,
            STAT_FLOOR,
        );
        // statsmodels computes A² with log(cdf) + log1p(−cdf) instead of logcdf/logsf. Where
        // its A² is finite it agrees with scipy's and its p-value is the reference. Where a
        // standardised value exceeds ~8.3, cdf rounds to 1 and statsmodels reports A² = inf,
        // p = 0; the reference p is then the same D'Agostino–Stephens formula applied to
        // scipy's finite A² (a transcription in the generator, itself checked against
        // normal_ad on every data set where statsmodels' A² is finite).
        let p = match sm["statistic"].as_f64() {
            Some(a2_sm) => {
                assert_close(
                    &format!("{what} A² (statsmodels)"),
                    got.statistic,
                    a2_sm,
                    srtol.max(1e-9),
                    STAT_FLOOR,
                );
                sm["p_value"].as_f64().unwrap()
            }
            None => {
                assert!(sm["p_value"].as_f64() == Some(0.0), "{what}");
                infinite_sm += 1;
                d.results["anderson_darling"]["dagostino_stephens_p_of_scipy_statistic"]["p_value"]
                    .as_f64()
                    .unwrap()
            }
        };
        assert_close(&format!("{what} p"), got.p_value, p, prtol, 0.0);
        if d.name == "offset60" {
            continue;
        }
        worst_stat = worst_stat.max(rel_err(got.statistic, a2, STAT_FLOOR));
        worst_p = worst_p.max(rel_err(got.p_value, p, 0.0));
        let cv: Vec<f64> = sc["critical_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.critical_values.to_vec(), cv, "{what} critical values");
        let sig: Vec<f64> = sc["significance_levels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.significance_levels.to_vec(), sig, "{what} levels");
        compared += 1;
    }
    assert!(compared >= 20);
    eprintln!(
        "anderson_darling: {compared} data sets, worst relative error A² {worst_stat:.1e}, p {worst_p:.1e}"
    );
    // t5_2000 and lognormal300_extreme: the only data sets where statsmodels overflows.
    assert_eq!(infinite_sm, 2);
}

#[test]
fn anderson_darling_covers_every_p_value_branch() {
    // The committed data must exercise all five branches of the D'Agostino–Stephens formula,
    // or the comparison above would not test them.
    let mut seen = [false; 5];
    for d in datasets() {
        if let Ok(r) = anderson_darling(&d.x) {
            let n = d.x.len() as f64;
            let aa = r.statistic * (1.0 + 0.75 / n + 2.25 / (n * n));
            let b = [0.2, 0.34, 0.6, 13.0].iter().filter(|&&c| aa >= c).count();
            seen[b] = true;
        }
    }
    assert_eq!(seen, [true; 5]);
}

#[test]
fn lilliefors_against_statsmodels_approx() {
    check_all("lilliefors(approx)", 4, &[], lilliefors, |r| {
        &r["lilliefors_approx"]
    });
}

#[test]
fn lilliefors_against_statsmodels_table() {
    check_all(
        "lilliefors(table)",
        4,
        &[],
        |x| lilliefors_with(x, LillieforsPValue::Table),
        |r| &r["lilliefors_table"],
    );
}

#[test]
fn lilliefors_table_equals_statsmodels() {
    let r = reference();
    let t = &r["lilliefors_table"];
    let to_vec = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (alpha, size, crit) = lilliefors_table_for_tests();
    assert_eq!(alpha, to_vec(&t["alpha"]));
    assert_eq!(size, to_vec(&t["size"]));
    let want: Vec<Vec<f64>> = t["crit_table"]
        .as_array()
        .unwrap()
        .iter()
        .map(to_vec)
        .collect();
    assert_eq!(crit, want);
    for (n, cv) in t["asymptotic_at"].as_object().unwrap() {
        let n: usize = n.parse().unwrap();
        let got = lilliefors_critical_values_for_tests(n);
        for (g, w) in got.iter().zip(to_vec(cv)) {
            assert_close(&format!("asymptotic cv at n = {n}"), *g, w, 1e-14, 0.0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Edge cases: typed errors, never a panic.

type Test = fn(&[f64]) -> Result<TestResult, StatsError>;

fn ad(x: &[f64]) -> Result<TestResult, StatsError> {
    anderson_darling(x).map(|r| TestResult {
        statistic: r.statistic,
        p_value: r.p_value,
    })
}

fn lillie_table(x: &[f64]) -> Result<TestResult, StatsError> {
    lilliefors_with(x, LillieforsPValue::Table)
}

/// (name, function, minimum n)
const ALL: [(&str, Test, usize); 9] = [
    ("skewtest", skewtest, 8),
    ("kurtosistest", kurtosistest, 5),
    ("dagostino_pearson", dagostino_pearson, 8),
    ("jarque_bera", jarque_bera, 2),
    ("shapiro_wilk", shapiro_wilk, 3),
    ("anderson_darling", ad, 8),
    ("lilliefors", lilliefors, 4),
    ("lilliefors_table", lillie_table, 4),
    (
        "lilliefors_dw",
        |x| lilliefors_with(x, LillieforsPValue::DallalWilkinson),
        4,
    ),
];

fn sample(n: usize) -> Vec<f64> {
    // A fixed, non-degenerate sample: a deterministic sequence with no ties.
    (0..n)
        .map(|i| ((i * 7919) % 101) as f64 + 0.01 * i as f64)
        .collect()
}

#[test]
fn below_minimum_sample_size_is_too_few_samples() {
    for (name, f, min) in ALL {
        for n in 0..min {
            let got = f(&sample(n));
            assert!(
                matches!(got, Err(StatsError::TooFewSamples { needed, got, .. })
                    if needed == min && got == n),
                "{name} at n = {n}: {got:?}"
            );
        }
        assert!(f(&sample(min)).is_ok(), "{name} at its minimum n = {min}");
    }
}

#[test]
fn nan_and_infinity_are_non_finite() {
    for (name, f, _) in ALL {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut x = sample(30);
            x[17] = bad;
            assert_eq!(f(&x), Err(StatsError::NonFinite), "{name} with {bad}");
        }
    }
}

#[test]
fn constant_and_near_constant_data_are_zero_variance() {
    for (name, f, _) in ALL {
        for x in [
            vec![3.5; 40],
            vec![0.1; 40],
            vec![-1e300; 40],
            vec![0.0; 40],
        ] {
            assert_eq!(f(&x), Err(StatsError::ZeroVariance), "{name} on {:?}", x[0]);
        }
    }
    // One ulp of spread at 1e6 is rounding noise for the moment-based tests (scipy's rule);
    // Shapiro–Wilk works on exactly shifted data and can still rank it.
    let mut x = vec![1e6; 40];
    x[3] = f64::from_bits(1e6_f64.to_bits() + 1);
    for (name, f, _) in ALL {
        if name != "shapiro_wilk" {
            assert_eq!(f(&x), Err(StatsError::ZeroVariance), "{name}");
        }
    }
    let sw = shapiro_wilk(&x).unwrap();
    assert!(sw.statistic > 0.0 && sw.statistic < 0.5 && sw.p_value < 1e-6);
}

#[test]
fn shapiro_wilk_refuses_more_than_5000() {
    let x = sample(5001);
    assert_eq!(
        shapiro_wilk(&x),
        Err(StatsError::TooManySamples {
            test: "shapiro_wilk",
            max: 5000,
            got: 5001
        })
    );
    assert!(shapiro_wilk(&x[..5000]).is_ok());
}

#[test]
fn all_ties_but_one_value_still_gives_finite_results() {
    // Two distinct values (heavy ties): every test must give a finite statistic and a p-value
    // in [0, 1], or a typed error, never a panic.
    let mut x = vec![1.0; 30];
    x.extend(vec![2.0; 10]);
    for (name, f, _) in ALL {
        match f(&x) {
            Ok(r) => {
                assert!(r.statistic.is_finite(), "{name}");
                assert!((0.0..=1.0).contains(&r.p_value), "{name}: {}", r.p_value);
            }
            Err(e) => panic!("{name}: unexpected error {e}"),
        }
    }
}

#[test]
fn extreme_outlier_gives_finite_anderson_darling() {
    // With n = 5000 and one value 1e6 standard deviations out, w ≈ 70 and Φ(−w) underflows;
    // the log-tail functions keep A² finite (scipy: finite, via log_ndtr).
    let mut x = sample(5000);
    x[0] = 1e9;
    let r = anderson_darling(&x).unwrap();
    assert!(r.statistic.is_finite() && r.statistic > 100.0);
    assert_eq!(r.p_value, 0.0);
}

// ---------------------------------------------------------------------------------------------
// Properties: invariance under location, positive scale and permutation; ranges of the
// statistics; p-values in [0, 1]. Failing cases are saved by proptest under
// proptest-regressions/stats_normality.txt (committed).

mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::FileFailurePersistence;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, LogNormal, StandardNormal, StudentT};

    /// Everything the property tests look at, for one sample.
    #[derive(Debug)]
    struct All {
        sw: TestResult,
        ad: sgd_ou::stats::normality::AndersonDarling,
        skew: TestResult,
        kurt: TestResult,
        k2: TestResult,
        jb: TestResult,
        lf: TestResult,
        lf_table: TestResult,
    }

    fn all(x: &[f64]) -> Result<All, StatsError> {
        Ok(All {
            sw: shapiro_wilk(x)?,
            ad: anderson_darling(x)?,
            skew: skewtest(x)?,
            kurt: kurtosistest(x)?,
            k2: dagostino_pearson(x)?,
            jb: jarque_bera(x)?,
            lf: lilliefors(x)?,
            lf_table: lilliefors_with(x, LillieforsPValue::Table)?,
        })
    }

    fn pairs(a: &All) -> [(&'static str, f64, f64); 8] {
        [
            ("shapiro_wilk", a.sw.statistic, a.sw.p_value),
            ("anderson_darling", a.ad.statistic, a.ad.p_value),
            ("skewtest", a.skew.statistic, a.skew.p_value),
            ("kurtosistest", a.kurt.statistic, a.kurt.p_value),
            ("dagostino_pearson", a.k2.statistic, a.k2.p_value),
            ("jarque_bera", a.jb.statistic, a.jb.p_value),
            ("lilliefors", a.lf.statistic, a.lf.p_value),
            ("lilliefors_table", a.lf_table.statistic, a.lf_table.p_value),
        ]
    }

    /// Samples of 8..300 values (every test applies from n = 8) of several shapes, with a
    /// random scale 1e-3..1e3 and a location of up to 1000 scales, some rounded to create
    /// ties.
    ///
    /// Locations are bounded relative to the scale: the data themselves (scale·(loc + z)) are
    /// rounded to ε·|x̄|, so shifting and rescaling them changes the statistics by about
    /// ε·|x̄|/s relative. With |x̄|/s ≲ 2000 that is ~1e-12, far inside the tolerances below.
    /// (The rounding of the *mean* no longer adds to this: `tests/reference/stats_offset.rs`.)
    fn sample() -> impl Strategy<Value = Vec<f64>> {
        (
            any::<u64>(),
            8usize..300,
            0u8..5,
            -1e3..1e3_f64,
            -3.0..3.0_f64,
        )
            .prop_map(|(seed, n, kind, loc_in_scales, log_scale)| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let scale = 10f64.powf(log_scale);
                let t3 = StudentT::new(3.0).unwrap();
                let ln = LogNormal::new(0.0, 0.8).unwrap();
                (0..n)
                    .map(|_| {
                        let z: f64 = match kind {
                            0 | 4 => StandardNormal.sample(&mut rng),
                            1 => t3.sample(&mut rng),
                            2 => ln.sample(&mut rng),
                            _ => {
                                let u: f64 = StandardNormal.sample(&mut rng);
                                u + if u > 0.0 { 2.0 } else { -2.0 }
                            }
                        };
                        // kind 4: rounded to one decimal, so ties are common.
                        let z = if kind == 4 {
                            (z * 10.0).round() / 10.0
                        } else {
                            z
                        };
                        scale * (loc_in_scales + z)
                    })
                    .collect()
            })
    }

    /// |a − b| ≤ 1e-8·(1 + |a|) for statistics; for p-values 1e-6 relative or 1e-10 absolute.
    fn stat_close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-8 * (1.0 + a.abs())
    }

    fn p_close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * a.abs().max(b.abs()) + 1e-10
    }

    fn assert_same(what: &str, a: &All, b: &All) -> Result<(), TestCaseError> {
        for ((name, sa, pa), (_, sb, pb)) in pairs(a).into_iter().zip(pairs(b)) {
            prop_assert!(stat_close(sa, sb), "{what}: {name} statistic {sa} vs {sb}");
            prop_assert!(p_close(pa, pb), "{what}: {name} p-value {pa} vs {pb}");
        }
        prop_assert_eq!(a.ad.critical_values, b.ad.critical_values);
        Ok(())
    }

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 128,
            // Where the brief asks for regressions: proptest-regressions/stats_normality.txt
            // (cargo runs integration tests from the package root).
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
                "proptest-regressions/stats_normality.txt",
            ))),
            ..ProptestConfig::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn invariant_under_location_scale_and_permutation(
            x in sample(),
            shift_in_scales in -1e3..1e3_f64,
            log_scale in -3.0..3.0_f64,
            perm_seed in any::<u64>(),
        ) {
            let base = all(&x);
            // A sample with a typed error (none expected from `sample()`) says nothing here.
            prop_assume!(base.is_ok(), "{:?}", base.as_ref().err());
            let base = base.unwrap();
            let scale = 10f64.powf(log_scale);
            // The shift is measured in (new) standard deviations, as the location above.
            let sd = sgd_ou::stats::descriptive::Moments::new(&x).variance().sqrt() * scale;
            let shift = shift_in_scales * sd;
            let moved: Vec<f64> = x.iter().map(|v| v * scale + shift).collect();
            assert_same("location/scale", &base, &all(&moved).unwrap())?;

            let mut shuffled = x.clone();
            let mut rng = ChaCha8Rng::seed_from_u64(perm_seed);
            // Fisher–Yates with the seeded generator.
            for i in (1..shuffled.len()).rev() {
                let j = (rand::Rng::next_u64(&mut rng) % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            assert_same("permutation", &base, &all(&shuffled).unwrap())?;
        }

        #[test]
        fn statistics_and_p_values_stay_in_range(x in sample()) {
            let a = all(&x);
            prop_assume!(a.is_ok(), "{:?}", a.as_ref().err());
            let a = a.unwrap();
            for (name, s, p) in pairs(&a) {
                prop_assert!(s.is_finite(), "{name}: statistic {s}");
                prop_assert!((0.0..=1.0).contains(&p), "{name}: p = {p}");
            }
            let n = x.len() as f64;
            prop_assert!(a.sw.statistic > 0.0 && a.sw.statistic <= 1.0, "W = {}", a.sw.statistic);
            prop_assert!(a.ad.statistic > 0.0, "A² = {}", a.ad.statistic);
            prop_assert!(a.k2.statistic >= 0.0 && a.jb.statistic >= 0.0);
            // D is at least 1/(2n) (the EDF jumps by 1/n) and below 1.
            prop_assert!(a.lf.statistic >= 0.5 / n && a.lf.statistic < 1.0, "D = {}", a.lf.statistic);
            prop_assert_eq!(a.lf.statistic, a.lf_table.statistic);
            // The table p-value is clipped to [0.001, 0.99] as in statsmodels.
            prop_assert!(a.lf_table.p_value >= 0.000_999 && a.lf_table.p_value <= 0.99);
            // K² is the sum of the squared component statistics.
            let k2 = a.skew.statistic.powi(2) + a.kurt.statistic.powi(2);
            prop_assert!((a.k2.statistic - k2).abs() <= 1e-12 * (1.0 + k2));
            // Critical values increase as the significance level falls.
            prop_assert!(a.ad.critical_values.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
