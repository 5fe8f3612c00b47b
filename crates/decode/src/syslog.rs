//! Syslog lines, RFC 3164 (BSD) and RFC 5424, told apart line by line; and the header
//! parsers the appliance and CEF decoders reuse.
//!
//! RFC 3164, the `<PRI>` optional, the year and zone absent (completed as [`crate::clock`]
//! says: the year given or inferred from the file's modification time, the zone given or
//! UTC):
//!
//! ```text
//! <38>Feb  5 12:54:46 web-01 sshd[4123]: Failed password for root from 203.0.113.9 port 52211 ssh2
//! ```
//!
//! gives `pri=38, facility=4, severity=6, timestamp=Feb  5 12:54:46, host=web-01,
//! app_name=sshd, procid=4123, message=Failed password ...`. An RFC 3339 time in place of
//! the BSD one (`2024-12-02T03:14:07.123+01:00 host app: ...`, as rsyslog writes with
//! high-precision timestamps) is read too, with its offset.
//!
//! RFC 5424:
//!
//! ```text
//! <165>1 2024-12-02T03:14:07.003Z web-01 sudo 812 ID47 [exampleSDID@32473 iut="3" eventSource="App\"lication"] jdoe : COMMAND=/bin/sh
//! ```
//!
//! gives `pri, facility, severity, version, timestamp, host, app_name, procid, msgid`, one
//! field `sd.<id>.<param>` per structured-data parameter (`\"`, `\\` and `\]` unescaped),
//! and `message` (without a leading byte order mark). A `-` (nil) header field gives no
//! field.
//!
//! Logsource: `product: linux`, and the service Sigma's taxonomy has for the program when
//! the app name is one it knows (`sshd`, `sudo`, `cron`/`crond`/`CRON`, `vsftpd`,
//! `clamd`/`freshclam` as `clamav`, `guacd` as `guacamole`, `auditd`/`audispd` as
//! `auditd`); otherwise `auth` when the facility is auth (4) or authpriv (10), the records
//! of `/var/log/auth.log`; otherwise `syslog`. Linux rules written for `service: sshd` then
//! meet sshd's lines wherever they were collected.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::DateTime;

use crate::clock::Clock;
use tocsin_event::{Event, LogSource, Value};

use crate::text::{LineDecoder, Sink};

/// The format name in errors.
const FORMAT: &str = "syslog";

/// The parts of an RFC 3164 line up to the host.
#[derive(Debug, PartialEq)]
pub(crate) struct Rfc3164<'a> {
    /// The priority, when the line has `<PRI>`.
    pub(crate) pri: Option<u8>,
    /// The time as written.
    pub(crate) timestamp: &'a str,
    /// The time in microseconds since the epoch.
    pub(crate) micros: i64,
    /// The host name.
    pub(crate) host: &'a str,
    /// What follows the host and its space.
    pub(crate) rest: &'a str,
}

/// The parts of an RFC 5424 line.
#[derive(Debug, PartialEq)]
pub(crate) struct Rfc5424<'a> {
    pub(crate) pri: u8,
    pub(crate) version: u32,
    /// `None` for the nil value `-`, as for the header fields below.
    pub(crate) timestamp: Option<&'a str>,
    pub(crate) micros: Option<i64>,
    pub(crate) host: Option<&'a str>,
    pub(crate) app_name: Option<&'a str>,
    pub(crate) procid: Option<&'a str>,
    pub(crate) msgid: Option<&'a str>,
    /// The structured-data parameters, in order.
    pub(crate) params: Vec<SdParam<'a>>,
    /// The message, if any.
    pub(crate) message: Option<&'a str>,
}

/// Splits a leading `<PRI>` off `line`; no `<` means no PRI.
pub(crate) fn parse_pri(line: &str) -> Result<(Option<u8>, &str), String> {
    let Some(rest) = line.strip_prefix('<') else {
        return Ok((None, line));
    };
    let close = rest
        .bytes()
        .take(4)
        .position(|b| b == b'>')
        .ok_or("`<` not closed by `>` after at most 3 digits")?;
    let digits = &rest[..close];
    let pri = digits
        .parse::<u8>()
        .ok()
        .filter(|&p| p <= 191 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("invalid priority `<{digits}>` (0 to 191)"))?;
    Ok((Some(pri), &rest[close + 1..]))
}

