//! [`run`]: `tocsin serve` as one process: the rules compiled, the spool recovered, the
//! consumer thread started, the HTTP listener bound; then, on SIGTERM or Ctrl-C, the
//! listener stops taking requests, the consumer drains what was acknowledged, saves, and the
//! process ends.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tocsin_decode::DecodeOptions;
use tocsin_incident::{AttackCatalog, IncidentStore};
use tocsin_spool::{FileSpool, SpoolConfig};
use tocsin_store::SqliteStore;

use crate::actions::Actions;
use crate::api::{router, AppState};
use crate::auth::TokenStore;
use crate::config::{ConfigError, ServeConfig, SyslogConfig};
use crate::consumer::{Consumer, ConsumerError, GroupingPace};
use crate::follow::{start as start_following, FollowHandle, FollowSink};
use crate::forward::Forwarder;
use crate::limit::RateLimiter;
use crate::metrics::Metrics;
use crate::reorder::Reorder;
use crate::rules::{compile_in, Reloader};
use crate::syslog::{serve_tcp, serve_tls, serve_udp, SyslogSink};
use crate::tls::{server_config, TlsError, TlsListener};
use crate::users::UserStore;
use crate::webhooks::Webhooks;

/// The files of a service's data folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    /// The folder.
    pub root: PathBuf,
}

impl DataDir {
    /// The data folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// The spool's folder.
    pub fn spool(&self) -> PathBuf {
        self.root.join("spool")
    }

    /// The incident store.
    pub fn store(&self) -> PathBuf {
        self.root.join("store.sqlite")
    }

    /// The API tokens and the users (one file holds every credential).
    pub fn tokens(&self) -> PathBuf {
        self.root.join("tokens.sqlite")
    }

    /// The TAXII collections and their objects.
    pub fn taxii(&self) -> PathBuf {
        self.root.join("taxii.sqlite")
    }

    /// What the publishing rules last published.
    pub fn published(&self) -> PathBuf {
        self.root.join("publish.sqlite")
    }

    /// The folder of partners' STIX objects (bundles pulled over TAXII, or dropped there by
    /// hand), read as indicators whenever the rules are loaded.
    pub fn intel(&self) -> PathBuf {
        self.root.join("intel")
    }
}

