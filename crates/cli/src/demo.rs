//! `tocsin demo`: generate a remote-support estate with an intrusion in it (`tocsin-demo`),
//! hunt its logs with the built-in rules, their correlations and the behavioural detector,
//! group the alerts into incidents, store them and tell the story; or, with `--evaluate`,
//! score many seeds of one attack variant (or of each, `--variant all`) against the
//! acceptance criteria.
//!
//! * [`pipeline`]: decode, order, detect (with `tocsin-pipeline`, as `hunt` does).
//! * [`truth`]: the ground truth applied to events (which are the attacker's).
//! * [`score`]: first alert, attack incident, false alarms, criteria.
//! * [`story`]: the text printed.
//! * [`folder`]: the output folder and what may be overwritten.
//!
//! The alerts are written to the demo's store with the same [`IncidentWriter`] and grouping
//! defaults as `hunt --store`, and the story tells the incidents read back from that store,
//! so that hunting the demo's logs gives the same incidents.

mod folder;
mod pipeline;
mod score;
mod story;
mod truth;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tocsin_decode::{DecodeOptions, EventSource};
use tocsin_demo::{DemoConfig, Scenario, Variant};
use tocsin_incident::{
    render, AttackCatalog, Format, GroupingConfig, Incident, IncidentFilter, IncidentStore,
};
use tocsin_pipeline::{IncidentWriter, BASELINE_BLOB};
use tocsin_store::{MemoryStore, SqliteStore};

use self::pipeline::{Outcome, Pipeline};
use self::score::{
    Score, Totals, MAX_FALSE_INCIDENTS_PER_SITE_MONTH, MAX_FIRST_ALERT_DELAY_MICROS,
};
use self::story::{delay_text, Story, Written};
use self::truth::AttackFootprint;
use crate::args::{CompileArgs, DemoArgs, SelectArgs};
use crate::ruleset::{self, RuleSet, BUILTIN_RULES};

/// Runs `tocsin demo`; returns the exit code.
pub fn run(args: &DemoArgs) -> Result<i32> {
    let rules = builtin_rules()?;
    let pipeline = Pipeline {
        engine: Arc::new(rules.engine),
        correlations: rules.correlations,
        grouping: GroupingConfig {
            same_signal: rules.similar_signals.clone(),
            ..GroupingConfig::default()
        },
    };
    match args.evaluate {
        Some(runs) => evaluate(args, &pipeline, runs),
        None => demo(args, &pipeline),
    }
}

/// The built-in rules, compiled; a rule that does not compile is a bug, so it fails.
fn builtin_rules() -> Result<RuleSet> {
    let rules = ruleset::load(
        &[PathBuf::from(BUILTIN_RULES)],
        &CompileArgs::default(),
        &SelectArgs::default(),
    )?;
    if let Some(error) = rules.load_errors.first() {
        anyhow::bail!("a built-in rule does not load: {error}");
    }
    if let Some(error) = rules.report.errors.first() {
        anyhow::bail!("a built-in rule does not compile: {error}");
    }
    Ok(rules)
}

/// The variants `--variant` names (`all`: every one).
fn variants_of(args: &DemoArgs) -> Vec<Variant> {
    match Variant::parse(&args.variant) {
        Some(variant) => vec![variant],
        None => Variant::ALL.to_vec(),
    }
}

/// The generated world's settings.
fn config_of(args: &DemoArgs, seed: u64, variant: Variant) -> DemoConfig {
    DemoConfig {
        variant,
        benign_days: args.days,
        // At most 20,000 (the flag's range): no truncation.
        workstations: args.workstations as usize,
        ..DemoConfig::new(seed)
    }
    .normalised()
}

