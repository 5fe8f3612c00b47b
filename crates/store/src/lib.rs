//! The tocsin stores: detections, incidents, their audit trail and other components' state
//! (behavioural baselines), behind the [`IncidentStore`](tocsin_incident::IncidentStore)
//! trait: [`SqliteStore`] in one SQLite file, [`MemoryStore`] in memory (for tests and a
//! service that does not persist).
//!
//! Neither decides incident policy: which stored incidents a regrouping absorbed and which
//! lifecycles pass on to their survivors is the incident crate's
//! [`SavePlan`](tocsin_incident::SavePlan), which both apply. Both run the incident crate's
//! conformance suite (`tests/conformance.rs`).
//!
//! # The SQLite store
//!
//! * [`SqliteStore::open`] creates the file on first use and applies the numbered migrations
//!   in `migrations/` (embedded with `include_str!`, version in `PRAGMA user_version`). A file
//!   that is not a tocsin store (checked with `PRAGMA application_id`) or was written by a
//!   newer tocsin is refused with an error naming it.
//! * Alerts are keyed by their stable detection key and inserted with `INSERT OR IGNORE`:
//!   rerunning a hunt stores nothing twice.
//! * [`SqliteStore::open_read_only`] reads a store without writing anything, even in a
//!   read-only folder (falling back to SQLite's `immutable` mode when the WAL index cannot
//!   be created and the WAL holds nothing unmerged); [`SqliteStore::open`] refuses a store
//!   it cannot write.
//! * Every write is one transaction and the journal is WAL, so a crash (even `SIGKILL`
//!   mid-hunt) leaves the store as it was after the last completed write.
//! * Saving a regrouping applies the incident crate's
//!   [`SavePlan`](tocsin_incident::SavePlan): incidents' computed part is rewritten but never
//!   their lifecycle, except when a survivor inherits one from an incident it absorbed; the
//!   audit trail is append-only, enforced by triggers.
//! * Test hook: with `TOCSIN_FAULT_AFTER_COMMITS=N` in its environment, a process aborts
//!   (`std::process::abort`, no destructor, no clean close) right after its store's `N`th
//!   committed write, so that tests can stop a real run between any two writes.
//!
//! ```
//! use tocsin_incident::IncidentStore;
//! let dir = tempfile::tempdir()?;
//! let mut store = tocsin_store::SqliteStore::open(dir.path().join("tocsin.db"))?;
//! store.save_blob("anomaly/baseline", b"learned")?;
//! assert_eq!(store.load_blob("anomaly/baseline")?.as_deref(), Some(&b"learned"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod fault;
mod memory;
mod read_only;
pub mod schema;
mod sqlite;
mod suppressions;
mod turn;

pub use error::{MemoryError, StoreError};
pub use fault::{FAULT_AFTER_COMMITS, FAULT_COMMIT_DELAY_MS};
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;
pub use turn::WriteTurn;

#[cfg(test)]
mod tests;
