//! The fsync stage of group commit under [`FsyncPolicy::Always`](crate::FsyncPolicy):
//! the writer thread writes each group and hands it here, and goes on writing the next
//! groups while this thread fsyncs. One fsync covers every group written to the file
//! before it, so the groups waiting when an fsync ends share the next one; each appender
//! is answered once its group is durable.
//!
//! Writing on while an fsync is in flight matters when an fsync is slow (a journal commit
//! of the file system that waits for other files' writes, such as the store's): what
//! arrives meanwhile is already written, so early readers
//! ([`Spool::read_written_from`](crate::Spool::read_written_from)) judge it during the
//! wait instead of after it.
//!
//! A failed fsync halts the spool (see [`Shared::halt`]): its group and every later one
//! are refused with [`Error::Stopped`], and the writer refuses new batches.

use std::fs::File;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use crate::fs::segment_path;
use crate::state::Shared;
use crate::{Error, Position};

/// Where an appender's answer goes: the position of its batch's last record, or why it
/// failed.
pub(crate) type Reply = SyncSender<Result<Position, Error>>;

/// A group written and waiting for its fsync.
pub(crate) struct Written {
    /// The segment it was written to.
    pub(crate) file: Arc<File>,
    /// That segment's start (for errors).
    pub(crate) segment: Position,
    /// The position after the group: durable once the fsync returns.
    pub(crate) end: Position,
    /// Each appender of the group, with its batch's position.
    pub(crate) replies: Vec<(Reply, Position)>,
}

/// Fsyncs what the writer hands over, until the writer hangs up and everything handed over
/// is durable (or refused).
pub(crate) fn run(shared: &Shared, pending: &Receiver<Written>) {
    while let Ok(first) = pending.recv() {
        let mut groups = vec![first];
        groups.extend(pending.try_iter());
        let result = match shared.halted() {
            Some(cause) => Err(Error::Stopped {
                cause: Box::new(cause),
            }),
            None => sync_last(shared, &groups),
        };
        answer(groups, &result);
    }
}

/// Fsyncs the file of the last group, which covers the earlier groups too (those written
/// to an earlier segment were fsynced when the writer rolled past it), and publishes the
/// durable end; a failure halts the spool.
fn sync_last(shared: &Shared, groups: &[Written]) -> Result<(), Error> {
    let Some(last) = groups.last() else {
        return Ok(());
    };
    match last.file.sync_data() {
        Ok(()) => {
            shared.publish(last.end);
            Ok(())
        }
        Err(e) => {
            let path = segment_path(&shared.dir, last.segment);
            let error = Error::io("fsync", path, None, e);
            shared.halt(error.clone());
            Err(error)
        }
    }
}

/// Answers every appender of `groups` with `result`.
fn answer(groups: Vec<Written>, result: &Result<(), Error>) {
    // An appender that stopped waiting does not need its answer: sends may fail.
    for (reply, position) in groups.into_iter().flat_map(|group| group.replies) {
        let _ = reply.send(result.clone().map(|()| position));
    }
}
