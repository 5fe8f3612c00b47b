//! The literal prefilter: most rules are rejected without evaluating them.
//!
//! Nearly every Sigma rule can match only an event that contains one of a few literals
//! (`\whoami.exe`, `-encodedcommand`, ...) in the fields it tests. At build time each rule
//! branch gets its [`Need`]: a set of scoped literals of which at least one must occur for
//! the branch to have any chance. A literal is scoped to the field its test reads
//! (`Image` must contain `\whoami.exe`), or to the whole event for keyword lists. Per
//! event, each value of a field whose literals a candidate of the event needs or reads is
//! searched once with the searcher of that field's literals, an Aho-Corasick DFA or, for
//! the largest fields, a [`WindowSet`] (other fields, such as `Provider_Guid`, are not
//! searched at all), and keyword literals with the automaton of each of the event's
//! candidate lists that has keyword rules, over every value of the event lowercased and
//! joined once (see [`join_values`]). Each literal found is listed once ([`Found`]); the
//! candidate lists turn that list into the needs met, and a branch whose need is not met is
//! skipped. What the scan finds also serves evaluation: [`LiteralTable::annotate`] gives
//! each value test its literal ids, and a test whose literals are absent is false.
//!
//! The need is a *necessary* condition, never a sufficient one, so skipping is always safe:
//!
//! * a field test needs the literal of each of its values in its field (any of them, or
//!   the most selective one under `all`); a value without a literal (numbers, `cidr`, a
//!   regular expression without a literal prefix, suffix or inner run, ...) makes the test
//!   unconstrained;
//! * `and` needs what its most selective constrained operand needs; `or` needs the union of
//!   its operands' needs and is unconstrained if any operand is; `not` is unconstrained;
//! * a literal is searched with ASCII case folding, which accepts a superset of what both
//!   case-sensitive and case-insensitive matching accept;
//! * literals shorter than [`MIN_LITERAL_LEN`] bytes are treated as unconstrained: they occur
//!   in nearly every event and would only slow the scan down.
//!
//! # Which searcher a field gets
//!
//! A field with up to [`SMALL_SCOPE`] literals gets an Aho-Corasick DFA, built
//! case-sensitive over the lowercase literals and walked byte by byte while the scan
//! lowercases each byte; a value of 16 bytes or more is walked in two or four pieces side by
//! side (overlapping at the seams), so that the walks overlap their memory waits. Where the
//! processor allows, it also gets a packed (Teddy) searcher of the same literals
//! ([`PackedLiterals`]) for values of at least [`PACKED_FROM`] bytes and for an event's
//! joined values: lowercased once, they are searched 16 or 32 bytes at a time. A larger
//! field (`CommandLine`, `Hashes`, `Image`, script blocks, paths) gets a [`WindowSet`],
//! quick to build, whose cost grows with the number of literal lengths rather than of
//! literals; one of up to [`LARGE_SCOPE`] literals trades it for a DFA once it has searched
//! [`DFA_AFTER`] bytes. A field's integer values are searched only by scanners with a
//! literal an integer's decimal text can hold (the keyword scans read every value).
//!
//! The differential test (`tests/differential.rs`) checks over the whole corpus that the
//! prefiltered, indexed evaluator finds exactly what the reference evaluator finds.

use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use aho_corasick::automaton::Automaton;
use aho_corasick::automaton::StateID;
use aho_corasick::{dfa, Anchored, MatchKind};
use tocsin_event::{FieldValue, Fields};

use crate::expr::{Expr, FieldTest, KeywordTest};
use crate::matcher::{with_text, ValueMatcher};
use crate::packed_literals::{extend_lowercase, lowercase_into, PackedLiterals};
use crate::text::TextPattern;
use crate::window_set::WindowSet;

/// Literals shorter than this never constrain a rule.
pub(crate) const MIN_LITERAL_LEN: usize = 3;

/// Literals are cut to at most this many bytes (see [`usable`]): 8 halves the automaton's
/// build time against 16 and filters as well on the SigmaHQ rules over the EVTX corpus.
pub(crate) const MAX_LITERAL_LEN: usize = 8;

/// What a rule branch needs from an event before it is worth evaluating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Need {
    /// Nothing known: always evaluate.
    Nothing,
    /// At least one of these scoped literals must occur in the event.
    AnyOf {
        /// The literals' ids.
        ids: Vec<u32>,
        /// Whether some of them are keyword literals, which need the search of every value.
        anywhere: bool,
    },
}

/// Where a literal must occur: in a field (its id in the engine's interner), or anywhere.
type Scope = Option<u32>;

/// Builds the literal table while rules are compiled.
#[derive(Debug, Default)]
pub(crate) struct LiteralTable {
    ids: foldhash::HashMap<(Scope, String), u32>,
    literals: Vec<(Scope, String)>,
}

/// A set of scoped literals (lowercase), before they get ids.
type Literals = Vec<(Scope, String)>;

impl LiteralTable {
    /// The need of a compiled expression, registering its literals.
    pub(crate) fn need(&mut self, expr: &Expr) -> Need {
        match literals_of(expr) {
            None => Need::Nothing,
            Some(set) => {
                let anywhere = set.iter().any(|(scope, _)| scope.is_none());
                let mut ids: Vec<u32> = set.into_iter().map(|l| self.id(l)).collect();
                ids.sort_unstable();
                ids.dedup();
                Need::AnyOf { ids, anywhere }
            }
        }
    }

    /// Gives every literal value test under `expr` the ids of its literals, registering
    /// them, so that evaluation can skip the values whose literals the scan did not find
    /// (see [`crate::expr::Stamps`]). Keyword tests are left alone: their literals are only
    /// searched for the rules that need them.
    pub(crate) fn annotate(&mut self, expr: &mut Expr) {
        match expr {
            Expr::And(items) | Expr::Or(items) => {
                items.iter_mut().for_each(|item| self.annotate(item));
            }
            Expr::Not(inner) => self.annotate(inner),
            Expr::Field(test) => self.annotate_field(test),
            Expr::Exists { .. } | Expr::Keywords(_) => {}
        }
    }

