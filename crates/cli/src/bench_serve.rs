//! `tocsin bench --serve`: how fast `tocsin serve` takes and judges events, against a
//! `tocsin hunt` of the same events measured in the same run.
//!
//! Each scenario starts its own service (this executable, `serve` on a free loopback port
//! in a temporary data folder) and sends it a prepared input with [`crate::replay`]:
//! Windows events (the EVTX corpus rendered as JSON Lines, SigmaHQ rules plus `builtin`)
//! and the demo's appliance syslog (`builtin` rules), each over HTTP and over TCP.
//! Each input is looped to reach `--events`, and the steady phase loops on from there;
//! each loop's event times move on by the input's span (see [`crate::replay::Retime`]).
//! A plain repetition would measure something else: the same events again are detections
//! the store already holds (stored once), and times that go back make the events held for
//! order wait for the idle release, which holds the committed position back.
//! Three figures per scenario and transport:
//!
//! - the highest sustained rate: everything sent as fast as the service takes it, timed
//!   from the first send until every event's step is committed (the status's latency
//!   histogram has counted as many events as were decoded, and all were);
//! - latency at half that rate for `--duration` seconds: the difference of the status's
//!   latency histogram (receipt to commit) before and after, as p50 and p99 bucket bounds;
//! - the service's resident memory (`VmRSS`) over that phase, read every second: the
//!   median of the readings of its first tenth and of its last tenth (at least three each),
//!   and the highest. A single reading at each end says little: a service's memory swings by
//!   tens of MiB within seconds as steps and groupings come and go.
//!
//! The baseline is `tocsin hunt` of the same input with the same rules and `--behaviour`
//! (the service watches behaviour by default), its start-up and rule loading (a hunt of
//! one line) taken out: the decode and detect floor. The report prints each rate as a
//! share of the hunt's, also of a hunt with `--store` (the same detections and incidents
//! stored), and whether the targets are met. The sender and the service share
//! the machine's cores, as the hunt does not: the report says how many.
//!
//! Benchmarks measure and print; they assert nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tocsin_decode::DecodeOptions;

use crate::args::BenchArgs;
use crate::replay::{self, Pace, ReplayOptions, Retime, Summary, Target};

/// The upper bounds, in milliseconds, of the service's latency buckets (`latency_counts`
/// has one more, past the last).
const LATENCY_BOUNDS_MS: [u64; 20] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 1000, 2000, 5000, 10000,
];
/// Lines per HTTP request.
const BATCH: usize = 1000;
/// How often the service's status is read while waiting.
const POLL: Duration = Duration::from_millis(20);
/// How long the service may take to judge what it acknowledged.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);
/// The targets.
const WINDOWS_TARGET: f64 = 50_000.0;
const APPLIANCE_TARGET: f64 = 150_000.0;
const P99_TARGET_MS: u64 = 100;

/// Runs the benchmark and prints its report on standard output.
pub fn run(args: &BenchArgs) -> Result<i32> {
    let exe = std::env::current_exe().context("cannot find the tocsin executable")?;
    let work = tempfile::tempdir().context("cannot create a temporary folder")?;
    let settings = Settings::from_args(args, exe);
    print_header(&settings);
    let mut rows = Vec::new();
    for scenario in scenarios(args, &settings, work.path())? {
        let hunt = hunt_rates(&settings.exe, &scenario, work.path())?;
        for via in &scenario.transports {
            let dir = work
                .path()
                .join(format!("{}-{}", scenario.name, via.name()));
            let measured = measure(&scenario, *via, &settings, &dir)?;
            let row = Row {
                scenario: scenario.name,
                rules: scenario.rules_label,
                via: *via,
                target: scenario.target,
                measured,
                hunt,
            };
            row.print();
            rows.push(row);
        }
    }
    print_targets(&rows);
    Ok(0)
}

/// What every scenario shares.
struct Settings {
    exe: PathBuf,
    events: u64,
    duration: Duration,
    fsync_never: bool,
    only: Vec<String>,
    /// Whether the Windows events arrive in event time order (else file after file).
    in_time_order: bool,
    /// Where to keep the services' logs, if anywhere.
    service_logs: Option<PathBuf>,
}

