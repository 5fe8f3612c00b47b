//! The `condition` language: a tokenizer and a precedence-climbing parser.
//!
//! Grammar (operators from least to most binding, as the specification orders them):
//!
//! ```text
//! expr    := expr 'or' expr | expr 'and' expr | 'not' expr | quant | ident | '(' expr ')'
//! quant   := ('1' | 'all') 'of' (pattern | 'them')
//! ```
//!
//! Keywords are lowercase only, as in the specification and every SigmaHQ rule; `AND` is
//! read as an identifier (and then reported as unknown, with a hint). `any of` and `2 of`
//! are not Sigma and are rejected. The deprecated aggregation syntax (`| count() ...`,
//! `| near ...`) is rejected with a pointer to correlation rules.
//!
//! While parsing, every identifier must name a search identifier and every pattern must
//! match at least one (see [`SelectionPattern::matches`]). `them` stays
//! [`SelectionPattern::Them`] in the tree; the engine resolves it.

use crate::ast::{Condition, SelectionPattern};
use crate::error::ErrorKind;

/// The deepest nesting of parentheses and `not` a condition may have; it bounds the
/// parser's recursion.
const MAX_NESTING: usize = 64;

impl SelectionPattern {
    /// Whether the search identifier `name` is selected by this pattern.
    ///
    /// `them` selects every identifier not starting with `_`. A pattern's `*` matches any
    /// run of characters; by the same convention, an identifier starting with `_` is only
    /// selected by a pattern that itself starts with `_` (so `1 of *` equals `1 of them`).
    pub fn matches(&self, name: &str) -> bool {
        match self {
            SelectionPattern::Them => !name.starts_with('_'),
            SelectionPattern::Pattern(pattern) => {
                (pattern.starts_with('_') || !name.starts_with('_')) && glob(pattern, name)
            }
        }
    }
}

/// `*`-only glob matching, iterative (no backtracking blow-up).
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A token and its 1-based character column.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: Tok,
    column: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    And,
    Or,
    Not,
    Of,
    Them,
    /// Any other word: an identifier, a pattern, `1`, `all`.
    Word(String),
}

impl Tok {
    fn text(&self) -> &str {
        match self {
            Tok::Open => "(",
            Tok::Close => ")",
            Tok::And => "and",
            Tok::Or => "or",
            Tok::Not => "not",
            Tok::Of => "of",
            Tok::Them => "them",
            Tok::Word(w) => w,
        }
    }
}

/// Parses one condition string, checking identifiers against `names` (the detection's
/// search identifiers).
///
/// # Errors
///
/// [`ErrorKind::Condition`] with the offending column, or [`ErrorKind::Aggregation`].
pub(crate) fn parse(text: &str, names: &[&str]) -> Result<Condition, ErrorKind> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        text,
        names,
        tokens,
        next: 0,
        depth: 0,
    };
    let condition = parser.expr(0)?;
    match parser.peek() {
        None => Ok(condition),
        Some(Token {
            kind: Tok::Close,
            column,
        }) => Err(parser.error(*column, "unbalanced ')'")),
        Some(token) => {
            let text = token.kind.text();
            let hint = if is_keyword(&text.to_lowercase()) {
                "condition keywords are lowercase"
            } else {
                "expected 'and', 'or' or the end"
            };
            Err(parser.error(token.column, &format!("unexpected '{text}' ({hint})")))
        }
    }
}

/// Whether `word` is a condition keyword (lowercase).
fn is_keyword(word: &str) -> bool {
    matches!(word, "and" | "or" | "not" | "of" | "them")
}

fn tokenize(text: &str) -> Result<Vec<Token>, ErrorKind> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let column = i + 1;
        let kind = match c {
            c if c.is_whitespace() => continue,
            '(' => Tok::Open,
            ')' => Tok::Close,
            '|' => return Err(ErrorKind::Aggregation(text.to_owned())),
            _ => {
                let mut word = c.to_string();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '|') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                match word.as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "of" => Tok::Of,
                    "them" => Tok::Them,
                    _ => Tok::Word(word),
                }
            }
        };
        tokens.push(Token { kind, column });
    }
    Ok(tokens)
}