    fn annotate_field(&mut self, test: &mut FieldTest) {
        let scope = Some(test.field);
        let mut literals = Vec::with_capacity(test.matchers.len());
        for matcher in &mut test.matchers {
            let ids = match matcher {
                // A set's needles each get their id; the set as a whole needs any of them.
                ValueMatcher::Text(TextPattern::Set(set)) => {
                    let per_needle: Vec<Option<u32>> = set
                        .literals()
                        .map(|needle| usable(Some(needle)).map(|l| self.id((scope, l))))
                        .collect();
                    let all = per_needle.iter().copied().collect::<Option<Vec<u32>>>();
                    set.set_literals(per_needle);
                    all.unwrap_or_default()
                }
                _ => matcher_literals(matcher)
                    .map(|set| set.into_iter().map(|l| self.id((scope, l))).collect())
                    .unwrap_or_default(),
            };
            literals.push(ids);
        }
        test.literals = literals;
    }

    /// Adds the literals of a table built for one rule (whose scopes are that rule's own
    /// field ids, `field_ids` mapping them to the engine's); returns each local literal's id
    /// here. Rules compile on all cores, each with its own table; this merge is the only
    /// step taken one rule at a time.
    pub(crate) fn merge(&mut self, local: LiteralTable, field_ids: &[u32]) -> Vec<u32> {
        local
            .literals
            .into_iter()
            .map(|(scope, literal)| {
                let scope = scope.map(|field| field_ids[field as usize]);
                self.id((scope, literal))
            })
            .collect()
    }

    fn id(&mut self, literal: (Scope, String)) -> u32 {
        match self.ids.entry(literal) {
            Entry::Occupied(known) => *known.get(),
            Entry::Vacant(new) => {
                let id = self.literals.len() as u32;
                self.literals.push(new.key().clone());
                new.insert(id);
                id
            }
        }
    }

    /// The fields whose literals are among `ids` (keyword literals have none).
    pub(crate) fn fields_of(&self, ids: &[u32]) -> FieldSet {
        let mut fields = FieldSet::default();
        for &id in ids {
            if let Some((Some(field), _)) = self.literals.get(id as usize) {
                fields.insert(*field);
            }
        }
        fields
    }

    /// The scanner of the keyword literals among `ids`, for one candidate list (see
    /// [`KeywordScanner`]); `None` when there is none.
    pub(crate) fn keyword_scanner(&self, ids: &[u32]) -> Option<KeywordScanner> {
        let mut keywords: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| self.literals[id as usize].0.is_none())
            .collect();
        keywords.sort_unstable();
        keywords.dedup();
        if keywords.is_empty() {
            return None;
        }
        let patterns: Vec<&str> = keywords
            .iter()
            .map(|&id| self.literals[id as usize].1.as_str())
            .collect();
        Some(KeywordScanner(ScopeScanner::new(
            ANYWHERE, &patterns, keywords,
        )))
    }

    /// The field scanners: one per field that rules test for literals, its automaton built
    /// when an event first has the field (keyword literals get theirs per candidate list,
    /// from [`LiteralTable::keyword_scanner`]). `names` are the interner's field names.
    pub(crate) fn build(self, names: &[Box<str>]) -> Prefilter {
        let mut scopes: HashMap<u32, (Vec<&str>, Vec<u32>)> = HashMap::new();
        for (id, (scope, literal)) in self.literals.iter().enumerate() {
            let Some(scope) = scope else { continue };
            let (patterns, ids) = scopes.entry(*scope).or_default();
            patterns.push(literal);
            ids.push(id as u32);
        }
        let mut prefilter = Prefilter {
            literal_count: self.literals.len(),
            ..Prefilter::default()
        };
        for (scope, (patterns, ids)) in scopes {
            let name = names.get(scope as usize).cloned().unwrap_or_default();
            prefilter.paths.insert(&name);
            let scanner = ScopeScanner::new(scope, &patterns, ids);
            prefilter.by_field.insert(name, scanner);
        }
        prefilter
    }
}

/// The keyword literals the rules of one candidate list need, searched in every value of
/// an event only when one of those rules is met: a handful of keyword rules on a channel
/// must not make every event of every channel search every value for the keywords of all
/// products.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct KeywordScanner(ScopeScanner);

impl KeywordScanner {
    /// Marks every keyword literal that occurs in any value of the event, searching its
    /// values joined by [`join_values`] into `joined`: one search of a few hundred bytes
    /// instead of one per value (a Windows event has about 25 short ones).
    pub(crate) fn scan(&self, joined: &[u8], found: &mut Found<'_>) {
        self.0.scan_lowered(joined, found);
    }
}

/// Ends each value in the text [`join_values`] makes. No literal holds it ([`usable`]
/// refuses those that do), so none is found across two values.
const VALUE_END: u8 = 0;

/// Writes the text of every value of `event` (numbers in decimal, `null` left out), ASCII
/// letters lowercased and each followed by [`VALUE_END`], into `out` (cleared first): what
/// the keyword scanners search.
pub(crate) fn join_values(event: &dyn Fields, out: &mut Vec<u8>) {
    out.clear();
    event.visit_all(&mut |value| {
        with_text(value, |text| {
            extend_lowercase(text.as_bytes(), out);
            out.push(VALUE_END);
            false
        });
        ControlFlow::Continue(())
    })
}

/// The field of a keyword scanner, whose literals may be in any value.
const ANYWHERE: u32 = u32::MAX;

/// The automaton of one scope's literals.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ScopeScanner {
    /// The field whose values it searches (its id in the engine's interner), or
    /// [`ANYWHERE`].
    field: u32,
    /// The patterns (lowercase), from which the automaton is built on first use.
    patterns: Vec<Box<str>>,
    /// The automaton, built on first use (they cannot be stored in the compiled-rule cache,
    /// and most fields of a large rule set are never met by a given collection). `None` if
    /// it cannot be built: its literals then count as present in every value searched.
    #[serde(skip)]
    automaton: OnceLock<Option<ScopeAutomaton>>,
    /// For a scope of more than [`SMALL_SCOPE`] and at most [`LARGE_SCOPE`] literals, the
    /// DFA it gets once it has searched [`DFA_AFTER`] bytes (see [`SMALL_SCOPE`]).
    #[serde(skip)]
    busy_dfa: OnceLock<Option<Box<dfa::DFA>>>,
    /// How many bytes it has searched, counted until it gets its DFA. Threads add to it
    /// without synchronising: a count lost now and then only delays the DFA.
    #[serde(skip)]
    scanned: AtomicUsize,
    /// The literal id of each pattern of the automaton.
    ids: Vec<u32>,
    /// Some literal could occur in an integer's decimal text (it is all digits and minus
    /// signs); otherwise a field's integer values, a third of a Windows event's, are not
    /// searched (the keyword scans, which search the event's values joined, read them all).
    in_integers: bool,
}

