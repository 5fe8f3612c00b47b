//! Rule sets: Sigma rules read from files, folders and the built-in set, selected by level,
//! status, id and tag, and compiled with a logsource mapping and placeholder values. Every
//! driver (a hunt, a lint, the demo, the coming service) loads its rules here, so that the
//! same flags mean the same rules everywhere.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use tocsin_correlate::RuleName;
use tocsin_engine::mapping::MappingError;
use tocsin_engine::{BuildReport, Engine, EngineBuilder, LogsourceMapping, PlaceholderError};
use tocsin_event::Level;
use tocsin_sigma::ast::{CorrelationRule, Document, Location, Metadata, Status};
use tocsin_sigma::{LoadOutcome, SigmaError};

use crate::intel::RuleText;

/// How rules are compiled: the user's logsource mapping and placeholder values, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// A logsource mapping file (tocsin or sigmac/THOR format) used instead of the built-in
    /// Windows mapping.
    pub mapping: Option<PathBuf>,
    /// A YAML file giving the values of `expand` placeholders.
    pub placeholders: Option<PathBuf>,
}

/// Which rules to keep; empty lists keep everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSelection {
    /// Only rules at this level or above.
    pub min_level: Option<Level>,
    /// Only rules with one of these statuses.
    pub statuses: Vec<Status>,
    /// Only these rule ids.
    pub include_ids: Vec<String>,
    /// Never these rule ids.
    pub exclude_ids: Vec<String>,
    /// Only rules with at least one of these tags (case ignored).
    pub include_tags: Vec<String>,
    /// Never rules with any of these tags (case ignored).
    pub exclude_tags: Vec<String>,
}

/// Why a rule set could not be compiled at all (bad rules only leave themselves out).
#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    /// A mapping or placeholder file cannot be read.
    #[error("cannot read {what} file {}", path.display())]
    Read {
        /// `mapping` or `placeholder`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The mapping file is invalid (the error names the file and line).
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// The placeholder file is invalid (the error names the file and line).
    #[error(transparent)]
    Placeholders(#[from] PlaceholderError),
}

/// A compiled rule set and everything that went wrong on the way. It can be stored and
/// read back whole (see [`load_rules_cached`](crate::load_rules_cached)).
#[derive(serde::Serialize, serde::Deserialize)]
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
    /// Ids used by more than one rule or correlation: references to them are ambiguous and
    /// their detections hard to tell apart, so a lint counts each as an error.
    pub duplicate_ids: Vec<DuplicateId>,
    /// Rules and correlations the selection left out but a selected correlation references:
    /// they are loaded as its inputs, and their own detections are not shown.
    pub input_only: Vec<RuleName>,
    /// Rules that see the same activity (Sigma `related: similar`), each mapped to the id
    /// grouping counts them as (see [`similar_signals`]).
    pub similar_signals: BTreeMap<String, String>,
}

/// A rule id written twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{}:{}: rule id {id} is already used at {}:{}", again.path.display(), again.line, first.path.display(), first.line)]
pub struct DuplicateId {
    /// The id.
    pub id: String,
    /// Where it was first written.
    pub first: Location,
    /// Where it was written again.
    pub again: Location,
}

/// The word that names the built-in rules among rule paths (`--rules builtin`); a folder
/// really called `builtin` is written `./builtin`.
pub const BUILTIN_RULES: &str = "builtin";

/// Loads rules from `paths` (the word [`BUILTIN_RULES`] adds the built-in rules), keeps
/// those `select` allows, and compiles them with `compile`'s mapping and placeholders. Bad
/// rules are reported in the set, never fatal; only an unreadable or invalid mapping or
/// placeholder file is.
pub fn load_rules(
    paths: &[PathBuf],
    compile: &CompileOptions,
    select: &RuleSelection,
) -> Result<RuleSet, RuleSetError> {
    load_rules_with(paths, &[], compile, select)
}

