//! [`MemoryStore`]: an [`IncidentStore`] that keeps everything in memory, for tests and for
//! a service that does not persist. It behaves as [`SqliteStore`](crate::SqliteStore) does
//! (both run the same conformance suite) and forgets everything when dropped.
//!
//! Atomicity is by construction: a write checks everything that could refuse it before it
//! changes anything, and the changes themselves cannot fail.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::convert::Infallible;

use tocsin_incident::{
    Alert, AuditRecord, Incident, IncidentFilter, IncidentState, IncidentStore, Known,
    NewSuppression, PutOutcome, Removal, SavePlan, Suppression,
};

use crate::error::MemoryError;

/// Alerts, incidents, memberships, audit trails and blobs held in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    alerts: BTreeMap<String, Alert>,
    /// The alert keys in the order they were stored.
    stored_order: Vec<String>,
    incidents: BTreeMap<String, StoredIncident>,
    /// For each alert key, the incident it belongs to and its position there.
    owners: BTreeMap<String, (String, usize)>,
    /// For each incident, its members as (position, alert key).
    members: BTreeMap<String, BTreeSet<(usize, String)>>,
    audit: BTreeMap<String, Vec<AuditRecord>>,
    blobs: BTreeMap<String, Vec<u8>>,
    suppressions: Vec<Suppression>,
}

/// An incident as stored: computed part and lifecycle, and the survivor that absorbed it.
#[derive(Debug, Clone)]
struct StoredIncident {
    incident: Incident,
    merged_into: Option<String>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Stores the alerts not stored yet.
    fn insert_alerts(&mut self, alerts: &[Alert]) -> Vec<bool> {
        alerts
            .iter()
            .map(|alert| {
                let new = !self.alerts.contains_key(&alert.key);
                if new {
                    self.alerts.insert(alert.key.clone(), alert.clone());
                    self.stored_order.push(alert.key.clone());
                }
                new
            })
            .collect()
    }

    /// Refuses incidents naming a detection that is neither stored nor in `arriving`.
    fn check_members(&self, incidents: &[Incident], arriving: &[Alert]) -> Result<(), MemoryError> {
        let arriving: HashSet<&str> = arriving.iter().map(|a| a.key.as_str()).collect();
        for incident in incidents {
            let missing = incident.members.iter().find(|member| {
                !self.alerts.contains_key(&member.alert_key)
                    && !arriving.contains(member.alert_key.as_str())
            });
            if let Some(member) = missing {
                return Err(MemoryError::UnknownAlert {
                    incident: incident.id.clone(),
                    alert_key: member.alert_key.clone(),
                });
            }
        }
        Ok(())
    }

    /// Plans a save with the incident crate and applies the plan.
    fn save_planned(&mut self, incidents: &[Incident]) {
        let Ok::<_, Infallible>(known) = Known::read(
            incidents,
            |keys| Ok(self.owners_of(keys)),
            |ids| Ok(self.states_of(ids)),
        );
        let plan = SavePlan::compute(incidents, &known);
        for incident in &plan.upserts {
            self.upsert(incident);
        }
        for placement in &plan.memberships {
            self.place(
                placement.alert_key,
                placement.incident_id,
                placement.position,
            );
        }
        for absorbed in &plan.absorbed {
            if let Some(stored) = self.incidents.get_mut(&absorbed.id) {
                stored.merged_into = Some(absorbed.survivor.clone());
            }
        }
        for inherited in &plan.inherited {
            if let Some(stored) = self.incidents.get_mut(&inherited.survivor) {
                stored.incident.lifecycle = inherited.lifecycle.clone();
            }
        }
    }

    /// Stores a new incident whole, or a stored one's computed part (keeping its lifecycle);
    /// either way it is live.
    fn upsert(&mut self, incident: &Incident) {
        let lifecycle = match self.incidents.get_mut(&incident.id) {
            Some(stored) => std::mem::take(&mut stored.incident.lifecycle),
            None => incident.lifecycle.clone(),
        };
        let stored = StoredIncident {
            incident: Incident {
                lifecycle,
                ..incident.clone()
            },
            merged_into: None,
        };
        self.incidents.insert(incident.id.clone(), stored);
    }

