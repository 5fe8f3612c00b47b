//! Grouping detections into incidents by shared entities within a quiet gap.
//!
//! # Rules
//!
//! Alerts are taken in time order (then by key, so the result never depends on input order;
//! alerts without a time come last and are treated as within the gap). An alert joins an
//! incident when it shares a *linking* entity with one of its detections and comes no later
//! than [`GroupingConfig::quiet_gap_micros`] after the incident's last activity (or
//! [`GroupingConfig::severe_quiet_gap_micros`] once it is an incident or holds a high or
//! critical alert: an intruder who works slowly, an hour or two between steps, is still one
//! intrusion, and the entities of an incident, which opened on evidence, are worth
//! following longer). An alert that
//! links several incidents merges them into the oldest one (whose id survives), and its
//! membership says which ones it tied in. An alert that links nothing opens a new incident,
//! whose id derives from the alert's key, so regrouping the same alerts gives the same ids.
//! Entities are compared by their [`Entity::link_key`]: a host named fully in one log and by
//! its short name in another is one host.
//!
//! # Which groups become incidents
//!
//! Every alert is grouped, but only a group with enough evidence is an incident (see
//! [`opening`]): an alert at [`GroupingConfig::alone_level`] (high by default), or an alert
//! at [`GroupingConfig::min_opening_level`] (medium by default) corroborated by other
//! distinct signals up to [`GroupingConfig::min_risk`]. `low` and `informational` alerts
//! alone (an API key changed, a new hire's first action, a shift running late) are context,
//! never a reason for an incident. A group becomes an incident as soon as it has the
//! evidence, and it then holds all its alerts; the incident says why it opened
//! ([`Incident::opening`]).
//!
//! # Against over-merging
//!
//! Some entities are everywhere: a domain controller every user logs on to, an admin account
//! used on every host, a NAT address. Linking on them would glue the whole estate into one
//! incident. Three defences:
//!
//! 1. placeholders (`SYSTEM`, `-`, machine accounts, loopback) are never entities at all
//!    (see [`crate::entities`]);
//! 2. only the kinds in [`GroupingConfig::linking_kinds`] link (all five by default);
//! 3. an entity seen with more than [`GroupingConfig::max_spread`] distinct partners within
//!    [`GroupingConfig::spread_window_micros`] (a day by default) does not link while that
//!    lasts. A host's partners are the users it was seen with; any other entity's partners
//!    are the hosts it was seen on. A representative who helped twenty people last week is
//!    not common tonight; a domain controller every user logs on to is, every day. The
//!    entity is still listed on the
//!    incidents, it just no longer joins them. Because grouping runs in time order, detections
//!    linked before the entity became common stay linked.
//!
//! # Capped incidents
//!
//! An incident takes at most [`GroupingConfig::max_detections`] detections (5,000 by
//! default) over at most [`GroupingConfig::max_span_micros`] from its first one (a week).
//! Past either, it is *full*: a detection that would join it opens (or joins) another group
//! instead, whose membership says which full incidents it continues
//! ([`JoinReason::continues`], gathered in [`Incident::continues`]). What continues an
//! incident is one at once (with the opening and severity of the first one it continues),
//! whatever its own evidence. An entity that
//! triggers rules without ever going quiet (a chatty rule on a busy server, a scan that
//! lasts days) gives a chain of incidents, each readable, instead of one that grows without
//! end; a live service keeps, and rewrites at every grouping, no more than a full
//! incident's detections per entity.
//!
//! # Continuing later
//!
//! Grouping is a fold over the alerts in that order, so a [`Grouper`] can save its state
//! ([`Grouper::state`], a [`GroupingState`]) and continue from it later
//! ([`Grouper::resume`]) with alerts that all come after the newest one it grouped
//! ([`Grouper::appends`]); the result is exactly that of grouping everything again. The
//! state holds the distinct linking entities and the groups still joinable, not the alerts
//! ([`state`] gives the details). Alerts that come earlier, or without a time, need a full
//! regrouping.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use self::opening::Signals;
use crate::alert::{Alert, Level};
use crate::attack::AttackCatalog;
use crate::entities::{Entity, EntityKind};
use crate::incident::{Incident, JoinReason, Link};
use crate::origin::OriginTrust;
use crate::suppression::SuppressionSet;

