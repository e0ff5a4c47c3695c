//! Every verdict and every reported number of the bundled example and of the nine `simulate`
//! scenarios (default seed 1), pinned before the typed-checks refactor (issue 12) and compared
//! after it at 1e-12 relative. Provenance (tool, run directory, input digests) is excluded.
//!
//! The fixture `tests/fixtures/pinned/values.json` maps a scenario to `{flattened path → value}`
//! in the *old* (schema 1) paths; [`new_path`] maps an old path to where the value lives now.
//! Regenerate it (only on purpose, with the reason in the commit) with
//! `SGD_OU_PIN_WRITE=1 cargo test --test pinned`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use sgd_ou::simulate::{simulate, Scenario, SimConfig};

const FIXTURE: &str = "tests/fixtures/pinned/values.json";

/// Provenance: differs between machines or checkouts, not part of the analysis.
fn is_provenance(path: &str) -> bool {
    path.starts_with("tool")
        || path == "run.dir"
        || path.starts_with("run.inputs")
        || path.starts_with("run.manifest")
}

/// Flattens `v` into `path → value`, keeping numbers, booleans, nulls and the verdicts.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, x, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}.{i}"), x, out);
            }
        }
        Value::String(_) if prefix.ends_with("verdict") || prefix.ends_with("method") => {
            out.insert(prefix.to_string(), v.clone());
        }
        Value::String(_) => {}
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

/// Where a schema-1 path lives in the schema-2 report: a key metric's `ci: [lo, hi]` and
/// `ci_level` became `ci: {lo, hi, level, method}` (`ci: null` when there is no interval).
fn new_path(old: &str, pinned: &Value) -> String {
    if !old.contains(".key_metrics.") {
        return old.to_string();
    }
    if let Some(base) = old.strip_suffix(".ci.0") {
        return format!("{base}.ci.lo");
    }
    if let Some(base) = old.strip_suffix(".ci.1") {
        return format!("{base}.ci.hi");
    }
    if let Some(base) = old.strip_suffix(".ci_level") {
        return if pinned.is_null() {
            format!("{base}.ci")
        } else {
            format!("{base}.ci.level")
        };
    }
    old.to_string()
}

/// Values changed on purpose, with the reason.
fn changed_on_purpose(path: &str) -> bool {
    // Schema 2 (issue 12): typed checks; key-metric intervals record their method (was
    // "unrecorded").
    path == "schema_version" || path.ends_with(".ci.method")
}

fn values_of(run: &Path) -> BTreeMap<String, Value> {
    let report = sgd_ou::verify(run, &sgd_ou::Options::default()).unwrap();
    let v = serde_json::to_value(&report).unwrap();
    let mut out = BTreeMap::new();
    flatten("", &v, &mut out);
    out.retain(|k, _| !is_provenance(k));
    out
}

fn current() -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut all = BTreeMap::new();
    all.insert(
        "example".to_string(),
        values_of(Path::new("examples/quadratic-gaussian")),
    );
    let tmp = common::tempdir();
    for &s in Scenario::all() {
        let run = tmp.path().join(s.name());
        simulate(s, &SimConfig::default_for(s), 1, &run).unwrap();
        all.insert(s.name().to_string(), values_of(&run));
    }
    all
}

fn close(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => approx::relative_eq!(x, y, epsilon = 0.0, max_relative = 1e-12),
        _ => a == b,
    }
}

#[test]
fn every_verdict_and_value_is_as_pinned() {
    let now = current();
    if std::env::var_os("SGD_OU_PIN_WRITE").is_some() {
        let text = serde_json::to_string_pretty(&now).unwrap();
        std::fs::write(FIXTURE, text + "\n").unwrap();
        eprintln!("wrote {FIXTURE}");
        return;
    }
    let text = std::fs::read_to_string(FIXTURE).expect("the pinned fixture exists");
    let pinned: BTreeMap<String, BTreeMap<String, Value>> = serde_json::from_str(&text).unwrap();
    let mut bad = Vec::new();
    for (name, old) in &pinned {
        let got = &now[name];
        for (path, want) in old {
            if changed_on_purpose(path) {
                continue;
            }
            let np = new_path(path, want);
            match got.get(&np) {
                Some(v) if close(v, want) => {}
                other => bad.push(format!(
                    "{name}: {path} (now {np}): pinned {want}, got {other:?}"
                )),
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
