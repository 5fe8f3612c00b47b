//! Elastic Common Schema documents: a detection as an alert (`event.kind: alert`), a
//! searched event as an event (`event.kind: event`), one JSON object per line, ready for an
//! Elasticsearch or OpenSearch bulk load.
//!
//! A document holds only ECS fields (checked against ECS's `ecs_flat.yml` in the CLI's
//! tests) and the custom namespace [`CUSTOM_NAMESPACE`] (`tocsin.*`), which keeps what ECS
//! has no field for: the rule's level and tags, the Windows channel and record number, and
//! the event's key fields (`tocsin.details`, the same as the JSON Lines `details`, with
//! every value as text so that one name never meets two mapping types).
//!
//! The ECS fields come from the detection's columns (`@timestamp`, `host.name`,
//! `event.code`, `log.file.path`, `rule.*`), from its rule's ATT&CK tags (`threat.*`) and
//! from the event's fields where it has them, by their Windows (Sysmon, Security) names or
//! ECS's own names: `process.*` (`Image`, `CommandLine`, `ProcessId`, `ParentImage`, ...;
//! Security 4688's `NewProcessName`, `NewProcessId` and `ParentProcessName`), `user.*`
//! (`User` as `DOMAIN\name`, `TargetUserName` for logons, else `SubjectUserName`),
//! `source.*` and `destination.*` (addresses only when they parse as IP addresses, ports
//! only as integers), `file.path`, `registry.path`, `dns.question.name`, and for syslog
//! `host`, `app_name`, `procid`, `message` and the priority.

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::{json, Map, Value as Json};

use crate::DetectionRecord;

/// The ECS version the documents follow (`ecs.version`): every field written exists in it.
pub const ECS_VERSION: &str = "8.11.0";

/// The top-level name under which documents keep what ECS has no field for.
pub const CUSTOM_NAMESPACE: &str = "tocsin";

/// The ATT&CK framework's name in `threat.framework`.
const FRAMEWORK: &str = "MITRE ATT&CK";

/// The Enterprise ATT&CK tactics: Sigma tag shortname, id, display name (ATT&CK v18).
const TACTICS: [(&str, &str, &str); 14] = [
    ("reconnaissance", "TA0043", "Reconnaissance"),
    ("resource-development", "TA0042", "Resource Development"),
    ("initial-access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("persistence", "TA0003", "Persistence"),
    ("privilege-escalation", "TA0004", "Privilege Escalation"),
    ("defense-evasion", "TA0005", "Defense Evasion"),
    ("credential-access", "TA0006", "Credential Access"),
    ("discovery", "TA0007", "Discovery"),
    ("lateral-movement", "TA0008", "Lateral Movement"),
    ("collection", "TA0009", "Collection"),
    ("command-and-control", "TA0011", "Command and Control"),
    ("exfiltration", "TA0010", "Exfiltration"),
    ("impact", "TA0040", "Impact"),
];

/// Windows logon events, whose user is the `Target` account (the one logging on).
const LOGON_EVENTS: [i64; 11] = [
    4624, 4625, 4634, 4647, 4648, 4768, 4769, 4771, 4776, 4778, 4779,
];

/// The Sysmon channel.
const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";

/// What kind of document to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcsKind {
    /// A detection: `event.kind: alert`, with `rule.*`, `threat.*` and `event.severity`.
    Alert,
    /// An event as read: `event.kind: event`, without rule fields.
    Event,
}

/// A rule's text that detection columns do not carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleDoc {
    /// The rule's `description`.
    pub description: Option<String>,
    /// The rule's `references` (usually URLs).
    pub references: Vec<String>,
}

/// What ECS documents name beyond a detection's columns: each rule's description and
/// references (by rule id), and ATT&CK technique and tactic names (the tactics of
/// Enterprise ATT&CK are known without it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleDocs {
    rules: HashMap<String, RuleDoc>,
    techniques: HashMap<String, String>,
}

impl RuleDocs {
    /// Nothing beyond the columns.
    pub fn new() -> Self {
        RuleDocs::default()
    }

    /// Describes the rule whose [`DetectionRecord::rule_id`] is `id`; the first description
    /// of an id is kept.
    pub fn add_rule(&mut self, id: impl Into<String>, doc: RuleDoc) {
        self.rules.entry(id.into()).or_insert(doc);
    }

