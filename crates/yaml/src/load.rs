//! Loading YAML text into nodes in one pass, refusing deep nesting as it goes.
//!
//! The parser's events are built into tocsin's own tree ([`Node`]): `saphyr`'s loader keeps
//! every mapping in a hash map keyed by whole nodes, which cost a third of loading the
//! SigmaHQ rules on top of parsing them; a list of entries costs a tenth. The loader keeps
//! what made `saphyr`'s safe: a mapping with two equal keys is refused, aliases are expanded
//! within a budget of nodes (so that a "billion laughs" text is refused instead of filling
//! memory), and the parser's string input is used rather than a character iterator.
//!
//! Nesting is bounded before a tree exists: a tree nested a hundred thousand levels deep
//! (`- - - - …`) overflows the stack when it is dropped, and tocsin's readers walk trees
//! recursively. The loader counts the depth of every collection and stops at the first one
//! too deep.
//!
//! Every YAML text a user supplies (rules, logsource mappings, placeholders, detector
//! configuration) goes through [`load`], so that each reader gets the same guard, the same
//! last line of defence against a parser panic, and the same errors.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::panic::{catch_unwind, AssertUnwindSafe};

use foldhash::fast::RandomState;
use saphyr::Scalar;
use saphyr_parser::{Event, Parser, ScanError, Span};

use crate::node::{Node, YamlData};

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
/// A syntax error (two equal keys in a mapping and aliases past [`ALIAS_BUDGET`] nodes
/// included), or the first collection nested too deep, with its line; or
/// [`LoadError::ParserFailed`] should the parser panic.
pub fn load(text: &str, max_depth: usize) -> Result<Vec<Node<'_>>, LoadError> {
    catch_unwind(AssertUnwindSafe(|| load_guarded(text, max_depth)))
        .unwrap_or(Err(LoadError::ParserFailed))
}

/// How many nodes the aliases of one text may add to its tree in all, as `saphyr`'s loader
/// allows: ten nested aliases to ten of the level below would otherwise build ten billion.
pub const ALIAS_BUDGET: usize = 100_000;

/// Mappings with more entries than this look their keys up in a set of hashes rather than
/// comparing each new key with every one before it (a rule's top level has about fifteen).
const SCANNED_KEYS: usize = 32;

/// [`load`] without the panic guard.
fn load_guarded(text: &str, max_depth: usize) -> Result<Vec<Node<'_>>, LoadError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut tree = TreeBuilder {
        open: Vec::new(),
        documents: Vec::new(),
        document_has_root: false,
        anchors: HashMap::new(),
        alias_budget: ALIAS_BUDGET,
        max_depth,
        hasher: RandomState::default(),
    };
    // The parser's own `load` recurses once per level; its event iterator does not.
    for item in Parser::new_from_str(text) {
        let (event, span) = item?;
        tree.on_event(event, span)?;
    }
    Ok(tree.documents)
}

/// Builds documents from the parser's events.
struct TreeBuilder<'input> {
    /// The collections being read, outermost first.
    open: Vec<OpenCollection<'input>>,
    /// The documents read.
    documents: Vec<Node<'input>>,
    /// Whether the document being read has its node yet.
    document_has_root: bool,
    /// Each anchored node, by the parser's anchor id.
    anchors: HashMap<usize, Node<'input>>,
    /// How many more nodes aliases may add.
    alias_budget: usize,
    /// The deepest nesting allowed.
    max_depth: usize,
    /// Hashes mapping keys (see [`holds_key`]); seeded at random, so that no text can be
    /// written to make keys collide.
    hasher: RandomState,
}

/// A sequence or mapping being read.
struct OpenCollection<'input> {
    node: Node<'input>,
    /// The parser's anchor id for it (0 for none).
    anchor: usize,
    /// For a mapping, the key read whose value is next.
    key: Option<Node<'input>>,
    /// For a mapping past [`SCANNED_KEYS`] entries, the hashes of its keys.
    key_hashes: HashSet<u64>,
}