/// One demo: generate, write, hunt, store, report, tell.
fn demo(args: &DemoArgs, pipeline: &Pipeline) -> Result<i32> {
    let started = Instant::now();
    let Some(variant) = Variant::parse(&args.variant) else {
        anyhow::bail!("--variant all scores every variant: it needs --evaluate N");
    };
    let config = config_of(args, args.seed, variant);
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| folder::default_dir(args.seed));
    folder::prepare(&dir, args.force)?;
    let say = |text: &str| {
        if !args.quiet {
            eprintln!("{text}");
        }
    };
    say(&format!(
        "generating seed {} into {}",
        args.seed,
        dir.display()
    ));
    let scenario = Scenario::generate(&config);
    let files = scenario.write(&dir)?;
    let logs: Vec<PathBuf> = files.logs().iter().map(|path| path.to_path_buf()).collect();
    say("hunting the logs with the built-in rules and the behavioural detector");
    let sources = open_logs(&logs)?;
    let footprint = AttackFootprint::new(&scenario.truth);
    let mut outcome = pipeline.run(sources, &footprint)?;
    for problem in &outcome.problems {
        eprintln!("warning: {problem}");
    }
    let store_path = dir.join(folder::STORE_FILE);
    let context = || format!("cannot write the store {}", store_path.display());
    let store = SqliteStore::open(&store_path).with_context(context)?;
    let mut store = save(store, pipeline, &mut outcome).with_context(context)?;
    let score = Score::of(&outcome, footprint.clock_micros());
    let report = write_report(&mut store, &dir, &outcome, &score)?;
    let store = store_path;
    let written = Written {
        dir,
        logs,
        store,
        report,
    };
    if args.quiet {
        println!("{}", written.store.display());
        if let Some(report) = &written.report {
            println!("{}", report.display());
        }
    } else {
        let story = Story {
            config: &config,
            truth: &scenario.truth,
            outcome: &outcome,
            score: &score,
            written: &written,
        };
        print!("{}", story.render());
        eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(0)
}

/// Opens the written logs with the decoders `tocsin hunt` uses.
fn open_logs(logs: &[PathBuf]) -> Result<Vec<Box<dyn EventSource + Send>>> {
    let options = DecodeOptions::default();
    logs.iter()
        .map(|path| {
            // Named as `tocsin hunt` names its inputs, so that both key detections alike.
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            tocsin_decode::open(&path, &options)
                .with_context(|| format!("cannot decode {}", path.display()))
        })
        .collect()
}

/// Writes the alerts to `store` with the pipeline's [`IncidentWriter`] (as `hunt --store`
/// does), and the baseline; replaces the outcome's incidents with the store's own, oldest
/// first, so that the story and the score tell what the store holds.
fn save<S: IncidentStore>(
    store: S,
    pipeline: &Pipeline,
    outcome: &mut Outcome,
) -> Result<S, S::Error> {
    let mut writer = IncidentWriter::new(store, pipeline.grouping.clone(), AttackCatalog::empty());
    if let Some(origins) = &outcome.origins {
        writer.trust_origins(std::sync::Arc::new(origins.clone()));
    }
    for alert in &outcome.alerts {
        writer.push(alert.clone())?;
    }
    writer.save_blob_at_finish(BASELINE_BLOB, outcome.baseline.clone());
    let (store, _) = writer.finish()?;
    outcome.incidents = stored_incidents(&store)?;
    Ok(store)
}

/// The store's incidents, oldest first.
fn stored_incidents<S: IncidentStore>(store: &S) -> Result<Vec<Incident>, S::Error> {
    let mut incidents = store.list_incidents(&IncidentFilter::default())?;
    incidents.sort_by(|a, b| (a.first_seen_micros, &a.id).cmp(&(b.first_seen_micros, &b.id)));
    Ok(incidents)
}

/// Writes the attack incident's HTML report; returns its path.
fn write_report(
    store: &mut SqliteStore,
    dir: &Path,
    outcome: &Outcome,
    score: &Score,
) -> Result<Option<PathBuf>> {
    let Some(incident) = score
        .attack_incident
        .and_then(|index| outcome.incidents.get(index))
    else {
        return Ok(None);
    };
    let audit = store
        .audit_of(&incident.id)
        .with_context(|| format!("cannot read the store {}", store.path().display()))?;
    let html = render(incident, &outcome.alerts, &audit, Format::Html);
    let path = dir.join(folder::REPORT_FILE);
    std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(path))
}