/// One hour, the default quiet gap.
pub const DEFAULT_QUIET_GAP_MICROS: i64 = 3_600 * 1_000_000;
/// One day, the default quiet gap of a severe group.
pub const DEFAULT_SEVERE_QUIET_GAP_MICROS: i64 = 24 * 3_600 * 1_000_000;
/// The default [`GroupingConfig::max_spread`].
pub const DEFAULT_MAX_SPREAD: usize = 10;
/// One day, the default [`GroupingConfig::spread_window_micros`].
pub const DEFAULT_SPREAD_WINDOW_MICROS: i64 = 24 * 3_600 * 1_000_000;
/// The default [`GroupingConfig::min_opening_level`].
pub const DEFAULT_OPENING_LEVEL: Level = Level::Medium;
/// The default [`GroupingConfig::max_detections`].
pub const DEFAULT_MAX_DETECTIONS: usize = 5_000;
/// One week, the default [`GroupingConfig::max_span_micros`].
pub const DEFAULT_MAX_SPAN_MICROS: i64 = 7 * 24 * 3_600 * 1_000_000;

/// How detections are grouped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupingConfig {
    /// How long an incident may be quiet before a new detection opens another one instead of
    /// joining it (microseconds).
    pub quiet_gap_micros: i64,
    /// The quiet gap of a group holding a high or critical alert (microseconds), at least
    /// `quiet_gap_micros`.
    #[serde(default = "default_severe_quiet_gap")]
    pub severe_quiet_gap_micros: i64,
    /// The entity kinds that link detections.
    pub linking_kinds: Vec<EntityKind>,
    /// An entity seen with more distinct partners than this within `spread_window_micros`
    /// does not link.
    pub max_spread: usize,
    /// The window over which an entity's partners are counted (microseconds).
    #[serde(default = "default_spread_window")]
    pub spread_window_micros: i64,
    /// The lowest alert level that opens an incident; lower alerts only join one (see the
    /// module documentation).
    pub min_opening_level: Level,
    /// An alert at this level or above opens an incident alone (see [`opening`]).
    #[serde(default = "default_alone_level")]
    pub alone_level: Level,
    /// The risk of distinct signals that opens an incident below the alone level (see
    /// [`opening`]).
    #[serde(default = "default_min_risk")]
    pub min_risk: u32,
    /// Rules that see the same activity from different logs (Sigma `related: similar`), each
    /// rule id mapped to the one id they count as: the same act logged twice is one signal,
    /// not corroboration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub same_signal: BTreeMap<String, String>,
    /// An incident holding this many detections is full: later ones continue it in another
    /// (see the module documentation).
    #[serde(default = "default_max_detections")]
    pub max_detections: usize,
    /// An incident is full for a detection this long after its first one (microseconds).
    #[serde(default = "default_max_span")]
    pub max_span_micros: i64,
}

impl GroupingConfig {
    /// The signal a rule's alerts count as (see [`GroupingConfig::same_signal`]).
    pub fn signal_of<'a>(&'a self, rule_id: &'a str) -> &'a str {
        self.same_signal
            .get(rule_id)
            .map_or(rule_id, String::as_str)
    }
}

/// [`DEFAULT_SPREAD_WINDOW_MICROS`], for serde.
fn default_spread_window() -> i64 {
    DEFAULT_SPREAD_WINDOW_MICROS
}

/// [`DEFAULT_SEVERE_QUIET_GAP_MICROS`], for serde.
fn default_severe_quiet_gap() -> i64 {
    DEFAULT_SEVERE_QUIET_GAP_MICROS
}

