//! [`Alert`]: one detection from any source (Sigma rule, correlation, behavioural anomaly),
//! reduced to what grouping, scoring and reports need, with a stable key so that storing the
//! same detection twice is recognised.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tocsin_event::Event;

use crate::entities::{extract_entities, Entity};
use crate::error::ParseError;

/// At most this many fields of the source event are kept as evidence.
pub const MAX_EVIDENCE_FIELDS: usize = 64;
/// At most this many characters of one evidence value are kept (longer ones end with `…`).
pub const MAX_EVIDENCE_CHARS: usize = 1024;

/// What produced an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// A Sigma detection rule matched one event.
    Sigma,
    /// A Sigma correlation rule fired over several events.
    Correlation,
    /// A behavioural detector found something unusual against its learned baseline.
    Anomaly,
}

impl AlertKind {
    /// The lowercase name used in keys, storage and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Sigma => "sigma",
            AlertKind::Correlation => "correlation",
            AlertKind::Anomaly => "anomaly",
        }
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AlertKind {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "sigma" => Ok(AlertKind::Sigma),
            "correlation" => Ok(AlertKind::Correlation),
            "anomaly" => Ok(AlertKind::Anomaly),
            _ => Err(ParseError {
                what: "alert kind",
                found: text.to_owned(),
                expected: "sigma, correlation, anomaly",
            }),
        }
    }
}

pub use tocsin_event::{Level, RuleRef};

/// Where the event behind an alert was read: enough to find it again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct AlertOrigin {
    /// The source file (or `-` for standard input). `tocsin hunt` names files by their
    /// canonical absolute path, so the same file has the same source whichever way its path
    /// was typed and from whichever folder.
    pub source: String,
    /// The record number or line in that source.
    pub record: u64,
}

/// One detection, from any source, ready to be grouped, stored and reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable key (see [`alert_key`]): the same detection of the same record always gets the
    /// same key, so rerunning a hunt stores nothing twice.
    pub key: String,
    /// What produced the alert.
    pub kind: AlertKind,
    /// The rule or detector that fired.
    pub rule: RuleRef,
    /// When the event happened, in microseconds since the Unix epoch (UTC), if known.
    pub timestamp_micros: Option<i64>,
    /// Where the event was read.
    pub origin: AlertOrigin,
    /// The hosts, users, accounts, API keys and source addresses the event names.
    pub entities: Vec<Entity>,
    /// Why a behavioural detector found this unusual (empty for rule matches).
    pub explanation: Option<String>,
    /// The event's fields as (name, text) pairs in document order, capped at
    /// [`MAX_EVIDENCE_FIELDS`] fields of [`MAX_EVIDENCE_CHARS`] characters.
    pub evidence: Vec<(String, String)>,
}

impl Alert {
    /// Builds an alert, computing its stable key from `kind`, the rule, the origin (as an
    /// [`EventIdentity::Position`]) and the timestamp. [`Alert::keyed_by`] keys it by an
    /// event's own identity instead.
    pub fn new(
        kind: AlertKind,
        rule: RuleRef,
        origin: AlertOrigin,
        timestamp_micros: Option<i64>,
        entities: Vec<Entity>,
        evidence: Vec<(String, String)>,
    ) -> Self {
        let identity = EventIdentity::Position {
            source: origin.source.clone(),
            record: origin.record,
        };
        let key = alert_key(kind, &rule, &identity, timestamp_micros);
        Alert {
            key,
            kind,
            rule,
            timestamp_micros,
            origin,
            entities,
            explanation: None,
            evidence: cap_evidence(evidence),
        }
    }

