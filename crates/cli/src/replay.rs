//! `tocsin replay`: sends log files to a running `tocsin serve`, a load generator and a way
//! to feed old logs to the service.
//!
//! Every input `hunt` reads is sent as lines: text formats line by line (`.gz` undone),
//! EVTX record by record as one compact JSON object per line, in the `evtx` crate's layout
//! that the service's JSON decoder reads. Lines go in batches to the HTTP ingest
//! (`POST /api/v1/events`, a batch per request, resent as it is after a 503 or 429 once
//! `Retry-After` has passed), or as syslog over TCP (RFC 6587 octet counting) or UDP (a
//! datagram per line). The pace is as fast as the service takes them, an average rate
//! (`--rate`: each batch waits until the events before it are due), or the events' own
//! time gaps sped up (`--speed`). The same functions drive `tocsin bench --serve`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Read, Seek, Write};
use std::net::{TcpStream, UdpSocket};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tocsin_decode::DecodeOptions;

use crate::args::ReplayArgs;

/// The magic an EVTX file starts with.
const EVTX_MAGIC: &[u8] = b"ElfFile\0";
/// The magic a gzip stream starts with.
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// The most times one batch is resent after 503 or 429 (about an hour at `Retry-After: 1`).
const MAX_RETRIES: u64 = 3600;
/// The longest `Retry-After` obeyed, in seconds.
const MAX_RETRY_AFTER: u64 = 60;
/// How far ahead of its due time an event may be sent under `--speed`.
const SPEED_SLACK: Duration = Duration::from_millis(5);
/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_507;

/// Runs `tocsin replay`; exit code 0, or 2 when an input could not be read (errors that
/// stop the replay are returned and exit 2 too).
pub fn run(args: &ReplayArgs) -> Result<i32> {
    let target = Target::parse(&args.to, args.token.as_deref())?;
    let options = ReplayOptions {
        format: checked_format(&args.format)?,
        batch: args.batch,
        pace: Pace::from_flags(args.rate, args.speed)?,
        gzip: args.gzip,
        cycle_until: None,
        retime: None,
        progress: !args.quiet && std::io::stderr().is_terminal(),
    };
    let files = input_files(&args.paths)?;
    let replayed = replay(&files, &target, &options);
    if !args.quiet {
        eprintln!("{}", replayed.summary);
    }
    if let Some(failure) = replayed.failure {
        return Err(failure);
    }
    Ok(if replayed.summary.unreadable > 0 {
        2
    } else {
        0
    })
}

/// Where events are sent.
#[derive(Debug, Clone)]
pub enum Target {
    /// The HTTP ingest of a service at this base URL, with an API token.
    Http {
        /// `http://HOST:PORT`, without a trailing slash.
        base: String,
        /// The bearer token.
        token: String,
    },
    /// Syslog over TCP to `HOST:PORT`.
    Tcp(String),
    /// Syslog over UDP to `HOST:PORT`.
    Udp(String),
}

impl Target {
    /// Reads `--to` (`http://`, `https://`, `tcp://` or `udp://`); HTTP needs a token.
    pub fn parse(url: &str, token: Option<&str>) -> Result<Target> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
                bail!("sending over HTTP needs an ingest token: give --token or set TOCSIN_TOKEN");
            };
            return Ok(Target::Http {
                base: url.trim_end_matches('/').to_owned(),
                token: token.trim().to_owned(),
            });
        }
        if let Some(addr) = lower.strip_prefix("tcp://") {
            return Ok(Target::Tcp(addr.trim_end_matches('/').to_owned()));
        }
        if let Some(addr) = lower.strip_prefix("udp://") {
            return Ok(Target::Udp(addr.trim_end_matches('/').to_owned()));
        }
        bail!("--to {url}: give http://HOST:PORT, tcp://HOST:PORT or udp://HOST:PORT")
    }
}

/// `auto`, or a format name the decoders know (refused here rather than by the service).
fn checked_format(format: &str) -> Result<String> {
    let format = format.trim();
    if !format.eq_ignore_ascii_case("auto") {
        format
            .parse::<tocsin_decode::Format>()
            .map_err(anyhow::Error::msg)
            .context("--format")?;
    }
    Ok(format.to_owned())
}

