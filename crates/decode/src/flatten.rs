//! Streams one JSON object into an [`Event`]'s flat list of fields, naming each leaf.
//!
//! The walk is a serde visitor, so no `serde_json::Value` tree is built: each leaf goes
//! straight into the event as `path` (the full dotted path) plus, for Windows events in the
//! `evtx` crate's layout, the short `alias` Sigma rules use (see [`windows_alias`]).
//! Arrays give one field per element under the same path; an empty object or array gives
//! one `null` field, so that the field still exists.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use tocsin_event::{Event, Value};

use crate::timestamp;

/// The path of the timestamp of a Windows event.
const SYSTEM_TIME: &str = "Event.System.TimeCreated.#attributes.SystemTime";

/// Where the event's time may be, best first; the first of these that parses wins.
pub(crate) fn timestamp_rank(path: &str) -> Option<u8> {
    Some(match path {
        SYSTEM_TIME => 0,
        "@timestamp" => 1,
        "timestamp" => 2,
        "time" => 3,
        "TimeCreated" => 4,
        "EventTime" => 5,
        _ => return None,
    })
}

/// The name Sigma rules use for the leaf at `path` of a Windows event rendered as JSON by the
/// `evtx` crate, or `""` when the leaf has none (any path outside `Event.System`,
/// `Event.EventData` and `Event.UserData`, and the attributes of those containers).
///
/// * `Event.EventData.X`, `Event.EventData.X.#text`, `Event.System.X`,
///   `Event.System.X.#text` and `Event.UserData.<Any>.….X` are `X`;
/// * an attribute `Event.System.X.#attributes.Y` (and likewise under `EventData` and
///   `UserData`) is `X_Y`, as in `Provider_Name` or `TimeCreated_SystemTime`.
pub(crate) fn windows_alias(path: &str) -> Cow<'_, str> {
    let Some(rest) = path.strip_prefix("Event.") else {
        return Cow::Borrowed("");
    };
    let Some((section, rest)) = rest.split_once('.') else {
        return Cow::Borrowed("");
    };
    let rest = match section {
        "System" | "EventData" => rest,
        // The first level names the event's own wrapper element (`Operation_ClientFailure`).
        "UserData" => match rest.split_once('.') {
            Some((_, rest)) => rest,
            None => return Cow::Borrowed(""),
        },
        _ => return Cow::Borrowed(""),
    };
    let rest = rest.strip_suffix(".#text").unwrap_or(rest);
    if rest.starts_with('#') {
        // The container's own attributes (`xmlns`, ...) or text.
        return Cow::Borrowed("");
    }
    let alias = match rest.rfind(".#attributes.") {
        Some(at) => {
            let owner = last_segment(&rest[..at]);
            let attribute = last_segment(&rest[at + ".#attributes.".len()..]);
            Cow::Owned(format!("{owner}_{attribute}"))
        }
        None => Cow::Borrowed(last_segment(rest)),
    };
    without_spaces(alias)
}

/// The name Sigma rules use for a field of a Windows event as a log shipper writes it
/// rather than in the `evtx` crate's layout, or `""`:
///
/// * Winlogbeat and Elastic Agent (`winlog.*`, with Elastic Common Schema beside it):
///   `winlog.channel` is `Channel`, `winlog.event_id` and ECS `event.code` are `EventID`,
///   `winlog.computer_name` is `Computer` (not ECS `host.name`, often a short or lowercased
///   form that would be listed first), `winlog.provider_name` is
///   `Provider_Name`, `winlog.record_id` is `EventRecordID`, and `winlog.event_data.X` and
///   `winlog.user_data.X` are `X`;
/// * NXLog (`im_msvistalog` as JSON) and Fluent Bit's `winlog` input, whose keys are flat:
///   `EventId` is `EventID`, `Hostname` and `ComputerName` are `Computer`, `SourceName` is
///   `Provider_Name`, `RecordNumber` is `EventRecordID` (their other keys, `Channel`,
///   `EventID` and the event data's own names, are already the names rules use).
///
/// With `Channel` and `EventID` named, such events are placed like any Windows event.
pub(crate) fn shipper_alias(path: &str) -> Cow<'_, str> {
    if let Some(rest) = path.strip_prefix("winlog.") {
        let named = match rest {
            "channel" => "Channel",
            "event_id" => "EventID",
            "computer_name" => "Computer",
            "provider_name" => "Provider_Name",
            "record_id" => "EventRecordID",
            _ => {
                let data = rest
                    .strip_prefix("event_data.")
                    .or_else(|| rest.strip_prefix("user_data."));
                return data.map_or(Cow::Borrowed(""), |name| {
                    without_spaces(Cow::Borrowed(name))
                });
            }
        };
        return Cow::Borrowed(named);
    }
    Cow::Borrowed(match path {
        "event.code" | "EventId" => "EventID",
        "Hostname" | "ComputerName" => "Computer",
        "SourceName" => "Provider_Name",
        "RecordNumber" => "EventRecordID",
        _ => "",
    })
}

