//! Formatting of times and durations for titles, explanations and reports.

use chrono::DateTime;

/// `2024-05-01 10:00:00Z` (seconds precision, UTC), or the raw number when out of range.
pub fn format_micros(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros).map_or_else(
        || format!("{micros} µs"),
        |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
    )
}

/// A short human duration: `45 s`, `3 min`, `2 h 5 min`, `3 d 4 h`.
pub fn format_duration(micros: i64) -> String {
    let seconds = micros / 1_000_000;
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3_600 => format!("{} min", s / 60),
        s if s < 86_400 => match (s / 3_600, s % 3_600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        s => match (s / 86_400, s % 86_400 / 3_600) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(0), "0 s");
        assert_eq!(format_duration(59_999_999), "59 s");
        assert_eq!(format_duration(180_000_000), "3 min");
        assert_eq!(format_duration(3_600_000_000), "1 h");
        assert_eq!(format_duration(7_500_000_000), "2 h 5 min");
        assert_eq!(format_duration(90_000_000_000), "1 d 1 h");
    }

    #[test]
    fn times_are_utc_with_seconds() {
        assert_eq!(format_micros(1_714_557_600_000_000), "2024-05-01 10:00:00Z");
    }
}
