//! [`HuntReport`]: the HTML summary of a hunt (`tocsin hunt --html-report FILE`).
//!
//! The hunt feeds it every detection as it is shown ([`HuntReport::add`]); it counts them by
//! level, rule, computer, ATT&CK technique and hour, and keeps only the
//! [`TABLE_ROWS`] earliest detections for the page's table, so its memory does not grow
//! with the detections. The distinct names and times it counts are bounded too, since a
//! hostile log chooses them: at most [`MAX_COMPUTERS`] computers are ranked (detections on
//! later ones are counted as such), and times are counted by the hour until more than
//! [`MAX_TIME_KEYS`] hours hold detections, then by the day, then by the year.
//! [`HuntReport::render`] then writes one self-contained page with the hunt's
//! [`HuntFacts`], tables and inline SVG charts.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Datelike};
use serde_json::Value as Json;
use tocsin_event::time::format_human;

use super::chart::{self, Bar};
use super::{escape, page_start, PAGE_END};
use crate::navigator::technique_id;
use crate::summary::group;
use crate::{DetectionRecord, Summary, LEVELS};

/// How many detections the page's table shows at most: the earliest in event time.
pub const TABLE_ROWS: usize = 1000;

/// How many rules, computers and techniques the page ranks.
const TOP: usize = 25;

/// The most bars a histogram may have: the finest unit (hour, day, month, year) whose
/// bins over the detections' span are at most this many is used.
const MAX_BINS: i64 = 366;

/// The longest text of a detection's details in the table, in characters.
const DETAIL_CHARS: usize = 400;

/// Microseconds in an hour.
const HOUR: i64 = 3_600_000_000;

/// The most distinct computers the page counts one by one: the first met (which ones, past
/// this many, depends on the order the hunt's threads find detections in).
pub const MAX_COMPUTERS: usize = 10_000;

/// The longest computer name counted, in bytes; a longer one is cut (with `…`).
const COMPUTER_BYTES: usize = 256;

/// The most distinct times (hours, then days) counted before the counts are coarsened.
pub const MAX_TIME_KEYS: usize = 1 << 16;

/// The page's own style, after the shared [`STYLE`](super::STYLE).
const STYLE: &str = ".chart{max-width:100%;height:auto;display:block;margin:.5em 0}\
.chart text{font:12px system-ui,sans-serif;fill:#222}.axis{stroke:#888}\
.bar{fill:#4a6fa5}.critical{fill:#8b0000}.high{fill:#d9363e}.medium{fill:#e8a317}\
.low{fill:#3c8d40}.informational{fill:#8a8a8a}td.n{text-align:right}\
.note{color:#555;font-style:italic}";

/// What the page says of the hunt besides its detections; the caller knows these.
#[derive(Debug, Clone, Copy)]
pub struct HuntFacts<'a> {
    /// When the hunt started, in microseconds since the epoch.
    pub started_micros: i64,
    /// The inputs as the user named them.
    pub inputs: &'a [String],
    /// Rules compiled (Sigma detection rules).
    pub rules: usize,
    /// Correlation rules evaluated.
    pub correlations: usize,
    /// The hunt's figures: files, events read, decode errors, the events' time span.
    pub summary: &'a Summary,
    /// The version of tocsin that hunted.
    pub version: &'a str,
}

/// Detections of one rule.
#[derive(Debug, Clone, PartialEq)]
struct RuleTally {
    level: String,
    tags: Vec<String>,
    count: u64,
}

/// Where a detection sorts in the table: event time (untimed last), then source, record
/// and rule, as `--timeline` orders them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    untimed: bool,
    micros: i64,
    source: String,
    record: u64,
    rule: String,
}

/// One line of the detections table, its text already reduced to what is shown. Rows
/// compare by their [`RowKey`] only.
#[derive(Debug, Clone)]
struct Row {
    key: RowKey,
    time: String,
    level: String,
    computer: String,
    event: String,
    details: String,
}

