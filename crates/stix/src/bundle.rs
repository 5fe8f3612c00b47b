//! Assembling the bundle: one function per kind of object, all sharing the producer, the
//! timestamps and the markings that [`Builder`] works out once.

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Map, Value};
use tocsin_incident::{Alert, AuditRecord, EntityKind, Incident, Resolution, Status};

use crate::observables::{self, Seen};
use crate::redact::Redactor;
use crate::time::stamp;
use crate::{ids, ExportOptions, StixError, INCIDENT_CORE_EXTENSION};

/// The `created` and `modified` of the producer's and victim's identities, which every
/// export shares: fixed, so that each is one version of one object.
const IDENTITY_TIME: &str = "2024-01-01T00:00:00.000Z";

/// At most this many observations a Sigma indicator's sighting refers to.
const MAX_SIGHTED_OBSERVATIONS: usize = 50;

/// Works out what every object shares, then builds them.
pub(crate) struct Builder<'a> {
    incident: &'a Incident,
    alerts: Vec<&'a Alert>,
    options: &'a ExportOptions,
    producer_id: String,
    victim_id: Option<String>,
    created: String,
    modified: String,
    redactor: Redactor,
    /// What the export's options make of the objects ([`ExportOptions::audience`]): part
    /// of every produced id, so that two views of one incident never share an id and a
    /// version with different content.
    audience: String,
    objects: Vec<Value>,
    /// The ids of objects that belong to this incident alone.
    scoped: HashSet<String>,
}

impl<'a> Builder<'a> {
    /// A builder for `incident`, its `alerts` (put in time order) and `audit` trail.
    pub(crate) fn new(
        incident: &'a Incident,
        alerts: &'a [Alert],
        audit: &[AuditRecord],
        options: &'a ExportOptions,
    ) -> Result<Self, StixError> {
        let mut alerts: Vec<&Alert> = alerts.iter().collect();
        alerts.sort_by(|a, b| (a.timestamp_micros, &a.key).cmp(&(b.timestamp_micros, &b.key)));
        let untimed = || StixError::Untimed(incident.id.clone());
        let first = alerts
            .iter()
            .filter_map(|a| a.timestamp_micros)
            .min()
            .ok_or_else(untimed)?;
        let last_detection = alerts.iter().filter_map(|a| a.timestamp_micros).max();
        let last_change = audit.iter().map(|record| record.at_micros).max();
        let latest = last_detection
            .max(last_change)
            .max(options.revoked_at_micros)
            .unwrap_or(first)
            .max(first);
        let producer = options.producer.trim();
        Ok(Builder {
            incident,
            alerts,
            options,
            producer_id: ids::produced("identity", &["producer", producer]),
            victim_id: options
                .victim
                .as_ref()
                .map(|victim| ids::produced("identity", &["victim", producer, victim.trim()])),
            created: stamp(first).ok_or_else(untimed)?,
            modified: stamp(latest).ok_or_else(untimed)?,
            redactor: Redactor::new(options.redaction),
            audience: options.audience(),
            objects: Vec::new(),
            scoped: HashSet::new(),
        })
    }

    /// The bundle.
    pub(crate) fn build(mut self) -> Result<Value, StixError> {
        let seen = observables::collect(&self.alerts, &mut self.redactor);
        let incident_id = self.incident_object();
        self.identities();
        let techniques = self.attack_patterns();
        let mut indicators = Vec::new();
        for (sco_id, observed) in &seen {
            self.objects.push(observed.object.clone());
            let observation = self.observed_data(sco_id, observed);
            if let Some(indicator) = self.observable_indicator(sco_id, observed) {
                self.sighting(
                    &indicator,
                    observed.count,
                    observed.first_micros,
                    observed.last_micros,
                    &[observation],
                );
                indicators.push(indicator);
            }
        }
        indicators.extend(self.sigma_indicators(&seen, &techniques));
        self.attribution(&incident_id, &indicators, &techniques);
        self.report();
        self.revoke();
        let mut objects = vec![self.options.tlp.definition()];
        if let Some(tlp) = self
            .options
            .indicator_tlp
            .filter(|tlp| *tlp != self.options.tlp)
        {
            objects.push(tlp.definition());
        }
        objects.append(&mut self.objects);
        let bundle_id = ids::produced(
            "bundle",
            &[&self.options.producer, &self.incident.id, &self.modified],
        );
        Ok(json!({"type": "bundle", "id": bundle_id, "objects": objects}))
    }

