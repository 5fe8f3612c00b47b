//! A real crash: a child process (this test binary again, in child mode) appends numbered
//! records from several threads and prints each acknowledged position; the test kills it
//! with SIGKILL at a random moment, reopens the spool and checks that every acknowledged
//! record is there, in order, once, and undamaged. Several trials grow the same spool, so
//! later trials also recover from the earlier kills.

#![cfg(unix)]
// Test code: helpers may panic too (clippy allows unwrap/expect only in #[test] fns here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tocsin_spool::{FileSpool, FsyncPolicy, Position, ReadLimit, Spool, SpoolConfig};

/// Names the spool folder the child appends to; its absence means "not the child".
const CHILD_DIR: &str = "TOCSIN_SPOOL_KILL_CHILD";
/// Names the trial, which prefixes the child's records.
const CHILD_TRIAL: &str = "TOCSIN_SPOOL_KILL_TRIAL";
/// Appending threads in the child.
const THREADS: usize = 3;
/// Kill trials.
const TRIALS: u64 = 8;

/// Small segments, so that kills also land around segment rolls; odd trials fsync on an
/// interval, whose acknowledgements must survive a process crash too.
fn config(trial: u64) -> SpoolConfig {
    let fsync = if trial % 2 == 1 {
        FsyncPolicy::Interval(Duration::from_millis(50))
    } else {
        FsyncPolicy::Always
    };
    SpoolConfig {
        fsync,
        segment_size: 16 << 10,
        ..SpoolConfig::default()
    }
}

/// A record: `trial thread number` and some padding of varying length.
fn record(trial: u64, thread: usize, number: u64) -> Vec<u8> {
    let pad = "p".repeat((number % 50) as usize);
    format!("{trial} {thread} {number} {pad}").into_bytes()
}

/// Not a test on its own: the child process of [`killed_appenders_lose_no_acknowledged_record`].
#[test]
#[ignore = "helper process of killed_appenders_lose_no_acknowledged_record"]
fn kill_child_appender() {
    let (Some(dir), Some(trial)) = (std::env::var_os(CHILD_DIR), std::env::var(CHILD_TRIAL).ok())
    else {
        return;
    };
    let trial: u64 = trial.parse().unwrap();
    let spool = FileSpool::open(dir, config(trial)).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let spool = &spool;
            scope.spawn(move || {
                let mut number = 0;
                loop {
                    let batch: Vec<Vec<u8>> = (number..number + 1 + number % 4)
                        .map(|n| record(trial, thread, n))
                        .collect();
                    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                    let position = spool.append(&refs).unwrap();
                    number += batch.len() as u64;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {thread} {} {}", number - 1, position.get()).unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

/// One acknowledgement the child printed: a thread's last record number and its position.
struct Ack {
    thread: usize,
    number: u64,
    position: Position,
}

/// Parses a line `ack THREAD NUMBER POSITION`; a line cut by the kill is `None`.
fn parse_ack(line: &str) -> Option<Ack> {
    let mut words = line.strip_prefix("ack ")?.split(' ');
    let thread = words.next()?.parse().ok()?;
    let number = words.next()?.parse().ok()?;
    let position = Position::new(words.next()?.parse().ok()?);
    Some(Ack {
        thread,
        number,
        position,
    })
}

/// Runs the child for trial `trial` and kills it after `after`; returns its acknowledgements.
fn run_and_kill(dir: &std::path::Path, trial: u64, after: Duration) -> Vec<Ack> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kill_child_appender",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_TRIAL, trial.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|line| parse_ack(&line))
            .collect::<Vec<_>>()
    });
    std::thread::sleep(after);
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no last fsync, no unlock.
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child ended on its own: {status}"
    );
    reader.join().unwrap()
}

/// Checks the spool after trial `trial`: per trial and thread, the records are numbered
/// from 0 without gap or repeat, in order, and cover every acknowledgement at the position
/// it named.
fn check(spool: &FileSpool, trial: u64, acks: &[Ack]) {
    let mut next: HashMap<(u64, usize), u64> = HashMap::new();
    let mut positions = HashMap::new();
    let mut after = Position::START;
    loop {
        let records = spool.read_from(after, ReadLimit::default()).unwrap();
        let Some(last) = records.last() else { break };
        after = last.position;
        for record in records {
            let text = String::from_utf8(record.bytes.clone()).unwrap();
            let mut words = text.split(' ');
            let t: u64 = words.next().unwrap().parse().unwrap();
            let thread: usize = words.next().unwrap().parse().unwrap();
            let number: u64 = words.next().unwrap().parse().unwrap();
            assert_eq!(record.bytes, self::record(t, thread, number), "damaged");
            let expected = next.entry((t, thread)).or_insert(0);
            assert_eq!(
                number, *expected,
                "trial {t} thread {thread}: gap or repeat"
            );
            *expected += 1;
            positions.insert((t, thread, number), record.position);
        }
    }
    for ack in acks {
        let found = positions.get(&(trial, ack.thread, ack.number));
        assert_eq!(found, Some(&ack.position), "acknowledged record lost");
    }
}

#[test]
fn killed_appenders_lose_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let started = Instant::now();
    let mut acknowledged = 0;
    let mut cut = 0;
    for trial in 0..TRIALS {
        let after = Duration::from_millis(rng.random_range(30..400));
        let acks = run_and_kill(dir.path(), trial, after);
        acknowledged += acks.len();
        let spool = FileSpool::open(dir.path(), config(trial)).unwrap();
        cut += u64::from(spool.recovery().truncation.is_some());
        check(&spool, trial, &acks);
    }
    eprintln!(
        "{TRIALS} kills, {acknowledged} acknowledged batches, {cut} torn tails cut, {:?}",
        started.elapsed()
    );
    assert!(acknowledged > 0, "the child never acknowledged a batch");
}
