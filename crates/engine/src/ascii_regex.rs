//! The byte automaton of an ASCII regular expression, for ASCII texts (see
//! [`crate::text::LazyRegex`]).
//!
//! It starts as the `regex` crate's matcher, which is quick to build. A pattern that keeps
//! being tested and does not start with literals is then determinised once into a dense
//! DFA. For a yes/no answer the dense DFA walks each byte once and stops at the first match,
//! where the `regex` crate picks a strategy made for finding match positions: for
//! PowerShell's `` \w+`(\w+|-|.)`… `` over script blocks, its reverse search from every
//! backtick took eight times as long. A pattern that starts with literals keeps the `regex`
//! crate's matcher, whose literal prefilter skips to each occurrence; patterns tested only a
//! few times never pay for the determinisation; a pattern whose DFA would be large keeps the
//! `regex` crate's matcher.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::nfa::thompson;
use regex_automata::util::prefilter::Prefilter;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind};

/// Tests after which a pattern gets its dense DFA.
const DENSE_AFTER: u32 = 64;

/// The largest dense DFA built, in bytes; a larger one is abandoned for the `regex` crate's
/// matcher.
const DENSE_LIMIT: usize = 256 * 1024;

/// The flags a pattern is compiled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flags {
    /// `(?i)`, with ASCII case folding.
    pub(crate) ignore_case: bool,
    /// `(?m)`: `^` and `$` match at line ends.
    pub(crate) multi_line: bool,
    /// `(?s)`: `.` matches `\n`.
    pub(crate) dot_all: bool,
}

/// An ASCII pattern compiled with Unicode off, for ASCII texts.
#[derive(Debug)]
pub(crate) struct AsciiRegex {
    pattern: Box<str>,
    flags: Flags,
    matcher: regex::bytes::Regex,
    uses: AtomicU32,
    dense: OnceLock<Option<dense::DFA<Vec<u32>>>>,
}

impl Clone for AsciiRegex {
    fn clone(&self) -> Self {
        AsciiRegex {
            pattern: self.pattern.clone(),
            flags: self.flags,
            matcher: self.matcher.clone(),
            uses: AtomicU32::new(self.uses.load(Ordering::Relaxed)),
            dense: self.dense.clone(),
        }
    }
}

impl AsciiRegex {
    /// The automaton of `pattern`; `None` when the pattern is not ASCII or needs Unicode
    /// (`\p{L}`).
    pub(crate) fn new(pattern: &str, flags: Flags) -> Option<AsciiRegex> {
        if !pattern.is_ascii() {
            return None;
        }
        let matcher = regex::bytes::RegexBuilder::new(pattern)
            .unicode(false)
            .case_insensitive(flags.ignore_case)
            .multi_line(flags.multi_line)
            .dot_matches_new_line(flags.dot_all)
            .build()
            .ok()?;
        Some(AsciiRegex {
            pattern: pattern.into(),
            flags,
            matcher,
            uses: AtomicU32::new(0),
            dense: OnceLock::new(),
        })
    }

    /// Whether the pattern matches somewhere in `hay` (ASCII text).
    pub(crate) fn is_match(&self, hay: &[u8]) -> bool {
        let dense = match self.dense.get() {
            Some(dense) => dense.as_ref(),
            None if self.uses.fetch_add(1, Ordering::Relaxed) >= DENSE_AFTER => self
                .dense
                .get_or_init(|| dense_dfa(&self.pattern, self.flags))
                .as_ref(),
            None => None,
        };
        if let Some(dfa) = dense {
            if let Ok(found) = dfa.try_search_fwd(&Input::new(hay).earliest(true)) {
                return found.is_some();
            }
        }
        self.matcher.is_match(hay)
    }
}

/// The dense DFA of `pattern`; `None` when the pattern starts with literals (the `regex`
/// crate then searches forward from each occurrence with a literal prefilter, as quick as a
/// DFA) or when the DFA would exceed [`DENSE_LIMIT`].
fn dense_dfa(pattern: &str, flags: Flags) -> Option<dense::DFA<Vec<u32>>> {
    let hir = syntax::parse_with(pattern, &syntax_config(flags)).ok()?;
    if Prefilter::from_hir_prefix(MatchKind::LeftmostFirst, &hir).is_some() {
        return None;
    }
    build_dense(pattern, flags)
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
                let regex = AsciiRegex::new(pattern, flags).expect("ASCII pattern");
                let dfa = build_dense(pattern, flags).expect("small DFA");
                for text in TEXTS {
                    let expected = regex.matcher.is_match(text.as_bytes());
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
    fn a_pattern_tested_often_switches_to_the_dense_dfa_and_keeps_its_answers() {
        let regex = AsciiRegex::new(r"[[:word:]]+`[[:word:]]", FLAG_SETS[1]).expect("ASCII");
        for round in 0..2 * DENSE_AFTER {
            assert!(regex.is_match(b"x; i`Nvoke"), "round {round}");
            assert!(!regex.is_match(b"` `x` `"), "round {round}");
        }
        assert!(matches!(regex.dense.get(), Some(Some(_))));
    }

    #[test]
    fn a_pattern_starting_with_literals_keeps_the_regex_crate_matcher() {
        let regex = AsciiRegex::new(r"(?i)invoke-\w+", FLAG_SETS[1]).expect("ASCII");
        for _ in 0..2 * DENSE_AFTER {
            assert!(regex.is_match(b"x; Invoke-Mimikatz"));
        }
        assert!(matches!(regex.dense.get(), Some(None)));
    }

    #[test]
    fn a_pattern_whose_dfa_is_too_large_keeps_the_regex_crate_matcher() {
        // `.{n}` from the end grows exponentially when determinised.
        let pattern = r"a.{20}$";
        assert!(build_dense(pattern, FLAG_SETS[0]).is_none());
        let regex = AsciiRegex::new(pattern, FLAG_SETS[0]).expect("ASCII");
        for _ in 0..2 * DENSE_AFTER {
            assert!(regex.is_match(b"a01234567890123456789"));
            assert!(!regex.is_match(b"a0123456789012345678"));
        }
    }

    #[test]
    fn non_ascii_or_unicode_patterns_get_no_byte_automaton() {
        assert!(AsciiRegex::new("é", FLAG_SETS[0]).is_none());
        assert!(AsciiRegex::new(r"\p{L}", FLAG_SETS[0]).is_none());
    }
}
