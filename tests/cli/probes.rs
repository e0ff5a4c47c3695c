//! The optional loss-probe files of format v1 (docs/run-dir-format.md, "Loss probes"): reading,
//! the spread along each direction, and validation errors that name the file and the fix.

use std::path::Path;

use sgd_ou::run::npy::{read_f64, write_f64};
use sgd_ou::run::{LoadOptions, Run};
use sgd_ou::simulate::{simulate, ProbeConfig, Scenario, SimConfig};

fn sim(dir: &Path, probes: bool) {
    sim_d(dir, probes, 4);
}

/// Parameters of the run whose probes are compared with a projected run: above
/// `ALL_COORDINATES_MAX_D`, so k = 2 is a random subspace and the probes must stay full-space.
const D: usize = 40;

fn sim_d(dir: &Path, probes: bool, d: usize) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    let mut cfg = SimConfig::default_for(Scenario::QuadraticGaussian);
    cfg.checkpoints = 4;
    if d != cfg.d {
        cfg.d = d;
        cfg.curvatures = (0..d)
            .map(|i| 1.0 + 2.0 * i as f64 / (d - 1) as f64)
            .collect();
    }
    cfg.probes = probes.then_some(ProbeConfig {
        offsets: 9,
        range: 3.0,
    });
    simulate(Scenario::QuadraticGaussian, &cfg, 11, dir).unwrap();
}

fn load(dir: &Path) -> Result<Run, sgd_ou::Error> {
    Run::load(dir, &LoadOptions { dims: 2, seed: 5 })
}

fn first_ckpt(dir: &Path) -> std::path::PathBuf {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v.into_iter().next().unwrap()
}

fn err(dir: &Path) -> String {
    load(dir).expect_err("must be rejected").to_string()
}

#[test]
fn probes_are_read_with_their_spread() {
    let tmp = tempfile::tempdir().unwrap();
    sim_d(tmp.path(), true, D);
    let run = load(tmp.path()).unwrap();
    // k = 2 < d = 40 (random subspace): the probes stay full-space.
    assert_eq!(run.k(), 2);
    let mut thetas = Vec::new();
    for c in &run.checkpoints {
        thetas.push(read_f64(&c.dir.join("params.npy")).unwrap().1);
    }
    let (traj_shape, traj) = read_f64(&tmp.path().join("trajectory/params.npy")).unwrap();
    for (ci, c) in run.checkpoints.iter().enumerate() {
        let p = c.probes.as_ref().expect("probes present");
        let (ds, dirs) = read_f64(&c.dir.join("probe_directions.npy")).unwrap();
        let (_, offsets) = read_f64(&c.dir.join("probe_offsets.npy")).unwrap();
        let (ls, losses) = read_f64(&c.dir.join("probe_losses.npy")).unwrap();
        assert_eq!(ds, vec![D, D]);
        assert_eq!(ls, vec![D, 9]);
        assert_eq!(p.m(), D);
        assert_eq!(p.offsets, offsets);
        assert_eq!(p.losses.nrows(), D);
        assert_eq!(p.losses[(2, 5)], losses[2 * 9 + 5]);
        for j in 0..D {
            let v = &dirs[j * D..(j + 1) * D];
            let dot = |x: &[f64]| v.iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
            assert!((p.direction_norms[j] - 1.0).abs() < 1e-12);
            assert!((p.origin[j] - dot(&thetas[ci])).abs() < 1e-12);
            let u: Vec<f64> = thetas.iter().map(|t| dot(t)).collect();
            let mean = u.iter().sum::<f64>() / 4.0;
            let sd = (u.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
            let s = &p.checkpoint_spread[j];
            assert_eq!(s.n, 4);
            assert!((s.mean - mean).abs() < 1e-12 && (s.sd - sd).abs() < 1e-12);
            assert_eq!(s.ess, 4.0);
            let ts = &p.trajectory_spread.as_ref().unwrap()[j];
            let ut: Vec<f64> = traj.chunks(D).map(dot).collect();
            assert_eq!(ts.n, traj_shape[0]);
            let tm = ut.iter().sum::<f64>() / ut.len() as f64;
            assert!((ts.mean - tm).abs() < 1e-12);
            assert!(ts.min <= ts.mean && ts.mean <= ts.max);
            assert!(ts.ess > 1.0 && ts.ess <= ts.n as f64);
        }
    }
    let listed: Vec<&str> = run.inputs.iter().map(|f| f.path.as_str()).collect();
    for f in [
        "probe_directions.npy",
        "probe_offsets.npy",
        "probe_losses.npy",
    ] {
        assert_eq!(
            listed.iter().filter(|p| p.ends_with(f)).count(),
            4,
            "{f} listed once per checkpoint in the inputs"
        );
    }
}

#[test]
fn runs_without_probes_load_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    sim(tmp.path(), false);
    let run = load(tmp.path()).unwrap();
    assert!(run.checkpoints.iter().all(|c| c.probes.is_none()));
    assert!(!run.inputs.iter().any(|f| f.path.contains("probe_")));
}

