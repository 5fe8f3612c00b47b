//! The pipeline as the spool's consumer: it reads what the inputs acknowledged, runs it
//! through `tocsin-pipeline` (the same detectors, correlations, behavioural detectors and
//! incident grouping as `tocsin hunt`), and commits the spool position it reached with the
//! incidents it saved.
//!
//! # Exactly-once detections
//!
//! Each step reads a bounded run of records after the committed position, judges their
//! events, writes the detections (keyed by the event's identity, so a detection written
//! twice is stored once) and then, in one transaction, the incidents, the grouping state and
//! the position (blob [`POSITION_BLOB`]). A crash before that transaction replays the
//! records after a restart: their detections exist already or are written now, never
//! twice; a crash after it does not replay them. Only then is the spool told that the
//! records may go ([`Spool::release`]).
//!
//! Correlations and behavioural detectors keep their state in memory across steps, and
//! see each step's events in time order; the behavioural baseline is saved with a
//! position every [`DetectionConfig::baseline_save_seconds`] and on shutdown, so a restart
//! resumes it (events between that save and a crash are judged but not learned).
//! Correlation windows are not kept across a restart yet.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tocsin_decode::{from_bytes, DecodeOptions};
use tocsin_engine::Scratch;
use tocsin_event::Event;
use tocsin_incident::{AttackCatalog, GroupingConfig, IncidentStore};
use tocsin_pipeline::{AlertCollector, Detectors, IncidentWriter, BASELINE_BLOB};
use tocsin_spool::{FileSpool, Position, ReadLimit, Record, Spool};
use tocsin_store::{SqliteStore, StoreError};

use crate::config::DetectionConfig;
use crate::ingest::{now_micros, RecordHeader};
use crate::metrics::{add, Metrics};

/// The store blob holding the spool position the consumer committed (decimal text).
pub const POSITION_BLOB: &str = "serve-spool-position";

/// How long the consumer waits for new records before looking at the stop flag again.
const POLL: Duration = Duration::from_millis(200);

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
    /// The replay buffer or the behavioural baseline failed.
    #[error("{0}")]
    Pipeline(String),
}

/// A step's alerts, and when each of its records was received with its number of events.
type Judged = (Vec<tocsin_incident::Alert>, Vec<(i64, u64)>);

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
}

