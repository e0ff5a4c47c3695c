//! The canonical JSON form of the report.

use super::Report;

/// Pretty-printed JSON with a trailing newline. Field order is fixed by the model, so equal
/// reports serialise to equal bytes.
pub fn to_string(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("the report model always serialises");
    s.push('\n');
    s
}
