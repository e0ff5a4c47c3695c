//! Every bad-input case of the run-directory format: exit code 2, a one-line error that names the
//! file and the fix, no panic, and no report written.

use crate::common;

use std::path::Path;

use common::*;
use sgd_ou::run::npy::{write_f32, write_f64};

/// Builds a valid run, applies `breakage`, runs `verify --out`, and checks the failure mode.
fn assert_rejected(breakage: impl FnOnce(&Path), must_mention: &[&str]) {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 64, 3, 7);
    breakage(&run);
    let out = out_dir(tmp.path());
    let o = sgd_ou(&["verify", "--run-dir", p(&run), "--out", p(&out)]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one-line error expected: {stderr}"
    );
    for m in must_mention {
        assert!(stderr.contains(m), "`{m}` not in: {stderr}");
    }
    assert!(!out.exists(), "a report was written despite the error");
    // The library returns the same error instead of panicking.
    assert!(sgd_ou::verify(&run, &sgd_ou::Options::default()).is_err());
}

#[test]
fn valid_run_is_accepted() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 64, 3, 7);
    let o = sgd_ou(&["verify", "--run-dir", p(&run)]);
    assert!(
        matches!(o.status.code(), Some(0 | 1 | 3)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn missing_run_json() {
    assert_rejected(
        |r| std::fs::remove_file(r.join("run.json")).unwrap(),
        &["run.json", "cannot read"],
    );
}

#[test]
fn malformed_run_json() {
    assert_rejected(
        |r| std::fs::write(r.join("run.json"), "{not json").unwrap(),
        &["run.json", "not valid JSON"],
    );
}

fn manifest(r: &Path, body: &str) {
    std::fs::write(r.join("run.json"), body).unwrap();
}

#[test]
fn missing_required_fields() {
    for field in [
        "format_version",
        "learning_rate",
        "batch_size",
        "dataset_size",
    ] {
        let mut v: serde_json::Value = serde_json::from_str(
            r#"{"format_version": 1, "learning_rate": 0.01, "batch_size": 8, "dataset_size": 64}"#,
        )
        .unwrap();
        v.as_object_mut().unwrap().remove(field);
        let body = v.to_string();
        assert_rejected(|r| manifest(r, &body), &["run.json", field]);
    }
}

#[test]
fn unknown_format_version() {
    assert_rejected(
        |r| {
            manifest(
                r,
                r#"{"format_version": 3, "learning_rate": 0.01, "batch_size": 8, "dataset_size": 64}"#,
            )
        },
        &["run.json", "format_version 3"],
    );
}

#[test]
fn non_positive_learning_rate() {
    for lr in ["0", "-0.1"] {
        let body = format!(
            r#"{{"format_version": 1, "learning_rate": {lr}, "batch_size": 8, "dataset_size": 64}}"#
        );
        assert_rejected(|r| manifest(r, &body), &["run.json", "learning_rate"]);
    }
}

#[test]
fn batch_larger_than_dataset() {
    assert_rejected(
        |r| {
            manifest(
                r,
                r#"{"format_version": 1, "learning_rate": 0.01, "batch_size": 80, "dataset_size": 64}"#,
            )
        },
        &["run.json", "batch_size"],
    );
}

#[test]
fn contradictory_enum_fields() {
    assert_rejected(
        |r| {
            manifest(
                r,
                r#"{"format_version": 1, "learning_rate": 0.01, "batch_size": 8, "dataset_size": 64, "gradients": "full"}"#,
            )
        },
        &["run.json", "gradients"],
    );
}

#[test]
fn missing_grads() {
    assert_rejected(
        |r| std::fs::remove_file(r.join("checkpoints/step_200/grads.npy")).unwrap(),
        &["step_200/grads.npy", "cannot open"],
    );
}

#[test]
fn missing_params() {
    assert_rejected(
        |r| std::fs::remove_file(r.join("checkpoints/step_100/params.npy")).unwrap(),
        &["step_100/params.npy"],
    );
}

#[test]
fn truncated_npy() {
    assert_rejected(
        |r| {
            let f = r.join("checkpoints/step_200/grads.npy");
            let bytes = std::fs::read(&f).unwrap();
            std::fs::write(&f, &bytes[..bytes.len() - 100]).unwrap();
        },
        &["step_200/grads.npy", "truncated"],
    );
}

#[test]
fn not_an_npy_file() {
    assert_rejected(
        |r| std::fs::write(r.join("checkpoints/step_200/grads.npy"), b"hello").unwrap(),
        &["step_200/grads.npy", "not a valid .npy"],
    );
}

#[test]
fn wrong_dtype() {
    assert_rejected(
        |r| {
            let f = r.join("checkpoints/step_100/params.npy");
            sgd_ou::run::npy::write_i64(&f, &[1, 2, 3]).unwrap();
        },
        &["step_100/params.npy", "int64", "float32 or float64"],
    );
}

#[test]
fn float32_is_accepted() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 64, 3, 7);
    write_f32(
        &run.join("checkpoints/step_100/params.npy"),
        &[3],
        &[0.0, 0.1, -0.1],
    )
    .unwrap();
    assert!(sgd_ou::verify(&run, &sgd_ou::Options::default()).is_ok());
}

