//! Tests of what is particular to the SQLite store: its file (creation, migrations, refusing
//! other files), what survives a reopen or a killed writer, the triggers that keep the audit
//! trail append-only, and regroupings by the real grouper. The contract every store shares
//! is checked by the conformance suite (`tests/conformance.rs`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use rusqlite::Connection;
use tocsin_incident::{
    group, Alert, AlertKind, AlertOrigin, AttackCatalog, Entity, EntityKind, GroupingConfig,
    Incident, IncidentFilter, IncidentStore, Level, RuleRef, Stamp, Status,
};

use crate::schema::{APPLICATION_ID, LATEST_VERSION};
use crate::{SqliteStore, StoreError};

const MINUTE: i64 = 60_000_000;

fn alert(source: &str, record: u64, minute: i64, host: &str) -> Alert {
    let rule = RuleRef {
        id: "rule-1".into(),
        title: format!("Detection {record}"),
        level: Level::High,
        tags: vec!["attack.execution".into()],
        author: Some("tester".into()),
    };
    let origin = AlertOrigin {
        source: source.into(),
        record,
    };
    let entities = Entity::normalised(EntityKind::Host, host)
        .into_iter()
        .collect();
    let evidence = vec![("Computer".into(), host.into())];
    Alert::new(
        AlertKind::Sigma,
        rule,
        origin,
        Some(minute * MINUTE),
        entities,
        evidence,
    )
}

fn hunt() -> Vec<Alert> {
    vec![
        alert("a.evtx", 1, 0, "ws-1"),
        alert("a.evtx", 2, 5, "ws-1"),
        alert("a.evtx", 3, 6, "ws-2"),
    ]
}

fn grouped(alerts: &[Alert]) -> Vec<Incident> {
    group(alerts, &GroupingConfig::default(), &AttackCatalog::empty())
}

fn open_in(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("store.db")).unwrap()
}

/// How many tables, indexes or triggers of `store` have a name `LIKE` `pattern`.
fn tables_named(store: &SqliteStore, pattern: &str) -> i64 {
    store
        .conn_for_tests()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE ?1",
            [pattern],
            |row| row.get(0),
        )
        .unwrap()
}

const BY: Stamp<'static> = Stamp {
    actor: "ana",
    at_micros: 99,
};

#[test]
fn a_new_file_is_created_at_the_latest_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir);
    assert!(dir.path().join("store.db").is_file());
    assert_eq!(store.schema_version().unwrap(), LATEST_VERSION);
    assert_eq!(store.counts().unwrap(), [0, 0, 0, 0]);
    let mode: String = store
        .conn_for_tests()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn several_processes_may_create_the_same_store_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("shared.db");
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStore::open(&path).map(|s| s.schema_version()))
        })
        .collect();
    for opener in openers {
        let version = opener.join().expect("no panic").expect("opens");
        assert_eq!(version.expect("reads its version"), LATEST_VERSION);
    }
}

#[test]
fn a_reopened_store_keeps_alerts_incidents_audit_and_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let alerts = hunt();
    let incidents = grouped(&alerts);
    store.record_hunt(&alerts, &incidents).unwrap();
    let mut incident = incidents[0].clone();
    let change = incident.assign(Some("bob"), BY).unwrap();
    store.apply_change(&incident, &change).unwrap();
    store.save_blob("baseline", &[7]).unwrap();
    drop(store);
    let mut store = open_in(&dir);
    assert_eq!(store.all_alerts().unwrap(), alerts);
    assert_eq!(
        store.incident(&incident.id).unwrap(),
        Some(incident.clone())
    );
    assert_eq!(store.audit_of(&incident.id).unwrap(), [change]);
    assert_eq!(store.load_blob("baseline").unwrap(), Some(vec![7]));
    let again = store.put_alerts(&alerts[..1]).unwrap();
    assert_eq!((again.new, again.existing), (0, 1));
    assert_eq!(store.counts().unwrap(), [3, 2, 3, 1]);
}

