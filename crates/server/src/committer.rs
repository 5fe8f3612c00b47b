//! The consumer's second half: what the judging thread found, stored and committed on a
//! thread of its own, so that judging the next records and storing the last ones' detections
//! run at once (on two cores, storing the detections of Windows events costs about as much
//! as judging them).
//!
//! The [`consumer`](crate::consumer) thread sends one [`Judged`] per step through a channel
//! that holds one, so at most two steps are ahead of the store. The committer takes them in
//! order and does for each what the single thread did: it writes the detections, then the
//! spool position to resume from, groups them into incidents when due ([`GroupingPace`]),
//! forwards the detections, and only then tells the spool that the records before that
//! position may go. The exactly-once contract of the consumer's module documentation is
//! unchanged: a step's position is written after its detections, and steps are committed
//! in the order they were judged.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tocsin_incident::{Alert, AttackCatalog, GroupingConfig, IncidentStore};
use tocsin_pipeline::{IncidentWriter, BASELINE_BLOB};
use tocsin_spool::{FileSpool, Position, Spool};
use tocsin_store::{SqliteStore, StoreError};

use crate::consumer::{ConsumerError, POSITION_BLOB};
use crate::forward::Forwarder;
use crate::ingest::now_micros;
use crate::metrics::{add, Metrics};

/// What one step judged, for the committer to store.
pub(crate) struct Judged {
    /// The detections: rule matches, and the correlation hits and anomalies released.
    pub alerts: Vec<Alert>,
    /// When each record of the step was received, with its number of events.
    pub received: Vec<(i64, u64)>,
    /// The spool position to resume from (before anything still held for order).
    pub resume: Position,
    /// Whether incidents are grouped now whatever the pace.
    pub group_now: bool,
    /// The behavioural baseline to save with the grouping (the step groups when it is set).
    pub baseline: Option<Vec<u8>>,
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
/// [`GROUP_EVERY`] (or three times as long as it last took, if longer), and at once when
/// the input pauses, when rules are swapped and at shutdown.
#[derive(Default)]
pub struct GroupingPace {
    /// The writer holding what waits for a grouping (its detections are stored already).
    pending: Option<IncidentWriter<SqliteStore>>,
    /// When the last grouping ended.
    last: Option<Instant>,
    /// How long it took.
    took: Duration,
}

/// The shortest time between two groupings under load.
pub const GROUP_EVERY: Duration = Duration::from_secs(1);

impl GroupingPace {
    /// Whether a grouping is due now.
    fn due(&self) -> bool {
        let wait = GROUP_EVERY.max(self.took * 3);
        self.last.is_none_or(|last| last.elapsed() >= wait)
    }
}

/// Stores what the judging thread found, in order (see the module documentation).
pub(crate) struct Committer {
    /// Where acknowledged records wait (told what may go once committed).
    pub spool: Arc<FileSpool>,
    /// The store file.
    pub store_path: PathBuf,
    /// How alerts are grouped.
    pub grouping: GroupingConfig,
    /// ATT&CK names.
    pub catalog: AttackCatalog,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Where committed detections are forwarded, if anywhere.
    pub forwarder: Option<Forwarder>,
    /// The writer waiting for a grouping, and the grouping's pace.
    pub grouping_pace: GroupingPace,
    /// The position this committer last wrote, if any.
    pub committed: Option<Position>,
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

    /// Stores a step's detections and then its position, groups them when due, and tells
    /// the spool what may go.
    fn commit(&mut self, step: Judged) -> Result<(), ConsumerError> {
        let idle = step.alerts.is_empty()
            && step.baseline.is_none()
            && step.grouping.is_none()
            && self.grouping_pace.pending.is_none();
        if idle {
            return self.commit_position(&step);
        }
        let mut writer = match self.grouping_pace.pending.take() {
            Some(writer) => writer,
            None => IncidentWriter::new(
                self.open_store()?,
                self.grouping.clone(),
                self.catalog.clone(),
            ),
        };
        let forwarded = self.forwarder.as_ref().map(|_| step.alerts.clone());
        for alert in step.alerts {
            writer.push(alert).map_err(|e| self.store_error(e))?;
        }
        writer.flush().map_err(|e| self.store_error(e))?;
        let position = step.resume.get().to_string().into_bytes();
        writer
            .store_mut()
            .save_blob(POSITION_BLOB, &position)
            .map_err(|e| self.store_error(e))?;
        self.count(&step.received, step.resume, step.held, step.released_early);
        if let (Some(forwarder), Some(alerts)) = (&self.forwarder, forwarded) {
            alerts.iter().for_each(|alert| forwarder.forward(alert));
        }
        let group = step.group_now || step.baseline.is_some() || self.grouping_pace.due();
        match group {
            true => self.group(writer, position, step.baseline)?,
            false => self.grouping_pace.pending = Some(writer),
        }
        self.metrics.awaiting_grouping.store(
            u64::from(self.grouping_pace.pending.is_some()),
            Ordering::Relaxed,
        );
        self.spool.release(step.resume)?;
        self.committed = Some(step.resume);
        if let Some(grouping) = step.grouping {
            self.grouping = grouping;
        }
        Ok(())
    }

    /// A step that found nothing, with nothing waiting for a grouping (a quiet input, polled
    /// every few hundred milliseconds): only its position is written, when it moved.
    fn commit_position(&mut self, step: &Judged) -> Result<(), ConsumerError> {
        if self.committed != Some(step.resume) {
            let position = step.resume.get().to_string().into_bytes();
            self.open_store()?
                .save_blob(POSITION_BLOB, &position)
                .map_err(|e| self.store_error(e))?;
            self.committed = Some(step.resume);
        }
        self.count(&step.received, step.resume, step.held, step.released_early);
        self.spool.release(step.resume)?;
        Ok(())
    }

    /// Groups the stored detections into incidents and saves them with the position (and
    /// the behavioural baseline when given), in one write.
    fn group(
        &mut self,
        mut writer: IncidentWriter<SqliteStore>,
        position: Vec<u8>,
        baseline: Option<Vec<u8>>,
    ) -> Result<(), ConsumerError> {
        let started = Instant::now();
        writer.save_blob_at_finish(POSITION_BLOB, position);
        if let Some(bytes) = baseline {
            writer.save_blob_at_finish(BASELINE_BLOB, bytes);
        }
        let (_, report) = writer.finish().map_err(|e| self.store_error(e))?;
        self.grouping_pace.last = Some(Instant::now());
        self.grouping_pace.took = started.elapsed();
        add(&self.metrics.detections_stored, report.alerts.new as u64);
        add(&self.metrics.incidents_saved, report.incidents as u64);
        add(&self.metrics.incidents_opened, report.new_incidents as u64);
        Ok(())
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

    /// Opens the store.
    fn open_store(&self) -> Result<SqliteStore, ConsumerError> {
        SqliteStore::open(&self.store_path).map_err(|source| self.store_error(source))
    }

    fn store_error(&self, source: StoreError) -> ConsumerError {
        ConsumerError::Store {
            path: self.store_path.clone(),
            source: Box::new(source),
        }
    }
}
