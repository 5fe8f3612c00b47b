//! End-to-end tests of the detector: each detector's positive and negative cases, the
//! learning period, allow-lists, persistence, configuration errors, the December 2024
//! remote-support key theft as a stream, and weeks of benign help-desk work.

use std::path::Path;
use std::sync::Arc;

use tocsin_event::{Event, LogSource, Origin, Value};

use crate::{Anomaly, AnomalyKind, Config, Detector, Level, PartyKind};

/// Monday 2024-11-04 00:00 UTC, in seconds.
const MONDAY: i64 = 1_730_678_400;
const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
const MINUTE: i64 = 60;

/// An API audit record at `secs` (seconds since the epoch).
fn api(secs: i64, key: &str, ip: &str, action: &str) -> Event {
    let mut event = Event::default();
    event.push("api_key_id", "", Value::from(key));
    event.push("source_ip", "", Value::from(ip));
    event.push("action", "", Value::from(action));
    event.push("target", "", Value::from("localadmin@WS-0042"));
    event.timestamp_micros = Some(secs * 1_000_000);
    event.logsource = Some(Arc::new(LogSource::new("remote_support", "api_audit")));
    event.origin = Origin {
        source: Arc::from("api.jsonl"),
        record: secs as u64,
    };
    event
}

/// An appliance syslog record at `secs`.
fn rep(secs: i64, user: &str, ip: &str, what: &str) -> Event {
    let mut event = Event::default();
    event.push("event", "", Value::from(what));
    event.push("who_user", "", Value::from(user));
    event.push("who_ip", "", Value::from(ip));
    event.timestamp_micros = Some(secs * 1_000_000);
    event.logsource = Some(Arc::new(LogSource::new("remote_support", "appliance")));
    event
}

fn detector() -> Detector {
    Detector::new(Config::builtin().expect("built-in configuration"))
}

fn feed(detector: &mut Detector, events: impl IntoIterator<Item = Event>) -> Vec<Anomaly> {
    events
        .into_iter()
        .flat_map(|e| detector.observe(&e))
        .collect()
}

fn kinds(anomalies: &[Anomaly]) -> Vec<AnomalyKind> {
    anomalies.iter().map(|a| a.kind).collect()
}

/// Three weeks of a helpdesk-automation key: from 198.51.100.0/24, every 30 minutes
/// 14:00-22:00 UTC on weekdays, a session listing and now and then one password reset.
fn learned_key(key: &str) -> Vec<Event> {
    let mut events = Vec::new();
    for day in 0..21 {
        if day % 7 >= 5 {
            continue;
        }
        for slot in 0..16 {
            let at = MONDAY + day * DAY + 14 * HOUR + slot * 30 * MINUTE;
            let ip = format!("198.51.100.{}", 10 + slot % 3);
            let action = if slot % 4 == 0 {
                "user.password_reset"
            } else {
                "session.list"
            };
            events.push(api(at, key, &ip, action));
        }
    }
    events
}

/// Monday 25 Nov 2024 at `hour`:`minute` UTC, in seconds.
fn week4(hour: i64, minute: i64) -> i64 {
    MONDAY + 21 * DAY + hour * HOUR + minute * MINUTE
}

#[test]
fn builtin_configuration_parses_and_names_both_formats() {
    let config = Config::builtin().expect("built-in configuration");
    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["api-keys", "representatives"]);
    assert_eq!(config.sources[0].principal, "api_key_id");
    assert_eq!(config.sources[1].address.as_deref(), Some("who_ip"));
    assert!(config.sources[1].is_sensitive(Some("user_password_reset")));
    assert!(!config.sources[1].is_sensitive(Some("login")));
    assert_eq!(config.learning.days, 7);
    assert_eq!(config.detectors.new_network.allow.len(), 6);
}

#[test]
fn nothing_is_raised_while_learning() {
    let mut d = detector();
    let mut events = learned_key("k-1");
    events.truncate(40); // under a week: not learned yet
    let last = events.last().and_then(|e| e.timestamp_micros).unwrap_or(0) / 1_000_000;
    events.push(api(last + 60, "k-1", "203.0.113.7", "user.password_reset"));
    assert_eq!(feed(&mut d, events), vec![]);
}

#[test]
fn a_learned_key_from_a_new_network_is_reported_with_its_baseline() {
    let mut d = detector();
    assert!(feed(&mut d, learned_key("k-7f3a29")).is_empty());
    let found = d.observe(&api(
        week4(15, 0),
        "k-7f3a29",
        "203.0.113.7",
        "user.password_reset",
    ));
    assert_eq!(kinds(&found), [AnomalyKind::NewNetwork]);
    let anomaly = &found[0];
    assert_eq!(anomaly.level, Level::High, "sensitive first use");
    assert_eq!(anomaly.principal, "k-7f3a29");
    assert_eq!(anomaly.source, "api-keys");
    assert!(
        anomaly.explanation.contains("203.0.113.0/24")
            && anomaly.explanation.contains("198.51.100.0/24")
            && anomaly.explanation.contains("in 21 days"),
        "{}",
        anomaly.explanation
    );
    assert!(anomaly.tags.iter().any(|t| t == "attack.t1078"));
    assert!(anomaly.tags.iter().any(|t| t == "attack.t1550.001"));
    assert!(anomaly
        .parties
        .iter()
        .any(|e| e.kind == PartyKind::Address && e.value == "203.0.113.7"));
    assert_eq!(&*anomaly.origin.source, "api.jsonl");

    // The network is now known: the next use from it is not new.
    let again = d.observe(&api(
        week4(15, 1),
        "k-7f3a29",
        "203.0.113.8",
        "session.list",
    ));
    assert!(!kinds(&again).contains(&AnomalyKind::NewNetwork));
}

