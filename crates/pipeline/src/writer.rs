//! [`IncidentWriter`]: alerts into an incident store in batches, then grouped into incidents
//! with one [`GroupingConfig`], the same whichever command writes them.
//!
//! Each batch is one write of the store (one transaction in SQLite), so a run killed at any
//! point leaves the store as it was after its last complete batch; alert keys are stable, so
//! rerunning the same logs adds only what is missing. The store keeps the analysts'
//! lifecycle changes.
//!
//! # Incremental grouping
//!
//! [`IncidentWriter::finish`] groups the run's alerts with the [`GroupingState`] the previous
//! run left in the store (blob [`STATE_BLOB`]): it continues the grouping from there with the
//! run's new alerts, rebuilds only the incidents they opened, joined or merged (loading the
//! stored members of those incidents) and saves them and the new state. Its cost follows the
//! run and the incidents it touches, not the store. The result is exactly what regrouping
//! every stored alert gives, because grouping is a fold in time order and the run's alerts
//! all come after the ones already grouped.
//!
//! A run holding alerts earlier than the newest alert already grouped (late detections)
//! continues instead from a checkpoint, a state saved by an earlier grouping before the
//! earliest of them, and groups again the stored alerts after it ([`checkpoints`]): the
//! same result, at a cost that follows how late the alerts are. A writer given a read-back
//! limit ([`IncidentWriter::limit_read_back`], a service's) that would read more stored
//! alerts than that groups the late alerts among themselves instead
//! ([`GroupedBy::Apart`]): not what regrouping gives, but bounded.
//!
//! Only the alerts a run stores for the first time are grouped: one stored before (a rerun,
//! a sender sending a batch again, even long after) was grouped when it was stored, since
//! a state is only continued when it covers every stored alert ([`ungrouped_alerts`] is
//! zero; a service's grouper, which adopts what another connection stores, counts what it
//! adopted instead).
//!
//! It regroups every stored alert instead (and saves a fresh state) when neither holds: no
//! usable state (a store written before states were saved, a run killed before saving it,
//! another state format or another grouping configuration, or a store holding alerts no
//! grouping saw), a new alert earlier than (or, at the same time, keyed before) the newest
//! alert already grouped with no checkpoint before it, or a new alert without a time. A
//! rerun that stores nothing new changes no incident and keeps the state. A store holding
//! an alert without a time has no state, so every later run regroups it whole.
//!
//! The state is taken out of the store before the run writes its first alert and saved
//! back with its incidents, so a run that stops in between leaves no state and the next
//! run regroups everything. An adopting writer (a service's grouper, which stores nothing)
//! leaves it in place instead: it covers the grouped count saved with it, and a restart
//! groups what was stored after that count from it ([`IncidentWriter::group_waiting`]).
//! A state holds the distinct linking entities and the groups that a later alert can still
//! join (within the quiet gap of the newest alert), not the alerts.
//!
//! # Suppressions
//!
//! Both ways of grouping apply the store's suppressions in force at that moment: the alerts
//! they match join incidents as context and open none (`tocsin_incident::suppression`).
//! Groups a saved state holds keep what earlier runs decided; a suppression added since
//! applies to the alerts grouped from then on, and `incidents regroup` applies it to all.
//! The same goes for the origin trust a driver gives ([`IncidentWriter::trust_origins`]):
//! an alert it calls familiar (an API key acting from the site's own networks) is context
//! too; since the site's networks know since when each is the site's, every grouping,
//! the whole store's included, decides for an alert as the first did.
//!
//! # The last write
//!
//! The incidents, the grouping state and the blobs the driver queued with
//! [`IncidentWriter::save_blob_at_finish`] (a behavioural baseline learned from the run's
//! events) are saved in one write, after every alert of the run is stored. So a run
//! stopped at any point never leaves a baseline that already knows the run's events
//! without the anomalies they raised: the next run goes on from the previous baseline,
//! finds the same anomalies again (same keys, so stored once) and saves everything. The
//! last write also records how many alerts the store held when grouped ([`GROUPED_BLOB`]),
//! so that a store can tell how many wait for a grouping ([`ungrouped_alerts`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use self::checkpoints::{Checkpoints, CHECKPOINTS_BLOB};

