//! The blocked streaming pass against a straightforward reference: the projected gradient rows
//! are bit-identical to projecting each full row element by element (`Subspace::project`), for
//! C-order and Fortran-order .npy, safetensors, rows wider than a block (row segments) and
//! blocks of several rows; ‖ḡ‖² and tr Ĉ agree with a two-pass computation within 1e-12
//! relative; the SHA-256 recorded for each input equals a digest of the file's bytes.

use std::path::Path;

use crate::common;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sgd_ou::run::{LoadOptions, Run, Subspace};

fn write_npy_f32(path: &Path, n: usize, d: usize, data: &[f32], fortran: bool) {
    // data is row-major; Fortran files store column by column
    let bytes: Vec<u8> = (0..n * d)
        .flat_map(|i| {
            let v = if fortran {
                data[(i % n) * d + i / n]
            } else {
                data[i]
            };
            v.to_le_bytes()
        })
        .collect();
    common::npy_bytes(path, "'<f4'", fortran, &format!("({n}, {d})"), &bytes);
}

/// Writes a run with `m` checkpoints of (n, d) float32 gradients; returns them row-major.
fn write_run(dir: &Path, n: usize, d: usize, m: usize, fortran: bool) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    std::fs::write(
        dir.join("run.json"),
        format!(r#"{{"format_version": 1, "learning_rate": 0.01, "batch_size": 2, "dataset_size": {n}}}"#),
    )
    .unwrap();
    let mut all = Vec::new();
    for c in 0..m {
        let cdir = dir.join(format!("checkpoints/step_{}", c + 1));
        std::fs::create_dir_all(&cdir).unwrap();
        let theta: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
        // offset by 1e3 so the variance needs a careful formula
        let g: Vec<f32> = (0..n * d)
            .map(|_| 1e3 + Distribution::<f32>::sample(&StandardNormal, &mut rng))
            .collect();
        sgd_ou::run::npy::write_f64(&cdir.join("params.npy"), &[d], &theta).unwrap();
        write_npy_f32(&cdir.join("grads.npy"), n, d, &g, fortran);
        all.push(g);
    }
    all
}

fn check(run: &Run, grads: &[Vec<f32>], n: usize, d: usize, dims: usize) {
    let sub = Subspace::new(d, dims, 1);
    for (c, g) in run.checkpoints.iter().zip(grads) {
        for i in 0..n {
            let row: Vec<f64> = g[i * d..(i + 1) * d]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            let want = sub.project(&row);
            for (a, w) in want.iter().enumerate() {
                assert_eq!(c.grads[(i, a)].to_bits(), w.to_bits(), "row {i} coord {a}");
            }
        }
        let (mut mean2, mut trace) = (0.0, 0.0);
        for j in 0..d {
            let col: Vec<f64> = (0..n).map(|i| f64::from(g[i * d + j])).collect();
            let mean = col.iter().sum::<f64>() / n as f64;
            mean2 += mean * mean;
            trace += col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        }
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
        assert!(
            rel(c.mean_grad_norm2, mean2) < 1e-12,
            "{} vs {mean2}",
            c.mean_grad_norm2
        );
        assert!(
            rel(c.trace_cov, trace) < 1e-12,
            "{} vs {trace}",
            c.trace_cov
        );
    }
    for f in &run.inputs {
        let bytes = std::fs::read(run.dir.join(&f.path)).unwrap();
        use sha2::Digest;
        let want: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(f.sha256, want, "{}", f.path);
        assert_eq!(f.bytes, bytes.len() as u64);
    }
}

#[test]
fn blocks_of_rows_c_and_fortran_order() {
    for fortran in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let (n, d) = (37, 3001);
        let g = write_run(tmp.path(), n, d, 2, fortran);
        let run = Run::load(tmp.path(), &LoadOptions { dims: 8, seed: 1 }).unwrap();
        check(&run, &g, n, d, 8);
        // k not a multiple of the SIMD width
        let run = Run::load(tmp.path(), &LoadOptions { dims: 5, seed: 1 }).unwrap();
        check(&run, &g, n, d, 5);
    }
}

#[test]
fn rows_wider_than_a_block_are_read_in_segments() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, d) = (5, sgd_ou::run::pass::BLOCK_BYTES / 8 * 2 + 123);
    let g = write_run(tmp.path(), n, d, 2, false);
    let run = Run::load(tmp.path(), &LoadOptions { dims: 8, seed: 1 }).unwrap();
    check(&run, &g, n, d, 8);
}

#[test]
fn groups_of_wide_rows_match_one_row_at_a_time() {
    // Rows wider than a block are read a group of rows at a time and handed out as tiles of
    // (group × column range): several groups and a short last group, and rows too wide to group
    // (the one-line segment plan) all give the element-by-element projection bit for bit.
    let wide = sgd_ou::run::pass::BLOCK_BYTES / 8 + 77;
    // Rows over GROUP_BYTES / 2 bytes are read one row segment at a time (no group).
    let huge = sgd_ou::run::pass::GROUP_BYTES / 4 / 2 + 1;
    for (n, d) in [(37, wide), (2, huge)] {
        let tmp = tempfile::tempdir().unwrap();
        let g = write_run(tmp.path(), n, d, 2, false);
        let run = Run::load(tmp.path(), &LoadOptions { dims: 5, seed: 1 }).unwrap();
        check(&run, &g, n, d, 5);
    }
    // Fortran order with long columns: groups of columns, tiles of row ranges.
    let tmp = tempfile::tempdir().unwrap();
    let (n, d) = (wide, 3);
    let g = write_run(tmp.path(), n, d, 2, true);
    let run = Run::load(tmp.path(), &LoadOptions { dims: 8, seed: 1 }).unwrap();
    check(&run, &g, n, d, 8);
}

#[test]
fn a_non_finite_value_in_a_group_of_wide_rows_is_named_first_in_file_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, d) = (6, sgd_ou::run::pass::BLOCK_BYTES / 8 + 5);
    let mut g = write_run(tmp.path(), n, d, 2, false).remove(0);
    // one NaN late in row 2 and one early in row 4: the first in file order is row 2's
    g[2 * d + d - 3] = f32::NAN;
    g[4 * d + 1] = f32::INFINITY;
    write_npy_f32(
        &tmp.path().join("checkpoints/step_1/grads.npy"),
        n,
        d,
        &g,
        false,
    );
    let err = match Run::load(tmp.path(), &LoadOptions { dims: 8, seed: 1 }) {
        Ok(_) => panic!("a NaN must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("grads.npy"), "{err}");
    assert!(err.contains(&format!("[2, {}]", d - 3)), "{err}");
}

#[test]
fn identity_subspace_when_d_is_small() {
    let tmp = tempfile::tempdir().unwrap();
    let (n, d) = (20, 6);
    let g = write_run(tmp.path(), n, d, 3, false);
    let run = Run::load(tmp.path(), &LoadOptions { dims: 8, seed: 1 }).unwrap();
    check(&run, &g, n, d, 8);
}
