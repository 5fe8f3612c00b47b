//! Command-line flags, as clap types. Only this module knows argv.
//!
//! A flag that names one of a library's words (a level, a status, a format) takes the
//! library's own type, parsed by its `FromStr`, so that the command line accepts exactly
//! the words the libraries read and print, and a wrong word is refused by clap (exit 2)
//! with the library's message, which lists the accepted words. Each such flag's doc
//! comment lists them too, for `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use tocsin_event::{parse_duration_micros, Level};
use tocsin_incident::{Band, Resolution, Status as IncidentStatus};
use tocsin_output::Format;
use tocsin_sigma::ast::Status as RuleStatus;

/// tocsin: hunt security logs with Sigma rules.
#[derive(Debug, Parser)]
#[command(name = "tocsin", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Hunt EVTX and JSON logs (files, folders, .gz, or - for stdin) with Sigma rules.
    Hunt(Box<HuntArgs>),
    /// Work with rule sets.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Exchange threat intelligence with partners over TAXII 2.1: list a server's
    /// collections, pull their STIX objects into the intel folder that detection reads,
    /// push bundles or an incident's export.
    #[command(subcommand)]
    Share(ShareCommand),
    /// List, show and update the incidents of a store written by `hunt --store`.
    #[command(subcommand)]
    Incidents(IncidentsCommand),
    /// Measure hunting speed against the decoders' own speed (the parse floor), rule
    /// loading, peak memory and scaling; prints a report, changes nothing.
    Bench(BenchArgs),
    /// Generate a remote-support environment with an intrusion in it, hunt it with the
    /// built-in rules and behavioural detectors, and tell the story (no setup, no network).
    Demo(DemoArgs),
    /// Print the decoded events of logs as JSON Lines, as `hunt` sees them: source file,
    /// record number and the fields by the names rules use.
    Events(EventsArgs),
    /// Print the events that hold a keyword, match a regular expression or have a field
    /// value, over every input `hunt` reads (exit 1 when none does).
    Search(SearchArgs),
    /// Size up logs before hunting: events by channel and event ID, by computer, by day and
    /// hour, and successful and failed logons by user, logon type and source address.
    Stats(StatsArgs),
    /// Run the live detection service: HTTP ingest into a durable spool, the hunt's pipeline
    /// on every event as it arrives, incidents in a store, a REST API (loopback only and
    /// the built-in rules unless configured; see `--config`).
    Serve(ServeArgs),
    /// Create, list and revoke the API tokens of `tocsin serve` (stored hashed; a token is
    /// shown once, when created).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Add, list and disable the users of `tocsin serve`, who log in with HTTP Basic (a
    /// name and a password, stored as an argon2id hash; the password is read from an
    /// environment variable or standard input, never from the command line).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Send log files (any format `hunt` reads; EVTX rendered as JSON) to a running
    /// `tocsin serve` over HTTP, or as syslog over TCP or UDP, at a chosen pace: a load
    /// generator, and a way to feed old logs to the service.
    Replay(ReplayArgs),
    /// Print the shell completion script for bash, zsh, fish, elvish or powershell
    /// (`tocsin completions bash > /etc/bash_completion.d/tocsin`).
    Completions(CompletionsArgs),
    /// Print the tocsin(1) man page, or write one page per command into a folder
    /// (`tocsin man --out /usr/share/man/man1`).
    Man(ManArgs),
}

/// Flags of `tocsin serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration (every key and its default: `serve.example.toml` in the
    /// sources, or the README); without it, the built-in defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Listen on this address instead of the configuration's (`127.0.0.1:8517` by default;
    /// port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Also receive syslog over TCP (RFC 6587, octet counting or a message per line) on
    /// this address (the configuration's `[syslog] tcp`).
    #[arg(long, value_name = "ADDR")]
    pub syslog_tcp: Option<std::net::SocketAddr>,
    /// Also receive syslog over UDP on this address (the configuration's `[syslog] udp`).
    #[arg(long, value_name = "ADDR")]
    pub syslog_udp: Option<std::net::SocketAddr>,
    /// Also follow this file or folder as it grows (`tail -F`: read from its start the first
    /// time, then from where the service stopped; the format sniffed; repeat for more;
    /// `[[follow]]` in the configuration says more).
    #[arg(long, value_name = "PATH")]
    pub follow: Vec<std::path::PathBuf>,
    #[command(flatten)]
    pub data: ServeDataArgs,
}

/// Where `tocsin serve` keeps its data.
#[derive(Debug, Args)]
pub struct ServeDataArgs {
    /// The service's data folder (spool, store, tokens). Default: the configuration's
    /// `data_dir`, else `serve` in tocsin's data folder (`$TOCSIN_DATA_DIR`,
    /// `$XDG_DATA_HOME/tocsin`, `~/.local/share/tocsin`).
    #[arg(long, value_name = "DIR")]
    pub data: Option<std::path::PathBuf>,
}

/// `tocsin tokens` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it (once: only its argon2id hash is kept).
    Create(TokenCreateArgs),
    /// List the tokens (ids, names, roles; never the secrets).
    List(ServeDataArgs),
    /// Revoke a token by id; it stops working at once, also in a running service.
    Revoke(TokenRevokeArgs),
}

/// Flags of `tocsin tokens create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Who or what uses the token (a shipper, an analyst).
    #[arg(long)]
    pub name: String,
    /// What it may do: admin (everything), analyst (read and respond), viewer (read),
    /// ingest (only send events), partner (only the TAXII collections that name it).
    #[arg(long, value_parser = ["admin", "analyst", "viewer", "ingest", "partner"])]
    pub role: String,
    #[command(flatten)]
    pub data: ServeDataArgs,
}

/// Flags of `tocsin tokens revoke`.
#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token's id (the part after `tsn_`, as `tokens list` shows it).
    pub id: String,
    #[command(flatten)]
    pub data: ServeDataArgs,
}

/// `tocsin users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user with a role and a password.
    Add(UserAddArgs),
    /// List the users (names, roles, states; never the passwords).
    List(ServeDataArgs),
    /// Disable a user (kept for the record); it stops working at once, also in a running
    /// service.
    Disable(UserNameArgs),
    /// Enable a disabled user again, with the password they had (`users passwd` sets a
    /// new one).
    Enable(UserNameArgs),
    /// Set a user's password; the old one stops working at once.
    Passwd(UserPasswdArgs),
}

/// Where a user's password comes from.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// The environment variable holding the password (at least 12 characters); when it is
    /// not set, the password is asked for twice at the terminal (not echoed), or read as one
    /// line of standard input when that is not a terminal.
    #[arg(long, value_name = "VAR", default_value = "TOCSIN_PASSWORD")]
    pub password_env: String,
}

