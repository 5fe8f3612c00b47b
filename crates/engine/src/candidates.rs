//! Candidate lists: the rule branches an event of one channel and event ID may meet, laid
//! out for the per-event loop.
//!
//! An event meets a few hundred candidates, and most are rejected by their literal need
//! alone. Each candidate therefore carries what that check reads (whether it has a need,
//! whether keywords are part of it, where its literal ids start) in 16 bytes, and the ids
//! of all candidates of a list sit in one array in candidate order: the loop walks two
//! arrays front to back instead of chasing a pointer into every compiled branch.

use crate::engine::RuleId;
use crate::prefilter::Need;

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
#[derive(Debug, Clone, Default)]
pub(crate) struct CandidateList {
    candidates: Vec<Candidate>,
    ids: Vec<u32>,
}

impl CandidateList {
    /// Appends a branch with its need.
    pub(crate) fn push(&mut self, rule: RuleId, branch: u16, generic: bool, need: &Need) {
        let (ids, anywhere): (&[u32], bool) = match need {
            Need::Nothing => (&[], false),
            Need::AnyOf { ids, anywhere } => (ids, *anywhere),
        };
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
