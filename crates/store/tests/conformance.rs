//! Runs the store conformance suite (`tocsin_incident::conformance`) on every store of this
//! crate: the SQLite store on a fresh temporary file per contract point (saving in one
//! transaction, and in slices), and the memory store. One test per contract point and store, so a failure names both; plus `run_all`,
//! which catches a point added to the suite but not listed here.

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use tocsin_incident::conformance::{self, Violation};
use tocsin_store::{MemoryStore, SqliteStore, WriteTurn};

/// Declares, in a module named `$store`, one test per contract point on stores from
/// `$make` (an expression giving a factory).
macro_rules! conformance_tests {
    ($store:ident, $make:expr, [$($point:ident),* $(,)?]) => {
        mod $store {
            use super::*;

            $(
                #[test]
                fn $point() -> Result<(), Violation> {
                    let (_keep, make) = $make;
                    conformance::$point(make)
                }
            )*

            #[test]
            fn run_all() -> Result<(), Violation> {
                let (_keep, make) = $make;
                conformance::run_all(make)
            }
        }
    };
}

/// A factory of empty SQLite stores, each in its own file of a temporary folder (returned
/// too, as the files live only as long as it).
fn sqlite_stores() -> (tempfile::TempDir, impl FnMut() -> SqliteStore) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let root: PathBuf = dir.path().to_path_buf();
    let mut made = 0;
    let make = move || {
        made += 1;
        SqliteStore::open(root.join(format!("store-{made}.db"))).expect("a new store opens")
    };
    (dir, make)
}

/// Like [`sqlite_stores`], with saves cut into slices of one detection (each incident its own
/// transaction), so that every contract point holds for a sliced save too.
fn sliced_sqlite_stores() -> (tempfile::TempDir, impl FnMut() -> SqliteStore) {
    let (dir, mut plain) = sqlite_stores();
    let turn = std::sync::Arc::new(WriteTurn::default());
    let make = move || {
        let mut store = plain();
        store.save_in_slices(turn.clone(), 1);
        store
    };
    (dir, make)
}

fn memory_stores() -> ((), fn() -> MemoryStore) {
    ((), MemoryStore::new)
}

macro_rules! every_store {
    ($($point:ident),* $(,)?) => {
        conformance_tests!(sqlite, sqlite_stores(), [$($point),*]);
        conformance_tests!(sliced_sqlite, sliced_sqlite_stores(), [$($point),*]);
        conformance_tests!(memory, memory_stores(), [$($point),*]);
    };
}

every_store!(
    put_alerts_is_idempotent,
    record_hunt_is_idempotent,
    a_refused_write_stores_nothing,
    all_alerts_are_oldest_first,
    memberships_and_states_describe_what_is_stored,
    saving_keeps_a_stored_lifecycle,
    an_absorbed_incident_points_at_its_survivor_which_inherits_its_lifecycle,
    an_absorbed_incident_brought_back_is_live_again,
    a_touched_survivor_keeps_its_own_lifecycle,
    an_incident_that_keeps_some_detections_is_not_absorbed,
    list_incidents_filters_orders_and_hides_absorbed_ones,
    alerts_of_follows_member_order,
    apply_change_to_an_unknown_incident_is_an_error,
    audit_of_is_oldest_first,
    blobs_are_saved_replaced_and_loaded,
    incidents_and_blobs_are_saved_together,
    update_incident_changes_what_is_stored_atomically,
    suppressions_are_added_listed_and_removed_once,
);
