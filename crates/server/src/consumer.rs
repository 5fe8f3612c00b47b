//! The pipeline as the spool's consumer: it reads what the inputs spooled (as soon as it is
//! written, while the spool makes it durable), runs it
//! through `tocsin-pipeline` (the same detectors, correlations, behavioural detectors and
//! incident grouping as `tocsin hunt`), and commits the spool position it reached after
//! the detections it stored.
//!
//! # Exactly-once detections
//!
//! Each step reads a bounded run of records after the committed position, judges their
//! events, waits until the spool says they are durable, writes the detections (keyed by the event's identity, so a detection written
//! twice is stored once) and then the position (blob [`POSITION_BLOB`]). A crash before the
//! position is written replays the records after a restart: their detections exist already
//! or are written now, never twice; a crash after it does not replay them. Only then is the
//! spool told that the records may go ([`Spool::release`]).
//!
//! The work runs on five threads: the reader ([`crate::reader`]) reads and decodes the
//! spool one step ahead; this module's thread judges; the committer ([`crate::committer`])
//! stores each step's detections and position in the order the steps were judged, at most
//! two steps behind; the grouper groups the stored detections into incidents through its
//! own connection; and a fifth copies the store's write-ahead log into it at a steady pace.
//!
//! Grouping reads stored detections back when they arrive out of time order, so it is
//! paced ([`GroupingPace`]): at most every [`GROUP_EVERY`] under load, and once the pace
//! allows when the input pauses. Each grouping saves the incidents in slices between which
//! the committer's writes go first, and with the last slice the grouping state, how many
//! detections it covers and (when due) the detectors' state; a run stopped before a
//! grouping (or in the middle of its save) leaves detections that the next start groups
//! first.
//!
//! A record that begins an appliance message whose last segments are in a record not yet
//! read (a sender that split the message across two requests) is left, with what follows
//! it, for the next step, up to `[detection] segment_wait_ms` after its
//! receipt, so that the message is reassembled wherever the step boundary falls.
//!
//! Correlations and behavioural detectors keep their state in memory across steps; what
//! they consume is held until it is in time order ([`Reorder`]), and the position
//! committed is then the start of the oldest record still held, so a crash never loses it
//! (the records after it are read again; their rule matches are stored once, by key).
//! Correlation windows stay open from one step to the next
//! ([`Detectors::replay_live`]). The detectors' state (the behavioural baseline and the
//! matches the open correlation windows hold, blobs [`BASELINE_BLOB`] and
//! [`CORRELATIONS_BLOB`]) is saved with a grouping every
//! [`DetectionConfig::baseline_save_seconds`] and on shutdown, so a restart resumes it, and
//! a rule reload hands it to the new rules (events between that save and a crash are judged
//! but neither learned nor counted in a window).

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tocsin_decode::DecodeOptions;
use tocsin_engine::Scratch;
use tocsin_event::Event;
use tocsin_incident::{Alert, AttackCatalog, GroupingConfig, IncidentStore};
use tocsin_pipeline::{
    ungrouped_alerts, Detectors, FamiliarOrigins, Finding, FindingSink, IncidentWriter, KeptMatch,
    SharedOrigins, StoredOriginsError, BASELINE_BLOB,
};
use tocsin_spool::{FileSpool, Position, Record};
use tocsin_store::{SqliteStore, StoreError, WriteTurn};

use crate::committer::{
    Checkpointer, Committer, Grouper, GrouperQueue, Judged, SavedState, ToGroup,
};
pub use crate::committer::{GroupingPace, GROUP_EVERY};
use crate::config::DetectionConfig;
use crate::forward::Forwarder;
use crate::metrics::{add, Metrics};
use crate::reader::{Batch, SpoolReader};
use crate::records::DecodedRecord;
use crate::reorder::Reorder;
use crate::rules::{Loaded, Reloader};

/// The store blob holding the spool position the consumer committed (decimal text).
pub const POSITION_BLOB: &str = "serve-spool-position";

/// The store blob holding the matches the open correlation windows held at the last save
/// ([`Detectors::correlation_state`]).
pub const CORRELATIONS_BLOB: &str = "serve-correlation-windows";

/// A batch the reader hands over is judged and committed in parts of whole records that
/// hold at least this many events (and errors) each, the last part what is left: the
/// detections of its first records reach the store while the later ones are judged, so an
/// event waits for the judging of about this many events after it, not of the whole batch.
/// A part per record would cost a commit for every small record (a syslog burst).
const PART_EVENTS: usize = 1_000;

