//! Substitution and literal values of BinXML, read in place from the chunk, and their text.
//!
//! Each value keeps a borrowed window of the chunk instead of a decoded copy; its text is
//! written only when a field needs it. The text is exactly what the `evtx` crate's JSON
//! renderer writes for the value (inside or outside quotes), so that the fields equal
//! those the crate's JSON flattens to.

use super::{Fallback, Outcome};

/// UTF-16LE text as the `evtx` crate keeps it: the window it was read from and how many
/// code units of it count (up to the first NUL). Equality compares both, as the crate's does
/// (it tells repeated `Data` names apart by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Utf16<'c> {
    /// The bytes read, the NUL and what follows it included.
    pub(super) bytes: &'c [u8],
    /// The code units before the first NUL.
    pub(super) units: u32,
}

impl<'c> Utf16<'c> {
    /// No text.
    pub(super) const EMPTY: Utf16<'static> = Utf16 {
        bytes: &[],
        units: 0,
    };

    /// `bytes` (an even number of them) up to the first NUL code unit.
    pub(super) fn until_nul(bytes: &'c [u8]) -> Self {
        let units = bytes
            .chunks_exact(2)
            .position(|unit| unit == [0, 0])
            .unwrap_or(bytes.len() / 2);
        Utf16 {
            bytes,
            units: u32::try_from(units).unwrap_or(u32::MAX),
        }
    }

    /// Whether there is no text.
    pub(super) fn is_empty(&self) -> bool {
        self.units == 0 || self.bytes.is_empty()
    }

    /// The code units that count.
    fn counted(&self) -> &'c [u8] {
        let end = (self.units as usize)
            .saturating_mul(2)
            .min(self.bytes.len() & !1);
        self.bytes.get(..end).unwrap_or_default()
    }

    /// The text as a string allocated at its size (see [`Utf16::push_to`]).
    pub(super) fn to_boxed(self) -> Box<str> {
        let bytes = self.counted();
        if is_ascii_utf16(bytes) {
            let ascii: Vec<u8> = bytes.chunks_exact(2).map(|unit| unit[0]).collect();
            if let Ok(text) = String::from_utf8(ascii) {
                return text.into_boxed_str();
            }
        }
        let mut out = String::with_capacity(bytes.len() / 2 + 8);
        self.push_to(&mut out);
        out.into_boxed_str()
    }

    /// Appends the text, a lone surrogate as U+FFFD (as the crate's JSON writer does).
    pub(super) fn push_to(&self, out: &mut String) {
        let bytes = self.counted();
        if is_ascii_utf16(bytes) {
            out.extend(bytes.chunks_exact(2).map(|unit| char::from(unit[0])));
            return;
        }
        out.reserve(bytes.len() / 2);
        // ASCII runs (nearly all text) go in a block at a time.
        let mut ascii = [0u8; 64];
        let mut filled = 0usize;
        let mut units = bytes
            .chunks_exact(2)
            .map(|u| u16::from_le_bytes([u[0], u[1]]));
        let mut pending: Option<u16> = None;
        loop {
            let unit = match pending.take() {
                Some(unit) => unit,
                None => match units.next() {
                    Some(unit) => unit,
                    None => break,
                },
            };
            if unit < 0x80 {
                if let Some(slot) = ascii.get_mut(filled) {
                    *slot = unit as u8;
                    filled += 1;
                    continue;
                }
                flush_ascii(&ascii[..filled], out);
                filled = 0;
                pending = Some(unit);
                continue;
            }
            flush_ascii(&ascii[..filled], out);
            filled = 0;
            if (0xD800..0xDC00).contains(&unit) {
                match units.next() {
                    Some(low) if (0xDC00..0xE000).contains(&low) => {
                        let code = 0x10000
                            + ((u32::from(unit) - 0xD800) << 10)
                            + (u32::from(low) - 0xDC00);
                        out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                    }
                    Some(other) => {
                        out.push('\u{FFFD}');
                        pending = Some(other);
                    }
                    None => out.push('\u{FFFD}'),
                }
                continue;
            }
            out.push(char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}'));
        }
        flush_ascii(&ascii[..filled], out);
    }
}

