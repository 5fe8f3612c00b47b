//! Telling a text input's format from its first non-blank lines (up to 16 in the first
//! 64 KiB): the first line that shows a format decides, so that a line of garbage at the top
//! of a file does not hide what follows. A line shows
//!
//! 1. `{`: JSON, or the API audit log when that object has `api_key_id` and `action`;
//!    `[`: JSON;
//! 2. `<session_list` or `<session `: a remote-support session report (after an XML
//!    declaration, which shows nothing);
//! 3. form fields naming `event` and `timestamp` (`event=...&timestamp=...`): the outbound
//!    events of a remote-support appliance;
//! 4. `CEF:<version>|` at the start or after a space (a syslog header): CEF;
//! 5. a syslog header (RFC 3164, or RFC 5424 with the app name `BG`) whose program is `BG`
//!    (`BG:`, `BG[pid]:`) followed by `site:nn:nn:`: appliance;
//! 6. `<PRI>1 `: RFC 5424 syslog;
//! 7. an RFC 3164 header (`<PRI>` optional, `MMM dd HH:MM:SS host`): syslog.
//!
//! Anything else is left to the JSON decoder, which reports it as an unknown format, or
//! reads the lines that are JSON and reports the others (see [`crate::json`]).

use std::io::{BufRead, Cursor, Read};

use crate::api_audit::is_api_audit_line;
use crate::cef::find_cef;
use crate::clock::{Clock, UtcOffset};
use crate::outbound::is_outbound_line;
use crate::session_report::is_session_report_line;
use crate::syslog::{looks_like_rfc5424, parse_rfc3164, parse_rfc5424, split_tag};
use crate::Format;

/// How much is read, at most, to find the lines that tell the format.
const HEAD_LIMIT: usize = 64 * 1024;

/// How many non-blank lines are looked at, at most.
const HEAD_LINES: usize = 16;

/// Reads from `reader` up to the end of its first [`HEAD_LINES`] non-blank lines (at most
/// 64 KiB); returns those bytes and a reader that yields them again, then the rest. A read
/// error (a truncated gzip file) ends the head there, and the returned reader gives that
/// error after the head, so that the lines before it are still decoded.
pub(crate) fn first_lines(
    mut reader: Box<dyn BufRead + Send>,
) -> std::io::Result<(Vec<u8>, Box<dyn BufRead + Send>)> {
    let mut head = Vec::new();
    let mut lines = 0;
    while lines < HEAD_LINES && head.len() < HEAD_LIMIT {
        let start = head.len();
        let read = (&mut reader)
            .take((HEAD_LIMIT - start) as u64)
            .read_until(b'\n', &mut head);
        match read {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                let failing = std::io::BufReader::new(FailOnce(Some(error)));
                let reader = Cursor::new(head.clone()).chain(failing);
                return Ok((head, Box::new(reader)));
            }
        }
        if !head[start..].trim_ascii().is_empty() {
            lines += 1;
        }
    }
    let reader = Cursor::new(head.clone()).chain(reader);
    Ok((head, Box::new(reader)))
}

/// A reader that gives one error, then the end of input.
struct FailOnce(Option<std::io::Error>);

impl Read for FailOnce {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        self.0.take().map_or(Ok(0), Err)
    }
}

/// The format of a text input whose first bytes are `head`: the format of its first line
/// that shows one this crate knows.
pub(crate) fn sniff_text(head: &[u8]) -> Option<Format> {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    head.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty())
        .find_map(sniff_line)
}

/// The format one non-blank line shows, if any.
fn sniff_line(line: &[u8]) -> Option<Format> {
    match line.first() {
        Some(b'{') if is_api_audit_line(line) => return Some(Format::ApiAudit),
        Some(b'{' | b'[') => return Some(Format::Json),
        _ => {}
    }
    let line = String::from_utf8_lossy(line);
    if is_session_report_line(&line) {
        return Some(Format::SessionReport);
    }
    if is_outbound_line(&line) {
        return Some(Format::Outbound);
    }
    if find_cef(&line).is_some() {
        return Some(Format::Cef);
    }
    if looks_like_rfc5424(&line) {
        let appliance = parse_rfc5424(&line).is_ok_and(|header| {
            header.app_name == Some("BG")
                && header
                    .message
                    .is_some_and(|m| has_segment_header(m.trim_start_matches(' ')))
        });
        return Some(if appliance {
            Format::Appliance
        } else {
            Format::Syslog
        });
    }
    // Any year parses the header: only the shape matters here (29 February aside).
    let header = parse_rfc3164(&line, &Clock::given(2000, UtcOffset::UTC)).ok()?;
    if is_appliance_message(header.rest) {
        return Some(Format::Appliance);
    }
    Some(Format::Syslog)
}

