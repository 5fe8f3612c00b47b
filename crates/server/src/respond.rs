//! What analysts change on an incident through the API: its status (with a resolution when
//! closing), its assignee, notes, and recorded response actions, each written with the
//! token's name as the actor into the incident's append-only audit trail, in one
//! transaction that reads and writes the incident (two analysts never lose each other's
//! change).

use std::path::Path;

use serde::Deserialize;
use tocsin_incident::{AuditRecord, Incident, IncidentStore, Resolution, Stamp, Status};
use tocsin_store::{SqliteStore, StoreError};

use crate::ingest::now_micros;

/// The longest note, action or assignee accepted, in characters.
pub const MAX_TEXT: usize = 4096;

/// A change asked for (`PATCH /api/v1/incidents/{id}`); every field is optional, at least
/// one is needed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// The new status: new, investigating, confirmed, contained, closed.
    pub status: Option<String>,
    /// Why it is closed (needed with `closed`): true-positive, false-positive, benign, duplicate.
    pub resolution: Option<String>,
    /// Who works on it (an empty text unassigns).
    pub assignee: Option<String>,
    /// A note to add.
    pub note: Option<String>,
    /// A response action taken, to record ("API key revoked at the vendor").
    pub action: Option<String>,
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The request is wrong (the message says how).
    #[error("{0}")]
    Invalid(String),
    /// No such incident.
    #[error("no such incident")]
    NotFound,
    /// The lifecycle refuses it (a transition the table forbids, nothing changed).
    #[error("{0}")]
    Refused(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One parsed change.
enum Change {
    Status(Status, Option<Resolution>),
    Assign(String),
    Note(String),
    Action(String),
}

impl ChangeRequest {
    /// The changes, checked, in the order status, assignee, note, action.
    fn changes(&self) -> Result<Vec<Change>, ChangeError> {
        let mut changes = Vec::new();
        let resolution = match &self.resolution {
            Some(text) => Some(parse::<Resolution>("resolution", text)?),
            None => None,
        };
        match (&self.status, resolution) {
            (Some(status), resolution) => {
                changes.push(Change::Status(parse("status", status)?, resolution))
            }
            (None, Some(_)) => return Err(invalid("resolution goes with status")),
            (None, None) => {}
        }
        for (field, value, make) in [
            (
                "assignee",
                &self.assignee,
                Change::Assign as fn(String) -> Change,
            ),
            ("note", &self.note, Change::Note),
            ("action", &self.action, Change::Action),
        ] {
            if let Some(text) = value {
                if text.chars().count() > MAX_TEXT {
                    return Err(invalid(&format!("{field}: at most {MAX_TEXT} characters")));
                }
                changes.push(make(text.clone()));
            }
        }
        if changes.is_empty() {
            return Err(invalid(
                "nothing to change: give status, assignee, note or action",
            ));
        }
        Ok(changes)
    }
}

fn invalid(message: &str) -> ChangeError {
    ChangeError::Invalid(message.to_owned())
}

fn parse<T: std::str::FromStr>(field: &str, text: &str) -> Result<T, ChangeError>
where
    T::Err: std::fmt::Display,
{
    text.parse::<T>()
        .map_err(|error| ChangeError::Invalid(format!("{field}: {error}")))
}

/// Applies `request` to incident `id` (or to the incident that absorbed it) as `actor`;
/// returns the incident's id and the audit records written.
pub fn apply(
    store_path: &Path,
    id: &str,
    request: &ChangeRequest,
    actor: &str,
) -> Result<(String, Vec<AuditRecord>), ChangeError> {
    let changes = request.changes()?;
    let mut store = SqliteStore::open(store_path)?;
    let id = resolve(&store, id)?;
    let stamp = Stamp {
        actor,
        at_micros: now_micros(),
    };
    let outcome = store.update_incident(&id, |incident| {
        let mut records = Vec::new();
        for change in &changes {
            if !unchanged_assignment(incident, change) {
                records.push(apply_one(incident, change, stamp)?);
            }
        }
        Ok::<_, tocsin_incident::LifecycleError>(records)
    })?;
    let records = outcome.map_err(|error| ChangeError::Refused(error.to_string()))?;
    Ok((id, records))
}

/// Assigning the current assignee changes nothing and records nothing.
fn unchanged_assignment(incident: &Incident, change: &Change) -> bool {
    matches!(change, Change::Assign(name) if !incident.assignment_changes(Some(name)))
}

fn apply_one(
    incident: &mut Incident,
    change: &Change,
    by: Stamp<'_>,
) -> Result<AuditRecord, tocsin_incident::LifecycleError> {
    match change {
        Change::Status(to, resolution) => incident.transition(*to, *resolution, by),
        Change::Assign(name) => incident.assign(Some(name), by),
        Change::Note(text) => incident.add_note(text, by),
        Change::Action(text) => incident.record_action(text, by),
    }
}

/// The most absorptions followed from an old id to the live incident.
const MAX_HOPS: usize = 64;

/// The stored id of `id`: itself, or the live incident that absorbed it (through every
/// later merge).
pub fn resolve(
    store: &impl IncidentStore<Error = StoreError>,
    id: &str,
) -> Result<String, ChangeError> {
    if id.len() > 64 {
        return Err(ChangeError::NotFound);
    }
    let mut current = id.to_owned();
    for _ in 0..MAX_HOPS {
        if let Some(survivor) = store.merged_into(&current)? {
            current = survivor;
            continue;
        }
        return match store.incident(&current)? {
            Some(_) => Ok(current),
            None => Err(ChangeError::NotFound),
        };
    }
    Err(ChangeError::NotFound)
}
