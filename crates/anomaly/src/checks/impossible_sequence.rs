//! A principal used from two distant networks minutes apart.
//!
//! Compares each untrusted use with the previous untrusted use: when they are less than
//! `within_minutes` apart and their addresses differ in the first `distinct_prefix` bits
//! (/16; `distinct_prefix_v6`, /32, for IPv6; IPv4 against IPv6 always differs), one key
//! or account is in two places at once. Trusted (allow-listed) addresses never take part:
//! a representative hopping between the VPN and home is normal. Pairs of networks the
//! principal is known to switch between quickly (learned, at most 32) do not fire, so an
//! automation running from two data centres is learned, not reported. Level `high`; `low`
//! (context, not a reason for an incident) when both networks (as `new_network` groups
//! them) are ones the principal has used for more than a day: a representative switching
//! a VPN on at home is at both habitual places, where a stolen credential is at one
//! habitual place and one new one (which the new-network detector reports as well).

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

/// How long a principal must have known a network for a quick switch to it to be habitual.
const HABITUAL_MICROS: i64 = 24 * 3_600 * 1_000_000;

/// The check; `prefixes` are the new-network detector's (IPv4, IPv6) prefix lengths.
pub(crate) fn check(
    obs: &Observation<'_>,
    baseline: &PrincipalBaseline,
    config: &ImpossibleSequenceConfig,
    prefixes: (u8, u8),
) -> Option<Anomaly> {
    let (before, now) = quick_switch(obs, baseline, config)?;
    if baseline.knows_switch(before, now) {
        return None;
    }
    let last = baseline.last_use?;
    let habitual = |address| {
        network_of(address, prefixes.0, prefixes.1)
            .and_then(|net| baseline.network(&net))
            .is_some_and(|known| obs.at.saturating_sub(known.first_seen) > HABITUAL_MICROS)
    };
    let both_habitual = obs.address.is_some_and(habitual) && habitual(last.address);
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
    if both_habitual {
        let explanation = format!(
            "{explanation}; both are networks it has used for more than a day (a VPN switched on or off), so this is context"
        );
        return Some(obs.anomaly(
            AnomalyKind::ImpossibleSequence,
            Level::Low,
            title,
            explanation,
        ));
    }
    Some(obs.anomaly(
        AnomalyKind::ImpossibleSequence,
        Level::High,
        title,
        explanation,
    ))
}
