//! Deterministic fuzzing: thousands of mutated and truncated copies of real inputs go through
//! each decoder, which must never panic (the EVTX decoder turns a parser panic into an error
//! saying so, which counts as a failure here too).
//!
//! The `fuzz/` folder has the same targets for cargo-fuzz; this runs on stable, in CI.

use std::panic::{catch_unwind, AssertUnwindSafe};

use tocsin_decode::{from_bytes, DecodeOptions, Format};

use crate::files_with_extension;

/// xorshift64*: tiny, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `input`: truncated, bytes flipped, a run overwritten, bytes inserted or
/// removed, or a piece duplicated.
fn mutate(input: &[u8], rng: &mut Rng, interesting: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = bytes.len();
        let at = rng.below(len);
        match rng.below(6) {
            0 => bytes.truncate(at),
            1 => bytes[at.min(len.saturating_sub(1))..]
                .iter_mut()
                .take(1)
                .for_each(|b| *b ^= 1 << rng.below(8)),
            2 => {
                let run = 1 + rng.below(64);
                for byte in bytes.iter_mut().skip(at).take(run) {
                    *byte = rng.next() as u8;
                }
            }
            3 => bytes.insert(at.min(len), interesting[rng.below(interesting.len())]),
            4 if len > 0 => {
                bytes.remove(at);
            }
            _ => {
                let end = (at + rng.below(256)).min(len);
                let piece = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, piece);
            }
        }
    }
    bytes
}

/// Decodes every mutation of every input, returning the ones that panicked.
fn run(
    inputs: &[Vec<u8>],
    rounds: usize,
    seed: u64,
    options: &DecodeOptions,
    interesting: &[u8],
) -> (usize, Vec<String>) {
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    let mut events = 0;
    for round in 0..rounds {
        let input = &inputs[round % inputs.len()];
        let mutated = mutate(input, &mut rng, interesting);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut count = 0;
            let mut panicked = None;
            if let Ok(source) = from_bytes("fuzz", mutated.clone(), options) {
                for item in source {
                    match item {
                        Ok(_) => count += 1,
                        Err(error) if error.to_string().contains("panicked") => {
                            panicked = Some(error.to_string())
                        }
                        Err(_) => {}
                    }
                }
            }
            (count, panicked)
        }));
        match outcome {
            Ok((count, None)) => events += count,
            Ok((_, Some(message))) => failures.push(format!("round {round}: {message}")),
            Err(_) => failures.push(format!(
                "round {round}: panic (input {} bytes)",
                mutated.len()
            )),
        }
    }
    (events, failures)
}

#[test]
fn json_decoder_survives_mutated_inputs() {
    let mut inputs = vec![
        b"{\"a\": 1, \"b\": [true, null, 2.5], \"c\": {\"d\": \"e\\u00e9\"}}\n{\"@timestamp\": \"2024-01-01T00:00:00Z\"}\n".to_vec(),
        b"[\n  {\"process\": {\"command_line\": \"cmd /c whoami\"}},\n  {\"time\": 1700000000}\n]\n".to_vec(),
        b"{\n  \"x\": 1\n}\n{\n  \"y\": [1, {\"z\": []}]\n}\n".to_vec(),
    ];
    if let Some(root) = tocsin_testdata::shared_path("sigma/regression") {
        inputs.extend(
            files_with_extension(&root, "json")
                .iter()
                .take(8)
                .map(|p| std::fs::read(p).unwrap()),
        );
    }
    let options = DecodeOptions {
        format: Some(Format::Json),
        ..DecodeOptions::default()
    };
    let (events, failures) = run(
        &inputs,
        6000,
        0x5eed_1234_abcd_0001,
        &options,
        b"{}[],:\"\\ \n0-eE.tfn\xff\x00",
    );
    println!("{events} events decoded from 6000 mutated JSON inputs");
    assert!(failures.is_empty(), "{failures:#?}");
    // The mutations leave many inputs intact enough to decode.
    assert!(events > 1000, "{events}");
}

#[test]
fn evtx_decoder_survives_mutated_inputs() {
    let Some(root) = tocsin_testdata::shared_path("evtx") else {
        return;
    };
    // Small samples keep this quick in a debug build.
    let inputs: Vec<_> = files_with_extension(&root, "evtx")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|b| b.len() <= 4096 + 65536)
        .take(4)
        .collect();
    assert!(!inputs.is_empty());
    let options = DecodeOptions {
        evtx_threads: 1,
        format: Some(Format::Evtx),
        ..DecodeOptions::default()
    };
    let (events, failures) = run(
        &inputs,
        1500,
        0x5eed_1234_abcd_0002,
        &options,
        b"\x00\x01\x0c\x0e\x0f\x41\xff*",
    );
    println!("{events} events decoded from 1500 mutated EVTX inputs");
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(events > 1000, "{events}");
}
