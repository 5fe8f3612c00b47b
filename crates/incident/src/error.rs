//! The errors of this crate: bad input (levels, catalogue files) and refused lifecycle changes.

use std::path::PathBuf;

use crate::lifecycle::Status;

/// A lifecycle change that the transition table or the closing rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The transition table has no edge from `from` to `to`.
    #[error("incident {incident}: cannot go from {from} to {to} (allowed from {from}: {allowed})")]
    IllegalTransition {
        /// The incident the change was asked for.
        incident: String,
        /// Its current status.
        from: Status,
        /// The status asked for.
        to: Status,
        /// The statuses reachable from `from`, for the message.
        allowed: String,
    },
    /// Closing needs a resolution (true positive, false positive or benign).
    #[error(
        "incident {incident}: closing needs a resolution (true-positive, false-positive or benign)"
    )]
    MissingResolution {
        /// The incident the change was asked for.
        incident: String,
    },
    /// A resolution was given for a status other than `closed`.
    #[error(
        "incident {incident}: a resolution is only given when closing, not when moving to {to}"
    )]
    UnexpectedResolution {
        /// The incident the change was asked for.
        incident: String,
        /// The status asked for.
        to: Status,
    },
    /// The change asked for would leave the incident as it is (assigning its assignee).
    #[error("incident {incident}: the {what} is already that; nothing to record")]
    Unchanged {
        /// The incident the change was asked for.
        incident: String,
        /// What would not change (`assignee`).
        what: &'static str,
    },
    /// A note, an action or an actor name was empty.
    #[error("incident {incident}: {what} must not be empty")]
    Empty {
        /// The incident the change was asked for.
        incident: String,
        /// What was empty (`note`, `action`, `actor`).
        what: &'static str,
    },
}

/// A word that should have named one of a fixed set of values (a level, a status, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {found:?} (expected one of: {expected})")]
pub struct ParseError {
    /// What was being parsed (`level`, `status`, `resolution`, `format`, ...).
    pub what: &'static str,
    /// The text found.
    pub found: String,
    /// The accepted words, for the message.
    pub expected: &'static str,
}

/// Loading the ATT&CK catalogue failed as a whole (a single bad file is only a warning).
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// A folder of the catalogue could not be read.
    #[error("cannot read ATT&CK folder {path}: {source}")]
    ReadDir {
        /// The folder.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The matrix that orders the tactics is missing or unreadable.
    #[error("no readable x-mitre-matrix object under {path}: the tactics cannot be ordered")]
    NoMatrix {
        /// The catalogue folder.
        path: PathBuf,
    },
}

/// Why a grouper could not continue from a saved [`GroupingState`](crate::GroupingState):
/// the caller then regroups every alert instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// The state was saved by another version of its format.
    #[error("grouping state version {found}, expected {expected}")]
    Version {
        /// The version found.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// The state was built with another grouping configuration.
    #[error("grouping state built with another grouping configuration")]
    Config,
    /// A member of a resumed incident was not given to rebuild it.
    #[error("alert {key} of a resumed incident is missing")]
    MissingAlert {
        /// The missing alert's key.
        key: String,
    },
}
