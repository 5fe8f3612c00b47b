//! Located errors for Sigma documents.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ast::Location;

/// Why a Sigma document (or file) could not be loaded, and where.
///
/// Its `Display` reads like a compiler message:
/// `rules/x.yml:14: rule 'Foo' (id 1234): detection.selection: unknown modifier 'contians'`.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub struct SigmaError {
    /// The file and the 1-based line of the offending YAML node. A `line` of 0 means the
    /// line is unknown (an unreadable file, for instance).
    pub location: Location,
    /// The `title` of the document, when it could be read.
    pub title: Option<String>,
    /// The `id` of the document, when it could be read.
    pub id: Option<String>,
    /// The YAML path of the offending node, such as `detection.selection` (empty when the
    /// problem concerns the whole document or file).
    pub context: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// What is wrong with a Sigma document.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    #[error("cannot read file: {0}")]
    Io(String),
    /// The text is not valid YAML; the whole file is rejected.
    #[error("YAML syntax error: {0}")]
    Yaml(String),
    /// The YAML nests deeper than any Sigma document can.
    #[error("YAML nested too deeply (more than {0} levels)")]
    TooDeep(usize),
    /// A mandatory key is absent.
    #[error("missing required key '{0}'")]
    MissingKey(Cow<'static, str>),
    /// A node has the wrong YAML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the specification asks for.
        expected: Cow<'static, str>,
        /// What the document holds.
        found: Cow<'static, str>,
    },
    /// A value outside a closed set (`status`, `level`, correlation `type`, ...).
    #[error("unknown {what} '{value}' (expected one of: {expected})")]
    UnknownValue {
        /// Which attribute.
        what: Cow<'static, str>,
        /// The value written.
        value: String,
        /// The allowed values, comma-separated.
        expected: Cow<'static, str>,
    },
    /// A modifier name that Sigma does not define.
    #[error("unknown modifier '{0}'")]
    UnknownModifier(String),
    /// A modifier chain the specification forbids or that cannot mean anything.
    #[error("invalid modifier chain '{chain}': {reason}")]
    ModifierChain {
        /// The chain as written, such as `|re|contains`.
        chain: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A value that does not suit its modifiers or place.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// A `re` value that is not a valid regular expression.
    #[error("invalid regular expression '{pattern}': {message}")]
    InvalidRegex {
        /// The pattern as written.
        pattern: String,
        /// The regex parser's explanation.
        message: String,
    },
    /// A `cidr` value that is not an IPv4 or IPv6 network.
    #[error("invalid CIDR network '{0}'")]
    InvalidCidr(String),
    /// A malformed or inconsistent `condition`.
    #[error("condition '{condition}': {message} (at column {column})")]
    Condition {
        /// The condition text.
        condition: String,
        /// 1-based character column of the offending token in `condition`.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The deprecated `| count() by ...` / `| near` syntax.
    #[error(
        "condition '{0}': aggregations in condition are not supported; use a Sigma correlation rule"
    )]
    Aggregation(String),
    /// Any other violation of the specification.
    #[error("{0}")]
    Invalid(String),
}

impl SigmaError {
    /// An error at `line` of `path`, without document or YAML context.
    pub fn new(path: &Path, line: usize, kind: ErrorKind) -> SigmaError {
        SigmaError {
            location: Location {
                path: path.to_path_buf(),
                line,
            },
            title: None,
            id: None,
            context: String::new(),
            kind,
        }
    }
}

impl fmt::Display for SigmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location.path.display())?;
        if self.location.line > 0 {
            write!(f, ":{}", self.location.line)?;
        }
        f.write_str(": ")?;
        match (&self.title, &self.id) {
            (Some(title), Some(id)) => write!(f, "rule '{title}' (id {id}): ")?,
            (Some(title), None) => write!(f, "rule '{title}': ")?,
            (None, Some(id)) => write!(f, "rule (id {id}): ")?,
            (None, None) => {}
        }
        if !self.context.is_empty() {
            write!(f, "{}: ", self.context)?;
        }
        write!(f, "{}", self.kind)
    }
}

/// An error found while reading one document, before the file and document identity are
/// attached.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DocError {
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// YAML path of the node.
    pub context: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl DocError {
    pub(crate) fn new(line: usize, context: impl Into<String>, kind: ErrorKind) -> DocError {
        DocError {
            line,
            context: context.into(),
            kind,
        }
    }

    /// Attaches the file and the document identity.
    pub(crate) fn locate(
        self,
        path: &Path,
        title: Option<String>,
        id: Option<String>,
    ) -> SigmaError {
        SigmaError {
            location: Location {
                path: path.to_path_buf(),
                line: self.line,
            },
            title,
            id,
            context: self.context,
            kind: self.kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_file_line_rule_and_context() {
        let err = DocError::new(
            14,
            "detection.selection",
            ErrorKind::UnknownModifier("contians".into()),
        )
        .locate(
            Path::new("rules/x.yml"),
            Some("Foo".into()),
            Some("1234".into()),
        );
        assert_eq!(
            err.to_string(),
            "rules/x.yml:14: rule 'Foo' (id 1234): detection.selection: unknown modifier 'contians'"
        );
    }

    #[test]
    fn display_without_line_or_rule() {
        let err = SigmaError::new(Path::new("a.yml"), 0, ErrorKind::Io("denied".into()));
        assert_eq!(err.to_string(), "a.yml: cannot read file: denied");
    }
}
