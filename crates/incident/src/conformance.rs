//! The store conformance suite: the [`IncidentStore`] contract as checks that every
//! implementation runs from its own tests, so that the SQLite store, the in-memory store and
//! any later one (a server database) behave alike.
//!
//! Each contract point is one function, generic over a factory that makes an empty store;
//! [`run_all`] runs them all. A broken point is reported as a [`Violation`] naming the point
//! and what differed, never as a panic, so a store's test can return it:
//!
//! ```ignore
//! #[test]
//! fn my_store_meets_the_contract() -> Result<(), tocsin_incident::conformance::Violation> {
//!     tocsin_incident::conformance::run_all(MyStore::new)
//! }
//! ```
//!
//! It lives here, behind the `conformance` cargo feature, rather than in `tocsin-store`:
//! the contract belongs to the trait, every store already depends on this crate, and a store
//! in a crate of its own can run the suite without building SQLite. The feature keeps the
//! suite out of ordinary builds; stores enable it for their tests only.
//!
//! The fixtures build incidents by hand with [`Incident::build`], not with [`crate::group`]:
//! the contract is about storing regroupings, whatever the grouping rules.

use std::fmt::Debug;

use crate::alert::{Alert, AlertKind, AlertOrigin, Level, RuleRef};
use crate::attack::AttackCatalog;
use crate::entities::{Entity, EntityKind};
use crate::incident::{Incident, JoinReason};
use crate::lifecycle::{AuditRecord, Lifecycle, Resolution, Stamp, Status};
use crate::plan::IncidentState;
use crate::severity::Band;
use crate::store::{IncidentFilter, IncidentStore, PutOutcome};
use crate::suppression::{NewSuppression, Removal};

/// A contract point a store broke, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store contract '{contract}' broken: {detail}")]
pub struct Violation {
    /// The contract point (the name of its function in this module).
    pub contract: &'static str,
    /// What the store did instead, or the error it returned.
    pub detail: String,
}

/// Runs every contract point, each on a fresh store from `make`; the first violation stops
/// the run.
pub fn run_all<S: IncidentStore>(mut make: impl FnMut() -> S) -> Result<(), Violation> {
    put_alerts_is_idempotent(&mut make)?;
    record_hunt_is_idempotent(&mut make)?;
    a_refused_write_stores_nothing(&mut make)?;
    all_alerts_are_oldest_first(&mut make)?;
    alerts_after_are_the_later_ones_in_order(&mut make)?;
    alerts_stored_after_a_count_come_in_the_order_stored(&mut make)?;
    memberships_and_states_describe_what_is_stored(&mut make)?;
    saving_keeps_a_stored_lifecycle(&mut make)?;
    an_absorbed_incident_points_at_its_survivor_which_inherits_its_lifecycle(&mut make)?;
    an_absorbed_incident_brought_back_is_live_again(&mut make)?;
    a_touched_survivor_keeps_its_own_lifecycle(&mut make)?;
    an_incident_that_keeps_some_detections_is_not_absorbed(&mut make)?;
    list_incidents_filters_orders_and_hides_absorbed_ones(&mut make)?;
    alerts_of_follows_member_order(&mut make)?;
    apply_change_to_an_unknown_incident_is_an_error(&mut make)?;
    audit_of_is_oldest_first(&mut make)?;
    blobs_are_saved_replaced_and_loaded(&mut make)?;
    incidents_and_blobs_are_saved_together(&mut make)?;
    update_incident_changes_what_is_stored_atomically(&mut make)?;
    suppressions_are_added_listed_and_removed_once(&mut make)
}

/// Storing alerts twice stores them once: the second time they are counted as existing and
/// the stored ones are left unchanged.
pub fn put_alerts_is_idempotent<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("put_alerts_is_idempotent");
    let mut store = make();
    let alerts = [alert(1, Some(1)), alert(2, Some(2)), alert(3, Some(3))];
    let first = check.ok(store.put_alerts(&alerts), "put_alerts")?;
    check.eq("first put", first, outcome(3, 0))?;
    let mut changed = alerts[0].clone();
    changed.rule.title = "changed title, same key".into();
    let again = [
        changed,
        alerts[1].clone(),
        alerts[2].clone(),
        alert(4, Some(4)),
    ];
    let second = check.ok(store.put_alerts(&again), "put_alerts")?;
    check.eq("second put", second, outcome(1, 3))?;
    let stored = check.ok(store.all_alerts(), "all_alerts")?;
    let expected = [&alerts[..], &again[3..]].concat();
    check.eq("stored alerts", stored, expected)
}

