//! A direct EVTX chunk decoder: from a chunk's bytes straight to the [`Event`]s that the
//! `evtx` crate's JSON and the [`Flattener`](crate::flatten::Flattener) give (see `evtx.rs`),
//! without rendering JSON and without building each record's tree.
//!
//! Per chunk it reads the header and string table ([`chunk`]), walks the records, and for
//! each record reads its template instance's substitution array in place ([`template`],
//! [`value`]); each template definition is parsed once per chunk, into flat lists of
//! elements, attributes and nodes with placeholders (a record that is a stream of elements
//! rather than a template instance is parsed the same way, as a template of its own).
//! [`render`] then walks those with the values (repeating an element once per item of a
//! string array, as the crate does) and emits the fields the crate's JSON would flatten to
//! into [`sink`], which interns the paths: each has an id, and each place of a template
//! remembers the path it rendered to, so that a field costs no hashing of its path.
//!
//! Nothing is allocated per record but the event and its string values: the lists a chunk
//! needs are kept from chunk to chunk on each thread ([`Scratch`]), emptied.
//!
//! Equivalence comes first: whatever this decoder does not take, or finds malformed (a
//! record header, checksum, token, value type or size the crate would refuse or treat in
//! some way of its own: reals, arrays other than of strings, template instances inside a
//! stream of elements, resynchronisation after a bad record, ...), makes [`decode_chunk`]
//! return a [`Fallback`] for the whole chunk, which the caller then decodes with the crate.
//! On every chunk it accepts, its events equal the crate path's, field for field (the tests
//! compare them over the whole sample corpus, and on damaged chunks).

mod chunk;
mod render;
mod sink;
mod template;
mod value;

#[cfg(test)]
pub(crate) mod tests;

use std::cell::RefCell;
use std::sync::{Arc, LazyLock};

use tocsin_event::{Event, LogSource, Origin};

use crate::error::DecodeError;

/// Why a chunk is left to the `evtx` crate: what this decoder met that it does not take, and
/// where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fallback {
    /// What was met.
    pub(crate) reason: &'static str,
    /// The chunk's number in its file.
    pub(crate) chunk: Option<u64>,
    /// The number (in its header) of the record where it was met, if in one.
    pub(crate) record: Option<u64>,
}

impl Fallback {
    /// A fallback for `reason`, its place to be filled in by the caller.
    pub(crate) fn new(reason: &'static str) -> Self {
        Fallback {
            reason,
            chunk: None,
            record: None,
        }
    }

    /// The fallback as a decoding error about `file`, for a caller that cannot decode the
    /// chunk otherwise (or wants to log why it did).
    #[allow(dead_code)]
    pub(crate) fn into_error(self, file: &Arc<str>) -> DecodeError {
        let mut message = String::from("the direct EVTX decoder leaves this chunk to the crate");
        if let Some(chunk) = self.chunk {
            message.push_str(&format!(" (chunk {chunk}"));
            if let Some(record) = self.record {
                message.push_str(&format!(", record {record}"));
            }
            message.push(')');
        }
        message.push_str(": ");
        message.push_str(self.reason);
        DecodeError::Evtx {
            file: Arc::clone(file),
            chunk: self.chunk,
            record: self.record,
            message,
        }
    }
}

/// What a step of the direct decoder gives: a result, or a [`Fallback`].
pub(crate) type Outcome<T> = Result<T, Fallback>;

/// The logsource of every EVTX event (equal to the crate path's).
static WINDOWS: LazyLock<Arc<LogSource>> = LazyLock::new(|| {
    Arc::new(LogSource {
        product: Some("windows".into()),
        ..LogSource::default()
    })
});

/// What a thread keeps from chunk to chunk: the sink with its paths, and the lists of the
/// chunk's names, templates, record content and rendering stacks, emptied.
#[derive(Default)]
struct Scratch {
    sink: sink::Sink,
    names: chunk::Names,
    templates: template::Templates<'static>,
    content: template::Content<'static>,
    stacks: render::Stacks<'static>,
}

