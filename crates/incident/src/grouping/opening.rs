//! When a group of alerts becomes an incident: on evidence, not on any medium alert.
//!
//! One medium alert is a question, not an answer: an integration starting a support session
//! through the API, a representative's first login from a hotel, a profile migration with
//! `robocopy` each raise one. An incident opens when
//!
//! * an alert at [`GroupingConfig::alone_level`] or above (high by default) joins the
//!   group: likely malicious on its own; or
//! * the group holds an alert at [`GroupingConfig::min_opening_level`] or above (medium by
//!   default) **and** the risk of its distinct signals reaches
//!   [`GroupingConfig::min_risk`] (5 by default).
//!
//! A *signal* is one rule or detector (by rule id) at the highest level it fired at in the
//! group; repeating the same rule adds no risk, corroboration by another does. Risk per
//! signal: [`LOW_RISK`] for low, [`MEDIUM_RISK`] for medium, nothing for informational.
//! With the defaults two medium signals (6) open, or one medium and two distinct low
//! signals (5); one medium with one low (4) does not, and low signals alone never do.
//! `--opening-risk 3` gives the older policy where any medium alert opens.
//!
//! A suppressed alert (see [`crate::suppression`]) joins its group as context and adds no
//! signal. The group's entities link it to others within the quiet gap, so the signals are
//! those of one entity's (or a linked set of entities') activity within that window.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::GroupingConfig;
use crate::alert::{Alert, Level};

/// The risk a low signal adds.
pub const LOW_RISK: u32 = 1;
/// The risk a medium signal adds.
pub const MEDIUM_RISK: u32 = 3;
/// The default [`GroupingConfig::min_risk`].
pub const DEFAULT_MIN_RISK: u32 = 5;
/// The default [`GroupingConfig::alone_level`].
pub const DEFAULT_ALONE_LEVEL: Level = Level::High;

/// The risk one signal at `level` adds (high and critical open alone, so they count as
/// medium here: a high alert below the opening levels only exists with a raised
/// `min_opening_level`).
pub fn risk_of(level: Level) -> u32 {
    match level {
        Level::Informational => 0,
        Level::Low => LOW_RISK,
        _ => MEDIUM_RISK,
    }
}

/// The distinct signals of a group: each rule with the highest level it fired at, in the
/// order they first came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Signals {
    /// Rule id, title, highest level.
    rules: Vec<(String, String, Level)>,
}

impl Signals {
    /// Adds a signal of `rule_id` (titled `title`) at `level`.
    pub(crate) fn add(&mut self, rule_id: &str, title: &str, level: Level) {
        match self.rules.iter_mut().find(|(id, _, _)| id == rule_id) {
            Some((_, _, known)) => *known = (*known).max(level),
            None => self
                .rules
                .push((rule_id.to_owned(), title.to_owned(), level)),
        }
    }

    /// Adds the signals of another group (on a merge).
    pub(crate) fn extend(&mut self, other: &Signals) {
        for (id, title, level) in &other.rules {
            self.add(id, title, *level);
        }
    }

    /// Their risk.
    pub(crate) fn risk(&self) -> u32 {
        self.rules.iter().map(|(_, _, level)| risk_of(*level)).sum()
    }

    /// The highest level among them.
    fn max_level(&self) -> Option<Level> {
        self.rules.iter().map(|(_, _, level)| *level).max()
    }

    /// Whether a group with these signals is an incident under `config`.
    pub(crate) fn open(&self, config: &GroupingConfig) -> bool {
        let Some(max) = self.max_level() else {
            return false;
        };
        max >= alone_level(config)
            || (max >= config.min_opening_level && self.risk() >= config.min_risk)
    }

    /// Why a group with these signals opened when `alert` joined it. When a signal is at
    /// the alone level, the opening names that signal (the joining alert may be a
    /// suppressed one that only merged groups).
    pub(crate) fn opening(&self, config: &GroupingConfig, alert: &Alert) -> Opening {
        let strongest = self
            .rules
            .iter()
            .max_by_key(|(_, _, level)| *level)
            .filter(|(_, _, level)| *level >= alone_level(config));
        let (title, level) = match strongest {
            Some((_, title, level)) => (title.clone(), *level),
            None => (alert.rule.title.clone(), alert.rule.level),
        };
        Opening {
            alert_key: alert.key.clone(),
            title,
            level,
            alone: strongest.is_some(),
            signals: self
                .rules
                .iter()
                .map(|(_, title, level)| OpeningSignal {
                    title: title.clone(),
                    level: *level,
                })
                .collect(),
            risk: self.risk(),
            min_risk: config.min_risk,
        }
    }
}

/// The level at which one alert opens an incident alone: never below the opening level.
fn alone_level(config: &GroupingConfig) -> Level {
    config.alone_level.max(config.min_opening_level)
}

/// Why an incident opened: the alert that made it one, and the signals at that moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    /// The key of the alert whose arrival made the group an incident.
    pub alert_key: String,
    /// That alert's title.
    pub title: String,
    /// That alert's level.
    pub level: Level,
    /// Whether it opened the incident alone (at the alone level).
    pub alone: bool,
    /// The distinct signals at that moment (rule title and level), in the order they came.
    pub signals: Vec<OpeningSignal>,
    /// Their risk.
    pub risk: u32,
    /// The risk the configuration asks for.
    pub min_risk: u32,
}

/// One signal of an [`Opening`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpeningSignal {
    /// The rule's title.
    pub title: String,
    /// The highest level it fired at until then.
    pub level: Level,
}

impl fmt::Display for Opening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.alone {
            return write!(f, "opened by a {} alert: {}", self.level, self.title);
        }
        write!(
            f,
            "opened when {} distinct signals reached risk {} (at least {} needed): ",
            self.signals.len(),
            self.risk,
            self.min_risk
        )?;
        for (i, signal) in self.signals.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} ({})", signal.title, signal.level)?;
        }
        Ok(())
    }
}
