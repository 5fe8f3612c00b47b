//! The fault-injection test hooks of an [`SqliteStore`](crate::SqliteStore), each read once
//! per process and doing nothing when unset (or not a number):
//!
//! - `TOCSIN_FAULT_AFTER_COMMITS=N` aborts the process right after the `N`th write the
//!   process commits, so that end-to-end tests can check what a crash between any two
//!   writes leaves behind;
//! - `TOCSIN_FAULT_COMMIT_DELAY_MS=N` makes every write wait `N` milliseconds inside its
//!   transaction, its rows written and not yet committed, so that a test that kills the
//!   process at a moment of its own choosing catches it in the middle of a write, however
//!   fast the machine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable naming the commit after which the process aborts.
pub const FAULT_AFTER_COMMITS: &str = "TOCSIN_FAULT_AFTER_COMMITS";

/// The environment variable naming how long each write waits before it commits.
pub const FAULT_COMMIT_DELAY_MS: &str = "TOCSIN_FAULT_COMMIT_DELAY_MS";

/// Writes committed so far by this process.
static COMMITS: AtomicU64 = AtomicU64::new(0);

/// Counts a committed write and aborts the process if it is the one the hook names.
pub(crate) fn after_commit() {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    let limit = LIMIT.get_or_init(|| number_in(FAULT_AFTER_COMMITS));
    let Some(limit) = *limit else {
        return;
    };
    if COMMITS.fetch_add(1, Ordering::SeqCst) + 1 == limit {
        eprintln!("{FAULT_AFTER_COMMITS}={limit}: aborting after commit {limit} (test hook)");
        std::process::abort();
    }
}

/// Waits inside a write's open transaction as long as the hook asks.
pub(crate) fn before_commit() {
    static DELAY: OnceLock<Option<Duration>> = OnceLock::new();
    let delay = DELAY.get_or_init(|| number_in(FAULT_COMMIT_DELAY_MS).map(Duration::from_millis));
    if let Some(delay) = *delay {
        std::thread::sleep(delay);
    }
}

/// The number the environment variable `name` holds, if it holds one.
fn number_in(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|text| text.trim().parse().ok())
}
