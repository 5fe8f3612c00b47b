//! Tests of the collection store: adding, versions, filters, paging and deletion.

use serde_json::json;

use super::*;
use crate::query::Limits;

const NOW: i64 = 1_733_000_000_000_000;

fn open() -> (tempfile::TempDir, CollectionStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = CollectionStore::open(&dir.path().join("taxii.sqlite")).unwrap();
    store
        .put_collection(&CollectionRecord {
            id: "c1".into(),
            alias: Some("cisa".into()),
            title: "CISA".into(),
            description: None,
        })
        .unwrap();
    (dir, store)
}

fn indicator(n: u32, modified: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
        "created": "2024-01-01T00:00:00.000Z", "modified": modified,
        "pattern": "[ipv4-addr:value = '203.0.113.1']", "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z"
    })
}

fn query(text: &str) -> Query {
    Query::parse(Some(text), Limits::default()).unwrap()
}

fn ids(page: &Page<Value>) -> Vec<String> {
    page.items
        .iter()
        .map(|o| {
            format!(
                "{}@{}",
                o["id"].as_str().unwrap(),
                o["modified"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn collections_are_found_by_id_or_alias_and_updated() {
    let (_dir, store) = open();
    assert_eq!(store.collection("cisa").unwrap().unwrap().id, "c1");
    assert_eq!(store.collection("c1").unwrap().unwrap().title, "CISA");
    assert!(store.collection("nope").unwrap().is_none());
    store
        .put_collection(&CollectionRecord {
            id: "c1".into(),
            alias: Some("cisa".into()),
            title: "Renamed".into(),
            description: Some("d".into()),
        })
        .unwrap();
    assert_eq!(store.collections().unwrap()[0].title, "Renamed");
}

#[test]
fn bad_objects_are_failures_not_errors() {
    let (_dir, store) = open();
    let objects = [
        indicator(1, "2024-01-02T00:00:00.000Z"),
        json!({"id": "indicator--x"}),
        json!({"type": "indicator"}),
        json!({"type": "indicator", "id": "malware--1"}),
        json!({"type": "indicator", "id": "indicator--2", "spec_version": "2.0"}),
        json!({"type": "indicator", "id": "indicator--3", "modified": "soon"}),
        json!("not an object"),
    ];
    let status = store.add_objects("c1", &objects, NOW).unwrap();
    assert_eq!((status.total_count, status.success_count), (7, 1));
    assert_eq!(status.failure_count, 6);
    assert!(status.failures.iter().all(|f| f.message.is_some()));
    assert_eq!(status.status, StatusValue::Complete);
    let (collection, read) = store.status(&status.id).unwrap().unwrap();
    assert_eq!((collection.as_str(), read), ("c1", status));
    assert!(store.status("nope").unwrap().is_none());
}

#[test]
fn re_adding_a_version_keeps_the_first_date_added() {
    let (_dir, store) = open();
    let object = indicator(1, "2024-01-02T00:00:00.000Z");
    store
        .add_objects("c1", std::slice::from_ref(&object), NOW)
        .unwrap();
    let again = store.add_objects("c1", &[object], NOW + 100).unwrap();
    assert_eq!(again.success_count, 1);
    let manifest = store.manifest("c1", &query("")).unwrap();
    assert_eq!(manifest.items.len(), 1);
    assert_eq!(manifest.items[0].date_added, format_micros(NOW));
}

#[test]
fn dates_added_strictly_increase_even_when_the_clock_stalls() {
    let (_dir, store) = open();
    let objects: Vec<Value> = (0..5)
        .map(|n| indicator(n, "2024-01-02T00:00:00Z"))
        .collect();
    store.add_objects("c1", &objects, NOW).unwrap();
    store
        .add_objects("c1", &[indicator(9, "2024-01-02T00:00:00Z")], NOW - 10)
        .unwrap();
    let page = store.manifest("c1", &query("")).unwrap();
    let dates: Vec<i64> = page
        .items
        .iter()
        .map(|r| parse_micros(&r.date_added).unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "{dates:?}");
    assert_eq!(page.first_added, dates.first().copied());
    assert_eq!(page.last_added, dates.last().copied());
}

#[test]
fn version_filters_pick_first_last_all_and_instants() {
    let (_dir, store) = open();
    let versions = [
        "2024-01-02T00:00:00.000Z",
        "2024-01-03T00:00:00.000Z",
        "2024-01-04T00:00:00.000Z",
    ];
    for (n, modified) in versions.iter().enumerate() {
        store
            .add_objects("c1", &[indicator(1, modified)], NOW + n as i64)
            .unwrap();
    }
    let id = "indicator--00000000-0000-4000-8000-000000000001";
    let at = |v: &str| format!("{id}@{v}");
    assert_eq!(
        ids(&store.objects("c1", &query("")).unwrap()),
        [at(versions[2])]
    );
    assert_eq!(
        ids(&store.objects("c1", &query("match[version]=first")).unwrap()),
        [at(versions[0])]
    );
    assert_eq!(
        store
            .objects("c1", &query("match[version]=all"))
            .unwrap()
            .items
            .len(),
        3
    );
    let page = store
        .objects("c1", &query("match[version]=first,2024-01-03T00:00:00Z"))
        .unwrap();
    assert_eq!(ids(&page), [at(versions[0]), at(versions[1])]);
    let listed = store.versions("c1", id, &query("")).unwrap();
    assert_eq!(listed.items, versions);
    assert!(store
        .objects("c1", &query("match[spec_version]=2.0"))
        .unwrap()
        .items
        .is_empty());
    assert_eq!(
        store
            .objects("c1", &query("match[spec_version]=2.1"))
            .unwrap()
            .items
            .len(),
        1
    );
}

#[test]
fn id_type_and_added_after_filter() {
    let (_dir, store) = open();
    store
        .add_objects("c1", &[indicator(1, "2024-01-02T00:00:00Z")], NOW)
        .unwrap();
    let malware = json!({"type": "malware", "id": "malware--1", "spec_version": "2.1",
        "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z",
        "name": "x", "is_family": false});
    store.add_objects("c1", &[malware], NOW + 10).unwrap();
    assert_eq!(
        store
            .objects("c1", &query("match[type]=malware"))
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        store
            .objects("c1", &query("match[type]=malware,indicator"))
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(
        store
            .objects("c1", &query("match[id]=malware--1"))
            .unwrap()
            .items
            .len(),
        1
    );
    let after = format!("added_after={}", format_micros(NOW));
    let page = store.objects("c1", &query(&after)).unwrap();
    assert_eq!(page.items[0]["type"], "malware");
    assert_eq!(page.items.len(), 1);
    assert!(store.objects("c2", &query("")).unwrap().items.is_empty());
}

#[test]
fn paging_returns_each_object_once_while_objects_are_added() {
    let (_dir, store) = open();
    let objects: Vec<Value> = (0..250)
        .map(|n| indicator(n, "2024-01-02T00:00:00Z"))
        .collect();
    store.add_objects("c1", &objects, NOW).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let text = match &next {
            Some(cursor) => format!("limit=100&next={cursor}"),
            None => "limit=100".to_owned(),
        };
        let page = store.objects("c1", &query(&text)).unwrap();
        for object in &page.items {
            assert!(seen.insert(object["id"].as_str().unwrap().to_owned()));
        }
        pages += 1;
        if pages == 1 {
            // Added meanwhile: they come at the end.
            let late: Vec<Value> = (250..260)
                .map(|n| indicator(n, "2024-01-02T00:00:00Z"))
                .collect();
            store.add_objects("c1", &late, NOW).unwrap();
        }
        if !page.more {
            assert!(page.next.is_none());
            break;
        }
        next = page.next;
    }
    assert_eq!((seen.len(), pages), (260, 3));
}

#[test]
fn delete_honours_the_version_filter() {
    let (_dir, store) = open();
    for (n, modified) in [
        "2024-01-02T00:00:00Z",
        "2024-01-03T00:00:00Z",
        "2024-01-04T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        store
            .add_objects("c1", &[indicator(1, modified)], NOW + n as i64)
            .unwrap();
    }
    let id = "indicator--00000000-0000-4000-8000-000000000001";
    assert_eq!(
        store
            .delete_object("c1", id, &query("match[version]=first"))
            .unwrap(),
        1
    );
    assert_eq!(store.versions("c1", id, &query("")).unwrap().items.len(), 2);
    assert_eq!(store.delete_object("c1", id, &query("")).unwrap(), 2);
    assert!(!store.has_object("c1", id).unwrap());
}

#[test]
fn objects_without_versions_use_the_date_added() {
    let (_dir, store) = open();
    let sco = json!({"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "203.0.113.1"});
    let status = store.add_objects("c1", &[sco], NOW).unwrap();
    assert_eq!(status.successes[0].version, format_micros(NOW));
    let page = store.manifest("c1", &query("")).unwrap();
    assert_eq!(page.items[0].version, page.items[0].date_added);
}

#[test]
fn the_store_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taxii.sqlite");
    {
        let store = CollectionStore::open(&path).unwrap();
        store
            .add_objects("c1", &[indicator(1, "2024-01-02T00:00:00Z")], NOW)
            .unwrap();
    }
    let store = CollectionStore::open(&path).unwrap();
    store
        .add_objects("c1", &[indicator(2, "2024-01-02T00:00:00Z")], NOW - 5)
        .unwrap();
    let page = store.manifest("c1", &query("")).unwrap();
    assert!(page.first_added < page.last_added);
}

#[test]
fn an_observable_added_again_is_not_a_new_version_unless_it_changed() {
    let (_dir, store) = open();
    let address = json!({"type": "ipv4-addr", "spec_version": "2.1",
        "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd", "value": "198.51.100.3"});
    for n in 0..3 {
        let status = store
            .add_objects("c1", std::slice::from_ref(&address), NOW + n)
            .unwrap();
        assert_eq!(status.success_count, 1);
    }
    let id = address["id"].as_str().unwrap();
    let all = query("match[version]=all");
    assert_eq!(store.objects("c1", &all).unwrap().items.len(), 1);
    let mut changed = address.clone();
    changed["x_note"] = json!("seen again");
    store.add_objects("c1", &[changed], NOW + 10).unwrap();
    assert_eq!(store.objects("c1", &all).unwrap().items.len(), 2, "{id}");
}

#[test]
fn an_alias_moves_to_the_collection_configured_with_it() {
    let (_dir, store) = open();
    store
        .put_collection(&CollectionRecord {
            id: "c2".into(),
            alias: Some("cisa".into()),
            title: "CISA, new id".into(),
            description: None,
        })
        .unwrap();
    assert_eq!(store.collection("cisa").unwrap().unwrap().id, "c2");
    assert_eq!(store.collection("c1").unwrap().unwrap().alias, None);
}
