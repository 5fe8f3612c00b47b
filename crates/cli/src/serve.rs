//! `tocsin serve` and `tocsin tokens`: the configuration and data folder from the flags,
//! then `tocsin-server`'s service and token store.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use tocsin_server::auth::{Role, TokenStore};
use tocsin_server::{DataDir, ServeConfig, Started};

use crate::args::{ServeArgs, ServeDataArgs, TokenCreateArgs, TokenRevokeArgs};
use crate::incidents::now_micros;

/// Runs the service until SIGTERM or Ctrl-C.
pub fn run(args: &ServeArgs) -> Result<i32> {
    let mut config = match &args.config {
        Some(path) => ServeConfig::load(path)?,
        None => ServeConfig::default(),
    };
    if let Some(listen) = args.listen {
        config.http.listen = listen;
    }
    if let Some(addr) = args.syslog_tcp {
        config.syslog.tcp = Some(addr);
    }
    if let Some(addr) = args.syslog_udp {
        config.syslog.udp = Some(addr);
    }
    if !args.follow.is_empty() {
        let mut follow = tocsin_server::follow::FollowConfig::new(args.follow.clone());
        follow.start_at = "start".into();
        config.follow.push(follow);
    }
    let data = data_dir(&args.data, config.data_dir.as_ref())?;
    init_logging();
    tocsin_server::run(config, data, announce)?;
    Ok(0)
}

/// Says where the service listens and keeps its data (on standard output, flushed, so
/// that a supervisor or a test can read it).
fn announce(started: &Started) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "tocsin serve: listening on {}://{}\ntocsin serve: data in {} (spool, store.sqlite, tokens.sqlite)\ntocsin serve: {} rules compiled{}",
        if started.https { "https" } else { "http" },
        started.listen,
        started.data.root.display(),
        started.rules,
        match started.rule_problems {
            0 => String::new(),
            n => format!(", {n} left out (see the warnings above)"),
        }
    );
    if let Some(addr) = started.syslog_tcp {
        let _ = writeln!(out, "tocsin serve: syslog over TCP on {addr}");
    }
    if let Some(addr) = started.syslog_udp {
        let _ = writeln!(out, "tocsin serve: syslog over UDP on {addr}");
    }
    if let Some(addr) = started.syslog_tls {
        let _ = writeln!(out, "tocsin serve: syslog over TLS on {addr}");
    }
    if started.spool_cut > 0 {
        let _ = writeln!(
            out,
            "tocsin serve: the spool's last segment ended in a torn write of {} bytes (never acknowledged), cut",
            started.spool_cut
        );
    }
    let _ = out.flush();
}

/// Logs on standard error, `info` and above.
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// The data folder: the flag, the configuration's, or `serve` in tocsin's data folder.
pub(crate) fn data_dir(args: &ServeDataArgs, configured: Option<&PathBuf>) -> Result<DataDir> {
    if let Some(dir) = args.data.as_ref().or(configured) {
        return Ok(DataDir::new(dir));
    }
    let Some(root) = tocsin_rulepack::data_dir(|name| std::env::var_os(name)) else {
        bail!("no data folder: give --data DIR (neither TOCSIN_DATA_DIR, XDG_DATA_HOME nor HOME is set)");
    };
    Ok(DataDir::new(root.join("serve")))
}

/// The token store of the data folder the flags name (created if missing).
fn token_store(args: &ServeDataArgs) -> Result<TokenStore> {
    let data = data_dir(args, None)?;
    std::fs::create_dir_all(&data.root)
        .with_context(|| format!("cannot create the data folder {}", data.root.display()))?;
    TokenStore::open(&data.tokens())
        .with_context(|| format!("cannot open the tokens of {}", data.root.display()))
}

/// `tocsin tokens create`: prints the new token once.
pub fn create_token(args: &TokenCreateArgs) -> Result<i32> {
    let Some(role) = Role::parse(&args.role) else {
        bail!("unknown role {}", args.role);
    };
    let name = args.name.trim();
    if name.is_empty() || name.len() > 200 {
        bail!("--name: 1 to 200 characters");
    }
    let store = token_store(&args.data)?;
    let (info, secret) = store.create(name, role, now_micros())?;
    println!("{secret}");
    eprintln!(
        "token {} ({}, role {}) created; it is shown only now: keep it in a secret store",
        info.id,
        info.name,
        role.as_str()
    );
    Ok(0)
}

/// `tocsin tokens list`.
pub fn list_tokens(args: &ServeDataArgs) -> Result<i32> {
    let store = token_store(args)?;
    let tokens = store.list()?;
    println!("{:<14} {:<8} {:<8} NAME", "ID", "ROLE", "STATE");
    for token in tokens {
        let state = if token.revoked { "revoked" } else { "active" };
        println!(
            "{:<14} {:<8} {:<8} {}",
            token.id,
            token.role.as_str(),
            state,
            token.name
        );
    }
    Ok(0)
}

/// `tocsin tokens revoke`.
pub fn revoke_token(args: &TokenRevokeArgs) -> Result<i32> {
    let store = token_store(&args.data)?;
    if !store.revoke(&args.id)? {
        bail!("no token {}", args.id);
    }
    eprintln!("token {} revoked", args.id);
    Ok(0)
}
