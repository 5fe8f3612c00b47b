//! The aggregates correlation conditions compare: pure functions over a window's matches.

use std::collections::HashMap;

use tocsin_sigma::ast::CorrelationType;

use crate::compile::Compiled;
use crate::graph::NodeId;
use crate::window::Entry;

/// Running totals of a window, updated as matches enter and leave it, so that counts,
/// distinct counts, sums and averages cost O(1) per match instead of a scan of the window.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Text value -> how many matches in the window have it.
    texts: HashMap<Box<str>, usize>,
    /// Matches with a text value.
    text_total: usize,
    /// Rule -> how many of its matches are in the window.
    rules: HashMap<NodeId, usize>,
    /// Sum of the numeric values (exact for integers below 2^53).
    sum: f64,
    /// Matches with a numeric value.
    numbers: usize,
}

impl Tally {
    /// Counts a match entering the window.
    pub fn add(&mut self, entry: &Entry) {
        if let Some(text) = &entry.sample.text {
            *self.texts.entry(text.clone()).or_default() += 1;
            self.text_total += 1;
        }
        *self.rules.entry(entry.node).or_default() += 1;
        if let Some(number) = entry.sample.number {
            self.sum += number;
            self.numbers += 1;
        }
    }

    /// Uncounts a match leaving the window.
    pub fn remove(&mut self, entry: &Entry) {
        if let Some(text) = &entry.sample.text {
            decrement(&mut self.texts, &**text);
            self.text_total = self.text_total.saturating_sub(1);
        }
        decrement(&mut self.rules, &entry.node);
        if let Some(number) = entry.sample.number {
            self.numbers = self.numbers.saturating_sub(1);
            // Start again from zero rather than carry rounding residue.
            self.sum = if self.numbers == 0 {
                0.0
            } else {
                self.sum - number
            };
        }
    }

    /// Whether a match in the window has this text value.
    pub fn has_text(&self, text: &str) -> bool {
        self.texts.contains_key(text)
    }
}

fn decrement<K, Q>(counts: &mut HashMap<K, usize>, key: &Q)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(count) = counts.get_mut(key) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            counts.remove(key);
        }
    }
}

/// The aggregate of `compiled`'s type over a window: its matches sorted by time and their
/// running totals. `current` is the value of the match being evaluated, used by the share
/// reading of `value_percentile`. `None` when there is nothing to aggregate (no numeric
/// value for a sum, average or percentile; no value at all for a share).
pub(crate) fn measure(
    compiled: &Compiled,
    entries: &[Entry],
    tally: &Tally,
    current: Option<&str>,
) -> Option<f64> {
    let has_numbers = tally.numbers > 0;
    match compiled.kind() {
        CorrelationType::EventCount => Some(entries.len() as f64),
        CorrelationType::ValueCount => Some(tally.texts.len() as f64),
        CorrelationType::Temporal => Some(tally.rules.len() as f64),
        CorrelationType::TemporalOrdered => {
            let timeline: Vec<(i64, NodeId)> = entries.iter().map(|e| (e.ts, e.node)).collect();
            Some(ordered_prefix(&timeline, &compiled.rules) as f64)
        }
        CorrelationType::ValueSum => has_numbers.then_some(tally.sum),
        CorrelationType::ValueAvg => has_numbers.then(|| tally.sum / tally.numbers as f64),
        CorrelationType::ValuePercentile => match compiled.percentile {
            Some(p) => nearest_rank(entries.iter().filter_map(|e| e.sample.number).collect(), p),
            None => {
                let same = tally.texts.get(current?).copied().unwrap_or(0);
                share(same, tally.text_total)
            }
        },
    }
}

/// The `p`-th percentile (0 to 100) by the nearest-rank method: the smallest value such
/// that at least `p`% of the values are less than or equal to it, that is the value of
/// rank `ceil(p / 100 * n)` (at least 1) in ascending order. Always one of the values, no
/// interpolation. `None` without any number.
pub(crate) fn nearest_rank(mut numbers: Vec<f64>, p: f64) -> Option<f64> {
    if numbers.is_empty() {
        return None;
    }
    numbers.sort_by(f64::total_cmp);
    let n = numbers.len();
    let rank = (p.clamp(0.0, 100.0) / 100.0 * n as f64).ceil() as usize;
    numbers.get(rank.clamp(1, n) - 1).copied()
}

/// `same` as a percentage (0 to 100) of `total`, or `None` when `total` is zero.
pub(crate) fn share(same: usize, total: usize) -> Option<f64> {
    (total > 0).then(|| 100.0 * same as f64 / total as f64)
}

