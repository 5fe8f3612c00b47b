//! Loading, selecting and compiling rule sets, shared by `hunt` and `rules lint`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tocsin_engine::{BuildReport, Engine, EngineBuilder, LogsourceMapping};
use tocsin_sigma::ast::{CorrelationRule, Document};
use tocsin_sigma::{LoadOutcome, SigmaError};

use crate::args::{CompileArgs, SelectArgs};

/// A compiled rule set and everything that went wrong on the way.
pub struct RuleSet {
    /// The compiled rules.
    pub engine: Engine,
    /// Compile problems (rules left out).
    pub report: BuildReport,
    /// Load problems (files or documents left out).
    pub load_errors: Vec<SigmaError>,
    /// Rule files read.
    pub files: usize,
    /// Rules left out by the selection flags.
    pub deselected: usize,
    /// The correlation rules loaded (the engine leaves them to `tocsin-correlate`).
    pub correlations: Vec<CorrelationRule>,
}

/// The word that names the built-in rules among rule paths (`--rules builtin`); a folder
/// really called `builtin` is written `./builtin`.
pub const BUILTIN_RULES: &str = "builtin";

/// Loads rules from `paths` (the word [`BUILTIN_RULES`] adds the built-in rules), keeps
/// those `select` allows, and compiles them.
pub fn load(paths: &[PathBuf], compile: &CompileArgs, select: &SelectArgs) -> Result<RuleSet> {
    let outcome = load_documents(paths);
    let total = outcome.documents.len();
    let documents: Vec<Document> = outcome
        .documents
        .into_iter()
        .filter(|doc| selected(doc, select))
        .collect();
    let deselected = total - documents.len();
    let builder = builder(compile)?;
    let (engine, report) = builder.build(&documents);
    let (correlations, compiled): (Vec<Document>, Vec<Document>) = documents
        .into_iter()
        .partition(|doc| matches!(doc, Document::Correlation(_)));
    let correlations = correlations
        .into_iter()
        .filter_map(|doc| match doc {
            Document::Correlation(rule) => Some(*rule),
            _ => None,
        })
        .collect();
    drop_in_background(compiled);
    Ok(RuleSet {
        correlations,
        engine,
        report,
        load_errors: outcome.errors,
        files: outcome.files,
        deselected,
    })
}

/// Frees the parsed rules on a thread of their own: thousands of small trees take tens of
/// milliseconds to free, which the hunt need not wait for.
fn drop_in_background(documents: Vec<Document>) {
    let spawned = std::thread::Builder::new()
        .name("tocsin-free".into())
        .spawn(move || drop(documents));
    // Without a thread, the error hands nothing back: the closure, and the documents with
    // it, are freed here.
    let _ = spawned;
}

/// Reads the documents of `paths`, where the word [`BUILTIN_RULES`] stands for the
/// built-in rules (each counted as one file, errors named `builtin/<file>`).
pub fn load_documents(paths: &[PathBuf]) -> LoadOutcome {
    let (builtin, files): (Vec<&PathBuf>, Vec<&PathBuf>) = paths
        .iter()
        .partition(|path| path.as_os_str() == BUILTIN_RULES);
    let files: Vec<PathBuf> = files.into_iter().cloned().collect();
    let mut outcome = if files.is_empty() {
        LoadOutcome::default()
    } else {
        tocsin_sigma::load_paths(&files)
    };
    if !builtin.is_empty() {
        for rule in tocsin_rules::builtin() {
            outcome.files += 1;
            for parsed in rule.parse() {
                match parsed {
                    Ok(document) => outcome.documents.push(document),
                    Err(error) => outcome.errors.push(error),
                }
            }
        }
    }
    outcome
}

/// An engine builder with the user's mapping and placeholders.
fn builder(compile: &CompileArgs) -> Result<EngineBuilder> {
    let mut builder = EngineBuilder::new();
    if let Some(path) = &compile.mapping {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read mapping file {}", path.display()))?;
        let mapping = LogsourceMapping::from_yaml(&text, path)?;
        builder = builder.mapping(mapping);
    }
    if let Some(path) = &compile.placeholders {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read placeholder file {}", path.display()))?;
        let placeholders = tocsin_engine::parse_placeholders(&text, path)?;
        builder = builder.placeholders(placeholders);
    }
    Ok(builder)
}

/// Whether the selection flags keep a document. Filters and correlations are kept: they
/// only act through the rules they name.
fn selected(doc: &Document, select: &SelectArgs) -> bool {
    let Document::Rule(rule) = doc else {
        return true;
    };
    let meta = &rule.meta;
    let id = meta.id.as_deref().unwrap_or("");
    if let Some(min) = select.min_level {
        if meta.level.is_none_or(|level| level < min) {
            return false;
        }
    }
    if !select.status.is_empty() && !meta.status.is_some_and(|s| select.status.contains(&s)) {
        return false;
    }
    if !select.include_id.is_empty() && !select.include_id.iter().any(|i| i == id) {
        return false;
    }
    if select.exclude_id.iter().any(|i| i == id) {
        return false;
    }
    let has_tag = |tags: &[String]| {
        meta.tags
            .iter()
            .any(|t| tags.iter().any(|w| w.eq_ignore_ascii_case(t)))
    };
    if !select.include_tag.is_empty() && !has_tag(&select.include_tag) {
        return false;
    }
    !has_tag(&select.exclude_tag)
}
