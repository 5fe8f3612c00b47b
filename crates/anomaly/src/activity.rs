//! When a principal is active: a histogram of its events by UTC hour of the week.
//!
//! From the one histogram come both questions the unusual-time check asks: how busy an
//! hour of the day is, and how busy a day is. Days are the principal's *working* days, not
//! UTC days: a day starts at the principal's quietest hour, so a representative in UTC-8
//! whose Friday shift ends at 03:00 UTC on Saturday is working on Friday, and Saturday
//! stays rare for them.

use chrono::{DateTime, Datelike, Timelike};
use serde::{Deserialize, Serialize};

/// The length of the quiet stretch whose middle starts a principal's day.
const QUIET_HOURS: usize = 8;

/// Hours in a week.
pub(crate) const WEEK_HOURS: usize = 7 * 24;

/// Events per UTC hour of the week, Monday 00:00 first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct WeeklyActivity {
    counts: Vec<u64>,
}

impl Default for WeeklyActivity {
    fn default() -> Self {
        Self {
            counts: vec![0; WEEK_HOURS],
        }
    }
}

/// The UTC hour of the week (0 = Monday 00:00-00:59) of `micros`.
pub(crate) fn hour_of_week(micros: i64) -> Option<usize> {
    let time = DateTime::from_timestamp_micros(micros)?;
    Some(time.weekday().num_days_from_monday() as usize * 24 + time.hour() as usize)
}

impl WeeklyActivity {
    /// Whether the histogram has its 168 hours (a restored baseline is checked).
    pub(crate) fn is_valid(&self) -> bool {
        self.counts.len() == WEEK_HOURS
    }

    /// Counts one event at `micros`.
    pub(crate) fn record(&mut self, micros: i64) {
        if let Some(slot) = hour_of_week(micros).and_then(|h| self.counts.get_mut(h)) {
            *slot = slot.saturating_add(1);
        }
    }

    /// Events counted.
    pub(crate) fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Events per UTC hour of the day.
    pub(crate) fn hours(&self) -> [u64; 24] {
        let mut hours = [0; 24];
        for (i, count) in self.counts.iter().enumerate() {
            hours[i % 24] += count;
        }
        hours
    }

    /// Events in the `2 * margin + 1` hours of the day centred on `hour`.
    pub(crate) fn around_hour(&self, hour: usize, margin: usize) -> u64 {
        let hours = self.hours();
        (0..=2 * margin)
            .map(|i| hours[(hour + 24 * (margin / 24 + 1) + i - margin) % 24])
            .sum()
    }

    /// The UTC hour at which the principal's day starts: the middle of its quietest
    /// [`QUIET_HOURS`] consecutive hours (the middle one of equally quiet stretches), so
    /// that the thin tails of a shift stay on the shift's side of the boundary.
    pub(crate) fn day_start(&self) -> usize {
        let hours = self.hours();
        let sums: Vec<u64> = (0..24)
            .map(|start| (0..QUIET_HOURS).map(|i| hours[(start + i) % 24]).sum())
            .collect();
        let min = sums.iter().copied().min().unwrap_or(0);
        let quiet = |h: usize| sums[h % 24] == min;
        let run_start = (0..24).find(|&h| quiet(h) && !quiet(h + 23)).unwrap_or(0);
        let run_len = (0..24).take_while(|&i| quiet(run_start + i)).count().max(1);
        if run_len == 24 {
            return 0; // no quiet hours (or no history): UTC days
        }
        let quietest = run_start + (run_len - 1) / 2;
        (quietest + QUIET_HOURS / 2) % 24
    }

    /// The working day (0 = Monday) an hour of the week belongs to, for days starting at
    /// `day_start`.
    pub(crate) fn working_day(hour_of_week: usize, day_start: usize) -> usize {
        (hour_of_week + WEEK_HOURS - day_start % 24) % WEEK_HOURS / 24
    }

    /// Events on working day `day`, for days starting at `day_start`.
    pub(crate) fn on_day(&self, day: usize, day_start: usize) -> u64 {
        self.counts
            .iter()
            .enumerate()
            .filter(|(h, _)| Self::working_day(*h, day_start) == day)
            .map(|(_, c)| c)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2024-11-04 00:00 UTC in microseconds.
    const MONDAY: i64 = 1_730_678_400_000_000;
    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn hours_of_the_week() {
        assert_eq!(hour_of_week(MONDAY), Some(0));
        assert_eq!(hour_of_week(MONDAY + 25 * HOUR), Some(25));
        assert_eq!(hour_of_week(MONDAY + 7 * 24 * HOUR - 1), Some(167));
    }

    #[test]
    fn a_late_shift_belongs_to_the_day_it_started() {
        let mut activity = WeeklyActivity::default();
        // Monday to Friday, 18:00 to 02:59 UTC.
        for day in 0..5 {
            for hour in (18..27).map(|h| day * 24 + h) {
                activity.record(MONDAY + hour * HOUR);
            }
        }
        let start = activity.day_start();
        assert!(
            (3..18).contains(&start),
            "quiet hours start the day: {start}"
        );
        // Saturday 01:00 UTC is Friday's shift.
        let saturday_1am = 5 * 24 + 1;
        assert_eq!(WeeklyActivity::working_day(saturday_1am, start), 4);
        assert_eq!(activity.on_day(4, start), 9);
        assert_eq!(activity.on_day(5, start), 0);
        assert_eq!(
            activity.around_hour(1, 2),
            4 * 5,
            "23:00-03:59: hours 23, 0, 1 and 2"
        );
        assert_eq!(activity.around_hour(8, 2), 0);
    }

    #[test]
    fn an_idle_or_constant_principal_still_has_a_day_start() {
        assert_eq!(WeeklyActivity::default().day_start(), 0);
        let mut always = WeeklyActivity::default();
        for hour in 0..WEEK_HOURS as i64 {
            always.record(MONDAY + hour * HOUR);
        }
        assert_eq!(always.day_start(), 0);
        assert_eq!(always.on_day(6, 0), 24);
    }

    #[test]
    fn a_bad_histogram_is_detected() {
        let activity: WeeklyActivity = serde_json::from_str("[1, 2]").expect("json");
        assert!(!activity.is_valid());
        assert!(WeeklyActivity::default().is_valid());
    }
}
