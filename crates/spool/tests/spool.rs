//! The spool's contract from the outside: records read back as appended across segment
//! rolls, concurrent appenders each acknowledged once, torn and garbled tails cut on
//! reopening at every byte, damage elsewhere reported with its file and offset, retention
//! by whole segments, and the limits.

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tocsin_spool::{
    Defect, Error, FileSpool, FsyncPolicy, Position, ReadLimit, Record, Spool, SpoolConfig,
};

/// The default settings with small segments, so that tests roll often.
fn small(segment_size: u64) -> SpoolConfig {
    SpoolConfig {
        segment_size,
        ..SpoolConfig::default()
    }
}

/// Every record after `after`, read in small steps.
fn read_after(spool: &FileSpool, mut after: Position) -> Vec<Record> {
    let limit = ReadLimit {
        records: 7,
        bytes: 300,
    };
    let mut all = Vec::new();
    loop {
        let records = spool.read_from(after, limit).unwrap();
        let Some(last) = records.last() else {
            return all;
        };
        after = last.position;
        all.extend(records);
    }
}

/// Every record in the spool.
fn read_all(spool: &FileSpool) -> Vec<Record> {
    read_after(spool, spool.first())
}

/// The payloads of records.
fn payloads(records: &[Record]) -> Vec<Vec<u8>> {
    records.iter().map(|r| r.bytes.clone()).collect()
}

/// The numbered records `from..to`, of varying lengths.
fn numbered(from: usize, to: usize) -> Vec<Vec<u8>> {
    (from..to)
        .map(|i| format!("record {i} {}", "x".repeat(i % 37)).into_bytes())
        .collect()
}

/// Appends each record as a batch of its own; returns their positions.
fn append_each(spool: &FileSpool, records: &[Vec<u8>]) -> Vec<Position> {
    records
        .iter()
        .map(|r| spool.append(&[r.as_slice()]).unwrap())
        .collect()
}

#[test]
fn records_round_trip_across_segment_rolls_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let records = numbered(0, 300);
    let spool = FileSpool::open(dir.path(), small(1024)).unwrap();
    assert_eq!(spool.durable_end(), Position::START);
    let positions = append_each(&spool, &records[..200]);
    let batch: Vec<&[u8]> = records[200..].iter().map(Vec::as_slice).collect();
    let last = spool.append(&batch).unwrap();
    assert_eq!(spool.durable_end(), last);
    assert!(spool.segment_paths().len() > 5, "no roll happened");
    let read = read_all(&spool);
    assert_eq!(payloads(&read), records);
    assert!(read.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(read[199].position, positions[199]);
    assert_eq!(read[299].position, last);
    drop(spool);

    let spool = FileSpool::open(dir.path(), small(1024)).unwrap();
    assert_eq!(spool.recovery().truncation, None);
    assert_eq!(spool.recovery().end, last);
    assert_eq!(read_all(&spool), read);
    let after = read_after(&spool, positions[99]);
    assert_eq!(payloads(&after), records[100..]);
    assert!(spool
        .read_from(last, ReadLimit::default())
        .unwrap()
        .is_empty());
}

#[test]
fn a_batch_larger_than_a_segment_gets_a_segment_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let spool = FileSpool::open(dir.path(), small(100)).unwrap();
    spool.append(&[b"small"]).unwrap();
    spool.append(&[&[7; 300], &[8; 300]]).unwrap();
    spool.append(&[b"small again"]).unwrap();
    assert_eq!(spool.segment_paths().len(), 3);
    let expected = [
        b"small".to_vec(),
        vec![7; 300],
        vec![8; 300],
        b"small again".to_vec(),
    ];
    assert_eq!(payloads(&read_all(&spool)), expected);
}

#[test]
fn a_read_returns_at_least_one_record_and_keeps_to_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let spool = FileSpool::open(dir.path(), SpoolConfig::default()).unwrap();
    spool.append(&[&[1; 100], &[2; 100], &[3; 100]]).unwrap();
    let one_byte = ReadLimit {
        records: 10,
        bytes: 1,
    };
    let first = spool.read_from(Position::START, one_byte).unwrap();
    assert_eq!(payloads(&first), [vec![1; 100]]);
    let two = ReadLimit {
        records: 10,
        bytes: 250,
    };
    let next = spool.read_from(first[0].position, two).unwrap();
    assert_eq!(payloads(&next), [vec![2; 100], vec![3; 100]]);
    let one_record = ReadLimit {
        records: 1,
        bytes: 1 << 20,
    };
    assert_eq!(spool.read_from(Position::START, one_record).unwrap(), first);
}