    /// Puts a detection under an incident at a position, leaving its previous one.
    fn place(&mut self, alert_key: &str, incident_id: &str, position: usize) {
        let entry = (incident_id.to_owned(), position);
        if let Some((previous, at)) = self.owners.insert(alert_key.to_owned(), entry) {
            if let Some(members) = self.members.get_mut(&previous) {
                members.remove(&(at, alert_key.to_owned()));
            }
        }
        self.members
            .entry(incident_id.to_owned())
            .or_default()
            .insert((position, alert_key.to_owned()));
    }

    fn owners_of(&self, alert_keys: &[&str]) -> BTreeMap<String, String> {
        alert_keys
            .iter()
            .filter_map(|key| {
                let (owner, _) = self.owners.get(*key)?;
                Some(((*key).to_owned(), owner.clone()))
            })
            .collect()
    }

    fn states_of(&self, ids: &[&str]) -> BTreeMap<String, IncidentState> {
        ids.iter()
            .filter_map(|id| {
                let stored = self.incidents.get(*id)?;
                let state = IncidentState {
                    lifecycle: stored.incident.lifecycle.clone(),
                    members: self.members.get(*id).map_or(0, BTreeSet::len),
                };
                Some(((*id).to_owned(), state))
            })
            .collect()
    }
}

impl IncidentStore for MemoryStore {
    type Error = MemoryError;

    fn store_alerts(&mut self, alerts: &[Alert]) -> Result<Vec<bool>, MemoryError> {
        Ok(self.insert_alerts(alerts))
    }

    fn record_hunt(
        &mut self,
        alerts: &[Alert],
        incidents: &[Incident],
    ) -> Result<PutOutcome, MemoryError> {
        self.check_members(incidents, alerts)?;
        let first_time = self.insert_alerts(alerts);
        self.save_planned(incidents);
        Ok(PutOutcome::of(&first_time))
    }

    fn alert_count(&self) -> Result<usize, MemoryError> {
        Ok(self.alerts.len())
    }

    fn all_alerts(&self) -> Result<Vec<Alert>, MemoryError> {
        let mut alerts: Vec<Alert> = self.alerts.values().cloned().collect();
        alerts.sort_by(|a, b| {
            let order = |x: &Alert| (x.timestamp_micros.is_none(), x.timestamp_micros);
            order(a).cmp(&order(b)).then_with(|| a.key.cmp(&b.key))
        });
        Ok(alerts)
    }

    fn alerts_after(&self, micros: i64, key: &str) -> Result<Vec<Alert>, MemoryError> {
        let mut alerts = self.all_alerts()?;
        alerts.retain(|alert| {
            alert
                .timestamp_micros
                .is_none_or(|at| (at, alert.key.as_str()) > (micros, key))
        });
        Ok(alerts)
    }

    fn alerts_stored_after(&self, count: usize) -> Result<Option<Vec<Alert>>, MemoryError> {
        let later = self.stored_order.iter().skip(count);
        Ok(Some(
            later
                .filter_map(|key| self.alerts.get(key).cloned())
                .collect(),
        ))
    }

    fn count_alerts_after(&self, micros: i64, key: &str) -> Result<usize, MemoryError> {
        Ok(self.alerts_after(micros, key)?.len())
    }

    fn save_incidents(&mut self, incidents: &[Incident]) -> Result<(), MemoryError> {
        self.check_members(incidents, &[])?;
        self.save_planned(incidents);
        Ok(())
    }

    fn save_incidents_with_blobs(
        &mut self,
        incidents: &[Incident],
        blobs: &[(&str, &[u8])],
    ) -> Result<(), MemoryError> {
        self.check_members(incidents, &[])?;
        self.save_planned(incidents);
        for (name, bytes) in blobs {
            self.blobs.insert((*name).to_owned(), bytes.to_vec());
        }
        Ok(())
    }

    fn memberships_of(&self, alert_keys: &[&str]) -> Result<BTreeMap<String, String>, MemoryError> {
        Ok(self.owners_of(alert_keys))
    }

