//! `tocsin rules update`: fetch a rule package (SigmaHQ's latest release, a URL, a local zip
//! or a folder), have `tocsin_rulepack` verify and install it, and report what changed.
//!
//! The download lives here, not in `tocsin-rulepack`, so that the library has no network
//! dependency: the package is streamed to a temporary file (size-capped, with timeouts and
//! a progress bar on a terminal) and handed over as a local zip.

use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tocsin_output::clean;
use tocsin_pipeline::{load_rules_cached, CacheOutcome, CompileOptions, RuleCache, RuleSelection};
use tocsin_rulepack::{InstallOptions, Pack, RuleEntry, Source, UpdateReport};

use crate::args::{PackArg, RulesUpdateArgs};
use crate::ruleset;

/// The largest package downloaded: SigmaHQ's largest is a few MiB.
const MAX_DOWNLOAD: u64 = 200 << 20;
/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long to wait for the response's head, once connected.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the whole body may take.
const BODY_TIMEOUT: Duration = Duration::from_secs(600);
/// How many rules of each kind (added, removed, changed) the report names.
const LISTED: usize = 20;

fn pack(arg: PackArg) -> Pack {
    match arg {
        PackArg::Core => Pack::Core,
        PackArg::CorePlus => Pack::CorePlus,
        PackArg::CorePlusPlus => Pack::CorePlusPlus,
        PackArg::Emerging => Pack::Emerging,
        PackArg::All => Pack::All,
    }
}

