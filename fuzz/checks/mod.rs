//! What each fuzz target checks on one input, shared by the fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the regression test that replays the checked-in corpus
//! (`crates/cli/tests/fuzz_corpus.rs`), so that a corpus input is judged the same way in CI
//! as under the fuzzer. Each function panics when the property fails.

// A check's failure is a panic, as the fuzzer expects.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use tocsin_decode::{from_bytes, DecodeError, DecodeOptions, EvtxDecoder, Format};
use tocsin_engine::{parse_placeholders, EngineBuilder, LogsourceMapping, Scratch};
use tocsin_event::{Event, Value};
use tocsin_sigma::ast::LogSource;

/// One target's check: panics when the property fails on the input.
pub type Check = fn(&[u8]);

/// The fuzz targets, by the name of their corpus folder, with their check.
pub const TARGETS: [(&str, Check); 6] = [
    ("json", json),
    ("text", text),
    ("evtx", evtx),
    ("evtx_direct", evtx_direct),
    ("sigma", sigma),
    ("mapping", mapping),
];

/// Arbitrary bytes through the JSON decoder (all three shapes, gzip too): no panic, and
/// every event numbered from 1.
pub fn json(data: &[u8]) {
    let options = DecodeOptions {
        format: Some(Format::Json),
        ..DecodeOptions::default()
    };
    if let Ok(source) = from_bytes("fuzz", data.to_vec(), &options) {
        for event in source.flatten() {
            assert!(event.origin.record > 0);
        }
    }
}

/// The text formats by the first byte of a fuzz input (`byte % 8`), `None` being sniffing.
/// A new format goes at the end; the inputs kept in `regressions/text/` start with their
/// format's index itself (below 8), so that they keep reaching the decoder they were kept
/// for whatever is added.
const TEXT_FORMATS: [Option<Format>; 8] = [
    Some(Format::Json),
    Some(Format::Syslog),
    Some(Format::Appliance),
    Some(Format::Cef),
    Some(Format::ApiAudit),
    None,
    Some(Format::Outbound),
    Some(Format::SessionReport),
];

/// Arbitrary bytes through the text decoders (appliance syslog with segments, RFC 3164 and
/// RFC 5424 syslog, CEF, the API audit log, outbound events, session reports, and
/// sniffing; the first byte picks one of [`TEXT_FORMATS`]): no panic, and every error
/// names a line of the input, but for a damaged gzip stream's.
pub fn text(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let format = TEXT_FORMATS[usize::from(selector) % TEXT_FORMATS.len()];
    let options = DecodeOptions {
        format,
        syslog_year: Some(2024),
        appliance_max_pending: 4,
        ..DecodeOptions::default()
    };
    // Lines are counted in the input as given: a gzipped one has its own, uncounted here.
    let gzipped = input.starts_with(&[0x1f, 0x8b]);
    let lines = input.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    if let Ok(source) = from_bytes("fuzz", input.to_vec(), &options) {
        for item in source {
            match item {
                // JSON numbers records by object, several may share a line.
                Ok(event) => assert!(event.origin.record >= 1),
                Err(error) => match error.line() {
                    Some(line) => assert!(gzipped || (1..=lines).contains(&line), "{error}"),
                    // Only a reading error (a damaged gzip stream) is about no line.
                    None => assert!(matches!(error, DecodeError::Io { .. }), "{error}"),
                },
            }
        }
    }
}

/// Arbitrary bytes through the EVTX decoders: no panic, not even one caught by the decoder,
/// and tocsin's direct decoder gives every item (events field for field, errors by their
/// text, in order) exactly as the `evtx` crate's JSON path does.
pub fn evtx(data: &[u8]) {
    let items = |decoder| -> Option<Vec<Result<Event, String>>> {
        let options = DecodeOptions {
            // Inline parsing: deterministic, and no thread pool per input.
            evtx_threads: 1,
            format: Some(Format::Evtx),
            evtx_decoder: decoder,
            ..DecodeOptions::default()
        };
        let source = from_bytes("fuzz", data.to_vec(), &options).ok()?;
        Some(source.map(|item| item.map_err(|e| e.to_string())).collect())
    };
    let direct = items(EvtxDecoder::Direct);
    for error in direct
        .iter()
        .flatten()
        .filter_map(|item| item.as_ref().err())
    {
        assert!(!error.contains("panicked"), "{error}");
    }
    assert_eq!(
        direct,
        items(EvtxDecoder::Crate),
        "the direct EVTX decoder and the evtx crate disagree"
    );
}

