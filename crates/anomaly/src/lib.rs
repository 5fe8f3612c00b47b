//! Behavioural detectors for credentials and keys: API keys, accounts, representatives.
//!
//! Sigma rules catch what is bad in itself; a stolen API key used to reset passwords looks
//! like ordinary help-desk work, except that *this* key never did it *from there*, *then*
//! or *that fast*. This crate learns, per principal (an API key id, a user name), what is
//! usual, and raises an explained [`Anomaly`] when something is not.
//!
//! # Overview
//!
//! * [`Config`] (YAML, [`BUILTIN_CONFIG`] is the documented default for the remote-support
//!   formats) says which log sources carry principals and in which fields the principal,
//!   address, action and target are, and tunes the detectors.
//! * [`Detector::observe`] takes events in timestamp order, runs the checks against the
//!   principal's baseline as it was *before* the event, then learns the event.
//! * [`Detector::save_baseline`] / [`Detector::load_baseline`] persist what was learned
//!   (versioned JSON), so a restart forgets nothing.
//!
//! # The detectors
//!
//! | kind | fires when | level |
//! |---|---|---|
//! | [`AnomalyKind::NewNetwork`] | an untrusted address in a /24 (/48) never used by the principal | high on a sensitive action, medium otherwise, low inside a known /16 |
//! | [`AnomalyKind::UnusualTime`] | a sensitive action at an hour (±2) or on a working day holding < 0.5% of ≥ 50 events (days: after 14 days) | medium if both rare, low if one |
//! | [`AnomalyKind::Burst`] | ≥ 5 sensitive actions in 10 minutes and > 3× the busiest learned window | high |
//! | [`AnomalyKind::ImpossibleSequence`] | two untrusted uses < 30 min apart from different /16s, a switch never seen | high; low between two networks used for more than a day |
//! | [`AnomalyKind::NewPrincipal`] | a principal first seen after the global learning period, on its first sensitive action | the source's `new_principal_level`: medium for API keys, low for representatives |
//!
//! # False-alarm control
//!
//! * **Learning.** A principal raises nothing until seen for `learning.days` days and
//!   `learning.min_events` events. New principals during the first `days` of the whole
//!   stream are learned silently; later ones fire [`AnomalyKind::NewPrincipal`] once.
//! * **Trusted networks.** Allow-listed addresses (default: private ranges) are never
//!   new and never part of an impossible sequence; they are only counted.
//! * **Once per thing.** A network is learned on its first use, so it fires once; a known
//!   quick switch between two networks never fires again; and at most one anomaly per
//!   (kind, principal, network) is raised per UTC day.
//! * **Sensitive actions only** for unusual time, bursts and new principals.
//! * **Unusual time is cautious.** It needs `min_history_events` of history, judges an
//!   hour with 2 hours either side, judges days only after 14 days of history, uses the
//!   principal's *working* day (starting in its quietest hours, so a late shift crossing
//!   UTC midnight is one day), and learns a day late, so that an attacker's own preamble
//!   does not make its hour look usual.
//! * **No self-raising bar.** After learning, a burst episode (a run of sensitive actions
//!   ended by a quiet window) only teaches the baseline when it was not a burst, so an
//!   attack cannot make itself normal one action at a time.
//! * **Filters.** A source can take only some events (`only_if`) or skip some (`unless`);
//!   the built-in representatives source skips the appliance's records of API calls
//!   (`auth_method: api_key`), which the API-key source already learns.
//! * **The site's own networks.** Besides each principal's networks, the detector learns
//!   the networks the site itself works from ([`SiteNetworks`]: successful activity on 5
//!   distinct days from 2 distinct principals of the site's first history or past their own
//!   learning period). It raises nothing itself; the incident
//!   layer reads it (`tocsin-pipeline`'s origin trust) so that an API key's acts from the
//!   site's own networks count as context, not as evidence of an intrusion.
//! * **Levels.** `low` anomalies are context for an incident, not a reason for one; the
//!   incident layer should open incidents on `medium` and above.
//!
//! # Measured on the demo generator
//!
//! Over eight seeds of `tocsin-demo` (21 benign days each, the appliance and API audit
//! logs through `tocsin-decode`), the built-in configuration raised no `medium` or `high`
//! anomaly before the key's first misuse, and about three `low` ones a week (shifts
//! running into unusual hours, new hires). At the attacker's first request it raised a
//! `medium` new network and a `high` impossible sequence every time, and a `high` burst
//! within ten minutes when five or more accounts were reset.
//!
//! # ATT&CK tags
//!
//! See [`AnomalyKind::attack_tags`]; each source adds its own tags (the built-in API-key
//! source adds `attack.t1550.001`, application access token).
//!
//! # Memory
//!
//! Per principal: at most `limits.max_networks` networks (least recently used forgotten),
//! 32 known switches, a 168-hour activity histogram, the last day's event times (at most
//! 10 000) and the current burst window (at most 10 000 actions). At most
//! `limits.max_principals` principals are learned; further ones are counted in
//! [`Stats::over_capacity`].

mod activity;
mod anomaly;
mod baseline;
mod checks;
mod config;
mod detector;
mod error;
mod network;
mod parse;
mod site;

#[cfg(test)]
mod tests;

pub use anomaly::{Anomaly, AnomalyKind, Level, Party, PartyKind};
pub use config::{
    BurstConfig, Config, DetectorsConfig, FieldCondition, ImpossibleSequenceConfig, Learning,
    Limits, LogSourceSelector, NewNetworkConfig, NewPrincipalConfig, SourceConfig,
    UnusualTimeConfig,
};
pub use detector::{saved_site_networks, Detector, Stats};
pub use error::{BaselineError, ConfigError};
pub use site::{SiteNetworks, SiteNetworksConfig};

/// The built-in configuration, for the remote-support appliance syslog (principal
/// `who_user`) and the API audit log (principal `api_key_id`), with the detector
/// settings documented in its comments. Read it with [`Config::builtin`].
pub const BUILTIN_CONFIG: &str = include_str!("builtin.yaml");