/// Whether `line` starts like RFC 5424: `<PRI>` then a version number and a space.
pub(crate) fn looks_like_rfc5424(line: &str) -> bool {
    match parse_pri(line) {
        Ok((Some(_), rest)) => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            (1..=2).contains(&digits) && rest.as_bytes().get(digits) == Some(&b' ')
        }
        _ => false,
    }
}

/// Parses an RFC 3164 header: optional `<PRI>`, `MMM dd HH:MM:SS` (or an RFC 3339 time),
/// the host; `clock` completes the BSD time (its year and zone).
pub(crate) fn parse_rfc3164<'a>(line: &'a str, clock: &Clock) -> Result<Rfc3164<'a>, String> {
    let (pri, rest) = parse_pri(line)?;
    let (timestamp, micros, rest) = match bsd_time(rest, clock)? {
        Some(found) => found,
        None => rfc3339_token(rest).ok_or_else(|| {
            let start: String = rest.chars().take(15).collect();
            format!("expected a time `MMM dd HH:MM:SS`, found `{start}`")
        })?,
    };
    let rest = rest.trim_start_matches(' ');
    let host_end = rest.find(' ').unwrap_or(rest.len());
    let host = &rest[..host_end];
    if host.is_empty() {
        return Err("no host name after the time".into());
    }
    let rest = rest.get(host_end + 1..).unwrap_or("");
    Ok(Rfc3164 {
        pri,
        timestamp,
        micros,
        host,
        rest,
    })
}

/// A BSD time `MMM dd HH:MM:SS` (optionally `.fff`) at the start of `text`: the text, its
/// time, and what follows; `None` when `text` does not start with a month name.
fn bsd_time<'a>(text: &'a str, clock: &Clock) -> Result<Option<(&'a str, i64, &'a str)>, String> {
    let Some(month) = text.get(..3).and_then(month_number) else {
        return Ok(None);
    };
    let bytes = text.as_bytes();
    if bytes.get(3) != Some(&b' ') {
        return Ok(None);
    }
    let invalid = || format!("invalid time `{}`", text.get(..15).unwrap_or(text));
    // `Feb  5` or `Feb 05`; some writers use a single space before a one-digit day.
    let day_start = if bytes.get(4) == Some(&b' ') { 5 } else { 4 };
    let day_len = bytes[day_start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let day: u32 = text[day_start..day_start + day_len]
        .parse()
        .map_err(|_| invalid())?;
    let clock_start = day_start + day_len + 1;
    let hms = text
        .get(clock_start..clock_start + 8)
        .filter(|_| bytes.get(day_start + day_len) == Some(&b' '))
        .ok_or_else(invalid)?;
    let (hour, minute, second) = parse_clock(hms).ok_or_else(invalid)?;
    let mut end = clock_start + 8;
    let mut micros_fraction = 0;
    if bytes.get(end) == Some(&b'.') {
        let digits = bytes[end + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        micros_fraction = fraction_micros(&text[end + 1..end + 1 + digits]);
        end += 1 + digits;
    }
    if !matches!(bytes.get(end), None | Some(b' ')) {
        return Err(invalid());
    }
    let micros = clock
        .complete(month, day, (hour, minute, second))
        .ok_or_else(invalid)?
        + micros_fraction;
    Ok(Some((&text[..end], micros, &text[end..])))
}

/// `HH:MM:SS` as numbers.
fn parse_clock(clock: &str) -> Option<(u32, u32, u32)> {
    let b = clock.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let two = |i: usize| -> Option<u32> { clock.get(i..i + 2)?.parse().ok() };
    Some((two(0)?, two(3)?, two(6)?))
}

/// Up to six fractional digits as microseconds (`5` is 500 000).
fn fraction_micros(digits: &str) -> i64 {
    let mut micros = 0;
    let mut scale = 100_000;
    for digit in digits.bytes().take(6) {
        micros += i64::from(digit - b'0') * scale;
        scale /= 10;
    }
    micros
}

/// The month number of an English three-letter month name, any case.
pub(crate) fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as u32 + 1)
}

