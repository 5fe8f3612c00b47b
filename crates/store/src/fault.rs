//! The fault-injection test hook: `TOCSIN_FAULT_AFTER_COMMITS=N` aborts the process right
//! after the `N`th write an [`SqliteStore`](crate::SqliteStore) of this process commits, so
//! that end-to-end tests can check what a crash between any two writes leaves behind. Unset
//! (or not a number), it does nothing; it is read once per process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable naming the commit after which the process aborts.
pub const FAULT_AFTER_COMMITS: &str = "TOCSIN_FAULT_AFTER_COMMITS";

/// Writes committed so far by this process.
static COMMITS: AtomicU64 = AtomicU64::new(0);

/// Counts a committed write and aborts the process if it is the one the hook names.
pub(crate) fn after_commit() {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    let limit = LIMIT.get_or_init(|| {
        std::env::var(FAULT_AFTER_COMMITS)
            .ok()
            .and_then(|text| text.trim().parse().ok())
    });
    let Some(limit) = *limit else {
        return;
    };
    if COMMITS.fetch_add(1, Ordering::SeqCst) + 1 == limit {
        eprintln!("{FAULT_AFTER_COMMITS}={limit}: aborting after commit {limit} (test hook)");
        std::process::abort();
    }
}
