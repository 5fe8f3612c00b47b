//! The behavioural checks, one module each. A check reads the observation (the event's
//! principal, action, address, time) and the principal's baseline *before* this event is
//! learned, and returns at most one [`Anomaly`] with its explanation.

pub(crate) mod burst;
pub(crate) mod impossible_sequence;
pub(crate) mod new_network;
pub(crate) mod new_principal;
pub(crate) mod unusual_time;

use std::net::IpAddr;

use chrono::DateTime;
use ipnet::IpNet;
use tocsin_event::Origin;

use crate::anomaly::{Anomaly, AnomalyKind, Level, Party, PartyKind};
use crate::config::SourceConfig;

/// One event as the checks see it.
pub(crate) struct Observation<'e> {
    /// The source the event belongs to.
    pub source: &'e SourceConfig,
    /// The principal's value.
    pub principal: &'e str,
    /// When, microseconds since the epoch.
    pub at: i64,
    /// The action, if the source names one.
    pub action: Option<&'e str>,
    /// Whether the action is sensitive.
    pub sensitive: bool,
    /// The source address, if present and valid.
    pub address: Option<IpAddr>,
    /// Whether the address is allow-listed.
    pub trusted: bool,
    /// The address's network (`new_network` prefixes), for untrusted addresses only.
    pub network: Option<IpNet>,
    /// What the action was done to.
    pub target: Option<String>,
    /// The record.
    pub origin: &'e Origin,
}

impl Observation<'_> {
    /// `API key k-7f3a29`.
    pub(crate) fn who(&self) -> String {
        format!("{} {}", self.source.principal_kind, self.principal)
    }

    /// The action, or `an event` when the source has none.
    pub(crate) fn action_text(&self) -> &str {
        self.action.unwrap_or("an event")
    }

    /// Builds the anomaly with tags (the kind's, then the source's) and parties.
    pub(crate) fn anomaly(
        &self,
        kind: AnomalyKind,
        level: Level,
        title: String,
        explanation: String,
    ) -> Anomaly {
        let mut tags: Vec<String> = kind.attack_tags().iter().map(|t| (*t).to_owned()).collect();
        for tag in &self.source.tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let mut parties = vec![Party {
            kind: PartyKind::Principal,
            value: self.principal.to_owned(),
        }];
        if let Some(address) = self.address {
            parties.push(Party {
                kind: PartyKind::Address,
                value: address.to_string(),
            });
        }
        if let Some(network) = self.network {
            parties.push(Party {
                kind: PartyKind::Network,
                value: network.to_string(),
            });
        }
        if let Some(target) = &self.target {
            parties.push(Party {
                kind: PartyKind::Target,
                value: target.clone(),
            });
        }
        Anomaly {
            kind,
            source: self.source.name.clone(),
            principal_kind: self.source.principal_kind.clone(),
            principal: self.principal.to_owned(),
            timestamp_micros: self.at,
            level,
            title,
            explanation,
            tags,
            origin: self.origin.clone(),
            parties,
        }
    }
}

/// `2024-12-02 03:14 UTC`, or the raw number when out of range.
pub(crate) fn format_time(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{micros} µs"))
}

/// `21 days`, `1 day`.
pub(crate) fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// `3.2%` of `part / whole`.
pub(crate) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".to_owned();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}
