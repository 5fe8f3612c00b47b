//! [`FileSpool`]: the [`Spool`] in a folder of segment files, for one machine.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::fs::{lock, remove, segment_path, sync_dir};
use crate::segment::{encode_frame, frame_len};
use crate::state::Shared;
use crate::writer::Writer;
use crate::{
    reader, recover, Error, FsyncPolicy, Position, ReadLimit, Record, Recovery, Spool, SpoolConfig,
};

/// A spool in a folder: segment files written by a group-committing writer thread,
/// recovered on opening (see the crate docs). One process opens a folder at a time; it
/// is shared between threads by reference (`&FileSpool` or an `Arc`).
pub struct FileSpool {
    /// The writer thread's handle; dropped first, so the last fsync precedes the unlock.
    writer: Writer,
    /// What readers and the writer share.
    shared: Arc<Shared>,
    /// The settings it was opened with.
    config: SpoolConfig,
    /// What opening found.
    recovery: Recovery,
    /// Holds the folder's lock while the spool is open.
    _lock: File,
}

impl FileSpool {
    /// Opens (or creates) the spool in `dir`: takes the folder's lock, checks the
    /// segments, cuts a torn tail from the last one ([`FileSpool::recovery`] says what was
    /// cut) and starts the writer thread.
    pub fn open(dir: impl AsRef<Path>, config: SpoolConfig) -> Result<FileSpool, Error> {
        let dir = dir.as_ref().to_path_buf();
        let lock = lock(&dir)?;
        let opened = recover::open(&dir, config.fsync)?;
        let last = opened.starts.last().copied().unwrap_or(Position::START);
        let shared = Arc::new(Shared::new(dir, opened.starts, opened.recovery.end));
        let active = (opened.active, last, opened.active_len);
        let writer = Writer::start(Arc::clone(&shared), config, active)?;
        Ok(FileSpool {
            writer,
            shared,
            config,
            recovery: opened.recovery,
            _lock: lock,
        })
    }

    /// What opening found: the segments, the end, and the torn tail cut, if any.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The settings the spool was opened with.
    pub fn config(&self) -> &SpoolConfig {
        &self.config
    }

    /// The spool's folder.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Why the spool takes nothing more, once a write or fsync failed or its writer ended
    /// (`None` while it works): reopening it recovers the log.
    pub fn halted(&self) -> Option<Error> {
        self.shared.halted()
    }

    /// The first position still held (before it, segments were released).
    pub fn first(&self) -> Position {
        self.shared.first()
    }

    /// Frames a batch after checking it: not empty, no record over the size limit.
    fn frame(&self, batch: &[&[u8]]) -> Result<Vec<u8>, Error> {
        if batch.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let max = self.config.max_record_size;
        let mut size = 0;
        for (index, record) in batch.iter().enumerate() {
            if record.len() as u64 > u64::from(max) {
                return Err(Error::TooLarge {
                    index,
                    len: record.len(),
                    max,
                });
            }
            size += frame_len(record.len());
        }
        let mut frames = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        for record in batch {
            encode_frame(&mut frames, record);
        }
        Ok(frames)
    }

    /// The segments' paths, in order (for tests and diagnostics).
    pub fn segment_paths(&self) -> Vec<PathBuf> {
        self.shared
            .starts()
            .into_iter()
            .map(|start| segment_path(&self.shared.dir, start))
            .collect()
    }
}

impl Spool for FileSpool {
    type Error = Error;

    fn append(&self, batch: &[&[u8]]) -> Result<Position, Error> {
        let frames = self.frame(batch)?;
        self.writer.append(frames)
    }

    fn read_from(&self, after: Position, limit: ReadLimit) -> Result<Vec<Record>, Error> {
        reader::read(&self.shared, after, self.shared.durable_end(), limit)
    }

    /// Reads up to the written end: what the writer has handed to the file system, which
    /// a crash of the process keeps and a crash of the machine may not (see
    /// [`Spool::read_written_from`]).
    fn read_written_from(&self, after: Position, limit: ReadLimit) -> Result<Vec<Record>, Error> {
        reader::read(&self.shared, after, self.shared.written_end(), limit)
    }

    fn written_end(&self) -> Position {
        self.shared.written_end()
    }

    fn wait_written_past(&self, after: Position, timeout: Duration) -> Position {
        self.shared.wait_written_past(after, timeout)
    }

    fn wait_durable(&self, through: Position, timeout: Duration) -> Result<bool, Error> {
        self.shared.wait_durable(through, timeout)
    }

    fn durable_end(&self) -> Position {
        self.shared.durable_end()
    }

    fn wait_past(&self, after: Position, timeout: Duration) -> Position {
        self.shared.wait_past(after, timeout)
    }

    /// Deletes the segments that end at or before `up_to`, oldest first (never the
    /// segment being written), then fsyncs the folder.
    fn release(&self, up_to: Position) -> Result<(), Error> {
        let doomed = self.shared.release(up_to);
        if doomed.is_empty() {
            return Ok(());
        }
        for start in doomed {
            remove(&self.shared.dir, start)?;
        }
        if self.config.fsync == FsyncPolicy::Never {
            return Ok(());
        }
        sync_dir(&self.shared.dir)
    }
}

impl std::fmt::Debug for FileSpool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSpool")
            .field("dir", &self.shared.dir)
            .field("config", &self.config)
            .field("durable_end", &self.durable_end())
            .finish()
    }
}
