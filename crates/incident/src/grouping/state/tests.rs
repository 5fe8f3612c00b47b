//! Tests of saved grouping states: what they keep, and that resuming from one continues the
//! grouping exactly.

use super::*;
use crate::alert::{AlertKind, AlertOrigin, Level, RuleRef};
use crate::entities::EntityKind;
use crate::grouping::group;
use std::collections::BTreeMap;

const MINUTE: i64 = 60 * 1_000_000;

fn alert(title: &str, level: Level, minute: i64, host: &str) -> Alert {
    let rule = RuleRef {
        id: title.to_owned(),
        title: title.to_owned(),
        level,
        tags: vec![],
        author: None,
    };
    let origin = AlertOrigin {
        source: "test.evtx".into(),
        record: u64::try_from(minute).unwrap_or_default(),
    };
    let host = Entity {
        kind: EntityKind::Host,
        value: host.to_owned(),
    };
    Alert::new(
        AlertKind::Sigma,
        rule,
        origin,
        Some(minute * MINUTE),
        vec![host],
        vec![],
    )
}

fn state_of(alerts: &[Alert]) -> GroupingState {
    let mut grouper = Grouper::new(GroupingConfig::default());
    for alert in alerts {
        grouper.push(alert);
    }
    grouper.state().unwrap()
}

#[test]
fn a_state_keeps_only_groups_still_joinable_and_no_incident_alerts() {
    let alerts = [
        alert("Old", Level::Medium, 0, "ws-1"),
        alert("Context", Level::Low, 120, "ws-2"),
        alert("Recent", Level::High, 130, "ws-3"),
    ];
    let state = state_of(&alerts);
    assert_eq!(state.groups.len(), 2);
    let context = &state.groups[0];
    assert!(!context.opened && context.members[0].alert.is_some());
    assert!(state.groups[1].opened && state.groups[1].members[0].alert.is_none());
    let old = state
        .entities
        .iter()
        .find(|e| e.key.value == "ws-1")
        .unwrap();
    assert_eq!(old.last, None);
}

#[test]
fn resuming_from_a_saved_state_continues_the_grouping_exactly() {
    let first = [
        alert("Context", Level::Low, 0, "ws-1"),
        alert("Start", Level::Medium, 10, "ws-2"),
    ];
    let later = [
        alert("Opens", Level::High, 20, "ws-1.corp.example"),
        alert("Joins", Level::Medium, 30, "ws-2"),
    ];
    let json = serde_json::to_vec(&state_of(&first)).unwrap();
    let state: GroupingState = serde_json::from_slice(&json).unwrap();
    let mut grouper = Grouper::resume(state, &GroupingConfig::default()).unwrap();
    for alert in &later {
        assert!(grouper.appends(alert));
        grouper.push(alert);
    }
    let ids = grouper.stored_incidents_touched();
    let stored: HashMap<String, Alert> = first
        .iter()
        .filter(|a| ids.contains(&Incident::id_for(&a.key)))
        .map(|a| (a.key.clone(), a.clone()))
        .collect();
    let catalog = AttackCatalog::empty();
    let touched = grouper.touched_incidents(&stored, &catalog).unwrap();
    let all: Vec<Alert> = first.iter().chain(&later).cloned().collect();
    assert_eq!(touched, group(&all, &GroupingConfig::default(), &catalog));
    assert!(!grouper.appends(&alert("Late", Level::High, 5, "ws-9")));
}

#[test]
fn another_configuration_or_version_is_refused() {
    let state = state_of(&[alert("Start", Level::Medium, 0, "ws-1")]);
    let other = GroupingConfig {
        max_spread: 2,
        ..GroupingConfig::default()
    };
    assert_eq!(
        Grouper::resume(state.clone(), &other).err(),
        Some(ResumeError::Config)
    );
    let old = GroupingState {
        version: 0,
        ..state
    };
    assert!(matches!(
        Grouper::resume(old, &GroupingConfig::default()),
        Err(ResumeError::Version { found: 0, .. })
    ));
}

#[test]
fn signals_gathered_before_a_save_count_after_resuming() {
    let first = [
        alert("New network", Level::Medium, 0, "ws-1"),
        alert("Odd hour", Level::Low, 5, "ws-1"),
    ];
    let later = [alert("Archive written", Level::Low, 10, "ws-1")];
    let state = state_of(&first);
    assert!(
        !state.groups[0].opened,
        "one medium and one low: risk 4 of 5"
    );
    let mut grouper = Grouper::resume(state, &GroupingConfig::default()).unwrap();
    for alert in &later {
        grouper.push(alert);
    }
    let catalog = AttackCatalog::empty();
    let touched = grouper
        .touched_incidents(&HashMap::new(), &catalog)
        .unwrap();
    let all: Vec<Alert> = first.iter().chain(&later).cloned().collect();
    assert_eq!(touched, group(&all, &GroupingConfig::default(), &catalog));
    let opening = touched[0].opening.as_ref().unwrap();
    assert_eq!(
        (opening.title.as_str(), opening.risk),
        ("Archive written", 5)
    );
    assert_eq!(opening.signals.len(), 3);
}

