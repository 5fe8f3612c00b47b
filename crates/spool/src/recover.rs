//! Opening a spool's folder after whatever ended the last run: the segments must follow on
//! from one another, and the last one is scanned record by record and cut at the first
//! torn, short or damaged record, the remains of a write a crash interrupted.
//!
//! Only the last segment can hold a torn write: a segment is fsynced before the next one
//! is created (unless the policy is [`FsyncPolicy::Never`]), so damage in an earlier one is
//! not a crash's doing; it is reported when read ([`Error::Corrupt`](crate::Error)), never
//! cut or skipped in silence. Whatever file content it meets, recovery returns an error or
//! a spool; it never panics.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::fs::{create, list, segment_path};
use crate::segment::{decode_header, read_frame, FrameError, HEADER_LEN};
use crate::{Defect, Error, FsyncPolicy, Position};

/// What opening a spool found, and what it cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The segment files kept.
    pub segments: usize,
    /// The position after the last record kept: where appending goes on.
    pub end: Position,
    /// The torn tail cut from the last segment, if there was one.
    pub truncation: Option<Truncation>,
}

/// A torn tail cut from the last segment on opening.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// The segment file.
    pub path: PathBuf,
    /// The byte offset the file was cut at: the end of its last whole record.
    pub offset: u64,
    /// How many bytes were cut.
    pub bytes: u64,
    /// What was wrong with the first record cut.
    pub defect: Defect,
}

/// An opened folder: its segments and the last one, ready for appending.
pub(crate) struct Opened {
    /// The starts of the segments, in order; never empty.
    pub starts: Vec<Position>,
    /// The last segment, open for writing at its end.
    pub active: File,
    /// The last segment's length in bytes.
    pub active_len: u64,
    /// What was found.
    pub recovery: Recovery,
}

/// The whole records at the start of a segment's body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    /// How many whole records there are.
    pub records: u64,
    /// The bytes they take, frames included.
    pub valid: u64,
    /// What stopped the scan before the end, if something did.
    pub defect: Option<Defect>,
}

/// Scans a segment's body (what follows its header), `len` bytes read from `reader`, and
/// stops at the first frame that is not whole and valid.
pub(crate) fn scan(reader: &mut impl Read, len: u64) -> std::io::Result<Scan> {
    let mut payload = Vec::new();
    let mut scanned = Scan {
        records: 0,
        valid: 0,
        defect: None,
    };
    while scanned.valid < len {
        match read_frame(reader, len - scanned.valid, &mut payload) {
            Ok(size) => {
                scanned.records += 1;
                scanned.valid += size;
            }
            Err(FrameError::Damaged(defect)) => {
                scanned.defect = Some(defect);
                break;
            }
            Err(FrameError::Io(e)) => return Err(e),
        }
    }
    Ok(scanned)
}

/// Opens the spool in `dir` (which is locked): checks the chain of segments, cuts a torn
/// tail from the last one, and creates the first segment of a new spool.
pub(crate) fn open(dir: &Path, fsync: FsyncPolicy) -> Result<Opened, Error> {
    let sync = fsync != FsyncPolicy::Never;
    let mut starts = list(dir)?;
    let Some(&last) = starts.last() else {
        let active = create(dir, Position::START, sync)?;
        return Ok(fresh(active));
    };
    check_chain(dir, &starts)?;
    let (active, active_len, truncation) = recover_last(dir, last, sync)?;
    let end = Position::new(last.get() + active_len - HEADER_LEN);
    starts.shrink_to_fit();
    let recovery = Recovery {
        segments: starts.len(),
        end,
        truncation,
    };
    Ok(Opened {
        starts,
        active,
        active_len,
        recovery,
    })
}

/// A new spool's state, its first segment just created.
fn fresh(active: File) -> Opened {
    Opened {
        starts: vec![Position::START],
        active,
        active_len: HEADER_LEN,
        recovery: Recovery {
            segments: 1,
            end: Position::START,
            truncation: None,
        },
    }
}

/// Checks that every segment but the last has a valid header for its name and ends where
/// the next one starts.
fn check_chain(dir: &Path, starts: &[Position]) -> Result<(), Error> {
    for pair in starts.windows(2) {
        let path = segment_path(dir, pair[0]);
        let mut file = File::open(&path).map_err(|e| Error::io("open", &path, None, e))?;
        let len = check_header(&mut file, &path, pair[0])?;
        let expected = Position::new(pair[0].get() + len - HEADER_LEN);
        if expected != pair[1] {
            return Err(Error::Gap {
                path: segment_path(dir, pair[1]),
                expected,
                found: pair[1],
            });
        }
    }
    Ok(())
}

