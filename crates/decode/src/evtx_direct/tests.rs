//! Tests of the direct decoder: equivalence with the `evtx` crate path over the sample
//! corpus (`$TOCSIN_SHARED/evtx`), hostile input (cut and damaged chunks), and an ignored
//! speed comparison.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use evtx::{EvtxChunkData, ParserSettings};
use serde::de::DeserializeSeed;
use tocsin_event::{Event, Origin};

use super::{decode_chunk, Fallback, WINDOWS};
use crate::flatten::Flattener;

const FILE_HEADER: usize = 4096;
const CHUNK: usize = 65536;

/// The corpus folder, or `None` (said loudly) when it is absent.
pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let shared = std::env::var_os("TOCSIN_SHARED")
        .map_or_else(|| PathBuf::from("/work/shared"), PathBuf::from);
    let dir = shared.join("evtx");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!! SKIPPED: no EVTX corpus at {} (set TOCSIN_SHARED) !!!\n",
            dir.display()
        );
        None
    }
}

/// Every whole chunk of every `.evtx` file of the corpus: (file name, chunk number, bytes).
fn corpus_chunks(dir: &std::path::Path) -> Vec<(Arc<str>, u64, Vec<u8>)> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_type().is_file()
                && e.path()
                    .extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("evtx"))
        })
        .map(|e| e.into_path())
        .collect();
    files.sort();
    let mut chunks = Vec::new();
    for path in files {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let name: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
        let whole = bytes.len().saturating_sub(FILE_HEADER) / CHUNK;
        for n in 0..whole {
            let start = FILE_HEADER + n * CHUNK;
            chunks.push((
                Arc::clone(&name),
                n as u64,
                bytes[start..start + CHUNK].to_vec(),
            ));
        }
    }
    chunks
}

/// Today's path for one chunk, as `evtx.rs` does it: the crate renders each record as JSON
/// and the flattener turns it into an event. Errors are their messages.
fn crate_path(file: &Arc<str>, bytes: &[u8], validate: bool) -> Vec<Result<Event, String>> {
    let mut data = match EvtxChunkData::new(bytes.to_vec(), validate) {
        Ok(data) => data,
        Err(e) => return vec![Err(format!("chunk: {e}"))],
    };
    let settings = Arc::new(
        ParserSettings::new()
            .validate_checksums(validate)
            .separate_json_attributes(false)
            .indent(false),
    );
    let mut chunk = match data.parse(settings) {
        Ok(chunk) => chunk,
        Err(e) => return vec![Err(format!("chunk: {e}"))],
    };
    let mut out = Vec::new();
    for record in chunk.iter() {
        let event = record.map_err(|e| e.to_string()).and_then(|record| {
            let id = record.event_record_id;
            let rendered = record.into_json_bytes().map_err(|e| e.to_string())?;
            let mut de = serde_json::Deserializer::from_slice(&rendered.data);
            let mut event = Flattener::with_capacity(32)
                .deserialize(&mut de)
                .map_err(|e| e.to_string())?;
            event.origin = Origin {
                source: Arc::clone(file),
                record: id,
            };
            event.logsource = Some(Arc::clone(&WINDOWS));
            Ok(event)
        });
        out.push(event);
    }
    out
}

/// The direct decoder's events for a chunk, or its fallback.
fn direct(file: &Arc<str>, n: u64, bytes: &[u8], validate: bool) -> Result<Vec<Event>, Fallback> {
    let mut out = Vec::new();
    decode_chunk(file, n, bytes, validate, &mut out)?;
    Ok(out
        .into_iter()
        .map(|item| item.expect("the direct decoder yields events only"))
        .collect())
}

/// Where the direct decoder's events differ from the crate path's, if they do.
fn difference(direct: &[Event], reference: &[Result<Event, String>]) -> Option<String> {
    if direct.len() != reference.len() {
        return Some(format!(
            "{} events, the crate path gives {} items",
            direct.len(),
            reference.len()
        ));
    }
    for (i, (mine, theirs)) in direct.iter().zip(reference).enumerate() {
        let theirs = match theirs {
            Ok(event) => event,
            Err(e) => return Some(format!("item {i}: the crate path has an error: {e}")),
        };
        if mine != theirs {
            let fields = mine
                .fields
                .iter()
                .zip(&theirs.fields)
                .position(|(a, b)| a != b);
            let detail = match fields {
                Some(at) => format!(
                    "field {at}: direct {:?}, crate {:?}",
                    mine.fields[at], theirs.fields[at]
                ),
                None => format!(
                    "{} vs {} fields, time {:?} vs {:?}, origin {:?} vs {:?}",
                    mine.fields.len(),
                    theirs.fields.len(),
                    mine.timestamp_micros,
                    theirs.timestamp_micros,
                    mine.origin,
                    theirs.origin
                ),
            };
            return Some(format!("record {}: {detail}", theirs.origin.record));
        }
    }
    None
}

