//! The simulator at d ≫ k (`--dim`, issue 16): the O(d) rotated quadratic, format-2 runs with a
//! `basis/`, the truth in A's eigenbasis, and the CLI options.

use std::fs;
use std::path::{Path, PathBuf};

use sgd_ou::run::npy::read_f64;
use sgd_ou::run::{LoadOptions, Run};
use sgd_ou::simulate::{simulate, Scenario, SimConfig, SimSummary};

use crate::common;

/// A d-dimensional rotated quadratic-gaussian run with a short schedule and `m` basis vectors.
fn dim_config(d: usize, m: usize) -> SimConfig {
    let mut c = SimConfig::default_for(Scenario::QuadraticGaussian);
    c.d = d;
    c.dim_rotated = true;
    c.curvatures = Vec::new();
    c.basis_dims = m;
    c.format = if m > 0 { 2 } else { 1 };
    c.dataset_size = 256;
    c.checkpoints = 3;
    c.checkpoint_spacing = 20;
    c.burn_in = 50;
    c
}

fn sim(cfg: &SimConfig, seed: u64, root: &Path, name: &str) -> (PathBuf, SimSummary) {
    let out = root.join(name);
    let s = simulate(Scenario::QuadraticGaussian, cfg, seed, &out).unwrap();
    (out, s)
}

#[test]
fn dim_run_writes_a_valid_v2_basis_of_exact_eigenvectors() {
    let root = tempfile::tempdir().unwrap();
    let (d, m) = (200, 8);
    let (dir, s) = sim(&dim_config(d, m), 1, root.path(), "a");
    let run = Run::load(&dir, &LoadOptions { dims: 8, seed: 1 }).unwrap();
    assert_eq!(run.d, d);
    assert_eq!(run.manifest.format_version, 2);
    assert_eq!(run.manifest.parameters.as_ref().unwrap().total(), d);
    let basis = run.basis.as_ref().expect("basis/ loaded");
    assert_eq!((basis.m, basis.d, basis.at_step), (m, d, 50));
    assert_eq!(basis.hessian_in_basis.len(), 3);
    let eig = s.eigen.as_ref().unwrap();
    for i in 0..m {
        let v = basis.row(i);
        // orthonormal rows
        for j in 0..m {
            let dot: f64 = v.iter().zip(basis.row(j)).map(|(a, b)| a * b).sum();
            assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
        }
        // A v = λ v with the O(d) product, eigenvalues decreasing from 3
        let av = eig.operator.apply(v);
        let lam = basis.eigvals[i];
        let res: f64 = av.iter().zip(v).map(|(a, x)| (a - lam * x).powi(2)).sum();
        assert!(res.sqrt() < 1e-12 && basis.residuals[i] < 1e-12);
        if i > 0 {
            assert!(lam < basis.eigvals[i - 1]);
        }
        // sign rule: the largest-magnitude entry is positive
        let big = v
            .iter()
            .copied()
            .fold(0.0f64, |b, x| if x.abs() > b.abs() { x } else { b });
        assert!(big > 0.0);
    }
    assert!((basis.eigvals[0] - 3.0).abs() < 1e-12);
    // dense truth at d ≤ 256 agrees with the operator
    assert_eq!(s.hessian.nrows(), d);
    let v = basis.row(3);
    let hv = &s.hessian * nalgebra::DVector::from_column_slice(v);
    assert!((hv[0] - eig.operator.apply(v)[0]).abs() < 1e-12);
    // run.json stays small: no d-length arrays
    let size = fs::metadata(dir.join("run.json")).unwrap().len();
    assert!(size < 64 * 1024, "run.json is {size} bytes");
    // hessian_in_basis = diag(λ)
    let (shape, hb) = read_f64(&dir.join("checkpoints/step_50/hessian_in_basis.npy")).unwrap();
    assert_eq!(shape, vec![m, m]);
    assert!((hb[0] - 3.0).abs() < 1e-12 && hb[1] == 0.0);
}

