//! A correlation rule prepared for evaluation: references resolved to nodes, field names
//! resolved through aliases, the default condition filled in, the mode chosen.

use std::collections::HashMap;
use std::sync::Arc;

use tocsin_event::{FieldValue, Fields};
use tocsin_sigma::ast::{Comparison, CorrelationRule, CorrelationType};

use crate::condition::{self, Mode};
use crate::graph::{NodeId, Resolved};
use crate::hit::CorrelationInfo;

/// A field as the correlation names it, and the field actually read in each referenced
/// rule's events (from `aliases`; rules the alias does not mention use the name itself).
#[derive(Debug, Clone)]
pub(crate) struct FieldName {
    /// The name written in `group-by` or `condition.field`.
    pub name: String,
    per_node: HashMap<NodeId, String>,
}

impl FieldName {
    fn new(name: &str, resolved: &Resolved) -> Self {
        Self {
            name: name.to_owned(),
            per_node: resolved.aliases.get(name).cloned().unwrap_or_default(),
        }
    }

    /// The field to read in the events of `node`.
    fn for_node(&self, node: NodeId) -> &str {
        self.per_node.get(&node).map_or(&self.name, String::as_str)
    }
}

/// What one match carries into a window besides its time and rule: the aggregated field's
/// value as text (distinct counts, shares) and as a number (sums, averages, percentiles).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sample {
    pub text: Option<Box<str>>,
    pub number: Option<f64>,
}

/// A valid correlation, ready to evaluate.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub info: Arc<CorrelationInfo>,
    /// This correlation's own node (its hits are matches of it).
    pub node: NodeId,
    /// The referenced nodes, in the order of `rules`.
    pub rules: Vec<NodeId>,
    pub timespan_micros: i64,
    pub group_by: Vec<FieldName>,
    pub value_field: Option<FieldName>,
    /// The condition; for `temporal` types without one, "every referenced rule seen".
    pub comparisons: Vec<(Comparison, f64)>,
    /// The percentile (0 to 100) of `value_percentile`, when given.
    pub percentile: Option<f64>,
    pub mode: Mode,
    /// Whether hits are shown on their own (see [`crate::CorrelationHit::visible`]).
    pub visible: bool,
}

impl Compiled {
    /// Prepares correlation `index`; `node` is its node and `visible` whether its hits are
    /// shown on their own.
    pub fn new(
        index: usize,
        rule: &CorrelationRule,
        resolved: &Resolved,
        node: NodeId,
        visible: bool,
    ) -> Self {
        let info = CorrelationInfo {
            index,
            id: rule.meta.id.clone(),
            name: rule.meta.name.clone(),
            title: rule.meta.title.clone(),
            level: rule.meta.level,
            tags: rule.meta.tags.clone(),
            kind: rule.kind,
            location: rule.meta.location.clone(),
        };
        let comparisons = match &rule.condition {
            Some(c) => c.comparisons.clone(),
            None => vec![(
                Comparison::Gte,
                default_threshold(rule.kind, &resolved.rules),
            )],
        };
        let seconds = i64::try_from(rule.timespan_seconds).unwrap_or(i64::MAX);
        Self {
            info: Arc::new(info),
            node,
            rules: resolved.rules.clone(),
            timespan_micros: seconds.saturating_mul(1_000_000),
            group_by: rule
                .group_by
                .iter()
                .map(|name| FieldName::new(name, resolved))
                .collect(),
            value_field: rule
                .condition
                .as_ref()
                .and_then(|c| c.field.as_deref())
                .map(|name| FieldName::new(name, resolved)),
            mode: condition::mode(rule.kind, &comparisons),
            comparisons,
            percentile: rule.condition.as_ref().and_then(|c| c.percentile),
            visible,
        }
    }

    /// The correlation type.
    pub fn kind(&self) -> CorrelationType {
        self.info.kind
    }

    /// `value_percentile` without a `percentile`: the aggregate is the share of the
    /// window's matches that have this match's value (see the crate documentation).
    pub fn share_mode(&self) -> bool {
        self.kind() == CorrelationType::ValuePercentile && self.percentile.is_none()
    }

    /// The group-by values of a match of `node`, or `None` when a group-by field is
    /// absent or null in its event.
    pub fn group_key(&self, node: NodeId, event: &dyn Fields) -> Option<Vec<String>> {
        self.group_by
            .iter()
            .map(|field| match event.first(field.for_node(node)) {
                None | Some(FieldValue::Null) => None,
                Some(value) => Some(value.to_string()),
            })
            .collect()
    }

    /// The aggregated field's value in a match of `node`.
    pub fn sample(&self, node: NodeId, event: &dyn Fields) -> Sample {
        let Some(field) = &self.value_field else {
            return Sample::default();
        };
        match event.first(field.for_node(node)) {
            None | Some(FieldValue::Null) => Sample::default(),
            Some(value) => Sample {
                text: Some(value.to_string().into_boxed_str()),
                number: value.as_f64(),
            },
        }
    }
}

/// "Every referenced rule seen": the number of distinct rules for `temporal`, the length
/// of the sequence for `temporal_ordered` (which may repeat a rule).
fn default_threshold(kind: CorrelationType, rules: &[NodeId]) -> f64 {
    let count = if kind == CorrelationType::TemporalOrdered {
        rules.len()
    } else {
        let mut distinct = rules.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        distinct.len()
    };
    count as f64
}
