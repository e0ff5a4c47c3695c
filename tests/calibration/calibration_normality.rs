//! Calibration of the univariate normality tests by seeded simulation.
//!
//! Type-I error: the rejection rate at α = 0.05 on Gaussian samples must be within Monte Carlo
//! error of 0.05. With R replications the binomial standard error is √(0.05·0.95/R); the
//! assertions allow 4 standard errors, so a correctly sized test fails one of them with
//! probability about 6e-5 (two-sided normal tail at 4 SE). The samples come from
//! `sgd_ou::rng::stream` (ChaCha8), so every run sees the same numbers.
//!
//! Known small-sample behaviour (from 20 000-replication simulations of scipy/statsmodels, see
//! the module documentation of `sgd_ou::stats::normality`) is asserted where it departs from
//! 0.05: Jarque–Bera is conservative below n ≈ 500 and K² is slightly liberal up to n ≈ 100.
//!
//! This implementation, 100 000 replications per n (SE 0.0007), from the ignored test below:
//!
//! | n | Shapiro–Wilk | Anderson–Darling | K² | Jarque–Bera | Lilliefors |
//! | --- | --- | --- | --- | --- | --- |
//! | 20 | 0.0493 | 0.0499 | 0.0570 | 0.0242 | 0.0476 |
//! | 50 | 0.0496 | 0.0488 | 0.0576 | 0.0376 | 0.0490 |
//! | 100 | 0.0497 | 0.0501 | 0.0563 | 0.0429 | 0.0512 |
//! | 200 | 0.0486 | 0.0484 | 0.0524 | 0.0449 | 0.0502 |
//! | 500 | 0.0521 | 0.0517 | 0.0523 | 0.0479 | 0.0501 |
//! | 1000 | 0.0516 | 0.0491 | 0.0518 | 0.0494 | 0.0461 |
//!
//! Power: at n = 500 every test must reject t₃ and lognormal samples nearly always.
//!
//! `cargo test --release --test calibration calibration_normality:: -- --ignored --nocapture` prints a larger
//! table (100 000 replications per n) for the record.

use rand::Rng;
use rand_distr::{Distribution, LogNormal, StandardNormal, StudentT};
use sgd_ou::rng::stream;
use sgd_ou::stats::normality::{
    anderson_darling, dagostino_pearson, jarque_bera, lilliefors, shapiro_wilk,
};

const ALPHA: f64 = 0.05;
const NAMES: [&str; 5] = [
    "shapiro_wilk",
    "anderson_darling",
    "dagostino_pearson",
    "jarque_bera",
    "lilliefors",
];

#[derive(Clone, Copy)]
enum Dist {
    Normal,
    T3,
    LogNormal,
}

fn draw<R: Rng>(dist: Dist, rng: &mut R, n: usize) -> Vec<f64> {
    match dist {
        Dist::Normal => (0..n).map(|_| StandardNormal.sample(rng)).collect(),
        Dist::T3 => {
            let t = StudentT::new(3.0).unwrap();
            (0..n).map(|_| t.sample(rng)).collect()
        }
        Dist::LogNormal => {
            let l = LogNormal::new(0.0, 1.0).unwrap();
            (0..n).map(|_| l.sample(rng)).collect()
        }
    }
}

/// p-values of the five tests on one sample (same order as `NAMES`).
fn p_values(x: &[f64]) -> [f64; 5] {
    [
        shapiro_wilk(x).unwrap().p_value,
        anderson_darling(x).unwrap().p_value,
        dagostino_pearson(x).unwrap().p_value,
        jarque_bera(x).unwrap().p_value,
        lilliefors(x).unwrap().p_value,
    ]
}

/// Rejection rates at `ALPHA` over `reps` samples of size `n`; all tests see the same samples.
fn rejection_rates(dist: Dist, n: usize, reps: usize, label: &str) -> [f64; 5] {
    let mut rng = stream(20_240_601, label);
    let mut rejections = [0usize; 5];
    for _ in 0..reps {
        let x = draw(dist, &mut rng, n);
        for (r, p) in rejections.iter_mut().zip(p_values(&x)) {
            assert!((0.0..=1.0).contains(&p));
            if p < ALPHA {
                *r += 1;
            }
        }
    }
    let rates = rejections.map(|r| r as f64 / reps as f64);
    eprintln!("{label}: n = {n}, {reps} replications, rejection rates {NAMES:?} = {rates:?}");
    rates
}

