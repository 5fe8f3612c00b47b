//! ArcSight Common Event Format (CEF) lines, bare or after a syslog header (RFC 3164 or
//! RFC 5424):
//!
//! ```text
//! Sep 19 08:26:10 fw-01 CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232 suser=j\=doe msg=Detected a threat.\nNo action needed. rt=1726734370000
//! ```
//!
//! The header `CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|
//! Severity|` gives the fields `cef.version`, `cef.device_vendor`, `cef.device_product`,
//! `cef.device_version`, `cef.signature_id`, `cef.name`, `cef.severity` (text; `\|` and
//! `\\` unescaped). The extension gives one field per `key=value` under its key (`src`,
//! `dst`, `suser`, `cs1Label`, ...); values run to the next ` key=` and have `\=`, `\\`,
//! `\|`, `\n` (newline) and `\r` unescaped. A syslog header before `CEF:` gives `host`.
//!
//! Time: `rt` (epoch milliseconds, or `MMM dd yyyy HH:mm:ss[.SSS][ zone]`, or `MMM dd
//! HH:mm:ss` with the year completed as for syslog, or RFC 3339; a time without a zone is in
//! the clock's zone); else the syslog header's time.
//!
//! Logsource: `product` is the device product, lowercased with every run of characters
//! other than letters and digits made one `_` (`Threat Manager` gives `threat_manager`),
//! and `service: cef`, so a rule can target one product's CEF feed; CEF has no Sigma
//! taxonomy of its own, and the product is what rules written for it name.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike};

use crate::clock::Clock;
use tocsin_event::{Event, LogSource, Value};

use crate::syslog::{looks_like_rfc5424, parse_rfc3164, parse_rfc5424, unescape, until_unescaped};
use crate::text::{LineDecoder, Sink};

/// The format name in errors.
const FORMAT: &str = "cef";

/// The header fields, in order.
const HEADER: [&str; 7] = [
    "cef.version",
    "cef.device_vendor",
    "cef.device_product",
    "cef.device_version",
    "cef.signature_id",
    "cef.name",
    "cef.severity",
];

/// Where `CEF:` starts in `line`: at its start, or after a space (following a syslog
/// header), followed by a version and `|`.
pub(crate) fn find_cef(line: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = line[from..].find("CEF:") {
        let at = from + found;
        let after = &line[at + 4..];
        let digits = after
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let starts = at == 0 || line.as_bytes()[at - 1] == b' ';
        if starts && digits > 0 && after.as_bytes().get(digits) == Some(&b'|') {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// Decodes CEF lines.
pub(crate) struct CefDecoder {
    clock: Clock,
    /// The logsource of each device product seen, shared by its events.
    logsources: HashMap<String, Arc<LogSource>>,
    capacity: usize,
}

impl CefDecoder {
    /// A decoder completing times without a year or zone with `clock`.
    pub(crate) fn new(clock: Clock) -> Self {
        CefDecoder {
            clock,
            logsources: HashMap::new(),
            capacity: 16,
        }
    }

    fn decode_line(&mut self, line: &str) -> Result<Event, String> {
        let start = find_cef(line).ok_or("no `CEF:<version>|` in the line")?;
        let mut event = Event::default();
        event.fields.reserve(self.capacity);
        let (host, header_micros) = syslog_prefix(line[..start].trim_end(), &self.clock)?;
        if let Some(host) = host {
            event.push("host", "", Value::from(host.as_ref()));
        }
        let cef = &line[start + 4..];
        let mut rest = cef;
        let mut product = Cow::Borrowed("");
        for (index, name) in HEADER.iter().enumerate() {
            let (field, escaped) = header_field(rest).ok_or_else(|| {
                format!("the header has {index} of 7 `|`-separated fields, {name} missing")
            })?;
            rest = &rest[field.len() + 1..];
            let value = if escaped {
                Cow::Owned(unescape(field, |c| matches!(c, '|' | '\\'), |c| c))
            } else {
                Cow::Borrowed(field)
            };
            event.push(name, "", Value::from(value.as_ref()));
            if index == 2 {
                product = value;
            }
        }
        let mut rt = None;
        for pair in Extension::new(rest) {
            let (key, value) = pair?;
            let value = unescape_value(value);
            if key == "rt" {
                rt = Some(event.fields.len());
            }
            event.push(key, "", Value::from(value.as_ref()));
        }
        let rt_micros = rt.and_then(|index| match &event.fields[index].value {
            Value::Str(text) => parse_rt(text, &self.clock),
            _ => None,
        });
        event.timestamp_micros = rt_micros.or(header_micros);
        event.logsource = Some(self.logsource(&product));
        self.capacity = event.fields.len();
        Ok(event)
    }

    /// The shared logsource of `product`.
    fn logsource(&mut self, product: &str) -> Arc<LogSource> {
        if let Some(found) = self.logsources.get(product) {
            return Arc::clone(found);
        }
        let logsource = Arc::new(LogSource::new(&product_name(product), "cef"));
        self.logsources
            .insert(product.to_string(), Arc::clone(&logsource));
        logsource
    }
}

impl LineDecoder for CefDecoder {
    fn note(&self) -> Option<String> {
        self.clock.note()
    }

    fn decode(&mut self, text: &str, line: u64, sink: &mut Sink<'_>) {
        match self.decode_line(text) {
            Ok(event) => sink.event(event, line),
            Err(message) => sink.error(line, FORMAT, message),
        }
    }
}

/// The host and time of the syslog header before `CEF:`, if there is one.
fn syslog_prefix<'a>(
    prefix: &'a str,
    clock: &Clock,
) -> Result<(Option<Cow<'a, str>>, Option<i64>), String> {
    if prefix.is_empty() {
        return Ok((None, None));
    }
    if looks_like_rfc5424(prefix) {
        // Often cut short (`<PRI>1 time host`, no structured data): nil the missing fields.
        let fields = prefix.split(' ').count();
        let completed = match fields {
            0..7 => Cow::Owned(format!("{prefix}{}", " -".repeat(7 - fields))),
            _ => Cow::Borrowed(prefix),
        };
        let header =
            parse_rfc5424(&completed).map_err(|e| format!("RFC 5424 header before `CEF:`: {e}"))?;
        let host = header.host.map(|h| Cow::Owned(h.to_string()));
        return Ok((host, header.micros));
    }
    let header = parse_rfc3164(prefix, clock).map_err(|e| format!("before `CEF:`: {e}"))?;
    Ok((Some(Cow::Borrowed(header.host)), Some(header.micros)))
}

/// The header field at the start of `text` up to its unescaped `|`, and whether it holds a
/// backslash; `None` when no `|` ends it.
fn header_field(text: &str) -> Option<(&str, bool)> {
    match until_unescaped(text, b'|') {
        (field, escaped, true) => Some((field, escaped)),
        _ => None,
    }
}

/// Unescapes an extension value: `\=`, `\\`, `\|`, `\n`, `\r`.
fn unescape_value(value: &str) -> Cow<'_, str> {
    if !value.contains('\\') {
        return Cow::Borrowed(value);
    }
    Cow::Owned(unescape(
        value,
        |c| matches!(c, '=' | '\\' | '|' | 'n' | 'r'),
        |c| match c {
            'n' => '\n',
            'r' => '\r',
            other => other,
        },
    ))
}

/// Whether `b` may be part of an extension key (`src`, `cs1Label`, `ad.user`, `x[0]`).
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']')
}

