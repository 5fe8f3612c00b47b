//! The HTTP ingest's body, made into spool records: what a shipper (Winlogbeat, Fluent Bit,
//! Vector, `curl`) sends in one request (a JSON array, JSON Lines, or lines of a text format,
//! optionally gzipped) becomes a few records of whole lines, each headed by the decoder the
//! pipeline must use and the input's name.
//!
//! JSON is checked here, line by line, so that the sender learns at once which lines were
//! refused (their numbers and why) while every good line of the batch is kept. Text formats
//! are checked by their decoder when the pipeline reads them; a bad line is counted and
//! logged then.
//!
//! # Record layout
//!
//! `<format> <input> <received>\n` and then the lines, separated by `\n`; `<received>` is
//! when the input received them (microseconds since 1970), from which the pipeline measures
//! each record's latency to the store. [`RecordHeader::split`] reads it back.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use serde::Serialize;
use tocsin_decode::Format;

/// The most payload bytes of lines put in one spool record: large enough that a batch is
/// a few records, small enough that a consumer's transaction stays short.
pub const RECORD_BYTES: usize = 1 << 20;

/// How many refused lines are listed one by one in an answer (all are counted).
pub const LISTED_REFUSALS: usize = 100;

/// How a request's body is read: the decoder named, or told from the content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFormat {
    /// JSON if the body is a JSON array or its first line a JSON object, else the text
    /// formats' sniffing, as `tocsin hunt` does.
    Sniff,
    /// This decoder.
    Named(Format),
}

/// Why a body is refused whole.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    /// The body grows past the limit once decompressed.
    #[error("the body is larger than {limit} bytes once decompressed")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The gzip stream is damaged.
    #[error("the gzip body cannot be decompressed: {0}")]
    Gzip(String),
    /// A JSON array body is not valid JSON (the whole array is refused: its elements
    /// cannot be told apart).
    #[error("the JSON array is invalid: {0}")]
    Array(String),
    /// EVTX cannot be streamed line by line: send it as JSON (`evtx_dump -o jsonl`).
    #[error(
        "EVTX and session reports cannot be sent to this input; send the events as JSON Lines"
    )]
    Unsupported,
}

/// A line refused, by its number in the (decompressed) body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The 1-based line (for a JSON array, the 1-based element).
    pub line: usize,
    /// Why.
    pub error: String,
}

/// A body made into spool records.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The records to append, in order.
    pub records: Vec<Vec<u8>>,
    /// Lines (or array elements) kept.
    pub accepted: usize,
    /// Lines refused, in all.
    pub refused: usize,
    /// The first [`LISTED_REFUSALS`] refused lines.
    pub refusals: Vec<Refusal>,
}

/// Undoes gzip (when `gzipped` or the body starts with the gzip magic) within `limit`
/// bytes.
pub fn decompress(body: Vec<u8>, gzipped: bool, limit: usize) -> Result<Vec<u8>, BodyError> {
    if !gzipped && !body.starts_with(&[0x1f, 0x8b]) {
        return match body.len() > limit {
            true => Err(BodyError::TooLarge { limit }),
            false => Ok(body),
        };
    }
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    MultiGzDecoder::new(body.as_slice())
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|error| BodyError::Gzip(error.to_string()))?;
    match out.len() > limit {
        true => Err(BodyError::TooLarge { limit }),
        false => Ok(out),
    }
}

/// Makes a decompressed body into records for the input named `input`.
pub fn batch(body: &[u8], format: BodyFormat, input: &str) -> Result<Batch, BodyError> {
    let format = match format {
        BodyFormat::Named(format) => Some(format),
        BodyFormat::Sniff => sniff_json(body).then_some(Format::Json),
    };
    match format {
        Some(Format::Evtx | Format::SessionReport) => Err(BodyError::Unsupported),
        Some(Format::Json) if first_byte(body) == Some(b'[') => json_array(body, input),
        Some(Format::Json) => Ok(json_lines(body, "json", input)),
        Some(Format::ApiAudit) => Ok(json_lines(body, "api-audit", input)),
        Some(other) => Ok(text_lines(body, other.name(), input)),
        None => Ok(text_lines(body, "auto", input)),
    }
}

/// The first byte that is not white space.
fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Whether the body looks like JSON: an array, or a first line that is an object.
fn sniff_json(body: &[u8]) -> bool {
    matches!(first_byte(body), Some(b'[' | b'{'))
}

