//! Cost of each univariate normality test at n = 100, 1 000 and 5 000 (Gaussian samples from
//! `rng::stream`). Run with `cargo bench --bench normality`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use rand_distr::{Distribution, StandardNormal};
use sgd_ou::rng::stream;
use sgd_ou::stats::normality::{
    anderson_darling, dagostino_pearson, jarque_bera, lilliefors, lilliefors_with, shapiro_wilk,
    LillieforsPValue,
};

fn sample(n: usize) -> Vec<f64> {
    let mut rng = stream(7, &format!("bench/normality/n{n}"));
    (0..n).map(|_| StandardNormal.sample(&mut rng)).collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("normality");
    for n in [100, 1_000, 5_000] {
        let x = sample(n);
        g.bench_with_input(BenchmarkId::new("shapiro_wilk", n), &x, |b, x| {
            b.iter(|| shapiro_wilk(black_box(x)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("anderson_darling", n), &x, |b, x| {
            b.iter(|| anderson_darling(black_box(x)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("dagostino_pearson", n), &x, |b, x| {
            b.iter(|| dagostino_pearson(black_box(x)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("jarque_bera", n), &x, |b, x| {
            b.iter(|| jarque_bera(black_box(x)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("lilliefors", n), &x, |b, x| {
            b.iter(|| lilliefors(black_box(x)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("lilliefors_table", n), &x, |b, x| {
            b.iter(|| lilliefors_with(black_box(x), LillieforsPValue::Table).unwrap())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
