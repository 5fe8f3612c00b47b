//! Loads the SigmaHQ rule corpus and the specification's examples from the shared corpora.

use std::path::PathBuf;

use tocsin_sigma::ast::{CorrelationType, Document};
use tocsin_sigma::load_paths;

/// The number of `.yml` files (one document each) in the shared SigmaHQ snapshot.
const SIGMAHQ_DOCUMENTS: usize = 3_780;

fn report(errors: &[tocsin_sigma::SigmaError]) -> String {
    errors.iter().take(20).map(|e| format!("  {e}\n")).collect()
}

#[test]
fn sigmahq_rules_all_load() {
    let Some(root) = tocsin_testdata::shared_path("sigma/rules") else {
        return;
    };
    let outcome = load_paths(&[root]);
    assert!(
        outcome.errors.is_empty(),
        "{} errors, first ones:\n{}",
        outcome.errors.len(),
        report(&outcome.errors)
    );
    assert_eq!(outcome.files, SIGMAHQ_DOCUMENTS);
    assert_eq!(outcome.documents.len(), SIGMAHQ_DOCUMENTS);
    let rules = outcome
        .documents
        .iter()
        .filter(|d| matches!(d, Document::Rule(_)))
        .count();
    assert_eq!(rules, SIGMAHQ_DOCUMENTS);
}

#[test]
fn specification_examples_all_load() {
    let Some(examples) = tocsin_testdata::shared_path("sigma/spec/examples") else {
        return;
    };
    let folder = |name: &str| -> PathBuf { examples.join(name) };

    let outcome = load_paths(&[folder("rules")]);
    assert!(outcome.errors.is_empty(), "{}", report(&outcome.errors));
    assert_eq!(outcome.files, 2);
    assert!(outcome
        .documents
        .iter()
        .all(|d| matches!(d, Document::Rule(_))));
    assert_eq!(outcome.documents.len(), 2);

    let outcome = load_paths(&[folder("filter")]);
    assert!(outcome.errors.is_empty(), "{}", report(&outcome.errors));
    assert_eq!(outcome.documents.len(), 2);
    for document in &outcome.documents {
        let Document::Filter(filter) = document else {
            panic!("expected a filter, got {document:?}");
        };
        assert_eq!(filter.rules.len(), 2);
        assert_eq!(filter.detection.selections.len(), 1);
    }

    let outcome = load_paths(&[folder("correlation")]);
    assert!(outcome.errors.is_empty(), "{}", report(&outcome.errors));
    assert_eq!(outcome.documents.len(), 8);
    let mut kinds: Vec<CorrelationType> = outcome
        .documents
        .iter()
        .map(|d| match d {
            Document::Correlation(c) => c.kind,
            other => panic!("expected a correlation, got {other:?}"),
        })
        .collect();
    kinds.dedup();
    for kind in [
        CorrelationType::EventCount,
        CorrelationType::ValueCount,
        CorrelationType::Temporal,
        CorrelationType::TemporalOrdered,
        CorrelationType::ValueSum,
        CorrelationType::ValueAvg,
        CorrelationType::ValuePercentile,
    ] {
        assert!(kinds.contains(&kind), "no {kind:?} example loaded");
    }
}
