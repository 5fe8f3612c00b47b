//! [`Incident`]: detections that belong together, with who, where, how far along the ATT&CK
//! chain, since when, how bad, and why each detection is part of it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use tocsin_event::time::format_human;

use crate::alert::{Alert, AlertKind, Level};
use crate::attack::{AttackCatalog, AttackSummary};
use crate::entities::{Entity, EntityKind};
use crate::grouping::Opening;
use crate::lifecycle::Lifecycle;
use crate::severity::{Severity, SeverityInput};
use crate::time::format_duration;

/// An incident: the computed picture (rebuilt whenever its detections are regrouped) and the
/// analyst-owned [`Lifecycle`] (never recomputed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id: `INC-` and the first 12 characters of the key of the incident's earliest
    /// detection, so that regrouping the same detections gives the same id.
    pub id: String,
    /// A one-line summary: the most severe detection, where, and how many.
    pub title: String,
    /// The earliest detection time (microseconds since the Unix epoch, UTC).
    pub first_seen_micros: Option<i64>,
    /// The latest detection time.
    pub last_seen_micros: Option<i64>,
    /// The entities named by the detections, with how many detections name each, most named
    /// first; at most [`MAX_LISTED_ENTITIES`] of each kind (the rest are counted in
    /// [`Incident::unlisted`]). A host logged by its short name in some detections and by its
    /// full name in others is listed once, under the full name.
    pub entities: Vec<EntityCount>,
    /// How many more entities of each kind the detections name beyond those listed (a brute
    /// force with random workstation names names thousands of hosts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlisted: Vec<UnlistedEntities>,
    /// The detections, in time order, each with why it joined.
    pub members: Vec<Membership>,
    /// Tactics in kill-chain order, techniques, other ATT&CK references.
    pub attack: AttackSummary,
    /// The score and its parts.
    pub severity: Severity,
    /// One line per detection, in time order.
    pub timeline: Vec<TimelineEntry>,
    /// Status, assignee, notes, actions.
    pub lifecycle: Lifecycle,
    /// Why the detections became an incident (see [`crate::grouping::opening`]); `None`
    /// for incidents stored before tocsin said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<Opening>,
    /// Full incidents this one continues: its detections would have joined them had they
    /// not held their maximum of detections or span (see "Capped incidents" in
    /// [`crate::grouping`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub continues: Vec<String>,
}

/// At most this many entities of one kind are listed on an incident.
pub const MAX_LISTED_ENTITIES: usize = 25;

/// Entities of one kind an incident names but does not list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnlistedEntities {
    /// Their kind.
    pub kind: EntityKind,
    /// How many.
    pub count: usize,
}

/// An entity of an incident and how many of its detections name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCount {
    /// The entity.
    pub entity: Entity,
    /// How many detections name it.
    pub alerts: usize,
}

/// One detection of an incident and why it is there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The detection's [`Alert::key`].
    pub alert_key: String,
    /// Why it joined.
    pub reason: JoinReason,
}

/// Why a detection joined its incident. No links means it started the group that became
/// the incident (the incident's [`Incident::opening`] says which detection made it one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct JoinReason {
    /// The entities it shares with detections already in the incident.
    pub links: Vec<Link>,
    /// Incidents this detection tied to this one, which were merged into it.
    pub merged: Vec<String>,
    /// The suppression that matched it: it joined as context and added no evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<u64>,
    /// It came from a familiar origin (see [`crate::origin`]): it joined as context and
    /// added no evidence.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub familiar_origin: bool,
    /// Full incidents it would have joined: it continues them here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub continues: Vec<String>,
}

/// One shared entity between a new detection and an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The shared entity.
    pub entity: Entity,
    /// The key of the detection that last named it in the incident.
    pub with_alert: String,
    /// That detection's title.
    pub with_title: String,
    /// Time since the incident's last activity when the detection joined, if both are known.
    pub gap_micros: Option<i64>,
}

impl JoinReason {
    /// Whether the detection counts as evidence toward opening an incident: neither
    /// suppressed nor from a familiar origin.
    pub fn is_evidence(&self) -> bool {
        self.suppressed_by.is_none() && !self.familiar_origin
    }
}

