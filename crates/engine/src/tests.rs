//! Behaviour of whole rules, written from the specification's wording: one small rule and
//! a hand-made event per case, positive and negative. Each case is run through both the
//! indexed evaluator and the reference evaluator, which must agree.

use tocsin_event::{Event, Value};
use tocsin_sigma::ast::Document;

use crate::{BuildReport, Engine, EngineBuilder, Placeholders, Scratch};

/// Builds an engine from one rule whose logsource is `product: test` (so it applies to the
/// events of [`event`], which carry that tag) and the given `detection:` body.
fn engine_with(detection: &str, placeholders: Placeholders) -> (Engine, BuildReport) {
    let yaml = format!(
        "title: test\nid: 00000000-0000-0000-0000-000000000001\nlogsource:\n  product: test\ndetection:\n{}\n",
        indent(detection)
    );
    let docs: Vec<Document> = tocsin_sigma::parse_documents(&yaml, "test.yml".as_ref())
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("rule must parse: {e}\n{yaml}"));
    EngineBuilder::new().placeholders(placeholders).build(&docs)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

/// An event with these fields, tagged `product: test` as a decoder would tag it, so that
/// the rules of [`engine_with`] meet it.
fn event(fields: &[(&str, Value)]) -> Event {
    let mut e = Event {
        logsource: Some(std::sync::Arc::new(tocsin_event::LogSource {
            product: Some("test".into()),
            ..tocsin_event::LogSource::default()
        })),
        ..Event::default()
    };
    for (name, value) in fields {
        e.push(name, name, value.clone());
    }
    e
}

/// Whether the rule matches the event; panics if the two evaluators disagree.
fn matches(detection: &str, fields: &[(&str, Value)]) -> bool {
    matches_with(detection, fields, Placeholders::new())
}

fn matches_with(detection: &str, fields: &[(&str, Value)], placeholders: Placeholders) -> bool {
    let (engine, report) = engine_with(detection, placeholders);
    assert!(
        report.errors.is_empty(),
        "compile errors: {:?}",
        report.errors
    );
    assert_eq!(engine.len(), 1);
    let e = event(fields);
    let fast = !engine.evaluate(&e, &mut Scratch::default()).is_empty();
    let reference = !engine.evaluate_reference(&e).is_empty();
    assert_eq!(fast, reference, "evaluators disagree on {detection}");
    fast
}

