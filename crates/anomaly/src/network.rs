//! Addresses to networks: grouping an address into its /24 (or /48), checking the
//! allow-list, and telling whether two addresses are far apart.

use std::net::IpAddr;

use ipnet::IpNet;

/// Parses an address as logged: plain IPv4/IPv6, with surrounding spaces or an IPv6 zone
/// (`fe80::1%eth0`) tolerated. IPv4-mapped IPv6 addresses (`::ffff:203.0.113.7`) are read
/// as IPv4 so that both spellings land in the same network.
pub(crate) fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text.split('%').next().unwrap_or(text);
    let text = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    let address: IpAddr = text.parse().ok()?;
    Some(address.to_canonical())
}

/// The network of `prefix_v4` / `prefix_v6` bits that holds `address`.
pub(crate) fn network_of(address: IpAddr, prefix_v4: u8, prefix_v6: u8) -> Option<IpNet> {
    let prefix = if address.is_ipv4() {
        prefix_v4
    } else {
        prefix_v6
    };
    IpNet::new(address, prefix).ok().map(|net| net.trunc())
}

/// Whether an allow-list holds `address`.
pub(crate) fn is_allowed(allow: &[IpNet], address: IpAddr) -> bool {
    allow.iter().any(|net| net.contains(&address))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        parse_address(text).expect("address in test")
    }

    #[test]
    fn parses_logged_spellings() {
        assert_eq!(ip(" 203.0.113.7 "), ip("203.0.113.7"));
        assert_eq!(ip("::ffff:203.0.113.7"), ip("203.0.113.7"));
        assert_eq!(ip("[2001:db8::1]"), ip("2001:db8::1"));
        assert_eq!(ip("fe80::1%eth0"), ip("fe80::1"));
        assert_eq!(parse_address("not-an-ip"), None);
        assert_eq!(parse_address(""), None);
    }

    #[test]
    fn groups_into_prefixes() {
        let v4 = network_of(ip("203.0.113.77"), 24, 48).expect("v4 net");
        assert_eq!(v4.to_string(), "203.0.113.0/24");
        let v6 = network_of(ip("2001:db8:abcd:12::5"), 24, 48).expect("v6 net");
        assert_eq!(v6.to_string(), "2001:db8:abcd::/48");
    }

    #[test]
    fn allow_list_covers_v4_and_v6() {
        let allow: Vec<IpNet> = ["10.0.0.0/8", "fc00::/7"]
            .iter()
            .map(|t| t.parse().expect("net"))
            .collect();
        assert!(is_allowed(&allow, ip("10.20.30.40")));
        assert!(is_allowed(&allow, ip("fd12:3456::1")));
        assert!(!is_allowed(&allow, ip("11.0.0.1")));
        assert!(!is_allowed(&allow, ip("2001:db8::1")));
    }
}
