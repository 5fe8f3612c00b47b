//! The detection-to-incident path every tocsin command shares (`hunt`, `demo`, `bench`, and
//! `serve`), so that the same logs give the same findings and the same incidents
//! whichever command reads them.
//!
//! # Brief overview
//!
//! * [`load_rules`]: Sigma rules from files, folders and the built-in set ([`BUILTIN_RULES`]),
//!   selected ([`RuleSelection`]) and compiled ([`CompileOptions`]) into a [`RuleSet`].
//! * [`Detectors`]: the compiled Sigma rules, the correlation rules over them and the
//!   behavioural detectors. [`Detectors::scan`] judges one event (from any thread) and hands
//!   what it finds to a [`FindingSink`]; the matches correlations need and the events the
//!   behavioural detectors watch are handed over too, because both must see them in time
//!   order, which only the caller can arrange ([`Detectors::replay`]).
//! * [`Detectors::with_indicators`]: partners' STIX indicators ([`tocsin_intel::IndicatorSet`])
//!   judged after the rules, each hit a [`Finding::Rule`] whose rule is the indicator
//!   ([`indicator_rule`]); their Sigma indicators compile with the other rules
//!   ([`load_rules_with`], [`sigma_rule_texts`]).
//! * [`Finding`]: a Sigma match, a correlation hit or a behavioural anomaly: three kinds of
//!   one thing, each with one conversion to an output line ([`Finding::record`]) and to an
//!   incident alert ([`Finding::alert`]).
//! * [`IncidentWriter`]: alerts into any [`IncidentStore`](tocsin_incident::IncidentStore)
//!   in batches, then grouped into incidents with the one [`GroupingConfig`](tocsin_incident::GroupingConfig)
//!   (entity resolution and the opening level are part of grouping, in `tocsin-incident`).
//! * [`FamiliarOrigins`] / [`SharedOrigins`]: what the writer's grouping is told of the
//!   site's own networks ([`IncidentWriter::trust_origins`]), learned by the behavioural
//!   detectors, so that an API key's detections from them are context, not evidence.
//!
//! ```
//! use tocsin_pipeline::{AlertCollector, Detectors};
//! use tocsin_engine::{EngineBuilder, Scratch};
//! use tocsin_event::{Event, Value};
//!
//! let rule = r#"
//! title: Whoami
//! id: 7a5e1a4c-2f1e-4c3b-9a55-0a8f0e3b2c10
//! level: high
//! logsource: { product: windows, category: process_creation }
//! detection:
//!   selection: { Image|endswith: '\whoami.exe' }
//!   condition: selection
//! "#;
//! let documents: Vec<_> = tocsin_sigma::parse_documents(rule, "whoami.yml".as_ref())
//!     .into_iter()
//!     .collect::<Result<_, _>>()
//!     .unwrap();
//! let (engine, _report) = EngineBuilder::new().build(&documents);
//! let (detectors, errors) = Detectors::new(engine, Vec::new(), None);
//! assert!(errors.is_empty());
//!
//! let mut event = Event::default();
//! event.push("Event.System.Channel", "Channel", Value::from("Microsoft-Windows-Sysmon/Operational"));
//! event.push("Event.System.EventID", "EventID", Value::Int(1));
//! event.push("Event.EventData.Image", "Image", Value::from("C:\\Windows\\System32\\whoami.exe"));
//! let mut alerts = AlertCollector::default();
//! let _ = detectors.scan(&event, &mut Scratch::default(), &mut alerts);
//! assert_eq!(alerts.alerts[0].rule.title, "Whoami");
//! ```

mod behaviour;
mod collect;
mod correlation;
mod detectors;
mod finding;
mod hit;
mod intel;
mod origins;
mod repeats;
mod rule_cache;
mod rules;
mod spill;
mod writer;

pub use behaviour::{Behaviour, BehaviourError, BASELINE_BLOB};
pub use collect::AlertCollector;
pub use correlation::{Correlations, KeptMatch, Replay};
pub use detectors::{Detectors, FindingSink, Late, ReplayBuffer, DEFAULT_REPLAY_MEMORY};
pub use finding::{anomaly_rule, sigma_rule, Finding, RuleRefs};
pub use hit::HitView;
pub use intel::{indicator_level, indicator_rule, sigma_rule_texts, RuleText};
pub use origins::{FamiliarOrigins, SharedOrigins, StoredOriginsError};
pub use rule_cache::{load_rules_cached, CacheOutcome, RuleCache, SETTLE};
pub use rules::{
    load_documents, load_rules, load_rules_with, similar_signals, CompileOptions, DuplicateId,
    RuleSelection, RuleSet, RuleSetError, BUILTIN_RULES,
};
pub use spill::{Sorted, Spillable, Table, TimeSorted};
pub use writer::{
    ungrouped_alerts, GroupedBy, IncidentWriter, StoreReport, ALERT_BATCH, GROUPED_BLOB, STATE_BLOB,
};
