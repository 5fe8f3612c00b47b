//! [`DetectionRecord`]: one detection flattened into the columns every printer shows.

use std::sync::Arc;

use serde_json::Value as Json;
use tocsin_event::time::format_machine;
use tocsin_event::{Event, Field, FieldValue, Fields, RuleRef, Value};

use crate::Details;

/// The longest string value (in bytes) kept in [`DetectionRecord::details`]; longer text is
/// cut at a character boundary and ends with `…`.
pub const MAX_DETAIL_BYTES: usize = 4096;

/// The marker appended to truncated text.
pub(crate) const ELLIPSIS: char = '…';

/// Path prefix of the Windows `System` block, whose fields have their own columns.
const SYSTEM_PREFIX: &str = "Event.System.";

/// Path prefixes of the event-specific blocks of a Windows event.
const DATA_PREFIXES: [&str; 2] = ["Event.EventData.", "Event.UserData."];

/// One detection: which rule matched which event, reduced to the columns the printers show.
///
/// The field names are a stable interface: they are the JSON Lines keys and the CSV
/// header, in this order.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionRecord {
    /// When the event happened, RFC 3339 in UTC with a `Z` suffix; microseconds are shown
    /// only when they are not zero.
    pub timestamp: Option<String>,
    /// The `Computer` field.
    pub computer: Option<String>,
    /// The `Channel` field.
    pub channel: Option<String>,
    /// The `EventID` field, when it is an integer or integer text.
    pub event_id: Option<i64>,
    /// The event's own record number (`EventRecordID`) when it has one, otherwise its
    /// position in its source (see [`tocsin_event::Origin::record`]).
    pub record_id: u64,
    /// The rule's stable id ([`RuleRef::id`]: the Sigma `id`, else its `name`, else its
    /// title; `anomaly.<kind>` for a behavioural detector).
    pub rule_id: Option<String>,
    /// The rule's `title`.
    pub rule_title: String,
    /// The rule's level in lower case (`critical` … `informational`; a rule that states
    /// none is `informational`).
    pub level: String,
    /// The rule's tags.
    pub tags: Vec<String>,
    /// The rule's author.
    pub author: Option<String>,
    /// The file the event was read from (`-` for standard input).
    pub source: String,
    /// The event's key fields; see [`DetectionRecord::new`] for which ones.
    pub details: Details,
}

impl DetectionRecord {
    /// Builds the record of a finding of `rule` on `event`; `listed` are the fields the rule
    /// asks to show (a Sigma rule's `fields` attribute; empty for other findings).
    ///
    /// [`details`](Self::details) holds, in this order of preference:
    ///
    /// 1. the `listed` fields, keyed as the rule writes them,
    ///    if the event has any of them;
    /// 2. for Windows (EVTX layout) events, the fields under `Event.EventData` and
    ///    `Event.UserData`, keyed by their short name (fields without one, such as
    ///    namespace attributes, are left out);
    /// 3. otherwise (generic JSON, or a Windows event without event data), every field
    ///    except `Event.System.*`, keyed by its path.
    ///
    /// A name that occurs more than once becomes a JSON array. Text longer than
    /// [`MAX_DETAIL_BYTES`] is truncated.
    pub fn new(rule: &RuleRef, listed: &[String], event: &Event) -> DetectionRecord {
        DetectionRecord {
            timestamp: event.timestamp_micros.and_then(format_machine),
            computer: event.text("Computer"),
            channel: event.text("Channel"),
            event_id: event.first("EventID").and_then(integer),
            record_id: record_id(event),
            rule_id: Some(rule.id.clone()),
            rule_title: rule.title.clone(),
            level: rule.level.as_str().to_owned(),
            tags: rule.tags.clone(),
            author: rule.author.clone(),
            source: event.origin.source.to_string(),
            details: details(listed, event),
        }
    }
}

/// An integer from an integer value or from decimal text.
/// The record number a detection of `event` shows: the event's own `EventRecordID` when it
/// has one, otherwise its position in its source (`Origin::record`).
pub fn record_id(event: &Event) -> u64 {
    event
        .first("EventRecordID")
        .and_then(integer)
        .and_then(|id| u64::try_from(id).ok())
        .unwrap_or(event.origin.record)
}

