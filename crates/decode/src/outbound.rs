//! The outbound events of a remote-support appliance (BeyondTrust Remote Support), captured
//! one HTTP POST body per line. The appliance posts each event to an HTTP recipient as
//! form fields, in order, and retries until it gets a 200 ("Outbound Events", see
//! `FORMATS.md`):
//!
//! ```text
//! event=support_conference_member_added&version=3&timestamp=1733239565&lsid=e9e99aeb9ad54fb381634498502c5a1b&type=representative&username=admin&display_name=Admin
//! ```
//!
//! Each field is decoded (`%XX` escapes, `+` for a space) under its name; a name given twice
//! gives two fields of that name, as a JSON array does. The vendor's three standard fields
//! are `event`, `version` and `timestamp` (Unix seconds), which is the event time.
//! Logsource: `product: remote_support, service: outbound_event`. Session activity (a
//! session's start and end, who joined and left) is here, not in the appliance's syslog.
//!
//! Errors, each naming the line: a line that is not form fields, and a body without an
//! `event` field.

use std::sync::Arc;

use tocsin_event::{Event, LogSource, Value};

use crate::text::{LineDecoder, Sink};
use crate::timestamp::from_epoch_seconds;

/// The format name in errors.
const FORMAT: &str = "outbound";

/// Decodes captured outbound-event POST bodies, one per line.
pub(crate) struct OutboundDecoder {
    logsource: Arc<LogSource>,
    capacity: usize,
}

impl OutboundDecoder {
    pub(crate) fn new() -> Self {
        OutboundDecoder {
            logsource: Arc::new(LogSource::new("remote_support", "outbound_event")),
            capacity: 16,
        }
    }

    fn event(&mut self, text: &str) -> Result<Event, String> {
        if !is_form_body(text) {
            return Err("expected form fields `name=value&...`".into());
        }
        let mut event = Event::default();
        event.fields.reserve(self.capacity);
        let mut named_event = false;
        for (name, value) in form_urlencoded::parse(text.as_bytes()) {
            if name.is_empty() {
                continue;
            }
            match &*name {
                "event" => named_event = !value.is_empty(),
                "timestamp" => event.timestamp_micros = from_epoch_seconds(&value),
                _ => {}
            }
            event.push(&name, "", Value::from(value.as_ref()));
        }
        if !named_event {
            return Err("no `event` field: every outbound event names its event".into());
        }
        event.logsource = Some(Arc::clone(&self.logsource));
        self.capacity = event.fields.len();
        Ok(event)
    }
}

impl LineDecoder for OutboundDecoder {
    fn decode(&mut self, text: &str, line: u64, sink: &mut Sink<'_>) {
        match self.event(text.trim()) {
            Ok(event) => sink.event(event, line),
            Err(message) => sink.error(line, FORMAT, message),
        }
    }
}

/// Whether `text` is form fields: `&`-separated pieces, each `name=value` with a name of
/// URL-safe characters (`%XX` escapes allowed), and no spaces.
pub(crate) fn is_form_body(text: &str) -> bool {
    !text.is_empty()
        && !text.contains([' ', '\t'])
        && text.split('&').filter(|p| !p.is_empty()).all(|piece| {
            piece.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.%+:[]".contains(&b))
            })
        })
}

/// Whether a line is an outbound event body: form fields naming `event` and `timestamp`.
pub(crate) fn is_outbound_line(text: &str) -> bool {
    let text = text.trim();
    is_form_body(text) && {
        let names: Vec<_> = form_urlencoded::parse(text.as_bytes())
            .map(|(name, _)| name)
            .collect();
        names.iter().any(|n| n == "event") && names.iter().any(|n| n == "timestamp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::testing::{decode_all, render};

    fn decode(text: &str) -> Vec<String> {
        decode_all(OutboundDecoder::new(), text)
            .iter()
            .map(render)
            .collect()
    }

    #[test]
    fn a_member_joining_a_session() {
        let line = "event=support_conference_member_added&version=3&timestamp=1733239565&lsid=e9e99aeb9ad54fb381634498502c5a1b&type=representative&username=admin&display_name=Ann+Lee%20%28IT%29";
        assert_eq!(
            decode(line),
            ["1: event=support_conference_member_added,version=3,timestamp=1733239565,lsid=e9e99aeb9ad54fb381634498502c5a1b,type=representative,username=admin,display_name=Ann Lee (IT)"]
        );
        let items = decode_all(OutboundDecoder::new(), line);
        let event = items[0].as_ref().expect("an event");
        assert_eq!(event.timestamp_micros, Some(1_733_239_565_000_000));
        assert_eq!(
            event.logsource.as_deref(),
            Some(&LogSource::new("remote_support", "outbound_event"))
        );
    }

    #[test]
    fn repeated_names_and_errors_name_their_line() {
        let text = [
            "event=support_conference_end&timestamp=5&tag=a&tag=b",
            "this is not a form",
            "version=3&timestamp=6",
            "event=&timestamp=7",
            "event=support_conference_begin&timestamp=soon",
        ]
        .join("\n");
        assert_eq!(
            decode(&text),
            [
                "1: event=support_conference_end,timestamp=5,tag=a,tag=b",
                "error: test.log: line 2: outbound: expected form fields `name=value&...`",
                "error: test.log: line 3: outbound: no `event` field: every outbound event names its event",
                "error: test.log: line 4: outbound: no `event` field: every outbound event names its event",
                "5: event=support_conference_begin,timestamp=soon",
            ]
        );
    }

    #[test]
    fn outbound_lines_are_told_from_other_text() {
        assert!(is_outbound_line(
            "event=support_conference_begin&version=3&timestamp=1733239565&lsid=x"
        ));
        assert!(!is_outbound_line("event=login;site=x;when=1"));
        assert!(!is_outbound_line("a=1&b=2"));
        assert!(!is_outbound_line("Feb  5 12:54:46 h event=x&timestamp=1"));
    }
}
