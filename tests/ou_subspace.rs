//! Subspace OU algebra (`sgd_ou::ou::subspace_ou`): what a k-dimensional projection of an exact
//! d-dimensional OU process predicts. Exact algebra, no simulation.

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sgd_ou::ou::stationary_cov_discrete;
use sgd_ou::ou::subspace_ou::{
    invariance_defect, omitted_fraction, omitted_gradient_term, subspace_prediction, Model,
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
