//! `tocsin bench --grouping`: what adding detections to an incident store costs as the store
//! grows. The same 1,000 alerts are added to SQLite stores that already hold 10,000 and
//! 1,000,000 alerts (by default), filled in appended runs grouped as hunts group them, and
//! each add is timed twice from a copy of the same store: with the pipeline's incremental
//! grouping (continuing from the saved grouping state, rebuilding only the incidents the
//! alerts touch) and, as the baseline measured in the same run, by regrouping every stored
//! alert. Incremental grouping should cost about the same on every store.
//!
//! The alerts are synthetic and deterministic: hosts, users and addresses drawn from fixed
//! pools (some hosts named fully, some by their short name), about one alert every 30
//! seconds, most low or medium, some high.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tocsin_incident::{
    group, Alert, AlertKind, AlertOrigin, AttackCatalog, Entity, EntityKind, GroupingConfig,
    IncidentStore, Level, RuleRef,
};
use tocsin_pipeline::IncidentWriter;
use tocsin_store::SqliteStore;

/// Alerts added to each store.
const ADDED: usize = 1_000;
/// Alerts written per run while a store is filled (each run grouped incrementally).
const FILL_RUN: usize = 20_000;
/// Mean time between two synthetic alerts.
const STEP_MICROS: i64 = 30_000_000;
/// 2024-01-01T00:00:00Z.
const START_MICROS: i64 = 1_704_067_200_000_000;

/// Runs the grouping benchmark over stores of `sizes` alerts; prints one line per store,
/// then how the times grow from the first size.
pub fn run(sizes: &[usize]) -> Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    println!(
        "{:>10} {:>10} {:>18} {:>18} {:>9} {:>16}",
        "stored", "fill", "add incrementally", "add, regroup all", "touched", "of which store"
    );
    let mut rows = Vec::new();
    for &size in sizes {
        let path = dir.path().join(format!("store-{size}.db"));
        let fill = fill(&path, size)?;
        let added = synthetic(size as u64, ADDED, size);
        let stored = store_only(&path, &added)?;
        let (incremental, touched) = add(&path, &added)?;
        let full = regroup_all(&path, &added)?;
        println!(
            "{size:>10} {:>8.1} s {:>15.1} ms {:>15.1} ms {touched:>9} {:>13.1} ms",
            fill.as_secs_f64(),
            millis(incremental),
            millis(full),
            millis(stored),
        );
        rows.push((size, incremental, full));
    }
    if let Some((base, base_incremental, base_full)) = rows.first().copied() {
        for (size, incremental, full) in rows.iter().skip(1) {
            println!(
                "adding {ADDED} alerts to {size} stored ones instead of {base}: incremental {:.2}x the time, regrouping everything {:.1}x",
                incremental.as_secs_f64() / base_incremental.as_secs_f64().max(1e-9),
                full.as_secs_f64() / base_full.as_secs_f64().max(1e-9),
            );
        }
    }
    Ok(())
}

/// A duration in milliseconds.
fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Fills a new store with `size` alerts, in runs grouped as hunts group them.
fn fill(path: &Path, size: usize) -> Result<Duration> {
    let started = Instant::now();
    let mut store = Some(open(path)?);
    let mut written = 0;
    while written < size {
        let count = FILL_RUN.min(size - written);
        let mut writer = writer(store.take().context("no store")?);
        for alert in synthetic(written as u64, count, written) {
            writer.push(alert)?;
        }
        let (back, _) = writer.finish()?;
        store = Some(back);
        written += count;
    }
    Ok(started.elapsed())
}

/// Adds `alerts` with incremental grouping; returns the time and the incidents touched.
fn add(path: &Path, alerts: &[Alert]) -> Result<(Duration, usize)> {
    let copy = path.with_extension("add.db");
    copy_store(path, &copy)?;
    let started = Instant::now();
    let mut writer = writer(open(&copy)?);
    for alert in alerts {
        writer.push(alert.clone())?;
    }
    let (_, report) = writer.finish()?;
    Ok((started.elapsed(), report.incidents))
}

