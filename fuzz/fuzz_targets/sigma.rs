//! Arbitrary text as a Sigma rule file, compiled and evaluated by both evaluators, which must agree.
//! The check itself is in `fuzz/checks/mod.rs`, shared with the corpus regression test.
#![no_main]

#[path = "../checks/mod.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::sigma(data));
