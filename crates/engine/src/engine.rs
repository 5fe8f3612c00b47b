//! The engine: rules compiled, placed by logsource, evaluated event by event.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use rayon::prelude::*;
use tocsin_event::{FieldValue, Fields};
use tocsin_sigma::ast::{Document, FilterRule, Location, LogSource, Metadata, Rule};

use crate::candidates::{required_event_ids, CandidateList};
use crate::compile::{simplify, CompileError, CompileErrorKind, Compiler, Interner, Placeholders};
use crate::expr::{EventView, Expr, FieldTest, Scratch, Stamps};
use crate::mapping::{Branch, ConditionValue, LogsourceMapping, Resolution};
use crate::matcher::ValueMatcher;
use crate::prefilter::{join_values, Found, LiteralTable, Need, Prefilter, TextBuffers};
use crate::stored::Stored;
use crate::text::{Part, TextPattern};

/// How many rules compile in parallel while the previous batch is merged (see
/// [`EngineBuilder::build`]): small enough that the first compile and the last merge, which
/// nothing overlaps, are short; large enough that the batches' joins cost nothing.
const MERGE_BATCH: usize = 128;

/// A rule of the documents built, with the filters that apply to it.
type RuleToCompile<'a> = (&'a Rule, Vec<&'a FilterRule>);

/// One rule compiled by [`EngineBuilder::compile_alone`], its ids its own.
struct CompiledAlone {
    /// Its branches and what is kept of it, or why it failed; `None` when unplaced.
    result: Result<Option<(Vec<CompiledBranch>, RuleInfo)>, CompileError>,
    /// The fields it names, numbered for it alone.
    fields: Interner,
    /// Its literals, numbered for it alone.
    literals: LiteralTable,
    /// What compiling it reported.
    report: BuildReport,
}

/// The engine as rules compiled alone are merged into it, in document order.
#[derive(Default)]
struct Merged {
    engine: Engine,
    literals: LiteralTable,
    /// The titles of the filters applied to some rule.
    applied: std::collections::HashSet<String>,
    report: BuildReport,
}

impl Merged {
    /// Merges `compiled`, the rules of `rules` compiled alone, in their order: their field
    /// and literal ids become the engine's.
    fn add(&mut self, rules: &[RuleToCompile], compiled: Vec<CompiledAlone>) {
        for ((rule, rule_filters), alone) in rules.iter().zip(compiled) {
            self.report.errors.extend(alone.report.errors);
            self.report
                .needs_placeholders
                .extend(alone.report.needs_placeholders);
            match alone.result {
                Ok(Some((mut branches, info))) => {
                    self.applied
                        .extend(rule_filters.iter().map(|f| f.meta.title.clone()));
                    let ids: Vec<u32> = alone
                        .fields
                        .names
                        .iter()
                        .map(|name| self.engine.interner.intern(name))
                        .collect();
                    let literal_ids = self.literals.merge(alone.literals, &ids);
                    for branch in &mut branches {
                        branch.body.renumber_fields(&ids);
                        branch.body.renumber_literals(&literal_ids);
                        branch.need.renumber_literals(&literal_ids);
                    }
                    self.engine.add(info, branches);
                }
                Ok(None) => self.report.unmapped += 1,
                Err(e) => self.report.push(rule_error(&rule.meta, &e), e.kind),
            }
        }
    }
}

/// Index of a rule in its [`Engine`].
pub type RuleId = u32;

/// What the engine keeps of a rule for reporting: its metadata and logsource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Title, id, level, tags, author and the rest.
    pub meta: Metadata,
    /// The rule's logsource as written.
    pub logsource: LogSource,
}

/// An engine read back from storage whose indexes point outside what it holds (see
/// [`Engine::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compiled rules with {0}")]
pub struct InvalidEngine(String);

/// A rule that failed to compile; the other rules are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    /// The rule's title.
    pub title: String,
    /// The rule's id, if it has one.
    pub id: Option<String>,
    /// Where the rule was written.
    pub location: Location,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: rule '{}'",
            self.location.path.display(),
            self.location.line,
            self.title
        )?;
        if let Some(id) = &self.id {
            write!(f, " ({id})")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for RuleError {}

/// What building an engine found besides compiled rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BuildReport {
    /// Rules (and filters) that failed to compile because they are wrong.
    pub errors: Vec<RuleError>,
    /// Rules left out because they use `expand` placeholders nobody gave values for.
    /// They are sound, and run once a placeholder file fills them.
    pub needs_placeholders: Vec<RuleError>,
    /// Windows rules whose logsource the mapping does not place (never evaluated).
    pub unmapped: usize,
    /// Filters applied to at least one rule.
    pub filters_applied: usize,
    /// Correlation rules, which this engine does not evaluate.
    pub correlations_skipped: usize,
}

