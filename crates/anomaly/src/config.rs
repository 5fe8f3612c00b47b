//! The detector configuration: which log sources carry principals, which of their fields
//! hold the principal, the address and the action, and how each detector is tuned.
//!
//! A configuration is written in YAML (see [`crate::BUILTIN_CONFIG`] for the documented
//! default) and read by [`Config::parse`]; every key has a default, so a file only says
//! what it changes. Detectors absent from `detectors` keep their defaults; `enabled: false`
//! turns one off.

use std::path::Path;

use std::ops::ControlFlow;

use ipnet::IpNet;
use tocsin_event::{Fields, LogSource};

use crate::anomaly::Level;

use crate::error::ConfigError;
use crate::site::SiteNetworksConfig;

/// A whole anomaly-detection configuration. The default has no sources (detects nothing);
/// [`Config::builtin`] is the useful starting point.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// How long each principal is only learned before it can raise anything.
    pub learning: Learning,
    /// The log sources that carry principals, each with its field names.
    pub sources: Vec<SourceConfig>,
    /// The tuning of each detector.
    pub detectors: DetectorsConfig,
    /// Bounds on the memory the baselines may take.
    pub limits: Limits,
    /// How the site's own networks are learned (see [`crate::SiteNetworks`]).
    pub site_networks: SiteNetworksConfig,
}

/// The learning period: a principal raises nothing until it has been seen for `days` days
/// and `min_events` events. The same `days`, counted from the first event the detector ever
/// saw, is the global learning period after which a brand-new principal is itself notable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learning {
    /// Days between a principal's first event and the first anomaly it may raise.
    pub days: u32,
    /// Events a principal must have before it may raise anything.
    pub min_events: u64,
}

/// Which events belong to a source and which fields say who did what from where.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// A short name for the source, shown in anomalies (`api-keys`).
    pub name: String,
    /// The events of this source: those whose `Event::logsource` matches every part given.
    pub logsource: LogSourceSelector,
    /// The field naming the principal (`api_key_id`, `who_user`).
    pub principal: String,
    /// What the principal is, in words (`API key`, `representative`). Principals of
    /// sources with the same kind share one baseline, so an API key seen in two logs is
    /// learned once.
    pub principal_kind: String,
    /// The field naming the principal as every log names it, if the principal field does
    /// not (an API key's OAuth client id, which the appliance's records of the key's
    /// logins name it by): the same principal seen by two sources then vouches once for a
    /// network of the site's (see [`crate::SiteNetworks`]).
    pub identity: Option<String>,
    /// The field holding the source IP address, if the source has one.
    pub address: Option<String>,
    /// The field naming the action (`action`, `event`).
    pub action: Option<String>,
    /// The field naming what the action was done to (`target`), reported as an entity.
    pub target: Option<String>,
    /// The actions that change accounts, keys or open sessions: counted by the burst
    /// detector and the only ones unusual-time and new-principal look at.
    pub sensitive_actions: Vec<String>,
    /// ATT&CK tags added to every anomaly of this source (`attack.t1550.001` for API keys).
    pub tags: Vec<String>,
    /// The level of a new-principal anomaly for this source: `medium` by default, `low`
    /// where new principals are routine (representatives are hired).
    pub new_principal_level: Level,
    /// Events are taken only if every one of these fields has one of its listed values.
    pub only_if: Vec<FieldCondition>,
    /// Events are skipped if any of these fields has one of its listed values (such as
    /// appliance records of API calls, `auth_method: api_key`, which the API audit source
    /// already covers).
    pub unless: Vec<FieldCondition>,
    /// An event is a failed attempt if any of these fields has one of its listed values
    /// (`result: failure`): it is judged like the others but teaches the site's own
    /// networks nothing.
    pub failed_if: Vec<FieldCondition>,
}

/// A field and the values it is compared with (exactly, ignoring ASCII case).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldCondition {
    /// The field name.
    pub field: String,
    /// The values.
    pub values: Vec<String>,
}

