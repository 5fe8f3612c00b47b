//! Event times: RFC 3339-ish text or Unix epoch numbers, to microseconds since the epoch.

use chrono::{DateTime, NaiveDateTime};
use tocsin_event::Value;

/// The time `value` names, in microseconds since the Unix epoch (UTC), if it names one.
///
/// Text is RFC 3339 (`2025-11-27T07:40:10.1653241Z`, any number of fractional digits, `T`
/// or a space between date and time); text without an offset is taken as UTC. Numbers (and
/// text that is only a number) are epoch seconds, milliseconds, microseconds or nanoseconds,
/// told apart by their size.
pub(crate) fn from_value(value: &Value) -> Option<i64> {
    match value {
        Value::Str(text) => from_text(text),
        Value::Int(n) => from_epoch(*n as f64),
        Value::Float(n) => from_epoch(*n),
        Value::Null | Value::Bool(_) => None,
    }
}

/// Text that is Unix epoch seconds (a fraction allowed), in microseconds: the `when=` of
/// appliance syslog, the `timestamp` of outbound events and session reports. `None` for
/// anything else, or a time beyond what microseconds since the epoch hold.
pub(crate) fn from_epoch_seconds(text: &str) -> Option<i64> {
    let seconds: f64 = text.trim().parse().ok()?;
    let micros = seconds * 1e6;
    (micros.is_finite() && micros.abs() < 9.0e18).then(|| micros.round() as i64)
}

fn from_text(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_micros());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time.and_utc().timestamp_micros());
        }
    }
    // Only digits (and a point): an epoch number written as text.
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return from_epoch(text.parse().ok()?);
    }
    None
}

/// Epoch seconds, milliseconds, microseconds or nanoseconds, by magnitude: 10^11 seconds is
/// past the year 5000, so anything larger is in a finer unit.
fn from_epoch(n: f64) -> Option<i64> {
    if !n.is_finite() {
        return None;
    }
    let micros = match n.abs() {
        a if a >= 1e17 => n / 1e3,
        a if a >= 1e14 => n,
        a if a >= 1e11 => n * 1e3,
        _ => n * 1e6,
    };
    // Within i64 (and comfortably within chrono's range when shown).
    (micros.abs() < 9.0e18).then(|| micros.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: Value, expected: Option<i64>) {
        assert_eq!(from_value(&value), expected, "{value:?}");
    }

    #[test]
    fn rfc3339_text() {
        check(
            "2025-11-27T07:40:10.165324Z".into(),
            Some(1_764_229_210_165_324),
        );
        check(
            "2025-11-27T07:40:10.1653249Z".into(),
            Some(1_764_229_210_165_324),
        );
        check(
            "2025-11-27T08:40:10.165324+01:00".into(),
            Some(1_764_229_210_165_324),
        );
        check(
            "2025-11-27 07:40:10.165324Z".into(),
            Some(1_764_229_210_165_324),
        );
        check("1970-01-01T00:00:00Z".into(), Some(0));
    }

    #[test]
    fn text_without_offset_is_utc() {
        check(
            "2025-11-27 07:40:10.132".into(),
            Some(1_764_229_210_132_000),
        );
        check("2025-11-27T07:40:10".into(), Some(1_764_229_210_000_000));
    }

    #[test]
    fn epoch_numbers_by_magnitude() {
        check(Value::Int(1_764_229_210), Some(1_764_229_210_000_000));
        check(Value::Float(1_764_229_210.5), Some(1_764_229_210_500_000));
        check(Value::Int(1_764_229_210_165), Some(1_764_229_210_165_000));
        check(
            Value::Int(1_764_229_210_165_324),
            Some(1_764_229_210_165_324),
        );
        check(
            Value::Int(1_764_229_210_165_324_000),
            Some(1_764_229_210_165_324),
        );
        check("1764229210".into(), Some(1_764_229_210_000_000));
        check(Value::Int(-1), Some(-1_000_000));
    }

    #[test]
    fn not_times() {
        check("yesterday".into(), None);
        check("".into(), None);
        check("2025-13-40T00:00:00Z".into(), None);
        check(".".into(), None);
        check(Value::Null, None);
        check(Value::Bool(true), None);
        check(Value::Float(f64::NAN), None);
        check(Value::Float(1e300), None);
    }
}