/// Configures and builds an [`Engine`].
#[derive(Debug, Clone, Default)]
pub struct EngineBuilder {
    mapping: LogsourceMapping,
    placeholders: Placeholders,
}

impl EngineBuilder {
    /// A builder with the built-in Windows logsource mapping and no placeholders.
    pub fn new() -> Self {
        EngineBuilder {
            mapping: LogsourceMapping::builtin(),
            placeholders: Placeholders::new(),
        }
    }

    /// Replaces the logsource mapping.
    pub fn mapping(mut self, mapping: LogsourceMapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// Sets the values of `expand` placeholders.
    pub fn placeholders(mut self, placeholders: Placeholders) -> Self {
        self.placeholders = placeholders;
        self
    }

    /// Compiles the rules among `documents` (filters are applied to the rules they name).
    /// A rule that fails to compile is reported and left out; it never stops the others.
    pub fn build(&self, documents: &[Document]) -> (Engine, BuildReport) {
        let mut report = BuildReport::default();
        let mut filters: HashMap<&str, Vec<&FilterRule>> = HashMap::new();
        for doc in documents {
            match doc {
                Document::Filter(f) => {
                    for target in &f.rules {
                        filters.entry(target.as_str()).or_default().push(f);
                    }
                }
                Document::Correlation(_) => report.correlations_skipped += 1,
                Document::Rule(_) => {}
            }
        }
        let rules: Vec<RuleToCompile> = documents
            .iter()
            .filter_map(|doc| match doc {
                Document::Rule(rule) => Some((&**rule, filters_of(rule, &filters))),
                _ => None,
            })
            .collect();
        // Rules compile independently, each with its own field interner and literal table,
        // on all cores; the results are merged in document order so ids and reports do not
        // depend on timing. The merge of one batch runs while the next batch compiles, so
        // that the one step taken rule by rule keeps no core idle.
        let mut merged = Merged {
            report,
            ..Merged::default()
        };
        let mut previous: Option<(&[RuleToCompile], Vec<CompiledAlone>)> = None;
        for batch in rules.chunks(MERGE_BATCH) {
            let (compiled, ()) = rayon::join(
                || {
                    batch
                        .par_iter()
                        .map(|(rule, rule_filters)| self.compile_alone(rule, rule_filters))
                        .collect()
                },
                || {
                    if let Some((rules, compiled)) = previous.take() {
                        merged.add(rules, compiled);
                    }
                },
            );
            previous = Some((batch, compiled));
        }
        if let Some((rules, compiled)) = previous {
            merged.add(rules, compiled);
        }
        let Merged {
            mut engine,
            literals,
            applied,
            mut report,
        } = merged;
        report.filters_applied = applied.len();
        engine
            .candidate_lists_mut()
            .into_par_iter()
            .for_each(|list| list.finish(&literals));
        engine.prefilter = literals.build(&engine.interner.names);
        (engine, report)
    }

    /// Compiles one rule on its own: with its own field interner and literal table, to be
    /// merged into the engine's by [`Merged::add`].
    fn compile_alone(&self, rule: &Rule, filters: &[&FilterRule]) -> CompiledAlone {
        let mut fields = Interner::default();
        let mut report = BuildReport::default();
        let mut literals = LiteralTable::default();
        let result = self
            .compile_rule(rule, filters, &mut fields, &mut report)
            .map(|placed| {
                placed.map(|mut branches| {
                    for branch in &mut branches {
                        branch.need = literals.need(&branch.body);
                        literals.annotate(&mut branch.body);
                    }
                    (branches, rule_info(rule))
                })
            });
        CompiledAlone {
            result,
            fields,
            literals,
            report,
        }
    }

    /// Compiles every placement of a rule; `None` when the rule cannot be placed.
    fn compile_rule(
        &self,
        rule: &Rule,
        filters: &[&FilterRule],
        interner: &mut Interner,
        report: &mut BuildReport,
    ) -> Result<Option<Vec<CompiledBranch>>, CompileError> {
        let (placements, all_windows) = match self.mapping.resolve(&rule.logsource) {
            Resolution::Mapped(branches) => (branches, false),
            Resolution::Generic => (vec![Branch::default()], false),
            Resolution::AllWindows => (vec![Branch::default()], true),
            Resolution::UnmappedWindows => return Ok(None),
        };
        let generic = !all_windows && placements.len() == 1 && placements[0].channels.is_empty();
        let mut compiled = Vec::with_capacity(placements.len());
        for branch in &placements {
            let mut compiler = Compiler {
                interner,
                placeholders: &self.placeholders,
                renames: &branch.renames,
            };
            let mut body = vec![compiler.detection(&rule.detection)?];
            for filter in filters {
                match compiler.detection(&filter.detection) {
                    Ok(expr) => body.push(Expr::Not(Box::new(expr))),
                    Err(e) => report.push(rule_error(&filter.meta, &e), e.kind),
                }
            }
            let extra = branch
                .conditions
                .iter()
                .filter(|(field, _)| field != "EventID")
                .map(|(field, values)| condition_test(interner, field, values));
            body.splice(0..0, extra);
            if !generic && !all_windows {
                // Named for the reference evaluator, which tests the placement as fields.
                interner.intern("Channel");
                interner.intern("EventID");
            }
            compiled.push(CompiledBranch {
                channels: branch.channels.clone(),
                event_ids: branch.event_ids(),
                generic,
                all_windows,
                body: simplify(Expr::And(body)),
                need: Need::Nothing,
                source: if generic {
                    SourceFilter::of(&rule.logsource)
                } else {
                    SourceFilter::default()
                },
            });
        }
        Ok(Some(compiled))
    }
}

/// What the engine keeps of a rule for reporting.
fn rule_info(rule: &Rule) -> RuleInfo {
    RuleInfo {
        meta: rule.meta.clone(),
        logsource: rule.logsource.clone(),
    }
}

/// The filters that name `rule` by id or name.
fn filters_of<'d>(
    rule: &Rule,
    filters: &HashMap<&str, Vec<&'d FilterRule>>,
) -> Vec<&'d FilterRule> {
    [rule.meta.id.as_deref(), rule.meta.name.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(|key| filters.get(key))
        .flatten()
        .copied()
        .collect()
}

