//! Compiled detection expressions and their evaluation over one event.

use serde::{Deserialize, Serialize};
use std::ops::{ControlFlow, Range};

use tocsin_event::{FieldValue, Fields};

use crate::matcher::{field_ref_matches, with_text, ValueMatcher};
use crate::prefilter::TextBuffers;
use crate::text::TextPattern;

/// A compiled boolean expression over one event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Expr {
    /// All must hold (empty: true).
    And(Vec<Expr>),
    /// Any must hold (empty: false).
    Or(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// A test of one field's values.
    Field(Box<FieldTest>),
    /// `field|exists: true/false`.
    Exists { field: u32, present: bool },
    /// A keyword (field-less) search over every value of the event.
    Keywords(Box<KeywordTest>),
}

/// `field|modifiers: values`, compiled.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FieldTest {
    /// The field's id in the engine's interner.
    pub(crate) field: u32,
    /// The values, linked with OR (AND when `all`).
    pub(crate) matchers: Vec<ValueMatcher>,
    /// The `all` modifier.
    pub(crate) all: bool,
    /// The `neq` modifier: the result is negated.
    pub(crate) negate: bool,
    /// Per matcher, the prefilter literals of which its matching values contain one (empty:
    /// not known); filled in by [`crate::prefilter::LiteralTable::annotate`].
    pub(crate) literals: Vec<Vec<u32>>,
}

/// A keyword list, compiled.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeywordTest {
    /// The keywords, linked with OR (AND when `all`).
    pub(crate) patterns: Vec<TextPattern>,
    /// The `all` modifier.
    pub(crate) all: bool,
}

/// Per-thread buffers reused from event to event, so evaluation does not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    slots: Vec<Slot>,
    values: Vec<FieldValue<'static>>,
    generation: u32,
    pub(crate) matched: Vec<u32>,
    /// Per literal of the prefilter, the stamp of the last event that contained it.
    pub(crate) literals_seen: Vec<u32>,
    /// The literals found in the current event, each once.
    pub(crate) literals_found: Vec<u32>,
    /// The buffers the literal scans lowercase text into.
    pub(crate) text_buffers: TextBuffers,
    /// Per candidate list of the current event, the stamp of the last event that met each
    /// candidate's need.
    pub(crate) needs_met: [Vec<u32>; 3],
    /// Per candidate list of the current event, the candidates whose need was met.
    pub(crate) needs_due: [Vec<u32>; 3],
    literal_generation: u32,
}

impl Scratch {
    /// The literal stamps and a fresh stamp for the next event (clearing the stamps when the
    /// counter wraps, so an old stamp never passes for a new one).
    pub(crate) fn take_literals(&mut self) -> (Vec<u32>, u32) {
        self.literal_generation = self.literal_generation.wrapping_add(1);
        if self.literal_generation == 0 {
            self.literals_seen.iter_mut().for_each(|s| *s = 0);
            self.needs_met.iter_mut().flatten().for_each(|s| *s = 0);
            self.literal_generation = 1;
        }
        (
            std::mem::take(&mut self.literals_seen),
            self.literal_generation,
        )
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    generation: u32,
    exists: bool,
    start: u32,
    len: u32,
}

/// The literals the prefilter found in one event: `seen[id] == generation`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamps<'s> {
    pub(crate) seen: &'s [u32],
    pub(crate) generation: u32,
}

impl Stamps<'_> {
    /// Whether one of `ids` was found; `true` when `ids` is empty (nothing known).
    pub(crate) fn any(&self, ids: &[u32]) -> bool {
        ids.is_empty()
            || ids
                .iter()
                .any(|&id| self.seen.get(id as usize) == Some(&self.generation))
    }
}

/// Re-types an emptied vector so that its allocation can be reused under another lifetime.
fn recycle<'b>(mut values: Vec<FieldValue<'_>>) -> Vec<FieldValue<'b>> {
    values.clear();
    values.into_iter().map(|_| FieldValue::Null).collect()
}