use tocsin_incident::{
    group_with, Alert, AttackCatalog, Grouper, GroupingConfig, GroupingState, Incident,
    IncidentStore, OriginTrust, PutOutcome, SuppressionSet, ALERT_KEY_SCHEME, KEY_SCHEME_BLOB,
};

/// The name of the store blob holding the [`GroupingState`] of the last grouping.
pub const STATE_BLOB: &str = "grouping-state";

/// The name of the store blob holding how many alerts the store held when it was last
/// grouped (decimal text): alerts stored after that wait for a grouping (a run stopped
/// before its last write), see [`ungrouped_alerts`].
pub const GROUPED_BLOB: &str = "grouped-alerts";

/// How many stored alerts no grouping has seen yet: left by a run stopped after writing
/// alerts and before grouping them; [`IncidentWriter::regroup`] (or the next run) groups
/// them. A store without the [`GROUPED_BLOB`] was never grouped.
pub fn ungrouped_alerts<S: IncidentStore>(store: &S) -> Result<usize, S::Error> {
    let stored = store.alert_count()?;
    let grouped = store
        .load_blob(GROUPED_BLOB)?
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.parse::<usize>().ok())
        .unwrap_or(0);
    Ok(stored.saturating_sub(grouped))
}

/// Alerts written per batch.
pub const ALERT_BATCH: usize = 1000;

/// Where a run's alerts go: the store, how they are grouped, and what was written.
pub struct IncidentWriter<S> {
    store: S,
    grouping: GroupingConfig,
    catalog: AttackCatalog,
    pending: Vec<Alert>,
    written: PutOutcome,
    /// The grouping state read (and, unless adopting, taken out of the store) before the
    /// first write.
    state: Taken,
    /// The run's alerts, kept (only while a state was taken) to group them incrementally.
    run: Vec<Alert>,
    /// Blobs to save with the incidents, in the run's last write.
    blobs: Vec<(String, Vec<u8>)>,
    /// The checkpoints read with the state (and taken out with it).
    checkpoints: Checkpoints,
    /// The time and key of the run's earliest new alert when it cannot be appended to the
    /// state (every new alert has a time).
    late_from: Option<(i64, String)>,
    /// Why the run's alerts could not be appended, for a regrouping's report.
    regroup_why: &'static str,
    /// For a writer whose alerts another writer stores ([`IncidentWriter::adopt`]): how many
    /// alerts the store held grouped when the state was taken. The grouping then covers
    /// those and the adopted ones, not every alert the store holds by the time it saves.
    adopted_base: Option<usize>,
    /// The most stored alerts a grouping of late alerts may read back (`None`: no limit).
    read_back_limit: Option<usize>,
    /// What tells the site's own activity from its own networks, if anything does.
    origins: Option<Arc<dyn OriginTrust>>,
}

/// Where the writer stands with the store's grouping state.
enum Taken {
    /// Not read yet (nothing was written).
    NotYet,
    /// Read (and, unless adopting, taken out of the store).
    Usable(Box<GroupingState>),
    /// The store had none, or none this build can read.
    Unusable,
}

/// What a run did to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreReport {
    /// Alerts stored for the first time / already stored by an earlier run.
    pub alerts: PutOutcome,
    /// Incidents the grouping saved: every incident when it regrouped the whole store, the
    /// ones the run opened, joined or merged when it grouped incrementally.
    pub incidents: usize,
    /// Of those, incidents the store did not hold before.
    pub new_incidents: usize,
    /// How the alerts were grouped.
    pub grouped_by: GroupedBy,
}