    /// Names the technique `id` (`T1059.001`, any case).
    pub fn name_technique(&mut self, id: &str, name: impl Into<String>) {
        self.techniques.insert(id.to_ascii_uppercase(), name.into());
    }

    fn rule(&self, id: Option<&str>) -> Option<&RuleDoc> {
        self.rules.get(id?)
    }
}

/// The ECS document of `record`, as a JSON object of nested objects (`{"process":
/// {"pid": 4242}}`, the form Beats and Elastic Agent write).
pub fn document(record: &DetectionRecord, kind: EcsKind, docs: &RuleDocs) -> Json {
    let mut doc = Doc::default();
    let details = Lookup(record);
    if let Some(timestamp) = &record.timestamp {
        doc.put("@timestamp", json!(timestamp));
    }
    doc.put("ecs.version", json!(ECS_VERSION));
    match kind {
        EcsKind::Alert => {
            doc.put("event.kind", json!("alert"));
            doc.put("message", json!(record.rule_title));
        }
        EcsKind::Event => {
            doc.put("event.kind", json!("event"));
            if let Some(message) = details.text(&["message", "Message", "msg"]) {
                doc.put("message", json!(message));
            }
        }
    }
    if let Some(id) = record.event_id {
        doc.put("event.code", json!(id.to_string()));
    }
    event_classes(&mut doc, record);
    if let Some(host) = record
        .computer
        .clone()
        .or_else(|| details.text(&["host", "host.name", "hostname"]))
    {
        doc.put("host.name", json!(host));
    }
    user(&mut doc, record, &details);
    process(&mut doc, record, &details);
    network(&mut doc, &details);
    for (ecs, names) in [
        ("file.path", &["TargetFilename", "file.path"][..]),
        ("registry.path", &["TargetObject", "registry.path"]),
        ("dns.question.name", &["QueryName", "dns.question.name"]),
    ] {
        if let Some(value) = details.text(names) {
            doc.put(ecs, json!(value));
        }
    }
    syslog(&mut doc, &details);
    // A correlation hit's source lists the files of its events.
    let correlation = record.details.get("correlation").is_some() && record.channel.is_none();
    match correlation {
        true => doc.put(
            "log.file.path",
            json!(record.source.split(", ").collect::<Vec<_>>()),
        ),
        false => doc.put("log.file.path", json!(record.source)),
    }
    if kind == EcsKind::Alert {
        rule(&mut doc, record, docs);
        threat(&mut doc, &record.tags, docs);
    }
    custom(&mut doc, record, kind);
    Json::Object(doc.0)
}

/// A document under construction; dotted names become nested objects.
#[derive(Default)]
struct Doc(Map<String, Json>);

impl Doc {
    /// Sets the field `name` (dotted) to `value`.
    fn put(&mut self, name: &str, value: Json) {
        let mut object = &mut self.0;
        let mut parts = name.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                object.insert(part.to_owned(), value);
                return;
            }
            let entry = object
                .entry(part.to_owned())
                .or_insert_with(|| Json::Object(Map::new()));
            if !entry.is_object() {
                *entry = Json::Object(Map::new());
            }
            let Json::Object(inner) = entry else { return };
            object = inner;
        }
    }
}

/// The detection's details, read by any of several names.
struct Lookup<'a>(&'a DetectionRecord);

impl Lookup<'_> {
    /// The first of `names` the details hold as non-empty text or a number (the first
    /// value of a list); `-`, which Windows writes for "none", is no value.
    fn text(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|name| {
            let value = match self.0.details.get(name)? {
                Json::Array(items) => items.first()?,
                value => value,
            };
            let text = match value {
                Json::String(s) => s.trim().to_owned(),
                Json::Number(n) => n.to_string(),
                _ => return None,
            };
            (!text.is_empty() && text != "-").then_some(text)
        })
    }

    /// The first of `names` that is an integer, in decimal or `0x` hexadecimal text.
    fn integer(&self, names: &[&str]) -> Option<i64> {
        names
            .iter()
            .find_map(|name| self.text(&[name]).and_then(|t| parse_integer(&t)))
    }

    /// The first of `names` that is an IP address.
    fn ip(&self, names: &[&str]) -> Option<String> {
        names.iter().find_map(|name| {
            let text = self.text(&[name])?;
            // `::ffff:10.0.0.1` and `[::1]` are addresses; `10.0.0.1:445` is not one.
            let bare = text.trim_start_matches('[').trim_end_matches(']');
            bare.parse::<IpAddr>().ok().map(|ip| ip.to_string())
        })
    }
}

