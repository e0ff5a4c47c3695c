//! (work in progress: see the issue tracker)
use super::{StatsError, TestResult};
/// Temporary: replaced by the univariate-tests work.
pub fn dagostino_pearson(_x: &[f64]) -> Result<TestResult, StatsError> {
    Err(StatsError::InvalidArgument("not yet".into()))
}