/// The two searchers a scope may get (see [`SMALL_SCOPE`]). The DFA is walked byte by byte
/// here rather than through the crate's overlapping iterator: a command line can hold
/// hundreds of literal occurrences, and the iterator pays a call and a state save for each.
#[derive(Debug)]
enum ScopeAutomaton {
    /// A DFA, and the packed searcher that finds the same literals faster in long values
    /// (where the processor has one, see [`PackedLiterals`]).
    Dfa(Box<dfa::DFA>, Option<PackedLiterals>),
    Windows(Box<WindowSet>),
}

impl ScopeScanner {
    /// The scanner of `patterns` (lowercase, see [`usable`]; the scan lowercases the text
    /// byte by byte, which gives ASCII case folding with half the transitions the
    /// automaton's own folding adds, and builds in half the time), whose literal ids are
    /// `ids`. Its automaton is built on first use: the SigmaHQ rules name hundreds of fields,
    /// building them all cost a fifth of compiling the rules, and a collection of logs has
    /// few of them.
    fn new(field: u32, patterns: &[&str], ids: Vec<u32>) -> ScopeScanner {
        let in_integers = patterns
            .iter()
            .any(|p| p.bytes().all(|b| b.is_ascii_digit() || b == b'-'));
        ScopeScanner {
            field,
            patterns: patterns.iter().map(|&p| p.into()).collect(),
            automaton: OnceLock::new(),
            busy_dfa: OnceLock::new(),
            scanned: AtomicUsize::new(0),
            ids,
            in_integers,
        }
    }

    /// The automaton, built now if this is its first use.
    fn automaton(&self) -> Option<&ScopeAutomaton> {
        self.automaton
            .get_or_init(|| {
                let patterns: Vec<&str> = self.patterns.iter().map(|p| &**p).collect();
                ScopeAutomaton::build(&patterns)
            })
            .as_ref()
    }

    /// The DFA of a scope busy enough to have earned one, built now if it just has.
    fn busy_dfa(&self, text_len: usize) -> Option<&dfa::DFA> {
        if !(SMALL_SCOPE + 1..=LARGE_SCOPE).contains(&self.patterns.len()) {
            return None;
        }
        if let Some(built) = self.busy_dfa.get() {
            return built.as_deref();
        }
        let scanned = self.scanned.load(Ordering::Relaxed) + text_len;
        self.scanned.store(scanned, Ordering::Relaxed);
        if scanned < DFA_AFTER {
            return None;
        }
        self.busy_dfa
            .get_or_init(|| {
                let patterns: Vec<&str> = self.patterns.iter().map(|p| &**p).collect();
                build_dfa(&patterns).map(Box::new)
            })
            .as_deref()
    }

    /// Marks the literals found in `lowered`, text whose ASCII letters are lowercase.
    fn scan_lowered(&self, lowered: &[u8], found: &mut Found<'_>) {
        match self.packed(lowered.len(), 0) {
            Some((automaton, packed)) => mark_lowered(automaton, packed, &self.ids, lowered, found),
            None => self.walk(lowered, found),
        }
    }

    /// Marks the literals found in `text`.
    fn scan(&self, text: &str, found: &mut Found<'_>) {
        match self.packed(text.len(), PACKED_FROM) {
            Some((automaton, packed)) => mark_packed(automaton, packed, &self.ids, text, found),
            None => self.walk(text.as_bytes(), found),
        }
    }

    /// The packed searcher (and the DFA that takes over from it), when the scope has one and
    /// a text of `len` bytes is long enough for it: at least `from` bytes and the searcher's
    /// own minimum.
    fn packed(&self, len: usize, from: usize) -> Option<(&dfa::DFA, &PackedLiterals)> {
        match self.automaton() {
            Some(ScopeAutomaton::Dfa(automaton, Some(packed)))
                if len >= packed.minimum_len().max(from) =>
            {
                Some((automaton, packed))
            }
            _ => None,
        }
    }

    /// Marks the literals found in `bytes` with the automaton that folds ASCII case as it
    /// goes: the busy scope's DFA, the small scope's DFA or the window set.
    #[inline]
    fn walk(&self, bytes: &[u8], found: &mut Found<'_>) {
        if let Some(automaton) = self.busy_dfa(bytes.len()) {
            return mark_all(automaton, &self.ids, bytes, found);
        }
        match self.automaton() {
            Some(ScopeAutomaton::Dfa(automaton, _)) => mark_all(automaton, &self.ids, bytes, found),
            Some(ScopeAutomaton::Windows(set)) => set.for_each_match(bytes, |pattern| {
                if let Some(&id) = self.ids.get(pattern as usize) {
                    found.mark(id);
                }
            }),
            // Past the automaton's size limits (far above any rule set's literals): every
            // literal counts as present.
            None => self.ids.iter().for_each(|&id| found.mark(id)),
        }
    }
}

impl ScopeAutomaton {
    /// The automaton of `patterns`, `None` past its size limits.
    fn build(patterns: &[&str]) -> Option<ScopeAutomaton> {
        // Small sets get a DFA (quickest to search while it stays in the cache); large ones
        // a window set, whose cost does not grow with the number of literals.
        if patterns.len() <= SMALL_SCOPE {
            let dfa = build_dfa(patterns)?;
            Some(ScopeAutomaton::Dfa(
                Box::new(dfa),
                PackedLiterals::build(patterns),
            ))
        } else {
            WindowSet::build(patterns)
                .ok()
                .map(|set| ScopeAutomaton::Windows(Box::new(set)))
        }
    }
}

/// The DFA of `patterns` (lowercase), `None` past its size limits.
fn build_dfa(patterns: &[&str]) -> Option<dfa::DFA> {
    dfa::Builder::new()
        .match_kind(MatchKind::Standard)
        // The scan does not use the automaton's prefilter, and with one the start state is
        // special: the walk would branch out of its loop on every return to it.
        .prefilter(false)
        .build(patterns)
        .ok()
}

