//! [`Summary`]: the figures of one hunt, gathered per thread, merged, and rendered at the end.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use tocsin_event::time::format_machine;

use crate::table::{level_style, paint, BOLD};
use crate::{clean, DetectionRecord};

/// The levels in the order the summary lists them, most severe first.
pub const LEVELS: [&str; 5] = ["critical", "high", "medium", "low", "informational"];

/// How many rules and computers the rendered summary lists.
pub const TOP: usize = 10;

/// Detections of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCount {
    /// The rule's title.
    pub title: String,
    /// The rule's id.
    pub id: Option<String>,
    /// The rule's level, as in [`DetectionRecord::level`].
    pub level: String,
    /// How many detections it made.
    pub count: u64,
}

/// Counts of a hunt: files, events, errors and detections by level, rule and computer,
/// and the time span of the events scanned.
///
/// Each worker can keep its own summary; [`Summary::merge`] adds them up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    files: u64,
    events: u64,
    decode_errors: u64,
    /// Events decoded but left out by a time range.
    out_of_range: u64,
    detections: u64,
    /// Level name -> detections.
    levels: HashMap<String, u64>,
    /// (title, id) -> level and detections.
    rules: HashMap<(String, Option<String>), (String, u64)>,
    /// Computer -> detections (detections without a computer are not counted here).
    computers: HashMap<String, u64>,
    /// Earliest and latest event timestamp seen, in microseconds.
    span: Option<(i64, i64)>,
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Summary {
        Summary::default()
    }

    /// Counts `n` more input files.
    pub fn add_files(&mut self, n: u64) {
        self.files += n;
    }

    /// Counts `n` more scanned events. (Their timestamps go to [`Summary::observe_event`].)
    pub fn add_events(&mut self, n: u64) {
        self.events += n;
    }

    /// Counts `n` more records that could not be decoded.
    pub fn add_decode_errors(&mut self, n: u64) {
        self.decode_errors += n;
    }

    /// Counts `n` more events decoded but left out by the hunt's time range (not scanned).
    pub fn add_out_of_range(&mut self, n: u64) {
        self.out_of_range += n;
    }

    /// Events decoded but left out by the hunt's time range.
    pub fn out_of_range(&self) -> u64 {
        self.out_of_range
    }

    /// Widens the time span to a scanned event's timestamp (microseconds since the Unix
    /// epoch). Call it for every scanned event, not only for detections; it does not count
    /// the event.
    pub fn observe_event(&mut self, timestamp_micros: Option<i64>) {
        if let Some(t) = timestamp_micros {
            self.widen(t, t);
        }
    }

    /// Counts one detection.
    pub fn record(&mut self, r: &DetectionRecord) {
        self.detections += 1;
        *self.levels.entry(r.level.clone()).or_default() += 1;
        self.rules
            .entry((r.rule_title.clone(), r.rule_id.clone()))
            .or_insert_with(|| (r.level.clone(), 0))
            .1 += 1;
        if let Some(computer) = &r.computer {
            *self.computers.entry(computer.clone()).or_default() += 1;
        }
    }

    /// Adds the counts of `other` to this summary.
    pub fn merge(&mut self, other: Summary) {
        self.files += other.files;
        self.events += other.events;
        self.decode_errors += other.decode_errors;
        self.out_of_range += other.out_of_range;
        self.detections += other.detections;
        for (level, n) in other.levels {
            *self.levels.entry(level).or_default() += n;
        }
        for (key, (level, n)) in other.rules {
            self.rules.entry(key).or_insert_with(|| (level, 0)).1 += n;
        }
        for (computer, n) in other.computers {
            *self.computers.entry(computer).or_default() += n;
        }
        if let Some((first, last)) = other.span {
            self.widen(first, last);
        }
    }

    fn widen(&mut self, first: i64, last: i64) {
        self.span = Some(match self.span {
            None => (first, last),
            Some((a, b)) => (a.min(first), b.max(last)),
        });
    }

    /// Input files counted.
    pub fn files(&self) -> u64 {
        self.files
    }

    /// Events scanned.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Records that could not be decoded.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Detections in total.
    pub fn detections(&self) -> u64 {
        self.detections
    }

    /// Detections of one level (`high`, `informational`, ...).
    pub fn level_count(&self, level: &str) -> u64 {
        self.levels.get(level).copied().unwrap_or(0)
    }

    /// The earliest and latest timestamps of the scanned events, in microseconds.
    pub fn time_span(&self) -> Option<(i64, i64)> {
        self.span
    }

    /// The `n` rules with the most detections, most first (ties by title, then id).
    pub fn top_rules(&self, n: usize) -> Vec<RuleCount> {
        let mut rules: Vec<RuleCount> = self
            .rules
            .iter()
            .map(|((title, id), (level, count))| RuleCount {
                title: title.clone(),
                id: id.clone(),
                level: level.clone(),
                count: *count,
            })
            .collect();
        rules.sort_by(|a, b| (b.count, &a.title, &a.id).cmp(&(a.count, &b.title, &b.id)));
        rules.truncate(n);
        rules
    }

    /// The `n` computers with the most detections, most first (ties by name).
    pub fn top_computers(&self, n: usize) -> Vec<(String, u64)> {
        let mut computers: Vec<(String, u64)> = self
            .computers
            .iter()
            .map(|(c, n)| (c.clone(), *n))
            .collect();
        computers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        computers.truncate(n);
        computers
    }

    /// A short report for the end of a hunt; `elapsed` is the hunt's wall-clock time and
    /// `color` turns on ANSI colours. Rule titles and computer names are [`clean`]ed: they
    /// come from rule files and logs, and the report goes to the terminal.
    pub fn render(&self, elapsed: Duration, color: bool) -> String {
        let bold = |s: &str| paint(s, Some(BOLD), color).into_owned();
        let mut out = String::new();
        let _ = writeln!(out, "{}", bold("Hunt summary"));
        let _ = writeln!(
            out,
            "  Events scanned  {} in {} {}, {} decode {}",
            group(self.events),
            group(self.files),
            plural(self.files, "file", "files"),
            group(self.decode_errors),
            plural(self.decode_errors, "error", "errors"),
        );
        if self.out_of_range > 0 {
            let _ = writeln!(
                out,
                "  Out of range    {} {} outside the time range, not scanned",
                group(self.out_of_range),
                plural(self.out_of_range, "event", "events"),
            );
        }
        let span = self.span.map(|(first, last)| {
            let show = |t: i64| format_machine(t).unwrap_or_else(|| t.to_string());
            format!("{} → {}", show(first), show(last))
        });
        let _ = writeln!(out, "  Time span       {}", span.as_deref().unwrap_or("-"));

        let mut levels: Vec<String> = LEVELS
            .iter()
            .map(|level| {
                let n = self.level_count(level);
                let text = format!("{level} {}", group(n));
                paint(&text, level_style(level).filter(|_| n > 0), color).into_owned()
            })
            .collect();
        let mut others: Vec<(&String, &u64)> = self
            .levels
            .iter()
            .filter(|(l, _)| !LEVELS.contains(&l.as_str()))
            .collect();
        others.sort();
        levels.extend(
            others
                .into_iter()
                .map(|(l, n)| format!("{l} {}", group(*n))),
        );
        let _ = writeln!(
            out,
            "  Detections      {} ({})",
            bold(&group(self.detections)),
            levels.join(", ")
        );

        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            format!(
                " ({} events/s)",
                group((self.events as f64 / secs).round() as u64)
            )
        } else {
            String::new()
        };
        let _ = writeln!(out, "  Elapsed         {secs:.2} s{rate}");

        let rules = self.top_rules(TOP);
        if !rules.is_empty() {
            let _ = writeln!(out, "{}", bold("Top rules"));
            for rule in rules {
                let level = paint(&rule.level, level_style(&rule.level), color);
                let pad = " ".repeat(13usize.saturating_sub(rule.level.chars().count()));
                let id = rule
                    .id
                    .map(|id| format!(" ({})", clean(&id)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  {:>9}  {level}{pad}  {}{id}",
                    group(rule.count),
                    clean(&rule.title)
                );
            }
        }
        let computers = self.top_computers(TOP);
        if !computers.is_empty() {
            let _ = writeln!(out, "{}", bold("Top computers"));
            for (computer, n) in computers {
                let _ = writeln!(out, "  {:>9}  {}", group(n), clean(&computer));
            }
        }
        out
    }
}