#[test]
fn new_network_levels_follow_action_and_neighbourhood() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    let plain = d.observe(&api(week4(15, 0), "k-1", "192.0.2.1", "session.list"));
    assert_eq!(kinds(&plain), [AnomalyKind::NewNetwork]);
    assert_eq!(plain[0].level, Level::Medium);

    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    let near = d.observe(&api(week4(15, 0), "k-1", "198.51.7.1", "session.list"));
    assert_eq!(kinds(&near), [AnomalyKind::NewNetwork]);
    assert_eq!(near[0].level, Level::Low, "inside the known 198.51.0.0/16");
}

#[test]
fn known_and_allow_listed_networks_are_quiet() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    for (i, ip) in [
        "198.51.100.200",
        "10.9.8.7",
        "192.168.1.1",
        "fd00:1234::5",
        "::1",
    ]
    .iter()
    .enumerate()
    {
        let found = d.observe(&api(week4(15, i as i64), "k-1", ip, "session.list"));
        assert_eq!(found, vec![], "{ip}");
    }
    // A global IPv6 address is not allow-listed.
    let found = d.observe(&api(week4(16, 0), "k-1", "2001:db8:1::5", "session.list"));
    assert_eq!(kinds(&found), [AnomalyKind::NewNetwork]);
    assert!(found[0].explanation.contains("2001:db8:1::/48"));
}

#[test]
fn an_unparsable_address_is_not_a_new_network() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    let found = d.observe(&api(week4(15, 0), "k-1", "unknown", "session.list"));
    assert_eq!(found, vec![]);
}

#[test]
fn unusual_hour_and_day_for_a_sensitive_action() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    // Sunday 1 Dec 03:14 UTC, a reset from the usual network.
    let sunday_night = MONDAY + 27 * DAY + 3 * HOUR + 14 * MINUTE;
    let found = d.observe(&api(
        sunday_night,
        "k-1",
        "198.51.100.10",
        "user.password_reset",
    ));
    assert_eq!(kinds(&found), [AnomalyKind::UnusualTime]);
    assert_eq!(
        found[0].level,
        Level::Medium,
        "both hour and weekday are rare"
    );
    assert!(
        found[0]
            .explanation
            .contains("03:xx UTC, on its Saturday (its days start at"),
        "{}",
        found[0].explanation
    );
    // The same day again: one per principal per day.
    let again = d.observe(&api(
        sunday_night + 60,
        "k-1",
        "198.51.100.10",
        "user.password_reset",
    ));
    assert_eq!(again, vec![]);
}

#[test]
fn usual_hours_and_harmless_actions_are_not_unusual() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    // A usual weekday hour (the neighbour of the last usual one, 22:xx).
    let found = d.observe(&api(
        week4(22, 30),
        "k-1",
        "198.51.100.10",
        "user.password_reset",
    ));
    assert_eq!(found, vec![]);
    // An unusual hour, but only a listing.
    let found = d.observe(&api(
        week4(3, 0) + DAY,
        "k-1",
        "198.51.100.10",
        "session.list",
    ));
    assert_eq!(found, vec![]);
}

#[test]
fn unusual_time_needs_enough_history() {
    let text = "sources:\n  - {name: k, logsource: {service: api_audit}, principal: api_key_id, address: source_ip, action: action, sensitive_actions: [user.password_reset]}\ndetectors:\n  unusual_time: {min_history_events: 1000}\n";
    let config = Config::parse(text, Path::new("t.yml")).expect("config");
    let mut d = Detector::new(config);
    feed(&mut d, learned_key("k-1"));
    let found = d.observe(&api(
        week4(3, 0),
        "k-1",
        "198.51.100.10",
        "user.password_reset",
    ));
    assert_eq!(found, vec![]);
}

#[test]
fn a_burst_of_resets_is_reported_once() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    let mut found = Vec::new();
    for i in 0..12 {
        found.extend(d.observe(&api(
            week4(15, 0) + i * 20,
            "k-1",
            "198.51.100.10",
            "user.password_reset",
        )));
    }
    assert_eq!(kinds(&found), [AnomalyKind::Burst]);
    assert_eq!(found[0].level, Level::High);
    assert!(
        found[0]
            .explanation
            .contains("5 sensitive actions (user.password_reset ×5)")
            && found[0].explanation.contains("held 1"),
        "{}",
        found[0].explanation
    );
}

