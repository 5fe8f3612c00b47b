//! Sigma string values: wildcards, escapes and placeholders.
//!
//! A rule keeps its string values verbatim ([`SigmaValue::String`](crate::ast::SigmaValue)),
//! because what the text means depends on the modifiers (`re` takes it as a regular
//! expression). [`SigmaString::parse`] turns such a text into parts following the
//! specification's "Escape Character" section:
//!
//! | written   | meaning                                   |
//! |-----------|-------------------------------------------|
//! | `*`       | any run of characters ([`StringPart::AnyChars`]) |
//! | `?`       | exactly one character ([`StringPart::OneChar`])  |
//! | `\*` `\?` | a literal `*` / `?`                       |
//! | `\\`      | a literal `\`                             |
//! | `\x`      | a literal `\` followed by `x` (any other character, or the end) |
//! | `%name%`  | a placeholder, only when placeholders are enabled (the `expand` modifier) |
//! | `\%`      | a literal `%` when placeholders are enabled (otherwise `\%` as written) |
//!
//! So `\\*` is a backslash followed by a wildcard, `\\\*` a backslash followed by a literal
//! star, and both `\\\` and `\\\\` (not before a wildcard) are two literal backslashes.

/// One piece of a [`SigmaString`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StringPart {
    /// Plain text, matched as written (subject to the case rules of the engine).
    Literal(String),
    /// `*`: any run of characters, possibly empty.
    AnyChars,
    /// `?`: exactly one character.
    OneChar,
    /// `%name%`: a placeholder to be expanded by the user's configuration.
    Placeholder(String),
}

/// A string value with its wildcards, escapes and placeholders resolved.
///
/// Invariant: two [`StringPart::Literal`]s are never adjacent and no literal is empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SigmaString {
    /// The parts, in order.
    pub parts: Vec<StringPart>,
}

impl SigmaString {
    /// Parses a rule value. `placeholders` enables `%name%` placeholders (and the `\%`
    /// escape), which Sigma only interprets under the `expand` modifier.
    ///
    /// Parsing never fails: every text has a meaning under the escape rules.
    pub fn parse(raw: &str, placeholders: bool) -> SigmaString {
        let mut out = SigmaString::default();
        let mut rest = raw;
        // Text runs between the characters that may mean something are taken whole.
        while let Some(at) = rest.find(['\\', '*', '?', '%']) {
            out.push_str(&rest[..at]);
            let special = &rest[at..];
            // Every character matched is ASCII, one byte.
            let after = &special[1..];
            rest = match special.as_bytes()[0] {
                b'\\' => match after.chars().next() {
                    Some(next @ ('*' | '?' | '\\')) => {
                        out.push_char(next);
                        &after[1..]
                    }
                    Some('%') if placeholders => {
                        out.push_char('%');
                        &after[1..]
                    }
                    _ => {
                        out.push_char('\\');
                        after
                    }
                },
                b'*' => {
                    out.parts.push(StringPart::AnyChars);
                    after
                }
                b'?' => {
                    out.parts.push(StringPart::OneChar);
                    after
                }
                _ => match placeholders.then(|| placeholder_name(after)).flatten() {
                    Some(name) => {
                        out.parts.push(StringPart::Placeholder(name.to_owned()));
                        // The name and its closing '%'.
                        &after[name.len() + 1..]
                    }
                    None => {
                        out.push_char('%');
                        after
                    }
                },
            };
        }
        out.push_str(rest);
        out
    }

    /// A string made of one literal (no wildcards), for building values in code.
    pub fn literal(text: &str) -> SigmaString {
        let mut out = SigmaString::default();
        out.push_str(text);
        out
    }

