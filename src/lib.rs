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

// Run-time AVX2 dispatch for inner loops (`avx2_dispatch!`), used by src/run and src/stats.
#[macro_use]
mod simd;

pub mod checks;
pub mod compare;
pub mod error;
pub mod fmt;
pub(crate) mod linalg;
pub mod model;
pub mod ou;
pub mod phases;
pub mod report;
pub mod rng;
pub mod run;
pub mod simulate;
pub mod stability;
pub mod stats;
pub mod thresholds;

pub use error::{AssumptionsNotMet, Error, OptionError};

use std::path::Path;

use checks::{Context, Thresholds};
use report::{Assumptions, Dims, Report, RunInfo, Tool};

/// Options of [`verify`]. `Options::default()` is what `sgd-ou verify` uses without flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// One seed for all randomness (subspace, minibatch draws, bootstrap).
    pub seed: u64,
    /// Analysis dimension k (at least 1). Runs with d ≤ max(k, 32) are analysed in all
    /// coordinates ([`run::ALL_COORDINATES_MAX_D`]).
    pub dims: usize,
    /// Tolerances and levels (docs/methods.md).
    pub thresholds: Thresholds,
    /// First step of the analysis window; `None` with `to_step` `None` selects the diffusion
    /// phase automatically (see [`phases`]).
    pub from_step: Option<u64>,
    /// Last step of the analysis window (not before `from_step`).
    pub to_step: Option<u64>,
    /// Extra random draws R for the seed-stability record ([`stability`]): when the analysis
    /// uses a random subspace, [`verify`] repeats it under R more seeds and reports, per check,
    /// whether the verdicts agree. 0 turns it off. Default [`stability::DEFAULT_DRAWS`].
    pub draws: usize,
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
            from_step: None,
            to_step: None,
            draws: stability::DEFAULT_DRAWS,
        }
    }
}

impl Options {
    /// Checks every option and threshold is in range: `dims` ≥ 1, `draws` ≤ 100,
    /// `from_step` ≤ `to_step`,
    /// `alpha` and `ci_level` in (0, 1), at least one bootstrap resample and permutation,
    /// tolerances finite and positive. [`verify`] calls it first, so an out-of-range value is a
    /// typed error, never a panic deep in a statistic.
    pub fn validate(&self) -> Result<(), OptionError> {
        let bad = |name, value: String, requirement| OptionError {
            name,
            value,
            requirement,
        };
        if self.dims == 0 {
            return Err(bad("dims", "0".into(), "at least 1"));
        }
        if self.draws > stability::MAX_DRAWS {
            return Err(bad(
                "draws",
                self.draws.to_string(),
                "at most 100 (each draw repeats the whole analysis)",
            ));
        }
        if let (Some(a), Some(b)) = (self.from_step, self.to_step) {
            if a > b {
                return Err(bad("from_step", a.to_string(), "at most to_step"));
            }
        }
        self.thresholds.validate()
    }
}

/// Reads the run directory, runs the four checks and returns the report. When the analysis
/// used a random subspace it is repeated under `options.draws` more seeds and the report records
/// whether the verdicts agree (`Report::draw_stability`, [`stability`]); the verdicts are those
/// of `options.seed`.
///
/// ```no_run
/// let report = sgd_ou::verify("runs/my-run", &sgd_ou::Options::default())?;
/// report.assert_ou_assumptions(); // panics with the reasons unless all four pass
/// # Ok::<(), sgd_ou::Error>(())
/// ```
///
/// *Errors.* [`Error::Option`] for an out-of-range option ([`Options::validate`]);
/// [`Error::Input`] when the run directory is missing, malformed or inconsistent.
pub fn verify(run_dir: impl AsRef<Path>, options: &Options) -> Result<Report, Error> {
    options.validate()?;
    let run = run::Run::load(
        run_dir.as_ref(),
        &run::LoadOptions {
            dims: options.dims,
            seed: options.seed,
        },
    )?;
    let mut report = analyse(&run, options);
    drop(run);
    report.draw_stability = stability::run_draws(run_dir.as_ref(), options, &report)?;
    if let Some(ds) = &report.draw_stability {
        report
            .warnings
            .extend(report::narrate::stability::warnings(ds));
    }
    Ok(report)
}