#[test]
fn a_busy_but_usual_rate_is_not_a_burst() {
    let mut d = detector();
    let mut events = learned_key("k-1");
    // During learning, one busy window of 4 resets.
    for i in 0..4 {
        events.push(api(
            MONDAY + 2 * DAY + 15 * HOUR + 10 * MINUTE + i,
            "k-1",
            "198.51.100.10",
            "user.password_reset",
        ));
    }
    events.sort_by_key(|e| e.timestamp_micros);
    feed(&mut d, events);
    // 4 in a window after learning: below min_count and not above 3x4.
    let mut found = Vec::new();
    for i in 0..4 {
        found.extend(d.observe(&api(
            week4(15, 0) + i * 30,
            "k-1",
            "198.51.100.10",
            "user.password_reset",
        )));
    }
    // Spread out: 12 resets over two hours never fill a window.
    for i in 0..12 {
        found.extend(d.observe(&api(
            week4(16, 0) + i * 11 * MINUTE,
            "k-1",
            "198.51.100.11",
            "user.password_reset",
        )));
    }
    assert_eq!(found, vec![]);
}

#[test]
fn a_key_in_two_places_minutes_apart_is_impossible() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    d.observe(&api(week4(15, 0), "k-1", "198.51.100.10", "session.list"));
    let found = d.observe(&api(week4(15, 4), "k-1", "203.0.113.7", "session.list"));
    assert_eq!(
        kinds(&found),
        [AnomalyKind::NewNetwork, AnomalyKind::ImpossibleSequence]
    );
    let sequence = &found[1];
    assert!(
        sequence
            .explanation
            .contains("4 minutes after a use from 198.51.100.10"),
        "{}",
        sequence.explanation
    );
    // Back and forth again: the switch is known now.
    let found = d.observe(&api(week4(15, 6), "k-1", "198.51.100.10", "session.list"));
    assert_eq!(found, vec![]);
}

#[test]
fn a_quick_switch_between_two_habitual_networks_is_only_context() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    // Once from a second network (home), hours away from any other use.
    let home = "203.0.113.7";
    let found = d.observe(&api(week4(2, 0), "k-1", home, "session.list"));
    assert_eq!(kinds(&found), [AnomalyKind::NewNetwork]);
    // Two days later, office then home minutes apart (a VPN switched off): low, explained.
    let later = 2 * DAY;
    d.observe(&api(
        later + week4(15, 0),
        "k-1",
        "198.51.100.10",
        "session.list",
    ));
    let found = d.observe(&api(later + week4(15, 4), "k-1", home, "session.list"));
    assert_eq!(kinds(&found), [AnomalyKind::ImpossibleSequence]);
    assert_eq!(found[0].level, Level::Low);
    assert!(
        found[0].explanation.contains("more than a day"),
        "{}",
        found[0].explanation
    );
    // A network first used minutes ago is not habitual: high.
    let found = d.observe(&api(
        later + week4(15, 6),
        "k-1",
        "192.0.2.9",
        "session.list",
    ));
    assert_eq!(
        kinds(&found),
        [AnomalyKind::NewNetwork, AnomalyKind::ImpossibleSequence]
    );
    assert_eq!(found[1].level, Level::High);
}

#[test]
fn slow_trusted_or_learned_switches_are_possible() {
    // Far apart in time.
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    d.observe(&api(week4(15, 0), "k-1", "198.51.100.10", "session.list"));
    let found = d.observe(&api(week4(15, 45), "k-1", "203.0.113.7", "session.list"));
    assert_eq!(kinds(&found), [AnomalyKind::NewNetwork]);

    // A trusted address in between does not count.
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    d.observe(&api(week4(15, 0), "k-1", "198.51.100.10", "session.list"));
    let found = d.observe(&api(week4(15, 2), "k-1", "10.1.2.3", "session.list"));
    assert_eq!(found, vec![]);

    // Two data centres used alternately while learning.
    let mut d = detector();
    let events: Vec<Event> = learned_key("k-1")
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            if i % 2 == 0 {
                e
            } else {
                let at = e.timestamp_micros.unwrap_or(0) / 1_000_000 + 5 * MINUTE;
                api(at, "k-1", "192.0.2.50", "session.list")
            }
        })
        .collect();
    assert_eq!(feed(&mut d, events), vec![]);
    d.observe(&api(week4(15, 0), "k-1", "198.51.100.10", "session.list"));
    let found = d.observe(&api(week4(15, 3), "k-1", "192.0.2.51", "session.list"));
    assert_eq!(found, vec![]);
}

