//! Behaviour tests: the specification's examples and the edge cases of windows, groups,
//! conditions, chains and references.

use std::path::Path;

use tocsin_event::{Event, Value};
use tocsin_sigma::ast::{CorrelationRule, Document};

use crate::{CorrelateError, CorrelationHit, Correlator, Evidence, RuleName, Stats};

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;

/// The correlations among the documents of `text`, which must all parse.
fn parse(text: &str, path: &Path) -> Vec<CorrelationRule> {
    tocsin_sigma::parse_documents(text, path)
        .into_iter()
        .filter_map(|doc| match doc {
            Ok(Document::Correlation(c)) => Some(*c),
            Ok(_) => None,
            Err(e) => panic!("{e}"),
        })
        .collect()
}

/// The correlations of a specification example, or `None` when the corpora are absent.
fn spec_example(file: &str) -> Option<Vec<CorrelationRule>> {
    let path = tocsin_testdata::shared_path(format!("sigma/spec/examples/correlation/{file}"))?;
    let text = std::fs::read_to_string(&path).expect("readable example");
    let rules = parse(&text, &path);
    assert_eq!(rules.len(), 1, "{file}");
    Some(rules)
}

/// A reference by name (or id when it looks like a UUID).
fn rule(key: &str) -> RuleName {
    if key.len() == 36 && key.matches('-').count() == 4 {
        RuleName::new(Some(key), None)
    } else {
        RuleName::new(None, Some(key))
    }
}

fn event(fields: &[(&str, Value)]) -> Event {
    let mut event = Event::default();
    for (name, value) in fields {
        event.push(name, name, value.clone());
    }
    event
}

fn text(value: &str) -> Value {
    Value::from(value)
}

/// A correlator over `rules` with base rules named `base`, and every hit it returned.
struct Run {
    correlator: Correlator,
    hits: Vec<CorrelationHit>,
    next_handle: u64,
}

impl Run {
    fn new(rules: Vec<CorrelationRule>, base: &[&str]) -> Run {
        let base: Vec<RuleName> = base.iter().map(|k| rule(k)).collect();
        let correlator = match Correlator::new(rules, &base) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        Run {
            correlator,
            hits: Vec::new(),
            next_handle: 0,
        }
    }

    /// Observes a match; returns how many hits it produced.
    fn at(&mut self, key: &str, ts: i64, event: &Event) -> usize {
        let hits = self
            .correlator
            .observe(&rule(key), ts, event, self.next_handle);
        self.next_handle += 1;
        let count = hits.len();
        self.hits.extend(hits);
        count
    }

    fn finish(&mut self) -> usize {
        let hits = self.correlator.finish();
        let count = hits.len();
        self.hits.extend(hits);
        count
    }

    fn stats(&self) -> Stats {
        self.correlator.stats()
    }
}

/// A one-document correlation written in YAML.
fn correlation(body: &str) -> Vec<CorrelationRule> {
    parse(body, Path::new("test.yml"))
}

fn event_count(timespan: &str, condition: &str) -> Vec<CorrelationRule> {
    correlation(&format!(
        "title: Count\nid: count-id\ncorrelation:\n  type: event_count\n  rules: [hit]\n  \
         group-by: [User]\n  timespan: {timespan}\n  condition: {{{condition}}}\n"
    ))
}

fn user(name: &str) -> Event {
    event(&[("User", text(name))])
}

// ---- the specification's examples -------------------------------------------------

#[test]
fn spec_event_count_counts_per_computer() {
    let Some(rules) = spec_example("event_count.yml") else {
        return;
    };
    let id = "5638f7c0-ac70-491d-8465-2a65075e0d86";
    let mut run = Run::new(rules, &[id]);
    let host_a = event(&[("ComputerName", text("A"))]);
    let host_b = event(&[("ComputerName", text("B"))]);
    for i in 0..99 {
        assert_eq!(run.at(id, i * SECOND, &host_a), 0);
        assert_eq!(run.at(id, i * SECOND, &host_b), 0);
    }
    assert_eq!(run.at(id, 100 * SECOND, &host_a), 1);
    let hit = &run.hits[0];
    assert_eq!(hit.aggregate, 100.0);
    assert_eq!(hit.group, [("ComputerName".to_owned(), "A".to_owned())]);
    assert_eq!(hit.correlation.title, "Many failed logins");
    assert_eq!(
        hit.correlation.id.as_deref(),
        Some("0e95725d-7320-415d-80f7-004da920fc11")
    );
    assert_eq!(hit.matches.len(), 100);
    assert_eq!(hit.window_start_micros, 0);
    assert_eq!(hit.window_end_micros, 100 * SECOND);
    assert!(hit.visible);
}

