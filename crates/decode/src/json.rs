//! The JSON decoder: JSON Lines, one JSON array of objects, or concatenated (pretty-printed)
//! objects, told apart by content.
//!
//! * JSON Lines (each non-blank line one object) is read line by line, so it streams; a bad
//!   line is one error and the next line is read. Records are numbered by line.
//! * An array or concatenated objects are read into memory and decoded one object at a
//!   time. Records are numbered by object. After a syntax error in one element, reading
//!   starts again at the next place where an element can start (a `{` after a `,` or a `}`,
//!   or at the start of a line), so one broken element is one error and the later elements
//!   are kept; an element that is well-formed JSON but not an object (`[1, 2]`) is one error
//!   and is skipped; only a truncated input ends early.
//!
//! The first non-blank line decides: if it holds exactly one complete object (or is not
//! JSON at all) the input is JSON Lines, otherwise the objects are concatenated. An input
//! whose first line starts with neither `{` nor `[` is still read as JSON Lines, each line
//! that is not JSON being one error, when a later line in its first 64 KiB starts with `{`.
//!
//! Bytes that are not UTF-8 are replaced by U+FFFD, as in the text formats, so that a stray
//! byte in one string cannot hide a whole record from the rules.

use std::borrow::Cow;
use std::io::{BufRead, Cursor, Read};
use std::sync::Arc;

use serde::de::{DeserializeSeed, IgnoredAny};
use serde_json::error::Category;
use tocsin_event::{Event, LogSource, Origin};

use crate::error::DecodeError;
use crate::flatten::{FlatEvent, Flattener};
use crate::EventSource;

/// Events decoded from JSON text.
pub(crate) struct JsonSource {
    name: Arc<str>,
    mode: Mode,
    /// An error that ended the reading of an array or concatenated objects (a truncated
    /// gzip file), yielded after the records read before it.
    trailing: Option<DecodeError>,
    /// How many fields the last event had, to size the next one.
    capacity: usize,
    /// The first record that looked like a Windows event (an `EventID`) but named no
    /// `Channel`, which no Windows rule can be placed on (see [`EventSource::note`]).
    unplaced_windows: Option<u64>,
    /// The logsource the user declared for these records (see
    /// [`crate::DecodeOptions::logsource`]).
    declared: Option<Arc<LogSource>>,
    /// The first record of unknown origin (no `Channel`, no `EventID`, nothing declared),
    /// which no rule written for a product can meet (see [`EventSource::note`]).
    unknown_origin: Option<u64>,
}

enum Mode {
    Lines(Lines),
    Stream(Stream),
}

/// JSON Lines, read one line at a time.
struct Lines {
    reader: Box<dyn BufRead + Send>,
    buffer: Vec<u8>,
    /// The line that was read to tell the format, yet to be decoded.
    pending: bool,
    /// The number of the line in `buffer`.
    line: u64,
    done: bool,
}

/// An array or concatenated objects, held in memory.
struct Stream {
    data: Vec<u8>,
    pos: usize,
    /// The 1-based line and the byte offset where that line starts, at `pos`.
    line: u64,
    line_start: usize,
    /// How many objects have been read.
    index: u64,
    array: ArrayState,
    done: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    /// Concatenated objects, not an array.
    None,
    /// Just after `[`.
    Start,
    /// After an element.
    AfterElement,
}