/// How fast events go out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As fast as the target takes them.
    Flat,
    /// This many events per second on average.
    Rate(f64),
    /// The events' own time gaps divided by this factor.
    Speed(f64),
}

impl Pace {
    /// The pace `--rate` and `--speed` ask for.
    fn from_flags(rate: f64, speed: Option<f64>) -> Result<Pace> {
        if !rate.is_finite() || rate < 0.0 {
            bail!("--rate {rate}: give a number of events per second, 0 for no limit");
        }
        match speed {
            Some(x) if !x.is_finite() || x <= 0.0 => {
                bail!("--speed {x}: give a positive factor (1 keeps the events' own gaps)")
            }
            Some(x) => Ok(Pace::Speed(x)),
            None if rate > 0.0 => Ok(Pace::Rate(rate)),
            None => Ok(Pace::Flat),
        }
    }
}

/// How a replay runs.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The decoder the service is told to use for text inputs (`auto` sniffs); EVTX inputs
    /// are always `json`.
    pub format: String,
    /// The most lines per request.
    pub batch: usize,
    /// How fast.
    pub pace: Pace,
    /// Whether to gzip HTTP bodies.
    pub gzip: bool,
    /// Send the inputs over and over until this moment, and stop there.
    pub cycle_until: Option<Instant>,
    /// Move each cycle's event times forward, so that a looped input reads as time going
    /// on rather than the same hours again.
    pub retime: Option<Retime>,
    /// Whether to show a progress line on stderr.
    pub progress: bool,
}

/// How the times of a looped input move: cycle `n` (counted from `first_cycle`) by `n`
/// steps. Moved are the times an appliance's syslog (`when=EPOCH`) and EVTX records as
/// JSON (`"SystemTime":"RFC 3339"`) carry; a line without them is sent as it is.
#[derive(Debug, Clone, Copy)]
pub struct Retime {
    /// How far each cycle moves the times: the input's span and a margin.
    pub step_micros: i64,
    /// The cycle the replay starts at.
    pub first_cycle: u64,
}

impl Retime {
    /// The shift of cycle `cycle` of this replay, kept short of the year 9000 (times then
    /// start over).
    pub fn shift_micros(&self, cycle: u64) -> i64 {
        const LATEST_SHIFT: i64 = 6_000 * 365 * 86_400 * 1_000_000;
        let cycles = (LATEST_SHIFT / self.step_micros.max(1)).max(1) as u64;
        ((self.first_cycle + cycle) % cycles) as i64 * self.step_micros
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Events (lines) sent and acknowledged (HTTP) or written (TCP, UDP).
    pub events: u64,
    /// Requests, or batches written to a socket.
    pub batches: u64,
    /// Batches resent after 503 or 429.
    pub retries: u64,
    /// Lines the service refused (malformed JSON).
    pub refused: u64,
    /// Inputs, or EVTX records, that could not be read.
    pub unreadable: u64,
    /// From the first send to the last answer.
    pub elapsed: Duration,
}

impl Summary {
    /// The average rate, events per second.
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replay: {} events sent in {} batches over {:.2} s ({:.0} events/s), {} retries",
            self.events,
            self.batches,
            self.elapsed.as_secs_f64(),
            self.events_per_second(),
            self.retries
        )?;
        if self.refused > 0 {
            write!(f, ", {} lines refused by the service", self.refused)?;
        }
        if self.unreadable > 0 {
            write!(f, ", {} inputs or records unreadable", self.unreadable)?;
        }
        Ok(())
    }
}

/// The end of a replay: what was done, and the error that stopped it, if one did.
#[derive(Debug)]
pub struct Replayed {
    /// What was sent.
    pub summary: Summary,
    /// Why the replay stopped early (the service refused a batch, the connection failed).
    pub failure: Option<anyhow::Error>,
}

/// The files of `paths`, folders walked as `hunt` walks them; an error when none is left.
pub fn input_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let (files, errors) = tocsin_decode::discover(paths, &DecodeOptions::default());
    for error in &errors {
        eprintln!("warning: {error}");
    }
    if files.is_empty() {
        bail!("no log files found");
    }
    Ok(files)
}