/// Recording the same hunt twice stores its alerts and incidents once and changes nothing
/// the second time.
pub fn record_hunt_is_idempotent<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("record_hunt_is_idempotent");
    let mut store = make();
    let alerts = [alert(1, Some(1)), alert(2, Some(2)), alert(3, Some(3))];
    let incidents = [
        incident("INC-a", &[&alerts[0], &alerts[1]]),
        incident("INC-b", &[&alerts[2]]),
    ];
    let first = check.ok(store.record_hunt(&alerts, &incidents), "record_hunt")?;
    check.eq("first record", first, outcome(3, 0))?;
    let listed = check.ok(store.list_incidents(&IncidentFilter::default()), "list")?;
    let second = check.ok(store.record_hunt(&alerts, &incidents), "record_hunt")?;
    check.eq("second record", second, outcome(0, 3))?;
    let again = check.ok(store.list_incidents(&IncidentFilter::default()), "list")?;
    check.eq("incidents after the second record", &again, &listed)?;
    check.eq("number of incidents", again.len(), 2)?;
    for incident in &incidents {
        let stored = check.ok(store.incident(&incident.id), "incident")?;
        check.eq("stored incident", stored.as_ref(), Some(incident))?;
    }
    let members = check.ok(store.alerts_of("INC-a"), "alerts_of")?;
    check.eq("members of INC-a", members, alerts[..2].to_vec())
}

/// A write that names a detection the store does not hold is refused as a whole: neither
/// its alerts nor its incidents are stored (`record_hunt` and `save_incidents` are atomic).
pub fn a_refused_write_stores_nothing<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("a_refused_write_stores_nothing");
    let mut store = make();
    let [kept, ghost, other] = [alert(1, Some(1)), alert(2, Some(2)), alert(3, Some(3))];
    let broken = [incident("INC-a", &[&kept, &ghost])];
    let refused = store.record_hunt(std::slice::from_ref(&kept), &broken);
    check.that(
        "record_hunt naming an unstored alert is refused",
        refused.is_err(),
    )?;
    let stored = check.ok(store.all_alerts(), "all_alerts")?;
    check.that("no alert after the refused hunt", stored.is_empty())?;
    let stored = check.ok(store.incident("INC-a"), "incident")?;
    check.that("no INC-a after the refused hunt", stored.is_none())?;
    check.ok(
        store.put_alerts(&[kept.clone(), other.clone()]),
        "put_alerts",
    )?;
    let moved_and_broken = [
        incident("INC-b", &[&other]),
        incident("INC-a", &[&kept, &ghost]),
    ];
    let refused = store.save_incidents(&moved_and_broken);
    check.that(
        "save_incidents naming an unstored alert is refused",
        refused.is_err(),
    )?;
    let stored = check.ok(store.incident("INC-b"), "incident")?;
    check.that("no INC-b after the refused save", stored.is_none())?;
    let owners = check.ok(
        store.memberships_of(&[&kept.key, &other.key]),
        "memberships_of",
    )?;
    check.that("no membership after the refused save", owners.is_empty())
}

/// Every stored alert comes back oldest first; alerts without a time come last, and equal
/// times are ordered by key.
pub fn all_alerts_are_oldest_first<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("all_alerts_are_oldest_first");
    let mut store = make();
    let untimed = alert(1, None);
    let late = [alert(2, Some(5)), alert(3, Some(5))];
    let early = alert(4, Some(1));
    let written = [
        untimed.clone(),
        late[1].clone(),
        early.clone(),
        late[0].clone(),
    ];
    check.ok(store.put_alerts(&written), "put_alerts")?;
    let mut expected_late = late.to_vec();
    expected_late.sort_by(|a, b| a.key.cmp(&b.key));
    let expected = [vec![early], expected_late, vec![untimed]].concat();
    check.eq(
        "all alerts",
        check.ok(store.all_alerts(), "all_alerts")?,
        expected,
    )
}

/// `alerts_after` gives the alerts after a point in grouping order (a later time, or the
/// same time and a greater key), in that order, then the alerts without a time;
/// `count_alerts_after` counts them.
pub fn alerts_after_are_the_later_ones_in_order<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("alerts_after_are_the_later_ones_in_order");
    let mut store = make();
    let untimed = alert(1, None);
    let mut same_minute = [alert(2, Some(5)), alert(3, Some(5))];
    same_minute.sort_by(|a, b| a.key.cmp(&b.key));
    let (early, late) = (alert(4, Some(1)), alert(5, Some(9)));
    let written = [
        late.clone(),
        untimed.clone(),
        same_minute[1].clone(),
        early,
        same_minute[0].clone(),
    ];
    check.ok(store.put_alerts(&written), "put_alerts")?;
    let point = &same_minute[0];
    let at = point.timestamp_micros.unwrap_or_default();
    check.eq(
        "alerts counted after the first of minute 5",
        check.ok(
            store.count_alerts_after(at, &point.key),
            "count_alerts_after",
        )?,
        3,
    )?;
    check.eq(
        "alerts after the first of minute 5",
        check.ok(store.alerts_after(at, &point.key), "alerts_after")?,
        vec![same_minute[1].clone(), late, untimed],
    )
}