/// Flags of `tocsin users add`.
#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The name the user logs in with: 1 to 64 ASCII letters, digits, '.', '-', '_' or '@'.
    pub name: String,
    /// What the user may do: admin (everything), analyst (read and respond), viewer
    /// (read), ingest (only send events), partner (only the TAXII collections that name
    /// the user).
    #[arg(long, value_parser = ["admin", "analyst", "viewer", "ingest", "partner"])]
    pub role: String,
    #[command(flatten)]
    pub password: PasswordArgs,
    #[command(flatten)]
    pub data: ServeDataArgs,
}

/// Flags of `tocsin users disable` and `tocsin users enable`.
#[derive(Debug, Args)]
pub struct UserNameArgs {
    /// The user's name.
    pub name: String,
    #[command(flatten)]
    pub data: ServeDataArgs,
}

/// Flags of `tocsin users passwd`.
#[derive(Debug, Args)]
pub struct UserPasswdArgs {
    /// The user's name.
    pub name: String,
    #[command(flatten)]
    pub password: PasswordArgs,
    #[command(flatten)]
    pub data: ServeDataArgs,
}

/// Flags of `tocsin replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Log files or folders (recursive), `-` for text on standard input: text formats line
    /// by line (`.gz` decompressed), EVTX files record by record as JSON.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Where to send: http://HOST:PORT (the service's `POST /api/v1/events`),
    /// tcp://HOST:PORT (syslog over TCP, RFC 6587 octet counting) or udp://HOST:PORT (a
    /// datagram per line).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The API token of an `ingest` (or `admin`) role, for http://.
    #[arg(
        long,
        env = "TOCSIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// The decoder the service is told to use over HTTP (`?format=`): auto (sniffed),
    /// json, syslog, appliance, cef, api-audit, outbound. EVTX files are always sent as
    /// json. Over TCP and UDP the service's `[syslog] format` decides.
    #[arg(long, default_value = "auto", value_name = "FORMAT")]
    pub format: String,
    /// Lines per HTTP request.
    #[arg(long, default_value_t = 1000, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub batch: usize,
    /// Events per second on average (0: as fast as the service takes them).
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "N",
        conflicts_with = "speed"
    )]
    pub rate: f64,
    /// Keep the events' own time gaps, divided by X (2 replays twice as fast as the
    /// events happened); each file starts when the previous one ends.
    #[arg(long, value_name = "X")]
    pub speed: Option<f64>,
    /// Gzip each HTTP request's body.
    #[arg(long)]
    pub gzip: bool,
    /// Do not print the summary on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Flags of `tocsin completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Flags of `tocsin man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `tocsin.1` and a page per command (`tocsin-hunt.1`, `tocsin-rules-lint.1`,
    /// ...) into this folder, created if missing, instead of `tocsin.1` on standard output.
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
}

/// Formats of `tocsin stats`.
/// Which decoder reads EVTX records (`hunt --evtx-decoder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvtxDecoderArg {
    /// tocsin's own decoder.
    Direct,
    /// The `evtx` crate's JSON rendering, flattened.
    Crate,
}

impl From<EvtxDecoderArg> for tocsin_decode::EvtxDecoder {
    fn from(arg: EvtxDecoderArg) -> Self {
        match arg {
            EvtxDecoderArg::Direct => tocsin_decode::EvtxDecoder::Direct,
            EvtxDecoderArg::Crate => tocsin_decode::EvtxDecoder::Crate,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatsFormat {
    /// Aligned tables.
    Table,
    /// One JSON object with every row.
    Json,
}

/// Flags of `tocsin stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Log files or folders (recursive); `-` reads standard input.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format: table, or json (every row, for scripts).
    #[arg(long, short = 'f', value_enum, default_value_t = StatsFormat::Table)]
    pub format: StatsFormat,
    /// The most rows each table shows (the days and hours are shown in full; json shows
    /// everything).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    /// Worker threads (default: the number of cores).
    #[arg(long, short = 't', value_name = "N")]
    pub threads: Option<usize>,
    /// File extensions to read inside folders.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "evtx,json,jsonl,ndjson,log,syslog,cef,gz"
    )]
    pub extensions: Vec<String>,
    /// Read every input as this format instead of telling it from its name and content
    /// (as `hunt --input-format`).
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<tocsin_decode::Format>,
    /// Where plain JSON inputs come from (as `hunt --logsource`).
    #[arg(long, value_name = "SOURCE", value_parser = parse_logsource)]
    pub logsource: Option<tocsin_event::LogSource>,
    #[command(flatten)]
    pub range: TimeRangeArgs,
    #[command(flatten)]
    pub clock: LogClockArgs,
    /// Do not print the notes of the decoders on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Flags of `tocsin search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Log files or folders (recursive); `-` reads standard input.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Text to find in any field's value; an event holding any of them matches (repeat).
    #[arg(long, short = 'k', value_name = "TEXT")]
    pub keyword: Vec<String>,
    /// A regular expression (Rust `regex` syntax) that some field's value must match;
    /// every one given must (repeat).
    #[arg(long, value_name = "RE")]
    pub regex: Vec<String>,
    /// NAME=VALUE: the field (by the name rules use, or its full path) has a value equal
    /// to VALUE, `*` and `?` being wildcards; every one given must hold (repeat).
    #[arg(long, value_name = "NAME=VALUE")]
    pub field: Vec<String>,
    /// A Sigma detection the event must meet, in YAML: one selection (`{EventID: 4625,
    /// TargetUserName|endswith: $}`) or selections with a condition (`{sel: {EventID:
    /// 4625}, adm: {TargetUserName|contains: adm}, condition: sel and not adm}`) or a list
    /// of keywords (`[mimikatz, sekurlsa]`); `@FILE`
    /// reads it from FILE. Field names and modifiers as in rules; it meets every logsource.
    #[arg(long, value_name = "DETECTION")]
    pub sigma_condition: Option<String>,
    /// Match case exactly (by default case is ignored, for ASCII letters in keywords).
    #[arg(long)]
    pub case_sensitive: bool,
    /// Print a tab-separated table of the time, source, record and these fields instead
    /// of JSON Lines.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "FIELD",
        conflicts_with = "format"
    )]
    pub show: Vec<String>,
    /// Output format: jsonl (the events as `tocsin events` prints them), ecs (one Elastic
    /// Common Schema document per event, `event.kind: event`) or ecs-bulk (the same as an
    /// Elasticsearch/OpenSearch _bulk body).
    #[arg(long, short = 'f', value_enum, default_value_t = SearchFormat::Jsonl)]
    pub format: SearchFormat,
    /// Worker threads (default: the number of cores).
    #[arg(long, short = 't', value_name = "N")]
    pub threads: Option<usize>,
    /// File extensions to read inside folders.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "evtx,json,jsonl,ndjson,log,syslog,cef,gz"
    )]
    pub extensions: Vec<String>,
    /// Read every input as this format instead of telling it from its name and content
    /// (as `hunt --input-format`).
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<tocsin_decode::Format>,
    /// Where plain JSON inputs come from (as `hunt --logsource`).
    #[arg(long, value_name = "SOURCE", value_parser = parse_logsource)]
    pub logsource: Option<tocsin_event::LogSource>,
    #[command(flatten)]
    pub range: TimeRangeArgs,
    #[command(flatten)]
    pub clock: LogClockArgs,
    /// Do not print the count of matches on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Formats of `tocsin search`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SearchFormat {
    /// The events as `tocsin events` prints them.
    Jsonl,
    /// One Elastic Common Schema document per event.
    Ecs,
    /// ECS documents as an Elasticsearch/OpenSearch `_bulk` body.
    EcsBulk,
}

