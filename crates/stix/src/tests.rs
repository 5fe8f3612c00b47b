//! Tests of the export: references resolve, identifiers are stable across exports and new
//! versions follow changes, redaction leaves no internal name, markings and attribution.

use std::collections::BTreeSet;

use serde_json::Value;
use tocsin_incident::{
    group, AlertKind, AlertOrigin, AttackCatalog, Entity, EntityKind, GroupingConfig, Level,
    RuleRef, Stamp,
};

use super::*;

const MINUTE: i64 = 60_000_000;
const START: i64 = 1_733_108_400_000_000;

fn alert(rule: &str, level: Level, minute: i64, entities: &[(EntityKind, &str)]) -> Alert {
    let rule = RuleRef {
        id: rule.into(),
        title: format!("Rule {rule}"),
        level,
        tags: vec!["attack.credential-access".into(), "attack.t1098".into()],
        author: None,
    };
    let entities = entities
        .iter()
        .filter_map(|(kind, value)| Entity::normalised(*kind, value))
        .collect();
    let evidence = vec![("Hashes".to_owned(), format!("SHA256={}", "ab".repeat(32)))];
    Alert::new(
        AlertKind::Sigma,
        rule,
        AlertOrigin {
            source: "logs/x.jsonl".into(),
            record: u64::try_from(minute).unwrap_or_default(),
        },
        Some(START + minute * MINUTE),
        entities,
        evidence,
    )
}

/// The stolen key's story in three alerts, grouped into one incident.
fn intrusion() -> (Incident, Vec<Alert>) {
    let alerts = vec![
        alert(
            "reset",
            Level::Critical,
            0,
            &[
                (EntityKind::ApiKey, "k-stolen"),
                (EntityKind::SourceIp, "203.0.113.9"),
                (EntityKind::Host, "DT-0381.corp.example"),
            ],
        ),
        alert(
            "session",
            Level::High,
            5,
            &[
                (EntityKind::ApiKey, "k-stolen"),
                (EntityKind::SourceIp, "10.20.30.40"),
                (EntityKind::User, "itadmin"),
            ],
        ),
    ];
    let mut incidents = group(&alerts, &GroupingConfig::default(), &AttackCatalog::empty());
    assert_eq!(incidents.len(), 1);
    (incidents.remove(0), alerts)
}

fn options() -> ExportOptions {
    let mut options = ExportOptions::new("Example Treasury SOC");
    options.victim = Some("Example Treasury".into());
    options.sigma_rules.insert(
        "reset".into(),
        "title: Rule reset\nlogsource: {product: x}\ndetection: {sel: {a: 1}, condition: sel}\n"
            .into(),
    );
    options
}

fn objects(bundle: &Value) -> &Vec<Value> {
    bundle["objects"].as_array().unwrap()
}

fn of_type<'b>(bundle: &'b Value, kind: &str) -> Vec<&'b Value> {
    objects(bundle)
        .iter()
        .filter(|o| o["type"] == kind)
        .collect()
}

