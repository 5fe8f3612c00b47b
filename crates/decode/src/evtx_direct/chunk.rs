//! A chunk's header, checksums, string table and names, read as the `evtx` crate reads them.
//!
//! The crate refuses a whole chunk when its header's magic is wrong, when (with checksums
//! checked) a CRC32 does not match, or when its string table cannot be read; so does this
//! module, with a [`Fallback`] that leaves such a chunk to the crate and its error messages.

use std::collections::HashMap;

use super::{Fallback, Outcome};

/// The size of a chunk's header, where its first record starts.
pub(super) const HEADER_SIZE: usize = 512;

/// The longest name decoded here, in UTF-16 units.
const MAX_NAME_UNITS: usize = 1024;

/// The most name text decoded for one chunk: more leaves the chunk to the crate, which
/// reads names in place.
const MAX_NAME_BYTES: usize = 1 << 20;

/// Above this capacity the names' text buffer is given back between chunks, so that one
/// hostile chunk does not leave a thread holding its memory.
const KEPT_NAME_CAPACITY: usize = 256 << 10;

/// What this decoder uses of a chunk's header.
pub(super) struct Header {
    /// The last record's number (the record header's), after which the walk stops.
    pub(super) last_record_id: u64,
    /// Where the free space starts: the end of the live records.
    pub(super) free_space_offset: u32,
}

/// Little-endian `u16` at `at`.
pub(super) fn u16_at(data: &[u8], at: usize) -> Outcome<u16> {
    match data.get(at..at.saturating_add(2)) {
        Some(&[a, b]) => Ok(u16::from_le_bytes([a, b])),
        _ => Err(Fallback::new("data past the end of the chunk")),
    }
}

/// Little-endian `u32` at `at`.
pub(super) fn u32_at(data: &[u8], at: usize) -> Outcome<u32> {
    match data.get(at..at.saturating_add(4)) {
        Some(&[a, b, c, d]) => Ok(u32::from_le_bytes([a, b, c, d])),
        _ => Err(Fallback::new("data past the end of the chunk")),
    }
}

/// Little-endian `u64` at `at`.
pub(super) fn u64_at(data: &[u8], at: usize) -> Outcome<u64> {
    let bytes = data
        .get(at..at.saturating_add(8))
        .ok_or_else(|| Fallback::new("data past the end of the chunk"))?;
    let mut word = [0u8; 8];
    word.copy_from_slice(bytes);
    Ok(u64::from_le_bytes(word))
}

/// Reads the header of `data` and, when asked, checks the chunk's checksums.
pub(super) fn header(data: &[u8], validate_checksums: bool) -> Outcome<Header> {
    if data.len() < HEADER_SIZE {
        return Err(Fallback::new("a chunk shorter than its header"));
    }
    if data.get(..8) != Some(b"ElfChnk\0".as_slice()) {
        return Err(Fallback::new("a chunk without the `ElfChnk` magic"));
    }
    let header = Header {
        last_record_id: u64_at(data, 32)?,
        free_space_offset: u32_at(data, 48)?,
    };
    let flags = u32_at(data, 120)?;
    if validate_checksums && flags & 4 == 0 {
        let mut crc = Crc32::new();
        crc.update(data.get(..120).unwrap_or_default());
        crc.update(data.get(128..HEADER_SIZE).unwrap_or_default());
        if crc.finish() != u32_at(data, 124)? {
            return Err(Fallback::new(
                "a chunk whose header checksum does not match",
            ));
        }
        let records = data
            .get(HEADER_SIZE..header.free_space_offset as usize)
            .ok_or_else(|| Fallback::new("a chunk whose free space offset is past its end"))?;
        let mut crc = Crc32::new();
        crc.update(records);
        if crc.finish() != u32_at(data, 52)? {
            return Err(Fallback::new(
                "a chunk whose records' checksum does not match",
            ));
        }
    }
    Ok(header)
}

/// CRC-32 (IEEE), as the chunk checksums use.
struct Crc32(u32);

/// The CRC-32 table of the reflected IEEE polynomial.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

