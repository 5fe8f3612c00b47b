//! The save plan: what a store writes when it saves incidents from a regrouping, worked out
//! here, without SQL, so that every [`IncidentStore`](crate::IncidentStore) follows the same
//! rules and a new store does not have to rediscover them.
//!
//! Regrouping rebuilds incidents from their detections; the store holds what analysts did
//! with the incidents it saved before. The plan reconciles the two so that analysts' work
//! follows the detections.
//!
//! # Rules
//!
//! 1. Every incident of the regrouping is upserted: its computed part (title, members,
//!    entities, ATT&CK, severity, timeline) replaces the stored one. A new incident is stored
//!    with the lifecycle it carries; a stored one keeps its stored lifecycle. An upserted
//!    incident is live again if an earlier regrouping had marked it merged.
//! 2. Every member is stored under its incident at its position; a detection stored under
//!    another incident moves.
//! 3. A stored incident that is not in the regrouping and whose detections all moved (it is
//!    left with none) was *absorbed*: an earlier detection arrived late and now opens it
//!    under a new id, or a detection tied it to another incident. Its *survivor* is the
//!    incident that took most of its detections (on a tie, the first in the regrouping). A
//!    stored incident that keeps some detections (a regrouping of part of the store, such as
//!    one batch of a hunt) is not absorbed.
//! 4. A survivor whose own lifecycle is untouched (new, unassigned, without notes or actions)
//!    inherits the lifecycle of an absorbed incident whose lifecycle was touched; of several,
//!    the one that gave it the most detections (on a tie, the smallest id). A survivor an
//!    analyst already touched keeps its own lifecycle.
//! 5. An absorbed incident keeps its lifecycle and its audit trail, and points at its
//!    survivor ([`IncidentStore::merged_into`](crate::IncidentStore::merged_into)), so that
//!    its old id still leads to its detections.
//!
//! Saving a regrouping that is already stored changes nothing: no detection moves, so no
//! incident is absorbed and no lifecycle inherited, and the upserts write what is there.
//!
//! # Use in a store
//!
//! Inside the transaction of the write, read what the store knows with [`Known::read`]
//! (through the store's `memberships_of` and `incident_states`), compute the
//! [`SavePlan`] and apply its parts in field order.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::incident::Incident;
use crate::lifecycle::Lifecycle;

/// What a store knows of one stored incident that planning a save needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentState {
    /// The stored lifecycle: the analysts' work that must follow the detections.
    pub lifecycle: Lifecycle,
    /// How many detections are stored under it now, to tell an absorbed incident (left with
    /// none) from one that keeps some.
    pub members: usize,
}

/// What the store holds that a save concerns, read before planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// For each member of the regrouping already stored under an incident: its alert key and
    /// that incident's id.
    pub owners: BTreeMap<String, String>,
    /// The stored incidents among the regrouping's ids and the owners above, by id.
    pub incidents: BTreeMap<String, IncidentState>,
}

impl Known {
    /// Asks a store what a save of `incidents` concerns: `memberships_of` the members' alert
    /// keys, then `states_of` those owners and the regrouping's own ids. Both answer only for
    /// what the store holds.
    pub fn read<E>(
        incidents: &[Incident],
        memberships_of: impl FnOnce(&[&str]) -> Result<BTreeMap<String, String>, E>,
        states_of: impl FnOnce(&[&str]) -> Result<BTreeMap<String, IncidentState>, E>,
    ) -> Result<Known, E> {
        let keys: Vec<&str> = incidents
            .iter()
            .flat_map(|incident| &incident.members)
            .map(|member| member.alert_key.as_str())
            .collect();
        let owners = memberships_of(&keys)?;
        let ids: BTreeSet<&str> = incidents
            .iter()
            .map(|incident| incident.id.as_str())
            .chain(owners.values().map(String::as_str))
            .collect();
        let states = states_of(&ids.into_iter().collect::<Vec<_>>())?;
        Ok(Known {
            owners,
            incidents: states,
        })
    }
}

/// Where one detection is stored after the save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement<'a> {
    /// The detection's alert key.
    pub alert_key: &'a str,
    /// The incident it belongs to.
    pub incident_id: &'a str,
    /// Its position among the incident's members (time order).
    pub position: usize,
}

