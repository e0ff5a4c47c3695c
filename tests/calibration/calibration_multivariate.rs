//! Seeded calibration and power simulations for the multivariate tests (issue 4).
//!
//! Every simulation draws from `sgd_ou::rng::stream(seed, label)` (ChaCha8), so the rates below
//! are reproducible bit for bit. Each rate is asserted within Monte Carlo error: with R
//! replications and a true rate π, the estimate has standard error SE = √(π(1 − π)/R); the
//! bands are ±3.5·SE around the nominal level (two-sided probability of a false alarm about
//! 5e-4 per assertion for a calibrated test). Measured values (printed with `--nocapture`) are
//! quoted in the doc comments.

use nalgebra::DMatrix;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp1, StandardNormal, StudentT};
use sgd_ou::rng;
use sgd_ou::stats::covariance::{box_m, permutation_cov_test};
use sgd_ou::stats::descriptive::Moments;
use sgd_ou::stats::mvn::{henze_zirkler, mardia, projection_test, MvnNull, UnivariateNull};
use sgd_ou::stats::tails::{block_sum_alpha_ci, hill_ci};
use sgd_ou::stats::StatsError;

const ALPHA: f64 = 0.05;

/// Half-width of the acceptance band: 3.5 standard errors of a binomial proportion.
fn band(pi: f64, reps: usize) -> f64 {
    3.5 * (pi * (1.0 - pi) / reps as f64).sqrt()
}

#[track_caller]
fn assert_rate(what: &str, rejections: usize, reps: usize, pi: f64) {
    let rate = rejections as f64 / reps as f64;
    let b = band(pi, reps);
    eprintln!("{what}: {rate:.4} ({rejections}/{reps}), accepted {pi} ± {b:.4}");
    assert!(
        (rate - pi).abs() <= b,
        "{what}: rate {rate} outside {pi} ± {b}"
    );
}

fn normal_matrix(n: usize, d: usize, r: &mut ChaCha8Rng) -> DMatrix<f64> {
    DMatrix::from_fn(n, d, |_, _| r.sample::<f64, _>(StandardNormal))
}

/// N(μ, Σ) rows with a fixed non-diagonal Σ = LLᵀ and offset, to exercise the affine invariance.
fn correlated_normal(n: usize, d: usize, r: &mut ChaCha8Rng) -> DMatrix<f64> {
    let z = normal_matrix(n, d, r);
    let l = DMatrix::from_fn(d, d, |i, j| {
        if i == j {
            1.0 + 0.1 * i as f64
        } else if j < i {
            0.3
        } else {
            0.0
        }
    });
    let mut x = z * l.transpose();
    x.add_scalar_mut(5.0);
    x
}

/// D'Agostino–Pearson K² p-value (skewtest² + kurtosistest², χ²₂), written out here so the
/// projection test can be calibrated independently of `stats::normality`.
fn k2_p(x: &[f64]) -> Result<f64, StatsError> {
    let m = Moments::new(x);
    if m.m2 <= 0.0 {
        return Err(StatsError::ZeroVariance);
    }
    let n = m.n as f64;
    // skewtest (D'Agostino 1970)
    let y = m.skewness() * ((n + 1.0) * (n + 3.0) / (6.0 * (n - 2.0))).sqrt();
    let beta2 = 3.0 * (n * n + 27.0 * n - 70.0) * (n + 1.0) * (n + 3.0)
        / ((n - 2.0) * (n + 5.0) * (n + 7.0) * (n + 9.0));
    let w2 = -1.0 + (2.0 * (beta2 - 1.0)).sqrt();
    let delta = 1.0 / (0.5 * w2.ln()).sqrt();
    let alpha = (2.0 / (w2 - 1.0)).sqrt();
    let ya = y / alpha;
    let zs = delta * (ya + (ya * ya + 1.0).sqrt()).ln();
    // kurtosistest (Anscombe & Glynn 1983)
    let b2 = m.excess_kurtosis() + 3.0;
    let e = 3.0 * (n - 1.0) / (n + 1.0);
    let var = 24.0 * n * (n - 2.0) * (n - 3.0) / ((n + 1.0).powi(2) * (n + 3.0) * (n + 5.0));
    let xk = (b2 - e) / var.sqrt();
    let sb1 = 6.0 * (n * n - 5.0 * n + 2.0) / ((n + 7.0) * (n + 9.0))
        * (6.0 * (n + 3.0) * (n + 5.0) / (n * (n - 2.0) * (n - 3.0))).sqrt();
    let a = 6.0 + 8.0 / sb1 * (2.0 / sb1 + (1.0 + 4.0 / (sb1 * sb1)).sqrt());
    let dd = 1.0 + xk * (2.0 / (a - 4.0)).sqrt();
    let t = ((1.0 - 2.0 / a) / dd.abs()).cbrt() * dd.signum();
    let zk = (1.0 - 2.0 / (9.0 * a) - t) / (2.0 / (9.0 * a)).sqrt();
    let k2 = zs.powi(2) + zk.powi(2);
    Ok((-k2 / 2.0).exp())
}