impl Crc32 {
    fn new() -> Self {
        Crc32(!0)
    }

    fn update(&mut self, bytes: &[u8]) {
        let mut c = self.0;
        for &b in bytes {
            c = CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
        }
        self.0 = c;
    }

    fn finish(&self) -> u32 {
        !self.0
    }
}

/// One name of the chunk (of an element, attribute, entity or processing instruction).
struct Name {
    /// Where the name is in [`Names::text`].
    start: u32,
    end: u32,
    /// Whether the crate's JSON, which writes names unescaped, reads back as the name: no
    /// `"`, `\\` or control character in it.
    safe: bool,
    /// What the renderer asks of it (see [`Names::is`]).
    kind: NameKind,
    /// The first name of the chunk with the same text.
    canon: NameId,
}

/// Names the renderer tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NameKind {
    /// `Data`.
    Data,
    /// `EventData` or `UserData`: a data container.
    Container,
    /// `Name`.
    Name,
    /// Any other.
    Other,
}

/// The chunk's names, decoded once each, by the offset of their string-table entry (the
/// lists are kept from chunk to chunk).
#[derive(Default)]
pub(super) struct Names {
    /// The names, by [`NameId`].
    list: Vec<Name>,
    /// Their text, one after the other.
    text: String,
    /// The id of the name whose entry is at an offset.
    by_offset: HashMap<u32, u32, super::sink::MapHasher>,
    /// The first id of each text, by the text's hash.
    by_text: HashMap<u64, u32, super::sink::MapHasher>,
}

/// An index in [`Names::list`].
pub(super) type NameId = u32;

