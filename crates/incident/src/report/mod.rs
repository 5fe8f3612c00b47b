//! Incident reports for analysts, managers and partner agencies, as Markdown, HTML or JSON.
//!
//! A report has: a summary (status, severity and why, time span, counts), the entities, the
//! ATT&CK table in kill-chain order, the timeline, each detection with why it joined and its
//! evidence, the response actions, the notes and the audit trail, and the attributions the
//! licences ask for (Sigma rule authors, MITRE ATT&CK).
//!
//! Everything that comes from events or rules is hostile text: HTML output escapes it all and
//! loads nothing from outside (inline CSS, no scripts, no links to fetch); Markdown output
//! escapes table and inline markup and `<`/`>` (many Markdown viewers render raw HTML).

mod html;
mod markdown;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use tocsin_event::time::format_human;

use crate::alert::Alert;
use crate::attack::TechniqueHit;
use crate::error::ParseError;
use crate::incident::Incident;
use crate::lifecycle::AuditRecord;
use crate::time::format_duration;

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown, for tickets and chat.
    Markdown,
    /// A self-contained HTML page, for e-mail and print.
    Html,
    /// JSON, for other tools: the incident, its alerts and its audit trail as stored.
    Json,
    /// An ATT&CK Navigator layer (format 4.5) of the incident's techniques, scored by its
    /// detections and commented with the rules that found them.
    Navigator,
}

impl FromStr for Format {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "md" | "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            "navigator" | "layer" => Ok(Format::Navigator),
            _ => Err(ParseError {
                what: "report format",
                found: text.to_owned(),
                expected: "md, html, json, navigator",
            }),
        }
    }
}

/// The report of `incident` with its `alerts` (any order; those not in the incident are left
/// out) and its `audit` trail.
pub fn render(
    incident: &Incident,
    alerts: &[Alert],
    audit: &[AuditRecord],
    format: Format,
) -> String {
    match format {
        Format::Json => render_json(incident, alerts, audit),
        Format::Navigator => render_navigator(incident, alerts),
        Format::Markdown => write_report(incident, alerts, audit, markdown::Markdown::default()),
        Format::Html => write_report(incident, alerts, audit, html::Html::new(&incident.title)),
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    incident: &'a Incident,
    alerts: Vec<&'a Alert>,
    audit: &'a [AuditRecord],
}

fn render_json(incident: &Incident, alerts: &[Alert], audit: &[AuditRecord]) -> String {
    let report = JsonReport {
        incident,
        alerts: members_in_order(incident, alerts),
        audit,
    };
    serde_json::to_string_pretty(&report)
        .unwrap_or_else(|error| format!("{{\"error\": {:?}}}", error.to_string()))
}

fn render_navigator(incident: &Incident, alerts: &[Alert]) -> String {
    let mut layer = tocsin_output::NavigatorLayer::new();
    for alert in members_in_order(incident, alerts) {
        layer.add(
            alert.rule.tags.iter().map(String::as_str),
            &alert.rule.title,
        );
    }
    let name = format!("Incident {}", incident.id);
    let json = layer.to_json(&name, &incident.title);
    serde_json::to_string_pretty(&json)
        .unwrap_or_else(|error| format!("{{\"error\": {:?}}}", error.to_string()))
}

/// The alerts of the incident in its member order.
fn members_in_order<'a>(incident: &Incident, alerts: &'a [Alert]) -> Vec<&'a Alert> {
    let by_key: HashMap<&str, &Alert> = alerts.iter().map(|a| (a.key.as_str(), a)).collect();
    incident
        .members
        .iter()
        .filter_map(|m| by_key.get(m.alert_key.as_str()).copied())
        .collect()
}

/// The building blocks a report is written with; each format escapes the text it is given.
trait Sink {
    fn heading(&mut self, level: u8, text: &str);
    fn paragraph(&mut self, text: &str);
    fn facts(&mut self, facts: &[(&str, String)]);
    fn table(&mut self, headers: &[&str], rows: &[Vec<String>]);
    fn finish(self) -> String;
}

fn when(micros: Option<i64>) -> String {
    micros.map_or_else(|| "unknown".to_owned(), format_human)
}

