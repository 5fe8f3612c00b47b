//! Arbitrary text as a STIX pattern, parsed, compiled, loaded as an indicator and matched:
//! no panic, paths print back, compiled keys match. The check is in
//! `fuzz/checks/stix_pattern.rs`, replayed on stable by `crates/intel/tests/pattern_fuzz.rs`.
#![no_main]

#[path = "../checks/stix_pattern.rs"]
mod stix_pattern;

libfuzzer_sys::fuzz_target!(|data: &[u8]| stix_pattern::stix_pattern(data));
