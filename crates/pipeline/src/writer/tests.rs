//! Tests of the incident writer: runs appended one after another are grouped incrementally
//! into exactly the incidents a regrouping of every stored alert gives, and runs that cannot
//! be appended fall back to that regrouping.

use tocsin_incident::{
    group_with_suppressions, AlertKind, AlertOrigin, Entity, EntityKind, IncidentFilter, Level,
    Lifecycle, RuleRef,
};
use tocsin_store::MemoryStore;

use super::*;

const MINUTE: i64 = 60 * 1_000_000;
const START: i64 = 1_714_557_600_000_000;

fn alert(title: &str, level: Level, minute: i64, entities: &[(EntityKind, &str)]) -> Alert {
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
        AlertKind::Sigma,
        rule,
        origin,
        Some(START + minute * MINUTE),
        entities,
        vec![],
    )
}

/// Adds one run of `alerts` to `store`; returns the store and the writer's report.
fn add(
    store: MemoryStore,
    config: &GroupingConfig,
    alerts: &[Alert],
) -> (MemoryStore, StoreReport) {
    let mut writer = IncidentWriter::new(store, config.clone(), AttackCatalog::empty());
    for alert in alerts {
        writer.push(alert.clone()).unwrap();
    }
    writer.finish().unwrap()
}

/// Incidents without their lifecycle, by id, to compare groupings.
fn computed(mut incidents: Vec<Incident>) -> Vec<Incident> {
    for incident in &mut incidents {
        incident.lifecycle = Lifecycle::default();
    }
    incidents.sort_by(|a, b| a.id.cmp(&b.id));
    incidents
}

/// The default grouping with any medium alert opening an incident: most tests here are about
/// incremental grouping, not the opening policy.
fn any_medium_opens() -> GroupingConfig {
    GroupingConfig {
        min_risk: tocsin_incident::grouping::opening::MEDIUM_RISK,
        ..GroupingConfig::default()
    }
}

/// Asserts that the store's live incidents are those of a regrouping of all its alerts
/// (under the store's suppressions).
fn assert_matches_full_regroup(store: &MemoryStore, config: &GroupingConfig) {
    let all = store.all_alerts().unwrap();
    let suppressions = SuppressionSet::new(store.suppressions().unwrap());
    let (grouped, _) =
        group_with_suppressions(&all, config, &suppressions, &AttackCatalog::empty());
    let expected = computed(grouped);
    let stored = computed(store.list_incidents(&IncidentFilter::default()).unwrap());
    assert_eq!(stored, expected);
}

fn has_state(store: &MemoryStore) -> bool {
    store
        .load_blob(STATE_BLOB)
        .unwrap()
        .is_some_and(|bytes| !bytes.is_empty())
}

const HOST: EntityKind = EntityKind::Host;
const USER: EntityKind = EntityKind::User;

#[test]
fn appended_runs_match_a_full_regroup_after_each_run() {
    let config = any_medium_opens();
    let runs = [
        vec![
            alert("Encoded PowerShell", Level::Medium, 0, &[(HOST, "ws-1")]),
            alert(
                "API key changed",
                Level::Low,
                5,
                &[(USER, "bob"), (HOST, "ws-9")],
            ),
            alert("Service installed", Level::Medium, 10, &[(HOST, "ws-2")]),
        ],
        // A high alert opens bob's context group; a full host name meets the short one.
        vec![
            alert("Token theft", Level::High, 20, &[(USER, "bob")]),
            alert("Dump", Level::Medium, 30, &[(HOST, "ws-1.corp.example")]),
        ],
        // carol joins ws-2's incident, then a low alert bridges it and ws-1's.
        vec![
            alert(
                "Logon",
                Level::Medium,
                40,
                &[(HOST, "ws-2"), (USER, "carol")],
            ),
            alert(
                "Share access",
                Level::Low,
                45,
                &[(HOST, "ws-1"), (USER, "carol")],
            ),
        ],
        // Far later: new incidents, a context alert, and a rerun alert already stored.
        vec![
            alert(
                "Logon",
                Level::Medium,
                40,
                &[(HOST, "ws-2"), (USER, "carol")],
            ),
            alert("Recon", Level::Low, 300, &[(HOST, "ws-7")]),
            alert("Recon", Level::Low, 301, &[(HOST, "ws-8")]),
            alert("Lateral move", Level::High, 310, &[(HOST, "ws-8")]),
        ],
    ];
    let mut store = MemoryStore::new();
    let mut reports = Vec::new();
    for run in &runs {
        let (back, report) = add(store, &config, run);
        store = back;
        assert_matches_full_regroup(&store, &config);
        assert!(has_state(&store));
        reports.push(report);
    }
    // Incremental runs save only what they touched: the merge, then the new incident.
    assert_eq!(reports[2].incidents, 1);
    assert_eq!(reports[3].incidents, 1);
    assert_eq!(reports[3].alerts.existing, 1);
    let new: Vec<usize> = reports.iter().map(|r| r.new_incidents).collect();
    assert_eq!(new, [2, 1, 0, 1]);
    let live = store.list_incidents(&IncidentFilter::default()).unwrap();
    assert_eq!(live.len(), 3);
}

