//! [`load`], the one way tocsin's YAML readers (Sigma rules, logsource mappings,
//! placeholders, behavioural detector configuration) turn text into nodes, and small,
//! panic-free accessors over those nodes.
//!
//! Every accessor returns an `Option`, so that no input can make a reader panic; the reader
//! turns `None` into an error located with [`line`]. Tagged nodes (`!custom value`) are read
//! as their inner node: [`load`] keeps no tags.

mod load;
mod node;

pub use load::{load, LoadError, ALIAS_BUDGET};
pub use node::{Node, YamlData};
/// A resolved scalar (`saphyr`'s, whose YAML 1.2 core schema [`load`] reads scalars by).
pub use saphyr::Scalar;

/// The node's 1-based start line.
pub fn line(node: &Node<'_>) -> usize {
    node.line
}

/// The entries of a mapping node.
pub fn mapping<'n, 'a>(node: &'n Node<'a>) -> Option<Vec<(&'n Node<'a>, &'n Node<'a>)>> {
    match &node.data {
        YamlData::Mapping(entries) => Some(entries.iter().map(|(k, v)| (k, v)).collect()),
        _ => None,
    }
}

/// The items of a sequence node.
pub fn sequence<'n, 'a>(node: &'n Node<'a>) -> Option<&'n [Node<'a>]> {
    match &node.data {
        YamlData::Sequence(items) => Some(items),
        _ => None,
    }
}

/// The scalar of a scalar node.
pub fn scalar<'n, 'a>(node: &'n Node<'a>) -> Option<&'n Scalar<'a>> {
    match &node.data {
        YamlData::Value(value) => Some(value),
        _ => None,
    }
}

/// The text of a string node.
pub fn as_str<'n>(node: &'n Node<'_>) -> Option<&'n str> {
    match scalar(node)? {
        Scalar::String(s) => Some(s),
        _ => None,
    }
}

/// Whether the node is `null` / `~` / empty.
pub fn is_null(node: &Node<'_>) -> bool {
    matches!(scalar(node), Some(Scalar::Null))
}

/// The text of a string, integer or float node (as written for strings; numbers are
/// formatted back). `date: 2024-01-02` is a string in YAML 1.2, so it lands here as written.
pub fn scalar_text(node: &Node<'_>) -> Option<String> {
    match scalar(node)? {
        Scalar::String(s) => Some(s.to_string()),
        Scalar::Integer(i) => Some(i.to_string()),
        Scalar::FloatingPoint(f) => Some(f.to_string()),
        Scalar::Boolean(_) | Scalar::Null => None,
    }
}

/// A non-negative integer node.
pub fn as_u64(node: &Node<'_>) -> Option<u64> {
    match scalar(node)? {
        Scalar::Integer(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

/// A number node (integer or float).
pub fn as_f64(node: &Node<'_>) -> Option<f64> {
    match scalar(node)? {
        Scalar::Integer(i) => Some(*i as f64),
        Scalar::FloatingPoint(f) => Some(f.into_inner()),
        _ => None,
    }
}

/// A boolean node.
pub fn as_bool(node: &Node<'_>) -> Option<bool> {
    match scalar(node)? {
        Scalar::Boolean(b) => Some(*b),
        _ => None,
    }
}

/// A short description of the node's type for error messages ("a list", "a string", ...).
pub fn kind_name(node: &Node<'_>) -> &'static str {
    match &node.data {
        YamlData::Mapping(_) => "a mapping",
        YamlData::Sequence(_) => "a list",
        YamlData::Value(Scalar::String(_)) => "a string",
        YamlData::Value(Scalar::Integer(_)) => "an integer",
        YamlData::Value(Scalar::FloatingPoint(_)) => "a number",
        YamlData::Value(Scalar::Boolean(_)) => "a boolean",
        YamlData::Value(Scalar::Null) => "null",
        YamlData::BadValue => "an invalid value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Node<'_> {
        let mut docs = super::load(text, 16).expect("valid YAML in test");
        docs.remove(0)
    }

    #[test]
    fn reads_scalars_and_lines() {
        let doc = load("a: 3\nb: 0.5\nc: yes\nd: true\ne: -1\n");
        let entries = mapping(&doc).expect("mapping");
        assert_eq!(line(entries[1].0), 2);
        assert_eq!(as_u64(entries[0].1), Some(3));
        assert_eq!(as_f64(entries[0].1), Some(3.0));
        assert_eq!(as_f64(entries[1].1), Some(0.5));
        assert_eq!(as_bool(entries[2].1), None, "YAML 1.2: yes is a string");
        assert_eq!(as_bool(entries[3].1), Some(true));
        assert_eq!(as_u64(entries[4].1), None);
        assert_eq!(kind_name(entries[2].1), "a string");
    }
}
