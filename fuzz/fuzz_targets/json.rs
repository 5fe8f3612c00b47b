//! Arbitrary bytes through the JSON decoder (all three shapes, gzip too): it must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tocsin_decode::{from_bytes, DecodeOptions, Format};

fuzz_target!(|data: &[u8]| {
    let options = DecodeOptions {
        format: Some(Format::Json),
        ..DecodeOptions::default()
    };
    if let Ok(source) = from_bytes("fuzz", data.to_vec(), &options) {
        for item in source {
            if let Ok(event) = item {
                assert!(event.origin.record > 0);
            }
        }
    }
});
