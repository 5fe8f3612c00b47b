//! The store's schema: numbered migrations embedded from `migrations/*.sql`, applied in order
//! inside one transaction each, the version tracked with `PRAGMA user_version`, and the file
//! marked with `PRAGMA application_id` so that other SQLite files are refused.

use std::path::Path;

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use crate::error::StoreError;

/// `PRAGMA application_id` of a tocsin store: `tocs` in ASCII.
pub const APPLICATION_ID: i64 = 0x746F_6373;

/// One schema migration: the version it brings the store to, its file name, its SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The schema version after this migration.
    pub version: i64,
    /// The file name under `migrations/`.
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// Every migration, in order; version `n` is at index `n - 1`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial.sql",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_blobs_append_only_audit.sql",
        sql: include_str!("../migrations/0002_blobs_append_only_audit.sql"),
    },
    Migration {
        version: 3,
        name: "0003_key_scheme_grouped_count.sql",
        sql: include_str!("../migrations/0003_key_scheme_grouped_count.sql"),
    },
    Migration {
        version: 4,
        name: "0004_suppressions.sql",
        sql: include_str!("../migrations/0004_suppressions.sql"),
    },
    Migration {
        version: 5,
        name: "0005_memberships_by_alert_id.sql",
        sql: include_str!("../migrations/0005_memberships_by_alert_id.sql"),
    },
    Migration {
        version: 6,
        name: "0006_alerts_unique_by_time.sql",
        sql: include_str!("../migrations/0006_alerts_unique_by_time.sql"),
    },
    Migration {
        version: 7,
        name: "0007_no_key_index.sql",
        sql: include_str!("../migrations/0007_no_key_index.sql"),
    },
];

/// The schema version this build creates and reads.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

/// Refuses files that are not tocsin stores or are newer than this build; returns the
/// schema version (0 for a fresh file).
pub(crate) fn check_identity(conn: &Connection, path: &Path) -> Result<i64, StoreError> {
    let not_a_store = |reason: &str| StoreError::NotAStore {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    // One statement, so the three values come from one snapshot even while another
    // process is creating the same store.
    let (application_id, version, objects): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id),
                    (SELECT user_version FROM pragma_user_version),
                    (SELECT count(*) FROM sqlite_master)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .map_err(|error| match error.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => not_a_store("not an SQLite database"),
            _ => StoreError::Sqlite {
                path: path.to_path_buf(),
                error,
            },
        })?;
    match application_id {
        APPLICATION_ID => {}
        0 if objects == 0 && version == 0 => return Ok(0),
        0 => {
            return Err(not_a_store(
                "an SQLite database of another program (it has tables but no tocsin mark)",
            ))
        }
        other => {
            return Err(not_a_store(&format!(
                "an SQLite database of another program (application id {other:#x})"
            )))
        }
    }
    if version > LATEST_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: LATEST_VERSION,
        });
    }
    Ok(version)
}

/// Applies the migrations after `current` up to `target`, each in its own transaction.
pub(crate) fn migrate(
    conn: &mut Connection,
    path: &Path,
    current: i64,
    target: i64,
) -> Result<(), StoreError> {
    for migration in MIGRATIONS
        .iter()
        .filter(|m| m.version > current && m.version <= target)
    {
        apply(conn, migration).map_err(|error| StoreError::Migration {
            path: path.to_path_buf(),
            version: migration.version,
            name: migration.name,
            error,
        })?;
    }
    Ok(())
}

/// Applies one migration unless another process applied it first: the version is read
/// again inside a write transaction taken up front, so two processes opening a new store
/// at the same moment do not both run it.
fn apply(conn: &mut Connection, migration: &Migration) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version >= migration.version {
        return tx.commit();
    }
    tx.execute_batch(migration.sql)?;
    tx.pragma_update(None, "user_version", migration.version)?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_and_named_after_their_version() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            let expected = i64::try_from(index).unwrap() + 1;
            assert_eq!(migration.version, expected);
            assert!(migration.name.starts_with(&format!("{expected:04}_")));
            assert!(!migration.sql.trim().is_empty());
        }
    }
}
