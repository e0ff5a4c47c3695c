//! Seed stability: does a verdict rest on the random draw?
//!
//! Everything random in `verify` comes from one seed (`Options::seed`): the k-dimensional random
//! analysis subspace when d > max(k, [`crate::run::ALL_COORDINATES_MAX_D`]), and every seeded
//! resample inside the checks (bootstrap resamples, minibatch draws, permutations). Each seed
//! gives a valid analysis of the same data, but at a boundary two seeds can decide differently;
//! with a random subspace they look at different directions altogether (issue 16: on the
//! tutorial's d = 11 run, seeds 1–10 gave gaussian_noise pass 1×, inconclusive 3×, fail 6×).
//!
//! When the analysis used a random subspace, [`run_draws`] repeats the whole analysis (load,
//! projection, window, every check) under R more seeds, seed·1000 + r for r = 1..=R
//! ([`draw_seeds`]), one after the other, and records every check's verdict under each seed
//! ([`DrawStability`]). The report's verdicts stay those of the report's own seed: each seed's
//! analysis is a test at its nominal level, but a vote over correlated re-analyses of the same
//! data has no known error rate (a majority of R + 1 level-α tests can reject more often than
//! α), and a rule that changed the verdict with R would make the verdict depend on an option
//! that only measures stability. Disagreement is reported in words instead
//! ([`crate::report::narrate::stability`]).
//!
//! Cost: R more passes over the inputs (R × the time of `verify`), so it runs only when the
//! inputs take at most [`DRAWS_MAX_INPUT_BYTES`]; above that the report says it was skipped.
//! Memory: one run at a time (the main run is dropped first).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checks::Verdict;
use crate::report::Report;
use crate::run::SubspaceKind;

/// Default number of extra draws (`--draws`).
pub const DEFAULT_DRAWS: usize = 4;

/// Largest number of extra draws accepted ([`crate::Options::validate`]).
pub const MAX_DRAWS: usize = 100;

/// Largest total input size (bytes of every file read) for which the draws are run: 256 MiB.
pub const DRAWS_MAX_INPUT_BYTES: u64 = 256 << 20;

/// The verdicts of every check under the report's seed and R more seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DrawStability {
    /// The seeds analysed: the report's own seed first, then seed·1000 + r for r = 1..=R
    /// (only the report's seed when the draws were skipped).
    pub seeds: Vec<u64>,
    /// Why the extra draws were not run (inputs above the size limit); `checks` is then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Per check (the four assumptions, `ou_prediction`, and `overall`): its verdict under each
    /// seed.
    pub checks: Vec<CheckDraws>,
}

/// One check's verdicts over the draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CheckDraws {
    /// `gaussian_noise`, `constant_covariance`, `small_step`, `quadratic_loss`,
    /// `ou_prediction` or `overall`.
    pub check: String,
    /// The verdict under each seed, in the order of `seeds`.
    pub verdicts: Vec<Verdict>,
    /// True when every seed gave the same verdict.
    pub agree: bool,
    /// How many seeds gave pass.
    pub pass: usize,
    /// How many seeds gave fail.
    pub fail: usize,
    /// How many seeds gave inconclusive.
    pub inconclusive: usize,
}

impl CheckDraws {
    /// From the verdicts in seed order.
    pub fn new(check: &str, verdicts: Vec<Verdict>) -> Self {
        let count = |v| verdicts.iter().filter(|&&x| x == v).count();
        CheckDraws {
            check: check.to_string(),
            agree: verdicts.windows(2).all(|w| w[0] == w[1]),
            pass: count(Verdict::Pass),
            fail: count(Verdict::Fail),
            inconclusive: count(Verdict::Inconclusive),
            verdicts,
        }
    }
}

impl DrawStability {
    /// True when every check gave the same verdict under every seed (and the draws ran).
    pub fn all_agree(&self) -> bool {
        self.skipped.is_none() && self.checks.iter().all(|c| c.agree)
    }
}

/// The seeds of the draws: `seed`, then seed·1000 + r for r = 1..=`draws` (wrapping in u64).
pub fn draw_seeds(seed: u64, draws: usize) -> Vec<u64> {
    std::iter::once(seed)
        .chain((1..=draws as u64).map(|r| seed.wrapping_mul(1000).wrapping_add(r)))
        .collect()
}