impl JsonSource {
    /// Tells the shape of the JSON in `reader` and prepares to decode it.
    ///
    /// # Errors
    ///
    /// Reading fails, or the content does not start with `{` or `[`.
    pub(crate) fn new(
        name: Arc<str>,
        mut reader: Box<dyn BufRead + Send>,
    ) -> Result<Self, DecodeError> {
        let io = |e| DecodeError::io(&name, e);
        // Skip a byte order mark and blank lines, counting the lines.
        let mut skipped_lines = 0;
        let mut at_start = true;
        let first = loop {
            let buffer = reader.fill_buf().map_err(io)?;
            if buffer.is_empty() {
                break None;
            }
            let mut skip = 0;
            if at_start && buffer.starts_with(b"\xEF\xBB\xBF") {
                skip = 3;
            }
            at_start = false;
            let found = buffer[skip..].iter().position(|b| !b.is_ascii_whitespace());
            let end = found.map_or(buffer.len(), |i| skip + i);
            skipped_lines += count_newlines(&buffer[..end]);
            let first = found.map(|i| buffer[skip + i]);
            reader.consume(end);
            if first.is_some() {
                break first;
            }
        };
        let trailing;
        let mode = match first {
            None | Some(b'{') => {
                let mut buffer = Vec::new();
                reader.read_until(b'\n', &mut buffer).map_err(io)?;
                if first.is_none() || is_one_object(&buffer) {
                    trailing = None;
                    Mode::Lines(Lines {
                        reader,
                        buffer,
                        pending: first.is_some(),
                        line: skipped_lines + 1,
                        done: first.is_none(),
                    })
                } else {
                    // What was read before an error is kept (`read_to_end` appends it).
                    trailing = reader.read_to_end(&mut buffer).err().map(io);
                    Mode::Stream(Stream::new(buffer, skipped_lines, ArrayState::None))
                }
            }
            Some(b'[') => {
                let mut first_line = Vec::new();
                reader.read_until(b'\n', &mut first_line).map_err(io)?;
                let garbage = first_element_is_not_json(&first_line);
                let reader: Box<dyn BufRead + Send> =
                    Box::new(Cursor::new(first_line).chain(reader));
                // `[INFO] ...` is a log line, not an array, when JSON Lines follow it.
                let lines = match garbage {
                    true => lines_after_garbage(reader, skipped_lines).map_err(io)?,
                    false => Err(reader),
                };
                match lines {
                    Ok(lines) => {
                        trailing = None;
                        lines
                    }
                    Err(mut reader) => {
                        let mut buffer = Vec::new();
                        trailing = reader.read_to_end(&mut buffer).err().map(io);
                        let mut stream = Stream::new(buffer, skipped_lines, ArrayState::Start);
                        stream.pos = 1;
                        Mode::Stream(stream)
                    }
                }
            }
            Some(other) => {
                trailing = None;
                match lines_after_garbage(reader, skipped_lines).map_err(io)? {
                    Ok(lines) => lines,
                    Err(_) => {
                        return Err(DecodeError::UnknownFormat {
                            file: name,
                            reason: format!(
                                "the first line is not JSON (it starts with {:?}) and no line \
                                 in the first {} KiB starts with `{{`",
                                char::from(other),
                                LOOKAHEAD / 1024
                            ),
                        })
                    }
                }
            }
        };
        Ok(JsonSource {
            name,
            mode,
            trailing,
            capacity: 16,
            unplaced_windows: None,
            declared: None,
            unknown_origin: None,
        })
    }

    /// Tags every record with `logsource`, where the user declared where they come from.
    pub(crate) fn declared(mut self, logsource: Option<Arc<LogSource>>) -> Self {
        self.declared = logsource;
        self
    }

    fn finish(&mut self, mut event: Event, record: u64) -> Event {
        self.capacity = event.fields.len();
        self.note_placement(&event, record);
        if let Some(logsource) = &self.declared {
            event.logsource = Some(Arc::clone(logsource));
        }
        event.origin = Origin {
            source: Arc::clone(&self.name),
            record,
        };
        event
    }
}

impl JsonSource {
    /// Remembers the first record that no Windows rule can be placed on and the first of
    /// unknown origin, for the notes; once both are known nothing is read.
    fn note_placement(&mut self, event: &Event, record: u64) {
        // A declared logsource says where records of unknown origin come from.
        let origin_known = self.unknown_origin.is_some() || self.declared.is_some();
        if self.unplaced_windows.is_some() && origin_known {
            return;
        }
        match placement(event) {
            Placement::Channel => {}
            Placement::EventIdOnly => {
                self.unplaced_windows.get_or_insert(record);
            }
            Placement::Unknown if self.declared.is_none() => {
                self.unknown_origin.get_or_insert(record);
            }
            Placement::Unknown => {}
        }
    }
}

/// The input read as JSON Lines after a first line that is not JSON, if a line in the
/// first [`LOOKAHEAD`] bytes starts with `{` (the lines that are not JSON become errors);
/// else a reader that yields the input again.
fn lines_after_garbage(
    reader: Box<dyn BufRead + Send>,
    skipped_lines: u64,
) -> std::io::Result<Result<Mode, Box<dyn BufRead + Send>>> {
    let (found, reader) = find_object_line(reader)?;
    if !found {
        return Ok(Err(reader));
    }
    Ok(Ok(Mode::Lines(Lines {
        reader,
        buffer: Vec::new(),
        pending: false,
        line: skipped_lines,
        done: false,
    })))
}

