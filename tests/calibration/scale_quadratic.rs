//! Issue 16 at d ≫ k: quadratic_loss and the lag-1 estimate of A in a k-dimensional subspace.
//!
//! * *Perfect quadratic, random subspace*: the quadratic-Gaussian scenario at d = 50 with a spread
//!   spectrum λ ∈ [0.3, 3] (geometric), and `simulate --dim` at d = 200 (1,000 at
//!   `SGD_OU_CALIBRATE_SCALE` > 1), no Hessian,
//!   analysed in k = 8 seeded random directions. Gradient linearity and the lag-1 A only inform
//!   there; RESET of the trajectory losses decides. quadratic_loss must not fail in ≥ 95 % − 2 MC
//!   SE of the named seeds 1..=R (at most `max_false_fails(R, 0.05)` fails).
//! * *Lag-1 coverage*: the bias-corrected 95 % λ_max interval of the lag-1 (VAR(1)) estimate on
//!   exact OU runs with d = k: at k = 8 (≈ 131 pairs per dimension, where it decides) it covers
//!   the true λ_max = 3 in ≥ 90 % − 2 SE of 20 seeds; at k = 32 (≈ 33 pairs per dimension) it
//!   may not decide (`Estimate::decides` false). The k = 32 coverage itself is measured by the
//!   ignored test `lag1_coverage_k32_is_poor` (slow in debug builds).
//!
//! Measured figures: docs/methods.md, "Quadratic loss and A in a subspace".

use crate::common;

use sgd_ou::checks::{quadratic_loss, Context, Thresholds, Verdict};
use sgd_ou::model::curvature;
use sgd_ou::run::{LoadOptions, Run};
use sgd_ou::simulate::{simulate, Scenario, SimConfig};

/// Geometric spectrum from 0.3 to 3 (λ_max = 3, ε·λ_max = 0.06 at the default ε = 0.02).
fn spectrum(d: usize) -> Vec<f64> {
    (0..d)
        .map(|i| 0.3 * 10f64.powf(i as f64 / (d.max(2) - 1) as f64))
        .collect()
}

fn config(d: usize) -> SimConfig {
    let mut cfg = SimConfig::default_for(Scenario::QuadraticGaussian);
    cfg.d = d;
    cfg.curvatures = spectrum(d);
    cfg.write_hessian = false;
    cfg
}

/// Simulates and loads the run in `dims` analysis dimensions.
fn load(cfg: &SimConfig, seed: u64, dims: usize) -> (Run, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    simulate(Scenario::QuadraticGaussian, cfg, seed, tmp.path()).unwrap();
    let run = Run::load(tmp.path(), &LoadOptions { dims, seed }).unwrap();
    (run, tmp)
}

fn perfect_quadratic(cfg: &SimConfig, seeds: u64) {
    let d = cfg.d;
    let label = if cfg.dim_rotated { " (--dim)" } else { "" };
    let th = Thresholds::default();
    let (mut fails, mut counts) = (0, [0usize; 3]);
    let mut shares = Vec::new();
    for seed in 1..=seeds {
        let (run, _t) = load(cfg, seed, 8);
        assert!(!run.subspace.kind().is_invariant());
        let ctx = Context::new(&run, seed, &th);
        let c = quadratic_loss::check(&ctx);
        let share = c.evidence.reset.as_ref().and_then(|r| r.nonlinear_share);
        shares.push(share.unwrap_or(f64::NAN));
        counts[match c.decision.verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Inconclusive => 2,
        }] += 1;
        if c.decision.verdict == Verdict::Fail {
            fails += 1;
            eprintln!("d = {d} seed {seed}: FAIL {:#?}", c.decision.reasons);
        }
    }
    let allowed = common::max_false_fails(seeds as usize, 0.05);
    let mean = shares.iter().sum::<f64>() / shares.len() as f64;
    let max = shares.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    eprintln!(
        "perfect quadratic{label} d = {d}, k = 8: pass {} fail {} inconclusive {} of {seeds} (allowed \
         fails {allowed}); RESET share mean {mean:.4} max {max:.4}",
        counts[0], counts[1], counts[2]
    );
    common::record_calibration_row(
        "scale_quadratic",
        "| scenario | seeds | pass | fail | inconclusive | RESET share mean | max |\n|---|---|---|---|---|---|---|",
        &format!(
            "| perfect quadratic{label} d = {d}, k = 8, no Hessian | {seeds} | {} | {} | {} | {mean:.4} | {max:.4} |",
            counts[0], counts[1], counts[2]
        ),
    );
    assert!(fails <= allowed, "{fails} false fails of {seeds}");
}

