//! The direct EVTX decoder against the `evtx` crate's JSON path, file by file: every item of
//! every sample (events field for field, errors by their text, in order) is the same
//! whichever decodes it, one thread or several, checksums checked or not, and so are those
//! of damaged copies.

use std::sync::Arc;

use tocsin_decode::{from_bytes, DecodeOptions, EvtxDecoder};

use crate::files_with_extension;

/// Every item of `bytes` decoded as the EVTX file `name` with `decoder`: events as they are,
/// errors as their text.
fn items(
    name: &str,
    bytes: &[u8],
    decoder: EvtxDecoder,
    threads: usize,
    validate: bool,
) -> Vec<Result<tocsin_event::Event, String>> {
    let options = DecodeOptions {
        evtx_decoder: decoder,
        evtx_threads: threads,
        evtx_validate_checksums: validate,
        ..DecodeOptions::default()
    };
    match from_bytes(name, bytes.to_vec(), &options) {
        Ok(source) => source
            .map(|item| item.map_err(|error| error.to_string()))
            .collect(),
        Err(error) => vec![Err(error.to_string())],
    }
}

/// Asserts that both decoders give the same items for `bytes`; returns how many events.
fn same_items(name: &str, bytes: &[u8], threads: usize, validate: bool) -> usize {
    let direct = items(name, bytes, EvtxDecoder::Direct, threads, validate);
    let reference = items(name, bytes, EvtxDecoder::Crate, threads, validate);
    assert_eq!(
        direct.len(),
        reference.len(),
        "{name} (threads {threads}, checksums {validate}): item counts differ"
    );
    for (index, (mine, theirs)) in direct.iter().zip(&reference).enumerate() {
        assert_eq!(
            mine, theirs,
            "{name} (threads {threads}, checksums {validate}): item {index} differs"
        );
    }
    direct.iter().filter(|item| item.is_ok()).count()
}

#[test]
fn the_direct_decoder_gives_every_sample_exactly_as_the_crate_does() {
    let Some(root) = tocsin_testdata::shared_path("evtx") else {
        return;
    };
    let mut events = 0;
    let files = files_with_extension(&root, "evtx");
    for (index, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let name = path.to_string_lossy();
        events += same_items(&name, &bytes, 1, false);
        // Several threads and checked checksums on a share of the files, to keep it short.
        if index % 4 == 0 {
            same_items(&name, &bytes, 2, false);
            same_items(&name, &bytes, 1, true);
        }
    }
    println!(
        "{} files, {events} events, the same from both decoders",
        files.len()
    );
    assert!(events > 10_000, "only {events} events compared");
}

/// A small deterministic generator, so that a failure can be reproduced.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn damaged_copies_decode_the_same_with_both_decoders() {
    let Some(root) = tocsin_testdata::shared_path("evtx") else {
        return;
    };
    let files: Vec<_> = files_with_extension(&root, "evtx")
        .into_iter()
        .filter(|path| std::fs::metadata(path).is_ok_and(|m| m.len() <= 1 << 20))
        .collect();
    let mut rng = Rng(0x5eed_0fe7_c0de);
    let name: Arc<str> = "damaged.evtx".into();
    for round in 0..60 {
        let path = &files[rng.below(files.len())];
        let mut bytes = std::fs::read(path).unwrap();
        // Past the file header, so that the file stays an EVTX file.
        for _ in 0..1 + rng.below(8) {
            let at = 4096 + rng.below(bytes.len().saturating_sub(4096).max(1));
            if let Some(byte) = bytes.get_mut(at) {
                *byte ^= 1 << rng.below(8);
            }
        }
        if round % 5 == 0 {
            let cut = 4096 + rng.below(bytes.len().saturating_sub(4096).max(1));
            bytes.truncate(cut);
        }
        same_items(&name, &bytes, 1 + round % 2, round % 3 == 0);
    }
}
