//! The durable spool of `tocsin serve`: an append-only log that acknowledges a batch of
//! events only once it is written (and, by default, fsynced), and from which the pipeline
//! reads at its own pace.
//!
//! # The contract
//!
//! - [`Spool::append`] returns only when the batch is durable under the spool's
//!   [`FsyncPolicy`]; it returns the [`Position`] of the batch's last record. Only then may
//!   the HTTP input acknowledge the batch. A batch that was *not* acknowledged (the process
//!   died, the write failed) may survive whole, in part or not at all: senders retry, so
//!   ingestion is at-least-once, and the spool never invents or reorders records.
//! - [`Spool::read_from`] returns the records *after* a position, in order, each with its
//!   own position. Readers see only durable records ([`Spool::durable_end`]). A consumer
//!   may read ahead, records written but not yet durable ([`Spool::read_written_from`]),
//!   so that its work overlaps the fsync; it then waits for them to be durable
//!   ([`Spool::wait_durable`]) before it commits what it made of them.
//! - The consumer, not the spool, remembers how far it got: it stores the position of the
//!   last record it processed **in the same transaction** as what it produced from it
//!   (detections in SQLite), and after a restart reads from that stored position. A crash
//!   before the commit replays the records; a crash after it does not: no detection is
//!   lost or made twice.
//! - [`Spool::release`] tells the spool that every consumer has committed up to a
//!   position, so that storage wholly before it may be reclaimed.
//!
//! The seam is the [`Spool`] trait so that a cluster mode can put NATS JetStream in
//! [`FileSpool`]'s place (a stream sequence number is a `Position`, an acknowledged publish
//! is an append, a pull consumer is `read_from`, and the consumer's position stays in its
//! own database, PostgreSQL instead of SQLite) with the same acknowledge-after-commit
//! contract.
//!
//! # Positions
//!
//! A [`Position`] is an opaque, totally ordered `u64`. In [`FileSpool`] it is a *logical
//! byte offset*: the number of framed record bytes written before the end of the record,
//! across all segments (segment headers excluded), like a PostgreSQL LSN. The position of a
//! record is where the next record begins, so "resume after record `p`" is "read from `p`",
//! and [`Position::START`] (0) comes before every record. Positions only grow; they are not
//! dense (they step by each record's framed size). Store them as an integer: they stay
//! below 2^63, so SQLite's `INTEGER` holds them ([`Position::get`], [`Position::new`]).
//!
//! # The file implementation
//!
//! A folder of segment files (`segment.rs` has the byte layout), each named after the
//! position its first record starts at and rolled at [`SpoolConfig::segment_size`]. One
//! writer thread takes every batch waiting from every appending thread and writes them with
//! one `write`; under [`FsyncPolicy::Always`] another makes them durable with one `fsync`
//! (group commit) while the writer goes on writing the next ones (under `Interval` the
//! writer fsyncs when due); each appender waits for its own batch. Opening a spool scans its last segment and cuts a torn tail, the
//! remains of a write that a crash interrupted ([`Recovery`]); damage anywhere else is an
//! error that names the file and byte offset ([`Error::Corrupt`]), never skipped in
//! silence.
//!
//! # A consumer
//!
//! The position is stored with the output, in one transaction; here a transaction is a
//! file written whole and renamed into place, standing in for SQLite:
//!
//! ```
//! use std::time::Duration;
//! use tocsin_spool::{FileSpool, Position, ReadLimit, Spool, SpoolConfig};
//!
//! /// What the consumer keeps: its output and the position it covers, committed together.
//! fn commit(dir: &std::path::Path, output: &[String], position: Position) -> std::io::Result<()> {
//!     let text = format!("{}\n{}", position.get(), output.join("\n"));
//!     std::fs::write(dir.join("state.tmp"), text)?;
//!     std::fs::rename(dir.join("state.tmp"), dir.join("state")) // the commit point
//! }
//!
//! /// The committed state after a restart: the position to resume from, and the output.
//! fn load(dir: &std::path::Path) -> (Position, Vec<String>) {
//!     let Ok(text) = std::fs::read_to_string(dir.join("state")) else {
//!         return (Position::START, Vec::new());
//!     };
//!     let mut lines = text.lines();
//!     let position = lines.next().and_then(|l| l.parse().ok()).unwrap_or(0);
//!     (Position::new(position), lines.map(String::from).collect())
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let spool = FileSpool::open(dir.path().join("spool"), SpoolConfig::default())?;
//! spool.append(&[b"alpha".as_slice(), b"beta".as_slice()])?;
//!
//! // One consumer step: read after the committed position, process, commit both at once.
//! let (after, mut output) = load(dir.path());
//! for record in spool.read_from(after, ReadLimit::default())? {
//!     output.push(String::from_utf8_lossy(&record.bytes).to_uppercase());
//!     commit(dir.path(), &output, record.position)?;
//! }
//! spool.release(load(dir.path()).0)?; // retention: every consumer is past this point
//!
//! // After a restart, the consumer goes on exactly after what it committed.
//! spool.append(&[b"gamma".as_slice()])?;
//! let (after, output) = load(dir.path());
//! assert_eq!(output, ["ALPHA", "BETA"]);
//! let next = spool.read_from(after, ReadLimit::default())?;
//! assert_eq!(next.len(), 1);
//! assert_eq!(next[0].bytes, b"gamma");
//! assert_eq!(spool.wait_past(after, Duration::ZERO), next[0].position);
//! # Ok(())
//! # }
//! ```

