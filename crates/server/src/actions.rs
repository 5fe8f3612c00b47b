//! Response actions: what an analyst runs on an incident to contain it (revoke an API key
//! at the vendor's API, disable an account), defined in the configuration as an HTTP call
//! with a templated URL and body or a local command, optionally needing a second person's
//! approval. Every request, approval and result goes into the incident's audit trail with
//! who did it; runs are kept in `actions.sqlite` in the data folder.
//!
//! # Templates
//!
//! `{{incident.id}}`, `{{incident.title}}`, `{{incident.band}}`, `{{entity.KIND}}` (the
//! entity of that kind the incident's detections name most: `host`, `user`, `account`,
//! `api_key`, `source_ip`) and `{{param.NAME}}` (given with the request). A value goes into
//! a URL percent-encoded, into a JSON body as JSON string content, into a command as one
//! argument (no shell). A variable without a value refuses the run before anything is
//! sent. Header values may name environment variables (`${VENDOR_TOKEN}`), so secrets stay
//! out of the configuration file.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use tocsin_incident::{EntityKind, Incident};

use crate::ingest::now_micros;

/// A response action as configured (`[[actions]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// How analysts name it (letters, digits, `-`, `_`).
    pub name: String,
    /// What it does, for analysts.
    #[serde(default)]
    pub description: String,
    /// Whether a second person must approve a run before it happens.
    #[serde(default)]
    pub approval: bool,
    /// How long a run may take, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// An HTTP call.
    #[serde(default)]
    pub http: Option<HttpAction>,
    /// A local command: the program and its arguments (templates allowed), run without a
    /// shell.
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

fn default_timeout() -> u64 {
    10
}

/// An HTTP call of an action.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAction {
    /// The URL (templates percent-encoded).
    pub url: String,
    /// The method; POST by default.
    #[serde(default = "default_method")]
    pub method: String,
    /// Headers; values may name environment variables as `${NAME}` (never logged).
    #[serde(default)]
    #[serde(skip_serializing)]
    pub headers: BTreeMap<String, String>,
    /// The body (templates as JSON string content); sent as `application/json`.
    #[serde(default)]
    pub body: String,
}

fn default_method() -> String {
    "POST".into()
}

/// Why an action cannot be configured, requested or run.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The configuration is wrong.
    #[error("action {name}: {message}")]
    Config {
        /// The action.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// No action or run by that name.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out (a template without a value, the requester
    /// approving their own run, a run already decided).
    #[error("{0}")]
    Refused(String),
    /// The runs' database failed.
    #[error("actions database {}: {source}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
}

/// Checks the configured actions: names unique and well formed, one kind each.
pub fn check(actions: &[ActionConfig]) -> Result<(), ActionError> {
    let mut seen = std::collections::BTreeSet::new();
    for action in actions {
        let bad = |message: &str| ActionError::Config {
            name: action.name.clone(),
            message: message.to_owned(),
        };
        let well_formed = !action.name.is_empty()
            && action.name.len() <= 64
            && action
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(bad("a name is 1 to 64 letters, digits, - or _"));
        }
        if !seen.insert(action.name.as_str()) {
            return Err(bad("defined twice"));
        }
        match (&action.http, &action.command) {
            (Some(_), None) => {}
            (None, Some(command)) if !command.is_empty() => {}
            _ => return Err(bad("give exactly one of http or a non-empty command")),
        }
    }
    Ok(())
}

/// A run of an action, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    /// Its number.
    pub id: i64,
    /// The incident.
    pub incident: String,
    /// The action.
    pub action: String,
    /// `awaiting-approval`, `succeeded` or `failed`.
    pub state: String,
    /// Who asked for it.
    pub requested_by: String,
    /// Who approved it, if it needed approval.
    pub approved_by: Option<String>,
    /// What happened (the HTTP status or exit code, and the start of the answer).
    pub result: Option<String>,
    /// The parameters given.
    pub params: BTreeMap<String, String>,
}

/// The configured actions and their runs.
pub struct Actions {
    actions: Vec<ActionConfig>,
    path: PathBuf,
    db: Mutex<Connection>,
}

