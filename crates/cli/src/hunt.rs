//! `tocsin hunt`: decode inputs on worker threads, evaluate every event, print detections;
//! then replay the matches correlations need in time order and print their hits; with
//! `--store`, write everything shown into the incident store and regroup it.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crossbeam_channel::{Receiver, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tocsin_correlate::CorrelateError;
use tocsin_decode::{DecodeOptions, EventSource};
use tocsin_engine::{Engine, RuleId, Scratch};
use tocsin_event::Event;
use tocsin_incident::{Alert, AlertKind};
use tocsin_output::{DetectionRecord, Format, OutputError, Printer, Summary};

use crate::alerts::{incident_rule, AlertSink, StoreReport};
use crate::args::{FormatArg, HuntArgs};
use crate::behaviour::{anomaly_alert, anomaly_record, Behaviour, BASELINE_BLOB};
use crate::correlation::{Correlations, KeptMatch, Outcome};
use crate::hits::HitView;
use crate::ruleset::{self, RuleSet};

/// What workers tell the printing thread.
enum Message {
    Detection(Box<Detection>),
    /// A match a correlation needs, kept until the scan is over.
    Kept(Box<KeptMatch>),
    /// An event the behavioural detectors watch, kept until the scan is over.
    Watched(Box<Event>),
    Problem(String),
    FileDone,
}

/// A detection to show, and its alert when the hunt writes to a store.
struct Detection {
    record: DetectionRecord,
    alert: Option<Alert>,
}

/// Runs a hunt; returns the process exit code.
pub fn run(args: &HuntArgs) -> Result<i32> {
    let started = Instant::now();
    let mut set = ruleset::load(&args.rules, &args.compile, &args.select)?;
    let (mut correlations, correlation_errors) =
        Correlations::build(std::mem::take(&mut set.correlations), &set.engine);
    report_rule_problems(&set, &correlations, &correlation_errors, args.quiet);
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
    let (mut files, discover_errors) = tocsin_decode::discover(&args.paths, &options);
    largest_first(&mut files);
    for error in &discover_errors {
        eprintln!("warning: {error}");
    }
    if files.is_empty() {
        bail!("no log files found in {}", display_paths(&args.paths));
    }
    // Many files: one file per thread. Few files: spread each file's chunks instead.
    options.evtx_threads = if files.len() >= threads { 1 } else { threads };

    let mut sink = AlertSink::open(&args.store, args.quiet)?;
    let mut behaviour = match args.behaviour || args.behaviour_config.is_some() {
        true => Some(Behaviour::new(args.behaviour_config.as_deref())?),
        false => None,
    };
    let color =
        tocsin_output::color_wanted(args.output.is_none() && std::io::stdout().is_terminal());
    let mut printer = Printer::new(format_of(args.format), open_output(args)?, color);
    let progress = progress_bar(files.len(), args.quiet);
    let hunt = Hunt {
        engine: &set.engine,
        correlations: &correlations,
        behaviour: behaviour.as_ref(),
        storing: sink.is_some(),
        files: &files,
        options: &options,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    let (tx, rx) = crossbeam_channel::bounded::<Message>(4096);
    let mut collector = Collector {
        printer: &mut printer,
        sink: sink.as_mut(),
        kept: Vec::new(),
        watched: Vec::new(),
        summary: Summary::default(),
    };
    let (mut summary, printed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let tx = tx.clone();
                let hunt = &hunt;
                scope.spawn(move || hunt.work(&tx))
            })
            .collect();
        drop(tx);
        let printed = collector.collect(&rx, &progress, &hunt.stop);
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
    let mut broken_pipe = printed?;
    if !broken_pipe {
        broken_pipe = collector.correlate(&mut correlations, &set.engine, args.quiet)?;
    }
    if let (false, Some(behaviour)) = (broken_pipe, behaviour.as_mut()) {
        broken_pipe = collector.watch(behaviour, args.quiet)?;
    }
    summary.merge(std::mem::take(&mut collector.summary));
    summary.add_decode_errors(discover_errors.len() as u64);
    if !broken_pipe {
        match printer.finish() {
            Err(OutputError::BrokenPipe) | Ok(()) => {}
            Err(e) => return Err(e).context("cannot write detections"),
        }
    }
    let stored = match sink {
        Some(sink) => {
            let path = sink.path().display().to_string();
            Some((path, sink.finish()?))
        }
        None => None,
    };
    if !args.quiet {
        eprint!(
            "{}",
            summary.render(
                started.elapsed(),
                tocsin_output::color_wanted(std::io::stderr().is_terminal())
            )
        );
        if let Some((path, report)) = &stored {
            report_store(path, report);
        }
    }
    // The process exits next: freeing the compiled rules one by one would only delay it.
    std::mem::forget(set);
    if summary.events() == 0 && summary.decode_errors() > 0 {
        eprintln!("error: no event could be read");
        return Ok(2);
    }
    Ok(0)
}