impl Settings {
    fn from_args(args: &BenchArgs, exe: PathBuf) -> Settings {
        Settings {
            exe,
            events: args.serve.events,
            duration: Duration::from_secs(args.serve.duration.max(1)),
            fsync_never: args.serve.bench_fsync == "never",
            only: args.serve.scenario.clone(),
            in_time_order: args.serve.arrival == "time",
            service_logs: args.serve.service_logs.clone(),
        }
    }

    fn wants(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }
}

fn print_header(settings: &Settings) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "serve benchmark: {cores} cores shared by the sender and the service; spool fsync {}; \
         {} events per throughput phase; steady phase {} s at half the highest rate; Windows \
         events arrive {}",
        if settings.fsync_never {
            "never"
        } else {
            "always"
        },
        settings.events,
        settings.duration.as_secs(),
        if settings.in_time_order {
            "in event time order (a live feed; --arrival files for a backfill)"
        } else {
            "file after file (a backfill of archives: events years apart arrive mixed)"
        },
    );
    println!(
        "baseline: `tocsin hunt` of the same lines, same rules, --behaviour (one file: one \
         worker), start-up and rule loading taken out; inputs looped with their times moved on"
    );
    println!();
    println!(
        "{:<10} {:<14} {:<4} {:>8} {:>11} {:>11} {:>6} {:>7} {:>7} {:>10} {:>10} {:>7}",
        "scenario",
        "rules",
        "via",
        "events",
        "serve ev/s",
        "hunt ev/s",
        "ratio",
        "p50 ms",
        "p99 ms",
        "RSS start",
        "RSS end",
        "retries"
    );
}

/// How events reach the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Http,
    Tcp,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Http => "http",
            Via::Tcp => "tcp",
        }
    }
}

/// An input, its rules and how it is sent.
struct Scenario {
    name: &'static str,
    rules_label: &'static str,
    /// The prepared input: lines as `replay` sends them, the source looped to reach
    /// `--events`, each loop's times moved on.
    input: PathBuf,
    /// The source once, which the steady phase loops on from where `input` stopped.
    once: PathBuf,
    retime: Retime,
    /// Events a decoder makes of the input (appliance segments are joined).
    events: u64,
    /// Rule paths, for the service's configuration and the hunt.
    rules: Vec<String>,
    /// The decoder: the `?format=` of HTTP, the `[syslog] format` of TCP.
    format: &'static str,
    transports: Vec<Via>,
    /// The rate target, events per second.
    target: f64,
}

/// The scenarios the flags and the shared corpora allow; a missing corpus skips its
/// scenario with a message.
fn scenarios(args: &BenchArgs, settings: &Settings, work: &Path) -> Result<Vec<Scenario>> {
    let mut scenarios = Vec::new();
    if settings.wants("windows") {
        match windows_sources(args) {
            Ok((evtx, rules)) => scenarios.push(windows(&evtx, &rules, settings, work)?),
            Err(why) => println!("windows scenario skipped: {why:#}"),
        }
    }
    if settings.wants("appliance") {
        scenarios.push(appliance(settings, work)?);
    }
    if scenarios.is_empty() {
        bail!("no scenario to run");
    }
    Ok(scenarios)
}

/// The EVTX folder and the SigmaHQ rules: the flags, else the shared corpora.
fn windows_sources(args: &BenchArgs) -> Result<(PathBuf, PathBuf)> {
    let shared = std::env::var_os("TOCSIN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared"));
    let evtx = args.input.clone().unwrap_or_else(|| shared.join("evtx"));
    let rules = args
        .rules
        .clone()
        .unwrap_or_else(|| shared.join("sigma/rules"));
    for (path, flag) in [(&evtx, "--input"), (&rules, "--rules")] {
        if !path.exists() {
            bail!(
                "{} not found (pass {flag}, or set TOCSIN_SHARED to the folder holding evtx and sigma/rules)",
                path.display()
            );
        }
    }
    Ok((absolute(&evtx)?, absolute(&rules)?))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("cannot resolve {}", path.display()))
}

