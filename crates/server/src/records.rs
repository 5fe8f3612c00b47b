//! Decoding one step's spool records: each record's events, what could not be decoded in
//! it, and when it was received.
//!
//! Records of one input and decoder are decoded together, so that an appliance message
//! whose segments two requests or two TCP batches split is reassembled; each event is
//! still named by its own record and its line there, so its identity does not depend on
//! how records fell into steps. A record that begins a message whose last segments had not
//! arrived when the step's records ended is marked [`DecodedRecord::unfinished`]: the
//! consumer may leave it (and what follows) for its next step, so that the segments of the
//! next request join it.

use std::collections::HashMap;
use std::sync::Arc;

use tocsin_decode::{from_bytes, DecodeError, DecodeOptions};
use tocsin_event::Event;
use tocsin_spool::Record;

use crate::ingest::RecordHeader;

/// One record, decoded.
#[derive(Debug, Default)]
pub(crate) struct DecodedRecord {
    /// Its events, in order.
    pub events: Vec<Event>,
    /// What in it could not be decoded (a record without a header is one error too).
    pub errors: Vec<DecodeError>,
    /// When the input received it, if its header says.
    pub received: Option<i64>,
    /// Whether a message begun in it was still waiting for segments when the records of
    /// its input ended (never for a followed file's lines, which are decoded alone).
    pub unfinished: bool,
}

/// Each record's events, in the order of `records`. An event without a time (or with one
/// its decoder could not read) takes the time its record was received: a live service
/// sees it happen then, and a detection without a time could not be grouped after the
/// ones before it (every grouping would regroup the whole store).
pub(crate) fn decode_records(records: &[Record], options: &DecodeOptions) -> Vec<DecodedRecord> {
    let mut out: Vec<DecodedRecord> = records.iter().map(|_| DecodedRecord::default()).collect();
    for group in input_groups(records) {
        match group.as_slice() {
            [one] => out[*one] = decode(&records[*one], options),
            _ => {
                let members: Vec<&Record> = group.iter().map(|&index| &records[index]).collect();
                for (index, decoded) in group.into_iter().zip(decode_together(&members, options)) {
                    out[index] = decoded;
                }
            }
        }
    }
    for record in &mut out {
        if let Some(received) = record.received {
            for event in &mut record.events {
                event.timestamp_micros.get_or_insert(received);
            }
        }
    }
    out
}

/// The records' indexes grouped by input and decoder, in order within each group; a
/// followed file's lines and a record without a header are each a group of their own.
fn input_groups(records: &[Record]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_input: HashMap<(&str, &str), usize> = HashMap::new();
    for (index, record) in records.iter().enumerate() {
        let key = RecordHeader::split(&record.bytes)
            .filter(|(header, _)| header.source.is_none())
            .map(|(header, _)| (header.format, header.input));
        let Some(key) = key else {
            groups.push(vec![index]);
            continue;
        };
        match by_input.get(&key) {
            Some(&group) => groups[group].push(index),
            None => {
                by_input.insert(key, groups.len());
                groups.push(vec![index]);
            }
        }
    }
    groups
}

/// Decodes records of one input and decoder as one text, then gives each event and error
/// back to its record, named by that record's position and its line there.
fn decode_together(records: &[&Record], options: &DecodeOptions) -> Vec<DecodedRecord> {
    let mut text = Vec::new();
    let mut first_lines = Vec::with_capacity(records.len());
    let mut names: Vec<Arc<str>> = Vec::with_capacity(records.len());
    let mut out: Vec<DecodedRecord> = Vec::with_capacity(records.len());
    let mut line = 1u64;
    let mut format = None;
    for record in records {
        let Some((header, payload)) = RecordHeader::split(&record.bytes) else {
            continue; // input_groups groups only records with a header
        };
        if !out.is_empty() {
            text.push(b'\n');
        }
        text.extend_from_slice(payload);
        first_lines.push(line);
        line += payload.split(|&b| b == b'\n').count() as u64;
        names.push(format!("{}@{}", header.input, record.position).into());
        out.push(DecodedRecord {
            received: header.received_micros,
            ..DecodedRecord::default()
        });
        format.get_or_insert(header.format);
    }
    let mut options = options.clone();
    options.format = format.and_then(|format| format.parse().ok());
    let source = match from_bytes(&names[0], text, &options) {
        Ok(source) => source,
        Err(error) => {
            out[0].errors.push(error);
            return out;
        }
    };
    let record_of = |line: u64| {
        first_lines
            .partition_point(|&first| first <= line)
            .saturating_sub(1)
    };
    for item in source {
        match item {
            Ok(mut event) => {
                let index = record_of(event.origin.record);
                event.origin.record -= first_lines[index] - 1;
                event.origin.source = Arc::clone(&names[index]);
                out[index].events.push(event);
            }
            Err(error) => {
                let index = error.line().map_or(0, record_of);
                out[index].unfinished |= error.unfinished_line().is_some();
                out[index].errors.push(error);
            }
        }
    }
    out
}

