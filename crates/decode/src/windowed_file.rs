//! A file read through a window, with positioned reads.
//!
//! The `evtx` crate reads a file with many small reads and a seek before each chunk (the
//! file header, each chunk's header once to find the oldest chunk, then each chunk in
//! pieces of 8, 16, 32 and 8 KiB): about 30 system calls for a file of one chunk. Reading
//! the file whole instead costs one call but copies it into memory that is cold by the time
//! it is decoded, and, for files of megabytes, freshly mapped pages the kernel must clear.
//! [`WindowedFile`] serves reads from a window that one `pread` fills at the position asked
//! for when the window does not hold the whole read: 4 KiB for a read of up to 4 KiB (the
//! file header, a chunk's header), 64 KiB, one chunk, for a larger one. It seeks without a
//! system call, so a chunk costs two reads into memory that stays in the processor's cache,
//! and memory does not grow with the file.
//!
//! Windows preallocates a log's file, so many logs are a few chunks of records followed by
//! megabytes of zeros (41% of the sample corpus's chunks); a copy that kept the file sparse
//! stores them as holes. [`WindowedFile::in_hole`] says, without reading, that a range lies
//! in a hole (the file's data ranges are found once, with `SEEK_DATA` and `SEEK_HOLE`), so
//! that the chunk walk skips it.
//!
//! The file's length and holes are taken when it is opened (seeks from the end and the
//! holes the walk skips are those of that moment), while reads see the file as it is when
//! they are made. This only matters for a log still being written. The holes are what the
//! file system reports: OpenZFS before 2.1.14 and 2.2.2 could report data not yet flushed
//! as a hole, which would make such a chunk look empty (a log being written, again).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// How many bytes a refill for a read of up to this many bytes reads: an EVTX file header
/// (a chunk's is 512 bytes).
const SMALL_WINDOW: usize = 4 << 10;

/// How many bytes a refill for a larger read reads: an EVTX chunk. A read of this size or
/// more that the window does not hold goes straight into the caller's buffer.
const WINDOW: usize = 64 << 10;

/// A [`File`] read with positioned reads through a window (see the module doc).
pub(crate) struct WindowedFile {
    /// The file, read only with positioned reads (its own offset is never used).
    file: File,
    /// The file's length when it was opened, for seeks from the end.
    len: u64,
    /// Where the next read starts.
    position: u64,
    /// Bytes of the file from `window_start` (empty before the first read).
    window: Vec<u8>,
    /// The file offset of `window[0]`.
    window_start: u64,
    /// Whether the window reaches the end of the file (its refill read fewer bytes than
    /// asked), so that a read past its end is at the end of the file.
    window_ends_file: bool,
    /// For a sparse file (one with a hole before its end), where its data is: the ranges
    /// of bytes that are not holes, in order, as the file was when opened. `None` for a file
    /// that is not sparse, or whose holes cannot be told.
    data: Option<Vec<(u64, u64)>>,
}

impl WindowedFile {
    /// Reads `file`, of `len` bytes, from its start.
    pub(crate) fn new(file: File, len: u64) -> Self {
        let data = data_ranges(&file, len);
        WindowedFile {
            file,
            len,
            position: 0,
            window: Vec::new(),
            window_start: 0,
            window_ends_file: false,
            data,
        }
    }

    /// Whether the `len` bytes at `offset` lie in a hole of the file (and before the end it
    /// had when opened), so that they read as zeros: known without reading them. `false`
    /// when they do not, or it cannot be told.
    pub(crate) fn in_hole(&self, offset: u64, len: u64) -> bool {
        let Some(end) = offset.checked_add(len).filter(|&end| end <= self.len) else {
            return false;
        };
        let Some(data) = &self.data else {
            return false;
        };
        // The first range of data that ends after `offset` must start at `end` or later.
        let after = data.partition_point(|&(_, data_end)| data_end <= offset);
        len > 0 && data.get(after).is_none_or(|&(start, _)| start >= end)
    }

    /// Where the current position is in the window, when the window holds a read of `len`
    /// bytes from there (or all of it that the file has).
    fn offset_in_window(&self, len: usize) -> Option<usize> {
        let offset = usize::try_from(self.position.checked_sub(self.window_start)?).ok()?;
        let holds = self.window_ends_file || offset.checked_add(len)? <= self.window.len();
        holds.then_some(offset)
    }

