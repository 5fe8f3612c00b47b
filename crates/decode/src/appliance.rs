//! The syslog of remote-support / privileged-remote-access appliances (BeyondTrust Remote
//! Support style): an RFC 3164 header, the program `BG` with its pid, then
//! `:<message id>:<segment>:<segment total>:` and a body of `key=value` pairs separated by
//! `;` (`\=`, `\;` and `\\` escape those characters in keys and values).
//!
//! ```text
//! Feb  5 12:54:46 example_host BG[98765]:1234:01:01:event=login;site=support.example.com;status=success;target=web/login;when=1738778086;who=John Smith(jsmith) using password;who_ip=192.168.1.1
//! ```
//!
//! gives the fields `host=example_host, program=BG, pid=98765, message_id=1234`, then each
//! pair under its key (`event=login`, `site=...`, `when=1738778086`, ...), then, derived
//! from `who=Name(user) using method`: `who_name=John Smith, who_user=jsmith,
//! auth_method=password`. `pid` and `message_id` are integers, the pairs text. The event
//! time is `when=` (epoch seconds) when it is a number, else the header's time (whose year
//! and zone are completed as [`crate::clock`] says). Logsource:
//! `product: remote_support, service: appliance`.
//!
//! A body too long for one syslog line is split over lines with the same host, pid and
//! message id and segments `01:03`, `02:03`, `03:03`. Segments may arrive in any order and
//! interleaved with other messages; the message is decoded once all have arrived, from its
//! segments concatenated in segment order, and is numbered (and reported) by the line of the
//! first segment that arrived, taking its header time. Errors:
//!
//! * a segment number outside `1..=total`, or a segment that arrived already, or a total
//!   that differs from the message's first segment: an error naming that line, which is
//!   skipped (the message still completes from the other lines);
//! * a message still incomplete at the end of the input: an error naming its first line
//!   and the segments missing; it is dropped;
//! * more than [`DecodeOptions::appliance_max_pending`](crate::DecodeOptions::appliance_max_pending)
//!   messages waiting at once: the oldest is dropped and reported likewise.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use tocsin_event::{Event, LogSource, Value};

use crate::clock::Clock;
use crate::syslog::{parse_rfc3164, split_tag, unescape, until_unescaped};
use crate::text::{LineDecoder, Sink};

/// The format name in errors.
const FORMAT: &str = "appliance";

/// What identifies the segments of one message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MessageKey {
    host: Box<str>,
    pid: i64,
    message_id: i64,
}

/// A segmented message waiting for its other segments.
struct Pending {
    /// The line of the first segment that arrived, which the message is reported under.
    first_line: u64,
    /// The header time of that segment.
    header_micros: i64,
    program: Box<str>,
    /// The segments' bodies, by segment number - 1.
    segments: Vec<Option<Box<str>>>,
    received: usize,
}

/// The header and segment numbers of one appliance line.
struct Line<'a> {
    header_micros: i64,
    host: &'a str,
    program: &'a str,
    pid: i64,
    message_id: i64,
    segment: usize,
    total: usize,
    body: &'a str,
}

/// Decodes appliance lines, holding back segments until their message is complete.
pub(crate) struct ApplianceDecoder {
    clock: Clock,
    max_pending: usize,
    pending: HashMap<MessageKey, Pending>,
    /// The pending messages by first line, oldest first, to evict and to report in order.
    by_line: BTreeMap<u64, MessageKey>,
    logsource: Arc<LogSource>,
    capacity: usize,
    /// Whether an event took its time from the header, for want of `when=`.
    header_time_used: bool,
}

impl ApplianceDecoder {
    /// A decoder completing header times with `clock`, holding at most `max_pending`
    /// incomplete messages (at least one).
    pub(crate) fn new(clock: Clock, max_pending: usize) -> Self {
        ApplianceDecoder {
            clock,
            max_pending: max_pending.max(1),
            pending: HashMap::new(),
            by_line: BTreeMap::new(),
            logsource: Arc::new(LogSource::new("remote_support", "appliance")),
            capacity: 16,
            header_time_used: false,
        }
    }

