//! Calibration of the `gaussian_noise` check on simulated runs whose truth is known.
//!
//! Every loop is seeded (simulation seed = loop index + a fixed offset, analysis seed fixed), so
//! the rates below are reproducible numbers, not random events. Monte Carlo bounds: with n_seeds
//! runs, an observed rate is within 2·sqrt(p(1 − p)/n_seeds) of the true rate about 95 % of the
//! time; for p = 0.05 and 100 seeds that is 4.4 percentage points.

use std::path::Path;

use sgd_ou::checks::gaussian_noise::{self, minibatch_mean_shape, Multivariate, Route};
use sgd_ou::checks::{CheckResult, Context, Evidence, Thresholds, Verdict};
use sgd_ou::run::{LoadOptions, Run};
use sgd_ou::simulate::{simulate, Scenario, SimConfig};

const ANALYSIS_SEED: u64 = 20170404;

fn check_dir(dir: &Path, seed: u64) -> CheckResult {
    let run = Run::load(
        dir,
        &LoadOptions {
            dims: 8,
            seed: ANALYSIS_SEED,
        },
    )
    .expect("load");
    let th = Thresholds::default();
    let ctx = Context::new(&run, seed, &th);
    sgd_ou::report::narrate::gaussian_noise::narrate(gaussian_noise::check(&ctx))
}

/// The typed evidence of a Gaussian-noise result.
fn evidence(r: &CheckResult) -> &gaussian_noise::Evidence {
    match &r.metrics {
        Evidence::GaussianNoise(e) => e,
        other => panic!("not Gaussian-noise evidence: {other:?}"),
    }
}

fn run_once(s: Scenario, cfg: &SimConfig, seed: u64) -> CheckResult {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("run");
    simulate(s, cfg, seed, &out).expect("simulate");
    check_dir(&out, ANALYSIS_SEED)
}

/// Counts (pass, fail, inconclusive) over `seeds` simulation seeds.
fn rates(s: Scenario, cfg: &SimConfig, seeds: std::ops::Range<u64>) -> [usize; 3] {
    let mut c = [0; 3];
    for seed in seeds {
        match run_once(s, cfg, seed).verdict {
            Verdict::Pass => c[0] += 1,
            Verdict::Fail => c[1] += 1,
            Verdict::Inconclusive => c[2] += 1,
        }
    }
    c
}

/// Counts (fail, leaning fail, pass) over `seeds` simulation seeds (issue-15 rule).
fn fail_or_leaning(s: Scenario, cfg: &SimConfig, seeds: std::ops::Range<u64>) -> [usize; 3] {
    let mut c = [0; 3];
    for seed in seeds {
        let r = run_once(s, cfg, seed);
        c[0] += usize::from(r.verdict == Verdict::Fail);
        c[1] += usize::from(r.tests.as_ref().is_some_and(|t| t.leaning_fail));
        c[2] += usize::from(r.verdict == Verdict::Pass);
    }
    c
}

/// The largest count of false fails compatible with a 5 % rate over `n` seeds plus the Monte
/// Carlo allowance 2·sqrt(0.05·0.95/n).
fn max_false_fails(n: usize) -> usize {
    let nf = n as f64;
    ((0.05 + 2.0 * (0.05 * 0.95 / nf).sqrt()) * nf).floor() as usize
}

/// Gaussian per-example noise (d = 4, N = 1024, S = 32, 8 checkpoints: 256 direct samples per
/// direction). False-fail rate ≤ 5 % + 4.4 % over 100 seeds; observed 0.
#[test]
fn quadratic_gaussian_false_fail_rate() {
    let s = Scenario::QuadraticGaussian;
    let mut cfg = SimConfig::default_for(s);
    cfg.write_trajectory = false;
    cfg.write_hessian = false;
    cfg.write_losses = false;
    let n = 100;
    let c = rates(s, &cfg, 1000..1000 + n as u64);
    eprintln!("quadratic-gaussian: pass/fail/inconclusive = {c:?}");
    assert!(c[1] <= max_false_fails(n), "{c:?}");
    // Power to pass: the CLT intervals are narrow here (|skew| SE ≈ 0.014, kurtosis ≈ 0.005).
    assert!(c[0] >= 90, "{c:?}");
}