/// [`DEFAULT_MAX_DETECTIONS`], for serde.
fn default_max_detections() -> usize {
    DEFAULT_MAX_DETECTIONS
}

/// [`DEFAULT_MAX_SPAN_MICROS`], for serde.
fn default_max_span() -> i64 {
    DEFAULT_MAX_SPAN_MICROS
}

/// [`opening::DEFAULT_ALONE_LEVEL`], for serde.
fn default_alone_level() -> Level {
    opening::DEFAULT_ALONE_LEVEL
}

/// [`opening::DEFAULT_MIN_RISK`], for serde.
fn default_min_risk() -> u32 {
    opening::DEFAULT_MIN_RISK
}

impl Default for GroupingConfig {
    fn default() -> Self {
        GroupingConfig {
            quiet_gap_micros: DEFAULT_QUIET_GAP_MICROS,
            severe_quiet_gap_micros: DEFAULT_SEVERE_QUIET_GAP_MICROS,
            linking_kinds: vec![
                EntityKind::Host,
                EntityKind::User,
                EntityKind::Account,
                EntityKind::ApiKey,
                EntityKind::SourceIp,
            ],
            max_spread: DEFAULT_MAX_SPREAD,
            spread_window_micros: DEFAULT_SPREAD_WINDOW_MICROS,
            min_opening_level: DEFAULT_OPENING_LEVEL,
            alone_level: opening::DEFAULT_ALONE_LEVEL,
            min_risk: opening::DEFAULT_MIN_RISK,
            same_signal: BTreeMap::new(),
            max_detections: DEFAULT_MAX_DETECTIONS,
            max_span_micros: DEFAULT_MAX_SPAN_MICROS,
        }
    }
}

/// Groups `alerts` into incidents (see the module documentation), oldest incident first.
pub fn group(alerts: &[Alert], config: &GroupingConfig, catalog: &AttackCatalog) -> Vec<Incident> {
    grouper_over(alerts, config).finish(catalog)
}

/// Groups `alerts` as [`group`] does and also returns the state to continue from with later
/// alerts (`None` when an alert has no time or there is none; see [`GroupingState`]).
pub fn group_with_state(
    alerts: &[Alert],
    config: &GroupingConfig,
    catalog: &AttackCatalog,
) -> (Vec<Incident>, Option<GroupingState>) {
    group_with_suppressions(alerts, config, &SuppressionSet::default(), catalog)
}

/// Groups `alerts` as [`group_with_state`] does, the alerts that `suppressions` match adding
/// no evidence (see [`crate::suppression`]).
pub fn group_with_suppressions(
    alerts: &[Alert],
    config: &GroupingConfig,
    suppressions: &SuppressionSet,
    catalog: &AttackCatalog,
) -> (Vec<Incident>, Option<GroupingState>) {
    let mut grouper = Grouper::new(config.clone());
    grouper.suppress(suppressions.clone());
    group_with(grouper, alerts, catalog)
}

/// Groups `alerts` with `grouper` (made with its settings, suppressions and origin trust)
/// as [`group_with_state`] does.
pub fn group_with<'a>(
    grouper: Grouper<'a>,
    alerts: &'a [Alert],
    catalog: &AttackCatalog,
) -> (Vec<Incident>, Option<GroupingState>) {
    let grouper = push_in_order(grouper, alerts);
    let state = grouper.state();
    (grouper.finish(catalog), state)
}

/// A grouper that was pushed `alerts` in grouping order.
fn grouper_over<'a>(alerts: &'a [Alert], config: &GroupingConfig) -> Grouper<'a> {
    push_in_order(Grouper::new(config.clone()), alerts)
}