fn rule_error(meta: &Metadata, e: &CompileError) -> RuleError {
    RuleError {
        title: meta.title.clone(),
        id: meta.id.clone(),
        location: Location {
            line: e.line.unwrap_or(meta.location.line),
            ..meta.location.clone()
        },
        message: e.message.clone(),
    }
}

impl BuildReport {
    fn push(&mut self, error: RuleError, kind: CompileErrorKind) {
        match kind {
            CompileErrorKind::Invalid => self.errors.push(error),
            CompileErrorKind::MissingPlaceholder => self.needs_placeholders.push(error),
        }
    }
}

/// A mapping condition such as `EventType: CreateKey` as a field test.
fn condition_test(interner: &mut Interner, field: &str, values: &[ConditionValue]) -> Expr {
    let matchers = values
        .iter()
        .map(|v| match v {
            ConditionValue::Int(i) => ValueMatcher::Number(*i as f64),
            ConditionValue::Text(t) => {
                ValueMatcher::Text(TextPattern::compile(&[Part::Lit(t.clone())], false))
            }
        })
        .collect();
    Expr::Field(Box::new(FieldTest {
        field: interner.intern(field),
        matchers,
        all: false,
        negate: false,
        literals: Vec::new(),
    }))
}

/// One placement of a rule: where it applies and what it checks there.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CompiledBranch {
    /// Channels (empty for generic rules).
    channels: Vec<String>,
    /// Event IDs (empty: any).
    event_ids: Vec<i64>,
    /// A rule of another product, for events that are not Windows events.
    generic: bool,
    /// A rule of `product: windows` alone, for every Windows event.
    all_windows: bool,
    /// Detection, filters and non-EventID conditions of the mapping.
    body: Expr,
    /// Literals of which the event must contain one for the body to have a chance.
    need: Need,
    /// For a generic branch: the logsource a tagged event must have (see [`SourceFilter`]).
    source: SourceFilter,
}

/// The product, service and category a generic rule names, lowercased. An event whose
/// decoder (or the user, for files of unknown origin) tagged it with a logsource meets the
/// rule only if every one of these the rule names is the event's too. An untagged event
/// (plain JSON nobody placed) meets only rules that name none of them: nothing says it
/// came from the product a rule was written for, and a negated rule (`not selection`)
/// would fire on every such record. Windows events never meet generic rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SourceFilter {
    product: Option<String>,
    service: Option<String>,
    category: Option<String>,
}

impl SourceFilter {
    fn of(logsource: &LogSource) -> Self {
        let lower = |v: &Option<String>| v.as_deref().map(str::to_ascii_lowercase);
        SourceFilter {
            product: lower(&logsource.product),
            service: lower(&logsource.service),
            category: lower(&logsource.category),
        }
    }

