//! Support session reports of a remote-support appliance (BeyondTrust Remote Support), the
//! XML its reporting API returns for `generate_report=SupportSession`: a `<session_list>`
//! of `<session lsid="...">` elements, each with its participants and, in
//! `<session_details>`, its events (a session's start, command shells, file transfers,
//! registry changes, ...). The syslog holds none of these (see `FORMATS.md`).
//!
//! ```xml
//! <session_list xmlns="http://www.beyondtrust.com/sra/namespaces/API/reporting">
//! <session lsid="e9e99aeb9ad54fb381634498502c5a1b">
//!   <session_type>support</session_type>
//!   <start_time timestamp="1733239565">2024-12-03T15:26:05+00:00</start_time>
//!   <jump_group type="shared" id="1">Help desk</jump_group>
//!   <primary_rep gsnumber="21" id="1">Admin</primary_rep>
//!   <customer_list><customer gsnumber="22"><hostname>WS-0042</hostname></customer></customer_list>
//!   <rep_list><representative gsnumber="21" id="1"><username>admin</username></representative></rep_list>
//!   <session_details>
//!     <event timestamp="1733239600" event_type="Command Shell Session Started">
//!       <performed_by type="representative" gsnumber="21">Admin</performed_by>
//!       <data><value name="instance" value="1" /></data>
//!     </event>
//!   </session_details>
//! </session>
//! </session_list>
//! ```
//!
//! Each `<event>` becomes one event, numbered by its place in the file, timed by its
//! `timestamp` (Unix seconds), with its session's fields:
//!
//! * every leaf element of the session by its name (`session_type`, `start_time`,
//!   `jump_group`, `primary_rep`, `file_transfer_count`, ...) and `lsid`;
//! * each customer's and representative's leaves as `customer_<name>` and `rep_<name>`
//!   (`customer_hostname`, `customer_public_ip`, `rep_username`, ...; several participants
//!   give several values of one name);
//! * the event's `event_type`, its `performed_by` and `destination` (with `_type` and, for a
//!   representative, `_username`), its other leaves by name (`body`, `filename`, ...), and
//!   each `<value name="N" value="V"/>` as `data.N`.
//!
//! Logsource: `product: remote_support, service: session_report`. Malformed XML is an
//! error naming the line where it was found; the events before it are kept, and reading
//! stops there, as nothing after a syntax error can be placed.

use std::collections::HashMap;
use std::io::BufRead;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event as Xml};
use quick_xml::Reader;
use tocsin_event::{Event, LogSource, Origin, Value};

use crate::error::DecodeError;
use crate::timestamp::from_epoch_seconds;
use crate::utf16::Transcoder;
use crate::EventSource;

/// The format name in errors.
const FORMAT: &str = "session-report";

/// At most this many fields of a session are copied to each of its events: every event
/// carries them, so a hostile report with many participants and many events would
/// otherwise cost their product.
const MAX_SESSION_FIELDS: usize = 512;

/// Whether a line opens a session report (`<session_list` or `<session `, any namespace
/// prefix aside).
pub(crate) fn is_session_report_line(line: &str) -> bool {
    let mut line = line.trim_start();
    // An XML declaration or comments may come first on the same line.
    while let Some(rest) = line
        .strip_prefix("<?")
        .or_else(|| line.strip_prefix("<!--"))
    {
        let end = if line.starts_with("<?") { "?>" } else { "-->" };
        let Some(at) = rest.find(end) else {
            return false;
        };
        line = rest[at + end.len()..].trim_start();
    }
    let Some(tag) = line.strip_prefix('<') else {
        return false;
    };
    // A namespace prefix (`<r:session_list`) aside.
    let name_end = tag.find([' ', '>', '\t', '/']).unwrap_or(tag.len());
    let name = &tag[..name_end];
    let local = name.rsplit_once(':').map_or(name, |(_, local)| local);
    local == "session_list" || (local == "session" && tag[name_end..].starts_with(' '))
}

