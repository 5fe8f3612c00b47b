//! `tocsin hunt`: decode inputs on worker threads, evaluate every event, print detections;
//! then replay the matches correlations need in time order and print their hits; with
//! `--store`, write everything shown into the incident store and regroup it.

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crossbeam_channel::{Receiver, Sender};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tocsin_correlate::CorrelateError;
use tocsin_decode::{DecodeOptions, EventSource};
use tocsin_engine::Scratch;
use tocsin_event::time::TimeRange;
use tocsin_event::Event;
use tocsin_incident::attack::{parse_tag, AttackTag};
use tocsin_incident::{Alert, IncidentStore};
use tocsin_output::{
    clean, DetectionRecord, Format, HuntFacts, HuntReport, NavigatorLayer, OutputError, Printer,
    RuleDoc, RuleDocs, Summary,
};
use tocsin_pipeline::{
    sigma_rule_texts, Behaviour, Detectors, Finding, FindingSink, KeptMatch, Late, Replay,
    ReplayBuffer, StoreReport, BASELINE_BLOB,
};

use crate::alerts::AlertSink;
use crate::args::HuntArgs;
use crate::distinct::{canonical_inputs, distinct_sized_files};
use crate::intel;
use crate::output_file::{self, Pending, Protected};
use crate::ruleset::{self, RuleSet};

/// What workers tell the printing thread.
enum Message {
    Detection(Box<Detection>),
    /// A match a correlation needs, kept until the scan is over.
    Kept(Box<KeptMatch>),
    /// An event the behavioural detectors watch, kept until the scan is over.
    Watched(Box<Event>),
    Problem(String),
    /// What a source had to assume (such as the year of syslog times): the source, the note.
    Note(String, String),
    FileDone,
}

/// A finding to show, and its alert when the hunt writes to a store.
struct Detection {
    record: DetectionRecord,
    alert: Option<Alert>,
}

impl Detection {
    /// The output line of `finding`, and its alert when `storing`. With `all_fields` (the
    /// formats that map the event's fields to their own: ECS, Timesketch), a rule match
    /// shows every field of its event, not only those its rule lists.
    fn of(finding: &Finding<'_>, storing: bool, all_fields: bool) -> Detection {
        let record = match finding {
            Finding::Rule {
                rule,
                fields,
                event,
            } if all_fields && !fields.is_empty() => DetectionRecord::new(rule, &[], event),
            _ => finding.record(),
        };
        Detection {
            record,
            alert: storing.then(|| finding.alert()),
        }
    }
}

/// The reader of the output went away (a closed pipe): the hunt ends quietly.
struct Stopped;