/// Least squares with Gaussian features at S = 64: per-example gradients are products of
/// normals (excess kurtosis ≈ 6 per direction, strongly non-Gaussian), the minibatch noise has
/// excess kurtosis ≈ 6/64 ≈ 0.09, within tolerance. False-fail rate ≤ 5 % + 4.4 % over 100 seeds.
#[test]
fn least_squares_false_fail_rate() {
    let s = Scenario::LeastSquares;
    let mut cfg = SimConfig::default_for(s);
    cfg.write_trajectory = false;
    cfg.write_hessian = false;
    cfg.write_losses = false;
    let n = 100;
    let c = rates(s, &cfg, 2000..2000 + n as u64);
    eprintln!("least-squares: pass/fail/inconclusive = {c:?}");
    assert!(c[1] <= max_false_fails(n), "{c:?}");
    // Power to pass is limited by the skewness interval: the per-example skewness of a product
    // of normals has SE ≈ sqrt(15²/1024) ≈ 0.47, i.e. ≈ 0.06 for the minibatch at S = 64, and
    // the simultaneous interval (z ≈ 2.7 over 8 intervals) reaches the 0.2 tolerance in about a
    // quarter of the runs, which are then inconclusive (not failed).
    assert!(c[0] >= 60, "{c:?}");
}

/// Student-t(ν = 2) label noise in least squares (infinite variance): never passes, and fails
/// or leans fail in ≥ 95 % of 60 seeds. Under the issue-15 rule a fail needs the one-sided
/// test of |γ| ≤ δ to reject after Holm, and the bootstrap SE of a skewness or kurtosis of
/// infinite-variance data is huge: observed 22 fail + 37 leaning fail + 1 inconclusive of 60 (the old point
/// rule: 59/60 fail). The tail indices in the report carry the heavy-tail evidence.
#[test]
fn student_t_label_noise_fails() {
    let s = Scenario::LeastSquares;
    let mut cfg = SimConfig::default_for(s);
    cfg.regression_noise_df = Some(2.0);
    cfg.write_trajectory = false;
    cfg.write_hessian = false;
    cfg.write_losses = false;
    let n = 60;
    let c = fail_or_leaning(s, &cfg, 3000..3000 + n as u64);
    eprintln!("least-squares, t2 label noise: fail/leaning fail/pass = {c:?}");
    assert!(c[0] + c[1] >= 57 && c[2] == 0, "{c:?}");
    assert!(c[0] >= 15, "{c:?}");
}

/// Symmetric α-stable per-example noise (α = 1.5, the heavy-tailed-noise scenario): fails in
/// ≥ 85 % and fails or leans fail in ≥ 95 % of 60 seeds, never passes (observed 54 fail + 6
/// leaning fail; the old point rule 60/60 fail).
#[test]
fn alpha_stable_noise_fails() {
    let s = Scenario::HeavyTailedNoise;
    let mut cfg = SimConfig::default_for(s);
    cfg.write_trajectory = false;
    cfg.write_hessian = false;
    cfg.write_losses = false;
    let n = 60;
    let c = fail_or_leaning(s, &cfg, 4000..4000 + n as u64);
    eprintln!("heavy-tailed-noise: fail/leaning fail/pass = {c:?}");
    assert!(c[0] + c[1] >= 57 && c[2] == 0, "{c:?}");
    assert!(c[0] >= 51, "{c:?}");
}

/// The finite-population skewness and kurtosis of a minibatch mean (without replacement),
/// checked by a seeded simulation of 200,000 minibatches from a skewed population of N = 40 at
/// S = 10 (exact enumeration for small N is in the module's unit test). Monte Carlo SE of the
/// simulated skewness ≈ sqrt(6/200000) ≈ 0.0055 and of the kurtosis ≈ 0.011; tolerance 5 SE.
#[test]
fn finite_population_moments_match_simulation() {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let n = 40;
    let y: Vec<f64> = (0..n).map(|i| ((i as f64) * 0.37).exp2() % 7.0).collect();
    let mean = y.iter().sum::<f64>() / n as f64;
    let mom = |p: i32| y.iter().map(|v| (v - mean).powi(p)).sum::<f64>() / n as f64;
    let s = 10;
    let (sk, ku) = minibatch_mean_shape(mom(2), mom(3), mom(4), s, Some(n)).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut idx: Vec<usize> = (0..n).collect();
    let reps = 200_000;
    let (mut e2, mut e3, mut e4) = (0.0, 0.0, 0.0);
    for _ in 0..reps {
        idx.shuffle(&mut rng);
        let m = idx[..s].iter().map(|&i| y[i]).sum::<f64>() / s as f64 - mean;
        e2 += m * m;
        e3 += m * m * m;
        e4 += m * m * m * m;
    }
    let r = reps as f64;
    let (e2, e3, e4) = (e2 / r, e3 / r, e4 / r);
    let sim_sk = e3 / e2.powf(1.5);
    let sim_ku = e4 / (e2 * e2) - 3.0;
    assert!((sk - sim_sk).abs() < 5.0 * 0.0055, "{sk} vs {sim_sk}");
    assert!((ku - sim_ku).abs() < 5.0 * 0.011, "{ku} vs {sim_ku}");
    // The i.i.d. formulas differ visibly here (S/N = 1/4): the correction matters.
    let (sk_iid, _) = minibatch_mean_shape(mom(2), mom(3), mom(4), s, None).unwrap();
    assert!((sk_iid - sk).abs() > 0.02, "{sk_iid} vs {sk}");
}