/// Flags of `tocsin events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Log files or folders (recursive); `-` reads JSON from standard input.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// File extensions to read inside folders.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "evtx,json,jsonl,ndjson,log,syslog,cef,gz"
    )]
    pub extensions: Vec<String>,
    /// Where plain JSON inputs come from, for the rules written for it:
    /// `product:NAME[,service:NAME][,category:NAME]` (such as product:zeek,service:rdp).
    /// Plain JSON says neither its product nor a Windows channel, so without this its
    /// records meet only rules that name no logsource. Records with a Windows Channel,
    /// and formats that name their source (syslog, CEF, appliance, API audit), are placed
    /// as before.
    #[arg(long, value_name = "SOURCE", value_parser = parse_logsource)]
    pub logsource: Option<tocsin_event::LogSource>,
    #[command(flatten)]
    pub range: TimeRangeArgs,
}

/// Flags of `tocsin demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seed of the generated world and intrusion; the same seed tells the same story.
    #[arg(long, default_value_t = 2024, value_name = "N")]
    pub seed: u64,
    /// Folder for the logs, the store and the report (default: ./tocsin-demo-<seed>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write into --out even if it holds files that are not a previous demo's.
    #[arg(long)]
    pub force: bool,
    /// Days of ordinary activity before the intrusion (3 to 366: the demo holds its
    /// world in memory).
    #[arg(long, default_value_t = 21, value_name = "N",
          value_parser = clap::value_parser!(u32).range(3..=366))]
    pub days: u32,
    /// Workstations in the generated estate (6 to 20000).
    #[arg(long, default_value_t = 300, value_name = "N",
          value_parser = clap::value_parser!(u64).range(6..=20_000))]
    pub workstations: u64,
    /// Print only the paths written (and errors).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Which intrusion to play: base (the stolen key from new hosting networks), busy (a
    /// larger, busier site), appliance-only (no API audit log), stealthy (the key used in
    /// its integration's hours, with its user agent, from its own cloud), site-account (a
    /// representative's password reset, then a console login with it); `all` (only with
    /// --evaluate) scores every one.
    #[arg(long, default_value = "base", value_name = "VARIANT",
          value_parser = ["base", "busy", "appliance-only", "stealthy", "site-account", "all"])]
    pub variant: String,
    /// Instead of one demo, score N seeds of the variant against the acceptance criteria
    /// (first medium-or-higher alert within 5 minutes, the attack in one incident of
    /// severity high or above, at most 0.2 false incidents per site-month, no incident of
    /// low alerts only); exits 1 if one fails. Writes nothing.
    #[arg(
        long,
        value_name = "N",
        conflicts_with_all = ["out", "force"],
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub evaluate: Option<u64>,
    /// First seed of --evaluate.
    #[arg(long, default_value_t = 1, value_name = "S", requires = "evaluate")]
    pub first_seed: u64,
}

/// Flags of `tocsin bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Rules to load (default: $TOCSIN_SHARED/sigma/rules, or ../shared/sigma/rules).
    #[arg(long, short = 'r', value_name = "PATH")]
    pub rules: Option<PathBuf>,
    /// Folder of EVTX files to hunt (default: $TOCSIN_SHARED/evtx, or ../shared/evtx);
    /// the benchmark also converts them to JSON Lines to measure that decoder.
    #[arg(long, short = 'i', value_name = "DIR")]
    pub input: Option<PathBuf>,
    /// How many times the input is read in the throughput passes.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub repeat: usize,
    /// Worker threads (default: the number of cores).
    #[arg(long, short = 't', value_name = "N")]
    pub threads: Option<usize>,
    /// How many rule loads and end-to-end `tocsin hunt` runs to take the median of.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub runs: usize,
    /// A first look in a fraction of the time: one pass of each kind (as `--repeat 1
    /// --runs 1`) and no scaling measurements. The ratios hold; their spread is wider.
    #[arg(long, conflicts_with_all = ["repeat", "runs"])]
    pub quick: bool,
    /// Instead of hunting, measure what adding 1,000 detections to incident stores of these
    /// sizes costs: incremental grouping against regrouping every stored alert.
    #[arg(
        long,
        value_name = "SIZES",
        value_delimiter = ',',
        num_args = 0..=1,
        default_missing_values = ["10000", "1000000"]
    )]
    pub grouping: Option<Vec<usize>>,
    /// Instead of hunting the corpus, measure how a hunt's peak memory grows with its input
    /// when a correlation and the behavioural detectors keep state: N generated failed
    /// logons and N API calls, then four times as many, each against the rule alone.
    #[arg(
        long,
        value_name = "EVENTS",
        num_args = 0..=1,
        default_missing_value = "250000",
        conflicts_with = "grouping",
        value_parser = clap::value_parser!(u64).range(1..=50_000_000)
    )]
    pub memory: Option<u64>,
    /// Used by `--memory`: run this hunt (its flags follow) in a fresh process and print
    /// its peak resident memory in bytes.
    #[arg(long, hide = true, num_args = 1.., allow_hyphen_values = true)]
    pub probe_hunt: Vec<String>,
    #[command(flatten)]
    pub serve: ServeBenchArgs,
}