impl Consumer {
    /// Runs until [`Consumer::stop`] is set and every durable record is processed, or the
    /// store fails.
    pub fn run(mut self) -> Result<(), ConsumerError> {
        let mut store = Some(self.open_store()?);
        let mut after = self.resume(store.as_ref())?;
        self.metrics.consuming.store(true, Ordering::Relaxed);
        let mut last_baseline = Instant::now();
        loop {
            let end = self.spool.wait_past(after, POLL);
            self.metrics.spool_end.store(end.get(), Ordering::Relaxed);
            let records = self.spool.read_from(after, ReadLimit::default())?;
            let stopping = self.stop.load(Ordering::Relaxed);
            if records.is_empty() && !stopping {
                continue;
            }
            let save_baseline =
                stopping || last_baseline.elapsed().as_secs() >= self.config.baseline_save_seconds;
            let next = records.last().map_or(after, |record| record.position);
            store = Some(self.step(store.take(), &records, next, save_baseline)?);
            if save_baseline {
                last_baseline = Instant::now();
            }
            after = next;
            self.spool.release(after)?;
            if stopping && records.is_empty() {
                break;
            }
        }
        self.metrics.consuming.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Opens the store, refusing one whose detections are keyed by another tocsin.
    fn open_store(&self) -> Result<SqliteStore, ConsumerError> {
        SqliteStore::open(&self.store_path).map_err(|source| self.store_error(source))
    }

    fn store_error(&self, source: StoreError) -> ConsumerError {
        ConsumerError::Store {
            path: self.store_path.clone(),
            source: Box::new(source),
        }
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
        if let (Some(behaviour), Some(bytes)) = (self.detectors.behaviour_mut(), baseline) {
            behaviour
                .resume(&bytes)
                .map_err(|error| ConsumerError::Pipeline(error.to_string()))?;
        }
        self.metrics
            .committed_position
            .store(position.get(), Ordering::Relaxed);
        Ok(position)
    }

    /// Judges the records' events and commits their detections, the incidents and `next`.
    fn step(
        &mut self,
        store: Option<SqliteStore>,
        records: &[Record],
        next: Position,
        save_baseline: bool,
    ) -> Result<SqliteStore, ConsumerError> {
        let store = match store {
            Some(store) => store,
            None => self.open_store()?,
        };
        let (alerts, received) = self.judge(records)?;
        let mut writer = IncidentWriter::new(store, self.grouping.clone(), self.catalog.clone());
        for alert in alerts {
            writer.push(alert).map_err(|e| self.store_error(e))?;
        }
        writer.save_blob_at_finish(POSITION_BLOB, next.get().to_string().into_bytes());
        if save_baseline {
            if let Some(behaviour) = self.detectors.behaviour() {
                let bytes = behaviour
                    .baseline()
                    .map_err(|error| ConsumerError::Pipeline(error.to_string()))?;
                writer.save_blob_at_finish(BASELINE_BLOB, bytes);
            }
        }
        let (store, report) = writer.finish().map_err(|e| self.store_error(e))?;
        add(&self.metrics.detections_stored, report.alerts.new as u64);
        add(&self.metrics.incidents_saved, report.incidents as u64);
        add(&self.metrics.incidents_opened, report.new_incidents as u64);
        add(&self.metrics.commits, 1);
        let now = now_micros();
        for (at, events) in received {
            self.metrics.latency.observe(now - at, events);
        }
        self.metrics
            .committed_position
            .store(next.get(), Ordering::Relaxed);
        Ok(store)
    }

    /// The alerts of the records' events: rule matches at once, then the correlation hits
    /// and anomalies of the step's events in time order.
    /// Also when each record was received, with its number of events.
    fn judge(&mut self, records: &[Record]) -> Result<Judged, ConsumerError> {
        let mut scratch = Scratch::default();
        let mut collector = AlertCollector::default();
        let mut received = Vec::with_capacity(records.len());
        for record in records {
            let (events, at) = self.decode(record);
            if let Some(at) = at {
                received.push((at, events.len() as u64));
            }
            for event in events {
                let _ = self.detectors.scan(&event, &mut scratch, &mut collector);
            }
        }
        collector
            .replay(&mut self.detectors)
            .map_err(|error| ConsumerError::Pipeline(format!("cannot replay a step: {error}")))?;
        Ok((collector.alerts, received))
    }

    /// The events of one record; what cannot be decoded is counted and logged with the
    /// input and the spool position.
    fn decode(&self, record: &Record) -> (Vec<Event>, Option<i64>) {
        let Some((header, payload)) = RecordHeader::split(&record.bytes) else {
            add(&self.metrics.decode_errors, 1);
            tracing::warn!(position = %record.position, "spool record without a header, skipped");
            return (Vec::new(), None);
        };
        let mut options = self.decode.clone();
        options.format = header.format.parse().ok();
        let name = format!("{}@{}", header.input, record.position);
        let source = match from_bytes(&name, payload.to_vec(), &options) {
            Ok(source) => source,
            Err(error) => {
                add(&self.metrics.decode_errors, 1);
                tracing::warn!(%error, "spool record cannot be decoded");
                return (Vec::new(), header.received_micros);
            }
        };
        let mut events = Vec::new();
        for item in source {
            match item {
                Ok(event) => events.push(event),
                Err(error) => {
                    add(&self.metrics.decode_errors, 1);
                    tracing::warn!(%error, "record skipped");
                }
            }
        }
        add(&self.metrics.events_processed, events.len() as u64);
        (events, header.received_micros)
    }
}
