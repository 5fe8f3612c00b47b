//! `tocsin serve`, `tocsin tokens` and `tocsin users`: the configuration and data folder
//! from the flags, then `tocsin-server`'s service, token store and user store.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use tocsin_server::auth::{Role, TokenStore};
use tocsin_server::users::{valid_name, Password, UserError, UserStore, MAX_PASSWORD_BYTES};
use tocsin_server::{DataDir, ServeConfig, Started};

use crate::args::{
    PasswordArgs, ServeArgs, ServeDataArgs, TokenCreateArgs, TokenRevokeArgs, UserAddArgs,
    UserNameArgs, UserPasswdArgs,
};
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

/// Logs on standard error, `info` and above unless `TOCSIN_LOG` says otherwise (a
/// `tracing` filter such as `debug` or `tocsin_server=debug`: the consumer then logs each
/// step's size and timings).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOCSIN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
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

/// The user store of the data folder the flags name (created if missing).
fn user_store(args: &ServeDataArgs) -> Result<UserStore> {
    let data = data_dir(args, None)?;
    std::fs::create_dir_all(&data.root)
        .with_context(|| format!("cannot create the data folder {}", data.root.display()))?;
    UserStore::open(&data.tokens())
        .with_context(|| format!("cannot open the users of {}", data.root.display()))
}

/// The password the flags point to: the environment variable `--password-env` names, else
/// asked for twice at the terminal without echo, else one line of standard input. Never
/// from the command line, where other users of the machine could read it.
fn read_password(args: &PasswordArgs, user: &str) -> Result<Password> {
    let text = match std::env::var_os(&args.password_env) {
        Some(value) => value
            .into_string()
            .map_err(|_| anyhow::anyhow!("the password in ${} is not UTF-8", args.password_env))?,
        None if std::io::stdin().is_terminal() => password_from_terminal(user)?,
        None => password_from_stdin(&args.password_env)?,
    };
    Ok(Password::new(text)?)
}

/// A password typed twice at the terminal, echo off.
fn password_from_terminal(user: &str) -> Result<String> {
    let ask = |prompt: String| {
        rpassword::prompt_password(prompt).context("cannot read the password from the terminal")
    };
    let first = ask(format!("Password for {user}: "))?;
    let again = ask("The same password again: ".to_owned())?;
    if first != again {
        bail!("the two passwords differ; nothing changed");
    }
    Ok(first)
}

/// One line of standard input (its line ending dropped), refused from a terminal, where it
/// would be echoed.
fn password_from_stdin(variable: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!("no password: set ${variable} (or --password-env VAR), or pipe it on standard input");
    }
    let mut line = String::new();
    // One byte more than a password may have, and its line ending, so that a longer one is
    // refused rather than cut.
    let limit = (MAX_PASSWORD_BYTES + 3) as u64;
    stdin
        .lock()
        .take(limit)
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    if line.is_empty() {
        bail!(
            "no password: set ${variable} (or --password-env VAR), or write it on standard input"
        );
    }
    let trimmed = line.strip_suffix('\n').unwrap_or(&line);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
}

/// `tocsin users add`.
pub fn add_user(args: &UserAddArgs) -> Result<i32> {
    let Some(role) = Role::parse(&args.role) else {
        bail!("unknown role {}", args.role);
    };
    if !valid_name(&args.name) {
        bail!("{:?}: {}", args.name, UserError::InvalidName);
    }
    let password = read_password(&args.password, &args.name)?;
    let store = user_store(&args.data)?;
    let info = store
        .create(&args.name, role, &password, now_micros())
        .with_context(|| format!("cannot add the user {:?}", args.name))?;
    eprintln!("user {} (role {}) added", info.name, role.as_str());
    Ok(0)
}

/// `tocsin users list`.
pub fn list_users(args: &ServeDataArgs) -> Result<i32> {
    let store = user_store(args)?;
    let users = store.list()?;
    println!("{:<8} {:<9} {:<20} NAME", "ROLE", "STATE", "CREATED");
    for user in users {
        let state = if user.disabled { "disabled" } else { "active" };
        let created = chrono::DateTime::from_timestamp_micros(user.created_micros)
            .map(|time| time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_default();
        println!(
            "{:<8} {:<9} {:<20} {}",
            user.role.as_str(),
            state,
            created,
            user.name
        );
    }
    Ok(0)
}

/// `tocsin users disable`.
pub fn disable_user(args: &UserNameArgs) -> Result<i32> {
    set_user_enabled(args, false)
}

/// `tocsin users enable`.
pub fn enable_user(args: &UserNameArgs) -> Result<i32> {
    set_user_enabled(args, true)
}

/// Disables or enables a user, and says so.
fn set_user_enabled(args: &UserNameArgs, enabled: bool) -> Result<i32> {
    let store = user_store(&args.data)?;
    let changed = match enabled {
        true => store.enable(&args.name)?,
        false => store.disable(&args.name)?,
    };
    if !changed {
        bail!("no user {}", args.name);
    }
    let done = if enabled { "enabled" } else { "disabled" };
    eprintln!("user {} {done}", args.name);
    Ok(0)
}

/// `tocsin users passwd`.
pub fn set_password(args: &UserPasswdArgs) -> Result<i32> {
    let password = read_password(&args.password, &args.name)?;
    let store = user_store(&args.data)?;
    let changed = store
        .set_password(&args.name, &password)
        .with_context(|| format!("cannot set the password of {:?}", args.name))?;
    if !changed {
        bail!("no user {}", args.name);
    }
    eprintln!("password of {} changed", args.name);
    Ok(0)
}