/// Whether UTF-16LE `bytes` are all ASCII.
fn is_ascii_utf16(bytes: &[u8]) -> bool {
    // Eight bytes (four code units) at a time: a unit is ASCII when its bits above the
    // lowest seven are clear.
    let mut words = bytes.chunks_exact(8);
    let mut seen = 0u64;
    for word in &mut words {
        let mut array = [0u8; 8];
        array.copy_from_slice(word);
        seen |= u64::from_le_bytes(array);
    }
    for unit in words.remainder().chunks_exact(2) {
        if let [lo, hi] = unit {
            seen |= u64::from(u16::from_le_bytes([*lo, *hi]));
        }
    }
    seen & 0xFF80_FF80_FF80_FF80 == 0
}

/// Appends ASCII bytes.
fn flush_ascii(bytes: &[u8], out: &mut String) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        out.push_str(text);
    }
}

/// Text of a node: UTF-16 from the chunk, or an ANSI string value (its raw bytes, NULs
/// included, decoded as Windows-1252 when written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Text<'c> {
    /// UTF-16LE text.
    Utf16(Utf16<'c>),
    /// An ANSI string's bytes; NULs are dropped when it is decoded.
    Ansi(&'c [u8]),
}

impl Text<'_> {
    /// Whether the text is empty.
    pub(super) fn is_empty(&self) -> bool {
        match self {
            Text::Utf16(text) => text.is_empty(),
            Text::Ansi(bytes) => bytes.iter().all(|&b| b == 0),
        }
    }

    /// The text as a string allocated at its size.
    pub(super) fn to_boxed(self) -> Box<str> {
        match self {
            Text::Utf16(text) => text.to_boxed(),
            Text::Ansi(bytes) => {
                let mut out = String::with_capacity(bytes.len());
                push_ansi(bytes, &mut out);
                out.into_boxed_str()
            }
        }
    }

    /// Appends the text.
    pub(super) fn push_to(&self, out: &mut String) {
        match self {
            Text::Utf16(text) => text.push_to(out),
            Text::Ansi(bytes) => push_ansi(bytes, out),
        }
    }
}

/// Appends Windows-1252 `bytes` without their NULs (the crate's default ANSI code page).
fn push_ansi(bytes: &[u8], out: &mut String) {
    for &byte in bytes.iter().filter(|&&b| b != 0) {
        if byte < 0x80 {
            out.push(char::from(byte));
        } else {
            let one = [byte];
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&one);
            out.push_str(&text);
        }
    }
}

/// Compares two ANSI values as the crate does: by their text without NULs.
fn ansi_eq(a: &[u8], b: &[u8]) -> bool {
    a.iter()
        .filter(|&&x| x != 0)
        .eq(b.iter().filter(|&&x| x != 0))
}

