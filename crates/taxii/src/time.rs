//! TAXII and STIX timestamps (RFC 3339 in UTC, section 3.2 of STIX 2.1) as microseconds
//! since the Unix epoch, so that versions and dates added compare as numbers whatever
//! their written precision (`...00Z`, `...00.000Z` and `...00.000000Z` are one instant).

use chrono::{DateTime, SecondsFormat, Utc};

/// The microseconds since the epoch of an RFC 3339 timestamp, or `None` when `text` is not
/// one (or is out of range).
pub fn parse_micros(text: &str) -> Option<i64> {
    let parsed = DateTime::parse_from_rfc3339(text.trim()).ok()?;
    Some(parsed.with_timezone(&Utc).timestamp_micros())
}

/// `micros` as a TAXII timestamp with microsecond precision (`2024-12-05T10:11:12.000001Z`).
pub fn format_micros(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precisions_are_one_instant() {
        let a = parse_micros("2016-01-01T00:00:00Z").unwrap();
        let b = parse_micros("2016-01-01T00:00:00.000Z").unwrap();
        let c = parse_micros("2016-01-01T00:00:00.000000Z").unwrap();
        assert_eq!((a, b), (c, c));
        assert_eq!(format_micros(a + 1), "2016-01-01T00:00:00.000001Z");
        assert_eq!(parse_micros(&format_micros(a + 1)), Some(a + 1));
    }

    #[test]
    fn junk_is_none() {
        for bad in ["", "yesterday", "2016-13-01T00:00:00Z", "2016-01-01"] {
            assert_eq!(parse_micros(bad), None, "{bad}");
        }
    }
}