/// `grouper` after pushing `alerts` in grouping order.
fn push_in_order<'a>(mut grouper: Grouper<'a>, alerts: &'a [Alert]) -> Grouper<'a> {
    let mut ordered: Vec<&Alert> = alerts.iter().collect();
    ordered.sort_by(|a, b| {
        let time = |x: &Alert| (x.timestamp_micros.is_none(), x.timestamp_micros);
        time(a).cmp(&time(b)).then_with(|| a.key.cmp(&b.key))
    });
    for alert in ordered {
        grouper.push(alert);
    }
    grouper
}

/// Incremental grouping: push alerts in time order, then [`Grouper::finish`]; or save its
/// state ([`Grouper::state`]) and continue later from it ([`Grouper::resume`]).
#[derive(Debug)]
pub struct Grouper<'a> {
    config: GroupingConfig,
    /// Every alert the grouper holds, in push order: members of resumed groups first.
    alerts: Vec<Held<'a>>,
    /// How many of `alerts` came from a resumed state.
    resumed: usize,
    /// The push sequence number of each of `alerts` (counted over every run the state went
    /// through), so that a saved state keeps the push order.
    seqs: Vec<u64>,
    /// The sequence number the next pushed alert gets.
    next_seq: u64,
    groups: Vec<Group>,
    /// For each entity (by link key), where it was last seen.
    last_seen: HashMap<Entity, Sighting>,
    /// For each entity (by link key), its distinct partners (see the module documentation).
    partners: HashMap<Entity, Spread>,
    /// The time and key of the newest alert pushed (untimed alerts aside).
    newest: Option<(i64, String)>,
    /// Whether an alert without a time was pushed (such a grouper saves no state).
    untimed: bool,
    /// The suppressions in force: alerts they match add no evidence.
    suppressions: SuppressionSet,
    /// What tells familiar origins (see [`crate::origin`]), if anything does.
    origins: Option<Arc<dyn OriginTrust>>,
}

/// An alert a grouper holds: pushed now, or a member of a group resumed from a saved state.
#[derive(Debug)]
enum Held<'a> {
    /// Pushed since the grouper was made or resumed.
    Pushed(&'a Alert),
    /// A member of a resumed group.
    Resumed(Box<state::MemberState>),
}

impl Held<'_> {
    /// The alert's key.
    fn key(&self) -> &str {
        match self {
            Held::Pushed(alert) => &alert.key,
            Held::Resumed(member) => &member.key,
        }
    }

    /// The alert's rule title.
    fn title(&self) -> &str {
        match self {
            Held::Pushed(alert) => &alert.rule.title,
            Held::Resumed(member) => &member.title,
        }
    }
}

/// Where an entity was last seen: a group, and the alert of it that named the entity (not
/// known for a full group resumed from a saved state, which keeps none of its alerts: no
/// alert links to a full group).
#[derive(Debug, Clone, Copy)]
struct Sighting {
    /// The group (possibly merged into another since).
    group: usize,
    /// The alert, by index.
    alert: Option<usize>,
}

/// What an alert reaches: the live groups it links to, by group, and the full ones it
/// would have joined.
#[derive(Debug, Default)]
struct Reach {
    links: BTreeMap<usize, Vec<Link>>,
    full: BTreeSet<usize>,
}

/// The partners of an entity, each with when it was last seen with it: the most recent
/// `max_spread + 1` at most, which is all it takes to tell whether more than `max_spread`
/// were seen within the window.
#[derive(Debug, Clone, Default)]
struct Spread {
    partners: HashMap<Entity, i64>,
}

impl Spread {
    /// Notes `partner` seen at `at`, keeping the `keep` most recent partners.
    fn note(&mut self, partner: Entity, at: i64, keep: usize) {
        let seen = self.partners.entry(partner).or_insert(at);
        *seen = (*seen).max(at);
        while self.partners.len() > keep {
            let oldest = self
                .partners
                .iter()
                .min_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)))
                .map(|(entity, _)| entity.clone());
            match oldest {
                Some(oldest) => self.partners.remove(&oldest),
                None => break,
            };
        }
    }

    /// Whether more than `max_spread` partners were seen within `window` before `now`.
    fn common(&self, max_spread: usize, now: i64, window: i64) -> bool {
        self.partners.len() > max_spread
            && self
                .partners
                .values()
                .filter(|at| now.saturating_sub(**at) <= window)
                .count()
                > max_spread
    }
}

