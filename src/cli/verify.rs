//! `sgd-ou verify --run-dir DIR [--json] [--out REPORT_DIR] [--seed N] [--dims K]`.

use std::path::PathBuf;

use anyhow::Context as _;

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The run directory (run.json + checkpoints/; see docs/run-dir-format.md).
    #[arg(long, value_name = "DIR")]
    pub run_dir: PathBuf,
    /// Print the JSON report to stdout instead of the summary table.
    #[arg(long)]
    pub json: bool,
    /// Also write report.json, report.md and report.tex into this directory (all-or-nothing;
    /// other files in it are kept; must be outside the run directory).
    #[arg(long, value_name = "REPORT_DIR")]
    pub out: Option<PathBuf>,
    /// Seed of all randomness (subspace, minibatch draws, bootstrap).
    #[arg(long, default_value_t = sgd_ou::rng::DEFAULT_SEED)]
    pub seed: u64,
    /// Analysis dimension k: runs with more parameters are analysed in one seeded random
    /// k-dimensional subspace.
    #[arg(long, value_name = "K", default_value_t = sgd_ou::DEFAULT_DIMS)]
    pub dims: usize,
    /// Analyse only checkpoints with step ≥ N (overrides the automatic diffusion-phase window).
    #[arg(long, value_name = "N")]
    pub from_step: Option<u64>,
    /// Analyse only checkpoints with step ≤ N (overrides the automatic diffusion-phase window).
    #[arg(long, value_name = "N")]
    pub to_step: Option<u64>,
    /// No progress bar on stderr (it is shown only on a terminal, for passes over ~1 s).
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `verify`; returns the exit code (0 pass, 1 fail, 3 inconclusive).
pub fn run(args: &VerifyArgs) -> anyhow::Result<i32> {
    if let (Some(a), Some(b)) = (args.from_step, args.to_step) {
        if a > b {
            anyhow::bail!("--from-step {a} is after --to-step {b}; swap them");
        }
    }
    let options = sgd_ou::Options {
        seed: args.seed,
        dims: args.dims,
        from_step: args.from_step,
        to_step: args.to_step,
        ..Default::default()
    };
    if let Some(out) = &args.out {
        sgd_ou::report::write::refuse_inside(out, &args.run_dir)?;
    }
    sgd_ou::run::progress::set_quiet(args.quiet);
    let report = sgd_ou::verify(&args.run_dir, &options)?;
    if let Some(out) = &args.out {
        sgd_ou::report::write::write_all(&report, out)
            .with_context(|| format!("writing the report to {}", out.display()))?;
    }
    if args.json {
        print!("{}", sgd_ou::report::json::to_string(&report));
    } else {
        print!("{}", sgd_ou::report::text::render(&report));
        if let Some(out) = &args.out {
            println!("Report written to {}/report.{{json,md,tex}}", out.display());
        }
    }
    Ok(report.exit_code())
}
