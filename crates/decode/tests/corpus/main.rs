//! Tests against the shared corpora (`../shared`): the Sigma regression cases and the EVTX
//! samples, read in place. Each test skips, loudly, when the corpora are absent.

// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod damaged;
mod decoders;
mod regression;
mod robustness;
mod samples;

use std::path::Path;

use tocsin_decode::{open, DecodeError, DecodeOptions};
use tocsin_event::Event;

/// Every event and every error of the file at `path`.
fn decode(
    path: &Path,
    options: &DecodeOptions,
) -> Result<(Vec<Event>, Vec<DecodeError>), DecodeError> {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for item in open(path, options)? {
        match item {
            Ok(event) => events.push(event),
            Err(error) => errors.push(error),
        }
    }
    Ok((events, errors))
}

/// The files under `dir` with extension `extension`, in name order.
fn files_with_extension(dir: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}