/// Windows events: every EVTX record as a JSON line, SigmaHQ rules plus `builtin`, over
/// HTTP and over TCP (one JSON object per octet-counted message, `[syslog] format = "json"`).
fn windows(evtx: &Path, rules: &Path, settings: &Settings, work: &Path) -> Result<Scenario> {
    let options = DecodeOptions {
        extensions: vec!["evtx".into()],
        ..DecodeOptions::default()
    };
    let (files, _) = tocsin_decode::discover(&[evtx.to_path_buf()], &options);
    if files.is_empty() {
        bail!("no .evtx file under {}", evtx.display());
    }
    let once = work.join("windows-once.jsonl");
    let records = replay::write_lines(&files, &once)?;
    if settings.in_time_order {
        sort_by_time(&once)?;
    }
    let input = work.join("windows.jsonl");
    let (times, retime) = loop_file(&once, records, settings.events, &input)?;
    Ok(Scenario {
        name: "windows",
        rules_label: "sigma+builtin",
        input,
        once,
        retime,
        events: records * times,
        rules: vec![rules.display().to_string(), "builtin".into()],
        format: "json",
        transports: vec![Via::Http, Via::Tcp],
        target: WINDOWS_TARGET,
    })
}

/// The demo's appliance syslog, `builtin` rules, over TCP and HTTP.
fn appliance(settings: &Settings, work: &Path) -> Result<Scenario> {
    let demo = work.join("demo");
    let out = Command::new(&settings.exe)
        .args(["demo", "--quiet", "--out"])
        .arg(&demo)
        .output()
        .context("cannot run tocsin demo")?;
    if !out.status.success() {
        bail!(
            "tocsin demo failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let once = demo.join("appliance.log");
    let lines = count_lines(&once)?;
    let events = count_events(&once, tocsin_decode::Format::Appliance)?;
    let input = work.join("appliance.log");
    let (times, retime) = loop_file(&once, lines, settings.events, &input)?;
    Ok(Scenario {
        name: "appliance",
        rules_label: "builtin",
        input,
        once,
        retime,
        events: events * times,
        rules: vec!["builtin".into()],
        format: "appliance",
        transports: vec![Via::Tcp, Via::Http],
        target: APPLIANCE_TARGET,
    })
}

/// Writes `source` into `out` as many times as it takes to reach `events` lines, each
/// time with its times moved on by the source's span and a day (see [`Retime`]); returns
/// how many times, and the retiming that goes on from there.
fn loop_file(source: &Path, lines: u64, events: u64, out: &Path) -> Result<(u64, Retime)> {
    const DAY: i64 = 86_400_000_000;
    let times = events.div_ceil(lines.max(1)).max(1);
    let span = replay::time_range(source)?.map_or(0, |(first, last)| last - first);
    let step_micros = span.div_euclid(DAY) * DAY + 2 * DAY;
    let text =
        std::fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
    let mut writer = std::io::BufWriter::new(
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?,
    );
    let mut moved = Vec::new();
    for cycle in 0..times {
        let retime = Retime {
            step_micros,
            first_cycle: cycle,
        };
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            replay::shift_times(line, retime.shift_micros(0), &mut moved);
            moved.push(b'\n');
            writer.write_all(&moved).context("cannot write the input")?;
        }
    }
    writer.flush().context("cannot write the input")?;
    Ok((
        times,
        Retime {
            step_micros,
            first_cycle: times,
        },
    ))
}

/// Puts the lines of `path` in event time order (as [`replay::line_time_micros`] reads
/// them; lines without a time first, each group in its order).
fn sort_by_time(path: &Path) -> Result<()> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort_by_cached_key(|line| replay::line_time_micros(line));
    let mut sorted = Vec::with_capacity(text.len() + 1);
    for line in lines {
        sorted.extend_from_slice(line);
        sorted.push(b'\n');
    }
    std::fs::write(path, sorted).with_context(|| format!("cannot write {}", path.display()))
}

fn count_lines(path: &Path) -> Result<u64> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64)
}

/// The events a decoder makes of the file.
fn count_events(path: &Path, format: tocsin_decode::Format) -> Result<u64> {
    let options = DecodeOptions {
        format: Some(format),
        ..DecodeOptions::default()
    };
    let source = tocsin_decode::open(path, &options)
        .with_context(|| format!("cannot decode {}", path.display()))?;
    Ok(source.flatten().count() as u64)
}

/// What one scenario measured over one transport.
struct Measured {
    max: Phase,
    steady: Phase,
    p50_ms: Option<u64>,
    p99_ms: Option<u64>,
    rss: RssReadings,
}

/// A phase: what was sent, and what the service made of it.
struct Phase {
    sent: Summary,
    elapsed: Duration,
    events: u64,
    detections: u64,
    incidents: u64,
    backpressure: u64,
}