fn compile_error(detection: &str) -> String {
    let (_, report) = engine_with(detection, Placeholders::new());
    report
        .errors
        .iter()
        .chain(&report.needs_placeholders)
        .next()
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

fn s(v: &str) -> Value {
    Value::from(v)
}

// --- detection structure -------------------------------------------------------------

#[test]
fn map_items_are_and() {
    let rule = "sel:\n  A: x\n  B: y\ncondition: sel";
    assert!(matches(rule, &[("A", s("x")), ("B", s("y"))]));
    assert!(!matches(rule, &[("A", s("x")), ("B", s("z"))]));
    assert!(!matches(rule, &[("A", s("x"))]));
}

#[test]
fn value_lists_are_or() {
    let rule = "sel:\n  EventID:\n    - 517\n    - 1102\ncondition: sel";
    assert!(matches(rule, &[("EventID", Value::Int(1102))]));
    assert!(!matches(rule, &[("EventID", Value::Int(4624))]));
}

#[test]
fn lists_of_maps_are_or() {
    let rule = "sel:\n  - Image|endswith: '\\example.exe'\n  - Description|contains: 'Test executable'\ncondition: sel";
    assert!(matches(rule, &[("Image", s("C:\\example.exe"))]));
    assert!(matches(rule, &[("Description", s("a Test executable!"))]));
    assert!(!matches(
        rule,
        &[("Image", s("C:\\other.exe")), ("Description", s("x"))]
    ));
}

#[test]
fn keywords_search_every_value() {
    let rule = "keywords:\n  - 'event::clear'\n  - 'event::drop'\ncondition: keywords";
    assert!(matches(rule, &[("Msg", s("mimikatz # EVENT::CLEAR"))]));
    assert!(!matches(rule, &[("Msg", s("event::list"))]));
}

#[test]
fn keywords_with_all_need_every_keyword() {
    let rule = "keywords:\n  '|all':\n    - 'OabVirtualDirectory'\n    - ' -ExternalUrl '\ncondition: keywords";
    assert!(matches(
        rule,
        &[("Msg", s("Set-OabVirtualDirectory -ExternalUrl http://x"))]
    ));
    assert!(!matches(rule, &[("Msg", s("Set-OabVirtualDirectory"))]));
}

#[test]
fn values_are_case_insensitive_and_exact_by_default() {
    let rule = "sel:\n  Image: 'C:\\Windows\\cmd.exe'\ncondition: sel";
    assert!(matches(rule, &[("Image", s("c:\\windows\\CMD.EXE"))]));
    assert!(!matches(rule, &[("Image", s("c:\\windows\\cmd.exe2"))]));
}

#[test]
fn wildcards_and_escapes() {
    let star = "sel:\n  F: 'antivirus_V*.exe'\ncondition: sel";
    assert!(matches(star, &[("F", s("antivirus_V21.2.1.exe"))]));
    assert!(!matches(star, &[("F", s("antivirus_X.exe"))]));
    let one = "sel:\n  F: 'prog?.exe'\ncondition: sel";
    assert!(matches(one, &[("F", s("progA.exe"))]));
    assert!(!matches(one, &[("F", s("prog.exe"))]));
    let escaped = "sel:\n  F: 'what\\?'\ncondition: sel";
    assert!(matches(escaped, &[("F", s("what?"))]));
    assert!(!matches(escaped, &[("F", s("whatx"))]));
}

#[test]
fn null_means_absent_or_null_and_empty_is_not_null() {
    let rule = "sel:\n  A: x\nfilter:\n  B: null\ncondition: sel and not filter";
    assert!(matches(rule, &[("A", s("x")), ("B", s("set"))]));
    assert!(!matches(rule, &[("A", s("x"))]));
    assert!(!matches(rule, &[("A", s("x")), ("B", Value::Null)]));
    let empty = "sel:\n  B: ''\ncondition: sel";
    assert!(matches(empty, &[("B", s(""))]));
    assert!(!matches(empty, &[("B", Value::Null)]));
    assert!(!matches(empty, &[]));
}

#[test]
fn numbers_and_booleans() {
    let n = "sel:\n  LogonType: 3\ncondition: sel";
    assert!(matches(n, &[("LogonType", Value::Int(3))]));
    assert!(matches(n, &[("LogonType", s("3"))]));
    assert!(!matches(n, &[("LogonType", s("10"))]));
    let b = "sel:\n  Signed: false\ncondition: sel";
    assert!(matches(b, &[("Signed", s("false"))]));
    assert!(matches(b, &[("Signed", Value::Bool(false))]));
    assert!(!matches(b, &[("Signed", s("true"))]));
}

// --- condition -----------------------------------------------------------------------

const THREE: &str = "a:\n  A: 1\nb:\n  B: 1\nc:\n  C: 1\n";

fn abc(a: bool, b: bool, c: bool) -> Vec<(&'static str, Value)> {
    let mut v = Vec::new();
    for (name, on) in [("A", a), ("B", b), ("C", c)] {
        v.push((name, Value::Int(i64::from(on))));
    }
    v
}

#[test]
fn and_or_not_and_precedence() {
    let rule = format!("{THREE}condition: a or b and not c");
    // or binds least: a or (b and (not c))
    assert!(matches(&rule, &abc(true, false, true)));
    assert!(matches(&rule, &abc(false, true, false)));
    assert!(!matches(&rule, &abc(false, true, true)));
    assert!(!matches(&rule, &abc(false, false, false)));
}

#[test]
fn parentheses_override_precedence() {
    let rule = format!("{THREE}condition: (a or b) and not c");
    assert!(!matches(&rule, &abc(true, false, true)));
    assert!(matches(&rule, &abc(true, false, false)));
}

#[test]
fn one_of_and_all_of_patterns() {
    let rule = "selection_a:\n  A: 1\nselection_b:\n  B: 1\nfilter:\n  C: 1\ncondition: 1 of selection_* and not filter";
    assert!(matches(rule, &abc(false, true, false)));
    assert!(!matches(rule, &abc(false, true, true)));
    let all = "selection_a:\n  A: 1\nselection_b:\n  B: 1\ncondition: all of selection_*";
    assert!(matches(all, &abc(true, true, false)));
    assert!(!matches(all, &abc(true, false, false)));
}

#[test]
fn them_excludes_underscore_identifiers() {
    let one = "a:\n  A: 1\n_b:\n  B: 1\ncondition: 1 of them";
    assert!(matches(one, &abc(true, false, false)));
    assert!(!matches(one, &abc(false, true, false)));
    let all = "a:\n  A: 1\nb:\n  B: 1\n_c:\n  C: 1\ncondition: all of them";
    assert!(matches(all, &abc(true, true, false)));
    assert!(!matches(all, &abc(true, false, true)));
}

#[test]
fn a_list_of_conditions_is_or() {
    let rule = format!("{THREE}condition:\n  - a and b\n  - c");
    assert!(matches(&rule, &abc(false, false, true)));
    assert!(matches(&rule, &abc(true, true, false)));
    assert!(!matches(&rule, &abc(true, false, false)));
}

// --- modifiers -----------------------------------------------------------------------

#[test]
fn contains_startswith_endswith() {
    let c = "sel:\n  CommandLine|contains: 'mimikatz'\ncondition: sel";
    assert!(matches(c, &[("CommandLine", s("run MimiKatz.exe"))]));
    assert!(!matches(c, &[("CommandLine", s("mimi"))]));
    let st = "sel:\n  User|startswith: 'adm_'\ncondition: sel";
    assert!(matches(st, &[("User", s("ADM_bob"))]));
    assert!(!matches(st, &[("User", s("bob_adm_"))]));
    let e = "sel:\n  Image|endswith: '\\cmd.exe'\ncondition: sel";
    assert!(matches(e, &[("Image", s("C:\\x\\CMD.exe"))]));
    assert!(!matches(e, &[("Image", s("C:\\x\\cmd.exe.bak"))]));
}

#[test]
fn all_links_values_with_and() {
    let rule = "sel:\n  CommandLine|contains|all:\n    - ' -a '\n    - ' -b '\ncondition: sel";
    assert!(matches(rule, &[("CommandLine", s("x -b  -a y"))]));
    assert!(!matches(rule, &[("CommandLine", s("x -a y"))]));
}

#[test]
fn exists_checks_presence_only() {
    let yes = "sel:\n  PasswordLastSet|exists: true\ncondition: sel";
    assert!(matches(yes, &[("PasswordLastSet", Value::Null)]));
    assert!(matches(yes, &[("PasswordLastSet", s(""))]));
    assert!(!matches(yes, &[("Other", s("x"))]));
    let no = "sel:\n  PasswordLastSet|exists: false\ncondition: sel";
    assert!(matches(no, &[("Other", s("x"))]));
    assert!(!matches(no, &[("PasswordLastSet", s("x"))]));
}

#[test]
fn cased_makes_matching_case_sensitive() {
    let rule = "sel:\n  F|cased: 'AbC'\ncondition: sel";
    assert!(matches(rule, &[("F", s("AbC"))]));
    assert!(!matches(rule, &[("F", s("abc"))]));
    let with_contains = "sel:\n  F|contains|cased: 'AbC'\ncondition: sel";
    assert!(matches(with_contains, &[("F", s("xxAbCxx"))]));
    assert!(!matches(with_contains, &[("F", s("xxABCxx"))]));
}

#[test]
fn neq_is_different_from_every_value() {
    let rule = "sel:\n  A: x\n  User|neq:\n    - root\n    - admin\ncondition: sel";
    assert!(matches(rule, &[("A", s("x")), ("User", s("bob"))]));
    assert!(!matches(rule, &[("A", s("x")), ("User", s("ROOT"))]));
    assert!(!matches(rule, &[("A", s("x")), ("User", s("admin"))]));
}

#[test]
fn windash_accepts_every_dash() {
    let rule = "sel:\n  CommandLine|windash|contains: ' -exec bypass'\ncondition: sel";
    for dash in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
        let cmd = format!("powershell {dash}exec bypass");
        assert!(matches(rule, &[("CommandLine", s(&cmd))]), "{cmd}");
    }
    assert!(!matches(
        rule,
        &[("CommandLine", s("powershell +exec bypass"))]
    ));
}

