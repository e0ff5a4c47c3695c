//! The analysis window: by default the stationary phase (accepted MSER truncation cuts, not
//! before the first noise-to-signal ratio ≥ 1, empty without a stationary stretch);
//! `--from-step/--to-step` override it (the evidence describes it); a run with no stationary
//! stretch is inconclusive, not failed.

use crate::common;

use common::*;
use sgd_ou::simulate::{simulate, Scenario, SimConfig};

/// Expected mean offset (stationary sd, Mahalanobis) of each checkpoint of a drift run, from
/// the simulator's truth.
fn expected_offsets(run: &std::path::Path) -> Vec<(u64, f64)> {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    m["simulation"]["truth"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["step"].as_u64().unwrap(),
                r["mean_offset_mahalanobis"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The old rule's start: the first checkpoint with noise-to-signal ratio ≥ 1.
fn old_start(r: &sgd_ou::report::Report) -> Option<u64> {
    r.run
        .phases
        .iter()
        .find(|p| p.phase == sgd_ou::phases::Phase::Diffusion)
        .map(|p| p.step)
}

/// drift-then-diffusion, seeds 1–20: every window starts after the drift, i.e. at a checkpoint
/// whose expected mean offset is below 3 stationary sd (a stationary excursion of that size is
/// common, so no test on one run can separate less; the old NSR ≥ 1 rule started at ≈ 18 sd),
/// and at least 15 of 20 below 1 sd.
#[test]
fn drift_then_diffusion_windows_start_after_the_drift_for_seeds_1_to_20() {
    let tmp = tempdir();
    let s = Scenario::DriftThenDiffusion;
    let cfg = SimConfig::default_for(s);
    let (mut at_stationary, mut below_1, mut old_in_drift, mut passes) = (0, 0, 0, 0);
    for seed in 1..=20u64 {
        let run = tmp.path().join(format!("dd{seed}"));
        simulate(s, &cfg, seed, &run).unwrap();
        let r = sgd_ou::verify(&run, &sgd_ou::Options::default()).unwrap();
        let w = &r.run.window;
        let offsets = expected_offsets(&run);
        let off = |step: u64| offsets.iter().find(|o| o.0 == step).unwrap().1;
        let start = *w
            .checkpoints
            .first()
            .unwrap_or_else(|| panic!("seed {seed}: empty window: {}", w.reason));
        eprintln!(
            "seed {seed}: start {start} (offset {:.2} sd), old rule {:?}, verdict {}; {}",
            off(start),
            old_start(&r),
            r.verdict,
            w.reason
        );
        assert!(
            off(start) < 3.0,
            "seed {seed}: starts at {start}, {} sd off",
            off(start)
        );
        assert!(w.excluded.iter().all(|&x| x < start));
        assert_eq!(r.run.checkpoints, w.checkpoints);
        below_1 += usize::from(off(start) < 1.0);
        at_stationary += usize::from(off(start) < 0.1);
        old_in_drift += usize::from(old_start(&r).is_some_and(|o| off(o) >= 3.0));
        passes += usize::from(r.verdict == sgd_ou::checks::Verdict::Pass);
    }
    eprintln!(
        "drift-then-diffusion: 20/20 start < 3 sd off, {below_1}/20 < 1 sd, {at_stationary}/20 \
         < 0.1 sd; old rule started ≥ 3 sd off in {old_in_drift}/20; overall pass {passes}/20"
    );
    assert!(
        below_1 >= 15,
        "only {below_1}/20 windows start < 1 sd from θ*"
    );
    record_calibration_row(
        "window",
        "| case | new rule | old rule (NSR ≥ 1) |\n|---|---|---|",
        &format!(
            "| drift-then-diffusion, 20 seeds: window starts < 3 sd (< 1 sd) from θ* | 20/20 \
             ({below_1}/20) | {}/20 |",
            20 - old_in_drift
        ),
    );
    let tmp2 = tempdir();
    let run = tmp2.path().join("dd1");
    simulate(s, &cfg, 1, &run).unwrap();
    let json = sgd_ou::report::json::to_string(&sgd_ou::verify(&run, &Default::default()).unwrap());
    assert!(json.contains("\"noise_to_signal\"") && json.contains("\"phase\": \"drift\""));
    assert!(json.contains("\"truncation_step\"") && json.contains("\"fdr1_p\""));
}

/// Stationary quadratic runs (burn-in 400 steps, 8 checkpoints): the window loses at most 3 of
/// 8 checkpoints in at least 18 of 20 seeds.
#[test]
fn stationary_quadratic_runs_lose_few_checkpoints() {
    let tmp = tempdir();
    let s = Scenario::QuadraticGaussian;
    let cfg = SimConfig::default_for(s);
    let (mut ok, mut lost_total, mut empty) = (0, 0, 0);
    for seed in 1..=20u64 {
        let run = tmp.path().join(format!("qg{seed}"));
        simulate(s, &cfg, 100 + seed, &run).unwrap();
        let r = sgd_ou::verify(&run, &sgd_ou::Options::default()).unwrap();
        let lost = r.run.window.excluded.len();
        lost_total += lost;
        empty += usize::from(r.run.window.checkpoints.is_empty());
        ok += usize::from(lost <= 3);
        if lost > 0 {
            eprintln!("seed {}: lost {lost}: {}", 100 + seed, r.run.window.reason);
        }
    }
    eprintln!(
        "stationary: ≤ 3 lost in {ok}/20, {lost_total} checkpoints lost in all, {empty} empty"
    );
    record_calibration_row(
        "window",
        "| case | new rule | old rule (NSR ≥ 1) |\n|---|---|---|",
        &format!("| quadratic-gaussian, 20 seeds: ≤ 3 of 8 checkpoints lost | {ok}/20 | 20/20 |"),
    );
    assert!(
        ok >= 18,
        "only {ok}/20 stationary runs kept ≥ 5 of 8 checkpoints"
    );
}

/// A quadratic with condition number 20 started 50 sd away along its slowest eigenvector: the
/// noise-to-signal ratio is ≥ 1 almost from the start, so the old rule kept the drifting
/// checkpoints; the new window keeps none whose expected mean offset is ≥ 3 sd.
#[test]
fn far_start_along_the_slow_direction_drops_its_drifting_checkpoints() {
    let tmp = tempdir();
    let s = Scenario::DriftThenDiffusion;
    let mut cfg = SimConfig::default_for(s);
    cfg.curvatures = vec![0.15, 0.5, 1.5, 3.0];
    cfg.checkpoints = 12;
    cfg.checkpoint_spacing = 250;
    let mut old_kept_drift = 0;
    for seed in 1..=10u64 {
        let run = tmp.path().join(format!("far{seed}"));
        simulate(s, &cfg, seed, &run).unwrap();
        let r = sgd_ou::verify(&run, &sgd_ou::Options::default()).unwrap();
        let offsets = expected_offsets(&run);
        let drifting: Vec<u64> = offsets.iter().filter(|o| o.1 >= 3.0).map(|o| o.0).collect();
        let w = &r.run.window;
        eprintln!(
            "seed {seed}: offsets {:?}, kept {:?}, old start {:?}: {}",
            offsets
                .iter()
                .map(|o| (o.1 * 10.0).round() / 10.0)
                .collect::<Vec<_>>(),
            w.checkpoints,
            old_start(&r),
            w.reason
        );
        old_kept_drift += usize::from(old_start(&r).is_some_and(|o| drifting.contains(&o)));
        assert!(
            w.checkpoints.iter().all(|c| !drifting.contains(c)),
            "seed {seed}: keeps drifting checkpoints"
        );
    }
    eprintln!("far start: the old rule kept drifting checkpoints in {old_kept_drift}/10");
    assert!(
        old_kept_drift >= 8,
        "the case no longer shows the old rule's flaw"
    );
}

/// 11 checkpoints whose last 9 have noise-to-signal ratio ≈ 0.3 (a constant mean gradient added
/// to every per-example gradient) and the first two ≥ 1: no stationary stretch, the window is
/// empty and every check inconclusive (the old rule said "diffusion phase from its first
/// checkpoint").
#[test]
fn nine_of_eleven_checkpoints_below_unit_noise_to_signal_empty_the_window() {
    let tmp = tempdir();
    let run = tmp.path().join("nsr");
    let s = Scenario::QuadraticGaussian;
    let mut cfg = SimConfig::default_for(s);
    cfg.checkpoints = 11;
    simulate(s, &cfg, 5, &run).unwrap();
    let f = (1024.0 - 32.0) / (32.0 * 1023.0);
    for step in &cfg.checkpoint_steps()[2..] {
        let path = run.join(format!("checkpoints/step_{step}/grads.npy"));
        let (shape, mut g) = sgd_ou::run::npy::read_f64(&path).unwrap();
        let (n, d) = (shape[0], shape[1]);
        let mut tr = 0.0;
        for j in 0..d {
            let m = (0..n).map(|i| g[i * d + j]).sum::<f64>() / n as f64;
            tr += (0..n).map(|i| (g[i * d + j] - m).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        }
        let shift = (f * tr / 0.3).sqrt();
        for i in 0..n {
            g[i * d] += shift;
        }
        sgd_ou::run::npy::write_f64(&path, &shape, &g).unwrap();
    }
    let r = sgd_ou::verify(&run, &sgd_ou::Options::default()).unwrap();
    let nsr: Vec<f64> = r
        .run
        .phases
        .iter()
        .filter_map(|p| p.noise_to_signal)
        .collect();
    eprintln!("NSR {nsr:?}; {}", r.run.window.reason);
    assert!(nsr[..2].iter().all(|&x| x >= 1.0) && nsr[2..].iter().all(|&x| x < 0.5));
    assert_eq!(old_start(&r), Some(cfg.checkpoint_steps()[0]));
    assert!(
        r.run.window.checkpoints.is_empty(),
        "{}",
        r.run.window.reason
    );
    let ev = r.run.window.evidence.as_ref().unwrap();
    assert_eq!(
        ev.empty,
        Some(sgd_ou::phases::EmptyReason::NoiseBelowSignal)
    );
    assert!(r.run.window.reason.contains("noise-to-signal"));
    assert_eq!(r.verdict, sgd_ou::checks::Verdict::Inconclusive);
    for (_, c) in r.assumptions.iter() {
        assert_eq!(c.verdict, sgd_ou::checks::Verdict::Inconclusive);
    }
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
    let ev = r
        .run
        .window
        .evidence
        .as_ref()
        .expect("evidence for a user window");
    assert_eq!(ev.start, sgd_ou::phases::StartReason::User);
    assert!(ev.noise_to_signal_median.is_some());
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
