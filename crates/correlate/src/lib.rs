//! Streaming evaluation of Sigma correlation rules (specification v2.1, all seven types:
//! `event_count`, `value_count`, `temporal`, `temporal_ordered`, `value_sum`, `value_avg`,
//! `value_percentile`).
//!
//! A [`Correlator`] is built from parsed [`tocsin_sigma::ast::CorrelationRule`]s and the
//! id/name ([`RuleName`]) of the detection rules whose matches will be fed to it. It takes
//! the matches of those rules in timestamp order through [`Correlator::observe`] and
//! returns [`CorrelationHit`]s: the correlation, the group-by values, the window, the
//! aggregate and the contributing matches (each with the caller's opaque handle). It needs
//! no engine: anything implementing [`tocsin_event::Fields`] can be observed.
//!
//! ```
//! use tocsin_correlate::{Correlator, RuleName};
//! use tocsin_event::{Event, Value};
//! use std::path::Path;
//!
//! let text = "title: Brute force\ncorrelation:\n  type: event_count\n  rules: failed_login\n  \
//!             group-by: [User]\n  timespan: 1m\n  condition:\n    gte: 3\n";
//! let Ok(tocsin_sigma::ast::Document::Correlation(rule)) =
//!     tocsin_sigma::parse_documents(text, Path::new("c.yml")).remove(0) else { panic!() };
//! let failed = RuleName::new(None, Some("failed_login"));
//! let mut correlator = Correlator::new(vec![*rule], &[failed.clone()]).unwrap();
//! let mut event = Event::default();
//! event.push("User", "User", Value::from("alice"));
//! let mut hits = Vec::new();
//! for (handle, second) in [0i64, 10, 20].into_iter().enumerate() {
//!     hits.extend(correlator.observe(&failed, second * 1_000_000, &event, handle as u64));
//! }
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].aggregate, 3.0);
//! assert_eq!(hits[0].event_handles(), [0, 1, 2]);
//! ```
//!
//! # Semantics (where the specification leaves a choice)
//!
//! - **References.** `rules` and `aliases` entries name a rule or correlation by `id` or
//!   `name`. Unknown or ambiguous references, aliases for a rule the correlation does not
//!   reference, and reference cycles are errors at construction ([`CorrelateError`]);
//!   [`Correlator::build`] keeps the valid correlations and reports the others.
//! - **Windows.** Two matches exactly one `timespan` apart share a window; one microsecond
//!   more and they do not. Windows slide: a condition made only of lower bounds
//!   (`gt`/`gte`) on a count, distinct count or sum, and every condition of `value_avg` and
//!   `value_percentile`, is checked at each match over the window of one timespan ending
//!   at that match, so the hit is raised as soon as it is true.
//! - **Upper bounds.** `lt`, `lte`, `eq`, `neq` (alone or in a range) on a count,
//!   distinct count or sum can turn false as more matches arrive, so they are only
//!   decided when the window closes: a group's window opens at its first match and is
//!   checked once time (the newest match seen, or [`Correlator::flush`]) has passed its
//!   end; [`Correlator::finish`] checks the still-open windows at the end of input. A
//!   group that never matches is never reported ("zero events" is not observable).
//! - **One hit per burst.** After a sliding hit, the group's window is emptied and the
//!   group stays quiet for one timespan after the hit: further matches of the same burst
//!   are counted in [`Stats::suppressed`] instead of raising the same alert again. Closing
//!   windows are disjoint, so each raises at most one hit.
//! - **Missing group-by fields.** A match whose event lacks a group-by field (absent or
//!   null) is left out of that correlation and counted in [`Stats::missing_group_field`].
//!   The specification asks that grouped events "all have the same value"; an absent value
//!   is not the same user or host as another absent value, and lumping them together (as
//!   SQL-style backends do with NULL) would add up unrelated events into false alerts.
//!   Values are compared as text (`5` and `"5"` are one group); the first value of a
//!   multi-valued field is used.
//! - **Aliases** apply per referenced rule to `group-by` names and to `condition.field`; a
//!   rule an alias does not mention is read under the alias name itself.
//! - **Time order.** Input should be sorted. Matches with equal timestamps are fine; a
//!   match older than the newest one is inserted at its place in its group's window, and
//!   one older than a timespan before the newest match seen is dropped and counted in
//!   [`Stats::late`]. For `temporal_ordered`, equal timestamps count as being in order.
//! - **Aggregates.** `temporal` counts the distinct referenced rules seen in the window
//!   (default condition: all of them); `temporal_ordered` counts how long a prefix of
//!   `rules` was seen in order (default: the whole list). `value_count` counts distinct
//!   text values of the field; `value_sum`/`value_avg` use the field's numeric values and
//!   ignore matches without one (no numeric value, no hit). `value_sum` is treated as a
//!   growing aggregate (non-negative values).
//! - **`value_percentile`.** With a `percentile` p (0 to 100), the aggregate is the
//!   nearest-rank p-th percentile of the field's numeric values in the window (rank
//!   `ceil(p/100 * n)`, at least 1, no interpolation). Without one, as in the
//!   specification's example (`field: Image`, `lte: 1`: "a process name seen in at most 1%
//!   of the computer's processes"), the aggregate is the percentage of the group's window
//!   matches whose field value equals the current match's value; the window is kept as
//!   the baseline and each value is reported once while it stays in the window.
//! - **Correlations of correlations.** A hit counts as a match of its correlation (by
//!   id or name) at its window end, and is read through its group-by values, so a parent's
//!   `group-by` names must be group-by names of the child. Chains resolve in one call.
//! - **`generate`.** [`Correlator::shows_alone`] tells whether a rule's own detections
//!   should be shown: not when correlations reference it and none says `generate: true`
//!   (the specification's default). [`CorrelationHit::visible`] says the same of an
//!   intermediate correlation's hits, which are still returned so the caller can link them.
//! - **Memory.** A group holds only the matches of its current window; groups idle for a
//!   timespan are dropped.

mod aggregate;
mod compile;
mod condition;
mod correlator;
mod error;
mod graph;
mod hit;
mod window;

#[cfg(test)]
mod tests;

pub use correlator::{Built, Correlator};
pub use error::CorrelateError;
pub use hit::{Contribution, CorrelationHit, CorrelationInfo, Evidence, RuleName};

/// Counts of matches a correlator did not use, so that silent drops can be audited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Matches left out of a correlation because a group-by field was absent or null.
    pub missing_group_field: u64,
    /// Matches dropped because they were more than a timespan older than the newest
    /// match seen.
    pub late: u64,
    /// Matches ignored because their group had just raised a hit (one hit per burst).
    pub suppressed: u64,
}