#[test]
fn an_incident_absorbed_by_a_later_merge_is_marked_and_unlisted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let alerts = hunt();
    let before = grouped(&alerts);
    store.record_hunt(&alerts, &before).unwrap();
    let absorbed = before[1].id.clone();
    let mut bridge = alert("c.evtx", 1, 7, "ws-1");
    bridge
        .entities
        .extend(Entity::normalised(EntityKind::Host, "ws-2"));
    let mut all = alerts.clone();
    all.push(bridge);
    let after = grouped(&all);
    assert_eq!(after.len(), 1);
    store.record_hunt(&all, &after).unwrap();
    assert_eq!(
        store.merged_into(&absorbed).unwrap(),
        Some(after[0].id.clone())
    );
    let listed = store.list_incidents(&IncidentFilter::default()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(store.alerts_of(&after[0].id).unwrap().len(), 4);
}

#[test]
fn a_late_earlier_detection_renames_the_incident_and_its_lifecycle_follows() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let alerts = hunt();
    let before = grouped(&alerts);
    store.record_hunt(&alerts, &before).unwrap();
    let mut confirmed = before[0].clone();
    let change = confirmed.transition(Status::Confirmed, None, BY).unwrap();
    store.apply_change(&confirmed, &change).unwrap();
    let mut late = alerts.clone();
    late.push(alert("late.evtx", 1, -10, "ws-1"));
    let after = grouped(&late);
    assert_ne!(
        after[0].id, confirmed.id,
        "the late detection opens the incident now"
    );
    store.record_hunt(&late, &after).unwrap();
    let survivor = store.incident(&after[0].id).unwrap().unwrap();
    assert_eq!(survivor.lifecycle.status, Status::Confirmed);
    assert_eq!(
        store.merged_into(&confirmed.id).unwrap(),
        Some(after[0].id.clone())
    );
    assert_eq!(store.audit_of(&confirmed.id).unwrap(), [change]);
}

#[test]
fn a_change_to_an_unknown_incident_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let mut ghost = Incident::placeholder("INC-ghost");
    let change = ghost.add_note("hello", BY).unwrap();
    let error = store.apply_change(&ghost, &change).unwrap_err();
    assert!(
        matches!(error, StoreError::UnknownIncident { .. }),
        "{error}"
    );
    assert_eq!(store.counts().unwrap()[3], 0);
}

#[test]
fn the_audit_trail_cannot_be_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let alerts = hunt();
    let mut incident = grouped(&alerts).remove(0);
    store
        .record_hunt(&alerts, std::slice::from_ref(&incident))
        .unwrap();
    let change = incident.add_note("first look", BY).unwrap();
    store.apply_change(&incident, &change).unwrap();
    let conn = store.conn_for_tests();
    let error = conn
        .execute("UPDATE audit SET actor = 'mallory'", [])
        .unwrap_err();
    assert!(error.to_string().contains("append-only"), "{error}");
    assert!(conn.execute("DELETE FROM audit", []).is_err());
    assert_eq!(store.audit_of(&incident.id).unwrap(), [change]);
}

#[test]
fn a_removed_suppression_stays_removed_and_none_is_edited() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let added = store
        .add_suppression(&tocsin_incident::NewSuppression {
            rule_id: Some("r".into()),
            entity: None,
            reason: "benign".into(),
            added_by: "ana".into(),
            added_at_micros: 1,
            incident: None,
        })
        .unwrap();
    let conn = store.conn_for_tests();
    let edit = conn.execute("UPDATE suppressions SET rule_id = 'other'", []);
    assert!(edit.unwrap_err().to_string().contains("never edited"));
    assert!(conn.execute("DELETE FROM suppressions", []).is_err());
    let removal = tocsin_incident::Removal {
        by: "bo".into(),
        at_micros: 2,
    };
    assert!(store.remove_suppression(added.id, &removal).unwrap());
    let conn = store.conn_for_tests();
    let restore = conn.execute(
        "UPDATE suppressions SET removed_at = NULL, removed_by = NULL",
        [],
    );
    assert!(restore.unwrap_err().to_string().contains("stays removed"));
}

