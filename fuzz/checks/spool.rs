//! What the `spool` fuzz target checks on one input: arbitrary bytes as a spool's only
//! segment, through recovery, reading, appending and reopening. Shared by the fuzz target
//! (`fuzz/fuzz_targets/spool.rs`) and the spool crate's replay of it on stable
//! (`crates/spool/tests/recovery_fuzz.rs`). Panics when the property fails.
//!
//! The first byte chooses what the rest is: even, the body of a segment behind a valid
//! header (so the fuzzer works on records); odd, the whole file, header included.

// A check's failure is a panic, as the fuzzer expects.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use tocsin_spool::{Error, FileSpool, FsyncPolicy, Position, ReadLimit, Spool, SpoolConfig};

/// The header of the segment starting at position 0, as `crates/spool/src/segment.rs`
/// documents it: magic, version 1, four reserved bytes, the start.
const HEADER: [u8; 24] = *b"TOCSPOOL\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// Settings without fsync, so that the fuzzer spends its time in recovery.
fn config() -> SpoolConfig {
    SpoolConfig {
        fsync: FsyncPolicy::Never,
        ..SpoolConfig::default()
    }
}

/// Every record's bytes in the spool.
fn all(spool: &FileSpool) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    let mut after = Position::START;
    loop {
        let read = spool.read_from(after, ReadLimit::default()).unwrap();
        let Some(last) = read.last() else {
            return records;
        };
        after = last.position;
        records.extend(read.into_iter().map(|r| r.bytes));
    }
}

/// Arbitrary segment bytes: opening never panics and either refuses the header or keeps a
/// prefix of whole records that reads back; an append after it survives a reopening, which
/// finds nothing more to cut.
pub fn spool(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let file = if selector % 2 == 0 {
        [HEADER.as_slice(), rest].concat()
    } else {
        rest.to_vec()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("00000000000000000000.seg");
    std::fs::write(&path, &file).unwrap();
    let spool = match FileSpool::open(dir.path(), config()) {
        Ok(spool) => spool,
        Err(Error::Header { path: named, .. }) => return assert_eq!(named, path),
        Err(error) => panic!("unexpected error: {error}"),
    };
    let recovery = spool.recovery().clone();
    let kept = std::fs::metadata(&path).unwrap().len();
    let cut = recovery.truncation.as_ref().map_or(0, |t| t.bytes);
    assert_eq!(kept + cut, file.len() as u64);
    assert_eq!(recovery.end.get() + 24, kept);
    let mut records = all(&spool);
    spool.append(&[b"after".as_slice()]).unwrap();
    drop(spool);
    let spool = FileSpool::open(dir.path(), config()).unwrap();
    assert_eq!(spool.recovery().truncation, None);
    records.push(b"after".to_vec());
    assert_eq!(all(&spool), records);
}
