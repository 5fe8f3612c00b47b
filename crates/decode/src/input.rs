//! Where bytes come from: files (plain or gzip), standard input, and directories expanded
//! into files; and which decoder reads them.
//!
//! The format is `DecodeOptions::format` when set; otherwise it is taken from the extension
//! (`.evtx`; `.json`, `.jsonl`, `.ndjson`; `x.evtx.gz` by its inner extension), then from the
//! content: gzip by its magic bytes whatever the name (then the format of the decompressed
//! bytes, streamed: see [`crate::gzip`]), EVTX by `ElfFile\0`, and the other
//! formats by the first non-blank lines (see [`crate::sniff`]: JSON, the API audit log, CEF,
//! appliance syslog, RFC 5424, RFC 3164). A JSON name still lets the content say it is the
//! API audit log; other names (`.log`, `.syslog`, `.cef`, a `.txt` named directly, none) leave it all to the
//! content, and content in no known format goes to the JSON decoder, which says so. Content
//! that starts with the EVTX magic is read as EVTX even under a JSON extension, since it
//! cannot be JSON.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::time::SystemTime;

use chrono::{DateTime, Utc};

use crate::api_audit::ApiAuditSource;
use crate::appliance::ApplianceDecoder;
use crate::cef::CefDecoder;
use crate::clock::Clock;
use crate::error::{path_name, DecodeError};
use crate::evtx::{EvtxSource, MAGIC};
use crate::evtx_chunks::KnownZeros;
use crate::gzip::{self, GzipReader};
use crate::json::JsonSource;
use crate::outbound::OutboundDecoder;
use crate::session_report::SessionReportSource;
use crate::sniff;
use crate::syslog::SyslogDecoder;
use crate::text::TextSource;
use crate::utf16::{self, Transcoder};
#[cfg(unix)]
use crate::windowed_file::WindowedFile;
use crate::{DecodeOptions, EventSource, Format};

/// Opens the file at `path` (or standard input for `-`) with the
/// decoder its extension or content calls for (see the module doc and `FORMATS.md`).
///
/// # Errors
///
/// The file cannot be opened or read, is in no known format, or is named `.evtx` (or forced
/// to EVTX) but is not an EVTX file. Errors in single records come later, from the source.
pub fn open(
    path: &Path,
    options: &DecodeOptions,
) -> Result<Box<dyn EventSource + Send>, DecodeError> {
    if path == Path::new("-") {
        return from_reader("-", std::io::stdin(), options);
    }
    let name = path_name(path);
    let io = |e| DecodeError::io(&name, e);
    let file = File::open(path).map_err(io)?;
    let head = read_head(&file).map_err(io)?;
    let gzip = head.starts_with(gzip::MAGIC);
    let named = format_from_name(path);
    let metadata = file.metadata().ok();
    let hints = Hints {
        named,
        modified: metadata.as_ref().and_then(|m| m.modified().ok()),
    };
    let format = options.format.or(named);
    if gzip {
        return gzipped(name, BufReader::new(file), hints, options);
    }
    let evtx_magic = head.starts_with(MAGIC) && options.format.is_none();
    if format != Some(Format::Evtx) && !evtx_magic {
        return text(name, Box::new(BufReader::new(file)), hints, options);
    }
    // A regular file: positioned reads through a small window, see `WindowedFile`.
    #[cfg(unix)]
    if let Some(len) = metadata.filter(|m| m.is_file()).map(|m| m.len()) {
        return evtx(name, WindowedFile::new(file, len), options);
    }
    evtx(name, file, options)
}

/// Decodes JSON or a text format (possibly gzipped) from any reader, telling the format from
/// the content (or `options.format`), reporting events and errors under `name` (use `-` for
/// standard input). This is how standard input is read, and it suits tests.
///
/// # Errors
///
/// Reading fails, or the content is in no known format. EVTX, which needs random access,
/// is copied into an unnamed temporary file first (see [`DecodeOptions::evtx_spool_limit`]).
pub fn from_reader(
    name: &str,
    reader: impl Read + Send + 'static,
    options: &DecodeOptions,
) -> Result<Box<dyn EventSource + Send>, DecodeError> {
    let name: Arc<str> = name.into();
    let io = |e| DecodeError::io(&name, e);
    let (mut head, mut reader) = sniff(Box::new(reader)).map_err(io)?;
    if head.starts_with(gzip::MAGIC) {
        (head, reader) = sniff(GzipReader::new(BufReader::new(reader))).map_err(io)?;
    }
    if head.starts_with(MAGIC) || options.format == Some(Format::Evtx) {
        return evtx_via_temporary_file(name, reader, options);
    }
    text(
        name,
        Box::new(BufReader::new(reader)),
        Hints::default(),
        options,
    )
}

