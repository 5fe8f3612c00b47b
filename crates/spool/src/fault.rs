//! The fault-injection test hooks for a disk that loses writes, so that tests can check
//! what the spool and the service do then (the appenders of the lost group are refused, the
//! spool halts, nothing acknowledged is lost):
//!
//! - `TOCSIN_FAULT_SPOOL_FSYNC=N` makes the `N`th fsync of segment records by this process
//!   fail as a failed writeback does (EIO);
//! - `TOCSIN_FAULT_SPOOL_WRITE=N` makes the `N`th write of segment records (one per group
//!   of appends, and one more for each segment roll inside the group) write half its bytes
//!   and then fail as a full disk does (ENOSPC), leaving a torn record at the segment's end.
//!
//! Unset (or not a number), a hook does nothing; each is read once per process.
//! [`fail_fsync_number`] and [`fail_write_number`] arm them from a test in the same process.

use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable naming the fsync that fails.
pub const FAULT_SPOOL_FSYNC: &str = "TOCSIN_FAULT_SPOOL_FSYNC";

/// The environment variable naming the write that fails.
pub const FAULT_SPOOL_WRITE: &str = "TOCSIN_FAULT_SPOOL_WRITE";

/// One hook: which operation fails, and how many were done.
struct Hook {
    /// The environment variable that arms it.
    variable: &'static str,
    /// The number of the operation that fails (counted from one; zero: none), read from
    /// the variable on first use.
    armed: OnceLock<AtomicU64>,
    /// Operations done (or failed) so far by this process.
    done: AtomicU64,
}

impl Hook {
    /// The hook armed by `variable`.
    const fn new(variable: &'static str) -> Hook {
        Hook {
            variable,
            armed: OnceLock::new(),
            done: AtomicU64::new(0),
        }
    }

    /// The number of the operation that fails, read from the variable on first use.
    fn armed(&self) -> &AtomicU64 {
        self.armed.get_or_init(|| {
            let number = std::env::var(self.variable)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .unwrap_or(0);
            AtomicU64::new(number)
        })
    }

    /// Makes the `number`th operation from now on fail (zero: none).
    fn arm(&self, number: u64) {
        self.done.store(0, Ordering::SeqCst);
        self.armed().store(number, Ordering::SeqCst);
    }

    /// Counts one operation; `Some(n)` when it is the `n`th, the one that fails.
    fn fires(&self) -> Option<u64> {
        let number = self.armed().load(Ordering::SeqCst);
        (number != 0 && self.done.fetch_add(1, Ordering::SeqCst) + 1 == number).then_some(number)
    }
}

/// The hook of segment fsyncs.
static FSYNC: Hook = Hook::new(FAULT_SPOOL_FSYNC);

/// The hook of segment writes.
static WRITE: Hook = Hook::new(FAULT_SPOOL_WRITE);

/// Makes the `number`th segment fsync from now on fail (zero: none), for every spool of
/// this process. For tests; a process that runs several spools at once cannot tell whose
/// fsync it is.
#[doc(hidden)]
pub fn fail_fsync_number(number: u64) {
    FSYNC.arm(number);
}

/// Makes the `number`th segment write from now on fail halfway (zero: none), for every
/// spool of this process, as [`fail_fsync_number`] does for fsyncs.
#[doc(hidden)]
pub fn fail_write_number(number: u64) {
    WRITE.arm(number);
}

/// `file.sync_data()`, unless this is the fsync the hook names.
pub(crate) fn sync_data(file: &File) -> io::Result<()> {
    if let Some(number) = FSYNC.fires() {
        return Err(io::Error::other(format!(
            "injected writeback failure ({FAULT_SPOOL_FSYNC}={number}, a test hook)"
        )));
    }
    file.sync_data()
}

/// `file.write_all(bytes)`, unless this is the write the hook names: then the first half
/// of `bytes` is written and the disk is full.
pub(crate) fn write_all(mut file: &File, bytes: &[u8]) -> io::Result<()> {
    if let Some(number) = WRITE.fires() {
        file.write_all(&bytes[..bytes.len() / 2])?;
        return Err(io::Error::new(
            io::ErrorKind::StorageFull,
            format!("injected full disk after a partial write ({FAULT_SPOOL_WRITE}={number}, a test hook)"),
        ));
    }
    file.write_all(bytes)
}