#[test]
fn a_new_key_after_the_learning_period_is_reported_on_its_first_sensitive_action() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    let first = d.observe(&api(week4(15, 0), "k-new", "198.51.100.10", "auth.token"));
    assert_eq!(first, vec![]);
    let reset = d.observe(&api(
        week4(15, 1),
        "k-new",
        "198.51.100.10",
        "user.password_reset",
    ));
    assert_eq!(kinds(&reset), [AnomalyKind::NewPrincipal]);
    assert_eq!(reset[0].level, Level::Medium);
    assert!(reset[0].explanation.contains("after the learning period"));
    let later = d.observe(&api(
        week4(15, 2),
        "k-new",
        "198.51.100.10",
        "user.password_reset",
    ));
    assert_eq!(later, vec![], "once per principal");
}

#[test]
fn keys_appearing_during_the_learning_period_are_not_new() {
    let mut d = detector();
    let mut events = learned_key("k-1");
    events.push(api(
        MONDAY + 2 * DAY + 15 * HOUR,
        "k-2",
        "198.51.100.10",
        "user.password_reset",
    ));
    events.sort_by_key(|e| e.timestamp_micros);
    assert_eq!(feed(&mut d, events), vec![]);
}

#[test]
fn a_restart_does_not_forget() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    let saved = d.save_baseline().expect("save");

    let mut restarted = detector();
    restarted.load_baseline(&saved).expect("load");
    assert_eq!(restarted.principal_count(), 1);
    assert_eq!(restarted.save_baseline().expect("save again"), saved);
    // Known network: quiet. New network: reported, so the key is still learned.
    let known = restarted.observe(&api(week4(15, 0), "k-1", "198.51.100.99", "session.list"));
    assert_eq!(known, vec![]);
    let new = restarted.observe(&api(week4(16, 0), "k-1", "203.0.113.7", "session.list"));
    assert_eq!(kinds(&new), [AnomalyKind::NewNetwork]);
    // And a restarted detector still knows the global learning period is over.
    let fresh_key = restarted.observe(&api(week4(17, 0), "k-9", "198.51.100.10", "user.create"));
    assert_eq!(kinds(&fresh_key), [AnomalyKind::NewPrincipal]);

    // Without the saved baseline, the same key is unknown and merely starts learning.
    let mut amnesiac = detector();
    let found = amnesiac.observe(&api(week4(16, 0), "k-1", "203.0.113.7", "session.list"));
    assert_eq!(found, vec![]);
}

#[test]
fn a_smaller_network_limit_trims_a_loaded_baseline() {
    let mut d = detector();
    let events: Vec<Event> = (0..30)
        .map(|i| {
            api(
                MONDAY + i * HOUR,
                "k-1",
                &format!("198.51.{i}.1"),
                "session.list",
            )
        })
        .collect();
    feed(&mut d, events);
    let saved = d.save_baseline().expect("save");
    let text = "sources:\n  - {name: k, logsource: {service: api_audit}, principal: api_key_id, principal_kind: API key, address: source_ip}\nlimits: {max_networks: 4}\n";
    let mut small = Detector::new(Config::parse(text, Path::new("t.yml")).expect("config"));
    small.load_baseline(&saved).expect("load");
    let json: serde_json::Value =
        serde_json::from_slice(&small.save_baseline().expect("save")).expect("json");
    let networks = &json["principals"][0]["baseline"]["networks"];
    assert_eq!(networks.as_array().map(Vec::len), Some(4));
    assert!(
        networks.to_string().contains("198.51.29.0/24"),
        "the latest stays"
    );
    assert!(
        !networks.to_string().contains("198.51.0.0/24"),
        "the oldest goes"
    );
}

#[test]
fn a_bad_baseline_leaves_the_detector_as_it_was() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    assert!(d.load_baseline(b"{\"version\": 2}").is_err());
    assert!(d.load_baseline(b"garbage").is_err());
    assert_eq!(d.principal_count(), 1);
}

#[test]
fn unrelated_and_incomplete_events_are_skipped_and_counted() {
    let mut d = detector();
    let mut windows = Event::default();
    windows.push("EventID", "", Value::Int(4624));
    windows.timestamp_micros = Some(MONDAY * 1_000_000);
    assert_eq!(d.observe(&windows), vec![]);
    let mut no_time = api(MONDAY, "k-1", "198.51.100.1", "session.list");
    no_time.timestamp_micros = None;
    assert_eq!(d.observe(&no_time), vec![]);
    let no_key = api(MONDAY, "", "198.51.100.1", "session.list");
    assert_eq!(d.observe(&no_key), vec![]);
    let stats = d.stats();
    assert_eq!(stats.events, 3);
    assert_eq!(stats.without_time, 1);
    assert_eq!(stats.without_principal, 1);
    assert_eq!(d.principal_count(), 0);
}

#[test]
fn principal_cap_bounds_memory() {
    let text = "sources:\n  - {name: k, logsource: {service: api_audit}, principal: api_key_id}\nlimits: {max_principals: 2}\n";
    let mut d = Detector::new(Config::parse(text, Path::new("t.yml")).expect("config"));
    for key in ["a", "b", "c", "a"] {
        d.observe(&api(MONDAY, key, "198.51.100.1", "session.list"));
    }
    assert_eq!(d.principal_count(), 2);
    assert_eq!(d.stats().over_capacity, 1);
}