#[test]
fn an_old_store_is_migrated_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let alerts = hunt();
    {
        let mut old = SqliteStore::open_at_version(&path, 1).unwrap();
        assert_eq!(old.schema_version().unwrap(), 1);
        old.put_alerts(&alerts).unwrap();
        assert_eq!(tables_named(&old, "blobs"), 0);
    }
    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), LATEST_VERSION);
    assert_eq!(store.all_alerts().unwrap(), alerts);
    store.save_blob("x", b"y").unwrap();
}

/// A store written before alert keys had a scheme holds scheme-1 keys: the migration says
/// so, and a store created empty records nothing until a hunt writes into it.
#[test]
fn the_migration_marks_the_key_scheme_of_stored_detections() {
    let dir = tempfile::tempdir().unwrap();
    let old_path = dir.path().join("old.db");
    SqliteStore::open_at_version(&old_path, 2)
        .unwrap()
        .put_alerts(&hunt())
        .unwrap();
    let old = SqliteStore::open(&old_path).unwrap();
    let scheme = old.load_blob(tocsin_incident::KEY_SCHEME_BLOB).unwrap();
    assert_eq!(scheme.as_deref(), Some(&b"1"[..]));
    let empty_path = dir.path().join("empty.db");
    drop(SqliteStore::open_at_version(&empty_path, 2).unwrap());
    let empty = SqliteStore::open(&empty_path).unwrap();
    assert_eq!(
        empty.load_blob(tocsin_incident::KEY_SCHEME_BLOB).unwrap(),
        None
    );
}

/// Reading only never migrates: an older store is refused with what to do, a current one
/// is read, and writing through a read-only open fails.
#[test]
fn a_read_only_open_reads_but_never_migrates_or_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    SqliteStore::open_at_version(&path, 2)
        .unwrap()
        .put_alerts(&hunt())
        .unwrap();
    let refused = SqliteStore::open_read_only(&path).unwrap_err();
    assert!(
        matches!(refused, StoreError::NeedsMigration { found: 2, .. }),
        "{refused}"
    );
    drop(SqliteStore::open(&path).unwrap());
    let mut reader = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(reader.all_alerts().unwrap(), hunt());
    assert!(reader.save_blob("x", b"y").is_err());
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "this is not a database, just some text that is long enough ".repeat(20),
    )
    .unwrap();
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::NotAStore { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("notes.txt") && message.contains("not an SQLite database"),
        "{message}"
    );
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("this is not"));
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE recipes (name TEXT)")
        .unwrap();
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(
        error.to_string().contains("other.db is not a tocsin store"),
        "{error}"
    );
}

#[test]
fn a_store_from_a_newer_tocsin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(SqliteStore::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", LATEST_VERSION + 1)
        .unwrap();
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(error, StoreError::TooNew { found, .. } if found == LATEST_VERSION + 1));
    assert!(error.to_string().contains("new.db"));
    let id: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(id, APPLICATION_ID);
}

/// Environment variable naming the store the crash-test child writes to.
const CRASH_CHILD_STORE: &str = "TOCSIN_STORE_CRASH_CHILD";
/// Alerts per committed batch in the crash test.
const CRASH_BATCH: u64 = 100;

/// Not a test on its own: the child process of
/// [`a_killed_writer_leaves_a_consistent_store`], run only when that test spawns it.
#[test]
#[ignore = "helper process of a_killed_writer_leaves_a_consistent_store"]
fn crash_child_writer() {
    let Some(path) = std::env::var_os(CRASH_CHILD_STORE) else {
        return;
    };
    let mut store = SqliteStore::open(path).unwrap();
    for batch in 0..1_000_000u64 {
        let alerts: Vec<Alert> = (0..CRASH_BATCH)
            .map(|i| {
                let host = format!("ws-{batch}");
                alert("crash.evtx", batch * CRASH_BATCH + i, 0, &host)
            })
            .collect();
        store.record_hunt(&alerts, &grouped(&alerts)).unwrap();
        println!("committed {batch}");
    }
}

