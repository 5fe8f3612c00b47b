//! A vectorised search for the literals of a small scope in long values.
//!
//! A DFA walk reads every byte of a value through a table load that waits on the previous
//! one: about 1.5 to 3 ns a byte. Most long values (script blocks, command lines, the
//! hundreds of bytes of an event's text that the keyword scans read) hold none of a small
//! scope's literals, and the aho-corasick crate's Teddy searcher finds the few places where
//! one may start 16 or 32 bytes at a time. It only reports non-overlapping,
//! leftmost-first matches, and it compares bytes exactly; the scan needs every literal that
//! occurs, ASCII case ignored. So the value is lowercased first (the literals are
//! lowercase), the searcher is given the literals longest first, and it is asked again one
//! byte past each match's start:
//!
//! * every position where some literal starts is found, leftmost first;
//! * at such a position the searcher reports the longest literal that matches there (its
//!   leftmost-first priority is the order literals were added), and the other literals that
//!   match there are exactly those it starts with (shorter ones, or copies of it), marked
//!   with it.
//!
//! Where matches are dense (a literal that occurs every few bytes), asking again after each
//! one costs more than a DFA walk: [`PackedLiterals::for_each_match`] then stops and says
//! where the walk should take over.

use aho_corasick::packed::{Config, MatchKind, Searcher};
use aho_corasick::Span;

/// The packed searcher of a scope's literals, with what each of its matches marks.
#[derive(Debug)]
pub(crate) struct PackedLiterals {
    searcher: Searcher,
    /// Per pattern of the searcher (the scope's literals, longest first), the indexes in the
    /// scope's own order of every literal it starts with, itself and its copies included.
    marks: Vec<Box<[u32]>>,
}

/// The search counts matches in runs of this many, and gives way to the DFA walk when a
/// run came more often than one per [`SPARSE_GAP`] bytes.
const DENSE_AFTER: usize = 8;

/// The fewest bytes per match for which asking the searcher again pays.
const SPARSE_GAP: usize = 16;

impl PackedLiterals {
    /// The searcher of `patterns` (lowercase, each at least one byte, copies allowed), or
    /// `None` where the crate has no vectorised searcher for them (too many patterns, a
    /// processor without SSSE3 or NEON).
    pub(crate) fn build(patterns: &[&str]) -> Option<PackedLiterals> {
        let mut order: Vec<usize> = (0..patterns.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(patterns[i].len()));
        let mut builder = Config::new().match_kind(MatchKind::LeftmostFirst).builder();
        for &i in &order {
            builder.add(patterns[i]);
        }
        let searcher = builder.build()?;
        let marks = order
            .iter()
            .map(|&i| {
                let whole = patterns[i];
                (0..patterns.len())
                    .filter(|&j| whole.starts_with(patterns[j]))
                    .map(|j| j as u32)
                    .collect()
            })
            .collect();
        Some(PackedLiterals { searcher, marks })
    }

    /// The shortest value worth searching this way; shorter ones are left to the DFA walk
    /// (the crate would search them with Rabin-Karp).
    pub(crate) fn minimum_len(&self) -> usize {
        self.searcher.minimum_len()
    }

    /// Calls `mark` with the index (in the order given to [`PackedLiterals::build`]) of
    /// every literal that occurs in `lowered`, a lowercased value. Returns `None` when the
    /// whole value was searched, or the position from which a DFA walk must search the rest
    /// when matches came too densely (every literal starting before it has been marked).
    pub(crate) fn for_each_match(
        &self,
        lowered: &[u8],
        mut mark: impl FnMut(u32),
    ) -> Option<usize> {
        let mut at = 0;
        let (mut run_start, mut run) = (0, 0);
        while at < lowered.len() {
            let found = self
                .searcher
                .find_in(lowered, Span::from(at..lowered.len()))?;
            for &index in self
                .marks
                .get(found.pattern().as_usize())
                .into_iter()
                .flatten()
            {
                mark(index);
            }
            at = found.start() + 1;
            run += 1;
            if run == DENSE_AFTER {
                if run * SPARSE_GAP > at - run_start {
                    return Some(at);
                }
                (run_start, run) = (at, 0);
            }
        }
        None
    }
}

/// Writes `text` with ASCII letters lowercased into `out` (cleared first): the scan's case
/// folding, done once for the whole value so that the packed searcher can compare bytes.
pub(crate) fn lowercase_into(text: &[u8], out: &mut Vec<u8>) {
    out.clear();
    extend_lowercase(text, out);
}