impl PartialEq for Row {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Row {}

impl Ord for Row {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}

impl PartialOrd for Row {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The aggregate behind the HTML summary of a hunt: counts of every detection, and the
/// earliest [`TABLE_ROWS`] of them (see the module documentation).
#[derive(Debug, Clone)]
pub struct HuntReport {
    /// The most rows kept for the table.
    cap: usize,
    detections: u64,
    /// Level -> detections.
    levels: HashMap<String, u64>,
    /// (title, id) -> level, tags, detections.
    rules: HashMap<(String, Option<String>), RuleTally>,
    /// Computer -> detections, for the first [`MAX_COMPUTERS`] computers.
    computers: HashMap<String, u64>,
    /// Detections on computers seen after the first [`MAX_COMPUTERS`].
    later_computers: u64,
    /// ATT&CK technique id -> detections.
    techniques: HashMap<String, u64>,
    /// Hours since the epoch, floored to `grain` -> detections then.
    hours: BTreeMap<i64, u64>,
    /// How finely `hours` counts.
    grain: Grain,
    /// Detections without a time.
    untimed: u64,
    /// The earliest `cap` detections; the top of the heap is the latest, dropped first.
    rows: BinaryHeap<Row>,
}

impl Default for HuntReport {
    fn default() -> Self {
        HuntReport::with_table_rows(TABLE_ROWS)
    }
}

impl HuntReport {
    /// An empty report whose table shows [`TABLE_ROWS`] detections at most.
    pub fn new() -> Self {
        HuntReport::default()
    }

    /// An empty report whose table shows `cap` detections at most.
    pub fn with_table_rows(cap: usize) -> Self {
        HuntReport {
            cap,
            detections: 0,
            levels: HashMap::new(),
            rules: HashMap::new(),
            computers: HashMap::new(),
            later_computers: 0,
            techniques: HashMap::new(),
            hours: BTreeMap::new(),
            grain: Grain::Hour,
            untimed: 0,
            rows: BinaryHeap::new(),
        }
    }

    /// Counts one detection, and keeps its row when it is among the earliest.
    pub fn add(&mut self, record: &DetectionRecord) {
        self.detections += 1;
        *self.levels.entry(record.level.clone()).or_default() += 1;
        self.rules
            .entry((record.rule_title.clone(), record.rule_id.clone()))
            .or_insert_with(|| RuleTally {
                level: record.level.clone(),
                tags: record.tags.clone(),
                count: 0,
            })
            .count += 1;
        if let Some(computer) = &record.computer {
            self.count_computer(computer);
        }
        for technique in record.tags.iter().filter_map(|t| technique_id(t)) {
            *self.techniques.entry(technique).or_default() += 1;
        }
        let micros = parse_time(record.timestamp.as_deref());
        match micros {
            Some(t) => self.count_hour(t.div_euclid(HOUR)),
            None => self.untimed += 1,
        }
        self.keep_row(record, micros);
    }

    /// Counts a detection on `computer`, one by one for the first [`MAX_COMPUTERS`].
    fn count_computer(&mut self, computer: &str) {
        let cut;
        let computer = if computer.len() > COMPUTER_BYTES {
            cut = crate::record::truncate(computer, COMPUTER_BYTES);
            cut.as_str()
        } else {
            computer
        };
        if let Some(count) = self.computers.get_mut(computer) {
            *count += 1;
        } else if self.computers.len() < MAX_COMPUTERS {
            self.computers.insert(computer.to_owned(), 1);
        } else {
            self.later_computers += 1;
        }
    }

    /// Counts a detection at `hour`, coarsening the counts when they hold more than
    /// [`MAX_TIME_KEYS`] times.
    fn count_hour(&mut self, hour: i64) {
        *self.hours.entry(self.grain.floor(hour)).or_default() += 1;
        while self.hours.len() > MAX_TIME_KEYS {
            let Some(coarser) = self.grain.coarser() else {
                break;
            };
            self.grain = coarser;
            let mut floored = BTreeMap::new();
            for (hour, n) in std::mem::take(&mut self.hours) {
                *floored.entry(coarser.floor(hour)).or_default() += n;
            }
            self.hours = floored;
        }
    }

