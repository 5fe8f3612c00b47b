//! End-to-end tests of `tocsin hunt --html-report FILE` (issue 19): the page of a hunt over
//! the shared EVTX corpus is well-formed, loads nothing and counts what the same hunt's
//! JSON Lines output holds; hostile text from logs and rules comes out as text; every
//! output format and `--timeline` can go with it; a path that cannot be written fails at
//! once, naming it.

// Test code: helpers may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::Value as Json;

mod common;

use common::{run, stderr, stdout, tocsin};

const LEVELS: [&str; 5] = ["critical", "high", "medium", "low", "informational"];

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path
}

/// What the tests read from a page: its text, the per-level totals (the `data-count` of
/// each `tr[data-level]`), the `data-count` of each row of the rules table, and the rows of
/// the detections table.
#[derive(Debug, Default)]
struct Page {
    text: String,
    levels: HashMap<String, u64>,
    rule_counts: Vec<u64>,
    detection_rows: usize,
}

/// The character a reference (`lt`, `#39`) stands for; the page uses no other.
fn reference(name: &str) -> char {
    match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        number => number
            .strip_prefix('#')
            .and_then(|n| n.parse::<u32>().ok())
            .and_then(char::from_u32)
            .unwrap_or_else(|| panic!("unexpected reference &{number};")),
    }
}

/// The raw value of an attribute (those read here hold no references).
fn attribute(element: &quick_xml::events::BytesStart<'_>, name: &str) -> Option<String> {
    element
        .attributes()
        .map(|a| a.expect("a well-formed attribute"))
        .find(|a| a.key.as_ref() == name)
        .map(|a| a.value.into_owned())
}

/// Reads the page as XML (it is written well-formed), checking that every element closes
/// in order and that the document ends with all of them closed.
fn parse(html: &str) -> Page {
    let mut reader = Reader::from_str(html);
    reader.config_mut().check_end_names = true;
    let mut open: Vec<String> = Vec::new();
    let mut page = Page::default();
    let mut level: Option<String> = None;
    let mut table: Option<String> = None;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed at {}: {e}", reader.buffer_position()));
        if let Event::Start(element) | Event::Empty(element) = &event {
            for name in ["src", "href", "xlink:href", "srcset", "action", "data"] {
                assert!(attribute(element, name).is_none(), "a `{name}` attribute");
            }
        }
        match event {
            Event::Start(element) => {
                let name = element.name().as_ref().to_owned();
                match name.as_str() {
                    "table" => table = attribute(&element, "class"),
                    "tr" => {
                        level = attribute(&element, "data-level");
                        if table.as_deref() == Some("detections")
                            && open.last().map(String::as_str) == Some("tbody")
                        {
                            page.detection_rows += 1;
                        }
                    }
                    "td" => {
                        if let Some(count) = attribute(&element, "data-count") {
                            let count: u64 = count.parse().expect("a count");
                            if let Some(level) = &level {
                                page.levels.insert(level.clone(), count);
                            } else if table.as_deref() == Some("rules") {
                                page.rule_counts.push(count);
                            }
                        }
                    }
                    _ => {}
                }
                open.push(name);
            }
            Event::End(element) => {
                let name = element.name().as_ref().to_owned();
                assert_eq!(open.pop().as_deref(), Some(name.as_str()), "closing {name}");
                if name == "table" {
                    table = None;
                }
            }
            Event::Text(text) => page.text.push_str(&text),
            Event::GeneralRef(name) => page.text.push(reference(&name)),
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(open.is_empty(), "left open: {open:?}");
    page
}

/// Checks that the page fetches nothing: no scripts, no sources or links at all (so none
/// over the network), no imports or URLs in CSS. (`parse` checks every element's
/// attributes too.)
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for external in [
        "<script",
        // Attribute values are quoted, and escaped text holds no `"`: these are attributes.
        "src=\"", "href=\"", "@import", "url(", "<link", "<iframe", "<object", "<embed",
    ] {
        assert!(!lower.contains(external), "`{external}` in the page");
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        lower.contains("default-src 'none'"),
        "a policy that forbids fetching"
    );
}

