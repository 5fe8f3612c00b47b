//! [`ServeConfig`]: what `tocsin serve` is told, from a TOML file or the built-in defaults
//! (loopback only, the built-in rules, fsync on every acknowledgement), so that the service
//! starts with no configuration at all. `serve.example.toml` beside this crate documents
//! every key.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tocsin_event::Level;
use tocsin_incident::GroupingConfig;
use tocsin_spool::FsyncPolicy;

/// The decoders a stream input (syslog over UDP, TCP or TLS) may name: the line formats,
/// JSON Lines among them (one object per message, as NXLog, Fluent Bit and Vector send
/// over TCP), and `auto`, which sniffs each batch as `hunt` does.
pub const SYSLOG_FORMATS: [&str; 7] = [
    "auto",
    "syslog",
    "appliance",
    "cef",
    "json",
    "api-audit",
    "outbound",
];
/// The port the service listens on by default, on loopback only, so that nothing outside
/// the machine reaches a service nobody has configured yet.
pub const DEFAULT_PORT: u16 = 8517;

/// Everything `tocsin serve` can be told.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// The HTTP listener.
    pub http: HttpConfig,
    /// Where the service keeps its spool, store and tokens; `None` lets the caller decide
    /// (the CLI uses the user's data folder).
    pub data_dir: Option<PathBuf>,
    /// The durable spool between the inputs and the pipeline.
    pub spool: SpoolSection,
    /// What judges the events.
    pub detection: DetectionConfig,
    /// The syslog inputs (none listen unless given an address).
    pub syslog: SyslogConfig,
    /// Response actions analysts can run on incidents (`[[actions]]`).
    pub actions: Vec<crate::actions::ActionConfig>,
    /// Where incidents that open, escalate or change status are announced (`[[webhooks]]`).
    pub webhooks: Vec<crate::webhooks::WebhookConfig>,
    /// Where detections are forwarded as CEF (`[forward]`).
    pub forward: crate::forward::ForwardConfig,
    /// Files and folders followed as they grow (`[[follow]]`).
    pub follow: Vec<crate::follow::FollowConfig>,
    /// Partners' TAXII collections pulled on a schedule into `<data>/intel/` (`[share]`).
    pub share: crate::share::ShareConfig,
    /// The TAXII 2.1 server, its collections and who may use them (`[taxii]`).
    pub taxii: crate::taxii::TaxiiConfig,
}

/// The syslog inputs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// Where to receive syslog over UDP (RFC 5426); none by default.
    pub udp: Option<SocketAddr>,
    /// Where to receive syslog over TCP (RFC 6587: octet counting or a message per line);
    /// none by default.
    pub tcp: Option<SocketAddr>,
    /// The decoder of the messages: `auto` (sniffed per batch, as `hunt` does) or one of
    /// [`SYSLOG_FORMATS`].
    pub format: String,
    /// The longest message kept, in bytes; longer ones are skipped and counted.
    pub max_message_bytes: usize,
    /// The most TCP connections read at once; more wait to be accepted.
    pub max_connections: usize,
    /// Where to receive syslog over TLS (RFC 5425); none by default. Needs `tls`.
    pub tls_listen: Option<SocketAddr>,
    /// The certificate, key and optional client CA of syslog over TLS.
    pub tls: Option<crate::tls::TlsFiles>,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            udp: None,
            tcp: None,
            format: "auto".into(),
            max_message_bytes: 64 << 10,
            max_connections: 1024,
            tls_listen: None,
            tls: None,
        }
    }
}

/// The HTTP listener's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where to listen (`host:port`; port 0 picks a free one, which the service prints).
    pub listen: SocketAddr,
    /// The largest request body accepted, in bytes, as sent (compressed or not).
    pub max_body_bytes: usize,
    /// The largest body accepted once gzip is undone, in bytes: bounds a compression bomb.
    pub max_decompressed_bytes: usize,
    /// Serve HTTPS with this certificate and key (and, with a client CA, require client
    /// certificates); plain HTTP without it.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Requests a second each token may make on average (0: no limit); more get 429.
    pub rate_per_second: u32,
    /// Requests a token may make at once above its average.
    pub rate_burst: u32,
}