    /// Keeps the row of `record` if it is among the `cap` earliest seen.
    fn keep_row(&mut self, record: &DetectionRecord, micros: Option<i64>) {
        if self.cap == 0 {
            return;
        }
        let key = RowKey {
            untimed: micros.is_none(),
            micros: micros.unwrap_or(0),
            source: record.source.clone(),
            record: record.record_id,
            rule: record.rule_title.clone(),
        };
        if self.rows.len() >= self.cap && self.rows.peek().is_some_and(|latest| latest.key <= key) {
            return;
        }
        self.rows.push(Row::of(record, key));
        if self.rows.len() > self.cap {
            self.rows.pop();
        }
    }

    /// Detections counted.
    pub fn detections(&self) -> u64 {
        self.detections
    }

    /// Detections of one level (`high`, ...).
    pub fn level_count(&self, level: &str) -> u64 {
        self.levels.get(level).copied().unwrap_or(0)
    }

    /// The page: header facts, totals by level, top rules, computers and techniques,
    /// detections over time, and the table of the earliest detections.
    pub fn render(&self, facts: &HuntFacts<'_>) -> String {
        let mut page = page_start("tocsin hunt report", STYLE);
        page.push_str("<h1>tocsin hunt report</h1>\n");
        self.write_facts(facts, &mut page);
        self.write_levels(&mut page);
        if self.detections == 0 {
            let _ = writeln!(
                page,
                "<p class=\"note\">No detections: none of the {} rules matched the {} events read.</p>",
                facts.rules + facts.correlations,
                group(facts.summary.events())
            );
        } else {
            self.write_rules(&mut page);
            self.write_computers(&mut page);
            self.write_techniques(&mut page);
            self.write_timeline(&mut page);
            self.write_table(&mut page);
        }
        page.push_str(PAGE_END);
        page
    }

    fn write_facts(&self, facts: &HuntFacts<'_>, page: &mut String) {
        let summary = facts.summary;
        let span = summary.time_span().map_or_else(
            || "-".to_owned(),
            |(first, last)| format!("{} to {}", format_human(first), format_human(last)),
        );
        let rows = [
            ("Hunt started", format_human(facts.started_micros)),
            ("Inputs", facts.inputs.join(", ")),
            (
                "Rules",
                format!("{} rules, {} correlations", facts.rules, facts.correlations),
            ),
            ("Files read", group(summary.files())),
            ("Events read", group(summary.events())),
            ("Decode errors", group(summary.decode_errors())),
            ("Events from", span),
            ("Detections", group(self.detections)),
            ("tocsin version", facts.version.to_owned()),
        ];
        page.push_str("<dl class=\"facts\">");
        for (name, value) in rows {
            let _ = write!(page, "<dt>{name}</dt><dd>{}</dd>", escape(&value));
        }
        page.push_str("</dl>\n");
    }

    /// The five levels always (with zeros), then any other level found.
    fn write_levels(&self, page: &mut String) {
        page.push_str("<h2>Detections by level</h2>\n");
        let mut levels: Vec<(String, u64)> = LEVELS
            .iter()
            .map(|l| ((*l).to_owned(), self.level_count(l)))
            .collect();
        let mut others: Vec<(String, u64)> = self
            .levels
            .iter()
            .filter(|(l, _)| !LEVELS.contains(&l.as_str()))
            .map(|(l, n)| (l.clone(), *n))
            .collect();
        others.sort();
        levels.extend(others);
        if self.detections > 0 {
            let bars: Vec<Bar> = levels
                .iter()
                .map(|(level, n)| Bar {
                    label: level.clone(),
                    value: *n,
                    class: level_class(level),
                })
                .collect();
            page.push_str(&chart::horizontal(&bars, "Detections by level"));
        }
        page.push_str("<table class=\"levels\"><thead><tr><th>Level</th><th>Detections</th></tr></thead><tbody>\n");
        for (level, n) in &levels {
            let level = escape(level);
            let _ = writeln!(
                page,
                "<tr data-level=\"{level}\"><td>{level}</td><td class=\"n\" data-count=\"{n}\">{}</td></tr>",
                group(*n)
            );
        }
        page.push_str("</tbody></table>\n");
    }