/// Values of at least this many bytes are searched with a small scope's packed searcher
/// (when it has one) rather than walked through its DFA: below it, lowercasing the value
/// and the searcher's setup cost more than the walk.
const PACKED_FROM: usize = 48;

/// [`mark_all`] through the packed searcher of the same patterns: `text` is lowercased into
/// the scan's buffer and searched, and the DFA walks the rest if matches come too densely.
fn mark_packed(
    automaton: &dfa::DFA,
    packed: &PackedLiterals,
    ids: &[u32],
    text: &str,
    found: &mut Found<'_>,
) {
    let mut lowered = std::mem::take(found.lowered);
    lowercase_into(text.as_bytes(), &mut lowered);
    mark_lowered(automaton, packed, ids, &lowered, found);
    *found.lowered = lowered;
}

/// [`mark_all`] through the packed searcher of the same patterns, over text whose ASCII
/// letters are already lowercase; the DFA walks the rest if matches come too densely.
fn mark_lowered(
    automaton: &dfa::DFA,
    packed: &PackedLiterals,
    ids: &[u32],
    lowered: &[u8],
    found: &mut Found<'_>,
) {
    let rest = packed.for_each_match(lowered, |pattern| {
        if let Some(&id) = ids.get(pattern as usize) {
            found.mark(id);
        }
    });
    if let Some(rest) = rest.and_then(|from| lowered.get(from..)) {
        mark_all(automaton, ids, rest, found);
    }
}

/// Marks every pattern of `automaton` (lowercase) that occurs in `bytes`, overlapping ones
/// included and ASCII case ignored, through `ids` (pattern to literal id).
fn mark_all(automaton: &dfa::DFA, ids: &[u32], bytes: &[u8], found: &mut Found<'_>) {
    let Ok(start) = automaton.start_state(Anchored::No) else {
        return;
    };
    if bytes.len() >= SPLIT_FROM {
        return mark_in_pieces::<SPLIT_PIECES>(automaton, start, ids, bytes, found);
    }
    if bytes.len() >= SPLIT_FROM / 2 {
        return mark_in_pieces::<2>(automaton, start, ids, bytes, found);
    }
    let mut state = start;
    for &byte in bytes {
        state = automaton.next_state(Anchored::No, state, byte.to_ascii_lowercase());
        if automaton.is_special(state) {
            mark_matches(automaton, state, ids, found);
        }
    }
}

/// Texts of at least this many bytes are walked in [`SPLIT_PIECES`] pieces side by side,
/// and texts of at least half as many in two. Each piece is then at least
/// `MAX_LITERAL_LEN - 1` bytes long, as [`mark_in_pieces`] requires.
const SPLIT_FROM: usize = 32;

/// How many pieces a long text is walked in: a DFA walk waits on each transition's load,
/// and four independent walks keep the processor busy in the meantime (script blocks scan
/// 1.6 times faster than in one walk).
const SPLIT_PIECES: usize = 4;

/// [`mark_all`] over `N` pieces of `bytes` walked side by side. Each piece but the last runs
/// `MAX_LITERAL_LEN - 1` bytes into the next, so that every literal occurrence (at most
/// [`MAX_LITERAL_LEN`] bytes) lies whole in the piece where it starts; a literal seen twice
/// is marked once. `bytes` must be at least `N * (MAX_LITERAL_LEN - 1)` bytes long.
#[inline(always)]
fn mark_in_pieces<const N: usize>(
    automaton: &dfa::DFA,
    start: StateID,
    ids: &[u32],
    bytes: &[u8],
    found: &mut Found<'_>,
) {
    let overlap = MAX_LITERAL_LEN - 1;
    let piece = bytes.len() / N;
    debug_assert!(piece >= overlap);
    let mut states = [start; N];
    // The first `N - 1` pieces, and as much of the last, side by side.
    for i in 0..piece + overlap {
        for (k, state) in states.iter_mut().enumerate() {
            let Some(&byte) = bytes.get(k * piece + i) else {
                continue;
            };
            *state = automaton.next_state(Anchored::No, *state, byte.to_ascii_lowercase());
            if automaton.is_special(*state) {
                mark_matches(automaton, *state, ids, found);
            }
        }
    }
    // The rest of the last piece.
    let mut state = states[N - 1];
    for &byte in bytes
        .get((N - 1) * piece + piece + overlap..)
        .unwrap_or_default()
    {
        state = automaton.next_state(Anchored::No, state, byte.to_ascii_lowercase());
        if automaton.is_special(state) {
            mark_matches(automaton, state, ids, found);
        }
    }
}

/// Marks the patterns that `state`, a special state, matches.
#[inline(always)]
fn mark_matches(automaton: &dfa::DFA, state: StateID, ids: &[u32], found: &mut Found<'_>) {
    if !automaton.is_match(state) {
        return;
    }
    for index in 0..automaton.match_len(state) {
        let pattern = automaton.match_pattern(state, index);
        if let Some(&id) = ids.get(pattern.as_usize()) {
            found.mark(id);
        }
    }
}

/// Scopes with at most this many literals get a DFA when first used, the others a
/// [`WindowSet`]. A DFA of a few hundred literals searches faster than the window set, but
/// takes 2 to 6 ms to build against a few microseconds, and holds megabytes: over the EVTX
/// corpus hunted once, the DFAs of the scopes of 65 to 1,024 literals cost 37 ms of CPU and
/// 10 to 20 MiB of peak memory, more than they saved. So a scope of up to [`LARGE_SCOPE`]
/// literals starts with a window set and gets its DFA once it has searched [`DFA_AFTER`]
/// bytes, when building it costs a few percent of the time spent searching it.
const SMALL_SCOPE: usize = 64;

/// Scopes with more literals keep their window set: command lines and hashes with thousands
/// of literals would get DFAs too large to stay in the cache, and an Aho-Corasick NFA
/// searched them 3 to 5 times slower than the window set does.
const LARGE_SCOPE: usize = 1024;

/// How many bytes a scope of more than [`SMALL_SCOPE`] and at most [`LARGE_SCOPE`] literals
/// searches with its window set before it gets a DFA.
const DFA_AFTER: usize = 16 << 20;

