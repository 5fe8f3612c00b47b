//! End-to-end tests: run the real `tocsin` binary on real inputs.

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;

use common::{run, stderr, stdout, sysmon_line, tocsin, WHOAMI_RULE};

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

/// Hunts `input` with `rules` as JSON Lines, reads one detection and closes the output;
/// returns the exit code and stderr.
fn hunt_and_close_after_one(input: &Path, rules: &Path, extra: &[&str]) -> (Option<i32>, String) {
    use std::io::BufRead;
    let mut child = tocsin()
        .arg("hunt")
        .arg(input)
        .arg("--rules")
        .arg(rules)
        .args(["--format", "jsonl"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("read a detection");
    assert!(first.contains("Whoami Execution"), "{first}");
    // The reader is dropped here: the pipe is closed with most detections unread.
    let out = child.wait_with_output().expect("wait");
    (out.status.code(), stderr(&out))
}

#[test]
fn a_closed_output_stops_printing_not_storing() {
    // Issue 20, finding 5: `hunt ... --store db | head -1` stored a few hundred of the
    // detections and exited 0.
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let lines: Vec<String> = (1..=3000)
        .map(|record| sysmon_line(record, "C:\\Windows\\System32\\whoami.exe"))
        .collect();
    let input = write(dir.path(), "many.jsonl", &lines.join("\n"));
    let store = dir.path().join("s.db");
    let store_arg = store.to_str().expect("utf-8 path");

    let (code, err) = hunt_and_close_after_one(&input, &rules, &["--store", store_arg]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("the output was closed after"), "{err}");
    assert!(err.contains("3000 new detections"), "{err}");

    let (code, err) = hunt_and_close_after_one(&input, &rules, &[]);
    assert_eq!(code, Some(141), "{err}");
    assert!(err.contains("the hunt stopped there"), "{err}");
}

#[test]
fn strict_hunts_fail_when_anything_was_left_out() {
    // Issue 20, finding 19: a hunt with unreadable rules or records exited 0.
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    write(&rules, "good.yml", WHOAMI_RULE);
    let good_line = sysmon_line(1, "C:\\Windows\\System32\\whoami.exe");
    let clean_input = write(dir.path(), "clean.jsonl", &good_line);
    let hunt = |input: &Path, strict: bool| {
        let out = run(tocsin()
            .arg("hunt")
            .arg(input)
            .arg("--rules")
            .arg(&rules)
            .args(["--format", "jsonl"])
            .args(if strict { &["--strict"][..] } else { &[] }));
        (out.status.code(), stderr(&out))
    };
    assert_eq!(hunt(&clean_input, true).0, Some(0));

    write(&rules, "bad.yml", "title: Broken\ndetection: [\n");
    assert_eq!(hunt(&clean_input, false).0, Some(0));
    let (code, err) = hunt(&clean_input, true);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("--strict: 1 rule problems"), "{err}");

    std::fs::remove_file(rules.join("bad.yml")).expect("rm");
    let damaged = write(
        dir.path(),
        "damaged.jsonl",
        &format!("{good_line}\n{{\"Event\": truncated\n"),
    );
    assert_eq!(hunt(&damaged, false).0, Some(0));
    let (code, err) = hunt(&damaged, true);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("1 input or decode errors"), "{err}");
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
fn input_format_forces_the_decoder_whatever_the_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let input = write(
        dir.path(),
        "misnamed.evtx",
        &sysmon_line(3, "C:\\Windows\\System32\\whoami.exe"),
    );
    let hunt = |extra: &[&str]| {
        run(tocsin()
            .arg("hunt")
            .arg(&input)
            .arg("--rules")
            .arg(&rules)
            .args(["--format", "jsonl"])
            .args(extra))
    };
    let named = hunt(&[]);
    assert!(
        stderr(&named).contains("not an EVTX file"),
        "{}",
        stderr(&named)
    );
    let forced = hunt(&["--input-format", "jsonl"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(stdout(&forced).lines().count(), 1, "{}", stdout(&forced));
    let wrong = hunt(&["--input-format", "xml"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("expected one of evtx, json, syslog"),
        "{}",
        stderr(&wrong)
    );
}

#[test]
fn a_stray_byte_in_a_json_string_does_not_hide_the_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let line = sysmon_line(4, "C:\\Windows\\System32\\whoami.exe");
    // The stray byte opens the command line, which the rule does not test: the event must
    // still reach the rules, with U+FFFD in its place.
    let key = "\"CommandLine\":\"";
    let at = line.find(key).expect("command line") + key.len();
    let mut bytes = line.into_bytes();
    bytes.insert(at, 0xFF);
    let input = dir.path().join("events.jsonl");
    std::fs::write(&input, &bytes).expect("write fixture");
    let out = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("--rules")
        .arg(&rules)
        .args(["--format", "jsonl"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stderr(&out));
}

const SSHD_RULE: &str = r"title: Accepted SSH login
id: 5b6a4ae1-0000-4000-8000-00000000c0df
status: test
level: low
logsource:
  product: linux
  service: sshd
detection:
  keywords:
    - Accepted
  condition: keywords
";

#[test]
fn syslog_years_are_inferred_from_the_file_time_or_given_with_a_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "sshd.yml", SSHD_RULE);
    let input = write(
        dir.path(),
        "auth.log",
        "Dec 31 23:59:00 h sshd[1]: Accepted password for a\nJan  1 00:01:00 h sshd[1]: Accepted password for b\n",
    );
    // Modified on 2025-01-03: December is 2024, January 2025, whatever today is.
    let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_735_900_000);
    std::fs::File::options()
        .write(true)
        .open(&input)
        .and_then(|f| f.set_modified(modified))
        .expect("set the modification time");
    let hunt = |extra: &[&str]| {
        let out = run(tocsin()
            .arg("hunt")
            .arg(&input)
            .arg("--rules")
            .arg(&rules)
            .args(["--format", "jsonl"])
            .args(extra));
        assert!(out.status.success(), "{}", stderr(&out));
        let times: Vec<String> = stdout(&out)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("JSON")["timestamp"].to_string()
            })
            .collect();
        (times, stderr(&out))
    };
    let (times, err) = hunt(&[]);
    assert_eq!(
        times,
        ["\"2024-12-31T23:59:00Z\"", "\"2025-01-01T00:01:00Z\""]
    );
    assert!(
        err.contains("note: ")
            && err.contains(
                "given the year 2024 to 2025 (inferred from the file's modification time"
            ),
        "{err}"
    );
    assert!(
        err.contains("--syslog-year and --tz say otherwise"),
        "{err}"
    );
    let (times, err) = hunt(&["--syslog-year", "2019", "--tz", "-05:00"]);
    assert_eq!(
        times,
        ["\"2020-01-01T04:59:00Z\"", "\"2020-01-01T05:01:00Z\""]
    );
    assert!(
        err.contains("2019 to 2020 (as given)") && err.contains("UTC-05:00"),
        "{err}"
    );
    // search reads the times as hunt does, so --from selects the same events.
    let searched = run(tocsin()
        .arg("search")
        .arg(&input)
        .args(["-k", "accepted", "--show", "message", "-q"])
        .args(["--syslog-year", "2019", "--tz", "-05:00"])
        .args(["--from", "2020-01-01T05:00:00Z"]));
    assert!(searched.status.success(), "{}", stderr(&searched));
    let rows: Vec<String> = stdout(&searched)
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].starts_with("2020-01-01T05:01:00Z\t")
            && rows[0].ends_with("\tAccepted password for b"),
        "{rows:?}"
    );
    let bad = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("--rules")
        .arg(&rules)
        .args(["--tz", "Europe/Paris"]));
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("invalid zone `Europe/Paris`"),
        "{}",
        stderr(&bad)
    );
}

/// `tocsin hunt - --rules RULES` with `input` on standard input.
fn hunt_stdin(rules: &Path, input: &[u8]) -> Output {
    let mut child = tocsin()
        .args(["hunt", "-", "--format", "jsonl", "--rules"])
        .arg(rules)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn empty_standard_input_is_said_and_evtx_on_it_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let out = hunt_stdin(&rules, b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: -: no events read from standard input"),
        "{}",
        stderr(&out)
    );
    let Some(sample) = tocsin_testdata::shared_path(
        "evtx/EVTX-ATTACK-SAMPLES/Privilege Escalation/Sysmon_UACME_22.evtx",
    ) else {
        return;
    };
    let rules = tocsin_testdata::shared_path("sigma/rules/rules/windows").expect("rules");
    let from_file = run(tocsin()
        .arg("hunt")
        .arg(&sample)
        .args(["--format", "jsonl", "--rules"])
        .arg(&rules));
    let from_stdin = hunt_stdin(&rules, &std::fs::read(&sample).expect("sample"));
    assert!(from_stdin.status.success(), "{}", stderr(&from_stdin));
    let detections = |out: &Output| stdout(out).lines().count();
    assert!(detections(&from_file) > 0, "{}", stderr(&from_file));
    assert_eq!(detections(&from_stdin), detections(&from_file));
    assert!(
        !stderr(&from_stdin).contains("warning"),
        "{}",
        stderr(&from_stdin)
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
fn a_hunt_reads_its_rules_back_from_the_compiled_rule_cache_and_sees_every_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    write(&rules, "whoami.yml", WHOAMI_RULE);
    let input = write(dir.path(), "e.jsonl", &sysmon_line(1, "C:\\whoami.exe"));
    let hunt = |extra: &[&str], cache: &Path| {
        let out = run(tocsin()
            .env("TOCSIN_CACHE_DIR", cache)
            .arg("hunt")
            .arg(&input)
            .arg("-r")
            .arg(&rules)
            .args(["-f", "jsonl"])
            .args(extra));
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let entries = |cache: &Path| {
        std::fs::read_dir(cache.join("rules")).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
                .count()
        })
    };
    let compiled = hunt(&[], &cache);
    assert!(compiled.contains("Whoami Execution"), "{compiled}");
    assert_eq!(entries(&cache), 1);
    assert_eq!(hunt(&[], &cache), compiled);
    // The rule changed (same size): the hunt sees the new title, not the cached one.
    write(
        &rules,
        "whoami.yml",
        &WHOAMI_RULE.replace("Whoami", "WhoAmI"),
    );
    let changed = hunt(&[], &cache);
    assert!(changed.contains("WhoAmI Execution"), "{changed}");
    assert_eq!(hunt(&["--no-rule-cache"], &cache), changed);
    let unused = dir.path().join("unused");
    hunt(&["--no-rule-cache"], &unused);
    assert!(!unused.exists(), "--no-rule-cache wrote a cache");
}

