//! Damaged EVTX files: the bad chunk or record is reported, naming the file and where, and
//! the rest of the file is still decoded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tocsin_decode::{from_bytes, DecodeError, DecodeOptions};

use crate::{decode, files_with_extension};

const HEADER: usize = 4096;
const CHUNK: usize = 65536;

/// The first sample (in name order) with at least `chunks` chunks.
fn sample_with_chunks(chunks: usize) -> Option<PathBuf> {
    let root = tocsin_testdata::shared_path("evtx")?;
    let sample = files_with_extension(&root, "evtx")
        .into_iter()
        .find(|p| std::fs::metadata(p).unwrap().len() as usize >= HEADER + chunks * CHUNK)
        .expect("a sample with enough chunks");
    Some(sample)
}

/// The records of `chunks` of `bytes` alone: the file header followed by just those chunks
/// (whose header then counts chunks that are missing, which is the one error allowed).
fn records_of_chunks(bytes: &[u8], chunks: std::ops::Range<usize>) -> BTreeSet<u64> {
    let mut file = bytes[..HEADER].to_vec();
    file.extend_from_slice(&bytes[HEADER + chunks.start * CHUNK..HEADER + chunks.end * CHUNK]);
    let source = from_bytes("part", file, &DecodeOptions::default()).unwrap();
    source
        .filter_map(|item| match item {
            Ok(event) => Some(event.origin.record),
            Err(error) if error.to_string().contains("are missing") => None,
            Err(error) => panic!("{error}"),
        })
        .collect()
}

fn record_ids(path: &Path) -> (BTreeSet<u64>, Vec<DecodeError>) {
    let options = DecodeOptions::default();
    let (events, errors) = decode(path, &options).unwrap();
    (events.iter().map(|e| e.origin.record).collect(), errors)
}

#[test]
fn bad_chunk_is_reported_and_the_others_decoded() {
    let Some(sample) = sample_with_chunks(3) else {
        return;
    };
    let bytes = std::fs::read(&sample).unwrap();
    let (intact, errors) = record_ids(&sample);
    assert!(errors.is_empty(), "{errors:?}");

    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("damaged.evtx");
    let mut copy = bytes.clone();
    // Destroy chunk 1's magic.
    copy[HEADER + CHUNK..HEADER + CHUNK + 8].copy_from_slice(b"garbage!");
    std::fs::write(&damaged, &copy).unwrap();
    let (kept, errors) = record_ids(&damaged);

    let lost = records_of_chunks(&bytes, 1..2);
    assert!(!lost.is_empty() && lost.is_subset(&intact));
    let expected: BTreeSet<u64> = intact.difference(&lost).copied().collect();
    assert!(!expected.is_empty());
    assert_eq!(kept, expected);
    assert_eq!(errors.len(), 1, "{errors:?}");
    let message = errors[0].to_string();
    println!("{message}");
    assert!(
        message.starts_with(&*damaged.to_string_lossy()),
        "{message}"
    );
    assert!(message.contains("chunk number 1"), "{message}");
    assert!(matches!(
        errors[0],
        DecodeError::Evtx { chunk: Some(1), .. }
    ));
}

#[test]
fn bad_records_are_reported_and_the_others_decoded() {
    let Some(sample) = sample_with_chunks(1) else {
        return;
    };
    let bytes = std::fs::read(&sample).unwrap();
    let (intact, _) = record_ids(&sample);
    // Scribble over the second record of chunk 0: find the record magic `**\0\0` after the
    // chunk header (512 bytes), past the first record.
    let chunk = &bytes[HEADER..HEADER + CHUNK];
    let magics: Vec<usize> = (512..CHUNK - 4)
        .filter(|&i| chunk[i..i + 4] == *b"\x2a\x2a\0\0")
        .collect();
    assert!(magics.len() >= 3, "too few records in {}", sample.display());
    let second = HEADER + magics[1];
    let mut copy = bytes.clone();
    // Keep the header's magic and size; wreck the record's BinXML.
    for byte in &mut copy[second + 24..second + 64] {
        *byte = 0xff;
    }
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("records.evtx");
    std::fs::write(&damaged, &copy).unwrap();
    let (kept, errors) = record_ids(&damaged);
    println!(
        "{} of {} records kept; {errors:#?}",
        kept.len(),
        intact.len()
    );
    assert!(!errors.is_empty());
    for error in &errors {
        assert!(
            error.to_string().starts_with(&*damaged.to_string_lossy()),
            "{error}"
        );
        assert!(error.to_string().contains("record"), "{error}");
    }
    assert!(kept.is_subset(&intact));
    assert!(
        kept.len() + errors.len() >= intact.len() - 1,
        "records lost silently"
    );
}

/// Each event of `path` by record number, as its fields, and the errors.
fn events_by_record(path: &Path) -> (BTreeMap<u64, String>, Vec<String>) {
    let (events, errors) = decode(path, &DecodeOptions::default()).unwrap();
    let events = events
        .iter()
        .map(|e| (e.origin.record, format!("{:?}", e.fields)))
        .collect();
    (events, errors.iter().map(ToString::to_string).collect())
}