impl Actions {
    /// Opens (or creates) the runs' database at `path`.
    pub fn open(path: &Path, actions: Vec<ActionConfig>) -> Result<Actions, ActionError> {
        check(&actions)?;
        let sqlite = |source| ActionError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let db = Connection::open(path).map_err(sqlite)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS runs (
                 id INTEGER PRIMARY KEY, incident TEXT NOT NULL, action TEXT NOT NULL,
                 params TEXT NOT NULL, state TEXT NOT NULL, requested_by TEXT NOT NULL,
                 requested_micros INTEGER NOT NULL, approved_by TEXT, result TEXT,
                 finished_micros INTEGER);",
        )
        .map_err(sqlite)?;
        Ok(Actions {
            actions,
            path: path.to_path_buf(),
            db: Mutex::new(db),
        })
    }

    /// The configured actions.
    pub fn configured(&self) -> &[ActionConfig] {
        &self.actions
    }

    fn sqlite(&self, source: rusqlite::Error) -> ActionError {
        ActionError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The action named `name`.
    pub fn action(&self, name: &str) -> Result<&ActionConfig, ActionError> {
        self.actions
            .iter()
            .find(|action| action.name == name)
            .ok_or_else(|| ActionError::NotFound(format!("no action {name}")))
    }

    /// Records a run asked for by `requester`; it waits for approval if the action needs
    /// it, else the caller runs it at once with [`Actions::execute`].
    pub fn request(
        &self,
        incident: &Incident,
        name: &str,
        params: BTreeMap<String, String>,
        requester: &str,
    ) -> Result<Run, ActionError> {
        let action = self.action(name)?;
        render_all(action, incident, &params)?; // refuse a run that could not be sent
        let state = match action.approval {
            true => "awaiting-approval",
            false => "running",
        };
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let encoded = serde_json::to_string(&params).unwrap_or_default();
        db.execute(
            "INSERT INTO runs (incident, action, params, state, requested_by, requested_micros)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![incident.id, name, encoded, state, requester, now_micros()],
        )
        .map_err(|e| self.sqlite(e))?;
        let id = db.last_insert_rowid();
        drop(db);
        self.run(id)
    }

    /// Approves run `id` as `approver`, who must not be its requester.
    pub fn approve(&self, id: i64, approver: &str) -> Result<Run, ActionError> {
        let run = self.run(id)?;
        if run.state != "awaiting-approval" {
            return Err(ActionError::Refused(format!(
                "run {id} is {} already",
                run.state
            )));
        }
        if run.requested_by == approver {
            return Err(ActionError::Refused(
                "a run is approved by someone other than who asked for it".into(),
            ));
        }
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let changed = db
            .execute(
                "UPDATE runs SET state = 'running', approved_by = ?2
                 WHERE id = ?1 AND state = 'awaiting-approval'",
                params![id, approver],
            )
            .map_err(|e| self.sqlite(e))?;
        drop(db);
        if changed == 0 {
            return Err(ActionError::Refused(format!(
                "run {id} was decided meanwhile"
            )));
        }
        self.run(id)
    }

    /// Carries out a run that is `running` (blocking, at most the action's timeout) and
    /// stores its result.
    pub fn execute(&self, run: &Run, incident: &Incident) -> Result<Run, ActionError> {
        let action = self.action(&run.action)?;
        let outcome = match render_all(action, incident, &run.params) {
            Ok(rendered) => carry_out(action, rendered),
            Err(error) => Err(error.to_string()),
        };
        let (state, result) = match outcome {
            Ok(text) => ("succeeded", text),
            Err(text) => ("failed", text),
        };
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        db.execute(
            "UPDATE runs SET state = ?2, result = ?3, finished_micros = ?4 WHERE id = ?1",
            params![run.id, state, result, now_micros()],
        )
        .map_err(|e| self.sqlite(e))?;
        drop(db);
        self.run(run.id)
    }

    /// One run.
    pub fn run(&self, id: i64) -> Result<Run, ActionError> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        db.query_row(
            &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
            [id],
            run_of_row,
        )
        .optional()
        .map_err(|e| self.sqlite(e))?
        .ok_or_else(|| ActionError::NotFound(format!("no run {id}")))
    }

    /// The latest runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<Run>, ActionError> {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let mut statement = db
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?1"
            ))
            .map_err(|e| self.sqlite(e))?;
        let rows = statement
            .query_map([limit as i64], run_of_row)
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }
}