    fn write_rules(&self, page: &mut String) {
        let rules = self.top_rules();
        let _ = writeln!(
            page,
            "<h2>Top rules</h2>\n<p>{} of {} rules that detected something.</p>",
            rules.len(),
            self.rules.len()
        );
        let bars: Vec<Bar> = rules
            .iter()
            .map(|((title, _), tally)| Bar {
                label: title.clone(),
                value: tally.count,
                class: level_class(&tally.level),
            })
            .collect();
        page.push_str(&chart::horizontal(&bars, "Detections by rule"));
        page.push_str("<table class=\"rules\"><thead><tr><th>Rule</th><th>Id</th><th>Level</th><th>Detections</th><th>ATT&amp;CK</th></tr></thead><tbody>\n");
        for ((title, id), tally) in rules {
            let attack: Vec<&str> = tally
                .tags
                .iter()
                .map(String::as_str)
                .filter(|t| {
                    t.get(..7)
                        .is_some_and(|p| p.eq_ignore_ascii_case("attack."))
                })
                .collect();
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\" data-count=\"{}\">{}</td><td>{}</td></tr>",
                escape(title),
                escape(id.as_deref().unwrap_or("")),
                escape(&tally.level),
                tally.count,
                group(tally.count),
                escape(&attack.join(", "))
            );
        }
        page.push_str("</tbody></table>\n");
    }

    /// The [`TOP`] rules with the most detections, most first (ties by title, then id).
    fn top_rules(&self) -> Vec<(&(String, Option<String>), &RuleTally)> {
        let mut rules: Vec<_> = self.rules.iter().collect();
        rules.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
        rules.truncate(TOP);
        rules
    }

    fn write_computers(&self, page: &mut String) {
        let computers = ranked(&self.computers);
        write_ranking(
            page,
            "Top computers",
            "Computer",
            &computers,
            self.computers.len(),
        );
        if self.later_computers > 0 {
            let _ = writeln!(
                page,
                "<p class=\"note\">{} detections on computers seen after the first {} are \
                 counted in the totals but not ranked.</p>",
                group(self.later_computers),
                group(MAX_COMPUTERS as u64)
            );
        }
    }

    fn write_techniques(&self, page: &mut String) {
        if self.techniques.is_empty() {
            return;
        }
        let techniques = ranked(&self.techniques);
        write_ranking(
            page,
            "ATT&CK techniques",
            "Technique",
            &techniques,
            self.techniques.len(),
        );
    }

    fn write_timeline(&self, page: &mut String) {
        page.push_str("<h2>Detections over time</h2>\n");
        let Some((unit, bins)) = bins(&self.hours) else {
            page.push_str("<p class=\"note\">No detection has a time.</p>\n");
            return;
        };
        let _ = writeln!(page, "<p>Detections per {unit} (UTC).</p>");
        page.push_str(&chart::histogram(&bins, &format!("Detections per {unit}")));
        if self.untimed > 0 {
            let _ = writeln!(
                page,
                "<p class=\"note\">{} detections without a time are not shown.</p>",
                group(self.untimed)
            );
        }
    }

    fn write_table(&self, page: &mut String) {
        let rows = self.rows.clone().into_sorted_vec();
        let _ = writeln!(
            page,
            "<h2>Detections</h2>\n<p>The first {} detections in event time.</p>",
            group(rows.len() as u64)
        );
        page.push_str("<table class=\"detections\"><thead><tr><th>Time</th><th>Level</th><th>Rule</th><th>Computer</th><th>Event</th><th>Source</th><th>Details</th></tr></thead><tbody>\n");
        for row in &rows {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}#{}</td><td>{}</td></tr>",
                escape(&row.time),
                escape(&row.level),
                escape(&row.key.rule),
                escape(&row.computer),
                escape(&row.event),
                escape(&row.key.source),
                row.key.record,
                escape(&row.details)
            );
        }
        page.push_str("</tbody></table>\n");
        let more = self.detections.saturating_sub(rows.len() as u64);
        if more > 0 {
            let _ = writeln!(
                page,
                "<p class=\"note\">{} more in the hunt output.</p>",
                group(more)
            );
        }
    }
}