#[test]
fn re_is_case_sensitive_and_takes_flags() {
    let re = "sel:\n  F|re: '^a.c$'\ncondition: sel";
    assert!(matches(re, &[("F", s("abc"))]));
    assert!(!matches(re, &[("F", s("ABC"))]));
    let i = "sel:\n  F|re|i: '^a.c$'\ncondition: sel";
    assert!(matches(i, &[("F", s("ABC"))]));
    let m = "sel:\n  F|re|m: '^b$'\ncondition: sel";
    assert!(matches(m, &[("F", s("a\nb\nc"))]));
    assert!(!matches(
        "sel:\n  F|re: '^b$'\ncondition: sel",
        &[("F", s("a\nb\nc"))]
    ));
    let dot = "sel:\n  F|re|s: '^a.b$'\ncondition: sel";
    assert!(matches(dot, &[("F", s("a\nb"))]));
    assert!(!matches(
        "sel:\n  F|re: '^a.b$'\ncondition: sel",
        &[("F", s("a\nb"))]
    ));
    // a regular expression is not anchored unless it says so
    assert!(matches(
        "sel:\n  F|re: 'b+'\ncondition: sel",
        &[("F", s("abbbc"))]
    ));
}

#[test]
fn base64_encodes_the_value() {
    // base64("cmd") = "Y21k"
    let rule = "sel:\n  F|base64: 'cmd'\ncondition: sel";
    assert!(matches(rule, &[("F", s("Y21k"))]));
    assert!(!matches(rule, &[("F", s("cmd"))]));
    let contains = "sel:\n  F|base64|contains: 'cmd'\ncondition: sel";
    assert!(matches(contains, &[("F", s("xxY21kxx"))]));
}