thread_local! {
    /// This thread's [`Scratch`].
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// The latest time a record header may carry (the crate refuses later ones): the end of
/// 9999-12-30 22:00 UTC, in seconds since the Unix epoch.
const MAX_RECORD_SECONDS: i64 = 253_402_207_200;

/// Decodes chunk `chunk_number` of `file` (the chunk's bytes, normally 64 KiB), appending
/// one `Ok` event per record to `out`, each with `origin.record` the record header's number,
/// the Windows logsource and the time its `SystemTime` says, as the crate path gives them.
///
/// With `validate_checksums`, a chunk whose CRC32s do not match is a fallback (the crate
/// path then reports it).
///
/// # Errors
///
/// A [`Fallback`] when the chunk holds anything this decoder does not take or finds
/// malformed; `out` is then as it was, and the chunk is to be decoded with the crate.
pub(crate) fn decode_chunk(
    file: &Arc<str>,
    chunk_number: u64,
    chunk: &[u8],
    validate_checksums: bool,
    out: &mut Vec<Result<Event, DecodeError>>,
) -> Result<(), Fallback> {
    let before = out.len();
    let mut scratch = SCRATCH
        .with(|cell| cell.borrow_mut().take())
        .unwrap_or_default();
    let mut lists = Lists {
        templates: std::mem::take(&mut scratch.templates).recycle(),
        content: std::mem::take(&mut scratch.content).recycle(),
        stacks: std::mem::take(&mut scratch.stacks).recycle(),
    };
    let result = decode(
        file,
        chunk,
        validate_checksums,
        &mut scratch.sink,
        &mut scratch.names,
        &mut lists,
        out,
    );
    scratch.templates = lists.templates.recycle();
    scratch.content = lists.content.recycle();
    scratch.stacks = lists.stacks.recycle();
    SCRATCH.with(|cell| *cell.borrow_mut() = Some(scratch));
    result.map_err(|mut fallback| {
        out.truncate(before);
        fallback.chunk = Some(chunk_number);
        fallback
    })
}

/// A chunk's templates, a record's content and the rendering stacks, which borrow the
/// chunk.
struct Lists<'c> {
    templates: template::Templates<'c>,
    content: template::Content<'c>,
    stacks: render::Stacks<'c>,
}

/// [`decode_chunk`] with this thread's sink and lists.
fn decode<'c>(
    file: &Arc<str>,
    data: &'c [u8],
    validate_checksums: bool,
    sink: &mut sink::Sink,
    names: &mut chunk::Names,
    lists: &mut Lists<'c>,
    out: &mut Vec<Result<Event, DecodeError>>,
) -> Outcome<()> {
    let header = chunk::header(data, validate_checksums)?;
    names.read_table(data)?;
    sink.start_chunk();
    let Lists {
        templates,
        content,
        stacks,
    } = lists;
    let live_end = (header.free_space_offset as usize).min(data.len());
    let mut offset = chunk::HEADER_SIZE;
    let mut fields = 0usize;
    while offset < live_end {
        let (id, start, end, size) = record_header(data, offset)?;
        let with_record = |mut fallback: Fallback| {
            fallback.record = Some(id);
            fallback
        };
        template::read_record(data, names, templates, start, end, content).map_err(with_record)?;
        sink.start();
        let mut renderer = render::Renderer {
            names,
            templates,
            content,
            stacks,
            sink,
            depth: 0,
        };
        renderer.record().map_err(with_record)?;
        if sink.overflowed() {
            return Err(with_record(Fallback::new(
                "a path longer than 4 KiB, or too many path bytes",
            )));
        }
        let mut event = sink.finish();
        fields += event.fields.len();
        // The crate caps what one pass over a chunk may render; stay far below it.
        if fields > 16 * render::MAX_FIELDS {
            return Err(with_record(Fallback::new("a chunk too large")));
        }
        event.origin = Origin {
            source: Arc::clone(file),
            record: id,
        };
        event.logsource = Some(Arc::clone(&WINDOWS));
        out.push(Ok(event));
        if id == header.last_record_id {
            break;
        }
        offset = match offset.checked_add(size) {
            Some(next) => next,
            None => break,
        };
    }
    Ok(())
}

/// The record at `offset`: its number, where its BinXML starts and ends, and its size. Any
/// header the crate would not read as is (it reports it and looks for the next record) is a
/// fallback.
fn record_header(data: &[u8], offset: usize) -> Outcome<(u64, usize, usize, usize)> {
    if data.get(offset..offset + 4) != Some(b"\x2a\x2a\x00\x00".as_slice()) {
        return Err(Fallback::new("a record header without its magic"));
    }
    let size = chunk::u32_at(data, offset + 4)? as usize;
    let id = chunk::u64_at(data, offset + 8)?;
    let filetime = chunk::u64_at(data, offset + 16)?;
    let seconds = (filetime / 10_000_000) as i64 - 11_644_473_600;
    if seconds > MAX_RECORD_SECONDS {
        return Err(Fallback::new("a record header whose time is out of range"));
    }
    if size < 28 {
        return Err(Fallback::new("a record smaller than its header"));
    }
    let start = offset + 24;
    let end = start + (size - 28);
    if end > data.len() {
        return Err(Fallback::new("a record past the end of the chunk"));
    }
    Ok((id, start, end, size))
}