/// An RFC 3339 time up to the first space of `text`: the token, its time, and the rest.
fn rfc3339_token(text: &str) -> Option<(&str, i64, &str)> {
    let end = text.find(' ').unwrap_or(text.len());
    let token = &text[..end];
    let time = DateTime::parse_from_rfc3339(token).ok()?;
    Some((token, time.timestamp_micros(), &text[end..]))
}

/// Splits `tag[pid]: message` or `tag: message`; `None` when `rest` does not start so.
pub(crate) fn split_tag(rest: &str) -> Option<(&str, Option<&str>, &str)> {
    let end = rest.find(['[', ':', ' '])?;
    let tag = &rest[..end];
    if tag.is_empty() {
        return None;
    }
    let (pid, after) = match rest.as_bytes()[end] {
        b'[' => {
            let close = rest[end..].find(']')? + end;
            let after = rest[close + 1..].strip_prefix(':')?;
            (Some(&rest[end + 1..close]), after)
        }
        b':' => (None, &rest[end + 1..]),
        _ => return None,
    };
    Some((tag, pid, after.strip_prefix(' ').unwrap_or(after)))
}

/// Parses an RFC 5424 line.
pub(crate) fn parse_rfc5424(line: &str) -> Result<Rfc5424<'_>, String> {
    let (pri, rest) = parse_pri(line)?;
    let pri = pri.ok_or("RFC 5424 needs a `<PRI>`")?;
    let mut fields = rest.splitn(7, ' ');
    let mut next = |what: &str| {
        fields
            .next()
            .filter(|f| !f.is_empty())
            .ok_or_else(|| format!("missing {what}"))
    };
    let version = next("version")?
        .parse()
        .map_err(|_| "invalid version".to_string())?;
    let timestamp = nil(next("timestamp")?);
    let host = nil(next("host name")?);
    let app_name = nil(next("app name")?);
    let procid = nil(next("process id")?);
    let msgid = nil(next("message id")?);
    let rest = next("structured data")?;
    let micros = match timestamp {
        Some(text) => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| format!("invalid timestamp `{text}`"))?
                .timestamp_micros(),
        ),
        None => None,
    };
    let (params, sd_len) = structured_data(rest)?;
    let after = &rest[sd_len..];
    let message = match after.strip_prefix(' ') {
        Some(message) => Some(message.strip_prefix('\u{feff}').unwrap_or(message)),
        None if after.is_empty() => None,
        None => return Err("structured data not followed by a space".into()),
    };
    Ok(Rfc5424 {
        pri,
        version,
        timestamp,
        micros,
        host,
        app_name,
        procid,
        msgid,
        params,
        message,
    })
}

fn nil(field: &str) -> Option<&str> {
    (field != "-").then_some(field)
}

/// One structured-data parameter: its element's id, its name, and its unescaped value.
pub(crate) type SdParam<'a> = (&'a str, &'a str, Cow<'a, str>);

