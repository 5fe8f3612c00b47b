//! SigmaHQ's own regression suite: every case's rule must fire at least `match_count` times
//! on the case's `.evtx` file and on its `.json` rendering, with the whole SigmaHQ rule set
//! loaded (so that filters, placement and every other rule are in play, as in a real hunt).

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, YamlOwned};
use tocsin_decode::DecodeOptions;
use tocsin_engine::{Engine, EngineBuilder, Scratch};

/// Cases believed wrong upstream, with the reason. Empty: every case must pass.
const KNOWN_EXCEPTIONS: &[(&str, &str)] = &[];

struct Case {
    rule_id: String,
    evtx: PathBuf,
    match_count: usize,
}

fn cases(regression: &Path, info_files: &mut Vec<PathBuf>) -> Vec<Case> {
    collect_info_files(regression, info_files);
    info_files.sort();
    let mut out = Vec::new();
    for info in info_files.iter() {
        let text = std::fs::read_to_string(info).expect("info.yml readable");
        let docs = YamlOwned::load_from_str(&text).expect("info.yml parses");
        let doc = &docs[0];
        let get = |node: &'_ YamlOwned, key: &str| node.as_mapping_get(key).cloned();
        let rule_id = get(doc, "rule_metadata")
            .and_then(|m| m.as_sequence_get(0).cloned())
            .and_then(|m| get(&m, "id"))
            .and_then(|id| id.as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("{}: no rule_metadata id", info.display()));
        let Some(tests) = get(doc, "regression_tests_info") else {
            println!("{}: no regression_tests_info, skipped", info.display());
            continue;
        };
        for test in tests.as_vec().into_iter().flatten() {
            if get(test, "type")
                .and_then(|t| t.as_str().map(str::to_string))
                .as_deref()
                != Some("evtx")
            {
                continue;
            }
            let rel = get(test, "path")
                .and_then(|p| p.as_str().map(str::to_string))
                .expect("path");
            let rel = rel.strip_prefix("regression_data/").unwrap_or(&rel);
            let match_count = get(test, "match_count")
                .and_then(|n| n.as_integer())
                .map_or(1, |n| n as usize);
            out.push(Case {
                rule_id: rule_id.clone(),
                evtx: regression.join(rel),
                match_count,
            });
        }
    }
    out
}

fn collect_info_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_info_files(&path, out);
        } else if path.file_name().is_some_and(|n| n == "info.yml") {
            out.push(path);
        }
    }
}

fn engine(rules: &Path) -> Engine {
    let outcome = tocsin_sigma::load_paths(&[rules.to_path_buf()]);
    assert!(
        outcome.errors.is_empty(),
        "rule load errors: {:#?}",
        &outcome.errors[..outcome.errors.len().min(5)]
    );
    let (engine, report) = EngineBuilder::new().build(&outcome.documents);
    assert!(
        report.errors.is_empty(),
        "rule compile errors: {:#?}",
        &report.errors[..report.errors.len().min(5)]
    );
    engine
}

/// How many times each rule id fired on the events of `file`.
fn hits(engine: &Engine, file: &Path) -> HashMap<String, usize> {
    let options = DecodeOptions {
        evtx_threads: 1,
        ..DecodeOptions::default()
    };
    let source = tocsin_decode::open(file, &options).unwrap_or_else(|e| panic!("{e}"));
    let mut scratch = Scratch::default();
    let mut counts = HashMap::new();
    for event in source {
        let event = event.unwrap_or_else(|e| panic!("{e}"));
        for &rule in engine.evaluate(&event, &mut scratch) {
            let id = engine.rule(rule).meta.id.clone().unwrap_or_default();
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn every_regression_case_matches_on_evtx_and_json() {
    let (Some(regression), Some(rules)) = (
        tocsin_testdata::shared_path("sigma/regression"),
        tocsin_testdata::shared_path("sigma/rules"),
    ) else {
        return;
    };
    let engine = engine(&rules);
    let cases = cases(&regression, &mut Vec::new());
    assert!(
        cases.len() >= 160,
        "only {} regression cases found",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        if KNOWN_EXCEPTIONS.iter().any(|(id, _)| *id == case.rule_id) {
            continue;
        }
        let json = case.evtx.with_extension("json");
        for file in [&case.evtx, &json] {
            let got = hits(&engine, file).get(&case.rule_id).copied().unwrap_or(0);
            if got < case.match_count {
                failures.push(format!(
                    "{}: rule {} fired {got} times, expected at least {}",
                    file.display(),
                    case.rule_id,
                    case.match_count
                ));
            }
        }
    }
    println!(
        "{} cases, {} inputs, {} failures",
        cases.len(),
        cases.len() * 2,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} inputs failed:\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n")
    );
}
