//! Times the streaming pass alone (`Run::load`: read + hash + projection + per-coordinate
//! moments), for scripts/bench_peers.sh:
//!
//!     cargo run --release --example load_run -- RUN_DIR [DIMS]
//!
//! Prints the elapsed seconds and the process's peak resident memory (Linux VmHWM).

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: load_run RUN_DIR [DIMS]");
        std::process::exit(2);
    };
    let dims = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let t = Instant::now();
    let run = sgd_ou::run::Run::load(dir.as_ref(), &sgd_ou::run::LoadOptions { dims, seed: 1 });
    let secs = t.elapsed().as_secs_f64();
    match run {
        Ok(r) => {
            let hwm = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("VmHWM:"))
                        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                })
                .map_or("?".to_string(), |kb| format!("{:.0}", kb / 1024.0));
            println!(
                "pass {secs:.3} s, {} checkpoints, peak RSS {hwm} MiB, inputs {}",
                r.checkpoints.len(),
                &r.inputs_digest()[..16]
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
