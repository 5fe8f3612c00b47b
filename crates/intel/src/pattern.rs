//! The STIX 2.1 patterning language (STIX 2.1 section 9) parsed into a typed tree.
//!
//! A pattern is one or more *observation expressions* in brackets, each a boolean
//! *comparison expression* over object paths (`[file:hashes.'SHA-256' = '…' AND
//! file:name = 'x.exe']`), combined by the observation operators `AND`, `OR` and
//! `FOLLOWEDBY` (highest to lowest precedence) and qualified by `WITHIN n SECONDS`,
//! `REPEATS n TIMES` and `START t STOP t`. Inside brackets `AND` binds tighter than `OR`,
//! and parentheses group at both levels.
//!
//! Patterns come from strangers: a pattern longer than [`MAX_PATTERN_BYTES`] or nested
//! deeper than [`MAX_DEPTH`] is refused before it can exhaust memory or the stack, and
//! every error names the 1-based column (in characters) where the parser stopped.

mod lex;

use std::fmt;

use lex::{Tok, Token};

/// The longest pattern accepted, in bytes.
pub const MAX_PATTERN_BYTES: usize = 64 * 1024;

/// The deepest nesting of parentheses and brackets accepted.
pub const MAX_DEPTH: usize = 64;

/// Why a pattern could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct PatternError {
    /// The 1-based column, in characters, where the problem is.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl PatternError {
    fn new(column: usize, message: impl Into<String>) -> Self {
        PatternError {
            column,
            message: message.into(),
        }
    }
}

/// An observation expression: what must be observed, and how observations combine.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// `[ … ]`: one observation (one set of related objects) satisfying the comparison.
    Single(Comparison),
    /// `A AND B`: both observed, in any observations.
    And(Vec<Observation>),
    /// `A OR B`: either observed.
    Or(Vec<Observation>),
    /// `A FOLLOWEDBY B`: B observed after A.
    FollowedBy(Vec<Observation>),
    /// An expression with a qualifier.
    Qualified(Box<Observation>, Qualifier),
}

/// A qualifier of an observation expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Qualifier {
    /// `WITHIN n SECONDS`.
    Within(f64),
    /// `REPEATS n TIMES`.
    Repeats(u64),
    /// `START t STOP t` (the two timestamps as written).
    StartStop(String, String),
}

/// A comparison expression inside one observation's brackets.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    /// Every part holds for the same object set.
    And(Vec<Comparison>),
    /// Some part holds.
    Or(Vec<Comparison>),
    /// One test of one object path.
    Test(Test),
}

/// `path [NOT] operator value`, or `EXISTS path`.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    /// The object path tested.
    pub path: ObjectPath,
    /// Whether the test is negated (`NOT` before the operator).
    pub negated: bool,
    /// The operator.
    pub operator: Operator,
    /// The value compared with (empty for `EXISTS`; several for `IN`).
    pub values: Vec<Literal>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `<=`
    Le,
    /// `IN (…)`
    In,
    /// `LIKE` (SQL `%` and `_` wildcards)
    Like,
    /// `MATCHES` (a PCRE regular expression)
    Matches,
    /// `ISSUBSET` (an address within a CIDR block)
    IsSubset,
    /// `ISSUPERSET` (a CIDR block containing an address)
    IsSuperset,
    /// `EXISTS`
    Exists,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'` (escapes resolved).
    Str(String),
    /// An integer.
    Int(i64),
    /// A decimal number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `h'…'`: hex digits.
    Hex(String),
    /// `b'…'`: base64 text.
    Binary(String),
    /// `t'…'`: an RFC 3339 timestamp.
    Timestamp(String),
}

/// `type:property.'quoted property'[0].list[*]`: an object type and the steps into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectPath {
    /// The object type (`ipv4-addr`, `file`, `x-custom`).
    pub object_type: String,
    /// The steps from the object to the tested value.
    pub steps: Vec<PathStep>,
}

/// One step of an object path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A property, by name.
    Property(String),
    /// A list element, by index.
    Index(i64),
    /// Any list element (`[*]`).
    Any,
}