/// `--evaluate N`: scores seeds S..S+N of each variant asked for, in memory, and prints
/// one line per run, each variant's figures against the criteria, and (for several
/// variants) a summary; exits 1 if a variant fails.
fn evaluate(args: &DemoArgs, pipeline: &Pipeline, runs: u64) -> Result<i32> {
    let started = Instant::now();
    let variants = variants_of(args);
    let mut out = std::io::stdout().lock();
    let mut summary = Vec::new();
    for variant in &variants {
        let (totals, restarted) = evaluate_variant(args, pipeline, runs, *variant, &mut out)?;
        summary.push((*variant, totals, restarted));
    }
    if summary.len() > 1 {
        writeln!(out, "summary")?;
        writeln!(
            out,
            "  {:<15} {:>17} {:>19} {:>17} {:>9}  {:<7}  after a restart",
            "variant",
            "first alert <=5m",
            "one incident high+",
            "false/site-month",
            "low-only",
            "verdict"
        )?;
        for (variant, totals, restarted) in &summary {
            let verdict = |t: &Totals| if t.passed() { "PASSED" } else { "FAILED" };
            writeln!(
                out,
                "  {:<15} {:>17} {:>19} {:>17.2} {:>9}  {:<7}  {} ({}/{}, {}/{}, {:.2}, {})",
                variant.as_str(),
                format!("{}/{}", totals.in_time, totals.runs),
                format!("{}/{}", totals.severe, totals.runs),
                totals.false_incidents_per_site_month(),
                totals.low_only_incidents,
                verdict(totals),
                verdict(restarted),
                restarted.in_time,
                restarted.runs,
                restarted.severe,
                restarted.runs,
                restarted.false_incidents_per_site_month(),
                restarted.low_only_incidents,
            )?;
        }
    }
    let passed = summary
        .iter()
        .all(|(_, totals, restarted)| totals.passed() && restarted.passed());
    writeln!(
        out,
        "{} in {:.1} s",
        if passed { "PASSED" } else { "FAILED" },
        started.elapsed().as_secs_f64()
    )?;
    Ok(if passed { 0 } else { 1 })
}

/// Scores the seeds of one variant and prints their lines and the variant's verdicts.
fn evaluate_variant(
    args: &DemoArgs,
    pipeline: &Pipeline,
    runs: u64,
    variant: Variant,
    out: &mut impl Write,
) -> Result<(Totals, Totals)> {
    let mut totals = Totals::default();
    let mut restarted_totals = Totals::default();
    writeln!(
        out,
        "variant {variant} (seeds {} to {}; delay from {})",
        args.first_seed,
        args.first_seed.saturating_add(runs).saturating_sub(1),
        if variant == Variant::Stealthy {
            "the first password reset"
        } else {
            "the key's first misuse"
        }
    )?;
    writeln!(
        out,
        "{:>6}  {:>11}  {:>15}  {:>8}  {:>9}  {:>5}  {:>8}  {:>11}",
        "seed",
        "first alert",
        "attacker events",
        "attack",
        "incidents",
        "false",
        "low-only",
        "rules alone"
    )?;
    for seed in args.first_seed..args.first_seed.saturating_add(runs) {
        let config = config_of(args, seed, variant);
        let scenario = Scenario::generate(&config);
        let footprint = AttackFootprint::new(&scenario.truth);
        let mut outcome = pipeline.run(memory_sources(&scenario)?, &footprint)?;
        if outcome.decode_errors > 0 {
            anyhow::bail!(
                "seed {seed} ({variant}): {} generated records do not decode: {}",
                outcome.decode_errors,
                outcome.problems.join("; ")
            );
        }
        save(MemoryStore::new(), pipeline, &mut outcome).context("cannot group the alerts")?;
        let score = Score::of(&outcome, footprint.clock_micros());
        let band = score.attack_band(&outcome);
        let site_months = f64::from(config.benign_days) / 30.0;
        totals.add(
            &score,
            score.attack_in_one_severe_incident(&outcome),
            site_months,
        );
        let cut = restart_time(&scenario);
        let again = restarted(pipeline, &scenario, &footprint, cut)
            .with_context(|| format!("seed {seed} ({variant}): the restarted run failed"))?;
        let again_score = Score::of(&again, footprint.clock_micros());
        restarted_totals.add(
            &again_score,
            again_score.attack_in_one_severe_incident(&again),
            site_months,
        );
        let (delay, events) = score.first_alert.as_ref().map_or_else(
            || ("none".to_owned(), "-".to_owned()),
            |first| {
                (
                    delay_text(first.delay_micros),
                    first.attacker_events.to_string(),
                )
            },
        );
        writeln!(
            out,
            "{seed:>6}  {delay:>11}  {events:>15}  {:>8}  {:>9}  {:>5}  {:>8}  {:>11}",
            band.map_or("none", |band| band.as_str()),
            if score.attack_incident.is_some() {
                score.other_attack_incidents + 1
            } else {
                0
            },
            score.false_incidents.len(),
            score.low_only_incidents.len(),
            score
                .first_rule_alert
                .as_ref()
                .map_or_else(|| "none".to_owned(), |first| delay_text(first.delay_micros)),
        )?;
    }
    write_criteria(out, &totals)?;
    writeln!(
        out,
        "  after a restart from the store halfway through the benign days (baseline, \
         grouping state and suppressions read back):"
    )?;
    write_criteria(out, &restarted_totals)?;
    let passed = totals.passed() && restarted_totals.passed();
    writeln!(
        out,
        "  {variant}: {}",
        if passed { "PASSED" } else { "FAILED" }
    )?;
    Ok((totals, restarted_totals))
}