    /// Fills the window with `size` bytes from the current position (fewer at the end of
    /// the file).
    fn refill(&mut self, size: usize) -> io::Result<()> {
        self.window_start = self.position;
        self.window_ends_file = false;
        self.window.resize(size, 0);
        let filled = match read_at_most(&self.file, &mut self.window, self.position) {
            Ok(filled) => filled,
            Err(e) => {
                // Nothing is known of the file here any more, not even where it ends.
                self.window.clear();
                return Err(e);
            }
        };
        self.window.truncate(filled);
        self.window_ends_file = filled < size;
        Ok(())
    }
}

/// Fills `buffer` from `file` at `offset` with positioned reads (which leave the file's
/// own offset alone), as far as the file goes; how many bytes were read.
pub(crate) fn read_at_most(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read_at(&mut buffer[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Most ranges of data [`data_ranges`] lists; a file more fragmented than this is read as
/// if it had no holes.
const MOST_DATA_RANGES: usize = 4096;

/// The ranges of `file`'s first `len` bytes that are not holes, found with `lseek`'s
/// `SEEK_DATA` and `SEEK_HOLE` (which move the file's own offset, unused here); `None` if the
/// file has no hole before `len` (every file ends with an implicit one), is now shorter than
/// `len` (past its end, `SEEK_DATA` says "no more data" too), or its file system cannot tell.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "solaris",
    target_os = "illumos"
))]
fn data_ranges(file: &File, len: u64) -> Option<Vec<(u64, u64)>> {
    use rustix::fs::{seek, SeekFrom};
    if seek(file, SeekFrom::Hole(0)).ok()? >= len || file.metadata().ok()?.len() < len {
        return None;
    }
    let mut ranges = Vec::new();
    let mut at = 0;
    while at < len && ranges.len() < MOST_DATA_RANGES {
        let start = match seek(file, SeekFrom::Data(at)) {
            Ok(start) if start < len => start,
            // No data from `at` to the end.
            Ok(_) | Err(rustix::io::Errno::NXIO) => return Some(ranges),
            Err(_) => return None,
        };
        let end = seek(file, SeekFrom::Hole(start)).ok()?.min(len);
        ranges.push((start, end));
        at = end;
    }
    (at >= len).then_some(ranges)
}

/// Where `SEEK_DATA` is unknown, no file is taken for sparse.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "solaris",
    target_os = "illumos"
)))]
fn data_ranges(_file: &File, _len: u64) -> Option<Vec<(u64, u64)>> {
    None
}

