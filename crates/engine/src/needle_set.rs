//! Many literal values of one field test, searched in one pass.
//!
//! Rules often list dozens or hundreds of values for one field (`CommandLine|contains:`
//! with every cmdlet of a toolkit, a thousand emoji). Tested one by one, each value scans the
//! text again; gathered into a [`NeedleSet`], one Aho-Corasick pass over the text decides
//! them all. The values of a field test are linked with OR (the `all` modifier splits them
//! into separate tests before this point), so a set matches exactly when one of its values
//! would have.
//!
//! The automaton is built only once the set has been tested [`BUILD_AFTER`] times; until
//! then its values are tested one by one. The prefilter rejects most rules before their
//! values are tested, so most sets of a large rule set are never or seldom searched, and
//! building them all up front (4,432 driver hashes make one set) would cost more than it
//! saves.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::expr::Stamps;
use crate::matcher::ValueMatcher;
use crate::text::TextPattern;

/// A field test with at least this many `contains` values gets a [`NeedleSet`]: below it,
/// a few `memchr` scans cost less than one automaton pass.
const MIN_CONTAINS: usize = 3;

/// How many times a set is tested value by value before its automaton is built.
const BUILD_AFTER: u32 = 16;

/// Sets with more needles than this get the automaton that is quickest to build (a
/// contiguous NFA) rather than the one that is quickest to search (a DFA): the 4,432
/// driver hashes of one rule, not the few hundred cmdlets of another.
const LARGE_SET: usize = 256;

/// Where a needle must sit in the text for it to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Anchor {
    /// The whole text.
    Exact,
    /// At the start.
    Prefix,
    /// At the end.
    Suffix,
    /// Anywhere.
    Contains,
}

/// Literal values of one test, matched together (any of them).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NeedleSet {
    /// Each needle (lowercase unless `cased`) and where it must sit.
    needles: Vec<(Box<str>, Anchor)>,
    /// The same needles as single patterns, tested one by one until the automaton exists,
    /// or when the prefilter found the literals of only a few of them.
    singles: Vec<TextPattern>,
    /// Per needle, its prefilter literal when it has one (see [`NeedleSet::set_literals`]).
    literals: Vec<Option<u32>>,
    cased: bool,
    /// Every needle holds a byte beyond ASCII (homoglyphs, other scripts): an ASCII text,
    /// nearly every one, cannot hold any of them.
    beyond_ascii: bool,
    /// How many times the set was tested before the automaton was built.
    #[serde(skip)]
    uses: AtomicU32,
    #[serde(skip)]
    automaton: OnceLock<Option<AhoCorasick>>,
}

impl Clone for NeedleSet {
    fn clone(&self) -> Self {
        NeedleSet {
            needles: self.needles.clone(),
            singles: self.singles.clone(),
            literals: self.literals.clone(),
            cased: self.cased,
            beyond_ascii: self.beyond_ascii,
            uses: AtomicU32::new(self.uses.load(Ordering::Relaxed)),
            automaton: self.automaton.clone(),
        }
    }
}

impl NeedleSet {
    /// Whether every literal has its single pattern (see [`crate::Engine::validate`]).
    pub(crate) fn is_within(&self) -> bool {
        self.literals.len() <= self.singles.len()
    }

    fn new(needles: Vec<(Box<str>, Anchor)>, singles: Vec<TextPattern>, cased: bool) -> Self {
        // Needles match byte for byte, folding ASCII case only, so a needle with a byte
        // beyond ASCII matches only where the text has that byte.
        let beyond_ascii = needles.iter().all(|(text, _)| !text.is_ascii());
        NeedleSet {
            needles,
            singles,
            literals: Vec::new(),
            cased,
            beyond_ascii,
            uses: AtomicU32::new(0),
            automaton: OnceLock::new(),
        }
    }

    /// The needles' texts, for the prefilter.
    pub(crate) fn literals(&self) -> impl Iterator<Item = &str> {
        self.needles.iter().map(|(text, _)| &**text)
    }

