//! Completing the times that text logs write without a year or a zone (RFC 3164 headers
//! `Feb  5 12:54:46`, some CEF `rt` values), as log tools do:
//!
//! * The zone is [`DecodeOptions::timezone`](crate::DecodeOptions::timezone), UTC unless
//!   said otherwise.
//! * The year is [`DecodeOptions::syslog_year`](crate::DecodeOptions::syslog_year) when given:
//!   the year of the file's first line, moving to the next year when the months turn back
//!   (December, then January). Otherwise it is inferred from a reference time (the file's
//!   modification time, or the time standard input is read): a log is written before it is
//!   last modified, so each time takes the latest year that puts it at most a day after the
//!   reference (a December line in a file modified in January is from the year before).
//!
//! What was assumed is told by [`Clock::note`], so that a reader knows where the years came
//! from.

use std::cell::Cell;
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc};

/// A fixed offset from UTC: the zone of log times that do not carry one.
///
/// Parsed from `Z`, `UTC`, `+02:00`, `-0530` or `+2`; written `+02:00`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct UtcOffset {
    seconds: i32,
}

impl UtcOffset {
    /// UTC itself.
    pub const UTC: UtcOffset = UtcOffset { seconds: 0 };

    /// The offset of `seconds` east of UTC, if less than a day.
    pub fn from_seconds(seconds: i32) -> Option<Self> {
        (seconds.abs() < 86_400).then_some(UtcOffset { seconds })
    }

    /// Seconds east of UTC (`+02:00` is 7200).
    pub fn seconds(self) -> i32 {
        self.seconds
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.seconds < 0 { '-' } else { '+' };
        let minutes = self.seconds.abs() / 60;
        write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

impl std::str::FromStr for UtcOffset {
    type Err = String;

    /// Parses `Z`, `UTC`, `GMT`, or a sign and hours with optional minutes (`+2`, `+02`,
    /// `+0200`, `+02:00`, `-05:30`). Zone names such as `Europe/Paris` are refused: their
    /// offset changes with the date.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let bad = || {
            format!(
                "invalid zone `{text}` (expected an offset from UTC such as +02:00, -05:30 or Z)"
            )
        };
        if ["Z", "UTC", "GMT"]
            .iter()
            .any(|z| text.eq_ignore_ascii_case(z))
        {
            return Ok(UtcOffset::UTC);
        }
        let (sign, rest) = match text.as_bytes().first() {
            Some(b'+') => (1, &text[1..]),
            Some(b'-') => (-1, &text[1..]),
            _ => return Err(bad()),
        };
        let digits: String = rest.chars().filter(|&c| c != ':').collect();
        if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let (hours, minutes) = match digits.len() {
            1 | 2 => (&digits[..], "0"),
            len => digits.split_at(len - 2),
        };
        let hours: i32 = hours.parse().map_err(|_| bad())?;
        let minutes: i32 = minutes.parse().map_err(|_| bad())?;
        if hours > 23 || minutes > 59 {
            return Err(bad());
        }
        UtcOffset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok_or_else(bad)
    }
}

/// Where the year of year-less times comes from.
#[derive(Debug, Clone, Copy)]
enum YearRule {
    /// Given: the year of the first time, rolling over when the months turn back.
    Given,
    /// Inferred from a reference time (local), described by `what`.
    Inferred {
        reference: NaiveDateTime,
        what: &'static str,
    },
}

/// Completes year-less, zone-less times for one input (see the module doc).
#[derive(Debug)]
pub(crate) struct Clock {
    rule: YearRule,
    offset: UtcOffset,
    /// The year of the last time completed (`Given`), rolled over as the months turn.
    year: Cell<i32>,
    last_month: Cell<u32>,
    /// The first and last years given to a time, once one was completed.
    years_used: Cell<Option<(i32, i32)>>,
}

impl Clock {
    /// Years starting at `year` (a December to January turn moves to the next), zone
    /// `offset`.
    pub(crate) fn given(year: i32, offset: UtcOffset) -> Self {
        Clock::new(YearRule::Given, year, offset)
    }

    /// Years inferred from `reference` (`what` says what it is, for the note), zone
    /// `offset`.
    pub(crate) fn inferred(
        reference: DateTime<Utc>,
        what: &'static str,
        offset: UtcOffset,
    ) -> Self {
        let local = reference.naive_utc() + TimeDelta::seconds(i64::from(offset.seconds));
        let rule = YearRule::Inferred {
            reference: local,
            what,
        };
        Clock::new(rule, local.year(), offset)
    }

    /// Years starting at `year`, UTC: for tests.
    #[cfg(test)]
    pub(crate) fn year(year: i32) -> Self {
        Clock::given(year, UtcOffset::UTC)
    }

    fn new(rule: YearRule, year: i32, offset: UtcOffset) -> Self {
        Clock {
            rule,
            offset,
            year: Cell::new(year),
            last_month: Cell::new(0),
            years_used: Cell::new(None),
        }
    }

