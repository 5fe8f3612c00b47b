//! `tocsin hunt`: decode inputs on worker threads, evaluate every event, print detections.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crossbeam_channel::{Receiver, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tocsin_decode::{DecodeOptions, EventSource};
use tocsin_engine::{Engine, Scratch};
use tocsin_output::{DetectionRecord, Format, OutputError, Printer, Summary};

use crate::args::{FormatArg, HuntArgs};
use crate::ruleset::{self, RuleSet};

/// What workers tell the printing thread.
enum Message {
    Detection(Box<DetectionRecord>),
    Problem(String),
    FileDone,
}

/// Runs a hunt; returns the process exit code.
pub fn run(args: &HuntArgs) -> Result<i32> {
    let started = Instant::now();
    let set = ruleset::load(&args.rules, &args.compile, &args.select)?;
    report_rule_problems(&set, args.quiet);
    if set.engine.is_empty() {
        bail!(
            "no rule could be loaded from {}",
            display_paths(&args.rules)
        );
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let mut options = DecodeOptions {
        extensions: args.extensions.clone(),
        ..DecodeOptions::default()
    };
    let (files, discover_errors) = tocsin_decode::discover(&args.paths, &options);
    for error in &discover_errors {
        eprintln!("warning: {error}");
    }
    if files.is_empty() {
        bail!("no log files found in {}", display_paths(&args.paths));
    }
    // Many files: one file per thread. Few files: spread each file's chunks instead.
    options.evtx_threads = if files.len() >= threads { 1 } else { threads };

    let color =
        tocsin_output::color_wanted(args.output.is_none() && std::io::stdout().is_terminal());
    let mut printer = Printer::new(format_of(args.format), open_output(args)?, color);
    let progress = progress_bar(files.len(), args.quiet);
    let hunt = Hunt {
        engine: &set.engine,
        files: &files,
        options: &options,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    let (tx, rx) = crossbeam_channel::bounded::<Message>(4096);
    let (mut summary, printed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let tx = tx.clone();
                let hunt = &hunt;
                scope.spawn(move || hunt.work(&tx))
            })
            .collect();
        drop(tx);
        let printed = print_all(&rx, &mut printer, &progress, &hunt.stop);
        let mut summary = Summary::default();
        for worker in workers {
            match worker.join() {
                Ok(part) => summary.merge(part),
                Err(_) => eprintln!("error: a worker thread panicked"),
            }
        }
        (summary, printed)
    });
    progress.finish_and_clear();
    let (detections, broken_pipe) = printed?;
    summary.merge(detections);
    summary.add_decode_errors(discover_errors.len() as u64);
    if !broken_pipe {
        match printer.finish() {
            Err(OutputError::BrokenPipe) | Ok(()) => {}
            Err(e) => return Err(e).context("cannot write detections"),
        }
    }
    if !args.quiet {
        eprint!(
            "{}",
            summary.render(
                started.elapsed(),
                tocsin_output::color_wanted(std::io::stderr().is_terminal())
            )
        );
    }
    if summary.events() == 0 && summary.decode_errors() > 0 {
        eprintln!("error: no event could be read");
        return Ok(2);
    }
    Ok(0)
}

/// Shared state of one hunt's workers.
struct Hunt<'a> {
    engine: &'a Engine,
    files: &'a [PathBuf],
    options: &'a DecodeOptions,
    next: AtomicUsize,
    stop: AtomicBool,
}

impl Hunt<'_> {
    /// Takes files until none are left; returns what this worker scanned.
    fn work(&self, tx: &Sender<Message>) -> Summary {
        let mut summary = Summary::default();
        let mut scratch = Scratch::default();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = self.files.get(index) else {
                break;
            };
            summary.add_files(1);
            match tocsin_decode::open(path, self.options) {
                Ok(source) => self.scan(source, tx, &mut summary, &mut scratch),
                Err(e) => {
                    summary.add_decode_errors(1);
                    let _ = tx.send(Message::Problem(e.to_string()));
                }
            }
            if tx.send(Message::FileDone).is_err() || self.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        summary
    }

    fn scan(
        &self,
        source: Box<dyn EventSource + Send>,
        tx: &Sender<Message>,
        summary: &mut Summary,
        scratch: &mut Scratch,
    ) {
        for item in source {
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    summary.add_decode_errors(1);
                    let _ = tx.send(Message::Problem(e.to_string()));
                    continue;
                }
            };
            summary.add_events(1);
            summary.observe_event(event.timestamp_micros);
            for &rule in self.engine.evaluate(&event, scratch) {
                let record = DetectionRecord::new(&self.engine.rule(rule).meta, &event);
                if tx.send(Message::Detection(Box::new(record))).is_err() {
                    return;
                }
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

/// Prints everything the workers send; returns the detections' summary and whether the
/// reader went away (a broken pipe, which ends the hunt quietly).
fn print_all(
    rx: &Receiver<Message>,
    printer: &mut Printer,
    progress: &ProgressBar,
    stop: &AtomicBool,
) -> Result<(Summary, bool)> {
    let mut summary = Summary::default();
    for message in rx {
        match message {
            Message::Detection(record) => {
                summary.record(&record);
                match printer.write(&record) {
                    Ok(()) => {}
                    Err(OutputError::BrokenPipe) => {
                        stop.store(true, Ordering::Relaxed);
                        return Ok((summary, true));
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        return Err(e).context("cannot write detections");
                    }
                }
            }
            Message::Problem(text) => progress.suspend(|| eprintln!("warning: {text}")),
            Message::FileDone => progress.inc(1),
        }
    }
    Ok((summary, false))
}

fn report_rule_problems(set: &RuleSet, quiet: bool) {
    if quiet {
        return;
    }
    eprintln!(
        "rules: {} compiled from {} files; {} left out by selection, {} waiting for --placeholders, {} with a logsource the mapping does not place, {} correlation rules not evaluated",
        set.engine.len(),
        set.files,
        set.deselected,
        set.report.needs_placeholders.len(),
        set.report.unmapped,
        set.report.correlations_skipped,
    );
    let problems = set.load_errors.len() + set.report.errors.len();
    if problems == 0 {
        return;
    }
    for error in set
        .load_errors
        .iter()
        .map(ToString::to_string)
        .chain(set.report.errors.iter().map(ToString::to_string))
    {
        eprintln!("warning: rule skipped: {error}");
    }
    eprintln!("warning: {problems} rule problems (run `tocsin rules lint` for details); hunting with the {} rules that loaded", set.engine.len());
}

fn open_output(args: &HuntArgs) -> Result<Box<dyn Write + Send>> {
    Ok(match &args.output {
        Some(path) => {
            Box::new(BufWriter::new(File::create(path).with_context(|| {
                format!("cannot create output file {}", path.display())
            })?))
        }
        None => Box::new(BufWriter::new(std::io::stdout())),
    })
}

fn progress_bar(files: usize, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(files as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} files ({eta} left)",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn format_of(format: FormatArg) -> Format {
    match format {
        FormatArg::Table => Format::Table,
        FormatArg::Csv => Format::Csv,
        FormatArg::Jsonl => Format::Jsonl,
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