#[test]
fn a_killed_writer_leaves_a_consistent_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::crash_child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_STORE, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut committed = 0;
    for line in BufReader::new(stdout).lines() {
        if line.unwrap().starts_with("committed ") {
            committed += 1;
            if committed == 25 {
                break;
            }
        }
    }
    assert_eq!(committed, 25, "the child stopped before writing 25 batches");
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no clean close.
    child.wait().unwrap();

    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), Ok(()));
    let [alerts, incidents, memberships, audit] = store.counts().unwrap();
    let batch = i64::try_from(CRASH_BATCH).unwrap();
    assert!(
        alerts >= 25 * batch,
        "{alerts} alerts after 25 committed batches"
    );
    assert_eq!(alerts % batch, 0, "a batch was half written");
    assert_eq!(incidents * batch, alerts);
    assert_eq!(memberships, alerts);
    assert_eq!(audit, 0);
    for incident in store.list_incidents(&IncidentFilter::default()).unwrap() {
        assert_eq!(
            store.alerts_of(&incident.id).unwrap().len() as u64,
            CRASH_BATCH
        );
    }
    let again: Vec<Alert> = (0..CRASH_BATCH)
        .map(|i| alert("crash.evtx", i, 0, "ws-0"))
        .collect();
    let outcome = store.record_hunt(&again, &grouped(&again)).unwrap();
    assert_eq!((outcome.new, outcome.existing), (0, CRASH_BATCH as usize));
}

#[test]
fn a_writer_that_defers_checkpoints_leaves_the_log_to_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = open_in(&dir);
    writer.defer_checkpoints(16_384).unwrap();
    let pages: i64 = writer
        .conn_for_tests()
        .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
        .unwrap();
    assert_eq!(pages, 16_384);
    let main = dir.path().join("store.db");
    let size = || std::fs::metadata(&main).map(|m| m.len()).unwrap_or(0);
    let before = size();
    let many: Vec<Alert> = (0..8_000)
        .map(|record| alert("big.evtx", record, 1, "ws-1"))
        .collect();
    writer.put_alerts(&many).unwrap();
    assert_eq!(size(), before, "the commit stays in the log");
    // Another connection copies the log into the store; what was written reads back.
    let other = open_in(&dir);
    other.checkpoint().unwrap();
    assert!(
        size() > before,
        "the checkpoint copied the log into the store"
    );
    assert_eq!(other.all_alerts().unwrap().len(), many.len());
}

/// Schema 5 keys memberships by the alert's id: a store of schema 4 keeps which incident
/// holds each detection, in its order, and the order detections were stored in.
#[test]
fn memberships_keyed_by_alert_key_survive_the_migration_to_alert_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    let alerts = hunt();
    {
        let mut old = SqliteStore::open_at_version(&path, 4).unwrap();
        old.put_alerts(&alerts).unwrap();
        let conn = old.conn_for_tests();
        conn.execute(
            "INSERT INTO incidents (id, title, score, band, status, computed, lifecycle)
             VALUES ('INC-a', 'a', 1, 'low', 'new', '{}', '{}')",
            [],
        )
        .unwrap();
        // Placed in the reverse of the order they were stored.
        for (position, alert) in alerts.iter().rev().enumerate() {
            conn.execute(
                "INSERT INTO memberships (alert_key, incident_id, position) VALUES (?1, 'INC-a', ?2)",
                rusqlite::params![alert.key, position as i64],
            )
            .unwrap();
        }
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), LATEST_VERSION);
    let keys: Vec<&str> = alerts.iter().map(|a| a.key.as_str()).collect();
    let owners = store.memberships_of(&keys).unwrap();
    assert_eq!(owners.len(), alerts.len());
    assert!(owners.values().all(|owner| owner == "INC-a"));
    let reversed: Vec<Alert> = alerts.iter().rev().cloned().collect();
    assert_eq!(store.alerts_of("INC-a").unwrap(), reversed);
    assert_eq!(
        store.alerts_stored_after(1).unwrap(),
        Some(alerts[1..].to_vec())
    );
}

