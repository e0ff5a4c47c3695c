//! Stationary covariance of SGD under epoch-wise reshuffling (`sgd_ou::ou::reshuffled`),
//! checked against a seeded Monte Carlo simulation of reshuffled SGD on a small quadratic
//! (d = 3, N = 64, S = 8, so m = N/S = 8 steps per epoch), and against fresh sampling.

use nalgebra::{DMatrix, DVector};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sgd_ou::ou::reshuffled::{stationary_cov_reshuffled, stationary_cov_reshuffled_eigen};
use sgd_ou::ou::stationary_cov_discrete;

const D: usize = 3;
const N: usize = 64;
const S: usize = 8;
const M: usize = N / S;
/// Independent chains per design (the MC SE comes from their spread).
const CHAINS: u64 = 12;
/// Recorded steps per chain and burn-in steps (≥ 100 relaxation times 1/(ελ_min) at ε = 0.05).
const STEPS: usize = 48_000;
const BURN: usize = 4_000;

struct Problem {
    a: DMatrix<f64>,
    /// per-example gradient offsets z_n (centred): g_n(θ) = Aθ + z_n
    z: Vec<DVector<f64>>,
    q: DMatrix<f64>,
}

fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// A symmetric A with eigenvalues {2, 1, 0.5} in a random basis and N centred offsets.
fn problem(seed: u64) -> Problem {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = DMatrix::from_fn(D, D, |_, _| gauss(&mut rng));
    let v = g.qr().q();
    let a = &v * DMatrix::from_diagonal(&DVector::from_vec(vec![2.0, 1.0, 0.5])) * v.transpose();
    let mut z: Vec<DVector<f64>> = (0..N)
        .map(|_| DVector::from_fn(D, |_, _| gauss(&mut rng)))
        .collect();
    let mean = z.iter().fold(DVector::zeros(D), |s, x| s + x) / N as f64;
    z.iter_mut().for_each(|x| *x -= &mean);
    let c = z
        .iter()
        .fold(DMatrix::zeros(D, D), |s, x| s + x * x.transpose())
        / N as f64;
    // without-replacement minibatch covariance
    let q = c * ((N - S) as f64 / (S as f64 * (N - 1) as f64));
    Problem {
        a: (&a + a.transpose()) * 0.5,
        z,
        q,
    }
}

/// E θθᵀ (θ* = 0) over one chain of SGD; reshuffled epochs or a fresh subset every step.
fn simulate(p: &Problem, lr: f64, reshuffle: bool, seed: u64) -> DMatrix<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..N).collect();
    let mut theta = DVector::zeros(D);
    let mut acc = DMatrix::zeros(D, D);
    for t in 0..BURN + STEPS {
        let j = t % M;
        if !reshuffle || j == 0 {
            order.shuffle(&mut rng);
        }
        let batch = if reshuffle { j * S } else { 0 };
        let xi = order[batch..batch + S]
            .iter()
            .fold(DVector::zeros(D), |s, &n| s + &p.z[n])
            / S as f64;
        if t >= BURN {
            acc += &theta * theta.transpose();
        }
        theta = &theta - (&p.a * &theta + xi) * lr;
    }
    acc / STEPS as f64
}

/// Mean over chains and its standard error, per entry.
fn monte_carlo(p: &Problem, lr: f64, reshuffle: bool) -> (DMatrix<f64>, DMatrix<f64>) {
    let runs: Vec<DMatrix<f64>> = (0..CHAINS)
        .map(|c| simulate(p, lr, reshuffle, 900 + c))
        .collect();
    let n = CHAINS as f64;
    let mean = runs.iter().fold(DMatrix::zeros(D, D), |s, x| s + x) / n;
    let var = runs.iter().fold(DMatrix::zeros(D, D), |s, x| {
        s + (x - &mean).component_mul(&(x - &mean))
    }) / (n - 1.0);
    (mean, var.map(|v| (v / n).sqrt()))
}

