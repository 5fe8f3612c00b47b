//! The chunks of an EVTX file in record order, for the direct decoder.
//!
//! This is the walk of the `evtx` crate's `EvtxParser::into_chunks`, step for step and with
//! the crate's own errors: start at the chunk whose header names the lowest record ID (a
//! full log writes each new chunk over its oldest, so the oldest can be anywhere), read to
//! the end of the file, then wrap around to the chunks before it; skip chunks that are all
//! zeros (left empty in a log's preallocated space); check each chunk's header (and, when
//! asked, its checksums) with the crate's [`EvtxChunkData::new`]. One thing differs: the
//! crate tells an empty chunk a byte at a time, which cost 3% of a hunt of the sample corpus
//! (many of its logs are a chunk of records in a megabyte of zeros); here a block at a time,
//! which the compiler turns into vector instructions, and not at all when the file knows
//! the chunk is zeros without reading it ([`KnownZeros`]: a hole of a sparse file).

use std::fs::File;
use std::io::{Cursor, Read, Seek, SeekFrom};

use evtx::err::{ChunkError, EvtxError};
use evtx::{EvtxChunkData, EvtxChunkHeader};

use crate::evtx::{CHUNK_HEADER, HEADER as FIRST_CHUNK};

/// The size of a chunk, as a length in memory.
const CHUNK: usize = crate::evtx::CHUNK as usize;

/// A file the chunk walk reads, which may know that some of its bytes are zeros without
/// reading them.
pub(crate) trait KnownZeros: Read + Seek {
    /// Whether the `len` bytes at `offset` are zeros, known without reading them (and
    /// before the end of the file); `false` when they are not or it is not known.
    fn known_zeros(&mut self, offset: u64, len: u64) -> bool {
        let _ = (offset, len);
        false
    }
}

impl KnownZeros for File {}

impl<B: AsRef<[u8]>> KnownZeros for Cursor<B> {}

#[cfg(unix)]
impl KnownZeros for crate::windowed_file::WindowedFile {
    fn known_zeros(&mut self, offset: u64, len: u64) -> bool {
        self.in_hole(offset, len)
    }
}

/// The chunks of one file in record order (see the module doc).
pub(crate) struct RecordOrderChunks<T> {
    /// The file.
    data: T,
    /// How many chunks the file's size holds after its header block, as the crate counts
    /// them: a chunk that fails to read at or past this number ends the pass to the end of
    /// the file quietly (the walk then wraps around to the first chunk).
    counted: u64,
    /// Whether chunk checksums are checked.
    validate_checksums: bool,
    /// The next chunk number to look at.
    next: u64,
    /// The chunk holding the oldest records, where the walk starts and, wrapped, ends.
    oldest: u64,
    /// Whether the walk has gone past the end of the file, on to its first chunk.
    wrapped: bool,
}

impl<T: KnownZeros> RecordOrderChunks<T> {
    /// The walk over `data`, whose file header says its header block is
    /// `header_block_size` bytes long; reads every chunk's header to find the oldest.
    ///
    /// # Errors
    ///
    /// The length of `data` cannot be found.
    pub(crate) fn new(
        mut data: T,
        header_block_size: u16,
        validate_checksums: bool,
    ) -> std::io::Result<Self> {
        let length = data.seek(SeekFrom::End(0))?;
        let counted = length.saturating_sub(u64::from(header_block_size)) / CHUNK as u64;
        let oldest = oldest_chunk(&mut data, counted);
        Ok(RecordOrderChunks {
            data,
            counted,
            validate_checksums,
            next: oldest,
            oldest,
            wrapped: false,
        })
    }

    /// The first chunk from `number` on, before `end`, that is not empty, and its number;
    /// `None` when there is none (a chunk that fails to read past the counted ones ends the
    /// file).
    fn find_from(
        &mut self,
        mut number: u64,
        end: u64,
    ) -> Option<(Result<EvtxChunkData, EvtxError>, u64)> {
        loop {
            if number >= end {
                return None;
            }
            match self.read_chunk(number) {
                Err(_) if number >= self.counted => return None,
                Err(error) => return Some((Err(error), number)),
                Ok(None) => number = number.checked_add(1)?,
                Ok(Some(chunk)) => return Some((Ok(chunk), number)),
            }
        }
    }

