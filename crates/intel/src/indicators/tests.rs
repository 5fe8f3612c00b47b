//! Tests of the indicator set: versions, revocation and expiry, producers, and what is
//! compiled or skipped.

use std::path::Path;

use tocsin_event::Value;

use super::*;

const NOW: i64 = 1_780_000_000_000_000; // 2026-05-28

fn bundle() -> String {
    serde_json::json!({
        "type": "bundle",
        "id": "bundle--1",
        "objects": [
            {"type": "identity", "id": "identity--p", "name": "Partner CERT"},
            {"type": "indicator", "id": "indicator--ip", "created_by_ref": "identity--p",
             "name": "old name", "modified": "2026-01-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '192.0.2.1']", "pattern_type": "stix"},
            {"type": "indicator", "id": "indicator--ip", "created_by_ref": "identity--p",
             "name": "C2 address", "modified": "2026-02-01T00:00:00Z", "confidence": 90,
             "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"},
                                   {"kill_chain_name": "lockheed", "phase_name": "c2"}],
             "external_references": [{"source_name": "mitre-attack", "external_id": "T1071"}],
             "pattern": "[ipv4-addr:value = '192.0.2.2']", "pattern_type": "stix"},
            {"type": "indicator", "id": "indicator--revoked", "modified": "2026-01-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '192.0.2.3']", "pattern_type": "stix", "revoked": true},
            {"type": "indicator", "id": "indicator--expired", "modified": "2026-01-01T00:00:00Z",
             "valid_until": "2026-03-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '192.0.2.4']", "pattern_type": "stix"},
            {"type": "indicator", "id": "indicator--seq", "modified": "2026-01-01T00:00:00Z",
             "pattern": "[ipv4-addr:value = '192.0.2.5'] FOLLOWEDBY [ipv4-addr:value = '192.0.2.6']",
             "pattern_type": "stix"},
            {"type": "indicator", "id": "indicator--sigma", "modified": "2026-01-01T00:00:00Z",
             "name": "Sigma one", "pattern": "title: x", "pattern_type": "sigma"},
            {"type": "indicator", "id": "indicator--yara", "modified": "2026-01-01T00:00:00Z",
             "pattern": "rule x {}", "pattern_type": "yara"},
            {"type": "indicator", "modified": "2026-01-01T00:00:00Z", "pattern": "[x:y = 1]"},
            {"type": "indicator", "id": "indicator--bad", "pattern": "[x:y = ", "modified": "2026-01-01T00:00:00Z"},
        ]
    })
    .to_string()
}

fn set(text: &str) -> IndicatorSet {
    let mut builder = IndicatorSetBuilder::default();
    builder.add_text(text, Path::new("intel.json"));
    builder.build(NOW)
}

#[test]
fn latest_versions_in_force_are_compiled_and_the_rest_accounted_for() {
    let set = set(&bundle());
    let counts = set.counts();
    assert_eq!(counts.objects, 10);
    assert_eq!(counts.indicators, 7, "the nameless one is an error");
    assert_eq!((counts.revoked, counts.expired), (1, 1));
    let [indicator] = set.indicators() else {
        panic!("{:?}", set.indicators())
    };
    assert_eq!(indicator.name, "C2 address");
    assert_eq!(indicator.producer.as_deref(), Some("Partner CERT"));
    assert_eq!(indicator.confidence, Some(90));
    assert_eq!(indicator.attack_phases, ["command-and-control"]);
    assert_eq!(indicator.attack_ids, ["T1071"]);
    assert_eq!(set.sigma().len(), 1);
    assert_eq!(set.sigma()[0].indicator.pattern, "title: x");
    let reasons: Vec<_> = set
        .skipped()
        .iter()
        .map(|s| (s.id.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(reasons
        .iter()
        .any(|(id, r)| *id == "indicator--seq" && r.contains("FOLLOWEDBY")));
    assert!(reasons
        .iter()
        .any(|(id, r)| *id == "indicator--yara" && r.contains("yara")));
    assert!(reasons
        .iter()
        .any(|(id, r)| *id == "indicator--bad" && r.contains("column 8")));
    let errors: Vec<String> = set.errors().iter().map(ToString::to_string).collect();
    assert_eq!(errors, ["intel.json: object #9: no id"]);

    let mut event = Event::default();
    event.push(
        "dst",
        "",
        Value::from("192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4"),
    );
    let hits = set.matches(&event);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].value, "192.0.2.2");
}

