//! Tests of the demo generator: determinism per seed, the grammar of each log, ground truth
//! against the logs, sizes and writing to a directory.

use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;
use regex::Regex;
use serde_json::Value;

use crate::{DemoConfig, GroundTruth, Scenario, StepKind};

/// A smaller world, for tests that generate many scenarios.
fn small(seed: u64) -> DemoConfig {
    DemoConfig {
        benign_days: 8,
        workstations: 40,
        representatives: 10,
        ..DemoConfig::new(seed)
    }
}

/// One appliance message, reassembled from its segments.
#[derive(Debug)]
struct Message {
    header_time: String,
    fields: BTreeMap<String, String>,
    segments: usize,
    raw_body: String,
}

/// Reads the appliance log by the agreed grammar, failing on any line that breaks it.
fn parse_appliance(text: &str) -> Vec<Message> {
    let line_re = Regex::new(
        r"^([A-Z][a-z]{2} [ 1-3]\d \d{2}:\d{2}:\d{2}) (\S+) BG\[(\d+)\]:(\d+):(\d{2}):(\d{2}):(.+)$",
    )
    .unwrap();
    let mut messages: Vec<Message> = Vec::new();
    let mut pending: Option<(String, usize, usize, String, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let caps = line_re
            .captures(line)
            .unwrap_or_else(|| panic!("line {} breaks the grammar: {line}", n + 1));
        let (time, id) = (caps[1].to_string(), caps[4].to_string());
        let (segment, total): (usize, usize) = (caps[5].parse().unwrap(), caps[6].parse().unwrap());
        let mut body = match pending.take() {
            Some((pending_id, next, pending_total, _, body)) => {
                assert_eq!(
                    (pending_id.as_str(), next, pending_total),
                    (id.as_str(), segment, total)
                );
                body
            }
            None => {
                assert_eq!(segment, 1, "line {}: a message starts at segment 01", n + 1);
                String::new()
            }
        };
        body.push_str(&caps[7]);
        if segment < total {
            pending = Some((id, segment + 1, total, time, body));
        } else {
            let fields = parse_body(&body);
            messages.push(Message {
                header_time: time,
                fields,
                segments: total,
                raw_body: body,
            });
        }
    }
    assert!(pending.is_none(), "the log ends inside a segmented message");
    messages
}

/// `key=value;...` with `\=`, `\;` and `\\` escapes.
fn parse_body(body: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let (mut key, mut value, mut in_value) = (String::new(), String::new(), false);
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next().expect("dangling escape");
                assert!(
                    matches!(escaped, '\\' | ';' | '='),
                    "bad escape \\{escaped}"
                );
                if in_value {
                    value.push(escaped)
                } else {
                    key.push(escaped)
                }
            }
            '=' if !in_value => in_value = true,
            ';' => {
                assert!(in_value, "pair without '=' in {body}");
                fields.insert(std::mem::take(&mut key), std::mem::take(&mut value));
                in_value = false;
            }
            c if in_value => value.push(c),
            c => key.push(c),
        }
    }
    assert!(in_value, "last pair without '=' in {body}");
    fields.insert(key, value);
    fields
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1))
        })
        .collect()
}

fn epoch(text: &str) -> i64 {
    DateTime::parse_from_rfc3339(text).unwrap().timestamp()
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let (a, b) = (
        Scenario::generate(&small(11)),
        Scenario::generate(&small(11)),
    );
    assert_eq!(a.appliance_log(), b.appliance_log());
    assert_eq!(a.api_audit_log(), b.api_audit_log());
    assert_eq!(a.endpoints_log(), b.endpoints_log());
    assert_eq!(a.truth, b.truth);
}

#[test]
fn different_seeds_give_different_worlds_and_attacks() {
    let scenarios: Vec<Scenario> = (1..=8)
        .map(|seed| Scenario::generate(&small(seed)))
        .collect();
    let distinct = |f: &dyn Fn(&GroundTruth) -> String| {
        scenarios
            .iter()
            .map(|s| f(&s.truth))
            .collect::<BTreeSet<_>>()
            .len()
    };
    assert_eq!(distinct(&|t| t.first_malicious_use.to_rfc3339()), 8);
    assert_eq!(distinct(&|t| t.compromised_key_id.clone()), 8);
    assert_eq!(distinct(&|t| format!("{:?}", t.attacker_ips)), 8);
    assert!(distinct(&|t| t.hosts_touched.len().to_string()) > 1);
    assert!(distinct(&|t| t.site.clone()) > 1);
    assert_ne!(scenarios[0].appliance_log(), scenarios[1].appliance_log());
}

