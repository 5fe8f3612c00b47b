//! Decodes every file under the paths given and prints how many records and errors there
//! were, and how long it took: `cargo run --release -p tocsin-decode --example count -- DIR`.
//! `TOCSIN_EVTX_THREADS` sets the EVTX worker threads per file (0, the default, is one per
//! core).

use std::path::PathBuf;
use std::time::Instant;

use tocsin_decode::{discover, open, DecodeOptions};

fn main() {
    let inputs: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let options = DecodeOptions {
        evtx_threads: std::env::var("TOCSIN_EVTX_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        ..DecodeOptions::default()
    };
    let started = Instant::now();
    let (files, mut errors) = discover(&inputs, &options);
    let (mut records, mut fields) = (0, 0);
    for file in &files {
        match open(file, &options) {
            Ok(source) => {
                for item in source {
                    match item {
                        Ok(event) => {
                            records += 1;
                            fields += event.fields.len();
                        }
                        Err(error) => errors.push(error),
                    }
                }
            }
            Err(error) => errors.push(error),
        }
    }
    let elapsed = started.elapsed();
    for error in &errors {
        eprintln!("{error}");
    }
    println!(
        "{} files, {records} records, {fields} fields, {} errors in {elapsed:?}",
        files.len(),
        errors.len()
    );
}
