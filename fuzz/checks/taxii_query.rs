//! What the `taxii_query` fuzz target checks on one input: a TAXII request's query string
//! and a JSON body (the input split at its first newline), the query parsed into filters,
//! the body's objects added to an in-memory collection store, and the query run over them
//! page by page; the body also read as each TAXII resource a client receives. Shared by the
//! fuzz target (`fuzz/fuzz_targets/taxii_query.rs`) and the taxii crate's replay of it on
//! stable (`crates/taxii/tests/query_fuzz.rs`). Panics when a property fails.

// A check's failure is a panic, as the fuzzer expects.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tocsin_taxii::client::latest;
use tocsin_taxii::envelopes::split_into_envelopes;
use tocsin_taxii::{
    ApiRoot, CollectionRecord, CollectionStore, Collections, Discovery, Envelope, ErrorMessage,
    Limits, Manifest, ManifestRecord, Page, Query, Status, Versions,
};

/// The time of the adds (2026-05-28).
const NOW: i64 = 1_780_000_000_000_000;

/// Small pages, so that paging is exercised.
const LIMITS: Limits = Limits { default: 3, max: 7 };

/// The collection the objects go to.
const COLLECTION: &str = "91a7b528-80eb-42ed-a74d-c6fbd5a26116";

/// The parameters a query reads (any other is ignored).
const PARAMETERS: [&str; 7] = [
    "added_after",
    "limit",
    "next",
    "match[id]",
    "match[type]",
    "match[version]",
    "match[spec_version]",
];

/// `query string \n JSON body`: no panic; a failed query names one of its parameters;
/// every object of an add is a success or a failure; paging a selection with `next`
/// returns each record once, in order of date added, and all of it; the body read as a
/// TAXII resource serialises back to itself.
pub fn taxii_query(data: &[u8]) {
    let (query_text, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let query_text = String::from_utf8_lossy(query_text);
    let query = Query::parse(Some(&query_text), LIMITS);
    if let Err(error) = &query {
        assert!(PARAMETERS.contains(&error.parameter.as_str()), "{error}");
    }
    let Ok(document) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    client_reads(body, &document);
    let objects = match document {
        Value::Array(list) => list,
        Value::Object(mut object) => match object.remove("objects") {
            Some(Value::Array(list)) => list,
            _ => vec![Value::Object(object)],
        },
        other => vec![other],
    };
    envelopes(&objects);

    let store = CollectionStore::open(Path::new(":memory:")).unwrap();
    store
        .put_collection(&CollectionRecord {
            id: COLLECTION.to_owned(),
            alias: Some("fuzz".to_owned()),
            title: "Fuzz".to_owned(),
            description: None,
        })
        .unwrap();
    // The same request twice (a retry): objects without a version get a second one.
    for _ in 0..2 {
        let status = store.add_objects(COLLECTION, &objects, NOW).unwrap();
        assert_eq!(status.total_count, objects.len() as u64);
        assert_eq!(
            status.success_count + status.failure_count,
            status.total_count
        );
        assert_eq!(status.successes.len() as u64, status.success_count);
        assert_eq!(status.failures.len() as u64, status.failure_count);
        let (collection, kept) = store.status(&status.id).unwrap().unwrap();
        assert_eq!((collection.as_str(), &kept), (COLLECTION, &status));
    }
    let Ok(query) = query else {
        return;
    };

    let manifest = pages(&query, |q| store.manifest(COLLECTION, q).unwrap());
    let whole = store.manifest(COLLECTION, &unlimited(&query)).unwrap();
    assert!(!whole.more && whole.next.is_none());
    assert_eq!(
        manifest, whole.items,
        "the pages are not the whole selection"
    );
    let mut seen = HashSet::new();
    for record in &manifest {
        let key = (&record.id, &record.version);
        assert!(seen.insert(key), "{key:?} returned twice");
    }
    let added: Vec<&str> = manifest.iter().map(|r| r.date_added.as_str()).collect();
    let mut sorted = added.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(added, sorted, "dates added are not strictly increasing");
    if let Some(last) = manifest.last() {
        let later = latest(
            query_text_value(&query_text, "added_after"),
            &last.date_added,
        );
        assert!(!later.is_empty());
    }

    let objects = pages(&query, |q| store.objects(COLLECTION, q).unwrap());
    let ids: Vec<&str> = objects
        .iter()
        .map(|o| o.get("id").and_then(Value::as_str).unwrap_or_default())
        .collect();
    let manifest_ids: Vec<&str> = manifest.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, manifest_ids, "objects and manifest disagree");

    let Some(first) = manifest.first() else {
        return;
    };
    let versions = pages(&query, |q| {
        store.versions(COLLECTION, &first.id, q).unwrap()
    });
    let distinct: HashSet<&String> = versions.iter().collect();
    assert_eq!(distinct.len(), versions.len(), "a version returned twice");
    let deleted = store.delete_object(COLLECTION, &first.id, &query).unwrap();
    assert!(deleted >= 1, "a listed object has no version to delete");
    let everything = query.versions.is_none()
        && (query.spec_versions.is_empty() || query.spec_versions.iter().any(|v| v == "2.1"));
    if everything {
        assert!(!store.has_object(COLLECTION, &first.id).unwrap());
    }
}