/// The literals of which at least one occurs in every event the expression matches, or
/// `None` when no such set is known.
fn literals_of(expr: &Expr) -> Option<Literals> {
    match expr {
        Expr::And(items) => items.iter().filter_map(literals_of).max_by_key(selectivity),
        Expr::Or(items) => union(items.iter().map(literals_of)),
        Expr::Not(_) | Expr::Exists { .. } => None,
        Expr::Field(test) => field_literals(test),
        Expr::Keywords(test) => keyword_literals(test),
    }
}

fn field_literals(test: &FieldTest) -> Option<Literals> {
    if test.negate {
        return None;
    }
    let each = test
        .matchers
        .iter()
        .map(|m| scoped(Some(test.field), matcher_literals(m)?));
    if test.all {
        each.flatten().max_by_key(selectivity)
    } else {
        union(each)
    }
}

fn keyword_literals(test: &KeywordTest) -> Option<Literals> {
    let each = test
        .patterns
        .iter()
        .map(|p| scoped(None, pattern_literals(p)?));
    if test.all {
        each.flatten().max_by_key(selectivity)
    } else {
        union(each)
    }
}

fn scoped(scope: Scope, literals: Vec<String>) -> Option<Literals> {
    Some(literals.into_iter().map(|l| (scope, l)).collect())
}

fn matcher_literals(matcher: &ValueMatcher) -> Option<Vec<String>> {
    match matcher {
        ValueMatcher::Text(pattern) => pattern_literals(pattern),
        _ => None,
    }
}

/// The usable literals of which every text the pattern matches contains one.
fn pattern_literals(pattern: &TextPattern) -> Option<Vec<String>> {
    pattern
        .required_literals()?
        .into_iter()
        .map(|l| usable(Some(l)))
        .collect()
}

/// A literal long enough to be worth searching, lowercased for the case-folding scan, and
/// cut to its last [`MAX_LITERAL_LEN`] bytes: any piece of a required literal is required
/// too, and short pieces keep the automaton small and quick to build (the ends of paths and
/// command lines, `\whoami.exe`, are the distinctive part). A piece holding [`VALUE_END`]
/// is refused (it would never be found in joined values): its test is then unconstrained.
fn usable(literal: Option<&str>) -> Option<String> {
    let literal = literal.filter(|l| l.len() >= MIN_LITERAL_LEN)?;
    let mut start = literal.len().saturating_sub(MAX_LITERAL_LEN);
    while !literal.is_char_boundary(start) {
        start += 1;
    }
    let piece = &literal[start..];
    // One holding the end of a value would never be found in joined values.
    (!piece.as_bytes().contains(&VALUE_END)).then(|| piece.to_ascii_lowercase())
}

/// The union of several needs; unknown if any of them is unknown.
fn union(sets: impl Iterator<Item = Option<Literals>>) -> Option<Literals> {
    let mut all = Vec::new();
    for set in sets {
        all.extend(set?);
    }
    (!all.is_empty()).then_some(all)
}

/// How rare a set of literals is likely to be: longer shortest literal first, then fewer.
fn selectivity(set: &Literals) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = set.iter().map(|(_, l)| l.len()).min().unwrap_or(0);
    (shortest, std::cmp::Reverse(set.len()))
}

/// A quick, inexact set of names: `false` from [`NameFilter::may_hold`] means the name is
/// not in the set.
#[derive(Debug, Clone)]
struct NameFilter([u64; 64]);

impl Default for NameFilter {
    fn default() -> Self {
        NameFilter([0; 64])
    }
}

impl NameFilter {
    fn insert(&mut self, name: &str) {
        let (word, bit) = Self::slot(name);
        self.0[word] |= 1 << bit;
    }

    fn may_hold(&self, name: &str) -> bool {
        let (word, bit) = Self::slot(name);
        self.0[word] & (1 << bit) != 0
    }

    /// The bit of a name: its length and its last byte, both modulo 64.
    fn slot(name: &str) -> (usize, u32) {
        let last = name.as_bytes().last().copied().unwrap_or(0);
        (name.len() % 64, u32::from(last % 64))
    }
}

/// A set of field ids (the engine interner's), as a bit set.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FieldSet(Vec<u64>);

impl FieldSet {
    /// Adds `field`.
    pub(crate) fn insert(&mut self, field: u32) {
        let word = field as usize / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (field % 64);
    }

    /// Whether `field` is in the set.
    pub(crate) fn contains(&self, field: u32) -> bool {
        self.0
            .get(field as usize / 64)
            .is_some_and(|word| word & (1 << (field % 64)) != 0)
    }
}

/// The buffers of the literal scans, kept by a thread between events.
#[derive(Debug, Default)]
pub(crate) struct TextBuffers {
    /// A long value, lowercased for the packed searcher.
    pub(crate) lowered: Vec<u8>,
    /// Every value of the event, lowercased and joined, for the keyword scans.
    pub(crate) joined: Vec<u8>,
}

/// Buffers that grew past this many bytes (an event with a huge value) are freed after
/// the event rather than kept by the thread.
const KEPT_BUFFER: usize = 1 << 20;

impl TextBuffers {
    /// The buffers, without those a huge value made large.
    pub(crate) fn shrunk(mut self) -> TextBuffers {
        for buffer in [&mut self.lowered, &mut self.joined] {
            if buffer.capacity() > KEPT_BUFFER {
                *buffer = Vec::new();
            }
        }
        self
    }
}

/// What the literal scans of one event found: each literal's stamp in `seen` (equal to
/// `generation` when found), and the literals found, each once, so that the candidate
/// lists can look up who needs them instead of checking every need.
pub(crate) struct Found<'a> {
    pub(crate) seen: &'a mut Vec<u32>,
    pub(crate) generation: u32,
    pub(crate) ids: &'a mut Vec<u32>,
    /// A buffer the scans lowercase long values into (see [`PackedLiterals`]).
    pub(crate) lowered: &'a mut Vec<u8>,
}

impl Found<'_> {
    /// Records that literal `id` occurs in the event.
    #[inline]
    pub(crate) fn mark(&mut self, id: u32) {
        if let Some(slot) = self.seen.get_mut(id as usize) {
            if *slot != self.generation {
                *slot = self.generation;
                self.ids.push(id);
            }
        }
    }
}

