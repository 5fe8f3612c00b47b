//! Webhooks: a POST to each configured URL when an incident opens, escalates (its severity
//! band rises) or changes status, so that alerts leave the box (a chat channel, a ticketing
//! system, a SOAR).
//!
//! A watcher compares the store's incidents with what it last saw (kept in
//! `webhooks.sqlite`, so a restart neither repeats nor forgets a notification) and puts a
//! delivery per subscribed hook in an outbox in the same transaction. Deliveries are sent
//! in order of creation with `X-Tocsin-Event`, `X-Tocsin-Delivery` and
//! `X-Tocsin-Signature: sha256=HEX` (HMAC-SHA256 of the body with the hook's secret, as
//! GitHub signs its webhooks); an answer other than 2xx, or none, is retried with
//! exponential back-off (2 s, 4 s, ... at most an hour) up to `max_attempts`, then marked
//! failed. Every attempt's error is kept and listed at `GET /api/v1/webhooks`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hmac::{Hmac, Mac};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use tocsin_incident::Incident;

use crate::ingest::now_micros;

/// A webhook as configured (`[[webhooks]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A name for listings.
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// The environment variable holding the HMAC secret (kept out of the configuration).
    pub secret_env: String,
    /// Which events: `opened`, `escalated`, `status` (all three by default).
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    /// Attempts before a delivery is marked failed.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
}

fn all_events() -> Vec<String> {
    vec!["opened".into(), "escalated".into(), "status".into()]
}

fn default_attempts() -> u32 {
    8
}

/// Why webhooks cannot be set up or recorded.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The configuration is wrong.
    #[error("webhook {name}: {message}")]
    Config {
        /// The hook.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The database failed.
    #[error("webhooks database {}: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
}

/// One delivery, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Its number (also sent as `X-Tocsin-Delivery`).
    pub id: i64,
    /// The hook's name.
    pub hook: String,
    /// `incident.opened`, `incident.escalated` or `incident.status_changed`.
    pub event: String,
    /// The incident.
    pub incident: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
}

/// What the watcher last saw of an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    band: String,
    status: String,
}

/// A delivery that is due: its id, hook, event, body and attempts so far.
type Due = (i64, String, String, String, u32);

/// A hook ready to send: its configuration and its secret.
struct Hook {
    config: WebhookConfig,
    secret: Vec<u8>,
}

/// The hooks, what was seen and the outbox.
pub struct Webhooks {
    hooks: Vec<Hook>,
    path: PathBuf,
    db: Mutex<Connection>,
    agent: ureq::Agent,
}

