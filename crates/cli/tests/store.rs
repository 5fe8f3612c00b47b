//! End-to-end tests of the incident store under stress: a run killed between any two of
//! its writes, concurrent analysts, stores in states a hunt did not finish, read-only
//! stores. They run the real `tocsin` binary.

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{run, stderr, tocsin};
use tocsin_incident::{AlertKind, IncidentFilter, IncidentStore};
use tocsin_store::{SqliteStore, FAULT_AFTER_COMMITS};

/// Generates a small demo environment (8 days, so that the behavioural detector learns and
/// then flags the stolen key) in `dir`; returns its three logs.
fn demo_logs(dir: &Path) -> Vec<PathBuf> {
    let out = run(tocsin()
        .args(["demo", "--days", "8", "--workstations", "6", "-q", "--out"])
        .arg(dir));
    assert!(out.status.success(), "{}", stderr(&out));
    ["api-audit.jsonl", "appliance.log", "endpoints.jsonl"]
        .iter()
        .map(|name| dir.join(name))
        .collect()
}

/// `tocsin hunt LOGS --rules builtin --behaviour --store STORE`, quiet, output dropped.
fn behaviour_hunt(logs: &[PathBuf], store: &Path) -> Command {
    let mut command = tocsin();
    command
        .arg("hunt")
        .args(logs)
        .args([
            "--rules",
            "builtin",
            "--behaviour",
            "--quiet",
            "--output",
            "/dev/null",
        ])
        .arg("--store")
        .arg(store);
    command
}

/// What a store holds, comparably: every alert key with its kind, every listed incident
/// with its detections' keys, and whether a baseline is saved. (Not the baseline itself: a
/// rerun over the same logs feeds their events to the resumed baseline a second time.)
#[derive(Debug, PartialEq)]
struct Snapshot {
    alerts: BTreeMap<String, AlertKind>,
    incidents: BTreeMap<String, Vec<String>>,
    baseline: bool,
}

impl Snapshot {
    fn of(path: &Path) -> Snapshot {
        let store = SqliteStore::open(path).expect("the store opens");
        assert_eq!(store.integrity_check().expect("checked"), Ok(()));
        let alerts = store
            .all_alerts()
            .expect("alerts")
            .into_iter()
            .map(|a| (a.key, a.kind))
            .collect();
        let incidents = store
            .list_incidents(&IncidentFilter::default())
            .expect("incidents")
            .into_iter()
            .map(|i| (i.id, i.members.into_iter().map(|m| m.alert_key).collect()))
            .collect();
        let baseline = store
            .load_blob(tocsin_pipeline::BASELINE_BLOB)
            .expect("blob")
            .is_some();
        Snapshot {
            alerts,
            incidents,
            baseline,
        }
    }

    fn anomalies(&self) -> usize {
        self.alerts
            .values()
            .filter(|kind| **kind == AlertKind::Anomaly)
            .count()
    }
}

/// Issue 20, finding 3: a `hunt --behaviour --store` killed right after any of its store
/// writes, then rerun, ends with exactly what one clean run stores: no anomaly lost to a
/// baseline saved before them.
#[test]
fn a_behaviour_hunt_killed_after_any_write_then_rerun_stores_what_a_clean_run_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = demo_logs(&dir.path().join("demo"));
    let clean_store = dir.path().join("clean.db");
    let out = run(&mut behaviour_hunt(&logs, &clean_store));
    assert!(out.status.success(), "{}", stderr(&out));
    let clean = Snapshot::of(&clean_store);
    assert!(
        clean.anomalies() > 0,
        "the demo raises anomalies: {clean:?}"
    );
    assert!(!clean.incidents.is_empty());

    let mut killed_at = Vec::new();
    for n in 1..100 {
        let store = dir.path().join(format!("killed-{n}.db"));
        let out = run(behaviour_hunt(&logs, &store).env(FAULT_AFTER_COMMITS, n.to_string()));
        if out.status.success() {
            break;
        }
        assert!(
            stderr(&out).contains("aborting after commit"),
            "commit {n}: {}",
            stderr(&out)
        );
        killed_at.push(n);
        let rerun = run(&mut behaviour_hunt(&logs, &store));
        assert!(rerun.status.success(), "{}", stderr(&rerun));
        let after = Snapshot::of(&store);
        // Compared in parts, so that a failure names what differs without printing it all.
        let missing: Vec<_> = clean
            .alerts
            .iter()
            .filter(|(key, _)| !after.alerts.contains_key(*key))
            .collect();
        assert!(
            missing.is_empty(),
            "killed after commit {n}: lost {missing:?}"
        );
        assert_eq!(after.alerts.len(), clean.alerts.len(), "commit {n}");
        assert_eq!(after.incidents, clean.incidents, "killed after commit {n}");
        assert_eq!(after.baseline, clean.baseline, "killed after commit {n}");
    }
    assert!(killed_at.len() >= 2, "killed after {killed_at:?}");
}