/// Whether `rest` (after the host) is `BG:` or `BG[pid]:` then `site:nn:nn:`.
fn is_appliance_message(rest: &str) -> bool {
    let Some(("BG", pid, message)) = split_tag(rest) else {
        return false;
    };
    pid.is_none_or(digits) && has_segment_header(message)
}

/// Whether `message` starts with `site:nn:nn:`.
fn has_segment_header(message: &str) -> bool {
    let mut parts = message.splitn(4, ':');
    (0..3).all(|_| parts.next().is_some_and(digits)) && parts.next().is_some()
}

fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(text: &str) -> Option<Format> {
        sniff_text(text.as_bytes())
    }

    #[test]
    fn each_format_by_its_first_line() {
        assert_eq!(
            sniff("\n\nFeb  5 12:54:46 example_host BG[98765]:1234:01:01:event=login\n"),
            Some(Format::Appliance)
        );
        assert_eq!(
            sniff("<14>Feb  5 12:54:46 h BG[1]:1:01:03:event=lo"),
            Some(Format::Appliance)
        );
        // The vendor's documented forms: no pid, and RFC 5424 (issue 15).
        assert_eq!(
            sniff("Oct 12 14:58:35 example_host BG: 1234:01:01:site=support.example.com"),
            Some(Format::Appliance)
        );
        assert_eq!(
            sniff("Dec 10 07:04:11 tenant BG[12482]: 1427:01:01:event=login"),
            Some(Format::Appliance)
        );
        assert_eq!(
            sniff("<133>1 2025-09-10T12:08:07+08:00 h BG 16703 - [meta sequenceId=\"46\"] 1427:01:01:event=logout"),
            Some(Format::Appliance)
        );
        assert_eq!(
            sniff("<133>1 2025-09-10T12:08:07+08:00 h BG 16703 - - started"),
            Some(Format::Syslog)
        );
        assert_eq!(
            sniff("<165>1 2024-12-02T03:14:07Z h app - - - hi"),
            Some(Format::Syslog)
        );
        assert_eq!(
            sniff("Dec  2 03:14:07 web-01 sshd[1]: Accepted"),
            Some(Format::Syslog)
        );
        assert_eq!(
            sniff("<38>Dec  2 03:14:07 web-01 su: x"),
            Some(Format::Syslog)
        );
        assert_eq!(sniff("CEF:0|V|P|1|2|n|3|src=1"), Some(Format::Cef));
        assert_eq!(
            sniff("Sep 19 08:26:10 host CEF:0|V|P|1|2|n|3|"),
            Some(Format::Cef)
        );
        assert_eq!(
            sniff("<134>1 2024-12-02T03:14:07Z h CEF:0|V|P|1|2|n|3|"),
            Some(Format::Cef)
        );
        assert_eq!(
            sniff("\u{feff}{\"api_key_id\": \"k\", \"action\": \"auth.token\"}"),
            Some(Format::ApiAudit)
        );
        assert_eq!(sniff("{\"action\": \"auth.token\"}"), Some(Format::Json));
        assert_eq!(
            sniff("event=support_conference_begin&version=3&timestamp=1733239565&lsid=x"),
            Some(Format::Outbound)
        );
        assert_eq!(
            sniff("<?xml version=\"1.0\"?>\n<session_list xmlns=\"x\">\n<session lsid=\"a\">"),
            Some(Format::SessionReport)
        );
        assert_eq!(sniff("{\n\"a\": 1}"), Some(Format::Json));
        assert_eq!(sniff("[]"), Some(Format::Json));
    }

    #[test]
    fn near_misses_are_not_taken() {
        assert_eq!(sniff("hello"), None);
        assert_eq!(sniff(""), None);
        assert_eq!(sniff("Feb  5 12:54 host x"), None);
        // A BG program without the segment header is plain syslog.
        assert_eq!(
            sniff("Feb  5 12:54:46 h BG[1]: started"),
            Some(Format::Syslog)
        );
        // `CEF:` inside a message, not at a field start, is not CEF.
        assert_eq!(
            sniff("Feb  5 12:54:46 h app: saw XCEF:0|a"),
            Some(Format::Syslog)
        );
    }

    #[test]
    fn a_garbage_first_line_does_not_decide() {
        assert_eq!(
            sniff("garbage\n\nDec  2 03:14:07 web-01 sshd[1]: Accepted"),
            Some(Format::Syslog)
        );
        assert_eq!(sniff("# exported\n{\"a\": 1}"), Some(Format::Json));
        assert_eq!(sniff("one\ntwo\n"), None);
    }

    #[test]
    fn first_lines_stop_after_sixteen_non_blank_lines_and_replay_them() {
        let mut input = b"\n  \n".to_vec();
        for i in 0..20 {
            input.extend(format!("line {i}\n").bytes());
        }
        let (head, mut reader) = first_lines(Box::new(Cursor::new(input.clone()))).unwrap();
        assert!(
            head.ends_with(b"line 15\n"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        assert_eq!(all, input);
    }
}