/// Sends every line of `files` to `target`.
pub fn replay(files: &[PathBuf], target: &Target, options: &ReplayOptions) -> Replayed {
    let mut replayer = match Connection::open(target, options.gzip) {
        Ok(connection) => Replayer::new(connection, options),
        Err(error) => {
            return Replayed {
                summary: Summary::default(),
                failure: Some(error),
            }
        }
    };
    let failure = replayer.replay_all(files).err();
    replayer.progress.finish_and_clear();
    replayer.summary.elapsed = replayer.started.map_or(Duration::ZERO, |t| t.elapsed());
    Replayed {
        summary: replayer.summary,
        failure,
    }
}

/// Why reading an input stopped before its end.
enum Stop {
    /// `cycle_until` has come.
    Deadline,
    /// Sending failed: the replay ends.
    Failed(anyhow::Error),
}

/// The name and decoder a batch is sent under.
struct Label {
    input: String,
    format: String,
}

/// One line read from an input, with its time when the input carries it (EVTX).
struct Line<'a> {
    bytes: &'a [u8],
    time_micros: Option<i64>,
}

/// Reads the inputs into batches and sends them at the pace asked for.
struct Replayer<'a> {
    connection: Connection,
    options: &'a ReplayOptions,
    batch: Batch,
    batch_limit: usize,
    sent_before_batch: u64,
    started: Option<Instant>,
    clock: SpeedClock,
    /// How many times the inputs were sent whole, and this cycle's time shift.
    cycle: u64,
    shift_micros: i64,
    shifted: Vec<u8>,
    summary: Summary,
    progress: ProgressBar,
}

impl<'a> Replayer<'a> {
    fn new(connection: Connection, options: &'a ReplayOptions) -> Self {
        // At a set rate a batch holds at most a tenth of a second's events, so that the
        // pace is smooth and a short replay still takes its time.
        let batch_limit = match options.pace {
            Pace::Rate(rate) => options.batch.min((rate / 10.0).ceil().max(1.0) as usize),
            _ => options.batch,
        };
        Replayer {
            connection,
            options,
            batch: Batch::default(),
            batch_limit: batch_limit.max(1),
            sent_before_batch: 0,
            started: None,
            clock: SpeedClock::default(),
            cycle: 0,
            shift_micros: options.retime.map_or(0, |retime| retime.shift_micros(0)),
            shifted: Vec::new(),
            summary: Summary::default(),
            progress: progress_bar(options.progress),
        }
    }

    /// Every file once, or over and over until `cycle_until` (or a cycle that sent
    /// nothing).
    fn replay_all(&mut self, files: &[PathBuf]) -> Result<()> {
        loop {
            let sent_before = self.summary.events;
            for file in files {
                match self.replay_file(file) {
                    ControlFlow::Continue(()) => {}
                    ControlFlow::Break(Stop::Deadline) => return self.connection.finish(),
                    ControlFlow::Break(Stop::Failed(error)) => return Err(error),
                }
            }
            if self.options.cycle_until.is_none() || self.summary.events == sent_before {
                return self.connection.finish();
            }
            self.cycle += 1;
            if let Some(retime) = self.options.retime {
                self.shift_micros = retime.shift_micros(self.cycle);
            }
        }
    }

    /// One file, its last batch flushed; an unreadable file is counted and skipped.
    fn replay_file(&mut self, path: &Path) -> ControlFlow<Stop> {
        self.clock = SpeedClock::default();
        let evtx = match is_evtx(path) {
            Ok(evtx) => evtx,
            Err(error) => return self.skip(path, &error),
        };
        let label = Label {
            input: input_name(path),
            format: if evtx {
                "json".into()
            } else {
                self.options.format.clone()
            },
        };
        let read = for_each_line(path, evtx, &mut |line| self.push(line, &label));
        match read {
            Ok(ControlFlow::Break(stop)) => ControlFlow::Break(stop),
            Ok(ControlFlow::Continue(unreadable)) => {
                self.summary.unreadable += unreadable;
                self.flush(&label).map_break(Stop::Failed)
            }
            Err(error) => {
                self.flush(&label).map_break(Stop::Failed)?;
                self.skip(path, &error)
            }
        }
    }

    fn skip(&mut self, path: &Path, error: &anyhow::Error) -> ControlFlow<Stop> {
        self.progress
            .suspend(|| eprintln!("warning: {}: {error:#}", path.display()));
        self.summary.unreadable += 1;
        ControlFlow::Continue(())
    }

