//! The EVTX decoder: [`crate::evtx_chunks`] finds the file's chunks in record order (from
//! the chunk holding the oldest records, wrapping around) as the `evtx` crate does, and the
//! crate checks their headers and checksums; each chunk's records are then decoded by
//! [`crate::evtx_direct`] straight into events, or, for a chunk that decoder leaves alone,
//! by the crate.
//!
//! The crate renders each record as JSON in the same layout as `evtx_dump` (attributes
//! under `#attributes`, text beside them under `#text`, that is `separate_json_attributes`
//! off), and [`Flattener`] turns those bytes into an [`Event`] without building a JSON tree.
//! The direct decoder gives the same events without the JSON. With
//! [`EvtxDecoder::Crate`] every chunk goes through the crate's own pipeline, as the
//! reference the direct decoder is measured and tested against. Chunks are decoded on the
//! rayon pool when [`DecodeOptions::evtx_threads`] asks for more than one thread.
//!
//! An event's `origin.record` is the number in the record's header, the one `evtx_dump`
//! prints and the parser's errors name, unique in the file. `Event.System.EventRecordID`,
//! which Event Viewer shows, is usually the same, but not in exported logs (whose headers
//! are renumbered from 1) nor in logs merged from several channels (where it repeats).
//!
//! A file cut short is read as far as it goes: the parser reads whole chunks only, so the
//! complete records of a chunk cut in the middle are salvaged here (the chunk is parsed
//! from the bytes present, its checksum unchecked, and each record kept only if it ends
//! before the cut); the records it loses, and the chunks that the file header counts but
//! that are not in the file, are reported. Zero bytes after the last chunk (slack left by
//! copy tools) are not an error.
//!
//! The direct decoder runs on the thread that iterates the source, a chunk at a time (with
//! several threads, a run of chunks at a time on the rayon pool): a hunt's workers decode
//! their own files, with no thread, channel or wake-up per file. The crate's record iterator
//! borrows its parser, so it cannot live in a returned source: for [`EvtxDecoder::Crate`] a
//! decoder thread (one of [`crate::threads`]' reused threads) drives it and hands events
//! over in batches through a bounded channel; dropping the [`EvtxSource`] stops the
//! decoding at its next batch and frees the thread for another file.

use std::io::{Read, Seek, SeekFrom};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use evtx::err::EvtxError;
use evtx::{EvtxChunkData, EvtxParser, ParserSettings};
use rayon::prelude::*;
use serde::de::DeserializeSeed;
use tocsin_event::{Event, Origin};

use crate::error::{error_chain, DecodeError};
use crate::evtx_chunks::{KnownZeros, RecordOrderChunks};
use crate::flatten::Flattener;
use crate::{DecodeOptions, EventSource, EvtxDecoder};

/// The first bytes of every EVTX file.
pub(crate) const MAGIC: &[u8; 8] = b"ElfFile\0";

/// How many results travel through the channel at a time.
const BATCH: usize = 256;

/// The size of the file header, where the first chunk starts.
pub(crate) const HEADER: u64 = 4096;

/// The size of a chunk.
pub(crate) const CHUNK: u64 = 65536;

/// The size of a chunk's header, before its first record.
pub(crate) const CHUNK_HEADER: usize = 512;

type Item = Result<Event, DecodeError>;

/// Events decoded from one EVTX file.
pub(crate) struct EvtxSource {
    name: Arc<str>,
    /// What has been decoded and not yet taken.
    batch: std::vec::IntoIter<Item>,
    /// Where the next events come from.
    feed: Feed,
}

/// Where an [`EvtxSource`]'s next events come from.
enum Feed {
    /// The direct decoder, on the thread that iterates the source.
    Inline(Box<InlineChunks>),
    /// The crate's pipeline, on a decoder thread.
    Thread(Receiver<Vec<Item>>),
    /// Nothing more.
    Done,
}

/// The chunks the direct decoder has yet to decode, and what it reports after them.
struct InlineChunks {
    /// The file's chunks in record order.
    chunks: Box<dyn Iterator<Item = evtx::err::Result<EvtxChunkData>> + Send>,
    /// How they are decoded.
    plan: ChunkPlan,
    /// What the parser does not read, reported after the last chunk.
    tail: Tail,
}