/// `4242`, `0x1a4` (Security events write process ids in hexadecimal).
fn parse_integer(text: &str) -> Option<i64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Whether the detection's event is Windows event `id` of `channel`.
fn is(record: &DetectionRecord, channel: &str, id: i64) -> bool {
    record.event_id == Some(id) && record.channel.as_deref() == Some(channel)
}

/// `event.category`, `event.type` and `event.outcome` of the Windows events whose meaning
/// is plain: process creation, network connections, file creation, logons.
fn event_classes(doc: &mut Doc, record: &DetectionRecord) {
    let (category, kind, outcome) = if is(record, SYSMON, 1) || is(record, "Security", 4688) {
        ("process", "start", None)
    } else if is(record, SYSMON, 3) {
        ("network", "connection", None)
    } else if is(record, SYSMON, 11) {
        ("file", "creation", None)
    } else if is(record, "Security", 4624) {
        ("authentication", "start", Some("success"))
    } else if is(record, "Security", 4625) {
        ("authentication", "start", Some("failure"))
    } else if is(record, "Security", 4634) || is(record, "Security", 4647) {
        ("authentication", "end", None)
    } else {
        return;
    };
    doc.put("event.category", json!([category]));
    doc.put("event.type", json!([kind]));
    if let Some(outcome) = outcome {
        doc.put("event.outcome", json!(outcome));
    }
}

/// `user.*`: Sysmon's `User` (`DOMAIN\name`), a logon's target account, else the subject
/// (with the target account as `user.target.*`), else ECS's `user.name`.
fn user(doc: &mut Doc, record: &DetectionRecord, details: &Lookup<'_>) {
    let logon = record.channel.as_deref() == Some("Security")
        && record.event_id.is_some_and(|id| LOGON_EVENTS.contains(&id));
    let target = (
        details.text(&["TargetUserName"]),
        details.text(&["TargetDomainName"]),
    );
    let (name, domain, target) = if logon {
        (target.0, target.1, (None, None))
    } else if let Some(user) = details.text(&["User"]) {
        match user.rsplit_once('\\') {
            Some((domain, name)) => (Some(name.to_owned()), Some(domain.to_owned()), target),
            None => (Some(user), None, target),
        }
    } else if let Some(subject) = details.text(&["SubjectUserName"]) {
        (Some(subject), details.text(&["SubjectDomainName"]), target)
    } else if target.0.is_some() {
        (target.0, target.1, (None, None))
    } else {
        (
            details.text(&["user.name", "username", "user", "suser"]),
            details.text(&["user.domain"]),
            (None, None),
        )
    };
    for (field, value) in [
        ("user.name", name),
        ("user.domain", domain),
        ("user.target.name", target.0),
        ("user.target.domain", target.1),
    ] {
        if let Some(value) = value {
            doc.put(field, json!(value));
        }
    }
}

/// `process.*` and `process.parent.*`.
fn process(doc: &mut Doc, record: &DetectionRecord, details: &Lookup<'_>) {
    // In Security 4688, `ProcessId` is the creator's: the new process is `NewProcessId`.
    let security_4688 = is(record, "Security", 4688);
    let (pid, parent_pid): (&[&str], &[&str]) = match security_4688 {
        true => (&["NewProcessId"], &["ProcessId"]),
        false => (
            &["ProcessId", "process.pid", "procid", "pid"],
            &["ParentProcessId", "process.parent.pid"],
        ),
    };
    let executable = details.text(&["Image", "NewProcessName", "process.executable"]);
    let parent = details.text(&[
        "ParentImage",
        "ParentProcessName",
        "process.parent.executable",
    ]);
    let name = executable
        .as_deref()
        .map(file_name)
        .or_else(|| details.text(&["process.name", "app_name", "program"]));
    let texts = [
        ("process.executable", executable.clone()),
        ("process.name", name),
        (
            "process.command_line",
            details.text(&["CommandLine", "process.command_line"]),
        ),
        (
            "process.entity_id",
            details.text(&["ProcessGuid", "process.entity_id"]),
        ),
        (
            "process.working_directory",
            details.text(&["CurrentDirectory", "process.working_directory"]),
        ),
        ("process.parent.executable", parent.clone()),
        ("process.parent.name", parent.as_deref().map(file_name)),
        (
            "process.parent.command_line",
            details.text(&["ParentCommandLine", "process.parent.command_line"]),
        ),
        (
            "process.parent.entity_id",
            details.text(&["ParentProcessGuid", "process.parent.entity_id"]),
        ),
    ];
    for (field, value) in texts {
        if let Some(value) = value {
            doc.put(field, json!(value));
        }
    }
    if let Some(pid) = details.integer(pid) {
        doc.put("process.pid", json!(pid));
    }
    if let Some(pid) = details.integer(parent_pid) {
        doc.put("process.parent.pid", json!(pid));
    }
}