#[test]
fn spec_event_count_ecs_groups_by_a_dotted_field() {
    let Some(rules) = spec_example("event_count_ecs.yml") else {
        return;
    };
    let id = "5638f7c0-ac70-491d-8465-2a65075e0d86";
    let mut run = Run::new(rules, &[id]);
    let query = event(&[("dns.question.name", text("evil.example"))]);
    for i in 0..100 {
        run.at(id, i * 30 * SECOND, &query);
    }
    // 100 queries over 49.5 minutes: within the hour.
    assert_eq!(run.hits.len(), 1);
    assert_eq!(run.hits[0].group[0].1, "evil.example");
}

#[test]
fn spec_value_count_counts_distinct_users() {
    let Some(rules) = spec_example("value_count.yml") else {
        return;
    };
    let id = "5638f7c0-ac70-491d-8465-2a65075e0d86";
    let mut run = Run::new(rules, &[id]);
    let login = |user: String| {
        event(&[
            ("ComputerName", text("DC1")),
            ("WorkstationName", text("WS7")),
            ("User", Value::from(user)),
        ])
    };
    // 150 failures but only 99 distinct users: no hit.
    for i in 0..150 {
        assert_eq!(run.at(id, i * MINUTE, &login(format!("user{}", i % 99))), 0);
    }
    assert_eq!(run.at(id, 151 * MINUTE, &login("newcomer".into())), 1);
    assert_eq!(run.hits[0].aggregate, 100.0);
    assert_eq!(run.hits[0].group.len(), 2);
}

fn recon(computer: &str) -> Event {
    event(&[("ComputerName", text(computer)), ("User", text("bob"))])
}

#[test]
fn spec_temporal_needs_every_rule_in_the_window() {
    let Some(rules) = spec_example("temporal.yml") else {
        return;
    };
    let base = ["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"];
    let mut run = Run::new(rules.clone(), &base);
    run.at("recon_cmd_c", 0, &recon("PC1"));
    run.at("recon_cmd_a", MINUTE, &recon("PC1"));
    run.at("recon_cmd_b", 2 * MINUTE, &recon("PC2"));
    assert!(run.hits.is_empty(), "b ran on another computer");
    assert_eq!(run.at("recon_cmd_b", 5 * MINUTE, &recon("PC1")), 1);
    assert_eq!(run.hits[0].aggregate, 3.0);
    assert_eq!(run.hits[0].event_handles(), [0, 1, 3]);

    let mut run = Run::new(rules, &base);
    run.at("recon_cmd_a", 0, &recon("PC1"));
    run.at("recon_cmd_b", MINUTE, &recon("PC1"));
    run.at("recon_cmd_c", 5 * MINUTE + 1, &recon("PC1"));
    assert!(run.hits.is_empty(), "a fell out of the 5 minute window");
}

#[test]
fn spec_temporal_ordered_needs_the_order() {
    let Some(rules) = spec_example("temporal_ordered.yml") else {
        return;
    };
    let base = ["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"];
    let mut run = Run::new(rules.clone(), &base);
    run.at("recon_cmd_c", 0, &recon("PC1"));
    run.at("recon_cmd_b", SECOND, &recon("PC1"));
    run.at("recon_cmd_a", 2 * SECOND, &recon("PC1"));
    assert!(run.hits.is_empty(), "reverse order");
    run.at("recon_cmd_b", 3 * SECOND, &recon("PC1"));
    assert!(run.hits.is_empty(), "a, b but no c after them");
    assert_eq!(run.at("recon_cmd_c", 4 * SECOND, &recon("PC1")), 1);
    assert_eq!(run.hits[0].aggregate, 3.0);
}

