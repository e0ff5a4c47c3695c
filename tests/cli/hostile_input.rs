//! Hostile input (issue 17): FIFOs, devices and directories where files are expected, shapes
//! whose byte size wraps, absurd Hessians, huge `--dims`, files truncated while being read, odd
//! checkpoint names and manifests, dtypes the format does not take, iterates of extreme
//! magnitude, big shapes and the `stats` commands. Bad input must end with exit code 2 and a
//! one-line error naming the file, quickly, with no panic and no report written; too little data
//! with exit code 3 and the reason.
//!
//! Checklist: every row of the issue's table and every "message to mend", with its test (in this
//! file unless another is named).
//!
//! | issue row | test |
//! |---|---|
//! | any input is a FIFO (run.json, params, grads, losses, hessian, steps, safetensors, `stats`) | `fifos_are_not_regular_files` |
//! | run.json linked to /dev/zero or /dev/urandom | `devices_and_directories_are_refused`, `oversized_run_json_is_refused_before_reading` |
//! | trajectory params finite but ≥ 1e100 (endless SVD) | `extreme_but_finite_iterates_end_with_a_verdict`; caps: `linalg::tests` (unit) |
//! | npy shape whose byte size wraps (run and `stats`) | `wrapping_shapes_are_refused` |
//! | `stats mvn --projections 1e12` | `stats_counts_above_their_ceiling_are_usage_errors` |
//! | stdout is /dev/full | `tests/cli/stdout_errors.rs`: `dev_full_stdout_gives_exit_2_and_one_line` |
//! | `--out` rename fails midway; two verifies on one `--out` | `tests/cli/report_out.rs`: `a_failure_mid_way_leaves_the_old_set`, `concurrent_processes_leave_one_consistent_set`, `concurrent_threads_never_mix_sets` |
//! | grads.npy truncated while read (SIGBUS) | `a_file_truncated_while_read_is_an_error_naming_it` |
//! | n = 10⁵ rows × 8 checkpoints (bootstrap indices stored) | `many_rows_stay_within_the_documented_memory` (n = 25,000); stream order: `model::context::tests` (unit); `make bench-memory` |
//! | d = 10⁷ (basis kept twice) | `random_basis_is_stored_once`; `make bench-memory` |
//! | `--dims 100000` on d = 200,000 | `huge_dims_are_refused` |
//! | valid header of an 8 TB Hessian | `absurd_hessian_is_refused_without_reading_it` |
//! | `step_+5` | `signed_step_names_are_refused` |
//! | `stats normality` with every test skipped | `stats_normality_with_every_test_skipped_exits_3` |
//! | `stats cov-equal` with a 1-row group | `stats_cov_equal_one_row_group_gives_a_clear_reason` |
//! | `--out RUN/checkpoints/step_9999` | `tests/cli/report_out.rs`: `out_inside_the_run_directory_is_refused` |
//!
//! | message to mend | test |
//! |---|---|
//! | uint64 / big-endian steps.npy | `dtype_messages_are_clear` |
//! | non-UTF-8 run.json; UTF-8 BOM | `manifest_encoding_problems_have_clear_messages` |
//! | directory or /dev/null as grads.npy | `devices_and_directories_are_refused` |
//! | object dtypes; structured dtypes (debug dump) | `dtype_messages_are_clear` |
//! | 26 spaces mid-sentence | every `rejected` case (no run of spaces), `stats_errors_do_not_talk_about_run_directories` |
//! | safetensors errors that do not name the tensor | `safetensors_offset_errors_name_the_tensor` |
//! | `stats` errors that talk about run directories | `stats_errors_do_not_talk_about_run_directories` |
//! | 30 KB six-line message for a nested header | `nested_headers_give_short_messages` |
//! | `stats cov-equal` angles in radians, p-values `0.0000` (issue 18) | `stats_cov_equal_prints_degrees_and_p_values_as_verify_does` |
//!
//! Ill-conditioned moments: `tests/reference/stats_offset.rs`. Parsers under mutation: `tests/properties/fuzz_parsers.rs`
//! (`make fuzz`: 10⁵ mutations per parser).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sgd_ou::run::array::ArraySource;

