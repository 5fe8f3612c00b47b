//! Renders appliance messages as the vendor's syslog lines:
//! `MMM dd HH:MM:SS host BG[pid]:<site id>:<segment>:<total>:key=value;...`, with `\=`,
//! `\;` and `\\` escaped, and long bodies split into numbered segments, sent one after
//! the other. The site ID is the same on every line, as on a real appliance.

use std::fmt::Write;

use chrono::DateTime;

use crate::records::ApplianceMessage;

/// The site ID every line carries (the vendor's documented example's).
pub(crate) const SITE_ID: u32 = 1234;

/// Longest body (in bytes) a single line carries before the message is split in segments.
pub(crate) const SEGMENT_BYTES: usize = 240;

/// The whole appliance log, one line per segment, in message order.
pub(crate) fn render(host: &str, pid: u32, messages: &[ApplianceMessage]) -> String {
    let mut out = String::with_capacity(messages.len() * 220);
    for message in messages {
        let header = header(message.time, host, pid);
        let body = body(message);
        let segments = split_segments(&body, SEGMENT_BYTES);
        let total = segments.len();
        for (n, segment) in segments.iter().enumerate() {
            let _ = writeln!(
                out,
                "{header}:{SITE_ID}:{:02}:{:02}:{segment}",
                n + 1,
                total
            );
        }
    }
    out
}

/// `Dec  2 03:14:07 rs-appliance-01 BG[4242]` (RFC 3164 time, UTC).
fn header(time: i64, host: &str, pid: u32) -> String {
    let stamp = DateTime::from_timestamp(time, 0)
        .map(|t| t.format("%b %e %H:%M:%S").to_string())
        .unwrap_or_default();
    format!("{stamp} {host} BG[{pid}]")
}

/// The message body: its pairs and `when=`, sorted by key as the appliance writes them.
pub(crate) fn body(message: &ApplianceMessage) -> String {
    let when = message.time.to_string();
    let mut pairs: Vec<(&str, &str)> = message
        .fields
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(std::iter::once(("when", when.as_str())))
        .collect();
    pairs.sort_by_key(|(k, _)| *k);
    let mut body = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            body.push(';');
        }
        body.push_str(key);
        body.push('=');
        escape_into(value, &mut body);
    }
    body
}

/// Escapes `\`, `=` and `;` with a backslash.
pub(crate) fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        if matches!(c, '\\' | '=' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Splits `body` into pieces of at most about `limit` bytes, on character boundaries and
/// never next to a space (so that no reader trimming lines changes the text).
pub(crate) fn split_segments(body: &str, limit: usize) -> Vec<&str> {
    let mut segments = Vec::new();
    let mut rest = body;
    while rest.len() > limit {
        let cut = (1..=limit)
            .rev()
            .find(|&at| rest.is_char_boundary(at) && !is_space_at(rest, at))
            .unwrap_or(rest.len());
        let (head, tail) = rest.split_at(cut);
        segments.push(head);
        rest = tail;
    }
    segments.push(rest);
    segments
}

/// Whether the characters on either side of byte `at` include a space.
fn is_space_at(text: &str, at: usize) -> bool {
    text[..at].ends_with(' ') || text[at..].starts_with(' ')
}