/// Runs a hunt; returns the process exit code.
pub fn run(args: &HuntArgs) -> Result<i32> {
    let started = Instant::now();
    let protected = Protected {
        inputs: &args.paths,
        store: args.store.store.as_deref(),
    };
    check_outputs(args, &protected)?;
    let started_micros = chrono::Utc::now().timestamp_micros();
    let range = args.range.range()?;
    // Inputs first: a mistyped path is reported at once, not after the rules compile.
    let mut options = DecodeOptions {
        extensions: args.extensions.clone(),
        format: args.input_format,
        syslog_year: args.clock.syslog_year,
        timezone: args.clock.tz,
        logsource: args.logsource.clone().map(std::sync::Arc::new),
        evtx_decoder: args.evtx_decoder.into(),
        ..DecodeOptions::default()
    };
    let inputs = canonical_inputs(&args.paths);
    let (files, discover_errors) = tocsin_decode::discover(&inputs, &options);
    let (files, duplicates) = distinct_sized_files(files);
    let files = largest_first(files);
    for error in &discover_errors {
        eprintln!("warning: {error}");
    }
    for duplicate in &duplicates {
        eprintln!("note: {duplicate}");
    }
    if files.is_empty() {
        bail!("no log files found in {}", display_paths(&args.paths));
    }
    let indicators = intel::load(&args.indicators, args.quiet)?;
    let indicator_rules = indicators
        .as_deref()
        .map(sigma_rule_texts)
        .unwrap_or_default();
    let ruleset::RulePaths { paths: rules, hold } =
        intel::rule_paths(&args.rules, indicators.is_some(), args.quiet)?;
    let mut set = ruleset::load_with(&rules, &indicator_rules, &args.compile, &args.select)?;
    drop(hold);
    let behaviour = match args.behaviour || args.behaviour_config.is_some() {
        true => Some(Behaviour::load(args.behaviour_config.as_deref())?),
        false => None,
    };
    let (mut detectors, correlation_errors) = Detectors::from_rule_set(&mut set, behaviour);
    if let Some(indicators) = indicators {
        detectors = detectors.with_indicators(indicators);
    }
    report_rule_problems(&set, &detectors, &correlation_errors, args.quiet);
    let rule_problems = set.load_errors.len()
        + set.report.errors.len()
        + correlation_errors.len()
        + set.duplicate_ids.len();
    let matched_indicators = detectors.indicators().map_or(0, |i| i.indicators().len());
    if detectors.engine().is_empty() && matched_indicators == 0 {
        bail!("no rule could be loaded from {}", display_paths(&rules));
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    // Many files: one file per thread. Few files: spread each file's chunks instead.
    options.evtx_threads = if files.len() >= threads { 1 } else { threads };

    let ecs = matches!(args.format, Format::Ecs | Format::EcsBulk);
    let mut sink = AlertSink::open(&args.store, args.quiet, ecs, &set.similar_signals)?;
    let color =
        tocsin_output::color_wanted(args.output.is_none() && std::io::stdout().is_terminal());
    let docs = match ecs {
        true => rule_docs(
            &detectors,
            &set,
            args.store.grouping.attack.as_deref(),
            args.quiet,
        )?,
        false => RuleDocs::new(),
    };
    let (writer, pending_output) = open_output(args)?;
    let html_output = HtmlOutput::open(args)?;
    let mut printer = Printer::new(args.format, writer, color).with_rule_docs(docs);
    let progress = progress_bar(files.len(), args.quiet);
    let hunt = Hunt {
        detectors: &detectors,
        storing: sink.is_some(),
        all_fields: args.format.wants_all_fields(),
        files: &files,
        options: &options,
        range,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    let (tx, rx) = crossbeam_channel::bounded::<Vec<Message>>(QUEUED_BATCHES);
    let mut collector = Collector {
        printer: &mut printer,
        sink: sink.as_mut(),
        replay: ReplayBuffer::for_detectors(
            usize::try_from(args.replay_memory << 20).unwrap_or(usize::MAX),
            &detectors,
        ),
        timeline: args.timeline.then(Vec::new),
        navigator: args.navigator.as_ref().map(|_| NavigatorLayer::new()),
        html: html_output.as_ref().map(|_| HuntReport::new()),
        notes: BTreeMap::new(),
        summary: Summary::default(),
        closed_after: None,
        printed: 0,
    };
    let (mut summary, printed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let tx = tx.clone();
                let hunt = &hunt;
                scope.spawn(move || hunt.work(Outbox::new(&tx)))
            })
            .collect();
        drop(tx);
        let printed = collector.collect(&rx, &progress, &hunt.stop);
        // Workers blocked on a full channel after the collector stopped reading (a closed
        // output, a full temporary folder) see it closed and end.
        drop(rx);
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
    let mut flow = printed?;
    if flow.is_continue() {
        flow = collector.replay(&mut detectors, args.quiet)?;
    }
    if flow.is_continue() {
        flow = collector.print_timeline()?;
    }
    summary.merge(std::mem::take(&mut collector.summary));
    for (note, count) in &collector.notes {
        if *count > 1 {
            eprintln!("note: {} more files had the same note: {note}", count - 1);
        }
    }
    summary.add_decode_errors(discover_errors.len() as u64);
    let closed_after = collector.closed_after;
    let navigator = collector.navigator.take();
    let html_report = collector.html.take();
    if flow.is_continue() && closed_after.is_none() {
        match printer.finish() {
            Err(OutputError::BrokenPipe) | Ok(()) => {}
            Err(e) => return Err(e).context("cannot write detections"),
        }
    }
    if let Some(pending) = pending_output {
        pending.commit()?;
    }
    if let (Some(path), Some(layer)) = (&args.navigator, &navigator) {
        let description = format!("Detections of tocsin hunt {}", display_paths(&args.paths));
        let json = layer.to_json("tocsin hunt", &description);
        let text = serde_json::to_string_pretty(&json).context("cannot render the layer")?;
        output_file::write_whole(path, text.as_bytes())?;
    }
    if let (Some(output), Some(report)) = (html_output, &html_report) {
        output.write(report, args, &detectors, &summary, started_micros)?;
    }
    let stored = match sink {
        Some(sink) => {
            let path = sink.path.clone();
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
    std::mem::forget(detectors);
    std::mem::forget(set);
    if summary.events() == 0 && summary.decode_errors() > 0 {
        eprintln!("error: no event could be read");
        return Ok(2);
    }
    if let Some(printed) = closed_after {
        return Ok(report_closed_output(printed, stored.is_some()));
    }
    if args.strict && (rule_problems > 0 || summary.decode_errors() > 0) {
        eprintln!(
            "error: --strict: {rule_problems} rule problems and {} input or decode errors; the hunt is incomplete",
            summary.decode_errors()
        );
        return Ok(INCOMPLETE_EXIT);
    }
    Ok(0)
}

/// The exit code of a `--strict` hunt that left something out (see [`HuntArgs::strict`]).
pub const INCOMPLETE_EXIT: i32 = 3;

/// The exit code of a hunt whose output was closed before it ended, like a process killed
/// by `SIGPIPE` (`128 + 13`), so that `set -o pipefail` scripts notice a cut hunt.
pub const CLOSED_OUTPUT_EXIT: i32 = 141;

/// Says what a closed output cost: nothing when every detection went to the store (exit
/// 0), the rest of the hunt otherwise ([`CLOSED_OUTPUT_EXIT`]).
fn report_closed_output(printed: u64, stored: bool) -> i32 {
    if stored {
        eprintln!(
            "note: the output was closed after {printed} detections; the hunt went on and stored every detection"
        );
        return 0;
    }
    eprintln!(
        "error: the output was closed after {printed} detections, so the hunt stopped there; hunt with --store to keep every detection whatever reads the output"
    );
    CLOSED_OUTPUT_EXIT
}

/// Orders the work largest file first, so that no thread is left alone with a big file at
/// the end while the others idle. Detections do not depend on the order: correlations and
/// behaviour replay their events sorted by time, and the store keys alerts by content.
fn largest_first(mut files: Vec<(PathBuf, Option<u64>)>) -> Vec<PathBuf> {
    files.sort_by_key(|(_, size)| std::cmp::Reverse(size.unwrap_or(0)));
    files.into_iter().map(|(path, _)| path).collect()
}

/// Shared state of one hunt's workers.
struct Hunt<'a> {
    detectors: &'a Detectors,
    /// Whether detections also become alerts (`--store`).
    storing: bool,
    /// Whether rule matches show every field of their event (see [`Detection::of`]).
    all_fields: bool,
    files: &'a [PathBuf],
    options: &'a DecodeOptions,
    /// The events to scan (`--from`, `--to`); the others are counted and skipped.
    range: TimeRange,
    next: AtomicUsize,
    stop: AtomicBool,
}

impl Hunt<'_> {
    /// Takes files until none are left; returns what this worker scanned.
    fn work(&self, mut outbox: Outbox<'_>) -> Summary {
        let mut summary = Summary::default();
        let mut scratch = Scratch::default();
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = self.files.get(index) else {
                break;
            };
            summary.add_files(1);
            match tocsin_decode::open(path, self.options) {
                Ok(source) => self.scan(source, &mut outbox, &mut summary, &mut scratch),
                Err(e) => {
                    summary.add_decode_errors(1);
                    let _ = outbox.push(Message::Problem(e.to_string()));
                }
            }
            if outbox.file_done().is_break() || self.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let _ = outbox.flush();
        summary
    }

    fn scan(
        &self,
        mut source: Box<dyn EventSource + Send>,
        outbox: &mut Outbox<'_>,
        summary: &mut Summary,
        scratch: &mut Scratch,
    ) {
        let mut sink = ChannelSink {
            outbox,
            storing: self.storing,
            all_fields: self.all_fields,
        };
        let mut read = 0_u64;
        for item in source.by_ref() {
            read += 1;
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    summary.add_decode_errors(1);
                    let _ = sink.outbox.push(Message::Problem(e.to_string()));
                    continue;
                }
            };
            if !self.range.contains(event.timestamp_micros) {
                summary.add_out_of_range(1);
                continue;
            }
            summary.add_events(1);
            summary.observe_event(event.timestamp_micros);
            if self.detectors.scan(&event, scratch, &mut sink).is_break()
                || self.stop.load(Ordering::Relaxed)
            {
                return;
            }
        }
        report_end(&*source, read, sink.outbox);
    }
}