impl ObjectPath {
    /// The property names of a path made only of properties (`["hashes", "SHA-256"]`),
    /// `None` when it steps into a list.
    pub fn properties(&self) -> Option<Vec<&str>> {
        self.steps
            .iter()
            .map(|step| match step {
                PathStep::Property(name) => Some(name.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// The path as it is written in a pattern, so that it parses back to itself: a property
/// name that does not read as a bare word is quoted, its backslashes and quotes escaped.
impl fmt::Display for ObjectPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.object_type)?;
        for (index, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Property(name) => {
                    if index > 0 {
                        f.write_str(".")?;
                    }
                    match is_plain(name) {
                        true => f.write_str(name)?,
                        false => write_quoted(f, name)?,
                    }
                }
                PathStep::Index(n) => write!(f, "[{n}]")?,
                PathStep::Any => write!(f, "[*]")?,
            }
        }
        Ok(())
    }
}

/// Whether a property name reads back as a bare word: a letter or `_`, then letters,
/// digits and `_`.
fn is_plain(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `text` in quotes, a backslash before each backslash and quote, as the lexer reads strings.
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("'")?;
    for c in text.chars() {
        if matches!(c, '\\' | '\'') {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("'")
}

/// Parses a pattern.
///
/// # Errors
///
/// The pattern is too long, too deeply nested, or not in the language; the error names
/// the column.
pub fn parse(text: &str) -> Result<Observation, PatternError> {
    if text.len() > MAX_PATTERN_BYTES {
        return Err(PatternError::new(
            1,
            format!("pattern longer than {MAX_PATTERN_BYTES} bytes"),
        ));
    }
    let tokens = lex::tokens(text)?;
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let observation = parser.followed_by()?;
    match parser.peek() {
        Tok::End => Ok(observation),
        _ => Err(parser.unexpected("an observation operator or the end")),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.at).map_or(&Tok::End, |t| &t.tok)
    }

    fn col(&self) -> usize {
        self.tokens
            .get(self.at)
            .or(self.tokens.last())
            .map_or(1, |t| t.col)
    }

    fn bump(&mut self) -> Tok {
        let tok = self.peek().clone();
        self.at += 1;
        tok
    }

    fn is_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == word)
    }

    fn eat_keyword(&mut self, word: &str) -> bool {
        let found = self.is_keyword(word);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), PatternError> {
        match self.peek() == tok {
            true => {
                self.at += 1;
                Ok(())
            }
            false => Err(self.unexpected(what)),
        }
    }

    fn unexpected(&self, wanted: &str) -> PatternError {
        let found = match self.peek() {
            Tok::End => "the end".to_owned(),
            other => format!("{other:?}"),
        };
        PatternError::new(self.col(), format!("expected {wanted}, found {found}"))
    }

    fn enter(&mut self) -> Result<(), PatternError> {
        self.depth += 1;
        match self.depth > MAX_DEPTH {
            true => Err(PatternError::new(
                self.col(),
                format!("nested deeper than {MAX_DEPTH}"),
            )),
            false => Ok(()),
        }
    }

    /// `A FOLLOWEDBY B …` (lowest precedence).
    fn followed_by(&mut self) -> Result<Observation, PatternError> {
        let parts = self.separated("FOLLOWEDBY", Self::observation_or)?;
        Ok(join(parts, Observation::FollowedBy))
    }

    fn observation_or(&mut self) -> Result<Observation, PatternError> {
        let parts = self.separated("OR", Self::observation_and)?;
        Ok(join(parts, Observation::Or))
    }

    fn observation_and(&mut self) -> Result<Observation, PatternError> {
        let parts = self.separated("AND", Self::qualified)?;
        Ok(join(parts, Observation::And))
    }

    fn separated<T>(
        &mut self,
        keyword: &str,
        mut item: impl FnMut(&mut Self) -> Result<T, PatternError>,
    ) -> Result<Vec<T>, PatternError> {
        let mut parts = vec![item(self)?];
        while self.eat_keyword(keyword) {
            parts.push(item(self)?);
        }
        Ok(parts)
    }

