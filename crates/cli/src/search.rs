//! `tocsin search`: the events themselves that hold a keyword, match a regular expression
//! or have a field value, over every input `hunt` reads (the same decoders, field names and
//! aliases), on all cores. For the address or account just learned during an incident.
//!
//! An event is printed when it holds any `--keyword` (in any field's value), every
//! `--regex` matches some field's value, and every `--field NAME=VALUE` holds (the field,
//! by the name rules use or its full path, has a value equal to VALUE, where `*` and `?`
//! are wildcards), and the `--sigma-condition` holds (a Sigma detection, see
//! [`crate::sigma_condition`]). Matching ignores case unless `--case-sensitive` (Sigma
//! detections follow Sigma's own case rules). Output: the events as
//! `tocsin events` prints them (JSON Lines), as Elastic Common Schema documents
//! (`--format ecs`, `event.kind: event`; `ecs-bulk` for a `_bulk` body), or with `--show
//! A,B` a tab-separated table of the time, the source, the record and those fields. Files are read in parallel, so events
//! of different files may interleave; each file's events keep their order.
//!
//! Exit code: 0 when something matched, 1 when nothing did (as `grep`), 2 on bad
//! arguments or when nothing could be read.

use std::collections::BTreeSet;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use anyhow::{bail, Context, Result};
use regex::{Regex, RegexBuilder};
use tocsin_decode::DecodeOptions;
use tocsin_engine::Scratch;
use tocsin_event::time::{format_machine, TimeRange};
use tocsin_event::{Event, FieldValue, Fields, Value};

use tocsin_event::RuleRef;
use tocsin_output::{ecs, DetectionRecord, EcsKind, RuleDocs};

use crate::args::{SearchArgs, SearchFormat};
use crate::distinct::{canonical_inputs, distinct_files};
use crate::sigma_condition::SigmaCondition;

/// What an event must hold to be printed (see the module documentation).
pub struct Criteria {
    keywords: Option<AhoCorasick>,
    regexes: Vec<Regex>,
    fields: Vec<FieldTest>,
    sigma: Option<SigmaCondition>,
    range: TimeRange,
}

/// `--field NAME=VALUE`.
struct FieldTest {
    name: String,
    value: Regex,
}

impl Criteria {
    /// The criteria of `args`.
    ///
    /// # Errors
    ///
    /// A regular expression does not compile, a `--field` is not `NAME=VALUE`, or nothing
    /// is asked for.
    pub fn of(args: &SearchArgs) -> Result<Self> {
        if args.keyword.is_empty()
            && args.regex.is_empty()
            && args.field.is_empty()
            && args.sigma_condition.is_none()
        {
            bail!(
                "give at least one --keyword, --regex, --field or --sigma-condition to search for"
            );
        }
        let insensitive = !args.case_sensitive;
        let keywords = match args.keyword.is_empty() {
            true => None,
            false => Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(insensitive)
                    .build(&args.keyword)
                    .context("cannot build the keyword matcher")?,
            ),
        };
        let regexes = args
            .regex
            .iter()
            .map(|pattern| {
                RegexBuilder::new(pattern)
                    .case_insensitive(insensitive)
                    .build()
                    .with_context(|| format!("--regex {pattern}: not a valid regular expression"))
            })
            .collect::<Result<_>>()?;
        let fields = args
            .field
            .iter()
            .map(|spec| field_test(spec, insensitive))
            .collect::<Result<_>>()?;
        let sigma = args
            .sigma_condition
            .as_deref()
            .map(SigmaCondition::compile)
            .transpose()?;
        Ok(Criteria {
            keywords,
            regexes,
            fields,
            sigma,
            range: args.range.range()?,
        })
    }

    /// Whether `event` is printed; `scratch` is the calling thread's, for the Sigma
    /// detection.
    pub fn matches(&self, event: &Event, scratch: &mut Scratch) -> bool {
        if !self.range.contains(event.timestamp_micros) {
            return false;
        }
        let values = || event.fields.iter().map(|f| text_of(&f.value));
        if let Some(keywords) = &self.keywords {
            if !values().any(|v| keywords.is_match(v.as_ref())) {
                return false;
            }
        }
        if !self
            .regexes
            .iter()
            .all(|regex| values().any(|v| regex.is_match(&v)))
        {
            return false;
        }
        let fields_hold = self.fields.iter().all(|test| {
            let mut found = false;
            event.visit(&test.name, &mut |value| {
                found = test.value.is_match(&field_text(value));
                if found {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            });
            found
        });
        // The Sigma detection last: the engine costs more than the plain tests above.
        fields_hold
            && self
                .sigma
                .as_ref()
                .is_none_or(|sigma| sigma.matches(event, scratch))
    }

    /// The `--field` names, to say which no event had.
    fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|test| test.name.as_str())
    }
}