/// A stored incident the regrouping absorbed (rule 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absorption {
    /// The absorbed incident.
    pub id: String,
    /// The incident that took its detections.
    pub survivor: String,
}

/// A lifecycle a survivor takes over from an incident it absorbed (rule 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inheritance {
    /// The survivor, whose own lifecycle was untouched.
    pub survivor: String,
    /// The absorbed incident the lifecycle comes from.
    pub from: String,
    /// The lifecycle to store for the survivor.
    pub lifecycle: Lifecycle,
}

/// What a store writes to save a regrouping; a store applies the parts in field order, in
/// one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SavePlan<'a> {
    /// The regrouping's incidents, to insert whole when new, otherwise to update in their
    /// computed part only (rule 1); each is live afterwards.
    pub upserts: Vec<&'a Incident>,
    /// Where each member of the regrouping is stored (rule 2).
    pub memberships: Vec<Placement<'a>>,
    /// Stored incidents to mark as absorbed by their survivor (rules 3 and 5).
    pub absorbed: Vec<Absorption>,
    /// Lifecycles to store for survivors, replacing their untouched one (rule 4).
    pub inherited: Vec<Inheritance>,
}

impl<'a> SavePlan<'a> {
    /// The plan for saving `incidents` (a regrouping) into a store that holds `known`.
    pub fn compute(incidents: &'a [Incident], known: &Known) -> SavePlan<'a> {
        let absorbed = absorptions(incidents, known);
        let inherited = inheritances(incidents, known, &absorbed);
        SavePlan {
            upserts: incidents.iter().collect(),
            memberships: placements(incidents),
            absorbed: absorbed
                .into_iter()
                .map(|(absorption, _)| absorption)
                .collect(),
            inherited,
        }
    }

    /// Whether saving changes no membership, absorbs nothing and passes on no lifecycle
    /// (given what was known when the plan was made), for callers that report changes.
    pub fn moves_nothing(&self, known: &Known) -> bool {
        self.absorbed.is_empty()
            && self.inherited.is_empty()
            && self.memberships.iter().all(|placement| {
                known.owners.get(placement.alert_key).map(String::as_str)
                    == Some(placement.incident_id)
            })
    }
}

/// Whether nobody has worked on an incident with this lifecycle yet.
fn untouched(lifecycle: &Lifecycle) -> bool {
    *lifecycle == Lifecycle::default()
}

fn placements(incidents: &[Incident]) -> Vec<Placement<'_>> {
    incidents
        .iter()
        .flat_map(|incident| {
            incident
                .members
                .iter()
                .enumerate()
                .map(|(position, member)| Placement {
                    alert_key: &member.alert_key,
                    incident_id: &incident.id,
                    position,
                })
        })
        .collect()
}

/// For each stored incident outside the regrouping that loses detections to it: how many
/// go to each incident of the regrouping (by index in the regrouping).
fn departures<'k>(
    incidents: &[Incident],
    known: &'k Known,
) -> BTreeMap<&'k str, BTreeMap<usize, usize>> {
    let live: HashSet<&str> = incidents.iter().map(|i| i.id.as_str()).collect();
    let mut departures: BTreeMap<&str, BTreeMap<usize, usize>> = BTreeMap::new();
    for (index, incident) in incidents.iter().enumerate() {
        for member in &incident.members {
            let Some(owner) = known.owners.get(&member.alert_key) else {
                continue;
            };
            if !live.contains(owner.as_str()) {
                *departures
                    .entry(owner)
                    .or_default()
                    .entry(index)
                    .or_default() += 1;
            }
        }
    }
    departures
}

/// The absorbed incidents (rule 3), in id order, each with how many detections its
/// survivor took.
fn absorptions(incidents: &[Incident], known: &Known) -> Vec<(Absorption, usize)> {
    departures(incidents, known)
        .into_iter()
        .filter_map(|(id, taken)| {
            let stored = known.incidents.get(id)?;
            if stored.members > taken.values().sum() {
                return None;
            }
            // Most detections first; on a tie the smaller index, which `max_by` meets first
            // and must therefore rank higher.
            let (&index, &given) = taken
                .iter()
                .max_by(|(ia, ca), (ib, cb)| ca.cmp(cb).then(ib.cmp(ia)))?;
            let survivor = incidents.get(index)?.id.clone();
            let absorption = Absorption {
                id: id.to_owned(),
                survivor,
            };
            Some((absorption, given))
        })
        .collect()
}