/// Arbitrary bytes as the one chunk of an EVTX file (after its `ElfChnk` magic, so that the
/// chunk header and records are reached, not refused at the magic), decoded by tocsin's
/// direct decoder and by the `evtx` crate's JSON path: the same items from both (the direct
/// decoder hands every chunk it does not take to the crate, so a difference is a record it
/// took and rendered otherwise), and no panic.
pub fn evtx_direct(data: &[u8]) {
    const HEADER: usize = 4096;
    const CHUNK: usize = 65536;
    let mut file = vec![0u8; HEADER + CHUNK];
    file[..8].copy_from_slice(b"ElfFile\0");
    // Header size, minor and major version, header block size, chunk count.
    file[32..36].copy_from_slice(&128u32.to_le_bytes());
    file[36..38].copy_from_slice(&1u16.to_le_bytes());
    file[38..40].copy_from_slice(&3u16.to_le_bytes());
    file[40..42].copy_from_slice(&(HEADER as u16).to_le_bytes());
    file[42..44].copy_from_slice(&1u16.to_le_bytes());
    file[HEADER..HEADER + 8].copy_from_slice(b"ElfChnk\0");
    let n = data.len().min(CHUNK - 8);
    file[HEADER + 8..HEADER + 8 + n].copy_from_slice(&data[..n]);
    evtx(&file);
}

/// Arbitrary text as a Sigma rule file: parsed, compiled, and the compiled rules evaluated
/// on an event made of the same text by both evaluators, which must agree.
pub fn sigma(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let documents: Vec<_> = tocsin_sigma::parse_documents(text, "fuzz.yml".as_ref())
        .into_iter()
        .flatten()
        .collect();
    let (engine, _) = EngineBuilder::new().build(&documents);
    let mut event = Event::default();
    event.push("CommandLine", "", Value::from(text));
    event.push("Image", "", Value::from(text));
    let mut scratch = Scratch::default();
    let indexed = engine.evaluate(&event, &mut scratch).to_vec();
    assert_eq!(
        indexed,
        engine.evaluate_reference(&event),
        "the evaluators disagree"
    );
}

/// A rule placed by the mapping (category and service) that expands a placeholder.
const MAPPED_RULE: &str = "title: Fuzz\nlogsource: {category: process_creation, product: windows, service: security}\ndetection:\n  sel: {Image|expand: '%Admins%'}\n  condition: sel\n";

/// Arbitrary text as a logsource mapping (`--mapping`) and a placeholder file
/// (`--placeholders`); what parses places and compiles a rule that uses both. No panic and
/// no stack overflow, however the YAML nests.
pub fn mapping(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = "fuzz.yml".as_ref();
    let mut builder = EngineBuilder::new();
    if let Ok(mapping) = LogsourceMapping::from_yaml(text, path) {
        for (category, service) in [(Some("process_creation"), None), (None, Some("security"))] {
            let _ = mapping.resolve(&LogSource {
                category: category.map(str::to_owned),
                product: Some("windows".to_owned()),
                service: service.map(str::to_owned),
                ..LogSource::default()
            });
        }
        builder = builder.mapping(mapping);
    }
    if let Ok(placeholders) = parse_placeholders(text, path) {
        builder = builder.placeholders(placeholders);
    }
    let documents: Vec<_> = tocsin_sigma::parse_documents(MAPPED_RULE, "rule.yml".as_ref())
        .into_iter()
        .flatten()
        .collect();
    let _ = builder.build(&documents);
}
