//! UTF-16 text (JSON or logs saved by Windows tools such as PowerShell's `Out-File`), told
//! by its byte order mark or by the zero bytes of ASCII in UTF-16, and turned into UTF-8 as
//! it streams, so that every text decoder reads it like any other input. Unpaired
//! surrogates become U+FFFD, as invalid UTF-8 does elsewhere.

use std::io::Read;

use encoding_rs::{Decoder, Encoding, UTF_16BE, UTF_16LE};

/// How many bytes are read from the inner reader at a time.
const CHUNK: usize = 8192;

/// The UTF-16 encoding the first bytes of an input show, if they show one: a byte order
/// mark, or an ASCII character and its zero byte (`{\0`, `\0{`) twice over.
pub(crate) fn detect(head: &[u8]) -> Option<&'static Encoding> {
    match head {
        [0xFF, 0xFE, 0, 0, ..] => None, // UTF-32LE, which nobody writes logs in
        [0xFF, 0xFE, ..] => Some(UTF_16LE),
        [0xFE, 0xFF, ..] => Some(UTF_16BE),
        [a, 0, b, 0, ..] if a.is_ascii() && *a != 0 && b.is_ascii() && *b != 0 => Some(UTF_16LE),
        [0, a, 0, b, ..] if a.is_ascii() && *a != 0 && b.is_ascii() && *b != 0 => Some(UTF_16BE),
        _ => None,
    }
}

/// A reader of UTF-8 over a reader of text in `encoding` (UTF-16LE or UTF-16BE, or UTF-8
/// itself, to replace its invalid bytes with U+FFFD as it streams), without its byte
/// order mark.
pub(crate) struct Transcoder<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    /// How much of `output` has been handed out.
    taken: usize,
    done: bool,
}

impl<R: Read> Transcoder<R> {
    /// Decodes `inner`, which is in `encoding`.
    pub(crate) fn new(inner: R, encoding: &'static Encoding) -> Self {
        Transcoder {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; CHUNK],
            output: Vec::new(),
            taken: 0,
            done: false,
        }
    }

    /// Reads and decodes the next piece of input into `output`.
    fn refill(&mut self) -> std::io::Result<()> {
        let read = self.inner.read(&mut self.input)?;
        let last = read == 0;
        let room = self
            .decoder
            .max_utf8_buffer_length(read)
            .ok_or_else(|| std::io::Error::other("input too large to decode"))?;
        self.output.resize(room, 0);
        let (_, _, written, _) =
            self.decoder
                .decode_to_utf8(&self.input[..read], &mut self.output, last);
        self.output.truncate(written);
        self.taken = 0;
        self.done = last;
        Ok(())
    }
}

impl<R: Read> Read for Transcoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.taken == self.output.len() {
            if self.done {
                return Ok(0);
            }
            self.refill()?;
        }
        let available = &self.output[self.taken..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.taken += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut bytes = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    }

    /// Decodes `bytes` one byte at a time, so that code units and surrogate pairs are split
    /// across reads.
    fn decode_slowly(bytes: &[u8], encoding: &'static Encoding) -> String {
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((&first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = first;
                self.0 = rest;
                Ok(1)
            }
        }
        let mut text = String::new();
        Transcoder::new(OneByte(bytes), encoding)
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn byte_order_marks_and_bare_ascii_are_detected() {
        assert_eq!(detect(&utf16le("{\"a\"", true)), Some(UTF_16LE));
        assert_eq!(detect(&utf16le("{\"a\"", false)), Some(UTF_16LE));
        assert_eq!(detect(b"\xFE\xFF\0{"), Some(UTF_16BE));
        assert_eq!(detect(b"\0{\0\""), Some(UTF_16BE));
        assert_eq!(detect(b"{\"a\""), None);
        assert_eq!(detect(b"\xFF\xFE\0\0"), None);
        assert_eq!(detect(b"\xEF\xBB\xBF{"), None);
    }

    #[test]
    fn decodes_across_reads_and_replaces_lone_surrogates() {
        let text = "{\"cmd\": \"wh😀ami\"}\n";
        assert_eq!(decode_slowly(&utf16le(text, true), UTF_16LE), text);
        let mut bytes = utf16le("{\"a\": \"x", false);
        bytes.extend([0x00, 0xD8]); // a lone high surrogate
        bytes.extend(utf16le("\"}", false));
        assert_eq!(decode_slowly(&bytes, UTF_16LE), "{\"a\": \"x\u{fffd}\"}");
    }
}
