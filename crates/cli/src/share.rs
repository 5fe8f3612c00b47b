//! `tocsin share`: threat intelligence with partners over TAXII 2.1 (`tocsin-taxii`'s
//! client). `collections` lists what a server offers, `pull` merges a collection into the
//! intel folder detection reads, `push` sends bundles or an incident's export.
//!
//! Credentials never come from the command line: a password or token is read from an
//! environment variable (`--password-env`, `--token-env`, or the defaults
//! `TOCSIN_TAXII_PASSWORD` and `TOCSIN_TAXII_TOKEN`).
//!
//! Exit codes: 0 done; 1 `push` sent objects the server refused (or left pending); 2 an
//! error (unreachable server, refused credentials, unknown collection, unreadable file).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tocsin_taxii::{
    ClientOptions, Collection, Credentials, IntelDir, PullReport, PullRequest, Status, TaxiiClient,
};

use crate::args::{ShareCollectionsArgs, SharePullArgs, SharePushArgs, TaxiiServerArgs};

/// The variable read for a bearer token when neither a user nor `--token-env` is given.
const DEFAULT_TOKEN_ENV: &str = "TOCSIN_TAXII_TOKEN";

/// The largest file `push` reads, in bytes.
const MAX_PUSH_FILE: u64 = 512 << 20;

/// Runs `share collections`.
pub fn collections(args: &ShareCollectionsArgs) -> Result<i32> {
    let client = client_of(&args.server)?;
    let (url, root) = client.resolve_api_root()?;
    let collections = client.collections(&url)?;
    if args.json {
        let out = json!({
            "api_root": url,
            "title": root.title,
            "max_content_length": root.max_content_length,
            "collections": collections,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    println!("{} ({url})", root.title);
    print_collections(&collections);
    Ok(0)
}

/// The collections as a table.
fn print_collections(collections: &[Collection]) {
    if collections.is_empty() {
        println!("no collection is visible with these credentials");
        return;
    }
    let id_width = collections
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let alias_width = collections
        .iter()
        .map(|c| c.alias.as_deref().map_or(1, str::len))
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:id_width$}  {:alias_width$}  READ  WRITE  TITLE",
        "ID", "ALIAS"
    );
    for c in collections {
        println!(
            "{:id_width$}  {:alias_width$}  {:4}  {:5}  {}",
            c.id,
            c.alias.as_deref().unwrap_or("-"),
            yes_no(c.can_read),
            yes_no(c.can_write),
            c.title
        );
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

/// Runs `share pull`.
pub fn pull(args: &SharePullArgs) -> Result<i32> {
    let client = client_of(&args.server)?;
    let into = match &args.into {
        Some(dir) => dir.clone(),
        None => crate::serve::data_dir(&args.data, None)?.root.join("intel"),
    };
    let request = PullRequest {
        collection: args.collection.clone(),
        added_after: args.added_after.clone(),
        all: args.all,
    };
    let report = tocsin_taxii::pull(&client, &IntelDir::new(&into), &request)
        .with_context(|| format!("cannot pull {} from {}", args.collection, client.url()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_pull(&report);
    }
    Ok(0)
}

/// What a pull did, in words.
fn print_pull(report: &PullReport) {
    let counts = &report.counts;
    println!(
        "pulled {} ({}) from {}{}",
        report.collection_title,
        report.collection_id,
        report.api_root,
        report
            .added_after
            .as_deref()
            .map(|after| format!(", added after {after}"))
            .unwrap_or_default()
    );
    println!(
        "{} objects ({} indicators) in {} {}: {} new, {} updated, {} unchanged",
        counts.received,
        counts.indicators,
        report.pages,
        if report.pages == 1 { "page" } else { "pages" },
        counts.new,
        counts.updated,
        counts.unchanged
    );
    if report.bundle.exists() {
        println!("{} objects in {}", counts.total, report.bundle.display());
    } else {
        println!("nothing pulled from this collection yet");
    }
}

/// Runs `share push`.
pub fn push(args: &SharePushArgs) -> Result<i32> {
    let objects = match (&args.incident, &args.store) {
        (Some(id), Some(store)) => objects_of_text(
            &crate::export::incident_bundle(store, id, &args.export)?,
            Path::new(id),
        )?,
        (Some(_), None) => bail!("--incident needs --store FILE (the store that holds it)"),
        (None, _) => objects_of_files(&args.files)?,
    };
    if objects.is_empty() {
        bail!("nothing to send: the files hold no STIX object");
    }
    let client = client_of(&args.server)?;
    let (url, root) = client.resolve_api_root()?;
    let collection = client.find_collection(&url, &args.collection)?;
    if !collection.can_write {
        bail!(
            "{url}: the collection {} cannot be written with these credentials (can_write is false)",
            collection.id
        );
    }
    let statuses = client.add_objects(&url, &root, &collection.id, &objects)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&statuses)?);
    } else {
        print_statuses(&collection, objects.len(), &statuses);
    }
    let refused = statuses
        .iter()
        .any(|s| s.failure_count > 0 || s.pending_count > 0);
    Ok(i32::from(refused))
}

/// The statuses' sums and every failure with its message.
fn print_statuses(collection: &Collection, sent: usize, statuses: &[Status]) {
    let sum = |count: fn(&Status) -> u64| statuses.iter().map(count).sum::<u64>();
    println!(
        "sent {sent} objects to {} ({}) in {} request(s): total {}, success {}, failure {}, pending {}",
        collection.title,
        collection.id,
        statuses.len(),
        sum(|s| s.total_count),
        sum(|s| s.success_count),
        sum(|s| s.failure_count),
        sum(|s| s.pending_count)
    );
    for failure in statuses.iter().flat_map(|s| &s.failures) {
        println!(
            "  failed: {} {}: {}",
            failure.id,
            failure.version,
            failure.message.as_deref().unwrap_or("(no message)")
        );
    }
}

/// The objects of every file, in order.
fn objects_of_files(files: &[PathBuf]) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    for file in files {
        let size = std::fs::metadata(file)
            .with_context(|| format!("cannot read {}", file.display()))?
            .len();
        if size > MAX_PUSH_FILE {
            bail!(
                "{}: larger than {} MiB",
                file.display(),
                MAX_PUSH_FILE >> 20
            );
        }
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        objects.extend(objects_of_text(&text, file)?);
    }
    Ok(objects)
}

