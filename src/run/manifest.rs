//! `run.json`: the manifest of a run directory (format v1).
//!
//! Parsed by hand from a `serde_json::Value` so that every problem gets a message that names the
//! field, what was found and what is expected. Unknown keys are metadata: kept and echoed.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use super::gate::clip as gate_clip;
use crate::error::{Error, Result};

/// How the minibatch loss was formed from the per-example losses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossReduction {
    /// ĝ = (1/S) Σ_{i∈batch} ∇l_i (PyTorch's default `reduction="mean"`).
    Mean,
    /// ĝ = Σ_{i∈batch} ∇l_i, i.e. a mean-reduced update with learning rate ε·S.
    Sum,
}

/// What the rows of `grads.npy` are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GradientKind {
    /// One row per training example: ∇l_i(θ).
    PerExample,
    /// One row per minibatch: the minibatch gradient at batch size S (formed as `loss_reduction`).
    Minibatch,
}

/// How the minibatch indices were drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// S distinct examples per step (the usual case, including epoch-wise shuffling).
    WithoutReplacement,
    /// S independent uniform draws per step.
    WithReplacement,
}

/// A validated `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub format_version: u64,
    pub learning_rate: f64,
    pub batch_size: u64,
    pub dataset_size: u64,
    pub loss_reduction: LossReduction,
    pub gradients: GradientKind,
    pub sampling: Sampling,
    /// Every other key of run.json (model, dataset, seed, framework, notes, …), in file order.
    #[serde(flatten)]
    pub metadata: Map<String, Value>,
}

const KNOWN: [&str; 7] = [
    "format_version",
    "learning_rate",
    "batch_size",
    "dataset_size",
    "loss_reduction",
    "gradients",
    "sampling",
];

impl Manifest {
    /// Reads and validates `path` (a run.json).
    pub fn read(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::input(
                path,
                "cannot read the manifest (it does not exist); every run directory needs a \
                 run.json (see docs/run-dir-format.md)",
            ));
        }
        let (_, bytes) =
            super::gate::read_capped(path, super::gate::RUN_JSON_MAX_BYTES, "run.json")?;
        if bytes.starts_with(b"\xef\xbb\xbf") {
            return Err(Error::input(
                path,
                "starts with a UTF-8 byte-order mark (BOM), which JSON does not allow; save \
                 run.json as UTF-8 without BOM (Python: json.dump to open(path, 'w', \
                 encoding='utf-8'))",
            ));
        }
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            Error::input(
                path,
                format!(
                    "is not UTF-8 text (invalid byte at offset {}); save run.json as UTF-8 JSON",
                    e.valid_up_to()
                ),
            )
        })?;
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Error::input(
                path,
                gate_clip(&format!(
                    "is not valid JSON ({e}); fix the syntax of run.json"
                )),
            )
        })?;
        Self::from_value(&value).map_err(|msg| Error::input(path, gate_clip(&msg)))
    }

    /// Validates a parsed manifest; the error is a message without the path.
    pub fn from_value(value: &Value) -> std::result::Result<Self, String> {
        let obj = value
            .as_object()
            .ok_or("must be a JSON object with the fields of docs/run-dir-format.md")?;
        let format_version = req_uint(obj, "format_version", "the format version, 1")?;
        if format_version != 1 {
            return Err(format!(
                "format_version {format_version} is not supported; this sgd-ou reads format 1"
            ));
        }
        let learning_rate = match obj.get("learning_rate") {
            None => return Err(missing("learning_rate", "the SGD step size ε > 0")),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| format!("field `learning_rate` must be a number, found {v}"))?,
        };
        if !(learning_rate.is_finite() && learning_rate > 0.0) {
            return Err(format!(
                "field `learning_rate` must be a finite number > 0, found {learning_rate}"
            ));
        }
        let batch_size = req_uint(obj, "batch_size", "the minibatch size S ≥ 1")?;
        if batch_size < 1 {
            return Err("field `batch_size` must be at least 1, found 0".into());
        }
        let dataset_size = req_uint(obj, "dataset_size", "the number of training examples N ≥ S")?;
        if dataset_size < batch_size {
            return Err(format!(
                "dataset_size N = {dataset_size} is smaller than batch_size S = {batch_size}; \
                 a minibatch cannot be larger than the data set"
            ));
        }
        let loss_reduction = match opt_str(obj, "loss_reduction")? {
            None | Some("mean") => LossReduction::Mean,
            Some("sum") => LossReduction::Sum,
            Some(other) => {
                return Err(format!(
                    "field `loss_reduction` must be \"mean\" or \"sum\", found \"{other}\""
                ))
            }
        };
        let gradients = match opt_str(obj, "gradients")? {
            None | Some("per_example") => GradientKind::PerExample,
            Some("minibatch") => GradientKind::Minibatch,
            Some(other) => {
                return Err(format!(
                    "field `gradients` must be \"per_example\" or \"minibatch\", found \"{other}\""
                ))
            }
        };
        let sampling = match opt_str(obj, "sampling")? {
            None | Some("without_replacement") => Sampling::WithoutReplacement,
            Some("with_replacement") => Sampling::WithReplacement,
            Some(other) => {
                return Err(format!(
                    "field `sampling` must be \"without_replacement\" or \"with_replacement\", \
                     found \"{other}\""
                ))
            }
        };
        let metadata = obj
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Manifest {
            format_version,
            learning_rate,
            batch_size,
            dataset_size,
            loss_reduction,
            gradients,
            sampling,
            metadata,
        })
    }

    /// Learning rate in "mean-gradient units": the update is θ ← θ − ε_eff · (mean of the S
    /// per-example gradients). ε_eff = ε for `mean` reduction and ε·S for `sum`.
    pub fn effective_learning_rate(&self) -> f64 {
        match self.loss_reduction {
            LossReduction::Mean => self.learning_rate,
            LossReduction::Sum => self.learning_rate * self.batch_size as f64,
        }
    }

    /// Factor f with Cov(mean of S per-example gradients) = f · C, where C is the per-example
    /// gradient covariance over the data set (divisor N − 1 for the finite-population form):
    /// 1/S with replacement, (N − S)/(S (N − 1)) without (finite-population correction).
    pub fn minibatch_cov_factor(&self) -> f64 {
        let s = self.batch_size as f64;
        let n = self.dataset_size as f64;
        match self.sampling {
            Sampling::WithReplacement => 1.0 / s,
            Sampling::WithoutReplacement => {
                if self.dataset_size <= 1 {
                    1.0 / s
                } else {
                    (n - s) / (s * (n - 1.0))
                }
            }
        }
    }
}