fn integer(value: FieldValue<'_>) -> Option<i64> {
    match value {
        FieldValue::Int(i) => Some(i),
        FieldValue::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Selects and converts the key fields of `event` (see [`DetectionRecord::new`]).
fn details(listed: &[String], event: &Event) -> Details {
    let mut out = Details::new();
    for name in listed {
        let key: Arc<str> = name.as_str().into();
        for field in event.fields.iter().filter(|f| f.answers_to(name)) {
            out.append(&key, to_json(&field.value));
        }
    }
    if !out.is_empty() {
        return out;
    }
    let mut out = Details::with_capacity(event.fields.len());
    for field in event.fields.iter().filter(|f| is_event_data(f)) {
        if let Some(alias) = &field.alias {
            out.append(alias, to_json(&field.value));
        }
    }
    if !out.is_empty() {
        return out;
    }
    for field in &event.fields {
        if !field.path.starts_with(SYSTEM_PREFIX) {
            out.append(&field.path, to_json(&field.value));
        }
    }
    out
}

/// Whether a field belongs to the event-specific part of a Windows event.
fn is_event_data(field: &Field) -> bool {
    DATA_PREFIXES.iter().any(|p| field.path.starts_with(p))
}

/// Converts an event value to JSON; non-finite floats become text, long text is truncated.
fn to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or_else(|| Json::String(f.to_string()), Json::Number),
        Value::Str(s) => Json::String(truncate(s, MAX_DETAIL_BYTES)),
    }
}

