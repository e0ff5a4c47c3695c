//! The analysis window: by default the diffusion phase (from the first checkpoint with
//! noise-to-signal ratio ≥ 1); `--from-step/--to-step` override it; a run with no diffusion phase is
//! inconclusive, not failed.

use crate::common;

use common::*;
use sgd_ou::simulate::{simulate, Scenario, SimConfig};

#[test]
fn drift_checkpoints_are_excluded_and_the_rest_passes() {
    let tmp = tempdir();
    let run = tmp.path().join("dd");
    let s = Scenario::DriftThenDiffusion;
    simulate(s, &SimConfig::default_for(s), 1, &run).unwrap();
    let r = sgd_ou::verify(&run, &sgd_ou::Options::default()).unwrap();
    let w = &r.run.window;
    assert_eq!(w.method, sgd_ou::phases::WindowMethod::Auto);
    assert!(
        !w.excluded.is_empty(),
        "the drift checkpoints must be excluded"
    );
    assert!(w.excluded.contains(&0), "step 0 starts 50 sd away: drift");
    // Every excluded checkpoint precedes every analysed one, and is in the drift phase.
    let first = w.checkpoints[0];
    assert!(w.excluded.iter().all(|&s| s < first));
    for p in &r.run.phases {
        let analysed = w.checkpoints.contains(&p.step);
        assert_eq!(
            analysed,
            p.phase == sgd_ou::phases::Phase::Diffusion || p.step > first
        );
    }
    assert_eq!(r.run.checkpoints, w.checkpoints);
    assert_eq!(
        r.verdict,
        sgd_ou::checks::Verdict::Pass,
        "{:#?}",
        r.assumptions.small_step.reasons
    );
    // The phase evidence is in the JSON for a plot.
    let json = sgd_ou::report::json::to_string(&r);
    assert!(json.contains("\"noise_to_signal\"") && json.contains("\"phase\": \"drift\""));
}

#[test]
fn user_window_overrides_and_bad_window_is_a_usage_error() {
    let tmp = tempdir();
    let run = tmp.path().join("qg");
    let s = Scenario::QuadraticGaussian;
    simulate(s, &SimConfig::default_for(s), 2, &run).unwrap();
    let steps = SimConfig::default_for(s).checkpoint_steps();
    let opts = sgd_ou::Options {
        from_step: Some(steps[2]),
        to_step: Some(steps[5]),
        ..Default::default()
    };
    let r = sgd_ou::verify(&run, &opts).unwrap();
    assert_eq!(r.run.window.method, sgd_ou::phases::WindowMethod::User);
    assert_eq!(r.run.checkpoints, steps[2..=5].to_vec());
    // A window with fewer than two checkpoints: inconclusive with the reason, not a failure.
    let opts = sgd_ou::Options {
        from_step: Some(steps[7]),
        ..Default::default()
    };
    let r = sgd_ou::verify(&run, &opts).unwrap();
    assert_eq!(r.verdict, sgd_ou::checks::Verdict::Inconclusive);
    assert!(r.assumptions.gaussian_noise.reasons[0].contains("analysis window"));
    // CLI: inverted bounds exit 2.
    let o = sgd_ou(&[
        "verify",
        "--run-dir",
        p(&run),
        "--from-step",
        "900",
        "--to-step",
        "100",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--from-step"));
}

#[test]
fn a_run_still_in_its_drift_phase_is_inconclusive() {
    let tmp = tempdir();
    let run = tmp.path().join("drift");
    let s = Scenario::DriftThenDiffusion;
    let cfg = SimConfig::default_for(s);
    simulate(s, &cfg, 1, &run).unwrap();
    // Keep only the first two checkpoints (both in the drift phase).
    let steps = cfg.checkpoint_steps();
    for step in &steps[2..] {
        std::fs::remove_dir_all(run.join(format!("checkpoints/step_{step}"))).unwrap();
    }
    let o = sgd_ou(&["verify", "--run-dir", p(&run), "--json"]);
    assert_eq!(o.status.code(), Some(3));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["verdict"], "inconclusive");
    assert!(r["run"]["window"]["reason"]
        .as_str()
        .unwrap()
        .contains("no diffusion phase"));
    for k in [
        "gaussian_noise",
        "constant_covariance",
        "small_step",
        "quadratic_loss",
    ] {
        assert_eq!(r["assumptions"][k]["verdict"], "inconclusive");
    }
}

/// The loss-trend warning fires when the trajectory loss clearly decreases within the window
/// and stays silent on a flat (noisy) loss.
#[test]
fn loss_trend_warning_tracks_the_trajectory_loss() {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let tmp = tempdir();
    for (name, slope) in [("falling", -1.0e-3), ("flat", 0.0)] {
        let run = tmp.path().join(name);
        write_valid_run(&run, 3, 64, 3, 5);
        // The helper's trajectory covers steps 100..150; write 50 losses: slope per step plus
        // white noise of sd 0.002.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let losses: Vec<f64> = (0..50)
            .map(|t| {
                1.0 + slope * t as f64
                    + 0.002 * Distribution::<f64>::sample(&StandardNormal, &mut rng)
            })
            .collect();
        sgd_ou::run::npy::write_f64(&run.join("trajectory/losses.npy"), &[50], &losses).unwrap();
        let r = sgd_ou::verify(&run, &sgd_ou::Options::default()).unwrap();
        let trend = r
            .run
            .window
            .loss_trend_per_1000_steps
            .expect("losses present");
        let warned = r.warnings.iter().any(|w| w.contains("still decreases"));
        if slope < 0.0 {
            assert!(
                (trend[0] - 1000.0 * slope).abs() < 3.0 * trend[1],
                "{trend:?}"
            );
            assert!(warned, "{:?}", r.warnings);
        } else {
            assert!(!warned, "{trend:?} {:?}", r.warnings);
        }
    }
}
