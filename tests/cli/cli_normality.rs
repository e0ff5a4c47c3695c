//! `sgd-ou stats normality FILE.npy [--json]` end to end: the binary is run on .npy files
//! written to a temporary directory, and its JSON is compared with the reference values of
//! `tests/reference/univariate.json` (scipy 1.17.1 / statsmodels 0.15.0) at the tolerances of
//! `tests/reference/stats_normality.rs`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use sgd_ou::run::npy::write_f64;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
        .args(["stats", "normality"])
        .args(args)
        .output()
        .expect("the binary runs")
}

fn reference_set(name: &str) -> (Vec<f64>, Value) {
    let r: Value =
        serde_json::from_str(include_str!("../reference/univariate.json")).expect("valid JSON");
    let d = r["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap()
        .clone();
    let x = d["x"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    (x, d["results"].clone())
}

fn close(got: &Value, want: f64, rtol: f64) {
    let g = got
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {got}"));
    assert!(
        (g - want).abs() <= rtol * want.abs().max(1e-3),
        "got {g:e}, reference {want:e}"
    );
}

fn json_of(path: &Path) -> Value {
    json_with_code(path, 0)
}

/// JSON output of a run that must end with exit code `code` (3 when a test was skipped).
fn json_with_code(path: &Path, code: i32) -> Value {
    let out = run(&[path.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// Checks one column's five tests against the reference record of its data set.
fn check_column(col: &Value, refs: &Value, n: usize) {
    assert_eq!(col["n"], n);
    let t = &col["tests"];
    let pairs = [
        ("shapiro_wilk", &refs["shapiro_wilk"]),
        ("dagostino_pearson", &refs["dagostino_pearson"]),
        ("jarque_bera", &refs["jarque_bera"]),
        ("lilliefors", &refs["lilliefors_approx"]),
    ];
    for (key, r) in pairs {
        close(
            &t[key]["statistic"],
            r["statistic"].as_f64().unwrap(),
            1e-10,
        );
        close(&t[key]["p_value"], r["p_value"].as_f64().unwrap(), 1e-9);
    }
    let ad = &t["anderson_darling"];
    let sc = &refs["anderson_darling"]["scipy"];
    close(&ad["statistic"], sc["statistic"].as_f64().unwrap(), 1e-10);
    close(
        &ad["p_value"],
        refs["anderson_darling"]["statsmodels"]["p_value"]
            .as_f64()
            .unwrap(),
        1e-9,
    );
    assert_eq!(ad["critical_values"], sc["critical_values"]);
    assert_eq!(ad["significance_levels"], sc["significance_levels"]);
    assert_eq!(col["skipped"], Value::Object(Default::default()));
}

#[test]
fn two_d_array_is_tested_column_by_column_with_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (a, ra) = reference_set("normal50");
    let (b, rb) = reference_set("lognormal50");
    let n = a.len();
    let mut data = Vec::with_capacity(2 * n);
    for i in 0..n {
        data.push(a[i]);
        data.push(b[i]);
    }
    let path = dir.path().join("two.npy");
    write_f64(&path, &[n, 2], &data).unwrap();

    let v = json_of(&path);
    let cols = v["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 2);
    assert_eq!(cols[0]["index"], 0);
    assert_eq!(cols[1]["index"], 1);
    check_column(&cols[0], &ra, n);
    check_column(&cols[1], &rb, n);
    // Keys in the documented order.
    let keys: Vec<&String> = cols[0]["tests"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "shapiro_wilk",
            "anderson_darling",
            "dagostino_pearson",
            "jarque_bera",
            "lilliefors"
        ]
    );
}

#[test]
fn one_d_array_is_one_column() {
    let dir = tempfile::tempdir().unwrap();
    let (x, r) = reference_set("t3_200");
    let path = dir.path().join("one.npy");
    write_f64(&path, &[x.len()], &x).unwrap();
    let v = json_of(&path);
    let cols = v["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 1);
    check_column(&cols[0], &r, x.len());
}

#[test]
fn tests_that_cannot_run_are_skipped_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    // n = 5: Shapiro-Wilk (n >= 3), Jarque-Bera (n >= 2) and Lilliefors (n >= 4) run;
    // Anderson-Darling and K² need n >= 8.
    let (x, r) = reference_set("n5");
    let path = dir.path().join("small.npy");
    write_f64(&path, &[5], &x).unwrap();
    let v = json_with_code(&path, 3);
    let col = &v["columns"][0];
    let tests: Vec<&String> = col["tests"].as_object().unwrap().keys().collect();
    assert_eq!(tests, ["shapiro_wilk", "jarque_bera", "lilliefors"]);
    close(
        &col["tests"]["shapiro_wilk"]["statistic"],
        r["shapiro_wilk"]["statistic"].as_f64().unwrap(),
        1e-10,
    );
    let skipped = col["skipped"].as_object().unwrap();
    assert_eq!(
        skipped["anderson_darling"],
        "anderson_darling needs at least 8 observations, got 5"
    );
    assert_eq!(
        skipped["dagostino_pearson"],
        "dagostino_pearson needs at least 8 observations, got 5"
    );
    assert_eq!(skipped.len(), 2);

    // A constant column: every test is skipped as zero variance.
    let path = dir.path().join("const.npy");
    write_f64(&path, &[10, 1], &[4.0; 10]).unwrap();
    let v = json_with_code(&path, 3);
    let col = &v["columns"][0];
    assert_eq!(col["tests"], Value::Object(Default::default()));
    let skipped = col["skipped"].as_object().unwrap();
    assert_eq!(skipped.len(), 5);
    assert!(skipped
        .values()
        .all(|s| s == "all observations are equal (zero variance)"));
}

#[test]
fn table_output_lists_every_test() {
    let dir = tempfile::tempdir().unwrap();
    let (x, _) = reference_set("hand20");
    let path = dir.path().join("hand.npy");
    write_f64(&path, &[x.len()], &x).unwrap();
    let out = run(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for label in [
        "Shapiro-Wilk W",
        "Anderson-Darling A2",
        "critical values",
        "D'Agostino-Pearson K2",
        "Jarque-Bera JB",
        "Lilliefors D",
        "column 0 (n = 20)",
    ] {
        assert!(text.contains(label), "missing {label:?} in:\n{text}");
    }
    // scipy: W = 0.9829940989808722, p = 0.9666642663400247 (printed as verify prints them).
    assert!(text.contains("0.9830") && text.contains("0.967"), "{text}");
}

#[test]
fn bad_input_exits_2_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.npy");
    let out = run(&[missing.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.npy"), "{err}");

    let cube = dir.path().join("cube.npy");
    write_f64(&cube, &[2, 2, 2], &[0.0; 8]).unwrap();
    let out = run(&[cube.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cube.npy"), "{err}");

    let nan = dir.path().join("nan.npy");
    write_f64(&nan, &[3], &[1.0, f64::NAN, 2.0]).unwrap();
    let out = run(&[nan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nan.npy") && err.contains("non-finite"),
        "{err}"
    );
}
