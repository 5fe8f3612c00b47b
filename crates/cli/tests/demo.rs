//! End-to-end tests of `tocsin demo` and `tocsin rules list`: the real binary, the real
//! generator, decoders, rules, detectors, store and report.

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

mod common;

use common::{run, stderr, stdout, tocsin};

fn demo(dir: &Path, extra: &[&str]) -> Output {
    run(tocsin()
        .args(["demo", "--seed", "7", "--out"])
        .arg(dir)
        .args(extra))
}

/// The id `incidents show` is suggested with in the story.
fn attack_incident_id(story: &str) -> String {
    story
        .lines()
        .find_map(|line| line.trim().strip_prefix("tocsin incidents show "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no incident to show in the story:\n{story}"))
        .to_owned()
}

#[test]
fn demo_tells_the_story_writes_store_and_report_and_can_be_hunted_again() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("out");
    let out = demo(&dir, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let story = stdout(&out);
    let store = dir.join("tocsin.db");
    let report = dir.join("report.html");
    assert!(story.contains("The first alert\n  2024-"), "{story}");
    assert!(story.contains("after the first malicious use"), "{story}");
    assert!(
        story.contains(&format!("store:  {}", store.display())),
        "{story}"
    );
    assert!(
        story.contains(&format!("report: {}", report.display())),
        "{story}"
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));

    let id = attack_incident_id(&story);
    assert!(html.contains(&id), "the report is the attack incident's");
    let listed = run(tocsin().args(["incidents", "list", "--store"]).arg(&store));
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(stdout(&listed).contains(&id), "{}", stdout(&listed));
    let shown = run(tocsin()
        .args(["incidents", "show", &id, "--store"])
        .arg(&store));
    assert!(shown.status.success(), "{}", stderr(&shown));

    let hunt = run(tocsin()
        .arg("hunt")
        .arg(&dir)
        .args(["--rules", "builtin", "--format", "jsonl"]));
    assert!(hunt.status.success(), "{}", stderr(&hunt));
    let detections = stdout(&hunt);
    assert!(detections.lines().count() > 10, "{detections}");
    assert!(detections.contains("Vault Account Password Changed on the Remote Support Appliance"));

    // The folder of a previous demo is reused, and the same seed tells the same story.
    let again = demo(&dir, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), story);
}

#[test]
fn demo_refuses_a_folder_it_did_not_write_unless_forced() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("notes.txt"), "mine").unwrap();
    let small = ["--days", "3", "--workstations", "10", "--quiet"];
    let refused = demo(root.path(), &small);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("notes.txt"),
        "{}",
        stderr(&refused)
    );
    assert!(!root.path().join("tocsin.db").exists());

    let forced = demo(root.path(), &[&small[..], &["--force"]].concat());
    assert!(forced.status.success(), "{}", stderr(&forced));
    let printed = stdout(&forced);
    assert!(
        printed.contains("tocsin.db"),
        "--quiet prints the paths: {printed}"
    );
    assert!(root.path().join("notes.txt").exists());
}

/// `--evaluate` scores every variant with `--variant all`: one block per variant (its
/// runs and its four criteria) and a summary; the exit code says whether all passed.
#[test]
fn evaluation_scores_each_variant_and_sums_them_up() {
    let out = run(tocsin().args([
        "demo",
        "--evaluate",
        "1",
        "--variant",
        "all",
        "--days",
        "3",
        "--workstations",
        "20",
    ]));
    let text = stdout(&out);
    let passed = text.lines().last().is_some_and(|l| l.starts_with("PASSED"));
    assert_eq!(
        out.status.code(),
        Some(if passed { 0 } else { 1 }),
        "{text}"
    );
    for variant in ["base", "busy", "appliance-only", "stealthy", "site-account"] {
        assert!(
            text.contains(&format!("variant {variant} (seeds 1 to 1")),
            "{text}"
        );
    }
    // Each criterion is printed for the plain run and after the restart.
    assert_eq!(
        text.matches("per site-month (at most 0.2)").count(),
        10,
        "{text}"
    );
    assert_eq!(
        text.matches("incidents of low alerts only:").count(),
        10,
        "{text}"
    );
    assert_eq!(
        text.matches("after a restart from the store").count(),
        5,
        "{text}"
    );
    assert!(
        text.contains("delay from the first password reset"),
        "{text}"
    );
    assert!(text.contains("\nsummary\n"), "{text}");
    // 5 blocks of a title, a header, one run, 4 verdicts, the restart's heading and 4
    // verdicts, and the variant's verdict; the summary's 2 + 5 lines; the last line.
    assert_eq!(text.lines().count(), 5 * 13 + 7 + 1, "{text}");
    let plain = run(tocsin().args(["demo", "--variant", "all", "--quiet"]));
    assert_eq!(plain.status.code(), Some(2), "{}", stderr(&plain));
}

