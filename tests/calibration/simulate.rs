//! Tests of `sgd_ou::simulate`: the run-directory contract (layout, shapes, dtypes, manifest),
//! determinism, the truth of each scenario (gradients, Hessians, noise covariance), calibration
//! of the stationary covariance against the discrete Lyapunov prediction within Monte Carlo error,
//! and the behaviour that makes each scenario fail the assumption it is built to fail.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use nalgebra::{DMatrix, DVector, SymmetricEigen};
use proptest::prelude::*;
use serde_json::Value;
use sgd_ou::rng::DEFAULT_SEED;
use sgd_ou::run::npy::{read_f64, Elem, NpyArray};
use sgd_ou::simulate::{simulate, ExpectedVerdict, Scenario, SimConfig, SimSummary};
use sgd_ou::Error;

// ---------------------------------------------------------------------------------------------
// helpers

fn small(s: Scenario) -> SimConfig {
    let mut c = SimConfig::default_for(s);
    c.dataset_size = 64;
    c.batch_size = 8;
    c.checkpoints = 3;
    c.checkpoint_spacing = 10;
    c.burn_in = 5;
    c
}

fn run(s: Scenario, cfg: &SimConfig, seed: u64) -> (tempfile::TempDir, PathBuf, SimSummary) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let summary = simulate(s, cfg, seed, &out).unwrap();
    (tmp, out, summary)
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