#[test]
fn spread_is_counted_over_every_run() {
    let config = GroupingConfig {
        max_spread: 1,
        ..any_medium_opens()
    };
    let runs = [
        vec![alert(
            "A",
            Level::Medium,
            0,
            &[(HOST, "dc-1"), (USER, "ann")],
        )],
        vec![alert(
            "B",
            Level::Medium,
            5,
            &[(HOST, "dc-1"), (USER, "ben")],
        )],
        vec![alert(
            "C",
            Level::Medium,
            10,
            &[(HOST, "dc-1"), (USER, "cid")],
        )],
        vec![alert("D", Level::Medium, 15, &[(HOST, "dc-1")])],
    ];
    let mut store = MemoryStore::new();
    for run in &runs {
        store = add(store, &config, run).0;
        assert_matches_full_regroup(&store, &config);
    }
    // dc-1 is common from B on (two users), in every run after: nothing links on it.
    let live = store.list_incidents(&IncidentFilter::default()).unwrap();
    assert_eq!(live.len(), 4);
}

#[test]
fn a_late_alert_regroups_everything_and_still_matches() {
    let config = any_medium_opens();
    let first = [
        alert("Encoded PowerShell", Level::Medium, 0, &[(HOST, "ws-1")]),
        alert("Dump", Level::Medium, 100, &[(HOST, "ws-1")]),
    ];
    let (store, _) = add(MemoryStore::new(), &config, &first);
    // Earlier than the newest grouped alert, and bridging ws-1's two incidents.
    let late = [alert("Logon", Level::Low, 50, &[(HOST, "ws-1")])];
    let (store, report) = add(store, &config, &late);
    assert_matches_full_regroup(&store, &config);
    assert_eq!(report.incidents, 1);
    assert!(has_state(&store));
    let later = [alert("Exfil", Level::High, 120, &[(HOST, "ws-1")])];
    let (store, report) = add(store, &config, &later);
    assert_matches_full_regroup(&store, &config);
    assert_eq!(report.incidents, 1);
}

#[test]
fn another_configuration_regroups_everything() {
    let first = [
        alert("A", Level::Medium, 0, &[(HOST, "ws-1")]),
        alert("B", Level::Medium, 30, &[(HOST, "ws-2")]),
    ];
    let (store, _) = add(MemoryStore::new(), &any_medium_opens(), &first);
    let config = GroupingConfig {
        quiet_gap_micros: 10 * MINUTE,
        ..any_medium_opens()
    };
    let next = [alert("C", Level::Medium, 35, &[(HOST, "ws-2")])];
    let (store, report) = add(store, &config, &next);
    assert_matches_full_regroup(&store, &config);
    assert_eq!(report.incidents, 2);
}