#[test]
fn expiry_is_judged_at_the_time_given() {
    let early = {
        let mut builder = IndicatorSetBuilder::default();
        builder.add_text(&bundle(), Path::new("intel.json"));
        builder.build(1_770_000_000_000_000) // 2026-02-02
    };
    assert_eq!(early.counts().expired, 0);
    assert_eq!(early.indicators().len(), 2);
}

#[test]
fn arrays_json_lines_files_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    let one = r#"{"type":"indicator","id":"indicator--a","pattern":"[domain-name:value = 'a.example']","pattern_type":"stix","modified":"2026-01-01T00:00:00Z"}"#;
    let two = r#"[{"type":"indicator","id":"indicator--b","pattern":"[domain-name:value = 'b.example']","pattern_type":"stix","modified":"2026-01-01T00:00:00Z"}]"#;
    std::fs::write(
        dir.path().join("a.jsonl"),
        format!("{one}\n\n{two}\nnot json\n"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/b.json"), bundle()).unwrap();
    std::fs::write(dir.path().join("ignored.txt"), "x").unwrap();
    let set = IndicatorSet::load(&[dir.path().to_path_buf(), dir.path().join("missing")], NOW);
    assert_eq!(set.indicators().len(), 3);
    let mut errors: Vec<String> = set.errors().iter().map(ToString::to_string).collect();
    errors.sort_by_key(|e| !e.contains("a.jsonl"));
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].ends_with("a.jsonl: line 4: not JSON: expected ident at line 1 column 2"),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.ends_with("b.json: object #9: no id")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("missing")), "{errors:?}");
}

/// An event with one address field.
fn event_with(address: &str) -> tocsin_event::Event {
    let mut event = tocsin_event::Event::default();
    event.push("src_ip", "", Value::from(address));
    event
}

#[test]
fn another_source_cannot_revoke_or_rename_an_indicator() {
    let cisa = serde_json::json!({"type": "bundle", "id": "bundle--c", "objects": [
        {"type": "identity", "id": "identity--cisa", "name": "CISA"},
        {"type": "indicator", "id": "indicator--k", "created_by_ref": "identity--cisa",
         "modified": "2026-01-01T00:00:00Z", "pattern_type": "stix",
         "pattern": "[ipv4-addr:value = '203.0.113.66']"},
    ]})
    .to_string();
    let mallory = serde_json::json!({"type": "bundle", "id": "bundle--m", "objects": [
        {"type": "identity", "id": "identity--cisa", "name": "Not CISA"},
        {"type": "indicator", "id": "indicator--k", "created_by_ref": "identity--mallory",
         "modified": "2026-02-01T00:00:00Z", "pattern_type": "stix", "revoked": true,
         "pattern": "[ipv4-addr:value = '203.0.113.66']"},
    ]})
    .to_string();
    let mut builder = IndicatorSetBuilder::default();
    builder.add_text(&cisa, Path::new("a-cisa.json"));
    builder.add_text(&mallory, Path::new("b-other.json"));
    let set = builder.build(NOW);
    assert_eq!(set.counts().revoked, 1, "mallory's own object only");
    let [indicator] = set.indicators() else {
        panic!("{:?}", set.indicators())
    };
    assert_eq!(indicator.producer.as_deref(), Some("CISA"));
    assert_eq!(set.matches(&event_with("203.0.113.66")).len(), 1);
}

#[test]
fn an_indicator_stops_matching_when_it_expires_after_the_set_was_built() {
    let text = serde_json::json!({"type": "indicator", "id": "indicator--t",
        "modified": "2026-01-01T00:00:00Z", "valid_until": "2026-06-01T00:00:00Z",
        "pattern_type": "stix", "pattern": "[ipv4-addr:value = '198.51.100.7']"})
    .to_string();
    let set = set(&text);
    let event = event_with("198.51.100.7");
    assert_eq!(set.matches_at(&event, NOW).len(), 1, "in force when built");
    let june = 1_780_300_000_000_000; // 2026-06-01T07:46Z
    assert!(set.matches_at(&event, june).is_empty(), "expired since");
    assert!(set.matches(&event).is_empty(), "and the clock says so");
}
