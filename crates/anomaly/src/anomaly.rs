//! What a detector raises: an [`Anomaly`] with its explanation, level, ATT&CK tags, the
//! record that triggered it and the parties it involves, ready to join Sigma detections
//! in incidents.

use std::fmt;

use tocsin_event::time::format_machine;
use tocsin_event::Origin;

/// Which behavioural detector raised an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// First use from a network never seen for the principal.
    NewNetwork,
    /// A sensitive action at an hour or on a weekday the principal does not work.
    UnusualTime,
    /// More sensitive actions in a window than the principal's learned rate allows.
    Burst,
    /// Use from two distant networks minutes apart.
    ImpossibleSequence,
    /// A principal first seen after the global learning period, acting sensitively.
    NewPrincipal,
}

impl AnomalyKind {
    /// A stable identifier (`new_network`, ...), usable as a rule id suffix and in the
    /// configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::NewNetwork => "new_network",
            AnomalyKind::UnusualTime => "unusual_time",
            AnomalyKind::Burst => "burst",
            AnomalyKind::ImpossibleSequence => "impossible_sequence",
            AnomalyKind::NewPrincipal => "new_principal",
        }
    }

    /// The ATT&CK tags of this kind (the source's own tags are added to them).
    ///
    /// * new network, impossible sequence: Initial Access through Valid Accounts (T1078)
    ///   of a SaaS, i.e. Cloud Accounts (T1078.004);
    /// * unusual time: Valid Accounts (T1078), also a Persistence/Defense Evasion tactic;
    /// * burst: Account Manipulation (T1098) for persistence, Account Access Removal
    ///   (T1531) for impact (mass password resets lock the owners out);
    /// * new principal: Additional Cloud Credentials (T1098.001), as a stolen key minting
    ///   a new one looks.
    pub fn attack_tags(self) -> &'static [&'static str] {
        match self {
            AnomalyKind::NewNetwork | AnomalyKind::ImpossibleSequence => {
                &["attack.initial-access", "attack.t1078", "attack.t1078.004"]
            }
            AnomalyKind::UnusualTime => &["attack.defense-evasion", "attack.t1078"],
            AnomalyKind::Burst => &[
                "attack.persistence",
                "attack.impact",
                "attack.t1098",
                "attack.t1531",
            ],
            AnomalyKind::NewPrincipal => &["attack.persistence", "attack.t1098.001"],
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious an anomaly is: the shared Sigma scale. The detectors raise `low` (context
/// only: worth showing inside an incident, never worth one alone), `medium` (worth an
/// analyst's look) and `high` (likely misuse).
pub use tocsin_event::Level;

/// What a party to an anomaly is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PartyKind {
    /// The principal (API key id, user name).
    Principal,
    /// The source IP address.
    Address,
    /// The network the address was grouped into (`203.0.113.0/24`).
    Network,
    /// What the action was done to (account, workstation).
    Target,
}

/// One thing an anomaly involves, in the detector's own terms (the principal it judged, the
/// address and network it came from, what it acted on), for the anomaly's explanation and
/// JSON. Not an incident entity: incidents group an anomaly by the entities of its event
/// (`tocsin_incident::Entity`), like any other detection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Party {
    /// What it is.
    pub kind: PartyKind,
    /// Its value as logged.
    pub value: String,
}

/// One behavioural detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// The detector that raised it.
    pub kind: AnomalyKind,
    /// The configured source name (`api-keys`).
    pub source: String,
    /// What the principal is (`API key`, `representative`).
    pub principal_kind: String,
    /// The principal (`k-7f3a29`, `jsmith`).
    pub principal: String,
    /// When the triggering event happened, microseconds since the Unix epoch (UTC).
    pub timestamp_micros: i64,
    /// How serious it is.
    pub level: Level,
    /// A one-line title (`API key k-7f3a29 used from a new network`).
    pub title: String,
    /// What was unusual compared with which baseline, in a sentence an analyst can read.
    pub explanation: String,
    /// ATT&CK tags (`attack.initial-access`, `attack.t1078`, ...).
    pub tags: Vec<String>,
    /// The record that triggered it.
    pub origin: Origin,
    /// The principal, address, network and target involved.
    pub parties: Vec<Party>,
}

impl PartyKind {
    /// `principal`, `address`, `network` or `target`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::Principal => "principal",
            PartyKind::Address => "address",
            PartyKind::Network => "network",
            PartyKind::Target => "target",
        }
    }
}

impl Anomaly {
    /// A stable rule-like identifier, `anomaly.<kind>`, for outputs that expect a rule id.
    pub fn rule_id(&self) -> String {
        format!("anomaly.{}", self.kind)
    }

    /// The anomaly as a JSON object (for JSON Lines output and the store): every field,
    /// the time both in the machine style of [`tocsin_event::time`] (RFC 3339) and as
    /// microseconds, the origin as `{source, record}`.
    pub fn to_json(&self) -> serde_json::Value {
        let time = format_machine(self.timestamp_micros);
        let parties: Vec<serde_json::Value> = self
            .parties
            .iter()
            .map(|e| serde_json::json!({"kind": e.kind.as_str(), "value": e.value}))
            .collect();
        serde_json::json!({
            "rule_id": self.rule_id(),
            "kind": self.kind.as_str(),
            "source": self.source,
            "principal_kind": self.principal_kind,
            "principal": self.principal,
            "time": time,
            "timestamp_micros": self.timestamp_micros,
            "level": self.level.as_str(),
            "title": self.title,
            "explanation": self.explanation,
            "tags": self.tags,
            "origin": {"source": &*self.origin.source, "record": self.origin.record},
            "parties": parties,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn json_carries_every_field() {
        let anomaly = Anomaly {
            kind: AnomalyKind::Burst,
            source: "api-keys".into(),
            principal_kind: "API key".into(),
            principal: "k-1".into(),
            timestamp_micros: 1_733_109_247_000_000,
            level: Level::High,
            title: "t".into(),
            explanation: "e".into(),
            tags: vec!["attack.t1098".into()],
            origin: Origin {
                source: Arc::from("api.jsonl"),
                record: 7,
            },
            parties: vec![Party {
                kind: PartyKind::Principal,
                value: "k-1".into(),
            }],
        };
        let json = anomaly.to_json();
        assert_eq!(json["rule_id"], "anomaly.burst");
        assert_eq!(json["time"], "2024-12-02T03:14:07Z");
        assert_eq!(json["level"], "high");
        assert_eq!(json["origin"]["record"], 7);
        assert_eq!(json["parties"][0]["kind"], "principal");
        assert_eq!(json["tags"][0], "attack.t1098");
    }
}
