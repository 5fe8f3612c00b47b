//! `tocsin events`: the decoded events of the inputs as JSON Lines, one object per record,
//! exactly as `tocsin hunt` sees them (the same inputs, read once each, through the same
//! decoders). For inspecting what a rule meets, and for differential checks against other
//! Sigma implementations (`conformance/pysigma`).
//!
//! Each line is `{"source": FILE, "record": N, "record_id": N, "fields": {NAME: VALUE,
//! ...}}`: `record` is the record's position in its source (the EVTX record header's
//! number, the line of JSON Lines), `source` and `record_id` are the `source` and
//! `record_id` a detection of the event shows (`record_id` is the event's `EventRecordID`
//! when it has one, which in exported EVTX files often differs from `record`), and each field
//! is keyed by the name rules use (its Sigma alias, such as `CommandLine`, or else its full
//! dotted path). A name that occurs more than once in a record (an array, or two paths
//! with one alias) holds the list of its values, in document order.

use std::io::{BufWriter, ErrorKind, Write};

use anyhow::{bail, Result};
use serde_json::{Map, Value as Json};
use tocsin_decode::DecodeOptions;
use tocsin_event::{Event, Value};

use crate::args::EventsArgs;
use crate::distinct::{canonical_inputs, distinct_files};

/// Prints the events of `args.paths`; returns the exit code (`141` when the reader of the
/// output went away, as `hunt` does).
pub fn run(args: &EventsArgs) -> Result<i32> {
    let range = args.range.range()?;
    let options = DecodeOptions {
        extensions: args.extensions.clone(),
        evtx_threads: 1,
        logsource: args.logsource.clone().map(std::sync::Arc::new),
        ..DecodeOptions::default()
    };
    let (files, discover_errors) =
        tocsin_decode::discover(&canonical_inputs(&args.paths), &options);
    let (files, duplicates) = distinct_files(files);
    for error in &discover_errors {
        eprintln!("warning: {error}");
    }
    for duplicate in &duplicates {
        eprintln!("note: {duplicate}");
    }
    if files.is_empty() {
        bail!("no log files found");
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    for path in &files {
        let source = match tocsin_decode::open(path, &options) {
            Ok(source) => source,
            Err(e) => {
                eprintln!("warning: {e}");
                continue;
            }
        };
        for item in source {
            match item {
                Ok(event) if !range.contains(event.timestamp_micros) => {}
                Ok(event) => {
                    let written = serde_json::to_writer(&mut out, &render(&event))
                        .map_err(std::io::Error::from)
                        .and_then(|()| out.write_all(b"\n"));
                    match written {
                        Ok(()) => {}
                        Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(141),
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => eprintln!("warning: {e}"),
            }
        }
    }
    match out.flush() {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(141),
        other => other.map(|()| 0).map_err(Into::into),
    }
}

/// One event as the JSON object described in the module doc.
pub fn render(event: &Event) -> Json {
    let mut fields = Map::new();
    for field in &event.fields {
        let value = json_of(&field.value);
        match fields.get_mut(field.name()) {
            None => {
                fields.insert(field.name().to_owned(), value);
            }
            // Values are scalars (see `Value`): an array here is a list built below.
            Some(Json::Array(values)) => values.push(value),
            Some(first) => {
                let first = first.take();
                fields.insert(field.name().to_owned(), Json::Array(vec![first, value]));
            }
        }
    }
    let mut object = Map::new();
    object.insert("source".into(), Json::from(&*event.origin.source));
    object.insert("record".into(), Json::from(event.origin.record));
    object.insert(
        "record_id".into(),
        Json::from(tocsin_output::record_id(event)),
    );
    object.insert("fields".into(), Json::Object(fields));
    Json::Object(object)
}

fn json_of(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => Json::from(*f),
        Value::Str(s) => Json::from(&**s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_by_rule_name_and_repeats_as_lists() {
        let mut event = Event::default();
        event.origin.source = "a.evtx".into();
        event.origin.record = 7;
        event.push("Event.System.EventID", "EventID", Value::Int(1));
        event.push("Event.EventData.Tag", "Tag", Value::from("x"));
        event.push("Event.EventData.Tag", "Tag", Value::from("y"));
        event.push("Event.EventData.Tag", "Tag", Value::Null);
        event.push("process.name", "", Value::from("cmd.exe"));
        let json = render(&event);
        assert_eq!(
            json,
            serde_json::json!({
                "source": "a.evtx",
                "record": 7,
                "record_id": 7,
                "fields": {
                    "EventID": 1,
                    "Tag": ["x", "y", null],
                    "process.name": "cmd.exe",
                }
            })
        );
    }

    #[test]
    fn record_id_is_the_events_own_as_in_detections() {
        let mut event = Event::default();
        event.origin.record = 2;
        event.push(
            "Event.System.EventRecordID",
            "EventRecordID",
            Value::Int(6576),
        );
        let json = render(&event);
        assert_eq!(json["record"], 2);
        assert_eq!(json["record_id"], 6576);
    }
}
