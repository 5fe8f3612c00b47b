//! The byte automaton of an ASCII regular expression, for ASCII texts (see
//! [`crate::text::LazyRegex`]).
//!
//! A pattern that does not start with literals is determinised into a dense DFA when first
//! used. For a yes/no answer the dense DFA walks each byte once and stops at the first
//! match, where the `regex` crate picks a strategy made for finding match positions: for
//! PowerShell's `` \w+`(\w+|-|.)`… `` over script blocks, its reverse search from every
//! backtick, falling back to its slowest engine, took eight times as long. A pattern that
//! starts with literals gets the `regex` crate's matcher, whose literal prefilter skips to
//! each occurrence; so does a pattern whose DFA would be large.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::meta;
use regex_automata::nfa::thompson;
use regex_automata::util::prefilter::Prefilter;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind};

/// The largest dense DFA built, in bytes; a larger one is abandoned for the `regex` crate's
/// matcher.
const DENSE_LIMIT: usize = 256 * 1024;

/// The flags a pattern is compiled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Flags {
    /// `(?i)`, with ASCII case folding.
    pub(crate) ignore_case: bool,
    /// `(?m)`: `^` and `$` match at line ends.
    pub(crate) multi_line: bool,
    /// `(?s)`: `.` matches `\n`.
    pub(crate) dot_all: bool,
}

/// An ASCII pattern compiled with Unicode off, for ASCII texts.
#[derive(Debug, Clone)]
pub(crate) enum AsciiRegex {
    /// A dense DFA, with the `regex` crate's matcher built should the DFA ever refuse a
    /// text (it cannot in ASCII mode, which has no Unicode word boundary to quit on).
    Dense {
        dfa: Box<dense::DFA<Vec<u32>>>,
        /// The fewest bytes a match spans: a shorter text is refused without a walk
        /// (`\s[a-fA-F0-9]{64}\s` and most command lines).
        min_len: usize,
        pattern: Box<str>,
        flags: Flags,
        fallback: OnceLock<Option<meta::Regex>>,
    },
    /// The `regex` project's matcher (`regex-automata`'s `meta::Regex`).
    Matcher(meta::Regex),
}

impl AsciiRegex {
    /// The automaton of `pattern`; `None` when the pattern is not ASCII or needs Unicode
    /// (`\p{L}`).
    pub(crate) fn new(pattern: &str, flags: Flags) -> Option<AsciiRegex> {
        if !pattern.is_ascii() {
            return None;
        }
        match dense_dfa(pattern, flags) {
            Some((dfa, min_len)) => Some(AsciiRegex::Dense {
                dfa: Box::new(dfa),
                min_len,
                pattern: pattern.into(),
                flags,
                fallback: OnceLock::new(),
            }),
            None => matcher(pattern, flags).map(AsciiRegex::Matcher),
        }
    }

    /// Whether the pattern matches somewhere in `hay` (ASCII text).
    pub(crate) fn is_match(&self, hay: &[u8]) -> bool {
        match self {
            AsciiRegex::Matcher(matcher) => matcher.is_match(hay),
            AsciiRegex::Dense { min_len, .. } if hay.len() < *min_len => false,
            AsciiRegex::Dense {
                dfa,
                pattern,
                flags,
                fallback,
                ..
            } => match dfa.try_search_fwd(&Input::new(hay).earliest(true)) {
                Ok(found) => found.is_some(),
                Err(_) => fallback
                    .get_or_init(|| matcher(pattern, *flags))
                    .as_ref()
                    .is_some_and(|m| m.is_match(hay)),
            },
        }
    }
}

/// The `regex` crate's byte matcher of `pattern`, Unicode off.
fn matcher(pattern: &str, flags: Flags) -> Option<meta::Regex> {
    meta::Regex::builder()
        .syntax(syntax_config(flags))
        .configure(matcher_config())
        .build(pattern)
        .ok()
}

