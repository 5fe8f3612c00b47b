//! The one duration grammar of tocsin: a positive whole number followed by `s`, `m`, `h`, `d`
//! or `w` (`90s`, `30m`, `1h`, `2d`, `1w`), as Sigma correlation rules write their
//! `timespan`. The CLI's durations (such as `hunt --quiet-gap`) take the same words, so that
//! a span written in a rule can be pasted into a flag and the other way round.
//!
//! Months and years are refused: they have no fixed length. A duration must fit in
//! microseconds as an `i64`, the unit of every time in tocsin (see
//! [`Event::timestamp_micros`](crate::Event::timestamp_micros)).

use std::fmt;

/// Microseconds in one second.
const MICROS_PER_SECOND: i64 = 1_000_000;

/// The accepted units and their length in seconds.
const UNITS: [(&str, i64); 5] = [
    ("s", 1),
    ("m", 60),
    ("h", 3_600),
    ("d", 86_400),
    ("w", 604_800),
];

/// Parses a duration such as `90s`, `30m`, `1h`, `2d` or `1w` into microseconds.
///
/// Surrounding blanks are ignored; inside, the number and its unit must be written together
/// and in lowercase, as Sigma writes them. The result is always more than zero.
///
/// ```
/// use tocsin_event::parse_duration_micros;
///
/// assert_eq!(parse_duration_micros("90s"), Ok(90_000_000));
/// assert_eq!(parse_duration_micros("1w"), Ok(604_800_000_000));
/// assert!(parse_duration_micros("1y").is_err());
/// ```
pub fn parse_duration_micros(text: &str) -> Result<i64, DurationError> {
    let trimmed = text.trim();
    let fail = |kind| DurationError {
        text: text.to_owned(),
        kind,
    };
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() {
        return Err(fail(DurationErrorKind::NoNumber));
    }
    if unit.is_empty() {
        return Err(fail(DurationErrorKind::NoUnit));
    }
    let seconds = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|&(_, seconds)| seconds)
        .ok_or_else(|| fail(DurationErrorKind::UnknownUnit(unit.to_owned())))?;
    // The number is all ASCII digits, so parsing fails only when it overflows.
    let number: i64 = number
        .parse()
        .map_err(|_| fail(DurationErrorKind::TooLong))?;
    if number == 0 {
        return Err(fail(DurationErrorKind::Zero));
    }
    number
        .checked_mul(seconds * MICROS_PER_SECOND)
        .ok_or_else(|| fail(DurationErrorKind::TooLong))
}

/// A text that is not a duration in tocsin's grammar (see [`parse_duration_micros`]).
///
/// Its `Display` names the text and says what is wrong with it, for a flag's error message;
/// callers with their own wording (a Sigma rule's) can ignore [`DurationError::kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub kind: DurationErrorKind,
}

/// What is wrong with a duration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DurationErrorKind {
    /// The text does not start with a whole number (``, `h`, `-1h`).
    NoNumber,
    /// Only digits: the unit is missing (`30`).
    NoUnit,
    /// What follows the number is not `s`, `m`, `h`, `d` or `w` (`1y`, `1.5h`, `1 h`).
    UnknownUnit(String),
    /// The number is zero: a duration is more than nothing.
    Zero,
    /// Longer than tocsin's clock can count (about 292,000 years).
    TooLong,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = &self.text;
        match &self.kind {
            DurationErrorKind::NoUnit => write!(
                f,
                "'{text}' has no unit: write it as a number and s, m, h, d or w (90s, 30m, 1h, 2d, 1w)"
            ),
            DurationErrorKind::NoNumber => write!(
                f,
                "'{text}' does not start with a whole number (such as 30m)"
            ),
            DurationErrorKind::UnknownUnit(unit) => write!(
                f,
                "unknown unit '{unit}' in '{text}' (use s, m, h, d or w right after a whole number)"
            ),
            DurationErrorKind::Zero => write!(f, "'{text}' is zero: a duration must be positive"),
            DurationErrorKind::TooLong => {
                write!(f, "'{text}' is too long (at most about 292,000 years)")
            }
        }
    }
}

impl std::error::Error for DurationError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> DurationErrorKind {
        parse_duration_micros(text).unwrap_err().kind
    }

    #[test]
    fn every_unit_parses() {
        for (text, seconds) in [
            ("30s", 30),
            ("5m", 300),
            ("90m", 5_400),
            ("1h", 3_600),
            ("2d", 172_800),
            ("1w", 604_800),
            ("5w", 3_024_000),
            (" 1h\n", 3_600),
        ] {
            assert_eq!(
                parse_duration_micros(text),
                Ok(seconds * 1_000_000),
                "{text:?}"
            );
        }
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert_eq!(kind(""), DurationErrorKind::NoNumber);
        assert_eq!(kind("30"), DurationErrorKind::NoUnit);
        assert_eq!(kind("h"), DurationErrorKind::NoNumber);
        assert_eq!(kind("-1h"), DurationErrorKind::NoNumber);
        assert_eq!(kind("0s"), DurationErrorKind::Zero);
        assert_eq!(kind("1y"), DurationErrorKind::UnknownUnit("y".into()));
        assert_eq!(kind("5M"), DurationErrorKind::UnknownUnit("M".into()));
        assert_eq!(kind("1.5h"), DurationErrorKind::UnknownUnit(".5h".into()));
        assert_eq!(kind("1 h"), DurationErrorKind::UnknownUnit(" h".into()));
        assert_eq!(kind("1é"), DurationErrorKind::UnknownUnit("é".into()));
        assert_eq!(kind("99999999999999999999d"), DurationErrorKind::TooLong);
        assert_eq!(kind("999999999999d"), DurationErrorKind::TooLong);
    }

    #[test]
    fn messages_name_the_text() {
        let error = parse_duration_micros("5 minutes").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown unit ' minutes' in '5 minutes' (use s, m, h, d or w right after a whole number)"
        );
        let error = parse_duration_micros("30").unwrap_err();
        assert!(error.to_string().contains("'30' has no unit"), "{error}");
    }

    #[test]
    fn the_longest_duration_fits_in_microseconds() {
        let weeks = i64::MAX / (604_800 * 1_000_000);
        assert!(parse_duration_micros(&format!("{weeks}w")).is_ok());
        assert_eq!(kind(&format!("{}w", weeks + 1)), DurationErrorKind::TooLong);
    }
}
