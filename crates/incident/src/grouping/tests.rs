//! Tests of incident grouping: linking entities, quiet gaps, merges, opening levels, host
//! names, entity caps and independence from input order.

use super::*;
use crate::alert::{AlertKind, AlertOrigin, Level, RuleRef};
use crate::incident::MAX_LISTED_ENTITIES;

const MINUTE: i64 = 60 * 1_000_000;
const START: i64 = 1_714_557_600_000_000;

fn alert(title: &str, minute: i64, entities: &[(EntityKind, &str)]) -> Alert {
    alert_of(AlertKind::Sigma, Level::Medium, title, minute, entities)
}

fn alert_of(
    kind: AlertKind,
    level: Level,
    title: &str,
    minute: i64,
    entities: &[(EntityKind, &str)],
) -> Alert {
    let rule = RuleRef {
        id: title.to_owned(),
        title: title.to_owned(),
        level,
        tags: vec!["attack.execution".into()],
        author: None,
    };
    let origin = AlertOrigin {
        source: "test.evtx".into(),
        record: u64::try_from(minute).unwrap_or_default(),
    };
    let entities = entities
        .iter()
        .map(|(kind, value)| Entity {
            kind: *kind,
            value: (*value).to_owned(),
        })
        .collect();
    Alert::new(
        kind,
        rule,
        origin,
        Some(START + minute * MINUTE),
        entities,
        vec![],
    )
}

fn titles(incident: &Incident) -> Vec<&str> {
    incident.timeline.iter().map(|t| t.title.as_str()).collect()
}

/// The default grouping with any medium alert opening an incident, and incidents followed
/// for the ordinary quiet gap only: these tests are about linking; the opening policy and
/// the severe gap have their own tests below.
fn linking() -> GroupingConfig {
    GroupingConfig {
        min_risk: opening::MEDIUM_RISK,
        severe_quiet_gap_micros: DEFAULT_QUIET_GAP_MICROS,
        ..GroupingConfig::default()
    }
}

fn run(alerts: &[Alert]) -> Vec<Incident> {
    group(alerts, &linking(), &AttackCatalog::empty())
}

#[test]
fn shared_host_joins_and_says_why() {
    let first = alert("Encoded PowerShell", 0, &[(EntityKind::Host, "ws-042")]);
    let second = alert(
        "LSASS access",
        3,
        &[(EntityKind::Host, "ws-042"), (EntityKind::User, "alice")],
    );
    let incidents = run(&[second.clone(), first.clone()]);
    assert_eq!(incidents.len(), 1);
    let incident = &incidents[0];
    assert_eq!(incident.id, Incident::id_for(&first.key));
    assert_eq!(titles(incident), ["Encoded PowerShell", "LSASS access"]);
    assert_eq!(
        incident.members[1].reason.to_string(),
        format!(
            "shares host ws-042 with detection 'Encoded PowerShell' ({}), 3 min after the incident's last activity",
            first.short_key()
        )
    );
    assert!(incident.members[0].reason.links.is_empty());
    assert_eq!(incident.first_seen_micros, Some(START));
    assert_eq!(incident.last_seen_micros, Some(START + 3 * MINUTE));
}

#[test]
fn quiet_gap_splits_and_is_configurable() {
    let alerts = [
        alert("A", 0, &[(EntityKind::Host, "ws-042")]),
        alert("B", 61, &[(EntityKind::Host, "ws-042")]),
    ];
    assert_eq!(run(&alerts).len(), 2);
    let patient = GroupingConfig {
        quiet_gap_micros: 2 * 60 * MINUTE,
        ..linking()
    };
    assert_eq!(group(&alerts, &patient, &AttackCatalog::empty()).len(), 1);
}

#[test]
fn gap_is_measured_from_the_incident_last_activity() {
    // B keeps the incident alive through its user, so C (host only, 100 min after A) still
    // joins: 40 min after B.
    let alerts = [
        alert(
            "A",
            0,
            &[(EntityKind::Host, "ws-1"), (EntityKind::User, "bob")],
        ),
        alert("B", 60, &[(EntityKind::User, "bob")]),
        alert("C", 100, &[(EntityKind::Host, "ws-1")]),
    ];
    let incidents = run(&alerts);
    assert_eq!(incidents.len(), 1);
    assert!(incidents[0].members[2]
        .reason
        .to_string()
        .ends_with("40 min after the incident's last activity"));
}

