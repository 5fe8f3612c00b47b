//! The rule flags of `hunt`, `rules lint` and `bench` as the pipeline's rule options; the
//! loading itself is `tocsin_pipeline::load_rules`.

use std::path::PathBuf;

use anyhow::Result;
use tocsin_pipeline::{CompileOptions, RuleSelection};

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