/// Every item of every page of a selection, each page asked for with the `next` of the
/// one before (read back from a query string, as a client sends it).
fn pages<T: Clone>(query: &Query, mut page: impl FnMut(&Query) -> Page<T>) -> Vec<T> {
    let mut query = query.clone();
    let mut items = Vec::new();
    for _ in 0..10_000 {
        let current = page(&query);
        assert!(current.items.len() <= query.limit, "a page over its limit");
        items.extend(current.items);
        if !current.more {
            assert!(current.next.is_none(), "a next cursor on the last page");
            return items;
        }
        let next = current.next.expect("more without a next cursor");
        let parsed = Query::parse(Some(&format!("next={next}")), LIMITS).unwrap();
        assert!(parsed.next.is_some());
        query.next = parsed.next;
    }
    panic!("paging does not end");
}

/// The query with every match on one page.
fn unlimited(query: &Query) -> Query {
    Query {
        limit: usize::MAX,
        ..query.clone()
    }
}

/// The raw value of `key` in a query string, if present.
fn query_text_value(text: &str, key: &str) -> Option<String> {
    form_urlencoded_pairs(text)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// `key=value` pairs, split without decoding (enough for `latest`, which takes any text).
fn form_urlencoded_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The body read as each resource a client reads: what reads serialises back to itself
/// (unless it holds a decimal number, which serde_json reads to the nearest bit only with
/// its `float_roundtrip` feature).
fn client_reads(body: &[u8], document: &Value) {
    if !has_float(document) {
        round_trip::<Envelope>(body);
        round_trip::<Manifest>(body);
        round_trip::<Versions>(body);
        round_trip::<Status>(body);
        round_trip::<Discovery>(body);
        round_trip::<ApiRoot>(body);
        round_trip::<Collections>(body);
        round_trip::<ErrorMessage>(body);
        round_trip::<ManifestRecord>(body);
    }
    if let Ok(envelope) = serde_json::from_value::<Envelope>(document.clone()) {
        if let Some(next) = &envelope.next {
            let _ = Query::parse(Some(&format!("next={next}")), LIMITS);
        }
        for object in &envelope.objects {
            for key in ["modified", "created"] {
                if let Some(text) = object.get(key).and_then(Value::as_str) {
                    let later = latest(Some(text.to_owned()), "2026-01-01T00:00:00Z");
                    assert!(later == text || later == "2026-01-01T00:00:00Z");
                }
            }
        }
    }
}

/// Whether a JSON value holds a number that is not an integer.
fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_f64(),
        Value::Array(list) => list.iter().any(has_float),
        Value::Object(map) => map.values().any(has_float),
        _ => false,
    }
}

fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(body: &[u8]) {
    if let Ok(read) = serde_json::from_slice::<T>(body) {
        let written = serde_json::to_vec(&read).unwrap();
        let back: T = serde_json::from_slice(&written).unwrap();
        assert_eq!(back, read, "a resource does not read back as written");
    }
}

/// Objects split into envelopes of a few sizes: each within its size, all in order (the
/// same numbers too, unless one is decimal: see [`client_reads`]).
fn envelopes(objects: &[Value]) {
    let exact = !objects.iter().any(has_float);
    for max in [0u64, 64, 300, 4096] {
        let Ok(bodies) = split_into_envelopes(objects, max) else {
            continue;
        };
        let mut back = Vec::new();
        for body in bodies {
            assert!(
                max == 0 || body.len() as u64 <= max,
                "an envelope over {max}"
            );
            let envelope: Envelope = serde_json::from_slice(&body).unwrap();
            assert!(!envelope.objects.is_empty(), "an empty envelope");
            back.extend(envelope.objects);
        }
        assert_eq!(back.len(), objects.len(), "envelopes lose objects");
        if exact {
            assert_eq!(back, objects, "envelopes change or reorder objects");
        }
    }
}
