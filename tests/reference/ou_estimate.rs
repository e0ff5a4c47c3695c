//! Estimators of the drift matrix A and the effective sample size of `sgd_ou::ou`.
//!
//! Reference values: `tests/reference/ou.json`, written by `tests/reference/generate_ou.py`
//! (statsmodels 0.15.0, numpy 2.4.6, ArviZ 0.23.4; the generating call is stored beside each
//! value). Simulations are seeded through `sgd_ou::rng::stream`.

use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use rand_distr::{Distribution, StandardNormal};
use serde_json::Value;
use sgd_ou::ou::{
    compare_estimates, covariance_gap, from_gradient_regression, from_hessian, from_lag1,
    stationary_cov_continuous, stationary_cov_discrete, OuError,
};
use sgd_ou::rng;
use sgd_ou::stats::ess::{effective_sample_size, effective_sample_size_chains};
use sgd_ou::stats::StatsError;

/// Agreement required with the reference libraries on fixed data.
const REF_TOL: f64 = 1e-10;

fn reference() -> Value {
    serde_json::from_str(include_str!("ou.json")).expect("valid reference JSON")
}

fn mat(v: &Value) -> DMatrix<f64> {
    let rows: Vec<Vec<f64>> = serde_json::from_value(v.clone()).expect("matrix");
    let (r, c) = (rows.len(), rows[0].len());
    DMatrix::from_row_iterator(r, c, rows.into_iter().flatten())
}

fn vecf(v: &Value) -> Vec<f64> {
    serde_json::from_value(v.clone()).expect("vector")
}

fn rel(x: &DMatrix<f64>, r: &DMatrix<f64>) -> f64 {
    (x - r).norm() / r.norm()
}

fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    let err = (got - want).abs() / want.abs().max(1e-300);
    assert!(
        err <= tol,
        "{what}: got {got}, want {want}, rel err {err:e}"
    );
}

fn diag(v: &[f64]) -> DMatrix<f64> {
    DMatrix::from_diagonal(&DVector::from_row_slice(v))
}

/// Orthogonal basis (Householder reflector) used to rotate diagonal test matrices.
fn householder(k: usize) -> DMatrix<f64> {
    let v = DMatrix::from_fn(k, 1, |i, _| 1.0 - 0.3 * i as f64 + 0.07 * (i * i) as f64);
    DMatrix::identity(k, k) - (&v * v.transpose()) * (2.0 / v.norm_squared())
}

fn sym(m: DMatrix<f64>) -> DMatrix<f64> {
    (&m + m.transpose()) * 0.5
}

/// Simulates the linear SGD chain θ_{t+1} = θ_t − ε(A(θ_t − μ) + ξ_t), ξ_t = L z_t ~ N(0, Q),
/// started at μ; returns rows burn_in … burn_in + t_len − 1.
fn simulate_chain(
    a: &DMatrix<f64>,
    q: &DMatrix<f64>,
    mu: &DVector<f64>,
    lr: f64,
    burn_in: usize,
    t_len: usize,
    label: &str,
) -> DMatrix<f64> {
    let k = a.nrows();
    let l = nalgebra::Cholesky::new(q.clone()).expect("Q SPD").unpack();
    let mut rng = rng::stream(rng::DEFAULT_SEED, label);
    let mut theta = mu.clone();
    let mut out = DMatrix::<f64>::zeros(t_len, k);
    let mut z = DVector::<f64>::zeros(k);
    for t in 0..burn_in + t_len {
        if t >= burn_in {
            out.set_row(t - burn_in, &theta.transpose());
        }
        for v in z.iter_mut() {
            *v = StandardNormal.sample(&mut rng);
        }
        let drift = a * (&theta - mu) + &l * &z;
        theta -= drift * lr;
    }
    out
}

// ------------------------------------------------------------------------------------------
// Reference-library agreement.
// ------------------------------------------------------------------------------------------

