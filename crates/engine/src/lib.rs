//! The tocsin detection engine: Sigma rules compiled once, then evaluated on every event.
//!
//! The engine takes the typed rules of [`tocsin_sigma`], places each rule by its logsource
//! (a [`LogsourceMapping`] from Sigma's product/category/service to Windows channels and
//! event IDs, with field renames), compiles its detection into a tree of cheap matchers,
//! and evaluates events through the [`tocsin_event::Fields`] view only: it never sees EVTX
//! or JSON.
//!
//! # Brief overview
//!
//! * [`EngineBuilder`] → [`Engine`] and a [`BuildReport`] (bad rules are reported, never fatal).
//! * [`Engine::evaluate`]: the ids of the rules an event matches, using an index by channel and
//!   event ID so that an event meets only the rules that can match it. [`Engine::evaluate_reference`]
//!   is the plain evaluator that tests compare it with.
//! * What becomes of a match (outputs, alerts, correlations) is `tocsin-pipeline`'s concern:
//!   the engine only answers which rules an event meets.
//! * [`LogsourceMapping`]: the data that places rules; the built-in Windows mapping is
//!   [`mapping::BUILTIN_WINDOWS_MAPPING`].
//!
//! Matching does no IO and cannot fail: every error surfaces when a rule is compiled. (An
//! engine read back from storage decodes each rule when it is first evaluated or shown, and
//! leaves out, with an error logged, a rule whose stored form is damaged.)
//!
//! ```
//! use tocsin_engine::{EngineBuilder, Scratch};
//! use tocsin_event::{Event, Value};
//!
//! let yaml = r#"
//! title: Whoami
//! logsource: { category: process_creation, product: windows }
//! detection:
//!   selection: { Image|endswith: '\whoami.exe' }
//!   condition: selection
//! "#;
//! let docs: Vec<_> = tocsin_sigma::parse_documents(yaml, "inline.yml".as_ref())
//!     .into_iter()
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! let (engine, report) = EngineBuilder::new().build(&docs);
//! assert!(report.errors.is_empty());
//!
//! let mut event = Event::default();
//! event.push("Event.System.Channel", "Channel", Value::from("Microsoft-Windows-Sysmon/Operational"));
//! event.push("Event.System.EventID", "EventID", Value::Int(1));
//! event.push("Event.EventData.Image", "Image", Value::from("C:\\Windows\\System32\\WHOAMI.EXE"));
//! let mut scratch = Scratch::default();
//! assert_eq!(engine.evaluate(&event, &mut scratch), [0]);
//! ```

mod ascii_regex;
mod candidates;
mod compile;
mod encode;
mod engine;
mod expr;
pub mod mapping;
mod matcher;
mod needle_set;
mod packed_literals;
mod pcre;
mod placeholders;
mod prefilter;
mod regex_facts;
mod stored;
mod text;
mod window_set;

pub use compile::{CompileError, CompileErrorKind, Placeholders};
pub use engine::{BuildReport, Engine, EngineBuilder, InvalidEngine, RuleError, RuleId, RuleInfo};
pub use expr::Scratch;
pub use mapping::LogsourceMapping;
pub use placeholders::{parse_placeholders, PlaceholderError};
#[cfg(test)]
mod tests;
