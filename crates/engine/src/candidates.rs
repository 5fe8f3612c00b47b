//! Candidate lists: the rule branches an event of one channel and event ID may meet, laid
//! out for the per-event loop.
//!
//! An event meets a few hundred candidates, and most are rejected by their literal need
//! alone. Each candidate therefore carries what that check reads (whether it has a need,
//! whether keywords are part of it, where its literal ids start) in 16 bytes, and the ids
//! of all candidates of a list sit in one array in candidate order: the loop walks two
//! arrays front to back instead of chasing a pointer into every compiled branch.

use crate::engine::RuleId;
use crate::expr::Expr;
use crate::matcher::ValueMatcher;
use crate::needle_set::Anchor;
use crate::prefilter::{KeywordScanner, LiteralTable, Need};
use tocsin_event::Fields;

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
#[derive(Debug, Clone, Copy)]
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
#[derive(Debug, Default)]
pub(crate) struct CandidateList {
    candidates: Vec<Candidate>,
    ids: Vec<u32>,
    /// Whether some candidate needs a literal, so that the event is worth scanning.
    has_needs: bool,
    /// The keyword literals of these candidates (see [`KeywordScanner`]).
    keywords: Option<KeywordScanner>,
}

impl CandidateList {
    /// Appends a branch with its need.
    pub(crate) fn push(&mut self, rule: RuleId, branch: u16, generic: bool, need: &Need) {
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

    /// Builds the scanner of the keyword literals these candidates need, once all are in.
    pub(crate) fn build_keywords(&mut self, table: &LiteralTable) {
        let ids: Vec<u32> = self
            .candidates
            .iter()
            .filter(|c| c.anywhere)
            .flat_map(|c| &self.ids[c.start as usize..(c.start + c.len) as usize])
            .copied()
            .collect();
        self.keywords = table.keyword_scanner(&ids);
    }

    /// Marks in `seen` the keyword literals of these candidates found in any value of the
    /// event.
    pub(crate) fn scan_keywords(&self, event: &dyn Fields, seen: &mut [u32], generation: u32) {
        if let Some(keywords) = &self.keywords {
            keywords.scan(event, seen, generation);
        }
    }

    /// Whether some candidate needs a literal.
    pub(crate) fn has_needs(&self) -> bool {
        self.has_needs
    }

    /// The candidates, in the order they were pushed.
    pub(crate) fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// Whether the event whose literals are stamped in `seen` with `generation` meets the
    /// need of `candidate`, one of this list's.
    pub(crate) fn need_met(&self, candidate: &Candidate, seen: &[u32], generation: u32) -> bool {
        let start = candidate.start as usize;
        let ids = &self.ids[start..start + candidate.len as usize];
        ids.is_empty() || ids.iter().any(|&id| seen[id as usize] == generation)
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
    fn each_candidate_reads_its_own_ids() {
        let mut list = CandidateList::default();
        list.push(0, 0, false, &Need::Nothing);
        list.push(
            1,
            0,
            false,
            &Need::AnyOf {
                ids: vec![2, 3],
                anywhere: false,
            },
        );
        list.push(
            2,
            1,
            true,
            &Need::AnyOf {
                ids: vec![4],
                anywhere: true,
            },
        );
        let [free, two_three, four] = list.candidates() else {
            panic!("three candidates");
        };
        assert!(!free.has_need());
        assert!(four.anywhere && four.generic);
        let mut seen = vec![0; 5];
        seen[3] = 9;
        assert!(list.need_met(free, &seen, 9));
        assert!(list.need_met(two_three, &seen, 9));
        assert!(!list.need_met(four, &seen, 9));
        assert!(
            !list.need_met(two_three, &seen, 8),
            "an older stamp does not count"
        );
    }
}
