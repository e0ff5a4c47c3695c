//! # sgd-ou
//!
//! May this training run's SGD be modelled as an Ornstein–Uhlenbeck process?
//!
//! The OU model dθ = −A(θ − θ*)dt + B_{ε/S} dW of SGD near a minimum (Mandt, Hoffman & Blei 2017)
//! rests on four assumptions: Gaussian minibatch gradient noise, a constant noise covariance over
//! the region the iterates occupy, a small step size, and a quadratic loss there. This crate reads
//! a *run directory* (see `docs/run-dir-format.md`), tests each assumption in its own module and
//! returns a [`report::Report`] with a pass / fail / inconclusive verdict per assumption.
//!
//! Layout: [`run`] reads and validates the run directory; [`stats`] is pure statistics (no I/O);
//! [`ou`] holds the Lyapunov solvers and estimators of the OU model; [`assumptions`] has one
//! module per assumption; [`report`] is the single report model with its exporters; [`simulate`]
//! writes run directories from models whose truth is known.

pub mod assumptions;
pub mod error;
pub mod linalg;
pub mod ou;
pub mod report;
pub mod rng;
pub mod run;
pub mod simulate;
pub mod stats;

pub use error::Error;

use std::path::Path;

use assumptions::{Context, Thresholds, Verdict};
use report::{Assumptions, Dims, Report, RunInfo, Tool};

/// Options of [`verify`]. `Options::default()` is what `sgd-ou verify` uses without flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// One seed for all randomness (subspace, minibatch draws, bootstrap).
    pub seed: u64,
    /// Analysis dimension k (`--dims`). Runs with d ≤ k are analysed in full.
    pub dims: usize,
    /// Tolerances and levels (docs/methods.md).
    pub thresholds: Thresholds,
}

/// Default analysis dimension: enough directions for the per-direction tests to have a family
/// worth correcting, few enough that a k × k covariance is well estimated from a few hundred
/// gradients per checkpoint.
pub const DEFAULT_DIMS: usize = 8;

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: rng::DEFAULT_SEED,
            dims: DEFAULT_DIMS,
            thresholds: Thresholds::default(),
        }
    }
}

/// Reads the run directory, runs the four checks and returns the report.
///
/// ```no_run
/// let report = sgd_ou::verify("runs/my-run".as_ref(), &sgd_ou::Options::default())?;
/// report.assert_ou_assumptions(); // panics with the reasons unless all four pass
/// # Ok::<(), sgd_ou::Error>(())
/// ```
pub fn verify(run_dir: &Path, options: &Options) -> Result<Report, Error> {
    let run = run::Run::load(
        run_dir,
        &run::LoadOptions {
            dims: options.dims,
            seed: options.seed,
        },
    )?;
    Ok(analyse(&run, options))
}

/// Runs the four checks on a loaded run.
pub fn analyse(run: &run::Run, options: &Options) -> Report {
    let ctx = Context {
        run,
        seed: options.seed,
        thresholds: &options.thresholds,
    };
    let (gaussian_noise, (constant_covariance, (small_step, quadratic_loss))) = rayon::join(
        || assumptions::gaussian_noise::check(&ctx),
        || {
            rayon::join(
                || assumptions::constant_covariance::check(&ctx),
                || {
                    rayon::join(
                        || assumptions::small_step::check(&ctx),
                        || assumptions::quadratic_loss::check(&ctx),
                    )
                },
            )
        },
    );
    let assumptions = Assumptions {
        gaussian_noise,
        constant_covariance,
        small_step,
        quadratic_loss,
    };
    let ou_prediction = assumptions::ou_prediction::check(&ctx);
    let verdict = Verdict::combine(assumptions.iter().iter().map(|(_, r)| r.verdict));
    let mut warnings = Vec::new();
    if run.subspace.kind() == run::SubspaceKind::RandomOrthonormal {
        warnings.push(format!(
            "the run has d = {} parameters; every check works in one seeded random {}-dimensional \
             subspace (raise --dims to test more directions)",
            run.d,
            run.k()
        ));
    }
    Report {
        schema_version: report::SCHEMA_VERSION,
        tool: Tool::default(),
        run: RunInfo {
            dir: run.dir.display().to_string(),
            manifest: run.manifest.clone(),
            checkpoints: run.checkpoints.iter().map(|c| c.step).collect(),
            rows_per_checkpoint: run.checkpoints.iter().map(|c| c.n).collect(),
            dims: Dims {
                d: run.d,
                k: run.k(),
                subspace: run.subspace.kind(),
            },
            trajectory_length: run.trajectory.as_ref().map(|t| t.steps.len()),
            effective_learning_rate: run.manifest.effective_learning_rate(),
            minibatch_cov_factor: run.manifest.minibatch_cov_factor(),
            inputs: run.inputs.clone(),
            inputs_digest: run.inputs_digest(),
        },
        seed: options.seed,
        thresholds: options.thresholds.clone(),
        assumptions,
        ou_prediction,
        verdict,
        warnings,
    }
}
