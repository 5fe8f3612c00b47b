//! Sharing an incident as a STIX 2.1 bundle, so that a partner's tools (MISP, OpenCTI, a
//! TAXII server) understand it without tocsin.
//!
//! # Brief overview
//!
//! * [`export`] turns one incident, its alerts and its audit trail into a bundle
//!   ([`serde_json::Value`]): the producer `identity` (the `created_by_ref` of everything),
//!   the victim `identity` when named, the `incident` with the OASIS incident core
//!   extension, `indicator`s (STIX patterns over the addresses, API keys, user accounts,
//!   domains, URLs and file hashes seen; `sigma` patterns carrying the rules that fired),
//!   `observed-data` with their observables, `sighting`s tying each indicator to what was
//!   seen (count, first and last seen), `attack-pattern`s for the ATT&CK techniques, an
//!   `intrusion-set` or `threat-actor` when the analyst attributes the incident,
//!   `relationship`s for the edges and a `report` that ties it together.
//! * [`ExportOptions`]: the producer, the victim, the TLP 2.0 marking of the whole and of
//!   the indicators ([`Tlp`]), what to redact ([`Redaction`]), the attribution, the rules'
//!   text, and whether the incident is retracted.
//!
//! # Identifiers and versions
//!
//! Observables get the deterministic UUIDv5 identifiers the specification defines (its
//! namespace over the canonical JSON of their identifying properties), so that the same
//! address shared by two producers is one object. Every other object's identifier is a
//! UUIDv5 in tocsin's own namespace over the producer, the incident id and what the object
//! stands for: exporting the same incident again gives the same identifiers, and a
//! re-export after the incident changed gives the same objects with a later `modified` (the
//! latest detection or analyst change), which is how STIX versions an object. A retracted
//! incident is exported with every object of its own `revoked`, as of the retraction; the
//! producer's and victim's identities, which every export shares, have one fixed version.
//!
//! # Redaction
//!
//! Internal host names, user names and internal addresses are what partners usually must
//! not see. Each can be kept, replaced by a stable pseudonym (`host-1a2b3c4d`), or dropped
//! (with every indicator, sighting and observation that named it); a pseudonym is never an
//! observable or indicator, and pseudonyms and `[redacted]` replace the names in every
//! title, description and Sigma rule text. Domains and URLs under the domains of hidden
//! hosts, and URLs of hidden addresses, are left out.

mod bundle;
mod ids;
mod markings;
mod observables;
mod redact;
mod time;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tocsin_incident::{Alert, AuditRecord, Incident};

pub use markings::Tlp;
pub use redact::{Redact, Redaction};

/// The id of the OASIS incident core extension definition, whose properties (determination,
/// investigation status, criticality, scores) the exported incident carries.
pub const INCIDENT_CORE_EXTENSION: &str =
    "extension-definition--ef765651-680c-498d-9894-99799f2fa126";

/// What an export says beyond the incident itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// The producing organisation (the `identity` every object is `created_by_ref`).
    pub producer: String,
    /// The victim organisation, when it may be named.
    pub victim: Option<String>,
    /// The marking of the whole bundle.
    pub tlp: Tlp,
    /// A marking for the indicators and their sightings when they may travel further than
    /// the rest (TLP:CLEAR indicators in a TLP:AMBER incident); the whole's otherwise.
    pub indicator_tlp: Option<Tlp>,
    /// What to hide from the partner.
    pub redaction: Redaction,
    /// Who the analyst attributes the intrusion to, if anyone.
    pub attribution: Option<Attribution>,
    /// The text of the Sigma rules that fired, by rule id: each becomes a `sigma` indicator.
    pub sigma_rules: BTreeMap<String, String>,
    /// When the incident was retracted (microseconds), if it was: its objects are exported
    /// `revoked`, as a version no older than the retraction.
    pub revoked_at_micros: Option<i64>,
}

impl ExportOptions {
    /// The view of the incident these options give, as canonical text: the markings, the
    /// redaction, the victim, the attribution and which rules' texts are shared. STIX
    /// forbids two objects with one id and one `modified` but different content, so each
    /// view is its own line of objects: exporting again with the same options gives the
    /// same ids (and a later `modified` once the incident changed), while a redacted
    /// export for one partner and a full one for another never collide in a TAXII
    /// collection.
    pub fn audience(&self) -> String {
        serde_json::json!({
            "victim": self.victim.as_deref().map(str::trim),
            "tlp": self.tlp.as_str(),
            "indicator_tlp": self.indicator_tlp.map(Tlp::as_str),
            "redaction": self.redaction,
            "attribution": self.attribution,
            "sigma_rules": self.sigma_rules.keys().collect::<Vec<_>>(),
        })
        .to_string()
    }

    /// Options for `producer` with nothing else: TLP:AMBER, nothing redacted.
    pub fn new(producer: &str) -> Self {
        ExportOptions {
            producer: producer.to_owned(),
            victim: None,
            tlp: Tlp::Amber,
            indicator_tlp: None,
            redaction: Redaction::default(),
            attribution: None,
            sigma_rules: BTreeMap::new(),
            revoked_at_micros: None,
        }
    }
}

/// The analyst's attribution of an intrusion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    /// The group's name (`Silk Typhoon`).
    pub name: String,
    /// Whether it is exported as an intrusion set or a threat actor.
    pub kind: AttributionKind,
    /// How sure the analyst is, 0 to 100 (STIX `confidence`).
    pub confidence: u8,
}

/// The STIX object an attribution becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttributionKind {
    /// `intrusion-set`: a grouping of adversarial behaviour (the usual choice).
    IntrusionSet,
    /// `threat-actor`: the people or organisation behind it.
    ThreatActor,
}

impl AttributionKind {
    /// The STIX type name.
    pub fn stix_type(self) -> &'static str {
        match self {
            AttributionKind::IntrusionSet => "intrusion-set",
            AttributionKind::ThreatActor => "threat-actor",
        }
    }
}

/// Why an incident cannot be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StixError {
    /// No detection of the incident has a time, so no STIX timestamp can be given.
    #[error("incident {0} has no detection with a time; STIX needs one")]
    Untimed(String),
    /// The producer's name is empty.
    #[error("the producing organisation needs a name")]
    NoProducer,
    /// A confidence above 100.
    #[error("confidence {0} is beyond 100")]
    Confidence(u8),
}

/// The incident as a STIX 2.1 bundle (see the crate documentation). `alerts` are the
/// incident's detections (as the store gives them), `audit` its audit trail.
pub fn export(
    incident: &Incident,
    alerts: &[Alert],
    audit: &[AuditRecord],
    options: &ExportOptions,
) -> Result<serde_json::Value, StixError> {
    if options.producer.trim().is_empty() {
        return Err(StixError::NoProducer);
    }
    if let Some(attribution) = &options.attribution {
        if attribution.confidence > 100 {
            return Err(StixError::Confidence(attribution.confidence));
        }
    }
    bundle::Builder::new(incident, alerts, audit, options)?.build()
}

#[cfg(test)]
mod tests;