    /// Adds a segment of a message of several; returns the message's first line, header
    /// time, program and whole body when this segment completes it.
    fn add_segment(
        &mut self,
        line: &Line<'_>,
        number: u64,
        sink: &mut Sink<'_>,
    ) -> Option<(u64, i64, Box<str>, String)> {
        let key = MessageKey {
            host: line.host.into(),
            pid: line.pid,
            message_id: line.message_id,
        };
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= self.max_pending {
                self.evict_oldest(sink);
            }
            self.by_line.insert(number, key.clone());
            let pending = Pending {
                first_line: number,
                header_micros: line.header_micros,
                program: line.program.into(),
                segments: vec![None; line.total],
                received: 0,
            };
            self.pending.insert(key.clone(), pending);
        }
        let pending = self.pending.get_mut(&key)?;
        if pending.segments.len() != line.total {
            let message = format!(
                "segment {} of {} of message {} disagrees with the total {} of its first \
                 segment (line {}); line skipped",
                line.segment,
                line.total,
                line.message_id,
                pending.segments.len(),
                pending.first_line
            );
            sink.error(number, FORMAT, message);
            return None;
        }
        let slot = &mut pending.segments[line.segment - 1];
        if slot.is_some() {
            let message = format!(
                "duplicate segment {} of {} of message {} (begun on line {}); line skipped",
                line.segment, line.total, line.message_id, pending.first_line
            );
            sink.error(number, FORMAT, message);
            return None;
        }
        *slot = Some(line.body.into());
        pending.received += 1;
        if pending.received < pending.segments.len() {
            return None;
        }
        let pending = self.pending.remove(&key)?;
        self.by_line.remove(&pending.first_line);
        let body: String = pending.segments.iter().flatten().map(|s| &**s).collect();
        Some((
            pending.first_line,
            pending.header_micros,
            pending.program,
            body,
        ))
    }

    /// Drops the message waiting longest, reporting it.
    fn evict_oldest(&mut self, sink: &mut Sink<'_>) {
        let Some((_, key)) = self.by_line.pop_first() else {
            return;
        };
        if let Some(pending) = self.pending.remove(&key) {
            let why = format!(
                "dropped: more than {} segmented messages waiting for segments",
                self.max_pending
            );
            report_incomplete(&key, &pending, &why, sink);
        }
    }

    /// Decodes a whole message body into an event.
    fn event(
        &mut self,
        line: &Line<'_>,
        program: &str,
        header_micros: i64,
        body: &str,
    ) -> Result<Event, String> {
        let mut event = Event::default();
        event.fields.reserve(self.capacity);
        event.push("host", "", Value::from(line.host));
        event.push("program", "", Value::from(program));
        event.push("pid", "", Value::Int(line.pid));
        event.push("message_id", "", Value::Int(line.message_id));
        let mut when = None;
        let mut who = [None, None, None];
        for pair in Pairs::new(body) {
            let (key, value) = pair?;
            match &*key {
                "when" => when = parse_when(&value),
                "who" => {
                    let (name, user, method) = split_who(&value);
                    who = [name, user, method].map(|part| part.map(Value::from));
                }
                _ => {}
            }
            event.push(&key, "", Value::from(value.as_ref()));
        }
        for (name, value) in ["who_name", "who_user", "auth_method"].into_iter().zip(who) {
            if let Some(value) = value {
                event.push(name, "", value);
            }
        }
        self.header_time_used |= when.is_none();
        event.timestamp_micros = Some(when.unwrap_or(header_micros));
        event.logsource = Some(Arc::clone(&self.logsource));
        self.capacity = event.fields.len();
        Ok(event)
    }
}

impl LineDecoder for ApplianceDecoder {
    fn note(&self) -> Option<String> {
        // Times from `when=` are exact: only header times were completed.
        self.clock.note().filter(|_| self.header_time_used)
    }

    fn decode(&mut self, text: &str, number: u64, sink: &mut Sink<'_>) {
        let line = match parse_line(text, &self.clock) {
            Ok(line) => line,
            Err(message) => return sink.error(number, FORMAT, message),
        };
        let (first_line, header_micros, program, body) = if line.total == 1 {
            (number, line.header_micros, None, None)
        } else {
            match self.add_segment(&line, number, sink) {
                Some((first, micros, program, body)) => (first, micros, Some(program), Some(body)),
                None => return,
            }
        };
        let program = program.as_deref().unwrap_or(line.program);
        let body = body.as_deref().unwrap_or(line.body);
        match self.event(&line, program, header_micros, body) {
            Ok(event) => sink.event(event, first_line),
            Err(message) => sink.error(first_line, FORMAT, message),
        }
    }

    fn finish(&mut self, sink: &mut Sink<'_>) {
        for (_, key) in std::mem::take(&mut self.by_line) {
            if let Some(pending) = self.pending.remove(&key) {
                report_incomplete(&key, &pending, "the input ended first", sink);
            }
        }
    }
}