/// Runs the four checks on a loaded run: chooses the analysis window (the diffusion phase, or
/// the user's steps), then runs every check on the window's checkpoints.
pub fn analyse(full: &run::Run, options: &Options) -> Report {
    let phases = phases::checkpoint_phases(full);
    let window = phases::select_window(full, &phases, options.from_step, options.to_step);
    let windowed = full.restrict_cow(&window.checkpoints);
    let run: &run::Run = &windowed;
    let ctx = Context::new(run, options.seed, &options.thresholds);
    if run.checkpoints.len() < 2 {
        let why = format!(
            "the analysis window holds {} checkpoint(s), at least 2 are needed: {}",
            run.checkpoints.len(),
            window.reason
        );
        let inc = || {
            checks::CheckResult::inconclusive(
                "Not analysed: no usable analysis window.",
                why.clone(),
            )
        };
        let assumptions = Assumptions {
            gaussian_noise: inc(),
            constant_covariance: inc(),
            small_step: inc(),
            quadratic_loss: inc(),
        };
        return build_report(full, run, options, phases, window, assumptions, inc());
    }
    let (gaussian_noise, (constant_covariance, (small_step, quadratic_loss))) = rayon::join(
        || report::narrate::gaussian_noise::narrate(checks::gaussian_noise::check(&ctx)),
        || {
            rayon::join(
                || {
                    report::narrate::constant_covariance::narrate(
                        checks::constant_covariance::check(&ctx),
                    )
                },
                || {
                    rayon::join(
                        || report::narrate::small_step::narrate(checks::small_step::check(&ctx)),
                        || {
                            report::narrate::quadratic_loss::narrate(checks::quadratic_loss::check(
                                &ctx,
                            ))
                        },
                    )
                },
            )
        },
    );
    let here = checks::AnalysisBasis::of(run);
    let with_basis = |mut r: checks::CheckResult, b: checks::AnalysisBasis| {
        r.basis = r.basis.or(Some(b));
        r
    };
    // quadratic_loss runs in the Hessian eigenbasis when the run has one (docs/methods.md,
    // "Analysis bases"); gaussian_noise and constant_covariance in the analysis subspace.
    let q_basis = match run.invariant {
        Some(_) => checks::AnalysisBasis::HessianEigenbasis,
        None => here,
    };
    let assumptions = Assumptions {
        gaussian_noise: with_basis(gaussian_noise, here),
        constant_covariance: with_basis(constant_covariance, here),
        small_step,
        quadratic_loss: with_basis(quadratic_loss, q_basis),
    };
    let ou_prediction = report::narrate::ou_prediction::narrate(checks::ou_prediction::check(&ctx));
    build_report(
        full,
        run,
        options,
        phases,
        window,
        assumptions,
        ou_prediction,
    )
}

/// The OU prediction's tests when a contradiction may hold back the overall pass: only a
/// prediction made in all coordinates (or an invariant basis) does (docs/methods.md, "The
/// verdict rule"); a subspace approximation never does.
fn ou_prediction_hold_back(ou: &checks::CheckResult) -> Option<&checks::ToleranceTests> {
    use checks::ou_prediction::{Coordinates, PredictionKind};
    match &ou.metrics {
        checks::Evidence::OuPrediction(e)
            if matches!(
                e.coordinates,
                Coordinates::All | Coordinates::InvariantBasis
            ) && e.prediction != PredictionKind::None =>
        {
            ou.tests.as_ref()
        }
        _ => None,
    }
}

fn build_report(
    full: &run::Run,
    run: &run::Run,
    options: &Options,
    phases: Vec<phases::CheckpointPhase>,
    window: phases::Window,
    assumptions: Assumptions,
    ou_prediction: checks::CheckResult,
) -> Report {
    let per_check: Vec<_> = assumptions
        .iter()
        .into_iter()
        .map(|(a, r)| (a, r.verdict, r.tests.as_ref()))
        .collect();
    let (verdict, verdict_tests) = checks::overall(
        &per_check,
        ou_prediction_hold_back(&ou_prediction),
        options.thresholds.alpha,
    );
    let mut warnings = Vec::new();
    if let Some([slope, se]) = window.loss_trend_per_1000_steps {
        if slope < 0.0 && slope.abs() > 3.0 * se {
            warnings.push(format!(
                "the training loss still decreases within the analysis window (slope {} per 1,000 \
                 steps, more than 3 standard errors of {} below 0): the window may include the end \
                 of the drift phase; consider a later first step (option from_step)",
                report::num(slope),
                report::num(se)
            ));
        }
    }
    warnings.extend(phases::warnings(&window));
    if let checks::Evidence::OuPrediction(e) = &ou_prediction.metrics {
        warnings.extend(report::narrate::ou_prediction::design_warning(e));
    }
    if run.subspace.kind() == run::SubspaceKind::RandomOrthonormal {
        let except = match &full.invariant {
            Some(inv) => format!(
                " except small_step and ou_prediction, which decide in the Hessian eigenbasis \
                 ({} directions with λ > 0)",
                inv.m()
            ),
            None => String::new(),
        };
        warnings.push(format!(
            "the run has d = {} parameters; every check works in one seeded random {}-dimensional \
             subspace{except} (raise the analysis dimension, option dims, to test more directions)",
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
            all_checkpoints: full.checkpoints.iter().map(|c| c.step).collect(),
            window,
            phases,
            dims: Dims {
                d: run.d,
                k: run.k(),
                subspace: run.subspace.kind(),
            },
            trajectory_length: full.trajectory.as_ref().map(|t| t.steps.len()),
            effective_learning_rate: run.manifest.effective_learning_rate(),
            minibatch_cov_factor: run.manifest.minibatch_cov_factor(),
            inputs: full.inputs.clone(),
            inputs_digest: full.inputs_digest(),
        },
        seed: options.seed,
        thresholds: options.thresholds.clone(),
        assumptions,
        ou_prediction,
        verdict,
        verdict_tests: Some(verdict_tests),
        warnings,
        provenance: None,
        draw_stability: None,
    }
}