/// The events of one record decoded alone.
fn decode(record: &Record, options: &DecodeOptions) -> DecodedRecord {
    let Some((header, payload)) = RecordHeader::split(&record.bytes) else {
        return DecodedRecord {
            errors: vec![DecodeError::UnknownFormat {
                file: format!("spool@{}", record.position).into(),
                reason: "a spool record without a header".into(),
            }],
            ..DecodedRecord::default()
        };
    };
    let mut decoded = DecodedRecord {
        received: header.received_micros,
        ..DecodedRecord::default()
    };
    let mut options = options.clone();
    options.format = header.format.parse().ok();
    let (name, first_line) = match header.source {
        Some(lines) => (lines.path.to_owned(), lines.first_line),
        None => (format!("{}@{}", header.input, record.position), 1),
    };
    let source = match from_bytes(&name, payload.to_vec(), &options) {
        Ok(source) => source,
        Err(error) => {
            decoded.errors.push(error);
            return decoded;
        }
    };
    for item in source {
        match item {
            Ok(mut event) => {
                event.origin.record += first_line - 1;
                decoded.events.push(event);
            }
            Err(error) => {
                decoded.unfinished |= header.source.is_none() && error.unfinished_line().is_some();
                decoded.errors.push(error);
            }
        }
    }
    decoded
}

#[cfg(test)]
mod tests {
    use tocsin_spool::Position;

    use super::*;

    fn record(position: u64, input: &str, lines: &str) -> Record {
        let mut bytes = RecordHeader::encode("appliance", input, 5);
        bytes.extend_from_slice(lines.as_bytes());
        Record {
            position: Position::new(position),
            bytes,
        }
    }

    const FIRST: &str =
        "Nov 15 11:29:41 h BG[7]: 4135:01:02:event=user_added;new_account:disabled=0;new";
    const SECOND: &str = "Nov 15 11:29:41 h BG[7]: 4135:02:02:_username=phall;when=1731670181";
    const ALONE: &str = "Nov 15 11:30:00 h BG[7]: 4135:01:01:event=login;when=1731670200;who=a (a)";

    /// Each record's events, as (source, record) pairs.
    fn names(decoded: &[DecodedRecord]) -> Vec<Vec<(String, u64)>> {
        decoded
            .iter()
            .map(|record| {
                record
                    .events
                    .iter()
                    .map(|e| (e.origin.source.to_string(), e.origin.record))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn segments_split_across_records_are_reassembled_and_named_by_their_first_record() {
        let records = [
            record(10, "http", ALONE),
            record(20, "http", FIRST),
            record(25, "other", ALONE),
            record(30, "http", SECOND),
        ];
        let decoded = decode_records(&records, &DecodeOptions::default());
        assert_eq!(
            names(&decoded),
            [
                vec![("http@10".to_string(), 1)],
                vec![("http@20".to_string(), 1)],
                vec![("other@25".to_string(), 1)],
                vec![],
            ]
        );
        let joined = &decoded[1].events[0];
        assert_eq!(joined.text("new_username").as_deref(), Some("phall"));
        assert!(decoded.iter().all(|d| d.errors.is_empty() && !d.unfinished));
        assert!(decoded.iter().all(|d| d.received == Some(5)));
    }

    #[test]
    fn an_event_without_a_time_takes_its_records_receipt() {
        let mut bytes = RecordHeader::encode("json", "http", 1_700_000_000_000_000);
        bytes.extend_from_slice(
            b"{\"EventID\": 1}\n{\"EventID\": 2, \"@timestamp\": \"2024-05-01T10:00:00Z\"}\n",
        );
        let records = [Record {
            position: Position::new(1),
            bytes,
        }];
        let decoded = decode_records(&records, &DecodeOptions::default());
        let times: Vec<Option<i64>> = decoded[0]
            .events
            .iter()
            .map(|e| e.timestamp_micros)
            .collect();
        assert_eq!(
            times,
            [Some(1_700_000_000_000_000), Some(1_714_557_600_000_000)]
        );
    }

    #[test]
    fn a_record_whose_message_waits_for_segments_is_unfinished() {
        let records = [record(10, "http", ALONE), record(20, "http", FIRST)];
        let decoded = decode_records(&records, &DecodeOptions::default());
        let unfinished: Vec<bool> = decoded.iter().map(|d| d.unfinished).collect();
        assert_eq!(unfinished, [false, true]);
        let alone = decode_records(&records[1..], &DecodeOptions::default());
        assert!(alone[0].unfinished);
        assert_eq!(alone[0].errors.len(), 1);
    }

    #[test]
    fn a_record_without_a_header_is_an_error_of_its_own() {
        let records = [Record {
            position: Position::new(7),
            bytes: b"no header".to_vec(),
        }];
        let decoded = decode_records(&records, &DecodeOptions::default());
        assert!(decoded[0].errors[0].to_string().contains("spool@7"));
    }
}