    fn incident_states(
        &self,
        ids: &[&str],
    ) -> Result<BTreeMap<String, IncidentState>, MemoryError> {
        Ok(self.states_of(ids))
    }

    fn merged_into(&self, id: &str) -> Result<Option<String>, MemoryError> {
        Ok(self
            .incidents
            .get(id)
            .and_then(|stored| stored.merged_into.clone()))
    }

    fn incident(&self, id: &str) -> Result<Option<Incident>, MemoryError> {
        Ok(self.incidents.get(id).map(|stored| stored.incident.clone()))
    }

    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, MemoryError> {
        let mut live: Vec<&Incident> = self
            .incidents
            .values()
            .filter(|stored| stored.merged_into.is_none())
            .map(|stored| &stored.incident)
            .filter(|incident| filter.accepts(incident))
            .collect();
        // Most recent first, without a time last (`None` sorts first, so last once reversed).
        live.sort_by(|a, b| {
            Reverse(a.last_seen_micros)
                .cmp(&Reverse(b.last_seen_micros))
                .then_with(|| a.id.cmp(&b.id))
        });
        let limit = filter.limit.unwrap_or(usize::MAX);
        Ok(live.into_iter().take(limit).cloned().collect())
    }

    fn alerts_of(&self, incident_id: &str) -> Result<Vec<Alert>, MemoryError> {
        let Some(members) = self.members.get(incident_id) else {
            return Ok(Vec::new());
        };
        Ok(members
            .iter()
            .filter_map(|(_, key)| self.alerts.get(key).cloned())
            .collect())
    }

    fn apply_change(
        &mut self,
        incident: &Incident,
        record: &AuditRecord,
    ) -> Result<(), MemoryError> {
        let Some(stored) = self.incidents.get_mut(&incident.id) else {
            return Err(MemoryError::UnknownIncident {
                id: incident.id.clone(),
            });
        };
        stored.incident.lifecycle = incident.lifecycle.clone();
        self.audit
            .entry(record.incident_id.clone())
            .or_default()
            .push(record.clone());
        Ok(())
    }

    fn update_incident<E>(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut Incident) -> Result<Vec<AuditRecord>, E>,
    ) -> Result<Result<Vec<AuditRecord>, E>, MemoryError> {
        let Some(stored) = self.incidents.get_mut(id) else {
            return Err(MemoryError::UnknownIncident { id: id.to_owned() });
        };
        let mut incident = stored.incident.clone();
        let records = match change(&mut incident) {
            Ok(records) => records,
            Err(refused) => return Ok(Err(refused)),
        };
        stored.incident.lifecycle = incident.lifecycle;
        let trail = self.audit.entry(id.to_owned()).or_default();
        trail.extend(records.iter().cloned());
        Ok(Ok(records))
    }

    fn audit_of(&self, incident_id: &str) -> Result<Vec<AuditRecord>, MemoryError> {
        Ok(self.audit.get(incident_id).cloned().unwrap_or_default())
    }

    fn load_blob(&self, name: &str) -> Result<Option<Vec<u8>>, MemoryError> {
        Ok(self.blobs.get(name).cloned())
    }

    fn save_blob(&mut self, name: &str, bytes: &[u8]) -> Result<(), MemoryError> {
        self.blobs.insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn add_suppression(&mut self, new: &NewSuppression) -> Result<Suppression, MemoryError> {
        let suppression = Suppression {
            id: self.suppressions.len() as u64 + 1,
            spec: new.clone(),
            removed: None,
        };
        self.suppressions.push(suppression.clone());
        Ok(suppression)
    }

    fn suppressions(&self) -> Result<Vec<Suppression>, MemoryError> {
        Ok(self.suppressions.clone())
    }

    fn remove_suppression(&mut self, id: u64, removal: &Removal) -> Result<bool, MemoryError> {
        let in_force = self
            .suppressions
            .iter_mut()
            .find(|s| s.id == id && s.removed.is_none());
        Ok(in_force
            .map(|suppression| suppression.removed = Some(removal.clone()))
            .is_some())
    }
}
