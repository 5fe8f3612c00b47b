//! Compiled text patterns: Sigma strings with wildcards, turned into the cheapest matcher.
//!
//! Matching is case-insensitive unless a rule says `cased`. ASCII case folding is done
//! byte by byte without allocating; patterns with non-ASCII letters that must ignore case
//! fall back to a Unicode-aware regular expression.

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

use memchr::memmem;
use regex_automata::meta;

use crate::ascii_regex::{try_unicode_matcher, unicode_matcher, AsciiRegex, Flags};
use crate::needle_set::{Anchor, NeedleSet};
use crate::regex_facts::{min_run, required_inner_literal, required_regex_literals};

/// One element of a pattern after wildcard parsing and placeholder expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Literal text.
    Lit(String),
    /// `*`: any run of characters, including none.
    Star,
    /// `?`: exactly one character.
    One,
}

/// A compiled text pattern.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum TextPattern {
    /// Matches any text (the pattern `*`).
    Any,
    /// The whole text equals the needle.
    Exact(Needle),
    /// The text starts with the needle.
    Prefix(Needle),
    /// The text ends with the needle.
    Suffix(Needle),
    /// The needle occurs anywhere in the text.
    Contains(Needle),
    /// Literal segments separated by `*`, with optional anchoring at either end.
    Glob(Glob),
    /// Anything else (`?` wildcards, non-ASCII case folding, `re`).
    Regex(Box<LazyRegex>),
    /// Several literal values of one test, any of which matches (see [`NeedleSet`]).
    Set(Box<NeedleSet>),
    /// The regular expression `.{n,}` (or `.{n,m}`, the same test when unanchored): a run of
    /// at least `n` characters, newlines breaking runs unless `dot_all`. Rules use it to
    /// flag overlong command lines, and the `regex` crate's automaton for it grows with the
    /// square of `n`, so it falls back to its slowest engine.
    MinRun { chars: usize, dot_all: bool },
}

/// A regular expression compiled on first use. The prefilter rejects most rules before
/// their values are tested, so most expressions of a large rule set never run, and
/// compiling them all up front would cost more than the whole hunt spends on them. The
/// syntax was checked when the rule was compiled, so building it later cannot fail on
/// syntax; should it exceed the regex crate's size limits, it matches nothing.
///
/// Most log text is ASCII, and on ASCII text an ASCII pattern means the same whether `.`
/// and classes range over Unicode characters or over bytes. So an ASCII pattern gets a
/// second, byte-oriented automaton (Unicode off) for ASCII texts, far smaller and quicker
/// to build and to run, while texts with other characters still meet the Unicode automaton.
/// A pattern without leading literals gets a dense DFA there (see [`AsciiRegex`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LazyRegex {
    pattern: Box<str>,
    flags: Flags,
    /// Literals of which every match contains one, for the prefilter (see
    /// [`required_regex_literals`]).
    required: Option<Vec<Box<str>>>,
    /// A run of text every match contains, lowercase (see [`required_inner_literal`]): a
    /// text without it is rejected before any automaton runs.
    inner: Option<Box<str>>,
    #[serde(skip)]
    compiled: OnceLock<Option<meta::Regex>>,
    /// The byte-oriented automaton, for ASCII patterns on ASCII texts.
    #[serde(skip)]
    ascii: OnceLock<Option<AsciiRegex>>,
}

impl LazyRegex {
    fn new(pattern: String, ignore_case: bool, multi_line: bool, dot_all: bool) -> Self {
        LazyRegex {
            pattern: pattern.into(),
            flags: Flags {
                ignore_case,
                multi_line,
                dot_all,
            },
            required: None,
            inner: None,
            compiled: OnceLock::new(),
            ascii: OnceLock::new(),
        }
    }

    fn is_match(&self, hay: &str) -> bool {
        if let Some(inner) = &self.inner {
            if find_ascii_ci(hay.as_bytes(), inner.as_bytes()).is_none() {
                return false;
            }
        }
        if hay.is_ascii() {
            if let Some(ascii) = self.ascii.get_or_init(|| self.build_ascii()) {
                return ascii.is_match(hay.as_bytes());
            }
        }
        self.compiled
            .get_or_init(|| unicode_matcher(&self.pattern, self.flags))
            .as_ref()
            .is_some_and(|re| re.is_match(hay))
    }