#[test]
fn base64offset_finds_the_value_at_any_offset() {
    let rule = "sel:\n  CommandLine|base64offset|contains: 'http://'\ncondition: sel";
    for prefix in ["", "a", "ab"] {
        let encoded = base64_of(&format!("{prefix}curl http://evil"));
        assert!(matches(rule, &[("CommandLine", s(&encoded))]), "{prefix}");
    }
    assert!(!matches(
        rule,
        &[("CommandLine", s(&base64_of("curl ftp://evil")))]
    ));
}

fn base64_of(text: &str) -> String {
    crate::encode::base64(text.as_bytes())
}

#[test]
fn utf16_variants_then_base64() {
    let wide = "sel:\n  CommandLine|wide|base64offset|contains: 'ping'\ncondition: sel";
    let utf16: Vec<u8> = "xping -n 1"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let encoded = crate::encode::base64(&utf16);
    assert!(matches(wide, &[("CommandLine", s(&encoded))]));
    assert!(!matches(
        wide,
        &[("CommandLine", s(&base64_of("xping -n 1")))]
    ));
    // utf16le|base64 is the same as wide|base64, utf16be and utf16 differ
    let le = "sel:\n  F|utf16le|base64: 'cmd'\ncondition: sel";
    assert!(matches(
        le,
        &[("F", s(&crate::encode::base64(&[0x63, 0, 0x6d, 0, 0x64, 0])))]
    ));
    let be = "sel:\n  F|utf16be|base64: 'cmd'\ncondition: sel";
    assert!(matches(
        be,
        &[("F", s(&crate::encode::base64(&[0, 0x63, 0, 0x6d, 0, 0x64])))]
    ));
    let bom = "sel:\n  F|utf16|base64: 'cmd'\ncondition: sel";
    assert!(matches(
        bom,
        &[(
            "F",
            s(&crate::encode::base64(&[
                0xFF, 0xFE, 0x63, 0, 0x6d, 0, 0x64, 0
            ]))
        )]
    ));
    assert!(!matches(
        bom,
        &[("F", s(&crate::encode::base64(&[0x63, 0, 0x6d, 0, 0x64, 0])))]
    ));
}

