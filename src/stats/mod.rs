//! Pure statistics: functions of numbers only. Nothing in this module knows about files, run
//! directories or reports.
//!
//! Every test returns its statistic and p-value and documents the formula, the reference
//! implementation it is checked against (see `tests/reference/`) and its cost.

pub mod battery;
pub mod covariance;
pub mod descriptive;
pub mod ess;
pub mod multitest;
pub mod mvn;
pub mod normality;
pub mod onesided;
pub mod portmanteau;
pub mod range_finder;
pub mod regression;
pub mod screen;
pub mod stationarity;
pub mod tails;

use serde::Serialize;

/// Statistic and p-value of a hypothesis test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TestResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    #[error("{test} needs at least {needed} observations, got {got}")]
    TooFewSamples {
        test: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("{test} is limited to at most {max} observations, got {got}")]
    TooManySamples {
        test: &'static str,
        max: usize,
        got: usize,
    },
    #[error("the sample contains NaN or infinite values")]
    NonFinite,
    #[error("all observations are equal (zero variance)")]
    ZeroVariance,
    #[error("degenerate input: {0}")]
    Degenerate(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Returns `Err(NonFinite)` when any value is NaN or infinite.
pub fn check_finite(x: &[f64]) -> Result<(), StatsError> {
    if x.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(StatsError::NonFinite)
    }
}