struct Parser<'a> {
    text: &'a str,
    names: &'a [&'a str],
    tokens: Vec<Token>,
    next: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn error(&self, column: usize, message: &str) -> ErrorKind {
        ErrorKind::Condition {
            condition: self.text.to_owned(),
            column,
            message: message.to_owned(),
        }
    }

    /// The column just past the end of the text, for "unexpected end" errors.
    fn end_column(&self) -> usize {
        self.text.chars().count() + 1
    }

    /// Precedence climbing over the binary operators: `or` binds 1, `and` binds 2.
    fn expr(&mut self, min_binding: u8) -> Result<Condition, ErrorKind> {
        let mut lhs = self.unary()?;
        loop {
            let binding = match self.peek().map(|t| &t.kind) {
                Some(Tok::Or) => 1,
                Some(Tok::And) => 2,
                _ => break,
            };
            if binding < min_binding {
                break;
            }
            self.bump();
            let rhs = self.expr(binding + 1)?;
            lhs = if binding == 2 {
                and(lhs, rhs)
            } else {
                or(lhs, rhs)
            };
        }
        Ok(lhs)
    }

    fn enter(&mut self, column: usize) -> Result<(), ErrorKind> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error(
                column,
                &format!("nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<Condition, ErrorKind> {
        let Some(token) = self.bump() else {
            return Err(self.error(self.end_column(), "unexpected end of condition"));
        };
        match token.kind {
            Tok::Not => {
                self.enter(token.column)?;
                let operand = self.unary()?;
                self.depth -= 1;
                Ok(Condition::Not(Box::new(operand)))
            }
            Tok::Open => {
                self.enter(token.column)?;
                let inner = self.expr(0)?;
                self.depth -= 1;
                match self.bump() {
                    Some(Token {
                        kind: Tok::Close, ..
                    }) => Ok(inner),
                    Some(other) => Err(self.error(
                        other.column,
                        &format!("unexpected '{}' (expected ')')", other.kind.text()),
                    )),
                    None => Err(self.error(token.column, "unbalanced '(': no matching ')'")),
                }
            }
            Tok::Close => Err(self.error(token.column, "unbalanced ')'")),
            Tok::Word(word) => {
                if matches!(self.peek(), Some(Token { kind: Tok::Of, .. })) {
                    self.bump();
                    self.quantified(&word, token.column)
                } else {
                    self.identifier(&word, token.column)
                }
            }
            other => Err(self.error(token.column, &format!("unexpected '{}'", other.text()))),
        }
    }

    /// `1 of x` / `all of x`, the `of` already consumed.
    fn quantified(&mut self, quantifier: &str, column: usize) -> Result<Condition, ErrorKind> {
        let one = match quantifier {
            "1" => true,
            "all" => false,
            _ => {
                return Err(self.error(
                    column,
                    &format!("'{quantifier} of' is not Sigma; use '1 of' or 'all of'"),
                ))
            }
        };
        let target = self.bump();
        let pattern = match target {
            Some(Token {
                kind: Tok::Them, ..
            }) => SelectionPattern::Them,
            Some(Token {
                kind: Tok::Word(ref w),
                column,
            }) => {
                let pattern = SelectionPattern::Pattern(w.clone());
                if !self.names.iter().any(|n| pattern.matches(n)) {
                    return Err(self.error(
                        column,
                        &format!("pattern '{w}' matches no search identifier"),
                    ));
                }
                pattern
            }
            Some(other) => {
                return Err(self.error(
                    other.column,
                    &format!(
                        "expected a search identifier pattern or 'them' after 'of', found '{}'",
                        other.kind.text()
                    ),
                ))
            }
            None => {
                return Err(self.error(
                    self.end_column(),
                    "expected a search identifier pattern or 'them' after 'of'",
                ))
            }
        };
        if pattern == SelectionPattern::Them && !self.names.iter().any(|n| pattern.matches(n)) {
            return Err(self.error(
                column,
                "'them' matches no search identifier (all start with '_')",
            ));
        }
        Ok(if one {
            Condition::OneOf(pattern)
        } else {
            Condition::AllOf(pattern)
        })
    }

    fn identifier(&self, word: &str, column: usize) -> Result<Condition, ErrorKind> {
        if self.names.contains(&word) {
            return Ok(Condition::Selection(word.to_owned()));
        }
        let message = if word.contains('*') {
            format!("pattern '{word}' is only allowed after '1 of' or 'all of'")
        } else if is_keyword(&word.to_lowercase()) {
            format!("unknown search identifier '{word}' (condition keywords are lowercase)")
        } else if word == "1" || word == "all" {
            format!("'{word}' must be followed by 'of'")
        } else {
            format!("unknown search identifier '{word}'")
        };
        Err(self.error(column, &message))
    }
}

