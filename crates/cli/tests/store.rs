//! End-to-end tests of the incident store under stress: a run killed between any two of
//! its writes, concurrent analysts, stores in states a hunt did not finish, read-only
//! stores. They run the real `tocsin` binary.

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{run, stderr, sysmon_line, tocsin, WHOAMI_RULE};
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

/// A store holding one incident (one whoami detection, grouped); returns the store, the
/// log and the rule files' folder, and the incident's id.
fn store_with_one_incident(dir: &Path) -> (PathBuf, PathBuf, PathBuf, String) {
    let rules = dir.join("whoami.yml");
    std::fs::write(&rules, WHOAMI_RULE).expect("rule");
    let logs = dir.join("events.jsonl");
    std::fs::write(&logs, sysmon_line(1, "C:\\Windows\\System32\\whoami.exe")).expect("log");
    let store = dir.join("tocsin.db");
    let out = run(tocsin()
        .arg("hunt")
        .arg(&logs)
        .arg("--rules")
        .arg(&rules)
        .arg("--store")
        .arg(&store)
        .args(["--quiet", "--output", "/dev/null"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let opened = SqliteStore::open(&store).expect("store");
    let listed = opened
        .list_incidents(&IncidentFilter::default())
        .expect("incidents");
    assert_eq!(listed.len(), 1);
    let id = listed[0].id.clone();
    (store, logs, rules, id)
}

/// `tocsin incidents update ID --store STORE --by NAME ARGS...`, started, not awaited.
fn spawn_update(store: &Path, id: &str, by: &str, args: &[&str]) -> std::process::Child {
    tocsin()
        .args(["incidents", "update", id, "--by", by])
        .args(args)
        .arg("--store")
        .arg(store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// Issue 20, finding 4: two analysts adding notes and two moving the status at the same
/// moment, 30 times over: every note is kept, and every status record starts from the
/// state the one before it left.
#[test]
fn concurrent_updates_lose_nothing_and_keep_the_audit_trail_a_chain() {
    const ROUNDS: usize = 30;
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _, _, id) = store_with_one_incident(dir.path());
    let out = run(tocsin()
        .args([
            "incidents",
            "update",
            &id,
            "--by",
            "lead",
            "--status",
            "confirmed",
        ])
        .arg("--store")
        .arg(&store));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut moves = 0;
    for round in 0..ROUNDS {
        let to = if round % 2 == 0 {
            "contained"
        } else {
            "confirmed"
        };
        let notes = [format!("a-{round}"), format!("b-{round}")];
        let children = [
            spawn_update(&store, &id, "ana", &["--note", &notes[0]]),
            spawn_update(&store, &id, "bo", &["--note", &notes[1]]),
            spawn_update(&store, &id, "cy", &["--status", to]),
            spawn_update(&store, &id, "di", &["--status", to]),
        ];
        let outs: Vec<_> = children
            .into_iter()
            .map(|child| child.wait_with_output().expect("waited"))
            .collect();
        for out in &outs[..2] {
            assert!(out.status.success(), "round {round}: {}", stderr(out));
        }
        let moved = outs[2..].iter().filter(|o| o.status.success()).count();
        assert_eq!(moved, 1, "round {round}: exactly one of two moves to {to}");
        moves += moved;
    }
    let opened = SqliteStore::open(&store).expect("store");
    let incident = opened.incident(&id).expect("read").expect("the incident");
    let kept: Vec<&str> = incident
        .lifecycle
        .notes
        .iter()
        .map(|n| n.text.as_str())
        .collect();
    for round in 0..ROUNDS {
        for who in ["a", "b"] {
            let note = format!("{who}-{round}");
            assert!(kept.contains(&note.as_str()), "{note} lost: {kept:?}");
        }
    }
    assert_eq!(kept.len(), 2 * ROUNDS);
    let statuses: Vec<(String, String)> = opened
        .audit_of(&id)
        .expect("audit")
        .into_iter()
        .filter_map(|record| match record.change {
            tocsin_incident::Change::Status { from, to, .. } => {
                Some((from.to_string(), to.to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(statuses.len(), moves + 1, "{statuses:?}");
    for pair in statuses.windows(2) {
        assert_eq!(
            pair[1].0, pair[0].1,
            "a record starts from a state already left: {statuses:?}"
        );
    }
    assert_eq!(
        incident.lifecycle.status.to_string(),
        statuses[statuses.len() - 1].1
    );
}

/// `tocsin incidents SUBCOMMAND ARGS... --store STORE`, run to its end.
fn incidents(store: &Path, args: &[&str]) -> std::process::Output {
    run(tocsin()
        .arg("incidents")
        .args(args)
        .arg("--store")
        .arg(store))
}

/// Issue 20, finding 18: after a hunt stopped between storing its detections and grouping
/// them, `incidents list` says how many wait and how to group them, and `incidents
/// regroup` groups them.
#[test]
fn detections_left_ungrouped_are_announced_and_regrouped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, logs, rules, id) = store_with_one_incident(dir.path());
    let store = dir.path().join("stopped.db");
    // Commit 1 records the key scheme, commit 2 stores the detection; then the hunt dies.
    let out = run(tocsin()
        .arg("hunt")
        .arg(&logs)
        .arg("--rules")
        .arg(&rules)
        .arg("--store")
        .arg(&store)
        .args(["--quiet", "--output", "/dev/null"])
        .env(FAULT_AFTER_COMMITS, "2"));
    assert!(!out.status.success(), "{}", stderr(&out));
    let listed = incidents(&store, &["list"]);
    assert_eq!(listed.status.code(), Some(1), "{}", stderr(&listed));
    assert!(
        stderr(&listed).contains("1 detections are stored but not grouped yet")
            && stderr(&listed).contains("tocsin incidents regroup --store"),
        "{}",
        stderr(&listed)
    );
    let regrouped = incidents(&store, &["regroup"]);
    assert!(regrouped.status.success(), "{}", stderr(&regrouped));
    assert!(
        stderr(&regrouped).contains("1 incidents saved (1 new)"),
        "{}",
        stderr(&regrouped)
    );
    let listed = incidents(&store, &["list"]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    assert!(
        !stderr(&listed).contains("not grouped"),
        "{}",
        stderr(&listed)
    );
    assert!(
        common::stdout(&listed).contains(&id),
        "{}",
        common::stdout(&listed)
    );
}

/// A store an older tocsin wrote (schema version 2) is migrated by the first command that
/// reads it, when it can be written, and then listed.
#[test]
fn listing_an_older_store_migrates_it_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _, _, id) = store_with_one_incident(dir.path());
    // Back to schema version 2: memberships keyed by detection key (migrations 3 to 7 may
    // run again on what they made).
    let conn = rusqlite::Connection::open(&store).expect("store");
    conn.execute_batch(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE memberships_by_key (
             alert_key TEXT PRIMARY KEY NOT NULL REFERENCES alerts (key),
             incident_id TEXT NOT NULL REFERENCES incidents (id),
             position INTEGER NOT NULL);
         INSERT INTO memberships_by_key SELECT a.key, m.incident_id, m.position
             FROM memberships m JOIN alerts a ON a.id = m.alert_id;
         DROP TABLE memberships;
         ALTER TABLE memberships_by_key RENAME TO memberships;
         CREATE INDEX memberships_by_incident ON memberships (incident_id, position);
         PRAGMA user_version = 2;",
    )
    .expect("older store");
    drop(conn);
    let listed = incidents(&store, &["list"]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    assert!(common::stdout(&listed).contains(&id));
    let migrated = SqliteStore::open(&store).expect("store");
    assert_eq!(
        migrated.schema_version().expect("version"),
        tocsin_store::schema::LATEST_VERSION
    );
}

/// Runs `command` as an unprivileged user when this test runs as root (for whom permission
/// bits do not stop writes), through `setpriv`; `None` (with a loud skip, a failure under
/// CI) when that is impossible.
fn unprivileged(mut command: Command) -> Option<Command> {
    let root =
        std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if !root.unwrap_or(false) {
        return Some(command);
    }
    let setpriv = Path::new("/usr/bin/setpriv");
    if !setpriv.exists() {
        tocsin_testdata::skip_outside_ci(
            "running as root without setpriv: a read-only folder would not stop writes",
        );
        return None;
    }
    let mut wrapped = Command::new(setpriv);
    wrapped
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    command = wrapped;
    Some(command)
}

/// Issue 20, finding 18: a store in a read-only folder can be listed and shown, and a hunt
/// into it fails before it scans anything.
#[test]
fn a_store_in_a_read_only_folder_is_read_and_a_hunt_into_it_refused_first() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, logs, rules, id) = store_with_one_incident(dir.path());
    let before = std::fs::read(&store).expect("store bytes");
    let set_mode = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    for file in [&logs, &rules, &store] {
        set_mode(file, 0o644);
    }
    set_mode(dir.path(), 0o555);
    let with_store = |args: &[&str]| {
        let mut command = tocsin();
        command.args(args).arg("--store").arg(&store);
        unprivileged(command)
    };
    let Some(mut list) = with_store(&["incidents", "list"]) else {
        set_mode(dir.path(), 0o755);
        return;
    };
    let listed = run(&mut list);
    let Some(mut show) = with_store(&["incidents", "show", &id, "--format", "json"]) else {
        return;
    };
    let shown = run(&mut show);
    let Some(mut hunt) = with_store(&[
        "hunt",
        &logs.to_string_lossy(),
        "--rules",
        &rules.to_string_lossy(),
    ]) else {
        return;
    };
    let hunted = run(&mut hunt);
    // A read-only store file in a folder anyone may write.
    set_mode(dir.path(), 0o777);
    set_mode(&store, 0o444);
    let Some(mut into_file) = with_store(&[
        "hunt",
        &logs.to_string_lossy(),
        "--rules",
        &rules.to_string_lossy(),
    ]) else {
        return;
    };
    let into_file = run(&mut into_file);
    set_mode(dir.path(), 0o755);
    set_mode(&store, 0o644);
    assert_eq!(into_file.status.code(), Some(2), "{}", stderr(&into_file));
    assert!(
        stderr(&into_file).contains("cannot be written"),
        "{}",
        stderr(&into_file)
    );
    assert!(
        common::stdout(&into_file).is_empty(),
        "scanned before failing: {}",
        common::stdout(&into_file)
    );
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    assert!(
        common::stdout(&listed).contains(&id),
        "{}",
        common::stdout(&listed)
    );
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(common::stdout(&shown).contains(&id));
    assert_eq!(hunted.status.code(), Some(2), "{}", stderr(&hunted));
    assert!(
        stderr(&hunted).contains("cannot open the store"),
        "{}",
        stderr(&hunted)
    );
    assert!(
        common::stdout(&hunted).is_empty(),
        "scanned before failing: {}",
        common::stdout(&hunted)
    );
    assert_eq!(
        std::fs::read(&store).expect("store bytes"),
        before,
        "the store changed"
    );
}

/// Issue 20, finding 20: `--limit 0` is refused with the accepted range; a store error says
/// SQLite's message once; assigning the current assignee records nothing; `--by` defaults
/// to the user running tocsin when `$USER` and `$LOGNAME` are unset.
#[test]
fn store_smalls_limit_error_chain_no_op_assignment_and_default_actor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _, _, id) = store_with_one_incident(dir.path());

    let zero = incidents(&store, &["list", "--limit", "0"]);
    assert_eq!(zero.status.code(), Some(2), "{}", stderr(&zero));
    assert!(stderr(&zero).contains("--limit"), "{}", stderr(&zero));
    let one = incidents(&store, &["list", "--limit", "1", "--format", "json"]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));

    let assign = |by: &str| incidents(&store, &["update", &id, "--by", by, "--assign", "ana"]);
    assert!(assign("lead").status.success());
    let again = assign("lead");
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already assigned to ana"),
        "{}",
        stderr(&again)
    );
    let opened = SqliteStore::open(&store).expect("store");
    let assignments = opened
        .audit_of(&id)
        .expect("audit")
        .into_iter()
        .filter(|r| matches!(r.change, tocsin_incident::Change::Assigned { .. }))
        .count();
    assert_eq!(assignments, 1, "a no-op assignment was recorded");
    drop(opened);

    let anonymous = run(tocsin()
        .args(["incidents", "update", &id, "--note", "who am I"])
        .arg("--store")
        .arg(&store)
        .env_remove("USER")
        .env_remove("LOGNAME"));
    assert!(anonymous.status.success(), "{}", stderr(&anonymous));
    let out = common::stdout(&anonymous);
    assert!(
        out.contains("note: who am I (by ") && !out.contains("(by )"),
        "{out}"
    );

    // A damaged store: SQLite's message once, not three times.
    let damaged = dir.path().join("damaged.db");
    let mut bytes = std::fs::read(&store).expect("store bytes");
    assert!(bytes.len() > 4096, "{} bytes", bytes.len());
    for byte in &mut bytes[4096..] {
        *byte = 0xA5;
    }
    std::fs::write(&damaged, bytes).expect("damaged copy");
    let broken = incidents(&damaged, &["list"]);
    assert_eq!(broken.status.code(), Some(2), "{}", stderr(&broken));
    let message = stderr(&broken);
    assert_eq!(message.matches("malformed").count(), 1, "{message}");
}

/// Issue 15: closing an incident as a false positive and suppressing its pattern stops the
/// same pattern from opening another; the suppression is listed with who added it, and once
/// removed (its record kept) the pattern opens incidents again.
#[test]
fn a_suppressed_pattern_opens_no_incident_until_the_suppression_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _, rules, id) = store_with_one_incident(dir.path());
    let whoami = "C:\\Windows\\System32\\whoami.exe";
    // Each later run is days after the last (beyond the quiet gap): on its own, it would
    // open an incident of its own.
    let hunt_record = |record: u64| {
        let logs = dir.path().join(format!("later-{record}.jsonl"));
        let day = format!("2024-12-{:02}T10", 5 + 2 * record);
        let line = sysmon_line(record, whoami).replace("2024-12-05T10", &day);
        std::fs::write(&logs, line).expect("log");
        let out = run(tocsin()
            .arg("hunt")
            .arg(&logs)
            .arg("--rules")
            .arg(&rules)
            .arg("--store")
            .arg(&store)
            .args(["--output", "/dev/null"]));
        assert!(out.status.success(), "{}", stderr(&out));
        let listed = SqliteStore::open(&store)
            .expect("store")
            .list_incidents(&IncidentFilter::default())
            .expect("incidents");
        listed.len()
    };

    let unscoped = incidents(&store, &["suppress", "--reason", "why not", "--by", "ana"]);
    assert_eq!(unscoped.status.code(), Some(2));
    assert!(
        stderr(&unscoped).contains("names neither"),
        "{}",
        stderr(&unscoped)
    );

    let added = incidents(
        &store,
        &[
            "suppress",
            "--rule",
            "5b6a4ae1-0000-4000-8000-00000000c0de",
            "--entity",
            "host=WS-017",
            "--incident",
            &id,
            "--reason",
            "the help desk's daily inventory script",
            "--by",
            "ana",
        ],
    );
    assert_eq!(added.status.code(), Some(0), "{}", stderr(&added));
    assert!(common::stdout(&added).starts_with("suppression 1 added"));
    assert_eq!(
        hunt_record(2),
        1,
        "the suppressed pattern opened an incident"
    );

    let listed = incidents(&store, &["suppressions", "-f", "json"]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    let json: serde_json::Value =
        serde_json::from_str(&common::stdout(&listed)).expect("JSON list");
    assert_eq!(json[0]["added_by"], "ana");
    assert_eq!(json[0]["incident"], id.as_str());
    assert_eq!(json[0]["entity"]["value"], "ws-017");

    let removed = incidents(&store, &["unsuppress", "1", "--by", "bo"]);
    assert_eq!(removed.status.code(), Some(0), "{}", stderr(&removed));
    let again = incidents(&store, &["unsuppress", "1", "--by", "bo"]);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(incidents(&store, &["suppressions"]).status.code(), Some(1));
    let all = incidents(&store, &["suppressions", "--all"]);
    assert!(
        common::stdout(&all).contains("removed by bo"),
        "{}",
        common::stdout(&all)
    );
    assert_eq!(
        hunt_record(3),
        2,
        "without the suppression the pattern opens again"
    );
}