/// `alerts_stored_after(n)` gives the alerts stored after the first `n`, in the order they
/// were stored (whatever their times and keys), an alert stored again not counted again;
/// `store_alerts` says which alerts of a write were new.
pub fn alerts_stored_after_a_count_come_in_the_order_stored<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("alerts_stored_after_a_count_come_in_the_order_stored");
    let mut store = make();
    let (first, second, third) = (alert(1, Some(9)), alert(2, None), alert(3, Some(1)));
    let new = check.ok(
        store.store_alerts(&[first.clone(), second.clone()]),
        "store_alerts",
    )?;
    check.eq("first write's new alerts", new, vec![true, true])?;
    let new = check.ok(
        store.store_alerts(&[first.clone(), third.clone()]),
        "store_alerts",
    )?;
    check.eq("second write's new alerts", new, vec![false, true])?;
    let keys = check.ok(store.keys_stored_after(1), "keys_stored_after")?;
    let expected = vec![second.key.clone(), third.key.clone()];
    check.eq("keys stored after the first", keys, Some(expected))?;
    let after = check.ok(store.alerts_stored_after(1), "alerts_stored_after")?;
    check.eq(
        "alerts stored after the first",
        after,
        Some(vec![second, third]),
    )?;
    let none = check.ok(store.alerts_stored_after(3), "alerts_stored_after")?;
    check.eq("alerts stored after all of them", none, Some(Vec::new()))
}

/// The reads a save is planned from report exactly what is stored: the incident each
/// detection is stored under, and each incident's lifecycle and number of detections.
pub fn memberships_and_states_describe_what_is_stored<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("memberships_and_states_describe_what_is_stored");
    let mut store = make();
    let alerts = [alert(1, Some(1)), alert(2, Some(2)), alert(3, Some(3))];
    let a = incident("INC-a", &[&alerts[0], &alerts[1]]);
    check.ok(
        store.record_hunt(&alerts, std::slice::from_ref(&a)),
        "record_hunt",
    )?;
    let keys = [
        alerts[0].key.as_str(),
        &alerts[1].key,
        &alerts[2].key,
        "no-such-key",
    ];
    let owners = check.ok(store.memberships_of(&keys), "memberships_of")?;
    let expected = [(&alerts[0].key, "INC-a"), (&alerts[1].key, "INC-a")];
    check.eq(
        "memberships",
        owners,
        expected.map(|(k, i)| (k.clone(), i.to_owned())).into(),
    )?;
    let mut touched = a.clone();
    let change = check.ok(touched.assign(Some("ana"), BY), "assign")?;
    check.ok(store.apply_change(&touched, &change), "apply_change")?;
    check.ok(
        store.save_incidents(&[incident("INC-b", &[&alerts[1]])]),
        "save_incidents",
    )?;
    let states = check.ok(
        store.incident_states(&["INC-a", "INC-b", "INC-none"]),
        "incident_states",
    )?;
    let expected = [
        (
            "INC-a".to_owned(),
            IncidentState {
                lifecycle: touched.lifecycle,
                members: 1,
            },
        ),
        (
            "INC-b".to_owned(),
            IncidentState {
                lifecycle: Lifecycle::default(),
                members: 1,
            },
        ),
    ];
    check.eq("states", states, expected.into())
}

/// Saving a regrouping replaces an incident's computed part but keeps its stored lifecycle;
/// a new incident is stored with the lifecycle it carries.
pub fn saving_keeps_a_stored_lifecycle<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("saving_keeps_a_stored_lifecycle");
    let mut store = make();
    let alerts = [alert(1, Some(1)), alert(2, Some(2)), alert(3, Some(20))];
    let before = incident("INC-a", &[&alerts[0], &alerts[1]]);
    check.ok(
        store.record_hunt(&alerts, std::slice::from_ref(&before)),
        "record_hunt",
    )?;
    let mut closed = before.clone();
    let change = check.ok(
        closed.transition(Status::Closed, Some(Resolution::Benign), BY),
        "close",
    )?;
    check.ok(store.apply_change(&closed, &change), "apply_change")?;
    let after = incident("INC-a", &[&alerts[0], &alerts[1], &alerts[2]]);
    let mut carried = incident("INC-n", &[]);
    carried.lifecycle.status = Status::Investigating;
    check.ok(
        store.save_incidents(&[after.clone(), carried.clone()]),
        "save_incidents",
    )?;
    let stored = check.ok(store.incident("INC-a"), "incident")?;
    let expected = Incident {
        lifecycle: closed.lifecycle,
        ..after
    };
    check.eq("INC-a after regrouping", stored, Some(expected))?;
    let stored = check.ok(store.incident("INC-n"), "incident")?;
    check.eq("a new incident with its lifecycle", stored, Some(carried))
}