/// Every file under `dir`, as '/'-separated relative paths.
fn files(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, p: &Path, out: &mut BTreeSet<String>) {
        for e in fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.insert(parts.join("/"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn ckpt(dir: &Path, step: u64, name: &str) -> PathBuf {
    dir.join("checkpoints")
        .join(format!("step_{step}"))
        .join(name)
}

fn vector(path: &Path) -> DVector<f64> {
    let (shape, data) = read_f64(path).unwrap();
    assert_eq!(shape.len(), 1);
    DVector::from_vec(data)
}

fn matrix(path: &Path) -> DMatrix<f64> {
    let (shape, data) = read_f64(path).unwrap();
    assert_eq!(shape.len(), 2);
    DMatrix::from_row_slice(shape[0], shape[1], &data)
}

fn json_vector(v: &Value) -> DVector<f64> {
    DVector::from_vec(
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect(),
    )
}

fn json_matrix(v: &Value) -> DMatrix<f64> {
    let rows: Vec<DVector<f64>> = v.as_array().unwrap().iter().map(json_vector).collect();
    DMatrix::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
}

/// Row mean and population covariance (divisor n) of the rows of `g`.
fn mean_and_cov(g: &DMatrix<f64>) -> (DVector<f64>, DMatrix<f64>) {
    let n = g.nrows() as f64;
    let mean = g.row_mean().transpose();
    let mut c = g.clone();
    for mut row in c.row_iter_mut() {
        row -= mean.transpose();
    }
    let cov = c.transpose() * &c / n;
    (mean, cov)
}

fn rel(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    (a - b).norm() / b.norm()
}

/// Biased sample excess kurtosis m4/m2² − 3 of one column.
fn excess_kurtosis(x: &[f64]) -> f64 {
    let m = sgd_ou::stats::descriptive::Moments::new(x);
    m.excess_kurtosis()
}

/// Batch-means estimate of the mean of a stationary series and its standard error (Flegal & Jones
/// 2010): `b` contiguous batches, SE = sd(batch means)/√b with b − 1 degrees of freedom.
fn batch_means(y: &[f64], b: usize) -> (f64, f64) {
    let len = y.len() / b;
    let means: Vec<f64> = (0..b)
        .map(|k| y[k * len..(k + 1) * len].iter().sum::<f64>() / len as f64)
        .collect();
    let m = means.iter().sum::<f64>() / b as f64;
    let var = means.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (b - 1) as f64;
    (m, (var / b as f64).sqrt())
}

/// Trajectory rows θ_t − θ* as a T × d matrix, with the steps.
fn trajectory(dir: &Path, theta_star: &DVector<f64>) -> (Vec<i64>, DMatrix<f64>) {
    let steps = NpyArray::open(&dir.join("trajectory/steps.npy"), true)
        .unwrap()
        .to_vec_i64()
        .unwrap();
    let mut p = matrix(&dir.join("trajectory/params.npy"));
    for mut row in p.row_iter_mut() {
        row -= theta_star.transpose();
    }
    (steps, p)
}

/// Compares every entry of the empirical covariance of the (mean-zero) rows of `delta` with
/// `sigma`, using batch means; returns the largest |z| and the largest relative SE of a diagonal.
fn covariance_z(delta: &DMatrix<f64>, sigma: &DMatrix<f64>, batches: usize) -> (f64, f64) {
    let d = sigma.nrows();
    let mut zmax: f64 = 0.0;
    let mut rel_se: f64 = 0.0;
    for j in 0..d {
        for k in j..d {
            let y: Vec<f64> = delta.row_iter().map(|r| r[j] * r[k]).collect();
            let (m, se) = batch_means(&y, batches);
            zmax = zmax.max((m - sigma[(j, k)]).abs() / se);
            if j == k {
                rel_se = rel_se.max(se / sigma[(j, j)]);
            }
        }
    }
    (zmax, rel_se)
}

const LINEAR: [Scenario; 4] = [
    Scenario::QuadraticGaussian,
    Scenario::HeavyTailedNoise,
    Scenario::LargeStep,
    Scenario::DriftThenDiffusion,
];

// ---------------------------------------------------------------------------------------------
// names and expectations

#[test]
fn scenario_names_and_expected_verdicts() {
    let names = [
        "quadratic-gaussian",
        "heavy-tailed-noise",
        "state-dependent-noise",
        "large-step",
        "quartic-basin",
        "least-squares",
        "double-well-deep",
        "double-well-crossing",
        "drift-then-diffusion",
    ];
    let all = Scenario::all();
    assert_eq!(all.len(), names.len());
    for (s, n) in all.iter().zip(names) {
        assert_eq!(s.name(), n);
        assert_eq!(Scenario::from_name(n), Some(*s));
        assert_eq!(n.parse::<Scenario>().unwrap(), *s);
        assert!(!s.description().is_empty());
        let e = s.expected();
        for v in [
            e.gaussian_noise,
            e.constant_covariance,
            e.small_step,
            e.quadratic_loss,
        ] {
            assert!(["pass", "fail", "any"].contains(&v.as_str()));
        }
    }
    assert_eq!(Scenario::from_name("quadratic"), None);
    assert!(matches!("nope".parse::<Scenario>(), Err(Error::Usage(_))));
    // Each failing scenario fails exactly the assumption it is built to break.
    let fails = |s: Scenario| {
        let e = s.expected();
        [
            ("gaussian_noise", e.gaussian_noise),
            ("constant_covariance", e.constant_covariance),
            ("small_step", e.small_step),
            ("quadratic_loss", e.quadratic_loss),
        ]
        .iter()
        .filter(|(_, v)| *v == ExpectedVerdict::Fail)
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
    };
    assert_eq!(fails(Scenario::QuadraticGaussian), Vec::<&str>::new());
    assert_eq!(fails(Scenario::HeavyTailedNoise), ["gaussian_noise"]);
    assert_eq!(
        fails(Scenario::StateDependentNoise),
        ["constant_covariance"]
    );
    assert_eq!(fails(Scenario::LargeStep), ["small_step"]);
    assert_eq!(fails(Scenario::QuarticBasin), ["quadratic_loss"]);
    assert_eq!(fails(Scenario::LeastSquares), Vec::<&str>::new());
    assert_eq!(fails(Scenario::DoubleWellDeep), Vec::<&str>::new());
    assert_eq!(fails(Scenario::DoubleWellCrossing), ["quadratic_loss"]);
    assert_eq!(fails(Scenario::DriftThenDiffusion), Vec::<&str>::new());
}

// ---------------------------------------------------------------------------------------------
// the run-directory contract

#[test]
fn layout_shapes_dtypes_and_manifest() {
    let cfg = small(Scenario::QuadraticGaussian);
    let (tmp, dir, summary) = run(Scenario::QuadraticGaussian, &cfg, 42);
    let (n, d) = (cfg.dataset_size, cfg.d);
    assert_eq!(summary.checkpoint_steps, vec![5, 15, 25]);
    assert_eq!(summary.trajectory_steps, Some((5, 25)));

    let mut want: BTreeSet<String> = [
        "run.json",
        "trajectory/steps.npy",
        "trajectory/params.npy",
        "trajectory/losses.npy",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for step in [5, 15, 25] {
        for f in ["params.npy", "grads.npy", "losses.npy", "hessian.npy"] {
            want.insert(format!("checkpoints/step_{step}/{f}"));
        }
    }
    assert_eq!(files(&dir), want);
    // No temporary folder is left next to the run.
    let siblings: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(siblings.len(), 1);
    assert_eq!(
        summary.bytes_written,
        want.iter()
            .map(|f| fs::metadata(dir.join(f)).unwrap().len())
            .sum::<u64>()
    );

    for step in [5u64, 15, 25] {
        for (f, shape) in [
            ("params.npy", vec![d]),
            ("grads.npy", vec![n, d]),
            ("losses.npy", vec![n]),
            ("hessian.npy", vec![d, d]),
        ] {
            let a = NpyArray::open(&ckpt(&dir, step, f), false).unwrap();
            assert_eq!(a.shape(), &shape[..], "{f}");
            assert_eq!(a.elem(), Elem::F64, "{f}");
        }
    }
    let steps = NpyArray::open(&dir.join("trajectory/steps.npy"), true).unwrap();
    assert_eq!(steps.elem(), Elem::I64);
    assert_eq!(steps.to_vec_i64().unwrap(), (5..=25).collect::<Vec<i64>>());
    let tp = NpyArray::open(&dir.join("trajectory/params.npy"), false).unwrap();
    assert_eq!((tp.shape(), tp.elem()), (&[21, d][..], Elem::F64));
    let tl = NpyArray::open(&dir.join("trajectory/losses.npy"), false).unwrap();
    assert_eq!((tl.shape(), tl.elem()), (&[21][..], Elem::F64));

    // The trajectory row at a checkpoint step is that checkpoint's θ, bit for bit, and the
    // trajectory loss is the mean of the per-example losses there.
    let traj = matrix(&dir.join("trajectory/params.npy"));
    let tloss = vector(&dir.join("trajectory/losses.npy"));
    for step in [5u64, 15, 25] {
        let row = (step - 5) as usize;
        let p = vector(&ckpt(&dir, step, "params.npy"));
        assert_eq!(traj.row(row).transpose(), p);
        let l = vector(&ckpt(&dir, step, "losses.npy"));
        assert!((l.mean() - tloss[row]).abs() < 1e-12 * (1.0 + tloss[row].abs()));
    }

    let m = manifest(&dir);
    assert_eq!(m["format_version"], 1);
    assert_eq!(m["learning_rate"].as_f64(), Some(cfg.learning_rate));
    assert_eq!(m["batch_size"], 8);
    assert_eq!(m["dataset_size"], 64);
    assert_eq!(m["loss_reduction"], "mean");
    assert_eq!(m["gradients"], "per_example");
    assert_eq!(m["sampling"], "without_replacement");
    assert_eq!(m["seed"], 42);
    assert_eq!(m["framework"], "sgd-ou simulate");
    for k in ["model", "dataset", "notes"] {
        assert!(!m[k].as_str().unwrap().is_empty(), "{k}");
    }
    let sim = &m["simulation"];
    assert_eq!(sim["scenario"], "quadratic-gaussian");
    assert_eq!(sim["expected"]["gaussian_noise"], "pass");
    assert_eq!(sim["expected"]["quadratic_loss"], "pass");
    assert_eq!(sim["parameters"]["dataset_size"], 64);
    let truth = &sim["truth"];
    assert_eq!(json_vector(&truth["theta_star"]), summary.theta_star);
    assert_eq!(
        json_matrix(&truth["hessian_at_theta_star"]),
        summary.hessian
    );
    assert_eq!(
        json_matrix(&truth["noise_covariance_at_theta_star"]),
        summary.noise_covariance
    );
    assert_eq!(
        json_matrix(&truth["stationary_covariance"]),
        summary.stationary_covariance.clone().unwrap()
    );
    assert_eq!(truth["checkpoint_steps"], serde_json::json!([5, 15, 25]));
    assert_eq!(summary.truth, *truth);
}

#[test]
fn optional_files_and_float32() {
    let mut cfg = small(Scenario::LeastSquares);
    cfg.write_trajectory = false;
    cfg.write_hessian = false;
    cfg.write_losses = false;
    let (_t, dir, summary) = run(Scenario::LeastSquares, &cfg, 1);
    assert_eq!(summary.trajectory_steps, None);
    let want: BTreeSet<String> = std::iter::once("run.json".to_string())
        .chain([5, 15, 25].iter().flat_map(|s| {
            [
                format!("checkpoints/step_{s}/params.npy"),
                format!("checkpoints/step_{s}/grads.npy"),
            ]
        }))
        .collect();
    assert_eq!(files(&dir), want);
    assert!(manifest(&dir)["simulation"]["truth"]["trajectory_steps"].is_null());

    let mut cfg = small(Scenario::QuadraticGaussian);
    cfg.float32 = true;
    let (_t, dir, _) = run(Scenario::QuadraticGaussian, &cfg, 1);
    for f in ["params.npy", "grads.npy", "losses.npy", "hessian.npy"] {
        assert_eq!(
            NpyArray::open(&ckpt(&dir, 15, f), false).unwrap().elem(),
            Elem::F32,
            "{f}"
        );
    }
    assert_eq!(
        NpyArray::open(&dir.join("trajectory/params.npy"), false)
            .unwrap()
            .elem(),
        Elem::F32
    );
    assert_eq!(
        NpyArray::open(&dir.join("trajectory/steps.npy"), true)
            .unwrap()
            .elem(),
        Elem::I64
    );
}

#[test]
fn same_seed_same_bytes_different_seed_different_data() {
    for s in [
        Scenario::QuadraticGaussian,
        Scenario::HeavyTailedNoise,
        Scenario::LeastSquares,
        Scenario::DoubleWellCrossing,
    ] {
        let cfg = small(s);
        let (_a, da, _) = run(s, &cfg, 7);
        let (_b, db, _) = run(s, &cfg, 7);
        let (_c, dc, _) = run(s, &cfg, 8);
        let fa = files(&da);
        assert_eq!(fa, files(&db));
        for f in &fa {
            assert_eq!(
                fs::read(da.join(f)).unwrap(),
                fs::read(db.join(f)).unwrap(),
                "{s}: {f}"
            );
        }
        assert_ne!(
            fs::read(ckpt(&da, 15, "grads.npy")).unwrap(),
            fs::read(ckpt(&dc, 15, "grads.npy")).unwrap()
        );
        assert_ne!(
            fs::read(da.join("run.json")).unwrap(),
            fs::read(dc.join("run.json")).unwrap()
        );
    }
}

#[test]
fn refuses_non_empty_out_and_cleans_up_on_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = small(Scenario::QuadraticGaussian);
    // Non-empty: refused, contents untouched.
    let busy = tmp.path().join("busy");
    fs::create_dir(&busy).unwrap();
    fs::write(busy.join("keep.txt"), "x").unwrap();
    let e = simulate(Scenario::QuadraticGaussian, &cfg, 1, &busy).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e}");
    assert_eq!(files(&busy), BTreeSet::from(["keep.txt".to_string()]));
    // A file in the way: refused.
    let file = tmp.path().join("file");
    fs::write(&file, "x").unwrap();
    assert!(matches!(
        simulate(Scenario::QuadraticGaussian, &cfg, 1, &file),
        Err(Error::Usage(_))
    ));
    // Existing empty directory: used.
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    simulate(Scenario::QuadraticGaussian, &cfg, 1, &empty).unwrap();
    assert!(empty.join("run.json").is_file());
    // Missing parents: created.
    let nested = tmp.path().join("a/b/c");
    simulate(Scenario::QuadraticGaussian, &cfg, 1, &nested).unwrap();
    assert!(nested.join("run.json").is_file());
    // A run that diverges (quartic basin at a huge step) leaves nothing behind.
    let parent = tmp.path().join("diverge");
    fs::create_dir(&parent).unwrap();
    let mut bad = small(Scenario::QuarticBasin);
    bad.learning_rate = 50.0;
    let e = simulate(Scenario::QuarticBasin, &bad, 1, &parent.join("run")).unwrap_err();
    assert!(
        matches!(e, Error::Usage(ref m) if m.contains("diverged")),
        "{e}"
    );
    assert_eq!(fs::read_dir(&parent).unwrap().count(), 0);
}

#[test]
fn invalid_configurations_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let base = small(Scenario::QuadraticGaussian);
    type Edit = Box<dyn Fn(&mut SimConfig)>;
    let cases: Vec<(Scenario, Edit)> = vec![
        (Scenario::QuadraticGaussian, Box::new(|c| c.batch_size = 65)),
        (Scenario::QuadraticGaussian, Box::new(|c| c.batch_size = 0)),
        (Scenario::QuadraticGaussian, Box::new(|c| c.d = 3)),
        (
            Scenario::QuadraticGaussian,
            Box::new(|c| c.curvatures[0] = -1.0),
        ),
        (
            Scenario::QuadraticGaussian,
            Box::new(|c| c.learning_rate = f64::NAN),
        ),
        (
            Scenario::QuadraticGaussian,
            Box::new(|c| c.learning_rate = 0.7),
        ), // ε λ_max = 2.1
        (Scenario::QuadraticGaussian, Box::new(|c| c.checkpoints = 0)),
        (
            Scenario::QuadraticGaussian,
            Box::new(|c| c.noise_scale = 0.0),
        ),
        (
            Scenario::QuadraticGaussian,
            Box::new(|c| c.dataset_size = 1),
        ),
        (
            Scenario::QuadraticGaussian,
            Box::new(|c| {
                c.minibatch_gradients = true;
                c.minibatches = 1;
            }),
        ),
        (Scenario::HeavyTailedNoise, Box::new(|c| c.tail_index = 2.5)),
        // α = 0.05: draws reach 10^(1/α) scales and overflow to ±∞.
        (
            Scenario::HeavyTailedNoise,
            Box::new(|c| c.tail_index = 0.05),
        ),
        (
            Scenario::DoubleWellDeep,
            Box::new(|c| c.barrier_height = 20.0),
        ),
        (
            Scenario::LeastSquares,
            Box::new(|c| c.regression_noise = -1.0),
        ),
        (
            Scenario::DriftThenDiffusion,
            Box::new(|c| c.start_distance = f64::INFINITY),
        ),
    ];
    for (i, (s, edit)) in cases.iter().enumerate() {
        let mut c = base.clone();
        edit(&mut c);
        let e = simulate(*s, &c, 1, &out).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "case {i}: {e}");
        assert!(!out.exists(), "case {i} created the output");
    }
}

