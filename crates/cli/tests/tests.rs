//! End-to-end tests: run the real `tocsin` binary on real inputs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tocsin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.env("NO_COLOR", "1");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("tocsin runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const WHOAMI_RULE: &str = r"title: Whoami Execution
id: 5b6a4ae1-0000-4000-8000-00000000c0de
status: test
author: tocsin tests
level: medium
tags: [attack.discovery, attack.t1033]
logsource:
  category: process_creation
  product: windows
detection:
  selection:
    Image|endswith: '\whoami.exe'
  condition: selection
";

/// A Sysmon process-creation event as JSON Lines, in the evtx crate's layout.
fn sysmon_line(record: u64, image: &str) -> String {
    serde_json::json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1,
            "EventRecordID": record,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "ws-017.corp.example",
            "TimeCreated": {"#attributes": {"SystemTime": "2024-12-05T10:11:12.000001Z"}}
        },
        "EventData": {"Image": image, "CommandLine": image}
    }})
    .to_string()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path
}

#[test]
fn hunt_jsonl_has_the_documented_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let logs = [
        sysmon_line(1, "C:\\Windows\\System32\\whoami.exe"),
        sysmon_line(2, "C:\\Windows\\System32\\notepad.exe"),
    ]
    .join("\n");
    let input = write(dir.path(), "events.jsonl", &logs);
    let out = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("--rules")
        .arg(&rules)
        .args(["--format", "jsonl"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", stdout(&out));
    let d = &lines[0];
    for key in [
        "timestamp",
        "computer",
        "channel",
        "event_id",
        "record_id",
        "rule_id",
        "rule_title",
        "level",
        "tags",
        "author",
        "source",
        "details",
    ] {
        assert!(d.get(key).is_some(), "missing {key} in {d}");
    }
    assert_eq!(d["rule_id"], "5b6a4ae1-0000-4000-8000-00000000c0de");
    assert_eq!(d["record_id"], 1);
    assert_eq!(d["event_id"], 1);
    assert_eq!(d["computer"], "ws-017.corp.example");
    assert_eq!(d["author"], "tocsin tests");
    assert_eq!(d["timestamp"], "2024-12-05T10:11:12.000001Z");
    assert!(
        stderr(&out).contains("2 events") || stderr(&out).contains("events"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn hunt_reads_json_from_stdin_and_writes_csv_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let output = dir.path().join("out.csv");
    let mut child = tocsin()
        .args(["hunt", "-", "--format", "csv", "--rules"])
        .arg(&rules)
        .arg("--output")
        .arg(&output)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let line = sysmon_line(7, "C:\\Windows\\System32\\whoami.exe");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(line.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(&output).expect("output written");
    let mut rows = csv.lines();
    assert!(rows
        .next()
        .is_some_and(|h| h.starts_with("timestamp,computer,channel,event_id,record_id,rule_id")));
    assert!(
        rows.next()
            .is_some_and(|r| r.contains("Whoami Execution") && r.contains(",7,")),
        "{csv}"
    );
}

#[test]
fn a_bad_rule_is_named_with_file_and_line_and_the_rest_still_hunts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    write(&rules, "good.yml", WHOAMI_RULE);
    write(
        &rules,
        "bad.yml",
        "title: Broken\nlogsource: {product: windows, service: security}\ndetection:\n  sel:\n    Image|contians: x\n  condition: sel\n",
    );
    let lint = run(tocsin().args(["rules", "lint"]).arg(&rules));
    assert_eq!(lint.status.code(), Some(1), "{}", stderr(&lint));
    assert!(stdout(&lint).contains("bad.yml:5"), "{}", stdout(&lint));
    assert!(stdout(&lint).contains("contians"), "{}", stdout(&lint));

    let input = write(dir.path(), "e.jsonl", &sysmon_line(1, "C:\\whoami.exe"));
    let hunt = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("-r")
        .arg(&rules)
        .args(["-f", "jsonl"]));
    assert!(hunt.status.success(), "{}", stderr(&hunt));
    assert_eq!(stdout(&hunt).lines().count(), 1);
    assert!(stderr(&hunt).contains("bad.yml"), "{}", stderr(&hunt));
}

#[test]
fn lint_passes_on_a_clean_rule_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "good.yml", WHOAMI_RULE);
    let lint = run(tocsin().args(["rules", "lint"]).arg(dir.path()));
    assert_eq!(
        lint.status.code(),
        Some(0),
        "{}{}",
        stdout(&lint),
        stderr(&lint)
    );
}

#[test]
fn selection_flags_filter_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let input = write(dir.path(), "e.jsonl", &sysmon_line(1, "C:\\whoami.exe"));
    let hunt = |extra: &[&str]| {
        let out = run(tocsin()
            .arg("hunt")
            .arg(&input)
            .arg("-r")
            .arg(&rules)
            .args(["-f", "jsonl"])
            .args(extra));
        stdout(&out).lines().count()
    };
    assert_eq!(hunt(&[]), 1);
    assert_eq!(hunt(&["--min-level", "high"]), 0);
    assert_eq!(hunt(&["--min-level", "medium"]), 1);
    assert_eq!(hunt(&["--status", "stable"]), 0);
    assert_eq!(hunt(&["--exclude-tag", "attack.t1033"]), 0);
    assert_eq!(hunt(&["--include-tag", "attack.t1033"]), 1);
    assert_eq!(
        hunt(&["--exclude-id", "5b6a4ae1-0000-4000-8000-00000000c0de"]),
        0
    );
}

#[test]
fn unreadable_input_and_bad_arguments_exit_2_with_a_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let missing = run(tocsin()
        .arg("hunt")
        .arg(dir.path().join("nope.evtx"))
        .arg("-r")
        .arg(&rules));
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("nope.evtx"),
        "{}",
        stderr(&missing)
    );

    let garbage = write(dir.path(), "garbage.evtx", "this is not an event log");
    let out = run(tocsin().arg("hunt").arg(&garbage).arg("-r").arg(&rules));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("garbage.evtx"), "{}", stderr(&out));

    let bad_flag = run(tocsin().args(["hunt", "--format", "xml", "x", "-r", "y"]));
    assert_eq!(bad_flag.status.code(), Some(2));
}

#[test]
fn truncated_json_keeps_the_records_before_the_damage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let good = sysmon_line(1, "C:\\whoami.exe");
    let text = format!("{good}\n{}\n", &good[..good.len() / 2]);
    let input = write(dir.path(), "t.jsonl", &text);
    let out = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("-r")
        .arg(&rules)
        .args(["-f", "jsonl"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(stderr(&out).contains("t.jsonl"), "{}", stderr(&out));
}

/// The whole EVTX corpus with the whole SigmaHQ rule set: no panic, every file read.
#[test]
fn hunt_over_the_whole_evtx_corpus() {
    let (Some(evtx), Some(rules)) = (
        tocsin_testdata::shared_path("evtx"),
        tocsin_testdata::shared_path("sigma/rules"),
    ) else {
        return;
    };
    let out = run(tocsin()
        .arg("hunt")
        .arg(&evtx)
        .arg("--rules")
        .arg(&rules)
        .args(["--format", "jsonl", "--output", "/dev/null"]));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    println!("{err}");
}