/// 4 binomial standard errors of a rejection rate at `ALPHA` over `reps` replications.
fn four_se(reps: usize) -> f64 {
    4.0 * (ALPHA * (1.0 - ALPHA) / reps as f64).sqrt()
}

fn assert_calibrated(rates: &[f64; 5], which: &[&str], n: usize, reps: usize) {
    let tol = four_se(reps);
    for (name, rate) in NAMES.iter().zip(rates) {
        if which.contains(name) {
            assert!(
                (rate - ALPHA).abs() <= tol,
                "{name} at n = {n}: type-I error {rate} not within {tol:.4} of {ALPHA} \
                 ({reps} replications)"
            );
        }
    }
}

// R = 10 000: SE = 0.00218, 4 SE = 0.0087, accepted rates [0.0413, 0.0587].
const REPS_TEST: usize = 10_000;

/// 10,000 replications in `make test`, times the calibration scale in `make calibrate`.
fn reps() -> usize {
    REPS_TEST * crate::common::calibration_scale()
}

/// K² is liberal at small n (this implementation, 100 000 replications: 0.057 at n = 20, 50
/// and 100; scipy's `normaltest` shows the same, 0.060 at n = 20 over 20 000). Allowed: up to
/// 0.01 above 0.05, beyond Monte Carlo error.
fn assert_k2_at_most_slightly_liberal(rate: f64, n: usize) {
    let tol = four_se(reps());
    assert!(
        rate >= ALPHA - tol && rate <= ALPHA + 0.01 + tol,
        "dagostino_pearson at n = {n}: {rate}"
    );
}

#[test]
fn type_i_error_at_n_20() {
    let r = rejection_rates(Dist::Normal, 20, reps(), "calibration/normal/n20");
    assert_calibrated(
        &r,
        &["shapiro_wilk", "anderson_darling", "lilliefors"],
        20,
        reps(),
    );
    assert_k2_at_most_slightly_liberal(r[2], 20);
    // Jarque–Bera is conservative at n = 20 (scipy, 20 000 replications: 0.025): its rate is
    // below 0.05 by more than Monte Carlo error.
    assert!(
        r[3] < ALPHA - four_se(reps()),
        "jarque_bera at n = 20: {}",
        r[3]
    );
}

#[test]
fn type_i_error_at_n_100() {
    let r = rejection_rates(Dist::Normal, 100, reps(), "calibration/normal/n100");
    assert_calibrated(
        &r,
        &["shapiro_wilk", "anderson_darling", "lilliefors"],
        100,
        reps(),
    );
    assert_k2_at_most_slightly_liberal(r[2], 100);
    // Jarque–Bera at n = 100 (scipy: 0.043) is conservative, never liberal.
    assert!(
        r[3] <= ALPHA + four_se(reps()),
        "jarque_bera at n = 100: {}",
        r[3]
    );
}

#[test]
fn type_i_error_at_n_500() {
    let r = rejection_rates(Dist::Normal, 500, reps(), "calibration/normal/n500");
    assert_calibrated(&r, &NAMES, 500, reps());
}

#[test]
fn power_against_t3_and_lognormal_at_n_500() {
    // R = 200 per alternative. Every test is required to reject at least 95 % of samples.
    for (dist, label) in [(Dist::T3, "t3"), (Dist::LogNormal, "lognormal")] {
        let r = rejection_rates(dist, 500, 200, &format!("calibration/power/{label}/n500"));
        for (name, rate) in NAMES.iter().zip(r) {
            assert!(
                rate >= 0.95,
                "{name}: power {rate} against {label} at n = 500"
            );
        }
    }
}

#[test]
#[ignore = "long: 100 000 replications per n; run with --release --ignored --nocapture"]
fn print_type_i_error_table() {
    let reps = 100_000;
    let mut table = format!(
        "Type-I error at α = 0.05, {reps} Gaussian replications per n (SE 0.0007):\n\n\
         | n | {} |\n|---|{}\n",
        NAMES.join(" | "),
        "---|".repeat(NAMES.len())
    );
    for n in [20, 50, 100, 200, 500, 1000] {
        let r = rejection_rates(Dist::Normal, n, reps, &format!("calibration/table/n{n}"));
        let cells: Vec<String> = r.iter().map(|v| format!("{v:.4}")).collect();
        table.push_str(&format!("| {n} | {} |\n", cells.join(" | ")));
    }
    println!("{table}");
    crate::common::record_calibration("normality", &table);
}