#[test]
fn bundled_example_stays_small() {
    // The default quadratic-gaussian run is the example shipped with the project.
    let cfg = SimConfig::default_for(Scenario::QuadraticGaussian);
    let (_t, dir, summary) = run(Scenario::QuadraticGaussian, &cfg, DEFAULT_SEED);
    assert!(
        summary.bytes_written < 400_000,
        "{} bytes",
        summary.bytes_written
    );
    assert_eq!(files(&dir).len(), 1 + 8 * 4 + 3);
    assert_eq!(
        summary.checkpoint_steps,
        (0..8).map(|k| 400 + 150 * k).collect::<Vec<u64>>()
    );
}

// ---------------------------------------------------------------------------------------------
// truth by construction

#[test]
fn hessian_is_rotated_with_the_configured_spectrum() {
    let cfg = small(Scenario::QuadraticGaussian);
    let (_t, _d, s) = run(Scenario::QuadraticGaussian, &cfg, 3);
    let mut eig: Vec<f64> = SymmetricEigen::new(s.hessian.clone())
        .eigenvalues
        .iter()
        .copied()
        .collect();
    eig.sort_by(|a, b| a.partial_cmp(b).unwrap());
    for (a, b) in eig.iter().zip(&cfg.curvatures) {
        assert!((a - b).abs() < 1e-12, "{eig:?}");
    }
    let off: f64 = (0..4)
        .flat_map(|i| (0..4).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|ij| s.hessian[ij].abs())
        .sum();
    assert!(off > 0.1, "H should not be diagonal in coordinates");
    assert!((&s.hessian - s.hessian.transpose()).norm() == 0.0);
    // The noise covariance does not commute with H (independent rotations).
    let comm = &s.hessian * &s.noise_covariance - &s.noise_covariance * &s.hessian;
    assert!(comm.norm() > 0.05 * s.noise_covariance.norm());
}