    /// The time (microseconds since the epoch, UTC) of local `month`/`day` at `hms`, in
    /// the year this clock picks; `None` when that date does not exist (30 February).
    pub(crate) fn complete(&self, month: u32, day: u32, (h, m, s): (u32, u32, u32)) -> Option<i64> {
        let at = |year| NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(h, m, s);
        let time = match self.rule {
            YearRule::Given => {
                if month + 6 < self.last_month.get() {
                    self.year.set(self.year.get() + 1);
                }
                self.last_month.set(month);
                at(self.year.get())?
            }
            YearRule::Inferred { reference, .. } => {
                let latest = reference + TimeDelta::days(1);
                // Four years back at most: 29 February needs a leap year.
                (0..4)
                    .filter_map(|back| at(reference.year() - back))
                    .find(|time| *time <= latest)?
            }
        };
        let year = time.year();
        let used = self
            .years_used
            .get()
            .map_or((year, year), |(a, b)| (a.min(year), b.max(year)));
        self.years_used.set(Some(used));
        self.to_utc(time)
    }

    /// A local time with its year, but no zone, as UTC microseconds; `None` past the last
    /// time chrono can hold (a year written as 262142 in an input).
    pub(crate) fn to_utc(&self, local: NaiveDateTime) -> Option<i64> {
        let offset = TimeDelta::seconds(i64::from(self.offset.seconds));
        Some(
            local
                .checked_sub_signed(offset)?
                .and_utc()
                .timestamp_micros(),
        )
    }

    /// What was assumed to complete times, once a time was completed: the years given and
    /// where they came from, and the zone.
    pub(crate) fn note(&self) -> Option<String> {
        let (first, last) = self.years_used.get()?;
        let years = match first == last {
            true => format!("{first}"),
            false => format!("{first} to {last}"),
        };
        let whence = match self.rule {
            YearRule::Given => "as given".to_string(),
            YearRule::Inferred { reference, what } => format!(
                "inferred from {what} ({}): a time is put at most a day after it",
                reference.format("%Y-%m-%d %H:%M")
            ),
        };
        Some(format!(
            "times without a year were given the year {years} ({whence}), and times without \
             a zone were read as UTC{} (--syslog-year and --tz say otherwise)",
            self.offset
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn year_of(micros: i64) -> i32 {
        DateTime::from_timestamp_micros(micros).unwrap().year()
    }

    #[test]
    fn offsets_parse_and_print() {
        for (text, seconds) in [
            ("Z", 0),
            ("utc", 0),
            ("+2", 7200),
            ("+02:00", 7200),
            ("-0530", -19_800),
        ] {
            assert_eq!(
                text.parse::<UtcOffset>().map(UtcOffset::seconds),
                Ok(seconds),
                "{text}"
            );
        }
        assert_eq!("-05:30".parse::<UtcOffset>().unwrap().to_string(), "-05:30");
        assert_eq!(UtcOffset::UTC.to_string(), "+00:00");
        for bad in ["Europe/Paris", "+24:00", "+02:60", "2", "+"] {
            assert!(bad.parse::<UtcOffset>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_december_line_in_a_file_modified_in_january_is_from_the_year_before() {
        let clock = Clock::inferred(
            utc("2025-01-03T08:00:00Z"),
            "the file's modification time",
            UtcOffset::UTC,
        );
        let december = clock.complete(12, 31, (23, 59, 0)).unwrap();
        assert_eq!(year_of(december), 2024);
        let january = clock.complete(1, 3, (7, 0, 0)).unwrap();
        assert_eq!(year_of(january), 2025);
        // Up to a day after the reference still counts as this year (clock skew, zones).
        assert_eq!(year_of(clock.complete(1, 4, (7, 0, 0)).unwrap()), 2025);
        assert_eq!(year_of(clock.complete(1, 5, (7, 0, 0)).unwrap()), 2024);
        // 29 February goes back to the last leap year.
        assert_eq!(year_of(clock.complete(2, 29, (0, 0, 0)).unwrap()), 2024);
        assert_eq!(
            clock.note().unwrap(),
            "times without a year were given the year 2024 to 2025 (inferred from the file's \
             modification time (2025-01-03 08:00): a time is put at most a day after it), and \
             times without a zone were read as UTC+00:00 (--syslog-year and --tz say otherwise)"
        );
    }

    #[test]
    fn a_given_year_rolls_over_and_the_zone_shifts_times() {
        let clock = Clock::given(2024, "+02:00".parse().unwrap());
        assert_eq!(clock.note(), None);
        let december = clock.complete(12, 31, (23, 0, 0)).unwrap();
        assert_eq!(december, utc("2024-12-31T21:00:00Z").timestamp_micros());
        let january = clock.complete(1, 1, (1, 0, 0)).unwrap();
        assert_eq!(january, utc("2024-12-31T23:00:00Z").timestamp_micros());
        assert_eq!(year_of(clock.complete(3, 1, (12, 0, 0)).unwrap()), 2025);
        assert!(clock.note().unwrap().contains("2024 to 2025 (as given)"));
        assert!(clock.complete(2, 30, (0, 0, 0)).is_none());
        // The last time chrono holds, moved past it by the zone: no time, no panic.
        let west = Clock::given(2024, "-05:00".parse().unwrap());
        assert_eq!(west.to_utc(NaiveDateTime::MAX), None);
        assert!(west.to_utc(NaiveDateTime::MIN).is_some());
    }
}
