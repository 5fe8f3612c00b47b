//! End-to-end tests of `tocsin rules update` with the real binary: packages served by a
//! local HTTP server (127.0.0.1), local zips and folders, what the report says, `hunt`
//! with the installed set, and failures (unreachable, corrupt, wrong checksum, an escaping
//! entry) that must leave the installed rules as they were.

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use common::{run, stderr, stdout, sysmon_line, tocsin, WHOAMI_RULE};

/// A rule for one image, with its own id and title.
fn rule(id: &str, title: &str, image: &str) -> String {
    format!(
        "title: {title}\nid: {id}\nstatus: test\nlevel: high\nlogsource:\n  category: process_creation\n  product: windows\ndetection:\n  selection:\n    Image|endswith: '\\{image}'\n  condition: selection\n"
    )
}

/// A zip of `(name, text)` entries, deflated, as SigmaHQ's packages are.
fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in entries {
        writer.start_file(*name, options).expect("zip entry");
        writer.write_all(text.as_bytes()).expect("zip data");
    }
    writer.finish().expect("zip").into_inner()
}

/// A tiny HTTP/1.1 server on 127.0.0.1 serving fixed bodies by path (404 otherwise), one
/// connection at a time, on a thread that ends with the test process.
struct Server {
    port: u16,
    bodies: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let bodies: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let served = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = respond(stream, &served);
            }
        });
        Server { port, bodies }
    }

    /// Serves `body` at `path`; returns its URL.
    fn serve(&self, path: &str, body: Vec<u8>) -> String {
        self.bodies
            .lock()
            .expect("lock")
            .insert(path.to_owned(), body);
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn respond(stream: TcpStream, bodies: &Mutex<HashMap<String, Vec<u8>>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let body = bodies.lock().expect("lock").get(&path).cloned();
    let mut stream = stream;
    match body {
        Some(body) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/zip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body)?;
        }
        None => write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found"
        )?,
    }
    stream.flush()
}

/// A test's data folder and scratch space.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `tocsin ARGS` with this data folder.
    fn tocsin(&self, args: &[&str]) -> Output {
        let mut cmd: Command = tocsin();
        cmd.env("TOCSIN_DATA_DIR", self.data()).args(args);
        run(&mut cmd)
    }

    fn update(&self, source: &str, extra: &[&str]) -> Output {
        let mut args = vec!["rules", "update", "--source", source];
        args.extend_from_slice(extra);
        self.tocsin(&args)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, bytes).expect("write");
        path
    }

    /// Every file under the data folder but the lock, with its bytes: what "untouched"
    /// compares.
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        snapshot_into(&self.data(), &self.data(), &mut files);
        files.remove(Path::new("rules/.lock"));
        files
    }

    /// A hunt over one whoami and one notepad process, without --rules.
    fn hunt(&self) -> Output {
        let logs = [
            sysmon_line(1, "C:\\Windows\\System32\\whoami.exe"),
            sysmon_line(2, "C:\\Windows\\System32\\notepad.exe"),
        ]
        .join("\n");
        let input = self.write("events.jsonl", logs.as_bytes());
        let input = input.to_string_lossy().into_owned();
        self.tocsin(&["hunt", &input, "--format", "jsonl"])
    }
}

fn snapshot_into(root: &Path, dir: &Path, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            snapshot_into(root, &path, files);
        } else {
            let relative = path.strip_prefix(root).expect("inside").to_path_buf();
            files.insert(relative, std::fs::read(&path).expect("read"));
        }
    }
}

/// The first package: whoami and net.exe.
fn first_package() -> Vec<u8> {
    zip_of(&[
        ("rules/windows/whoami.yml", WHOAMI_RULE),
        (
            "rules/windows/net.yml",
            &rule("00000000-0000-4000-8000-000000000002", "Net Use", "net.exe"),
        ),
        ("LICENSE", "Detection Rule License"),
    ])
}