    /// Adds a line to the batch, sending it when full or when `--speed` must wait.
    fn push(&mut self, line: Line<'_>, label: &Label) -> ControlFlow<Stop> {
        if self
            .options
            .cycle_until
            .is_some_and(|until| Instant::now() >= until)
        {
            return ControlFlow::Break(Stop::Deadline);
        }
        if let Pace::Speed(speed) = self.options.pace {
            let time = line
                .time_micros
                .or_else(|| line_time(line.bytes, &label.format));
            if let Some(due) = self.clock.due(time, speed) {
                if due > Instant::now() + SPEED_SLACK {
                    self.flush(label).map_break(Stop::Failed)?;
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            }
        }
        match self.shift_micros {
            0 => self.batch.push(line.bytes),
            shift => {
                shift_times(line.bytes, shift, &mut self.shifted);
                self.batch.push(&self.shifted);
            }
        }
        if self.batch.len() >= self.batch_limit {
            return self.flush(label).map_break(Stop::Failed);
        }
        ControlFlow::Continue(())
    }

    /// Sends the batch (after waiting for its turn at a set rate) and empties it.
    fn flush(&mut self, label: &Label) -> ControlFlow<anyhow::Error> {
        if self.batch.len() == 0 {
            return ControlFlow::Continue(());
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        if let Pace::Rate(rate) = self.options.pace {
            let due = started + Duration::from_secs_f64(self.sent_before_batch as f64 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let sent = match self.connection.send(&self.batch, label) {
            Ok(sent) => sent,
            Err(error) => return ControlFlow::Break(error),
        };
        let events = self.batch.len() as u64;
        self.summary.events += events;
        self.summary.batches += 1;
        self.summary.retries += sent.retries;
        self.summary.refused += sent.refused;
        self.sent_before_batch += events;
        self.progress.inc(events);
        self.batch.clear();
        ControlFlow::Continue(())
    }
}

/// A spinner with the count and rate of events sent, or nothing when not on a terminal.
fn progress_bar(shown: bool) -> ProgressBar {
    if !shown {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {human_pos} events sent ({per_sec}) {elapsed}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The `input=` name of a file: its name, cut to the service's 64 characters.
fn input_name(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or_else(|| "replay".into(), |n| n.to_string_lossy().into_owned());
    name.chars().take(64).collect()
}

/// The time of a text line, decoded as the service would (for `--speed`).
fn line_time(line: &[u8], format: &str) -> Option<i64> {
    let options = DecodeOptions {
        format: format.parse().ok(),
        ..DecodeOptions::default()
    };
    let mut source = tocsin_decode::from_bytes("replay", line.to_vec(), &options).ok()?;
    source.find_map(|event| event.ok()?.timestamp_micros)
}

/// When each event of one file is due under `--speed`: its first timed event at once, each
/// later one after its gap from that one, divided by the speed.
#[derive(Debug, Default)]
struct SpeedClock {
    first: Option<(i64, Instant)>,
}

impl SpeedClock {
    /// The moment an event of this time is due; `None` without a time (it goes with the
    /// events around it). An event older than the first is due at once.
    fn due(&mut self, time_micros: Option<i64>, speed: f64) -> Option<Instant> {
        let time = time_micros?;
        let (first_time, first_instant) = *self.first.get_or_insert((time, Instant::now()));
        let gap = time.saturating_sub(first_time).max(0) as f64 / 1e6 / speed;
        Some(first_instant + Duration::from_secs_f64(gap.min(1e9)))
    }
}

/// Lines held for one send: their bytes, each followed by a newline (an HTTP body as it is).
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    /// Adds a line (without its newline).
    pub fn push(&mut self, line: &[u8]) {
        self.data.extend_from_slice(line);
        self.data.push(b'\n');
        self.ends.push(self.data.len());
    }

    /// How many lines it holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    /// The lines, without their newlines.
    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let line = &self.data[start..end - 1];
            start = end;
            line
        })
    }
}

/// What the service said of a batch.
#[derive(Debug, Default)]
struct Sent {
    retries: u64,
    refused: u64,
}

/// An open way to the target.
enum Connection {
    Http(HttpConnection),
    Tcp(BufWriter<TcpStream>),
    Udp(UdpSocket),
}

impl Connection {
    fn open(target: &Target, gzip: bool) -> Result<Connection> {
        Ok(match target {
            Target::Http { base, token } => Connection::Http(HttpConnection {
                agent: http_agent(),
                url: format!("{base}/api/v1/events"),
                token: token.clone(),
                gzip,
            }),
            Target::Tcp(addr) => {
                let stream = TcpStream::connect(addr)
                    .with_context(|| format!("cannot connect to tcp://{addr}"))?;
                let _ = stream.set_nodelay(true);
                Connection::Tcp(BufWriter::with_capacity(1 << 16, stream))
            }
            Target::Udp(addr) => Connection::Udp(udp_socket(addr)?),
        })
    }

    fn send(&mut self, batch: &Batch, label: &Label) -> Result<Sent> {
        match self {
            Connection::Http(http) => http.send(batch, label),
            Connection::Tcp(stream) => send_tcp(stream, batch).map(|()| Sent::default()),
            Connection::Udp(socket) => send_udp(socket, batch).map(|()| Sent::default()),
        }
    }

    /// Flushes what a socket holds.
    fn finish(&mut self) -> Result<()> {
        if let Connection::Tcp(stream) = self {
            stream.flush().context("cannot send over TCP")?;
        }
        Ok(())
    }
}

/// An HTTP client that reads 4xx and 5xx answers instead of failing on them.
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_global(Some(Duration::from_secs(300)))
        .user_agent(concat!("tocsin-replay/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

/// The service's ingest, a batch per request.
struct HttpConnection {
    agent: ureq::Agent,
    url: String,
    token: String,
    gzip: bool,
}

impl HttpConnection {
    /// Posts the batch, resending it while the service answers 503 or 429.
    fn send(&self, batch: &Batch, label: &Label) -> Result<Sent> {
        let body = match self.gzip {
            true => std::borrow::Cow::Owned(gzip(&batch.data)?),
            false => std::borrow::Cow::Borrowed(&batch.data[..]),
        };
        let mut retries = 0;
        loop {
            let mut response = self.post(&body, label)?;
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            match status {
                200..=299 => {
                    return Ok(Sent {
                        retries,
                        refused: refused_lines(&text),
                    })
                }
                429 | 503 if retries < MAX_RETRIES => {
                    retries += 1;
                    std::thread::sleep(retry_after(&response));
                }
                _ => bail!(
                    "{}: the service refused a batch ({status}): {}",
                    label.input,
                    error_message(&text)
                ),
            }
        }
    }

    fn post(&self, body: &[u8], label: &Label) -> Result<ureq::http::Response<ureq::Body>> {
        let mut request = self
            .agent
            .post(&self.url)
            .query("format", &label.format)
            .query("input", &label.input)
            .header("Authorization", format!("Bearer {}", self.token));
        if self.gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        request
            .send(body)
            .with_context(|| format!("{}: cannot send to {}", label.input, self.url))
    }
}

/// The `Retry-After` of an answer in seconds (1 when absent), capped.
fn retry_after(response: &ureq::http::Response<ureq::Body>) -> Duration {
    let seconds = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds.min(MAX_RETRY_AFTER))
}

/// The `error` of the service's JSON answer, else the answer as it is.
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().chars().take(500).collect())
}

/// The `refused` count of an ingest answer.
fn refused_lines(body: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json["refused"].as_u64())
        .unwrap_or(0)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(bytes).context("cannot gzip a batch")?;
    encoder.finish().context("cannot gzip a batch")
}

