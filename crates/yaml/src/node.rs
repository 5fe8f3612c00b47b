//! The tree [`load`](crate::load) builds: nodes with their line, mappings kept as lists of
//! entries in the order written.
//!
//! `saphyr`'s own tree keeps each mapping in a hash map keyed by whole nodes, hashed and
//! linked on every insertion; tocsin's readers only walk mappings in order, so a list is all
//! they need, and building it took a third of the loading time that the hash map did.

use saphyr::Scalar;

/// A YAML node: its value and the line it starts at.
///
/// Tags are dropped when the tree is built: every reader reads a tagged node as the node
/// inside, and a core tag (`!!str 123`) has already decided how the scalar was read.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// The 1-based line the node starts at.
    pub line: usize,
    /// What it holds.
    pub data: YamlData<'a>,
}

/// What a [`Node`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum YamlData<'a> {
    /// A scalar, resolved by the YAML 1.2 core schema (quoted scalars are strings).
    Value(Scalar<'a>),
    /// A sequence's items.
    Sequence(Vec<Node<'a>>),
    /// A mapping's entries in the order written; no two keys are equal.
    Mapping(Vec<(Node<'a>, Node<'a>)>),
    /// A scalar its core tag cannot read (`!!int abc`).
    BadValue,
}

/// Nodes compare by value, wherever they are written (as mapping keys do).
impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}

impl Eq for Node<'_> {}

impl std::hash::Hash for Node<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.data.hash(state);
    }
}

impl Node<'_> {
    /// The number of nodes in this one's tree, itself included, counted while they fit in
    /// `budget`: `None` past it.
    pub(crate) fn size_within(&self, budget: usize) -> Option<usize> {
        let mut left = budget.checked_sub(1)?;
        let mut count = |child: &Node<'_>| -> Option<()> {
            left -= child.size_within(left)?;
            Some(())
        };
        match &self.data {
            YamlData::Sequence(items) => items.iter().try_for_each(&mut count)?,
            YamlData::Mapping(entries) => entries
                .iter()
                .try_for_each(|(key, value)| count(key).and_then(|()| count(value)))?,
            YamlData::Value(_) | YamlData::BadValue => {}
        }
        Some(budget - left)
    }
}