#[test]
fn perfect_quadratic_in_a_random_subspace_does_not_fail() {
    perfect_quadratic(&config(50), 20 * common::calibration_scale() as u64);
}

/// The O(d) rotated quadratic of `simulate --dim` (noise ∝ A, spectrum log-uniform in
/// [0.3, 3]): d = 200 in `make test`, d = 1,000 in `make calibrate`.
#[test]
fn perfect_quadratic_at_large_d_does_not_fail() {
    let scale = common::calibration_scale();
    let mut cfg = SimConfig::default_for(Scenario::QuadraticGaussian);
    cfg.d = if scale > 1 { 1000 } else { 200 };
    cfg.dim_rotated = true;
    cfg.curvatures = Vec::new();
    cfg.write_hessian = false;
    perfect_quadratic(&cfg, 20 * scale as u64);
}

/// Coverage of the lag-1 λ_max interval at d = k over `seeds` seeds; also returns whether the
/// estimate decides (the same on every seed: it depends on k and T only).
fn lag1_coverage(k: usize, seeds: u64) -> (usize, bool) {
    let cfg = config(k);
    let th = Thresholds::default();
    let mut covered = 0;
    let mut decides = None;
    for seed in 1..=seeds {
        let (run, _t) = load(&cfg, seed, k);
        let ctx = Context::new(&run, seed, &th);
        let c = ctx.curvature();
        let e = c.get("lag1").expect("lag-1 estimate");
        let [lo, hi] = e.lambda_max_interval;
        covered += usize::from(lo <= 3.0 && 3.0 <= hi);
        decides = Some(e.decides);
        eprintln!(
            "k = {k} seed {seed}: λ̂_max {:.3} [{lo:.3}, {hi:.3}] decides {}",
            e.lambda_max, e.decides
        );
    }
    (covered, decides.unwrap_or(false))
}

/// ≥ 90 % − 2 SE of 20: 18 − 2·√(20·0.9·0.1) = 16.66, so at least 17 covered.
fn min_covered(seeds: usize) -> usize {
    let r = seeds as f64;
    (r * 0.9 - 2.0 * (r * 0.9 * 0.1).sqrt()).ceil() as usize
}

#[test]
fn lag1_covers_at_k8_where_it_decides() {
    let seeds = 20 * common::calibration_scale();
    let (covered, decides) = lag1_coverage(8, seeds as u64);
    eprintln!("lag-1 λ_max coverage at k = 8: {covered}/{seeds}, decides {decides}");
    common::record_calibration_row(
        "scale_quadratic_lag1",
        "| k | pairs per dim | seeds | covered | decides |\n|---|---|---|---|---|",
        &format!("| 8 | ≈ 131 | {seeds} | {covered} | {decides} |"),
    );
    assert!(
        decides,
        "at 131 pairs per dimension the lag-1 estimate decides"
    );
    assert!(covered >= min_covered(seeds), "{covered}/{seeds}");
}

#[test]
fn lag1_does_not_decide_at_k32() {
    let cfg = config(32);
    let (run, _t) = load(&cfg, 1, 32);
    let th = Thresholds::default();
    let ctx = Context::new(&run, 1, &th);
    let c = ctx.curvature();
    let e = c.get("lag1").expect("lag-1 estimate");
    assert!(
        !e.decides,
        "≈ 33 pairs per dimension < {}",
        curvature::LAG1_DECIDES_PAIRS_PER_DIM
    );
    assert!(c.deciding().is_none_or(|d| d.source != "lag1"));
    // quadratic_loss then shows the loss model with A fixed to the lag-1 estimate (too few rows
    // to fit A) but never fails on it.
    let q = quadratic_loss::check(&ctx);
    let lm = &q.evidence.loss_model;
    eprintln!(
        "k = 32: loss model U = {:?} (A scale {:?}, inconsistent {:?}); verdict {:?}; {:?}",
        lm.unexplained_fraction,
        lm.a_scale,
        lm.a_inconsistent,
        q.decision.verdict,
        q.decision.reasons
    );
    assert_ne!(q.decision.verdict, Verdict::Fail);
    let names: Vec<&str> = q
        .tests
        .iter()
        .flat_map(|t| &t.pieces)
        .map(|p| p.name.as_str())
        .collect();
    assert!(
        !names.contains(&"loss_model_unexplained_fraction"),
        "{names:?}"
    );
}