/// One value of a substitution array or a literal value token.
#[derive(Debug, Clone, Copy)]
pub(super) enum Val<'c> {
    /// `NullType`, or an empty BinXML value.
    Null,
    /// UTF-16 string.
    Str(Utf16<'c>),
    /// ANSI string (raw bytes).
    Ansi(&'c [u8]),
    /// Signed 8-bit integer.
    I8(i8),
    /// Unsigned 8-bit integer.
    U8(u8),
    /// Signed 16-bit integer.
    I16(i16),
    /// Unsigned 16-bit integer.
    U16(u16),
    /// Signed 32-bit integer (and a boolean that is neither 0 nor 1).
    I32(i32),
    /// Unsigned 32-bit integer.
    U32(u32),
    /// Signed 64-bit integer.
    I64(i64),
    /// Unsigned 64-bit integer.
    U64(u64),
    /// Boolean.
    Bool(bool),
    /// Bytes, written as upper-case hex.
    Binary(&'c [u8]),
    /// GUID (16 bytes).
    Guid(&'c [u8]),
    /// FILETIME.
    FileTime(u64),
    /// SYSTEMTIME (16 bytes).
    SysTime(&'c [u8]),
    /// SID bytes.
    Sid(&'c [u8]),
    /// 32-bit hex integer (and a 4-byte `SizeT`).
    Hex32(u32),
    /// 64-bit hex integer (and an 8-byte `SizeT`).
    Hex64(u64),
    /// An embedded BinXML fragment: the index of its template instance in the record.
    Fragment(u32),
    /// A string array.
    StrArray(StrArray<'c>),
}

/// A string array value: UTF-16 strings, each ending with a NUL, the last one included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StrArray<'c>(&'c [u8]);

impl<'c> StrArray<'c> {
    /// The items.
    pub(super) fn items(&self) -> impl Iterator<Item = Utf16<'c>> {
        let bytes = self.0;
        let mut start = 0usize;
        bytes
            .chunks_exact(2)
            .enumerate()
            .filter(|(_, unit)| *unit == [0, 0])
            .map(move |(i, _)| {
                let item = bytes.get(start..2 * i).unwrap_or_default();
                start = 2 * i + 2;
                Utf16 {
                    bytes: item,
                    units: u32::try_from(item.len() / 2).unwrap_or(u32::MAX),
                }
            })
    }

    /// How many items there are.
    pub(super) fn count(&self) -> usize {
        self.0
            .chunks_exact(2)
            .filter(|unit| *unit == [0, 0])
            .count()
    }

    /// The array's size in bytes: what a [`StrArray::count`] or [`StrArray::item`] reads
    /// at most.
    pub(super) fn byte_len(&self) -> usize {
        self.0.len()
    }

    /// Item `index`.
    pub(super) fn item(&self, index: usize) -> Option<Utf16<'c>> {
        self.items().nth(index)
    }
}

impl PartialEq for Val<'_> {
    fn eq(&self, other: &Self) -> bool {
        use Val::*;
        match (self, other) {
            (Null, Null) => true,
            (Str(a), Str(b)) => a == b,
            (Ansi(a), Ansi(b)) => ansi_eq(a, b),
            (I8(a), I8(b)) => a == b,
            (U8(a), U8(b)) => a == b,
            (I16(a), I16(b)) => a == b,
            (U16(a), U16(b)) => a == b,
            (I32(a), I32(b)) => a == b,
            (U32(a), U32(b)) => a == b,
            (I64(a), I64(b)) => a == b,
            (U64(a), U64(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Binary(a), Binary(b)) | (Guid(a), Guid(b)) | (SysTime(a), SysTime(b)) => a == b,
            (Sid(a), Sid(b)) => a == b,
            (FileTime(a), FileTime(b)) => a == b,
            (Hex32(a), Hex32(b)) => a == b,
            (Hex64(a), Hex64(b)) => a == b,
            (StrArray(a), StrArray(b)) => a == b,
            // Fragments become elements, which never compare equal in the crate's tree.
            _ => false,
        }
    }
}

impl<'c> Val<'c> {
    /// Whether an optional substitution of this value is left out (and an element holding
    /// only it is empty): the crate's `is_optional_empty`.
    pub(super) fn is_optional_empty(&self) -> bool {
        match self {
            Val::Null => true,
            Val::Str(text) => text.is_empty(),
            Val::Ansi(bytes) => bytes.iter().all(|&b| b == 0),
            Val::Binary(bytes) => bytes.is_empty(),
            Val::StrArray(items) => items.0.is_empty(),
            _ => false,
        }
    }

    /// The field value when the crate writes this value as a bare JSON number or boolean.
    pub(super) fn bare(&self) -> Option<tocsin_event::Value> {
        use tocsin_event::Value;
        Some(match *self {
            Val::I8(v) => Value::Int(v.into()),
            Val::U8(v) => Value::Int(v.into()),
            Val::I16(v) => Value::Int(v.into()),
            Val::U16(v) => Value::Int(v.into()),
            Val::I32(v) => Value::Int(v.into()),
            Val::U32(v) => Value::Int(v.into()),
            Val::I64(v) => Value::Int(v),
            Val::U64(v) => match i64::try_from(v) {
                Ok(v) => Value::Int(v),
                // serde_json reads it as a u64, which the flattener keeps as a float.
                Err(_) => Value::Float(v as f64),
            },
            Val::Bool(v) => Value::Bool(v),
            _ => return None,
        })
    }

    /// Appends the value's text, as the crate writes it inside a JSON string.
    pub(super) fn push_text(&self, out: &mut String) -> Outcome<()> {
        match *self {
            Val::Null => {}
            Val::Str(text) => text.push_to(out),
            Val::Ansi(bytes) => push_ansi(bytes, out),
            Val::I8(v) => push_int(out, v),
            Val::U8(v) => push_int(out, v),
            Val::I16(v) => push_int(out, v),
            Val::U16(v) => push_int(out, v),
            Val::I32(v) => push_int(out, v),
            Val::U32(v) => push_int(out, v),
            Val::I64(v) => push_int(out, v),
            Val::U64(v) => push_int(out, v),
            Val::Bool(v) => out.push_str(if v { "true" } else { "false" }),
            Val::Binary(bytes) => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.reserve(bytes.len() * 2);
                for &b in bytes {
                    out.push(char::from(HEX[usize::from(b >> 4)]));
                    out.push(char::from(HEX[usize::from(b & 15)]));
                }
            }
            Val::Guid(bytes) => push_guid(out, bytes)?,
            Val::FileTime(v) => push_datetime(out, filetime_fields(v)),
            Val::SysTime(bytes) => push_datetime(out, systime_fields(bytes)?),
            Val::Sid(bytes) => push_sid(out, bytes),
            Val::Hex32(v) => push_hex(out, u64::from(v)),
            Val::Hex64(v) => push_hex(out, v),
            Val::Fragment(_) => return Err(Fallback::new("a BinXML fragment used as text")),
            Val::StrArray(items) => {
                for (i, item) in items.items().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.push_to(out);
                }
            }
        }
        Ok(())
    }
}

/// Appends `0x` and `v` in lower-case hex, without leading zeros.
fn push_hex(out: &mut String, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 18];
    text[0] = b'0';
    text[1] = b'x';
    let digits = (64 - v.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, slot) in text.iter_mut().skip(2).take(digits).enumerate() {
        *slot = HEX[((v >> (4 * (digits - 1 - i))) & 15) as usize];
    }
    push_ascii(out, text.get(..2 + digits).unwrap_or_default());
}

/// Appends an integer in decimal.
fn push_int<I: itoa_like::Int>(out: &mut String, v: I) {
    v.push_to(out);
}

/// Decimal integers without going through `fmt`.
mod itoa_like {
    /// An integer type that can append its decimal form.
    pub(super) trait Int: Copy {
        /// Appends the decimal form of `self`.
        fn push_to(self, out: &mut String);
    }

    /// Appends the decimal digits of `v` (with `-` when `negative`).
    fn push_u64(out: &mut String, negative: bool, mut v: u64) {
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        loop {
            at -= 1;
            if let Some(slot) = buf.get_mut(at) {
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || at == 0 {
                break;
            }
        }
        if negative {
            out.push('-');
        }
        for &digit in buf.get(at..).unwrap_or_default() {
            out.push(char::from(digit));
        }
    }

    macro_rules! signed {
        ($($t:ty),*) => {$(
            impl Int for $t {
                fn push_to(self, out: &mut String) {
                    push_u64(out, self < 0, i64::from(self).unsigned_abs());
                }
            }
        )*};
    }
    macro_rules! unsigned {
        ($($t:ty),*) => {$(
            impl Int for $t {
                fn push_to(self, out: &mut String) {
                    push_u64(out, false, u64::from(self));
                }
            }
        )*};
    }
    signed!(i8, i16, i32, i64);
    unsigned!(u8, u16, u32, u64);
}

/// A GUID as Windows writes it: `{d1-d2-d3-d4[0..2]-d4[2..8]}`, lower case.
fn push_guid(out: &mut String, bytes: &[u8]) -> Outcome<()> {
    const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if bytes.len() != 16 {
        return Err(Fallback::new("a GUID of the wrong size"));
    }
    let mut text = [0u8; 38];
    let mut len = 0usize;
    let mut put = |byte: u8| {
        if let Some(slot) = text.get_mut(len) {
            *slot = byte;
            len += 1;
        }
    };
    put(b'{');
    for (i, &at) in ORDER.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            put(b'-');
        }
        let b = bytes.get(at).copied().unwrap_or(0);
        put(HEX[usize::from(b >> 4)]);
        put(HEX[usize::from(b & 15)]);
    }
    put(b'}');
    push_ascii(out, &text);
    Ok(())
}