    /// Whether an event tagged `tag` (or untagged) can come from this logsource.
    fn admits(&self, tag: Option<&tocsin_event::LogSource>) -> bool {
        let Some(tag) = tag else {
            return self.product.is_none() && self.service.is_none() && self.category.is_none();
        };
        let same = |wanted: &Option<String>, have: &Option<Box<str>>| match wanted {
            None => true,
            Some(w) => have.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(w)),
        };
        same(&self.product, &tag.product)
            && same(&self.service, &tag.service)
            && same(&self.category, &tag.category)
    }
}

/// One compiled rule. Read back from storage, all but what correlations look rules up by is
/// decoded when the rule is first evaluated or asked for (see [`Stored`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CompiledRule {
    /// The rule's `id`, known before the rest is decoded.
    id: Option<Box<str>>,
    /// The rule's `name`, known before the rest is decoded.
    name: Option<Box<str>>,
    /// How many branches it has, known before they are decoded.
    branch_count: u32,
    /// What is kept of the rule for reporting, and its branches.
    body: Stored<RuleBody>,
}

/// What of a rule is decoded on its first use.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RuleBody {
    info: RuleInfo,
    branches: Vec<CompiledBranch>,
}

impl CompiledRule {
    fn new(info: RuleInfo, branches: Vec<CompiledBranch>) -> Self {
        CompiledRule {
            id: info.meta.id.as_deref().map(Box::from),
            name: info.meta.name.as_deref().map(Box::from),
            branch_count: branches.len() as u32,
            body: Stored::new(RuleBody { info, branches }),
        }
    }

    /// The rule, decoded now if this is its first use. `names` is how many field names the
    /// engine holds: a rule whose stored form does not decode, or whose branches name a
    /// field outside them, is a damaged store. It is left out (it has no branch, so it
    /// matches nothing) rather than trusted, and says so where it is shown.
    fn body(&self, names: usize) -> &RuleBody {
        self.body.get(|decoded| match decoded {
            Ok(body)
                if body.branches.len() == self.branch_count as usize
                    && body.branches.iter().all(|b| b.body.is_within(names)) =>
            {
                body
            }
            Ok(_) | Err(_) => self.damaged(),
        })
    }

    /// What stands in for a rule whose stored form is damaged.
    fn damaged(&self) -> RuleBody {
        let known = self.id.as_deref().or(self.name.as_deref()).unwrap_or("?");
        tracing::error!(
            rule = known,
            "the stored form of this rule is damaged: the rule is left out of this run \
             (delete the compiled-rule cache to rebuild it)"
        );
        let mut info = RuleInfo {
            meta: Metadata::default(),
            logsource: LogSource::default(),
        };
        info.meta.title = format!("rule {known}, left out: its compiled form is damaged");
        info.meta.id = self.id.as_deref().map(String::from);
        info.meta.name = self.name.as_deref().map(String::from);
        RuleBody {
            info,
            branches: Vec::new(),
        }
    }
}

/// Candidate branches of one channel.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ChannelIndex {
    by_event_id: foldhash::HashMap<i64, CandidateList>,
    any_event_id: CandidateList,
}

/// Compiled rules, indexed by channel and event ID so an event meets only the rules that
/// can match it. An engine can be stored and read back with serde (the compiled-rule cache
/// does, in a compact binary encoding): its automata and regular expressions are not
/// stored but built again on first use, as they already are for most of them.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Engine {
    #[serde(with = "rules_in_chunks")]
    rules: Vec<CompiledRule>,
    interner: Interner,
    /// Candidates per channel, keyed by the lowercase channel name.
    channels: foldhash::HashMap<String, ChannelIndex>,
    /// Channel names as the mapping writes them (which is how logs write them) -> the
    /// lowercase key, so the usual lookup needs no lowercasing per event.
    channel_keys: foldhash::HashMap<String, String>,
    generic: CandidateList,
    /// Branches of rules whose logsource is `product: windows` alone, for every Windows
    /// event.
    all_windows: CandidateList,
    prefilter: Prefilter,
    /// Each branch's placement as a plain condition (`None`: placed by what the event is),
    /// for the reference evaluator: built on its first use, not stored.
    #[serde(skip)]
    placement_gates: OnceLock<Vec<Vec<Option<Expr>>>>,
}

