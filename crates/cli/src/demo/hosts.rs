//! Naming one workstation one way across logs. The endpoint logs name a host by its full
//! name (`DT-0381.corp.contoso.example`), the remote-support logs by its short name
//! (`endpoint=DT-0381` in the appliance syslog, `target: DT-0381` or
//! `target: itadmin@DT-0381` in the API audit log), which `tocsin-incident` does not read as
//! a host. So that an API key's password resets and sessions join the same incident as
//! what then happens on the workstation, alerts from the vendor logs get the host's full
//! name (as the endpoint logs gave it) as a host entity.

use std::collections::HashMap;

use tocsin_event::Event;
use tocsin_incident::{Alert, Entity, EntityKind};

/// The field that names a Windows event's computer.
const COMPUTER_FIELD: &str = "Computer";
/// The vendor fields that name a workstation (or an `account@HOST`).
const VENDOR_HOST_FIELDS: [&str; 2] = ["endpoint", "target"];

/// Full host names by lowercase short name, learned from the endpoint logs.
#[derive(Debug, Default)]
pub struct HostNames {
    by_short_name: HashMap<String, String>,
}

impl HostNames {
    /// Learns the computer names of `events`.
    pub fn learn<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut names = HostNames::default();
        for event in events {
            let Some(full) = event.text(COMPUTER_FIELD) else {
                continue;
            };
            let short = short_name(&full);
            if !short.is_empty() && short != full.to_lowercase() {
                names.by_short_name.entry(short).or_insert(full);
            }
        }
        names
    }

    /// Adds to `alert` the full name of every known host `event` names in a vendor field.
    pub fn link(&self, alert: &mut Alert, event: &Event) {
        for field in VENDOR_HOST_FIELDS {
            let Some(value) = event.text(field) else {
                continue;
            };
            let host = value.rsplit('@').next().unwrap_or_default();
            let Some(full) = self.by_short_name.get(&host.to_lowercase()) else {
                continue;
            };
            if let Some(entity) = Entity::normalised(EntityKind::Host, full) {
                if !alert.entities.contains(&entity) {
                    alert.entities.push(entity);
                }
            }
        }
    }
}

/// `dt-0381` for `DT-0381.corp.contoso.example`.
fn short_name(name: &str) -> String {
    name.split('.').next().unwrap_or_default().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_event::Value;
    use tocsin_incident::{AlertKind, AlertOrigin, Level, RuleRef};

    fn event(fields: &[(&str, &str)]) -> Event {
        let mut event = Event::default();
        for (name, value) in fields {
            event.push(name, name, Value::from(*value));
        }
        event
    }

    fn alert() -> Alert {
        let rule = RuleRef {
            id: "r".into(),
            title: "r".into(),
            level: Level::Medium,
            tags: Vec::new(),
            author: None,
        };
        Alert::new(
            AlertKind::Sigma,
            rule,
            AlertOrigin::default(),
            Some(0),
            Vec::new(),
            vec![],
        )
    }

    fn hosts(alert: &Alert) -> Vec<&str> {
        alert
            .entities
            .iter()
            .filter(|e| e.kind == EntityKind::Host)
            .map(|e| e.value.as_str())
            .collect()
    }

    #[test]
    fn vendor_short_names_get_the_endpoint_logs_full_name() {
        let windows = [event(&[("Computer", "DT-0381.corp.example")])];
        let names = HostNames::learn(&windows);
        let mut reset = alert();
        names.link(&mut reset, &event(&[("target", "itadmin@DT-0381")]));
        assert_eq!(hosts(&reset), ["dt-0381.corp.example"]);
        let mut session = alert();
        names.link(
            &mut session,
            &event(&[("endpoint", "dt-0381"), ("target", "DT-0381")]),
        );
        assert_eq!(hosts(&session), ["dt-0381.corp.example"], "added once");
    }

    #[test]
    fn unknown_hosts_and_directory_accounts_add_nothing() {
        let names = HostNames::learn(&[event(&[("Computer", "DT-0381.corp.example")])]);
        let mut other = alert();
        names.link(&mut other, &event(&[("target", "jsmith@corp.example")]));
        names.link(&mut other, &event(&[("endpoint", "PC-0001")]));
        assert!(hosts(&other).is_empty());
    }
}
