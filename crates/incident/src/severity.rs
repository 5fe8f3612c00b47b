//! The severity of an incident: a score from 0 to 100 and a band.
//!
//! # Formula
//!
//! `score = min(100, L + T + H + C)` where
//!
//! * `L`, the highest alert level: informational 0, low 10, medium 25, high 45, critical 70;
//! * `T`, how far along the kill chain: 8 for each distinct tactic beyond the first, at most 24
//!   (an attack that moves from execution to persistence to lateral movement is worse than
//!   many alerts of one tactic);
//! * `H`, the spread: 5 for each distinct host beyond the first, at most 15;
//! * `C`, correlation hits: 5 for each correlation alert, at most 10 (a correlation rule has
//!   already seen a pattern across events).
//!
//! Bands: `low` below 20, `medium` from 20, `high` from 40, `critical` from 70. One medium
//! alert is therefore medium, one high alert high, one critical alert critical, and a high
//! alert becomes critical once the incident spans enough tactics, hosts or correlations.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::alert::Level;
use crate::error::ParseError;

/// The band a severity score falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    /// Score below 20.
    Low,
    /// Score 20 to 39.
    Medium,
    /// Score 40 to 69.
    High,
    /// Score 70 and above.
    Critical,
}

impl Band {
    /// Every band, least severe first.
    pub const ALL: [Band; 4] = [Band::Low, Band::Medium, Band::High, Band::Critical];

    /// The band of a score (see the module documentation).
    pub fn of(score: u32) -> Band {
        match score {
            0..20 => Band::Low,
            20..40 => Band::Medium,
            40..70 => Band::High,
            _ => Band::Critical,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Low => "low",
            Band::Medium => "medium",
            Band::High => "high",
            Band::Critical => "critical",
        }
    }
}

impl fmt::Display for Band {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Band {
    type Err = ParseError;

    /// Parses the lowercase name, ignoring case and surrounding blanks, so that a filter
    /// such as `incidents list --min-severity` takes the words reports print.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Band::ALL
            .into_iter()
            .find(|band| band.as_str().eq_ignore_ascii_case(text.trim()))
            .ok_or_else(|| ParseError {
                what: "severity band",
                found: text.to_owned(),
                expected: "low, medium, high, critical",
            })
    }
}

/// The facts of an incident the score is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeverityInput {
    /// The highest level among the incident's alerts.
    pub max_level: Level,
    /// Distinct ATT&CK tactics (known or not).
    pub tactics: usize,
    /// Distinct hosts.
    pub hosts: usize,
    /// Correlation alerts.
    pub correlations: usize,
}

/// A score with its band and the parts it was added from, so that a report can show why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    /// 0 to 100.
    pub score: u32,
    /// The band of the score.
    pub band: Band,
    /// The level part `L`.
    pub level_points: u32,
    /// The tactic part `T`.
    pub tactic_points: u32,
    /// The host spread part `H`.
    pub host_points: u32,
    /// The correlation part `C`.
    pub correlation_points: u32,
}

impl Severity {
    /// Applies the formula of the module documentation.
    pub fn compute(input: SeverityInput) -> Severity {
        let level_points = match input.max_level {
            Level::Informational => 0,
            Level::Low => 10,
            Level::Medium => 25,
            Level::High => 45,
            Level::Critical => 70,
        };
        let beyond_first = |n: usize| u32::try_from(n.saturating_sub(1)).unwrap_or(u32::MAX);
        let tactic_points = beyond_first(input.tactics).saturating_mul(8).min(24);
        let host_points = beyond_first(input.hosts).saturating_mul(5).min(15);
        let correlations = u32::try_from(input.correlations).unwrap_or(u32::MAX);
        let correlation_points = correlations.saturating_mul(5).min(10);
        let score = (level_points + tactic_points + host_points + correlation_points).min(100);
        Severity {
            score,
            band: Band::of(score),
            level_points,
            tactic_points,
            host_points,
            correlation_points,
        }
    }

    /// `L 45 + T 16 + H 5 + C 0`, for reports.
    pub fn breakdown(&self) -> String {
        format!(
            "level {} + tactics {} + hosts {} + correlations {}",
            self.level_points, self.tactic_points, self.host_points, self.correlation_points
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(max_level: Level, tactics: usize, hosts: usize, correlations: usize) -> Severity {
        Severity::compute(SeverityInput {
            max_level,
            tactics,
            hosts,
            correlations,
        })
    }

    #[test]
    fn bands_parse_the_words_they_print() {
        for band in Band::ALL {
            assert_eq!(band.to_string().parse::<Band>(), Ok(band));
        }
        assert_eq!(" HIGH ".parse::<Band>(), Ok(Band::High));
        let error = "severe".parse::<Band>().unwrap_err().to_string();
        assert!(error.contains("low, medium, high, critical"), "{error}");
    }

    #[test]
    fn single_alerts_land_in_the_band_of_their_level() {
        assert_eq!(score(Level::Informational, 0, 0, 0).band, Band::Low);
        assert_eq!(score(Level::Low, 1, 1, 0).band, Band::Low);
        assert_eq!(score(Level::Medium, 1, 1, 0).band, Band::Medium);
        assert_eq!(score(Level::High, 1, 1, 0).band, Band::High);
        assert_eq!(score(Level::Critical, 1, 1, 0).band, Band::Critical);
    }

    #[test]
    fn each_part_adds_up_to_its_cap() {
        let s = score(Level::High, 3, 2, 1);
        assert_eq!(
            (
                s.level_points,
                s.tactic_points,
                s.host_points,
                s.correlation_points
            ),
            (45, 16, 5, 5)
        );
        assert_eq!(s.score, 71);
        assert_eq!(s.band, Band::Critical);
        let capped = score(Level::Medium, 50, 50, 50);
        assert_eq!(
            (
                capped.tactic_points,
                capped.host_points,
                capped.correlation_points
            ),
            (24, 15, 10)
        );
        assert_eq!(capped.score, 74);
        assert_eq!(score(Level::Critical, 50, 50, 50).score, 100);
    }

    #[test]
    fn band_edges() {
        assert_eq!(Band::of(19), Band::Low);
        assert_eq!(Band::of(20), Band::Medium);
        assert_eq!(Band::of(39), Band::Medium);
        assert_eq!(Band::of(40), Band::High);
        assert_eq!(Band::of(69), Band::High);
        assert_eq!(Band::of(70), Band::Critical);
    }
}
