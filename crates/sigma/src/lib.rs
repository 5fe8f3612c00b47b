//! Sigma rules, filters and correlations: YAML in, a typed and validated model out, with
//! located errors. This crate does not match events; `tocsin-engine` compiles its output.
//!
//! # Brief overview
//!
//! - [`parse_documents`] reads one file's text (possibly several `---` documents) into one
//!   `Result<`[`Document`](ast::Document)`, `[`SigmaError`]`>` per document.
//! - [`load_paths`] reads files and folders into a [`LoadOutcome`]: the documents that
//!   loaded and the errors of those that did not.
//! - [`ast`] is the model the engine compiles: [`Rule`](ast::Rule),
//!   [`FilterRule`](ast::FilterRule), [`CorrelationRule`](ast::CorrelationRule), with
//!   selections, [`Modifier`](ast::Modifier) chains and a parsed
//!   [`Condition`](ast::Condition).
//! - [`SigmaString`] interprets a string value's wildcards, escapes and placeholders; the
//!   model keeps values verbatim because their meaning depends on the modifiers.
//! - [`SigmaError`] names the file, the line, the rule and the YAML path of a problem.
//!
//! # Example
//!
//! ```
//! use std::path::Path;
//! use tocsin_sigma::ast::{Condition, Document, Modifier};
//!
//! let text = "\
//! title: Whoami
//! logsource:
//!     category: process_creation
//! detection:
//!     selection:
//!         Image|endswith: '\\whoami.exe'
//!     condition: selection
//! ---
//! title: Broken
//! logsource:
//!     category: process_creation
//! detection:
//!     selection:
//!         Image|contians: 'x'
//!     condition: selection
//! ";
//! let results = tocsin_sigma::parse_documents(text, Path::new("rules/whoami.yml"));
//! let Ok(Document::Rule(rule)) = &results[0] else { panic!("first document loads") };
//! assert_eq!(rule.detection.condition, Condition::Selection("selection".into()));
//! let field = &rule.detection.selections[0].selection.alternatives[0][0];
//! assert_eq!(field.modifiers, vec![Modifier::EndsWith]);
//!
//! let Err(error) = &results[1] else { panic!("second document is broken") };
//! assert_eq!(
//!     error.to_string(),
//!     "rules/whoami.yml:14: rule 'Broken': detection.selection: unknown modifier 'contians'"
//! );
//! ```
//!
//! # Design
//!
//! - Validation happens here, at load time, so that the engine never meets a rule it cannot
//!   compile: modifier chains, `re` patterns (Rust `regex` syntax), `cidr` networks, the
//!   condition's identifiers and patterns. The rules applied where the specification is
//!   loose are documented in the `modifier`, `condition` and `correlation` modules.
//! - Partial failure is normal: a broken document does not stop the others in its file,
//!   and a broken file does not stop the others. Only a YAML syntax error rejects a whole
//!   file, because the YAML parser cannot resynchronise after one.
//! - Nothing panics on any input: every lookup goes through `Option`s, recursion is bounded
//!   (YAML nesting is checked on the parser's event stream before any tree is built, and
//!   condition nesting in the condition parser), and the YAML loader runs under
//!   `catch_unwind` as a last line of defence.
//! - YAML is read with `saphyr`'s parser (YAML 1.2) into `tocsin-yaml`'s nodes, which give
//!   each node's line.
//!   Unquoted dates stay text; `0x17` is the integer 23, as in pySigma.
// `SigmaError` carries its file, line, rule identity and YAML path by value (about 160
// bytes). Errors are the cold path and `Result<Document, SigmaError>` is the public shape,
// so boxing them would only make callers' matching clumsier.
#![allow(clippy::result_large_err)]

pub mod ast;
mod condition;
mod correlation;
mod detection;
mod document;
mod error;
mod load;
mod metadata;
mod modifier;
pub mod string;
mod yaml;

use std::path::Path;

use tocsin_yaml::LoadError;

pub use error::{ErrorKind, SigmaError};
pub use load::{load_paths, parse_files, read_files, rule_files, LoadOutcome, RuleFiles};
pub use string::{SigmaString, StringPart};

