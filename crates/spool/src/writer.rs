//! Group commit: one thread writes for every appender. It takes all the batches waiting,
//! writes them with one `write` (one per segment, when the group crosses a roll), has them
//! made durable with one fsync (under `Always`, by the [`syncer`](crate::syncer) thread,
//! while it writes the next group), and only then is each appender answered with its
//! batch's position. An appender's batch is framed (and checksummed) on its own thread.
//!
//! What is written is shown to early readers at once, and to every reader once it is
//! durable (see [`Shared`]).
//!
//! After a failed write or fsync the file's state is unknown (a failed fsync may have
//! dropped dirty pages), so the writer refuses every later batch with
//! [`Error::Stopped`] until the spool is reopened, which recovers the log from the disk;
//! early readers waiting for records to become durable are told that they never will.

use std::fs::File;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::fs::{create, segment_path};
use crate::segment::HEADER_LEN;
use crate::state::Shared;
use crate::syncer::{self, Reply, Written};
use crate::{Error, FsyncPolicy, Position, SpoolConfig};

/// The most framed bytes taken into one group: bounds the copy and one commit's latency.
const GROUP_BYTES: usize = 8 << 20;

/// One appender's batch, framed, and where to send its answer.
struct Request {
    /// The batch's records, framed back to back.
    frames: Vec<u8>,
    /// Receives the position of the batch's last record, or why it failed.
    reply: Reply,
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
        let syncer = match config.fsync {
            FsyncPolicy::Always => Some(Syncer::start(&shared)?),
            FsyncPolicy::Interval(_) | FsyncPolicy::Never => None,
        };
        let state = State {
            end: Position::new(start.get() + len - HEADER_LEN),
            shared,
            config,
            file: Arc::new(file),
            syncer,
            start,
            len,
            buf: Vec::new(),
            unsynced: false,
            last_sync: Instant::now(),
            stopped: None,
        };
        let thread = std::thread::Builder::new()
            .name("tocsin-spool-writer".to_owned())
            .spawn(move || {
                // However the thread ends (the handle dropped, or a panic), nothing it has
                // not made durable will become so: consumers waiting for it are told.
                let _halt = HaltOnExit(Arc::clone(&state.shared));
                state.run(&requests);
            })
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

/// Tells readers, when the writer thread ends, that what it wrote and did not make
/// durable never will be.
pub(crate) struct HaltOnExit(pub(crate) Arc<Shared>);

impl Drop for HaltOnExit {
    fn drop(&mut self) {
        self.0.halt(Error::WriterGone);
    }
}

/// The fsync thread of the `Always` policy, and how groups reach it.
struct Syncer {
    /// Where written groups go; dropped to stop the thread.
    groups: Sender<Written>,
    /// The thread.
    thread: JoinHandle<()>,
}

impl Syncer {
    /// Starts the fsync thread.
    fn start(shared: &Arc<Shared>) -> Result<Syncer, Error> {
        let (groups, pending) = mpsc::channel();
        let shared = Arc::clone(shared);
        let dir = shared.dir.clone();
        let thread = std::thread::Builder::new()
            .name("tocsin-spool-sync".to_owned())
            .spawn(move || {
                // A panic here leaves the waiting groups without their fsync: readers
                // waiting for them are told.
                let _halt = HaltOnExit(Arc::clone(&shared));
                syncer::run(&shared, &pending);
            })
            .map_err(|e| Error::io("start the fsync thread for", dir, None, e))?;
        Ok(Syncer { groups, thread })
    }