/// A regrouping that moves all of an incident's detections elsewhere (an earlier detection
/// arriving late, a merge) marks it absorbed by its survivor, which takes over its
/// lifecycle when its own is untouched; the absorbed incident keeps its own and its audit
/// trail. Saving the same regrouping again changes nothing.
pub fn an_absorbed_incident_points_at_its_survivor_which_inherits_its_lifecycle<
    S: IncidentStore,
>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("an_absorbed_incident_points_at_its_survivor_which_inherits_its_lifecycle");
    let mut store = make();
    let alerts = [alert(1, Some(10)), alert(2, Some(11)), alert(3, Some(12))];
    let stored = [
        incident("INC-a", &[&alerts[0], &alerts[1]]),
        incident("INC-b", &[&alerts[2]]),
    ];
    check.ok(store.record_hunt(&alerts, &stored), "record_hunt")?;
    let mut confirmed = stored[0].clone();
    let changes = [
        check.ok(
            confirmed.transition(Status::Confirmed, None, BY),
            "transition",
        )?,
        check.ok(confirmed.assign(Some("ana"), BY), "assign")?,
    ];
    for change in &changes {
        check.ok(store.apply_change(&confirmed, change), "apply_change")?;
    }
    let late = alert(4, Some(1));
    let survivor = incident("INC-z", &[&late, &alerts[0], &alerts[1], &alerts[2]]);
    let regrouping = std::slice::from_ref(&survivor);
    check.ok(
        store.record_hunt(std::slice::from_ref(&late), regrouping),
        "record_hunt",
    )?;
    let expect_state = |store: &S| -> Result<(), Violation> {
        for absorbed in ["INC-a", "INC-b"] {
            let into = check.ok(store.merged_into(absorbed), "merged_into")?;
            check.eq(absorbed, into.as_deref(), Some("INC-z"))?;
        }
        for live in ["INC-z", "INC-unknown"] {
            check.eq(
                live,
                check.ok(store.merged_into(live), "merged_into")?,
                None,
            )?;
        }
        let inherited = check
            .ok(store.incident("INC-z"), "incident")?
            .map(|i| i.lifecycle);
        check.eq(
            "INC-z's lifecycle",
            inherited.as_ref(),
            Some(&confirmed.lifecycle),
        )?;
        let kept = check
            .ok(store.incident("INC-a"), "incident")?
            .map(|i| i.lifecycle);
        check.eq(
            "INC-a's own lifecycle",
            kept.as_ref(),
            Some(&confirmed.lifecycle),
        )?;
        check.eq(
            "INC-a's audit",
            check.ok(store.audit_of("INC-a"), "audit_of")?,
            changes.to_vec(),
        )?;
        let members = check.ok(store.alerts_of("INC-z"), "alerts_of")?;
        check.eq("INC-z's detections", members.len(), 4)?;
        let listed = check.ok(store.list_incidents(&IncidentFilter::default()), "list")?;
        check.eq("listed", ids(&listed), vec!["INC-z"])
    };
    expect_state(&store)?;
    check.ok(store.save_incidents(regrouping), "save_incidents")?;
    expect_state(&store)
}

/// A regrouping that takes only some of a stored incident's detections leaves it live,
/// with the ones it keeps and its own lifecycle; the survivor's stays untouched.
pub fn an_incident_that_keeps_some_detections_is_not_absorbed<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("an_incident_that_keeps_some_detections_is_not_absorbed");
    let mut store = make();
    let alerts = [alert(1, Some(1)), alert(2, Some(2)), alert(3, Some(3))];
    let stored = incident("INC-a", &[&alerts[0], &alerts[1], &alerts[2]]);
    check.ok(
        store.record_hunt(&alerts, std::slice::from_ref(&stored)),
        "record_hunt",
    )?;
    let mut confirmed = stored.clone();
    let change = check.ok(
        confirmed.transition(Status::Confirmed, None, BY),
        "transition",
    )?;
    check.ok(store.apply_change(&confirmed, &change), "apply_change")?;
    let taking = incident("INC-z", &[&alerts[0], &alerts[1]]);
    check.ok(store.save_incidents(&[taking]), "save_incidents")?;
    check.eq(
        "INC-a merged into",
        check.ok(store.merged_into("INC-a"), "merged_into")?,
        None,
    )?;
    let kept = check.ok(store.alerts_of("INC-a"), "alerts_of")?;
    check.eq("INC-a's detections", kept, vec![alerts[2].clone()])?;
    let lifecycles = |id| -> Result<Option<Lifecycle>, Violation> {
        Ok(check
            .ok(store.incident(id), "incident")?
            .map(|i| i.lifecycle))
    };
    check.eq(
        "INC-a's lifecycle",
        lifecycles("INC-a")?,
        Some(confirmed.lifecycle),
    )?;
    check.eq(
        "INC-z's lifecycle",
        lifecycles("INC-z")?,
        Some(Lifecycle::default()),
    )
}