/// The spool's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolSection {
    /// When the spool fsyncs: `always` (the default: an acknowledged batch survives a power
    /// loss), `never` (tests only), or an interval such as `"1s"` or `"200ms"` (an
    /// acknowledged batch survives a crash of the process, and a power loss loses at most
    /// the interval).
    pub fsync: String,
    /// How many bytes acknowledged but not yet processed the spool may hold before the HTTP
    /// input answers 503 with `Retry-After` (back-pressure instead of loss).
    pub max_backlog_bytes: u64,
}

/// What judges the events.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectionConfig {
    /// Rule files and folders; `builtin` names the built-in rules.
    pub rules: Vec<PathBuf>,
    /// STIX 2.1 indicator files and folders (bundles, JSON arrays or JSON Lines of
    /// objects; folders of `*.json`/`*.jsonl`), judged after the rules; their Sigma
    /// indicators compile with the rules. `<data>/intel/`, where scheduled TAXII pulls
    /// write, is always read besides when it exists. Reloaded with the rules.
    pub indicators: Vec<PathBuf>,
    /// Whether the behavioural detectors watch the events (their baseline is kept in the
    /// store and saved with the consumer's position).
    pub behaviour: bool,
    /// How often the behavioural baseline and the open correlation windows are saved, in
    /// seconds (and always on shutdown).
    pub baseline_save_seconds: u64,
    /// How far behind the latest event time an event may arrive and still reach the
    /// correlations and behavioural detectors in time order, in seconds: what they
    /// consume is held that long (of event time).
    pub reorder_seconds: u64,
    /// After this many milliseconds without a new record, everything held for order is
    /// released (the last events before a quiet spell are not kept waiting).
    pub reorder_idle_ms: u64,
    /// The most items held for order; past it the oldest are released early (counted).
    pub reorder_max_held: usize,
    /// How long, in milliseconds after its receipt, a record that begins an appliance
    /// message waits for the message's last segments to arrive in later records; after
    /// it, the message is decoded as it is and counted as a decode error.
    pub segment_wait_ms: u64,
    /// How detections are grouped into incidents (`[detection.grouping]`), as `hunt
    /// --store` and `incidents regroup` take it in flags.
    pub grouping: GroupingSection,
}

/// How detections are grouped into incidents: the same settings, under the same names, as
/// the grouping flags of `tocsin hunt --store` (see `tocsin_incident::grouping`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupingSection {
    /// How long an incident may stay quiet before a new detection opens another one
    /// (`90s`, `30m`, `1h`, `2d`, `1w`).
    pub quiet_gap: String,
    /// The quiet gap of an incident holding a high or critical detection.
    pub severe_quiet_gap: String,
    /// The window over which an entity's partners are counted.
    pub spread_window: String,
    /// The lowest detection level that may open an incident.
    pub opening_level: String,
    /// A detection at this level or above opens an incident alone.
    pub opening_alone_level: String,
    /// The risk of distinct signals that opens an incident below the alone level.
    pub opening_risk: u32,
    /// An incident holding this many detections is full: later ones open a continuation.
    pub max_incident_detections: usize,
    /// An incident is full for detections this long after its first one.
    pub max_incident_span: String,
    /// The most stored detections a grouping of late detections may read back (the service
    /// only; `hunt` has no limit): when placing them exactly would read more (a backfill of
    /// logs older than every checkpoint of the grouping), they are grouped among themselves
    /// instead, so that a backfill cannot make the service read its whole store back.
    pub late_read_back_limit: usize,
}

/// The default [`GroupingSection::late_read_back_limit`]: about a gigabyte of detections
/// read back at worst.
pub const DEFAULT_LATE_READ_BACK_LIMIT: usize = 200_000;