/// Flags of `tocsin bench --serve`.
#[derive(Debug, Args)]
pub struct ServeBenchArgs {
    /// Instead of hunting, benchmark `tocsin serve`: Windows events (the --input EVTX
    /// files as JSON, --rules plus builtin) and the demo's appliance syslog (builtin
    /// rules), each over HTTP and TCP and against a hunt of the same events: the
    /// highest sustained rate, latency at half that rate, memory.
    #[arg(long, conflicts_with_all = ["grouping", "memory"])]
    pub serve: bool,
    /// Seconds of the steady phase at half the highest rate (a long soak: 600).
    #[arg(long, default_value_t = 20, value_name = "SECS", requires = "serve")]
    pub duration: u64,
    /// Events of each scenario's throughput phase (its input is looped to reach it, each
    /// loop's times moved on).
    #[arg(long, default_value_t = 300_000, value_name = "N", requires = "serve",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub events: u64,
    /// The spool's fsync policy: always (the service's default) or never.
    #[arg(long, default_value = "always", value_name = "POLICY", value_parser = ["always", "never"], requires = "serve")]
    pub bench_fsync: String,
    /// Only these scenarios: windows, appliance (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_parser = ["windows", "appliance"], requires = "serve")]
    pub scenario: Vec<String>,
    /// In what order the Windows events arrive: time (each loop of the corpus in event
    /// time order, as a live feed from many hosts delivers them) or files (file after file,
    /// as a backfill of archived logs: events years apart arrive mixed, and every late
    /// detection regroups incidents)
    #[arg(long, default_value = "time", value_parser = ["time", "files"], requires = "serve")]
    pub arrival: String,
    /// Keep each service's log in this folder (`SCENARIO-VIA.log`) instead of a temporary
    /// one; with `TOCSIN_LOG=tocsin_server=debug`, it times every step of the pipeline.
    #[arg(long, value_name = "DIR", requires = "serve")]
    pub service_logs: Option<PathBuf>,
}

/// `tocsin rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load and compile every rule; report every problem with its file and line.
    /// Exits 1 if any rule has a problem.
    Lint(LintArgs),
    /// List rules, one line each (file, id, level, title, logsource).
    List(RulesListArgs),
    /// Install or update the rules `hunt` uses when no --rules are given: SigmaHQ's latest
    /// release package (or a zip or folder of your own), verified, then swapped in at once.
    /// Reports the rules added, removed and changed.
    Update(RulesUpdateArgs),
}

/// Flags of `tocsin rules update`.
#[derive(Debug, Args)]
pub struct RulesUpdateArgs {
    /// Where the rules come from: an http(s) URL of a zip, a local .zip file, or a folder
    /// of rules (default: the --pack package of SigmaHQ's latest release).
    #[arg(long, value_name = "URL|FILE|DIR")]
    pub source: Option<String>,
    /// Which SigmaHQ release package: core (stable and test rules, high and critical),
    /// core+ (medium too), core++ (experimental too), emerging (the emerging-threats
    /// add-on) or all.
    #[arg(long, value_enum, default_value_t = PackArg::Core, conflicts_with = "source")]
    pub pack: PackArg,
    /// The SHA-256 the zip must have (SigmaHQ publishes none; use it for your own packages).
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// Download and verify, report what would change, but install nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// SigmaHQ's release packages (`tocsin_rulepack::Pack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PackArg {
    /// sigma_core.zip
    Core,
    /// sigma_core+.zip
    #[value(name = "core+")]
    CorePlus,
    /// sigma_core++.zip
    #[value(name = "core++")]
    CorePlusPlus,
    /// sigma_emerging_threats_addon.zip
    Emerging,
    /// sigma_all_rules.zip
    All,
}

/// Flags of `tocsin rules list`.
#[derive(Debug, Args)]
pub struct RulesListArgs {
    /// Rule files or folders (searched recursively for .yml/.yaml); the word `builtin`
    /// stands for the built-in rules. None: the installed rules (`tocsin rules update`).
    pub paths: Vec<PathBuf>,
    /// List the built-in rules (embedded in the binary).
    #[arg(long)]
    pub builtin: bool,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ListFormatArg::Table)]
    pub format: ListFormatArg,
}

/// Flags of `tocsin rules lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Rule files or folders (searched recursively for .yml/.yaml). None: the installed
    /// rules (`tocsin rules update`).
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub compile: CompileArgs,
}

/// Flags that change how rules are compiled.
#[derive(Debug, Args, Clone, Default)]
pub struct CompileArgs {
    /// Logsource mapping file (tocsin or sigmac/THOR format) used instead of the built-in
    /// Windows mapping.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// YAML file giving the values of `expand` placeholders (name: [values]).
    #[arg(long, value_name = "FILE")]
    pub placeholders: Option<PathBuf>,
    /// Compile the rules afresh instead of reading them back from the compiled-rule cache
    /// (`$TOCSIN_CACHE_DIR`, `$XDG_CACHE_HOME/tocsin` or `~/.cache/tocsin`), and do not
    /// store them there.
    #[arg(long)]
    pub no_rule_cache: bool,
}

