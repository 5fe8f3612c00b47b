//! How a [`FileSpool`](crate::FileSpool) is tuned: when it fsyncs, where it rolls segments,
//! and how large a record may be.

use std::time::Duration;

/// When appended records are fsynced, which decides what an acknowledgement promises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync every group of batches before acknowledging any of them: an acknowledged
    /// record survives a process crash, a kernel crash and a power loss. The default.
    #[default]
    Always,
    /// Acknowledge once written to the operating system, and fsync at most this long
    /// after: an acknowledged record survives a process crash (`kill -9`), but a kernel
    /// crash or power loss may lose what was acknowledged in the last interval. A consumer
    /// still commits only fsynced records (it reads them once fsynced, or reads them early
    /// and waits), so it never commits a position that a power loss could take back.
    Interval(Duration),
    /// Never fsync (segment rolls and deletions neither): for tests and benchmarks only.
    /// A process crash loses nothing acknowledged; a power loss may lose anything.
    Never,
}

/// The settings of a [`FileSpool`](crate::FileSpool), fixed when it opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpoolConfig {
    /// When to fsync (and so what an acknowledgement means).
    pub fsync: FsyncPolicy,
    /// A segment file is closed and a new one begun once it would grow past this many
    /// bytes (a batch never spans two segments, so a larger batch gets a segment of its
    /// own). Retention deletes whole segments, so this is also its granularity.
    pub segment_size: u64,
    /// The largest record accepted by [`Spool::append`](crate::Spool::append), in bytes
    /// (at most `u32::MAX`, the framing's limit).
    pub max_record_size: u32,
}

impl Default for SpoolConfig {
    /// fsync always, 64 MiB segments, records up to 16 MiB.
    fn default() -> Self {
        SpoolConfig {
            fsync: FsyncPolicy::Always,
            segment_size: 64 << 20,
            max_record_size: 16 << 20,
        }
    }
}