    /// The prefilter literals of the needles that have one.
    pub(crate) fn literal_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.literals.iter().flatten().copied()
    }

    /// Records each needle's prefilter literal (`None`: too short to have one), in needle
    /// order.
    pub(crate) fn set_literals(&mut self, literals: Vec<Option<u32>>) {
        if literals.len() == self.needles.len() {
            self.literals = literals;
        }
    }

    /// Replaces every literal id `i` by `ids[i]`.
    pub(crate) fn renumber_literals(&mut self, ids: &[u32]) {
        for id in self.literals.iter_mut().flatten() {
            *id = ids[*id as usize];
        }
    }

    /// [`NeedleSet::is_match`], knowing which literals the prefilter found in the field: a
    /// needle whose literal was not found cannot be in `hay`, and when only a few remain,
    /// they are tested alone instead of running the automaton over the whole text.
    pub(crate) fn is_match_stamped(&self, hay: &str, stamps: Option<Stamps<'_>>) -> bool {
        const FEW: usize = 8;
        if self.beyond_ascii && hay.is_ascii() {
            return false;
        }
        let Some(stamps) = stamps.filter(|_| !self.literals.is_empty()) else {
            return self.is_match(hay);
        };
        let mut few = [0; FEW];
        let mut count = 0;
        for (i, literal) in self.literals.iter().enumerate() {
            if literal.is_none_or(|id| stamps.any(&[id])) {
                if count == FEW {
                    return self.is_match(hay);
                }
                few[count] = i;
                count += 1;
            }
        }
        few[..count].iter().any(|&i| self.singles[i].is_match(hay))
    }

    /// Whether some needle sits in `hay` where it must.
    pub(crate) fn is_match(&self, hay: &str) -> bool {
        if self.beyond_ascii && hay.is_ascii() {
            return false;
        }
        let automaton = match self.automaton.get() {
            Some(built) => built,
            None if self.uses.fetch_add(1, Ordering::Relaxed) >= BUILD_AFTER => {
                self.automaton.get_or_init(|| self.build())
            }
            None => &None,
        };
        let Some(automaton) = automaton else {
            return self.singles.iter().any(|p| p.is_match(hay));
        };
        automaton.find_overlapping_iter(hay).any(|found| {
            let (_, anchor) = self.needles[found.pattern().as_usize()];
            match anchor {
                Anchor::Contains => true,
                Anchor::Prefix => found.start() == 0,
                Anchor::Suffix => found.end() == hay.len(),
                Anchor::Exact => found.start() == 0 && found.end() == hay.len(),
            }
        })
    }

    fn build(&self) -> Option<AhoCorasick> {
        let kind = (self.needles.len() > LARGE_SET).then_some(AhoCorasickKind::ContiguousNFA);
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(!self.cased)
            .match_kind(MatchKind::Standard)
            .kind(kind)
            .build(self.literals())
            .ok()
    }
}

/// The matchers of one test (linked with OR), with their plain literal values gathered into
/// [`NeedleSet`]s when enough of them are `contains` values, and their `cidr` networks into
/// one matcher; other matchers stay as they are.
pub(crate) fn gather_matchers(matchers: Vec<ValueMatcher>) -> Vec<ValueMatcher> {
    let mut patterns = Vec::new();
    let mut networks = Vec::new();
    let mut rest = Vec::new();
    for matcher in matchers {
        match matcher {
            ValueMatcher::Text(pattern) => patterns.push(pattern),
            ValueMatcher::Cidr(nets) => networks.extend(nets.into_vec()),
            other => rest.push(other),
        }
    }
    if !networks.is_empty() {
        rest.push(ValueMatcher::Cidr(networks.into_boxed_slice()));
    }
    rest.extend(
        gather_patterns(patterns)
            .into_iter()
            .map(ValueMatcher::Text),
    );
    rest
}