/// Parses `NAME=VALUE` into a test: VALUE whole, `*` and `?` as wildcards.
fn field_test(spec: &str, insensitive: bool) -> Result<FieldTest> {
    let Some((name, value)) = spec.split_once('=') else {
        bail!("--field {spec}: expected NAME=VALUE (such as --field TargetUserName=admin)");
    };
    let name = name.trim();
    if name.is_empty() {
        bail!("--field {spec}: the field name is empty");
    }
    let mut pattern = String::from("^");
    for c in value.chars() {
        match c {
            '*' => pattern.push_str("(?s:.*)"),
            '?' => pattern.push_str("(?s:.)"),
            c => pattern.push_str(&regex::escape(&c.to_string())),
        }
    }
    pattern.push('$');
    let value = RegexBuilder::new(&pattern)
        .case_insensitive(insensitive)
        .build()
        .with_context(|| format!("--field {spec}: the value is too large to match"))?;
    Ok(FieldTest {
        name: name.to_owned(),
        value,
    })
}

fn text_of(value: &Value) -> std::borrow::Cow<'_, str> {
    field_text(value.as_field_value())
}

fn field_text(value: FieldValue<'_>) -> std::borrow::Cow<'_, str> {
    match value {
        FieldValue::Str(s) => std::borrow::Cow::Borrowed(s),
        FieldValue::Int(i) => std::borrow::Cow::Owned(i.to_string()),
        FieldValue::Float(f) => std::borrow::Cow::Owned(f.to_string()),
        FieldValue::Bool(b) => std::borrow::Cow::Borrowed(if b { "true" } else { "false" }),
        FieldValue::Null => std::borrow::Cow::Borrowed(""),
    }
}

/// What one worker found.
#[derive(Default)]
struct Found {
    matched: u64,
    events: u64,
    decode_errors: u64,
    /// The `--field` names some event had.
    fields_seen: BTreeSet<String>,
}

/// Runs a search; returns the exit code.
pub fn run(args: &SearchArgs) -> Result<i32> {
    let criteria = Criteria::of(args)?;
    let options = DecodeOptions {
        extensions: args.extensions.clone(),
        format: args.input_format,
        logsource: args.logsource.clone().map(std::sync::Arc::new),
        syslog_year: args.clock.syslog_year,
        timezone: args.clock.tz,
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
    let (tx, rx) = crossbeam_channel::bounded::<Vec<u8>>(1024);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut out = BufWriter::new(std::io::stdout().lock());
    let (found, closed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let tx = tx.clone();
                let (files, options, criteria) = (&files, &options, &criteria);
                let (next, stop) = (&next, &stop);
                let output = Output {
                    show: &args.show,
                    format: args.format,
                };
                scope.spawn(move || search_files(files, options, criteria, output, next, stop, &tx))
            })
            .collect();
        drop(tx);
        let mut closed = false;
        if !args.show.is_empty() {
            closed |= write_line(&mut out, table_header(&args.show).as_bytes()).is_err();
        }
        for line in &rx {
            if closed {
                continue;
            }
            if let Err(e) = write_line(&mut out, &line) {
                closed = e.kind() == ErrorKind::BrokenPipe;
                stop.store(true, Ordering::Relaxed);
                if !closed {
                    eprintln!("error: cannot write the events: {e}");
                }
            }
        }
        drop(rx);
        let mut found = Found::default();
        for worker in workers {
            match worker.join() {
                Ok(part) => {
                    found.matched += part.matched;
                    found.events += part.events;
                    found.decode_errors += part.decode_errors;
                    found.fields_seen.extend(part.fields_seen);
                }
                Err(_) => eprintln!("error: a worker thread panicked"),
            }
        }
        (found, closed)
    });
    if !closed {
        match out.flush() {
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(141),
            other => other.context("cannot write the events")?,
        }
    } else {
        return Ok(141);
    }
    for name in criteria.field_names() {
        if !found.fields_seen.contains(name) {
            eprintln!(
                "warning: --field {name}: no event read has a field of that name (`tocsin events` shows the names)"
            );
        }
    }
    if !args.quiet {
        eprintln!(
            "search: {} of {} events matched in {} files, {} decode errors",
            found.matched,
            found.events,
            files.len(),
            found.decode_errors + discover_errors.len() as u64
        );
    }
    Ok(if found.matched > 0 { 0 } else { 1 })
}

