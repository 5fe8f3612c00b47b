//! The [`Detector`]: routes each event to its configured sources, runs the checks against
//! the principal's baseline, learns the event, and drops repeats.

use std::collections::{HashMap, HashSet};

use tocsin_event::{Event, Fields};

use crate::anomaly::{Anomaly, AnomalyKind};
use crate::baseline::{self, LastUse, PrincipalBaseline, PrincipalKey, DAY_MICROS};
use crate::checks::{
    burst, impossible_sequence, new_network, new_principal, unusual_time, Observation,
};
use crate::config::{Config, SourceConfig};
use crate::error::BaselineError;
use crate::network::{is_allowed, network_of, parse_address};
use crate::site::{SiteHistory, SiteNetworks, SiteRules};

/// Most (kind, principal, detail) keys remembered for the one-per-day rule before the
/// memory is cleared.
const MAX_REPORTED: usize = 100_000;

/// Counters of what the detector did with its input, for run summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Events offered.
    pub events: u64,
    /// Event-source pairs evaluated (an event may belong to several sources).
    pub observed: u64,
    /// Events of a configured source without a timestamp (skipped).
    pub without_time: u64,
    /// Event-source pairs left out by the source's `only_if` / `unless` conditions.
    pub filtered: u64,
    /// Event-source pairs whose principal field was missing or empty (skipped).
    pub without_principal: u64,
    /// Event-source pairs of new principals not learned because `limits.max_principals`
    /// was reached.
    pub over_capacity: u64,
    /// Anomalies raised.
    pub anomalies: u64,
    /// Anomalies dropped as repeats of one already raised that day.
    pub repeats: u64,
}

/// Behavioural anomaly detector over a stream of events in timestamp order.
///
/// ```
/// use tocsin_anomaly::{Config, Detector};
///
/// let config = Config::builtin().expect("the built-in configuration parses");
/// let mut detector = Detector::new(config);
/// let event = tocsin_event::Event::default(); // no logsource: belongs to no source
/// assert!(detector.observe(&event).is_empty());
/// let saved = detector.save_baseline().expect("baseline serializes");
/// Detector::with_default_config().load_baseline(&saved).expect("and loads back");
/// ```
#[derive(Debug, Clone)]
pub struct Detector {
    config: Config,
    started: Option<i64>,
    principals: HashMap<PrincipalKey, PrincipalBaseline>,
    site: SiteHistory,
    reported: HashSet<(AnomalyKind, String, String, String)>,
    reported_day: i64,
    stats: Stats,
}