/// Sigma names fields "as they appear in the log source" with the spaces stripped
/// (`Threat Name` is `ThreatName`), as Windows Defender and other providers name them.
fn without_spaces(name: Cow<'_, str>) -> Cow<'_, str> {
    if name.contains(' ') {
        Cow::Owned(name.replace(' ', ""))
    } else {
        name
    }
}

fn last_segment(path: &str) -> &str {
    path.rsplit_once('.').map_or(path, |(_, last)| last)
}

thread_local! {
    /// The names of the paths this thread has flattened, shared by every record that has
    /// them (see [`NameCache`]).
    static NAMES: RefCell<NameCache> = RefCell::new(NameCache::default());
}

/// A path's shared names and timestamp rank, worked out once per thread instead of once per
/// field of every record: a log repeats the same few hundred paths over and over.
#[derive(Default)]
struct NameCache {
    entries: foldhash::HashMap<Box<str>, Names>,
}

/// A path, its alias when it has one, and its timestamp rank.
type Names = (Arc<str>, Option<Arc<str>>, Option<u8>);

impl NameCache {
    /// The most paths one thread keeps: JSON whose keys are data (ids, addresses) must not
    /// grow the cache without bound. A full cache is emptied and fills again.
    const MAX_ENTRIES: usize = 4096;

    fn get(&mut self, path: &str) -> Names {
        if let Some(names) = self.entries.get(path) {
            return names.clone();
        }
        let mut alias = windows_alias(path);
        if alias.is_empty() {
            alias = shipper_alias(path);
        }
        let names: Names = (
            Arc::from(path),
            (!alias.is_empty() && alias != path).then(|| Arc::from(&*alias)),
            timestamp_rank(path),
        );
        // Full: start again rather than stop learning, since a decoder thread serves file
        // after file and a junk-keyed file early on must not leave later ones uncached.
        if self.entries.len() >= Self::MAX_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(path.into(), names.clone());
        names
    }
}

/// Builds one event from a JSON object.
///
/// Use it as a [`DeserializeSeed`] (it reserves room for `capacity` fields), or through
/// [`FlatEvent`] where a plain `Deserialize` type is needed.
///
/// It reads every key and value, never skipping one (`IgnoredAny`): serde_json then checks
/// the UTF-8 and the `\u` escapes of every string, which lets JSON Lines repair a line only
/// when it is refused (`json.rs`, `flatten_line`).
pub(crate) struct Flattener {
    event: Event,
    path: String,
    /// The best timestamp candidate found so far: its rank and value.
    timestamp: Option<(u8, i64)>,
}

impl Flattener {
    /// A flattener for an event expected to have about `capacity` fields.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let mut event = Event::default();
        event.fields.reserve(capacity);
        Flattener {
            event,
            path: String::with_capacity(96),
            timestamp: None,
        }
    }

    fn push(&mut self, value: Value) {
        NAMES.with_borrow_mut(|names| {
            let (path, alias, rank) = names.get(&self.path);
            if let Some(rank) = rank {
                if self.timestamp.is_none_or(|(best, _)| rank < best) {
                    if let Some(micros) = timestamp::from_value(&value) {
                        self.timestamp = Some((rank, micros));
                    }
                }
            }
            self.event.push_named(path, alias, value);
        });
    }

    fn finish(mut self) -> Event {
        self.event.timestamp_micros = self.timestamp.map(|(_, micros)| micros);
        self.event
    }
}

impl<'de> DeserializeSeed<'de> for Flattener {
    type Value = Event;

    fn deserialize<D: Deserializer<'de>>(mut self, deserializer: D) -> Result<Event, D::Error> {
        deserializer.deserialize_map(Root(&mut self))?;
        Ok(self.finish())
    }
}

/// An [`Event`] that implements `Deserialize`, for serde_json's `StreamDeserializer`.
pub(crate) struct FlatEvent(pub(crate) Event);

impl<'de> serde::Deserialize<'de> for FlatEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Flattener::with_capacity(16)
            .deserialize(deserializer)
            .map(FlatEvent)
    }
}

/// The top level of a record, which must be an object.
struct Root<'f>(&'f mut Flattener);

impl<'de> Visitor<'de> for Root<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Node(self.0).visit_map(map)
    }
}

