//! [`EventStats`]: what hunters size up before hunting (`tocsin stats`): how many events of
//! which channel and event ID, from which computers, on which days and at which hours, and
//! who logged on (Windows Security 4624) or failed to (4625), by user, logon type and
//! source address.
//!
//! Workers count into their own `EventStats` and [`merge`](EventStats::merge) them at the
//! end; the result renders as aligned tables ([`EventStats::render`]) or as one JSON object
//! ([`EventStats::to_json`]). Days and hours are UTC.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde_json::{json, Value as Json};
use tocsin_event::time::format_machine;
use tocsin_event::{Event, FieldValue, Fields};

use crate::clean;

/// The Windows channel of logons.
const SECURITY: &str = "Security";

/// A successful logon.
const LOGON_SUCCESS: i64 = 4624;

/// A failed logon.
const LOGON_FAILURE: i64 = 4625;

/// Where the events of one channel and event ID came from, for the table: the channel, or
/// for events without one the decoder's logsource (`logsource:linux/sshd`).
type ChannelKey = (String, Option<i64>);

/// The successful and failed logons of one user, logon type and source address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogonCount {
    /// Security 4624 events.
    pub successful: u64,
    /// Security 4625 events.
    pub failed: u64,
}

/// Counts of the events read (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventStats {
    files: u64,
    events: u64,
    decode_errors: u64,
    out_of_range: u64,
    untimed: u64,
    first: Option<i64>,
    last: Option<i64>,
    channels: HashMap<ChannelKey, u64>,
    computers: HashMap<String, u64>,
    days: BTreeMap<String, u64>,
    hours: [u64; 24],
    /// (user, logon type, source address) -> logons.
    logons: HashMap<(String, String, String), LogonCount>,
}

impl EventStats {
    /// Nothing counted.
    pub fn new() -> Self {
        EventStats::default()
    }

    /// Counts one event.
    pub fn add(&mut self, event: &Event) {
        self.events += 1;
        let event_id = event.first("EventID").and_then(integer);
        let channel = event.text("Channel").unwrap_or_else(|| {
            event
                .logsource
                .as_deref()
                .map(|source| {
                    let parts: Vec<&str> = [&source.product, &source.service, &source.category]
                        .into_iter()
                        .filter_map(|part| part.as_deref())
                        .collect();
                    format!("logsource:{}", parts.join("/"))
                })
                .unwrap_or_else(|| "-".to_owned())
        });
        let computer = event
            .text("Computer")
            .or_else(|| event.text("host"))
            .unwrap_or_else(|| "-".to_owned());
        match event.timestamp_micros {
            Some(micros) => {
                self.first = Some(self.first.map_or(micros, |f| f.min(micros)));
                self.last = Some(self.last.map_or(micros, |l| l.max(micros)));
                if let Some(text) = format_machine(micros) {
                    if let Some(day) = text.get(..10) {
                        *self.days.entry(day.to_owned()).or_default() += 1;
                    }
                    if let Some(hour) = text.get(11..13).and_then(|h| h.parse::<usize>().ok()) {
                        if let Some(slot) = self.hours.get_mut(hour) {
                            *slot += 1;
                        }
                    }
                }
            }
            None => self.untimed += 1,
        }
        if channel == SECURITY && matches!(event_id, Some(LOGON_SUCCESS | LOGON_FAILURE)) {
            let logon = self.logons.entry(logon_key(event)).or_default();
            match event_id == Some(LOGON_SUCCESS) {
                true => logon.successful += 1,
                false => logon.failed += 1,
            }
        }
        *self.channels.entry((channel, event_id)).or_default() += 1;
        *self.computers.entry(computer).or_default() += 1;
    }

    /// Counts files read.
    pub fn add_files(&mut self, files: u64) {
        self.files += files;
    }

    /// Counts records or files that could not be decoded.
    pub fn add_decode_errors(&mut self, errors: u64) {
        self.decode_errors += errors;
    }