/// A group under construction.
#[derive(Debug)]
struct Group {
    /// Members: alert index and reason, in push order.
    members: Vec<(usize, JoinReason)>,
    /// The time of its earliest alert.
    first_micros: Option<i64>,
    last_micros: Option<i64>,
    /// Whether it takes no more alerts (see "Capped incidents" in the module
    /// documentation).
    full: bool,
    /// The group this one was merged into, if any.
    merged_into: Option<usize>,
    /// Whether it is an incident (see [`opening`]).
    opened: bool,
    /// Whether it holds a high or critical alert (that adds evidence): it stays joinable for
    /// the severe quiet gap.
    severe: bool,
    /// Its distinct signals.
    signals: Signals,
    /// Why it opened, once it has.
    opening: Option<Opening>,
    /// For a group resumed already opened: the id of its stored incident.
    stored_id: Option<String>,
}

impl Group {
    /// An empty group.
    fn new() -> Self {
        Group {
            members: Vec::new(),
            first_micros: None,
            last_micros: None,
            full: false,
            merged_into: None,
            opened: false,
            severe: false,
            signals: Signals::default(),
            opening: None,
            stored_id: None,
        }
    }
}

impl<'a> Grouper<'a> {
    /// An empty grouper.
    pub fn new(config: GroupingConfig) -> Self {
        Grouper {
            config,
            alerts: Vec::new(),
            resumed: 0,
            seqs: Vec::new(),
            next_seq: 0,
            groups: Vec::new(),
            last_seen: HashMap::new(),
            partners: HashMap::new(),
            newest: None,
            untimed: false,
            suppressions: SuppressionSet::default(),
            origins: None,
        }
    }

    /// From now on, alerts that `suppressions` match join groups but add no evidence.
    pub fn suppress(&mut self, suppressions: SuppressionSet) {
        self.suppressions = suppressions;
    }

    /// From now on, alerts that `origins` calls familiar join groups but add no evidence
    /// (see [`crate::origin`]).
    pub fn trust_origins(&mut self, origins: Arc<dyn OriginTrust>) {
        self.origins = Some(origins);
    }

    /// Adds the next alert (in time order).
    pub fn push(&mut self, alert: &'a Alert) {
        let index = self.alerts.len();
        self.alerts.push(Held::Pushed(alert));
        self.seqs.push(self.next_seq);
        self.next_seq += 1;
        self.note_time(alert);
        self.note_partners(alert);
        let Reach { links, full } = self.reach_of(alert);
        for group in &full {
            self.groups[*group].full = true;
        }
        let target = match links.keys().min() {
            Some(&oldest) => oldest,
            None => {
                self.groups.push(Group::new());
                self.groups.len() - 1
            }
        };
        let mut reason = JoinReason::default();
        for (group, group_links) in links {
            reason.links.extend(group_links);
            if group != target {
                reason.merged.push(self.id_of(group));
                self.merge(group, target);
            }
        }
        let continued: Vec<usize> = full
            .into_iter()
            .filter(|group| self.groups[*group].opened)
            .collect();
        reason.continues = continued.iter().map(|group| self.id_of(*group)).collect();
        // What continues an incident is one: it opens at once, for the reason the first
        // full incident it continues opened.
        let inherited = continued.first().map(|group| {
            let group = &self.groups[*group];
            (group.opening.clone(), group.severe)
        });
        reason.suppressed_by = self.suppressions.matching(alert).map(|s| s.id);
        reason.familiar_origin = reason.suppressed_by.is_none()
            && self.origins.as_ref().is_some_and(|o| o.is_familiar(alert));
        let evidence = reason.is_evidence();
        let config = &self.config;
        let joined = &mut self.groups[target];
        joined.members.push((index, reason));
        joined.first_micros = earliest(joined.first_micros, alert.timestamp_micros);
        joined.last_micros = joined.last_micros.max(alert.timestamp_micros);
        joined.full |= joined.members.len() >= config.max_detections;
        joined.severe |= evidence && alert.rule.level >= Level::High;
        if evidence {
            let signal = config.signal_of(&alert.rule.id);
            joined
                .signals
                .add(signal, &alert.rule.title, alert.rule.level);
        }
        if let Some((opening, severe)) = inherited {
            joined.severe |= severe;
            if !joined.opened {
                joined.opened = true;
                joined.opening = opening;
            }
        }
        if !joined.opened && joined.signals.open(config) {
            joined.opened = true;
            joined.opening = Some(joined.signals.opening(config, alert));
        }
        for entity in &alert.entities {
            let sighting = Sighting {
                group: target,
                alert: Some(index),
            };
            self.last_seen.insert(entity.link_key(), sighting);
        }
    }

