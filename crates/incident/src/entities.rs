//! Entities: the hosts, users, accounts, API keys and source addresses a detection names, the
//! things incidents are grouped by.
//!
//! # Which fields give which entity
//!
//! [`ENTITY_FIELDS`] is the list. Each field is looked up by the name Sigma rules use (short
//! name or full path), every value of it is taken:
//!
//! | kind | fields |
//! | --- | --- |
//! | host | `Computer`, `ComputerName`, `Hostname`, `hostname`, `host`, `host.name`, `WorkstationName`, `endpoint`, `customer_hostname`; the `HOST` of a `target` or Vault `name` written `account@HOST` |
//! | user | `User`, `UserName`, `SubjectUserName`, `TargetUserName`, `user`, `user.name`, `who_user`, `old_username`, `new_username` (the site user an appliance `user_changed` changes), `rep_username`, `customer_username`, `performed_by_username` |
//! | account | `account`, `account_id`, `AccountId`, `tenant` |
//! | API key | `api_key`, `api_key_id`, `client_id`; an API account's OAuth client id in `who_user`, `rep_id` or `user_id` |
//! | source IP | `IpAddress`, `SourceIp`, `src_ip`, `source_ip`, `who_ip`, `ClientIP`, `rep_public_ip`, `customer_public_ip` |
//!
//! # Remote-support logs
//!
//! The remote-support appliance names its actor as `who=Name (username) using method`,
//! which the decoder splits: the username (`who_user`) is the user, not the whole text. An
//! API account's username is its OAuth client id (40 hexadecimal digits), the identity its
//! key authenticates as, so a client id (32 hexadecimal digits or more) in a user field is
//! an API key; sessions name the same id as their representative (`rep_id`, `user_id`). The
//! syslog `host` of an appliance event is the appliance itself, which every appliance event
//! names: it would glue unrelated detections together, so it gives no host.
//!
//! # Normalisation and placeholders
//!
//! Hosts, users and accounts are compared without case (API keys keep theirs); a user's `DOMAIN\` prefix and `@domain` suffix
//! are dropped so that Sysmon's `CORP\alice` and the Security log's `alice` are one user.
//! Addresses are parsed and written in canonical form (`::ffff:10.0.0.1` is `10.0.0.1`).
//!
//! # One host, two spellings
//!
//! Windows logs name a computer fully (`DT-0381.corp.example`), remote-support logs by its
//! short name (`endpoint=DT-0381`, `target: itadmin@DT-0381`). An entity keeps the spelling
//! it was logged with, and [`Entity::link_key`] is what grouping compares: a host's first
//! label, so both spellings link. An incident lists such a pair once, under the full name.
//! A `target` of `account@HOST` names a host only when `HOST` is a single label (a computer's
//! local account); `alice@corp.example` is a directory account, not a host.
//!
//! Values that name nobody in particular are skipped, because they would glue unrelated
//! detections together: empty text and `-`; the Windows service identities (`SYSTEM`,
//! `LOCAL SERVICE`, `NETWORK SERVICE`, `ANONYMOUS LOGON`, `DWM-n`, `UMFD-n`); machine accounts
//! (`WS-042$`, which stand for the host that is already an entity); loopback and unspecified
//! addresses and text that is not an address in an address field.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use tocsin_event::{Event, Fields};

/// The kinds of entity incidents are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityKind {
    /// A computer, by host name.
    Host,
    /// A person's or a service's user name.
    User,
    /// A tenant or customer account of a cloud or appliance service.
    Account,
    /// An API key (or its id) used against a service.
    ApiKey,
    /// A network address a connection or logon came from.
    SourceIp,
}

