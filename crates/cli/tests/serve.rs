//! End-to-end tests of `tocsin serve`: the real binary on a loopback port, real HTTP
//! requests, the real SQLite store read back after the service stopped.

// Test code: helpers may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::serve::{agent, answer, config, get, gzip, patch, post, token, Launch, Server};
use common::{run, stderr, sysmon_line, tocsin, WHOAMI_RULE};
use tocsin_incident::IncidentStore;
use tocsin_store::SqliteStore;

#[test]
fn every_route_answers_each_role_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tokens: BTreeMap<&str, String> = ["admin", "analyst", "viewer", "ingest"]
        .into_iter()
        .map(|role| (role, token(&data, role)))
        .collect();
    let server = Server::start(&data, None);
    server.wait_ready();
    let event = sysmon_line(1, "C:\\Windows\\System32\\notepad.exe");
    // Route, method, and the status for: no token, a wrong token, admin, analyst, viewer, ingest.
    let table: [(&str, &str, [u16; 6]); 15] = [
        ("/healthz", "GET", [200, 200, 200, 200, 200, 200]),
        ("/readyz", "GET", [200, 200, 200, 200, 200, 200]),
        ("/metrics", "GET", [401, 401, 200, 200, 200, 403]),
        (
            "/api/v1/openapi.json",
            "GET",
            [401, 401, 200, 200, 200, 403],
        ),
        ("/api/v1/status", "GET", [401, 401, 200, 200, 200, 403]),
        ("/api/v1/incidents", "GET", [401, 401, 200, 200, 200, 403]),
        (
            "/api/v1/incidents/INC-000000000000",
            "GET",
            [401, 401, 404, 404, 404, 403],
        ),
        ("/api/v1/detections", "GET", [401, 401, 200, 200, 200, 403]),
        ("/api/v1/events", "POST", [401, 401, 200, 403, 403, 200]),
        ("/api/v1/rules", "GET", [401, 401, 200, 200, 200, 403]),
        (
            "/api/v1/rules/reload",
            "POST",
            [401, 401, 200, 403, 403, 403],
        ),
        (
            "/api/v1/incidents/INC-000000000000",
            "PATCH",
            [401, 401, 404, 404, 403, 403],
        ),
        (
            "/api/v1/incidents/INC-000000000000/audit",
            "GET",
            [401, 401, 404, 404, 404, 403],
        ),
        (
            "/api/v1/incidents/INC-000000000000/actions/none",
            "POST",
            [401, 401, 404, 404, 403, 403],
        ),
        ("/api/v1/actions", "GET", [401, 401, 200, 200, 200, 403]),
    ];
    let wrong = "tsn_000000000000_".to_owned() + &"0".repeat(64);
    for (path, method, expected) in table {
        let presented = [None, Some(wrong.as_str())]
            .into_iter()
            .chain(["admin", "analyst", "viewer", "ingest"].map(|r| Some(tokens[r].as_str())));
        for (token, want) in presented.zip(expected) {
            let got = match method {
                "GET" => get(&server, path, token),
                "PATCH" => patch(&server, path, token, r#"{"note": "seen"}"#),
                _ if path.contains("/actions/") => post(&server, path, token, b""),
                _ => post(&server, path, token, event.as_bytes()),
            };
            assert_eq!(
                got.status, want,
                "{method} {path} with {token:?}: {}",
                got.body
            );
            if path != "/metrics" {
                let _ = got.json(); // every answer but the Prometheus text is JSON
            }
            if want >= 400 {
                assert!(got.json()["error"].is_string(), "{}", got.body);
            }
        }
    }
    let openapi = get(&server, "/api/v1/openapi.json", Some(&tokens["viewer"])).json();
    assert_eq!(openapi["openapi"], "3.0.3");
    assert!(openapi["paths"]["/api/v1/events"]["post"].is_object());
    assert!(server.terminate().success());
}

#[test]
fn hostile_requests_get_a_json_4xx_and_the_service_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest = token(&data, "ingest");
    let viewer = token(&data, "viewer");
    let config = config(
        dir.path(),
        "[http]\nmax_body_bytes = 100000\nmax_decompressed_bytes = 200000\n",
    );
    let server = Server::start(&data, Some(&config));
    let events = "/api/v1/events";
    let cases: Vec<(&str, String, Vec<u8>, u16)> = vec![
        ("too large", events.into(), vec![b'{'; 100_001], 413),
        ("malformed JSON", events.into(), b"{\"a\": ".to_vec(), 400),
        (
            "invalid UTF-8",
            events.into(),
            b"{\"a\": \"\xff\xfe\"}".to_vec(),
            400,
        ),
        ("a bad array", events.into(), b"[{\"a\":1},".to_vec(), 400),
        ("no event", events.into(), b"\n\n".to_vec(), 400),
        (
            "an unknown format",
            format!("{events}?format=nope"),
            b"x".to_vec(),
            400,
        ),
        (
            "EVTX",
            format!("{events}?format=evtx"),
            b"ElfFile".to_vec(),
            400,
        ),
        (
            "a long input name",
            format!("{events}?input={}", "x".repeat(65)),
            b"{}".to_vec(),
            400,
        ),
        ("gzip bomb", events.into(), gzip(&vec![b' '; 200_001]), 413),
        (
            "damaged gzip",
            events.into(),
            gzip(b"{\"a\":1}")[..12].to_vec(),
            400,
        ),
        (
            "an unknown route",
            "/api/v1/nothing".into(),
            b"{}".to_vec(),
            404,
        ),
    ];
    for (what, path, body, want) in cases {
        let got = post(&server, &path, Some(&ingest), &body);
        assert_eq!(got.status, want, "{what}: {}", got.body);
        assert!(got.json()["error"].is_string(), "{what}: {}", got.body);
    }
    let wrong_method = get(&server, events, Some(&ingest));
    assert_eq!(wrong_method.status, 405, "{}", wrong_method.body);
    for query in [
        "limit=0",
        "limit=x",
        "limit=1001",
        "status=open",
        "min_band=huge",
        "since_micros=soon",
    ] {
        let got = get(
            &server,
            &format!("/api/v1/incidents?{query}"),
            Some(&viewer),
        );
        assert_eq!(got.status, 400, "{query}: {}", got.body);
    }
    let long_id = format!("/api/v1/incidents/{}", "A".repeat(10_000));
    assert_eq!(get(&server, &long_id, Some(&viewer)).status, 404);
    // A partly bad batch keeps its good lines and names the bad ones.
    let mixed = format!(
        "{}\nnot json\n{}\n",
        sysmon_line(1, "a.exe"),
        sysmon_line(2, "b.exe")
    );
    let got = post(&server, events, Some(&ingest), mixed.as_bytes()).json();
    assert_eq!(
        (got["accepted"].as_u64(), got["refused"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(got["refusals"][0]["line"], 2);
    let status = server.wait_drained(&viewer);
    assert_eq!(status["events_processed"], 2);
    assert_eq!(get(&server, "/healthz", None).status, 200);
    assert!(server.terminate().success());
}

/// The demo's logs, hunted as files and sent to the service over HTTP, give the same
/// detections (rule matches, correlation hits and behavioural anomalies) and the same
/// incidents.
#[test]
fn the_demo_sent_over_http_gives_the_detections_and_incidents_of_a_hunt() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(tocsin().args(["demo", "--quiet", "--out"]).arg(&demo));
    assert!(out.status.success(), "{}", stderr(&out));
    // The line-based logs (the session reports are XML, pulled from the reporting API).
    let logs = [
        ("api-audit.jsonl", "api-audit"),
        ("appliance.log", "appliance"),
        ("outbound-events.log", "outbound"),
        ("endpoints.jsonl", "json"),
    ];
    let hunted = dir.path().join("hunt.sqlite");
    let out = run(tocsin()
        .arg("hunt")
        .args(logs.map(|(file, _)| demo.join(file)))
        .args(["--rules", "builtin", "--behaviour", "--quiet", "--store"])
        .arg(&hunted)
        .args(["--output", "/dev/null"]));
    assert!(out.status.success(), "{}", stderr(&out));

    let data = dir.path().join("data");
    let ingest = token(&data, "ingest");
    let viewer = token(&data, "viewer");
    let server = Server::start(&data, None);
    // Sent as the appliance and the collectors would send them live: a day of each log at
    // a time, in time order. (The service judges a detection with what its detectors know
    // when it groups the detection: three weeks of one log sent before another's would
    // leave out correlations across the two, and the site's own networks learned from the
    // later one; README, familiar origins.)
    let days: Vec<BTreeMap<String, String>> = logs
        .iter()
        .map(|(file, _)| by_day(&std::fs::read_to_string(demo.join(file)).unwrap()))
        .collect();
    let all_days: BTreeSet<&String> = days.iter().flat_map(|d| d.keys()).collect();
    for day in all_days {
        for ((file, format), lines) in logs.iter().zip(&days) {
            let Some(body) = lines.get(day) else { continue };
            let path = format!("/api/v1/events?format={format}&input={file}");
            let sent = post(&server, &path, Some(&ingest), &gzip(body.as_bytes()));
            assert_eq!(sent.status, 200, "{file} {day}: {}", sent.body);
            assert_eq!(sent.json()["refused"], 0, "{file} {day}");
        }
    }
    let status = server.wait_drained(&viewer);
    assert_eq!(status["decode_errors"], 0, "{status}");
    let listed = get(&server, "/api/v1/incidents", Some(&viewer)).json();
    assert!(server.terminate().success());

    let hunt = stored(&hunted);
    let serve = stored(&data.join("store.sqlite"));
    assert!(hunt.detections.len() > 100, "{}", hunt.detections.len());
    let only = |a: &Stored, b: &Stored| -> Vec<String> {
        a.detections
            .iter()
            .filter(|(k, n)| b.detections.get(*k) != Some(*n))
            .map(|(k, n)| format!("{k:?}x{n}"))
            .collect()
    };
    assert_eq!(
        hunt.detections,
        serve.detections,
        "only in the hunt: {:?}; only in the service: {:?}",
        only(&hunt, &serve),
        only(&serve, &hunt)
    );
    assert_eq!(hunt.incidents, serve.incidents);
    assert_eq!(listed.as_array().unwrap().len(), serve.incidents.len());
}

/// The lines of `text` by UTC day (`YYYY-MM-DD`), in order: a line's day is the first time
/// it names (`when=` or `timestamp=` in epoch seconds, an ISO `"time"` or `SystemTime`); a
/// line naming none (an appliance message's later segment) goes with the line before it.
fn by_day(text: &str) -> BTreeMap<String, String> {
    let time = regex::Regex::new(
        r#"(?:when=|timestamp=)(\d{9,11})|"(?:time|SystemTime)":"(\d{4}-\d{2}-\d{2})"#,
    )
    .unwrap();
    let mut days: BTreeMap<String, String> = BTreeMap::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        if let Some(found) = time.captures(line) {
            if let Some(epoch) = found.get(1) {
                let seconds: i64 = epoch.as_str().parse().unwrap();
                let at = chrono::DateTime::from_timestamp(seconds, 0).unwrap();
                current = at.format("%Y-%m-%d").to_string();
            } else if let Some(date) = found.get(2) {
                current = date.as_str().to_owned();
            }
        }
        days.entry(current.clone()).or_default().push_str(line);
    }
    days
}

