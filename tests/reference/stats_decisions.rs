//! One-sided tests against a tolerance and the fail / pass rule (`sgd_ou::stats::onesided`).
//!
//! Reference values: `tests/reference/decisions.json`, written by
//! `tests/reference/generate_decisions.py` (scipy 1.17.1, numpy 2.4.6; the call is stored beside
//! each value). Calibrations: seeded simulations at the boundary effect = tolerance, where the
//! false-fail rate must be ≤ α + 2 Monte Carlo SE.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::Value;
use sgd_ou::stats::onesided::{
    bootstrap_upper, debiased_sq_norm, holm_min, holm_over_checks, iut_p_value, log_ratio,
    norm_upper, t_upper, z_upper,
};

/// Agreement with scipy (relative, on statistics and p-values).
const REF_TOL: f64 = 1e-10;
/// Nominal level of the calibrations.
const ALPHA: f64 = 0.05;
/// Replicates per calibration (MC SE of a rate near 0.05 ≈ 0.005).
const REPS: usize = 2000;

fn reference() -> Value {
    serde_json::from_str(include_str!("decisions.json")).expect("valid reference JSON")
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("missing {k}"))
}

fn close(x: f64, r: f64, what: &str) {
    assert!(
        (x - r).abs() <= REF_TOL * r.abs().max(1e-300),
        "{what}: {x} vs scipy {r}"
    );
}

#[test]
fn one_sided_tests_match_scipy() {
    let cases = reference()["onesided"].as_array().unwrap().clone();
    assert!(cases.len() >= 15);
    for c in &cases {
        let kind = c["kind"].as_str().unwrap();
        let r = match kind {
            "z" => z_upper(f(c, "estimate"), f(c, "se"), f(c, "delta")),
            "t" => t_upper(f(c, "estimate"), f(c, "se"), f(c, "df"), f(c, "delta")),
            "log_ratio" => log_ratio(f(c, "ratio"), f(c, "se_log"), f(c, "delta")),
            "norm" => {
                let x: Vec<f64> = serde_json::from_value(c["xhat"].clone()).unwrap();
                norm_upper(&x, f(c, "s2"), f(c, "delta"))
            }
            other => panic!("unknown kind {other}"),
        }
        .unwrap();
        let call = c["call"].as_str().unwrap();
        close(r.p_value, f(c, "p_value"), call);
        close(r.statistic, f(c, "statistic"), call);
    }
}

fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

fn rate(hits: usize) -> (f64, f64) {
    let p = hits as f64 / REPS as f64;
    (p, (ALPHA * (1.0 - ALPHA) / REPS as f64).sqrt())
}

fn assert_calibrated(hits: usize, what: &str) {
    let (p, se) = rate(hits);
    assert!(p <= ALPHA + 2.0 * se, "{what}: false-fail {p} > α + 2 SE");
    // and not absurdly conservative where the test is exact at the boundary
    assert!(p >= ALPHA - 4.0 * se, "{what}: false-fail {p} far below α");
}

#[test]
fn z_test_is_exact_at_the_boundary_where_the_point_rule_fails_half_the_time() {
    let mut rng = ChaCha8Rng::seed_from_u64(15_001);
    let (delta, se) = (0.2, 0.03);
    let (mut fails, mut point_rule) = (0, 0);
    for _ in 0..REPS {
        let e = delta + se * gauss(&mut rng);
        fails += usize::from(z_upper(e, se, delta).unwrap().p_value <= ALPHA);
        point_rule += usize::from(e > delta);
    }
    assert_calibrated(fails, "z test at e = δ");
    let (pr, se_mc) = rate(point_rule);
    assert!((pr - 0.5).abs() < 0.05, "point rule {pr} (MC SE {se_mc})");
}

