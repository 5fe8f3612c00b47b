//! Scheduled pulls of partners' TAXII 2.1 collections (`[[share.pull]]`): a thread pulls
//! each source every `every_seconds` into `<data>/intel/` with the code `tocsin share pull`
//! runs (`tocsin_taxii::pull`), so that both merge and remember alike. A failed pull is
//! logged with the source's URL and simply tried again next period; a pull that changed
//! the intel folder asks for a rules reload (what SIGHUP does), so that new indicators
//! reach detection without a restart.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tocsin_taxii::{ClientOptions, Credentials, IntelDir, PullRequest, TaxiiClient};

use crate::metrics::{add, Metrics};

/// The sharing settings (`[share]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShareConfig {
    /// The collections pulled on a schedule (`[[share.pull]]`).
    pub pull: Vec<PullSourceConfig>,
}

/// One collection pulled on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullSourceConfig {
    /// The TAXII server's URL (discovery at `/taxii2/`) or an API root's.
    pub url: String,
    /// The collection's id, alias or title.
    pub collection: String,
    /// The HTTP Basic user (with `password_env`).
    #[serde(default)]
    pub user: Option<String>,
    /// The environment variable holding the user's password (kept out of the configuration).
    #[serde(default)]
    pub password_env: Option<String>,
    /// The environment variable holding a bearer token (instead of a user and password).
    #[serde(default)]
    pub token_env: Option<String>,
    /// How often to pull, in seconds.
    #[serde(default = "default_every")]
    pub every_seconds: u64,
}

fn default_every() -> u64 {
    300
}

