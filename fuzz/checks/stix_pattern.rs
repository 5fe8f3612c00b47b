//! What the `stix_pattern` fuzz target checks on one input: arbitrary text as a STIX 2.1
//! pattern, parsed and compiled, then as the pattern of an indicator in a bundle that is
//! loaded, built into an indicator set and matched against events. Shared by the fuzz
//! target (`fuzz/fuzz_targets/stix_pattern.rs`) and the intel crate's replay of it on
//! stable (`crates/intel/tests/pattern_fuzz.rs`). Panics when a property fails.
//!
//! The pattern tree has no `Display`; its object paths do, so each path of a pattern that
//! parses must print as text that parses back to the same path.

// A check's failure is a panic, as the fuzzer expects.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use tocsin_event::{Event, Value};
use tocsin_intel::compile::{compile, Alternatives, Atom, Key, MAX_ALTERNATIVES, MAX_ATOMS};
use tocsin_intel::pattern::{Comparison, Literal, Observation, Test};
use tocsin_intel::{parse, IndicatorSetBuilder};

/// The time of the hunt (2026-05-28), after the indicator's `modified`.
const NOW: i64 = 1_780_000_000_000_000;

/// Arbitrary bytes (lossily UTF-8) as a pattern: no panic anywhere; a parse error names a
/// column within the text; a compiled pattern stays within its bounds; object paths print
/// back; the indicator is either compiled or skipped with a reason; and an event holding
/// the values a compiled alternative of plain keys looks up is matched.
pub fn stix_pattern(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let parsed = parse(text);
    let compiled = match &parsed {
        Ok(observation) => {
            let mut tests = Vec::new();
            tests_of(observation, &mut tests);
            for test in &tests {
                paths_print_back(test);
            }
            let compiled = compile(observation);
            if let Ok(alternatives) = &compiled {
                assert!(
                    alternatives.len() <= MAX_ALTERNATIVES,
                    "too many alternatives"
                );
                assert!(alternatives.iter().all(|a| a.len() <= MAX_ATOMS));
            }
            compiled.ok().map(|alternatives| (alternatives, tests))
        }
        Err(error) => {
            let columns = text.chars().count() + 1;
            assert!(
                (1..=columns).contains(&error.column),
                "{error} is outside 1..={columns}"
            );
            None
        }
    };

    let bundle = serde_json::json!({
        "type": "bundle",
        "id": "bundle--fuzz",
        "objects": [{
            "type": "indicator",
            "id": "indicator--fuzz",
            "name": "fuzz",
            "modified": "2026-01-01T00:00:00Z",
            "pattern_type": "stix",
            "pattern": text,
        }],
    });
    let mut builder = IndicatorSetBuilder::default();
    builder.add_text(&bundle.to_string(), Path::new("fuzz.json"));
    let set = builder.build(NOW);
    let ours = set
        .indicators()
        .iter()
        .position(|indicator| indicator.id == "indicator--fuzz");
    let skipped = set.skipped().iter().any(|s| s.id == "indicator--fuzz");
    assert!(
        ours.is_some() != skipped,
        "compiled and skipped, or neither"
    );
    if compiled.is_none() {
        assert!(skipped, "a pattern that does not compile is not skipped");
    }

    let mut event = Event::default();
    event.push("raw", "", Value::from(text));
    let _ = set.matches(&event);
    // The same text as an intelligence file of its own (a bundle, an array, JSON Lines).
    let mut builder = IndicatorSetBuilder::default();
    builder.add_text(text, Path::new("raw.json"));
    let _ = builder.build(NOW).matches(&event);

    // Every value the compiled alternatives look up, in an event of their own: an
    // alternative of keys only (no regular expression) that each have a value must hit.
    let (Some(ours), Some((alternatives, tests))) = (ours, compiled) else {
        return;
    };
    // The regular expressions dropped as too large for one set: nothing to expect.
    if !set.errors().is_empty() {
        return;
    }
    let mut event = Event::default();
    for (index, value) in looked_up(&alternatives, &tests).into_iter().enumerate() {
        event.push(&format!("f{index}"), "", Value::from(value));
    }
    let hit = set.matches(&event).iter().any(|hit| hit.indicator == ours);
    let matchable = alternatives.iter().any(|atoms| atoms.iter().all(checkable));
    if matchable {
        assert!(hit, "an event with the looked-up values is not matched");
    }
}

/// Every test of a pattern.
fn tests_of<'a>(observation: &'a Observation, out: &mut Vec<&'a Test>) {
    match observation {
        Observation::Single(comparison) => comparison_tests(comparison, out),
        Observation::And(parts) | Observation::Or(parts) | Observation::FollowedBy(parts) => {
            parts.iter().for_each(|part| tests_of(part, out));
        }
        Observation::Qualified(inner, _) => tests_of(inner, out),
    }
}

fn comparison_tests<'a>(comparison: &'a Comparison, out: &mut Vec<&'a Test>) {
    match comparison {
        Comparison::And(parts) | Comparison::Or(parts) => {
            parts.iter().for_each(|part| comparison_tests(part, out));
        }
        Comparison::Test(test) => out.push(test),
    }
}

/// A test's object path, printed, parses back to the same path.
fn paths_print_back(test: &Test) {
    let printed = format!("[EXISTS {}]", test.path);
    let Ok(Observation::Single(Comparison::Test(back))) = parse(&printed) else {
        panic!("{printed} does not parse back to one test");
    };
    assert_eq!(
        back.path, test.path,
        "{printed} parses back to another path"
    );
}

/// Whether an atom is met by an event holding the values [`looked_up`] gives.
fn checkable(atom: &Atom) -> bool {
    match atom {
        Atom::Regex(_) => false,
        Atom::Keys(keys) => keys.iter().any(|key| match key {
            Key::Folded(text) | Key::Exact(text) => !text.is_empty(),
            Key::Ip(_) | Key::Net(..) => true,
        }),
    }
}

/// The texts an event needs to meet the keys: the string literals of the tests as written,
/// and every address (a block's network address) as text.
fn looked_up(alternatives: &Alternatives, tests: &[&Test]) -> Vec<String> {
    let mut values: Vec<String> = tests
        .iter()
        .flat_map(|test| &test.values)
        .filter_map(|literal| match literal {
            Literal::Str(text) => Some(text.clone()),
            _ => None,
        })
        .collect();
    for atom in alternatives.iter().flatten() {
        if let Atom::Keys(keys) = atom {
            for key in keys {
                match key {
                    Key::Ip(address) | Key::Net(address, _) => values.push(address.to_string()),
                    Key::Folded(_) | Key::Exact(_) => {}
                }
            }
        }
    }
    values
}