/// Installs [`first_package`] from `server`; returns the snapshot after it.
fn install_first(env: &Env, server: &Server) -> BTreeMap<PathBuf, Vec<u8>> {
    let url = server.serve("/sigma_core.zip", first_package());
    let out = env.update(&url, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let snapshot = env.snapshot();
    assert!(
        snapshot.keys().any(|p| p.ends_with("windows/whoami.yml")),
        "{snapshot:?}"
    );
    snapshot
}

#[test]
fn first_install_from_a_url_then_hunt_uses_it() {
    let env = Env::new();
    let server = Server::start();
    let url = server.serve("/sigma_core.zip", first_package());
    let out = env.update(&url, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("installed 2 rules and 0 correlations from 2 rule files\n"),
        "{text}"
    );
    assert!(text.contains(&format!("  source: {url}\n")), "{text}");
    assert!(text.contains("  sha256: "), "{text}");
    assert!(
        text.contains(
            "changes: 2 added, 0 removed, 0 changed, 0 unchanged (nothing was installed before)"
        ),
        "{text}"
    );
    assert!(
        text.contains("  + Whoami Execution (rules/windows/whoami.yml)"),
        "{text}"
    );

    // `hunt` with no --rules uses the installed set and says so.
    let out = env.hunt();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rules: the installed set in "),
        "{}",
        stderr(&out)
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains("5b6a4ae1-0000-4000-8000-00000000c0de"),
        "{}",
        lines[0]
    );

    // `rules lint` with no paths lints them.
    let out = env.tocsin(&["rules", "lint"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rules: the installed set in "),
        "{}",
        stderr(&out)
    );

    // `rules list` with no paths lists them too.
    let out = env.tocsin(&["rules", "list", "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");

    // --rules still wins over the installed set.
    let input = env.dir.path().join("events.jsonl");
    let out = env.tocsin(&["hunt", &input.to_string_lossy(), "--rules", "builtin", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stdout(&out).contains("Whoami Execution"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn installs_from_a_local_zip_and_from_a_folder() {
    let env = Env::new();
    let zip = env.write("pack.zip", &first_package());
    let out = env.update(&zip.to_string_lossy(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("2 added"), "{}", stdout(&out));

    let folder = env.dir.path().join("mine");
    env.write("mine/whoami.yml", WHOAMI_RULE.as_bytes());
    env.write(
        "mine/sub/certutil.yml",
        rule(
            "00000000-0000-4000-8000-000000000003",
            "Certutil",
            "certutil.exe",
        )
        .as_bytes(),
    );
    env.write("mine/.git/config", b"[core]");
    let out = env.update(&folder.to_string_lossy(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("sha256"), "a folder has no digest: {text}");
    assert!(
        text.contains("changes: 1 added, 1 removed, 0 changed, 1 unchanged (since "),
        "{text}"
    );
    assert!(text.contains("  + Certutil (sub/certutil.yml)"), "{text}");
    assert!(
        text.contains("  - Net Use (rules/windows/net.yml)"),
        "{text}"
    );
    assert!(
        !env.snapshot()
            .keys()
            .any(|p| p.to_string_lossy().contains(".git")),
        "hidden files are not copied"
    );
    // --sha256 checks zips only.
    let out = env.update(&folder.to_string_lossy(), &["--sha256", &"0".repeat(64)]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn an_update_compiles_the_new_set_into_the_rule_cache_the_next_hunt_reads() {
    let env = Env::new();
    let cache = env.dir.path().join("cache");
    let entries = || -> Vec<PathBuf> {
        std::fs::read_dir(cache.join("rules")).map_or_else(
            |_| Vec::new(),
            |entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "bin"))
                    .collect()
            },
        )
    };
    let zip = env.write("pack.zip", &first_package());
    let out = run(tocsin()
        .env("TOCSIN_DATA_DIR", env.data())
        .env("TOCSIN_CACHE_DIR", &cache)
        .args(["rules", "update", "--source", &zip.to_string_lossy()]));
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = entries();
    assert_eq!(
        stored.len(),
        1,
        "the update stored the compiled set: {stored:?}"
    );
    // A hunt without --rules reads that entry: it stores none of its own.
    let input = env.write("events.jsonl", sysmon_line(1, "C:\\whoami.exe").as_bytes());
    let out = run(tocsin()
        .env("TOCSIN_DATA_DIR", env.data())
        .env("TOCSIN_CACHE_DIR", &cache)
        .arg("hunt")
        .arg(&input)
        .args(["--format", "jsonl"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Whoami Execution"),
        "{}",
        stdout(&out)
    );
    assert_eq!(entries(), stored);
    // Without the cache, the update stores nothing.
    let off = env.dir.path().join("off");
    let out = run(tocsin()
        .env("TOCSIN_DATA_DIR", env.data())
        .env("TOCSIN_CACHE_DIR", &off)
        .env("TOCSIN_NO_RULE_CACHE", "1")
        .args(["rules", "update", "--source", &zip.to_string_lossy()]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!off.exists(), "TOCSIN_NO_RULE_CACHE wrote a cache");
}

#[test]
fn an_update_reports_added_removed_and_changed_rules() {
    let env = Env::new();
    let server = Server::start();
    install_first(&env, &server);
    let edited = WHOAMI_RULE.replace("level: high", "level: critical");
    let second = zip_of(&[
        ("rules/windows/whoami.yml", &edited),
        (
            "rules/windows/psexec.yml",
            &rule(
                "00000000-0000-4000-8000-000000000004",
                "PsExec",
                "psexec.exe",
            ),
        ),
    ]);
    let url = server.serve("/sigma_core.zip", second);
    // A dry run reports the same changes and installs nothing.
    let before = env.snapshot();
    let out = env.update(&url, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("would install (dry run"),
        "{}",
        stdout(&out)
    );
    assert_eq!(env.snapshot(), before);

    let out = env.update(&url, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "changes: 1 added, 1 removed, 1 changed, 0 unchanged (since {url}, installed "
        )),
        "{text}"
    );
    assert!(
        text.contains("added:\n  + PsExec (rules/windows/psexec.yml)\n"),
        "{text}"
    );
    assert!(
        text.contains("removed:\n  - Net Use (rules/windows/net.yml)\n"),
        "{text}"
    );
    assert!(
        text.contains("changed:\n  ~ Whoami Execution (rules/windows/whoami.yml)\n"),
        "{text}"
    );
    let out = env.hunt();
    assert!(stdout(&out).contains("critical"), "{}", stdout(&out));
}

/// Runs an update that must fail, naming `source` and `reason`, and leave the set as it was.
fn assert_refused(
    env: &Env,
    before: &BTreeMap<PathBuf, Vec<u8>>,
    source: &str,
    extra: &[&str],
    reason: &str,
) {
    let out = env.update(source, extra);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("error: cannot update the rules from {source}")),
        "{err}"
    );
    assert!(err.contains(reason), "{err}");
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert_eq!(&env.snapshot(), before, "the installed set changed");
    // And the hunt still runs with it.
    let out = env.hunt();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Whoami Execution"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_unreachable_or_missing_package_leaves_the_installed_set_untouched() {
    let env = Env::new();
    let server = Server::start();
    let before = install_first(&env, &server);
    // A port nobody listens on: connection refused.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let refused = format!("http://127.0.0.1:{port}/sigma_core.zip");
    assert_refused(&env, &before, &refused, &[], "download failed");
    let missing = format!("http://127.0.0.1:{}/nothing.zip", server.port);
    assert_refused(&env, &before, &missing, &[], "404");
    assert_refused(
        &env,
        &before,
        "no/such/file.zip",
        &[],
        "no such file or folder",
    );
}

#[test]
fn a_corrupt_package_leaves_the_installed_set_untouched() {
    let env = Env::new();
    let server = Server::start();
    let before = install_first(&env, &server);
    let page = server.serve("/page.zip", b"<html>rate limited</html>".to_vec());
    assert_refused(&env, &before, &page, &[], "not a readable zip archive");
    let mut truncated = first_package();
    truncated.truncate(truncated.len() / 2);
    let cut = server.serve("/cut.zip", truncated);
    assert_refused(&env, &before, &cut, &[], "not a readable zip archive");
    // A zip, but of no rule tocsin can load.
    let junk = server.serve(
        "/junk.zip",
        zip_of(&[("rules/a.yml", "title: [unclosed"), ("README.md", "hi")]),
    );
    assert_refused(
        &env,
        &before,
        &junk,
        &[],
        "no rule of the package could be loaded",
    );
}

#[test]
fn a_wrong_sha256_leaves_the_installed_set_untouched() {
    let env = Env::new();
    let server = Server::start();
    let before = install_first(&env, &server);
    let url = server.serve("/sigma_core.zip", first_package());
    let wrong = "ab".repeat(32);
    assert_refused(
        &env,
        &before,
        &url,
        &["--sha256", &wrong],
        &format!("expected {wrong}"),
    );
    assert_refused(
        &env,
        &before,
        &url,
        &["--sha256", "12345"],
        "64 hexadecimal digits",
    );
    // The right one (in capitals) passes.
    let digest = stdout(&env.update(&url, &["--dry-run"]))
        .lines()
        .find_map(|l| l.strip_prefix("  sha256: ").map(str::to_owned))
        .expect("a digest");
    let out = env.update(&url, &["--sha256", &digest.to_uppercase()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 added, 0 removed, 0 changed, 2 unchanged"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_zip_with_an_escaping_entry_is_refused() {
    let env = Env::new();
    let server = Server::start();
    let before = install_first(&env, &server);
    let evil = zip_of(&[
        ("rules/whoami.yml", WHOAMI_RULE),
        ("../../escaped.yml", WHOAMI_RULE),
    ]);
    let url = server.serve("/evil.zip", evil);
    assert_refused(&env, &before, &url, &[], "points outside the package");
    assert!(!env.dir.path().join("escaped.yml").exists());
    assert!(!env.data().join("escaped.yml").exists());
}

#[test]
fn nothing_installed_is_a_clear_error() {
    let env = Env::new();
    let out = env.hunt();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("no rules given and none installed"), "{err}");
    assert!(err.contains("--rules PATH"), "{err}");
    assert!(err.contains("tocsin rules update"), "{err}");
    let out = env.tocsin(&["rules", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("--builtin"), "{}", stderr(&out));
    let out = env.tocsin(&["rules", "lint"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("tocsin rules update"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_subset_of_sigmahq_installs_and_hunts() {
    // SigmaHQ's own rules, read in place from the shared corpus (never copied here).
    let Some(rules) = tocsin_testdata::shared_path("sigma/rules/rules/windows/process_creation")
    else {
        tocsin_testdata::skip_outside_ci("no shared SigmaHQ rules");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&rules)
        .expect("read rules")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files.truncate(40);
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy();
            (
                format!("rules/windows/process_creation/{name}"),
                std::fs::read_to_string(p).expect("rule text"),
            )
        })
        .collect();
    let entries: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let env = Env::new();
    let server = Server::start();
    let url = server.serve("/sigma_core%2B.zip", zip_of(&entries));
    let out = env.update(&url, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("changes: {} added", files.len())),
        "{}",
        stdout(&out)
    );
    let out = env.hunt();
    assert!(out.status.success(), "{}", stderr(&out));
}
