//! The `re` flavour: Sigma's regular expressions are PCRE, and the `regex` crate is not.
//!
//! The one difference that matters for speed is the Perl classes. In PCRE (without the UCP
//! option, which Sigma does not ask for) `\d`, `\w` and `\s` are ASCII classes; in the
//! `regex` crate they are Unicode classes by default, hundreds of ranges each, so that
//! `\w{1,64}` alone takes about 30 ms to compile and searches slowly. Rewriting them as
//! their ASCII counterparts (`[[:digit:]]`, `[[:word:]]`, `[[:space:]]`) gives PCRE's
//! meaning and the cheap automaton at once. `.`, literals and case folding stay Unicode, as
//! in PCRE's UTF mode.

use regex_syntax::ast::{
    self, Ast, ClassAscii, ClassAsciiKind, ClassBracketed, ClassPerl, ClassPerlKind, ClassSet,
    ClassSetItem,
};

/// `pattern` with its Perl classes made ASCII, as PCRE reads them; `pattern` unchanged when
/// it does not parse (the caller's syntax check then reports the error) or has no such class.
pub(crate) fn with_ascii_perl_classes(pattern: &str) -> String {
    if !pattern.contains('\\') {
        return pattern.to_owned();
    }
    let Ok(mut parsed) = ast::parse::Parser::new().parse(pattern) else {
        return pattern.to_owned();
    };
    if !rewrite(&mut parsed) {
        return pattern.to_owned();
    }
    let mut printed = String::with_capacity(pattern.len() + 16);
    match ast::print::Printer::new().print(&parsed, &mut printed) {
        Ok(()) => printed,
        Err(_) => pattern.to_owned(),
    }
}

/// Rewrites the Perl classes under `node`; whether there was any.
fn rewrite(node: &mut Ast) -> bool {
    match node {
        Ast::ClassPerl(perl) => {
            let bracketed = ascii_class(perl);
            *node = Ast::ClassBracketed(Box::new(bracketed));
            true
        }
        Ast::ClassBracketed(class) => rewrite_set(&mut class.kind),
        Ast::Repetition(repetition) => rewrite(&mut repetition.ast),
        Ast::Group(group) => rewrite(&mut group.ast),
        Ast::Alternation(alternation) => rewrite_all(&mut alternation.asts),
        Ast::Concat(concat) => rewrite_all(&mut concat.asts),
        Ast::Empty(_)
        | Ast::Flags(_)
        | Ast::Literal(_)
        | Ast::Dot(_)
        | Ast::Assertion(_)
        | Ast::ClassUnicode(_) => false,
    }
}

fn rewrite_all(nodes: &mut [Ast]) -> bool {
    let mut any = false;
    for node in nodes {
        any |= rewrite(node);
    }
    any
}

fn rewrite_set(set: &mut ClassSet) -> bool {
    match set {
        ClassSet::Item(item) => rewrite_item(item),
        ClassSet::BinaryOp(op) => {
            let left = rewrite_set(&mut op.lhs);
            rewrite_set(&mut op.rhs) || left
        }
    }
}

fn rewrite_item(item: &mut ClassSetItem) -> bool {
    match item {
        ClassSetItem::Perl(perl) => {
            *item = ClassSetItem::Bracketed(Box::new(ascii_class(perl)));
            true
        }
        ClassSetItem::Bracketed(class) => rewrite_set(&mut class.kind),
        ClassSetItem::Union(union) => {
            let mut any = false;
            for item in &mut union.items {
                any |= rewrite_item(item);
            }
            any
        }
        ClassSetItem::Empty(_)
        | ClassSetItem::Literal(_)
        | ClassSetItem::Range(_)
        | ClassSetItem::Ascii(_)
        | ClassSetItem::Unicode(_) => false,
    }
}

/// `\d`, `\W`, ... as a bracketed ASCII class: `[[:digit:]]`, `[^[:word:]]`, ...
fn ascii_class(perl: &ClassPerl) -> ClassBracketed {
    let kind = match perl.kind {
        ClassPerlKind::Digit => ClassAsciiKind::Digit,
        ClassPerlKind::Space => ClassAsciiKind::Space,
        ClassPerlKind::Word => ClassAsciiKind::Word,
    };
    ClassBracketed {
        span: perl.span,
        negated: perl.negated,
        kind: ClassSet::Item(ClassSetItem::Ascii(ClassAscii {
            span: perl.span,
            kind,
            negated: false,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_become_ascii_classes_everywhere() {
        for (pattern, expected) in [
            (r"-k\s\w{1,64}", r"-k[[:space:]][[:word:]]{1,64}"),
            (r"\D+|\S", r"[^[:digit:]]+|[^[:space:]]"),
            (r"[\w.-]+", r"[[[:word:]].-]+"),
            (r"[^\d\s]", r"[^[[:digit:]][[:space:]]]"),
            (r"(?i)(a\d)+", r"(?i)(a[[:digit:]])+"),
            (r"[a-z&&\w]", r"[a-z&&[[:word:]]]"),
        ] {
            assert_eq!(with_ascii_perl_classes(pattern), expected, "{pattern}");
        }
    }

    #[test]
    fn other_patterns_are_left_as_written() {
        for pattern in [
            r"abc",
            r"\.exe$",
            r"\p{L}+",
            r"a(b",
            r"[[:alpha:]]",
            r"\bx\b",
        ] {
            assert_eq!(with_ascii_perl_classes(pattern), pattern);
        }
    }

    #[test]
    fn the_rewritten_classes_are_ascii_like_pcre() {
        let re = |p: &str| regex::Regex::new(&with_ascii_perl_classes(p)).expect("valid");
        assert!(re(r"^\d+$").is_match("0123456789"));
        assert!(!re(r"^\d$").is_match("٣"), "Arabic-Indic digit");
        assert!(!re(r"^\w$").is_match("é"));
        assert!(re(r"^\W$").is_match("é"));
        assert!(!re(r"^\s$").is_match("\u{00a0}"));
        assert!(re(r"^\s+$").is_match(" \t\r\n\u{0b}\u{0c}"));
        assert!(re(r"^[^\d]$").is_match("٣"));
    }
}
