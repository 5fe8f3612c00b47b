//! The Sigma regression cases: each case's `.evtx` and its `.json` (rendered by an older
//! `evtx_dump`) must decode to the same `(name, value)` pairs, record by record.
//!
//! They do, up to differences in how the two `evtx` versions render values, which
//! [`normalise`] undoes and counts:
//!
//! * trailing whitespace, which the `.json` files trimmed;
//! * GUIDs, which `evtx` 0.15 writes lowercase in braces (`{54849625-…-3e3b0328c30d}`) and
//!   the `.json` uppercase without (`54849625-…-3E3B0328C30D`);
//! * `TimeCreated_SystemTime`, which `evtx` 0.15 writes with seven fractional digits and the
//!   `.json` with six (one hand-made `.json` with nine); the event times in microseconds
//!   agree.
//!
//! And up to [`KNOWN_DIFFERENCES`], where the files disagree on the data itself.

use std::collections::BTreeMap;
use std::path::Path;

use tocsin_decode::DecodeOptions;
use tocsin_event::{Event, Fields, Value};

use crate::{decode, files_with_extension};

/// `(case folder, field)`: values that differ between a case's two files.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    // The EVTX says `C:\Windows\Explorer.EXE`, the JSON `C:\Windows\Explorer.exe`.
    (
        "proc_creation_win_susp_right_to_left_override",
        "ParentCommandLine",
    ),
];

/// How often each normalisation changed a value, by kind.
#[derive(Default, Debug)]
struct Normalised {
    trailing_whitespace: usize,
    guid: usize,
    system_time_digits: usize,
}

