//! The owned, flattened [`Event`] that decoders produce.

use std::ops::ControlFlow;
use std::sync::Arc;

use crate::{FieldNames, FieldValue, Fields, Value};

/// Where a record came from, so that every detection and every error can point back at it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The file path (or `-` for standard input) the record was read from.
    pub source: Arc<str>,
    /// The record's position in its source: the EVTX record number, or the 1-based line
    /// (JSON Lines) or object index (JSON array, concatenated objects).
    pub record: u64,
}

/// One leaf of a decoded record.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Full dotted path in the source document, such as `Event.EventData.CommandLine`.
    /// Shared: a decoder hands the same name to every record that has the field.
    pub path: Arc<str>,
    /// The short name Sigma rules use (`CommandLine`, `Provider_Name`), when it differs from
    /// the path.
    pub alias: Option<Arc<str>>,
    /// The value.
    pub value: Value,
}

impl Field {
    /// The name rules use: the alias if there is one, otherwise the full path.
    pub fn name(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.path)
    }

    /// Whether this field answers to `name` (its short name or its full path).
    pub fn answers_to(&self, name: &str) -> bool {
        self.alias.as_deref() == Some(name) || &*self.path == name
    }
}

/// One decoded log record: its fields in document order, where it came from, and when it
/// happened.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// The leaves of the record, in document order.
    pub fields: Vec<Field>,
    /// Where the record came from.
    pub origin: Origin,
    /// When the event happened, in microseconds since the Unix epoch (UTC), if the record
    /// says so.
    pub timestamp_micros: Option<i64>,
    /// The Sigma logsource the decoder knows this record belongs to (for example
    /// `product: remote_support, service: appliance` for an appliance's syslog, `product:
    /// windows` for EVTX), or that the user declared for plain JSON, so that rules meet
    /// only the events they were written for. `None` when nothing says (plain JSON): such
    /// an event meets only rules that name no logsource, or Windows rules by its `Channel`.
    pub logsource: Option<Arc<LogSource>>,
}

/// The Sigma logsource of a decoded record: the `product`, `service` and `category` a rule
/// names in its `logsource` section to target records like it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LogSource {
    /// Such as `linux`, `remote_support`.
    pub product: Option<Box<str>>,
    /// Such as `syslog`, `auth`, `appliance`, `api_audit`.
    pub service: Option<Box<str>>,
    /// Such as `firewall`, `webserver`.
    pub category: Option<Box<str>>,
}

impl LogSource {
    /// A logsource with a product and a service, the common case for a decoder.
    pub fn new(product: &str, service: &str) -> Self {
        Self {
            product: Some(product.into()),
            service: Some(service.into()),
            category: None,
        }
    }
}

impl Event {
    /// Appends a field; `alias` is the short name rules use (pass the path again, or an
    /// empty string, when there is none).
    pub fn push(&mut self, path: &str, alias: &str, value: Value) {
        let alias = (!alias.is_empty() && alias != path).then(|| alias.into());
        self.fields.push(Field {
            path: path.into(),
            alias,
            value,
        });
    }

    /// Appends a field whose names the caller already holds (a decoder's name cache), so
    /// that no name is allocated per record. `alias` must differ from `path`.
    pub fn push_named(&mut self, path: Arc<str>, alias: Option<Arc<str>>, value: Value) {
        self.fields.push(Field { path, alias, value });
    }

    /// The first value of `name` rendered as text, for display (`Computer`, `Channel`, ...).
    pub fn text(&self, name: &str) -> Option<String> {
        self.first(name).map(|v| v.to_string())
    }
}

impl Fields for Event {
    fn visit<'a>(
        &'a self,
        name: &str,
        visit: &mut dyn FnMut(FieldValue<'a>) -> ControlFlow<()>,
    ) -> bool {
        let mut found = false;
        for field in self.fields.iter().filter(|f| f.answers_to(name)) {
            found = true;
            if visit(field.value.as_field_value()).is_break() {
                break;
            }
        }
        found
    }

    fn logsource(&self) -> Option<&LogSource> {
        self.logsource.as_deref()
    }

    fn visit_all<'a>(&'a self, visit: &mut dyn FnMut(FieldValue<'a>) -> ControlFlow<()>) {
        for field in &self.fields {
            if visit(field.value.as_field_value()).is_break() {
                return;
            }
        }
    }

    fn visit_all_named<'a>(
        &'a self,
        visit: &mut dyn FnMut(FieldNames<'_>, FieldValue<'a>) -> ControlFlow<()>,
    ) {
        for field in &self.fields {
            let names = match field.alias.as_deref() {
                Some(alias) => FieldNames {
                    name: alias,
                    path: Some(&field.path),
                },
                None => FieldNames {
                    name: &field.path,
                    path: None,
                },
            };
            if visit(names, field.value.as_field_value()).is_break() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut e = Event::default();
        e.push("Event.System.EventID", "EventID", Value::Int(1));
        e.push("Event.EventData.Tags", "Tags", Value::from("a"));
        e.push("Event.EventData.Tags", "Tags", Value::from("b"));
        e.push("process.name", "", Value::from("cmd.exe"));
        e
    }

    #[test]
    fn finds_by_alias_and_by_path() {
        let e = sample();
        assert!(e.contains("EventID"));
        assert!(e.contains("Event.System.EventID"));
        assert!(e.contains("process.name"));
        assert!(!e.contains("Image"));
    }

    #[test]
    fn visits_every_element_of_an_array() {
        let e = sample();
        let mut seen = Vec::new();
        e.visit("Tags", &mut |v| {
            seen.push(v.to_string());
            ControlFlow::Continue(())
        });
        assert_eq!(seen, ["a", "b"]);
    }

    #[test]
    fn first_returns_borrowed_value() {
        let e = sample();
        assert_eq!(e.first("process.name"), Some(FieldValue::Str("cmd.exe")));
        assert_eq!(e.text("EventID").as_deref(), Some("1"));
    }
}