/// A SID as `S-R-A-S1-…`: revision, 48-bit big-endian authority, then the sub-authorities
/// (little-endian) its count names and the bytes hold.
fn push_sid(out: &mut String, bytes: &[u8]) {
    let [revision, count, a0, a1, a2, a3, a4, a5, subs @ ..] = bytes else {
        out.push_str("S-?");
        return;
    };
    let authority = u64::from_be_bytes([0, 0, *a0, *a1, *a2, *a3, *a4, *a5]);
    out.push_str("S-");
    push_int(out, *revision);
    out.push('-');
    push_int(out, authority);
    for sub in subs.chunks_exact(4).take(usize::from(*count)) {
        out.push('-');
        push_int(out, u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]]));
    }
}

/// The parts of a date and time as the crate writes them.
#[derive(Default)]
struct DateTime {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 100 ns ticks within the second.
    ticks: u32,
}

const TICKS_PER_SEC: u64 = 10_000_000;
const TICKS_PER_DAY: u64 = 86_400 * TICKS_PER_SEC;

/// A FILETIME's date and time; a value past `i64::MAX` is all zeros, a year past 9999 keeps
/// its last four digits.
fn filetime_fields(filetime: u64) -> DateTime {
    if filetime > i64::MAX as u64 {
        return DateTime::default();
    }
    let (days, ticks) = (filetime / TICKS_PER_DAY, filetime % TICKS_PER_DAY);
    // Days since 0000-03-01 (Howard Hinnant's civil_from_days).
    let z = days + 584_694;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    let secs = ticks / TICKS_PER_SEC;
    DateTime {
        year: (year % 10_000) as u32,
        month: month as u32,
        day: day as u32,
        hour: (secs / 3_600) as u32,
        minute: (secs / 60 % 60) as u32,
        second: (secs % 60) as u32,
        ticks: (ticks % TICKS_PER_SEC) as u32,
    }
}

