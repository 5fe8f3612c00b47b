//! End-to-end tests of the outputs other tools take as they are (issue 19): Elastic Common
//! Schema documents checked field by field against ECS's own reference, Timesketch's JSONL
//! import format, over hunts and searches of the shared EVTX corpus and a syslog sample.

// Test code: helpers may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

mod common;

use common::{run, stderr, stdout, sysmon_line, tocsin, WHOAMI_RULE};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path
}

/// One ECS field as `ecs_flat.yml` defines it.
struct EcsField {
    kind: String,
    /// The values the field may take, when ECS lists them.
    allowed: Vec<String>,
}

/// `ecs_flat.yml` read with the workspace's YAML reader: flat name -> type and allowed values.
fn ecs_reference(path: &Path) -> HashMap<String, EcsField> {
    let text = std::fs::read_to_string(path).expect("read ecs_flat.yml");
    let documents = tocsin_yaml::load(&text, 64).expect("ecs_flat.yml is YAML");
    let top = tocsin_yaml::mapping(&documents[0]).expect("a mapping of fields");
    let mut fields = HashMap::new();
    for (name, definition) in top {
        let name = tocsin_yaml::as_str(name).expect("field name").to_owned();
        let entries = tocsin_yaml::mapping(definition).expect("field definition");
        let get = |key: &str| {
            entries
                .iter()
                .find(|(k, _)| tocsin_yaml::as_str(k) == Some(key))
                .map(|(_, v)| *v)
        };
        let kind = get("type")
            .and_then(tocsin_yaml::as_str)
            .unwrap_or_else(|| panic!("{name} has no type"))
            .to_owned();
        let allowed = get("allowed_values")
            .and_then(tocsin_yaml::sequence)
            .map(|values| {
                values
                    .iter()
                    .filter_map(|v| {
                        let value = tocsin_yaml::mapping(v)?;
                        let (_, name) = value
                            .into_iter()
                            .find(|(k, _)| tocsin_yaml::as_str(k) == Some("name"))?;
                        tocsin_yaml::as_str(name).map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        fields.insert(name, EcsField { kind, allowed });
    }
    fields
}

/// Whether a JSON value (an array: each item) fits an ECS type.
fn fits(kind: &str, value: &Json) -> bool {
    if let Json::Array(items) = value {
        return items
            .iter()
            .all(|item| !item.is_array() && fits(kind, item));
    }
    match kind {
        "keyword" | "wildcard" | "constant_keyword" | "match_only_text" | "text" => {
            value.is_string()
        }
        "ip" => value.as_str().is_some_and(|s| s.parse::<IpAddr>().is_ok()),
        "date" => value
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        "long" | "integer" | "short" | "byte" => value.is_i64() || value.is_u64(),
        "float" | "double" | "scaled_float" | "half_float" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => false,
    }
}

/// The leaves of an ECS document by flat name, except those under the custom namespace.
fn leaves<'a>(prefix: &str, value: &'a Json, out: &mut Vec<(String, &'a Json)>) {
    match value {
        Json::Object(object) => {
            for (key, item) in object {
                let name = match prefix.is_empty() {
                    true => key.clone(),
                    false => format!("{prefix}.{key}"),
                };
                if name == "tocsin" {
                    assert!(item.is_object(), "tocsin.* is an object");
                    continue;
                }
                leaves(&name, item, out);
            }
        }
        leaf => out.push((prefix.to_owned(), leaf)),
    }
}

/// Checks every field of every document against ECS; returns how often each was written.
fn check_ecs(
    reference: &HashMap<String, EcsField>,
    documents: &[Json],
    kind: &str,
) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for document in documents {
        assert_eq!(document["event"]["kind"], kind, "{document}");
        assert!(document["ecs"]["version"].is_string(), "{document}");
        let mut fields = Vec::new();
        leaves("", document, &mut fields);
        for (name, value) in fields {
            let field = reference
                .get(&name)
                .unwrap_or_else(|| panic!("`{name}` is not an ECS field: {document}"));
            assert!(
                fits(&field.kind, value),
                "`{name}` = {value} does not fit ECS type {}",
                field.kind
            );
            if !field.allowed.is_empty() {
                let values: Vec<&Json> = match value {
                    Json::Array(items) => items.iter().collect(),
                    one => vec![one],
                };
                for value in values {
                    let text = value.as_str().unwrap_or_default();
                    assert!(
                        field.allowed.iter().any(|a| a == text),
                        "`{name}` = {value} is not one of ECS's allowed values"
                    );
                }
            }
            *seen.entry(name).or_insert(0) += 1;
        }
    }
    seen
}

fn json_lines(text: &str) -> Vec<Json> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// An RFC 3164 syslog sample that SigmaHQ's Linux rules fire on (sshd errors).
const SYSLOG_SAMPLE: &str = "\
<38>Dec  4 06:59:58 web-01 sshd[4123]: Accepted publickey for deploy from 198.51.100.7 port 50522 ssh2
<38>Dec  4 07:00:01 web-01 sshd[4124]: Corrupted MAC on input.
<38>Dec  4 07:00:02 web-01 sshd[4125]: fatal: buffer_get_string: bad string
<86>Dec  4 07:00:03 web-01 sudo: deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/bin/ls
";

/// Hunts `paths` with `rules` in `format`; returns standard output.
fn hunt(paths: &[&Path], rules: &Path, format: &str) -> String {
    let out = run(tocsin()
        .arg("hunt")
        .args(paths)
        .arg("--rules")
        .arg(rules)
        .args(["--format", format, "--quiet", "--syslog-year", "2026"]));
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn ecs_documents_use_only_ecs_fields_of_the_right_type() {
    // Issue 19: detections and events as ECS; a test checks every field name against the
    // ECS field reference.
    let (Some(reference), Some(evtx), Some(rules)) = (
        tocsin_testdata::shared_path("ecs/ecs_flat.yml"),
        tocsin_testdata::shared_path("evtx"),
        tocsin_testdata::shared_path("sigma/rules"),
    ) else {
        return;
    };
    let reference = ecs_reference(&reference);
    assert!(reference.len() > 1000, "{} fields", reference.len());
    let dir = tempfile::tempdir().expect("tempdir");
    let syslog = write(dir.path(), "auth.log", SYSLOG_SAMPLE);

    // Every detection of the SigmaHQ rules over the whole EVTX corpus and the syslog sample.
    let alerts = json_lines(&hunt(&[&evtx, &syslog], &rules, "ecs"));
    assert!(alerts.len() > 1000, "{} detections", alerts.len());
    let seen = check_ecs(&reference, &alerts, "alert");
    for expected in [
        "@timestamp",
        "host.name",
        "user.name",
        "source.ip",
        "process.command_line",
        "process.executable",
        "process.pid",
        "process.parent.executable",
        "process.parent.pid",
        "rule.id",
        "rule.name",
        "rule.description",
        "rule.reference",
        "rule.author",
        "threat.framework",
        "threat.technique.id",
        "threat.tactic.id",
        "threat.tactic.name",
        "log.file.path",
        "log.syslog.priority",
        "event.code",
        "event.category",
        "event.outcome",
    ] {
        assert!(seen.contains_key(expected), "no document has {expected}");
    }
    // Every detection names its rule and its file, and keeps what ECS lacks under tocsin.*.
    for alert in &alerts {
        assert!(alert["rule"]["name"].is_string(), "{alert}");
        assert!(alert["log"]["file"]["path"].is_string(), "{alert}");
        assert!(alert["tocsin"]["level"].is_string(), "{alert}");
    }
    let sshd: Vec<&Json> = alerts
        .iter()
        .filter(|a| a["rule"]["id"] == "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc")
        .collect();
    assert_eq!(sshd.len(), 2, "the two sshd errors");
    assert_eq!(sshd[0]["host"]["name"], "web-01");
    assert_eq!(sshd[0]["process"]["name"], "sshd");
    assert_eq!(sshd[0]["threat"]["tactic"]["id"][0], "TA0001");

    // Correlation hits, and the demo's logs (appliance syslog, API audit log, endpoint
    // JSON) with the built-in rules and the behavioural detectors' anomalies.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let correlations = json_lines(&hunt(
        &[&examples.join("logs/logons")],
        &examples.join("rules/correlations"),
        "ecs",
    ));
    check_ecs(&reference, &correlations, "alert");
    let hit = correlations
        .iter()
        .find(|a| a["tocsin"]["details"]["correlation"].is_string())
        .expect("a correlation hit");
    assert_eq!(hit["log"]["file"]["path"].as_array().map(Vec::len), Some(2));
    let demo = dir.path().join("demo");
    let out = run(tocsin().arg("demo").arg("--out").arg(&demo).args([
        "--days",
        "10",
        "--workstations",
        "6",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(tocsin().arg("hunt").arg(&demo).args([
        "--rules",
        "builtin",
        "--behaviour",
        "--format",
        "ecs",
        "--quiet",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let demo_alerts = json_lines(&stdout(&out));
    check_ecs(&reference, &demo_alerts, "alert");
    assert!(
        demo_alerts.iter().any(|a| a["rule"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("anomaly."))),
        "an anomaly"
    );

    // The bulk body: an action line before each of the same documents.
    let bulk = hunt(&[&evtx, &syslog], &rules, "ecs-bulk");
    let lines: Vec<&str> = bulk.lines().collect();
    assert_eq!(lines.len(), 2 * alerts.len());
    for pair in lines.chunks(2) {
        assert_eq!(pair[0], r#"{"create":{}}"#);
    }

    // Searched events are ECS events.
    let out = run(tocsin()
        .arg("search")
        .arg(&evtx)
        .arg(&syslog)
        .args(["--keyword", "exe", "--keyword", "sshd", "--format", "ecs"])
        .args(["--quiet"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let events = json_lines(&stdout(&out));
    assert!(events.len() > 1000, "{} events", events.len());
    let seen = check_ecs(&reference, &events, "event");
    assert!(!seen.contains_key("rule.id") && !seen.contains_key("threat.framework"));
    assert!(seen.contains_key("process.executable") && seen.contains_key("message"));
    // A table of chosen fields is not ECS.
    let both = run(tocsin()
        .arg("search")
        .arg(&syslog)
        .args(["-k", "sshd", "--show", "host", "--format", "ecs"]));
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
}

#[test]
fn ecs_names_techniques_with_the_attack_catalogue() {
    let Some(attack) = tocsin_testdata::shared_path("attack/mitre-cti/enterprise-attack") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let input = write(
        dir.path(),
        "events.jsonl",
        &sysmon_line(1, "C:\\Windows\\System32\\whoami.exe"),
    );
    let rules = write(dir.path(), "whoami.yml", WHOAMI_RULE);
    let out = run(tocsin()
        .arg("hunt")
        .arg(&input)
        .arg("--rules")
        .arg(&rules)
        .arg("--attack")
        .arg(&attack)
        .args(["--format", "ecs"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("ignored"), "{}", stderr(&out));
    let alerts = json_lines(&stdout(&out));
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["threat"]["technique"]["id"][0], "T1033");
    assert_eq!(
        alerts[0]["threat"]["technique"]["name"][0],
        "System Owner/User Discovery"
    );
    assert_eq!(alerts[0]["threat"]["tactic"]["name"][0], "Discovery");
    assert_eq!(alerts[0]["user"], Json::Null, "the fixture names no user");
    assert_eq!(
        alerts[0]["process"]["executable"],
        "C:\\Windows\\System32\\whoami.exe"
    );
}

#[test]
fn timesketch_lines_have_the_three_required_fields() {
    // Issue 19: Timesketch's JSONL import needs message, datetime (ISO 8601) and
    // timestamp_desc on every line.
    let (Some(evtx), Some(rules)) = (
        tocsin_testdata::shared_path("evtx"),
        tocsin_testdata::shared_path("sigma/rules"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let syslog = write(dir.path(), "auth.log", SYSLOG_SAMPLE);
    let text = hunt(&[&evtx, &syslog], &rules, "timesketch");
    let lines = json_lines(&text);
    let jsonl = json_lines(&hunt(&[&evtx, &syslog], &rules, "jsonl"));
    assert_eq!(lines.len(), jsonl.len(), "one line per detection");
    assert!(lines.len() > 1000);
    let mut descriptions = BTreeSet::new();
    for line in &lines {
        let message = line["message"].as_str().expect("message is text");
        assert!(!message.is_empty(), "{line}");
        let datetime = line["datetime"].as_str().expect("datetime is text");
        let parsed = chrono::DateTime::parse_from_rfc3339(datetime)
            .unwrap_or_else(|e| panic!("{datetime} is not ISO 8601: {e}"));
        let desc = line["timestamp_desc"].as_str().expect("timestamp_desc");
        assert!(!desc.is_empty());
        descriptions.insert(desc.to_owned());
        assert_eq!(line["timestamp"], parsed.timestamp_micros(), "{line}");
        assert!(line["rule_title"].is_string() && line["source"].is_string());
        for (key, value) in line.as_object().expect("an object") {
            assert!(
                value.is_string() || value.is_number() || value.is_null(),
                "{key} = {value}: Timesketch fields are flat"
            );
        }
    }
    assert!(descriptions.contains("Event Time"), "{descriptions:?}");
}
