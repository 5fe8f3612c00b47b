//! Tests of the demo generator: determinism per seed and variant, the grammar and
//! vocabulary of each log, decoding with tocsin's decoders, ground truth against the logs,
//! sizes and writing to a directory.

use std::collections::{BTreeMap, BTreeSet};

use chrono::DateTime;
use regex::Regex;
use serde_json::Value;
use tocsin_decode::{from_bytes, DecodeOptions};

use crate::{
    DemoConfig, GroundTruth, Scenario, StepKind, Variant, APPLIANCE_EVENTS, OUTBOUND_EVENTS,
    REPORT_EVENT_TYPES,
};

/// A smaller world, for tests that generate many scenarios.
fn small(seed: u64) -> DemoConfig {
    DemoConfig {
        benign_days: 8,
        workstations: 40,
        representatives: 10,
        ..DemoConfig::new(seed)
    }
}

/// A smaller world of `variant`.
fn small_variant(seed: u64, variant: Variant) -> DemoConfig {
    DemoConfig {
        variant,
        ..small(seed)
    }
}

/// One appliance message, reassembled from its segments.
#[derive(Debug)]
struct Message {
    /// The header's time as written (local time).
    #[allow(dead_code)]
    header_time: String,
    /// The site ID.
    site_id: String,
    fields: BTreeMap<String, String>,
    segments: usize,
}

