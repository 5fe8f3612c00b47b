//! Which STIX patterns can be judged on one event, and what they become: alternatives
//! (an OR of observations, and the ORs inside one) of conjunctions of [`Atom`]s, every
//! atom of a conjunction to be met by the same event. Everything else (several
//! observations that must all be seen, `FOLLOWEDBY`, qualifiers, negations, paths tocsin
//! does not find in logs) is refused with a reason the caller prints.

use std::net::IpAddr;

use crate::pattern::{Comparison, Literal, Observation, Operator, Qualifier, Test};

/// The most alternatives one pattern may expand into.
pub const MAX_ALTERNATIVES: usize = 64;

/// The most atoms one alternative may hold.
pub const MAX_ATOMS: usize = 64;

/// One condition on a value of the event.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    /// A token equal to one of these keys.
    Keys(Vec<Key>),
    /// A whole value (or its last path component) matching this regular expression.
    Regex(String),
}

/// A value to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// Text compared without ASCII case (domains, hashes, accounts, file and process
    /// names, e-mail addresses), stored lower-cased.
    Folded(String),
    /// Text compared exactly (URLs, command lines).
    Exact(String),
    /// An address.
    Ip(IpAddr),
    /// An address block: the masked network and its prefix length.
    Net(IpAddr, u8),
}

/// A pattern's alternatives, each a conjunction of atoms.
pub type Alternatives = Vec<Vec<Atom>>;

/// How values of an object path compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Address,
    Folded,
    Exact,
}

/// The alternatives of a pattern, or why it cannot be judged on one event.
pub fn compile(observation: &Observation) -> Result<Alternatives, String> {
    match observation {
        Observation::Single(comparison) => comparison_dnf(comparison),
        Observation::Or(parts) => {
            let mut out = Vec::new();
            for part in parts {
                out.extend(compile(part)?);
                bounded(&out)?;
            }
            Ok(out)
        }
        Observation::And(_) => {
            Err("AND of observations needs several observations (not one event)".into())
        }
        Observation::FollowedBy(_) => Err("FOLLOWEDBY needs a sequence of events".into()),
        Observation::Qualified(_, qualifier) => Err(format!(
            "the qualifier {} needs several events or a time window",
            match qualifier {
                Qualifier::Within(_) => "WITHIN",
                Qualifier::Repeats(_) => "REPEATS",
                Qualifier::StartStop(..) => "START/STOP",
            }
        )),
    }
}

fn bounded(alternatives: &Alternatives) -> Result<(), String> {
    match alternatives.len() > MAX_ALTERNATIVES {
        true => Err(format!("more than {MAX_ALTERNATIVES} alternatives")),
        false => Ok(()),
    }
}

/// A comparison expression in disjunctive normal form.
fn comparison_dnf(comparison: &Comparison) -> Result<Alternatives, String> {
    match comparison {
        Comparison::Test(test) => Ok(vec![vec![atom(test)?]]),
        Comparison::Or(parts) => {
            let mut out = Vec::new();
            for part in parts {
                out.extend(comparison_dnf(part)?);
                bounded(&out)?;
            }
            Ok(out)
        }
        Comparison::And(parts) => {
            let mut out: Alternatives = vec![Vec::new()];
            for part in parts {
                let right = comparison_dnf(part)?;
                if out.len().saturating_mul(right.len()) > MAX_ALTERNATIVES {
                    return Err(format!("more than {MAX_ALTERNATIVES} alternatives"));
                }
                out = product(&out, &right)?;
            }
            Ok(out)
        }
    }
}

fn product(left: &Alternatives, right: &Alternatives) -> Result<Alternatives, String> {
    let mut out = Vec::with_capacity(left.len() * right.len());
    for l in left {
        for r in right {
            if l.len() + r.len() > MAX_ATOMS {
                return Err(format!(
                    "more than {MAX_ATOMS} comparisons in one observation"
                ));
            }
            out.push(l.iter().chain(r).cloned().collect());
        }
    }
    Ok(out)
}

/// The kind of the values of a path tocsin finds in logs.
fn kind(test: &Test) -> Option<Kind> {
    let properties = test.path.properties()?;
    let object = test.path.object_type.as_str();
    match (object, properties.as_slice()) {
        ("ipv4-addr" | "ipv6-addr", ["value"]) => Some(Kind::Address),
        ("domain-name" | "email-addr", ["value"]) => Some(Kind::Folded),
        ("url", ["value"]) => Some(Kind::Exact),
        ("file", ["hashes", algorithm]) if is_hash(algorithm) => Some(Kind::Folded),
        ("file", ["name"]) => Some(Kind::Folded),
        ("user-account", ["user_id" | "account_login" | "display_name"]) => Some(Kind::Folded),
        ("process", ["name"]) => Some(Kind::Folded),
        ("process", ["command_line"]) => Some(Kind::Exact),
        _ => None,
    }
}

