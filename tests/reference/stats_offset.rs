//! Moment-based statistics on ill-conditioned but valid data: a large offset (10⁶ and 10⁸ plus
//! N(0, 1)) or a tiny scale (10⁻⁶·N(0, 1)), against 60-digit mpmath values.
//!
//! The reference values come from `tests/reference/offset.json`, written by
//! `tests/reference/generate_offset.py` (mpmath 1.3.0 at 60 digits on the exact f64 data, which
//! the file stores as shortest round-trip decimal strings; the formula behind every value is
//! recorded beside it, and scipy 1.17.1's own value for comparison). No Python is needed here.
//!
//! Tolerance: 1e-12 relative for every statistic, moment and p-value (applied to
//! max(|reference|, 1e-3) for statistics, as in `tests/reference/stats_normality.rs`). A naive mean
//! misses this by four orders of magnitude on `offset_1e8` (scipy, which forms the mean with
//! numpy's pairwise sum, is off by 1.4e-7 in A² and 2.0e-7 in K² there; see
//! `scipy_itself_misses_the_bound`).

use serde_json::Value;
use sgd_ou::stats::descriptive::{covariance_matrix, Moments};
use sgd_ou::stats::normality::{
    anderson_darling, dagostino_pearson, jarque_bera, kurtosistest, lilliefors, skewtest,
};

const RTOL: f64 = 1e-12;
const FLOOR: f64 = 1e-3;

struct Dataset {
    name: String,
    x: Vec<f64>,
    r: Value,
}

fn datasets() -> Vec<Dataset> {
    let v: Value = serde_json::from_str(include_str!("offset.json")).expect("valid offset.json");
    v["datasets"]
        .as_array()
        .expect("datasets array")
        .iter()
        .map(|d| Dataset {
            name: d["name"].as_str().unwrap().to_string(),
            x: d["x"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().parse::<f64>().unwrap())
                .collect(),
            r: d["results"].clone(),
        })
        .collect()
}

fn rel_err(got: f64, want: f64, floor: f64) -> f64 {
    if got == want {
        return 0.0;
    }
    (got - want).abs() / want.abs().max(floor)
}

fn check(what: &str, got: f64, want: &Value, floor: f64) -> f64 {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: no reference"));
    let e = rel_err(got, want, floor);
    assert!(
        e <= RTOL,
        "{what}: got {got:e}, mpmath {want:e}, relative error {e:e} > {RTOL:e}"
    );
    e
}

#[test]
fn there_are_offset_and_tiny_scale_cases() {
    let names: Vec<String> = datasets().into_iter().map(|d| d.name).collect();
    for want in ["offset_1e6", "offset_1e8", "tiny_1e-6"] {
        assert!(names.iter().any(|n| n == want), "missing {want}");
    }
}

#[test]
fn moments_match_60_digit_values() {
    for d in datasets() {
        let m = Moments::new(&d.x);
        let w = |k: &str| &d.r[k]["value"];
        let name = &d.name;
        check(&format!("{name} mean"), m.mean, w("mean"), 0.0);
        check(&format!("{name} m2"), m.m2, w("m2"), 0.0);
        check(
            &format!("{name} skewness"),
            m.skewness(),
            w("skewness"),
            FLOOR,
        );
        let g2 = m.excess_kurtosis();
        check(&format!("{name} kurtosis"), g2, w("excess_kurtosis"), FLOOR);
        // The covariance matrix of the single column is the unbiased variance.
        let col = nalgebra::DMatrix::from_column_slice(d.x.len(), 1, &d.x);
        let s = covariance_matrix(&col)[(0, 0)];
        let n = d.x.len() as f64;
        let want = serde_json::json!(w("m2").as_f64().unwrap() * n / (n - 1.0));
        check(&format!("{name} covariance"), s, &want, 0.0);
    }
}

#[test]
fn normality_statistics_match_60_digit_values() {
    let mut worst = 0.0_f64;
    for d in datasets() {
        let x = &d.x;
        let cases = [
            ("skewtest", skewtest(x).unwrap()),
            ("kurtosistest", kurtosistest(x).unwrap()),
            ("dagostino_pearson", dagostino_pearson(x).unwrap()),
            ("jarque_bera", jarque_bera(x).unwrap()),
        ];
        for (key, got) in cases {
            let rec = &d.r[key];
            let what = format!("{} {key}", d.name);
            worst = worst.max(check(&what, got.statistic, &rec["statistic"], FLOOR));
            worst = worst.max(check(
                &format!("{what} p"),
                got.p_value,
                &rec["p_value"],
                0.0,
            ));
        }
        let ad = anderson_darling(x).unwrap();
        let rec = &d.r["anderson_darling"];
        let what = format!("{} anderson_darling", d.name);
        worst = worst.max(check(&what, ad.statistic, &rec["statistic"], FLOOR));
        worst = worst.max(check(
            &format!("{what} p"),
            ad.p_value,
            &rec["p_value"],
            0.0,
        ));
        let lf = lilliefors(x).unwrap();
        let what = format!("{} lilliefors", d.name);
        worst = worst.max(check(
            &what,
            lf.statistic,
            &d.r["lilliefors"]["statistic"],
            FLOOR,
        ));
    }
    eprintln!("worst relative error against mpmath: {worst:e}");
}

/// The data really are hard: scipy's own K² and A² miss the bound on `offset_1e8`, so the test
/// above would fail for an implementation with scipy's accuracy.
#[test]
fn scipy_itself_misses_the_bound() {
    let d = datasets()
        .into_iter()
        .find(|d| d.name == "offset_1e8")
        .unwrap();
    for key in ["dagostino_pearson", "anderson_darling", "skewtest"] {
        let rec = &d.r[key];
        let (exact, scipy) = (
            rec["statistic"].as_f64().unwrap(),
            rec["scipy"].as_f64().unwrap(),
        );
        assert!(
            rel_err(scipy, exact, FLOOR) > 1e3 * RTOL,
            "{key}: scipy {scipy} vs {exact}"
        );
    }
}
