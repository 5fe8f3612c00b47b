//! The `spool` fuzz target's check (`fuzz/checks/spool.rs`: arbitrary bytes as a segment,
//! through recovery, reading, appending and reopening) on stable: over the inputs kept in
//! `fuzz/regressions/spool/` and over seeded random inputs, valid records garbled among
//! them, so that CI checks recovery against arbitrary file content without a fuzzer.

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../fuzz/checks/spool.rs"]
mod check;

use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn every_kept_fuzz_input_passes_the_spool_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/spool");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} holds no input", dir.display());
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        let outcome = std::panic::catch_unwind(|| check::spool(&data));
        assert!(outcome.is_ok(), "{} fails the check", input.display());
    }
}

/// A segment body of random records (the CRC-32 framing of `segment.rs`), maybe garbled.
fn random_input(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut data = vec![rng.random_range(0..4u8)];
    for _ in 0..rng.random_range(0..5) {
        let payload: Vec<u8> = (0..rng.random_range(0..30)).map(|_| rng.random()).collect();
        let len = (payload.len() as u32).to_le_bytes();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&len);
        crc.update(&payload);
        data.extend(len);
        data.extend(crc.finalize().to_le_bytes());
        data.extend(payload);
    }
    for _ in 0..rng.random_range(0..3) {
        let at = rng.random_range(0..data.len());
        data[at] = rng.random();
    }
    data.truncate(rng.random_range(1..=data.len()));
    data
}

#[test]
fn random_segments_pass_the_spool_check() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for _ in 0..300 {
        check::spool(&random_input(&mut rng));
    }
}