/// MD5, SHA-1, SHA-256, SHA-512 (also written without the hyphen, in any case).
fn is_hash(algorithm: &str) -> bool {
    let name = algorithm.replace('-', "").to_ascii_uppercase();
    matches!(name.as_str(), "MD5" | "SHA1" | "SHA256" | "SHA512")
}

/// The atom of one test.
fn atom(test: &Test) -> Result<Atom, String> {
    let Some(kind) = kind(test) else {
        return Err(format!("{} is not matched in logs", test.path));
    };
    if test.negated {
        return Err(format!("NOT on {} cannot be judged from tokens", test.path));
    }
    match test.operator {
        Operator::Eq | Operator::In => test
            .values
            .iter()
            .map(|value| key(kind, value, false))
            .collect::<Result<_, _>>()
            .map(Atom::Keys),
        Operator::IsSubset if kind == Kind::Address => {
            let [value] = test.values.as_slice() else {
                return Err("ISSUBSET takes one block".into());
            };
            key(kind, value, true).map(|key| Atom::Keys(vec![key]))
        }
        Operator::Like => like(kind, &test.values).and_then(narrow).map(Atom::Regex),
        Operator::Matches if kind != Kind::Address => matches(kind, &test.values)
            .and_then(narrow)
            .map(Atom::Regex),
        other => Err(format!("{other:?} on {} is not matched", test.path)),
    }
}

/// The key of a literal compared with `kind` values; `block` requires a CIDR block.
fn key(kind: Kind, value: &Literal, block: bool) -> Result<Key, String> {
    let Literal::Str(text) = value else {
        return Err(format!("{value:?} is not a string"));
    };
    let text = text.trim();
    match kind {
        Kind::Address => address(text, block),
        Kind::Folded => Ok(Key::Folded(fold(text))),
        Kind::Exact => Ok(Key::Exact(text.to_owned())),
    }
}

/// Text as folded keys are stored: ASCII lower case, without a DNS root dot.
pub fn fold(text: &str) -> String {
    let text = text.strip_suffix('.').unwrap_or(text);
    text.to_ascii_lowercase()
}

/// An address or a CIDR block (a full-length block is an address).
fn address(text: &str, block: bool) -> Result<Key, String> {
    let invalid = || format!("{text:?} is not an address or block");
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix.parse::<u8>().map_err(|_| invalid())?)),
        None if block => return Err(format!("{text:?} is not a CIDR block")),
        None => (text, None),
    };
    let address: IpAddr = address.parse().map_err(|_| invalid())?;
    let address = address.to_canonical();
    let full = if address.is_ipv4() { 32 } else { 128 };
    match prefix {
        None => Ok(Key::Ip(address)),
        Some(p) if p > full => Err(invalid()),
        Some(p) if p == full => Ok(Key::Ip(address)),
        Some(p)
            if p < if full == 32 {
                MIN_PREFIX_V4
            } else {
                MIN_PREFIX_V6
            } =>
        {
            Err(format!(
                "{text:?} covers too much of the address space to be an indicator \
             (the shortest blocks taken are /{MIN_PREFIX_V4} and /{MIN_PREFIX_V6})"
            ))
        }
        Some(p) => Ok(Key::Net(mask(address, p), p)),
    }
}

/// The shortest IPv4 block an indicator may name: a shorter one (`0.0.0.0/0`) would make
/// every event a detection.
pub const MIN_PREFIX_V4: u8 = 8;
/// The shortest IPv6 block an indicator may name.
pub const MIN_PREFIX_V6: u8 = 32;

/// Values no real indicator's expression matches: one that matches them (`.*`, `.`,
/// `LIKE '%'`) would make every field a detection.
const UNRELATED_PROBES: [&str; 3] = ["", "x", "tocsin probe 0"];

/// `pattern` when it is narrow enough to be an indicator: it must compile, and must not
/// match text that names nothing.
fn narrow(pattern: String) -> Result<String, String> {
    let regex = regex::RegexBuilder::new(&pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|error| format!("the regular expression cannot be used: {error}"))?;
    match UNRELATED_PROBES.iter().find(|probe| regex.is_match(probe)) {
        Some(probe) => Err(format!(
            "the regular expression matches {probe:?}, so it would match nearly every value"
        )),
        None => Ok(pattern),
    }
}