/// Why the service could not start or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A file or socket cannot be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The rules cannot be compiled, or none compiled.
    #[error("rules: {0}")]
    Rules(String),
    /// The spool cannot be opened (the message names the file and offset of damage).
    #[error("cannot open the spool: {0}")]
    Spool(#[from] tocsin_spool::Error),
    /// The store cannot be opened.
    #[error("cannot open the store {}: {source}", path.display())]
    Store {
        /// The store file.
        path: PathBuf,
        /// Why.
        source: Box<tocsin_store::StoreError>,
    },
    /// A TLS certificate or key cannot be used (the message names the file).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The token database (tokens and users) cannot be opened.
    #[error("cannot open the tokens: {0}")]
    Tokens(#[from] crate::auth::AuthError),
    /// The TAXII store cannot be opened.
    #[error("cannot open the TAXII store: {0}")]
    Taxii(#[from] tocsin_taxii::StoreError),
    /// The pipeline stopped on an error.
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    /// A scheduled TAXII pull is misconfigured.
    #[error(transparent)]
    Share(#[from] crate::share::ShareError),
}

/// What a started service tells its caller (the CLI prints it).
#[derive(Debug, Clone)]
pub struct Started {
    /// Where the HTTP listener listens.
    pub listen: SocketAddr,
    /// The data folder.
    pub data: DataDir,
    /// Rules compiled.
    pub rules: usize,
    /// Rule files or documents left out, with why.
    pub rule_problems: usize,
    /// Where syslog over TCP is received, if it is.
    pub syslog_tcp: Option<SocketAddr>,
    /// Where syslog over UDP is received, if it is.
    pub syslog_udp: Option<SocketAddr>,
    /// Where syslog over TLS is received, if it is.
    pub syslog_tls: Option<SocketAddr>,
    /// Whether the API speaks HTTPS.
    pub https: bool,
    /// Bytes of a torn tail the spool cut when it opened (a crash in the middle of a write).
    pub spool_cut: u64,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let what = what.into();
    move |source| ServeError::Io { what, source }
}

/// Runs the service until SIGTERM or Ctrl-C (or a pipeline failure); `announce` is called
/// once it listens.
pub fn run(
    config: ServeConfig,
    data: DataDir,
    announce: impl FnOnce(&Started),
) -> Result<(), ServeError> {
    std::fs::create_dir_all(&data.root).map_err(io(format!(
        "cannot create the data folder {}",
        data.root.display()
    )))?;
    let metrics = Arc::new(Metrics::default());
    // Partners' indicators pulled over TAXII land in `<data>/intel/`, read at every load.
    let loaded = compile_in(&config.detection, Some(&data.intel()), 1)
        .map_err(|error| ServeError::Rules(error.0))?;
    let (rules, problems) = (loaded.status.rules, loaded.status.problem_count);
    let reloader = Arc::new(
        Reloader::new(
            config.detection.clone(),
            Arc::clone(&metrics),
            loaded.status.clone(),
        )
        .with_intel_dir(data.intel()),
    );
    let spool_config = SpoolConfig {
        fsync: config.fsync_policy()?,
        ..SpoolConfig::default()
    };
    let spool = Arc::new(FileSpool::open(data.spool(), spool_config)?);
    let tokens = Arc::new(TokenStore::open(&data.tokens())?);
    let users = Arc::new(UserStore::open(&data.tokens())?);
    let webhooks = Arc::new(
        Webhooks::open(&data.root.join("webhooks.sqlite"), config.webhooks.clone())
            .map_err(|error| ServeError::Rules(error.to_string()))?,
    );
    let actions = Arc::new(
        Actions::open(&data.root.join("actions.sqlite"), config.actions.clone())
            .map_err(|error| ServeError::Rules(error.to_string()))?,
    );
    create_store(&data.store())?;
    let taxii = open_taxii(&config, &data)?;
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = Consumer {
        spool: Arc::clone(&spool),
        detectors: loaded.detectors,
        store_path: data.store(),
        grouping: loaded.grouping,
        reloader: Arc::clone(&reloader),
        grouping_pace: GroupingPace::reading_back_at_most(
            config.detection.grouping.late_read_back_limit,
        ),
        forwarder: Forwarder::start(&config.forward, Arc::clone(&metrics))
            .map_err(io("cannot start the forwarding thread"))?,
        catalog: AttackCatalog::empty(),
        decode: DecodeOptions::default(),
        metrics: Arc::clone(&metrics),
        stop: Arc::clone(&stop),
        config: config.detection.clone(),
        reorder: Reorder::new(
            Duration::from_secs(config.detection.reorder_seconds),
            Duration::from_millis(config.detection.reorder_idle_ms),
            config.detection.reorder_max_held,
        ),
    };
    let state = Arc::new(AppState {
        spool: Arc::clone(&spool),
        tokens,
        users,
        metrics,
        store_path: data.store(),
        reloader,
        actions,
        webhooks,
        limiter: RateLimiter::new(config.http.rate_per_second, config.http.rate_burst),
        max_decompressed_bytes: config.http.max_decompressed_bytes,
        max_backlog_bytes: config.spool.max_backlog_bytes,
        taxii,
    });
    let started = |bound: Bound| Started {
        listen: bound.http,
        https: bound.https,
        syslog_tcp: bound.syslog_tcp,
        syslog_udp: bound.syslog_udp,
        syslog_tls: bound.syslog_tls,
        data: data.clone(),
        rules,
        rule_problems: problems,
        spool_cut: spool
            .recovery()
            .truncation
            .as_ref()
            .map_or(0, |cut| cut.bytes),
    };
    serve(consumer, state, &config, |bound| announce(&started(bound)))
}

/// The TAXII server over `<data>/taxii.sqlite`, with the configured collections, unless
/// it is disabled.
fn open_taxii(
    config: &ServeConfig,
    data: &DataDir,
) -> Result<Option<Arc<crate::taxii::Taxii>>, ServeError> {
    if !config.taxii.enabled {
        return Ok(None);
    }
    let https = config.http.tls.is_some();
    let taxii = crate::taxii::Taxii::open(config.taxii.clone(), &data.taxii(), https)?;
    Ok(Some(Arc::new(taxii)))
}

/// Creates the store (so that API reads find it before the consumer's first commit).
fn create_store(path: &Path) -> Result<(), ServeError> {
    SqliteStore::open(path)
        .map(drop)
        .map_err(|source| ServeError::Store {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
}

/// Binds the listener, runs the consumer thread and the HTTP server until a stop signal
/// or the consumer's failure, then drains.
fn serve(
    consumer: Consumer,
    state: Arc<AppState>,
    config: &ServeConfig,
    announce: impl FnOnce(Bound),
) -> Result<(), ServeError> {
    let sink = Arc::new(SyslogSink {
        spool: Arc::clone(&state.spool),
        metrics: Arc::clone(&state.metrics),
        max_backlog_bytes: state.max_backlog_bytes,
        format: config.syslog.format.clone(),
        max_message_bytes: config.syslog.max_message_bytes,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tocsin-http")
        .build()
        .map_err(io("cannot start the HTTP runtime"))?;
    let stop = Arc::clone(&consumer.stop);
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<()>();
    let pipeline = std::thread::Builder::new()
        .name("tocsin-pipeline".into())
        .spawn(move || {
            let result = consumer.run();
            if let Err(error) = &result {
                tracing::error!(%error, "the pipeline stopped");
                let _ = failed_tx.send(());
            }
            result
        })
        .map_err(io("cannot start the pipeline thread"))?;
    let followers = start_followers(config, &state)?;
    // Detached: it sleeps at most a second between looks at `stop`, and writes atomically.
    let _pulls = start_pulls(config, &state, Arc::clone(&stop))?;
    let pipeline_done = Arc::new(AtomicBool::new(false));
    let watcher = start_watcher(&state, Arc::clone(&pipeline_done))?;
    let publisher = start_publisher(&state, Arc::clone(&pipeline_done))?;
    let reloader = Arc::clone(&state.reloader);
    let app = router(state, config.http.max_body_bytes);
    let listen = config.http.listen;
    let syslog_config = config.syslog.clone();
    let http_tls = match &config.http.tls {
        Some(files) => Some(server_config(files)?),
        None => None,
    };
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(io(format!("cannot listen on {listen}")))?;
        let bound = listener
            .local_addr()
            .map_err(io("cannot read the bound address"))?;
        let mut ports = start_syslog(&syslog_config, sink).await?;
        ports.http = bound;
        ports.https = http_tls.is_some();
        reload_on_hangup(reloader)?;
        announce(ports);
        let shutdown = shutdown_signal(failed_rx);
        let served = match http_tls {
            Some(tls) => {
                let listener = TlsListener::new(listener, tls).map_err(io("cannot start TLS"))?;
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        served.map_err(io("the HTTP server failed"))
    });
    followers.into_iter().for_each(FollowHandle::stop);
    stop.store(true, Ordering::Relaxed);
    let consumed = pipeline.join().unwrap_or_else(|_| {
        Err(ConsumerError::Pipeline(
            "the pipeline thread panicked".into(),
        ))
    });
    pipeline_done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    if let Some(publisher) = publisher {
        let _ = publisher.join();
    }
    served?;
    consumed.map_err(ServeError::from)
}

/// Starts a follower per `[[follow]]` section, each with its own offsets file in the data
/// folder.
fn start_followers(
    config: &ServeConfig,
    state: &AppState,
) -> Result<Vec<FollowHandle>, ServeError> {
    let data = state
        .store_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    config
        .follow
        .iter()
        .map(|follow| {
            let sink = FollowSink {
                spool: Arc::clone(&state.spool),
                metrics: Arc::clone(&state.metrics),
                max_backlog_bytes: state.max_backlog_bytes,
            };
            let offsets = data.join(follow.state_file_name());
            start_following(follow.clone(), sink, offsets).map_err(io("cannot follow files"))
        })
        .collect()
}

/// Starts the scheduled TAXII pulls (`[[share.pull]]`) into `<data>/intel/`; a pull that
/// changed something reloads the rules, as SIGHUP does.
fn start_pulls(
    config: &ServeConfig,
    state: &AppState,
    stop: Arc<AtomicBool>,
) -> Result<Option<std::thread::JoinHandle<()>>, ServeError> {
    let Some(intel) = state.reloader.intel_dir().map(Path::to_path_buf) else {
        return Ok(None);
    };
    let reloader = Arc::clone(&state.reloader);
    let metrics = Arc::clone(&state.metrics);
    crate::share::start(&config.share, intel, metrics, stop, move || {
        reload_after_pull(&reloader)
    })
    .map_err(ServeError::from)
}

/// The hook a pull that changed `<data>/intel/` calls: the same reload as SIGHUP (a
/// refused set is logged; the running one stays).
fn reload_after_pull(reloader: &Reloader) {
    match reloader.reload() {
        Ok(status) => tracing::info!(rules = status.rules, "TAXII pull: rules reloaded"),
        Err(error) => tracing::error!(%error, "TAXII pull: the running rules stay"),
    }
}

/// How often the webhook watcher compares the incidents and sends what is due.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Starts the webhook watcher (a thread that does nothing without hooks): every
/// [`WATCH_EVERY`] it compares the store's incidents with what it saw and sends the
/// deliveries due; once `done`, one last pass, then it ends.
fn start_watcher(
    state: &AppState,
    done: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, ServeError> {
    let webhooks = Arc::clone(&state.webhooks);
    let store_path = state.store_path.clone();
    std::thread::Builder::new()
        .name("tocsin-webhooks".into())
        .spawn(move || {
            if !webhooks.any() {
                return;
            }
            loop {
                let last = done.load(Ordering::Relaxed);
                if let Err(error) = watch_once(&webhooks, &store_path) {
                    tracing::warn!(%error, "webhooks: a pass failed");
                }
                if last {
                    return;
                }
                std::thread::sleep(WATCH_EVERY);
            }
        })
        .map_err(io("cannot start the webhook thread"))
}

/// Starts the publishing watcher when `[[taxii.publish]]` rules exist: every
/// [`WATCH_EVERY`] it publishes the incidents a rule matches in a state not yet published;
/// once `done`, one last pass, then it ends.
fn start_publisher(
    state: &AppState,
    done: Arc<AtomicBool>,
) -> Result<Option<std::thread::JoinHandle<()>>, ServeError> {
    let Some(taxii) = state.taxii.clone().filter(|t| !t.config.publish.is_empty()) else {
        return Ok(None);
    };
    let store_path = state.store_path.clone();
    let data = DataDir::new(
        store_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    );
    let published = crate::taxii::publish::Published::open(&data.published())
        .map_err(|error| ServeError::Rules(format!("publish.sqlite: {error}")))?;
    std::thread::Builder::new()
        .name("tocsin-publish".into())
        .spawn(move || loop {
            let last = done.load(Ordering::Relaxed);
            if let Err(error) =
                crate::taxii::publish::publish_by_rules(&taxii, &published, &store_path)
            {
                tracing::warn!(%error, "TAXII publishing: a pass failed");
            }
            if last {
                return;
            }
            std::thread::sleep(WATCH_EVERY);
        })
        .map(Some)
        .map_err(io("cannot start the publishing thread"))
}

/// One pass of the watcher.
fn watch_once(webhooks: &Webhooks, store_path: &Path) -> Result<(), String> {
    let store = SqliteStore::open_read_only(store_path).map_err(|e| e.to_string())?;
    let incidents = store
        .list_incidents(&tocsin_incident::IncidentFilter::default())
        .map_err(|e| e.to_string())?;
    webhooks.watch(&incidents).map_err(|e| e.to_string())?;
    webhooks.deliver_due().map_err(|e| e.to_string())?;
    Ok(())
}

/// What the service listens on.
#[derive(Debug, Clone, Copy)]
struct Bound {
    http: SocketAddr,
    https: bool,
    syslog_tcp: Option<SocketAddr>,
    syslog_udp: Option<SocketAddr>,
    syslog_tls: Option<SocketAddr>,
}

impl Default for Bound {
    fn default() -> Self {
        Bound {
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            https: false,
            syslog_tcp: None,
            syslog_udp: None,
            syslog_tls: None,
        }
    }
}

/// Binds the configured syslog inputs and starts them; their bound addresses.
async fn start_syslog(config: &SyslogConfig, sink: Arc<SyslogSink>) -> Result<Bound, ServeError> {
    let mut bound = Bound::default();
    if let (Some(addr), Some(files)) = (config.tls_listen, &config.tls) {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(io(format!("cannot listen for syslog on TLS {addr}")))?;
        bound.syslog_tls = Some(
            listener
                .local_addr()
                .map_err(io("cannot read the bound address"))?,
        );
        let tls = TlsListener::new(listener, server_config(files)?)
            .map_err(io("cannot start syslog TLS"))?;
        tokio::spawn(serve_tls(tls, Arc::clone(&sink)));
    }
    if let Some(addr) = config.tcp {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(io(format!("cannot listen for syslog on TCP {addr}")))?;
        bound.syslog_tcp = Some(
            listener
                .local_addr()
                .map_err(io("cannot read the bound address"))?,
        );
        tokio::spawn(serve_tcp(
            listener,
            Arc::clone(&sink),
            config.max_connections,
        ));
    }
    if let Some(addr) = config.udp {
        let socket = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(io(format!("cannot listen for syslog on UDP {addr}")))?;
        bound.syslog_udp = Some(
            socket
                .local_addr()
                .map_err(io("cannot read the bound address"))?,
        );
        tokio::spawn(serve_udp(socket, sink));
    }
    Ok(bound)
}

/// Reloads the rules on every SIGHUP (a refused set is logged; the running one stays). The
/// handler is installed before the service says it listens, so that a SIGHUP sent after
/// that never meets the default action (termination).
#[cfg(unix)]
fn reload_on_hangup(reloader: Arc<Reloader>) -> Result<(), ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup()).map_err(io("cannot handle SIGHUP"))?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let reloader = Arc::clone(&reloader);
            let reloaded = tokio::task::spawn_blocking(move || reloader.reload()).await;
            match reloaded {
                Ok(Ok(status)) => tracing::info!(rules = status.rules, "SIGHUP: rules reloaded"),
                Ok(Err(error)) => tracing::error!(%error, "SIGHUP: the running rules stay"),
                Err(error) => tracing::error!(%error, "SIGHUP: the reload failed"),
            }
        }
    });
    Ok(())
}

/// No SIGHUP off Unix: rules reload through the API.
#[cfg(not(unix))]
fn reload_on_hangup(_reloader: Arc<Reloader>) -> Result<(), ServeError> {
    Ok(())
}

/// Resolves on SIGTERM, Ctrl-C (SIGINT), or when the pipeline failed.
async fn shutdown_signal(failed: tokio::sync::oneshot::Receiver<()>) {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("interrupted: draining"),
        _ = terminate => tracing::info!("SIGTERM: draining"),
        _ = failed => {}
    }
}
