//! Resolves the `rules` and `aliases` references of correlations to rules, and rejects
//! unknown or ambiguous references and reference cycles.
//!
//! Every rule and correlation is a node: base rules first, then correlations. An edge goes
//! from a correlation to each node it references. A correlation is invalid when a
//! reference is unknown or ambiguous, when it lies on a cycle, or when it references an
//! invalid correlation; invalid correlations are left out and reported.

use std::collections::{BTreeMap, HashMap};

use tocsin_sigma::ast::CorrelationRule;

use crate::error::CorrelateError;
use crate::hit::RuleName;

/// Index of a node: `0..base_count` are base rules, then one node per correlation.
pub(crate) type NodeId = usize;

/// The references of one correlation, resolved to nodes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    /// The `rules` entries in order (duplicates kept: `temporal_ordered` may repeat one).
    pub rules: Vec<NodeId>,
    /// alias -> (node -> field name in that node's events).
    pub aliases: BTreeMap<String, HashMap<NodeId, String>>,
}

/// Nodes, the lookup from id/name to node, and each correlation's resolution.
#[derive(Debug)]
pub(crate) struct Graph {
    /// The id and name of each node.
    pub nodes: Vec<RuleName>,
    /// How many nodes are base rules.
    pub base_count: usize,
    /// id or name -> every node answering to it.
    keys: foldhash::HashMap<String, Vec<NodeId>>,
    /// One entry per correlation: its resolution, or `None` when it is invalid.
    pub resolved: Vec<Option<Resolved>>,
}

impl Graph {
    /// Builds the graph and returns it with the errors of the invalid correlations.
    pub fn build(
        correlations: &[CorrelationRule],
        base_rules: &[RuleName],
    ) -> (Graph, Vec<CorrelateError>) {
        let nodes: Vec<RuleName> = base_rules
            .iter()
            .cloned()
            .chain(
                correlations
                    .iter()
                    .map(|c| RuleName::new(c.meta.id.as_deref(), c.meta.name.as_deref())),
            )
            .collect();
        let mut keys = foldhash::HashMap::<String, Vec<NodeId>>::default();
        for (node, rule) in nodes.iter().enumerate() {
            for key in rule.keys() {
                let entry = keys.entry(key.to_owned()).or_default();
                if !entry.contains(&node) {
                    entry.push(node);
                }
            }
        }
        let mut graph = Graph {
            nodes,
            base_count: base_rules.len(),
            keys,
            resolved: Vec::new(),
        };
        let mut errors = Vec::new();
        let mut resolved: Vec<Option<Resolved>> = correlations
            .iter()
            .map(|c| graph.resolve(c).map_err(|e| errors.push(e)).ok())
            .collect();
        graph.reject_cycles(correlations, &mut resolved, &mut errors);
        graph.reject_invalid_dependencies(correlations, &mut resolved, &mut errors);
        graph.resolved = resolved;
        (graph, errors)
    }

    /// The node a rule observed at run time answers to: by id first, then by name.
    pub fn lookup(&self, rule: &RuleName) -> Option<NodeId> {
        rule.keys()
            .find_map(|key| self.keys.get(key).and_then(|nodes| nodes.first().copied()))
    }

    /// The node of correlation `index`.
    pub fn correlation_node(&self, index: usize) -> NodeId {
        self.base_count + index
    }

    /// The valid correlations, each after every correlation it references.
    pub fn children_first(&self) -> Vec<usize> {
        let mut order = Vec::new();
        let mut placed = vec![false; self.resolved.len()];
        for index in 0..self.resolved.len() {
            self.place(index, &mut placed, &mut order);
        }
        order
    }

    /// Depth-first post-order placement (the graph of valid correlations has no cycle).
    fn place(&self, index: usize, placed: &mut [bool], order: &mut Vec<usize>) {
        if placed[index] {
            return;
        }
        placed[index] = true;
        let Some(resolved) = &self.resolved[index] else {
            return;
        };
        for child in resolved
            .rules
            .iter()
            .filter_map(|&n| self.correlation_index(n))
        {
            self.place(child, placed, order);
        }
        order.push(index);
    }

    /// The correlation a node is, if it is one.
    fn correlation_index(&self, node: NodeId) -> Option<usize> {
        node.checked_sub(self.base_count)
    }

