//! Benchmarks of the OU module: Lyapunov solvers at the analysis-subspace sizes k = 8, 32, 64,
//! the lag-1 estimator on a long trajectory and the effective sample size of long series.
//!
//! Run: `cargo bench --bench ou` (add `-- --measurement-time 3 --sample-size 10` for a quick
//! pass). Inputs are deterministic (seeded `rng::stream`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nalgebra::DMatrix;
use rand_distr::{Distribution, StandardNormal};
use sgd_ou::ou;
use sgd_ou::rng;

fn gaussian_matrix(rows: usize, cols: usize, label: &str) -> DMatrix<f64> {
    let mut r = rng::stream(1, label);
    DMatrix::from_fn(rows, cols, |_, _| {
        let z: f64 = StandardNormal.sample(&mut r);
        z
    })
}

/// A stable non-symmetric drift (positive-definite symmetric part plus a skew part) and an SPD Q.
fn drift_and_noise(k: usize) -> (DMatrix<f64>, DMatrix<f64>) {
    let m = gaussian_matrix(k, k, "bench/m");
    let n = gaussian_matrix(k, k, "bench/n");
    let b = gaussian_matrix(k, k, "bench/b");
    let id = DMatrix::<f64>::identity(k, k);
    let a = (&m * m.transpose()) / k as f64 + &id * 0.1 + (&n - n.transpose()) * 0.3;
    let q = (&b * b.transpose()) / k as f64 + id * 0.1;
    (a, q)
}

fn lyapunov(c: &mut Criterion) {
    let mut g = c.benchmark_group("lyapunov");
    for k in [8usize, 32, 64] {
        let (a, q) = drift_and_noise(k);
        let a_sym = (&a + a.transpose()) * 0.5;
        let lr = 0.5 / a.norm();
        let f = DMatrix::<f64>::identity(k, k) - &a * lr;
        g.bench_with_input(BenchmarkId::new("continuous_general", k), &k, |bch, _| {
            bch.iter(|| ou::solve_continuous_lyapunov(black_box(&a), black_box(&q)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("continuous_symmetric", k), &k, |bch, _| {
            bch.iter(|| ou::solve_continuous_lyapunov(black_box(&a_sym), black_box(&q)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("discrete_general", k), &k, |bch, _| {
            bch.iter(|| ou::solve_discrete_lyapunov(black_box(&f), black_box(&q)).unwrap())
        });
        g.bench_with_input(
            BenchmarkId::new("stationary_discrete_general", k),
            &k,
            |bch, _| {
                bch.iter(|| ou::stationary_cov_discrete(black_box(&a), black_box(&q), lr).unwrap())
            },
        );
    }
    g.finish();
}

fn estimators(c: &mut Criterion) {
    let mut g = c.benchmark_group("estimate");
    g.sample_size(10);
    let (k, t_len, lr) = (16usize, 100_000usize, 0.05);
    let (a, q) = drift_and_noise(k);
    let a = (&a + a.transpose()) * 0.5;
    let l = nalgebra::Cholesky::new(q).unwrap().unpack();
    let z = gaussian_matrix(t_len, k, "bench/noise");
    let mut traj = DMatrix::<f64>::zeros(t_len, k);
    for t in 1..t_len {
        let prev = traj.row(t - 1).transpose();
        let next = &prev - (&a * &prev + &l * z.row(t).transpose()) * lr;
        traj.set_row(t, &next.transpose());
    }
    g.bench_function("from_lag1/T=100000,k=16", |b| {
        b.iter(|| ou::from_lag1(black_box(&traj), lr).unwrap())
    });
    let ga = traj.rows(0, 2_000).into_owned() * a.transpose();
    let pos = traj.rows(0, 2_000).into_owned();
    g.bench_function("from_gradient_regression/m=2000,k=16", |b| {
        b.iter(|| ou::from_gradient_regression(black_box(&pos), black_box(&ga)).unwrap())
    });
    g.finish();
}

fn ess(c: &mut Criterion) {
    let mut g = c.benchmark_group("ess");
    g.sample_size(10);
    for n in [100_000usize, 1_000_000] {
        let mut r = rng::stream(2, "bench/ess");
        let mut x = vec![0.0f64; n];
        for i in 1..n {
            let e: f64 = StandardNormal.sample(&mut r);
            x[i] = 0.99 * x[i - 1] + e;
        }
        g.bench_with_input(BenchmarkId::new("ar1_phi0.99", n), &n, |b, _| {
            b.iter(|| sgd_ou::stats::ess::effective_sample_size(black_box(&x)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, lyapunov, estimators, ess);
criterion_main!(benches);