struct MvnRates {
    hz: usize,
    skew: usize,
    kurt: usize,
    proj: usize,
    proj_chi2: usize,
    reps: usize,
}

fn mvn_rates(
    n: usize,
    d: usize,
    reps: usize,
    label: &str,
    gen: impl Fn(usize, usize, &mut ChaCha8Rng) -> DMatrix<f64>,
) -> MvnRates {
    let mut data_rng = rng::stream(20_240_401, label);
    let mut dir_rng = rng::stream(20_240_402, label);
    // K² calibrated by simulation (exact in the far tail, where its χ²₂ p-value is liberal:
    // scipy `normaltest` at n = 200 rejects 1.1 % of normal samples at nominal 0.625 %,
    // 200 000 replications).
    let null =
        UnivariateNull::simulate(n, 20_000, &mut rng::stream(20_240_403, "k2-null"), k2_p).unwrap();
    let mut r = MvnRates {
        hz: 0,
        skew: 0,
        kurt: 0,
        proj: 0,
        proj_chi2: 0,
        reps,
    };
    for _ in 0..reps {
        let x = gen(n, d, &mut data_rng);
        let hz = henze_zirkler(&x).unwrap();
        let m = mardia(&x).unwrap();
        let mut dir_copy = dir_rng.clone();
        let p = projection_test(&x, 8, &mut dir_rng, |y| Ok(null.p_value(k2_p(y)?))).unwrap();
        let p_chi2 = projection_test(&x, 8, &mut dir_copy, k2_p).unwrap();
        r.proj_chi2 += usize::from(p_chi2.p_value <= ALPHA);
        r.hz += usize::from(hz.p_value <= ALPHA);
        r.skew += usize::from(m.skewness.p_value <= ALPHA);
        r.kurt += usize::from(m.kurtosis.p_value <= ALPHA);
        r.proj += usize::from(p.p_value <= ALPHA);
    }
    r
}

/// The projection test (k = 8 directions, Holm) with a univariate test whose p-values are exact
/// is valid: its rate is at most α (Holm over correlated projections is conservative), within
/// Monte Carlo error. With K²'s χ²₂ p-values it inherits K²'s liberal far tail (printed).
fn projection_validity(r: &MvnRates, what: &str) {
    let proj = r.proj as f64 / r.reps as f64;
    let chi2 = r.proj_chi2 as f64 / r.reps as f64;
    eprintln!("projection, Monte Carlo K², k = 8, Holm {what}: {proj:.4}");
    eprintln!("projection, χ² K², k = 8, Holm {what}: {chi2:.4} (not asserted)");
    assert!(proj <= ALPHA + band(ALPHA, r.reps), "{what}: {proj}");
}

/// Type-I error at (n, d) = (200, 3), R = 1000 correlated-normal samples.
#[test]
fn mvn_type_one_error_n200_d3() {
    let r = mvn_rates(200, 3, 1000, "mvn-null-200-3", correlated_normal);
    assert_rate("HZ (200, 3)", r.hz, r.reps, ALPHA);
    assert_rate("Mardia skewness, corrected (200, 3)", r.skew, r.reps, ALPHA);
    assert_rate(
        "Mardia kurtosis, exact moments (200, 3)",
        r.kurt,
        r.reps,
        ALPHA,
    );
    // Holm over k correlated projections is conservative by construction: assert validity
    // (rate ≤ α within Monte Carlo error) only.
    projection_validity(&r, "(200, 3)");
}

