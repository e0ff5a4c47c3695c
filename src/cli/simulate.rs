//! `sgd-ou simulate --scenario NAME --out DIR [--seed N]`.

use std::path::PathBuf;

use sgd_ou::simulate::{simulate, Scenario, SimConfig};

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Scenario name (`--list` shows them all with the verdicts each must get).
    #[arg(long, required_unless_present = "list")]
    pub scenario: Option<String>,
    /// Output run directory (must not exist or be empty).
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub out: Option<PathBuf>,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<i32> {
    if args.list {
        for s in Scenario::all() {
            let e = s.expected();
            println!(
                "{:<24} gaussian_noise={} constant_covariance={} small_step={} quadratic_loss={}\n    {}",
                s.name(),
                e.gaussian_noise,
                e.constant_covariance,
                e.small_step,
                e.quadratic_loss,
                s.description()
            );
        }
        return Ok(0);
    }
    let name = args.scenario.as_deref().unwrap_or_default();
    let scenario = Scenario::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Scenario::all().iter().map(|s| s.name()).collect();
        anyhow::anyhow!(
            "unknown scenario \"{name}\"; choose one of: {}",
            names.join(", ")
        )
    })?;
    let out = args.out.as_ref().expect("clap requires --out");
    let summary = simulate(scenario, &SimConfig::default_for(scenario), args.seed, out)?;
    println!(
        "wrote {} ({} checkpoints, {} bytes); expected verdicts: {:?}",
        out.display(),
        summary.checkpoint_steps.len(),
        summary.bytes_written,
        summary.expected
    );
    Ok(0)
}