#[test]
fn appliance_log_follows_the_grammar_with_segments_and_escapes() {
    let scenario = Scenario::generate(&DemoConfig::new(3));
    let messages = parse_appliance(scenario.appliance_log());
    assert_eq!(messages.len(), scenario.counts.appliance_messages);
    let known = [
        "login",
        "logout",
        "support_session_start",
        "support_session_end",
        "session_file_transfer",
        "session_command_shell",
        "user_password_reset",
        "user_created",
        "user_changed",
        "api_key_created",
        "api_key_changed",
        "api_key_revoked",
        "api_authentication",
    ];
    let mut previous = i64::MIN;
    for message in &messages {
        let event = &message.fields["event"];
        assert!(known.contains(&event.as_str()), "unknown event {event}");
        let status = message.fields.get("status").map(String::as_str);
        assert!(
            status.is_none_or(|s| ["success", "failure"].contains(&s)),
            "{status:?}"
        );
        let when: i64 = message.fields["when"].parse().unwrap();
        let header = DateTime::from_timestamp(when, 0)
            .unwrap()
            .format("%b %e %H:%M:%S")
            .to_string();
        assert_eq!(message.header_time, header);
        assert!(when >= previous, "appliance log out of order at {when}");
        previous = when;
        assert_eq!(message.fields["site"], scenario.truth.site);
    }
    assert!(
        messages.iter().any(|m| m.segments > 1),
        "no segmented message"
    );
    assert!(
        messages
            .iter()
            .filter(|m| m.segments > 1)
            .any(|m| !m.fields["who"].contains("api_key")),
        "only the attack's messages are segmented"
    );
    for escape in ["\\;", "\\=", "\\\\"] {
        assert!(
            messages.iter().any(|m| m.raw_body.contains(escape)),
            "no {escape} escape"
        );
    }
}

#[test]
fn api_audit_lines_are_json_with_the_agreed_fields_in_time_order() {
    let scenario = Scenario::generate(&small(5));
    let entries = json_lines(scenario.api_audit_log());
    assert_eq!(entries.len(), scenario.counts.api_audit);
    let actions = [
        "auth.token",
        "session.list",
        "session.start",
        "session.end",
        "user.list",
        "user.password_reset",
        "user.create",
        "user.update",
        "api_key.create",
        "api_key.update",
        "api_key.revoke",
        "report.download",
        "jump_client.list",
    ];
    let mut previous = i64::MIN;
    for entry in &entries {
        for field in [
            "time",
            "site",
            "api_key_id",
            "api_key_name",
            "source_ip",
            "user_agent",
            "target",
            "request_id",
        ] {
            assert!(entry[field].is_string(), "{field} missing in {entry}");
        }
        assert!(actions.contains(&entry["action"].as_str().unwrap()));
        assert!(["success", "failure"].contains(&entry["result"].as_str().unwrap()));
        let time = epoch(entry["time"].as_str().unwrap());
        assert!(time >= previous);
        previous = time;
    }
}

#[test]
fn endpoint_lines_are_evtx_style_json_in_time_order() {
    let scenario = Scenario::generate(&small(6));
    let events = json_lines(scenario.endpoints_log());
    assert_eq!(events.len(), scenario.counts.endpoint_events);
    let mut previous = i64::MIN;
    let mut ids = BTreeSet::new();
    for event in &events {
        let system = &event["Event"]["System"];
        let id = system["EventID"].as_u64().unwrap();
        let channel = system["Channel"].as_str().unwrap();
        match id {
            1 | 3 | 11 => assert_eq!(channel, "Microsoft-Windows-Sysmon/Operational"),
            4624 | 4724 => assert_eq!(channel, "Security"),
            other => panic!("unexpected event id {other}"),
        }
        ids.insert(id);
        assert!(system["Computer"].as_str().unwrap().contains(".corp."));
        let time = epoch(
            system["TimeCreated"]["#attributes"]["SystemTime"]
                .as_str()
                .unwrap(),
        );
        assert!(time >= previous);
        previous = time;
        assert!(event["Event"]["EventData"].is_object());
    }
    assert_eq!(ids, BTreeSet::from([1, 3, 11, 4624, 4724]));
}

