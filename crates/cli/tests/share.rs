//! `tocsin share` against a TAXII server that is not ours (issue 18): the OASIS reference
//! server medallion (`conformance/taxii/requirements.txt`), started here on a free loopback
//! port with its memory backend. The demo's incident is pushed, pulled back object for
//! object (ids and versions), pulled again incrementally (nothing new), pushed again (the
//! server refuses the duplicates: exit 1 with its messages), and a wrong password gives a
//! clear error naming the URL and HTTP 401.

// Helpers outside #[test] functions unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{run, stderr, stdout, tocsin};

/// The variable naming the python that has medallion installed.
const PYTHON_ENV: &str = "TOCSIN_TAXII_PYTHON";

/// The collection medallion serves, readable and writable by `tocsin`.
const COLLECTION: &str = "9b0d3e2f-6c3a-4e39-9a4e-5a1c7f0b2d11";

/// A second collection, for the redacted export (its own objects' ids, see
/// `tocsin_stix::ExportOptions::audience`).
const REDACTED: &str = "4c2e8a41-0d7b-4b6e-8f3a-2e9d6c5b1a07";

/// The user that may read and write, and its password.
const USER: &str = "tocsin";
const PASSWORD: &str = "correct horse battery staple";

/// The python to run medallion with, or `None` after a loud skip message (a failure
/// under CI).
fn python() -> Option<PathBuf> {
    common::venv_python(PYTHON_ENV, "the TAXII interoperability test", "taxii")
}

/// A running medallion, killed when dropped (also when a test fails).
struct Medallion {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Medallion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Medallion {
    /// Writes the configuration into `dir` and starts medallion; waits until it answers.
    /// The port is found free and then freed for medallion, so another process may take it
    /// in between: a start that lost its port is made again on another (three tries).
    fn start(python: &Path, dir: &Path) -> Medallion {
        let mut lost = Vec::new();
        for _ in 0..3 {
            match Medallion::start_on(python, dir, free_port()) {
                Ok(medallion) => return medallion,
                Err(log) if log.contains("Address already in use") => lost.push(log),
                Err(log) => panic!("medallion exited:\n{log}"),
            }
        }
        panic!(
            "medallion lost its port three times:\n{}",
            lost.join("\n---\n")
        );
    }

    /// Starts medallion on `port`; its log when it exits before it answers.
    fn start_on(python: &Path, dir: &Path, port: u16) -> Result<Medallion, String> {
        let config = dir.join("medallion.json");
        let data = dir.join("medallion-data.json");
        std::fs::write(&data, backend_data(port).to_string()).expect("write data");
        let settings = json!({
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": data,
            },
            "users": {USER: PASSWORD},
            // Small pages, so that a pull follows several.
            "taxii": {"max_page_size": 7},
        });
        std::fs::write(&config, settings.to_string()).expect("write config");
        let log = dir.join("medallion.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(python)
            .args(["-c", "from medallion.scripts.run import main; main()"])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start medallion with {}: {e}", python.display()));
        let mut medallion = Medallion { child, port, log };
        medallion.wait_until_it_answers()?;
        Ok(medallion)
    }

