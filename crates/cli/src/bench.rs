//! `tocsin bench`: how fast a hunt runs, against the decoder's own speed measured in the
//! same run.
//!
//! For each input format (the EVTX files as they are, and the same records as JSON Lines)
//! the benchmark reads the input repeated `--repeat` times twice: once only decoding (the
//! *parse floor*, what no hunt can beat), once decoding and evaluating every rule on every
//! event, as `tocsin hunt` does. For EVTX the floor is first measured with both decoders
//! (tocsin's direct one and the `evtx` crate's JSON path it replaces, alternately), and
//! their ratio printed. It prints events/s, MB/s and the hunt's share of the floor,
//! then the rule load time (median of `--runs` loads, compiled and read back from the
//! compiled-rule cache), peak memory per phase, how time grows with input and threads, and
//! the median wall time of a real `tocsin hunt` process over the input, with and without
//! the compiled-rule cache.
//!
//! Benchmarks measure and print; they assert nothing. The figures move with the machine's
//! load, which is why every ratio is taken against a baseline measured in the same run.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use std::ops::ControlFlow;

use tocsin_decode::{DecodeOptions, EvtxDecoder};
use tocsin_engine::Scratch;
use tocsin_event::Event;
use tocsin_pipeline::{
    load_rules_cached, CacheOutcome, CompileOptions, Detectors, Finding, FindingSink, KeptMatch,
    RuleCache, RuleSelection,
};

use crate::args::BenchArgs;
use crate::ruleset::RuleSet;

/// What one pass over an input measured.
#[derive(Debug, Clone, Copy, Default)]
struct Pass {
    elapsed: Duration,
    events: u64,
    bytes: u64,
    detections: u64,
    peak_bytes: Option<u64>,
}

