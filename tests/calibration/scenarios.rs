//! Every simulated scenario, with a fixed seed, gets the verdicts its design says it must
//! (docs/scenarios.md); the bundled example is exactly what `make examples` regenerates, and it
//! passes.

use crate::common;

use std::path::Path;

use common::*;
use sgd_ou::simulate::{simulate, ExpectedVerdict, Scenario, SimConfig};

fn verdicts(run: &Path) -> serde_json::Value {
    let report = sgd_ou::verify(run, &sgd_ou::Options::default()).unwrap();
    let mut out = serde_json::Map::new();
    for (k, r) in report.assumptions.iter() {
        out.insert(k.key().into(), r.verdict.as_str().into());
    }
    serde_json::Value::Object(out)
}

fn check_scenario(s: Scenario, seed: u64) {
    let tmp = tempdir();
    let run = tmp.path().join(s.name());
    simulate(s, &SimConfig::default_for(s), seed, &run).unwrap();
    let got = verdicts(&run);
    let e = s.expected();
    for (key, want) in [
        ("gaussian_noise", e.gaussian_noise),
        ("constant_covariance", e.constant_covariance),
        ("small_step", e.small_step),
        ("quadratic_loss", e.quadratic_loss),
    ] {
        if want != ExpectedVerdict::Any {
            assert_eq!(
                got[key],
                want.as_str(),
                "{} (seed {seed}): {key}: {got}",
                s.name()
            );
        }
    }
}

#[test]
fn quadratic_gaussian_passes_all_four() {
    check_scenario(Scenario::QuadraticGaussian, 1);
}

#[test]
fn heavy_tailed_noise_fails_gaussian_noise() {
    check_scenario(Scenario::HeavyTailedNoise, 1);
}

#[test]
fn state_dependent_noise_fails_constant_covariance() {
    check_scenario(Scenario::StateDependentNoise, 1);
}

#[test]
fn large_step_fails_small_step() {
    check_scenario(Scenario::LargeStep, 1);
}

#[test]
fn quartic_basin_fails_quadratic_loss() {
    check_scenario(Scenario::QuarticBasin, 1);
}

#[test]
fn least_squares_passes_all_four() {
    check_scenario(Scenario::LeastSquares, 1);
}

#[test]
fn double_well_deep_passes_and_crossing_fails() {
    check_scenario(Scenario::DoubleWellDeep, 1);
    check_scenario(Scenario::DoubleWellCrossing, 1);
}

#[test]
fn drift_then_diffusion_passes() {
    check_scenario(Scenario::DriftThenDiffusion, 1);
}

#[test]
fn cli_exit_codes_follow_the_verdicts() {
    let tmp = tempdir();
    for (s, code) in [
        (Scenario::QuadraticGaussian, 0),
        (Scenario::LargeStep, 1),
        (Scenario::HeavyTailedNoise, 1),
    ] {
        let run = tmp.path().join(s.name());
        let o = sgd_ou(&[
            "simulate",
            "--scenario",
            s.name(),
            "--out",
            p(&run),
            "--seed",
            "1",
        ]);
        assert_eq!(o.status.code(), Some(0));
        let o = sgd_ou(&["verify", "--run-dir", p(&run)]);
        assert_eq!(o.status.code(), Some(code), "{}", s.name());
        let table = String::from_utf8_lossy(&o.stdout);
        assert!(table.contains("Overall:"));
    }
    // Inconclusive: drop every Hessian and the trajectory, and keep 4 checkpoints (fewer than
    // the k + 2 = 6 a gradient regression needs), so small_step cannot estimate A.
    let run = tmp.path().join("no-hessian");
    let o = sgd_ou(&[
        "simulate",
        "--scenario",
        "quadratic-gaussian",
        "--out",
        p(&run),
    ]);
    assert_eq!(o.status.code(), Some(0));
    let mut dirs: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort_by_key(|d| {
        d.file_name().unwrap().to_string_lossy()[5..]
            .parse::<u64>()
            .unwrap()
    });
    for (i, d) in dirs.iter().enumerate() {
        if i < 4 {
            std::fs::remove_file(d.join("hessian.npy")).unwrap();
        } else {
            std::fs::remove_dir_all(d).unwrap();
        }
    }
    std::fs::remove_dir_all(run.join("trajectory")).unwrap();
    let o = sgd_ou(&["verify", "--run-dir", p(&run), "--json"]);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["assumptions"]["small_step"]["verdict"], "inconclusive");
    assert_eq!(o.status.code(), Some(3), "{r}");
    // Unknown scenario: usage error.
    let o = sgd_ou(&[
        "simulate",
        "--scenario",
        "nope",
        "--out",
        p(&tmp.path().join("x")),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn bundled_example_is_reproducible_and_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = root.join("examples/quadratic-gaussian");
    let tmp = tempdir();
    let fresh = tmp.path().join("qg");
    let s = Scenario::QuadraticGaussian;
    simulate(s, &SimConfig::default_for(s), 1, &fresh).unwrap();
    for rel in walk(&fresh) {
        let a = std::fs::read(fresh.join(&rel)).unwrap();
        let b = std::fs::read(example.join(&rel)).unwrap_or_else(|_| {
            panic!("{rel} missing from the bundled example: run `make examples`")
        });
        assert_eq!(
            a, b,
            "{rel} differs from `make examples` output: run `make examples`"
        );
    }
    let o = sgd_ou(&["verify", "--run-dir", p(&example)]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .to_string(),
                );
            }
        }
    }
    out.sort();
    out
}
