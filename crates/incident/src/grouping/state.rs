//! Saving a [`Grouper`]'s state and continuing from it, so that alerts appended to a store are
//! grouped without regrouping the ones it already holds.
//!
//! Grouping is a left fold over alerts in time order (then key). Continuing the fold from
//! the state left by the alerts already grouped, with alerts that all come after the newest
//! of them, gives exactly what regrouping everything would. The state keeps only what a
//! later alert can still reach:
//!
//! * per linking entity (by link key): its most recent partners (at most
//!   [`GroupingConfig::max_spread`] + 1) with when each was last seen with it, and the alert
//!   that last named it if that alert's group can still be joined;
//! * per group that can still be joined (its last activity within the quiet gap of the
//!   newest alert): its members with their [`JoinReason`]. Members of a group that is not an
//!   incident yet (context alerts only) keep their whole alert, since no stored incident
//!   holds them; members of an incident are reloaded from the store when it is rebuilt;
//! * per full incident still within its quiet gap, only its id and times: no alert joins
//!   it, but one that would have says it continues it.
//!
//! Its size therefore follows the distinct entities and the groups still live (each of at
//! most [`GroupingConfig::max_detections`]), not the number of alerts grouped.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{Group, Grouper, GroupingConfig, Held, Opening, Sighting, Spread};
use crate::alert::Alert;
use crate::attack::AttackCatalog;
use crate::entities::Entity;
use crate::error::ResumeError;
use crate::incident::{Incident, JoinReason};

/// The version of the [`GroupingState`] format this build writes and reads. Raised when
/// what a saved state means changes, so that an older one is regrouped instead of
/// continued: 5 since an opened incident is followed for the severe quiet gap and members
/// may be context from a familiar origin.
pub const GROUPING_STATE_VERSION: u32 = 5;

/// What a [`Grouper`] needs to continue with later alerts (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupingState {
    version: u32,
    config: GroupingConfig,
    newest_micros: i64,
    newest_key: String,
    next_seq: u64,
    entities: Vec<EntityState>,
    groups: Vec<GroupState>,
}

/// One linking entity in a saved state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct EntityState {
    key: Entity,
    /// Its most recent partners, with when each was last seen with it.
    partners: Vec<(Entity, i64)>,
    /// The sequence number of the alert that last named it, if its group is still live.
    last: Option<u64>,
    /// The saved group (by index) that last named it, when that group is a full incident
    /// (which keeps no members).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_in_full: Option<usize>,
}

/// One group that can still be joined, in a saved state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct GroupState {
    opened: bool,
    /// Why it opened, if it has.
    #[serde(default)]
    opening: Option<Opening>,
    /// Whether it holds a high or critical alert.
    #[serde(default)]
    severe: bool,
    first_micros: Option<i64>,
    last_micros: Option<i64>,
    /// Whether it is full (see "Capped incidents" in [`crate::grouping`]): then it keeps
    /// its id and no members.
    full: bool,
    /// A full incident's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    members: Vec<MemberState>,
}

/// One member of a saved group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct MemberState {
    /// Its push sequence number.
    seq: u64,
    /// Its alert key.
    pub(super) key: String,
    /// Its rule title (for the links later alerts make to it).
    pub(super) title: String,
    /// Why it joined.
    reason: JoinReason,
    /// The whole alert, kept for members of a group that is not an incident yet.
    alert: Option<Alert>,
}

impl GroupingState {
    /// The time and key of the newest alert it grouped: the alerts that continue from it
    /// come after this one.
    pub fn newest(&self) -> (i64, &str) {
        (self.newest_micros, &self.newest_key)
    }
}

impl<'a> Grouper<'a> {
    /// A grouper continuing from `state`, if it was saved in this format with `config`.
    pub fn resume(state: GroupingState, config: &GroupingConfig) -> Result<Self, ResumeError> {
        if state.version != GROUPING_STATE_VERSION {
            return Err(ResumeError::Version {
                found: state.version,
                expected: GROUPING_STATE_VERSION,
            });
        }
        if state.config != *config {
            return Err(ResumeError::Config);
        }
        let mut grouper = Grouper::new(state.config);
        grouper.next_seq = state.next_seq;
        grouper.newest = Some((state.newest_micros, state.newest_key));
        let group_of = grouper.resume_groups(state.groups);
        grouper.resume_entities(state.entities, &group_of);
        Ok(grouper)
    }