/// What a store holds, told without what names a source (a path for a hunt, an input and
/// a spool position for the service).
struct Stored {
    /// Each detection's kind, rule and time, counted.
    detections: BTreeMap<(String, String, Option<i64>), usize>,
    /// Each open incident's first and last time, severity band and detection count.
    incidents: BTreeSet<(Option<i64>, Option<i64>, String, usize)>,
}

fn stored(path: &Path) -> Stored {
    let store = SqliteStore::open_read_only(path).unwrap();
    let mut detections = BTreeMap::new();
    for alert in store.all_alerts().unwrap() {
        let kind = serde_json::to_value(alert.kind).unwrap().to_string();
        *detections
            .entry((kind, alert.rule.id.clone(), alert.timestamp_micros))
            .or_insert(0) += 1;
    }
    let incidents = store
        .list_incidents(&Default::default())
        .unwrap()
        .into_iter()
        .map(|i| {
            let band = serde_json::to_value(i.severity.band).unwrap().to_string();
            (
                i.first_seen_micros,
                i.last_seen_micros,
                band,
                i.members.len(),
            )
        })
        .collect();
    Stored {
        detections,
        incidents,
    }
}

/// The number of `kill -9` trials; `TOCSIN_KILL_TRIALS` runs more by hand.
fn kill_trials() -> usize {
    std::env::var("TOCSIN_KILL_TRIALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20)
}

/// Batches sent by the sender thread: the record ids of each, and whether it was
/// acknowledged.
#[derive(Default)]
struct Sent {
    attempted: BTreeSet<u64>,
    acknowledged: BTreeSet<u64>,
}

/// A whoami event with record id `id`, one microsecond after the one before it: the
/// events arrive in time order, as a live feed sends them, so that every grouping appends
/// to what the last one left. (Events of one time would make each batch's detections late
/// against the last batch's, placed by reading back what was stored after a checkpoint;
/// past the service's read-back limit, which a hundred trials reach, they are grouped
/// apart, by design not as a regrouping groups them.)
fn whoami_line(id: u64) -> String {
    let line = sysmon_line(id, "C:\\Windows\\System32\\whoami.exe");
    let micros = 12_000_001 + id;
    let time = format!(
        "2024-12-05T10:11:{:02}.{:06}Z",
        micros / 1_000_000,
        micros % 1_000_000
    );
    let common_time = "2024-12-05T10:11:12.000001Z";
    assert!(line.contains(common_time), "sysmon_line changed its time");
    line.replace(common_time, &time)
}

/// Sends batches of whoami events with fresh record ids until `stop`, recording what was
/// acknowledged; returns at the first failure (the service was killed).
fn send_until_failure(
    url: String,
    token: String,
    next: Arc<Mutex<u64>>,
    sent: Arc<Mutex<Sent>>,
    stop: Arc<AtomicBool>,
) {
    let agent = agent();
    while !stop.load(Ordering::Relaxed) {
        let ids: Vec<u64> = {
            let mut next = next.lock().unwrap();
            let ids = (*next..*next + 50).collect();
            *next += 50;
            ids
        };
        let body: Vec<String> = ids.iter().map(|&id| whoami_line(id)).collect();
        sent.lock().unwrap().attempted.extend(&ids);
        let result = agent
            .post(&url)
            .header("Authorization", format!("Bearer {token}"))
            .send(body.join("\n").as_bytes());
        match result {
            Ok(mut response) if response.status().as_u16() == 200 => {
                let _ = response.body_mut().read_to_string();
                sent.lock().unwrap().acknowledged.extend(&ids);
            }
            Ok(response) if response.status().as_u16() == 503 => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => return,
        }
    }
}

/// A service folder whose only rule detects whoami (behaviour off), with an ingest and a
/// viewer token.
struct WhoamiService {
    rule: PathBuf,
    config: PathBuf,
    data: PathBuf,
    ingest: String,
    viewer: String,
}

fn whoami_service(dir: &Path) -> WhoamiService {
    let rule = dir.join("whoami.yml");
    std::fs::write(&rule, WHOAMI_RULE).unwrap();
    let config = config(
        dir,
        &format!(
            "[detection]\nrules = [{:?}]\nbehaviour = false\n",
            rule.display().to_string()
        ),
    );
    let data = dir.join("data");
    let ingest = token(&data, "ingest");
    let viewer = token(&data, "viewer");
    WhoamiService {
        rule,
        config,
        data,
        ingest,
        viewer,
    }
}

/// How many detections the store of `data` holds of each event record id.
fn detections_by_record(data: &Path) -> BTreeMap<u64, usize> {
    let store = SqliteStore::open_read_only(data.join("store.sqlite")).unwrap();
    let mut detected = BTreeMap::new();
    for alert in store.all_alerts().unwrap() {
        let record = alert
            .evidence
            .iter()
            .find(|(name, _)| name == "EventRecordID")
            .unwrap();
        *detected.entry(record.1.parse().unwrap()).or_insert(0) += 1;
    }
    detected
}

/// kill -9 at random moments of an HTTP ingest: after each restart every acknowledged
/// event has its detection, and no event has two.
#[test]
fn kill_9_during_ingest_loses_no_acknowledged_event_and_duplicates_no_detection() {
    let dir = tempfile::tempdir().unwrap();
    let WhoamiService {
        rule,
        config,
        data,
        ingest,
        viewer,
    } = whoami_service(dir.path());
    let next = Arc::new(Mutex::new(1u64));
    let sent = Arc::new(Mutex::new(Sent::default()));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for trial in 0..kill_trials() {
        let server = Server::start(&data, Some(&config));
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let (url, token) = (server.url("/api/v1/events"), ingest.clone());
            let (next, sent, stop) = (Arc::clone(&next), Arc::clone(&sent), Arc::clone(&stop));
            std::thread::spawn(move || send_until_failure(url, token, next, sent, stop))
        };
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(20 + seed % 300));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        sender.join().unwrap();
        let acknowledged = sent.lock().unwrap().acknowledged.len();
        assert!(
            trial < 10 || acknowledged > 0,
            "nothing was acknowledged in {trial} trials"
        );
    }
    let server = Server::start(&data, Some(&config));
    server.wait_drained(&viewer);
    assert!(server.terminate().success());

    let detected = detections_by_record(&data);
    let sent = sent.lock().unwrap();
    let missing: Vec<_> = sent
        .acknowledged
        .iter()
        .filter(|id| !detected.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged without a detection: {} of {} (first {:?})",
        missing.len(),
        sent.acknowledged.len(),
        missing.first()
    );
    let twice: Vec<_> = detected.iter().filter(|(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "detected twice: {twice:?}");
    assert!(
        detected.keys().all(|id| sent.attempted.contains(id)),
        "a detection of an event never sent"
    );
    eprintln!(
        "{} trials: {} events acknowledged, {} detected (sent, not acknowledged, but durable: {})",
        kill_trials(),
        sent.acknowledged.len(),
        detected.len(),
        detected.len() - sent.acknowledged.len()
    );
    // Grouped after each crash from what the grouper left in the store: the incidents are
    // those a regrouping of every stored detection gives.
    let copy = dir.path().join("regrouped.sqlite");
    std::fs::copy(data.join("store.sqlite"), &copy).unwrap();
    for suffix in ["-wal", "-shm"] {
        let log = data.join(format!("store.sqlite{suffix}"));
        if log.exists() {
            std::fs::copy(&log, dir.path().join(format!("regrouped.sqlite{suffix}"))).unwrap();
        }
    }
    let out = run(tocsin()
        .args(["incidents", "regroup", "--store"])
        .arg(&copy)
        .arg("--rules")
        .arg(&rule));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stored(&data.join("store.sqlite")).incidents,
        stored(&copy).incidents
    );
}

