//! Arbitrary bytes through the text decoders (syslog, appliance syslog, CEF, API audit, sniffing): no panic, every error names a line.
//! The check itself is in `fuzz/checks/mod.rs`, shared with the corpus regression test.
#![no_main]

#[path = "../checks/mod.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::text(data));
