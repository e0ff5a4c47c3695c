//! Helpers shared by the integration tests: small valid run directories built in place.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sgd_ou::run::npy::{write_f64, write_i64};

/// A small valid per-example run: d parameters, n examples, `checkpoints` checkpoints of a
/// quadratic loss with Gaussian per-example noise (the same examples at every checkpoint), a
/// Hessian at each checkpoint and a trajectory. Written with the crate's own npy writer.
pub fn write_valid_run(dir: &Path, d: usize, n: usize, checkpoints: usize, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    std::fs::write(
        dir.join("run.json"),
        format!(
            r#"{{"format_version": 1, "learning_rate": 0.01, "batch_size": 8, "dataset_size": {n}, "model": "test"}}"#
        ),
    )
    .unwrap();
    let xi: Vec<f64> = (0..n * d)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let h: Vec<f64> = (0..d * d)
        .map(|i| {
            if i / d == i % d {
                1.0 + (i / d) as f64
            } else {
                0.0
            }
        })
        .collect();
    for c in 0..checkpoints {
        let cdir = dir.join(format!("checkpoints/step_{}", 100 * (c + 1)));
        std::fs::create_dir_all(&cdir).unwrap();
        let theta: Vec<f64> = (0..d)
            .map(|_| 0.05 * Distribution::<f64>::sample(&StandardNormal, &mut rng))
            .collect();
        let grads: Vec<f64> = (0..n * d)
            .map(|i| xi[i] + h[(i % d) * d + i % d] * theta[i % d])
            .collect();
        write_f64(&cdir.join("params.npy"), &[d], &theta).unwrap();
        write_f64(&cdir.join("grads.npy"), &[n, d], &grads).unwrap();
        write_f64(&cdir.join("hessian.npy"), &[d, d], &h).unwrap();
    }
    let t = 50;
    let traj: Vec<f64> = (0..t * d)
        .map(|_| 0.05 * Distribution::<f64>::sample(&StandardNormal, &mut rng))
        .collect();
    std::fs::create_dir_all(dir.join("trajectory")).unwrap();
    write_i64(
        &dir.join("trajectory/steps.npy"),
        &(0..t as i64).map(|s| 100 + s).collect::<Vec<_>>(),
    )
    .unwrap();
    write_f64(&dir.join("trajectory/params.npy"), &[t, d], &traj).unwrap();
}

/// Runs the sgd-ou binary with `args`.
pub fn sgd_ou(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sgd-ou"))
        .args(args)
        .output()
        .expect("the sgd-ou binary runs")
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub fn out_dir(root: &Path) -> PathBuf {
    root.join("report-out")
}

/// A hand-written .npy file (format 1.0): `descr` (e.g. `'<f4'`), Fortran order or not, `shape`
/// as Python tuple text, and the raw data bytes, in the header layout NumPy writes.
pub fn npy_bytes(path: &Path, descr: &str, fortran: bool, shape: &str, data: &[u8]) {
    let order = if fortran { "True" } else { "False" };
    let mut dict =
        format!("{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, }}").into_bytes();
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

/// Replicate multiplier of the calibration tests: 1 in `make test` (reduced counts that can
/// still fail), `SGD_OU_CALIBRATE_SCALE` (set by `make calibrate`) at full size.
pub fn calibration_scale() -> usize {
    std::env::var("SGD_OU_CALIBRATE_SCALE")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&k| k >= 1)
        .unwrap_or(1)
}

/// Most false fails allowed in `reps` replications at nominal rate `alpha`: the count at
/// alpha + 2 Monte Carlo standard errors, alpha + 2·√(alpha(1 − alpha)/reps).
pub fn max_false_fails(reps: usize, alpha: f64) -> usize {
    let r = reps as f64;
    (r * (alpha + 2.0 * (alpha * (1.0 - alpha) / r).sqrt())).floor() as usize
}

/// In `make calibrate` (`SGD_OU_CALIBRATION_OUT` set), appends a Markdown section to
/// `<dir>/<name>.md`; the target concatenates them into docs/calibration.md. Does nothing in
/// `make test`.
pub fn record_calibration(name: &str, markdown: &str) {
    let Some(dir) = std::env::var_os("SGD_OU_CALIBRATION_OUT") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.md")))
        .unwrap();
    writeln!(f, "{markdown}").unwrap();
}

/// As [`record_calibration`], one table row; `header` (the table's header lines) is written
/// first when the file is new.
pub fn record_calibration_row(name: &str, header: &str, row: &str) {
    let Some(dir) = std::env::var_os("SGD_OU_CALIBRATION_OUT") else {
        return;
    };
    if !PathBuf::from(dir).join(format!("{name}.md")).exists() {
        record_calibration(name, header);
    }
    record_calibration(name, row);
}