/// Runs sgd-ou with a deadline (a hang fails the test instead of blocking it).
fn run_with_deadline(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("sgd-ou {args:?} hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `VmHWM` of a live process in bytes (None once it has exited).
fn vm_hwm(pid: libc::pid_t) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A valid run in a temp dir, broken by `breakage`; `verify --out` must exit 2 with a one-line
/// error containing every `needle`, and write no report.
fn rejected(breakage: impl FnOnce(&Path), needles: &[&str]) -> String {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 32, 3, 7);
    breakage(&run);
    let out = tmp.path().join("out");
    let (code, err) = run_with_deadline(&["verify", "--run-dir", p(&run), "--out", p(&out)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.len() < 1200, "short message: {} bytes", err.len());
    assert!(!err.contains("   "), "a run of spaces mid-sentence: {err}");
    for n in needles {
        assert!(err.contains(n), "`{n}` not in: {err}");
    }
    assert!(!out.exists());
    err
}

fn mkfifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

fn ckpt(run: &Path, file: &str) -> PathBuf {
    run.join("checkpoints/step_100").join(file)
}

/// A hand-written .npy file: `descr`, `shape` (Python tuple text) and raw data bytes.
fn npy_raw(path: &Path, descr: &str, shape: &str, data: &[u8]) {
    common::npy_bytes(path, descr, false, shape, data);
}

#[test]
fn fifos_are_not_regular_files() {
    for f in [
        "run.json",
        "checkpoints/step_100/params.npy",
        "checkpoints/step_100/grads.npy",
        "checkpoints/step_100/hessian.npy",
        "checkpoints/step_200/losses.npy",
        "trajectory/steps.npy",
    ] {
        rejected(|r| mkfifo(&r.join(f)), &["not a regular file (a FIFO)", f]);
    }
    // a FIFO named checkpoint.safetensors
    rejected(
        |r| {
            for f in ["params.npy", "grads.npy", "hessian.npy"] {
                std::fs::remove_file(ckpt(r, f)).unwrap();
            }
            mkfifo(&ckpt(r, "checkpoint.safetensors"));
        },
        &["checkpoint.safetensors", "not a regular file"],
    );
    // the `stats` commands read through the same gate
    let tmp = tempdir();
    let f = tmp.path().join("x.npy");
    mkfifo(&f);
    let (code, err) = run_with_deadline(&["stats", "normality", p(&f)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn devices_and_directories_are_refused() {
    rejected(
        |r| {
            std::fs::remove_file(r.join("run.json")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", r.join("run.json")).unwrap();
        },
        &["run.json", "not a regular file (a character device)"],
    );
    rejected(
        |r| {
            std::fs::remove_file(r.join("run.json")).unwrap();
            std::os::unix::fs::symlink("/dev/urandom", r.join("run.json")).unwrap();
        },
        &["run.json", "not a regular file (a character device)"],
    );
    rejected(
        |r| {
            std::fs::remove_file(ckpt(r, "grads.npy")).unwrap();
            std::os::unix::fs::symlink("/dev/null", ckpt(r, "grads.npy")).unwrap();
        },
        &["grads.npy", "not a regular file"],
    );
    rejected(
        |r| {
            std::fs::remove_file(ckpt(r, "grads.npy")).unwrap();
            std::fs::create_dir(ckpt(r, "grads.npy")).unwrap();
        },
        &["grads.npy", "not a regular file (a directory)"],
    );
    // a symbolic link to a regular file is fine
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 32, 3, 7);
    let real = tmp.path().join("real.json");
    std::fs::rename(run.join("run.json"), &real).unwrap();
    std::os::unix::fs::symlink(&real, run.join("run.json")).unwrap();
    let (code, err) = run_with_deadline(&["verify", "--run-dir", p(&run)]);
    assert!(matches!(code, Some(0 | 1 | 3)), "{err}");
}

#[test]
fn oversized_run_json_is_refused_before_reading() {
    rejected(
        |r| {
            let f = std::fs::File::create(r.join("run.json")).unwrap();
            f.set_len(1 << 40).unwrap(); // sparse: 1 TiB announced, nothing read
        },
        &["run.json", "limit"],
    );
}

#[test]
fn wrapping_shapes_are_refused() {
    for shape in ["(2305843009213693952,)", "(4611686018427387904, 4)"] {
        rejected(
            |r| npy_raw(&ckpt(r, "params.npy"), "'<f8'", shape, &[0; 64]),
            &["params.npy", "overflows"],
        );
    }
    let tmp = tempdir();
    let f = tmp.path().join("x.npy");
    npy_raw(&f, "'<f8'", "(4611686018427387904, 4)", &[0; 64]);
    let (code, err) = run_with_deadline(&["stats", "normality", p(&f)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("overflows") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn absurd_hessian_is_refused_without_reading_it() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 32, 2, 7);
    let d = 40_000usize;
    for step in ["step_100", "step_200"] {
        let c = run.join("checkpoints").join(step);
        sgd_ou::run::npy::write_f64(&c.join("params.npy"), &[d], &vec![0.0; d]).unwrap();
        sgd_ou::run::npy::write_f32(&c.join("grads.npy"), &[4, d], &vec![0.5; 4 * d]).unwrap();
        // A valid header for a 40,000² float64 Hessian (12.8 GB), as a sparse file.
        npy_raw(&c.join("hessian.npy"), "'<f8'", &format!("({d}, {d})"), &[]);
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(c.join("hessian.npy"))
            .unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len + (d * d * 8) as u64).unwrap();
    }
    std::fs::remove_dir_all(run.join("trajectory")).unwrap();
    let t = Instant::now();
    let (code, err) = run_with_deadline(&["verify", "--run-dir", p(&run)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("hessian.npy") && err.contains("32768"),
        "{err}"
    );
    assert!(t.elapsed() < Duration::from_secs(20));
}

#[test]
fn huge_dims_are_refused() {
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 32, 2, 7);
    let (code, err) = run_with_deadline(&["verify", "--run-dir", p(&run), "--dims", "100000"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--dims 100000") && err.contains("limit"),
        "{err}"
    );
}

#[test]
fn random_basis_is_stored_once() {
    let (d, k) = (200_000, 8);
    let s = sgd_ou::run::Subspace::new(d, k, 3);
    assert_eq!(s.basis_bytes(), d * k * 8);
}

#[test]
fn signed_step_names_are_refused() {
    for name in ["step_+5", "step_-5", "step_ 5", "step_"] {
        rejected(
            |r| std::fs::create_dir(r.join("checkpoints").join(name)).unwrap(),
            &["decimal digits only", name.trim()],
        );
    }
}

#[test]
fn manifest_encoding_problems_have_clear_messages() {
    let body =
        r#"{"format_version": 1, "learning_rate": 0.01, "batch_size": 8, "dataset_size": 32}"#;
    rejected(
        |r| {
            let mut b = b"\xef\xbb\xbf".to_vec();
            b.extend_from_slice(body.as_bytes());
            std::fs::write(r.join("run.json"), b).unwrap();
        },
        &["run.json", "byte-order mark"],
    );
    rejected(
        |r| {
            let mut b = body.as_bytes().to_vec();
            b.insert(2, 0xff);
            std::fs::write(r.join("run.json"), b).unwrap();
        },
        &["run.json", "not UTF-8", "offset 2"],
    );
}

#[test]
fn dtype_messages_are_clear() {
    // uint64 and big-endian steps: the suggested conversion is one the reader accepts
    for descr in ["'<u8'", "'>i8'"] {
        let err = rejected(
            |r| npy_raw(&r.join("trajectory/steps.npy"), descr, "(50,)", &[0; 400]),
            &["steps.npy", "astype('<i8')"],
        );
        assert!(!err.contains("astype(numpy.float64)"), "{err}");
    }
    rejected(
        |r| npy_raw(&ckpt(r, "params.npy"), "'|O'", "(3,)", &[0; 24]),
        &["params.npy", "dtype object"],
    );
    let err = rejected(
        |r| {
            npy_raw(
                &ckpt(r, "params.npy"),
                "[('a', '<f8'), ('b', '<f8')]",
                "(3,)",
                &[0; 48],
            )
        },
        &["params.npy", "structured dtype", "fields a, b"],
    );
    assert!(!err.contains("Record") && !err.contains("TypeStr"), "{err}");
}

#[test]
fn nested_headers_give_short_messages() {
    let nested = format!("{}{}", "[".repeat(15_000), "]".repeat(15_000));
    let err = rejected(
        |r| npy_raw(&ckpt(r, "params.npy"), &nested, "(3,)", &[0; 24]),
        &["params.npy"],
    );
    assert!(err.len() < 1200, "{} bytes", err.len());
    // the same for a safetensors header
    let tmp = tempdir();
    let f = tmp.path().join("c.safetensors");
    let header = format!("{{\"params\": {}}}", nested);
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    std::fs::write(&f, bytes).unwrap();
    let msg = sgd_ou::run::safetensors::open_tensors(&f)
        .unwrap_err()
        .to_string();
    assert!(msg.len() < 600, "{} bytes: {}", msg.len(), &msg[..200]);
}

#[test]
fn safetensors_offset_errors_name_the_tensor() {
    let tmp = tempdir();
    let f = tmp.path().join("c.safetensors");
    let header = r#"{"params":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"grads":{"dtype":"F32","shape":[2,3],"data_offsets":[12,30]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 30]);
    std::fs::write(&f, bytes).unwrap();
    let msg = sgd_ou::run::safetensors::open_tensors(&f)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("tensor \"grads\"") && msg.contains("24 bytes"),
        "{msg}"
    );
}

#[test]
fn a_file_truncated_while_read_is_an_error_naming_it() {
    let tmp = tempdir();
    let f = tmp.path().join("grads.npy");
    sgd_ou::run::npy::write_f32(&f, &[1000, 1000], &vec![1.0; 1_000_000]).unwrap();
    let a = sgd_ou::run::npy::NpyArray::open(&f, false).unwrap();
    // An exporter re-saves the file after it was opened (and validated).
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let err = a.for_each(|_, _, _| {}).unwrap_err().to_string();
    assert!(
        err.contains("grads.npy") && err.contains("truncated or rewritten"),
        "{err}"
    );
    let _ = ArraySource::shape(&a);
}

/// A valid run whose iterates (checkpoint and trajectory params) are multiplied by `scale`, with
/// a 200-row trajectory and its losses ½ Σ h_j θ_j² + noise (so the loss model fits a free A,
/// the path whose uncapped SVD looped forever at 1e100).
fn scaled_run(run: &Path, scale: f64) {
    write_valid_run(run, 3, 32, 3, 7);
    for step in ["step_100", "step_200", "step_300"] {
        let f = run.join("checkpoints").join(step).join("params.npy");
        let a = sgd_ou::run::npy::NpyArray::open(&f, false).unwrap();
        let theta: Vec<f64> = a.to_vec_f64().unwrap().iter().map(|v| v * scale).collect();
        drop(a);
        sgd_ou::run::npy::write_f64(&f, &[3], &theta).unwrap();
    }
    let t = 200;
    let theta: Vec<f64> = (0..t * 3)
        .map(|i| scale * (((i * 37 + 11) % 101) as f64 / 101.0 - 0.5))
        .collect();
    let losses: Vec<f64> = (0..t)
        .map(|s| {
            let q: f64 = (0..3)
                .map(|j| 0.5 * (1.0 + j as f64) * theta[3 * s + j] * theta[3 * s + j])
                .sum();
            q * (1.0 + 1e-3 * (((s * 13) % 7) as f64 - 3.0))
        })
        .collect();
    let tr = run.join("trajectory");
    sgd_ou::run::npy::write_i64(
        &tr.join("steps.npy"),
        &(100..100 + t as i64).collect::<Vec<_>>(),
    )
    .unwrap();
    sgd_ou::run::npy::write_f64(&tr.join("params.npy"), &[t, 3], &theta).unwrap();
    sgd_ou::run::npy::write_f64(&tr.join("losses.npy"), &[t], &losses).unwrap();
}

#[test]
fn extreme_but_finite_iterates_end_with_a_verdict() {
    for scale in [1e100, 1e-100, 1e150] {
        let tmp = tempdir();
        let run = tmp.path().join("run");
        scaled_run(&run, scale);
        let out = tmp.path().join("out");
        let (code, err) = run_with_deadline(&["verify", "--run-dir", p(&run), "--out", p(&out)]);
        assert!(matches!(code, Some(1..=3)), "{scale}: {code:?} {err}");
        assert!(!err.contains("panicked"), "{err}");
        if code == Some(2) {
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            continue;
        }
        let report = std::fs::read_to_string(out.join("report.json")).unwrap();
        // The loss model (the formerly endless SVD) gave its evidence with a reason.
        assert!(
            report.contains("loss model: ") && report.contains("trajectory losses"),
            "{scale}: no loss-model reason in the report"
        );
    }
}

/// An (n, d) float64 array of N(0, scale²) values (seeded), written as .npy.
fn normal_npy(path: &Path, n: usize, d: usize, scale: f64, label: &str) {
    use rand::RngExt;
    let mut r = sgd_ou::rng::stream(3, label);
    let x: Vec<f64> = (0..n * d)
        .map(|_| scale * r.sample::<f64, _>(rand_distr::StandardNormal))
        .collect();
    sgd_ou::run::npy::write_f64(path, &[n, d], &x).unwrap();
}

/// Runs sgd-ou with a deadline and returns (exit code, stdout, stderr).
fn stats(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn stats_counts_above_their_ceiling_are_usage_errors() {
    let tmp = tempdir();
    let f = tmp.path().join("x.npy");
    normal_npy(&f, 50, 3, 1.0, "ceiling");
    for (flag, value, needle) in [
        ("--projections", "1000000000000", "ceiling 10000"),
        ("--projections", "1e12", "whole number from 0 to 10000"),
        ("--mc-draws", "1000000000000", "ceiling 100000"),
        ("--univariate-null-draws", "99999999999", "ceiling 1000000"),
    ] {
        let t = Instant::now();
        let (code, _, err) = stats(&["stats", "mvn", p(&f), flag, value]);
        assert_eq!(code, Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag) && err.contains(needle), "{err}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
    let (code, _, err) = stats(&["stats", "cov-equal", p(&f), p(&f), "--permutations", "1e9"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--permutations"), "{err}");
}

#[test]
fn stats_normality_with_every_test_skipped_exits_3() {
    let tmp = tempdir();
    let f = tmp.path().join("const.npy");
    sgd_ou::run::npy::write_f64(&f, &[10, 1], &[4.0; 10]).unwrap();
    let (code, out, err) = stats(&["stats", "normality", p(&f)]);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(out.matches("skipped").count(), 5, "{out}");
    assert!(out.contains("zero variance"), "{out}");
    // all tests run: exit 0
    let g = tmp.path().join("x.npy");
    normal_npy(&g, 40, 1, 1.0, "all-run");
    assert_eq!(stats(&["stats", "normality", p(&g)]).0, Some(0));
}

#[test]
fn stats_cov_equal_one_row_group_gives_a_clear_reason() {
    let tmp = tempdir();
    let (a, b) = (tmp.path().join("a.npy"), tmp.path().join("b.npy"));
    normal_npy(&a, 20, 3, 1.0, "one-row-a");
    normal_npy(&b, 1, 3, 1.0, "one-row-b");
    let (code, out, err) = stats(&["stats", "cov-equal", p(&a), p(&b)]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        out.contains("b.npy has 1 row; each group needs at least 2 rows (d + 1 = 4"),
        "{out}"
    );
    assert!(
        !out.contains('{') && !out.contains("NaN or infinite"),
        "{out}"
    );
    let (code, out, _) = stats(&["stats", "cov-equal", p(&a), p(&b), "--json"]);
    assert_eq!(code, Some(3));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["box_m"]["inconclusive"]
        .as_str()
        .unwrap()
        .contains("1 row"));
}

#[test]
fn stats_cov_equal_prints_degrees_and_p_values_as_verify_does() {
    let tmp = tempdir();
    let (a, b) = (tmp.path().join("a.npy"), tmp.path().join("b.npy"));
    normal_npy(&a, 200, 3, 1.0, "fmt-a");
    normal_npy(&b, 200, 3, 10.0, "fmt-b");
    let (code, out, err) = stats(&["stats", "cov-equal", p(&a), p(&b), "--permutations", "99"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("< 1e-16"), "Box's M p-value: {out}");
    assert!(!out.contains("0.0000"), "{out}");
    assert!(out.contains('°') && !out.contains("rad"), "{out}");
}

#[test]
fn stats_errors_do_not_talk_about_run_directories() {
    let tmp = tempdir();
    let missing = tmp.path().join("missing.npy");
    let nan = tmp.path().join("nan.npy");
    sgd_ou::run::npy::write_f64(&nan, &[3], &[1.0, f64::NAN, 2.0]).unwrap();
    let fifo = tmp.path().join("fifo.npy");
    mkfifo(&fifo);
    for f in [&missing, &nan, &fifo] {
        for cmd in [vec!["normality"], vec!["mvn"], vec!["cov-equal", p(f)]] {
            let mut args = vec!["stats"];
            args.extend(cmd.iter().take(1));
            args.push(p(f));
            args.extend(cmd.iter().skip(1));
            let (code, err) = run_with_deadline(&args);
            assert_eq!(code, Some(2), "{args:?}: {err}");
            let name = f.file_name().unwrap().to_str().unwrap();
            assert!(err.contains(name), "{err}");
            let low = err.to_lowercase();
            for word in [
                "run-dir",
                "run dir",
                "run diverged",
                "run.json",
                "gradients",
            ] {
                assert!(!low.contains(word), "`{word}` in a stats error: {err}");
            }
        }
    }
}

/// Runs `verify` on `run` and returns (exit code, peak RSS in bytes) of that child alone,
/// failing after 600 s (a hang, not a slow machine). The peak is the child's own high-water
/// mark `VmHWM` (/proc/PID/status), polled every 5 ms until it exits: `wait4`'s `ru_maxrss`
/// would also count the memory of this test process, which Linux carries over the child's
/// exec (and this binary holds other tests' data). Only the last few ms before exit are unseen.
#[allow(clippy::zombie_processes)] // the child is reaped by `wait4`, which also gives its rusage
fn verify_peak_rss(run: &Path) -> (Option<i32>, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
        .args(["verify", "--run-dir", p(run), "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let mut peak = 0u64;
    loop {
        peak = peak.max(vm_hwm(pid).unwrap_or(0));
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid out-parameter; pid is our own unwaited child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4");
        if r == pid {
            let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
            return (code, peak);
        }
        if start.elapsed() > Duration::from_secs(600) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("verify hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn many_rows_stay_within_the_documented_memory() {
    // n rows × 8 checkpoints at d = 3: the stored bootstrap indices alone took B × 8 × n × 8
    // bytes (2.5 GiB at n = 10⁵, 640 MiB at the n = 25,000 used here to keep the test short on
    // a loaded machine; `make bench-memory` runs n = 10⁵); now one resample is alive at a time
    // and the window does not copy the run. O(n·k + d·k) promises a few MB here.
    let tmp = tempdir();
    let run = tmp.path().join("run");
    write_valid_run(&run, 3, 25_000, 8, 11);
    let (code, rss) = verify_peak_rss(&run);
    assert!(matches!(code, Some(0 | 1 | 3)), "{code:?}");
    assert!(rss > 1 << 20, "no peak RSS was measured: {rss} bytes");
    assert!(rss < 200 << 20, "peak RSS {} MiB", rss >> 20);
}