/// Events of one session report.
pub(crate) struct SessionReportSource {
    name: Arc<str>,
    reader: Reader<LineCounter>,
    buffer: Vec<u8>,
    /// The local names of the open elements, outermost first.
    open: Vec<String>,
    /// Text of the innermost open element so far.
    text: String,
    /// The fields of the session being read (at most [`MAX_SESSION_FIELDS`]).
    session: Vec<(String, Value)>,
    /// Whether the session had more fields than are copied to its events.
    session_capped: bool,
    /// An error about a record that does not stop the reading, yielded next.
    warning: Option<DecodeError>,
    /// Representatives' user names by their `gsnumber`, to name who performed an event.
    reps: HashMap<String, String>,
    /// The representative being read: its gsnumber, once its username is known.
    rep_gsnumber: Option<String>,
    /// The event being read.
    event: Option<Event>,
    record: u64,
    logsource: Arc<LogSource>,
    done: bool,
}

impl SessionReportSource {
    pub(crate) fn new(name: Arc<str>, reader: Box<dyn BufRead + Send>) -> Self {
        SessionReportSource {
            name,
            reader: reader_of(reader),
            buffer: Vec::new(),
            open: Vec::new(),
            text: String::new(),
            session: Vec::new(),
            session_capped: false,
            warning: None,
            reps: HashMap::new(),
            rep_gsnumber: None,
            event: None,
            record: 0,
            logsource: Arc::new(LogSource::new("remote_support", "session_report")),
            done: false,
        }
    }

    /// An error at the reader's current line; reading stops.
    fn fail(&mut self, message: String) -> DecodeError {
        self.done = true;
        DecodeError::Line {
            file: Arc::clone(&self.name),
            line: self.reader.get_ref().line(),
            format: FORMAT,
            message,
        }
    }

    /// Whether the innermost open elements are `names` (outermost of them first).
    fn inside(&self, names: &[&str]) -> bool {
        let Some(from) = self.open.len().checked_sub(names.len()) else {
            return false;
        };
        self.open[from..]
            .iter()
            .zip(names)
            .all(|(open, name)| open == name)
    }