/// Type-I error at (n, d) = (200, 20), R = 1000. The χ² approximation of Mardia's corrected
/// skewness is liberal here (see `mardia_skewness_monte_carlo_null_n200_d20`).
#[test]
fn mvn_type_one_error_n200_d20() {
    let r = mvn_rates(200, 20, 1000, "mvn-null-200-20", correlated_normal);
    assert_rate("HZ (200, 20)", r.hz, r.reps, ALPHA);
    assert_rate(
        "Mardia kurtosis, exact moments (200, 20)",
        r.kurt,
        r.reps,
        ALPHA,
    );
    projection_validity(&r, "(200, 20)");
    // Documented deficiency: the corrected statistic has the exact null mean but a variance
    // about 1.3·2df, so the χ² p-value rejects about 7.6 % of true nulls (scipy simulation with
    // 2000 replications: 0.076). Assert it is liberal, within the band around 0.076.
    assert_rate(
        "Mardia skewness χ², corrected (200, 20)",
        r.skew,
        r.reps,
        0.076,
    );
}

/// Mardia skewness, HZ and kurtosis with Monte Carlo null p-values ([`MvnNull`], B = 999 draws
/// simulated once) at (200, 20): R = 600 fresh null samples. The rate conditional on one null
/// sample has its own Monte Carlo error √(α(1 − α)/(B + 1)); the band uses the combined
/// SE = √(α(1 − α)(1/R + 1/(B + 1))).
#[test]
fn mardia_skewness_monte_carlo_null_n200_d20() {
    let (n, d, b, reps) = (200, 20, 999, 600);
    let null = MvnNull::simulate(n, d, b, &mut rng::stream(7, "mvn-null-table")).unwrap();
    let mut data_rng = rng::stream(8, "mvn-null-mc");
    let (mut skew, mut hz, mut kurt) = (0, 0, 0);
    for _ in 0..reps {
        let x = correlated_normal(n, d, &mut data_rng);
        let m = mardia(&x).unwrap();
        let h = henze_zirkler(&x).unwrap();
        skew += usize::from(null.p_skewness(m.skewness.b1) <= ALPHA);
        hz += usize::from(null.p_henze_zirkler(h.statistic) <= ALPHA);
        kurt += usize::from(null.p_kurtosis(m.kurtosis.b2) <= ALPHA);
    }
    let se = (ALPHA * (1.0 - ALPHA) * (1.0 / reps as f64 + 1.0 / (b as f64 + 1.0))).sqrt();
    for (what, k) in [("skewness", skew), ("HZ", hz), ("kurtosis", kurt)] {
        let rate = k as f64 / reps as f64;
        eprintln!(
            "Monte Carlo null {what} (200, 20): {rate:.4}, accepted {ALPHA} ± {:.4}",
            3.5 * se
        );
        assert!((rate - ALPHA).abs() <= 3.5 * se, "{what}: {rate}");
    }
}

/// Power at n = 200, d = 3 against a scale mixture 0.8·N(0, I) + 0.2·N(0, 9I) and i.i.d. t₃
/// coordinates (R = 200 each).
#[test]
fn mvn_power_against_mixture_and_t3() {
    let mixture = |n: usize, d: usize, r: &mut ChaCha8Rng| {
        let mut x = normal_matrix(n, d, r);
        for i in 0..n {
            if r.random::<f64>() < 0.2 {
                let mut row = x.row_mut(i);
                row *= 3.0;
            }
        }
        x
    };
    let t3 = |n: usize, d: usize, r: &mut ChaCha8Rng| {
        let t = StudentT::new(3.0).unwrap();
        DMatrix::from_fn(n, d, |_, _| r.sample::<f64, _>(t))
    };
    let m = mvn_rates(200, 3, 200, "mvn-power-mixture", mixture);
    let t = mvn_rates(200, 3, 200, "mvn-power-t3", t3);
    for (what, rate) in [
        ("mixture HZ", m.hz),
        ("mixture Mardia kurtosis", m.kurt),
        ("mixture projection", m.proj),
        ("t3 HZ", t.hz),
        ("t3 Mardia skewness", t.skew),
        ("t3 Mardia kurtosis", t.kurt),
        ("t3 projection", t.proj),
    ] {
        eprintln!("power {what}: {:.3}", rate as f64 / 200.0);
    }
    assert!(m.hz as f64 / 200.0 > 0.9);
    assert!(m.kurt as f64 / 200.0 > 0.9);
    assert!(m.proj as f64 / 200.0 > 0.9);
    assert!(t.hz as f64 / 200.0 > 0.9);
    assert!(t.kurt as f64 / 200.0 > 0.9);
    assert!(t.proj as f64 / 200.0 > 0.9);
}