/// A YAML text nested 100,000 sequences deep, in the shape of a mapping file: parsed as
/// a tree, it would overflow the stack.
fn deeply_nested_yaml() -> String {
    format!(
        "product: windows\nservices:\n  x:\n    {}x\n",
        "- ".repeat(100_000)
    )
}

#[test]
fn mapping_and_placeholder_files_nested_too_deeply_are_refused_not_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let deep = write(dir.path(), "deep.yml", &deeply_nested_yaml());
    for flag in ["--mapping", "--placeholders"] {
        let lint = run(tocsin()
            .args(["rules", "lint", flag])
            .arg(&deep)
            .arg(&rules));
        let err = stderr(&lint);
        assert_eq!(lint.status.code(), Some(2), "{flag}: {err}");
        assert!(err.contains("deep.yml:4"), "{flag}: file and line: {err}");
        assert!(err.contains("nested too deeply"), "{flag}: {err}");
    }
}

#[test]
fn lint_refuses_duplicate_ids_and_regexes_too_large_to_build() {
    // Issue 20, findings 11 and 12: both used to lint clean.
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a.yml", WHOAMI_RULE);
    write(
        dir.path(),
        "b.yml",
        &WHOAMI_RULE.replace("Whoami Execution", "Whoami Again"),
    );
    write(
        dir.path(),
        "c.yml",
        &WHOAMI_RULE
            .replace(
                "5b6a4ae1-0000-4000-8000-00000000c0de",
                "5b6a4ae1-0000-4000-8000-0000000000ff",
            )
            .replace("Image|endswith: '\\whoami.exe'", "Image|re: '\\p{L}{2000}'"),
    );
    let lint = run(tocsin().args(["rules", "lint"]).arg(dir.path()));
    let out = stdout(&lint);
    assert_eq!(lint.status.code(), Some(1), "{out}{}", stderr(&lint));
    assert!(
        out.contains("b.yml:1: rule id 5b6a4ae1-0000-4000-8000-00000000c0de is already used at"),
        "{out}"
    );
    assert!(out.contains("a.yml:1"), "{out}");
    assert!(out.contains("c.yml") && out.contains("too large"), "{out}");
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
    assert_eq!(hunt(&["--min-level", "critical"]), 0);
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
    // Issue 20, finding 20: reported before any rule is loaded (a mistyped path used to
    // wait for thousands of rules to compile first).
    assert!(!stderr(&missing).contains("rules:"), "{}", stderr(&missing));

    let garbage = write(dir.path(), "garbage.evtx", "this is not an event log");
    let out = run(tocsin().arg("hunt").arg(&garbage).arg("-r").arg(&rules));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("garbage.evtx"), "{}", stderr(&out));

    let bad_flag = run(tocsin().args(["hunt", "--format", "xml", "x", "-r", "y"]));
    assert_eq!(bad_flag.status.code(), Some(2));
}

/// Flags that name a library's word are parsed by the library: a wrong word exits 2 and
/// the message lists the words the library accepts.
#[test]
fn a_wrong_word_exits_2_naming_the_accepted_words() {
    let hunt = ["hunt", "x.evtx", "-r", "rules"];
    let cases: [(&[&str], &[&str], &str); 9] = [
        (
            &hunt,
            &["--format", "xml"],
            "table, csv, jsonl, ecs, ecs-bulk or timesketch",
        ),
        (
            &hunt,
            &["--min-level", "severe"],
            "low, medium, high or critical",
        ),
        (&hunt, &["--status", "final"], "stable, test, experimental"),
        (&hunt, &["--quiet-gap", "2y"], "use s, m, h, d or w"),
        (&hunt, &["--max-incident-detections", "0"], "at least 1"),
        (
            &["incidents", "list", "--store", "x.db"],
            &["--status", "open"],
            "new, investigating",
        ),
        (
            &["incidents", "list", "--store", "x.db"],
            &["--min-severity", "huge"],
            "low, medium, high, critical",
        ),
        (
            &["incidents", "show", "INC-1", "--store", "x.db"],
            &["-f", "pdf"],
            "md, html, json",
        ),
        (
            &[
                "incidents",
                "update",
                "INC-1",
                "--store",
                "x.db",
                "--status",
                "closed",
            ],
            &["--resolution", "maybe"],
            "true-positive, false-positive, benign",
        ),
    ];
    for (command, flag, accepted) in cases {
        let out = run(tocsin().args(command).args(flag));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag:?}: {err}");
        assert!(
            err.contains(flag[1]) && err.contains(accepted),
            "{flag:?}: {err}"
        );
    }
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

// ---------------------------------------------------------------------------------------
// Correlations, the incident store and `tocsin incidents`.
// ---------------------------------------------------------------------------------------

/// The project's examples folder (example rules and logs).
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn jsonl_lines(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn titled<'a>(lines: &'a [serde_json::Value], title: &str) -> Vec<&'a serde_json::Value> {
    lines.iter().filter(|l| l["rule_title"] == title).collect()
}

/// Hunts the example logons with the example correlation rules, as JSON Lines.
fn hunt_logons(paths: &[PathBuf], extra: &[&str]) -> Output {
    let out = run(tocsin()
        .arg("hunt")
        .args(paths)
        .arg("--rules")
        .arg(examples().join("rules/correlations"))
        .args(["--format", "jsonl"])
        .args(extra));
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

#[test]
fn example_correlations_give_the_documented_hits() {
    let out = hunt_logons(&[examples().join("logs/logons")], &[]);
    let lines = jsonl_lines(&out);
    let err = stderr(&out);
    assert!(err.contains("3 correlations evaluated, 0 invalid"), "{err}");
    assert!(!err.contains("not evaluated"), "{err}");
    // No correlation says `generate` for the failed logons: they are only correlated.
    assert!(
        titled(&lines, "Failed Network Logon").is_empty(),
        "{lines:?}"
    );
    // The temporal_ordered correlation says `generate: true`: the logons show on their own.
    assert_eq!(titled(&lines, "Successful Network Logon").len(), 2);

    let spray = titled(&lines, "Password Spray from One Address");
    assert_eq!(spray.len(), 1, "{lines:?}");
    let details = &spray[0]["details"];
    assert_eq!(details["correlation"], "value_count");
    assert_eq!(details["IpAddress"], "203.0.113.50");
    assert_eq!(details["distinct_values"], 4);
    assert_eq!(spray[0]["timestamp"], "2024-12-05T10:01:35Z");
    assert_eq!(spray[0]["level"], "high");

    let brute = titled(
        &lines,
        "Repeated Failed Logons for One Account from One Address",
    );
    assert_eq!(brute.len(), 1, "{lines:?}");
    assert_eq!(brute[0]["details"]["TargetUserName"], "erin");
    assert_eq!(brute[0]["details"]["count"], 5);
    assert_eq!(brute[0]["details"]["events"], 5);

    let chained = titled(&lines, "Successful Logon After Repeated Failures");
    assert_eq!(chained.len(), 1, "{lines:?}");
    assert_eq!(chained[0]["details"]["correlation"], "temporal_ordered");
    assert_eq!(chained[0]["details"]["rules_seen"], 2);
    // The five failures behind the nested correlation and the logon.
    assert_eq!(chained[0]["details"]["events"], 6);
    assert_eq!(chained[0]["timestamp"], "2024-12-05T10:04:00Z");
    assert_eq!(lines.len(), 5, "{lines:?}");
}

/// `n` failed network logons (Security 4625) in two files, interleaved in time across
/// them, from a few addresses against a few accounts, one every 7 seconds.
fn many_failed_logons(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut files = [String::new(), String::new()];
    for i in 0..n {
        let at = 1_733_392_800 + 7 * i as i64; // 2024-12-05T10:00:00Z
        let time = chrono::DateTime::from_timestamp(at, 0)
            .expect("time")
            .format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let line = format!(
            r##"{{"Event": {{"System": {{"EventID": 4625, "EventRecordID": {i}, "Channel": "Security", "Computer": "dc0{dc}.corp.example", "TimeCreated": {{"#attributes": {{"SystemTime": "{time}"}}}}}}, "EventData": {{"TargetUserName": "user{user}", "IpAddress": "203.0.113.{ip}", "LogonType": 3, "Status": "0xc000006d"}}}}}}"##,
            dc = i % 2 + 1,
            user = i % 5,
            ip = i % 3,
        );
        files[i % 2].push_str(&line);
        files[i % 2].push('\n');
    }
    files
        .iter()
        .enumerate()
        .map(|(k, text)| write(dir, &format!("dc0{}.jsonl", k + 1), text))
        .collect()
}

#[test]
fn a_replay_spilled_to_disk_finds_exactly_what_one_in_memory_finds() {
    // Issue 20, finding 17: correlations kept every match in memory until the end.
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = many_failed_logons(dir.path(), 6000);
    // In time order (--timeline), so that the two must agree line for line.
    let sorted_lines =
        |out: &Output| -> Vec<String> { stdout(out).lines().map(str::to_owned).collect() };
    let in_memory = hunt_logons(&logs, &["--timeline"]);
    let spilled = hunt_logons(&logs, &["--timeline", "--replay-memory", "1"]);
    assert!(
        !stderr(&in_memory).contains("sorted runs on disk"),
        "{}",
        stderr(&in_memory)
    );
    assert!(
        stderr(&spilled).contains("sorted runs on disk"),
        "the small budget spills: {}",
        stderr(&spilled)
    );
    let lines = sorted_lines(&in_memory);
    assert!(lines.len() > 10, "the correlations fire: {}", lines.len());
    assert_eq!(lines, sorted_lines(&spilled));
}

#[test]
fn selection_filters_what_is_shown_and_keeps_the_inputs_of_correlations() {
    // Issue 20, finding 10: `--min-level high` used to deselect the low and medium rules
    // the high correlations are built on, so the correlations silently never fired.
    let out = hunt_logons(&[examples().join("logs/logons")], &["--min-level", "high"]);
    let lines = jsonl_lines(&out);
    let err = stderr(&out);
    assert!(err.contains("3 correlations evaluated, 0 invalid"), "{err}");
    assert!(err.contains("kept only as correlation inputs"), "{err}");
    let titles: Vec<&str> = lines
        .iter()
        .filter_map(|line| line["rule_title"].as_str())
        .collect();
    // The two high correlations; not the medium correlation nor the informational logons
    // they are built on, although `generate: true` would show them without the selection.
    assert_eq!(
        titles,
        [
            "Password Spray from One Address",
            "Successful Logon After Repeated Failures"
        ],
        "{lines:?}"
    );

    // Selecting the chained correlation by id brings its whole chain back as inputs.
    let out = hunt_logons(
        &[examples().join("logs/logons")],
        &["--include-id", "3c0f5a9e-6b1d-4f7a-9e2c-1a8b7d6e5f05"],
    );
    let lines = jsonl_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        lines[0]["rule_title"],
        "Successful Logon After Repeated Failures"
    );
}