/// A worker: takes files until none are left, sending each matching event's line.
fn search_files(
    files: &[PathBuf],
    options: &DecodeOptions,
    criteria: &Criteria,
    output: Output<'_>,
    next: &AtomicUsize,
    stop: &AtomicBool,
    tx: &crossbeam_channel::Sender<Vec<u8>>,
) -> Found {
    let mut found = Found::default();
    let mut scratch = Scratch::default();
    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
        let source = match tocsin_decode::open(path, options) {
            Ok(source) => source,
            Err(e) => {
                found.decode_errors += 1;
                eprintln!("warning: {e}");
                continue;
            }
        };
        for item in source {
            if stop.load(Ordering::Relaxed) {
                return found;
            }
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    found.decode_errors += 1;
                    eprintln!("warning: {e}");
                    continue;
                }
            };
            found.events += 1;
            for name in criteria.field_names() {
                if !found.fields_seen.contains(name) && event.contains(name) {
                    found.fields_seen.insert(name.to_owned());
                }
            }
            if !criteria.matches(&event, &mut scratch) {
                continue;
            }
            found.matched += 1;
            let line = output.line(&event);
            if tx.send(line).is_err() {
                return found;
            }
        }
    }
    found
}

/// How matched events are printed: `--show` and `--format`.
#[derive(Clone, Copy)]
struct Output<'a> {
    show: &'a [String],
    format: SearchFormat,
}

impl Output<'_> {
    /// The line (without its newline) of one matched event.
    fn line(&self, event: &Event) -> Vec<u8> {
        if !self.show.is_empty() {
            return table_row(event, self.show).into_bytes();
        }
        match self.format {
            SearchFormat::Jsonl => {
                serde_json::to_vec(&crate::events::render(event)).unwrap_or_default()
            }
            SearchFormat::Ecs | SearchFormat::EcsBulk => {
                let mut line = Vec::new();
                if self.format == SearchFormat::EcsBulk {
                    line.extend_from_slice(ecs::BULK_ACTION.as_bytes());
                    line.push(b'\n');
                }
                let record = DetectionRecord::new(&RuleRef::default(), &[], event);
                let document = ecs::document(&record, EcsKind::Event, &RuleDocs::new());
                // Writing a JSON value into a `Vec` cannot fail.
                let _ = serde_json::to_writer(&mut line, &document);
                line
            }
        }
    }
}

fn write_line(out: &mut impl Write, line: &[u8]) -> std::io::Result<()> {
    out.write_all(line)?;
    out.write_all(b"\n")
}