    /// Counts an event left out by the time range (not counted anywhere else).
    pub fn add_out_of_range(&mut self) {
        self.out_of_range += 1;
    }

    /// Adds another worker's counts.
    pub fn merge(&mut self, other: EventStats) {
        self.files += other.files;
        self.events += other.events;
        self.decode_errors += other.decode_errors;
        self.out_of_range += other.out_of_range;
        self.untimed += other.untimed;
        self.first = [self.first, other.first].into_iter().flatten().min();
        self.last = [self.last, other.last].into_iter().flatten().max();
        for (key, count) in other.channels {
            *self.channels.entry(key).or_default() += count;
        }
        for (key, count) in other.computers {
            *self.computers.entry(key).or_default() += count;
        }
        for (key, count) in other.days {
            *self.days.entry(key).or_default() += count;
        }
        for (slot, count) in self.hours.iter_mut().zip(other.hours) {
            *slot += count;
        }
        for (key, count) in other.logons {
            let logon = self.logons.entry(key).or_default();
            logon.successful += count.successful;
            logon.failed += count.failed;
        }
    }

    /// The events counted.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The records and files that could not be decoded.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Events by channel and event ID, most first (then by channel and ID).
    pub fn channels(&self) -> Vec<(&str, Option<i64>, u64)> {
        let mut rows: Vec<_> = self
            .channels
            .iter()
            .map(|((channel, id), count)| (channel.as_str(), *id, *count))
            .collect();
        rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)).then(a.1.cmp(&b.1)));
        rows
    }

    /// Events by computer, most first.
    pub fn computers(&self) -> Vec<(&str, u64)> {
        most_first(&self.computers)
    }

    /// Logons by (user, logon type, source address), most logons first.
    pub fn logons(&self) -> Vec<(&str, &str, &str, LogonCount)> {
        let mut rows: Vec<_> = self
            .logons
            .iter()
            .map(|((user, kind, source), count)| {
                (user.as_str(), kind.as_str(), source.as_str(), *count)
            })
            .collect();
        rows.sort_by(|a, b| {
            let total = |c: &LogonCount| c.successful + c.failed;
            total(&b.3)
                .cmp(&total(&a.3))
                .then((a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)))
        });
        rows
    }

    /// Everything counted, as one JSON object (every row, no limit).
    pub fn to_json(&self) -> Json {
        json!({
            "files": self.files,
            "events": self.events,
            "decode_errors": self.decode_errors,
            "out_of_range": self.out_of_range,
            "untimed": self.untimed,
            "first": self.first.and_then(format_machine),
            "last": self.last.and_then(format_machine),
            "channels": self.channels().into_iter().map(|(channel, id, events)| {
                json!({"channel": channel, "event_id": id, "events": events})
            }).collect::<Vec<_>>(),
            "computers": self.computers().into_iter().map(|(computer, events)| {
                json!({"computer": computer, "events": events})
            }).collect::<Vec<_>>(),
            "days": self.days.iter().map(|(day, events)| {
                json!({"day": day, "events": events})
            }).collect::<Vec<_>>(),
            "hours": self.hours.iter().enumerate().map(|(hour, events)| {
                json!({"hour": hour, "events": events})
            }).collect::<Vec<_>>(),
            "logons": self.logons().into_iter().map(|(user, kind, source, count)| {
                json!({
                    "user": user,
                    "logon_type": kind,
                    "source": source,
                    "successful": count.successful,
                    "failed": count.failed,
                })
            }).collect::<Vec<_>>(),
        })
    }

    /// The counts as text tables, at most `top` rows each (the days and hours in full);
    /// text from the logs is made safe for a terminal.
    pub fn render(&self, top: usize) -> String {
        let mut out = String::new();
        let time = |t: Option<i64>| t.and_then(format_machine).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{} events in {} files, {} decode errors, {} outside --from/--to, {} without a time; from {} to {}",
            self.events,
            self.files,
            self.decode_errors,
            self.out_of_range,
            self.untimed,
            time(self.first),
            time(self.last),
        );
        let channels = self.channels();
        table(
            &mut out,
            "Events by channel and event ID",
            &["events", "channel", "event ID"],
            channels.iter().map(|(channel, id, count)| {
                vec![
                    count.to_string(),
                    clean(channel).into_owned(),
                    id.map_or_else(|| "-".to_owned(), |id| id.to_string()),
                ]
            }),
            top,
        );
        table(
            &mut out,
            "Events by computer",
            &["events", "computer"],
            self.computers()
                .iter()
                .map(|(computer, count)| vec![count.to_string(), clean(computer).into_owned()]),
            top,
        );
        table(
            &mut out,
            "Events by day (UTC)",
            &["events", "day"],
            self.days
                .iter()
                .map(|(day, count)| vec![count.to_string(), day.clone()]),
            usize::MAX,
        );
        table(
            &mut out,
            "Events by hour of the day (UTC)",
            &["events", "hour"],
            self.hours
                .iter()
                .enumerate()
                .filter(|(_, count)| **count > 0)
                .map(|(hour, count)| vec![count.to_string(), format!("{hour:02}:00")]),
            usize::MAX,
        );
        table(
            &mut out,
            "Logons (Security 4624 successful, 4625 failed)",
            &["successful", "failed", "user", "logon type", "source"],
            self.logons().iter().map(|(user, kind, source, count)| {
                vec![
                    count.successful.to_string(),
                    count.failed.to_string(),
                    clean(user).into_owned(),
                    clean(kind).into_owned(),
                    clean(source).into_owned(),
                ]
            }),
            top,
        );
        out
    }
}