/// Prints one variant's figures against each criterion.
fn write_criteria(out: &mut impl Write, totals: &Totals) -> Result<()> {
    let verdict = |ok: bool| if ok { "ok" } else { "FAILED" };
    writeln!(
        out,
        "  first medium-or-higher alert within {}: {}/{} runs (worst {}) {}",
        delay_text(MAX_FIRST_ALERT_DELAY_MICROS),
        totals.in_time,
        totals.runs,
        totals
            .worst_delay_micros
            .map_or_else(|| "-".into(), delay_text),
        verdict(totals.in_time == totals.runs),
    )?;
    writeln!(
        out,
        "  attack in one incident, high or worse: {}/{} runs {}",
        totals.severe,
        totals.runs,
        verdict(totals.severe == totals.runs),
    )?;
    writeln!(
        out,
        "  false incidents: {} in {:.1} site-months, {:.2} per site-month (at most {MAX_FALSE_INCIDENTS_PER_SITE_MONTH:.1}) {}",
        totals.false_incidents,
        totals.site_months,
        totals.false_incidents_per_site_month(),
        verdict(totals.false_incidents_per_site_month() <= MAX_FALSE_INCIDENTS_PER_SITE_MONTH),
    )?;
    writeln!(
        out,
        "  incidents of low alerts only: {} {}",
        totals.low_only_incidents,
        verdict(totals.low_only_incidents == 0),
    )?;
    Ok(())
}

/// Where a restarted run stops and starts again: the first midnight (UTC) at or after the
/// middle of the benign days, so that the second part needs what the first learned.
fn restart_time(scenario: &Scenario) -> i64 {
    const DAY_MICROS: i64 = 86_400_000_000;
    let start = scenario.truth.benign_period_start.timestamp_micros();
    let end = scenario.truth.benign_period_end.timestamp_micros();
    let middle = start + (end - start) / 2;
    middle.div_euclid(DAY_MICROS) * DAY_MICROS
        + DAY_MICROS * i64::from(middle.rem_euclid(DAY_MICROS) > 0)
}

/// The seed played as a service restarted from its store would see it: the events before
/// `cut` are detected and stored in a SQLite store, which is closed; a new pipeline then
/// reads back the store's behavioural baseline, detects the rest and adds it to the same
/// store, whose grouping state and suppressions it goes on from. The outcome holds both
/// parts' alerts and the store's incidents at the end.
fn restarted(
    pipeline: &Pipeline,
    scenario: &Scenario,
    footprint: &AttackFootprint,
    cut: i64,
) -> Result<Outcome> {
    let folder = tempfile::tempdir().context("cannot make a folder for the restarted store")?;
    let path = folder.path().join(folder::STORE_FILE);
    let before = |event: &tocsin_event::Event| event.timestamp_micros.is_some_and(|at| at < cut);
    let mut first = pipeline.run_part(memory_sources(scenario)?, footprint, before, None)?;
    let store = SqliteStore::open(&path).context("cannot open the restarted store")?;
    drop(save(store, pipeline, &mut first).context("cannot store the first part")?);

    let store = SqliteStore::open(&path).context("cannot reopen the restarted store")?;
    let saved = store
        .load_blob(BASELINE_BLOB)
        .context("cannot read the stored baseline")?
        .context("the first part saved no baseline")?;
    let mut second = pipeline.run_part(
        memory_sources(scenario)?,
        footprint,
        |event| !before(event),
        Some(&saved),
    )?;
    save(store, pipeline, &mut second).context("cannot store the second part")?;
    let ranked = first.attacker_event_ranks.len();
    second.alerts.splice(0..0, first.alerts);
    second.attack_alerts.extend(first.attack_alerts);
    second
        .attacker_event_times
        .splice(0..0, first.attacker_event_times);
    for rank in second.attacker_event_ranks.values_mut() {
        *rank += ranked;
    }
    second
        .attacker_event_ranks
        .extend(first.attacker_event_ranks);
    Ok(second)
}

/// The scenario's logs decoded from memory, under their file names, by the same
/// decoders (the format is told from the content, as for files).
fn memory_sources(scenario: &Scenario) -> Result<Vec<Box<dyn EventSource + Send>>> {
    let options = DecodeOptions::default();
    scenario
        .logs()
        .iter()
        .map(|(name, text)| {
            tocsin_decode::from_bytes(name, text.as_bytes().to_vec(), &options)
                .with_context(|| format!("cannot decode the generated {name}"))
        })
        .collect()
}
