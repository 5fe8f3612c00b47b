//! Arbitrary bytes as a spool segment, through recovery, reading, appending and reopening:
//! no panic, a prefix of whole records kept. The check is in `fuzz/checks/spool.rs`,
//! replayed on stable by `crates/spool/tests/recovery_fuzz.rs`.
#![no_main]

#[path = "../checks/spool.rs"]
mod spool;

libfuzzer_sys::fuzz_target!(|data: &[u8]| spool::spool(data));