#[test]
fn an_alert_that_links_two_incidents_merges_them_into_the_oldest() {
    let a = alert(
        "A",
        0,
        &[(EntityKind::Host, "ws-1"), (EntityKind::User, "x")],
    );
    let b = alert(
        "B",
        5,
        &[(EntityKind::Host, "ws-2"), (EntityKind::User, "y")],
    );
    let c = alert(
        "C",
        10,
        &[(EntityKind::Host, "ws-1"), (EntityKind::User, "y")],
    );
    let incidents = run(&[a.clone(), b.clone(), c]);
    assert_eq!(incidents.len(), 1);
    let incident = &incidents[0];
    assert_eq!(incident.id, Incident::id_for(&a.key));
    assert_eq!(titles(incident), ["A", "B", "C"]);
    let reason = &incident.members[2].reason;
    assert_eq!(reason.merged, [Incident::id_for(&b.key)]);
    assert_eq!(reason.links.len(), 2);
    assert!(reason.to_string().contains("tied in and merged INC-"));
    assert_eq!(incident.entities_of(EntityKind::Host).count(), 2);
}

#[test]
fn unrelated_alerts_stay_apart() {
    let incidents = run(&[
        alert("A", 0, &[(EntityKind::Host, "ws-1")]),
        alert("B", 1, &[(EntityKind::Host, "ws-2")]),
        alert("C", 2, &[]),
    ]);
    assert_eq!(incidents.len(), 3);
}

#[test]
fn an_entity_seen_on_too_many_hosts_stops_linking() {
    let config = GroupingConfig {
        max_spread: 2,
        ..linking()
    };
    let alerts: Vec<Alert> = (1..=4)
        .map(|i| {
            let host = format!("ws-{i}");
            alert(
                &format!("A{i}"),
                i,
                &[
                    (EntityKind::User, "admin"),
                    (EntityKind::Host, host.as_str()),
                ],
            )
        })
        .collect();
    let incidents = group(&alerts, &config, &AttackCatalog::empty());
    let sizes: Vec<usize> = incidents.iter().map(|i| i.members.len()).collect();
    assert_eq!(sizes, [2, 1, 1]);
}

#[test]
fn only_linking_kinds_link() {
    let config = GroupingConfig {
        linking_kinds: vec![EntityKind::Host],
        ..linking()
    };
    let alerts = [
        alert("A", 0, &[(EntityKind::SourceIp, "10.0.0.1")]),
        alert("B", 1, &[(EntityKind::SourceIp, "10.0.0.1")]),
    ];
    assert_eq!(group(&alerts, &config, &AttackCatalog::empty()).len(), 2);
    assert_eq!(run(&alerts).len(), 1);
}

#[test]
fn ids_and_membership_do_not_depend_on_input_order() {
    let alerts = vec![
        alert("A", 0, &[(EntityKind::Host, "ws-1")]),
        alert("B", 0, &[(EntityKind::Host, "ws-1")]),
        alert("C", 7, &[(EntityKind::ApiKey, "K1")]),
        alert(
            "D",
            8,
            &[(EntityKind::ApiKey, "K1"), (EntityKind::Host, "ws-1")],
        ),
    ];
    let mut reversed = alerts.clone();
    reversed.reverse();
    assert_eq!(run(&alerts), run(&reversed));
}

#[test]
fn severity_and_title_reflect_the_incident() {
    let alerts = [
        alert_of(
            AlertKind::Sigma,
            Level::Medium,
            "Recon",
            0,
            &[(EntityKind::Host, "ws-1")],
        ),
        alert_of(
            AlertKind::Sigma,
            Level::High,
            "Dump",
            2,
            &[(EntityKind::Host, "ws-1"), (EntityKind::User, "eve")],
        ),
        alert_of(
            AlertKind::Correlation,
            Level::High,
            "Spread",
            4,
            &[(EntityKind::User, "eve"), (EntityKind::Host, "ws-2")],
        ),
    ];
    let incident = &run(&alerts)[0];
    assert_eq!(
        incident.title,
        "Dump on host ws-1 and 1 more (3 detections)"
    );
    // level high 45, one tactic 0, two hosts 5, one correlation 5.
    assert_eq!(incident.severity.score, 55);
    assert_eq!(incident.entities[0].entity.value, "ws-1");
    assert_eq!(incident.entities[0].alerts, 2);
}