#[test]
fn an_input_named_twice_is_read_once() {
    // Issue 20, finding 9: a folder plus a file in it, or a link to a file, was read twice,
    // and the doubled failures fired correlations of their own.
    let logs = examples().join("logs/logons");
    let dc01 = logs.join("dc01-security.jsonl");
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("again.jsonl");
    std::os::unix::fs::symlink(&dc01, &link).expect("symlink");
    let sorted = |out: &Output| {
        let mut lines: Vec<String> = stdout(out).lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let once = hunt_logons(std::slice::from_ref(&logs), &[]);
    let twice = hunt_logons(&[logs.clone(), dc01.clone(), link], &[]);
    // Threads print detections of different files in any order: compare the sets.
    assert_eq!(sorted(&twice), sorted(&once));
    let err = stderr(&twice);
    assert_eq!(
        err.matches("is read once: it is the same file as").count(),
        2,
        "{err}"
    );
}

#[test]
fn overlapping_inputs_count_each_windows_event_once_in_correlations() {
    // Issue 20, finding 9: two collections of one host's logs that overlap without being
    // the same file; the failures read twice made the brute-force correlation count 10.
    let logs = examples().join("logs/logons");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut later = std::fs::read_to_string(logs.join("dc01-security.jsonl")).expect("read");
    later.push_str(
        r##"{"Event": {"System": {"EventID": 4625, "EventRecordID": 99000, "Channel": "Security", "Computer": "dc01.corp.example", "TimeCreated": {"#attributes": {"SystemTime": "2024-12-06T09:00:00.000Z"}}}, "EventData": {"TargetUserName": "zoe", "IpAddress": "198.51.100.9", "LogonType": 3, "Status": "0xc000006d"}}}"##,
    );
    later.push('\n');
    let overlap = write(dir.path(), "dc01-collected-again.jsonl", &later);
    let correlations = |out: &Output| {
        let mut hits: Vec<String> = jsonl_lines(out)
            .iter()
            .filter(|line| line["details"]["correlation"].is_string())
            // The hit names the copies it counted: those of the lowest path.
            .map(|line| line["details"].to_string())
            .collect();
        hits.sort();
        hits
    };
    let once = hunt_logons(std::slice::from_ref(&logs), &[]);
    let overlapping = hunt_logons(&[logs.clone(), overlap], &[]);
    assert_eq!(correlations(&once).len(), 3, "{:?}", correlations(&once));
    assert_eq!(correlations(&overlapping), correlations(&once));
    let lines = jsonl_lines(&overlapping);
    let brute = titled(
        &lines,
        "Repeated Failed Logons for One Account from One Address",
    );
    assert_eq!(brute[0]["details"]["count"], 5, "{brute:?}");
    let err = stderr(&overlapping);
    assert!(
        err.contains("copies of a Windows event already counted"),
        "{err}"
    );
    // Each copy is still a detection of its own file, as a per-file hunter shows it.
    let shown = |out: &Output| titled(&jsonl_lines(out), "Successful Network Logon").len();
    assert_eq!(shown(&overlapping), shown(&once) + 1);
}

#[test]
fn windows_events_from_log_shippers_meet_windows_rules() {
    // Issue 16, item 6: Winlogbeat / ECS and NXLog shapes matched no Windows rule.
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let winlogbeat = serde_json::json!({
        "@timestamp": "2024-12-05T10:00:00.000Z",
        "event": {"code": "1", "provider": "Microsoft-Windows-Sysmon"},
        "host": {"name": "ws-017"},
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "event_id": "1",
            "computer_name": "ws-017.corp.example",
            "provider_name": "Microsoft-Windows-Sysmon",
            "record_id": 4711,
            "event_data": {"Image": "C:\\Windows\\System32\\whoami.exe", "CommandLine": "whoami"}
        }
    });
    let nxlog = serde_json::json!({
        "EventTime": "2024-12-05T10:00:01Z",
        "Hostname": "ws-018.corp.example",
        "EventID": 1,
        "SourceName": "Microsoft-Windows-Sysmon",
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "RecordNumber": 99,
        "Image": "C:\\Windows\\System32\\whoami.exe",
        "CommandLine": "whoami"
    });
    let input = write(
        dir.path(),
        "shipped.jsonl",
        &format!("{winlogbeat}\n{nxlog}\n"),
    );
    let out = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("--rules")
        .arg(&rules)
        .args(["--format", "jsonl"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = jsonl_lines(&out);
    let computers: Vec<&str> = lines
        .iter()
        .filter_map(|line| line["computer"].as_str())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(computers.contains(&"ws-017.corp.example"), "{lines:?}");
    assert!(computers.contains(&"ws-018.corp.example"), "{lines:?}");
}

#[test]
fn correlation_results_do_not_depend_on_file_order_or_threads() {
    let logs = examples().join("logs/logons");
    let dc01 = logs.join("dc01-security.jsonl");
    let dc02 = logs.join("dc02-security.jsonl");
    let sorted = |out: &Output| {
        let mut lines: Vec<String> = stdout(out).lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let forward = sorted(&hunt_logons(&[dc01.clone(), dc02.clone()], &["-t", "1"]));
    let backward = sorted(&hunt_logons(&[dc02, dc01], &["-t", "1"]));
    let parallel = sorted(&hunt_logons(&[logs], &["-t", "4"]));
    assert_eq!(forward.len(), 5);
    assert_eq!(forward, backward);
    assert_eq!(forward, parallel);
}

#[test]
fn a_rule_and_its_correlation_share_a_file_and_a_bad_correlation_is_located() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    let whoami_twice = format!(
        "{WHOAMI_RULE}name: whoami\n---\ntitle: Whoami Twice\nid: 9a0e0000-0000-4000-8000-000000000001\nlevel: high\ncorrelation:\n  type: event_count\n  rules: [whoami]\n  group-by: [Computer]\n  timespan: 1m\n  generate: true\n  condition:\n    gte: 2\n"
    );
    write(&rules, "whoami.yml", &whoami_twice);
    write(
        &rules,
        "broken.yml",
        "title: Points Nowhere\ncorrelation:\n  type: event_count\n  rules: [no_such_rule]\n  timespan: 1m\n  condition:\n    gte: 2\n",
    );
    let logs = [
        sysmon_line(1, "C:\\Windows\\System32\\whoami.exe"),
        sysmon_line(2, "C:\\Windows\\System32\\whoami.exe"),
    ]
    .join("\n");
    let input = write(dir.path(), "events.jsonl", &logs);
    let out = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("-r")
        .arg(&rules)
        .args(["-f", "jsonl"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("correlation skipped"), "{err}");
    assert!(err.contains("broken.yml:1"), "{err}");
    assert!(err.contains("no_such_rule"), "{err}");
    let lines = jsonl_lines(&out);
    // `generate: true`: both whoami detections, then the correlation hit.
    assert_eq!(titled(&lines, "Whoami Execution").len(), 2, "{lines:?}");
    let twice = titled(&lines, "Whoami Twice");
    assert_eq!(twice.len(), 1, "{lines:?}");
    assert_eq!(twice[0]["computer"], "ws-017.corp.example");

    let lint = run(tocsin().args(["rules", "lint"]).arg(&rules));
    assert_eq!(lint.status.code(), Some(1), "{}", stderr(&lint));
    assert!(stdout(&lint).contains("broken.yml:1"), "{}", stdout(&lint));
}

/// Runs `tocsin incidents ...` on `store`.
fn incidents(store: &Path, args: &[&str]) -> Output {
    let (command, rest) = args.split_first().expect("a subcommand");
    run(tocsin()
        .args(["incidents", command])
        .args(rest)
        .arg("--store")
        .arg(store))
}

/// Hunts `logs` with `rules` into `store`; returns stderr (the store line).
fn hunt_into(store: &Path, logs: &Path, rules: &Path) -> String {
    let out = run(tocsin()
        .arg("hunt")
        .arg(logs)
        .arg("--rules")
        .arg(rules)
        .arg("--store")
        .arg(store)
        .args(["--output", "/dev/null"]));
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
}

/// The `(new, existing)` detections and `(total, new)` incidents of a store line.
fn store_line(err: &str) -> ((u64, u64), (u64, u64)) {
    let line = err
        .lines()
        .find(|l| l.starts_with("store "))
        .unwrap_or_else(|| panic!("no store line in {err}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    // The path may hold digits; the four counts are the last numbers of the line.
    let [new, existing, total, fresh] = numbers[numbers.len() - 4..] else {
        panic!("unexpected store line {line}")
    };
    ((new, existing), (total, fresh))
}

fn listed_ids(store: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["list", "--format", "json"];
    args.extend_from_slice(extra);
    let out = incidents(store, &args);
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("a JSON list");
    list.as_array()
        .expect("an array")
        .iter()
        .map(|i| i["id"].as_str().expect("an id").to_owned())
        .collect()
}

#[test]
fn store_lifecycle_and_reports_over_the_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("tocsin.db");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    for name in ["dc01-security.jsonl", "dc02-security.jsonl"] {
        std::fs::copy(examples().join("logs/logons").join(name), logs.join(name)).expect("copy");
    }
    // A hostile command line must come out of the HTML report escaped.
    write(
        &logs,
        "hostile.jsonl",
        &sysmon_line(
            9,
            "C:\\Windows\\System32\\whoami.exe <script>alert(1)</script>",
        ),
    );
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    for entry in std::fs::read_dir(examples().join("rules/correlations")).expect("examples") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, rules.join(path.file_name().expect("name"))).expect("copy");
    }
    let whoami = WHOAMI_RULE.replace("endswith: '\\whoami.exe'", "contains: '\\whoami.exe'");
    write(&rules, "whoami.yml", &whoami);

    let first = store_line(&hunt_into(&store, &logs, &rules));
    // 2 logons + 3 correlation hits + 1 whoami; the logon incident and the whoami one.
    assert_eq!(first, ((6, 0), (2, 2)));
    let ids = listed_ids(&store, &[]);
    assert_eq!(ids.len(), 2);
    let whoami_incident = ids
        .iter()
        .find(|id| {
            let out = incidents(&store, &["show", id, "--format", "json"]);
            stdout(&out).contains("ws-017")
        })
        .expect("the whoami incident")
        .clone();
    let html = stdout(&incidents(
        &store,
        &["show", &whoami_incident, "--format", "html"],
    ));
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains(&whoami_incident));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");

    let md = stdout(&incidents(&store, &["show", &ids[0], "--format", "md"]));
    assert!(md.starts_with(&format!("# Incident {}", ids[0])), "{md}");

    // Lifecycle through the command line.
    let logon_incident = ids
        .iter()
        .find(|id| **id != whoami_incident)
        .expect("other");
    let update = |args: &[&str]| {
        let mut all = vec!["update", logon_incident.as_str(), "--by", "ana"];
        all.extend_from_slice(args);
        incidents(&store, &all)
    };
    let moved = update(&[
        "--status",
        "investigating",
        "--assign",
        "ana",
        "--note",
        "spray",
    ]);
    assert!(moved.status.success(), "{}", stderr(&moved));
    assert!(stdout(&moved).contains("status new -> investigating"));
    let illegal = update(&["--status", "contained", "--note", "never written"]);
    assert_eq!(illegal.status.code(), Some(2));
    assert!(
        stderr(&illegal).contains("allowed from investigating: confirmed, closed"),
        "{}",
        stderr(&illegal)
    );
    let unresolved = update(&["--status", "closed"]);
    assert_eq!(unresolved.status.code(), Some(2));
    assert!(stderr(&unresolved).contains("resolution"));
    let closed = update(&[
        "--status",
        "closed",
        "--resolution",
        "true-positive",
        "--action",
        "blocked 203.0.113.50",
    ]);
    assert!(closed.status.success(), "{}", stderr(&closed));
    assert_eq!(
        listed_ids(&store, &["--status", "closed"]),
        std::slice::from_ref(logon_incident)
    );
    let report = stdout(&incidents(
        &store,
        &["show", logon_incident, "--format", "json"],
    ));
    let report: serde_json::Value = serde_json::from_str(&report).expect("JSON report");
    let audit = report["audit"].as_array().expect("audit trail");
    // status, assignee, note, status, action: the refused changes left nothing.
    assert_eq!(audit.len(), 5, "{audit:?}");
    assert!(!report.to_string().contains("never written"));

    // Rerun: nothing new (so no incident to save: grouping is incremental), the analyst's
    // work stays.
    let second = store_line(&hunt_into(&store, &logs, &rules));
    assert_eq!(second, ((0, 6), (0, 0)));
    assert_eq!(
        listed_ids(&store, &["--status", "closed"]),
        std::slice::from_ref(logon_incident)
    );
}

/// Issue 20, finding 2: the same logs hunted into one store under three spellings of their
/// path, from two working folders, are one set of detections with one source; a store
/// keyed by an older tocsin is refused before anything is stored twice.
#[test]
fn a_path_typed_another_way_stores_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    write(&logs, "a.jsonl", &sysmon_line(1, "C:\\Windows\\whoami.exe"));
    std::fs::copy(
        examples().join("logs/logons/dc01-security.jsonl"),
        logs.join("dc01.jsonl"),
    )
    .expect("copy");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    write(&rules, "whoami.yml", WHOAMI_RULE);
    for entry in std::fs::read_dir(examples().join("rules/correlations")).expect("examples") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, rules.join(path.file_name().expect("name"))).expect("copy");
    }
    let store = dir.path().join("tocsin.db");
    let hunt = |cwd: &Path, logs: &str| {
        let out = run(tocsin()
            .current_dir(cwd)
            .args(["hunt", logs, "--format", "jsonl", "--rules"])
            .arg(&rules)
            .arg("--store")
            .arg(&store));
        assert!(out.status.success(), "{}", stderr(&out));
        (store_line(&stderr(&out)).0, jsonl_lines(&out))
    };
    let ((new, existing), first) = hunt(dir.path(), "logs");
    assert!(new > 1 && existing == 0, "{new} {existing}");
    let absolute = logs.canonicalize().expect("canonical");
    let sources = |lines: &[serde_json::Value]| -> Vec<String> {
        let mut sources: Vec<String> = lines
            .iter()
            .map(|l| l["source"].as_str().expect("a source").to_owned())
            .collect();
        sources.sort();
        sources
    };
    let expected = sources(&first);
    assert!(
        expected
            .iter()
            .all(|s| s.starts_with(&*absolute.to_string_lossy())),
        "{expected:?}"
    );
    let logs_dir = logs.to_string_lossy().into_owned();
    for (cwd, typed) in [
        (dir.path(), "./logs"),
        (dir.path(), "logs/../logs/"),
        (logs.as_path(), "."),
        (Path::new("/"), logs_dir.as_str()),
    ] {
        let (counts, lines) = hunt(cwd, typed);
        assert_eq!(counts, (0, new), "{typed} from {}", cwd.display());
        assert_eq!(sources(&lines), expected, "{typed}");
    }

    // A store an older tocsin wrote (alert key scheme 1) is refused before the scan.
    let old = dir.path().join("old.db");
    {
        use tocsin_incident::IncidentStore;
        let mut opened = tocsin_store::SqliteStore::open(&old).expect("store");
        opened
            .save_blob(tocsin_incident::KEY_SCHEME_BLOB, b"1")
            .expect("blob");
    }
    let refused = run(tocsin()
        .arg("hunt")
        .arg(&logs)
        .arg("--rules")
        .arg(&rules)
        .arg("--store")
        .arg(&old));
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("alert key scheme 1"),
        "{}",
        stderr(&refused)
    );
    assert!(stdout(&refused).is_empty(), "{}", stdout(&refused));
}