/// `one` when `n` is 1, else `many`.
fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// `n` with thousands separated by commas.
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{meta, new_record};
    use tocsin_event::Level;
    use tocsin_event::{Event, Value};

    fn detection(title: &str, level: Option<Level>, computer: Option<&str>) -> DetectionRecord {
        let mut m = meta(level, &[]);
        m.rule.title = title.into();
        m.rule.id = format!("id-{title}");
        let mut e = Event::default();
        if let Some(c) = computer {
            e.push("Event.System.Computer", "Computer", Value::from(c));
        }
        new_record(&m, &e)
    }

    /// A summary of 3 files, 1000 events, 2 errors and 4 detections.
    fn sample() -> Summary {
        let mut s = Summary::new();
        s.add_files(3);
        s.add_events(1000);
        s.add_decode_errors(2);
        s.observe_event(Some(1_700_000_000_000_000));
        s.observe_event(None);
        s.observe_event(Some(1_600_000_000_000_000));
        s.observe_event(Some(1_650_000_000_000_000));
        s.record(&detection("A", Some(Level::High), Some("WS01")));
        s.record(&detection("A", Some(Level::High), Some("WS02")));
        s.record(&detection("B", Some(Level::Critical), Some("WS01")));
        s.record(&detection("C", None, None));
        s
    }

    #[test]
    fn counts() {
        let s = sample();
        assert_eq!(
            (s.files(), s.events(), s.decode_errors(), s.detections()),
            (3, 1000, 2, 4)
        );
        assert_eq!(s.level_count("high"), 2);
        assert_eq!(s.level_count("critical"), 1);
        assert_eq!(s.level_count("informational"), 1, "a rule without a level");
        assert_eq!(s.level_count("low"), 0);
        assert_eq!(
            s.time_span(),
            Some((1_600_000_000_000_000, 1_700_000_000_000_000))
        );
        let rules = s.top_rules(2);
        assert_eq!(rules.len(), 2);
        assert_eq!((rules[0].title.as_str(), rules[0].count), ("A", 2));
        assert_eq!(rules[0].id.as_deref(), Some("id-A"));
        assert_eq!(rules[0].level, "high");
        assert_eq!((rules[1].title.as_str(), rules[1].count), ("B", 1));
        assert_eq!(
            s.top_computers(10),
            [("WS01".to_string(), 2), ("WS02".to_string(), 1)]
        );
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = sample();
        let mut b = Summary::new();
        b.add_files(1);
        b.add_events(5);
        b.observe_event(Some(1_800_000_000_000_000));
        b.record(&detection("B", Some(Level::Critical), Some("WS03")));
        b.record(&detection("B", Some(Level::Critical), Some("WS03")));
        a.merge(b);
        assert_eq!(
            (a.files(), a.events(), a.decode_errors(), a.detections()),
            (4, 1005, 2, 6)
        );
        assert_eq!(a.level_count("critical"), 3);
        assert_eq!(
            a.time_span(),
            Some((1_600_000_000_000_000, 1_800_000_000_000_000))
        );
        assert_eq!(a.top_rules(1)[0].title, "B");
        assert_eq!(a.top_rules(1)[0].count, 3);
        // WS01 and WS03 tie and sort by name.
        let computers = [("WS01", 2), ("WS03", 2), ("WS02", 1)].map(|(c, n)| (c.to_string(), n));
        assert_eq!(a.top_computers(10), computers);

        // Merging into an empty summary gives the same figures.
        let mut empty = Summary::new();
        empty.merge(sample());
        assert_eq!(empty, sample());
    }

    #[test]
    fn render_shows_the_figures() {
        let mut s = sample();
        s.add_events(233_567); // 234,567 in total
        let text = s.render(Duration::from_secs(2), false);
        assert!(!text.contains('\x1b'), "{text}");
        assert!(
            text.contains("234,567 in 3 files, 2 decode errors"),
            "{text}"
        );
        assert!(
            text.contains("2020-09-13T12:26:40Z → 2023-11-14T22:13:20Z"),
            "{text}"
        );
        assert!(
            text.contains("4 (critical 1, high 2, medium 0, low 0, informational 1)"),
            "{text}"
        );
        assert!(text.contains("2.00 s (117,284 events/s)"), "{text}");
        let a = text
            .lines()
            .position(|l| l.ends_with("A (id-A)"))
            .expect(&text);
        let b = text
            .lines()
            .position(|l| l.ends_with("B (id-B)"))
            .expect(&text);
        assert!(a < b, "{text}");
        assert!(text.lines().any(|l| l.trim() == "2  WS01"), "{text}");
        assert!(text.lines().any(|l| l.trim() == "1  WS02"), "{text}");
    }

    #[test]
    fn render_cleans_rule_titles_and_computer_names() {
        let mut s = Summary::new();
        s.record(&detection(
            "Evil\x1b]0;pwned\x07",
            Some(Level::High),
            Some("WS\x1b[2J01"),
        ));
        let text = s.render(Duration::from_secs(1), false);
        assert!(!text.contains(['\x1b', '\x07']), "{text:?}");
        assert!(text.contains("Evil\\u{1b}]0;pwned\\u{7}"), "{text}");
        assert!(text.contains("WS\\u{1b}[2J01"), "{text}");
    }

    #[test]
    fn render_of_an_empty_hunt() {
        let text = Summary::new().render(Duration::ZERO, false);
        assert!(text.contains("0 in 0 files, 0 decode errors"), "{text}");
        assert!(text.contains("Time span       -"), "{text}");
        assert!(!text.contains("events/s"), "{text}");
        assert!(!text.contains("Top rules"), "{text}");
    }

    #[test]
    fn render_colors_only_when_asked() {
        let s = sample();
        let text = s.render(Duration::from_secs(1), true);
        assert!(text.contains("\x1b[1;31mcritical 1\x1b[0m"), "{text:?}");
        // Levels without detections stay plain.
        assert!(text.contains(", medium 0,"), "{text:?}");
    }

    #[test]
    fn top_lists_are_capped() {
        let mut s = Summary::new();
        for i in 0..(TOP + 5) {
            let name = format!("host{i:02}");
            s.record(&detection(&name, Some(Level::Low), Some(&name)));
        }
        assert_eq!(s.top_rules(TOP).len(), TOP);
        let text = s.render(Duration::from_secs(1), false);
        assert_eq!(
            text.lines()
                .filter(|l| l.trim_end().ends_with("  host00"))
                .count(),
            1
        );
        assert!(!text.contains("host14"), "{text}");
    }

    #[test]
    fn thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(group(n), text);
        }
    }
}
