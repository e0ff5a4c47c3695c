//! The words of the seed-stability record ([`crate::stability::DrawStability`]).

use crate::stability::{CheckDraws, DrawStability};

/// "gaussian_noise" → "gaussian_noise", "overall" → "the overall verdict"; the check keys are
/// kept so a reader can find them in the JSON.
fn subject(check: &str) -> String {
    if check == "overall" {
        "the overall verdict".to_string()
    } else {
        format!("the verdict of {check}")
    }
}

/// "pass 3 of 5 draws, fail 2": the counts, the report's own verdict first.
pub fn counts_text(c: &CheckDraws) -> String {
    let n = c.verdicts.len();
    let mut parts: Vec<(crate::checks::Verdict, usize)> = vec![
        (crate::checks::Verdict::Pass, c.pass),
        (crate::checks::Verdict::Fail, c.fail),
        (crate::checks::Verdict::Inconclusive, c.inconclusive),
    ];
    parts.retain(|(_, k)| *k > 0);
    if let Some(first) = c.verdicts.first() {
        parts.sort_by_key(|(v, _)| v != first);
    }
    let mut out = Vec::new();
    for (i, (v, k)) in parts.iter().enumerate() {
        if i == 0 {
            out.push(format!("{} {k} of {n} draws", v.as_str()));
        } else {
            out.push(format!("{} {k}", v.as_str()));
        }
    }
    out.join(", ")
}

/// One sentence per check whose verdict differs between draws, and one when the draws were
/// skipped: these go into the report's warnings.
pub fn warnings(ds: &DrawStability) -> Vec<String> {
    if let Some(why) = &ds.skipped {
        return vec![format!(
            "the verdicts were not re-checked under other random draws: {why}; they rest on one \
             seeded random subspace (set option draws to 0 to silence this, or analyse a subset \
             of the parameters)"
        )];
    }
    let seeds = ds
        .seeds
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    ds.checks
        .iter()
        .filter(|c| !c.agree)
        .map(|c| {
            format!(
                "{} depends on the random draw ({}; seeds {seeds}): the report gives the verdict \
                 of seed {}, but another random subspace decides differently, so treat it as \
                 unsettled (raise option dims, or provide a Hessian basis)",
                subject(&c.check),
                counts_text(c),
                ds.seeds[0]
            )
        })
        .collect()
}

/// One sentence for the report body: all agree, which ones do not, or skipped.
pub fn summary(ds: &DrawStability) -> String {
    if let Some(why) = &ds.skipped {
        return format!("Not re-checked under other random draws: {why}.");
    }
    let n = ds.seeds.len();
    let unstable: Vec<&str> = ds
        .checks
        .iter()
        .filter(|c| !c.agree)
        .map(|c| c.check.as_str())
        .collect();
    if unstable.is_empty() {
        format!(
            "Every verdict was the same under all {n} random draws (the report's seed and {} more).",
            n - 1
        )
    } else {
        format!(
            "Under {n} random draws (the report's seed and {} more) these verdicts changed: {}.",
            n - 1,
            unstable.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Verdict::*;

    #[test]
    fn disagreement_is_put_in_words() {
        let ds = DrawStability {
            seeds: vec![5, 5001, 5002, 5003, 5004],
            skipped: None,
            checks: vec![
                CheckDraws::new("gaussian_noise", vec![Pass, Fail, Pass, Pass, Inconclusive]),
                CheckDraws::new("small_step", vec![Pass; 5]),
            ],
        };
        let w = warnings(&ds);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with(
                "the verdict of gaussian_noise depends on the random draw (pass 3 of 5 draws, \
                 fail 1, inconclusive 1; seeds 5, 5001"
            ),
            "{}",
            w[0]
        );
        assert!(summary(&ds).contains("changed: gaussian_noise"));
        let c = CheckDraws::new("overall", vec![Inconclusive, Pass, Inconclusive]);
        assert_eq!(counts_text(&c), "inconclusive 2 of 3 draws, pass 1");
    }
}