mod config;
mod error;
#[doc(hidden)]
pub mod fault;
mod file;
mod fs;
mod reader;
mod recover;
mod segment;
mod state;
mod syncer;
mod writer;

use std::fmt;
use std::time::Duration;

pub use config::{FsyncPolicy, SpoolConfig};
pub use error::{Defect, Error};
pub use file::FileSpool;
pub use recover::{Recovery, Truncation};

/// Where a record ends in the spool: opaque, totally ordered, and what a consumer stores
/// beside its output to resume after a restart (see the crate docs for its meaning in
/// [`FileSpool`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(u64);

impl Position {
    /// Before every record: where a consumer that has processed nothing reads from.
    pub const START: Position = Position(0);

    /// A position from its stored integer (what [`Position::get`] gave).
    pub const fn new(value: u64) -> Position {
        Position(value)
    }

    /// The position as an integer, to store in the consumer's own transaction.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One record read back: its bytes, as appended, and its position, which a consumer
/// commits once it has processed the record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Where the record ends: resume here to read what comes after it.
    pub position: Position,
    /// The record's bytes, exactly as appended.
    pub bytes: Vec<u8>,
}

/// How much one [`Spool::read_from`] returns at most, so that a consumer's transactions
/// stay bounded. A single record larger than `bytes` is still returned on its own, so that
/// a reader always makes progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimit {
    /// The most records returned.
    pub records: usize,
    /// The most payload bytes returned (but at least one record).
    pub bytes: usize,
}

impl Default for ReadLimit {
    /// 1,000 records or 4 MiB, whichever comes first.
    fn default() -> Self {
        ReadLimit {
            records: 1000,
            bytes: 4 << 20,
        }
    }
}

/// The seam between the HTTP input, the pipeline and where acknowledged events wait:
/// [`FileSpool`] on one machine; a replicated log (NATS JetStream) in a cluster.
pub trait Spool: Send + Sync {
    /// What goes wrong in this implementation.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Appends a non-empty batch of records and returns once it is durable (under the
    /// implementation's durability policy), with the position of the batch's last record.
    /// The batch's records are contiguous and in order. Safe to call from many threads.
    fn append(&self, batch: &[&[u8]]) -> Result<Position, Self::Error>;

    /// The durable records after `after`, in order, at most `limit`; empty when there are
    /// none yet. `after` is [`Position::START`] or a position this spool gave. Damaged
    /// data fails the read that starts at it; the records before it come first.
    fn read_from(&self, after: Position, limit: ReadLimit) -> Result<Vec<Record>, Self::Error>;

    /// The position of the last durable record: what readers can read up to.
    fn durable_end(&self) -> Position;

    /// Waits until the durable end is beyond `after` or `timeout` passes, and returns the
    /// durable end: how a consumer waits for work without polling.
    fn wait_past(&self, after: Position, timeout: Duration) -> Position;

    /// The records after `after` that are written but maybe not yet durable, in order, at
    /// most `limit`: a consumer may read and process them while they are being made
    /// durable, so that an fsync and the processing overlap, but it must not commit what it
    /// made of them before [`Spool::wait_durable`] says they are durable (a crash of the
    /// machine may still lose them, and their senders were not answered: they would send
    /// them again). The default, for implementations that show nothing before it is
    /// durable, is [`Spool::read_from`].
    fn read_written_from(
        &self,
        after: Position,
        limit: ReadLimit,
    ) -> Result<Vec<Record>, Self::Error> {
        self.read_from(after, limit)
    }

    /// [`Spool::wait_past`] for the end of what [`Spool::read_written_from`] reads.
    fn wait_written_past(&self, after: Position, timeout: Duration) -> Position {
        self.wait_past(after, timeout)
    }

    /// Waits until every record up to and including the one ending at `through` is durable
    /// (`Ok(true)`) or `timeout` passes (`Ok(false)`); the default, for implementations
    /// whose readers see only durable records, says whether the durable end covers it.
    ///
    /// # Errors
    ///
    /// The spool stopped (a write or fsync failed, its writer ended) before `through` was
    /// durable: it never will be, and nothing made of those records may be committed.
    fn wait_durable(&self, through: Position, timeout: Duration) -> Result<bool, Self::Error> {
        let before = Position::new(through.get().saturating_sub(1));
        Ok(self.durable_end() >= through || self.wait_past(before, timeout) >= through)
    }

    /// The position of the last record written, durable or not: what
    /// [`Spool::read_written_from`] can read up to. The default is the durable end.
    fn written_end(&self) -> Position {
        self.durable_end()
    }

    /// Tells the spool that every consumer has committed `up_to`: storage holding only
    /// records at or before it may be reclaimed, and reading from before it may fail.
    fn release(&self, up_to: Position) -> Result<(), Self::Error>;
}