/// Writes each line as an RFC 6587 octet-counted frame (`LEN SP MSG`).
fn send_tcp(stream: &mut BufWriter<TcpStream>, batch: &Batch) -> Result<()> {
    for line in batch.lines() {
        write!(stream, "{} ", line.len()).context("cannot send over TCP")?;
        stream.write_all(line).context("cannot send over TCP")?;
    }
    stream.flush().context("cannot send over TCP")
}

/// A socket bound to an ephemeral port of the target's address family, connected to it.
fn udp_socket(addr: &str) -> Result<UdpSocket> {
    use std::net::ToSocketAddrs;
    let target = addr
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve udp://{addr}"))?
        .next()
        .with_context(|| format!("udp://{addr} has no address"))?;
    let local = if target.is_ipv6() {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let socket = UdpSocket::bind(local).context("cannot open a UDP socket")?;
    socket
        .connect(target)
        .with_context(|| format!("cannot send to udp://{addr}"))?;
    Ok(socket)
}

/// Sends each line as a datagram.
fn send_udp(socket: &UdpSocket, batch: &Batch) -> Result<()> {
    for line in batch.lines() {
        if line.len() > MAX_DATAGRAM {
            bail!(
                "a line of {} bytes is too long for a UDP datagram",
                line.len()
            );
        }
        socket.send(line).context("cannot send over UDP")?;
    }
    Ok(())
}

/// Whether the file (or what its gzip holds) is EVTX.
fn is_evtx(path: &Path) -> Result<bool> {
    if is_stdin(path) {
        return Ok(false);
    }
    let mut reader = open_decompressed(path)?;
    let head = reader.fill_buf().context("cannot read")?;
    Ok(head.starts_with(EVTX_MAGIC))
}

/// `-`, standard input.
fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The file (standard input for `-`), through gzip when it starts with gzip's magic.
fn open_decompressed(path: &Path) -> Result<Box<dyn BufRead>> {
    let input: Box<dyn Read> = match is_stdin(path) {
        true => Box::new(std::io::stdin()),
        false => Box::new(File::open(path).context("cannot open")?),
    };
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let gzipped = reader
        .fill_buf()
        .context("cannot read")?
        .starts_with(GZIP_MAGIC);
    Ok(match gzipped {
        true => Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(reader),
        )),
        false => Box::new(reader),
    })
}