/// A disk that loses a write under the service: the spool's fsync fails (the fault hook
/// `TOCSIN_FAULT_SPOOL_FSYNC`). The batch whose group it was is refused with a 503, the
/// service stops with an error naming the fsync (as a database stops rather than write on
/// over a lost page), and started again it has one detection of every event it
/// acknowledged.
#[test]
fn a_failed_spool_fsync_stops_the_service_and_loses_no_acknowledged_event() {
    a_failed_spool_operation_stops_the_service("TOCSIN_FAULT_SPOOL_FSYNC", "fsync");
}

/// A disk that fills up under the service: the spool's write of a batch stops halfway (the
/// fault hook `TOCSIN_FAULT_SPOOL_WRITE`), leaving a torn record. Nothing of it is
/// published, so the pipeline has nothing to wait for: it learns from the reader that the
/// spool halted, the service stops naming the write, and started again (the torn record
/// cut off) it has one detection of every event it acknowledged.
#[test]
fn a_failed_spool_write_stops_the_service_and_loses_no_acknowledged_event() {
    a_failed_spool_operation_stops_the_service("TOCSIN_FAULT_SPOOL_WRITE", "write");
}

/// The two tests above: the fourth `operation` of the spool fails through the hook `hook`.
fn a_failed_spool_operation_stops_the_service(hook: &str, operation: &str) {
    let dir = tempfile::tempdir().unwrap();
    let WhoamiService {
        config,
        data,
        ingest,
        viewer,
        ..
    } = whoami_service(dir.path());
    let server = Server::launch(
        &data,
        Launch {
            config: Some(&config),
            env: &[(hook, "4")],
            ..Launch::default()
        },
    );
    let mut acknowledged = BTreeSet::new();
    let mut refused = None;
    for batch in 0..20u64 {
        let ids: Vec<u64> = (batch * 50 + 1..=batch * 50 + 50).collect();
        let body: Vec<String> = ids.iter().map(|&id| whoami_line(id)).collect();
        let reply = post(
            &server,
            "/api/v1/events",
            Some(&ingest),
            body.join("\n").as_bytes(),
        );
        match reply.status {
            200 => acknowledged.extend(ids),
            _ => {
                refused = Some(reply);
                break;
            }
        }
    }
    let refused =
        refused.unwrap_or_else(|| panic!("the injected {operation} failure refused no batch"));
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(refused.json()["error"].is_string(), "{}", refused.body);
    assert_eq!(
        acknowledged.len(),
        150,
        "the fourth {operation} failed, not another"
    );

    let status = server.wait_exit(Duration::from_secs(60));
    assert!(
        !status.success(),
        "a service whose spool lost a write went on"
    );
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    let stopped = log
        .lines()
        .find(|line| line.contains("the pipeline stopped"))
        .unwrap_or_else(|| panic!("the service's log does not say why it stopped: {log}"));
    assert!(
        stopped.contains("the spool stopped")
            && stopped.contains(&format!(".seg: {operation}"))
            && stopped.contains(hook),
        "the service did not stop for its spool's failed {operation}: {stopped}"
    );

    let server = Server::start(&data, Some(&config));
    server.wait_drained(&viewer);
    let accepted = post(
        &server,
        "/api/v1/events",
        Some(&ingest),
        whoami_line(5_000).as_bytes(),
    );
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    server.wait_drained(&viewer);
    assert!(server.terminate().success());

    let detected = detections_by_record(&data);
    let missing: Vec<_> = acknowledged
        .iter()
        .filter(|id| !detected.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged without a detection: {missing:?}"
    );
    assert!(
        detected.values().all(|&n| n == 1),
        "detected twice: {detected:?}"
    );
    assert!(detected.contains_key(&5_000));
}

/// A pipeline that falls behind makes the HTTP input answer 503 with `Retry-After`
/// (nothing is taken that could not be kept), and the input takes events again once the
/// pipeline caught up. The judge is held at its test gate (`TOCSIN_FAULT_JUDGE_GATE`) until
/// the refusal is seen: a fast machine judges a batch while the spool fsyncs it, so
/// without the gate the backlog may be gone before the second request.
#[test]
fn a_pipeline_behind_makes_ingest_answer_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "[spool]\nmax_backlog_bytes = 1\n");
    let data = dir.path().join("data");
    let gate = dir.path().join("gate");
    let ingest = token(&data, "ingest");
    let viewer = token(&data, "viewer");
    let gate_path = gate.to_str().unwrap();
    let server = Server::launch(
        &data,
        Launch {
            config: Some(&config),
            env: &[("TOCSIN_FAULT_JUDGE_GATE", gate_path)],
            ..Launch::default()
        },
    );
    let lines: Vec<String> = (0..20_000)
        .map(|id| sysmon_line(id, "C:\\x\\notepad.exe"))
        .collect();
    let body = lines.join("\n");
    let first = post(&server, "/api/v1/events", Some(&ingest), body.as_bytes());
    assert_eq!(first.status, 200, "{}", first.body);
    let second = post(&server, "/api/v1/events", Some(&ingest), body.as_bytes());
    assert_eq!(second.status, 503, "{}", second.body);
    assert_eq!(second.retry_after.as_deref(), Some("1"));
    assert!(second.json()["error"].as_str().unwrap().contains("behind"));
    std::fs::write(&gate, b"open").unwrap();
    let drained = server.wait_drained(&viewer);
    assert_eq!(drained["events_processed"], 20_000);
    assert!(drained["backpressure_refusals"].as_u64().unwrap() >= 1);
    let third = post(
        &server,
        "/api/v1/events",
        Some(&ingest),
        lines[0].as_bytes(),
    );
    assert_eq!(third.status, 200, "{}", third.body);
    assert!(server.terminate().success());
}

/// Hunts `files` with the built-in rules and the behavioural detectors into a new store.
fn hunt_into_store(files: &[PathBuf], store: &Path) {
    let out = run(tocsin()
        .arg("hunt")
        .args(files)
        .args(["--rules", "builtin", "--behaviour", "--quiet", "--store"])
        .arg(store)
        .args(["--output", "/dev/null"]));
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The demo's appliance syslog sent over TCP, half octet-counted and half a message per
/// line, gives the detections and incidents of a hunt of the file.
#[test]
fn appliance_syslog_over_tcp_gives_the_hunts_detections() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(tocsin().args(["demo", "--quiet", "--out"]).arg(&demo));
    assert!(out.status.success(), "{}", stderr(&out));
    let log = demo.join("appliance.log");
    let hunted = dir.path().join("hunt.sqlite");
    hunt_into_store(std::slice::from_ref(&log), &hunted);

    let data = dir.path().join("data");
    let viewer = token(&data, "viewer");
    let config = config(dir.path(), "[syslog]\nformat = \"appliance\"\n");
    let server = Server::start_with(&data, Some(&config), &["--syslog-tcp", "127.0.0.1:0"]);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let addr = server.syslog_tcp.clone().unwrap();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    for line in first {
        write!(stream, "{} {line}", line.len()).unwrap();
    }
    drop(stream);
    // Two connections are read concurrently: the second is sent once the first is spooled,
    // so that the events reach the pipeline in time order, as from one appliance.
    wait_for(&server, &viewer, "syslog_messages", first.len() as u64);
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    for line in second {
        writeln!(stream, "{line}").unwrap();
    }
    drop(stream);
    wait_for(&server, &viewer, "syslog_messages", lines.len() as u64);
    let status = server.wait_drained(&viewer);
    assert_eq!(status["decode_errors"], 0, "{status}");
    assert!(server.terminate().success());
    let hunt = stored(&hunted);
    let serve = stored(&data.join("store.sqlite"));
    assert!(!hunt.detections.is_empty());
    assert_eq!(hunt.detections, serve.detections);
    assert_eq!(hunt.incidents, serve.incidents);
}

