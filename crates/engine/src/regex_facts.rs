//! What the engine learns from a regular expression's syntax tree before running it: the
//! literals every match contains (for the prefilter, and to reject texts without running
//! the automaton) and the `.{n,}` shape (see [`crate::text::TextPattern::MinRun`]).

use regex_syntax::hir::{Class, Hir, HirKind};

/// `n` when the regular expression is an unanchored `.{n,}` or `.{n,m}`.
pub(crate) fn min_run(hir: &Hir) -> Option<usize> {
    let HirKind::Repetition(repetition) = hir.kind() else {
        return None;
    };
    let HirKind::Class(Class::Unicode(class)) = repetition.sub.kind() else {
        return None;
    };
    // `.` is every character, or every character but `\n`.
    let ranges: Vec<(char, char)> = class.iter().map(|r| (r.start(), r.end())).collect();
    let dot = matches!(
        ranges.as_slice(),
        [('\0', '\u{10FFFF}')] | [('\0', '\t'), ('\u{0B}', '\u{10FFFF}')]
    );
    (dot && repetition.min > 0).then_some(repetition.min as usize)
}

/// Literals of which every match of the regular expression contains one: its prefixes or
/// its suffixes as `regex-syntax` extracts them, whichever set has the longer shortest
/// literal; `None` when neither set is finite, or one of its literals is empty or not text.
pub(crate) fn required_regex_literals(hir: &Hir) -> Option<Vec<Box<str>>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let literals = |kind| -> Option<Vec<Box<str>>> {
        let seq = Extractor::new().kind(kind).extract(hir);
        let literals = seq.literals()?;
        literals
            .iter()
            .map(|l| {
                let text = std::str::from_utf8(l.as_bytes()).ok()?;
                (!text.is_empty()).then(|| text.into())
            })
            .collect()
    };
    let shortest = |set: &Option<Vec<Box<str>>>| {
        set.as_ref()
            .and_then(|s| s.iter().map(|l| l.len()).min())
            .unwrap_or(0)
    };
    let prefixes = literals(ExtractKind::Prefix);
    let suffixes = literals(ExtractKind::Suffix);
    if shortest(&suffixes) > shortest(&prefixes) {
        suffixes
    } else {
        prefixes
    }
}

/// The longest run of plain characters every match contains, lowercased, when it has at
/// least [`MIN_INNER`] bytes: `ecure.exe` in `(?i)\.exe\s+[^"]{0,64}werfaultsecure\.exe`.
/// A text without it (ASCII case aside) cannot match, and is rejected with a substring
/// search instead of the automaton, which for bounded repetitions such as `[^"]{0,64}` is
/// the regex crate's slowest engine.
///
/// A run is built from literal characters and from classes that are exactly one ASCII letter
/// in both cases (how `(?i)` writes letters); a class with anything else (`k` under Unicode
/// case folding also matches the Kelvin sign) ends the run, so the run is always a true
/// requirement. Groups and repetitions of at least one are searched inside.
pub(crate) fn required_inner_literal(hir: &Hir) -> Option<String> {
    let mut runs = Runs::default();
    runs.walk(hir);
    runs.end();
    (runs.best.len() >= MIN_INNER).then_some(runs.best)
}

/// Even one required character is worth a `memchr` before a regular expression runs (the
/// prefilter keeps its own, higher minimum).
const MIN_INNER: usize = 1;

/// The run of plain characters being read, and the longest one seen.
#[derive(Default)]
struct Runs {
    run: String,
    best: String,
}

impl Runs {
    /// Ends the current run, keeping it if it is the longest.
    fn end(&mut self) {
        if self.run.len() > self.best.len() {
            self.best = std::mem::take(&mut self.run);
        }
        self.run.clear();
    }

    /// Extends the run with the plain characters `hir` consumes, in order.
    fn walk(&mut self, hir: &Hir) {
        match hir.kind() {
            HirKind::Literal(literal) => match std::str::from_utf8(&literal.0) {
                Ok(text) => self.run.push_str(&text.to_ascii_lowercase()),
                Err(_) => self.end(),
            },
            HirKind::Class(class) => match ascii_letter(class) {
                Some(letter) => self.run.push(letter),
                None => self.end(),
            },
            HirKind::Concat(items) => items.iter().for_each(|item| self.walk(item)),
            HirKind::Capture(capture) => self.walk(&capture.sub),
            HirKind::Repetition(repetition) if repetition.min >= 1 => {
                // The content is required, but what follows it is not next to this run.
                self.end();
                self.walk(&repetition.sub);
                self.end();
            }
            // Alternatives, optional parts, empty matches and look-arounds: nothing here is
            // known to be consumed next to the run, so it ends.
            _ => self.end(),
        }
    }
}

/// The lowercase letter a class stands for when it is exactly `[Xx]` (or one ASCII
/// character).
fn ascii_letter(class: &Class) -> Option<char> {
    let chars: Vec<char> = match class {
        Class::Unicode(class) => class
            .iter()
            .flat_map(|r| r.start()..=r.end())
            .take(3)
            .collect(),
        Class::Bytes(class) => class
            .iter()
            .flat_map(|r| r.start()..=r.end())
            .take(3)
            .map(char::from)
            .collect(),
    };
    match chars.as_slice() {
        [c] if c.is_ascii() => Some(c.to_ascii_lowercase()),
        [a, b] if a.is_ascii_uppercase() && a.to_ascii_lowercase() == *b => Some(*b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner(pattern: &str) -> Option<String> {
        required_inner_literal(&regex_syntax::Parser::new().parse(pattern).expect("valid"))
    }

    #[test]
    fn inner_literals_are_the_longest_required_run() {
        assert_eq!(
            inner(r#"(?i)\.exe["']?\s+[^"]{0,64}werfaultsecure\.exe["']?\s+\d{2,10}"#).as_deref(),
            // `s` also matches `ſ` under Unicode case folding: the run starts after it.
            Some("ecure.exe")
        );
        assert_eq!(inner(r"abc\d+defgh").as_deref(), Some("defgh"));
        assert_eq!(inner(r"(?:xy)+zzzz").as_deref(), Some("zzzz"));
        assert_eq!(inner(r"(abcd)").as_deref(), Some("abcd"));
    }

    #[test]
    fn optional_or_alternative_text_is_not_required() {
        assert_eq!(inner(r"(?:abcdef)?x").as_deref(), Some("x"));
        assert_eq!(inner(r"abcd|efgh"), None);
        assert_eq!(inner(r"\w+`\w").as_deref(), Some("`"));
        assert_eq!(inner(r"\w+"), None);
        // Under Unicode case folding `k` also matches the Kelvin sign: the run stops there.
        assert_eq!(inner(r"(?i)mimikatz").as_deref(), Some("mimi"));
    }
}
