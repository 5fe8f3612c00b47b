//! The tokens of the STIX patterning language, each with the column it starts at, so that
//! every error of the parser can point at the text a partner wrote.

use super::PatternError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// `[`
    LBrack,
    /// `]`
    RBrack,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
    /// `:`
    Colon,
    /// `.`
    Dot,
    /// `*`
    Star,
    /// `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Cmp(&'static str),
    /// A bare word: a keyword, an object type or a property name.
    Ident(String),
    /// `'text'`, escapes resolved.
    Str(String),
    /// An integer.
    Int(i64),
    /// A decimal number with a point.
    Float(f64),
    /// `h'0aff'`: the hex digits.
    Hex(String),
    /// `b'aGk='`: the base64 text.
    Binary(String),
    /// `t'2016-01-01T00:00:00Z'`: the timestamp text.
    Timestamp(String),
    /// The end of the pattern.
    End,
}

/// A token and the 1-based column (in characters) where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub tok: Tok,
    pub col: usize,
}

/// Splits `text` into tokens, ending with [`Tok::End`].
pub(super) fn tokens(text: &str) -> Result<Vec<Token>, PatternError> {
    let chars: Vec<char> = text.chars().collect();
    let mut lexer = Lexer { chars, at: 0 };
    let mut out = Vec::new();
    loop {
        let token = lexer.next()?;
        let end = token.tok == Tok::End;
        out.push(token);
        if end {
            return Ok(out);
        }
    }
}

struct Lexer {
    chars: Vec<char>,
    at: usize,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn error(&self, col: usize, message: impl Into<String>) -> PatternError {
        PatternError::new(col, message)
    }

    fn next(&mut self) -> Result<Token, PatternError> {
        while self.peek(0).is_some_and(char::is_whitespace) {
            self.at += 1;
        }
        let col = self.at + 1;
        let Some(c) = self.peek(0) else {
            return Ok(Token { tok: Tok::End, col });
        };
        let tok = match c {
            '[' | ']' | '(' | ')' | ',' | ':' | '*' => {
                self.at += 1;
                punctuation(c)
            }
            '.' if !self.peek(1).is_some_and(|d| d.is_ascii_digit()) => {
                self.at += 1;
                Tok::Dot
            }
            '=' | '!' | '<' | '>' => self.comparison(col)?,
            '\'' => Tok::Str(self.string(col)?),
            c if c.is_ascii_digit() || matches!(c, '+' | '-' | '.') => self.number(col)?,
            c if c.is_ascii_alphabetic() || c == '_' => self.word(col)?,
            other => return Err(self.error(col, format!("unexpected character {other:?}"))),
        };
        Ok(Token { tok, col })
    }

    fn comparison(&mut self, col: usize) -> Result<Tok, PatternError> {
        let two = (self.peek(0), self.peek(1));
        let (op, len) = match two {
            (Some('!'), Some('=')) => ("!=", 2),
            (Some('<'), Some('=')) => ("<=", 2),
            (Some('>'), Some('=')) => (">=", 2),
            (Some('='), _) => ("=", 1),
            (Some('<'), _) => ("<", 1),
            (Some('>'), _) => (">", 1),
            _ => return Err(self.error(col, "expected `!=`")),
        };
        self.at += len;
        Ok(Tok::Cmp(op))
    }

    /// A quoted string from the opening quote; only `\'` and `\\` may be escaped.
    fn string(&mut self, col: usize) -> Result<String, PatternError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let here = self.at + 1;
            match self.peek(0) {
                None => return Err(self.error(col, "unterminated string")),
                Some('\'') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some('\\') => match self.peek(1) {
                    Some(e @ ('\'' | '\\')) => {
                        out.push(e);
                        self.at += 2;
                    }
                    _ => return Err(self.error(here, "only \\' and \\\\ may be escaped")),
                },
                Some(c) => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn number(&mut self, col: usize) -> Result<Tok, PatternError> {
        let start = self.at;
        if matches!(self.peek(0), Some('+' | '-')) {
            self.at += 1;
        }
        while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let float = self.peek(0) == Some('.');
        if float {
            self.at += 1;
            let digits = self.at;
            while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                self.at += 1;
            }
            if self.at == digits {
                return Err(self.error(col, "a number needs digits after its point"));
            }
        }
        let text: String = self.chars[start..self.at].iter().collect();
        let text = text.strip_prefix('+').unwrap_or(&text);
        let bad = || PatternError::new(col, format!("invalid number {text:?}"));
        match float {
            true => text.parse().map(Tok::Float).map_err(|_| bad()),
            false => text.parse().map(Tok::Int).map_err(|_| bad()),
        }
    }

    fn word(&mut self, col: usize) -> Result<Tok, PatternError> {
        let start = self.at;
        while self
            .peek(0)
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.at += 1;
        }
        let word: String = self.chars[start..self.at].iter().collect();
        if self.peek(0) != Some('\'') || !matches!(word.as_str(), "h" | "b" | "t") {
            return Ok(Tok::Ident(word));
        }
        let text = self.string(col + 1)?;
        let valid = match word.as_str() {
            "h" => text.len() % 2 == 0 && text.chars().all(|c| c.is_ascii_hexdigit()),
            "b" => text.len() % 4 == 0 && text.chars().all(is_base64),
            _ => is_timestamp(&text),
        };
        if !valid {
            return Err(self.error(col, format!("invalid {word}'…' literal {text:?}")));
        }
        Ok(match word.as_str() {
            "h" => Tok::Hex(text),
            "b" => Tok::Binary(text),
            _ => Tok::Timestamp(text),
        })
    }
}

fn punctuation(c: char) -> Tok {
    match c {
        '[' => Tok::LBrack,
        ']' => Tok::RBrack,
        '(' => Tok::LParen,
        ')' => Tok::RParen,
        ',' => Tok::Comma,
        ':' => Tok::Colon,
        _ => Tok::Star,
    }
}

fn is_base64(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')
}

/// RFC 3339 in UTC with a `Z`, as STIX timestamps are written.
fn is_timestamp(text: &str) -> bool {
    text.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Tok> {
        tokens(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn literals_and_escapes() {
        assert_eq!(
            kinds(r"'a\'b\\c' -5 +2 0.5 .25 h'0aFF' b'aGk=' t'2016-01-01T00:00:00Z'"),
            [
                Tok::Str("a'b\\c".into()),
                Tok::Int(-5),
                Tok::Int(2),
                Tok::Float(0.5),
                Tok::Float(0.25),
                Tok::Hex("0aFF".into()),
                Tok::Binary("aGk=".into()),
                Tok::Timestamp("2016-01-01T00:00:00Z".into()),
                Tok::End
            ]
        );
    }

    #[test]
    fn errors_name_the_column() {
        let error = tokens("[a:b = 'x\\n']").unwrap_err();
        assert_eq!(error.column, 10);
        assert_eq!(tokens("[a:b = 'x").unwrap_err().column, 8);
        assert_eq!(tokens("[a:b = t'yesterday']").unwrap_err().column, 8);
        assert_eq!(tokens("[a:b ~ 1]").unwrap_err().column, 6);
    }
}
