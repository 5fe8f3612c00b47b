//! The EVTX decoder, on the `evtx` crate's chunk pipeline.
//!
//! The parser renders each record as JSON in the same layout as `evtx_dump` (attributes
//! under `#attributes`, text beside them under `#text`, that is `separate_json_attributes`
//! off), and [`Flattener`] turns those bytes into an [`Event`] without building a JSON tree.
//! Both steps run in the parser's worker closure, so on the rayon pool, in parallel with the
//! parsing of other chunks.
//!
//! An event's `origin.record` is the number in the record's header, the one `evtx_dump`
//! prints and the parser's errors name, unique in the file. `Event.System.EventRecordID`,
//! which Event Viewer shows, is usually the same, but not in exported logs (whose headers
//! are renumbered from 1) nor in logs merged from several channels (where it repeats).
//!
//! The parser's record iterator borrows the parser, so it cannot live in a returned source.
//! Instead a thread per file drives it and hands events over in batches through a bounded
//! channel; dropping the [`EvtxSource`] stops that thread at its next batch.

use std::io::{Read, Seek, SeekFrom};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use evtx::{EvtxParser, ParserSettings};
use serde::de::DeserializeSeed;
use tocsin_event::{Event, Origin};

use crate::error::{error_chain, DecodeError};
use crate::flatten::Flattener;
use crate::{DecodeOptions, EventSource};

/// The first bytes of every EVTX file.
pub(crate) const MAGIC: &[u8; 8] = b"ElfFile\0";

/// How many results travel through the channel at a time.
const BATCH: usize = 256;

type Item = Result<Event, DecodeError>;

/// Events decoded from one EVTX file.
pub(crate) struct EvtxSource {
    name: Arc<str>,
    batches: Receiver<Vec<Item>>,
    batch: std::vec::IntoIter<Item>,
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
        T: Read + Seek + Send + 'static,
    {
        let mut magic = [0; 8];
        let is_evtx = data.read_exact(&mut magic).is_ok() && &magic == MAGIC;
        let io = |e| DecodeError::io(&name, e);
        let length = data.seek(SeekFrom::End(0)).map_err(io)?;
        data.rewind().map_err(io)?;
        if !is_evtx {
            return Err(DecodeError::NotEvtx {
                file: name,
                message: "the file does not start with `ElfFile\\0`".into(),
            });
        }
        let settings = ParserSettings::new()
            .num_threads(options.evtx_threads)
            .validate_checksums(options.evtx_validate_checksums)
            .separate_json_attributes(false)
            .indent(false);
        let parser = EvtxParser::from_read_seek(data)
            .map_err(|error| DecodeError::NotEvtx {
                file: Arc::clone(&name),
                message: error_chain(&error),
            })?
            .with_configuration(settings);

        let (sender, batches) = sync_channel::<Vec<Item>>(4);
        let thread_name = Arc::clone(&name);
        std::thread::Builder::new()
            .name("tocsin-evtx".into())
            .spawn(move || {
                let name = thread_name;
                let run = std::panic::AssertUnwindSafe(|| {
                    drive(parser, &name, &sender);
                    if let Some(error) = truncated_chunk(&name, length) {
                        let _ = sender.send(vec![Err(error)]);
                    }
                });
                if let Err(panic) = std::panic::catch_unwind(run) {
                    let error = DecodeError::Evtx {
                        file: name,
                        chunk: None,
                        record: None,
                        message: format!("the EVTX parser panicked: {}", panic_message(&*panic)),
                    };
                    let _ = sender.send(vec![Err(error)]);
                }
            })
            .map_err(|e| DecodeError::io(&name, e))?;
        Ok(EvtxSource {
            name,
            batches,
            batch: Vec::new().into_iter(),
        })
    }
}

/// Runs the parser over the whole file, sending results in batches until the receiver is
/// gone.
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

/// An error for the bytes after the last whole chunk, which the parser ignores: a file cut
/// short in the middle of a chunk loses that chunk's records.
fn truncated_chunk(name: &Arc<str>, length: u64) -> Option<DecodeError> {
    const HEADER: u64 = 4096;
    const CHUNK: u64 = 65536;
    let partial = length.checked_sub(HEADER)? % CHUNK;
    (partial != 0).then(|| {
        let chunk = (length - HEADER) / CHUNK;
        DecodeError::Evtx {
            file: Arc::clone(name),
            chunk: Some(chunk),
            record: None,
            message: format!(
                "chunk {chunk} is cut short ({partial} of its {CHUNK} bytes): its records are lost"
            ),
        }
    })
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
            // The thread drops its sender when it is done.
            self.batch = self.batches.recv().ok()?.into_iter();
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
        let source = open(bytes).unwrap();
        assert_eq!(source.count(), 0);
    }
}
