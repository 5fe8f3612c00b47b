//! Small, panic-free accessors over `tocsin-yaml`'s nodes.
//!
//! Every lookup returns an `Option` or a located [`DocError`], so that no input can make the
//! parser panic. The generic accessors come from `tocsin-yaml`; what is here knows Sigma's
//! errors.

use std::borrow::Cow;
use tocsin_yaml::{Scalar, YamlData};

use crate::error::{DocError, ErrorKind};

pub(crate) use tocsin_yaml::{
    as_str, is_null, kind_name, line, mapping, scalar, scalar_text, sequence, Node,
};

/// The deepest nesting a Sigma document may have. Real documents stay below 8; the limit
/// keeps our recursive walks (JSON conversion, dropping the tree) far from the stack limit.
/// Checked before the tree is built (see [`tocsin_yaml::load`]).
pub(crate) const MAX_DEPTH: usize = 64;

/// A [`ErrorKind::WrongType`] error for `node`.
pub(crate) fn wrong_type(node: &Node<'_>, context: &str, expected: &'static str) -> DocError {
    DocError::new(
        line(node),
        context,
        ErrorKind::WrongType {
            expected: Cow::Borrowed(expected),
            found: Cow::Borrowed(kind_name(node)),
        },
    )
}

/// The text of a mapping key, `None` for non-string keys.
pub(crate) fn key_text(key: &Node<'_>) -> Option<String> {
    scalar_text(key)
}

/// Converts a node to JSON (for custom attributes). Mapping keys become their text; a
/// non-scalar key becomes its JSON text. Non-finite floats become `null`. The conversion
/// recurses, within [`MAX_DEPTH`] levels.
pub(crate) fn to_json(node: &Node<'_>) -> serde_json::Value {
    use serde_json::Value;
    match &node.data {
        YamlData::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = key_text(k).unwrap_or_else(|| to_json(k).to_string());
                    (key, to_json(v))
                })
                .collect(),
        ),
        YamlData::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        YamlData::Value(Scalar::String(s)) => Value::String(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Value::from(*i),
        YamlData::Value(Scalar::FloatingPoint(f)) => {
            serde_json::Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number)
        }
        YamlData::Value(Scalar::Boolean(b)) => Value::Bool(*b),
        _ => Value::Null,
    }
}

/// Reads a string list: a list of strings or numbers. With `single_ok`, one string is
/// accepted as a one-item list. `null` reads as an empty list.
pub(crate) fn string_list(
    node: &Node<'_>,
    context: &str,
    single_ok: bool,
) -> Result<Vec<String>, DocError> {
    if is_null(node) {
        return Ok(Vec::new());
    }
    if let Some(items) = sequence(node) {
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                scalar_text(item)
                    .ok_or_else(|| wrong_type(item, &format!("{context}[{i}]"), "a string"))
            })
            .collect();
    }
    if single_ok {
        if let Some(text) = scalar_text(node) {
            return Ok(vec![text]);
        }
        return Err(wrong_type(node, context, "a string or a list of strings"));
    }
    Err(wrong_type(node, context, "a list of strings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Node<'_> {
        let mut docs = tocsin_yaml::load(text, MAX_DEPTH).expect("valid YAML in test");
        docs.remove(0)
    }

    #[test]
    fn lines_are_one_based() {
        let doc = load("a: 1\nb:\n  - x\n  - y\n");
        let entries = mapping(&doc).expect("mapping");
        assert_eq!(line(entries[0].0), 1);
        assert_eq!(line(entries[1].0), 2);
        let items = sequence(entries[1].1).expect("list");
        assert_eq!(line(&items[1]), 4);
    }

    #[test]
    fn dates_stay_text() {
        let doc = load("date: 2024-01-02\nn: 12\nf: 1.5\n");
        let entries = mapping(&doc).expect("mapping");
        assert_eq!(scalar_text(entries[0].1).as_deref(), Some("2024-01-02"));
        assert_eq!(scalar_text(entries[1].1).as_deref(), Some("12"));
        assert_eq!(scalar_text(entries[2].1).as_deref(), Some("1.5"));
    }

    #[test]
    fn json() {
        let doc = load("a: [1, {b: [true, ~]}]\n");
        assert_eq!(
            to_json(&doc),
            serde_json::json!({"a": [1, {"b": [true, null]}]})
        );
    }

    #[test]
    fn string_lists() {
        let doc = load("a: [x, 2]\nb: one\nc:\n");
        let e = mapping(&doc).expect("mapping");
        assert_eq!(
            string_list(e[0].1, "a", false),
            Ok(vec!["x".into(), "2".into()])
        );
        assert_eq!(string_list(e[1].1, "b", true), Ok(vec!["one".into()]));
        assert!(string_list(e[1].1, "b", false).is_err());
        assert_eq!(string_list(e[2].1, "c", false), Ok(vec![]));
    }
}