#[test]
fn a_suppression_in_the_store_stops_a_benign_pattern_from_opening() {
    let config = GroupingConfig::default();
    let session = |minute, key| {
        alert(
            "Session started with an API key",
            Level::High,
            minute,
            &[(EntityKind::ApiKey, key)],
        )
    };
    let (mut store, _) = add(MemoryStore::new(), &config, &[session(0, "k-integration")]);
    let first = store.list_incidents(&IncidentFilter::default()).unwrap();
    assert_eq!(first.len(), 1);
    store
        .add_suppression(&tocsin_incident::NewSuppression {
            rule_id: Some("Session started with an API key".into()),
            entity: Some(Entity {
                kind: EntityKind::ApiKey,
                value: "k-integration".into(),
            }),
            reason: "the ticketing integration's weekly session".into(),
            added_by: "ana".into(),
            added_at_micros: 0,
            incident: Some(first[0].id.clone()),
        })
        .unwrap();
    // A week later, grouped incrementally: stored, but no incident.
    let week = 7 * 24 * 60;
    let (store, report) = add(store, &config, &[session(week, "k-integration")]);
    assert_eq!((report.alerts.new, report.new_incidents), (1, 0));
    // The same rule for another key still opens one.
    let (store, report) = add(store, &config, &[session(week + 60, "k-stolen")]);
    assert_eq!(report.new_incidents, 1);
    // A full regroup agrees, and keeps the incident the analyst closed as it was.
    let writer = IncidentWriter::new(store, config.clone(), AttackCatalog::empty());
    let (store, report) = writer.regroup().unwrap();
    assert_eq!((report.incidents, report.new_incidents), (1, 0));
    let live = store.list_incidents(&IncidentFilter::default()).unwrap();
    let ids: Vec<&str> = live.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first[0].id.as_str()));
}

/// A small deterministic generator for the randomised test.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[test]
fn random_appended_runs_match_a_full_regroup() {
    let config = GroupingConfig {
        max_spread: 3,
        ..any_medium_opens()
    };
    let mut random = XorShift(0x2545_F491_4F6C_DD1D);
    let levels = [Level::Low, Level::Low, Level::Medium, Level::High];
    let mut minute = 0;
    let mut store = MemoryStore::new();
    let mut partial = 0;
    for _ in 0..25 {
        let mut run = Vec::new();
        for _ in 0..=random.below(12) {
            minute += 1 + i64::try_from(random.below(40)).unwrap();
            let host = format!("ws-{}", random.below(8));
            let host = if random.below(2) == 0 {
                host
            } else {
                format!("{host}.corp.example")
            };
            let user = format!("user{}", random.below(6));
            let level = levels[usize::try_from(random.below(4)).unwrap()];
            let entities = [(HOST, host.as_str()), (USER, user.as_str())];
            let count = usize::try_from(random.below(3)).unwrap();
            run.push(alert("Random", level, minute, &entities[..count]));
        }
        let (back, report) = add(store, &config, &run);
        store = back;
        assert_matches_full_regroup(&store, &config);
        assert!(has_state(&store));
        let live = store.list_incidents(&IncidentFilter::default()).unwrap();
        partial += usize::from(report.incidents < live.len());
    }
    // Most runs saved only the incidents they touched (grouped incrementally).
    assert!(partial > 15, "{partial}");
}

#[test]
fn a_rerun_of_stored_alerts_saves_nothing_and_keeps_the_state() {
    let config = any_medium_opens();
    let run = [
        alert("Context", Level::Low, 0, &[(HOST, "ws-1")]),
        alert("Old", Level::Medium, 0, &[(HOST, "ws-2")]),
        alert("Recent", Level::Medium, 300, &[(HOST, "ws-3")]),
    ];
    let (store, _) = add(MemoryStore::new(), &config, &run);
    let (store, report) = add(store, &config, &run);
    assert_eq!(report.alerts.existing, 3);
    assert_eq!((report.incidents, report.new_incidents), (0, 0));
    assert!(has_state(&store));
    assert_matches_full_regroup(&store, &config);
}