/// The message an appliance passed to syslog: from its `SITE:SEGMENT:TOTAL:` on, after
/// whichever header form (`BG[pid]:`, `BG:`, RFC 5424) the line has.
fn appliance_payload(line: &str) -> &str {
    let after = line.find("BG").map_or(line, |at| &line[at..]);
    let starts_payload = |i: usize| {
        let parts: Vec<&str> = after[i..].splitn(4, ':').collect();
        parts.len() == 4
            && parts[..3]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let at = (0..after.len())
        .filter(|&i| {
            after.is_char_boundary(i) && (i == 0 || !after.as_bytes()[i - 1].is_ascii_digit())
        })
        .find(|&i| starts_payload(i))
        .unwrap_or_else(|| panic!("no payload in {line}"));
    &after[at..]
}

/// Waits until a pipeline counter reaches `value`.
fn wait_for(server: &Server, token: &str, counter: &str, value: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = get(server, "/api/v1/status", Some(token)).json();
        let now = status["pipeline"][counter].as_u64().unwrap();
        if now >= value {
            assert_eq!(now, value, "{counter}");
            return;
        }
        assert!(Instant::now() < deadline, "{counter}: {now} of {value}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// util-linux's `logger`, a real syslog sender, over TCP (RFC 6587 octet counting) and UDP:
/// the appliance's messages it sends are decoded and detected as a hunt of the file does.
#[test]
fn logger_sends_over_tcp_and_udp() {
    if Command::new("logger").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "logger (util-linux) is missing; .ci/run installs it"
        );
        eprintln!("!!! SKIPPED logger_sends_over_tcp_and_udp: no logger (util-linux) !!!");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(tocsin().args(["demo", "--quiet", "--out"]).arg(&demo));
    assert!(out.status.success(), "{}", stderr(&out));
    // logger writes its own header (this host, now, the tag BG); the appliance's `when=`
    // keeps each event's time.
    let text = std::fs::read_to_string(demo.join("appliance.log")).unwrap();
    let payloads: Vec<&str> = text.lines().map(appliance_payload).collect();
    let file = dir.path().join("payloads.txt");
    std::fs::write(&file, payloads.join("\n") + "\n").unwrap();
    let data = dir.path().join("data");
    let viewer = token(&data, "viewer");
    let config = config(dir.path(), "[syslog]\nformat = \"appliance\"\n");
    let server = Server::start_with(
        &data,
        Some(&config),
        &["--syslog-tcp", "127.0.0.1:0", "--syslog-udp", "127.0.0.1:0"],
    );
    let send = |addr: &str, transport: &[&str], file: &Path| {
        let (host, port) = addr.rsplit_once(':').unwrap();
        let out = run(Command::new("logger")
            .args(transport)
            .args(["--rfc3164", "-t", "BG", "-n", host, "-P", port, "-f"])
            .arg(file));
        assert!(out.status.success(), "{}", stderr(&out));
    };
    send(
        server.syslog_tcp.as_deref().unwrap(),
        &["-T", "--octet-count"],
        &file,
    );
    wait_for(&server, &viewer, "syslog_messages", payloads.len() as u64);
    let udp_file = dir.path().join("udp.txt");
    std::fs::write(&udp_file, payloads[..20].join("\n") + "\n").unwrap();
    send(server.syslog_udp.as_deref().unwrap(), &["-d"], &udp_file);
    wait_for(
        &server,
        &viewer,
        "syslog_messages",
        payloads.len() as u64 + 20,
    );
    let status = server.wait_drained(&viewer);
    assert_eq!(status["decode_errors"], 0, "{status}");
    assert!(server.terminate().success());

    // Every rule match of the hunt, each at least once (the 20 repeated over UDP are
    // other events, at other spool positions).
    assert_serve_has_every_hunt_rule_match(&demo.join("appliance.log"), &data, dir.path());
}

/// Hunts `log` into a store in `work` and asserts that the service's store in `data`
/// holds each of the hunt's rule matches (rule and time) at least as many times.
fn assert_serve_has_every_hunt_rule_match(log: &Path, data: &Path, work: &Path) {
    let hunted = work.join("hunt.sqlite");
    hunt_into_store(&[log.to_path_buf()], &hunted);
    let rule_matches = |s: &Stored| -> BTreeMap<(String, Option<i64>), usize> {
        s.detections
            .iter()
            .filter(|((kind, _, _), _)| kind == "\"sigma\"")
            .map(|((_, rule, at), n)| ((rule.clone(), *at), *n))
            .collect()
    };
    let hunt = rule_matches(&stored(&hunted));
    assert!(!hunt.is_empty());
    let served = rule_matches(&stored(&data.join("store.sqlite")));
    for (key, n) in hunt {
        assert!(
            served.get(&key).is_some_and(|&m| m >= n),
            "{key:?}: {n} vs {:?}",
            served.get(&key)
        );
    }
}

/// rsyslog, the syslog daemon of most Linux machines, as the relay between an appliance and
/// the service: `logger` sends the demo's appliance messages to rsyslog over TCP, and
/// rsyslog's `omfwd` forwards each one twice, over plain TCP and over TLS (RFC 5425, with a
/// client certificate), both octet-counted. Every message arrives by both ways, and the
/// rule matches are the hunt's.
#[test]
fn rsyslog_forwards_over_tcp_and_tls() {
    let Some(rsyslogd) = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .into_iter()
        .find(|path| Path::new(path).exists())
    else {
        tocsin_testdata::skip_outside_ci(
            "rsyslogd is missing (apt install rsyslog rsyslog-gnutls)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(tocsin().args(["demo", "--quiet", "--out"]).arg(&demo));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(demo.join("appliance.log")).unwrap();
    let payloads: Vec<&str> = text.lines().map(appliance_payload).collect();
    let file = dir.path().join("payloads.txt");
    std::fs::write(&file, payloads.join("\n") + "\n").unwrap();

    let pki = pki(dir.path());
    let data = dir.path().join("data");
    let viewer = token(&data, "viewer");
    let config = config(
        dir.path(),
        &format!(
            "[syslog]\nformat = \"appliance\"\ntls_listen = \"127.0.0.1:0\"\n[syslog.tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n",
            pki.server_cert.display().to_string(),
            pki.server_key.display().to_string(),
            pki.ca_file.display().to_string(),
        ),
    );
    let server = Server::start_with(&data, Some(&config), &["--syslog-tcp", "127.0.0.1:0"]);
    let port = |addr: &str| addr.rsplit_once(':').unwrap().1.to_owned();
    let tcp = port(server.syslog_tcp.as_deref().unwrap());
    let tls = port(server.syslog_tls.as_deref().unwrap());
    let work = dir.path().join("rsyslog");
    std::fs::create_dir(&work).unwrap();
    let conf = work.join("rsyslog.conf");
    // rsyslog listens on a port the system picks and writes it there: a port picked here
    // and let go first could be taken by another test before rsyslog binds it.
    let relay_port = work.join("relay.port");
    let path = |p: &Path| p.display().to_string();
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{work}"
       defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}"
       defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{relay_port}")
action(type="omfwd" target="127.0.0.1" port="{tcp}" protocol="tcp" TCP_Framing="octet-counted")
action(type="omfwd" target="127.0.0.1" port="{tls}" protocol="tcp" TCP_Framing="octet-counted"
       StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
       StreamDriverPermittedPeers="localhost")
"#,
            work = path(&work),
            relay_port = path(&relay_port),
            ca = path(&pki.ca_file),
            cert = path(&pki.client_cert),
            key = path(&pki.client_key),
        ),
    )
    .unwrap();
    let mut daemon = Command::new(rsyslogd)
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(work.join("rsyslogd.pid"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(work.join("rsyslogd.log")).unwrap())
        .spawn()
        .unwrap();
    // rsyslog listens, and names its port, once it has read its configuration.
    let deadline = Instant::now() + Duration::from_secs(20);
    let relay = loop {
        let named = std::fs::read_to_string(&relay_port).unwrap_or_default();
        if let Ok(port) = named.trim().parse::<u16>() {
            if port != 0 && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break port;
            }
        }
        if Instant::now() >= deadline {
            let log = std::fs::read_to_string(work.join("rsyslogd.log")).unwrap_or_default();
            panic!("rsyslogd does not listen: {log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let sent = run(Command::new("logger")
        .args([
            "-T",
            "--octet-count",
            "--rfc3164",
            "-t",
            "BG",
            "-n",
            "127.0.0.1",
            "-P",
        ])
        .arg(relay.to_string())
        .arg("-f")
        .arg(&file));
    assert!(sent.status.success(), "{}", stderr(&sent));
    wait_for(
        &server,
        &viewer,
        "syslog_messages",
        2 * payloads.len() as u64,
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
    let status = server.wait_drained(&viewer);
    assert_eq!(status["decode_errors"], 0, "{status}");
    assert_eq!(
        status["syslog_messages"],
        2 * payloads.len() as u64,
        "{status}"
    );
    assert!(server.terminate().success());

    assert_serve_has_every_hunt_rule_match(&demo.join("appliance.log"), &data, dir.path());
}

/// Rules reload without a restart, on SIGHUP and through the API, while events keep
/// arriving: no event is lost, the new rules judge what comes after, and a set that cannot
/// be used is refused with the running one kept.
#[test]
fn rules_reload_under_load_loses_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("whoami.yml"), WHOAMI_RULE).unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[detection]\nrules = [{:?}]\nbehaviour = false\n",
            rules.display().to_string()
        ),
    );
    let data = dir.path().join("data");
    let ingest = token(&data, "ingest");
    let admin = token(&data, "admin");
    let server = Server::start(&data, Some(&config));
    let notepad = WHOAMI_RULE
        .replace("whoami.exe", "notepad.exe")
        .replace("Whoami", "Notepad")
        .replace(
            "5b6a4ae1-0000-4000-8000-00000000c0de",
            "5b6a4ae1-0000-4000-8000-00000000beef",
        );
    // The sender sends half its batches, then waits until the new rule set is running,
    // so that the new rule has events to judge however fast or slow the machine is; the
    // reload comes once some events were judged by the old set.
    let swapped = Arc::new(AtomicBool::new(false));
    let sender = {
        let (url, token) = (server.url("/api/v1/events"), ingest.clone());
        let swapped = Arc::clone(&swapped);
        std::thread::spawn(move || {
            let agent = agent();
            for batch in 0..40u64 {
                if batch == 20 {
                    let deadline = Instant::now() + Duration::from_secs(120);
                    while !swapped.load(Ordering::SeqCst) {
                        assert!(Instant::now() < deadline, "the new rules never ran");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                let lines: Vec<String> = (0..100)
                    .map(|i| {
                        let image = if i % 2 == 0 {
                            "C:\\w\\whoami.exe"
                        } else {
                            "C:\\w\\notepad.exe"
                        };
                        sysmon_line(batch * 100 + i, image)
                    })
                    .collect();
                let response = agent
                    .post(&url)
                    .header("Authorization", format!("Bearer {token}"))
                    .send(lines.join("\n").as_bytes())
                    .unwrap();
                assert_eq!(response.status().as_u16(), 200);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while server.pipeline(&admin)["events_processed"]
        .as_u64()
        .unwrap_or(0)
        < 100
    {
        assert!(Instant::now() < deadline, "no event was judged");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::write(rules.join("notepad.yml"), &notepad).unwrap();
    let pid = server.pid().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&server, "/api/v1/rules", Some(&admin)).json()["generation"] != 2 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The set is queued; the pipeline takes it between two steps.
    while server.pipeline(&admin)["rules"] != 2 {
        assert!(
            Instant::now() < deadline,
            "the pipeline never took the new rules"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    swapped.store(true, Ordering::SeqCst);
    std::fs::write(rules.join("broken.yml"), "title: [unclosed\n").unwrap();
    let reloaded = post(&server, "/api/v1/rules/reload", Some(&admin), b"").json();
    assert_eq!(reloaded["generation"], 3);
    assert_eq!(reloaded["rules"], 2);
    assert!(
        reloaded["problems"][0]
            .as_str()
            .unwrap()
            .contains("broken.yml"),
        "{reloaded}"
    );
    std::fs::remove_file(rules.join("whoami.yml")).unwrap();
    std::fs::remove_file(rules.join("notepad.yml")).unwrap();
    let refused = post(&server, "/api/v1/rules/reload", Some(&admin), b"");
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.json()["error"]
        .as_str()
        .unwrap()
        .contains("no rule"));
    assert_eq!(
        get(&server, "/api/v1/rules", Some(&admin)).json()["generation"],
        3
    );
    sender.join().unwrap();
    let status = server.wait_drained(&admin);
    assert_eq!(status["events_processed"], 4000);
    assert!(server.terminate().success());

    let store = SqliteStore::open_read_only(data.join("store.sqlite")).unwrap();
    let alerts = store.all_alerts().unwrap();
    let whoami = alerts
        .iter()
        .filter(|a| a.rule.title.contains("Whoami"))
        .count();
    let notepad = alerts
        .iter()
        .filter(|a| a.rule.title.contains("Notepad"))
        .count();
    assert_eq!(
        whoami, 2000,
        "every whoami event is detected, before and after the reloads"
    );
    assert!(
        notepad > 0 && notepad < 2000,
        "the new rule judges what came after it: {notepad}"
    );
}

/// Two inputs that interleave out of time order (within the configured tolerance) give the
/// correlations and behavioural detectors the order a hunt gives them.
#[test]
fn events_out_of_order_within_the_tolerance_are_judged_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(tocsin().args(["demo", "--quiet", "--out"]).arg(&demo));
    assert!(out.status.success(), "{}", stderr(&out));
    let log = demo.join("appliance.log");
    let hunted = dir.path().join("hunt.sqlite");
    hunt_into_store(std::slice::from_ref(&log), &hunted);

    let data = dir.path().join("data");
    let ingest = token(&data, "ingest");
    let viewer = token(&data, "viewer");
    // Thirty days of tolerance: the blocks below are hours apart in the demo. What is held
    // goes after five quiet seconds, not one: a loaded machine may pause that long
    // between the two blocks of a pair, which would release the later block first.
    let config = config(
        dir.path(),
        "[detection]\nreorder_seconds = 2592000\nreorder_idle_ms = 5000\n",
    );
    let server = Server::start(&data, Some(&config));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let blocks: Vec<&[&str]> = lines.chunks(100).collect();
    for pair in blocks.chunks(2) {
        for (index, block) in pair.iter().enumerate().rev() {
            let input = if index == 0 {
                "appliance-a"
            } else {
                "appliance-b"
            };
            let path = format!("/api/v1/events?format=appliance&input={input}");
            let sent = post(&server, &path, Some(&ingest), block.join("\n").as_bytes());
            assert_eq!(sent.status, 200, "{}", sent.body);
        }
    }
    server.wait_drained(&viewer);
    assert!(server.terminate().success());
    let hunt = stored(&hunted);
    let serve = stored(&data.join("store.sqlite"));
    assert!(hunt
        .detections
        .keys()
        .any(|(kind, _, _)| kind.contains("anomaly")));
    assert_eq!(hunt.detections, serve.detections);
    assert_eq!(hunt.incidents, serve.incidents);
}

/// A local HTTP receiver that records the requests it gets and answers 200.
struct Receiver {
    addr: String,
    got: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start() -> Receiver {
        Receiver::failing_first(0)
    }

    /// A receiver that answers 500 to its first `failures` requests.
    fn failing_first(failures: usize) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&got);
        std::thread::spawn(move || {
            for (index, stream) in listener.incoming().flatten().enumerate() {
                let request = read_request(&stream);
                record.lock().unwrap().push(request);
                let mut stream = stream;
                let answer: &[u8] = match index < failures {
                    true => b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy",
                    false => b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nrevoked",
                };
                let _ = stream.write_all(answer);
            }
        });
        Receiver { addr, got }
    }
}

/// A request's head and body (by its Content-Length), as text.
fn read_request(stream: &std::net::TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    let _ = std::io::Read::read_exact(&mut reader, &mut body);
    head + "\r\n" + &String::from_utf8_lossy(&body)
}

/// Analysts work an incident through the API: status, assignee and notes go into its audit
/// trail under their token's name; a response action that needs approval waits for a
/// second person, then calls the vendor (a local receiver) with the incident's entities in
/// its templates, and the result is recorded.
#[test]
fn analysts_update_incidents_and_run_approved_actions() {
    let receiver = Receiver::start();
    std::env::set_var("TOCSIN_TEST_VENDOR_TOKEN", "s3cret");
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("whoami.yml");
    std::fs::write(&rule, WHOAMI_RULE).unwrap();
    let config = config(
        dir.path(),
        &format!(
            r#"[detection]
rules = [{rule:?}]
behaviour = false

[[actions]]
name = "isolate-host"
approval = true
[actions.http]
url = "http://{addr}/hosts/{{{{entity.host}}}}/isolate"
headers = {{ Authorization = "Bearer ${{TOCSIN_TEST_VENDOR_TOKEN}}" }}
body = '{{"incident": "{{{{incident.id}}}}", "why": "{{{{param.why}}}}"}}'

[[actions]]
name = "revoke-key"
command = ["echo", "{{{{entity.api_key}}}}"]
"#,
            rule = rule.display().to_string(),
            addr = receiver.addr
        ),
    );
    let data = dir.path().join("data");
    let ingest = token(&data, "ingest");
    let alice = token(&data, "analyst");
    let bob = token(&data, "analyst");
    let viewer = token(&data, "viewer");
    let server = Server::start(&data, Some(&config));
    let event = sysmon_line(7, "C:\\Windows\\System32\\whoami.exe");
    assert_eq!(
        post(&server, "/api/v1/events", Some(&ingest), event.as_bytes()).status,
        200
    );
    server.wait_drained(&viewer);
    let listed = get(&server, "/api/v1/incidents", Some(&viewer)).json();
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    let incident = format!("/api/v1/incidents/{id}");

    let changed = patch(
        &server,
        &incident,
        Some(&alice),
        r#"{"status": "investigating", "assignee": "alice", "note": "looking"}"#,
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.json()["changes"].as_array().unwrap().len(), 3);
    let refused = patch(&server, &incident, Some(&alice), r#"{"status": "closed"}"#);
    assert_eq!(refused.status, 409, "{}", refused.body);
    let wrong = patch(&server, &incident, Some(&alice), r#"{"colour": "red"}"#);
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert_eq!(
        patch(&server, &incident, Some(&viewer), r#"{"note": "x"}"#).status,
        403
    );

    let asked = post(
        &server,
        &format!("{incident}/actions/isolate-host"),
        Some(&alice),
        br#"{"params": {"why": "stolen \"key\""}}"#,
    );
    assert_eq!(asked.status, 200, "{}", asked.body);
    assert_eq!(asked.json()["state"], "awaiting-approval");
    assert!(
        receiver.got.lock().unwrap().is_empty(),
        "nothing is sent before approval"
    );
    let run = asked.json()["id"].as_i64().unwrap();
    let approve = format!("/api/v1/actions/runs/{run}/approve");
    assert_eq!(
        post(&server, &approve, Some(&alice), b"").status,
        409,
        "the requester cannot approve"
    );
    assert_eq!(post(&server, &approve, Some(&viewer), b"").status, 403);
    let approved = post(&server, &approve, Some(&bob), b"");
    assert_eq!(approved.status, 200, "{}", approved.body);
    assert_eq!(approved.json()["state"], "succeeded", "{}", approved.body);
    assert_eq!(
        post(&server, &approve, Some(&bob), b"").status,
        409,
        "a run is approved once"
    );
    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("POST /hosts/ws-017.corp.example/isolate HTTP/1.1"),
        "{}",
        got[0]
    );
    assert!(
        got[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer s3cret"),
        "{}",
        got[0]
    );
    assert!(
        got[0].ends_with(&format!(
            r#"{{"incident": "{id}", "why": "stolen \"key\""}}"#
        )),
        "{}",
        got[0]
    );

    let no_key = post(
        &server,
        &format!("{incident}/actions/revoke-key"),
        Some(&alice),
        b"",
    );
    assert_eq!(no_key.status, 409, "{}", no_key.body);
    assert!(no_key.json()["error"]
        .as_str()
        .unwrap()
        .contains("entity.api_key"));

    let audit = get(&server, &format!("{incident}/audit"), Some(&viewer)).json();
    let text = audit.to_string();
    assert!(
        text.contains("awaiting a second person") && text.contains("succeeded: HTTP 200: revoked"),
        "{text}"
    );
    assert!(text.contains("approved by analyst (token"), "{text}");
    assert!(!text.contains("s3cret"), "no secret in the audit trail");
    let actions = get(&server, "/api/v1/actions", Some(&viewer)).json();
    assert_eq!(actions["actions"].as_array().unwrap().len(), 2);
    assert!(
        !actions.to_string().contains("s3cret"),
        "headers are not listed"
    );
    assert!(server.terminate().success());
}

/// Webhooks announce an incident that opens and one that changes status, signed with the
/// hook's secret, and a failed delivery is retried and shown.
#[test]
fn webhooks_are_signed_retried_and_listed() {
    let receiver = Receiver::failing_first(1);
    std::env::set_var("TOCSIN_TEST_WEBHOOK_SECRET", "hush");
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("whoami.yml");
    std::fs::write(&rule, WHOAMI_RULE).unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[detection]\nrules = [{:?}]\nbehaviour = false\n\n[[webhooks]]\nname = \"soc\"\nurl = \"http://{}/hook\"\nsecret_env = \"TOCSIN_TEST_WEBHOOK_SECRET\"\n",
            rule.display().to_string(),
            receiver.addr
        ),
    );
    let data = dir.path().join("data");
    let ingest = token(&data, "ingest");
    let analyst = token(&data, "analyst");
    let server = Server::start(&data, Some(&config));
    let event = sysmon_line(9, "C:\\Windows\\System32\\whoami.exe");
    assert_eq!(
        post(&server, "/api/v1/events", Some(&ingest), event.as_bytes()).status,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let delivered = |server: &Server| {
        let listed = get(server, "/api/v1/webhooks", Some(&analyst)).json();
        listed["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["state"] == "delivered")
            .count()
    };
    while delivered(&server) < 1 {
        assert!(Instant::now() < deadline, "the opening was not delivered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = get(&server, "/api/v1/incidents", Some(&analyst)).json()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = patch(
        &server,
        &format!("/api/v1/incidents/{id}"),
        Some(&analyst),
        r#"{"status": "confirmed"}"#,
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    while delivered(&server) < 2 {
        assert!(
            Instant::now() < deadline,
            "the status change was not delivered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let listed = get(&server, "/api/v1/webhooks", Some(&analyst)).json();
    let first = listed["deliveries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (first["event"].as_str(), first["attempts"].as_u64()),
        (Some("incident.opened"), Some(2)),
        "{listed}"
    );
    assert!(server.terminate().success());

    let got = receiver.got.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        3,
        "one failed attempt, its retry, the status change"
    );
    for request in &got {
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        let signature = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("x-tocsin-signature: ")
                    .map(str::to_owned)
            })
            .unwrap();
        assert_eq!(
            signature.trim(),
            format!(
                "sha256={}",
                tocsin_server::webhooks::sign(b"hush", body.as_bytes())
            )
        );
        let payload: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["incident"]["id"], id);
    }
    assert!(
        got[2].contains("incident.status_changed") && got[2].contains(r#""status":"confirmed""#),
        "{}",
        got[2]
    );
}

/// Detections are forwarded to another SIEM as CEF lines over syslog UDP.
#[test]
fn detections_are_forwarded_as_cef() {
    let siem = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    siem.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("whoami.yml");
    std::fs::write(&rule, WHOAMI_RULE).unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[detection]\nrules = [{:?}]\nbehaviour = false\n\n[forward]\ncef_udp = \"{}\"\n",
            rule.display().to_string(),
            siem.local_addr().unwrap()
        ),
    );
    let data = dir.path().join("data");
    let ingest = token(&data, "ingest");
    let server = Server::start(&data, Some(&config));
    let events = [
        sysmon_line(1, "C:\\Windows\\System32\\whoami.exe"),
        sysmon_line(2, "C:\\Windows\\System32\\notepad.exe"),
    ];
    let sent = post(
        &server,
        "/api/v1/events",
        Some(&ingest),
        events.join("\n").as_bytes(),
    );
    assert_eq!(sent.status, 200, "{}", sent.body);
    let mut buffer = [0u8; 4096];
    let (len, _) = siem.recv_from(&mut buffer).unwrap();
    let line = String::from_utf8_lossy(&buffer[..len]).into_owned();
    assert!(
        line.starts_with("CEF:0|tocsin|tocsin|")
            && line.contains("|5b6a4ae1-0000-4000-8000-00000000c0de|Whoami Execution|8|"),
        "{line}"
    );
    assert!(
        line.contains("dhost=ws-017.corp.example") && line.contains("cat=sigma"),
        "{line}"
    );
    let rt = 1_733_393_472_000u64; // 2024-12-05T10:11:12Z, the event's time, in milliseconds
    assert!(line.contains(&format!("rt={rt}")), "{line}");
    assert!(server.terminate().success());
}

/// A test CA, a server certificate for localhost and 127.0.0.1, and a client certificate.
struct Pki {
    ca_pem: String,
    ca_der: rustls::pki_types::CertificateDer<'static>,
    server_cert: PathBuf,
    server_key: PathBuf,
    ca_file: PathBuf,
    client_der: rustls::pki_types::CertificateDer<'static>,
    client_key_der: Vec<u8>,
    /// The client certificate and key as PEM files, for senders configured by file.
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut server_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["appliance.example".to_string()]).unwrap();
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server_cert: write("server.pem", server.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        ca_file: write("ca.pem", ca.pem()),
        client_der: client.der().clone(),
        client_key_der: client_key.serialize_der(),
        client_cert: write("client.pem", client.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}

/// Sends syslog lines over TLS, with the client certificate or without one; whether the
/// server took the handshake.
fn send_over_tls(addr: &str, pki: &Pki, with_certificate: bool, lines: &[&str]) -> bool {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match with_certificate {
        true => {
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.client_key_der.clone()));
            builder
                .with_client_auth_cert(vec![pki.client_der.clone()], key)
                .unwrap()
        }
        false => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let socket = std::net::TcpStream::connect(addr).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(connection, socket);
    let mut sent = true;
    for line in lines {
        sent &= write!(tls, "{} {line}", line.len()).is_ok();
    }
    sent &= tls.flush().is_ok();
    // TLS 1.3 reports a refused client certificate only on the next read.
    let mut buffer = [0u8; 1];
    let refused = matches!(std::io::Read::read(&mut tls, &mut buffer), Err(e) if e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut);
    tls.conn.send_close_notify();
    let _ = tls.flush();
    sent && !refused
}

/// The API over HTTPS with a given certificate, and syslog over TLS (RFC 5425) that
/// requires a client certificate signed by the configured CA.
#[test]
fn the_api_and_syslog_speak_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let config = config(
        dir.path(),
        &format!(
            "[http.tls]\ncert = {:?}\nkey = {:?}\n\n[syslog]\ntls_listen = \"127.0.0.1:0\"\n[syslog.tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n",
            pki.server_cert.display().to_string(),
            pki.server_key.display().to_string(),
            pki.server_cert.display().to_string(),
            pki.server_key.display().to_string(),
            pki.ca_file.display().to_string(),
        ),
    );
    let data = dir.path().join("data");
    let viewer = token(&data, "viewer");
    let server = Server::start(&data, Some(&config));
    assert_eq!(server.scheme, "https");
    let roots = ureq::tls::RootCerts::Specific(Arc::new(vec![ureq::tls::Certificate::from_pem(
        pki.ca_pem.as_bytes(),
    )
    .unwrap()]));
    let https: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .http_status_as_error(false)
        .build()
        .into();
    let status = answer(
        https
            .get(server.url("/api/v1/status"))
            .header("Authorization", format!("Bearer {viewer}"))
            .call(),
    );
    assert_eq!(status.status, 200, "{}", status.body);
    let plain = agent()
        .get(format!("http://{}/healthz", server.addr))
        .call();
    assert!(
        plain.is_err() || plain.unwrap().status().as_u16() >= 400,
        "plain HTTP is not served"
    );

    let addr = server.syslog_tls.clone().unwrap();
    let lines = [
        "<13>Dec  4 10:00:00 host sshd[1]: one",
        "<13>Dec  4 10:00:01 host sshd[1]: two",
    ];
    assert!(
        !send_over_tls(&addr, &pki, false, &lines[..1]),
        "a sender without a certificate is refused"
    );
    assert!(send_over_tls(&addr, &pki, true, &lines));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = answer(
            https
                .get(server.url("/api/v1/status"))
                .header("Authorization", format!("Bearer {viewer}"))
                .call(),
        )
        .json();
        if status["pipeline"]["syslog_messages"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.terminate().success());
}

/// A followed folder: lines written, a rotation, a restart; every line is read once, the
/// detections are those of a hunt of the file, and a restart goes on from the offsets.
#[test]
fn followed_files_survive_rotation_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(tocsin().args(["demo", "--quiet", "--out"]).arg(&demo));
    assert!(out.status.success(), "{}", stderr(&out));
    let log = demo.join("appliance.log");
    let hunted = dir.path().join("hunt.sqlite");
    hunt_into_store(std::slice::from_ref(&log), &hunted);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    let folder = dir.path().join("logs");
    std::fs::create_dir(&folder).unwrap();
    let live = folder.join("appliance.log");
    std::fs::write(&live, first.join("\n") + "\n").unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[[follow]]\npaths = [{:?}]\npattern = \"*.log\"\nformat = \"appliance\"\nstart_at = \"start\"\npoll_ms = 20\n",
            folder.display().to_string()
        ),
    );
    let data = dir.path().join("data");
    let viewer = token(&data, "viewer");
    let server = Server::start(&data, Some(&config));
    wait_for(&server, &viewer, "follow_lines", first.len() as u64);
    std::fs::rename(&live, folder.join("appliance.log.1")).unwrap();
    std::fs::write(&live, second.join("\n") + "\n").unwrap();
    wait_for(&server, &viewer, "follow_lines", lines.len() as u64);
    let status = server.wait_drained(&viewer);
    assert_eq!(status["follow_rotations"], 1, "{status}");
    assert!(server.terminate().success());
    let hunt = stored(&hunted);
    let serve = stored(&data.join("store.sqlite"));
    assert_eq!(hunt.detections, serve.detections);

    // Stopped: the file grows; started again: only the new lines are read.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    writeln!(file, "{}", first[0]).unwrap();
    drop(file);
    let server = Server::start(&data, Some(&config));
    wait_for(&server, &viewer, "follow_lines", 1);
    let status = server.wait_drained(&viewer);
    assert_eq!(status["events_processed"], 1, "{status}");
    assert!(server.terminate().success());
}

/// Each token has a request rate; past it, 429 with `Retry-After`, and other tokens go on.
/// The bucket refills one request a second, so the four requests of a try must fit in a
/// second: a try that took longer (a loaded machine) is made again with a fresh token.
#[test]
fn a_token_past_its_rate_gets_429() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "[http]\nrate_per_second = 1\nrate_burst = 2\n");
    let data = dir.path().join("data");
    let busy: Vec<String> = (0..3).map(|_| token(&data, "viewer")).collect();
    let other = token(&data, "viewer");
    let server = Server::start(&data, Some(&config));
    let mut tries = Vec::new();
    for token in &busy {
        // The first request verifies the token (argon2), outside the timed part.
        let first = get(&server, "/api/v1/status", Some(token)).status;
        let started = Instant::now();
        let second = get(&server, "/api/v1/status", Some(token)).status;
        let third = get(&server, "/api/v1/status", Some(token));
        let fourth = get(&server, "/api/v1/status", Some(token));
        let took = started.elapsed();
        let statuses = [first, second, third.status, fourth.status];
        if took >= Duration::from_millis(900) && statuses != [200, 200, 429, 429] {
            tries.push(format!("{statuses:?} in {took:?}"));
            continue;
        }
        assert_eq!(statuses, [200, 200, 429, 429], "earlier tries: {tries:?}");
        assert_eq!(fourth.retry_after.as_deref(), Some("1"));
        assert!(fourth.json()["error"]
            .as_str()
            .unwrap()
            .contains("too many"));
        assert_eq!(get(&server, "/api/v1/status", Some(&other)).status, 200);
        assert_eq!(get(&server, "/healthz", None).status, 200);
        assert!(server.terminate().success());
        return;
    }
    panic!("every try took a second or more: {tries:?}");
}

