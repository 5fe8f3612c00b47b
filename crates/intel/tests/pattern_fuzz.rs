//! The `stix_pattern` fuzz target's check (`fuzz/checks/stix_pattern.rs`: arbitrary text as
//! a STIX pattern, parsed, compiled, loaded as an indicator and matched) on stable, over the
//! inputs kept in `fuzz/regressions/stix_pattern/` (crashes fixed since among them), so that
//! CI catches a regression without a fuzzer or a nightly toolchain.

#[path = "../../../fuzz/checks/stix_pattern.rs"]
mod check;

use std::path::Path;

#[test]
fn every_kept_fuzz_input_passes_the_stix_pattern_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/stix_pattern");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} holds no input", dir.display());
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        let outcome = std::panic::catch_unwind(|| check::stix_pattern(&data));
        assert!(outcome.is_ok(), "{} fails the check", input.display());
    }
}
