//! A disk that fills up in the middle of a write: the write of a group stops halfway (the
//! fault hook of `tocsin_spool::fault`, process-wide, hence this test file of its own),
//! leaving a torn record at the end of the segment. Its appender is refused, so are all
//! later ones, readers never see the torn bytes and learn that the spool halted, and
//! reopening the spool keeps every acknowledged record, drops the torn one (the whole
//! records of the refused group before it may come back), and appends after them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::ErrorKind;

use tocsin_spool::{Error, FileSpool, FsyncPolicy, Position, ReadLimit, Spool, SpoolConfig};

fn config(fsync: FsyncPolicy) -> SpoolConfig {
    SpoolConfig {
        fsync,
        ..SpoolConfig::default()
    }
}

fn payloads(spool: &FileSpool) -> Vec<Vec<u8>> {
    spool
        .read_from(Position::START, ReadLimit::default())
        .unwrap()
        .into_iter()
        .map(|record| record.bytes)
        .collect()
}

/// The bytes of the spool's segment files.
fn segment_bytes(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".seg"))
        .map(|entry| entry.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_write_cut_short_by_a_full_disk_refuses_its_group_and_loses_nothing_acknowledged() {
    let acknowledged = [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()];
    for fsync in [FsyncPolicy::Always, FsyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let spool = FileSpool::open(&path, config(fsync)).unwrap();
        tocsin_spool::fault::fail_write_number(3);

        spool.append(&[b"one".as_slice(), b"two"]).unwrap();
        let second = spool.append(&[b"three".as_slice()]).unwrap();
        // A group of two short records and a long one: the write stops inside the long one,
        // after the short ones are whole.
        let big = vec![b'x'; 10_000];
        let lost = spool.append(&[b"lead".as_slice(), b"ing", big.as_slice()]);
        let later = spool.append(&[b"four".as_slice()]);
        let source =
            common::assert_injected(&lost, &later, "write", &path, "TOCSIN_FAULT_SPOOL_WRITE");
        assert_eq!(source.kind(), ErrorKind::StorageFull, "{source}");
        assert!(matches!(spool.halted(), Some(Error::Io { .. })));
        // Readers see what was acknowledged and nothing of the failed write.
        assert_eq!(
            spool
                .read_written_from(second, ReadLimit::default())
                .unwrap()
                .len(),
            0
        );
        assert_eq!(payloads(&spool), acknowledged);
        drop(spool);
        let torn = segment_bytes(&path);

        tocsin_spool::fault::fail_write_number(0);
        let reopened = FileSpool::open(&path, config(fsync)).unwrap();
        assert!(reopened.halted().is_none());
        let recovered = segment_bytes(&path);
        assert!(
            torn >= recovered + 4_000,
            "half of the failed write reached the segment and its torn record is cut off \
             when the spool is opened again: {torn} bytes before, {recovered} after"
        );
        // Every acknowledged record; the whole records of the refused group may come back
        // (their bytes reached the file), which a sender that sends the batch again cannot
        // tell from a retry; nothing of the torn one.
        let records = payloads(&reopened);
        assert_eq!(records[..3], acknowledged, "{fsync:?}");
        let refused_whole = [b"lead".to_vec(), b"ing".to_vec()];
        assert!(
            refused_whole.starts_with(&records[3..]),
            "only whole records of the refused group may follow: {:?} ({fsync:?})",
            &records[3..]
        );
        let appended = reopened.append(&[b"five".as_slice()]).unwrap();
        assert!(appended > second);
        drop(reopened);
        let again = FileSpool::open(&path, config(fsync)).unwrap();
        let mut expected = records;
        expected.push(b"five".to_vec());
        assert_eq!(
            payloads(&again),
            expected,
            "a record appended after the torn one's place is read back ({fsync:?})"
        );
    }
}