fn config_error(text: &str) -> String {
    match Config::parse(text, Path::new("site.yml")) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn configuration_errors_name_file_line_and_key() {
    assert_eq!(
        config_error("learning: {days: 7}\ndetectors:\n  burst:\n    windw_minutes: 5\n"),
        "site.yml:4: detectors.burst: unknown key 'windw_minutes' (expected one of: enabled, window_minutes, factor, min_count)"
    );
    assert_eq!(
        config_error("detectors:\n  burst:\n    factor: lots\n"),
        "site.yml:3: detectors.burst.factor: expected a number, found a string"
    );
    assert_eq!(
        config_error("detectors:\n  new_network:\n    allow:\n      - 10.0.0.0/8\n      - 300.1.0.0/16\n"),
        "site.yml:5: detectors.new_network.allow[1]: '300.1.0.0/16' is not an IP network (such as 10.0.0.0/8 or fd00::/8)"
    );
    assert_eq!(
        config_error("detectors:\n  new_network: {ipv4_prefix: 33}\n"),
        "site.yml:2: detectors.new_network.ipv4_prefix: 33 is outside 1..=32"
    );
    assert_eq!(
        config_error("sources:\n  - name: x\n    logsource: {product: p}\n"),
        "site.yml:2: sources[0]: missing required key 'principal'"
    );
    assert_eq!(
        config_error("sources:\n  - {name: x, principal: p, logsource: {}}\n"),
        "site.yml:2: sources[0].logsource: name at least one of product, service, category"
    );
    assert!(config_error("learning: [1\n").starts_with("site.yml:"));
    assert!(config_error("learning: {days: -1}\n").contains("expected a non-negative integer"));
}

#[test]
fn configuration_defaults_fill_what_is_not_said() {
    let config = Config::parse("learning: {days: 3}\n", Path::new("x.yml")).expect("config");
    assert_eq!(config.learning.days, 3);
    assert_eq!(config.learning.min_events, 20);
    assert_eq!(config.detectors.burst.window_minutes, 10);
    assert!(config.sources.is_empty());
    assert_eq!(Config::parse("", Path::new("x.yml")), Ok(Config::default()));
}

#[test]
fn the_december_2024_key_theft_is_caught_at_its_first_use() {
    let mut d = detector();
    // Four weeks of ordinary automation, a representative at work.
    let mut events = learned_key("k-7f3a29");
    for day in 0..28 {
        if day % 7 < 5 {
            for slot in 0..12 {
                let at = MONDAY + day * DAY + 14 * HOUR + slot * 40 * MINUTE;
                let what = if slot % 3 == 0 {
                    "support_session_start"
                } else {
                    "login"
                };
                events.push(rep(at, "jsmith", "10.1.4.20", what));
            }
        }
    }
    events.sort_by_key(|e| e.timestamp_micros);
    assert_eq!(feed(&mut d, events), vec![]);

    // Monday 2 Dec, 03:14 UTC: the stolen key, from new infrastructure.
    let start = MONDAY + 28 * DAY + 3 * HOUR + 14 * MINUTE;
    let mut attack = vec![
        api(start, "k-7f3a29", "203.0.113.7", "auth.token"),
        api(start + 20, "k-7f3a29", "203.0.113.7", "user.list"),
    ];
    for i in 0..8 {
        attack.push(api(
            start + 60 + i * 15,
            "k-7f3a29",
            "203.0.113.7",
            "user.password_reset",
        ));
    }
    attack.push(api(start + 300, "k-7f3a29", "203.0.113.7", "session.start"));
    let found = feed(&mut d, attack);
    let found_kinds = kinds(&found);
    assert_eq!(
        found[0].kind,
        AnomalyKind::NewNetwork,
        "first record raises"
    );
    assert_eq!(found[0].timestamp_micros, start * 1_000_000);
    assert!(found_kinds.contains(&AnomalyKind::UnusualTime));
    assert!(found_kinds.contains(&AnomalyKind::Burst));
    assert_eq!(
        found_kinds
            .iter()
            .filter(|k| **k == AnomalyKind::UnusualTime)
            .count(),
        1,
        "deduplicated: {found_kinds:?}"
    );
    assert!(found.iter().all(|a| a.principal == "k-7f3a29"));
}

/// A tiny deterministic generator for the synthetic benign stream.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }
}

