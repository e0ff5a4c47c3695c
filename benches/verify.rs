//! `make bench`: wall time and peak memory of `verify` on a generated run with d = 2,000
//! parameters, n = 2,000 per-example gradients (float32) and 10 checkpoints (160 MB of
//! gradients), analysed in the default k = 8 subspace.
//!
//! Peak memory is the process's high-water mark (VmHWM from /proc/self/status, Linux), printed
//! after the timed runs; the gradients are read in blocks and streamed, so it should stay far below
//! the size of the gradient files.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sgd_ou::run::npy::{write_f32, write_f64};

const D: usize = 2_000;
const N: usize = 2_000;
const CHECKPOINTS: usize = 10;

fn generate(dir: &Path) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    std::fs::write(
        dir.join("run.json"),
        format!(
            r#"{{"format_version": 1, "learning_rate": 0.01, "batch_size": 32, "dataset_size": {N}}}"#
        ),
    )
    .unwrap();
    let xi: Vec<f32> = (0..N * D)
        .map(|_| Distribution::<f32>::sample(&StandardNormal, &mut rng))
        .collect();
    for c in 0..CHECKPOINTS {
        let cdir = dir.join(format!("checkpoints/step_{}", 1000 * (c + 1)));
        std::fs::create_dir_all(&cdir).unwrap();
        let theta: Vec<f64> = (0..D)
            .map(|_| 0.01 * Distribution::<f64>::sample(&StandardNormal, &mut rng))
            .collect();
        let grads: Vec<f32> = xi
            .iter()
            .enumerate()
            .map(|(i, x)| x + theta[i % D] as f32)
            .collect();
        write_f64(&cdir.join("params.npy"), &[D], &theta).unwrap();
        write_f32(&cdir.join("grads.npy"), &[N, D], &grads).unwrap();
    }
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn bench_verify(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    generate(&run);
    let before = peak_rss_mib();
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.bench_function("d2000_n2000_10ckpt_k8", |b| {
        // One analysis only: the seed-stability draws would repeat it (docs/methods.md).
        let opts = sgd_ou::Options {
            draws: 0,
            ..Default::default()
        };
        b.iter(|| sgd_ou::verify(&run, &opts).unwrap())
    });
    group.finish();
    if let (Some(b), Some(a)) = (before, peak_rss_mib()) {
        println!(
            "verify: peak RSS {a:.0} MiB (after generating the run in memory: {b:.0} MiB; \
             gradient files on disk: {:.0} MiB)",
            (N * D * 4 * CHECKPOINTS) as f64 / (1024.0 * 1024.0)
        );
    }
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