#[test]
fn ground_truth_agrees_with_the_logs() {
    for seed in [1, 2, 3] {
        let scenario = Scenario::generate(&small(seed));
        check_truth(&scenario);
    }
}

fn check_truth(scenario: &Scenario) {
    let truth = &scenario.truth;
    let first_use = truth.first_malicious_use.timestamp();
    assert!(truth.benign_period_start < truth.benign_period_end);
    assert!(truth.benign_period_end <= truth.first_malicious_use);
    assert!(truth.first_malicious_use < truth.revocation && truth.revocation < truth.logs_end);
    assert!(truth.steps.windows(2).all(|w| w[0].time <= w[1].time));
    assert_eq!(truth.steps[0].kind, StepKind::TokenAuthentication);
    assert_eq!(truth.steps[0].time, truth.first_malicious_use);

    let entries = json_lines(scenario.api_audit_log());
    let attacker_ips: Vec<String> = truth.attacker_ips.iter().map(|ip| ip.to_string()).collect();
    let attacker_nets: BTreeSet<String> = attacker_ips.iter().map(|ip| network(ip)).collect();
    let by_attacker: Vec<&Value> = entries
        .iter()
        .filter(|e| attacker_ips.contains(&e["source_ip"].as_str().unwrap().to_string()))
        .collect();
    let first = by_attacker[0];
    assert_eq!(epoch(first["time"].as_str().unwrap()), first_use);
    assert_eq!(first["action"], "auth.token");
    assert!(by_attacker
        .iter()
        .all(|e| e["api_key_id"] == truth.compromised_key_id.as_str()));
    for entry in &entries {
        let before = epoch(entry["time"].as_str().unwrap()) < first_use;
        let net = network(entry["source_ip"].as_str().unwrap());
        assert!(
            !(before && attacker_nets.contains(&net)),
            "attacker /24 seen before the attack: {entry}"
        );
    }
    let resets: BTreeSet<&str> = by_attacker
        .iter()
        .filter(|e| e["action"] == "user.password_reset")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        resets,
        truth.accounts_reset.iter().map(String::as_str).collect()
    );
    let sessions: Vec<&str> = by_attacker
        .iter()
        .filter(|e| e["action"] == "session.start")
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        sessions,
        truth
            .hosts_touched
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    let revoke = entries
        .iter()
        .find(|e| e["action"] == "api_key.revoke")
        .expect("revocation");
    assert_eq!(revoke["target"], truth.compromised_key_id.as_str());
    assert_eq!(
        epoch(revoke["time"].as_str().unwrap()),
        truth.revocation.timestamp() + 5
    );
    let after = entries.iter().filter(|e| {
        e["api_key_id"] == truth.compromised_key_id.as_str()
            && epoch(e["time"].as_str().unwrap()) > truth.revocation.timestamp()
    });
    assert!(
        after.clone().all(|e| e["result"] == "failure"),
        "the revoked key still works"
    );

    let events = json_lines(scenario.endpoints_log());
    for host in &truth.hosts_touched {
        let shells = events.iter().filter(|e| {
            let data = &e["Event"]["EventData"];
            e["Event"]["System"]["Computer"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{host}."))
                && data["ParentImage"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("bomgar-scc.exe"))
                && data["Image"]
                    .as_str()
                    .is_some_and(|i| i.ends_with("cmd.exe"))
                && epoch(
                    e["Event"]["System"]["TimeCreated"]["#attributes"]["SystemTime"]
                        .as_str()
                        .unwrap(),
                ) >= first_use
        });
        assert!(
            shells.count() >= 1,
            "no shell under the support client on {host}"
        );
        let staged = events.iter().any(|e| {
            e["Event"]["System"]["EventID"] == 11
                && e["Event"]["System"]["Computer"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{host}."))
                && e["Event"]["EventData"]["TargetFilename"]
                    .as_str()
                    .unwrap()
                    .starts_with(&truth.staging_folder)
        });
        assert!(staged, "nothing staged on {host}");
    }
    let appliance = parse_appliance(scenario.appliance_log());
    let revoked = appliance
        .iter()
        .find(|m| m.fields["event"] == "api_key_revoked")
        .expect("revocation");
    assert_eq!(revoked.fields["api_key_id"], truth.compromised_key_id);
    assert_eq!(
        revoked.fields["when"],
        truth.revocation.timestamp().to_string()
    );
}

fn network(ip: &str) -> String {
    ip.rsplit_once('.')
        .map(|(net, _)| net.to_string())
        .unwrap_or_default()
}

#[test]
fn first_reset_comes_within_five_minutes_of_the_first_malicious_use() {
    for seed in 0..20 {
        let truth = Scenario::generate(&small(seed)).truth;
        let reset = truth
            .steps
            .iter()
            .find(|s| s.kind == StepKind::PasswordReset)
            .unwrap();
        let delay = reset.time - truth.first_malicious_use;
        assert!(
            delay.num_seconds() > 0 && delay.num_seconds() < 300,
            "seed {seed}: {delay}"
        );
        assert!((3..=6).contains(&truth.hosts_touched.len()));
    }
}

#[test]
fn default_world_has_tens_of_thousands_of_events() {
    let scenario = Scenario::generate(&DemoConfig::default());
    let counts = scenario.counts;
    assert!(
        (20_000..200_000).contains(&counts.endpoint_events),
        "{counts:?}"
    );
    assert!((2_000..50_000).contains(&counts.api_audit), "{counts:?}");
    assert!(
        (2_000..50_000).contains(&counts.appliance_messages),
        "{counts:?}"
    );
    check_truth(&scenario);
}

#[test]
fn write_puts_the_logs_and_ground_truth_in_the_directory() {
    let scenario = Scenario::generate(&small(9));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested").join("out");
    let files = scenario.write(&out).unwrap();
    assert_eq!(
        std::fs::read_to_string(&files.appliance).unwrap(),
        scenario.appliance_log()
    );
    assert_eq!(
        std::fs::read_to_string(&files.api_audit).unwrap(),
        scenario.api_audit_log()
    );
    assert_eq!(
        std::fs::read_to_string(&files.endpoints).unwrap(),
        scenario.endpoints_log()
    );
    let text = std::fs::read_to_string(&files.ground_truth).unwrap();
    assert_eq!(text, scenario.truth.to_yaml().unwrap());
    let truth: GroundTruth = serde_json::from_value(crate::yaml::tests::read_back(&text)).unwrap();
    assert_eq!(truth, scenario.truth);
    assert_eq!(files.logs()[0].file_name().unwrap(), "appliance.log");
    assert_eq!(files.ground_truth.file_name().unwrap(), "ground-truth.yaml");
}

#[test]
fn write_reports_the_path_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let error = Scenario::generate(&small(1))
        .write(&blocker.join("out"))
        .unwrap_err();
    assert!(error.to_string().contains("file"), "{error}");
}

