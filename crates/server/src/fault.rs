//! The fault-injection test hook for a pipeline that falls behind, so that an end-to-end
//! test can show the back-pressure of the inputs without racing the consumer:
//!
//! - `TOCSIN_FAULT_JUDGE_GATE=PATH` makes the consumer wait, before it judges each batch of
//!   records, until a file exists at `PATH`. Until the test creates it, nothing is judged,
//!   so the backlog only grows; once it exists, the consumer goes on as usual.
//!
//! Unset (or empty), the hook does nothing; it is read once per process. A service stopped
//! while the gate is closed waits for it (the hook is for tests, which always open it).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable naming the gate file.
pub const FAULT_JUDGE_GATE: &str = "TOCSIN_FAULT_JUDGE_GATE";

/// How often a closed gate is looked at again.
const GATE_POLL: Duration = Duration::from_millis(20);

/// Waits until the gate named by [`FAULT_JUDGE_GATE`] is open (its file exists); returns at
/// once when the hook is not armed.
pub(crate) fn wait_at_judge_gate() {
    static GATE: OnceLock<Option<PathBuf>> = OnceLock::new();
    let gate = GATE.get_or_init(|| {
        std::env::var_os(FAULT_JUDGE_GATE)
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = gate {
        if !path.exists() {
            tracing::warn!(gate = %path.display(), "the judge waits at its test gate");
        }
        while !path.exists() {
            std::thread::sleep(GATE_POLL);
        }
    }
}