fn two_groups(
    n: usize,
    d: usize,
    r: &mut ChaCha8Rng,
    t_df: Option<f64>,
    scale_first: f64,
) -> [DMatrix<f64>; 2] {
    let draw = |r: &mut ChaCha8Rng| match t_df {
        None => r.sample::<f64, _>(StandardNormal),
        // Unit-variance t: t_ν / √(ν/(ν − 2)).
        Some(nu) => r.sample::<f64, _>(StudentT::new(nu).unwrap()) / (nu / (nu - 2.0)).sqrt(),
    };
    let a = DMatrix::from_fn(n, d, |_, j| {
        draw(r) * if j == 0 { scale_first } else { 1.0 }
    });
    let b = DMatrix::from_fn(n, d, |_, _| draw(r) + 3.0);
    [a, b]
}

/// Box's M (χ² and F) type-I error with two Gaussian groups of n = 200 (R = 1000).
#[test]
fn box_m_type_one_error() {
    for d in [3, 20] {
        let mut r = rng::stream(11, &format!("boxm-null-{d}"));
        let (mut chi, mut f) = (0, 0);
        let reps = 1000;
        for _ in 0..reps {
            let g = two_groups(200, d, &mut r, None, 1.0);
            let b = box_m(&g).unwrap();
            chi += usize::from(b.p_value <= ALPHA);
            f += usize::from(b.f_p_value.unwrap() <= ALPHA);
        }
        assert_rate(&format!("Box's M χ² (200, {d})"), chi, reps, ALPHA);
        assert_rate(&format!("Box's M F (200, {d})"), f, reps, ALPHA);
    }
}

/// Box's M is not robust: with equal covariances and t₅ noise at d = 10, n = 100 per group it
/// rejects far more than α (the project notes report 0.39 with 300 replications).
#[test]
fn box_m_rejects_equal_covariances_under_t5() {
    let mut r = rng::stream(12, "boxm-t5");
    let reps = 300;
    let mut chi = 0;
    for _ in 0..reps {
        let g = two_groups(100, 10, &mut r, Some(5.0), 1.0);
        chi += usize::from(box_m(&g).unwrap().p_value <= ALPHA);
    }
    let rate = chi as f64 / reps as f64;
    eprintln!("Box's M χ² under t5 (100, 10): {rate:.3}");
    assert!(rate > 0.25, "{rate}");
}

/// The permutation test's type-I error. B = 39 permutations: p ≤ 0.05 exactly when the observed
/// min-p is among the 2 smallest of 40, an exact level-0.05 test for exchangeable data, so the
/// rate measures how far group centring and heavy tails break exchangeability (B only affects
/// power).
fn perm_rate(
    n: usize,
    d: usize,
    t_df: Option<f64>,
    reps: usize,
    label: &str,
) -> (usize, usize, usize) {
    let mut data = rng::stream(13, label);
    let mut perm = rng::stream(14, label);
    let (mut all, mut sum, mut max) = (0, 0, 0);
    for _ in 0..reps {
        let g = two_groups(n, d, &mut data, t_df, 1.0);
        let t = permutation_cov_test(&g, 39, &mut perm).unwrap();
        all += usize::from(t.p_value <= ALPHA);
        sum += usize::from(t.sum_p_value <= ALPHA);
        max += usize::from(t.max_p_value <= ALPHA);
    }
    (all, sum, max)
}

#[test]
fn permutation_cov_test_type_one_error_gaussian_d3() {
    perm_null(3, None, "gaussian");
}

#[test]
fn permutation_cov_test_type_one_error_gaussian_d20() {
    perm_null(20, None, "gaussian");
}

#[test]
fn permutation_cov_test_type_one_error_t5_d3() {
    perm_null(3, Some(5.0), "t5");
}

