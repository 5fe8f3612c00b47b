//! `tocsin hunt --indicators` (issue 18): partners' STIX indicators as detections, end to
//! end through the real binary. A bundle with an address, an account, a revoked, an
//! expired, a `FOLLOWEDBY` and a Sigma indicator is hunted over JSON Lines; then the
//! demo's own STIX export is hunted over the demo's logs with no rule at all.

// Test code: helpers may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{run, stderr, stdout, sysmon_line, tocsin, WHOAMI_RULE};
use serde_json::{json, Value};

/// The partner's bundle.
fn bundle() -> Value {
    let indicator = |id: &str, name: &str, pattern: &str, extra: Value| {
        let mut object = json!({
            "type": "indicator", "spec_version": "2.1", "id": id,
            "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
            "created_by_ref": "identity--6c2d34a8-0000-4000-8000-000000000001",
            "name": name, "pattern": pattern, "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
        });
        for (key, value) in extra.as_object().unwrap() {
            object[key] = value.clone();
        }
        object
    };
    json!({"type": "bundle", "id": "bundle--6c2d34a8-0000-4000-8000-0000000000ff", "objects": [
        {"type": "identity", "spec_version": "2.1", "id": "identity--6c2d34a8-0000-4000-8000-000000000001",
         "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z",
         "name": "Partner CERT", "identity_class": "organization"},
        indicator("indicator--6c2d34a8-0000-4000-8000-000000000002", "C2 address",
                  "[ipv4-addr:value = '203.0.113.9']",
                  json!({"confidence": 90, "kill_chain_phases": [
                      {"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}]})),
        indicator("indicator--6c2d34a8-0000-4000-8000-000000000003", "Stolen account",
                  "[user-account:user_id = 'k-stolen']", json!({"confidence": 40})),
        indicator("indicator--6c2d34a8-0000-4000-8000-000000000004", "Withdrawn address",
                  "[ipv4-addr:value = '198.51.100.3']", json!({"revoked": true})),
        indicator("indicator--6c2d34a8-0000-4000-8000-000000000005", "Old address",
                  "[ipv4-addr:value = '198.51.100.4']",
                  json!({"valid_until": "2026-02-01T00:00:00Z"})),
        indicator("indicator--6c2d34a8-0000-4000-8000-000000000006", "Two steps",
                  "[ipv4-addr:value = '198.51.100.5'] FOLLOWEDBY [ipv4-addr:value = '198.51.100.6']",
                  json!({})),
        indicator("indicator--6c2d34a8-0000-4000-8000-000000000007", "Partner whoami rule",
                  WHOAMI_RULE, json!({"pattern_type": "sigma", "confidence": 70})),
    ]})
}

/// The log: one event per indicator, each named by its `case`.
fn log() -> String {
    let mut lines = vec![sysmon_line(1, "C:\\Windows\\System32\\whoami.exe")];
    for (case, fields) in [
        ("address", json!({"src_ip": "203.0.113.9:51234"})),
        ("account", json!({"user": "CORP\\k-stolen"})),
        ("revoked", json!({"src_ip": "198.51.100.3"})),
        ("expired", json!({"src_ip": "198.51.100.4"})),
        ("sequence", json!({"src_ip": "198.51.100.5"})),
    ] {
        let mut event = json!({"@timestamp": "2026-03-01T10:00:00Z", "case": case});
        for (key, value) in fields.as_object().unwrap() {
            event[key] = value.clone();
        }
        lines.push(event.to_string());
    }
    lines.join("\n") + "\n"
}

fn detections(out: &str) -> Vec<Value> {
    out.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

#[test]
fn indicators_become_detections_naming_indicator_producer_and_confidence() {
    let dir = tempfile::tempdir().unwrap();
    let intel = dir.path().join("partner.json");
    std::fs::write(&intel, bundle().to_string()).unwrap();
    let logs = dir.path().join("events.jsonl");
    std::fs::write(&logs, log()).unwrap();
    let empty = dir.path().join("no-rules");
    std::fs::create_dir(&empty).unwrap();
    let store = dir.path().join("store.db");

    let out = run(tocsin()
        .arg("hunt")
        .arg(&logs)
        .arg("--rules")
        .arg(&empty)
        .arg("--indicators")
        .arg(&intel)
        .args(["-f", "jsonl", "--store"])
        .arg(&store));
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("indicators: 6 loaded from 7 objects; 2 compiled, 1 Sigma rules, 1 skipped, 1 revoked, 1 expired"),
        "{err}"
    );
    assert!(
        err.contains("FOLLOWEDBY needs a sequence of events"),
        "{err}"
    );

    let found = detections(&stdout(&out));
    let titles: Vec<&str> = found
        .iter()
        .filter_map(|d| d["rule_title"].as_str())
        .collect();
    assert_eq!(found.len(), 3, "{titles:?}");
    let address = found
        .iter()
        .find(|d| d["rule_id"] == "indicator--6c2d34a8-0000-4000-8000-000000000002")
        .expect("the address indicator");
    assert_eq!(
        address["rule_title"],
        "STIX indicator: C2 address (confidence 90)"
    );
    assert_eq!(address["author"], "Partner CERT");
    assert_eq!(address["level"], "high");
    assert_eq!(address["details"]["src_ip"], "203.0.113.9:51234");
    let account = found
        .iter()
        .find(|d| d["rule_title"] == "STIX indicator: Stolen account (confidence 40)")
        .expect("the account indicator");
    assert_eq!(account["level"], "low");
    assert_eq!(account["details"]["user"], "CORP\\k-stolen");
    let sigma = found
        .iter()
        .find(|d| d["rule_title"] == "Whoami Execution")
        .expect("the Sigma indicator");
    assert_eq!(sigma["author"], "tocsin tests");

    let listed = run(tocsin()
        .args(["incidents", "list", "-f", "json", "--store"])
        .arg(&store));
    let text = stdout(&listed);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(!text.trim().is_empty(), "the store holds the detections");
}

#[test]
fn a_missing_indicator_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("events.jsonl");
    std::fs::write(&logs, log()).unwrap();
    let out = run(tocsin()
        .arg("hunt")
        .arg(&logs)
        .args(["--rules", "builtin", "--indicators"])
        .arg(dir.path().join("nope.json")));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.json"), "{}", stderr(&out));
}

/// The demo's attack, shared as STIX, is found again in the demo's logs through its
/// indicators alone: the stolen key and its addresses.
#[test]
fn the_demos_own_export_finds_the_attack_with_no_rule() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(tocsin().arg("demo").arg("--out").arg(&demo).arg("--quiet"));
    assert!(out.status.success(), "{}", stderr(&out));
    let store = demo.join("tocsin.db");
    let listed = run(tocsin()
        .args(["incidents", "list", "-f", "json", "--store"])
        .arg(&store));
    let incidents: Value = serde_json::from_str(&stdout(&listed)).expect("list");
    let attack = incidents
        .as_array()
        .and_then(|all| all.iter().max_by_key(|i| i["severity"]["score"].as_u64()))
        .and_then(|i| i["id"].as_str())
        .expect("an incident")
        .to_owned();
    let bundle = dir.path().join("attack.json");
    let out = run(tocsin()
        .args(["incidents", "export", &attack, "-o"])
        .arg(&bundle)
        .arg("--store")
        .arg(&store)
        .args(["--producer", "Example Treasury SOC"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let patterns = stix_patterns(&bundle);
    let bundle = without_sigma(&bundle);
    assert!(
        patterns.iter().any(|p| p.starts_with("[ipv4-addr:value")),
        "{patterns:?}"
    );

    let empty = dir.path().join("no-rules");
    std::fs::create_dir(&empty).unwrap();
    let logs: Vec<std::path::PathBuf> = std::fs::read_dir(&demo)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "jsonl" || e == "log" || e == "xml")
        })
        .collect();
    assert!(logs.len() >= 3, "{logs:?}");
    let out = run(tocsin()
        .arg("hunt")
        .args(&logs)
        .arg("--rules")
        .arg(&empty)
        .arg("--indicators")
        .arg(&bundle)
        .args(["-f", "jsonl", "--quiet"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let found = detections(&stdout(&out));
    let matched: Vec<&str> = found
        .iter()
        .filter_map(|d| d["rule_title"].as_str())
        .collect();
    assert!(!found.is_empty(), "no indicator matched the demo's logs");
    assert!(
        found.iter().all(|d| d["author"] == "Example Treasury SOC"),
        "{matched:?}"
    );
    for pattern in patterns.iter().filter(|p| p.starts_with("[ipv4-addr")) {
        let address = pattern.split('\'').nth(1).unwrap();
        assert!(
            matched.iter().any(|t| t.contains(address)),
            "{address} not found: {matched:?}"
        );
    }
}

/// A copy of the bundle without its Sigma indicators (the demo's own rules), so that only
/// STIX patterns can match.
fn without_sigma(bundle: &Path) -> std::path::PathBuf {
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(bundle).unwrap()).unwrap();
    value["objects"]
        .as_array_mut()
        .unwrap()
        .retain(|o| o["pattern_type"] != "sigma");
    let copy = bundle.with_extension("stix-only.json");
    std::fs::write(&copy, value.to_string()).unwrap();
    copy
}

/// The STIX patterns of a bundle's indicators.
fn stix_patterns(bundle: &Path) -> Vec<String> {
    let bundle: Value = serde_json::from_str(&std::fs::read_to_string(bundle).unwrap()).unwrap();
    bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "indicator" && o["pattern_type"] == "stix")
        .filter_map(|o| o["pattern"].as_str().map(str::to_owned))
        .collect()
}