/// The dense DFA of `pattern` and the fewest bytes a match spans; `None` when the pattern
/// starts with literals (the `regex` crate then searches forward from each occurrence with
/// a literal prefilter, as quick as a DFA) or when the DFA would exceed [`DENSE_LIMIT`].
fn dense_dfa(pattern: &str, flags: Flags) -> Option<(dense::DFA<Vec<u32>>, usize)> {
    let hir = syntax::parse_with(pattern, &syntax_config(flags)).ok()?;
    if Prefilter::from_hir_prefix(MatchKind::LeftmostFirst, &hir).is_some() {
        return None;
    }
    let min_len = hir.properties().minimum_len().unwrap_or(0);
    build_dense(pattern, flags).map(|dfa| (dfa, min_len))
}

/// The dense DFA of `pattern`, unanchored; `None` beyond [`DENSE_LIMIT`].
fn build_dense(pattern: &str, flags: Flags) -> Option<dense::DFA<Vec<u32>>> {
    dense::Builder::new()
        .syntax(syntax_config(flags))
        .thompson(thompson::Config::new().utf8(false))
        .configure(
            dense::DFA::config()
                .start_kind(StartKind::Unanchored)
                .minimize(false)
                .dfa_size_limit(Some(DENSE_LIMIT))
                .determinize_size_limit(Some(4 * DENSE_LIMIT)),
        )
        .build(pattern)
        .ok()
}

/// The `regex` crate's matcher of `pattern` with Unicode on, for texts that are not ASCII.
pub(crate) fn unicode_matcher(pattern: &str, flags: Flags) -> Option<meta::Regex> {
    try_unicode_matcher(pattern, flags).ok()
}

/// [`unicode_matcher`], with the reason it cannot be built (a pattern past the `regex`
/// crate's size limits), for compile-time checks.
pub(crate) fn try_unicode_matcher(
    pattern: &str,
    flags: Flags,
) -> Result<meta::Regex, Box<meta::BuildError>> {
    let syntax = syntax::Config::new()
        .case_insensitive(flags.ignore_case)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_all);
    meta::Regex::builder()
        .syntax(syntax)
        .configure(matcher_config())
        .build(pattern)
        .map_err(Box::new)
}

/// The `regex` crate's matcher without its full DFA: with this crate's DFA builder compiled
/// in (for [`AsciiRegex::Dense`]), it would try to determinise every pattern it builds, a
/// cost the `regex` crate does not pay by default and that a hunt pays on its first pass.
fn matcher_config() -> meta::Config {
    meta::Config::new().dfa(false)
}