impl EvtxSource {
    /// Starts decoding the EVTX file in `data`, reporting it as `name`.
    ///
    /// # Errors
    ///
    /// `data` does not start with an EVTX file header ([`DecodeError::NotEvtx`]), or the
    /// decoding thread cannot be started.
    pub(crate) fn new<T>(
        name: Arc<str>,
        mut data: T,
        options: &DecodeOptions,
    ) -> Result<Self, DecodeError>
    where
        T: KnownZeros + Send + 'static,
    {
        let mut magic = [0; 8];
        let is_evtx = data.read_exact(&mut magic).is_ok() && &magic == MAGIC;
        let io = |e| DecodeError::io(&name, e);
        if !is_evtx {
            return Err(DecodeError::NotEvtx {
                file: name,
                message: "the file does not start with `ElfFile\\0`".into(),
            });
        }
        let tail = Tail::read(&mut data).map_err(io)?;
        data.rewind().map_err(io)?;
        let settings = ParserSettings::new()
            .num_threads(options.evtx_threads)
            .validate_checksums(options.evtx_validate_checksums)
            .separate_json_attributes(false)
            .indent(false);
        let plan = ChunkPlan {
            decoder: options.evtx_decoder,
            threads: match options.evtx_threads {
                0 => rayon::current_num_threads(),
                threads => threads,
            },
            settings: Arc::new(settings.clone()),
        };
        let not_evtx = |error: EvtxError| DecodeError::NotEvtx {
            file: Arc::clone(&name),
            message: error_chain(&error),
        };
        let feed = match plan.decoder {
            EvtxDecoder::Direct => {
                let header_block_size = EvtxParser::from_read_seek(&mut data)
                    .map_err(not_evtx)?
                    .header()
                    .header_block_size;
                let chunks = RecordOrderChunks::new(
                    data,
                    header_block_size,
                    options.evtx_validate_checksums,
                )
                .map_err(io)?;
                Feed::Inline(Box::new(InlineChunks {
                    chunks: Box::new(chunks),
                    plan,
                    tail,
                }))
            }
            EvtxDecoder::Crate => {
                let parser = EvtxParser::from_read_seek(data)
                    .map_err(not_evtx)?
                    .with_configuration(settings);
                Feed::Thread(spawn_crate_pipeline(&name, parser, tail)?)
            }
        };
        Ok(EvtxSource {
            name,
            batch: Vec::new().into_iter(),
            feed,
        })
    }

    /// Decodes what comes next into the batch; `false` when nothing more comes.
    fn refill(&mut self) -> bool {
        match &mut self.feed {
            Feed::Inline(inline) => {
                let name = &self.name;
                let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    inline.next_items(name)
                }));
                match decoded {
                    Ok(Some(items)) => self.batch = items.into_iter(),
                    Ok(None) => {
                        self.batch = inline.tail.items(name).into_iter();
                        self.feed = Feed::Done;
                    }
                    Err(panic) => {
                        self.batch = vec![Err(panicked(name, &*panic))].into_iter();
                        self.feed = Feed::Done;
                    }
                }
                true
            }
            // The thread drops its sender when it is done.
            Feed::Thread(batches) => match batches.recv() {
                Ok(batch) => {
                    self.batch = batch.into_iter();
                    true
                }
                Err(_) => false,
            },
            Feed::Done => false,
        }
    }
}

impl InlineChunks {
    /// The items of the next chunk (with several threads, of the next run of twice as many
    /// chunks as threads, decoded on the rayon pool, in order); `None` after the last.
    fn next_items(&mut self, name: &Arc<str>) -> Option<Vec<Item>> {
        let mut items = Vec::new();
        if self.plan.threads <= 1 {
            decode_chunk(self.chunks.next()?, name, &self.plan, &mut items);
            return Some(items);
        }
        let run: Vec<_> = self.chunks.by_ref().take(self.plan.threads * 2).collect();
        if run.is_empty() {
            return None;
        }
        let plan = &self.plan;
        let decoded: Vec<Vec<Item>> = run
            .into_par_iter()
            .map(|chunk| {
                let mut items = Vec::new();
                decode_chunk(chunk, name, plan, &mut items);
                items
            })
            .collect();
        decoded.into_iter().for_each(|chunk| items.extend(chunk));
        Some(items)
    }
}