    /// Builds the Unicode automaton now rather than at first use, so that a pattern past
    /// the `regex` crate's size limits is refused when its rule is compiled instead of
    /// silently never matching.
    fn build_now(&self) -> Result<(), RegexError> {
        let built = try_unicode_matcher(&self.pattern, self.flags)
            .map_err(|e| RegexError::TooLarge(e.to_string()))?;
        // The cell is new, so it takes the automaton; nothing is lost if it did not.
        let _ = self.compiled.set(Some(built));
        Ok(())
    }

    /// The automaton with Unicode off; `None` when the pattern is not ASCII or needs Unicode
    /// (`\p{L}`), and the Unicode automaton then serves every text.
    fn build_ascii(&self) -> Option<AsciiRegex> {
        AsciiRegex::new(&self.pattern, self.flags)
    }
}

/// Why a regular expression cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RegexError {
    /// The pattern does not parse.
    #[error("{0}")]
    Syntax(Box<regex_syntax::Error>),
    /// The pattern parses but its automaton exceeds the `regex` crate's size limits.
    #[error("too large to compile: {0}")]
    TooLarge(String),
}

/// Above this [`automaton_weight`], a regular expression is built when its rule is
/// compiled, to refuse it then if it is too large; below, building waits for first use (most
/// of a large rule set's regular expressions never meet a candidate text). The `regex`
/// crate's default limit is reached near a weight of a million; ordinary Sigma patterns
/// weigh under a thousand.
const EAGER_BUILD_WEIGHT: u64 = 20_000;

/// A rough upper bound of the size of a pattern's automaton: literal bytes and class
/// ranges, multiplied out by counted repetitions. Cheap, and only used to decide when to
/// build early.
fn automaton_weight(hir: &regex_syntax::hir::Hir) -> u64 {
    use regex_syntax::hir::{Class, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(literal) => literal.0.len() as u64,
        HirKind::Class(Class::Unicode(class)) => 4 * class.ranges().len() as u64,
        HirKind::Class(Class::Bytes(class)) => class.ranges().len() as u64,
        HirKind::Repetition(repetition) => {
            let times = u64::from(repetition.max.unwrap_or(repetition.min).max(repetition.min));
            automaton_weight(&repetition.sub).saturating_mul(times.saturating_add(1))
        }
        HirKind::Capture(capture) => automaton_weight(&capture.sub),
        HirKind::Concat(parts) | HirKind::Alternation(parts) => parts
            .iter()
            .map(automaton_weight)
            .fold(0, u64::saturating_add),
    }
}

/// A literal to look for; lowercased at compile time when matching ignores case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Needle {
    text: Box<str>,
    cased: bool,
    /// The substring searcher of a cased needle (caseless ones use [`find_ascii_ci`]), built
    /// on first use: most needles are only ever compared at an end of the text, if at all.
    #[serde(skip)]
    finder: OnceLock<Box<memmem::Finder<'static>>>,
}

impl Needle {
    fn new(text: &str, cased: bool) -> Self {
        let text: Box<str> = if cased {
            text.into()
        } else {
            text.to_ascii_lowercase().into()
        };
        Needle {
            text,
            cased,
            finder: OnceLock::new(),
        }
    }

    fn eq(&self, hay: &str) -> bool {
        if self.cased {
            hay == &*self.text
        } else {
            hay.as_bytes().eq_ignore_ascii_case(self.text.as_bytes())
        }
    }

    fn prefix_of(&self, hay: &str) -> bool {
        let n = self.text.as_bytes();
        let h = hay.as_bytes();
        h.len() >= n.len() && self.bytes_eq(&h[..n.len()])
    }

    fn suffix_of(&self, hay: &str) -> bool {
        let n = self.text.as_bytes();
        let h = hay.as_bytes();
        h.len() >= n.len() && self.bytes_eq(&h[h.len() - n.len()..])
    }

    fn bytes_eq(&self, h: &[u8]) -> bool {
        if self.cased {
            h == self.text.as_bytes()
        } else {
            h.eq_ignore_ascii_case(self.text.as_bytes())
        }
    }

    /// Byte offset of the first occurrence at or after `from`.
    fn find(&self, hay: &str, from: usize) -> Option<usize> {
        let h = hay.as_bytes().get(from..)?;
        if self.cased {
            let finder = self
                .finder
                .get_or_init(|| Box::new(memmem::Finder::new(self.text.as_bytes()).into_owned()));
            return finder.find(h).map(|i| i + from);
        }
        find_ascii_ci(h, self.text.as_bytes()).map(|i| i + from)
    }
}

