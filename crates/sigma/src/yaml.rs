//! Small, panic-free accessors over `saphyr`'s `MarkedYaml` nodes.
//!
//! Every lookup returns an `Option` or a located [`DocError`], so that no input can make the
//! parser panic. Tagged nodes (`!custom value`) are read as their inner node.

use saphyr::{MarkedYaml, Scalar, YamlData};

use crate::error::{DocError, ErrorKind};

/// A YAML node with its position.
pub(crate) type Node<'a> = MarkedYaml<'a>;

/// The deepest nesting a Sigma document may have. Real documents stay below 8; the limit
/// keeps `saphyr`'s recursive loader and our recursive walks (JSON conversion) far from
/// the stack limit. Checked before the tree is built (see `too_deep` in `lib.rs`).
pub(crate) const MAX_DEPTH: usize = 64;

/// The node's 1-based start line.
pub(crate) fn line(node: &Node<'_>) -> usize {
    node.span.start.line()
}

/// The node itself, or the node inside any user-defined tags.
pub(crate) fn untag<'n, 'a>(mut node: &'n Node<'a>) -> &'n Node<'a> {
    while let YamlData::Tagged(_, inner) = &node.data {
        node = inner;
    }
    node
}

/// The entries of a mapping node.
pub(crate) fn mapping<'n, 'a>(node: &'n Node<'a>) -> Option<Vec<(&'n Node<'a>, &'n Node<'a>)>> {
    match &untag(node).data {
        YamlData::Mapping(map) => Some(map.iter().collect()),
        _ => None,
    }
}

/// The items of a sequence node.
pub(crate) fn sequence<'n, 'a>(node: &'n Node<'a>) -> Option<&'n [Node<'a>]> {
    match &untag(node).data {
        YamlData::Sequence(items) => Some(items),
        _ => None,
    }
}

/// The scalar of a scalar node.
pub(crate) fn scalar<'n, 'a>(node: &'n Node<'a>) -> Option<&'n Scalar<'a>> {
    match &untag(node).data {
        YamlData::Value(value) => Some(value),
        _ => None,
    }
}

/// The text of a string node.
pub(crate) fn as_str<'n>(node: &'n Node<'_>) -> Option<&'n str> {
    match scalar(node)? {
        Scalar::String(s) => Some(s),
        _ => None,
    }
}

/// Whether the node is `null` / `~` / empty.
pub(crate) fn is_null(node: &Node<'_>) -> bool {
    matches!(scalar(node), Some(Scalar::Null))
}

/// The text of a string, integer or float node (as written for strings; numbers are
/// formatted back). `date: 2024-01-02` is a string in YAML 1.2, so it lands here as written.
pub(crate) fn scalar_text(node: &Node<'_>) -> Option<String> {
    match scalar(node)? {
        Scalar::String(s) => Some(s.to_string()),
        Scalar::Integer(i) => Some(i.to_string()),
        Scalar::FloatingPoint(f) => Some(f.to_string()),
        Scalar::Boolean(_) | Scalar::Null => None,
    }
}

/// A short description of the node's type for error messages ("a list", "a string", ...).
pub(crate) fn kind_name(node: &Node<'_>) -> &'static str {
    match &untag(node).data {
        YamlData::Mapping(_) => "a mapping",
        YamlData::Sequence(_) => "a list",
        YamlData::Value(Scalar::String(_)) => "a string",
        YamlData::Value(Scalar::Integer(_)) => "an integer",
        YamlData::Value(Scalar::FloatingPoint(_)) => "a number",
        YamlData::Value(Scalar::Boolean(_)) => "a boolean",
        YamlData::Value(Scalar::Null) => "null",
        YamlData::Alias(_) => "an alias",
        YamlData::BadValue | YamlData::Representation(..) | YamlData::Tagged(..) => {
            "an invalid value"
        }
    }
}

/// A [`ErrorKind::WrongType`] error for `node`.
pub(crate) fn wrong_type(node: &Node<'_>, context: &str, expected: &'static str) -> DocError {
    DocError::new(
        line(node),
        context,
        ErrorKind::WrongType {
            expected,
            found: kind_name(node),
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
    match &untag(node).data {
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
    use saphyr::LoadableYamlNode;

    fn load(text: &str) -> Node<'_> {
        let mut docs = MarkedYaml::load_from_str(text).expect("valid YAML in test");
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
