//! The consumer's reading stage: it reads bounded runs of records from the spool and
//! decodes them on its own thread, so that the judging thread spends its time judging
//! (decoding JSON is a third of what a Windows event costs the service).
//!
//! It hands each run to the judge as a [`Batch`] through a rendezvous channel: while the
//! judge judges one run, the reader reads and decodes the next, and no further, so that at
//! most two runs are in memory. The judge decides what a batch means (an
//! empty one lets it release what it holds for order, or look at a reloaded rule set); the
//! reader decides only what is read next: a record that begins an appliance message whose
//! last segments have not arrived is left, with what follows it, for the next read, up to
//! [`SpoolReader::segment_wait`] after its receipt.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use tocsin_decode::DecodeOptions;
use tocsin_spool::{FileSpool, Position, ReadLimit, Record, Spool};

use crate::consumer::ConsumerError;
use crate::ingest::now_micros;
use crate::metrics::Metrics;
use crate::records::{decode_records, DecodedRecord};

/// The most one step reads: a step ends in one transaction that groups its detections into
/// incidents, and when detections arrive out of time order that grouping reads back the
/// stored detections after them (from a checkpoint of the grouping state, or the whole store
/// when none is old enough), so under load fewer, larger steps cost far less than many small
/// ones (at low rates a step holds only what arrived, so latency does not grow).
const STEP: ReadLimit = ReadLimit {
    records: 10_000,
    bytes: 32 << 20,
};

/// How long the reader waits for new records before it offers an empty batch to a waiting
/// judge (so that it can release what it holds and take a reloaded rule set) and looks at
/// the stop flag again.
const POLL: Duration = Duration::from_millis(200);

/// One run of records read and decoded.
pub(crate) struct Batch {
    /// The records to judge now (possibly none).
    pub records: Vec<Record>,
    /// The same, decoded.
    pub decoded: Vec<DecodedRecord>,
    /// The position they were read after.
    pub after: Position,
    /// Whether the read found nothing new (records left for later do not count as
    /// nothing).
    pub read_nothing: bool,
    /// Whether the service was stopping when the records were read: the last batch is a
    /// stopping one that read nothing.
    pub stopping: bool,
}

/// Reads and decodes the spool ahead of the judge.
pub(crate) struct SpoolReader {
    /// Where records wait: read as soon as they are written, before their appenders are
    /// answered (the committer waits until they are durable).
    pub spool: Arc<FileSpool>,
    /// How records are decoded (the format comes from each record's header).
    pub decode: DecodeOptions,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Set to stop: the reader reads on until the spool is drained up to where it ended
    /// when the stop was seen ([`SpoolReader::drain_to`]), then sends a last empty batch.
    pub stop: Arc<AtomicBool>,
    /// Once stopping, the spool's written end when the stop was first seen: the drain ends
    /// there. Syslog senders still connected may go on appending; what they append after
    /// it stays in the spool for the next start (their records were never acknowledged
    /// before the stop), and a steady stream of it can no longer keep the service from
    /// stopping.
    pub drain_to: Option<Position>,
    /// When records were left for the next read because they begin a message whose
    /// segments have not all arrived ([`SpoolReader::judged_now`]): the last record read
    /// then, after which the next read waits for a new one.
    pub held_back: Option<Position>,
    /// How long after its receipt a record that begins an appliance message waits for the
    /// message's last segments to arrive in later records (`[detection] segment_wait_ms`);
    /// after it, the message is decoded as it is and reported incomplete (the records
    /// after it wait as long).
    pub segment_wait: Duration,
}

impl SpoolReader {
    /// Reads from `after` on, sending each batch to `batches`, until it sent the last one
    /// (stopping, nothing read) or the judge hung up. A spool that cannot be read is sent
    /// as the error that ends the consumer.
    pub(crate) fn run(
        mut self,
        mut after: Position,
        batches: &SyncSender<Result<Batch, ConsumerError>>,
    ) {
        loop {
            let batch = match self.read(after) {
                Ok(batch) => batch,
                Err(error) => {
                    let _ = batches.send(Err(error));
                    return;
                }
            };
            let last = batch.stopping && batch.read_nothing;
            after = batch.records.last().map_or(after, |record| record.position);
            if batch.read_nothing && !batch.stopping {
                // Only to a judge that waits: one that is busy would take it late, when
                // records that arrived since wait in the spool, and read "nothing arrived
                // for a while" into it (releasing what it holds for order too early).
                match batches.try_send(Ok(batch)) {
                    Ok(()) | Err(TrySendError::Full(_)) => continue,
                    Err(TrySendError::Disconnected(_)) => return,
                }
            }
            if batches.send(Ok(batch)).is_err() || last {
                return;
            }
        }
    }

    /// The next batch after `after`: waits up to [`POLL`] for new records, reads a bounded
    /// run of them and decodes it.
    fn read(&mut self, after: Position) -> Result<Batch, ConsumerError> {
        let stopping = self.stop.load(Ordering::Acquire);
        if stopping && self.drain_to.is_none() {
            // Everything acknowledged before the stop is written by now (under an `Interval`
            // policy maybe not yet fsynced: the committer waits for that, at most the
            // interval).
            self.drain_to = Some(self.spool.written_end());
        }
        let waited = self.held_back.unwrap_or(after);
        // Records are read as soon as they are written, while the spool makes them durable:
        // the committer waits for that before it stores what was judged of them.
        self.spool.wait_written_past(waited, POLL);
        self.metrics
            .spool_end
            .fetch_max(self.spool.durable_end().get(), Ordering::Relaxed);
        let mut records = self.spool.read_written_from(after, STEP)?;
        if let Some(drain_to) = self.drain_to {
            records.retain(|record| record.position.get() <= drain_to.get());
        }
        let read_nothing = records.is_empty();
        if read_nothing {
            if let Some(cause) = self.spool.halted() {
                // The committer learns of a halt from records it waits for; when none were
                // read past the durable end (a write failed, or a roll's fsync), only here.
                return Err(ConsumerError::SpoolHalted(cause));
            }
        }
        let mut decoded = Vec::new();
        if !read_nothing {
            decoded = decode_records(&records, &self.decode);
            let now = self.judged_now(&records, &decoded, stopping);
            decoded.truncate(now);
            records.truncate(now);
        }
        Ok(Batch {
            records,
            decoded,
            after,
            read_nothing,
            stopping,
        })
    }

    /// How many of the records read are judged now: all, unless one received less than
    /// [`SpoolReader::segment_wait`] ago begins an appliance message whose last segments
    /// have not arrived. Then that record and those after it are read again with the next
    /// ones, so that a message split across two requests (or two reads of the spool) is
    /// reassembled; never at shutdown. The wait counts from each record's receipt, so a
    /// sender whose messages never complete delays the records after its own by at most
    /// that long.
    fn judged_now(
        &mut self,
        records: &[Record],
        decoded: &[DecodedRecord],
        stopping: bool,
    ) -> usize {
        let now = now_micros();
        let wait = i64::try_from(self.segment_wait.as_micros()).unwrap_or(i64::MAX);
        let waiting = |record: &DecodedRecord| {
            record.unfinished
                && record
                    .received
                    .is_some_and(|at| now.saturating_sub(at) < wait)
        };
        match (stopping, decoded.iter().position(waiting), records.last()) {
            (false, Some(first), Some(last)) => {
                self.held_back = Some(last.position);
                first
            }
            _ => {
                self.held_back = None;
                records.len()
            }
        }
    }
}