/// The syntax the `regex` crate's byte matcher is built with (see [`AsciiRegex::new`]).
fn syntax_config(flags: Flags) -> syntax::Config {
    syntax::Config::new()
        .unicode(false)
        .utf8(false)
        .case_insensitive(flags.ignore_case)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_all)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAG_SETS: [Flags; 4] = [
        Flags {
            ignore_case: false,
            multi_line: false,
            dot_all: false,
        },
        Flags {
            ignore_case: true,
            multi_line: false,
            dot_all: false,
        },
        Flags {
            ignore_case: false,
            multi_line: true,
            dot_all: true,
        },
        Flags {
            ignore_case: true,
            multi_line: true,
            dot_all: false,
        },
    ];

    const PATTERNS: [&str; 12] = [
        r"[[:word:]]+`([[:word:]]+|-|.)`[[[:word:]]+|[[:space:]]]",
        r"(?i)echo.*clip.*&&.*(?:Clipboard|i`?n`?v`?o`?k`?e`?)",
        r"^[A-Za-z0-9]{16}$",
        r"^cmd",
        r"exe$",
        r"\bnet\b",
        r"a.b",
        r"(?-i)Set-Content",
        r"\\[a-zA-Z0-9]{1,32}\.[a-zA-Z0-9]{1,6}\.[ \x22']{1}",
        r"^$",
        r"x*",
        r"[^[:space:]]{12}",
    ];

    const TEXTS: [&str; 12] = [
        "",
        "a\nb",
        "axb",
        "powershell -c i`nv`oke-expression`(x`)",
        "ECHO foo | clip && invoke",
        "AbCdEfGh12345678",
        "AbCdEfGh12345678\nsecond",
        "first\ncmd /c whoami",
        "C:\\Windows\\sys.tem.exe",
        "net user /add",
        "internet",
        "set-content \\x.y.\" tail",
    ];

    /// The dense DFA answers as the `regex` crate does, for every flag combination.
    #[test]
    fn the_dense_dfa_agrees_with_the_regex_crate() {
        for flags in FLAG_SETS {
            for pattern in PATTERNS {
                let regex = matcher(pattern, flags).expect("valid pattern");
                let dfa = build_dense(pattern, flags).expect("small DFA");
                let chosen = AsciiRegex::new(pattern, flags).expect("ASCII");
                for text in TEXTS {
                    assert_eq!(
                        chosen.is_match(text.as_bytes()),
                        regex.is_match(text.as_bytes()),
                        "the chosen automaton of {pattern:?} {flags:?} on {text:?}"
                    );
                    let expected = regex.is_match(text.as_bytes());
                    let found = dfa
                        .try_search_fwd(&Input::new(text).earliest(true))
                        .expect("no quit byte in ASCII mode");
                    assert_eq!(
                        found.is_some(),
                        expected,
                        "{pattern:?} {flags:?} on {text:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_pattern_without_leading_literals_gets_a_dense_dfa() {
        let regex = AsciiRegex::new(r"[[:word:]]+`[[:word:]]", FLAG_SETS[1]).expect("ASCII");
        assert!(matches!(regex, AsciiRegex::Dense { .. }));
        assert!(regex.is_match(b"x; i`Nvoke"));
        assert!(!regex.is_match(b"` `x` `"));
    }

    #[test]
    fn a_text_shorter_than_any_match_is_refused() {
        let regex = AsciiRegex::new(r"\s[a-f0-9]{8}\s", FLAG_SETS[0]).expect("ASCII");
        let AsciiRegex::Dense { min_len, .. } = &regex else {
            panic!("a dense DFA");
        };
        assert_eq!(*min_len, 10);
        assert!(regex.is_match(b" abcdef12 "));
        assert!(!regex.is_match(b"abcdef12 "));
        assert!(regex.is_match(b"x abcdef12 y"));
    }

    #[test]
    fn a_pattern_starting_with_literals_gets_the_regex_crate_matcher() {
        let regex = AsciiRegex::new(r"(?i)invoke-\w+", FLAG_SETS[1]).expect("ASCII");
        assert!(matches!(regex, AsciiRegex::Matcher(_)));
        assert!(regex.is_match(b"x; Invoke-Mimikatz"));
        assert!(!regex.is_match(b"invoke-"));
    }

    #[test]
    fn a_pattern_whose_dfa_is_too_large_gets_the_regex_crate_matcher() {
        // `.{n}` from the end grows exponentially when determinised.
        let pattern = r"a.{20}$";
        assert!(build_dense(pattern, FLAG_SETS[0]).is_none());
        let regex = AsciiRegex::new(pattern, FLAG_SETS[0]).expect("ASCII");
        assert!(matches!(regex, AsciiRegex::Matcher(_)));
        assert!(regex.is_match(b"a01234567890123456789"));
        assert!(!regex.is_match(b"a0123456789012345678"));
    }

    #[test]
    fn non_ascii_or_unicode_patterns_get_no_byte_automaton() {
        assert!(AsciiRegex::new("é", FLAG_SETS[0]).is_none());
        assert!(AsciiRegex::new(r"\p{L}", FLAG_SETS[0]).is_none());
    }
}
