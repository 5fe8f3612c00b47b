//! Candidate lists: the rule branches an event of one channel and event ID may meet, laid
//! out for the per-event loop.
//!
//! An event meets a few hundred candidates, and most are rejected by their literal need
//! alone. Checking each need would read hundreds of literal ids per event (873 on average
//! over the EVTX corpus) while the scans find about nine literals in it. So each list keeps
//! an index from literal to the candidates whose need it meets: the few literals found stamp
//! their candidates, and the loop reads one stamp per candidate. Each candidate is 16 bytes
//! holding what the loop reads (its rule and branch, whether it is generic, whether it has a
//! need), so the loop walks its list front to back instead of chasing a pointer into every
//! compiled branch.

use crate::engine::RuleId;
use crate::expr::Expr;
use crate::matcher::ValueMatcher;
use crate::needle_set::Anchor;
use crate::prefilter::{FieldSet, Found, KeywordScanner, LiteralTable, Need};
use serde::{Deserialize, Serialize};

/// The event IDs an event must have for `body` to match it, when the detection itself says
/// so (`EventID: 4728` beside the logsource `service: security`, which places the rule on
/// the whole channel): the engine then lists the branch under those IDs only, instead of
/// testing it on every event of the channel. `event_id` is the interned `EventID` field.
///
/// A superset is always safe: `and` takes its most selective constrained operand, `or` the
/// union of its operands (unknown if one is unknown); `not`, keywords and anything but
/// plain numbers or digit strings leave it unknown.
pub(crate) fn required_event_ids(body: &Expr, event_id: u32) -> Option<Vec<i64>> {
    match body {
        Expr::Field(test) if test.field == event_id && !test.negate => {
            let mut ids = test
                .matchers
                .iter()
                .map(matcher_event_id)
                .collect::<Option<Vec<i64>>>()?;
            ids.sort_unstable();
            ids.dedup();
            (!ids.is_empty()).then_some(ids)
        }
        Expr::And(items) => items
            .iter()
            .filter_map(|item| required_event_ids(item, event_id))
            .min_by_key(Vec::len),
        Expr::Or(items) => {
            let mut all = Vec::new();
            for item in items {
                all.extend(required_event_ids(item, event_id)?);
            }
            all.sort_unstable();
            all.dedup();
            (!all.is_empty()).then_some(all)
        }
        _ => None,
    }
}

/// The event ID one value of an `EventID` test stands for.
fn matcher_event_id(matcher: &ValueMatcher) -> Option<i64> {
    match matcher {
        ValueMatcher::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Some(*n as i64),
        ValueMatcher::Text(pattern) => match pattern.anchored_needle()? {
            (text, _, Anchor::Exact) if text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse().ok()
            }
            _ => None,
        },
        _ => None,
    }
}

/// One rule branch an event may meet, with its literal need inlined.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Candidate {
    /// The rule.
    pub(crate) rule: RuleId,
    /// The branch of the rule (its placement).
    pub(crate) branch: u16,
    /// A generic branch, which checks the event's logsource tag.
    pub(crate) generic: bool,
    /// Some of the need's literals are keywords, searched in every value.
    pub(crate) anywhere: bool,
    /// The need's literal ids are `ids[start..start + len]`; no need when `len` is 0.
    start: u32,
    len: u32,
}

impl Candidate {
    /// Whether the branch needs some literal (otherwise it is always evaluated).
    pub(crate) fn has_need(&self) -> bool {
        self.len > 0
    }
}

/// The candidates of one channel and event ID (or of any event ID, or of events without a
/// channel), in rule order.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct CandidateList {
    candidates: Vec<Candidate>,
    ids: Vec<u32>,
    /// Per literal id, the range of [`CandidateList::needers`] listing the candidates whose
    /// need it meets (see [`CandidateList::mark_needs_met`]).
    needed_by: foldhash::HashMap<u32, (u32, u32)>,
    /// Candidate indexes, grouped by literal.
    needers: Vec<u32>,
    /// The indexes of the candidates without a need, evaluated on every event of the list.
    unconditional: Vec<u32>,
    /// The literals the candidates' value tests read stamps of, until [`CandidateList::finish`].
    stamped: Vec<u32>,
    /// The fields whose literals the candidates need or read: the only ones worth scanning
    /// for an event of this list.
    scanned: FieldSet,
    /// Whether some candidate needs a literal, so that the event is worth scanning.
    has_needs: bool,
    /// The keyword literals of these candidates (see [`KeywordScanner`]).
    keywords: Option<KeywordScanner>,
}