impl Row {
    /// The shown text of `record`, sorted by `key`.
    fn of(record: &DetectionRecord, key: RowKey) -> Row {
        let event = match (&record.channel, record.event_id) {
            (Some(channel), Some(id)) => format!("{channel} {id}"),
            (Some(channel), None) => channel.clone(),
            (None, Some(id)) => id.to_string(),
            (None, None) => String::new(),
        };
        Row {
            key,
            time: record.timestamp.clone().unwrap_or_default(),
            level: record.level.clone(),
            computer: record.computer.clone().unwrap_or_default(),
            event,
            details: details_text(record),
        }
    }
}

/// `name: value` pairs of a detection's details, cut to [`DETAIL_CHARS`] characters.
fn details_text(record: &DetectionRecord) -> String {
    let mut text = String::new();
    for (name, value) in record.details.iter() {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(name);
        text.push_str(": ");
        match value {
            Json::String(s) => text.push_str(s),
            other => text.push_str(&other.to_string()),
        }
        if text.chars().count() > DETAIL_CHARS {
            break;
        }
    }
    match text.char_indices().nth(DETAIL_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// A section ranking names by detections: a chart and a table.
fn write_ranking(page: &mut String, title: &str, column: &str, ranked: &[(&str, u64)], all: usize) {
    let _ = writeln!(
        page,
        "<h2>{}</h2>\n<p>{} of {}.</p>",
        escape(title),
        ranked.len(),
        all
    );
    let bars: Vec<Bar> = ranked
        .iter()
        .map(|(name, n)| Bar {
            label: (*name).to_owned(),
            value: *n,
            class: "bar",
        })
        .collect();
    page.push_str(&chart::horizontal(&bars, title));
    let _ = writeln!(
        page,
        "<table><thead><tr><th>{column}</th><th>Detections</th></tr></thead><tbody>"
    );
    for (name, n) in ranked {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"n\" data-count=\"{n}\">{}</td></tr>",
            escape(name),
            group(*n)
        );
    }
    page.push_str("</tbody></table>\n");
}

/// The [`TOP`] names with the most detections, most first (ties by name).
fn ranked(counts: &HashMap<String, u64>) -> Vec<(&str, u64)> {
    let mut ranked: Vec<(&str, u64)> = counts.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked.truncate(TOP);
    ranked
}

/// The CSS class of a level's bars: the level's own colour, or the plain bar.
fn level_class(level: &str) -> &'static str {
    match level {
        "critical" => "critical",
        "high" => "high",
        "medium" => "medium",
        "low" => "low",
        "informational" => "informational",
        _ => "bar",
    }
}

/// An RFC 3339 time in microseconds (text does not sort as time: parse it).
fn parse_time(text: Option<&str>) -> Option<i64> {
    text.and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp_micros())
}

/// How finely [`HuntReport`] counts detections over time. Each grain floors an hour to the
/// first hour of its own unit, so the histogram's bins of that unit or coarser stay exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grain {
    Hour,
    Day,
    Year,
}

impl Grain {
    /// The next coarser grain, if there is one.
    fn coarser(self) -> Option<Grain> {
        match self {
            Grain::Hour => Some(Grain::Day),
            Grain::Day => Some(Grain::Year),
            Grain::Year => None,
        }
    }

    /// The first hour of the unit holding `hour` (hours since the epoch).
    fn floor(self, hour: i64) -> i64 {
        match self {
            Grain::Hour => hour,
            Grain::Day => hour - hour.rem_euclid(24),
            Grain::Year => DateTime::from_timestamp(hour.saturating_mul(3600), 0)
                .and_then(|t| t.date_naive().with_ordinal(1))
                .and_then(|date| date.and_hms_opt(0, 0, 0))
                .map_or(hour, |start| start.and_utc().timestamp().div_euclid(3600)),
        }
    }
}