/// Calls `each` with every line of the file (EVTX: every record as JSON), until it breaks.
/// Continues with the count of EVTX records that could not be read.
fn for_each_line(
    path: &Path,
    evtx: bool,
    each: &mut dyn FnMut(Line<'_>) -> ControlFlow<Stop>,
) -> Result<ControlFlow<Stop, u64>> {
    match evtx {
        true => for_each_record(path, each),
        false => for_each_text_line(path, each).map(|flow| flow.map_continue(|()| 0)),
    }
}

/// The lines of a text file (gzipped or not), without their line ends; empty lines skipped.
fn for_each_text_line(
    path: &Path,
    each: &mut dyn FnMut(Line<'_>) -> ControlFlow<Stop>,
) -> Result<ControlFlow<Stop>> {
    let mut reader = open_decompressed(path)?;
    let mut buffer = Vec::with_capacity(4096);
    loop {
        buffer.clear();
        if reader
            .read_until(b'\n', &mut buffer)
            .context("cannot read")?
            == 0
        {
            return Ok(ControlFlow::Continue(()));
        }
        let line = trim_line_end(&buffer);
        if line.is_empty() {
            continue;
        }
        let line = Line {
            bytes: line,
            time_micros: None,
        };
        if let ControlFlow::Break(stop) = each(line) {
            return Ok(ControlFlow::Break(stop));
        }
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The records of an EVTX file (gzipped ones through a temporary file), each as one
/// compact JSON object with its time.
fn for_each_record(
    path: &Path,
    each: &mut dyn FnMut(Line<'_>) -> ControlFlow<Stop>,
) -> Result<ControlFlow<Stop, u64>> {
    let file = evtx_file(path)?;
    let mut parser = evtx::EvtxParser::from_read_seek(file).context("not a readable EVTX file")?;
    let mut unreadable = 0;
    let mut json = Vec::with_capacity(4096);
    for record in parser.records_json_value() {
        let Ok(record) = record else {
            unreadable += 1;
            continue;
        };
        json.clear();
        serde_json::to_writer(&mut json, &record.data).context("cannot render a record")?;
        let line = Line {
            bytes: &json,
            time_micros: Some(record.timestamp.as_microsecond()),
        };
        if let ControlFlow::Break(stop) = each(line) {
            return Ok(ControlFlow::Break(stop));
        }
    }
    Ok(ControlFlow::Continue(unreadable))
}

/// The EVTX file itself, or what its gzip holds copied into an unnamed temporary file
/// (EVTX needs random access).
fn evtx_file(path: &Path) -> Result<File> {
    let mut file = File::open(path).context("cannot open")?;
    let mut head = [0u8; 2];
    let read = file.read(&mut head).context("cannot read")?;
    file.rewind().context("cannot read")?;
    if !head[..read].starts_with(GZIP_MAGIC) {
        return Ok(file);
    }
    let mut copy = tempfile::tempfile().context("cannot create a temporary file")?;
    std::io::copy(&mut open_decompressed(path)?, &mut copy).context("cannot decompress")?;
    copy.rewind().context("cannot read the decompressed copy")?;
    Ok(copy)
}

/// The times [`shift_times`] moves: `when=EPOCH` (group 1) and `"SystemTime":"..."`
/// (group 2).
static TIMES: std::sync::LazyLock<Option<regex::bytes::Regex>> = std::sync::LazyLock::new(|| {
    regex::bytes::Regex::new(r#"when=(\d{9,11})\b|"SystemTime":"([0-9][^"]{9,40})""#).ok()
});

/// Writes `line` into `out` with its times moved by `micros` (see [`Retime`]).
pub fn shift_times(line: &[u8], micros: i64, out: &mut Vec<u8>) {
    out.clear();
    let mut copied = 0;
    if let Some(times) = TIMES.as_ref() {
        for found in times.captures_iter(line) {
            let (at, moved) = match (found.get(1), found.get(2)) {
                (Some(epoch), _) => (epoch, shift_epoch(epoch.as_bytes(), micros)),
                (None, Some(rfc3339)) => (rfc3339, shift_rfc3339(rfc3339.as_bytes(), micros)),
                (None, None) => continue,
            };
            if let Some(moved) = moved {
                out.extend_from_slice(&line[copied..at.start()]);
                out.extend_from_slice(moved.as_bytes());
                copied = at.end();
            }
        }
    }
    out.extend_from_slice(&line[copied..]);
}

/// The first time [`shift_times`] finds in a line, in microseconds.
pub fn line_time_micros(line: &[u8]) -> Option<i64> {
    let found = TIMES.as_ref()?.captures(line)?;
    match (found.get(1), found.get(2)) {
        (Some(epoch), _) => epoch_micros(epoch.as_bytes()),
        (None, Some(rfc3339)) => rfc3339_micros(rfc3339.as_bytes()),
        (None, None) => None,
    }
}

/// The first and last time of a file's lines (as [`shift_times`] finds them), in
/// microseconds; `None` when it has none.
pub fn time_range(path: &Path) -> Result<Option<(i64, i64)>> {
    let Some(times) = TIMES.as_ref() else {
        return Ok(None);
    };
    let mut range: Option<(i64, i64)> = None;
    let mut each = |line: Line<'_>| {
        for found in times.captures_iter(line.bytes) {
            let micros = match (found.get(1), found.get(2)) {
                (Some(epoch), _) => epoch_micros(epoch.as_bytes()),
                (None, Some(rfc3339)) => rfc3339_micros(rfc3339.as_bytes()),
                (None, None) => None,
            };
            if let Some(t) = micros {
                range = Some(range.map_or((t, t), |(low, high)| (low.min(t), high.max(t))));
            }
        }
        ControlFlow::Continue(())
    };
    let evtx = is_evtx(path)?;
    // `each` never breaks: the flow says nothing.
    let _ = for_each_line(path, evtx, &mut each)?;
    Ok(range)
}

fn epoch_micros(digits: &[u8]) -> Option<i64> {
    std::str::from_utf8(digits)
        .ok()?
        .parse::<i64>()
        .ok()?
        .checked_mul(1_000_000)
}

fn rfc3339_micros(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    Some(
        chrono::DateTime::parse_from_rfc3339(text)
            .ok()?
            .timestamp_micros(),
    )
}

fn shift_epoch(digits: &[u8], micros: i64) -> Option<String> {
    let seconds = epoch_micros(digits)?.checked_add(micros)? / 1_000_000;
    Some(seconds.to_string())
}

fn shift_rfc3339(text: &[u8], micros: i64) -> Option<String> {
    let moved = rfc3339_micros(text)?.checked_add(micros)?;
    let time = chrono::DateTime::from_timestamp_micros(moved)?;
    Some(time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// Writes every line of `files` as `tocsin replay` would send them (EVTX as JSON) into
/// `out`; returns how many.
pub fn write_lines(files: &[PathBuf], out: &Path) -> Result<u64> {
    let mut writer = BufWriter::new(
        File::create(out).with_context(|| format!("cannot create {}", out.display()))?,
    );
    let mut count = 0;
    let mut failure = None;
    for file in files {
        let evtx = is_evtx(file).with_context(|| file.display().to_string())?;
        let mut write = |line: Line<'_>| match writer
            .write_all(line.bytes)
            .and_then(|()| writer.write_all(b"\n"))
        {
            Ok(()) => {
                count += 1;
                ControlFlow::Continue(())
            }
            Err(error) => {
                failure = Some(error);
                ControlFlow::Break(Stop::Deadline)
            }
        };
        let read =
            for_each_line(file, evtx, &mut write).with_context(|| file.display().to_string())?;
        if let (ControlFlow::Break(_), Some(error)) = (read, failure.take()) {
            return Err(error).with_context(|| format!("cannot write {}", out.display()));
        }
    }
    writer
        .flush()
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_http_needs_a_token() {
        assert!(matches!(
            Target::parse("tcp://127.0.0.1:5514", None),
            Ok(Target::Tcp(addr)) if addr == "127.0.0.1:5514"
        ));
        assert!(matches!(
            Target::parse("UDP://[::1]:514/", None),
            Ok(Target::Udp(addr)) if addr == "[::1]:514"
        ));
        assert!(matches!(
            Target::parse("http://h:1/", Some("t")),
            Ok(Target::Http { base, token }) if base == "http://h:1" && token == "t"
        ));
        assert!(Target::parse("http://h:1", None).is_err());
        assert!(Target::parse("ftp://h:1", None).is_err());
    }

    #[test]
    fn a_batch_is_a_body_of_lines() {
        let mut batch = Batch::default();
        batch.push(b"one");
        batch.push(b"");
        batch.push(b"three");
        assert_eq!(batch.data, b"one\n\nthree\n");
        let lines: Vec<&[u8]> = batch.lines().collect();
        assert_eq!(lines, [&b"one"[..], b"", b"three"]);
    }

    #[test]
    fn the_speed_clock_keeps_gaps_divided() {
        let mut clock = SpeedClock::default();
        let first = clock.due(Some(1_000_000), 2.0).unwrap();
        let later = clock.due(Some(3_000_000), 2.0).unwrap();
        assert_eq!(later - first, Duration::from_secs(1));
        assert_eq!(clock.due(Some(0), 2.0), Some(first));
        assert_eq!(clock.due(None, 2.0), None);
    }

    #[test]
    fn times_move_and_the_rest_stays() {
        let mut out = Vec::new();
        let appliance = b"Nov  8 00:01:28 h BG[1]: 4135:01:01:event=login;when=1731045688;who=x";
        shift_times(appliance, 2 * 86_400_000_000, &mut out);
        assert_eq!(
            out,
            b"Nov  8 00:01:28 h BG[1]: 4135:01:01:event=login;when=1731218488;who=x"
        );
        let evtx = br##"{"Event":{"System":{"TimeCreated":{"#attributes":{"SystemTime":"2019-03-19T23:34:25.257000Z"}}}}}"##;
        shift_times(evtx, 1_000_000, &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            r##"{"Event":{"System":{"TimeCreated":{"#attributes":{"SystemTime":"2019-03-19T23:34:26.257000Z"}}}}}"##
        );
        shift_times(b"no time here", 5, &mut out);
        assert_eq!(out, b"no time here");
        let retime = Retime {
            step_micros: 10,
            first_cycle: 3,
        };
        assert_eq!(retime.shift_micros(1), 40);
    }

    #[test]
    fn flags_make_a_pace() {
        assert_eq!(Pace::from_flags(0.0, None).unwrap(), Pace::Flat);
        assert_eq!(Pace::from_flags(5.0, None).unwrap(), Pace::Rate(5.0));
        assert_eq!(Pace::from_flags(0.0, Some(3.0)).unwrap(), Pace::Speed(3.0));
        assert!(Pace::from_flags(-1.0, None).is_err());
        assert!(Pace::from_flags(0.0, Some(0.0)).is_err());
    }
}
