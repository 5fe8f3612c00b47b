//! First use from a network never seen for the principal.
//!
//! Fires when a learned principal uses an untrusted address whose network (/24, /48 by
//! default) is not in its baseline. Level: `high` when the first use is a sensitive
//! action, `medium` otherwise, and `low` when the network sits inside a wider network
//! (`impossible_sequence.distinct_prefix`, /16) the principal already used (dynamic
//! addresses of the same provider), so a home address that changes does not raise an
//! incident by itself. The network is then learned, so it fires once per network.

use ipnet::IpNet;

use crate::anomaly::{Anomaly, AnomalyKind, Level};
use crate::baseline::PrincipalBaseline;
use crate::checks::{days, format_time, Observation};

/// Most known networks an explanation lists.
const LISTED: usize = 3;

/// The check; `wider` is the observation's network at the impossible-sequence prefix.
pub(crate) fn check(
    obs: &Observation<'_>,
    baseline: &PrincipalBaseline,
    wider: Option<IpNet>,
) -> Option<Anomaly> {
    let network = obs.network?;
    if baseline.network(&network).is_some() {
        return None;
    }
    let near_known = wider.is_some_and(|w| baseline.knows_within(&w));
    let level = if near_known {
        Level::Low
    } else if obs.sensitive {
        Level::High
    } else {
        Level::Medium
    };
    let address = obs.address.map(|a| format!(" ({a})")).unwrap_or_default();
    let title = format!("{} used from a new network", obs.who());
    let mut explanation = format!(
        "{} used from {network}{address} for the first time, for {}; in {} and {} events it was seen only from {}",
        obs.who(),
        obs.action_text(),
        days(baseline.days_known(obs.at)),
        baseline.events,
        known_networks(baseline),
    );
    if near_known {
        if let Some(w) = wider {
            explanation.push_str(&format!("; other addresses in {w} are known"));
        }
    }
    Some(obs.anomaly(AnomalyKind::NewNetwork, level, title, explanation))
}

/// `198.51.100.0/24 (320 uses, last 2024-12-01 22:10 UTC), trusted networks (20 uses)`.
fn known_networks(baseline: &PrincipalBaseline) -> String {
    let mut networks: Vec<_> = baseline.networks.iter().collect();
    networks.sort_by(|a, b| b.count.cmp(&a.count).then(a.network.cmp(&b.network)));
    let mut parts: Vec<String> = networks
        .iter()
        .take(LISTED)
        .map(|n| {
            format!(
                "{} ({} uses, last {})",
                n.network,
                n.count,
                format_time(n.last_seen)
            )
        })
        .collect();
    if networks.len() > LISTED {
        let others = networks.len() - LISTED;
        let plural = if others == 1 { "" } else { "s" };
        parts.push(format!("{others} other network{plural}"));
    }
    if baseline.trusted_events > 0 {
        parts.push(format!(
            "trusted networks ({} uses)",
            baseline.trusted_events
        ));
    }
    if parts.is_empty() {
        return "no address at all".to_owned();
    }
    parts.join(", ")
}
