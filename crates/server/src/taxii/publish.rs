//! Publishing incidents to TAXII collections: the incident exported as a STIX 2.1 bundle
//! (`tocsin-stix`, with the TLP and redaction chosen for the partner) and its objects added
//! to a collection of this server, where partners fetch them.
//!
//! By hand, `POST /api/v1/incidents/{id}/publish` (analyst or admin) publishes one
//! incident and records it in the incident's audit trail. By rule, each
//! `[[taxii.publish]]` rule publishes every incident that matches it (severity band,
//! statuses) once per version of the incident: a watcher thread compares a fingerprint of
//! each incident with the one last published (kept in `<data>/publish.sqlite`) and
//! publishes again when it changed, which gives partners the new STIX versions.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tocsin_incident::{Band, Incident, IncidentStore, Status as Lifecycle};
use tocsin_stix::{ExportOptions, Redaction, StixError, Tlp};
use tocsin_store::SqliteStore;
use tocsin_taxii::Status;

use axum::http::StatusCode;

use super::{Taxii, TaxiiConfig};
use crate::api::{actor, authorize, change_error, incident_id, json_object, ApiError, AppState};
use crate::auth::Permission;
use crate::respond::{apply, resolve, ChangeError, ChangeRequest};

/// A rule that publishes matching incidents (`[[taxii.publish]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRule {
    /// The collection (alias or id) the incidents go to.
    pub collection: String,
    /// The least severity band published: `low`, `medium`, `high` or `critical`.
    #[serde(default = "default_band")]
    pub min_severity: String,
    /// The lifecycle statuses published (`confirmed`, ...); empty: any.
    #[serde(default)]
    pub statuses: Vec<String>,
    /// The TLP 2.0 marking of the bundles.
    #[serde(default = "default_tlp")]
    pub tlp: String,
    /// Redaction, as `tocsin incidents export --redact` takes it: `internal`, or
    /// `hosts=replace`, `users=drop`, `internal-addresses=keep`, ...
    #[serde(default)]
    pub redact: Vec<String>,
}

fn default_band() -> String {
    "high".into()
}

fn default_tlp() -> String {
    "amber".into()
}

impl PublishRule {
    /// Checks the rule against the configuration it belongs to.
    pub fn check(&self, config: &TaxiiConfig) -> Result<(), String> {
        let what = format!("taxii.publish to {}", self.collection);
        if config.collection(&self.collection).is_none() {
            return Err(format!(
                "{what}: no such collection in [[taxii.collections]]"
            ));
        }
        if config
            .organisation
            .as_deref()
            .is_none_or(|o| o.trim().is_empty())
        {
            return Err(format!("{what}: publishing needs taxii.organisation"));
        }
        self.band()
            .map_err(|e| format!("{what}: min_severity: {e}"))?;
        self.lifecycle_statuses()
            .map_err(|e| format!("{what}: statuses: {e}"))?;
        Choice::parse(Some(&self.tlp), &self.redact).map_err(|e| format!("{what}: {e}"))?;
        Ok(())
    }

    fn band(&self) -> Result<Band, String> {
        Band::from_str(&self.min_severity).map_err(|e| e.to_string())
    }

    fn lifecycle_statuses(&self) -> Result<Vec<Lifecycle>, String> {
        self.statuses
            .iter()
            .map(|s| Lifecycle::from_str(s).map_err(|e| e.to_string()))
            .collect()
    }

    /// Whether the rule publishes `incident`.
    pub fn matches(&self, incident: &Incident) -> bool {
        let band_ok = self.band().is_ok_and(|band| incident.severity.band >= band);
        let statuses = self.lifecycle_statuses().unwrap_or_default();
        band_ok && (statuses.is_empty() || statuses.contains(&incident.lifecycle.status))
    }
}

/// The body of `POST /api/v1/incidents/{id}/publish`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    /// The collection, by alias or id.
    pub collection: String,
    /// The TLP 2.0 level (`amber` when left out).
    #[serde(default)]
    pub tlp: Option<String>,
    /// Redaction rules, as for [`PublishRule::redact`].
    #[serde(default)]
    pub redact: Vec<String>,
}

/// What a publication marks and hides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The marking of the bundle.
    pub tlp: Tlp,
    /// What is hidden.
    pub redaction: Redaction,
}

impl Choice {
    /// The choice of a TLP word (amber when absent) and redaction rules.
    pub fn parse(tlp: Option<&str>, redact: &[String]) -> Result<Choice, String> {
        let tlp = match tlp {
            Some(text) => Tlp::from_str(text)?,
            None => Tlp::Amber,
        };
        Ok(Choice {
            tlp,
            redaction: redaction_of(redact)?,
        })
    }
}

