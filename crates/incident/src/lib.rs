//! Incidents for tocsin: turning detections into incidents that say at a glance who, where,
//! how far along the ATT&CK chain, since when and how bad, and following them to closure.
//!
//! # Overview
//!
//! * [`Alert`]: one detection from a Sigma rule, a correlation or a behavioural detector, with
//!   a stable [`Alert::key`], the [`Entity`]s it names ([`entities`] lists which fields give
//!   which entity) and its evidence.
//! * [`group`] / [`Grouper`]: detections sharing an entity within a quiet gap form an
//!   [`Incident`]; each membership says why ([`JoinReason`]); very common entities stop
//!   linking ([`grouping`] explains the rules); a [`GroupingState`] saves a grouper to
//!   continue later with alerts that come after those it grouped.
//! * [`AttackCatalog`]: ATT&CK tactics and techniques from the STIX data, to name tags and put
//!   tactics in kill-chain order; unknown tags pass through.
//! * [`Severity`]: a documented score and band ([`severity`] gives the formula).
//! * [`Lifecycle`]: status along a transition table ([`lifecycle`]), assignee, notes, response
//!   actions, each change an [`AuditRecord`].
//! * [`render`]: Markdown, HTML or JSON reports.
//! * [`IncidentStore`]: the storage trait, implemented by `tocsin-store` (SQLite and in
//!   memory); [`SavePlan`] decides, without SQL, what a store writes when it saves a
//!   regrouping: which stored incidents were absorbed and whose lifecycle the survivors take
//!   over ([`plan`] gives the rules).
//! * `conformance` (cargo feature `conformance`): the store contract as a test suite that
//!   every implementation runs.
//!
//! ```
//! use tocsin_incident::*;
//!
//! let rule = RuleRef { id: "r1".into(), title: "Encoded PowerShell".into(), level: Level::High,
//!                      tags: vec!["attack.execution".into()], author: None };
//! let host = Entity::normalised(EntityKind::Host, "WS-042").into_iter().collect();
//! let alert = Alert::new(AlertKind::Sigma, rule, AlertOrigin::default(), Some(0), host, vec![]);
//! let mut incidents = group(&[alert], &GroupingConfig::default(), &AttackCatalog::empty());
//! let incident = &mut incidents[0];
//! assert_eq!(incident.title, "Encoded PowerShell on host ws-042 (1 detection)");
//! let by = Stamp { actor: "ana", at_micros: 1 };
//! assert!(incident.transition(Status::Closed, None, by).is_err()); // needs a resolution
//! incident.transition(Status::Closed, Some(Resolution::Benign), by).unwrap();
//! ```

pub mod alert;
pub mod attack;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod entities;
pub mod error;
pub mod grouping;
pub mod incident;
pub mod lifecycle;
pub mod origin;
pub mod plan;
pub mod report;
pub mod severity;
pub mod store;
pub mod suppression;
mod time;

pub use alert::{
    alert_key, Alert, AlertKind, AlertOrigin, EventIdentity, Level, RuleRef, ALERT_KEY_SCHEME,
    KEY_SCHEME_BLOB,
};
pub use attack::{AttackCatalog, AttackSummary, TacticHit, TechniqueHit};
pub use entities::{extract_entities, Entity, EntityKind};
pub use error::{AttackError, LifecycleError, ParseError, ResumeError};
pub use grouping::{
    group, group_with, group_with_state, group_with_suppressions, Grouper, GroupingConfig,
    GroupingState, Opening, OpeningSignal, GROUPING_STATE_VERSION,
};
pub use incident::{
    EntityCount, Incident, JoinReason, Link, Membership, TimelineEntry, UnlistedEntities,
    MAX_LISTED_ENTITIES,
};
pub use lifecycle::{
    AuditRecord, Change, Lifecycle, Note, Resolution, ResponseAction, Stamp, Status,
};
pub use origin::OriginTrust;
pub use plan::{Absorption, IncidentState, Inheritance, Known, Placement, SavePlan};
pub use report::{render, Format};
pub use severity::{Band, Severity, SeverityInput};
pub use store::{IncidentFilter, IncidentStore, PutOutcome};
pub use suppression::{NewSuppression, Removal, Suppression, SuppressionError, SuppressionSet};
pub use time::format_duration;
