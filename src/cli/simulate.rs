//! `sgd-ou simulate --scenario NAME --out DIR [--seed N] [--learning-rate E] [--batch-size S]
//! [--checkpoints K] [--checkpoint-spacing T] [--noise-batch-exponent G] [--sampling fresh|reshuffled]`.

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
    /// Learning rate ε (default: the scenario's, see docs/scenarios.md).
    #[arg(long, value_name = "E")]
    pub learning_rate: Option<f64>,
    /// Batch size S (default: the scenario's).
    #[arg(long, value_name = "S")]
    pub batch_size: Option<usize>,
    /// Number of checkpoints (default: the scenario's).
    #[arg(long, value_name = "K")]
    pub checkpoints: Option<usize>,
    /// SGD steps between checkpoints (default: the scenario's); longer spacing records a
    /// longer trajectory.
    #[arg(long, value_name = "T")]
    pub checkpoint_spacing: Option<usize>,
    /// Makes the per-example noise scale grow as (S/32)^G, so that the minibatch noise does not
    /// scale as 1/S (G = 0.5: not at all); builds grids that violate the OU model on purpose.
    #[arg(long, value_name = "G", allow_negative_numbers = true)]
    pub noise_batch_exponent: Option<f64>,
    /// Minibatch sampling: `fresh` (S distinct examples drawn anew each step, the default) or
    /// `reshuffled` (one random permutation per epoch, drop_last; writes a format-2 run.json).
    #[arg(long, value_name = "DESIGN", default_value = "fresh")]
    pub sampling: String,
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
    let summary = simulate(scenario, &config(args, scenario)?, args.seed, out)?;
    println!(
        "wrote {} ({} checkpoints, {} bytes; ε = {}, S = {})",
        out.display(),
        summary.checkpoint_steps.len(),
        summary.bytes_written,
        summary.learning_rate,
        summary.batch_size
    );
    let e = summary.expected;
    println!("expected verdicts:");
    for (what, verdict) in [
        ("gaussian_noise", e.gaussian_noise),
        ("constant_covariance", e.constant_covariance),
        ("small_step", e.small_step),
        ("quadratic_loss", e.quadratic_loss),
    ] {
        println!("  {what:<20} {verdict}");
    }
    Ok(0)
}

/// The scenario's default configuration with the command-line overrides applied (the
/// simulator validates the result).
fn config(args: &SimulateArgs, scenario: Scenario) -> anyhow::Result<SimConfig> {
    let mut c = SimConfig::default_for(scenario);
    if let Some(e) = args.learning_rate {
        c.learning_rate = e;
    }
    if let Some(s) = args.batch_size {
        c.batch_size = s;
    }
    if let Some(k) = args.checkpoints {
        c.checkpoints = k;
    }
    if let Some(t) = args.checkpoint_spacing {
        c.checkpoint_spacing = t;
    }
    c.noise_batch_exponent = args.noise_batch_exponent;
    c.sampling = args.sampling.parse()?;
    Ok(c)
}
