//! Tests of the matcher: tokens of field values looked up against the compiled
//! indicators, addresses and blocks, regular expressions.

use super::*;
use crate::compile::compile;
use crate::pattern::parse;

fn matcher(patterns: &[&str]) -> Matcher {
    let mut matcher = Matcher::default();
    for pattern in patterns {
        let alternatives = compile(&parse(pattern).unwrap()).unwrap();
        matcher.add(&alternatives).unwrap();
    }
    matcher.finish().unwrap();
    matcher
}

fn event(fields: &[(&str, Value)]) -> Event {
    let mut event = Event::default();
    for (name, value) in fields {
        event.push(name, "", value.clone());
    }
    event
}

fn hits(matcher: &Matcher, fields: &[(&str, Value)]) -> Vec<(usize, String, String)> {
    let event = event(fields);
    matcher
        .matches(&event)
        .into_iter()
        .map(|hit| (hit.indicator, hit.field.to_owned(), hit.value))
        .collect()
}

fn text(value: &str) -> Value {
    Value::from(value)
}

#[test]
fn addresses_match_however_they_are_written() {
    let m = matcher(&[
        "[ipv4-addr:value = '203.0.113.9']",
        "[ipv4-addr:value ISSUBSET '198.51.100.0/24']",
        "[ipv6-addr:value = '2001:db8::1']",
    ]);
    for (value, indicator) in [
        ("203.0.113.9", 0),
        ("::ffff:203.0.113.9", 0),
        ("203.0.113.9:443", 0),
        ("connect to 203.0.113.9 now", 0),
        ("198.51.100.77", 1),
        ("[2001:db8::1]:8443", 2),
        ("2001:DB8:0::1", 2),
    ] {
        let found = hits(&m, &[("ip", text(value))]);
        assert_eq!(found.len(), 1, "{value}: {found:?}");
        assert_eq!(found[0].0, indicator, "{value}");
        assert_eq!(found[0].1, "ip");
    }
    assert!(hits(&m, &[("ip", text("203.0.113.90"))]).is_empty());
    assert!(hits(&m, &[("ip", text("198.51.101.1"))]).is_empty());
}

#[test]
fn hashes_accounts_and_domains_ignore_case_and_delimiters() {
    let m = matcher(&[
        "[file:hashes.'SHA-256' = 'AABBCC']",
        "[user-account:user_id = 'alice']",
        "[domain-name:value = 'Evil.Example']",
        "[user-account:account_login = 'CORP\\\\bob']",
        "[user-account:user_id = '1007']",
    ]);
    let sysmon = hits(&m, &[("Hashes", text("MD5=00,SHA256=aabbcc,IMPHASH=11"))]);
    assert_eq!(sysmon, [(0, "Hashes".into(), "aabbcc".into())]);
    assert_eq!(hits(&m, &[("user", text("CORP\\Alice"))])[0].0, 1);
    assert_eq!(hits(&m, &[("user", text("alice@corp.example"))])[0].0, 1);
    assert_eq!(
        hits(&m, &[("q", text("www.evil.example. evil.example."))])[0].0,
        2
    );
    assert_eq!(
        hits(&m, &[("url", text("https://EVIL.example/x?y=1"))])[0].0,
        2
    );
    assert_eq!(hits(&m, &[("user", text("corp\\BOB"))])[0].0, 3);
    assert_eq!(hits(&m, &[("uid", Value::Int(1007))])[0].0, 4);
    assert!(hits(&m, &[("user", text("malice"))]).is_empty());
    assert!(hits(&m, &[("path", text("C:\\Users\\alice\\x.exe"))]).is_empty());
    assert_eq!(hits(&m, &[("host", text("evil.example:8080"))])[0].0, 2);
    assert!(hits(&m, &[("q", text("notevil.example"))]).is_empty());
}

#[test]
fn urls_and_command_lines_are_exact() {
    let m = matcher(&[
        "[url:value = 'https://evil.example/a?b=c']",
        "[process:command_line = 'whoami /all']",
    ]);
    assert_eq!(
        hits(&m, &[("cmd", text("curl \"https://evil.example/a?b=c\""))])[0].0,
        0
    );
    assert!(hits(&m, &[("cmd", text("https://evil.example/A?b=c"))]).is_empty());
    assert_eq!(hits(&m, &[("CommandLine", text("whoami /all"))])[0].0, 1);
    assert!(hits(&m, &[("CommandLine", text("whoami /ALL"))]).is_empty());
}

#[test]
fn a_conjunction_needs_every_atom_in_the_same_event() {
    let m = matcher(&["[file:name = 'x.exe' AND file:hashes.MD5 = 'ab']"]);
    assert!(hits(&m, &[("name", text("x.exe"))]).is_empty());
    let both = hits(&m, &[("name", text("X.EXE")), ("md5", text("AB"))]);
    assert_eq!(both, [(0, "md5".into(), "AB".into())]);
}

#[test]
fn each_indicator_hits_once_per_event() {
    let m = matcher(&["[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')]"]);
    let found = hits(
        &m,
        &[("a", text("192.0.2.1")), ("b", text("192.0.2.2 192.0.2.1"))],
    );
    assert_eq!(found, [(0, "a".into(), "192.0.2.1".into())]);
}

#[test]
fn like_and_matches_run_over_values_and_file_names() {
    let m = matcher(&[
        "[process:name LIKE 'mal%.exe']",
        "[process:command_line MATCHES 'powershell.+-enc']",
    ]);
    assert_eq!(
        hits(&m, &[("Image", text("C:\\Temp\\MALware.exe"))])[0].0,
        0
    );
    assert_eq!(
        hits(&m, &[("cmd", text("powershell -nop -enc AAAA"))])[0].0,
        1
    );
    assert!(hits(&m, &[("Image", text("C:\\Temp\\normal.exe"))]).is_empty());
}

#[test]
fn a_bad_regular_expression_leaves_its_indicator_out() {
    // Refused when compiled, with the regex crate's reason (look-behind is unsupported).
    let refused = compile(&parse("[process:name MATCHES '(?<=x)y']").unwrap()).unwrap_err();
    assert!(refused.contains("cannot be used"), "{refused}");
    let m = Matcher::default();
    assert!(m.is_empty());
}
