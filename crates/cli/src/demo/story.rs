//! The story `tocsin demo` prints: the world, the intrusion, the first alert, the attack's
//! incident, the false alarms and where everything was written. Plain text, short lines.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tocsin_demo::{DemoConfig, GroundTruth};
use tocsin_event::time::format_human;
use tocsin_incident::{Incident, TacticHit, TimelineEntry};

use super::pipeline::Outcome;
use super::score::Score;
use tocsin_incident::grouping::DEFAULT_OPENING_LEVEL;

/// At most this many timeline lines are printed (repeats are folded first).
const TIMELINE_LINES: usize = 15;
/// At most this many false alarms are listed.
const FALSE_ALARM_LINES: usize = 8;

/// The ATT&CK enterprise tactics in kill-chain order, to order tags when no catalogue is
/// loaded (the demo runs without any setup).
const KILL_CHAIN: [&str; 14] = [
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

/// Where a demo wrote its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The output folder.
    pub dir: PathBuf,
    /// The logs.
    pub logs: Vec<PathBuf>,
    /// The SQLite store.
    pub store: PathBuf,
    /// The attack incident's HTML report, if there was an attack incident.
    pub report: Option<PathBuf>,
}

/// Everything the story is told from.
pub struct Story<'a> {
    /// The generated world's settings.
    pub config: &'a DemoConfig,
    /// What really happened.
    pub truth: &'a GroundTruth,
    /// What the pipeline found.
    pub outcome: &'a Outcome,
    /// How that scores against the truth.
    pub score: &'a Score,
    /// Where the files went.
    pub written: &'a Written,
}