/// [`load_rules`] with rule documents that come from no file besides (the Sigma
/// indicators of partners' STIX, see [`sigma_rule_texts`](crate::sigma_rule_texts)),
/// selected and compiled with the others; each text counts as one file.
pub fn load_rules_with(
    paths: &[PathBuf],
    extra: &[RuleText],
    compile: &CompileOptions,
    select: &RuleSelection,
) -> Result<RuleSet, RuleSetError> {
    let texts = CompileTexts::read(compile)?;
    compile_documents(load_documents(paths), extra, &texts, select)
}

/// The mapping and placeholder files of [`CompileOptions`], read once, so that what a
/// rule set is compiled with is exactly what the compiled-rule cache keys it by.
#[derive(Debug, Clone, Default)]
pub(crate) struct CompileTexts {
    /// The mapping file and its text.
    pub(crate) mapping: Option<(PathBuf, String)>,
    /// The placeholder file and its text.
    pub(crate) placeholders: Option<(PathBuf, String)>,
}

impl CompileTexts {
    /// Reads the files `compile` names.
    pub(crate) fn read(compile: &CompileOptions) -> Result<Self, RuleSetError> {
        let text = |path: &Option<PathBuf>, what| {
            path.as_ref()
                .map(|path| read(path, what).map(|text| (path.clone(), text)))
                .transpose()
        };
        Ok(CompileTexts {
            mapping: text(&compile.mapping, "mapping")?,
            placeholders: text(&compile.placeholders, "placeholder")?,
        })
    }
}

/// Selects and compiles loaded documents, with `extra` rule texts (see
/// [`load_rules_with`]).
pub(crate) fn compile_documents(
    mut outcome: LoadOutcome,
    extra: &[RuleText],
    texts: &CompileTexts,
    select: &RuleSelection,
) -> Result<RuleSet, RuleSetError> {
    add_texts(&mut outcome, extra);
    let duplicate_ids = duplicate_ids(&outcome.documents);
    let similar_signals = similar_signals(&outcome.documents);
    let total = outcome.documents.len();
    let Selected {
        documents,
        input_only,
    } = select_with_inputs(outcome.documents, select);
    let deselected = total - documents.len();
    let builder = builder(texts)?;
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
        input_only,
        duplicate_ids,
        similar_signals,
    })
}

/// Rules that see the same activity, by Sigma's `related` of type `similar` (the same act
/// logged by two sources, such as a session's shell in the appliance's session report and
/// on the endpoint): each rule id of such a group mapped to the group's smallest id, so
/// that grouping counts them as one signal
/// ([`GroupingConfig::same_signal`](tocsin_incident::GroupingConfig::same_signal)).
pub fn similar_signals(documents: &[Document]) -> BTreeMap<String, String> {
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    fn root(parent: &BTreeMap<String, String>, id: &str) -> String {
        let mut at = id.to_owned();
        while let Some(up) = parent.get(&at).filter(|up| **up != at) {
            at = up.clone();
        }
        at
    }
    for meta in documents.iter().filter_map(shown_metadata) {
        let Some(id) = meta.id.as_deref() else {
            continue;
        };
        for related in meta.related.iter().filter(|r| r.kind == "similar") {
            let (a, b) = (root(&parent, id), root(&parent, &related.id));
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            parent.insert(high, low.clone());
            parent.entry(low.clone()).or_insert(low);
        }
    }
    parent
        .keys()
        .map(|id| (id.clone(), root(&parent, id)))
        .collect()
}

/// Every rule or correlation whose id an earlier one already uses, in load order.
fn duplicate_ids(documents: &[Document]) -> Vec<DuplicateId> {
    let mut first_seen: HashMap<&str, &Location> = HashMap::new();
    let mut duplicates = Vec::new();
    for meta in documents.iter().filter_map(shown_metadata) {
        let Some(id) = meta.id.as_deref() else {
            continue;
        };
        match first_seen.get(id) {
            Some(first) => duplicates.push(DuplicateId {
                id: id.to_owned(),
                first: (*first).clone(),
                again: meta.location.clone(),
            }),
            None => {
                first_seen.insert(id, &meta.location);
            }
        }
    }
    duplicates
}