/// Parses the text of one file into its documents, one result per non-empty YAML document.
///
/// `path` is only used to locate errors and fill [`ast::Location`]s. A YAML syntax error
/// yields a single error for the whole text.
pub fn parse_documents(text: &str, path: &Path) -> Vec<Result<ast::Document, SigmaError>> {
    let documents = match tocsin_yaml::load(text, yaml::MAX_DEPTH) {
        Ok(documents) => documents,
        Err(error) => return vec![Err(load_error(path, error))],
    };
    documents
        .iter()
        .filter(|d| !yaml::is_null(d))
        .map(|d| document::parse_document(d, path))
        .collect()
}

/// The Sigma error for a text the YAML loader refused.
fn load_error(path: &Path, error: LoadError) -> SigmaError {
    let line = error.line();
    let kind = match &error {
        LoadError::TooDeep { limit, .. } => ErrorKind::TooDeep(*limit),
        LoadError::Syntax { message, .. } => ErrorKind::Yaml(message.clone()),
        LoadError::ParserFailed => ErrorKind::Yaml(error.to_string()),
    };
    SigmaError::new(path, line, kind)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::ast::Document;

    const GOOD: &str = "title: Good {n}\nlogsource: {product: windows}\ndetection:\n    sel: x\n    condition: sel\n";

    fn good(n: usize) -> String {
        GOOD.replace("{n}", &n.to_string())
    }

    fn title(result: &Result<Document, SigmaError>) -> String {
        match result {
            Ok(Document::Rule(rule)) => rule.meta.title.clone(),
            other => panic!("expected a rule, got {other:?}"),
        }
    }

    #[test]
    fn broken_document_does_not_stop_the_others() {
        let broken = "title: Broken\nlogsource: {product: windows}\ndetection:\n    sel: x\n    condition: sel and missing\n";
        let text = format!("{}---\n{broken}---\n{}", good(1), good(3));
        let results = parse_documents(&text, Path::new("multi.yml"));
        assert_eq!(results.len(), 3);
        assert_eq!(title(&results[0]), "Good 1");
        assert_eq!(title(&results[2]), "Good 3");
        let Err(err) = &results[1] else {
            panic!("document 2 must fail");
        };
        // Document 1 has 5 lines, then `---`: document 2's condition is on line 11.
        assert_eq!(err.location.line, 11);
        assert_eq!(err.title.as_deref(), Some("Broken"));
        assert!(
            err.to_string()
                .starts_with("multi.yml:11: rule 'Broken': detection.condition:"),
            "{err}"
        );
    }

    #[test]
    fn empty_documents_are_skipped() {
        let text = format!("---\n# only a comment\n---\n{}---\n", good(1));
        let results = parse_documents(&text, Path::new("e.yml"));
        assert_eq!(results.len(), 1);
        assert_eq!(title(&results[0]), "Good 1");
        assert!(parse_documents("", Path::new("e.yml")).is_empty());
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let results = parse_documents(&format!("\u{feff}{}", good(1)), Path::new("b.yml"));
        assert_eq!(title(&results[0]), "Good 1");
    }

    #[test]
    fn yaml_syntax_error_is_one_located_error() {
        let text = format!("{}---\ntitle: x\ndetection: [unclosed\n", good(1));
        let results = parse_documents(&text, Path::new("s.yml"));
        assert_eq!(results.len(), 1);
        let Err(err) = &results[0] else {
            panic!("syntax error expected");
        };
        assert!(matches!(err.kind, ErrorKind::Yaml(_)), "{err}");
        assert!(err.location.line >= 8, "{err}");
        assert!(err.to_string().starts_with("s.yml:"), "{err}");
    }

    #[test]
    fn duplicate_keys_are_a_yaml_error() {
        let text = "title: a\ntitle: b\n";
        let results = parse_documents(text, Path::new("d.yml"));
        assert!(
            matches!(
                &results[..],
                [Err(SigmaError {
                    kind: ErrorKind::Yaml(_),
                    ..
                })]
            ),
            "{results:?}"
        );
    }

    #[test]
    fn deep_nesting_is_one_error_not_a_stack_overflow() {
        for text in [
            format!("{}x", "- ".repeat(100_000)),
            format!(
                "title: T\nx:\n{}",
                (1..2_000)
                    .map(|i| format!("{}k:\n", " ".repeat(i)))
                    .collect::<String>()
            ),
            format!("title: T\nx: {}1{}\n", "[".repeat(100), "]".repeat(100)),
        ] {
            let results = parse_documents(&text, Path::new("deep.yml"));
            assert!(
                matches!(
                    &results[..],
                    [Err(SigmaError {
                        kind: ErrorKind::TooDeep(64),
                        ..
                    })]
                ),
                "{results:?}"
            );
        }
    }

    /// A tiny deterministic generator, so that the garbage is the same on every run.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn garbage_and_truncated_input_never_panics() {
        let mut samples: Vec<String> = vec![
            "\0\0\0".into(),
            ":".into(),
            "- - - -".into(),
            "[[[[[[".into(),
            "{a: {b: {c:".into(),
            "&a [*a]".into(),
            "a: &x 1\nb: *x\n".into(),
            "!!int foo".into(),
            "title: !custom T\nlogsource: !x {product: w}\ndetection: !y\n    sel: !!str 5\n    condition: sel\n".into(),
            "title: [1]\n".into(),
            "? [complex]\n: key\n".into(),
            "title: T\ndetection:\n    ? [a]\n    : b\n    condition: x\n".into(),
            format!("{}x", "- ".repeat(5_000)),
            format!("{}x{}", "[".repeat(300), "]".repeat(300)),
        ];
        // Every prefix of a real rule and of a correlation.
        let rule = format!(
            "{}fields: [a]\nfalsepositives:\n    - x\nlevel: high\n",
            good(1)
        );
        let correlation = "title: C\ncorrelation:\n    type: value_count\n    rules: [a]\n    group-by: [h]\n    timespan: 5m\n    condition: {field: u, gte: 3}\n";
        for text in [rule.as_str(), correlation] {
            for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                samples.push(text[..end].to_owned());
            }
        }
        // Random mutations of the rule.
        let alphabet = b" \n\t:-|*?\\'\"[]{}#&!%@`>,0123456789abcnot()";
        let mut state = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..500 {
            let mut bytes = rule.clone().into_bytes();
            for _ in 0..(xorshift(&mut state) % 8 + 1) {
                let at = (xorshift(&mut state) as usize) % bytes.len();
                bytes[at] = alphabet[(xorshift(&mut state) as usize) % alphabet.len()];
            }
            samples.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        for sample in &samples {
            // Must return (errors or documents) without panicking.
            for result in parse_documents(sample, Path::new("g.yml")) {
                if let Err(err) = result {
                    assert!(!err.to_string().is_empty());
                }
            }
        }
    }

    #[test]
    fn load_paths_walks_sorted_and_reports_errors() {
        let dir = std::env::temp_dir().join(format!("tocsin-sigma-load-{}", std::process::id()));
        let sub = dir.join("b_sub");
        std::fs::create_dir_all(&sub).expect("temp dir");
        std::fs::write(dir.join("c.yml"), good(3)).expect("write");
        std::fs::write(dir.join("a.yaml"), good(1)).expect("write");
        std::fs::write(sub.join("b.yml"), good(2)).expect("write");
        std::fs::write(dir.join("ignored.txt"), "not yaml").expect("write");
        std::fs::write(dir.join("d.yml"), "title: [").expect("write");
        std::fs::write(dir.join("e.yml"), [0xff, 0xfe, 0x00]).expect("write");
        let missing = dir.join("missing.yml");

        let outcome = load_paths(&[dir.clone(), missing.clone()]);
        let _ = std::fs::remove_dir_all(&dir);

        assert_eq!(outcome.files, 6);
        let titles: Vec<&str> = outcome
            .documents
            .iter()
            .map(|d| match d {
                Document::Rule(r) => r.meta.title.as_str(),
                other => panic!("rule expected, got {other:?}"),
            })
            .collect();
        assert_eq!(titles, vec!["Good 1", "Good 2", "Good 3"]);
        let error_paths: Vec<PathBuf> = outcome
            .errors
            .iter()
            .map(|e| e.location.path.clone())
            .collect();
        assert_eq!(
            error_paths,
            vec![dir.join("d.yml"), dir.join("e.yml"), missing]
        );
        assert!(matches!(outcome.errors[0].kind, ErrorKind::Yaml(_)));
        assert!(matches!(&outcome.errors[1].kind, ErrorKind::Io(m) if m.contains("UTF-8")));
        assert!(matches!(outcome.errors[2].kind, ErrorKind::Io(_)));
    }
}