/// True when the report's analysis rests on a random draw of directions (a random subspace).
/// Runs analysed in all coordinates (or an invariant basis) are not re-drawn: only the checks'
/// own resamples would change.
pub fn uses_random_subspace(report: &Report) -> bool {
    report.run.dims.subspace == SubspaceKind::RandomOrthonormal
}

/// Total bytes of the report's inputs.
pub fn input_bytes(report: &Report) -> u64 {
    report.run.inputs.iter().map(|f| f.bytes).sum()
}

/// Every check's verdict in a fixed order: the four assumptions, the OU prediction, overall.
pub fn verdicts_of(r: &Report) -> Vec<(&'static str, Verdict)> {
    let mut v: Vec<_> = r
        .assumptions
        .iter()
        .into_iter()
        .map(|(a, c)| (a.key(), c.verdict))
        .collect();
    v.push(("ou_prediction", r.ou_prediction.verdict));
    v.push(("overall", r.verdict));
    v
}

/// The stability record of `main` (the report's own seed) and the `others`, in seed order.
/// Pure: no I/O. Cost O((R + 1) · checks).
pub fn collect(main: &Report, others: &[&Report]) -> DrawStability {
    let all: Vec<&Report> = std::iter::once(main)
        .chain(others.iter().copied())
        .collect();
    let per: Vec<Vec<(&str, Verdict)>> = all.iter().map(|r| verdicts_of(r)).collect();
    let checks = (0..per[0].len())
        .map(|i| CheckDraws::new(per[0][i].0, per.iter().map(|p| p[i].1).collect()))
        .collect();
    DrawStability {
        seeds: all.iter().map(|r| r.seed).collect(),
        skipped: None,
        checks,
    }
}

/// Re-runs the analysis of `run_dir` under [`draw_seeds`] (all but the first, sequentially, so
/// the result is the same with any thread count) and records the verdicts. `None` when no draw
/// is needed (no random subspace, or `options.draws` = 0); a record with `skipped` when the
/// inputs exceed [`DRAWS_MAX_INPUT_BYTES`].
///
/// *Errors.* Those of [`crate::run::Run::load`] (the inputs changed since the first pass).
pub fn run_draws(
    run_dir: &Path,
    options: &crate::Options,
    main: &Report,
) -> Result<Option<DrawStability>, crate::Error> {
    if options.draws == 0 || !uses_random_subspace(main) {
        return Ok(None);
    }
    let bytes = input_bytes(main);
    if bytes > DRAWS_MAX_INPUT_BYTES {
        return Ok(Some(DrawStability {
            seeds: vec![main.seed],
            skipped: Some(format!(
                "the inputs take {bytes} bytes, above the {DRAWS_MAX_INPUT_BYTES}-byte limit \
                 for re-analysing them under other seeds"
            )),
            checks: Vec::new(),
        }));
    }
    let mut others = Vec::with_capacity(options.draws);
    for &seed in &draw_seeds(options.seed, options.draws)[1..] {
        let run = crate::run::Run::load(
            run_dir,
            &crate::run::LoadOptions {
                dims: options.dims,
                seed,
            },
        )?;
        let opts = crate::Options {
            seed,
            draws: 0,
            ..options.clone()
        };
        others.push(crate::analyse(&run, &opts));
    }
    let refs: Vec<&Report> = others.iter().collect();
    Ok(Some(collect(main, &refs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_the_main_one_then_seed_times_1000_plus_r() {
        assert_eq!(draw_seeds(7, 3), vec![7, 7001, 7002, 7003]);
        assert_eq!(draw_seeds(7, 0), vec![7]);
        // No overflow panic for a huge seed.
        assert_eq!(draw_seeds(u64::MAX, 1).len(), 2);
        let too_many = crate::Options {
            draws: MAX_DRAWS + 1,
            ..Default::default()
        };
        assert!(matches!(too_many.validate(), Err(e) if e.name == "draws"));
    }

    #[test]
    fn counts_and_agreement() {
        use Verdict::*;
        let c = CheckDraws::new("x", vec![Pass, Fail, Pass, Inconclusive, Pass]);
        assert_eq!((c.pass, c.fail, c.inconclusive, c.agree), (3, 1, 1, false));
        let c = CheckDraws::new("x", vec![Fail, Fail]);
        assert!(c.agree && c.fail == 2);
    }
}