impl Default for GroupingSection {
    fn default() -> Self {
        GroupingSection {
            quiet_gap: "1h".into(),
            severe_quiet_gap: "1d".into(),
            spread_window: "1d".into(),
            opening_level: "medium".into(),
            opening_alone_level: "high".into(),
            opening_risk: tocsin_incident::grouping::opening::DEFAULT_MIN_RISK,
            max_incident_detections: tocsin_incident::grouping::DEFAULT_MAX_DETECTIONS,
            max_incident_span: "1w".into(),
            late_read_back_limit: DEFAULT_LATE_READ_BACK_LIMIT,
        }
    }
}

impl GroupingSection {
    /// The grouping these settings give, or which one is wrong.
    pub fn config(&self) -> Result<GroupingConfig, ConfigError> {
        let duration = |key: &str, text: &str| {
            tocsin_event::parse_duration_micros(text)
                .map_err(|e| ConfigError::Value(format!("detection.grouping.{key}: {e}")))
        };
        let level = |key: &str, text: &str| {
            text.parse::<Level>()
                .map_err(|e| ConfigError::Value(format!("detection.grouping.{key}: {e}")))
        };
        if self.max_incident_detections == 0 {
            return Err(ConfigError::Value(
                "detection.grouping.max_incident_detections must be at least 1".into(),
            ));
        }
        Ok(GroupingConfig {
            quiet_gap_micros: duration("quiet_gap", &self.quiet_gap)?,
            severe_quiet_gap_micros: duration("severe_quiet_gap", &self.severe_quiet_gap)?,
            spread_window_micros: duration("spread_window", &self.spread_window)?,
            min_opening_level: level("opening_level", &self.opening_level)?,
            alone_level: level("opening_alone_level", &self.opening_alone_level)?,
            min_risk: self.opening_risk,
            max_detections: self.max_incident_detections,
            max_span_micros: duration("max_incident_span", &self.max_incident_span)?,
            ..GroupingConfig::default()
        })
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            tls: None,
            rate_per_second: 1000,
            rate_burst: 2000,
        }
    }
}

impl Default for SpoolSection {
    fn default() -> Self {
        SpoolSection {
            fsync: "always".into(),
            max_backlog_bytes: 256 << 20,
        }
    }
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            rules: vec![PathBuf::from("builtin")],
            indicators: Vec::new(),
            behaviour: true,
            baseline_save_seconds: 60,
            reorder_seconds: 10,
            reorder_idle_ms: 1000,
            reorder_max_held: 1_000_000,
            segment_wait_ms: 1000,
            grouping: GroupingSection::default(),
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read the configuration {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or names an unknown key (the message gives the line).
    #[error("invalid configuration {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What `toml` said, with the line and column.
        message: String,
    },
    /// A value is out of its range.
    #[error("invalid configuration: {0}")]
    Value(String),
}

