//! Damaged EVTX files: the bad chunk or record is reported, naming the file and where, and
//! the rest of the file is still decoded.

use std::collections::BTreeSet;
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

/// The records of `chunks` of `bytes` alone: the file header followed by just those chunks.
fn records_of_chunks(bytes: &[u8], chunks: std::ops::Range<usize>) -> BTreeSet<u64> {
    let mut file = bytes[..HEADER].to_vec();
    file.extend_from_slice(&bytes[HEADER + chunks.start * CHUNK..HEADER + chunks.end * CHUNK]);
    let source = from_bytes("part", file, &DecodeOptions::default()).unwrap();
    source.map(|item| item.unwrap().origin.record).collect()
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

#[test]
fn truncated_file_keeps_whole_chunks_and_reports_the_cut() {
    let Some(sample) = sample_with_chunks(2) else {
        return;
    };
    let bytes = std::fs::read(&sample).unwrap();
    let (intact, _) = record_ids(&sample);
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("cut.evtx");
    // Cut in the middle of chunk 1.
    std::fs::write(&damaged, &bytes[..HEADER + CHUNK + CHUNK / 2]).unwrap();
    let (kept, errors) = record_ids(&damaged);
    let expected = records_of_chunks(&bytes, 0..1);
    assert!(expected.len() < intact.len());
    assert_eq!(kept, expected);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].to_string(),
        format!(
            "{}: chunk 1 is cut short (32768 of its 65536 bytes): its records are lost",
            damaged.display()
        )
    );
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
        gzip_evtx_limit: (HEADER + 2 * CHUNK) as u64,
        ..DecodeOptions::default()
    };
    let (events, errors) = decode(&path, &options).unwrap();
    let kept: BTreeSet<u64> = events.iter().map(|e| e.origin.record).collect();
    assert_eq!(kept, records_of_chunks(&bytes, 0..2));
    let last = errors.last().unwrap().to_string();
    assert!(
        last.contains("decompresses to more than 135168 bytes"),
        "{last}"
    );
}