fn write_report<S: Sink>(
    incident: &Incident,
    alerts: &[Alert],
    audit: &[AuditRecord],
    mut out: S,
) -> String {
    let alerts = members_in_order(incident, alerts);
    out.heading(1, &format!("Incident {}: {}", incident.id, incident.title));
    write_summary(incident, &mut out);
    write_entities(incident, &mut out);
    write_attack(incident, &mut out);
    write_timeline(incident, &mut out);
    write_detections(incident, &alerts, &mut out);
    write_actions(incident, &mut out);
    write_audit(audit, &mut out);
    write_attribution(incident, &alerts, &mut out);
    out.finish()
}

fn write_summary<S: Sink>(incident: &Incident, out: &mut S) {
    let life = &incident.lifecycle;
    let span = incident
        .first_seen_micros
        .zip(incident.last_seen_micros)
        .map_or_else(|| "unknown".to_owned(), |(a, b)| format_duration(b - a));
    let severity = &incident.severity;
    out.heading(2, "Summary");
    let mut facts = vec![
        ("Status", life.status.to_string()),
        (
            "Resolution",
            life.resolution
                .map_or_else(|| "-".to_owned(), |r| r.to_string()),
        ),
        (
            "Assignee",
            life.assignee.clone().unwrap_or_else(|| "nobody".into()),
        ),
        (
            "Severity",
            format!(
                "{} ({} / 100: {})",
                severity.band,
                severity.score,
                severity.breakdown()
            ),
        ),
        (
            "Why it opened",
            incident
                .opening
                .as_ref()
                .map_or_else(|| "not recorded".to_owned(), ToString::to_string),
        ),
        ("First seen", when(incident.first_seen_micros)),
        ("Last seen", when(incident.last_seen_micros)),
        ("Duration", span),
        ("Detections", incident.members.len().to_string()),
        (
            "Tactics",
            incident
                .attack
                .tactics
                .iter()
                .map(|t| t.label().to_owned())
                .collect::<Vec<_>>()
                .join(" → "),
        ),
    ];
    if !incident.continues.is_empty() {
        // A full incident's successor says where the story began.
        facts.push(("Continues", incident.continues.join(", ")));
    }
    out.facts(&facts);
}

fn write_entities<S: Sink>(incident: &Incident, out: &mut S) {
    out.heading(2, "Entities");
    let rows: Vec<Vec<String>> = incident
        .entities
        .iter()
        .map(|e| {
            vec![
                e.entity.kind.to_string(),
                e.entity.value.clone(),
                e.alerts.to_string(),
            ]
        })
        .chain(incident.unlisted.iter().map(|more| {
            vec![
                more.kind.to_string(),
                format!("{} more, not listed", more.count),
                String::new(),
            ]
        }))
        .collect();
    out.table(&["Kind", "Value", "Detections"], &rows);
}

fn write_attack<S: Sink>(incident: &Incident, out: &mut S) {
    out.heading(2, "MITRE ATT&CK");
    let attack = &incident.attack;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for tactic in &attack.tactics {
        let techniques: Vec<&TechniqueHit> = attack
            .techniques
            .iter()
            .filter(|t| t.tactics.contains(&tactic.shortname))
            .collect();
        rows.push(vec![
            tactic.id.clone().unwrap_or_else(|| "-".into()),
            tactic.label().to_owned(),
            technique_list(&techniques),
            tactic.alerts.to_string(),
        ]);
    }
    let shown: BTreeSet<&str> = attack
        .tactics
        .iter()
        .map(|t| t.shortname.as_str())
        .collect();
    let unplaced: Vec<&TechniqueHit> = attack
        .techniques
        .iter()
        .filter(|t| !t.tactics.iter().any(|name| shown.contains(name.as_str())))
        .collect();
    if !unplaced.is_empty() {
        rows.push(vec![
            "-".into(),
            "(tactic not known)".into(),
            technique_list(&unplaced),
            unplaced.iter().map(|t| t.alerts).sum::<usize>().to_string(),
        ]);
    }
    out.table(&["Tactic id", "Tactic", "Techniques", "Detections"], &rows);
    if !attack.references.is_empty() {
        out.paragraph(&format!(
            "Other ATT&CK references: {}",
            attack.references.join(", ")
        ));
    }
}