/// Whether the first element of the array that `line` opens is not JSON (`[INFO] ...`),
/// rather than a value, whole or cut at the end of the line.
fn first_element_is_not_json(line: &[u8]) -> bool {
    let line = lossy(line);
    let Some(after) = line.trim_ascii_start().strip_prefix(b"[") else {
        return false;
    };
    let mut values = serde_json::Deserializer::from_slice(after).into_iter::<IgnoredAny>();
    let after = after.trim_ascii_start();
    !after.starts_with(b"]") && matches!(values.next(), Some(Err(error)) if !error.is_eof())
}

/// How far past a first line that is not JSON [`find_object_line`] looks for one that is.
const LOOKAHEAD: usize = 64 * 1024;

/// Reads lines from `reader` (at most [`LOOKAHEAD`] bytes) until one starts with `{`;
/// returns whether one did, and a reader that yields the lines read again, then the rest.
fn find_object_line(
    mut reader: Box<dyn BufRead + Send>,
) -> std::io::Result<(bool, Box<dyn BufRead + Send>)> {
    let mut head = Vec::new();
    let mut found = false;
    while head.len() < LOOKAHEAD {
        let start = head.len();
        let read = (&mut reader)
            .take((LOOKAHEAD - start) as u64)
            .read_until(b'\n', &mut head)?;
        if read == 0 {
            break;
        }
        if head[start..].trim_ascii_start().starts_with(b"{") {
            found = true;
            break;
        }
    }
    Ok((found, Box::new(Cursor::new(head).chain(reader))))
}

/// The event of one JSON line: parsed as it is, and only when that fails, again as
/// [`lossy`] repairs it. serde_json refuses invalid UTF-8 and lone surrogate escapes in
/// the strings it reads, so a line it takes needs no repair, and most lines are spared a
/// second reading.
fn flatten_line(text: &[u8], capacity: usize) -> Result<Event, serde_json::Error> {
    let parse = |bytes: &[u8]| {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        Flattener::with_capacity(capacity)
            .deserialize(&mut de)
            .and_then(|event| de.end().map(|()| event))
    };
    parse(text).or_else(|error| match lossy(text) {
        Cow::Borrowed(_) => Err(error),
        Cow::Owned(repaired) => parse(&repaired),
    })
}

/// `bytes` as JSON that serde_json can turn into strings: each invalid UTF-8 sequence
/// replaced by U+FFFD (JSON's structure is ASCII, so it is untouched), and so is each
/// `\uXXXX` escape of a lone UTF-16 surrogate, which serde_json refuses, so that neither
/// can hide a record from the rules.
fn lossy(bytes: &[u8]) -> Cow<'_, [u8]> {
    let valid = match std::str::from_utf8(bytes) {
        Ok(_) => Cow::Borrowed(bytes),
        Err(_) => Cow::Owned(String::from_utf8_lossy(bytes).into_owned().into_bytes()),
    };
    match lone_surrogates(&valid) {
        None => valid,
        Some(fixed) => Cow::Owned(fixed),
    }
}