/// What is worth saying once a source is read through: an empty standard input, and what
/// the decoder had to say (the year and zone it gave syslog times, Windows events it could
/// not place).
fn report_end(source: &(dyn EventSource + Send), read: u64, outbox: &mut Outbox<'_>) {
    if read == 0 && source.name() == "-" {
        let text = "-: no events read from standard input (it was empty or closed)";
        let _ = outbox.push(Message::Problem(text.into()));
    }
    if let Some(note) = source.note() {
        let _ = outbox.push(Message::Note(source.name().to_owned(), note));
    }
}

/// Most messages a worker holds before it sends them.
const BATCH: usize = 256;

/// How long a worker holds messages at most, counted at the end of each file: the
/// progress bar and the output stay within a fraction of a second of the work.
const HOLD: Duration = Duration::from_millis(100);

/// How many batches wait in the channel before workers wait for the printing thread: about
/// as many messages as a channel of single messages held before (4,096).
const QUEUED_BATCHES: usize = 16;

/// A worker's messages to the printing thread, sent in batches. One message per detection
/// woke the printing thread, which spun on the empty channel before it slept, thousands of
/// times a hunt (`sched_yield` was the most frequent system call of a hunt of the sample
/// corpus).
struct Outbox<'a> {
    tx: &'a Sender<Vec<Message>>,
    batch: Vec<Message>,
    /// When the last batch went.
    sent: Instant,
}