#[test]
fn concurrent_appenders_are_each_acknowledged_once_in_position_order() {
    const THREADS: usize = 8;
    const BATCHES: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(FileSpool::open(dir.path(), small(4096)).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|thread| {
            let spool = Arc::clone(&spool);
            std::thread::spawn(move || {
                (0..BATCHES)
                    .map(|batch| {
                        let records: Vec<Vec<u8>> = (0..1 + batch % 3)
                            .map(|i| format!("{thread} {batch} {i}").into_bytes())
                            .collect();
                        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
                        (spool.append(&refs).unwrap(), records)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acknowledged: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let read = read_all(&spool);
    let index: HashMap<&[u8], usize> = read
        .iter()
        .enumerate()
        .map(|(i, r)| (r.bytes.as_slice(), i))
        .collect();
    let total: usize = acknowledged.iter().map(|(_, records)| records.len()).sum();
    assert_eq!(read.len(), total, "a record is missing or doubled");
    assert_eq!(index.len(), total, "a record was read twice");
    for (position, records) in &acknowledged {
        let first = index[records[0].as_slice()];
        let batch = &read[first..first + records.len()];
        assert_eq!(payloads(batch), *records, "a batch is not contiguous");
        assert_eq!(batch[records.len() - 1].position, *position);
    }
    assert!(read.windows(2).all(|w| w[0].position < w[1].position));
}

/// The last segment's path and the file offset where its last record, `last`, starts.
fn last_record(spool: &FileSpool, last: &[u8]) -> (PathBuf, u64) {
    let path = spool.segment_paths().pop().unwrap();
    let len = fs::metadata(&path).unwrap().len();
    (path, len - 8 - last.len() as u64)
}

/// Writes `bytes` as the segment `path` and deletes any segment after it (which an
/// append after an earlier reopening may have begun).
fn rewrite_last(path: &Path, bytes: &[u8]) {
    for entry in fs::read_dir(path.parent().unwrap()).unwrap() {
        let other = entry.unwrap().path();
        if other.extension().is_some_and(|e| e == "seg") && other > *path {
            fs::remove_file(other).unwrap();
        }
    }
    fs::write(path, bytes).unwrap();
}

/// Reopens the spool in `dir`, checks it holds `expected` and takes another append.
fn reopen_and_check(dir: &Path, expected: &[Vec<u8>], config: SpoolConfig) -> FileSpool {
    let spool = FileSpool::open(dir, config).unwrap();
    assert_eq!(payloads(&read_all(&spool)), expected);
    spool
}

#[test]
fn a_torn_or_garbled_last_record_is_cut_at_every_byte_and_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = small(512);
    let records = numbered(0, 40);
    let spool = FileSpool::open(dir.path(), config).unwrap();
    append_each(&spool, &records);
    let (path, start) = last_record(&spool, &records[39]);
    drop(spool);
    let original = fs::read(&path).unwrap();
    let before = &records[..39];
    for cut in start..original.len() as u64 {
        rewrite_last(&path, &original[..cut as usize]);
        let spool = reopen_and_check(dir.path(), before, config);
        let truncation = spool.recovery().truncation.clone();
        assert_eq!(truncation.is_some(), cut > start, "cut at {cut}");
        if let Some(truncation) = truncation {
            assert_eq!((truncation.offset, truncation.bytes), (start, cut - start));
            assert_eq!(truncation.path, path);
        }
        spool.append(&[b"after"]).unwrap();
        drop(spool);
        let mut expected = before.to_vec();
        expected.push(b"after".to_vec());
        reopen_and_check(dir.path(), &expected, config);
    }
    for at in start as usize..original.len() {
        let mut garbled = original.clone();
        garbled[at] ^= 0x5a;
        rewrite_last(&path, &garbled);
        let spool = reopen_and_check(dir.path(), before, config);
        let truncation = spool.recovery().truncation.clone().unwrap();
        assert_eq!(truncation.offset, start, "garbled at {at}");
        assert_eq!(truncation.bytes, original.len() as u64 - start);
        spool.append(&[b"after"]).unwrap();
    }
}

#[test]
fn a_zero_filled_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let spool = FileSpool::open(dir.path(), SpoolConfig::default()).unwrap();
    spool.append(&[b"kept"]).unwrap();
    let path = spool.segment_paths().pop().unwrap();
    drop(spool);
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend([0; 4096]);
    fs::write(&path, bytes).unwrap();
    let spool = reopen_and_check(dir.path(), &[b"kept".to_vec()], SpoolConfig::default());
    let truncation = spool.recovery().truncation.clone().unwrap();
    assert_eq!(truncation.bytes, 4096);
    assert!(matches!(truncation.defect, Defect::Checksum { .. }));
}

#[test]
fn damage_in_an_older_segment_is_an_error_naming_file_and_offset_and_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let records = numbered(0, 60);
    let spool = FileSpool::open(dir.path(), small(512)).unwrap();
    append_each(&spool, &records);
    let paths = spool.segment_paths();
    drop(spool);
    let mut bytes = fs::read(&paths[1]).unwrap();
    bytes[24 + 8 + 2] ^= 1; // the first record's payload
    fs::write(&paths[1], bytes).unwrap();

    let spool = FileSpool::open(dir.path(), small(512)).unwrap();
    assert_eq!(spool.recovery().truncation, None);
    let mut after = Position::START;
    let error = loop {
        match spool.read_from(after, ReadLimit::default()) {
            Ok(records) => after = records.last().unwrap().position,
            Err(error) => break error,
        }
    };
    let message = error.to_string();
    let Error::Corrupt {
        path,
        offset,
        position,
        resume,
        defect,
    } = error
    else {
        panic!("{message}");
    };
    assert_eq!(
        (path.as_path(), offset, position),
        (paths[1].as_path(), 24, after)
    );
    assert!(matches!(defect, Defect::Checksum { .. }));
    assert!(message.contains(&paths[1].display().to_string()) && message.contains("byte 24"));
    let rest = read_after(&spool, resume.unwrap());
    assert_eq!(rest.last().unwrap().bytes, records[59]);
}

#[test]
fn a_shortened_or_foreign_older_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let spool = FileSpool::open(dir.path(), small(512)).unwrap();
    append_each(&spool, &numbered(0, 60));
    let paths = spool.segment_paths();
    drop(spool);
    let original = fs::read(&paths[1]).unwrap();

    fs::write(&paths[1], &original[..original.len() - 1]).unwrap();
    let error = FileSpool::open(dir.path(), small(512)).unwrap_err();
    assert!(
        matches!(&error, Error::Gap { path, .. } if *path == paths[2]),
        "{error}"
    );

    let mut foreign = original.clone();
    foreign[0] = b'X';
    fs::write(&paths[1], &foreign).unwrap();
    let error = FileSpool::open(dir.path(), small(512)).unwrap_err();
    assert!(
        matches!(&error, Error::Header { path, .. } if *path == paths[1]),
        "{error}"
    );
    assert!(error.to_string().contains("magic"));
}

#[test]
fn release_deletes_only_whole_segments_before_the_position() {
    let dir = tempfile::tempdir().unwrap();
    let config = small(600);
    let records = numbered(0, 120);
    let spool = FileSpool::open(dir.path(), config).unwrap();
    let positions = append_each(&spool, &records);
    let segments = spool.segment_paths();
    assert!(segments.len() > 4);
    let starts: Vec<u64> = segments
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();

    let up_to = positions[70];
    spool.release(up_to).unwrap();
    let kept = spool.segment_paths();
    // A segment goes when the next one starts at or before the position.
    let doomed = starts.windows(2).filter(|w| w[1] <= up_to.get()).count();
    assert_eq!(kept, segments[doomed..]);
    assert!(spool.first() <= up_to);
    assert_eq!(spool.first().get(), starts[doomed]);
    let error = spool.read_from(Position::START, ReadLimit::default());
    assert!(matches!(error, Err(Error::Released { .. })));
    assert_eq!(payloads(&read_after(&spool, up_to)), records[71..]);

    spool.release(positions[119]).unwrap();
    assert_eq!(spool.segment_paths(), segments[segments.len() - 1..]);
    drop(spool);
    let spool = FileSpool::open(dir.path(), config).unwrap();
    assert_eq!(spool.recovery().end, positions[119]);
    spool.append(&[b"more"]).unwrap();
    assert_eq!(read_all(&spool).last().unwrap().bytes, b"more");
}

#[test]
fn limits_and_misuse_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = SpoolConfig {
        max_record_size: 10,
        ..SpoolConfig::default()
    };
    let spool = FileSpool::open(dir.path(), config).unwrap();
    let error = spool.append(&[b"short", b"far too long"]).unwrap_err();
    assert!(matches!(
        error,
        Error::TooLarge {
            index: 1,
            len: 12,
            max: 10
        }
    ));
    assert!(matches!(spool.append(&[]), Err(Error::EmptyBatch)));
    assert_eq!(
        spool.durable_end(),
        Position::START,
        "a refused batch wrote"
    );
    let end = spool.append(&[b"ok"]).unwrap();
    let beyond = spool.read_from(Position::new(end.get() + 1), ReadLimit::default());
    assert!(matches!(beyond, Err(Error::BeyondEnd { .. })));
    let second = FileSpool::open(dir.path(), config).unwrap_err();
    assert!(matches!(second, Error::Locked { .. }), "{second}");
    assert!(second.to_string().contains("LOCK"));
}

#[test]
fn interval_and_never_policies_acknowledge_and_show_records() {
    for fsync in [
        FsyncPolicy::Interval(Duration::from_millis(20)),
        FsyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = SpoolConfig {
            fsync,
            ..small(256)
        };
        let spool = FileSpool::open(dir.path(), config).unwrap();
        let records = numbered(0, 50);
        let positions = append_each(&spool, &records);
        let last = *positions.last().unwrap();
        let seen = spool.wait_past(positions[48], Duration::from_secs(5));
        assert_eq!(seen, last, "{fsync:?}");
        assert_eq!(payloads(&read_all(&spool)), records);
        drop(spool);
        let spool = FileSpool::open(dir.path(), config).unwrap();
        assert_eq!(payloads(&read_all(&spool)), records);
    }
}

#[test]
fn a_consumer_waits_for_records_without_polling() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(FileSpool::open(dir.path(), SpoolConfig::default()).unwrap());
    assert_eq!(
        spool.wait_past(Position::START, Duration::from_millis(10)),
        Position::START
    );
    let appender = Arc::clone(&spool);
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        appender.append(&[b"late"]).unwrap()
    });
    let seen = spool.wait_past(Position::START, Duration::from_secs(10));
    assert_eq!(seen, thread.join().unwrap());
}