/// The last component of a Windows or Unix path.
fn file_name(path: &str) -> String {
    path.rsplit(['\\', '/']).next().unwrap_or(path).to_owned()
}

/// `source.*` and `destination.*`.
fn network(doc: &mut Doc, details: &Lookup<'_>) {
    let ip = |names: &[&str]| details.ip(names).map(Json::from);
    let port = |names: &[&str]| details.integer(names).map(Json::from);
    let text = |names: &[&str]| details.text(names).map(Json::from);
    let fields = [
        (
            "source.ip",
            ip(&["IpAddress", "SourceIp", "SourceAddress", "source.ip", "src"]),
        ),
        (
            "source.port",
            port(&["IpPort", "SourcePort", "source.port", "spt"]),
        ),
        (
            "source.domain",
            text(&["WorkstationName", "SourceHostname", "source.domain"]),
        ),
        (
            "destination.ip",
            ip(&["DestinationIp", "DestAddress", "destination.ip", "dst"]),
        ),
        (
            "destination.port",
            port(&["DestinationPort", "DestPort", "destination.port", "dpt"]),
        ),
        (
            "destination.domain",
            text(&["DestinationHostname", "destination.domain"]),
        ),
    ];
    for (field, value) in fields {
        if let Some(value) = value {
            doc.put(field, value);
        }
    }
}

/// `log.syslog.*`: the priority, facility and severity of a syslog message (an event
/// whose fields hold the integer `facility` the syslog decoders give), its program and
/// process id.
fn syslog(doc: &mut Doc, details: &Lookup<'_>) {
    if details.integer(&["facility"]).is_none() {
        return;
    }
    for (field, name) in [
        ("log.syslog.priority", "pri"),
        ("log.syslog.facility.code", "facility"),
        ("log.syslog.severity.code", "severity"),
    ] {
        if let Some(value) = details.integer(&[name]) {
            doc.put(field, json!(value));
        }
    }
    if let Some(app) = details.text(&["app_name"]) {
        doc.put("log.syslog.appname", json!(app));
    }
    if let Some(procid) = details.text(&["procid"]) {
        doc.put("log.syslog.procid", json!(procid));
    }
}

/// `rule.*` and `event.severity`.
fn rule(doc: &mut Doc, record: &DetectionRecord, docs: &RuleDocs) {
    if let Some(id) = &record.rule_id {
        doc.put("rule.id", json!(id));
    }
    doc.put("rule.name", json!(record.rule_title));
    if let Some(author) = &record.author {
        doc.put("rule.author", json!([author]));
    }
    if let Some(rule) = docs.rule(record.rule_id.as_deref()) {
        if let Some(description) = &rule.description {
            doc.put("rule.description", json!(description.trim()));
        }
        if !rule.references.is_empty() {
            doc.put("rule.reference", json!(rule.references));
        }
    }
    doc.put("event.severity", json!(severity(&record.level)));
}

/// `event.severity` of a rule level: the risk scores Elastic's detection rules give their
/// severities (low 21, medium 47, high 73, critical 99), informational 1.
fn severity(level: &str) -> i64 {
    match level {
        "critical" => 99,
        "high" => 73,
        "medium" => 47,
        "low" => 21,
        _ => 1,
    }
}

