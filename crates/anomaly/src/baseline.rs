//! What is learned per principal, and how it is saved and restored.
//!
//! A [`PrincipalBaseline`] keeps, for one principal: when it was first and last seen and
//! how many events it had, the networks it used (each with first/last seen and a count, at
//! most `limits.max_networks`, the least recently seen forgotten first), how many uses came
//! from trusted (allow-listed) addresses, an hour-of-day and a weekday histogram (UTC), the
//! busiest window of sensitive actions seen while behaving normally, its last untrusted
//! address, and the quick network switches it is known to make. All of it is bounded.
//!
//! The whole state ([`BaselineDoc`]) is written as JSON with a `version` field; a
//! different version is refused with a clear error rather than misread.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::site::SiteHistory;

use crate::activity::WeeklyActivity;
use crate::config::Learning;
use crate::error::BaselineError;

/// The format version [`BaselineDoc`] is written with; bump it on any incompatible change.
pub(crate) const BASELINE_VERSION: u32 = 1;

/// Microseconds in a day.
pub(crate) const DAY_MICROS: i64 = 86_400_000_000;

/// Most remembered quick switches between distant networks per principal.
const MAX_SWITCHES: usize = 32;

/// Most recent event times held back from the activity histogram.
const MAX_RECENT: usize = 10_000;

/// Most sensitive actions remembered in one burst window.
const MAX_WINDOW: usize = 10_000;

/// Identifies a principal: its kind (`API key`) and its value (`k-7f3a29`).
pub(crate) type PrincipalKey = (String, String);

/// How one network was used by a principal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NetworkUse {
    /// The network (`203.0.113.0/24`).
    pub network: IpNet,
    /// First use, microseconds since the epoch.
    pub first_seen: i64,
    /// Last use, microseconds since the epoch.
    pub last_seen: i64,
    /// Uses.
    pub count: u64,
}

/// The last use of a principal from an untrusted address.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct LastUse {
    /// The address.
    pub address: IpAddr,
    /// When, microseconds since the epoch.
    pub at: i64,
}

/// What is learned about one principal.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub(crate) struct PrincipalBaseline {
    /// First event, microseconds since the epoch.
    pub first_seen: i64,
    /// Latest event, microseconds since the epoch.
    pub last_seen: i64,
    /// Events seen.
    pub events: u64,
    /// Whether the principal first appeared after the global learning period.
    pub appeared_late: bool,
    /// Whether the new-principal anomaly was raised already.
    pub announced: bool,
    /// Networks used from untrusted addresses.
    pub networks: Vec<NetworkUse>,
    /// Uses from allow-listed addresses.
    pub trusted_events: u64,
    /// Events per UTC hour of the week, up to a day ago.
    pub activity: WeeklyActivity,
    /// Times of the events of the last day, not yet in `activity`.
    pub recent: VecDeque<i64>,
    /// Sensitive actions seen.
    pub sensitive_events: u64,
    /// The most sensitive actions seen in one window while not bursting.
    pub max_window_count: u64,
    /// The last untrusted use.
    pub last_use: Option<LastUse>,
    /// Pairs of distant networks the principal is known to switch between quickly
    /// (each pair ordered, oldest first).
    pub switches: Vec<(IpNet, IpNet)>,
    /// The current window of sensitive actions (time, action). Not saved: it spans
    /// minutes, and a restart only loses the current window.
    #[serde(skip)]
    pub window: VecDeque<(i64, String)>,
    /// The largest window of the current episode. Not saved, like the window.
    #[serde(skip)]
    pub episode_peak: u64,
}

impl PrincipalBaseline {
    /// A baseline for a principal first seen at `at`.
    pub(crate) fn new(at: i64, appeared_late: bool) -> Self {
        Self {
            first_seen: at,
            last_seen: at,
            appeared_late,
            ..Self::default()
        }
    }

    /// Whether the principal has been learned long enough to raise anomalies at `now`.
    pub(crate) fn is_learned(&self, now: i64, learning: &Learning) -> bool {
        self.events >= learning.min_events
            && now.saturating_sub(self.first_seen) >= i64::from(learning.days) * DAY_MICROS
    }

    /// Whole days between the first event and `now`.
    pub(crate) fn days_known(&self, now: i64) -> i64 {
        now.saturating_sub(self.first_seen).max(0) / DAY_MICROS
    }

    /// The known use of `network`, if any.
    pub(crate) fn network(&self, network: &IpNet) -> Option<&NetworkUse> {
        self.networks.iter().find(|n| n.network == *network)
    }

