//! Hostile input at the reader level (issue 17): FIFOs, devices and directories where files are
//! expected, shapes whose byte size wraps, absurd Hessians, huge `--dims`, files truncated while
//! being read, odd checkpoint names and manifests, and dtypes the format does not take. Every
//! case must end with exit code 2 and a one-line error naming the file, quickly, with no panic
//! and no report written.

mod common;

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
        std::thread::sleep(Duration::from_millis(20));
    }
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
    let mut dict =
        format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}").into_bytes();
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(b' ');
    }
    dict.push(b'\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&dict);
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
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
    sgd_ou::run::npy::write_i64(&tr.join("steps.npy"), &(100..100 + t as i64).collect::<Vec<_>>())
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