/// Decodes a whole input held in memory (EVTX, JSON, a text format, or any of them gzipped),
/// telling the format from the content (or `options.format`), reporting events and errors
/// under `name`.
///
/// # Errors
///
/// As for [`open`]: the content is in no known format, or is not the format forced.
pub fn from_bytes(
    name: &str,
    bytes: Vec<u8>,
    options: &DecodeOptions,
) -> Result<Box<dyn EventSource + Send>, DecodeError> {
    let name: Arc<str> = name.into();
    if bytes.starts_with(gzip::MAGIC) {
        return gzipped(name, Cursor::new(bytes), Hints::default(), options);
    }
    match options.format {
        Some(Format::Evtx) => evtx(name, Cursor::new(bytes), options),
        None if bytes.starts_with(MAGIC) => evtx(name, Cursor::new(bytes), options),
        _ => text(
            name,
            Box::new(Cursor::new(bytes)),
            Hints::default(),
            options,
        ),
    }
}

/// Decodes a gzipped input as it decompresses, telling its format from the name's inner
/// extension (`hints.named`), else from the first decompressed bytes. EVTX needs random
/// access: it is decompressed into an unnamed temporary file, deleted when the source is
/// dropped (see [`evtx_via_temporary_file`]).
fn gzipped<R: BufRead + Send + 'static>(
    name: Arc<str>,
    compressed: R,
    hints: Hints,
    options: &DecodeOptions,
) -> Result<Box<dyn EventSource + Send>, DecodeError> {
    let (head, reader) =
        sniff(GzipReader::new(compressed)).map_err(|e| DecodeError::io(&name, e))?;
    let is_evtx = match options.format {
        Some(forced) => forced == Format::Evtx,
        None => hints.named == Some(Format::Evtx) || head.starts_with(MAGIC),
    };
    if is_evtx {
        evtx_via_temporary_file(name, reader, options)
    } else {
        text(name, Box::new(BufReader::new(reader)), hints, options)
    }
}

/// Copies the EVTX in `reader` (decompressed, or standard input) into a temporary file, at
/// most `options.evtx_spool_limit` bytes of it, and decodes that; a read error or the limit
/// ends it there, the records before are decoded and the error follows them.
fn evtx_via_temporary_file(
    name: Arc<str>,
    mut reader: Box<dyn Read + Send>,
    options: &DecodeOptions,
) -> Result<Box<dyn EventSource + Send>, DecodeError> {
    let io = |e| DecodeError::io(&name, e);
    let mut file = tempfile::tempfile().map_err(io)?;
    let limit = options.evtx_spool_limit;
    let copied = std::io::copy(&mut (&mut reader).take(limit), &mut file);
    let trailing = match copied {
        Err(error) => Some(io(error)),
        Ok(copied) if copied == limit && matches!(reader.read(&mut [0]), Ok(1)) => {
            Some(DecodeError::UnknownFormat {
                file: Arc::clone(&name),
                reason: format!(
                    "the EVTX stream is longer than {limit} bytes; only those were read \
                     (save or decompress it to a file to read it all)"
                ),
            })
        }
        Ok(_) => None,
    };
    file.rewind().map_err(io)?;
    let source = match (EvtxSource::new(Arc::clone(&name), file, options), trailing) {
        (Ok(source), trailing) => Trailing {
            inner: source,
            error: trailing,
        },
        (Err(_), Some(error)) | (Err(error), None) => return Err(error),
    };
    Ok(Box::new(source))
}

/// A source, then one error about the input after its last record.
struct Trailing<S> {
    inner: S,
    error: Option<DecodeError>,
}

impl<S: EventSource> Iterator for Trailing<S> {
    type Item = Result<tocsin_event::Event, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().or_else(|| self.error.take().map(Err))
    }
}

impl<S: EventSource> EventSource for Trailing<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn note(&self) -> Option<String> {
        self.inner.note()
    }
}