/// The most parts a batch is cut into: a service that fell behind reads large batches, and
/// a commit per thousand events would then slow it down further; its parts grow instead.
const MOST_PARTS: usize = 8;

/// Where each part of a batch of `decoded` records ends (indices past its last record, the
/// last one the batch's length): one part at least, empty for an empty batch.
fn part_ends(decoded: &[DecodedRecord]) -> Vec<usize> {
    let size = |record: &DecodedRecord| record.events.len() + record.errors.len();
    let total: usize = decoded.iter().map(size).sum();
    let part = PART_EVENTS.max(total.div_ceil(MOST_PARTS));
    let mut ends = Vec::new();
    let mut items = 0;
    for (index, record) in decoded.iter().enumerate() {
        items += size(record);
        if items >= part {
            ends.push(index + 1);
            items = 0;
        }
    }
    if ends.last() != Some(&decoded.len()) {
        ends.push(decoded.len());
    }
    ends
}

/// How long ago, in milliseconds, the oldest of these receipt times (microseconds since
/// 1970) was: the debug logs' measure of how long records waited.
pub(crate) fn oldest_age_ms(received: impl Iterator<Item = i64>) -> u64 {
    received.min().map_or(0, |at| {
        (crate::ingest::now_micros() - at).max(0) as u64 / 1000
    })
}

/// Starts a thread of the consumer.
fn spawn(
    name: &str,
    work: impl FnOnce() -> Result<(), ConsumerError> + Send + 'static,
) -> Result<std::thread::JoinHandle<Result<(), ConsumerError>>, ConsumerError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map_err(|e| ConsumerError::Pipeline(format!("cannot start a thread: {e}")))
}

/// `work`, which on failure also stops the consumer: a judge that has nothing to send
/// would not learn that the committer or the grouper is gone (when the spool halted, no
/// record comes after the last ones judged), and would wait on with the pipeline dead.
fn stopping_on_failure(
    stop: &Arc<AtomicBool>,
    work: impl FnOnce() -> Result<(), ConsumerError> + Send + 'static,
) -> impl FnOnce() -> Result<(), ConsumerError> + Send + 'static {
    let stop = Arc::clone(stop);
    move || {
        let result = work();
        if result.is_err() {
            stop.store(true, Ordering::Release);
        }
        result
    }
}

/// What a thread of the consumer returned (a panic is an error).
fn joined(
    thread: std::thread::JoinHandle<Result<(), ConsumerError>>,
    what: &str,
) -> Result<(), ConsumerError> {
    thread.join().unwrap_or_else(|_| {
        Err(ConsumerError::Pipeline(format!(
            "the {what} thread panicked"
        )))
    })
}

/// Sets its flag when dropped: the checkpointer stops however the consumer returns.
struct DoneOnDrop(Arc<AtomicBool>);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Why the consumer stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The store cannot be written (a full disk, a damaged file): the consumer stops
    /// rather than go on without recording what it found.
    #[error("cannot write the store {}: {source}", path.display())]
    Store {
        /// The store file.
        path: PathBuf,
        /// Why.
        source: Box<StoreError>,
    },
    /// The spool cannot be read.
    #[error("cannot read the spool: {0}")]
    Spool(#[from] tocsin_spool::Error),
    /// The spool stopped taking records (a write or fsync failed): what was written after
    /// its last durable record never will be durable, so nothing made of it may be stored,
    /// and nothing more will come. The committer learns it waiting for records to be
    /// durable, the reader when it has read all there is. The service stops rather than go
    /// on over a lost write; started again, it recovers every acknowledged record. (The
    /// cause is in the message, not a source, so that it is printed once.)
    #[error(
        "the spool stopped taking records, and what was written after its last durable \
         record never will be durable (starting the service again recovers every \
         acknowledged record): {0}"
    )]
    SpoolHalted(tocsin_spool::Error),
    /// The replay buffer or the behavioural baseline failed.
    #[error("{0}")]
    Pipeline(String),
}

