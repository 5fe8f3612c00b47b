//! Block YAML from a `serde_json::Value`, to write the ground truth where a hunt of the demo
//! folder does not read it (see [`crate::GROUND_TRUTH_FILE`]).
//!
//! A few lines of our own rather than a YAML library, so that this crate keeps depending on
//! nothing a detector uses. Every scalar is written as its JSON text: JSON numbers, `true`,
//! `false` and `null` mean the same in YAML 1.2, and a JSON string is a valid YAML
//! double-quoted scalar, so no string can be misread as a number, a date or a key.

use serde_json::{Map, Value};

/// `value` as a block YAML document (mappings as `key: value` lines in key order, lists as
/// `- item` lines, each level indented by two spaces more).
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_list(&mut out, items, 0),
        scalar => push_line(&mut out, 0, &inline(scalar)),
    }
    out
}

/// A scalar or an empty collection, as it fits on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        scalar => scalar.to_string(),
    }
}

/// Whether `value` is written as an indented block under its key or dash.
fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// Writes the entries in key order: `serde_json` keeps insertion order only when another
/// crate of the build turns on its `preserve_order` feature, and the same scenario must
/// give the same bytes whatever it is built with.
fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize) {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by_key(|(key, _)| *key);
    for (key, value) in entries {
        let key = plain_key(key);
        if is_block(value) {
            push_line(out, indent, &format!("{key}:"));
            write_block(out, value, indent + 2);
        } else {
            push_line(out, indent, &format!("{key}: {}", inline(value)));
        }
    }
}

fn write_list(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        if !is_block(item) {
            push_line(out, indent, &format!("- {}", inline(item)));
            continue;
        }
        // The item's block, indented past the dash; its first line then takes the dash.
        let mut block = String::new();
        write_block(&mut block, item, indent + 2);
        out.push_str(&" ".repeat(indent));
        out.push_str("- ");
        out.push_str(&block[indent + 2..]);
    }
}

fn write_block(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) => write_map(out, map, indent),
        Value::Array(items) => write_list(out, items, indent),
        scalar => push_line(out, indent, &inline(scalar)),
    }
}

/// A key as written: plain when it is a simple name (as every field name of the ground
/// truth is), double-quoted otherwise.
fn plain_key(key: &str) -> String {
    let simple = key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if simple {
        key.to_owned()
    } else {
        Value::from(key).to_string()
    }
}

fn push_line(out: &mut String, indent: usize, text: &str) {
    out.push_str(&" ".repeat(indent));
    out.push_str(text);
    out.push('\n');
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use tocsin_yaml::{Scalar, YamlData};

    /// The YAML text read back with the YAML reader the rest of tocsin uses.
    pub(crate) fn read_back(text: &str) -> Value {
        let docs = tocsin_yaml::load(text, 16).expect("valid YAML");
        assert_eq!(docs.len(), 1, "{text}");
        to_json(&docs[0])
    }

    fn to_json(node: &tocsin_yaml::Node<'_>) -> Value {
        match &node.data {
            YamlData::Mapping(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (tocsin_yaml::as_str(k).unwrap().to_owned(), to_json(v)))
                    .collect(),
            ),
            YamlData::Sequence(items) => items.iter().map(to_json).collect(),
            YamlData::Value(Scalar::String(s)) => Value::from(s.as_ref()),
            YamlData::Value(Scalar::Integer(i)) => Value::from(*i),
            YamlData::Value(Scalar::FloatingPoint(f)) => Value::from(f.into_inner()),
            YamlData::Value(Scalar::Boolean(b)) => Value::from(*b),
            YamlData::Value(Scalar::Null) => Value::Null,
            other => panic!("unexpected node {other:?}"),
        }
    }

    #[test]
    fn reads_back_as_the_same_value() {
        let value = json!({
            "seed": 7,
            "ratio": 0.25,
            "site": "support.contoso.example",
            "tricky": ["true", "123", "a: b", "# not a comment", "- dash", "", "line\nbreak \"quoted\" ünï"],
            "nothing": null,
            "yes": true,
            "empty_list": [],
            "empty_map": {},
            "Odd Key": 1,
            "steps": [
                {"time": "2024-11-29T12:40:55Z", "host": null, "tags": ["a", "b"]},
                {"time": "2024-11-29T12:41:00Z", "host": "WS01", "tags": []}
            ],
            "nested": [[1, 2], [[3]], {"deep": {"deeper": [true]}}]
        });
        let text = to_yaml(&value);
        assert_eq!(read_back(&text), value, "{text}");
    }

    #[test]
    fn block_layout() {
        let text = to_yaml(&json!({"l": [{"z": [2], "x": "y"}], "a": 1}));
        assert_eq!(text, "a: 1\nl:\n  - x: \"y\"\n    z:\n      - 2\n");
    }
}