/// For the linear scenarios ∇l_i(θ) = H(θ − θ*) + ξ_i with the same ξ_i at every checkpoint:
/// the residuals g_i − H(θ − θ*) are identical across checkpoints, sum to zero, and their
/// covariance is the reported C; the losses satisfy l_i = g_iᵀδ − ½δᵀHδ.
#[test]
fn linear_scenarios_gradients_are_h_delta_plus_fixed_noise() {
    for s in LINEAR {
        let cfg = small(s);
        let (_t, dir, sum) = run(s, &cfg, 11);
        let mut first: Option<DMatrix<f64>> = None;
        for &step in &sum.checkpoint_steps {
            let theta = vector(&ckpt(&dir, step, "params.npy"));
            let g = matrix(&ckpt(&dir, step, "grads.npy"));
            let h = matrix(&ckpt(&dir, step, "hessian.npy"));
            assert_eq!(h, sum.hessian);
            let delta = &theta - &sum.theta_star;
            let hd = &h * &delta;
            let mut resid = g.clone();
            for mut row in resid.row_iter_mut() {
                row -= hd.transpose();
            }
            let (mean, cov) = mean_and_cov(&resid);
            assert!(mean.norm() < 1e-12 * (1.0 + resid.norm()), "{s}: Σξ_i ≠ 0");
            assert!(rel(&cov, &sum.noise_covariance) < 1e-10, "{s}");
            match &first {
                None => first = Some(resid),
                Some(r0) => assert!((r0 - &resid).norm() < 1e-10 * r0.norm(), "{s}: ξ changed"),
            }
            let l = vector(&ckpt(&dir, step, "losses.npy"));
            let half = 0.5 * delta.dot(&hd);
            for i in 0..cfg.dataset_size {
                let want = g.row(i).transpose().dot(&delta) - half;
                assert!(
                    (l[i] - want).abs() < 1e-10 * (1.0 + want.abs()),
                    "{s}: loss {i}"
                );
            }
        }
        // Mean gradient at a checkpoint = H(θ − θ*): the Hessian file is consistent with the gradients.
        assert_eq!(
            sum.minibatch_noise_covariance,
            &sum.noise_covariance * ((64.0 - 8.0) / (8.0 * 63.0))
        );
    }
}