impl fmt::Display for JoinReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.links.split_first() {
            None => f.write_str("started the group (no earlier detection shares an entity)")?,
            Some((first, rest)) => {
                write_link(f, first)?;
                for link in rest {
                    f.write_str("; also ")?;
                    write_link(f, link)?;
                }
            }
        }
        if !self.merged.is_empty() {
            write!(f, "; tied in and merged {}", self.merged.join(", "))?;
        }
        if !self.continues.is_empty() {
            write!(
                f,
                "; continues {}, which took no more detections",
                self.continues.join(", ")
            )?;
        }
        if let Some(id) = self.suppressed_by {
            write!(f, "; suppression {id} matched it, so it adds no evidence")?;
        }
        if self.familiar_origin {
            f.write_str(
                "; an API key acting from the site's own networks, so it adds no evidence",
            )?;
        }
        Ok(())
    }
}

fn write_link(f: &mut fmt::Formatter<'_>, link: &Link) -> fmt::Result {
    let short = link.with_alert.get(..12).unwrap_or(&link.with_alert);
    write!(
        f,
        "shares {} with detection '{}' ({short})",
        link.entity, link.with_title
    )?;
    match link.gap_micros {
        Some(gap) if gap >= 0 => write!(
            f,
            ", {} after the incident's last activity",
            format_duration(gap)
        ),
        Some(gap) => write!(
            f,
            ", {} before the incident's last activity",
            format_duration(-gap)
        ),
        None => f.write_str(", time unknown"),
    }
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When (microseconds since the Unix epoch, UTC), if known.
    pub at_micros: Option<i64>,
    /// The detection's key.
    pub alert_key: String,
    /// What produced it.
    pub kind: AlertKind,
    /// Its level.
    pub level: Level,
    /// The rule's title.
    pub title: String,
    /// The entities it names, as `host ws-042, user alice`.
    pub entities: String,
}

impl TimelineEntry {
    /// `2024-05-01 10:00:00Z`, or `time unknown`.
    pub fn when(&self) -> String {
        self.at_micros
            .map_or_else(|| "time unknown".to_owned(), format_human)
    }
}

impl Incident {
    /// The id an incident opened by the detection with key `first_key` gets.
    pub fn id_for(first_key: &str) -> String {
        format!("INC-{}", first_key.get(..12).unwrap_or(first_key))
    }

    /// Builds the computed picture from `members` (each with the alert it names, in time
    /// order); the lifecycle starts as `new`.
    pub fn build(id: String, members: Vec<(&Alert, JoinReason)>, catalog: &AttackCatalog) -> Self {
        let alerts: Vec<&Alert> = members.iter().map(|(alert, _)| *alert).collect();
        let times = alerts.iter().filter_map(|a| a.timestamp_micros);
        let entities = count_entities(&alerts);
        let attack = catalog.summarise(alerts.iter().copied());
        let hosts = entities
            .iter()
            .filter(|e| e.entity.kind == EntityKind::Host)
            .count();
        let title = title_of(&alerts, &entities);
        let (entities, unlisted) = cap_listed(entities);
        let severity = Severity::compute(SeverityInput {
            max_level: alerts
                .iter()
                .map(|a| a.rule.level)
                .max()
                .unwrap_or_default(),
            tactics: attack.tactics.len(),
            hosts,
            correlations: alerts
                .iter()
                .filter(|a| a.kind == AlertKind::Correlation)
                .count(),
        });
        let mut continues: Vec<String> = Vec::new();
        for (_, reason) in &members {
            for id in &reason.continues {
                if !continues.contains(id) {
                    continues.push(id.clone());
                }
            }
        }
        Incident {
            continues,
            title,
            unlisted,
            first_seen_micros: times.clone().min(),
            last_seen_micros: times.max(),
            timeline: alerts.iter().map(|a| timeline_entry(a)).collect(),
            members: members
                .into_iter()
                .map(|(alert, reason)| Membership {
                    alert_key: alert.key.clone(),
                    reason,
                })
                .collect(),
            id,
            entities,
            attack,
            severity,
            lifecycle: Lifecycle::default(),
            opening: None,
        }
    }

    /// The entities of one kind, most named first.
    pub fn entities_of(&self, kind: EntityKind) -> impl Iterator<Item = &Entity> {
        self.entities
            .iter()
            .filter(move |e| e.entity.kind == kind)
            .map(|e| &e.entity)
    }

    /// An incident with nothing in it, for lifecycle tests of other crates.
    pub fn placeholder(id: &str) -> Self {
        Incident::build(id.to_owned(), Vec::new(), &AttackCatalog::empty())
    }
}

