//! STIX timestamps: RFC 3339 in UTC with millisecond precision, as `created` and `modified`
//! require.

use chrono::{DateTime, SecondsFormat};

/// `2024-12-02T03:14:07.000Z`; `None` beyond the calendar.
pub(crate) fn stamp(micros: i64) -> Option<String> {
    let time = DateTime::from_timestamp_micros(micros)?;
    Some(time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_in_utc() {
        assert_eq!(
            stamp(1_733_109_247_123_456).as_deref(),
            Some("2024-12-02T03:14:07.123Z")
        );
        assert_eq!(stamp(i64::MAX), None);
    }
}
