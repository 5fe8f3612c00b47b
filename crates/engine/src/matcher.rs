//! Value matchers: what one compiled rule value checks against one event value.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use chrono::{Datelike, NaiveDateTime, Timelike};
use tocsin_event::FieldValue;

use crate::text::TextPattern;

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Cmp {
    pub(crate) fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Cmp::Eq => left == right,
            Cmp::Lt => left < right,
            Cmp::Lte => left <= right,
            Cmp::Gt => left > right,
            Cmp::Gte => left >= right,
        }
    }
}

/// The part of a date the time modifiers extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// How a `fieldref` compares the two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RefMode {
    Equal,
    Contains,
    StartsWith,
    EndsWith,
}

/// One compiled rule value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ValueMatcher {
    /// `null`: the field is absent or null (handled by the field test, never per value).
    Null,
    /// A text pattern, tested on the value's text.
    Text(TextPattern),
    /// A number written without string modifiers: numeric equality.
    Number(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `lt`, `lte`, `gt`, `gte`.
    Compare(Cmp, f64),
    /// `minute` ... `year`, then a comparison.
    TimePart(TimePart, Cmp, f64),
    /// `cidr`: any of these networks (the values of one test share one matcher, so that
    /// the address is parsed once).
    Cidr(Box<[ipnet::IpNet]>),
    /// `fieldref`: compare with another field of the same event (its id in the interner).
    FieldRef {
        other: u32,
        mode: RefMode,
        cased: bool,
    },
}

impl ValueMatcher {
    /// Whether a field it names is below `names` (see [`crate::Engine::validate`]).
    pub(crate) fn is_within(&self, names: usize) -> bool {
        match self {
            ValueMatcher::FieldRef { other, .. } => (*other as usize) < names,
            ValueMatcher::Text(pattern) => pattern.is_within(),
            _ => true,
        }
    }

    /// Whether `value` matches; `FieldRef` and `Null` are decided by the caller.
    pub(crate) fn matches_value(&self, value: FieldValue<'_>) -> bool {
        match self {
            ValueMatcher::Null => value.is_null(),
            ValueMatcher::Text(pattern) => with_text(value, |text| pattern.is_match(text)),
            ValueMatcher::Number(n) => number_equals(value, *n),
            ValueMatcher::Bool(b) => match value {
                FieldValue::Bool(v) => v == *b,
                FieldValue::Str(s) => {
                    s.trim()
                        .eq_ignore_ascii_case(if *b { "true" } else { "false" })
                }
                FieldValue::Int(i) => (i != 0) == *b,
                _ => false,
            },
            ValueMatcher::Compare(cmp, n) => value.as_f64().is_some_and(|v| cmp.holds(v, *n)),
            ValueMatcher::TimePart(part, cmp, n) => {
                time_part(value, *part).is_some_and(|v| cmp.holds(f64::from(v), *n))
            }
            ValueMatcher::Cidr(nets) => value
                .as_str()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
                .is_some_and(|ip| nets.iter().any(|net| net.contains(&ip))),
            ValueMatcher::FieldRef { .. } => false,
        }
    }
}

/// Compares two values for `fieldref`.
pub(crate) fn field_ref_matches(
    mode: RefMode,
    cased: bool,
    value: FieldValue<'_>,
    other: FieldValue<'_>,
) -> bool {
    let compare = |a: &str, b: &str| match mode {
        RefMode::Equal => a == b,
        RefMode::Contains => a.contains(b),
        RefMode::StartsWith => a.starts_with(b),
        RefMode::EndsWith => a.ends_with(b),
    };
    with_text(value, |a| {
        with_text(other, |b| {
            if cased {
                compare(a, b)
            } else {
                compare(&a.to_lowercase(), &b.to_lowercase())
            }
        })
    })
}

/// Runs `f` on the text form of a value (numbers in decimal); `null` has no text.
pub(crate) fn with_text(value: FieldValue<'_>, f: impl FnOnce(&str) -> bool) -> bool {
    match value {
        FieldValue::Str(s) => f(s),
        FieldValue::Int(i) => f(itoa::Buffer::new().format(i)),
        FieldValue::Bool(b) => f(if b { "true" } else { "false" }),
        FieldValue::Float(x) => f(&x.to_string()),
        FieldValue::Null => false,
    }
}

fn number_equals(value: FieldValue<'_>, n: f64) -> bool {
    match value {
        FieldValue::Int(i) => i as f64 == n,
        FieldValue::Float(x) => x == n,
        FieldValue::Str(s) => s.trim().parse::<f64>().is_ok_and(|v| v == n),
        FieldValue::Bool(_) | FieldValue::Null => false,
    }
}