/// The table's header: time, source, record and the chosen fields, tab-separated.
fn table_header(show: &[String]) -> String {
    let mut header = vec!["time", "source", "record"];
    header.extend(show.iter().map(String::as_str));
    header.join("\t")
}

/// One event as a table row: its time, source, record id and the first value of each
/// chosen field (`-` when it has none), tabs and newlines in values shown as spaces.
fn table_row(event: &Event, show: &[String]) -> String {
    let time = event
        .timestamp_micros
        .and_then(format_machine)
        .unwrap_or_else(|| "-".into());
    let mut row = vec![
        time,
        event.origin.source.to_string(),
        tocsin_output::record_id(event).to_string(),
    ];
    for name in show {
        let value = event
            .first(name)
            .map(|v| field_text(v).replace(['\t', '\n', '\r'], " "))
            .unwrap_or_else(|| "-".into());
        row.push(value);
    }
    row.join("\t")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn criteria(flags: &[&str]) -> Result<Criteria> {
        let argv = ["tocsin", "search", "x.jsonl"].iter().chain(flags);
        match Cli::try_parse_from(argv)?.command {
            Command::Search(args) => Criteria::of(&args),
            _ => bail!("not a search"),
        }
    }

    fn event() -> Event {
        let mut event = Event::default();
        event.push(
            "Event.EventData.TargetUserName",
            "TargetUserName",
            Value::from("Admin"),
        );
        event.push(
            "Event.EventData.IpAddress",
            "IpAddress",
            Value::from("203.0.113.9"),
        );
        event.push("Event.System.EventID", "EventID", Value::Int(4625));
        event
    }

    #[test]
    fn keywords_any_regexes_and_fields_all() {
        let e = event();
        let hit = |flags: &[&str]| {
            criteria(flags)
                .expect("criteria")
                .matches(&e, &mut Scratch::default())
        };
        assert!(hit(&["--keyword", "ADMIN"]));
        assert!(hit(&["-k", "nothing", "-k", "113.9"]));
        assert!(!hit(&["-k", "nothing"]));
        assert!(!hit(&["-k", "ADMIN", "--case-sensitive"]));
        assert!(hit(&["--regex", r"^203\.0\.113\.\d+$"]));
        assert!(!hit(&["--regex", "^203", "--regex", "^10\\."]));
        assert!(!hit(&["--field", "targetusername=adm*"]), "names are exact");
        assert!(hit(&["--field", "TargetUserName=adm*"]));
        assert!(hit(&["--field", "Event.EventData.TargetUserName=admin"]));
        assert!(hit(&[
            "--field",
            "EventID=4625",
            "--field",
            "IpAddress=203.0.113.?"
        ]));
        assert!(!hit(&["--field", "EventID=4624"]));
        assert!(!hit(&["-k", "admin", "--field", "EventID=4624"]));
        let sigma = "{EventID: 4625, IpAddress|cidr: 203.0.113.0/24}";
        assert!(hit(&["--sigma-condition", sigma]));
        assert!(hit(&["--sigma-condition", sigma, "-k", "admin"]));
        assert!(!hit(&["--sigma-condition", sigma, "-k", "nothing"]));
        assert!(!hit(&["--sigma-condition", "{IpAddress|cidr: 10.0.0.0/8}"]));
    }

    #[test]
    fn bad_criteria_say_what_is_wrong() {
        let error = |flags: &[&str]| match criteria(flags) {
            Ok(_) => String::new(),
            Err(e) => format!("{e:#}"),
        };
        assert!(error(&[]).contains("at least one"));
        assert!(error(&["--field", "nothing"]).contains("NAME=VALUE"));
        assert!(error(&["--field", "=x"]).contains("name is empty"));
        assert!(error(&["--regex", "("]).contains("not a valid regular expression"));
        assert!(
            error(&["-k", "x", "--from", "2024-12-05", "--to", "2024-12-01"])
                .contains("after --to")
        );
    }
}