/// Why the scheduled pulls cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// A `[[share.pull]]` entry is wrong.
    #[error("[[share.pull]] {url}: {message}")]
    Config {
        /// The source's URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The thread cannot start.
    #[error("cannot start the TAXII pull thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// One source, ready to pull.
struct Source {
    client: TaxiiClient,
    request: PullRequest,
    every: Duration,
    due: Instant,
}

/// How long the thread sleeps at most between two looks at the stop flag.
const TICK: Duration = Duration::from_secs(1);

/// Starts the pull thread (none without sources). `on_change` is called after a pull that
/// changed the intel folder; the thread ends once `stop` is set.
pub fn start(
    config: &ShareConfig,
    intel: PathBuf,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    on_change: impl Fn() + Send + 'static,
) -> Result<Option<std::thread::JoinHandle<()>>, ShareError> {
    if config.pull.is_empty() {
        return Ok(None);
    }
    let sources = config
        .pull
        .iter()
        .map(source_of)
        .collect::<Result<Vec<_>, _>>()?;
    let intel = IntelDir::new(intel);
    let handle = std::thread::Builder::new()
        .name("tocsin-taxii-pull".into())
        .spawn(move || run(sources, &intel, &metrics, &stop, &on_change))?;
    Ok(Some(handle))
}

/// The thread: pulls each source when due, until `stop`.
fn run(
    mut sources: Vec<Source>,
    intel: &IntelDir,
    metrics: &Metrics,
    stop: &AtomicBool,
    on_change: &dyn Fn(),
) {
    while !stop.load(Ordering::Relaxed) {
        let mut changed = false;
        for source in sources.iter_mut().filter(|s| s.due <= Instant::now()) {
            changed |= pull_once(source, intel, metrics);
            source.due = Instant::now() + source.every;
        }
        if changed {
            on_change();
        }
        let next = sources.iter().map(|s| s.due).min();
        let wait = next.map_or(TICK, |due| due.saturating_duration_since(Instant::now()));
        std::thread::sleep(wait.min(TICK));
    }
}

/// Pulls one source, logging what happened; returns whether the intel folder changed.
fn pull_once(source: &Source, intel: &IntelDir, metrics: &Metrics) -> bool {
    let url = source.client.url();
    match tocsin_taxii::pull(&source.client, intel, &source.request) {
        Ok(report) => {
            add(&metrics.taxii_pulls, 1);
            let counts = report.counts;
            add(
                &metrics.taxii_objects_changed,
                (counts.new + counts.updated) as u64,
            );
            if counts.changed() {
                tracing::info!(
                    url,
                    collection = %report.collection_id,
                    objects = counts.received,
                    indicators = counts.indicators,
                    new = counts.new,
                    updated = counts.updated,
                    "TAXII pull"
                );
            } else {
                tracing::debug!(url, collection = %report.collection_id, "TAXII pull: nothing new");
            }
            counts.changed()
        }
        Err(error) => {
            add(&metrics.taxii_pull_failures, 1);
            tracing::warn!(url, collection = %source.request.collection, %error, "TAXII pull failed; tried again next period");
            false
        }
    }
}

/// A configured source with its client (credentials read from the environment now, so
/// that a missing variable stops the service at start rather than failing every pull).
fn source_of(config: &PullSourceConfig) -> Result<Source, ShareError> {
    let fail = |message: String| ShareError::Config {
        url: config.url.clone(),
        message,
    };
    if config.every_seconds == 0 {
        return Err(fail("every_seconds must be at least 1".into()));
    }
    let credentials = credentials_of(config).map_err(fail)?;
    let options = ClientOptions {
        request_timeout: Duration::from_secs(60),
        ..ClientOptions::default()
    };
    let client = TaxiiClient::new(&config.url, &credentials, options)
        .map_err(|error| fail(error.to_string()))?;
    Ok(Source {
        client,
        request: PullRequest {
            collection: config.collection.clone(),
            ..PullRequest::default()
        },
        every: Duration::from_secs(config.every_seconds),
        due: Instant::now(),
    })
}

/// The credentials a source's keys name.
fn credentials_of(config: &PullSourceConfig) -> Result<Credentials, String> {
    let read = |var: &str| match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(format!("the environment variable {var} is not set")),
    };
    match (&config.user, &config.password_env, &config.token_env) {
        (_, Some(_), Some(_)) => Err("give password_env or token_env, not both".into()),
        (None, None, Some(var)) => Ok(Credentials::Bearer(read(var)?)),
        (Some(user), Some(var), None) => Ok(Credentials::Basic {
            user: user.clone(),
            password: read(var)?,
        }),
        (Some(_), None, None) => Err("user needs password_env".into()),
        (None, Some(_), None) => Err("password_env needs user".into()),
        (Some(_), _, Some(_)) => Err("give user and password_env, or token_env, not both".into()),
        (None, None, None) => Ok(Credentials::Anonymous),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(user: Option<&str>, password: Option<&str>, token: Option<&str>) -> PullSourceConfig {
        PullSourceConfig {
            url: "https://partner.example/taxii2/".into(),
            collection: "c".into(),
            user: user.map(Into::into),
            password_env: password.map(Into::into),
            token_env: token.map(Into::into),
            every_seconds: 300,
        }
    }

    #[test]
    fn a_source_reads_as_configured() {
        let text = r#"
            [[pull]]
            url = "https://partner.example/taxii2/"
            collection = "intel"
            user = "me"
            password_env = "PARTNER_PASSWORD"
        "#;
        let config: ShareConfig = toml::from_str(text).unwrap();
        assert_eq!(config.pull[0].every_seconds, 300);
        assert_eq!(config.pull[0].user.as_deref(), Some("me"));
        assert!(toml::from_str::<ShareConfig>(
            "[[pull]]\nurl = \"x\"\ncollection = \"c\"\npassword = \"no\""
        )
        .is_err());
    }

    #[test]
    fn credentials_come_from_the_environment_and_bad_combinations_are_refused() {
        assert_eq!(
            credentials_of(&source(None, None, None)),
            Ok(Credentials::Anonymous)
        );
        let path = credentials_of(&source(Some("me"), Some("PATH"), None)).unwrap();
        assert!(matches!(path, Credentials::Basic { .. }));
        let unset = credentials_of(&source(None, None, Some("TOCSIN_SURELY_UNSET_VARIABLE")));
        assert!(unset.unwrap_err().contains("TOCSIN_SURELY_UNSET_VARIABLE"));
        assert!(credentials_of(&source(Some("me"), None, None)).is_err());
        assert!(credentials_of(&source(None, Some("PATH"), None)).is_err());
        assert!(credentials_of(&source(Some("me"), Some("PATH"), Some("PATH"))).is_err());
    }

    #[test]
    fn an_unreachable_source_is_counted_and_retried_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = source(None, None, None);
        config.url = "http://127.0.0.1:9/".into();
        config.every_seconds = 1;
        let metrics = Arc::new(Metrics::default());
        let stop = Arc::new(AtomicBool::new(false));
        let share = ShareConfig { pull: vec![config] };
        let handle = start(
            &share,
            dir.path().join("intel"),
            Arc::clone(&metrics),
            Arc::clone(&stop),
            || {},
        )
        .unwrap()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while metrics.taxii_pull_failures.load(Ordering::Relaxed) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        handle.join().unwrap();
        assert!(metrics.taxii_pull_failures.load(Ordering::Relaxed) >= 2);
        assert_eq!(metrics.taxii_pulls.load(Ordering::Relaxed), 0);
    }
}