impl ConsumerError {
    /// The store at `path` failed with `source`.
    pub(crate) fn store(path: &std::path::Path, source: StoreError) -> ConsumerError {
        ConsumerError::Store {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    }
}

/// The consumer and everything it needs.
pub struct Consumer {
    /// Where acknowledged records wait.
    pub spool: Arc<FileSpool>,
    /// What judges events (its correlation and behavioural state lives as long as it).
    pub detectors: Detectors,
    /// The store file.
    pub store_path: PathBuf,
    /// How alerts are grouped.
    pub grouping: GroupingConfig,
    /// ATT&CK names.
    pub catalog: AttackCatalog,
    /// How records are decoded (the format comes from each record's header).
    pub decode: DecodeOptions,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Set to stop: the consumer drains what is durable, saves, and returns.
    pub stop: Arc<AtomicBool>,
    /// The detection settings (baseline save interval).
    pub config: DetectionConfig,
    /// Correlation inputs and watched events held until they are in order.
    pub reorder: Reorder,
    /// Where reloaded rule sets wait to be taken between two steps.
    pub reloader: Arc<Reloader>,
    /// Where committed detections are forwarded, if anywhere.
    pub forwarder: Option<Forwarder>,
    /// The detections written since the last grouping, and when grouping last ran and how
    /// long it took.
    pub grouping_pace: GroupingPace,
}

impl Consumer {
    /// Runs until [`Consumer::stop`] is set and every durable record is processed, or the
    /// store fails: a reader thread reads and decodes ([`crate::reader`]), this thread
    /// judges, others store and group what it judged ([`crate::committer`]).
    pub fn run(mut self) -> Result<(), ConsumerError> {
        let store = self.open_store()?;
        let after = self.resume(Some(&store))?;
        let origins = self.origins(&store)?;
        self.group_left_over(store, &origins)?;
        let (to_group, work) = channel::<ToGroup>();
        let self_path = self.store_path.clone();
        let stop = Arc::clone(&self.stop);
        let (reader, judge, committer, grouper) = self.split(to_group, origins);
        let (steps, judged) = sync_channel::<Judged>(1);
        // A rendezvous: the reader prepares the next run while this one is judged, and no more,
        // so that at most two runs (each up to the step's byte limit) are in memory.
        let (batches, read) = sync_channel::<Result<Batch, ConsumerError>>(0);
        let checkpointer = Checkpointer {
            store_path: self_path,
            done: Arc::new(AtomicBool::new(false)),
            turn: Arc::clone(&committer.turn),
        };
        let done = DoneOnDrop(Arc::clone(&checkpointer.done));
        let checkpointing = std::thread::Builder::new()
            .name("tocsin-checkpoint".into())
            .spawn(move || checkpointer.run())
            .map_err(|e| ConsumerError::Pipeline(format!("cannot start a thread: {e}")))?;
        let grouping = spawn(
            "tocsin-group",
            stopping_on_failure(&stop, move || grouper.run(work)),
        )?;
        let committing = spawn(
            "tocsin-commit",
            stopping_on_failure(&stop, move || committer.run(judged)),
        )?;
        let reading = spawn("tocsin-read", move || {
            reader.run(after, &batches);
            Ok(())
        })?;
        let judging = judge.run(after, read, &steps);
        drop(steps);
        let read = joined(reading, "reading");
        let committed = joined(committing, "committing");
        let grouped = joined(grouping, "grouping");
        drop(done);
        let _ = checkpointing.join();
        // A failed write stops the threads before it too (their channels close): the
        // first failure downstream is the cause.
        grouped.and(committed).and(judging).and(read)
    }

    /// The reading, judging, committing and grouping parts.
    fn split(
        self,
        to_group: Sender<ToGroup>,
        origins: SharedOrigins,
    ) -> (SpoolReader, Judge, Committer, Grouper) {
        let turn = Arc::new(WriteTurn::default());
        let queued = Arc::new(AtomicUsize::new(0));
        let site_networks_shared = self
            .detectors
            .behaviour()
            .map_or(0, |behaviour| behaviour.site_network_count());
        let reader = SpoolReader {
            spool: Arc::clone(&self.spool),
            decode: self.decode,
            metrics: Arc::clone(&self.metrics),
            stop: self.stop,
            held_back: None,
            drain_to: None,
            segment_wait: Duration::from_millis(self.config.segment_wait_ms),
        };
        let judge = Judge {
            detectors: self.detectors,
            metrics: Arc::clone(&self.metrics),
            config: self.config,
            reorder: self.reorder,
            reloader: self.reloader,
            origins: origins.clone(),
            site_networks_shared,
        };
        let committer = Committer {
            spool: self.spool,
            store_path: self.store_path.clone(),
            store: None,
            metrics: Arc::clone(&self.metrics),
            forwarder: self.forwarder,
            committed: None,
            grouper: GrouperQueue {
                sender: to_group,
                queued: Arc::clone(&queued),
            },
            turn: Arc::clone(&turn),
        };
        let grouper = Grouper {
            store_path: self.store_path,
            grouping: self.grouping,
            catalog: self.catalog,
            metrics: self.metrics,
            grouping_pace: self.grouping_pace,
            taken: 0,
            queued,
            turn,
            origins,
        };
        (reader, judge, committer, grouper)
    }