impl Pass {
    fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / 1_048_576.0 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs the benchmark and prints its report on standard output.
pub fn run(args: &BenchArgs) -> Result<i32> {
    if let Some(sizes) = &args.grouping {
        crate::bench_grouping::run(sizes)?;
        return Ok(0);
    }
    if !args.probe_hunt.is_empty() {
        crate::bench_memory::probe(&args.probe_hunt)?;
        return Ok(0);
    }
    if let Some(events) = args.memory {
        crate::bench_memory::run(events as usize)?;
        return Ok(0);
    }
    let rules = existing(&args.rules, "--rules", "sigma/rules")?;
    let input = existing(&args.input, "--input", "evtx")?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let (repeat, runs) = match args.quick {
        true => (1, 1),
        false => (args.repeat.max(1), args.runs.max(1)),
    };

    let cache_dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let (set, load) = load_rules(&rules, runs, &RuleCache::off())?;
    println!(
        "rules: {} compiled from {} files in {:.0} ms (median of {} loads, min {:.0}, max {:.0}; peak memory {})",
        set.engine.len(),
        set.files,
        load.spread.median.as_secs_f64() * 1000.0,
        load.spread.runs,
        load.spread.min.as_secs_f64() * 1000.0,
        load.spread.max.as_secs_f64() * 1000.0,
        show_bytes(load.peak),
    );
    drop(set);
    let cache = RuleCache::at(cache_dir.path());
    let (mut set, cached) = load_rules(&rules, runs, &cache)?;
    println!(
        "rules from the compiled-rule cache: {:.0} ms (median of {} loads, min {:.0}, max {:.0}; peak memory {}), {:.2} of a compilation; entry {}",
        cached.spread.median.as_secs_f64() * 1000.0,
        cached.spread.runs,
        cached.spread.min.as_secs_f64() * 1000.0,
        cached.spread.max.as_secs_f64() * 1000.0,
        show_bytes(cached.peak),
        cached.spread.median.as_secs_f64() / load.spread.median.as_secs_f64().max(1e-9),
        show_bytes(Some(folder_size(&cache_dir.path().join("rules")))),
    );
    let (detectors, _) = Detectors::from_rule_set(&mut set, None);

    let (evtx_files, _) = tocsin_decode::discover(std::slice::from_ref(&input), &evtx_only());
    if evtx_files.is_empty() {
        bail!("no .evtx file under {}", input.display());
    }
    let workdir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let jsonl = workdir.path().join("corpus.jsonl");
    let converted = evtx_to_jsonl(&evtx_files, &jsonl)?;
    println!(
        "input: {} EVTX files ({}), also as {} JSON Lines records ({}), each read {repeat} times, {threads} threads",
        evtx_files.len(),
        show_bytes(Some(total_size(&evtx_files))),
        converted,
        show_bytes(Some(total_size(std::slice::from_ref(&jsonl)))),
    );
    println!();
    println!(
        "{:<6} {:<6} {:>10} {:>12} {:>9} {:>11} {:>10} {:>8}",
        "format", "pass", "events", "events/s", "MB/s", "detections", "peak mem", "vs floor"
    );
    let mut decoders = None;
    for (name, files) in [("evtx", evtx_files.clone()), ("jsonl", vec![jsonl.clone()])] {
        let inputs = repeated(&files, repeat);
        if name == "evtx" {
            let compared = compare_evtx_decoders(&inputs, threads);
            print_pass(name, "crate", &compared.crate_path, None);
            decoders = Some(compared);
        }
        let floor = measure(&inputs, None, threads, EvtxDecoder::Direct);
        let hunt = measure(&inputs, Some(&detectors), threads, EvtxDecoder::Direct);
        print_pass(name, "parse", &floor, None);
        print_pass(name, "hunt", &hunt, Some(&floor));
    }
    if let Some(compared) = decoders {
        compared.print();
    }
    println!();
    if args.quick {
        println!("scaling: not measured with --quick");
    } else {
        scaling(&detectors, &evtx_files, repeat, threads);
    }
    end_to_end(&input, &rules, runs, cache_dir.path())?;
    Ok(0)
}

/// The median, minimum and maximum of several timings.
struct Spread {
    runs: usize,
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Spread {
    /// The spread of `times` (at least one).
    fn of(mut times: Vec<Duration>) -> Spread {
        times.sort();
        Spread {
            runs: times.len(),
            median: times.get(times.len() / 2).copied().unwrap_or_default(),
            min: times.first().copied().unwrap_or_default(),
            max: times.last().copied().unwrap_or_default(),
        }
    }
}

/// How long loading and compiling the rules took over several loads.
struct LoadTimes {
    spread: Spread,
    /// Peak memory of the first load.
    peak: Option<u64>,
}

/// Loads the rules `runs` times (at least once) through `cache`, timing each load: a single
/// load on a busy machine says little. With a cache, one untimed load first stores the rule
/// set, so that every timed one reads it back. Returns the last rule set.
fn load_rules(rules: &Path, runs: usize, cache: &RuleCache) -> Result<(RuleSet, LoadTimes)> {
    let runs = runs.max(1);
    let paths = [rules.to_path_buf()];
    let load = || -> Result<(RuleSet, CacheOutcome)> {
        Ok(load_rules_cached(
            &paths,
            &[],
            &CompileOptions::default(),
            &RuleSelection::default(),
            cache,
        )?)
    };
    if cache.dir().is_some() {
        let (_, outcome) = load()?;
        if outcome != (CacheOutcome::Compiled { stored: true }) {
            bail!("the rules were not stored in the compiled-rule cache ({outcome:?})");
        }
    }
    let mut times = Vec::with_capacity(runs);
    let mut peak = None;
    let mut last = None;
    for run in 0..runs {
        // Free the previous set first, so that loads do not pile up in memory.
        drop(last.take());
        reset_peak_memory();
        let started = Instant::now();
        let (set, outcome) = load()?;
        times.push(started.elapsed());
        // Verified: read back after the files were read again (changed in the last seconds).
        if cache.dir().is_some() && !matches!(outcome, CacheOutcome::Hit | CacheOutcome::Verified) {
            bail!("the rules were not read back from the compiled-rule cache ({outcome:?})");
        }
        if run == 0 {
            peak = peak_memory();
        }
        last = Some(set);
    }
    let set = last.context("no rule set was loaded")?;
    let load = LoadTimes {
        spread: Spread::of(times),
        peak,
    };
    Ok((set, load))
}

/// The path given, or the shared corpus's; an error saying which flag to pass otherwise.
fn existing(given: &Option<PathBuf>, flag: &str, shared: &str) -> Result<PathBuf> {
    let path = match given {
        Some(path) => path.clone(),
        None => shared_dir().join(shared),
    };
    if !path.exists() {
        bail!(
            "{} does not exist: pass {flag} PATH (or set TOCSIN_SHARED to the folder holding sigma/rules and evtx)",
            path.display()
        );
    }
    Ok(path)
}

/// `$TOCSIN_SHARED`, or `../shared` beside the working directory.
fn shared_dir() -> PathBuf {
    std::env::var_os("TOCSIN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared"))
}

fn evtx_only() -> DecodeOptions {
    DecodeOptions {
        extensions: vec!["evtx".into()],
        ..DecodeOptions::default()
    }
}

/// Writes every record of `files` as one JSON object per line; returns the record count.
fn evtx_to_jsonl(files: &[PathBuf], out: &Path) -> Result<u64> {
    let mut writer = BufWriter::new(
        File::create(out).with_context(|| format!("cannot create {}", out.display()))?,
    );
    let mut count = 0;
    for file in files {
        let Ok(mut parser) = evtx::EvtxParser::from_path(file) else {
            continue;
        };
        for record in parser.records_json_value().flatten() {
            serde_json::to_writer(&mut writer, &record.data)?;
            writer.write_all(b"\n")?;
            count += 1;
        }
    }
    writer.flush()?;
    Ok(count)
}

fn repeated(files: &[PathBuf], times: usize) -> Vec<PathBuf> {
    (0..times).flat_map(|_| files.iter().cloned()).collect()
}

/// The total size of the files directly in `folder`.
fn folder_size(folder: &Path) -> u64 {
    let files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    total_size(&files)
}

fn total_size(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// The EVTX parse floor with tocsin's direct decoder and with the `evtx` crate's JSON path
/// (the decoder it replaces), each measured twice, alternately, so that a change in the
/// machine's load weighs on both; the faster pass of each is kept.
struct DecoderComparison {
    crate_path: Pass,
    direct: Pass,
}

/// Measures both EVTX decoders over `inputs`, alternately.
fn compare_evtx_decoders(inputs: &[PathBuf], threads: usize) -> DecoderComparison {
    let faster = |a: Pass, b: Pass| if a.elapsed <= b.elapsed { a } else { b };
    let crate_first = measure(inputs, None, threads, EvtxDecoder::Crate);
    let direct_first = measure(inputs, None, threads, EvtxDecoder::Direct);
    let crate_second = measure(inputs, None, threads, EvtxDecoder::Crate);
    let direct_second = measure(inputs, None, threads, EvtxDecoder::Direct);
    DecoderComparison {
        crate_path: faster(crate_first, crate_second),
        direct: faster(direct_first, direct_second),
    }
}

impl DecoderComparison {
    /// Prints both floors and their ratio (issue 21 asks for at least 2).
    fn print(&self) {
        println!(
            "EVTX decoders, parse floor (faster of two alternate passes each): direct {:.0} \
             events/s, evtx crate's JSON path {:.0} events/s: {:.2} times",
            self.direct.events_per_second(),
            self.crate_path.events_per_second(),
            self.direct.events_per_second() / self.crate_path.events_per_second().max(1e-9),
        );
    }
}

/// Reads `inputs` on `threads` threads with EVTX `decoder`, judging the events when
/// detectors are given.
fn measure(
    inputs: &[PathBuf],
    detectors: Option<&Detectors>,
    threads: usize,
    decoder: EvtxDecoder,
) -> Pass {
    reset_peak_memory();
    let next = AtomicUsize::new(0);
    let options = DecodeOptions {
        evtx_threads: if inputs.len() >= threads { 1 } else { threads },
        evtx_decoder: decoder,
        ..DecodeOptions::default()
    };
    let started = Instant::now();
    let parts: Vec<Pass> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| worker(inputs, &next, &options, detectors)))
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).collect()
    });
    let mut pass = Pass {
        elapsed: started.elapsed(),
        peak_bytes: peak_memory(),
        ..Pass::default()
    };
    for part in parts {
        pass.events += part.events;
        pass.bytes += part.bytes;
        pass.detections += part.detections;
    }
    pass
}

