//! What each fuzz target checks on one input, shared by the fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the regression test that replays the checked-in corpus
//! (`crates/cli/tests/fuzz_corpus.rs`), so that a corpus input is judged the same way in CI
//! as under the fuzzer. Each function panics when the property fails.

// A check's failure is a panic, as the fuzzer expects.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use tocsin_decode::{from_bytes, DecodeError, DecodeOptions, Format};
use tocsin_engine::{parse_placeholders, EngineBuilder, LogsourceMapping, Scratch};
use tocsin_event::{Event, Value};
use tocsin_sigma::ast::LogSource;

/// One target's check: panics when the property fails on the input.
pub type Check = fn(&[u8]);

/// The fuzz targets, by the name of their corpus folder, with their check.
pub const TARGETS: [(&str, Check); 5] = [
    ("json", json),
    ("text", text),
    ("evtx", evtx),
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

/// Arbitrary bytes through the EVTX decoder: no panic. A parser panic is turned into an
/// error item by the decoder, so that is checked for too.
pub fn evtx(data: &[u8]) {
    let options = DecodeOptions {
        // Inline parsing: deterministic, and no thread pool per input.
        evtx_threads: 1,
        format: Some(Format::Evtx),
        ..DecodeOptions::default()
    };
    if let Ok(source) = from_bytes("fuzz", data.to_vec(), &options) {
        for item in source {
            if let Err(error) = item {
                assert!(!error.to_string().contains("panicked"), "{error}");
            }
        }
    }
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