/// Flags of `tocsin hunt`.
#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Log files or folders (recursive); `-` reads standard input (any format; EVTX is
    /// copied to a temporary file first, as it needs random access).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Sigma rule files or folders (recursive); `builtin` names the rules embedded in
    /// the binary (see `tocsin rules list --builtin`). Default: the rules installed by
    /// `tocsin rules update`.
    #[arg(long, short = 'r', value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// STIX 2.1 indicators to hunt for (repeatable): a file (bundle, JSON array or JSON
    /// Lines of objects) or a folder of `*.json`/`*.jsonl` files. Indicators one event can
    /// match (addresses, domains, URLs, hashes, accounts, file and process names) become
    /// detections; Sigma indicators are compiled with the rules. With indicators and no
    /// `--rules`, the installed rules are used when there are any.
    #[arg(long, value_name = "PATH")]
    pub indicators: Vec<PathBuf>,
    #[command(flatten)]
    pub compile: CompileArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output format: table (one coloured line per detection), csv (comma-separated values
    /// with a header), jsonl (one JSON object per line), ecs (one Elastic Common Schema
    /// alert document per line; with --attack, techniques are named), ecs-bulk (the same
    /// as an Elasticsearch/OpenSearch _bulk body, an action line before each document) or
    /// timesketch (Timesketch's JSONL import format: message, datetime, timestamp_desc).
    #[arg(long, short = 'f', value_name = "FORMAT", default_value_t = Format::Table)]
    pub format: Format,
    /// Write detections to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write an ATT&CK Navigator layer (format 4.5) of the techniques the detections
    /// are tagged with, scored by detections and commented with the rules that found them.
    #[arg(long, value_name = "FILE")]
    pub navigator: Option<PathBuf>,
    /// Also write a self-contained HTML summary of the hunt: detections by level, rule,
    /// computer, technique and over time as inline SVG charts, and the first 1,000
    /// detections in event time; it loads nothing, so it reads offline.
    #[arg(long, value_name = "FILE")]
    pub html_report: Option<PathBuf>,
    /// Print the detections sorted by event time across all files (equal times by source,
    /// record and rule; detections without a time last), once the hunt is over, instead of
    /// as they are found. They are held in memory until then.
    #[arg(long)]
    pub timeline: bool,
    /// Worker threads (default: the number of cores).
    #[arg(long, short = 't', value_name = "N")]
    pub threads: Option<usize>,
    /// File extensions to read inside folders.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "evtx,json,jsonl,ndjson,log,syslog,cef,gz"
    )]
    pub extensions: Vec<String>,
    /// Read every input as this format instead of telling it from the file's name and
    /// content: evtx, json (also jsonl, ndjson: JSON Lines, an array or concatenated
    /// objects), syslog, appliance, cef, api-audit, outbound (a remote-support
    /// appliance's outbound events, one captured POST body per line) or session-report
    /// (its reporting API's support session XML).
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<tocsin_decode::Format>,
    /// Which decoder reads EVTX records: tocsin's own (direct, the default: templates
    /// read in place, no JSON) or the `evtx` crate's JSON rendering (crate), which the
    /// direct decoder equals record for record and which stays for cross-checking.
    #[arg(long, value_name = "DECODER", default_value = "direct")]
    pub evtx_decoder: EvtxDecoderArg,
    /// Where plain JSON inputs come from, for the rules written for it:
    /// `product:NAME[,service:NAME][,category:NAME]` (such as product:zeek,service:rdp).
    /// Plain JSON says neither its product nor a Windows channel, so without this its
    /// records meet only rules that name no logsource. Records with a Windows Channel,
    /// and formats that name their source (syslog, CEF, appliance, API audit), are placed
    /// as before.
    #[arg(long, value_name = "SOURCE", value_parser = parse_logsource)]
    pub logsource: Option<tocsin_event::LogSource>,
    #[command(flatten)]
    pub range: TimeRangeArgs,
    #[command(flatten)]
    pub clock: LogClockArgs,
    /// Also run the behavioural detectors (new network, unusual time, burst, impossible
    /// sequence, new principal) over the sources they watch (by default the
    /// remote-support appliance syslog and API audit log). With --store, the learned
    /// baseline is loaded before and saved after, so later hunts go on from it.
    #[arg(long)]
    pub behaviour: bool,
    /// The behavioural detectors' YAML configuration instead of the built-in one
    /// (implies --behaviour).
    #[arg(long, value_name = "FILE")]
    pub behaviour_config: Option<PathBuf>,
    /// Memory, in MiB, for the matches correlations need and the events behaviour watches
    /// until they are replayed in time order; beyond it they are sorted into temporary
    /// files (in TMPDIR), so that memory stays bounded whatever the input's size.
    #[arg(long, value_name = "MIB", default_value_t = (tocsin_pipeline::DEFAULT_REPLAY_MEMORY >> 20) as u64, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub replay_memory: u64,
    /// Do not print the summary on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Exit with 3 when anything was left out: a rule that did not load or compile, an
    /// input that could not be read, a record that could not be decoded. For automation,
    /// where a partial hunt must not pass for a complete one.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub store: HuntStoreArgs,
}

/// Flags of `tocsin hunt` that write detections into an incident store.
#[derive(Debug, Args, Clone)]
pub struct HuntStoreArgs {
    /// Also write every shown detection and correlation hit into this store (created if
    /// absent) and regroup the store's detections into incidents. Rerunning a hunt adds
    /// nothing twice.
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    #[command(flatten)]
    pub grouping: GroupingArgs,
}

/// Flags that say how detections are grouped into incidents: `hunt --store` and
/// `incidents regroup` take the same ones, so that a regroup can repeat a hunt's grouping.
#[derive(Debug, Args, Clone)]
pub struct GroupingArgs {
    /// The ATT&CK `enterprise-attack` folder (STIX data) used to name tactics and
    /// techniques in incidents; without it, tags are kept as written.
    #[arg(long, env = "TOCSIN_ATTACK", value_name = "DIR")]
    pub attack: Option<PathBuf>,
    /// How long a group of detections that is not an incident yet may stay quiet before a
    /// new detection starts another one: a whole number and s, m, h, d or w (such as 90s,
    /// 30m, 1h, 2d, 1w), as a Sigma correlation's timespan.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration_micros)]
    pub quiet_gap: i64,
    /// The quiet gap of an incident (or of a group holding a high or critical detection),
    /// which follows its entities longer (a slow intruder's steps hours apart stay one
    /// incident).
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = parse_duration_micros)]
    pub severe_quiet_gap: i64,
    /// The window over which an entity's partners (a host's users, another entity's hosts)
    /// are counted: an entity seen with more than 10 within it links nothing while that
    /// lasts (a domain controller every user logs on to, a busy admin account).
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = parse_duration_micros)]
    pub spread_window: i64,
    /// The lowest detection level that may open an incident (informational, low, medium,
    /// high or critical); detections below it only join incidents as context.
    #[arg(long, value_name = "LEVEL", default_value = "medium")]
    pub opening_level: Level,
    /// A detection at this level or above opens an incident alone; below it, an incident
    /// opens only on corroborated evidence (see --opening-risk).
    #[arg(long, value_name = "LEVEL", default_value = "high")]
    pub opening_alone_level: Level,
    /// The risk that distinct signals (rules or detectors) linked by their entities within
    /// the quiet gap must reach to open an incident below --opening-alone-level: each low
    /// signal adds 1, each medium one 3. The default 5 opens on two medium signals or one
    /// medium and two low ones; 3 opens on any medium detection.
    #[arg(long, value_name = "N", default_value_t = tocsin_incident::grouping::opening::DEFAULT_MIN_RISK)]
    pub opening_risk: u32,
    /// An incident holding this many detections is full: later detections of its entities
    /// open a continuation incident that names it (an entity that triggers rules without
    /// pause gives a chain of readable incidents, not one without end).
    #[arg(long, value_name = "N", default_value_t = tocsin_incident::grouping::DEFAULT_MAX_DETECTIONS, value_parser = at_least_one)]
    pub max_incident_detections: usize,
    /// An incident is full for detections this long after its first one (see
    /// --max-incident-detections).
    #[arg(long, value_name = "DURATION", default_value = "1w", value_parser = parse_duration_micros)]
    pub max_incident_span: i64,
}

