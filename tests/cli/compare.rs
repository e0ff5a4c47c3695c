//! `sgd-ou compare`: the OLS behind the scaling laws against statsmodels, and the laws on
//! simulated ε/S grids whose truth is known — a grid that follows the OU model passes, a grid
//! whose per-example noise grows with S (so the minibatch noise does not scale as 1/S) fails —
//! plus the refusal of runs that differ in another field, the verification cache and
//! byte-identical JSON across invocations and thread counts.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use sgd_ou::checks::Verdict;
use sgd_ou::compare::{compare, CompareOptions};
use sgd_ou::simulate::{simulate, Scenario, SimConfig};
use sgd_ou::stats::regression::ols;

fn sgd_ou(args: &[&str], threads: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sgd-ou"));
    c.args(args);
    if let Some(t) = threads {
        c.env("RAYON_NUM_THREADS", t);
    }
    c.output().expect("the sgd-ou binary runs")
}

// ---------------------------------------------------------------------------------------------
// OLS against statsmodels (tests/reference/compare.json, tests/reference/generate_compare.py)

#[derive(Deserialize)]
struct OlsCase {
    name: String,
    call: String,
    y: Vec<f64>,
    x: Vec<Vec<f64>>,
    level: f64,
    params: Vec<f64>,
    bse: Vec<f64>,
    conf_int: Vec<[f64; 2]>,
    tvalues: Vec<f64>,
    pvalues: Vec<f64>,
    rsquared: f64,
    df_resid: usize,
    sigma2: f64,
}

#[derive(Deserialize)]
struct PieceCase {
    estimate: f64,
    se: f64,
    df: f64,
    tolerance: f64,
    p_fail: f64,
    p_pass: f64,
}

#[derive(Deserialize)]
struct Reference {
    ols: Vec<OlsCase>,
    slope_pieces: Vec<PieceCase>,
}

fn reference() -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/compare.json");
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-12 + 1e-9 * b.abs(),
        "{what}: sgd-ou {a} vs statsmodels {b}"
    );
}

#[test]
fn ols_matches_statsmodels() {
    let r = reference();
    assert!(r.ols.len() >= 4);
    for c in &r.ols {
        let cols: Vec<&[f64]> = c.x.iter().map(|v| v.as_slice()).collect();
        let f = ols(&c.y, &cols).unwrap();
        let w = |s: &str| format!("{} {s} ({})", c.name, c.call);
        assert_eq!(f.df_resid, c.df_resid, "{}", w("df_resid"));
        close(f.sigma2, c.sigma2, &w("sigma2"));
        close(f.r_squared.unwrap(), c.rsquared, &w("rsquared"));
        for j in 0..c.params.len() {
            close(f.coef[j], c.params[j], &w("params"));
            close(f.se[j], c.bse[j], &w("bse"));
            let (lo, hi) = f.conf_int(j, c.level);
            close(lo, c.conf_int[j][0], &w("conf_int lo"));
            close(hi, c.conf_int[j][1], &w("conf_int hi"));
            let t = f.t_test(j, 0.0);
            close(t.statistic, c.tvalues[j], &w("tvalues"));
            close(t.p_value, c.pvalues[j], &w("pvalues"));
        }
    }
}

/// The compare verdict's pieces: fail test and TOST p-values against scipy.stats.t.sf.
#[test]
fn slope_pieces_match_scipy() {
    let r = reference();
    assert!(r.slope_pieces.len() >= 4);
    for c in &r.slope_pieces {
        let p = sgd_ou::compare::scaling::slope_piece("x", c.estimate, c.se, c.df, c.tolerance);
        let w = format!("e = {}, se = {}, df = {}", c.estimate, c.se, c.df);
        close(p.p_fail.unwrap(), c.p_fail, &format!("{w} p_fail"));
        close(p.p_pass.unwrap(), c.p_pass, &format!("{w} p_pass"));
    }
}

// ---------------------------------------------------------------------------------------------
// simulated grids

const EPS: [f64; 3] = [0.01, 0.04, 0.16];
const BATCH: [usize; 2] = [4, 128];

/// The quadratic-gaussian scenario at (ε, S) (ε·λ_max up to 0.48, where the discrete Lyapunov
/// prediction is still exact), with 7,000 trajectory steps: at ε = 0.01 the slowest mode
/// (relaxation time 1/(ε λ_min) = 100 steps) gives some 35 independent excursions. Wide
/// ranges of ε and S spread the predictions over a factor of ~500, so that the slope is pinned
/// to a few percent.
fn grid_config(eps: f64, s: usize, exponent: Option<f64>) -> SimConfig {
    let mut c = SimConfig::default_for(Scenario::QuadraticGaussian);
    c.learning_rate = eps;
    c.batch_size = s;
    c.checkpoints = 8;
    c.checkpoint_spacing = 1000;
    c.noise_batch_exponent = exponent;
    c
}