#[test]
fn records_written_are_read_early_and_waited_for_until_durable() {
    let dir = tempfile::tempdir().unwrap();
    // An interval so long that nothing is fsynced before the spool closes (one segment:
    // a roll would fsync the segment it ends).
    let config = SpoolConfig {
        fsync: FsyncPolicy::Interval(Duration::from_secs(3600)),
        ..SpoolConfig::default()
    };
    let spool = FileSpool::open(dir.path(), config).unwrap();
    let records = numbered(0, 20);
    let positions = append_each(&spool, &records);
    let last = *positions.last().unwrap();
    assert_eq!(spool.durable_end(), Position::START);
    assert!(spool
        .read_from(Position::START, ReadLimit::default())
        .unwrap()
        .is_empty());
    assert_eq!(
        spool.wait_past(Position::START, Duration::from_millis(10)),
        Position::START
    );
    assert_eq!(
        spool.wait_written_past(Position::START, Duration::from_secs(5)),
        last
    );
    let mut early = Vec::new();
    let mut after = Position::START;
    loop {
        let read = spool
            .read_written_from(after, ReadLimit::default())
            .unwrap();
        let Some(record) = read.last() else { break };
        after = record.position;
        early.extend(read);
    }
    assert_eq!(payloads(&early), records);
    assert_eq!(after, last);
    assert!(spool.wait_durable(Position::START, Duration::ZERO).unwrap());
    assert!(!spool
        .wait_durable(positions[0], Duration::from_millis(10))
        .unwrap());
    drop(spool);
    // Closing fsynced the rest.
    let spool = FileSpool::open(dir.path(), config).unwrap();
    assert_eq!(spool.durable_end(), last);
    assert!(spool.wait_durable(last, Duration::ZERO).unwrap());
    assert_eq!(payloads(&read_all(&spool)), records);
}

#[test]
fn under_always_an_append_returns_once_its_batch_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: groups cross rolls while others wait for their fsync.
    let spool = Arc::new(FileSpool::open(dir.path(), small(512)).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let spool = Arc::clone(&spool);
            std::thread::spawn(move || {
                for n in 0..50 {
                    let record = format!("thread {thread} record {n}");
                    let position = spool.append(&[record.as_bytes()]).unwrap();
                    assert!(spool.durable_end() >= position);
                    assert!(spool.wait_durable(position, Duration::ZERO).unwrap());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(read_all(&spool).len(), 200);
    // At rest, nothing written waits for its fsync.
    let durable = spool.durable_end();
    assert_eq!(spool.wait_written_past(durable, Duration::ZERO), durable);
}
