//! Gzip, streamed: [`GzipReader`] decompresses one member after another as it is read, so
//! that memory stays bounded whatever the input inflates to (a "gzip bomb" is read like any
//! long file), and behaves like `gzip -d` at the end of the data: zero bytes after the last
//! member (the padding of tapes and some copy tools) are ignored, other trailing bytes are an
//! error. Errors say how many decompressed bytes were read before them, so that a truncated
//! or damaged file is reported where it broke while everything before is kept.

use std::io::{BufRead, Read};

use flate2::bufread::GzDecoder;

/// The first two bytes of every gzip member.
pub(crate) const MAGIC: &[u8; 2] = b"\x1f\x8b";

/// A reader of the decompressed data of a gzip stream of one or more members.
pub(crate) struct GzipReader<R: BufRead> {
    state: State<R>,
    /// Decompressed bytes handed out so far.
    decompressed: u64,
}

enum State<R: BufRead> {
    /// Inside a member.
    Member(GzDecoder<R>),
    /// At the end of a member: another one, zero padding, garbage or the end follows.
    Between(R),
    /// The data has ended, or an error was returned.
    Done,
}

impl<R: BufRead> GzipReader<R> {
    /// Decompresses `inner`, which starts with a gzip member.
    pub(crate) fn new(inner: R) -> Self {
        GzipReader {
            state: State::Member(GzDecoder::new(inner)),
            decompressed: 0,
        }
    }

    /// `error`, saying how far decompression got; reading stops there.
    fn located(&mut self, error: &std::io::Error) -> std::io::Error {
        self.state = State::Done;
        let what = match error.kind() {
            std::io::ErrorKind::UnexpectedEof => "gzip data cut short".to_string(),
            _ => format!("damaged gzip data ({error})"),
        };
        std::io::Error::new(
            error.kind(),
            format!(
                "{what} after {} decompressed bytes: what came before is kept",
                self.decompressed
            ),
        )
    }

    /// What follows a member: the next member, or the end (after any zero padding).
    fn after_member(&mut self, mut inner: R) -> std::io::Result<()> {
        loop {
            let buffer = inner.fill_buf()?;
            let Some(&first) = buffer.first() else {
                self.state = State::Done;
                return Ok(());
            };
            if first == MAGIC[0] {
                self.state = State::Member(GzDecoder::new(inner));
                return Ok(());
            }
            let zeros = buffer.iter().take_while(|&&b| b == 0).count();
            if zeros == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "trailing bytes that are not gzip after the last member",
                ));
            }
            inner.consume(zeros);
        }
    }
}

impl<R: BufRead> Read for GzipReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Member(mut decoder) => match decoder.read(buf) {
                    Ok(0) => self.state = State::Between(decoder.into_inner()),
                    Ok(n) => {
                        self.state = State::Member(decoder);
                        self.decompressed += n as u64;
                        return Ok(n);
                    }
                    Err(error) => return Err(self.located(&error)),
                },
                State::Between(inner) => {
                    if let Err(error) = self.after_member(inner) {
                        return Err(self.located(&error));
                    }
                }
                State::Done => return Ok(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// What `bytes` decompress to, and the error that ended them, if any.
    fn inflate(bytes: &[u8]) -> (Vec<u8>, Option<String>) {
        let mut out = Vec::new();
        let error = GzipReader::new(bytes).read_to_end(&mut out).err();
        (out, error.map(|e| e.to_string()))
    }

    #[test]
    fn members_follow_one_another_and_zero_padding_is_ignored() {
        let mut bytes = gzip(b"one\n");
        bytes.extend(gzip(b"two\n"));
        assert_eq!(inflate(&bytes), (b"one\ntwo\n".to_vec(), None));
        bytes.resize(bytes.len() + 10_000, 0);
        assert_eq!(inflate(&bytes), (b"one\ntwo\n".to_vec(), None));
    }

    #[test]
    fn trailing_garbage_and_truncation_keep_what_came_before() {
        let mut bytes = gzip(b"one\n");
        bytes.extend([0, 0, b'x']);
        assert_eq!(
            inflate(&bytes),
            (
                b"one\n".to_vec(),
                Some(
                    "damaged gzip data (trailing bytes that are not gzip after the last member) \
                     after 4 decompressed bytes: what came before is kept"
                        .into()
                )
            )
        );
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let packed = gzip(&text);
        let (out, error) = inflate(&packed[..packed.len() / 2]);
        assert!(!out.is_empty() && text.starts_with(&out));
        let error = error.unwrap();
        assert!(
            error.starts_with("gzip data cut short after ")
                && error.contains(&out.len().to_string()),
            "{error}"
        );
    }
}
