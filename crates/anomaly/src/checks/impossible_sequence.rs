//! A principal used from two distant networks minutes apart.
//!
//! Compares each untrusted use with the previous untrusted use: when they are less than
//! `within_minutes` apart and their addresses differ in the first `distinct_prefix` bits
//! (/16; `distinct_prefix_v6`, /32, for IPv6; IPv4 against IPv6 always differs), one key
//! or account is in two places at once. Trusted (allow-listed) addresses never take part:
//! a representative hopping between the VPN and home is normal. Pairs of networks the
//! principal is known to switch between quickly (learned, at most 32) do not fire, so an
//! automation running from two data centres is learned, not reported. Level `high`.

use ipnet::IpNet;

use crate::anomaly::{Anomaly, AnomalyKind, Level};
use crate::baseline::PrincipalBaseline;
use crate::checks::{days, format_time, Observation};
use crate::config::ImpossibleSequenceConfig;
use crate::network::network_of;

/// The two distant networks of a quick switch from the previous use to this one, if the
/// observation is one.
pub(crate) fn quick_switch(
    obs: &Observation<'_>,
    baseline: &PrincipalBaseline,
    config: &ImpossibleSequenceConfig,
) -> Option<(IpNet, IpNet)> {
    let address = obs.address.filter(|_| !obs.trusted)?;
    let last = baseline.last_use?;
    let gap = obs.at.checked_sub(last.at)?;
    if !(0..i64::from(config.within_minutes) * 60_000_000).contains(&gap) {
        return None;
    }
    let before = network_of(
        last.address,
        config.distinct_prefix,
        config.distinct_prefix_v6,
    )?;
    let now = network_of(address, config.distinct_prefix, config.distinct_prefix_v6)?;
    (before != now).then_some((before, now))
}

/// The check.
pub(crate) fn check(
    obs: &Observation<'_>,
    baseline: &PrincipalBaseline,
    config: &ImpossibleSequenceConfig,
) -> Option<Anomaly> {
    let (before, now) = quick_switch(obs, baseline, config)?;
    if baseline.knows_switch(before, now) {
        return None;
    }
    let last = baseline.last_use?;
    let minutes = obs.at.saturating_sub(last.at) / 60_000_000;
    let address = obs.address?;
    let title = format!("{} used from two distant networks minutes apart", obs.who());
    let explanation = format!(
        "{} used from {address} ({now}) at {}, {minutes} minutes after a use from {} ({before}); in {} it never switched between these networks within {} minutes",
        obs.who(),
        format_time(obs.at),
        last.address,
        days(baseline.days_known(obs.at)),
        config.within_minutes,
    );
    Some(obs.anomaly(
        AnomalyKind::ImpossibleSequence,
        Level::High,
        title,
        explanation,
    ))
}