impl Webhooks {
    /// Opens (or creates) the database at `path`; every hook's secret must be set in its
    /// environment variable.
    pub fn open(path: &Path, configs: Vec<WebhookConfig>) -> Result<Webhooks, WebhookError> {
        let hooks = configs
            .into_iter()
            .map(hook_of)
            .collect::<Result<Vec<_>, _>>()?;
        let sqlite = |source| WebhookError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let db = Connection::open(path).map_err(sqlite)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS seen (incident TEXT PRIMARY KEY, band TEXT NOT NULL, status TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS outbox (
                 id INTEGER PRIMARY KEY, hook TEXT NOT NULL, event TEXT NOT NULL,
                 incident TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0, next_micros INTEGER NOT NULL,
                 last_error TEXT);",
        )
        .map_err(sqlite)?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Webhooks {
            hooks,
            path: path.to_path_buf(),
            db: Mutex::new(db),
            agent,
        })
    }

    /// Whether any hook is configured.
    pub fn any(&self) -> bool {
        !self.hooks.is_empty()
    }

    fn sqlite(&self, source: rusqlite::Error) -> WebhookError {
        WebhookError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Compares `incidents` with what was seen, queues the deliveries their changes call
    /// for and remembers them, in one transaction; returns how many were queued.
    pub fn watch(&self, incidents: &[Incident]) -> Result<usize, WebhookError> {
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let seen = load_seen(&db).map_err(|e| self.sqlite(e))?;
        let tx = db.transaction().map_err(|e| self.sqlite(e))?;
        let mut queued = 0;
        for incident in incidents {
            let now = Seen {
                band: text_of(&incident.severity.band),
                status: text_of(&incident.lifecycle.status),
            };
            let before = seen.get(&incident.id);
            if before == Some(&now) {
                continue;
            }
            for (event, kind) in events(before, &now) {
                queued += self
                    .enqueue(&tx, event, kind, incident, before)
                    .map_err(|e| self.sqlite(e))?;
            }
            tx.execute(
                "INSERT INTO seen (incident, band, status) VALUES (?1, ?2, ?3)
                 ON CONFLICT(incident) DO UPDATE SET band = ?2, status = ?3",
                params![incident.id, now.band, now.status],
            )
            .map_err(|e| self.sqlite(e))?;
        }
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(queued)
    }

    /// Puts one delivery per hook subscribed to `kind` in the outbox.
    fn enqueue(
        &self,
        tx: &rusqlite::Transaction<'_>,
        event: &str,
        kind: &str,
        incident: &Incident,
        before: Option<&Seen>,
    ) -> rusqlite::Result<usize> {
        let body = payload(event, incident, before).to_string();
        let mut queued = 0;
        for hook in self
            .hooks
            .iter()
            .filter(|h| h.config.events.iter().any(|e| e == kind))
        {
            tx.execute(
                "INSERT INTO outbox (hook, event, incident, body, state, next_micros)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
                params![hook.config.name, event, incident.id, body, now_micros()],
            )?;
            queued += 1;
        }
        Ok(queued)
    }

    /// Sends the deliveries that are due (blocking); returns how many were delivered.
    pub fn deliver_due(&self) -> Result<usize, WebhookError> {
        let due = self.due().map_err(|e| self.sqlite(e))?;
        let mut delivered = 0;
        for (id, hook_name, event, body, attempts) in due {
            let Some(hook) = self.hooks.iter().find(|h| h.config.name == hook_name) else {
                continue;
            };
            let outcome = self.send(hook, id, &event, &body);
            delivered += usize::from(outcome.is_ok());
            self.record(id, attempts + 1, hook.config.max_attempts, outcome)
                .map_err(|e| self.sqlite(e))?;
        }
        Ok(delivered)
    }

    /// Pending deliveries whose time has come, oldest first.
    fn due(&self) -> rusqlite::Result<Vec<Due>> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let mut statement = db.prepare(
            "SELECT id, hook, event, body, attempts FROM outbox
             WHERE state = 'pending' AND next_micros <= ?1 ORDER BY id LIMIT 100",
        )?;
        let rows = statement.query_map([now_micros()], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?;
        rows.collect()
    }

    /// One POST; `Err` with why when it was not accepted.
    fn send(&self, hook: &Hook, id: i64, event: &str, body: &str) -> Result<(), String> {
        let signature = sign(&hook.secret, body.as_bytes());
        let response = self
            .agent
            .post(&hook.config.url)
            .header("content-type", "application/json")
            .header("x-tocsin-event", event)
            .header("x-tocsin-delivery", id.to_string())
            .header("x-tocsin-signature", format!("sha256={signature}"))
            .send(body.as_bytes());
        match response {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("HTTP {}", response.status().as_u16())),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Records an attempt: delivered, retried later with back-off, or failed for good.
    fn record(
        &self,
        id: i64,
        attempts: u32,
        max_attempts: u32,
        outcome: Result<(), String>,
    ) -> rusqlite::Result<()> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(()) => db.execute(
                "UPDATE outbox SET state = 'delivered', attempts = ?2, last_error = NULL WHERE id = ?1",
                params![id, attempts],
            )?,
            Err(error) => {
                tracing::warn!(delivery = id, %error, "webhook delivery failed");
                let state = if attempts >= max_attempts { "failed" } else { "pending" };
                let next = now_micros().saturating_add(backoff_micros(attempts));
                db.execute(
                    "UPDATE outbox SET state = ?2, attempts = ?3, next_micros = ?4, last_error = ?5 WHERE id = ?1",
                    params![id, state, attempts, next, error],
                )?
            }
        };
        Ok(())
    }

    /// The latest deliveries, newest first.
    pub fn deliveries(&self, limit: usize) -> Result<Vec<Delivery>, WebhookError> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let mut statement = db
            .prepare(
                "SELECT id, hook, event, incident, state, attempts, last_error FROM outbox
                 ORDER BY id DESC LIMIT ?1",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([limit as i64], |row| {
                Ok(Delivery {
                    id: row.get(0)?,
                    hook: row.get(1)?,
                    event: row.get(2)?,
                    incident: row.get(3)?,
                    state: row.get(4)?,
                    attempts: row.get(5)?,
                    last_error: row.get(6)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }
}

fn hook_of(config: WebhookConfig) -> Result<Hook, WebhookError> {
    let bad = |message: String| WebhookError::Config {
        name: config.name.clone(),
        message,
    };
    if !config.url.starts_with("http://") && !config.url.starts_with("https://") {
        return Err(bad("url: http:// or https://".into()));
    }
    if let Some(event) = config
        .events
        .iter()
        .find(|e| !matches!(e.as_str(), "opened" | "escalated" | "status"))
    {
        return Err(bad(format!(
            "unknown event {event} (opened, escalated, status)"
        )));
    }
    let secret = std::env::var(&config.secret_env)
        .ok()
        .filter(|secret| !secret.is_empty())
        .ok_or_else(|| {
            bad(format!(
                "the environment variable {} holds no secret",
                config.secret_env
            ))
        })?;
    Ok(Hook {
        secret: secret.into_bytes(),
        config,
    })
}

fn load_seen(db: &Connection) -> rusqlite::Result<HashMap<String, Seen>> {
    let mut statement = db.prepare("SELECT incident, band, status FROM seen")?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            Seen {
                band: row.get(1)?,
                status: row.get(2)?,
            },
        ))
    })?;
    rows.collect()
}