#[test]
fn spec_value_sum_adds_bytes() {
    let Some(rules) = spec_example("value_sum.yml") else {
        return;
    };
    let mut run = Run::new(rules, &["website_access"]);
    let access = |bytes: Value| {
        event(&[
            ("SourceIP", text("10.1.1.1")),
            ("User", text("eve")),
            ("bytes_sent", bytes),
        ])
    };
    assert_eq!(run.at("website_access", 0, &access(Value::Int(600_000))), 0);
    assert_eq!(
        run.at("website_access", MINUTE, &access(text("not a number"))),
        0
    );
    assert_eq!(
        run.at("website_access", 2 * MINUTE, &access(text("400000"))),
        0
    );
    assert_eq!(
        run.at("website_access", 3 * MINUTE, &access(Value::Float(1.0))),
        1
    );
    assert_eq!(run.hits[0].aggregate, 1_000_001.0);
}

#[test]
fn spec_value_avg_averages_bytes() {
    let Some(rules) = spec_example("value_avg.yml") else {
        return;
    };
    let mut run = Run::new(rules, &["rule_a_id"]);
    let traffic = |bytes: i64| {
        event(&[
            ("SourceIP", text("10.1.1.1")),
            ("User", text("eve")),
            ("BytesOut", Value::Int(bytes)),
        ])
    };
    assert_eq!(run.at("rule_a_id", 0, &traffic(100)), 0);
    assert_eq!(
        run.at("rule_a_id", MINUTE, &traffic(900)),
        0,
        "average 500 is not > 500"
    );
    assert_eq!(run.at("rule_a_id", 2 * MINUTE, &traffic(503)), 1);
    assert_eq!(run.hits[0].aggregate, 501.0);
}

#[test]
fn spec_value_percentile_reports_a_rare_process() {
    let Some(rules) = spec_example("value_percentile.yml") else {
        return;
    };
    let mut run = Run::new(rules, &["process_creation"]);
    let process = |image: &str| event(&[("ComputerName", text("PC1")), ("Image", text(image))]);
    // A rare value early on is not rare yet: one of few processes is a large share.
    assert_eq!(run.at("process_creation", 0, &process("C:\\evil.exe")), 0);
    for i in 1..=100 {
        let image = if i % 2 == 0 {
            "svchost.exe"
        } else {
            "explorer.exe"
        };
        assert_eq!(run.at("process_creation", i * SECOND, &process(image)), 0);
    }
    // 1 of 102 processes, less than 1%.
    assert_eq!(
        run.at("process_creation", 101 * SECOND, &process("C:\\other.exe")),
        1
    );
    let hit = &run.hits[0];
    assert!(
        (hit.aggregate - 100.0 / 102.0).abs() < 1e-9,
        "{}",
        hit.aggregate
    );
    assert_eq!(hit.matches.len(), 1);
    // Reported once while it stays in the window.
    assert_eq!(
        run.at("process_creation", 102 * SECOND, &process("C:\\other.exe")),
        0
    );
}

// ---- windows, suppression, time order ----------------------------------------------

#[test]
fn window_boundary_is_inclusive() {
    let mut run = Run::new(event_count("10s", "gte: 2"), &["hit"]);
    run.at("hit", 0, &user("a"));
    assert_eq!(
        run.at("hit", 10 * SECOND, &user("a")),
        1,
        "exactly one timespan apart"
    );

    let mut run = Run::new(event_count("10s", "gte: 2"), &["hit"]);
    run.at("hit", 0, &user("a"));
    assert_eq!(
        run.at("hit", 10 * SECOND + 1, &user("a")),
        0,
        "one microsecond more"
    );
}

