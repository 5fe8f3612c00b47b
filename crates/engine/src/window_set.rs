//! A large set of short literals, searched by hashing every window of the text.
//!
//! The prefilter's literals are 3 to 8 bytes long (see `prefilter::usable`). For a field
//! whose rules require thousands of them (`CommandLine`, `Hashes`, `Image`), an
//! Aho-Corasick DFA is too large to stay in the cache and its NFA follows failure links on
//! nearly every byte: both walk one byte at a time, each step waiting for the last. Here
//! each position of the text instead reads the (lowercased) 8 bytes that start there once,
//! and for each literal length in the set masks that word to the length and tests its hash
//! in a bit set; only a set bit is checked against the literals themselves. A first bit set,
//! of the literals' first three bytes (literals are at least three bytes long), turns most
//! positions away before any length is tested. Positions do not depend on each other, so the
//! processor overlaps them, and the cost per byte grows with the number of distinct lengths
//! (at most six), not with the number of literals.

use foldhash::HashMap;

/// Bits of the filter per literal: about 3 % of the filter is set, so a test of a window
/// that holds no literal rarely goes on to the exact check.
const BITS_PER_LITERAL: usize = 32;

/// The shortest and longest literal this set can hold, in bytes.
pub(crate) const WINDOW_LENGTHS: std::ops::RangeInclusive<usize> = 3..=8;

/// The literals of one scope, grouped by length.
#[derive(Debug)]
pub(crate) struct WindowSet {
    /// One table per length present, shortest first.
    tables: Vec<LengthTable>,
    /// The filter shared by all lengths: bit `hash(window, length)` is set for each literal.
    filter: Vec<u64>,
    /// How far a 64-bit hash is shifted right to index `filter`.
    shift: u32,
    /// Bit `hash(first three bytes)` is set for each literal: most positions of a text start
    /// no literal, and this one test turns them away before the test of every length.
    starts: Vec<u64>,
    /// How far a 64-bit hash is shifted right to index `starts`.
    starts_shift: u32,
}

/// Bits of the filter of first three bytes per literal.
const START_BITS_PER_LITERAL: usize = 16;

/// The first three bytes of a window.
const START: u64 = 0xFF_FFFF;

/// The literals of one length.
#[derive(Debug)]
struct LengthTable {
    /// The length in bytes.
    len: usize,
    /// The low `len` bytes of a word.
    mask: u64,
    /// [`salt`] of `len`.
    salt: u64,
    /// The literal (its bytes as a little-endian word) to its index in the caller's list.
    literals: HashMap<u64, u32>,
}

/// A pattern whose length is outside [`WINDOW_LENGTHS`], by its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnfitLiteral(pub(crate) usize);