/// Every `*_ref` and `*_refs` value in `value`.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key.ends_with("_ref") {
                    out.extend(inner.as_str().map(str::to_owned));
                } else if key.ends_with("_refs") {
                    out.extend(
                        inner
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|v| v.as_str().map(str::to_owned)),
                    );
                } else {
                    references(inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_ids_are_unique() {
    let (incident, alerts) = intrusion();
    let bundle = export(&incident, &alerts, &[], &options()).unwrap();
    let ids: Vec<&str> = objects(&bundle)
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "duplicate ids");
    let mut refs = Vec::new();
    references(&bundle, &mut refs);
    for reference in refs {
        assert!(
            unique.contains(reference.as_str()),
            "{reference} does not resolve"
        );
    }
    for kind in [
        "identity",
        "incident",
        "indicator",
        "observed-data",
        "sighting",
        "attack-pattern",
        "report",
        "marking-definition",
    ] {
        assert!(!of_type(&bundle, kind).is_empty(), "no {kind}");
    }
    let sigma: Vec<_> = of_type(&bundle, "indicator")
        .into_iter()
        .filter(|i| i["pattern_type"] == "sigma")
        .collect();
    assert_eq!(sigma.len(), 1, "only the rule whose text is known");
    let patterns: Vec<&str> = of_type(&bundle, "indicator")
        .iter()
        .filter_map(|i| i["pattern"].as_str())
        .collect();
    assert!(patterns.contains(&"[user-account:user_id = 'k-stolen']"));
    assert!(patterns.contains(&"[ipv4-addr:value = '203.0.113.9']"));
    let incident = &of_type(&bundle, "incident")[0];
    assert_eq!(
        incident["extensions"][INCIDENT_CORE_EXTENSION]["determination"],
        "suspected"
    );
}

#[test]
fn the_same_incident_exports_the_same_bundle_and_a_change_a_new_version() {
    let (mut incident, alerts) = intrusion();
    let first = export(&incident, &alerts, &[], &options()).unwrap();
    assert_eq!(first, export(&incident, &alerts, &[], &options()).unwrap());
    let by = Stamp {
        actor: "ana",
        at_micros: START + 90 * MINUTE,
    };
    let record = incident
        .transition(tocsin_incident::Status::Confirmed, None, by)
        .unwrap();
    let second = export(&incident, &alerts, &[record], &options()).unwrap();
    let incident_of = |bundle: &Value| of_type(bundle, "incident")[0].clone();
    let (old, new) = (incident_of(&first), incident_of(&second));
    assert_eq!(old["id"], new["id"]);
    assert_eq!(old["created"], new["created"]);
    assert!(new["modified"].as_str() > old["modified"].as_str());
    assert_eq!(new["modified"], "2024-12-02T04:30:00.000Z");
    assert_eq!(
        new["extensions"][INCIDENT_CORE_EXTENSION]["determination"],
        "successful-attempt"
    );

    let mut retracted = options();
    retracted.revoked_at_micros = Some(START + 120 * MINUTE);
    let revoked = export(&incident, &alerts, &[], &retracted).unwrap();
    assert!(of_type(&revoked, "indicator")
        .iter()
        .all(|i| i["revoked"] == true));
    assert_eq!(
        of_type(&revoked, "incident")[0]["modified"],
        "2024-12-02T05:00:00.000Z",
        "a version newer than the last export"
    );
    assert!(
        of_type(&revoked, "identity")
            .iter()
            .all(|i| i.get("revoked").is_none()),
        "the producer and victim are shared by other incidents"
    );
}

#[test]
fn redaction_leaves_no_internal_name_or_address() {
    let (incident, mut alerts) = intrusion();
    // Evidence naming internal things, an account, and an alert without a time.
    alerts[1]
        .evidence
        .push(("QueryName".into(), "fileserver.corp.example".into()));
    alerts[1]
        .evidence
        .push(("url".into(), "http://10.20.30.41/share".into()));
    alerts[1]
        .evidence
        .push(("QueryName".into(), "evil.example.net".into()));
    alerts[1]
        .entities
        .extend(Entity::normalised(EntityKind::Account, "tenant-finance"));
    let mut untimed = alerts[0].clone();
    untimed.timestamp_micros = None;
    untimed.entities = vec![Entity::normalised(EntityKind::Host, "secret-host").unwrap()];
    alerts.push(untimed);
    let mut incident = incident;
    incident.title.push_str(" and secret-host");
    let mut redacted = options();
    redacted.redaction = Redaction::internal();
    redacted.sigma_rules.insert(
        "reset".into(),
        "title: Reset on DT-0381\ndetection: {sel: {Computer: DT-0381.corp.example}, condition: sel}\n".into(),
    );
    let bundle = export(&incident, &alerts, &[], &redacted).unwrap();
    let text = bundle.to_string().to_lowercase();
    for secret in [
        "dt-0381",
        "corp.example",
        "itadmin",
        "10.20.30.4",
        "tenant-finance",
        "secret-host",
    ] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    assert!(
        text.contains("host-1"),
        "the pseudonym replaces the host in the title"
    );
    assert!(
        text.contains("203.0.113.9") && text.contains("k-stolen"),
        "indicators stay"
    );
    assert!(text.contains("evil.example.net"), "external names stay");
    let observables: Vec<&str> = objects(&bundle)
        .iter()
        .filter_map(|o| o["user_id"].as_str())
        .collect();
    assert_eq!(observables, ["k-stolen"], "no observable of a pseudonym");
    let kept = export(&incident, &alerts, &[], &options())
        .unwrap()
        .to_string()
        .to_lowercase();
    assert!(kept.contains("dt-0381.corp.example") && kept.contains("10.20.30.40"));
}

#[test]
fn markings_apply_to_the_whole_and_to_the_indicators() {
    let (incident, alerts) = intrusion();
    let mut marked = options();
    marked.tlp = Tlp::AmberStrict;
    marked.indicator_tlp = Some(Tlp::Clear);
    let bundle = export(&incident, &alerts, &[], &marked).unwrap();
    assert_eq!(of_type(&bundle, "marking-definition").len(), 2);
    for object in objects(&bundle) {
        let Some(marks) = object.get("object_marking_refs") else {
            continue;
        };
        let expected = if matches!(object["type"].as_str(), Some("indicator" | "sighting")) {
            Tlp::Clear
        } else {
            Tlp::AmberStrict
        };
        assert_eq!(marks[0], expected.marking_id(), "{}", object["type"]);
    }
}

#[test]
fn attribution_adds_the_group_and_its_edges() {
    let (incident, alerts) = intrusion();
    let mut attributed = options();
    attributed.attribution = Some(Attribution {
        name: "Silk Typhoon".into(),
        kind: AttributionKind::IntrusionSet,
        confidence: 70,
    });
    let bundle = export(&incident, &alerts, &[], &attributed).unwrap();
    let group = &of_type(&bundle, "intrusion-set")[0];
    assert_eq!(group["confidence"], 70);
    let edges: Vec<&str> = of_type(&bundle, "relationship")
        .iter()
        .filter_map(|r| r["relationship_type"].as_str())
        .collect();
    for edge in ["indicates", "uses", "targets", "related-to"] {
        assert!(edges.contains(&edge), "no {edge}");
    }
    attributed.attribution = Some(Attribution {
        name: "x".into(),
        kind: AttributionKind::ThreatActor,
        confidence: 101,
    });
    assert_eq!(
        export(&incident, &alerts, &[], &attributed),
        Err(StixError::Confidence(101))
    );
}

#[test]
fn two_views_of_one_incident_share_no_object_but_the_identities_and_markings() {
    let (incident, alerts) = intrusion();
    let full = export(&incident, &alerts, &[], &options()).unwrap();
    let mut redacted_options = options();
    redacted_options.redaction = Redaction::internal();
    let redacted = export(&incident, &alerts, &[], &redacted_options).unwrap();
    let again = export(&incident, &alerts, &[], &redacted_options).unwrap();
    assert_eq!(
        redacted, again,
        "one view exports the same objects every time"
    );
    let ids = |bundle: &Value| -> std::collections::BTreeSet<String> {
        objects(bundle)
            .iter()
            .filter(|o| !matches!(o["type"].as_str(), Some("identity" | "marking-definition")))
            .filter(|o| o.get("created_by_ref").is_some())
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (full_ids, redacted_ids) = (ids(&full), ids(&redacted));
    assert!(!full_ids.is_empty() && !redacted_ids.is_empty());
    // Observables (deterministic by their value) may be shared; produced objects never.
    let shared: Vec<_> = full_ids.intersection(&redacted_ids).collect();
    assert!(
        shared.is_empty(),
        "produced objects shared by two views: {shared:?}"
    );
}