/// Decodes a non-EVTX input: in the format forced by `options`, else the one its first lines
/// show (a name that says JSON allows only JSON or the API audit log), else JSON. UTF-16
/// input (see [`crate::utf16`]) is read as UTF-8.
fn text(
    name: Arc<str>,
    reader: Box<dyn BufRead + Send>,
    hints: Hints,
    options: &DecodeOptions,
) -> Result<Box<dyn EventSource + Send>, DecodeError> {
    let named = hints.named;
    let io = |e| DecodeError::io(&name, e);
    let (head, reader) = sniff(reader).map_err(io)?;
    let reader: Box<dyn BufRead + Send> = match utf16::detect(&head) {
        Some(encoding) => Box::new(BufReader::new(Transcoder::new(reader, encoding))),
        None => Box::new(BufReader::new(reader)),
    };
    let (head, reader) = sniff::first_lines(reader).map_err(io)?;
    let sniffed = sniff::sniff_text(&head);
    let format = match (options.format, named, sniffed) {
        (Some(forced), _, _) => forced,
        (None, Some(Format::Json), Some(Format::ApiAudit)) => Format::ApiAudit,
        (None, Some(Format::Json), _) => Format::Json,
        (None, _, sniffed) => sniffed.unwrap_or(Format::Json),
    };
    let clock = || clock(options, hints.modified);
    Ok(match format {
        Format::Json => {
            Box::new(JsonSource::new(name, reader)?.declared(options.logsource.clone()))
        }
        Format::ApiAudit => Box::new(ApiAuditSource::new(JsonSource::new(name, reader)?)),
        Format::Syslog => Box::new(TextSource::new(name, reader, SyslogDecoder::new(clock()))),
        Format::Appliance => {
            let decoder = ApplianceDecoder::new(clock(), options.appliance_max_pending);
            Box::new(TextSource::new(name, reader, decoder))
        }
        Format::Cef => Box::new(TextSource::new(name, reader, CefDecoder::new(clock()))),
        Format::Outbound => Box::new(TextSource::new(name, reader, OutboundDecoder::new())),
        Format::SessionReport => Box::new(SessionReportSource::new(name, reader)),
        Format::Evtx => {
            return Err(DecodeError::UnknownFormat {
                file: name,
                reason: "EVTX is read from files only, not from a stream".into(),
            })
        }
    })
}

/// What the file tells besides its content: the format its name says, and when it was last
/// modified.
#[derive(Debug, Clone, Copy, Default)]
struct Hints {
    named: Option<Format>,
    modified: Option<SystemTime>,
}

/// How an input's times without a year or zone are completed: the year given, else
/// inferred from the file's modification time (or now, for a stream).
fn clock(options: &DecodeOptions, modified: Option<SystemTime>) -> Clock {
    match (options.syslog_year, modified) {
        (Some(year), _) => Clock::given(year, options.timezone),
        (None, Some(modified)) => {
            let modified = DateTime::<Utc>::from(modified);
            Clock::inferred(modified, "the file's modification time", options.timezone)
        }
        (None, None) => Clock::inferred(Utc::now(), "the time it was read", options.timezone),
    }
}

fn evtx<T>(
    name: Arc<str>,
    data: T,
    options: &DecodeOptions,
) -> Result<Box<dyn EventSource + Send>, DecodeError>
where
    T: KnownZeros + Send + 'static,
{
    Ok(Box::new(EvtxSource::new(name, data, options)?))
}

/// Up to the first 8 bytes of `file`, which is left at its start: read in place, so that
/// no seek back costs a system call per file.
#[cfg(unix)]
fn read_head(file: &File) -> std::io::Result<Vec<u8>> {
    let mut head = vec![0; MAGIC.len()];
    let read = crate::windowed_file::read_at_most(file, &mut head, 0)?;
    head.truncate(read);
    Ok(head)
}

/// Up to the first 8 bytes of `file`, which is left at its start.
#[cfg(not(unix))]
fn read_head(mut file: &File) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(MAGIC.len());
    file.take(MAGIC.len() as u64).read_to_end(&mut head)?;
    file.rewind()?;
    Ok(head)
}

/// The first 8 bytes of `reader` (fewer at the end of input), and a reader that still
/// yields them.
fn sniff<R: Read + Send + 'static>(
    mut reader: R,
) -> std::io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = Vec::with_capacity(MAGIC.len());
    // `read_to_end` keeps reading until it has them all, however a pipe splits them.
    (&mut reader)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut head)?;
    let reader = Cursor::new(head.clone()).chain(reader);
    Ok((head, Box::new(reader)))
}

/// The format a file's name says, if it says one.
fn format_from_name(path: &Path) -> Option<Format> {
    let mut extension = extension(path)?;
    if extension == "gz" {
        // `x.evtx.gz`: the inner extension names the format.
        let stem = Path::new(path.file_stem()?);
        extension = self::extension(stem).unwrap_or_default();
    }
    match extension.as_str() {
        "evtx" => Some(Format::Evtx),
        "json" | "jsonl" | "ndjson" => Some(Format::Json),
        _ => None,
    }
}

fn extension(path: &Path) -> Option<String> {
    Some(path.extension()?.to_str()?.to_ascii_lowercase())
}