/// A run stopped after storing its alerts and before grouping them leaves them counted as
/// ungrouped; `regroup` groups them as a full regrouping does and the count falls to zero.
#[test]
fn alerts_a_stopped_run_left_are_counted_then_regrouped() {
    let config = any_medium_opens();
    let first = [alert(
        "first",
        Level::High,
        0,
        &[(EntityKind::Host, "ws-1")],
    )];
    let (store, _) = add(MemoryStore::new(), &config, &first);
    assert_eq!(ungrouped_alerts(&store).unwrap(), 0);
    let mut stopped = IncidentWriter::new(store, config.clone(), AttackCatalog::empty());
    stopped
        .push(alert("late", Level::High, 5, &[(EntityKind::Host, "ws-1")]))
        .unwrap();
    stopped
        .push(alert(
            "other",
            Level::High,
            6,
            &[(EntityKind::Host, "ws-2")],
        ))
        .unwrap();
    stopped.flush().unwrap();
    let store = stopped.store().clone();
    assert_eq!(ungrouped_alerts(&store).unwrap(), 2);
    let writer = IncidentWriter::new(store, config.clone(), AttackCatalog::empty());
    let (store, report) = writer.regroup().unwrap();
    assert_eq!(report.new_incidents, 1, "{report:?}");
    assert_eq!(ungrouped_alerts(&store).unwrap(), 0);
    assert_matches_full_regroup(&store, &config);
}

#[test]
fn a_late_alert_continues_from_a_checkpoint_and_matches_a_full_regroup() {
    let config = any_medium_opens();
    let mut store = MemoryStore::new();
    // Eight runs, one an hour on hosts of their own, each opening an incident.
    for run in 0..8 {
        let host = format!("ws-{run}");
        let first = [alert("Dump", Level::Medium, run * 60, &[(HOST, &host)])];
        store = add(store, &config, &first).0;
    }
    assert_eq!(
        store
            .list_incidents(&IncidentFilter::default())
            .unwrap()
            .len(),
        8
    );
    // Late: during run 6's hour, on run 6's host.
    let late = [alert("Logon", Level::High, 6 * 60 + 5, &[(HOST, "ws-6")])];
    let (store, report) = add(store, &config, &late);
    assert_matches_full_regroup(&store, &config);
    // Only what came after the checkpoint was grouped again, not all eight incidents.
    assert!(report.incidents < 8, "{report:?}");
    assert!(has_state(&store));
    let later = [alert("Exfil", Level::High, 9 * 60, &[(HOST, "ws-6")])];
    let (store, _) = add(store, &config, &later);
    assert_matches_full_regroup(&store, &config);
}

/// The live incidents of `store`, without lifecycles, by id.
fn live(store: &MemoryStore) -> Vec<Incident> {
    computed(store.list_incidents(&IncidentFilter::default()).unwrap())
}

#[test]
fn random_runs_with_late_alerts_match_regrouping_the_whole_store() {
    let config = GroupingConfig {
        max_spread: 3,
        ..any_medium_opens()
    };
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
    let levels = [Level::Low, Level::Low, Level::Medium, Level::High];
    let mut newest = 0;
    // The same runs into two stores: one groups late runs from checkpoints, the other
    // (its checkpoints removed before each run) regroups the whole store.
    let (mut store, mut whole) = (MemoryStore::new(), MemoryStore::new());
    let (mut late_runs, mut partial) = (0, 0);
    for _ in 0..40 {
        let late = random.below(3) == 0 && newest > 0;
        let mut minute = if late {
            newest - i64::try_from(random.below(300)).unwrap()
        } else {
            newest
        };
        let mut run = Vec::new();
        for _ in 0..=random.below(8) {
            minute += 1 + i64::try_from(random.below(40)).unwrap();
            let host = format!("ws-{}", random.below(8));
            let user = format!("user{}", random.below(6));
            let level = levels[usize::try_from(random.below(4)).unwrap()];
            let entities = [(HOST, host.as_str()), (USER, user.as_str())];
            let count = usize::try_from(random.below(3)).unwrap();
            run.push(alert("Random", level, minute, &entities[..count]));
        }
        newest = newest.max(minute);
        let (back, report) = add(store, &config, &run);
        store = back;
        whole.save_blob(checkpoints::CHECKPOINTS_BLOB, &[]).unwrap();
        whole = add(whole, &config, &run).0;
        assert_eq!(live(&store), live(&whole));
        assert!(has_state(&store));
        if late {
            late_runs += 1;
            partial += usize::from(report.incidents < live(&store).len());
        }
    }
    // Most late runs continued from a checkpoint instead of regrouping everything.
    assert!(late_runs >= 8, "{late_runs}");
    assert!(partial * 2 > late_runs, "{partial} of {late_runs}");
}

