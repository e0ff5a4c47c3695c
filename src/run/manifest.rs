//! `run.json`: the manifest of a run directory (format v1 or v2).
//!
//! Parsed by hand from a `serde_json::Value` so that every problem gets a message that names the
//! field, what was found and what is expected. Unknown keys are metadata: kept and echoed.
//! Format v2 adds `parameters` (the parameter map), `sampling: "reshuffled"` with its epoch
//! fields, `trajectory.every` and `basis.at_step`; in a v1 manifest these keys stay metadata.

use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use super::gate::clip as gate_clip;
use crate::error::{Error, Result};
use crate::run::parameters::ParameterMap;

/// How the minibatch loss was formed from the per-example losses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LossReduction {
    /// ĝ = (1/S) Σ_{i∈batch} ∇l_i (PyTorch's default `reduction="mean"`).
    Mean,
    /// ĝ = Σ_{i∈batch} ∇l_i, i.e. a mean-reduced update with learning rate ε·S.
    Sum,
}

/// What the rows of `grads.npy` are.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GradientKind {
    /// One row per training example: ∇l_i(θ).
    PerExample,
    /// One row per minibatch: the minibatch gradient at batch size S (formed as `loss_reduction`).
    Minibatch,
}

/// How the minibatch indices were drawn.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// S distinct examples per step (the usual case, including epoch-wise shuffling).
    WithoutReplacement,
    /// S independent uniform draws per step.
    WithReplacement,
}

/// Epoch-wise random reshuffling (format v2, `sampling: "reshuffled"`): every epoch visits a
/// fresh random permutation of the N examples in consecutive batches of S, so each step draws
/// without replacement and the steps of one epoch share the permutation.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Reshuffling {
    /// Steps per epoch: ⌊N/S⌋ with `drop_last`, ⌈N/S⌉ without.
    pub steps_per_epoch: u64,
    /// A step at which an epoch began; epochs begin at first_epoch_step + j·steps_per_epoch.
    pub first_epoch_step: u64,
    /// Whether the last partial batch of an epoch (N mod S examples) is dropped.
    pub drop_last: bool,
}

impl Reshuffling {
    /// Position of `step` within its epoch, in 0..steps_per_epoch.
    pub fn step_in_epoch(&self, step: u64) -> u64 {
        let p = self.steps_per_epoch as i128;
        (step as i128 - self.first_epoch_step as i128).rem_euclid(p) as u64
    }
}

/// `trajectory` in a v2 run.json: how densely the trajectory was recorded.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct TrajectoryInfo {
    /// The trajectory holds every `every`-th step (1 = every step).
    pub every: u64,
}

/// `basis` in a v2 run.json: where the run-level Hessian basis (basis/) was computed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct BasisInfo {
    /// The step whose iterate (or the last step of the window whose mean iterate) gave the basis.
    pub at_step: u64,
}

/// A validated `run.json`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Manifest {
    /// run.json format: 1 or 2 (docs/run-dir-format.md).
    pub format_version: u64,
    /// The learning rate ε as the optimiser used it.
    pub learning_rate: f64,
    /// Batch size S.
    pub batch_size: u64,
    /// Training-set size N.
    pub dataset_size: u64,
    /// Whether the minibatch loss is the mean or the sum over the batch.
    pub loss_reduction: LossReduction,
    /// What the gradient files hold: per-example or minibatch gradients.
    pub gradients: GradientKind,
    /// The per-step draw (a reshuffled run draws without replacement at every step).
    pub sampling: Sampling,
    /// v2: epoch-wise reshuffling (`sampling: "reshuffled"`), with its epoch fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reshuffling: Option<Reshuffling>,
    /// v2: the parameter map (flat index → tensor name and index).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ParameterMap>,
    /// v2: the recording density of trajectory/.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trajectory: Option<TrajectoryInfo>,
    /// v2: where the basis/ eigenvectors were computed (present iff basis/ is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<BasisInfo>,
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

/// Keys that format v2 defines on top of [`KNOWN`] (metadata in a v1 manifest).
const KNOWN_V2: [&str; 6] = [
    "parameters",
    "trajectory",
    "basis",
    "steps_per_epoch",
    "first_epoch_step",
    "drop_last",
];

