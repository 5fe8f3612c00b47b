//! The JSON decoder: JSON Lines, one JSON array of objects, or concatenated (pretty-printed)
//! objects, told apart by content.
//!
//! * JSON Lines (each non-blank line one object) is read line by line, so it streams; a bad
//!   line is one error and the next line is read. Records are numbered by line.
//! * An array or concatenated objects are read into memory and decoded one object at a
//!   time. Records are numbered by object. A syntax error (such as a truncated file) ends
//!   the input, since there is no telling where the next object starts; an object that is
//!   well-formed JSON but not an object (`[1, 2]`) is one error and is skipped.
//!
//! The first line decides: if it holds exactly one complete object (or is not JSON at all)
//! the input is JSON Lines, otherwise the objects are concatenated.

use std::io::{BufRead, Read};
use std::sync::Arc;

use serde::de::{DeserializeSeed, IgnoredAny};
use serde_json::error::Category;
use tocsin_event::{Event, Origin};

use crate::error::DecodeError;
use crate::flatten::{FlatEvent, Flattener};
use crate::EventSource;

/// Events decoded from JSON text.
pub(crate) struct JsonSource {
    name: Arc<str>,
    mode: Mode,
    /// How many fields the last event had, to size the next one.
    capacity: usize,
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
        let mode = match first {
            None | Some(b'{') => {
                let mut buffer = Vec::new();
                reader.read_until(b'\n', &mut buffer).map_err(io)?;
                if first.is_none() || is_one_object(&buffer) {
                    Mode::Lines(Lines {
                        reader,
                        buffer,
                        pending: first.is_some(),
                        line: skipped_lines + 1,
                        done: first.is_none(),
                    })
                } else {
                    reader.read_to_end(&mut buffer).map_err(io)?;
                    Mode::Stream(Stream::new(buffer, skipped_lines, ArrayState::None))
                }
            }
            Some(b'[') => {
                let mut buffer = Vec::new();
                reader.read_to_end(&mut buffer).map_err(io)?;
                let mut stream = Stream::new(buffer, skipped_lines, ArrayState::Start);
                stream.pos = 1;
                Mode::Stream(stream)
            }
            Some(other) => {
                return Err(DecodeError::UnknownFormat {
                    file: name,
                    reason: format!(
                        "JSON must start with `{{` or `[`, found {:?}",
                        char::from(other)
                    ),
                })
            }
        };
        Ok(JsonSource {
            name,
            mode,
            capacity: 16,
        })
    }

    fn finish(&mut self, mut event: Event, record: u64) -> Event {
        self.capacity = event.fields.len();
        event.origin = Origin {
            source: Arc::clone(&self.name),
            record,
        };
        event
    }
}

/// Whether `line` holds one complete JSON value and nothing more, or is not JSON at all
/// (so that JSON Lines reports it as a bad line); `false` when the value goes on past the
/// line or another follows it.
fn is_one_object(line: &[u8]) -> bool {
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
        let (result, record) = match &mut self.mode {
            Mode::Lines(lines) => lines.next(&self.name, self.capacity)?,
            Mode::Stream(stream) => stream.next(&self.name)?,
        };
        Some(result.map(|event| self.finish(event, record)))
    }
}

impl EventSource for JsonSource {
    fn name(&self) -> &str {
        &self.name
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
            let mut de = serde_json::Deserializer::from_slice(text);
            let result = Flattener::with_capacity(capacity)
                .deserialize(&mut de)
                .and_then(|event| de.end().map(|()| event))
                .map_err(|error| DecodeError::Json {
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

impl Stream {
    fn new(data: Vec<u8>, skipped_lines: u64, array: ArrayState) -> Self {
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
                if error.classify() == Category::Data {
                    // Well-formed JSON of the wrong shape: skip just this value.
                    let mut skip = serde_json::Deserializer::from_slice(&self.data[self.pos..])
                        .into_iter::<IgnoredAny>();
                    if let Some(Ok(_)) = skip.next() {
                        let end = self.pos + skip.byte_offset();
                        self.advance(end);
                        self.done = false;
                    }
                }
                Some((Err(decode_error), record))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> JsonSource {
        let reader: Box<dyn BufRead + Send> =
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        JsonSource::new("test.json".into(), reader).unwrap()
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
        assert_eq!(
            decode("[{\"a\": 1} {\"a\": 2}]"),
            [
                "1: a=1",
                "error: test.json: line 1, column 11 (record 2): expected `,` or `]` after an array element",
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
        let reader: Box<dyn BufRead + Send> = Box::new(&b"\n<Event/>"[..]);
        let error = JsonSource::new("x.log".into(), reader).err().unwrap();
        assert_eq!(
            error.to_string(),
            "x.log: unrecognised format (JSON must start with `{` or `[`, found '<')"
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_for_that_record() {
        let reader: Box<dyn BufRead + Send> = Box::new(&b"{\"a\": \"\xff\"}\n{\"a\": 2}\n"[..]);
        let items: Vec<_> = JsonSource::new("x".into(), reader).unwrap().collect();
        assert!(items[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("line 1"));
        assert_eq!(items[1].as_ref().unwrap().origin.record, 2);
    }
}