#[test]
fn a_run_stopped_before_grouping_leaves_no_checkpoint() {
    let config = any_medium_opens();
    let mut store = MemoryStore::new();
    for run in 0..4 {
        let first = [alert("Dump", Level::Medium, run * 60, &[(HOST, "ws-1")])];
        store = add(store, &config, &first).0;
    }
    let index = store.load_blob(checkpoints::CHECKPOINTS_BLOB).unwrap();
    assert!(index.is_some_and(|index| !index.is_empty()));
    // A run that writes alerts and stops before its grouping.
    let mut writer = IncidentWriter::new(store, config.clone(), AttackCatalog::empty());
    let late = alert("Logon", Level::High, 30, &[(HOST, "ws-1")]);
    writer.push(late).unwrap();
    writer.flush().unwrap();
    let store = writer.store().clone();
    let index = store.load_blob(checkpoints::CHECKPOINTS_BLOB).unwrap();
    assert!(index.is_none_or(|index| index.is_empty()));
    // The next run regroups everything, and agrees with a full regroup.
    let writer = IncidentWriter::new(store, config.clone(), AttackCatalog::empty());
    let (store, _) = writer.regroup().unwrap();
    assert_matches_full_regroup(&store, &config);
}

#[test]
fn adopted_alerts_are_grouped_as_written_ones_and_counted_as_grouped() {
    let config = any_medium_opens();
    let runs = [
        vec![
            alert("Encoded PowerShell", Level::Medium, 0, &[(HOST, "ws-1")]),
            alert("Logon", Level::Low, 5, &[(HOST, "ws-2")]),
        ],
        vec![alert("Dump", Level::High, 20, &[(HOST, "ws-1")])],
    ];
    let mut written = MemoryStore::new();
    let mut adopted = MemoryStore::new();
    for run in &runs {
        written = add(written, &config, run).0;
        // Another connection stores the run; this writer only groups it.
        let first_time = adopted.store_alerts(run).unwrap();
        let mut writer = IncidentWriter::new(adopted, config.clone(), AttackCatalog::empty());
        writer.adopt(run.clone(), &first_time).unwrap();
        adopted = writer.finish().unwrap().0;
    }
    assert_eq!(live(&adopted), live(&written));
    assert_eq!(ungrouped_alerts(&adopted).unwrap(), 0);
    // Stored meanwhile and not adopted: still waiting for a grouping.
    let later = [alert("Exfil", Level::High, 30, &[(HOST, "ws-1")])];
    adopted.put_alerts(&later).unwrap();
    let mut writer = IncidentWriter::new(adopted, config.clone(), AttackCatalog::empty());
    let another = [alert("Recon", Level::Medium, 25, &[(HOST, "ws-3")])];
    let first_time = writer.store_mut().store_alerts(&another).unwrap();
    writer.adopt(another.to_vec(), &first_time).unwrap();
    let (adopted, _) = writer.finish().unwrap();
    assert_eq!(ungrouped_alerts(&adopted).unwrap(), 1);
}