#[test]
fn dim_runs_are_deterministic_and_large_d_skips_dense_truth() {
    let root = tempfile::tempdir().unwrap();
    let cfg = dim_config(300, 4);
    let (a, sa) = sim(&cfg, 3, root.path(), "a");
    let (b, _) = sim(&cfg, 3, root.path(), "b");
    let (c, _) = sim(&cfg, 4, root.path(), "c");
    for f in [
        "run.json",
        "basis/hessian_eigvecs.npy",
        "checkpoints/step_90/grads.npy",
        "trajectory/params.npy",
    ] {
        assert_eq!(
            fs::read(a.join(f)).unwrap(),
            fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_ne!(
        fs::read(a.join("checkpoints/step_90/grads.npy")).unwrap(),
        fs::read(c.join("checkpoints/step_90/grads.npy")).unwrap()
    );
    // d > 256: no dense Hessian file, no dense truth, but the eigenbasis truth
    assert!(!a.join("checkpoints/step_50/hessian.npy").exists());
    assert_eq!(sa.hessian.nrows(), 0);
    let e = sa.eigen.unwrap();
    assert_eq!(e.stationary_variance.len(), 300);
    assert!((e.eigenvalues[299] - 0.3).abs() < 1e-12);
    Run::load(&a, &LoadOptions { dims: 8, seed: 1 }).unwrap();
}

#[test]
fn dim_cli_options_and_errors() {
    let root = common::tempdir();
    let out = root.path().join("r");
    let o = common::sgd_ou(&[
        "simulate",
        "--scenario",
        "quadratic-gaussian",
        "--out",
        common::p(&out),
        "--dim",
        "40",
        "--basis-dims",
        "4",
        "--parameter-shape",
        "w=4x8",
        "--parameter-shape",
        "b=8",
        "--checkpoints",
        "2",
        "--checkpoint-spacing",
        "10",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(m["format_version"], 2);
    assert_eq!(m["parameters"][1]["offset"], 32);
    assert_eq!(m["basis"]["at_step"], 400);
    let v = common::sgd_ou(&["verify", "--run-dir", common::p(&out)]);
    assert!(
        v.status.code() != Some(2),
        "{}",
        String::from_utf8_lossy(&v.stderr)
    );
    for (k, (args, needle)) in [
        (vec!["--scenario", "quartic-basin", "--dim", "10"], "--dim"),
        (
            vec!["--scenario", "quadratic-gaussian", "--basis-dims", "2"],
            "--dim",
        ),
        (
            vec![
                "--scenario",
                "quadratic-gaussian",
                "--dim",
                "10",
                "--parameter-shape",
                "w=3",
            ],
            "sum",
        ),
        (
            vec![
                "--scenario",
                "quadratic-gaussian",
                "--dim",
                "10",
                "--basis-dims",
                "11",
            ],
            "exceeds",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let o2 = root.path().join(format!("e{k}"));
        let mut full = vec!["simulate", "--out", common::p(&o2)];
        full.extend(args.iter().copied());
        let e = common::sgd_ou(&full);
        let err = String::from_utf8_lossy(&e.stderr);
        assert_eq!(e.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

/// Total variance of the rows of an n × d row-major matrix (divisor n). Cost O(n d).
fn total_variance(rows: &[f64], n: usize, d: usize) -> f64 {
    (0..d)
        .map(|j| {
            let m = (0..n).map(|i| rows[i * d + j]).sum::<f64>() / n as f64;
            (0..n).map(|i| (rows[i * d + j] - m).powi(2)).sum::<f64>() / n as f64
        })
        .sum()
}

#[test]
fn multiplicative_noise_scales_the_per_example_covariance_by_s_squared() {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = dim_config(200, 0);
    cfg.noise_model = sgd_ou::simulate::NoiseModel::Multiplicative { beta: 0.7 };
    cfg.checkpoints = 6;
    cfg.checkpoint_spacing = 150;
    let (dir, s) = sim(&cfg, 2, root.path(), "m");
    assert_eq!(
        s.expected.constant_covariance,
        sgd_ou::simulate::ExpectedVerdict::Fail
    );
    let factors: Vec<f64> = s.truth["noise_factor_at_checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (lo, hi) = factors
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi / lo > 1.3, "noise factors {factors:?}");
    // C(θ_t) = s(θ_t)² C: the ratio of total per-example variances is (s_t / s_0)², exactly.
    let n = cfg.dataset_size;
    let tv: Vec<f64> = s
        .checkpoint_steps
        .iter()
        .map(|t| {
            let (_, g) = read_f64(&dir.join(format!("checkpoints/step_{t}/grads.npy"))).unwrap();
            total_variance(&g, n, 200)
        })
        .collect();
    for k in 1..tv.len() {
        let want = (factors[k] / factors[0]).powi(2);
        assert!((tv[k] / tv[0] / want - 1.0).abs() < 1e-9);
    }
    // The additive default writes no noise-model key.
    let (plain, _) = sim(&dim_config(20, 0), 2, root.path(), "p");
    let text = fs::read_to_string(plain.join("run.json")).unwrap();
    assert!(!text.contains("noise_model") && !text.contains("multiplicative"));
}
