//! Where events come from and how bytes become events: Windows EVTX files and JSON logs
//! (JSON Lines, a JSON array, or concatenated objects, each optionally gzipped), read from
//! files, directories or standard input, decoded into [`tocsin_event::Event`]s.
//!
//! # Brief overview
//!
//! * [`discover`] expands the inputs a user names (files, directories, `-`) into the files to
//!   read, filtered by extension.
//! * [`open`] picks the decoder for one file (by extension, then by content) and returns it
//!   as an [`EventSource`]; [`from_reader`] does the same for any reader of JSON, such as
//!   standard input, and [`from_bytes`] for a whole input in memory. [`DecodeOptions`]
//!   configures them.
//! * An [`EventSource`] is an iterator of `Result<Event, DecodeError>`: the engine driver pulls
//!   events from it. A record that cannot be decoded is one [`DecodeError`] item, which names
//!   the file and the chunk, record or line, and iteration goes on with the next record.
//!
//! Each event is a flat list of fields. A field's `path` is the full dotted path of the leaf
//! in the JSON document (`Event.EventData.CommandLine`, `process.command_line`). Windows
//! events, in the layout the `evtx` crate renders (`Event.System`, `Event.EventData`,
//! `Event.UserData`, `#attributes`, `#text`), also get the short `alias` Sigma rules use:
//! `CommandLine`, `EventID`, `Provider_Name`, `TimeCreated_SystemTime`. Arrays give one field
//! per element under the same path, and an empty object or array gives one `null` field.
//! The event's time comes from `Event.System.TimeCreated.#attributes.SystemTime`, or else
//! the first of `@timestamp`, `timestamp`, `time`, `TimeCreated`, `EventTime` that parses.
//!
//! ```
//! use tocsin_decode::{from_reader, DecodeOptions};
//! use tocsin_event::Fields;
//!
//! let lines = b"{\"process\": {\"command_line\": \"whoami\"}, \"@timestamp\": 0}\n{\"oops\": \n";
//! let source = from_reader("-", &lines[..], &DecodeOptions::default()).unwrap();
//! let items: Vec<_> = source.collect();
//! let event = items[0].as_ref().unwrap();
//! assert_eq!(event.text("process.command_line").as_deref(), Some("whoami"));
//! assert_eq!((&*event.origin.source, event.origin.record), ("-", 1));
//! assert_eq!(event.timestamp_micros, Some(0));
//! let error = items[1].as_ref().unwrap_err();
//! assert_eq!(error.to_string(), "-: line 2, column 8 (record 2): EOF while parsing a value");
//! ```
//!
//! Why these choices:
//!
//! * *Pull, not push.* The driver asks each source for the next event, so it decides the
//!   pacing and the threading; a source holds no more than a batch of events.
//! * *No JSON tree.* JSON (including the JSON the `evtx` crate renders for each record) is
//!   flattened by a serde visitor straight into fields, without a `serde_json::Value` in
//!   between.
//! * *EVTX in parallel.* Records are rendered and flattened inside the `evtx` parser's worker
//!   closure, on its rayon pool, so one file's chunks decode on all cores.
//! * *Keep going.* Forensic inputs are often damaged: a bad EVTX chunk or record, or a bad
//!   JSON line, is reported and skipped, and the rest of the file is still decoded.
#![deny(missing_docs)]

mod error;
mod evtx;
mod flatten;
mod input;
mod json;
mod timestamp;

pub use error::DecodeError;
pub use input::{discover, from_bytes, from_reader, open};

use tocsin_event::Event;

/// A pull-style stream of decoded events from one input.
///
/// Each item is one record: the event, or the error that record gave. An error item does not
/// end the stream unless the rest of the input cannot be read (a truncated JSON array, an
/// unreadable file); iteration simply returns `None` at the end.
pub trait EventSource: Iterator<Item = Result<Event, DecodeError>> {
    /// The name the source's events and errors are reported under: the path as given, or
    /// `-` for standard input.
    fn name(&self) -> &str;
}

/// An input format this crate decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A Windows XML Event Log (`.evtx`) file.
    Evtx,
    /// JSON Lines, a JSON array of objects, or concatenated objects.
    Json,
}

/// How to find and decode inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Worker threads for each EVTX file's chunks; `0` lets rayon decide (one per core).
    pub evtx_threads: usize,
    /// Whether to skip EVTX chunks whose checksums do not match (reporting them), rather
    /// than decode what they hold. Off by default, as in `evtx_dump`.
    pub evtx_validate_checksums: bool,
    /// The extensions (without the dot, any case) of the files to read when walking a
    /// directory; empty means every file. Files named directly are always read.
    pub extensions: Vec<String>,
    /// Read every input as this format instead of telling it from the name and content.
    pub format: Option<Format>,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            evtx_threads: 0,
            evtx_validate_checksums: false,
            extensions: ["evtx", "json", "jsonl", "ndjson", "log", "gz"]
                .map(String::from)
                .to_vec(),
            format: None,
        }
    }
}