/// A sender that sends again what it sent long ago (a replayed batch, a resent file): the
/// detections are stored already and were grouped then, even those whose group expired
/// without becoming an incident, so the run is appended, not a reason to regroup the store.
#[test]
fn detections_sent_again_long_after_are_appended_not_regrouped() {
    let config = any_medium_opens();
    let early = [
        alert("Context", Level::Low, 0, &[(HOST, "ws-1")]),
        alert("Opening", Level::Medium, 1, &[(HOST, "ws-2")]),
    ];
    let (store, _) = add(MemoryStore::new(), &config, &early);
    let later = [alert("Later", Level::Medium, 600, &[(HOST, "ws-3")])];
    let (store, _) = add(store, &config, &later);
    let mut again = early.to_vec();
    again.push(alert("Newest", Level::High, 900, &[(HOST, "ws-4")]));
    let (store, report) = add(store, &config, &again);
    assert_eq!(report.grouped_by, GroupedBy::Appending, "{report:?}");
    assert_eq!((report.alerts.new, report.alerts.existing), (1, 2));
    assert_eq!(report.new_incidents, 1);
    assert!(has_state(&store));
    assert_matches_full_regroup(&store, &config);
}

/// Alerts stored by something that did not group them while a state was saved: the state
/// does not cover them, so the next run regroups everything, and says why.
#[test]
fn a_state_that_does_not_cover_every_stored_alert_is_not_continued() {
    let config = any_medium_opens();
    let first = [alert("First", Level::Medium, 0, &[(HOST, "ws-1")])];
    let (mut store, _) = add(MemoryStore::new(), &config, &first);
    store
        .put_alerts(&[alert("Ungrouped", Level::High, 5, &[(HOST, "ws-1")])])
        .unwrap();
    let next = [alert("Next", Level::Medium, 10, &[(HOST, "ws-1")])];
    let (store, report) = add(store, &config, &next);
    assert_eq!(
        report.grouped_by,
        GroupedBy::Everything("the store holds detections no grouping saw")
    );
    assert_eq!(ungrouped_alerts(&store).unwrap(), 0);
    assert_matches_full_regroup(&store, &config);
}

/// A service's grouper that saves a state without adopting anything (the detectors' state
/// comes alone) does not count the detections stored meanwhile as grouped.
#[test]
fn an_adopting_writer_never_counts_what_it_did_not_adopt() {
    let config = any_medium_opens();
    let first = [alert("First", Level::Medium, 0, &[(HOST, "ws-1")])];
    let (mut store, _) = add(MemoryStore::new(), &config, &first);
    store
        .put_alerts(&[alert("Committed", Level::High, 5, &[(HOST, "ws-1")])])
        .unwrap();
    let writer =
        IncidentWriter::adopting_only(store, config.clone(), AttackCatalog::empty()).unwrap();
    let (store, report) = writer.finish().unwrap();
    assert_eq!(report.grouped_by, GroupedBy::Appending, "{report:?}");
    assert_eq!(ungrouped_alerts(&store).unwrap(), 1);
}

/// With a read-back limit, a late alert that only a reading back of more stored alerts
/// could place is grouped among the run's late alerts, in an incident of its own; the
/// run's other alerts are appended, the state is kept, and a regrouping places it exactly.
#[test]
fn late_alerts_past_the_read_back_limit_are_grouped_apart() {
    let config = any_medium_opens();
    let first = [
        alert("Opening", Level::High, 0, &[(HOST, "ws-1")]),
        alert("Other", Level::High, 100, &[(HOST, "ws-2")]),
    ];
    let (store, _) = add(MemoryStore::new(), &config, &first);
    let mut writer = IncidentWriter::new(store, config.clone(), AttackCatalog::empty());
    writer.limit_read_back(1);
    let late = alert("Late", Level::High, 50, &[(HOST, "ws-1")]);
    let timely = alert("Timely", Level::High, 110, &[(HOST, "ws-2")]);
    writer.push(late.clone()).unwrap();
    writer.push(timely.clone()).unwrap();
    let (store, report) = writer.finish().unwrap();
    assert_eq!(report.grouped_by, GroupedBy::Apart(1), "{report:?}");
    assert!(has_state(&store));
    let alone = |store: &MemoryStore, key: &str| {
        live(store)
            .iter()
            .find(|i| i.members.iter().any(|m| m.alert_key == key))
            .map(|i| i.members.len())
    };
    assert_eq!(alone(&store, &late.key), Some(1));
    assert_eq!(alone(&store, &timely.key), Some(2));
    // Within the limit, the same late alert joins the incident it falls in.
    let (store, _) = add(MemoryStore::new(), &config, &first);
    let mut writer = IncidentWriter::new(store, config.clone(), AttackCatalog::empty());
    writer.limit_read_back(10);
    writer.push(late.clone()).unwrap();
    let (store, report) = writer.finish().unwrap();
    assert_eq!(
        report.grouped_by,
        GroupedBy::Everything("no checkpoint before a late detection")
    );
    assert_eq!(alone(&store, &late.key), Some(2));
    assert_matches_full_regroup(&store, &config);
}