/// Issue 15's acceptance criteria over 20 seeds of every variant, plainly and after a
/// restart from the store: the first medium alert within 5 minutes, the attack in one
/// incident of severity high or above, at most 0.2 false incidents per site-month, no
/// incident of low alerts only. About 5 minutes in a release build (README, "The demo"),
/// far more in a debug one: run with `cargo test --release -- --ignored`; CI runs the
/// three-seed check below.
#[test]
#[ignore = "takes about 5 minutes in a release build; the three-seed test runs by default"]
fn evaluation_over_twenty_seeds_of_every_variant_meets_the_acceptance_criteria() {
    let out = run(tocsin().args(["demo", "--evaluate", "20", "--variant", "all"]));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert_eq!(text.matches("20/20 runs").count(), 20, "{text}");
}

/// Issue 15's criteria over three seeds of every variant, plainly and after a restart from
/// the store: the first alert of medium or higher on the attacker's events within 5
/// minutes, the whole attack one incident of severity high or above, no false incident
/// (three seeds are 2.1 site-months: one would be 0.48 per site-month) and no incident of
/// low alerts only.
#[test]
fn every_variant_meets_the_criteria_over_three_seeds_and_after_a_restart() {
    let out = run(tocsin().args(["demo", "--evaluate", "3", "--variant", "all"]));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert_eq!(
        text.matches("within 5 min 00 s: 3/3 runs").count(),
        10,
        "{text}"
    );
    assert_eq!(
        text.matches("attack in one incident, high or worse: 3/3 runs ok")
            .count(),
        10,
        "{text}"
    );
    assert_eq!(
        text.matches("false incidents: 0 in 2.1 site-months")
            .count(),
        10,
        "{text}"
    );
    assert_eq!(
        text.matches("incidents of low alerts only: 0 ok").count(),
        10,
        "{text}"
    );
}

