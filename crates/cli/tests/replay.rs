//! End-to-end tests of `tocsin replay` (and the short form of `tocsin bench --serve` built
//! on it): the real binary sending to a real `tocsin serve` on a loopback port, or to a
//! UDP socket of the test's own.

// Test code: helpers may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use common::serve::{token, Server};
use common::{run, stderr, stdout, sysmon_line, tocsin, WHOAMI_RULE};

/// A configuration of the service in `dir`: no fsync (a test), and `text`.
fn config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("serve.toml");
    std::fs::write(&path, format!("[spool]\nfsync = \"never\"\n\n{text}")).unwrap();
    path
}

/// A service judging with the whoami rule alone, and its ingest and viewer tokens.
fn whoami_service(dir: &Path) -> (Server, String, String) {
    let rule = dir.join("whoami.yml");
    std::fs::write(&rule, WHOAMI_RULE).unwrap();
    let rules = serde_json::Value::from(rule.display().to_string());
    let config = config(
        dir,
        &format!("[detection]\nrules = [{rules}]\nbehaviour = false\n"),
    );
    let data = dir.join("data");
    let ingest = token(&data, "ingest");
    let viewer = token(&data, "viewer");
    (Server::start(&data, Some(&config)), ingest, viewer)
}

/// `count` Sysmon process creations, every third a whoami, as a JSON Lines file.
fn sysmon_file(dir: &Path, count: u64) -> (PathBuf, u64) {
    let lines: Vec<String> = (1..=count)
        .map(|n| match n % 3 {
            0 => sysmon_line(n, "C:\\Windows\\System32\\whoami.exe"),
            _ => sysmon_line(n, "C:\\Windows\\notepad.exe"),
        })
        .collect();
    let path = dir.join("sysmon.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (path, count / 3)
}

#[test]
fn replay_over_http_gets_every_event_judged() {
    let dir = tempfile::tempdir().unwrap();
    let (server, ingest, viewer) = whoami_service(dir.path());
    let (file, whoamis) = sysmon_file(dir.path(), 2500);
    let out = run(tocsin()
        .arg("replay")
        .arg(&file)
        .args(["--to", &server.url(""), "--batch", "700", "--gzip"])
        .env("TOCSIN_TOKEN", &ingest));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("2500 events sent in 4 batches"),
        "{}",
        stderr(&out)
    );
    let status = server.wait_for(&viewer, "events_processed", 2500);
    assert_eq!(status["events_processed"], 2500, "{status}");
    assert_eq!(status["detections_stored"], whoamis, "{status}");
    assert_eq!(status["lines_refused"], 0, "{status}");
}

#[test]
fn replay_over_tcp_sends_each_line_as_a_syslog_message() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(tocsin().args(["demo", "--quiet", "--out"]).arg(&demo));
    assert!(out.status.success(), "{}", stderr(&out));
    let log = demo.join("appliance.log");
    let lines = std::fs::read_to_string(&log).unwrap().lines().count() as u64;
    let config = config(dir.path(), "[syslog]\nformat = \"appliance\"\n");
    let data = dir.path().join("data");
    let viewer = token(&data, "viewer");
    let server = Server::start_with(&data, Some(&config), &["--syslog-tcp", "127.0.0.1:0"]);
    let to = format!("tcp://{}", server.syslog_tcp.clone().unwrap());
    let out = run(tocsin().arg("replay").arg(&log).args(["--to", &to]));
    assert!(out.status.success(), "{}", stderr(&out));
    let status = server.wait_for(&viewer, "syslog_messages", lines);
    assert_eq!(status["syslog_messages"], lines, "{status}");
    assert_eq!(status["decode_errors"], 0, "{status}");
    assert!(
        status["detections_stored"].as_u64().unwrap() > 0,
        "{status}"
    );
}

/// Pacing, not the product's speed: 200 events at 400 a second cannot take less than
/// about half a second. Sent over UDP to the test's own socket, a datagram per line.
#[test]
fn rate_paces_the_events_and_udp_sends_a_datagram_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..200).map(|n| format!("<13>line {n}")).collect();
    let file = dir.path().join("lines.log");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let to = format!("udp://{}", socket.local_addr().unwrap());
    let receiver = std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        (0..200)
            .map(|_| {
                let size = socket.recv(&mut buffer).unwrap();
                String::from_utf8_lossy(&buffer[..size]).into_owned()
            })
            .collect::<Vec<String>>()
    });
    let started = Instant::now();
    let out = run(tocsin()
        .arg("replay")
        .arg(&file)
        .args(["--to", &to, "--rate", "400"]));
    let elapsed = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(elapsed >= Duration::from_millis(350), "{elapsed:?}");
    assert_eq!(receiver.join().unwrap(), lines);
}

#[test]
fn a_bad_token_stops_with_the_services_message() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _, _) = whoami_service(dir.path());
    let (file, _) = sysmon_file(dir.path(), 10);
    let out = run(tocsin().arg("replay").arg(&file).args([
        "--to",
        &server.url(""),
        "--token",
        "tsn_nobody.nothing",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("sysmon.jsonl"), "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("invalid or revoked"), "{err}");
}

/// EVTX records are sent as JSON the service decodes: as many events as the file holds.
#[test]
fn evtx_records_are_sent_as_json_lines() {
    let Some(evtx) = tocsin_testdata::shared_path("evtx") else {
        return;
    };
    let (file, records) = smallest_evtx(&evtx);
    let dir = tempfile::tempdir().unwrap();
    let (server, ingest, viewer) = whoami_service(dir.path());
    let out =
        run(tocsin()
            .arg("replay")
            .arg(&file)
            .args(["--to", &server.url(""), "--token", &ingest]));
    assert!(out.status.success(), "{}", stderr(&out));
    let status = server.wait_for(&viewer, "events_processed", records);
    assert_eq!(status["events_processed"], records, "{status}");
    assert_eq!(status["decode_errors"], 0, "{status}");
}

/// The smallest EVTX file of a folder that holds records, and how many (as
/// `tocsin events` counts them).
fn smallest_evtx(dir: &Path) -> (PathBuf, u64) {
    let mut files: Vec<(u64, PathBuf)> = walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    files.sort();
    files
        .into_iter()
        .find_map(|(_, file)| {
            let out = run(tocsin().arg("events").arg(&file));
            let records = stdout(&out).lines().count() as u64;
            (out.status.success() && records > 0).then_some((file, records))
        })
        .expect("an EVTX file with records")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        match path.is_dir() {
            true => found.extend(walk(&path)),
            false => found.push(path),
        }
    }
    found
}

/// The serve benchmark end to end, on a tiny input: every phase runs and the report has
/// a row per transport and the targets.
#[test]
fn the_serve_benchmark_runs_on_a_small_input() {
    let out = run(tocsin().args([
        "bench",
        "--serve",
        "--scenario",
        "appliance",
        "--events",
        "3000",
        "--duration",
        "1",
        "--bench-fsync",
        "never",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(report.contains("spool fsync never"), "{report}");
    for via in ["tcp", "http"] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("appliance") && l.contains(&format!(" {via} "))),
            "{report}"
        );
        assert!(
            report.contains(&format!("appliance over {via}:")),
            "{report}"
        );
    }
}