#[test]
fn lag1_estimate_matches_statsmodels_var1() {
    let r = reference();
    let v = &r["var1"];
    let traj = mat(&v["traj"]);
    let lr = v["lr"].as_f64().unwrap();
    let est = from_lag1(&traj, lr).unwrap();
    let coefs = mat(&v["coefs"]);
    let sigma_u = mat(&v["sigma_u"]);
    let intercept = DVector::from_vec(vecf(&v["intercept"]));
    assert!(
        rel(&est.transition, &coefs) <= REF_TOL,
        "F̂: {:e}",
        rel(&est.transition, &coefs)
    );
    assert!((&est.intercept - &intercept).norm() <= REF_TOL * intercept.norm());
    assert!(rel(&est.innovation_cov, &sigma_u) <= REF_TOL, "Σ̂_u");
    assert_eq!(
        est.n_pairs - 3 - 1,
        v["df_resid"].as_u64().unwrap() as usize
    );
    // Derived quantities.
    let id = DMatrix::<f64>::identity(3, 3);
    assert!(rel(&est.a, &((&id - &coefs) / lr)) <= REF_TOL);
    assert!(rel(&est.noise_cov, &(&sigma_u / (lr * lr))) <= REF_TOL);
    let centre = (&id - &coefs).lu().solve(&intercept).unwrap();
    assert!((est.centre.as_ref().unwrap() - centre).norm() <= 1e-9 * est.centre.unwrap().norm());
    assert!(est.spectral_radius < 1.0);
}

#[test]
fn gradient_regression_and_comparison_match_numpy() {
    let r = reference();
    let g = &r["gradient_regression"];
    let est = from_gradient_regression(&mat(&g["positions"]), &mat(&g["mean_grads"])).unwrap();
    assert!(rel(&est.a, &mat(&g["a_hat"])) <= REF_TOL);
    let b = DVector::from_vec(vecf(&g["b_hat"]));
    assert!((&est.intercept - &b).norm() <= REF_TOL * b.norm());
    assert_close(
        est.r_squared,
        g["r_squared"].as_f64().unwrap(),
        REF_TOL,
        "R²",
    );
    assert_close(
        est.relative_residual,
        g["relative_residual"].as_f64().unwrap(),
        1e-9,
        "relative residual",
    );
    let centre = DVector::from_vec(vecf(&g["centre"]));
    assert!((est.centre.as_ref().unwrap() - &centre).norm() <= 1e-9 * centre.norm());
    assert_eq!(est.n_points, 12);
    assert!(est.a_sym == sym(est.a.clone()));

    let cmp = compare_estimates(&est.a, &mat(&g["a_true"])).unwrap();
    assert_close(
        cmp.relative_frobenius,
        g["compare_relative_frobenius"].as_f64().unwrap(),
        1e-9,
        "relative Frobenius",
    );
    for (x, w) in cmp.eigenvalues.iter().zip(vecf(&g["compare_eigenvalues"])) {
        assert_close(*x, w, 1e-12, "eigenvalue");
    }
    let ref_ev = vecf(&g["compare_reference_eigenvalues"]);
    for (i, (x, w)) in cmp.reference_eigenvalues.iter().zip(&ref_ev).enumerate() {
        assert_close(*x, *w, 1e-12, "reference eigenvalue");
        assert_close(
            cmp.relative_eigenvalue_differences[i],
            (cmp.eigenvalues[i] - w) / w.abs(),
            1e-12,
            "relative eigenvalue difference",
        );
    }
}