#[test]
fn numeric_comparisons() {
    for (modifier, yes, no) in [
        ("lt", 9, 10),
        ("lte", 10, 11),
        ("gt", 11, 10),
        ("gte", 10, 9),
    ] {
        let rule = format!("sel:\n  Size|{modifier}: 10\ncondition: sel");
        assert!(
            matches(&rule, &[("Size", Value::Int(yes))]),
            "{modifier} {yes}"
        );
        assert!(
            !matches(&rule, &[("Size", Value::Int(no))]),
            "{modifier} {no}"
        );
        assert!(
            matches(&rule, &[("Size", s(&yes.to_string()))]),
            "{modifier} text"
        );
    }
    assert!(!matches(
        "sel:\n  Size|gt: 10\ncondition: sel",
        &[("Size", s("big"))]
    ));
}

#[test]
fn time_modifiers_extract_date_parts() {
    let ts = s("2024-12-05T23:41:07Z");
    for (modifier, value) in [
        ("minute", 41),
        ("hour", 23),
        ("day", 5),
        ("week", 49),
        ("month", 12),
        ("year", 2024),
    ] {
        let yes = format!("sel:\n  Time|{modifier}: {value}\ncondition: sel");
        let no = format!("sel:\n  Time|{modifier}: {}\ncondition: sel", value - 1);
        assert!(matches(&yes, &[("Time", ts.clone())]), "{modifier}");
        assert!(
            !matches(&no, &[("Time", ts.clone())]),
            "{modifier} negative"
        );
    }
}

#[test]
fn cidr_matches_networks() {
    let rule = "sel:\n  DestinationIp|cidr:\n    - 10.0.0.0/8\n    - 'fd00::/8'\ncondition: sel";
    assert!(matches(rule, &[("DestinationIp", s("10.20.30.40"))]));
    assert!(matches(rule, &[("DestinationIp", s("fd12::1"))]));
    assert!(!matches(rule, &[("DestinationIp", s("192.168.1.1"))]));
    assert!(!matches(rule, &[("DestinationIp", s("-"))]));
}

#[test]
fn expand_fills_placeholders_from_the_user() {
    let rule = "sel:\n  User|expand: '%Administrators%'\ncondition: sel";
    let mut p = Placeholders::new();
    p.insert("Administrators".into(), vec!["root".into(), "adm_*".into()]);
    assert!(matches_with(rule, &[("User", s("adm_bob"))], p.clone()));
    assert!(matches_with(rule, &[("User", s("ROOT"))], p.clone()));
    assert!(!matches_with(rule, &[("User", s("bob"))], p));
}

#[test]
fn an_unfilled_placeholder_skips_the_rule() {
    let message = compile_error("sel:\n  User|expand: '%Administrators%'\ncondition: sel");
    assert!(message.contains("Administrators"), "{message}");
}

#[test]
fn placeholders_are_literal_without_expand() {
    assert!(matches(
        "sel:\n  User: '%Administrators%'\ncondition: sel",
        &[("User", s("%administrators%"))]
    ));
}

