//! STIX 2.1 exports checked by the OASIS tools (issue 18, `conformance/stix/validate.py`):
//! the demo's incidents and every incident of a hunt over the shared EVTX corpus are
//! exported and must pass the OASIS stix2-validator with no error and no warning, parse
//! with the OASIS stix2 library without custom content, and carry the observable
//! identifiers stix2 derives.
//!
//! The check needs a Python with `conformance/stix/requirements.txt` installed, named by
//! `TOCSIN_STIX_PYTHON`; `.ci/run` creates that venv. Without it the test skips loudly, and
//! under CI it fails.

// Test code: helpers may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run, stderr, stdout, tocsin};

/// The variable naming the venv's python.
const PYTHON_ENV: &str = "TOCSIN_STIX_PYTHON";

/// The python to run the check with, or `None` after a loud skip message (a failure under
/// CI).
fn python() -> Option<PathBuf> {
    common::venv_python(PYTHON_ENV, "the STIX check", "stix")
}

/// Runs the OASIS tools over `bundles`; panics with their report unless all pass.
fn validate(python: &Path, bundles: &[PathBuf]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(python)
        .arg(root.join("conformance/stix/validate.py"))
        .args(bundles)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "STIX check failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

/// `tocsin incidents export` with `args`; panics on failure.
fn export(store: &Path, args: &[&str]) {
    let out = run(tocsin()
        .args(["incidents", "export"])
        .args(args)
        .arg("--store")
        .arg(store)
        .args(["--producer", "Example Treasury SOC"]));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_demo_incidents_export_as_valid_stix_whatever_the_options() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dir.path().join("demo");
    let out = run(tocsin().arg("demo").arg("--out").arg(&demo).arg("--quiet"));
    assert!(out.status.success(), "{}", stderr(&out));
    let store = demo.join("tocsin.db");
    let listed = run(tocsin()
        .args(["incidents", "list", "-f", "json", "--store"])
        .arg(&store));
    let incidents: serde_json::Value = serde_json::from_str(&stdout(&listed)).expect("list");
    let attack = incidents
        .as_array()
        .and_then(|all| all.iter().max_by_key(|i| i["severity"]["score"].as_u64()))
        .and_then(|i| i["id"].as_str())
        .expect("an incident")
        .to_owned();
    let variants: [&[&str]; 3] = [
        &[
            "--victim",
            "Example Treasury",
            "--attribute",
            "Silk Typhoon",
            "--confidence",
            "60",
        ],
        &[
            "--redact",
            "internal",
            "--tlp",
            "amber+strict",
            "--indicator-tlp",
            "clear",
            "--attribute",
            "Silk Typhoon",
            "--threat-actor",
        ],
        &[
            "--redact",
            "hosts=drop,users=drop",
            "--tlp",
            "red",
            "--revoke",
        ],
    ];
    let mut bundles = Vec::new();
    for (n, variant) in variants.iter().enumerate() {
        let file = dir.path().join(format!("attack-{n}.json"));
        let mut args = vec![attack.as_str(), "-o"];
        let name = file.to_string_lossy().into_owned();
        args.push(&name);
        args.extend_from_slice(variant);
        export(&store, &args);
        bundles.push(file);
    }
    let all = dir.path().join("all");
    export(&store, &["--all", "-o", &all.to_string_lossy()]);
    bundles.extend(std::fs::read_dir(&all).unwrap().map(|e| e.unwrap().path()));
    let report = validate(&python, &bundles);
    eprintln!("{report}");

    // What the redacted export must not say.
    let redacted = std::fs::read_to_string(&bundles[1]).unwrap().to_lowercase();
    assert!(!redacted.contains(".corp."), "an internal host name leaked");
    let bundle: serde_json::Value = serde_json::from_str(&redacted).unwrap();
    let kinds: Vec<&str> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["type"].as_str())
        .collect();
    for kind in [
        "incident",
        "indicator",
        "sighting",
        "observed-data",
        "attack-pattern",
        "threat-actor",
        "report",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in the export");
    }
}

#[test]
fn every_incident_of_the_evtx_corpus_exports_as_valid_stix() {
    let Some(python) = python() else { return };
    let Some(shared) = tocsin_testdata::shared_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("evtx.db");
    let rules = shared.join("sigma/rules");
    let out = run(tocsin()
        .arg("hunt")
        .arg(shared.join("evtx"))
        .arg("--rules")
        .arg(&rules)
        .arg("--store")
        .arg(&store)
        .args(["--quiet", "--output", "/dev/null"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let all = dir.path().join("all");
    export(
        &store,
        &[
            "--all",
            "-o",
            &all.to_string_lossy(),
            "--rules",
            &rules.to_string_lossy(),
            "--redact",
            "internal",
            "--victim",
            "Example Treasury",
        ],
    );
    let bundles: Vec<PathBuf> = std::fs::read_dir(&all)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(bundles.len() >= 100, "only {} incidents", bundles.len());
    let report = validate(&python, &bundles);
    let sigma = bundles
        .iter()
        .filter(|b| {
            std::fs::read_to_string(b)
                .unwrap()
                .contains("\"pattern_type\": \"sigma\"")
        })
        .count();
    assert_eq!(
        sigma,
        bundles.len(),
        "every incident carries the Sigma rules that fired"
    );
    eprintln!("{}", report.lines().last().unwrap_or_default());
}

#[test]
fn an_export_without_a_producer_or_with_a_bad_redaction_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("none.db");
    let out = run(tocsin()
        .args(["incidents", "export", "INC-1", "--store"])
        .arg(&store)
        .env_remove("TOCSIN_ORGANISATION"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--producer"), "{}", stderr(&out));
    let out = run(tocsin()
        .args([
            "incidents",
            "export",
            "INC-1",
            "--producer",
            "X",
            "--redact",
            "hosts=hide",
            "--store",
        ])
        .arg(&store));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("keep, replace or drop"),
        "{}",
        stderr(&out)
    );
}