fn assert_matches(sim: &(DMatrix<f64>, DMatrix<f64>), pred: &DMatrix<f64>, what: &str) {
    for i in 0..D {
        for j in 0..D {
            let (x, se) = (sim.0[(i, j)], sim.1[(i, j)]);
            let tol = 4.0 * se + 1e-3 * pred.norm();
            assert!(
                (x - pred[(i, j)]).abs() <= tol,
                "{what} ({i},{j}): simulated {x} ± {se}, predicted {}",
                pred[(i, j)]
            );
        }
    }
}

#[test]
fn reshuffled_prediction_matches_simulation_and_differs_from_fresh() {
    let p = problem(15_004);
    let lr = 0.05; // ε·λ·N/S ∈ {0.8, 0.4, 0.2}: the small regime
    let pred = stationary_cov_reshuffled(&p.a, &p.q, lr, M).unwrap();
    let fresh = stationary_cov_discrete(&p.a, &p.q, lr).unwrap();
    let sim_r = monte_carlo(&p, lr, true);
    let sim_f = monte_carlo(&p, lr, false);
    assert_matches(&sim_r, &pred.mean_over_epoch, "reshuffled");
    assert_matches(&sim_f, &fresh, "fresh");
    let ratio = pred.mean_over_epoch.trace() / fresh.trace();
    let sim_ratio = sim_r.0.trace() / sim_f.0.trace();
    eprintln!("trace ratio reshuffled/fresh: predicted {ratio:.4}, simulated {sim_ratio:.4}");
    // the issue measured 0.236 for a comparable run; here the predicted ratio must be of that order
    assert!(
        (0.1..0.5).contains(&ratio),
        "small ε·λ·N/S must shrink the covariance, got {ratio}"
    );
    assert!((sim_ratio - ratio).abs() < 0.05 * ratio + 0.02);
}

/// Per-mode ratio reshuffled/fresh as a function of x = ε·λ with Q = 1, m = 8.
fn mode_ratio(x: f64, m: usize) -> f64 {
    let q = DMatrix::identity(1, 1);
    let r = stationary_cov_reshuffled_eigen(&[1.0], &q, x, m).unwrap();
    let fresh = x / (2.0 - x); // ε q/(λ(2 − ελ)) with λ = 1, ε = x
    r.mean_over_epoch[(0, 0)] / fresh
}

#[test]
fn ratio_to_fresh_grows_from_small_to_one_with_eps_lambda_m() {
    let xs = [0.005, 0.01, 0.03, 0.1, 0.3, 0.6, 1.0];
    let ratios: Vec<f64> = xs.iter().map(|&x| mode_ratio(x, M)).collect();
    eprintln!("x = ελ: {xs:?}\nratio:   {ratios:?}");
    assert!(
        ratios.windows(2).all(|w| w[0] < w[1]),
        "not increasing: {ratios:?}"
    );
    assert!(ratios[0] < 0.1, "ελm = 0.04: {}", ratios[0]);
    // ελ = 1: θ_{t+1} = −ε ξ_t, iterates are single noises: the ratio is exactly 1
    assert!((ratios[6] - 1.0).abs() < 1e-9, "{}", ratios[6]);
    // many steps per epoch at fixed ελ: the epoch constraint no longer matters
    assert!((mode_ratio(0.05, 4096) - 1.0).abs() < 0.01);
}

#[test]
fn eigenbasis_and_rotated_inputs_agree() {
    let p = problem(15_005);
    let lr = 0.05;
    let r = stationary_cov_reshuffled(&p.a, &p.q, lr, M).unwrap();
    let eig = p.a.clone().symmetric_eigen();
    let qt = eig.eigenvectors.transpose() * &p.q * &eig.eigenvectors;
    let lam: Vec<f64> = eig.eigenvalues.iter().copied().collect();
    let e = stationary_cov_reshuffled_eigen(&lam, &qt, lr, M).unwrap();
    let back = &eig.eigenvectors * e.mean_over_epoch * eig.eigenvectors.transpose();
    assert!((back - &r.mean_over_epoch).norm() < 1e-12 * r.mean_over_epoch.norm());
}