/// Issue 20, finding 11: two different rules with the same id firing on one record are two
/// stored detections, not one silently dropped.
#[test]
fn rules_sharing_an_id_both_store_their_detection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("mkdir");
    write(&rules, "whoami.yml", WHOAMI_RULE);
    let copy = WHOAMI_RULE.replace("title: Whoami Execution", "title: Whoami Copy");
    write(&rules, "copy.yml", &copy);
    let input = write(
        dir.path(),
        "e.jsonl",
        &sysmon_line(1, "C:\\Windows\\System32\\whoami.exe"),
    );
    let store = dir.path().join("tocsin.db");
    let ((new, existing), _) = store_line(&hunt_into(&store, &input, &rules));
    assert_eq!((new, existing), (2, 0));
    let ((new, existing), _) = store_line(&hunt_into(&store, &input, &rules));
    assert_eq!((new, existing), (0, 2));
}

#[test]
fn incidents_commands_explain_input_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("none.db");
    let out = incidents(&missing, &["list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("create one with `tocsin hunt"),
        "{}",
        stderr(&out)
    );
    assert!(!missing.exists(), "list must not create a store");

    let store = dir.path().join("tocsin.db");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let input = write(dir.path(), "e.jsonl", &sysmon_line(1, "C:\\notepad.exe"));
    let err = hunt_into(&store, &input, &rules);
    assert_eq!(store_line(&err), ((0, 0), (0, 0)));
    let empty = incidents(&store, &["list"]);
    assert_eq!(empty.status.code(), Some(1), "{}", stderr(&empty));
    let unknown = incidents(&store, &["show", "INC-000000000000"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("no incident INC-000000000000"));
    let nothing = incidents(&store, &["update", "INC-000000000000"]);
    assert_eq!(nothing.status.code(), Some(2));
    assert!(stderr(&nothing).contains("nothing to change"));
    let bad_gap = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("-r")
        .arg(&rules)
        .args(["--quiet-gap", "5 minutes"]));
    assert_eq!(bad_gap.status.code(), Some(2));
}

/// Hunt a folder of the shared EVTX samples into a store, list, render one incident as
/// HTML, rerun: no duplicates.
#[test]
fn hunt_shared_evtx_into_a_store_then_list_and_show() {
    let (Some(evtx), Some(rules)) = (
        tocsin_testdata::shared_path("evtx/EVTX-ATTACK-SAMPLES/Credential Access"),
        tocsin_testdata::shared_path("sigma/rules/rules/windows"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("tocsin.db");
    let ((new, existing), (total, fresh)) = store_line(&hunt_into(&store, &evtx, &rules));
    assert!(new > 0 && existing == 0, "{new} {existing}");
    assert!(total > 0 && fresh == total, "{total} {fresh}");
    let ids = listed_ids(&store, &[]);
    assert_eq!(ids.len() as u64, total);
    let html = stdout(&incidents(&store, &["show", &ids[0], "--format", "html"]));
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains(&ids[0]));
    let critical = listed_ids(&store, &["--min-severity", "critical", "--limit", "2"]);
    assert!(critical.len() <= 2);

    // A rerun adds nothing, so its incremental grouping saves no incident.
    let again = store_line(&hunt_into(&store, &evtx, &rules));
    assert_eq!(again, ((0, new), (0, 0)));
    assert_eq!(listed_ids(&store, &[]), ids);
}

/// A hunt killed with SIGKILL while it writes leaves a store that opens and that a rerun
/// completes without duplicates.
#[test]
fn a_hunt_killed_mid_write_leaves_a_consistent_store() {
    const EVENTS: u64 = 40_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let mut text = String::new();
    for record in 1..=EVENTS {
        text.push_str(&sysmon_line(record, "C:\\Windows\\System32\\whoami.exe"));
        text.push('\n');
    }
    let input = write(dir.path(), "big.jsonl", &text);
    let store = dir.path().join("tocsin.db");
    // Created (and migrated) up front, so that the polling below only ever reads.
    drop(tocsin_store::SqliteStore::open(&store).expect("store created"));
    let mut child = tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("-r")
        .arg(&rules)
        .arg("--store")
        .arg(&store)
        .args(["--output", "/dev/null", "--quiet"])
        // Each write holds its transaction open for 25 ms before it commits (the 40 batches
        // of detections alone then take a second): the kill below lands in the middle of a
        // write, and well before the last, on any machine.
        .env(tocsin_store::FAULT_COMMIT_DELAY_MS, "25")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait for the first committed batch, then kill the hunt in the middle of its writes.
    let stored_alerts = || {
        tocsin_store::SqliteStore::open(&store)
            .and_then(|opened| opened.counts())
            .map_or(0, |[alerts, ..]| alerts)
    };
    while stored_alerts() == 0 {
        if child.try_wait().expect("child state").is_some() {
            let out = child.wait_with_output().expect("output");
            panic!("the hunt ended before it could be killed: {}", stderr(&out));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(
        child.try_wait().expect("child state").is_none(),
        "finished too early"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let listed = incidents(&store, &["list"]);
    assert!(
        matches!(listed.status.code(), Some(0 | 1)),
        "{}",
        stderr(&listed)
    );
    let after_kill = {
        use tocsin_incident::IncidentStore;
        let opened = tocsin_store::SqliteStore::open(&store).expect("the store opens");
        assert_eq!(opened.integrity_check().expect("checked"), Ok(()));
        opened.all_alerts().expect("alerts readable").len() as u64
    };
    assert!(after_kill > 0 && after_kill < EVENTS, "{after_kill}");
    // Writes are whole batches of 1000.
    assert!(after_kill.is_multiple_of(1000), "{after_kill}");

    let rerun = store_line(&hunt_into(&store, &input, &rules));
    assert_eq!(rerun.0, (EVENTS - after_kill, after_kill));
    let listed = incidents(&store, &["list"]);
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
}

/// `--quiet-gap` decides when a quiet incident stops taking detections; `--attack` names
/// tactics and techniques from the ATT&CK data.
#[test]
fn quiet_gap_and_attack_catalogue_shape_the_incidents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = examples().join("logs/logons");
    let rules = examples().join("rules/correlations");
    let incidents_with = |gap: &str, opening: &str, cap: &str| {
        let store = dir.path().join(format!("gap-{gap}-{opening}-{cap}.db"));
        let out = run(tocsin()
            .arg("hunt")
            .arg(&logs)
            .arg("-r")
            .arg(&rules)
            .arg("--store")
            .arg(&store)
            .args(["--quiet-gap", gap, "--severe-quiet-gap", gap])
            .args(["--opening-level", opening])
            // Any detection at the opening level opens: this test is about the gap.
            .args(["--opening-risk", "0"])
            .args(["--max-incident-detections", cap])
            .args(["--output", "/dev/null"]));
        assert!(out.status.success(), "{}", stderr(&out));
        (store_line(&stderr(&out)).1 .0, store)
    };
    // The detections come 20 to 80 seconds apart.
    assert_eq!(incidents_with("1h", "medium", "5000").0, 1);
    assert_eq!(incidents_with("30s", "informational", "5000").0, 3);
    // An informational logon alone opens nothing by default: it is context.
    assert_eq!(incidents_with("30s", "medium", "5000").0, 2);
    // Capped at two detections, the one incident of an hour's gap is continued.
    let (count, store) = incidents_with("1h", "medium", "2");
    assert!(count > 1, "{count}");
    let ids = listed_ids(&store, &[]);
    let continued = ids.iter().any(|id| {
        let report = stdout(&incidents(&store, &["show", id]));
        ids.iter()
            .any(|other| report.contains(&format!("**Continues**: {other}")))
    });
    assert!(continued, "no incident continues another: {ids:?}");

    let Some(attack) = tocsin_testdata::shared_path("attack/mitre-cti/enterprise-attack") else {
        return;
    };
    let store = dir.path().join("attack.db");
    let out = run(tocsin()
        .arg("hunt")
        .arg(&logs)
        .arg("-r")
        .arg(&rules)
        .arg("--store")
        .arg(&store)
        .env("TOCSIN_ATTACK", &attack)
        .args(["--output", "/dev/null"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let ids = listed_ids(&store, &[]);
    let report = stdout(&incidents(&store, &["show", &ids[0]]));
    assert!(report.contains("TA0006"), "{report}");
    assert!(report.contains("Password Spraying"), "{report}");
}

/// Issue 20, finding 1: `-o` never destroys evidence. An output that is an input, a file
/// inside a hunted folder or the incident store is refused before anything is written, and
/// what was there is left as it was.
#[test]
fn an_output_that_is_an_input_or_the_store_is_refused_and_left_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("logs folder");
    let victim = logs.join("victim.jsonl");
    std::fs::copy(examples().join("logs/logons/dc01-security.jsonl"), &victim).expect("copy");
    let other = examples().join("logs/logons/dc02-security.jsonl");
    std::fs::copy(other, logs.join("dc02.jsonl")).expect("copy");
    let evidence = std::fs::read(&victim).expect("read");
    let rules = examples().join("rules/correlations");
    let store = dir.path().join("s.db");

    for (input, output) in [(&victim, &victim), (&logs, &victim)] {
        let out = run(tocsin()
            .arg("hunt")
            .arg(input)
            .arg("-r")
            .arg(&rules)
            .arg("-o")
            .arg(output));
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("it is an input"), "{}", stderr(&out));
        assert_eq!(
            std::fs::read(&victim).expect("read"),
            evidence,
            "evidence kept"
        );
    }

    hunt_into(&store, &logs, &rules);
    // `--output /dev/null` writes to the device, never renames a file over it.
    use std::os::unix::fs::FileTypeExt;
    let null = std::fs::metadata("/dev/null").expect("/dev/null");
    assert!(
        null.file_type().is_char_device(),
        "/dev/null is still a device"
    );
    let before = std::fs::read(&store).expect("store");
    let hunt = run(tocsin()
        .arg("hunt")
        .arg(&logs)
        .arg("-r")
        .arg(&rules)
        .arg("--store")
        .arg(&store)
        .arg("-o")
        .arg(&store));
    assert_eq!(hunt.status.code(), Some(2), "{}", stderr(&hunt));
    assert!(
        stderr(&hunt).contains("incident store"),
        "{}",
        stderr(&hunt)
    );
    let ids = listed_ids(&store, &[]);
    let show_md_into = |target: &Path| {
        let target = target.display().to_string();
        incidents(&store, &["show", &ids[0], "-f", "md", "-o", &target])
    };
    let show = show_md_into(&store);
    assert_eq!(show.status.code(), Some(2), "{}", stderr(&show));
    assert_eq!(std::fs::read(&store).expect("store"), before, "store kept");
    assert_eq!(listed_ids(&store, &[]), ids);

    // A good output is written whole.
    let report = dir.path().join("report.md");
    let shown = show_md_into(&report);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(std::fs::read_to_string(&report)
        .expect("report")
        .contains(&ids[0]));
}

#[test]
fn events_prints_each_decoded_record_with_its_source_and_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(
        dir.path(),
        "events.jsonl",
        &[
            sysmon_line(41, "C:\\Windows\\System32\\whoami.exe"),
            sysmon_line(42, "C:\\Windows\\System32\\notepad.exe"),
        ]
        .join("\n"),
    );
    let out = run(tocsin().arg("events").arg(&input));
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", stdout(&out));
    let first = &lines[0];
    assert_eq!(first["source"], input.display().to_string());
    assert_eq!(first["record"], 1, "the line");
    assert_eq!(
        first["record_id"], 41,
        "the EventRecordID, as detections show it"
    );
    assert_eq!(
        first["fields"]["Image"],
        "C:\\Windows\\System32\\whoami.exe"
    );
    assert_eq!(first["fields"]["EventID"], 1);
    assert_eq!(
        first["fields"]["Channel"],
        "Microsoft-Windows-Sysmon/Operational"
    );
}

#[test]
fn events_and_hunt_name_a_source_alike_however_it_was_typed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("logs folder");
    write(
        &logs,
        "events.jsonl",
        &sysmon_line(41, "C:\\Windows\\System32\\whoami.exe"),
    );
    std::os::unix::fs::symlink(&logs, dir.path().join("link")).expect("symlink");
    let rule = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let events = run(tocsin().current_dir(dir.path()).args(["events", "link"]));
    assert!(events.status.success(), "{}", stderr(&events));
    let hunt = run(tocsin()
        .current_dir(dir.path())
        .args([
            "hunt",
            "link/events.jsonl",
            "--format",
            "jsonl",
            "--quiet",
            "--rules",
        ])
        .arg(&rule));
    assert!(hunt.status.success(), "{}", stderr(&hunt));
    let event: serde_json::Value = serde_json::from_str(stdout(&events).trim()).expect("one event");
    let detection = &jsonl_lines(&hunt)[0];
    assert_eq!(event["source"], detection["source"]);
    let canonical = logs.canonicalize().expect("canonical").join("events.jsonl");
    assert_eq!(event["source"], canonical.display().to_string());
}

// ---------------------------------------------------------------------------------------
// The Sigma logsource taxonomy as the specification writes it, on the shared corpora.
// ---------------------------------------------------------------------------------------

#[test]
fn captured_outbound_events_are_hunted_with_their_logsource() {
    // Issue 15: session activity reaches tocsin as the appliance's outbound events.
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(
        dir.path(),
        "outbound.log",
        "event=support_conference_begin&version=3&timestamp=1733239565&lsid=e9e9\n\
         event=support_conference_member_added&version=3&timestamp=1733239566&lsid=e9e9&type=representative&username=svc%2Dapi\n",
    );
    let rule = write(
        dir.path(),
        "rule.yml",
        "title: Representative joins\nid: 7d1c7a0e-3a51-4c55-9a43-0b3b7d6e1f01\nlevel: low\nlogsource:\n  product: remote_support\n  service: outbound_event\ndetection:\n  sel:\n    event: support_conference_member_added\n    type: representative\n  condition: sel\n",
    );
    let out = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("--rules")
        .arg(&rule)
        .args(["--format", "jsonl", "--quiet"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = jsonl_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["record_id"], 2);
    assert_eq!(lines[0]["timestamp"], "2024-12-03T15:26:06Z");
}

#[test]
fn a_command_shell_in_a_session_report_is_found_with_who_opened_it() {
    // Issue 15: command shells and file transfers are only in the session reports.
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(
        dir.path(),
        "sessions.xml",
        r#"<?xml version="1.0"?>
<session_list xmlns="http://www.beyondtrust.com/sra/namespaces/API/reporting">
<session lsid="e9e9"><customer_list><customer gsnumber="2"><hostname>WS-0042</hostname></customer></customer_list>
<rep_list><representative gsnumber="1" id="7"><username>helpdesk-svc</username></representative></rep_list>
<session_details>
<event timestamp="1733239565" event_type="Session Start"></event>
<event timestamp="1733239600" event_type="Command Shell Session Started"><performed_by type="representative" gsnumber="1">Svc</performed_by></event>
</session_details></session></session_list>
"#,
    );
    let rule = write(
        dir.path(),
        "rule.yml",
        "title: Command shell in a session\nid: 7d1c7a0e-3a51-4c55-9a43-0b3b7d6e1f02\nlevel: medium\nlogsource:\n  product: remote_support\n  service: session_report\ndetection:\n  sel:\n    event_type: Command Shell Session Started\n  condition: sel\nfields: [performed_by_username, customer_hostname]\n",
    );
    let out = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("--rules")
        .arg(&rule)
        .args(["--format", "jsonl", "--quiet"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = jsonl_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["record_id"], 2);
    let details = lines[0]["details"].to_string();
    assert!(
        details.contains("helpdesk-svc") && details.contains("WS-0042"),
        "{details}"
    );
}

#[test]
fn from_and_to_keep_the_events_of_a_time_range() {
    // Issue 19: --from / --to select by event time, in hunt and events alike.
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |record: u64, time: &str| {
        sysmon_line(record, "C:\\Windows\\System32\\whoami.exe")
            .replace("2024-12-05T10:11:12.000001Z", time)
    };
    let untimed = sysmon_line(4, "C:\\Windows\\System32\\whoami.exe")
        .replace("\"2024-12-05T10:11:12.000001Z\"", "\"\"");
    let input = write(
        dir.path(),
        "events.jsonl",
        &[
            at(1, "2024-12-01T00:00:00Z"),
            at(2, "2024-12-03T12:00:00Z"),
            at(3, "2024-12-05T23:59:59Z"),
            untimed,
        ]
        .join("\n"),
    );
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let hunt = |range: &[&str]| {
        run(tocsin()
            .arg("hunt")
            .arg(&input)
            .arg("--rules")
            .arg(&rules)
            .args(["--format", "jsonl"])
            .args(range))
    };
    let records = |out: &Output| -> Vec<u64> {
        jsonl_lines(out)
            .iter()
            .filter_map(|l| l["record_id"].as_u64())
            .collect()
    };
    assert_eq!(records(&hunt(&[])), [1, 2, 3, 4]);
    let ranged = hunt(&["--from", "2024-12-02", "--to", "2024-12-05T23:59:59Z"]);
    assert!(ranged.status.success(), "{}", stderr(&ranged));
    assert_eq!(records(&ranged), [2, 3]);
    assert!(
        stderr(&ranged).contains("2 events outside the time range"),
        "{}",
        stderr(&ranged)
    );
    assert_eq!(records(&hunt(&["--to", "2024-12-02T00:00:00+01:00"])), [1]);
    // Relative to now: these 2024 events are all more than a day old.
    assert!(records(&hunt(&["--from", "-1d"])).is_empty());
    let events = run(tocsin()
        .args([
            "events",
            "--from",
            "2024-12-03T12:00:00Z",
            "--to",
            "2024-12-03T12:00:00Z",
        ])
        .arg(&input));
    assert_eq!(stdout(&events).lines().count(), 1, "{}", stdout(&events));
    // Bad times are refused before anything is read.
    let bad = hunt(&["--from", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("RFC 3339"), "{}", stderr(&bad));
    let empty = hunt(&["--from", "2024-12-05", "--to", "2024-12-01"]);
    assert!(!empty.status.success());
    assert!(
        stderr(&empty).contains("--from is after --to"),
        "{}",
        stderr(&empty)
    );
}

#[test]
fn timeline_sorts_detections_by_event_time_across_files() {
    // Issue 19: --timeline in every output format, a stable order for equal times.
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |record: u64, time: &str| {
        sysmon_line(record, "C:\\Windows\\System32\\whoami.exe")
            .replace("2024-12-05T10:11:12.000001Z", time)
    };
    // The fraction sorts after the whole second, though its text sorts before.
    let a = write(
        dir.path(),
        "a.jsonl",
        &[
            at(1, "2024-12-05T10:00:00.5Z"),
            at(2, "2024-12-05T12:00:00Z"),
        ]
        .join("\n"),
    );
    let b = write(
        dir.path(),
        "b.jsonl",
        &[at(3, "2024-12-05T10:00:00Z"), at(4, "2024-12-05T12:00:00Z")].join("\n"),
    );
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let hunt = |format: &str| {
        let out = run(tocsin()
            .arg("hunt")
            .args([&b, &a])
            .arg("--rules")
            .arg(&rules)
            .args([
                "--timeline",
                "--quiet",
                "--threads",
                "2",
                "--format",
                format,
            ]));
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let order: Vec<u64> = jsonl_lines(&hunt("jsonl"))
        .iter()
        .filter_map(|l| l["record_id"].as_u64())
        .collect();
    // 12:00:00 twice: a.jsonl before b.jsonl, by source.
    assert_eq!(order, [3, 1, 2, 4]);
    let csv = stdout(&hunt("csv"));
    let times: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(
        times,
        [
            "2024-12-05T10:00:00Z",
            "2024-12-05T10:00:00.500000Z",
            "2024-12-05T12:00:00Z",
            "2024-12-05T12:00:00Z"
        ]
    );
}

/// A JSON Lines log of three Sysmon process starts: whoami (record 1), a mimikatz in
/// C:\\Temp (2) and notepad (3), for the search tests.
fn three_process_starts(dir: &Path) -> PathBuf {
    write(
        dir,
        "events.jsonl",
        &[
            sysmon_line(1, "C:\\Windows\\System32\\whoami.exe"),
            sysmon_line(2, "C:\\Temp\\MIMIKATZ.exe"),
            sysmon_line(3, "C:\\Windows\\notepad.exe"),
        ]
        .join("\n"),
    )
}

#[test]
fn search_prints_the_matching_events_themselves() {
    // Issue 19: tocsin search, with the names rules use; bad input gets a clear error.
    let dir = tempfile::tempdir().expect("tempdir");
    let input = three_process_starts(dir.path());
    let search = |flags: &[&str]| run(tocsin().arg("search").arg(&input).args(flags));
    let records = |out: &Output| -> Vec<u64> {
        jsonl_lines(out)
            .iter()
            .filter_map(|l| l["record_id"].as_u64())
            .collect()
    };
    let found = search(&["--keyword", "mimikatz"]);
    assert_eq!(found.status.code(), Some(0), "{}", stderr(&found));
    assert_eq!(records(&found), [2]);
    assert!(
        stderr(&found).contains("1 of 3 events matched"),
        "{}",
        stderr(&found)
    );
    assert_eq!(records(&search(&["-k", "whoami", "-k", "notepad"])), [1, 3]);
    assert_eq!(records(&search(&["--field", "Image=*\\notepad.exe"])), [3]);
    assert_eq!(records(&search(&["--regex", r"temp\\mimi"])), [2]);
    let table = search(&["--field", "EventID=1", "--show", "Image,Computer", "-q"]);
    let printed = stdout(&table);
    let rows: Vec<&str> = printed.lines().collect();
    assert_eq!(rows[0], "time\tsource\trecord\tImage\tComputer");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(
        rows[1].ends_with("\t1\tC:\\Windows\\System32\\whoami.exe\tws-017.corp.example"),
        "{}",
        rows[1]
    );
    // Nothing found: exit 1, as grep; a field no event has is named.
    let none = search(&["--field", "NoSuchField=x"]);
    assert_eq!(none.status.code(), Some(1), "{}", stderr(&none));
    assert!(
        stderr(&none).contains("--field NoSuchField: no event read has a field of that name"),
        "{}",
        stderr(&none)
    );
    let bad = search(&["--regex", "("]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("not a valid regular expression"),
        "{}",
        stderr(&bad)
    );
    let bad = search(&["--from", "soon", "-k", "x"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn search_with_a_sigma_detection() {
    // Issue 19: `--sigma-condition`, one selection, a whole block, keywords or @FILE,
    // compiled by the rules' engine; its errors name the line of the user's text.
    let dir = tempfile::tempdir().expect("tempdir");
    let input = three_process_starts(dir.path());
    let search = |detection: &str| {
        run(tocsin()
            .arg("search")
            .arg(&input)
            .args(["-q", "--sigma-condition", detection]))
    };
    let records = |out: &Output| -> Vec<u64> {
        assert!(out.status.code() != Some(2), "{}", stderr(out));
        jsonl_lines(out)
            .iter()
            .filter_map(|l| l["record_id"].as_u64())
            .collect()
    };
    assert_eq!(records(&search("{Image|endswith: '\\notepad.exe'}")), [3]);
    assert_eq!(records(&search("[mimikatz]")), [2]);
    let block = "{win: {Image|startswith: 'C:\\Windows\\'}, pad: {Image|contains: notepad}, condition: win and not pad}";
    assert_eq!(records(&search(block)), [1]);
    let file = write(
        dir.path(),
        "detection.yml",
        "sel:\n  EventID: 1\n  Image|re: '(?i)mimi'\ncondition: sel\n",
    );
    assert_eq!(records(&search(&format!("@{}", file.display()))), [2]);
    let none = search("{Image: nothing}");
    assert_eq!(none.status.code(), Some(1), "{}", stderr(&none));
    let bad = search("sel:\n  Image|nosuchmodifier: x\ncondition: sel");
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("--sigma-condition: line 2: detection.sel: unknown modifier"),
        "{}",
        stderr(&bad)
    );
    let bad = search("{sel: {EventID: 1}, condition: sel or}");
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("condition"), "{}", stderr(&bad));
}

#[test]
fn a_sigma_detection_finds_what_the_same_field_search_finds_in_the_evtx_corpus() {
    // Issue 19: the detection meets Windows events too (EVTX is `product: windows`).
    let Some(evtx) = tocsin_testdata::shared_path("evtx") else {
        return;
    };
    let count = |flags: &[&str]| -> usize {
        let out = run(tocsin().arg("search").arg(&evtx).args(flags).arg("-q"));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).lines().count()
    };
    let by_field = count(&["--field", "EventID=4625"]);
    assert!(by_field > 1000, "{by_field}");
    assert_eq!(count(&["--sigma-condition", "{EventID: 4625}"]), by_field);
    assert_eq!(
        count(&["--sigma-condition", "[mimikatz]"]),
        count(&["--keyword", "mimikatz"])
    );
}

/// The property tables of the Navigator layer format document (`attack-navigator/`):
/// section title -> property name -> (type, required).
fn layer_format_tables(text: &str) -> HashMap<String, HashMap<String, (String, bool)>> {
    let mut tables: HashMap<String, HashMap<String, (String, bool)>> = HashMap::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.trim().to_ascii_lowercase();
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || cells[1].is_empty() || cells[1] == "Name" || cells[1].starts_with(':')
        {
            continue;
        }
        let required = cells[3].eq_ignore_ascii_case("yes");
        tables.entry(section.clone()).or_default().insert(
            cells[1].to_owned(),
            (cells[2].to_ascii_lowercase(), required),
        );
    }
    tables
}

/// Checks `value` against the table `section`: no property it does not define, every
/// required one present, each of the type it says; recurses into the objects it names.
fn check_layer_object(
    tables: &HashMap<String, HashMap<String, (String, bool)>>,
    section: &str,
    value: &serde_json::Value,
    path: &str,
) {
    let table = tables
        .get(section)
        .unwrap_or_else(|| panic!("no table `{section}`"));
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{path} is not an object"));
    for (name, (_, required)) in table {
        assert!(
            !required || object.contains_key(name),
            "{path}.{name} is required"
        );
    }
    for (name, item) in object {
        let (kind, _) = table
            .get(name)
            .unwrap_or_else(|| panic!("{path}.{name} is not in the layer format"));
        let nested = |object: &str| match object {
            "version object" => Some("version object properties"),
            "technique objects" => Some("technique object properties"),
            "gradient object" => Some("gradient object properties"),
            "layout object" => Some("layout object properties"),
            "legenditem objects" => Some("legenditem object properties"),
            "metadata objects and divider objects" => Some("metadata object properties"),
            _ => None,
        };
        let here = format!("{path}.{name}");
        match kind.as_str() {
            "string" => assert!(item.is_string(), "{here} must be a string"),
            "number" => assert!(item.is_number(), "{here} must be a number"),
            "boolean" => assert!(item.is_boolean(), "{here} must be a boolean"),
            array if array.starts_with("array of ") => {
                let items = item
                    .as_array()
                    .unwrap_or_else(|| panic!("{here} must be an array"));
                let of = &array["array of ".len()..];
                for (i, element) in items.iter().enumerate() {
                    match nested(of) {
                        Some(section) => {
                            check_layer_object(tables, section, element, &format!("{here}[{i}]"))
                        }
                        None if of == "string" => assert!(element.is_string(), "{here}[{i}]"),
                        None => panic!("{here}: unchecked item type {of}"),
                    }
                }
            }
            object => match nested(object) {
                Some(section) => check_layer_object(tables, section, item, &here),
                None => panic!("{here}: unchecked type {object}"),
            },
        }
    }
}

#[test]
fn navigator_layers_follow_the_layer_format() {
    // Issue 19: hunt --navigator and incidents show --format navigator.
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(
        dir.path(),
        "events.jsonl",
        &[
            sysmon_line(1, "C:\\Windows\\System32\\whoami.exe"),
            sysmon_line(2, "C:\\Windows\\System32\\whoami.exe"),
        ]
        .join("\n"),
    );
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let layer_path = dir.path().join("layer.json");
    let store = dir.path().join("s.db");
    let out = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("--rules")
        .arg(&rules)
        .arg("--navigator")
        .arg(&layer_path)
        .arg("--store")
        .arg(&store)
        .args(["--quiet", "--output", "/dev/null"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let layer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&layer_path).expect("layer")).expect("JSON");
    assert_eq!(layer["techniques"][0]["techniqueID"], "T1033");
    assert_eq!(layer["techniques"][0]["score"], 2);
    assert_eq!(layer["techniques"][0]["comment"], "Whoami Execution (2)");
    let ids = listed_ids(&store, &[]);
    let shown = incidents(&store, &["show", &ids[0], "--format", "navigator"]);
    let incident_layer: serde_json::Value = serde_json::from_str(&stdout(&shown)).expect("JSON");
    assert_eq!(incident_layer["techniques"], layer["techniques"]);
    // A layer may not overwrite an input.
    let refused = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("--rules")
        .arg(&rules)
        .arg("--navigator")
        .arg(&input));
    assert!(!refused.status.success());
    let Some(format) = tocsin_testdata::shared_path("attack-navigator/layerformat-v4.5.md") else {
        return;
    };
    let tables = layer_format_tables(&std::fs::read_to_string(format).expect("format"));
    for layer in [&layer, &incident_layer] {
        check_layer_object(&tables, "property table", layer, "layer");
        assert_eq!(layer["versions"]["layer"], "4.5");
        assert_eq!(layer["domain"], "enterprise-attack");
        assert!(layer["gradient"]["maxValue"].as_f64() > layer["gradient"]["minValue"].as_f64());
    }
}

/// A rule for Zeek's RDP log that fires on every record *not* from a private address, as
/// SigmaHQ's "Publicly Accessible RDP Service" does.
const NEGATED_ZEEK_RULE: &str = "title: public rdp\nid: 5c6a1b4e-0b5f-4b57-9d0e-6f3b3f1f0a01\nlevel: high\nlogsource:\n  product: zeek\n  service: rdp\ndetection:\n  private:\n    id.orig_h|cidr: ['10.0.0.0/8', '192.168.0.0/16']\n  condition: not private\n";

#[test]
fn plain_json_meets_rules_for_a_product_only_where_the_user_declares_it() {
    // Issue 16, item 5: 1,000 plain lines gave 1,000 high detections of a negated Zeek rule.
    let dir = tempfile::tempdir().expect("tempdir");
    let line = r#"{"message":"user logged in","host":"web1"}"#;
    let input = write(dir.path(), "app.jsonl", &vec![line; 1000].join("\n"));
    let own = write(dir.path(), "zeek.yml", NEGATED_ZEEK_RULE);
    let shared =
        tocsin_testdata::shared_path("sigma/rules/rules/network/zeek/zeek_rdp_public_listener.yml");
    for rule in std::iter::once(own).chain(shared) {
        let hunt = |extra: &[&str]| {
            let out = run(tocsin()
                .arg("hunt")
                .arg(&input)
                .arg("--rules")
                .arg(&rule)
                .args(["--format", "jsonl"])
                .args(extra));
            assert!(out.status.success(), "{}", stderr(&out));
            out
        };
        let undeclared = hunt(&[]);
        assert_eq!(jsonl_lines(&undeclared).len(), 0, "{}", rule.display());
        assert!(
            stderr(&undeclared).contains("--logsource"),
            "the hunt says why: {}",
            stderr(&undeclared)
        );
        let declared = hunt(&["--logsource", "product:zeek,service:rdp", "--quiet"]);
        assert_eq!(jsonl_lines(&declared).len(), 1000, "{}", rule.display());
        let other = hunt(&["--logsource", "product:zeek,service:conn", "--quiet"]);
        assert_eq!(jsonl_lines(&other).len(), 0, "{}", rule.display());
    }
}

#[test]
fn the_same_note_for_many_files_is_said_once_and_counted() {
    // Review: a hunt of thousands of application logs printed one note per file.
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..3 {
        write(
            dir.path(),
            &format!("app{i}.jsonl"),
            &format!(r#"{{"message":"hello","n":{i}}}"#),
        );
    }
    let rule = write(dir.path(), "zeek.yml", NEGATED_ZEEK_RULE);
    let out = run(tocsin()
        .arg("hunt")
        .arg(dir.path())
        .arg("--rules")
        .arg(&rule)
        .args(["--format", "jsonl", "--extensions", "jsonl"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("record 1 and maybe others say neither").count(),
        2,
        "{err}"
    );
    assert!(
        err.contains("note: 2 more files had the same note"),
        "{err}"
    );
}

/// The records of the shared EVTX file `input` (under `evtx/`) at which the shared SigmaHQ
/// rule `rule` (under `sigma/rules/rules/`) fires; `None` when the shared data is absent.
fn shared_detections(rule: &str, input: &str) -> Option<Vec<u64>> {
    let rule = tocsin_testdata::shared_path(Path::new("sigma/rules/rules").join(rule))?;
    let input = tocsin_testdata::shared_path(Path::new("evtx").join(input))?;
    let out = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("--rules")
        .arg(&rule)
        .args(["--format", "jsonl", "--quiet"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut records: Vec<u64> = jsonl_lines(&out)
        .iter()
        .map(|line| line["record_id"].as_u64().expect("a record id"))
        .collect();
    records.sort_unstable();
    Some(records)
}

/// The taxonomy's `service: dns-server` is the `DNS Server` channel (issue 16, item 1).
#[test]
fn a_dns_server_rule_meets_the_dns_server_channel() {
    let Some(records) = shared_detections(
        "windows/builtin/dns_server/win_dns_server_failed_dns_zone_transfer.yml",
        "hayabusa-sample-evtx/EVTX-to-MITRE-Attack/TA0007-Discovery/T1016-System Network Configuration Discovery/ID6004-DNS-server-failed zone transfer.evtx",
    ) else {
        return;
    };
    assert!(records.contains(&341), "{records:?}");
}

/// The taxonomy places `registry_delete` on Sysmon event 12 whatever its `EventType`
/// (issue 16, item 2), as pySigma, Hayabusa and Chainsaw do: the rule meets record 311350,
/// an event 12 whose `EventType` is `CreateKey`, which thor.yml's narrowing hid.
#[test]
fn a_registry_delete_rule_meets_sysmon_event_12_without_event_type_narrowing() {
    let Some(records) = shared_detections(
        "windows/registry/registry_delete/registry_delete_runmru.yml",
        "EVTX-ATTACK-SAMPLES/Lateral Movement/LM_sysmon_3_12_13_1_SharpRDP.evtx",
    ) else {
        return;
    };
    assert!(records.contains(&311350), "{records:?}");
}

/// `product: windows` alone selects every Windows log (the specification's LogSource
/// section; issue 16, item 3): the Mimikatz keyword rule meets the System log's service
/// installation of `mimidrv.sys`.
#[test]
fn a_rule_of_product_windows_alone_meets_every_windows_log() {
    let Some(records) = shared_detections(
        "windows/builtin/win_alert_mimikatz_keywords.yml",
        "hayabusa-sample-evtx/EVTX-to-MITRE-Attack/TA0003-Persistence/T1543.003-Create or Modify System Process-Windows Service/ID7045-New service for Mimikatz +npcap.evtx",
    ) else {
        return;
    };
    assert!(records.contains(&453867), "{records:?}");
}

/// An EVTX record without a `<Channel>` (record 1 here, an event forwarder's bookmark) is
/// still Windows event-log output (issue 16, item 4): a Zeek rule never meets it.
#[test]
fn an_evtx_record_without_a_channel_meets_no_rule_of_another_product() {
    let Some(records) = shared_detections(
        "network/zeek/zeek_rdp_public_listener.yml",
        "hayabusa-sample-evtx/EVTX-to-MITRE-Attack/TA0007-Discovery/T1135.xxx-Network Share Discovery/ID5140-5145-Bloodhound-SharpHound enumeration via SMB.evtx",
    ) else {
        return;
    };
    assert_eq!(records, [0u64; 0]);
}

/// Issue 19: `tocsin completions bash` is a script bash loads, whose completion function
/// completes subcommands and flags (run in a real bash); the other shells get a script too.
#[test]
fn shell_completions_complete_subcommands_and_flags_in_a_real_bash() {
    let out = run(tocsin().args(["completions", "bash"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("tocsin.bash");
    std::fs::write(&script, &out.stdout).expect("script");
    let complete = |words: &[&str]| {
        let current = words.len() - 1;
        let probe = format!(
            "source '{}'; COMP_WORDS=({}); COMP_CWORD={current}; _tocsin tocsin '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            words.join(" "),
            words[current],
            words[current - 1],
        );
        let out = run(Command::new("bash").args(["--norc", "-c", &probe]));
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(complete(&["tocsin", "inc"]).trim(), "incidents");
    assert_eq!(complete(&["tocsin", "incidents", "exp"]).trim(), "export");
    assert!(complete(&["tocsin", "hunt", "--opening-r"]).contains("--opening-risk"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run(tocsin().args(["completions", shell]));
        assert!(
            out.status.success() && stdout(&out).contains("incidents"),
            "{shell}"
        );
    }
    assert_eq!(
        run(tocsin().args(["completions", "tcsh"])).status.code(),
        Some(2)
    );
}

/// Issue 19: `tocsin man` prints the tocsin(1) page, and `--out DIR` writes a page for
/// every command, each documenting that command's own flags, read back with `man` when
/// it is installed.
#[test]
fn man_pages_cover_every_command_and_its_flags() {
    let out = run(tocsin().arg("man"));
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH tocsin 1"), "{page}");
    assert!(page.contains("tocsin\\-hunt(1)"), "{page}");

    let dir = tempfile::tempdir().expect("tempdir");
    let man_dir = dir.path().join("man1");
    let out = run(tocsin().args(["man", "--out"]).arg(&man_dir));
    assert!(out.status.success(), "{}", stderr(&out));
    let pages = |name: &str| std::fs::read_to_string(man_dir.join(name)).unwrap_or_default();
    for (file, flag) in [
        ("tocsin-hunt.1", "\\-\\-opening\\-risk"),
        ("tocsin-search.1", "\\-\\-keyword"),
        ("tocsin-incidents-export.1", "\\-\\-producer"),
        ("tocsin-rules-lint.1", "rules"),
        ("tocsin-completions.1", "powershell"),
    ] {
        assert!(pages(file).contains(flag), "{file} lacks {flag}");
    }
    let help = stdout(&run(tocsin().arg("--help")));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(commands.len() >= 10, "{help}");
    for command in commands {
        let file = format!("tocsin-{command}.1");
        assert!(man_dir.join(&file).exists(), "no page {file}");
    }
    if Command::new("man").arg("--version").output().is_ok() {
        let out = run(Command::new("man")
            .arg("-l")
            .arg(man_dir.join("tocsin-hunt.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"));
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("--rules"), "{}", stdout(&out));
    }
}
