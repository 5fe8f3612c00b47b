//! The bytes of a segment file: its name, its header and the framing of its records.
//!
//! A segment is named after the position its first record starts at, in 20 decimal digits
//! (`00000000000067108864.seg`), so that names sort in log order. It opens with a 24-byte
//! header: the magic `TOCSPOOL`, the format version (`u32`, little-endian, now 1), four
//! reserved zero bytes and the same start position (`u64`, little-endian), so a renamed
//! or misplaced file is noticed. Records follow back to back, each framed as its payload's
//! length (`u32` LE), a CRC-32 (`u32` LE, the IEEE polynomial, over the four length bytes
//! and the payload) and the payload. The checksum covers the length, so a zero-filled tail
//! (what a file system may leave after a crash) is not a run of valid empty records.
//! A byte at file offset `f` of a segment starting at `s` is at position `s + f - 24`.

use std::io::{self, Read};

use crate::{Defect, Position};

/// The first bytes of every segment.
const MAGIC: [u8; 8] = *b"TOCSPOOL";
/// The segment format's version.
const VERSION: u32 = 1;
/// The size of a segment's header.
pub(crate) const HEADER_LEN: u64 = 24;
/// The size of a record's frame header (length and checksum).
pub(crate) const FRAME_HEADER: u64 = 8;
/// The extension of segment files.
const EXTENSION: &str = ".seg";

/// The file name of the segment starting at `start`.
pub(crate) fn file_name(start: Position) -> String {
    format!("{:020}{EXTENSION}", start.get())
}

/// The start of the segment with this file name, if it is a segment's name (of a start
/// below 2^63).
pub(crate) fn parse_name(name: &str) -> Option<Position> {
    let digits = name.strip_suffix(EXTENSION)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Positions stay below 2^63 (see `Position`), so a larger name is no segment of a
    // spool, and its start plus a length could overflow.
    digits
        .parse::<u64>()
        .ok()
        .filter(|&start| start < 1 << 63)
        .map(Position::new)
}

/// The header of a segment starting at `start`.
pub(crate) fn encode_header(start: Position) -> [u8; HEADER_LEN as usize] {
    let mut header = [0; HEADER_LEN as usize];
    header[..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header[16..].copy_from_slice(&start.get().to_le_bytes());
    header
}

/// The start position a header records, or what is wrong with it.
pub(crate) fn decode_header(header: &[u8; HEADER_LEN as usize]) -> Result<Position, String> {
    if header[..8] != MAGIC {
        return Err("no TOCSPOOL magic".to_owned());
    }
    let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    if version != VERSION {
        return Err(format!(
            "format version {version}, this build reads {VERSION}"
        ));
    }
    let mut start = [0; 8];
    start.copy_from_slice(&header[16..]);
    Ok(Position::new(u64::from_le_bytes(start)))
}

/// The checksum of a frame: over its length bytes, then its payload.
fn checksum(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len);
    hasher.update(payload);
    hasher.finalize()
}

/// Appends the frame of `payload` to `out`. The caller has checked that it fits a `u32`.
pub(crate) fn encode_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len())
        .unwrap_or(u32::MAX)
        .to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&checksum(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The framed size of a payload of `len` bytes.
pub(crate) fn frame_len(len: usize) -> u64 {
    FRAME_HEADER + len as u64
}

/// Why a frame could not be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The bytes there are not a valid frame.
    Damaged(Defect),
    /// Reading failed.
    Io(io::Error),
}

/// Reads one frame from `reader`, with `remaining` bytes left before the end of what may
/// be read, into `payload`; returns the frame's size. Never reads past `remaining`, and
/// never allocates more than it.
pub(crate) fn read_frame(
    reader: &mut impl Read,
    remaining: u64,
    payload: &mut Vec<u8>,
) -> Result<u64, FrameError> {
    if remaining < FRAME_HEADER {
        return Err(FrameError::Damaged(Defect::ShortHeader { remaining }));
    }
    let mut header = [0; FRAME_HEADER as usize];
    reader.read_exact(&mut header).map_err(FrameError::Io)?;
    let len_bytes = [header[0], header[1], header[2], header[3]];
    let len = u32::from_le_bytes(len_bytes);
    let left = remaining - FRAME_HEADER;
    if u64::from(len) > left {
        return Err(FrameError::Damaged(Defect::Length {
            len,
            remaining: left,
        }));
    }
    payload.clear();
    let read = reader
        .take(u64::from(len))
        .read_to_end(payload)
        .map_err(FrameError::Io)?;
    if read as u64 != u64::from(len) {
        return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into()));
    }
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let computed = checksum(len_bytes, payload);
    if stored != computed {
        return Err(FrameError::Damaged(Defect::Checksum { stored, computed }));
    }
    Ok(FRAME_HEADER + u64::from(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_log_order_and_parse_back() {
        let names: Vec<String> = [0, 9, 10, 1 << 40]
            .map(|p| file_name(Position::new(p)))
            .to_vec();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(parse_name(&names[3]), Some(Position::new(1 << 40)));
        assert_eq!(parse_name("0001.seg"), None);
        assert_eq!(
            parse_name("09223372036854775807.seg"),
            Some(Position::new(i64::MAX as u64))
        );
        assert_eq!(parse_name("09223372036854775808.seg"), None);
        assert_eq!(parse_name("18446744073709551615.seg"), None);
        assert_eq!(parse_name("0000000000000000000a.seg"), None);
        assert_eq!(parse_name("00000000000000000000.seg.tmp"), None);
    }

    #[test]
    fn a_header_round_trips_and_a_foreign_one_is_refused() {
        let header = encode_header(Position::new(77));
        assert_eq!(decode_header(&header), Ok(Position::new(77)));
        let mut other = header;
        other[0] = b'X';
        assert!(decode_header(&other).unwrap_err().contains("magic"));
        let mut newer = header;
        newer[8] = 2;
        assert!(decode_header(&newer).unwrap_err().contains("version 2"));
    }

    #[test]
    fn a_frame_round_trips_and_any_flipped_bit_is_caught() {
        let mut frame = Vec::new();
        encode_frame(&mut frame, b"payload");
        let mut payload = Vec::new();
        let size = read_frame(&mut frame.as_slice(), frame.len() as u64, &mut payload).unwrap();
        assert_eq!((size, payload.as_slice()), (15, b"payload".as_slice()));
        for bit in 0..frame.len() * 8 {
            let mut bad = frame.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let result = read_frame(&mut bad.as_slice(), bad.len() as u64, &mut payload);
            assert!(matches!(result, Err(FrameError::Damaged(_))), "bit {bit}");
        }
    }

    #[test]
    fn zeros_are_not_a_record() {
        let zeros = [0u8; 64];
        let mut payload = Vec::new();
        let result = read_frame(&mut zeros.as_slice(), 64, &mut payload);
        assert!(matches!(
            result,
            Err(FrameError::Damaged(Defect::Checksum { .. }))
        ));
    }

    #[test]
    fn a_short_frame_is_damaged_not_read_past() {
        let mut frame = Vec::new();
        encode_frame(&mut frame, b"payload");
        let mut payload = Vec::new();
        for cut in 0..frame.len() {
            let result = read_frame(&mut &frame[..cut], cut as u64, &mut payload);
            assert!(matches!(result, Err(FrameError::Damaged(_))), "cut {cut}");
        }
    }
}
