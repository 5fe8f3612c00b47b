//! Where events come from and how bytes become events: Windows EVTX files, JSON logs (JSON
//! Lines, a JSON array, or concatenated objects), syslog (RFC 3164 and RFC 5424), the syslog
//! of remote-support appliances (with segmented messages reassembled), their outbound events
//! and session reports, CEF, and the JSON Lines API audit log of those appliances; each optionally gzipped, read from files,
//! directories or standard input, decoded into [`tocsin_event::Event`]s. `FORMATS.md` shows
//! a sample of each format and the fields it gives.
//!
//! # Brief overview
//!
//! * [`discover`] expands the inputs a user names (files, directories, `-`) into the files to
//!   read, filtered by extension.
//! * [`open`] picks the decoder for one file (by extension, then by content) and returns it
//!   as an [`EventSource`]; [`from_reader`] does the same for any reader, such as standard
//!   input (EVTX through a temporary file, since it needs random access), and [`from_bytes`] for a whole input in memory. [`DecodeOptions`]
//!   configures them.
//! * An [`EventSource`] is an iterator of `Result<Event, DecodeError>`: the engine driver pulls
//!   events from it. A record that cannot be decoded is one [`DecodeError`] item, which names
//!   the file and the chunk, record or line, and iteration goes on with the next record.
//! * Text formats are told from their first non-blank lines (or forced with
//!   [`DecodeOptions::format`], whose names [`Format`] parses: `evtx`, `json`, `syslog`,
//!   `appliance`, `cef`, `api-audit`, `outbound`, `session-report`). Their events carry a Sigma logsource
//!   ([`tocsin_event::LogSource`]: `linux/sshd`, `remote_support/appliance`, ...) and the
//!   time the record states, not the time it was read.
//!
//! Each event is a flat list of fields. For JSON, a field's `path` is the full dotted path of
//! the leaf in the JSON document (`Event.EventData.CommandLine`, `process.command_line`); the
//! text formats name their fields as `FORMATS.md` lists. Windows
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
//! Appliance syslog, a message split in two segments, cut inside a value:
//!
//! ```
//! use tocsin_decode::{from_reader, DecodeOptions};
//! use tocsin_event::Fields;
//!
//! let lines = "Feb  5 12:54:46 h BG[1]:7:01:02:event=login;when=1738778086;who=J S(j\n\
//!              Feb  5 12:54:46 h BG[1]:7:02:02:s) using password\n";
//! let options = DecodeOptions { syslog_year: Some(2025), ..DecodeOptions::default() };
//! let events: Vec<_> = from_reader("bg.log", lines.as_bytes(), &options).unwrap().collect();
//! let event = events[0].as_ref().unwrap();
//! assert_eq!(event.text("who_user").as_deref(), Some("js"));
//! assert_eq!(event.text("auth_method").as_deref(), Some("password"));
//! assert_eq!(event.timestamp_micros, Some(1_738_778_086_000_000));
//! let logsource = event.logsource.as_deref().unwrap();
//! assert_eq!(logsource.service.as_deref(), Some("appliance"));
//! assert_eq!(event.origin.record, 1); // numbered by its first segment's line
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
//!   JSON or text line, is reported and skipped, and the rest of the file is still decoded.
//! * *Hand-split text.* Syslog, appliance and CEF lines are split by hand (no regex), and
//!   fields borrow from the line until they are stored in the event.

mod api_audit;
mod appliance;
mod cef;
mod clock;
mod error;
mod evtx;
mod evtx_chunks;
mod evtx_direct;
mod flatten;
mod gzip;
mod input;
mod json;
mod outbound;
mod session_report;
mod sniff;
mod syslog;
mod text;
mod threads;
mod timestamp;
mod utf16;
#[cfg(unix)]
mod windowed_file;

pub use appliance::segment_of as appliance_segment;
pub use clock::UtcOffset;
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

    /// What had to be assumed to decode this source so far, for the user to know (for
    /// syslog, the year and zone given to times that carry none); `None` when nothing was.
    /// Ask it once the source is exhausted.
    fn note(&self) -> Option<String> {
        None
    }
}

/// An input format this crate decodes. See `FORMATS.md` for a sample of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// A Windows XML Event Log (`.evtx`) file.
    Evtx,
    /// JSON Lines, a JSON array of objects, or concatenated objects.
    Json,
    /// Syslog lines, RFC 3164 or RFC 5424 (told apart line by line).
    Syslog,
    /// The syslog of a remote-support appliance (`BG[pid]:site:seg:total:key=value;...`,
    /// also `BG:` and RFC 5424), with messages split into numbered segments reassembled.
    Appliance,
    /// ArcSight Common Event Format lines, bare or after a syslog header.
    Cef,
    /// The JSON Lines API audit log of a remote-support appliance.
    ApiAudit,
    /// A remote-support appliance's outbound events (session start and end, who joined
    /// and left), one captured HTTP POST body (`event=...&timestamp=...`) per line.
    Outbound,
    /// A remote-support appliance's support session report (the reporting API's
    /// `SupportSession` XML): one event per session event (command shells, file
    /// transfers, ...), with its session's fields.
    SessionReport,
}

