//! Run-directory format v2 (docs/run-dir-format.md): a valid v2 run (parameter map, reshuffled
//! sampling, trajectory.every, basis/ and hessian_in_basis.npy) is read and verified; every new
//! validation error exits with code 2 and one line naming the file and the fix; a v2 run with
//! the same arrays as a v1 run gets the same verdicts (v1 stays readable, unchanged).

use crate::common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};
use sgd_ou::run::npy::{write_f32, write_f64};
use sgd_ou::run::{LoadOptions, Run};

const D: usize = 6;
const M: usize = 3;

/// write_valid_run's Hessian is diag(1, …, d): its top-m eigenvectors are e_{d−1}, e_{d−2}, …
fn eigvecs() -> Vec<f64> {
    let mut v = vec![0.0; M * D];
    for i in 0..M {
        v[i * D + (D - 1 - i)] = 1.0;
    }
    v
}

fn eigvals() -> Vec<f64> {
    (0..M).map(|i| (D - i) as f64).collect()
}

fn in_basis() -> Vec<f64> {
    let mut b = vec![0.0; M * M];
    for i in 0..M {
        b[i * M + i] = (D - i) as f64;
    }
    b
}

fn v2_manifest() -> Value {
    // write_valid_run: N = 64, S = 8 → 8 steps per epoch; trajectory steps 100..149.
    json!({
        "format_version": 2, "learning_rate": 0.01, "batch_size": 8, "dataset_size": 64,
        "model": "test", "sampling": "reshuffled", "steps_per_epoch": 8, "first_epoch_step": 0,
        "drop_last": true,
        "parameters": [{"name": "fc.weight", "shape": [2, 2], "offset": 0},
                       {"name": "fc.bias", "shape": [2], "offset": 4}],
        "trajectory": {"every": 1},
        "basis": {"at_step": 300}
    })
}

fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

