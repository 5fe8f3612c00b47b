//! End-to-end tests of `tocsin stats` (issue 19): the real binary over EVTX files of the
//! shared corpus, its figures checked against an independent count made here with the
//! `evtx` crate's own JSON rendering (not tocsin's decoder).

// Test code: helpers may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

mod common;

use common::{run, stderr, stdout, tocsin};

/// What the test counts itself.
#[derive(Default, Debug)]
struct Count {
    events: u64,
    channels: BTreeMap<(String, i64), u64>,
    computers: BTreeMap<String, u64>,
    days: BTreeMap<String, u64>,
    /// (user, logon type, source) -> (successful, failed).
    logons: BTreeMap<(String, String, String), (u64, u64)>,
}

/// A value of the `evtx` crate's JSON as text: `{"#text": ...}` unwrapped, numbers written
/// out, empty and `-` as `None`.
fn text(value: &Json) -> Option<String> {
    let value = value.get("#text").unwrap_or(value);
    let text = match value {
        Json::String(s) => s.trim().to_owned(),
        Json::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty() && text != "-").then_some(text)
}

/// Counts the records of every `.evtx` file under `dir` with the `evtx` crate.
fn count(dir: &Path) -> Count {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "evtx") {
                files.push(path);
            }
        }
    }
    let mut count = Count::default();
    for file in files {
        let mut parser = evtx::EvtxParser::from_path(&file).expect("an EVTX file");
        for record in parser.records_json_value() {
            let record = record.expect("the sample files have no damaged record");
            let system = &record.data["Event"]["System"];
            let data = &record.data["Event"]["EventData"];
            count.events += 1;
            let channel = text(&system["Channel"]).expect("a channel");
            let id: i64 = text(&system["EventID"])
                .and_then(|t| t.parse().ok())
                .expect("an event id");
            *count.channels.entry((channel.clone(), id)).or_default() += 1;
            let computer = text(&system["Computer"]).expect("a computer");
            *count.computers.entry(computer).or_default() += 1;
            let time = system["TimeCreated"]["#attributes"]["SystemTime"]
                .as_str()
                .expect("a time");
            let day = time.get(..10).expect("a day").to_owned();
            *count.days.entry(day).or_default() += 1;
            if channel == "Security" && (id == 4624 || id == 4625) {
                let user = match (
                    text(&data["TargetDomainName"]),
                    text(&data["TargetUserName"]),
                ) {
                    (Some(domain), Some(user)) => format!("{domain}\\{user}"),
                    (None, Some(user)) => user,
                    (_, None) => "-".into(),
                };
                let kind = text(&data["LogonType"]).unwrap_or_else(|| "-".into());
                let source = text(&data["IpAddress"]).unwrap_or_else(|| "-".into());
                let logon = count.logons.entry((user, kind, source)).or_default();
                match id {
                    4624 => logon.0 += 1,
                    _ => logon.1 += 1,
                }
            }
        }
    }
    count
}

#[test]
fn stats_agree_with_an_independent_count() {
    let Some(dir) = tocsin_testdata::shared_path("evtx/hayabusa-sample-evtx/DeepBlueCLI") else {
        return;
    };
    let expected = count(&dir);
    assert!(expected.events > 1000, "{}", expected.events);
    assert!(
        expected.logons.values().any(|l| l.1 > 1000),
        "a password spray"
    );

    let out = run(tocsin().arg("stats").arg(&dir).args(["--format", "json"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let stats: Json = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(stats["events"], expected.events);
    assert_eq!(stats["decode_errors"], 0);

    let channels: BTreeMap<(String, i64), u64> = stats["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|row| {
            let key = (
                row["channel"].as_str().expect("channel").to_owned(),
                row["event_id"].as_i64().expect("event id"),
            );
            (key, row["events"].as_u64().expect("count"))
        })
        .collect();
    assert_eq!(channels, expected.channels);

    let computers: BTreeMap<String, u64> = stats["computers"]
        .as_array()
        .expect("computers")
        .iter()
        .map(|row| {
            let name = row["computer"].as_str().expect("computer").to_owned();
            (name, row["events"].as_u64().expect("count"))
        })
        .collect();
    assert_eq!(computers, expected.computers);

    let days: BTreeMap<String, u64> = stats["days"]
        .as_array()
        .expect("days")
        .iter()
        .map(|row| {
            let day = row["day"].as_str().expect("day").to_owned();
            (day, row["events"].as_u64().expect("count"))
        })
        .collect();
    assert_eq!(days, expected.days);
    let hours: u64 = stats["hours"]
        .as_array()
        .expect("hours")
        .iter()
        .map(|row| row["events"].as_u64().expect("count"))
        .sum();
    assert_eq!(hours, expected.events);

    let logons: BTreeMap<(String, String, String), (u64, u64)> = stats["logons"]
        .as_array()
        .expect("logons")
        .iter()
        .map(|row| {
            let key = (
                row["user"].as_str().expect("user").to_owned(),
                row["logon_type"].as_str().expect("type").to_owned(),
                row["source"].as_str().expect("source").to_owned(),
            );
            let counts = (
                row["successful"].as_u64().expect("successful"),
                row["failed"].as_u64().expect("failed"),
            );
            (key, counts)
        })
        .collect();
    assert_eq!(logons, expected.logons);

    // The table shows the same figures, the busiest first.
    let out = run(tocsin().arg("stats").arg(&dir).args(["--top", "3"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let (busiest, most) = expected
        .channels
        .iter()
        .max_by_key(|(_, count)| **count)
        .expect("a channel");
    let row = table
        .lines()
        .find(|line| line.contains(&busiest.0) && line.ends_with(&busiest.1.to_string()))
        .unwrap_or_else(|| panic!("no row for {busiest:?}: {table}"));
    assert!(row.trim_start().starts_with(&most.to_string()), "{row}");
    assert!(
        table.starts_with(&format!("{} events in ", expected.events)),
        "{table}"
    );
    assert!(table.contains("Logons (Security 4624 successful, 4625 failed)"));
}

#[test]
fn stats_take_the_time_range_and_refuse_bad_input() {
    let Some(file) = tocsin_testdata::shared_path(
        "evtx/hayabusa-sample-evtx/DeepBlueCLI/smb-password-guessing-security.evtx",
    ) else {
        return;
    };
    let json = |extra: &[&str]| {
        let out = run(tocsin()
            .arg("stats")
            .arg(&file)
            .args(["--format", "json"])
            .args(extra));
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str::<Json>(&stdout(&out)).expect("JSON")
    };
    let all = json(&[]);
    let day = json(&["--from", "2016-09-19", "--to", "2016-09-19T23:59:59Z"]);
    let none = json(&["--from", "2030-01-01"]);
    let total = all["events"].as_u64().expect("events");
    assert!(total > 0);
    assert_eq!(none["events"], 0);
    assert_eq!(none["out_of_range"], total);
    assert_eq!(
        day["events"].as_u64().expect("events") + day["out_of_range"].as_u64().expect("out"),
        total
    );
    assert_eq!(day["days"].as_array().map(Vec::len), Some(1));

    let bad = run(tocsin().arg("stats").arg(&file).args(["--from", "soon"]));
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let missing = run(tocsin().args(["stats", "/nonexistent/logs"]));
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.evtx");
    std::fs::write(&garbage, b"ElfFile\0 not really").expect("write");
    let unreadable = run(tocsin().arg("stats").arg(&garbage));
    assert_eq!(unreadable.status.code(), Some(2), "{}", stderr(&unreadable));
    assert!(stderr(&unreadable).contains("no event could be read"));
}