#[test]
fn one_hit_per_burst_then_a_new_burst() {
    let mut run = Run::new(event_count("1m", "gte: 3"), &["hit"]);
    for i in 0..7 {
        run.at("hit", i * SECOND, &user("a"));
    }
    assert_eq!(run.hits.len(), 1);
    assert_eq!(run.hits[0].event_handles(), [0, 1, 2]);
    assert_eq!(run.stats().suppressed, 4);
    // The group is quiet until one timespan after the hit (2 s + 1 min).
    assert_eq!(run.at("hit", 62 * SECOND, &user("a")), 0);
    assert_eq!(run.stats().suppressed, 5);
    for i in 0..3 {
        run.at("hit", 63 * SECOND + i, &user("a"));
    }
    assert_eq!(run.hits.len(), 2, "a new burst after the quiet period");
    assert_eq!(run.hits[1].event_handles(), [8, 9, 10]);
}

#[test]
fn equal_and_slightly_out_of_order_timestamps() {
    let mut run = Run::new(event_count("10s", "gte: 3"), &["hit"]);
    run.at("hit", 5 * SECOND, &user("a"));
    run.at("hit", 5 * SECOND, &user("a"));
    assert_eq!(
        run.at("hit", 5 * SECOND, &user("a")),
        1,
        "equal timestamps all count"
    );

    let mut run = Run::new(event_count("10s", "gte: 3"), &["hit"]);
    run.at("hit", 20 * SECOND, &user("a"));
    run.at("hit", 12 * SECOND, &user("a"));
    assert_eq!(
        run.at("hit", 9 * SECOND, &user("a")),
        0,
        "more than 10 s before the newest"
    );
    assert_eq!(run.stats().late, 1);
    assert_eq!(run.at("hit", 15 * SECOND, &user("a")), 1);
    let times: Vec<i64> = run.hits[0]
        .matches
        .iter()
        .map(|m| m.timestamp_micros)
        .collect();
    assert_eq!(
        times,
        [12 * SECOND, 15 * SECOND, 20 * SECOND],
        "kept in time order"
    );
    assert_eq!(run.hits[0].window_start_micros, 12 * SECOND);
    assert_eq!(run.hits[0].window_end_micros, 20 * SECOND);
}

#[test]
fn temporal_ordered_with_out_of_order_input_uses_timestamps() {
    let rules = correlation(
        "title: Seq\ncorrelation:\n  type: temporal_ordered\n  rules: [first, second]\n  \
         group-by: [User]\n  timespan: 1m\n",
    );
    let mut run = Run::new(rules.clone(), &["first", "second"]);
    run.at("second", 10 * SECOND, &user("a"));
    assert_eq!(
        run.at("first", 5 * SECOND, &user("a")),
        1,
        "first happened before second"
    );

    let mut run = Run::new(rules.clone(), &["first", "second"]);
    run.at("second", 10 * SECOND, &user("a"));
    assert_eq!(
        run.at("first", 10 * SECOND, &user("a")),
        1,
        "simultaneous counts as in order"
    );

    let mut run = Run::new(rules, &["first", "second"]);
    run.at("second", 5 * SECOND, &user("a"));
    assert_eq!(
        run.at("first", 10 * SECOND, &user("a")),
        0,
        "ordering violation"
    );
    assert_eq!(run.at("second", 11 * SECOND, &user("a")), 1);
}

#[test]
fn missing_group_by_field_is_left_out() {
    let mut run = Run::new(event_count("1m", "gte: 2"), &["hit"]);
    let nobody = event(&[("Computer", text("PC1"))]);
    let null_user = event(&[("User", Value::Null)]);
    for i in 0..5 {
        run.at("hit", i * SECOND, &nobody);
        run.at("hit", i * SECOND, &null_user);
    }
    assert!(run.hits.is_empty());
    assert_eq!(run.stats().missing_group_field, 10);
    run.at("hit", 6 * SECOND, &user(""));
    assert_eq!(
        run.at("hit", 7 * SECOND, &user("")),
        1,
        "an empty text is a value"
    );
}

#[test]
fn numbers_and_text_group_together() {
    let mut run = Run::new(event_count("1m", "gte: 2"), &["hit"]);
    run.at("hit", 0, &event(&[("User", Value::Int(1000))]));
    assert_eq!(run.at("hit", SECOND, &user("1000")), 1);
}