    /// The element `open` was just opened (or is empty, when `empty`).
    fn start(&mut self, element: &BytesStart<'_>, empty: bool) -> Result<(), String> {
        let name = local_name(element);
        let attributes = attributes(element)?;
        let attribute = |key: &str| {
            attributes
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        match name.as_str() {
            "session" if self.inside(&["session_list"]) || self.open.is_empty() => {
                self.session.clear();
                self.session_capped = false;
                self.reps.clear();
                if let Some(lsid) = attribute("lsid") {
                    self.add_session_field("lsid".into(), Value::from(lsid));
                }
            }
            "representative" if self.inside(&["rep_list"]) => {
                self.rep_gsnumber = attribute("gsnumber");
                if let Some(id) = attribute("id") {
                    self.add_session_field("rep_id".into(), Value::from(id));
                }
            }
            "event" if self.inside(&["session_details"]) => {
                let mut event = Event::default();
                for (key, value) in &self.session {
                    event.push(key, "", value.clone());
                }
                if let Some(kind) = attribute("event_type") {
                    event.push("event_type", "", Value::from(kind));
                }
                event.timestamp_micros =
                    attribute("timestamp").and_then(|t| from_epoch_seconds(&t));
                self.event = Some(event);
            }
            "value" if self.event.is_some() => {
                if let (Some(key), Some(value)) = (attribute("name"), attribute("value")) {
                    self.push_event_field(&format!("data.{key}"), Value::from(value));
                }
            }
            "performed_by" | "destination" if self.event.is_some() => {
                if let Some(kind) = attribute("type") {
                    self.push_event_field(&format!("{name}_type"), Value::from(kind));
                }
                let rep = attribute("gsnumber").and_then(|g| self.reps.get(&g).cloned());
                if let Some(username) = rep {
                    self.push_event_field(&format!("{name}_username"), Value::from(username));
                }
            }
            _ => {}
        }
        if !empty {
            self.open.push(name);
            self.text.clear();
        }
        Ok(())
    }

    /// Adds a field of the session, to be copied to its events; beyond
    /// [`MAX_SESSION_FIELDS`] the field is dropped and an error says so, once per session.
    fn add_session_field(&mut self, name: String, value: Value) {
        if self.session.len() < MAX_SESSION_FIELDS {
            self.session.push((name, value));
            return;
        }
        if !self.session_capped {
            self.session_capped = true;
            self.warning = Some(DecodeError::Line {
                file: Arc::clone(&self.name),
                line: self.reader.get_ref().line(),
                format: FORMAT,
                message: format!(
                    "a session with more than {MAX_SESSION_FIELDS} fields: the rest (from `{name}` on) are not copied to its events"
                ),
            });
        }
    }

    fn push_event_field(&mut self, name: &str, value: Value) {
        if let Some(event) = self.event.as_mut() {
            event.push(name, "", value);
        }
    }

    /// The innermost element closed; returns the event it completes, if any.
    fn end(&mut self) -> Option<Event> {
        let name = self.open.pop()?;
        let text = std::mem::take(&mut self.text);
        let text = text.trim();
        let parent = self.open.last().map(String::as_str);
        match (name.as_str(), parent) {
            ("event", Some("session_details")) => {
                let mut event = self.event.take()?;
                event.logsource = Some(Arc::clone(&self.logsource));
                self.record += 1;
                event.origin = Origin {
                    source: Arc::clone(&self.name),
                    record: self.record,
                };
                return Some(event);
            }
            ("representative", _) => self.rep_gsnumber = None,
            (_, _) if text.is_empty() => {}
            (_, Some("session")) => {
                let text = Value::from(text);
                self.add_session_field(name, text);
            }
            (_, Some("customer")) => {
                let text = Value::from(text);
                self.add_session_field(format!("customer_{name}"), text);
            }
            (_, Some("representative")) => {
                if name == "username" {
                    if let Some(gsnumber) = &self.rep_gsnumber {
                        self.reps.insert(gsnumber.clone(), text.to_string());
                    }
                }
                let text = Value::from(text);
                self.add_session_field(format!("rep_{name}"), text);
            }
            (_, _) if self.event.is_some() => self.push_event_field(&name, Value::from(text)),
            _ => {}
        }
        None
    }
}

impl Iterator for SessionReportSource {
    type Item = Result<Event, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Some(warning) = self.warning.take() {
                return Some(Err(warning));
            }
            self.buffer.clear();
            let read = self.reader.read_event_into(&mut self.buffer);
            let xml = match read {
                Ok(xml) => xml.into_owned(),
                Err(error) => return Some(Err(self.fail(format!("malformed XML: {error}")))),
            };
            let step = match xml {
                Xml::Start(element) => self.start(&element, false).map(|()| None),
                Xml::Empty(element) => self.start(&element, true).map(|()| None),
                Xml::End(_) => Ok(self.end()),
                Xml::Text(text) => {
                    self.text.push_str(&text.xml10_content());
                    Ok(None)
                }
                Xml::CData(data) => {
                    self.text.push_str(&data.xml10_content());
                    Ok(None)
                }
                Xml::GeneralRef(reference) => match reference.resolve_char_ref() {
                    Ok(Some(c)) => {
                        self.text.push(c);
                        Ok(None)
                    }
                    Ok(None) => {
                        match quick_xml::escape::resolve_predefined_entity(&reference) {
                            Some(text) => self.text.push_str(text),
                            None => self.text.push_str(&format!("&{};", &*reference)),
                        }
                        Ok(None)
                    }
                    Err(error) => Err(format!("bad character reference: {error}")),
                },
                Xml::Eof => {
                    self.done = true;
                    if self.open.is_empty() {
                        return None;
                    }
                    let open = self.open.join(">");
                    return Some(Err(self.fail(format!("the document ended inside <{open}>"))));
                }
                _ => Ok(None),
            };
            match step {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => {}
                Err(message) => return Some(Err(self.fail(message))),
            }
        }
        None
    }
}

impl EventSource for SessionReportSource {
    fn name(&self) -> &str {
        &self.name
    }
}

/// The XML reader of a report: bytes that are not UTF-8 become U+FFFD (as in every text
/// format: one Latin-1 host name must not end the file), and `<event .../>` comes as a
/// start and an end, as `<event ...></event>` does, so that both forms give an event.
fn reader_of(input: Box<dyn BufRead + Send>) -> Reader<LineCounter> {
    let lossy = std::io::BufReader::new(Transcoder::new(input, encoding_rs::UTF_8));
    let mut reader = Reader::from_reader(LineCounter::new(Box::new(lossy)));
    reader.config_mut().expand_empty_elements = true;
    reader
}

