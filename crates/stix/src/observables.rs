//! What the incident's detections saw, as STIX cyber-observable objects: addresses, user
//! accounts and API keys from the alerts' entities, and domains, URLs and file hashes from
//! their evidence.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{json, Value};
use tocsin_incident::{Alert, EntityKind};

use crate::ids;
use crate::redact::Redactor;

/// One observable and when the detections saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// The observable object.
    pub object: Value,
    /// Its STIX pattern (`[ipv4-addr:value = '203.0.113.9']`), if it makes an indicator.
    pub pattern: Option<String>,
    /// What it is, for names (`address 203.0.113.9`).
    pub label: String,
    /// How many detections saw it.
    pub count: u64,
    /// First and last detection time (microseconds).
    pub first_micros: i64,
    /// Last detection time.
    pub last_micros: i64,
    /// The rule ids of the detections that saw it.
    pub rules: Vec<String>,
}

/// The observables of `alerts` (in time order), by id, with the values the redactor
/// dropped (to scrub from free text).
pub(crate) fn collect(
    alerts: &[&Alert],
    redactor: &mut Redactor,
) -> (BTreeMap<String, Seen>, Vec<String>) {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut dropped = Vec::new();
    for alert in alerts {
        let Some(at) = alert.timestamp_micros else {
            continue;
        };
        let mut found = Vec::new();
        for entity in &alert.entities {
            match redactor.share(entity) {
                Some(value) => found.extend(of_entity(entity.kind, &value)),
                None => dropped.push(entity.value.clone()),
            }
        }
        for (name, value) in &alert.evidence {
            found.extend(of_evidence(name, value));
        }
        for (id, object, pattern, label) in found {
            let entry = seen.entry(id).or_insert_with(|| Seen {
                object,
                pattern,
                label,
                count: 0,
                first_micros: at,
                last_micros: at,
                rules: Vec::new(),
            });
            entry.count += 1;
            entry.first_micros = entry.first_micros.min(at);
            entry.last_micros = entry.last_micros.max(at);
            if !entry.rules.contains(&alert.rule.id) {
                entry.rules.push(alert.rule.id.clone());
            }
        }
    }
    dropped.sort();
    dropped.dedup();
    (seen, dropped)
}

/// An observable: id, object, pattern, label.
type Found = (String, Value, Option<String>, String);

/// The observable an entity's shared value stands for (hosts have none: they are
/// infrastructure, named in the incident).
fn of_entity(kind: EntityKind, value: &str) -> Option<Found> {
    match kind {
        EntityKind::SourceIp => address(value),
        EntityKind::User | EntityKind::Account => Some(account(value, None, "account")),
        EntityKind::ApiKey => Some(account(value, None, "API key")),
        EntityKind::Host => None,
    }
}