fn is_url(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Installs the package; returns the exit code (0, or an error: exit 2).
pub fn run(args: &RulesUpdateArgs) -> Result<i32> {
    let store = ruleset::rule_store()?;
    let (origin, pack_name) = match &args.source {
        Some(source) => (source.clone(), None),
        None => {
            let pack = pack(args.pack);
            (pack.url(), Some(pack.name().to_owned()))
        }
    };
    let options = InstallOptions {
        pack: pack_name,
        expected_sha256: args.sha256.clone(),
        dry_run: args.dry_run,
        ..InstallOptions::new(origin.clone())
    };
    let report = install(&store, &origin, &options)
        .with_context(|| format!("cannot update the rules from {}", clean(&origin)))?;
    for problem in &report.first_problems {
        eprintln!("warning: {}", clean(problem));
    }
    let problems = report.load_problems + report.compile_problems;
    if problems > 0 {
        eprintln!(
            "warning: {} rule files or documents did not load and {} rules did not compile; hunts leave them out (`tocsin rules lint {}` lists them)",
            report.load_problems,
            report.compile_problems,
            report.installed.as_deref().map_or_else(|| "PATH".to_owned(), |p| p.display().to_string()),
        );
    }
    if report.needs_placeholders > 0 {
        eprintln!(
            "note: {} rules use placeholders (|expand); hunts run them once --placeholders gives their values",
            report.needs_placeholders
        );
    }
    print!("{}", describe(&report));
    if report.installed.is_some() {
        compile_into_cache();
    }
    Ok(0)
}

/// Compiles the set just installed into the compiled-rule cache, as a hunt without
/// `--rules` will load it (the installed folder, held while it is read, with no mapping,
/// placeholders or selection), so that the first hunt after an update reads it back instead
/// of compiling. Nothing to do when the cache is off (`TOCSIN_NO_RULE_CACHE`) or has no
/// folder; a set that cannot be stored only costs that first hunt the compilation, and is
/// said.
fn compile_into_cache() {
    let cache = RuleCache::from_env(|name| std::env::var_os(name));
    if cache.dir().is_none() {
        return;
    }
    let stored = ruleset::paths_or_installed(&[], true).and_then(|held| {
        let (_, outcome) = load_rules_cached(
            &held.paths,
            &[],
            &CompileOptions::default(),
            &RuleSelection::default(),
            &cache,
        )?;
        Ok(outcome)
    });
    match stored {
        Ok(CacheOutcome::Compiled { stored: false }) => eprintln!(
            "note: the new rules could not be stored in the rule cache under {}; the next hunt compiles them",
            cache.dir().map_or_else(String::new, |dir| dir.display().to_string())
        ),
        Ok(_) => {}
        Err(error) => eprintln!(
            "note: the new rules were not compiled into the rule cache ({error:#}); the next hunt compiles them"
        ),
    }
}

/// Fetches the source if it is a URL, then installs it.
fn install(
    store: &tocsin_rulepack::RuleStore,
    origin: &str,
    options: &InstallOptions,
) -> Result<UpdateReport> {
    if is_url(origin) {
        if let Some(expected) = &options.expected_sha256 {
            // Say so before a long download, not after.
            if expected.trim().len() != 64
                || !expected.trim().bytes().all(|b| b.is_ascii_hexdigit())
            {
                bail!("--sha256 {expected:?} is not 64 hexadecimal digits");
            }
        }
        let file = download(origin)?;
        return Ok(store.install(&Source::Zip(file.path()), options)?);
    }
    let path = Path::new(origin);
    let source = if path.is_dir() {
        if options.expected_sha256.is_some() {
            bail!("--sha256 checks a zip; {origin} is a folder");
        }
        Source::Folder(path)
    } else if path.is_file() {
        Source::Zip(path)
    } else {
        bail!("no such file or folder (and not an http:// or https:// URL)");
    };
    Ok(store.install(&source, options)?)
}

/// Downloads `url` to a temporary file, refusing more than [`MAX_DOWNLOAD`] bytes.
fn download(url: &str) -> Result<tempfile::NamedTempFile> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .timeout_recv_body(Some(BODY_TIMEOUT))
        .user_agent(concat!("tocsin/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let response = agent.get(url).call().context("download failed")?;
    let length = response.body().content_length();
    if length.is_some_and(|length| length > MAX_DOWNLOAD) {
        bail!(
            "the package is larger than {} MiB; refused",
            MAX_DOWNLOAD >> 20
        );
    }
    let bar = progress_bar(length);
    let reader = response.into_body().into_reader();
    let mut reader = bar.wrap_read(reader).take(MAX_DOWNLOAD + 1);
    let mut file = tempfile::Builder::new()
        .prefix("tocsin-rules-")
        .suffix(".zip")
        .tempfile()
        .context("cannot create a temporary file for the download")?;
    let written = io::copy(&mut reader, file.as_file_mut()).context("download interrupted")?;
    bar.finish_and_clear();
    if written > MAX_DOWNLOAD {
        bail!(
            "the package is larger than {} MiB; refused",
            MAX_DOWNLOAD >> 20
        );
    }
    file.as_file_mut()
        .flush()
        .context("cannot write the download")?;
    Ok(file)
}

/// A byte counter on standard error when it is a terminal, else nothing.
fn progress_bar(length: Option<u64>) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr());
    let template = match length {
        Some(_) => "{spinner} downloading {bar:30} {bytes}/{total_bytes} ({eta} left)",
        None => "{spinner} downloading {bytes}",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The report on standard output: what was installed, from where, and what changed.
fn describe(report: &UpdateReport) -> String {
    let manifest = &report.manifest;
    let mut out = String::new();
    let verb = if report.installed.is_some() {
        "installed"
    } else {
        "would install (dry run, nothing changed)"
    };
    let pack = manifest
        .pack
        .as_ref()
        .map_or_else(String::new, |pack| format!("SigmaHQ {pack} package: "));
    out.push_str(&format!(
        "{verb} {pack}{} rules and {} correlations from {} rule files\n",
        manifest.rules, manifest.correlations, manifest.files
    ));
    out.push_str(&format!("  source: {}\n", clean(&manifest.source)));
    if let Some(sha256) = &manifest.sha256 {
        out.push_str(&format!("  sha256: {sha256}\n"));
    }
    if let Some(path) = &report.installed {
        out.push_str(&format!("  folder: {}\n", path.display()));
    }
    let changes = &report.changes;
    let since = report.previous.as_ref().map_or_else(
        || " (nothing was installed before)".to_owned(),
        |previous| {
            format!(
                " (since {}, installed {})",
                clean(&previous.source),
                previous.installed_at
            )
        },
    );
    out.push_str(&format!(
        "changes: {} added, {} removed, {} changed, {} unchanged{since}\n",
        changes.added.len(),
        changes.removed.len(),
        changes.changed.len(),
        changes.unchanged
    ));
    for (name, sign, list) in [
        ("added", '+', &changes.added),
        ("removed", '-', &changes.removed),
        ("changed", '~', &changes.changed),
    ] {
        if list.is_empty() {
            continue;
        }
        out.push_str(&format!("{name}:\n"));
        for entry in list.iter().take(LISTED) {
            out.push_str(&format!("  {sign} {}\n", line(entry)));
        }
        if list.len() > LISTED {
            out.push_str(&format!("  ... and {} more\n", list.len() - LISTED));
        }
    }
    out
}

/// `Title (path)`, cleaned: titles are third-party text.
fn line(entry: &RuleEntry) -> String {
    format!("{} ({})", clean(&entry.title), clean(&entry.path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_rulepack::{Changes, Manifest};

    fn entry(n: usize) -> RuleEntry {
        RuleEntry {
            key: n.to_string(),
            title: format!("Rule {n:02}\x1b[2J"),
            path: format!("r{n}.yml"),
            hash: String::new(),
        }
    }

    #[test]
    fn the_report_caps_each_list_and_cleans_titles() {
        let report = UpdateReport {
            installed: None,
            manifest: Manifest {
                source: "https://example.test/p.zip".into(),
                pack: Some("core".into()),
                sha256: None,
                installed_at: "2026-01-01T00:00:00Z".into(),
                files: 30,
                rules: 29,
                correlations: 1,
            },
            previous: None,
            changes: Changes {
                added: (0..25).map(entry).collect(),
                removed: vec![entry(99)],
                changed: Vec::new(),
                unchanged: 4,
            },
            load_problems: 0,
            compile_problems: 0,
            needs_placeholders: 0,
            first_problems: Vec::new(),
        };
        let text = describe(&report);
        assert!(
            text.starts_with(
                "would install (dry run, nothing changed) SigmaHQ core package: 29 rules"
            ),
            "{text}"
        );
        assert!(text.contains("changes: 25 added, 1 removed, 0 changed, 4 unchanged (nothing was installed before)"), "{text}");
        assert!(
            text.contains("  + Rule 19\\u{1b}[2J (r19.yml)\n  ... and 5 more\n"),
            "{text}"
        );
        assert!(!text.contains("Rule 20"), "{text}");
        assert!(text.contains("removed:\n  - Rule 99"), "{text}");
        assert!(!text.contains("changed:\n"), "{text}");
    }

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("https://example.test/a.zip"));
        assert!(is_url("HTTP://127.0.0.1:1/a.zip"));
        assert!(!is_url("rules.zip"));
        assert!(!is_url("./http:/x"));
    }
}