/// Reports a message dropped before all its segments arrived, under its first line.
fn report_incomplete(key: &MessageKey, pending: &Pending, why: &str, sink: &mut Sink<'_>) {
    let total = pending.segments.len();
    let mut missing = String::new();
    for (index, segment) in pending.segments.iter().enumerate() {
        if segment.is_none() {
            let separator = if missing.is_empty() { "" } else { ", " };
            let _ = write!(missing, "{separator}{}", index + 1);
        }
    }
    let message = format!(
        "incomplete message {} from {}[{}]: {} of {total} segments arrived, missing {missing}; \
         {why}",
        key.message_id, key.host, key.pid, pending.received
    );
    sink.error(pending.first_line, FORMAT, message);
}

/// Parses the header and segment numbers of a line.
fn parse_line<'a>(text: &'a str, clock: &Clock) -> Result<Line<'a>, String> {
    let header = parse_rfc3164(text, clock)?;
    let (program, pid, rest) =
        split_tag(header.rest).ok_or("expected `BG[pid]:` after the host name")?;
    let pid = pid
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("expected a numeric pid in `{program}[pid]`"))?;
    let mut parts = rest.splitn(4, ':');
    let mut number = |what: &str| -> Result<i64, String> {
        let part = parts.next().unwrap_or("");
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("expected the {what} as digits, found `{part}`"));
        }
        part.parse()
            .map_err(|_| format!("{what} `{part}` is too large"))
    };
    let message_id = number("message id")?;
    let segment = number("segment number")?;
    let total = number("segment total")?;
    let body = parts.next().ok_or("expected `:` before the message body")?;
    if total < 1 || segment < 1 || segment > total || total > 9999 {
        return Err(format!(
            "segment {segment} of {total} is out of range (1 to the total, at most 9999)"
        ));
    }
    Ok(Line {
        header_micros: header.micros,
        host: header.host,
        program,
        pid,
        message_id,
        segment: segment as usize,
        total: total as usize,
        body,
    })
}

/// `when=` as epoch seconds (a fraction allowed), in microseconds.
fn parse_when(text: &str) -> Option<i64> {
    let seconds: f64 = text.trim().parse().ok()?;
    let micros = seconds * 1e6;
    (micros.is_finite() && micros.abs() < 9.0e18).then(|| micros.round() as i64)
}

/// Splits `Name(user) using method` into its parts; a part that is absent is `None`.
fn split_who(who: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    // The method follows the user's closing parenthesis, or else the last ` using `.
    let split = match who.find(") using ") {
        Some(at) => Some((&who[..at + 1], &who[at + 8..])),
        None => who.rsplit_once(" using "),
    };
    let (person, method) = match split {
        Some((person, method)) => (person.trim(), Some(method.trim())),
        None => (who.trim(), None),
    };
    let (name, user) = match person.strip_suffix(')').and_then(|p| p.rsplit_once('(')) {
        Some((name, user)) => (name.trim(), Some(user.trim())),
        None => (person, None),
    };
    (non_empty(Some(name)), non_empty(user), non_empty(method))
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.is_empty())
}

/// The `key=value` pairs of a body, split on unescaped `;`, with `\=`, `\;` and `\\`
/// unescaped. An empty piece (`;;`, a trailing `;`) is skipped; a piece without `=` or
/// with an empty key is an error.
struct Pairs<'a> {
    rest: &'a str,
}

impl<'a> Pairs<'a> {
    fn new(body: &'a str) -> Self {
        Pairs { rest: body }
    }
}

type Text<'a> = std::borrow::Cow<'a, str>;

impl<'a> Iterator for Pairs<'a> {
    type Item = Result<(Text<'a>, Text<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (piece, escaped, _) = until_unescaped(self.rest, b';');
            self.rest = self.rest.get(piece.len() + 1..).unwrap_or("");
            if piece.is_empty() {
                continue;
            }
            let (key, key_escaped, _) = until_unescaped(piece, b'=');
            let Some(value) = piece.get(key.len() + 1..) else {
                return Some(Err(format!("field `{piece}` has no `=`")));
            };
            if key.is_empty() {
                return Some(Err(format!("field `{piece}` has an empty name")));
            }
            return Some(Ok((
                unescape_body(key, key_escaped),
                unescape_body(value, escaped),
            )));
        }
    }
}

/// Unescapes `\=`, `\;` and `\\` in `text` if it holds a backslash.
fn unescape_body(text: &str, escaped: bool) -> Text<'_> {
    if escaped {
        Text::Owned(unescape(text, |c| matches!(c, '=' | ';' | '\\'), |c| c))
    } else {
        Text::Borrowed(text)
    }
}

#[cfg(test)]
mod tests;
