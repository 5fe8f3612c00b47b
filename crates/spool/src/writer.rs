//! Group commit: one thread writes for every appender. It takes all the batches waiting,
//! writes them with one `write` (one per segment, when the group crosses a roll), makes
//! them durable with one fsync, and only then answers each appender with its batch's
//! position. An appender's batch is framed (and checksummed) on its own thread.
//!
//! After a failed write or fsync the file's state is unknown (a failed fsync may have
//! dropped dirty pages), so the writer refuses every later batch with
//! [`Error::Stopped`] until the spool is reopened, which recovers the log from the disk.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::fs::{create, segment_path};
use crate::segment::HEADER_LEN;
use crate::state::Shared;
use crate::{Error, FsyncPolicy, Position, SpoolConfig};

/// The most framed bytes taken into one group: bounds the copy and one commit's latency.
const GROUP_BYTES: usize = 8 << 20;

/// One appender's batch, framed, and where to send its answer.
struct Request {
    /// The batch's records, framed back to back.
    frames: Vec<u8>,
    /// Receives the position of the batch's last record, or why it failed.
    reply: SyncSender<Result<Position, Error>>,
}

/// The handle appenders use; dropping it stops the writer thread (after a last fsync).
pub(crate) struct Writer {
    /// Where batches go; `None` once dropping.
    sender: Option<Sender<Request>>,
    /// The writer thread.
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread for the active segment `active`, of `len` bytes, starting
    /// at `start`.
    pub(crate) fn start(
        shared: Arc<Shared>,
        config: SpoolConfig,
        active: (File, Position, u64),
    ) -> Result<Writer, Error> {
        let (file, start, len) = active;
        let (sender, requests) = mpsc::channel();
        let dir = shared.dir.clone();
        let state = State {
            end: Position::new(start.get() + len - HEADER_LEN),
            shared,
            config,
            file,
            start,
            len,
            buf: Vec::new(),
            unsynced: false,
            last_sync: Instant::now(),
            stopped: None,
        };
        let thread = std::thread::Builder::new()
            .name("tocsin-spool-writer".to_owned())
            .spawn(move || state.run(&requests))
            .map_err(|e| Error::io("start the writer thread for", dir, None, e))?;
        Ok(Writer {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Hands a framed batch to the writer thread and waits until it is written (and durable
    /// as the policy says); returns the position of its last record.
    pub(crate) fn append(&self, frames: Vec<u8>) -> Result<Position, Error> {
        let (reply, answer) = mpsc::sync_channel(1);
        let sender = self.sender.as_ref().ok_or(Error::WriterGone)?;
        sender
            .send(Request { frames, reply })
            .map_err(|_| Error::WriterGone)?;
        answer.recv().map_err(|_| Error::WriterGone)?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.sender.take());
        if let Some(thread) = self.thread.take() {
            // A panic of the writer thread was already seen by appenders as `WriterGone`.
            let _ = thread.join();
        }
    }
}

/// The writer thread's state.
struct State {
    /// Shared with readers: the segments and the durable end.
    shared: Arc<Shared>,
    /// The spool's settings.
    config: SpoolConfig,
    /// The active (last) segment.
    file: File,
    /// The active segment's start.
    start: Position,
    /// The active segment's length on disk (written, maybe not yet synced).
    len: u64,
    /// Frames of the group waiting to be written to the active segment.
    buf: Vec<u8>,
    /// The position after everything written and buffered.
    end: Position,
    /// Whether something written is not yet fsynced (under `Interval`).
    unsynced: bool,
    /// When the last fsync finished.
    last_sync: Instant,
    /// The failure that stopped the writer, if one did.
    stopped: Option<Error>,
}

impl State {
    /// Commits groups until every appender handle is gone, then syncs what is left.
    fn run(mut self, requests: &Receiver<Request>) {
        while let Some(first) = self.next(requests) {
            let mut bytes = first.frames.len();
            let mut group = vec![first];
            while bytes < GROUP_BYTES {
                let Ok(request) = requests.try_recv() else {
                    break;
                };
                bytes += request.frames.len();
                group.push(request);
            }
            self.commit(group);
        }
        if self.unsynced && self.stopped.is_none() {
            // Nobody is left to hear of a failure; the next open recovers and syncs.
            let _ = self.sync();
        }
    }

    /// The next request, fsyncing meanwhile when an `Interval` comes due; `None` when the
    /// spool is closed.
    fn next(&mut self, requests: &Receiver<Request>) -> Option<Request> {
        loop {
            let Some(due) = self.sync_due() else {
                return requests.recv().ok();
            };
            match requests.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(request) => return Some(request),
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(error) = self.sync() {
                        self.stopped = Some(error);
                    }
                }
            }
        }
    }

    /// When the pending fsync of an `Interval` policy is due, if one is pending.
    fn sync_due(&self) -> Option<Instant> {
        match self.config.fsync {
            FsyncPolicy::Interval(interval) if self.unsynced && self.stopped.is_none() => {
                Some(self.last_sync + interval)
            }
            _ => None,
        }
    }

    /// Writes a group, makes it durable as the policy says, and answers every appender.
    fn commit(&mut self, group: Vec<Request>) {
        let result = match &self.stopped {
            Some(cause) => Err(Error::Stopped {
                cause: Box::new(cause.clone()),
            }),
            None => self.write_group(&group),
        };
        // An appender that stopped waiting does not need its answer: sends may fail.
        match result {
            Ok(positions) => {
                for (request, position) in group.into_iter().zip(positions) {
                    let _ = request.reply.send(Ok(position));
                }
            }
            Err(error) => {
                self.stopped.get_or_insert_with(|| error.clone());
                for request in group {
                    let _ = request.reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// Writes a group's batches, rolling segments as needed, then applies the policy;
    /// returns each batch's position.
    fn write_group(&mut self, group: &[Request]) -> Result<Vec<Position>, Error> {
        let mut positions = Vec::with_capacity(group.len());
        for request in group {
            let size = request.frames.len() as u64;
            let pending = self.len + self.buf.len() as u64;
            if pending > HEADER_LEN && pending + size > self.config.segment_size {
                self.roll()?;
            }
            self.buf.extend_from_slice(&request.frames);
            self.end = Position::new(self.end.get() + size);
            positions.push(self.end);
        }
        self.flush()?;
        self.apply_policy()?;
        Ok(positions)
    }

    /// Writes the buffered frames to the active segment.
    fn flush(&mut self) -> Result<(), Error> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.buf).map_err(|e| {
            let path = segment_path(&self.shared.dir, self.start);
            Error::io("write", path, Some(self.len), e)
        })?;
        self.len += self.buf.len() as u64;
        self.buf.clear();
        self.unsynced = true;
        Ok(())
    }

    /// Makes what was written durable as the policy says, and shows it to readers.
    fn apply_policy(&mut self) -> Result<(), Error> {
        match self.config.fsync {
            FsyncPolicy::Always => self.sync(),
            FsyncPolicy::Interval(interval) if self.last_sync.elapsed() >= interval => self.sync(),
            FsyncPolicy::Interval(_) => Ok(()),
            FsyncPolicy::Never => {
                self.shared.publish(self.end);
                Ok(())
            }
        }
    }

    /// fsyncs the active segment and moves the durable end to what it holds.
    fn sync(&mut self) -> Result<(), Error> {
        self.file.sync_data().map_err(|e| {
            let path = segment_path(&self.shared.dir, self.start);
            Error::io("fsync", path, None, e)
        })?;
        self.unsynced = false;
        self.last_sync = Instant::now();
        let written = Position::new(self.start.get() + self.len - HEADER_LEN);
        self.shared.publish(written);
        Ok(())
    }

    /// Ends the active segment (written and, unless the policy is `Never`, fsynced, so
    /// that only the last segment can ever hold a torn write) and begins the next.
    fn roll(&mut self) -> Result<(), Error> {
        self.flush()?;
        let sync = self.config.fsync != FsyncPolicy::Never;
        if sync {
            self.sync()?;
        }
        let start = Position::new(self.start.get() + self.len - HEADER_LEN);
        self.file = create(&self.shared.dir, start, sync)?;
        self.shared.add_segment(start);
        self.start = start;
        self.len = HEADER_LEN;
        Ok(())
    }
}