    /// The common properties of an object tocsin produces, marked with `tlp`.
    fn common(&self, kind: &str, id: &str, marking: &str) -> Map<String, Value> {
        let mut object = Map::new();
        object.insert("type".into(), kind.into());
        object.insert("spec_version".into(), "2.1".into());
        object.insert("id".into(), id.into());
        object.insert("created".into(), self.created.clone().into());
        object.insert("modified".into(), self.modified.clone().into());
        object.insert("created_by_ref".into(), self.producer_id.clone().into());
        object.insert("object_marking_refs".into(), json!([marking]));
        object
    }

    /// An object of the whole's marking, from `properties`.
    fn push(&mut self, kind: &str, id: &str, properties: Value) {
        self.push_marked(kind, id, properties, self.options.tlp.marking_id());
    }

    /// An object marked `marking`, from `properties`.
    fn push_marked(&mut self, kind: &str, id: &str, properties: Value, marking: &str) {
        let mut object = self.common(kind, id, marking);
        if let Value::Object(extra) = properties {
            object.extend(extra);
        }
        self.objects.push(Value::Object(object));
    }

    /// The id of a produced object of `kind` standing for `what` in this incident.
    fn id(&mut self, kind: &str, what: &str) -> String {
        let id = ids::produced(
            kind,
            &[
                self.options.producer.trim(),
                &self.incident.id,
                &self.audience,
                what,
            ],
        );
        self.scoped.insert(id.clone());
        id
    }