#[test]
fn the_opening_survives_a_save_and_resume() {
    let first = [alert("Reset", Level::Critical, 0, "ws-1")];
    let later = [alert("Session", Level::Medium, 10, "ws-1")];
    let mut grouper = Grouper::resume(state_of(&first), &GroupingConfig::default()).unwrap();
    for alert in &later {
        grouper.push(alert);
    }
    let stored: HashMap<String, Alert> = first.iter().map(|a| (a.key.clone(), a.clone())).collect();
    let touched = grouper
        .touched_incidents(&stored, &AttackCatalog::empty())
        .unwrap();
    let opening = touched[0].opening.as_ref().unwrap();
    assert!(opening.alone);
    assert_eq!(opening.to_string(), "opened by a critical alert: Reset");
}

#[test]
fn a_suppressed_alert_stays_no_evidence_after_resuming() {
    use crate::suppression::{NewSuppression, Suppression, SuppressionSet};
    let suppressions = SuppressionSet::new(vec![Suppression {
        id: 1,
        spec: NewSuppression {
            rule_id: Some("Weekly session".into()),
            entity: None,
            reason: "the integration".into(),
            added_by: "ana".into(),
            added_at_micros: 0,
            incident: None,
        },
        removed: None,
    }]);
    let first = [alert("Weekly session", Level::Medium, 0, "ws-1")];
    let later = [alert("New network", Level::Medium, 10, "ws-1")];
    let mut grouper = Grouper::new(GroupingConfig::default());
    grouper.suppress(suppressions.clone());
    for alert in &first {
        grouper.push(alert);
    }
    let mut resumed =
        Grouper::resume(grouper.state().unwrap(), &GroupingConfig::default()).unwrap();
    resumed.suppress(suppressions.clone());
    for alert in &later {
        resumed.push(alert);
    }
    let catalog = AttackCatalog::empty();
    let touched = resumed
        .touched_incidents(&HashMap::new(), &catalog)
        .unwrap();
    let all: Vec<Alert> = first.iter().chain(&later).cloned().collect();
    let (full, _) = crate::grouping::group_with_suppressions(
        &all,
        &GroupingConfig::default(),
        &suppressions,
        &catalog,
    );
    assert!(full.is_empty(), "one medium signal and a suppressed one");
    assert_eq!(
        touched, full,
        "resuming counts the suppressed alert as evidence"
    );
}

/// Groups `alerts` in chunks of `chunk`, saving the state after each and resuming from it
/// (through JSON, as a store keeps it); every incident each chunk touched, by id, the last
/// version of each, and the largest state saved (bytes).
fn grouped_in_chunks(
    alerts: &[Alert],
    chunk: usize,
    config: &GroupingConfig,
) -> (BTreeMap<String, Incident>, usize) {
    let catalog = AttackCatalog::empty();
    let mut incidents: BTreeMap<String, Incident> = BTreeMap::new();
    let mut stored: HashMap<String, Alert> = HashMap::new();
    let mut state: Option<GroupingState> = None;
    let mut largest = 0;
    for part in alerts.chunks(chunk) {
        let mut grouper = match state.take() {
            Some(state) => Grouper::resume(state, config).unwrap(),
            None => Grouper::new(config.clone()),
        };
        for alert in part {
            assert!(grouper.appends(alert));
            grouper.push(alert);
        }
        for incident in grouper.touched_incidents(&stored, &catalog).unwrap() {
            incidents.insert(incident.id.clone(), incident);
        }
        stored.extend(part.iter().map(|a| (a.key.clone(), a.clone())));
        let json = serde_json::to_vec(&grouper.state().unwrap()).unwrap();
        largest = largest.max(json.len());
        state = Some(serde_json::from_slice(&json).unwrap());
    }
    (incidents, largest)
}

#[test]
fn capped_incidents_resume_exactly_as_a_whole_grouping() {
    let config = GroupingConfig {
        max_detections: 4,
        max_span_micros: 30 * MINUTE,
        ..GroupingConfig::default()
    };
    let alerts: Vec<Alert> = (0..40)
        .map(|minute| {
            let host = if minute % 3 == 0 { "ws-1" } else { "ws-2" };
            alert("Chatty", Level::High, minute * 2, host)
        })
        .collect();
    let whole = group(&alerts, &config, &AttackCatalog::empty());
    assert!(whole.iter().any(|incident| !incident.continues.is_empty()));
    for chunk in [1, 3, 7] {
        let (chunked, _) = grouped_in_chunks(&alerts, chunk, &config);
        let chunked: Vec<Incident> = chunked.into_values().collect();
        let mut expected = whole.clone();
        expected.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(chunked, expected, "in chunks of {chunk}");
    }
}

/// A soak of the grouping a live service does: one host triggering a rule every second for
/// days, grouped a thousand detections at a time from the saved state. The state stays
/// bounded by the cap, whatever the number of detections.
#[test]
fn a_host_that_never_goes_quiet_keeps_the_state_bounded() {
    let config = GroupingConfig {
        max_detections: 500,
        ..GroupingConfig::default()
    };
    let per_second = |second: i64| {
        let mut alert = alert("Chatty", Level::High, 0, "dc-01");
        alert.timestamp_micros = Some(second * 1_000_000);
        alert.key = format!("{second:012x}-soak");
        alert
    };
    let early: Vec<Alert> = (0..2_000).map(per_second).collect();
    let (_, early_state) = grouped_in_chunks(&early, 1_000, &config);
    let soak: Vec<Alert> = (0..200_000).map(per_second).collect();
    let (incidents, soak_state) = grouped_in_chunks(&soak, 1_000, &config);
    assert_eq!(incidents.len(), 400);
    assert!(incidents.values().all(|i| i.members.len() == 500));
    assert!(
        soak_state <= early_state + early_state / 10,
        "state grew from {early_state} to {soak_state} bytes"
    );
}
