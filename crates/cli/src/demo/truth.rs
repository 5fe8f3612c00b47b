//! The ground truth applied to decoded events: which events are the attacker's, so that
//! alerts can be scored as attack or false alarm and the first alert placed in the attack.
//!
//! An event is the attacker's when it comes at or after the key's first malicious use and
//! either carries an attacker address (`source_ip` in the API audit log, `who_ip` in the
//! appliance syslog), belongs to a support session the attacker opened (its `lsid`, in
//! the outbound events and session reports), or happened on a workstation the attacker
//! opened a session to, while the attacker was on it (from the first to the last attack
//! step on that host, password resets aside as they happen on the appliance). Ordinary
//! activity on those hosts in that window counts too: the figure is an upper bound, not a
//! forensic tally.

use std::collections::HashSet;
use std::sync::Arc;

use tocsin_demo::{GroundTruth, StepKind, Variant};
use tocsin_event::Event;

/// The fields that carry the caller's address in the vendor logs.
const ADDRESS_FIELDS: [&str; 2] = ["source_ip", "who_ip"];
/// The field that names a Windows event's computer.
const HOST_FIELD: &str = "Computer";
/// The field that names a support session in outbound events and session reports.
const SESSION_FIELD: &str = "lsid";

/// The attacker's footprint, ready to test events against.
#[derive(Debug, Clone)]
pub struct AttackFootprint {
    first_use_micros: i64,
    clock_micros: i64,
    addresses: HashSet<String>,
    sessions: HashSet<String>,
    /// Per attacked host (short name, lowercase): the attacker's first and last step.
    host_windows: Vec<(String, i64, i64)>,
}

/// Where an event came from: its source and record, as alerts' origins name it.
pub type EventKey = (Arc<str>, u64);

impl AttackFootprint {
    /// The footprint described by `truth`.
    pub fn new(truth: &GroundTruth) -> Self {
        let mut host_windows: Vec<(String, i64, i64)> = Vec::new();
        for step in &truth.steps {
            let Some(host) = &step.host else { continue };
            if step.kind == StepKind::PasswordReset {
                continue;
            }
            let host = host.to_lowercase();
            let at = step.time.timestamp_micros();
            match host_windows.iter_mut().find(|(name, _, _)| *name == host) {
                Some(window) => {
                    window.1 = window.1.min(at);
                    window.2 = window.2.max(at);
                }
                None => host_windows.push((host, at, at)),
            }
        }
        let first_use_micros = truth.first_malicious_use.timestamp_micros();
        // The stealthy intruder's key use looks like the integration's own: its detection
        // clock starts at the first password reset, the first act the integration never does.
        let clock_micros = match (truth.variant, truth.first_password_reset) {
            (Variant::Stealthy, Some(reset)) => reset.timestamp_micros(),
            _ => first_use_micros,
        };
        AttackFootprint {
            first_use_micros,
            clock_micros,
            addresses: truth.attacker_ips.iter().map(ToString::to_string).collect(),
            sessions: truth.attack_sessions.iter().cloned().collect(),
            host_windows,
        }
    }

    /// When the detection delay is counted from (microseconds): the key's first misuse, or
    /// in the stealthy variant the first password reset.
    pub fn clock_micros(&self) -> i64 {
        self.clock_micros
    }

    /// Whether `event` is the attacker's (see the module documentation).
    pub fn is_attacker_event(&self, event: &Event) -> bool {
        let Some(at) = event.timestamp_micros else {
            return false;
        };
        if at < self.first_use_micros {
            return false;
        }
        let from_attacker = ADDRESS_FIELDS.iter().any(|field| {
            event
                .text(field)
                .is_some_and(|address| self.addresses.contains(address.trim()))
        });
        let in_session = event
            .text(SESSION_FIELD)
            .is_some_and(|lsid| self.sessions.contains(lsid.trim()));
        from_attacker || in_session || self.on_attacked_host(event, at)
    }

    fn on_attacked_host(&self, event: &Event, at: i64) -> bool {
        if self.host_windows.is_empty() {
            return false;
        }
        let Some(computer) = event.text(HOST_FIELD) else {
            return false;
        };
        let short = computer
            .split('.')
            .next()
            .unwrap_or_default()
            .to_lowercase();
        self.host_windows
            .iter()
            .any(|(host, from, to)| *host == short && (*from..=*to).contains(&at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_demo::{DemoConfig, Scenario};
    use tocsin_event::Value;

    fn truth() -> GroundTruth {
        let config = DemoConfig {
            benign_days: 3,
            workstations: 20,
            representatives: 6,
            ..DemoConfig::new(11)
        };
        Scenario::generate(&config).truth
    }

    fn event(at: i64, fields: &[(&str, &str)]) -> Event {
        let mut event = Event {
            timestamp_micros: Some(at),
            ..Event::default()
        };
        for (name, value) in fields {
            event.push(name, name, Value::from(*value));
        }
        event
    }

    #[test]
    fn attacker_address_counts_only_after_first_use() {
        let truth = truth();
        let footprint = AttackFootprint::new(&truth);
        let first = truth.first_malicious_use.timestamp_micros();
        let address = truth.attacker_ips[0].to_string();
        assert!(footprint.is_attacker_event(&event(first, &[("source_ip", &address)])));
        assert!(footprint.is_attacker_event(&event(first + 1, &[("who_ip", &address)])));
        assert!(!footprint.is_attacker_event(&event(first - 1, &[("source_ip", &address)])));
        assert!(!footprint.is_attacker_event(&event(first, &[("source_ip", "10.1.2.3")])));
    }

    #[test]
    fn attacked_host_counts_only_while_the_attacker_is_on_it() {
        let truth = truth();
        let footprint = AttackFootprint::new(&truth);
        let step = truth
            .steps
            .iter()
            .find(|s| s.kind == StepKind::ShellSpawned)
            .expect("the attack opens a shell");
        let host = step.host.clone().unwrap_or_default();
        let at = step.time.timestamp_micros();
        let fqdn = format!("{host}.corp.example");
        assert!(footprint.is_attacker_event(&event(at, &[("Computer", &fqdn)])));
        assert!(!footprint.is_attacker_event(&event(at + 86_400_000_000, &[("Computer", &fqdn)])));
        assert!(!footprint.is_attacker_event(&event(at, &[("Computer", "OTHER-1.corp.example")])));
        assert!(!footprint.is_attacker_event(&Event::default()));
    }
}