/// Adds `alerts` and regroups every stored alert, as a run that cannot be appended does.
fn regroup_all(path: &Path, alerts: &[Alert]) -> Result<Duration> {
    let copy = path.with_extension("full.db");
    copy_store(path, &copy)?;
    let started = Instant::now();
    let mut store = open(&copy)?;
    store.put_alerts(alerts)?;
    let all = store.all_alerts()?;
    let incidents = group(&all, &GroupingConfig::default(), &AttackCatalog::empty());
    store.save_incidents(&incidents)?;
    drop(store);
    Ok(started.elapsed())
}

/// Only stores `alerts` (no grouping): the part of either add that any store pays.
fn store_only(path: &Path, alerts: &[Alert]) -> Result<Duration> {
    let copy = path.with_extension("put.db");
    copy_store(path, &copy)?;
    let started = Instant::now();
    let mut store = open(&copy)?;
    store.put_alerts(alerts)?;
    drop(store);
    Ok(started.elapsed())
}

/// Opens (or creates) the SQLite store at `path`.
fn open(path: &Path) -> Result<SqliteStore> {
    SqliteStore::open(path).with_context(|| format!("cannot open {}", path.display()))
}

/// A writer grouping as hunts do by default.
fn writer(store: SqliteStore) -> IncidentWriter<SqliteStore> {
    IncidentWriter::new(store, GroupingConfig::default(), AttackCatalog::empty())
}

/// Copies a closed store (its WAL checkpointed by the last close) so that each timing starts
/// from the same file, and flushes the copy to disk so that its writeback is not timed.
fn copy_store(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    std::fs::File::open(to)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot flush {}", to.display()))?;
    Ok(())
}

/// `count` synthetic alerts from seed `seed`, the first at slot `first_slot`.
fn synthetic(seed: u64, count: usize, first_slot: usize) -> Vec<Alert> {
    let mut random = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..count)
        .map(|n| {
            let slot = (first_slot + n) as i64;
            let at = START_MICROS + slot * STEP_MICROS + (random.next() % 20_000_000) as i64;
            synthetic_alert(&mut random, first_slot + n, at)
        })
        .collect()
}

/// One synthetic alert, record `record`, at `at`.
fn synthetic_alert(random: &mut XorShift, record: usize, at: i64) -> Alert {
    let pick = |random: &mut XorShift, pool: u64| random.next() % pool;
    let host = pick(random, 5_000);
    let host_name = if host % 3 == 0 {
        format!("ws-{host:04}.corp.example")
    } else {
        format!("ws-{host:04}")
    };
    let level = match pick(random, 10) {
        0..=4 => Level::Low,
        5..=8 => Level::Medium,
        _ => Level::High,
    };
    let rule = pick(random, 50);
    let entities = [
        (EntityKind::Host, host_name),
        (EntityKind::User, format!("user{:04}", pick(random, 2_000))),
        (
            EntityKind::SourceIp,
            format!(
                "10.{}.{}.{}",
                pick(random, 4),
                pick(random, 16),
                pick(random, 16)
            ),
        ),
    ]
    .into_iter()
    .filter_map(|(kind, value)| Entity::normalised(kind, &value))
    .collect();
    Alert::new(
        AlertKind::Sigma,
        RuleRef {
            id: format!("bench-rule-{rule}"),
            title: format!("Synthetic detection {rule}"),
            level,
            tags: vec!["attack.execution".into()],
            author: None,
        },
        AlertOrigin {
            source: "bench.jsonl".into(),
            record: record as u64,
        },
        Some(at),
        entities,
        vec![("CommandLine".into(), format!("synthetic {record}"))],
    )
}

/// A small deterministic generator: the benchmark must add the same alerts every run.
struct XorShift(u64);

impl XorShift {
    /// The next number.
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
