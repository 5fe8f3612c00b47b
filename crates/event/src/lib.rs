//! The event model shared by every tocsin crate.
//!
//! A decoder (EVTX, JSON, syslog, ...) turns one log record into an [`Event`]: a flat list of
//! [`Field`]s plus the [`Origin`] that says where the record came from. The detection engine never
//! sees the decoder's own types; it reads events only through the [`Fields`] trait, which looks a
//! field up by the name a Sigma rule uses and hands out borrowed [`FieldValue`]s.
//!
//! # Brief overview
//!
//! * [`Event`]: an owned, flattened record. Each field keeps its full dotted path
//!   (`Event.EventData.CommandLine`) and the short name rules use (`CommandLine`).
//! * [`Fields`]: the one-method-per-question view the engine consumes; `Event` implements it, and
//!   tests can implement it over a map.
//! * [`FieldValue`]: a borrowed scalar (`null`, bool, integer, float or text).
//! * [`Level`] and [`RuleRef`]: the vocabulary every finding shares (how serious, who fired),
//!   so that rules, detectors, outputs and incidents never convert between copies.
//! * [`parse_duration_micros`]: the one duration grammar (`90s`, `30m`, `1h`, `2d`, `1w`),
//!   shared by Sigma correlation timespans and the command line.
//! * [`time`]: the two named styles in which tocsin writes a point in time, one for
//!   machines (RFC 3339) and one for people.
//!
//! ```
//! use tocsin_event::{Event, Fields, FieldValue, Value};
//!
//! let mut event = Event::default();
//! event.push("Event.EventData.Image", "Image", Value::from("C:\\Windows\\cmd.exe"));
//! let mut seen = Vec::new();
//! event.visit("Image", &mut |v| { seen.push(v.to_string()); std::ops::ControlFlow::Continue(()) });
//! assert_eq!(seen, ["C:\\Windows\\cmd.exe"]);
//! assert!(event.contains("Event.EventData.Image"));
//! ```
//!
//! Why flat: Sigma rules address fields by name, never by position in a tree, and a flat list of
//! leaves is cheaper to build per record than a JSON tree and cheap to scan for the few fields a
//! rule reads.
//!
//! Dependencies are kept few because every crate depends on this one: `serde`, so that the
//! shared vocabulary is written and read the same way by outputs and stores, and `chrono`
//! (without default features), so that times are written as calendar dates in one place.

mod duration;
mod event;
mod level;
mod rule;
pub mod time;
mod value;

pub use duration::{parse_duration_micros, DurationError, DurationErrorKind};
pub use event::{Event, Field, LogSource, Origin};
pub use level::{Level, UnknownLevel};
pub use rule::RuleRef;
pub use value::{FieldValue, Value};

use std::ops::ControlFlow;

/// The names one field answers to in [`Fields::visit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldNames<'n> {
    /// The name rules use (`CommandLine`).
    pub name: &'n str,
    /// The full path (`Event.EventData.CommandLine`), when it differs from `name`.
    pub path: Option<&'n str>,
}

/// Read-only view of one event, the only way the engine looks at event data.
///
/// Field names are the names Sigma rules use. An implementation decides which of its fields
/// answer to a name (for example the short name `CommandLine` and the full path
/// `Event.EventData.CommandLine` may both find the same value).
pub trait Fields {
    /// Calls `visit` with each value of the field `name` (an array field yields each element),
    /// stopping early when `visit` breaks. Returns `true` if the field exists, even when its
    /// value is `null`.
    fn visit<'a>(
        &'a self,
        name: &str,
        visit: &mut dyn FnMut(FieldValue<'a>) -> ControlFlow<()>,
    ) -> bool;

    /// Calls `visit` with every value of every field, for keyword (field-less) searches,
    /// stopping early when `visit` breaks.
    fn visit_all<'a>(&'a self, visit: &mut dyn FnMut(FieldValue<'a>) -> ControlFlow<()>);

    /// Calls `visit` with every value of every field and the names that field answers to,
    /// stopping early when `visit` breaks. The engine's literal prefilter reads events this
    /// way, to search each value only for the literals of rules that test its field.
    fn visit_all_named<'a>(
        &'a self,
        visit: &mut dyn FnMut(FieldNames<'_>, FieldValue<'a>) -> ControlFlow<()>,
    );

    /// The Sigma logsource the decoder tagged the event with, if any (see
    /// [`Event::logsource`]); rules of other products and services are not evaluated on it.
    fn logsource(&self) -> Option<&LogSource> {
        None
    }

    /// Whether the field `name` exists in the event (a `null` value still exists).
    fn contains(&self, name: &str) -> bool {
        self.visit(name, &mut |_| ControlFlow::Break(()))
    }

    /// The first value of field `name`, if any.
    fn first<'a>(&'a self, name: &str) -> Option<FieldValue<'a>> {
        let mut found = None;
        self.visit(name, &mut |value| {
            found = Some(value);
            ControlFlow::Break(())
        });
        found
    }
}