/// Users log in with HTTP Basic on the API and on TAXII: added by `tocsin users add` with
/// the password in the environment, refused with a wrong password and once disabled; a
/// partner user reads the TAXII collection whose `readers` name it.
#[test]
fn users_log_in_with_basic_until_disabled() {
    /// `Authorization: Basic` for `user` and `password` (RFC 4648 base64).
    fn basic(user: &str, password: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let bytes = format!("{user}:{password}").into_bytes();
        let mut encoded = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                match i <= chunk.len() {
                    true => encoded.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char),
                    false => encoded.push('='),
                }
            }
        }
        format!("Basic {encoded}")
    }
    fn call(server: &Server, path: &str, authorization: &str) -> common::serve::Answer {
        answer(
            agent()
                .get(server.url(path))
                .header("Authorization", authorization)
                .header("Accept", "application/taxii+json;version=2.1")
                .call(),
        )
    }
    fn users(data: &Path, args: &[&str], password: Option<&str>) -> std::process::Output {
        let mut command = tocsin();
        command.arg("users").args(args).arg("--data").arg(data);
        if let Some(password) = password {
            command.env("TOCSIN_PASSWORD", password);
        }
        run(&mut command)
    }
    const PASSWORD: &str = "correct horse battery staple";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (name, role) in [("alice", "analyst"), ("partner.bob", "partner")] {
        let out = users(&data, &["add", name, "--role", role], Some(PASSWORD));
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let short = users(&data, &["add", "carol", "--role", "viewer"], Some("short"));
    assert_eq!(short.status.code(), Some(2));
    assert!(stderr(&short).contains("at least 12"), "{}", stderr(&short));
    let listed = users(&data, &["list"], None);
    let listing = common::stdout(&listed);
    assert!(
        listing.contains("alice") && listing.contains("partner"),
        "{listing}"
    );
    assert!(
        !listing.contains("horse") && !listing.contains("carol"),
        "{listing}"
    );
    let config = config(
        dir.path(),
        "[[taxii.collections]]\nalias = \"x\"\nreaders = [\"partner.bob\"]\n",
    );
    let server = Server::start(&data, Some(&config));
    let alice = basic("alice", PASSWORD);
    assert_eq!(call(&server, "/api/v1/status", &alice).status, 200);
    let wrong = call(
        &server,
        "/api/v1/status",
        &basic("alice", "correct horse battery"),
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(
        call(
            &server,
            "/api/v1/incidents",
            &basic("partner.bob", PASSWORD)
        )
        .status,
        403
    );
    let listing = call(
        &server,
        "/tocsin/collections/",
        &basic("partner.bob", PASSWORD),
    );
    assert_eq!(listing.status, 200, "{}", listing.body);
    let collections = listing.json()["collections"].clone();
    assert_eq!(
        collections.as_array().map(Vec::len),
        Some(1),
        "{collections}"
    );
    assert_eq!(collections[0]["alias"], "x", "{collections}");
    assert_eq!(collections[0]["can_read"], true, "{collections}");
    let disabled = users(&data, &["disable", "alice"], None);
    assert!(disabled.status.success(), "{}", stderr(&disabled));
    let refused = call(&server, "/api/v1/status", &alice);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(call(&server, "/tocsin/collections/", &alice).status, 401);
    let enabled = users(&data, &["enable", "alice"], None);
    assert!(enabled.status.success(), "{}", stderr(&enabled));
    assert_eq!(call(&server, "/api/v1/status", &alice).status, 200);
    assert!(!users(&data, &["enable", "nobody"], None).status.success());
    assert!(server.terminate().success());
    let log = std::fs::read_to_string(dir.path().join("data.log")).unwrap();
    assert!(!log.contains("horse"), "{log}");
}

/// Drives `tocsin users add NAME` in a pseudo-terminal (Python's `pty`): waits for each
/// prompt, types the answer, and prints the exit code and everything the terminal showed as
/// JSON. Arguments: the executable, the data folder, the name, then the answers.
const TYPE_AT_PROMPTS: &str = r#"
import json, os, pty, select, sys, time
exe, data, name, answers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    os.environ.pop("TOCSIN_PASSWORD", None)
    os.execv(exe, [exe, "users", "add", name, "--role", "viewer", "--data", data])
shown = b""
def read(until=None, timeout=30):
    global shown
    deadline = time.time() + timeout
    while until is None or until not in shown:
        ready, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
        if not ready:
            if until is None:
                return
            sys.exit("no %r in %r" % (until, shown))
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            return
        shown += chunk
for prompt, answer in zip([b"Password for " + name.encode() + b": ", b"again: "], answers):
    read(prompt)
    time.sleep(0.3)  # the prompt is written just before echo goes off
    os.write(fd, answer.encode() + b"\n")
read()
_, status = os.waitpid(pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "shown": shown.decode("utf-8", "replace")}))
"#;