impl CandidateList {
    /// Whether every index of the list points inside what it indexes: candidates at a
    /// branch of a rule (`branches` holds each rule's number of branches), their needs in
    /// `ids`, literal ids below `literals`, the needers and unconditional candidates among
    /// the candidates (see [`crate::Engine::validate`]).
    pub(crate) fn is_within(&self, branches: &[usize], literals: usize) -> bool {
        let count = self.candidates.len();
        let ends_within = |start: u32, len: u32, limit: usize| {
            (start as usize)
                .checked_add(len as usize)
                .is_some_and(|end| end <= limit)
        };
        self.candidates.iter().all(|c| {
            branches
                .get(c.rule as usize)
                .is_some_and(|&n| usize::from(c.branch) < n)
                && ends_within(c.start, c.len, self.ids.len())
        }) && self.ids.iter().all(|&id| (id as usize) < literals)
            && self.needers.iter().all(|&i| (i as usize) < count)
            && self.unconditional.iter().all(|&i| (i as usize) < count)
            && self
                .needed_by
                .values()
                .all(|&(start, len)| ends_within(start, len, self.needers.len()))
    }

    /// Appends a branch with its need and the literals its value tests read stamps of.
    pub(crate) fn push(
        &mut self,
        rule: RuleId,
        branch: u16,
        generic: bool,
        need: &Need,
        stamped: &[u32],
    ) {
        self.stamped.extend_from_slice(stamped);
        let (ids, anywhere): (&[u32], bool) = match need {
            Need::Nothing => (&[], false),
            Need::AnyOf { ids, anywhere } => (ids, *anywhere),
        };
        self.has_needs |= !ids.is_empty();
        self.candidates.push(Candidate {
            rule,
            branch,
            generic,
            anywhere,
            start: self.ids.len() as u32,
            len: ids.len() as u32,
        });
        self.ids.extend_from_slice(ids);
    }

    /// Builds, once all candidates are in, the scanner of their keyword literals and the
    /// index from each literal to the candidates that need it.
    pub(crate) fn finish(&mut self, table: &LiteralTable) {
        self.build_keywords(table);
        self.index_needs();
        let mut read = std::mem::take(&mut self.stamped);
        read.extend_from_slice(&self.ids);
        self.scanned = table.fields_of(&read);
    }

    /// The fields worth scanning for an event of this list.
    pub(crate) fn scanned_fields(&self) -> &FieldSet {
        &self.scanned
    }