/// The `key=value` pairs of a CEF extension, values still escaped. A value runs to the
/// space before the next `key=` (an unescaped `=` preceded by a key and a space); an `=`
/// that is not so preceded belongs to the value.
struct Extension<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Extension<'a> {
    fn new(text: &'a str) -> Self {
        let pos = text.len() - text.trim_start().len();
        Extension { text, pos }
    }

    /// The byte offset of the next key (after a space) followed by an unescaped `=`, at or
    /// after `from`, and the offset of that `=`.
    fn next_key(&self, from: usize) -> Option<(usize, usize)> {
        let bytes = self.text.as_bytes();
        let mut i = from;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'=' => {
                    // The key is the run of key bytes before `=`, and a space before it.
                    let start = bytes[from..i]
                        .iter()
                        .rposition(|&b| !is_key_byte(b))
                        .map_or(from, |p| from + p + 1);
                    if start > from && start < i && bytes[start - 1] == b' ' {
                        return Some((start, i));
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        None
    }
}

impl<'a> Iterator for Extension<'a> {
    type Item = Result<(&'a str, &'a str), String>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.text;
        if self.pos >= text.len() {
            return None;
        }
        let rest = &text[self.pos..];
        let Some(eq) = rest.find('=').map(|i| self.pos + i) else {
            self.pos = text.len();
            return Some(Err(format!("extension `{rest}` has no `key=`")));
        };
        let key = &text[self.pos..eq];
        if key.is_empty() || !key.bytes().all(is_key_byte) {
            self.pos = text.len();
            return Some(Err(format!("invalid extension key `{key}`")));
        }
        let value_start = eq + 1;
        let (value_end, next) = match self.next_key(value_start) {
            Some((next_key, _)) => (next_key - 1, next_key),
            None => (text.len(), text.len()),
        };
        self.pos = next;
        let value = text[value_start..value_end.max(value_start)].trim_end_matches(' ');
        Some(Ok((key, value)))
    }
}

/// The time `rt` names, in microseconds.
fn parse_rt(text: &str, clock: &Clock) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let millis: i64 = text.parse().ok()?;
        return millis.checked_mul(1000);
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_micros());
    }
    for format in ["%b %d %Y %H:%M:%S%.f %z", "%b %d %Y %H:%M:%S%.f %:z"] {
        if let Ok(time) = DateTime::parse_from_str(text, format) {
            return Some(time.timestamp_micros());
        }
    }
    // A zone name: only UTC and GMT are unambiguous; without one, the clock's zone.
    let utc = ["UTC", "GMT", "Z"]
        .iter()
        .find_map(|zone| text.strip_suffix(zone))
        .map(str::trim_end);
    let bare = utc.unwrap_or(text);
    if let Ok(time) = NaiveDateTime::parse_from_str(bare, "%b %d %Y %H:%M:%S%.f") {
        return Some(match utc {
            Some(_) => time.and_utc().timestamp_micros(),
            None => clock.to_utc(time)?,
        });
    }
    // No year: parsed in a leap year to get the date, then completed by the clock.
    let with_year = format!("2000 {bare}");
    let time = NaiveDateTime::parse_from_str(&with_year, "%Y %b %d %H:%M:%S%.f").ok()?;
    let hms = (time.hour(), time.minute(), time.second());
    let micros = clock.complete(time.month(), time.day(), hms)?;
    let offset = match utc {
        Some(_) => clock.to_utc(time)? - time.and_utc().timestamp_micros(),
        None => 0,
    };
    Some(micros - offset + i64::from(time.nanosecond() / 1000))
}

/// A device product as a logsource product: lowercase, non-alphanumeric runs as `_`.
fn product_name(product: &str) -> String {
    let mut name = String::with_capacity(product.len());
    for c in product.chars() {
        if c.is_alphanumeric() {
            name.extend(c.to_lowercase());
        } else if !name.ends_with('_') {
            name.push('_');
        }
    }
    let trimmed = name.trim_matches('_');
    if trimmed.is_empty() {
        "cef".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests;
