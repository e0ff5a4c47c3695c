//! `sgd-ou compare RUN... [--out DIR] [--json] [--seed S] [--dims K] [--allow-different FIELD]...`.

use std::path::PathBuf;

use anyhow::Context as _;
use sgd_ou::compare::{self, render, CompareOptions};

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Run directories of one model swept over learning rate, batch size and sampling design.
    #[arg(value_name = "RUN", required = true, num_args = 2..)]
    pub runs: Vec<PathBuf>,
    /// Write compare.json, compare.md and compare.svg here (all-or-nothing); verified reports are cached
    /// here too and reused when the run, sgd-ou's version and the options are unchanged.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print compare.json to stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Seed of all randomness of each run's verification.
    #[arg(long, default_value_t = sgd_ou::rng::DEFAULT_SEED)]
    pub seed: u64,
    /// Analysis dimension k of each run's verification.
    #[arg(long, value_name = "K", default_value_t = sgd_ou::DEFAULT_DIMS)]
    pub dims: usize,
    /// Compare runs even though this run.json field (a dotted path such as `model` or
    /// `simulation.parameters.noise_scale`) differs between them; repeatable.
    #[arg(long, value_name = "FIELD")]
    pub allow_different: Vec<String>,
}

/// Runs `compare`; returns the exit code (0 pass, 1 fail, 3 inconclusive).
pub fn run(args: &CompareArgs) -> anyhow::Result<i32> {
    if let Some(out) = &args.out {
        for r in &args.runs {
            sgd_ou::report::write::refuse_inside(out, r)?;
        }
    }
    let opts = CompareOptions {
        verify: sgd_ou::Options {
            seed: args.seed,
            dims: args.dims,
            ..Default::default()
        },
        allow_different: args.allow_different.clone(),
        cache_dir: args.out.clone(),
        ..Default::default()
    };
    sgd_ou::run::progress::set_quiet(true);
    let outcome = compare::compare(&args.runs, &opts)?;
    let c = &outcome.comparison;
    let cached = outcome.verified_now.iter().filter(|v| !**v).count();
    if cached > 0 {
        eprintln!(
            "{cached} of {} run(s) taken from the cache in {}",
            args.runs.len(),
            args.out
                .as_ref()
                .map_or(String::new(), |p| p.display().to_string())
        );
    }
    let mut written = Vec::new();
    if let Some(out) = &args.out {
        let mut files = vec![
            ("compare.json".to_string(), render::json(c).into_bytes()),
            ("compare.md".to_string(), render::markdown(c).into_bytes()),
        ];
        if let Some(svg) = render::figure(c) {
            files.push(("compare.svg".to_string(), svg.into_bytes()));
        }
        sgd_ou::report::write::write_set(out, &files)
            .with_context(|| format!("writing the comparison to {}", out.display()))?;
        written = files.into_iter().map(|(name, _)| name).collect();
    }
    if args.json {
        print!("{}", render::json(c));
    } else {
        print!("{}", render::text(c));
        if let Some(out) = &args.out {
            println!(
                "Comparison written to {}: {}",
                out.display(),
                written.join(", ")
            );
        }
    }
    Ok(c.exit_code())
}