#[test]
fn no_group_by_is_one_group() {
    let rules = correlation(
        "title: All\ncorrelation:\n  type: event_count\n  rules: [hit]\n  timespan: 1m\n  condition: {gte: 2}\n",
    );
    let mut run = Run::new(rules, &["hit"]);
    run.at("hit", 0, &user("a"));
    assert_eq!(run.at("hit", SECOND, &event(&[])), 1);
    assert!(run.hits[0].group.is_empty());
}

#[test]
fn memory_is_bounded_by_the_window() {
    let mut run = Run::new(event_count("10s", "gte: 1000"), &["hit"]);
    for i in 0..1_000 {
        run.at("hit", i * SECOND, &user(&format!("user{i}")));
    }
    assert!(run.hits.is_empty());
    let held = run.correlator.held_groups();
    assert!(
        held <= 21,
        "{held} groups held for a 10 s window at one per second"
    );
}

// ---- conditions -----------------------------------------------------------------------

#[test]
fn range_is_decided_when_the_window_closes() {
    let mut run = Run::new(event_count("10s", "gt: 2, lte: 4"), &["hit"]);
    for i in 0..3 {
        run.at("hit", i * SECOND, &user("three"));
    }
    for i in 0..5 {
        run.at("hit", i * SECOND, &user("five"));
    }
    assert!(run.hits.is_empty(), "undecided while the window is open");
    // Exactly at the end of the windows: still open.
    run.at("hit", 10 * SECOND, &user("other"));
    assert!(run.hits.is_empty());
    assert_eq!(run.at("hit", 10 * SECOND + 1, &user("other")), 1);
    let hit = &run.hits[0];
    assert_eq!(hit.group[0].1, "three");
    assert_eq!(hit.aggregate, 3.0);
    assert_eq!(hit.window_start_micros, 0);
    assert_eq!(hit.window_end_micros, 10 * SECOND);
    // "other" had 2 matches in its window: not in the range either.
    assert_eq!(run.finish(), 0);
}

#[test]
fn fewer_than_is_reported_at_the_end_of_input() {
    let mut run = Run::new(event_count("1h", "lt: 3"), &["hit"]);
    run.at("hit", 0, &user("quiet"));
    run.at("hit", SECOND, &user("busy"));
    run.at("hit", 2 * SECOND, &user("busy"));
    run.at("hit", 3 * SECOND, &user("busy"));
    assert!(run.hits.is_empty());
    assert_eq!(run.finish(), 1);
    assert_eq!(run.hits[0].group[0].1, "quiet");
    assert_eq!(run.hits[0].aggregate, 1.0);
}

#[test]
fn flush_closes_windows_without_new_matches() {
    let mut run = Run::new(event_count("1m", "lte: 1"), &["hit"]);
    run.at("hit", 0, &user("a"));
    assert!(
        run.correlator.flush(MINUTE).is_empty(),
        "the window ends at 1 min"
    );
    let hits = run.correlator.flush(MINUTE + 1);
    assert_eq!(hits.len(), 1);
    assert!(run.correlator.finish().is_empty(), "already reported");
}

#[test]
fn a_slightly_late_match_joins_the_open_window() {
    let mut run = Run::new(event_count("10s", "lte: 2"), &["hit"]);
    run.at("hit", 5 * SECOND, &user("a"));
    run.at("hit", 3 * SECOND, &user("a"));
    assert_eq!(run.finish(), 1);
    let hit = &run.hits[0];
    let times: Vec<i64> = hit.matches.iter().map(|m| m.timestamp_micros).collect();
    assert_eq!(times, [3 * SECOND, 5 * SECOND]);
    assert_eq!(hit.window_start_micros, 5 * SECOND);
    assert_eq!(hit.window_end_micros, 15 * SECOND);
}