/// Reads and checks the header of the segment `file`, named after `start`; returns the
/// file's length.
fn check_header(file: &mut File, path: &Path, start: Position) -> Result<u64, Error> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", path, None, e))?
        .len();
    let mut header = [0; HEADER_LEN as usize];
    if len < HEADER_LEN {
        return Err(header_error(
            path,
            format!("{len} bytes, short of a header"),
        ));
    }
    file.read_exact(&mut header)
        .map_err(|e| Error::io("read", path, Some(0), e))?;
    match decode_header(&header) {
        Ok(found) if found == start => Ok(len),
        Ok(found) => Err(header_error(
            path,
            format!("its header says it starts at {found}"),
        )),
        Err(problem) => Err(header_error(path, problem)),
    }
}

/// A header error on `path`.
fn header_error(path: &Path, problem: String) -> Error {
    Error::Header {
        path: path.to_owned(),
        problem,
    }
}

/// Opens the last segment for appending, cut after its last whole record (and fsynced
/// with `sync`, so that what readers are about to see is durable).
fn recover_last(
    dir: &Path,
    start: Position,
    sync: bool,
) -> Result<(File, u64, Option<Truncation>), Error> {
    let path = segment_path(dir, start);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, None, e))?;
    let len = check_header(&mut file, &path, start)?;
    let scanned = scan(&mut BufReader::new(&mut file), len - HEADER_LEN)
        .map_err(|e| Error::io("read", &path, Some(HEADER_LEN), e))?;
    let valid = HEADER_LEN + scanned.valid;
    let truncation = scanned.defect.map(|defect| Truncation {
        path: path.clone(),
        offset: valid,
        bytes: len - valid,
        defect,
    });
    if truncation.is_some() {
        file.set_len(valid)
            .map_err(|e| Error::io("truncate", &path, Some(valid), e))?;
    }
    if sync {
        file.sync_all()
            .map_err(|e| Error::io("fsync", &path, None, e))?;
    }
    file.seek(SeekFrom::Start(valid))
        .map_err(|e| Error::io("seek", &path, Some(valid), e))?;
    Ok((file, valid, truncation))
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::segment::encode_frame;

    /// The body of a segment holding these records.
    fn body(records: &[&[u8]]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for record in records {
            encode_frame(&mut bytes, record);
        }
        bytes
    }

    #[test]
    fn a_scan_stops_before_the_first_torn_record() {
        let whole = body(&[b"one", b"two", b"three"]);
        let two = body(&[b"one", b"two"]).len();
        for cut in two..whole.len() {
            let scanned = scan(&mut &whole[..cut], cut as u64).unwrap();
            assert_eq!(scanned.records, 2, "cut at {cut}");
            assert_eq!(scanned.valid, two as u64);
            assert_eq!(scanned.defect.is_some(), cut > two);
        }
    }

    /// The deterministic stand-in for a fuzzer: random bytes, random garbled valid
    /// records, never a panic, and a scan's valid prefix always scans clean.
    #[test]
    fn random_bytes_never_panic_and_the_valid_prefix_rescans_clean() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for _ in 0..5_000 {
            let mut bytes = if rng.random_bool(0.5) {
                let len = rng.random_range(0..200);
                (0..len).map(|_| rng.random()).collect()
            } else {
                let records: Vec<Vec<u8>> = (0..rng.random_range(0..6))
                    .map(|_| vec![rng.random(); rng.random_range(0..40)])
                    .collect();
                let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
                body(&refs)
            };
            if !bytes.is_empty() && rng.random_bool(0.7) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            let scanned = scan(&mut bytes.as_slice(), bytes.len() as u64).unwrap();
            assert!(scanned.valid <= bytes.len() as u64);
            assert_eq!(
                scanned.defect.is_none(),
                scanned.valid == bytes.len() as u64
            );
            let prefix = &bytes[..scanned.valid as usize];
            let again = scan(&mut &prefix[..], prefix.len() as u64).unwrap();
            assert_eq!((again.records, again.defect), (scanned.records, None));
        }
    }
}
