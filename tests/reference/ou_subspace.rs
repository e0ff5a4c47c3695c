//! Subspace OU algebra (`sgd_ou::ou::subspace_ou`): what a k-dimensional projection of an exact
//! d-dimensional OU process predicts. Exact algebra (no simulation) for the covariance and
//! gradient-linearity parts; the RESET test is checked against statsmodels
//! (`tests/reference/subspace_reset.json`, written by `tests/reference/generate_subspace_reset.py`,
//! statsmodels 0.15.0; F and p to 1e-9 relative) and on seeded Gaussian stationary draws.

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sgd_ou::ou::stationary_cov_discrete;
use sgd_ou::ou::subspace_ou::{
    invariance_defect, omitted_fraction, omitted_gradient_term, reset_test, subspace_prediction,
    Model,
};

/// Seeded random matrix with orthonormal columns (d × k), from a QR of a Gaussian matrix.
fn orthonormal(d: usize, k: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = DMatrix::from_fn(d, k, |_, _| StandardNormal.sample(&mut rng));
    g.qr().q()
}

/// A = V diag(λ) Vᵀ with λ linearly spread on [λ_max/d, λ_max] and V a seeded rotation.
fn spread_a(d: usize, lmax: f64, seed: u64) -> (DMatrix<f64>, DMatrix<f64>, Vec<f64>) {
    spread_a_from(d, lmax / d as f64, lmax, seed)
}

/// A = V diag(λ) Vᵀ with λ linearly spread on [lmin, lmax] and V a seeded rotation.
fn spread_a_from(
    d: usize,
    lmin: f64,
    lmax: f64,
    seed: u64,
) -> (DMatrix<f64>, DMatrix<f64>, Vec<f64>) {
    let v = orthonormal(d, d, seed);
    let lam: Vec<f64> = (0..d)
        .map(|i| lmin + (lmax - lmin) * i as f64 / (d - 1) as f64)
        .collect();
    let a = &v * DMatrix::from_diagonal(&DVector::from_vec(lam.clone())) * v.transpose();
    (a, v, lam)
}

const D: usize = 50;
const K: usize = 8;
const LMAX: f64 = 3.0;
const LR: f64 = 0.02; // ε·λ_max = 0.06, as in the issue

/// Issue 16, item 1: a random 8-dimensional subspace of a d = 50 process with isotropic noise;
/// the subspace prediction under-predicts (issue: simulated ratio 1.257 [1.09, 1.42], with its
/// simulator's spectrum). For a random P, PA⁻¹Pᵀ ≈ mean(1/λ)·I and (PAPᵀ)⁻¹ ≈ I/mean(λ), so the
/// ratio is ≈ mean(λ)·mean(1/λ): 1.19 for λ on [0.6, 3], 2.3 for λ on [0.06, 3].
#[test]
fn random_subspace_under_predicts_with_isotropic_noise() {
    for (lmin, lo, hi) in [(0.6, 1.1, 1.35), (LMAX / D as f64, 1.8, 2.6)] {
        let (a, _, lam) = spread_a_from(D, lmin, LMAX, 1);
        let approx =
            lam.iter().sum::<f64>() * lam.iter().map(|l| 1.0 / l).sum::<f64>() / (D * D) as f64;
        let mean = ratios_for(&a);
        eprintln!(
            "λ on [{lmin}, {LMAX}]: mean trace ratio {mean:.3}, mean(λ)·mean(1/λ) = {approx:.3}"
        );
        assert!((lo..hi).contains(&mean), "mean ratio {mean}");
        assert!((mean / approx - 1.0).abs() < 0.15);
    }
}