#[test]
fn alerts_without_time_come_last_and_join_by_entity() {
    let mut untimed = alert("Untimed", 0, &[(EntityKind::Host, "ws-1")]);
    untimed.timestamp_micros = None;
    let incidents = run(&[untimed, alert("Timed", 500, &[(EntityKind::Host, "ws-1")])]);
    assert_eq!(incidents.len(), 1);
    assert_eq!(titles(&incidents[0]), ["Timed", "Untimed"]);
    assert!(incidents[0].members[1]
        .reason
        .to_string()
        .ends_with("time unknown"));
}

#[test]
fn events_from_windows_and_an_appliance_group_through_their_entities() {
    use tocsin_event::{Event, Origin, Value};
    let rule = |title: &str| RuleRef {
        id: title.to_owned(),
        title: title.to_owned(),
        level: Level::High,
        tags: vec![],
        author: None,
    };
    let mut logon = Event {
        origin: Origin {
            source: "Security.evtx".into(),
            record: 4,
        },
        timestamp_micros: Some(START),
        ..Event::default()
    };
    logon.push("Event.System.Computer", "Computer", Value::from("JUMP-01"));
    logon.push(
        "Event.EventData.TargetUserName",
        "TargetUserName",
        Value::from("svc_support"),
    );
    logon.push(
        "Event.EventData.SubjectUserName",
        "SubjectUserName",
        Value::from("SYSTEM"),
    );
    let mut api = Event {
        origin: Origin {
            source: "appliance.log".into(),
            record: 17,
        },
        timestamp_micros: Some(START + 10 * MINUTE),
        ..Event::default()
    };
    // The appliance's `who=Support Service (svc_support) using password`, split by its
    // decoder.
    api.push("who_user", "", Value::from("svc_support"));
    api.push("who_ip", "", Value::from("203.0.113.5"));
    api.push("api_key_id", "", Value::from("ak-9"));
    let alerts = [
        Alert::from_event(AlertKind::Sigma, rule("Logon"), &logon),
        Alert::from_event(AlertKind::Anomaly, rule("Unusual API use"), &api),
    ];
    let incidents = run(&alerts);
    assert_eq!(incidents.len(), 1);
    assert!(incidents[0].members[1]
        .reason
        .to_string()
        .starts_with("shares user svc_support with detection 'Logon'"));
}

/// A Sigma alert of `level` naming one host or user.
fn named(level: Level, title: &str, minute: i64, entity: (EntityKind, &str)) -> Alert {
    alert_of(AlertKind::Sigma, level, title, minute, &[entity])
}

#[test]
fn low_alerts_join_incidents_but_never_open_one() {
    let alerts = vec![
        named(Level::Low, "a", 0, (EntityKind::Host, "ws-1")),
        named(Level::Medium, "b", 1, (EntityKind::Host, "ws-1")),
        named(Level::Low, "c", 2, (EntityKind::Host, "ws-2")),
        named(Level::Informational, "d", 3, (EntityKind::Host, "ws-3")),
    ];
    let incidents = run(&alerts);
    assert_eq!(incidents.len(), 1, "only the group holding a medium alert");
    let context = "the low alert joins as context";
    assert_eq!(titles(&incidents[0]), ["a", "b"], "{context}");
    assert_eq!(incidents[0].id, Incident::id_for(&alerts[0].key));

    let everything = GroupingConfig {
        min_opening_level: Level::Informational,
        min_risk: 0,
        ..linking()
    };
    let all = group(&alerts, &everything, &AttackCatalog::empty());
    assert_eq!(all.len(), 3);
}

