//! The parameter map of format v2 (`parameters` in run.json): which tensor each flat index of the
//! parameter vector belongs to, so that index j can be reported as "fc2.weight[17, 3]".
//!
//! The map is a list of `{name, shape, offset}` in flattening order. Tensors are flattened in C
//! (row-major) order and laid end to end: entry i covers the flat indices
//! [offset_i, offset_i + ∏ shape_i), offset_0 = 0, and offset_{i+1} = offset_i + ∏ shape_i, so the
//! entries tile [0, d) exactly. Validation costs O(#tensors); a lookup O(log #tensors + rank).

use serde::Serialize;
use serde_json::Value;

/// One tensor of the flattened parameter vector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ParameterTensor {
    /// The tensor's name, e.g. `fc2.weight`.
    pub name: String,
    /// Its shape; its entries are consecutive coordinates of θ in C order.
    pub shape: Vec<usize>,
    /// First flat index of this tensor.
    pub offset: usize,
}

impl ParameterTensor {
    /// Number of scalars, ∏ shape (1 for a scalar, shape []).
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The validated `parameters` list of run.json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ParameterMap {
    pub tensors: Vec<ParameterTensor>,
}

impl ParameterMap {
    /// Parses and validates the `parameters` value; the error is a message without the path.
    /// Checks: a non-empty list of objects with a unique non-empty `name`, a `shape` of
    /// non-negative integers and an `offset` equal to the running total (the tiling in order).
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let list = value.as_array().filter(|l| !l.is_empty()).ok_or_else(|| {
            format!(
                "field `parameters` must be a non-empty list of {{\"name\", \"shape\", \
                 \"offset\"}} in flattening order, found {}",
                short(value)
            )
        })?;
        let mut tensors: Vec<ParameterTensor> = Vec::with_capacity(list.len());
        let mut next = 0usize;
        for (i, item) in list.iter().enumerate() {
            let t = parse_tensor(i, item)?;
            if let Some(prev) = tensors.iter().find(|p| p.name == t.name) {
                return Err(format!(
                    "`parameters[{i}]` repeats the name \"{}\" (also at offset {}); every tensor \
                     needs its own name",
                    t.name, prev.offset
                ));
            }
            if t.offset != next {
                return Err(format!(
                    "`parameters[{i}]` (\"{}\") has offset {} but the tensors before it end at \
                     {next}; list the tensors in flattening order with offset = sum of the \
                     sizes before it",
                    t.name, t.offset
                ));
            }
            next = next
                .checked_add(t.size())
                .ok_or("`parameters`: sizes overflow")?;
            tensors.push(t);
        }
        Ok(ParameterMap { tensors })
    }

    /// Total number of scalars, the d the map describes.
    pub fn total(&self) -> usize {
        self.tensors
            .last()
            .map(|t| t.offset + t.size())
            .unwrap_or(0)
    }

    /// The tensor holding flat index `j` and j's multi-index in it (C order), or `None` when
    /// j ≥ d. Cost O(log #tensors + rank).
    pub fn locate(&self, j: usize) -> Option<(&ParameterTensor, Vec<usize>)> {
        if j >= self.total() {
            return None;
        }
        // last tensor with offset ≤ j and size > 0
        let pos = self.tensors.partition_point(|t| t.offset <= j);
        let t = self.tensors[..pos].iter().rev().find(|t| t.size() > 0)?;
        let mut rest = j - t.offset;
        let mut index = vec![0; t.shape.len()];
        for (axis, &len) in t.shape.iter().enumerate().rev() {
            index[axis] = rest % len;
            rest /= len;
        }
        Some((t, index))
    }

