//! A disk that loses a write: the fsync of a group fails (the fault hook of
//! `tocsin_spool::fault`, process-wide, hence this test file of its own). Its appender is
//! refused, so are all later ones, readers are told that what was written after the last
//! durable record never will be durable, and reopening the spool keeps every record an
//! appender was told is durable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

mod common;

use tocsin_spool::{Error, FileSpool, FsyncPolicy, Position, ReadLimit, Spool, SpoolConfig};

fn always() -> SpoolConfig {
    SpoolConfig {
        fsync: FsyncPolicy::Always,
        ..SpoolConfig::default()
    }
}

#[test]
fn a_failed_fsync_refuses_its_group_and_every_later_one_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    let spool = FileSpool::open(&path, always()).unwrap();
    tocsin_spool::fault::fail_fsync_number(3);

    let first = spool.append(&[b"one".as_slice(), b"two"]).unwrap();
    let second = spool.append(&[b"three".as_slice()]).unwrap();
    let lost = spool.append(&[b"four".as_slice()]);
    let later = spool.append(&[b"five".as_slice()]);
    common::assert_injected(&lost, &later, "fsync", &path, "TOCSIN_FAULT_SPOOL_FSYNC");
    assert_eq!(spool.durable_end(), second);
    assert!(matches!(spool.halted(), Some(Error::Io { .. })));
    // What was written but lost is readable early, but never durable: a reader waiting to
    // commit what it made of it is told so instead of waiting forever.
    let written = spool
        .read_written_from(second, ReadLimit::default())
        .unwrap();
    assert_eq!(written.len(), 1);
    assert!(spool
        .wait_durable(written[0].position, Duration::from_secs(5))
        .is_err());
    assert_eq!(
        spool
            .read_from(Position::START, ReadLimit::default())
            .unwrap()
            .len(),
        3
    );
    drop(spool);

    tocsin_spool::fault::fail_fsync_number(0);
    let reopened = FileSpool::open(&path, always()).unwrap();
    assert!(reopened.halted().is_none());
    let records = reopened
        .read_from(Position::START, ReadLimit::default())
        .unwrap();
    let payloads: Vec<&[u8]> = records.iter().map(|r| r.bytes.as_slice()).collect();
    // Every acknowledged record; the refused one may come back too (its bytes reached the
    // page cache), which a sender that sends it again cannot tell from a retry.
    assert_eq!(payloads[..3], [b"one".as_slice(), b"two", b"three"]);
    assert!(payloads.len() <= 4 && payloads[3..].iter().all(|p| *p == b"four"));
    assert!(records.iter().any(|r| r.position == first));
    let appended = reopened.append(&[b"six".as_slice()]).unwrap();
    assert!(appended > second);
}
