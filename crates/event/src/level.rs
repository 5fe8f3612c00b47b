//! [`Level`]: how serious a detection is, on Sigma's five-step scale, shared by rules,
//! correlations, behavioural detectors, outputs and incidents so that no crate converts
//! between its own copies.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The level of a rule or detection, ordered from least to most severe.
///
/// A rule that states no level is [`Level::Informational`] everywhere: it describes, it does
/// not alarm.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Context, not a threat on its own.
    #[default]
    Informational,
    /// Worth showing inside an incident, rarely worth one alone.
    Low,
    /// Worth an analyst's look.
    Medium,
    /// Likely malicious.
    High,
    /// Malicious beyond reasonable doubt, or very damaging.
    Critical,
}

impl Level {
    /// Every level, least severe first.
    pub const ALL: [Level; 5] = [
        Level::Informational,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
    ];

    /// The lowercase spelling Sigma uses (`informational` … `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that names no [`Level`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLevel(pub String);

impl fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown level '{}' (expected informational, low, medium, high or critical)",
            self.0
        )
    }
}

impl std::error::Error for UnknownLevel {}

impl FromStr for Level {
    type Err = UnknownLevel;

    /// Parses Sigma's spelling, ignoring case and surrounding blanks.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim();
        Level::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnknownLevel(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling_and_refuses_others() {
        for level in Level::ALL {
            assert_eq!(level.as_str().parse::<Level>(), Ok(level));
            assert_eq!(level.as_str().to_uppercase().parse::<Level>(), Ok(level));
        }
        let error = "severe".parse::<Level>().unwrap_err();
        assert!(error.to_string().contains("'severe'"), "{error}");
    }

    #[test]
    fn ordered_from_least_to_most_severe() {
        assert!(Level::ALL.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(Level::default(), Level::Informational);
    }

    #[test]
    fn serialises_as_sigma_writes_it() {
        assert_eq!(serde_json::to_string(&Level::Medium).unwrap(), "\"medium\"");
        let back: Level = serde_json::from_str("\"critical\"").unwrap();
        assert_eq!(back, Level::Critical);
    }
}