impl Detector {
    /// A detector with an empty baseline.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            started: None,
            principals: HashMap::new(),
            site: SiteHistory::default(),
            reported: HashSet::new(),
            reported_day: i64::MIN,
            stats: Stats::default(),
        }
    }

    /// A detector with the built-in configuration ([`crate::BUILTIN_CONFIG`]), or no
    /// sources at all in the (tested-against) case the embedded text failed to parse.
    pub fn with_default_config() -> Self {
        let config = Config::builtin().unwrap_or_default();
        Self::new(config)
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What the detector did so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Principals with a baseline.
    pub fn principal_count(&self) -> usize {
        self.principals.len()
    }

    /// The site's own networks learned so far (see [`SiteNetworks`]); none at all when
    /// `site_networks.enabled` is off.
    pub fn site_networks(&self) -> SiteNetworks {
        SiteNetworks::new(&self.site, &site_rules(&self.config))
    }

    /// How many networks are the site's so far: it only grows, so a caller sharing
    /// [`Detector::site_networks`] with another thread renews its copy when this changes.
    pub fn site_network_count(&self) -> usize {
        self.site.established_count()
    }

    /// Learns one event and returns the anomalies it raises (usually none). Events must
    /// come in timestamp order; events of no configured source are ignored.
    pub fn observe(&mut self, event: &Event) -> Vec<Anomaly> {
        self.stats.events += 1;
        let logsource = event.logsource.as_deref();
        let sources: Vec<usize> = (0..self.config.sources.len())
            .filter(|&i| self.config.sources[i].logsource.matches(logsource))
            .collect();
        if sources.is_empty() {
            return Vec::new();
        }
        let Some(at) = event.timestamp_micros else {
            self.stats.without_time += 1;
            return Vec::new();
        };
        let started = *self.started.get_or_insert(at);
        let globally_learned =
            at.saturating_sub(started) >= i64::from(self.config.learning.days) * DAY_MICROS;
        let mut found = Vec::new();
        for index in sources {
            self.observe_source(index, event, at, globally_learned, &mut found);
        }
        self.drop_repeats(found)
    }

    fn observe_source(
        &mut self,
        index: usize,
        event: &Event,
        at: i64,
        globally_learned: bool,
        found: &mut Vec<Anomaly>,
    ) {
        self.stats.observed += 1;
        let config = &self.config;
        let source = &config.sources[index];
        if !source.accepts(event) {
            self.stats.filtered += 1;
            return;
        }
        let Some(principal) = text(event, Some(&source.principal)) else {
            self.stats.without_principal += 1;
            return;
        };
        let key = (source.principal_kind.clone(), principal.clone());
        if !self.principals.contains_key(&key)
            && self.principals.len() >= config.limits.max_principals
        {
            self.stats.over_capacity += 1;
            return;
        }
        let baseline = self
            .principals
            .entry(key)
            .or_insert_with(|| PrincipalBaseline::new(at, globally_learned));
        let action = text(event, source.action.as_deref());
        let obs = observation(config, source, event, &principal, at, action.as_deref());
        let mut finished_episode = None;
        if obs.sensitive {
            let window = i64::from(config.detectors.burst.window_minutes) * 60_000_000;
            finished_episode = baseline.push_window(at, obs.action_text(), window).1;
        }
        let learned = baseline.is_learned(at, &config.learning);
        if let Some(network) = obs.network.filter(|_| !source.failed(event)) {
            // A principal of the site's first history (seen within the global learning
            // period) or one past its own learning period vouches for a network; a key an
            // intruder created last night does not.
            let learning = i64::from(config.learning.days) * DAY_MICROS;
            let founding = self
                .started
                .is_some_and(|started| baseline.first_seen.saturating_sub(started) < learning);
            let identity = text(event, source.identity.as_deref());
            let who =
                (learned || founding).then(|| identity.as_deref().unwrap_or(principal.as_str()));
            self.site.learn(network, who, at, &config.site_networks);
        }
        found.extend(run_checks(config, &obs, baseline, learned));
        learn(baseline, &obs, learned, finished_episode, config);
    }

    /// Keeps one anomaly per (kind, principal, network or switch) per UTC day.
    fn drop_repeats(&mut self, found: Vec<Anomaly>) -> Vec<Anomaly> {
        let mut kept = Vec::with_capacity(found.len());
        for anomaly in found {
            let day = anomaly.timestamp_micros.div_euclid(DAY_MICROS);
            if day > self.reported_day || self.reported.len() >= MAX_REPORTED {
                self.reported.clear();
                self.reported_day = self.reported_day.max(day);
            }
            let detail = anomaly
                .parties
                .iter()
                .find(|e| e.kind == crate::anomaly::PartyKind::Network)
                .filter(|_| {
                    matches!(
                        anomaly.kind,
                        AnomalyKind::NewNetwork | AnomalyKind::ImpossibleSequence
                    )
                })
                .map(|e| e.value.clone())
                .unwrap_or_default();
            let key = (
                anomaly.kind,
                anomaly.principal_kind.clone(),
                anomaly.principal.clone(),
                detail,
            );
            if self.reported.insert(key) {
                self.stats.anomalies += 1;
                kept.push(anomaly);
            } else {
                self.stats.repeats += 1;
            }
        }
        kept
    }

    /// Serializes everything learned (JSON with a `version` field), for the store.
    pub fn save_baseline(&self) -> Result<Vec<u8>, BaselineError> {
        let mut site = self.site.clone();
        site.rules = Some(site_rules(&self.config));
        baseline::save(self.started, &self.principals, &site)
    }

    /// Replaces what was learned with a baseline saved by [`Detector::save_baseline`].
    /// On error the detector keeps its current state. Networks beyond the configured
    /// `limits.max_networks` (a baseline saved under a larger limit) are trimmed, least
    /// recently used first.
    pub fn load_baseline(&mut self, bytes: &[u8]) -> Result<(), BaselineError> {
        let (started, mut principals, site) = baseline::load(bytes)?;
        for baseline in principals.values_mut() {
            baseline.trim_networks(self.config.limits.max_networks);
        }
        self.started = started;
        self.principals = principals;
        self.site = site;
        self.site.trim(self.config.site_networks.max_networks);
        self.reported.clear();
        self.reported_day = i64::MIN;
        Ok(())
    }
}

/// The site's networks saved in a baseline ([`Detector::save_baseline`]), judged under the
/// rules (allow-list, prefixes, turned on or off) they were learned with, or the built-in
/// configuration's for a baseline saved before those were kept: what a reader that learns
/// nothing itself (a regrouping of a store) trusts.
pub fn saved_site_networks(bytes: &[u8]) -> Result<SiteNetworks, BaselineError> {
    let (_, _, site) = baseline::load(bytes)?;
    let rules = match &site.rules {
        Some(rules) => rules.clone(),
        None => site_rules(&Config::builtin().unwrap_or_default()),
    };
    Ok(SiteNetworks::new(&site, &rules))
}