/// ASCII case-insensitive substring search; `needle` is already lowercase.
///
/// It looks for the needle's least common byte (in either case) with `memchr` and compares
/// the whole needle around each hit: anchoring on the first byte, as a plain search would,
/// stops at every `e`, `\\` or space of a command line.
fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if hay.len() < needle.len() {
        return None;
    }
    let rare = rarest_byte(needle);
    let byte = needle[rare];
    let upper = byte.to_ascii_uppercase();
    // Positions of the rare byte that leave room for the needle around it.
    let window = &hay[rare..=hay.len() - needle.len() + rare];
    let mut pos = 0;
    while pos < window.len() {
        let found = if upper == byte {
            memchr::memchr(byte, &window[pos..])
        } else {
            memchr::memchr2(byte, upper, &window[pos..])
        };
        let start = pos + found?;
        if hay[start..start + needle.len()].eq_ignore_ascii_case(needle) {
            return Some(start);
        }
        pos = start + 1;
    }
    None
}

/// The index in `needle` (lowercase) of its least common byte in log text.
fn rarest_byte(needle: &[u8]) -> usize {
    let mut best = 0;
    for (i, &b) in needle.iter().enumerate() {
        if commonness(b) < commonness(needle[best]) {
            best = i;
        }
    }
    best
}

/// How common a lowercase byte is in event text: the most frequent letters of English and
/// of Windows paths and command lines, separators and digits rank high; anything else,
/// including rare letters and punctuation, ranks 0.
fn commonness(byte: u8) -> u8 {
    COMMONNESS[usize::from(byte)]
}

/// [`commonness`] of every byte.
const COMMONNESS: [u8; 256] = {
    const BY_FREQUENCY: &[u8] = b" e\\tsaoirnlcmd.xp0-1/hu2:fgw=3y5b49678v_k";
    let mut table = [0u8; 256];
    let mut rank = 0;
    while rank < BY_FREQUENCY.len() {
        table[BY_FREQUENCY[rank] as usize] = (BY_FREQUENCY.len() - rank) as u8;
        rank += 1;
    }
    table
};

/// Literal segments between `*` wildcards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Glob {
    anchored_start: bool,
    anchored_end: bool,
    segments: Vec<Needle>,
}

impl Glob {
    fn is_match(&self, hay: &str) -> bool {
        let mut segments = self.segments.as_slice();
        let mut pos = 0;
        if self.anchored_start {
            let Some((first, rest)) = segments.split_first() else {
                return hay.is_empty() || !self.anchored_end;
            };
            if !first.prefix_of(hay) {
                return false;
            }
            pos = first.text.len();
            segments = rest;
        }
        let mut tail = None;
        if self.anchored_end {
            if let Some((last, rest)) = segments.split_last() {
                tail = Some(last);
                segments = rest;
            } else {
                return pos == hay.len();
            }
        }
        for segment in segments {
            match segment.find(hay, pos) {
                Some(i) => pos = i + segment.text.len(),
                None => return false,
            }
        }
        match tail {
            Some(last) => hay.len() >= pos + last.text.len() && last.suffix_of(hay),
            None => true,
        }
    }
}

impl TextPattern {
    /// Whether a needle set holds a single pattern for each of its literals (see
    /// [`crate::Engine::validate`]).
    pub(crate) fn is_within(&self) -> bool {
        match self {
            TextPattern::Set(set) => set.is_within(),
            _ => true,
        }
    }

    /// Compiles `parts` into patterns any of which matches; `cased` keeps letter case
    /// significant. A caseless literal with non-ASCII letters (`ПРИВЕТ`, `Ⓜ`) becomes one
    /// literal per spelling under Unicode simple case folding, when there are at most
    /// [`MAX_CASE_VARIANTS`]: literals search much faster than the regular expression
    /// [`TextPattern::compile`] falls back to, and the prefilter can use them.
    pub(crate) fn compile_variants(parts: &[Part], cased: bool) -> Vec<TextPattern> {
        let parts = normalise(parts);
        let literal_count = parts.iter().filter(|p| matches!(p, Part::Lit(_))).count();
        let plain = literal_count == 1 && !cased && !parts.contains(&Part::One);
        let variants = match parts.iter().find_map(|p| match p {
            Part::Lit(s) if plain && has_non_ascii_case(s) => Some(case_variants(s)),
            _ => None,
        }) {
            Some(Some(variants)) => variants,
            _ => return vec![TextPattern::compile(&parts, cased)],
        };
        variants
            .into_iter()
            .map(|variant| {
                let spelled: Vec<Part> = parts
                    .iter()
                    .map(|p| match p {
                        Part::Lit(_) => Part::Lit(variant.clone()),
                        other => other.clone(),
                    })
                    .collect();
                TextPattern::compile_ascii_folded(&spelled, false)
            })
            .collect()
    }