    /// Builds an alert for `rule` matching `event`: the origin and time come from the event,
    /// the entities from the field names listed in [`crate::entities`], the evidence from all
    /// its fields.
    pub fn from_event(kind: AlertKind, rule: RuleRef, event: &Event) -> Self {
        let origin = AlertOrigin {
            source: event.origin.source.to_string(),
            record: event.origin.record,
        };
        let evidence = event
            .fields
            .iter()
            .take(MAX_EVIDENCE_FIELDS)
            .map(|field| {
                (
                    field.name().to_owned(),
                    field.value.as_field_value().to_string(),
                )
            })
            .collect();
        Alert::new(
            kind,
            rule,
            origin,
            event.timestamp_micros,
            extract_entities(event),
            evidence,
        )
        .keyed_by(event)
    }

    /// The same alert keyed by `event`'s own identity ([`EventIdentity::of`]) rather than by
    /// its origin alone: what a detection built from several events (a correlation hit) uses
    /// with its first event.
    pub fn keyed_by(mut self, event: &Event) -> Self {
        let identity = EventIdentity::of(event);
        self.key = alert_key(self.kind, &self.rule, &identity, self.timestamp_micros);
        self
    }

    /// The same alert with a behavioural detector's explanation of what was unusual.
    pub fn with_explanation(mut self, explanation: impl Into<String>) -> Self {
        self.explanation = Some(explanation.into());
        self
    }

    /// A short form of the key (its first 12 characters), for messages and reports.
    pub fn short_key(&self) -> &str {
        self.key.get(..12).unwrap_or(&self.key)
    }
}

/// The version of the alert key scheme ([`alert_key`]). A store remembers the scheme of the
/// keys it holds, so that a hunt into a store keyed differently is refused instead of
/// storing every detection a second time. Version 1 (tocsin before it) hashed the rule id
/// and the source path as typed; version 2 hashes the rule's id and title and the
/// [`EventIdentity`].
pub const ALERT_KEY_SCHEME: u32 = 2;

/// The name of the store blob that records the [`ALERT_KEY_SCHEME`] of the detections a
/// store holds (decimal text); absent in a store that holds none yet.
pub const KEY_SCHEME_BLOB: &str = "alert-key-scheme";

/// What identifies the event behind a detection, independently of how its file was named.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventIdentity {
    /// A Windows event, by the identity Windows gives it: the computer, the channel and the
    /// channel's record number (`Event.System.EventRecordID`). The same event read from the
    /// `.evtx` file, an export of it or its JSON rendering is the same detection.
    Windows {
        /// `Event.System.Computer`.
        computer: String,
        /// `Event.System.Channel`.
        channel: String,
        /// `Event.System.EventRecordID`.
        record_id: String,
    },
    /// An event of standard input (no file to name): its position in the stream and a digest
    /// of its fields, so that two different streams do not share keys.
    Stdin {
        /// The record number or line in the stream.
        record: u64,
        /// The SHA-256 of the event's field names and values, in hex.
        content: String,
    },
    /// Any other event: its source (the canonical absolute path `tocsin hunt` gives it) and
    /// its record number or line there.
    Position {
        /// The source file.
        source: String,
        /// The record number or line.
        record: u64,
    },
}

impl EventIdentity {
    /// The identity of `event`: Windows when it has a computer, a channel and a record id;
    /// otherwise its position, with a digest of its content when it came from standard input.
    pub fn of(event: &Event) -> Self {
        let system = |name: &str| event.text(&format!("Event.System.{name}"));
        if let (Some(computer), Some(channel), Some(record_id)) = (
            system("Computer"),
            system("Channel"),
            system("EventRecordID"),
        ) {
            return EventIdentity::Windows {
                computer: computer.to_lowercase(),
                channel,
                record_id,
            };
        }
        if &*event.origin.source == "-" {
            return EventIdentity::Stdin {
                record: event.origin.record,
                content: content_digest(event),
            };
        }
        EventIdentity::Position {
            source: event.origin.source.to_string(),
            record: event.origin.record,
        }
    }

    /// The parts hashed into a key, tagged so that identities of two kinds never meet.
    fn parts(&self) -> Vec<String> {
        match self {
            EventIdentity::Windows {
                computer,
                channel,
                record_id,
            } => vec![
                "windows".into(),
                computer.clone(),
                channel.clone(),
                record_id.clone(),
            ],
            EventIdentity::Stdin { record, content } => {
                vec!["stdin".into(), record.to_string(), content.clone()]
            }
            EventIdentity::Position { source, record } => {
                vec!["file".into(), source.clone(), record.to_string()]
            }
        }
    }
}