fn edit_manifest(run: &Path, f: impl FnOnce(&mut Value)) {
    let path = run.join("run.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    f(&mut v);
    write_json(&path, &v);
}

/// A valid v2 run: write_valid_run's arrays plus basis/ and hessian_in_basis.npy everywhere.
fn write_v2_run(dir: &Path) {
    write_valid_run(dir, D, 64, 3, 7);
    write_json(&dir.join("run.json"), &v2_manifest());
    let b = dir.join("basis");
    std::fs::create_dir_all(&b).unwrap();
    write_f64(&b.join("hessian_eigvecs.npy"), &[M, D], &eigvecs()).unwrap();
    write_f64(&b.join("hessian_eigvals.npy"), &[M], &eigvals()).unwrap();
    write_f64(&b.join("hessian_residuals.npy"), &[M], &[0.0; M]).unwrap();
    for s in [100, 200, 300] {
        let p = dir.join(format!("checkpoints/step_{s}/hessian_in_basis.npy"));
        write_f64(&p, &[M, M], &in_basis()).unwrap();
    }
}

fn load(dir: &Path) -> sgd_ou::error::Result<Run> {
    Run::load(dir, &LoadOptions { dims: 8, seed: 1 })
}

#[test]
fn valid_v2_run_is_read_with_its_basis_and_parameter_map() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_v2_run(&run);
    let r = load(&run).unwrap();
    let m = &r.manifest;
    assert_eq!(m.format_version, 2);
    let resh = m.reshuffling.unwrap();
    assert_eq!((resh.steps_per_epoch, resh.drop_last), (8, true));
    assert_eq!(resh.step_in_epoch(100), 4);
    let params = m.parameters.as_ref().unwrap();
    assert_eq!(params.name_of(3).unwrap(), "fc.weight[1, 1]");
    assert_eq!(params.name_of(5).unwrap(), "fc.bias[1]");
    assert_eq!(m.trajectory.unwrap().every, 1);
    let b = r.basis.as_ref().unwrap();
    assert_eq!((b.m, b.d, b.at_step), (M, D, 300));
    assert_eq!(b.eigvals, eigvals());
    assert_eq!(b.row(0), &eigvecs()[..D]);
    assert_eq!(
        b.project(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        vec![6.0, 5.0, 4.0]
    );
    assert_eq!(
        b.hessian_in_basis.keys().copied().collect::<Vec<_>>(),
        [100, 200, 300]
    );
    assert_eq!(b.hessian_in_basis[&200][(1, 1)], 5.0);
    let inputs: Vec<&str> = r.inputs.iter().map(|f| f.path.as_str()).collect();
    for f in [
        "basis/hessian_eigvecs.npy",
        "basis/hessian_eigvals.npy",
        "basis/hessian_residuals.npy",
        "checkpoints/step_200/hessian_in_basis.npy",
    ] {
        assert!(inputs.contains(&f), "{f} not in {inputs:?}");
    }
}

#[test]
fn valid_v2_run_verifies_with_the_same_verdicts_as_its_v1_twin() {
    let tmp = tempdir();
    let v1 = tmp.path().join("v1");
    let v2 = tmp.path().join("v2");
    write_valid_run(&v1, D, 64, 3, 7);
    write_v2_run(&v2);
    // same arrays, same per-step noise law (reshuffled draws without replacement each step)
    let o = sgd_ou(&[
        "verify",
        "--run-dir",
        p(&v2),
        "--out",
        p(&out_dir(tmp.path())),
    ]);
    assert!(
        matches!(o.status.code(), Some(0 | 1 | 3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out_dir(tmp.path()).join("report.json").exists());
    let opts = sgd_ou::Options::default();
    let a = sgd_ou::verify(&v1, &opts).unwrap();
    let b = sgd_ou::verify(&v2, &opts).unwrap();
    // The OU section differs on purpose: a reshuffled declaration is predicted (or declared
    // inapplicable) with the reshuffled formula (docs/methods.md, "Sampling designs").
    let strip =
        |r: &sgd_ou::report::Report| json!({"assumptions": r.assumptions, "verdict": r.verdict});
    assert_eq!(strip(&a), strip(&b));
    let kind = |r: &sgd_ou::report::Report| match &r.ou_prediction.metrics {
        sgd_ou::checks::Evidence::OuPrediction(e) => Some(e.prediction),
        _ => None,
    };
    assert_ne!(
        kind(&b),
        Some(sgd_ou::checks::ou_prediction::PredictionKind::Discrete)
    );
    let md = std::fs::read_to_string(out_dir(tmp.path()).join("report.md")).unwrap();
    assert!(
        md.contains("sampling reshuffled each epoch, 8 steps per epoch"),
        "the Markdown report names the reshuffled design"
    );
}

#[test]
fn bundled_v1_example_verifies_identically_when_relabelled_v2() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quadratic-gaussian");
    let tmp = tempdir();
    let dst = tmp.path().join("run");
    copy_dir(&src, &dst);
    let traj_steps = |r: &Run| r.trajectory.as_ref().unwrap().steps.clone();
    let original = load(&src).unwrap();
    let every = {
        let s = traj_steps(&original);
        (s[1] - s[0]) as u64
    };
    edit_manifest(&dst, |v| {
        v["format_version"] = json!(2);
        v["trajectory"] = json!({ "every": every });
        v["parameters"] = json!([{"name": "theta", "shape": [4], "offset": 0}]);
    });
    let relabelled = load(&dst).unwrap();
    assert_eq!(
        relabelled.manifest.parameters.unwrap().name_of(2).unwrap(),
        "theta[2]"
    );
    let opts = sgd_ou::Options::default();
    let a = sgd_ou::verify(&src, &opts).unwrap();
    let b = sgd_ou::verify(&dst, &opts).unwrap();
    assert_eq!(
        serde_json::to_value(&a.assumptions).unwrap(),
        serde_json::to_value(&b.assumptions).unwrap()
    );
    assert_eq!(
        serde_json::to_value(a.verdict).unwrap(),
        serde_json::to_value(b.verdict).unwrap()
    );
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), to).unwrap();
        }
    }
}