#[test]
fn corpus_chunks_decode_exactly_as_the_crate_path() {
    let Some(dir) = corpus_dir() else { return };
    let chunks = corpus_chunks(&dir);
    assert!(!chunks.is_empty(), "no chunk in {}", dir.display());
    let mut records = 0usize;
    let mut fallbacks: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for validate in [false, true] {
        for (file, n, bytes) in &chunks {
            let reference = crate_path(file, bytes, validate);
            match direct(file, *n, bytes, validate) {
                Ok(events) => {
                    records += events.len();
                    if let Some(diff) = difference(&events, &reference) {
                        mismatches.push(format!("{file} chunk {n} (validate {validate}): {diff}"));
                    }
                }
                Err(fallback) => {
                    let errors = reference.iter().filter(|r| r.is_err()).count();
                    fallbacks.entry(fallback.reason).or_default().push(format!(
                        "{file} chunk {n} record {:?} (validate {validate}; the crate path: \
                         {errors} errors of {} items)",
                        fallback.record,
                        reference.len()
                    ));
                }
            }
        }
    }
    let fell_back: usize = fallbacks.values().map(Vec::len).sum();
    eprintln!(
        "direct EVTX decoder: {} chunks (each twice: checksums unchecked, then checked), \
         {records} records compared, {fell_back} chunk decodes fell back",
        chunks.len()
    );
    for (reason, places) in &fallbacks {
        eprintln!("  fallback `{reason}`: {} chunks, e.g.", places.len());
        for place in places.iter().take(3) {
            eprintln!("    {place}");
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} chunks differ:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Runs `work` on its own thread and fails if it takes longer than `limit` (a loop that
/// never ends would otherwise hang the test run).
fn within(limit: Duration, work: impl FnOnce() + Send + 'static) {
    let (done, wait) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        work();
        let _ = done.send(());
    });
    match wait.recv_timeout(limit) {
        Ok(()) => worker.join().expect("the work panicked"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            worker.join().expect("the work panicked");
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the work did not finish within {limit:?}")
        }
    }
}

#[test]
fn damaged_corpus_chunks_give_events_equal_to_the_crate_paths_or_fall_back() {
    let Some(dir) = corpus_dir() else { return };
    within(Duration::from_secs(600), move || {
        let chunks = corpus_chunks(&dir);
        assert!(!chunks.is_empty());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut accepted, mut fell_back) = (0usize, 0usize);
        let mut mismatches = Vec::new();
        // `TOCSIN_DAMAGE_ROUNDS` runs more rounds (a longer differential run).
        let rounds: usize = std::env::var("TOCSIN_DAMAGE_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000);
        for round in 0..rounds {
            let (file, n, bytes) = &chunks[rng.below(chunks.len())];
            let mut damaged = bytes.clone();
            // Mostly the records (where the tokens are), sometimes the header.
            let at = if round % 8 == 0 {
                rng.below(512)
            } else {
                512 + rng.below(CHUNK - 512)
            };
            damaged[at] ^= 1 << rng.below(8);
            match direct(file, *n, &damaged, false) {
                Ok(events) => {
                    accepted += 1;
                    let reference = crate_path(file, &damaged, false);
                    if let Some(diff) = difference(&events, &reference) {
                        mismatches.push(format!("{file} chunk {n}, byte {at} flipped: {diff}"));
                    }
                }
                Err(_) => fell_back += 1,
            }
        }
        eprintln!("damaged chunks: {accepted} decoded directly, {fell_back} fell back");
        assert!(
            mismatches.is_empty(),
            "{} damaged chunks differ:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    });
}

#[test]
fn cut_chunks_never_panic() {
    let Some(dir) = corpus_dir() else { return };
    within(Duration::from_secs(600), move || {
        let chunks = corpus_chunks(&dir);
        let file: Arc<str> = "cut.evtx".into();
        for (_, n, bytes) in chunks.iter().step_by(7).take(200) {
            for cut in [0, 8, 100, 511, 512, 600, 4096, 30_000, CHUNK - 1] {
                let mut out = Vec::new();
                let result = decode_chunk(&file, *n, &bytes[..cut], false, &mut out);
                if cut < 512 {
                    assert!(result.is_err(), "a chunk cut at {cut} has no header");
                }
                if result.is_err() {
                    assert!(out.is_empty(), "a fallback leaves `out` as it was");
                }
            }
        }
    });
}

#[test]
fn garbage_and_empty_chunks_fall_back() {
    let file: Arc<str> = "x.evtx".into();
    let mut out = Vec::new();
    let fallback = decode_chunk(&file, 3, &[0u8; CHUNK], false, &mut out).unwrap_err();
    assert_eq!(fallback.chunk, Some(3));
    assert!(out.is_empty());
    let error = fallback.into_error(&file);
    assert!(
        error.to_string().contains("chunk 3") && error.to_string().contains("ElfChnk"),
        "{error}"
    );

    // A header alone, no record: no events, no fallback.
    let mut chunk = vec![0u8; CHUNK];
    chunk[..8].copy_from_slice(b"ElfChnk\0");
    chunk[48..52].copy_from_slice(&512u32.to_le_bytes());
    decode_chunk(&file, 0, &chunk, false, &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(crate_path(&file, &chunk, false).len(), 0);

    // Random bytes after a valid header: never a panic.
    let mut rng = Rng(42);
    for _ in 0..200 {
        for b in chunk.iter_mut().skip(512) {
            *b = rng.next() as u8;
        }
        chunk[512..516].copy_from_slice(b"\x2a\x2a\x00\x00");
        chunk[48..52].copy_from_slice(&(CHUNK as u32).to_le_bytes());
        let _ = decode_chunk(&file, 0, &chunk, false, &mut out);
    }
}

/// Decodes every corpus chunk with both paths, single-threaded, interleaved, and prints
/// events per second of each. Run with
/// `cargo test -p tocsin-decode --release evtx_direct::tests::speed -- --ignored --nocapture`
/// (`TOCSIN_BENCH_PASSES`, default 5, sets the passes).
#[test]
#[ignore]
fn speed() {
    let Some(dir) = corpus_dir() else { return };
    let chunks = corpus_chunks(&dir);
    let passes: usize = std::env::var("TOCSIN_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let (mut crate_time, mut direct_time) = (Duration::ZERO, Duration::ZERO);
    let (mut crate_events, mut direct_events, mut fell_back) = (0usize, 0usize, 0usize);
    // What both paths pay alike, building and dropping the events, measured as cloning and
    // dropping them.
    let all: Vec<Vec<Event>> = chunks
        .iter()
        .map(|(file, _, bytes)| {
            crate_path(file, bytes, false)
                .into_iter()
                .filter_map(Result::ok)
                .collect()
        })
        .collect();
    let mut floor = Duration::ZERO;
    for _ in 0..passes {
        let start = Instant::now();
        for events in &all {
            std::hint::black_box(events.clone());
        }
        floor += start.elapsed();

        let start = Instant::now();
        for (file, _, bytes) in &chunks {
            crate_events += crate_path(file, bytes, false).len();
        }
        crate_time += start.elapsed();

        let start = Instant::now();
        let mut out = Vec::new();
        for (file, n, bytes) in &chunks {
            out.clear();
            if decode_chunk(file, *n, bytes, false, &mut out).is_err() {
                // What the caller would do: the crate path for this chunk.
                fell_back += 1;
                direct_events += crate_path(file, bytes, false).len();
            } else {
                direct_events += out.len();
            }
        }
        direct_time += start.elapsed();
    }
    let rate = |events: usize, time: Duration| events as f64 / time.as_secs_f64();
    let (crate_rate, direct_rate) = (
        rate(crate_events, crate_time),
        rate(direct_events, direct_time),
    );
    eprintln!(
        "{} chunks x {passes} passes: crate path {crate_events} events in {crate_time:.2?} \
         ({crate_rate:.0} events/s); direct {direct_events} events in {direct_time:.2?} \
         ({direct_rate:.0} events/s, {fell_back} chunk decodes fell back); ratio {:.2}x; \
         the events alone (cloned and dropped) {floor:.2?}, the ratio without them {:.2}x",
        chunks.len(),
        direct_rate / crate_rate,
        (crate_time.saturating_sub(floor)).as_secs_f64()
            / (direct_time.saturating_sub(floor)).as_secs_f64()
    );
}

/// The direct decoder alone over the chunks it takes, for profiling (`perf record`).
#[test]
#[ignore]
fn speed_direct_only() {
    let Some(dir) = corpus_dir() else { return };
    let chunks: Vec<_> = corpus_chunks(&dir)
        .into_iter()
        .filter(|(file, n, bytes)| direct(file, *n, bytes, false).is_ok())
        .collect();
    let passes: usize = std::env::var("TOCSIN_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let (mut crate_time, mut direct_time) = (Duration::ZERO, Duration::ZERO);
    let (mut events, mut fields) = (0usize, 0usize);
    let only_direct = std::env::var_os("TOCSIN_BENCH_DIRECT_ONLY").is_some();
    for _ in 0..passes {
        if !only_direct {
            let start = Instant::now();
            for (file, _, bytes) in &chunks {
                std::hint::black_box(crate_path(file, bytes, false));
            }
            crate_time += start.elapsed();
        }
        let start = Instant::now();
        let mut out = Vec::new();
        for (file, n, bytes) in &chunks {
            out.clear();
            let _ = decode_chunk(file, *n, bytes, false, &mut out);
            events += out.len();
            fields += out
                .iter()
                .map(|e| e.as_ref().map_or(0, |e| e.fields.len()))
                .sum::<usize>();
        }
        direct_time += start.elapsed();
    }
    eprintln!(
        "{} chunks the direct decoder takes, x {passes}: {events} events, {fields} fields; \
         crate path {crate_time:.2?}, direct {direct_time:.2?}; ratio {:.2}x",
        chunks.len(),
        crate_time.as_secs_f64() / direct_time.as_secs_f64()
    );
}

/// What building and dropping the events alone costs (cloning decoded events), the floor
/// that both paths share.
#[test]
#[ignore]
fn speed_floor() {
    let Some(dir) = corpus_dir() else { return };
    let mut all = Vec::new();
    for (file, n, bytes) in corpus_chunks(&dir) {
        if let Ok(events) = direct(&file, n, &bytes, false) {
            all.push(events);
        }
    }
    let start = Instant::now();
    for _ in 0..5 {
        for events in &all {
            std::hint::black_box(events.clone());
        }
    }
    eprintln!(
        "cloning and dropping the events x 5: {:.2?}",
        start.elapsed()
    );
}

/// The file `fuzz/fuzz_targets/evtx_direct.rs` builds around a fuzz input: a minimal file
/// header and one chunk.
fn one_chunk_file(chunk: &[u8]) -> Vec<u8> {
    let mut file = vec![0u8; FILE_HEADER + CHUNK];
    file[..8].copy_from_slice(b"ElfFile\0");
    file[32..36].copy_from_slice(&128u32.to_le_bytes());
    file[36..38].copy_from_slice(&1u16.to_le_bytes());
    file[38..40].copy_from_slice(&3u16.to_le_bytes());
    file[40..42].copy_from_slice(&(FILE_HEADER as u16).to_le_bytes());
    file[42..44].copy_from_slice(&1u16.to_le_bytes());
    let n = chunk.len().min(CHUNK);
    file[FILE_HEADER..FILE_HEADER + n].copy_from_slice(&chunk[..n]);
    file
}

/// The events and error count of `bytes` through the public API with `decoder`, as the
/// differential fuzz target reads them.
fn through_api(bytes: Vec<u8>, decoder: crate::EvtxDecoder) -> (Vec<Event>, usize) {
    let options = crate::DecodeOptions {
        evtx_threads: 1,
        evtx_validate_checksums: false,
        evtx_decoder: decoder,
        format: Some(crate::Format::Evtx),
        ..crate::DecodeOptions::default()
    };
    let (mut events, mut errors) = (Vec::new(), 0usize);
    for item in crate::from_bytes("fuzz.evtx", bytes, &options).expect("an EVTX file") {
        match item {
            Ok(event) => events.push(event),
            Err(_) => errors += 1,
        }
    }
    (events, errors)
}

#[test]
fn the_fuzz_targets_file_decodes_alike_with_both_decoders() {
    let Some(dir) = corpus_dir() else { return };
    let chunks = corpus_chunks(&dir);
    let mut compared = 0usize;
    for (_, _, bytes) in chunks.iter().step_by(37).take(12) {
        let file = one_chunk_file(bytes);
        let (direct, direct_errors) = through_api(file.clone(), crate::EvtxDecoder::Direct);
        let (reference, reference_errors) = through_api(file, crate::EvtxDecoder::Crate);
        assert_eq!(direct, reference);
        assert_eq!(direct_errors, reference_errors);
        compared += direct.len();
    }
    assert!(compared > 0, "the minimal file must reach the records");
}