/// The compiled scanners over all rule literals.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(from = "StoredPrefilter")]
pub(crate) struct Prefilter {
    /// Per field name, the automaton of the literals rules require in that field.
    by_field: foldhash::HashMap<Box<str>, ScopeScanner>,
    /// The names of `by_field`: a quick no before hashing an event's full paths
    /// (`Event.EventData.Image`), most of which no rule names. Undotted names are held too:
    /// a decoder may give a short path an alias of its own.
    #[serde(skip)]
    paths: NameFilter,
    literal_count: usize,
}

/// A [`Prefilter`] as the compiled-rule cache stores it: without its name filter, which is
/// rebuilt from the field names.
#[derive(Deserialize)]
struct StoredPrefilter {
    by_field: foldhash::HashMap<Box<str>, ScopeScanner>,
    literal_count: usize,
}

impl From<StoredPrefilter> for Prefilter {
    fn from(stored: StoredPrefilter) -> Self {
        let mut paths = NameFilter::default();
        for name in stored.by_field.keys() {
            paths.insert(name);
        }
        Prefilter {
            by_field: stored.by_field,
            paths,
            literal_count: stored.literal_count,
        }
    }
}

impl Prefilter {
    /// How many literals the rules need (literal ids are below it).
    pub(crate) fn literal_count(&self) -> usize {
        self.literal_count
    }

    /// Marks every field literal that occurs in a value of its field, searching only the
    /// fields some set of `wanted` holds: the others' literals serve no candidate of the
    /// event.
    pub(crate) fn scan_fields(
        &self,
        event: &dyn Fields,
        found: &mut Found<'_>,
        wanted: &[Option<&FieldSet>],
    ) {
        if found.seen.len() < self.literal_count {
            found.seen.resize(self.literal_count, 0);
        }
        if self.by_field.is_empty() {
            return;
        }
        event.visit_all_named(&mut |names, value| {
            let by_name = self.by_field.get(names.name);
            let by_path = names
                .path
                .filter(|path| self.paths.may_hold(path))
                .and_then(|path| self.by_field.get(path));
            for scanner in [by_name, by_path].into_iter().flatten() {
                if wanted
                    .iter()
                    .flatten()
                    .any(|set| set.contains(scanner.field))
                {
                    scan_value(scanner, value, found);
                }
            }
            ControlFlow::Continue(())
        });
    }
}

fn scan_value(scanner: &ScopeScanner, value: FieldValue<'_>, found: &mut Found<'_>) {
    if matches!(value, FieldValue::Int(_)) && !scanner.in_integers {
        return;
    }
    with_text(value, |text| {
        scanner.scan(text, found);
        false
    });
}

impl Need {
    /// Replaces every literal id `i` by `ids[i]` (see [`LiteralTable::merge`]).
    pub(crate) fn renumber_literals(&mut self, ids: &[u32]) {
        if let Need::AnyOf { ids: mine, .. } = self {
            for id in mine.iter_mut() {
                *id = ids[*id as usize];
            }
            mine.sort_unstable();
            mine.dedup();
        }
    }
}