    /// Groups the detections a stopped run stored but never grouped, before reading on.
    fn group_left_over(
        &mut self,
        store: SqliteStore,
        origins: &SharedOrigins,
    ) -> Result<(), ConsumerError> {
        let waiting = ungrouped_alerts(&store).map_err(|e| self.store_error(e))?;
        if waiting == 0 {
            return Ok(());
        }
        tracing::info!(detections = waiting, "grouping what the last run stored");
        let mut writer = IncidentWriter::new(store, self.grouping.clone(), self.catalog.clone());
        writer.trust_origins(Arc::new(origins.clone()));
        if let Some(limit) = self.grouping_pace.read_back_limit() {
            writer.limit_read_back(limit);
        }
        let (_, report) = writer.group_waiting().map_err(|e| self.store_error(e))?;
        tracing::info!(by = ?report.grouped_by, "grouped what the last run stored");
        add(&self.metrics.incidents_saved, report.incidents as u64);
        Ok(())
    }

    /// The site's own networks the grouping trusts: the behavioural detectors' (renewed as
    /// they learn), or without them those of the baseline the store holds, as `incidents
    /// regroup` trusts.
    fn origins(&self, store: &SqliteStore) -> Result<SharedOrigins, ConsumerError> {
        if let Some(behaviour) = self.detectors.behaviour() {
            return Ok(SharedOrigins::new(behaviour.site_networks()));
        }
        let origins = FamiliarOrigins::from_store(store).map_err(|error| match error {
            StoredOriginsError::Store(source) => self.store_error(source),
            StoredOriginsError::Baseline(error) => ConsumerError::Pipeline(error.to_string()),
        })?;
        Ok(origins.map_or_else(SharedOrigins::default, |origins| {
            SharedOrigins::new(origins.networks().clone())
        }))
    }

    /// Opens the store.
    fn open_store(&self) -> Result<SqliteStore, ConsumerError> {
        SqliteStore::open(&self.store_path).map_err(|source| self.store_error(source))
    }

    fn store_error(&self, source: StoreError) -> ConsumerError {
        ConsumerError::store(&self.store_path, source)
    }

    /// The committed position, and the behavioural baseline saved with it.
    fn resume(&mut self, store: Option<&SqliteStore>) -> Result<Position, ConsumerError> {
        let Some(store) = store else {
            return Ok(Position::START);
        };
        let load = |name| store.load_blob(name).map_err(|e| self.store_error(e));
        let position = load(POSITION_BLOB)?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse::<u64>().ok())
            .map_or(Position::START, Position::new);
        let baseline = load(BASELINE_BLOB)?.filter(|bytes| !bytes.is_empty());
        let windows = load(CORRELATIONS_BLOB)?;
        if let (Some(behaviour), Some(bytes)) = (self.detectors.behaviour_mut(), baseline) {
            behaviour
                .resume(&bytes)
                .map_err(|error| ConsumerError::Pipeline(error.to_string()))?;
        }
        if let Some(bytes) = windows {
            reopen_windows(&mut self.detectors, &bytes, &self.metrics);
        }
        self.metrics
            .committed_position
            .store(position.get(), Ordering::Relaxed);
        Ok(position)
    }
}

/// Reopens the correlation windows a run saved. Damaged windows are logged and forgotten:
/// the service starts with empty windows rather than not at all.
fn reopen_windows(detectors: &mut Detectors, state: &[u8], metrics: &Metrics) {
    match detectors.resume_correlations(state) {
        Ok(0) => {}
        Ok(matches) => tracing::info!(matches, "correlation windows reopened"),
        Err(error) => {
            tracing::warn!(%error, "the saved correlation windows cannot be read; they start empty")
        }
    }
    metrics.correlation_window_matches.store(
        detectors.correlation_window_matches() as u64,
        Ordering::Relaxed,
    );
}