/// The k = 32 coverage that motivates the rule (≈ 3 min in a debug build).
#[test]
#[ignore]
fn lag1_coverage_k32_is_poor() {
    let seeds = 20;
    let (covered, decides) = lag1_coverage(32, seeds);
    eprintln!("lag-1 λ_max coverage at k = 32: {covered}/{seeds}, decides {decides}");
    common::record_calibration_row(
        "scale_quadratic_lag1",
        "| k | pairs per dim | seeds | covered | decides |\n|---|---|---|---|---|",
        &format!("| 32 | ≈ 33 | {seeds} | {covered} | {decides} |"),
    );
    assert!(!decides);
    assert!(covered < min_covered(seeds as usize), "{covered}/{seeds}");
}

/// Verdict counts [pass, fail, inconclusive] and RESET shares of quadratic_loss on `seeds` seeds
/// of scenario `s` analysed in `dims` random directions.
fn verdicts(s: Scenario, cfg: &SimConfig, dims: usize, seeds: u64) -> ([usize; 3], Vec<f64>) {
    let th = Thresholds::default();
    let mut counts = [0usize; 3];
    let mut shares = Vec::new();
    for seed in 1..=seeds {
        let tmp = tempfile::tempdir().unwrap();
        simulate(s, cfg, seed, tmp.path()).unwrap();
        let run = Run::load(tmp.path(), &LoadOptions { dims, seed }).unwrap();
        let ctx = Context::new(&run, seed, &th);
        let c = quadratic_loss::check(&ctx);
        shares.push(
            c.evidence
                .reset
                .as_ref()
                .and_then(|r| r.nonlinear_share)
                .unwrap_or(f64::NAN),
        );
        counts[match c.decision.verdict {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Inconclusive => 2,
        }] += 1;
    }
    (counts, shares)
}

/// RESET in a random subspace has little power (diluted: module docs of
/// `quadratic_loss::reset`): the quartic basin (d = 4) analysed in k = 2 random directions, no
/// Hessian and no probes, gives shares of a few per cent. RESET is fail-only, so the check must
/// never pass this non-quadratic loss.
#[test]
fn quartic_basin_in_a_random_subspace_never_passes() {
    let mut cfg = SimConfig::default_for(Scenario::QuarticBasin);
    cfg.write_hessian = false;
    let seeds = 20;
    let (c, shares) = verdicts(Scenario::QuarticBasin, &cfg, 2, seeds);
    eprintln!(
        "quartic basin d = 4, k = 2: pass {} fail {} inconclusive {} of {seeds}; RESET shares \
         {shares:.3?}",
        c[0], c[1], c[2]
    );
    assert_eq!(c[0], 0, "a quartic basin passed in a random subspace");
}

/// Epoch-wise reshuffling (negatively correlated noise): the perfect quadratic at d = 50, k = 8
/// still does not fail.
#[test]
fn perfect_quadratic_reshuffled_does_not_fail() {
    let mut cfg = config(50);
    cfg.sampling = sgd_ou::simulate::SamplingDesign::Reshuffled;
    let seeds = 20;
    let (c, shares) = verdicts(Scenario::QuadraticGaussian, &cfg, 8, seeds);
    eprintln!(
        "perfect quadratic reshuffled d = 50, k = 8: pass {} fail {} inconclusive {} of \
         {seeds}; RESET shares {shares:.3?}",
        c[0], c[1], c[2]
    );
    assert!(c[1] <= common::max_false_fails(seeds as usize, 0.05));
}