/// The user (`DOMAIN\name` when the domain is given), logon type and source address of a
/// logon event; `-` where the event has none.
fn logon_key(event: &Event) -> (String, String, String) {
    let value = |name: &str| {
        event
            .first(name)
            .map(|v| match v {
                FieldValue::Str(s) => s.trim().to_owned(),
                FieldValue::Int(i) => i.to_string(),
                _ => String::new(),
            })
            .filter(|text| !text.is_empty() && text != "-")
    };
    let user = match (value("TargetDomainName"), value("TargetUserName")) {
        (Some(domain), Some(user)) => format!("{domain}\\{user}"),
        (None, Some(user)) => user,
        (_, None) => "-".to_owned(),
    };
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    (user, dash(value("LogonType")), dash(value("IpAddress")))
}

/// An integer from an integer value or from decimal text.
fn integer(value: FieldValue<'_>) -> Option<i64> {
    match value {
        FieldValue::Int(i) => Some(i),
        FieldValue::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The entries of a count map, most first, then by name.
fn most_first(map: &HashMap<String, u64>) -> Vec<(&str, u64)> {
    let mut rows: Vec<(&str, u64)> = map.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    rows
}

/// Appends a titled table: a header, at most `top` rows (the rest counted), columns
/// aligned (numbers to the right: the first columns until the first text column).
fn table(
    out: &mut String,
    title: &str,
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    top: usize,
) {
    let rows: Vec<Vec<String>> = rows.collect();
    let _ = writeln!(out, "\n{title}");
    if rows.is_empty() {
        let _ = writeln!(out, "  (none)");
        return;
    }
    let shown = &rows[..rows.len().min(top)];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in shown {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let numeric = |column: usize| {
        shown
            .iter()
            .all(|row| row[column].bytes().all(|b| b.is_ascii_digit()))
    };
    let line = |cells: &[String]| {
        let mut text = String::from(" ");
        for (column, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            let pad = width.saturating_sub(cell.chars().count());
            text.push(' ');
            if numeric(column) {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if column + 1 < cells.len() {
                    text.push_str(&" ".repeat(pad));
                }
            }
            text.push(' ');
        }
        text.trim_end().to_owned()
    };
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let _ = writeln!(out, "{}", line(&header));
    for row in shown {
        let _ = writeln!(out, "{}", line(row));
    }
    if rows.len() > shown.len() {
        let _ = writeln!(out, "  ... and {} more", rows.len() - shown.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tocsin_event::{LogSource, Value};

    fn logon(id: i64, user: &str, kind: i64, ip: &str, micros: i64) -> Event {
        let mut e = Event {
            timestamp_micros: Some(micros),
            ..Event::default()
        };
        e.push("Event.System.EventID", "EventID", Value::Int(id));
        e.push("Event.System.Channel", "Channel", Value::from("Security"));
        e.push("Event.System.Computer", "Computer", Value::from("DC01"));
        e.push(
            "Event.EventData.TargetUserName",
            "TargetUserName",
            Value::from(user),
        );
        e.push(
            "Event.EventData.TargetDomainName",
            "TargetDomainName",
            Value::from("CORP"),
        );
        e.push("Event.EventData.LogonType", "LogonType", Value::Int(kind));
        e.push("Event.EventData.IpAddress", "IpAddress", Value::from(ip));
        e
    }

    /// 2024-12-02T03:00:00Z.
    const T: i64 = 1_733_108_400_000_000;
    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn counts_channels_computers_times_and_logons() {
        let mut a = EventStats::new();
        a.add(&logon(4624, "alice", 3, "10.0.0.5", T));
        a.add(&logon(4625, "alice", 3, "10.0.0.5", T + HOUR));
        a.add(&logon(4625, "alice", 3, "10.0.0.5", T + 25 * HOUR));
        let mut b = EventStats::new();
        b.add(&logon(4625, "bob", 10, "-", T - HOUR));
        let mut syslog = Event::default();
        syslog.push("host", "", Value::from("web-01"));
        syslog.logsource = Some(Arc::new(LogSource {
            product: Some("linux".into()),
            service: Some("sshd".into()),
            category: None,
        }));
        b.add(&syslog);
        b.add_files(2);
        b.add_decode_errors(1);
        b.add_out_of_range();
        a.merge(b);

        assert_eq!(a.events(), 5);
        assert_eq!(
            a.channels(),
            [
                ("Security", Some(4625), 3),
                ("Security", Some(4624), 1),
                ("logsource:linux/sshd", None, 1)
            ]
        );
        assert_eq!(a.computers(), [("DC01", 4), ("web-01", 1)]);
        let logons = a.logons();
        assert_eq!(logons[0].0, "CORP\\alice");
        assert_eq!(logons[0].1, "3");
        assert_eq!(
            logons[0].3,
            LogonCount {
                successful: 1,
                failed: 2
            }
        );
        assert_eq!(
            logons[1],
            (
                "CORP\\bob",
                "10",
                "-",
                LogonCount {
                    successful: 0,
                    failed: 1
                }
            )
        );

        let json = a.to_json();
        assert_eq!(json["files"], 2);
        assert_eq!(json["untimed"], 1);
        assert_eq!(json["out_of_range"], 1);
        assert_eq!(json["first"], "2024-12-02T02:00:00Z");
        assert_eq!(json["last"], "2024-12-03T04:00:00Z");
        assert_eq!(
            json["days"],
            json!([{"day": "2024-12-02", "events": 3}, {"day": "2024-12-03", "events": 1}])
        );
        assert_eq!(json["hours"][3]["events"], 1);
        assert_eq!(json["hours"][2]["events"], 1);
        assert_eq!(json["hours"].as_array().map(Vec::len), Some(24));

        let text = a.render(1);
        assert!(
            text.contains("5 events in 2 files, 1 decode errors"),
            "{text}"
        );
        assert!(text.contains("  ... and 2 more"), "{text}");
        assert!(text.contains("CORP\\alice"), "{text}");
        assert!(!text.contains("CORP\\bob"), "top 1: {text}");
    }

    #[test]
    fn hostile_names_are_cleaned_and_empty_tables_say_so() {
        let mut stats = EventStats::new();
        let mut e = Event::default();
        e.push("Computer", "Computer", Value::from("evil\u{1b}[31m"));
        stats.add(&e);
        let text = stats.render(10);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("(none)"), "{text}");
    }
}
