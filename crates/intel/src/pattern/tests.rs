//! Tests of the STIX patterning parser: the specification's examples, precedence,
//! located errors, bounds on hostile input, object paths printed back.

use super::*;

/// Patterns from STIX 2.1 section 9 (and its examples in 9.9), which must all parse.
const SPEC_EXAMPLES: &[&str] = &[
    "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    "[email-message:from_ref.value MATCHES '.+\\\\@example\\\\.com$' AND email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\\\.exe$']",
    "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' AND file:mime_type = 'application/x-pdf']",
    "[file:hashes.'SHA-256' = 'bf07a7fbb825fc0aae7bf4a1177b2b31fcf8a3feeaf7092761e18c859ee52a9c' OR file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f'] AND [file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
    "[file:hashes.MD5 = '79054025255fb1a26e4bc422aef54eb4'] FOLLOWEDBY [windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\foo\\\\bar'] WITHIN 300 SECONDS",
    "[user-account:account_type = 'unix' AND user-account:user_id = '1007' AND user-account:account_login = 'Peter'] AND [user-account:account_type = 'unix' AND user-account:user_id = '1008' AND user-account:account_login = 'Paul'] AND [user-account:account_type = 'unix' AND user-account:user_id = '1009' AND user-account:account_login = 'Mary']",
    "[artifact:mime_type = 'application/vnd.tcpdump.pcap' AND artifact:payload_bin MATCHES '\\\\xd4\\\\xc3\\\\xb2\\\\xa1\\\\x02\\\\x00\\\\x04\\\\x00']",
    "[file:name = 'foo.dll' AND file:parent_directory_ref.path = 'C:\\\\Windows\\\\System32']",
    "[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]",
    "[file:mime_type = 'image/bmp' AND file:magic_number_hex = h'ffd8']",
    "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.33/32']",
    "[network-traffic:dst_ref.type = 'domain-name' AND network-traffic:dst_ref.value = 'example.com'] REPEATS 5 TIMES WITHIN 180 SECONDS",
    "[domain-name:value = 'www.5z8.info' AND domain-name:resolves_to_refs[*].value = '198.51.100.1/32']",
    "[url:value = 'http://example.com/foo' OR url:value = 'http://example.com/bar']",
    "[x509-certificate:issuer = 'CN=WEBMAIL' AND x509-certificate:serial_number = '4c:0b:1d:19:74:86:a7:66:b4:1a:bf:40:27:21:76:28']",
    "[windows-registry-key:key = 'HKEY_CURRENT_USER\\\\Software\\\\CryptoLocker\\\\Files' OR windows-registry-key:key = 'HKEY_CURRENT_USER\\\\Software\\\\Microsoft\\\\CurrentVersion\\\\Run\\\\CryptoLocker_0388']",
    "[(file:name = 'pdf.exe' OR file:size = '371712') AND file:created = t'2014-01-13T07:03:17Z']",
    "[email-message:sender_ref.value = 'jdoe@example.com' AND email-message:subject = 'Conference Info']",
    "[x-usb-device:usbdrive.serial_number = '575833344E38333336383733']",
    "[process:command_line MATCHES '^.+>-add GlobalSign.cer -c -s -r localMachine Root$'] FOLLOWEDBY [process:command_line MATCHES '^.+>-add GlobalSign.cer -c -s -r localMachineTrustedPublisher$'] WITHIN 300 SECONDS",
    "[network-traffic:dst_ref.value ISSUBSET '2001:0db8:dead:beef:0000:0000:0000:0000/64']",
    "([file:name = 'foo.dll'] AND [win-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\foo\\\\bar']) OR [process:name = 'fooproc' OR process:name = 'procfoo']",
    "[network-traffic:src_ref.type = 'ipv4-addr' AND network-traffic:src_ref.value = '203.0.113.10' AND network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '198.51.100.25' AND network-traffic:dst_port = 80 AND network-traffic:protocols[*] = 'tcp' AND network-traffic:extensions.'http-request-ext'.request_method = 'get' AND network-traffic:extensions.'http-request-ext'.request_value = '/admin.php'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
    "[file:hashes.MD5 NOT = 'cead3f77f6cda6ec00f57d76c9a6879f']",
    "[ipv4-addr:value IN ('198.51.100.1', '203.0.113.2')]",
    "[file:name LIKE 'ma_ware%.exe']",
    "[x-o:p ISSUPERSET '10.0.0.0/8' AND EXISTS x-o:q AND x-o:r = true AND x-o:s <= -2 AND x-o:t >= +1.5 AND x-o:u = b'aGVsbG8=']",
];

#[test]
fn the_specification_examples_parse() {
    for text in SPEC_EXAMPLES {
        if let Err(error) = parse(text) {
            panic!("{text}: {error}");
        }
    }
}

/// tocsin's own exports (`crates/stix`): the patterns it writes must read back.
#[test]
fn tocsins_own_patterns_parse() {
    for text in [
        "[ipv4-addr:value = '203.0.113.9']",
        "[ipv6-addr:value = '2001:db8::1']",
        "[user-account:user_id = 'k-stolen']",
        "[user-account:user_id = 'CORP\\\\alice']",
        "[domain-name:value = 'evil.example']",
        "[url:value = 'https://evil.example/a?b=c']",
        "[file:hashes.'SHA-256' = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08']",
        "[file:hashes.'SHA-256' = 'aa' AND file:hashes.MD5 = 'bb']",
    ] {
        assert!(parse(text).is_ok(), "{text}");
    }
}

#[test]
fn precedence_and_or_followedby() {
    let parsed = parse("[a:x = 1] FOLLOWEDBY [a:x = 2] OR [a:x = 3] AND [a:x = 4]").unwrap();
    let Observation::FollowedBy(parts) = parsed else {
        panic!("FOLLOWEDBY binds loosest")
    };
    let Observation::Or(or) = &parts[1] else {
        panic!("then OR")
    };
    assert!(matches!(or[1], Observation::And(_)));

    let inside = parse("[a:x = 1 OR a:y = 2 AND a:z = 3]").unwrap();
    let Observation::Single(Comparison::Or(parts)) = inside else {
        panic!("OR at the top inside brackets")
    };
    assert!(matches!(parts[1], Comparison::And(_)));
}

#[test]
fn qualifiers_stack_on_the_observation_before_them() {
    let parsed = parse("[a:x = 1] REPEATS 5 TIMES WITHIN 1.5 SECONDS").unwrap();
    let Observation::Qualified(inner, Qualifier::Within(seconds)) = parsed else {
        panic!("WITHIN outermost")
    };
    assert_eq!(seconds, 1.5);
    assert!(matches!(
        *inner,
        Observation::Qualified(_, Qualifier::Repeats(5))
    ));
}

#[test]
fn object_paths_keep_their_steps() {
    let Observation::Single(Comparison::Test(test)) =
        parse("[email-message:body_multipart[*].body_raw_ref.'na me'[2] = 'x']").unwrap()
    else {
        panic!("one test")
    };
    assert_eq!(
        test.path.to_string(),
        "email-message:body_multipart[*].body_raw_ref.'na me'[2]"
    );
    assert_eq!(test.path.properties(), None);
    let Observation::Single(Comparison::Test(test)) =
        parse("[file:hashes.'SHA-256' = 'x']").unwrap()
    else {
        panic!("one test")
    };
    assert_eq!(test.path.properties(), Some(vec!["hashes", "SHA-256"]));
}

/// Found by the `stix_pattern` fuzz target: a property holding a backslash or a quote, or
/// not a bare word, was printed without its quotes or escapes, so that the path in a skip
/// reason did not read back as the pattern's.
#[test]
fn object_paths_print_back_to_themselves() {
    for text in [
        r"[x-o:'it\'s'.'C:\\dir' = 'v']",
        "[x-o:'a b'.'1st'.''[0].'' = 'v']",
        "[x-o:p_1.'SHA-256'[*].AND = 'v']",
    ] {
        let Observation::Single(Comparison::Test(test)) = parse(text).unwrap() else {
            panic!("{text}: one test")
        };
        let printed = format!("[EXISTS {}]", test.path);
        let Observation::Single(Comparison::Test(back)) = parse(&printed).unwrap() else {
            panic!("{printed}: one test")
        };
        assert_eq!(back.path, test.path, "{printed}");
    }
    let Observation::Single(Comparison::Test(test)) = parse(r"[x-o:'it\'s' = 'v']").unwrap() else {
        panic!("one test")
    };
    assert_eq!(test.path.to_string(), r"x-o:'it\'s'");
}

#[test]
fn errors_give_the_column() {
    for (text, column) in [
        ("[a:x = ]", 8),
        ("[a:x = 1", 9),
        ("a:x = 1", 1),
        ("[a:x LIKE 1]", 11),
        ("[a:x > true]", 8),
        ("[a:x = 1] WITHIN 0 SECONDS", 18),
        ("[a:x = 1] WITHIN 5 MINUTES", 20),
        ("[a:x = 1] [a:x = 2]", 11),
        ("[a:x IN ('a' 'b')]", 14),
        ("[a x = 1]", 4),
        ("", 1),
    ] {
        let error = parse(text).unwrap_err();
        assert_eq!(error.column, column, "{text}: {error}");
    }
}

#[test]
fn hostile_patterns_are_refused_without_overflow() {
    let deep = format!("{}[a:x = 1]{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(parse(&deep).is_err());
    let deep = format!("[{}a:x = 1{}]", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&deep).unwrap_err().message.contains("nested"));
    let long = format!("[a:x = '{}']", "x".repeat(MAX_PATTERN_BYTES));
    assert!(parse(&long).unwrap_err().message.contains("longer"));
    assert!(parse("[a:x = 99999999999999999999999]").is_err());
}