impl Story<'_> {
    /// The whole story, ready to print.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.world(&mut out);
        self.intrusion(&mut out);
        self.first_alert(&mut out);
        self.attack_incident(&mut out);
        self.false_alarms(&mut out);
        self.files(&mut out);
        out
    }

    fn world(&self, out: &mut String) {
        let truth = self.truth;
        let _ = writeln!(
            out,
            "The world (seed {}, variant {})",
            truth.seed, truth.variant
        );
        let _ =
            writeln!(
            out,
            "  {}: {} representatives, {} API keys, {} workstations, {} days of logs ({} to {})",
            truth.site,
            self.config.world_size().0,
            self.outcome.api_keys,
            self.config.world_size().1,
            days_between(truth.benign_period_start.timestamp(), truth.logs_end.timestamp()),
            day(truth.benign_period_start.timestamp_micros()),
            day(truth.logs_end.timestamp_micros()),
        );
        let logs: Vec<String> = self
            .outcome
            .logs
            .iter()
            .map(|log| format!("{} {}", file_name(&log.name), log.events))
            .collect();
        let _ = writeln!(out, "  events: {}", logs.join(", "));
        if self.outcome.decode_errors > 0 {
            let _ = writeln!(
                out,
                "  {} records could not be decoded",
                self.outcome.decode_errors
            );
        }
    }

    fn intrusion(&self, out: &mut String) {
        let truth = self.truth;
        let addresses: Vec<String> = truth.attacker_ips.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "\nThe intrusion (ground truth)");
        let _ = writeln!(
            out,
            "  API key {} ({}) first misused {} from {}",
            truth.compromised_key_id,
            truth.compromised_key_name,
            format_human(truth.first_malicious_use.timestamp_micros()),
            addresses.join(", "),
        );
        if let Some(user) = &truth.site_account {
            let _ = writeln!(
                out,
                "  site user {user}'s password reset with the key, then a console login as {user}"
            );
        }
        let _ = writeln!(
            out,
            "  {} local accounts reset, sessions to {} workstations, documents staged in {}; key revoked {}",
            truth.accounts_reset.len(),
            truth.hosts_touched.len(),
            truth.staging_folder,
            format_human(truth.revocation.timestamp_micros()),
        );
        let _ = writeln!(
            out,
            "  {} attacker events in the logs",
            self.outcome.attacker_event_times.len()
        );
    }

    fn first_alert(&self, out: &mut String) {
        let _ = writeln!(out, "\nThe first alert");
        let found = self
            .score
            .first_alert
            .as_ref()
            .and_then(|first| Some((first, self.outcome.alerts.get(first.alert)?)));
        let Some((first, alert)) = found else {
            let _ = writeln!(
                out,
                "  none: tocsin raised no alert on the attacker's activity"
            );
            return;
        };
        let _ = writeln!(
            out,
            "  {}, {} after the {}, at the attacker's event {} of {}",
            format_human(first.at_micros),
            delay_text(first.delay_micros),
            if self.truth.variant == tocsin_demo::Variant::Stealthy {
                "first password reset"
            } else {
                "first malicious use"
            },
            first.attacker_events,
            self.outcome.attacker_event_times.len(),
        );
        let _ = writeln!(out, "  {} {}", alert.rule.level.as_str(), alert.rule.title);
        if let Some(explanation) = &alert.explanation {
            let _ = writeln!(out, "  why: {explanation}");
        }
    }

    fn attack_incident(&self, out: &mut String) {
        let incident = self
            .score
            .attack_incident
            .and_then(|index| self.outcome.incidents.get(index));
        let Some(incident) = incident else {
            let _ = writeln!(out, "\nThe attack incident\n  none was opened");
            return;
        };
        let _ = writeln!(
            out,
            "\nThe attack incident {} (severity {} {}, {} detections)",
            incident.id,
            incident.severity.band,
            incident.severity.score,
            incident.members.len(),
        );
        let _ = writeln!(out, "  {}", incident.title);
        let tactics = ordered_tactics(incident);
        if !tactics.is_empty() {
            let _ = writeln!(out, "  ATT&CK: {}", tactics.join(" > "));
        }
        if self.score.other_attack_incidents > 0 {
            let _ = writeln!(
                out,
                "  ({} more holding attack detections)",
                plural(self.score.other_attack_incidents, "incident")
            );
        }
        for line in timeline_lines(&incident.timeline, TIMELINE_LINES) {
            let _ = writeln!(out, "  {line}");
        }
    }

    fn false_alarms(&self, out: &mut String) {
        let alarms: Vec<&Incident> = self
            .score
            .false_incidents
            .iter()
            .filter_map(|index| self.outcome.incidents.get(*index))
            .collect();
        let _ = writeln!(
            out,
            "\nFalse alarms: {} without attack activity",
            plural(alarms.len(), "incident")
        );
        for incident in alarms.iter().take(FALSE_ALARM_LINES) {
            let _ = writeln!(
                out,
                "  {} {} {:8} {}",
                incident.id,
                incident
                    .first_seen_micros
                    .map_or_else(|| "-".into(), format_human),
                incident.severity.band.as_str(),
                incident.title,
            );
        }
        if alarms.len() > FALSE_ALARM_LINES {
            let _ = writeln!(out, "  ... and {} more", alarms.len() - FALSE_ALARM_LINES);
        }
    }

    fn files(&self, out: &mut String) {
        let written = self.written;
        let dir = written.dir.display();
        let store = written.store.display();
        let _ = writeln!(out, "\nWritten");
        let _ = writeln!(out, "  logs:   {dir} ({})", names(&written.logs));
        let _ = writeln!(out, "  store:  {store}");
        if let Some(report) = &written.report {
            let _ = writeln!(out, "  report: {}", report.display());
        }
        let _ = writeln!(out, "Next");
        let _ = writeln!(out, "  tocsin incidents list --store {store}");
        if let Some(incident) = self
            .score
            .attack_incident
            .and_then(|index| self.outcome.incidents.get(index))
        {
            let _ = writeln!(
                out,
                "  tocsin incidents show {} --store {store}",
                incident.id
            );
        }
        let _ = writeln!(out, "  tocsin hunt {dir} --rules builtin");
    }
}