/// Mean trace ratio over 10 seeded random subspaces, checking the ordering on each.
fn ratios_for(a: &DMatrix<f64>) -> f64 {
    let q = DMatrix::identity(D, D);
    let mut ratios = Vec::new();
    for seed in 10..20 {
        let p = orthonormal(D, K, seed).transpose();
        let r = subspace_prediction(a, &q, &p, LR, Model::Discrete).unwrap();
        // P A⁻¹ Pᵀ ⪰ (P A Pᵀ)⁻¹: exact − predicted is PSD (continuous model, Q = I).
        let c = subspace_prediction(a, &q, &p, LR, Model::Continuous).unwrap();
        let min_eig = (&c.exact - &c.predicted)
            .symmetric_eigen()
            .eigenvalues
            .min();
        assert!(
            min_eig > -1e-12,
            "seed {seed}: exact − predicted has eigenvalue {min_eig}"
        );
        assert!(invariance_defect(a, &p).unwrap() > 0.2);
        ratios.push(r.trace_ratio);
    }
    assert!(ratios.iter().all(|&r| r > 1.05), "{ratios:?}");
    ratios.iter().sum::<f64>() / ratios.len() as f64
}

/// In a span of eigenvectors of A the prediction is exact (any Q that the span leaves
/// invariant; here Q = I) and the invariance defect and the omitted term vanish.
#[test]
fn eigenbasis_is_exact() {
    let (a, v, _) = spread_a(D, LMAX, 2);
    let cols = [0, 3, 7, 11, 20, 33, 41, 49];
    let p = DMatrix::from_fn(K, D, |i, j| v[(j, cols[i])]);
    assert!(invariance_defect(&a, &p).unwrap() < 1e-12);
    for model in [Model::Discrete, Model::Continuous] {
        let r = subspace_prediction(&a, &DMatrix::identity(D, D), &p, LR, model).unwrap();
        assert!((&r.exact - &r.predicted).norm() < 1e-10 * r.exact.norm());
        assert!((r.trace_ratio - 1.0).abs() < 1e-10);
    }
    let theta = DVector::from_fn(D, |i, _| (i as f64 * 0.37).sin());
    assert!(omitted_gradient_term(&a, &p, &theta).unwrap().norm() < 1e-12);
}

/// Q ∝ A (Fisher ≈ Hessian): the continuous subspace prediction is exact for every P; a general
/// Q can bias it downwards (ratio < 1), so no one-sided correction is safe.
#[test]
fn noise_proportional_to_a_is_exact_and_general_noise_has_either_sign() {
    let (a, v, lam) = spread_a(D, LMAX, 3);
    let p = orthonormal(D, K, 4).transpose();
    let r = subspace_prediction(&a, &(&a * 2.5), &p, LR, Model::Continuous).unwrap();
    assert!((&r.exact - &r.predicted).norm() < 1e-9 * r.exact.norm());
    // Noise concentrated on the stiff directions (q ∝ λ³): the prediction over-predicts.
    let qd: Vec<f64> = lam.iter().map(|l| l.powi(3)).collect();
    let q = &v * DMatrix::from_diagonal(&DVector::from_vec(qd)) * v.transpose();
    let r = subspace_prediction(&a, &q, &p, LR, Model::Continuous).unwrap();
    eprintln!("q ∝ λ³: trace ratio {:.3}", r.trace_ratio);
    assert!(r.trace_ratio < 0.95, "ratio {}", r.trace_ratio);
}

/// Pg = (PAPᵀ)(Pθ) + PA(I − PᵀP)θ exactly, and in a random subspace the omitted term carries
/// a large share of E‖PAθ‖² under the stationary law.
#[test]
fn gradient_linearity_omitted_term() {
    let (a, _, _) = spread_a(D, LMAX, 5);
    let p = orthonormal(D, K, 6).transpose();
    let theta = DVector::from_fn(D, |i, _| (i as f64 * 1.3).cos());
    let lhs = &p * (&a * &theta);
    let rhs =
        (&p * &a * p.transpose()) * (&p * &theta) + omitted_gradient_term(&a, &p, &theta).unwrap();
    assert!((lhs - rhs).norm() < 1e-12);
    let sigma = stationary_cov_discrete(&a, &DMatrix::identity(D, D), LR).unwrap();
    let f = omitted_fraction(&a, &p, &sigma).unwrap();
    eprintln!("omitted share of E‖PAθ‖² at d = {D}, k = {K}: {f:.3}");
    assert!(f > 0.5 && f < 1.0, "{f}");
    assert!(omitted_gradient_term(&a, &p, &DVector::zeros(3)).is_err());
    assert!(invariance_defect(&a, &(p * 2.0)).is_err());
}