    fn resolve(&self, rule: &CorrelationRule) -> Result<Resolved, CorrelateError> {
        let rules = rule
            .rules
            .iter()
            .map(|reference| self.resolve_key(rule, reference))
            .collect::<Result<Vec<_>, _>>()?;
        let mut aliases = BTreeMap::new();
        for (alias, fields) in &rule.aliases {
            let mut per_node = HashMap::new();
            for (reference, field) in fields {
                let node = self.resolve_key(rule, reference)?;
                if !rules.contains(&node) {
                    return Err(CorrelateError::AliasForUnreferencedRule {
                        at: at(rule),
                        title: rule.meta.title.clone(),
                        alias: alias.clone(),
                        reference: reference.clone(),
                    });
                }
                per_node.insert(node, field.clone());
            }
            aliases.insert(alias.clone(), per_node);
        }
        Ok(Resolved { rules, aliases })
    }

    fn resolve_key(
        &self,
        rule: &CorrelationRule,
        reference: &str,
    ) -> Result<NodeId, CorrelateError> {
        match self.keys.get(reference).map(Vec::as_slice) {
            Some([node]) => Ok(*node),
            Some(many) if many.len() > 1 => Err(CorrelateError::AmbiguousReference {
                at: at(rule),
                title: rule.meta.title.clone(),
                reference: reference.to_owned(),
                count: many.len(),
            }),
            _ => Err(CorrelateError::UnknownReference {
                at: at(rule),
                title: rule.meta.title.clone(),
                reference: reference.to_owned(),
            }),
        }
    }

    /// Marks every correlation on a reference cycle invalid (depth-first search with
    /// white/grey/black colouring; a grey node met again closes a cycle).
    fn reject_cycles(
        &self,
        correlations: &[CorrelationRule],
        resolved: &mut [Option<Resolved>],
        errors: &mut Vec<CorrelateError>,
    ) {
        let mut colour = vec![Colour::White; correlations.len()];
        let mut on_cycle = vec![None; correlations.len()];
        for start in 0..correlations.len() {
            let mut path = Vec::new();
            self.visit(start, resolved, &mut colour, &mut path, &mut on_cycle);
        }
        for (index, cycle) in on_cycle.into_iter().enumerate() {
            if let Some(cycle) = cycle {
                let names: Vec<&str> = cycle
                    .iter()
                    .map(|&i: &usize| correlations[i].meta.title.as_str())
                    .collect();
                let rule = &correlations[index];
                errors.push(CorrelateError::Cycle {
                    at: at(rule),
                    title: rule.meta.title.clone(),
                    cycle: names.join(" -> "),
                });
                resolved[index] = None;
            }
        }
    }

    fn visit(
        &self,
        index: usize,
        resolved: &[Option<Resolved>],
        colour: &mut [Colour],
        path: &mut Vec<usize>,
        on_cycle: &mut [Option<Vec<usize>>],
    ) {
        if colour[index] != Colour::White {
            return;
        }
        colour[index] = Colour::Grey;
        path.push(index);
        let children = resolved[index].iter().flat_map(|r| r.rules.iter());
        for child in children.filter_map(|&node| self.correlation_index(node)) {
            match colour[child] {
                Colour::White => self.visit(child, resolved, colour, path, on_cycle),
                Colour::Grey => {
                    let begin = path.iter().rposition(|&i| i == child).unwrap_or(0);
                    let mut cycle = path[begin..].to_vec();
                    cycle.push(child);
                    for &member in &path[begin..] {
                        on_cycle[member].get_or_insert_with(|| cycle.clone());
                    }
                }
                Colour::Black => {}
            }
        }
        path.pop();
        colour[index] = Colour::Black;
    }

    /// Marks invalid every correlation that references an invalid correlation, until no
    /// more change.
    fn reject_invalid_dependencies(
        &self,
        correlations: &[CorrelationRule],
        resolved: &mut [Option<Resolved>],
        errors: &mut Vec<CorrelateError>,
    ) {
        loop {
            let broken = (0..correlations.len()).find_map(|index| {
                let rules = &resolved[index].as_ref()?.rules;
                let position = rules.iter().position(|&node| {
                    self.correlation_index(node)
                        .is_some_and(|child| resolved[child].is_none())
                })?;
                Some((index, position))
            });
            let Some((index, position)) = broken else {
                return;
            };
            let rule = &correlations[index];
            errors.push(CorrelateError::InvalidDependency {
                at: at(rule),
                title: rule.meta.title.clone(),
                reference: rule.rules.get(position).cloned().unwrap_or_default(),
            });
            resolved[index] = None;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Colour {
    White,
    Grey,
    Black,
}

/// `file:line` of a correlation, for error messages.
pub(crate) fn at(rule: &CorrelationRule) -> String {
    let path = rule.meta.location.path.display().to_string();
    let path = if path.is_empty() {
        "<text>".to_owned()
    } else {
        path
    };
    format!("{path}:{}", rule.meta.location.line)
}
