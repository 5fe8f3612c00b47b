//! A sensitive action at an hour or on a day unusual for the principal.
//!
//! Only sensitive actions are judged, and only once the principal has
//! `min_history_events` events (the hours of a sparse history mean little). The hour is
//! judged with `hour_margin` (2) hours either side, so that a shift starting or ending a
//! little early or late, or a daylight-saving change, is not unusual. The day is the
//! principal's working day, which starts at its quietest UTC hour (see
//! [`crate::activity`]), so that a late shift crossing UTC midnight is not a different
//! day, and days are only judged once the history spans `min_history_days` (14). Level
//! `medium` when both hour and day are rare, `low` (context) when one is. The
//! histogram keeps learning, a day behind (see [`PrincipalBaseline::settle_activity`]), so
//! a new habit stops firing while today's events (an attacker's own preamble) do not make
//! today's hour look usual.

use crate::activity::{hour_of_week, WeeklyActivity};
use crate::anomaly::{Anomaly, AnomalyKind, Level};
use crate::baseline::PrincipalBaseline;
use crate::checks::{days, percent, Observation};
use crate::config::UnusualTimeConfig;

const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// The check.
pub(crate) fn check(
    obs: &Observation<'_>,
    baseline: &PrincipalBaseline,
    config: &UnusualTimeConfig,
) -> Option<Anomaly> {
    if !obs.sensitive || baseline.events < config.min_history_events {
        return None;
    }
    let activity = &baseline.activity;
    let how = hour_of_week(obs.at)?;
    let hour = how % 24;
    let margin = usize::from(config.hour_margin);
    let near_hour = activity.around_hour(hour, margin);
    let day_start = activity.day_start();
    let day = WeeklyActivity::working_day(how, day_start);
    let on_day = activity.on_day(day, day_start);
    let total = activity.total();
    if total == 0 {
        return None;
    }
    let rare_hour = (near_hour as f64) < config.rare_hour_share * total as f64;
    let judge_days = baseline.days_known(obs.at) >= i64::from(config.min_history_days);
    let rare_day = judge_days && (on_day as f64) < config.rare_day_share * total as f64;
    if !rare_hour && !rare_day {
        return None;
    }
    let level = if rare_hour && rare_day {
        Level::Medium
    } else {
        Level::Low
    };
    let day_name = DAY_NAMES.get(day).copied().unwrap_or("day");
    let title = format!("{} active at an unusual time", obs.who());
    let explanation = format!(
        "{} did {} at {hour:02}:xx UTC, on its {day_name} (its days start at {day_start:02}:00 UTC); of its {total} events over {} (up to a day ago), {} fell between {:02}:00 and {:02}:59 UTC and {} on its {day_name}s",
        obs.who(),
        obs.action_text(),
        days(baseline.days_known(obs.at)),
        percent(near_hour, total),
        (hour + 24 - margin % 24) % 24,
        (hour + margin) % 24,
        percent(on_day, total),
    );
    Some(obs.anomaly(AnomalyKind::UnusualTime, level, title, explanation))
}
