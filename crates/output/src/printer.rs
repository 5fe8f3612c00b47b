//! [`Printer`]: writes [`DetectionRecord`]s in the chosen [`Format`].

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use crate::csv::CsvRows;
use crate::ecs::{self, EcsKind, RuleDocs};
use crate::{jsonl, table, timesketch, DetectionRecord, OutputError};

/// An output format for detections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One aligned, human-readable line per detection (`table`).
    #[default]
    Table,
    /// Comma-separated values with a header row (`csv`).
    Csv,
    /// One JSON object per line (`jsonl`).
    Jsonl,
    /// One Elastic Common Schema document per line (`ecs`; see [`crate::ecs`]).
    Ecs,
    /// The ECS documents as the body of an Elasticsearch or OpenSearch `_bulk` request
    /// (`ecs-bulk`): each preceded by the action line [`crate::ecs::BULK_ACTION`].
    EcsBulk,
    /// Timesketch's JSON Lines import format (`timesketch`; see [`crate::timesketch`]).
    Timesketch,
}

impl Format {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Ecs => "ecs",
            Format::EcsBulk => "ecs-bulk",
            Format::Timesketch => "timesketch",
        }
    }

    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 6] = [
        Format::Table,
        Format::Csv,
        Format::Jsonl,
        Format::Ecs,
        Format::EcsBulk,
        Format::Timesketch,
    ];

    /// Whether the format shows every field of a detection's event rather than only those
    /// its rule lists (ECS and Timesketch map the event's fields to their own).
    pub fn wants_all_fields(self) -> bool {
        matches!(self, Format::Ecs | Format::EcsBulk | Format::Timesketch)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = OutputError;

    /// Parses `table`, `csv`, `jsonl`, `ecs`, `ecs-bulk` or `timesketch`.
    fn from_str(s: &str) -> Result<Format, OutputError> {
        Format::ALL
            .into_iter()
            .find(|format| format.name() == s)
            .ok_or_else(|| OutputError::UnknownFormat(s.to_string()))
    }
}

/// Writes detections to a writer in one [`Format`].
///
/// Each detection reaches the writer in a single `write_all` call, so lines never
/// interleave and a terminal shows detections as they are found. Wrap the writer in a
/// [`std::io::BufWriter`] when throughput matters more than latency (output to a file or a
/// pipe). Call [`Printer::finish`] at the end: dropping a printer does not flush it, and
/// `finish` writes the CSV header even when there was no detection.
pub struct Printer {
    format: Format,
    out: Box<dyn Write + Send>,
    color: bool,
    /// The bytes of the detection being written, reused between detections.
    buf: Vec<u8>,
    /// The CSV formatter, created on first use by [`Format::Csv`].
    csv: Option<CsvRows>,
    /// What ECS documents say of rules beyond the columns.
    docs: RuleDocs,
}

impl Printer {
    /// A printer of `format` to `writer`; `color` turns on ANSI colours in the table
    /// format (see [`crate::color_wanted`]) and is ignored by the others.
    pub fn new(format: Format, writer: Box<dyn Write + Send>, color: bool) -> Printer {
        Printer {
            format,
            out: writer,
            color,
            buf: Vec::with_capacity(512),
            csv: None,
            docs: RuleDocs::new(),
        }
    }

    /// The rules' descriptions, references and ATT&CK names for [`Format::Ecs`] and
    /// [`Format::EcsBulk`] (ignored by the other formats).
    pub fn with_rule_docs(mut self, docs: RuleDocs) -> Printer {
        self.docs = docs;
        self
    }

    /// The format this printer writes.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Writes one detection.
    ///
    /// # Errors
    ///
    /// [`OutputError::BrokenPipe`] when the reader has gone away, [`OutputError::Io`] for
    /// other write failures.
    pub fn write(&mut self, record: &DetectionRecord) -> Result<(), OutputError> {
        self.buf.clear();
        match self.format {
            Format::Table => table::write(&mut self.buf, record, self.color),
            Format::Csv => self
                .csv
                .get_or_insert_with(CsvRows::new)
                .row(&mut self.buf, record)?,
            Format::Jsonl => jsonl::write(&mut self.buf, record),
            Format::Ecs | Format::EcsBulk => {
                if self.format == Format::EcsBulk {
                    self.buf.extend_from_slice(ecs::BULK_ACTION.as_bytes());
                    self.buf.push(b'\n');
                }
                let doc = ecs::document(record, EcsKind::Alert, &self.docs);
                // Writing a JSON value into a `Vec` cannot fail.
                let _ = serde_json::to_writer(&mut self.buf, &doc);
                self.buf.push(b'\n');
            }
            Format::Timesketch => {
                let _ = serde_json::to_writer(&mut self.buf, &timesketch::line(record));
                self.buf.push(b'\n');
            }
        }
        self.out.write_all(&self.buf)?;
        Ok(())
    }