impl WindowSet {
    /// The set of `patterns` (each of [`WINDOW_LENGTHS`] bytes, ASCII case ignored); a match
    /// reports the pattern's index. A pattern of another length is refused with its index.
    pub(crate) fn build(patterns: &[&str]) -> Result<WindowSet, UnfitLiteral> {
        let bits = (patterns.len() * BITS_PER_LITERAL)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 22);
        let start_bits = (patterns.len() * START_BITS_PER_LITERAL)
            .next_power_of_two()
            .clamp(1 << 12, 1 << 18);
        let mut set = WindowSet {
            tables: Vec::new(),
            filter: vec![0; bits / 64],
            shift: 64 - bits.trailing_zeros(),
            starts: vec![0; start_bits / 64],
            starts_shift: 64 - start_bits.trailing_zeros(),
        };
        for (index, pattern) in patterns.iter().enumerate() {
            let bytes = pattern.as_bytes();
            if !WINDOW_LENGTHS.contains(&bytes.len()) {
                return Err(UnfitLiteral(index));
            }
            let word = lowercase(word_of(bytes));
            // Of several equal patterns the first is reported: the prefilter's are unique.
            let table = set.table_for(bytes.len());
            table.literals.entry(word).or_insert(index as u32);
            let slot = set.slot(salt(bytes.len()), word);
            set.filter[slot / 64] |= 1 << (slot % 64);
            let start = set.start_slot(word);
            set.starts[start / 64] |= 1 << (start % 64);
        }
        Ok(set)
    }

    fn table_for(&mut self, len: usize) -> &mut LengthTable {
        let at = match self.tables.binary_search_by_key(&len, |t| t.len) {
            Ok(at) => at,
            Err(at) => {
                self.tables.insert(at, LengthTable::new(len));
                at
            }
        };
        &mut self.tables[at]
    }

    /// The filter bit of a window whose length has `salt`. Multiplicative hashing: the
    /// high bits of the product depend on every byte of the window.
    #[inline(always)]
    fn slot(&self, salt: u64, window: u64) -> usize {
        ((window ^ salt).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    /// The bit of `starts` for a window's first three bytes.
    #[inline(always)]
    fn start_slot(&self, word: u64) -> usize {
        ((word & START).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.starts_shift) as usize
    }

    /// Whether some literal may start with the first three bytes of `word`.
    #[inline(always)]
    fn may_start(&self, word: u64) -> bool {
        let slot = self.start_slot(word);
        self.starts[slot / 64] & (1 << (slot % 64)) != 0
    }

    /// Calls `found` with the index of every pattern that occurs in `text`, ASCII case
    /// ignored; a pattern may be reported more than once.
    #[inline]
    pub(crate) fn for_each_match(&self, text: &[u8], mut found: impl FnMut(u32)) {
        let Some(shortest) = self.tables.first().map(|t| t.len) else {
            return;
        };
        if text.len() < shortest {
            return;
        }
        let whole_words = text.len().saturating_sub(7);
        for window in text.windows(8) {
            let word = lowercase(u64::from_le_bytes(window.try_into().unwrap_or([0; 8])));
            if self.may_start(word) {
                self.test_word(word, usize::MAX, &mut found);
            }
        }
        // The last positions, whose 8 bytes run past the end: only shorter lengths fit.
        for at in whole_words..=text.len() - shortest {
            let left = text.len() - at;
            let word = lowercase(word_of(&text[at..]));
            if self.may_start(word) {
                self.test_word(word, left, &mut found);
            }
        }
    }

    /// Tests the windows of `word` of every length up to `left` bytes.
    #[inline(always)]
    fn test_word(&self, word: u64, left: usize, found: &mut impl FnMut(u32)) {
        for table in &self.tables {
            if table.len > left {
                return;
            }
            let window = word & table.mask;
            let slot = self.slot(table.salt, window);
            if self.filter[slot / 64] & (1 << (slot % 64)) != 0 {
                if let Some(&index) = table.literals.get(&window) {
                    found(index);
                }
            }
        }
    }
}

impl LengthTable {
    fn new(len: usize) -> LengthTable {
        LengthTable {
            len,
            mask: if len >= 8 {
                u64::MAX
            } else {
                (1 << (8 * len)) - 1
            },
            salt: salt(len),
            literals: HashMap::default(),
        }
    }
}

/// What is mixed into the hash of a window of `len` bytes, so that one filter serves every
/// length.
fn salt(len: usize) -> u64 {
    (len as u64).wrapping_mul(0xA076_1D64_78BD_642F)
}

/// Up to 8 bytes as a little-endian word, zero-padded.
fn word_of(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    let len = bytes.len().min(8);
    word[..len].copy_from_slice(&bytes[..len]);
    u64::from_le_bytes(word)
}

/// The word with each ASCII capital letter lowercased; other bytes (non-ASCII included)
/// are kept, as `u8::to_ascii_lowercase` does byte by byte.
#[inline(always)]
fn lowercase(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = word & !HIGH;
    let from_a = low7 + ONES * u64::from(0x80 - b'A');
    let past_z = low7 + ONES * u64::from(0x80 - b'Z' - 1);
    let capital = from_a & !past_z & !word & HIGH;
    word | (capital >> 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(set: &WindowSet, text: &str) -> Vec<u32> {
        let mut found = Vec::new();
        set.for_each_match(text.as_bytes(), |index| found.push(index));
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The indexes of the patterns that occur in `text`, ASCII case ignored, the slow way.
    fn naive(patterns: &[&str], text: &str) -> Vec<u32> {
        let text = text.to_ascii_lowercase();
        (0..patterns.len() as u32)
            .filter(|&i| text.contains(&patterns[i as usize].to_ascii_lowercase()))
            .collect()
    }

    #[test]
    fn finds_every_length_anywhere_ignoring_ascii_case() {
        let patterns = ["abc", "whoa", "-enco", "\\temp\\", "mimikatz", "x.exe"];
        let set = WindowSet::build(&patterns).expect("fits");
        assert_eq!(
            matches(&set, "ABC"),
            [0],
            "a text as short as the shortest literal"
        );
        assert_eq!(matches(&set, "ab"), [] as [u32; 0]);
        assert_eq!(
            matches(&set, "C:\\TEMP\\X.EXE"),
            [3, 5],
            "at the end, past the last whole word"
        );
        assert_eq!(matches(&set, "powershell -EncodedCommand"), [2]);
        assert_eq!(matches(&set, "MimiKatz.exe whoami"), [1, 4]);
        assert_eq!(
            matches(&set, "nothing here at all, not one"),
            [] as [u32; 0]
        );
    }

    #[test]
    fn keeps_non_ascii_bytes_and_folds_only_ascii() {
        let set = WindowSet::build(&["été", "straße"]).expect("fits");
        assert_eq!(matches(&set, "UN ÉTÉ"), [] as [u32; 0], "É is not folded");
        assert_eq!(matches(&set, "un été"), [0]);
        assert_eq!(matches(&set, "STRAßE"), [1]);
    }

    #[test]
    fn refuses_a_literal_of_another_length() {
        assert_eq!(
            WindowSet::build(&["abc", "ab"]).err(),
            Some(UnfitLiteral(1))
        );
        assert_eq!(
            WindowSet::build(&["abcdefghi"]).err(),
            Some(UnfitLiteral(0))
        );
    }

    #[test]
    fn agrees_with_a_naive_search_on_random_texts() {
        // A small alphabet makes literals occur often, at every offset and in overlaps.
        let alphabet = b"abAB-\\.x";
        let mut seed = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut random = |len: usize| -> String {
            (0..len)
                .map(|_| alphabet[next(alphabet.len())] as char)
                .collect()
        };
        let owned: Vec<String> = (0..300).map(|i| random(3 + i % 6)).collect();
        let patterns: Vec<&str> = owned.iter().map(String::as_str).collect();
        let set = WindowSet::build(&patterns).expect("fits");
        for len in 0..80 {
            let text = random(len);
            let mut expected = naive(&patterns, &text);
            // Equal patterns report the first of them.
            expected.retain(|&i| {
                patterns[..i as usize]
                    .iter()
                    .all(|p| !p.eq_ignore_ascii_case(patterns[i as usize]))
            });
            assert_eq!(matches(&set, &text), expected, "{text:?}");
        }
    }

    #[test]
    fn lowercases_eight_bytes_at_once_as_byte_by_byte() {
        for word in [
            *b"AZaz@[`{",
            *b"\x80\xC3\x89Z\xFFA0m",
            *b"\x00\x7F\xC1\xDA\xE1QRS",
        ] {
            let expected: Vec<u8> = word.iter().map(u8::to_ascii_lowercase).collect();
            let got = lowercase(u64::from_le_bytes(word)).to_le_bytes();
            assert_eq!(got.to_vec(), expected, "{word:?}");
        }
    }
}