/// One thread of [`measure`]: takes files until none are left.
fn worker(
    inputs: &[PathBuf],
    next: &AtomicUsize,
    options: &DecodeOptions,
    detectors: Option<&Detectors>,
) -> Pass {
    let mut pass = Pass::default();
    let mut scratch = Scratch::default();
    while let Some(path) = inputs.get(next.fetch_add(1, Ordering::Relaxed)) {
        pass.bytes += std::fs::metadata(path).map_or(0, |m| m.len());
        let Ok(source) = tocsin_decode::open(path, options) else {
            continue;
        };
        for event in source.flatten() {
            pass.events += 1;
            let Some(detectors) = detectors else { continue };
            let mut sink = Counting { detections: 0 };
            let _ = detectors.scan(&event, &mut scratch, &mut sink);
            pass.detections += sink.detections;
        }
    }
    pass
}

/// Counts findings and builds the line a hunt would print for each, so that the benchmark
/// pays what a hunt pays.
struct Counting {
    detections: u64,
}

impl FindingSink for Counting {
    fn finding(&mut self, finding: &Finding<'_>) -> ControlFlow<()> {
        std::hint::black_box(finding.record());
        self.detections += 1;
        ControlFlow::Continue(())
    }

    fn keep(&mut self, kept: KeptMatch) -> ControlFlow<()> {
        std::hint::black_box(kept);
        ControlFlow::Continue(())
    }