/// The incident's tactics, in kill-chain order (unknown ones last, as the incident has
/// them).
fn ordered_tactics(incident: &Incident) -> Vec<String> {
    let mut tactics: Vec<&TacticHit> = incident.attack.tactics.iter().collect();
    let rank = |hit: &TacticHit| {
        let name = hit.shortname.replace('_', "-");
        KILL_CHAIN
            .iter()
            .position(|tactic| *tactic == name)
            .unwrap_or(KILL_CHAIN.len())
    };
    tactics.sort_by_key(|hit| rank(hit));
    tactics
        .iter()
        .map(|hit| hit.name.clone().unwrap_or_else(|| hit.shortname.clone()))
        .collect()
}

/// The timeline folded to one line per detection title (its first time and how many),
/// in order of first appearance; when that is more than `limit` lines, low and
/// informational detections go first, then the latest lines.
pub fn timeline_lines(timeline: &[TimelineEntry], limit: usize) -> Vec<String> {
    let mut folded: Vec<(&TimelineEntry, usize)> = Vec::new();
    for entry in timeline {
        match folded
            .iter_mut()
            .find(|(first, _)| first.title == entry.title)
        {
            Some((_, count)) => *count += 1,
            None => folded.push((entry, 1)),
        }
    }
    if folded.len() > limit {
        folded.retain(|(entry, _)| entry.level >= DEFAULT_OPENING_LEVEL);
    }
    let mut lines: Vec<String> = folded
        .iter()
        .map(|(entry, count)| {
            let repeat = if *count > 1 {
                format!(" (x{count})")
            } else {
                String::new()
            };
            format!(
                "{} {:8} {}{repeat}",
                entry.at_micros.map_or_else(|| "-".into(), short_time),
                entry.level.as_str(),
                entry.title,
            )
        })
        .collect();
    if lines.len() > limit {
        let hidden = lines.len() - (limit - 1);
        lines.truncate(limit - 1);
        lines.push(format!("... {hidden} more lines (see the report)"));
    }
    lines
}

/// `11-30 19:33:58`.
fn short_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |t| t.format("%m-%d %H:%M:%S").to_string(),
    )
}

/// `2024-11-08`.
fn day(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

fn days_between(start: i64, end: i64) -> i64 {
    (end - start + 86_399) / 86_400
}

/// `45 s` or `2 min 05 s`.
pub fn delay_text(micros: i64) -> String {
    let seconds = micros / 1_000_000;
    if seconds.abs() < 60 {
        format!("{seconds} s")
    } else {
        format!("{} min {:02} s", seconds / 60, (seconds % 60).abs())
    }
}

/// `1 incident`, `2 incidents`.
fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn file_name(path: &str) -> String {
    Path::new(path).file_name().map_or_else(
        || path.to_owned(),
        |name| name.to_string_lossy().into_owned(),
    )
}

fn names(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| file_name(&path.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_incident::{AlertKind, Level};

    fn entry(at: i64, title: &str, level: Level) -> TimelineEntry {
        TimelineEntry {
            at_micros: Some(at),
            alert_key: format!("k{at}"),
            kind: AlertKind::Sigma,
            level,
            title: title.into(),
            entities: String::new(),
        }
    }

    #[test]
    fn repeats_fold_and_long_timelines_lose_low_lines_first() {
        let timeline = [
            entry(0, "A", Level::High),
            entry(1_000_000, "L", Level::Low),
            entry(2_000_000, "B", Level::Medium),
            entry(3_000_000, "A", Level::High),
        ];
        let lines = timeline_lines(&timeline, 15);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with("A (x2)"), "{}", lines[0]);
        assert!(lines[1].starts_with("01-01 00:00:01 low"), "{}", lines[1]);
        let short = timeline_lines(&timeline, 2);
        assert_eq!(short.len(), 2);
        assert!(short[1].ends_with(" B"), "{}", short[1]);
        let cut = timeline_lines(&timeline, 1);
        assert_eq!(cut, ["... 2 more lines (see the report)"]);
    }

    #[test]
    fn delays_read_naturally() {
        assert_eq!(delay_text(45_000_000), "45 s");
        assert_eq!(delay_text(125_000_000), "2 min 05 s");
        assert_eq!(delay_text(0), "0 s");
    }
}
