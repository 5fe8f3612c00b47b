//! The API audit log of a remote-support appliance: JSON Lines, one request per line.
//!
//! ```text
//! {"time":"2024-12-02T03:14:07Z","site":"support.example.com","api_key_id":"k-7f3a29","api_key_name":"helpdesk-automation","source_ip":"203.0.113.7","user_agent":"python-requests/2.31","action":"user.password_reset","target":"localadmin@WS-0042","result":"success","request_id":"r-0001"}
//! ```
//!
//! Decoded by the JSON decoder (each key a field, `time` the event time, RFC 3339), each
//! event tagged with the logsource `product: remote_support, service: api_audit`. A file
//! is read as this format when its first object has both `api_key_id` and `action`, or when
//! the format is forced to [`Format::ApiAudit`](crate::Format::ApiAudit).

use std::sync::Arc;

use tocsin_event::LogSource;

use crate::json::JsonSource;
use crate::text::Item;
use crate::EventSource;

/// JSON events tagged as API audit records.
pub(crate) struct ApiAuditSource {
    json: JsonSource,
    logsource: Arc<LogSource>,
}

impl ApiAuditSource {
    /// Tags the events of `json`.
    pub(crate) fn new(json: JsonSource) -> Self {
        ApiAuditSource {
            json,
            logsource: Arc::new(LogSource::new("remote_support", "api_audit")),
        }
    }
}

impl Iterator for ApiAuditSource {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let item = self.json.next()?;
        Some(item.map(|mut event| {
            event.logsource = Some(Arc::clone(&self.logsource));
            event
        }))
    }
}

impl EventSource for ApiAuditSource {
    fn name(&self) -> &str {
        self.json.name()
    }
}

/// Whether the JSON object on `line` has both `api_key_id` and `action` at its top level
/// (a line that is not one object says no).
pub(crate) fn is_api_audit_line(line: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Keys {
        api_key_id: Option<serde::de::IgnoredAny>,
        action: Option<serde::de::IgnoredAny>,
    }
    matches!(
        serde_json::from_slice::<Keys>(line),
        Ok(Keys {
            api_key_id: Some(_),
            action: Some(_)
        })
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    const SAMPLE: &str = r#"{"time":"2024-12-02T03:14:07Z","site":"support.example.com","api_key_id":"k-7f3a29","api_key_name":"helpdesk-automation","source_ip":"203.0.113.7","user_agent":"python-requests/2.31","action":"user.password_reset","target":"localadmin@WS-0042","result":"success","request_id":"r-0001"}"#;

    #[test]
    fn events_are_tagged_and_timed() {
        let text = format!("{SAMPLE}\n{{\"time\": \"bad\n{SAMPLE}\n");
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.into_bytes()));
        let json = JsonSource::new("audit.jsonl".into(), reader).unwrap();
        let items: Vec<_> = ApiAuditSource::new(json).collect();
        assert_eq!(items.len(), 3);
        let event = items[0].as_ref().unwrap();
        assert_eq!(event.timestamp_micros, Some(1_733_109_247_000_000));
        assert_eq!(
            event.logsource.as_deref(),
            Some(&LogSource::new("remote_support", "api_audit"))
        );
        assert_eq!(event.text("action").as_deref(), Some("user.password_reset"));
        assert_eq!(event.text("api_key_id").as_deref(), Some("k-7f3a29"));
        let error = items[1].as_ref().unwrap_err();
        assert_eq!(error.line(), Some(2));
        assert_eq!(items[2].as_ref().unwrap().origin.record, 3);
    }

    #[test]
    fn recognised_by_its_keys() {
        assert!(is_api_audit_line(SAMPLE.as_bytes()));
        assert!(is_api_audit_line(
            br#"{"action": 1, "x": [1], "api_key_id": "k"}"#
        ));
        assert!(!is_api_audit_line(br#"{"action": 1, "api_key_id": null}"#));
        assert!(!is_api_audit_line(br#"{"action": "session.list"}"#));
        assert!(!is_api_audit_line(
            br#"{"nested": {"action": 1, "api_key_id": 2}}"#
        ));
        assert!(!is_api_audit_line(br#"{"action": 1, "api_key_id": 2"#));
        assert!(!is_api_audit_line(b"[1]"));
    }
}
