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
//! Under `Always` this is the only thread that fsyncs segments: a roll hands the segment it
//! ends over as a barrier and waits for it ([`Written::barrier`]). Two threads fsyncing one
//! file could not both learn of a failed writeback (Linux reports it once per open file),
//! so one of them could take a lost page for a durable one.
//!
//! A failed fsync halts the spool (see [`Shared::halt`]): its groups and every later one
//! are refused with [`Error::Stopped`] (a later fsync of the same file could succeed
//! without the lost pages), and the writer refuses new batches. Groups handed over before
//! the writer itself failed (a write) are still made durable and acknowledged.

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
    /// For a segment's last group before a roll: told when the segment is durable (or why
    /// it never will be), so that the writer begins the next segment only then.
    pub(crate) barrier: Option<SyncSender<Result<(), Error>>>,
}

/// Fsyncs what the writer hands over, until the writer hangs up and everything handed over
/// is durable (or refused).
pub(crate) fn run(shared: &Shared, pending: &Receiver<Written>) {
    let mut failed: Option<Error> = None;
    while let Ok(first) = pending.recv() {
        let mut groups = vec![first];
        groups.extend(pending.try_iter());
        let result = match &failed {
            Some(cause) => Err(Error::Stopped {
                cause: Box::new(cause.clone()),
            }),
            None => sync_last(shared, &groups).inspect_err(|error| {
                failed = Some(error.clone());
            }),
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
    match crate::fault::sync_data(&last.file) {
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

/// Answers every appender (and barrier) of `groups` with `result`.
fn answer(groups: Vec<Written>, result: &Result<(), Error>) {
    // An appender that stopped waiting does not need its answer: sends may fail.
    for group in groups {
        for (reply, position) in group.replies {
            let _ = reply.send(result.clone().map(|()| position));
        }
        if let Some(barrier) = group.barrier {
            let _ = barrier.send(result.clone());
        }
    }
}