    /// Chunk `number`: `None` if it is all zeros.
    fn read_chunk(&mut self, number: u64) -> Result<Option<EvtxChunkData>, EvtxError> {
        let failed = |error| EvtxError::FailedToParseChunk {
            chunk_id: number,
            source: Box::new(error),
        };
        let offset = chunk_offset(number).ok_or_else(|| failed(ChunkError::IncompleteChunk))?;
        // A hole before the end of the file reads as a whole chunk of zeros.
        if self.data.known_zeros(offset, CHUNK as u64) {
            return Ok(None);
        }
        self.data
            .seek(SeekFrom::Start(offset))
            .map_err(|e| failed(ChunkError::FailedToSeekToChunk(e)))?;
        let mut bytes = Vec::with_capacity(CHUNK);
        let read = (&mut self.data)
            .take(CHUNK as u64)
            .read_to_end(&mut bytes)
            .map_err(|_| failed(ChunkError::IncompleteChunk))?;
        if read != CHUNK {
            return Err(failed(ChunkError::IncompleteChunk));
        }
        if all_zeros(&bytes) {
            return Ok(None);
        }
        let mut chunk = EvtxChunkData::new(bytes, self.validate_checksums).map_err(failed)?;
        chunk.number = Some(number);
        Ok(Some(chunk))
    }
}

impl<T: KnownZeros> Iterator for RecordOrderChunks<T> {
    type Item = Result<EvtxChunkData, EvtxError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Once it has wrapped around, the walk ends where it started.
            let end = if self.wrapped { self.oldest } else { u64::MAX };
            if let Some((chunk, number)) = self.find_from(self.next, end) {
                self.next = number.checked_add(1)?;
                return Some(chunk);
            }
            if self.wrapped || self.oldest == 0 {
                return None;
            }
            self.wrapped = true;
            self.next = 0;
        }
    }
}

/// The number of the chunk, among the `counted` ones, whose header names the lowest record
/// ID (the first chunk if none does); a header whose range of record IDs is reversed says
/// nothing. Stops at the first header that cannot be read.
fn oldest_chunk<T: KnownZeros>(data: &mut T, counted: u64) -> u64 {
    // With one chunk (most files of a triage collection) it is the first either way: its
    // header is not read twice.
    if counted <= 1 {
        return 0;
    }
    let mut oldest = (u64::MAX, 0);
    let mut header = [0; CHUNK_HEADER];
    for number in 0..counted {
        let Some(offset) = chunk_offset(number) else {
            break;
        };
        // A header of zeros has no magic, so it names no records.
        if data.known_zeros(offset, CHUNK_HEADER as u64) {
            continue;
        }
        if data.seek(SeekFrom::Start(offset)).is_err() || data.read_exact(&mut header).is_err() {
            break;
        }
        let Ok(chunk) = EvtxChunkHeader::from_bytes(&header) else {
            continue;
        };
        let (first, last) = (chunk.first_event_record_id, chunk.last_event_record_id);
        if first <= last && first < oldest.0 {
            oldest = (first, number);
        }
    }
    oldest.1
}

/// Where chunk `number` starts; `None` past what a file offset can say.
fn chunk_offset(number: u64) -> Option<u64> {
    number.checked_mul(CHUNK as u64)?.checked_add(FIRST_CHUNK)
}

