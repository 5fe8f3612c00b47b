//! [`IncidentWriter`]: alerts into an incident store in batches, then grouped into incidents
//! with one [`GroupingConfig`], the same whichever command writes them.
//!
//! Each batch is one write of the store (one transaction in SQLite), so a run killed at any
//! point leaves the store as it was after its last complete batch; alert keys are stable, so
//! rerunning the same logs adds only what is missing. [`IncidentWriter::finish`] regroups
//! the store's alerts and saves the incidents; the store keeps the analysts' lifecycle
//! changes.

use std::collections::HashSet;

use tocsin_incident::{
    group, Alert, AttackCatalog, GroupingConfig, Incident, IncidentStore, PutOutcome,
};

/// Alerts written per batch.
pub const ALERT_BATCH: usize = 1000;

/// Where a run's alerts go: the store, how they are grouped, and what was written.
pub struct IncidentWriter<S> {
    store: S,
    grouping: GroupingConfig,
    catalog: AttackCatalog,
    pending: Vec<Alert>,
    written: PutOutcome,
}

/// What a run did to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreReport {
    /// Alerts stored for the first time / already stored by an earlier run.
    pub alerts: PutOutcome,
    /// Incidents after regrouping.
    pub incidents: usize,
    /// Of those, incidents the store did not hold before.
    pub new_incidents: usize,
}

impl<S: IncidentStore> IncidentWriter<S> {
    /// A writer into `store`, grouping with `grouping` and naming ATT&CK with `catalog`.
    pub fn new(store: S, grouping: GroupingConfig, catalog: AttackCatalog) -> Self {
        IncidentWriter {
            store,
            grouping,
            catalog,
            pending: Vec::with_capacity(ALERT_BATCH),
            written: PutOutcome::default(),
        }
    }

    /// The store, to read or save other components' state.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, to save other components' state (a behavioural baseline).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Queues an alert, writing a batch when [`ALERT_BATCH`] are queued.
    pub fn push(&mut self, alert: Alert) -> Result<(), S::Error> {
        self.pending.push(alert);
        if self.pending.len() >= ALERT_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the queued alerts in one write.
    pub fn flush(&mut self) -> Result<(), S::Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let outcome = self.store.put_alerts(&self.pending)?;
        self.written.new += outcome.new;
        self.written.existing += outcome.existing;
        self.pending.clear();
        Ok(())
    }

    /// Writes what is queued, regroups the store's alerts into incidents and saves them;
    /// returns the store and what was done.
    pub fn finish(mut self) -> Result<(S, StoreReport), S::Error> {
        self.flush()?;
        let alerts = self.store.all_alerts()?;
        let incidents = group(&alerts, &self.grouping, &self.catalog);
        let new_incidents = self.count_new(&incidents)?;
        self.store.save_incidents(&incidents)?;
        let report = StoreReport {
            alerts: self.written,
            incidents: incidents.len(),
            new_incidents,
        };
        Ok((self.store, report))
    }

    /// How many of `incidents` the store does not hold yet.
    fn count_new(&self, incidents: &[Incident]) -> Result<usize, S::Error> {
        let mut known = HashSet::new();
        for incident in incidents {
            if self.store.incident(&incident.id)?.is_some() {
                known.insert(incident.id.as_str());
            }
        }
        Ok(incidents.len() - known.len())
    }
}