/// One event seen through the engine's field-name interner, with each field's values looked
/// up at most once.
pub(crate) struct EventView<'e, 's> {
    /// The prefilter's literal stamps of this event, once its fields were scanned: a value
    /// whose literals were not found in the field cannot match, and is not tested.
    pub(crate) stamps: Option<Stamps<'s>>,
    fields: &'e dyn Fields,
    names: &'e [Box<str>],
    slots: &'s mut Vec<Slot>,
    values: Vec<FieldValue<'e>>,
    generation: u32,
    scratch_values: &'s mut Vec<FieldValue<'static>>,
}

impl<'e, 's> EventView<'e, 's> {
    /// Starts looking at a new event.
    pub(crate) fn new(
        fields: &'e dyn Fields,
        names: &'e [Box<str>],
        scratch: &'s mut Scratch,
    ) -> Self {
        scratch.generation = scratch.generation.wrapping_add(1);
        if scratch.generation == 0 {
            scratch.slots.iter_mut().for_each(|s| *s = Slot::default());
            scratch.generation = 1;
        }
        if scratch.slots.len() < names.len() {
            scratch.slots.resize(names.len(), Slot::default());
        }
        let values = recycle(std::mem::take(&mut scratch.values));
        EventView {
            stamps: None,
            fields,
            names,
            slots: &mut scratch.slots,
            values,
            generation: scratch.generation,
            scratch_values: &mut scratch.values,
        }
    }

    /// Whether the field exists, and the range of its values in `self.values`.
    fn load(&mut self, field: u32) -> (bool, Range<usize>) {
        let index = field as usize;
        let slot = self.slots[index];
        if slot.generation == self.generation {
            let start = slot.start as usize;
            return (slot.exists, start..start + slot.len as usize);
        }
        let start = self.values.len();
        let values = &mut self.values;
        let exists = self.fields.visit(&self.names[index], &mut |v| {
            values.push(v);
            ControlFlow::Continue(())
        });
        let len = self.values.len() - start;
        self.slots[index] = Slot {
            generation: self.generation,
            exists,
            start: start as u32,
            len: len as u32,
        };
        (exists, start..start + len)
    }
}

impl Drop for EventView<'_, '_> {
    fn drop(&mut self) {
        *self.scratch_values = recycle(std::mem::take(&mut self.values));
    }
}

impl Expr {
    /// Whether every field id under the expression is below `names` and every structure it
    /// indexes holds what it indexes (see [`crate::Engine::validate`]).
    pub(crate) fn is_within(&self, names: usize) -> bool {
        match self {
            Expr::And(items) | Expr::Or(items) => items.iter().all(|item| item.is_within(names)),
            Expr::Not(inner) => inner.is_within(names),
            Expr::Exists { field, .. } => (*field as usize) < names,
            Expr::Field(test) => {
                (test.field as usize) < names && test.matchers.iter().all(|m| m.is_within(names))
            }
            Expr::Keywords(keywords) => keywords.patterns.iter().all(TextPattern::is_within),
        }
    }

    /// Replaces every field id `i` by `ids[i]`: a rule compiled with its own interner joins
    /// the engine's.
    pub(crate) fn renumber_fields(&mut self, ids: &[u32]) {
        match self {
            Expr::And(items) | Expr::Or(items) => {
                items.iter_mut().for_each(|e| e.renumber_fields(ids));
            }
            Expr::Not(inner) => inner.renumber_fields(ids),
            Expr::Exists { field, .. } => *field = ids[*field as usize],
            Expr::Field(test) => {
                test.field = ids[test.field as usize];
                for matcher in &mut test.matchers {
                    if let ValueMatcher::FieldRef { other, .. } = matcher {
                        *other = ids[*other as usize];
                    }
                }
            }
            Expr::Keywords(_) => {}
        }
    }

