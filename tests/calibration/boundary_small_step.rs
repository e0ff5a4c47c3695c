//! Boundary calibration of the `small_step` tests (issue 15): simulated quadratic runs
//! (quadratic-gaussian, λ_max = 3, no `hessian.npy`, so λ_max comes from the trajectory's lag-1
//! fit and the one-sided z test of ε·λ_max against δ = 2(1 − 1/(1 + tol)) decides) with the
//! learning rate set so that the TRUE ε·λ_max is a given multiple of δ.
//!
//! * At δ (the least favourable point of H₀: ε·λ_max ≤ δ) the check may fail at most at rate α
//!   (+ 2 Monte Carlo SE over the seeds); the old point rule ("estimate beyond the tolerance")
//!   is printed beside it (about ½ at the boundary by construction).
//! * At 2δ (inflation ≈ 22 %, twice the tolerance) it fails in ≥ 90 % of runs (power).
//! * Well inside (ε·λ_max = 0.05) it passes in ≥ 90 % of runs (the equivalence side).
//!
//! Seeded: seed s of a family uses `simulate(…, base + s, …)`; the checks use `Context::seed = 7`.
//! `SGD_OU_BOUNDARY_SEEDS` overrides the 20 seeds (e.g. 200 for the table in docs/methods.md);
//! `SGD_OU_CALIBRATION_OUT` records the rows (`tests/common::record_calibration_row`).

use sgd_ou::checks::{small_step, Context, Thresholds, Verdict};
use sgd_ou::model::curvature;
use sgd_ou::run::{LoadOptions, Run};
use sgd_ou::simulate::{simulate, Scenario, SimConfig};

use crate::common::record_calibration_row;

/// λ_max of the quadratic-gaussian scenario's default curvature.
const LAMBDA_MAX: f64 = 3.0;

fn seeds() -> u64 {
    std::env::var("SGD_OU_BOUNDARY_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// δ = 2(1 − 1/(1 + tol)) for the default small-step tolerance.
fn boundary() -> f64 {
    let tol = Thresholds::default().small_step_max_inflation;
    2.0 * (1.0 - 1.0 / (1.0 + tol))
}

/// Counts over the seeds of one family.
#[derive(Debug, Default)]
struct Counts {
    n: usize,
    fail: usize,
    pass: usize,
    /// Old point rule: the estimate beyond the tolerance.
    beyond: usize,
    mean_estimate: f64,
    /// Standard deviation of the estimate over the seeds (to compare with the mean SE).
    sd_estimate: f64,
    /// The same for the lag-1 λ_max before the bootstrap bias correction (times ε).
    sd_uncorrected: f64,
    mean_se: f64,
}

/// Runs `seeds()` quadratic-gaussian runs without Hessians at true ε·λ_max = `target`.
fn family(target: f64, base: u64) -> Counts {
    let root = tempfile::tempdir().unwrap();
    let mut cfg = SimConfig::default_for(Scenario::QuadraticGaussian);
    assert_eq!(
        cfg.curvatures.iter().cloned().fold(f64::MIN, f64::max),
        LAMBDA_MAX
    );
    cfg.learning_rate = target / LAMBDA_MAX;
    cfg.write_hessian = false;
    let th = Thresholds::default();
    let mut c = Counts::default();
    let mut raws = Vec::new();
    for s in 0..seeds() {
        let out = root.path().join(format!("run-{s}"));
        simulate(Scenario::QuadraticGaussian, &cfg, base + s, &out).unwrap();
        let run = Run::load(&out, &LoadOptions { dims: 8, seed: 1 }).unwrap();
        let ctx = Context::new(&run, 7, &th);
        let r = small_step::check(&ctx);
        let t = r.tests.as_ref().expect("lag-1 λ_max has an SE: tested");
        let est = r.effect.unwrap().lr_lambda;
        let se = r
            .decision
            .reasons
            .iter()
            .find_map(|x| match x {
                small_step::Reason::Tested { se, .. } => Some(*se),
                _ => None,
            })
            .unwrap();
        c.n += 1;
        c.fail += (r.decision.verdict == Verdict::Fail) as usize;
        c.pass += (r.decision.verdict == Verdict::Pass) as usize;
        c.beyond += t.pieces[0].beyond as usize;
        c.mean_estimate += est;
        c.sd_estimate += est * est;
        let raw = match &ctx.curvature().primary().unwrap().details {
            curvature::EstimateDetails::Lag1 {
                lambda_max_uncorrected,
                ..
            } => lambda_max_uncorrected * cfg.learning_rate,
            _ => panic!("not the lag-1 fit"),
        };
        raws.push(raw);
        c.mean_se += se;
        std::fs::remove_dir_all(&out).unwrap();
    }
    let n = c.n as f64;
    c.mean_estimate /= n;
    c.sd_estimate = ((c.sd_estimate - n * c.mean_estimate.powi(2)) / (n - 1.0)).sqrt();
    c.mean_se /= c.n as f64;
    let rm = raws.iter().sum::<f64>() / n;
    c.sd_uncorrected = (raws.iter().map(|r| (r - rm).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let row = format!(
        "| {target:.4} | {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} |",
        c.n, c.fail, c.beyond, c.pass, c.mean_estimate, c.sd_estimate, c.sd_uncorrected, c.mean_se
    );
    eprintln!("{row}");
    record_calibration_row(
        "boundary_small_step",
        "| true ε·λ_max | runs | fail | old rule: beyond | pass | mean estimate | SD of estimate | SD before bias correction | mean SE |\n|---|---|---|---|---|---|---|---|---|",
        &row,
    );
    c
}

/// Allowed count out of n for a nominal rate p: floor(n·(p + 2·sqrt(p(1 − p)/n))).
fn allowed(n: usize, p: f64) -> usize {
    let nf = n as f64;
    (nf * (p + 2.0 * (p * (1.0 - p) / nf).sqrt())).floor() as usize
}

#[test]
fn at_the_boundary_false_fails_are_at_most_alpha() {
    let alpha = Thresholds::default().alpha;
    let c = family(boundary(), 31_000);
    eprintln!(
        "at ε·λ_max = δ = {:.4}: fail {}/{} (test), old point rule beyond {}/{}",
        boundary(),
        c.fail,
        c.n,
        c.beyond,
        c.n
    );
    assert!(
        c.fail <= allowed(c.n, alpha),
        "{} of {} runs failed at the boundary (allowed {})",
        c.fail,
        c.n,
        allowed(c.n, alpha)
    );
}

#[test]
fn twice_the_boundary_fails() {
    let c = family(2.0 * boundary(), 32_000);
    assert!(
        c.fail * 10 >= 9 * c.n,
        "only {} of {} runs failed at 2δ",
        c.fail,
        c.n
    );
}

#[test]
fn well_inside_passes() {
    let c = family(0.05, 33_000);
    assert!(
        c.pass * 10 >= 9 * c.n,
        "only {} of {} runs passed at ε·λ_max = 0.05",
        c.pass,
        c.n
    );
}
