//! What every end-to-end test file needs: the real binary, run, and its output as text;
//! and the fixtures most of them share.

pub mod serve;

use std::process::{Command, Output};

/// The `tocsin` binary under test, without colours, its compiled-rule cache in the build's
/// temporary folder rather than the user's (shared by the tests, which then also check
/// that what it reads back finds what a compilation finds).
pub fn tocsin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.env("NO_COLOR", "1").env(
        "TOCSIN_CACHE_DIR",
        concat!(env!("CARGO_TARGET_TMPDIR"), "/rule-cache"),
    );
    cmd
}

/// Runs a command to its end.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("tocsin runs")
}

/// The python named by the variable `env` (a venv with
/// `conformance/<folder>/requirements.txt`, which `.ci/run` creates), or `None` after a loud
/// message saying how to make one; `what` names the check that needs it. Missing under CI,
/// it is a failure, never a skip.
#[allow(dead_code)] // not every test file runs a Python check
pub fn venv_python(env: &str, what: &str, folder: &str) -> Option<std::path::PathBuf> {
    if let Some(python) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return Some(std::path::PathBuf::from(python));
    }
    tocsin_testdata::skip_outside_ci(&format!(
        "{env} is not set: {what} needs a python with conformance/{folder}/requirements.txt \
         installed (python3 -m venv V && V/bin/pip install -r \
         conformance/{folder}/requirements.txt && export {env}=V/bin/python)"
    ));
    None
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A rule for `whoami.exe` runs, the fixture of most end-to-end tests.
#[allow(dead_code)] // not every test file uses every fixture
pub const WHOAMI_RULE: &str = r"title: Whoami Execution
id: 5b6a4ae1-0000-4000-8000-00000000c0de
status: test
author: tocsin tests
level: high
tags: [attack.discovery, attack.t1033]
logsource:
  category: process_creation
  product: windows
detection:
  selection:
    Image|endswith: '\whoami.exe'
  condition: selection
";

/// A Sysmon process-creation event as JSON Lines, in the evtx crate's layout.
#[allow(dead_code)]
pub fn sysmon_line(record: u64, image: &str) -> String {
    serde_json::json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1,
            "EventRecordID": record,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "ws-017.corp.example",
            "TimeCreated": {"#attributes": {"SystemTime": "2024-12-05T10:11:12.000001Z"}}
        },
        "EventData": {"Image": image, "CommandLine": image}
    }})
    .to_string()
}