/// Orders the work largest file first, so that no thread is left alone with a big file at
/// the end while the others idle. Detections do not depend on the order: correlations and
/// behaviour replay their events sorted by time, and the store keys alerts by content.
fn largest_first(files: &mut [PathBuf]) {
    files.sort_by_cached_key(|path| {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        std::cmp::Reverse(size)
    });
}

/// Shared state of one hunt's workers.
struct Hunt<'a> {
    engine: &'a Engine,
    correlations: &'a Correlations,
    /// The behavioural detectors, whose watched events are kept (`--behaviour`).
    behaviour: Option<&'a Behaviour>,
    /// Whether detections also become alerts (`--store`).
    storing: bool,
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
                if self.on_match(rule, &event, tx).is_err() {
                    return;
                }
            }
            if self.behaviour.is_some_and(|b| b.watches(&event))
                && tx.send(Message::Watched(Box::new(event))).is_err()
            {
                return;
            }
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

impl Hunt<'_> {
    /// Handles one match (only matches reach here, never every event): keeps it for the
    /// correlations that need it and sends it to be shown unless `generate` hides it.
    /// `Err` when the printing thread is gone.
    fn on_match(&self, rule: RuleId, event: &Event, tx: &Sender<Message>) -> Result<(), ()> {
        if self.correlations.keeps(rule) {
            let kept = KeptMatch {
                rule,
                event: event.clone(),
            };
            tx.send(Message::Kept(Box::new(kept))).map_err(drop)?;
        }
        if !self.correlations.shows(rule) {
            return Ok(());
        }
        let meta = &self.engine.rule(rule).meta;
        let detection = Detection {
            record: DetectionRecord::new(meta, event),
            alert: self
                .storing
                .then(|| Alert::from_event(AlertKind::Sigma, incident_rule(meta), event)),
        };
        tx.send(Message::Detection(Box::new(detection)))
            .map_err(drop)
    }
}

/// The printing thread's side of a hunt: prints detections, writes their alerts, keeps
/// the matches correlations need.
struct Collector<'a> {
    printer: &'a mut Printer,
    sink: Option<&'a mut AlertSink>,
    kept: Vec<KeptMatch>,
    watched: Vec<Event>,
    summary: Summary,
}