#[test]
fn a_context_group_opens_when_an_opening_alert_merges_it() {
    let bridge = [(EntityKind::Host, "ws-1"), (EntityKind::User, "bob")];
    let alerts = vec![
        named(Level::Low, "a", 0, (EntityKind::Host, "ws-1")),
        named(Level::Low, "b", 1, (EntityKind::User, "bob")),
        alert_of(AlertKind::Sigma, Level::High, "c", 2, &bridge),
    ];
    let incidents = run(&alerts);
    assert_eq!(incidents.len(), 1);
    assert_eq!(titles(&incidents[0]), ["a", "b", "c"]);
}

#[test]
fn a_short_host_name_links_to_the_full_one_and_is_listed_once() {
    let alerts = vec![
        alert(
            "password reset",
            0,
            &[(EntityKind::ApiKey, "k-1"), (EntityKind::Host, "dt-0381")],
        ),
        alert(
            "encoded powershell",
            5,
            &[(EntityKind::Host, "dt-0381.corp.example")],
        ),
    ];
    let incidents = run(&alerts);
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let hosts: Vec<&str> = incidents[0]
        .entities_of(EntityKind::Host)
        .map(|e| e.value.as_str())
        .collect();
    assert_eq!(hosts, ["dt-0381.corp.example"]);
    assert_eq!(incidents[0].severity.host_points, 0, "one host, not two");
}

#[test]
fn an_incident_lists_a_bounded_number_of_entities_per_kind() {
    let alerts: Vec<Alert> = (0..MAX_LISTED_ENTITIES as i64 + 40)
        .map(|n| {
            let host = format!("random-{n}");
            alert(
                "failed logon",
                n,
                &[
                    (EntityKind::SourceIp, "203.0.113.9"),
                    (EntityKind::Host, &host),
                ],
            )
        })
        .collect();
    let config = GroupingConfig {
        max_spread: usize::MAX,
        ..linking()
    };
    let incidents = group(&alerts, &config, &AttackCatalog::empty());
    assert_eq!(incidents.len(), 1);
    let incident = &incidents[0];
    assert_eq!(
        incident.entities_of(EntityKind::Host).count(),
        MAX_LISTED_ENTITIES
    );
    assert_eq!(
        incident.unlisted,
        [crate::UnlistedEntities {
            kind: EntityKind::Host,
            count: 40
        }]
    );
    assert!(
        incident
            .title
            .contains(&format!("and {} more", MAX_LISTED_ENTITIES + 39)),
        "{}",
        incident.title
    );
}

/// Alerts of `(level, rule)` on one host, a minute apart.
fn on_one_host(signals: &[(Level, &str)]) -> Vec<Alert> {
    signals
        .iter()
        .zip(0..)
        .map(|((level, title), minute)| {
            alert_of(
                AlertKind::Sigma,
                *level,
                title,
                minute,
                &[(EntityKind::Host, "ws-1")],
            )
        })
        .collect()
}

#[test]
fn one_medium_alert_is_a_question_not_an_incident() {
    let alerts = on_one_host(&[(Level::Medium, "Session by API key")]);
    assert!(run_default(&alerts).is_empty());
    let repeated = on_one_host(&[
        (Level::Medium, "Session by API key"),
        (Level::Medium, "Session by API key"),
        (Level::Medium, "Session by API key"),
    ]);
    assert!(
        run_default(&repeated).is_empty(),
        "the same rule again adds no risk"
    );
    let with_a_low = on_one_host(&[(Level::Medium, "New network"), (Level::Low, "Odd hour")]);
    assert!(run_default(&with_a_low).is_empty(), "risk 4 of 5");
}

#[test]
fn corroborated_signals_open_and_say_why() {
    let two_mediums = on_one_host(&[(Level::Medium, "New network"), (Level::Medium, "Shell")]);
    let incidents = run_default(&two_mediums);
    assert_eq!(incidents.len(), 1);
    let opening = incidents[0].opening.as_ref().unwrap();
    assert_eq!(opening.alert_key, two_mediums[1].key);
    assert_eq!(
        opening.to_string(),
        "opened when 2 distinct signals reached risk 6 (at least 5 needed): New network (medium), Shell (medium)"
    );
    let medium_and_lows = on_one_host(&[
        (Level::Low, "Odd hour"),
        (Level::Medium, "New network"),
        (Level::Low, "Archive"),
    ]);
    let incidents = run_default(&medium_and_lows);
    assert_eq!(incidents.len(), 1);
    assert_eq!(
        titles(&incidents[0]),
        ["Odd hour", "New network", "Archive"]
    );
    assert_eq!(incidents[0].opening.as_ref().unwrap().risk, 5);
}