    /// Compiles `parts` into one pattern; `cased` keeps letter case significant.
    pub(crate) fn compile(parts: &[Part], cased: bool) -> TextPattern {
        let parts = normalise(parts);
        let needs_regex = parts.iter().any(|p| match p {
            Part::One => true,
            Part::Lit(s) => !cased && has_non_ascii_case(s),
            Part::Star => false,
        });
        if needs_regex {
            return TextPattern::Regex(Box::new(glob_regex(&parts, cased)));
        }
        TextPattern::compile_ascii_folded(&parts, cased)
    }

    /// Compiles normalised `parts` without `?`, folding only ASCII letters unless `cased`.
    fn compile_ascii_folded(parts: &[Part], cased: bool) -> TextPattern {
        let starts_star = parts.first() == Some(&Part::Star);
        let ends_star = parts.len() > 1 && parts.last() == Some(&Part::Star);
        let literals: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Lit(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        let needle = |s: &str| Needle::new(s, cased);
        match (starts_star, ends_star, literals.as_slice()) {
            (true, _, []) => TextPattern::Any,
            (false, false, []) => TextPattern::Exact(needle("")),
            (false, false, [one]) => TextPattern::Exact(needle(one)),
            (false, true, [one]) => TextPattern::Prefix(needle(one)),
            (true, false, [one]) => TextPattern::Suffix(needle(one)),
            (true, true, [one]) => TextPattern::Contains(needle(one)),
            (s, e, many) => TextPattern::Glob(Glob {
                anchored_start: !s,
                anchored_end: !e,
                segments: many.iter().map(|m| needle(m)).collect(),
            }),
        }
    }

    /// A regular expression (`re` modifier) with its flags; its syntax is checked now, the
    /// automaton is built on first use (see [`LazyRegex`]). `\d`, `\w` and `\s` are ASCII
    /// classes, as in PCRE, the flavour Sigma specifies (see [`crate::pcre`]).
    pub(crate) fn regex(
        pattern: &str,
        ignore_case: bool,
        multi_line: bool,
        dot_all: bool,
    ) -> Result<TextPattern, RegexError> {
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(ignore_case)
            .multi_line(multi_line)
            .dot_matches_new_line(dot_all)
            .build()
            .parse(pattern)
            .map_err(|e| RegexError::Syntax(Box::new(e)))?;
        if let Some(chars) = min_run(&hir) {
            return Ok(TextPattern::MinRun { chars, dot_all });
        }
        let mut regex = LazyRegex::new(
            crate::pcre::with_ascii_perl_classes(pattern),
            ignore_case,
            multi_line,
            dot_all,
        );
        regex.required = required_regex_literals(&hir);
        regex.inner = required_inner_literal(&hir).map(String::into_boxed_str);
        // The inner run is the better prefilter literal when it is longer than the
        // shortest of the prefixes or suffixes.
        if let Some(inner) = &regex.inner {
            let shortest = regex
                .required
                .as_ref()
                .and_then(|set| set.iter().map(|l| l.len()).min());
            if shortest.is_none_or(|len| inner.len() > len) {
                regex.required = Some(vec![inner.clone()]);
            }
        }
        if automaton_weight(&hir) > EAGER_BUILD_WEIGHT {
            regex.build_now()?;
        }
        Ok(TextPattern::Regex(Box::new(regex)))
    }

    /// Literals of which every matching text contains one (ASCII case aside), for the
    /// prefilter: the longest literal piece of a wildcard pattern, each value of a set;
    /// `None` for `*`, the empty string and regular expressions.
    pub(crate) fn required_literals(&self) -> Option<Vec<&str>> {
        let needle = match self {
            TextPattern::Exact(n)
            | TextPattern::Prefix(n)
            | TextPattern::Suffix(n)
            | TextPattern::Contains(n) => n,
            TextPattern::Glob(g) => g.segments.iter().max_by_key(|n| n.text.len())?,
            TextPattern::Set(set) => return Some(set.literals().collect()),
            TextPattern::Regex(regex) => {
                return regex
                    .required
                    .as_ref()
                    .map(|all| all.iter().map(|l| &**l).collect())
            }
            TextPattern::Any | TextPattern::MinRun { .. } => return None,
        };
        (!needle.text.is_empty()).then(|| vec![&*needle.text])
    }

    /// The needle of a plain literal pattern (exact, prefix, suffix or contains): its text
    /// (lowercase unless cased), whether it is cased, and where it must sit.
    pub(crate) fn anchored_needle(&self) -> Option<(&str, bool, Anchor)> {
        let (needle, anchor) = match self {
            TextPattern::Exact(n) => (n, Anchor::Exact),
            TextPattern::Prefix(n) => (n, Anchor::Prefix),
            TextPattern::Suffix(n) => (n, Anchor::Suffix),
            TextPattern::Contains(n) => (n, Anchor::Contains),
            _ => return None,
        };
        Some((&needle.text, needle.cased, anchor))
    }

    /// Whether `hay` matches.
    pub(crate) fn is_match(&self, hay: &str) -> bool {
        match self {
            TextPattern::Any => true,
            TextPattern::Exact(n) => n.eq(hay),
            TextPattern::Prefix(n) => n.prefix_of(hay),
            TextPattern::Suffix(n) => n.suffix_of(hay),
            TextPattern::Contains(n) => n.find(hay, 0).is_some(),
            TextPattern::Glob(g) => g.is_match(hay),
            TextPattern::Regex(r) => r.is_match(hay),
            TextPattern::Set(set) => set.is_match(hay),
            TextPattern::MinRun { chars, dot_all } => has_run(hay, *chars, *dot_all),
        }
    }
}

/// Whether `hay` has `chars` characters in a row, none of them a newline unless `dot_all`.
fn has_run(hay: &str, chars: usize, dot_all: bool) -> bool {
    if hay.len() < chars {
        return false;
    }
    if dot_all {
        return hay.chars().nth(chars - 1).is_some();
    }
    hay.split('\n')
        .any(|line| line.len() >= chars && line.chars().nth(chars - 1).is_some())
}

/// Merges adjacent literals and collapses runs of `*`.
fn normalise(parts: &[Part]) -> Vec<Part> {
    let mut out: Vec<Part> = Vec::with_capacity(parts.len());
    for part in parts {
        match (out.last_mut(), part) {
            (Some(Part::Lit(prev)), Part::Lit(s)) => prev.push_str(s),
            (Some(Part::Star), Part::Star) => {}
            (_, Part::Lit(s)) if s.is_empty() => {}
            _ => out.push(part.clone()),
        }
    }
    out
}

/// The most spellings [`TextPattern::compile_variants`] makes of one caseless literal.
pub(crate) const MAX_CASE_VARIANTS: usize = 16;

/// Every spelling of `text` under Unicode simple case folding of its non-ASCII characters
/// (ASCII letters are folded by the matchers), or `None` when there are more than
/// [`MAX_CASE_VARIANTS`].
fn case_variants(text: &str) -> Option<Vec<String>> {
    let mut variants = vec![String::with_capacity(text.len())];
    for c in text.chars() {
        let orbit = case_orbit(c);
        if variants.len() * orbit.len() > MAX_CASE_VARIANTS {
            return None;
        }
        variants = variants
            .iter()
            .flat_map(|v| {
                orbit.iter().map(move |&o| {
                    let mut next = v.clone();
                    next.push(o);
                    next
                })
            })
            .collect();
    }
    Some(variants)
}

/// `c` and the characters it matches under Unicode simple case folding, as the `regex`
/// crate folds them; ASCII characters stand for themselves.
fn case_orbit(c: char) -> Vec<char> {
    use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};
    if c.is_ascii() {
        return vec![c];
    }
    let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
    class.case_fold_simple();
    class.iter().flat_map(|r| r.start()..=r.end()).collect()
}