/// The structured data at the start of `text` (`-`, or one or more `[id name="value" ...]`
/// elements): its parameters, and its length in bytes.
fn structured_data(text: &str) -> Result<(Vec<SdParam<'_>>, usize), String> {
    if text.starts_with('-') {
        return Ok((Vec::new(), 1));
    }
    if !text.starts_with('[') {
        return Err("expected structured data `-` or `[`".into());
    }
    let mut params = Vec::new();
    let mut pos = 0;
    let bytes = text.as_bytes();
    while bytes.get(pos) == Some(&b'[') {
        let id_end = text[pos..]
            .find([' ', ']'])
            .map(|i| pos + i)
            .ok_or("structured data element not closed by `]`")?;
        let id = &text[pos + 1..id_end];
        if id.is_empty() || id.contains(['=', '"']) {
            return Err(format!("invalid structured data id `{id}`"));
        }
        pos = id_end;
        while bytes.get(pos) == Some(&b' ') {
            let eq = text[pos..]
                .find('=')
                .map(|i| pos + i)
                .ok_or_else(|| format!("parameter without `=` in `[{id}`"))?;
            let name = &text[pos + 1..eq];
            if name.is_empty() || name.contains([' ', ']', '"']) {
                return Err(format!("invalid parameter name `{name}` in `[{id}`"));
            }
            if bytes.get(eq + 1) != Some(&b'"') {
                return Err(format!("value of `{name}` in `[{id}` is not quoted"));
            }
            let (value, len) = quoted_value(&text[eq + 2..])
                .ok_or_else(|| format!("value of `{name}` in `[{id}` has no closing `\"`"))?;
            params.push((id, name, value));
            pos = eq + 2 + len;
        }
        if bytes.get(pos) != Some(&b']') {
            return Err(format!("structured data element `[{id}` not closed by `]`"));
        }
        pos += 1;
    }
    Ok((params, pos))
}

/// A quoted value's text up to its closing unescaped `"` (unescaping `\"`, `\\`, `\]`; other
/// backslashes are kept, as RFC 5424 says), and the length consumed including the quote.
fn quoted_value(text: &str) -> Option<(Cow<'_, str>, usize)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut escaped = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\'
                if bytes
                    .get(i + 1)
                    .is_some_and(|b| matches!(b, b'"' | b'\\' | b']')) =>
            {
                escaped = true;
                i += 2;
            }
            b'"' => {
                let raw = &text[..i];
                let value = if escaped {
                    Cow::Owned(unescape(raw, |c| matches!(c, '"' | '\\' | ']'), |c| c))
                } else {
                    Cow::Borrowed(raw)
                };
                return Some((value, i + 1));
            }
            _ => i += 1,
        }
    }
    None
}

/// The part of `text` before its first unescaped `stop` byte, whether that part holds a
/// backslash, and whether `stop` was found (when not, the part is all of `text`). Shared
/// by the appliance body (`;`, `=`) and the CEF header (`|`), which escape alike.
pub(crate) fn until_unescaped(text: &str, stop: u8) -> (&str, bool, bool) {
    let bytes = text.as_bytes();
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b if b == stop => return (&text[..i], escaped, true),
            _ => i += 1,
        }
    }
    (text, escaped, false)
}

