//! Many literal values of one field test, searched in one pass.
//!
//! Rules often list dozens or hundreds of values for one field (`CommandLine|contains:`
//! with every cmdlet of a toolkit, a thousand emoji). Tested one by one, each value scans the
//! text again; gathered into a [`NeedleSet`], one Aho-Corasick pass over the text decides
//! them all. The values of a field test are linked with OR (the `all` modifier splits them
//! into separate tests before this point), so a set matches exactly when one of its values
//! would have.
//!
//! The automaton is built on first use, like [`crate::text::LazyRegex`]: the prefilter
//! rejects most rules before their values are tested, so most sets of a large rule set are
//! never searched, and building them all up front would slow rule loading for nothing.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::matcher::ValueMatcher;
use crate::text::TextPattern;

/// A field test with at least this many `contains` values gets a [`NeedleSet`]: below it,
/// a few `memchr` scans cost less than one automaton pass.
const MIN_CONTAINS: usize = 3;

/// Where a needle must sit in the text for it to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone)]
pub(crate) struct NeedleSet {
    /// Each needle (lowercase unless `cased`) and where it must sit.
    needles: Vec<(Box<str>, Anchor)>,
    cased: bool,
    automaton: OnceLock<Option<AhoCorasick>>,
}

impl NeedleSet {
    fn new(needles: Vec<(Box<str>, Anchor)>, cased: bool) -> Self {
        NeedleSet {
            needles,
            cased,
            automaton: OnceLock::new(),
        }
    }

    /// The needles' texts, for the prefilter.
    pub(crate) fn literals(&self) -> impl Iterator<Item = &str> {
        self.needles.iter().map(|(text, _)| &**text)
    }

    /// Whether some needle sits in `hay` where it must.
    pub(crate) fn is_match(&self, hay: &str) -> bool {
        let Some(automaton) = self.automaton.get_or_init(|| self.build()) else {
            return self.is_match_one_by_one(hay);
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
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(!self.cased)
            .match_kind(MatchKind::Standard)
            .build(self.literals())
            .ok()
    }

    /// The fallback should the automaton exceed its size limits.
    fn is_match_one_by_one(&self, hay: &str) -> bool {
        let eq = |a: &[u8], b: &[u8]| match self.cased {
            true => a == b,
            false => a.eq_ignore_ascii_case(b),
        };
        let h = hay.as_bytes();
        self.needles.iter().any(|(needle, anchor)| {
            let n = needle.as_bytes();
            match anchor {
                Anchor::Exact => eq(h, n),
                Anchor::Prefix => h.len() >= n.len() && eq(&h[..n.len()], n),
                Anchor::Suffix => h.len() >= n.len() && eq(&h[h.len() - n.len()..], n),
                Anchor::Contains => h.windows(n.len().max(1)).any(|w| eq(w, n)),
            }
        })
    }
}

/// The matchers of one test (linked with OR), with their plain literal values gathered into
/// [`NeedleSet`]s when enough of them are `contains` values; other matchers stay as they are.
pub(crate) fn gather_matchers(matchers: Vec<ValueMatcher>) -> Vec<ValueMatcher> {
    let mut patterns = Vec::new();
    let mut rest = Vec::new();
    for matcher in matchers {
        match matcher {
            ValueMatcher::Text(pattern) => patterns.push(pattern),
            other => rest.push(other),
        }
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
            out.push(TextPattern::Set(Box::new(NeedleSet::new(
                needles,
                mode == 1,
            ))));
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
    fn the_fallback_agrees_with_the_automaton() {
        let set = NeedleSet::new(
            vec![
                ("ab".into(), Anchor::Prefix),
                ("cd".into(), Anchor::Suffix),
                ("ef".into(), Anchor::Contains),
                ("gh".into(), Anchor::Exact),
            ],
            false,
        );
        for hay in ["ABx", "xab", "xCD", "cdx", "xEFx", "GH", "xgh", "", "e"] {
            assert_eq!(set.is_match(hay), set.is_match_one_by_one(hay), "{hay:?}");
        }
    }
}
