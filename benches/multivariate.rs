//! Criterion benchmarks of the multivariate statistics at n = 2,000 with d = 8 and d = 64, and of
//! the permutation covariance test at the size the assumption checks use (g = 10 groups of
//! n = 1,000 in d = 16, B = 199).
//!
//! Run with `cargo bench --bench multivariate`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;
use sgd_ou::rng;
use sgd_ou::stats::covariance::{box_m, permutation_cov_test};
use sgd_ou::stats::mvn::{henze_zirkler, mardia, mardia_kurtosis, projection_test};
use sgd_ou::stats::tails::{block_sum_alpha, hill};

fn normal(n: usize, d: usize, label: &str) -> DMatrix<f64> {
    let mut r = rng::stream(42, label);
    DMatrix::from_fn(n, d, |_, _| r.sample::<f64, _>(StandardNormal))
}

/// Jarque–Bera p-value: a cheap stand-in univariate test, so the benchmark measures the
/// projection machinery.
fn jb(x: &[f64]) -> Result<f64, sgd_ou::stats::StatsError> {
    let m = sgd_ou::stats::descriptive::Moments::new(x);
    let jb = m.n as f64 / 6.0 * (m.skewness().powi(2) + m.excess_kurtosis().powi(2) / 4.0);
    Ok((-jb / 2.0).exp())
}

fn mvn(c: &mut Criterion) {
    let mut g = c.benchmark_group("mvn_n2000");
    g.sample_size(10);
    for d in [8usize, 64] {
        let x = normal(2000, d, "bench-mvn");
        g.bench_with_input(BenchmarkId::new("henze_zirkler", d), &x, |b, x| {
            b.iter(|| henze_zirkler(black_box(x)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("mardia", d), &x, |b, x| {
            b.iter(|| mardia(black_box(x)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("mardia_kurtosis", d), &x, |b, x| {
            b.iter(|| mardia_kurtosis(black_box(x)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("projection_k32", d), &x, |b, x| {
            b.iter(|| projection_test(black_box(x), 32, &mut rng::stream(1, "dirs"), jb).unwrap())
        });
        let groups = [
            x.rows(0, 1000).into_owned(),
            x.rows(1000, 1000).into_owned(),
        ];
        g.bench_with_input(BenchmarkId::new("box_m_2x1000", d), &groups, |b, gr| {
            b.iter(|| box_m(black_box(gr)).unwrap())
        });
        g.bench_with_input(
            BenchmarkId::new("permutation_2x1000_B199", d),
            &groups,
            |b, gr| {
                b.iter(|| {
                    permutation_cov_test(black_box(gr), 199, &mut rng::stream(1, "perm")).unwrap()
                })
            },
        );
    }
    g.finish();
}

fn covariance_checks(c: &mut Criterion) {
    let mut g = c.benchmark_group("permutation_g10_n1000_d16");
    g.sample_size(10);
    let groups: Vec<DMatrix<f64>> = (0..10)
        .map(|i| normal(1000, 16, &format!("bench-group-{i}")))
        .collect();
    g.bench_function("B199", |b| {
        b.iter(|| {
            permutation_cov_test(black_box(&groups), 199, &mut rng::stream(1, "perm")).unwrap()
        })
    });
    g.finish();
}

fn tails(c: &mut Criterion) {
    let mut r = rng::stream(3, "bench-tails");
    let x: Vec<f64> = (0..100_000)
        .map(|_| r.sample::<f64, _>(StandardNormal))
        .collect();
    let mut g = c.benchmark_group("tails_n100000");
    g.bench_function("hill_k316", |b| {
        b.iter(|| hill(black_box(&x), 316).unwrap())
    });
    g.bench_function("block_sum_m316", |b| {
        b.iter(|| block_sum_alpha(black_box(&x), 316).unwrap())
    });
    g.finish();
}

criterion_group!(benches, mvn, covariance_checks, tails);
criterion_main!(benches);