#[test]
fn truncated_file_salvages_the_complete_records_of_the_cut_chunk() {
    let Some(sample) = sample_with_chunks(3) else {
        return;
    };
    let bytes = std::fs::read(&sample).unwrap();
    let (intact, errors) = events_by_record(&sample);
    assert!(errors.is_empty(), "{errors:?}");
    let counted = u16::from_le_bytes([bytes[42], bytes[43]]);
    assert!(counted >= 3);
    let chunk0 = records_of_chunks(&bytes, 0..1);
    let chunk1 = records_of_chunks(&bytes, 1..2);
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("cut.evtx");
    for (cut, at_least) in [
        (300, 0),
        (CHUNK / 4, 1),
        (CHUNK / 2, 1),
        (CHUNK * 3 / 4, 1),
        (CHUNK - 1, 1),
    ] {
        std::fs::write(&damaged, &bytes[..HEADER + CHUNK + cut]).unwrap();
        let (kept, errors) = events_by_record(&damaged);
        // Nothing made up: every event is the intact file's, whole.
        for (record, fields) in &kept {
            assert_eq!(
                Some(fields),
                intact.get(record),
                "record {record}, cut {cut}"
            );
        }
        let salvaged: BTreeSet<u64> = kept
            .keys()
            .copied()
            .filter(|r| !chunk0.contains(r))
            .collect();
        assert!(chunk0.iter().all(|r| kept.contains_key(r)), "cut {cut}");
        assert!(salvaged.is_subset(&chunk1), "cut {cut}");
        assert!(
            salvaged.len() >= at_least,
            "cut {cut}: none of chunk 1 salvaged"
        );
        println!(
            "cut at {cut} of chunk 1: {} of its {} records salvaged",
            salvaged.len(),
            chunk1.len()
        );
        let name = damaged.display();
        let lost = chunk1.len() - salvaged.len();
        let cut_message = if cut < 512 {
            format!("{name}: chunk 1 is cut short ({cut} of its 65536 bytes): its records are lost")
        } else {
            format!(
                "{name}: chunk 1 is cut short ({cut} of its 65536 bytes): {} of its {} records \
                 were read, {lost} are lost",
                salvaged.len(),
                chunk1.len()
            )
        };
        let missing = format!(
            "{name}: the file header counts {counted} chunks but the file ends after 2: chunks \
             2 to {} are missing (the file is cut short)",
            counted - 1
        );
        assert_eq!(errors, [cut_message, missing], "cut {cut}");
    }
    // A cut at a chunk boundary: the missing chunks are reported, not lost silently.
    std::fs::write(&damaged, &bytes[..HEADER + 2 * CHUNK]).unwrap();
    let (kept, errors) = events_by_record(&damaged);
    assert_eq!(kept.len(), chunk0.len() + chunk1.len());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("chunks 2 to"), "{errors:?}");
}

#[test]
fn zero_slack_after_the_last_chunk_is_not_an_error() {
    let Some(sample) = sample_with_chunks(1) else {
        return;
    };
    let mut bytes = std::fs::read(&sample).unwrap();
    let (intact, _) = events_by_record(&sample);
    bytes.resize(bytes.len() + 30_000, 0);
    let dir = tempfile::tempdir().unwrap();
    let padded = dir.path().join("slack.evtx");
    std::fs::write(&padded, &bytes).unwrap();
    let (kept, errors) = events_by_record(&padded);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(kept, intact);
}

#[test]
fn gzipped_evtx_goes_through_a_bounded_temporary_file() {
    use std::io::Write;
    let Some(sample) = sample_with_chunks(3) else {
        return;
    };
    let bytes = std::fs::read(&sample).unwrap();
    let (intact, _) = record_ids(&sample);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).unwrap();
    let packed = encoder.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in ["sample.evtx.gz", "sample.gz"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &packed).unwrap();
        let (kept, errors) = record_ids(&path);
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(kept, intact, "{name}");
    }
    // Past the limit: the chunks within it are decoded, and the limit is reported.
    let path = dir.path().join("limited.evtx.gz");
    std::fs::write(&path, &packed).unwrap();
    let options = DecodeOptions {
        evtx_spool_limit: (HEADER + 2 * CHUNK) as u64,
        ..DecodeOptions::default()
    };
    let (events, errors) = decode(&path, &options).unwrap();
    let kept: BTreeSet<u64> = events.iter().map(|e| e.origin.record).collect();
    assert_eq!(kept, records_of_chunks(&bytes, 0..2));
    let last = errors.last().unwrap().to_string();
    assert!(
        last.contains("the EVTX stream is longer than 135168 bytes"),
        "{last}"
    );
}

#[test]
fn evtx_on_standard_input_is_read_like_the_file() {
    let Some(sample) = sample_with_chunks(2) else {
        return;
    };
    let (intact, _) = record_ids(&sample);
    let stream = std::fs::File::open(&sample).unwrap();
    let source = tocsin_decode::from_reader("-", stream, &DecodeOptions::default()).unwrap();
    let mut kept = BTreeSet::new();
    for item in source {
        let event = item.unwrap();
        assert_eq!(&*event.origin.source, "-");
        kept.insert(event.origin.record);
    }
    assert_eq!(kept, intact);
}
