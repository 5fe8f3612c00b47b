//! Two sites share one intrusion over TAXII 2.1 (issue 18), end to end with two real
//! `tocsin serve` processes:
//!
//! 1. site A's service receives the demo's logs, opens the stolen key's incident, and its
//!    analyst confirms it and publishes it, redacted and TLP:AMBER, with `tocsin share push`
//!    to a collection of site B's TAXII server, as the partner `site-a`;
//! 2. site B's analyst pulls the collection with `tocsin share pull` into B's intel folder
//!    and reloads B's rules;
//! 3. site B, with no Sigma rule that could fire and no behavioural detector, receives the
//!    same intrusion's logs and detects the attacker's addresses through A's indicators
//!    alone; each detection names the indicator and its producer.

// Test code: helpers may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::serve::{config, get, gzip, named_token, patch, post, token, Server};
use common::{run, stderr, stdout, tocsin};

/// The demo's line-based logs and the decoder of each.
const LOGS: [(&str, &str); 4] = [
    ("api-audit.jsonl", "api-audit"),
    ("appliance.log", "appliance"),
    ("outbound-events.log", "outbound"),
    ("endpoints.jsonl", "json"),
];

/// A rule no demo event can match: site B judges with indicators alone.
const NEVER_RULE: &str = "title: Never
id: 0b9f1c52-7a35-4f0e-9d2a-5c1e8b7a6d40
level: low
logsource: { product: tocsin_sharing_test_nothing }
detection:
  selection: { Nothing: nothing }
  condition: selection
";

/// The attacker's addresses, from the demo's answer key (`ground-truth.yaml`).
fn attacker_addresses(demo: &Path) -> Vec<String> {
    let truth = std::fs::read_to_string(demo.join("ground-truth.yaml")).unwrap();
    truth
        .lines()
        .skip_while(|line| !line.starts_with("attacker_ips:"))
        .skip(1)
        .map_while(|line| line.trim().strip_prefix("- "))
        .map(|address| address.trim_matches('"').to_owned())
        .collect()
}

/// Sends the demo's logs to `server`; panics unless every record is accepted.
fn send_demo(server: &Server, demo: &Path, ingest: &str) {
    for (file, format) in LOGS {
        let body = std::fs::read(demo.join(file)).unwrap();
        let path = format!("/api/v1/events?format={format}&input={file}");
        let sent = post(server, &path, Some(ingest), &gzip(&body));
        assert_eq!(sent.status, 200, "{file}: {}", sent.body);
        assert_eq!(sent.json()["refused"], 0, "{file}");
    }
}

/// The id of the incident of `server` that names `address`.
fn incident_naming(server: &Server, token: &str, address: &str) -> String {
    let listed = get(server, "/api/v1/incidents?limit=1000", Some(token)).json();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|incident| incident["id"].as_str().unwrap().to_owned())
        .find(|id| {
            get(server, &format!("/api/v1/incidents/{id}"), Some(token))
                .body
                .contains(address)
        })
        .unwrap_or_else(|| panic!("no incident names {address}: {listed}"))
}

