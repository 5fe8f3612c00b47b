//! Loading YAML text into marked nodes in one pass, refusing deep nesting as it goes.
//!
//! `saphyr`'s own `load_from_str` reads the text through a character iterator; the parser's
//! string input is several times quicker. And nesting must be bounded before a tree exists:
//! a tree nested a hundred thousand levels deep (`- - - - …`) overflows the stack when it
//! is dropped, and tocsin's readers walk trees recursively. A [`DepthGuard`] sits between
//! the parser and the loader, counts the depth of every collection, and stops feeding the
//! loader at the first one too deep, so the tree never holds it.
//!
//! Every YAML text a user supplies (rules, logsource mappings, placeholders, detector
//! configuration) goes through [`load`], so that each reader gets the same guard, the same
//! last line of defence against a parser panic, and the same errors.

use std::panic::{catch_unwind, AssertUnwindSafe};

use saphyr::{MarkedYaml, ScanError, YamlLoader};
use saphyr_parser::{Event, Parser, Span, SpannedEventReceiver};

/// Why [`load`] refused a text.
///
/// Its `Display` says what is wrong, not where: the reader that knows the file puts
/// `file:line:` in front, taking the line from [`LoadError::line`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// A YAML syntax error: its 1-based line and the parser's message.
    #[error("YAML syntax error: {message}")]
    Syntax {
        /// Where.
        line: usize,
        /// What.
        message: String,
    },
    /// The text nests collections deeper than `limit`, first at this 1-based line.
    #[error("YAML nested too deeply (more than {limit} levels)")]
    TooDeep {
        /// Where.
        line: usize,
        /// The deepest nesting allowed.
        limit: usize,
    },
    /// The parser panicked. It is not known to, but no input may take the process down,
    /// so a panic is caught and reported like any other refusal.
    #[error("the YAML parser failed on this input")]
    ParserFailed,
}

impl LoadError {
    /// The 1-based line the error is at; 0 when it has none (a parser failure).
    pub fn line(&self) -> usize {
        match self {
            LoadError::Syntax { line, .. } | LoadError::TooDeep { line, .. } => *line,
            LoadError::ParserFailed => 0,
        }
    }
}

impl From<ScanError> for LoadError {
    fn from(error: ScanError) -> Self {
        LoadError::Syntax {
            line: error.marker().line(),
            message: error.info().to_owned(),
        }
    }
}

/// The documents of `text` (a leading byte-order mark is skipped), with no collection nested
/// deeper than `max_depth`.
///
/// The parser runs under `catch_unwind`: whatever the text, this returns.
///
/// # Errors
///
/// A syntax error, or the first collection nested too deep, with its line; or
/// [`LoadError::ParserFailed`] should the parser panic.
pub fn load(text: &str, max_depth: usize) -> Result<Vec<MarkedYaml<'_>>, LoadError> {
    catch_unwind(AssertUnwindSafe(|| load_guarded(text, max_depth)))
        .unwrap_or(Err(LoadError::ParserFailed))
}

/// [`load`] without the panic guard.
fn load_guarded(text: &str, max_depth: usize) -> Result<Vec<MarkedYaml<'_>>, LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut guard = DepthGuard {
        loader: YamlLoader::default(),
        depth: 0,
        max_depth,
        too_deep_at: None,
    };
    // The parser's own `load` recurses once per level; its event iterator does not.
    for item in Parser::new_from_str(text) {
        let (event, span) = item?;
        guard.on_event(event, span);
        if let Some(line) = guard.too_deep_at {
            return Err(LoadError::TooDeep {
                line,
                limit: max_depth,
            });
        }
    }
    if let Some(error) = guard.loader.error() {
        return Err(error.clone().into());
    }
    Ok(guard.loader.into_documents())
}

/// Forwards parser events to the loader while the nesting stays within bounds.
struct DepthGuard<'input> {
    loader: YamlLoader<'input, MarkedYaml<'input>>,
    depth: usize,
    max_depth: usize,
    /// The line of the first collection too deep; nothing is forwarded after it.
    too_deep_at: Option<usize>,
}

impl<'input> SpannedEventReceiver<'input> for DepthGuard<'input> {
    fn on_event(&mut self, event: Event<'input>, span: Span) {
        if self.too_deep_at.is_some() {
            return;
        }
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                self.depth += 1;
                if self.depth > self.max_depth {
                    self.too_deep_at = Some(span.start.line());
                    return;
                }
            }
            Event::SequenceEnd | Event::MappingEnd => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        self.loader.on_event(event, span);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_documents_with_their_lines() {
        let docs = load("\u{feff}a: 1\nb:\n  - x\n---\nc: 2\n", 8).expect("valid");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].span.start.line(), 5);
    }

    #[test]
    fn deep_nesting_is_refused_with_its_line_before_a_tree_exists() {
        let text = format!("a:\n  b: {}1{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            load(&text, 64),
            Err(LoadError::TooDeep { line: 2, limit: 64 })
        );
        // Past 255 open brackets the parser's scanner refuses first, with its own message.
        let text = format!("a:\n  b: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            load(&text, 64),
            Err(LoadError::Syntax { line: 2, .. })
        ));
        let dashes = format!("{}x", "- ".repeat(100_000));
        assert_eq!(
            load(&dashes, 64),
            Err(LoadError::TooDeep { line: 1, limit: 64 })
        );
        assert!(
            load("a: [[[1]]]\n", 4).is_ok(),
            "a mapping and three sequences"
        );
        assert!(load("a: [[[[1]]]]\n", 4).is_err());
    }

    #[test]
    fn syntax_errors_give_their_line() {
        let Err(LoadError::Syntax { line, message }) = load("a: 1\nb: [1, 2\n", 8) else {
            panic!("a syntax error");
        };
        assert!(line >= 2, "line {line}: {message}");
    }

    #[test]
    fn errors_say_what_and_give_where_apart() {
        let deep = load("a: [[1]]\n", 2).unwrap_err();
        assert_eq!(deep.line(), 1);
        assert_eq!(
            deep.to_string(),
            "YAML nested too deeply (more than 2 levels)"
        );
        let syntax = load("a: 1\nb: [1, 2\n", 8).unwrap_err();
        assert!(syntax.to_string().starts_with("YAML syntax error: "));
        assert_eq!(LoadError::ParserFailed.line(), 0);
        let error: &dyn std::error::Error = &syntax;
        assert!(error.source().is_none());
    }
}