#[test]
fn low_signals_alone_never_open_however_many() {
    let lows: Vec<(Level, String)> = (0..20).map(|n| (Level::Low, format!("low {n}"))).collect();
    let lows: Vec<(Level, &str)> = lows.iter().map(|(l, t)| (*l, t.as_str())).collect();
    assert!(run_default(&on_one_host(&lows)).is_empty());
}

#[test]
fn a_high_alert_opens_alone_and_the_threshold_is_configurable() {
    let high = on_one_host(&[(Level::High, "Password reset by API key")]);
    let incidents = run_default(&high);
    assert_eq!(incidents.len(), 1);
    assert!(incidents[0].opening.as_ref().unwrap().alone);

    let medium = on_one_host(&[(Level::Medium, "Session by API key")]);
    assert_eq!(group(&medium, &linking(), &AttackCatalog::empty()).len(), 1);
    let strict = GroupingConfig {
        alone_level: Level::Critical,
        ..GroupingConfig::default()
    };
    assert!(group(&high, &strict, &AttackCatalog::empty()).is_empty());
}

#[test]
fn signals_of_merged_groups_add_up() {
    let alerts = vec![
        alert_of(
            AlertKind::Sigma,
            Level::Medium,
            "New network",
            0,
            &[(EntityKind::Host, "ws-1")],
        ),
        alert_of(
            AlertKind::Sigma,
            Level::Low,
            "Odd hour",
            1,
            &[(EntityKind::User, "bob")],
        ),
        alert_of(
            AlertKind::Sigma,
            Level::Low,
            "Archive",
            2,
            &[(EntityKind::Host, "ws-1"), (EntityKind::User, "bob")],
        ),
    ];
    let incidents = run_default(&alerts);
    assert_eq!(incidents.len(), 1);
    let opening = incidents[0].opening.as_ref().unwrap();
    assert_eq!(opening.title, "Archive", "the merging alert opened it");
    assert_eq!(opening.risk, 5);
}

fn run_default(alerts: &[Alert]) -> Vec<Incident> {
    group(alerts, &GroupingConfig::default(), &AttackCatalog::empty())
}

#[test]
fn the_same_act_logged_twice_is_one_signal() {
    let alerts = on_one_host(&[
        (Level::Medium, "Session (API audit)"),
        (Level::Medium, "Session (appliance)"),
    ]);
    assert_eq!(
        run_default(&alerts).len(),
        1,
        "two distinct rules corroborate"
    );
    let mut config = GroupingConfig::default();
    config
        .same_signal
        .insert("Session (appliance)".into(), "Session (API audit)".into());
    assert!(
        group(&alerts, &config, &AttackCatalog::empty()).is_empty(),
        "rules related as similar count once"
    );
}

#[test]
fn a_severe_incident_follows_its_entities_longer() {
    let host = [(EntityKind::Host, "ws-1")];
    let at = |level, title, minute| alert_of(AlertKind::Sigma, level, title, minute, &host);
    // A slow intruder: a critical reset, then the next step three hours later.
    let slow = [
        at(Level::Critical, "Reset", 0),
        at(Level::Medium, "Documents listed", 180),
    ];
    let incidents = run_default(&slow);
    assert_eq!(incidents.len(), 1);
    assert_eq!(titles(&incidents[0]), ["Reset", "Documents listed"]);
    // Beyond the severe gap (a day), a new group.
    let later = [
        at(Level::Critical, "Reset", 0),
        at(Level::High, "Again", 25 * 60),
    ];
    assert_eq!(run_default(&later).len(), 2);
    // An incident opened by corroborated medium signals is followed as long.
    let corroborated = [
        at(Level::Medium, "A", 0),
        at(Level::Medium, "B", 1),
        at(Level::Medium, "C", 180),
    ];
    let incidents = run_default(&corroborated);
    assert_eq!(incidents.len(), 1);
    assert_eq!(titles(&incidents[0]), ["A", "B", "C"]);
    // A group that has not opened keeps the ordinary gap: the lone medium alert stays
    // apart, as context of no incident.
    let mild = [at(Level::Medium, "A", 0), at(Level::High, "C", 180)];
    let incidents = run_default(&mild);
    assert_eq!(incidents.len(), 1);
    assert_eq!(titles(&incidents[0]), ["C"]);
}