    fn watch(&mut self, event: &Event) -> ControlFlow<()> {
        std::hint::black_box(event);
        ControlFlow::Continue(())
    }
}

fn print_pass(format: &str, name: &str, pass: &Pass, floor: Option<&Pass>) {
    let ratio = floor.map_or(String::from("1.00"), |f| {
        format!("{:.2}", pass.events_per_second() / f.events_per_second())
    });
    println!(
        "{:<6} {:<6} {:>10} {:>12.0} {:>9.1} {:>11} {:>10} {:>8}",
        format,
        name,
        pass.events,
        pass.events_per_second(),
        pass.megabytes_per_second(),
        pass.detections,
        show_bytes(pass.peak_bytes),
        ratio,
    );
}

/// How hunt time grows with input (one tenth of the input against all of it) and with
/// threads (one against all). Each figure is the median of [`SCALING_TRIES`] passes: a
/// single pass on a shared machine measures the neighbours as much as the hunt, and the
/// median, unlike the best, favours neither the short passes nor the long ones.
fn scaling(engine: &Detectors, files: &[PathBuf], repeat: usize, threads: usize) {
    let small_times = (repeat / 10).max(1);
    let small = median_of(&repeated(files, small_times), engine, threads);
    let large = median_of(&repeated(files, small_times * 10), engine, threads);
    println!(
        "linearity: x{} input in {:.2} s, x{} in {:.2} s (median of {SCALING_TRIES}): {:.2} times the time for 10 times the input",
        small_times,
        small.elapsed.as_secs_f64(),
        small_times * 10,
        large.elapsed.as_secs_f64(),
        large.elapsed.as_secs_f64() / small.elapsed.as_secs_f64().max(1e-9),
    );
    if threads > 1 {
        let inputs = repeated(files, small_times * 2);
        let one = median_of(&inputs, engine, 1);
        let many = median_of(&inputs, engine, threads);
        println!(
            "threads: 1 thread {:.0} events/s, {threads} threads {:.0} events/s (median of {SCALING_TRIES}): {:.2} times the speed",
            one.events_per_second(),
            many.events_per_second(),
            many.events_per_second() / one.events_per_second().max(1e-9),
        );
    }
}

/// How many passes [`scaling`] takes the median of.
const SCALING_TRIES: usize = 3;