/// The SGD increments and the minibatch rows are means of S distinct examples: their noise
/// covariance is f·C with f = (N − S)/(S(N − 1)), not C/S.
#[test]
fn minibatch_noise_has_the_without_replacement_covariance() {
    // N = 64, S = 16: f = 48/1008 = 0.0476 against 1/S = 0.0625 (24 % apart).
    let mut cfg = small(Scenario::QuadraticGaussian);
    cfg.batch_size = 16;
    cfg.checkpoints = 2;
    cfg.checkpoint_spacing = 6000;
    cfg.burn_in = 0;
    cfg.minibatch_gradients = true;
    cfg.minibatches = 4000;
    let (_t, dir, sum) = run(Scenario::QuadraticGaussian, &cfg, 5);
    assert_eq!(manifest(&dir)["gradients"], "minibatch");
    let fc = sum.noise_covariance.trace() * 48.0 / 1008.0;
    let c_over_s = sum.noise_covariance.trace() / 16.0;
    // y = ‖noise‖² is i.i.d. across rows (fresh batches), so SE = sd(y)/√M. The two hypotheses
    // differ by > 10 SE; a 4.5-SE band fails for a correct sampler with probability < 1e-5.
    let check = |y: Vec<f64>, what: &str| {
        let m = y.iter().sum::<f64>() / y.len() as f64;
        let sd = (y.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (y.len() - 1) as f64).sqrt();
        let se = sd / (y.len() as f64).sqrt();
        assert!(
            (m - fc).abs() < 4.5 * se,
            "{what}: {m} vs f·tr C = {fc} (SE {se})"
        );
        assert!(
            (m - c_over_s).abs() > 4.5 * se,
            "{what}: cannot tell f·C from C/S"
        );
    };
    let step = sum.checkpoint_steps[1];
    let theta = vector(&ckpt(&dir, step, "params.npy"));
    let hd = &sum.hessian * (&theta - &sum.theta_star);
    let rows = matrix(&ckpt(&dir, step, "grads.npy"));
    assert_eq!(rows.shape(), (4000, 4));
    assert_eq!(vector(&ckpt(&dir, step, "losses.npy")).len(), 4000);
    check(
        rows.row_iter()
            .map(|r| (r.transpose() - &hd).norm_squared())
            .collect(),
        "minibatch rows",
    );
    // SGD increments: (θ_t − θ_{t+1})/ε − H(θ_t − θ*) is the minibatch noise of step t.
    let (_, delta) = trajectory(&dir, &sum.theta_star);
    let eps = cfg.learning_rate;
    let y: Vec<f64> = (0..delta.nrows() - 1)
        .map(|t| {
            let d0 = delta.row(t).transpose();
            let d1 = delta.row(t + 1).transpose();
            ((&d0 - &d1) / eps - &sum.hessian * &d0).norm_squared()
        })
        .collect();
    check(y, "SGD increments");
}

#[test]
fn least_squares_truth() {
    // Defaults: N = 1024, S = 64, ε = 0.02.
    let cfg = SimConfig::default_for(Scenario::LeastSquares);
    let (_t, dir, sum) = run(Scenario::LeastSquares, &cfg, DEFAULT_SEED);
    let m = manifest(&dir);
    assert_eq!(m["batch_size"], 64);
    let l_star = m["simulation"]["truth"]["minimum_mean_loss"]
        .as_f64()
        .unwrap();
    for &step in &sum.checkpoint_steps {
        let theta = vector(&ckpt(&dir, step, "params.npy"));
        let g = matrix(&ckpt(&dir, step, "grads.npy"));
        assert_eq!(matrix(&ckpt(&dir, step, "hessian.npy")), sum.hessian);
        let (mean, cov) = mean_and_cov(&g);
        // Mean gradient H(θ − θ*): exact up to rounding of the least-squares solve.
        let d = &theta - &sum.theta_star;
        let want = &sum.hessian * &d;
        assert!((mean - &want).norm() < 1e-10 * (1.0 + want.norm()));
        // C(θ) moves by well under 1 % over the stationary region.
        let moved = rel(&cov, &sum.noise_covariance);
        assert!(moved < 0.01, "step {step}: C(θ) moved by {moved}");
        // Losses are ½ e_i² ≥ 0 with mean L(θ) = L* + ½ δᵀHδ.
        let l = vector(&ckpt(&dir, step, "losses.npy"));
        assert!(l.iter().all(|&v| v >= 0.0));
        assert!((l.mean() - l_star - 0.5 * d.dot(&want)).abs() < 1e-10);
    }
    // Per-example gradients are products of normals (excess kurtosis ≈ 6 per coordinate), far
    // from Gaussian: Gaussian data would give |excess kurtosis| < 5·√(24/N) ≈ 0.77 at N = 1024.
    let k = json_vector(
        &m["simulation"]["truth"]["per_example_gradient_excess_kurtosis_at_theta_star"],
    );
    assert!(k.iter().all(|&v| v > 2.0), "{k}");
}

// ---------------------------------------------------------------------------------------------
// calibration: stationary covariance against the discrete Lyapunov prediction

