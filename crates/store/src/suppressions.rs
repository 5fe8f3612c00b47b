//! The SQLite store's suppressions table (schema version 4): rows are inserted and marked
//! removed, never deleted (a trigger refuses deletes).

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use tocsin_incident::{Entity, EntityKind, NewSuppression, Removal, Suppression};

/// Inserts `new` and returns it with its id.
pub(crate) fn insert(tx: &Transaction<'_>, new: &NewSuppression) -> rusqlite::Result<Suppression> {
    let (kind, value) = match &new.entity {
        Some(entity) => (Some(kind_name(entity.kind)), Some(entity.value.as_str())),
        None => (None, None),
    };
    tx.execute(
        "INSERT INTO suppressions (rule_id, entity_kind, entity_value, reason, added_by, added_at, incident)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            new.rule_id,
            kind,
            value,
            new.reason,
            new.added_by,
            new.added_at_micros,
            new.incident
        ],
    )?;
    let id = u64::try_from(tx.last_insert_rowid()).unwrap_or_default();
    Ok(Suppression {
        id,
        spec: new.clone(),
        removed: None,
    })
}

/// Every row, oldest first.
pub(crate) fn all(conn: &Connection) -> rusqlite::Result<Vec<Suppression>> {
    let mut statement = conn.prepare(
        "SELECT id, rule_id, entity_kind, entity_value, reason, added_by, added_at, incident,
                removed_by, removed_at
         FROM suppressions ORDER BY id",
    )?;
    let rows = statement.query_map([], suppression_of)?;
    rows.collect()
}

/// Marks suppression `id` removed if it is in force; whether it was.
pub(crate) fn remove(tx: &Transaction<'_>, id: u64, removal: &Removal) -> rusqlite::Result<bool> {
    let Ok(id) = i64::try_from(id) else {
        return Ok(false);
    };
    let in_force: Option<i64> = tx
        .query_row(
            "SELECT id FROM suppressions WHERE id = ?1 AND removed_at IS NULL",
            [id],
            |row| row.get(0),
        )
        .optional()?;
    if in_force.is_none() {
        return Ok(false);
    }
    tx.execute(
        "UPDATE suppressions SET removed_by = ?2, removed_at = ?3 WHERE id = ?1",
        params![id, removal.by, removal.at_micros],
    )?;
    Ok(true)
}

/// A row as a [`Suppression`].
fn suppression_of(row: &Row<'_>) -> rusqlite::Result<Suppression> {
    let kind: Option<String> = row.get(2)?;
    let value: Option<String> = row.get(3)?;
    let entity = match (kind, value) {
        (Some(kind), Some(value)) => Some(Entity {
            kind: kind_of(&kind).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    2,
                    rusqlite::types::Type::Text,
                    format!("unknown entity kind '{kind}'").into(),
                )
            })?,
            value,
        }),
        _ => None,
    };
    let removed_by: Option<String> = row.get(8)?;
    let removed_at: Option<i64> = row.get(9)?;
    Ok(Suppression {
        id: u64::try_from(row.get::<_, i64>(0)?).unwrap_or_default(),
        spec: NewSuppression {
            rule_id: row.get(1)?,
            entity,
            reason: row.get(4)?,
            added_by: row.get(5)?,
            added_at_micros: row.get(6)?,
            incident: row.get(7)?,
        },
        removed: removed_by
            .zip(removed_at)
            .map(|(by, at_micros)| Removal { by, at_micros }),
    })
}

/// The stored name of an entity kind.
fn kind_name(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Host => "host",
        EntityKind::User => "user",
        EntityKind::Account => "account",
        EntityKind::ApiKey => "api-key",
        EntityKind::SourceIp => "source-ip",
    }
}

/// The entity kind of a stored name.
fn kind_of(name: &str) -> Option<EntityKind> {
    [
        EntityKind::Host,
        EntityKind::User,
        EntityKind::Account,
        EntityKind::ApiKey,
        EntityKind::SourceIp,
    ]
    .into_iter()
    .find(|kind| kind_name(*kind) == name)
}