/// Extracts a date part from a timestamp value (RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]`, or epoch
/// seconds / milliseconds).
fn time_part(value: FieldValue<'_>, part: TimePart) -> Option<u32> {
    let when = parse_time(value)?;
    Some(match part {
        TimePart::Minute => when.minute(),
        TimePart::Hour => when.hour(),
        TimePart::Day => when.day(),
        TimePart::Week => when.iso_week().week(),
        TimePart::Month => when.month(),
        TimePart::Year => u32::try_from(when.year()).ok()?,
    })
}

fn parse_time(value: FieldValue<'_>) -> Option<NaiveDateTime> {
    match value {
        FieldValue::Str(s) => {
            let s = s.trim();
            if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
                return Some(t.naive_utc());
            }
            [
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S",
            ]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        }
        FieldValue::Int(i) => {
            let secs = if i.abs() > 100_000_000_000 {
                i / 1000
            } else {
                i
            };
            chrono::DateTime::from_timestamp(secs, 0).map(|t| t.naive_utc())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_numbers_and_numeric_text() {
        let m = ValueMatcher::Number(4688.0);
        assert!(m.matches_value(FieldValue::Int(4688)));
        assert!(m.matches_value(FieldValue::Str("4688")));
        assert!(!m.matches_value(FieldValue::Str("46880")));
        assert!(!m.matches_value(FieldValue::Null));
    }

    #[test]
    fn comparisons() {
        assert!(ValueMatcher::Compare(Cmp::Gt, 10.0).matches_value(FieldValue::Int(11)));
        assert!(!ValueMatcher::Compare(Cmp::Gt, 10.0).matches_value(FieldValue::Int(10)));
        assert!(ValueMatcher::Compare(Cmp::Gte, 10.0).matches_value(FieldValue::Str("10")));
        assert!(ValueMatcher::Compare(Cmp::Lt, 10.0).matches_value(FieldValue::Float(9.5)));
        assert!(ValueMatcher::Compare(Cmp::Lte, 10.0).matches_value(FieldValue::Int(10)));
        assert!(!ValueMatcher::Compare(Cmp::Lt, 10.0).matches_value(FieldValue::Str("abc")));
    }

    #[test]
    fn time_parts_of_several_formats() {
        let v = FieldValue::Str("2025-11-27T07:40:10.165324Z");
        assert_eq!(time_part(v, TimePart::Hour), Some(7));
        assert_eq!(time_part(v, TimePart::Minute), Some(40));
        assert_eq!(time_part(v, TimePart::Day), Some(27));
        assert_eq!(time_part(v, TimePart::Month), Some(11));
        assert_eq!(time_part(v, TimePart::Year), Some(2025));
        assert_eq!(time_part(v, TimePart::Week), Some(48));
        assert_eq!(
            time_part(FieldValue::Str("2025-11-27 23:01:02.5"), TimePart::Hour),
            Some(23)
        );
        assert_eq!(time_part(FieldValue::Int(0), TimePart::Year), Some(1970));
        assert_eq!(
            time_part(FieldValue::Str("yesterday"), TimePart::Year),
            None
        );
    }

    #[test]
    fn cidr_v4_and_v6() {
        let nets = |list: &[&str]| -> ValueMatcher {
            ValueMatcher::Cidr(list.iter().map(|n| n.parse().expect("net")).collect())
        };
        let m = nets(&["10.0.0.0/8"]);
        assert!(m.matches_value(FieldValue::Str("10.1.2.3")));
        assert!(!m.matches_value(FieldValue::Str("11.1.2.3")));
        assert!(!m.matches_value(FieldValue::Str("not an ip")));
        let m6 = nets(&["fe80::/10"]);
        assert!(m6.matches_value(FieldValue::Str("fe80::1")));
        assert!(!m6.matches_value(FieldValue::Str("2001:db8::1")));
        let either = nets(&["10.0.0.0/8", "fe80::/10", "192.168.0.0/16"]);
        for (address, inside) in [
            ("fe80::1", true),
            (" 192.168.4.4 ", true),
            ("11.0.0.1", false),
        ] {
            assert_eq!(
                either.matches_value(FieldValue::Str(address)),
                inside,
                "{address}"
            );
        }
    }

    #[test]
    fn booleans_accept_text() {
        assert!(ValueMatcher::Bool(true).matches_value(FieldValue::Str("True")));
        assert!(ValueMatcher::Bool(false).matches_value(FieldValue::Bool(false)));
        assert!(!ValueMatcher::Bool(true).matches_value(FieldValue::Str("yes")));
    }

    #[test]
    fn field_refs() {
        let a = FieldValue::Str("C:\\Users\\Bob\\x.exe");
        let b = FieldValue::Str("c:\\users\\bob");
        assert!(field_ref_matches(RefMode::StartsWith, false, a, b));
        assert!(!field_ref_matches(RefMode::StartsWith, true, a, b));
        assert!(!field_ref_matches(RefMode::Equal, false, a, b));
        assert!(field_ref_matches(
            RefMode::Equal,
            false,
            FieldValue::Int(5),
            FieldValue::Str("5")
        ));
    }
}