impl Engine {
    fn add(&mut self, info: RuleInfo, branches: Vec<CompiledBranch>) {
        let id = self.rules.len() as RuleId;
        for (b, branch) in branches.iter().enumerate() {
            let b = b as u16;
            let need = &branch.need;
            let mut stamped = Vec::new();
            branch.body.stamped_literals(&mut stamped);
            stamped.sort_unstable();
            stamped.dedup();
            if branch.generic {
                self.generic.push(id, b, true, need, &stamped);
                continue;
            }
            if branch.all_windows {
                self.all_windows.push(id, b, false, need, &stamped);
                continue;
            }
            // Event IDs from the mapping, else from the detection (`EventID: 4728`).
            let event_ids = match branch.event_ids.is_empty() {
                false => Some(branch.event_ids.clone()),
                true => self
                    .interner
                    .id("EventID")
                    .and_then(|field| required_event_ids(&branch.body, field)),
            };
            for channel in &branch.channels {
                let key = channel.to_lowercase();
                self.channel_keys.insert(channel.clone(), key.clone());
                let index = self.channels.entry(key).or_default();
                let Some(event_ids) = &event_ids else {
                    index.any_event_id.push(id, b, false, need, &stamped);
                    continue;
                };
                for event_id in event_ids {
                    let list = index.by_event_id.entry(*event_id).or_default();
                    list.push(id, b, false, need, &stamped);
                }
            }
        }
        self.rules.push(CompiledRule::new(info, branches));
    }

    /// Every candidate list, for finishing them once all rules are in.
    fn candidate_lists_mut(&mut self) -> Vec<&mut CandidateList> {
        let mut lists = vec![&mut self.generic, &mut self.all_windows];
        for index in self.channels.values_mut() {
            lists.push(&mut index.any_event_id);
            lists.extend(index.by_event_id.values_mut());
        }
        lists
    }

    /// Checks that every index the engine follows without checking points inside what it
    /// holds (rules and branches, field names, prefilter literals): an engine read back
    /// from storage must pass before it is used. A compiled engine always does.
    ///
    /// # Errors
    ///
    /// What points outside.
    pub fn validate(&self) -> Result<(), InvalidEngine> {
        let names = self.interner.names.len();
        let outside = |what: &str| Err(InvalidEngine(what.to_owned()));
        // Rules still in their stored encoding are checked as they are decoded.
        let all_within = self
            .rules
            .iter()
            .filter_map(|rule| rule.body.decoded())
            .flat_map(|body| &body.branches)
            .all(|branch| branch.body.is_within(names));
        if !all_within {
            return outside("a rule naming a field outside the field names");
        }
        let branches: Vec<usize> = self
            .rules
            .iter()
            .map(|rule| rule.branch_count as usize)
            .collect();
        let literals = self.prefilter.literal_count();
        let mut lists = vec![&self.generic, &self.all_windows];
        for index in self.channels.values() {
            lists.push(&index.any_event_id);
            lists.extend(index.by_event_id.values());
        }
        if !lists.iter().all(|list| list.is_within(&branches, literals)) {
            return outside("a candidate list pointing outside the rules or literals");
        }
        Ok(())
    }

    /// Number of compiled rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule compiled.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// A rule by id.
    pub fn rule(&self, id: RuleId) -> &RuleInfo {
        &self.rules[id as usize].body(self.interner.names.len()).info
    }

    /// Every compiled rule with its id.
    pub fn rules(&self) -> impl Iterator<Item = (RuleId, &RuleInfo)> {
        let names = self.interner.names.len();
        self.rules
            .iter()
            .enumerate()
            .map(move |(i, r)| (i as RuleId, &r.body(names).info))
    }

    /// Every compiled rule's `id` and `name` (what correlations name rules by), by rule id:
    /// unlike [`Engine::rules`], this does not decode rules read back from storage.
    pub fn rule_names(&self) -> impl Iterator<Item = (Option<&str>, Option<&str>)> {
        self.rules
            .iter()
            .map(|r| (r.id.as_deref(), r.name.as_deref()))
    }