/// Expands `inputs` into the files to read: a file (or `-`) is kept as given, whatever its
/// extension; a directory is walked recursively, in name order, keeping the files whose
/// extension is in `options.extensions` (all files when that list is empty).
///
/// Returns the files, and an error for each input that does not exist and each directory
/// entry that could not be read.
pub fn discover(inputs: &[PathBuf], options: &DecodeOptions) -> (Vec<PathBuf>, Vec<DecodeError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" || input.is_file() {
            files.push(input.clone());
            continue;
        }
        if !input.is_dir() {
            let error = std::fs::metadata(input)
                .err()
                .unwrap_or_else(|| std::io::Error::other("neither a file nor a directory"));
            errors.push(DecodeError::io_path(input, error));
            continue;
        }
        let walk = walkdir::WalkDir::new(input)
            .follow_links(true)
            .sort_by_file_name();
        for entry in walk {
            match entry {
                Ok(entry)
                    if entry.file_type().is_file() && wanted(entry.path(), &options.extensions) =>
                {
                    files.push(entry.into_path());
                }
                Ok(_) => {}
                Err(error) => {
                    let path = error.path().unwrap_or(input).to_path_buf();
                    let io = std::io::Error::from(error);
                    errors.push(DecodeError::io_path(&path, io));
                }
            }
        }
    }
    (files, errors)
}