/// An absorbed incident that a later regrouping brings back is live again: listed, and no
/// longer pointing at a survivor.
pub fn an_absorbed_incident_brought_back_is_live_again<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("an_absorbed_incident_brought_back_is_live_again");
    let mut store = make();
    let alerts = [alert(1, Some(1)), alert(2, Some(2))];
    let apart = [
        incident("INC-a", &[&alerts[0]]),
        incident("INC-b", &[&alerts[1]]),
    ];
    check.ok(store.record_hunt(&alerts, &apart), "record_hunt")?;
    let together = incident("INC-a", &[&alerts[0], &alerts[1]]);
    check.ok(store.save_incidents(&[together]), "save_incidents")?;
    let into = check.ok(store.merged_into("INC-b"), "merged_into")?;
    check.eq("INC-b merged into", into.as_deref(), Some("INC-a"))?;
    check.ok(store.save_incidents(&apart), "save_incidents")?;
    check.eq(
        "INC-b merged into",
        check.ok(store.merged_into("INC-b"), "merged_into")?,
        None,
    )?;
    let listed = check.ok(store.list_incidents(&IncidentFilter::default()), "list")?;
    check.eq("listed", ids(&listed), vec!["INC-b", "INC-a"])?;
    let members = check.ok(store.alerts_of("INC-b"), "alerts_of")?;
    check.eq("INC-b's detections", members, vec![alerts[1].clone()])
}

/// A survivor an analyst already worked on keeps its own lifecycle when it absorbs another
/// worked-on incident.
pub fn a_touched_survivor_keeps_its_own_lifecycle<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("a_touched_survivor_keeps_its_own_lifecycle");
    let mut store = make();
    let alerts = [alert(1, Some(1)), alert(2, Some(2))];
    let stored = [
        incident("INC-a", &[&alerts[0]]),
        incident("INC-b", &[&alerts[1]]),
    ];
    check.ok(store.record_hunt(&alerts, &stored), "record_hunt")?;
    let mut worked = stored.clone();
    for (incident, analyst) in worked.iter_mut().zip(["ana", "bob"]) {
        let change = check.ok(incident.assign(Some(analyst), BY), "assign")?;
        check.ok(store.apply_change(incident, &change), "apply_change")?;
    }
    let merged = incident("INC-a", &[&alerts[0], &alerts[1]]);
    check.ok(store.save_incidents(&[merged]), "save_incidents")?;
    let into = check.ok(store.merged_into("INC-b"), "merged_into")?;
    check.eq("INC-b merged into", into.as_deref(), Some("INC-a"))?;
    for incident in &worked {
        let lifecycle = check
            .ok(store.incident(&incident.id), "incident")?
            .map(|i| i.lifecycle);
        check.eq(&incident.id, lifecycle.as_ref(), Some(&incident.lifecycle))?;
    }
    Ok(())
}

/// Listing returns live incidents passing the filter (status, band, last activity, limit),
/// most recent activity first, those without a time last, equal times by id; absorbed
/// incidents are left out.
pub fn list_incidents_filters_orders_and_hides_absorbed_ones<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("list_incidents_filters_orders_and_hides_absorbed_ones");
    let mut store = make();
    let critical = leveled(alert(1, Some(1)), Level::Critical);
    let alerts = [
        critical,
        alert(2, Some(5)),
        alert(3, Some(9)),
        alert(4, Some(9)),
        alert(5, None),
        alert(6, Some(3)),
    ];
    let incidents = [
        incident("INC-old", &[&alerts[0]]),
        incident("INC-mid", &[&alerts[1]]),
        incident("INC-tie-b", &[&alerts[2]]),
        incident("INC-tie-a", &[&alerts[3]]),
        incident("INC-untimed", &[&alerts[4]]),
        incident("INC-gone", &[&alerts[5]]),
    ];
    check.ok(store.record_hunt(&alerts, &incidents), "record_hunt")?;
    let absorbing = incident("INC-mid", &[&alerts[5], &alerts[1]]);
    check.ok(store.save_incidents(&[absorbing]), "save_incidents")?;
    let mut mid = incidents[1].clone();
    let change = check.ok(mid.transition(Status::Confirmed, None, BY), "transition")?;
    check.ok(store.apply_change(&mid, &change), "apply_change")?;
    let list = |filter: IncidentFilter| -> Result<Vec<String>, Violation> {
        let found = check.ok(store.list_incidents(&filter), "list_incidents")?;
        Ok(strings(&ids(&found)))
    };
    let all = list(IncidentFilter::default())?;
    check.eq(
        "all, in order",
        all,
        strings(&[
            "INC-tie-a",
            "INC-tie-b",
            "INC-mid",
            "INC-old",
            "INC-untimed",
        ]),
    )?;
    let confirmed = IncidentFilter {
        statuses: vec![Status::Confirmed],
        ..IncidentFilter::default()
    };
    check.eq("confirmed", list(confirmed)?, strings(&["INC-mid"]))?;
    let worst = IncidentFilter {
        min_band: Some(Band::Critical),
        ..IncidentFilter::default()
    };
    check.eq("critical", list(worst)?, strings(&["INC-old"]))?;
    let recent = IncidentFilter {
        since_micros: Some(5 * MINUTE),
        ..IncidentFilter::default()
    };
    check.eq(
        "since minute 5",
        list(recent)?,
        strings(&["INC-tie-a", "INC-tie-b", "INC-mid"]),
    )?;
    let one = IncidentFilter {
        limit: Some(1),
        ..IncidentFilter::default()
    };
    check.eq("limit 1", list(one)?, strings(&["INC-tie-a"]))?;
    let none = IncidentFilter {
        limit: Some(0),
        ..IncidentFilter::default()
    };
    check.eq("limit 0", list(none)?, Vec::new())
}