    /// Rebuilds the saved groups, their members in push order; returns each alert's group.
    fn resume_groups(&mut self, groups: Vec<GroupState>) -> Vec<usize> {
        let mut members = Vec::new();
        for (index, saved) in groups.into_iter().enumerate() {
            self.groups.push(Group {
                first_micros: saved.first_micros,
                last_micros: saved.last_micros,
                full: saved.full,
                stored_id: saved.id,
                opened: saved.opened,
                opening: saved.opening,
                severe: saved.severe,
                ..Group::new()
            });
            members.extend(saved.members.into_iter().map(|member| (index, member)));
        }
        members.sort_by_key(|(_, member)| member.seq);
        let mut group_of = Vec::with_capacity(members.len());
        for (group, mut member) in members {
            let evidence = member.reason.is_evidence();
            let reason = std::mem::take(&mut member.reason);
            if let Some(alert) = member.alert.as_ref().filter(|_| evidence) {
                let rule = &alert.rule;
                let signal = self.config.signal_of(&rule.id);
                self.groups[group]
                    .signals
                    .add(signal, &rule.title, rule.level);
            }
            self.groups[group].members.push((self.alerts.len(), reason));
            self.seqs.push(member.seq);
            self.alerts.push(Held::Resumed(Box::new(member)));
            group_of.push(group);
        }
        self.resumed = self.alerts.len();
        for index in 0..self.groups.len() {
            if self.groups[index].opened && self.groups[index].stored_id.is_none() {
                self.groups[index].stored_id = Some(self.id_of(index));
            }
        }
        group_of
    }

    /// Restores the entities' partners and last sightings.
    fn resume_entities(&mut self, entities: Vec<EntityState>, group_of: &[usize]) {
        let index_of: HashMap<u64, usize> = self
            .seqs
            .iter()
            .enumerate()
            .map(|(index, seq)| (*seq, index))
            .collect();
        for entity in entities {
            let last = entity.last.and_then(|seq| index_of.get(&seq).copied());
            let sighting = match (last, entity.last_in_full) {
                (Some(index), _) => Some(Sighting {
                    group: group_of[index],
                    alert: Some(index),
                }),
                (None, Some(group)) if group < self.groups.len() => {
                    Some(Sighting { group, alert: None })
                }
                (None, _) => None,
            };
            if let Some(sighting) = sighting {
                self.last_seen.insert(entity.key.clone(), sighting);
            }
            let spread = Spread {
                partners: entity.partners.into_iter().collect(),
            };
            self.partners.insert(entity.key, spread);
        }
    }

    /// The state to continue from later, or `None` when an alert without a time was pushed
    /// (later alerts could not be placed after it) or nothing was.
    pub fn state(&self) -> Option<GroupingState> {
        if self.untimed {
            return None;
        }
        let (newest_micros, newest_key) = self.newest.clone()?;
        // A full incident is kept only while an entity was last seen in it.
        let sighted: HashSet<usize> = self
            .last_seen
            .values()
            .map(|sighting| self.live(sighting.group))
            .collect();
        let live: Vec<usize> = (0..self.groups.len())
            .filter(|group| self.joinable(*group, newest_micros))
            .filter(|group| !self.is_full(*group, None) || sighted.contains(group))
            .collect();
        let groups = live.iter().map(|group| self.group_state(*group)).collect();
        let live: HashMap<usize, usize> = live
            .into_iter()
            .enumerate()
            .map(|(saved, group)| (group, saved))
            .collect();
        let mut entities: Vec<EntityState> = self
            .partners
            .iter()
            .filter(|(key, _)| self.config.linking_kinds.contains(&key.kind))
            .map(|(key, spread)| self.entity_state(key, spread, &live))
            .collect();
        entities.sort_by(|a, b| a.key.cmp(&b.key));
        Some(GroupingState {
            version: GROUPING_STATE_VERSION,
            config: self.config.clone(),
            newest_micros,
            newest_key,
            next_seq: self.next_seq,
            entities,
            groups,
        })
    }

    /// Whether `group` is live and a later alert (at `newest` or after) may still join it,
    /// or, when it is a full incident, say it continues it. A full group that is no incident
    /// is left out: an alert it turns away starts a group as if it were gone.
    fn joinable(&self, group: usize, newest: i64) -> bool {
        let gap = self.gap_of(group);
        let full = self.is_full(group, None);
        let group = &self.groups[group];
        group.merged_into.is_none()
            && group.last_micros.is_some_and(|last| newest - last <= gap)
            && (group.opened || !full)
    }

    /// A live group as saved: a full one by its id alone.
    fn group_state(&self, index: usize) -> GroupState {
        let full = self.is_full(index, None);
        let group = &self.groups[index];
        let members = match full {
            true => Vec::new(),
            false => group
                .members
                .iter()
                .map(|(index, reason)| self.member_state(*index, reason, group.opened))
                .collect(),
        };
        GroupState {
            opened: group.opened,
            opening: group.opening.clone(),
            severe: group.severe,
            first_micros: group.first_micros,
            last_micros: group.last_micros,
            full,
            id: full.then(|| self.id_of(index)),
            members,
        }
    }

