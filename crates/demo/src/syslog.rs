//! Renders appliance messages as the vendor's syslog lines, in the header forms it
//! documents and real appliances send, mixed: `MMM dd HH:MM:SS host BG: ` (the classic
//! form, no pid), `BG[pid]: ` and `BG[pid]:` (current), and RFC 5424 with the app name `BG`
//! (`<133>1 TIME host BG pid - [meta sequenceId="n"] `); then
//! `<site id>:<segment>:<total>:key=value;...`, with `\=`, `\;` and `\\` escaped, and
//! long bodies split into numbered segments, sent one after the other. The site ID is the
//! same on every line, as on a real appliance; the header's time is the appliance's local
//! time (the body's `when=` is UTC).

use std::fmt::Write;

use chrono::{DateTime, FixedOffset, Offset, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::records::ApplianceMessage;

/// Where and how the appliance logs: its host, site ID, processes and local time.
pub(crate) struct Header<'a> {
    /// Syslog host name.
    pub host: &'a str,
    /// The site ID.
    pub site_id: u32,
    /// The `BG` processes that send messages (one is drawn per message).
    pub pids: &'a [u32],
    /// The appliance's offset from UTC, in hours.
    pub utc_offset_hours: i64,
    /// Seed of the choice of header form and process per message.
    pub seed: u64,
}

/// Longest body (in bytes) a single line carries before the message is split in segments.
pub(crate) const SEGMENT_BYTES: usize = 240;

/// The whole appliance log, one line per segment, in message order.
pub(crate) fn render(header: &Header<'_>, messages: &[ApplianceMessage]) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(header.seed ^ 0x5359_534c_4f47);
    let mut out = String::with_capacity(messages.len() * 220);
    let mut sequence = 0u64;
    for message in messages {
        let form = rng.random_range(0..10);
        let pid = header
            .pids
            .get(rng.random_range(0..header.pids.len().max(1)))
            .copied()
            .unwrap_or(1);
        let body = body(message);
        let segments = split_segments(&body, SEGMENT_BYTES);
        let total = segments.len();
        for (n, segment) in segments.iter().enumerate() {
            sequence += 1;
            let prefix = prefix(header, message.time, form, pid, sequence);
            let _ = writeln!(
                out,
                "{prefix}{}:{:02}:{:02}:{segment}",
                header.site_id,
                n + 1,
                total
            );
        }
    }
    out
}

/// The syslog header up to the site ID, in form `form` (0..10: mostly `BG[pid]: `).
fn prefix(header: &Header<'_>, time: i64, form: u32, pid: u32, sequence: u64) -> String {
    let offset = FixedOffset::east_opt(i32::try_from(header.utc_offset_hours * 3_600).unwrap_or(0))
        .unwrap_or_else(|| Utc.fix());
    let local = DateTime::from_timestamp(time, 0).map(|t| t.with_timezone(&offset));
    let host = header.host;
    match form {
        0 => {
            let stamp = local
                .map(|t| t.format("%b %e %H:%M:%S").to_string())
                .unwrap_or_default();
            format!("{stamp} {host} BG: ")
        }
        1 => {
            let stamp = local
                .map(|t| t.format("%b %e %H:%M:%S").to_string())
                .unwrap_or_default();
            format!("{stamp} {host} BG[{pid}]:")
        }
        2 => {
            let stamp = local
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
                .unwrap_or_default();
            format!("<133>1 {stamp} {host} BG {pid} - [meta sequenceId=\"{sequence}\"] ")
        }
        _ => {
            let stamp = local
                .map(|t| t.format("%b %e %H:%M:%S").to_string())
                .unwrap_or_default();
            format!("{stamp} {host} BG[{pid}]: ")
        }
    }
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