#[test]
fn neq_excludes_one_count() {
    let mut run = Run::new(event_count("10s", "neq: 2"), &["hit"]);
    run.at("hit", 0, &user("one"));
    run.at("hit", 0, &user("two"));
    run.at("hit", SECOND, &user("two"));
    for i in 0..3 {
        run.at("hit", i * SECOND, &user("three"));
    }
    run.finish();
    let mut groups: Vec<&str> = run.hits.iter().map(|h| h.group[0].1.as_str()).collect();
    groups.sort_unstable();
    assert_eq!(groups, ["one", "three"]);
}

#[test]
fn value_percentile_with_a_percentile_uses_nearest_rank() {
    let rules = correlation(
        "title: Slow\ncorrelation:\n  type: value_percentile\n  rules: [request]\n  group-by: [Host]\n  \
         timespan: 1h\n  condition:\n    field: Duration\n    percentile: 50\n    gt: 100\n",
    );
    let mut run = Run::new(rules, &["request"]);
    let request = |ms: i64| event(&[("Host", text("web")), ("Duration", Value::Int(ms))]);
    // Medians (nearest rank): [10] -> 10, [10, 500] -> 10, [10, 500, 700] -> 500.
    assert_eq!(run.at("request", 0, &request(10)), 0);
    assert_eq!(run.at("request", SECOND, &request(500)), 0);
    assert_eq!(run.at("request", 2 * SECOND, &request(700)), 1);
    assert_eq!(run.hits[0].aggregate, 500.0);
}

#[test]
fn temporal_with_an_explicit_condition() {
    let rules = correlation(
        "title: Two of three\ncorrelation:\n  type: temporal\n  rules: [a, b, c]\n  group-by: [User]\n  \
         timespan: 1m\n  condition: {gte: 2}\n",
    );
    let mut run = Run::new(rules, &["a", "b", "c"]);
    run.at("a", 0, &user("x"));
    run.at("a", SECOND, &user("x"));
    assert!(run.hits.is_empty(), "the same rule twice is one rule");
    assert_eq!(run.at("c", 2 * SECOND, &user("x")), 1);
}

// ---- aliases and chains ---------------------------------------------------------------------

#[test]
fn aliases_read_a_different_field_per_rule() {
    let rules = correlation(
        "title: Alias\ncorrelation:\n  type: temporal\n  rules:\n    - internal_error\n    - new_network_connection\n  \
         group-by:\n    - internal_ip\n    - remote_ip\n  timespan: 10s\n  aliases:\n    internal_ip:\n      \
         internal_error: destination.ip\n      new_network_connection: source.ip\n    remote_ip:\n      \
         internal_error: source.ip\n      new_network_connection: destination.ip\n",
    );
    let base = ["internal_error", "new_network_connection"];
    let error = event(&[
        ("destination.ip", text("10.0.0.5")),
        ("source.ip", text("203.0.113.9")),
    ]);
    let connection = event(&[
        ("source.ip", text("10.0.0.5")),
        ("destination.ip", text("203.0.113.9")),
    ]);
    let mut run = Run::new(rules.clone(), &base);
    run.at("internal_error", 0, &error);
    assert_eq!(run.at("new_network_connection", 5 * SECOND, &connection), 1);
    assert_eq!(
        run.hits[0].group,
        [
            ("internal_ip".to_owned(), "10.0.0.5".to_owned()),
            ("remote_ip".to_owned(), "203.0.113.9".to_owned())
        ]
    );

    // The same addresses in the same fields do not line up.
    let mut run = Run::new(rules, &base);
    run.at("internal_error", 0, &error);
    assert_eq!(run.at("new_network_connection", 5 * SECOND, &error), 0);
}

const BRUTE_FORCE: &str = "\
title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
";