/// `text` with each `\uXXXX` escape of a lone surrogate made `\uFFFD`, or `None` when it
/// has none.
fn lone_surrogates(text: &[u8]) -> Option<Vec<u8>> {
    let escape = |at: usize| -> Option<u16> {
        let hex = text.get(at..at + 6)?.strip_prefix(b"\\u")?;
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let mut fixed: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = text.get(at..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        at += found;
        let lone = match escape(at) {
            Some(0xD800..=0xDBFF) if matches!(escape(at + 6), Some(0xDC00..=0xDFFF)) => {
                at += 12;
                continue;
            }
            Some(0xD800..=0xDFFF) => true,
            _ => false,
        };
        if lone {
            let out = fixed.get_or_insert_with(|| Vec::with_capacity(text.len()));
            out.extend_from_slice(&text[copied..at]);
            out.extend_from_slice(b"\\uFFFD");
            at += 6;
            copied = at;
        } else {
            // Any other escape is two bytes (`\\`, `\"`, ...) or a valid `\uXXXX`.
            at += 2;
        }
    }
    let mut out = fixed?;
    out.extend_from_slice(&text[copied..]);
    Some(out)
}

/// Whether `line` holds one complete JSON value and nothing more, or is not JSON at all
/// (so that JSON Lines reports it as a bad line); `false` when the value goes on past the
/// line or another follows it.
fn is_one_object(line: &[u8]) -> bool {
    let line = &*lossy(line);
    let mut values = serde_json::Deserializer::from_slice(line).into_iter::<IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => line[values.byte_offset()..]
            .iter()
            .all(u8::is_ascii_whitespace),
        Some(Err(error)) => !error.is_eof(),
        None => true,
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl Iterator for JsonSource {
    type Item = Result<Event, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = match &mut self.mode {
            Mode::Lines(lines) => lines.next(&self.name, self.capacity),
            Mode::Stream(stream) => stream.next(&self.name),
        };
        let Some((result, record)) = next else {
            return self.trailing.take().map(Err);
        };
        Some(result.map(|event| self.finish(event, record)))
    }
}

impl EventSource for JsonSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn note(&self) -> Option<String> {
        let unplaced = self.unplaced_windows.map(|record| {
            format!(
                "record {record} and maybe others look like Windows events (an EventID) but name no Channel, so no Windows rule can be placed on them; ship the channel (as winlog.channel, Channel, or the evtx layout's Event.System.Channel)"
            )
        });
        let unknown = self.unknown_origin.map(|record| {
            format!(
                "record {record} and maybe others say neither their product nor a Windows channel, so only rules that name no logsource were run on them; declare where they come from (--logsource product:NAME,service:NAME) to run the rules written for it"
            )
        });
        match (unplaced, unknown) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        }
    }
}

/// What places a JSON record among the rules.
enum Placement {
    /// A Windows `Channel`: Windows rules are placed by it.
    Channel,
    /// An `EventID` but no `Channel`: a Windows event whose shipper dropped or renamed the
    /// channel, which Windows rules are placed by.
    EventIdOnly,
    /// Neither: nothing says where the record comes from.
    Unknown,
}

/// How `event` is placed. One pass over the fields, stopping at a `Channel`.
fn placement(event: &Event) -> Placement {
    let mut event_id = false;
    for field in &event.fields {
        if field.answers_to("Channel") {
            return Placement::Channel;
        }
        event_id |= field.answers_to("EventID");
    }
    match event_id {
        true => Placement::EventIdOnly,
        false => Placement::Unknown,
    }
}

impl Lines {
    fn next(
        &mut self,
        name: &Arc<str>,
        capacity: usize,
    ) -> Option<(Result<Event, DecodeError>, u64)> {
        loop {
            if self.done {
                return None;
            }
            if self.pending {
                self.pending = false;
            } else {
                self.buffer.clear();
                self.line += 1;
                match self.reader.read_until(b'\n', &mut self.buffer) {
                    Ok(0) => {
                        self.done = true;
                        return None;
                    }
                    Ok(_) => {}
                    Err(error) => {
                        self.done = true;
                        return Some((Err(DecodeError::io(name, error)), self.line));
                    }
                }
            }
            let text = self.buffer.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let indent = self.buffer.len() - self.buffer.trim_ascii_start().len();
            let result = flatten_line(text, capacity).map_err(|error| DecodeError::Json {
                file: Arc::clone(name),
                record: self.line,
                line: self.line,
                column: (indent + error.column().max(1)) as u64,
                message: message(&error),
            });
            return Some((result, self.line));
        }
    }
}

/// serde_json's message without its ` at line L column C` suffix, which counts from the
/// start of the piece it was given rather than the file.
fn message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The byte offset in `text` of serde_json's 1-based `line` and `column` (the byte the
/// error was found at), or the end of `text` if they point past it.
fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(newline) => start += newline + 1,
            None => return text.len(),
        }
    }
    (start + column.saturating_sub(1)).min(text.len())
}

/// Whether an element (an object) can start at `at`: a `{` that follows a `,` or a `}`
/// (whitespace aside), or that starts a line.
fn element_starts_at(data: &[u8], at: usize) -> bool {
    if data.get(at) != Some(&b'{') {
        return false;
    }
    let before = &data[..at];
    if before.last() == Some(&b'\n') {
        return true;
    }
    matches!(before.trim_ascii_end().last(), Some(b',' | b'}'))
}