fn missing(field: &str, what: &str) -> String {
    format!("required field `{field}` is missing ({what}); add it to run.json")
}

fn req_uint(obj: &Map<String, Value>, field: &str, what: &str) -> std::result::Result<u64, String> {
    match obj.get(field) {
        None => Err(missing(field, what)),
        Some(v) => v.as_u64().ok_or_else(|| {
            format!("field `{field}` must be a non-negative integer ({what}), found {v}")
        }),
    }
}

fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    field: &str,
) -> std::result::Result<Option<&'a str>, String> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(v) => Err(format!("field `{field}` must be a string, found {v}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"format_version": 1, "learning_rate": 0.01, "batch_size": 32, "dataset_size": 1000})
    }

    #[test]
    fn defaults_and_metadata() {
        let mut v = base();
        v["model"] = json!("mlp");
        let m = Manifest::from_value(&v).unwrap();
        assert_eq!(m.loss_reduction, LossReduction::Mean);
        assert_eq!(m.gradients, GradientKind::PerExample);
        assert_eq!(m.sampling, Sampling::WithoutReplacement);
        assert_eq!(m.metadata["model"], json!("mlp"));
        assert!((m.minibatch_cov_factor() - 968.0 / (32.0 * 999.0)).abs() < 1e-15);
    }

    #[test]
    fn sum_reduction_scales_the_step() {
        let mut v = base();
        v["loss_reduction"] = json!("sum");
        let m = Manifest::from_value(&v).unwrap();
        assert!((m.effective_learning_rate() - 0.32).abs() < 1e-15);
    }

    #[test]
    fn rejections_name_the_field() {
        for (field, value, needle) in [
            ("format_version", json!(2), "format_version 2"),
            ("learning_rate", json!(0.0), "learning_rate"),
            ("learning_rate", json!("x"), "learning_rate"),
            ("batch_size", json!(0), "batch_size"),
            ("batch_size", json!(5000), "smaller than batch_size"),
            ("loss_reduction", json!("avg"), "loss_reduction"),
            ("gradients", json!("all"), "gradients"),
            ("sampling", json!(3), "sampling"),
        ] {
            let mut v = base();
            v[field] = value;
            let err = Manifest::from_value(&v).unwrap_err();
            assert!(err.contains(needle), "{field}: {err}");
        }
        let mut v = base();
        v.as_object_mut().unwrap().remove("dataset_size");
        assert!(Manifest::from_value(&v)
            .unwrap_err()
            .contains("dataset_size"));
    }
}