/// The lifecycles survivors inherit (rule 4).
fn inheritances(
    incidents: &[Incident],
    known: &Known,
    absorbed: &[(Absorption, usize)],
) -> Vec<Inheritance> {
    // Per survivor, the best donor so far; `absorbed` is in id order, so on a tie the
    // first (smallest id) stays.
    let mut donors: BTreeMap<&str, (usize, &str, &Lifecycle)> = BTreeMap::new();
    for (absorption, given) in absorbed {
        let Some(state) = known.incidents.get(&absorption.id) else {
            continue;
        };
        if untouched(&state.lifecycle) {
            continue;
        }
        let donor = (*given, absorption.id.as_str(), &state.lifecycle);
        donors
            .entry(&absorption.survivor)
            .and_modify(|best| {
                if donor.0 > best.0 {
                    *best = donor;
                }
            })
            .or_insert(donor);
    }
    donors
        .into_iter()
        .filter(|(survivor, _)| own_lifecycle(survivor, incidents, known).is_some_and(untouched))
        .map(|(survivor, (_, from, lifecycle))| Inheritance {
            survivor: survivor.to_owned(),
            from: from.to_owned(),
            lifecycle: lifecycle.clone(),
        })
        .collect()
}

/// The lifecycle an incident of the regrouping has after the upserts: the stored one, or
/// for a new incident the one it carries.
fn own_lifecycle<'k>(
    id: &str,
    incidents: &'k [Incident],
    known: &'k Known,
) -> Option<&'k Lifecycle> {
    known
        .incidents
        .get(id)
        .map(|state| &state.lifecycle)
        .or_else(|| {
            incidents
                .iter()
                .find(|incident| incident.id == id)
                .map(|incident| &incident.lifecycle)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{JoinReason, Membership};
    use crate::lifecycle::{Resolution, Status};

    /// An incident whose members are `keys`, in that order.
    fn incident(id: &str, keys: &[&str]) -> Incident {
        let mut incident = Incident::placeholder(id);
        incident.members = keys
            .iter()
            .map(|key| Membership {
                alert_key: (*key).to_owned(),
                reason: JoinReason::default(),
            })
            .collect();
        incident
    }

    fn touched(assignee: &str) -> Lifecycle {
        Lifecycle {
            status: Status::Investigating,
            assignee: Some(assignee.to_owned()),
            ..Lifecycle::default()
        }
    }

    /// A store reduced to what planning reads, which applies plans as a store would.
    #[derive(Debug, Default)]
    struct Model {
        owners: BTreeMap<String, String>,
        lifecycles: BTreeMap<String, Lifecycle>,
        merged_into: BTreeMap<String, String>,
    }

    impl Model {
        fn known(&self, incidents: &[Incident]) -> Known {
            let read: Result<Known, ()> = Known::read(
                incidents,
                |keys| {
                    Ok(keys
                        .iter()
                        .filter_map(|k| Some((k.to_string(), self.owners.get(*k)?.clone())))
                        .collect())
                },
                |ids| {
                    Ok(ids
                        .iter()
                        .filter_map(|id| Some((id.to_string(), self.state(id)?)))
                        .collect())
                },
            );
            read.unwrap_or_default()
        }

        fn state(&self, id: &str) -> Option<IncidentState> {
            let lifecycle = self.lifecycles.get(id)?.clone();
            let members = self.owners.values().filter(|owner| *owner == id).count();
            Some(IncidentState { lifecycle, members })
        }

        /// Plans and applies a save, returning the plan's decisions.
        fn save(&mut self, incidents: &[Incident]) -> (Vec<Absorption>, Vec<Inheritance>) {
            let known = self.known(incidents);
            let plan = SavePlan::compute(incidents, &known);
            for incident in &plan.upserts {
                self.lifecycles
                    .entry(incident.id.clone())
                    .or_insert_with(|| incident.lifecycle.clone());
                self.merged_into.remove(&incident.id);
            }
            for placement in &plan.memberships {
                self.owners
                    .insert(placement.alert_key.into(), placement.incident_id.into());
            }
            for absorption in &plan.absorbed {
                self.merged_into
                    .insert(absorption.id.clone(), absorption.survivor.clone());
            }
            for inheritance in &plan.inherited {
                self.lifecycles
                    .insert(inheritance.survivor.clone(), inheritance.lifecycle.clone());
            }
            (plan.absorbed, plan.inherited)
        }
    }

    #[test]
    fn a_first_save_stores_everything_and_absorbs_nothing() {
        let incidents = [incident("INC-a", &["a1", "a2"]), incident("INC-b", &["b1"])];
        let plan = SavePlan::compute(&incidents, &Known::default());
        assert_eq!(plan.upserts.len(), 2);
        let placed: Vec<_> = plan
            .memberships
            .iter()
            .map(|p| (p.alert_key, p.incident_id, p.position))
            .collect();
        assert_eq!(
            placed,
            [("a1", "INC-a", 0), ("a2", "INC-a", 1), ("b1", "INC-b", 0)]
        );
        assert!(plan.absorbed.is_empty() && plan.inherited.is_empty());
    }

    #[test]
    fn a_late_earlier_detection_reopens_under_a_new_id_and_the_lifecycle_follows() {
        let mut store = Model::default();
        store.save(&[incident("INC-a", &["a1", "a2"])]);
        store.lifecycles.insert("INC-a".into(), touched("ana"));
        let (absorbed, inherited) = store.save(&[incident("INC-z", &["z0", "a1", "a2"])]);
        assert_eq!(
            absorbed,
            [Absorption {
                id: "INC-a".into(),
                survivor: "INC-z".into()
            }]
        );
        assert_eq!(inherited.len(), 1);
        assert_eq!(
            (inherited[0].survivor.as_str(), inherited[0].from.as_str()),
            ("INC-z", "INC-a")
        );
        assert_eq!(store.lifecycles["INC-z"], touched("ana"));
        assert_eq!(
            store.lifecycles["INC-a"],
            touched("ana"),
            "the absorbed one keeps its own"
        );
        assert_eq!(store.merged_into["INC-a"], "INC-z");
    }

    #[test]
    fn a_merge_of_two_incidents_absorbs_the_other_into_the_oldest() {
        let mut store = Model::default();
        store.save(&[incident("INC-a", &["a1"]), incident("INC-b", &["b1", "b2"])]);
        store.lifecycles.insert("INC-b".into(), touched("bob"));
        let (absorbed, inherited) = store.save(&[incident("INC-a", &["a1", "b1", "x", "b2"])]);
        assert_eq!(
            absorbed,
            [Absorption {
                id: "INC-b".into(),
                survivor: "INC-a".into()
            }]
        );
        assert_eq!(
            inherited.len(),
            1,
            "INC-a was untouched and takes INC-b's work"
        );
        assert_eq!(store.lifecycles["INC-a"], touched("bob"));
    }

    #[test]
    fn a_survivor_an_analyst_touched_keeps_its_own_lifecycle() {
        let mut store = Model::default();
        store.save(&[incident("INC-a", &["a1"]), incident("INC-b", &["b1"])]);
        store.lifecycles.insert("INC-a".into(), touched("ana"));
        store.lifecycles.insert("INC-b".into(), touched("bob"));
        let (absorbed, inherited) = store.save(&[incident("INC-a", &["a1", "b1"])]);
        assert_eq!(absorbed.len(), 1);
        assert!(inherited.is_empty());
        assert_eq!(store.lifecycles["INC-a"], touched("ana"));
        assert_eq!(store.lifecycles["INC-b"], touched("bob"));
    }

    #[test]
    fn a_new_incident_carrying_a_lifecycle_keeps_it() {
        let mut store = Model::default();
        store.save(&[incident("INC-a", &["a1"])]);
        store.lifecycles.insert("INC-a".into(), touched("ana"));
        let mut closed = incident("INC-z", &["z0", "a1"]);
        closed.lifecycle = Lifecycle {
            status: Status::Closed,
            resolution: Some(Resolution::Benign),
            ..Lifecycle::default()
        };
        let (absorbed, inherited) = store.save(std::slice::from_ref(&closed));
        assert_eq!(absorbed.len(), 1);
        assert!(inherited.is_empty());
        assert_eq!(store.lifecycles["INC-z"], closed.lifecycle);
    }

    #[test]
    fn of_several_absorbed_the_one_that_gave_most_detections_passes_its_lifecycle() {
        let mut store = Model::default();
        store.save(&[incident("INC-a", &["a1"]), incident("INC-b", &["b1", "b2"])]);
        store.lifecycles.insert("INC-a".into(), touched("ana"));
        store.lifecycles.insert("INC-b".into(), touched("bob"));
        let (absorbed, inherited) = store.save(&[incident("INC-z", &["z0", "a1", "b1", "b2"])]);
        assert_eq!(absorbed.len(), 2);
        assert_eq!(inherited.len(), 1);
        assert_eq!(inherited[0].from, "INC-b");
        assert_eq!(store.lifecycles["INC-z"], touched("bob"));
    }

    #[test]
    fn a_split_incident_survives_in_the_part_with_most_of_its_detections() {
        let mut store = Model::default();
        store.save(&[incident("INC-a", &["a1", "a2", "a3"])]);
        let (absorbed, _) =
            store.save(&[incident("INC-x", &["a1"]), incident("INC-y", &["a2", "a3"])]);
        assert_eq!(
            absorbed,
            [Absorption {
                id: "INC-a".into(),
                survivor: "INC-y".into()
            }]
        );
    }

    #[test]
    fn an_incident_that_keeps_some_detections_is_not_absorbed() {
        let mut store = Model::default();
        store.save(&[incident("INC-a", &["a1", "a2"])]);
        store.lifecycles.insert("INC-a".into(), touched("ana"));
        let (absorbed, inherited) = store.save(&[incident("INC-z", &["z0", "a2"])]);
        assert!(absorbed.is_empty() && inherited.is_empty());
        assert_eq!(store.owners["a1"], "INC-a");
        assert_eq!(store.owners["a2"], "INC-z");
    }

    #[test]
    fn saving_the_same_regrouping_twice_changes_nothing() {
        let mut store = Model::default();
        store.save(&[incident("INC-a", &["a1"]), incident("INC-b", &["b1"])]);
        store.lifecycles.insert("INC-b".into(), touched("bob"));
        let regrouping = [incident("INC-z", &["z0", "a1", "b1"])];
        store.save(&regrouping);
        let (owners, lifecycles, merged) = (
            store.owners.clone(),
            store.lifecycles.clone(),
            store.merged_into.clone(),
        );
        let known = store.known(&regrouping);
        let plan = SavePlan::compute(&regrouping, &known);
        assert!(plan.moves_nothing(&known), "{plan:?}");
        store.save(&regrouping);
        assert_eq!(store.owners, owners);
        assert_eq!(store.lifecycles, lifecycles);
        assert_eq!(store.merged_into, merged);
    }

    #[test]
    fn an_incident_marked_merged_is_live_again_when_regrouping_brings_it_back() {
        let mut store = Model::default();
        store.save(&[incident("INC-a", &["a1"]), incident("INC-b", &["b1"])]);
        store.save(&[incident("INC-a", &["a1", "b1"])]);
        assert_eq!(store.merged_into["INC-b"], "INC-a");
        store.save(&[incident("INC-a", &["a1"]), incident("INC-b", &["b1"])]);
        assert!(store.merged_into.is_empty());
    }

    #[test]
    fn reading_asks_for_members_then_for_owners_and_the_regrouping() {
        let incidents = [incident("INC-z", &["z0", "a1"])];
        let mut asked_keys = Vec::new();
        let mut asked_ids = Vec::new();
        let known: Result<Known, ()> = Known::read(
            &incidents,
            |keys| {
                asked_keys = keys.iter().map(|k| k.to_string()).collect();
                Ok(BTreeMap::from([("a1".to_owned(), "INC-a".to_owned())]))
            },
            |ids| {
                asked_ids = ids.iter().map(|k| k.to_string()).collect();
                Ok(BTreeMap::new())
            },
        );
        assert!(known.is_ok());
        assert_eq!(asked_keys, ["z0", "a1"]);
        assert_eq!(asked_ids, ["INC-a", "INC-z"]);
    }
}
