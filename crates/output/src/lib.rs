//! How tocsin shows what it found: detection printers and the end-of-hunt summary.
//!
//! The engine says "rule R matched event E"; this crate turns that pair into a
//! [`DetectionRecord`] with a fixed set of columns and writes it as an aligned table line
//! for people, or as CSV or JSON Lines for other tools. A [`Summary`] counts what a hunt
//! scanned and found and renders a short report at the end.
//!
//! # Brief overview
//!
//! * [`DetectionRecord`]: one detection, built from the [`RuleRef`] of whatever fired (a
//!   Sigma rule, a correlation, a behavioural detector) and a decoded [`Event`] (from
//!   `tocsin_event`, read through its [`Fields`](tocsin_event::Fields) view). Its field names, in the order of [`COLUMNS`],
//!   are the JSON Lines keys and the CSV header: a stable interface.
//! * [`Printer`]: writes records in a [`Format`] (`table`, `csv`, `jsonl`, and for other
//!   tools `ecs` / `ecs-bulk` (Elastic Common Schema, [`ecs`]) and `timesketch`
//!   ([`timesketch`])) to any `Write + Send`; a closed pipe surfaces as
//!   [`OutputError::BrokenPipe`].
//! * [`Summary`]: counts files, events, decode errors and detections per level, rule and
//!   computer; per-thread summaries [`merge`](Summary::merge).
//! * [`EventStats`]: what `tocsin stats` counts before a hunt (events by channel and event
//!   ID, computer, day and hour; logons by user, type and source).
//! * [`html`]: self-contained HTML pages: the one [`escape`](html::escape) and page frame
//!   of tocsin's HTML outputs, and [`HuntReport`], the HTML summary of a hunt
//!   (`hunt --html-report`) with inline SVG charts.
//! * [`color_wanted`]: whether to colour, honouring `NO_COLOR`.
//! * [`clean`]: text made safe for a terminal, used by every table tocsin prints (detections,
//!   `rules list`, `incidents list`).
//!
//! ```
//! use tocsin_event::{Event, Level, RuleRef, Value};
//! use tocsin_output::{DetectionRecord, Format, Printer};
//!
//! let mut event = Event::default();
//! event.push("Event.System.Computer", "Computer", Value::from("WS01"));
//! event.push("Event.EventData.CommandLine", "CommandLine", Value::from("whoami"));
//! let rule = RuleRef { id: "r1".into(), title: "Whoami".into(), level: Level::High, ..RuleRef::default() };
//!
//! let record = DetectionRecord::new(&rule, &[], &event);
//! assert_eq!(record.details["CommandLine"], "whoami");
//!
//! let mut printer = Printer::new(Format::Jsonl, Box::new(std::io::sink()), false);
//! printer.write(&record)?;
//! printer.finish()?;
//! # Ok::<(), tocsin_output::OutputError>(())
//! ```
//!
//! Design notes:
//!
//! * Records own their text instead of borrowing the event, so that detections can cross
//!   threads to the single printer while workers drop their events.
//! * Each detection reaches the writer in one `write_all` call: lines from one printer
//!   never tear, and a terminal shows detections as they are found. Buffering for
//!   throughput is the caller's choice (a `BufWriter` around a file or pipe).
//! * The table printer escapes control characters in event text: logs are attacker
//!   controlled, and a terminal escape sequence in a command line must not reach the
//!   analyst's terminal. Every other table does the same through [`clean`].

mod clean;
mod csv;
mod details;
pub mod ecs;
mod error;
pub mod html;
mod jsonl;
mod navigator;
mod printer;
mod record;
mod stats;
mod summary;
mod table;
pub mod timesketch;

pub use crate::clean::{clean, needs_cleaning};
pub use crate::csv::TAG_SEPARATOR;
pub use details::Details;
pub use ecs::{EcsKind, RuleDoc, RuleDocs};
pub use error::OutputError;
pub use html::{HuntFacts, HuntReport};
pub use navigator::NavigatorLayer;
pub use printer::{color_wanted, color_wanted_with, Format, Printer};
pub use record::{record_id, DetectionRecord, MAX_DETAIL_BYTES};
pub use stats::{EventStats, LogonCount};
pub use summary::{RuleCount, Summary, LEVELS, TOP};
pub use table::MAX_DETAILS_CHARS;

#[cfg(doc)]
use tocsin_event::Event;
#[cfg(doc)]
use tocsin_event::RuleRef;

/// The columns of a detection, in output order: the JSON Lines keys and the CSV header.
/// Changing them breaks users' scripts.
pub const COLUMNS: [&str; 12] = [
    "timestamp",
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
    "details",
];
