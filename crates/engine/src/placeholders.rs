//! Loading `expand` placeholder values from a YAML file.
//!
//! ```yaml
//! Administrators: [admin, 'adm_*']
//! DomainControllers:
//!   - dc01
//!   - dc02
//! ```
//!
//! Names are written without the surrounding `%`. Values may hold Sigma wildcards.

use std::path::{Path, PathBuf};

use tocsin_yaml::Scalar;
use tocsin_yaml::{self as yaml, Node};

use crate::compile::Placeholders;
use crate::mapping::located;

/// The deepest nesting a placeholder file may have: a map of lists needs 2; the limit
/// keeps the YAML loader far from the stack limit.
const MAX_DEPTH: usize = 32;

/// Why a placeholder file could not be read, and where.
///
/// Its `Display` reads like a compiler message, so that the user can go to the place:
/// `placeholders.yml:3: placeholders: Admins: values must be text or numbers`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: placeholders: {message}", located(path, *line))]
pub struct PlaceholderError {
    /// The placeholder file.
    pub path: PathBuf,
    /// The 1-based line of the offending YAML node; 0 when the error has none.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl PlaceholderError {
    fn new(path: &Path, line: usize, message: impl Into<String>) -> Self {
        PlaceholderError {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// Parses a placeholder file: a map from name to a value or a list of values. `path`
/// locates the errors.
///
/// The text goes through [`tocsin_yaml::load`], so that a file nested too deeply is
/// refused with its line instead of overflowing the stack.
///
/// # Errors
///
/// A YAML error, or a node of the wrong shape, with its file and line.
pub fn parse_placeholders(text: &str, path: &Path) -> Result<Placeholders, PlaceholderError> {
    let docs = yaml::load(text, MAX_DEPTH)
        .map_err(|error| PlaceholderError::new(path, error.line(), error.to_string()))?;
    let mut out = Placeholders::new();
    let Some(doc) = docs.first() else {
        return Ok(out);
    };
    let map = yaml::mapping(doc).ok_or_else(|| {
        PlaceholderError::new(path, yaml::line(doc), "expected a map of name: [values]")
    })?;
    for (key, value) in map {
        let name = scalar(key)
            .ok_or_else(|| PlaceholderError::new(path, yaml::line(key), "names must be text"))?;
        let name = name.trim_matches('%').to_string();
        let values = values(value).ok_or_else(|| {
            PlaceholderError::new(
                path,
                yaml::line(value),
                format!("{name}: values must be text or numbers"),
            )
        })?;
        out.insert(name, values);
    }
    Ok(out)
}

/// A list of scalars, or one scalar as a list of one.
fn values(node: &Node<'_>) -> Option<Vec<String>> {
    match yaml::sequence(node) {
        Some(items) => items.iter().map(scalar).collect(),
        None => scalar(node).map(|v| vec![v]),
    }
}

/// The text of a string, number or boolean node.
fn scalar(node: &Node<'_>) -> Option<String> {
    match yaml::scalar(node)? {
        Scalar::String(s) => Some(s.to_string()),
        Scalar::Integer(i) => Some(i.to_string()),
        Scalar::FloatingPoint(f) => Some(f.into_inner().to_string()),
        Scalar::Boolean(b) => Some(b.to_string()),
        Scalar::Null => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Placeholders, PlaceholderError> {
        parse_placeholders(text, Path::new("p.yml"))
    }

    #[test]
    fn lists_and_single_values() {
        let p = parse("Admins: [root, 'adm_*']\n'%Servers%': srv01\n").expect("parses");
        assert_eq!(p["Admins"], ["root", "adm_*"]);
        assert_eq!(p["Servers"], ["srv01"]);
    }

    #[test]
    fn bad_shapes_are_errors_with_file_and_line() {
        assert!(parse("- a\n- b\n").is_err());
        let error = parse("Admins: [root]\nA: {x: 1}\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "p.yml:2: placeholders: A: values must be text or numbers"
        );
    }

    #[test]
    fn deep_nesting_is_refused_with_its_line_not_a_stack_overflow() {
        let text = format!("Admins:\n  {}x\n", "- ".repeat(100_000));
        let error = parse(&text).unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("nested too deeply"), "{error}");
    }
}