    /// Appends to `out` every prefilter literal id the value tests under this expression
    /// read their stamps from (see [`Stamps`]).
    pub(crate) fn stamped_literals(&self, out: &mut Vec<u32>) {
        match self {
            Expr::And(items) | Expr::Or(items) => {
                items.iter().for_each(|e| e.stamped_literals(out));
            }
            Expr::Not(inner) => inner.stamped_literals(out),
            Expr::Field(test) => {
                out.extend(test.literals.iter().flatten());
                for matcher in &test.matchers {
                    if let ValueMatcher::Text(TextPattern::Set(set)) = matcher {
                        out.extend(set.literal_ids());
                    }
                }
            }
            Expr::Exists { .. } | Expr::Keywords(_) => {}
        }
    }

    /// Replaces every prefilter literal id `i` by `ids[i]` (see
    /// [`crate::prefilter::LiteralTable::merge`]).
    pub(crate) fn renumber_literals(&mut self, ids: &[u32]) {
        match self {
            Expr::And(items) | Expr::Or(items) => {
                items.iter_mut().for_each(|e| e.renumber_literals(ids));
            }
            Expr::Not(inner) => inner.renumber_literals(ids),
            Expr::Field(test) => {
                for id in test.literals.iter_mut().flatten() {
                    *id = ids[*id as usize];
                }
                for matcher in &mut test.matchers {
                    if let ValueMatcher::Text(TextPattern::Set(set)) = matcher {
                        set.renumber_literals(ids);
                    }
                }
            }
            Expr::Exists { .. } | Expr::Keywords(_) => {}
        }
    }

    /// Evaluates the expression on the event behind `view`.
    pub(crate) fn eval(&self, view: &mut EventView<'_, '_>) -> bool {
        match self {
            Expr::And(items) => items.iter().all(|e| e.eval(view)),
            Expr::Or(items) => items.iter().any(|e| e.eval(view)),
            Expr::Not(inner) => !inner.eval(view),
            Expr::Exists { field, present } => view.load(*field).0 == *present,
            Expr::Field(test) => test.eval(view),
            Expr::Keywords(test) => test.eval(view.fields),
        }
    }
}

impl FieldTest {
    fn eval(&self, view: &mut EventView<'_, '_>) -> bool {
        let (exists, range) = view.load(self.field);
        let mut each = self.matchers.iter().enumerate().map(|(i, m)| {
            // A matcher whose literals the prefilter did not find in the field is false.
            let possible = match (view.stamps, self.literals.get(i)) {
                (Some(stamps), Some(ids)) => stamps.any(ids),
                _ => true,
            };
            possible && Self::one(m, exists, range.clone(), view)
        });
        let matched = if self.all {
            each.all(|hit| hit)
        } else {
            each.any(|hit| hit)
        };
        matched != self.negate
    }

    /// Whether one matcher is satisfied by any value of the field.
    fn one(
        m: &ValueMatcher,
        exists: bool,
        range: Range<usize>,
        view: &mut EventView<'_, '_>,
    ) -> bool {
        match m {
            ValueMatcher::Null => !exists || view.values[range].iter().any(FieldValue::is_null),
            ValueMatcher::FieldRef { other, mode, cased } => {
                let (_, other_range) = view.load(*other);
                let values = &view.values;
                values[range].iter().any(|a| {
                    values[other_range.clone()]
                        .iter()
                        .any(|b| field_ref_matches(*mode, *cased, *a, *b))
                })
            }
            ValueMatcher::Text(TextPattern::Set(set)) => {
                let stamps = view.stamps;
                view.values[range]
                    .iter()
                    .any(|v| with_text(*v, |text| set.is_match_stamped(text, stamps)))
            }
            _ => view.values[range].iter().any(|v| m.matches_value(*v)),
        }
    }
}

impl KeywordTest {
    fn eval(&self, fields: &dyn Fields) -> bool {
        if self.all {
            return self
                .patterns
                .iter()
                .all(|p| any_value(fields, |t| p.is_match(t)));
        }
        // One pass over the event's values serves every keyword.
        any_value(fields, |t| self.patterns.iter().any(|p| p.is_match(t)))
    }
}

/// Whether the text of any value of the event satisfies `test`.
fn any_value(fields: &dyn Fields, test: impl Fn(&str) -> bool) -> bool {
    let mut hit = false;
    fields.visit_all(&mut |v| {
        hit = with_text(v, &test);
        if hit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    hit
}
