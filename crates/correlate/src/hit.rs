//! What the correlator takes in (a [`RuleName`]) and gives out (a [`CorrelationHit`]).

use std::ops::ControlFlow;
use std::sync::Arc;

use tocsin_event::{FieldNames, FieldValue, Fields};
use tocsin_sigma::ast::{CorrelationType, Level, Location};

/// Identifies a rule (or correlation) by the `id` and `name` Sigma gives it, the two ways a
/// correlation's `rules` list may refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct RuleName {
    /// The rule's `id`, usually a UUID.
    pub id: Option<String>,
    /// The rule's `name`, a unique human-readable identifier.
    pub name: Option<String>,
}

impl RuleName {
    /// A reference with both an id and a name.
    pub fn new(id: Option<&str>, name: Option<&str>) -> Self {
        Self {
            id: id.map(str::to_owned),
            name: name.map(str::to_owned),
        }
    }

    /// The keys a `rules` entry may use to refer to this rule: the id, then the name.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.id.iter().chain(self.name.iter()).map(String::as_str)
    }
}

/// The correlation rule that raised a hit: what an analyst needs to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationInfo {
    /// The rule's position in the list given to [`crate::Correlator::build`].
    pub index: usize,
    /// The correlation's `id`.
    pub id: Option<String>,
    /// The correlation's `name`.
    pub name: Option<String>,
    /// The correlation's `title`.
    pub title: String,
    /// The correlation's `level`.
    pub level: Option<Level>,
    /// The correlation's `tags`.
    pub tags: Vec<String>,
    /// The correlation type.
    pub kind: CorrelationType,
    /// Where the correlation was written.
    pub location: Location,
}

/// Where a contributing match came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    /// A match of a detection rule: the handle the caller passed to
    /// [`crate::Correlator::observe`] (for example an event's index in a store).
    Event(u64),
    /// A hit of a referenced correlation (correlation of correlations).
    Correlation(Arc<CorrelationHit>),
}

/// One match that contributed to a hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    /// The rule or correlation that matched.
    pub rule: RuleName,
    /// When it matched, in microseconds since the Unix epoch.
    pub timestamp_micros: i64,
    /// The event handle or the nested correlation hit.
    pub evidence: Evidence,
}

/// A correlation rule whose condition held for one group within one window.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationHit {
    /// The correlation rule that matched.
    pub correlation: Arc<CorrelationInfo>,
    /// The `group-by` fields (as written in the rule, aliases included) and the value they
    /// had, in the rule's order; empty when the rule has no `group-by`.
    pub group: Vec<(String, String)>,
    /// Where the window starts: the oldest match in it for conditions checked at every
    /// match, the match that opened it for conditions checked when it closes.
    pub window_start_micros: i64,
    /// The last microsecond of the window; also the hit's timestamp when it feeds another
    /// correlation.
    pub window_end_micros: i64,
    /// The aggregate the condition was checked on: the event count (`event_count`), the
    /// distinct value count (`value_count`), the number of referenced rules seen
    /// (`temporal`) or seen in order (`temporal_ordered`), the sum, the average, or the
    /// percentile (see the crate documentation for `value_percentile`).
    pub aggregate: f64,
    /// The matches in the window, oldest first.
    pub matches: Vec<Contribution>,
    /// Whether to show this hit on its own. `false` for a correlation that other
    /// correlations reference without `generate: true`: its hits only feed them.
    pub visible: bool,
}

impl CorrelationHit {
    /// The handles of every event behind this hit, nested correlation hits included, in
    /// the order of [`CorrelationHit::matches`].
    pub fn event_handles(&self) -> Vec<u64> {
        let mut handles = Vec::new();
        self.collect_handles(&mut handles);
        handles
    }

    fn collect_handles(&self, out: &mut Vec<u64>) {
        for contribution in &self.matches {
            match &contribution.evidence {
                Evidence::Event(handle) => out.push(*handle),
                Evidence::Correlation(hit) => hit.collect_handles(out),
            }
        }
    }
}

/// A hit is read by the correlations that reference it through its group-by values: a
/// parent correlation's `group-by` names must be group-by names of the child.
impl Fields for CorrelationHit {
    fn visit<'a>(
        &'a self,
        name: &str,
        visit: &mut dyn FnMut(FieldValue<'a>) -> ControlFlow<()>,
    ) -> bool {
        match self.group.iter().find(|(field, _)| field == name) {
            Some((_, value)) => {
                let _ = visit(FieldValue::Str(value));
                true
            }
            None => false,
        }
    }

    fn visit_all<'a>(&'a self, visit: &mut dyn FnMut(FieldValue<'a>) -> ControlFlow<()>) {
        for (_, value) in &self.group {
            if visit(FieldValue::Str(value)).is_break() {
                return;
            }
        }
    }

    fn visit_all_named<'a>(
        &'a self,
        visit: &mut dyn FnMut(FieldNames<'_>, FieldValue<'a>) -> ControlFlow<()>,
    ) {
        for (name, value) in &self.group {
            let names = FieldNames { name, path: None };
            if visit(names, FieldValue::Str(value)).is_break() {
                return;
            }
        }
    }
}