    /// "fc2.weight[17, 3]" for flat index `j` ("name" alone for a scalar tensor); `None` when
    /// j ≥ d.
    pub fn name_of(&self, j: usize) -> Option<String> {
        let (t, index) = self.locate(j)?;
        if index.is_empty() {
            return Some(t.name.clone());
        }
        let idx: Vec<String> = index.iter().map(|i| i.to_string()).collect();
        Some(format!("{}[{}]", t.name, idx.join(", ")))
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

fn parse_tensor(i: usize, item: &Value) -> Result<ParameterTensor, String> {
    let obj = item.as_object().ok_or_else(|| {
        format!(
            "`parameters[{i}]` must be an object {{\"name\", \"shape\", \"offset\"}}, found {}",
            short(item)
        )
    })?;
    let name = match obj.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        other => {
            return Err(format!(
                "`parameters[{i}].name` must be a non-empty string (the tensor's name, e.g. \
                 \"fc2.weight\"), found {}",
                other.map(short).unwrap_or_else(|| "nothing".into())
            ))
        }
    };
    let shape_err = || {
        format!(
            "`parameters[{i}].shape` (\"{name}\") must be a list of non-negative integers \
             (e.g. [10, 784]; [] for a scalar), found {}",
            obj.get("shape")
                .map(short)
                .unwrap_or_else(|| "nothing".into())
        )
    };
    let shape = obj
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(shape_err)?
        .iter()
        .map(|s| s.as_u64().map(|x| x as usize))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(shape_err)?;
    let offset = obj.get("offset").and_then(Value::as_u64).ok_or_else(|| {
        format!(
            "`parameters[{i}].offset` (\"{name}\") must be a non-negative integer, the flat \
                 index of the tensor's first element, found {}",
            obj.get("offset")
                .map(short)
                .unwrap_or_else(|| "nothing".into())
        )
    })? as usize;
    let t = ParameterTensor {
        name,
        shape,
        offset,
    };
    if let Some(size) = obj.get("size") {
        if size.as_u64() != Some(t.size() as u64) {
            return Err(format!(
                "`parameters[{i}].size` (\"{}\") is {size} but its shape {:?} holds {} values; \
                 drop `size` or correct it",
                t.name,
                t.shape,
                t.size()
            ));
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map() -> ParameterMap {
        ParameterMap::from_value(&json!([
            {"name": "fc1.weight", "shape": [3, 4], "offset": 0},
            {"name": "fc1.bias", "shape": [3], "offset": 12},
            {"name": "empty", "shape": [0, 5], "offset": 15},
            {"name": "scale", "shape": [], "offset": 15},
            {"name": "fc2.weight", "shape": [2, 3, 2], "offset": 16}
        ]))
        .unwrap()
    }

    #[test]
    fn names_follow_c_order() {
        let m = map();
        assert_eq!(m.total(), 28);
        assert_eq!(m.name_of(0).unwrap(), "fc1.weight[0, 0]");
        assert_eq!(m.name_of(7).unwrap(), "fc1.weight[1, 3]");
        assert_eq!(m.name_of(11).unwrap(), "fc1.weight[2, 3]");
        assert_eq!(m.name_of(12).unwrap(), "fc1.bias[0]");
        assert_eq!(m.name_of(15).unwrap(), "scale");
        assert_eq!(m.name_of(16).unwrap(), "fc2.weight[0, 0, 0]");
        // 16 + 1*6 + 2*2 + 1 = 27
        assert_eq!(m.name_of(27).unwrap(), "fc2.weight[1, 2, 1]");
        assert_eq!(m.name_of(28), None);
    }

    #[test]
    fn every_index_is_named_once() {
        let m = map();
        let names: std::collections::BTreeSet<String> =
            (0..m.total()).map(|j| m.name_of(j).unwrap()).collect();
        assert_eq!(names.len(), m.total());
    }

    #[test]
    fn rejections() {
        for (value, needle) in [
            (json!([]), "non-empty list"),
            (json!({"a": 1}), "non-empty list"),
            (json!([3]), "must be an object"),
            (json!([{"shape": [2], "offset": 0}]), "name"),
            (json!([{"name": "a", "shape": [-1], "offset": 0}]), "shape"),
            (json!([{"name": "a", "shape": 4, "offset": 0}]), "shape"),
            (json!([{"name": "a", "shape": [2]}]), "offset"),
            (
                json!([{"name": "a", "shape": [2], "offset": 1}]),
                "offset 1",
            ),
            (
                json!([{"name": "a", "shape": [2], "offset": 0}, {"name": "b", "shape": [2], "offset": 3}]),
                "end at 2",
            ),
            (
                json!([{"name": "a", "shape": [2], "offset": 0}, {"name": "a", "shape": [2], "offset": 2}]),
                "repeats",
            ),
            (
                json!([{"name": "a", "shape": [2, 2], "offset": 0, "size": 5}]),
                "size",
            ),
        ] {
            let err = ParameterMap::from_value(&value).unwrap_err();
            assert!(err.contains(needle), "{value}: {err}");
        }
    }
}
