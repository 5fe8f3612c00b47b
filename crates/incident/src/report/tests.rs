//! Tests of incident reports: escaping in HTML and Markdown, JSON round trips, format names
//! and the ATT&CK catalogue.

use super::*;
use crate::alert::{AlertKind, AlertOrigin, Level, RuleRef};
use crate::attack::AttackCatalog;
use crate::entities::{Entity, EntityKind};
use crate::grouping::{group, GroupingConfig};
use crate::lifecycle::{Resolution, Stamp, Status};

const HOSTILE: &str = "<script>alert('x')</script> | **bold** & \"q\"";

fn hostile_alert() -> Alert {
    let rule = RuleRef {
        id: "r-1".into(),
        title: "Web shell <img src=x onerror=alert(1)>".into(),
        level: Level::High,
        tags: vec![
            "attack.persistence".into(),
            "attack.t1505.003".into(),
            "attack.stealth".into(),
        ],
        author: Some("Jane Doe".into()),
    };
    let origin = AlertOrigin {
        source: "logs/web.json".into(),
        record: 12,
    };
    let entities = vec![Entity {
        kind: EntityKind::Host,
        value: "web-01".into(),
    }];
    let evidence = vec![("CommandLine".into(), HOSTILE.into())];
    Alert::new(
        AlertKind::Sigma,
        rule,
        origin,
        Some(1_714_557_600_000_000),
        entities,
        evidence,
    )
    .with_explanation("first time this <b>parent</b> spawned a shell")
}

fn incident_with_history(alert: &Alert) -> (Incident, Vec<AuditRecord>) {
    let mut incident = group(
        std::slice::from_ref(alert),
        &GroupingConfig::default(),
        &AttackCatalog::empty(),
    )
    .remove(0);
    let by = Stamp {
        actor: "ana",
        at_micros: 1_714_560_000_000_000,
    };
    let audit = vec![
        incident.transition(Status::Confirmed, None, by).unwrap(),
        incident
            .record_action("host <web-01> isolated", by)
            .unwrap(),
        incident
            .transition(Status::Closed, Some(Resolution::TruePositive), by)
            .unwrap(),
    ];
    (incident, audit)
}

#[test]
fn html_escapes_everything_from_events_and_loads_nothing() {
    let alert = hostile_alert();
    let (incident, audit) = incident_with_history(&alert);
    let html = render(&incident, &[alert], &audit, Format::Html);
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"));
    assert!(!html.contains("<b>"));
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("host &lt;web-01&gt; isolated"));
    for external in ["http://", "https://", "src=\"", "href=", "@import", "url("] {
        assert!(!html.contains(external), "{external} in report");
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn markdown_has_every_section_and_escapes_markup() {
    let alert = hostile_alert();
    let (incident, audit) = incident_with_history(&alert);
    let md = render(&incident, &[alert], &audit, Format::Markdown);
    for section in [
        "## Summary",
        "## Entities",
        "## MITRE ATT&CK",
        "## Timeline",
        "## Detections and evidence",
        "## Actions taken",
        "## Audit trail",
        "## Attribution",
    ] {
        assert!(md.contains(section), "missing {section} in\n{md}");
    }
    assert!(!md.contains("<script>"));
    assert!(md.contains("\\| \\*\\*bold\\*\\*"));
    assert!(md.contains("status confirmed -&gt; closed (true-positive)"));
    assert!(
        md.contains("**Why it opened**: opened by a high alert: Web shell &lt;img"),
        "{md}"
    );
    assert!(md.contains("Jane Doe"));
    assert!(
        md.contains("| (tactic not known) | T1505.003 | 1 |"),
        "{md}"
    );
    assert!(md.contains("stealth"));
}

#[test]
fn json_round_trips_the_incident_alerts_and_audit() {
    let alert = hostile_alert();
    let (incident, audit) = incident_with_history(&alert);
    let other = Alert {
        key: "not-a-member".into(),
        ..alert.clone()
    };
    let json = render(&incident, &[other, alert.clone()], &audit, Format::Json);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let back: Incident = serde_json::from_value(value["incident"].clone()).unwrap();
    assert_eq!(back, incident);
    let alerts: Vec<Alert> = serde_json::from_value(value["alerts"].clone()).unwrap();
    assert_eq!(alerts, [alert]);
    assert_eq!(value["audit"].as_array().map(Vec::len), Some(3));
}

#[test]
fn formats_parse() {
    assert_eq!("md".parse::<Format>(), Ok(Format::Markdown));
    assert_eq!("HTML".parse::<Format>(), Ok(Format::Html));
    assert!("pdf".parse::<Format>().is_err());
}

#[test]
fn real_catalogue_names_tactics_and_techniques_and_credits_mitre() {
    let Some(dir) = tocsin_testdata::shared_path("attack/mitre-cti/enterprise-attack") else {
        return;
    };
    let catalog = AttackCatalog::load(&dir).unwrap();
    let alert = hostile_alert();
    let incident = group(
        std::slice::from_ref(&alert),
        &GroupingConfig::default(),
        &catalog,
    )
    .remove(0);
    let md = render(&incident, &[alert], &[], Format::Markdown);
    assert!(
        md.contains(
            "| TA0003 | Persistence | T1505.003 Server Software Component: Web Shell | 1 |"
        ),
        "{md}"
    );
    assert!(md.contains("| - | stealth |  | 1 |"), "{md}");
    assert!(md.contains("The MITRE Corporation"));
    assert!(md.contains("No changes recorded."));
}