/// [`gather_matchers`] for a list of text patterns (keyword lists).
pub(crate) fn gather_patterns(patterns: Vec<TextPattern>) -> Vec<TextPattern> {
    let mut out = Vec::with_capacity(patterns.len());
    // One set per letter-case mode, since an automaton folds case for all its needles or none.
    let mut sets: [Vec<(Box<str>, Anchor)>; 2] = [Vec::new(), Vec::new()];
    let mut contains = [0usize; 2];
    let mut singles: [Vec<TextPattern>; 2] = [Vec::new(), Vec::new()];
    for pattern in patterns {
        match pattern.anchored_needle() {
            Some((text, cased, anchor)) if !text.is_empty() => {
                let mode = usize::from(cased);
                sets[mode].push((text.into(), anchor));
                contains[mode] += usize::from(anchor == Anchor::Contains);
                singles[mode].push(pattern);
            }
            _ => out.push(pattern),
        }
    }
    for (mode, needles) in sets.into_iter().enumerate() {
        if contains[mode] >= MIN_CONTAINS {
            let singles = std::mem::take(&mut singles[mode]);
            let set = NeedleSet::new(needles, singles, mode == 1);
            out.push(TextPattern::Set(Box::new(set)));
        } else {
            out.append(&mut singles[mode]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Part;

    fn pattern(text: &str, anchor: Anchor, cased: bool) -> TextPattern {
        let lit = Part::Lit(text.to_string());
        let parts = match anchor {
            Anchor::Exact => vec![lit],
            Anchor::Prefix => vec![lit, Part::Star],
            Anchor::Suffix => vec![Part::Star, lit],
            Anchor::Contains => vec![Part::Star, lit, Part::Star],
        };
        TextPattern::compile(&parts, cased)
    }

    fn any_match(patterns: &[TextPattern], hay: &str) -> bool {
        patterns.iter().any(|p| p.is_match(hay))
    }

    /// A deterministic spread of texts around the needles: each needle alone, with text
    /// before or after it, in another case, cut short, and unrelated text.
    fn texts(needles: &[&str]) -> Vec<String> {
        let mut texts = vec![String::new(), "x".into(), "unrelated text".into()];
        for n in needles {
            texts.push((*n).into());
            texts.push(format!("a{n}"));
            texts.push(format!("{n}b"));
            texts.push(format!("a{n}b"));
            texts.push(n.to_uppercase());
            texts.push(format!("zz{}", n.to_uppercase()));
            texts.push(n.chars().skip(1).collect());
            texts.push(format!("{n}{n}"));
        }
        texts
    }

    #[test]
    fn a_set_matches_exactly_when_one_of_its_values_does() {
        let needles = ["cmd", "-enc", "whoami", "🦆", "Invoke-", "C:\\Temp\\"];
        let anchors = [
            Anchor::Exact,
            Anchor::Prefix,
            Anchor::Suffix,
            Anchor::Contains,
        ];
        for cased in [false, true] {
            for shift in 0..anchors.len() {
                let patterns: Vec<TextPattern> = needles
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let anchor = match i % 2 {
                            0 => Anchor::Contains,
                            _ => anchors[(i + shift) % anchors.len()],
                        };
                        pattern(n, anchor, cased)
                    })
                    .collect();
                let gathered = gather_patterns(patterns.clone());
                assert!(
                    gathered.iter().any(|p| matches!(p, TextPattern::Set(_))),
                    "three contains values make a set"
                );
                for hay in texts(&needles) {
                    assert_eq!(
                        any_match(&gathered, &hay),
                        any_match(&patterns, &hay),
                        "cased {cased}, shift {shift}, text {hay:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_set_of_needles_beyond_ascii_refuses_ascii_texts_and_finds_its_own() {
        // Cyrillic lookalikes of A, E, K, and one ASCII needle that lifts the shortcut.
        for (needles, ascii_can_match) in [
            (vec!["\u{410}", "\u{415}", "\u{41a}"], false),
            (vec!["\u{410}", "\u{415}", "k"], true),
        ] {
            // Caseless, as rules write them: each letter in both its cases.
            let patterns: Vec<TextPattern> = needles
                .iter()
                .flat_map(|n| {
                    let parts = [Part::Star, Part::Lit(n.to_string()), Part::Star];
                    TextPattern::compile_variants(&parts, false)
                })
                .collect();
            let gathered = gather_patterns(patterns);
            let [TextPattern::Set(set)] = &gathered[..] else {
                panic!("one set: {gathered:?}");
            };
            assert_eq!(set.beyond_ascii, !ascii_can_match);
            assert_eq!(set.is_match("powershell -c kill"), ascii_can_match);
            assert!(set.is_match("C:\\Us\u{415}rs\\x.exe"));
            assert!(set.is_match("C:\\Us\u{435}rs\\x.exe"), "the lower case");
            assert!(set.is_match_stamped("\u{410}", None));
            assert!(!set.is_match_stamped("\u{41b}", None), "Л is none of them");
        }
    }

    #[test]
    fn the_networks_of_a_test_share_one_matcher() {
        let net = |n: &str| ValueMatcher::Cidr(Box::new([n.parse().expect("net")]));
        let gathered = gather_matchers(vec![
            net("10.0.0.0/8"),
            ValueMatcher::Null,
            net("fe80::/10"),
        ]);
        assert!(matches!(gathered[0], ValueMatcher::Null));
        let [_, ValueMatcher::Cidr(nets)] = &gathered[..] else {
            panic!("one network matcher last: {gathered:?}");
        };
        assert_eq!(nets.len(), 2);
    }

    #[test]
    fn few_contains_values_stay_single_and_other_patterns_are_kept() {
        let patterns = vec![
            pattern("abc", Anchor::Contains, false),
            pattern("def", Anchor::Suffix, false),
            TextPattern::regex("^x+$", false, false, false).expect("valid"),
        ];
        let gathered = gather_patterns(patterns);
        assert_eq!(gathered.len(), 3);
        assert!(!gathered.iter().any(|p| matches!(p, TextPattern::Set(_))));
    }

    #[test]
    fn cased_and_caseless_values_get_separate_sets() {
        let mut patterns = Vec::new();
        for cased in [false, true] {
            for n in ["alpha", "beta", "gamma"] {
                patterns.push(pattern(n, Anchor::Contains, cased));
            }
        }
        let gathered = gather_patterns(patterns);
        assert_eq!(gathered.len(), 2);
        assert!(any_match(&gathered, "ALPHA"));
        assert!(any_match(&gathered, "gamma"));
        let cased_only = &gathered[1];
        assert!(!cased_only.is_match("GAMMA"));
    }

    #[test]
    fn the_automaton_agrees_with_the_values_tested_one_by_one() {
        let patterns: Vec<TextPattern> = [
            ("ab", Anchor::Prefix),
            ("cd", Anchor::Suffix),
            ("ef", Anchor::Contains),
            ("gh", Anchor::Exact),
            ("ij", Anchor::Contains),
            ("kl", Anchor::Contains),
        ]
        .iter()
        .map(|(n, a)| pattern(n, *a, false))
        .collect();
        let gathered = gather_patterns(patterns);
        let [TextPattern::Set(set)] = gathered.as_slice() else {
            panic!("one set: {gathered:?}");
        };
        let hays = [
            "ABx", "xab", "xCD", "cdx", "xEFx", "GH", "xgh", "", "e", "KL",
        ];
        let one_by_one: Vec<bool> = hays.iter().map(|h| set.is_match(h)).collect();
        while set.automaton.get().is_none() {
            set.is_match("");
        }
        assert!(set.automaton.get().is_some_and(Option::is_some));
        let automaton: Vec<bool> = hays.iter().map(|h| set.is_match(h)).collect();
        assert_eq!(one_by_one, automaton);
        assert_eq!(
            automaton,
            [true, false, true, false, true, true, false, false, false, true]
        );
    }

    #[test]
    fn stamps_leave_only_the_needles_whose_literals_were_found() {
        let patterns: Vec<TextPattern> = ["alpha", "bravo", "charlie", "xy"]
            .iter()
            .map(|n| pattern(n, Anchor::Contains, false))
            .collect();
        let mut gathered = gather_patterns(patterns);
        let [TextPattern::Set(set)] = gathered.as_mut_slice() else {
            panic!("one set");
        };
        // `xy` is too short to have a literal: it is always tested.
        set.set_literals(vec![Some(0), Some(1), Some(2), None]);
        let seen = [7, 0, 0];
        let stamps = Some(Stamps {
            seen: &seen,
            generation: 7,
        });
        assert!(set.is_match_stamped("has alpha", stamps));
        assert!(set.is_match_stamped("has xy", stamps));
        // The prefilter did not find `bravo`'s literal, so the text cannot hold it.
        assert!(!set.is_match_stamped("has bravo", stamps));
        assert!(
            set.is_match_stamped("has bravo", None),
            "no stamps: every needle"
        );
    }
}