#[test]
fn a_password_typed_at_a_terminal_is_asked_twice_and_never_echoed() {
    const PASSWORD: &str = "typed at a real terminal";
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let typed = |name: &str, answers: &[&str]| -> Option<serde_json::Value> {
        let out = Command::new("python3")
            .args(["-c", TYPE_AT_PROMPTS, env!("CARGO_BIN_EXE_tocsin")])
            .arg(&data)
            .arg(name)
            .args(answers)
            .env_remove("TOCSIN_PASSWORD")
            .output();
        let Ok(out) = out else {
            tocsin_testdata::skip_outside_ci(
                "python3 is missing: the terminal prompt test needs it",
            );
            return None;
        };
        assert!(out.status.success(), "{}", stderr(&out));
        Some(serde_json::from_slice(&out.stdout).unwrap())
    };
    let Some(added) = typed("carol", &[PASSWORD, PASSWORD]) else {
        return;
    };
    assert_eq!(added["code"], 0, "{added}");
    let shown = added["shown"].as_str().unwrap_or_default();
    assert!(shown.contains("The same password again: "), "{shown}");
    assert!(!shown.contains(PASSWORD), "echoed: {shown}");
    let mut list = tocsin();
    list.args(["users", "list", "--data"]).arg(&data);
    let listed = run(&mut list);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("carol"));
    // Two different answers: refused, and nothing is added.
    let differ = typed("dave", &[PASSWORD, "another password typed"]).unwrap();
    assert_ne!(differ["code"], 0, "{differ}");
    let shown = differ["shown"].as_str().unwrap_or_default();
    assert!(shown.contains("differ"), "{shown}");
    let listed = run(&mut list);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("dave"));
}

