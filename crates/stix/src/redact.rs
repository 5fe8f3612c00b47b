//! What a partner must not see: internal host names, user names, internal addresses.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use tocsin_incident::{Entity, EntityKind};

/// What to do with one kind of sensitive value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Redact {
    /// Share it as it is.
    #[default]
    Keep,
    /// Share a stable pseudonym (`host-1`, `user-2`, numbered in order of first detection),
    /// so that the partner still sees which detections share it. Addresses have no
    /// meaningful pseudonym and are dropped instead.
    Replace,
    /// Leave it out, with every object that would name it.
    Drop,
}

/// The redaction of an export (per partner, in a sharing configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Redaction {
    /// Host names.
    pub hosts: Redact,
    /// User names (people's and services' accounts, not API keys).
    pub users: Redact,
    /// Addresses in private, shared, loopback and link-local ranges.
    pub internal_addresses: Redact,
}

impl Redaction {
    /// The redaction that `rules` describe, as the CLI's `--redact` and the service's
    /// configuration write them: `internal` (everything internal, [`Redaction::internal`])
    /// or `KIND=ACTION` with KIND `hosts`, `users` or `internal-addresses` and ACTION
    /// `keep`, `replace` or `drop`, applied in order. The error says which rule is wrong
    /// and what was expected.
    pub fn parse(rules: &[String]) -> Result<Redaction, String> {
        let mut redaction = Redaction::default();
        for rule in rules.iter().map(|r| r.trim()).filter(|r| !r.is_empty()) {
            if rule == "internal" {
                redaction = Redaction::internal();
                continue;
            }
            let Some((kind, action)) = rule.split_once('=') else {
                return Err(format!(
                    "redact {rule}: give `internal` or KIND=ACTION (hosts=replace)"
                ));
            };
            let action = match action.trim() {
                "keep" => Redact::Keep,
                "replace" => Redact::Replace,
                "drop" => Redact::Drop,
                other => {
                    return Err(format!(
                        "redact {rule}: '{other}' is not keep, replace or drop"
                    ))
                }
            };
            match kind.trim() {
                "hosts" => redaction.hosts = action,
                "users" => redaction.users = action,
                "internal-addresses" => redaction.internal_addresses = action,
                other => {
                    return Err(format!(
                        "redact {rule}: '{other}' is not hosts, users or internal-addresses"
                    ))
                }
            }
        }
        Ok(redaction)
    }

    /// Redacts everything internal: pseudonyms for hosts and users, internal addresses
    /// dropped.
    pub fn internal() -> Self {
        Redaction {
            hosts: Redact::Replace,
            users: Redact::Replace,
            internal_addresses: Redact::Drop,
        }
    }
}

/// What an entity becomes in an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shared {
    /// Its real value: it may be an observable and an indicator.
    Real(String),
    /// A pseudonym: named in text only, never an observable (a pseudonym observes nothing,
    /// and `user-1` of one bundle is not `user-1` of another).
    Pseudonym,
    /// Left out.
    Dropped,
}

/// The redaction applied to the entities of one incident: each entity's fate, decided once.
#[derive(Debug, Default)]
pub(crate) struct Redactor {
    rules: Redaction,
    /// Pseudonyms given so far, by (kind, value).
    pseudonyms: BTreeMap<(EntityKind, String), String>,
    /// How many pseudonyms each kind has given.
    counts: BTreeMap<EntityKind, usize>,
    /// Values left out, to scrub from text.
    dropped: std::collections::BTreeSet<String>,
}

impl Redactor {
    /// A redactor applying `rules`.
    pub(crate) fn new(rules: Redaction) -> Self {
        Redactor {
            rules,
            ..Redactor::default()
        }
    }

    /// What `entity` becomes. Call in the order of first detection, so that pseudonyms are
    /// numbered alike on every export.
    pub(crate) fn share(&mut self, entity: &Entity) -> Shared {
        let (rule, prefix) = match entity.kind {
            EntityKind::Host => (self.rules.hosts, "host"),
            EntityKind::User => (self.rules.users, "user"),
            EntityKind::Account => (self.rules.users, "account"),
            EntityKind::SourceIp if is_internal(&entity.value) => {
                (self.rules.internal_addresses, "")
            }
            _ => (Redact::Keep, ""),
        };
        match rule {
            Redact::Keep => Shared::Real(entity.value.clone()),
            Redact::Replace if !prefix.is_empty() => {
                self.pseudonym(entity.kind, &entity.value, prefix);
                Shared::Pseudonym
            }
            Redact::Drop | Redact::Replace => {
                self.dropped.insert(entity.value.clone());
                Shared::Dropped
            }
        }
    }

    /// Whether hosts are redacted (so that names under their domains are internal too).
    pub(crate) fn hides_hosts(&self) -> bool {
        self.rules.hosts != Redact::Keep
    }

    /// Whether internal addresses are redacted.
    pub(crate) fn hides_internal_addresses(&self) -> bool {
        self.rules.internal_addresses != Redact::Keep
    }