/// Appends `text` with ASCII letters lowercased to `out`.
pub(crate) fn extend_lowercase(text: &[u8], out: &mut Vec<u8>) {
    out.extend(text.iter().map(u8::to_ascii_lowercase));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn all_matches(patterns: &[&str], text: &str) -> Vec<u32> {
        let packed = PackedLiterals::build(patterns).expect("this machine has a packed searcher");
        let mut lowered = Vec::new();
        lowercase_into(text.as_bytes(), &mut lowered);
        let mut found = Vec::new();
        let rest = packed.for_each_match(&lowered, |i| found.push(i));
        if let Some(from) = rest {
            // What the DFA walk would add: every literal starting at or after `from`.
            for (i, p) in patterns.iter().enumerate() {
                if lowered[from..].windows(p.len()).any(|w| w == p.as_bytes()) {
                    found.push(i as u32);
                }
            }
        }
        found.sort_unstable();
        found.dedup();
        found
    }

    fn naive(patterns: &[&str], text: &str) -> Vec<u32> {
        let lowered = text.to_ascii_lowercase();
        (0..patterns.len() as u32)
            .filter(|&i| lowered.contains(patterns[i as usize]))
            .collect()
    }

    #[test]
    fn finds_overlapping_and_nested_literals_whatever_their_case() {
        let patterns = [
            "mimikatz", "-mimikat", "invoke-m", "katz", "mimi", "sekurlsa",
        ];
        let text = "PS C:\\> Invoke-MimiKatz -DumpCreds; then sekurLSA::logonpasswords, padded to be long enough";
        assert_eq!(all_matches(&patterns, text), naive(&patterns, text));
        assert_eq!(all_matches(&patterns, text), vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn copies_of_a_literal_are_all_marked() {
        let patterns = ["abc", "abc", "abcd", "ab-c"];
        let text = format!("{}ABCx", "x".repeat(63));
        assert_eq!(all_matches(&patterns, &text), vec![0, 1]);
        assert_eq!(
            all_matches(&patterns, &format!("{text}abcd")),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn a_dense_stretch_after_a_sparse_one_still_hands_over() {
        let patterns = ["aaa", "zzz"];
        let sparse: String = (0..DENSE_AFTER)
            .map(|_| format!("zzz{}", "y".repeat(200)))
            .collect();
        let text = format!("{sparse}{}", "a".repeat(2000));
        let packed = PackedLiterals::build(&patterns).unwrap();
        let mut lowered = Vec::new();
        lowercase_into(text.as_bytes(), &mut lowered);
        let handed_over = packed.for_each_match(&lowered, |_| {});
        assert!(
            handed_over.is_some_and(|at| at <= sparse.len() + 2 * DENSE_AFTER),
            "{handed_over:?}"
        );
        assert_eq!(all_matches(&patterns, &text), vec![0, 1]);
    }

    #[test]
    fn a_value_without_literals_marks_nothing() {
        let patterns = ["mimikatz", "sekurlsa"];
        let text =
            "C:\\Windows\\System32\\svchost.exe -k netsvcs -p -s Schedule, nothing to see here";
        assert!(all_matches(&patterns, text).is_empty());
    }

    #[test]
    fn dense_matches_hand_over_to_the_walk_without_losing_one() {
        let patterns = ["aaa", "aab", "zzzzzz"];
        let text = format!("{}b{}zzzzzz", "a".repeat(300), "xy".repeat(40));
        let packed = PackedLiterals::build(&patterns).unwrap();
        let mut lowered = Vec::new();
        lowercase_into(text.as_bytes(), &mut lowered);
        assert!(packed.for_each_match(&lowered, |_| {}).is_some());
        assert_eq!(all_matches(&patterns, &text), naive(&patterns, &text));
    }

    #[test]
    fn agrees_with_a_naive_search_on_generated_texts() {
        let patterns = ["abc", "abcd", "bcd", "cdab", "dddd", "xyz", "ab-cd", "zab"];
        let alphabet = b"abcdABCDxyz- ";
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for length in [40, 64, 100, 257] {
            for _ in 0..300 {
                let text: String = (0..length)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        alphabet[(seed % alphabet.len() as u64) as usize] as char
                    })
                    .collect();
                assert_eq!(
                    all_matches(&patterns, &text),
                    naive(&patterns, &text),
                    "{text}"
                );
            }
        }
    }
}