#[test]
fn ess_matches_arviz() {
    let r = reference();
    let cases = r["ess"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for c in cases {
        let x = vecf(&c["x"]);
        let got = effective_sample_size(&x).unwrap();
        assert_close(
            got.ess,
            c["ess"].as_f64().unwrap(),
            1e-9,
            c["name"].as_str().unwrap(),
        );
        assert_eq!(got.chains, 2);
        assert_eq!(got.n, 2 * (x.len() / 2));
        assert_close(got.tau, got.n as f64 / got.ess, 1e-14, "τ = N/ESS");
    }
    let c = &r["ess_chains"];
    let chains: Vec<Vec<f64>> = serde_json::from_value(c["chains"].clone()).unwrap();
    let views: Vec<&[f64]> = chains.iter().map(Vec::as_slice).collect();
    let got = effective_sample_size_chains(&views).unwrap();
    assert_close(got.ess, c["ess"].as_f64().unwrap(), 1e-9, "three chains");
}

// ------------------------------------------------------------------------------------------
// Closed forms and exact recovery.
// ------------------------------------------------------------------------------------------

#[test]
fn from_hessian_symmetrises_and_reports_asymmetry() {
    let h = DMatrix::from_row_slice(2, 2, &[2.0, 0.4, 0.2, 1.0]);
    let est = from_hessian(&h).unwrap();
    assert!(
        rel(
            &est.a,
            &DMatrix::from_row_slice(2, 2, &[2.0, 0.3, 0.3, 1.0])
        ) < 1e-15
    );
    assert_eq!(est.a, est.a.transpose());
    // ‖H − Hᵀ‖_F = √(0.2² + 0.2²), ‖H‖_F = √(4 + 0.16 + 0.04 + 1).
    assert_close(
        est.asymmetry,
        (0.08f64).sqrt() / (5.2f64).sqrt(),
        1e-14,
        "asymmetry",
    );
    assert_close(est.max_abs_asymmetry, 0.2, 1e-14, "max |H − Hᵀ|");
    let s = from_hessian(&est.a).unwrap();
    assert_eq!((s.asymmetry, s.max_abs_asymmetry), (0.0, 0.0));
    assert!(matches!(
        from_hessian(&DMatrix::zeros(2, 3)),
        Err(OuError::Shape { .. })
    ));
    let mut nan = h.clone();
    nan[(0, 0)] = f64::NAN;
    assert!(matches!(from_hessian(&nan), Err(OuError::NonFinite(_))));
}

#[test]
fn gradient_regression_recovers_a_noiseless_affine_field_exactly() {
    // Non-symmetric A (k = 5) and intercept; 20 positions from a seeded stream.
    let k = 5;
    let a = DMatrix::from_fn(k, k, |i, j| {
        if i == j {
            2.0 + i as f64
        } else {
            0.1 * (i as f64 - j as f64) + 0.05
        }
    });
    let b = DVector::from_fn(k, |i, _| 0.3 * i as f64 - 0.5);
    let mut r = rng::stream(1, "ou_estimate/noiseless_regression");
    let pos = DMatrix::<f64>::from_fn(20, k, |_, _| StandardNormal.sample(&mut r));
    let mut grads = &pos * a.transpose();
    for mut row in grads.row_iter_mut() {
        row += b.transpose();
    }
    let est = from_gradient_regression(&pos, &grads).unwrap();
    assert!(rel(&est.a, &a) < 1e-12);
    assert!((&est.intercept - &b).norm() < 1e-12 * b.norm());
    assert!((est.r_squared - 1.0).abs() < 1e-13);
    assert!(est.relative_residual < 1e-13);
    let centre = -a.clone().lu().solve(&b).unwrap();
    assert!((est.centre.unwrap() - centre).norm() < 1e-12);
    assert!(est.asymmetry > 0.0);
    // Exactly determined (m = k + 1) also works.
    let est = from_gradient_regression(
        &pos.rows(0, k + 1).into_owned(),
        &grads.rows(0, k + 1).into_owned(),
    )
    .unwrap();
    assert!(rel(&est.a, &a) < 1e-10);
}

#[test]
fn gradient_regression_with_noise_is_within_its_standard_error() {
    // g_i = Aθ_i + b + σe_i. OLS: E‖Â − A‖_F² = σ² k tr((Θ_cᵀΘ_c)⁻¹) (k outputs, each with
    // covariance σ²(Θ_cᵀΘ_c)⁻¹). ‖Â − A‖_F² / that mean is ≤ 9 except with probability below
    // P(χ²₁ > 9) = 0.0027 even in the fully correlated worst case; the seed is fixed.
    let k = 4;
    let m = 400;
    let sigma = 0.1;
    let u = householder(k);
    let a = sym(&u * diag(&[3.0, 1.0, 0.5, 0.2]) * u.transpose());
    let b = DVector::from_row_slice(&[0.2, -0.1, 0.0, 0.4]);
    let mut r = rng::stream(2, "ou_estimate/noisy_regression");
    let pos = DMatrix::<f64>::from_fn(m, k, |_, _| StandardNormal.sample(&mut r));
    let mut grads = &pos * a.transpose();
    for mut row in grads.row_iter_mut() {
        row += b.transpose();
    }
    let noise = DMatrix::from_fn(m, k, |_, _| {
        let z: f64 = StandardNormal.sample(&mut r);
        sigma * z
    });
    grads += noise;
    let est = from_gradient_regression(&pos, &grads).unwrap();
    let mean = pos.row_mean();
    let mut pc = pos.clone();
    for mut row in pc.row_iter_mut() {
        row -= &mean;
    }
    let xtx_inv = (pc.transpose() * &pc).try_inverse().unwrap();
    let expected_sq = sigma * sigma * k as f64 * xtx_inv.trace();
    let err_sq = (&est.a - &a).norm_squared();
    assert!(
        err_sq <= 9.0 * expected_sq,
        "‖Â − A‖² = {err_sq:e}, 9·E = {:e}",
        9.0 * expected_sq
    );
    assert!(
        est.r_squared > 0.99 && est.r_squared < 1.0,
        "R² = {}",
        est.r_squared
    );
    let cmp = compare_estimates(&est.a_sym, &a).unwrap();
    assert!(cmp.max_relative_eigenvalue_difference < 0.1, "{cmp:?}");
}

#[test]
fn compare_estimates_closed_forms() {
    let u = householder(3);
    let a = sym(&u * diag(&[2.0, 1.0, 0.5]) * u.transpose());
    let same = compare_estimates(&a, &a).unwrap();
    assert_eq!(same.relative_frobenius, 0.0);
    assert!(same.max_relative_eigenvalue_difference < 1e-14);
    let scaled = compare_estimates(&(&a * 1.1), &a).unwrap();
    assert_close(scaled.relative_frobenius, 0.1, 1e-13, "‖1.1A − A‖/‖A‖");
    for d in &scaled.relative_eigenvalue_differences {
        assert_close(*d, 0.1, 1e-12, "eigenvalue ratio − 1");
    }
    for (e, w) in scaled.reference_eigenvalues.iter().zip([2.0, 1.0, 0.5]) {
        assert_close(*e, w, 1e-13, "descending reference eigenvalues");
    }
    assert!(matches!(
        compare_estimates(&a, &DMatrix::zeros(3, 3)),
        Err(OuError::InvalidArgument(_))
    ));
    assert!(matches!(
        compare_estimates(&a, &DMatrix::identity(2, 2)),
        Err(OuError::Shape { .. })
    ));
}

// ------------------------------------------------------------------------------------------
// Simulated linear SGD chains.
// ------------------------------------------------------------------------------------------

/// The lag-1 estimator recovers A and Q from a simulated chain, and the empirical covariance
/// matches the exact discrete Lyapunov prediction, not the continuous one.
#[test]
fn lag1_recovers_a_and_q_from_a_simulated_chain() {
    let k = 4;
    let u = householder(k);
    let a = sym(&u * diag(&[2.0, 1.0, 0.5, 0.25]) * u.transpose());
    let q = DMatrix::from_row_slice(
        k,
        k,
        &[
            1.0, 0.3, 0.0, 0.1, 0.3, 0.8, -0.2, 0.0, 0.0, -0.2, 0.6, 0.15, 0.1, 0.0, 0.15, 0.5,
        ],
    );
    let lr = 0.4; // ελ = 0.8 … 0.1: the discrete correction is large in the stiff modes.
    let mu = DVector::from_row_slice(&[1.0, -2.0, 0.5, 3.0]);
    let t_len = 200_000;
    let traj = simulate_chain(&a, &q, &mu, lr, 1_000, t_len, "ou_estimate/lag1_chain");
    let est = from_lag1(&traj, lr).unwrap();
    let n = est.n_pairs as f64;

    // Asymptotic OLS covariance of vec(F̂) is Σ_u ⊗ Σ₀⁻¹ / n, so with Â = (I − F̂)/ε and
    // Σ_u = ε²Q: E‖Â − A‖_F² = tr(Q)·tr(Σ₀⁻¹)/n. The squared error exceeds 9× its mean with
    // probability < P(χ²₁ > 9) = 0.0027 even if all k² errors were perfectly correlated.
    let sigma_d = stationary_cov_discrete(&a, &q, lr).unwrap();
    let expected_sq = q.trace() * sigma_d.clone().try_inverse().unwrap().trace() / n;
    let err_sq = (&est.a - &a).norm_squared();
    assert!(
        err_sq <= 9.0 * expected_sq,
        "‖Â − A‖² = {err_sq:e}, 9·E = {:e}",
        9.0 * expected_sq
    );
    assert!(rel(&est.a, &a) < 0.05, "relative error {}", rel(&est.a, &a));

    // Q̂ from the innovations: for Gaussian innovations E‖Q̂ − Q‖_F² = (tr(Q)² + ‖Q‖_F²)/n.
    let expected_q_sq = (q.trace().powi(2) + q.norm_squared()) / n;
    let q_err_sq = (&est.noise_cov - &q).norm_squared();
    assert!(q_err_sq <= 9.0 * expected_q_sq, "‖Q̂ − Q‖² = {q_err_sq:e}");

    // Centre and stability of the fit.
    assert!((est.centre.as_ref().unwrap() - &mu).norm() < 0.05 * mu.norm());
    assert!(est.spectral_radius < 1.0);
    assert!(est.asymmetry < 0.05);

    // Empirical covariance against the two Lyapunov predictions. The slowest mode has
    // autoregression ρ = 1 − ελ_min = 0.9, so a variance estimate from n draws has relative sd
    // ≈ √(2(1 + ρ²)/((1 − ρ²) n)) ≈ 0.01; the 0.05 bound is ≈ 5 sd. The continuous model
    // underestimates the stiffest mode (ελ = 0.8) by ≈ 1/(1 − 0.8/2) = 1.67.
    let sigma_c = stationary_cov_continuous(&a, &q, lr).unwrap();
    let gap_d = covariance_gap(&est.lag0_cov, &sigma_d).unwrap();
    let gap_c = covariance_gap(&est.lag0_cov, &sigma_c).unwrap();
    assert!(gap_d.relative_frobenius < 0.05, "{gap_d:?}");
    // The empirical gap to the continuous model is the predicted Σ_d-vs-Σ_c gap (≈ 0.10
    // relative Frobenius, largest whitened eigenvalue ≈ 1.68 here).
    let predicted = covariance_gap(&sigma_d, &sigma_c).unwrap();
    assert!(
        (gap_c.relative_frobenius - predicted.relative_frobenius).abs() < 0.05,
        "{gap_c:?} vs {predicted:?}"
    );
    assert!(
        *gap_c.whitened_eigenvalues.last().unwrap() > 1.5,
        "{gap_c:?}"
    );
    assert!(
        gap_d.kl < gap_c.kl / 20.0,
        "KL to discrete {} vs continuous {}",
        gap_d.kl,
        gap_c.kl
    );
    assert!(
        gap_d
            .whitened_eigenvalues
            .iter()
            .all(|m| (0.9..1.1).contains(m)),
        "{gap_d:?}"
    );
}

#[test]
fn lag1_and_gradient_regression_agree_on_the_same_quadratic() {
    // Positions = iterates of a chain; mean gradients = the true A(θ − μ) at those positions.
    let k = 3;
    let u = householder(k);
    let a = sym(&u * diag(&[1.5, 0.8, 0.3]) * u.transpose());
    let q = diag(&[1.0, 0.5, 0.25]);
    let mu = DVector::from_row_slice(&[0.0, 1.0, -1.0]);
    let lr = 0.2;
    let traj = simulate_chain(&a, &q, &mu, lr, 500, 100_000, "ou_estimate/agreement_chain");
    let lag1 = from_lag1(&traj, lr).unwrap();
    let mut grads = &traj * a.transpose();
    let amu = (&a * &mu).transpose();
    for mut row in grads.row_iter_mut() {
        row -= &amu;
    }
    let reg = from_gradient_regression(&traj, &grads).unwrap();
    assert!(rel(&reg.a, &a) < 1e-10);
    assert!((reg.centre.unwrap() - &mu).norm() < 1e-9);
    let cmp = compare_estimates(&lag1.a, &reg.a).unwrap();
    // Standard error as in the previous test: E‖Â − A‖² = tr(Q)·tr(Σ₀⁻¹)/n ≈ (0.044)²·‖A‖².
    assert!(cmp.relative_frobenius < 0.1, "{cmp:?}");
    assert!(cmp.max_relative_eigenvalue_difference < 0.15, "{cmp:?}");
}

// ------------------------------------------------------------------------------------------
// ESS calibration.
// ------------------------------------------------------------------------------------------

/// On AR(1) series x_i = φx_{i−1} + e_i the true τ = (1 + φ)/(1 − φ). The interval
/// x̄ ± 1.96·s/√ESS must cover the true mean 0 at ≈ 95 %: over R = 400 independent series the
/// coverage has binomial sd √(0.95·0.05/400) = 0.011, and the asserted band ±0.045 is ≈ 4 sd.
/// The mean ESS must be within 10 % of n/τ (its Monte Carlo sd over 400 series is ≈ 1 %).
#[test]
fn ess_is_calibrated_on_ar1_series() {
    let (phi, n, reps) = (0.8f64, 2_000usize, 400usize);
    let tau_true = (1.0 + phi) / (1.0 - phi);
    let mut r = rng::stream(rng::DEFAULT_SEED, "ou_estimate/ess_calibration");
    let mut covered = 0usize;
    let mut ess_sum = 0.0;
    let mut x = vec![0.0f64; n];
    for _ in 0..reps {
        let z0: f64 = StandardNormal.sample(&mut r);
        x[0] = z0 / (1.0 - phi * phi).sqrt();
        for i in 1..n {
            let e: f64 = StandardNormal.sample(&mut r);
            x[i] = phi * x[i - 1] + e;
        }
        let ess = effective_sample_size(&x).unwrap().ess;
        ess_sum += ess;
        let mean = x.iter().sum::<f64>() / n as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        if mean.abs() <= 1.96 * (var / ess).sqrt() {
            covered += 1;
        }
    }
    let coverage = covered as f64 / reps as f64;
    assert!((coverage - 0.95).abs() <= 0.045, "coverage {coverage}");
    let mean_ess = ess_sum / reps as f64;
    let target = n as f64 / tau_true;
    assert!(
        (mean_ess / target - 1.0).abs() < 0.1,
        "mean ESS {mean_ess} vs n/τ = {target}"
    );
}

#[test]
fn ess_of_white_noise_is_near_n_and_of_a_trend_is_tiny() {
    let mut r = rng::stream(3, "ou_estimate/ess_white");
    let x: Vec<f64> = (0..4_000).map(|_| StandardNormal.sample(&mut r)).collect();
    let e = effective_sample_size(&x).unwrap();
    // White noise: ESS ≈ n; the Geyer estimate has sd of a few %.
    assert!((e.ess / 4_000.0 - 1.0).abs() < 0.15, "{e:?}");
    // A linear trend plus noise: split halves have different means, ESS collapses.
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, v)| v + 0.01 * i as f64)
        .collect();
    let e = effective_sample_size(&y).unwrap();
    assert!(e.ess < 50.0, "{e:?}");
}