impl<'input> TreeBuilder<'input> {
    fn on_event(&mut self, event: Event<'input>, span: Span) -> Result<(), LoadError> {
        let line = span.start.line();
        match event {
            Event::SequenceStart(anchor, _) => {
                self.open(line, anchor, YamlData::Sequence(Vec::new()))
            }
            Event::MappingStart(anchor, _) => {
                self.open(line, anchor, YamlData::Mapping(Vec::new()))
            }
            Event::SequenceEnd | Event::MappingEnd => match self.open.pop() {
                Some(collection) => self.add(collection.node, collection.anchor),
                None => Ok(()),
            },
            Event::Scalar(text, style, anchor, tag) => {
                // A custom tag is dropped before the scalar is read, as `saphyr` reads the
                // node inside one (`!custom` alone is null, not an empty string).
                let core_tag = tag.filter(|tag| tag.is_yaml_core_schema());
                let data = Scalar::parse_from_cow_and_metadata(text, style, core_tag.as_ref())
                    .map_or(YamlData::BadValue, YamlData::Value);
                self.add(Node { line, data }, anchor)
            }
            Event::Alias(anchor) => {
                let node = self.expand_alias(anchor, line)?;
                self.add(node, 0)
            }
            Event::DocumentStart(..) => {
                self.document_has_root = false;
                Ok(())
            }
            Event::DocumentEnd => {
                // An empty document, as `saphyr` reads it.
                if !std::mem::replace(&mut self.document_has_root, true) {
                    self.documents.push(Node {
                        line,
                        data: YamlData::BadValue,
                    });
                }
                Ok(())
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => Ok(()),
        }
    }

    /// Starts reading a collection, unless it is nested too deep.
    fn open(
        &mut self,
        line: usize,
        anchor: usize,
        data: YamlData<'input>,
    ) -> Result<(), LoadError> {
        if self.open.len() >= self.max_depth {
            return Err(LoadError::TooDeep {
                line,
                limit: self.max_depth,
            });
        }
        self.open.push(OpenCollection {
            node: Node { line, data },
            anchor,
            key: None,
            key_hashes: HashSet::new(),
        });
        Ok(())
    }

    /// Adds a node read whole to the collection it is in, or as a document's node.
    fn add(&mut self, node: Node<'input>, anchor: usize) -> Result<(), LoadError> {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(parent) = self.open.last_mut() else {
            self.document_has_root = true;
            self.documents.push(node);
            return Ok(());
        };
        match &mut parent.node.data {
            YamlData::Sequence(items) => items.push(node),
            YamlData::Mapping(entries) => match parent.key.take() {
                None => parent.key = Some(node),
                Some(key) => {
                    if holds_key(entries, &mut parent.key_hashes, &self.hasher, &key) {
                        return Err(LoadError::Syntax {
                            line: key.line,
                            message: "duplicated key in mapping".to_owned(),
                        });
                    }
                    entries.push((key, node));
                }
            },
            YamlData::Value(_) | YamlData::BadValue => {}
        }
        Ok(())
    }

    /// A copy of the node anchored as `anchor`, if the alias budget allows it.
    fn expand_alias(&mut self, anchor: usize, line: usize) -> Result<Node<'input>, LoadError> {
        let Some(node) = self.anchors.get(&anchor) else {
            return Ok(Node {
                line,
                data: YamlData::BadValue,
            });
        };
        let Some(size) = node.size_within(self.alias_budget) else {
            return Err(LoadError::Syntax {
                line,
                message: format!(
                    "aliases expand to more than {ALIAS_BUDGET} nodes (a \"billion laughs\" text?)"
                ),
            });
        };
        self.alias_budget -= size;
        Ok(Node {
            line,
            data: node.data.clone(),
        })
    }
}

