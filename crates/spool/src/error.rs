//! What goes wrong in a [`FileSpool`](crate::FileSpool): every I/O or format error names
//! the file and, where there is one, the byte offset in it.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::Position;

/// A spool error. `Clone`, because one failed group commit fails every batch in it.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation failed.
    #[error("{}: {action}{}: {source}", path.display(), At(*offset))]
    Io {
        /// What the spool was doing ("write", "fsync", "open", ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The byte offset in the file, when the operation had one.
        offset: Option<u64>,
        /// The operating system's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// A record is damaged where no crash can have torn it: in a segment before the last,
    /// or in fsynced data. Reading stops there; to go on, a consumer reads from `resume`
    /// (losing the rest of the damaged segment), deliberately and after logging this.
    #[error("{}: damaged record at byte {offset} (position {position}): {defect}", path.display())]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// The damaged record's byte offset in the file.
        offset: u64,
        /// The damaged record's start as a position.
        position: Position,
        /// What is wrong with it.
        defect: Defect,
        /// Where reading can go on: the start of the next segment, if there is one yet.
        resume: Option<Position>,
    },
    /// A segment file does not start with a valid header.
    #[error("{}: not a spool segment: {problem}", path.display())]
    Header {
        /// The segment file.
        path: PathBuf,
        /// What is wrong with the header.
        problem: String,
    },
    /// A segment does not start where the one before it ends: a file is missing, was cut
    /// short, or does not belong.
    #[error("{}: the segment starts at position {found}, the one before it ends at {expected}", path.display())]
    Gap {
        /// The segment file that does not follow on.
        path: PathBuf,
        /// Where the previous segment ends.
        expected: Position,
        /// Where this one starts.
        found: Position,
    },
    /// Another spool (in this or another process) has the folder open.
    #[error("{}: the spool is already open (in this or another process)", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A record is larger than [`SpoolConfig::max_record_size`](crate::SpoolConfig).
    #[error("record {index} of the batch has {len} bytes, more than the limit of {max}")]
    TooLarge {
        /// The record's index in its batch.
        index: usize,
        /// Its size in bytes.
        len: usize,
        /// The configured limit.
        max: u32,
    },
    /// [`Spool::append`](crate::Spool::append) was given no records.
    #[error("an empty batch cannot be appended")]
    EmptyBatch,
    /// Reading from a position whose segment was released and deleted.
    #[error("position {position} was released; the spool now begins at {first}")]
    Released {
        /// The position asked for.
        position: Position,
        /// The first position still held.
        first: Position,
    },
    /// Reading from a position past the end read up to (the durable end, or the written
    /// end for early readers): not a position this spool gave.
    #[error("position {position} is beyond the spool's end {end}")]
    BeyondEnd {
        /// The position asked for.
        position: Position,
        /// The end read up to.
        end: Position,
    },
    /// An earlier write or fsync failed, after which the file's state is unknown: the spool
    /// refuses appends until it is reopened, which recovers the log.
    #[error("the spool refuses appends after an earlier failure (reopen it): {cause}")]
    Stopped {
        /// The failure that stopped it.
        cause: Box<Error>,
    },
    /// The writer or fsync thread is gone (the spool was closed, or a thread panicked):
    /// nothing more can be appended, and nothing written and not yet durable becomes so.
    #[error("the spool's writer thread has stopped")]
    WriterGone,
}

/// What is wrong with a damaged record's frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    /// Fewer bytes remain than a frame header takes.
    ShortHeader {
        /// The bytes left.
        remaining: u64,
    },
    /// The length field says more than the bytes that remain.
    Length {
        /// The stored length.
        len: u32,
        /// The payload bytes left.
        remaining: u64,
    },
    /// The checksum does not match the length and payload.
    Checksum {
        /// The stored checksum.
        stored: u32,
        /// The checksum of what is there.
        computed: u32,
    },
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::ShortHeader { remaining } => {
                write!(f, "only {remaining} bytes left, short of a frame header")
            }
            Defect::Length { len, remaining } => {
                write!(f, "length {len} exceeds the {remaining} bytes left")
            }
            Defect::Checksum { stored, computed } => {
                write!(f, "checksum {computed:08x} instead of {stored:08x}")
            }
        }
    }
}

/// Formats an optional byte offset as " at byte N".
struct At(Option<u64>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(offset) => write!(f, " at byte {offset}"),
            None => Ok(()),
        }
    }
}

impl Error {
    /// An I/O error of `action` on `path`, at `offset` when it has one.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        offset: Option<u64>,
        source: io::Error,
    ) -> Error {
        Error::Io {
            action,
            path: path.into(),
            offset,
            source: Arc::new(source),
        }
    }
}