/// The judging part of the consumer: judges the events the reader decoded, and sends what
/// each step found to the committer.
struct Judge {
    detectors: Detectors,
    metrics: Arc<Metrics>,
    config: DetectionConfig,
    reorder: Reorder,
    reloader: Arc<Reloader>,
    /// The site's own networks the grouping trusts, renewed from the behavioural
    /// detectors when they learn one more.
    origins: SharedOrigins,
    /// How many site networks `origins` holds.
    site_networks_shared: usize,
}

impl Judge {
    /// Judges the reader's batches (the first read after `after`) until stopped and
    /// drained, or until the committer hangs up (it failed: [`Consumer::run`] returns its
    /// error) or the reader does (its error is the one it sent).
    fn run(
        mut self,
        mut after: Position,
        batches: Receiver<Result<Batch, ConsumerError>>,
        steps: &SyncSender<Judged>,
    ) -> Result<(), ConsumerError> {
        self.metrics.consuming.store(true, Ordering::Relaxed);
        let mut last_save = Instant::now();
        loop {
            if let Some(loaded) = self.reloader.take() {
                if !self.swap_rules(after, loaded, steps)? {
                    break;
                }
            }
            let Ok(batch) = batches.recv() else {
                break;
            };
            let batch = batch?;
            let release_all = batch.stopping || (batch.read_nothing && self.reorder.idle());
            if batch.read_nothing && !release_all {
                continue;
            }
            let save_state = batch.stopping
                || last_save.elapsed().as_secs() >= self.config.baseline_save_seconds;
            let finished = batch.stopping && batch.read_nothing;
            let Some(judged_through) = self.judge_batch(batch, release_all, save_state, steps)?
            else {
                break;
            };
            after = judged_through;
            if save_state {
                last_save = Instant::now();
            }
            if finished {
                break;
            }
        }
        self.metrics.consuming.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Judges a batch in parts (see [`part_ends`]) and sends each part's step to the
    /// committer, the last once the batch's records are dropped; what is released, grouped
    /// and saved with the batch goes with its last part. The position judged through, or
    /// `None` when the committer hung up.
    fn judge_batch(
        &mut self,
        batch: Batch,
        release_all: bool,
        save_state: bool,
        steps: &SyncSender<Judged>,
    ) -> Result<Option<Position>, ConsumerError> {
        let Batch {
            records,
            decoded,
            mut after,
            read_nothing,
            ..
        } = batch;
        if !records.is_empty() {
            crate::fault::wait_at_judge_gate();
        }
        let ends = part_ends(&decoded);
        let mut decoded = decoded.into_iter();
        let (mut start, mut last) = (0, None);
        for (index, &end) in ends.iter().enumerate() {
            let last_part = index + 1 == ends.len();
            let part = &records[start..end];
            let step = Step {
                records: part,
                decoded: decoded.by_ref().take(end - start).collect(),
                after,
                release_all: release_all && last_part,
                group_now: (release_all || read_nothing) && last_part,
                save_state: save_state && last_part,
            };
            let judged = self.judge_part(step)?;
            after = part.last().map_or(after, |record| record.position);
            self.metrics
                .read_position
                .fetch_max(after.get(), Ordering::Relaxed);
            if last_part {
                last = Some(judged);
            } else if steps.send(judged).is_err() {
                return Ok(None);
            }
            start = end;
        }
        // The records go before the wait for the committer: with the reader's next run,
        // two would be in memory while it stores.
        drop(records);
        let sent = last.is_none_or(|judged| steps.send(judged).is_ok());
        Ok(sent.then_some(after))
    }

    /// Judges one part of a batch (see [`part_ends`]), logging how long it waited and took.
    fn judge_part(&mut self, step: Step<'_>) -> Result<Judged, ConsumerError> {
        let records = step.records.len();
        let waited_ms = oldest_age_ms(step.decoded.iter().filter_map(|d| d.received));
        let started = Instant::now();
        let judged = self.step(step)?;
        tracing::debug!(
            records,
            waited_ms,
            detections = judged.alerts.len(),
            judge_ms = started.elapsed().as_millis() as u64,
            "step judged"
        );
        Ok(judged)
    }

    /// Takes a reloaded rule set: what the running detectors hold is released to them and
    /// sent to be committed with the new grouping to take after it, then the behavioural
    /// baseline and the open correlation windows move to the new detectors (matches of
    /// rules the new set lacks are left out). False when the committer is gone.
    fn swap_rules(
        &mut self,
        after: Position,
        loaded: Loaded,
        steps: &SyncSender<Judged>,
    ) -> Result<bool, ConsumerError> {
        let flush = Step {
            records: &[],
            decoded: Vec::new(),
            after,
            release_all: true,
            group_now: true,
            save_state: false,
        };
        let mut judged = self.step(flush)?;
        let Loaded {
            mut detectors,
            grouping,
            ..
        } = loaded;
        judged.grouping = Some(grouping);
        if steps.send(judged).is_err() {
            return Ok(false);
        }
        if let (Some(old), Some(new)) = (self.detectors.behaviour(), detectors.behaviour_mut()) {
            let baseline = old
                .baseline()
                .map_err(|e| ConsumerError::Pipeline(e.to_string()))?;
            new.resume(&baseline)
                .map_err(|e| ConsumerError::Pipeline(e.to_string()))?;
        }
        let windows = self.detectors.correlation_state().map_err(|e| {
            ConsumerError::Pipeline(format!("cannot save correlation windows: {e}"))
        })?;
        reopen_windows(&mut detectors, &windows, &self.metrics);
        self.detectors = detectors;
        Ok(true)
    }

    /// Judges a step's records and releases what is settled to the correlations and
    /// behavioural detectors; the detections, with the position to resume from (before
    /// anything still held) and the detectors' state when asked, go to the committer.
    fn step(&mut self, step: Step<'_>) -> Result<Judged, ConsumerError> {
        let (mut alerts, received) = self.judge(step.records, step.decoded, step.after);
        alerts.extend(self.release(step.release_all)?);
        self.share_site_networks();
        let next = step.records.last().map_or(step.after, |r| r.position);
        let resume = self
            .reorder
            .replay_from()
            .map_or(next, |held| held.min(next));
        let state = match step.save_state {
            true => Some(self.state()?),
            false => None,
        };
        Ok(Judged {
            alerts,
            received,
            resume,
            judged_through: next,
            group_now: step.group_now,
            state,
            grouping: None,
            held: self.reorder.held() as u64,
            released_early: self.reorder.released_early(),
        })
    }

    /// Renews the grouping's copy of the site's own networks when the behavioural
    /// detectors learned one more: before the step's detections go to be grouped, so that
    /// the grouping never judges a detection with networks older than it.
    fn share_site_networks(&mut self) {
        let Some(behaviour) = self.detectors.behaviour() else {
            return;
        };
        let count = behaviour.site_network_count();
        if count != self.site_networks_shared {
            self.origins.renew(behaviour.site_networks());
            self.site_networks_shared = count;
        }
    }

    /// The detectors' state to save: the behavioural baseline (when behaviour is watched)
    /// and the open correlation windows.
    fn state(&self) -> Result<SavedState, ConsumerError> {
        let mut state = SavedState::new();
        if let Some(behaviour) = self.detectors.behaviour() {
            let baseline = behaviour
                .baseline()
                .map_err(|error| ConsumerError::Pipeline(error.to_string()))?;
            state.push((BASELINE_BLOB, baseline));
        }
        // Saved even without correlations, so that windows of an earlier rule set are not
        // reopened at the next start.
        let windows = self.detectors.correlation_state().map_err(|error| {
            ConsumerError::Pipeline(format!("cannot save correlation windows: {error}"))
        })?;
        state.push((CORRELATIONS_BLOB, windows));
        Ok(state)
    }

    /// The rule matches of the records' events (found at once); what correlations and
    /// behavioural detectors need is held for order. Also when each record was received,
    /// with its number of events. What cannot be decoded is counted and logged with the
    /// input and the spool position.
    fn judge(
        &mut self,
        records: &[Record],
        decoded: Vec<DecodedRecord>,
        mut after: Position,
    ) -> (Vec<Alert>, Vec<(i64, u64)>) {
        let mut scratch = Scratch::default();
        let mut sink = StepSink {
            alerts: Vec::new(),
            reorder: &mut self.reorder,
            from: after,
        };
        let mut received = Vec::with_capacity(records.len());
        for (record, decoded) in records.iter().zip(decoded) {
            add(&self.metrics.events_processed, decoded.events.len() as u64);
            add(&self.metrics.decode_errors, decoded.errors.len() as u64);
            for error in &decoded.errors {
                tracing::warn!(%error, position = %record.position, "record skipped");
            }
            if let Some(at) = decoded.received {
                received.push((at, decoded.events.len() as u64));
            }
            sink.from = after;
            for event in decoded.events {
                sink.reorder.saw(event.timestamp_micros);
                let _ = self.detectors.scan(&event, &mut scratch, &mut sink);
            }
            after = record.position;
        }
        (sink.alerts, received)
    }

    /// The correlation hits and anomalies of what is settled (everything when `all`).
    fn release(&mut self, all: bool) -> Result<Vec<Alert>, ConsumerError> {
        let released = self
            .reorder
            .settled(all)
            .map_err(|error| ConsumerError::Pipeline(format!("cannot hold for order: {error}")))?;
        if released.count == 0 {
            return Ok(Vec::new());
        }
        let late = self
            .detectors
            .replay_live(released.buffer, released.horizon)
            .map_err(|error| ConsumerError::Pipeline(format!("cannot replay: {error}")))?;
        self.metrics.correlation_window_matches.store(
            self.detectors.correlation_window_matches() as u64,
            Ordering::Relaxed,
        );
        Ok(late.findings(&self.detectors).map(|f| f.alert()).collect())
    }
}

/// One step of the consumer.
struct Step<'a> {
    /// The records judged (possibly none: a step that only releases what is held).
    records: &'a [Record],
    /// The same, decoded.
    decoded: Vec<DecodedRecord>,
    /// The position they were read after.
    after: Position,
    /// Whether everything held goes now (a quiet stream, a shutdown).
    release_all: bool,
    /// Whether incidents are grouped now whatever the pace (the input paused, a shutdown,
    /// a rule swap).
    group_now: bool,
    /// Whether the detectors' state is saved with this step.
    save_state: bool,
}