/// A service stopped while grouping (its grouper adopted detections and never saved) left
/// its state in the store: a restart groups only what waited, from that state, into what
/// regrouping the whole store gives.
#[test]
fn what_a_stopped_service_left_is_grouped_from_its_state() {
    let config = any_medium_opens();
    let mut store = MemoryStore::new();
    let first = [
        alert("Opening", Level::High, 0, &[(HOST, "ws-1")]),
        alert("Context", Level::Low, 5, &[(HOST, "ws-2")]),
    ];
    let first_time = store.store_alerts(&first).unwrap();
    let mut writer =
        IncidentWriter::adopting_only(store, config.clone(), AttackCatalog::empty()).unwrap();
    writer.adopt(first.to_vec(), &first_time).unwrap();
    let (mut store, _) = writer.finish().unwrap();
    // The next grouping adopts two detections and stops before saving; one more is stored.
    let stopped = [
        alert("Joins", Level::Medium, 10, &[(HOST, "ws-1")]),
        alert("Bridge", Level::High, 12, &[(HOST, "ws-2"), (USER, "eve")]),
    ];
    let first_time = store.store_alerts(&stopped).unwrap();
    let mut writer =
        IncidentWriter::adopting_only(store, config.clone(), AttackCatalog::empty()).unwrap();
    writer.adopt(stopped.to_vec(), &first_time).unwrap();
    let mut store = writer.store().clone();
    store
        .put_alerts(&[alert("After", Level::High, 20, &[(USER, "eve")])])
        .unwrap();
    assert!(
        has_state(&store),
        "an adopting writer left the state in place"
    );
    assert_eq!(ungrouped_alerts(&store).unwrap(), 3);
    let writer = IncidentWriter::new(store, config.clone(), AttackCatalog::empty());
    let (store, report) = writer.group_waiting().unwrap();
    assert_eq!(report.grouped_by, GroupedBy::Appending, "{report:?}");
    assert_eq!(report.alerts.new, 3);
    assert_eq!(ungrouped_alerts(&store).unwrap(), 0);
    assert_matches_full_regroup(&store, &config);
    // Without a usable state, everything is regrouped and counted as grouped.
    let mut store = store;
    store.save_blob(STATE_BLOB, &[]).unwrap();
    store
        .put_alerts(&[alert("Later", Level::High, 30, &[(HOST, "ws-3")])])
        .unwrap();
    let writer = IncidentWriter::new(store, config.clone(), AttackCatalog::empty());
    let (store, report) = writer.group_waiting().unwrap();
    assert_eq!(report.grouped_by, GroupedBy::Everything("asked for"));
    assert_eq!(ungrouped_alerts(&store).unwrap(), 0);
    assert_matches_full_regroup(&store, &config);
}

