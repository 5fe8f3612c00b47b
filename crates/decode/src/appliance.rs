//! The syslog of BeyondTrust Remote Support / Privileged Remote Access appliances (formerly
//! Bomgar), as the vendor documents it ("Syslog Message Format", "Message Segmentation",
//! "Payload Format"; see `FORMATS.md` for the addresses): a syslog header, the program
//! `BG`, then `<site id>:<segment>:<segment total>:` and a body of `key=value` pairs
//! separated by `;` (`\=`, `\;` and `\\` escape those characters in keys and values).
//! Three header forms are read:
//!
//! ```text
//! Oct 12 14:58:35 example_host BG: 1234:01:01:site=support.example.com;who=John Smith(jsmith);who_ip=192.168.1.1; event=login;target=web/login;status=success
//! Feb  5 12:54:46 example_host BG[98765]:1234:01:01:event=login;site=support.example.com;status=success;target=web/login;when=1738778086;who=John Smith(jsmith) using password;who_ip=192.168.1.1
//! <133>1 2025-09-10T12:08:07+08:00 example_host BG 16703 - [meta sequenceId="46"] 1427:01:01:event=logout;site=support.example.com;target=rep_client;when=1757477287;who=unknown;who_ip=192.0.2.4
//! ```
//!
//! (the documented example without a pid, the current one with `BG[pid]:`, with or without
//! a space after it, and the appliance's RFC 5424 output). The second gives the fields
//! `host=example_host, program=BG, pid=98765, site_id=1234`, then each pair under its key
//! (`event=login`, `site=...`, `when=1738778086`, ...; keys are trimmed, as the documented
//! example has a space after a `;`), then, derived from `who=Name(user) using method`:
//! `who_name=John Smith, who_user=jsmith, auth_method=password`. `pid` and `site_id` are
//! integers, the pairs text; RFC 5424 structured data become `sd.<id>.<name>`. The event
//! time is `when=` (epoch seconds, UTC) when it is a number, else the header's time (whose
//! year and zone are completed as [`crate::clock`] says for RFC 3164). Logsource:
//! `product: remote_support, service: appliance`.
//!
//! The first number is the site ID, the same for every message of a site: it does not tell
//! messages apart. A body over 1 KB is split over lines numbered `01:03`, `02:03`, `03:03`,
//! cut anywhere (inside a key too), which one appliance process sends one after the other.
//! Segments are therefore gathered by (host, pid when there is one, site ID) and by order:
//! a message starts with its segment 1 and takes its segments in turn; once the last has
//! arrived it is decoded from the segments joined, numbered (and reported) by the line of
//! its first segment, taking its header time. Messages of other hosts, processes or sites
//! may interleave. Errors:
//!
//! * a segment number outside `1..=total`: an error naming the line, which is skipped;
//! * a segment that is not the next one the waiting message expects (another segment 1, a
//!   segment skipped, another total): the waiting message lost segments, so it is reported
//!   incomplete (under its first line, with the segments missing) and dropped;
//! * a segment other than 1 with no message waiting (its first segments were lost): an
//!   error naming the line, which is skipped, rather than a message pieced together from
//!   the halves of two;
//! * a message still incomplete at the end of the input: reported likewise;
//! * more than [`DecodeOptions::appliance_max_pending`](crate::DecodeOptions::appliance_max_pending)
//!   messages waiting at once: the oldest is dropped and reported likewise.
//!
//! A waiting message holds only the segments that arrived, so a line announcing 9,999
//! segments costs no more than its own text.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tocsin_event::{Event, LogSource, Value};

use crate::clock::Clock;
use crate::syslog::{
    looks_like_rfc5424, parse_rfc3164, parse_rfc5424, split_tag, unescape, until_unescaped, SdParam,
};
use crate::text::{LineDecoder, Sink};
use crate::timestamp::from_epoch_seconds;

/// The format name in errors.
const FORMAT: &str = "appliance";

/// What the segments of one message share: one appliance process's messages of a site
/// arrive one after the other, so this and their order identify a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MessageKey {
    host: Box<str>,
    pid: Option<i64>,
    site_id: i64,
}