/// A SYSTEMTIME's date and time; one Windows would not take renders as 1601-01-01.
fn systime_fields(bytes: &[u8]) -> Outcome<DateTime> {
    let field = |i: usize| -> u32 {
        match bytes.get(2 * i..2 * i + 2) {
            Some(&[lo, hi]) => u32::from(u16::from_le_bytes([lo, hi])),
            _ => 0,
        }
    };
    if bytes.len() != 16 {
        return Err(Fallback::new("a SYSTEMTIME of the wrong size"));
    }
    let (year, month, day) = (field(0), field(1), field(3));
    let (hour, minute, second, millis) = (field(4), field(5), field(6), field(7));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let valid = (1601..=30827).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60
        && millis < 1_000;
    Ok(if valid {
        DateTime {
            year: year % 10_000,
            month,
            day,
            hour,
            minute,
            second,
            ticks: millis * 10_000,
        }
    } else {
        DateTime {
            year: 1601,
            month: 1,
            day: 1,
            ..DateTime::default()
        }
    })
}

/// `YYYY-MM-DDTHH:MM:SS.fffffffZ`, each part zero-padded to its width (and cut to it).
fn push_datetime(out: &mut String, dt: DateTime) {
    /// Fills `digits` with the lowest digits of `value`, zero-padded.
    fn digits(digits: &mut [u8], mut value: u32) {
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    let mut text = *b"0000-00-00T00:00:00.0000000Z";
    for (range, value) in [
        (0..4, dt.year),
        (5..7, dt.month),
        (8..10, dt.day),
        (11..13, dt.hour),
        (14..16, dt.minute),
        (17..19, dt.second),
        (20..27, dt.ticks),
    ] {
        if let Some(slot) = text.get_mut(range) {
            digits(slot, value);
        }
    }
    push_ascii(out, &text);
}

/// Appends ASCII `bytes` (anything else is dropped, which never happens here).
fn push_ascii(out: &mut String, bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        out.push_str(text);
    }
}