/// `T1059.001 Command and Scripting Interpreter: PowerShell; T1105` (the id alone when the
/// catalogue does not know it).
fn technique_list(techniques: &[&TechniqueHit]) -> String {
    techniques
        .iter()
        .map(|t| match t.label() {
            label if label == t.id => label,
            label => format!("{} {label}", t.id),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn write_timeline<S: Sink>(incident: &Incident, out: &mut S) {
    out.heading(2, "Timeline");
    let rows: Vec<Vec<String>> = incident
        .timeline
        .iter()
        .map(|t| {
            vec![
                t.when(),
                t.level.to_string(),
                t.title.clone(),
                t.entities.clone(),
            ]
        })
        .collect();
    out.table(&["Time (UTC)", "Level", "Detection", "Entities"], &rows);
}

fn write_detections<S: Sink>(incident: &Incident, alerts: &[&Alert], out: &mut S) {
    out.heading(2, "Detections and evidence");
    let reasons: HashMap<&str, String> = incident
        .members
        .iter()
        .map(|m| (m.alert_key.as_str(), m.reason.to_string()))
        .collect();
    for alert in alerts {
        out.heading(3, &format!("{} ({})", alert.rule.title, alert.short_key()));
        let mut facts = vec![
            ("Time", when(alert.timestamp_micros)),
            ("Kind", alert.kind.to_string()),
            ("Level", alert.rule.level.to_string()),
            ("Rule", alert.rule.id.clone()),
            (
                "Source",
                format!("{} record {}", alert.origin.source, alert.origin.record),
            ),
            (
                "Why in this incident",
                reasons.get(alert.key.as_str()).cloned().unwrap_or_default(),
            ),
        ];
        if let Some(explanation) = &alert.explanation {
            facts.push(("What was unusual", explanation.clone()));
        }
        out.facts(&facts);
        let rows: Vec<Vec<String>> = alert
            .evidence
            .iter()
            .map(|(name, value)| vec![name.clone(), value.clone()])
            .collect();
        if !rows.is_empty() {
            out.table(&["Field", "Value"], &rows);
        }
    }
}

fn write_actions<S: Sink>(incident: &Incident, out: &mut S) {
    let life = &incident.lifecycle;
    out.heading(2, "Actions taken");
    if life.actions.is_empty() {
        out.paragraph("None recorded.");
    } else {
        let rows: Vec<Vec<String>> = life
            .actions
            .iter()
            .map(|a| vec![format_human(a.at_micros), a.actor.clone(), a.action.clone()])
            .collect();
        out.table(&["Time (UTC)", "By", "Action"], &rows);
    }
    if !life.notes.is_empty() {
        out.heading(2, "Notes");
        let rows: Vec<Vec<String>> = life
            .notes
            .iter()
            .map(|n| vec![format_human(n.at_micros), n.author.clone(), n.text.clone()])
            .collect();
        out.table(&["Time (UTC)", "By", "Note"], &rows);
    }
}

fn write_audit<S: Sink>(audit: &[AuditRecord], out: &mut S) {
    out.heading(2, "Audit trail");
    if audit.is_empty() {
        out.paragraph("No changes recorded.");
        return;
    }
    let rows: Vec<Vec<String>> = audit
        .iter()
        .map(|r| {
            vec![
                format_human(r.at_micros),
                r.actor.clone(),
                r.change.to_string(),
            ]
        })
        .collect();
    out.table(&["Time (UTC)", "By", "Change"], &rows);
}

fn write_attribution<S: Sink>(incident: &Incident, alerts: &[&Alert], out: &mut S) {
    out.heading(2, "Attribution");
    let authors: BTreeSet<String> = alerts
        .iter()
        .filter_map(|a| {
            a.rule
                .author
                .as_ref()
                .map(|author| format!("{} (by {author})", a.rule.title))
        })
        .collect();
    if !authors.is_empty() {
        out.paragraph(&format!(
            "Detection rules and their authors: {}. Sigma rules are shared under the Detection Rule License (DRL) 1.1.",
            authors.into_iter().collect::<Vec<_>>().join("; ")
        ));
    }
    if incident.attack.tactics.iter().any(|t| t.id.is_some()) {
        out.paragraph("MITRE ATT&CK® names: © 2025 The MITRE Corporation. This work is reproduced and distributed with the permission of The MITRE Corporation.");
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Markdown => "md",
            Format::Html => "html",
            Format::Json => "json",
            Format::Navigator => "navigator",
        })
    }
}

#[cfg(test)]
mod tests;