/// The SHA-256 of an event's field names and values, in hex.
fn content_digest(event: &Event) -> String {
    let mut hasher = Sha256::new();
    for field in &event.fields {
        hasher.update(field.path.as_bytes());
        hasher.update([0u8]);
        hasher.update(field.value.as_field_value().to_string().as_bytes());
        hasher.update([0u8]);
    }
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stable key of a detection (scheme [`ALERT_KEY_SCHEME`]): the first 32 hex digits of
/// the SHA-256 of the kind, the rule's id and title, the event's identity and the
/// timestamp, separated by NUL bytes so that no two different inputs share a key by
/// concatenation. The title is part of the rule's identity because two rules may share an
/// id (a copied rule whose id was not changed): each keeps its own detections. Retitling a
/// rule therefore keys its detections anew; its level, tags or detection logic do not.
pub fn alert_key(
    kind: AlertKind,
    rule: &RuleRef,
    identity: &EventIdentity,
    timestamp_micros: Option<i64>,
) -> String {
    let mut hasher = Sha256::new();
    let timestamp = timestamp_micros.map_or_else(|| "-".to_owned(), |t| t.to_string());
    let identity = identity.parts();
    let parts = [kind.as_str(), rule.id.as_str(), rule.title.as_str()]
        .into_iter()
        .chain(identity.iter().map(String::as_str))
        .chain([timestamp.as_str()]);
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex(&hasher.finalize()[..16])
}

/// Keeps at most [`MAX_EVIDENCE_FIELDS`] pairs and cuts each value to
/// [`MAX_EVIDENCE_CHARS`] characters.
fn cap_evidence(mut evidence: Vec<(String, String)>) -> Vec<(String, String)> {
    evidence.truncate(MAX_EVIDENCE_FIELDS);
    for (_, value) in &mut evidence {
        if let Some((cut, _)) = value.char_indices().nth(MAX_EVIDENCE_CHARS) {
            value.truncate(cut);
            value.push('…');
        }
    }
    evidence
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::EntityKind;
    use tocsin_event::{Origin, Value};

    fn rule() -> RuleRef {
        RuleRef {
            id: "rule-1".into(),
            title: "Suspicious PowerShell".into(),
            level: Level::High,
            tags: vec!["attack.execution".into()],
            author: Some("someone".into()),
        }
    }

    fn event(record: u64) -> Event {
        let mut event = Event {
            origin: Origin {
                source: "a.evtx".into(),
                record,
            },
            timestamp_micros: Some(1_700_000_000_000_000),
            ..Event::default()
        };
        event.push("Event.System.Computer", "Computer", Value::from("WS-042"));
        event.push("Event.EventData.User", "User", Value::from("CORP\\Alice"));
        event.push(
            "Event.EventData.CommandLine",
            "CommandLine",
            Value::from("powershell -enc AAAA"),
        );
        event
    }

    #[test]
    fn same_detection_gets_same_key_and_different_records_differ() {
        let a = Alert::from_event(AlertKind::Sigma, rule(), &event(7));
        let b = Alert::from_event(AlertKind::Sigma, rule(), &event(7));
        let c = Alert::from_event(AlertKind::Sigma, rule(), &event(8));
        let d = Alert::from_event(AlertKind::Correlation, rule(), &event(7));
        assert_eq!(a.key, b.key);
        assert_ne!(a.key, c.key);
        assert_ne!(a.key, d.key);
        assert_eq!(a.key.len(), 32);
    }

    /// Issue 20, finding 11: two rules sharing an id both keep their detection of a record.
    #[test]
    fn rules_sharing_an_id_get_different_keys() {
        let copy = RuleRef {
            title: "Encoded PowerShell".into(),
            ..rule()
        };
        let a = Alert::from_event(AlertKind::Sigma, rule(), &event(7));
        let b = Alert::from_event(AlertKind::Sigma, copy, &event(7));
        assert_ne!(a.key, b.key);
        let relevelled = RuleRef {
            level: Level::Low,
            ..rule()
        };
        let c = Alert::from_event(AlertKind::Sigma, relevelled, &event(7));
        assert_eq!(a.key, c.key);
    }

    #[test]
    fn key_parts_do_not_run_together() {
        let origin = |source: &str, record| EventIdentity::Position {
            source: source.into(),
            record,
        };
        let rule = |id: &str| RuleRef {
            id: id.into(),
            ..RuleRef::default()
        };
        let a = alert_key(AlertKind::Sigma, &rule("r1"), &origin("x", 12), None);
        let b = alert_key(AlertKind::Sigma, &rule("r"), &origin("1x", 12), None);
        assert_ne!(a, b);
    }

    fn windows_event(source: &str, record: u64) -> Event {
        let mut event = event(record);
        event.origin.source = source.into();
        event.push("Event.System.Channel", "Channel", Value::from("Security"));
        event.push(
            "Event.System.EventRecordID",
            "EventRecordID",
            Value::from(7),
        );
        event
    }

    #[test]
    fn a_windows_event_is_keyed_by_its_own_identity_not_its_file() {
        let evtx = Alert::from_event(AlertKind::Sigma, rule(), &windows_event("a.evtx", 7));
        let export = Alert::from_event(AlertKind::Sigma, rule(), &windows_event("/x/b.json", 1));
        assert_eq!(evtx.key, export.key);
        let mut other = windows_event("a.evtx", 7);
        other
            .fields
            .retain(|f| &*f.path != "Event.System.EventRecordID");
        other.push(
            "Event.System.EventRecordID",
            "EventRecordID",
            Value::from(8),
        );
        let other = Alert::from_event(AlertKind::Sigma, rule(), &other);
        assert_ne!(evtx.key, other.key);
    }

    #[test]
    fn other_events_are_keyed_by_source_and_record_and_stdin_by_content() {
        let mut a = event(7);
        a.origin.source = "/logs/a.jsonl".into();
        let mut b = a.clone();
        b.origin.source = "/logs/b.jsonl".into();
        let key = |e: &Event| Alert::from_event(AlertKind::Sigma, rule(), e).key;
        assert_ne!(key(&a), key(&b));
        let mut stdin = a.clone();
        stdin.origin.source = "-".into();
        let mut other_stream = stdin.clone();
        other_stream.push("Extra", "Extra", Value::from("x"));
        assert_eq!(key(&stdin), key(&stdin.clone()));
        assert_ne!(key(&stdin), key(&other_stream));
    }

    #[test]
    fn from_event_keeps_evidence_and_entities() {
        let alert = Alert::from_event(AlertKind::Sigma, rule(), &event(7));
        assert_eq!(alert.origin.record, 7);
        assert_eq!(alert.evidence[0], ("Computer".into(), "WS-042".into()));
        assert_eq!(alert.evidence.len(), 3);
        assert!(alert
            .entities
            .iter()
            .any(|e| e.kind == EntityKind::Host && e.value == "ws-042"));
    }

    #[test]
    fn evidence_is_capped_on_character_boundaries() {
        let long = "é".repeat(MAX_EVIDENCE_CHARS + 10);
        let many = (0..MAX_EVIDENCE_FIELDS + 5)
            .map(|i| (format!("f{i}"), long.clone()))
            .collect();
        let alert = Alert::new(
            AlertKind::Anomaly,
            rule(),
            AlertOrigin::default(),
            None,
            Vec::new(),
            many,
        );
        assert_eq!(alert.evidence.len(), MAX_EVIDENCE_FIELDS);
        assert_eq!(alert.evidence[0].1.chars().count(), MAX_EVIDENCE_CHARS + 1);
        assert!(alert.evidence[0].1.ends_with('…'));
    }
}