#[test]
fn reset_matches_statsmodels() {
    let r: serde_json::Value = serde_json::from_str(include_str!("subspace_reset.json")).unwrap();
    let rows: Vec<Vec<f64>> = serde_json::from_value(r["x"].clone()).unwrap();
    let x = DMatrix::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j]);
    for c in r["cases"].as_array().unwrap() {
        let y: Vec<f64> = serde_json::from_value(c["y"].clone()).unwrap();
        let power = c["power"].as_u64().unwrap() as usize;
        let t = reset_test(&DVector::from_vec(y), &x, power).unwrap();
        let (f, p) = (c["F"].as_f64().unwrap(), c["p"].as_f64().unwrap());
        assert!(
            (t.statistic - f).abs() <= 1e-9 * f,
            "{}: F {} vs {f}",
            c["name"],
            t.statistic
        );
        assert!(
            (t.p_value - p).abs() <= 1e-9 * p,
            "{}: p {} vs {p}",
            c["name"],
            t.p_value
        );
    }
    assert!(reset_test(&DVector::zeros(3), &x, 3).is_err());
    assert!(reset_test(&DVector::zeros(rows.len()), &x, 1).is_err());
}

/// Draws n stationary θ ~ N(0, Σ) of the d = 50 chain, returns (Pθ, Pg) with g = Aθ + ξ
/// (+ the gradient of a quartic term c·(wᵀθ/s)⁴/4 along w = the first row of P, s the stationary
/// sd of wᵀθ), ξ ~ N(0, I).
fn subspace_sample(seed: u64, n: usize, cubic: f64) -> (DMatrix<f64>, DMatrix<f64>) {
    let (a, _, _) = spread_a_from(D, 0.6, LMAX, 7);
    let sigma = stationary_cov_discrete(&a, &DMatrix::identity(D, D), LR).unwrap();
    let l = sigma.clone().cholesky().unwrap().l();
    let p = orthonormal(D, K, 8).transpose();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut z = |r: usize, c: usize| DMatrix::from_fn(r, c, |_, _| StandardNormal.sample(&mut rng));
    let theta = &l * z(D, n); // columns are draws
    let w = p.row(0).transpose();
    let s = (w.transpose() * &sigma * &w)[(0, 0)].sqrt();
    let proj = w.transpose() * &theta; // 1 × n
    let bump = &w * proj.map(|v| cubic * (v / s).powi(3));
    let g = &a * &theta + z(D, n) + bump;
    ((&p * theta).transpose(), (&p * g).transpose())
}

/// Under a Gaussian stationary law E[Pg | Pθ] is linear in a random subspace, so RESET (Holm
/// over the k components, power 3) rejects at ≈ α; a cubic gradient term is detected.
#[test]
fn reset_is_valid_in_a_random_subspace() {
    let reject = |cubic: f64, seed: u64| {
        let (x, y) = subspace_sample(seed, 400, cubic);
        let p: Vec<f64> = (0..K)
            .map(|i| {
                reset_test(&y.column(i).into_owned(), &x, 3)
                    .unwrap()
                    .p_value
            })
            .collect();
        let adj =
            sgd_ou::stats::multitest::adjust(&p, sgd_ou::stats::multitest::Method::Holm).unwrap();
        adj.iter().any(|&v| v <= 0.05)
    };
    let null = (1..=40).filter(|&s| reject(0.0, s)).count();
    let alt = (1..=20).filter(|&s| reject(0.3, 100 + s)).count();
    eprintln!("RESET in a random subspace: {null}/40 rejections (quadratic loss), {alt}/20 (quartic loss term in the subspace)");
    // α = 0.05 over 40 seeds: MC SE 0.034, bound α + 2 SE ≈ 0.12 → ≤ 4 rejections.
    assert!(null <= 4, "{null}");
    assert!(alt >= 19, "{alt}");
}
