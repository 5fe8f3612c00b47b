//! Arbitrary bytes as the one chunk of an EVTX file, decoded by the direct decoder and by
//! the `evtx` crate: the same items from both, and no panic.
//! The check itself is in `fuzz/checks/mod.rs`, shared with the corpus regression test.
#![no_main]

#[path = "../checks/mod.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::evtx_direct(data));