impl<'a> Outbox<'a> {
    fn new(tx: &'a Sender<Vec<Message>>) -> Self {
        Outbox {
            tx,
            batch: Vec::new(),
            sent: Instant::now(),
        }
    }

    /// Adds a message, sending the batch once it is full; `Break` when the printing thread
    /// is gone.
    fn push(&mut self, message: Message) -> ControlFlow<()> {
        self.batch.push(message);
        match self.batch.len() >= BATCH {
            true => self.flush(),
            false => ControlFlow::Continue(()),
        }
    }

    /// Says a file is read, sending the batch if it has waited [`HOLD`].
    fn file_done(&mut self) -> ControlFlow<()> {
        self.push(Message::FileDone)?;
        match self.sent.elapsed() >= HOLD {
            true => self.flush(),
            false => ControlFlow::Continue(()),
        }
    }

    /// Sends what is held; `Break` when the printing thread is gone.
    fn flush(&mut self) -> ControlFlow<()> {
        self.sent = Instant::now();
        if self.batch.is_empty() {
            return ControlFlow::Continue(());
        }
        match self.tx.send(std::mem::take(&mut self.batch)) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    }
}

/// A worker's side of the channel: findings become output lines (and alerts) here, on the
/// worker, so that the printing thread only writes.
struct ChannelSink<'a, 'b> {
    outbox: &'a mut Outbox<'b>,
    storing: bool,
    all_fields: bool,
}

impl FindingSink for ChannelSink<'_, '_> {
    fn finding(&mut self, finding: &Finding<'_>) -> ControlFlow<()> {
        let detection = Detection::of(finding, self.storing, self.all_fields);
        self.outbox.push(Message::Detection(Box::new(detection)))
    }

    fn keep(&mut self, kept: KeptMatch) -> ControlFlow<()> {
        self.outbox.push(Message::Kept(Box::new(kept)))
    }