/// An incident's alerts come back in its member order (not time or key order), as of its
/// last save; an unknown incident has none.
pub fn alerts_of_follows_member_order<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("alerts_of_follows_member_order");
    let mut store = make();
    let alerts = [alert(1, Some(1)), alert(2, Some(2)), alert(3, Some(3))];
    let [a, b, c] = [&alerts[0], &alerts[1], &alerts[2]];
    check.ok(
        store.record_hunt(&alerts, &[incident("INC-a", &[c, a, b])]),
        "record_hunt",
    )?;
    let members = check.ok(store.alerts_of("INC-a"), "alerts_of")?;
    check.eq(
        "first order",
        members,
        vec![c.clone(), a.clone(), b.clone()],
    )?;
    check.ok(
        store.save_incidents(&[incident("INC-a", &[b, c, a])]),
        "save_incidents",
    )?;
    let members = check.ok(store.alerts_of("INC-a"), "alerts_of")?;
    check.eq(
        "order after regrouping",
        members,
        vec![b.clone(), c.clone(), a.clone()],
    )?;
    let none = check.ok(store.alerts_of("INC-none"), "alerts_of")?;
    check.that("no alert for an unknown incident", none.is_empty())
}

/// A lifecycle change to an incident the store does not hold is an error and leaves no
/// audit record.
pub fn apply_change_to_an_unknown_incident_is_an_error<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("apply_change_to_an_unknown_incident_is_an_error");
    let mut store = make();
    let mut ghost = Incident::placeholder("INC-ghost");
    let change = check.ok(ghost.add_note("hello", BY), "add_note")?;
    let refused = store.apply_change(&ghost, &change);
    check.that("the change is refused", refused.is_err())?;
    let audit = check.ok(store.audit_of("INC-ghost"), "audit_of")?;
    check.that("no audit record", audit.is_empty())?;
    let stored = check.ok(store.incident("INC-ghost"), "incident")?;
    check.that("no INC-ghost", stored.is_none())
}

/// An incident's audit trail comes back oldest first, and each change's lifecycle is the
/// one stored.
pub fn audit_of_is_oldest_first<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("audit_of_is_oldest_first");
    let mut store = make();
    let alerts = [alert(1, Some(1))];
    let mut incident = incident("INC-a", &[&alerts[0]]);
    check.ok(
        store.record_hunt(&alerts, std::slice::from_ref(&incident)),
        "record_hunt",
    )?;
    let mut records = Vec::new();
    for step in 0..4 {
        let by = Stamp {
            actor: "ana",
            at_micros: step + 1,
        };
        let record = match step {
            0 => incident.transition(Status::Investigating, None, by),
            1 => incident.assign(Some("ana"), by),
            2 => incident.add_note("first look", by),
            _ => incident.record_action("host isolated", by),
        };
        let record = check.ok(record, "lifecycle change")?;
        check.ok(store.apply_change(&incident, &record), "apply_change")?;
        records.push(record);
    }
    let audit: Vec<AuditRecord> = check.ok(store.audit_of("INC-a"), "audit_of")?;
    check.eq("audit trail", audit, records)?;
    let stored = check
        .ok(store.incident("INC-a"), "incident")?
        .map(|i| i.lifecycle);
    check.eq("stored lifecycle", stored, Some(incident.lifecycle))
}