/// The units a histogram may count by, finest first.
const UNITS: [&str; 4] = ["hour", "day", "month", "year"];

/// The histogram of detections per hour `hours`: the finest unit whose bins from the first
/// detection to the last are at most [`MAX_BINS`], and every bin in that range (empty ones
/// too, so the chart's width is time). `None` when no detection has a time.
fn bins(hours: &BTreeMap<i64, u64>) -> Option<(&'static str, Vec<(String, u64)>)> {
    for unit in UNITS {
        let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
        for (hour, n) in hours {
            *counts.entry(bin_of(unit, *hour)).or_default() += n;
        }
        let (first, last) = (*counts.keys().next()?, *counts.keys().next_back()?);
        if last - first < MAX_BINS {
            let bins = (first..=last)
                .map(|bin| (bin_label(unit, bin), counts.get(&bin).copied().unwrap_or(0)))
                .collect();
            return Some((unit, bins));
        }
        if unit == "year" {
            // Absurd times (centuries apart): the years that have detections, no gaps.
            let bins = counts.iter().map(|(bin, n)| (bin_label(unit, *bin), *n));
            return Some((unit, bins.collect()));
        }
    }
    None
}

/// The bin of an hour since the epoch: the hour, the day since the epoch, or the month
/// (`year * 12 + month0`) or year of its date.
fn bin_of(unit: &str, hour: i64) -> i64 {
    let date = DateTime::from_timestamp(hour.saturating_mul(3600), 0).map(|t| t.date_naive());
    match (unit, date) {
        ("hour", _) => hour,
        ("day", _) => hour.div_euclid(24),
        ("month", Some(date)) => i64::from(date.year()) * 12 + i64::from(date.month0()),
        (_, Some(date)) => i64::from(date.year()),
        (_, None) => hour.div_euclid(24 * 366),
    }
}