    /// The ids of the rules matching `event`, sorted, each once. Uses the channel / event ID
    /// index; `scratch` holds buffers reused between calls (one per thread).
    pub fn evaluate<'s>(&self, event: &dyn Fields, scratch: &'s mut Scratch) -> &'s [RuleId] {
        let mut matched = std::mem::take(&mut scratch.matched);
        matched.clear();
        let (mut seen, generation) = scratch.take_literals();
        let mut met = std::mem::take(&mut scratch.needs_met);
        let mut due = std::mem::take(&mut scratch.needs_due);
        due.iter_mut().for_each(Vec::clear);
        let lists = self.candidates(event);
        // The literal scans run once, before any rule, and only for events that meet a rule
        // that needs them; what they find then also spares the rules' own value tests.
        let scanned = lists.iter().flatten().any(|list| list.has_needs());
        if scanned {
            let mut found = std::mem::take(&mut scratch.literals_found);
            found.clear();
            let mut buffers = std::mem::take(&mut scratch.text_buffers);
            self.scan_literals(
                event,
                &lists,
                &mut seen,
                generation,
                &mut found,
                &mut buffers,
            );
            scratch.text_buffers = buffers.shrunk();
            for ((list, met), due) in lists.iter().zip(met.iter_mut()).zip(due.iter_mut()) {
                if let Some(list) = list {
                    list.mark_needs_met(&found, met, generation, due);
                }
            }
            scratch.literals_found = found;
        }
        {
            let mut view = EventView::new(event, &self.interner.names, scratch);
            view.stamps = scanned.then_some(Stamps {
                seen: &seen,
                generation,
            });
            let tag = event.logsource();
            for (list, due) in lists.into_iter().zip(&due) {
                let Some(list) = list else { continue };
                // The branches without a need, then those whose need the scans met.
                for indexes in [list.unconditional(), due] {
                    self.evaluate_candidates(list, indexes, tag, &mut view, &mut matched);
                }
            }
        }
        scratch.literals_seen = seen;
        scratch.needs_met = met;
        scratch.needs_due = due;
        matched.sort_unstable();
        matched.dedup();
        scratch.matched = matched;
        &scratch.matched
    }

    /// Evaluates the candidates of `list` at `indexes`, pushing the rules that match.
    fn evaluate_candidates(
        &self,
        list: &CandidateList,
        indexes: &[u32],
        tag: Option<&tocsin_event::LogSource>,
        view: &mut EventView<'_, '_>,
        matched: &mut Vec<RuleId>,
    ) {
        let names = self.interner.names.len();
        for &index in indexes {
            let Some(candidate) = list.candidates().get(index as usize) else {
                continue;
            };
            let Some(branch) = self.rules[candidate.rule as usize]
                .body(names)
                .branches
                .get(usize::from(candidate.branch))
            else {
                continue;
            };
            if candidate.generic && !branch.source.admits(tag) {
                continue;
            }
            if branch.body.eval(view) {
                matched.push(candidate.rule);
            }
        }
    }

    /// Runs the field scans and the keyword scans of `lists` over `event`.
    fn scan_literals(
        &self,
        event: &dyn Fields,
        lists: &[Option<&CandidateList>; 3],
        seen: &mut Vec<u32>,
        generation: u32,
        found: &mut Vec<u32>,
        buffers: &mut TextBuffers,
    ) {
        let TextBuffers { lowered, joined } = buffers;
        let mut found = Found {
            seen,
            generation,
            ids: found,
            lowered,
        };
        let wanted = lists.map(|list| list.map(CandidateList::scanned_fields));
        self.prefilter.scan_fields(event, &mut found, &wanted);
        let mut keywords = lists.iter().flatten().filter(|list| list.has_keywords());
        if let Some(first) = keywords.next() {
            // The values are joined once, for every list's keywords.
            join_values(event, joined);
            for list in std::iter::once(first).chain(keywords) {
                list.scan_keywords(joined, &mut found);
            }
        }
    }

    /// The straightforward evaluator: every branch of every rule, with its placement checked
    /// as an ordinary condition instead of through the index. Slow; it exists so that tests
    /// can check the optimised path against it.
    pub fn evaluate_reference(&self, event: &dyn Fields) -> Vec<RuleId> {
        let mut scratch = Scratch::default();
        let mut view = EventView::new(event, &self.interner.names, &mut scratch);
        let gates = self.placement_gates();
        // Built once the rules are all added (`add` is only called while building).
        debug_assert_eq!(gates.len(), self.rules.len());
        self.rules
            .iter()
            .zip(gates)
            .enumerate()
            .filter(|(_, (rule, gates))| {
                let branches = &rule.body(self.interner.names.len()).branches;
                branches.iter().zip(gates.iter()).any(|(b, gate)| {
                    let placed = match (b.generic, b.all_windows) {
                        (true, _) => !is_windows(event) && b.source.admits(event.logsource()),
                        (_, true) => is_windows(event),
                        // No gate: the field names of the placement are missing.
                        _ => gate.as_ref().is_some_and(|gate| gate.eval(&mut view)),
                    };
                    placed && b.body.eval(&mut view)
                })
            })
            .map(|(i, _)| i as RuleId)
            .collect()
    }

    /// Each branch's placement as a plain condition, built now if this is the first call.
    fn placement_gates(&self) -> &[Vec<Option<Expr>>] {
        self.placement_gates.get_or_init(|| {
            // Interned by every engine with a branch placed by them.
            let fields = self.interner.id("Channel").zip(self.interner.id("EventID"));
            self.rules
                .iter()
                .map(|rule| {
                    let gate = |b: &CompiledBranch| {
                        let (channel, event_id) = fields?;
                        let by_index = !b.generic && !b.all_windows;
                        by_index
                            .then(|| placement_gate(&b.channels, &b.event_ids, channel, event_id))
                    };
                    let branches = &rule.body(self.interner.names.len()).branches;
                    branches.iter().map(gate).collect()
                })
                .collect()
        })
    }

    /// The lists of branches that can match an event: for a Windows event, those of its
    /// channel and event ID and the all-Windows ones; for any other, the generic ones.
    fn candidates(&self, event: &dyn Fields) -> [Option<&CandidateList>; 3] {
        let all_windows = (!self.all_windows.is_empty()).then_some(&self.all_windows);
        match event.first("Channel") {
            None if is_windows_tag(event.logsource()) => [None, None, all_windows],
            None => [Some(&self.generic), None, None],
            Some(channel) => match self.channel_index(channel) {
                None => [None, None, all_windows],
                Some(index) => {
                    let by_id = event_id(event).and_then(|id| index.by_event_id.get(&id));
                    [by_id, Some(&index.any_event_id), all_windows]
                }
            },
        }
    }

    fn channel_index(&self, channel: FieldValue<'_>) -> Option<&ChannelIndex> {
        let text = channel.as_str()?;
        match self.channel_keys.get(text) {
            Some(key) => self.channels.get(key),
            None => self.channels.get(&text.to_lowercase()),
        }
    }
}

