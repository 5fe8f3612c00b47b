//! The consumer's storing and grouping threads: what the judging thread found is stored and
//! committed on a thread of its own, and grouped into incidents on another, so that judging
//! the next records, storing the last ones' detections and grouping run at once (on two
//! cores, storing the detections of Windows events costs about as much as judging them,
//! and a grouping of a second's detections takes longer than the 100 ms a detection may
//! take to reach the store).
//!
//! The [`consumer`](crate::consumer) thread sends one [`Judged`] per step through a channel
//! that holds one, so at most two steps are ahead of the store. The [`Committer`] takes them
//! in order and, for each, waits until the spool has made the step's records durable (the
//! reader reads them as soon as they are written, so that judging overlaps the fsync),
//! writes the detections, then the spool position to resume from,
//! forwards the detections, tells the spool that the records before that position may go,
//! and passes the detections to the [`Grouper`]. The exactly-once contract of the
//! consumer's module documentation is unchanged: a step's position is written after its
//! detections, and steps are committed in the order they were judged.
//!
//! The grouper groups what it was passed at a pace ([`GroupingPace`]) with its own
//! connection ([`IncidentWriter::adopt`]), saves each grouping in slices of about
//! [`GROUPING_SLICE`] detections between which the committer's writes go first
//! ([`WriteTurn`]: a grouping's save holds the store's write lock for hundreds of
//! milliseconds, which would delay every detection stored meanwhile), and saves the detectors' state (the behavioural
//! baseline, the open correlation windows) with a grouping (the state of a step reaches it
//! after the step's detections are stored, so it never knows events whose detections are
//! not stored). Detections stored but not
//! grouped when the service stops are grouped at the next start (the store counts what it
//! grouped).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tocsin_incident::{Alert, AttackCatalog, GroupingConfig, IncidentStore};
use tocsin_pipeline::{GroupedBy, IncidentWriter, SharedOrigins};
use tocsin_spool::{FileSpool, Position, Spool};
use tocsin_store::{SqliteStore, StoreError, WriteTurn};

use crate::consumer::{ConsumerError, POSITION_BLOB};
use crate::forward::Forwarder;
use crate::ingest::now_micros;
use crate::metrics::{add, Metrics};

/// How long the committer waits for the spool's durability before it logs that it still
/// waits (it waits until the records are durable or the spool stops).
const DURABLE_WAIT: Duration = Duration::from_secs(5);

