//! A burst of sensitive actions beyond the principal's normal rate.
//!
//! The detector keeps a sliding window (`window_minutes`) of the principal's sensitive
//! actions. A window is a burst when it holds at least `min_count` actions and more than
//! `factor` times the busiest window learned (at least 1, so a principal that never did a
//! sensitive action bursts at `max(min_count, factor + 1)`). While the principal is being
//! learned every window counts; afterwards only an episode (a run of sensitive actions
//! ended by a quiet window) that never burst teaches its peak, so an attack neither raises
//! the bar while it runs nor for the next one. Level `high`.

use crate::anomaly::{Anomaly, AnomalyKind, Level};
use crate::baseline::PrincipalBaseline;
use crate::checks::{days, Observation};
use crate::config::BurstConfig;

/// Whether `count` actions in one window is a burst for `baseline`.
pub(crate) fn is_burst(count: u64, baseline: &PrincipalBaseline, config: &BurstConfig) -> bool {
    count >= config.min_count
        && count as f64 > config.factor * baseline.max_window_count.max(1) as f64
}

/// The check, after the observation's action joined the window.
pub(crate) fn check(
    obs: &Observation<'_>,
    baseline: &PrincipalBaseline,
    config: &BurstConfig,
) -> Option<Anomaly> {
    let count = baseline.window.len() as u64;
    if !obs.sensitive || !is_burst(count, baseline, config) {
        return None;
    }
    let title = format!("{} made a burst of sensitive actions", obs.who());
    let explanation = format!(
        "{} made {count} sensitive actions ({}) within {} minutes; the busiest {}-minute window learned in {} held {}",
        obs.who(),
        action_counts(baseline),
        config.window_minutes,
        config.window_minutes,
        days(baseline.days_known(obs.at)),
        baseline.max_window_count,
    );
    Some(obs.anomaly(AnomalyKind::Burst, Level::High, title, explanation))
}

/// `user.password_reset ×12, session.start ×2`, most frequent first.
fn action_counts(baseline: &PrincipalBaseline) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for (_, action) in &baseline.window {
        match counts.iter_mut().find(|(a, _)| *a == action.as_str()) {
            Some((_, n)) => *n += 1,
            None => counts.push((action, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
        .iter()
        .map(|(action, n)| format!("{action} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