/// An element's name without its namespace prefix.
fn local_name(element: &BytesStart<'_>) -> String {
    element.local_name().as_ref().to_owned()
}

/// An element's attributes by local name, their values unescaped.
fn attributes(element: &BytesStart<'_>) -> Result<Vec<(String, String)>, String> {
    let mut found = Vec::new();
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| format!("malformed attribute: {e}"))?;
        let key = attribute.key.local_name().as_ref().to_owned();
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("attribute `{key}`: {e}"))?;
        found.push((key, value.into_owned()));
    }
    Ok(found)
}

/// A reader that counts the lines it has handed out, so that an error can name one.
struct LineCounter {
    inner: Box<dyn BufRead + Send>,
    newlines: u64,
    /// The last byte handed out.
    last: Option<u8>,
}

impl LineCounter {
    fn new(inner: Box<dyn BufRead + Send>) -> Self {
        LineCounter {
            inner,
            newlines: 0,
            last: None,
        }
    }

    /// The 1-based line the reading has reached: the line of the last byte handed out.
    fn line(&self) -> u64 {
        match self.last {
            Some(b'\n') => self.newlines.max(1),
            _ => self.newlines + 1,
        }
    }

    fn count(&mut self, bytes: &[u8]) {
        self.newlines += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        if let Some(&last) = bytes.last() {
            self.last = Some(last);
        }
    }
}

impl std::io::Read for LineCounter {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.count(&out[..n]);
        Ok(n)
    }
}

impl BufRead for LineCounter {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        let (newlines, last) = match self.inner.fill_buf() {
            Ok(buffer) => {
                let consumed = &buffer[..amount.min(buffer.len())];
                let newlines = consumed.iter().filter(|&&b| b == b'\n').count() as u64;
                (newlines, consumed.last().copied())
            }
            Err(_) => (0, None),
        };
        self.newlines += newlines;
        self.last = last.or(self.last);
        self.inner.consume(amount);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<session_list xmlns="http://www.beyondtrust.com/sra/namespaces/API/reporting">
<session lsid="e9e99aeb9ad54fb381634498502c5a1b">
    <session_type>support</session_type>
    <start_time timestamp="1733239565">2024-12-03T15:26:05+00:00</start_time>
    <file_transfer_count>2</file_transfer_count>
    <jump_group type="shared" id="1">Help &amp; desk</jump_group>
    <primary_rep gsnumber="21" id="1">Admin</primary_rep>
    <customer_list>
      <customer gsnumber="22"><username>jdoe</username><public_ip>198.51.100.7:61606</public_ip>
        <hostname>WS-0042</hostname></customer>
    </customer_list>
    <rep_list>
      <representative gsnumber="21" id="1"><username>admin</username><display_name>Admin</display_name>
        <session_owner>1</session_owner></representative>
    </rep_list>
<session_details>
<event timestamp="1733239565" event_type="Session Start" ></event>
<event timestamp="1733239600" event_type="Command Shell Session Started">
    <performed_by type="representative" gsnumber="21">Admin</performed_by>
    <data><value name="instance" value="1" /><value name="view_url" value="https://x/y?a=1&amp;b=2" /></data>
</event>
<event timestamp="1733239700" event_type="File Download">
    <performed_by type="representative" gsnumber="21">Admin</performed_by>
    <filename>C:\Users\jdoe\Documents\budget.xlsx</filename>
</event>
</session_details>
</session>
</session_list>
"#;