/// Four weeks of help-desk work: 30 representatives on weekday shifts (some also on
/// Saturdays) working from the VPN or from home (dynamic addresses inside their
/// provider's /16), on 300 workstations; four API keys (a 24/7 automation, a business
/// hours integration, one spread over two data centres, one rarely used).
fn benign_stream(weeks: i64) -> Vec<Event> {
    let mut rng = SplitMix(7);
    let mut events = Vec::new();
    let rep_actions = [
        "support_session_start",
        "support_session_end",
        "session_file_transfer",
        "login",
        "logout",
        "user_password_reset",
    ];
    for day in 0..weeks * 7 {
        let weekday = day % 7;
        for r in 0..30i64 {
            let works = weekday < 5 || (weekday == 5 && r % 10 == 0);
            if !works {
                continue;
            }
            let shift_start = 12 + r % 4;
            // Now and then a shift runs an hour late.
            let shift_hours = if rng.below(20) == 0 { 9 } else { 8 };
            let user = format!("rep{r:02}");
            for _ in 0..(15 + rng.below(10)) {
                let at = MONDAY
                    + day * DAY
                    + shift_start * HOUR
                    + rng.below((shift_hours * HOUR) as u64);
                let ip = if rng.below(10) < 6 {
                    format!("10.20.{}.{}", r, 1 + rng.below(200))
                } else {
                    // The provider hands out a new /24 every week or so.
                    let subnet = day / 7 + rng.below(2);
                    format!("100.{}.{}.{}", 70 + r, subnet, 1 + rng.below(250))
                };
                let what = rep_actions[rng.below(rep_actions.len() as u64) as usize];
                let mut event = rep(at, &user, &ip, what);
                event.push(
                    "endpoint",
                    "",
                    Value::from(format!("WS-{:04}", rng.below(300))),
                );
                events.push(event);
            }
        }
        // k-auto: every 15 minutes, all week, a listing; one reset an hour.
        for slot in 0..96 {
            let at = MONDAY + day * DAY + slot * 15 * MINUTE + rng.below(60);
            let action = if slot % 4 == 0 {
                "user.password_reset"
            } else {
                "session.list"
            };
            events.push(api(at, "k-auto", "198.51.100.10", action));
        }
        // k-crm: business hours on weekdays, bursts of up to 3 updates.
        if weekday < 5 {
            for _ in 0..20 {
                let at = MONDAY + day * DAY + 13 * HOUR + rng.below(9 * HOUR as u64);
                for i in 0..(1 + rng.below(3)) {
                    events.push(api(at + i * 30, "k-crm", "198.51.100.20", "user.update"));
                }
            }
        }
        // k-dc: alternates between two data centres every few minutes.
        for slot in 0..48 {
            let at = MONDAY + day * DAY + slot * 30 * MINUTE;
            events.push(api(at, "k-dc", "203.0.113.40", "session.list"));
            events.push(api(at + 4 * MINUTE, "k-dc", "192.0.2.40", "session.start"));
        }
        // k-rare: three calls on weekdays.
        if weekday < 5 {
            for i in 0..3 {
                let at = MONDAY + day * DAY + (14 + 2 * i) * HOUR + rng.below(HOUR as u64);
                events.push(api(at, "k-rare", "198.51.100.30", "user.update"));
            }
        }
    }
    events.sort_by_key(|e| e.timestamp_micros);
    events
}

#[test]
fn weeks_of_benign_help_desk_work_raise_no_alert() {
    let mut d = detector();
    let found = feed(&mut d, benign_stream(5));
    assert!(d.stats().events > 15_000, "the stream is substantial");
    let alerts: Vec<&Anomaly> = found.iter().filter(|a| a.level >= Level::Medium).collect();
    assert!(alerts.is_empty(), "false alarms: {alerts:#?}");
    // Context-level anomalies (a home address changing inside its provider's /16) only.
    assert!(found
        .iter()
        .all(|a| a.kind == AnomalyKind::NewNetwork && a.level == Level::Low));
    assert_eq!(d.principal_count(), 34);
}

#[test]
fn an_attack_inside_benign_traffic_stands_out() {
    let mut d = detector();
    let mut events = benign_stream(5);
    // Monday 2 Dec 03:14 UTC: the 24/7 automation key from new infrastructure, then a
    // representative's account at night.
    let start = MONDAY + 28 * DAY + 3 * HOUR + 14 * MINUTE;
    events.push(api(start, "k-auto", "203.0.113.7", "auth.token"));
    for i in 0..8 {
        events.push(api(
            start + 60 + i * 20,
            "k-auto",
            "203.0.113.7",
            "user.password_reset",
        ));
    }
    events.push(rep(
        start + 600,
        "rep05",
        "203.0.113.7",
        "user_password_reset",
    ));
    events.sort_by_key(|e| e.timestamp_micros);
    let found = feed(&mut d, events);
    let alerts: Vec<(AnomalyKind, &str)> = found
        .iter()
        .filter(|a| a.level >= Level::Medium)
        .map(|a| (a.kind, a.principal.as_str()))
        .collect();
    assert!(
        alerts.contains(&(AnomalyKind::NewNetwork, "k-auto")),
        "{alerts:?}"
    );
    assert!(
        alerts.contains(&(AnomalyKind::ImpossibleSequence, "k-auto")),
        "{alerts:?}"
    );
    assert!(
        alerts.contains(&(AnomalyKind::Burst, "k-auto")),
        "{alerts:?}"
    );
    assert!(
        alerts.contains(&(AnomalyKind::NewNetwork, "rep05")),
        "{alerts:?}"
    );
    // 03:24 on Monday is still Sunday night for rep05, who works weekdays 13:00-22:00.
    assert!(
        alerts.contains(&(AnomalyKind::UnusualTime, "rep05")),
        "{alerts:?}"
    );
    assert!(
        alerts
            .iter()
            .all(|(_, who)| *who == "k-auto" || *who == "rep05"),
        "{alerts:?}"
    );
    assert!(
        !alerts
            .iter()
            .any(|(k, who)| *k == AnomalyKind::UnusualTime && *who == "k-auto"),
        "a 24/7 key has no unusual hour"
    );
}