impl Collector<'_> {
    /// Handles everything the workers send; returns whether the reader went away (a broken
    /// pipe, which ends the hunt quietly).
    fn collect(
        &mut self,
        rx: &Receiver<Message>,
        progress: &ProgressBar,
        stop: &AtomicBool,
    ) -> Result<bool> {
        for message in rx {
            match message {
                Message::Detection(detection) => match self.show(*detection) {
                    Ok(false) => {}
                    stopped => {
                        stop.store(true, Ordering::Relaxed);
                        return stopped;
                    }
                },
                Message::Kept(kept) => self.kept.push(*kept),
                Message::Watched(event) => self.watched.push(*event),
                Message::Problem(text) => progress.suspend(|| eprintln!("warning: {text}")),
                Message::FileDone => progress.inc(1),
            }
        }
        Ok(false)
    }

    /// Prints one detection and queues its alert; `Ok(true)` on a broken pipe.
    fn show(&mut self, detection: Detection) -> Result<bool> {
        self.summary.record(&detection.record);
        match self.printer.write(&detection.record) {
            Ok(()) => {}
            Err(OutputError::BrokenPipe) => return Ok(true),
            Err(e) => return Err(e).context("cannot write detections"),
        }
        if let (Some(sink), Some(alert)) = (self.sink.as_deref_mut(), detection.alert) {
            sink.push(alert)?;
        }
        Ok(false)
    }

    /// Replays the kept matches through the correlations and shows the hits like
    /// detections; `Ok(true)` on a broken pipe.
    fn correlate(
        &mut self,
        correlations: &mut Correlations,
        engine: &Engine,
        quiet: bool,
    ) -> Result<bool> {
        let outcome = correlations.replay(engine, std::mem::take(&mut self.kept));
        let broken_pipe = self.show_hits(&outcome, correlations, engine)?;
        if !quiet {
            report_correlation_outcome(&outcome, correlations.valid());
        }
        Ok(broken_pipe)
    }

    /// Runs the behavioural detectors over the watched events in time order (going on from
    /// the store's baseline, and saving it back) and shows the anomalies like detections;
    /// `Ok(true)` on a broken pipe.
    fn watch(&mut self, behaviour: &mut Behaviour, quiet: bool) -> Result<bool> {
        if let Some(saved) = self
            .sink
            .as_deref()
            .map(|s| s.load_blob(BASELINE_BLOB))
            .transpose()?
            .flatten()
        {
            behaviour.resume(&saved)?;
        }
        let events = std::mem::take(&mut self.watched);
        let watched = events.len();
        let anomalies = behaviour.run(events);
        if !quiet {
            eprintln!(
                "behaviour: {watched} events of watched sources, {} anomalies; baseline {}",
                anomalies.len(),
                match (behaviour.resumed, self.sink.is_some()) {
                    (true, _) => "resumed from the store and saved back",
                    (false, true) => "learned from scratch and saved in the store",
                    (false, false) => "learned from scratch (not kept: no --store)",
                }
            );
        }
        for (anomaly, event) in anomalies {
            let detection = Detection {
                record: anomaly_record(&anomaly, &event),
                alert: self.sink.is_some().then(|| anomaly_alert(anomaly, &event)),
            };
            if self.show(detection)? {
                return Ok(true);
            }
        }
        if let Some(sink) = self.sink.as_deref_mut() {
            sink.save_blob(BASELINE_BLOB, &behaviour.baseline()?)?;
        }
        Ok(false)
    }

    /// Shows the correlation hits like detections; `Ok(true)` on a broken pipe.
    fn show_hits(
        &mut self,
        outcome: &Outcome,
        correlations: &Correlations,
        engine: &Engine,
    ) -> Result<bool> {
        for hit in &outcome.hits {
            let view = HitView {
                hit,
                meta: correlations.meta_of(hit),
                matches: &outcome.matches,
                engine,
            };
            let detection = Detection {
                record: view.record(),
                alert: self.sink.is_some().then(|| view.alert()),
            };
            if self.show(detection)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

fn report_rule_problems(
    set: &RuleSet,
    correlations: &Correlations,
    correlation_errors: &[CorrelateError],
    quiet: bool,
) {
    if quiet {
        return;
    }
    eprintln!(
        "rules: {} compiled from {} files; {} left out by selection, {} waiting for --placeholders, {} with a logsource the mapping does not place; {} correlations evaluated, {} invalid",
        set.engine.len(),
        set.files,
        set.deselected,
        set.report.needs_placeholders.len(),
        set.report.unmapped,
        correlations.valid(),
        correlation_errors.len(),
    );
    let problems = set.load_errors.len() + set.report.errors.len() + correlation_errors.len();
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
    for error in correlation_errors {
        eprintln!("warning: correlation skipped: {error}");
    }
    eprintln!("warning: {problems} rule problems (run `tocsin rules lint` for details); hunting with the {} rules and {} correlations that loaded", set.engine.len(), correlations.valid());
}

/// One line on what the correlations found and what they could not use.
fn report_correlation_outcome(outcome: &Outcome, valid: usize) {
    if valid == 0 {
        return;
    }
    let stats = outcome.stats;
    eprintln!(
        "correlations: {} hits from {} kept matches; left out: {} without a group-by field, {} late, {} in a burst already reported, {} without a timestamp",
        outcome.hits.len(),
        outcome.matches.len() + outcome.untimed,
        stats.missing_group_field,
        stats.late,
        stats.suppressed,
        outcome.untimed,
    );
}

/// The store line: what this hunt added and the incidents after regrouping.
fn report_store(path: &str, report: &StoreReport) {
    eprintln!(
        "store {path}: {} new detections, {} already stored; {} incidents ({} new)",
        report.alerts.new, report.alerts.existing, report.incidents, report.new_incidents
    );
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