/// A service's grouper that regroups everything (here: the grouping settings changed) while
/// the committer has stored detections it has not adopted yet leaves those out: adopted
/// next, they are appended, not found in the state already and taken for late ones.
#[test]
fn a_regrouping_leaves_out_what_the_grouper_has_not_adopted_yet() {
    let config = any_medium_opens();
    let mut store = MemoryStore::new();
    let first = [alert("First", Level::High, 0, &[(HOST, "ws-1")])];
    let first_time = store.store_alerts(&first).unwrap();
    let mut writer =
        IncidentWriter::adopting_only(store, config.clone(), AttackCatalog::empty()).unwrap();
    writer.adopt(first.to_vec(), &first_time).unwrap();
    let (mut store, _) = writer.finish().unwrap();
    let changed = GroupingConfig {
        quiet_gap_micros: 2 * 60 * MINUTE,
        ..config
    };
    let adopted = [alert("Adopted", Level::High, 10, &[(HOST, "ws-1")])];
    let first_time = store.store_alerts(&adopted).unwrap();
    let mut writer =
        IncidentWriter::adopting_only(store, changed.clone(), AttackCatalog::empty()).unwrap();
    writer.adopt(adopted.to_vec(), &first_time).unwrap();
    let committed = [alert("Committed", Level::High, 20, &[(HOST, "ws-1")])];
    let first_time = writer.store_mut().store_alerts(&committed).unwrap();
    let (store, report) = writer.finish().unwrap();
    assert!(matches!(report.grouped_by, GroupedBy::Everything(_)));
    assert_eq!(ungrouped_alerts(&store).unwrap(), 1);
    let mut writer =
        IncidentWriter::adopting_only(store, changed.clone(), AttackCatalog::empty()).unwrap();
    writer.adopt(committed.to_vec(), &first_time).unwrap();
    let (store, report) = writer.finish().unwrap();
    assert_eq!(report.grouped_by, GroupedBy::Appending, "{report:?}");
    assert_eq!(ungrouped_alerts(&store).unwrap(), 0);
    assert_matches_full_regroup(&store, &changed);
}

/// Calls familiar every alert naming the office address.
#[derive(Debug)]
struct Office;

impl tocsin_incident::OriginTrust for Office {
    fn is_familiar(&self, alert: &Alert) -> bool {
        alert
            .entities
            .iter()
            .any(|e| e.kind == EntityKind::SourceIp && e.value == "198.51.100.7")
    }
}

/// Adds one run of `alerts` to `store`, trusting the office.
fn add_trusting(store: MemoryStore, alerts: &[Alert]) -> (MemoryStore, StoreReport) {
    let mut writer = IncidentWriter::new(store, GroupingConfig::default(), AttackCatalog::empty());
    writer.trust_origins(std::sync::Arc::new(Office));
    for alert in alerts {
        writer.push(alert.clone()).unwrap();
    }
    writer.finish().unwrap()
}

#[test]
fn familiar_origins_open_nothing_whichever_way_the_writer_groups() {
    let reset = |minute, key: &str, ip: &str| {
        alert(
            &format!("Reset by {key}"),
            Level::Critical,
            minute,
            &[(EntityKind::ApiKey, key), (EntityKind::SourceIp, ip)],
        )
    };
    let office = "198.51.100.7";
    // Appended: a maintenance key's resets from the office open nothing.
    let (store, report) = add_trusting(MemoryStore::new(), &[reset(0, "k-maint", office)]);
    assert_eq!((report.alerts.new, report.new_incidents), (1, 0));
    let (store, report) = add_trusting(store, &[reset(600, "k-maint", office)]);
    assert_eq!(report.grouped_by, GroupedBy::Appending);
    assert_eq!(report.new_incidents, 0);
    // A stolen key from a hosting network opens one.
    let (store, report) = add_trusting(store, &[reset(1200, "k-stolen", "203.0.113.9")]);
    assert_eq!(report.new_incidents, 1);
    // Late alerts (grouped again from a checkpoint or the whole store) decide the same.
    let (store, report) = add_trusting(store, &[reset(300, "k-maint", office)]);
    assert_ne!(report.grouped_by, GroupedBy::Appending);
    let live = store.list_incidents(&IncidentFilter::default()).unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    // And so does a regrouping of the store, which a writer without the trust would not.
    let mut writer = IncidentWriter::new(store, GroupingConfig::default(), AttackCatalog::empty());
    writer.trust_origins(std::sync::Arc::new(Office));
    let (store, report) = writer.regroup().unwrap();
    assert_eq!((report.incidents, report.new_incidents), (1, 0));
    let untrusting = IncidentWriter::new(store, GroupingConfig::default(), AttackCatalog::empty());
    let (_, report) = untrusting.regroup().unwrap();
    assert_eq!(report.incidents, 2);
}