    /// The indicators' marking.
    fn indicator_marking(&self) -> &'static str {
        self.options
            .indicator_tlp
            .unwrap_or(self.options.tlp)
            .marking_id()
    }

    /// The producer and the victim.
    fn identities(&mut self) {
        let producer = self.options.producer.trim().to_owned();
        let mut object = self.common(
            "identity",
            &self.producer_id.clone(),
            self.options.tlp.marking_id(),
        );
        object.remove("created_by_ref");
        // Identities are shared by every export: one version, whatever the incident.
        object.insert("created".into(), IDENTITY_TIME.into());
        object.insert("modified".into(), IDENTITY_TIME.into());
        object.insert("name".into(), producer.into());
        object.insert("identity_class".into(), "organization".into());
        self.objects.push(Value::Object(object));
        if let (Some(victim), Some(id)) = (&self.options.victim, self.victim_id.clone()) {
            let properties = json!({
                "name": victim.trim(),
                "identity_class": "organization",
                "created": IDENTITY_TIME,
                "modified": IDENTITY_TIME,
            });
            self.push("identity", &id, properties);
        }
    }

    /// The incident, with the incident core extension; returns its id.
    fn incident_object(&mut self) -> String {
        let id = self.id("incident", "incident");
        let life = &self.incident.lifecycle;
        let determination = match (life.status, life.resolution) {
            (_, Some(Resolution::FalsePositive | Resolution::Benign)) => "false-positive",
            (Status::Confirmed | Status::Contained, _) | (_, Some(Resolution::TruePositive)) => {
                "successful-attempt"
            }
            _ => "suspected",
        };
        let investigation = match life.status {
            Status::New => "new",
            Status::Closed => "closed",
            _ => "open",
        };
        let severity = &self.incident.severity;
        let title = self.redactor.scrub(&self.incident.title);
        let description = self.redactor.scrub(&self.description());
        let properties = json!({
            "name": title,
            "description": description,
            "external_references": [{"source_name": "tocsin", "external_id": self.incident.id}],
            "extensions": {
                INCIDENT_CORE_EXTENSION: {
                    "extension_type": "property-extension",
                    "determination": determination,
                    "investigation_status": investigation,
                    "criticality": severity.score.min(100),
                    "detection_methods": ["tocsin"],
                    "scores": [{
                        "name": "tocsin severity",
                        "value": severity.score,
                        "description": severity.breakdown(),
                    }],
                }
            }
        });
        self.push("incident", &id, properties);
        id
    }

    /// The incident's description: why it opened, its severity, its detections and tactics.
    fn description(&self) -> String {
        let incident = self.incident;
        let mut text = format!(
            "{} detections; severity {} ({}/100); status {}.",
            incident.members.len(),
            incident.severity.band,
            incident.severity.score,
            incident.lifecycle.status
        );
        if let Some(opening) = &incident.opening {
            text.push_str(&format!(" {opening}."));
        }
        let tactics: Vec<&str> = incident.attack.tactics.iter().map(|t| t.label()).collect();
        if !tactics.is_empty() {
            text.push_str(&format!(" Tactics: {}.", tactics.join(", ")));
        }
        let hosts = incident.entities_of(EntityKind::Host).count();
        if hosts > 0 && self.options.redaction.hosts != crate::Redact::Drop {
            let names: Vec<&str> = incident
                .entities_of(EntityKind::Host)
                .map(|e| e.value.as_str())
                .collect();
            text.push_str(&format!(" Hosts: {}.", names.join(", ")));
        }
        text
    }

    /// One attack-pattern per ATT&CK technique; returns their ids by technique id.
    fn attack_patterns(&mut self) -> BTreeMap<String, String> {
        let mut ids = BTreeMap::new();
        for technique in &self.incident.attack.techniques {
            let id = self.id("attack-pattern", &format!("mitre-attack {}", technique.id));
            // No URL: the validator asks a URL to come with a hash of its page, which would
            // change whenever MITRE edits it; the id is what tools key on.
            let mut properties = json!({
                "name": technique.label(),
                "external_references": [{
                    "source_name": "mitre-attack",
                    "external_id": technique.id,
                }],
            });
            let phases: Vec<Value> = technique
                .tactics
                .iter()
                .map(|tactic| json!({"kill_chain_name": "mitre-attack", "phase_name": tactic}))
                .collect();
            if !phases.is_empty() {
                properties["kill_chain_phases"] = Value::Array(phases);
            }
            self.push("attack-pattern", &id, properties);
            ids.insert(technique.id.clone(), id);
        }
        ids
    }

    /// The observed-data of one observable; returns its id.
    fn observed_data(&mut self, sco_id: &str, seen: &Seen) -> String {
        let id = self.id("observed-data", sco_id);
        let (Some(first), Some(last)) = (stamp(seen.first_micros), stamp(seen.last_micros)) else {
            return id;
        };
        let properties = json!({
            "first_observed": first,
            "last_observed": last,
            "number_observed": seen.count.clamp(1, 999_999_999),
            "object_refs": [sco_id],
        });
        self.push("observed-data", &id, properties);
        id
    }

    /// The indicator of an observable with a pattern; returns its id.
    fn observable_indicator(&mut self, sco_id: &str, seen: &Seen) -> Option<String> {
        let pattern = seen.pattern.clone()?;
        let id = self.id("indicator", sco_id);
        let valid_from = stamp(seen.first_micros)?;
        let properties = json!({
            "name": format!("{} seen in incident {}", seen.label, self.incident.id),
            "description": format!(
                "Seen in {} detections of incident {} by rules {}.",
                seen.count,
                self.incident.id,
                seen.rules.join(", ")
            ),
            "indicator_types": [self.indicator_type()],
            "pattern": pattern,
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": valid_from,
        });
        self.push_marked("indicator", &id, properties, self.indicator_marking());
        Some(id)
    }

    /// `malicious-activity` once the incident is confirmed, `anomalous-activity` before.
    fn indicator_type(&self) -> &'static str {
        match (
            self.incident.lifecycle.status,
            self.incident.lifecycle.resolution,
        ) {
            (_, Some(Resolution::FalsePositive | Resolution::Benign)) => "benign",
            (Status::Confirmed | Status::Contained, _) | (_, Some(Resolution::TruePositive)) => {
                "malicious-activity"
            }
            _ => "anomalous-activity",
        }
    }

    /// One `sigma` indicator per rule that fired and whose text is known, with its
    /// sighting and `indicates` relationships to its techniques; returns their ids.
    fn sigma_indicators(
        &mut self,
        seen: &BTreeMap<String, Seen>,
        techniques: &BTreeMap<String, String>,
    ) -> Vec<String> {
        let mut by_rule: BTreeMap<&str, Vec<&Alert>> = BTreeMap::new();
        for alert in &self.alerts {
            by_rule
                .entry(alert.rule.id.as_str())
                .or_default()
                .push(alert);
        }
        let mut indicators = Vec::new();
        for (rule_id, alerts) in by_rule {
            let Some(text) = self.options.sigma_rules.get(rule_id) else {
                continue;
            };
            let times: Vec<i64> = alerts.iter().filter_map(|a| a.timestamp_micros).collect();
            let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
                continue;
            };
            let Some(valid_from) = stamp(first) else {
                continue;
            };
            let id = self.id("indicator", &format!("sigma:{rule_id}"));
            let rule = &alerts[0].rule;
            // A site's own rule may filter on its internal names: scrubbed like the rest.
            let properties = json!({
                "name": self.redactor.scrub(&rule.title),
                "description": format!("Sigma rule {rule_id} ({}), which fired {} times in this incident.", rule.level, alerts.len()),
                "indicator_types": [self.indicator_type()],
                "pattern": self.redactor.scrub(text),
                "pattern_type": "sigma",
                "valid_from": valid_from,
            });
            self.push_marked("indicator", &id, properties, self.indicator_marking());
            let observations: Vec<String> = seen
                .iter()
                .filter(|(_, s)| s.rules.iter().any(|r| r == rule_id))
                .take(MAX_SIGHTED_OBSERVATIONS)
                .map(|(sco, _)| self.id("observed-data", sco))
                .collect();
            self.sighting(&id, alerts.len() as u64, first, last, &observations);
            for tag in &rule.tags {
                let technique = tag.trim_start_matches("attack.").to_uppercase();
                if let Some(pattern) = techniques.get(&technique) {
                    self.relationship("indicates", &id, &pattern.clone());
                }
            }
            indicators.push(id);
        }
        indicators
    }

    /// A sighting of `indicator` over `observations`.
    fn sighting(
        &mut self,
        indicator: &str,
        count: u64,
        first: i64,
        last: i64,
        observations: &[String],
    ) {
        let (Some(first), Some(last)) = (stamp(first), stamp(last)) else {
            return;
        };
        let id = self.id("sighting", indicator);
        let mut properties = json!({
            "sighting_of_ref": indicator,
            "count": count.min(999_999_999),
            "first_seen": first,
            "last_seen": last,
        });
        if !observations.is_empty() {
            properties["observed_data_refs"] = json!(observations);
        }
        if let Some(victim) = &self.victim_id {
            properties["where_sighted_refs"] = json!([victim]);
        }
        self.push_marked("sighting", &id, properties, self.indicator_marking());
    }

    /// A relationship `source` `kind` `target`.
    fn relationship(&mut self, kind: &str, source: &str, target: &str) {
        let id = self.id("relationship", &format!("{source} {kind} {target}"));
        let properties =
            json!({"relationship_type": kind, "source_ref": source, "target_ref": target});
        self.push("relationship", &id, properties);
    }

    /// The intrusion set or threat actor the analyst attributes the incident to, with the
    /// edges to it.
    fn attribution(
        &mut self,
        incident: &str,
        indicators: &[String],
        techniques: &BTreeMap<String, String>,
    ) {
        let Some(attribution) = &self.options.attribution else {
            return;
        };
        let kind = attribution.kind.stix_type();
        let id = self.id(kind, &attribution.name);
        let mut properties =
            json!({"name": attribution.name, "confidence": attribution.confidence});
        if kind == "threat-actor" {
            properties["threat_actor_types"] = json!(["nation-state"]);
        }
        self.push(kind, &id, properties);
        self.relationship("related-to", incident, &id);
        for indicator in indicators {
            self.relationship("indicates", indicator, &id);
        }
        for pattern in techniques.values() {
            self.relationship("uses", &id, pattern);
        }
        if let Some(victim) = self.victim_id.clone() {
            self.relationship("targets", &id, &victim);
        }
    }

    /// With a retracted incident, every object of its own marked revoked: not the objects
    /// other incidents share (the identities).
    fn revoke(&mut self) {
        if self.options.revoked_at_micros.is_none() {
            return;
        }
        let scoped = &self.scoped;
        for object in &mut self.objects {
            let own = object
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| scoped.contains(id));
            if let (true, Value::Object(map)) = (own, object) {
                map.insert("revoked".into(), true.into());
            }
        }
    }

    /// The report tying every object together.
    fn report(&mut self) {
        let refs: Vec<Value> = self
            .objects
            .iter()
            .filter_map(|object| object.get("id").cloned())
            .filter(|id| id.as_str() != Some(self.producer_id.as_str()))
            .collect();
        let id = self.id("report", "report");
        let name = self.redactor.scrub(&format!(
            "tocsin incident {}: {}",
            self.incident.id, self.incident.title
        ));
        let properties = json!({
            "name": name,
            "report_types": ["threat-report"],
            "published": self.modified,
            "object_refs": refs,
        });
        self.push("report", &id, properties);
    }
}