/// `address` with all but its first `prefix` bits cleared.
pub fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & kept).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & kept).into())
        }
    }
}

/// A LIKE pattern as an anchored regular expression (`%` any text, `_` one character).
fn like(kind: Kind, values: &[Literal]) -> Result<String, String> {
    let [Literal::Str(text)] = values else {
        return Err("LIKE takes one string".into());
    };
    let mut out = String::from(if kind == Kind::Folded {
        "(?is)^"
    } else {
        "(?s)^"
    });
    for c in text.chars() {
        match c {
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    out.push('$');
    Ok(out)
}

/// A MATCHES expression, case-insensitive for folded kinds.
fn matches(kind: Kind, values: &[Literal]) -> Result<String, String> {
    let [Literal::Str(text)] = values else {
        return Err("MATCHES takes one string".into());
    };
    Ok(match kind {
        Kind::Folded => format!("(?i:{text})"),
        _ => text.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::parse;

    fn check(pattern: &str) -> Result<Alternatives, String> {
        compile(&parse(pattern).unwrap())
    }

    #[test]
    fn one_event_patterns_compile() {
        let alternatives = check("[ipv4-addr:value = '203.0.113.9'] OR [ipv4-addr:value ISSUBSET '198.51.100.7/24' OR ipv6-addr:value IN ('::ffff:192.0.2.1', '2001:db8::/32')]").unwrap();
        assert_eq!(alternatives.len(), 3);
        assert_eq!(
            alternatives[1],
            [Atom::Keys(vec![Key::Net(
                "198.51.100.0".parse().unwrap(),
                24
            )])]
        );
        assert_eq!(
            alternatives[2],
            [Atom::Keys(vec![
                Key::Ip("192.0.2.1".parse().unwrap()),
                Key::Net("2001:db8::".parse().unwrap(), 32)
            ])]
        );
        let both = check("[file:hashes.'SHA-256' = 'AB' AND (file:name = 'X.exe' OR process:command_line = 'x y')]").unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(
            both[0],
            [
                Atom::Keys(vec![Key::Folded("ab".into())]),
                Atom::Keys(vec![Key::Folded("x.exe".into())])
            ]
        );
        assert_eq!(
            check("[process:name LIKE 'mal_%.exe']").unwrap(),
            [[Atom::Regex("(?is)^mal..*\\.exe$".into())]]
        );
    }

    #[test]
    fn what_needs_more_than_one_event_is_refused_with_a_reason() {
        for (pattern, reason) in [
            (
                "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.5']",
                "FOLLOWEDBY",
            ),
            (
                "[ipv4-addr:value = '1.2.3.4'] AND [ipv4-addr:value = '1.2.3.5']",
                "AND of observations",
            ),
            ("[ipv4-addr:value = '1.2.3.4'] REPEATS 2 TIMES", "REPEATS"),
            (
                "[network-traffic:dst_port = 80]",
                "network-traffic:dst_port is not matched",
            ),
            ("[ipv4-addr:value != '1.2.3.4']", "Ne"),
            ("[ipv4-addr:value NOT = '1.2.3.4']", "NOT"),
            ("[ipv4-addr:value = 'nonsense']", "not an address"),
            ("[ipv4-addr:value ISSUBSET '1.2.3.4']", "not a CIDR block"),
            ("[file:hashes.TLSH = 'x']", "is not matched"),
            (
                "[ipv4-addr:value ISSUBSET '0.0.0.0/0']",
                "too much of the address space",
            ),
            (
                "[ipv6-addr:value ISSUBSET '2001:db8::/16']",
                "too much of the address space",
            ),
            ("[process:name LIKE '%']", "would match nearly every value"),
            (
                "[domain-name:value MATCHES '.']",
                "would match nearly every value",
            ),
            ("[url:value MATCHES '(']", "cannot be used"),
        ] {
            let error = check(pattern).unwrap_err();
            assert!(error.contains(reason), "{pattern}: {error}");
        }
    }

    #[test]
    fn expansion_is_bounded() {
        let ors = (0..9)
            .map(|i| format!("(file:name = '{i}a' OR file:name = '{i}b')"))
            .collect::<Vec<_>>()
            .join(" AND ");
        assert!(check(&format!("[{ors}]"))
            .unwrap_err()
            .contains("alternatives"));
    }
}