#[test]
fn bad_input_to_estimators_is_a_typed_error() {
    let mut r = rng::stream(4, "ou_estimate/bad_input");
    let traj = DMatrix::<f64>::from_fn(50, 3, |_, _| StandardNormal.sample(&mut r));
    // Too few rows: T < k + 3.
    assert!(matches!(
        from_lag1(&traj.rows(0, 5).into_owned(), 0.1),
        Err(OuError::Underdetermined {
            needed: 6,
            got: 5,
            ..
        })
    ));
    assert!(from_lag1(&traj.rows(0, 6).into_owned(), 0.1).is_ok());
    for lr in [0.0, -1.0, f64::NAN] {
        assert!(matches!(
            from_lag1(&traj, lr),
            Err(OuError::InvalidArgument(_))
        ));
    }
    let mut constant_col = traj.clone();
    constant_col.column_mut(1).fill(2.5);
    assert!(matches!(
        from_lag1(&constant_col, 0.1),
        Err(OuError::RankDeficient { .. })
    ));
    let mut nan = traj.clone();
    nan[(7, 2)] = f64::NAN;
    assert!(matches!(from_lag1(&nan, 0.1), Err(OuError::NonFinite(_))));
    assert!(matches!(
        from_lag1(&DMatrix::zeros(10, 0), 0.1),
        Err(OuError::Shape { .. })
    ));

    // Gradient regression.
    let g = traj.clone() * 2.0;
    assert!(matches!(
        from_gradient_regression(&traj.rows(0, 3).into_owned(), &g.rows(0, 3).into_owned()),
        Err(OuError::Underdetermined {
            needed: 4,
            got: 3,
            ..
        })
    ));
    assert!(matches!(
        from_gradient_regression(&traj, &g.rows(0, 10).into_owned()),
        Err(OuError::Shape { .. })
    ));
    let mut collinear = traj.clone();
    let c0 = collinear.column(0).into_owned();
    collinear.set_column(2, &(c0 * 3.0));
    assert!(matches!(
        from_gradient_regression(&collinear, &g),
        Err(OuError::RankDeficient { .. })
    ));
    let flat = DMatrix::from_element(50, 3, 0.7);
    assert!(matches!(
        from_gradient_regression(&traj, &flat),
        Err(OuError::ZeroVariance(_))
    ));
    assert!(matches!(
        from_gradient_regression(&nan, &g),
        Err(OuError::NonFinite(_))
    ));

    // ESS.
    assert!(matches!(
        effective_sample_size(&[1.0; 7]),
        Err(StatsError::TooFewSamples { .. })
    ));
    assert!(matches!(
        effective_sample_size(&[1.0; 20]),
        Err(StatsError::ZeroVariance)
    ));
    let mut v: Vec<f64> = (0..20).map(|i| i as f64).collect();
    v[3] = f64::INFINITY;
    assert!(matches!(
        effective_sample_size(&v),
        Err(StatsError::NonFinite)
    ));
    let huge: Vec<f64> = (0..20)
        .map(|i| if i % 2 == 0 { 1.5e308 } else { -1.5e308 })
        .collect();
    assert!(matches!(
        effective_sample_size(&huge),
        Err(StatsError::Degenerate(_))
    ));
    assert!(matches!(
        effective_sample_size_chains(&[]),
        Err(StatsError::InvalidArgument(_))
    ));
    let (a, b) = ([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0]);
    assert!(matches!(
        effective_sample_size_chains(&[&a, &b]),
        Err(StatsError::InvalidArgument(_))
    ));
    assert!(matches!(
        effective_sample_size_chains(&[&a[..3]]),
        Err(StatsError::TooFewSamples { .. })
    ));
}