#[test]
fn bootstrap_and_log_ratio_tests_are_calibrated_at_the_boundary() {
    let mut rng = ChaCha8Rng::seed_from_u64(15_002);
    let (delta, se) = (0.25, 0.1);
    let (mut boot, mut logr) = (0, 0);
    for _ in 0..REPS {
        let z = gauss(&mut rng);
        // parametric bootstrap around an estimate of a boundary effect
        let e = delta + se * z;
        let reps: Vec<f64> = (0..199).map(|_| e + se * gauss(&mut rng)).collect();
        boot += usize::from(bootstrap_upper(&reps, delta).unwrap().p_value <= ALPHA);
        // log-ratio: true ratio at the boundary 1 + δ
        let l = delta.ln_1p() + se * z;
        logr += usize::from(log_ratio(l.exp(), se, delta).unwrap().p_value <= ALPHA);
    }
    assert_calibrated(boot, "bootstrap test at e = δ");
    assert_calibrated(logr, "log-ratio test at r = 1 + δ");
}

#[test]
fn max_over_directions_and_norm_effects_hold_alpha_at_their_boundary() {
    let mut rng = ChaCha8Rng::seed_from_u64(15_003);
    let (m, delta, s) = (5usize, 0.3, 0.1);
    let (mut max_fails, mut norm_fails, mut naive_norm) = (0, 0, 0);
    let mut debiased = 0.0;
    for _ in 0..REPS {
        // boundary: one direction at the tolerance, the others null
        let x: Vec<f64> = (0..m)
            .map(|k| if k == 0 { delta } else { 0.0 } + s * gauss(&mut rng))
            .collect();
        let p: Vec<f64> = x
            .iter()
            .map(|&e| z_upper(e.abs(), s, delta).unwrap().p_value)
            .collect();
        max_fails += usize::from(holm_min(&p).unwrap() <= ALPHA);
        norm_fails += usize::from(norm_upper(&x, s * s, delta).unwrap().p_value <= ALPHA);
        naive_norm += usize::from(x.iter().map(|v| v * v).sum::<f64>().sqrt() > delta);
        debiased += debiased_sq_norm(&x, m as f64 * s * s);
    }
    let (pm, se) = rate(max_fails);
    assert!(pm <= ALPHA + 2.0 * se, "max over directions: {pm}");
    assert_calibrated(norm_fails, "norm test at ‖x‖ = δ");
    // the plain norm overshoots: it exceeds δ far more often than half the time
    assert!(naive_norm as f64 / REPS as f64 > 0.6);
    // the debiased squared norm is unbiased for δ² (SE of the mean ≈ 0.0011)
    let mean = debiased / REPS as f64;
    assert!((mean - delta * delta).abs() < 0.005, "debiased mean {mean}");
}

#[test]
fn holm_over_checks_and_intersection_union() {
    let adj = holm_over_checks(&[0.01, 0.04, 0.03, 0.5]).unwrap();
    assert_eq!(adj, vec![0.04, 0.09, 0.09, 0.5]);
    assert_eq!(holm_min(&[0.2, 0.01, 0.5]).unwrap(), 0.03);
    assert_eq!(iut_p_value(&[0.01, 0.04, 0.002]).unwrap(), 0.04);
    assert!(iut_p_value(&[]).is_err());
    assert!(holm_min(&[]).is_err());
    assert!(z_upper(0.1, 0.0, 0.2).is_err());
    assert!(log_ratio(-1.0, 0.1, 0.2).is_err());
    assert!(bootstrap_upper(&[], 0.2).is_err());
}

// ---------------------------------------------------------------- portmanteau and epoch sums

use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use sgd_ou::stats::portmanteau::{epoch_sum_test, hosking, ljung_box, Portmanteau};

fn check_portmanteau(r: &Portmanteau, c: &Value) {
    let call = c["call"].as_str().unwrap();
    close(r.ljung_box.statistic, f(c, "lb_stat"), call);
    close(r.ljung_box.p_value, f(c, "lb_pvalue"), call);
    close(r.box_pierce.statistic, f(c, "bp_stat"), call);
}