// Each test compares the d(d+1)/2 = 10 entries of the empirical covariance of θ_t − θ* with the
// prediction, with batch-means standard errors (B batches, t with B − 1 df). A 4.5-SE band gives
// P(|t_{B−1}| > 4.5) ≤ 1.5e-4 per entry for B ≥ 30, ≤ 1.5e-3 for the 10 entries (union bound).
// The seeds are fixed, so the outcome is reproducible; the bound says how unlikely a false failure
// is. Batches are ≥ 10 relaxation times long.

#[test]
fn quadratic_gaussian_stationary_covariance_matches_discrete_lyapunov() {
    let mut cfg = small(Scenario::QuadraticGaussian);
    cfg.dataset_size = 256;
    cfg.batch_size = 16;
    cfg.checkpoints = 2;
    cfg.burn_in = 500; // 10 relaxation times of the slowest mode (1/(ελ_min) = 50 steps)
    cfg.checkpoint_spacing = 60_000;
    cfg.write_losses = false;
    let (_t, dir, sum) = run(Scenario::QuadraticGaussian, &cfg, 21);
    assert!(sum.stationary_is_exact);
    let sigma = sum.stationary_covariance.clone().unwrap();
    let (_, delta) = trajectory(&dir, &sum.theta_star);
    // 30 batches of 2000 steps = 40 relaxation times each.
    let (z, rel_se) = covariance_z(&delta, &sigma, 30);
    assert!(z < 4.5, "max |z| = {z}");
    assert!(rel_se < 0.1, "test has no power: relative SE {rel_se}");
}

#[test]
fn large_step_inflates_variance_as_the_discrete_equation_predicts() {
    let mut cfg = small(Scenario::LargeStep);
    cfg.dataset_size = 256;
    cfg.batch_size = 16;
    cfg.checkpoints = 2;
    cfg.burn_in = 100;
    cfg.checkpoint_spacing = 20_000;
    cfg.write_losses = false;
    assert!((cfg.learning_rate * 3.0 - 1.2).abs() < 1e-12);
    let (_t, dir, sum) = run(Scenario::LargeStep, &cfg, 22);
    let sigma = sum.stationary_covariance.clone().unwrap();
    let cont = sum.stationary_covariance_continuous.clone().unwrap();
    let (_, delta) = trajectory(&dir, &sum.theta_star);
    let (z, rel_se) = covariance_z(&delta, &sigma, 40);
    assert!(z < 4.5, "max |z| = {z}");
    assert!(rel_se < 0.05);
    // Stiffest mode: discrete/continuous = 1/(1 − ελ/2) = 2.5 when C commutes with H; here C is
    // rotated, so compare the data with both predictions along the top eigenvector.
    let eig = SymmetricEigen::new(sum.hessian.clone());
    let top = eig.eigenvalues.imax();
    let v = eig.eigenvectors.column(top).into_owned();
    let y: Vec<f64> = delta
        .row_iter()
        .map(|r| r.transpose().dot(&v).powi(2))
        .collect();
    let (m, se) = batch_means(&y, 40);
    let disc_v = v.dot(&(&sigma * &v));
    let cont_v = v.dot(&(&cont * &v));
    assert!((m - disc_v).abs() < 4.5 * se);
    assert!(m / cont_v > 2.0, "inflation {}", m / cont_v);
    assert!((m - cont_v).abs() > 20.0 * se);
}

#[test]
fn least_squares_stationary_covariance_matches_exact_prediction() {
    let mut cfg = small(Scenario::LeastSquares);
    cfg.dataset_size = 512;
    cfg.batch_size = 64;
    cfg.checkpoints = 2;
    cfg.burn_in = 500;
    cfg.checkpoint_spacing = 60_000;
    cfg.write_losses = false;
    let (_t, dir, sum) = run(Scenario::LeastSquares, &cfg, 23);
    let sigma = sum.stationary_covariance.clone().unwrap();
    let (_, delta) = trajectory(&dir, &sum.theta_star);
    let (z, rel_se) = covariance_z(&delta, &sigma, 30);
    assert!(z < 4.5, "max |z| = {z}");
    assert!(rel_se < 0.1);
}

// ---------------------------------------------------------------------------------------------
// the failing scenarios fail for the designed reason

#[test]
fn heavy_tailed_noise_has_huge_kurtosis() {
    let cfg = SimConfig::default_for(Scenario::HeavyTailedNoise);
    let gauss = SimConfig::default_for(Scenario::QuadraticGaussian);
    let (_a, dh, sh) = run(Scenario::HeavyTailedNoise, &cfg, DEFAULT_SEED);
    let (_b, dg, sg) = run(Scenario::QuadraticGaussian, &gauss, DEFAULT_SEED);
    // Per-example noise at a checkpoint. Gaussian data: SE of the excess kurtosis √(24/N) ≈ 0.15
    // at N = 1024; |k| < 0.77 is a 5-SE band, and 20 is > 100 SE away from 0.
    for (dir, sum, heavy) in [(&dh, &sh, true), (&dg, &sg, false)] {
        let step = sum.checkpoint_steps[3];
        let g = matrix(&ckpt(dir, step, "grads.npy"));
        for j in 0..4 {
            let col: Vec<f64> = g.column(j).iter().copied().collect();
            let k = excess_kurtosis(&col);
            if heavy {
                assert!(k > 20.0, "heavy: column {j} kurtosis {k}");
            } else {
                assert!(k.abs() < 0.77, "gaussian: column {j} kurtosis {k}");
            }
        }
    }
    // Minibatch gradients (S = 32): the CLT does not rescue infinite-variance noise. With M = 2000
    // Gaussian rows the SE is √(24/2000) ≈ 0.11; a mean excess kurtosis above 1.5 is > 13 SE out.
    let mut mb = cfg.clone();
    mb.minibatch_gradients = true;
    mb.minibatches = 2000;
    mb.checkpoints = 2;
    let (_c, dm, sm) = run(Scenario::HeavyTailedNoise, &mb, DEFAULT_SEED);
    let rows = matrix(&ckpt(&dm, sm.checkpoint_steps[1], "grads.npy"));
    let ks: Vec<f64> = (0..4)
        .map(|j| excess_kurtosis(&rows.column(j).iter().copied().collect::<Vec<_>>()))
        .collect();
    assert!(ks.iter().sum::<f64>() / 4.0 > 1.5, "{ks:?}");
    assert!(ks.iter().copied().fold(f64::MIN, f64::max) > 3.0, "{ks:?}");
}