/// The documents a selection keeps, plus the deselected ones a kept correlation needs.
struct Selected {
    documents: Vec<Document>,
    input_only: Vec<RuleName>,
}

/// Applies the selection to rules and correlations alike, then brings back every rule (or
/// correlation) that a kept correlation references, directly or through another
/// correlation: selection filters what is shown, it never starves a correlation of its
/// inputs. The rules brought back are listed in `input_only`.
fn select_with_inputs(documents: Vec<Document>, select: &RuleSelection) -> Selected {
    let mut keep: Vec<bool> = documents.iter().map(|d| selected(d, select)).collect();
    let mut needed: Vec<&str> = documents
        .iter()
        .zip(&keep)
        .filter(|(_, kept)| **kept)
        .flat_map(|(doc, _)| references(doc))
        .collect();
    let mut input = vec![false; documents.len()];
    while let Some(reference) = needed.pop() {
        for (index, doc) in documents.iter().enumerate() {
            if keep[index] || !answers_to(doc, reference) {
                continue;
            }
            keep[index] = true;
            input[index] = true;
            needed.extend(references(doc));
        }
    }
    let input_only = documents
        .iter()
        .zip(&input)
        .filter(|(_, input)| **input)
        .filter_map(|(doc, _)| shown_metadata(doc))
        .map(|meta| RuleName::new(meta.id.as_deref(), meta.name.as_deref()))
        .collect();
    let documents = documents
        .into_iter()
        .zip(keep)
        .filter_map(|(doc, kept)| kept.then_some(doc))
        .collect();
    Selected {
        documents,
        input_only,
    }
}

/// The ids or names a correlation references (none for other documents).
fn references(doc: &Document) -> impl Iterator<Item = &str> {
    let rules = match doc {
        Document::Correlation(rule) => rule.rules.as_slice(),
        _ => &[],
    };
    rules.iter().map(String::as_str)
}

/// The metadata of a rule or correlation: what selection and references look at (filters
/// have none of their own to show).
fn shown_metadata(doc: &Document) -> Option<&Metadata> {
    match doc {
        Document::Rule(rule) => Some(&rule.meta),
        Document::Correlation(rule) => Some(&rule.meta),
        Document::Filter(_) => None,
    }
}

