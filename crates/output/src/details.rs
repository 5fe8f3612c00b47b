//! [`Details`]: the key fields of a detection, as printers show them.

use std::ops::Index;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value as Json};

/// The key fields of a detection in the event's order, each name once: a name the event
/// repeats holds an array of its values.
///
/// A hunt builds one for every detection, thousands per second, so it is a plain list whose
/// names are the event's own shared names: no name is copied and nothing is hashed, where a
/// JSON map would allocate and hash every name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    entries: Vec<(Arc<str>, Json)>,
    /// A quick filter of the names present (see [`name_bit`]), so that adding a name only
    /// searches the list when it may already be there.
    names: [u64; 4],
}

/// Null, for [`Details`] indexed by an absent name.
static NULL: Json = Json::Null;

impl Details {
    /// No details.
    pub fn new() -> Details {
        Details::default()
    }

    /// Room for `capacity` names.
    pub fn with_capacity(capacity: usize) -> Details {
        Details {
            entries: Vec::with_capacity(capacity),
            names: [0; 4],
        }
    }

    /// Sets `name` to `value`, replacing any value it had.
    pub fn insert(&mut self, name: impl Into<Arc<str>>, value: Json) {
        let name = name.into();
        match self.position(&name) {
            Some(at) => self.entries[at].1 = value,
            None => self.push(name, value),
        }
    }

    /// Adds `value` under `name`; a name already present becomes an array of its values.
    pub fn append(&mut self, name: &Arc<str>, value: Json) {
        let Some(at) = self.position(name) else {
            self.push(Arc::clone(name), value);
            return;
        };
        match &mut self.entries[at].1 {
            Json::Array(items) => items.push(value),
            existing => {
                let first = existing.take();
                *existing = Json::Array(vec![first, value]);
            }
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Json> {
        self.position(name).map(|at| &self.entries[at].1)
    }

    /// The names and their values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.into_iter()
    }

    /// The names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| &**name)
    }

    /// How many names there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The details as a JSON object.
    pub fn to_json(&self) -> Json {
        Json::Object(
            self.iter()
                .map(|(name, value)| (name.to_owned(), value.clone()))
                .collect(),
        )
    }

    fn push(&mut self, name: Arc<str>, value: Json) {
        let (word, bit) = name_bit(&name);
        self.names[word] |= bit;
        self.entries.push((name, value));
    }

    fn position(&self, name: &str) -> Option<usize> {
        let (word, bit) = name_bit(name);
        if self.names[word] & bit == 0 {
            return None;
        }
        self.entries.iter().position(|(n, _)| &**n == name)
    }
}

/// The word and bit of a name in [`Details::names`], from its length and its first and
/// last bytes: 256 bits keep the filter sparse for the twenty-odd names of an event, where
/// 64 bits left a third of them set and most additions searching the list.
fn name_bit(name: &str) -> (usize, u64) {
    let bytes = name.as_bytes();
    let first = usize::from(bytes.first().copied().unwrap_or(0));
    let last = usize::from(bytes.last().copied().unwrap_or(0));
    let slot = (name.len().wrapping_mul(31) ^ first.wrapping_mul(7) ^ last) % 256;
    (slot / 64, 1 << (slot % 64))
}

impl Index<&str> for Details {
    type Output = Json;

    /// The value of `name`, null when absent (as `serde_json` indexes objects).
    fn index(&self, name: &str) -> &Json {
        self.get(name).unwrap_or(&NULL)
    }
}

impl From<Map<String, Json>> for Details {
    fn from(map: Map<String, Json>) -> Details {
        let mut details = Details::with_capacity(map.len());
        for (name, value) in map {
            details.insert(name, value);
        }
        details
    }
}

/// One entry as [`Details::iter`] yields it.
type Entry<'a> = (&'a str, &'a Json);

impl<'a> IntoIterator for &'a Details {
    type Item = Entry<'a>;
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Arc<str>, Json)>,
        fn(&'a (Arc<str>, Json)) -> Entry<'a>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(name, value)| (&**name, value))
    }
}

/// A JSON object, names in order.
impl Serialize for Details {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (name, value) in &self.entries {
            map.serialize_entry(&**name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_names_become_arrays_in_first_seen_order() {
        let mut details = Details::new();
        let data: Arc<str> = "Data".into();
        details.append(&"Image".into(), json!("a.exe"));
        details.append(&data, json!(1));
        details.append(&"User".into(), json!("bob"));
        details.append(&data, json!(2));
        // The same name from another allocation is the same name.
        details.append(&Arc::from("Data"), json!(3));
        assert_eq!(
            details.keys().collect::<Vec<_>>(),
            ["Image", "Data", "User"]
        );
        assert_eq!(details["Data"], json!([1, 2, 3]));
        assert_eq!(details["Missing"], Json::Null);
        assert_eq!(
            serde_json::to_string(&details).unwrap(),
            r#"{"Image":"a.exe","Data":[1,2,3],"User":"bob"}"#
        );
    }

    #[test]
    fn insert_replaces_and_a_map_converts_in_order() {
        let map: Map<String, Json> = serde_json::from_str(r#"{"z":1,"a":2}"#).unwrap();
        let mut details = Details::from(map);
        details.insert("z", json!("one"));
        details.insert("explanation", json!("new"));
        assert_eq!(
            details.to_json(),
            json!({"z": "one", "a": 2, "explanation": "new"})
        );
        assert_eq!(
            details.keys().collect::<Vec<_>>(),
            ["z", "a", "explanation"]
        );
        assert_eq!(details.len(), 3);
    }

    /// Names whose filter bits collide are still told apart.
    #[test]
    fn colliding_names_stay_distinct() {
        let mut details = Details::new();
        // The same length, first and last byte: one bit of the filter for all four.
        let names = ["axb", "ayb", "azb", "aXb"];
        assert!(names.iter().all(|n| name_bit(n) == name_bit(names[0])));
        for name in names {
            details.append(&Arc::from(name), json!(name));
        }
        assert_eq!(details.len(), 4);
        assert_eq!(details["ayb"], "ayb");
    }
}