impl Format {
    /// Every format, in the order their names are listed in help texts.
    pub const ALL: [Format; 8] = [
        Format::Evtx,
        Format::Json,
        Format::Syslog,
        Format::Appliance,
        Format::Cef,
        Format::ApiAudit,
        Format::Outbound,
        Format::SessionReport,
    ];

    /// The name users give for this format (`evtx`, `json`, `syslog`, `appliance`, `cef`,
    /// `api-audit`, `outbound`, `session-report`), which [`str::parse`] accepts back.
    pub fn name(self) -> &'static str {
        match self {
            Format::Evtx => "evtx",
            Format::Json => "json",
            Format::Syslog => "syslog",
            Format::Appliance => "appliance",
            Format::Cef => "cef",
            Format::ApiAudit => "api-audit",
            Format::Outbound => "outbound",
            Format::SessionReport => "session-report",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    /// Parses a format name, ignoring case; `api_audit`, `jsonl` and `rfc3164`/`rfc5424`
    /// are accepted as other spellings.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.trim().to_ascii_lowercase();
        let format = match lower.as_str() {
            "jsonl" | "ndjson" => Format::Json,
            "rfc3164" | "rfc5424" => Format::Syslog,
            "api_audit" | "apiaudit" => Format::ApiAudit,
            "outbound-events" | "outbound_events" => Format::Outbound,
            "session_report" | "sessionreport" => Format::SessionReport,
            other => match Format::ALL.into_iter().find(|f| f.name() == other) {
                Some(format) => format,
                None => {
                    let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
                    return Err(format!(
                        "unknown format `{text}` (expected one of {})",
                        names.join(", ")
                    ));
                }
            },
        };
        Ok(format)
    }
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
    /// The year of the first RFC 3164 syslog time of each input (such times carry none:
    /// `Feb  5 12:54:46`), moving to the next year where the months turn back (December,
    /// then January). `None`, the default, infers each time's year from the file's
    /// modification time (for standard input, the time it is read): the latest year that
    /// puts the time at most a day after it. [`EventSource::note`] says what was used.
    /// Appliance events are exact anyway when they carry `when=`.
    pub syslog_year: Option<i32>,
    /// The zone of log times that carry none (RFC 3164 syslog, some CEF `rt`); UTC by
    /// default.
    pub timezone: UtcOffset,
    /// How many segmented appliance messages may wait for their missing segments at once;
    /// when one more arrives, the oldest is dropped and reported. Bounds memory on inputs
    /// whose segments never complete.
    pub appliance_max_pending: usize,
    /// The most bytes of an EVTX file read from a stream (inside gzip, or on standard
    /// input) that are kept. EVTX needs random access, so such a file is copied into an
    /// unnamed temporary file first (every other format streams); past this size the rest
    /// is not read and an error says so. Default 4 GiB, the size of the largest Windows
    /// event logs.
    pub evtx_spool_limit: u64,
    /// Where plain JSON records come from, declared by the user (`product: zeek`, ...):
    /// such records carry no sign of their product, and a rule written for a product meets
    /// only events tagged with it. `None`, the default, leaves them untagged: they meet
    /// only rules that name no product, service or category, and the source's
    /// [`EventSource::note`] says so. Records that name a Windows `Channel` are placed by
    /// it whatever this says.
    pub logsource: Option<std::sync::Arc<tocsin_event::LogSource>>,
    /// Which decoder reads EVTX records: tocsin's own ([`EvtxDecoder::Direct`], the
    /// default) or the `evtx` crate's JSON rendering, which the direct decoder equals record
    /// for record and which `tocsin bench` measures it against.
    pub evtx_decoder: EvtxDecoder,
}

/// Which decoder reads EVTX records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EvtxDecoder {
    /// Each chunk's records straight into events: templates parsed once per chunk, their
    /// substitutions read in place, no JSON. A chunk holding what it does not take (a
    /// floating-point value, a damaged record) goes to the
    /// `evtx` crate, so the events are the same either way.
    #[default]
    Direct,
    /// The `evtx` crate renders each record as JSON, which is then flattened: the reference.
    Crate,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            evtx_threads: 0,
            evtx_validate_checksums: false,
            extensions: [
                "evtx", "json", "jsonl", "ndjson", "log", "gz", "syslog", "cef",
            ]
            .map(String::from)
            .to_vec(),
            format: None,
            syslog_year: None,
            timezone: UtcOffset::UTC,
            appliance_max_pending: 10_000,
            evtx_spool_limit: 4 << 30,
            logsource: None,
            evtx_decoder: EvtxDecoder::Direct,
        }
    }
}