impl EntityKind {
    /// The lowercase name used in storage and explanations.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Host => "host",
            EntityKind::User => "user",
            EntityKind::Account => "account",
            EntityKind::ApiKey => "api key",
            EntityKind::SourceIp => "source ip",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entity: its kind and its normalised value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entity {
    /// What the value names.
    pub kind: EntityKind,
    /// The normalised value (see the module documentation).
    pub value: String,
}

impl Entity {
    /// An entity whose `raw` value is normalised for its kind; `None` for placeholders that
    /// name nobody in particular.
    pub fn normalised(kind: EntityKind, raw: &str) -> Option<Entity> {
        let value = match kind {
            EntityKind::Host => normalise_host(raw)?,
            EntityKind::User => normalise_user(raw)?,
            EntityKind::Account => normalise_plain(raw)?.to_lowercase(),
            EntityKind::ApiKey => normalise_plain(raw)?,
            EntityKind::SourceIp => normalise_ip(raw)?,
        };
        Some(Entity { kind, value })
    }
}

impl Entity {
    /// What grouping compares: the entity itself, except that a host named fully
    /// (`dt-0381.corp.example`) is compared by its first label (`dt-0381`), so that the
    /// short name another log uses links to it. Addresses used as host names stay whole.
    pub fn link_key(&self) -> Entity {
        match self.short_host_name() {
            Some(short) => Entity {
                kind: EntityKind::Host,
                value: short.to_owned(),
            },
            None => self.clone(),
        }
    }

    /// The first label of a fully named host (`dt-0381` for `dt-0381.corp.example`);
    /// `None` for other kinds, single-label hosts and addresses.
    pub fn short_host_name(&self) -> Option<&str> {
        if self.kind != EntityKind::Host || self.value.parse::<IpAddr>().is_ok() {
            return None;
        }
        match self.value.split_once('.') {
            Some((first, _)) if !first.is_empty() => Some(first),
            _ => None,
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.value)
    }
}

/// The field names read for each entity kind, in the order they are tried.
pub const ENTITY_FIELDS: &[(EntityKind, &[&str])] = &[
    (
        EntityKind::Host,
        &[
            "Computer",
            "ComputerName",
            "Hostname",
            "hostname",
            "host",
            "host.name",
            "WorkstationName",
            "endpoint",
            "customer_hostname",
        ],
    ),
    (
        EntityKind::User,
        &[
            "User",
            "UserName",
            "SubjectUserName",
            "TargetUserName",
            "user",
            "user.name",
            "who_user",
            "old_username",
            "new_username",
            "rep_username",
            "customer_username",
            "performed_by_username",
        ],
    ),
    (
        EntityKind::Account,
        &["account", "account_id", "AccountId", "tenant"],
    ),
    (EntityKind::ApiKey, &["api_key", "api_key_id", "client_id"]),
    (
        EntityKind::SourceIp,
        &[
            "IpAddress",
            "SourceIp",
            "src_ip",
            "source_ip",
            "who_ip",
            "ClientIP",
            "rep_public_ip",
            "customer_public_ip",
        ],
    ),
];

/// Fields that hold an API account's OAuth client id when their value is one (see
/// [`client_id`]): the appliance's actor, a session's representative.
const CLIENT_ID_FIELDS: &[&str] = &["who_user", "rep_id", "user_id"];

/// Fields written `account@HOST` whose `HOST` is a computer: the remote-support `target`,
/// and a Vault account's `name` (Vault events only).
const ACCOUNT_AT_HOST_FIELDS: &[&str] = &[TARGET_FIELD, "name"];

/// The remote-support field that names what an action was done to; `account@HOST` names a
/// computer's local account (see the module documentation).
pub const TARGET_FIELD: &str = "target";

/// Every field name [`extract_entities`] reads: those of [`ENTITY_FIELDS`], the
/// `account@HOST` and client-id fields, and `event`. A copy of an event kept only to name its entities later needs no other.
pub fn entity_field_names() -> impl Iterator<Item = &'static str> {
    ENTITY_FIELDS
        .iter()
        .flat_map(|(_, names)| names.iter().copied())
        .chain(ACCOUNT_AT_HOST_FIELDS.iter().copied())
        .chain(CLIENT_ID_FIELDS.iter().copied())
        // Whether `name` is a Vault account's.
        .chain(std::iter::once("event"))
}