#[test]
fn an_entity_common_yesterday_links_again_today() {
    const DAY: i64 = 24 * 60;
    let config = GroupingConfig {
        max_spread: 2,
        ..linking()
    };
    // Yesterday bob worked on three hosts: common then.
    let mut alerts: Vec<Alert> = (0..3)
        .map(|n| {
            let host = format!("ws-{n}");
            alert(
                "Session",
                n * 120,
                &[(EntityKind::User, "bob"), (EntityKind::Host, &host)],
            )
        })
        .collect();
    alerts.push(alert("Late", 365, &[(EntityKind::User, "bob")]));
    let yesterday = group(&alerts, &config, &AttackCatalog::empty());
    assert_eq!(yesterday.len(), 4, "bob is common: nothing links on him");
    // Today, two alerts naming only bob an hour apart link again.
    alerts.push(alert("Reset of bob", 2 * DAY, &[(EntityKind::User, "bob")]));
    alerts.push(alert(
        "Login as bob",
        2 * DAY + 30,
        &[(EntityKind::User, "bob")],
    ));
    let today = group(&alerts, &config, &AttackCatalog::empty());
    assert_eq!(today.len(), 5);
    let last = today.last().unwrap();
    assert_eq!(titles(last), ["Reset of bob", "Login as bob"]);
}

/// The linking configuration with incidents capped at `detections` and `span` minutes.
fn capped(detections: usize, span_minutes: i64) -> GroupingConfig {
    GroupingConfig {
        max_detections: detections,
        max_span_micros: span_minutes * MINUTE,
        ..linking()
    }
}

#[test]
fn a_full_incident_takes_no_more_and_the_next_detection_continues_it() {
    let alerts: Vec<Alert> = (0..7)
        .map(|minute| alert("Chatty rule", minute, &[(EntityKind::Host, "dc-01")]))
        .collect();
    let incidents = group(&alerts, &capped(3, 10_000), &AttackCatalog::empty());
    let sizes: Vec<usize> = incidents.iter().map(|i| i.members.len()).collect();
    assert_eq!(sizes, [3, 3, 1]);
    assert!(incidents[0].continues.is_empty());
    assert_eq!(incidents[1].continues, [incidents[0].id.clone()]);
    assert_eq!(incidents[2].continues, [incidents[1].id.clone()]);
    let first_of_second = &incidents[1].members[0].reason;
    assert!(first_of_second.links.is_empty());
    assert!(
        first_of_second
            .to_string()
            .contains(&format!("continues {}", incidents[0].id)),
        "{first_of_second}"
    );
    // Only the first member of a continuation names the full incident.
    assert!(incidents[1].members[1].reason.continues.is_empty());
}

#[test]
fn an_incident_past_its_span_takes_no_more() {
    let alerts: Vec<Alert> = (0..6)
        .map(|step| alert("Slow scan", step * 20, &[(EntityKind::Host, "web-01")]))
        .collect();
    let incidents = group(&alerts, &capped(1_000, 45), &AttackCatalog::empty());
    let sizes: Vec<usize> = incidents.iter().map(|i| i.members.len()).collect();
    // Minutes 0, 20, 40 are within 45 of the first; 60 is past it and starts the next.
    assert_eq!(sizes, [3, 3]);
    assert_eq!(incidents[1].continues, [incidents[0].id.clone()]);
}