/// A correlation window stays open from one step of the pipeline to the next and across a
/// restart: three password resets by one API key, the first two before a restart and the
/// third after, raise the burst correlation, and its detection names the three machines.
#[test]
fn a_correlation_window_spans_steps_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest = token(&data, "ingest");
    let viewer = token(&data, "viewer");
    // No tolerance: each reset is replayed in the step that reads it.
    let config = config(dir.path(), "[detection]\nreorder_seconds = 0\n");
    let reset = |minute: u32, account: &str| {
        format!(
            r#"{{"time":"2024-12-02T10:{minute:02}:00Z","site":"support.example","api_key_id":"k-stolen","api_key_name":"integration","client_id":"c1","source_ip":"198.51.100.7","user_agent":"python-requests/2.31.0","action":"user.password_reset","target":"{account}","result":"success","request_id":"r-{minute}"}}"#
        )
    };
    let send = |server: &Server, line: String| {
        let path = "/api/v1/events?format=api-audit&input=audit";
        let sent = post(server, path, Some(&ingest), line.as_bytes());
        assert_eq!(sent.status, 200, "{}", sent.body);
        server.wait_drained(&viewer);
    };
    let server = Server::start(&data, Some(&config));
    send(&server, reset(0, "admin@ws-0101"));
    send(&server, reset(4, "helpdesk@ws-0102"));
    let status = get(&server, "/api/v1/status", Some(&viewer)).json();
    assert_eq!(
        status["pipeline"]["correlation_window_matches"], 2,
        "{status}"
    );
    assert!(server.terminate().success());

    let server = Server::start(&data, Some(&config));
    // Ready once the consumer has resumed its saved state (the windows among it).
    server.wait_ready();
    let metrics = get(&server, "/metrics", Some(&viewer)).body;
    assert!(
        metrics.contains("tocsin_correlation_window_matches 2"),
        "the windows reopen after the restart: {metrics}"
    );
    send(&server, reset(9, "support@ws-0103"));
    assert!(server.terminate().success());

    let store = SqliteStore::open_read_only(data.join("store.sqlite")).unwrap();
    let bursts: Vec<_> = store
        .all_alerts()
        .unwrap()
        .into_iter()
        .filter(|alert| alert.rule.title.contains("Several Local Accounts Reset"))
        .collect();
    assert_eq!(bursts.len(), 1, "{bursts:#?}");
    let evidence = &bursts[0].evidence;
    assert!(
        evidence.contains(&("events".into(), "3".into())),
        "{evidence:?}"
    );
    let named = format!("{:?}", bursts[0].entities);
    for host in ["ws-0101", "ws-0102", "ws-0103"] {
        assert!(named.contains(host), "{host} is named: {named}");
    }
}