    /// The incidents (groups holding an opening alert), oldest first. For a resumed grouper
    /// use [`Grouper::touched_incidents`] instead: this one leaves out resumed members.
    pub fn finish(self, catalog: &AttackCatalog) -> Vec<Incident> {
        self.groups
            .iter()
            .enumerate()
            .filter(|(_, group)| group.merged_into.is_none() && group.opened)
            .map(|(index, group)| {
                let members = group
                    .members
                    .iter()
                    .filter_map(|(alert, reason)| match &self.alerts[*alert] {
                        Held::Pushed(alert) => Some((*alert, reason.clone())),
                        Held::Resumed(_) => None,
                    })
                    .collect();
                let mut incident = Incident::build(self.id_of(index), members, catalog);
                incident.opening = group.opening.clone();
                incident
            })
            .collect()
    }

    /// Records the time of `alert` as the newest (alerts come in time order).
    fn note_time(&mut self, alert: &Alert) {
        match alert.timestamp_micros {
            Some(at) => self.newest = Some((at, alert.key.clone())),
            None => self.untimed = true,
        }
    }

    /// The id of a group: from the key of its first member (a group resumed as an incident
    /// keeps the id it was stored under).
    fn id_of(&self, group: usize) -> String {
        if let Some(id) = &self.groups[group].stored_id {
            return id.clone();
        }
        let first = self.groups[group].members.first().map(|(alert, _)| *alert);
        Incident::id_for(first.map_or("", |a| self.alerts[a].key()))
    }

    /// The live group a (possibly merged) group now belongs to.
    fn live(&self, mut group: usize) -> usize {
        while let Some(into) = self.groups[group].merged_into {
            group = into;
        }
        group
    }

    /// The live groups within the gap that `alert` links to, and the full ones it would
    /// have joined.
    fn reach_of(&self, alert: &Alert) -> Reach {
        let now = self.now_of(alert);
        let mut reach = Reach::default();
        let mut keys = HashSet::new();
        for entity in &alert.entities {
            let key = entity.link_key();
            if !self.links(&key, now) || !keys.insert(key.clone()) {
                continue;
            }
            let Some(&Sighting { group, alert: with }) = self.last_seen.get(&key) else {
                continue;
            };
            let group = self.live(group);
            let last = self.groups[group].last_micros;
            let gap = alert
                .timestamp_micros
                .zip(last)
                .map(|(now, last)| now - last);
            if gap.is_some_and(|gap| gap > self.gap_of(group)) {
                continue;
            }
            let with = match with {
                Some(with) if !self.is_full(group, alert.timestamp_micros) => &self.alerts[with],
                _ => {
                    reach.full.insert(group);
                    continue;
                }
            };
            reach.links.entry(group).or_default().push(Link {
                entity: entity.clone(),
                with_alert: with.key().to_owned(),
                with_title: with.title().to_owned(),
                gap_micros: gap,
            });
        }
        reach
    }