/// Schema 6 keeps detections unique by time and key: a detection stored again, timed or
/// untimed, is refused as the unique key refused it.
#[test]
fn a_detection_is_stored_once_timed_or_untimed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open_in(&dir);
    let mut untimed = alert("b.evtx", 9, 0, "ws-3");
    untimed = Alert::new(
        untimed.kind,
        untimed.rule.clone(),
        untimed.origin.clone(),
        None,
        untimed.entities.clone(),
        untimed.evidence.clone(),
    );
    let mut alerts = hunt();
    alerts.push(untimed);
    assert_eq!(store.store_alerts(&alerts).unwrap(), vec![true; 4]);
    assert_eq!(store.store_alerts(&alerts).unwrap(), vec![false; 4]);
    let mut shuffled = alerts.clone();
    shuffled.reverse();
    assert_eq!(store.store_alerts(&shuffled).unwrap(), vec![false; 4]);
    assert_eq!(store.all_alerts().unwrap().len(), 4);
}

/// Saves find their incidents' members by time and key (timed, untimed, or by key alone
/// for a member its incident's timeline leaves out), whole or sliced; a missing one is
/// refused; a read-only open finds memberships by key.
#[test]
fn saves_find_their_members_by_time_and_key() {
    for sliced in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let mut store = SqliteStore::open(&path).unwrap();
        if sliced {
            store.save_in_slices(std::sync::Arc::new(crate::WriteTurn::default()), 1);
        }
        let untimed = {
            let timed = alert("c.evtx", 9, 0, "ws-1");
            Alert::new(
                timed.kind,
                timed.rule.clone(),
                timed.origin.clone(),
                None,
                timed.entities.clone(),
                timed.evidence.clone(),
            )
        };
        let first: Vec<Alert> = hunt().into_iter().chain([untimed]).collect();
        store.put_alerts(&first).unwrap();
        store.save_incidents(&grouped(&first)).unwrap();
        let later: Vec<Alert> = (10..14)
            .map(|record| alert("c.evtx", record, 7, "ws-1"))
            .collect();
        store.put_alerts(&later).unwrap();
        let all: Vec<Alert> = first.iter().chain(&later).cloned().collect();
        let keys: Vec<&str> = all.iter().map(|a| a.key.as_str()).collect();
        {
            let reader = SqliteStore::open_read_only(&path).unwrap();
            assert_eq!(
                reader.memberships_of(&keys).unwrap().len(),
                first.len(),
                "sliced: {sliced}"
            );
        }
        let mut incidents = grouped(&all);
        // An incident not built by the grouping may leave a member off its timeline, or
        // give one another time than it was stored with: both are found by key.
        incidents[0].timeline.remove(0);
        if let Some(line) = incidents.iter_mut().find_map(|i| i.timeline.first_mut()) {
            line.at_micros = Some(1);
        }
        store.save_incidents(&incidents).unwrap();
        let owners = store.memberships_of(&keys).unwrap();
        assert_eq!(owners.len(), all.len(), "sliced: {sliced}");
        for incident in &incidents {
            let members: Vec<String> = store
                .alerts_of(&incident.id)
                .unwrap()
                .into_iter()
                .map(|a| a.key)
                .collect();
            let expected: Vec<String> = incident
                .members
                .iter()
                .map(|m| m.alert_key.clone())
                .collect();
            assert_eq!(members, expected, "sliced: {sliced}");
        }
        let unstored = alert("d.evtx", 1, 8, "ws-1");
        let refused = store.save_incidents(&grouped(&[unstored]));
        assert!(refused.is_err(), "sliced: {sliced}: {refused:?}");
    }
}