/// How a run's alerts were grouped: from the saved state when it could, since a checkpoint
/// when some came late, everything again otherwise (costly on a big store: a service that
/// regroups everything often is worth a look).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupedBy {
    /// The run's alerts were pushed after the saved state.
    #[default]
    Appending,
    /// The stored alerts since a checkpoint before the late ones were grouped again.
    Checkpoint,
    /// Every stored alert was grouped again, for the reason given.
    Everything(&'static str),
    /// This many late alerts were grouped among themselves, into incidents of their own,
    /// since grouping them with what came before would have read back more stored alerts
    /// than allowed ([`IncidentWriter::limit_read_back`]); the others were appended.
    Apart(usize),
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
            state: Taken::NotYet,
            run: Vec::new(),
            blobs: Vec::new(),
            checkpoints: Checkpoints::default(),
            late_from: None,
            regroup_why: "asked for",
            read_back_limit: None,
            adopted_base: None,
            origins: None,
        }
    }

    /// Groups with `origins` from now on: the alerts it calls familiar (an API key acting
    /// from the site's own networks, see [`crate::FamiliarOrigins`]) join incidents as
    /// context and open none. Every grouping this writer does asks it, the whole store's
    /// too, so it must answer for old alerts as it did when they came.
    pub fn trust_origins(&mut self, origins: Arc<dyn OriginTrust>) {
        self.origins = Some(origins);
    }

    /// Queues a named blob (replacing one queued under the same name) to be saved in the
    /// same write as the run's incidents, by [`IncidentWriter::finish`]: state learned from
    /// the run's events, such as a behavioural baseline, which must not be stored before
    /// the alerts those events raised (see the module documentation).
    pub fn save_blob_at_finish(&mut self, name: &str, bytes: Vec<u8>) {
        self.blobs.retain(|(queued, _)| queued != name);
        self.blobs.push((name.to_owned(), bytes));
    }

    /// The store, to read or save other components' state.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, to save other components' state (a behavioural baseline).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The alert key scheme of the detections the store holds when it is not this build's
    /// ([`ALERT_KEY_SCHEME`]): writing into such a store would store every detection again
    /// under a new key, so a driver refuses it before scanning. `None` when the store holds
    /// no detection or detections keyed as this build keys them.
    pub fn foreign_key_scheme(&self) -> Result<Option<String>, S::Error> {
        let stored = self.store.load_blob(KEY_SCHEME_BLOB)?;
        let current = ALERT_KEY_SCHEME.to_string();
        Ok(stored
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .filter(|scheme| *scheme != current))
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
        self.take_state()?;
        let first_time = self.store.store_alerts(&self.pending)?;
        let pending = std::mem::take(&mut self.pending);
        self.keep_new(pending, &first_time);
        Ok(())
    }

    /// Counts what a write of `alerts` stored for the `first_time` and keeps the new ones
    /// to group (while a state was taken): one stored before was grouped then.
    fn keep_new(&mut self, alerts: Vec<Alert>, first_time: &[bool]) {
        let outcome = PutOutcome::of(first_time);
        self.written.new += outcome.new;
        self.written.existing += outcome.existing;
        if matches!(self.state, Taken::Usable(_)) {
            let new = alerts
                .into_iter()
                .zip(first_time)
                .filter_map(|(alert, new)| new.then_some(alert));
            self.run.extend(new);
        }
    }

    /// Takes alerts that another connection already stored (saying of each whether it was
    /// stored for the `first_time`, [`IncidentStore::store_alerts`]) as this run's, to group
    /// at [`IncidentWriter::finish`]: a service that stores detections on one thread and
    /// groups them on another. The other writer stores alerts only, so the grouping saved
    /// covers the alerts grouped before and the adopted ones (a restart finds the rest
    /// ungrouped, [`ungrouped_alerts`], and groups them before adopting anything).
    pub fn adopt(&mut self, alerts: Vec<Alert>, first_time: &[bool]) -> Result<(), S::Error> {
        self.adopting()?;
        self.take_state()?;
        self.keep_new(alerts, first_time);
        Ok(())
    }

    /// Bounds what grouping late alerts may read back: when placing them exactly (from a
    /// checkpoint before them, or by regrouping everything) would read more than `most`
    /// stored alerts, they are grouped among themselves instead ([`GroupedBy::Apart`]).
    /// A service sets it so that a backfill of old logs cannot make it load its whole
    /// store; a hunt, which holds its run anyway, does not.
    pub fn limit_read_back(&mut self, most: usize) {
        self.read_back_limit = Some(most);
    }

    /// A writer that groups only alerts another connection stores
    /// ([`IncidentWriter::adopt`]), even when it adopts none: the grouping it saves covers
    /// the alerts grouped before and those it adopted, never alerts stored meanwhile. It
    /// leaves the saved state in the store until it saves the next one.
    pub fn adopting_only(
        store: S,
        grouping: GroupingConfig,
        catalog: AttackCatalog,
    ) -> Result<Self, S::Error> {
        let mut writer = IncidentWriter::new(store, grouping, catalog);
        writer.adopting()?;
        Ok(writer)
    }

    /// Reads, once, how many alerts the store held grouped: what an adopting writer's
    /// grouping adds its adopted alerts to.
    fn adopting(&mut self) -> Result<(), S::Error> {
        if self.adopted_base.is_none() {
            let grouped = self
                .store
                .load_blob(GROUPED_BLOB)?
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.parse::<usize>().ok())
                .unwrap_or(0);
            self.adopted_base = Some(grouped);
        }
        Ok(())
    }

    /// Writes what is queued, groups the run's alerts into incidents (incrementally when it
    /// can, see the module documentation) and saves them; returns the store and what was
    /// done.
    pub fn finish(mut self) -> Result<(S, StoreReport), S::Error> {
        self.flush()?;
        self.take_state()?;
        let saved = match self.incremental()? {
            Some(saved) => saved,
            None => match self.late_from.take() {
                Some((micros, key)) => match self.continue_from_checkpoint(micros, &key)? {
                    Some(saved) => saved,
                    None => {
                        // What was saved before the late alerts is still right.
                        self.checkpoints.forget_from(micros, &key);
                        self.regroup_all()?
                    }
                },
                None => {
                    self.checkpoints.forget_all();
                    self.regroup_all()?
                }
            },
        };
        let report = StoreReport {
            alerts: self.written,
            ..saved
        };
        Ok((self.store, report))
    }

    /// Groups what a stopped service left waiting, the alerts stored after its last
    /// grouping (as many as [`ungrouped_alerts`] counts), from the state that grouping saved,
    /// reading only those; regroups everything when there is no usable state or the store
    /// cannot tell which alerts wait ([`IncidentStore::alerts_stored_after`]). A service's
    /// grouper leaves its state in the store while it groups (see
    /// [`IncidentWriter::adopting_only`]), so a restart after a crash costs what waited,
    /// not what the store holds.
    pub fn group_waiting(mut self) -> Result<(S, StoreReport), S::Error> {
        self.adopting()?;
        self.take_state()?;
        let grouped = self.adopted_base.unwrap_or(0);
        let waiting = match self.state {
            Taken::Usable(_) => self.store.alerts_stored_after(grouped)?,
            _ => None,
        };
        let Some(waiting) = waiting else {
            // Nothing else writes meanwhile: what it groups is every stored alert.
            self.adopted_base = None;
            return self.regroup();
        };
        tracing::debug!(
            waiting = waiting.len(),
            grouped,
            "grouping what waited from the saved state"
        );
        let first_time = vec![true; waiting.len()];
        self.adopt(waiting, &first_time)?;
        self.finish()
    }

    /// Regroups every stored alert into incidents and saves them, without writing any alert:
    /// what groups the alerts a stopped run left ungrouped ([`ungrouped_alerts`]).
    pub fn regroup(mut self) -> Result<(S, StoreReport), S::Error> {
        self.take_state()?;
        self.regroup_why = "asked for";
        self.checkpoints.forget_all();
        let report = self.regroup_all()?;
        Ok((self.store, report))
    }

    /// Reads the grouping state and takes it out of the store, once, before the run's first
    /// write (see the module documentation).
    fn take_state(&mut self) -> Result<(), S::Error> {
        if !matches!(self.state, Taken::NotYet) {
            return Ok(());
        }
        let bytes = self.store.load_blob(STATE_BLOB)?.unwrap_or_default();
        self.state = match serde_json::from_slice::<GroupingState>(&bytes) {
            Ok(_) if self.adopted_base.is_none() && ungrouped_alerts(&self.store)? > 0 => {
                // Alerts stored before this run are taken as grouped: here some are not.
                self.regroup_why = "the store holds detections no grouping saw";
                Taken::Unusable
            }
            Ok(state) => Taken::Usable(Box::new(state)),
            Err(_) => {
                self.regroup_why = "no grouping state to continue from";
                Taken::Unusable
            }
        };
        // An adopting writer leaves them: they go with the grouped count, which says which
        // stored alerts they do not cover ([`IncidentWriter::group_waiting`]).
        let take_out = self.adopted_base.is_none();
        if take_out && !bytes.is_empty() {
            self.store.save_blob(STATE_BLOB, &[])?;
        }
        let index = self.store.load_blob(CHECKPOINTS_BLOB)?;
        self.checkpoints = Checkpoints::parse(index.as_deref());
        if take_out && index.is_some_and(|index| !index.is_empty()) {
            self.store.save_blob(CHECKPOINTS_BLOB, &[])?;
        }
        if self.store.load_blob(KEY_SCHEME_BLOB)?.is_none() {
            let scheme = ALERT_KEY_SCHEME.to_string();
            self.store.save_blob(KEY_SCHEME_BLOB, scheme.as_bytes())?;
        }
        Ok(())
    }

    /// Groups the run's new alerts from the taken state and saves the incidents they
    /// touched and the new state; `None` (nothing written) when the run cannot be appended.
    fn incremental(&mut self) -> Result<Option<StoreReport>, S::Error> {
        let Taken::Usable(state) = std::mem::replace(&mut self.state, Taken::Unusable) else {
            return Ok(None);
        };
        let Ok(mut grouper) = Grouper::resume(*state, &self.grouping) else {
            self.regroup_why = "the grouping state was saved by another version or settings";
            return Ok(None);
        };
        self.apply_context(&mut grouper)?;
        let run = std::mem::take(&mut self.run);
        // A state never holds an alert grouped after it was saved; one an older build saved
        // may hold alerts another connection had stored and this one adopts only now.
        let resumed = grouper.resumed_keys();
        let mut fresh: Vec<&Alert> = run
            .iter()
            .filter(|alert| !resumed.contains(alert.key.as_str()))
            .collect();
        drop(resumed);
        fresh.sort_by(|a, b| (a.timestamp_micros, &a.key).cmp(&(b.timestamp_micros, &b.key)));
        // Sorted, untimed alerts first: the ones that cannot be appended come first.
        let late = fresh.partition_point(|alert| !grouper.appends(alert));
        let mut apart = Vec::new();
        if late > 0 {
            // A checkpoint needs every alert timed.
            let late_from = fresh
                .first()
                .and_then(|alert| Some((alert.timestamp_micros?, alert.key.clone())));
            self.log_late(fresh[0], &grouper);
            let consequence = "late detections are grouped apart";
            if !self.too_costly_to_read_back(late_from.as_ref(), consequence)? {
                self.regroup_why = match late_from {
                    Some(_) => "no checkpoint before a late detection",
                    None => "a detection without a time",
                };
                self.late_from = late_from;
                return Ok(None);
            }
            apart = fresh.drain(..late).cloned().collect();
        }
        let appended = fresh.len();
        for alert in fresh {
            grouper.push(alert);
        }
        let touched = grouper.stored_incidents_touched();
        tracing::debug!(
            appended,
            resumed = grouper.resumed_keys().len(),
            stored_incidents_touched = touched.len(),
            "appended to the grouping state"
        );
        let stored = self.stored_alerts_of(&touched)?;
        let Ok(incidents) = grouper.touched_incidents(&stored, &self.catalog) else {
            self.regroup_why = "a detection of a touched incident is missing";
            return Ok(None);
        };
        tracing::debug!(
            stored_detections_read = stored.len(),
            incidents = incidents.len(),
            members = incidents.iter().map(|i| i.members.len()).sum::<usize>(),
            "incidents rebuilt"
        );
        let state = grouper.state();
        if apart.is_empty() {
            return self.save(&incidents, state.as_ref()).map(Some);
        }
        let mut incidents = incidents;
        incidents.extend(self.group_apart(&apart)?);
        let report = self.save(&incidents, state.as_ref())?;
        Ok(Some(StoreReport {
            grouped_by: GroupedBy::Apart(apart.len()),
            ..report
        }))
    }

    /// Logs the earliest detection of a run that cannot be appended.
    fn log_late(&self, first: &Alert, grouper: &Grouper<'_>) {
        let (newest, newest_key) = grouper.newest().unwrap_or((0, ""));
        tracing::debug!(
            time = ?first.timestamp_micros,
            key = %first.key,
            rule = %first.rule.title,
            newest,
            newest_key,
            "a detection comes before the newest one grouped"
        );
    }

    /// Whether grouping late alerts (the earliest at `late_from`, `None` when one has no
    /// time) the exact way would read back more stored alerts than the writer may
    /// ([`IncidentWriter::limit_read_back`]): all of them, or those after the checkpoint
    /// it would continue from.
    fn too_costly_to_read_back(
        &self,
        late_from: Option<&(i64, String)>,
        consequence: &'static str,
    ) -> Result<bool, S::Error> {
        let Some(limit) = self.read_back_limit else {
            return Ok(false);
        };
        let checkpoint =
            late_from.and_then(|(micros, key)| self.checkpoints.newest_before(*micros, key));
        let cost = match checkpoint {
            Some(checkpoint) => self
                .store
                .count_alerts_after(checkpoint.micros, &checkpoint.key)?,
            None => self.store.alert_count()?,
        };
        if cost > limit {
            tracing::warn!(
                stored_to_read = cost,
                limit,
                "{consequence}: grouping again from before them would read back more stored \
                 detections than allowed"
            );
        }
        Ok(cost > limit)
    }

    /// The incidents late alerts open among themselves, the store's suppressions applied.
    fn group_apart(&self, late: &[Alert]) -> Result<Vec<Incident>, S::Error> {
        let mut grouper = Grouper::new(self.grouping.clone());
        self.apply_context(&mut grouper)?;
        let (incidents, _) = group_with(grouper, late, &self.catalog);
        Ok(incidents)
    }

    /// Tells `grouper` what makes an alert context rather than evidence: the store's
    /// suppressions in force and the origin trust, if any.
    fn apply_context(&self, grouper: &mut Grouper<'_>) -> Result<(), S::Error> {
        grouper.suppress(self.suppressions()?);
        if let Some(origins) = &self.origins {
            grouper.trust_origins(Arc::clone(origins));
        }
        Ok(())
    }

    /// The stored alerts of the stored incidents `ids` (those a grouper's new alerts
    /// touched, [`Grouper::stored_incidents_touched`]), by key.
    fn stored_alerts_of(&self, ids: &[String]) -> Result<HashMap<String, Alert>, S::Error> {
        let mut stored = HashMap::new();
        for id in ids {
            let alerts = self.store.alerts_of(id)?;
            stored.extend(alerts.into_iter().map(|alert| (alert.key.clone(), alert)));
        }
        Ok(stored)
    }

    /// The store's suppressions in force (see `tocsin_incident::suppression`).
    fn suppressions(&self) -> Result<SuppressionSet, S::Error> {
        Ok(SuppressionSet::new(self.store.suppressions()?))
    }

    /// Groups a run holding late alerts (the earliest at `micros` keyed `key`) from the
    /// newest checkpoint before them: the stored alerts after it, the run's among them, are
    /// grouped again from its state, and the incidents they are in are saved; `None`
    /// (nothing written) when no checkpoint serves.
    fn continue_from_checkpoint(
        &mut self,
        micros: i64,
        key: &str,
    ) -> Result<Option<StoreReport>, S::Error> {
        let Some(checkpoint) = self.checkpoints.newest_before(micros, key).cloned() else {
            return Ok(None);
        };
        let bytes = self.store.load_blob(&checkpoint.blob)?.unwrap_or_default();
        let Ok(state) = serde_json::from_slice::<GroupingState>(&bytes) else {
            return Ok(None);
        };
        if state.newest() != (checkpoint.micros, checkpoint.key.as_str()) {
            return Ok(None);
        }
        let Ok(mut grouper) = Grouper::resume(state, &self.grouping) else {
            return Ok(None);
        };
        self.apply_context(&mut grouper)?;
        let mut after = self
            .store
            .alerts_after(checkpoint.micros, &checkpoint.key)?;
        self.leave_out_unadopted(&mut after)?;
        tracing::debug!(
            checkpoint = checkpoint.micros,
            detections = after.len(),
            "grouping again from a checkpoint"
        );
        for alert in &after {
            if !grouper.appends(alert) {
                return Ok(None);
            }
            grouper.push(alert);
        }
        let stored = self.stored_alerts_of(&grouper.stored_incidents_touched())?;
        let Ok(incidents) = grouper.touched_incidents(&stored, &self.catalog) else {
            return Ok(None);
        };
        let state = grouper.state();
        self.checkpoints.forget_from(micros, key);
        let report = self.save(&incidents, state.as_ref())?;
        Ok(Some(StoreReport {
            grouped_by: GroupedBy::Checkpoint,
            ..report
        }))
    }

    /// Regroups every stored alert and saves the incidents and a fresh state.
    /// The caller forgets the checkpoints it no longer trusts.
    fn regroup_all(&mut self) -> Result<StoreReport, S::Error> {
        tracing::debug!(
            why = self.regroup_why,
            "grouping every stored detection again"
        );
        let mut alerts = self.store.all_alerts()?;
        self.leave_out_unadopted(&mut alerts)?;
        let mut grouper = Grouper::new(self.grouping.clone());
        self.apply_context(&mut grouper)?;
        let (incidents, state) = group_with(grouper, &alerts, &self.catalog);
        let report = self.save(&incidents, state.as_ref())?;
        Ok(StoreReport {
            grouped_by: GroupedBy::Everything(self.regroup_why),
            ..report
        })
    }

    /// Takes out of stored `alerts` those an adopting writer has not adopted: stored by the
    /// other connection since, they come to the next grouping as new ones, which would find
    /// them in this grouping's state already (and late). They are the alerts stored after
    /// the ones grouped before and the adopted ones; a store that cannot tell which they
    /// are ([`IncidentStore::alerts_stored_after`]) is taken whole, as before.
    fn leave_out_unadopted(&self, alerts: &mut Vec<Alert>) -> Result<(), S::Error> {
        let Some(base) = self.adopted_base else {
            return Ok(());
        };
        let Some(unadopted) = self.store.keys_stored_after(base + self.written.new)? else {
            return Ok(());
        };
        if !unadopted.is_empty() {
            let keys: HashSet<&str> = unadopted.iter().map(String::as_str).collect();
            alerts.retain(|alert| !keys.contains(alert.key.as_str()));
        }
        Ok(())
    }

    /// Saves `incidents`, `state` (an empty blob when there is none) and the queued blobs in
    /// one write; reports how many incidents were saved and how many of them are new (the
    /// run's alerts left at zero).
    fn save(
        &mut self,
        incidents: &[Incident],
        state: Option<&GroupingState>,
    ) -> Result<StoreReport, S::Error> {
        let new_incidents = self.count_new(incidents)?;
        let bytes = state
            .and_then(|state| serde_json::to_vec(state).ok())
            .unwrap_or_default();
        let checkpoints = match state.filter(|_| !bytes.is_empty()) {
            Some(state) => {
                let (micros, key) = state.newest();
                self.checkpoints.record(micros, key)
            }
            None => {
                self.checkpoints.forget_all();
                Vec::new()
            }
        };
        let index = self.checkpoints.to_bytes();
        // Adopted: what was grouped before and the adopted alerts. A regrouping of every
        // stored alert may also have grouped alerts stored since and not adopted yet: they
        // are counted once adopted, so the count is never more than what was grouped.
        let grouped = match self.adopted_base {
            Some(base) => base + self.written.new,
            None => self.store.alert_count()?,
        }
        .to_string();
        let mut blobs: Vec<(&str, &[u8])> = vec![
            (STATE_BLOB, &bytes),
            (GROUPED_BLOB, grouped.as_bytes()),
            (CHECKPOINTS_BLOB, &index),
        ];
        blobs.extend(
            checkpoints
                .iter()
                .map(|blob| (blob.as_str(), bytes.as_slice())),
        );
        blobs.extend(
            self.blobs
                .iter()
                .map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
        );
        self.store.save_incidents_with_blobs(incidents, &blobs)?;
        Ok(StoreReport {
            alerts: PutOutcome::default(),
            incidents: incidents.len(),
            new_incidents,
            grouped_by: GroupedBy::Appending,
        })
    }

    /// How many of `incidents` the store does not hold yet.
    fn count_new(&self, incidents: &[Incident]) -> Result<usize, S::Error> {
        let ids: Vec<&str> = incidents
            .iter()
            .map(|incident| incident.id.as_str())
            .collect();
        let known = self.store.incident_states(&ids)?;
        Ok(incidents.len() - known.len())
    }
}

mod checkpoints;
#[cfg(test)]
mod tests;