impl Phase {
    /// The phase between two readings of the status.
    fn between(before: &Status, after: &Status, sent: Summary, elapsed: Duration) -> Phase {
        Phase {
            sent,
            elapsed,
            events: after.events_processed - before.events_processed,
            detections: after.detections_stored - before.detections_stored,
            incidents: after.incidents_saved - before.incidents_saved,
            backpressure: after.backpressure_refusals - before.backpressure_refusals,
        }
    }

    fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Starts a service for the scenario and measures the highest rate, then the steady phase.
fn measure(scenario: &Scenario, via: Via, settings: &Settings, dir: &Path) -> Result<Measured> {
    let service = Service::start(settings, scenario, via, dir)?;
    let target = service.target(via)?;
    let max = throughput(&service, scenario, &target)?;
    service.wait_drained(max.sent.events)?;
    let line_rate = max.sent.events as f64 / max.elapsed.as_secs_f64().max(1e-9);
    let before = service.status()?;
    let sampler = RssSampler::start(service.child.id());
    let steady = Loop {
        until: Instant::now() + settings.duration,
        retime: scenario.retime,
    };
    let sent = replay_input(scenario, &target, Pace::Rate(line_rate / 2.0), Some(steady));
    let rss = sampler.finish();
    let sent = sent?;
    let after = service.wait_drained(before.acknowledged() + sent.events)?;
    let latency = after.latency_since(&before);
    Ok(Measured {
        steady: Phase::between(&before, &after, sent.clone(), sent.elapsed),
        max,
        p50_ms: quantile_ms(&latency, 0.5),
        p99_ms: quantile_ms(&latency, 0.99),
        rss,
    })
}

/// How often the steady phase reads the service's resident memory.
const RSS_EVERY: Duration = Duration::from_secs(1);

/// The service's resident memory over a phase (see the module documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RssReadings {
    /// The median of the readings of the phase's first tenth.
    start: Option<u64>,
    /// The median of the readings of its last tenth.
    end: Option<u64>,
    /// The highest reading.
    peak: Option<u64>,
}

impl RssReadings {
    /// Summarises readings taken at a steady pace.
    fn of(readings: &[u64]) -> RssReadings {
        let tenth = (readings.len() / 10).max(3).min(readings.len());
        let median = |part: &[u64]| {
            let mut sorted = part.to_vec();
            sorted.sort_unstable();
            sorted.get(sorted.len() / 2).copied()
        };
        RssReadings {
            start: median(&readings[..tenth]),
            end: median(&readings[readings.len() - tenth..]),
            peak: readings.iter().copied().max(),
        }
    }
}

/// Reads a process's resident memory every [`RSS_EVERY`] on a thread of its own.
struct RssSampler {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut readings = Vec::new();
            loop {
                if let Some(bytes) = rss_bytes(pid) {
                    readings.push(bytes);
                }
                match stopped.recv_timeout(RSS_EVERY) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return readings,
                }
            }
        });
        RssSampler { stop, thread }
    }

    fn finish(self) -> RssReadings {
        let _ = self.stop.send(());
        let readings = self.thread.join().unwrap_or_default();
        RssReadings::of(&readings)
    }
}

/// The resident memory of process `pid` (Linux `VmRSS`).
fn rss_bytes(pid: u32) -> Option<u64> {
    crate::bench::status_bytes(&pid.to_string(), "VmRSS")
}

/// Sends the whole input as fast as the service takes it; timed until every event is
/// judged and committed.
fn throughput(service: &Service, scenario: &Scenario, target: &Target) -> Result<Phase> {
    let before = service.status()?;
    let started = Instant::now();
    let sent = replay_input(scenario, target, Pace::Flat, None)?;
    let expected = Expected {
        acknowledged: before.acknowledged() + sent.events,
        events: before.events_processed + scenario.events,
    };
    let (after, judged_at) = service.wait_judged(&expected)?;
    let elapsed = judged_at.duration_since(started);
    Ok(Phase::between(&before, &after, sent, elapsed))
}

/// How the steady phase loops on the source.
struct Loop {
    until: Instant,
    retime: Retime,
}

