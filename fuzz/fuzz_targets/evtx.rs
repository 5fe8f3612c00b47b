//! Arbitrary bytes through the EVTX decoder: it must not panic. A parser panic is turned into
//! an error item by the decoder, so that is checked for too (libFuzzer's panic hook also
//! aborts on it first).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tocsin_decode::{from_bytes, DecodeOptions, Format};

fuzz_target!(|data: &[u8]| {
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
});