#[test]
fn state_dependent_noise_covariance_changes_by_a_large_factor() {
    let cfg = SimConfig::default_for(Scenario::StateDependentNoise);
    let (_t, dir, sum) = run(Scenario::StateDependentNoise, &cfg, DEFAULT_SEED);
    let truth = &manifest(&dir)["simulation"]["truth"];
    let u = json_vector(&truth["direction_u"]);
    let sigma_u = truth["sigma_u"].as_f64().unwrap();
    let beta = truth["beta"].as_f64().unwrap();
    let zc = truth["z_cap"].as_f64().unwrap();
    assert!(sum.stationary_covariance.is_none());
    let mut traces = Vec::new();
    for &step in &sum.checkpoint_steps {
        let theta = vector(&ckpt(&dir, step, "params.npy"));
        let g = matrix(&ckpt(&dir, step, "grads.npy"));
        let (_, cov) = mean_and_cov(&g);
        // C(θ) = s(θ)² C exactly, with s recomputed here from the documented formula.
        let z = u.dot(&(&theta - &sum.theta_star)) / sigma_u;
        let s = (beta * zc * (z / zc).tanh()).exp();
        assert!(rel(&cov, &(&sum.noise_covariance * (s * s))) < 1e-10);
        // The Hessian is the constant H: only the noise moves.
        assert_eq!(matrix(&ckpt(&dir, step, "hessian.npy")), sum.hessian);
        traces.push(cov.trace());
    }
    let max = traces.iter().copied().fold(f64::MIN, f64::max);
    let min = traces.iter().copied().fold(f64::MAX, f64::min);
    assert!(max / min > 4.0, "trace ratio {}", max / min);
}