    /// Whether some known network lies inside `wider`.
    pub(crate) fn knows_within(&self, wider: &IpNet) -> bool {
        self.networks
            .iter()
            .any(|n| wider.contains(&n.network.network()))
    }

    /// Records a use of `network` at `at`, forgetting the least recently used network
    /// when more than `max_networks` are known.
    pub(crate) fn record_network(&mut self, network: IpNet, at: i64, max_networks: usize) {
        if let Some(known) = self.networks.iter_mut().find(|n| n.network == network) {
            known.last_seen = known.last_seen.max(at);
            known.count = known.count.saturating_add(1);
            return;
        }
        self.networks.push(NetworkUse {
            network,
            first_seen: at,
            last_seen: at,
            count: 1,
        });
        self.trim_networks(max_networks);
    }

    /// Forgets the least recently used networks beyond `max_networks`.
    pub(crate) fn trim_networks(&mut self, max_networks: usize) {
        while self.networks.len() > max_networks {
            let oldest = self
                .networks
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| n.last_seen)
                .map(|(i, _)| i);
            match oldest {
                Some(index) => self.networks.swap_remove(index),
                None => break,
            };
        }
    }

    /// Holds the event at `at` back for a day, then counts it in the activity histogram:
    /// the hours of today's events (an attacker's preamble among them) must not make
    /// today's hour look usual before it is judged.
    pub(crate) fn settle_activity(&mut self, at: i64) {
        self.recent.push_back(at);
        while let Some(&oldest) = self.recent.front() {
            if at.saturating_sub(oldest) < DAY_MICROS && self.recent.len() <= MAX_RECENT {
                break;
            }
            self.activity.record(oldest);
            self.recent.pop_front();
        }
    }

    /// Whether the principal is known to switch quickly between `a` and `b`.
    pub(crate) fn knows_switch(&self, a: IpNet, b: IpNet) -> bool {
        let pair = ordered(a, b);
        self.switches.contains(&pair)
    }

    /// Remembers a quick switch between `a` and `b`.
    pub(crate) fn record_switch(&mut self, a: IpNet, b: IpNet) {
        let pair = ordered(a, b);
        if self.switches.contains(&pair) {
            return;
        }
        if self.switches.len() >= MAX_SWITCHES {
            self.switches.remove(0);
        }
        self.switches.push(pair);
    }

    /// Adds a sensitive action at `at` to the window, after dropping those older than
    /// `window_micros`. Returns how many the window holds, and the peak of the previous
    /// episode (a run of windows without a quiet gap) when this action starts a new one.
    pub(crate) fn push_window(
        &mut self,
        at: i64,
        action: &str,
        window_micros: i64,
    ) -> (u64, Option<u64>) {
        while self
            .window
            .front()
            .is_some_and(|(t, _)| at.saturating_sub(*t) >= window_micros)
        {
            self.window.pop_front();
        }
        let finished = (self.window.is_empty() && self.episode_peak > 0)
            .then(|| std::mem::take(&mut self.episode_peak));
        self.window.push_back((at, action.to_owned()));
        if self.window.len() > MAX_WINDOW {
            self.window.pop_front();
        }
        let count = self.window.len() as u64;
        self.episode_peak = self.episode_peak.max(count);
        (count, finished)
    }
}

fn ordered(a: IpNet, b: IpNet) -> (IpNet, IpNet) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// One principal in the saved document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PrincipalRecord {
    kind: String,
    principal: String,
    baseline: PrincipalBaseline,
}

/// The saved state of a detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct BaselineDoc {
    version: u32,
    started: Option<i64>,
    principals: Vec<PrincipalRecord>,
    /// The site's own networks (absent from baselines saved before they were learned).
    #[serde(default)]
    site: SiteHistory,
}

/// Serializes the state: when the detector saw its first event, and every principal.
pub(crate) fn save(
    started: Option<i64>,
    principals: &HashMap<PrincipalKey, PrincipalBaseline>,
    site: &SiteHistory,
) -> Result<Vec<u8>, BaselineError> {
    let mut records: Vec<PrincipalRecord> = principals
        .iter()
        .map(|((kind, principal), baseline)| PrincipalRecord {
            kind: kind.clone(),
            principal: principal.clone(),
            baseline: baseline.clone(),
        })
        .collect();
    records.sort_by(|a, b| (&a.kind, &a.principal).cmp(&(&b.kind, &b.principal)));
    let doc = BaselineDoc {
        version: BASELINE_VERSION,
        started,
        principals: records,
        site: site.clone(),
    };
    Ok(serde_json::to_vec(&doc)?)
}

/// The version field alone, read first so that a future format is refused by version
/// rather than by a confusing field error.
#[derive(Deserialize)]
struct VersionOnly {
    version: u32,
}

