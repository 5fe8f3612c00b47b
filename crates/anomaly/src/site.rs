//! The site's own networks: where the site itself works from, learned from its history.
//!
//! An API key resetting local accounts is the intrusion when it comes from a hosting
//! network nobody at the site ever used, and an administrator's maintenance script when it
//! comes from the office egress every representative logs in from. Rules cannot tell the
//! two apart; the history can. A network (the /24 or /48 the new-network detector groups
//! addresses in) becomes one of the site's own once *successful* activity from it was seen
//! on [`SiteNetworksConfig::min_days`] distinct UTC days and from
//! [`SiteNetworksConfig::min_principals`] distinct principals. Failed attempts teach
//! nothing (a password spray from one network for weeks stays foreign), and one stolen key
//! used from its attacker's network for days does not make it the site's (one principal).
//!
//! Each network keeps the time it became the site's, so asking later about an earlier
//! moment gives the answer that moment had: a hunt that groups after reading everything
//! and a service that groups as it goes agree. Allow-listed networks (the new-network
//! detector's `allow`, private ranges by default) are the site's from the start.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::baseline::DAY_MICROS;
use crate::network::{is_allowed, network_of};

/// How the site's own networks are learned (`site_networks` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteNetworksConfig {
    /// Whether they are learned at all; when not, only allow-listed networks are the
    /// site's.
    pub enabled: bool,
    /// Distinct UTC days with successful activity from a network before it is the site's.
    pub min_days: u32,
    /// Distinct principals (keys, representatives) with successful activity from it.
    pub min_principals: u32,
    /// Networks still being learned that are remembered (the least recently seen is
    /// forgotten first); established networks are kept up to the same number.
    pub max_networks: usize,
}

impl Default for SiteNetworksConfig {
    fn default() -> Self {
        SiteNetworksConfig {
            enabled: true,
            min_days: 5,
            min_principals: 2,
            max_networks: 10_000,
        }
    }
}

/// What is known of a network that is not the site's yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
struct Candidate {
    /// Distinct UTC day numbers with successful activity, at most `min_days` of them.
    days: Vec<i64>,
    /// Distinct principals seen acting from it, at most `min_principals` of them.
    principals: Vec<String>,
    /// The last successful activity (microseconds), to forget the stalest first.
    last_seen: i64,
}

/// What, besides the learned networks, decides which addresses are the site's: saved with
/// them, so that a reader of a saved baseline (a regrouping) judges as the detectors that
/// learned them, whatever configuration it runs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SiteRules {
    /// `site_networks.enabled`: when off, no address is the site's.
    pub(crate) enabled: bool,
    /// The allow-list, the site's from the start.
    pub(crate) allow: Vec<IpNet>,
    /// The prefix lengths networks are grouped by (IPv4, IPv6).
    pub(crate) prefixes: (u8, u8),
}

/// The site's networks as learned so far, saved with the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct SiteHistory {
    /// Networks being learned.
    candidates: BTreeMap<IpNet, Candidate>,
    /// The site's networks, each with the time (microseconds) it became one.
    established: BTreeMap<IpNet, i64>,
    /// The rules they were learned under (in a saved baseline; absent from older ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rules: Option<SiteRules>,
}

impl SiteHistory {
    /// Learns one successful use of `network` at `at`, by a principal that vouches for it
    /// (`who`: one past its own learning period) or by one that does not yet (`None`: the
    /// day counts, the principal not); returns whether the network became the site's just
    /// now.
    pub(crate) fn learn(
        &mut self,
        network: IpNet,
        who: Option<&str>,
        at: i64,
        config: &SiteNetworksConfig,
    ) -> bool {
        if !config.enabled || self.established.contains_key(&network) {
            return false;
        }
        if !self.candidates.contains_key(&network) && self.candidates.len() >= config.max_networks {
            self.forget_stalest(config.max_networks);
        }
        let candidate = self.candidates.entry(network).or_default();
        candidate.last_seen = candidate.last_seen.max(at);
        let day = at.div_euclid(DAY_MICROS);
        if !candidate.days.contains(&day) && candidate.days.len() < config.min_days as usize {
            candidate.days.push(day);
        }
        if let Some(who) = who {
            if !candidate.principals.iter().any(|p| p == who)
                && candidate.principals.len() < config.min_principals as usize
            {
                candidate.principals.push(who.to_owned());
            }
        }
        let ready = candidate.days.len() >= config.min_days as usize
            && candidate.principals.len() >= config.min_principals as usize;
        if ready && self.established.len() < config.max_networks {
            self.candidates.remove(&network);
            self.established.insert(network, at);
            return true;
        }
        false
    }

    /// Makes room among the candidates: forgets the stalest tenth of `max` at once, so that
    /// a stream of new networks (a spray from many addresses) costs one sort per tenth, not
    /// a scan per network.
    fn forget_stalest(&mut self, max: usize) {
        let excess = self
            .candidates
            .len()
            .saturating_sub(max.saturating_sub(max / 10 + 1));
        let mut by_age: Vec<(i64, IpNet)> = self
            .candidates
            .iter()
            .map(|(net, candidate)| (candidate.last_seen, *net))
            .collect();
        by_age.sort_unstable();
        for (_, net) in by_age.into_iter().take(excess) {
            self.candidates.remove(&net);
        }
    }

    /// Keeps at most `max` candidates and `max` established networks (a baseline saved
    /// under a larger limit), forgetting the stalest candidates and the latest established.
    pub(crate) fn trim(&mut self, max: usize) {
        if self.candidates.len() > max {
            self.forget_stalest(max);
        }
        while self.established.len() > max {
            let latest = self
                .established
                .iter()
                .max_by_key(|(net, since)| (**since, **net))
                .map(|(net, _)| *net);
            match latest {
                Some(net) => self.established.remove(&net),
                None => break,
            };
        }
    }