/// Builds a valid v2 run, applies `breakage`, runs `verify --out`, and checks the failure mode.
fn assert_rejected(breakage: impl FnOnce(&Path), must_mention: &[&str]) {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_v2_run(&run);
    assert!(load(&run).is_ok(), "the unbroken run is valid");
    breakage(&run);
    let out = out_dir(tmp.path());
    let o = sgd_ou(&["verify", "--run-dir", p(&run), "--out", p(&out)]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    for m in must_mention {
        assert!(stderr.contains(m), "`{m}` not in: {stderr}");
    }
    assert!(!out.exists(), "a report was written despite the error");
}

fn basis_file(run: &Path, name: &str) -> std::path::PathBuf {
    run.join("basis").join(name)
}

#[test]
fn eigvecs_with_the_wrong_shape() {
    assert_rejected(
        |r| {
            write_f64(
                &basis_file(r, "hessian_eigvecs.npy"),
                &[M, D - 1],
                &[0.0; M * (D - 1)],
            )
            .unwrap()
        },
        &["hessian_eigvecs.npy", "(m, d) = (m, 6)"],
    );
}

#[test]
fn more_eigvecs_than_parameters() {
    assert_rejected(
        |r| {
            let mut v = vec![0.0; (D + 1) * D];
            for i in 0..D {
                v[i * D + i] = 1.0;
            }
            write_f64(&basis_file(r, "hessian_eigvecs.npy"), &[D + 1, D], &v).unwrap()
        },
        &["hessian_eigvecs.npy", "1 ≤ m ≤ 6"],
    );
}

#[test]
fn eigvals_with_the_wrong_length() {
    assert_rejected(
        |r| {
            write_f64(
                &basis_file(r, "hessian_eigvals.npy"),
                &[M + 1],
                &[4.0, 3.0, 2.0, 1.0],
            )
            .unwrap()
        },
        &["hessian_eigvals.npy", "(m,) = (3,)"],
    );
}

#[test]
fn eigvals_not_sorted() {
    assert_rejected(
        |r| {
            write_f64(
                &basis_file(r, "hessian_eigvals.npy"),
                &[M],
                &[6.0, 4.0, 5.0],
            )
            .unwrap()
        },
        &["hessian_eigvals.npy", "decreasing eigenvalue", "sort"],
    );
}

#[test]
fn negative_residual() {
    assert_rejected(
        |r| {
            write_f64(
                &basis_file(r, "hessian_residuals.npy"),
                &[M],
                &[0.0, -1e-3, 0.0],
            )
            .unwrap()
        },
        &["hessian_residuals.npy", "entry 1", "≥ 0"],
    );
}

#[test]
fn missing_residuals() {
    assert_rejected(
        |r| std::fs::remove_file(basis_file(r, "hessian_residuals.npy")).unwrap(),
        &["hessian_residuals.npy", "is missing"],
    );
}

#[test]
fn non_finite_eigenvalue() {
    assert_rejected(
        |r| {
            write_f64(
                &basis_file(r, "hessian_eigvals.npy"),
                &[M],
                &[f64::NAN, 5.0, 4.0],
            )
            .unwrap()
        },
        &["hessian_eigvals.npy"],
    );
}

#[test]
fn eigvecs_not_orthonormal_in_float64() {
    assert_rejected(
        |r| {
            let mut v = eigvecs();
            v[D - 1] = 1.0 + 2e-6; // |v_1|² − 1 ≈ 4e-6 > 1e-6
            write_f64(&basis_file(r, "hessian_eigvecs.npy"), &[M, D], &v).unwrap()
        },
        &["hessian_eigvecs.npy", "not orthonormal", "[0, 0]", "1e-6"],
    );
}

#[test]
fn float32_eigvecs_use_the_float32_tolerance() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_v2_run(&run);
    let mut v: Vec<f32> = eigvecs().iter().map(|&x| x as f32).collect();
    v[0] = 2e-4; // (V Vᵀ)[0, 0] − 1 = 4e-8, small overlaps: fine at 1e-3, not at 1e-6
    v[D - 2] = 3e-4;
    write_f32(&basis_file(&run, "hessian_eigvecs.npy"), &[M, D], &v).unwrap();
    load(&run).unwrap();
    v[D - 2] = 0.0;
    v[D - 1] = 0.9985; // |v_1|² − 1 ≈ −3.0e-3
    write_f32(&basis_file(&run, "hessian_eigvecs.npy"), &[M, D], &v).unwrap();
    let err = load(&run).unwrap_err().to_string();
    assert!(
        err.contains("not orthonormal") && err.contains("1e-3"),
        "{err}"
    );
}