/// A JSON array: each element becomes one line.
fn json_array(body: &[u8], input: &str) -> Result<Batch, BodyError> {
    let values: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|error| BodyError::Array(error.to_string()))?;
    let mut builder = Builder::new("json", input);
    for (index, value) in values.iter().enumerate() {
        match value.is_object() {
            true => builder.push(value.to_string().as_bytes()),
            false => builder.refuse(index + 1, "not a JSON object".into()),
        }
    }
    Ok(builder.finish())
}

/// JSON Lines: each line must be one JSON object.
fn json_lines(body: &[u8], format: &str, input: &str) -> Batch {
    let mut builder = Builder::new(format, input);
    for (index, line) in lines(body) {
        match check_object(line) {
            Ok(()) => builder.push(line),
            Err(error) => builder.refuse(index, error),
        }
    }
    builder.finish()
}

/// Whether `line` is one JSON object, and if not, why. A good line is checked without
/// building its value (the HTTP input checks every line it acknowledges, and building a
/// tree of each Windows event cost as much as the decoding that follows); a bad one is
/// parsed again to say why, in serde_json's words. Skipping does not check `\u` escapes
/// (a lone surrogate), so a line holding one is parsed whole.
fn check_object(line: &[u8]) -> Result<(), String> {
    let escapes = line.windows(2).any(|pair| pair == b"\\u");
    let valid = !escapes
        && std::str::from_utf8(line).is_ok()
        && serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok();
    let object = line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if valid {
        return match object {
            true => Ok(()),
            false => Err("not a JSON object".into()),
        };
    }
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(value) if value.is_object() => Ok(()),
        Ok(_) => Err("not a JSON object".into()),
        Err(error) => Err(error.to_string()),
    }
}

/// Lines of a text format, checked later by their decoder.
fn text_lines(body: &[u8], format: &str, input: &str) -> Batch {
    let mut builder = Builder::new(format, input);
    for (_, line) in lines(body) {
        builder.push(line);
    }
    builder.finish()
}

/// Messages of a stream input (syslog over TCP or UDP), one per line of the records; a
/// line end inside a message becomes a space, so that records stay one message per line.
/// For the JSON formats each message must be one JSON object, as an HTTP line must (an
/// array or two objects in one message would change how the decoder reads the whole
/// record): the others are refused, numbered by their place in `messages`.
pub fn messages(format: &str, input: &str, messages: &[Vec<u8>]) -> Batch {
    let mut builder = Builder::new(format, input);
    let json = matches!(format, "json" | "api-audit");
    for (index, message) in messages.iter().enumerate() {
        let message = trim_line_end(message);
        if message.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if json {
            if let Err(error) = check_object(message) {
                builder.refuse(index + 1, error);
                continue;
            }
        }
        match message.contains(&b'\n') {
            true => {
                let flat: Vec<u8> = message
                    .iter()
                    .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
                    .collect();
                builder.push(&flat);
            }
            false => builder.push(message),
        }
    }
    builder.finish()
}

/// A message without its trailing line end (and NUL, which some senders add).
fn trim_line_end(message: &[u8]) -> &[u8] {
    let mut end = message.len();
    while end > 0 && matches!(message[end - 1], b'\n' | b'\r' | 0) {
        end -= 1;
    }
    &message[..end]
}

/// The non-blank lines, numbered from 1, without their line ends.
fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(index, line)| (index + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
}

/// Packs lines into records of at most [`RECORD_BYTES`] (a longer line gets its own).
struct Builder {
    header: Vec<u8>,
    current: Vec<u8>,
    batch: Batch,
}

impl Builder {
    fn new(format: &str, input: &str) -> Self {
        let header = RecordHeader::encode(format, input, now_micros());
        Builder {
            current: header.clone(),
            header,
            batch: Batch::default(),
        }
    }

    fn push(&mut self, line: &[u8]) {
        let has_lines = self.current.len() > self.header.len();
        if has_lines && self.current.len() + line.len() + 1 > RECORD_BYTES {
            self.seal();
        }
        if self.current.len() > self.header.len() {
            self.current.push(b'\n');
        }
        self.current.extend_from_slice(line);
        self.batch.accepted += 1;
    }

    fn refuse(&mut self, line: usize, error: String) {
        self.batch.refused += 1;
        if self.batch.refusals.len() < LISTED_REFUSALS {
            self.batch.refusals.push(Refusal { line, error });
        }
    }

    fn seal(&mut self) {
        let record = std::mem::replace(&mut self.current, self.header.clone());
        self.batch.records.push(record);
    }

    fn finish(mut self) -> Batch {
        if self.current.len() > self.header.len() {
            self.seal();
        }
        self.batch
    }
}