/// The detectors' state saved with a grouping: `(blob name, bytes)` pairs.
pub(crate) type SavedState = Vec<(&'static str, Vec<u8>)>;

/// What one step judged, for the committer to store.
pub(crate) struct Judged {
    /// The detections: rule matches, and the correlation hits and anomalies released.
    pub alerts: Vec<Alert>,
    /// When each record of the step was received, with its number of events.
    pub received: Vec<(i64, u64)>,
    /// The spool position to resume from (before anything still held for order).
    pub resume: Position,
    /// The end of the last record judged (read before it was durable): nothing of the
    /// step is stored before the spool says it is durable.
    pub judged_through: Position,
    /// Whether incidents are grouped now whatever the pace.
    pub group_now: bool,
    /// The detectors' state to save with the grouping, by blob name (the behavioural
    /// baseline, the open correlation windows); the step groups when it is set.
    pub state: Option<SavedState>,
    /// A new rule set's grouping, taken once this step is committed (a rule swap).
    pub grouping: Option<GroupingConfig>,
    /// How many events are held for order, and how many were released early, after the
    /// step (for the metrics).
    pub held: u64,
    /// See `held`.
    pub released_early: u64,
}

/// When incidents are grouped: detections are stored at every step, but grouping them
/// into incidents reads back stored detections whenever they arrive out of time order
/// (those after the newest checkpoint before them), so it runs at most every
/// [`GROUP_EVERY`] (or three times as long as it last took, if longer), at once when
/// [`GROUPING_BATCH`] detections wait, when the input pauses, when rules are swapped and
/// at shutdown.
///
/// The batch bound matters: a grouping's time grows with its detections, so a pace set by
/// the time alone would feed on itself under a steady load (a longer grouping, a longer
/// wait, more detections for the next one) until memory ran out.
#[derive(Default)]
pub struct GroupingPace {
    /// The writer holding what waits for a grouping (its detections are stored already).
    pending: Option<IncidentWriter<SqliteStore>>,
    /// How many detections the pending writer holds.
    pending_detections: usize,
    /// When the last grouping ended.
    last: Option<Instant>,
    /// How long it took.
    took: Duration,
    /// The most stored detections a grouping of late ones may read back
    /// ([`IncidentWriter::limit_read_back`]; `None`: no limit).
    read_back_limit: Option<usize>,
}

/// How far the committer's commits let the write-ahead log grow (pages of 4 KiB) before
/// one of them copies it into the store; the [`Checkpointer`] copies it every
/// [`CHECKPOINT_EVERY`].
const COMMITTER_WAL_PAGES: u32 = 16_384;

/// The shortest time between two groupings under load.
pub const GROUP_EVERY: Duration = Duration::from_secs(1);

/// A grouping is due once this many detections wait for it, whatever the time (about a
/// second of grouping on two cores).
pub const GROUPING_BATCH: usize = 20_000;

impl GroupingPace {
    /// A pace whose groupings of late detections read back at most `limit` stored ones.
    pub fn reading_back_at_most(limit: usize) -> GroupingPace {
        GroupingPace {
            read_back_limit: Some(limit),
            ..GroupingPace::default()
        }
    }

    /// The most stored detections a grouping of late ones may read back, if limited.
    pub fn read_back_limit(&self) -> Option<usize> {
        self.read_back_limit
    }

    /// Whether a grouping is due now.
    fn due(&self) -> bool {
        self.pending_detections >= GROUPING_BATCH || self.wait().is_zero()
    }

    /// How long until a grouping is due.
    fn wait(&self) -> Duration {
        let every = GROUP_EVERY.max(self.took * 3);
        self.last
            .map_or(Duration::ZERO, |last| every.saturating_sub(last.elapsed()))
    }
}

/// Stores what the judging thread found, in order (see the module documentation).
pub(crate) struct Committer {
    /// Where acknowledged records wait (told what may go once committed).
    pub spool: Arc<FileSpool>,
    /// The store file.
    pub store_path: PathBuf,
    /// The connection detections and positions are written through, once opened.
    pub store: Option<SqliteStore>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Where committed detections are forwarded, if anywhere.
    pub forwarder: Option<Forwarder>,
    /// The position this committer last wrote, if any.
    pub committed: Option<Position>,
    /// Where stored detections go to be grouped.
    pub grouper: GrouperQueue,
    /// The turn on the store it shares with the grouper, whose saves it goes before.
    pub turn: Arc<WriteTurn>,
}

/// How many detections may wait to be grouped (queued to the grouper, or taken and not
/// grouped yet) before the committer waits: a grouping takes a second or more under load,
/// while the committer goes on storing; a queue counted in steps would stop it after a
/// fixed number of (possibly small) steps, and every detection would wait for the grouping
/// to end. When the grouper cannot keep up, the committer waits, the judge behind it, and
/// the inputs push back.
const GROUPER_BACKLOG: usize = 100_000;

/// The committer's end of the queue to the grouper: unbounded in steps, bounded in
/// detections waiting for a grouping ([`GROUPER_BACKLOG`]).
pub(crate) struct GrouperQueue {
    /// Where steps go.
    pub sender: Sender<ToGroup>,
    /// Detections sent and not yet grouped (shared with the [`Grouper`]).
    pub queued: Arc<AtomicUsize>,
}

impl GrouperQueue {
    /// Sends a step, once fewer than [`GROUPER_BACKLOG`] detections wait; an error when
    /// the grouper has stopped.
    fn send(&self, work: ToGroup) -> Result<(), ()> {
        while self.queued.load(Ordering::Relaxed) >= GROUPER_BACKLOG {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.queued.fetch_add(work.alerts.len(), Ordering::Relaxed);
        self.sender.send(work).map_err(|_| ())
    }
}

/// A committed step's detections, for the grouper.
pub(crate) struct ToGroup {
    /// The detections, stored.
    pub alerts: Vec<Alert>,
    /// Whether storing them stored each for the first time (one stored before was
    /// grouped then, or waits in the grouper already).
    pub first_time: Vec<bool>,
    /// Whether to group now whatever the pace.
    pub group_now: bool,
    /// The detectors' state to save with the grouping.
    pub state: Option<SavedState>,
    /// A new rule set's grouping, taken once what came before is grouped.
    pub grouping: Option<GroupingConfig>,
}

impl Committer {
    /// Commits every step the channel brings, until the judging thread hangs up; stops at
    /// the first write that fails.
    pub fn run(mut self, steps: Receiver<Judged>) -> Result<(), ConsumerError> {
        for step in steps {
            self.commit(step)?;
        }
        Ok(())
    }

    /// Stores a step's detections and then its position, forwards them, tells the spool
    /// what may go, and passes the detections on to be grouped.
    fn commit(&mut self, step: Judged) -> Result<(), ConsumerError> {
        let durable_since = Instant::now();
        self.wait_durable(step.judged_through)?;
        let durable_ms = durable_since.elapsed().as_millis() as u64;
        let to_group = !step.alerts.is_empty()
            || step.group_now
            || step.state.is_some()
            || step.grouping.is_some();
        if to_group {
            // Counted before the position moves, so that nobody sees the spool committed
            // and nothing awaiting a grouping while this step's detections are not grouped.
            add(&self.metrics.awaiting_grouping, 1);
        }
        let started = Instant::now();
        let turn = Arc::clone(&self.turn);
        let mut waited = Duration::ZERO;
        let stored = turn.urgent(|| {
            waited = started.elapsed();
            self.write(&step)
        })?;
        self.count(&step.received, step.resume, step.held, step.released_early);
        tracing::debug!(
            detections = step.alerts.len(),
            records = step.received.len(),
            store_ms = started.elapsed().as_millis() as u64,
            turn_ms = waited.as_millis() as u64,
            durable_ms,
            oldest_ms = crate::consumer::oldest_age_ms(step.received.iter().map(|r| r.0)),
            "step committed"
        );
        if let Some(forwarder) = &self.forwarder {
            step.alerts
                .iter()
                .for_each(|alert| forwarder.forward(alert));
        }
        self.spool.release(step.resume)?;
        if to_group {
            let work = ToGroup {
                alerts: step.alerts,
                first_time: stored,
                group_now: step.group_now,
                state: step.state,
                grouping: step.grouping,
            };
            if self.grouper.send(work).is_err() {
                // The grouper failed: the consumer returns its error.
                return Err(ConsumerError::Pipeline(
                    "the grouping thread stopped".into(),
                ));
            }
        }
        Ok(())
    }

    /// Waits until the spool has made every record up to `through` durable: the records
    /// were read as soon as they were written, and what was judged of them may be stored
    /// only once their senders could be told they are kept.
    fn wait_durable(&self, through: Position) -> Result<(), ConsumerError> {
        while !self
            .spool
            .wait_durable(through, DURABLE_WAIT)
            .map_err(ConsumerError::SpoolHalted)?
        {
            tracing::warn!(%through, "still waiting for the spool to make records durable");
        }
        Ok(())
    }

    /// Writes a step's detections, then its position (when it moved).
    fn write(&mut self, step: &Judged) -> Result<Vec<bool>, ConsumerError> {
        let stored = match step.alerts.is_empty() {
            true => Vec::new(),
            false => {
                let store = self.store()?;
                let first_time = store.store_alerts(&step.alerts);
                first_time.map_err(|e| self.store_error(e))?
            }
        };
        if self.committed != Some(step.resume) {
            let position = step.resume.get().to_string().into_bytes();
            let saved = self.store()?.save_blob(POSITION_BLOB, &position);
            saved.map_err(|e| self.store_error(e))?;
            self.committed = Some(step.resume);
        }
        Ok(stored)
    }

    /// The connection, opened on first use.
    fn store(&mut self) -> Result<&mut SqliteStore, ConsumerError> {
        if self.store.is_none() {
            let opened =
                SqliteStore::open(&self.store_path).map_err(|source| self.store_error(source))?;
            // The checkpointer copies the log into the store.
            opened
                .defer_checkpoints(COMMITTER_WAL_PAGES)
                .map_err(|source| self.store_error(source))?;
            self.store = Some(opened);
        }
        self.store
            .as_mut()
            .ok_or_else(|| ConsumerError::Pipeline("the store is not open".into()))
    }

    /// Updates the counters after a step's commit.
    fn count(&self, received: &[(i64, u64)], resume: Position, held: u64, early: u64) {
        add(&self.metrics.commits, 1);
        let now = now_micros();
        for &(at, events) in received {
            self.metrics.latency.observe(now - at, events);
        }
        self.metrics
            .committed_position
            .store(resume.get(), Ordering::Relaxed);
        self.metrics.held_for_order.store(held, Ordering::Relaxed);
        self.metrics.released_early.store(early, Ordering::Relaxed);
    }

    fn store_error(&self, source: StoreError) -> ConsumerError {
        ConsumerError::store(&self.store_path, source)
    }
}

/// Groups the stored detections into incidents at a pace (see the module documentation).
pub(crate) struct Grouper {
    /// The store file.
    pub store_path: PathBuf,
    /// How alerts are grouped.
    pub grouping: GroupingConfig,
    /// ATT&CK names.
    pub catalog: AttackCatalog,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The writer waiting for a grouping, and the grouping's pace.
    pub grouping_pace: GroupingPace,
    /// How many of the committer's messages were taken since the last grouping.
    pub taken: u64,
    /// Detections the committer sent and this grouper has not grouped yet.
    pub queued: Arc<AtomicUsize>,
    /// The turn on the store it shares with the committer: a grouping is saved in slices,
    /// and the committer's writes go between them.
    pub turn: Arc<WriteTurn>,
    /// The site's own networks, as the judging thread last shared them.
    pub origins: SharedOrigins,
}

/// How often the [`Checkpointer`] copies the write-ahead log into the store.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// How long the write-ahead log may grow (in pages of 4 KiB) before the checkpointer
/// restarts it: below [`COMMITTER_WAL_PAGES`], so that the committer does not copy it
/// (unless a reader keeps an older state of the store long enough to stop restarts), and
/// seldom, since the restart copies what the last commits added and syncs the store with
/// the write turn held (16 to 160 ms under load; at 2,048 pages, several times a second,
/// it was the committer's longest wait over a two-minute run).
const RESTART_LOG_PAGES: u64 = 8_192;

/// Copies the write-ahead log into the store at a steady pace on a thread of its own (a
/// passive checkpoint, which waits for no writer): the committer's connection leaves that
/// work to it ([`SqliteStore::defer_checkpoints`]), since a commit that copies tens of
/// megabytes of log would keep that step's detections from the store for 100 ms.
pub(crate) struct Checkpointer {
    /// The store file.
    pub store_path: PathBuf,
    /// Set when the consumer's other threads have stopped: one last copy, then it returns.
    pub done: Arc<AtomicBool>,
    /// The turn the committer and the grouper take on the store: the log is restarted
    /// with it held, so that no commit of theirs can keep the restart from happening.
    pub turn: Arc<WriteTurn>,
}

impl Checkpointer {
    /// Copies the log every [`CHECKPOINT_EVERY`] until done; a failed copy is logged and
    /// tried again (the committer's own limit still bounds the log).
    pub fn run(self) {
        let store = match SqliteStore::open(&self.store_path) {
            Ok(store) => store,
            Err(error) => {
                tracing::warn!(%error, "no checkpoints: the committer copies the log itself");
                return;
            }
        };
        let mut failed = false;
        loop {
            let done = self.done.load(Ordering::Relaxed);
            match self.copy_log(&store) {
                Ok(()) => failed = false,
                Err(error) if !failed => {
                    tracing::warn!(%error, "cannot copy the write-ahead log into the store");
                    failed = true;
                }
                Err(_) => {}
            }
            if done {
                return;
            }
            std::thread::sleep(CHECKPOINT_EVERY);
        }
    }

    /// Copies the log into the store, and restarts it once it has grown past
    /// [`RESTART_LOG_PAGES`] (taking a turn after the committer's waiting writes).
    fn copy_log(&self, store: &SqliteStore) -> Result<(), StoreError> {
        if store.checkpoint()? >= RESTART_LOG_PAGES {
            self.turn.slice(|| store.restart_log())?;
        }
        Ok(())
    }
}

impl Drop for Grouper {
    /// A grouper that stopped (a failed write) takes nothing more: the committer must not
    /// wait for room in its queue, and learns that it stopped from its next send.
    fn drop(&mut self) {
        self.queued.store(0, Ordering::Relaxed);
    }
}

/// About how many detections one slice of a grouping's save writes (an incident is never
/// cut): about 10 ms of the store's write lock, the longest a committed step waits for it.
const GROUPING_SLICE: usize = 150;

impl Grouper {
    /// A writer for the next grouping, on a connection of its own.
    fn writer(&self) -> Result<IncidentWriter<SqliteStore>, ConsumerError> {
        let mut store =
            SqliteStore::open(&self.store_path).map_err(|source| self.store_error(source))?;
        store.save_in_slices(Arc::clone(&self.turn), GROUPING_SLICE);
        // The checkpointer copies the log: a slice's commit must not, inside the turn.
        store
            .defer_checkpoints(COMMITTER_WAL_PAGES)
            .map_err(|source| self.store_error(source))?;
        let mut writer =
            IncidentWriter::adopting_only(store, self.grouping.clone(), self.catalog.clone())
                .map_err(|source| self.store_error(source))?;
        writer.trust_origins(Arc::new(self.origins.clone()));
        if let Some(limit) = self.grouping_pace.read_back_limit {
            writer.limit_read_back(limit);
        }
        Ok(writer)
    }

    /// Groups what the committer passes on until it hangs up, then what is left; stops at
    /// the first write that fails.
    pub fn run(mut self, work: Receiver<ToGroup>) -> Result<(), ConsumerError> {
        loop {
            let wait = match &self.grouping_pace.pending {
                Some(_) => self.grouping_pace.wait(),
                None => GROUP_EVERY,
            };
            match work.recv_timeout(wait) {
                Ok(next) => self.take(next)?,
                Err(RecvTimeoutError::Timeout) => self.group(None)?,
                Err(RecvTimeoutError::Disconnected) => return self.group(None),
            }
        }
    }

    /// Takes a committed step's detections, and groups when it is time.
    fn take(&mut self, work: ToGroup) -> Result<(), ConsumerError> {
        self.taken += 1;
        self.grouping_pace.pending_detections += work.alerts.len();
        if !work.alerts.is_empty() {
            if self.grouping_pace.pending.is_none() {
                self.grouping_pace.pending = Some(self.writer()?);
            }
            if let Some(writer) = self.grouping_pace.pending.as_mut() {
                let adopted = writer.adopt(work.alerts, &work.first_time);
                adopted.map_err(|e| self.store_error(e))?;
            }
        }
        let now = work.group_now || work.state.is_some() || work.grouping.is_some();
        if now || self.grouping_pace.due() {
            self.group(work.state)?;
        }
        if let Some(grouping) = work.grouping {
            self.grouping = grouping;
        }
        Ok(())
    }

    /// Groups what waits and saves the incidents in slices, the detectors' state (when
    /// given) with the last; then nothing the committer passed on awaits a grouping.
    fn group(&mut self, state: Option<SavedState>) -> Result<(), ConsumerError> {
        let writer = match (self.grouping_pace.pending.take(), &state) {
            (Some(writer), _) => Some(writer),
            (None, Some(_)) => Some(self.writer()?),
            (None, None) => None,
        };
        if let Some(mut writer) = writer {
            let started = Instant::now();
            for (name, bytes) in state.into_iter().flatten() {
                writer.save_blob_at_finish(name, bytes);
            }
            let (_store, report) = writer.finish().map_err(|e| self.store_error(e))?;
            self.grouping_pace.last = Some(Instant::now());
            self.grouping_pace.took = started.elapsed();
            tracing::debug!(
                detections = report.alerts.new,
                by = ?report.grouped_by,
                took_ms = self.grouping_pace.took.as_millis() as u64,
                "grouped"
            );
            add(&self.metrics.detections_stored, report.alerts.new as u64);
            add(&self.metrics.incidents_saved, report.incidents as u64);
            add(&self.metrics.incidents_opened, report.new_incidents as u64);
            if let GroupedBy::Apart(late) = report.grouped_by {
                add(&self.metrics.detections_grouped_apart, late as u64);
            }
        }
        self.metrics
            .awaiting_grouping
            .fetch_sub(self.taken, Ordering::Relaxed);
        self.taken = 0;
        let grouped = std::mem::take(&mut self.grouping_pace.pending_detections);
        self.queued.fetch_sub(grouped, Ordering::Relaxed);
        Ok(())
    }

    fn store_error(&self, source: StoreError) -> ConsumerError {
        ConsumerError::store(&self.store_path, source)
    }
}