#[test]
fn rules_list_builtin_names_every_builtin_rule() {
    let out = run(tocsin().args(["rules", "list", "--builtin"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let builtin = tocsin_rules::builtin();
    assert_eq!(text.lines().count(), builtin.len() + 1, "{text}");
    for rule in builtin {
        assert!(
            text.contains(&format!("builtin/{}", rule.file_name)),
            "{} missing:\n{text}",
            rule.file_name
        );
    }

    let json = run(tocsin().args(["rules", "list", "--builtin", "--format", "json"]));
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), builtin.len());
    assert!(rows
        .iter()
        .all(|row| row["id"].as_str().is_some_and(|id| id.len() == 36)));
}

#[test]
fn rules_list_without_rules_says_what_to_do() {
    let out = run(tocsin().args(["rules", "list"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--builtin"), "{}", stderr(&out));
}

#[test]
fn rules_list_cleans_terminal_escapes_out_of_titles() {
    let dir = tempfile::tempdir().unwrap();
    let rule = "title: \"Evil \\e]0;pwned\\a \\e[2J\\x9b31m rule\"\nid: \"id\\e[2J\"\n\
                logsource: {product: windows}\ndetection:\n  sel: x\n  condition: sel\n";
    std::fs::write(dir.path().join("evil.yml"), rule).unwrap();
    let out = run(tocsin().args(["rules", "list"]).arg(dir.path()));
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        !out.stdout.iter().any(|b| matches!(b, 0x1b | 0x07)),
        "no ESC or BEL byte may reach the terminal: {text:?}"
    );
    assert!(!text.contains('\u{9b}'), "nor a C1 CSI: {text:?}");
    assert!(text.contains("Evil ") && text.contains("pwned"), "{text}");
}

#[test]
fn hunting_a_demo_folder_reads_its_logs_and_not_the_answer_key() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("demo");
    let small = ["--days", "3", "--workstations", "10", "--quiet"];
    assert!(demo(&dir, &small).status.success());
    // The session reports are XML, which folders are searched for only when asked.
    let hunt = |inputs: &[&Path]| {
        run(tocsin().arg("hunt").args(inputs).args([
            "--rules",
            "builtin",
            "--format",
            "jsonl",
            "--extensions",
            "evtx,json,jsonl,log,xml",
        ]))
    };
    let folder = hunt(&[&dir]);
    assert!(folder.status.success(), "{}", stderr(&folder));
    let logs = [
        "appliance.log",
        "api-audit.jsonl",
        "endpoints.jsonl",
        "outbound-events.log",
        "session-reports.xml",
    ]
    .map(|f| dir.join(f));
    let three = hunt(&logs.each_ref().map(|log| log.as_path()));
    assert!(three.status.success(), "{}", stderr(&three));
    let scanned = |out: &Output| {
        stderr(out)
            .lines()
            .find(|line| line.contains("Events scanned"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no summary: {}", stderr(out)))
    };
    assert!(
        scanned(&folder).contains(" in 5 files"),
        "{}",
        scanned(&folder)
    );
    assert_eq!(scanned(&folder), scanned(&three));
    let sorted = |out: &Output| {
        let mut lines: Vec<String> = stdout(out).lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&folder), sorted(&three));
    for line in stdout(&folder).lines() {
        let detection: serde_json::Value = serde_json::from_str(line).unwrap();
        let source = detection["source"].as_str().unwrap_or_default();
        assert!(
            logs.iter()
                .any(|log| source.contains(&*log.to_string_lossy())),
            "{source}"
        );
    }
}

/// Splits the demo's API audit log at `cut` (RFC 3339) into two folders.
fn split_api_audit(dir: &Path, cut: &str, before: &Path, after: &Path) {
    let text = std::fs::read_to_string(dir.join("api-audit.jsonl")).unwrap();
    let (mut early, mut late) = (String::new(), String::new());
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let time = record["time"].as_str().unwrap();
        let half = if time < cut { &mut early } else { &mut late };
        half.push_str(line);
        half.push('\n');
    }
    for (folder, half) in [(before, early), (after, late)] {
        std::fs::create_dir_all(folder).unwrap();
        std::fs::write(folder.join("api-audit.jsonl"), half).unwrap();
    }
}

fn behaviour_hunt(logs: &Path, store: &Path) -> Output {
    run(tocsin()
        .arg("hunt")
        .arg(logs)
        .args([
            "--rules",
            "builtin",
            "--behaviour",
            "--format",
            "jsonl",
            "--store",
        ])
        .arg(store))
}

fn anomaly_titles(out: &Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|d| {
            d["rule_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("anomaly."))
        })
        .map(|d| d["rule_title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A top-level text field of the demo's ground truth (YAML).
fn truth_field(truth: &str, key: &str) -> String {
    let docs = tocsin_yaml::load(truth, 8).unwrap();
    let entries = tocsin_yaml::mapping(&docs[0]).unwrap();
    entries
        .iter()
        .find(|(k, _)| tocsin_yaml::as_str(k) == Some(key))
        .and_then(|(_, v)| tocsin_yaml::as_str(v))
        .unwrap_or_else(|| panic!("no {key} in the ground truth:\n{truth}"))
        .to_owned()
}

#[test]
fn hunt_behaviour_goes_on_from_the_baseline_kept_in_the_store() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("demo");
    assert!(demo(&dir, &["--quiet"]).status.success());
    let truth = std::fs::read_to_string(dir.join("ground-truth.yaml")).unwrap();
    // The last benign day before the intrusion, then the intrusion.
    let first_use = truth_field(&truth, "first_malicious_use");
    let cut = format!("{}T00:00:00", &first_use[..10]);
    let (before, after) = (root.path().join("before"), root.path().join("after"));
    split_api_audit(&dir, &cut, &before, &after);

    let store = root.path().join("kept.db");
    let learning = behaviour_hunt(&before, &store);
    assert!(learning.status.success(), "{}", stderr(&learning));
    assert!(
        stderr(&learning).contains("baseline learned from scratch and saved in the store"),
        "{}",
        stderr(&learning)
    );
    let resumed = behaviour_hunt(&after, &store);
    assert!(
        stderr(&resumed).contains("baseline resumed from the store"),
        "{}",
        stderr(&resumed)
    );
    let key = truth_field(&truth, "compromised_key_id");
    let titles = anomaly_titles(&resumed);
    assert!(
        titles.iter().any(|t| t.contains(&key)),
        "the stolen key's misuse is flagged after a restart: {titles:?}"
    );

    // Without the earlier baseline, the same logs are only the start of a learning period.
    let fresh = behaviour_hunt(&after, &root.path().join("fresh.db"));
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert_eq!(anomaly_titles(&fresh), Vec::<String>::new());
}

/// Each incident of a store as (members, band), sorted: what must not depend on the
/// command that grouped the alerts.
fn incident_shapes(store: &Path) -> Vec<(Vec<String>, String)> {
    use tocsin_incident::{IncidentFilter, IncidentStore};
    let store = tocsin_store::SqliteStore::open(store).expect("the store opens");
    let mut shapes: Vec<(Vec<String>, String)> = store
        .list_incidents(&IncidentFilter::default())
        .expect("incidents readable")
        .into_iter()
        .map(|incident| {
            let mut members: Vec<String> = incident
                .members
                .iter()
                .map(|member| member.alert_key.clone())
                .collect();
            members.sort();
            (members, incident.severity.band.as_str().to_owned())
        })
        .collect();
    shapes.sort();
    shapes
}

/// Issue 14: `tocsin demo` and `tocsin hunt` over the demo's logs (with the built-in
/// rules and the behavioural detectors, as the demo runs them) store the same incidents,
/// with the same members and severity: one pipeline, whichever command drives it. Before,
/// the demo stored 1 incident and the hunt 808 (806 low ones, and the attack split in two).
#[test]
fn demo_and_hunt_store_the_same_incidents() {
    let root = tempfile::tempdir().unwrap();
    for seed in ["7", "2024", "31337"] {
        let dir = root.path().join(format!("demo-{seed}"));
        let out = run(tocsin()
            .args(["demo", "--quiet", "--seed", seed, "--out"])
            .arg(&dir));
        assert!(out.status.success(), "seed {seed}: {}", stderr(&out));
        let hunted = root.path().join(format!("hunt-{seed}.db"));
        let hunt = run(tocsin()
            .arg("hunt")
            .arg(dir.join("appliance.log"))
            .arg(dir.join("api-audit.jsonl"))
            .arg(dir.join("endpoints.jsonl"))
            .arg(dir.join("outbound-events.log"))
            .arg(dir.join("session-reports.xml"))
            .args([
                "--rules",
                "builtin",
                "--behaviour",
                "--output",
                "/dev/null",
                "--store",
            ])
            .arg(&hunted));
        assert!(hunt.status.success(), "seed {seed}: {}", stderr(&hunt));
        let demo = incident_shapes(&dir.join("tocsin.db"));
        assert!(!demo.is_empty(), "seed {seed}: the demo opened no incident");
        assert!(
            demo.iter().any(|(_, band)| band == "critical"),
            "seed {seed}: {demo:?}"
        );
        assert_eq!(incident_shapes(&hunted), demo, "seed {seed}");
    }
}