#[test]
fn permutation_cov_test_type_one_error_t5_d20() {
    perm_null(20, Some(5.0), "t5");
}

/// R = 400 pairs of groups of n = 200 with equal covariances.
fn perm_null(d: usize, t_df: Option<f64>, what: &str) {
    let reps = 400;
    let (all, sum, max) = perm_rate(200, d, t_df, reps, &format!("perm-null-{what}-{d}"));
    assert_rate(
        &format!("permutation min-p, {what} (200, {d})"),
        all,
        reps,
        ALPHA,
    );
    assert_rate(
        &format!("permutation sum, {what} (200, {d})"),
        sum,
        reps,
        ALPHA,
    );
    assert_rate(
        &format!("permutation max, {what} (200, {d})"),
        max,
        reps,
        ALPHA,
    );
}

/// Power of the permutation test at n = 200, d = 3 when the first coordinate's standard
/// deviation is 1.3 in one group (Gaussian and t₅; R = 200).
#[test]
fn permutation_cov_test_power() {
    for (what, df) in [("gaussian", None), ("t5", Some(5.0))] {
        let mut data = rng::stream(15, what);
        let mut perm = rng::stream(16, what);
        let reps = 200;
        let mut rej = 0;
        for _ in 0..reps {
            let g = two_groups(200, 3, &mut data, df, 1.3);
            rej += usize::from(permutation_cov_test(&g, 39, &mut perm).unwrap().p_value <= ALPHA);
        }
        let rate = rej as f64 / reps as f64;
        eprintln!("permutation power, sd ratio 1.3, {what} (200, 3): {rate:.3}");
        // Heavy tails inflate the fourth-moment estimates θ̂ and cost power (measured: 0.735
        // Gaussian, 0.355 t5).
        let floor = if df.is_none() { 0.5 } else { 0.2 };
        assert!(rate > floor, "{what}: {rate}");
    }
}

/// Symmetric α-stable draws by Chambers–Mallows–Stuck (β = 0, unit scale).
fn sas(alpha: f64, r: &mut ChaCha8Rng) -> f64 {
    let v = (r.random::<f64>() - 0.5) * std::f64::consts::PI;
    let w: f64 = r.sample(Exp1);
    (alpha * v).sin() / v.cos().powf(1.0 / alpha)
        * ((v - alpha * v).cos() / w).powf((1.0 - alpha) / alpha)
}

/// Coverage of the 90 % percentile-bootstrap intervals (R = 200 data sets, B = 200 resamples):
/// Hill on exact Pareto(1.5) data (n = 1000, k = 100) and the block-sum estimator on SαS(1.5)
/// data (N = 2000, m = 40).
#[test]
fn tail_index_bootstrap_coverage() {
    let reps = 200;
    let (mut hill_cov, mut mmo_cov) = (0, 0);
    let mut r = rng::stream(17, "tails");
    let mut boot = rng::stream(18, "tails-boot");
    for _ in 0..reps {
        let x: Vec<f64> = (0..1000)
            .map(|_| (1.0 - r.random::<f64>()).powf(-1.0 / 1.5))
            .collect();
        let h = hill_ci(&x, 100, 0.9, 200, &mut boot).unwrap();
        hill_cov += usize::from(h.ci_lower <= 1.5 && 1.5 <= h.ci_upper);
        let y: Vec<f64> = (0..2000).map(|_| sas(1.5, &mut r)).collect();
        let m = block_sum_alpha_ci(&y, 40, 0.9, 200, &mut boot).unwrap();
        mmo_cov += usize::from(m.ci_lower <= 1.5 && 1.5 <= m.ci_upper);
    }
    eprintln!(
        "Hill 90% bootstrap coverage: {:.3}",
        hill_cov as f64 / reps as f64
    );
    eprintln!(
        "block-sum 90% bootstrap coverage: {:.3}",
        mmo_cov as f64 / reps as f64
    );
    assert_rate("Hill 90% CI coverage", hill_cov, reps, 0.9);
    // The block-sum interval is conservative (measured 0.985): assert only that it does not
    // under-cover.
    let mmo = mmo_cov as f64 / reps as f64;
    assert!(mmo >= 0.9 - band(0.9, reps), "block-sum coverage {mmo}");
}
