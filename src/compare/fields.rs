//! Which runs may be compared: the run.json fields that may differ (the swept settings) and the
//! refusal of any other difference.
//!
//! Every run's manifest (as validated by [`crate::run::Manifest`], serialised back) is flattened
//! into dotted paths (`simulation.parameters.noise_scale`); the number of parameters d is added as
//! the field `d`. Two runs are comparable when every path holds the same value in both, except
//! the swept settings ([`SWEPT`]), the fields that are per-run by nature ([`PER_RUN`]) and the
//! fields the user allows to differ (`--allow-different FIELD`, which also covers every path
//! below FIELD). Cost: O(size of the manifests).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::run::Manifest;

/// The swept settings: learning rate, batch size and sampling design (with the reshuffling
/// fields of format v2). Also their copies in a simulated run's `simulation.parameters`.
pub const SWEPT: [&str; 9] = [
    "learning_rate",
    "batch_size",
    "sampling",
    "reshuffling",
    "steps_per_epoch",
    "first_epoch_step",
    "drop_last",
    "simulation.parameters.learning_rate",
    "simulation.parameters.batch_size",
];

/// Fields that differ between runs of one grid by nature: the seed, free-text notes, and a
/// simulated run's truth (which depends on ε and S).
pub const PER_RUN: [&str; 3] = ["seed", "notes", "simulation.truth"];

/// The flattened fields of one run: dotted path → value (objects are descended, arrays and
/// scalars are leaves).
pub fn flatten(manifest: &Manifest, d: usize) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let value = serde_json::to_value(manifest).unwrap_or(Value::Null);
    walk("", &value, &mut out);
    out.insert("d".into(), Value::from(d));
    out
}

fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&path, x, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

/// Whether `path` is `field` or lies below it.
fn covers(field: &str, path: &str) -> bool {
    path == field
        || path
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Whether `path` may differ between compared runs.
pub fn may_differ(path: &str, allowed: &[String]) -> bool {
    SWEPT.iter().chain(PER_RUN.iter()).any(|f| covers(f, path))
        || allowed.iter().any(|f| covers(f, path))
}

/// Refuses the first field (in path order) that differs between the first run and another,
/// naming the field, both values and both files, and the option that overrides it.
pub fn check_comparable(
    runs: &[(&Path, BTreeMap<String, Value>)],
    allowed: &[String],
) -> Result<()> {
    let Some((first_dir, first)) = runs.first() else {
        return Ok(());
    };
    for (dir, fields) in &runs[1..] {
        let paths: std::collections::BTreeSet<&String> =
            first.keys().chain(fields.keys()).collect();
        for path in paths {
            if may_differ(path, allowed) {
                continue;
            }
            let (a, b) = (first.get(path), fields.get(path));
            if a != b {
                let show =
                    |v: Option<&Value>| v.map_or_else(|| "absent".to_string(), Value::to_string);
                return Err(Error::input(
                    dir.join("run.json"),
                    format!(
                        "field `{path}` is {} here but {} in {}; compare sweeps only the learning \
                         rate, the batch size and the sampling design, so runs that differ in \
                         anything else are refused (pass --allow-different {path} to compare them \
                         anyway)",
                        show(b),
                        show(a),
                        first_dir.join("run.json").display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_of_paths() {
        assert!(covers("simulation", "simulation.parameters.d"));
        assert!(!covers("simulation.par", "simulation.parameters.d"));
        assert!(may_differ("simulation.truth.theta_star", &[]));
        assert!(may_differ("learning_rate", &[]));
        assert!(!may_differ("model", &[]));
        assert!(may_differ("model", &["model".to_string()]));
    }
}
