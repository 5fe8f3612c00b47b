//! The rule flags of `hunt`, `rules lint` and `bench` as the pipeline's rule options; the
//! loading itself is `tocsin_pipeline::load_rules`. No `--rules` means the installed set
//! (`tocsin rules update`), found here.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use tocsin_pipeline::{CompileOptions, RuleSelection};
use tocsin_rulepack::RuleStore;

pub use tocsin_pipeline::{load_documents, RuleSet, BUILTIN_RULES};

use crate::args::{CompileArgs, SelectArgs};

/// Loads, selects and compiles the rules the flags name.
pub fn load(paths: &[PathBuf], compile: &CompileArgs, select: &SelectArgs) -> Result<RuleSet> {
    let compile = CompileOptions {
        mapping: compile.mapping.clone(),
        placeholders: compile.placeholders.clone(),
    };
    let select = RuleSelection {
        min_level: select.min_level,
        statuses: select.status.clone(),
        include_ids: select.include_id.clone(),
        exclude_ids: select.exclude_id.clone(),
        include_tags: select.include_tag.clone(),
        exclude_tags: select.exclude_tag.clone(),
    };
    Ok(tocsin_pipeline::load_rules(paths, &compile, &select)?)
}

/// The data folder (`$TOCSIN_DATA_DIR`, `$XDG_DATA_HOME/tocsin` or
/// `~/.local/share/tocsin`) and its installed rules.
pub fn rule_store() -> Result<RuleStore> {
    let data = tocsin_rulepack::data_dir(|name| std::env::var_os(name)).ok_or_else(|| {
        anyhow!("no data folder: set TOCSIN_DATA_DIR (or XDG_DATA_HOME, or HOME)")
    })?;
    Ok(RuleStore::new(&data))
}

/// `paths` if any were given; else the installed rules folder, with a note on standard
/// error unless `quiet`.
///
/// # Errors
///
/// None given and none installed (the message says what to do), or an installed set
/// that is broken.
pub fn paths_or_installed(paths: &[PathBuf], quiet: bool) -> Result<Vec<PathBuf>> {
    if !paths.is_empty() {
        return Ok(paths.to_vec());
    }
    const ADVICE: &str =
        "pass --rules PATH (or --rules builtin), or run `tocsin rules update` to install SigmaHQ's rules";
    let store = rule_store().context(ADVICE)?;
    let installed = store
        .installed()
        .with_context(|| format!("no usable installed rules; {ADVICE}"))?;
    let Some(installed) = installed else {
        bail!(
            "no rules given and none installed in {}: {ADVICE}",
            store.root().display()
        );
    };
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
    Ok(vec![installed.rules])
}