/// Runs the crate's pipeline over the file on a decoder thread (its record iterator borrows
/// the parser, so it cannot live in the source), which hands events over in batches and
/// then what the tail reports; returns where they arrive.
fn spawn_crate_pipeline<T>(
    name: &Arc<str>,
    parser: EvtxParser<T>,
    tail: Tail,
) -> Result<Receiver<Vec<Item>>, DecodeError>
where
    T: Read + Seek + Send + 'static,
{
    let (sender, batches) = sync_channel::<Vec<Item>>(4);
    let thread_name = Arc::clone(name);
    crate::threads::run("tocsin-evtx", move || {
        let name = thread_name;
        let run = std::panic::AssertUnwindSafe(|| {
            drive(parser, &name, &sender);
            let _ = sender.send(tail.items(&name));
        });
        if let Err(panic) = std::panic::catch_unwind(run) {
            let _ = sender.send(vec![Err(panicked(&name, &*panic))]);
        }
    })
    .map_err(|e| DecodeError::io(name, e))?;
    Ok(batches)
}

/// The error that says the parser panicked while decoding `name`.
fn panicked(name: &Arc<str>, panic: &(dyn std::any::Any + Send)) -> DecodeError {
    DecodeError::Evtx {
        file: Arc::clone(name),
        chunk: None,
        record: None,
        message: format!("the EVTX parser panicked: {}", panic_message(panic)),
    }
}

/// How a file's chunks are decoded.
struct ChunkPlan {
    /// Which decoder.
    decoder: EvtxDecoder,
    /// How many chunks are decoded at once (on the rayon pool when more than one).
    threads: usize,
    /// The crate's settings, for the chunks the direct decoder leaves to it.
    settings: Arc<ParserSettings>,
}

/// The events of one chunk the parser read (or why it could not), appended to `out`.
fn decode_chunk(
    chunk: evtx::err::Result<EvtxChunkData>,
    name: &Arc<str>,
    plan: &ChunkPlan,
    out: &mut Vec<Item>,
) {
    let mut data = match chunk {
        Ok(data) => data,
        Err(error) => return out.push(Err(DecodeError::evtx(name, &error))),
    };
    let number = data.number.unwrap_or_default();
    if decode_directly(name, number, &data.data, out) {
        return;
    }
    match data.parse(Arc::clone(&plan.settings)) {
        Ok(mut chunk) => out.extend(chunk.iter().map(|record| to_event(record, name))),
        Err(error) => {
            let error = EvtxError::FailedToParseChunk {
                chunk_id: number,
                source: Box::new(error),
            };
            out.push(Err(DecodeError::evtx(name, &error)));
        }
    }
}

/// Decodes a chunk with the direct decoder into `out`; `false` (and `out` as it was) when it
/// leaves the chunk to the crate. The parser checked the checksums already when asked to.
///
/// A panic of the direct decoder (none is known: it is fuzzed against the crate) costs only
/// its speed on that chunk, which the crate decodes instead; under the fuzzer it is let
/// through, so that the fuzzer sees it.
fn decode_directly(name: &Arc<str>, number: u64, chunk: &[u8], out: &mut Vec<Item>) -> bool {
    let before = out.len();
    // Called in place under the fuzzer (so mutably), moved into `catch_unwind` otherwise.
    #[cfg_attr(not(fuzzing), allow(unused_mut))]
    let mut decode = || crate::evtx_direct::decode_chunk(name, number, chunk, false, out).is_ok();
    #[cfg(fuzzing)]
    let decoded = decode();
    #[cfg(not(fuzzing))]
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or(false);
    if !decoded {
        out.truncate(before);
    }
    decoded
}

/// Runs the crate's parser over the whole file, sending results in batches until the
/// receiver is gone.
fn drive<T>(
    mut parser: EvtxParser<T>,
    name: &Arc<str>,
    sender: &std::sync::mpsc::SyncSender<Vec<Item>>,
) where
    T: Read + Seek + Send + 'static,
{
    let source = Arc::clone(name);
    let convert =
        move |record: evtx::err::Result<evtx::EvtxRecord<'_>>| Ok(to_event(record, &source));
    let mut batch = Vec::with_capacity(BATCH);
    for item in parser.serialized_records(convert) {
        batch.push(item.unwrap_or_else(|error| Err(DecodeError::evtx(name, &error))));
        if batch.len() == BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if sender.send(full).is_err() {
                return;
            }
        }
    }
    if !batch.is_empty() {
        let _ = sender.send(batch);
    }
}