/// `raw` with each `\c` where `escapable(c)` replaced by `map(c)`; other backslashes kept.
pub(crate) fn unescape(
    raw: &str,
    escapable: impl Fn(char) -> bool,
    map: impl Fn(char) -> char,
) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.clone().next() {
                Some(next) if escapable(next) => {
                    out.push(map(next));
                    chars.next();
                }
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Pushes `pri`, `facility` and `severity`.
pub(crate) fn push_pri(event: &mut Event, pri: u8) {
    event.push("pri", "", Value::Int(i64::from(pri)));
    event.push("facility", "", Value::Int(i64::from(pri >> 3)));
    event.push("severity", "", Value::Int(i64::from(pri & 7)));
}

/// The services of `product: linux` in Sigma's taxonomy, each with the app names that
/// write it; `auth` and `syslog` are the fallbacks.
const SERVICES: [(&str, &[&str]); 7] = [
    ("sshd", &["sshd"]),
    ("sudo", &["sudo"]),
    ("cron", &["cron", "crond", "anacron"]),
    ("vsftpd", &["vsftpd"]),
    ("clamav", &["clamav", "clamd", "freshclam", "clamscan"]),
    ("guacamole", &["guacamole", "guacd"]),
    ("auditd", &["auditd", "audispd", "audit"]),
];

/// The shared logsources of syslog events, one per service.
pub(crate) struct LinuxLogSources {
    services: Vec<Arc<LogSource>>,
    auth: Arc<LogSource>,
    syslog: Arc<LogSource>,
}

impl LinuxLogSources {
    pub(crate) fn new() -> Self {
        LinuxLogSources {
            services: SERVICES
                .iter()
                .map(|(service, _)| Arc::new(LogSource::new("linux", service)))
                .collect(),
            auth: Arc::new(LogSource::new("linux", "auth")),
            syslog: Arc::new(LogSource::new("linux", "syslog")),
        }
    }

    /// The logsource of a line from `app_name` with priority `pri`.
    pub(crate) fn for_line(&self, app_name: Option<&str>, pri: Option<u8>) -> Arc<LogSource> {
        let known = app_name.and_then(|app| {
            SERVICES
                .iter()
                .position(|(_, apps)| apps.iter().any(|a| a.eq_ignore_ascii_case(app)))
        });
        match (known, pri.map(|p| p >> 3)) {
            (Some(index), _) => Arc::clone(&self.services[index]),
            (None, Some(4 | 10)) => Arc::clone(&self.auth),
            _ => Arc::clone(&self.syslog),
        }
    }
}

/// Decodes RFC 3164 and RFC 5424 lines.
pub(crate) struct SyslogDecoder {
    clock: Clock,
    logsources: LinuxLogSources,
    capacity: usize,
}

impl SyslogDecoder {
    /// A decoder completing RFC 3164 times with `clock`.
    pub(crate) fn new(clock: Clock) -> Self {
        SyslogDecoder {
            clock,
            logsources: LinuxLogSources::new(),
            capacity: 12,
        }
    }

    fn decode_rfc5424(&self, line: &str) -> Result<Event, String> {
        let header = parse_rfc5424(line)?;
        let mut event = Event::default();
        event.fields.reserve(self.capacity);
        push_pri(&mut event, header.pri);
        event.push("version", "", Value::Int(i64::from(header.version)));
        let optional = [
            ("timestamp", header.timestamp),
            ("host", header.host),
            ("app_name", header.app_name),
            ("procid", header.procid),
            ("msgid", header.msgid),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                event.push(name, "", Value::from(value));
            }
        }
        let mut path = String::new();
        for (id, name, value) in &header.params {
            path.clear();
            path.push_str("sd.");
            path.push_str(id);
            path.push('.');
            path.push_str(name);
            event.push(&path, "", Value::from(value.as_ref()));
        }
        if let Some(message) = header.message {
            event.push("message", "", Value::from(message));
        }
        event.timestamp_micros = header.micros;
        event.logsource = Some(self.logsources.for_line(header.app_name, Some(header.pri)));
        Ok(event)
    }

    fn decode_rfc3164(&self, line: &str) -> Result<Event, String> {
        let header = parse_rfc3164(line, &self.clock)?;
        let mut event = Event::default();
        event.fields.reserve(self.capacity);
        if let Some(pri) = header.pri {
            push_pri(&mut event, pri);
        }
        event.push("timestamp", "", Value::from(header.timestamp));
        event.push("host", "", Value::from(header.host));
        let (app_name, procid, message) = match split_tag(header.rest) {
            Some((tag, pid, message)) => (Some(tag), pid, message),
            None => (None, None, header.rest),
        };
        if let Some(app_name) = app_name {
            event.push("app_name", "", Value::from(app_name));
        }
        if let Some(procid) = procid {
            event.push("procid", "", Value::from(procid));
        }
        event.push("message", "", Value::from(message));
        event.timestamp_micros = Some(header.micros);
        event.logsource = Some(self.logsources.for_line(app_name, header.pri));
        Ok(event)
    }
}

impl LineDecoder for SyslogDecoder {
    fn note(&self) -> Option<String> {
        self.clock.note()
    }

    fn decode(&mut self, text: &str, line: u64, sink: &mut Sink<'_>) {
        let result = if looks_like_rfc5424(text) {
            self.decode_rfc5424(text)
                .map_err(|e| format!("RFC 5424: {e}"))
        } else {
            self.decode_rfc3164(text)
        };
        match result {
            Ok(event) => {
                self.capacity = event.fields.len();
                sink.event(event, line);
            }
            Err(message) => sink.error(line, FORMAT, message),
        }
    }
}

#[cfg(test)]
mod tests;