/// The observables an evidence field holds: file hashes (Sysmon's `Hashes`), domains
/// (DNS queries, destination host names), URLs.
fn of_evidence(name: &str, value: &str) -> Vec<Found> {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "hashes" | "hash" => file_hashes(value).into_iter().collect(),
        "queryname" | "destinationhostname" | "domain" => domain(value).into_iter().collect(),
        "url" | "uri" | "request_url" => url(value).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// An address, as ipv4-addr or ipv6-addr.
fn address(value: &str) -> Option<Found> {
    let address: IpAddr = value.trim().parse().ok()?;
    let address = address.to_canonical();
    let (kind, text) = match address {
        IpAddr::V4(v4) => ("ipv4-addr", v4.to_string()),
        IpAddr::V6(v6) => ("ipv6-addr", v6.to_string()),
    };
    let id = ids::observable(kind, &ids::canonical(&[("value", &text)]));
    let object = json!({"type": kind, "spec_version": "2.1", "id": id, "value": text});
    let pattern = format!("[{kind}:value = '{}']", quote(&text));
    Some((id, object, Some(pattern), format!("address {text}")))
}

/// A user account (or an API key, which STIX has no object for: the account it
/// authenticates) by its id.
fn account(user_id: &str, account_type: Option<&str>, what: &str) -> Found {
    let mut properties = vec![("user_id", user_id)];
    if let Some(kind) = account_type {
        properties.push(("account_type", kind));
    }
    let id = ids::observable("user-account", &ids::canonical(&properties));
    let mut object =
        json!({"type": "user-account", "spec_version": "2.1", "id": id, "user_id": user_id});
    if let Some(kind) = account_type {
        object["account_type"] = Value::from(kind);
    }
    let pattern = format!("[user-account:user_id = '{}']", quote(user_id));
    (id, object, Some(pattern), format!("{what} {user_id}"))
}

/// A domain name, when the text is one.
fn domain(value: &str) -> Option<Found> {
    let name = value.trim().trim_end_matches('.').to_ascii_lowercase();
    let plausible = name.contains('.')
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        && name.parse::<IpAddr>().is_err();
    if !plausible {
        return None;
    }
    let id = ids::observable("domain-name", &ids::canonical(&[("value", &name)]));
    let object = json!({"type": "domain-name", "spec_version": "2.1", "id": id, "value": name});
    let pattern = format!("[domain-name:value = '{}']", quote(&name));
    Some((id, object, Some(pattern), format!("domain {name}")))
}

/// A URL, when the text is an absolute one.
fn url(value: &str) -> Option<Found> {
    let text = value.trim();
    let scheme = text.split_once("://")?.0;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
    {
        return None;
    }
    let id = ids::observable("url", &ids::canonical(&[("value", text)]));
    let object = json!({"type": "url", "spec_version": "2.1", "id": id, "value": text});
    let pattern = format!("[url:value = '{}']", quote(text));
    Some((id, object, Some(pattern), format!("URL {text}")))
}

/// A file by its hashes, from Sysmon's `SHA256=…,MD5=…` list.
fn file_hashes(value: &str) -> Option<Found> {
    let mut hashes: BTreeMap<&str, String> = BTreeMap::new();
    for pair in value.split(',') {
        let Some((algorithm, digest)) = pair.split_once('=') else {
            continue;
        };
        let digest = digest.trim().to_ascii_lowercase();
        let (name, length) = match algorithm.trim().to_ascii_uppercase().as_str() {
            "MD5" => ("MD5", 32),
            "SHA1" => ("SHA-1", 40),
            "SHA256" => ("SHA-256", 64),
            _ => continue,
        };
        if digest.len() == length && digest.chars().all(|c| c.is_ascii_hexdigit()) {
            hashes.insert(name, digest);
        }
    }
    let (&strongest, digest) = hashes
        .iter()
        .find(|(name, _)| **name == "SHA-256")
        .or_else(|| hashes.iter().next())?;
    // The identifying property is one hash, the first of MD5, SHA-1, SHA-256 present (the
    // specification's order for deterministic file identifiers).
    let (identifying, identifying_digest) = ["MD5", "SHA-1", "SHA-256"]
        .into_iter()
        .find_map(|name| hashes.get(name).map(|digest| (name, digest)))?;
    let inner = ids::canonical(&[(identifying, identifying_digest.as_str())]);
    let id = ids::observable("file", &format!("{{\"hashes\":{inner}}}"));
    let object = json!({"type": "file", "spec_version": "2.1", "id": id, "hashes": hashes});
    let pattern = format!("[file:hashes.'{strongest}' = '{digest}']");
    Some((
        id,
        object,
        Some(pattern),
        format!("file {strongest} {digest}"),
    ))
}

/// A string for a STIX pattern's single quotes: `\` and `'` escaped.
fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_gives_hashes_domains_and_urls() {
        let hashes = "MD5=0123456789ABCDEF0123456789ABCDEF,SHA256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,IMPHASH=00";
        let found = of_evidence("Hashes", hashes);
        assert_eq!(found.len(), 1);
        let (_, object, pattern, _) = &found[0];
        assert_eq!(object["hashes"]["MD5"], "0123456789abcdef0123456789abcdef");
        assert_eq!(
            pattern.as_deref(),
            Some("[file:hashes.'SHA-256' = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa']")
        );
        assert_eq!(
            of_evidence("QueryName", "Evil.Example.COM.")[0].1["value"],
            "evil.example.com"
        );
        assert!(of_evidence("QueryName", "wpad").is_empty());
        assert!(of_evidence("QueryName", "10.0.0.1").is_empty());
        assert_eq!(
            of_evidence("url", "https://x.example/a?b='c'")[0]
                .2
                .as_deref(),
            Some("[url:value = 'https://x.example/a?b=\\'c\\'']")
        );
        assert!(of_evidence("url", "not a url").is_empty());
        assert!(of_evidence("CommandLine", "https://x.example").is_empty());
    }

    #[test]
    fn addresses_are_canonical() {
        let (id, object, _, _) = address("::ffff:203.0.113.9").unwrap();
        assert_eq!(object["type"], "ipv4-addr");
        assert_eq!(object["value"], "203.0.113.9");
        assert_eq!(Some(id), address("203.0.113.9").map(|f| f.0));
        assert!(address("nope").is_none());
    }
}
