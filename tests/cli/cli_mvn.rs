//! The `stats mvn` and `stats cov-equal` subcommands: JSON keys, agreement with the library,
//! determinism for a seed, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;
use serde_json::Value;
use sgd_ou::rng;
use sgd_ou::run::npy;
use sgd_ou::stats::covariance::box_m;
use sgd_ou::stats::mvn::{henze_zirkler, mardia};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
}

fn normal(n: usize, d: usize, label: &str) -> DMatrix<f64> {
    let mut r = rng::stream(1, label);
    DMatrix::from_fn(n, d, |_, _| r.sample::<f64, _>(StandardNormal))
}

/// Writes `x` as a C-order (n, d) float64 .npy file.
fn write(dir: &Path, name: &str, x: &DMatrix<f64>) -> PathBuf {
    let path = dir.join(name);
    let (n, d) = x.shape();
    let data: Vec<f64> = (0..n)
        .flat_map(|i| (0..d).map(move |j| x[(i, j)]))
        .collect();
    npy::write_f64(&path, &[n, d], &data).unwrap();
    path
}

fn run(args: &[&str]) -> (i32, Value, Output) {
    let out = bin().args(args).output().unwrap();
    let code = out.status.code().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, v, out)
}

fn has_statistic_and_p(v: &Value, key: &str) {
    let o = v[key]
        .as_object()
        .unwrap_or_else(|| panic!("missing key {key}: {v}"));
    assert!(o.contains_key("statistic"), "{key} has no statistic");
    assert!(o.contains_key("p_value"), "{key} has no p_value");
}

#[test]
fn mvn_json_keys_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let x = normal(120, 3, "cli-mvn");
    let f = write(dir.path(), "x.npy", &x);
    let (code, v, out) = run(&[
        "stats",
        "mvn",
        f.to_str().unwrap(),
        "--json",
        "--mc-draws",
        "19",
    ]);
    for key in [
        "henze_zirkler",
        "mardia_skewness",
        "mardia_kurtosis",
        "projection",
    ] {
        has_statistic_and_p(&v, key);
    }
    assert_eq!(v["n"], 120);
    assert_eq!(v["d"], 3);
    // The numbers are the library's.
    let hz = henze_zirkler(&x).unwrap();
    let m = mardia(&x).unwrap();
    assert_eq!(
        v["henze_zirkler"]["statistic"].as_f64().unwrap(),
        hz.statistic
    );
    assert_eq!(v["henze_zirkler"]["p_value"].as_f64().unwrap(), hz.p_value);
    assert_eq!(
        v["mardia_skewness"]["p_value"].as_f64().unwrap(),
        m.skewness.p_value
    );
    assert_eq!(
        v["mardia_kurtosis"]["statistic"].as_f64().unwrap(),
        m.kurtosis.statistic
    );
    let mc = v["henze_zirkler"]["p_value_monte_carlo"].as_f64().unwrap();
    assert!(mc > 0.0 && mc <= 1.0 && ((mc * 20.0).round() - mc * 20.0).abs() < 1e-12);
    // The projection test is computed when the univariate test is available; otherwise it is
    // reported as inconclusive with the reason, and the exit code says so.
    let proj = &v["projection"];
    if proj["p_value"].is_number() {
        assert_eq!(proj["directions"], 16);
        assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    } else {
        assert!(proj["inconclusive"].is_string());
        assert_eq!(code, 3);
    }
    assert_eq!(proj["combination"], "Holm");
}

#[test]
fn mvn_output_is_deterministic_for_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "x.npy", &normal(80, 4, "cli-det"));
    let a = bin()
        .args(["stats", "mvn", f.to_str().unwrap(), "--json", "--seed", "5"])
        .output()
        .unwrap();
    let b = bin()
        .args(["stats", "mvn", f.to_str().unwrap(), "--json", "--seed", "5"])
        .output()
        .unwrap();
    assert_eq!(a.stdout, b.stdout);
    assert!(!a.stdout.is_empty());
    let t = bin()
        .args(["stats", "mvn", f.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(t.stdout).unwrap();
    assert!(text.contains("henze_zirkler") && text.contains("projection"));
}

#[test]
fn mvn_degenerate_dimension_is_inconclusive_not_a_p_value() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "x.npy", &normal(10, 12, "cli-deg"));
    let (code, v, _) = run(&["stats", "mvn", f.to_str().unwrap(), "--json"]);
    assert_eq!(code, 3);
    for key in ["henze_zirkler", "mardia_skewness", "mardia_kurtosis"] {
        assert!(v[key]["p_value"].is_null(), "{key}");
        assert!(v[key]["inconclusive"].as_str().unwrap().contains("n − 1"));
    }
}

#[test]
fn mvn_bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.npy");
    npy::write_f64(&path, &[5], &[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    let (code, _, out) = run(&["stats", "mvn", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("2-D array"));
    let (code, _, _) = run(&["stats", "mvn", "/nonexistent/file.npy"]);
    assert_eq!(code, 2);
}

#[test]
fn cov_equal_json_keys_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let a = normal(60, 3, "cli-cov-a");
    let b = normal(70, 3, "cli-cov-b") * 1.2;
    let fa = write(dir.path(), "a.npy", &a);
    let fb = write(dir.path(), "b.npy", &b);
    let (code, v, out) = run(&[
        "stats",
        "cov-equal",
        fa.to_str().unwrap(),
        fb.to_str().unwrap(),
        "--json",
        "--permutations",
        "99",
    ]);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let bm = &v["box_m"];
    for key in [
        "statistic",
        "chi2",
        "dof",
        "p_value",
        "f_statistic",
        "f_p_value",
    ] {
        assert!(bm[key].is_number(), "box_m.{key}: {bm}");
    }
    let want = box_m(&[a, b]).unwrap();
    assert_eq!(bm["chi2"].as_f64().unwrap(), want.chi2);
    assert_eq!(bm["f_p_value"].as_f64().unwrap(), want.f_p_value.unwrap());
    has_statistic_and_p(&v, "studentized_permutation");
    let p = v["studentized_permutation"]["p_value"].as_f64().unwrap();
    assert!(p > 0.0 && p <= 1.0);
    assert_eq!(v["studentized_permutation"]["permutations"], 99);
    let e = &v["effect_sizes"][0];
    assert!(e["relative_frobenius"].as_f64().unwrap() > 0.0);
    assert_eq!(e["principal_angles_rad"].as_array().unwrap().len(), 3);
}

#[test]
fn cov_equal_rejects_mismatched_dimensions() {
    let dir = tempfile::tempdir().unwrap();
    let fa = write(dir.path(), "a.npy", &normal(20, 3, "m-a"));
    let fb = write(dir.path(), "b.npy", &normal(20, 4, "m-b"));
    let (code, _, out) = run(&[
        "stats",
        "cov-equal",
        fa.to_str().unwrap(),
        fb.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("same d"));
}
