//! Tests of the RFC 3164 and RFC 5424 syslog decoder: samples, times and years, structured data,
//! malformed lines and the logsource service.

use super::*;
use crate::clock::Clock;
use crate::text::testing::{decode_all, render};

fn decode(text: &str) -> Vec<String> {
    decode_all(SyslogDecoder::new(Clock::year(2025)), text)
        .iter()
        .map(render)
        .collect()
}

fn service(text: &str) -> String {
    let items = decode_all(SyslogDecoder::new(Clock::year(2025)), text);
    let event = items[0].as_ref().unwrap();
    let logsource = event.logsource.as_deref().unwrap();
    assert_eq!(logsource.product.as_deref(), Some("linux"));
    logsource.service.as_deref().unwrap_or_default().to_string()
}

#[test]
fn rfc3164_sample() {
    let line = "<38>Feb  5 12:54:46 web-01 sshd[4123]: Failed password for root from 203.0.113.9 port 52211 ssh2";
    assert_eq!(
        decode(line),
        ["1: pri=38,facility=4,severity=6,timestamp=Feb  5 12:54:46,host=web-01,app_name=sshd,procid=4123,message=Failed password for root from 203.0.113.9 port 52211 ssh2"]
    );
    let items = decode_all(SyslogDecoder::new(Clock::year(2025)), line);
    let event = items[0].as_ref().unwrap();
    assert_eq!(event.timestamp_micros, Some(1_738_760_086_000_000));
}

#[test]
fn rfc3164_without_pri_or_tag() {
    assert_eq!(
        decode("Dec 02 03:14:07 host kernel: eth0 up\nDec  2 03:14:07 host just text here"),
        [
            "1: timestamp=Dec 02 03:14:07,host=host,app_name=kernel,message=eth0 up",
            "2: timestamp=Dec  2 03:14:07,host=host,message=just text here",
        ]
    );
    let items = decode_all(
        SyslogDecoder::new(Clock::year(2025)),
        "Dec  2 03:14:07.250 h a: m",
    );
    assert_eq!(
        items[0].as_ref().unwrap().timestamp_micros,
        Some(1_764_645_247_250_000)
    );
}

#[test]
fn rfc3164_with_rfc3339_time_keeps_its_offset() {
    let items = decode_all(
        SyslogDecoder::new(Clock::year(1999)),
        "2024-12-02T04:14:07.003+01:00 host app[7]: hi",
    );
    let event = items[0].as_ref().unwrap();
    assert_eq!(event.timestamp_micros, Some(1_733_109_247_003_000));
    assert_eq!(event.text("procid").as_deref(), Some("7"));
}

#[test]
fn rfc3164_year_comes_from_the_options() {
    let items = decode_all(
        SyslogDecoder::new(Clock::year(2024)),
        "Feb 29 00:00:00 h a: leap",
    );
    assert_eq!(
        items[0].as_ref().unwrap().timestamp_micros,
        Some(1_709_164_800_000_000)
    );
    // No 29 February in 2025: the line is an error.
    let errors = decode("Feb 29 00:00:00 h a: leap");
    assert_eq!(
        errors,
        ["error: test.log: line 1: syslog: invalid time `Feb 29 00:00:00`"]
    );
}

#[test]
fn rfc5424_sample_with_structured_data_escapes() {
    let line = r#"<165>1 2024-12-02T03:14:07.003Z web-01 sudo 812 ID47 [exampleSDID@32473 iut="3" eventSource="App\"li\\ca\]tion" other="a\b"][meta seq="1"] jdoe : COMMAND=/bin/sh"#;
    assert_eq!(
        decode(line),
        [
            r#"1: pri=165,facility=20,severity=5,version=1,timestamp=2024-12-02T03:14:07.003Z,host=web-01,app_name=sudo,procid=812,msgid=ID47,sd.exampleSDID@32473.iut=3,sd.exampleSDID@32473.eventSource=App"li\ca]tion,sd.exampleSDID@32473.other=a\b,sd.meta.seq=1,message=jdoe : COMMAND=/bin/sh"#
        ]
    );
    let items = decode_all(SyslogDecoder::new(Clock::year(2025)), line);
    assert_eq!(
        items[0].as_ref().unwrap().timestamp_micros,
        Some(1_733_109_247_003_000)
    );
}

#[test]
fn rfc5424_nil_values_and_bom() {
    assert_eq!(
        decode("<13>1 - - - - - -\n<13>1 - h - - - [x] \u{feff}hello\n<13>1 - h - - - - "),
        [
            "1: pri=13,facility=1,severity=5,version=1",
            "2: pri=13,facility=1,severity=5,version=1,host=h,message=hello",
            "3: pri=13,facility=1,severity=5,version=1,host=h,message=",
        ]
    );
}

#[test]
fn malformed_lines_are_reported_with_their_number_and_skipped() {
    let text = "\
<999>Feb  5 12:54:46 h a: x
<13>1 2024-13-02T03:14:07Z h a - - - m
<13>1 - h a - - [x a=\"1] m
<13>1 - h a - - [x a=1] m
<13>1 - h a
hello world
Feb  5 12:54:46
<13>1 - h a - - -m
Feb  5 12:54:46 ok a: fine
";
    assert_eq!(
        decode(text),
        [
            "error: test.log: line 1: syslog: invalid priority `<999>` (0 to 191)",
            "error: test.log: line 2: syslog: RFC 5424: invalid timestamp `2024-13-02T03:14:07Z`",
            "error: test.log: line 3: syslog: RFC 5424: value of `a` in `[x` has no closing `\"`",
            "error: test.log: line 4: syslog: RFC 5424: value of `a` in `[x` is not quoted",
            "error: test.log: line 5: syslog: RFC 5424: missing process id",
            "error: test.log: line 6: syslog: expected a time `MMM dd HH:MM:SS`, found `hello world`",
            "error: test.log: line 7: syslog: no host name after the time",
            "error: test.log: line 8: syslog: RFC 5424: structured data not followed by a space",
            "9: timestamp=Feb  5 12:54:46,host=ok,app_name=a,message=fine",
        ]
    );
}

#[test]
fn logsource_service_from_the_app_name_or_facility() {
    assert_eq!(service("Feb  5 12:54:46 h sshd[1]: x"), "sshd");
    assert_eq!(service("Feb  5 12:54:46 h CRON[1]: x"), "cron");
    assert_eq!(service("Feb  5 12:54:46 h sudo: x"), "sudo");
    assert_eq!(service("<13>1 - h freshclam - - - x"), "clamav");
    // authpriv (10 * 8 + 6 = 86) from an app Sigma has no service for.
    assert_eq!(service("<86>Feb  5 12:54:46 h login[1]: x"), "auth");
    assert_eq!(service("<86>1 - h su - - - x"), "auth");
    assert_eq!(service("<14>Feb  5 12:54:46 h nginx: x"), "syslog");
    assert_eq!(service("Feb  5 12:54:46 h no tag here"), "syslog");
}

#[test]
fn tag_splitting() {
    assert_eq!(split_tag("sshd[1]: m"), Some(("sshd", Some("1"), "m")));
    assert_eq!(split_tag("app:m"), Some(("app", None, "m")));
    assert_eq!(split_tag("app[1] m"), None);
    assert_eq!(split_tag("app[1"), None);
    assert_eq!(split_tag("free text"), None);
    assert_eq!(split_tag(": x"), None);
}

#[test]
fn unescape_keeps_unknown_escapes() {
    assert_eq!(
        unescape(r#"a\"b\\c\d\"#, |c| c == '"' || c == '\\', |c| c),
        r#"a"b\c\d\"#
    );
}
