//! Replays the fuzzers' checked-in corpus (`fuzz/regressions/<target>/`, the interesting
//! inputs kept from fuzzing runs, crashes fixed since among them) through the same checks
//! the fuzz targets run, so that CI catches a regression without a fuzzer or a nightly
//! toolchain. See `fuzz/README.md` for how the corpus is grown.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/checks/mod.rs"]
mod checks;

/// The corpus folder of the fuzz targets.
fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions")
}

#[test]
fn every_checked_in_fuzz_input_passes_its_target_check() {
    let mut replayed = 0;
    for (target, check) in checks::TARGETS {
        let dir = regressions().join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            panic!(
                "{} is missing: every fuzz target keeps a corpus",
                dir.display()
            );
        };
        let mut inputs: Vec<PathBuf> = entries
            .map(|entry| entry.expect("a corpus entry").path())
            .filter(|path| path.is_file())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{} holds no input", dir.display());
        for input in inputs {
            let data = std::fs::read(&input).expect("a corpus input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{} fails its check", input.display());
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} fuzz corpus inputs");
}
