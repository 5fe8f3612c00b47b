//! The JSON Lines printer: one object per detection, keys in [`COLUMNS`](crate::COLUMNS) order.

use serde::Serialize;

use crate::{Details, DetectionRecord};

/// Appends `record` as one JSON object and a newline to `buf`.
pub(crate) fn write(buf: &mut Vec<u8>, record: &DetectionRecord) {
    // Writing into a `Vec` cannot fail: every key is a string and a `Vec` never returns an
    // I/O error.
    let _ = serde_json::to_writer(&mut *buf, &Line::from(record));
    buf.push(b'\n');
}

/// A record as the line shows it, borrowed: serialised as it stands, without copying the
/// record into a JSON tree first. The field order is the key order, [`crate::COLUMNS`].
#[derive(Serialize)]
struct Line<'a> {
    timestamp: &'a Option<String>,
    computer: &'a Option<String>,
    channel: &'a Option<String>,
    event_id: Option<i64>,
    record_id: u64,
    rule_id: &'a Option<String>,
    rule_title: &'a str,
    level: &'a str,
    tags: &'a [String],
    author: &'a Option<String>,
    source: &'a str,
    details: &'a Details,
}

impl<'a> From<&'a DetectionRecord> for Line<'a> {
    fn from(r: &'a DetectionRecord) -> Self {
        Line {
            timestamp: &r.timestamp,
            computer: &r.computer,
            channel: &r.channel,
            event_id: r.event_id,
            record_id: r.record_id,
            rule_id: &r.rule_id,
            rule_title: &r.rule_title,
            level: &r.level,
            tags: &r.tags,
            author: &r.author,
            source: &r.source,
            details: &r.details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{meta, new_record, windows_event};
    use crate::COLUMNS;
    use serde_json::{json, Map, Value as Json};
    use tocsin_event::Level;

    #[test]
    fn one_line_with_every_key_in_order() {
        let record = new_record(&meta(Some(Level::Critical), &[]), &windows_event());
        let mut buf = Vec::new();
        write(&mut buf, &record);
        write(&mut buf, &record);
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));

        let parsed: Map<String, Json> = serde_json::from_str(lines[0]).unwrap();
        let keys: Vec<&str> = parsed.keys().map(String::as_str).collect();
        assert_eq!(keys, COLUMNS);
        assert_eq!(
            Json::Object(parsed),
            json!({
                "timestamp": "2023-11-14T22:13:20.123456Z",
                "computer": "WS01.corp",
                "channel": "Microsoft-Windows-Sysmon/Operational",
                "event_id": 1,
                "record_id": 42,
                "rule_id": "502b42de-4306-40b4-9596-6f590c81f073",
                "rule_title": "Whoami Execution",
                "level": "critical",
                "tags": ["attack.discovery", "attack.t1033"],
                "author": "A. Analyst",
                "source": "C:\\logs\\Sysmon.evtx",
                "details": {
                    "Image": "C:\\Windows\\cmd.exe",
                    "CommandLine": "cmd /c whoami",
                    "ProcessId": 4242
                }
            })
        );
    }

    #[test]
    fn absent_values_are_null() {
        let record = new_record(&meta(None, &[]), &tocsin_event::Event::default());
        let mut buf = Vec::new();
        write(&mut buf, &record);
        let object: Json = serde_json::from_slice(&buf).unwrap();
        for key in ["timestamp", "computer", "channel", "event_id"] {
            assert_eq!(object[key], Json::Null, "{key}");
        }
        assert_eq!(object["level"], "informational");
        assert_eq!(object["details"], json!({}));
    }
}