/// How a bin is labelled: `2024-05-01 10:00`, `2024-05-01`, `2024-05` or `2024`.
fn bin_label(unit: &str, bin: i64) -> String {
    let at = |seconds: i64| DateTime::from_timestamp(seconds, 0);
    match unit {
        "hour" => at(bin.saturating_mul(3600)).map(|t| t.format("%Y-%m-%d %H:00").to_string()),
        "day" => at(bin.saturating_mul(86_400)).map(|t| t.format("%Y-%m-%d").to_string()),
        "month" => Some(format!(
            "{}-{:02}",
            bin.div_euclid(12),
            bin.rem_euclid(12) + 1
        )),
        _ => Some(bin.to_string()),
    }
    .unwrap_or_else(|| bin.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Details;

    /// A detection of `rule` at `level` on `computer` at `time` (RFC 3339).
    fn record(rule: &str, level: &str, computer: &str, time: Option<&str>) -> DetectionRecord {
        let mut details = Details::new();
        details.insert("CommandLine", Json::from(format!("{rule} on {computer}")));
        DetectionRecord {
            timestamp: time.map(str::to_owned),
            computer: Some(computer.to_owned()),
            channel: Some("Security".into()),
            event_id: Some(4688),
            record_id: 7,
            rule_id: Some(format!("id-{rule}")),
            rule_title: rule.to_owned(),
            level: level.to_owned(),
            tags: vec!["attack.execution".into(), "attack.t1059.001".into()],
            author: None,
            source: "logs/a.evtx".into(),
            details,
        }
    }

    fn facts<'a>(summary: &'a Summary, inputs: &'a [String]) -> HuntFacts<'a> {
        HuntFacts {
            started_micros: 1_714_557_600_000_000,
            inputs,
            rules: 12,
            correlations: 1,
            summary,
            version: "0.1.0",
        }
    }

    fn render(report: &HuntReport) -> String {
        let summary = Summary::new();
        report.render(&facts(&summary, &["logs/".to_owned()]))
    }

    #[test]
    fn counts_by_level_rule_computer_technique_and_hour() {
        let mut report = HuntReport::new();
        report.add(&record("A", "high", "WS01", Some("2024-05-01T10:00:00Z")));
        report.add(&record("A", "high", "WS02", Some("2024-05-01T10:59:59.5Z")));
        report.add(&record(
            "B",
            "critical",
            "WS01",
            Some("2024-05-01T12:00:00Z"),
        ));
        report.add(&record("C", "custom", "WS03", None));
        assert_eq!(report.detections(), 4);
        assert_eq!(report.level_count("high"), 2);
        assert_eq!(report.level_count("critical"), 1);
        assert_eq!(report.level_count("low"), 0);
        assert_eq!(report.untimed, 1);
        let hour = 1_714_557_600 / 3600;
        let expected = BTreeMap::from([(hour, 2), (hour + 2, 1)]);
        assert_eq!(report.hours, expected);
        assert_eq!(report.techniques["T1059.001"], 4);
        assert_eq!(report.top_rules()[0].0 .0, "A");
        assert_eq!(report.top_rules()[0].1.count, 2);
        assert_eq!(ranked(&report.computers)[0], ("WS01", 2));
        let page = render(&report);
        assert!(
            page.contains("<tr data-level=\"high\"><td>high</td><td class=\"n\" data-count=\"2\">")
        );
        assert!(
            page.contains("data-level=\"custom\""),
            "other levels are listed too"
        );
        assert!(page.contains("Detections per hour (UTC)"), "{page}");
        assert!(
            page.contains("<title>2024-05-01 11:00: 0</title>"),
            "empty hours are bins"
        );
        assert!(page.contains("1 detections without a time"));
    }

    #[test]
    fn a_hostile_spread_of_computers_and_times_stays_bounded_and_counted() {
        let mut report = HuntReport::with_table_rows(0);
        let computers = MAX_COMPUTERS + 500;
        for n in 0..computers {
            report.add(&record("A", "low", &format!("WS{n}"), None));
        }
        report.add(&record("A", "low", "WS0", None));
        assert_eq!(report.computers.len(), MAX_COMPUTERS);
        assert_eq!(report.computers.get("WS0"), Some(&2));
        assert_eq!(report.later_computers, 500);
        assert!(render(&report).contains("500 detections on computers seen after the first"));
        let mut long = HuntReport::with_table_rows(0);
        long.add(&record("A", "low", &"x".repeat(100_000), None));
        assert!(long.computers.keys().all(|k| k.len() <= COMPUTER_BYTES + 3));

        // One detection an hour over about 15 years, then some centuries apart.
        let mut report = HuntReport::with_table_rows(0);
        let start = DateTime::parse_from_rfc3339("2010-01-01T00:00:00Z").expect("time");
        let hours = 130_000_i64;
        for hour in 0..hours {
            let time = start + chrono::Duration::hours(hour);
            report.add(&record("A", "low", "WS", Some(&time.to_rfc3339())));
        }
        assert_eq!(report.grain, Grain::Day);
        assert!(report.hours.len() <= MAX_TIME_KEYS);
        assert_eq!(report.hours.values().sum::<u64>(), hours as u64);
        let (unit, months) = bins(&report.hours).expect("timed");
        assert_eq!(unit, "month");
        assert_eq!(months.first().map(|b| b.0.as_str()), Some("2010-01"));
        assert_eq!(months.iter().map(|b| b.1).sum::<u64>(), hours as u64);
        let february = months.iter().find(|b| b.0 == "2011-02").map(|b| b.1);
        assert_eq!(
            february,
            Some(28 * 24),
            "counted whole once coarsened to days"
        );
        // Then a detection every other day for almost four centuries.
        let long_ago = DateTime::parse_from_rfc3339("1600-03-01T12:00:00Z").expect("time");
        let days = 70_000_i64;
        for day in 0..days {
            let time = long_ago + chrono::Duration::days(2 * day);
            report.add(&record("B", "low", "WS", Some(&time.to_rfc3339())));
        }
        assert_eq!(report.grain, Grain::Year);
        assert!(report.hours.len() < 500);
        assert_eq!(report.hours.values().sum::<u64>(), (hours + days) as u64);
        let (_, years) = bins(&report.hours).expect("timed");
        let year_2011 = years.iter().find(|b| b.0 == "2011").map(|b| b.1);
        assert_eq!(year_2011, Some(365 * 24));
    }

    #[test]
    fn only_the_earliest_rows_are_kept() {
        let mut report = HuntReport::with_table_rows(3);
        for day in (1..=9).rev() {
            let time = format!("2024-05-0{day}T00:00:00Z");
            report.add(&record(&format!("R{day}"), "low", "WS", Some(&time)));
        }
        report.add(&record("untimed", "low", "WS", None));
        assert_eq!(report.rows.len(), 3, "memory stays at the cap");
        let page = render(&report);
        let table = &page[page.find("<h2>Detections</h2>").unwrap()..];
        let shown: Vec<&str> = ["R1", "R2", "R3"]
            .into_iter()
            .filter(|r| table.contains(&format!("<td>{r}</td>")))
            .collect();
        assert_eq!(shown, ["R1", "R2", "R3"]);
        assert!(!table.contains("<td>R4</td>"));
        assert!(
            table.find("<td>R1</td>") < table.find("<td>R2</td>"),
            "in time order"
        );
        assert!(page.contains("7 more in the hunt output."), "{page}");
        assert!(
            page.contains("Detections per hour (UTC)"),
            "nine days: 216 hours"
        );
    }

    #[test]
    fn everything_from_logs_and_rules_is_escaped() {
        let mut hostile = record("<script>alert(1)</script>", "high", "<img src=x>", None);
        hostile.source = "\"><script>".into();
        hostile.tags.push("attack.<b>".into());
        hostile
            .details
            .insert("Evil", Json::from("</td><script>alert(2)</script>"));
        let mut report = HuntReport::new();
        report.add(&hostile);
        let page = render(&report);
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(page.contains("&lt;/td&gt;&lt;script&gt;alert(2)"), "{page}");
        for external in ["http:", "https:", "src=\"", "href=", "@import", "url("] {
            assert!(!page.contains(external), "{external} in the page");
        }
    }

    #[test]
    fn a_hunt_without_detections_says_so() {
        let page = render(&HuntReport::new());
        assert!(page.contains("No detections: none of the 13 rules matched the 0 events read."));
        for level in LEVELS {
            assert!(page.contains(&format!("data-level=\"{level}\"")), "{level}");
        }
        assert!(!page.contains("<svg"), "no empty charts");
        assert!(page.trim_end().ends_with("</html>"));
    }

    #[test]
    fn long_spans_are_counted_by_coarser_units() {
        let hour = |micros: i64| micros.div_euclid(HOUR);
        let at = |text: &str| parse_time(Some(text)).unwrap();
        let hours = BTreeMap::from([
            (hour(at("2020-01-31T23:00:00Z")), 1),
            (hour(at("2021-03-01T00:00:00Z")), 2),
        ]);
        let (unit, months) = bins(&hours).unwrap();
        assert_eq!(unit, "month");
        assert_eq!(months.len(), 15);
        assert_eq!(months[0], ("2020-01".to_owned(), 1));
        assert_eq!(months[14], ("2021-03".to_owned(), 2));
        let hours = BTreeMap::from([
            (hour(at("1601-01-01T00:00:00Z")), 1),
            (hour(at("2024-01-01T00:00:00Z")), 1),
        ]);
        let (unit, years) = bins(&hours).unwrap();
        assert_eq!(
            (unit, years.len()),
            ("year", 2),
            "absurd spans show only the years found"
        );
        assert!(bins(&BTreeMap::new()).is_none());
    }

    #[test]
    fn details_are_cut() {
        let mut long = record("A", "low", "WS", None);
        long.details.insert("Big", Json::from("y".repeat(5000)));
        let text = details_text(&long);
        assert_eq!(text.chars().count(), DETAIL_CHARS + 1);
        assert!(text.ends_with('…'));
    }
}