impl Stream {
    /// Skips the well-formed value at `pos` after an error about its shape.
    fn skip_value(&mut self) {
        let mut skip =
            serde_json::Deserializer::from_slice(&self.data[self.pos..]).into_iter::<IgnoredAny>();
        if let Some(Ok(_)) = skip.next() {
            let end = self.pos + skip.byte_offset();
            self.advance(end);
            self.done = false;
        }
    }

    /// After a syntax error, moves to the first place at or after `from` where an element
    /// can start, and goes on from there (in an array, as if a `,` had just been read); if
    /// there is none, the input ends.
    fn resync(&mut self, from: usize) {
        let next = memchr_all(&self.data, from).find(|&at| element_starts_at(&self.data, at));
        if let Some(at) = next {
            self.advance(at);
            self.done = false;
            if self.array != ArrayState::None {
                self.array = ArrayState::Start;
            }
        }
    }

    fn new(data: Vec<u8>, skipped_lines: u64, array: ArrayState) -> Self {
        let data = match lossy(&data) {
            Cow::Borrowed(_) => data,
            Cow::Owned(valid) => valid,
        };
        Stream {
            data,
            pos: 0,
            line: skipped_lines + 1,
            line_start: 0,
            index: 0,
            array,
            done: false,
        }
    }

    /// Moves to `to`, keeping count of lines.
    fn advance(&mut self, to: usize) {
        let passed = &self.data[self.pos..to];
        if let Some(last) = passed.iter().rposition(|&b| b == b'\n') {
            self.line += count_newlines(passed);
            self.line_start = self.pos + last + 1;
        }
        self.pos = to;
    }

    fn skip_whitespace(&mut self) {
        let rest = &self.data[self.pos..];
        let skip = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        self.advance(self.pos + skip);
    }

    /// An error at the current position (`line` and `column` relative to it) that ends the
    /// input.
    fn fail(
        &mut self,
        name: &Arc<str>,
        record: u64,
        (line, column): (usize, usize),
        message: String,
    ) -> DecodeError {
        self.done = true;
        let (line, column) = match line {
            0 | 1 => (self.line, self.pos - self.line_start + column),
            more => (self.line + more as u64 - 1, column),
        };
        DecodeError::Json {
            file: Arc::clone(name),
            record,
            line,
            column: column.max(1) as u64,
            message,
        }
    }

    fn next(&mut self, name: &Arc<str>) -> Option<(Result<Event, DecodeError>, u64)> {
        if self.done {
            return None;
        }
        self.skip_whitespace();
        if self.array != ArrayState::None {
            let record = self.index + 1;
            match self.data.get(self.pos) {
                Some(b']') => {
                    self.advance(self.pos + 1);
                    self.skip_whitespace();
                    self.done = true;
                    if self.pos < self.data.len() {
                        let error = self.fail(
                            name,
                            record,
                            (1, 1),
                            "trailing characters after the array".into(),
                        );
                        return Some((Err(error), record));
                    }
                    return None;
                }
                Some(b',') if self.array == ArrayState::AfterElement => {
                    self.advance(self.pos + 1);
                    self.skip_whitespace();
                }
                Some(_) if self.array == ArrayState::Start => {}
                Some(_) => {
                    let error = self.fail(
                        name,
                        record,
                        (1, 1),
                        "expected `,` or `]` after an array element".into(),
                    );
                    self.resync(self.pos);
                    return Some((Err(error), record));
                }
                None => {
                    let error = self.fail(
                        name,
                        record,
                        (1, 1),
                        "EOF while parsing a list (no closing `]`)".into(),
                    );
                    return Some((Err(error), record));
                }
            }
            self.array = ArrayState::AfterElement;
        }
        if self.pos >= self.data.len() {
            self.done = true;
            if self.array != ArrayState::None {
                let record = self.index + 1;
                let error = self.fail(
                    name,
                    record,
                    (1, 1),
                    "EOF while parsing a list (no closing `]`)".into(),
                );
                return Some((Err(error), record));
            }
            return None;
        }
        let mut values =
            serde_json::Deserializer::from_slice(&self.data[self.pos..]).into_iter::<FlatEvent>();
        let result = values.next()?;
        let consumed = values.byte_offset();
        self.index += 1;
        let record = self.index;
        match result {
            Ok(FlatEvent(event)) => {
                self.advance(self.pos + consumed);
                Some((Ok(event), record))
            }
            Err(error) => {
                let decode_error = self.fail(
                    name,
                    record,
                    (error.line(), error.column()),
                    message(&error),
                );
                match error.classify() {
                    // Well-formed JSON of the wrong shape: skip just this value.
                    Category::Data => self.skip_value(),
                    // Broken JSON: go on at the next place an element can start.
                    Category::Syntax => {
                        let at = offset_of(&self.data[self.pos..], error.line(), error.column());
                        self.resync((self.pos + at).saturating_sub(1).max(self.pos + 1));
                    }
                    // A truncated input has nothing after the error.
                    Category::Eof | Category::Io => {}
                }
                Some((Err(decode_error), record))
            }
        }
    }
}