    /// Whether the string holds a `*` or `?` wildcard.
    pub fn has_wildcards(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, StringPart::AnyChars | StringPart::OneChar))
    }

    /// The names of the placeholders, in order of appearance.
    pub fn placeholders(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                StringPart::Placeholder(name) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The plain text when the string has neither wildcards nor placeholders.
    pub fn to_plain(&self) -> Option<String> {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                StringPart::Literal(s) => text.push_str(s),
                _ => return None,
            }
        }
        Some(text)
    }

    /// Appends a literal character, merging with a preceding literal.
    fn push_char(&mut self, c: char) {
        match self.parts.last_mut() {
            Some(StringPart::Literal(s)) => s.push(c),
            _ => self.parts.push(StringPart::Literal(c.to_string())),
        }
    }

    /// Appends literal text, merging with a preceding literal.
    fn push_str(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.parts.last_mut() {
            Some(StringPart::Literal(s)) => s.push_str(text),
            _ => self.parts.push(StringPart::Literal(text.to_owned())),
        }
    }
}

/// The placeholder name at the start of `rest` (the text after an opening `%`), if `rest`
/// holds a valid name followed by a closing `%`. Names are non-empty runs of letters,
/// digits, `_`, `-` and `.`.
fn placeholder_name(rest: &str) -> Option<&str> {
    let end = rest.find('%')?;
    let name = &rest[..end];
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use StringPart::{AnyChars, OneChar, Placeholder};

    fn lit(s: &str) -> StringPart {
        StringPart::Literal(s.to_owned())
    }

    /// The character-by-character reading `parse` replaced, kept as its reference.
    fn parse_by_char(raw: &str, placeholders: bool) -> SigmaString {
        let mut out = SigmaString::default();
        let mut chars = raw.char_indices().peekable();
        while let Some((index, c)) = chars.next() {
            match c {
                '\\' => match chars.peek().map(|&(_, next)| next) {
                    Some(next @ ('*' | '?' | '\\')) => {
                        chars.next();
                        out.push_char(next);
                    }
                    Some('%') if placeholders => {
                        chars.next();
                        out.push_char('%');
                    }
                    _ => out.push_char('\\'),
                },
                '*' => out.parts.push(StringPart::AnyChars),
                '?' => out.parts.push(StringPart::OneChar),
                '%' if placeholders => match placeholder_name(&raw[index + 1..]) {
                    Some(name) => {
                        out.parts.push(StringPart::Placeholder(name.to_owned()));
                        for _ in 0..=name.chars().count() {
                            chars.next();
                        }
                    }
                    None => out.push_char('%'),
                },
                other => out.push_char(other),
            }
        }
        out
    }

    #[test]
    fn parsing_by_runs_reads_every_text_as_by_characters() {
        // Every string of up to six characters over an alphabet of the special characters,
        // a name character, a space and a two-byte one, with and without placeholders.
        let alphabet = ['\\', '*', '?', '%', 'a', ' ', 'é'];
        let mut texts = vec![String::new()];
        let mut last = texts.clone();
        for _ in 0..6 {
            last = last
                .iter()
                .flat_map(|text| alphabet.iter().map(move |c| format!("{text}{c}")))
                .collect();
            texts.extend(last.iter().cloned());
        }
        assert_eq!(texts.len(), 137_257);
        for text in &texts {
            for placeholders in [false, true] {
                assert_eq!(
                    SigmaString::parse(text, placeholders),
                    parse_by_char(text, placeholders),
                    "{text:?} (placeholders: {placeholders})"
                );
            }
        }
    }

    fn check(raw: &str, placeholders: bool, expected: &[StringPart]) {
        assert_eq!(
            SigmaString::parse(raw, placeholders).parts,
            expected,
            "parsing {raw:?}"
        );
    }

    #[test]
    fn plain_text_is_one_literal() {
        check("cmd.exe", false, &[lit("cmd.exe")]);
        check("", false, &[]);
    }

    #[test]
    fn wildcards() {
        // Spec: `prog?.exe`, `antivirus_V*.exe`.
        check("prog?.exe", false, &[lit("prog"), OneChar, lit(".exe")]);
        check(
            "antivirus_V*.exe",
            false,
            &[lit("antivirus_V"), AnyChars, lit(".exe")],
        );
        check("**", false, &[AnyChars, AnyChars]);
    }

    #[test]
    fn plain_backslash_single_or_double() {
        // Spec: a plain backslash not followed by a wildcard is `\` or `\\`.
        check(r"C:\Windows\cmd.exe", false, &[lit(r"C:\Windows\cmd.exe")]);
        check(
            r"C:\\Windows\\cmd.exe",
            false,
            &[lit(r"C:\Windows\cmd.exe")],
        );
        check(r"trailing\", false, &[lit(r"trailing\")]);
    }

    #[test]
    fn escaped_wildcards_are_literal() {
        // Spec: `\*`, `\?`.
        check(r"a\*b", false, &[lit("a*b")]);
        check(r"a\?b", false, &[lit("a?b")]);
    }

    #[test]
    fn escaped_backslash_before_wildcard() {
        // Spec: `\\*` is a backslash followed by a wildcard.
        check(r"dir\\*", false, &[lit(r"dir\"), AnyChars]);
        check(r"\\?", false, &[lit(r"\"), OneChar]);
    }

    #[test]
    fn three_backslashes_before_wildcard() {
        // Spec: `\\\*` is a plain backslash followed by a plain star.
        check(r"dir\\\*", false, &[lit(r"dir\*")]);
        check(r"\\\?", false, &[lit(r"\?")]);
    }

    #[test]
    fn three_or_four_backslashes_are_double() {
        // Spec: `\\\\` results in the plain value `\\`; three are handled the same.
        check(r"a\\\\b", false, &[lit(r"a\\b")]);
        check(r"a\\\b", false, &[lit(r"a\\b")]);
        check(r"\\\\*", false, &[lit(r"\\"), AnyChars]);
    }

    #[test]
    fn percent_is_literal_without_placeholders() {
        // Spec: `field: %name%` handles `%name%` as a literal value.
        check("%name%", false, &[lit("%name%")]);
        check(r"\%x", false, &[lit(r"\%x")]);
    }

    #[test]
    fn placeholders_with_expand() {
        // Spec: `field|expand: %name%` handles `%name%` as a placeholder.
        check("%name%", true, &[Placeholder("name".into())]);
        // Spec: `\%plain%name%` is the plain value `%plain` then the placeholder `name`.
        check(
            r"\%plain%name%",
            true,
            &[lit("%plain"), Placeholder("name".into())],
        );
        check(
            "*%Servers%*",
            true,
            &[AnyChars, Placeholder("Servers".into()), AnyChars],
        );
    }

    #[test]
    fn malformed_placeholders_are_literal() {
        check("100%", true, &[lit("100%")]);
        check("%%", true, &[lit("%%")]);
        check("% x %", true, &[lit("% x %")]);
    }

    #[test]
    fn adjacent_literals_are_merged() {
        let s = SigmaString::parse(r"a\*\?\\b", false);
        assert_eq!(s.parts, vec![lit(r"a*?\b")]);
    }

    #[test]
    fn helpers() {
        let s = SigmaString::parse(r"a\*b", false);
        assert!(!s.has_wildcards());
        assert_eq!(s.to_plain().as_deref(), Some("a*b"));

        let s = SigmaString::parse("a*b", false);
        assert!(s.has_wildcards());
        assert_eq!(s.to_plain(), None);

        let s = SigmaString::parse("%a%-%b%", true);
        assert!(!s.has_wildcards());
        assert_eq!(s.placeholders(), vec!["a", "b"]);
        assert_eq!(s.to_plain(), None);

        assert_eq!(SigmaString::literal("x*").parts, vec![lit("x*")]);
        assert_eq!(SigmaString::literal("").parts, vec![]);
    }

    #[test]
    fn non_ascii_text() {
        check(
            "é*ü%ñ%",
            true,
            &[lit("é"), AnyChars, lit("ü"), Placeholder("ñ".into())],
        );
    }
}