/// An appliance message whose two segments arrive in two requests, read by two steps of
/// the pipeline, is reassembled; a first segment whose second never comes is reported
/// incomplete after the segment wait, and what came after it is judged. The wait is four
/// seconds, not the default one: the second segment must be spooled within it of the
/// first's receipt, which a loaded machine's fsyncs could otherwise miss.
#[test]
fn appliance_segments_in_two_requests_read_apart_are_reassembled() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "[detection]\nsegment_wait_ms = 4000\n");
    let data = dir.path().join("data");
    let ingest = token(&data, "ingest");
    let viewer = token(&data, "viewer");
    let server = Server::start(&data, Some(&config));
    let send = |line: &str| {
        let path = "/api/v1/events?format=appliance&input=appliance";
        let sent = post(&server, path, Some(&ingest), line.as_bytes());
        assert_eq!(sent.status, 200, "{}", sent.body);
    };
    send("Dec  2 10:00:00 rs01 BG[7]: 4135:01:02:event=user_changed;site=support.example;new_");
    // Longer than the consumer waits for new records (200 ms): the first segment is read
    // in a step of its own.
    std::thread::sleep(Duration::from_millis(400));
    send("Dec  2 10:00:00 rs01 BG[7]: 4135:02:02:username=phall;when=1733133600;who=a (a)");
    let status = server.wait_drained(&viewer);
    assert_eq!(status["events_processed"], 1, "{status}");
    assert_eq!(status["decode_errors"], 0, "{status}");

    send("Dec  2 10:01:00 rs01 BG[7]: 4135:01:02:event=user_changed;site=support.example;new_");
    send("Dec  2 10:01:05 rs01 BG[7]: 4135:01:01:event=login;when=1733133665;who=b (b)");
    let status = server.wait_drained(&viewer);
    assert_eq!(status["events_processed"], 2, "{status}");
    assert_eq!(status["decode_errors"], 1, "{status}");
    assert!(server.terminate().success());
}

/// JSON Lines over syslog TCP (`[syslog] format = "json"`, as NXLog, Fluent Bit or Vector
/// send them), one object per octet-counted message, give the detections of a hunt of the
/// file.
#[test]
fn json_lines_over_tcp_give_the_hunts_detections() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(tocsin().args(["demo", "--quiet", "--out"]).arg(&demo));
    assert!(out.status.success(), "{}", stderr(&out));
    let log = demo.join("endpoints.jsonl");
    let hunted = dir.path().join("hunt.sqlite");
    hunt_into_store(std::slice::from_ref(&log), &hunted);

    let data = dir.path().join("data");
    let viewer = token(&data, "viewer");
    let config = config(dir.path(), "[syslog]\nformat = \"json\"\n");
    let server = Server::start_with(&data, Some(&config), &["--syslog-tcp", "127.0.0.1:0"]);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let addr = server.syslog_tcp.clone().unwrap();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    for line in &lines {
        write!(stream, "{} {line}", line.len()).unwrap();
    }
    drop(stream);
    wait_for(&server, &viewer, "syslog_messages", lines.len() as u64);
    let status = server.wait_drained(&viewer);
    assert_eq!(status["decode_errors"], 0, "{status}");
    assert_eq!(status["events_processed"], lines.len() as u64, "{status}");
    assert!(server.terminate().success());
    let hunt = stored(&hunted);
    let serve = stored(&data.join("store.sqlite"));
    assert!(!hunt.detections.is_empty());
    assert_eq!(hunt.detections, serve.detections);
    assert_eq!(hunt.incidents, serve.incidents);
}

/// SIGTERM while a syslog sender keeps sending: the service drains what the spool held when
/// the stop came and exits, instead of draining for as long as the sender goes on (its
/// later lines wait in the spool for the next start).
#[test]
fn sigterm_stops_the_service_while_a_syslog_sender_keeps_sending() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let viewer = token(&data, "viewer");
    let server = Server::start_with(&data, None, &["--syslog-tcp", "127.0.0.1:0"]);
    let addr = server.syslog_tcp.clone().unwrap();
    let sending = Arc::new(AtomicBool::new(true));
    let sender = {
        let sending = Arc::clone(&sending);
        std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(&addr).unwrap();
            let mut sent = 0u64;
            while sending.load(Ordering::Relaxed) {
                let line = format!("<13>Dec  6 12:00:00 host app: line {sent}");
                if writeln!(stream, "{line}").is_err() {
                    break;
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            sent
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.pipeline(&viewer)["syslog_messages"]
        .as_u64()
        .unwrap_or(0)
        < 50
    {
        assert!(
            Instant::now() < deadline,
            "the sender's lines never arrived"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (exited, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = exited.send(server.terminate());
    });
    let status = exit.recv_timeout(Duration::from_secs(60));
    sending.store(false, Ordering::Relaxed);
    let sent = sender.join().unwrap();
    let status = status.expect("the service did not stop within a minute of SIGTERM");
    assert!(status.success(), "{status}");
    assert!(sent >= 50, "{sent}");
}