/// Now, in microseconds since 1970 (0 if the clock is before it).
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The first line of a spool record: the decoder, the input, and when it was received.
#[derive(Debug, PartialEq, Eq)]
pub struct RecordHeader<'a> {
    /// A decoder's name, or `auto`.
    pub format: &'a str,
    /// The input that received the lines (`http`, or an input's configured name).
    pub input: &'a str,
    /// When the input received the lines (microseconds since 1970), if the header says.
    pub received_micros: Option<i64>,
    /// Where the lines come from when they are a file's (a followed file): the file and
    /// the number of the record's first line in it. Events then name the file and their
    /// line in it, as a hunt of the file does, so that lines read twice (after a crash)
    /// are the same events.
    pub source: Option<FileLines<'a>>,
}

/// A run of a file's lines: the file, and the number (from 1) of the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLines<'a> {
    /// The file, as the follower names it (its canonical path).
    pub path: &'a str,
    /// The first line's number in the file.
    pub first_line: u64,
}

impl<'a> RecordHeader<'a> {
    /// The header line (with its `\n`). The input's name loses white space.
    pub fn encode(format: &str, input: &str, received_micros: i64) -> Vec<u8> {
        let input: String = input.split_whitespace().collect::<Vec<_>>().join("_");
        format!("{format} {input} {received_micros}\n").into_bytes()
    }

    /// The header line of a run of a file's lines (`path` without a line end).
    pub fn encode_file_lines(
        format: &str,
        input: &str,
        received_micros: i64,
        lines: FileLines<'_>,
    ) -> Vec<u8> {
        let input: String = input.split_whitespace().collect::<Vec<_>>().join("_");
        let path = lines.path.replace(['\n', '\r'], " ");
        format!(
            "{format} {input} {received_micros} {} {path}\n",
            lines.first_line
        )
        .into_bytes()
    }