/// `text` cut to at most `max` bytes at a character boundary, followed by `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + ELLIPSIS.len_utf8());
    out.push_str(&text[..end]);
    out.push(ELLIPSIS);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;
    use tocsin_event::{Level, Origin};

    /// A Sysmon-like process creation event in the EVTX layout.
    pub(crate) fn windows_event() -> Event {
        let mut e = Event {
            origin: Origin {
                source: Arc::from("C:\\logs\\Sysmon.evtx"),
                record: 42,
            },
            timestamp_micros: Some(1_700_000_000_123_456),
            ..Event::default()
        };
        e.push("Event.System.EventID", "EventID", Value::Int(1));
        e.push(
            "Event.System.Channel",
            "Channel",
            Value::from("Microsoft-Windows-Sysmon/Operational"),
        );
        e.push(
            "Event.System.Computer",
            "Computer",
            Value::from("WS01.corp"),
        );
        e.push(
            "Event.EventData.Image",
            "Image",
            Value::from("C:\\Windows\\cmd.exe"),
        );
        e.push(
            "Event.EventData.CommandLine",
            "CommandLine",
            Value::from("cmd /c whoami"),
        );
        e.push("Event.EventData.ProcessId", "ProcessId", Value::Int(4242));
        e.push(
            "Event.EventData.#attributes.Name",
            "",
            Value::from("ignored"),
        );
        e
    }

    /// A rule and the fields it lists, as tests build records from.
    pub(crate) struct TestRule {
        pub(crate) rule: RuleRef,
        pub(crate) fields: Vec<String>,
    }

    /// A rule with the given level (informational when `None`) and `fields`.
    pub(crate) fn meta(level: Option<Level>, fields: &[&str]) -> TestRule {
        TestRule {
            rule: RuleRef {
                title: "Whoami Execution".into(),
                id: "502b42de-4306-40b4-9596-6f590c81f073".into(),
                author: Some("A. Analyst".into()),
                tags: vec!["attack.discovery".into(), "attack.t1033".into()],
                level: level.unwrap_or_default(),
            },
            fields: fields.iter().map(|f| f.to_string()).collect(),
        }
    }

    /// The record of `rule` on `event`.
    pub(crate) fn new_record(rule: &TestRule, event: &Event) -> DetectionRecord {
        DetectionRecord::new(&rule.rule, &rule.fields, event)
    }

    #[test]
    fn windows_event_columns() {
        let r = new_record(&meta(Some(Level::High), &[]), &windows_event());
        assert_eq!(r.timestamp.as_deref(), Some("2023-11-14T22:13:20.123456Z"));
        assert_eq!(r.computer.as_deref(), Some("WS01.corp"));
        assert_eq!(
            r.channel.as_deref(),
            Some("Microsoft-Windows-Sysmon/Operational")
        );
        assert_eq!(r.event_id, Some(1));
        assert_eq!(r.record_id, 42);
        assert_eq!(
            r.rule_id.as_deref(),
            Some("502b42de-4306-40b4-9596-6f590c81f073")
        );
        assert_eq!(r.rule_title, "Whoami Execution");
        assert_eq!(r.level, "high");
        assert_eq!(r.tags, ["attack.discovery", "attack.t1033"]);
        assert_eq!(r.author.as_deref(), Some("A. Analyst"));
        assert_eq!(r.source, "C:\\logs\\Sysmon.evtx");
        assert_eq!(
            r.details.to_json(),
            json!({"Image": "C:\\Windows\\cmd.exe", "CommandLine": "cmd /c whoami", "ProcessId": 4242})
        );
    }

    #[test]
    fn missing_level_and_columns() {
        let r = new_record(&meta(None, &[]), &Event::default());
        assert_eq!(r.level, "informational");
        assert_eq!(r.timestamp, None);
        assert_eq!(r.computer, None);
        assert_eq!(r.event_id, None);
        assert!(r.details.is_empty());
    }

    #[test]
    fn event_id_from_text() {
        let mut e = Event::default();
        e.push("EventID", "", Value::from(" 4688 "));
        assert_eq!(new_record(&meta(None, &[]), &e).event_id, Some(4688));
        let mut e = Event::default();
        e.push("EventID", "", Value::from("n/a"));
        assert_eq!(new_record(&meta(None, &[]), &e).event_id, None);
    }

    #[test]
    fn rule_fields_win_when_present() {
        let r = new_record(
            &meta(
                Some(Level::Low),
                &["CommandLine", "Event.System.Computer", "Missing"],
            ),
            &windows_event(),
        );
        assert_eq!(
            r.details.to_json(),
            json!({"CommandLine": "cmd /c whoami", "Event.System.Computer": "WS01.corp"})
        );
    }

    #[test]
    fn rule_fields_absent_fall_back_to_event_data() {
        let r = new_record(&meta(None, &["Missing"]), &windows_event());
        let keys: Vec<&str> = r.details.keys().collect();
        assert_eq!(keys, ["Image", "CommandLine", "ProcessId"]);
    }

    #[test]
    fn user_data_is_event_data() {
        let mut e = Event::default();
        e.push("Event.System.EventID", "EventID", Value::Int(104));
        e.push(
            "Event.UserData.LogFileCleared.SubjectUserName",
            "SubjectUserName",
            Value::from("bob"),
        );
        let r = new_record(&meta(None, &[]), &e);
        assert_eq!(r.details.to_json(), json!({"SubjectUserName": "bob"}));
    }

    #[test]
    fn generic_json_keeps_paths_without_system() {
        let mut e = Event::default();
        e.push("process.name", "", Value::from("cmd.exe"));
        e.push("Event.System.Ignored", "Ignored", Value::Int(1));
        e.push("user.id", "", Value::Null);
        e.push("ratio", "", Value::Float(0.5));
        e.push("ok", "", Value::Bool(true));
        let r = new_record(&meta(None, &[]), &e);
        assert_eq!(
            r.details.to_json(),
            json!({"process.name": "cmd.exe", "user.id": null, "ratio": 0.5, "ok": true})
        );
    }

    #[test]
    fn windows_event_without_event_data_shows_the_rest() {
        let mut e = Event::default();
        e.push("Event.System.EventID", "EventID", Value::Int(1102));
        e.push(
            "Event.RenderingInfo.Message",
            "",
            Value::from("The audit log was cleared."),
        );
        let r = new_record(&meta(None, &[]), &e);
        assert_eq!(
            r.details.to_json(),
            json!({"Event.RenderingInfo.Message": "The audit log was cleared."})
        );
    }

    #[test]
    fn repeated_names_become_arrays() {
        let mut e = Event::default();
        e.push("Event.System.EventID", "EventID", Value::Int(4624));
        for v in ["a", "b", "c"] {
            e.push("Event.EventData.Data", "Data", Value::from(v));
        }
        e.push("Event.EventData.Other", "Other", Value::Int(7));
        let r = new_record(&meta(None, &[]), &e);
        assert_eq!(
            r.details.to_json(),
            json!({"Data": ["a", "b", "c"], "Other": 7})
        );
    }

    #[test]
    fn long_text_is_truncated_at_a_char_boundary() {
        // 'é' is two bytes: 4095 bytes of 'a' then 'é' straddles the limit.
        let long = format!("{}é{}", "a".repeat(MAX_DETAIL_BYTES - 1), "z".repeat(10));
        let mut e = Event::default();
        e.push("payload", "", Value::from(long.as_str()));
        e.push("short", "", Value::from("é"));
        let r = new_record(&meta(None, &[]), &e);
        let got = r.details["payload"].as_str().unwrap();
        assert_eq!(got, format!("{}…", "a".repeat(MAX_DETAIL_BYTES - 1)));
        assert_eq!(r.details["short"], "é");
        assert_eq!(truncate("abcdef", 6), "abcdef");
        assert_eq!(truncate("abcdef", 3), "abc…");
    }
}
