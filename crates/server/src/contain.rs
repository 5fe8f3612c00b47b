//! Running response actions on incidents ([`crate::actions`]) and writing each request,
//! approval and result into the incident's audit trail, with who did it.

use std::collections::BTreeMap;
use std::path::Path;

use tocsin_incident::{Incident, IncidentStore};
use tocsin_store::SqliteStore;

use crate::actions::{ActionError, Actions, Run};
use crate::respond::{apply, resolve, ChangeError, ChangeRequest};

/// Why a request about an action failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainError {
    /// About the action or run.
    #[error(transparent)]
    Action(#[from] ActionError),
    /// About the incident or its audit trail.
    #[error(transparent)]
    Incident(#[from] ChangeError),
}

/// Asks for `name` on incident `id` as `actor`: runs it at once unless it needs approval;
/// the request (and the result) go into the audit trail.
pub fn request(
    store_path: &Path,
    actions: &Actions,
    id: &str,
    name: &str,
    params: BTreeMap<String, String>,
    actor: &str,
) -> Result<Run, ContainError> {
    let incident = load(store_path, id)?;
    let run = actions.request(&incident, name, params, actor)?;
    if run.state == "awaiting-approval" {
        let text = format!(
            "{name} (run {}) requested by {actor}; awaiting a second person's approval",
            run.id
        );
        audit(store_path, &incident.id, text, actor)?;
        return Ok(run);
    }
    finish(store_path, actions, &incident, &run, actor)
}

/// Approves run `run_id` as `actor` and runs it.
pub fn approve(
    store_path: &Path,
    actions: &Actions,
    run_id: i64,
    actor: &str,
) -> Result<Run, ContainError> {
    let pending = actions.run(run_id)?;
    let incident = load(store_path, &pending.incident)?;
    let run = actions.approve(run_id, actor)?;
    finish(store_path, actions, &incident, &run, actor)
}

/// Carries out an approved or unguarded run and records its result.
fn finish(
    store_path: &Path,
    actions: &Actions,
    incident: &Incident,
    run: &Run,
    actor: &str,
) -> Result<Run, ContainError> {
    let done = actions.execute(run, incident)?;
    let approval = match &done.approved_by {
        Some(approver) => format!(", approved by {approver}"),
        None => String::new(),
    };
    let text = format!(
        "{} (run {}) {}: {} (requested by {}{approval})",
        done.action,
        done.id,
        done.state,
        done.result.as_deref().unwrap_or(""),
        done.requested_by
    );
    audit(store_path, &incident.id, text, actor)?;
    Ok(done)
}

/// The live incident `id` names.
fn load(store_path: &Path, id: &str) -> Result<Incident, ChangeError> {
    let store = SqliteStore::open_read_only(store_path)?;
    let id = resolve(&store, id)?;
    store.incident(&id)?.ok_or(ChangeError::NotFound)
}

/// Records `text` as a response action on the incident, by `actor`.
fn audit(store_path: &Path, id: &str, text: String, actor: &str) -> Result<(), ChangeError> {
    let request = ChangeRequest {
        action: Some(text),
        ..ChangeRequest::default()
    };
    apply(store_path, id, &request, actor).map(drop)
}