#[test]
fn portmanteau_matches_statsmodels_and_hosking() {
    let refs = reference()["portmanteau"].clone();
    for c in refs["univariate"].as_array().unwrap() {
        let x: Vec<f64> = serde_json::from_value(c["x"].clone()).unwrap();
        let h = c["h"].as_u64().unwrap() as usize;
        check_portmanteau(&ljung_box(&x, h).unwrap(), c);
    }
    for c in refs["multivariate"].as_array().unwrap() {
        let rows: Vec<Vec<f64>> = serde_json::from_value(c["x"].clone()).unwrap();
        let x = DMatrix::from_row_iterator(rows.len(), rows[0].len(), rows.into_iter().flatten());
        let h = c["h"].as_u64().unwrap() as usize;
        check_portmanteau(&hosking(&x, h).unwrap(), c);
    }
    assert!(ljung_box(&[1.0, 2.0, 3.0], 3).is_err());
    assert!(ljung_box(&[1.0; 10], 2).is_err());
}

/// Per-step minibatch noises of `epochs` epochs of a finite population (N = 64, S = 8, d = 3):
/// reshuffled epochs, or a fresh random subset at every step.
fn minibatch_noise(reshuffle: bool, epochs: usize, seed: u64) -> DMatrix<f64> {
    let (n, s, d) = (64usize, 8usize, 3usize);
    let m = n / s;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pop = DMatrix::from_fn(n, d, |_, _| gauss(&mut rng));
    let pop = &pop - DMatrix::from_fn(n, d, |_, j| pop.column(j).mean());
    let mut order: Vec<usize> = (0..n).collect();
    let mut out = DMatrix::zeros(epochs * m, d);
    for t in 0..epochs * m {
        if !reshuffle || t % m == 0 {
            order.shuffle(&mut rng);
        }
        let b = if reshuffle { (t % m) * s } else { 0 };
        for &i in &order[b..b + s] {
            for j in 0..d {
                out[(t, j)] += pop[(i, j)] / s as f64;
            }
        }
    }
    out
}

#[test]
fn epoch_sum_test_tells_reshuffled_from_fresh() {
    let epochs = 30;
    let starts: Vec<usize> = (0..=epochs).map(|e| e * 8).collect();
    let r = epoch_sum_test(&minibatch_noise(true, epochs, 7), &starts).unwrap();
    assert!(r.ratio < 1e-20 && r.p_fresh < 1e-10, "reshuffled: {r:?}");
    let mut rejections = 0;
    let mut ratios = 0.0;
    const FRESH_REPS: usize = 200;
    for seed in 0..FRESH_REPS as u64 {
        let f = epoch_sum_test(&minibatch_noise(false, epochs, 100 + seed), &starts).unwrap();
        rejections += usize::from(f.p_fresh <= ALPHA);
        ratios += f.ratio;
    }
    let rate = rejections as f64 / FRESH_REPS as f64;
    let se = (ALPHA * (1.0 - ALPHA) / FRESH_REPS as f64).sqrt();
    eprintln!(
        "fresh: false-reshuffled rate {rate}, mean ratio {}",
        ratios / FRESH_REPS as f64
    );
    assert!(
        rate <= ALPHA + 2.0 * se,
        "fresh flagged as reshuffled at rate {rate}"
    );
    assert!((ratios / FRESH_REPS as f64 - 1.0).abs() < 0.05);
    assert!(epoch_sum_test(&DMatrix::zeros(16, 2), &[0, 8]).is_err());
    assert!(epoch_sum_test(&DMatrix::zeros(16, 2), &[0, 8, 17]).is_err());
}

// ---------------------------------------------------------------- stationarity

use sgd_ou::stats::stationarity::{fdr1, geweke, mser, mser5};

