//! The JSON Schema of the report and the field reference of docs/report.md, both generated from
//! the Rust types (schemars, JSON Schema draft 2020-12): every field's doc comment is its
//! description. A unit test keeps docs/report.schema.json and the generated section of
//! docs/report.md in step with the types (`SGD_OU_SCHEMA_WRITE=1 cargo test --lib schema`
//! rewrites both). Cost: O(size of the schema).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::Report;

/// The report's JSON Schema (`$defs` holds every nested type).
pub fn report_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(Report)).unwrap_or(Value::Null)
}

/// Marker lines around the generated section of docs/report.md.
pub const BEGIN: &str = "<!-- BEGIN FIELD REFERENCE: generated from the Rust types by src/report/schema.rs; do not edit -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- END FIELD REFERENCE -->";

/// The field reference in Markdown: one table per type (the report first, then every nested type
/// in name order), each row a field with its JSON type and description.
pub fn field_reference() -> String {
    let schema = report_schema();
    let mut out = String::new();
    type_section(&mut out, "Report", &schema);
    if let Some(defs) = schema.get("$defs").and_then(Value::as_object) {
        let mut names: Vec<&String> = defs.keys().collect();
        names.sort();
        for name in names {
            type_section(&mut out, name, &defs[name]);
        }
    }
    out
}

/// One type: its description, then a table of its properties, or its variants.
fn type_section(out: &mut String, name: &str, t: &Value) {
    let _ = writeln!(out, "#### `{name}`\n");
    if let Some(d) = t.get("description").and_then(Value::as_str) {
        let _ = writeln!(out, "{}\n", one_line(d));
    }
    if let Some(props) = t.get("properties").and_then(Value::as_object) {
        property_table(out, props, t.get("required"));
    } else if let Some(vs) = t.get("anyOf").or(t.get("oneOf")).and_then(Value::as_array) {
        let _ = writeln!(out, "One of:\n");
        for v in vs {
            let d = v.get("description").and_then(Value::as_str).unwrap_or("");
            let _ = writeln!(out, "- {} {}", type_text(v), one_line(d));
        }
        out.push('\n');
    } else {
        let _ = writeln!(out, "Type: {}\n", type_text(t));
    }
}

fn property_table(out: &mut String, props: &Map<String, Value>, required: Option<&Value>) {
    let req: Vec<&str> = required
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    out.push_str("| field | type | description |\n|---|---|---|\n");
    for (k, v) in props {
        let opt = if req.contains(&k.as_str()) {
            ""
        } else {
            " (optional)"
        };
        let d = v.get("description").and_then(Value::as_str).unwrap_or("");
        let _ = writeln!(
            out,
            "| `{k}`{opt} | {} | {} |",
            type_text(v),
            one_line(d).replace('|', "\\|")
        );
    }
    out.push('\n');
}

/// A short JSON type: `number`, `[number]`, `Interval`, `number | null`, `"pass" | "fail"`, …
fn type_text(v: &Value) -> String {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        return format!("`{}`", r.rsplit('/').next().unwrap_or(r));
    }
    if let Some(e) = v.get("enum").and_then(Value::as_array) {
        return e
            .iter()
            .map(|x| format!("`{x}`"))
            .collect::<Vec<_>>()
            .join(" \\| ");
    }
    if let Some(c) = v.get("const") {
        return format!("`{c}`");
    }
    if let Some(vs) = v.get("anyOf").or(v.get("oneOf")).and_then(Value::as_array) {
        return vs.iter().map(type_text).collect::<Vec<_>>().join(" \\| ");
    }
    let ty = match v.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return "any".into(),
    };
    ty.iter()
        .map(|t| match *t {
            "array" => format!(
                "[{}]",
                v.get("items").map(type_text).unwrap_or("any".into())
            ),
            "object" => match v.get("additionalProperties") {
                Some(a) if a.is_object() => format!("{{string: {}}}", type_text(a)),
                _ => "object".into(),
            },
            "integer" => "integer".into(),
            other => other.into(),
        })
        .collect::<Vec<_>>()
        .join(" \\| ")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// docs/report.md with its generated section replaced by `reference`; None without markers.
pub fn splice(doc: &str, reference: &str) -> Option<String> {
    let a = doc.find(BEGIN)? + BEGIN.len();
    let b = doc.find(END)?;
    (a <= b).then(|| format!("{}\n\n{}{}", &doc[..a], reference, &doc[b..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    /// The committed schema and docs/report.md's field reference are what the types generate.
    #[test]
    fn committed_schema_and_field_reference_match_the_types() {
        let schema = serde_json::to_string_pretty(&report_schema()).unwrap() + "\n";
        let doc_path = root().join("docs/report.md");
        let mut doc = std::fs::read_to_string(&doc_path).unwrap();
        let want_doc = splice(&doc, &field_reference()).expect("docs/report.md has the markers");
        let schema_path = root().join("docs/report.schema.json");
        if std::env::var_os("SGD_OU_SCHEMA_WRITE").is_some() {
            std::fs::write(&schema_path, &schema).unwrap();
            std::fs::write(&doc_path, &want_doc).unwrap();
            doc = want_doc.clone();
        }
        let have = std::fs::read_to_string(&schema_path).unwrap_or_default();
        assert!(
            have == schema,
            "docs/report.schema.json is stale: run SGD_OU_SCHEMA_WRITE=1 cargo test --lib schema"
        );
        assert!(
            doc == want_doc,
            "docs/report.md's field reference is stale: run SGD_OU_SCHEMA_WRITE=1 cargo test --lib schema"
        );
    }

    /// Every field is documented: a property without a description fails here.
    #[test]
    fn every_field_has_a_description() {
        let schema = report_schema();
        let mut missing = Vec::new();
        let mut visit = |name: &str, t: &Value| {
            if let Some(p) = t.get("properties").and_then(Value::as_object) {
                for (k, v) in p {
                    if v.get("description").is_none() {
                        missing.push(format!("{name}.{k}"));
                    }
                }
            }
        };
        visit("Report", &schema);
        for (n, t) in schema["$defs"].as_object().unwrap() {
            visit(n, t);
        }
        assert!(missing.is_empty(), "undocumented fields: {missing:?}");
    }

    #[test]
    fn splice_replaces_only_the_generated_section() {
        let doc = format!("a\n{BEGIN}\nold\n{END}\nb\n");
        assert_eq!(
            splice(&doc, "new\n").unwrap(),
            format!("a\n{BEGIN}\n\nnew\n{END}\nb\n")
        );
        assert!(splice("no markers", "x").is_none());
    }
}
