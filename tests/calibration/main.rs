//! Calibration: checks and verdicts on seeded simulated runs whose truth is known (false-fail rates at the nominal level, power where an assumption is broken), the simulator itself, and the pinned values of the example and nine scenarios.
//!
//! One test binary (`cargo test --test calibration`); each module was a binary of its own before
//! issue 12 grouped them (fewer binaries to link). Run one module with
//! `cargo test --test calibration <module>::`.

#[path = "../common/mod.rs"]
mod common;

mod boundary_cov_quadratic;
mod boundary_gaussian;
mod boundary_small_step;
mod calibration_constant_covariance;
mod calibration_gaussian_noise;
mod calibration_multivariate;
mod calibration_normality;
mod calibration_quadratic_loss;
mod calibration_small_step;
mod ou_prediction;
mod pinned;
mod sampling;
mod scale_gaussian;
mod scale_ou;
mod scale_quadratic;
mod scale_sim;
mod scenarios;
mod seed_stability;
mod simulate;
mod window;
