//! The OU model's consequences, checked against the run (a fifth report section, next to the
//! four assumptions). It informs; it is not an assumption verdict and does not enter the overall
//! verdict.

use super::{CheckResult, Context};

/// Runs the OU-consequence checks.
pub fn check(_ctx: &Context) -> CheckResult {
    CheckResult::inconclusive(
        "The OU-prediction checks are not computed by this version.",
        "not implemented in this version",
    )
}