impl ServeConfig {
    /// Reads a configuration file; keys it leaves out keep their defaults.
    pub fn load(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: ServeConfig = toml::from_str(&text).map_err(|error| ConfigError::Parse {
            path: path.to_path_buf(),
            message: error.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    /// Checks the values that the types do not: the fsync policy and the syslog decoder.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.fsync_policy()?;
        self.detection.grouping.config()?;
        for follow in &self.follow {
            follow
                .validate()
                .map_err(|e| ConfigError::Value(format!("follow: {e}")))?;
        }
        if self.syslog.tls_listen.is_some() && self.syslog.tls.is_none() {
            return Err(ConfigError::Value(
                "syslog.tls_listen needs [syslog.tls] cert and key".into(),
            ));
        }
        crate::actions::check(&self.actions).map_err(|e| ConfigError::Value(e.to_string()))?;
        self.taxii.check().map_err(ConfigError::Value)?;
        let format = self.syslog.format.as_str();
        if !SYSLOG_FORMATS.contains(&format) {
            return Err(ConfigError::Value(format!(
                "syslog.format = {format:?}: expected one of {}",
                SYSLOG_FORMATS.join(", ")
            )));
        }
        Ok(())
    }

    /// The spool's fsync policy, from [`SpoolSection::fsync`].
    pub fn fsync_policy(&self) -> Result<FsyncPolicy, ConfigError> {
        parse_fsync(&self.spool.fsync)
    }
}

/// `always`, `never`, or a duration such as `1s`, `250ms`.
fn parse_fsync(text: &str) -> Result<FsyncPolicy, ConfigError> {
    match text.trim() {
        "always" => Ok(FsyncPolicy::Always),
        "never" => Ok(FsyncPolicy::Never),
        other => parse_interval(other).map(FsyncPolicy::Interval).ok_or_else(|| {
            ConfigError::Value(format!(
                "spool.fsync = {other:?}: expected \"always\", \"never\" or an interval such as \"1s\" or \"200ms\""
            ))
        }),
    }
}

/// A positive interval written with `ms` or `s`.
fn parse_interval(text: &str) -> Option<Duration> {
    let (number, unit) = match text.strip_suffix("ms") {
        Some(number) => (number, 1),
        None => (text.strip_suffix('s')?, 1000),
    };
    let millis: u64 = number.trim().parse().ok()?;
    (millis > 0).then(|| Duration::from_millis(millis.saturating_mul(unit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_defaults() {
        let config: ServeConfig = toml::from_str("").unwrap();
        assert_eq!(config, ServeConfig::default());
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:8517");
        assert!(config.http.listen.ip().is_loopback());
        assert_eq!(config.fsync_policy().unwrap(), FsyncPolicy::Always);
    }

    #[test]
    fn fsync_takes_a_word_or_an_interval() {
        assert_eq!(parse_fsync("never").unwrap(), FsyncPolicy::Never);
        assert_eq!(
            parse_fsync("200ms").unwrap(),
            FsyncPolicy::Interval(Duration::from_millis(200))
        );
        assert_eq!(
            parse_fsync("2s").unwrap(),
            FsyncPolicy::Interval(Duration::from_secs(2))
        );
        for bad in ["", "0s", "sometimes", "-1s", "1h"] {
            assert!(parse_fsync(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(&path, "[http]\nlisten = \"127.0.0.1:9000\"\nlisen = 1\n").unwrap();
        let error = ServeConfig::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("lisen") && error.contains("line 3"),
            "{error}"
        );
    }

    #[test]
    fn a_stream_input_names_a_line_format_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        for format in SYSLOG_FORMATS {
            std::fs::write(&path, format!("[syslog]\nformat = \"{format}\"\n")).unwrap();
            assert!(ServeConfig::load(&path).is_ok(), "{format}");
        }
        std::fs::write(&path, "[syslog]\nformat = \"evtx\"\n").unwrap();
        let error = ServeConfig::load(&path).unwrap_err().to_string();
        assert!(
            error.contains("\"evtx\"") && error.contains("json"),
            "{error}"
        );
    }

    #[test]
    fn the_grouping_section_gives_the_hunts_grouping_and_names_a_wrong_value() {
        assert_eq!(
            GroupingSection::default().config().unwrap(),
            GroupingConfig::default()
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        let text = "[detection.grouping]\nquiet_gap = \"30m\"\nmax_incident_detections = 200\n";
        std::fs::write(&path, text).unwrap();
        let grouping = ServeConfig::load(&path)
            .unwrap()
            .detection
            .grouping
            .config();
        let grouping = grouping.unwrap();
        assert_eq!(grouping.quiet_gap_micros, 30 * 60 * 1_000_000);
        assert_eq!(grouping.max_detections, 200);
        for (key, bad) in [
            ("max_incident_span", "\"1y\""),
            ("opening_level", "\"severe\""),
            ("max_incident_detections", "0"),
        ] {
            std::fs::write(&path, format!("[detection.grouping]\n{key} = {bad}\n")).unwrap();
            let error = ServeConfig::load(&path).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn the_example_file_parses_and_says_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("serve.example.toml");
        let config = ServeConfig::load(&path).unwrap();
        assert_eq!(
            ServeConfig {
                data_dir: None,
                ..config
            },
            ServeConfig::default()
        );
    }
}
