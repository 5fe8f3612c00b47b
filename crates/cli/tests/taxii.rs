//! The TAXII 2.1 server of `tocsin serve` (issue 18): the real binary on a loopback port
//! with two collections and partner tokens, checked by the OASIS client `taxii2-client`
//! (`conformance/taxii/client_check.py`: discovery, collections, add and status, every
//! filter, 2,500 objects paged with limit=100, versions, manifest, delete, partners' rights)
//! and, without python, by raw requests for the protocol's HTTP rules.
//!
//! The client check needs a python with `conformance/taxii/requirements.txt` installed,
//! named by `TOCSIN_TAXII_PYTHON` (`.ci/run` creates that venv); without it the check skips
//! loudly, and under CI it fails.

// Test code: helpers may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::serve::{agent, answer, config, get, named_token, Answer, Server};
use common::{run, stderr, stdout};

/// The variable naming the venv's python.
const PYTHON_ENV: &str = "TOCSIN_TAXII_PYTHON";

/// The TAXII media type every answer carries.
const MEDIA: &str = "application/taxii+json;version=2.1";

/// Two collections: `shared` (partner `reader` reads, `writer` reads and writes) and
/// `restricted` (no partner of the test), with a 1 MiB body limit.
const CONFIG: &str = r#"
[http]
rate_per_second = 0

[spool]
fsync = "never"

[taxii]
max_content_length = 1048576

[[taxii.collections]]
alias = "shared"
title = "Shared with partners"
readers = ["reader", "writer"]
writers = ["writer"]

[[taxii.collections]]
alias = "restricted"
title = "Internal"
readers = ["insider"]
"#;

/// The python to run the client with, or `None` after a loud skip message (a failure
/// under CI).
fn python() -> Option<PathBuf> {
    common::venv_python(PYTHON_ENV, "the TAXII client check", "taxii")
}

/// The tokens of the test: an analyst and three partners.
struct Tokens {
    analyst: String,
    writer: String,
    reader: String,
    outsider: String,
}

/// A service over a fresh data folder in `dir` with [`CONFIG`] and the test's tokens.
fn start(dir: &Path) -> (Server, Tokens) {
    let data = dir.join("data");
    let tokens = Tokens {
        analyst: named_token(&data, "soc", "analyst"),
        writer: named_token(&data, "writer", "partner"),
        reader: named_token(&data, "reader", "partner"),
        outsider: named_token(&data, "outsider", "partner"),
    };
    let config = config(dir, CONFIG);
    (Server::start(&data, Some(&config)), tokens)
}

/// The repository's root.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_oasis_client_works_against_the_server() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (server, tokens) = start(dir.path());
    let script = repository().join("conformance/taxii/client_check.py");
    let out = run(std::process::Command::new(python)
        .arg(script)
        .arg(server.url("/taxii2/"))
        .args([
            &tokens.analyst,
            &tokens.writer,
            &tokens.reader,
            &tokens.outsider,
        ]));
    let summary = stdout(&out);
    println!("{summary}");
    assert!(
        out.status.success(),
        "{summary}\n{}\nservice log: {}",
        stderr(&out),
        std::fs::read_to_string(dir.path().join("data.log")).unwrap_or_default()
    );
    assert!(summary.contains(" 0 failed"), "{summary}");
}

/// `method path` with a bearer token and extra headers.
fn request(
    server: &Server,
    method: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(server.url(path))
        .header("Authorization", format!("Bearer {token}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    answer(agent().run(builder.body(body.to_vec()).unwrap()))
}

/// Checks a TAXII error answer: status, media type, error message.
fn assert_taxii_error(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type.as_deref(), Some(MEDIA), "{status}");
    let body = answer.json();
    assert_eq!(body["http_status"], status.to_string(), "{body}");
    assert!(body["title"].is_string(), "{body}");
}

#[test]
fn the_protocol_s_http_rules_hold() {
    let dir = tempfile::tempdir().unwrap();
    let (server, tokens) = start(dir.path());
    let objects = "/tocsin/collections/shared/objects/";
    let taxii = [("Accept", MEDIA), ("Content-Type", MEDIA)];
    let envelope = br#"{"objects": [{"type": "malware", "spec_version": "2.1",
        "id": "malware--6b6c1a4e-0000-4000-8000-000000000001", "name": "x", "is_family": false,
        "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z"}]}"#;

    let added = request(&server, "POST", objects, &tokens.writer, &taxii, envelope);
    assert_eq!(added.status, 202, "{}", added.body);
    assert_eq!(added.json()["success_count"], 1);

    let wrong_accept = [("Accept", "application/json")];
    assert_taxii_error(
        &request(&server, "GET", objects, &tokens.analyst, &wrong_accept, b""),
        406,
    );
    let json_body = [("Accept", MEDIA), ("Content-Type", "application/json")];
    assert_taxii_error(
        &request(
            &server,
            "POST",
            objects,
            &tokens.writer,
            &json_body,
            envelope,
        ),
        415,
    );
    let large = vec![b' '; 1_048_577];
    assert_taxii_error(
        &request(&server, "POST", objects, &tokens.writer, &taxii, &large),
        413,
    );
    assert_taxii_error(&get(&server, "/tocsin/collections/", None), 401);
    assert_taxii_error(
        &get(&server, "/tocsin/no/such/thing/", Some(&tokens.analyst)),
        404,
    );
    assert_taxii_error(&get(&server, "/taxii2/more/", Some(&tokens.analyst)), 404);

    // The outsider sees no collection, and the restricted one is absent, not forbidden.
    let listed = get(&server, "/tocsin/collections/", Some(&tokens.outsider));
    assert_eq!((listed.status, listed.json()), (200, serde_json::json!({})));
    assert_taxii_error(
        &get(
            &server,
            "/tocsin/collections/restricted/",
            Some(&tokens.reader),
        ),
        404,
    );
    let page = get(&server, objects, Some(&tokens.reader));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json()["objects"].as_array().unwrap().len(), 1);
    // Partners have no part in the REST API.
    for path in [
        "/api/v1/incidents",
        "/api/v1/status",
        "/api/v1/detections",
        "/api/v1/openapi.json",
        "/metrics",
    ] {
        assert_eq!(
            get(&server, path, Some(&tokens.writer)).status,
            403,
            "{path}"
        );
    }
    let events = common::serve::post(&server, "/api/v1/events", Some(&tokens.writer), b"{}");
    assert_eq!(events.status, 403);
}