    /// Stops the thread once everything handed to it is durable (or refused).
    fn finish(self) {
        drop(self.groups);
        // A panic there left appenders without an answer: they saw `WriterGone`.
        let _ = self.thread.join();
    }
}

/// The writer thread's state.
struct State {
    /// Shared with readers: the segments and the durable end.
    shared: Arc<Shared>,
    /// The spool's settings.
    config: SpoolConfig,
    /// The active (last) segment (shared with the fsync thread).
    file: Arc<File>,
    /// The fsync thread, under the `Always` policy.
    syncer: Option<Syncer>,
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
        if let Some(syncer) = self.syncer.take() {
            syncer.finish();
        }
        if self.unsynced && self.stopped.is_none() && self.shared.halted().is_none() {
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
                        self.shared.halt(error.clone());
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

    /// Writes a group, makes it durable as the policy says (or hands it to the fsync
    /// thread), and answers every appender (or leaves that to the fsync thread).
    fn commit(&mut self, group: Vec<Request>) {
        let stopped = self.stopped.clone().or_else(|| self.shared.halted());
        let result = match stopped {
            Some(cause) => Err(Error::Stopped {
                cause: Box::new(cause),
            }),
            None => self.write_group(&group).inspect_err(|error| {
                // The failure itself is kept, so that later refusals name it once.
                self.shared.halt(error.clone());
                self.stopped = Some(error.clone());
            }),
        };
        // An appender that stopped waiting does not need its answer: sends may fail.
        match result {
            Ok(positions) => {
                let replies = group.into_iter().map(|request| request.reply);
                self.acknowledge(replies.zip(positions).collect());
            }
            Err(error) => {
                for request in group {
                    let _ = request.reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// Answers a group's appenders now, or once the fsync thread made it durable.
    fn acknowledge(&mut self, replies: Vec<(Reply, Position)>) {
        let Some(syncer) = &self.syncer else {
            for (reply, position) in replies {
                let _ = reply.send(Ok(position));
            }
            return;
        };
        if let Err(mpsc::SendError(written)) = syncer.groups.send(self.written(replies, None)) {
            // The fsync thread is gone (it panicked): nothing more becomes durable.
            self.shared.halt(Error::WriterGone);
            for (reply, _) in written.replies {
                let _ = reply.send(Err(Error::WriterGone));
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
        crate::fault::write_all(&self.file, &self.buf).map_err(|e| {
            let path = segment_path(&self.shared.dir, self.start);
            Error::io("write", path, Some(self.len), e)
        })?;
        self.len += self.buf.len() as u64;
        self.buf.clear();
        self.unsynced = true;
        self.shared.publish_written(self.written_end());
        Ok(())
    }

    /// Makes what was written durable as the policy says, and shows it to readers.
    fn apply_policy(&mut self) -> Result<(), Error> {
        match self.config.fsync {
            // The fsync thread makes the group durable.
            FsyncPolicy::Always if self.syncer.is_some() => {
                self.unsynced = false;
                Ok(())
            }
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
        crate::fault::sync_data(&self.file).map_err(|e| {
            let path = segment_path(&self.shared.dir, self.start);
            Error::io("fsync", path, None, e)
        })?;
        self.unsynced = false;
        self.last_sync = Instant::now();
        self.shared.publish(self.written_end());
        Ok(())
    }

    /// Makes the active segment durable now: through the fsync thread when there is one
    /// (the only thread that fsyncs under `Always`, see the [`syncer`] module), waiting for
    /// it; else on this thread.
    fn sync_now(&mut self) -> Result<(), Error> {
        let Some(syncer) = &self.syncer else {
            return self.sync();
        };
        let (barrier, done) = mpsc::sync_channel(1);
        let written = self.written(Vec::new(), Some(barrier));
        syncer.groups.send(written).map_err(|_| Error::WriterGone)?;
        done.recv().map_err(|_| Error::WriterGone)??;
        self.unsynced = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// What was written to the active segment so far, for the fsync thread.
    fn written(
        &self,
        replies: Vec<(Reply, Position)>,
        barrier: Option<mpsc::SyncSender<Result<(), Error>>>,
    ) -> Written {
        Written {
            file: Arc::clone(&self.file),
            segment: self.start,
            end: self.written_end(),
            replies,
            barrier,
        }
    }

    /// The position after everything written to the active segment.
    fn written_end(&self) -> Position {
        Position::new(self.start.get() + self.len - HEADER_LEN)
    }

    /// Ends the active segment (written and, unless the policy is `Never`, fsynced, so
    /// that only the last segment can ever hold a torn write) and begins the next.
    fn roll(&mut self) -> Result<(), Error> {
        self.flush()?;
        let sync = self.config.fsync != FsyncPolicy::Never;
        if sync {
            self.sync_now()?;
        }
        let start = Position::new(self.start.get() + self.len - HEADER_LEN);
        self.file = Arc::new(create(&self.shared.dir, start, sync)?);
        self.shared.add_segment(start);
        self.start = start;
        self.len = HEADER_LEN;
        Ok(())
    }
}
