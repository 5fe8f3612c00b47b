//! Every EVTX sample of `../shared/evtx` decodes, without panics or errors.

use std::time::Instant;

use tocsin_decode::{discover, DecodeOptions};
use tocsin_event::Fields;

use crate::{decode, files_with_extension};

#[test]
fn all_evtx_samples_decode() {
    let Some(root) = tocsin_testdata::shared_path("evtx") else {
        return;
    };
    // Only EVTX: the folder also holds a `.txt` readme, which the default extensions take.
    let options = DecodeOptions {
        extensions: vec!["evtx".into()],
        ..DecodeOptions::default()
    };
    let (files, errors) = discover(std::slice::from_ref(&root), &options);
    assert!(errors.is_empty(), "{errors:?}");
    // Discovery finds exactly the .evtx files (the folder also holds readmes and licences).
    assert_eq!(files.len(), files_with_extension(&root, "evtx").len());

    let started = Instant::now();
    let mut records = 0;
    let mut decode_errors = Vec::new();
    for file in &files {
        let (events, errors) = decode(file, &options).unwrap_or_else(|e| panic!("{e}"));
        let mut records_seen = std::collections::HashSet::new();
        for event in &events {
            assert_eq!(*event.origin.source, *file.to_string_lossy());
            assert!(
                event.contains("EventID"),
                "{}#{}: no EventID",
                file.display(),
                event.origin.record
            );
            assert!(
                event.timestamp_micros.is_some(),
                "{}#{}",
                file.display(),
                event.origin.record
            );
            // The origin is the record header's number, unique in the file.
            assert!(event.origin.record > 0);
            assert!(
                records_seen.insert(event.origin.record),
                "{} record {} twice",
                file.display(),
                event.origin.record
            );
        }
        records += events.len();
        decode_errors.extend(errors);
    }
    println!(
        "{} files, {records} records, {} decode errors, in {:?} (test build)",
        files.len(),
        decode_errors.len(),
        started.elapsed()
    );
    for error in &decode_errors {
        println!("  {error}");
    }
    // SOURCE.md counts 8,255 + 16,821 records, and says every file parses without errors.
    assert!((24_000..=26_000).contains(&records), "{records} records");
    assert!(decode_errors.is_empty());
}
