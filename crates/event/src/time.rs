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

#[cfg(test)]
mod tests {
    use super::*;

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
