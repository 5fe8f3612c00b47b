//! Analyst feedback: a benign pattern, once closed as a false positive, stops opening
//! incidents.
//!
//! A [`Suppression`] names a rule (by id), an entity (a host, user, account, API key or
//! source address; an address may be a network such as `198.51.100.0/24`), or both. An
//! alert it matches is still stored and still joins incidents, so the evidence stays and a
//! real intrusion that touches the same entity is still seen whole; it only adds no signal
//! to the opening decision (see [`crate::grouping::opening`]) and its membership says which
//! suppression held it. Suppressions live in the store with who added them, when, why and
//! from which incident; removing one keeps the record with who removed it.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::entities::{Entity, EntityKind};

/// What a new suppression matches and why; the store adds its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSuppression {
    /// Only alerts of this rule (by [`RuleRef::id`](crate::RuleRef)); any rule when `None`.
    pub rule_id: Option<String>,
    /// Only alerts naming this entity (an address may be a network in CIDR notation); any
    /// entity when `None`.
    pub entity: Option<Entity>,
    /// Why the pattern is benign.
    pub reason: String,
    /// Who added it.
    pub added_by: String,
    /// When (microseconds since the Unix epoch).
    pub added_at_micros: i64,
    /// The incident it was added from, if any.
    pub incident: Option<String>,
}

/// A stored suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// Its number in the store.
    pub id: u64,
    /// What it matches and why.
    #[serde(flatten)]
    pub spec: NewSuppression,
    /// Who removed it and when; a removed suppression matches nothing.
    pub removed: Option<Removal>,
}

/// Who removed a suppression and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// Who removed it.
    pub by: String,
    /// When (microseconds since the Unix epoch).
    pub at_micros: i64,
}

/// Why a suppression cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuppressionError {
    /// It names neither a rule nor an entity, so it would silence everything.
    #[error("a suppression names a rule, an entity or both; this one names neither")]
    Unscoped,
    /// An address entity is neither an address nor a network.
    #[error("'{0}' is not an IP address or a network such as 198.51.100.0/24")]
    BadNetwork(String),
    /// No reason was given.
    #[error("a suppression needs a reason, for the analyst who finds it later")]
    NoReason,
}

impl NewSuppression {
    /// Checks that it is scoped, explained, and that an address is an address or network.
    pub fn validate(&self) -> Result<(), SuppressionError> {
        if self.rule_id.is_none() && self.entity.is_none() {
            return Err(SuppressionError::Unscoped);
        }
        if self.reason.trim().is_empty() {
            return Err(SuppressionError::NoReason);
        }
        if let Some(entity) = &self.entity {
            if entity.kind == EntityKind::SourceIp && parse_network(&entity.value).is_none() {
                return Err(SuppressionError::BadNetwork(entity.value.clone()));
            }
        }
        Ok(())
    }

    /// Whether it matches `alert`.
    pub fn matches(&self, alert: &Alert) -> bool {
        self.rule_id.as_ref().is_none_or(|id| *id == alert.rule.id)
            && self
                .entity
                .as_ref()
                .is_none_or(|wanted| alert.entities.iter().any(|e| entity_matches(wanted, e)))
    }
}

impl fmt::Display for NewSuppression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.rule_id, &self.entity) {
            (Some(rule), Some(entity)) => write!(f, "rule {rule} on {entity}"),
            (Some(rule), None) => write!(f, "rule {rule}"),
            (None, Some(entity)) => write!(f, "{entity}"),
            (None, None) => f.write_str("nothing"),
        }
    }
}

/// Whether an alert's entity `seen` is the `wanted` one: the same by link key (a short host
/// name matches its full name), or an address inside a wanted network.
fn entity_matches(wanted: &Entity, seen: &Entity) -> bool {
    if wanted.kind != seen.kind {
        return false;
    }
    if wanted.kind == EntityKind::SourceIp {
        return parse_network(&wanted.value).is_some_and(|net| holds(&net, &seen.value));
    }
    wanted.link_key() == seen.link_key()
}

/// A network (`198.51.100.0/24`, `2001:db8::/32`) or an address, as a network of one.
fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Whether the network holds the address `text`.
fn holds(network: &IpNet, text: &str) -> bool {
    text.trim()
        .parse::<IpAddr>()
        .is_ok_and(|address| network.contains(&address.to_canonical()))
}

/// The suppressions in force, to ask of each alert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuppressionSet {
    active: Vec<Suppression>,
}