    /// An observation in brackets or parentheses, then its qualifiers.
    fn qualified(&mut self) -> Result<Observation, PatternError> {
        self.enter()?;
        let mut observation = match self.bump() {
            Tok::LBrack => {
                let comparison = self.comparison_or()?;
                self.expect(&Tok::RBrack, "`]`")?;
                Observation::Single(comparison)
            }
            Tok::LParen => {
                let inner = self.followed_by()?;
                self.expect(&Tok::RParen, "`)`")?;
                inner
            }
            _ => {
                self.at -= 1;
                return Err(self.unexpected("`[` or `(`"));
            }
        };
        while let Some(qualifier) = self.qualifier()? {
            observation = Observation::Qualified(Box::new(observation), qualifier);
        }
        self.depth -= 1;
        Ok(observation)
    }

    fn qualifier(&mut self) -> Result<Option<Qualifier>, PatternError> {
        if self.eat_keyword("WITHIN") {
            let seconds = match self.bump() {
                Tok::Int(n) if n > 0 => n as f64,
                Tok::Float(x) if x > 0.0 => x,
                _ => return Err(self.back("a positive number of seconds")),
            };
            self.keyword("SECONDS")?;
            return Ok(Some(Qualifier::Within(seconds)));
        }
        if self.eat_keyword("REPEATS") {
            let times = match self.bump() {
                Tok::Int(n) if n > 0 => n.unsigned_abs(),
                _ => return Err(self.back("a positive integer")),
            };
            self.keyword("TIMES")?;
            return Ok(Some(Qualifier::Repeats(times)));
        }
        if self.eat_keyword("START") {
            let start = self.timestamp()?;
            self.keyword("STOP")?;
            let stop = self.timestamp()?;
            return Ok(Some(Qualifier::StartStop(start, stop)));
        }
        Ok(None)
    }

    /// The error for the token just taken.
    fn back(&mut self, wanted: &str) -> PatternError {
        self.at -= 1;
        self.unexpected(wanted)
    }

    fn keyword(&mut self, word: &str) -> Result<(), PatternError> {
        match self.eat_keyword(word) {
            true => Ok(()),
            false => Err(self.unexpected(&format!("`{word}`"))),
        }
    }

    fn timestamp(&mut self) -> Result<String, PatternError> {
        match self.bump() {
            Tok::Timestamp(t) => Ok(t),
            _ => Err(self.back("a timestamp t'…'")),
        }
    }

    fn comparison_or(&mut self) -> Result<Comparison, PatternError> {
        let parts = self.separated("OR", Self::comparison_and)?;
        Ok(join(parts, Comparison::Or))
    }

    fn comparison_and(&mut self) -> Result<Comparison, PatternError> {
        let parts = self.separated("AND", Self::comparison_term)?;
        Ok(join(parts, Comparison::And))
    }

    /// `( comparison )`, `EXISTS path` or `path [NOT] op value`.
    fn comparison_term(&mut self) -> Result<Comparison, PatternError> {
        if self.peek() == &Tok::LParen {
            self.enter()?;
            self.at += 1;
            let inner = self.comparison_or()?;
            self.expect(&Tok::RParen, "`)`")?;
            self.depth -= 1;
            return Ok(inner);
        }
        if self.eat_keyword("EXISTS") {
            let path = self.object_path()?;
            return Ok(Comparison::Test(Test {
                path,
                negated: false,
                operator: Operator::Exists,
                values: Vec::new(),
            }));
        }
        let path = self.object_path()?;
        let negated = self.eat_keyword("NOT");
        let operator = self.operator()?;
        let values = self.operand(operator)?;
        Ok(Comparison::Test(Test {
            path,
            negated,
            operator,
            values,
        }))
    }