/// Writes the 3 × 2 grid under `root` (one seed per run); returns the run directories.
fn grid(root: &Path, exponent: Option<f64>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for (i, &e) in EPS.iter().enumerate() {
        for (j, &s) in BATCH.iter().enumerate() {
            let dir = root.join(format!("eps{e}_s{s}"));
            let seed = 100 + (i * BATCH.len() + j) as u64;
            simulate(
                Scenario::QuadraticGaussian,
                &grid_config(e, s, exponent),
                seed,
                &dir,
            )
            .unwrap();
            dirs.push(dir);
        }
    }
    dirs
}

fn strs(dirs: &[PathBuf]) -> Vec<&str> {
    dirs.iter().map(|d| d.to_str().unwrap()).collect()
}

/// The model-following grid passes through the CLI with --out; a second invocation takes every
/// report from the cache (stderr says so, the cache files are not rewritten) and writes
/// byte-identical JSON.
#[test]
fn model_grid_passes_and_is_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = grid(&tmp.path().join("runs"), None);
    let out = tmp.path().join("cmp");
    let mut args = vec!["compare", "--out", out.to_str().unwrap()];
    args.extend(strs(&dirs));
    let first = sgd_ou(&args, None);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("compare verdict: pass"), "{stdout}");
    let json1 = fs::read(out.join("compare.json")).unwrap();
    let c: serde_json::Value = serde_json::from_slice(&json1).unwrap();
    let law = &c["laws"][0];
    assert_eq!(law["name"], "stationary_covariance_slope");
    let [lo, hi] = [
        law["ci"][0].as_f64().unwrap(),
        law["ci"][1].as_f64().unwrap(),
    ];
    assert!(
        lo <= 1.0 && 1.0 <= hi,
        "slope interval [{lo}, {hi}] must contain 1"
    );
    assert!(
        hi - lo < 0.2,
        "slope interval [{lo}, {hi}] too wide to decide"
    );
    assert_eq!(law["verdict"], "pass");
    assert!(law["test"]["p_pass"].as_f64().unwrap() <= 0.05, "{law}");
    assert_eq!(c["laws"][1]["name"], "noise_scale_slope");
    assert_eq!(c["laws"][1]["verdict"], "pass");
    assert_eq!(c["laws"][2]["verdict"], serde_json::Value::Null);
    let vt = &c["verdict_tests"];
    assert_eq!(vt["pieces"].as_array().unwrap().len(), 2, "{vt}");
    assert!(vt["p_pass"].as_f64().unwrap() <= 0.05, "{vt}");
    assert!(fs::read_to_string(out.join("compare.md"))
        .unwrap()
        .contains("## Scaling laws"));
    let svg = fs::read_to_string(out.join("compare.svg")).unwrap();
    assert!(
        svg.contains("<svg"),
        "compare.svg: {}",
        &svg[..svg.len().min(80)]
    );
    assert!(
        stdout.contains("compare.json, compare.md, compare.svg"),
        "{stdout}"
    );

    let caches: Vec<PathBuf> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("verify-cache-")
        })
        .collect();
    assert_eq!(caches.len(), dirs.len());
    let mtimes: Vec<_> = caches
        .iter()
        .map(|p| fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    let second = sgd_ou(&args, None);
    assert_eq!(second.status.code(), Some(0));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("6 of 6 run(s) taken from the cache"), "{err}");
    for (p, m) in caches.iter().zip(&mtimes) {
        assert_eq!(
            &fs::metadata(p).unwrap().modified().unwrap(),
            m,
            "{} rewritten",
            p.display()
        );
    }
    assert_eq!(fs::read(out.join("compare.json")).unwrap(), json1);

    // The library reports the same: nothing verified the second time.
    let opts = CompareOptions {
        cache_dir: Some(out.clone()),
        ..Default::default()
    };
    let o = compare(&dirs, &opts).unwrap();
    assert!(o.verified_now.iter().all(|v| !v));
    assert_eq!(
        sgd_ou::compare::render::json(&o.comparison).into_bytes(),
        json1
    );
}