/// A count of at least one.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// `tocsin incidents ...`
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, most recent activity first. Exits 1 when none matches.
    List(ListArgs),
    /// Render one incident as a report (Markdown, HTML or JSON).
    Show(ShowArgs),
    /// Change an incident's status, assignee, notes or response actions; every change is
    /// kept in its audit trail.
    Update(UpdateArgs),
    /// Group the store's detections into incidents again: groups the detections a hunt
    /// stopped before grouping left waiting. Give the grouping flags the hunts used.
    Regroup(RegroupArgs),
    /// Export an incident for partners as a STIX 2.1 bundle: indicators, sightings,
    /// observables, ATT&CK techniques, TLP 2.0 markings, with redaction.
    Export(ExportArgs),
    /// Record that a benign pattern (a rule, an entity, or a rule on an entity) must not
    /// open incidents again, typically after closing one as a false positive. Its
    /// detections are still stored and still join incidents as context.
    Suppress(SuppressArgs),
    /// List the suppressions in force (with --all, removed ones too). Exits 1 when none.
    Suppressions(SuppressionsArgs),
    /// Remove a suppression; its record stays in the store, with who removed it and when.
    Unsuppress(UnsuppressArgs),
}

/// Flags of `tocsin incidents export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The incident id (`INC-...`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub id: Option<String>,
    /// Export every live incident of the store, one bundle per incident in the folder given
    /// with -o (`INC-....json`), loading the rules once.
    #[arg(long, requires = "output")]
    pub all: bool,
    #[command(flatten)]
    pub store: StoreArg,
    /// Export format (stix: a STIX 2.1 bundle, the only one today).
    #[arg(long, short = 'f', value_enum, default_value_t = ExportFormat::Stix)]
    pub format: ExportFormat,
    #[command(flatten)]
    pub options: ExportOptionArgs,
    /// Write the bundle to this file instead of standard output (with --all: the folder
    /// to write the bundles into, created if needed).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What an exported bundle holds and how it is marked: the flags `incidents export` and
/// `share push --incident` share, so that both export alike.
#[derive(Debug, Args)]
pub struct ExportOptionArgs {
    /// The producing organisation, named in the bundle as its author.
    #[arg(long, env = "TOCSIN_ORGANISATION", value_name = "NAME")]
    pub producer: Option<String>,
    /// The victim organisation, when it may be named (sightings are placed there).
    #[arg(long, value_name = "NAME")]
    pub victim: Option<String>,
    /// TLP 2.0 marking of the whole bundle: clear, green, amber, amber+strict or red.
    #[arg(long, value_name = "LEVEL", default_value = "amber")]
    pub tlp: tocsin_stix::Tlp,
    /// A marking for the indicators and their sightings when they may travel further than
    /// the rest (default: the whole's).
    #[arg(long, value_name = "LEVEL")]
    pub indicator_tlp: Option<tocsin_stix::Tlp>,
    /// Redact internal names: `internal` (pseudonyms for hosts and users, internal
    /// addresses dropped), or KIND=ACTION pairs with KIND hosts, users or
    /// internal-addresses and ACTION keep, replace or drop (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub redact: Vec<String>,
    /// Attribute the intrusion to this group (an intrusion-set by default).
    #[arg(long, value_name = "NAME")]
    pub attribute: Option<String>,
    /// Export the attribution as a threat-actor instead of an intrusion-set.
    #[arg(long, requires = "attribute")]
    pub threat_actor: bool,
    /// How sure the attribution is, 0 to 100.
    #[arg(long, value_name = "N", default_value_t = 50, requires = "attribute", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub confidence: u8,
    /// The incident is retracted: every object is exported revoked.
    #[arg(long)]
    pub revoke: bool,
    /// Rule files or folders whose text becomes the `sigma` indicators of the rules that
    /// fired (`builtin` for the built-in rules, the default).
    #[arg(long, short = 'r', value_name = "PATH", default_value = "builtin")]
    pub rules: Vec<PathBuf>,
}

/// Formats of `incidents export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// A STIX 2.1 bundle (JSON).
    Stix,
}

/// Flags of `tocsin incidents suppress`.
#[derive(Debug, Args)]
pub struct SuppressArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Only detections of this rule (its id, as `incidents show` and `rules list` print it).
    #[arg(long, value_name = "RULE_ID")]
    pub rule: Option<String>,
    /// Only detections naming this entity: host=NAME, user=NAME, account=NAME,
    /// api-key=ID or source-ip=ADDRESS (an address or a network such as
    /// 198.51.100.0/24).
    #[arg(long, value_name = "KIND=VALUE", value_parser = parse_entity)]
    pub entity: Option<tocsin_incident::Entity>,
    /// The incident that showed the pattern benign (kept with the suppression).
    #[arg(long, value_name = "ID")]
    pub incident: Option<String>,
    /// Why the pattern is benign, for the analyst who finds the suppression later.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Who adds it; by default `$USER`, else `$LOGNAME`, else the system's user name.
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

/// Flags of `tocsin incidents suppressions`.
#[derive(Debug, Args)]
pub struct SuppressionsArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Also list removed suppressions.
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ListFormatArg::Table)]
    pub format: ListFormatArg,
}

/// Flags of `tocsin incidents unsuppress`.
#[derive(Debug, Args)]
pub struct UnsuppressArgs {
    /// The suppression's number, as `incidents suppressions` lists it.
    pub id: u64,
    #[command(flatten)]
    pub store: StoreArg,
    /// Who removes it; by default `$USER`, else `$LOGNAME`, else the system's user name.
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

/// `KIND=VALUE` as an entity: the value normalised as detections' entities are (host names
/// and users lowercased, an address kept as written so that it may be a network).
fn parse_entity(text: &str) -> Result<tocsin_incident::Entity, String> {
    use tocsin_incident::{Entity, EntityKind};
    let (kind, value) = text.split_once('=').ok_or_else(|| {
        format!("'{text}' is not KIND=VALUE (api-key=k-123, source-ip=198.51.100.0/24)")
    })?;
    let kind = match kind.trim() {
        "host" => EntityKind::Host,
        "user" => EntityKind::User,
        "account" => EntityKind::Account,
        "api-key" => EntityKind::ApiKey,
        "source-ip" => EntityKind::SourceIp,
        other => {
            return Err(format!(
                "unknown entity kind '{other}': host, user, account, api-key or source-ip"
            ))
        }
    };
    let value = value.trim();
    if kind == EntityKind::SourceIp {
        return Ok(Entity {
            kind,
            value: value.to_owned(),
        });
    }
    Entity::normalised(kind, value).ok_or_else(|| {
        format!("'{value}' is not a {kind} tocsin would group by (empty or a placeholder)")
    })
}

/// Flags of `tocsin incidents regroup`.
#[derive(Debug, Args)]
pub struct RegroupArgs {
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub grouping: GroupingArgs,
    /// The rules the hunts used (`builtin` by default): rules related as `similar` count as
    /// one signal when deciding which groups are incidents, as in the hunts.
    #[arg(long, short = 'r', value_name = "PATH", default_value = "builtin")]
    pub rules: Vec<PathBuf>,
}

/// The store every `incidents` subcommand reads.
#[derive(Debug, Args, Clone)]
pub struct StoreArg {
    /// The store file written by `tocsin hunt ... --store FILE`.
    #[arg(long, value_name = "FILE")]
    pub store: PathBuf,
}

/// Flags of `tocsin incidents list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Only incidents with one of these statuses: new, investigating, confirmed, contained
    /// or closed (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "STATUS")]
    pub status: Vec<IncidentStatus>,
    /// Only incidents of this severity band or worse: low, medium, high or critical.
    #[arg(long, value_name = "BAND")]
    pub min_severity: Option<Band>,
    /// At most this many incidents (1 or more).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ListFormatArg::Table)]
    pub format: ListFormatArg,
}