    fn decode(text: &str) -> Vec<String> {
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_string()));
        SessionReportSource::new("r.xml".into(), reader)
            .map(|item| match item {
                Ok(event) => {
                    let fields: Vec<String> = event
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
    fn each_session_event_carries_its_session() {
        let session = "lsid=e9e99aeb9ad54fb381634498502c5a1b,session_type=support,start_time=2024-12-03T15:26:05+00:00,file_transfer_count=2,jump_group=Help & desk,primary_rep=Admin,customer_username=jdoe,customer_public_ip=198.51.100.7:61606,customer_hostname=WS-0042,rep_id=1,rep_username=admin,rep_display_name=Admin,rep_session_owner=1";
        assert_eq!(
            decode(REPORT),
            [
                format!("1: {session},event_type=Session Start"),
                format!("2: {session},event_type=Command Shell Session Started,performed_by_type=representative,performed_by_username=admin,performed_by=Admin,data.instance=1,data.view_url=https://x/y?a=1&b=2"),
                format!("3: {session},event_type=File Download,performed_by_type=representative,performed_by_username=admin,performed_by=Admin,filename=C:\\Users\\jdoe\\Documents\\budget.xlsx"),
            ]
        );
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(REPORT.to_string()));
        let event = SessionReportSource::new("r.xml".into(), reader)
            .nth(1)
            .and_then(Result::ok)
            .expect("an event");
        assert_eq!(event.timestamp_micros, Some(1_733_239_600_000_000));
        assert_eq!(
            event.logsource.as_deref(),
            Some(&LogSource::new("remote_support", "session_report"))
        );
    }

    #[test]
    fn malformed_xml_keeps_the_events_before_and_names_its_line() {
        let broken = REPORT.replace("<filename>", "<filename attr=>");
        let decoded = decode(&broken);
        assert_eq!(decoded.len(), 3, "{decoded:?}");
        assert!(decoded[1].starts_with("2: "), "{decoded:?}");
        assert!(
            decoded[2].starts_with("error: r.xml: line 25: session-report: malformed"),
            "{decoded:?}"
        );
        let truncated = &REPORT[..REPORT.find("<event timestamp=\"1733239700\"").expect("cut")];
        let decoded = decode(truncated);
        assert_eq!(decoded.len(), 3, "{decoded:?}");
        assert!(
            decoded[2].contains("the document ended inside <session_list>session>session_details>"),
            "{decoded:?}"
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced_not_fatal() {
        let mut bytes =
            b"<session_list><session lsid=\"a\"><customer_list><customer><hostname>CAF".to_vec();
        bytes.push(0xC9);
        bytes.extend_from_slice(b"-PC</hostname></customer></customer_list><session_details><event event_type=\"x\"></event></session_details></session></session_list>");
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(bytes));
        let items: Vec<_> = SessionReportSource::new("r.xml".into(), reader).collect();
        assert_eq!(items.len(), 1, "{items:?}");
        let event = items[0].as_ref().expect("an event");
        assert_eq!(event.fields[1].value, Value::from("CAF\u{fffd}-PC"));
    }

    #[test]
    fn self_closing_events_are_events_too() {
        let text = "<session_list><session lsid=\"a\"><session_details>\n<event timestamp=\"1733239565\" event_type=\"Session Start\"/>\n<event timestamp=\"1733239600\" event_type=\"Session End\"/>\n</session_details></session></session_list>\n";
        assert_eq!(
            decode(text),
            [
                "1: lsid=a,event_type=Session Start",
                "2: lsid=a,event_type=Session End"
            ]
        );
    }

    #[test]
    fn a_session_copies_a_bounded_number_of_fields_to_its_events() {
        let customers: String = (0..600)
            .map(|i| format!("<customer><hostname>h{i}</hostname></customer>"))
            .collect();
        let text = format!(
            "<session_list><session lsid=\"a\"><customer_list>{customers}</customer_list><session_details><event event_type=\"x\"></event></session_details></session></session_list>"
        );
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text));
        let items: Vec<_> = SessionReportSource::new("r.xml".into(), reader).collect();
        assert_eq!(items.len(), 2, "a warning, then the event");
        let warning = items[0].as_ref().expect_err("a warning");
        assert!(
            warning.to_string().contains("more than 512 fields"),
            "{warning}"
        );
        let event = items[1].as_ref().expect("the event");
        assert_eq!(event.fields.len(), MAX_SESSION_FIELDS + 1);
    }

    #[test]
    fn session_reports_are_told_by_their_root() {
        assert!(is_session_report_line("<session_list xmlns=\"x\">"));
        assert!(is_session_report_line("  <session lsid=\"a\">"));
        assert!(!is_session_report_line("<sessions>"));
        assert!(is_session_report_line(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><session_list xmlns=\"x\"><session lsid=\"a\">"
        ));
        assert!(is_session_report_line(
            "<!-- report --><r:session_list xmlns:r=\"x\">"
        ));
        assert!(!is_session_report_line("<?xml version=\"1.0\"?><config>"));
        assert!(!is_session_report_line("<14>Feb  5 12:54:46 h x"));
    }
}