/// `update_incident` hands the change the incident as stored (not a caller's stale copy),
/// stores the lifecycle it leaves and its audit records; a refused change writes nothing;
/// an unknown incident is an error.
pub fn update_incident_changes_what_is_stored_atomically<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("update_incident_changes_what_is_stored_atomically");
    let mut store = make();
    let alerts = [alert(1, Some(1))];
    let mut stale = incident("INC-a", &[&alerts[0]]);
    check.ok(
        store.record_hunt(&alerts, std::slice::from_ref(&stale)),
        "record_hunt",
    )?;
    let first = check.ok(stale.add_note("first", BY), "add_note")?;
    check.ok(store.apply_change(&stale, &first), "apply_change")?;
    let done = check.ok(
        store.update_incident("INC-a", |current| {
            let note = current.add_note("second", BY)?;
            let status = current.transition(Status::Investigating, None, BY)?;
            Ok::<_, crate::LifecycleError>(vec![note, status])
        }),
        "update_incident",
    )?;
    let records = check.ok(done, "the change")?;
    let stored = check.ok(store.incident("INC-a"), "incident")?;
    let notes: Vec<String> = stored
        .iter()
        .flat_map(|i| i.lifecycle.notes.iter().map(|n| n.text.clone()))
        .collect();
    check.eq(
        "both notes kept",
        notes,
        vec!["first".to_owned(), "second".to_owned()],
    )?;
    let audit = check.ok(store.audit_of("INC-a"), "audit_of")?;
    check.eq(
        "audit trail",
        audit.get(1..).map(<[_]>::to_vec),
        Some(records),
    )?;
    let refused = check.ok(
        store.update_incident("INC-a", |current| {
            current.add_note("never stored", BY)?;
            current.transition(Status::Contained, None, BY)?;
            Ok::<_, crate::LifecycleError>(Vec::new())
        }),
        "update_incident",
    )?;
    check.that("an illegal move is refused", refused.is_err())?;
    let after = check.ok(store.incident("INC-a"), "incident")?;
    check.eq("nothing written by a refused change", after, stored)?;
    check.eq(
        "no audit record for a refused change",
        check.ok(store.audit_of("INC-a"), "audit_of")?.len(),
        3,
    )?;
    let unknown =
        store.update_incident("INC-ghost", |_| Ok::<_, crate::LifecycleError>(Vec::new()));
    check.that("an unknown incident is an error", unknown.is_err())
}

/// Named blobs are saved, replaced and loaded whole; an unknown name has none.
pub fn blobs_are_saved_replaced_and_loaded<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("blobs_are_saved_replaced_and_loaded");
    let mut store = make();
    let unknown = check.ok(store.load_blob("baseline"), "load_blob")?;
    check.that("no blob under an unknown name", unknown.is_none())?;
    check.ok(store.save_blob("baseline", &[0, 1, 2, 255]), "save_blob")?;
    check.ok(store.save_blob("empty", &[]), "save_blob")?;
    check.ok(store.save_blob("baseline", &[7]), "save_blob")?;
    check.eq(
        "replaced blob",
        check.ok(store.load_blob("baseline"), "load_blob")?,
        Some(vec![7]),
    )?;
    check.eq(
        "empty blob",
        check.ok(store.load_blob("empty"), "load_blob")?,
        Some(vec![]),
    )
}

/// Incidents and blobs saved together are both stored; a refused save of the two stores
/// neither (`save_incidents_with_blobs` is atomic).
pub fn incidents_and_blobs_are_saved_together<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("incidents_and_blobs_are_saved_together");
    let mut store = make();
    let [kept, ghost] = [alert(1, Some(1)), alert(2, Some(2))];
    check.ok(store.put_alerts(std::slice::from_ref(&kept)), "put_alerts")?;
    let broken = [incident("INC-a", &[&kept, &ghost])];
    let refused = store.save_incidents_with_blobs(&broken, &[("baseline", b"learned")]);
    check.that(
        "a save naming an unstored alert is refused",
        refused.is_err(),
    )?;
    let blob = check.ok(store.load_blob("baseline"), "load_blob")?;
    check.that("no blob after the refused save", blob.is_none())?;
    let sound = [incident("INC-a", &[&kept])];
    check.ok(
        store.save_incidents_with_blobs(&sound, &[("baseline", b"learned"), ("state", b"")]),
        "save_incidents_with_blobs",
    )?;
    let stored = check.ok(store.incident("INC-a"), "incident")?;
    check.that("INC-a saved", stored.is_some())?;
    check.eq(
        "blob saved with the incidents",
        check.ok(store.load_blob("baseline"), "load_blob")?,
        Some(b"learned".to_vec()),
    )?;
    check.eq(
        "empty blob saved with the incidents",
        check.ok(store.load_blob("state"), "load_blob")?,
        Some(vec![]),
    )
}

const MINUTE: i64 = 60_000_000;