/// `tocsin share ARGS` with HTTP Basic (`user` and a token as its password) or, without a
/// user, the token as a bearer; panics on failure.
fn share(args: &[&str], user: Option<&str>, secret: &str) -> String {
    let mut command = tocsin();
    command.arg("share").args(args);
    match user {
        Some(user) => command
            .args(["--user", user])
            .env("TOCSIN_TAXII_PASSWORD", secret)
            .env_remove("TOCSIN_TAXII_TOKEN"),
        None => command
            .env("TOCSIN_TAXII_TOKEN", secret)
            .env_remove("TOCSIN_TAXII_USER")
            .env_remove("TOCSIN_TAXII_PASSWORD"),
    };
    let out = run(&mut command);
    assert!(
        out.status.success(),
        "share {args:?}: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

#[test]
fn a_partners_published_incident_detects_the_intrusion_at_a_second_site() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = run(tocsin().args(["demo", "--quiet", "--out"]).arg(&demo));
    assert!(out.status.success(), "{}", stderr(&out));
    let attackers = attacker_addresses(&demo);
    assert!(!attackers.is_empty());

    // Site B: a TAXII collection site A may write to and B's analysts read.
    let site_b = dir.path().join("b");
    std::fs::create_dir_all(site_b.join("rules")).unwrap();
    std::fs::write(site_b.join("rules/never.yml"), NEVER_RULE).unwrap();
    let b_config = config(
        &site_b,
        &format!(
            "[spool]\nfsync = \"never\"\n\n\
             [detection]\nrules = [{:?}]\nbehaviour = false\n\n\
             [[taxii.collections]]\nalias = \"from-partners\"\n\
             title = \"Incidents partners share with us\"\nwriters = [\"site-a\"]\n",
            site_b.join("rules").display().to_string()
        ),
    );
    let b_data = site_b.join("data");
    let b_partner_a = named_token(&b_data, "site-a", "partner");
    let b_analyst = token(&b_data, "analyst");
    let b_admin = token(&b_data, "admin");
    let b_ingest = token(&b_data, "ingest");
    let server_b = Server::start(&b_data, Some(&b_config));

    // Site A: the built-in rules and behavioural detectors on the demo's logs.
    let a_data = dir.path().join("a");
    let a_ingest = token(&a_data, "ingest");
    let a_analyst = token(&a_data, "analyst");
    let server_a = Server::start(&a_data, None);
    send_demo(&server_a, &demo, &a_ingest);
    server_a.wait_drained(&a_analyst);
    let incident = incident_naming(&server_a, &a_analyst, &attackers[0]);
    let confirmed = patch(
        &server_a,
        &format!("/api/v1/incidents/{incident}"),
        Some(&a_analyst),
        r#"{"status": "confirmed", "note": "stolen key confirmed; shared with site B"}"#,
    );
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);

    // A's analyst publishes the confirmed incident to B, redacted, TLP:AMBER.
    let pushed = share(
        &[
            "push",
            &server_b.url("/taxii2/"),
            "--collection",
            "from-partners",
            "--incident",
            &incident,
            "--store",
            a_data.join("store.sqlite").to_str().unwrap(),
            "--producer",
            "Site A SOC",
            "--tlp",
            "amber",
            "--redact",
            "internal",
        ],
        Some("site-a"),
        &b_partner_a,
    );
    assert!(pushed.contains("failure 0"), "{pushed}");

    // B's analyst pulls it into B's intel folder and reloads B's rules.
    let intel = b_data.join("intel");
    let pulled = share(
        &[
            "pull",
            &server_b.url("/taxii2/"),
            "--collection",
            "from-partners",
            "--into",
            intel.to_str().unwrap(),
        ],
        None,
        &b_analyst,
    );
    assert!(pulled.contains("indicator"), "{pulled}");
    let bundles: Vec<String> = std::fs::read_dir(&intel)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    assert_eq!(bundles.len(), 1, "one bundle per source");
    let amber = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
    assert!(bundles[0].contains(amber), "TLP:AMBER marking");
    for host in ["WS-0", "ws-0"] {
        assert!(
            !bundles[0].contains(host),
            "an internal host name was shared"
        );
    }
    let reloaded = post(&server_b, "/api/v1/rules/reload", Some(&b_admin), b"");
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    // The set is queued; the pipeline takes it between two steps (an idle one within a
    // poll): events sent before that would be judged by the old set.
    let running = reloaded.json()["rules"].clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while server_b.pipeline(&b_admin)["rules"] != running {
        assert!(
            Instant::now() < deadline,
            "the pipeline never took the reloaded rules"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // Site B sees the same intrusion: the indicators alone find the attacker.
    send_demo(&server_b, &demo, &b_ingest);
    server_b.wait_drained(&b_analyst);
    let detections = get(&server_b, "/api/v1/detections?limit=1000", Some(&b_analyst)).json();
    let by_indicator: Vec<&serde_json::Value> = detections
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["rule"]["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("STIX indicator"))
        })
        .collect();
    assert!(!by_indicator.is_empty(), "no indicator fired at site B");
    assert!(
        by_indicator
            .iter()
            .all(|d| d["rule"]["author"] == "Site A SOC"),
        "each detection names its producer"
    );
    for address in &attackers {
        assert!(
            by_indicator
                .iter()
                .any(|d| d.to_string().contains(address.as_str())),
            "the attacker's address {address} was not detected at site B"
        );
    }
    eprintln!(
        "site B: {} detections by {} of site A's indicators, naming {} of {} attacker addresses",
        by_indicator.len(),
        by_indicator
            .iter()
            .map(|d| d["rule"]["id"].as_str().unwrap_or_default())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        attackers.len(),
        attackers.len()
    );
    let incidents = get(&server_b, "/api/v1/incidents", Some(&b_analyst)).json();
    assert!(
        !incidents.as_array().unwrap().is_empty(),
        "the indicators' detections open an incident at site B"
    );
    assert!(server_a.terminate().success());
    assert!(server_b.terminate().success());
}