const RUN_COLUMNS: &str = "id, incident, action, state, requested_by, approved_by, result, params";

fn run_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Run> {
    let params: String = row.get(7)?;
    Ok(Run {
        id: row.get(0)?,
        incident: row.get(1)?,
        action: row.get(2)?,
        state: row.get(3)?,
        requested_by: row.get(4)?,
        approved_by: row.get(5)?,
        result: row.get(6)?,
        params: serde_json::from_str(&params).unwrap_or_default(),
    })
}

/// An action with its templates filled.
enum Rendered {
    Http {
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: String,
    },
    Command(Vec<String>),
}

/// How a template value is written where it goes.
#[derive(Clone, Copy)]
enum Escape {
    Url,
    Json,
    Raw,
}

fn render_all(
    action: &ActionConfig,
    incident: &Incident,
    params: &BTreeMap<String, String>,
) -> Result<Rendered, ActionError> {
    let fill = |text: &str, escape| render(text, incident, params, escape);
    if let Some(http) = &action.http {
        let headers = http
            .headers
            .iter()
            .map(|(name, value)| Ok((name.clone(), expand_env(value)?)))
            .collect::<Result<_, ActionError>>()?;
        return Ok(Rendered::Http {
            method: http.method.clone(),
            url: fill(&http.url, Escape::Url)?,
            headers,
            body: fill(&http.body, Escape::Json)?,
        });
    }
    let command = action.command.as_deref().unwrap_or_default();
    let args = command
        .iter()
        .map(|arg| fill(arg, Escape::Raw))
        .collect::<Result<_, _>>()?;
    Ok(Rendered::Command(args))
}

/// Fills `{{...}}` in `text`.
fn render(
    text: &str,
    incident: &Incident,
    params: &BTreeMap<String, String>,
    escape: Escape,
) -> Result<String, ActionError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| ActionError::Refused(format!("an unclosed {{{{ in {text}")))?;
        let name = after[..end].trim();
        let value = value_of(name, incident, params).ok_or_else(|| {
            ActionError::Refused(format!(
                "the template variable {name} has no value for {}",
                incident.id
            ))
        })?;
        out.push_str(&escaped(&value, escape));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn value_of(name: &str, incident: &Incident, params: &BTreeMap<String, String>) -> Option<String> {
    if let Some(param) = name.strip_prefix("param.") {
        return params.get(param).cloned();
    }
    if let Some(kind) = name.strip_prefix("entity.") {
        let kind = entity_kind(kind)?;
        return incident
            .entities
            .iter()
            .find(|counted| counted.entity.kind == kind)
            .map(|counted| counted.entity.value.clone());
    }
    match name {
        "incident.id" => Some(incident.id.clone()),
        "incident.title" => Some(incident.title.clone()),
        "incident.band" => serde_json::to_value(incident.severity.band)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned)),
        _ => None,
    }
}

fn entity_kind(name: &str) -> Option<EntityKind> {
    Some(match name {
        "host" => EntityKind::Host,
        "user" => EntityKind::User,
        "account" => EntityKind::Account,
        "api_key" => EntityKind::ApiKey,
        "source_ip" => EntityKind::SourceIp,
        _ => return None,
    })
}

fn escaped(value: &str, escape: Escape) -> String {
    match escape {
        Escape::Url => form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        Escape::Json => {
            let quoted = serde_json::Value::from(value).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        }
        Escape::Raw => value.to_owned(),
    }
}

/// `${NAME}` replaced by the environment variable's value.
fn expand_env(value: &str) -> Result<String, ActionError> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| ActionError::Refused("an unclosed ${ in a header".into()))?;
        let name = &after[..end];
        let found = std::env::var(name).map_err(|_| {
            ActionError::Refused(format!(
                "the environment variable {name} a header names is not set"
            ))
        })?;
        out.push_str(&found);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The most bytes of an answer or output kept in a run's result.
const KEPT_OUTPUT: usize = 500;

fn carry_out(action: &ActionConfig, rendered: Rendered) -> Result<String, String> {
    let timeout = Duration::from_secs(action.timeout_seconds.max(1));
    match rendered {
        Rendered::Http {
            method,
            url,
            headers,
            body,
        } => call(&method, &url, &headers, body, timeout),
        Rendered::Command(args) => execute_command(&args, timeout),
    }
}

