//! What the incident's detections saw, as STIX cyber-observable objects: addresses, user
//! accounts and API keys from the alerts' entities, and domains, URLs and file hashes from
//! their evidence.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{json, Value};
use tocsin_incident::{Alert, EntityKind};

use crate::ids;
use crate::redact::{Redactor, Shared};

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

/// The observables of `alerts` (in time order), by id. Every entity goes through the
/// redactor first (untimed alerts too, so that their names are scrubbed from text); only
/// real values become observables, and evidence naming something internal is left out
/// when the redaction hides it.
pub(crate) fn collect(alerts: &[&Alert], redactor: &mut Redactor) -> BTreeMap<String, Seen> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let internal = InternalNames::of(alerts, redactor);
    for alert in alerts {
        let mut found = Vec::new();
        for entity in &alert.entities {
            if let Shared::Real(value) = redactor.share(entity) {
                found.extend(of_entity(entity.kind, &value));
            }
        }
        let Some(at) = alert.timestamp_micros else {
            continue;
        };
        for (name, value) in &alert.evidence {
            found.extend(
                of_evidence(name, value)
                    .into_iter()
                    .filter(|(_, object, _, _)| !internal.names(object)),
            );
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
    seen
}

/// What counts as internal in evidence when the redaction hides it: names under the
/// domains of the incident's hosts (`corp.example` of `ws-1.corp.example`) and internal
/// addresses.
struct InternalNames {
    /// Domain suffixes, when hosts are hidden.
    suffixes: Vec<String>,
    /// Whether internal addresses are hidden.
    addresses: bool,
}

impl InternalNames {
    /// What `redactor` hides among the names `alerts` may carry.
    fn of(alerts: &[&Alert], redactor: &Redactor) -> Self {
        let mut suffixes: Vec<String> = Vec::new();
        if redactor.hides_hosts() {
            for entity in alerts.iter().flat_map(|a| &a.entities) {
                if entity.kind != EntityKind::Host {
                    continue;
                }
                if let Some((_, domain)) = entity.value.split_once('.') {
                    if domain.contains('.') && !suffixes.iter().any(|s| s == domain) {
                        suffixes.push(domain.to_owned());
                    }
                }
            }
        }
        InternalNames {
            suffixes,
            addresses: redactor.hides_internal_addresses(),
        }
    }

    /// Whether a domain or URL observable names something internal.
    fn names(&self, object: &Value) -> bool {
        let Some(value) = object.get("value").and_then(Value::as_str) else {
            return false;
        };
        let host = match object.get("type").and_then(Value::as_str) {
            Some("domain-name") => value.to_owned(),
            Some("url") => url_host(value),
            _ => return false,
        };
        let host = host.to_ascii_lowercase();
        let under_internal_domain = self
            .suffixes
            .iter()
            .any(|suffix| host == *suffix || host.ends_with(&format!(".{suffix}")));
        let internal_address = self.addresses
            && host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<IpAddr>()
                .is_ok()
            && crate::redact::is_internal(host.trim_matches(|c| c == '[' || c == ']'));
        under_internal_domain || internal_address
    }
}

/// The host of an absolute URL (without user info or port).
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| h)
            .trim_start_matches('[')
            .to_owned();
    }
    host.split(':').next().unwrap_or_default().to_owned()
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
    fn url_hosts_are_found() {
        assert_eq!(
            url_host("https://user@Intranet.corp.example:8443/a?b"),
            "Intranet.corp.example"
        );
        assert_eq!(url_host("http://[fd00::1]:80/x"), "fd00::1");
        assert_eq!(url_host("http://10.0.0.5/x"), "10.0.0.5");
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