/// The events a change from `before` to `now` raises, with the subscription kind of each.
fn events(before: Option<&Seen>, now: &Seen) -> Vec<(&'static str, &'static str)> {
    let Some(before) = before else {
        return vec![("incident.opened", "opened")];
    };
    let mut raised = Vec::new();
    if band_rank(&now.band) > band_rank(&before.band) {
        raised.push(("incident.escalated", "escalated"));
    }
    if now.status != before.status {
        raised.push(("incident.status_changed", "status"));
    }
    raised
}

fn band_rank(band: &str) -> u8 {
    match band {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 0,
    }
}

fn text_of(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn payload(event: &str, incident: &Incident, before: Option<&Seen>) -> Value {
    json!({
        "event": event,
        "sent_micros": now_micros(),
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "band": incident.severity.band,
            "score": incident.severity.score,
            "status": incident.lifecycle.status,
            "assignee": incident.lifecycle.assignee,
            "first_seen_micros": incident.first_seen_micros,
            "last_seen_micros": incident.last_seen_micros,
            "detections": incident.members.len(),
        },
        "previous": before.map(|seen| json!({ "band": seen.band, "status": seen.status })),
    })
}

/// HMAC-SHA256 of `body` with `secret`, in lowercase hex.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new(); // HMAC takes keys of any length
    };
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// 2 s after the first failure, doubling, at most an hour.
fn backoff_micros(attempts: u32) -> i64 {
    let seconds = 1i64 << attempts.min(12);
    seconds.min(3600) * 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn changes_raise_the_events_they_are() {
        let seen = |band: &str, status: &str| Seen {
            band: band.into(),
            status: status.into(),
        };
        assert_eq!(
            events(None, &seen("low", "new")),
            [("incident.opened", "opened")]
        );
        assert!(events(Some(&seen("high", "new")), &seen("medium", "new")).is_empty());
        assert_eq!(
            events(Some(&seen("medium", "new")), &seen("critical", "confirmed")),
            [
                ("incident.escalated", "escalated"),
                ("incident.status_changed", "status")
            ]
        );
        assert_eq!(backoff_micros(1), 2_000_000);
        assert_eq!(backoff_micros(30), 3_600_000_000);
    }
}