impl SuppressionSet {
    /// The set of `suppressions` that are not removed.
    pub fn new(suppressions: Vec<Suppression>) -> Self {
        SuppressionSet {
            active: suppressions
                .into_iter()
                .filter(|s| s.removed.is_none())
                .collect(),
        }
    }

    /// The first suppression that matches `alert`, if any.
    pub fn matching(&self, alert: &Alert) -> Option<&Suppression> {
        self.active.iter().find(|s| s.spec.matches(alert))
    }

    /// Whether it holds no suppression.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{AlertKind, AlertOrigin, Level, RuleRef};

    fn alert(rule: &str, entities: &[(EntityKind, &str)]) -> Alert {
        let rule = RuleRef {
            id: rule.into(),
            title: rule.into(),
            level: Level::Medium,
            tags: vec![],
            author: None,
        };
        let entities = entities
            .iter()
            .filter_map(|(kind, value)| Entity::normalised(*kind, value))
            .collect();
        Alert::new(
            AlertKind::Sigma,
            rule,
            AlertOrigin::default(),
            Some(0),
            entities,
            vec![],
        )
    }

    fn suppression(rule: Option<&str>, entity: Option<(EntityKind, &str)>) -> NewSuppression {
        NewSuppression {
            rule_id: rule.map(str::to_owned),
            entity: entity.map(|(kind, value)| Entity {
                kind,
                value: value.into(),
            }),
            reason: "weekly integration session".into(),
            added_by: "ana".into(),
            added_at_micros: 0,
            incident: None,
        }
    }

    #[test]
    fn a_rule_and_an_entity_must_both_match() {
        let both = suppression(Some("api_session"), Some((EntityKind::ApiKey, "k-1")));
        assert!(both.matches(&alert("api_session", &[(EntityKind::ApiKey, "k-1")])));
        assert!(!both.matches(&alert("api_session", &[(EntityKind::ApiKey, "k-2")])));
        assert!(!both.matches(&alert("password_reset", &[(EntityKind::ApiKey, "k-1")])));
        let rule_only = suppression(Some("api_session"), None);
        assert!(rule_only.matches(&alert("api_session", &[])));
    }

    #[test]
    fn a_network_matches_the_addresses_inside_it() {
        let net = suppression(None, Some((EntityKind::SourceIp, "198.51.100.0/24")));
        assert!(net.matches(&alert("r", &[(EntityKind::SourceIp, "198.51.100.77")])));
        assert!(!net.matches(&alert("r", &[(EntityKind::SourceIp, "198.51.101.7")])));
        let one = suppression(None, Some((EntityKind::SourceIp, "2001:db8::1")));
        assert!(one.matches(&alert("r", &[(EntityKind::SourceIp, "2001:db8::1")])));
        assert!(!one.matches(&alert("r", &[(EntityKind::SourceIp, "2001:db8::2")])));
        let all = suppression(None, Some((EntityKind::SourceIp, "0.0.0.0/0")));
        assert!(all.matches(&alert("r", &[(EntityKind::SourceIp, "203.0.113.9")])));
        assert!(!all.matches(&alert("r", &[(EntityKind::SourceIp, "2001:db8::2")])));
    }

    #[test]
    fn a_short_host_name_matches_its_full_name() {
        let host = suppression(None, Some((EntityKind::Host, "pc-0068")));
        assert!(host.matches(&alert("r", &[(EntityKind::Host, "PC-0068.corp.example")])));
    }

    #[test]
    fn unscoped_unexplained_or_malformed_suppressions_are_refused() {
        assert_eq!(
            suppression(None, None).validate(),
            Err(SuppressionError::Unscoped)
        );
        let mut silent = suppression(Some("r"), None);
        silent.reason = "  ".into();
        assert_eq!(silent.validate(), Err(SuppressionError::NoReason));
        for bad in ["10.0.0.0/33", "not-an-ip", "10.0.0.0/x"] {
            let net = suppression(None, Some((EntityKind::SourceIp, bad)));
            assert!(
                matches!(net.validate(), Err(SuppressionError::BadNetwork(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn removed_suppressions_match_nothing() {
        let spec = suppression(Some("r"), None);
        let kept = Suppression {
            id: 1,
            spec: spec.clone(),
            removed: None,
        };
        let removed = Suppression {
            id: 2,
            spec,
            removed: Some(Removal {
                by: "ana".into(),
                at_micros: 1,
            }),
        };
        let set = SuppressionSet::new(vec![removed, kept]);
        assert_eq!(set.matching(&alert("r", &[])).map(|s| s.id), Some(1));
    }
}