#[test]
fn fieldref_compares_two_fields() {
    let eq = "sel:\n  TargetUserName|fieldref: SubjectUserName\ncondition: sel";
    assert!(matches(
        eq,
        &[("TargetUserName", s("Bob")), ("SubjectUserName", s("bob"))]
    ));
    assert!(!matches(
        eq,
        &[
            ("TargetUserName", s("Bob")),
            ("SubjectUserName", s("alice"))
        ]
    ));
    assert!(!matches(eq, &[("TargetUserName", s("Bob"))]));
    let neq = "sel:\n  TargetUserName|fieldref|neq: SubjectUserName\ncondition: sel";
    assert!(matches(
        neq,
        &[
            ("TargetUserName", s("Bob")),
            ("SubjectUserName", s("alice"))
        ]
    ));
    assert!(!matches(
        neq,
        &[("TargetUserName", s("Bob")), ("SubjectUserName", s("bob"))]
    ));
}

// --- placement, filters --------------------------------------------------------------

fn windows_event(channel: &str, event_id: i64, fields: &[(&str, &str)]) -> Event {
    let mut e = Event::default();
    e.push("Event.System.Channel", "Channel", s(channel));
    e.push("Event.System.EventID", "EventID", Value::Int(event_id));
    for (k, v) in fields {
        e.push(&format!("Event.EventData.{k}"), k, s(v));
    }
    e
}

fn build(yaml: &str) -> (Engine, BuildReport) {
    let docs: Vec<Document> = tocsin_sigma::parse_documents(yaml, "t.yml".as_ref())
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("parses: {e}"));
    EngineBuilder::new().build(&docs)
}

const PROC_RULE: &str = "title: cmd
id: 11111111-1111-1111-1111-111111111111
logsource: { category: process_creation, product: windows }
detection:
  sel: { Image|endswith: '\\cmd.exe' }
  condition: sel
";

#[test]
fn process_creation_is_placed_on_sysmon_1_and_security_4688_with_renames() {
    let (engine, report) = build(PROC_RULE);
    assert!(report.errors.is_empty());
    let mut scratch = Scratch::default();
    let sysmon = windows_event(
        "Microsoft-Windows-Sysmon/Operational",
        1,
        &[("Image", "C:\\cmd.exe")],
    );
    let security = windows_event("Security", 4688, &[("NewProcessName", "C:\\cmd.exe")]);
    let wrong_id = windows_event("Security", 4624, &[("NewProcessName", "C:\\cmd.exe")]);
    let wrong_channel = windows_event("System", 1, &[("Image", "C:\\cmd.exe")]);
    for (e, want) in [
        (&sysmon, true),
        (&security, true),
        (&wrong_id, false),
        (&wrong_channel, false),
    ] {
        assert_eq!(!engine.evaluate(e, &mut scratch).is_empty(), want);
        assert_eq!(!engine.evaluate_reference(e).is_empty(), want);
    }
}

#[test]
fn filters_suppress_the_rules_they_name() {
    let yaml = format!(
        "{PROC_RULE}---
title: not in the lab
logsource: {{ category: process_creation, product: windows }}
filter:
  rules: [11111111-1111-1111-1111-111111111111]
  selection: {{ Computer|startswith: 'lab-' }}
  condition: selection
"
    );
    let (engine, report) = build(&yaml);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.filters_applied, 1);
    let mut lab = windows_event(
        "Microsoft-Windows-Sysmon/Operational",
        1,
        &[("Image", "C:\\cmd.exe")],
    );
    lab.push("Event.System.Computer", "Computer", s("lab-01"));
    let mut prod = windows_event(
        "Microsoft-Windows-Sysmon/Operational",
        1,
        &[("Image", "C:\\cmd.exe")],
    );
    prod.push("Event.System.Computer", "Computer", s("prod-01"));
    let mut scratch = Scratch::default();
    assert!(engine.evaluate(&lab, &mut scratch).is_empty());
    assert_eq!(engine.evaluate(&prod, &mut scratch), [0]);
}