/// `redact` rules as a [`Redaction`] (see [`Redaction::parse`]).
pub fn redaction_of(rules: &[String]) -> Result<Redaction, String> {
    Redaction::parse(rules)
}

/// Why an incident was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The request is wrong (the message says how).
    #[error("{0}")]
    Invalid(String),
    /// No such incident, or no such collection.
    #[error("{0}")]
    NotFound(String),
    /// The incident cannot be exported.
    #[error("cannot export the incident: {0}")]
    Export(#[from] StixError),
    /// The incident store failed.
    #[error(transparent)]
    Incident(#[from] ChangeError),
    /// The incident store failed.
    #[error(transparent)]
    Store(#[from] tocsin_store::StoreError),
    /// The TAXII store failed.
    #[error(transparent)]
    Taxii(#[from] tocsin_taxii::StoreError),
}

/// Exports `incident` with `choice` and adds its objects to `collection` (alias or id);
/// the add request's status.
pub fn publish_incident(
    taxii: &Taxii,
    store: &SqliteStore,
    incident: &Incident,
    collection: &str,
    choice: &Choice,
) -> Result<Status, PublishError> {
    let Some(organisation) = taxii
        .config
        .organisation
        .as_deref()
        .filter(|o| !o.trim().is_empty())
    else {
        return Err(PublishError::Invalid(
            "publishing needs taxii.organisation in the configuration".into(),
        ));
    };
    let Some(target) = taxii.config.collection(collection) else {
        return Err(PublishError::NotFound(format!(
            "no collection {collection}"
        )));
    };
    let mut options = ExportOptions::new(organisation);
    options.tlp = choice.tlp;
    options.redaction = choice.redaction;
    let alerts = store.alerts_of(&incident.id)?;
    let audit = store.audit_of(&incident.id)?;
    let bundle = tocsin_stix::export(incident, &alerts, &audit, &options)?;
    let objects = match bundle.get("objects") {
        Some(serde_json::Value::Array(objects)) => objects.clone(),
        _ => Vec::new(),
    };
    let now = tocsin_taxii::time::now_micros();
    Ok(taxii.store.add_objects(&target.uuid(), &objects, now)?)
}

/// `POST /api/v1/incidents/{id}/publish` once authorised: publishes the incident `id`
/// names and records it in its audit trail, by `actor`.
pub fn publish_by_hand(
    taxii: &Taxii,
    store_path: &Path,
    id: &str,
    request: &PublishRequest,
    actor: &str,
) -> Result<Status, PublishError> {
    let choice =
        Choice::parse(request.tlp.as_deref(), &request.redact).map_err(PublishError::Invalid)?;
    let store = SqliteStore::open_read_only(store_path)?;
    let id = resolve(&store, id)?;
    let incident = store.incident(&id)?.ok_or(ChangeError::NotFound)?;
    let status = publish_incident(taxii, &store, &incident, &request.collection, &choice)?;
    drop(store);
    let text = format!(
        "published to the TAXII collection {} ({}): {} objects added, {} refused",
        request.collection, choice.tlp, status.success_count, status.failure_count
    );
    let record = ChangeRequest {
        action: Some(text),
        ..ChangeRequest::default()
    };
    apply(store_path, &id, &record, actor)?;
    Ok(status)
}

/// What the publishing watcher last published, in `publish.sqlite`.
pub struct Published {
    path: PathBuf,
    db: Mutex<Connection>,
}

impl Published {
    /// Opens or creates the record at `path`.
    pub fn open(path: &Path) -> Result<Published, rusqlite::Error> {
        let db = Connection::open(path)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS published (
                 collection TEXT NOT NULL, incident TEXT NOT NULL, fingerprint TEXT NOT NULL,
                 PRIMARY KEY (collection, incident));",
        )?;
        Ok(Published {
            path: path.to_path_buf(),
            db: Mutex::new(db),
        })
    }

    fn last(&self, collection: &str, incident: &str) -> Result<Option<String>, rusqlite::Error> {
        self.db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .query_row(
                "SELECT fingerprint FROM published WHERE collection = ?1 AND incident = ?2",
                [collection, incident],
                |row| row.get(0),
            )
            .optional()
    }

    fn remember(
        &self,
        collection: &str,
        incident: &str,
        fingerprint: &str,
    ) -> Result<(), rusqlite::Error> {
        self.db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .execute(
                "INSERT OR REPLACE INTO published (collection, incident, fingerprint) VALUES (?1, ?2, ?3)",
                params![collection, incident, fingerprint],
            )
            .map(drop)
    }
}

impl std::fmt::Debug for Published {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Published")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A fingerprint of an incident's state: when it changes, the incident is published again.
fn fingerprint(incident: &Incident) -> String {
    let text = serde_json::to_string(incident).unwrap_or_default();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// One pass of the rule watcher over the store's incidents: publishes what a rule matches
/// and has not been published in its current state; how many were published.
pub fn publish_by_rules(
    taxii: &Taxii,
    published: &Published,
    store_path: &Path,
) -> Result<usize, String> {
    if taxii.config.publish.is_empty() {
        return Ok(0);
    }
    let store = SqliteStore::open_read_only(store_path).map_err(|e| e.to_string())?;
    let incidents = store
        .list_incidents(&tocsin_incident::IncidentFilter::default())
        .map_err(|e| e.to_string())?;
    let mut count = 0;
    for rule in &taxii.config.publish {
        let choice = Choice::parse(Some(&rule.tlp), &rule.redact)?;
        for incident in incidents.iter().filter(|incident| rule.matches(incident)) {
            let print = fingerprint(incident);
            let seen = published
                .last(&rule.collection, &incident.id)
                .map_err(|e| e.to_string())?;
            if seen.as_deref() == Some(print.as_str()) {
                continue;
            }
            match publish_incident(taxii, &store, incident, &rule.collection, &choice) {
                Ok(status) => tracing::info!(
                    incident = %incident.id, collection = %rule.collection,
                    objects = status.success_count, "published to TAXII"
                ),
                Err(error) => {
                    tracing::warn!(incident = %incident.id, %error, "cannot publish to TAXII");
                    continue;
                }
            }
            published
                .remember(&rule.collection, &incident.id, &print)
                .map_err(|e| e.to_string())?;
            count += 1;
        }
    }
    Ok(count)
}

/// `POST /api/v1/incidents/{id}/publish` (analyst or admin): publishes the incident to a
/// collection and answers the TAXII status of the add request; 404 for an unknown incident
/// or collection, 400 for a bad body or choice, 503 when TAXII is disabled.
pub async fn publish_route(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<AppState>>,
    headers: axum::http::HeaderMap,
    id: Result<axum::extract::Path<String>, axum::extract::rejection::PathRejection>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::Json<Status>, ApiError> {
    let token = authorize(&state, &headers, Permission::Respond).await?;
    let id = incident_id(id)?;
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let request: PublishRequest = json_object(&body).map_err(|error| {
        ApiError::bad_request(format!("the body is not a publication: {error}"))
    })?;
    let Some(taxii) = state.taxii.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the TAXII server is disabled",
        ));
    };
    let store_path = state.store_path.clone();
    let actor = actor(&token);
    let published = tokio::task::spawn_blocking(move || {
        publish_by_hand(&taxii, &store_path, &id, &request, &actor)
    })
    .await
    .map_err(|error| ApiError::internal("the publication failed", error))?;
    match published {
        Ok(status) => Ok(axum::Json(status)),
        Err(PublishError::Invalid(message)) => Err(ApiError::bad_request(message)),
        Err(PublishError::Export(error)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            error.to_string(),
        )),
        Err(PublishError::NotFound(message)) => Err(ApiError::new(StatusCode::NOT_FOUND, message)),
        Err(PublishError::Incident(error)) => Err(change_error(error)),
        Err(other) => Err(ApiError::internal("the publication failed", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_stix::Redact;

    #[test]
    fn redaction_rules_read_as_the_cli_reads_them() {
        assert_eq!(
            redaction_of(&["internal".into()]).unwrap(),
            Redaction::internal()
        );
        let mixed = redaction_of(&["hosts=drop".into(), "users=keep".into()]).unwrap();
        assert_eq!((mixed.hosts, mixed.users), (Redact::Drop, Redact::Keep));
        for bad in ["hosts", "hosts=burn", "cats=drop"] {
            assert!(redaction_of(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn rules_are_checked_against_the_configuration() {
        let config: TaxiiConfig = toml::from_str(
            "organisation = \"Example\"\n[[collections]]\nalias = \"cisa\"\n\
             [[publish]]\ncollection = \"cisa\"\nstatuses = [\"confirmed\"]\nredact = [\"internal\"]\n",
        )
        .unwrap();
        assert!(config.check().is_ok(), "{:?}", config.check());
        for (field, value) in [
            ("collection", "nope"),
            ("min_severity", "huge"),
            ("tlp", "purple"),
        ] {
            let mut bad = config.clone();
            let rule = &mut bad.publish[0];
            match field {
                "collection" => rule.collection = value.into(),
                "min_severity" => rule.min_severity = value.into(),
                _ => rule.tlp = value.into(),
            }
            assert!(bad.check().is_err(), "{field}");
        }
        let mut anonymous = config.clone();
        anonymous.organisation = None;
        assert!(anonymous.check().is_err());
    }
}