/// `threat.*` from the rule's `attack.*` tags: tactics by shortname, techniques by id
/// (a sub-technique also names its technique), named when `docs` knows the name.
fn threat(doc: &mut Doc, tags: &[String], docs: &RuleDocs) {
    let mut tactics: Vec<&(&str, &str, &str)> = Vec::new();
    let mut techniques: Vec<String> = Vec::new();
    let mut subtechniques: Vec<String> = Vec::new();
    for tag in tags {
        let Some(rest) = tag
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("attack."))
            .map(|_| tag[7..].to_ascii_lowercase().replace('_', "-"))
        else {
            continue;
        };
        if let Some(tactic) = TACTICS.iter().find(|t| t.0 == rest) {
            if !tactics.contains(&tactic) {
                tactics.push(tactic);
            }
        } else if let Some((technique, sub)) = technique_id(&rest) {
            if !techniques.contains(&technique) {
                techniques.push(technique.clone());
            }
            if let Some(sub) = sub {
                let id = format!("{technique}.{sub}");
                if !subtechniques.contains(&id) {
                    subtechniques.push(id);
                }
            }
        }
    }
    if tactics.is_empty() && techniques.is_empty() {
        return;
    }
    doc.put("threat.framework", json!(FRAMEWORK));
    if !tactics.is_empty() {
        doc.put(
            "threat.tactic.id",
            tactics.iter().map(|t| t.1).collect::<Vec<_>>().into(),
        );
        doc.put(
            "threat.tactic.name",
            tactics.iter().map(|t| t.2).collect::<Vec<_>>().into(),
        );
        doc.put(
            "threat.tactic.reference",
            tactics
                .iter()
                .map(|t| format!("https://attack.mitre.org/tactics/{}/", t.1))
                .collect::<Vec<_>>()
                .into(),
        );
    }
    for (prefix, ids) in [
        ("threat.technique", &techniques),
        ("threat.technique.subtechnique", &subtechniques),
    ] {
        if ids.is_empty() {
            continue;
        }
        doc.put(&format!("{prefix}.id"), json!(ids));
        let names: Vec<&String> = ids
            .iter()
            .filter_map(|id| docs.techniques.get(id))
            .collect();
        // Names only when every id has one, so that ids and names pair up by position.
        if names.len() == ids.len() {
            doc.put(&format!("{prefix}.name"), json!(names));
        }
        let references: Vec<String> = ids
            .iter()
            .map(|id| {
                format!(
                    "https://attack.mitre.org/techniques/{}/",
                    id.replace('.', "/")
                )
            })
            .collect();
        doc.put(&format!("{prefix}.reference"), json!(references));
    }
}