/// Whether `bytes` are all zeros, a block at a time (a chunk of records fails on its first
/// block, which starts with the chunk's magic).
fn all_zeros(bytes: &[u8]) -> bool {
    bytes
        .chunks(4096)
        .all(|block| block.iter().fold(0, |acc, &b| acc | b) == 0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::io::Cursor;
    use std::path::PathBuf;

    /// Every EVTX file of the corpus (none when it is absent, which the corpus helper
    /// reports).
    fn corpus_files() -> Vec<PathBuf> {
        let Some(dir) = crate::evtx_direct::tests::corpus_dir() else {
            return Vec::new();
        };
        walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_map(Result::ok)
            .map(walkdir::DirEntry::into_path)
            .filter(|path| path.extension().is_some_and(|x| x == "evtx"))
            .collect()
    }

    /// What a walk gives, in a comparable form: each chunk's number and bytes, or the
    /// error's text.
    fn outline(chunks: impl Iterator<Item = Result<EvtxChunkData, EvtxError>>) -> Vec<String> {
        chunks
            .map(|chunk| match chunk {
                Ok(chunk) => format!(
                    "{:?} {} {:x}",
                    chunk.number,
                    chunk.data.len(),
                    digest(&chunk.data)
                ),
                Err(error) => format!("error: {error:?}"),
            })
            .collect()
    }

    fn digest(bytes: &[u8]) -> u64 {
        use std::hash::{DefaultHasher, Hasher};
        let mut hasher = DefaultHasher::new();
        hasher.write(bytes);
        hasher.finish()
    }

    fn ours(bytes: &[u8], validate: bool) -> Vec<String> {
        let header = evtx::EvtxFileHeader::from_stream(&mut Cursor::new(bytes)).unwrap();
        let walk =
            RecordOrderChunks::new(Cursor::new(bytes), header.header_block_size, validate).unwrap();
        outline(walk)
    }

    fn the_crate_s(bytes: &[u8], validate: bool) -> Vec<String> {
        let settings = evtx::ParserSettings::new().validate_checksums(validate);
        let parser = evtx::EvtxParser::from_read_seek(Cursor::new(bytes.to_vec()))
            .unwrap()
            .with_configuration(settings);
        outline(parser.into_chunks())
    }

    /// The walk of the file at `path` (whose bytes are `bytes`) read through a
    /// [`crate::windowed_file::WindowedFile`], and whether the file's last chunk is a hole.
    #[cfg(unix)]
    fn through_the_file(
        path: &std::path::Path,
        bytes: &[u8],
        validate: bool,
    ) -> (Vec<String>, bool) {
        let header = evtx::EvtxFileHeader::from_stream(&mut Cursor::new(bytes)).unwrap();
        let file = std::fs::File::open(path).unwrap();
        let mut windowed = crate::windowed_file::WindowedFile::new(file, bytes.len() as u64);
        let last = (bytes.len() as u64).saturating_sub(CHUNK as u64);
        let ends_in_hole = windowed.known_zeros(last, CHUNK as u64);
        let walk = RecordOrderChunks::new(windowed, header.header_block_size, validate).unwrap();
        (outline(walk), ends_in_hole)
    }

    #[test]
    fn the_walk_is_the_crate_s_on_every_file_of_the_corpus() {
        let files = corpus_files();
        #[cfg_attr(not(unix), allow(unused_mut))]
        let mut sparse = 0;
        for path in &files {
            let bytes = std::fs::read(path).unwrap();
            if evtx::EvtxParser::from_read_seek(Cursor::new(bytes.clone())).is_err() {
                continue;
            }
            for validate in [false, true] {
                let expected = the_crate_s(&bytes, validate);
                assert_eq!(ours(&bytes, validate), expected, "{}", path.display());
                // Through the file itself, whose holes (if it is sparse) are not read.
                #[cfg(unix)]
                {
                    let (walked, ends_in_hole) = through_the_file(path, &bytes, validate);
                    sparse += u32::from(validate && ends_in_hole);
                    assert_eq!(walked, expected, "{} read from the file", path.display());
                }
            }
        }
        eprintln!(
            "{} files of the corpus walked, {sparse} of them end in a hole",
            files.len()
        );
    }

    #[test]
    fn damaged_and_wrapped_files_walk_as_the_crate_walks_them() {
        let Some(path) = corpus_files()
            .into_iter()
            .filter(|path| std::fs::metadata(path).is_ok_and(|m| m.len() > 4 * CHUNK as u64))
            .min()
        else {
            return;
        };
        let original = std::fs::read(&path).unwrap();
        let first = FIRST_CHUNK as usize;
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        // The second chunk moved first: the oldest records are in the middle of the file.
        let mut rotated = original.clone();
        rotated[first..first + 2 * CHUNK].rotate_left(CHUNK);
        cases.push(("rotated", rotated));
        // A chunk's magic broken, and a chunk's records corrupted (a bad checksum).
        let mut broken = original.clone();
        broken[first + CHUNK] = b'X';
        broken[first + 2 * CHUNK + 1000] ^= 0xff;
        cases.push(("broken", broken));
        // An empty chunk in the middle, and the file cut inside its last chunk.
        let mut holed = original.clone();
        holed[first + CHUNK..first + 2 * CHUNK].fill(0);
        holed.truncate(original.len() - 100);
        cases.push(("holed and cut", holed));
        for (case, bytes) in &cases {
            for validate in [false, true] {
                assert_eq!(
                    ours(bytes, validate),
                    the_crate_s(bytes, validate),
                    "{case}, checksums checked: {validate}"
                );
            }
        }
        // The cases do what they are meant to.
        assert!(ours(&cases[0].1, false)[0].starts_with("Some(1) "));
        let broken = ours(&cases[1].1, true);
        assert!(broken[1].contains("chunk_id: 1"), "{broken:?}");
        assert!(broken[2].contains("chunk_id: 2"), "{broken:?}");
        assert!(!ours(&cases[1].1, false)[2].starts_with("error"));
        let holed = ours(&cases[2].1, false);
        assert!(holed[1].starts_with("Some(2) "), "{holed:?}");
    }

    #[test]
    fn a_block_that_is_not_zero_anywhere_is_seen() {
        let mut bytes = vec![0; CHUNK];
        assert!(all_zeros(&bytes));
        bytes[CHUNK - 1] = 1;
        assert!(!all_zeros(&bytes));
        bytes[CHUNK - 1] = 0;
        bytes[5000] = 0x80;
        assert!(!all_zeros(&bytes));
    }
}