/// The newest format version this reader understands.
pub const FORMAT_VERSION: u64 = 2;

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
        let format_version = req_uint(obj, "format_version", "the format version, 1 or 2")?;
        if !(1..=FORMAT_VERSION).contains(&format_version) {
            return Err(format!(
                "format_version {format_version} is not supported; this sgd-ou reads formats 1 \
                 and 2"
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
        let v2 = format_version >= 2;
        let (sampling, reshuffling) = match opt_str(obj, "sampling")? {
            None | Some("without_replacement") => (Sampling::WithoutReplacement, None),
            Some("with_replacement") => (Sampling::WithReplacement, None),
            Some("reshuffled") if v2 => (
                Sampling::WithoutReplacement,
                Some(reshuffling(obj, batch_size, dataset_size)?),
            ),
            Some("reshuffled") => {
                return Err(
                    "field `sampling` \"reshuffled\" needs format_version 2; set \
                            \"format_version\": 2 (see docs/run-dir-format.md)"
                        .into(),
                )
            }
            Some(other) => {
                return Err(format!(
                    "field `sampling` must be \"without_replacement\", \"with_replacement\" or \
                     (format 2) \"reshuffled\", found \"{other}\""
                ))
            }
        };
        let mut m = Manifest {
            format_version,
            learning_rate,
            batch_size,
            dataset_size,
            loss_reduction,
            gradients,
            sampling,
            reshuffling,
            parameters: None,
            trajectory: None,
            basis: None,
            metadata: Map::new(),
        };
        if v2 {
            m.read_v2_fields(obj)?;
        }
        m.metadata = obj
            .iter()
            .filter(|(k, _)| !(KNOWN.contains(&k.as_str()) || v2 && KNOWN_V2.contains(&k.as_str())))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(m)
    }

    /// Parses the v2 keys `parameters`, `trajectory` and `basis`; the epoch fields are refused
    /// unless `sampling` is `"reshuffled"`.
    fn read_v2_fields(&mut self, obj: &Map<String, Value>) -> std::result::Result<(), String> {
        if self.reshuffling.is_none() {
            if let Some(k) = ["steps_per_epoch", "first_epoch_step", "drop_last"]
                .into_iter()
                .find(|k| obj.contains_key(*k))
            {
                return Err(format!(
                    "field `{k}` describes epochs of reshuffled sampling but `sampling` is not \
                     \"reshuffled\"; set \"sampling\": \"reshuffled\" or remove `{k}`"
                ));
            }
        }
        self.parameters = match obj.get("parameters") {
            None | Some(Value::Null) => None,
            Some(v) => Some(ParameterMap::from_value(v)?),
        };
        self.trajectory = match obj.get("trajectory") {
            None | Some(Value::Null) => None,
            Some(v) => Some(TrajectoryInfo {
                every: sub_uint(v, "trajectory", "every", "record every k-th step, k ≥ 1")?,
            }),
        };
        if self.trajectory.is_some_and(|t| t.every == 0) {
            return Err("field `trajectory.every` must be at least 1 (1 = every step)".into());
        }
        self.basis = match obj.get("basis") {
            None | Some(Value::Null) => None,
            Some(v) => Some(BasisInfo {
                at_step: sub_uint(v, "basis", "at_step", "the step where basis/ was computed")?,
            }),
        };
        Ok(())
    }

    /// Checks the manifest against the data of the run directory (`run_json` names the file in
    /// errors): the parameter map tiles [0, d), and the trajectory steps advance by
    /// `trajectory.every` (which needs a trajectory/).
    pub fn check_data(&self, run_json: &Path, d: usize, traj_steps: Option<&[i64]>) -> Result<()> {
        if let Some(p) = &self.parameters {
            if p.total() != d {
                return Err(Error::input(
                    run_json,
                    format!(
                        "`parameters` cover {} values but the parameter vector has d = {d}; list \
                         every tensor of the flattened vector (offsets and shapes must tile \
                         [0, {d}))",
                        p.total()
                    ),
                ));
            }
        }
        let Some(info) = self.trajectory else {
            return Ok(());
        };
        let steps = traj_steps.ok_or_else(|| {
            Error::input(
                run_json,
                "`trajectory.every` is set but the run has no trajectory/ folder; write the \
                 trajectory or remove `trajectory` from run.json",
            )
        })?;
        let every = info.every as i64;
        if let Some(w) = steps.windows(2).find(|w| w[1] - w[0] != every) {
            return Err(Error::input(
                run_json,
                format!(
                    "`trajectory.every` is {every} but trajectory/steps.npy goes from step {} to \
                     {}; record every {every}-th step without gaps or correct `every`",
                    w[0], w[1]
                ),
            ));
        }
        Ok(())
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

/// The reshuffling fields: `steps_per_epoch` (must equal ⌊N/S⌋ or ⌈N/S⌉ as `drop_last` says),
/// `first_epoch_step` and `drop_last`, all required.
fn reshuffling(
    obj: &Map<String, Value>,
    s: u64,
    n: u64,
) -> std::result::Result<Reshuffling, String> {
    let drop_last = match obj.get("drop_last") {
        Some(Value::Bool(b)) => *b,
        None => {
            return Err(missing(
                "drop_last",
                "true if the last partial batch is dropped",
            ))
        }
        Some(v) => {
            return Err(format!(
                "field `drop_last` must be true or false, found {v}"
            ))
        }
    };
    let steps_per_epoch = req_uint(obj, "steps_per_epoch", "optimizer steps per epoch")?;
    let first_epoch_step = req_uint(obj, "first_epoch_step", "a step at which an epoch began")?;
    let want = if drop_last { n / s } else { n.div_ceil(s) };
    if steps_per_epoch != want {
        return Err(format!(
            "field `steps_per_epoch` is {steps_per_epoch} but N = {n} examples in batches of \
             S = {s} with drop_last = {drop_last} make {want} steps per epoch; correct \
             steps_per_epoch, drop_last or dataset_size (len(DataLoader) gives the steps)"
        ));
    }
    Ok(Reshuffling {
        steps_per_epoch,
        first_epoch_step,
        drop_last,
    })
}

/// A non-negative integer `obj[parent][field]`.
fn sub_uint(
    parent: &Value,
    pname: &str,
    field: &str,
    what: &str,
) -> std::result::Result<u64, String> {
    let v = parent.as_object().ok_or_else(|| {
        format!("field `{pname}` must be an object {{\"{field}\": …}}, found {parent}")
    })?;
    match v.get(field) {
        None => Err(format!(
            "field `{pname}.{field}` is missing ({what}); add it to run.json"
        )),
        Some(x) => x.as_u64().ok_or_else(|| {
            format!("field `{pname}.{field}` must be a non-negative integer ({what}), found {x}")
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
            ("format_version", json!(3), "format_version 3"),
            ("sampling", json!("reshuffled"), "needs format_version 2"),
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

    fn v2() -> Value {
        json!({"format_version": 2, "learning_rate": 0.01, "batch_size": 32, "dataset_size": 1000,
               "sampling": "reshuffled", "steps_per_epoch": 32, "first_epoch_step": 5,
               "drop_last": false,
               "parameters": [{"name": "w", "shape": [2, 3], "offset": 0},
                              {"name": "b", "shape": [2], "offset": 6}],
               "trajectory": {"every": 2}, "basis": {"at_step": 100}, "model": "m"})
    }

    #[test]
    fn v2_fields_are_parsed_and_not_metadata() {
        let m = Manifest::from_value(&v2()).unwrap();
        assert_eq!(m.sampling, Sampling::WithoutReplacement);
        let r = m.reshuffling.unwrap();
        assert_eq!(
            (r.steps_per_epoch, r.first_epoch_step, r.drop_last),
            (32, 5, false)
        );
        assert_eq!(r.step_in_epoch(5), 0);
        assert_eq!(r.step_in_epoch(4), 31);
        assert_eq!(r.step_in_epoch(37), 0);
        assert_eq!(m.parameters.as_ref().unwrap().total(), 8);
        assert_eq!(m.trajectory.unwrap().every, 2);
        assert_eq!(m.basis.unwrap().at_step, 100);
        assert_eq!(m.metadata.keys().collect::<Vec<_>>(), ["model"]);
        let p = Path::new("run.json");
        assert!(m.check_data(p, 8, Some(&[0, 2, 4])).is_ok());
        let e = m.check_data(p, 9, Some(&[0, 2])).unwrap_err().to_string();
        assert!(e.contains("cover 8 values") && e.contains("d = 9"), "{e}");
        let e = m
            .check_data(p, 8, Some(&[0, 2, 5]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("from step 2 to 5"), "{e}");
        let e = m.check_data(p, 8, None).unwrap_err().to_string();
        assert!(e.contains("no trajectory/"), "{e}");
    }

    #[test]
    fn v1_keeps_v2_keys_as_metadata() {
        let mut v = v2();
        v["format_version"] = json!(1);
        v["sampling"] = json!("without_replacement");
        let m = Manifest::from_value(&v).unwrap();
        assert!(m.parameters.is_none() && m.reshuffling.is_none() && m.basis.is_none());
        assert!(m.metadata.contains_key("parameters") && m.metadata.contains_key("drop_last"));
    }

    #[test]
    fn v2_rejections_name_the_field() {
        for (field, value, needle) in [
            ("steps_per_epoch", json!(31), "make 32 steps per epoch"),
            ("drop_last", json!("no"), "drop_last"),
            ("first_epoch_step", json!(-1), "first_epoch_step"),
            ("trajectory", json!({"every": 0}), "at least 1"),
            ("trajectory", json!(3), "`trajectory` must be an object"),
            ("basis", json!({}), "basis.at_step"),
            ("parameters", json!([]), "parameters"),
        ] {
            let mut v = v2();
            v[field] = value;
            let err = Manifest::from_value(&v).unwrap_err();
            assert!(err.contains(needle), "{field}: {err}");
        }
        let mut v = v2();
        v["drop_last"] = json!(true);
        assert!(Manifest::from_value(&v).unwrap_err().contains("make 31"));
        v["sampling"] = json!("with_replacement");
        assert!(Manifest::from_value(&v)
            .unwrap_err()
            .contains("is not \"reshuffled\""));
        let mut v = v2();
        v.as_object_mut().unwrap().remove("steps_per_epoch");
        assert!(Manifest::from_value(&v)
            .unwrap_err()
            .contains("steps_per_epoch"));
    }
}