#[test]
fn a_missing_probe_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    sim(tmp.path(), true);
    let c = first_ckpt(tmp.path());
    std::fs::remove_file(c.join("probe_offsets.npy")).unwrap();
    let e = err(tmp.path());
    assert!(
        e.contains("probe_offsets.npy") && e.contains("all three"),
        "{e}"
    );
}

#[test]
fn wrong_shapes_are_rejected_with_the_expected_shape() {
    let tmp = tempfile::tempdir().unwrap();
    sim(tmp.path(), true);
    let c = first_ckpt(tmp.path());
    write_f64(&c.join("probe_directions.npy"), &[4, 5], &[1.0; 20]).unwrap();
    let e = err(tmp.path());
    assert!(
        e.contains("probe_directions.npy") && e.contains("(m, 4)"),
        "{e}"
    );

    sim(tmp.path(), true);
    let c = first_ckpt(tmp.path());
    write_f64(&c.join("probe_losses.npy"), &[4, 8], &[1.0; 32]).unwrap();
    let e = err(tmp.path());
    assert!(
        e.contains("probe_losses.npy") && e.contains("[4, 9]"),
        "{e}"
    );

    sim(tmp.path(), true);
    let c = first_ckpt(tmp.path());
    write_f64(&c.join("probe_offsets.npy"), &[2], &[0.0, 1.0]).unwrap();
    let e = err(tmp.path());
    assert!(
        e.contains("probe_offsets.npy") && e.contains("p ≥ 3"),
        "{e}"
    );
}

#[test]
fn bad_values_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    sim(tmp.path(), true);
    let c = first_ckpt(tmp.path());
    let (_, mut o) = read_f64(&c.join("probe_offsets.npy")).unwrap();
    o.swap(2, 3);
    write_f64(&c.join("probe_offsets.npy"), &[9], &o).unwrap();
    let e = err(tmp.path());
    assert!(
        e.contains("strictly increasing") && e.contains("sort"),
        "{e}"
    );

    sim(tmp.path(), true);
    let c = first_ckpt(tmp.path());
    let (_, mut l) = read_f64(&c.join("probe_losses.npy")).unwrap();
    l[7] = f64::NAN;
    write_f64(&c.join("probe_losses.npy"), &[4, 9], &l).unwrap();
    let e = err(tmp.path());
    assert!(
        e.contains("probe_losses.npy") && e.contains("non-finite"),
        "{e}"
    );

    sim(tmp.path(), true);
    let c = first_ckpt(tmp.path());
    let (_, mut v) = read_f64(&c.join("probe_directions.npy")).unwrap();
    v[4..8].iter_mut().for_each(|x| *x = 0.0);
    write_f64(&c.join("probe_directions.npy"), &[4, 4], &v).unwrap();
    let e = err(tmp.path());
    assert!(
        e.contains("probe_directions.npy") && e.contains("row 1"),
        "{e}"
    );
}