/// `t1059.001` -> (`T1059`, `Some("001")`); `None` for text that is no technique id.
fn technique_id(tag: &str) -> Option<(String, Option<String>)> {
    let rest = tag.strip_prefix('t')?;
    let (number, sub) = match rest.split_once('.') {
        Some((number, sub)) => (number, Some(sub)),
        None => (rest, None),
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(number, 4) || sub.is_some_and(|s| !digits(s, 3)) {
        return None;
    }
    Some((format!("T{number}"), sub.map(str::to_owned)))
}

/// `tocsin.*`: what ECS has no field for.
fn custom(doc: &mut Doc, record: &DetectionRecord, kind: EcsKind) {
    let mut custom = Map::new();
    if kind == EcsKind::Alert {
        custom.insert("level".into(), json!(record.level));
        if !record.tags.is_empty() {
            custom.insert("tags".into(), json!(record.tags));
        }
    }
    if let Some(channel) = &record.channel {
        custom.insert("channel".into(), json!(channel));
    }
    custom.insert("record_id".into(), json!(record.record_id));
    let details: Map<String, Json> = record
        .details
        .iter()
        .map(|(name, value)| (name.to_owned(), as_text(value)))
        .collect();
    custom.insert("details".into(), Json::Object(details));
    doc.0.insert(CUSTOM_NAMESPACE.into(), Json::Object(custom));
}

/// A detail as text: strings as they are, numbers and booleans written out, null as null,
/// lists item by item, anything else as its JSON text.
fn as_text(value: &Json) -> Json {
    match value {
        Json::Null | Json::String(_) => value.clone(),
        Json::Array(items) => Json::Array(items.iter().map(as_text).collect()),
        Json::Number(n) => Json::String(n.to_string()),
        Json::Bool(b) => Json::String(b.to_string()),
        Json::Object(_) => Json::String(value.to_string()),
    }
}

/// The action line that precedes each document in an Elasticsearch or OpenSearch `_bulk`
/// body: `create` in the index (or data stream) the request names.
pub const BULK_ACTION: &str = r#"{"create":{}}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{meta, new_record, windows_event};
    use crate::Details;
    use tocsin_event::{Event, Level, Value};

    fn alert(record: &DetectionRecord) -> Json {
        let mut docs = RuleDocs::new();
        docs.add_rule(
            "502b42de-4306-40b4-9596-6f590c81f073",
            RuleDoc {
                description: Some("Detects whoami.\n".into()),
                references: vec!["https://example.org/whoami".into()],
            },
        );
        docs.name_technique("t1033", "System Owner/User Discovery");
        document(record, EcsKind::Alert, &docs)
    }

    #[test]
    fn a_sysmon_detection_becomes_an_alert() {
        let mut event = windows_event();
        event.push("Event.EventData.User", "User", Value::from("CORP\\alice"));
        event.push(
            "Event.EventData.ParentImage",
            "ParentImage",
            Value::from("C:\\Windows\\explorer.exe"),
        );
        let record = new_record(&meta(Some(Level::High), &[]), &event);
        let doc = alert(&record);
        assert_eq!(doc["@timestamp"], "2023-11-14T22:13:20.123456Z");
        assert_eq!(doc["ecs"]["version"], ECS_VERSION);
        assert_eq!(doc["event"]["kind"], "alert");
        assert_eq!(doc["event"]["code"], "1");
        assert_eq!(doc["event"]["category"], json!(["process"]));
        assert_eq!(doc["event"]["severity"], 73);
        assert_eq!(doc["host"]["name"], "WS01.corp");
        assert_eq!(doc["user"], json!({"name": "alice", "domain": "CORP"}));
        assert_eq!(doc["process"]["executable"], "C:\\Windows\\cmd.exe");
        assert_eq!(doc["process"]["name"], "cmd.exe");
        assert_eq!(doc["process"]["pid"], 4242);
        assert_eq!(doc["process"]["command_line"], "cmd /c whoami");
        assert_eq!(doc["process"]["parent"]["name"], "explorer.exe");
        assert_eq!(doc["rule"]["name"], "Whoami Execution");
        assert_eq!(doc["rule"]["description"], "Detects whoami.");
        assert_eq!(
            doc["rule"]["reference"],
            json!(["https://example.org/whoami"])
        );
        assert_eq!(doc["rule"]["author"], json!(["A. Analyst"]));
        assert_eq!(doc["threat"]["framework"], "MITRE ATT&CK");
        assert_eq!(doc["threat"]["tactic"]["id"], json!(["TA0007"]));
        assert_eq!(doc["threat"]["tactic"]["name"], json!(["Discovery"]));
        assert_eq!(doc["threat"]["technique"]["id"], json!(["T1033"]));
        assert_eq!(
            doc["threat"]["technique"]["name"],
            json!(["System Owner/User Discovery"])
        );
        assert_eq!(doc["log"]["file"]["path"], "C:\\logs\\Sysmon.evtx");
        assert_eq!(doc["tocsin"]["level"], "high");
        assert_eq!(doc["tocsin"]["record_id"], 42);
        assert_eq!(doc["tocsin"]["details"]["ProcessId"], "4242");
    }

    #[test]
    fn security_events_name_their_own_fields() {
        let mut e = Event::default();
        e.push("Event.System.EventID", "EventID", Value::Int(4688));
        e.push("Event.System.Channel", "Channel", Value::from("Security"));
        e.push(
            "Event.EventData.NewProcessId",
            "NewProcessId",
            Value::from("0x1a4"),
        );
        e.push("Event.EventData.ProcessId", "ProcessId", Value::from("0x4"));
        e.push(
            "Event.EventData.NewProcessName",
            "NewProcessName",
            Value::from("C:\\x\\a.exe"),
        );
        e.push(
            "Event.EventData.SubjectUserName",
            "SubjectUserName",
            Value::from("bob"),
        );
        e.push(
            "Event.EventData.TargetUserName",
            "TargetUserName",
            Value::from("-"),
        );
        let doc = alert(&new_record(&meta(None, &[]), &e));
        assert_eq!(doc["process"]["pid"], 0x1a4);
        assert_eq!(doc["process"]["parent"]["pid"], 4);
        assert_eq!(doc["user"], json!({"name": "bob"}), "`-` is no user");
        assert_eq!(doc["event"]["severity"], 1);

        let mut e = Event::default();
        e.push("Event.System.EventID", "EventID", Value::Int(4625));
        e.push("Event.System.Channel", "Channel", Value::from("Security"));
        e.push(
            "Event.EventData.SubjectUserName",
            "SubjectUserName",
            Value::from("SYS$"),
        );
        e.push(
            "Event.EventData.TargetUserName",
            "TargetUserName",
            Value::from("admin"),
        );
        e.push(
            "Event.EventData.IpAddress",
            "IpAddress",
            Value::from("::ffff:10.1.2.3"),
        );
        e.push("Event.EventData.IpPort", "IpPort", Value::from("51234"));
        e.push(
            "Event.EventData.WorkstationName",
            "WorkstationName",
            Value::from("-"),
        );
        let doc = alert(&new_record(&meta(None, &[]), &e));
        assert_eq!(doc["user"], json!({"name": "admin"}));
        assert_eq!(
            doc["source"],
            json!({"ip": "::ffff:10.1.2.3", "port": 51234})
        );
        assert_eq!(doc["event"]["outcome"], "failure");
    }

    #[test]
    fn what_is_not_an_address_or_a_number_is_left_out() {
        let mut details = Details::new();
        details.insert("IpAddress", json!("localhost"));
        details.insert("IpPort", json!("-"));
        details.insert("ProcessId", json!("n/a"));
        let mut record = new_record(&meta(None, &[]), &Event::default());
        record.details = details;
        let doc = alert(&record);
        assert!(doc.get("source").is_none(), "{doc}");
        assert!(doc.get("process").is_none(), "{doc}");
        assert!(doc.get("threat").is_some());
        assert_eq!(doc["tocsin"]["details"]["IpAddress"], "localhost");
    }

    #[test]
    fn a_syslog_event_is_an_event() {
        let mut e = Event::default();
        e.push("host", "", Value::from("web-01"));
        e.push("app_name", "", Value::from("sshd"));
        e.push("procid", "", Value::from("4123"));
        e.push("pri", "", Value::Int(38));
        e.push("facility", "", Value::Int(4));
        e.push("message", "", Value::from("Failed password for root"));
        let record = new_record(&meta(None, &[]), &e);
        let doc = document(&record, EcsKind::Event, &RuleDocs::new());
        assert_eq!(doc["event"]["kind"], "event");
        assert_eq!(doc["host"]["name"], "web-01");
        assert_eq!(doc["process"], json!({"name": "sshd", "pid": 4123}));
        assert_eq!(doc["message"], "Failed password for root");
        assert_eq!(doc["log"]["syslog"]["priority"], 38);
        assert_eq!(doc["log"]["syslog"]["appname"], "sshd");
        assert_eq!(doc["log"]["syslog"]["facility"]["code"], 4);
        assert!(doc.get("rule").is_none() && doc.get("threat").is_none());

        // A JSON event's `severity` is not a syslog severity.
        let mut e = Event::default();
        e.push("severity", "", Value::Int(3));
        let doc = document(
            &new_record(&meta(None, &[]), &e),
            EcsKind::Event,
            &RuleDocs::new(),
        );
        assert!(doc["log"].get("syslog").is_none(), "{doc}");
        assert!(doc["tocsin"].get("level").is_none());
    }

    #[test]
    fn techniques_and_subtechniques() {
        let tags: Vec<String> = [
            "attack.t1059.001",
            "attack.T1059.003",
            "attack.defense_evasion",
            "attack.stealth",
            "attack.g0016",
            "attack.t12",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let mut doc = Doc::default();
        threat(&mut doc, &tags, &RuleDocs::new());
        let doc = Json::Object(doc.0);
        assert_eq!(doc["threat"]["technique"]["id"], json!(["T1059"]));
        assert_eq!(
            doc["threat"]["technique"]["subtechnique"]["id"],
            json!(["T1059.001", "T1059.003"])
        );
        assert_eq!(
            doc["threat"]["technique"]["subtechnique"]["reference"][0],
            "https://attack.mitre.org/techniques/T1059/001/"
        );
        assert!(doc["threat"]["technique"].get("name").is_none());
        assert_eq!(doc["threat"]["tactic"]["name"], json!(["Defense Evasion"]));
    }
}