/// Flags of `tocsin incidents show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The incident id (`INC-...`).
    pub id: String,
    #[command(flatten)]
    pub store: StoreArg,
    /// Report format: md (Markdown, for tickets and chat), html (a self-contained page, for
    /// e-mail and print), json (the incident, its detections and its audit trail) or
    /// navigator (an ATT&CK Navigator layer of its techniques).
    #[arg(long, short = 'f', value_name = "FORMAT", default_value_t = tocsin_incident::Format::Markdown)]
    pub format: tocsin_incident::Format,
    /// Write the report to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Flags of `tocsin incidents update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The incident id (`INC-...`).
    pub id: String,
    #[command(flatten)]
    pub store: StoreArg,
    /// Move the incident to this status (along the transition table): new, investigating,
    /// confirmed, contained or closed.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<IncidentStatus>,
    /// How the incident ended: true-positive, false-positive or benign (tp and fp for
    /// short); required with `--status closed`, refused otherwise.
    #[arg(long, value_name = "RESOLUTION", requires = "status")]
    pub resolution: Option<Resolution>,
    /// Give the incident to this analyst (an empty name unassigns it).
    #[arg(long, value_name = "NAME")]
    pub assign: Option<String>,
    /// Add a note.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// Record a response action that was taken ("host isolated").
    #[arg(long, value_name = "TEXT")]
    pub action: Option<String>,
    /// Who makes the change (kept in the audit trail); by default `$USER`, else `$LOGNAME`,
    /// else the name of the operating-system user running tocsin.
    #[arg(long, value_name = "ACTOR")]
    pub by: Option<String>,
}

/// Formats of the listing commands (`incidents list`, `rules list`).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ListFormatArg {
    /// One aligned line per item listed (an incident, a rule).
    Table,
    /// A JSON array with one object per item listed.
    Json,
}

/// Which rules to show. A rule a selected correlation is built on stays loaded as its
/// input, whatever these flags say; only its own detections are hidden.
#[derive(Debug, Args, Clone, Default)]
pub struct SelectArgs {
    /// Only rules at this level or above (informational, low, medium, high or critical).
    #[arg(long, value_name = "LEVEL")]
    pub min_level: Option<Level>,
    /// Only rules with one of these statuses: stable, test, experimental, deprecated or
    /// unsupported (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "STATUS")]
    pub status: Vec<RuleStatus>,
    /// Only these rule ids (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub include_id: Vec<String>,
    /// Never these rule ids.
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub exclude_id: Vec<String>,
    /// Only rules with at least one of these tags (such as attack.t1059.001).
    #[arg(long, value_delimiter = ',', value_name = "TAG")]
    pub include_tag: Vec<String>,
    /// Never rules with any of these tags.
    #[arg(long, value_delimiter = ',', value_name = "TAG")]
    pub exclude_tag: Vec<String>,
}

/// How `hunt`, `search` and `stats` complete log times that lack a year or a zone, so that
/// all three read a log's times alike.
#[derive(Debug, Args, Clone)]
pub struct LogClockArgs {
    /// The year of the first RFC 3164 syslog time of each file (those times carry none);
    /// it moves to the next year where the months turn back. Default: inferred from each
    /// file's modification time (a note on stderr says which years were used).
    #[arg(long, value_name = "YEAR")]
    pub syslog_year: Option<i32>,
    /// The zone of log times that carry none (RFC 3164 syslog, some CEF times), as an
    /// offset from UTC: +02:00, -05:30, Z (default UTC).
    #[arg(
        long,
        value_name = "ZONE",
        allow_hyphen_values = true,
        default_value_t = tocsin_decode::UtcOffset::UTC
    )]
    pub tz: tocsin_decode::UtcOffset,
}

/// The time range of `hunt` and `events`: `--from` and `--to`.
#[derive(Debug, Args, Clone, Default)]
pub struct TimeRangeArgs {
    /// Only events at or after this time: RFC 3339 (2024-12-02T03:00:00Z), a date
    /// (2024-12-02, midnight UTC), now, or relative to now (-7d, -12h, -90m). Events
    /// without a time are left out when a range is given.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true, value_parser = parse_time_now)]
    pub from: Option<i64>,
    /// Only events at or before this time (as --from).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true, value_parser = parse_time_now)]
    pub to: Option<i64>,
}

impl TimeRangeArgs {
    /// The range, or an error when it is empty (`--from` after `--to`).
    pub fn range(&self) -> anyhow::Result<tocsin_event::time::TimeRange> {
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from > to {
                anyhow::bail!("--from is after --to: no event can be in the range");
            }
        }
        Ok(tocsin_event::time::TimeRange {
            from: self.from,
            to: self.to,
        })
    }
}

/// A `--from` or `--to` time, relative times counted from now.
fn parse_time_now(text: &str) -> Result<i64, String> {
    tocsin_event::time::parse_time(text, chrono::Utc::now().timestamp_micros())
}

/// Parses a declared logsource: `product:NAME`, `service:NAME` and `category:NAME`
/// (or `=` for `:`), separated by commas, at least one, each at most once.
fn parse_logsource(text: &str) -> Result<tocsin_event::LogSource, String> {
    let mut logsource = tocsin_event::LogSource::default();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once([':', '=']) else {
            return Err(format!("'{part}' is not KEY:VALUE (product:zeek)"));
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("'{part}' names no {}", key.trim()));
        }
        let slot = match key.trim().to_ascii_lowercase().as_str() {
            "product" => &mut logsource.product,
            "service" => &mut logsource.service,
            "category" => &mut logsource.category,
            other => {
                return Err(format!(
                    "unknown key '{other}': a logsource has product, service and category"
                ))
            }
        };
        if slot.replace(value.into()).is_some() {
            return Err(format!("'{}' is given twice", key.trim()));
        }
    }
    if logsource == tocsin_event::LogSource::default() {
        return Err("name at least a product, service or category (product:zeek)".into());
    }
    Ok(logsource)
}