/// A record's `(name, value)` pairs, sorted, after normalisation.
fn pairs(event: &Event, counts: &mut Normalised) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = event
        .fields
        .iter()
        .map(|field| {
            (
                field.name().to_string(),
                normalise(field.name(), &field.value, counts),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

fn normalise(name: &str, value: &Value, counts: &mut Normalised) -> String {
    let Value::Str(text) = value else {
        return format!("{value:?}");
    };
    let mut text: &str = text;
    if text.trim_end().len() != text.len() {
        counts.trailing_whitespace += 1;
        text = text.trim_end();
    }
    if let Some(guid) = guid(text) {
        if guid != text {
            counts.guid += 1;
        }
        return format!("Str({guid:?})");
    }
    if name == "TimeCreated_SystemTime" {
        if let Some(six) = six_fraction_digits(text) {
            counts.system_time_digits += 1;
            return format!("Str({six:?})");
        }
    }
    format!("Str({text:?})")
}

/// A GUID, with or without braces, as uppercase without braces.
fn guid(text: &str) -> Option<String> {
    let bare = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(text);
    let groups: Vec<_> = bare.split('-').collect();
    let shape = groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12]);
    (shape && bare.chars().all(|c| c == '-' || c.is_ascii_hexdigit()))
        .then(|| bare.to_ascii_uppercase())
}

/// `2025-11-27T07:40:10.1653241Z` (or more digits) as `2025-11-27T07:40:10.165324Z`.
fn six_fraction_digits(text: &str) -> Option<String> {
    let (seconds, fraction) = text.strip_suffix('Z')?.split_once('.')?;
    (fraction.len() > 6 && fraction.bytes().all(|b| b.is_ascii_digit()))
        .then(|| format!("{seconds}.{}Z", &fraction[..6]))
}

/// The case's events by EventRecordID: pairs and time.
type Records = BTreeMap<i64, (Vec<(String, String)>, Option<i64>)>;

fn records(path: &Path, counts: &mut Normalised) -> Records {
    let (events, errors) = decode(path, &DecodeOptions::default()).unwrap();
    assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    assert!(!events.is_empty(), "{}: no events", path.display());
    let mut records = BTreeMap::new();
    for event in &events {
        let id = event
            .first("EventRecordID")
            .and_then(|v| v.as_f64())
            .unwrap() as i64;
        let previous = records.insert(id, (pairs(event, counts), event.timestamp_micros));
        assert!(previous.is_none(), "{}: record {id} twice", path.display());
    }
    records
}

#[test]
fn evtx_and_json_of_each_case_decode_alike() {
    let Some(root) = tocsin_testdata::shared_path("sigma/regression") else {
        return;
    };
    let cases: Vec<_> = files_with_extension(&root, "yml")
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "info.yml"))
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    let mut compared = 0;
    let mut without_evtx = Vec::new();
    let mut evtx_counts = Normalised::default();
    let mut json_counts = Normalised::default();
    let mut differences = Vec::new();
    for case in &cases {
        let evtx = files_with_extension(case, "evtx");
        let json = files_with_extension(case, "json");
        if evtx.is_empty() {
            without_evtx.push(case.strip_prefix(&root).unwrap().display().to_string());
            continue;
        }
        assert_eq!((evtx.len(), json.len()), (1, 1), "{}", case.display());
        let from_evtx = records(&evtx[0], &mut evtx_counts);
        let from_json = records(&json[0], &mut json_counts);
        assert!(
            from_evtx.keys().eq(from_json.keys()),
            "{}: record IDs differ",
            case.display()
        );
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        for ((id, (evtx_pairs, evtx_time)), (_, (json_pairs, json_time))) in
            from_evtx.iter().zip(&from_json)
        {
            assert!(evtx_time.is_some());
            assert_eq!(evtx_time, json_time, "{name} record {id}: times differ");
            let only_evtx = evtx_pairs.iter().filter(|p| !json_pairs.contains(p));
            let only_json = json_pairs.iter().filter(|p| !evtx_pairs.contains(p));
            for (side, (field, value)) in only_evtx
                .map(|p| ("evtx", p))
                .chain(only_json.map(|p| ("json", p)))
            {
                differences.push((
                    name.clone(),
                    field.clone(),
                    format!("record {id}: {side} has {field} = {value}"),
                ));
            }
        }
        compared += 1;
    }
    println!(
        "{} cases, {compared} compared; without an .evtx: {without_evtx:?}",
        cases.len()
    );
    println!("normalised in the EVTX: {evtx_counts:?}");
    println!("normalised in the JSON: {json_counts:?}");
    for (_, _, text) in &differences {
        println!("  difference: {text}");
    }
    assert_eq!(compared + without_evtx.len(), cases.len());
    assert!(compared > 0);
    let unexplained: Vec<_> = differences
        .iter()
        .filter(|(case, field, _)| !KNOWN_DIFFERENCES.contains(&(case.as_str(), field.as_str())))
        .map(|(case, _, text)| format!("{case}: {text}"))
        .collect();
    assert!(unexplained.is_empty(), "{unexplained:#?}");
    for (case, field) in KNOWN_DIFFERENCES {
        assert!(
            differences.iter().any(|(c, f, _)| c == case && f == field),
            "known difference {case}/{field} no longer seen: remove it"
        );
    }
}

#[test]
fn normalisations() {
    let mut counts = Normalised::default();
    let guid_upper = normalise(
        "Provider_Guid",
        &Value::from("54849625-5478-4994-A5BA-3E3B0328C30D"),
        &mut counts,
    );
    let guid_braced = normalise(
        "Provider_Guid",
        &Value::from("{54849625-5478-4994-a5ba-3e3b0328c30d}"),
        &mut counts,
    );
    assert_eq!(guid_upper, guid_braced);
    assert_eq!(counts.guid, 1);
    let time = normalise(
        "TimeCreated_SystemTime",
        &Value::from("2025-11-27T07:40:10.1653241Z"),
        &mut counts,
    );
    assert_eq!(time, r#"Str("2025-11-27T07:40:10.165324Z")"#);
    assert_eq!(
        normalise("x", &Value::from("a \r\n"), &mut counts),
        r#"Str("a")"#
    );
    assert_eq!(normalise("x", &Value::Int(4), &mut counts), "Int(4)");
    assert_ne!(normalise("x", &Value::from("4"), &mut counts), "Int(4)");
    assert_eq!(guid("not-a-guid"), None);
}