    /// The pseudonym of a value, given on first request.
    fn pseudonym(&mut self, kind: EntityKind, value: &str, prefix: &str) -> String {
        let key = (kind, value.to_owned());
        if let Some(known) = self.pseudonyms.get(&key) {
            return known.clone();
        }
        let count = self.counts.entry(kind).or_default();
        *count += 1;
        let pseudonym = format!("{prefix}-{count}");
        self.pseudonyms.insert(key, pseudonym.clone());
        pseudonym
    }

    /// `text` with every redacted name replaced by its pseudonym (or `[redacted]` when
    /// dropped); names are matched without regard to case.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut replacements: Vec<(&str, &str)> = Vec::new();
        for ((kind, value), pseudonym) in &self.pseudonyms {
            replacements.push((value, pseudonym));
            // A host named fully is also written by its short name (`DT-0381`).
            if let (EntityKind::Host, Some((short, _))) = (kind, value.split_once('.')) {
                replacements.push((short, pseudonym));
            }
        }
        for value in &self.dropped {
            replacements.push((value, "[redacted]"));
        }
        replacements.retain(|(value, _)| !value.is_empty());
        // Longest first, so that a full host name goes before its first label.
        replacements.sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        let mut out = text.to_owned();
        for (value, replacement) in replacements {
            out = replace_ignoring_case(&out, value, replacement);
        }
        out
    }
}

/// `text` with every occurrence of the name `needle` replaced, whatever the case of either.
fn replace_ignoring_case(text: &str, needle: &str, replacement: &str) -> String {
    // Whole names only: `ws-2` is not a part of `ws-20`.
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let start = if word(needle.chars().next()) {
        r"\b"
    } else {
        ""
    };
    let end = if word(needle.chars().last()) {
        r"\b"
    } else {
        ""
    };
    match regex::RegexBuilder::new(&format!("{start}{}{end}", regex::escape(needle)))
        .case_insensitive(true)
        .build()
    {
        Ok(pattern) => pattern
            .replace_all(text, regex::NoExpand(replacement))
            .into_owned(),
        // An escaped literal always compiles (but for a size limit): never leave it in.
        Err(_) => text.replace(needle, replacement),
    }
}

/// Whether an address is internal: private, shared (100.64.0.0/10), loopback, link-local,
/// unique local, or unspecified. Text that is no address counts as internal, so that it is
/// never shared as one by mistake.
pub(crate) fn is_internal(text: &str) -> bool {
    let Ok(address) = text.trim().parse::<IpAddr>() else {
        return true;
    };
    match address.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(kind: EntityKind, value: &str) -> Entity {
        Entity {
            kind,
            value: value.into(),
        }
    }

    #[test]
    fn internal_ranges() {
        for internal in [
            "10.1.2.3",
            "192.168.0.9",
            "172.16.4.4",
            "100.64.1.1",
            "127.0.0.1",
            "fd00::1",
            "fe80::2",
            "::ffff:10.0.0.1",
            "nonsense",
        ] {
            assert!(is_internal(internal), "{internal}");
        }
        for public in ["203.0.113.9", "100.128.0.1", "2001:db8::1", "8.8.8.8"] {
            assert!(!is_internal(public), "{public}");
        }
    }

    #[test]
    fn pseudonyms_are_numbered_in_order_and_stable() {
        let mut redactor = Redactor::new(Redaction::internal());
        let ws = entity(EntityKind::Host, "ws-1.corp.example");
        assert_eq!(redactor.share(&ws), Shared::Pseudonym);
        assert_eq!(
            redactor.share(&entity(EntityKind::Host, "ws-2")),
            Shared::Pseudonym
        );
        assert_eq!(redactor.share(&ws), Shared::Pseudonym);
        assert_eq!(
            redactor.share(&entity(EntityKind::Account, "tenant-7")),
            Shared::Pseudonym
        );
        assert_eq!(
            redactor.share(&entity(EntityKind::SourceIp, "10.0.0.5")),
            Shared::Dropped
        );
        assert_eq!(
            redactor.share(&entity(EntityKind::SourceIp, "203.0.113.9")),
            Shared::Real("203.0.113.9".into())
        );
        assert_eq!(
            redactor.share(&entity(EntityKind::ApiKey, "k-1")),
            Shared::Real("k-1".into()),
            "API keys are the indicator, never redacted"
        );
        let text = "Reset on host WS-1.corp.example and ws-2 from 10.0.0.5 for TENANT-7";
        assert_eq!(
            redactor.scrub(text),
            "Reset on host host-1 and host-2 from [redacted] for account-1"
        );
        // A character whose lower case is longer does not switch matching off.
        assert_eq!(redactor.scrub("İ WS-2"), "İ host-2");
        // Whole names only.
        assert_eq!(redactor.scrub("ws-20 and ws-2."), "ws-20 and host-2.");
    }
}