/// Reads the appliance log by the agreed grammar, failing on any line that breaks it.
fn parse_appliance(text: &str) -> Vec<Message> {
    // RFC 3164 with `BG: `, `BG[pid]:` or `BG[pid]: `; or RFC 5424 with the app name BG.
    let line_re = Regex::new(
        r#"^(?:([A-Z][a-z]{2} [ 1-3]\d \d{2}:\d{2}:\d{2}) \S+ BG(?:\[\d+\]: ?|: )|<133>1 (\S+) \S+ BG \d+ - \[meta sequenceId="\d+"\] )(\d{4}):(\d{2}):(\d{2}):(.+)$"#,
    )
    .unwrap();
    let mut messages: Vec<Message> = Vec::new();
    let mut pending: Option<(String, usize, usize, String, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let caps = line_re
            .captures(line)
            .unwrap_or_else(|| panic!("line {} breaks the grammar: {line}", n + 1));
        let time = caps
            .get(1)
            .or_else(|| caps.get(2))
            .map(|m| m.as_str().to_string())
            .unwrap();
        let id = caps[3].to_string();
        let (segment, total): (usize, usize) = (caps[4].parse().unwrap(), caps[5].parse().unwrap());
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
        body.push_str(&caps[6]);
        if segment < total {
            pending = Some((id, segment + 1, total, time, body));
        } else {
            let fields = parse_body(&body);
            messages.push(Message {
                site_id: id.clone(),
                header_time: time,
                fields,
                segments: total,
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

/// Decodes `text` named `name` with tocsin's decoders: its events' fields as text maps,
/// failing on any decode error.
fn decode(name: &str, text: &str) -> Vec<BTreeMap<String, String>> {
    let source = from_bytes(name, text.as_bytes().to_vec(), &DecodeOptions::default()).unwrap();
    source
        .map(|event| {
            let event = event.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                event.timestamp_micros.is_some(),
                "{name}: event without time"
            );
            event
                .fields
                .iter()
                .map(|field| (field.name().to_string(), field.value.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_bytes_in_every_variant() {
    for variant in Variant::ALL {
        let (a, b) = (
            Scenario::generate(&small_variant(11, variant)),
            Scenario::generate(&small_variant(11, variant)),
        );
        assert_eq!(a.logs(), b.logs(), "{variant}");
        assert_eq!(a.truth, b.truth, "{variant}");
        assert_eq!(a.truth.variant, variant);
    }
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
fn the_appliance_log_speaks_only_the_vendors_documented_vocabulary() {
    let invented = [
        "user_password_reset",
        "support_session_start",
        "support_session_end",
        "session_command_shell",
        "session_file_transfer",
        "api_authentication",
        "api_key_created",
        "api_key_changed",
        "api_key_revoked",
        "user_created",
    ];
    let api_account = Regex::new(r"^\S+ \([0-9a-f]{40}\)$").unwrap();
    for variant in Variant::ALL {
        let scenario = Scenario::generate(&small_variant(3, variant));
        let messages = parse_appliance(scenario.appliance_log());
        assert_eq!(messages.len(), scenario.counts.appliance_messages);
        let mut seen = BTreeSet::new();
        for message in &messages {
            let event = message.fields["event"].as_str();
            assert!(
                !invented.contains(&event),
                "{variant}: invented event {event}"
            );
            assert!(APPLIANCE_EVENTS.contains(&event), "{variant}: {event}");
            seen.insert(event.to_string());
            let who = &message.fields["who"];
            assert!(!who.contains("api_key"), "{variant}: {who}");
            match (event, message.fields.get("target").map(String::as_str)) {
                ("login" | "logout", Some("web/api" | "web/login" | "rep_client")) => {}
                ("login" | "logout", target) => panic!("{variant}: login target {target:?}"),
                _ => {}
            }
            if message.fields.get("target").map(String::as_str) == Some("web/api") {
                // An API account: `name (client id)`, no `using`.
                assert!(api_account.is_match(who), "{variant}: {who}");
            } else if event == "login" {
                assert!(
                    who.ends_with(" using password") || who.ends_with(" using saml"),
                    "{variant}: {who}"
                );
            }
            if event == "account_changed" {
                assert_eq!(message.fields["password"], "***");
            }
        }
        for event in ["login", "logout", "api_account_changed", "user_added"] {
            assert!(seen.contains(event), "{variant}: no {event}");
        }
        let targets: BTreeSet<&str> = messages
            .iter()
            .filter_map(|m| m.fields.get("target").map(String::as_str))
            .collect();
        assert_eq!(
            targets,
            BTreeSet::from(["rep_client", "web/api", "web/login"]),
            "{variant}"
        );
        let reset_event = if variant == Variant::SiteAccount {
            "user_changed"
        } else {
            "account_changed"
        };
        assert!(seen.contains(reset_event), "{variant}: no {reset_event}");
        let sites: BTreeSet<&str> = messages.iter().map(|m| m.site_id.as_str()).collect();
        assert_eq!(sites.len(), 1, "{variant}: the site ID is constant");
    }
}

#[test]
fn appliance_log_mixes_the_documented_headers_with_segments_and_escapes() {
    let scenario = Scenario::generate(&DemoConfig::new(3));
    let text = scenario.appliance_log();
    let messages = parse_appliance(text);
    for form in [" BG: ", "]: ", "]:", "<133>1 "] {
        assert!(text.contains(form), "no {form:?} header");
    }
    let mut previous = i64::MIN;
    for message in &messages {
        let when: i64 = message.fields["when"].parse().unwrap();
        assert!(when >= previous, "appliance log out of order at {when}");
        previous = when;
        assert_eq!(message.fields["site"], scenario.truth.site);
        let status = message.fields.get("status").map(String::as_str);
        assert!(status.is_none_or(|s| ["success", "failure"].contains(&s)));
    }
    assert!(
        messages.iter().any(|m| m.segments > 1),
        "no segmented message"
    );
    assert!(
        messages
            .iter()
            .filter(|m| m.segments > 1)
            .any(|m| !m.fields["who"].contains(&scenario.truth.compromised_client_id)),
        "only the attack's messages are segmented"
    );
    // `user_*` and `api_account_*` carry the vendor's `:` keys (the escapes are exercised
    // by the unit test of `escape_into`).
    assert!(messages
        .iter()
        .any(|m| m.fields.contains_key("new_permissions:admin")));
    assert!(messages
        .iter()
        .any(|m| m.fields.contains_key("permissions:command")));
}

#[test]
fn every_generated_file_decodes_with_tocsins_decoders_without_error() {
    for variant in Variant::ALL {
        let scenario = Scenario::generate(&small_variant(4, variant));
        for (name, text) in scenario.logs() {
            let events = decode(name, text);
            assert!(!events.is_empty(), "{variant}: {name} is empty");
            match name {
                crate::OUTBOUND_FILE => {
                    assert_eq!(events.len(), scenario.counts.outbound_events);
                    for event in &events {
                        assert!(OUTBOUND_EVENTS.contains(&event["event"].as_str()));
                        assert_eq!(event["lsid"].len(), 32);
                    }
                }
                crate::SESSION_REPORT_FILE => {
                    assert_eq!(events.len(), scenario.counts.session_report_events);
                    for event in &events {
                        assert!(REPORT_EVENT_TYPES.contains(&event["event_type"].as_str()));
                        assert!(event.contains_key("customer_hostname"));
                        assert!(event.contains_key("rep_username"));
                    }
                }
                crate::APPLIANCE_FILE => {
                    assert_eq!(events.len(), scenario.counts.appliance_messages);
                    assert!(events.iter().all(|e| e.contains_key("site_id")));
                }
                _ => {}
            }
        }
        let names: Vec<&str> = scenario.logs().iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names.contains(&crate::API_AUDIT_FILE),
            variant != Variant::ApplianceOnly,
            "{variant}: {names:?}"
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
        assert!(
            actions.contains(&entry["action"].as_str().unwrap()),
            "{entry}"
        );
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
fn ground_truth_agrees_with_the_logs_in_every_variant() {
    for variant in Variant::ALL {
        for seed in [1, 2] {
            let scenario = Scenario::generate(&small_variant(seed, variant));
            check_truth(&scenario);
        }
    }
}

fn check_truth(scenario: &Scenario) {
    let truth = &scenario.truth;
    let variant = truth.variant;
    let first_use = truth.first_malicious_use.timestamp();
    assert!(truth.benign_period_start < truth.benign_period_end);
    assert!(truth.benign_period_end <= truth.first_malicious_use);
    assert!(truth.first_malicious_use < truth.revocation && truth.revocation < truth.logs_end);
    assert!(truth.steps.windows(2).all(|w| w[0].time <= w[1].time));
    assert_eq!(truth.steps[0].kind, StepKind::TokenAuthentication);
    assert_eq!(truth.steps[0].time, truth.first_malicious_use);
    let reset = truth.first_password_reset.expect("a first password reset");
    assert!(reset > truth.first_malicious_use, "{variant}");
    assert_eq!(truth.attack_sessions.len(), truth.hosts_touched.len());

    // The appliance: the key's first token from the attacker, the resets, the revocation.
    let appliance = parse_appliance(scenario.appliance_log());
    let attacker_ips: Vec<String> = truth.attacker_ips.iter().map(|ip| ip.to_string()).collect();
    let first_login = appliance
        .iter()
        .find(|m| attacker_ips.contains(&m.fields["who_ip"]))
        .expect("the attacker in the appliance log");
    assert_eq!(first_login.fields["event"], "login");
    assert_eq!(first_login.fields["target"], "web/api");
    assert_eq!(first_login.fields["when"], first_use.to_string());
    assert!(first_login.fields["who"].contains(&truth.compromised_client_id));
    let vault_resets: BTreeSet<String> = appliance
        .iter()
        .filter(|m| {
            m.fields["event"] == "account_changed" && attacker_ips.contains(&m.fields["who_ip"])
        })
        .map(|m| m.fields["name"].clone())
        .collect();
    assert_eq!(
        vault_resets,
        truth.accounts_reset.iter().cloned().collect(),
        "{variant}"
    );
    let revoked = appliance
        .iter()
        .find(|m| {
            m.fields["event"] == "api_account_changed"
                && m.fields.get("new_enabled").map(String::as_str) == Some("0")
        })
        .expect("revocation");
    assert_eq!(revoked.fields["client_id"], truth.compromised_client_id);
    assert_eq!(
        revoked.fields["when"],
        truth.revocation.timestamp().to_string()
    );
    match variant {
        Variant::SiteAccount => {
            let user = truth.site_account.as_ref().expect("the site account");
            assert!(truth.accounts_reset.is_empty());
            let changed = appliance
                .iter()
                .find(|m| m.fields["event"] == "user_changed" && &m.fields["old_username"] == user)
                .expect("the site user's reset");
            assert_eq!(changed.fields["new_password"], "***NEW***");
            assert!(changed.fields["who"].contains(&truth.compromised_client_id));
            assert_eq!(changed.fields["when"], reset.timestamp().to_string());
            let console = appliance.iter().find(|m| {
                m.fields["event"] == "login"
                    && m.fields["target"] == "rep_client"
                    && attacker_ips.contains(&m.fields["who_ip"])
            });
            let console = console.expect("the attacker's console login");
            assert!(console.fields["who"].contains(&format!("({user})")));
        }
        _ => {
            assert!(truth.site_account.is_none());
            assert!(!truth.accounts_reset.is_empty());
        }
    }
    if variant == Variant::Stealthy {
        let key_ips: BTreeSet<String> = appliance
            .iter()
            .filter(|m| {
                m.fields["who"].contains(&truth.compromised_client_id)
                    && m.fields["when"].parse::<i64>().unwrap() < first_use
            })
            .map(|m| m.fields["who_ip"].clone())
            .collect();
        let attacker = &attacker_ips[0];
        let sixteen = |ip: &str| ip.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
        assert!(
            key_ips.iter().any(|ip| sixteen(ip) == sixteen(attacker)),
            "{key_ips:?} {attacker}"
        );
        assert!(key_ips.iter().all(|ip| network(ip) != network(attacker)));
    }

    // The sessions: in the outbound events and the session reports, by their lsid.
    let reports = decode(crate::SESSION_REPORT_FILE, scenario.session_report_log());
    for (lsid, host) in truth.attack_sessions.iter().zip(&truth.hosts_touched) {
        let events: Vec<_> = reports.iter().filter(|e| &e["lsid"] == lsid).collect();
        assert!(!events.is_empty(), "{variant}: no report of {lsid}");
        assert!(events.iter().all(|e| &e["customer_hostname"] == host));
        assert!(events
            .iter()
            .any(|e| e["event_type"] == "Command Shell Session Started"));
        assert!(events.iter().any(|e| e["event_type"] == "File Download"
            && e["filename"].starts_with(&truth.staging_folder)));
        if variant == Variant::SiteAccount {
            assert_eq!(
                Some(&events[0]["rep_username"]),
                truth.site_account.as_ref()
            );
        } else {
            assert_eq!(events[0]["rep_username"], truth.compromised_key_name);
        }
    }
    let outbound = decode(crate::OUTBOUND_FILE, scenario.outbound_log());
    for lsid in &truth.attack_sessions {
        let begins = outbound
            .iter()
            .filter(|e| &e["lsid"] == lsid && e["event"] == "support_conference_begin")
            .count();
        assert_eq!(begins, 1, "{variant}");
    }

    // The API audit log, where the variant keeps one.
    if variant.has_api_audit() {
        let entries = json_lines(scenario.api_audit_log());
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
        let revoke = entries
            .iter()
            .find(|e| e["action"] == "api_key.revoke")
            .expect("revocation");
        assert_eq!(revoke["target"], truth.compromised_key_id.as_str());
        let after = entries.iter().filter(|e| {
            e["api_key_id"] == truth.compromised_key_id.as_str()
                && epoch(e["time"].as_str().unwrap()) > truth.revocation.timestamp()
        });
        assert!(
            after.clone().all(|e| e["result"] == "failure"),
            "the revoked key still works"
        );
        if variant == Variant::Stealthy {
            let usual = entries
                .iter()
                .find(|e| e["api_key_id"] == truth.compromised_key_id.as_str())
                .unwrap();
            assert_eq!(first["user_agent"], usual["user_agent"]);
        }
    } else {
        assert!(scenario.api_audit_log().is_empty());
    }

    // The endpoints: a shell under the support client and documents staged on each host.
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
        assert_eq!(truth.first_password_reset, Some(reset.time));
        assert!((3..=6).contains(&truth.hosts_touched.len()));
    }
}

#[test]
fn the_stealthy_intruder_works_in_office_hours_and_slowly() {
    for seed in 0..6 {
        let scenario = Scenario::generate(&small_variant(seed, Variant::Stealthy));
        let truth = &scenario.truth;
        let resets: Vec<i64> = truth
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::PasswordReset)
            .map(|s| s.time.timestamp())
            .collect();
        assert!(
            resets.windows(2).all(|w| w[1] - w[0] >= 8 * 60),
            "seed {seed}"
        );
        // 09:00 to 16:00 at headquarters (UTC-5 or UTC-6): 14:00 to 22:00 UTC.
        let hour = (truth.first_malicious_use.timestamp() / 3_600).rem_euclid(24);
        assert!((14..22).contains(&hour), "seed {seed}: {hour}");
    }
}

#[test]
fn every_variant_records_its_ground_truth() {
    for variant in Variant::ALL {
        let truth = Scenario::generate(&small_variant(8, variant)).truth;
        assert_eq!(truth.variant, variant);
        assert!(truth.first_password_reset.is_some(), "{variant}");
        assert!(!truth.attack_sessions.is_empty(), "{variant}");
        assert_eq!(
            truth.site_account.is_some(),
            variant == Variant::SiteAccount,
            "{variant}"
        );
        let yaml = truth.to_yaml().unwrap();
        assert!(yaml.contains("first_password_reset"), "{yaml}");
        assert!(
            yaml.contains(&format!("\"{}\"", variant.as_str())),
            "{yaml}"
        );
    }
    assert_eq!(small_variant(8, Variant::Busy).world_size(), (20, 80));
    assert_eq!(small(8).world_size(), (10, 40));
    let busy = Scenario::generate(&small_variant(8, Variant::Busy));
    let base = Scenario::generate(&small(8));
    assert!(
        busy.counts.sessions > base.counts.sessions * 2,
        "{:?} {:?}",
        busy.counts,
        base.counts
    );
}

#[test]
fn the_benign_oddities_are_there_and_vary_with_the_seed() {
    let mut integration_sessions = BTreeSet::new();
    for seed in 0..4 {
        let scenario = Scenario::generate(&DemoConfig::new(seed));
        let reports = decode(crate::SESSION_REPORT_FILE, scenario.session_report_log());
        let before_attack =
            |e: &&BTreeMap<String, String>| !scenario.truth.attack_sessions.contains(&e["lsid"]);
        let api_started: BTreeSet<&str> = reports
            .iter()
            .filter(before_attack)
            .filter(|e| e["rep_id"].len() == 40)
            .map(|e| e["lsid"].as_str())
            .collect();
        integration_sessions.insert(api_started.len());
        let uploads_zip = reports
            .iter()
            .any(|e| e["event_type"] == "File Upload" && e["filename"].ends_with(".zip"));
        assert!(uploads_zip, "seed {seed}: no tool kit pushed");
        let endpoints = scenario.endpoints_log();
        assert!(endpoints.contains("tree.com"), "seed {seed}: no tree /f");
        let _ = endpoints;
    }
    assert!(integration_sessions.len() > 1, "{integration_sessions:?}");
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
        (1_000..50_000).contains(&counts.appliance_messages),
        "{counts:?}"
    );
    assert!((1_000..20_000).contains(&counts.sessions), "{counts:?}");
    check_truth(&scenario);
}

#[test]
fn write_puts_the_logs_and_ground_truth_in_the_directory() {
    for variant in [Variant::Base, Variant::ApplianceOnly] {
        let scenario = Scenario::generate(&small_variant(9, variant));
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested").join("out");
        let files = scenario.write(&out).unwrap();
        for (path, (name, text)) in files.logs().iter().zip(scenario.logs()) {
            assert_eq!(path.file_name().unwrap(), name);
            assert_eq!(std::fs::read_to_string(path).unwrap(), text);
        }
        assert_eq!(files.api_audit.is_some(), variant.has_api_audit());
        assert_eq!(
            out.join(crate::API_AUDIT_FILE).exists(),
            variant.has_api_audit()
        );
        let text = std::fs::read_to_string(&files.ground_truth).unwrap();
        assert_eq!(text, scenario.truth.to_yaml().unwrap());
        let truth: GroundTruth =
            serde_json::from_value(crate::yaml::tests::read_back(&text)).unwrap();
        assert_eq!(truth, scenario.truth);
        assert_eq!(files.logs()[0].file_name().unwrap(), "appliance.log");
        assert_eq!(files.ground_truth.file_name().unwrap(), "ground-truth.yaml");
    }
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
fn form_fields_are_url_encoded() {
    let mut out = String::new();
    crate::sessions::url_encode_into("Nina Hughes & co=1/2", &mut out);
    assert_eq!(out, "Nina+Hughes+%26+co%3D1%2F2");
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
