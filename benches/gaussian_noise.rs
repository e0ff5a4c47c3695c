//! `make bench`: cost of the `gaussian_noise` check for n = 4,096 per-example gradients at 10
//! checkpoints, against one pass over the gradients.
//!
//! The check sees only the projected n × k gradients (k = 8), so its own cost does not depend on
//! d. The issue's size (d = 10⁵, n = 4,096, 10 checkpoints) means 16 GB of float32 gradients; the
//! pass over them (`Run::load`, which projects each row once) is measured here on two checkpoints
//! at d = 5,000 (2 × 82 MB; a run needs at least two) and scales linearly in n·d·checkpoints
//! (×100 for the issue's size). The
//! check itself is measured on a run with d = k = 8 and the issue's n and checkpoint count.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sgd_ou::checks::{gaussian_noise, Context, Thresholds};
use sgd_ou::run::npy::{write_f32, write_f64};
use sgd_ou::run::{LoadOptions, Run};

const N: usize = 4_096;
const CHECKPOINTS: usize = 10;

fn generate(dir: &Path, d: usize, checkpoints: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    std::fs::write(
        dir.join("run.json"),
        r#"{"format_version": 1, "learning_rate": 0.01, "batch_size": 32, "dataset_size": 50000}"#,
    )
    .unwrap();
    for c in 0..checkpoints {
        let cdir = dir.join(format!("checkpoints/step_{}", 1000 * (c + 1)));
        std::fs::create_dir_all(&cdir).unwrap();
        let theta: Vec<f64> = (0..d)
            .map(|_| 0.01 * Distribution::<f64>::sample(&StandardNormal, &mut rng))
            .collect();
        let grads: Vec<f32> = (0..N * d)
            .map(|_| Distribution::<f32>::sample(&StandardNormal, &mut rng))
            .collect();
        write_f64(&cdir.join("params.npy"), &[d], &theta).unwrap();
        write_f32(&cdir.join("grads.npy"), &[N, d], &grads).unwrap();
    }
}

fn bench_gaussian_noise(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("k8");
    generate(&small, 8, CHECKPOINTS);
    let wide = tmp.path().join("d5000");
    generate(&wide, 5_000, 2);
    let opts = LoadOptions { dims: 8, seed: 1 };
    let run = Run::load(&small, &opts).unwrap();
    let th = Thresholds::default();
    let mut group = c.benchmark_group("gaussian_noise");
    group.sample_size(10);
    group.bench_function("check_n4096_10ckpt_k8", |b| {
        b.iter(|| {
            let ctx = Context::new(&run, 1, &th);
            gaussian_noise::check(&ctx)
        })
    });
    group.bench_function("gradient_pass_n4096_d5000_2ckpt", |b| {
        b.iter(|| Run::load(&wide, &opts).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench_gaussian_noise);
criterion_main!(benches);