#[test]
fn partner_tokens_are_listed_with_their_role() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    named_token(&data, "cisa", "partner");
    let out = run(common::tocsin()
        .args(["tokens", "list", "--data"])
        .arg(&data));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("partner"), "{}", stdout(&out));
}

/// Polls `path` with `token` until `done` holds for its JSON (at most a minute).
fn wait_until(
    server: &Server,
    path: &str,
    token: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let answer = get(server, path, Some(token));
        if answer.status == 200 && done(&answer.json()) {
            return answer.json();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {}",
            answer.body
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// How many objects an envelope holds.
fn count(envelope: &serde_json::Value) -> usize {
    envelope["objects"].as_array().map_or(0, Vec::len)
}

#[test]
fn incidents_are_published_by_hand_and_by_rule() {
    let dir = tempfile::tempdir().unwrap();
    let rule = dir.path().join("whoami.yml");
    std::fs::write(&rule, common::WHOAMI_RULE).unwrap();
    let config = config(
        dir.path(),
        &format!(
            r#"[detection]
rules = [{rule:?}]
behaviour = false

[spool]
fsync = "never"

[taxii]
organisation = "Example Corp"

[[taxii.collections]]
alias = "cisa"
readers = ["cisa"]

[[taxii.collections]]
alias = "by-hand"

[[taxii.publish]]
collection = "cisa"
min_severity = "low"
statuses = ["investigating"]
tlp = "amber"
redact = ["internal"]
"#
        ),
    );
    let data = dir.path().join("data");
    let ingest = named_token(&data, "shipper", "ingest");
    let analyst = named_token(&data, "soc", "analyst");
    let partner = named_token(&data, "cisa", "partner");
    let server = Server::start(&data, Some(&config));
    let event = common::sysmon_line(1, r"C:\Windows\System32\whoami.exe");
    let sent = common::serve::post(&server, "/api/v1/events", Some(&ingest), event.as_bytes());
    assert_eq!(sent.status, 200, "{}", sent.body);
    let incidents = wait_until(&server, "/api/v1/incidents", &analyst, |list| {
        list.as_array().is_some_and(|list| !list.is_empty())
    });
    let id = incidents[0]["id"].as_str().unwrap().to_owned();

    // By hand, by an analyst (a partner may not).
    let publish = format!("/api/v1/incidents/{id}/publish");
    let body = br#"{"collection": "by-hand", "tlp": "green", "redact": ["internal"]}"#;
    let refused = common::serve::post(&server, &publish, Some(&partner), body);
    assert_eq!(refused.status, 403, "{}", refused.body);
    let published = common::serve::post(&server, &publish, Some(&analyst), body);
    assert_eq!(published.status, 200, "{}", published.body);
    let status = published.json();
    assert_eq!(status["failure_count"], 0, "{status}");
    assert!(status["success_count"].as_u64().unwrap() > 3, "{status}");
    let objects = get(
        &server,
        "/tocsin/collections/by-hand/objects/?limit=1000",
        Some(&analyst),
    );
    assert_eq!(objects.status, 200, "{}", objects.body);
    assert!(
        objects.body.contains("\"type\":\"incident\""),
        "{}",
        objects.body
    );
    assert!(
        !objects.body.contains("ws-017.corp.example"),
        "not redacted"
    );
    let audit = get(
        &server,
        &format!("/api/v1/incidents/{id}/audit"),
        Some(&analyst),
    );
    assert!(
        audit.body.contains("TAXII collection by-hand"),
        "{}",
        audit.body
    );
    let unknown = br#"{"collection": "nowhere"}"#;
    assert_eq!(
        common::serve::post(&server, &publish, Some(&analyst), unknown).status,
        404
    );

    // By rule: nothing until the incident is being investigated, then its objects, and a
    // new version of the incident after it changed again.
    let incident_path = "/tocsin/collections/cisa/objects/?match[type]=incident&match[version]=all";
    assert_eq!(
        count(&get(&server, incident_path, Some(&partner)).json()),
        0
    );
    let patch = |body: &str| {
        let answer = common::serve::patch(
            &server,
            &format!("/api/v1/incidents/{id}"),
            Some(&analyst),
            body,
        );
        assert_eq!(answer.status, 200, "{}", answer.body);
    };
    patch(r#"{"status": "investigating"}"#);
    wait_until(&server, incident_path, &partner, |page| count(page) == 1);
    patch(r#"{"note": "the key was revoked at the vendor"}"#);
    wait_until(&server, incident_path, &partner, |page| count(page) == 2);
}
