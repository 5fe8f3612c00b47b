//! Arbitrary bytes through the EVTX decoders: no panic, not even one caught by the decoder,
//! and the direct decoder equal to the `evtx` crate item for item.
//! The check itself is in `fuzz/checks/mod.rs`, shared with the corpus regression test.
#![no_main]

#[path = "../checks/mod.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::evtx(data));