/// Who makes the suite's lifecycle changes.
const BY: Stamp<'static> = Stamp {
    actor: "conformance",
    at_micros: 1,
};

/// A high alert of record `record` at minute `minute` (if any).
fn alert(record: u64, minute: Option<i64>) -> Alert {
    let rule = RuleRef {
        id: "conformance-rule".into(),
        title: format!("Detection {record}"),
        level: Level::High,
        tags: Vec::new(),
        author: None,
    };
    let origin = AlertOrigin {
        source: "conformance.log".into(),
        record,
    };
    let at = minute.map(|m| m * MINUTE);
    Alert::new(AlertKind::Sigma, rule, origin, at, Vec::new(), Vec::new())
}

fn leveled(mut alert: Alert, level: Level) -> Alert {
    alert.rule.level = level;
    alert
}

/// An incident `id` whose members are `alerts`, in that order.
fn incident(id: &str, alerts: &[&Alert]) -> Incident {
    let members = alerts.iter().map(|a| (*a, JoinReason::default())).collect();
    Incident::build(id.to_owned(), members, &AttackCatalog::empty())
}

fn outcome(new: usize, existing: usize) -> PutOutcome {
    PutOutcome { new, existing }
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|text| (*text).to_owned()).collect()
}

fn ids(incidents: &[Incident]) -> Vec<&str> {
    incidents.iter().map(|i| i.id.as_str()).collect()
}

/// The checks of one contract point, turning mismatches and store errors into violations.
#[derive(Clone, Copy)]
struct Check(&'static str);

impl Check {
    fn violation(self, detail: String) -> Violation {
        Violation {
            contract: self.0,
            detail,
        }
    }

    /// The value of a store call that must succeed.
    fn ok<T, E: std::fmt::Display>(self, result: Result<T, E>, call: &str) -> Result<T, Violation> {
        result.map_err(|error| self.violation(format!("{call} failed: {error}")))
    }

    fn that(self, what: &str, holds: bool) -> Result<(), Violation> {
        if holds {
            Ok(())
        } else {
            Err(self.violation(format!("expected: {what}")))
        }
    }

    fn eq<T: PartialEq + Debug>(self, what: &str, found: T, expected: T) -> Result<(), Violation> {
        if found == expected {
            Ok(())
        } else {
            Err(self.violation(format!("{what}: found {found:?}, expected {expected:?}")))
        }
    }
}

/// Suppressions get distinct ids, are listed oldest first with everything they were given,
/// and are removed once: the removal is kept, a second removal or an unknown id does nothing.
pub fn suppressions_are_added_listed_and_removed_once<S: IncidentStore>(
    make: impl FnOnce() -> S,
) -> Result<(), Violation> {
    let check = Check("suppressions_are_added_listed_and_removed_once");
    let mut store = make();
    let none = check.ok(store.suppressions(), "suppressions")?;
    check.that("a new store has no suppression", none.is_empty())?;
    let by_rule = NewSuppression {
        rule_id: Some("rs_api_session_start".into()),
        entity: Some(Entity {
            kind: EntityKind::ApiKey,
            value: "k-1".into(),
        }),
        reason: "the ticketing integration's weekly session".into(),
        added_by: "ana".into(),
        added_at_micros: 10,
        incident: Some("INC-a".into()),
    };
    let by_network = NewSuppression {
        rule_id: None,
        entity: Some(Entity {
            kind: EntityKind::SourceIp,
            value: "198.51.100.0/24".into(),
        }),
        reason: "the integration's cloud egress".into(),
        added_by: "bo".into(),
        added_at_micros: 20,
        incident: None,
    };
    let first = check.ok(store.add_suppression(&by_rule), "add_suppression")?;
    let second = check.ok(store.add_suppression(&by_network), "add_suppression")?;
    check.that("distinct ids", first.id != second.id)?;
    let listed = check.ok(store.suppressions(), "suppressions")?;
    check.eq(
        "listed oldest first",
        listed,
        vec![first.clone(), second.clone()],
    )?;
    let removal = Removal {
        by: "cy".into(),
        at_micros: 30,
    };
    let removed = check.ok(store.remove_suppression(first.id, &removal), "remove")?;
    check.that("removing one in force says so", removed)?;
    let again = check.ok(store.remove_suppression(first.id, &removal), "remove")?;
    check.that("removing it again does nothing", !again)?;
    let unknown = check.ok(store.remove_suppression(999, &removal), "remove")?;
    check.that("an unknown id does nothing", !unknown)?;
    let listed = check.ok(store.suppressions(), "suppressions")?;
    check.eq(
        "the removal is kept with who and when",
        listed.first().and_then(|s| s.removed.clone()),
        Some(removal),
    )?;
    check.eq(
        "the other is still in force",
        listed.get(1).map(|s| s.removed.is_none()),
        Some(true),
    )
}
