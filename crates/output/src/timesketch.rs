//! Timesketch's JSON Lines import format: one object per detection with the three fields
//! Timesketch requires, `message` (a line of text), `datetime` (ISO 8601) and
//! `timestamp_desc` (what the time means), plus `timestamp` (microseconds since the epoch,
//! as in Timesketch's own examples), the detection's columns and its details.
//!
//! The details are top-level fields, as Timesketch shows them, each value as text (a name
//! that held a number in one event and text in another would otherwise be refused by the
//! index); a detail whose name is already a column or one of Timesketch's fields is
//! written as `detail_<name>`. A detection without an event time is written at the epoch
//! with `timestamp_desc` `Not a time`, as Plaso writes times it does not know, so that no
//! detection is left out of the import.

use serde_json::{json, Map, Value as Json};
use tocsin_event::time::parse_time;

use crate::DetectionRecord;

/// `timestamp_desc` of a detection at its event's time.
pub const EVENT_TIME: &str = "Event Time";

/// `timestamp_desc` of a detection without an event time.
pub const NOT_A_TIME: &str = "Not a time";

/// The `datetime` of a detection without an event time.
const EPOCH: &str = "1970-01-01T00:00:00Z";

/// Fields of the line that a detail may not replace.
const RESERVED: [&str; 15] = [
    "message",
    "datetime",
    "timestamp",
    "timestamp_desc",
    "computer",
    "channel",
    "event_id",
    "record_id",
    "rule_id",
    "rule_title",
    "level",
    "tags",
    "author",
    "source",
    "tag",
];

/// The Timesketch line of `record`.
pub fn line(record: &DetectionRecord) -> Json {
    let micros = record
        .timestamp
        .as_deref()
        .and_then(|t| parse_time(t, 0).ok());
    let (datetime, timestamp, desc) = match (micros, &record.timestamp) {
        (Some(micros), Some(text)) => (text.as_str(), micros, EVENT_TIME),
        _ => (EPOCH, 0, NOT_A_TIME),
    };
    let mut line = Map::new();
    line.insert("message".into(), json!(message(record)));
    line.insert("datetime".into(), json!(datetime));
    line.insert("timestamp".into(), json!(timestamp));
    line.insert("timestamp_desc".into(), json!(desc));
    line.insert("computer".into(), json!(record.computer));
    line.insert("channel".into(), json!(record.channel));
    line.insert("event_id".into(), json!(record.event_id));
    line.insert("record_id".into(), json!(record.record_id));
    line.insert("rule_id".into(), json!(record.rule_id));
    line.insert("rule_title".into(), json!(record.rule_title));
    line.insert("level".into(), json!(record.level));
    line.insert("tags".into(), json!(record.tags.join(", ")));
    line.insert("author".into(), json!(record.author));
    line.insert("source".into(), json!(record.source));
    for (name, value) in &record.details {
        let key = match RESERVED.contains(&name) || name.starts_with("detail_") {
            true => format!("detail_{name}"),
            false => name.to_owned(),
        };
        line.insert(key, text(value));
    }
    Json::Object(line)
}

/// Details a message shows first, when the event has them: what ran, what was touched,
/// who and from where.
const TELLING: [&str; 12] = [
    "CommandLine",
    "Image",
    "TargetFilename",
    "TargetObject",
    "QueryName",
    "ScriptBlockText",
    "ServiceName",
    "TargetUserName",
    "IpAddress",
    "DestinationIp",
    "message",
    "explanation",
];

/// How many details a message shows.
const SHOWN: usize = 3;

/// `[high] Rule title on WS01: CommandLine=…, Image=…` (three details, the telling ones
/// first, none empty or `-`, each shortened).
fn message(record: &DetectionRecord) -> String {
    let mut message = format!("[{}] {}", record.level, record.rule_title);
    if let Some(computer) = &record.computer {
        message.push_str(" on ");
        message.push_str(computer);
    }
    let shown_value = |value: &Json| {
        let value = match text(value) {
            Json::String(s) => s,
            other => other.to_string(),
        };
        let value = value.trim().to_owned();
        (!value.is_empty() && value != "-").then_some(value)
    };
    let mut names: Vec<&str> = TELLING
        .iter()
        .copied()
        .filter(|name| record.details.get(name).is_some())
        .collect();
    names.extend(record.details.keys().filter(|name| !TELLING.contains(name)));
    let shown: Vec<String> = names
        .into_iter()
        .filter_map(|name| {
            let value = shown_value(record.details.get(name)?)?;
            Some(format!("{name}={}", crate::record::truncate(&value, 120)))
        })
        .take(SHOWN)
        .collect();
    if !shown.is_empty() {
        message.push_str(": ");
        message.push_str(&shown.join(", "));
    }
    message
}

/// A detail as text: strings as they are, anything else as its JSON text (lists joined
/// with `, `), null as empty text.
fn text(value: &Json) -> Json {
    Json::String(match value {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        Json::Array(items) => items
            .iter()
            .map(|item| match text(item) {
                Json::String(s) => s,
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{meta, new_record, windows_event};
    use tocsin_event::{Event, Level, Value};

    #[test]
    fn the_required_fields_and_the_details() {
        let mut event = windows_event();
        event.push("Event.EventData.message", "message", Value::from("evil"));
        let record = new_record(&meta(Some(Level::High), &[]), &event);
        let line = line(&record);
        assert_eq!(line["datetime"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(line["timestamp"], 1_700_000_000_123_456_i64);
        assert_eq!(line["timestamp_desc"], EVENT_TIME);
        assert_eq!(
            line["message"],
            "[high] Whoami Execution on WS01.corp: CommandLine=cmd /c whoami, Image=C:\\Windows\\cmd.exe, message=evil"
        );
        assert_eq!(line["ProcessId"], "4242");
        assert_eq!(line["detail_message"], "evil");
        assert_eq!(line["tags"], "attack.discovery, attack.t1033");
        assert_eq!(line["rule_title"], "Whoami Execution");
    }

    #[test]
    fn a_detection_without_time_is_not_a_time() {
        let mut event = Event::default();
        event.push("a", "", Value::Null);
        event.push("b", "", Value::Int(1));
        let line = line(&new_record(&meta(None, &[]), &event));
        assert_eq!(line["datetime"], EPOCH);
        assert_eq!(line["timestamp"], 0);
        assert_eq!(line["timestamp_desc"], NOT_A_TIME);
        assert_eq!(line["a"], "");
        assert_eq!(line["b"], "1");
        assert_eq!(line["message"], "[informational] Whoami Execution: b=1");
    }
}