/// Reads the value of type `ty` that a substitution descriptor says is `size` bytes at
/// `data[at..]`. `None` (a fallback) for types this decoder leaves to the crate (reals,
/// arrays, handles) and for a value whose size does not match its type.
pub(super) fn read_sized<'c>(ty: u8, data: &'c [u8], at: usize, size: usize) -> Outcome<Val<'c>> {
    let end = at
        .checked_add(size)
        .ok_or_else(|| Fallback::new("a value past the chunk"))?;
    let bytes = data
        .get(at..end)
        .ok_or_else(|| Fallback::new("a value past the chunk"))?;
    let fixed = |width: usize| -> Outcome<&'c [u8]> {
        if size == width {
            Ok(bytes)
        } else {
            Err(Fallback::new("a value whose size does not match its type"))
        }
    };
    Ok(match ty {
        0x00 => Val::Null,
        0x01 => {
            if !size.is_multiple_of(2) {
                return Err(Fallback::new("a UTF-16 value of an odd size"));
            }
            if size == 0 {
                Val::Str(Utf16::EMPTY)
            } else {
                Val::Str(Utf16::until_nul(bytes))
            }
        }
        0x02 => {
            // Windows-1252 maps every byte, so the crate's strict decoding never fails.
            Val::Ansi(bytes)
        }
        0x03 => Val::I8(i8::from_le_bytes(arr(fixed(1)?)?)),
        0x04 => Val::U8(u8::from_le_bytes(arr(fixed(1)?)?)),
        0x05 => Val::I16(i16::from_le_bytes(arr(fixed(2)?)?)),
        0x06 => Val::U16(u16::from_le_bytes(arr(fixed(2)?)?)),
        0x07 => Val::I32(i32::from_le_bytes(arr(fixed(4)?)?)),
        0x08 => Val::U32(u32::from_le_bytes(arr(fixed(4)?)?)),
        0x09 => Val::I64(i64::from_le_bytes(arr(fixed(8)?)?)),
        0x0a => Val::U64(u64::from_le_bytes(arr(fixed(8)?)?)),
        0x0d => match i32::from_le_bytes(arr(fixed(4)?)?) {
            0 => Val::Bool(false),
            1 => Val::Bool(true),
            raw => Val::I32(raw),
        },
        0x0e => Val::Binary(bytes),
        0x0f => Val::Guid(fixed(16)?),
        0x10 => match size {
            4 => Val::Hex32(u32::from_le_bytes(arr(bytes)?)),
            8 => Val::Hex64(u64::from_le_bytes(arr(bytes)?)),
            _ => return Err(Fallback::new("a SizeT value of another size than 4 or 8")),
        },
        0x11 => Val::FileTime(u64::from_le_bytes(arr(fixed(8)?)?)),
        0x12 => Val::SysTime(fixed(16)?),
        0x13 => {
            let count = usize::from(*bytes.get(1).unwrap_or(&0));
            if bytes.len() < 8 {
                return Err(Fallback::new("a SID value too short"));
            }
            Val::Sid(fixed(8 + 4 * count)?)
        }
        0x14 => Val::Hex32(u32::from_le_bytes(arr(fixed(4)?)?)),
        0x15 => Val::Hex64(u64::from_le_bytes(arr(fixed(8)?)?)),
        0x0b | 0x0c => return Err(Fallback::new("a real value")),
        0x81 => {
            // NUL-terminated strings; the crate reads a last one without its NUL past the
            // value, which is left to it.
            if !size.is_multiple_of(2) || (size > 0 && !bytes.ends_with(&[0, 0])) {
                return Err(Fallback::new("a string array value without its last NUL"));
            }
            Val::StrArray(StrArray(bytes))
        }
        0x82..=0x95 => return Err(Fallback::new("an array value other than strings")),
        _ => {
            return Err(Fallback::new(
                "a value type this decoder leaves to the crate",
            ))
        }
    })
}

