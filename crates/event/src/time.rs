//! How tocsin writes a point in time, in one of two named styles, so that every output
//! and report that shows the same instant shows it the same way:
//!
//! * [`format_machine`], for other tools: RFC 3339 in UTC, such as `2024-05-01T10:00:00Z`
//!   or `2024-05-01T10:00:00.250000Z`. It is what JSON Lines and CSV detections, correlation
//!   windows and anomaly JSON carry, and what a parser of RFC 3339 reads back exactly.
//! * [`format_human`], for people: `2024-05-01 10:00:00Z`, to the second, as incident
//!   titles, timelines and reports show it.
//!
//! Times are microseconds since the Unix epoch in UTC, as in
//! [`Event::timestamp_micros`](crate::Event::timestamp_micros).

use chrono::{DateTime, SecondsFormat};

/// The machine style: RFC 3339 in UTC with a `Z`, with microseconds only when they are not
/// zero (`2024-05-01T10:00:00Z`, `2024-05-01T10:00:00.000250Z`).
///
/// Whole seconds are written without a fraction because most log times are whole seconds
/// and shorter text is easier to compare by eye; a fraction, when present, always has six
/// digits so that no precision is lost. `None` when the time is beyond what a calendar date
/// can express (hundreds of thousands of years away), so that a caller chooses what to show.
///
/// ```
/// use tocsin_event::time::format_machine;
///
/// assert_eq!(format_machine(1_714_557_600_000_000).as_deref(), Some("2024-05-01T10:00:00Z"));
/// assert_eq!(format_machine(1_714_557_600_250_000).as_deref(), Some("2024-05-01T10:00:00.250000Z"));
/// ```
pub fn format_machine(micros: i64) -> Option<String> {
    let time = DateTime::from_timestamp_micros(micros)?;
    let precision = if micros.rem_euclid(1_000_000) == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Micros
    };
    Some(time.to_rfc3339_opts(precision, true))
}

/// The human style: `2024-05-01 10:00:00Z`, to the second, in UTC.
///
/// A space instead of RFC 3339's `T` reads better in prose and tables, and seconds are as
/// fine as an analyst reads a timeline; the `Z` keeps the time zone explicit. A time beyond
/// the calendar is shown as its raw number (`… µs`), so that a report always says something.
///
/// ```
/// use tocsin_event::time::format_human;
///
/// assert_eq!(format_human(1_714_557_600_250_000), "2024-05-01 10:00:00Z");
/// ```
pub fn format_human(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros).map_or_else(
        || format!("{micros} µs"),
        |time| time.format("%Y-%m-%d %H:%M:%SZ").to_string(),
    )
}

/// The events of a hunt or a search that a time range keeps: from `from` to `to`, both
/// included, in microseconds since the epoch (UTC). An event without a time cannot be
/// placed in a range, so a range that bounds either side keeps none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    /// The earliest time kept, if bounded.
    pub from: Option<i64>,
    /// The latest time kept, if bounded.
    pub to: Option<i64>,
}

impl TimeRange {
    /// Whether the range bounds nothing (every event is kept, with a time or not).
    pub fn is_unbounded(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }

    /// Whether an event at `at` is kept.
    pub fn contains(&self, at: Option<i64>) -> bool {
        if self.is_unbounded() {
            return true;
        }
        at.is_some_and(|at| self.from.is_none_or(|f| at >= f) && self.to.is_none_or(|t| at <= t))
    }
}

/// Parses a time as `--from` and `--to` take it: RFC 3339 (`2024-12-02T03:00:00Z`, an
/// offset instead of `Z`), a date alone (`2024-12-02`, its midnight UTC), `now`, or a time
/// relative to `now_micros`: a sign, a whole number and s, m, h, d or w (`-7d`, `-90m`,
/// `+1h`). Returns microseconds since the epoch.
///
/// # Errors
///
/// The text is none of these; the message says what is accepted.
///
/// ```
/// use tocsin_event::time::parse_time;
///
/// let now = 1_733_100_000_000_000;
/// assert_eq!(parse_time("2024-12-02T03:00:00Z", now), Ok(1_733_108_400_000_000));
/// assert_eq!(parse_time("-1h", now), Ok(now - 3_600_000_000));
/// ```
pub fn parse_time(text: &str, now_micros: i64) -> Result<i64, String> {
    let text = text.trim();
    let accepted = "expected RFC 3339 (2024-12-02T03:00:00Z), a date (2024-12-02), now, or a time relative to now such as -7d or -90m";
    if text.eq_ignore_ascii_case("now") {
        return Ok(now_micros);
    }
    if let Some((sign, amount)) = text
        .strip_prefix('-')
        .map(|a| (-1, a))
        .or_else(|| text.strip_prefix('+').map(|a| (1, a)))
    {
        let span = crate::parse_duration_micros(amount)
            .map_err(|e| format!("`{text}`: {e} ({accepted})"))?;
        return now_micros
            .checked_add(sign * span)
            .ok_or_else(|| format!("`{text}` is too far from now"));
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_micros());
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(midnight) = date.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc().timestamp_micros());
        }
    }
    Err(format!("`{text}`: {accepted}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_absolute_dated_and_relative() {
        let now = 1_733_100_000_000_000;
        assert_eq!(
            parse_time("2024-12-02T05:00:00+02:00", now),
            Ok(1_733_108_400_000_000)
        );
        assert_eq!(parse_time("2024-12-02", now), Ok(1_733_097_600_000_000));
        assert_eq!(parse_time("NOW", now), Ok(now));
        assert_eq!(parse_time("-7d", now), Ok(now - 7 * 86_400_000_000));
        assert_eq!(parse_time("+30m", now), Ok(now + 1_800_000_000));
        for bad in [
            "yesterday",
            "2024-13-01",
            "-7",
            "-7y",
            "",
            "2024-12-02 03:00",
        ] {
            let error = parse_time(bad, now).expect_err(bad);
            assert!(error.contains("RFC 3339"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_range_keeps_its_bounds_and_drops_untimed_events() {
        let range = TimeRange {
            from: Some(10),
            to: Some(20),
        };
        assert!(range.contains(Some(10)) && range.contains(Some(20)));
        assert!(!range.contains(Some(9)) && !range.contains(Some(21)));
        assert!(!range.contains(None));
        let open = TimeRange {
            from: Some(10),
            to: None,
        };
        assert!(open.contains(Some(i64::MAX)) && !open.contains(None));
        assert!(TimeRange::default().contains(None));
    }

    #[test]
    fn machine_style_is_rfc3339_with_micros_only_when_needed() {
        assert_eq!(
            format_machine(1_714_557_600_000_000).as_deref(),
            Some("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            format_machine(1_714_557_600_000_250).as_deref(),
            Some("2024-05-01T10:00:00.000250Z")
        );
        assert_eq!(
            format_machine(-1).as_deref(),
            Some("1969-12-31T23:59:59.999999Z")
        );
        assert_eq!(format_machine(i64::MAX), None);
    }

    #[test]
    fn human_style_is_utc_to_the_second() {
        assert_eq!(format_human(1_714_557_600_000_000), "2024-05-01 10:00:00Z");
        assert_eq!(format_human(1_714_557_600_999_999), "2024-05-01 10:00:00Z");
        assert_eq!(format_human(i64::MAX), format!("{} µs", i64::MAX));
    }
}