/// The median of [`SCALING_TRIES`] hunt passes over `inputs`, by time.
fn median_of(inputs: &[PathBuf], engine: &Detectors, threads: usize) -> Pass {
    let mut passes: Vec<Pass> = (0..SCALING_TRIES)
        .map(|_| measure(inputs, Some(engine), threads, EvtxDecoder::Direct))
        .collect();
    passes.sort_by_key(|pass| pass.elapsed);
    passes[passes.len() / 2]
}

/// Median wall times of `tocsin hunt INPUT --rules RULES` (its rules read back from the
/// compiled-rule cache in `cache_dir`, stored by a first untimed run), of the same hunt with
/// `--no-rule-cache`, and of two `tocsin search`es over the same input, each as a separate
/// process, start-up and rule loading included, interleaved so that a change in the
/// machine's load touches all alike; the others are also given as a ratio to the hunt.
fn end_to_end(input: &Path, rules: &Path, runs: usize, cache_dir: &Path) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the tocsin executable")?;
    let hunt: Vec<std::ffi::OsString> = vec![
        "hunt".into(),
        input.into(),
        "--rules".into(),
        rules.into(),
        "--format".into(),
        "jsonl".into(),
        "--output".into(),
        "/dev/null".into(),
        "--quiet".into(),
    ];
    let search = |criteria: &[&str]| -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> =
            vec!["search".into(), input.into(), "--quiet".into()];
        args.extend(criteria.iter().map(Into::into));
        args
    };
    let mut uncached = hunt.clone();
    uncached.push("--no-rule-cache".into());
    // The cache of these rules, stored by an untimed run first.
    timed_run(&exe, &hunt, cache_dir)?;
    let commands = [
        ("tocsin hunt", hunt),
        ("tocsin hunt --no-rule-cache", uncached),
        (
            "tocsin search --keyword mimikatz",
            search(&["--keyword", "mimikatz"]),
        ),
        (
            "tocsin search --field EventID=4625",
            search(&["--field", "EventID=4625"]),
        ),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); commands.len()];
    for _ in 0..runs.max(1) {
        for ((_, args), times) in commands.iter().zip(&mut times) {
            times.push(timed_run(&exe, args, cache_dir)?);
        }
    }
    let spreads: Vec<Spread> = times.into_iter().map(Spread::of).collect();
    let hunt_median = spreads[0].median.as_secs_f64();
    println!(
        "end to end over {} ({} runs each, interleaved):",
        input.display(),
        runs.max(1)
    );
    for ((name, _), spread) in commands.iter().zip(&spreads) {
        let median = spread.median.as_secs_f64();
        println!(
            "  {name:<36} median {median:.2} s (min {:.2}, max {:.2}), {:.2} of the hunt",
            spread.min.as_secs_f64(),
            spread.max.as_secs_f64(),
            median / hunt_median.max(f64::EPSILON),
        );
    }
    Ok(())
}

/// The wall time of one `tocsin ARGS` run, its output discarded, with `cache_dir` as its
/// compiled-rule cache (the user's own is left alone); a search that found nothing (exit
/// 1) counts as a run.
fn timed_run(exe: &Path, args: &[std::ffi::OsString], cache_dir: &Path) -> Result<Duration> {
    let started = Instant::now();
    let status = Command::new(exe)
        .args(args)
        .env("TOCSIN_CACHE_DIR", cache_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("cannot run tocsin")?;
    if !matches!(status.code(), Some(0 | 1)) {
        bail!("tocsin {:?} failed: {status}", args.first());
    }
    Ok(started.elapsed())
}

/// Resets the kernel's peak-memory mark of this process (Linux), so that each phase reports
/// its own peak.
pub(crate) fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak resident memory since the last reset (Linux `VmHWM`).
pub(crate) fn peak_memory() -> Option<u64> {
    status_bytes("self", "VmHWM")
}

/// A memory figure of `/proc/PROCESS/status` (Linux: `self` or a process id), such as
/// `VmRSS`, in bytes.
pub(crate) fn status_bytes(process: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let line = status.lines().find(|l| {
        l.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn show_bytes(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => format!("{:.1} MiB", b as f64 / 1_048_576.0),
        None => "n/a".into(),
    }
}