/// Replays the scenario's prepared input at `pace`, or its source in a loop.
fn replay_input(
    scenario: &Scenario,
    target: &Target,
    pace: Pace,
    looped: Option<Loop>,
) -> Result<Summary> {
    let options = ReplayOptions {
        format: scenario.format.into(),
        batch: BATCH,
        pace,
        gzip: false,
        cycle_until: looped.as_ref().map(|l| l.until),
        retime: looped.as_ref().map(|l| l.retime),
        progress: false,
    };
    let input = match looped {
        Some(_) => &scenario.once,
        None => &scenario.input,
    };
    let replayed = replay::replay(std::slice::from_ref(input), target, &options);
    match replayed.failure {
        Some(failure) => Err(failure.context("the replay failed")),
        None => Ok(replayed.summary),
    }
}

/// The `p` quantile of latency counts, as a bucket's upper bound in milliseconds (`None`:
/// no count, or past the last bound).
fn quantile_ms(counts: &[u64], p: f64) -> Option<u64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = (p * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return LATENCY_BOUNDS_MS.get(index).copied();
        }
    }
    None
}

/// The counters of `/api/v1/status` the benchmark reads.
#[derive(Debug, Clone, Default)]
struct Status {
    lines_accepted: u64,
    syslog_messages: u64,
    events_processed: u64,
    committed_position: u64,
    spool_end: u64,
    backpressure_refusals: u64,
    detections_stored: u64,
    incidents_saved: u64,
    /// Stored detections wait for a grouping (the detection counter moves when grouped).
    awaiting_grouping: bool,
    latency_counts: Vec<u64>,
}

impl Status {
    fn from_json(json: &serde_json::Value) -> Result<Status> {
        let pipeline = &json["pipeline"];
        let number = |name: &str| {
            pipeline[name]
                .as_u64()
                .with_context(|| format!("the status has no {name}: {json}"))
        };
        let latency_counts = pipeline["latency_counts"]
            .as_array()
            .context("the status has no latency_counts")?
            .iter()
            .map(|count| count.as_u64().unwrap_or(0))
            .collect();
        Ok(Status {
            lines_accepted: number("lines_accepted")?,
            syslog_messages: number("syslog_messages")?,
            events_processed: number("events_processed")?,
            committed_position: number("committed_position")?,
            spool_end: number("spool_end")?,
            backpressure_refusals: number("backpressure_refusals")?,
            detections_stored: number("detections_stored")?,
            incidents_saved: number("incidents_saved")?,
            awaiting_grouping: pipeline["awaiting_grouping"].as_u64().unwrap_or(0) > 0,
            latency_counts,
        })
    }

    /// Lines the inputs acknowledged (HTTP) or spooled (syslog).
    fn acknowledged(&self) -> u64 {
        self.lines_accepted + self.syslog_messages
    }

    /// Events whose step was committed (each counted once in the latency histogram).
    fn committed_events(&self) -> u64 {
        self.latency_counts.iter().sum()
    }

    /// Every acknowledged event is judged and its step committed.
    fn judged(&self) -> bool {
        self.committed_events() == self.events_processed
    }

    /// Nothing is held for order either (the committed position is the spool's end), and
    /// every detection is grouped.
    fn drained(&self) -> bool {
        self.judged() && self.committed_position == self.spool_end && !self.awaiting_grouping
    }

    /// The latency counts since `before`, bucket by bucket.
    fn latency_since(&self, before: &Status) -> Vec<u64> {
        self.latency_counts
            .iter()
            .enumerate()
            .map(|(i, now)| now - before.latency_counts.get(i).copied().unwrap_or(0))
            .collect()
    }
}

/// What the service must have counted at the end of a phase.
struct Expected {
    acknowledged: u64,
    events: u64,
}

/// A `tocsin serve` started for one scenario, killed when dropped.
struct Service {
    child: Child,
    http: String,
    syslog_tcp: Option<String>,
    ingest: String,
    viewer: String,
    agent: ureq::Agent,
}

