//! A real `tocsin serve` for end-to-end tests: started on free loopback ports over a data
//! folder, called over HTTP, stopped with SIGTERM or SIGKILL, killed when dropped. Every
//! test file that talks to the service uses this one harness.

// Not every test file uses every helper; test code may panic.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{run, stderr, stdout, tocsin};

/// A running `tocsin serve`.
pub struct Server {
    child: Child,
    /// Where the HTTP API listens (`host:port`).
    pub addr: String,
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Where syslog over TCP is received, when asked for.
    pub syslog_tcp: Option<String>,
    /// Where syslog over UDP is received, when asked for.
    pub syslog_udp: Option<String>,
    /// Where syslog over TLS is received, when configured.
    pub syslog_tls: Option<String>,
}

/// What a service is started with beyond its data folder.
#[derive(Default)]
pub struct Launch<'a> {
    /// The configuration file.
    pub config: Option<&'a Path>,
    /// Extra command-line flags.
    pub flags: &'a [&'a str],
    /// Extra environment variables.
    pub env: &'a [(&'a str, &'a str)],
}

impl Server {
    /// Starts the service on a free loopback port over `data`, with `config` if given.
    pub fn start(data: &Path, config: Option<&Path>) -> Server {
        Server::launch(
            data,
            Launch {
                config,
                ..Launch::default()
            },
        )
    }

    /// Starts the service with extra flags.
    pub fn start_with(data: &Path, config: Option<&Path>, flags: &[&str]) -> Server {
        Server::launch(
            data,
            Launch {
                config,
                flags,
                env: &[],
            },
        )
    }

    /// Starts the service as `launch` says; waits until it says where it listens (and,
    /// with `--syslog-*` or a syslog TLS listener, where syslog is received). Its log goes
    /// to `data` with the extension `log`.
    pub fn launch(data: &Path, launch: Launch<'_>) -> Server {
        let mut command = tocsin();
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(launch.flags)
            .envs(launch.env.iter().copied());
        if let Some(config) = launch.config {
            command.arg("--config").arg(config);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.with_extension("log"))
            .unwrap();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut said = BTreeMap::new();
        let wanted = 1
            + launch
                .flags
                .iter()
                .filter(|f| f.starts_with("--syslog"))
                .count()
            + usize::from(launch.config.is_some_and(|c| {
                std::fs::read_to_string(c)
                    .unwrap_or_default()
                    .contains("tls_listen")
            }));
        while said.len() < wanted {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
                panic!("serve stopped before listening: {log}");
            };
            for (prefix, key) in [
                ("tocsin serve: listening on http://", "http"),
                ("tocsin serve: listening on https://", "https"),
                ("tocsin serve: syslog over TLS on ", "tls"),
                ("tocsin serve: syslog over TCP on ", "tcp"),
                ("tocsin serve: syslog over UDP on ", "udp"),
            ] {
                if let Some(addr) = line.strip_prefix(prefix) {
                    said.insert(key, addr.to_owned());
                }
            }
        }
        // Whatever it prints later is read, so that its stdout never closes on it.
        std::thread::spawn(move || lines.for_each(drop));
        let (scheme, addr) = match said.get("https") {
            Some(addr) => ("https", addr.clone()),
            None => ("http", said["http"].clone()),
        };
        Server {
            child,
            addr,
            scheme,
            syslog_tcp: said.get("tcp").cloned(),
            syslog_udp: said.get("udp").cloned(),
            syslog_tls: said.get("tls").cloned(),
        }
    }

    /// The URL of `path` on the service.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{path}", self.scheme, self.addr)
    }

    /// Waits until `/readyz` says the pipeline consumes: the service prints where it listens
    /// before its consumer thread has started, as an orchestrator's readiness probe expects.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = get(self, "/readyz", None);
            if ready.status == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "never ready: {}", ready.body);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and the exit status once it drained.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }

    /// Waits up to `timeout` for the service to stop by itself; its exit status.
    pub fn wait_exit(mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the service did not stop within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The service's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to drain or save.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The pipeline's counters from `/api/v1/status`.
    pub fn pipeline(&self, token: &str) -> serde_json::Value {
        let status = get(self, "/api/v1/status", Some(token));
        assert_eq!(status.status, 200, "{}", status.body);
        status.json()["pipeline"].clone()
    }

    /// Waits until the pipeline has committed everything the spool holds and nothing is
    /// held for order or awaiting grouping; the pipeline's counters then.
    pub fn wait_drained(&self, token: &str) -> serde_json::Value {
        self.wait_for(token, "events", 0)
    }

    /// Waits until `counter` reaches `value` and the pipeline is drained (the detection
    /// counter moves when detections are grouped).
    pub fn wait_for(&self, token: &str, counter: &str, value: u64) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let pipeline = self.pipeline(token);
            let reached = pipeline[counter].as_u64().unwrap_or(0) >= value;
            let settled = pipeline["held_for_order"] == 0 && pipeline["awaiting_grouping"] == 0;
            if reached
                && settled
                && pipeline["consuming"] == true
                && pipeline["committed_position"] == pipeline["spool_end"]
            {
                return pipeline;
            }
            assert!(
                Instant::now() < deadline,
                "{counter} not {value} or not drained: {pipeline}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that returns 4xx and 5xx answers instead of failing on them.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A status, a body, and the headers tests look at.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as text.
    pub body: String,
    /// The `Retry-After` header.
    pub retry_after: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// The answer of a request that reached the service.
pub fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = result.unwrap();
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header("retry-after");
    let content_type = header("content-type");
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        body,
        retry_after,
        content_type,
    }
}

/// `GET path`, with a bearer token if given.
pub fn get(server: &Server, path: &str, token: Option<&str>) -> Answer {
    let mut request = agent().get(server.url(path));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    answer(request.call())
}

/// `PATCH path` with `body`, with a bearer token if given.
pub fn patch(server: &Server, path: &str, token: Option<&str>, body: &str) -> Answer {
    let mut request = agent().patch(server.url(path));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    answer(request.send(body.as_bytes()))
}

/// `POST path` with `body`, with a bearer token if given.
pub fn post(server: &Server, path: &str, token: Option<&str>, body: &[u8]) -> Answer {
    let mut request = agent().post(server.url(path));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    answer(request.send(body))
}

/// `bytes` gzipped, as log shippers send big batches.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Creates a token of `role` named after the role in `data` with `tocsin tokens create`.
pub fn token(data: &Path, role: &str) -> String {
    named_token(data, role, role)
}

/// Creates a token of `role` called `name` in `data` with `tocsin tokens create`.
pub fn named_token(data: &Path, name: &str, role: &str) -> String {
    let out = run(tocsin()
        .args(["tokens", "create", "--name", name, "--role", role, "--data"])
        .arg(data));
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

/// A configuration file `serve.toml` in `dir` with `text`.
pub fn config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("serve.toml");
    std::fs::write(&path, text).unwrap();
    path
}