/// `a and b`, flattening nested `And`s.
pub(crate) fn and(a: Condition, b: Condition) -> Condition {
    let mut items = match a {
        Condition::And(items) => items,
        other => vec![other],
    };
    match b {
        Condition::And(inner) => items.extend(inner),
        other => items.push(other),
    }
    Condition::And(items)
}

/// `a or b`, flattening nested `Or`s.
pub(crate) fn or(a: Condition, b: Condition) -> Condition {
    let mut items = match a {
        Condition::Or(items) => items,
        other => vec![other],
    };
    match b {
        Condition::Or(inner) => items.extend(inner),
        other => items.push(other),
    }
    Condition::Or(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Condition::{AllOf, And, Not, OneOf, Or};

    const NAMES: &[&str] = &[
        "a",
        "b",
        "c",
        "selection",
        "sel_1",
        "sel_2",
        "filter_main",
        "_hidden",
        "keywords-x",
    ];

    fn sel(name: &str) -> Condition {
        Condition::Selection(name.to_owned())
    }

    fn pat(p: &str) -> SelectionPattern {
        SelectionPattern::Pattern(p.to_owned())
    }

    fn check(text: &str, expected: Condition) {
        assert_eq!(parse(text, NAMES), Ok(expected), "condition {text:?}");
    }

    /// Asserts the error message and column.
    fn check_err(text: &str, expected_message: &str, expected_column: usize) {
        match parse(text, NAMES) {
            Err(ErrorKind::Condition {
                condition,
                column,
                message,
            }) => {
                assert_eq!(condition, text);
                assert!(
                    message.contains(expected_message),
                    "{text:?}: {message:?} does not contain {expected_message:?}"
                );
                assert_eq!(column, expected_column, "{text:?}: {message}");
            }
            other => panic!("{text:?}: expected a condition error, got {other:?}"),
        }
    }

    #[test]
    fn single_identifier() {
        check("selection", sel("selection"));
        check("  keywords-x ", sel("keywords-x"));
        check("_hidden", sel("_hidden"));
    }

    #[test]
    fn binary_operators_flatten() {
        check("a and b and c", And(vec![sel("a"), sel("b"), sel("c")]));
        check("a or b or c", Or(vec![sel("a"), sel("b"), sel("c")]));
        check("(a and b) and c", And(vec![sel("a"), sel("b"), sel("c")]));
        check("a or (b or c)", Or(vec![sel("a"), sel("b"), sel("c")]));
    }

    #[test]
    fn precedence() {
        check(
            "a or b and not c",
            Or(vec![sel("a"), And(vec![sel("b"), Not(Box::new(sel("c")))])]),
        );
        check(
            "a and b or c",
            Or(vec![And(vec![sel("a"), sel("b")]), sel("c")]),
        );
        check("not a and b", And(vec![Not(Box::new(sel("a"))), sel("b")]));
        check(
            "not 1 of sel_* and c",
            And(vec![Not(Box::new(OneOf(pat("sel_*")))), sel("c")]),
        );
        check("not not a", Not(Box::new(Not(Box::new(sel("a"))))));
    }

    #[test]
    fn parentheses() {
        check(
            "a and (b or c)",
            And(vec![sel("a"), Or(vec![sel("b"), sel("c")])]),
        );
        check("not (a or b)", Not(Box::new(Or(vec![sel("a"), sel("b")]))));
        check("((a))", sel("a"));
        check("(a)and(b)", And(vec![sel("a"), sel("b")]));
    }

    #[test]
    fn quantifiers() {
        check("1 of sel_*", OneOf(pat("sel_*")));
        check("all of sel*", AllOf(pat("sel*")));
        check("1 of them", OneOf(SelectionPattern::Them));
        check("all of them", AllOf(SelectionPattern::Them));
        check("1 of selection", OneOf(pat("selection")));
        check("1 of _*", OneOf(pat("_*")));
        check(
            "selection and not 1 of filter_*",
            And(vec![
                sel("selection"),
                Not(Box::new(OneOf(pat("filter_*")))),
            ]),
        );
        check(
            "1 of sel_* or all of *_main",
            Or(vec![OneOf(pat("sel_*")), AllOf(pat("*_main"))]),
        );
    }

    #[test]
    fn pattern_matching() {
        assert!(pat("sel_*").matches("sel_1"));
        assert!(pat("*").matches("a"));
        assert!(!pat("*").matches("_hidden"));
        assert!(pat("_*").matches("_hidden"));
        assert!(pat("a*b*c").matches("aXXbYc"));
        assert!(!pat("a*b*c").matches("aXXbY"));
        assert!(pat("sel").matches("sel"));
        assert!(!pat("sel").matches("sel_1"));
        assert!(SelectionPattern::Them.matches("filter"));
        assert!(!SelectionPattern::Them.matches("_filter"));
    }

    #[test]
    fn unknown_identifiers() {
        check_err("selection and nope", "unknown search identifier 'nope'", 15);
        check_err(
            "a AND b",
            "unexpected 'AND' (condition keywords are lowercase)",
            3,
        );
        check_err(
            "NOT a",
            "unknown search identifier 'NOT' (condition keywords are lowercase)",
            1,
        );
        check_err(
            "1 of nothing*",
            "pattern 'nothing*' matches no search identifier",
            6,
        );
    }

    #[test]
    fn them_without_visible_identifiers() {
        let result = parse("1 of them", &["_a", "_b"]);
        assert!(
            matches!(&result, Err(ErrorKind::Condition { message, .. }) if message.contains("'them' matches no")),
            "{result:?}"
        );
    }

    #[test]
    fn syntax_errors() {
        check_err("(a and b", "unbalanced '('", 1);
        check_err("a and b)", "unbalanced ')'", 8);
        check_err(")", "unbalanced ')'", 1);
        check_err("a b", "unexpected 'b'", 3);
        check_err("a and", "unexpected end of condition", 6);
        check_err("", "unexpected end of condition", 1);
        check_err("a and or b", "unexpected 'or'", 7);
        check_err("(a b)", "unexpected 'b' (expected ')')", 4);
        check_err("any of sel_*", "'any of' is not Sigma", 1);
        check_err("2 of sel_*", "'2 of' is not Sigma", 1);
        check_err("1 of", "after 'of'", 5);
        check_err("1 of (a)", "after 'of', found '('", 6);
        check_err("1 a", "'1' must be followed by 'of'", 1);
        check_err("sel_*", "only allowed after '1 of' or 'all of'", 1);
        check_err("them", "unexpected 'them'", 1);
    }

    #[test]
    fn aggregations_are_rejected() {
        for text in ["selection | count() by Host > 5", "a | near b"] {
            assert_eq!(
                parse(text, NAMES),
                Err(ErrorKind::Aggregation(text.to_owned()))
            );
        }
        let message = ErrorKind::Aggregation("x | count() > 1".into()).to_string();
        assert!(message
            .contains("aggregations in condition are not supported; use a Sigma correlation rule"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(
            parse(&text, NAMES),
            Err(ErrorKind::Condition { message, .. }) if message.contains("nested too deeply")
        ));
        let text = format!("{}a", "not ".repeat(10_000));
        assert!(parse(&text, NAMES).is_err());
        let ok = format!("{}a{}", "(".repeat(30), ")".repeat(30));
        assert_eq!(parse(&ok, NAMES), Ok(sel("a")));
    }

    #[test]
    fn long_flat_chains_do_not_recurse() {
        let text = vec!["a"; 5_000].join(" and ");
        match parse(&text, NAMES) {
            Ok(And(items)) => assert_eq!(items.len(), 5_000),
            other => panic!("unexpected {other:?}"),
        }
    }
}