    fn watch(&mut self, event: &Event) -> ControlFlow<()> {
        self.outbox.push(Message::Watched(Box::new(event.clone())))
    }
}

/// The printing thread's side of a hunt: prints detections, writes their alerts, keeps
/// the matches correlations need and the events behaviour watches.
struct Collector<'a> {
    printer: &'a mut Printer,
    sink: Option<&'a mut AlertSink>,
    /// What the replay needs, held in time order (spilled to temporary files beyond
    /// `--replay-memory`).
    replay: ReplayBuffer,
    /// With `--timeline`, the detections held back to be printed in time order.
    timeline: Option<Vec<DetectionRecord>>,
    /// With `--navigator`, the techniques of the detections.
    navigator: Option<NavigatorLayer>,
    /// With `--html-report`, the detections counted (and the earliest kept) for the page.
    html: Option<HuntReport>,
    /// Each note of the sources, and how many sources gave it.
    notes: BTreeMap<String, u64>,
    summary: Summary,
    /// Detections printed before the reader of the output went away, once it has.
    closed_after: Option<u64>,
    /// Detections printed so far.
    printed: u64,
}

impl Collector<'_> {
    /// Handles everything the workers send; `Break` when the reader went away.
    fn collect(
        &mut self,
        rx: &Receiver<Vec<Message>>,
        progress: &ProgressBar,
        stop: &AtomicBool,
    ) -> Result<ControlFlow<Stopped>> {
        for message in rx.iter().flatten() {
            match message {
                Message::Detection(detection) => {
                    let flow = self.show(*detection);
                    if !matches!(flow, Ok(ControlFlow::Continue(()))) {
                        stop.store(true, Ordering::Relaxed);
                        return flow;
                    }
                }
                Message::Kept(kept) => {
                    let held = self.replay.keep(*kept);
                    hold(held, stop)?;
                }
                Message::Watched(event) => {
                    let held = self.replay.watch(*event);
                    hold(held, stop)?;
                }
                Message::Problem(text) => progress.suspend(|| eprintln!("warning: {text}")),
                Message::Note(source, note) => {
                    // The same note for every file of a collection is said once, then counted.
                    let seen = self.notes.entry(note.clone()).or_default();
                    *seen += 1;
                    if *seen == 1 {
                        progress.suspend(|| eprintln!("note: {source}: {note}"));
                    }
                }
                Message::FileDone => progress.inc(1),
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Prints one detection and queues its alert. When the reader of the output goes away
    /// (a broken pipe), a hunt into a store stops printing and goes on storing; any other
    /// hunt stops (`Break`).
    fn show(&mut self, detection: Detection) -> Result<ControlFlow<Stopped>> {
        self.summary.record(&detection.record);
        if let Some(layer) = self.navigator.as_mut() {
            let record = &detection.record;
            layer.add(record.tags.iter().map(String::as_str), &record.rule_title);
        }
        if let Some(report) = self.html.as_mut() {
            report.add(&detection.record);
        }
        if let (Some(sink), Some(alert)) = (self.sink.as_deref_mut(), detection.alert) {
            let path = &sink.path;
            sink.writer
                .push(alert)
                .with_context(|| format!("cannot write detections to {path}"))?;
        }
        match self.timeline.as_mut() {
            Some(held) => {
                held.push(detection.record);
                Ok(ControlFlow::Continue(()))
            }
            None => self.print(&detection.record),
        }
    }

    /// Prints one detection line, unless the reader of the output went away: then a hunt
    /// into a store goes on without printing, any other hunt stops (`Break`).
    fn print(&mut self, record: &DetectionRecord) -> Result<ControlFlow<Stopped>> {
        if self.closed_after.is_some() {
            return Ok(ControlFlow::Continue(()));
        }
        match self.printer.write(record) {
            Ok(()) => self.printed += 1,
            Err(OutputError::BrokenPipe) => {
                self.closed_after = Some(self.printed);
                if self.sink.is_none() {
                    return Ok(ControlFlow::Break(Stopped));
                }
            }
            Err(e) => return Err(e).context("cannot write detections"),
        }
        Ok(ControlFlow::Continue(()))
    }

    /// With `--timeline`, prints the detections held back, sorted by event time (equal
    /// times by source, record and rule; detections without a time last).
    fn print_timeline(&mut self) -> Result<ControlFlow<Stopped>> {
        let Some(mut held) = self.timeline.take() else {
            return Ok(ControlFlow::Continue(()));
        };
        let mut keyed: Vec<(TimelineKey, DetectionRecord)> = held
            .drain(..)
            .map(|record| (TimelineKey::of(&record), record))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, record) in &keyed {
            if self.print(record)?.is_break() {
                return Ok(ControlFlow::Break(Stopped));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Replays the kept matches through the correlations and the watched events through
    /// the behavioural detectors (going on from the store's baseline, and saving it back),
    /// and shows what they find like detections.
    fn replay(&mut self, detectors: &mut Detectors, quiet: bool) -> Result<ControlFlow<Stopped>> {
        self.resume_baseline(detectors)?;
        let spilled = self.replay.spilled_runs();
        let late = detectors
            .replay(std::mem::take(&mut self.replay))
            .context("cannot read back the matches held for the replay")?;
        if spilled > 0 && !quiet {
            eprintln!("replay: held in {spilled} sorted runs on disk beyond --replay-memory");
        }
        if !quiet {
            report_late(&late, detectors, self.sink.is_some());
        }
        let storing = self.sink.is_some();
        let all_fields = self.printer.format().wants_all_fields();
        for finding in late.findings(detectors) {
            if self
                .show(Detection::of(&finding, storing, all_fields))?
                .is_break()
            {
                return Ok(ControlFlow::Break(Stopped));
            }
        }
        self.save_baseline(detectors)?;
        self.trust_origins(detectors)?;
        Ok(ControlFlow::Continue(()))
    }

    /// Tells the store's grouping the site's own networks: those the hunt's behavioural
    /// detectors learned, else those of the store's saved baseline, so that an API key's
    /// detections from them are context (`incidents regroup` reads the same baseline).
    fn trust_origins(&mut self, detectors: &Detectors) -> Result<()> {
        let Some(sink) = self.sink.as_deref_mut() else {
            return Ok(());
        };
        let origins = match detectors.behaviour() {
            Some(behaviour) => Some(behaviour.familiar_origins()),
            None => crate::alerts::stored_origins(sink.writer.store(), &sink.path)?,
        };
        if let Some(origins) = origins {
            sink.writer.trust_origins(Arc::new(origins));
        }
        Ok(())
    }

    /// Loads the behavioural baseline an earlier hunt saved in the store, if any.
    fn resume_baseline(&self, detectors: &mut Detectors) -> Result<()> {
        let (Some(sink), Some(behaviour)) = (self.sink.as_deref(), detectors.behaviour_mut())
        else {
            return Ok(());
        };
        let saved = sink
            .writer
            .store()
            .load_blob(BASELINE_BLOB)
            .with_context(|| format!("cannot read {BASELINE_BLOB} from {}", sink.path))?;
        if let Some(saved) = saved {
            behaviour.resume(&saved)?;
        }
        Ok(())
    }

    /// Queues the behavioural baseline to be saved with the hunt's incidents, in the
    /// store's last write (after the anomalies it raised are stored), for the next hunt.
    fn save_baseline(&mut self, detectors: &Detectors) -> Result<()> {
        let (Some(sink), Some(behaviour)) = (self.sink.as_deref_mut(), detectors.behaviour())
        else {
            return Ok(());
        };
        let baseline = behaviour.baseline()?;
        sink.writer.save_blob_at_finish(BASELINE_BLOB, baseline);
        Ok(())
    }
}

/// What ECS documents say of the hunt's rules beyond the detection columns: each rule's
/// and correlation's description and references, and with `--attack` the names of the
/// ATT&CK techniques their tags name.
fn rule_docs(
    detectors: &Detectors,
    set: &RuleSet,
    attack: Option<&std::path::Path>,
    quiet: bool,
) -> Result<RuleDocs> {
    let mut docs = RuleDocs::new();
    let metas = detectors
        .engine()
        .rules()
        .map(|(_, info)| &info.meta)
        .chain(set.correlations.iter().map(|c| &c.meta));
    let catalog = crate::alerts::load_catalog(attack, quiet)?;
    for meta in metas {
        docs.add_rule(
            tocsin_pipeline::sigma_rule(meta).id,
            RuleDoc {
                description: meta.description.clone(),
                references: meta.references.clone(),
            },
        );
        for tag in &meta.tags {
            if let Some(AttackTag::Technique(id)) = parse_tag(tag) {
                if let Some(technique) = catalog.technique(&id) {
                    docs.name_technique(&id, technique.name.clone());
                }
                // A sub-technique's document also names its technique.
                if let Some((parent, _)) = id.split_once('.') {
                    if let Some(technique) = catalog.technique(parent) {
                        docs.name_technique(parent, technique.name.clone());
                    }
                }
            }
        }
    }
    Ok(docs)
}

fn report_rule_problems(
    set: &RuleSet,
    detectors: &Detectors,
    correlation_errors: &[CorrelateError],
    quiet: bool,
) {
    if quiet {
        return;
    }
    eprintln!(
        "rules: {} compiled from {} files; {} left out by selection ({} kept only as correlation inputs), {} waiting for --placeholders, {} with a logsource the mapping does not place; {} correlations evaluated, {} invalid",
        detectors.engine().len(),
        set.files,
        set.deselected,
        set.input_only.len(),
        set.report.needs_placeholders.len(),
        set.report.unmapped,
        detectors.correlation_count(),
        correlation_errors.len(),
    );
    for duplicate in &set.duplicate_ids {
        eprintln!("warning: {}", clean(&duplicate.to_string()));
    }
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
        eprintln!("warning: rule skipped: {}", clean(&error));
    }
    for error in correlation_errors {
        eprintln!(
            "warning: correlation skipped: {}",
            clean(&error.to_string())
        );
    }
    eprintln!("warning: {problems} rule problems (run `tocsin rules lint` for details); hunting with the {} rules and {} correlations that loaded", detectors.engine().len(), detectors.correlation_count());
}

/// The order of `--timeline`: event time (detections without one last), then source,
/// record and rule, so that equal times print in the same order on every run.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct TimelineKey {
    untimed: bool,
    micros: i64,
    source: String,
    record: u64,
    rule: String,
}

impl TimelineKey {
    fn of(record: &DetectionRecord) -> Self {
        // RFC 3339 text does not sort as time (`10:00:00.25Z` before `10:00:00Z`): parse it.
        let micros = record
            .timestamp
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_micros());
        TimelineKey {
            untimed: micros.is_none(),
            micros: micros.unwrap_or(0),
            source: record.source.clone(),
            record: record.record_id,
            rule: record
                .rule_id
                .clone()
                .unwrap_or_else(|| record.rule_title.clone()),
        }
    }
}

/// Stops the hunt (`stop`) with a clear error when what the replay needs cannot be held.
fn hold(held: std::io::Result<()>, stop: &AtomicBool) -> Result<()> {
    held.map_err(|error| {
        stop.store(true, Ordering::Relaxed);
        anyhow::Error::new(error).context(
            "cannot hold the matches and events the replay needs in the temporary folder (set TMPDIR to a folder with room, or raise --replay-memory)",
        )
    })
}

/// What the replay found: one line on the correlations (what they could not use), one on
/// the behavioural detectors (where their baseline came from).
fn report_late(late: &Late, detectors: &Detectors, storing: bool) {
    report_correlations(&late.correlations, detectors.correlation_count());
    let Some(behaviour) = detectors.behaviour() else {
        return;
    };
    eprintln!(
        "behaviour: {} events of watched sources, {} anomalies; baseline {}",
        late.watched,
        late.anomalies.len(),
        match (behaviour.resumed(), storing) {
            (true, _) => "resumed from the store and saved back",
            (false, true) => "learned from scratch and saved in the store",
            (false, false) => "learned from scratch (not kept: no --store)",
        }
    );
}

/// One line on what the correlations found and what they could not use.
fn report_correlations(replay: &Replay, valid: usize) {
    if valid == 0 {
        return;
    }
    let stats = replay.stats;
    eprintln!(
        "correlations: {} hits from {} kept matches; left out: {} without a group-by field, {} late, {} in a burst already reported, {} without a timestamp, {} copies of a Windows event already counted (overlapping inputs)",
        replay.hits.len(),
        replay.kept,
        stats.missing_group_field,
        stats.late,
        stats.suppressed,
        replay.untimed,
        replay.repeats,
    );
}

/// The store line: what this hunt added and the incidents its grouping saved (all of them
/// after a full regrouping, the ones it touched after an incremental one).
fn report_store(path: &str, report: &StoreReport) {
    eprintln!(
        "store {path}: {} new detections, {} already stored; {} incidents saved ({} new)",
        report.alerts.new, report.alerts.existing, report.incidents, report.new_incidents
    );
}

/// Refuses output files that would replace an input or the store, and two outputs that
/// name the same file (the last written would replace the other).
fn check_outputs(args: &HuntArgs, protected: &Protected<'_>) -> Result<()> {
    let outputs = [
        ("--output", &args.output),
        ("--navigator", &args.navigator),
        ("--html-report", &args.html_report),
    ];
    for (i, (flag, path)) in outputs.iter().enumerate() {
        let Some(path) = path else { continue };
        output_file::check(path, protected)?;
        if let Some((other, _)) = outputs[..i].iter().find(|(_, p)| p.as_ref() == Some(path)) {
            bail!("{other} and {flag} name the same file");
        }
    }
    Ok(())
}

/// `--html-report FILE`: the page's file, created before the hunt starts so that a path
/// that cannot be written fails at once, and written once the hunt is over.
struct HtmlOutput {
    path: PathBuf,
    file: std::fs::File,
    pending: Pending,
}

impl HtmlOutput {
    /// Opens the `--html-report` file, if asked for (see [`output_file::create`]).
    fn open(args: &HuntArgs) -> Result<Option<HtmlOutput>> {
        let Some(path) = &args.html_report else {
            return Ok(None);
        };
        let (file, pending) =
            output_file::create(path).context("cannot write the HTML report (--html-report)")?;
        Ok(Some(HtmlOutput {
            path: path.clone(),
            file,
            pending,
        }))
    }

    /// Renders `report` of the hunt that `args` asked for, which started at
    /// `started_micros`, into the file, and puts it in place.
    fn write(
        self,
        report: &HuntReport,
        args: &HuntArgs,
        detectors: &Detectors,
        summary: &Summary,
        started_micros: i64,
    ) -> Result<()> {
        let inputs: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        let page = report.render(&HuntFacts {
            started_micros,
            inputs: &inputs,
            rules: detectors.engine().len(),
            correlations: detectors.correlation_count(),
            summary,
            version: env!("CARGO_PKG_VERSION"),
        });
        let HtmlOutput {
            path,
            mut file,
            pending,
        } = self;
        file.write_all(page.as_bytes())
            .and_then(|()| file.flush())
            .with_context(|| format!("cannot write the HTML report {}", path.display()))?;
        pending.commit()
    }
}

/// Where detections are written: standard output, or `-o FILE` through a temporary file
/// that replaces it once the hunt is complete (see [`output_file`]).
///
/// Output not read by a person as it comes (a file, a pipe) is written in blocks of
/// [`OUTPUT_BLOCK`]: a hunt of the sample corpus writes 9 MB, 1,240 system calls in the
/// default 8 KiB blocks.
fn open_output(args: &HuntArgs) -> Result<(Box<dyn Write + Send>, Option<Pending>)> {
    Ok(match &args.output {
        Some(path) => {
            let (file, pending) = output_file::create(path)?;
            let writer = BufWriter::with_capacity(OUTPUT_BLOCK, file);
            (Box::new(writer), Some(pending))
        }
        None => {
            let stdout = std::io::stdout();
            let writer = match stdout.is_terminal() {
                true => BufWriter::new(stdout),
                false => BufWriter::with_capacity(OUTPUT_BLOCK, stdout),
            };
            (Box::new(writer), None)
        }
    })
}

/// The write size of a hunt's output to a file or a pipe.
const OUTPUT_BLOCK: usize = 64 << 10;

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

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