fn call(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: String,
    timeout: Duration,
) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let method = ureq::http::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request
        .header("content-type", "application/json")
        .body(body)
        .map_err(|e| e.to_string())?;
    let mut response = agent.run(request).map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default();
    let summary = format!("HTTP {status}: {}", cut(&text));
    match (200..300).contains(&status) {
        true => Ok(summary),
        false => Err(summary),
    }
}

fn execute_command(args: &[String], timeout: Duration) -> Result<String, String> {
    let Some((program, rest)) = args.split_first() else {
        return Err("no program".into());
    };
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{program}: killed after {} s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = (&mut stdout).take(64 << 10).read_to_string(&mut output);
    }
    let summary = format!(
        "exit {}: {}",
        status.code().unwrap_or(-1),
        cut(output.trim())
    );
    match status.success() {
        true => Ok(summary),
        false => Err(summary),
    }
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(KEPT_OUTPUT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_incident::{Entity, EntityCount};

    fn incident() -> Incident {
        let mut incident: Incident = serde_json::from_value(serde_json::json!({
            "id": "INC-1", "title": "Key \"k\" & more", "first_seen_micros": null,
            "last_seen_micros": null, "entities": [], "members": [],
            "attack": {"tactics": [], "techniques": [], "references": []},
            "severity": {"score": 80, "band": "high", "level_points": 0, "tactic_points": 0,
                         "host_points": 0, "correlation_points": 0},
            "timeline": [],
            "lifecycle": {"status": "new", "resolution": null, "assignee": null, "notes": [], "actions": []}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        incident.entities.push(EntityCount {
            entity: Entity {
                kind: EntityKind::ApiKey,
                value: "k/1 2".into(),
            },
            alerts: 3,
        });
        incident
    }

    #[test]
    fn templates_escape_for_where_they_go() {
        let incident = incident();
        let params = BTreeMap::from([("why".to_string(), "stolen".to_string())]);
        let url = render(
            "https://v/keys/{{entity.api_key}}?r={{param.why}}",
            &incident,
            &params,
            Escape::Url,
        )
        .unwrap();
        assert_eq!(url, "https://v/keys/k%2F1+2?r=stolen");
        let body = render(
            r#"{"t": "{{incident.title}}", "b": "{{incident.band}}"}"#,
            &incident,
            &params,
            Escape::Json,
        )
        .unwrap();
        assert_eq!(body, r#"{"t": "Key \"k\" & more", "b": "high"}"#);
        let missing = render("{{entity.user}}", &incident, &params, Escape::Raw).unwrap_err();
        assert!(missing.to_string().contains("entity.user"));
    }

    #[test]
    fn a_run_needing_approval_waits_for_another_person() {
        let dir = tempfile::tempdir().unwrap();
        let action = ActionConfig {
            name: "note".into(),
            description: String::new(),
            approval: true,
            timeout_seconds: 5,
            http: None,
            command: Some(vec!["echo".into(), "{{incident.id}}".into()]),
        };
        let actions = Actions::open(&dir.path().join("a.sqlite"), vec![action]).unwrap();
        let incident = incident();
        let run = actions
            .request(&incident, "note", BTreeMap::new(), "alice")
            .unwrap();
        assert_eq!(run.state, "awaiting-approval");
        assert!(actions.approve(run.id, "alice").is_err());
        let approved = actions.approve(run.id, "bob").unwrap();
        let done = actions.execute(&approved, &incident).unwrap();
        assert_eq!(
            (done.state.as_str(), done.result.as_deref()),
            ("succeeded", Some("exit 0: INC-1"))
        );
        assert_eq!(done.approved_by.as_deref(), Some("bob"));
        assert!(actions.approve(run.id, "carol").is_err());
        assert_eq!(actions.runs(10).unwrap().len(), 1);
    }

    #[test]
    fn configurations_are_checked() {
        let mut action = ActionConfig {
            name: "bad name".into(),
            description: String::new(),
            approval: false,
            timeout_seconds: 5,
            http: None,
            command: Some(vec!["true".into()]),
        };
        assert!(check(std::slice::from_ref(&action)).is_err());
        action.name = "ok".into();
        assert!(check(&[action.clone(), action.clone()]).is_err());
        action.command = None;
        assert!(check(&[action]).is_err());
    }
}