/// The entities `event` names, sorted and without duplicates (see [`ENTITY_FIELDS`] and
/// [`TARGET_FIELD`]).
pub fn extract_entities(event: &Event) -> Vec<Entity> {
    let mut found = BTreeSet::new();
    let service = event
        .logsource
        .as_ref()
        .filter(|source| source.product.as_deref() == Some("remote_support"))
        .and_then(|source| source.service.as_deref());
    let vault = service == Some("appliance")
        && event
            .text("event")
            .is_some_and(|name| name.starts_with("account_"));
    for field in ACCOUNT_AT_HOST_FIELDS {
        if *field == "name" && !vault {
            continue;
        }
        event.visit(field, &mut |value| {
            found.extend(local_account_host(&value.to_string()));
            std::ops::ControlFlow::Continue(())
        });
    }
    for (kind, names) in ENTITY_FIELDS {
        for name in *names {
            // The appliance's syslog host is the appliance: no subject of its events.
            if *name == "host" && service == Some("appliance") {
                continue;
            }
            event.visit(name, &mut |value| {
                let text = value.to_string();
                let kind = match client_id(&text) {
                    Some(_) if *kind == EntityKind::User => EntityKind::ApiKey,
                    _ => *kind,
                };
                found.extend(Entity::normalised(kind, &text));
                std::ops::ControlFlow::Continue(())
            });
        }
    }
    for name in CLIENT_ID_FIELDS {
        event.visit(name, &mut |value| {
            if let Some(id) = client_id(&value.to_string()) {
                found.extend(Entity::normalised(EntityKind::ApiKey, id));
            }
            std::ops::ControlFlow::Continue(())
        });
    }
    found.into_iter().collect()
}

/// The text as an OAuth client id: 32 hexadecimal digits or more, which no person's user
/// name is.
fn client_id(text: &str) -> Option<&str> {
    let text = text.trim();
    (text.len() >= 32 && text.bytes().all(|b| b.is_ascii_hexdigit())).then_some(text)
}

/// The host of `account@HOST` when `HOST` is one label that could name a computer.
fn local_account_host(target: &str) -> Option<Entity> {
    let (account, host) = target.trim().rsplit_once('@')?;
    let plausible = !account.is_empty()
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plausible
        .then(|| Entity::normalised(EntityKind::Host, host))
        .flatten()
}

/// Trims, drops empty text, `-` and `null` (API keys keep their case: they are secrets whose
/// case matters).
fn normalise_plain(raw: &str) -> Option<String> {
    let value = raw.trim();
    if value.is_empty() || value == "-" || value.eq_ignore_ascii_case("null") {
        return None;
    }
    Some(value.to_owned())
}

/// Lowercases and drops a trailing dot; `localhost` names no host in particular.
fn normalise_host(raw: &str) -> Option<String> {
    let value = normalise_plain(raw)?.to_lowercase();
    let value = value.trim_end_matches('.').to_owned();
    (!value.is_empty() && value != "localhost").then_some(value)
}

/// Drops `DOMAIN\` and `@domain`, lowercases, skips service identities and machine accounts.
fn normalise_user(raw: &str) -> Option<String> {
    let value = normalise_plain(raw)?.to_lowercase();
    let value = value.rsplit('\\').next().unwrap_or(&value);
    let value = value.split('@').next().unwrap_or(value).trim();
    let service_identity = matches!(
        value,
        "system" | "local service" | "network service" | "anonymous logon" | "localsystem"
    ) || value.starts_with("dwm-")
        || value.starts_with("umfd-");
    if value.is_empty() || value == "-" || service_identity || value.ends_with('$') {
        return None;
    }
    Some(value.to_owned())
}

