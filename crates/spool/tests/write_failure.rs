//! A disk that fills up in the middle of a write: the write of a group stops halfway (the
//! fault hook of `tocsin_spool::fault`, process-wide, hence this test file of its own),
//! leaving a torn record at the end of the segment. Its appender is refused, so are all
//! later ones, readers never see the torn bytes and learn that the spool halted, and
//! reopening the spool keeps every acknowledged record, drops the torn one, and appends
//! after them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

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
    for fsync in [FsyncPolicy::Always, FsyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let spool = FileSpool::open(&path, config(fsync)).unwrap();
        tocsin_spool::fault::fail_write_number(3);

        spool.append(&[b"one".as_slice(), b"two"]).unwrap();
        let second = spool.append(&[b"three".as_slice()]).unwrap();
        let big = vec![b'x'; 10_000];
        let lost = spool.append(&[big.as_slice(), b"after"]);
        let Err(Error::Io {
            action,
            path: file,
            source,
            ..
        }) = &lost
        else {
            panic!("the third write was injected to fail, yet the append gave {lost:?}");
        };
        assert_eq!(*action, "write");
        assert!(file.starts_with(&path), "{}", file.display());
        assert_eq!(source.kind(), ErrorKind::StorageFull, "{source}");
        assert!(source.to_string().contains("TOCSIN_FAULT_SPOOL_WRITE"));

        let later = spool.append(&[b"four".as_slice()]);
        assert!(
            matches!(&later, Err(Error::Stopped { cause }) if matches!(**cause, Error::Io { .. })),
            "an append after a failed write must be refused with its cause: {later:?}"
        );
        assert!(matches!(spool.halted(), Some(Error::Io { .. })));
        // Readers see what was acknowledged and nothing of the torn write.
        assert_eq!(
            spool
                .read_written_from(second, ReadLimit::default())
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            payloads(&spool),
            [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        drop(spool);
        let torn = segment_bytes(&path);

        tocsin_spool::fault::fail_write_number(0);
        let reopened = FileSpool::open(&path, config(fsync)).unwrap();
        let recovered = segment_bytes(&path);
        assert!(
            torn >= recovered + 5_000,
            "half of the failed write reached the segment and is cut off when the spool is \
             opened again: {torn} bytes before, {recovered} after"
        );
        assert!(reopened.halted().is_none());
        assert_eq!(
            payloads(&reopened),
            [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()],
            "the torn record is dropped when the spool is opened again ({fsync:?})"
        );
        let appended = reopened.append(&[b"five".as_slice()]).unwrap();
        assert!(appended > second);
        drop(reopened);
        let again = FileSpool::open(&path, config(fsync)).unwrap();
        assert_eq!(
            payloads(&again),
            [
                b"one".to_vec(),
                b"two".to_vec(),
                b"three".to_vec(),
                b"five".to_vec()
            ],
            "a record appended after the torn one's place is read back ({fsync:?})"
        );
    }
}