    fn index_needs(&mut self) {
        let mut pairs: Vec<(u32, u32)> = self
            .candidates
            .iter()
            .enumerate()
            .flat_map(|(index, c)| self.need_ids(c).iter().map(move |&id| (id, index as u32)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        self.needers = pairs.iter().map(|&(_, index)| index).collect();
        self.unconditional = (0..self.candidates.len() as u32)
            .filter(|&index| !self.candidates[index as usize].has_need())
            .collect();
        self.needed_by.clear();
        for (at, &(id, _)) in pairs.iter().enumerate() {
            self.needed_by.entry(id).or_insert((at as u32, 0)).1 += 1;
        }
    }

    /// The literal ids of a candidate's need.
    fn need_ids(&self, candidate: &Candidate) -> &[u32] {
        let start = candidate.start as usize;
        &self.ids[start..start + candidate.len as usize]
    }

    fn build_keywords(&mut self, table: &LiteralTable) {
        let ids: Vec<u32> = self
            .candidates
            .iter()
            .filter(|c| c.anywhere)
            .flat_map(|c| self.need_ids(c))
            .copied()
            .collect();
        self.keywords = table.keyword_scanner(&ids);
    }

    /// Marks the keyword literals of these candidates found in any value of the event,
    /// whose values [`crate::prefilter::join_values`] joined into `joined`.
    pub(crate) fn scan_keywords(&self, joined: &[u8], found: &mut Found<'_>) {
        if let Some(keywords) = &self.keywords {
            keywords.scan(joined, found);
        }
    }

    /// Whether some candidate needs a keyword literal, searched in every value.
    pub(crate) fn has_keywords(&self) -> bool {
        self.keywords.is_some()
    }

    /// Whether some candidate needs a literal.
    pub(crate) fn has_needs(&self) -> bool {
        self.has_needs
    }

    /// Whether no branch is listed (an event need not consult the list).
    pub(crate) fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }

    /// The candidates, in the order they were pushed.
    pub(crate) fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The indexes of the candidates without a need, in order.
    pub(crate) fn unconditional(&self) -> &[u32] {
        &self.unconditional
    }

    /// Lists in `due`, each once, the candidates whose need one of the literals `found`
    /// meets, stamping them in `met` (one stamp per candidate, by index) with `generation`.
    /// Far fewer literals are found in an event than its candidates need in all, so this
    /// walks the few found instead of every need, and the event's loop then visits only
    /// the candidates listed here and the unconditional ones, not the whole list.
    pub(crate) fn mark_needs_met(
        &self,
        found: &[u32],
        met: &mut Vec<u32>,
        generation: u32,
        due: &mut Vec<u32>,
    ) {
        if met.len() < self.candidates.len() {
            met.resize(self.candidates.len(), 0);
        }
        for id in found {
            if let Some(&(start, len)) = self.needed_by.get(id) {
                for &index in &self.needers[start as usize..(start + len) as usize] {
                    let stamp = &mut met[index as usize];
                    if *stamp != generation {
                        *stamp = generation;
                        due.push(index);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::FieldTest;
    use crate::text::{Part, TextPattern};

    fn event_id_test(matchers: Vec<ValueMatcher>, negate: bool) -> Expr {
        Expr::Field(Box::new(FieldTest {
            field: 7,
            matchers,
            all: false,
            negate,
            literals: Vec::new(),
        }))
    }

    fn other_test() -> Expr {
        Expr::Field(Box::new(FieldTest {
            field: 1,
            matchers: vec![ValueMatcher::Number(1.0)],
            all: false,
            negate: false,
            literals: Vec::new(),
        }))
    }

    #[test]
    fn event_ids_come_from_numbers_and_digit_strings() {
        let exact =
            |t: &str| ValueMatcher::Text(TextPattern::compile(&[Part::Lit(t.into())], false));
        let ids = event_id_test(vec![ValueMatcher::Number(4728.0), exact("4732")], false);
        let body = Expr::And(vec![other_test(), ids.clone()]);
        assert_eq!(required_event_ids(&body, 7), Some(vec![4728, 4732]));
        let either = Expr::Or(vec![ids.clone(), event_id_test(vec![exact("1")], false)]);
        assert_eq!(required_event_ids(&either, 7), Some(vec![1, 4728, 4732]));
    }

    #[test]
    fn anything_else_leaves_the_event_id_open() {
        let wildcard = ValueMatcher::Text(TextPattern::compile(
            &[Part::Lit("47".into()), Part::Star],
            false,
        ));
        let ids = event_id_test(vec![ValueMatcher::Number(4728.0)], false);
        for body in [
            event_id_test(vec![ValueMatcher::Number(4728.0)], true),
            event_id_test(vec![wildcard], false),
            Expr::Or(vec![ids.clone(), other_test()]),
            Expr::Not(Box::new(ids.clone())),
            other_test(),
        ] {
            assert_eq!(required_event_ids(&body, 7), None, "{body:?}");
        }
    }

    #[test]
    fn a_found_literal_meets_the_needs_of_the_candidates_listing_it() {
        let mut list = CandidateList::default();
        list.push(0, 0, false, &Need::Nothing, &[]);
        list.push(
            1,
            0,
            false,
            &Need::AnyOf {
                ids: vec![2, 3],
                anywhere: false,
            },
            &[2, 3],
        );
        list.push(
            2,
            1,
            true,
            &Need::AnyOf {
                ids: vec![4],
                anywhere: true,
            },
            &[],
        );
        let [free, two_three, four] = list.candidates() else {
            panic!("three candidates");
        };
        assert!(!free.has_need() && two_three.has_need());
        assert!(four.anywhere && four.generic);
        list.index_needs();
        assert_eq!(list.unconditional(), [0]);
        let mut met = Vec::new();
        let mut due = Vec::new();
        list.mark_needs_met(&[3], &mut met, 9, &mut due);
        assert_eq!(
            (&met[..], &due[..]),
            (&[0, 9, 0][..], &[1][..]),
            "only the candidate needing literal 3 is met"
        );
        due.clear();
        list.mark_needs_met(&[4, 2, 3], &mut met, 10, &mut due);
        assert_eq!(met, [0, 10, 10]);
        assert_eq!(due, [2, 1], "each met candidate is due once");
        due.clear();
        list.mark_needs_met(&[], &mut met, 11, &mut due);
        assert_eq!(met, [0, 10, 10], "nothing found, nothing met");
        assert!(due.is_empty());
    }
}