#[test]
fn a_detection_linking_a_full_incident_and_a_live_one_joins_the_live_one() {
    let mut alerts: Vec<Alert> = (0..2)
        .map(|minute| alert("Chatty rule", minute, &[(EntityKind::Host, "dc-01")]))
        .collect();
    alerts.push(alert("Other", 2, &[(EntityKind::User, "bob")]));
    alerts.push(alert(
        "Both",
        3,
        &[(EntityKind::Host, "dc-01"), (EntityKind::User, "bob")],
    ));
    let incidents = group(&alerts, &capped(2, 10_000), &AttackCatalog::empty());
    assert_eq!(incidents.len(), 2);
    assert_eq!(titles(&incidents[1]), ["Other", "Both"]);
    let joined = &incidents[1].members[1].reason;
    assert_eq!(joined.links.len(), 1);
    assert!(joined.merged.is_empty());
    assert_eq!(joined.continues, [incidents[0].id.clone()]);
}

#[test]
fn a_continuation_is_an_incident_at_once() {
    let host = [(EntityKind::Host, "srv-7")];
    let alerts = [
        alert("Odd service", 0, &host),
        alert("Odd share", 1, &host),
        alert("Odd service", 2, &host),
    ];
    // Two medium signals open the first incident; the third detection alone would not.
    let config = GroupingConfig {
        max_detections: 2,
        ..GroupingConfig::default()
    };
    let incidents = group(&alerts, &config, &AttackCatalog::empty());
    assert_eq!(incidents.len(), 2);
    assert_eq!(incidents[1].continues, [incidents[0].id.clone()]);
    assert_eq!(incidents[1].opening, incidents[0].opening);
    let alone = group(&alerts[2..], &config, &AttackCatalog::empty());
    assert!(alone.is_empty());
}

/// Calls familiar every alert naming the source address `office`.
#[derive(Debug)]
struct Office;

impl OriginTrust for Office {
    fn is_familiar(&self, alert: &Alert) -> bool {
        alert
            .entities
            .iter()
            .any(|e| e.kind == EntityKind::SourceIp && e.value == "198.51.100.7")
    }
}

#[test]
fn alerts_from_a_familiar_origin_join_as_context_and_open_nothing() {
    let key = |ip| [(EntityKind::ApiKey, "k-1"), (EntityKind::SourceIp, ip)];
    let night = vec![
        alert_of(
            AlertKind::Sigma,
            Level::Medium,
            "reset",
            0,
            &key("198.51.100.7"),
        ),
        alert_of(
            AlertKind::Sigma,
            Level::Critical,
            "reset then session",
            1,
            &key("198.51.100.7"),
        ),
        alert_of(
            AlertKind::Anomaly,
            Level::Medium,
            "new key",
            2,
            &key("198.51.100.7"),
        ),
    ];
    let trusted = |alerts: &[Alert]| {
        let mut grouper = Grouper::new(GroupingConfig::default());
        grouper.trust_origins(Arc::new(Office));
        let (incidents, state) = group_with(grouper, alerts, &AttackCatalog::empty());
        (incidents, state)
    };
    let (incidents, state) = trusted(&night);
    assert!(
        incidents.is_empty(),
        "the office's maintenance opens nothing"
    );
    // Without the trust the same night is critical.
    let plain = group(&night, &GroupingConfig::default(), &AttackCatalog::empty());
    assert_eq!(plain.len(), 1);

    // The same key from elsewhere is evidence, and the office's alerts join it as context,
    // also when grouping goes on from the saved state.
    let state = state.expect("a state");
    let mut resumed = Grouper::resume(state, &GroupingConfig::default()).expect("resumes");
    resumed.trust_origins(Arc::new(Office));
    let stolen = alert_of(
        AlertKind::Sigma,
        Level::High,
        "reset",
        3,
        &key("203.0.113.9"),
    );
    resumed.push(&stolen);
    let incidents = resumed
        .touched_incidents(&HashMap::new(), &AttackCatalog::empty())
        .expect("incidents");
    assert_eq!(incidents.len(), 1);
    let incident = &incidents[0];
    assert_eq!(incident.timeline.len(), 4);
    let opening = incident.opening.as_ref().expect("why it opened");
    assert!(opening.to_string().contains("reset"), "{opening}");
    let context: Vec<bool> = incident
        .members
        .iter()
        .map(|m| m.reason.familiar_origin)
        .collect();
    assert_eq!(context, [true, true, true, false]);
}
