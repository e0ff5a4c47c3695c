//! Calibration of the every-coordinate piece of `gaussian_noise` (issue 16) at d ≫ k: heavy
//! tails confined to a few of d = 1,000 coordinates, which the k = 8 random analysis
//! directions dilute by ~1/√d, must still fail the check; a dense Gaussian run must not.
//!
//! The runs are written here (per-example gradients, N = n = 512 examples, the same at both
//! checkpoints, S = 16 without replacement): every coordinate N(0, 1) except the first few,
//! which are a centred lognormal (σ = 1; all moments finite, minibatch skewness ≈ 1.5 at S = 16)
//! or Student-t(2.5) (no fourth moment) scaled to unit variance. Targets, over named seeds
//! 1..=R (R = 20 · `SGD_OU_CALIBRATE_SCALE`): fail in ≥ 95 % − 2 Monte Carlo SE, and the dense
//! Gaussian run does not fail in ≥ 95 % − 2 SE.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, StudentT};
use sgd_ou::checks::gaussian_noise::{self, every_coordinate::EveryCoordinate};
use sgd_ou::checks::{Context, Thresholds, Verdict};
use sgd_ou::run::npy::write_f64;
use sgd_ou::run::{LoadOptions, Run};

use crate::common;

const N: usize = 512;
const S: usize = 16;
const D: usize = 1000;
const CHECKPOINTS: usize = 2;

#[derive(Clone, Copy, Debug)]
enum Tail {
    Gaussian,
    Lognormal { coords: usize, sigma: f64 },
    StudentT { coords: usize, nu: f64 },
}

/// One unit-variance draw of coordinate j.
fn draw(tail: Tail, j: usize, rng: &mut ChaCha8Rng, t: Option<&StudentT<f64>>) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    match tail {
        Tail::Lognormal { coords, sigma } if j < coords => {
            let s2 = sigma * sigma;
            ((sigma * z).exp() - (s2 / 2.0).exp()) / ((s2.exp() - 1.0) * s2.exp()).sqrt()
        }
        Tail::StudentT { coords, nu } if j < coords => {
            t.expect("t law").sample(rng) / (nu / (nu - 2.0)).sqrt()
        }
        _ => z,
    }
}

fn write_run(dir: &Path, tail: Tail, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let t = match tail {
        Tail::StudentT { nu, .. } => Some(StudentT::new(nu).unwrap()),
        _ => None,
    };
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    std::fs::write(
        dir.join("run.json"),
        format!(
            r#"{{"format_version": 1, "learning_rate": 0.01, "batch_size": {S}, "dataset_size": {N}, "gradients": "per_example", "sampling": "without_replacement", "model": "scale_gaussian calibration"}}"#
        ),
    )
    .unwrap();
    let g: Vec<f64> = (0..N * D)
        .map(|i| draw(tail, i % D, &mut rng, t.as_ref()))
        .collect();
    for c in 0..CHECKPOINTS {
        let cdir = dir.join(format!("checkpoints/step_{}", 100 * (c + 1)));
        std::fs::create_dir_all(&cdir).unwrap();
        write_f64(&cdir.join("params.npy"), &[D], &vec![0.0; D]).unwrap();
        write_f64(&cdir.join("grads.npy"), &[N, D], &g).unwrap();
    }
}

/// The check's verdict and its every-coordinate evidence on one seeded run.
fn run_check(tail: Tail, seed: u64) -> (Verdict, EveryCoordinate) {
    let tmp = common::tempdir();
    let dir = tmp.path().join("run");
    write_run(&dir, tail, seed);
    let run = Run::load(&dir, &LoadOptions { dims: 8, seed: 1 }).expect("load");
    let th = Thresholds::default();
    let c = gaussian_noise::check(&Context::new(&run, 7, &th));
    let ev = c.evidence.expect("evidence");
    (c.decision.verdict, ev.every_coordinate.expect("screen"))
}

fn seeds() -> u64 {
    20 * common::calibration_scale() as u64
}

/// Smallest count meeting "rate ≥ 0.95 − 2 Monte Carlo SE" over `r` replications.
fn needed(r: u64) -> u64 {
    let rf = r as f64;
    let p = 0.95;
    (rf * (p - 2.0 * (p * (1.0 - p) / rf).sqrt())).ceil() as u64
}

/// Runs one family; returns (failures, failures by the tail rule, votes).
fn family(name: &str, tail: Tail) -> (u64, u64, u64) {
    let (mut fails, mut by_tail, mut votes) = (0, 0, 0);
    for seed in 1..=seeds() {
        let (v, e) = run_check(tail, seed);
        fails += u64::from(v == Verdict::Fail);
        by_tail += u64::from(e.flagged_by_tail > 0);
        votes += u64::from(e.votes);
        eprintln!(
            "{name} seed {seed}: {v:?}, flagged {} ({} by tail), p {:.3e}, worst {:?}",
            e.flagged,
            e.flagged_by_tail,
            e.p_fail_holm,
            e.worst.first().map(|w| w.index)
        );
    }
    common::record_calibration_row(
        "scale_gaussian",
        "## Every coordinate at d = 1,000 (k = 8, N = n = 512, S = 16)\n\n| family | fails | by tail rule | seeds |\n|---|---|---|---|",
        &format!("| {name} | {fails} | {by_tail} | {} |", seeds()),
    );
    (fails, by_tail, votes)
}

#[test]
fn lognormal_in_three_coordinates_fails() {
    let (fails, _, votes) = family(
        "lognormal σ = 1 in 3 of 1,000",
        Tail::Lognormal {
            coords: 3,
            sigma: 1.0,
        },
    );
    assert_eq!(votes, seeds());
    assert!(fails >= needed(seeds()), "{fails}/{}", seeds());
}

#[test]
fn student_t_in_six_coordinates_fails() {
    let (fails, _, _) = family(
        "Student-t(2.5) in 6 of 1,000",
        Tail::StudentT { coords: 6, nu: 2.5 },
    );
    assert!(fails >= needed(seeds()), "{fails}/{}", seeds());
}

#[test]
fn dense_gaussian_does_not_fail() {
    let (fails, _, _) = family("Gaussian, all 1,000", Tail::Gaussian);
    assert!(seeds() - fails >= needed(seeds()), "{fails}/{}", seeds());
}