impl Service {
    /// Writes the configuration, creates the tokens, starts the service and waits until
    /// it says where it listens.
    fn start(settings: &Settings, scenario: &Scenario, via: Via, dir: &Path) -> Result<Service> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let config = dir.join("serve.toml");
        std::fs::write(&config, config_text(settings, scenario, via))
            .context("cannot write the service's configuration")?;
        let data = dir.join("data");
        let ingest = create_token(&settings.exe, &data, "ingest")?;
        let viewer = create_token(&settings.exe, &data, "viewer")?;
        let mut command = Command::new(&settings.exe);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .arg("--config")
            .arg(&config);
        if via == Via::Tcp {
            command.args(["--syslog-tcp", "127.0.0.1:0"]);
        }
        let log_path = match &settings.service_logs {
            Some(folder) => folder.join(format!("{}-{}.log", scenario.name, via.name())),
            None => dir.join("serve.log"),
        };
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create the log {}", log_path.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start tocsin serve")?;
        let said = announced(&mut child, via == Via::Tcp, &log_path);
        let (http, syslog_tcp) = match said {
            Ok(said) => said,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(error);
            }
        };
        Ok(Service {
            child,
            http,
            syslog_tcp,
            ingest,
            viewer,
            agent: replay::http_agent(),
        })
    }

    fn target(&self, via: Via) -> Result<Target> {
        Ok(match via {
            Via::Http => Target::Http {
                base: format!("http://{}", self.http),
                token: self.ingest.clone(),
            },
            Via::Tcp => Target::Tcp(
                self.syslog_tcp
                    .clone()
                    .context("the service did not say where it takes syslog over TCP")?,
            ),
        })
    }

    fn status(&self) -> Result<Status> {
        let url = format!("http://{}/api/v1/status", self.http);
        let mut response = self
            .agent
            .get(&url)
            .header("Authorization", format!("Bearer {}", self.viewer))
            .call()
            .with_context(|| format!("cannot read {url}"))?;
        let body = response
            .body_mut()
            .read_to_string()
            .context("cannot read the status")?;
        let json: serde_json::Value = serde_json::from_str(&body)
            .with_context(|| format!("the status is not JSON: {body}"))?;
        Status::from_json(&json)
    }

    /// Waits until the lines are acknowledged and every event is judged; returns the
    /// status and when that was first seen: when as many events as expected were judged,
    /// else (the expected count may be off) when the last of them was, once everything is
    /// drained.
    fn wait_judged(&self, expected: &Expected) -> Result<(Status, Instant)> {
        let mut settled: Option<(u64, Instant)> = None;
        self.wait(|status| {
            if status.acknowledged() < expected.acknowledged || !status.judged() {
                return None;
            }
            if status.events_processed >= expected.events {
                return Some(Instant::now());
            }
            if settled.is_none_or(|(events, _)| events != status.events_processed) {
                settled = Some((status.events_processed, Instant::now()));
            }
            status
                .drained()
                .then(|| settled.map(|(_, at)| at))
                .flatten()
        })
    }

    /// Waits until `acknowledged` lines are acknowledged and nothing is left to judge or
    /// held for order.
    fn wait_drained(&self, acknowledged: u64) -> Result<Status> {
        let drained = |status: &Status| {
            (status.acknowledged() >= acknowledged && status.drained()).then(Instant::now)
        };
        Ok(self.wait(drained)?.0)
    }

    /// Reads the status until `done` says when it was done.
    fn wait(&self, mut done: impl FnMut(&Status) -> Option<Instant>) -> Result<(Status, Instant)> {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        loop {
            let status = self.status()?;
            if let Some(at) = done(&status) {
                return Ok((status, at));
            }
            if Instant::now() > deadline {
                bail!("the service did not catch up in {DRAIN_TIMEOUT:?}: {status:?}");
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The service's configuration for a scenario: its rules, the fsync asked for and, over
/// TCP, the scenario's syslog decoder.
fn config_text(settings: &Settings, scenario: &Scenario, via: Via) -> String {
    let rules: Vec<String> = scenario
        .rules
        .iter()
        .map(|rule| serde_json::Value::from(rule.as_str()).to_string())
        .collect();
    let fsync = if settings.fsync_never {
        "never"
    } else {
        "always"
    };
    let mut text = format!(
        "[spool]\nfsync = \"{fsync}\"\n\n[detection]\nrules = [{}]\n",
        rules.join(", ")
    );
    if via == Via::Tcp {
        text.push_str(&format!("\n[syslog]\nformat = \"{}\"\n", scenario.format));
    }
    text
}

/// `tocsin tokens create` of `role` in `data`: the token it prints.
fn create_token(exe: &Path, data: &Path, role: &str) -> Result<String> {
    let out = Command::new(exe)
        .args([
            "tokens",
            "create",
            "--name",
            &format!("bench-{role}"),
            "--role",
            role,
            "--data",
        ])
        .arg(data)
        .output()
        .context("cannot run tocsin tokens create")?;
    if !out.status.success() {
        bail!(
            "tocsin tokens create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Reads the service's first lines: where it listens for HTTP and, when asked, for syslog
/// over TCP. The rest of its output is drained on a thread.
fn announced(child: &mut Child, tcp: bool, log: &Path) -> Result<(String, Option<String>)> {
    let stdout = child
        .stdout
        .take()
        .context("the service has no standard output")?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut http, mut syslog_tcp) = (None, None);
    while http.is_none() || (tcp && syslog_tcp.is_none()) {
        let Some(Ok(line)) = lines.next() else {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            bail!("tocsin serve stopped before listening: {log}");
        };
        if let Some(addr) = line.strip_prefix("tocsin serve: listening on http://") {
            http = Some(addr.to_owned());
        }
        if let Some(addr) = line.strip_prefix("tocsin serve: syslog over TCP on ") {
            syslog_tcp = Some(addr.to_owned());
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Ok((http.unwrap_or_default(), syslog_tcp))
}

/// The baselines: `tocsin hunt` of the scenario's input with its rules and `--behaviour`,
/// alone (the floor) and with `--store` (the same work as the service's), each minus a
/// hunt of the input's first line (start-up and rule loading); events per second.
#[derive(Debug, Clone, Copy)]
struct HuntRates {
    floor: f64,
    with_store: f64,
}

fn hunt_rates(exe: &Path, scenario: &Scenario, work: &Path) -> Result<HuntRates> {
    let one_line = work.join(format!("{}-one-line", scenario.name));
    write_first_line(&scenario.input, &one_line)?;
    let store = work.join(format!("{}-hunt.sqlite", scenario.name));
    let rate = |store: Option<&Path>| -> Result<f64> {
        let fixed = timed_hunt(exe, &one_line, &scenario.rules, None)?;
        let full = timed_hunt(exe, &scenario.input, &scenario.rules, store)?;
        let judging = full.saturating_sub(fixed).as_secs_f64().max(1e-6);
        Ok(scenario.events as f64 / judging)
    };
    Ok(HuntRates {
        floor: rate(None)?,
        with_store: rate(Some(&store))?,
    })
}

fn write_first_line(source: &Path, out: &Path) -> Result<()> {
    let file =
        std::fs::File::open(source).with_context(|| format!("cannot read {}", source.display()))?;
    let mut line = Vec::new();
    BufReader::new(file)
        .read_until(b'\n', &mut line)
        .context("cannot read the input's first line")?;
    std::fs::write(out, line).with_context(|| format!("cannot write {}", out.display()))
}

/// The wall time of `tocsin hunt INPUT --rules ... --behaviour -q -f jsonl -o /dev/null`
/// (and `--store STORE`).
fn timed_hunt(
    exe: &Path,
    input: &Path,
    rules: &[String],
    store: Option<&Path>,
) -> Result<Duration> {
    let mut command = Command::new(exe);
    command.arg("hunt").arg(input);
    for rule in rules {
        command.args(["--rules", rule]);
    }
    if let Some(store) = store {
        command.arg("--store").arg(store);
    }
    command
        .args(["--behaviour", "-q", "-f", "jsonl", "-o", "/dev/null"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command.spawn().context("cannot run tocsin hunt")?;
    let mut errors = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut errors);
    }
    let status = child.wait().context("cannot run tocsin hunt")?;
    let elapsed = started.elapsed();
    if !status.success() {
        bail!(
            "tocsin hunt {} failed ({status}): {errors}",
            input.display()
        );
    }
    Ok(elapsed)
}

/// One line of the report.
struct Row {
    scenario: &'static str,
    rules: &'static str,
    via: Via,
    target: f64,
    measured: Measured,
    hunt: HuntRates,
}

impl Row {
    fn rate(&self) -> f64 {
        self.measured.max.events_per_second()
    }

    fn print(&self) {
        let m = &self.measured;
        println!(
            "{:<10} {:<14} {:<4} {:>8} {:>11.0} {:>11.0} {:>6.2} {:>7} {:>7} {:>10} {:>10} {:>7}",
            self.scenario,
            self.rules,
            self.via.name(),
            m.max.events,
            self.rate(),
            self.hunt.floor,
            self.rate() / self.hunt.floor.max(1e-9),
            show_ms(m.p50_ms),
            show_ms(m.p99_ms),
            show_bytes(m.rss.start),
            show_bytes(m.rss.end),
            m.max.sent.retries + m.steady.sent.retries,
        );
        println!(
            "{:<10} full speed: {} lines sent in {:.1} s, judged after {:.1} s; {} detections, {} incident saves; 503 answers: {}",
            "",
            m.max.sent.events,
            m.max.sent.elapsed.as_secs_f64(),
            m.max.elapsed.as_secs_f64(),
            m.max.detections,
            m.max.incidents,
            m.max.backpressure,
        );
        println!(
            "{:<10} hunt with --store: {:.0} events/s (serve = {:.2} of it)",
            "",
            self.hunt.with_store,
            self.rate() / self.hunt.with_store.max(1e-9),
        );
        println!(
            "{:<10} steady: {} lines sent at {:.0}/s for {:.1} s, {} events judged, {} detections; 503 answers: {}",
            "",
            m.steady.sent.events,
            m.steady.sent.events_per_second(),
            m.steady.elapsed.as_secs_f64(),
            m.steady.events,
            m.steady.detections,
            m.steady.backpressure,
        );
        println!(
            "{:<10} memory over the steady phase: {} at its start, {} at its end (medians of its first and last tenth), {} at most",
            "",
            show_bytes(m.rss.start),
            show_bytes(m.rss.end),
            show_bytes(m.rss.peak),
        );
    }
}

fn print_targets(rows: &[Row]) {
    println!();
    println!("targets (the issue's):");
    for row in rows {
        let met = |ok: bool| if ok { "met" } else { "NOT MET" };
        println!(
            "  {} over {}: {:.0} events/s against >= {:.0}: {}; p99 at half rate {} against <= {P99_TARGET_MS} ms: {}",
            row.scenario,
            row.via.name(),
            row.rate(),
            row.target,
            met(row.rate() >= row.target),
            show_ms(row.measured.p99_ms),
            met(row.measured.p99_ms.is_some_and(|p99| p99 <= P99_TARGET_MS)),
        );
    }
}

fn show_ms(ms: Option<u64>) -> String {
    ms.map_or_else(|| "n/a".into(), |ms| format!("<={ms}"))
}

fn show_bytes(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "n/a".into(),
        |b| format!("{:.0} MiB", b as f64 / 1_048_576.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_as_medians_of_each_end_and_a_peak() {
        // Thirty readings that swing by 60 around 200 and end 40 higher.
        let readings: Vec<u64> = (0..30)
            .map(|i| 200 + if i % 2 == 0 { 60 } else { 0 } + if i >= 27 { 40 } else { 0 })
            .collect();
        let rss = RssReadings::of(&readings);
        assert_eq!(rss.start, Some(260));
        assert_eq!(rss.end, Some(240));
        assert_eq!(rss.peak, Some(300));
        assert_eq!(RssReadings::of(&[]), RssReadings::default());
        let one = RssReadings::of(&[7]);
        assert_eq!((one.start, one.end, one.peak), (Some(7), Some(7), Some(7)));
    }

    #[test]
    fn quantiles_are_bucket_bounds() {
        let mut counts = vec![0; LATENCY_BOUNDS_MS.len() + 1];
        counts[2] = 50; // <= 3 ms
        counts[11] = 49; // <= 100 ms
        counts[20] = 1; // past 10 s
        assert_eq!(quantile_ms(&counts, 0.5), Some(3));
        assert_eq!(quantile_ms(&counts, 0.99), Some(100));
        assert_eq!(quantile_ms(&counts, 1.0), None);
        assert_eq!(quantile_ms(&[0; 21], 0.5), None);
    }

    #[test]
    fn the_status_says_when_everything_is_judged() {
        let json = serde_json::json!({"pipeline": {
            "lines_accepted": 10, "syslog_messages": 5, "events_processed": 15,
            "committed_position": 7, "spool_end": 9, "backpressure_refusals": 0,
            "detections_stored": 3, "incidents_saved": 1,
            "latency_counts": [10, 5]
        }});
        let status = Status::from_json(&json).unwrap();
        assert_eq!(status.acknowledged(), 15);
        assert!(status.judged());
        assert!(!status.drained());
    }
}