/// Whether a correlation's reference names this rule or correlation, by id or name.
fn answers_to(doc: &Document, reference: &str) -> bool {
    shown_metadata(doc).is_some_and(|meta| {
        meta.id.as_deref() == Some(reference) || meta.name.as_deref() == Some(reference)
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
    let mut outcome = tocsin_sigma::load_paths(&rule_paths(paths));
    if names_builtin(paths) {
        add_builtin(&mut outcome);
    }
    outcome
}

/// The rule files and folders of `paths`: all but the word [`BUILTIN_RULES`].
pub(crate) fn rule_paths(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .filter(|path| path.as_os_str() != BUILTIN_RULES)
        .cloned()
        .collect()
}

/// Whether `paths` name the built-in rules.
pub(crate) fn names_builtin(paths: &[PathBuf]) -> bool {
    paths.iter().any(|path| path.as_os_str() == BUILTIN_RULES)
}

/// The documents of rule files already listed and read (see [`tocsin_sigma::parse_files`]),
/// then those of the built-in rules when `builtin`.
pub(crate) fn documents_of(
    listed: tocsin_sigma::RuleFiles,
    contents: Vec<std::io::Result<Vec<u8>>>,
    builtin: bool,
) -> LoadOutcome {
    let mut outcome = tocsin_sigma::parse_files(listed, contents);
    if builtin {
        add_builtin(&mut outcome);
    }
    outcome
}

/// Adds the documents of the built-in rules after those of `outcome`.
fn add_builtin(outcome: &mut LoadOutcome) {
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

/// Parses `texts` into `outcome`, giving their rules the text's author when they name
/// none.
fn add_texts(outcome: &mut LoadOutcome, texts: &[RuleText]) {
    for text in texts {
        outcome.files += 1;
        for parsed in tocsin_sigma::parse_documents(&text.text, &text.origin) {
            match parsed {
                Ok(mut document) => {
                    if let (Document::Rule(rule), Some(author)) = (&mut document, &text.author) {
                        rule.meta.author.get_or_insert_with(|| author.clone());
                    }
                    outcome.documents.push(document);
                }
                Err(error) => outcome.errors.push(error),
            }
        }
    }
}

/// An engine builder with the user's mapping and placeholders.
fn builder(texts: &CompileTexts) -> Result<EngineBuilder, RuleSetError> {
    let mut builder = EngineBuilder::new();
    if let Some((path, text)) = &texts.mapping {
        builder = builder.mapping(LogsourceMapping::from_yaml(text, path)?);
    }
    if let Some((path, text)) = &texts.placeholders {
        builder = builder.placeholders(tocsin_engine::parse_placeholders(text, path)?);
    }
    Ok(builder)
}

/// The text of a configuration file.
fn read(path: &Path, what: &'static str) -> Result<String, RuleSetError> {
    std::fs::read_to_string(path).map_err(|source| RuleSetError::Read {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Whether the selection keeps a document. Filters are kept: they only act through the
/// rules they name.
fn selected(doc: &Document, select: &RuleSelection) -> bool {
    let Some(meta) = shown_metadata(doc) else {
        return true;
    };
    let id = meta.id.as_deref().unwrap_or("");
    if let Some(min) = select.min_level {
        if meta.level.is_none_or(|level| level < min) {
            return false;
        }
    }
    if !select.statuses.is_empty() && !meta.status.is_some_and(|s| select.statuses.contains(&s)) {
        return false;
    }
    if !select.include_ids.is_empty() && !select.include_ids.iter().any(|i| i == id) {
        return false;
    }
    if select.exclude_ids.iter().any(|i| i == id) {
        return false;
    }
    let has_tag = |tags: &[String]| {
        meta.tags
            .iter()
            .any(|t| tags.iter().any(|w| w.eq_ignore_ascii_case(t)))
    };
    if !select.include_tags.is_empty() && !has_tag(&select.include_tags) {
        return false;
    }
    !has_tag(&select.exclude_tags)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn rules_related_as_similar_count_as_one_signal() {
        let yaml = "title: A\nid: a\nlogsource: {product: x}\ndetection: {s: {f: 1}, condition: s}\n---\n\
                    title: B\nid: b\nrelated: [{id: a, type: similar}]\nlogsource: {product: x}\ndetection: {s: {f: 2}, condition: s}\n---\n\
                    title: C\nid: c\nrelated: [{id: b, type: similar}, {id: d, type: derived}]\nlogsource: {product: x}\ndetection: {s: {f: 3}, condition: s}\n---\n\
                    title: D\nid: d\nlogsource: {product: x}\ndetection: {s: {f: 4}, condition: s}\n";
        let documents: Vec<Document> = tocsin_sigma::parse_documents(yaml, Path::new("t.yml"))
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        let map = similar_signals(&documents);
        let expected: BTreeMap<String, String> = [("a", "a"), ("b", "a"), ("c", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(map, expected, "derived is no similarity");
    }

    #[test]
    fn the_builtin_rules_pair_the_acts_two_logs_see() {
        let set = load_rules(
            &[PathBuf::from(BUILTIN_RULES)],
            &CompileOptions::default(),
            &RuleSelection::default(),
        )
        .unwrap();
        // The session start in the API audit log and in the outbound events; the session's
        // shell in the session report and on the endpoint.
        assert_eq!(set.similar_signals.len(), 4, "{:?}", set.similar_signals);
    }
}