/// Reads a literal value token's value (unsized) at `data[*at..]`, moving `at` past it.
pub(super) fn read_unsized<'c>(ty: u8, data: &'c [u8], at: &mut usize) -> Outcome<Val<'c>> {
    let take = |at: &mut usize, n: usize| -> Outcome<&'c [u8]> {
        let end = at
            .checked_add(n)
            .ok_or_else(|| Fallback::new("a value past the chunk"))?;
        let bytes = data
            .get(*at..end)
            .ok_or_else(|| Fallback::new("a value past the chunk"))?;
        *at = end;
        Ok(bytes)
    };
    Ok(match ty {
        0x00 => Val::Null,
        0x01 => {
            let count = usize::from(u16::from_le_bytes(arr(take(at, 2)?)?));
            if count == 0 {
                Val::Str(Utf16::EMPTY)
            } else {
                Val::Str(Utf16::until_nul(take(at, count * 2)?))
            }
        }
        0x03 => Val::I8(i8::from_le_bytes(arr(take(at, 1)?)?)),
        0x04 => Val::U8(u8::from_le_bytes(arr(take(at, 1)?)?)),
        0x05 => Val::I16(i16::from_le_bytes(arr(take(at, 2)?)?)),
        0x06 => Val::U16(u16::from_le_bytes(arr(take(at, 2)?)?)),
        0x07 => Val::I32(i32::from_le_bytes(arr(take(at, 4)?)?)),
        0x08 => Val::U32(u32::from_le_bytes(arr(take(at, 4)?)?)),
        0x09 => Val::I64(i64::from_le_bytes(arr(take(at, 8)?)?)),
        0x0a => Val::U64(u64::from_le_bytes(arr(take(at, 8)?)?)),
        0x0d => match i32::from_le_bytes(arr(take(at, 4)?)?) {
            0 => Val::Bool(false),
            1 => Val::Bool(true),
            raw => Val::I32(raw),
        },
        0x0f => Val::Guid(take(at, 16)?),
        0x11 => Val::FileTime(u64::from_le_bytes(arr(take(at, 8)?)?)),
        0x12 => Val::SysTime(take(at, 16)?),
        0x13 => {
            let count = usize::from(*data.get(at.saturating_add(1)).unwrap_or(&0));
            if data.get(*at..at.saturating_add(8)).is_none() {
                return Err(Fallback::new("a SID value past the chunk"));
            }
            Val::Sid(take(at, 8 + 4 * count)?)
        }
        0x14 => Val::Hex32(u32::from_le_bytes(arr(take(at, 4)?)?)),
        0x15 => Val::Hex64(u64::from_le_bytes(arr(take(at, 8)?)?)),
        _ => {
            return Err(Fallback::new(
                "a literal value type this decoder leaves to the crate",
            ))
        }
    })
}

