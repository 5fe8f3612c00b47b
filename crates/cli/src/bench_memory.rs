//! `tocsin bench --memory`: how a hunt's peak memory grows with its input when correlations
//! and the behavioural detectors keep state until the replay.
//!
//! It writes a generated input of failed network logons (every one a match of a rule a
//! correlation references) beside a remote-support API audit log (every line an event the
//! behavioural detectors watch), at two sizes, and hunts each twice, each in a fresh process: with
//! the rule alone (the baseline: nothing is kept) and with the correlation and
//! `--behaviour`. It prints each hunt's peak resident memory and the ratio of the two, so
//! the figure holds on any machine; memory that grows with the input shows as a ratio that
//! grows with the size.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use clap::Parser;

use crate::args::{Cli, Command};

/// The rule the correlation references, and the correlation.
const RULES: &str = r"title: Failed Network Logon
id: 8d6c0b57-0000-4000-8000-00000000be01
name: bench_failed_logon
logsource: {product: windows, service: security}
detection:
    selection: {EventID: 4625, LogonType: 3}
    condition: selection
level: low
---
title: Repeated Failed Logons
id: 8d6c0b57-0000-4000-8000-00000000be02
correlation:
    type: event_count
    rules: [bench_failed_logon]
    group-by: [TargetUserName, IpAddress]
    timespan: 5m
    condition: {gte: 5}
level: medium
";

/// Runs the memory benchmark over `events` and four times as many.
pub fn run(events: usize) -> Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let rule_only = dir.path().join("rule.yml");
    let first_document = RULES.split("---").next().unwrap_or(RULES);
    std::fs::write(&rule_only, first_document).context("cannot write the rule")?;
    let correlated = dir.path().join("correlated.yml");
    std::fs::write(&correlated, RULES).context("cannot write the rules")?;
    println!(
        "{:>9} {:>9} {:>22} {:>30} {:>6}",
        "events", "input", "peak, rule alone", "peak, correlation + behaviour", "ratio"
    );
    for size in [events, events * 4] {
        let input = dir.path().join(format!("input-{size}"));
        std::fs::create_dir_all(&input).context("cannot create the input folder")?;
        let bytes = write_input(&input, size)?;
        let alone = peak_of_hunt(&input, &rule_only, false)?;
        let kept = peak_of_hunt(&input, &correlated, true)?;
        println!(
            "{:>9} {:>9} {:>22} {:>30} {:>6}",
            size * 2,
            mebibytes(bytes),
            mebibytes(alone),
            mebibytes(kept),
            format!("{:.2}", kept as f64 / alone.max(1) as f64),
        );
    }
    Ok(())
}

/// Writes `size` failed logons and `size` API audit lines into `dir`; returns the bytes
/// written.
fn write_input(dir: &Path, size: usize) -> Result<u64> {
    let logons = dir.join("security.jsonl");
    let audit = dir.join("api-audit.jsonl");
    let mut out = BufWriter::new(std::fs::File::create(&logons).context("cannot write")?);
    for n in 0..size {
        writeln!(out, "{}", failed_logon(n)).context("cannot write the logons")?;
    }
    out.flush().context("cannot write the logons")?;
    let mut out = BufWriter::new(std::fs::File::create(&audit).context("cannot write")?);
    for n in 0..size {
        writeln!(out, "{}", api_call(n)).context("cannot write the audit log")?;
    }
    out.flush().context("cannot write the audit log")?;
    let size_of = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
    Ok(size_of(&logons) + size_of(&audit))
}

/// A time `n` seconds into 1 December 2024, as RFC 3339.
fn time(n: usize) -> String {
    let seconds = n % 86_400;
    let day = 1 + (n / 86_400) % 28;
    format!(
        "2024-12-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// A Windows failed network logon in the `evtx` crate's JSON layout, with the usual
/// fields of a real 4625 record.
fn failed_logon(n: usize) -> String {
    serde_json::json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
            "EventID": 4625, "EventRecordID": n + 1, "Channel": "Security",
            "Computer": format!("dc{:02}.corp.example", n % 7),
            "TimeCreated": {"#attributes": {"SystemTime": time(n)}}
        },
        "EventData": {
            "SubjectUserSid": "S-1-0-0", "SubjectUserName": "-", "SubjectDomainName": "-",
            "SubjectLogonId": "0x0", "TargetUserSid": "S-1-0-0",
            "TargetUserName": format!("user{}", n % 5000), "TargetDomainName": "CORP",
            "Status": "0xc000006d", "FailureReason": "%%2313", "SubStatus": "0xc000006a",
            "LogonType": 3, "LogonProcessName": "NtLmSsp ", "AuthenticationPackageName": "NTLM",
            "WorkstationName": format!("WS-{:04}", n % 3000), "TransmittedServices": "-",
            "LmPackageName": "-", "KeyLength": 0, "ProcessId": "0x0", "ProcessName": "-",
            "IpAddress": format!("10.{}.{}.{}", n % 200, n / 200 % 250, n % 250 + 1),
            "IpPort": (n % 60_000 + 1024).to_string()
        }
    }})
    .to_string()
}

/// A remote-support API call, which the behavioural detectors watch.
fn api_call(n: usize) -> String {
    serde_json::json!({
        "time": time(n), "site": "support.example.com",
        "api_key_id": format!("k-{:04}", n % 40), "api_key_name": "integration",
        "source_ip": format!("198.51.100.{}", n % 20 + 1), "user_agent": "python-requests/2.31",
        "action": "session.list", "target": "", "result": "success",
        "request_id": format!("r-{n}")
    })
    .to_string()
}

/// Hunts `input` with `rules` in a fresh process (`bench --probe-hunt`), so that no memory
/// an earlier hunt left with the allocator counts; the peak resident memory of that hunt.
fn peak_of_hunt(input: &Path, rules: &Path, behaviour: bool) -> Result<u64> {
    let exe = std::env::current_exe().context("cannot find the tocsin binary")?;
    let mut hunt = vec![
        input.display().to_string(),
        "--rules".to_owned(),
        rules.display().to_string(),
        "--format".to_owned(),
        "jsonl".to_owned(),
        "--output".to_owned(),
        "/dev/null".to_owned(),
        "--quiet".to_owned(),
    ];
    if behaviour {
        hunt.push("--behaviour".to_owned());
    }
    let out = std::process::Command::new(exe)
        .args(["bench", "--probe-hunt"])
        .args(&hunt)
        .output()
        .context("cannot run the measured hunt")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!(
            "the measured hunt failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    stdout
        .trim()
        .strip_prefix("peak ")
        .and_then(|bytes| bytes.parse().ok())
        .with_context(|| format!("the measured hunt printed {stdout:?}, not its peak"))
}

/// The child side of [`peak_of_hunt`]: runs `tocsin hunt HUNT...` in this process and
/// prints `peak BYTES`.
pub fn probe(hunt: &[String]) -> Result<()> {
    let argv = ["tocsin", "hunt"]
        .into_iter()
        .map(str::to_owned)
        .chain(hunt.iter().cloned());
    let cli = Cli::try_parse_from(argv).context("the benchmark's own hunt flags")?;
    let Command::Hunt(args) = cli.command else {
        anyhow::bail!("the benchmark's hunt parsed as another command");
    };
    crate::hunt::run(&args)?;
    let peak = crate::bench::peak_memory()
        .context("peak memory is read from /proc/self/status (Linux)")?;
    println!("peak {peak}");
    Ok(())
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}