/// One parsed record as an event (runs on the parser's worker threads).
fn to_event(record: evtx::err::Result<evtx::EvtxRecord<'_>>, source: &Arc<str>) -> Item {
    let record = record.map_err(|error| DecodeError::evtx(source, &error))?;
    let record_id = record.event_record_id;
    let rendered = record
        .into_json_bytes()
        .map_err(|error| DecodeError::evtx(source, &error))?;
    let mut de = serde_json::Deserializer::from_slice(&rendered.data);
    let mut event = Flattener::with_capacity(32)
        .deserialize(&mut de)
        .map_err(|error| DecodeError::Evtx {
            file: Arc::clone(source),
            chunk: None,
            record: Some(record_id),
            message: format!("record {record_id} rendered as unreadable JSON: {error}"),
        })?;
    event.origin = Origin {
        source: Arc::clone(source),
        record: record_id,
    };
    // Everything in an EVTX file is Windows event-log output, even a record without a
    // `<Channel>` (an event forwarder's bookmark): rules of other products must not meet it.
    event.logsource = Some(Arc::clone(&WINDOWS));
    Ok(event)
}

/// The logsource of every EVTX record, shared by all of them.
static WINDOWS: std::sync::LazyLock<Arc<tocsin_event::LogSource>> =
    std::sync::LazyLock::new(|| {
        Arc::new(tocsin_event::LogSource {
            product: Some("windows".into()),
            ..tocsin_event::LogSource::default()
        })
    });

/// What the parser does not read of a file: the bytes after its last whole chunk, and
/// whether chunks the file header counts are missing.
struct Tail {
    /// The chunk count in the file header.
    counted: u64,
    /// How many whole chunks the file holds.
    whole: u64,
    /// The bytes after the last whole chunk.
    partial: Vec<u8>,
}

impl Tail {
    /// Reads the header's chunk count and the bytes after the last whole chunk of `data`.
    fn read<T: Read + Seek>(data: &mut T) -> std::io::Result<Tail> {
        let length = data.seek(SeekFrom::End(0))?;
        let mut header = Vec::with_capacity(44);
        data.rewind()?;
        data.take(44).read_to_end(&mut header)?;
        let counted = match header.get(42..44) {
            Some(&[low, high]) => u64::from(u16::from_le_bytes([low, high])),
            _ => 0,
        };
        let whole = length.saturating_sub(HEADER) / CHUNK;
        let mut partial = Vec::new();
        let after_whole = HEADER + whole * CHUNK;
        // Most files end with a whole chunk: nothing to read, and a read at the end would
        // cost a system call (and, through a window, the header's window read again).
        if after_whole < length {
            data.seek(SeekFrom::Start(after_whole))?;
            data.read_to_end(&mut partial)?;
        }
        Ok(Tail {
            counted,
            whole,
            partial,
        })
    }

    /// The salvaged records of a chunk cut short and the errors about what is lost.
    fn items(&self, name: &Arc<str>) -> Vec<Item> {
        let cut = !self.partial.iter().all(|&b| b == 0);
        let mut items = Vec::new();
        if cut {
            items = salvage(name, self.whole, &self.partial);
        }
        let present = self.whole + u64::from(cut);
        if self.counted > present {
            items.push(Err(DecodeError::Evtx {
                file: Arc::clone(name),
                chunk: Some(present),
                record: None,
                message: format!(
                    "the file header counts {} chunks but the file ends after {present}: \
                     chunks {present} to {} are missing (the file is cut short)",
                    self.counted,
                    self.counted - 1
                ),
            }));
        }
        items
    }
}