/// Whether `text` has a non-ASCII letter whose case can change (Cyrillic, Greek, ...): only
/// those need Unicode case folding; emoji and other caseless symbols match byte for byte.
fn has_non_ascii_case(text: &str) -> bool {
    text.chars()
        .any(|c| !c.is_ascii() && (c.to_lowercase().ne(Some(c)) || c.to_uppercase().ne(Some(c))))
}

/// A regular expression equivalent to a wildcard pattern, anchored only at the ends that
/// have no `*` (an unanchored search lets the regex engine use its literal prefilters).
fn glob_regex(parts: &[Part], cased: bool) -> LazyRegex {
    let mut re = String::new();
    let parts = parts.strip_prefix(&[Part::Star]).unwrap_or_else(|| {
        re.push('^');
        parts
    });
    let (parts, anchor_end) = match parts.strip_suffix(&[Part::Star]) {
        Some(inner) => (inner, false),
        None => (parts, true),
    };
    for part in parts {
        match part {
            Part::Lit(s) => re.push_str(&regex::escape(s)),
            Part::Star => re.push_str(".*"),
            Part::One => re.push('.'),
        }
    }
    if anchor_end {
        re.push('$');
    }
    LazyRegex::new(re, !cased, false, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(pattern: &str) -> Vec<Part> {
        pattern
            .split_inclusive(['*', '?'])
            .flat_map(|chunk| {
                let (lit, wild) = match chunk.chars().last() {
                    Some(c @ ('*' | '?')) => (&chunk[..chunk.len() - 1], Some(c)),
                    _ => (chunk, None),
                };
                let mut v = vec![Part::Lit(lit.to_string())];
                match wild {
                    Some('*') => v.push(Part::Star),
                    Some('?') => v.push(Part::One),
                    _ => {}
                }
                v
            })
            .collect()
    }

    fn check(pattern: &str, cased: bool, hay: &str) -> bool {
        TextPattern::compile(&parts(pattern), cased).is_match(hay)
    }

    #[test]
    fn exact_is_case_insensitive_by_default() {
        assert!(check("cmd.exe", false, "CMD.EXE"));
        assert!(!check("cmd.exe", false, "cmd.exe "));
        assert!(!check("cmd.exe", true, "CMD.EXE"));
    }

    #[test]
    fn prefix_suffix_contains() {
        assert!(check("*\\cmd.exe", false, "C:\\Windows\\System32\\CMD.exe"));
        assert!(!check("*\\cmd.exe", false, "C:\\cmd.exe.bak"));
        assert!(check("C:\\Users\\*", false, "c:\\users\\bob"));
        assert!(check("*mimikatz*", false, "run MimiKatz now"));
        assert!(!check("*mimikatz*", false, "mimi katz"));
    }

    #[test]
    fn glob_with_several_segments() {
        assert!(check(
            "*\\AppData\\*\\*.exe",
            false,
            "C:\\Users\\x\\AppData\\Local\\a.exe"
        ));
        assert!(!check(
            "*\\AppData\\*\\*.exe",
            false,
            "C:\\Users\\x\\AppData\\a.dll"
        ));
        assert!(check("a*b*c", false, "abc"));
        assert!(check("a*b*c", false, "aXXbYYc"));
        assert!(!check("a*b*c", false, "aXXcYYb"));
        // the suffix may not overlap the prefix
        assert!(!check("ab*ba", false, "aba"));
    }

    #[test]
    fn single_character_wildcard() {
        assert!(check("prog?.exe", false, "progA.exe"));
        assert!(!check("prog?.exe", false, "prog.exe"));
        assert!(!check("prog?.exe", false, "progAB.exe"));
    }

    #[test]
    fn star_alone_matches_everything_and_empty_matches_only_empty() {
        assert!(check("*", false, ""));
        assert!(check("*", false, "x"));
        assert!(check("", false, ""));
        assert!(!check("", false, "x"));
    }

    #[test]
    fn non_ascii_case_folding_uses_unicode() {
        assert!(check("*ПРИВЕТ*", false, "say привет"));
        assert!(!check("*ПРИВЕТ*", true, "say привет"));
        assert!(check("ПРИВЕТ*", false, "привет мир"));
        assert!(!check("ПРИВЕТ*", false, "мир привет"));
        assert!(check("*ПРИВЕТ", false, "мир привет"));
        assert!(!check("*ПРИВЕТ", false, "привет мир"));
        assert!(check("пр?вет", false, "ПРИВЕТ"));
    }

    fn check_variants(pattern: &str, hay: &str) -> bool {
        TextPattern::compile_variants(&parts(pattern), false)
            .iter()
            .any(|p| p.is_match(hay))
    }

    #[test]
    fn non_ascii_letters_become_literal_spellings() {
        let variants = TextPattern::compile_variants(&parts("*Ⓜ️*"), false);
        assert_eq!(
            variants.len(),
            2,
            "Ⓜ and ⓜ; the variation selector has no case"
        );
        assert!(variants
            .iter()
            .all(|v| matches!(v, TextPattern::Contains(_))));
        for (pattern, hay, expected) in [
            ("*Ⓜ️*", "echo ⓜ️ x", true),
            ("*Ⓜ️*", "echo Ⓜ️ x", true),
            ("*Ⓜ️*", "echo M x", false),
            ("*ПРИВЕТ*", "say привет", true),
            ("а*", "А1", true),
            ("*а", "1А", true),
            ("а", "А", true),
            ("а", "a", false),
            ("*σ*", "ΣΑ", true),
            ("*σ*", "ς", true),
        ] {
            assert_eq!(check_variants(pattern, hay), expected, "{pattern} on {hay}");
            // The regular expression the single-pattern compiler falls back to agrees.
            assert_eq!(check(pattern, false, hay), expected, "{pattern} on {hay}");
        }
    }

    #[test]
    fn too_many_spellings_fall_back_to_a_regex() {
        // Six Cyrillic letters: 64 spellings.
        let variants = TextPattern::compile_variants(&parts("*ПРИВЕТ*"), false);
        assert!(matches!(variants.as_slice(), [TextPattern::Regex(_)]));
        assert!(variants[0].is_match("say привет"));
        // `?` and cased patterns are not spelled out either.
        let one = TextPattern::compile_variants(&parts("п?"), false);
        assert!(matches!(one.as_slice(), [TextPattern::Regex(_)]));
        let cased = TextPattern::compile_variants(&parts("*п*"), true);
        assert!(matches!(cased.as_slice(), [TextPattern::Contains(_)]));
    }

    #[test]
    fn caseless_symbols_need_no_unicode_folding() {
        assert!(!has_non_ascii_case("🙂 ✓ ∞"));
        assert!(has_non_ascii_case("straße"));
        assert!(has_non_ascii_case("Ω"));
        let pattern = TextPattern::compile(&parts("*🙂*"), false);
        assert!(matches!(pattern, TextPattern::Contains(_)));
        assert!(pattern.is_match("echo 🙂 DONE"));
        assert!(!pattern.is_match("echo :) DONE"));
    }

    fn required(pattern: &str, ignore_case: bool) -> Option<Vec<String>> {
        let regex = TextPattern::regex(pattern, ignore_case, false, false).expect("valid");
        let mut literals: Vec<String> = regex
            .required_literals()?
            .into_iter()
            .map(|l| l.to_ascii_lowercase())
            .collect();
        literals.sort();
        literals.dedup();
        Some(literals)
    }

    #[test]
    fn regexes_give_the_literals_every_match_contains() {
        assert_eq!(
            required(r"\$PSHome\[\s*\d{1,3}\s*\]", false),
            Some(vec!["$pshome[".to_string()])
        );
        assert_eq!(
            required(r"(?:cmd|powershell)\.exe$", false),
            Some(vec!["cmd.exe".to_string(), "powershell.exe".to_string()])
        );
        // Case-insensitive: every spelling, which the prefilter folds together again.
        assert_eq!(required(r"whoami", true), Some(vec!["whoami".to_string()]));
        assert_eq!(required(r".{1000,}", false), None);
        assert_eq!(
            required(r"a*", false),
            None,
            "the empty match constrains nothing"
        );
    }

    #[test]
    fn long_runs_are_counted_in_characters() {
        let run = TextPattern::regex(".{5,}", false, false, false).expect("valid");
        assert!(matches!(run, TextPattern::MinRun { chars: 5, .. }));
        let bounded = TextPattern::regex(".{5,9}", false, false, true).expect("valid");
        assert!(matches!(
            bounded,
            TextPattern::MinRun {
                chars: 5,
                dot_all: true
            }
        ));
        for (pattern, dot_all, hay, expected) in [
            (".{5,}", false, "abcde", true),
            (".{5,}", false, "abcd", false),
            (".{5,}", false, "ab\ncde", false),
            (".{5,}", true, "ab\ncde", true),
            (".{5,}", false, "ääääb", true),
            (".{5,}", false, "äää", false),
            (".{5,9}", false, "x\nabcdefghijklmn", true),
        ] {
            let fast = TextPattern::regex(pattern, false, false, dot_all).expect("valid");
            let plain = regex::RegexBuilder::new(pattern)
                .dot_matches_new_line(dot_all)
                .build()
                .expect("valid");
            assert_eq!(fast.is_match(hay), expected, "{pattern} on {hay:?}");
            assert_eq!(plain.is_match(hay), expected, "{pattern} on {hay:?}");
        }
        // Anchored or other classes stay regular expressions.
        for pattern in ["^.{5,}", "a{5,}", "[ab]{5,}", ".{0,3}"] {
            let regex = TextPattern::regex(pattern, false, false, false).expect("valid");
            assert!(matches!(regex, TextPattern::Regex(_)), "{pattern}");
        }
    }

    #[test]
    fn ascii_and_unicode_texts_meet_the_same_regex() {
        for (pattern, ignore_case, hay, expected) in [
            (r".{5,}", false, "abcde", true),
            (r".{5,}", false, "abcd", false),
            (r"^.{3}$", false, "äöü", true),
            (r"^.{3}$", false, "abc", true),
            (r"^a.c$", false, "a\u{e9}c", true),
            (r"^[^x]$", false, "é", true),
            (r"\bcmd\b", true, "run CMD now", true),
            (r"\bcmd\b", true, "runcmdnow", false),
            (r"\p{Greek}", false, "abc", false),
            (r"\p{Greek}", false, "αβγ", true),
            (r"(?i)straße", false, "STRASSE", false),
        ] {
            let regex = TextPattern::regex(pattern, ignore_case, false, false).expect("valid");
            assert_eq!(regex.is_match(hay), expected, "{pattern} on {hay}");
        }
    }

    #[test]
    fn invalid_regex_is_refused_when_compiled() {
        assert!(TextPattern::regex("a(b", false, false, false).is_err());
    }

    #[test]
    fn a_regex_past_the_size_limit_is_refused_when_compiled() {
        // Issue 20, finding 12: it used to compile, then never match.
        let error = TextPattern::regex(r"\p{L}{2000}", false, false, false).expect_err("refused");
        assert!(matches!(error, RegexError::TooLarge(_)), "{error}");
        assert!(error.to_string().contains("too large"), "{error}");
        // Heavy but buildable: built early, and it matches.
        let heavy = TextPattern::regex(r"[a-z]{300}", false, false, false).expect("valid");
        assert!(heavy.is_match(&"q".repeat(300)));
        assert!(!heavy.is_match(&"q".repeat(299)));
    }

    #[test]
    fn regex_flags() {
        let re = TextPattern::regex("^a.b$", false, false, false).expect("valid");
        assert!(re.is_match("axb"));
        assert!(!re.is_match("AXB"));
        assert!(!re.is_match("a\nb"));
        assert!(TextPattern::regex("^a.b$", true, false, true)
            .expect("valid")
            .is_match("A\nB"));
        assert!(TextPattern::regex("^b$", false, true, false)
            .expect("valid")
            .is_match("a\nb"));
    }

    #[test]
    fn ascii_search_handles_repeats_and_edges() {
        assert_eq!(find_ascii_ci(b"aaab", b"aab"), Some(1));
        assert_eq!(find_ascii_ci(b"AB", b"ab"), Some(0));
        assert_eq!(find_ascii_ci(b"a", b"ab"), None);
        assert_eq!(find_ascii_ci(b"xyz", b""), Some(0));
    }

    /// Anchoring on the rarest byte still finds the leftmost occurrence, at either end.
    #[test]
    fn ascii_search_finds_the_leftmost_occurrence_like_a_plain_search() {
        let naive = |hay: &[u8], needle: &[u8]| {
            hay.windows(needle.len())
                .position(|w| w.eq_ignore_ascii_case(needle))
        };
        let hays: [&[u8]; 6] = [
            b"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -enc QQB",
            b"xx-ab-c-AB-C",
            b"zzzz",
            b"q",
            b"",
            b"eeeee eqe qqe",
        ];
        let needles: [&[u8]; 8] = [
            b"powershell.exe",
            b"ab-c",
            b"\\windows\\",
            b"z",
            b"zz",
            b"qe",
            b" -enc ",
            b"e e",
        ];
        for hay in hays {
            for needle in needles {
                assert_eq!(
                    find_ascii_ci(hay, needle),
                    naive(hay, needle),
                    "{:?} in {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(hay)
                );
            }
        }
    }
}
