//! The stores' errors: an SQLite store's name the store file; the memory store's name the
//! incident or detection concerned.

use std::path::PathBuf;

/// What went wrong with a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not a tocsin store (another SQLite database, or not SQLite).
    #[error("{path} is not a tocsin store: {reason}")]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },
    /// The store was written by a newer tocsin.
    #[error("{path} has store schema version {found}, newer than the {supported} this tocsin knows: upgrade tocsin")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A schema migration failed (the store is left at the previous version).
    #[error("{path}: migration to schema version {version} ({name}) failed: {error}")]
    Migration {
        /// The file.
        path: PathBuf,
        /// The version being applied.
        version: i64,
        /// The migration file name.
        name: &'static str,
        /// The SQLite error, in the message and deliberately not a `source` (see
        /// [`StoreError::Sqlite`]).
        error: rusqlite::Error,
    },
    /// Any other SQLite failure.
    #[error("store {path}: {error}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The SQLite error. It is written in this error's message and deliberately not
        /// exposed as its `source`: SQLite's error repeats its message as its own source,
        /// so a printed chain would say the same thing three times.
        error: rusqlite::Error,
    },
    /// The store cannot be written (a read-only file or folder).
    #[error("store {path} cannot be written (read-only file or folder); `tocsin incidents list` and `show` can still read it")]
    ReadOnly {
        /// The file.
        path: PathBuf,
    },
    /// A read-only open met a store this build would first have to migrate.
    #[error("store {path} has schema version {found}; this tocsin reads version {latest}: open it once with a command that writes (`tocsin hunt --store`, `tocsin incidents update` or `regroup`) to migrate it")]
    NeedsMigration {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The version this build reads.
        latest: i64,
    },
    /// A stored JSON column could not be read back.
    #[error("store {path}: stored {what} {id} is unreadable: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// `alert`, `incident`, `lifecycle`, `audit record`.
        what: &'static str,
        /// The row's key.
        id: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A change was asked for an incident the store does not hold.
    #[error("store {path}: no incident {id}")]
    UnknownIncident {
        /// The file.
        path: PathBuf,
        /// The id asked for.
        id: String,
    },
}

impl StoreError {
    /// Whether SQLite answered that another connection holds the database (worth retrying).
    pub(crate) fn is_busy(&self) -> bool {
        match self {
            StoreError::Sqlite { error, .. } | StoreError::Migration { error, .. } => {
                error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
            }
            _ => false,
        }
    }
}

/// What the in-memory store refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    /// A change was asked for an incident the store does not hold.
    #[error("memory store: no incident {id}")]
    UnknownIncident {
        /// The id asked for.
        id: String,
    },
    /// An incident to save names a detection the store does not hold.
    #[error("memory store: incident {incident} names detection {alert_key}, which is not stored")]
    UnknownAlert {
        /// The incident.
        incident: String,
        /// The missing detection's key.
        alert_key: String,
    },
}