// ------------------------------------------------------------------------------------------
// Properties.
// ------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        // Failing cases are kept in proptest-regressions/ (committed) and re-run first.
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/ou_estimate.txt"),
        )),
        ..ProptestConfig::default()
    })]

    /// Noiseless affine gradient fields are recovered to rounding error (relative to the
    /// condition number of the positions) whenever the positions span k dimensions.
    #[test]
    fn gradient_regression_is_exact_on_affine_fields(
        (a, b, pos) in (1usize..=6, 0usize..10).prop_flat_map(|(k, extra)| (
            prop::collection::vec(-2.0f64..2.0, k * k).prop_map(move |v| DMatrix::from_vec(k, k, v)),
            prop::collection::vec(-1.0f64..1.0, k).prop_map(DVector::from_vec),
            prop::collection::vec(-3.0f64..3.0, (k + 1 + extra) * k)
                .prop_map(move |v| DMatrix::from_vec(k + 1 + extra, k, v)),
        ))
    ) {
        let mut grads = &pos * a.transpose();
        for mut row in grads.row_iter_mut() {
            row += b.transpose();
        }
        prop_assume!(grads.norm() > 1e-6);
        match from_gradient_regression(&pos, &grads) {
            Ok(est) => {
                let tol = 1e-13 * est.condition.max(1.0) * (1.0 + a.norm());
                prop_assert!((&est.a - &a).norm() <= tol, "err {:e} tol {tol:e}", (&est.a - &a).norm());
            }
            Err(OuError::RankDeficient { .. }) | Err(OuError::ZeroVariance(_)) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    /// ESS is invariant under x ↦ αx + β (α ≠ 0) and under time reversal.
    #[test]
    fn ess_is_affine_and_reversal_invariant(
        x in prop::collection::vec(-10.0f64..10.0, 8..300),
        alpha in prop_oneof![-5.0f64..-0.1, 0.1f64..5.0],
        beta in -100.0f64..100.0,
    ) {
        let base = match effective_sample_size(&x) {
            Ok(e) => e.ess,
            Err(StatsError::ZeroVariance) => return Ok(()),
            Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
        };
        let y: Vec<f64> = x.iter().map(|v| alpha * v + beta).collect();
        let ey = effective_sample_size(&y).unwrap().ess;
        prop_assert!((ey / base - 1.0).abs() < 1e-8, "{ey} vs {base}");
        let rev: Vec<f64> = x.iter().rev().copied().collect();
        let er = effective_sample_size(&rev).unwrap().ess;
        prop_assert!((er / base - 1.0).abs() < 1e-8, "{er} vs {base}");
    }
}