fn wanted(path: &Path, extensions: &[String]) -> bool {
    if extensions.is_empty() {
        return true;
    }
    let Some(extension) = path.extension().and_then(|e| e.to_str()) else {
        return false;
    };
    extensions.iter().any(|wanted| {
        wanted
            .trim_start_matches('.')
            .eq_ignore_ascii_case(extension)
    })
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

    /// `record:name=value` for each event, `error: ...` for each error.
    fn collect(source: Box<dyn EventSource + Send>) -> Vec<String> {
        source
            .map(|item| match item {
                Ok(event) => {
                    let fields: Vec<_> = event
                        .fields
                        .iter()
                        .map(|f| format!("{}={}", f.name(), f.value))
                        .collect();
                    format!("{}:{}", event.origin.record, fields.join(","))
                }
                Err(error) => format!("error: {error}"),
            })
            .collect()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    const LINES: &[u8] = b"{\"a\": 1}\n{\"a\": 2}\n";

    #[test]
    fn reader_over_a_byte_slice_as_stdin() {
        let source = from_reader("-", LINES, &DecodeOptions::default()).unwrap();
        assert_eq!(source.name(), "-");
        let events: Vec<_> = source.map(Result::unwrap).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(&*events[1].origin.source, "-");
        assert_eq!(events[1].origin.record, 2);
    }

    #[test]
    fn gzip_is_told_by_magic_bytes() {
        let options = DecodeOptions::default();
        let packed = gzip(LINES);
        let from_stream =
            collect(from_reader("-", std::io::Cursor::new(packed.clone()), &options).unwrap());
        assert_eq!(from_stream, ["1:a=1", "2:a=2"]);

        let dir = tempfile::tempdir().unwrap();
        for name in ["x.jsonl.gz", "x.json", "x.gz", "x.data"] {
            let path = write(dir.path(), name, &packed);
            let source = open(&path, &options).unwrap();
            assert_eq!(source.name(), path.to_str().unwrap());
            assert_eq!(collect(source), ["1:a=1", "2:a=2"], "{name}");
        }
        // A pretty-printed array inside gzip, a multi-member gzip stream.
        let mut two_members = gzip(b"[{\"a\": 1},\n");
        two_members.extend(gzip(b" {\"a\": 2}]"));
        let path = write(dir.path(), "y.json.gz", &two_members);
        assert_eq!(collect(open(&path, &options).unwrap()), ["1:a=1", "2:a=2"]);
    }

    #[test]
    fn damaged_gzip_is_an_error() {
        let mut packed = gzip(&LINES.repeat(1000));
        packed.truncate(packed.len() / 2);
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "cut.jsonl.gz", &packed);
        let items = collect(open(&path, &DecodeOptions::default()).unwrap());
        // The lines before the cut are decoded, then the read error ends the input.
        let last = items.last().unwrap();
        assert!(
            last.starts_with("error: ") && last.contains("cut.jsonl.gz"),
            "{last}"
        );
        assert!(
            items.len() > 2
                && items[..items.len() - 1]
                    .iter()
                    .all(|i| !i.starts_with("error"))
        );
    }

    #[test]
    fn format_from_extension_then_content() {
        let options = DecodeOptions::default();
        let dir = tempfile::tempdir().unwrap();
        // Named EVTX, but is not: one clear error.
        let path = write(dir.path(), "fake.evtx", LINES);
        let error = open(&path, &options).err().unwrap();
        assert!(matches!(error, DecodeError::NotEvtx { .. }), "{error}");
        let path = write(dir.path(), "fake.evtx.gz", &gzip(LINES));
        let error = open(&path, &options).err().unwrap();
        assert!(matches!(error, DecodeError::NotEvtx { .. }), "{error}");
        // Unknown extension: sniffed as JSON.
        let path = write(dir.path(), "events.txt", LINES);
        assert_eq!(collect(open(&path, &options).unwrap()).len(), 2);
        // Forced format overrides the name.
        let forced = DecodeOptions {
            format: Some(Format::Evtx),
            ..DecodeOptions::default()
        };
        assert!(open(&path, &forced).is_err());
        // Neither JSON nor EVTX.
        let path = write(dir.path(), "notes.txt", b"hello");
        let error = open(&path, &options).err().unwrap();
        assert!(
            matches!(error, DecodeError::UnknownFormat { .. }),
            "{error}"
        );
        // EVTX magic under a JSON name is read as EVTX (and here refused as a damaged one),
        // unless JSON is forced.
        let mut fake = MAGIC.to_vec();
        fake.resize(64, 0);
        let path = write(dir.path(), "odd.json", &fake);
        let error = open(&path, &options).err().unwrap();
        assert!(matches!(error, DecodeError::NotEvtx { .. }), "{error}");
        let json_forced = DecodeOptions {
            format: Some(Format::Json),
            ..DecodeOptions::default()
        };
        let error = open(&path, &json_forced).err().unwrap();
        assert!(
            matches!(error, DecodeError::UnknownFormat { .. }),
            "{error}"
        );
        // Missing file.
        let error = open(&dir.path().join("missing.json"), &options)
            .err()
            .unwrap();
        assert!(matches!(error, DecodeError::Io { .. }), "{error}");
    }

    #[test]
    fn evtx_through_the_window_from_memory_or_from_the_plain_file_gives_the_same_events() {
        let Some(dir) = crate::evtx_direct::tests::corpus_dir() else {
            return;
        };
        // Files of several chunks, read by `open` through `WindowedFile`, from memory, and
        // with the plain file's own reads and seeks.
        let files: Vec<PathBuf> = walkdir::WalkDir::new(&dir)
            .into_iter()
            .filter_map(Result::ok)
            .map(walkdir::DirEntry::into_path)
            .filter(|path| {
                path.extension().is_some_and(|x| x == "evtx")
                    && std::fs::metadata(path).is_ok_and(|m| m.len() > 1 << 20)
            })
            .take(3)
            .collect();
        assert!(
            !files.is_empty(),
            "no EVTX file of several chunks in the corpus"
        );
        let options = DecodeOptions::default();
        for path in files {
            let windowed = collect(open(&path, &options).unwrap());
            let bytes = std::fs::read(&path).unwrap();
            let in_memory = collect(evtx(path_name(&path), Cursor::new(bytes), &options).unwrap());
            let file = File::open(&path).unwrap();
            let plain = collect(evtx(path_name(&path), file, &options).unwrap());
            assert!(windowed.len() > 1, "{}", path.display());
            assert_eq!(windowed, in_memory, "{}", path.display());
            assert_eq!(windowed, plain, "{}", path.display());
        }
    }

    #[test]
    fn evtx_from_a_stream_goes_through_a_temporary_file() {
        // The magic and a few zeros: read into the temporary file, then refused as a
        // damaged header, as the same bytes in a file would be.
        let mut fake = MAGIC.to_vec();
        fake.resize(100, 0);
        let error = from_reader("-", std::io::Cursor::new(fake), &DecodeOptions::default())
            .err()
            .unwrap();
        assert!(matches!(error, DecodeError::NotEvtx { .. }), "{error}");
        assert!(
            error.to_string().starts_with("-: not an EVTX file"),
            "{error}"
        );
    }

    #[test]
    fn discovery_walks_sorted_and_filters_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "b/2.json",
            "b/1.EVTX",
            "a.jsonl",
            "c/d/e.log.gz",
            "notes.txt",
            "x.syslog",
            "y.cef",
            "c/readme.md",
            "noext",
        ] {
            write(root, name, b"");
        }
        let named = write(root, "other/named.txt", b"");
        let missing = root.join("missing");
        let inputs = [
            root.to_path_buf(),
            named.clone(),
            PathBuf::from("-"),
            missing.clone(),
        ];
        let (files, errors) = discover(&inputs, &DecodeOptions::default());
        let relative: Vec<_> = files
            .iter()
            .map(|f| {
                f.strip_prefix(root)
                    .unwrap_or(f)
                    .to_string_lossy()
                    .replace('\\', "/")
            })
            .collect();
        assert_eq!(
            relative,
            [
                "a.jsonl",
                "b/1.EVTX",
                "b/2.json",
                "c/d/e.log.gz",
                // `.txt` is not read inside folders: corpora ship licences and readmes.
                "x.syslog",
                "y.cef",
                // Found in the folder, and named.
                "other/named.txt",
                "-"
            ]
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].file(), missing.to_string_lossy());

        let only_json = DecodeOptions {
            extensions: vec![".json".into(), "TXT".into()],
            ..DecodeOptions::default()
        };
        let (files, _) = discover(&[root.to_path_buf()], &only_json);
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy())
            .collect();
        assert_eq!(names, ["2.json", "notes.txt", "named.txt"]);

        let everything = DecodeOptions {
            extensions: Vec::new(),
            ..DecodeOptions::default()
        };
        assert_eq!(discover(&[root.to_path_buf()], &everything).0.len(), 10);
    }

    /// The logsource of each event (`product/service`), `error: line N` for each error.
    fn logsources(source: Box<dyn EventSource + Send>) -> Vec<String> {
        source
            .map(|item| match item {
                Ok(event) => event.logsource.map_or("none".into(), |l| {
                    format!(
                        "{}/{}",
                        l.product.as_deref().unwrap_or_default(),
                        l.service.as_deref().unwrap_or_default()
                    )
                }),
                Err(error) => format!("error: line {:?}", error.line()),
            })
            .collect()
    }

    const APPLIANCE: &[u8] = b"Feb  5 12:54:46 h BG[1]:7:01:02:event=lo\n\
Feb  5 12:54:46 h BG[1]:8:01:01:event=logout\n\
Feb  5 12:54:46 h BG[1]:7:02:02:gin\n";
    const SYSLOG: &[u8] = b"<13>1 - h sshd - - - x\nFeb  5 12:54:46 h cron[1]: y\nnot syslog\n";
    const CEF: &[u8] = b"Feb  5 12:54:46 h CEF:0|V|Fire Wall|1|2|n|3|src=1\n";
    const AUDIT: &[u8] =
        b"{\"time\":\"2024-12-02T03:14:07Z\",\"api_key_id\":\"k\",\"action\":\"auth.token\"}\n";

    #[test]
    fn text_formats_are_sniffed_from_content_under_any_name() {
        let options = DecodeOptions {
            syslog_year: Some(2025),
            ..DecodeOptions::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8], &[&str]); 7] = [
            (
                "bg.log",
                APPLIANCE,
                &["remote_support/appliance", "remote_support/appliance"],
            ),
            (
                "auth.syslog",
                SYSLOG,
                &["linux/sshd", "linux/cron", "error: line Some(3)"],
            ),
            ("fw.cef", CEF, &["fire_wall/cef"]),
            ("fw.txt", CEF, &["fire_wall/cef"]),
            ("audit.jsonl", AUDIT, &["remote_support/api_audit"]),
            ("audit.log", AUDIT, &["remote_support/api_audit"]),
            ("plain.json", LINES, &["none", "none"]),
        ];
        for (name, content, expected) in cases {
            let path = write(dir.path(), name, content);
            assert_eq!(
                logsources(open(&path, &options).unwrap()),
                expected,
                "{name}"
            );
            let packed = write(dir.path(), &format!("{name}.gz"), &gzip(content));
            assert_eq!(
                logsources(open(&packed, &options).unwrap()),
                expected,
                "{name}.gz"
            );
            let from_stream = from_reader("-", std::io::Cursor::new(content), &options).unwrap();
            assert_eq!(logsources(from_stream), expected, "{name} from a stream");
            let from_memory = from_bytes("mem", content.to_vec(), &options).unwrap();
            assert_eq!(logsources(from_memory), expected, "{name} from memory");
        }
        // Syslog under a JSON name stays JSON, as before.
        let path = write(dir.path(), "odd.json", SYSLOG);
        assert!(matches!(
            open(&path, &options).err(),
            Some(DecodeError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn forced_formats_override_the_content() {
        let forced = |format| DecodeOptions {
            format: Some(format),
            syslog_year: Some(2025),
            ..DecodeOptions::default()
        };
        // The appliance lines read as plain syslog: three events, no reassembly.
        let source = from_bytes("x", APPLIANCE.to_vec(), &forced(Format::Syslog)).unwrap();
        assert_eq!(logsources(source), ["linux/syslog"; 3]);
        // Syslog forced as CEF: every line an error naming it.
        let source = from_bytes("x", SYSLOG.to_vec(), &forced(Format::Cef)).unwrap();
        assert_eq!(
            logsources(source),
            [
                "error: line Some(1)",
                "error: line Some(2)",
                "error: line Some(3)"
            ]
        );
        // Plain JSON forced as the API audit log.
        let source = from_bytes("x", LINES.to_vec(), &forced(Format::ApiAudit)).unwrap();
        assert_eq!(logsources(source), ["remote_support/api_audit"; 2]);
        let source = from_bytes("x", CEF.to_vec(), &forced(Format::Appliance)).unwrap();
        assert_eq!(logsources(source), ["error: line Some(1)"]);
    }

    /// The peak resident memory of this process so far (`VmHWM`), in bytes.
    fn peak_rss() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_gzip_bomb_of_any_format_is_streamed() {
        // 512 members, each one syslog line and 1 MiB of blank lines: 512 MiB inflated from
        // about 1 MiB, as rotated logs (`auth.log.2.gz`) are named.
        let mut member = b"Feb  5 12:54:46 h sshd[1]: Accepted password for x\n".to_vec();
        let blank = [b' '; 4095]
            .iter()
            .chain(b"\n")
            .copied()
            .collect::<Vec<u8>>();
        for _ in 0..256 {
            member.extend(&blank);
        }
        let member = gzip(&member);
        let bomb: Vec<u8> = std::iter::repeat_n(&member[..], 512)
            .flatten()
            .copied()
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "auth.log.2.gz", &bomb);
        drop(bomb);
        let before = peak_rss();
        let options = DecodeOptions {
            syslog_year: Some(2025),
            ..DecodeOptions::default()
        };
        let items: Vec<_> = open(&path, &options).unwrap().collect();
        let grown = peak_rss().saturating_sub(before);
        assert_eq!(items.len(), 512);
        assert!(items.iter().all(Result::is_ok));
        assert!(grown < 128 << 20, "peak memory grew by {} MiB", grown >> 20);
    }

    #[test]
    fn a_truncated_gzip_keeps_the_records_before_the_cut() {
        let text: Vec<u8> = (1..=20_000)
            .flat_map(|i| format!("{{\"a\": {i}}}\n").into_bytes())
            .collect();
        let packed = gzip(&text);
        let dir = tempfile::tempdir().unwrap();
        for (name, options) in [
            ("x.log.gz", DecodeOptions::default()),
            ("x.json.gz", DecodeOptions::default()),
            (
                "x.gz",
                DecodeOptions {
                    format: Some(Format::Json),
                    ..DecodeOptions::default()
                },
            ),
        ] {
            let path = write(dir.path(), name, &packed[..packed.len() / 2]);
            let items = collect(open(&path, &options).unwrap());
            let (last, events) = items.split_last().unwrap();
            assert!(events.len() > 1000, "{name}: {}", events.len());
            assert_eq!(events[999], "1000:a=1000");
            assert!(
                last.starts_with(&format!(
                    "error: {}: gzip data cut short after ",
                    path.display()
                )),
                "{name}: {last}"
            );
        }
        // An array, which is read whole: the elements before the cut are kept too.
        let array = format!("[{}]", vec!["{\"a\": 1}"; 20_000].join(",\n"));
        let packed = gzip(array.as_bytes());
        let path = write(dir.path(), "array.json.gz", &packed[..packed.len() / 2]);
        let items = collect(open(&path, &DecodeOptions::default()).unwrap());
        assert!(items.len() > 1000);
        assert!(items[..items.len() - 2].iter().all(|i| i.ends_with("a=1")));
        assert!(
            items[items.len() - 1].contains("gzip data cut short"),
            "{items:?}"
        );
    }

    #[test]
    fn trailing_zero_padding_is_ignored_like_gzip_does() {
        let mut padded = gzip(LINES);
        padded.resize(padded.len() + 4096, 0);
        let dir = tempfile::tempdir().unwrap();
        for name in ["x.log.gz", "x.json.gz"] {
            let path = write(dir.path(), name, &padded);
            let source = open(&path, &DecodeOptions::default()).unwrap();
            assert_eq!(collect(source), ["1:a=1", "2:a=2"], "{name}");
        }
        let source = from_bytes("mem", padded.clone(), &DecodeOptions::default()).unwrap();
        assert_eq!(collect(source), ["1:a=1", "2:a=2"]);
        let source = from_reader("-", Cursor::new(padded), &DecodeOptions::default()).unwrap();
        assert_eq!(collect(source), ["1:a=1", "2:a=2"]);
    }

    fn utf16le(text: &[u8], bom: bool) -> Vec<u8> {
        let mut bytes = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        bytes.extend(text.iter().flat_map(|&b| [b, 0]));
        bytes
    }

    #[test]
    fn utf16_json_and_syslog_are_decoded() {
        let options = DecodeOptions {
            syslog_year: Some(2025),
            ..DecodeOptions::default()
        };
        let dir = tempfile::tempdir().unwrap();
        for bom in [true, false] {
            let content = utf16le(LINES, bom);
            let path = write(dir.path(), "x.json", &content);
            assert_eq!(collect(open(&path, &options).unwrap()), ["1:a=1", "2:a=2"]);
            let path = write(dir.path(), "x.json.gz", &gzip(&content));
            assert_eq!(collect(open(&path, &options).unwrap()), ["1:a=1", "2:a=2"]);
            let stream = from_reader("-", std::io::Cursor::new(content), &options).unwrap();
            assert_eq!(collect(stream), ["1:a=1", "2:a=2"]);
            let path = write(dir.path(), "auth.log", &utf16le(SYSLOG, bom));
            let source = open(&path, &options).unwrap();
            assert_eq!(
                logsources(source),
                ["linux/sshd", "linux/cron", "error: line Some(3)"]
            );
        }
    }

    #[test]
    fn a_garbage_first_line_does_not_refuse_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["x.jsonl", "x.log"] {
            let path = write(
                dir.path(),
                name,
                b"%%% garbage %%%\n{\"a\": 1}\n{\"a\": 2}\n",
            );
            assert_eq!(
                collect(open(&path, &DecodeOptions::default()).unwrap()),
                [
                    format!(
                        "error: {}: line 1, column 1 (record 1): expected value",
                        path.display()
                    ),
                    "2:a=1".into(),
                    "3:a=2".into()
                ],
                "{name}"
            );
        }
    }

    /// Each event's time (RFC 3339), each error's text.
    fn times(source: &mut (dyn EventSource + Send)) -> Vec<String> {
        source
            .map(|item| match item {
                Ok(event) => {
                    let micros = event.timestamp_micros.unwrap();
                    chrono::DateTime::from_timestamp_micros(micros)
                        .unwrap()
                        .to_rfc3339()
                }
                Err(error) => format!("error: {error}"),
            })
            .collect()
    }

    #[test]
    fn syslog_years_come_from_the_file_modification_time() {
        let dir = tempfile::tempdir().unwrap();
        let lines = b"Dec 31 23:59:00 h sshd[1]: a\nJan  1 00:01:00 h sshd[1]: b\n";
        let path = write(dir.path(), "auth.log", lines);
        let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_735_900_000);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap(); // 2025-01-03 10:26 UTC
        let mut source = open(&path, &DecodeOptions::default()).unwrap();
        assert_eq!(
            times(&mut *source),
            ["2024-12-31T23:59:00+00:00", "2025-01-01T00:01:00+00:00"]
        );
        let note = source.note().unwrap();
        assert!(
            note.starts_with("times without a year were given the year 2024 to 2025 (inferred from the file's modification time (2025-01-03 10:26)"),
            "{note}"
        );
        // A year and a zone given: the year rolls over at the turn of the months.
        let options = DecodeOptions {
            syslog_year: Some(2019),
            timezone: "+02:00".parse().unwrap(),
            ..DecodeOptions::default()
        };
        let mut source = open(&path, &options).unwrap();
        assert_eq!(
            times(&mut *source),
            ["2019-12-31T21:59:00+00:00", "2019-12-31T22:01:00+00:00"]
        );
        assert!(source
            .note()
            .unwrap()
            .ends_with("2019 to 2020 (as given), and times without a zone were read as UTC+02:00 (--syslog-year and --tz say otherwise)"));
        // JSON needs no such note (nor one on its origin, declared here).
        let path = write(dir.path(), "x.json", LINES);
        let declared = DecodeOptions {
            logsource: Some(Arc::new(tocsin_event::LogSource::new("linux", "auth"))),
            ..DecodeOptions::default()
        };
        let mut source = open(&path, &declared).unwrap();
        assert_eq!(source.by_ref().count(), 2);
        assert_eq!(source.note(), None);
    }

    #[test]
    fn format_names_round_trip() {
        for format in Format::ALL {
            assert_eq!(format.name().parse::<Format>(), Ok(format));
            assert_eq!(format.to_string(), format.name());
        }
        assert_eq!("API_AUDIT".parse::<Format>(), Ok(Format::ApiAudit));
        assert_eq!("rfc5424".parse::<Format>(), Ok(Format::Syslog));
        assert_eq!(
            "xml".parse::<Format>(),
            Err(
                "unknown format `xml` (expected one of evtx, json, syslog, appliance, cef, api-audit, outbound, session-report)"
                    .to_string()
            )
        );
    }
}