impl Read for WindowedFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let offset = match self.offset_in_window(buf.len()) {
            Some(offset) => offset,
            None if buf.len() >= WINDOW => {
                let n = self.file.read_at(buf, self.position)?;
                self.position += n as u64;
                return Ok(n);
            }
            None => {
                let size = if buf.len() <= SMALL_WINDOW {
                    SMALL_WINDOW
                } else {
                    WINDOW
                };
                self.refill(size)?;
                0
            }
        };
        let held = self.window.get(offset..).unwrap_or_default();
        let n = held.len().min(buf.len());
        buf[..n].copy_from_slice(&held[..n]);
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for WindowedFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        let target = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )
        })?;
        self.position = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::io::Write;

    fn file_of(bytes: &[u8]) -> (tempfile::NamedTempFile, WindowedFile) {
        let mut temp = tempfile::NamedTempFile::new().unwrap();
        temp.write_all(bytes).unwrap();
        let file = File::open(temp.path()).unwrap();
        (temp, WindowedFile::new(file, bytes.len() as u64))
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn small_and_large_reads_at_any_position_give_the_file_s_bytes() {
        let bytes = pattern(3 * WINDOW + 1000);
        let (_temp, mut file) = file_of(&bytes);
        let mut small = [0; 8];
        file.read_exact(&mut small).unwrap();
        assert_eq!(small, bytes[..8]);
        file.seek(SeekFrom::Start(4096)).unwrap();
        let mut chunk = vec![0; WINDOW];
        file.read_exact(&mut chunk).unwrap();
        assert_eq!(chunk, bytes[4096..4096 + WINDOW]);
        file.seek(SeekFrom::Start(2 * WINDOW as u64 + 17)).unwrap();
        let mut header = [0; 512];
        file.read_exact(&mut header).unwrap();
        assert_eq!(header, bytes[2 * WINDOW + 17..2 * WINDOW + 17 + 512]);
        // Past the window's end: the window is refilled where the read starts.
        file.seek(SeekFrom::Current(WINDOW as i64)).unwrap();
        let mut rest = Vec::new();
        file.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, bytes[3 * WINDOW + 17 + 512..]);
    }

    #[test]
    fn a_read_across_the_window_s_end_continues_from_the_file() {
        let bytes = pattern(2 * WINDOW);
        let (_temp, mut file) = file_of(&bytes);
        let mut head = [0; 100];
        file.read_exact(&mut head).unwrap();
        file.seek(SeekFrom::Start(WINDOW as u64 - 10)).unwrap();
        let mut across = [0; 4000];
        file.read_exact(&mut across).unwrap();
        assert_eq!(across, bytes[WINDOW - 10..WINDOW + 3990]);
    }

    #[test]
    fn seeks_from_the_end_and_past_it_read_nothing() {
        let bytes = pattern(5000);
        let (_temp, mut file) = file_of(&bytes);
        assert_eq!(file.seek(SeekFrom::End(-10)).unwrap(), 4990);
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, bytes[4990..]);
        file.seek(SeekFrom::Start(10_000)).unwrap();
        assert_eq!(file.read(&mut [0; 16]).unwrap(), 0);
        assert!(file.seek(SeekFrom::Current(-20_000)).is_err());
    }

    #[test]
    fn holes_of_a_sparse_file_are_known_and_data_is_never_taken_for_one() {
        let mut temp = tempfile::NamedTempFile::new().unwrap();
        let data = pattern(WINDOW);
        temp.write_all(&data).unwrap();
        // Four windows of hole, then data again.
        temp.as_file().set_len(5 * WINDOW as u64).unwrap();
        temp.seek(SeekFrom::End(0)).unwrap();
        temp.write_all(&data).unwrap();
        let len = 6 * WINDOW as u64;
        let mut file = WindowedFile::new(File::open(temp.path()).unwrap(), len);
        let window = WINDOW as u64;
        assert!(!file.in_hole(0, window), "data is not a hole");
        assert!(!file.in_hole(window / 2, window), "partly data");
        assert!(!file.in_hole(5 * window, 1), "data after the hole");
        assert!(!file.in_hole(4 * window, 2 * window), "past the hole");
        assert!(!file.in_hole(6 * window, 1), "past the end");
        if file.data.is_some() {
            assert!(file.in_hole(window, 4 * window));
            assert!(file.in_hole(3 * window, 100));
        } else {
            eprintln!("the file system of the temporary folder keeps no holes: not checked");
        }
        // Reads are unaffected, holes read as zeros.
        file.seek(SeekFrom::Start(window - 10)).unwrap();
        let mut across = vec![1; 20];
        file.read_exact(&mut across).unwrap();
        assert_eq!(across[..10], data[WINDOW - 10..]);
        assert!(across[10..].iter().all(|&b| b == 0));
        let mut tail = Vec::new();
        file.seek(SeekFrom::Start(5 * window)).unwrap();
        file.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, data);
    }

    #[test]
    fn a_file_cut_short_since_its_length_was_taken_has_no_holes_to_skip() {
        let mut temp = tempfile::NamedTempFile::new().unwrap();
        temp.write_all(&pattern(WINDOW)).unwrap();
        temp.as_file().set_len(4 * WINDOW as u64).unwrap();
        temp.seek(SeekFrom::End(0)).unwrap();
        temp.write_all(&pattern(WINDOW)).unwrap();
        let len = 5 * WINDOW as u64;
        // Cut inside the hole: past the new end, `SEEK_DATA` finds "no more data" too.
        temp.as_file().set_len(2 * WINDOW as u64).unwrap();
        let file = WindowedFile::new(File::open(temp.path()).unwrap(), len);
        assert!(file.data.is_none());
        assert!(!file.in_hole(3 * WINDOW as u64, WINDOW as u64));
    }

    #[test]
    fn a_failed_read_forgets_where_the_file_ended() {
        let bytes = pattern(3000);
        let (temp, mut file) = file_of(&bytes);
        file.seek(SeekFrom::Start(2000)).unwrap();
        let mut some = [0; 100];
        file.read_exact(&mut some).unwrap();
        assert!(
            file.window_ends_file,
            "the window holds the end of the file"
        );
        // The disk fails for one read (a handle that cannot read stands in for it).
        let readable = std::mem::replace(
            &mut file.file,
            File::options().write(true).open(temp.path()).unwrap(),
        );
        file.seek(SeekFrom::Start(0)).unwrap();
        assert!(file.read(&mut [0; 16]).is_err());
        file.file = readable;
        // The bytes before the end are read again, not taken for the end of the file.
        file.seek(SeekFrom::Start(2500)).unwrap();
        let mut rest = Vec::new();
        file.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, bytes[2500..]);
    }

    #[test]
    fn a_short_file_fails_read_exact_at_its_end() {
        let (_temp, mut file) = file_of(&pattern(300));
        let mut chunk = vec![0; WINDOW];
        let error = file.read_exact(&mut chunk).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