/// The positions of `{` in `data` from `from` on.
fn memchr_all(data: &[u8], from: usize) -> impl Iterator<Item = usize> + '_ {
    let from = from.min(data.len());
    data[from..]
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'{')
        .map(move |(i, _)| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> JsonSource {
        let reader: Box<dyn BufRead + Send> =
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        JsonSource::new("test.json".into(), reader).unwrap()
    }

    #[test]
    fn windows_events_without_a_channel_are_noted() {
        // Issue 16, item 6: such events met no Windows rule, silently.
        let mut placed = source("{\"winlog\": {\"channel\": \"Security\", \"event_id\": 4625}}\n");
        assert_eq!(placed.by_ref().count(), 1);
        assert_eq!(placed.note(), None);
        let mut unplaced =
            source("{\"a\": 1}\n{\"EventID\": 4625, \"TargetUserName\": \"erin\"}\n");
        assert_eq!(unplaced.by_ref().count(), 2);
        let note = unplaced.note().expect("a note");
        assert!(note.starts_with("record 2 "), "{note}");
        assert!(note.contains("no Channel"), "{note}");
    }

    #[test]
    fn records_of_unknown_origin_are_noted_unless_declared() {
        // Issue 16, item 5: plain JSON met every rule written for a product.
        let text = "{\"message\": \"user logged in\", \"host\": \"web1\"}\n".repeat(3);
        let mut plain = source(&text);
        assert!(plain
            .by_ref()
            .all(|e| e.expect("decodes").logsource.is_none()));
        let note = plain.note().expect("a note");
        assert!(note.starts_with("record 1 "), "{note}");
        assert!(note.contains("--logsource"), "{note}");
        let zeek = Arc::new(LogSource::new("zeek", "rdp"));
        let mut declared = source(&text).declared(Some(Arc::clone(&zeek)));
        assert!(declared
            .by_ref()
            .all(|e| e.expect("decodes").logsource.as_deref() == Some(&*zeek)));
        assert_eq!(declared.note(), None);
        // A declared source does not hide Windows events that lost their channel.
        let mut unplaced = source("{\"EventID\": 4625}\n").declared(Some(zeek));
        assert_eq!(unplaced.by_ref().count(), 1);
        assert!(unplaced.note().is_some_and(|n| n.contains("no Channel")));
    }

    /// Each event as `record: name=value,...`, each error as `error: message`.
    fn decode(text: &str) -> Vec<String> {
        source(text)
            .map(|item| match item {
                Ok(event) => {
                    assert_eq!(&*event.origin.source, "test.json");
                    let fields: Vec<_> = event
                        .fields
                        .iter()
                        .map(|f| format!("{}={}", f.name(), f.value))
                        .collect();
                    format!("{}: {}", event.origin.record, fields.join(","))
                }
                Err(error) => format!("error: {error}"),
            })
            .collect()
    }

    #[test]
    fn json_lines_are_numbered_by_line() {
        assert_eq!(
            decode("\n{\"a\": 1}\n\n  {\"b\": {\"c\": true}}\r\n{\"d\": null}"),
            ["2: a=1", "4: b.c=true", "5: d="]
        );
    }

    #[test]
    fn bad_json_line_is_one_error_and_reading_goes_on() {
        assert_eq!(
            decode("{\"a\": 1}\n{\"a\": \n{\"a\": 3} x\n[1]\n{\"a\": 5}\n"),
            [
                "1: a=1",
                "error: test.json: line 2, column 5 (record 2): EOF while parsing a value",
                "error: test.json: line 3, column 10 (record 3): trailing characters",
                "error: test.json: line 4, column 1 (record 4): invalid type: sequence, expected a JSON object",
                "5: a=5",
            ]
        );
    }

    #[test]
    fn truncated_json_lines_keep_records_before() {
        assert_eq!(
            decode("{\"a\": 1}\n{\"a\": 2}\n{\"a\": \"thr"),
            [
                "1: a=1",
                "2: a=2",
                "error: test.json: line 3, column 10 (record 3): EOF while parsing a string",
            ]
        );
    }

    #[test]
    fn array_is_numbered_by_object() {
        assert_eq!(
            decode("[\n  {\"a\": 1},\n  {\"a\": [2, 3]}\n]\n"),
            ["1: a=1", "2: a=2,a=3"]
        );
        assert_eq!(decode("[]"), Vec::<String>::new());
        assert_eq!(decode(" [ ] \n"), Vec::<String>::new());
    }

    #[test]
    fn truncated_array_reports_line_and_record() {
        assert_eq!(
            decode("[\n{\"a\": 1},\n{\"a\": 2},\n{\"a\":"),
            [
                "1: a=1",
                "2: a=2",
                "error: test.json: line 4, column 5 (record 3): EOF while parsing a value",
            ]
        );
        assert_eq!(
            decode("[{\"a\": 1},\n"),
            [
                "1: a=1",
                "error: test.json: line 2, column 1 (record 2): EOF while parsing a list (no closing `]`)",
            ]
        );
    }

    #[test]
    fn array_syntax_errors() {
        // A missing comma is one error; the element after it is kept.
        assert_eq!(
            decode("[{\"a\": 1} {\"a\": 2}]"),
            [
                "1: a=1",
                "error: test.json: line 1, column 11 (record 2): expected `,` or `]` after an array element",
                "2: a=2",
            ]
        );
        assert_eq!(
            decode("[{\"a\": 1}] x"),
            [
                "1: a=1",
                "error: test.json: line 1, column 12 (record 2): trailing characters after the array",
            ]
        );
        // A value that is not an object is skipped.
        assert_eq!(
            decode("[{\"a\": 1}, 7, {\"a\": 3}]"),
            [
                "1: a=1",
                "error: test.json: line 1, column 12 (record 2): invalid type: integer `7`, expected a JSON object",
                "3: a=3",
            ]
        );
    }

    #[test]
    fn one_broken_array_element_keeps_every_later_one() {
        let mut text = String::from("[\n");
        for i in 1..=1000 {
            let element = match i {
                2 => "  {\"a\": tru, \"b\": {\"c\": 1}},\n".to_string(),
                _ => format!("  {{\"a\": {i}, \"b\": {{\"c\": [{{\"d\": 1}}, {{\"d\": 2}}]}}}},\n"),
            };
            text.push_str(&element);
        }
        text.truncate(text.len() - 2);
        text.push_str("\n]\n");
        let items = decode(&text);
        assert_eq!(items.len(), 1000);
        assert_eq!(
            items[1],
            "error: test.json: line 3, column 12 (record 2): expected ident"
        );
        assert!(items[0].starts_with("1: a=1,"), "{}", items[0]);
        assert!(items[2].starts_with("3: a=3,"), "{}", items[2]);
        assert!(items[999].starts_with("1000: a=1000,"), "{}", items[999]);
        assert_eq!(items.iter().filter(|i| i.starts_with("error")).count(), 1);
    }

    #[test]
    fn broken_elements_on_one_line_and_between_objects() {
        // Minified: the broken element's nested object is not taken for an element.
        assert_eq!(
            decode("[{\"a\": 1},{\"a\": [{\"x\": 1}, {\"y\": 2}], oops},{\"a\": 3}]"),
            [
                "1: a=1",
                "error: test.json: line 1, column 39 (record 2): key must be a string",
                "3: a=3",
            ]
        );
        // A broken first element, no JSON Lines after it: still an array.
        assert_eq!(
            decode("[{\"a\": tru}, {\"a\": 2}]"),
            [
                "error: test.json: line 1, column 11 (record 1): expected ident",
                "2: a=2",
            ]
        );
        // Concatenated objects: the next object at the start of a line.
        assert_eq!(
            decode("{\n  \"a\": 1\n}\n{\n  \"a\": @\n}\n{\n  \"a\": 3\n}\n"),
            [
                "1: a=1",
                "error: test.json: line 5, column 8 (record 2): expected value",
                "3: a=3",
            ]
        );
    }

    #[test]
    fn concatenated_pretty_objects_are_numbered_by_object() {
        let text = "{\n  \"a\": 1\n}\n{\n  \"a\": {\n    \"b\": 2\n  }\n}\n";
        assert_eq!(decode(text), ["1: a=1", "2: a.b=2"]);
        // Several objects on the first line are concatenated, not JSON Lines.
        assert_eq!(
            decode("{\"a\": 1}{\"a\": 2}\n{\"a\": 3}"),
            ["1: a=1", "2: a=2", "3: a=3"]
        );
    }

    #[test]
    fn truncated_concatenated_objects_keep_records_before() {
        let text = "{\n  \"a\": 1\n}\n{\n  \"a\": 2,\n  \"b\": tru";
        assert_eq!(
            decode(text),
            [
                "1: a=1",
                "error: test.json: line 6, column 10 (record 2): EOF while parsing a value",
            ]
        );
    }

    #[test]
    fn byte_order_mark_and_empty_input() {
        assert_eq!(decode("\u{feff}{\"a\": 1}\n"), ["1: a=1"]);
        assert_eq!(decode(""), Vec::<String>::new());
        assert_eq!(decode("\n \n"), Vec::<String>::new());
    }

    #[test]
    fn not_json() {
        let reader: Box<dyn BufRead + Send> = Box::new(&b"\n<Event/>\n<x/>"[..]);
        let error = JsonSource::new("x.log".into(), reader).err().unwrap();
        assert_eq!(
            error.to_string(),
            "x.log: unrecognised format (the first line is not JSON (it starts with '<') and no \
             line in the first 64 KiB starts with `{`)"
        );
    }

    #[test]
    fn lines_that_are_not_json_before_json_lines_are_errors() {
        assert_eq!(
            decode("[INFO] exported\n{\"a\": 1}\n"),
            [
                "error: test.json: line 1, column 1 (record 1): invalid type: sequence, expected a JSON object",
                "2: a=1",
            ]
        );
        assert_eq!(
            decode("\ngarbage here\n# comment\n{\"a\": 1}\nmore garbage\n{\"a\": 2}\n"),
            [
                "error: test.json: line 2, column 1 (record 2): expected value",
                "error: test.json: line 3, column 1 (record 3): expected value",
                "4: a=1",
                "error: test.json: line 5, column 1 (record 5): expected value",
                "6: a=2",
            ]
        );
    }

    #[test]
    fn lone_surrogate_escapes_are_replaced_not_fatal() {
        assert_eq!(
            decode("{\"a\": \"x\\ud800y\", \"b\": \"\\udc00\\\\ud800\\ud83d\\ude00\"}\n{\"a\": 2}"),
            ["1: a=x\u{fffd}y,b=\u{fffd}\\ud800😀", "2: a=2"]
        );
        assert_eq!(
            decode("[{\"a\": \"\\uDBFF\"}, {\"a\": 2}]"),
            ["1: a=\u{fffd}", "2: a=2"]
        );
        // A backslash, or half an escape, at the very end.
        assert_eq!(lone_surrogates(b"x\\"), None);
        assert_eq!(lone_surrogates(b"\\ud8"), None);
        assert_eq!(
            lone_surrogates(b"\\ud800").as_deref(),
            Some(&b"\\uFFFD"[..])
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        // In JSON Lines, in an array and in concatenated objects.
        for text in [
            &b"{\"cmd\": \"who\xffami\"}\n{\"a\": 2}\n"[..],
            b"[{\"cmd\": \"who\xffami\"},\n{\"a\": 2}]",
            b"{\n\"cmd\": \"who\xffami\"\n}\n{\"a\": 2}",
        ] {
            let reader: Box<dyn BufRead + Send> = Box::new(text);
            let items: Vec<_> = JsonSource::new("x".into(), reader).unwrap().collect();
            assert_eq!(items.len(), 2);
            let event = items[0].as_ref().unwrap();
            assert_eq!(
                event.text("cmd").as_deref(),
                Some("who\u{fffd}ami"),
                "{}",
                String::from_utf8_lossy(text)
            );
            assert!(items[1].is_ok());
        }
    }
}
