//! `sgd-ou simulate --scenario NAME --out DIR [--seed N] [--learning-rate E] [--batch-size S]
//! [--checkpoints K] [--checkpoint-spacing T] [--noise-batch-exponent G] [--sampling fresh|reshuffled]
//! [--dim D] [--basis-dims M] [--format 1|2] [--parameter-shape NAME=AxB ...]
//! [--noise-model additive|multiplicative] [--noise-beta B]
//! [--tail-coords C --tail-law lognormal|student-t --tail-param P]`.

use std::path::PathBuf;

use sgd_ou::simulate::{simulate, NoiseModel, Scenario, SimConfig, TailSpec};

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
    /// Number of parameters d of a large-d quadratic (quadratic-gaussian, large-step):
    /// A = U diag(λ) Uᵀ with O(d) block rotations U, spectrum evenly spaced in log on [0.3, 3],
    /// noise covariance ∝ A. Dense Hessians only for d ≤ 256; run.json holds no d-length array.
    #[arg(long, value_name = "D")]
    pub dim: Option<usize>,
    /// With --dim: write basis/ with the exact top-M eigenvectors of A (implies --format 2).
    #[arg(long, value_name = "M")]
    pub basis_dims: Option<usize>,
    /// run.json format version: 1 (default) or 2 (adds the `parameters` map).
    #[arg(long, value_name = "1|2")]
    pub format: Option<u32>,
    /// Format-2 parameter map entry NAME=SHAPE, shape as AxB (e.g. fc.weight=10x20, fc.bias=10,
    /// scalar: NAME=); repeat in flattening order, sizes must sum to d (implies --format 2).
    #[arg(long, value_name = "NAME=SHAPE")]
    pub parameter_shape: Vec<String>,
    /// `additive` (default: constant noise covariance) or `multiplicative` (the per-example
    /// noise is scaled by s(θ) = exp(β z_c tanh(z/z_c)), so its covariance depends on θ).
    #[arg(long, value_name = "MODEL", default_value = "additive")]
    pub noise_model: String,
    /// β of --noise-model multiplicative (default 0.7).
    #[arg(long, value_name = "B", allow_negative_numbers = true)]
    pub noise_beta: Option<f64>,
    /// Replace the per-example noise of the first C parameter coordinates by a non-Gaussian law
    /// of the same variance (needs --tail-law and --tail-param).
    #[arg(long, value_name = "C")]
    pub tail_coords: Option<usize>,
    /// `lognormal` (centred, σ = P) or `student-t` (ν = P).
    #[arg(long, value_name = "LAW")]
    pub tail_law: Option<String>,
    /// σ of the lognormal or ν of the Student-t.
    #[arg(long, value_name = "P")]
    pub tail_param: Option<f64>,
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
    large_d_options(args, &mut c)?;
    Ok(c)
}

/// --dim, --basis-dims, --format, --parameter-shape, --noise-model/--noise-beta, --tail-*.
fn large_d_options(args: &SimulateArgs, c: &mut SimConfig) -> anyhow::Result<()> {
    if let Some(d) = args.dim {
        c.d = d;
        c.dim_rotated = true;
        c.curvatures = Vec::new();
    }
    if let Some(m) = args.basis_dims {
        c.basis_dims = m;
    }
    if !args.parameter_shape.is_empty() {
        let shapes = args
            .parameter_shape
            .iter()
            .map(|s| parse_shape(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        c.parameter_shapes = Some(shapes);
    }
    let needs_v2 = c.basis_dims > 0 || c.parameter_shapes.is_some();
    c.format = args.format.unwrap_or(if needs_v2 { 2 } else { 1 });
    c.noise_model = match args.noise_model.as_str() {
        "additive" => {
            if args.noise_beta.is_some() {
                anyhow::bail!("--noise-beta needs --noise-model multiplicative");
            }
            NoiseModel::Additive
        }
        "multiplicative" => NoiseModel::Multiplicative {
            beta: args.noise_beta.unwrap_or(0.7),
        },
        other => anyhow::bail!(
            "unknown --noise-model {other:?}; expected \"additive\" or \"multiplicative\""
        ),
    };
    c.tail = match (args.tail_coords, &args.tail_law, args.tail_param) {
        (None, None, None) => None,
        (Some(coords), Some(law), Some(param)) => Some(TailSpec {
            coords,
            law: law.parse()?,
            param,
        }),
        _ => {
            anyhow::bail!("--tail-coords, --tail-law and --tail-param go together; give all three")
        }
    };
    Ok(())
}

/// Parses NAME=AxBxC (NAME= for a scalar) into (name, shape).
fn parse_shape(s: &str) -> anyhow::Result<(String, Vec<usize>)> {
    let (name, shape) = s.split_once('=').ok_or_else(|| {
        anyhow::anyhow!("--parameter-shape {s:?}: expected NAME=SHAPE, e.g. fc.weight=10x20")
    })?;
    let dims = if shape.trim().is_empty() {
        Vec::new()
    } else {
        shape
            .split('x')
            .map(|p| p.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                anyhow::anyhow!(
                    "--parameter-shape {s:?}: the shape must be sizes joined by 'x', e.g. 10x20"
                )
            })?
    };
    Ok((name.to_string(), dims))
}