/// Entities by how many alerts name them (most first, then by kind and value), a short
/// host name counted under the one full name of the incident it abbreviates.
fn count_entities(alerts: &[&Alert]) -> Vec<EntityCount> {
    let full_names = full_host_names(alerts);
    let mut counts: BTreeMap<&Entity, usize> = BTreeMap::new();
    for alert in alerts {
        let named: BTreeSet<&Entity> = alert
            .entities
            .iter()
            .map(|entity| full_names.get(entity).copied().unwrap_or(entity))
            .collect();
        for entity in named {
            *counts.entry(entity).or_default() += 1;
        }
    }
    let mut counted: Vec<EntityCount> = counts
        .into_iter()
        .map(|(entity, alerts)| EntityCount {
            entity: entity.clone(),
            alerts,
        })
        .collect();
    counted.sort_by(|a, b| {
        b.alerts
            .cmp(&a.alerts)
            .then_with(|| a.entity.cmp(&b.entity))
    });
    counted
}

/// For each short host name of `alerts` that abbreviates exactly one full host name of
/// `alerts`, that full name.
fn full_host_names<'a>(alerts: &[&'a Alert]) -> BTreeMap<Entity, &'a Entity> {
    let mut by_short: BTreeMap<Entity, BTreeSet<&'a Entity>> = BTreeMap::new();
    for entity in alerts.iter().flat_map(|alert| &alert.entities) {
        if entity.short_host_name().is_some() {
            by_short
                .entry(entity.link_key())
                .or_default()
                .insert(entity);
        }
    }
    by_short
        .into_iter()
        .filter_map(
            |(short, full)| match full.into_iter().collect::<Vec<_>>()[..] {
                [one] => Some((short, one)),
                _ => None,
            },
        )
        .collect()
}

/// Keeps the first [`MAX_LISTED_ENTITIES`] entities of each kind and counts the rest.
fn cap_listed(entities: Vec<EntityCount>) -> (Vec<EntityCount>, Vec<UnlistedEntities>) {
    let mut listed_per_kind: BTreeMap<EntityKind, usize> = BTreeMap::new();
    let mut unlisted: BTreeMap<EntityKind, usize> = BTreeMap::new();
    let mut listed = Vec::with_capacity(entities.len().min(5 * MAX_LISTED_ENTITIES));
    for counted in entities {
        let kind = counted.entity.kind;
        let seen = listed_per_kind.entry(kind).or_default();
        if *seen < MAX_LISTED_ENTITIES {
            *seen += 1;
            listed.push(counted);
        } else {
            *unlisted.entry(kind).or_default() += 1;
        }
    }
    let unlisted = unlisted
        .into_iter()
        .map(|(kind, count)| UnlistedEntities { kind, count })
        .collect();
    (listed, unlisted)
}

/// `<most severe title> on host <host> and N more (M detections)`.
fn title_of(alerts: &[&Alert], entities: &[EntityCount]) -> String {
    let Some(top) = alerts.iter().max_by(|a, b| {
        a.rule
            .level
            .cmp(&b.rule.level)
            .then_with(|| b.timestamp_micros.cmp(&a.timestamp_micros))
    }) else {
        return "empty incident".to_owned();
    };
    let mut title = top.rule.title.clone();
    let place = |kind: EntityKind| {
        let named: Vec<&EntityCount> = entities.iter().filter(|e| e.entity.kind == kind).collect();
        match named.as_slice() {
            [] => None,
            [one] => Some(format!("{} {}", kind, one.entity.value)),
            [first, rest @ ..] => Some(format!(
                "{kind} {} and {} more",
                first.entity.value,
                rest.len()
            )),
        }
    };
    let where_ = place(EntityKind::Host)
        .or_else(|| place(EntityKind::User))
        .or_else(|| place(EntityKind::ApiKey))
        .or_else(|| place(EntityKind::SourceIp))
        .or_else(|| place(EntityKind::Account));
    if let Some(where_) = where_ {
        title.push_str(" on ");
        title.push_str(&where_);
    }
    let n = alerts.len();
    title.push_str(&format!(
        " ({n} detection{})",
        if n == 1 { "" } else { "s" }
    ));
    title
}

fn timeline_entry(alert: &Alert) -> TimelineEntry {
    TimelineEntry {
        at_micros: alert.timestamp_micros,
        alert_key: alert.key.clone(),
        kind: alert.kind,
        level: alert.rule.level,
        title: alert.rule.title.clone(),
        entities: alert
            .entities
            .iter()
            .map(Entity::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}