#[test]
fn body_escapes_and_splits_without_losing_text() {
    let mut out = String::new();
    crate::syslog::escape_into(r"a=b;c\d", &mut out);
    assert_eq!(out, r"a\=b\;c\\d");
    let text = "alpha beta gamma delta epsilon zeta eta theta";
    let pieces = crate::syslog::split_segments(text, 10);
    assert!(pieces.len() > 3);
    assert_eq!(pieces.concat(), text);
    assert!(pieces
        .iter()
        .all(|p| p.len() <= 10 && !p.starts_with(' ') && !p.ends_with(' ')));
    assert_eq!(crate::syslog::split_segments("short", 10), ["short"]);
}

#[test]
fn sizes_below_the_minimum_are_raised_instead_of_failing() {
    let config = DemoConfig {
        benign_days: 0,
        workstations: 0,
        representatives: 0,
        attack_window_hours: -5,
        ..DemoConfig::new(4)
    };
    let scenario = Scenario::generate(&config);
    assert_eq!(scenario.config, config.normalised());
    assert_eq!(scenario.config.workstations, 6);
    check_truth(&scenario);
}

#[test]
fn the_benign_period_ends_where_the_config_says() {
    let end = DateTime::parse_from_rfc3339("2025-03-03T00:00:00Z")
        .unwrap()
        .to_utc();
    let config = DemoConfig {
        benign_period_end: end,
        ..small(12)
    };
    let truth = Scenario::generate(&config).truth;
    assert_eq!(truth.benign_period_end, end);
    assert_eq!((end - truth.benign_period_start).num_days(), 8);
    let window = truth.first_malicious_use - end;
    assert!(window.num_seconds() >= 0 && window.num_hours() < config.attack_window_hours);
}