    /// The header and the payload of a record; `None` when the record has no header (not
    /// written by this module).
    pub fn split(record: &'a [u8]) -> Option<(RecordHeader<'a>, &'a [u8])> {
        let end = record.iter().position(|&b| b == b'\n')?;
        let line = std::str::from_utf8(&record[..end]).ok()?;
        let mut words = line.splitn(5, ' ');
        let format = words.next()?;
        let input = words.next()?;
        let received_micros = words.next().and_then(|word| word.parse().ok());
        let first_line = words.next().and_then(|word| word.parse().ok());
        let source = match (first_line, words.next()) {
            (Some(first_line), Some(path)) if !path.is_empty() => {
                Some(FileLines { path, first_line })
            }
            _ => None,
        };
        let header = RecordHeader {
            format,
            input,
            received_micros,
            source,
        };
        Some((header, &record[end + 1..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn payloads(batch: &Batch) -> Vec<String> {
        batch
            .records
            .iter()
            .map(|record| {
                let (header, payload) = RecordHeader::split(record).unwrap();
                assert!(header.received_micros.unwrap() > 1_700_000_000_000_000);
                format!(
                    "{} {}|{}",
                    header.format,
                    header.input,
                    String::from_utf8_lossy(payload)
                )
            })
            .collect()
    }

    #[test]
    fn a_line_is_an_object_exactly_when_serde_json_parses_it_as_one() {
        let lines: [&[u8]; 12] = [
            b"{}",
            b" {\"a\": [1, {\"b\": null}]} ",
            b"[1]",
            b"\"text\"",
            b"12",
            b"{\"a\": 1} trailing",
            b"{\"a\": 1",
            b"{\"a\": \"\xff\"}",
            b"{\"a\": \"\\ud800\"}",
            b"{\"a\" 1}",
            b"{\"a\": 1}}",
            b"",
        ];
        for line in lines {
            let expected = match serde_json::from_slice::<serde_json::Value>(line) {
                Ok(value) if value.is_object() => Ok(()),
                Ok(_) => Err("not a JSON object".to_owned()),
                Err(error) => Err(error.to_string()),
            };
            assert_eq!(
                check_object(line),
                expected,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn json_lines_keep_good_lines_and_name_the_bad_ones() {
        let body = b"{\"a\":1}\r\n\n{\"b\":\n[1]\n{\"c\":2}\n";
        let batch = batch(body, BodyFormat::Sniff, "http").unwrap();
        assert_eq!(payloads(&batch), ["json http|{\"a\":1}\n{\"c\":2}"]);
        assert_eq!((batch.accepted, batch.refused), (2, 2));
        assert_eq!(batch.refusals[0].line, 3);
        assert!(batch.refusals[0].error.contains("EOF"));
        assert_eq!(batch.refusals[1].line, 4);
    }

    #[test]
    fn a_json_array_is_one_line_per_object() {
        let body = br#" [{"a": 1}, 2, {"b": "x y"}]"#;
        let batch = batch(body, BodyFormat::Sniff, "http").unwrap();
        assert_eq!(payloads(&batch), ["json http|{\"a\":1}\n{\"b\":\"x y\"}"]);
        assert_eq!(
            batch.refusals,
            [Refusal {
                line: 2,
                error: "not a JSON object".into()
            }]
        );
        assert!(matches!(
            super::batch(b"[{\"a\":", BodyFormat::Sniff, "http"),
            Err(BodyError::Array(_))
        ));
    }

    #[test]
    fn text_is_kept_for_its_decoder_and_records_are_bounded() {
        let line = "x".repeat(RECORD_BYTES / 3);
        let body = format!("{line}\n{line}\n{line}\n{line}\n");
        let batch = batch(
            body.as_bytes(),
            BodyFormat::Named(Format::Syslog),
            "rsyslog",
        )
        .unwrap();
        assert_eq!(batch.accepted, 4);
        assert_eq!(batch.records.len(), 2);
        assert!(batch.records.iter().all(|r| r.len() <= RECORD_BYTES + 20));
        assert!(batch.records[0].starts_with(b"syslog rsyslog "));
        let sniffed =
            super::batch(b"<13>Feb  5 12:00:00 h x: y\n", BodyFormat::Sniff, "a b").unwrap();
        assert_eq!(payloads(&sniffed), ["auto a_b|<13>Feb  5 12:00:00 h x: y"]);
    }

    #[test]
    fn gzip_is_undone_within_its_limit() {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&vec![b'{'; 10_000]).unwrap();
        let gz = encoder.finish().unwrap();
        assert_eq!(decompress(gz.clone(), false, 10_000).unwrap().len(), 10_000);
        assert_eq!(
            decompress(gz.clone(), true, 9_999),
            Err(BodyError::TooLarge { limit: 9_999 })
        );
        assert!(matches!(
            decompress(gz[..gz.len() / 2].to_vec(), true, 10_000),
            Err(BodyError::Gzip(_))
        ));
        assert_eq!(decompress(b"plain".to_vec(), false, 5).unwrap(), b"plain");
        assert!(decompress(b"plain".to_vec(), false, 4).is_err());
    }

    #[test]
    fn evtx_is_refused_with_a_hint() {
        let error = batch(b"x", BodyFormat::Named(Format::Evtx), "http").unwrap_err();
        assert!(error.to_string().contains("JSON Lines"));
    }

    #[test]
    fn json_messages_must_each_be_one_object() {
        let sent = [
            br#"{"a": 1}"#.to_vec(),
            br#"[{"a": 2}]"#.to_vec(),
            br#"{"a": 3}{"a": 4}"#.to_vec(),
            b"{\n  \"a\": 5\n}".to_vec(),
        ];
        let batch = messages("json", "tcp", &sent);
        assert_eq!(payloads(&batch), ["json tcp|{\"a\": 1}\n{   \"a\": 5 }"]);
        assert_eq!((batch.accepted, batch.refused), (2, 2));
        let refused: Vec<usize> = batch.refusals.iter().map(|r| r.line).collect();
        assert_eq!(refused, [2, 3]);
    }

    #[test]
    fn messages_are_one_per_line_whatever_they_hold() {
        let sent = [
            b"a\r\n".to_vec(),
            b"b\nc\0".to_vec(),
            b" \n".to_vec(),
            b"d".to_vec(),
        ];
        let batch = messages("syslog", "tcp", &sent);
        assert_eq!(payloads(&batch), ["syslog tcp|a\nb c\nd"]);
        assert_eq!(batch.accepted, 3);
    }

    #[test]
    fn a_header_reads_back() {
        let record = [RecordHeader::encode("cef", "fw 1", 42), b"line".to_vec()].concat();
        let (header, payload) = RecordHeader::split(&record).unwrap();
        assert_eq!(
            header,
            RecordHeader {
                format: "cef",
                input: "fw_1",
                received_micros: Some(42),
                source: None,
            }
        );
        let lines = FileLines {
            path: "/var/log/a b.log",
            first_line: 7,
        };
        let file_record = [
            RecordHeader::encode_file_lines("syslog", "follow", 1, lines),
            b"x".to_vec(),
        ]
        .concat();
        let (followed, lines_payload) = RecordHeader::split(&file_record).unwrap();
        assert_eq!((followed.source, lines_payload), (Some(lines), &b"x"[..]));
        let (old, _) = RecordHeader::split(b"json http\n{}").unwrap();
        assert_eq!((old.input, old.received_micros), ("http", None));
        assert_eq!(payload, b"line");
        assert!(RecordHeader::split(b"no header").is_none());
    }
}