    /// Waits until medallion accepts connections; its log when it exited first.
    fn wait_until_it_answers(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("({status})\n{}", self.log_text()));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("medallion did not answer within 60 s:\n{}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

/// A port nobody listens on (bound, then freed for medallion).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The memory backend's data: a discovery, one API root (with a small
/// max_content_length, so that a push takes several envelopes) and one collection.
fn backend_data(port: u16) -> Value {
    let root = format!("http://127.0.0.1:{port}/api1/");
    json!({
        "/discovery": {
            "title": "medallion for tocsin's tests",
            "default": root,
            "api_roots": [root],
        },
        "api1": {
            "information": {
                "title": "partners",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 24_000,
            },
            "status": [],
            "collections": [{
                "id": REDACTED,
                "title": "Redacted intrusions",
                "alias": "redacted",
                "can_read": true,
                "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [],
                "manifest": [],
            }, {
                "id": COLLECTION,
                "title": "Shared intrusions",
                "alias": "shared",
                "can_read": true,
                "can_write": true,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [],
                "manifest": [],
            }],
        },
    })
}

/// `tocsin share ARGS` as the user, with the password in the environment.
fn share(args: &[&str], password: &str) -> Output {
    run(tocsin()
        .arg("share")
        .args(args)
        .args(["--user", USER])
        .env("TOCSIN_TAXII_PASSWORD", password)
        .env_remove("TOCSIN_TAXII_TOKEN"))
}

/// Asserts success and no panic; returns standard output.
fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// The demo's store, its most severe incident, and that incident exported to a file.
fn demo_export(dir: &Path) -> (PathBuf, String, PathBuf) {
    let demo = dir.join("demo");
    let out = run(tocsin().arg("demo").arg("--out").arg(&demo).arg("--quiet"));
    ok(&out, "demo");
    let store = demo.join("tocsin.db");
    let listed = run(tocsin()
        .args(["incidents", "list", "-f", "json", "--store"])
        .arg(&store));
    let incidents: Value = serde_json::from_str(&stdout(&listed)).expect("list");
    let id = incidents
        .as_array()
        .and_then(|all| all.iter().max_by_key(|i| i["severity"]["score"].as_u64()))
        .and_then(|i| i["id"].as_str())
        .expect("an incident")
        .to_owned();
    let bundle = dir.join("incident.json");
    let out = run(tocsin()
        .args(["incidents", "export", &id, "--store"])
        .arg(&store)
        .arg("-o")
        .arg(&bundle)
        .args(["--producer", "Example Treasury SOC"]));
    ok(&out, "export");
    (store, id, bundle)
}

/// Every object of a bundle file as (id, version).
fn versions(file: &Path) -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(file).expect("bundle");
    let bundle: Value = serde_json::from_str(&text).expect("JSON");
    bundle["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            let version = o.get("modified").or_else(|| o.get("created"));
            (
                o["id"].as_str().expect("id").to_owned(),
                version.and_then(Value::as_str).unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// The one bundle file `share pull` wrote into `dir`.
fn pulled_bundle(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("intel folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn share_pushes_to_and_pulls_from_medallion() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, incident, bundle) = demo_export(dir.path());
    let medallion = Medallion::start(&python, dir.path());
    let discovery = medallion.url("taxii2/");
    let api_root = medallion.url("api1/");

    let listed = ok(
        &share(&["collections", &discovery], PASSWORD),
        "collections",
    );
    assert!(
        listed.contains(COLLECTION) && listed.contains("Shared intrusions"),
        "{listed}"
    );
    let json_out = ok(
        &share(&["collections", &discovery, "--json"], PASSWORD),
        "collections --json",
    );
    let collections: Value = serde_json::from_str(&json_out).expect("JSON");
    assert_eq!(
        collections["collections"][0]["can_write"], true,
        "{json_out}"
    );
    assert_eq!(collections["api_root"], api_root.as_str());

    let file = bundle.to_string_lossy().into_owned();
    let pushed = ok(
        &share(
            &["push", &discovery, "--collection", "shared", &file],
            PASSWORD,
        ),
        "push",
    );
    let sent = versions(&bundle);
    assert!(
        pushed.contains(&format!("success {}, failure 0, pending 0", sent.len())),
        "{pushed}"
    );
    let requests: usize = pushed
        .split(" in ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("request count");
    assert!(
        requests > 1,
        "a bundle larger than max_content_length takes several requests: {pushed}"
    );

    let intel = dir.path().join("intel");
    let intel_arg = intel.to_string_lossy().into_owned();
    let pull = [
        "pull",
        &api_root,
        "--collection",
        COLLECTION,
        "--into",
        &intel_arg,
    ];
    let first = ok(&share(&pull, PASSWORD), "pull");
    assert!(
        first.contains(&format!("{} new, 0 updated", sent.len())),
        "{first}"
    );
    assert_eq!(
        versions(&pulled_bundle(&intel)),
        sent,
        "every pushed object comes back"
    );

    let second = ok(&share(&pull, PASSWORD), "second pull");
    assert!(second.contains("0 objects (0 indicators)"), "{second}");
    assert!(second.contains("0 new, 0 updated"), "{second}");

    // The same objects again: medallion refuses each as already present.
    let again = share(
        &["push", &api_root, "--collection", COLLECTION, &file],
        PASSWORD,
    );
    assert_eq!(
        again.status.code(),
        Some(1),
        "{}\n{}",
        stdout(&again),
        stderr(&again)
    );
    assert!(
        stdout(&again).contains("failed: ") && stdout(&again).contains("Unable to process object")
    );

    // The incident itself, redacted, sent as `incidents export` exports it (into a second
    // collection, so that every object counts as a success: the observables both exports
    // share would be duplicates in the first).
    let flags = [
        "--producer",
        "Example Treasury SOC",
        "--tlp",
        "amber",
        "--redact",
        "internal",
    ];
    let redacted = run(tocsin()
        .args([
            "share",
            "push",
            &api_root,
            "--collection",
            "redacted",
            "--incident",
            &incident,
        ])
        .arg("--store")
        .arg(&store)
        .args(flags)
        .args(["--user", USER])
        .env("TOCSIN_TAXII_PASSWORD", PASSWORD));
    let redacted = ok(&redacted, "push --incident");
    let exported = dir.path().join("redacted.json");
    let out = run(tocsin()
        .args(["incidents", "export", &incident, "--store"])
        .arg(&store)
        .arg("-o")
        .arg(&exported)
        .args(flags));
    ok(&out, "export --redact");
    let expected = versions(&exported);
    assert!(
        redacted.contains(&format!("success {}, failure 0", expected.len())),
        "{redacted}"
    );
    let intel2 = dir.path().join("intel2");
    let intel2_arg = intel2.to_string_lossy().into_owned();
    let pull2 = [
        "pull",
        &discovery,
        "--collection",
        "redacted",
        "--into",
        &intel2_arg,
    ];
    ok(&share(&pull2, PASSWORD), "pull of the redacted collection");
    assert_eq!(versions(&pulled_bundle(&intel2)), expected);
}

#[test]
fn a_wrong_password_is_a_clear_error_naming_the_url_and_401() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let medallion = Medallion::start(&python, dir.path());
    let api_root = medallion.url("api1/");
    let out = share(&["collections", &api_root], "wrong");
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(&api_root) && text.contains("HTTP 401"),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    let intel = dir.path().join("intel");
    let out = share(
        &[
            "pull",
            &api_root,
            "--collection",
            "shared",
            "--into",
            &intel.to_string_lossy(),
        ],
        "wrong",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HTTP 401"), "{}", stderr(&out));
    assert!(!intel.exists(), "a refused pull writes nothing");
}

#[test]
fn serve_pulls_a_collection_on_a_schedule_and_reloads_its_rules() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, _, bundle) = demo_export(dir.path());
    let medallion = Medallion::start(&python, dir.path());
    let file = bundle.to_string_lossy().into_owned();
    let api_root = medallion.url("api1/");
    ok(
        &share(
            &["push", &api_root, "--collection", "shared", &file],
            PASSWORD,
        ),
        "push",
    );
    let config = common::serve::config(
        dir.path(),
        &format!(
            "[[share.pull]]\nurl = \"{}\"\ncollection = \"shared\"\nuser = \"{USER}\"\n\
             password_env = \"PARTNER_TAXII_PASSWORD\"\nevery_seconds = 1\n",
            medallion.url("taxii2/")
        ),
    );
    let data = dir.path().join("serve");
    std::fs::create_dir_all(&data).expect("data folder");
    let server = common::serve::Server::launch(
        &data,
        common::serve::Launch {
            config: Some(&config),
            env: &[("PARTNER_TAXII_PASSWORD", PASSWORD)],
            ..common::serve::Launch::default()
        },
    );
    let intel = data.join("intel");
    let log = data.with_extension("log");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pulled = std::fs::read_dir(&intel).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "json"))
        });
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(pulled) = pulled {
            if text.contains("TAXII pull: rules reloaded") {
                assert_eq!(versions(&pulled), versions(&bundle));
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "serve did not pull and reload within 60 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let token = common::serve::token(&data, "admin");
    let metrics = common::serve::get(&server, "/metrics", Some(&token));
    let pulls = metrics
        .body
        .lines()
        .find_map(|line| line.strip_prefix("tocsin_taxii_pulls_total "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(pulls.is_some_and(|n| n >= 1), "{}", metrics.body);
    assert!(
        metrics
            .body
            .contains("\ntocsin_taxii_pull_failures_total 0\n"),
        "{}",
        metrics.body
    );
    drop(server);
}