/// How long a prefix of `sequence` appears in order in `timeline` (sorted by time), each
/// match used once. Matches with equal timestamps count as simultaneous, so they may
/// satisfy consecutive steps in any order: log timestamps have a limited resolution and
/// the input order of simultaneous records says nothing. Greedy earliest matching is
/// optimal for a prefix.
pub(crate) fn ordered_prefix(timeline: &[(i64, NodeId)], sequence: &[NodeId]) -> usize {
    let mut step = 0;
    for tie in timeline.chunk_by(|a, b| a.0 == b.0) {
        let mut used = vec![false; tie.len()];
        while let Some(&wanted) = sequence.get(step) {
            let found = tie
                .iter()
                .zip(used.iter_mut())
                .find(|((_, node), used)| !**used && *node == wanted);
            match found {
                Some((_, used)) => {
                    *used = true;
                    step += 1;
                }
                None => break,
            }
        }
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values = vec![15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(nearest_rank(values.clone(), 5.0), Some(15.0));
        assert_eq!(nearest_rank(values.clone(), 30.0), Some(20.0));
        assert_eq!(nearest_rank(values.clone(), 40.0), Some(20.0));
        assert_eq!(nearest_rank(values.clone(), 50.0), Some(35.0));
        assert_eq!(nearest_rank(values.clone(), 100.0), Some(50.0));
        assert_eq!(nearest_rank(values, 0.0), Some(15.0));
        assert_eq!(nearest_rank(vec![3.0, 1.0, 2.0, 4.0], 50.0), Some(2.0));
        assert_eq!(nearest_rank(vec![7.0], 99.0), Some(7.0));
        assert_eq!(nearest_rank(Vec::new(), 50.0), None);
    }

    fn entry(node: NodeId, text: Option<&str>, number: Option<f64>) -> Entry {
        Entry {
            ts: 0,
            node,
            sample: crate::compile::Sample {
                text: text.map(Into::into),
                number,
            },
            evidence: crate::hit::Evidence::Event(0),
        }
    }

    #[test]
    fn tally_follows_matches_in_and_out() {
        let a = entry(1, Some("x"), Some(2.0));
        let b = entry(2, Some("x"), Some(3.5));
        let c = entry(1, Some("y"), None);
        let mut tally = Tally::default();
        for e in [&a, &b, &c] {
            tally.add(e);
        }
        assert_eq!((tally.texts.len(), tally.text_total), (2, 3));
        assert_eq!(tally.rules.len(), 2);
        assert_eq!((tally.sum, tally.numbers), (5.5, 2));
        tally.remove(&a);
        assert_eq!(tally.texts.get("x"), Some(&1));
        assert_eq!((tally.sum, tally.numbers), (3.5, 1));
        tally.remove(&b);
        assert!(!tally.has_text("x"));
        assert!(tally.has_text("y"));
        assert_eq!(tally.rules.len(), 1);
        assert_eq!((tally.sum, tally.numbers), (0.0, 0));
        tally.remove(&c);
        assert!(tally.texts.is_empty() && tally.rules.is_empty());
    }

    #[test]
    fn shares() {
        assert_eq!(share(1, 4), Some(25.0));
        assert_eq!(share(0, 2), Some(0.0));
        assert_eq!(share(0, 0), None);
    }

    #[test]
    fn ordered_prefix_follows_the_sequence() {
        let (a, b, c) = (1, 2, 3);
        assert_eq!(ordered_prefix(&[(1, a), (2, b), (3, c)], &[a, b, c]), 3);
        assert_eq!(ordered_prefix(&[(1, b), (2, a), (3, c)], &[a, b, c]), 1);
        assert_eq!(ordered_prefix(&[(1, c), (2, b), (3, a)], &[a, b, c]), 1);
        assert_eq!(ordered_prefix(&[(1, a), (2, a), (3, b)], &[a, b, a]), 2);
        assert_eq!(ordered_prefix(&[(1, a), (2, b), (3, a)], &[a, b, a]), 3);
        assert_eq!(ordered_prefix(&[], &[a, b]), 0);
    }

    #[test]
    fn simultaneous_matches_satisfy_consecutive_steps_in_any_order() {
        let (a, b, c) = (1, 2, 3);
        assert_eq!(ordered_prefix(&[(5, b), (5, a), (6, c)], &[a, b, c]), 3);
        // A single match cannot satisfy two steps.
        assert_eq!(ordered_prefix(&[(5, a), (6, b)], &[a, a, b]), 1);
    }
}