/// The rules `config` learns and judges the site's networks under.
fn site_rules(config: &Config) -> SiteRules {
    let net = &config.detectors.new_network;
    SiteRules {
        enabled: config.site_networks.enabled,
        allow: net.allow.clone(),
        prefixes: (net.ipv4_prefix, net.ipv6_prefix),
    }
}

/// Runs every enabled check on one observation against the baseline before it; a
/// principal still being learned can only be a new principal.
fn run_checks(
    config: &Config,
    obs: &Observation<'_>,
    baseline: &mut PrincipalBaseline,
    learned: bool,
) -> Vec<Anomaly> {
    let detectors = &config.detectors;
    let mut found = Vec::new();
    if learned {
        let wider = obs.address.filter(|_| !obs.trusted).and_then(|a| {
            let seq = &detectors.impossible_sequence;
            network_of(a, seq.distinct_prefix, seq.distinct_prefix_v6)
        });
        if detectors.new_network.enabled {
            found.extend(new_network::check(obs, baseline, wider));
        }
        if detectors.unusual_time.enabled {
            found.extend(unusual_time::check(obs, baseline, &detectors.unusual_time));
        }
        if detectors.burst.enabled {
            found.extend(burst::check(obs, baseline, &detectors.burst));
        }
        if detectors.impossible_sequence.enabled {
            let config = &detectors.impossible_sequence;
            let net = &detectors.new_network;
            let prefixes = (net.ipv4_prefix, net.ipv6_prefix);
            found.extend(impossible_sequence::check(obs, baseline, config, prefixes));
        }
    }
    if detectors.new_principal.enabled {
        if let Some(anomaly) = new_principal::check(obs, baseline, learned) {
            baseline.announced = true;
            found.push(anomaly);
        }
    }
    found
}

/// The first value of `field` as trimmed, non-empty text.
fn text(event: &Event, field: Option<&str>) -> Option<String> {
    let value = event.first(field?)?;
    if value.is_null() {
        return None;
    }
    let text = value.to_string();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Reads the address and target of `event` for `source`.
fn observation<'e>(
    config: &Config,
    source: &'e SourceConfig,
    event: &'e Event,
    principal: &'e str,
    at: i64,
    action: Option<&'e str>,
) -> Observation<'e> {
    let net = &config.detectors.new_network;
    let address = text(event, source.address.as_deref()).and_then(|a| parse_address(&a));
    let trusted = address.is_some_and(|a| is_allowed(&net.allow, a));
    let network = address
        .filter(|_| !trusted)
        .and_then(|a| network_of(a, net.ipv4_prefix, net.ipv6_prefix));
    Observation {
        source,
        principal,
        at,
        action,
        sensitive: source.is_sensitive(action),
        address,
        trusted,
        network,
        target: text(event, source.target.as_deref()),
        origin: &event.origin,
    }
}

/// Adds the event to the principal's baseline.
///
/// The busiest burst window is learned from every window while the principal is being
/// learned; afterwards only from a finished episode (a run of sensitive actions ended by
/// a quiet window) that was not a burst, so that an attack cannot raise its own bar one
/// action at a time.
fn learn(
    baseline: &mut PrincipalBaseline,
    obs: &Observation<'_>,
    learned: bool,
    finished_episode: Option<u64>,
    config: &Config,
) {
    baseline.events = baseline.events.saturating_add(1);
    baseline.last_seen = baseline.last_seen.max(obs.at);
    baseline.settle_activity(obs.at);
    if obs.trusted {
        baseline.trusted_events += 1;
    } else if let Some(network) = obs.network {
        baseline.record_network(network, obs.at, config.limits.max_networks);
    }
    if obs.sensitive {
        baseline.sensitive_events += 1;
        let burst = &config.detectors.burst;
        let learnt_peak = if learned {
            finished_episode.filter(|&peak| !burst::is_burst(peak, baseline, burst))
        } else {
            Some(baseline.window.len() as u64)
        };
        if let Some(peak) = learnt_peak {
            baseline.max_window_count = baseline.max_window_count.max(peak);
        }
    }
    if let Some((a, b)) =
        impossible_sequence::quick_switch(obs, baseline, &config.detectors.impossible_sequence)
    {
        baseline.record_switch(a, b);
    }
    if let Some(address) = obs.address.filter(|_| !obs.trusted) {
        baseline.last_use = Some(LastUse {
            address,
            at: obs.at,
        });
    }
}