#[test]
fn appliance_records_of_api_calls_are_not_representatives() {
    let mut d = detector();
    let mut call = rep(MONDAY, "k-7f3a29", "198.51.100.10", "user_password_reset");
    call.push("auth_method", "", Value::from("api_key"));
    assert_eq!(d.observe(&call), vec![]);
    assert_eq!(d.stats().filtered, 1);
    assert_eq!(d.principal_count(), 0);
    let mut person = rep(MONDAY, "jsmith", "198.51.100.10", "login");
    person.push("auth_method", "", Value::from("password"));
    d.observe(&person);
    assert_eq!(d.principal_count(), 1);
}

#[test]
fn only_if_keeps_matching_events() {
    let text = "sources:\n  - name: appliance-keys\n    logsource: {service: appliance}\n    principal: who_user\n    principal_kind: API key\n    only_if: {auth_method: [API_KEY, token]}\n";
    let mut d = Detector::new(Config::parse(text, Path::new("t.yml")).expect("config"));
    let mut call = rep(MONDAY, "k-1", "198.51.100.10", "api_authentication");
    call.push("auth_method", "", Value::from("api_key"));
    d.observe(&call);
    d.observe(&rep(MONDAY, "jsmith", "198.51.100.10", "login"));
    assert_eq!(d.principal_count(), 1);
    assert_eq!(d.stats().filtered, 1);
}

#[test]
fn a_new_representative_is_only_context() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    let found = d.observe(&rep(
        week4(15, 0),
        "newhire",
        "10.1.1.1",
        "support_session_start",
    ));
    assert_eq!(kinds(&found), [AnomalyKind::NewPrincipal]);
    assert_eq!(found[0].level, Level::Low);
    assert_eq!(found[0].principal_kind, "representative");
}

#[test]
fn source_option_errors_are_located() {
    assert_eq!(
        config_error("sources:\n  - name: x\n    principal: p\n    logsource: {product: p}\n    new_principal_level: severe\n"),
        "site.yml:5: sources[0].new_principal_level: expected one of: low, medium, high"
    );
    assert_eq!(
        config_error("sources:\n  - name: x\n    principal: p\n    logsource: {product: p}\n    unless: {auth_method: [api_key, {a: b}]}\n"),
        "site.yml:5: sources[0].unless.auth_method: expected a string, found a mapping"
    );
    assert_eq!(
        config_error("sources:\n  - {name: x, principal: p, logsource: {product: p}}\n  - {name: x, principal: q, logsource: {product: p}}\n"),
        "site.yml:3: sources[1]: duplicate source name 'x'"
    );
}

