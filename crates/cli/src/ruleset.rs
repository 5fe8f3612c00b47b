//! The rule flags of `hunt`, `rules lint` and `bench` as the pipeline's rule options; the
//! loading itself is `tocsin_pipeline::load_rules_cached`, through the user's compiled-rule
//! cache unless `--no-rule-cache`. No `--rules` means the installed set
//! (`tocsin rules update`), found here.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use tocsin_pipeline::{load_rules_cached, CompileOptions, RuleCache, RuleSelection, RuleText};
use tocsin_rulepack::{HeldSet, RuleStore};

pub use tocsin_pipeline::{load_documents, RuleSet, BUILTIN_RULES};

use crate::args::{CompileArgs, SelectArgs};

/// Loads, selects and compiles the rules the flags name.
pub fn load(paths: &[PathBuf], compile: &CompileArgs, select: &SelectArgs) -> Result<RuleSet> {
    load_with(paths, &[], compile, select)
}

/// [`load`] with rule texts from no file besides (Sigma indicators).
pub fn load_with(
    paths: &[PathBuf],
    extra: &[RuleText],
    compile_args: &CompileArgs,
    select: &SelectArgs,
) -> Result<RuleSet> {
    let compile = CompileOptions {
        mapping: compile_args.mapping.clone(),
        placeholders: compile_args.placeholders.clone(),
    };
    let select = RuleSelection {
        min_level: select.min_level,
        statuses: select.status.clone(),
        include_ids: select.include_id.clone(),
        exclude_ids: select.exclude_id.clone(),
        include_tags: select.include_tag.clone(),
        exclude_tags: select.exclude_tag.clone(),
    };
    let cache = match compile_args.no_rule_cache {
        true => RuleCache::off(),
        false => RuleCache::from_env(|name| std::env::var_os(name)),
    };
    let (set, _) = load_rules_cached(paths, extra, &compile, &select, &cache)?;
    Ok(set)
}

/// The data folder (`$TOCSIN_DATA_DIR`, `$XDG_DATA_HOME/tocsin` or
/// `~/.local/share/tocsin`) and its installed rules.
pub fn rule_store() -> Result<RuleStore> {
    let data = tocsin_rulepack::data_dir(|name| std::env::var_os(name)).ok_or_else(|| {
        anyhow!("no data folder: set TOCSIN_DATA_DIR (or XDG_DATA_HOME, or HOME)")
    })?;
    Ok(RuleStore::new(&data))
}

/// The rule paths to load, and the hold that keeps an installed set from being deleted
/// by a `tocsin rules update` while it loads (keep it until the rules are loaded).
#[derive(Debug)]
pub struct RulePaths {
    /// The files and folders to load.
    pub paths: Vec<PathBuf>,
    /// The installed set's hold, when the paths are the installed set.
    pub hold: Option<HeldSet>,
}

/// `paths` if any were given; else the installed rules folder, held, with a note on
/// standard error unless `quiet`.
///
/// # Errors
///
/// None given and none installed (the message says what to do), or an installed set
/// that is broken.
pub fn paths_or_installed(paths: &[PathBuf], quiet: bool) -> Result<RulePaths> {
    if !paths.is_empty() {
        return Ok(RulePaths {
            paths: paths.to_vec(),
            hold: None,
        });
    }
    const ADVICE: &str =
        "pass --rules PATH (or --rules builtin), or run `tocsin rules update` to install SigmaHQ's rules";
    let store = rule_store().context(ADVICE)?;
    let held = store
        .hold_installed()
        .with_context(|| format!("no usable installed rules; {ADVICE}"))?;
    let Some(held) = held else {
        bail!(
            "no rules given and none installed in {}: {ADVICE}",
            store.root().display()
        );
    };
    let installed = &held.installed;
    if !quiet {
        let from = installed.manifest.as_ref().map_or_else(String::new, |m| {
            format!(
                " ({}, installed {})",
                tocsin_output::clean(&m.source),
                m.installed_at
            )
        });
        eprintln!(
            "rules: the installed set in {}{from}",
            installed.rules.display()
        );
    }
    Ok(RulePaths {
        paths: vec![installed.rules.clone()],
        hold: Some(held),
    })
}
