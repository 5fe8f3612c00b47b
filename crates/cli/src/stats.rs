//! `tocsin stats`: what hunters size up before hunting, over every input `hunt` reads (the
//! same discovery, decoders and time range): events by channel and event ID, by computer,
//! by day and hour, and successful (4624) and failed (4625) logons by user, logon type and
//! source address; as tables or, with `--format json`, one JSON object.
//!
//! Files are read on worker threads, each counting into its own
//! [`EventStats`](tocsin_output::EventStats), merged at the end.
//!
//! Exit code: 0, or 2 when nothing could be read.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use tocsin_decode::DecodeOptions;
use tocsin_event::time::TimeRange;
use tocsin_output::EventStats;

use crate::args::{StatsArgs, StatsFormat};
use crate::distinct::{canonical_inputs, distinct_files};

/// Counts the events of `args.paths` and prints the counts; returns the exit code.
pub fn run(args: &StatsArgs) -> Result<i32> {
    let range = args.range.range()?;
    let mut options = DecodeOptions {
        extensions: args.extensions.clone(),
        format: args.input_format,
        syslog_year: args.clock.syslog_year,
        timezone: args.clock.tz,
        logsource: args.logsource.clone().map(std::sync::Arc::new),
        ..DecodeOptions::default()
    };
    let (files, discover_errors) =
        tocsin_decode::discover(&canonical_inputs(&args.paths), &options);
    let (files, duplicates) = distinct_files(files);
    for error in &discover_errors {
        eprintln!("warning: {error}");
    }
    for duplicate in &duplicates {
        eprintln!("note: {duplicate}");
    }
    if files.is_empty() {
        bail!("no log files found");
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, files.len());
    // Many files: one file per thread. Few files: spread each file's chunks instead.
    options.evtx_threads = if files.len() >= threads { 1 } else { threads };
    let next = AtomicUsize::new(0);
    let notes = Mutex::new(Vec::new());
    let mut stats = EventStats::new();
    stats.add_decode_errors(discover_errors.len() as u64);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (files, options, next, notes) = (&files, &options, &next, &notes);
                scope.spawn(move || count_files(files, options, range, next, notes))
            })
            .collect();
        for worker in workers {
            match worker.join() {
                Ok(part) => stats.merge(part),
                Err(_) => eprintln!("error: a worker thread panicked"),
            }
        }
    });
    if !args.quiet {
        let mut notes = notes.into_inner().unwrap_or_else(|e| e.into_inner());
        notes.sort();
        notes.dedup_by(|a, b| a.1 == b.1);
        for (source, note) in notes {
            eprintln!("note: {source}: {note}");
        }
    }
    let text = match args.format {
        StatsFormat::Table => stats.render(args.top),
        StatsFormat::Json => {
            let mut text =
                serde_json::to_string_pretty(&stats.to_json()).context("cannot render")?;
            text.push('\n');
            text
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(141),
        other => other.context("cannot write the statistics")?,
    }
    if stats.events() == 0 && stats.decode_errors() > 0 {
        eprintln!("error: no event could be read");
        return Ok(2);
    }
    Ok(0)
}

/// A worker: takes files until none are left, counting their events.
fn count_files(
    files: &[PathBuf],
    options: &DecodeOptions,
    range: TimeRange,
    next: &AtomicUsize,
    notes: &Mutex<Vec<(String, String)>>,
) -> EventStats {
    let mut stats = EventStats::new();
    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
        stats.add_files(1);
        let mut source = match tocsin_decode::open(path, options) {
            Ok(source) => source,
            Err(e) => {
                stats.add_decode_errors(1);
                eprintln!("warning: {e}");
                continue;
            }
        };
        for item in source.by_ref() {
            match item {
                Ok(event) if range.contains(event.timestamp_micros) => stats.add(&event),
                Ok(_) => stats.add_out_of_range(),
                Err(e) => {
                    stats.add_decode_errors(1);
                    eprintln!("warning: {e}");
                }
            }
        }
        if let Some(note) = source.note() {
            if let Ok(mut notes) = notes.lock() {
                notes.push((source.name().to_owned(), note));
            }
        }
    }
    stats
}
