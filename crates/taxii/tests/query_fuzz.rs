//! The `taxii_query` fuzz target's check (`fuzz/checks/taxii_query.rs`: a query string
//! and a JSON body, the filters parsed, the objects added to a collection store and the
//! query paged through, the body read as TAXII resources) on stable, over the inputs kept
//! in `fuzz/regressions/taxii_query/` (crashes fixed since among them), so that CI catches
//! a regression without a fuzzer or a nightly toolchain.

#[path = "../../../fuzz/checks/taxii_query.rs"]
mod check;

use std::path::Path;

#[test]
fn every_kept_fuzz_input_passes_the_taxii_query_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/taxii_query");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} holds no input", dir.display());
    for input in inputs {
        let data = std::fs::read(&input).unwrap();
        let outcome = std::panic::catch_unwind(|| check::taxii_query(&data));
        assert!(outcome.is_ok(), "{} fails the check", input.display());
    }
}