#[cfg(test)]
impl Need {
    /// Whether the event whose literals are stamped in `seen` meets this need (the engine
    /// reads needs through its candidate lists instead).
    pub(crate) fn met(&self, seen: &[u32], generation: u32) -> bool {
        match self {
            Need::Nothing => true,
            Need::AnyOf { ids, .. } => ids.iter().any(|&id| seen[id as usize] == generation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{Part, TextPattern};

    fn text(lit: &str, star_before: bool, star_after: bool) -> ValueMatcher {
        let mut parts = Vec::new();
        if star_before {
            parts.push(Part::Star);
        }
        parts.push(Part::Lit(lit.to_string()));
        if star_after {
            parts.push(Part::Star);
        }
        ValueMatcher::Text(TextPattern::compile(&parts, false))
    }

    fn field(matchers: Vec<ValueMatcher>) -> Expr {
        Expr::Field(Box::new(FieldTest {
            field: 0,
            matchers,
            all: false,
            negate: false,
            literals: Vec::new(),
        }))
    }

    #[test]
    fn or_of_values_needs_any_of_them() {
        let e = field(vec![
            text("\\cmd.exe", true, false),
            text("powershell", true, true),
        ]);
        assert_eq!(
            literals_of(&e),
            // `powershell` is cut to its last MAX_LITERAL_LEN bytes.
            Some(vec![
                (Some(0), "\\cmd.exe".to_string()),
                (Some(0), "wershell".to_string())
            ])
        );
    }

    #[test]
    fn and_picks_the_most_selective_operand() {
        let e = Expr::And(vec![
            field(vec![text("abc", true, true), text("de", true, true)]),
            field(vec![text("mimikatz", true, true)]),
        ]);
        assert_eq!(
            literals_of(&e),
            Some(vec![(Some(0), "mimikatz".to_string())])
        );
    }

    #[test]
    fn short_literals_regexes_and_negations_constrain_nothing() {
        assert_eq!(literals_of(&field(vec![text("-e", true, true)])), None);
        let re = ValueMatcher::Text(TextPattern::regex("[a-c]+", false, false, false).expect("re"));
        assert_eq!(
            literals_of(&field(vec![text("abcd", true, true), re])),
            None
        );
        let not = Expr::Not(Box::new(field(vec![text("abcd", true, true)])));
        assert_eq!(literals_of(&not), None);
        let or = Expr::Or(vec![field(vec![text("abcd", true, true)]), not]);
        assert_eq!(literals_of(&or), None);
    }

    #[test]
    fn scan_folds_ascii_case_and_finds_nested_literals() {
        let mut table = LiteralTable::default();
        let need_cmd = table.need(&field(vec![text("cmd.exe", true, false)]));
        let need_md = table.need(&field(vec![text("md.ex", true, true)]));
        let need_other = table.need(&field(vec![text("rundll32", true, true)]));
        let image = table.fields_of(&[0]);
        let prefilter = table.build(&["Image".into()]);
        let mut event = tocsin_event::Event::default();
        event.push(
            "Image",
            "",
            tocsin_event::Value::from("C:\\Windows\\CMD.EXE"),
        );
        let (seen, ids) = scan_once(&prefilter, &event, &image, 7);
        assert_eq!(ids.len(), 2, "each literal found is listed once: {ids:?}");
        assert!(need_cmd.met(&seen, 7));
        assert!(need_md.met(&seen, 7));
        assert!(!need_other.met(&seen, 7));
        assert!(!need_cmd.met(&seen, 8), "an older stamp does not count");
    }

    /// The stamps and the list of literals found by one scan of `event`'s `wanted` fields.
    fn scan_once(
        prefilter: &Prefilter,
        event: &tocsin_event::Event,
        wanted: &FieldSet,
        generation: u32,
    ) -> (Vec<u32>, Vec<u32>) {
        let mut seen = Vec::new();
        let mut ids = Vec::new();
        prefilter.scan_fields(
            event,
            &mut found(&mut seen, generation, &mut ids, &mut Vec::new()),
            &[Some(wanted)],
        );
        (seen, ids)
    }

    fn found<'a>(
        seen: &'a mut Vec<u32>,
        generation: u32,
        ids: &'a mut Vec<u32>,
        lowered: &'a mut Vec<u8>,
    ) -> Found<'a> {
        Found {
            seen,
            generation,
            ids,
            lowered,
        }
    }

    #[test]
    fn a_rule_naming_the_full_path_finds_the_value_by_its_path() {
        let mut table = LiteralTable::default();
        let need = table.need(&field_on(0, "mimikatz"));
        let wanted = table.fields_of(ids_of(&need));
        let prefilter = table.build(&["Event.EventData.Image".into()]);
        let mut event = tocsin_event::Event::default();
        event.push(
            "Event.EventData.Image",
            "Image",
            tocsin_event::Value::from("C:\\x\\mimikatz.exe"),
        );
        let (seen, _) = scan_once(&prefilter, &event, &wanted, 1);
        assert!(need.met(&seen, 1));
    }

    #[test]
    fn the_name_filter_never_says_no_to_a_name_it_holds() {
        let mut filter = NameFilter::default();
        let names = ["Event.EventData.Image", "a.b", "userIdentity.arn"];
        names.iter().for_each(|n| filter.insert(n));
        assert!(names.iter().all(|n| filter.may_hold(n)));
        assert!(!filter.may_hold("Event.EventData.CommandLine"));
    }

    fn ids_of(need: &Need) -> &[u32] {
        match need {
            Need::AnyOf { ids, .. } => ids,
            Need::Nothing => &[],
        }
    }

    fn field_on(field_id: u32, lit: &str) -> Expr {
        Expr::Field(Box::new(FieldTest {
            field: field_id,
            matchers: vec![text(lit, true, true)],
            all: false,
            negate: false,
            literals: Vec::new(),
        }))
    }

    #[test]
    fn a_field_literal_counts_only_in_its_field_and_a_keyword_anywhere() {
        let mut table = LiteralTable::default();
        let in_image = table.need(&field_on(0, "mimikatz"));
        let in_parent = table.need(&field_on(1, "mimikatz"));
        let keyword = table.need(&Expr::Keywords(Box::new(KeywordTest {
            patterns: vec![TextPattern::compile(
                &[Part::Star, Part::Lit("mimikatz".into()), Part::Star],
                false,
            )],
            all: false,
        })));
        assert!(matches!(keyword, Need::AnyOf { anywhere: true, .. }));
        assert!(matches!(
            in_image,
            Need::AnyOf {
                anywhere: false,
                ..
            }
        ));
        let Need::AnyOf { ids, .. } = &keyword else {
            panic!("a keyword need");
        };
        let keywords = table.keyword_scanner(ids).expect("a keyword literal");
        assert!(table.keyword_scanner(&[0]).is_none(), "a field literal");
        let image = table.fields_of(ids_of(&in_image));
        let parent = table.fields_of(ids_of(&in_parent));
        assert!(image.contains(0) && !image.contains(1));
        assert_eq!(table.fields_of(ids_of(&keyword)), FieldSet::default());
        let prefilter = table.build(&["Image".into(), "ParentImage".into()]);
        let mut event = tocsin_event::Event::default();
        // Found by its full path as well as by its short name.
        event.push(
            "Event.EventData.ParentImage",
            "ParentImage",
            tocsin_event::Value::from("C:\\x\\Mimikatz.exe"),
        );
        event.push("Other", "", tocsin_event::Value::from("unrelated"));
        let mut seen = Vec::new();
        let mut ids = Vec::new();
        prefilter.scan_fields(
            &event,
            &mut found(&mut seen, 1, &mut ids, &mut Vec::new()),
            &[Some(&image), None],
        );
        assert!(ids.is_empty(), "ParentImage is not wanted: {ids:?}");
        prefilter.scan_fields(
            &event,
            &mut found(&mut seen, 1, &mut ids, &mut Vec::new()),
            &[Some(&image), Some(&parent)],
        );
        assert!(!in_image.met(&seen, 1), "the literal is in another field");
        assert!(in_parent.met(&seen, 1));
        assert!(
            !keyword.met(&seen, 1),
            "keywords need the search of every value"
        );
        let mut joined = Vec::new();
        join_values(&event, &mut joined);
        keywords.scan(&joined, &mut found(&mut seen, 1, &mut ids, &mut Vec::new()));
        assert!(keyword.met(&seen, 1));
        assert_eq!(ids.len(), 2, "the field literal, then the keyword: {ids:?}");
    }

    #[test]
    fn keywords_are_found_in_any_value_but_never_across_two() {
        let mut table = LiteralTable::default();
        let need = table.need(&Expr::Keywords(Box::new(KeywordTest {
            patterns: vec![TextPattern::compile(
                &[Part::Star, Part::Lit("abcdef".into()), Part::Star],
                false,
            )],
            all: false,
        })));
        let keywords = table
            .keyword_scanner(ids_of(&need))
            .expect("a keyword literal");
        let literals = table.literals.len();
        let met = |values: &[&str]| {
            let mut event = tocsin_event::Event::default();
            for (i, value) in values.iter().enumerate() {
                event.push(&format!("F{i}"), "", tocsin_event::Value::from(*value));
            }
            let mut joined = Vec::new();
            join_values(&event, &mut joined);
            let (mut seen, mut ids) = (vec![0; literals], Vec::new());
            keywords.scan(&joined, &mut found(&mut seen, 1, &mut ids, &mut Vec::new()));
            need.met(&seen, 1)
        };
        let long = "x".repeat(100);
        assert!(!met(&["abc", "def"]), "split over two short values");
        assert!(!met(&[&format!("{long}abc"), &format!("def{long}")]));
        assert!(met(&["one", "--ABCDEF--", "three"]));
        assert!(met(&[&long, &format!("{long}abcDEF{long}")]));
    }

    #[test]
    fn a_literal_holding_the_end_of_a_value_constrains_nothing() {
        assert_eq!(usable(Some("ab\0cd")), None);
        assert_eq!(
            usable(Some("x\0abcdefgh")),
            Some("abcdefgh".into()),
            "cut off"
        );
        assert_eq!(usable(Some("ABCdef")), Some("abcdef".into()));
    }

    /// The literal ids a scope scanner of `patterns` finds in `text`, sorted.
    fn scanned(scanner: &ScopeScanner, text: &str) -> Vec<u32> {
        let (mut seen, mut ids) = (vec![0; scanner.ids.len()], Vec::new());
        scanner.scan(text, &mut found(&mut seen, 1, &mut ids, &mut Vec::new()));
        ids.sort_unstable();
        ids
    }

    #[test]
    fn every_searcher_finds_literals_across_the_pieces_of_long_texts() {
        let small: Vec<String> = ["\\cmd.exe", "-enc", "whoami", "iex(", "ershell"]
            .iter()
            .map(|l| l.to_string())
            .collect();
        // Past SMALL_SCOPE, the window set: numbered literals of every length.
        let large: Vec<String> = (0..SMALL_SCOPE + 10)
            .map(|i| format!("{i:0width$x}", width = 3 + i % 6))
            .chain(small.iter().cloned())
            .collect();
        for literals in [&small, &large] {
            let patterns: Vec<&str> = literals.iter().map(String::as_str).collect();
            let ids: Vec<u32> = (0..patterns.len() as u32).collect();
            let scanner = ScopeScanner::new(0, &patterns, ids);
            assert_eq!(
                matches!(scanner.automaton(), Some(ScopeAutomaton::Dfa(..))),
                patterns.len() <= SMALL_SCOPE
            );
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("ssse3") {
                assert_eq!(
                    matches!(scanner.automaton(), Some(ScopeAutomaton::Dfa(_, Some(_)))),
                    patterns.len() <= SMALL_SCOPE,
                    "a small scope gets its packed searcher where the processor has one"
                );
            }
            // Each literal at every offset of texts long and short, so that some straddle
            // the boundaries of the pieces a long text is walked in.
            for literal in &small {
                for len in [
                    literal.len(),
                    15,
                    16,
                    17,
                    SPLIT_FROM - 1,
                    SPLIT_FROM,
                    33,
                    PACKED_FROM - 1,
                    PACKED_FROM,
                    64,
                    131,
                ] {
                    for at in 0..=len.saturating_sub(literal.len()) {
                        let mut text = vec![b'_'; len.max(literal.len())];
                        text[at..at + literal.len()]
                            .copy_from_slice(literal.to_uppercase().as_bytes());
                        let text = String::from_utf8(text).expect("ASCII");
                        let lower = text.to_ascii_lowercase();
                        let expected: Vec<u32> = (0..patterns.len() as u32)
                            .filter(|&i| lower.contains(patterns[i as usize]))
                            .collect();
                        assert_eq!(scanned(&scanner, &text), expected, "{text:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_busy_scope_gets_its_dfa_and_finds_the_same_literals() {
        let literals: Vec<String> = (0..SMALL_SCOPE + 40)
            .map(|i| format!("lit{i:04}x"))
            .chain(["\\cmd.exe", "-enc", "whoami"].map(String::from))
            .collect();
        let patterns: Vec<&str> = literals.iter().map(String::as_str).collect();
        let ids: Vec<u32> = (0..patterns.len() as u32).collect();
        let scanner = ScopeScanner::new(0, &patterns, ids);
        let texts = [
            "C:\\Windows\\CMD.EXE -Enc WHOAMI",
            "lit0001x lit0100Xlit0102x and lit9999x",
            "nothing here at all, nothing",
        ];
        let before: Vec<Vec<u32>> = texts.iter().map(|t| scanned(&scanner, t)).collect();
        assert!(matches!(
            scanner.automaton(),
            Some(ScopeAutomaton::Windows(_))
        ));
        assert!(
            scanner.busy_dfa.get().is_none(),
            "no DFA before it is earned"
        );
        assert_eq!(before[0], vec![104, 105, 106]);
        assert_eq!(before[1], vec![1, 100, 102]);
        assert!(before[2].is_empty());
        // Close to the threshold: the next text crosses it and is searched by the DFA.
        scanner.scanned.store(DFA_AFTER - 1, Ordering::Relaxed);
        let after: Vec<Vec<u32>> = texts.iter().map(|t| scanned(&scanner, t)).collect();
        assert!(
            matches!(scanner.busy_dfa.get(), Some(Some(_))),
            "the DFA is built"
        );
        assert_eq!(after, before);
        // Scopes with fewer literals have their DFA at once; with more, never.
        let small = ScopeScanner::new(0, &patterns[..SMALL_SCOPE], (0..64).collect());
        small.scanned.store(DFA_AFTER, Ordering::Relaxed);
        assert!(small.busy_dfa(1).is_none());
        assert!(matches!(small.automaton(), Some(ScopeAutomaton::Dfa(..))));
    }

    #[test]
    fn integers_are_searched_only_for_literals_an_integer_can_hold() {
        let words = ScopeScanner::new(0, &["mimikatz", "123x"], vec![0, 1]);
        let digits = ScopeScanner::new(0, &["mimikatz", "4624"], vec![0, 1]);
        assert!(!words.in_integers && digits.in_integers);
        let none: &[u32] = &[];
        for (scanner, expected) in [(&words, none), (&digits, &[1][..])] {
            let (mut seen, mut ids) = (vec![0; 2], Vec::new());
            scan_value(
                scanner,
                FieldValue::Int(14624),
                &mut found(&mut seen, 1, &mut ids, &mut Vec::new()),
            );
            assert_eq!(ids, expected);
        }
        let (mut seen, mut ids) = (vec![0; 2], Vec::new());
        scan_value(
            &words,
            FieldValue::Str("x123X"),
            &mut found(&mut seen, 1, &mut ids, &mut Vec::new()),
        );
        assert_eq!(ids, [1], "text is searched whatever it holds");
    }
}