#[test]
fn correlation_of_a_correlation() {
    let rules = parse(BRUTE_FORCE, Path::new("brute.yml"));
    let base = [
        RuleName::new(
            Some("53ba33fd-3a50-4468-a5ef-c583635cfa92"),
            Some("failed_login"),
        ),
        RuleName::new(
            Some("4d0a2c83-c62c-4ed4-b475-c7e23a9269b8"),
            Some("successful_login"),
        ),
    ];
    let mut correlator = Correlator::new(rules, &base).expect("valid chain");
    assert!(
        !correlator.shows_alone(&base[0]),
        "generate defaults to false"
    );
    assert!(!correlator.shows_alone(&base[1]));
    assert!(!correlator.shows_alone(&rule("multiple_failed_login")));
    assert!(correlator.shows_alone(&rule("b180ead8-d58f-40b2-ae54-c8940995b9b6")));
    assert!(correlator.references(&base[0]));
    assert!(!correlator.references(&rule("unrelated")));

    let alice = user("alice");
    let mut hits = Vec::new();
    // The success before the failures does not count.
    hits.extend(correlator.observe(&base[1], 0, &alice, 100));
    for i in 0..10 {
        hits.extend(correlator.observe(&base[0], (i + 1) * SECOND, &alice, i as u64));
    }
    assert_eq!(
        hits.len(),
        1,
        "the failures alone raise the inner correlation"
    );
    assert!(!hits[0].visible);
    hits.extend(correlator.observe(&base[1], 5 * MINUTE, &alice, 200));
    assert_eq!(hits.len(), 2);
    let outer = &hits[1];
    assert!(outer.visible);
    assert_eq!(
        outer.correlation.level,
        Some(tocsin_sigma::ast::Level::High)
    );
    assert_eq!(outer.group, [("User".to_owned(), "alice".to_owned())]);
    assert_eq!(outer.aggregate, 2.0);
    // Every match in the window is listed, the early success too (it did not count).
    assert_eq!(outer.matches.len(), 3);
    assert_eq!(
        outer.matches[0].rule, base[1],
        "matched by id, reported with both keys"
    );
    assert!(
        matches!(&outer.matches[1].evidence, Evidence::Correlation(inner) if inner.aggregate == 10.0)
    );
    assert_eq!(
        outer.matches[1].rule.name.as_deref(),
        Some("multiple_failed_login")
    );
    assert_eq!(
        outer.matches[1].timestamp_micros,
        10 * SECOND,
        "at the inner window's end"
    );
    assert_eq!(outer.window_start_micros, 0);
    assert_eq!(outer.window_end_micros, 5 * MINUTE);
    let mut expected: Vec<u64> = vec![100];
    expected.extend(0..10);
    expected.push(200);
    assert_eq!(outer.event_handles(), expected);
}

#[test]
fn a_closed_window_feeds_its_parent_at_its_own_time() {
    let text = "title: Lone\nname: lone\ncorrelation:\n  type: event_count\n  rules: [hit]\n  group-by: [User]\n  \
                timespan: 1m\n  condition: {lte: 1}\n---\ntitle: Parent\ncorrelation:\n  type: event_count\n  \
                rules: [lone]\n  group-by: [User]\n  timespan: 10s\n  condition: {gte: 1}\n";
    let mut run = Run::new(parse(text, Path::new("chain.yml")), &["hit"]);
    run.at("hit", 0, &user("a"));
    // Two hours later: the child's window [0, 1 min] closes, and its hit (at 1 min) is not
    // too late for the parent's 10 s window.
    assert_eq!(run.at("hit", 2 * 60 * MINUTE, &user("b")), 2);
    assert_eq!(run.hits[0].correlation.title, "Lone");
    assert_eq!(run.hits[1].correlation.title, "Parent");
    assert_eq!(run.hits[1].window_end_micros, MINUTE);
    assert_eq!(run.hits[1].event_handles(), [0]);
    assert_eq!(run.stats().late, 0);
    // At the end of input, b's window closes too and feeds the parent.
    assert_eq!(run.finish(), 2);
    assert_eq!(run.hits[3].group[0].1, "b");
}

#[test]
fn generate_true_shows_the_referenced_rules() {
    let rules = correlation(
        "title: G\ngenerate: true\ncorrelation:\n  type: event_count\n  rules: [hit]\n  timespan: 1m\n  condition: {gte: 2}\n",
    );
    let correlator = Correlator::new(rules, &[rule("hit")]).expect("valid");
    assert!(correlator.shows_alone(&rule("hit")));
    assert!(correlator.shows_alone(&rule("never-referenced")));
}