/// `gradients: "minibatch"`: each row is a fresh minibatch gradient (the direct route alone).
/// Gaussian noise (quadratic-gaussian, 1,024 rows × 8 checkpoints) passes and α-stable noise
/// fails, over 10 seeds each (no false fail allowed: at a true 5 % rate 0 of 10 has probability
/// 0.6, so this is a smoke test of the route, not a rate estimate; observed 10/10 pass and 10/10
/// fail, and 20/20 each over seeds 5000..5020 during development).
#[test]
fn minibatch_gradient_runs() {
    for (s, want) in [
        (Scenario::QuadraticGaussian, Verdict::Pass),
        (Scenario::HeavyTailedNoise, Verdict::Fail),
    ] {
        let mut cfg = SimConfig::default_for(s);
        cfg.minibatch_gradients = true;
        // 8,192 pooled samples: simultaneous intervals ±0.07 (skewness) and ±0.15 (kurtosis),
        // narrow enough to pass; with the default 256 rows per checkpoint most runs are
        // (honestly) inconclusive.
        cfg.minibatches = 1024;
        cfg.write_trajectory = false;
        cfg.write_hessian = false;
        cfg.write_losses = false;
        let mut c = [0; 3];
        for seed in 5000..5010 {
            let r = run_once(s, &cfg, seed);
            assert_eq!(evidence(&r).route, Route::Direct);
            assert_eq!(evidence(&r).direct_samples_per_direction, 8192);
            match r.verdict {
                Verdict::Pass => c[0] += 1,
                Verdict::Fail => c[1] += 1,
                Verdict::Inconclusive => c[2] += 1,
            }
        }
        eprintln!("{s} (minibatch rows): pass/fail/inconclusive = {c:?}");
        match want {
            Verdict::Pass => assert!(c[1] == 0 && c[0] >= 9, "{c:?}"),
            _ => assert!(c[1] >= 9 && c[0] == 0, "{c:?}"),
        }
    }
}

/// Report contents on the default heavy-tailed run: samples used, corrected p-values, tail
/// indices, worst direction and QQ data.
#[test]
fn report_carries_the_evidence() {
    let s = Scenario::HeavyTailedNoise;
    let r = run_once(s, &SimConfig::default_for(s), 20170404);
    assert_eq!(r.verdict, Verdict::Fail);
    let m = evidence(&r);
    assert_eq!(m.direct_samples_per_direction, 256);
    assert_eq!(m.samples[0].minibatch_samples, 32);
    assert_eq!(m.per_checkpoint.len(), 8);
    let w = m.worst_direction;
    assert!(m.per_direction[w].p_value_holm.unwrap() < 0.05);
    let hill = m.tail_indices[w]
        .hill
        .as_ref()
        .and_then(|h| h.estimate())
        .unwrap();
    assert!(hill < 4.0, "Hill {hill}");
    assert_eq!(m.qq_worst_direction.as_ref().unwrap().sample.len(), 256);
    assert!(
        matches!(m.multivariate, Multivariate::Tests(_)),
        "{:?}",
        m.multivariate
    );
    assert!(r.key_metrics.len() >= 2);
}

/// Degenerate input: all per-example gradients equal (no noise) → inconclusive, no panic.
#[test]
fn constant_gradients_are_inconclusive() {
    let s = Scenario::QuadraticGaussian;
    let mut cfg = SimConfig::default_for(s);
    cfg.dataset_size = 64;
    cfg.batch_size = 64;
    cfg.write_trajectory = false;
    let r = run_once(s, &cfg, 1);
    assert_eq!(r.verdict, Verdict::Inconclusive, "{:?}", r.reasons);
}
