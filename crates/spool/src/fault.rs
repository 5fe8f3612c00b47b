//! The fault-injection test hook for a disk that loses writes:
//! `TOCSIN_FAULT_SPOOL_FSYNC=N` makes the `N`th fsync of segment records by this process
//! fail as a failed writeback does (EIO), so that end-to-end tests can check what the
//! spool and the service do then (the appenders of the lost group are refused, the spool
//! halts, nothing acknowledged is lost). Unset (or not a number), it does nothing; it is
//! read once per process. [`fail_fsync_number`] arms it from a test in the same process.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable naming the fsync that fails.
pub const FAULT_SPOOL_FSYNC: &str = "TOCSIN_FAULT_SPOOL_FSYNC";

/// Segment fsyncs done (or failed) so far by this process.
static FSYNCS: AtomicU64 = AtomicU64::new(0);

/// The number of the fsync that fails (counted from one; zero: none).
fn armed() -> &'static AtomicU64 {
    static ARMED: OnceLock<AtomicU64> = OnceLock::new();
    ARMED.get_or_init(|| {
        let number = std::env::var(FAULT_SPOOL_FSYNC)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        AtomicU64::new(number)
    })
}

/// Makes the `number`th segment fsync from now on fail (zero: none), for every spool of
/// this process. For tests; a process that runs several spools at once cannot tell whose
/// fsync it is.
#[doc(hidden)]
pub fn fail_fsync_number(number: u64) {
    FSYNCS.store(0, Ordering::SeqCst);
    armed().store(number, Ordering::SeqCst);
}

/// `file.sync_data()`, unless this is the fsync the hook names.
pub(crate) fn sync_data(file: &File) -> io::Result<()> {
    let number = armed().load(Ordering::SeqCst);
    if number != 0 && FSYNCS.fetch_add(1, Ordering::SeqCst) + 1 == number {
        return Err(io::Error::other(format!(
            "injected writeback failure ({FAULT_SPOOL_FSYNC}={number}, a test hook)"
        )));
    }
    file.sync_data()
}