/// Any value below the top level; the flattener's `path` is the value's path.
struct Node<'f>(&'f mut Flattener);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push(Value::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push(Value::Int(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        });
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.push(number(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push(Value::Str(v.into()));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.0.push(Value::Str(v.into_boxed_str()));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push(Value::Null);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.0.push(Value::Null);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut empty = true;
        while seq.next_element_seed(Node(self.0))?.is_some() {
            empty = false;
        }
        if empty {
            self.0.push(Value::Null);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let parent = self.0.path.len();
        let mut empty = true;
        while map.next_key_seed(Key(&mut self.0.path))?.is_some() {
            empty = false;
            map.next_value_seed(Node(self.0))?;
            self.0.path.truncate(parent);
        }
        if empty {
            self.0.push(Value::Null);
        }
        Ok(())
    }
}

/// A JSON number as a value: an integer when it is one that fits, a float otherwise.
fn number(v: f64) -> Value {
    // 2^63 is exactly representable, so the bounds are exact.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v) {
        Value::Int(v as i64)
    } else {
        Value::Float(v)
    }
}

/// An object key, appended to the path (after a `.` unless the path is empty).
struct Key<'p>(&'p mut String);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        if !self.0.is_empty() {
            self.0.push('.');
        }
        self.0.push_str(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flatten(json: &str) -> Event {
        let mut de = serde_json::Deserializer::from_str(json);
        Flattener::with_capacity(4).deserialize(&mut de).unwrap()
    }

    /// `(path, alias or "", value)` of every field.
    fn fields(json: &str) -> Vec<(String, String, Value)> {
        flatten(json)
            .fields
            .into_iter()
            .map(|f| {
                let alias = f.alias.as_deref().unwrap_or("").to_string();
                (f.path.to_string(), alias, f.value)
            })
            .collect()
    }

    fn check_alias(path: &str, expected: &str) {
        assert_eq!(windows_alias(path), expected, "alias of {path}");
    }

    #[test]
    fn shippers_windows_fields_get_the_names_rules_use() {
        // Issue 16, item 6: Winlogbeat, ECS, NXLog and Fluent Bit shapes matched no
        // Windows rule.
        for (path, alias) in [
            ("winlog.channel", "Channel"),
            ("winlog.event_id", "EventID"),
            ("event.code", "EventID"),
            ("winlog.computer_name", "Computer"),
            ("host.name", ""),
            ("winlog.provider_name", "Provider_Name"),
            ("winlog.record_id", "EventRecordID"),
            ("winlog.event_data.CommandLine", "CommandLine"),
            ("winlog.event_data.Threat Name", "ThreatName"),
            ("winlog.user_data.Param1", "Param1"),
            ("EventId", "EventID"),
            ("Hostname", "Computer"),
            ("ComputerName", "Computer"),
            ("SourceName", "Provider_Name"),
            ("RecordNumber", "EventRecordID"),
            ("winlog.api", ""),
            ("message", ""),
        ] {
            assert_eq!(shipper_alias(path), alias, "alias of {path}");
        }
    }

    #[test]
    fn windows_aliases() {
        check_alias("Event.EventData.CommandLine", "CommandLine");
        check_alias("Event.EventData.CommandLine.#text", "CommandLine");
        check_alias("Event.EventData.Data", "Data");
        check_alias("Event.EventData.Data.#text", "Data");
        check_alias("Event.EventData.#attributes.Name", "");
        check_alias("Event.EventData.X.#attributes.Y", "X_Y");
        check_alias("Event.System.EventID", "EventID");
        check_alias("Event.System.EventID.#text", "EventID");
        check_alias(
            "Event.System.EventID.#attributes.Qualifiers",
            "EventID_Qualifiers",
        );
        check_alias("Event.System.Provider.#attributes.Name", "Provider_Name");
        check_alias("Event.EventData.Threat Name", "ThreatName");
        check_alias("Event.EventData.Source Name", "SourceName");
        check_alias(
            "Event.System.TimeCreated.#attributes.SystemTime",
            "TimeCreated_SystemTime",
        );
        check_alias(
            "Event.System.Execution.#attributes.ProcessID",
            "Execution_ProcessID",
        );
        check_alias(
            "Event.System.Security.#attributes.UserID",
            "Security_UserID",
        );
        check_alias("Event.UserData.Operation_ClientFailure.User", "User");
        check_alias(
            "Event.UserData.LogFileCleared.Deep.er.SubjectUserName",
            "SubjectUserName",
        );
        check_alias("Event.UserData.Wrapper.#attributes.xmlns", "");
        check_alias(
            "Event.UserData.Wrapper.Param.#attributes.Name",
            "Param_Name",
        );
        check_alias("Event.UserData.Wrapper", "");
        check_alias("Event.#attributes.xmlns", "");
        check_alias("Event.RenderingInfo.Message", "");
        check_alias("Event", "");
        check_alias("process.command_line", "");
        check_alias("EventData.CommandLine", "");
    }

    #[test]
    fn windows_event_fields_have_paths_aliases_and_time() {
        let event = flatten(
            r##"{"Event": {"#attributes": {"xmlns": "x"},
                "System": {"Provider": {"#attributes": {"Name": "Sysmon"}},
                           "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 4111},
                           "TimeCreated": {"#attributes": {"SystemTime": "2025-11-27T07:40:10.1653241Z"}},
                           "Correlation": null},
                "EventData": {"CommandLine": "cmd /c", "Data": ["a", "b"], "Empty": {}}}}"##,
        );
        let seen: Vec<_> = event
            .fields
            .iter()
            .map(|f| (&*f.path, f.name(), f.value.to_string()))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "Event.#attributes.xmlns",
                    "Event.#attributes.xmlns",
                    "x".to_string()
                ),
                (
                    "Event.System.Provider.#attributes.Name",
                    "Provider_Name",
                    "Sysmon".into()
                ),
                (
                    "Event.System.EventID.#attributes.Qualifiers",
                    "EventID_Qualifiers",
                    "16384".into()
                ),
                ("Event.System.EventID.#text", "EventID", "4111".into()),
                (
                    "Event.System.TimeCreated.#attributes.SystemTime",
                    "TimeCreated_SystemTime",
                    "2025-11-27T07:40:10.1653241Z".into()
                ),
                ("Event.System.Correlation", "Correlation", "".into()),
                (
                    "Event.EventData.CommandLine",
                    "CommandLine",
                    "cmd /c".into()
                ),
                ("Event.EventData.Data", "Data", "a".into()),
                ("Event.EventData.Data", "Data", "b".into()),
                ("Event.EventData.Empty", "Empty", "".into()),
            ]
        );
        assert_eq!(event.fields[5].value, Value::Null);
        assert_eq!(event.fields[9].value, Value::Null);
        // 2025-11-27T07:40:10.165324Z; the seventh digit is below a microsecond.
        assert_eq!(event.timestamp_micros, Some(1_764_229_210_165_324));
    }

    #[test]
    fn other_json_keeps_full_paths_without_aliases() {
        let nested = fields(r#"{"process": {"command_line": "a", "pid": 4}, "tags": ["x", "y"]}"#);
        let dotted =
            fields(r#"{"process.command_line": "a", "process.pid": 4, "tags": ["x", "y"]}"#);
        assert_eq!(nested, dotted);
        assert_eq!(
            nested,
            [
                ("process.command_line".into(), "".into(), Value::from("a")),
                ("process.pid".into(), "".into(), Value::Int(4)),
                ("tags".into(), "".into(), Value::from("x")),
                ("tags".into(), "".into(), Value::from("y")),
            ]
        );
    }

    #[test]
    fn scalar_types() {
        let values: Vec<_> = fields(
            r#"{"n": null, "t": true, "i": -3, "u": 18446744073709551615, "f": 1.5,
                "whole": 2.0, "big": 1e300, "s": "\u00e9\n", "e": [], "o": {}}"#,
        )
        .into_iter()
        .map(|(_, _, v)| v)
        .collect();
        assert_eq!(
            values,
            [
                Value::Null,
                Value::Bool(true),
                Value::Int(-3),
                Value::Float(18446744073709551615.0),
                Value::Float(1.5),
                Value::Int(2),
                Value::Float(1e300),
                Value::from("é\n"),
                Value::Null,
                Value::Null,
            ]
        );
    }

    #[test]
    fn arrays_of_objects_and_nested_arrays_share_the_path() {
        let got = fields(r#"{"a": [{"b": 1}, {"b": 2, "c": [3, [4]]}]}"#);
        let paths: Vec<_> = got.iter().map(|(p, _, v)| format!("{p}={v}")).collect();
        assert_eq!(paths, ["a.b=1", "a.b=2", "a.c=3", "a.c=4"]);
    }

    #[test]
    fn timestamp_candidates_in_order_of_preference() {
        let time = |json: &str| flatten(json).timestamp_micros;
        assert_eq!(time(r#"{"time": 1, "@timestamp": 2}"#), Some(2_000_000));
        assert_eq!(
            time(r#"{"@timestamp": "garbage", "timestamp": 3}"#),
            Some(3_000_000)
        );
        assert_eq!(
            time(r#"{"EventTime": "1970-01-01T00:00:01Z"}"#),
            Some(1_000_000)
        );
        assert_eq!(time(r#"{"nested": {"time": 1}}"#), None);
        assert_eq!(time(r#"{"x": 1}"#), None);
    }

    #[test]
    fn top_level_must_be_an_object() {
        for json in ["[1]", "1", "\"s\"", "null"] {
            let mut de = serde_json::Deserializer::from_str(json);
            let error = Flattener::with_capacity(0)
                .deserialize(&mut de)
                .unwrap_err();
            assert!(
                error.to_string().contains("a JSON object"),
                "{json}: {error}"
            );
        }
    }
}