#[test]
fn windows_rules_the_mapping_cannot_place_are_counted_not_evaluated() {
    let (engine, report) = build(
        "title: x\nlogsource: { product: windows, service: no-such-service }\ndetection:\n  sel: { A: 1 }\n  condition: sel\n",
    );
    assert_eq!(engine.len(), 0);
    assert_eq!(report.unmapped, 1);
}

#[test]
fn one_bad_rule_does_not_stop_the_others() {
    let yaml = format!(
        "{PROC_RULE}---\ntitle: bad\nlogsource: {{ product: test }}\ndetection:\n  sel:\n    F|expand: '%Nope%'\n  condition: sel\n"
    );
    let (engine, report) = build(&yaml);
    assert_eq!(engine.len(), 1);
    assert_eq!(report.needs_placeholders.len(), 1);
    let message = report.needs_placeholders[0].to_string();
    assert!(message.starts_with("t.yml:12: rule 'bad'"), "{message}");
}

// --- logsource of tagged events ----------------------------------------------------------

#[test]
fn generic_rules_meet_only_events_tagged_with_their_logsource() {
    use std::sync::Arc;
    use tocsin_event::LogSource;
    let yaml = "title: reset\nlogsource:\n  product: remote_support\n  service: API_Audit\ndetection:\n  sel:\n    action: user.password_reset\n  condition: sel\n";
    let docs: Vec<Document> = tocsin_sigma::parse_documents(yaml, "t.yml".as_ref())
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("parses");
    let (engine, _) = EngineBuilder::new().build(&docs);
    let tagged = |product: &str, service: &str| {
        let mut e = event(&[("action", s("user.password_reset"))]);
        e.logsource = Some(Arc::new(LogSource::new(product, service)));
        e
    };
    let run = |e: &Event| {
        let fast = !engine.evaluate(e, &mut Scratch::default()).is_empty();
        assert_eq!(fast, !engine.evaluate_reference(e).is_empty());
        fast
    };
    assert!(
        run(&tagged("remote_support", "api_audit")),
        "same logsource, any case"
    );
    assert!(
        !run(&tagged("remote_support", "appliance")),
        "other service"
    );
    assert!(!run(&tagged("linux", "api_audit")), "other product");
    let mut no_service = tagged("remote_support", "x");
    no_service.logsource = Some(Arc::new(LogSource {
        product: Some("remote_support".into()),
        ..LogSource::default()
    }));
    assert!(
        !run(&no_service),
        "the rule names a service the event lacks"
    );
    let mut untagged = event(&[("action", s("user.password_reset"))]);
    untagged.logsource = None;
    assert!(
        !run(&untagged),
        "an event of unknown origin meets no rule written for a product"
    );
}

#[test]
fn an_event_of_unknown_origin_meets_only_rules_that_name_no_logsource() {
    let negated = |logsource: &str| {
        let yaml = format!(
            "title: negated\nlogsource: {logsource}\ndetection:\n  sel:\n    id.orig_h|cidr: 10.0.0.0/8\n  condition: not sel\n"
        );
        let docs: Vec<Document> = tocsin_sigma::parse_documents(&yaml, "t.yml".as_ref())
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("parses");
        EngineBuilder::new().build(&docs).0
    };
    let mut plain = event(&[("message", s("user logged in")), ("host", s("web1"))]);
    plain.logsource = None;
    for logsource in [
        "{ product: zeek, service: rdp }",
        "{ category: webserver }",
        "{ service: sshd }",
    ] {
        assert!(!meets(&negated(logsource), &plain), "{logsource}");
    }
    assert!(
        meets(&negated("{}"), &plain),
        "a rule that names no logsource meets any event"
    );
    let mut zeek = plain.clone();
    zeek.logsource = Some(std::sync::Arc::new(tocsin_event::LogSource::new(
        "zeek", "rdp",
    )));
    assert!(
        meets(&negated("{ product: zeek, service: rdp }"), &zeek),
        "declared origin"
    );
}