impl Names {
    /// Reads the string table the header lists (the crate refuses a chunk it cannot read),
    /// following each bucket's chain until it ends or comes back to a name already read.
    pub(super) fn read_table(&mut self, data: &[u8]) -> Outcome<()> {
        self.list.clear();
        self.text.clear();
        if self.text.capacity() > KEPT_NAME_CAPACITY {
            self.text.shrink_to(KEPT_NAME_CAPACITY);
        }
        self.by_offset.clear();
        self.by_text.clear();
        let names = self;
        for bucket in 0..64 {
            let mut offset = u32_at(data, 128 + bucket * 4)?;
            if offset == 0 {
                continue;
            }
            loop {
                if offset as usize > data.len() {
                    return Err(Fallback::new("a string table entry past the chunk"));
                }
                let next = u32_at(data, offset as usize)?;
                u16_at(data, offset as usize + 4)?;
                names.insert(data, offset, offset as usize + 6)?;
                if next > 0 && !names.by_offset.contains_key(&next) {
                    offset = next;
                } else {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Decodes the name at `data[at..]` (see [`decode_name`]), whose entry is at `offset`.
    fn insert(&mut self, data: &[u8], offset: u32, at: usize) -> Outcome<NameId> {
        let id = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        let start = self.text.len();
        if start > MAX_NAME_BYTES {
            return Err(Fallback::new("more than 1 MiB of names in one chunk"));
        }
        decode_name(data, at, &mut self.text)?;
        let text = self.text.get(start..).unwrap_or_default();
        let safe = !text.chars().any(|c| c == '"' || c == '\\' || c < ' ');
        let kind = match text {
            "Data" => NameKind::Data,
            "EventData" | "UserData" => NameKind::Container,
            "Name" => NameKind::Name,
            _ => NameKind::Other,
        };
        let hash = std::hash::BuildHasher::hash_one(&super::sink::MapHasher::default(), text);
        // Names are told apart by their hash: two different names with the same one (never
        // met in real logs, but an unkeyed hash can be collided on purpose) leave the chunk to the
        // crate, rather than have two same-named siblings taken for different names.
        let canon = match self.by_text.get(&hash) {
            Some(&canon) if self.text(canon) == text => canon,
            Some(_) => return Err(Fallback::new("two names with the same hash")),
            None => {
                self.by_text.insert(hash, id);
                id
            }
        };
        self.list.push(Name {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(self.text.len()).unwrap_or(u32::MAX),
            safe,
            kind,
            canon,
        });
        self.by_offset.insert(offset, id);
        Ok(id)
    }

    /// The name whose string-table entry is at `offset` (read there when the table did not
    /// list it, as the crate does).
    pub(super) fn at(&mut self, data: &[u8], offset: u32) -> Outcome<NameId> {
        let id = match self.by_offset.get(&offset) {
            Some(&id) => id,
            None => {
                let start = (offset as usize)
                    .checked_add(6)
                    .ok_or_else(|| Fallback::new("a name offset past the chunk"))?;
                self.insert(data, offset, start)?
            }
        };
        // A name that JSON would need escaped is written raw by the crate: leave it to it.
        match self.list.get(id as usize) {
            Some(name) if name.safe => Ok(id),
            _ => Err(Fallback::new("a name JSON would need escaped")),
        }
    }

    /// Whether name `id` is of `kind`.
    pub(super) fn is(&self, id: NameId, kind: NameKind) -> bool {
        self.list
            .get(id as usize)
            .is_some_and(|name| name.kind == kind)
    }

    /// The first name of the chunk with the text of name `id`: names with the same text
    /// have the same canon.
    pub(super) fn canon(&self, id: NameId) -> NameId {
        self.list.get(id as usize).map_or(id, |name| name.canon)
    }

    /// Whether names `a` and `b` have the same text.
    pub(super) fn same(&self, a: NameId, b: NameId) -> bool {
        let canon = |id: NameId| self.list.get(id as usize).map(|name| name.canon);
        a == b || (canon(a).is_some() && canon(a) == canon(b))
    }

    /// The text of name `id`.
    pub(super) fn text(&self, id: NameId) -> &str {
        self.list
            .get(id as usize)
            .and_then(|name| self.text.get(name.start as usize..name.end as usize))
            .unwrap_or_default()
    }
}

/// A length-prefixed, NUL-terminated UTF-16 name at `data[at..]`, up to its first NUL, which
/// must be valid UTF-16 (the crate refuses it otherwise).
fn decode_name(data: &[u8], at: usize, text: &mut String) -> Outcome<()> {
    let count = usize::from(u16_at(data, at)?);
    // Windows' names are short; long ones (up to 65,535 units each, and one entry can be
    // named from thousands of offsets) are left to the crate, which borrows them in place.
    if count > MAX_NAME_UNITS {
        return Err(Fallback::new("a name longer than 1,024 characters"));
    }
    let start = at + 2;
    let bytes = data
        .get(start..start + count * 2)
        .ok_or_else(|| Fallback::new("a name past the chunk"))?;
    // The terminating NUL must be there too.
    u16_at(data, start + count * 2)?;
    let units = bytes
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]))
        .take_while(|&u| u != 0);
    for ch in char::decode_utf16(units) {
        text.push(ch.map_err(|_| Fallback::new("a name that is not valid UTF-16"))?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_of_a_known_string() {
        let mut crc = Crc32::new();
        crc.update(b"123456789");
        assert_eq!(crc.finish(), 0xCBF4_3926);
    }

    /// A name entry's length and UTF-16 text, NUL-terminated.
    fn name_entry(units: &[u16]) -> Vec<u8> {
        let mut bytes = (units.len() as u16).to_le_bytes().to_vec();
        for unit in units.iter().chain(&[0]) {
            bytes.extend(unit.to_le_bytes());
        }
        bytes
    }

    #[test]
    fn names_longer_than_the_limit_are_left_to_the_crate() {
        let mut text = String::new();
        let short: Vec<u16> = "EventData".encode_utf16().collect();
        assert!(decode_name(&name_entry(&short), 0, &mut text).is_ok());
        assert_eq!(text, "EventData");
        let long = vec![0x4141; MAX_NAME_UNITS + 1];
        assert!(decode_name(&name_entry(&long), 0, &mut String::new()).is_err());
        let longest = vec![u16::from(b'a'); MAX_NAME_UNITS];
        assert!(decode_name(&name_entry(&longest), 0, &mut String::new()).is_ok());
    }
}