/// The busiest learned burst window of the only principal, read from the saved baseline.
fn busiest_window(d: &Detector) -> u64 {
    let json: serde_json::Value =
        serde_json::from_slice(&d.save_baseline().expect("save")).expect("json");
    json["principals"][0]["baseline"]["max_window_count"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

#[test]
fn only_finished_quiet_episodes_raise_the_bar() {
    let mut d = detector();
    feed(&mut d, learned_key("k-1"));
    assert_eq!(busiest_window(&d), 1);
    let reset = |at| api(at, "k-1", "198.51.100.10", "user.password_reset");
    // An episode of 4 (no burst), then a quiet hour: learned when the next one starts.
    feed(&mut d, (0..4).map(|i| reset(week4(15, i))));
    assert_eq!(busiest_window(&d), 1, "not before the episode ends");
    feed(&mut d, [reset(week4(16, 0))]);
    assert_eq!(busiest_window(&d), 4);
    // A burst of 20 is reported and never learned.
    let burst = feed(&mut d, (0..20).map(|i| reset(week4(17, 0) + i * 10)));
    assert_eq!(kinds(&burst), [AnomalyKind::Burst]);
    feed(&mut d, [reset(week4(18, 0))]);
    assert_eq!(busiest_window(&d), 4);
}

/// An API audit record of `key` (client id `client`) at `secs`.
fn api_call(secs: i64, key: &str, client: &str, ip: &str) -> Event {
    let mut event = api(secs, key, ip, "session.list");
    event.push("client_id", "", Value::from(client));
    event
}

/// The appliance's record of an API account's login (named by its client id).
fn api_login(secs: i64, client: &str, ip: &str) -> Event {
    let mut event = rep(secs, client, ip, "login");
    event.push("status", "", Value::from("success"));
    event
}

#[test]
fn the_sites_own_networks_are_learned_from_successful_activity_and_kept() {
    let mut d = detector();
    let office: std::net::IpAddr = "198.51.100.77".parse().expect("address");
    let spray: std::net::IpAddr = "203.0.113.9".parse().expect("address");
    // Ten days of two representatives logging in from the office three times a day, and a
    // password spray failing from a hosting network against many accounts every day.
    for day in 0..10 {
        for hour in [9, 12, 15] {
            let at = MONDAY + day * DAY + hour * HOUR;
            feed(&mut d, [rep(at, "alice", "198.51.100.10", "login")]);
            feed(&mut d, [rep(at + 60, "bob", "198.51.100.11", "login")]);
        }
        for user in ["carol", "dave", "erin"] {
            let mut failed = rep(MONDAY + day * DAY + 18 * HOUR, user, "203.0.113.9", "login");
            failed.push("status", "", Value::from("failure"));
            feed(&mut d, [failed]);
        }
    }
    let known = d.site_networks();
    let end = (MONDAY + 10 * DAY) * 1_000_000;
    assert!(known.was_familiar(office, end));
    // Alice and bob are of the site's first history: they vouch at once, and the office
    // is the site's on its fifth day of activity, not before.
    assert!(known.was_familiar(office, (MONDAY + 4 * DAY + 12 * HOUR) * 1_000_000));
    assert!(!known.was_familiar(office, (MONDAY + 3 * DAY + 12 * HOUR) * 1_000_000));
    assert!(!known.was_familiar(spray, end), "failures teach nothing");
    assert_eq!(d.site_network_count(), 1);
    // Kept across a restart.
    let mut restarted = detector();
    restarted
        .load_baseline(&d.save_baseline().expect("save"))
        .expect("load");
    assert_eq!(restarted.site_networks(), known);
    // Turned off, nothing is the site's, not even the allow-list.
    let mut config = Config::builtin().expect("built-in configuration");
    config.site_networks.enabled = false;
    let off = Detector::new(config);
    let private: std::net::IpAddr = "10.1.2.3".parse().expect("address");
    assert!(!off.site_networks().was_familiar(private, end));
    assert!(restarted.site_networks().was_familiar(private, end));
}

#[test]
fn a_stolen_key_and_the_keys_it_creates_never_make_their_network_the_sites() {
    let mut d = detector();
    let hosting = "203.0.113.9";
    // Three weeks of the integration's key from its own host, in both logs.
    for day in 0..21 {
        for hour in 0..3 {
            let at = MONDAY + day * DAY + (14 + hour) * HOUR;
            feed(&mut d, [api_call(at, "k-1", "c0ffee", "192.0.2.10")]);
            feed(&mut d, [api_login(at, "c0ffee", "192.0.2.10")]);
        }
    }
    // Then the stolen key from a hosting network, in both logs, and a key it created
    // there, every day for two weeks.
    for day in 21..35 {
        let at = MONDAY + day * DAY + 3 * HOUR;
        feed(&mut d, [api_call(at, "k-1", "c0ffee", hosting)]);
        feed(&mut d, [api_login(at + 1, "c0ffee", hosting)]);
        feed(&mut d, [api_call(at + 2, "k-new", "deadbeef", hosting)]);
        feed(&mut d, [api_login(at + 3, "deadbeef", hosting)]);
    }
    let known = d.site_networks();
    let address: std::net::IpAddr = hosting.parse().expect("address");
    assert!(
        !known.was_familiar(address, (MONDAY + 35 * DAY) * 1_000_000),
        "one key (two logs, one identity) and its young offspring vouch for nothing"
    );
}

#[test]
fn a_saved_baseline_is_judged_under_the_rules_it_was_learned_with() {
    let mut config = Config::builtin().expect("built-in configuration");
    config.detectors.new_network.ipv4_prefix = 16;
    let mut d = Detector::new(config);
    for day in 0..10 {
        for hour in [9, 12, 15] {
            let at = MONDAY + day * DAY + hour * HOUR;
            feed(&mut d, [rep(at, "alice", "198.51.100.10", "login")]);
            feed(&mut d, [rep(at + 60, "bob", "198.51.7.11", "login")]);
        }
    }
    let saved = d.save_baseline().expect("save");
    let elsewhere_in_the_16: std::net::IpAddr = "198.51.200.1".parse().expect("address");
    let end = (MONDAY + 10 * DAY) * 1_000_000;
    // A regrouping reads the baseline without the site's configuration: same answer.
    let read_back = crate::saved_site_networks(&saved).expect("read back");
    assert_eq!(read_back, d.site_networks());
    assert!(read_back.was_familiar(elsewhere_in_the_16, end));
    // A baseline saved before the rules were kept is judged under the built-in ones.
    let mut older: serde_json::Value = serde_json::from_slice(&saved).expect("json");
    older["site"].as_object_mut().expect("site").remove("rules");
    let older = serde_json::to_vec(&older).expect("json");
    let builtin = crate::saved_site_networks(&older).expect("read back");
    assert!(
        !builtin.was_familiar(elsewhere_in_the_16, end),
        "a /24 then"
    );
    assert!(builtin.was_familiar("10.9.8.7".parse().expect("address"), end));
}
