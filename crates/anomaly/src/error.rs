//! Errors of the anomaly crate: a bad configuration (located by file and line) and a
//! baseline that cannot be restored.

use std::path::PathBuf;

/// Why a detector configuration could not be loaded, and where.
///
/// Its `Display` reads like a compiler message:
/// `anomaly.yml:12: detectors.burst.factor: expected a number, found a string`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}:{line}: {}{message}", path.display(), context_prefix(context))]
pub struct ConfigError {
    /// The configuration file (`<built-in>` for the embedded default).
    pub path: PathBuf,
    /// The 1-based line of the offending YAML node; 0 when unknown (unreadable file).
    pub line: usize,
    /// The YAML path of the offending node, such as `detectors.burst.factor`.
    pub context: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// A located error.
    pub(crate) fn new(
        path: &std::path::Path,
        line: usize,
        context: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            context: context.to_owned(),
            message: message.into(),
        }
    }
}

fn context_prefix(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!("{context}: ")
    }
}

/// Why a saved baseline could not be restored. The detector keeps its current state when
/// this happens.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The bytes are not a baseline document (not JSON, or missing fields).
    #[error("baseline is not readable: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The baseline parses but holds impossible values.
    #[error("baseline is not valid: {0}")]
    Invalid(String),
    /// The baseline was written by a different, incompatible format version.
    #[error("baseline format version {found} is not supported (this build reads version {expected}); relearn or convert it")]
    Version {
        /// The version in the saved bytes.
        found: u32,
        /// The version this build writes and reads.
        expected: u32,
    },
}