    /// A member as saved: its whole alert only while its group is not an incident.
    fn member_state(&self, index: usize, reason: &JoinReason, opened: bool) -> MemberState {
        let held = &self.alerts[index];
        let alert = match held {
            _ if opened => None,
            Held::Pushed(alert) => Some((*alert).clone()),
            Held::Resumed(member) => member.alert.clone(),
        };
        MemberState {
            seq: self.seqs[index],
            key: held.key().to_owned(),
            title: held.title().to_owned(),
            reason: reason.clone(),
            alert,
        }
    }

    /// An entity as saved: its last sighting only if its group is among the `live` ones
    /// (saved at the index they map to).
    fn entity_state(
        &self,
        key: &Entity,
        spread: &Spread,
        live: &HashMap<usize, usize>,
    ) -> EntityState {
        let mut partners: Vec<(Entity, i64)> = spread
            .partners
            .iter()
            .map(|(partner, at)| (partner.clone(), *at))
            .collect();
        partners.sort();
        let sighting = self.last_seen.get(key).and_then(|sighting| {
            let group = self.live(sighting.group);
            live.get(&group)
                .map(|saved| (group, *saved, sighting.alert))
        });
        let (last, last_in_full) = match sighting {
            Some((group, saved, _)) if self.is_full(group, None) => (None, Some(saved)),
            Some((_, _, alert)) => (alert.map(|index| self.seqs[index]), None),
            None => (None, None),
        };
        EntityState {
            key: key.clone(),
            partners,
            last,
            last_in_full,
        }
    }

    /// Whether `alert` can be pushed after the alerts grouped so far (resumed or pushed): it
    /// has a time and comes after the newest of them in grouping order (time, then key).
    pub fn appends(&self, alert: &Alert) -> bool {
        let Some(at) = alert.timestamp_micros else {
            return false;
        };
        !self.untimed
            && self
                .newest
                .as_ref()
                .is_none_or(|(newest, key)| (at, alert.key.as_str()) > (*newest, key.as_str()))
    }

    /// The time and key of the newest alert it grouped (resumed or pushed), if any had a
    /// time: what a later alert must come after to be appended.
    pub fn newest(&self) -> Option<(i64, &str)> {
        self.newest.as_ref().map(|(at, key)| (*at, key.as_str()))
    }

    /// The keys of the alerts a resumed grouper holds from its state.
    pub fn resumed_keys(&self) -> HashSet<&str> {
        self.alerts[..self.resumed].iter().map(Held::key).collect()
    }

    /// The ids of the stored incidents that the alerts pushed since resuming joined or merged:
    /// [`Grouper::touched_incidents`] needs their alerts.
    pub fn stored_incidents_touched(&self) -> Vec<String> {
        (0..self.groups.len())
            .filter(|group| self.is_touched(self.live(*group)))
            .filter_map(|group| self.groups[group].stored_id.clone())
            .collect()
    }

    /// The incidents that the alerts pushed since resuming opened, joined or merged, oldest
    /// first; `stored` gives the alerts of the [`Grouper::stored_incidents_touched`] by key.
    pub fn touched_incidents(
        &self,
        stored: &HashMap<String, Alert>,
        catalog: &AttackCatalog,
    ) -> Result<Vec<Incident>, ResumeError> {
        (0..self.groups.len())
            .filter(|group| self.groups[*group].merged_into.is_none())
            .filter(|group| self.is_touched(*group))
            .map(|group| self.rebuild(group, stored, catalog))
            .collect()
    }

    /// The incident of an opened live group, its resumed members taken from their state or
    /// from `stored`.
    fn rebuild(
        &self,
        group: usize,
        stored: &HashMap<String, Alert>,
        catalog: &AttackCatalog,
    ) -> Result<Incident, ResumeError> {
        let mut members = Vec::new();
        for (index, reason) in &self.groups[group].members {
            let alert = match &self.alerts[*index] {
                Held::Pushed(alert) => Some(*alert),
                Held::Resumed(member) => member.alert.as_ref().or_else(|| stored.get(&member.key)),
            };
            let alert = alert.ok_or_else(|| ResumeError::MissingAlert {
                key: self.alerts[*index].key().to_owned(),
            })?;
            members.push((alert, reason.clone()));
        }
        let mut incident = Incident::build(self.id_of(group), members, catalog);
        incident.opening = self.groups[group].opening.clone();
        Ok(incident)
    }

    /// Whether live group `group` is an incident holding an alert pushed since resuming.
    fn is_touched(&self, group: usize) -> bool {
        let group = &self.groups[group];
        group.opened
            && group
                .members
                .iter()
                .any(|(index, _)| *index >= self.resumed)
    }
}

#[cfg(test)]
mod tests;
