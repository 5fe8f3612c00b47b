//! Partners' STIX 2.1 indicators as live detections.
//!
//! # Brief overview
//!
//! * [`pattern`]: the STIX patterning language (STIX 2.1 section 9) parsed into a typed
//!   tree ([`parse`]), with errors that name the column and bounds on size and nesting.
//! * [`compile`]: which patterns one event can satisfy, as alternatives of conjunctions of
//!   atoms (keys to look up, or regular expressions); the rest refused with a reason.
//! * [`load`]: STIX objects from files and folders (bundles, arrays, JSON Lines), each
//!   problem naming its file and object.
//! * [`IndicatorSet`] (`indicators`): the latest version of each indicator, without the
//!   revoked and the expired, compiled; Sigma indicators kept as rule texts.
//! * [`matcher`]: an event's values cut into tokens and looked up in hash maps, so the
//!   cost of an event does not grow with the number of indicators.
//!
//! ```
//! use tocsin_event::{Event, Value};
//! use tocsin_intel::IndicatorSetBuilder;
//!
//! let mut builder = IndicatorSetBuilder::default();
//! builder.add_text(
//!     r#"{"type": "indicator", "id": "indicator--1", "name": "C2",
//!         "modified": "2026-01-01T00:00:00Z", "pattern_type": "stix",
//!         "pattern": "[ipv4-addr:value = '192.0.2.1']"}"#,
//!     "partner.json".as_ref(),
//! );
//! let set = builder.build(0);
//! let mut event = Event::default();
//! event.push("dst", "", Value::from("192.0.2.1:443"));
//! let hits = set.matches(&event);
//! assert_eq!(set.indicators()[hits[0].indicator].name, "C2");
//! assert_eq!(hits[0].field, "dst");
//! ```

pub mod compile;
pub mod indicators;
pub mod load;
pub mod matcher;
pub mod pattern;

pub use indicators::{
    Indicator, IndicatorCounts, IndicatorSet, IndicatorSetBuilder, SigmaIndicator, Skipped,
};
pub use load::IntelError;
pub use matcher::Hit;
pub use pattern::{parse, PatternError};