impl FieldCondition {
    /// Whether the event's field has one of the values.
    pub fn holds(&self, event: &impl Fields) -> bool {
        let mut found = false;
        event.visit(&self.field, &mut |value| {
            let text = value.to_string();
            found = self.values.iter().any(|v| v.eq_ignore_ascii_case(&text));
            if found {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        found
    }
}

impl SourceConfig {
    /// Whether the event passes the source's `only_if` and `unless` conditions.
    pub fn accepts(&self, event: &impl Fields) -> bool {
        self.only_if.iter().all(|c| c.holds(event)) && !self.unless.iter().any(|c| c.holds(event))
    }

    /// Whether the event records a failed attempt (see [`SourceConfig::failed_if`]).
    pub fn failed(&self, event: &impl Fields) -> bool {
        self.failed_if.iter().any(|c| c.holds(event))
    }

    /// Whether `action` is one of this source's sensitive actions.
    pub fn is_sensitive(&self, action: Option<&str>) -> bool {
        action.is_some_and(|a| self.sensitive_actions.iter().any(|s| s == a))
    }
}

/// A Sigma-style logsource filter; parts left `None` match anything.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogSourceSelector {
    /// Required `product`, compared without case.
    pub product: Option<String>,
    /// Required `service`, compared without case.
    pub service: Option<String>,
    /// Required `category`, compared without case.
    pub category: Option<String>,
}

impl LogSourceSelector {
    /// Whether an event's logsource matches. An event without a logsource matches only a
    /// selector that requires nothing.
    pub fn matches(&self, logsource: Option<&LogSource>) -> bool {
        let part = |wanted: &Option<String>, have: Option<&str>| match wanted {
            None => true,
            Some(w) => have.is_some_and(|h| h.eq_ignore_ascii_case(w)),
        };
        part(&self.product, logsource.and_then(|l| l.product.as_deref()))
            && part(&self.service, logsource.and_then(|l| l.service.as_deref()))
            && part(
                &self.category,
                logsource.and_then(|l| l.category.as_deref()),
            )
    }
}

/// The tuning of every detector.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DetectorsConfig {
    /// First use from a network never seen for the principal.
    pub new_network: NewNetworkConfig,
    /// Sensitive actions at hours or on days the principal does not work.
    pub unusual_time: UnusualTimeConfig,
    /// More sensitive actions in a window than the principal ever did.
    pub burst: BurstConfig,
    /// Use from two distant networks within minutes.
    pub impossible_sequence: ImpossibleSequenceConfig,
    /// A principal first seen after the global learning period, doing something sensitive.
    pub new_principal: NewPrincipalConfig,
}

/// Tuning of the new-network detector.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNetworkConfig {
    /// Whether the detector runs.
    pub enabled: bool,
    /// IPv4 addresses are grouped into networks of this prefix length.
    pub ipv4_prefix: u8,
    /// IPv6 addresses are grouped into networks of this prefix length.
    pub ipv6_prefix: u8,
    /// Trusted networks (VPN, offices): never new, never part of an impossible sequence.
    pub allow: Vec<IpNet>,
}

/// Tuning of the unusual-time detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnusualTimeConfig {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Events a principal needs before its hours mean anything.
    pub min_history_events: u64,
    /// An hour of the day (with `hour_margin` hours either side) holding less than this
    /// share of the history is unusual.
    pub rare_hour_share: f64,
    /// Hours either side of the event's hour counted with it, so that a shift that starts
    /// or ends a little early or late is not unusual.
    pub hour_margin: u8,
    /// A working day holding less than this share of the history is unusual...
    pub rare_day_share: f64,
    /// ...once the history spans this many days (a day of the week seen once or twice
    /// says little).
    pub min_history_days: u32,
}

/// Tuning of the burst detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstConfig {
    /// Whether the detector runs.
    pub enabled: bool,
    /// The sliding window in which sensitive actions are counted.
    pub window_minutes: u32,
    /// A window is a burst when it holds more than `factor` times the principal's busiest
    /// learned window...
    pub factor: f64,
    /// ...and at least this many sensitive actions.
    pub min_count: u64,
}

/// Tuning of the impossible-sequence detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImpossibleSequenceConfig {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Two uses closer than this are one sequence.
    pub within_minutes: u32,
    /// IPv4 addresses whose prefixes of this length differ are distant networks.
    pub distinct_prefix: u8,
    /// IPv6 addresses whose prefixes of this length differ are distant networks.
    pub distinct_prefix_v6: u8,
}

/// Tuning of the new-principal detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewPrincipalConfig {
    /// Whether the detector runs.
    pub enabled: bool,
}

/// Bounds on the memory the baselines may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Principals kept; events of further principals are counted but not learned.
    pub max_principals: usize,
    /// Networks kept per principal; the least recently seen is forgotten first.
    pub max_networks: usize,
}

impl Default for Learning {
    fn default() -> Self {
        Self {
            days: 7,
            min_events: 20,
        }
    }
}

impl Default for NewNetworkConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ipv4_prefix: 24,
            ipv6_prefix: 48,
            allow: Vec::new(),
        }
    }
}

impl Default for UnusualTimeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            min_history_events: 50,
            rare_hour_share: 0.005,
            hour_margin: 2,
            rare_day_share: 0.005,
            min_history_days: 14,
        }
    }
}

impl Default for BurstConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            window_minutes: 10,
            factor: 3.0,
            min_count: 5,
        }
    }
}

impl Default for ImpossibleSequenceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            within_minutes: 30,
            distinct_prefix: 16,
            distinct_prefix_v6: 32,
        }
    }
}

impl Default for NewPrincipalConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_principals: 100_000,
            max_networks: 64,
        }
    }
}

impl Config {
    /// Reads a configuration from YAML text; `path` only locates errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        crate::parse::parse_config(text, path)
    }

    /// Reads a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| ConfigError::new(path, 0, "", format!("cannot read file: {err}")))?;
        Self::parse(&text, path)
    }

    /// The embedded default configuration ([`crate::BUILTIN_CONFIG`]) for the agreed
    /// remote-support formats.
    pub fn builtin() -> Result<Config, ConfigError> {
        Self::parse(crate::BUILTIN_CONFIG, Path::new("<built-in>"))
    }
}