#[test]
fn shape_mismatch_params_grads() {
    assert_rejected(
        |r| {
            write_f64(
                &r.join("checkpoints/step_100/grads.npy"),
                &[64, 4],
                &vec![0.5; 256],
            )
            .unwrap()
        },
        &["step_100/grads.npy", "(n, 3)"],
    );
}

#[test]
fn shape_mismatch_across_checkpoints() {
    assert_rejected(
        |r| {
            let c = r.join("checkpoints/step_300");
            write_f64(&c.join("params.npy"), &[4], &[0.0; 4]).unwrap();
            write_f64(&c.join("grads.npy"), &[64, 4], &vec![0.5; 256]).unwrap();
            write_f64(&c.join("hessian.npy"), &[4, 4], &[0.0; 16]).unwrap();
        },
        &["step_300/params.npy", "same flattened parameter vector"],
    );
}

#[test]
fn bad_hessian_shape() {
    assert_rejected(
        |r| {
            write_f64(
                &r.join("checkpoints/step_100/hessian.npy"),
                &[3, 2],
                &[0.0; 6],
            )
            .unwrap()
        },
        &["step_100/hessian.npy", "(d, d)"],
    );
}

#[test]
fn nan_in_gradients() {
    assert_rejected(
        |r| {
            let mut g = vec![0.25; 64 * 3];
            g[17] = f64::NAN;
            write_f64(&r.join("checkpoints/step_200/grads.npy"), &[64, 3], &g).unwrap();
        },
        &["step_200/grads.npy", "non-finite", "[5, 2]"],
    );
}

#[test]
fn inf_in_params() {
    assert_rejected(
        |r| {
            write_f64(
                &r.join("checkpoints/step_100/params.npy"),
                &[3],
                &[0.0, f64::INFINITY, 0.0],
            )
            .unwrap()
        },
        &["step_100/params.npy", "non-finite"],
    );
}

#[test]
fn fewer_than_two_checkpoints() {
    assert_rejected(
        |r| {
            std::fs::remove_dir_all(r.join("checkpoints/step_200")).unwrap();
            std::fs::remove_dir_all(r.join("checkpoints/step_300")).unwrap();
        },
        &["checkpoints", "only one checkpoint"],
    );
}

#[test]
fn no_checkpoints() {
    assert_rejected(
        |r| {
            std::fs::remove_dir_all(r.join("checkpoints")).unwrap();
            std::fs::create_dir(r.join("checkpoints")).unwrap();
        },
        &["checkpoints", "no step_<N>"],
    );
}

#[test]
fn bad_checkpoint_name() {
    assert_rejected(
        |r| std::fs::create_dir(r.join("checkpoints/step_x1")).unwrap(),
        &["step_x1", "step_<N>"],
    );
}

#[test]
fn trajectory_shape_and_order() {
    assert_rejected(
        |r| write_f64(&r.join("trajectory/params.npy"), &[50, 2], &[0.0; 100]).unwrap(),
        &["trajectory/params.npy", "(T, d)"],
    );
    assert_rejected(
        |r| {
            sgd_ou::run::npy::write_i64(&r.join("trajectory/steps.npy"), &[5; 50]).unwrap();
        },
        &["trajectory/steps.npy", "strictly increasing"],
    );
}

#[test]
fn missing_run_dir_and_usage_errors() {
    let o = sgd_ou(&["verify", "--run-dir", "/nonexistent/run"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/run"));
    let o = sgd_ou(&["verify"]);
    assert_eq!(o.status.code(), Some(2), "clap usage errors exit 2");
    let o = sgd_ou(&["verify", "--run-dir", ".", "--dims", "0"]);
    assert_eq!(o.status.code(), Some(2));
}

#[cfg(unix)]
#[test]
fn closed_stdout_is_not_a_panic() {
    use std::process::{Command, Stdio};
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 64, 3, 7);
    // The reader closes the pipe at once; the JSON report is larger than a pipe buffer.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
        .args(["verify", "--run-dir", p(&run), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