#[test]
fn the_report_of_the_evtx_corpus_counts_what_the_jsonl_output_holds() {
    let (Some(evtx), Some(rules)) = (
        tocsin_testdata::shared_path("evtx"),
        tocsin_testdata::shared_path("sigma/rules"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("hunt.html");
    let out = run(tocsin()
        .arg("hunt")
        .arg(&evtx)
        .arg("--rules")
        .arg(&rules)
        .arg("--html-report")
        .arg(&report)
        .args(["--format", "jsonl", "--quiet"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let detections: Vec<Json> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert!(detections.len() > 1000, "{} detections", detections.len());

    let html = std::fs::read_to_string(&report).expect("the report is written");
    assert_self_contained(&html);
    let page = parse(&html);
    let mut levels: HashMap<String, u64> = HashMap::new();
    let mut rules: HashMap<(String, String), u64> = HashMap::new();
    for detection in &detections {
        *levels
            .entry(detection["level"].as_str().expect("level").to_owned())
            .or_default() += 1;
        let rule = (
            detection["rule_title"].to_string(),
            detection["rule_id"].to_string(),
        );
        *rules.entry(rule).or_default() += 1;
    }
    for level in LEVELS {
        assert_eq!(
            page.levels.get(level).copied(),
            Some(levels.get(level).copied().unwrap_or(0)),
            "{level}"
        );
    }
    assert_eq!(page.levels.values().sum::<u64>(), detections.len() as u64);
    let top = rules.values().max().copied();
    assert_eq!(
        page.rule_counts.first().copied(),
        top,
        "the top rule's count"
    );
    assert!(
        page.rule_counts.windows(2).all(|w| w[0] >= w[1]),
        "most first"
    );
    // The table is capped, and says how many more the output holds.
    assert_eq!(page.detection_rows, 1000);
    let more = format!(
        "{} more in the hunt output.",
        group(detections.len() - 1000)
    );
    assert!(page.text.contains(&more), "{more}");
    for section in [
        "Detections by level",
        "Top rules",
        "Top computers",
        "Detections over time",
        "ATT&CK techniques",
    ] {
        assert!(page.text.contains(section), "{section}");
    }
    assert!(html.matches("<svg").count() >= 4, "charts");
    assert!(
        page.text.contains(&evtx.display().to_string()),
        "the inputs are named"
    );
}

/// `n` with thousands separated by commas, as the page writes counts.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rule for the web application log of [`HOSTILE_LOG`], with markup in its own text.
const HOSTILE_RULE: &str = r#"title: "Script <b>tag</b> & <i>friends</i>"
id: 2f0a4c1e-9d3b-4c55-8a43-0b3b7d6e1f0a
status: test
level: critical
tags: [attack.execution, attack.t1059.007]
logsource:
  product: webapp
detection:
  selection:
    message|contains: '<script>'
  condition: selection
"#;

/// A JSON Lines log whose fields hold markup: two lines the rule matches, one it does not.
const HOSTILE_LOG: &str = r#"{"@timestamp":"2024-12-05T10:11:12Z","host":"web-01","message":"GET /?q=<script>alert(1)</script>","agent":"<img src=x onerror=alert(2)>"}
{"@timestamp":"2024-12-05T12:00:00Z","host":"web-01","message":"GET /?q=</td></tr></table><script>alert(3)</script>"}
{"@timestamp":"2024-12-05T12:30:00Z","host":"web-01","message":"GET /index.html"}
"#;

/// Hunts the hostile log into `report` with `extra` flags; returns the run.
fn hunt_hostile(dir: &Path, report: &Path, extra: &[&str]) -> std::process::Output {
    let log = write(dir, "web.jsonl", HOSTILE_LOG);
    let rule = write(dir, "script.yml", HOSTILE_RULE);
    run(tocsin()
        .arg("hunt")
        .arg(&log)
        .arg("--rules")
        .arg(&rule)
        .args(["--logsource", "product:webapp", "--quiet"])
        .arg("--html-report")
        .arg(report)
        .args(extra))
}

#[test]
fn hostile_text_from_logs_and_rules_comes_out_as_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("report.html");
    let out = hunt_hostile(dir.path(), &report, &["--format", "jsonl"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));
    let html = std::fs::read_to_string(&report).expect("the report is written");
    assert_self_contained(&html);
    assert!(!html.contains("<b>") && !html.contains("<i>") && !html.contains("<img"));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    let page = parse(&html);
    assert!(
        page.text.contains("GET /?q=<script>alert(1)</script>"),
        "shown as text"
    );
    assert!(page
        .text
        .contains("</td></tr></table><script>alert(3)</script>"));
    assert!(page.text.contains("Script <b>tag</b> & <i>friends</i>"));
    assert_eq!(page.levels.get("critical"), Some(&2));
    assert_eq!(page.rule_counts, [2]);
    assert_eq!(page.detection_rows, 2);
    assert!(page.text.contains("T1059.007"), "techniques");
    assert!(
        page.text.contains("Detections per hour (UTC)"),
        "a span of hours"
    );
}

#[test]
fn every_format_and_the_timeline_can_go_with_a_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    for format in ["table", "csv", "jsonl", "ecs", "ecs-bulk", "timesketch"] {
        for timeline in [false, true] {
            let report = dir.path().join(format!("{format}-{timeline}.html"));
            let mut extra = vec!["--format", format];
            if timeline {
                extra.push("--timeline");
            }
            let out = hunt_hostile(dir.path(), &report, &extra);
            assert!(out.status.success(), "{format}: {}", stderr(&out));
            assert!(
                !stdout(&out).is_empty(),
                "{format}: detections still go to stdout"
            );
            let page = parse(&std::fs::read_to_string(&report).expect("written"));
            assert_eq!(page.levels.get("critical"), Some(&2), "{format} {timeline}");
        }
    }
    // With the detections in a file too.
    let report = dir.path().join("both.html");
    let output = dir.path().join("detections.csv");
    let out = hunt_hostile(
        dir.path(),
        &report,
        &["-f", "csv", "-o", output.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(output.exists() && report.exists());
}

#[test]
fn a_hunt_without_detections_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(
        dir.path(),
        "web.jsonl",
        r#"{"@timestamp":"2024-12-05T10:11:12Z","message":"GET /"}"#,
    );
    let rule = write(dir.path(), "script.yml", HOSTILE_RULE);
    let report = dir.path().join("empty.html");
    let out = run(tocsin()
        .arg("hunt")
        .arg(&log)
        .arg("--rules")
        .arg(&rule)
        .args(["--logsource", "product:webapp", "--quiet", "--html-report"])
        .arg(&report));
    assert!(out.status.success(), "{}", stderr(&out));
    let page = parse(&std::fs::read_to_string(&report).expect("written"));
    assert!(
        page.text
            .contains("No detections: none of the 1 rules matched the 1 events read."),
        "{}",
        page.text
    );
    for level in LEVELS {
        assert_eq!(page.levels.get(level), Some(&0), "{level}");
    }
}

#[test]
fn a_report_that_cannot_be_written_fails_at_once_naming_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let report = dir.path().join("no-such-folder").join("report.html");
    let out = hunt_hostile(dir.path(), &report, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let error = stderr(&out);
    assert!(error.contains("--html-report"), "{error}");
    assert!(error.contains(&report.display().to_string()), "{error}");
    assert!(stdout(&out).is_empty(), "nothing hunted: {}", stdout(&out));
    // Nor may it replace an input, or share a file with another output.
    let log = dir.path().join("web.jsonl");
    let out = hunt_hostile(dir.path(), &log, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(&log).unwrap().contains("alert(1)"),
        "the input is intact"
    );
    let same = dir.path().join("same.out");
    let out = hunt_hostile(dir.path(), &same, &["--navigator", same.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--navigator and --html-report name the same file"),
        "{}",
        stderr(&out)
    );
}