#[test]
fn eigvec_sign_convention() {
    assert_rejected(
        |r| {
            let mut v = eigvecs();
            v[D + D - 2] = -1.0; // row 1's largest entry negative
            write_f64(&basis_file(r, "hessian_eigvecs.npy"), &[M, D], &v).unwrap()
        },
        &["hessian_eigvecs.npy", "row 1", "multiply row 1 by −1"],
    );
}

#[test]
fn basis_folder_without_manifest_field() {
    assert_rejected(
        |r| edit_manifest(r, |v| drop(v.as_object_mut().unwrap().remove("basis"))),
        &["run.json", "basis/ folder", "at_step"],
    );
}

#[test]
fn manifest_basis_without_folder() {
    assert_rejected(
        |r| std::fs::remove_dir_all(r.join("basis")).unwrap(),
        &["basis", "is missing", "hessian_eigvecs.npy"],
    );
}

#[test]
fn hessian_in_basis_without_basis() {
    assert_rejected(
        |r| {
            std::fs::remove_dir_all(r.join("basis")).unwrap();
            edit_manifest(r, |v| drop(v.as_object_mut().unwrap().remove("basis")));
        },
        &["step_100/hessian_in_basis.npy", "no basis/ folder"],
    );
}

#[test]
fn hessian_in_basis_wrong_shape() {
    assert_rejected(
        |r| {
            let p = r.join("checkpoints/step_200/hessian_in_basis.npy");
            write_f64(&p, &[M + 1, M + 1], &[0.0; (M + 1) * (M + 1)]).unwrap()
        },
        &["step_200/hessian_in_basis.npy", "(m, m) = (3, 3)"],
    );
}

#[test]
fn hessian_in_basis_not_symmetric() {
    assert_rejected(
        |r| {
            let mut b = in_basis();
            b[1] = 0.01;
            let p = r.join("checkpoints/step_300/hessian_in_basis.npy");
            write_f64(&p, &[M, M], &b).unwrap()
        },
        &[
            "step_300/hessian_in_basis.npy",
            "not symmetric",
            "(B + Bᵀ)/2",
        ],
    );
}

#[test]
fn parameters_do_not_tile_d() {
    assert_rejected(
        |r| {
            edit_manifest(r, |v| {
                v["parameters"] = json!([{"name": "w", "shape": [2, 2], "offset": 0}]);
            })
        },
        &["run.json", "cover 4 values", "d = 6"],
    );
}

#[test]
fn parameters_with_a_gap() {
    assert_rejected(
        |r| {
            edit_manifest(r, |v| v["parameters"][1]["offset"] = json!(5));
        },
        &["run.json", "parameters[1]", "offset 5", "end at 4"],
    );
}

#[test]
fn reshuffled_with_a_wrong_epoch_length() {
    assert_rejected(
        |r| edit_manifest(r, |v| v["steps_per_epoch"] = json!(7)),
        &["run.json", "steps_per_epoch", "make 8 steps per epoch"],
    );
}

#[test]
fn reshuffled_without_drop_last() {
    assert_rejected(
        |r| edit_manifest(r, |v| drop(v.as_object_mut().unwrap().remove("drop_last"))),
        &["run.json", "drop_last"],
    );
}

#[test]
fn epoch_fields_without_reshuffling() {
    assert_rejected(
        |r| edit_manifest(r, |v| v["sampling"] = json!("with_replacement")),
        &["run.json", "steps_per_epoch", "not \"reshuffled\""],
    );
}

#[test]
fn reshuffled_needs_format_2() {
    assert_rejected(
        |r| edit_manifest(r, |v| v["format_version"] = json!(1)),
        &["run.json", "needs format_version 2"],
    );
}

#[test]
fn trajectory_every_contradicts_steps() {
    assert_rejected(
        |r| edit_manifest(r, |v| v["trajectory"] = json!({"every": 2})),
        &["run.json", "trajectory.every", "from step 100 to 101"],
    );
}

#[test]
fn trajectory_every_without_trajectory() {
    assert_rejected(
        |r| std::fs::remove_dir_all(r.join("trajectory")).unwrap(),
        &["run.json", "no trajectory/ folder"],
    );
}

#[test]
fn unknown_format_version() {
    assert_rejected(
        |r| edit_manifest(r, |v| v["format_version"] = json!(3)),
        &["run.json", "format_version 3", "formats 1 and 2"],
    );
}
