//! `tocsin hunt --indicators`: partners' STIX indicators read, in force as of now, and
//! reported on standard error (how many were read, compiled, left out and why); the
//! matching is the pipeline's (`Detectors::with_indicators`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Result};
use tocsin_intel::IndicatorSet;
use tocsin_output::clean;

use crate::ruleset::{self, RulePaths};

/// How many skipped indicators are listed one by one (all are counted).
const LISTED_SKIPPED: usize = 20;

/// The indicators under `paths` in force now, `None` when no path is given. Unreadable
/// files and objects are warnings; a path that does not exist is an error, as a mistyped
/// `--rules` is.
pub fn load(paths: &[PathBuf], quiet: bool) -> Result<Option<Arc<IndicatorSet>>> {
    if paths.is_empty() {
        return Ok(None);
    }
    if let Some(missing) = paths.iter().find(|path| !path.exists()) {
        bail!("no such indicator file or folder: {}", missing.display());
    }
    let now = chrono::Utc::now().timestamp_micros();
    let set = IndicatorSet::load(paths, now);
    if !quiet {
        report(&set);
    }
    Ok(Some(Arc::new(set)))
}

/// The rule paths of a hunt: those given; else the installed set, or none when indicators
/// are hunted and no rules are installed.
pub fn rule_paths(rules: &[PathBuf], indicators: bool, quiet: bool) -> Result<RulePaths> {
    match ruleset::paths_or_installed(rules, quiet) {
        Err(_) if indicators && rules.is_empty() => Ok(RulePaths {
            paths: Vec::new(),
            hold: None,
        }),
        other => other,
    }
}

/// The summary line, then each problem and skipped indicator.
fn report(set: &IndicatorSet) {
    let counts = set.counts();
    eprintln!(
        "indicators: {} loaded from {} objects; {} compiled, {} Sigma rules, {} skipped, {} revoked, {} expired",
        counts.indicators,
        counts.objects,
        set.indicators().len(),
        set.sigma().len(),
        set.skipped().len(),
        counts.revoked,
        counts.expired,
    );
    for error in set.errors() {
        eprintln!("warning: {}", clean(&error.to_string()));
    }
    for skipped in set.skipped().iter().take(LISTED_SKIPPED) {
        eprintln!(
            "note: indicator skipped: {} ({}) in {}: {}",
            clean(&skipped.id),
            clean(&skipped.name),
            skipped.source.display(),
            clean(&skipped.reason)
        );
    }
    if set.skipped().len() > LISTED_SKIPPED {
        eprintln!(
            "note: … and {} more indicators skipped",
            set.skipped().len() - LISTED_SKIPPED
        );
    }
}
