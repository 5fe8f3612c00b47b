//! The line reader shared by the text formats (syslog, appliance, CEF, outbound events): it
//! reads one line
//! at a time, hands each non-blank line to a [`LineDecoder`], and yields what the decoder
//! queued, so that one line may give no item (a segment that waits for the others), one, or
//! several (an event and an error about an evicted message).
//!
//! Lines are split on `\n` (a trailing `\r` is dropped); bytes that are not UTF-8 are
//! replaced by U+FFFD rather than failing the line, since logs from mixed systems often
//! carry Latin-1 host or user names. A byte order mark before the first line is ignored.

use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::Arc;

use tocsin_event::{Event, Origin};

use crate::error::DecodeError;
use crate::EventSource;

/// One item of an [`EventSource`].
pub(crate) type Item = Result<Event, DecodeError>;

/// What a decoder is told along with each line, and how it reports what it found.
pub(crate) struct Sink<'a> {
    /// The source's name, for origins and errors.
    pub(crate) name: &'a Arc<str>,
    /// The items decoded so far and not yet yielded.
    pub(crate) items: &'a mut VecDeque<Item>,
}

impl Sink<'_> {
    /// Queues `event`, read from (or begun on) line `line`.
    pub(crate) fn event(&mut self, mut event: Event, line: u64) {
        event.origin = Origin {
            source: Arc::clone(self.name),
            record: line,
        };
        self.items.push_back(Ok(event));
    }

    /// Queues an error about line `line` of a `format` input.
    pub(crate) fn error(&mut self, line: u64, format: &'static str, message: String) {
        self.items.push_back(Err(DecodeError::Line {
            file: Arc::clone(self.name),
            line,
            format,
            message,
        }));
    }
}

impl Sink<'_> {
    /// Queues the error of a message begun on line `line` that the input ended in the
    /// middle of (see [`DecodeError::Unfinished`]).
    pub(crate) fn unfinished(&mut self, line: u64, format: &'static str, message: String) {
        self.items.push_back(Err(DecodeError::Unfinished {
            file: Arc::clone(self.name),
            line,
            format,
            message,
        }));
    }
}

/// Turns lines of one text format into events.
pub(crate) trait LineDecoder: Send {
    /// Decodes the non-blank line `text`, the `line`-th of the input (1-based), queuing
    /// what it gives in `sink`.
    fn decode(&mut self, text: &str, line: u64, sink: &mut Sink<'_>);

    /// The input has ended: queue whatever was still held back (as events or errors).
    fn finish(&mut self, _sink: &mut Sink<'_>) {}

    /// What the decoder had to assume (see [`EventSource::note`]).
    fn note(&self) -> Option<String> {
        None
    }
}

/// Events decoded from a text input, line by line.
pub(crate) struct TextSource<D> {
    name: Arc<str>,
    reader: Box<dyn BufRead + Send>,
    buffer: Vec<u8>,
    /// The number of the last line read.
    line: u64,
    decoder: D,
    items: VecDeque<Item>,
    done: bool,
}

impl<D: LineDecoder> TextSource<D> {
    /// Reads `reader` (reported as `name`) with `decoder`.
    pub(crate) fn new(name: Arc<str>, reader: Box<dyn BufRead + Send>, decoder: D) -> Self {
        TextSource {
            name,
            reader,
            buffer: Vec::with_capacity(1024),
            line: 0,
            decoder,
            items: VecDeque::new(),
            done: false,
        }
    }

    /// Reads and decodes the next line; at the end of input, lets the decoder flush.
    fn read_line(&mut self) {
        self.buffer.clear();
        let mut sink = Sink {
            name: &self.name,
            items: &mut self.items,
        };
        match self.reader.read_until(b'\n', &mut self.buffer) {
            Ok(0) => {
                self.done = true;
                self.decoder.finish(&mut sink);
            }
            Ok(_) => {
                self.line += 1;
                let mut bytes = &self.buffer[..];
                if self.line == 1 {
                    bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                }
                let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
                let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
                if !bytes.trim_ascii().is_empty() {
                    // `from_utf8` first: much faster than the lossy scan on valid text.
                    let text = match std::str::from_utf8(bytes) {
                        Ok(text) => std::borrow::Cow::Borrowed(text),
                        Err(_) => String::from_utf8_lossy(bytes),
                    };
                    self.decoder.decode(&text, self.line, &mut sink);
                }
            }
            Err(error) => {
                self.done = true;
                sink.items
                    .push_back(Err(DecodeError::io(&self.name, error)));
                self.decoder.finish(&mut sink);
            }
        }
    }
}

impl<D: LineDecoder> Iterator for TextSource<D> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.items.pop_front() {
                return Some(item);
            }
            if self.done {
                return None;
            }
            self.read_line();
        }
    }
}

impl<D: LineDecoder> EventSource for TextSource<D> {
    fn name(&self) -> &str {
        &self.name
    }

    fn note(&self) -> Option<String> {
        self.decoder.note()
    }
}

/// Test helpers shared by the text decoders' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Every item `decoder` gives for `text`, read as `test.log`.
    pub(crate) fn decode_all<D: LineDecoder>(decoder: D, text: &str) -> Vec<Item> {
        let reader = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
        TextSource::new("test.log".into(), reader, decoder).collect()
    }

    /// An event as `record: name=value,...`, an error as `error: message`.
    pub(crate) fn render(item: &Item) -> String {
        match item {
            Ok(event) => {
                let fields: Vec<_> = event
                    .fields
                    .iter()
                    .map(|f| format!("{}={}", f.name(), f.value))
                    .collect();
                format!("{}: {}", event.origin.record, fields.join(","))
            }
            Err(error) => format!("error: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_event::Value;

    /// Each line becomes an event with its text, `bad` lines an error; the count of lines
    /// seen is reported at the end.
    struct Echo(u64);

    impl LineDecoder for Echo {
        fn decode(&mut self, text: &str, line: u64, sink: &mut Sink<'_>) {
            self.0 += 1;
            if text == "bad" {
                sink.error(line, "echo", "bad line".into());
            } else {
                let mut event = Event::default();
                event.push("text", "", Value::from(text));
                sink.event(event, line);
            }
        }

        fn finish(&mut self, sink: &mut Sink<'_>) {
            sink.error(0, "echo", format!("{} lines", self.0));
        }
    }

    #[test]
    fn lines_are_numbered_blank_skipped_and_finish_runs_once() {
        let input = b"\xEF\xBB\xBFone\r\n\n  \nbad\ntw\xffo".to_vec();
        let source = TextSource::new(
            "t.log".into(),
            Box::new(std::io::Cursor::new(input)),
            Echo(0),
        );
        let items: Vec<String> = source
            .map(|item| match item {
                Ok(event) => format!(
                    "{}:{}",
                    event.origin.record,
                    event.text("text").unwrap_or_default()
                ),
                Err(error) => error.to_string(),
            })
            .collect();
        assert_eq!(
            items,
            [
                "1:one",
                "t.log: line 4: echo: bad line",
                "5:tw\u{fffd}o",
                "t.log: line 0: echo: 3 lines"
            ]
        );
    }
}
