//! Arbitrary bytes through the JSON decoder (all three shapes, gzip too): no panic.
//! The check itself is in `fuzz/checks/mod.rs`, shared with the corpus regression test.
#![no_main]

#[path = "../checks/mod.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::json(data));