    fn operator(&mut self) -> Result<Operator, PatternError> {
        let operator = match self.peek() {
            Tok::Cmp(op) => match *op {
                "=" => Operator::Eq,
                "!=" => Operator::Ne,
                ">" => Operator::Gt,
                "<" => Operator::Lt,
                ">=" => Operator::Ge,
                _ => Operator::Le,
            },
            Tok::Ident(word) => match word.as_str() {
                "IN" => Operator::In,
                "LIKE" => Operator::Like,
                "MATCHES" => Operator::Matches,
                "ISSUBSET" => Operator::IsSubset,
                "ISSUPERSET" => Operator::IsSuperset,
                _ => return Err(self.unexpected("a comparison operator")),
            },
            _ => return Err(self.unexpected("a comparison operator")),
        };
        self.at += 1;
        Ok(operator)
    }

    fn operand(&mut self, operator: Operator) -> Result<Vec<Literal>, PatternError> {
        match operator {
            Operator::In => self.set(),
            Operator::Like | Operator::Matches | Operator::IsSubset | Operator::IsSuperset => {
                match self.bump() {
                    Tok::Str(s) => Ok(vec![Literal::Str(s)]),
                    _ => Err(self.back("a string")),
                }
            }
            _ => {
                let literal = self.literal()?;
                let orderable = !matches!(literal, Literal::Bool(_));
                let ordering = !matches!(operator, Operator::Eq | Operator::Ne);
                if ordering && !orderable {
                    return Err(self.back("an orderable value (not a boolean)"));
                }
                Ok(vec![literal])
            }
        }
    }

    fn set(&mut self) -> Result<Vec<Literal>, PatternError> {
        self.expect(&Tok::LParen, "`(`")?;
        let mut values = Vec::new();
        if self.peek() == &Tok::RParen {
            self.at += 1;
            return Ok(values);
        }
        loop {
            values.push(self.literal()?);
            match self.bump() {
                Tok::Comma => continue,
                Tok::RParen => return Ok(values),
                _ => return Err(self.back("`,` or `)`")),
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, PatternError> {
        Ok(match self.bump() {
            Tok::Str(s) => Literal::Str(s),
            Tok::Int(n) => Literal::Int(n),
            Tok::Float(x) => Literal::Float(x),
            Tok::Hex(h) => Literal::Hex(h),
            Tok::Binary(b) => Literal::Binary(b),
            Tok::Timestamp(t) => Literal::Timestamp(t),
            Tok::Ident(w) if w == "true" => Literal::Bool(true),
            Tok::Ident(w) if w == "false" => Literal::Bool(false),
            _ => return Err(self.back("a value")),
        })
    }

    /// `type:first(.prop | .'prop' | [n] | [*])*`.
    fn object_path(&mut self) -> Result<ObjectPath, PatternError> {
        let object_type = match self.bump() {
            Tok::Ident(word) => word,
            _ => return Err(self.back("an object type")),
        };
        self.expect(&Tok::Colon, "`:`")?;
        let mut steps = vec![self.property()?];
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.at += 1;
                    steps.push(self.property()?);
                }
                Tok::LBrack => {
                    self.at += 1;
                    steps.push(self.index()?);
                }
                _ => return Ok(ObjectPath { object_type, steps }),
            }
        }
    }

    fn property(&mut self) -> Result<PathStep, PatternError> {
        match self.bump() {
            Tok::Ident(name) | Tok::Str(name) => Ok(PathStep::Property(name)),
            _ => Err(self.back("a property name")),
        }
    }

    fn index(&mut self) -> Result<PathStep, PatternError> {
        let step = match self.bump() {
            Tok::Star => PathStep::Any,
            Tok::Int(n) => PathStep::Index(n),
            _ => return Err(self.back("an index or `*`")),
        };
        self.expect(&Tok::RBrack, "`]`")?;
        Ok(step)
    }
}

/// One part as itself, several joined by `make`.
fn join<T>(mut parts: Vec<T>, make: impl FnOnce(Vec<T>) -> T) -> T {
    match parts.len() {
        1 => parts.remove(0),
        _ => make(parts),
    }
}

#[cfg(test)]
mod tests;