/// Whether `entries` already hold `key`. Past [`SCANNED_KEYS`] entries, `hashes` holds the
/// hash of every key, so that only a key whose hash is there is compared with the others.
fn holds_key(
    entries: &[(Node<'_>, Node<'_>)],
    hashes: &mut HashSet<u64>,
    hasher: &RandomState,
    key: &Node<'_>,
) -> bool {
    let scan = || entries.iter().any(|(known, _)| known == key);
    if entries.len() < SCANNED_KEYS {
        return scan();
    }
    if hashes.is_empty() {
        hashes.extend(entries.iter().map(|(known, _)| hasher.hash_one(known)));
    }
    !hashes.insert(hasher.hash_one(key)) && scan()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_documents_with_their_lines() {
        let docs = load("\u{feff}a: 1\nb:\n  - x\n---\nc: 2\n", 8).expect("valid");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].line, 5);
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
    fn mappings_keep_their_order_and_refuse_equal_keys() {
        let docs = load("b: 1\na: 2\nc: 3\n", 8).expect("valid");
        let YamlData::Mapping(entries) = &docs[0].data else {
            panic!("a mapping");
        };
        let keys: Vec<_> = entries.iter().map(|(k, _)| k.data.clone()).collect();
        let text = |s: &'static str| YamlData::Value(Scalar::String(s.into()));
        assert_eq!(keys, vec![text("b"), text("a"), text("c")]);
        let duplicate = load("a: 1\nb: 2\na: 3\n", 8).unwrap_err();
        assert_eq!(duplicate.line(), 3, "{duplicate}");
        // Past the keys compared one by one, through their hashes; `1` and `"1"` differ.
        let mut many: String = (0..50).map(|i| format!("k{i}: {i}\n")).collect();
        many.push_str("1: int\n\"1\": text\n");
        assert!(load(&many, 8).is_ok());
        many.push_str("k7: again\n");
        assert_eq!(load(&many, 8).unwrap_err().line(), 53);
    }

    #[test]
    fn aliases_copy_their_anchor_within_a_budget() {
        let docs = load("a: &x [1, {b: 2}]\nc: *x\n", 8).expect("valid");
        let YamlData::Mapping(entries) = &docs[0].data else {
            panic!("a mapping");
        };
        assert_eq!(entries[0].1, entries[1].1);
        assert_eq!(entries[1].1.line, 2, "the copy is where the alias is");
        // Nine levels of ten aliases each would expand to a billion nodes.
        let mut laughs = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..9 {
            let below = format!("*l{}", level - 1);
            let items = vec![below; 10].join(", ");
            laughs.push_str(&format!("l{level}: &l{level} [{items}]\n"));
        }
        let Err(LoadError::Syntax { message, .. }) = load(&laughs, 16) else {
            panic!("the expansion refused");
        };
        assert!(message.contains("100000 nodes"), "{message}");
    }

    #[test]
    fn tags_are_dropped_and_core_tags_read_the_scalar() {
        let docs = load("a: !custom 12\nb: !!str 12\nc: !!int x\nd: !seq [1]\n", 8).expect("valid");
        let YamlData::Mapping(entries) = &docs[0].data else {
            panic!("a mapping");
        };
        assert_eq!(entries[0].1.data, YamlData::Value(Scalar::Integer(12)));
        assert_eq!(
            entries[1].1.data,
            YamlData::Value(Scalar::String("12".into()))
        );
        assert_eq!(entries[2].1.data, YamlData::BadValue);
        assert!(matches!(entries[3].1.data, YamlData::Sequence(_)));
        // A key its tag cannot read keeps its value (`saphyr`'s loader took it for "no key
        // yet" and paired the next key with this value).
        let docs = load("{!!int abc: 1, b: 2}\n", 8).expect("valid");
        let YamlData::Mapping(entries) = &docs[0].data else {
            panic!("a mapping");
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].0.data, YamlData::BadValue);
        assert_eq!(entries[0].1.data, YamlData::Value(Scalar::Integer(1)));
        assert_eq!(entries[1].1.data, YamlData::Value(Scalar::Integer(2)));
    }

    #[test]
    fn empty_documents_are_null_and_no_text_has_none() {
        let docs = load("---\n---\na: 1\n", 8).expect("valid");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].data, YamlData::Value(Scalar::Null));
        assert!(load("", 8).expect("valid").is_empty());
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