// ---- construction errors ---------------------------------------------------------------------

fn errors(text: &str, base: &[&str]) -> (Built, Vec<String>) {
    let base: Vec<RuleName> = base.iter().map(|k| rule(k)).collect();
    let built = Correlator::build(parse(text, Path::new("bad.yml")), &base);
    let messages = built.errors.iter().map(ToString::to_string).collect();
    (built, messages)
}

use crate::Built;

#[test]
fn unknown_reference_is_an_error_and_the_rest_works() {
    let text = "title: Broken\ncorrelation:\n  type: event_count\n  rules: [nowhere]\n  timespan: 1m\n  \
                condition: {gte: 1}\n---\ntitle: Fine\ncorrelation:\n  type: event_count\n  rules: [hit]\n  \
                timespan: 1m\n  condition: {gte: 1}\n";
    let (mut built, messages) = errors(text, &["hit"]);
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0],
        "bad.yml:1: correlation 'Broken' references 'nowhere', which is the id or name of no known rule or correlation"
    );
    let hits = built.correlator.observe(&rule("hit"), 0, &user("a"), 0);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].correlation.title, "Fine");
    assert_eq!(hits[0].correlation.index, 1);

    let strict = Correlator::new(parse(text, Path::new("bad.yml")), &[rule("hit")]);
    assert!(matches!(
        strict,
        Err(CorrelateError::UnknownReference { .. })
    ));
}

#[test]
fn cycles_are_errors() {
    let text = "title: A\nname: a\ncorrelation:\n  type: event_count\n  rules: [b]\n  timespan: 1m\n  \
                condition: {gte: 1}\n---\ntitle: B\nname: b\ncorrelation:\n  type: event_count\n  rules: [a, hit]\n  \
                timespan: 1m\n  condition: {gte: 1}\n---\ntitle: Self\nname: self\ncorrelation:\n  type: event_count\n  \
                rules: [self]\n  timespan: 1m\n  condition: {gte: 1}\n---\ntitle: Above\ncorrelation:\n  type: temporal\n  \
                rules: [a, hit]\n  timespan: 1m\n";
    let (built, messages) = errors(text, &["hit"]);
    assert_eq!(messages.len(), 4, "{messages:?}");
    assert!(
        messages[0].contains("'A' is part of a reference cycle: A -> B -> A"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("'B' is part of a reference cycle"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].contains("'Self' is part of a reference cycle: Self -> Self"),
        "{}",
        messages[2]
    );
    assert!(
        messages[3].contains("'Above' references correlation 'a', which is invalid"),
        "{}",
        messages[3]
    );
    assert!(
        !built.correlator.references(&rule("hit")),
        "nothing valid is left"
    );
}

#[test]
fn ambiguous_references_and_stray_aliases_are_errors() {
    let text =
        "title: Twice\ncorrelation:\n  type: event_count\n  rules: [dup]\n  timespan: 1m\n  \
                condition: {gte: 1}\n";
    let base = [
        RuleName::new(Some("dup"), None),
        RuleName::new(None, Some("dup")),
    ];
    let built = Correlator::build(parse(text, Path::new("bad.yml")), &base);
    assert!(matches!(
        &built.errors[..],
        [CorrelateError::AmbiguousReference { count: 2, .. }]
    ));

    let text = "title: Stray\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [ip]\n  timespan: 1m\n  \
                aliases:\n    ip:\n      a: source.ip\n      c: destination.ip\n";
    let (_, messages) = errors(text, &["a", "b", "c"]);
    assert_eq!(
        messages,
        ["bad.yml:1: correlation 'Stray': alias 'ip' maps a field for 'c', which is not in the correlation's rules"]
    );
}

#[test]
fn unreferenced_matches_are_ignored() {
    let mut run = Run::new(event_count("1m", "gte: 1"), &["hit", "other"]);
    assert_eq!(run.at("other", 0, &user("a")), 0);
    assert_eq!(run.at("unknown", 0, &user("a")), 0);
    assert_eq!(run.stats(), Stats::default());
}