/// What [`load`] restores: when the detector saw its first event, every principal, and
/// the site's networks.
pub(crate) type Restored = (
    Option<i64>,
    HashMap<PrincipalKey, PrincipalBaseline>,
    SiteHistory,
);

/// Restores a state written by [`save`].
pub(crate) fn load(bytes: &[u8]) -> Result<Restored, BaselineError> {
    let VersionOnly { version } = serde_json::from_slice(bytes)?;
    if version != BASELINE_VERSION {
        return Err(BaselineError::Version {
            found: version,
            expected: BASELINE_VERSION,
        });
    }
    let doc: BaselineDoc = serde_json::from_slice(bytes)?;
    if let Some(bad) = doc
        .principals
        .iter()
        .find(|r| !r.baseline.activity.is_valid())
    {
        return Err(BaselineError::Invalid(format!(
            "{} {}: the activity histogram does not have 168 hours",
            bad.kind, bad.principal
        )));
    }
    let principals = doc
        .principals
        .into_iter()
        .map(|r| ((r.kind, r.principal), r.baseline))
        .collect();
    Ok((doc.started, principals, doc.site))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().expect("network in test")
    }

    #[test]
    fn learned_needs_both_days_and_events() {
        let learning = Learning {
            days: 7,
            min_events: 3,
        };
        let mut b = PrincipalBaseline::new(0, false);
        b.events = 3;
        assert!(!b.is_learned(6 * DAY_MICROS, &learning));
        assert!(b.is_learned(7 * DAY_MICROS, &learning));
        b.events = 2;
        assert!(!b.is_learned(30 * DAY_MICROS, &learning));
    }

    #[test]
    fn networks_are_capped_forgetting_the_least_recent() {
        let mut b = PrincipalBaseline::new(0, false);
        b.record_network(net("198.51.100.0/24"), 10, 2);
        b.record_network(net("203.0.113.0/24"), 5, 2);
        b.record_network(net("198.51.100.0/24"), 20, 2);
        b.record_network(net("192.0.2.0/24"), 30, 2);
        let kept: Vec<String> = b.networks.iter().map(|n| n.network.to_string()).collect();
        assert_eq!(kept.len(), 2);
        assert!(kept.contains(&"198.51.100.0/24".to_owned()));
        assert!(kept.contains(&"192.0.2.0/24".to_owned()));
        assert_eq!(b.network(&net("198.51.100.0/24")).map(|n| n.count), Some(2));
    }

    #[test]
    fn activity_is_counted_a_day_late() {
        let mut b = PrincipalBaseline::new(0, false);
        b.settle_activity(0);
        b.settle_activity(DAY_MICROS / 2);
        assert_eq!(b.activity.total(), 0);
        b.settle_activity(DAY_MICROS);
        assert_eq!(b.activity.total(), 1);
        assert_eq!(b.recent.len(), 2);
    }

    #[test]
    fn window_slides() {
        let mut b = PrincipalBaseline::new(0, false);
        assert_eq!(b.push_window(0, "a", 100), (1, None));
        assert_eq!(b.push_window(50, "a", 100), (2, None));
        assert_eq!(
            b.push_window(100, "a", 100),
            (2, None),
            "the first one left"
        );
        assert_eq!(
            b.push_window(300, "a", 100),
            (1, Some(2)),
            "a quiet gap ends it"
        );
        assert_eq!(b.push_window(350, "a", 100), (2, None));
    }

    #[test]
    fn switches_are_unordered_and_bounded() {
        let mut b = PrincipalBaseline::new(0, false);
        b.record_switch(net("203.0.0.0/16"), net("198.51.0.0/16"));
        assert!(b.knows_switch(net("198.51.0.0/16"), net("203.0.0.0/16")));
        for i in 0..40u8 {
            b.record_switch(net(&format!("1.{i}.0.0/16")), net("2.0.0.0/16"));
        }
        assert_eq!(b.switches.len(), MAX_SWITCHES);
        assert!(!b.knows_switch(net("198.51.0.0/16"), net("203.0.0.0/16")));
    }

    #[test]
    fn wrong_version_is_refused() {
        let err =
            load(br#"{"version": 99, "started": null, "principals": []}"#).expect_err("version 99");
        assert!(matches!(
            err,
            BaselineError::Version {
                found: 99,
                expected: 1
            }
        ));
        assert!(err.to_string().contains("version 99"));
        assert!(matches!(
            load(b"not json"),
            Err(BaselineError::Malformed(_))
        ));
        assert!(matches!(
            load(br#"{"version": 1}"#),
            Err(BaselineError::Malformed(_))
        ));
    }
}
