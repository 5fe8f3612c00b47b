//! Reading records back: from a position, across segments, up to the durable (or the
//! written) end and within a [`ReadLimit`]. Reading never changes the spool. Damage it meets is an error
//! naming the file, the byte offset and where reading can resume, returned once the good
//! records before it have been returned.

use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::PathBuf;

use crate::fs::segment_path;
use crate::segment::{read_frame, FrameError, HEADER_LEN};
use crate::state::Shared;
use crate::{Error, Position, ReadLimit, Record};

/// The records after `after`, in order, up to `end` (the durable or the written end) and
/// within `limit`.
pub(crate) fn read(
    shared: &Shared,
    after: Position,
    end: Position,
    limit: ReadLimit,
) -> Result<Vec<Record>, Error> {
    if after > end {
        return Err(Error::BeyondEnd {
            position: after,
            end,
        });
    }
    let mut batch = Batch {
        records: Vec::new(),
        bytes: 0,
        limit,
    };
    let mut at = after;
    while at < end && !batch.full() {
        let (start, next) = shared.locate(at)?;
        let upto = next.map_or(end, |next| next.min(end));
        let segment = Segment {
            path: segment_path(&shared.dir, start),
            start,
            next,
        };
        match segment.read(at, upto, &mut batch, shared) {
            Ok(stopped) => at = stopped,
            // The records before the damage are good: the caller gets them first, and the
            // error on its next read, which starts at the damaged record.
            Err(_) if !batch.records.is_empty() => break,
            Err(error) => return Err(error),
        }
    }
    Ok(batch.records)
}

/// The records read so far and the limit on them.
struct Batch {
    /// The records read.
    records: Vec<Record>,
    /// Their payload bytes.
    bytes: usize,
    /// How much may be read.
    limit: ReadLimit,
}

impl Batch {
    /// Whether no more records may be added.
    fn full(&self) -> bool {
        self.records.len() >= self.limit.records
    }

    /// Whether a record of `len` bytes still fits (the first always does).
    fn fits(&self, len: usize) -> bool {
        self.records.is_empty() || self.bytes + len <= self.limit.bytes
    }
}

/// The segment being read.
struct Segment {
    /// Its file.
    path: PathBuf,
    /// Its start.
    start: Position,
    /// The next segment's start, if there is a next segment.
    next: Option<Position>,
}

impl Segment {
    /// The file offset of position `at` in this segment.
    fn offset(&self, at: Position) -> u64 {
        HEADER_LEN + (at.get() - self.start.get())
    }

    /// Reads records from `at` up to `upto` into `batch`; returns where it stopped.
    fn read(
        &self,
        mut at: Position,
        upto: Position,
        batch: &mut Batch,
        shared: &Shared,
    ) -> Result<Position, Error> {
        let mut reader = self.open(at, shared)?;
        let mut payload = Vec::new();
        while at < upto && !batch.full() {
            let remaining = upto.get() - at.get();
            let size = match read_frame(&mut reader, remaining, &mut payload) {
                Ok(size) => size,
                Err(FrameError::Damaged(defect)) => {
                    return Err(Error::Corrupt {
                        path: self.path.clone(),
                        offset: self.offset(at),
                        position: at,
                        defect,
                        resume: self.next,
                    })
                }
                Err(FrameError::Io(e)) => {
                    return Err(Error::io("read", &self.path, Some(self.offset(at)), e))
                }
            };
            if !batch.fits(payload.len()) {
                batch.limit.records = batch.records.len();
                break;
            }
            at = Position::new(at.get() + size);
            batch.bytes += payload.len();
            let bytes = std::mem::take(&mut payload);
            batch.records.push(Record {
                position: at,
                bytes,
            });
        }
        Ok(at)
    }

    /// Opens the segment for reading at position `at`.
    fn open(&self, at: Position, shared: &Shared) -> Result<BufReader<File>, Error> {
        let offset = self.offset(at);
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Released and deleted since it was located.
                return Err(Error::Released {
                    position: at,
                    first: shared.first(),
                });
            }
            Err(e) => return Err(Error::io("open", &self.path, None, e)),
        };
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io("seek", &self.path, Some(offset), e))?;
        Ok(BufReader::with_capacity(64 << 10, file))
    }
}