/// Per-example noise scale ∝ √S: the minibatch noise does not shrink with S. Each run still
/// matches its own Lyapunov prediction, but the noise-scale law fails, and so does compare.
#[test]
fn violating_grid_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = grid(tmp.path(), Some(0.5));
    let o = compare(&dirs, &CompareOptions::default()).unwrap();
    let c = &o.comparison;
    assert!(o.verified_now.iter().all(|v| *v));
    let noise = c
        .laws
        .iter()
        .find(|l| l.name == "noise_scale_slope")
        .unwrap();
    assert_eq!(noise.verdict, Some(Verdict::Fail), "{noise:?}");
    let piece = noise.test.as_ref().unwrap();
    assert!(piece.p_fail.unwrap() <= 0.05 && piece.beyond, "{piece:?}");
    let b = noise.estimate.unwrap();
    assert!(b.abs() < 0.1, "slope {b}: tr C/S should not depend on S");
    let expo = c.laws.iter().find(|l| l.name == "exponents").unwrap();
    assert!(expo.details["batch_observed_lo"] > -0.75, "{expo:?}");
    assert!(expo.details["batch_predicted"].abs() < 0.25, "{expo:?}");
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.verdict_tests.p_fail <= c.alpha, "{:?}", c.verdict_tests);
    assert_eq!(c.exit_code(), 1);
}

/// A grid at the boundary of the tolerance: per-example noise scale ∝ (S/32)^0.05, so tr C ∝
/// S^0.1 and the noise-scale slope is −0.9 = −1 + tolerance. The rule may not pass it (a pass
/// needs the TOST to reject |b + 1| ≥ 0.1, which at the boundary happens at most α of the
/// time); it may be inconclusive or fail.
#[test]
fn boundary_grid_is_not_passed() {
    let tmp = tempfile::tempdir().unwrap();
    let dirs = grid(tmp.path(), Some(0.05));
    let c = compare(&dirs, &CompareOptions::default())
        .unwrap()
        .comparison;
    let noise = c
        .laws
        .iter()
        .find(|l| l.name == "noise_scale_slope")
        .unwrap();
    let b = noise.estimate.unwrap();
    assert!(
        (b + 0.9).abs() < 0.05,
        "slope {b}: the grid is built for −0.9"
    );
    assert_ne!(noise.verdict, Some(Verdict::Pass), "{noise:?}");
    assert!(c.verdict_tests.p_pass > c.alpha, "{:?}", c.verdict_tests);
    assert_ne!(c.verdict, Verdict::Pass);
    // Each run still follows its own Lyapunov prediction.
    let cov = &c.laws[0];
    assert_eq!(cov.name, "stationary_covariance_slope");
    assert_ne!(cov.verdict, Some(Verdict::Fail), "{cov:?}");
}

fn small_run(dir: &Path, eps: f64, curvatures: Vec<f64>, seed: u64) {
    let mut c = SimConfig::default_for(Scenario::QuadraticGaussian);
    c.learning_rate = eps;
    c.curvatures = curvatures;
    c.checkpoints = 4;
    c.checkpoint_spacing = 100;
    simulate(Scenario::QuadraticGaussian, &c, seed, dir).unwrap();
}

/// Runs of different models are refused (exit 2, the field and both values named) unless the
/// field is allowed to differ.
#[test]
fn differing_field_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    small_run(&a, 0.02, vec![1.0, 1.5, 2.0, 3.0], 1);
    small_run(&b, 0.01, vec![1.0, 1.5, 2.0, 4.0], 2);
    let args = ["compare", a.to_str().unwrap(), b.to_str().unwrap()];
    let out = sgd_ou(&args, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("simulation.parameters.curvatures"), "{err}");
    assert!(
        err.contains("[1.0,1.5,2.0,4.0]") && err.contains("[1.0,1.5,2.0,3.0]"),
        "{err}"
    );
    assert!(err.contains("--allow-different"), "{err}");
    assert_eq!(err.lines().count(), 1, "one error line: {err}");

    let mut allowed = args.to_vec();
    allowed.extend(["--allow-different", "simulation.parameters.curvatures"]);
    allowed.extend(["--allow-different", "simulation.parameters.noise_scale"]);
    let out = sgd_ou(&allowed, None);
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two runs cannot fit a slope: inconclusive, with the reason.
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("at least 3"));

    let one = sgd_ou(&["compare", a.to_str().unwrap()], None);
    assert_eq!(one.status.code(), Some(2));
}

/// The JSON is byte-identical across invocations and thread counts (no cache involved).
#[test]
fn json_is_deterministic_across_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for (i, e) in [0.01, 0.02, 0.04].into_iter().enumerate() {
        let d = tmp.path().join(format!("r{i}"));
        small_run(&d, e, vec![1.0, 1.5, 2.0, 3.0], 10 + i as u64);
        dirs.push(d);
    }
    let mut args = vec!["compare", "--json"];
    args.extend(strs(&dirs));
    let one = sgd_ou(&args, Some("1"));
    let two = sgd_ou(&args, Some("2"));
    assert!(!one.stdout.is_empty());
    assert_eq!(
        one.stdout, two.stdout,
        "JSON differs between 1 and 2 threads"
    );
    let again = sgd_ou(&args, Some("2"));
    assert_eq!(two.stdout, again.stdout);
    let c: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(c["runs"].as_array().unwrap().len(), 3);
}