/// Whether an event is Windows event-log output: it names its channel, or its decoder
/// tagged it `product: windows` (an EVTX record without a `<Channel>` element).
fn is_windows(event: &dyn Fields) -> bool {
    event.contains("Channel") || is_windows_tag(event.logsource())
}

/// Whether a decoder's tag says `product: windows`.
fn is_windows_tag(tag: Option<&tocsin_event::LogSource>) -> bool {
    tag.and_then(|t| t.product.as_deref())
        .is_some_and(|p| p.eq_ignore_ascii_case("windows"))
}

/// The first EventID of an event as a number.
fn event_id(event: &dyn Fields) -> Option<i64> {
    let whole = |f: f64| (f.fract() == 0.0).then_some(f as i64);
    match event.first("EventID")? {
        FieldValue::Int(i) => Some(i),
        // As numeric equality reads text: `4728`, ` 4728 `, `4728.0`.
        FieldValue::Str(s) => {
            let s = s.trim();
            s.parse().ok().or_else(|| s.parse().ok().and_then(whole))
        }
        FieldValue::Float(f) => whole(f),
        _ => None,
    }
}

/// The placement of a branch placed by channel and event ID, as an ordinary condition, for
/// the reference evaluator (built when it needs it: it is not stored, and a cached rule set
/// is read back faster without it).
fn placement_gate(channels: &[String], event_ids: &[i64], channel: u32, event_id: u32) -> Expr {
    let channel_test = Expr::Field(Box::new(FieldTest {
        field: channel,
        matchers: channels
            .iter()
            .map(|c| ValueMatcher::Text(TextPattern::compile(&[Part::Lit(c.clone())], false)))
            .collect(),
        all: false,
        negate: false,
        literals: Vec::new(),
    }));
    if event_ids.is_empty() {
        return channel_test;
    }
    let id_test = Expr::Field(Box::new(FieldTest {
        field: event_id,
        matchers: event_ids
            .iter()
            .map(|i| ValueMatcher::Number(*i as f64))
            .collect(),
        all: false,
        negate: false,
        literals: Vec::new(),
    }));
    Expr::And(vec![channel_test, id_test])
}

/// The rules stored as separately encoded chunks, so that reading them back runs on all
/// cores (each rule's id and name decoded, the rest copied as it is stored: see
/// [`Stored`]).
mod rules_in_chunks {
    use rayon::prelude::*;
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::CompiledRule;

    /// Rules per chunk: enough chunks for every core, each large enough to be worth a task.
    const CHUNK: usize = 256;