/// `bytes` as an array of exactly `N` bytes.
fn arr<const N: usize>(bytes: &[u8]) -> Outcome<[u8; N]> {
    bytes
        .try_into()
        .map_err(|_| Fallback::new("a value of the wrong size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: Val<'_>) -> String {
        let mut out = String::new();
        v.push_text(&mut out).unwrap();
        out
    }

    #[test]
    fn values_render_as_the_crate_writes_them() {
        assert_eq!(text(Val::I8(-128)), "-128");
        assert_eq!(text(Val::U64(u64::MAX)), "18446744073709551615");
        assert_eq!(text(Val::I64(i64::MIN)), "-9223372036854775808");
        assert_eq!(text(Val::Hex32(0)), "0x0");
        assert_eq!(text(Val::Hex64(0xABC)), "0xabc");
        assert_eq!(text(Val::Binary(&[0x0f, 0xa0])), "0FA0");
        let guid = [
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        assert_eq!(
            text(Val::Guid(&guid)),
            "{00112233-4455-6677-8899-aabbccddeeff}"
        );
        assert_eq!(
            text(Val::Sid(&[
                1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 32, 2, 0, 0
            ])),
            "S-1-5-32-544"
        );
        assert_eq!(text(Val::FileTime(0)), "1601-01-01T00:00:00.0000000Z");
        assert_eq!(
            text(Val::FileTime(u64::MAX)),
            "0000-00-00T00:00:00.0000000Z"
        );
        assert_eq!(
            text(Val::FileTime(132_223_104_000_000_001)),
            "2020-01-01T00:00:00.0000001Z"
        );
        let mut st = [0u8; 16];
        for (i, v) in [2020u16, 2, 0, 29, 23, 59, 58, 999].iter().enumerate() {
            st[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        }
        assert_eq!(text(Val::SysTime(&st)), "2020-02-29T23:59:58.9990000Z");
        st[6..8].copy_from_slice(&30u16.to_le_bytes());
        assert_eq!(text(Val::SysTime(&st)), "1601-01-01T00:00:00.0000000Z");
    }

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn string_arrays_split_at_each_nul_and_join_with_commas() {
        let bytes = utf16("ab\0\0c\0");
        let value = read_sized(0x81, &bytes, 0, bytes.len()).unwrap();
        let Val::StrArray(items) = value else {
            panic!("{value:?}")
        };
        assert_eq!(items.count(), 3);
        let texts: Vec<String> = items
            .items()
            .map(|item| {
                let mut out = String::new();
                item.push_to(&mut out);
                out
            })
            .collect();
        assert_eq!(texts, ["ab", "", "c"]);
        assert!(items.item(1).unwrap().is_empty());
        assert!(items.item(3).is_none());
        assert_eq!(text(value), "ab,,c");
        // Empty: no item, left out as an optional value.
        let empty = read_sized(0x81, &bytes, 0, 0).unwrap();
        assert!(empty.is_optional_empty());
        // A last string without its NUL (read past the value by the crate) is left to it.
        let cut = utf16("ab\0c");
        assert!(read_sized(0x81, &cut, 0, cut.len()).is_err());
        assert!(read_sized(0x81, &bytes, 0, 3).is_err());
    }

    #[test]
    fn hex_and_ascii_detection() {
        assert_eq!(text(Val::Hex64(u64::MAX)), "0xffffffffffffffff");
        assert_eq!(text(Val::Hex32(0x10)), "0x10");
        assert!(is_ascii_utf16(&utf16("plain ASCII, long enough for words")));
        assert!(!is_ascii_utf16(&utf16("caf\u{e9} au lait")));
        assert!(!is_ascii_utf16(&utf16("\u{100}")));
        assert_eq!(
            Utf16::until_nul(&utf16("d\u{e9}j\u{e0}"))
                .to_boxed()
                .as_ref(),
            "d\u{e9}j\u{e0}"
        );
    }

    #[test]
    fn utf16_lone_surrogates_become_replacement_characters() {
        let units: Vec<u8> = [0x61u16, 0xD83D, 0xDE00, 0xD800, 0x62, 0xDC00]
            .iter()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let mut out = String::new();
        Utf16::until_nul(&units).push_to(&mut out);
        assert_eq!(out, "a\u{1F600}\u{FFFD}b\u{FFFD}");
    }
}