fn well_coordinate(dir: &Path) -> (Vec<f64>, Vec<f64>) {
    let truth = manifest(dir)["simulation"]["truth"].clone();
    let u = json_vector(&truth["well_direction"]);
    let c = json_vector(&truth["barrier_center"]);
    let (_, rows) = trajectory(dir, &c);
    let z: Vec<f64> = rows.row_iter().map(|r| r.transpose().dot(&u)).collect();
    let zc: Vec<f64> = truth["checkpoint_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (vector(&ckpt(dir, s.as_u64().unwrap(), "params.npy")) - &c).dot(&u))
        .collect();
    (z, zc)
}

#[test]
fn double_well_crossing_crosses_and_deep_does_not() {
    for seed in [DEFAULT_SEED, 1, 2] {
        let (_a, dc, _) = run(
            Scenario::DoubleWellCrossing,
            &SimConfig::default_for(Scenario::DoubleWellCrossing),
            seed,
        );
        let (z, zc) = well_coordinate(&dc);
        let sign_changes = z
            .windows(2)
            .filter(|w| (w[0] > 0.0) != (w[1] > 0.0))
            .count();
        // Well-to-well transitions with hysteresis (from z > ½ to z < −½ or back).
        let mut state = 0i8;
        let mut transitions = 0;
        for &v in &z {
            let s = if v > 0.5 {
                1
            } else if v < -0.5 {
                -1
            } else {
                continue;
            };
            if state != 0 && s != state {
                transitions += 1;
            }
            state = s;
        }
        let right = z.iter().filter(|&&v| v > 0.0).count() as f64 / z.len() as f64;
        assert!(
            sign_changes >= 2 && transitions >= 2,
            "seed {seed}: {sign_changes} sign changes, {transitions} transitions"
        );
        assert!(
            (0.15..=0.85).contains(&right),
            "seed {seed}: fraction in the right well {right}"
        );
        assert!(
            zc.iter().any(|&v| v > 0.0) && zc.iter().any(|&v| v < 0.0),
            "seed {seed}: checkpoints {zc:?}"
        );

        let (_b, dd, sd) = run(
            Scenario::DoubleWellDeep,
            &SimConfig::default_for(Scenario::DoubleWellDeep),
            seed,
        );
        let (z, _) = well_coordinate(&dd);
        assert!(z.iter().all(|&v| v > 0.0), "seed {seed}: deep well crossed");
        assert!(
            z.iter().all(|&v| (v - 1.0).abs() < 0.2),
            "seed {seed}: left the well minimum"
        );
        // In the deep well the Hessian stays within ±25 % of its value at the minimum.
        for &step in &sd.checkpoint_steps {
            let h = matrix(&ckpt(&dd, step, "hessian.npy"));
            assert!(rel(&h, &sd.hessian) < 0.25);
        }
    }
}

#[test]
fn quartic_basin_is_flat_and_non_quadratic_with_a_small_step() {
    let cfg = SimConfig::default_for(Scenario::QuarticBasin);
    let (_t, dir, sum) = run(Scenario::QuarticBasin, &cfg, DEFAULT_SEED);
    assert_eq!(sum.hessian.norm(), 0.0, "flat minimum: zero Hessian at θ*");
    assert!(sum.stationary_covariance.is_none());
    let mut top = Vec::new();
    for &step in &sum.checkpoint_steps {
        let theta = vector(&ckpt(&dir, step, "params.npy"));
        let g = matrix(&ckpt(&dir, step, "grads.npy"));
        let h = matrix(&ckpt(&dir, step, "hessian.npy"));
        let (mean, _) = mean_and_cov(&g);
        // Homogeneous quartic: ∇L = ⅓ H(θ)(θ − θ*) (Euler's theorem), a check of the Hessian file.
        let want = &h * (&theta - &sum.theta_star) / 3.0;
        assert!((mean - &want).norm() < 1e-9 * (1.0 + want.norm()));
        let lmax = SymmetricEigen::new(h).eigenvalues.max();
        assert!(
            cfg.learning_rate * lmax < 0.1,
            "ελ_max = {}",
            cfg.learning_rate * lmax
        );
        top.push(lmax);
    }
    // The curvature over the visited region changes by a large factor: not quadratic.
    let max = top.iter().copied().fold(f64::MIN, f64::max);
    let min = top.iter().copied().fold(f64::MAX, f64::min);
    assert!(max / min > 3.0, "{top:?}");
}

#[test]
fn drift_then_diffusion_has_a_drift_phase_then_a_stationary_one() {
    let cfg = SimConfig::default_for(Scenario::DriftThenDiffusion);
    let (_t, dir, sum) = run(Scenario::DriftThenDiffusion, &cfg, DEFAULT_SEED);
    assert_eq!(sum.checkpoint_steps[0], 0);
    assert_eq!(sum.trajectory_steps.unwrap().0, 0);
    let truth = &manifest(&dir)["simulation"]["truth"];
    let from = truth["stationary_from_step"].as_u64().unwrap();
    let sigma = sum.stationary_covariance.clone().unwrap();
    let sigma_inv = sigma.clone().try_inverse().unwrap();
    let f = (1024.0 - 32.0) / (32.0 * 1023.0);
    let mut drift = 0;
    for &step in &sum.checkpoint_steps {
        let theta = vector(&ckpt(&dir, step, "params.npy"));
        let d = &theta - &sum.theta_star;
        let maha = d.dot(&(&sigma_inv * &d)).sqrt();
        let g = matrix(&ckpt(&dir, step, "grads.npy"));
        let (mean, cov) = mean_and_cov(&g);
        let nsr = f * cov.trace() / mean.norm_squared();
        if step == 0 {
            assert!((50.0..60.0).contains(&maha), "start {maha} sd away");
        }
        if nsr < 1.0 {
            drift += 1;
            assert!(step < from);
        }
        if step >= from {
            // χ²_4 tail: P(Mahalanobis > 5) = P(χ²_4 > 25) ≈ 4.7e-5 per checkpoint.
            assert!(
                maha < 5.0,
                "step {step}: {maha} sd away in the diffusion phase"
            );
        }
    }
    assert!(drift >= 3, "{drift} drift-phase checkpoints");
    assert!(sum.checkpoint_steps.iter().filter(|&&s| s >= from).count() >= 10);
}

// ---------------------------------------------------------------------------------------------
// properties over random small configurations

fn spread(d: usize) -> Vec<f64> {
    (0..d)
        .map(|k| 1.0 + 2.0 * k as f64 / (d.max(2) - 1) as f64)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any valid small configuration of any scenario writes a complete, consistent run:
    /// shapes, trajectory rows equal to checkpoint params, mean losses equal to trajectory losses,
    /// symmetric Hessians.
    #[test]
    fn any_small_run_is_consistent(
        which in 0usize..9,
        d in 1usize..5,
        n in 16usize..80,
        sfrac in 0.05f64..1.0,
        k in 1usize..4,
        spacing in 1usize..30,
        burn in 0usize..30,
        seed in any::<u64>(),
        minibatch in any::<bool>(),
    ) {
        let s = Scenario::all()[which];
        let mut cfg = SimConfig::default_for(s);
        cfg.d = d;
        cfg.curvatures = spread(d);
        cfg.dataset_size = n;
        cfg.batch_size = ((n as f64 * sfrac) as usize).clamp(1, n);
        cfg.checkpoints = k;
        cfg.checkpoint_spacing = spacing;
        cfg.burn_in = burn;
        cfg.minibatch_gradients = minibatch;
        cfg.minibatches = 5;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("r");
        let sum = simulate(s, &cfg, seed, &dir).unwrap();
        let rows = if minibatch { 5 } else { n };
        let traj = matrix(&dir.join("trajectory/params.npy"));
        let tloss = vector(&dir.join("trajectory/losses.npy"));
        prop_assert_eq!(traj.shape(), ((k - 1) * spacing + 1, d));
        let start = sum.checkpoint_steps[0] as usize;
        for &step in &sum.checkpoint_steps {
            let p = vector(&ckpt(&dir, step, "params.npy"));
            prop_assert_eq!(p.len(), d);
            prop_assert_eq!(traj.row(step as usize - start).transpose(), p);
            let g = matrix(&ckpt(&dir, step, "grads.npy"));
            prop_assert_eq!(g.shape(), (rows, d));
            let h = matrix(&ckpt(&dir, step, "hessian.npy"));
            prop_assert_eq!(&h, &h.transpose());
            let l = vector(&ckpt(&dir, step, "losses.npy"));
            prop_assert_eq!(l.len(), rows);
            if !minibatch {
                let want = tloss[step as usize - start];
                prop_assert!((l.mean() - want).abs() <= 1e-9 * (1.0 + want.abs() + l.amax()));
            }
        }
        let m = manifest(&dir);
        prop_assert_eq!(&m["batch_size"], &serde_json::json!(cfg.batch_size));
        prop_assert_eq!(&m["simulation"]["scenario"], &serde_json::json!(s.name()));
    }
}