impl std::fmt::Display for MessageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "{}[{pid}] site {}", self.host, self.site_id),
            None => write!(f, "{} site {}", self.host, self.site_id),
        }
    }
}

/// A segmented message waiting for its other segments.
struct Pending {
    /// The line of the first segment that arrived, which the message is reported under.
    first_line: u64,
    /// The header time of that segment, if it has one.
    header_micros: Option<i64>,
    program: Box<str>,
    /// The segments' bodies that arrived, in order (segment 1 first).
    segments: Vec<Box<str>>,
    /// How many segments the message has.
    total: usize,
}

/// The header and segment numbers of one appliance line.
struct Line<'a> {
    /// The header's time (an RFC 5424 header may have none).
    header_micros: Option<i64>,
    host: &'a str,
    program: &'a str,
    pid: Option<i64>,
    site_id: i64,
    segment: usize,
    total: usize,
    body: &'a str,
    /// RFC 5424 structured data: (element id, name, value).
    params: Vec<SdParam<'a>>,
    /// Whether the header's time is an RFC 3164 one, completed by the clock (an RFC 5424
    /// time is exact).
    completed_time: bool,
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
    ) -> Option<(u64, Option<i64>, Box<str>, String)> {
        let key = MessageKey {
            host: line.host.into(),
            pid: line.pid,
            site_id: line.site_id,
        };
        let begins_another = self.pending.get(&key).is_some_and(|pending| {
            pending.total != line.total || line.segment != pending.segments.len() + 1
        });
        if begins_another {
            if let Some(pending) = self.pending.remove(&key) {
                self.by_line.remove(&pending.first_line);
                let why = format!("line {number} does not continue it");
                report_incomplete(&key, &pending, &why, sink);
            }
        }
        if !self.pending.contains_key(&key) {
            if line.segment != 1 {
                let message = format!(
                    "segment {} of {} from {key} without the segments before it (lost); line skipped",
                    line.segment, line.total
                );
                sink.error(number, FORMAT, message);
                return None;
            }
            if self.pending.len() >= self.max_pending {
                self.evict_oldest(sink);
            }
            self.by_line.insert(number, key.clone());
            let pending = Pending {
                first_line: number,
                header_micros: line.header_micros,
                program: line.program.into(),
                segments: Vec::new(),
                total: line.total,
            };
            self.pending.insert(key.clone(), pending);
        }
        let pending = self.pending.get_mut(&key)?;
        pending.segments.push(line.body.into());
        if pending.segments.len() < pending.total {
            return None;
        }
        let pending = self.pending.remove(&key)?;
        self.by_line.remove(&pending.first_line);
        let body: String = pending.segments.concat();
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
        header_micros: Option<i64>,
        body: &str,
    ) -> Result<Event, String> {
        let mut event = Event::default();
        event.fields.reserve(self.capacity);
        event.push("host", "", Value::from(line.host));
        event.push("program", "", Value::from(program));
        if let Some(pid) = line.pid {
            event.push("pid", "", Value::Int(pid));
        }
        event.push("site_id", "", Value::Int(line.site_id));
        for (id, name, value) in &line.params {
            event.push(&format!("sd.{id}.{name}"), "", Value::from(value.as_ref()));
        }
        let mut when = None;
        let mut who = [None, None, None];
        for pair in Pairs::new(body) {
            let (key, value) = pair?;
            match &*key {
                "when" => when = from_epoch_seconds(&value),
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
        self.header_time_used |= when.is_none() && line.completed_time;
        event.timestamp_micros = when.or(header_micros);
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
                let message = incomplete(&key, &pending, "the input ended first");
                sink.unfinished(pending.first_line, FORMAT, message);
            }
        }
    }
}

/// Reports a message dropped before all its segments arrived, under its first line.
fn report_incomplete(key: &MessageKey, pending: &Pending, why: &str, sink: &mut Sink<'_>) {
    sink.error(pending.first_line, FORMAT, incomplete(key, pending, why));
}

/// What is missing of a message dropped before all its segments arrived, and why.
fn incomplete(key: &MessageKey, pending: &Pending, why: &str) -> String {
    let (received, total) = (pending.segments.len(), pending.total);
    let missing = match total - received {
        1 => format!("{total}"),
        _ => format!("{} to {total}", received + 1),
    };
    format!(
        "incomplete message from {key}: {received} of {total} segments arrived, missing {missing}; \
         {why}"
    )
}

