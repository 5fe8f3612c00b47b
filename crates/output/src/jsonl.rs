//! The JSON Lines printer: one object per detection, keys in [`COLUMNS`](crate::COLUMNS) order.

use serde_json::{Map, Value as Json};

use crate::DetectionRecord;

/// Appends `record` as one JSON object and a newline to `buf`.
pub(crate) fn write(buf: &mut Vec<u8>, record: &DetectionRecord) {
    let object = to_object(record);
    // Writing a `Value` into a `Vec` cannot fail: every key is a string and a `Vec` never
    // returns an I/O error.
    let _ = serde_json::to_writer(&mut *buf, &object);
    buf.push(b'\n');
}

/// The record as a JSON object with the stable key order.
pub(crate) fn to_object(r: &DetectionRecord) -> Json {
    let mut m = Map::new();
    m.insert("timestamp".into(), r.timestamp.clone().into());
    m.insert("computer".into(), r.computer.clone().into());
    m.insert("channel".into(), r.channel.clone().into());
    m.insert("event_id".into(), r.event_id.into());
    m.insert("record_id".into(), r.record_id.into());
    m.insert("rule_id".into(), r.rule_id.clone().into());
    m.insert("rule_title".into(), r.rule_title.clone().into());
    m.insert("level".into(), r.level.clone().into());
    m.insert("tags".into(), r.tags.clone().into());
    m.insert("author".into(), r.author.clone().into());
    m.insert("source".into(), r.source.clone().into());
    m.insert("details".into(), Json::Object(r.details.clone()));
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{meta, windows_event};
    use crate::COLUMNS;
    use serde_json::json;
    use tocsin_sigma::ast::Level;

    #[test]
    fn one_line_with_every_key_in_order() {
        let record = DetectionRecord::new(&meta(Some(Level::Critical), &[]), &windows_event());
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
        let record = DetectionRecord::new(&meta(None, &[]), &tocsin_event::Event::default());
        let object = to_object(&record);
        for key in ["timestamp", "computer", "channel", "event_id"] {
            assert_eq!(object[key], Json::Null, "{key}");
        }
        assert_eq!(object["level"], "unknown");
        assert_eq!(object["details"], json!({}));
    }
}