/// Parses an address (with or without brackets, with or without a port), skipping loopback
/// and unspecified ones.
fn normalise_ip(raw: &str) -> Option<String> {
    let raw = raw.trim();
    // `198.51.100.7:61606` and `[2001:db8::1]:443`: an address with its port.
    let without_port = match raw.rsplit_once(':') {
        Some((address, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => {
            match address.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
                Some(v6) => Some(v6),
                None => address
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok()
                    .then_some(address),
            }
        }
        _ => None,
    };
    let text = without_port
        .unwrap_or(raw)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let address: IpAddr = text.parse().ok()?;
    let address = address.to_canonical();
    (!address.is_loopback() && !address.is_unspecified()).then(|| address.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_event::Value;

    fn entity(kind: EntityKind, value: &str) -> Entity {
        Entity {
            kind,
            value: value.into(),
        }
    }

    #[test]
    fn users_lose_domain_and_case() {
        let e = |raw| Entity::normalised(EntityKind::User, raw);
        assert_eq!(e("CORP\\Alice"), Some(entity(EntityKind::User, "alice")));
        assert_eq!(
            e("alice@corp.example"),
            Some(entity(EntityKind::User, "alice"))
        );
        assert_eq!(e("NT AUTHORITY\\SYSTEM"), None);
        assert_eq!(e("LOCAL SERVICE"), None);
        assert_eq!(e("WS-042$"), None);
        assert_eq!(e("-"), None);
        assert_eq!(e("  "), None);
        assert_eq!(e("Window Manager\\DWM-1"), None);
    }

    #[test]
    fn addresses_are_canonical_and_loopback_is_skipped() {
        let e = |raw| Entity::normalised(EntityKind::SourceIp, raw);
        assert_eq!(
            e("::ffff:10.1.2.3"),
            Some(entity(EntityKind::SourceIp, "10.1.2.3"))
        );
        assert_eq!(
            e("[2001:db8::1]"),
            Some(entity(EntityKind::SourceIp, "2001:db8::1"))
        );
        assert_eq!(e("127.0.0.1"), None);
        assert_eq!(e("::1"), None);
        assert_eq!(e("-"), None);
        assert_eq!(e("not an address"), None);
    }

    #[test]
    fn hosts_lose_case_and_trailing_dot() {
        let e = |raw| Entity::normalised(EntityKind::Host, raw);
        assert_eq!(
            e("WS-042.corp.local."),
            Some(entity(EntityKind::Host, "ws-042.corp.local"))
        );
        assert_eq!(e("localhost"), None);
    }

    #[test]
    fn vendor_fields_name_hosts_by_short_name() {
        let mut event = Event::default();
        event.push("endpoint", "", Value::from("DT-0381"));
        event.push("target", "", Value::from("itadmin@DT-0382"));
        let found = extract_entities(&event);
        assert_eq!(
            found,
            vec![
                entity(EntityKind::Host, "dt-0381"),
                entity(EntityKind::Host, "dt-0382")
            ]
        );
        for not_a_host in [
            "jsmith@corp.example",
            "jump_client",
            "rep_client/login",
            "@",
            "x@",
        ] {
            let mut event = Event::default();
            event.push("target", "", Value::from(not_a_host));
            assert!(extract_entities(&event).is_empty(), "{not_a_host}");
        }
    }

    #[test]
    fn a_full_host_name_links_by_its_first_label() {
        let full = entity(EntityKind::Host, "dt-0381.corp.example");
        let short = entity(EntityKind::Host, "dt-0381");
        assert_eq!(full.link_key(), short);
        assert_eq!(short.link_key(), short);
        let address = entity(EntityKind::Host, "10.0.0.5");
        assert_eq!(address.link_key(), address);
        let user = entity(EntityKind::User, "a.b");
        assert_eq!(user.link_key(), user, "only hosts");
    }

    #[test]
    fn extracts_windows_and_remote_support_fields() {
        let mut event = Event::default();
        event.push("Event.System.Computer", "Computer", Value::from("DC01"));
        event.push(
            "Event.EventData.SubjectUserName",
            "SubjectUserName",
            Value::from("DC01$"),
        );
        event.push(
            "Event.EventData.TargetUserName",
            "TargetUserName",
            Value::from("bob"),
        );
        event.push(
            "Event.EventData.IpAddress",
            "IpAddress",
            Value::from("192.0.2.7"),
        );
        event.push("api_key_id", "", Value::from("K-123"));
        event.push("who_user", "", Value::from("Bob"));
        let found = extract_entities(&event);
        assert_eq!(
            found,
            vec![
                entity(EntityKind::Host, "dc01"),
                entity(EntityKind::User, "bob"),
                entity(EntityKind::ApiKey, "K-123"),
                entity(EntityKind::SourceIp, "192.0.2.7"),
            ]
        );
    }

    /// An appliance event as its decoder gives it.
    fn appliance(fields: &[(&str, &str)]) -> Event {
        let mut event = Event {
            logsource: Some(std::sync::Arc::new(tocsin_event::LogSource::new(
                "remote_support",
                "appliance",
            ))),
            ..Event::default()
        };
        for (name, value) in fields {
            event.push(name, "", Value::from(*value));
        }
        event
    }

    #[test]
    fn an_api_accounts_client_id_is_an_api_key_and_the_appliance_no_host() {
        let client = "473ce7e485fff0f7b4848850daf189e216a09ae1";
        let login = appliance(&[
            ("host", "rs-appliance-01"),
            ("event", "login"),
            (
                "who",
                "helpdesk-automation (473ce7e485fff0f7b4848850daf189e216a09ae1)",
            ),
            ("who_name", "helpdesk-automation"),
            ("who_user", client),
            ("who_ip", "203.0.113.9"),
        ]);
        assert_eq!(
            extract_entities(&login),
            vec![
                entity(EntityKind::ApiKey, client),
                entity(EntityKind::SourceIp, "203.0.113.9"),
            ],
            "no host rs-appliance-01, no user made of the whole `who`"
        );
        // The same `host` field names a host in other logs.
        let mut syslog = Event::default();
        syslog.push("host", "", Value::from("web-01"));
        assert_eq!(
            extract_entities(&syslog),
            vec![entity(EntityKind::Host, "web-01")]
        );
    }

    #[test]
    fn a_vault_account_names_its_host_and_sessions_name_theirs() {
        let vault = appliance(&[
            ("event", "account_changed"),
            ("name", "localadmin@WKS-0397"),
            ("who_user", "jsmith"),
        ]);
        assert_eq!(
            extract_entities(&vault),
            vec![
                entity(EntityKind::Host, "wks-0397"),
                entity(EntityKind::User, "jsmith"),
            ]
        );
        let other = appliance(&[("event", "user_changed"), ("name", "ops@team")]);
        assert!(
            extract_entities(&other).is_empty(),
            "only Vault accounts' names"
        );

        let mut session = Event::default();
        for (name, value) in [
            ("customer_hostname", "WS-0042"),
            ("customer_public_ip", "198.51.100.7:61606"),
            ("rep_id", "473ce7e485fff0f7b4848850daf189e216a09ae1"),
            ("rep_username", "helpdesk-automation"),
            ("user_id", "66"),
        ] {
            session.push(name, "", Value::from(value));
        }
        assert_eq!(
            extract_entities(&session),
            vec![
                entity(EntityKind::Host, "ws-0042"),
                entity(EntityKind::User, "helpdesk-automation"),
                entity(
                    EntityKind::ApiKey,
                    "473ce7e485fff0f7b4848850daf189e216a09ae1"
                ),
                entity(EntityKind::SourceIp, "198.51.100.7"),
            ],
            "a numeric representative id is no client id"
        );
    }

    #[test]
    fn addresses_keep_their_address_without_the_port() {
        let e = |raw| Entity::normalised(EntityKind::SourceIp, raw);
        assert_eq!(
            e("198.51.100.7:61606"),
            Some(entity(EntityKind::SourceIp, "198.51.100.7"))
        );
        assert_eq!(
            e("[2001:db8::1]:443"),
            Some(entity(EntityKind::SourceIp, "2001:db8::1"))
        );
        assert_eq!(
            e("2001:db8::1"),
            Some(entity(EntityKind::SourceIp, "2001:db8::1"))
        );
        assert_eq!(e("198.51.100.7:"), None);
    }
}
