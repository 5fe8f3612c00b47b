//! A principal first seen after the global learning period, doing something sensitive.
//!
//! During the global learning period every principal is new, so nothing fires. Later, a
//! principal that appears for the first time is what a freshly minted API key (or a newly
//! created account) looks like: it fires once, on the principal's first sensitive action
//! while it is still being learned (its first events are often a harmless token request).
//! Level: the source's `new_principal_level`, `medium` by default (keys are also created
//! legitimately), `low` for representatives in the built-in configuration (people are
//! hired; their first session is routine).

use crate::anomaly::{Anomaly, AnomalyKind};
use crate::baseline::PrincipalBaseline;
use crate::checks::{format_time, Observation};

/// The check; `learned` tells whether the principal is already learned.
pub(crate) fn check(
    obs: &Observation<'_>,
    baseline: &PrincipalBaseline,
    learned: bool,
) -> Option<Anomaly> {
    if !obs.sensitive || learned || !baseline.appeared_late || baseline.announced {
        return None;
    }
    let from = obs
        .address
        .map(|a| format!(" from {a}"))
        .unwrap_or_default();
    let title = format!("New {} {} acting", obs.source.principal_kind, obs.principal);
    let explanation = format!(
        "{} was first seen at {}, after the learning period, and now did {}{from}; it had {} earlier event{}",
        obs.who(),
        format_time(baseline.first_seen),
        obs.action_text(),
        baseline.events,
        if baseline.events == 1 { "" } else { "s" },
    );
    let level = obs.source.new_principal_level;
    Some(obs.anomaly(AnomalyKind::NewPrincipal, level, title, explanation))
}