/// Schema 7 drops the key index schema 6 was first released with; the store's detections
/// and incidents stay, and later saves find their members.
#[test]
fn the_key_index_is_dropped_and_memberships_stay() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v6.db");
    let alerts = hunt();
    let incidents = grouped(&alerts);
    {
        let mut old = SqliteStore::open_at_version(&path, 6).unwrap();
        old.put_alerts(&alerts).unwrap();
        old.save_incidents(&incidents).unwrap();
        // The index as schema 6 was first released with it.
        old.conn_for_tests()
            .execute_batch(
                "CREATE TABLE alert_keys (key TEXT PRIMARY KEY NOT NULL, id INTEGER NOT NULL)
                     WITHOUT ROWID;
                 INSERT INTO alert_keys (key, id) SELECT key, id FROM alerts;
                 CREATE TABLE alert_keys_indexed (through INTEGER NOT NULL);
                 INSERT INTO alert_keys_indexed (through) SELECT max(id) FROM alerts;",
            )
            .unwrap();
    }
    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), LATEST_VERSION);
    assert_eq!(tables_named(&store, "alert_keys%"), 0);
    let members = |store: &SqliteStore| -> Vec<Vec<Alert>> {
        incidents
            .iter()
            .map(|incident| store.alerts_of(&incident.id).unwrap())
            .collect()
    };
    let before = members(&store);
    assert_eq!(before.concat().len(), alerts.len());
    let later = vec![alert("a.evtx", 4, 7, "ws-2")];
    store.put_alerts(&later).unwrap();
    let all: Vec<Alert> = alerts.iter().chain(&later).cloned().collect();
    store.save_incidents(&grouped(&all)).unwrap();
    let keys: Vec<&str> = all.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(store.memberships_of(&keys).unwrap().len(), all.len());
}

/// Saves find detections through the unique indexes of time and key, never by reading
/// every stored detection.
#[test]
fn lookups_by_time_and_key_use_the_unique_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir);
    let plan = |sql: &str| -> String {
        let conn = store.conn_for_tests();
        let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let unbound = vec![rusqlite::types::Null; statement.parameter_count()];
        let details: Vec<String> = statement
            .query_map(rusqlite::params_from_iter(unbound), |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        details.join("; ")
    };
    let timed = plan(crate::sqlite::ALERT_ID_AT);
    assert!(
        timed.starts_with("SEARCH alerts USING") && timed.contains("INDEX alerts_by_time"),
        "{timed}"
    );
    // Either index finds an untimed detection by its key (a null time sorts first in the
    // time index).
    let untimed = plan(crate::sqlite::ALERT_ID_UNTIMED);
    assert!(
        untimed.starts_with("SEARCH alerts USING")
            && (untimed.contains("INDEX alerts_untimed")
                || untimed.contains("INDEX alerts_by_time"))
            && untimed.contains("key=?"),
        "{untimed}"
    );
}

/// The log restarts when no connection reads an older state of the store, and a restart
/// that would have to wait for one gives up at once (the committer's turn is held meanwhile).
#[test]
fn a_log_restart_never_waits_for_a_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut writer = SqliteStore::open(&path).unwrap();
    let copier = SqliteStore::open(&path).unwrap();
    let batch = |from: u64| -> Vec<Alert> {
        (from..from + 50)
            .map(|record| alert("d.evtx", record, record as i64, "ws-1"))
            .collect()
    };
    writer.put_alerts(&batch(0)).unwrap();
    let reader = Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: i64 = reader
        .query_row("SELECT count(*) FROM alerts", [], |row| row.get(0))
        .unwrap();
    assert_eq!(seen, 50);
    writer.put_alerts(&batch(100)).unwrap();
    copier.checkpoint().unwrap();
    let started = std::time::Instant::now();
    assert!(
        !copier.restart_log().unwrap(),
        "a reader holds an older state"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    reader.execute_batch("COMMIT").unwrap();
    assert!(copier.restart_log().unwrap());
    writer.put_alerts(&batch(200)).unwrap();
    assert_eq!(writer.all_alerts().unwrap().len(), 150);
}