/// A step's sink: rule matches become alerts at once; correlation inputs and watched
/// events are held for order, with the position their record is read from.
struct StepSink<'a> {
    alerts: Vec<Alert>,
    reorder: &'a mut Reorder,
    from: Position,
}

impl FindingSink for StepSink<'_> {
    fn finding(&mut self, finding: &Finding<'_>) -> ControlFlow<()> {
        self.alerts.push(finding.alert());
        ControlFlow::Continue(())
    }

    fn keep(&mut self, kept: KeptMatch) -> ControlFlow<()> {
        self.reorder.hold_kept(self.from, kept);
        ControlFlow::Continue(())
    }

    fn watch(&mut self, event: &Event) -> ControlFlow<()> {
        self.reorder.hold_watched(self.from, event.clone());
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(events: usize) -> DecodedRecord {
        DecodedRecord {
            events: vec![Event::default(); events],
            ..DecodedRecord::default()
        }
    }

    #[test]
    fn a_batch_is_cut_into_parts_of_a_thousand_events_or_more() {
        assert_eq!(part_ends(&[]), [0], "an empty batch is one empty part");
        assert_eq!(part_ends(&[record(5)]), [1]);
        let http = [record(1000), record(1000), record(1000)];
        assert_eq!(
            part_ends(&http),
            [1, 2, 3],
            "a request of 1,000 lines is a part"
        );
        let syslog: Vec<_> = (0..25).map(|_| record(100)).collect();
        assert_eq!(
            part_ends(&syslog),
            [10, 20, 25],
            "small records go together"
        );
        let mixed = [record(999), record(1), record(0), record(2500), record(3)];
        assert_eq!(part_ends(&mixed), [2, 4, 5]);
    }

    #[test]
    fn a_large_batch_is_cut_into_eight_parts_at_most() {
        let behind: Vec<_> = (0..90).map(|_| record(1000)).collect();
        let ends = part_ends(&behind);
        assert_eq!(ends.len(), 8, "{ends:?}");
        assert_eq!(ends[0], 12, "parts of 11,250 events or more");
        assert_eq!(ends.last(), Some(&90));
        let one_huge = [record(50_000), record(10)];
        assert_eq!(part_ends(&one_huge), [1, 2]);
    }
}