#[test]
fn stationarity_statistics_match_the_numpy_formulas() {
    let r = reference()["stationarity"].clone();
    let x: Vec<f64> = serde_json::from_value(r["x"].clone()).unwrap();
    assert_eq!(mser(&x).unwrap() as f64, f(&r, "mser"));
    assert_eq!(mser5(&x).unwrap() as f64, f(&r, "mser5"));
    let g = geweke(&x).unwrap();
    close(g.z, f(&r, "geweke_z"), "geweke z");
    close(g.df, f(&r, "geweke_df"), "geweke df");
    close(g.p_value, f(&r, "geweke_p"), "geweke p");
    let ol: Vec<f64> = serde_json::from_value(r["o_l"].clone()).unwrap();
    let or: Vec<f64> = serde_json::from_value(r["o_r"].clone()).unwrap();
    let d = fdr1(&ol, &or).unwrap();
    close(d.ratio, f(&r, "fdr1_ratio"), "fdr1 ratio");
    close(d.difference, f(&r, "fdr1_difference"), "fdr1 difference");
    close(d.se, f(&r, "fdr1_se"), "fdr1 se");
    close(d.p_value, f(&r, "fdr1_p"), "fdr1 p");
    assert!(mser(&[1.0, 2.0]).is_err() && geweke(&x[..50]).is_err());
    assert!(fdr1(&ol, &or[1..]).is_err());
}

/// AR(1), φ = 0.5, unit innovations, started from x0.
fn ar1(n: usize, x0: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut x = x0;
    (0..n)
        .map(|_| {
            x = 0.5 * x + gauss(rng);
            x
        })
        .collect()
}

#[test]
fn mser5_cuts_near_the_end_of_a_transient() {
    // a mean that drifts linearly from 6 to 0 over the first 300 steps, then AR(1) noise
    const TRANSIENT: usize = 300;
    let mut rng = ChaCha8Rng::seed_from_u64(15_006);
    for rep in 0..20 {
        let mut x = ar1(3000, 0.0, &mut rng);
        for (t, v) in x.iter_mut().enumerate().take(TRANSIENT) {
            *v += 6.0 * (1.0 - t as f64 / TRANSIENT as f64);
        }
        let d = mser5(&x).unwrap();
        assert!(
            (200..=450).contains(&d),
            "rep {rep}: MSER-5 cut at {d}, transient ends at {TRANSIENT}"
        );
        // and the stationary series alone is hardly truncated
        let y = ar1(3000, 0.0, &mut rng);
        assert!(
            mser5(&y).unwrap() < 600,
            "rep {rep}: stationary cut {}",
            mser5(&y).unwrap()
        );
    }
}

#[test]
fn geweke_is_calibrated_on_a_stationary_ar1_and_detects_a_transient() {
    const GEWEKE_REPS: usize = 200;
    let mut rng = ChaCha8Rng::seed_from_u64(15_007);
    let (mut rejections, mut detected) = (0, 0);
    for _ in 0..GEWEKE_REPS {
        let x0 = gauss(&mut rng) / (1.0f64 - 0.25).sqrt(); // stationary start
        rejections += usize::from(geweke(&ar1(2000, x0, &mut rng)).unwrap().p_value <= ALPHA);
        // transient: a mean drifting from 2 to 0 over the first 300 steps
        let mut y = ar1(2000, 0.0, &mut rng);
        for (t, v) in y.iter_mut().enumerate().take(300) {
            *v += 2.0 * (1.0 - t as f64 / 300.0);
        }
        detected += usize::from(geweke(&y).unwrap().p_value <= ALPHA);
    }
    let rate = rejections as f64 / GEWEKE_REPS as f64;
    let se = (ALPHA * (1.0 - ALPHA) / GEWEKE_REPS as f64).sqrt();
    eprintln!("Geweke: stationary rejection rate {rate}, transient detected {detected}/200");
    assert!(
        rate <= ALPHA + 2.0 * se,
        "Geweke rejects a stationary AR(1) at rate {rate}"
    );
    assert!(detected as f64 / GEWEKE_REPS as f64 > 0.5);
}