    /// How many networks are the site's.
    pub(crate) fn established_count(&self) -> usize {
        self.established.len()
    }
}

/// The site's own networks at some moment of the history, to ask whether an address was
/// one of them at a given time (see the module documentation). Cheap to clone: it holds
/// only the established networks and the allow-list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SiteNetworks {
    established: BTreeMap<IpNet, i64>,
    allow: Vec<IpNet>,
    ipv4_prefix: u8,
    ipv6_prefix: u8,
}

impl SiteNetworks {
    /// The networks of `history` under `rules` (none at all when they are turned off).
    pub(crate) fn new(history: &SiteHistory, rules: &SiteRules) -> Self {
        if !rules.enabled {
            return SiteNetworks::default();
        }
        SiteNetworks {
            established: history.established.clone(),
            allow: rules.allow.clone(),
            ipv4_prefix: rules.prefixes.0,
            ipv6_prefix: rules.prefixes.1,
        }
    }

    /// Whether `address` was in one of the site's networks at `at_micros`: allow-listed, or
    /// in a network that had become the site's by then.
    pub fn was_familiar(&self, address: IpAddr, at_micros: i64) -> bool {
        let address = address.to_canonical();
        if is_allowed(&self.allow, address) {
            return true;
        }
        network_of(address, self.ipv4_prefix, self.ipv6_prefix)
            .and_then(|net| self.established.get(&net))
            .is_some_and(|&since| since <= at_micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().expect("network in test")
    }

    fn config() -> SiteNetworksConfig {
        SiteNetworksConfig {
            min_days: 3,
            min_principals: 2,
            ..SiteNetworksConfig::default()
        }
    }

    fn networks(history: &SiteHistory) -> SiteNetworks {
        let rules = SiteRules {
            enabled: true,
            allow: vec![net("10.0.0.0/8")],
            prefixes: (24, 48),
        };
        SiteNetworks::new(history, &rules)
    }

    #[test]
    fn a_network_is_the_sites_after_enough_days_and_principals() {
        let mut history = SiteHistory::default();
        let office = net("198.51.100.0/24");
        let config = config();
        assert!(!history.learn(office, Some("alice"), 0, &config));
        assert!(!history.learn(office, None, DAY_MICROS, &config));
        // Three days but one principal that vouches: not yet.
        assert!(!history.learn(office, Some("alice"), 2 * DAY_MICROS, &config));
        assert!(history.learn(office, Some("bob"), 2 * DAY_MICROS + 5, &config));
        let known = networks(&history);
        let address: IpAddr = "198.51.100.77".parse().expect("address");
        assert!(known.was_familiar(address, 2 * DAY_MICROS + 5));
        assert!(
            !known.was_familiar(address, 2 * DAY_MICROS + 4),
            "not before it was"
        );
        assert!(!known.was_familiar("198.51.101.1".parse().expect("address"), i64::MAX));
    }

    #[test]
    fn one_principal_over_many_days_never_makes_a_network_the_sites() {
        let mut history = SiteHistory::default();
        let hosting = net("203.0.113.0/24");
        for day in 0..30 {
            let at = day * DAY_MICROS;
            assert!(!history.learn(hosting, Some("stolen-key"), at, &config()));
            // A key it created, not past its own learning period, does not vouch.
            assert!(!history.learn(hosting, None, at + 1, &config()));
        }
        assert_eq!(history.established_count(), 0);
    }

    #[test]
    fn allow_listed_addresses_are_the_sites_from_the_start() {
        let known = networks(&SiteHistory::default());
        assert!(known.was_familiar("10.1.2.3".parse().expect("address"), 0));
        assert!(known.was_familiar("::ffff:10.1.2.3".parse().expect("address"), 0));
    }

    #[test]
    fn learning_can_be_turned_off() {
        let mut history = SiteHistory::default();
        let off = SiteNetworksConfig {
            enabled: false,
            ..config()
        };
        for day in 0..10 {
            let rep = format!("rep{day}");
            history.learn(net("198.51.100.0/24"), Some(&rep), day * DAY_MICROS, &off);
        }
        assert_eq!(history.established_count(), 0);
    }

    #[test]
    fn the_stalest_candidate_is_forgotten_for_room() {
        let mut history = SiteHistory::default();
        let small = SiteNetworksConfig {
            max_networks: 2,
            ..config()
        };
        history.learn(net("192.0.2.0/24"), Some("a"), 0, &small);
        history.learn(net("198.51.100.0/24"), Some("a"), 10, &small);
        history.learn(net("203.0.113.0/24"), Some("a"), 20, &small);
        assert!(history.candidates.len() <= 2);
        assert!(!history.candidates.contains_key(&net("192.0.2.0/24")));
        assert!(history.candidates.contains_key(&net("203.0.113.0/24")));
        // A baseline saved under a larger limit is trimmed to the smaller one.
        let mut big = SiteHistory::default();
        let roomy = SiteNetworksConfig {
            max_networks: 100,
            ..config()
        };
        for n in 0..50u8 {
            big.learn(
                net(&format!("10.{n}.0.0/24")),
                Some("a"),
                i64::from(n),
                &roomy,
            );
        }
        big.trim(10);
        assert!(big.candidates.len() <= 10);
        assert!(
            big.candidates.contains_key(&net("10.49.0.0/24")),
            "the freshest stay"
        );
    }
}