/// Where a line of the appliance's syslog stands in its message: `(segment, total)`
/// (`BG: 4135:01:02:…` is the first of two), or `None` for a line that is not one. Inputs
/// that batch lines (the service's syslog listeners) use it to keep a message's segments
/// in one batch, so that the decoder meets them together.
pub fn segment_of(line: &str) -> Option<(usize, usize)> {
    let clock = Clock::given(2000, crate::UtcOffset::default());
    parse_line(line, &clock)
        .ok()
        .map(|line| (line.segment, line.total))
}

/// Parses the header and segment numbers of a line, in any of the three header forms.
fn parse_line<'a>(text: &'a str, clock: &Clock) -> Result<Line<'a>, String> {
    if looks_like_rfc5424(text) {
        return parse_rfc5424_line(text);
    }
    let header = parse_rfc3164(text, clock)?;
    let (program, pid, rest) =
        split_tag(header.rest).ok_or("expected `BG:` or `BG[pid]:` after the host name")?;
    let pid = match pid {
        None => None,
        Some(pid) => Some(
            pid.parse()
                .map_err(|_| format!("expected a numeric pid in `{program}[pid]`"))?,
        ),
    };
    let numbers = parse_segment_header(rest)?;
    Ok(Line {
        header_micros: Some(header.micros),
        host: header.host,
        program,
        pid,
        site_id: numbers.site_id,
        segment: numbers.segment,
        total: numbers.total,
        body: numbers.body,
        params: Vec::new(),
        completed_time: true,
    })
}

/// Parses an RFC 5424 line whose app name is the program (`BG`) and process id the pid.
fn parse_rfc5424_line(text: &str) -> Result<Line<'_>, String> {
    let header = parse_rfc5424(text)?;
    let program = header.app_name.ok_or("expected the app name `BG`")?;
    let pid = match header.procid {
        None => None,
        Some(pid) => Some(
            pid.parse()
                .map_err(|_| format!("expected a numeric process id, found `{pid}`"))?,
        ),
    };
    let message = header
        .message
        .ok_or("expected a message after the header")?;
    let numbers = parse_segment_header(message.trim_start_matches(' '))?;
    Ok(Line {
        header_micros: header.micros,
        host: header.host.unwrap_or("-"),
        program,
        pid,
        site_id: numbers.site_id,
        segment: numbers.segment,
        total: numbers.total,
        body: numbers.body,
        params: header.params,
        completed_time: false,
    })
}

/// `site:segment:total:` and the body after it.
struct SegmentHeader<'a> {
    site_id: i64,
    segment: usize,
    total: usize,
    body: &'a str,
}

/// Parses `<site id>:<segment>:<total>:<body>`.
fn parse_segment_header(rest: &str) -> Result<SegmentHeader<'_>, String> {
    let mut parts = rest.splitn(4, ':');
    let mut number = |what: &str| -> Result<i64, String> {
        let part = parts.next().unwrap_or("");
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("expected the {what} as digits, found `{part}`"));
        }
        part.parse()
            .map_err(|_| format!("{what} `{part}` is too large"))
    };
    let site_id = number("site id")?;
    let segment = number("segment number")?;
    let total = number("segment total")?;
    let body = parts.next().ok_or("expected `:` before the message body")?;
    if total < 1 || segment < 1 || segment > total || total > 9999 {
        return Err(format!(
            "segment {segment} of {total} is out of range (1 to the total, at most 9999)"
        ));
    }
    Ok(SegmentHeader {
        site_id,
        segment: segment as usize,
        total: total as usize,
        body,
    })
}

/// Splits `Name(user) using method` into its parts; a part that is absent is `None`. A bare
/// single word (`jsmith`) is both the name and the user.
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
        // A bare single word (`who=jsmith`) is the username itself; `unknown` names nobody.
        None if !person.contains(char::is_whitespace) && person != "unknown" => {
            (person, Some(person))
        }
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
            // The documented example has a space after a `;`: keys are trimmed.
            let key = key.trim_matches(' ');
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