/// The STIX objects of a bundle, an envelope, an array of objects or one object.
fn objects_of_text(text: &str, origin: &Path) -> Result<Vec<Value>> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("{}: not JSON", origin.display()))?;
    let objects = match value {
        Value::Array(objects) => objects,
        Value::Object(ref map) if map.get("objects").is_some_and(Value::is_array) => {
            match map.get("objects") {
                Some(Value::Array(objects)) => objects.clone(),
                _ => Vec::new(),
            }
        }
        Value::Object(ref map) if map.contains_key("type") && map.contains_key("id") => {
            vec![value]
        }
        _ => bail!(
            "{}: not a STIX bundle, envelope, object or array of objects",
            origin.display()
        ),
    };
    if let Some(bad) = objects
        .iter()
        .position(|o| o.get("id").and_then(Value::as_str).is_none())
    {
        bail!("{}: object {} has no id", origin.display(), bad + 1);
    }
    Ok(objects)
}

/// The client the flags describe.
fn client_of(args: &TaxiiServerArgs) -> Result<TaxiiClient> {
    let options = ClientOptions {
        request_timeout: Duration::from_secs(args.timeout.max(1)),
        ..ClientOptions::default()
    };
    let credentials = credentials(args)?;
    if !matches!(credentials, Credentials::Anonymous) && sends_in_clear(&args.url) {
        eprintln!(
            "warning: {} is plain HTTP: the credentials cross the network unencrypted \
             (use https:// outside a test bench)",
            args.url
        );
    }
    Ok(TaxiiClient::new(&args.url, &credentials, options)?)
}

/// Whether `url` is plain HTTP to another machine (loopback is the one safe case).
fn sends_in_clear(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    !loopback
}

/// Who the requester is: a token from --token-env, else --user with the password from
/// --password-env, else a token from `TOCSIN_TAXII_TOKEN`, else nobody.
fn credentials(args: &TaxiiServerArgs) -> Result<Credentials> {
    if let Some(var) = &args.token_env {
        return Ok(Credentials::Bearer(secret(var)?));
    }
    if let Some(user) = args.user.as_ref().filter(|u| !u.is_empty()) {
        return Ok(Credentials::Basic {
            user: user.clone(),
            password: secret(&args.password_env)?,
        });
    }
    Ok(match std::env::var(DEFAULT_TOKEN_ENV) {
        Ok(token) if !token.is_empty() => Credentials::Bearer(token),
        _ => Credentials::Anonymous,
    })
}

/// The value of the environment variable `var`, which must be set.
fn secret(var: &str) -> Result<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => {
            bail!("the environment variable {var} is not set (it must hold the password or token)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_to_another_machine_is_what_sends_in_clear() {
        for clear in ["http://taxii.example/taxii2/", "http://10.0.0.5:8080/x/"] {
            assert!(sends_in_clear(clear), "{clear}");
        }
        for safe in [
            "https://taxii.example/taxii2/",
            "http://127.0.0.1:8517/taxii2/",
            "http://localhost/taxii2/",
            "http://[::1]:80/",
        ] {
            assert!(!sends_in_clear(safe), "{safe}");
        }
    }

    #[test]
    fn every_shape_of_stix_file_gives_its_objects() {
        let path = Path::new("x.json");
        let object = r#"{"type":"indicator","id":"indicator--1"}"#;
        assert_eq!(objects_of_text(object, path).unwrap().len(), 1);
        let bundle =
            format!(r#"{{"type":"bundle","id":"bundle--1","objects":[{object},{object}]}}"#);
        assert_eq!(objects_of_text(&bundle, path).unwrap().len(), 2);
        assert_eq!(
            objects_of_text(&format!("[{object}]"), path).unwrap().len(),
            1
        );
        assert!(objects_of_text("{}", path).is_err());
        assert!(objects_of_text(r#"[{"type":"x"}]"#, path).is_err());
        assert!(objects_of_text("nope", path).is_err());
    }
}