    /// Writes what is still pending (the CSV header if no detection was written) and
    /// flushes the writer.
    ///
    /// # Errors
    ///
    /// As for [`Printer::write`].
    pub fn finish(&mut self) -> Result<(), OutputError> {
        if self.format == Format::Csv {
            self.buf.clear();
            self.csv
                .get_or_insert_with(CsvRows::new)
                .header(&mut self.buf)?;
            self.out.write_all(&self.buf)?;
        }
        self.out.flush()?;
        Ok(())
    }
}

impl fmt::Debug for Printer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Printer")
            .field("format", &self.format)
            .field("color", &self.color)
            .finish_non_exhaustive()
    }
}

/// Whether to colour output: only on a terminal, and not when the `NO_COLOR` environment
/// variable is set to a non-empty value (<https://no-color.org>).
pub fn color_wanted(is_terminal: bool) -> bool {
    let no_color = std::env::var_os("NO_COLOR");
    let no_color = no_color.as_ref().map(|v| v.to_string_lossy());
    color_wanted_with(no_color.as_deref(), is_terminal)
}

/// [`color_wanted`] with the value of `NO_COLOR` given, for testing and for callers that
/// read the environment themselves.
pub fn color_wanted_with(no_color: Option<&str>, is_terminal: bool) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{meta, new_record, windows_event};
    use std::io;
    use std::sync::{Arc, Mutex};
    use tocsin_event::Level;

    /// A writer whose bytes the test can read after the printer took ownership.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// A writer that fails every call with `kind`.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(self.0.into())
        }
    }

    fn print(format: Format, color: bool, count: usize) -> String {
        let out = Shared::default();
        let mut printer = Printer::new(format, Box::new(out.clone()), color);
        let record = new_record(&meta(Some(Level::High), &[]), &windows_event());
        for _ in 0..count {
            printer.write(&record).unwrap();
        }
        printer.finish().unwrap();
        out.text()
    }

    #[test]
    fn formats_parse_and_print_their_names() {
        for format in Format::ALL {
            assert_eq!(format.to_string().parse::<Format>().unwrap(), format);
        }
        let err = "xml".parse::<Format>().unwrap_err();
        assert!(err.to_string().contains("`xml`"), "{err}");
    }

    #[test]
    fn each_format_writes_one_line_per_detection() {
        assert_eq!(print(Format::Jsonl, false, 3).lines().count(), 3);
        assert_eq!(print(Format::Table, false, 3).lines().count(), 3);
        // Header plus rows; the header alone when nothing was found.
        assert_eq!(print(Format::Csv, false, 3).lines().count(), 4);
        assert_eq!(
            print(Format::Csv, false, 0).lines().next(),
            Some(crate::COLUMNS.join(",").as_str())
        );
        assert_eq!(print(Format::Jsonl, false, 0), "");
        assert_eq!(print(Format::Ecs, false, 3).lines().count(), 3);
        assert_eq!(print(Format::Timesketch, false, 3).lines().count(), 3);
        let bulk = print(Format::EcsBulk, false, 2);
        let lines: Vec<&str> = bulk.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], crate::ecs::BULK_ACTION);
        assert!(
            lines[1].contains("\"event\":{\"kind\":\"alert\""),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn color_reaches_only_the_table() {
        assert!(print(Format::Table, true, 1).contains('\x1b'));
        assert!(!print(Format::Table, false, 1).contains('\x1b'));
        assert!(!print(Format::Jsonl, true, 1).contains('\x1b'));
        assert!(!print(Format::Csv, true, 1).contains('\x1b'));
    }

    #[test]
    fn broken_pipe_is_reported_as_such() {
        let record = new_record(&meta(None, &[]), &windows_event());
        for format in Format::ALL {
            let mut printer =
                Printer::new(format, Box::new(Failing(io::ErrorKind::BrokenPipe)), false);
            assert!(
                printer.write(&record).unwrap_err().is_broken_pipe(),
                "{format}"
            );
            assert!(printer.finish().unwrap_err().is_broken_pipe(), "{format}");

            let mut printer = Printer::new(format, Box::new(Failing(io::ErrorKind::Other)), false);
            let err = printer.write(&record).unwrap_err();
            assert!(matches!(err, OutputError::Io(_)), "{format}: {err:?}");
        }
    }

    #[test]
    fn no_color_rules() {
        assert!(color_wanted_with(None, true));
        assert!(color_wanted_with(Some(""), true));
        assert!(!color_wanted_with(Some("1"), true));
        assert!(!color_wanted_with(Some("false"), true));
        assert!(!color_wanted_with(None, false));
        assert!(!color_wanted_with(Some(""), false));
        assert!(!color_wanted(false));
    }
}