/// `tocsin share` subcommands.
#[derive(Debug, Subcommand)]
pub enum ShareCommand {
    /// List a TAXII server's collections and the rights these credentials have on each.
    Collections(ShareCollectionsArgs),
    /// Fetch a collection's objects (only those added since the last pull, unless --all)
    /// and merge them into one STIX 2.1 bundle per server and collection in the intel
    /// folder that detection reads (`hunt --indicators DIR`, `serve`'s `<data>/intel/`).
    Pull(SharePullArgs),
    /// Send STIX bundles or objects from files, or an incident exported as
    /// `incidents export ID --format stix` does, to a collection; exits 1 if the server
    /// refused any object.
    Push(Box<SharePushArgs>),
}

/// The TAXII server and who the requester is: passwords and tokens come from the
/// environment, never from the command line.
#[derive(Debug, Args)]
pub struct TaxiiServerArgs {
    /// The server's URL (its discovery is at `/taxii2/`) or an API root's.
    #[arg(value_name = "URL")]
    pub url: String,
    /// The HTTP Basic user (its password comes from the variable --password-env names).
    #[arg(long, env = "TOCSIN_TAXII_USER", value_name = "USER")]
    pub user: Option<String>,
    /// The environment variable that holds the password of --user.
    #[arg(long, value_name = "VAR", default_value = "TOCSIN_TAXII_PASSWORD")]
    pub password_env: String,
    /// The environment variable that holds a bearer token (instead of a user and password;
    /// `TOCSIN_TAXII_TOKEN` is used when no user is given).
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// How long one request may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub timeout: u64,
}

/// Flags of `tocsin share collections`.
#[derive(Debug, Args)]
pub struct ShareCollectionsArgs {
    #[command(flatten)]
    pub server: TaxiiServerArgs,
    /// Print JSON (the API root and its collections) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `tocsin share pull`.
#[derive(Debug, Args)]
pub struct SharePullArgs {
    #[command(flatten)]
    pub server: TaxiiServerArgs,
    /// The collection's id, alias or title.
    #[arg(long, value_name = "ID")]
    pub collection: String,
    /// Only objects the server added after this time (RFC 3339), instead of after the
    /// last pull's.
    #[arg(long, value_name = "TIME")]
    pub added_after: Option<String>,
    /// Fetch every object, not only those added since the last pull.
    #[arg(long, conflicts_with = "added_after")]
    pub all: bool,
    /// The intel folder (default: `intel` in `serve`'s data folder, so that a running
    /// service with default settings reads it).
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    #[command(flatten)]
    pub data: ServeDataArgs,
    /// Print the pull's report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `tocsin share push`.
#[derive(Debug, Args)]
pub struct SharePushArgs {
    #[command(flatten)]
    pub server: TaxiiServerArgs,
    /// The collection's id, alias or title.
    #[arg(long, value_name = "ID")]
    pub collection: String,
    /// STIX 2.1 bundles, objects or arrays of objects (JSON files) to send.
    #[arg(
        value_name = "FILE",
        required_unless_present = "incident",
        conflicts_with = "incident"
    )]
    pub files: Vec<PathBuf>,
    /// Send this incident (`INC-...`) of the store, exported as `incidents export` does.
    #[arg(long, value_name = "ID", requires = "store")]
    pub incident: Option<String>,
    /// The store that holds --incident.
    #[arg(long, visible_alias = "db", value_name = "FILE")]
    pub store: Option<PathBuf>,
    #[command(flatten)]
    pub export: ExportOptionArgs,
    /// Print the statuses as JSON.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `--quiet-gap` of `tocsin hunt` given these flags, or clap's message.
    fn quiet_gap(value: &str) -> Result<i64, String> {
        let argv = [
            "tocsin",
            "hunt",
            "x.evtx",
            "-r",
            "rules",
            "--quiet-gap",
            value,
        ];
        match Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Hunt(hunt) => Ok(hunt.store.grouping.quiet_gap),
            other => Err(format!("not a hunt: {other:?}")),
        }
    }

    #[test]
    fn demo_parameters_are_bounded() {
        // Issue 20, findings 17 and 20: `--days 4000000000` grew without bound and
        // `--evaluate 0` printed "ok" then "FAILED".
        let demo = |flags: &[&str]| {
            Cli::try_parse_from(["tocsin", "demo"].iter().chain(flags)).map_err(|e| e.to_string())
        };
        assert!(demo(&["--evaluate", "0"]).is_err_and(|e| e.contains("--evaluate")));
        assert!(demo(&["--days", "4000000000"]).is_err_and(|e| e.contains("3..=366")));
        assert!(demo(&["--workstations", "5"]).is_err_and(|e| e.contains("6..=20000")));
        assert!(demo(&[
            "--evaluate",
            "2",
            "--days",
            "366",
            "--workstations",
            "20000"
        ])
        .is_ok());
    }

    #[test]
    fn declared_logsources_parse_and_bad_ones_say_why() {
        let zeek = parse_logsource("product:zeek, service=RDP").expect("parses");
        assert_eq!(zeek.product.as_deref(), Some("zeek"));
        assert_eq!(zeek.service.as_deref(), Some("RDP"));
        assert_eq!(zeek.category, None);
        assert!(parse_logsource("category:webserver").is_ok());
        assert!(parse_logsource("zeek").is_err_and(|e| e.contains("KEY:VALUE")));
        assert!(parse_logsource("vendor:x").is_err_and(|e| e.contains("unknown key")));
        assert!(parse_logsource("product:").is_err_and(|e| e.contains("names no")));
        assert!(parse_logsource("product:a,product:b").is_err_and(|e| e.contains("twice")));
        assert!(parse_logsource(",").is_err_and(|e| e.contains("at least")));
    }

    #[test]
    fn durations_parse_with_their_unit() {
        assert_eq!(quiet_gap("90s"), Ok(90_000_000));
        assert_eq!(quiet_gap("30m"), Ok(1_800_000_000));
        assert_eq!(quiet_gap("1h"), Ok(3_600_000_000));
        assert_eq!(quiet_gap("2d"), Ok(172_800_000_000));
        // Weeks, as in a Sigma correlation's timespan (once refused here).
        assert_eq!(quiet_gap("5w"), Ok(3_024_000_000_000));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert!(quiet_gap("30").is_err_and(|e| e.contains("no unit")));
        assert!(quiet_gap("h").is_err_and(|e| e.contains("number")));
        assert!(quiet_gap("5y").is_err_and(|e| e.contains("unknown unit 'y'")));
        assert!(quiet_gap("0m").is_err_and(|e| e.contains("positive")));
        assert!(quiet_gap("99999999999999999d").is_err_and(|e| e.contains("too long")));
    }
}