/// The complete records of chunk `number`, of which only `bytes` are in the file, then an
/// error saying what is lost.
fn salvage(name: &Arc<str>, number: u64, bytes: &[u8]) -> Vec<Item> {
    let error = |message: String| DecodeError::Evtx {
        file: Arc::clone(name),
        chunk: Some(number),
        record: None,
        message: format!(
            "chunk {number} is cut short ({} of its {CHUNK} bytes): {message}",
            bytes.len()
        ),
    };
    if bytes.len() < CHUNK_HEADER {
        return vec![Err(error("its records are lost".into()))];
    }
    let mut padded = bytes.to_vec();
    padded.resize(CHUNK as usize, 0);
    let mut data = match EvtxChunkData::new(padded, false) {
        Ok(data) => data,
        Err(e) => return vec![Err(error(format!("its records are lost ({e})")))],
    };
    data.number = Some(number);
    let header = &data.header;
    let expected =
        (header.last_event_record_number + 1).saturating_sub(header.first_event_record_number);
    let settings = Arc::new(
        ParserSettings::new()
            .separate_json_attributes(false)
            .indent(false),
    );
    let mut chunk = match data.parse(settings) {
        Ok(chunk) => chunk,
        Err(e) => return vec![Err(error(format!("its records are lost ({e})")))],
    };
    let mut items: Vec<Item> = Vec::new();
    for record in chunk.iter() {
        // A record that runs past the cut would be read with zeros for its end.
        if let Ok(record) = &record {
            let end = record.binxml_offset + u64::from(record.binxml_size) + 4;
            if end > bytes.len() as u64 {
                break;
            }
        }
        items.push(to_event(record, name));
    }
    let read = items.iter().filter(|item| item.is_ok()).count() as u64;
    let lost = expected.saturating_sub(items.len() as u64);
    items.push(Err(error(format!(
        "{read} of its {expected} records were read, {lost} are lost"
    ))));
    items
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

impl Iterator for EvtxSource {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(item) = self.batch.next() {
                return Some(item);
            }
            if !self.refill() {
                return None;
            }
        }
    }
}

impl EventSource for EvtxSource {
    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn open(bytes: Vec<u8>) -> Result<EvtxSource, DecodeError> {
        EvtxSource::new(
            "x.evtx".into(),
            Cursor::new(bytes),
            &DecodeOptions::default(),
        )
    }

    #[test]
    fn not_evtx_is_one_clear_error() {
        for bytes in [Vec::new(), b"ElfFil".to_vec(), b"{\"a\": 1}\n".to_vec()] {
            let error = open(bytes).err().unwrap();
            assert!(matches!(error, DecodeError::NotEvtx { .. }));
            assert_eq!(
                error.to_string(),
                "x.evtx: not an EVTX file: the file does not start with `ElfFile\\0`"
            );
        }
    }

    #[test]
    fn damaged_header_is_refused_by_the_parser() {
        // The magic alone is not a header: the parser needs its 4096 bytes.
        let mut bytes = MAGIC.to_vec();
        bytes.resize(100, 0);
        let error = open(bytes).err().unwrap();
        assert!(matches!(error, DecodeError::NotEvtx { .. }), "{error}");
    }

    #[test]
    fn header_without_chunks_has_no_events() {
        // A header with no chunk after it: nothing to decode, and no error.
        let mut bytes = MAGIC.to_vec();
        bytes.resize(4096, 0);
        // Header block size (offset 40, u16) = 4096, as the parser checks the stream size.
        bytes[40..42].copy_from_slice(&4096u16.to_le_bytes());
        let source = open(bytes.clone()).unwrap();
        assert_eq!(source.count(), 0);
        // Zero slack after it is not an error either.
        let mut slack = bytes.clone();
        slack.resize(4096 + 100, 0);
        assert_eq!(open(slack).unwrap().count(), 0);
    }

    /// The errors of `bytes` as text.
    fn errors(bytes: Vec<u8>) -> Vec<String> {
        open(bytes)
            .unwrap()
            .map(|item| item.err().map(|e| e.to_string()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn missing_and_cut_chunks_are_reported() {
        let mut bytes = MAGIC.to_vec();
        bytes.resize(4096, 0);
        bytes[40..42].copy_from_slice(&4096u16.to_le_bytes());
        // The header counts two chunks; there are none.
        bytes[42..44].copy_from_slice(&2u16.to_le_bytes());
        assert_eq!(
            errors(bytes.clone()),
            [
                "x.evtx: the file header counts 2 chunks but the file ends after 0: chunks 0 to 1 \
              are missing (the file is cut short)"
            ]
        );
        // The first 100 bytes of a chunk: nothing to salvage, and said so.
        bytes.extend(b"ElfChnk\0");
        bytes.resize(4096 + 100, 1);
        assert_eq!(
            errors(bytes),
            [
                "x.evtx: chunk 0 is cut short (100 of its 65536 bytes): its records are lost",
                "x.evtx: the file header counts 2 chunks but the file ends after 1: chunks 1 to 1 \
                 are missing (the file is cut short)"
            ]
        );
    }
}