    /// One chunk's encoding, written as bytes (not as a sequence of numbers) so that it is
    /// read back as one slice of the input.
    struct Bytes(Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(&self.0)
        }
    }

    pub(super) fn serialize<S: Serializer>(
        rules: &[CompiledRule],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let chunks = rules
            .par_chunks(CHUNK)
            .map(|chunk| postcard::to_stdvec(chunk).map(Bytes))
            .collect::<Result<Vec<Bytes>, _>>()
            .map_err(S::Error::custom)?;
        chunks.serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<CompiledRule>, D::Error> {
        let chunks = Vec::<&'de [u8]>::deserialize(deserializer)?;
        let decoded = chunks
            .par_iter()
            .map(|chunk| postcard::from_bytes::<Vec<CompiledRule>>(chunk))
            .collect::<Result<Vec<_>, _>>()
            .map_err(D::Error::custom)?;
        // Sized once: grown by doubling, the vector was copied (into fresh pages) five times.
        let mut rules = Vec::with_capacity(decoded.iter().map(Vec::len).sum());
        decoded.into_iter().for_each(|chunk| rules.extend(chunk));
        Ok(rules)
    }
}

#[cfg(test)]
mod validate_tests {
    use super::*;
    use crate::expr::Expr;

    fn compiled() -> Engine {
        let yaml = "title: T\nlogsource: {product: windows, service: security}\n\
                    detection: {s: {EventID: 4625, TargetUserName|contains: admin}, k: [mimikatz], condition: s or k}\n";
        let docs: Vec<Document> = tocsin_sigma::parse_documents(yaml, "t.yml".as_ref())
            .into_iter()
            .map(|doc| doc.expect("parses"))
            .collect();
        let (engine, report) = EngineBuilder::new().build(&docs);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        engine
    }

    #[test]
    fn a_compiled_engine_is_valid_and_indexes_pointing_outside_are_refused() {
        assert_eq!(compiled().validate(), Ok(()));

        let mut engine = compiled();
        engine.rules[0].body.get_mut().branches[0].body = Expr::Exists {
            field: 10_000,
            present: true,
        };
        assert!(engine.validate().is_err());

        let mut engine = compiled();
        engine.rules[0].body.get_mut().branches[0].body = Expr::Not(Box::new(Expr::Exists {
            field: u32::MAX,
            present: false,
        }));
        assert!(engine.validate().is_err());

        let mut engine = compiled();
        engine.generic.push(7, 0, true, &Need::Nothing, &[]);
        assert!(engine.validate().is_err(), "a candidate of a rule not held");

        let mut engine = compiled();
        engine.generic.push(0, 9, true, &Need::Nothing, &[]);
        assert!(
            engine.validate().is_err(),
            "a branch the rule does not have"
        );

        let mut engine = compiled();
        let beyond = engine.prefilter.literal_count() as u32 + 5;
        let need = Need::AnyOf {
            ids: vec![beyond],
            anywhere: false,
        };
        engine.generic.push(0, 0, true, &need, &[]);
        assert!(engine.validate().is_err(), "a literal beyond the table");
    }

    /// A Security logon failure by `admin`, which the rule of [`compiled`] matches.
    fn failed_admin_logon() -> tocsin_event::Event {
        let mut event = tocsin_event::Event::default();
        let channel = tocsin_event::Value::from("Security");
        event.push("Event.System.Channel", "Channel", channel);
        event.push(
            "Event.System.EventID",
            "EventID",
            tocsin_event::Value::Int(4625),
        );
        let user = tocsin_event::Value::from("admin");
        event.push("Event.EventData.TargetUserName", "TargetUserName", user);
        event
    }

    #[test]
    fn stored_branches_are_decoded_when_first_evaluated_and_checked_then() {
        let stored = postcard::to_stdvec(&compiled()).unwrap();
        let read: Engine = postcard::from_bytes(&stored).unwrap();
        assert!(read.rules[0].body.decoded().is_none());
        assert_eq!(read.validate(), Ok(()));
        // Correlations look rules up by id and name without decoding them.
        assert_eq!(read.rule_names().collect::<Vec<_>>(), [(None, None)]);
        assert!(read.rules[0].body.decoded().is_none());
        let mut scratch = Scratch::default();
        assert_eq!(read.evaluate(&failed_admin_logon(), &mut scratch), [0]);
        assert!(read.rules[0].body.decoded().is_some());

        // Stored branches naming a field the engine does not have are a damaged store: the
        // rule is left out when it is first met, and nothing panics.
        let mut damaged = compiled();
        damaged.rules[0].body.get_mut().branches[0].body = Expr::Exists {
            field: 10_000,
            present: true,
        };
        let read: Engine = postcard::from_bytes(&postcard::to_stdvec(&damaged).unwrap()).unwrap();
        assert!(read
            .evaluate(&failed_admin_logon(), &mut scratch)
            .is_empty());
        assert!(read.evaluate_reference(&failed_admin_logon()).is_empty());
        assert!(read.rule(0).meta.title.contains("damaged"));
    }
}
