//! The literal prefilter: most rules are rejected without evaluating them.
//!
//! Nearly every Sigma rule can match only an event that contains one of a few literals
//! (`\whoami.exe`, `-encodedcommand`, ...). At build time each rule branch gets its
//! [`Need`]: a set of literals of which at least one must occur in some value of the event
//! for the branch to have any chance. Per event, one Aho-Corasick pass over all of the
//! event's values finds which literals occur; a branch whose need is not met is skipped.
//!
//! The need is a *necessary* condition, never a sufficient one, so skipping is always safe:
//!
//! * a field test needs the literal of each of its values (any of them, or the most
//!   selective one under `all`); a value without a literal (`re`, numbers, `cidr`, ...)
//!   makes the test unconstrained;
//! * `and` needs what its most selective constrained operand needs; `or` needs the union of
//!   its operands' needs and is unconstrained if any operand is; `not` is unconstrained;
//! * a literal is searched with ASCII case folding, which accepts a superset of what both
//!   case-sensitive and case-insensitive matching accept;
//! * literals shorter than [`MIN_LITERAL_LEN`] bytes are treated as unconstrained: they occur
//!   in nearly every event and would only slow the scan down.
//!
//! The differential test (`tests/differential.rs`) checks over the whole corpus that the
//! prefiltered, indexed evaluator finds exactly what the reference evaluator finds.

use std::collections::HashMap;
use std::ops::ControlFlow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use tocsin_event::Fields;

use crate::expr::{Expr, FieldTest, KeywordTest};
use crate::matcher::{with_text, ValueMatcher};
use crate::text::TextPattern;

/// Literals shorter than this never constrain a rule.
pub(crate) const MIN_LITERAL_LEN: usize = 3;

/// Literals are cut to at most this many bytes (see [`usable`]): 8 halves the automaton's
/// build time against 16 and filters as well on the SigmaHQ rules over the EVTX corpus.
pub(crate) const MAX_LITERAL_LEN: usize = 8;

/// What a rule branch needs from an event before it is worth evaluating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Need {
    /// Nothing known: always evaluate.
    Nothing,
    /// At least one of these literal ids must occur in the event.
    AnyOf(Vec<u32>),
}

/// Builds the literal table while rules are compiled.
#[derive(Debug, Default)]
pub(crate) struct LiteralTable {
    ids: HashMap<String, u32>,
    literals: Vec<String>,
}

/// A set of literals (lowercase), before they get ids.
type Literals = Vec<String>;

impl LiteralTable {
    /// The need of a compiled expression, registering its literals.
    pub(crate) fn need(&mut self, expr: &Expr) -> Need {
        match literals_of(expr) {
            None => Need::Nothing,
            Some(set) => {
                let mut ids: Vec<u32> = set.into_iter().map(|l| self.id(l)).collect();
                ids.sort_unstable();
                ids.dedup();
                Need::AnyOf(ids)
            }
        }
    }

    fn id(&mut self, literal: String) -> u32 {
        if let Some(&id) = self.ids.get(&literal) {
            return id;
        }
        let id = self.literals.len() as u32;
        self.literals.push(literal.clone());
        self.ids.insert(literal, id);
        id
    }

    /// The scanner for every registered literal.
    pub(crate) fn build(self) -> Prefilter {
        let automaton = (!self.literals.is_empty())
            .then(|| {
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::ContiguousNFA))
                    .build(&self.literals)
                    .ok()
            })
            .flatten();
        Prefilter {
            automaton,
            literal_count: self.literals.len(),
        }
    }
}

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
    let each = test.matchers.iter().map(matcher_literals);
    if test.all {
        each.flatten().max_by_key(selectivity)
    } else {
        union(each)
    }
}

fn keyword_literals(test: &KeywordTest) -> Option<Literals> {
    let each = test.patterns.iter().map(pattern_literals);
    if test.all {
        each.flatten().max_by_key(selectivity)
    } else {
        union(each)
    }
}

fn matcher_literals(matcher: &ValueMatcher) -> Option<Literals> {
    match matcher {
        ValueMatcher::Text(pattern) => pattern_literals(pattern),
        _ => None,
    }
}

/// The usable literals of which every text the pattern matches contains one.
fn pattern_literals(pattern: &TextPattern) -> Option<Literals> {
    pattern
        .required_literals()?
        .into_iter()
        .map(|l| usable(Some(l)))
        .collect()
}

/// A literal long enough to be worth searching, lowercased for the case-folding scan, and
/// cut to its last [`MAX_LITERAL_LEN`] bytes: any piece of a required literal is required
/// too, and short pieces keep the automaton small and quick to build (the ends of paths and
/// command lines, `\whoami.exe`, are the distinctive part).
fn usable(literal: Option<&str>) -> Option<String> {
    let literal = literal.filter(|l| l.len() >= MIN_LITERAL_LEN)?;
    let mut start = literal.len().saturating_sub(MAX_LITERAL_LEN);
    while !literal.is_char_boundary(start) {
        start += 1;
    }
    Some(literal[start..].to_ascii_lowercase())
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
    let shortest = set.iter().map(String::len).min().unwrap_or(0);
    (shortest, std::cmp::Reverse(set.len()))
}

/// The compiled scanner over all rule literals.
#[derive(Debug, Default)]
pub(crate) struct Prefilter {
    automaton: Option<AhoCorasick>,
    literal_count: usize,
}

impl Prefilter {
    /// Marks in `seen` (stamped with `generation`) every literal that occurs in a value of
    /// the event.
    pub(crate) fn scan(&self, event: &dyn Fields, seen: &mut Vec<u32>, generation: u32) {
        let Some(automaton) = &self.automaton else {
            return;
        };
        if seen.len() < self.literal_count {
            seen.resize(self.literal_count, 0);
        }
        event.visit_all(&mut |value| {
            with_text(value, |text| {
                for found in automaton.find_overlapping_iter(text) {
                    seen[found.pattern().as_usize()] = generation;
                }
                false
            });
            ControlFlow::Continue(())
        });
    }
}

impl Need {
    /// Whether the event whose literals are stamped in `seen` meets this need.
    pub(crate) fn met(&self, seen: &[u32], generation: u32) -> bool {
        match self {
            Need::Nothing => true,
            Need::AnyOf(ids) => ids.iter().any(|&id| seen[id as usize] == generation),
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
            Some(vec!["\\cmd.exe".to_string(), "wershell".to_string()])
        );
    }

    #[test]
    fn and_picks_the_most_selective_operand() {
        let e = Expr::And(vec![
            field(vec![text("abc", true, true), text("de", true, true)]),
            field(vec![text("mimikatz", true, true)]),
        ]);
        assert_eq!(literals_of(&e), Some(vec!["mimikatz".to_string()]));
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
        let prefilter = table.build();
        let mut event = tocsin_event::Event::default();
        event.push(
            "Image",
            "",
            tocsin_event::Value::from("C:\\Windows\\CMD.EXE"),
        );
        let mut seen = Vec::new();
        prefilter.scan(&event, &mut seen, 7);
        assert!(need_cmd.met(&seen, 7));
        assert!(need_md.met(&seen, 7));
        assert!(!need_other.met(&seen, 7));
        assert!(!need_cmd.met(&seen, 8), "an older stamp does not count");
    }
}