    /// Whether live group `group` takes no alert at `at`: it is full, or `at` is past its
    /// span.
    fn is_full(&self, group: usize, at: Option<i64>) -> bool {
        let group = &self.groups[group];
        let past_span = at
            .zip(group.first_micros)
            .is_some_and(|(at, first)| at.saturating_sub(first) > self.config.max_span_micros);
        group.full || group.members.len() >= self.config.max_detections || past_span
    }

    /// How long group `group` may stay quiet and still be joined: the severe gap once it
    /// is an incident or holds a high or critical alert.
    fn gap_of(&self, group: usize) -> i64 {
        let group = &self.groups[group];
        if group.severe || group.opened {
            self.config
                .severe_quiet_gap_micros
                .max(self.config.quiet_gap_micros)
        } else {
            self.config.quiet_gap_micros
        }
    }

    /// Whether the entity of link key `key` may link at `now`: a linking kind, not common.
    fn links(&self, key: &Entity, now: i64) -> bool {
        self.config.linking_kinds.contains(&key.kind)
            && !self.partners.get(key).is_some_and(|spread| {
                spread.common(
                    self.config.max_spread,
                    now,
                    self.config.spread_window_micros,
                )
            })
    }

    /// The time an alert counts as for spreads: its own, or the newest one's when it has
    /// none (untimed alerts come last).
    fn now_of(&self, alert: &Alert) -> i64 {
        alert
            .timestamp_micros
            .or_else(|| self.newest.as_ref().map(|(at, _)| *at))
            .unwrap_or(0)
    }

    /// Records the partners of each entity of `alert`.
    fn note_partners(&mut self, alert: &Alert) {
        let of_kind = |kinds: &[EntityKind]| -> Vec<Entity> {
            alert
                .entities
                .iter()
                .filter(|e| kinds.contains(&e.kind))
                .map(Entity::link_key)
                .collect()
        };
        let hosts = of_kind(&[EntityKind::Host]);
        let users = of_kind(&[EntityKind::User]);
        let now = self.now_of(alert);
        let keep = self.config.max_spread.saturating_add(1);
        for entity in &alert.entities {
            let partners = if entity.kind == EntityKind::Host {
                &users
            } else {
                &hosts
            };
            let spread = self.partners.entry(entity.link_key()).or_default();
            for partner in partners {
                spread.note(partner.clone(), now, keep);
            }
        }
    }

    /// Moves the members of `from` into `into`.
    fn merge(&mut self, from: usize, into: usize) {
        let moved = std::mem::take(&mut self.groups[from].members);
        let signals = std::mem::take(&mut self.groups[from].signals);
        let opening = self.groups[from].opening.take();
        let last = self.groups[from].last_micros;
        let first = self.groups[from].first_micros;
        let opened = self.groups[from].opened;
        let severe = self.groups[from].severe;
        self.groups[from].merged_into = Some(into);
        let target = &mut self.groups[into];
        target.members.extend(moved);
        target.members.sort_by_key(|(alert, _)| *alert);
        target.last_micros = target.last_micros.max(last);
        target.first_micros = earliest(target.first_micros, first);
        target.full |= target.members.len() >= self.config.max_detections;
        target.signals.extend(&signals);
        target.severe |= severe;
        if opened && !target.opened {
            target.opening = opening;
        }
        target.opened |= opened;
    }
}

/// The earlier of two optional times (either when only one is known).
fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub mod opening;
pub mod state;

pub use opening::{Opening, OpeningSignal};
pub use state::{GroupingState, GROUPING_STATE_VERSION};

#[cfg(test)]
mod tests;
