//! The CSV printer: a header row, then one row per detection in [`COLUMNS`](crate::COLUMNS)
//! order. Tags are joined with `;` and details are compact JSON text.
//!
//! Log fields are written by whoever wrote the log, attackers included. A cell that starts
//! with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to a spreadsheet
//! (CSV injection: `=HYPERLINK(...)` in a command line runs when an analyst opens the
//! file), so such a cell gets a leading `'`, as OWASP recommends: spreadsheets then show
//! the text as written.

use crate::{DetectionRecord, OutputError, COLUMNS};

/// The separator between tags in the `tags` column.
pub const TAG_SEPARATOR: &str = ";";

/// Formats rows into memory so that each row reaches the real writer in one piece.
pub(crate) struct CsvRows {
    header_written: bool,
}

impl CsvRows {
    /// A formatter that has not yet written its header.
    pub(crate) fn new() -> CsvRows {
        CsvRows {
            header_written: false,
        }
    }

    /// Appends the header to `buf` unless it was already written.
    pub(crate) fn header(&mut self, buf: &mut Vec<u8>) -> Result<(), OutputError> {
        if !self.header_written {
            write_record(buf, COLUMNS)?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Appends the header (the first time) and the row of `r` to `buf`.
    pub(crate) fn row(
        &mut self,
        buf: &mut Vec<u8>,
        r: &DetectionRecord,
    ) -> Result<(), OutputError> {
        self.header(buf)?;
        let opt = |s: &Option<String>| s.clone().unwrap_or_default();
        let details = serde_json::to_string(&r.details).unwrap_or_default();
        let cells = [
            opt(&r.timestamp),
            opt(&r.computer),
            opt(&r.channel),
            r.event_id.map(|i| i.to_string()).unwrap_or_default(),
            r.record_id.to_string(),
            opt(&r.rule_id),
            r.rule_title.clone(),
            r.level.clone(),
            r.tags.join(TAG_SEPARATOR),
            opt(&r.author),
            r.source.clone(),
            details,
        ];
        write_record(buf, cells.map(inert))
    }
}

/// The cell as a spreadsheet shows it as text, never as a formula (see the module
/// documentation).
fn inert(cell: String) -> String {
    match cell.bytes().next() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}"),
        _ => cell,
    }
}

/// Appends one CSV record to `buf`.
fn write_record<I, T>(buf: &mut Vec<u8>, fields: I) -> Result<(), OutputError>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut writer = ::csv::WriterBuilder::new()
        .buffer_capacity(1024)
        .from_writer(buf);
    writer.write_record(fields)?;
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::{meta, new_record, windows_event};
    use tocsin_event::Level;
    use tocsin_event::Value;

    fn rows(records: &[DetectionRecord]) -> String {
        let mut rows = CsvRows::new();
        let mut buf = Vec::new();
        for r in records {
            rows.row(&mut buf, r).unwrap();
        }
        rows.header(&mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn header_once_then_rows() {
        let r = new_record(&meta(Some(Level::Medium), &[]), &windows_event());
        let text = rows(&[r.clone(), r]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], COLUMNS.join(","));
        assert!(lines[1].starts_with(
            "2023-11-14T22:13:20.123456Z,WS01.corp,Microsoft-Windows-Sysmon/Operational,1,42,"
        ));
        assert!(lines[1].contains(",medium,attack.discovery;attack.t1033,A. Analyst,"));
        assert_eq!(lines[1], lines[2]);
    }

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_written_as_text() {
        // Issue 20, finding 16.
        let mut e = windows_event();
        e.push(
            "Event.EventData.CommandLine",
            "CommandLine",
            Value::from("=HYPERLINK(\"http://x.example\",\"open\")"),
        );
        e.origin.source = "+cmd.jsonl".into();
        let mut m = meta(None, &["CommandLine"]);
        m.rule.title = "-cmd|' /C calc'!A0".into();
        let r = new_record(&m, &e);
        let text = rows(std::slice::from_ref(&r));
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let row = reader.records().next().expect("a row").expect("valid CSV");
        for cell in &row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} in {text}"
            );
        }
        assert_eq!(&row[10], "'+cmd.jsonl");
        assert_eq!(&row[6], "'-cmd|' /C calc'!A0");
        // The details cell is JSON and starts with `{`: left as it is.
        assert!(row[11].contains("=HYPERLINK"), "{text}");
    }

    #[test]
    fn header_alone_without_detections() {
        assert_eq!(rows(&[]), format!("{}\n", COLUMNS.join(",")));
    }

    #[test]
    fn commas_quotes_and_newlines_are_quoted() {
        let mut e = windows_event();
        e.push(
            "Event.EventData.Script",
            "Script",
            Value::from("a,\"b\"\nc"),
        );
        let mut m = meta(None, &["Script"]);
        m.rule.title = "Title, with \"quotes\"\nsecond line".into();
        let r = new_record(&m, &e);
        let text = rows(std::slice::from_ref(&r));

        assert!(
            text.contains(",\"Title, with \"\"quotes\"\"\nsecond line\","),
            "{text}"
        );
        // The details JSON holds `\n` escaped, and its quotes are doubled.
        assert!(
            text.contains(r#","{""Script"":""a,\""b\""\nc""}""#),
            "{text}"
        );

        // Reading it back gives the original values.
        let mut reader = ::csv::Reader::from_reader(text.as_bytes());
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[6], r.rule_title);
        let details: serde_json::Value = serde_json::from_str(&row[11]).unwrap();
        assert_eq!(details["Script"], "a,\"b\"\nc");
        assert_eq!(row.len(), COLUMNS.len());
    }
}