#[test]
fn a_field_is_found_by_its_path_as_by_its_alias_dotted_or_not() {
    let (engine, report) = engine_with(
        "selection:\n  cmd|contains: whoami\ncondition: selection",
        Placeholders::new(),
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let run = |path: &str, alias: &str, value: &str| {
        let mut e = event(&[]);
        e.push(path, alias, s(value));
        let fast = !engine.evaluate(&e, &mut Scratch::default()).is_empty();
        assert_eq!(
            fast,
            !engine.evaluate_reference(&e).is_empty(),
            "{path} / {alias}"
        );
        fast
    };
    assert!(run("cmd", "", "whoami /all"), "the path alone");
    assert!(
        run("cmd", "CommandLine", "whoami /all"),
        "an undotted path with an alias"
    );
    assert!(
        run("Process.cmd", "cmd", "whoami /all"),
        "the alias of a dotted path"
    );
    assert!(
        !run("cmd", "CommandLine", "hostname"),
        "the path, another value"
    );
    assert!(!run("CommandLine", "cmdline", "whoami"), "neither name");
}

// --- logsource placement (the specification's LogSource section and taxonomy) ---------

/// An engine of one keyword rule (`mimikatz`) with the logsource `logsource` (YAML lines).
fn keyword_engine(logsource: &str) -> Engine {
    let yaml = format!(
        "title: t\nid: 00000000-0000-0000-0000-000000000002\nlogsource:\n{}detection:\n  keywords: [mimikatz]\n  condition: keywords\n",
        indent(logsource)
    );
    let docs: Vec<Document> = tocsin_sigma::parse_documents(&yaml, "t.yml".as_ref())
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("rule must parse: {e}\n{yaml}"));
    let (engine, report) = EngineBuilder::new().build(&docs);
    assert!(report.errors.is_empty() && engine.len() == 1, "{report:?}");
    engine
}

/// An event holding `mimikatz`, with these fields first and the decoder's tag `tag`
/// (`product/service`).
fn tagged_event(fields: &[(&str, Value)], tag: Option<(&str, &str)>) -> Event {
    let mut e = event(fields);
    e.push("Data", "Data", s("C:\\Temp\\mimikatz.exe"));
    e.logsource = tag.map(|(p, v)| std::sync::Arc::new(tocsin_event::LogSource::new(p, v)));
    e
}

/// Whether `engine`'s rule meets `e`; panics if the two evaluators disagree.
fn meets(engine: &Engine, e: &Event) -> bool {
    let fast = !engine.evaluate(e, &mut Scratch::default()).is_empty();
    assert_eq!(fast, !engine.evaluate_reference(e).is_empty(), "{e:?}");
    fast
}

#[test]
fn product_windows_alone_meets_every_windows_log_and_nothing_else() {
    let engine = keyword_engine("product: windows");
    for channel in ["Security", "System", "DNS Server", "Some-Vendor/Admin"] {
        let e = tagged_event(&[("Channel", s(channel)), ("EventID", Value::Int(7))], None);
        assert!(meets(&engine, &e), "{channel}");
    }
    let windows_without_channel = tagged_event(&[], Some(("windows", "")));
    assert!(meets(&engine, &windows_without_channel));
    let linux = tagged_event(&[], Some(("linux", "syslog")));
    assert!(!meets(&engine, &linux));
    assert!(!meets(&engine, &tagged_event(&[], None)), "unknown origin");
}

#[test]
fn windows_events_never_meet_rules_of_other_products() {
    let engine = keyword_engine("product: zeek\nservice: rdp");
    let bookmark = tagged_event(&[], Some(("windows", "")));
    assert!(!meets(&engine, &bookmark));
    let with_channel = tagged_event(&[("Channel", s("Security"))], None);
    assert!(!meets(&engine, &with_channel));
    assert!(meets(&engine, &tagged_event(&[], Some(("zeek", "rdp")))));
}
