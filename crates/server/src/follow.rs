//! Followed files: an input that reads log files as they are written, with `tail -F`
//! semantics, and remembers how far it read each file across restarts.
//!
//! A [`FollowConfig`] names files and folders (a folder: every regular file in it, not
//! recursive, whose name matches the optional `pattern`). A thread ([`start`]) polls them
//! every `poll_ms`, reads each file from where it stopped to its last complete line, and
//! appends the lines to the spool as records headed by the file's canonical path and the
//! number of the record's first line in the file ([`RecordHeader::encode_file_lines`]).
//! Every line is kept verbatim, blank ones included (records made only of blank lines are
//! not spooled, but their lines are counted), without its `\n` and a trailing `\r`: an
//! event's identity is its file and line number, so that lines read twice (after a crash)
//! are the same events.
//!
//! # What is remembered
//!
//! Each file is known by its device and inode, its canonical path (as first seen), the byte
//! offset read up to, the number of the next line, and a SHA-256 of its first bytes (up to
//! 1 KiB) that tells a file from another one that reuses a deleted file's inode. The state
//! file (e.g. `data/follow.json`) is written atomically (a temporary file, fsync, rename)
//! after every poll that advanced, and only after the spool acknowledged the lines: a crash
//! may read lines again, never skip them.
//!
//! # Where a file starts
//!
//! - A file whose device and inode (and first bytes) are in the state file resumes where
//!   it was left, under the path it was first read as.
//! - A file found by the first scan after [`start`], never seen before, starts per
//!   `start_at`: `end` (the default, like `tail -F`: at the line after the last complete
//!   one, its line number counted) or `start`. A file found at a path the state file knew
//!   under another inode was rotated while the service was down and is read from its
//!   start.
//! - A file that appears later (in a followed folder, or a named file created later) is
//!   read from its start, as `tail -F` does, so that what its writer wrote before the next
//!   poll is not lost.
//!
//! # Rotation, truncation, removal
//!
//! When a followed path no longer names a file this input reads (renamed by `logrotate`,
//! or deleted), the file is kept open and read to its end, for as long as it keeps
//! growing (a writer may write to the old file until it reopens its log) and 5 s more;
//! then its last line, if it has no line end, is spooled too, and the file is closed
//! (`tocsin_follow_rotations_total` counts these). The new file at the path starts at
//! line 1. A file that shrinks below the offset read (`copytruncate`) is read again from
//! its start, line 1 (`tocsin_follow_truncations_total`); a truncation followed by more
//! writes than were read before, within one poll, cannot be seen.
//!
//! # Limits
//!
//! A line without its line end waits for it; once it is longer than 1 MiB its first MiB is
//! spooled as the line and the rest, up to its line end, skipped
//! (`tocsin_follow_cut_lines_total`), so line numbers stay the file's. While the pipeline
//! is behind (the backlog is past `max_backlog_bytes`) nothing is read: the files wait. A
//! file that cannot be read is logged (once per distinct error) and tried again at the
//! next poll; it never stops the others. Two followers should not share a state file
//! ([`FollowConfig::state_file_name`] names one per configuration).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tocsin_decode::Format;
use tocsin_spool::{FileSpool, Spool};

use crate::ingest::{now_micros, FileLines, RecordHeader, RECORD_BYTES};
use crate::metrics::{add, Metrics};

/// The input's name in the records' headers.
pub const INPUT: &str = "follow";

/// The longest line kept, in bytes: a longer line is cut to this.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// The most bytes read from one file in one poll (more than [`MAX_LINE_BYTES`], so that a
/// line always fits).
const READ_BYTES: usize = 8 << 20;

/// How many of a file's first bytes tell it from another file with the same inode.
const HEAD_BYTES: u64 = 1024;

/// How long a renamed or deleted file is kept open after it last grew.
const DRAIN_IDLE: Duration = Duration::from_secs(5);

/// The state file's format version.
const STATE_VERSION: u32 = 1;

/// What to follow (`[[follow]]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowConfig {
    /// Files or folders. A folder: every regular file in it (not recursive), matching
    /// `pattern` if given; files that appear in it later are picked up. A named file that
    /// does not exist yet is picked up when it appears.
    pub paths: Vec<PathBuf>,
    /// Which files of the folders to follow, by name: `*` and a suffix (`*.log`: names
    /// ending with `.log`), `*` (every file), or an exact name (`messages`). No other `*`
    /// and no `/`. Named files are followed whatever their name. Without a pattern every
    /// file is followed: give one where rotated files are compressed (`app.log.2.gz`), or
    /// they are read as new files.
    #[serde(default)]
    pub pattern: Option<String>,
    /// The decoder named in each record: `auto` (sniffed per record, as `hunt` does),
    /// `json`, `syslog`, `appliance`, `cef`, `api-audit` or `outbound`.
    #[serde(default = "default_format")]
    pub format: String,
    /// Where to start a file never seen before that is there when the input starts: `end`
    /// (the default, like `tail -F`) or `start`. Files that appear later are read from
    /// their start.
    #[serde(default = "default_start_at")]
    pub start_at: String,
    /// How often the files are polled, in milliseconds (default 250).
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
}

fn default_format() -> String {
    "auto".into()
}

fn default_start_at() -> String {
    "end".into()
}

fn default_poll_ms() -> u64 {
    250
}

impl FollowConfig {
    /// A configuration following `paths` with every default (`auto`, from the end, polled
    /// every 250 ms).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        FollowConfig {
            paths,
            pattern: None,
            format: default_format(),
            start_at: default_start_at(),
            poll_ms: default_poll_ms(),
        }
    }

    /// Checks the configuration: some paths, a known decoder, `start_at` of `end` or
    /// `start`, a pattern of the supported form, a poll interval of at least 1 ms.
    pub fn validate(&self) -> Result<(), String> {
        if self.paths.is_empty() {
            return Err("follow: `paths` names no file or folder".into());
        }
        header_format(&self.format)?;
        if !matches!(self.start_at.as_str(), "end" | "start") {
            return Err(format!(
                "follow: `start_at` must be `end` or `start`, not `{}`",
                self.start_at
            ));
        }
        if let Some(pattern) = &self.pattern {
            let literal = pattern.strip_prefix('*').unwrap_or(pattern);
            if (literal.is_empty() && !pattern.starts_with('*')) || literal.contains(['*', '/']) {
                return Err(format!(
                    "follow: `pattern` must be `*` and a suffix (`*.log`) or an exact file name, not `{pattern}`"
                ));
            }
        }
        if self.poll_ms == 0 {
            return Err("follow: `poll_ms` must be at least 1".into());
        }
        Ok(())
    }

    /// A state file name for this configuration, `follow-<16 hex digits>.json`, from its
    /// paths and pattern: a service with several followers gives each its own file, and a
    /// follower keeps its file while its paths are unchanged.
    pub fn state_file_name(&self) -> String {
        let mut paths: Vec<&Path> = self.paths.iter().map(PathBuf::as_path).collect();
        paths.sort();
        paths.dedup();
        let mut hasher = Sha256::new();
        for path in paths {
            hasher.update(path.as_os_str().as_bytes());
            hasher.update([0u8]);
        }
        hasher.update(self.pattern.as_deref().unwrap_or("").as_bytes());
        format!("follow-{}.json", hex(&hasher.finalize()[..8]))
    }

    /// Whether a folder's file named `name` is followed.
    fn matches(&self, name: &[u8]) -> bool {
        match self.pattern.as_deref() {
            None => true,
            Some(pattern) => match pattern.strip_prefix('*') {
                Some(suffix) => name.ends_with(suffix.as_bytes()),
                None => name == pattern.as_bytes(),
            },
        }
    }
}

/// The name written in the records for a configured `format`: `auto`, or the decoder's
/// own name.
fn header_format(format: &str) -> Result<String, String> {
    if format.trim().eq_ignore_ascii_case("auto") {
        return Ok("auto".into());
    }
    match format.parse::<Format>() {
        Ok(Format::Evtx | Format::SessionReport) => Err(format!(
            "follow: `{format}` files cannot be followed line by line"
        )),
        Ok(parsed) => Ok(parsed.name().into()),
        Err(error) => Err(format!("follow: {error}")),
    }
}

/// Where followed lines go, and when reading must wait.
pub struct FollowSink {
    /// The spool.
    pub spool: Arc<FileSpool>,
    /// Counters (and the backlog, for back-pressure).
    pub metrics: Arc<Metrics>,
    /// The backlog past which files are not read (they wait; nothing is lost).
    pub max_backlog_bytes: u64,
}

/// A running follower; [`FollowHandle::stop`] (or dropping it) ends it.
pub struct FollowHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FollowHandle {
    /// Makes the thread finish its current batch, save its offsets and return, and waits
    /// for it (blocking: call it off an async runtime's workers).
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            if thread.join().is_err() {
                tracing::error!("the follow thread panicked");
            }
        }
    }
}

impl Drop for FollowHandle {
    /// Stops the thread as [`FollowHandle::stop`] does.
    fn drop(&mut self) {
        self.finish();
    }
}

/// Starts a thread following `config`, keeping offsets in `state_path` (a small file in
/// the data folder, written atomically). Fails when the configuration is invalid
/// ([`FollowConfig::validate`]), the state file cannot be read or is damaged (delete it to
/// start over), or the thread cannot be started.
pub fn start(
    config: FollowConfig,
    sink: FollowSink,
    state_path: PathBuf,
) -> io::Result<FollowHandle> {
    config
        .validate()
        .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    let mut follower = Follower::new(config, sink, state_path)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("tocsin-follow".into())
        .spawn(move || follower.run(&flag))?;
    Ok(FollowHandle {
        stop,
        thread: Some(thread),
    })
}

/// A file's identity on its file system: (device, inode).
type Key = (u64, u64);

/// One file's entry in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SavedFile {
    dev: u64,
    ino: u64,
    /// The canonical path the file was first read as (the path in its records).
    path: String,
    /// The byte offset read up to.
    offset: u64,
    /// The number of the line at `offset`.
    line: u64,
    /// Whether the bytes at `offset` are the rest of a cut line, skipped to its line end.
    #[serde(default)]
    skipping: bool,
    /// How many of the file's first bytes `head` hashes.
    #[serde(default)]
    head_len: u64,
    /// The SHA-256 (hex) of the file's first `head_len` bytes.
    #[serde(default)]
    head: String,
}

/// The state file.
#[derive(Debug, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    files: Vec<SavedFile>,
}

/// A file being followed.
struct Followed {
    file: File,
    /// The canonical path its records name.
    path: String,
    offset: u64,
    line: u64,
    skipping: bool,
    head_len: u64,
    head: String,
    /// When it was found: files are read in this order.
    order: u64,
    /// Found at a followed path in this poll's scan.
    seen: bool,
    /// No followed path names it any more (renamed or deleted): read to its end, then
    /// closed.
    detached: bool,
    /// Its size when last looked at, and when that changed.
    last_size: u64,
    changed_at: Instant,
}

/// What reading a file did.
#[derive(Debug, Default, Clone, Copy)]
struct Step {
    /// The offset moved.
    advanced: bool,
    /// More is there than one read takes: read again without waiting.
    more: bool,
}

/// Why a file's lines were not spooled.
enum Failure {
    /// The file cannot be read.
    File(io::Error),
    /// The spool refused the lines.
    Spool(tocsin_spool::Error),
}

/// Where lines go: the spool, and the decoder named in their records.
struct Output {
    sink: FollowSink,
    format: String,
}

impl Output {
    fn behind(&self) -> bool {
        self.sink.metrics.snapshot().backlog_bytes > self.sink.max_backlog_bytes
    }
}

/// The follower's state, owned by its thread.
struct Follower {
    config: FollowConfig,
    out: Output,
    state_path: PathBuf,
    files: HashMap<Key, Followed>,
    next_order: u64,
    /// Entries of the state file not matched to a followed file yet, kept while their path
    /// still names that file.
    saved: HashMap<Key, SavedFile>,
    /// The paths the state file named when the follower started.
    known_paths: HashSet<String>,
    first_scan: bool,
    dirty: bool,
    /// The last error logged for each path, so that an error is logged once, not per poll.
    warned: HashMap<String, String>,
}

impl Follower {
    fn new(config: FollowConfig, sink: FollowSink, state_path: PathBuf) -> io::Result<Self> {
        let format = header_format(&config.format)
            .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
        let saved = load_state(&state_path)?;
        let known_paths = saved.iter().map(|file| file.path.clone()).collect();
        let saved = saved
            .into_iter()
            .map(|file| ((file.dev, file.ino), file))
            .collect();
        Ok(Follower {
            config,
            out: Output { sink, format },
            state_path,
            files: HashMap::new(),
            next_order: 0,
            saved,
            known_paths,
            first_scan: true,
            dirty: false,
            warned: HashMap::new(),
        })
    }

    /// Polls until told to stop, then saves.
    fn run(&mut self, stop: &AtomicBool) {
        let interval = Duration::from_millis(self.config.poll_ms);
        while !stop.load(Ordering::SeqCst) {
            let more = self.poll(stop);
            if !more && !stop.load(Ordering::SeqCst) {
                std::thread::park_timeout(interval);
            }
        }
        if self.dirty {
            self.save();
        }
    }

    /// One poll: finds the files, reads what they gained, saves the offsets. Whether a file
    /// has more to read at once.
    fn poll(&mut self, stop: &AtomicBool) -> bool {
        self.scan();
        let mut order: Vec<(bool, u64, Key)> = self
            .files
            .iter()
            .map(|(key, file)| (!file.detached, file.order, *key))
            .collect();
        // Renamed and deleted files first: their tails come before their successors'.
        order.sort_unstable();
        let mut more = false;
        for (_, _, key) in order {
            if stop.load(Ordering::SeqCst) || self.out.behind() {
                break;
            }
            let Some(file) = self.files.get_mut(&key) else {
                continue;
            };
            match read_file(file, &self.out, false) {
                Ok(step) => {
                    self.dirty |= step.advanced;
                    more |= step.more;
                    let path = file.path.clone();
                    self.warned.remove(&path);
                }
                Err(failure) => {
                    let path = file.path.clone();
                    self.failed(&path, &failure);
                }
            }
        }
        if !stop.load(Ordering::SeqCst) {
            self.close_drained();
        }
        if self.dirty {
            self.save();
        }
        more
    }

    /// Finds the followed files: opens new ones, marks those no followed path names any
    /// more as detached.
    fn scan(&mut self) {
        for file in self.files.values_mut() {
            file.seen = false;
        }
        // A scan that could not look everywhere detaches nothing: a folder that cannot be
        // listed for a moment does not close its files.
        let mut complete = true;
        for path in self.candidates(&mut complete) {
            let name = path.to_string_lossy().into_owned();
            match self.take(&path) {
                Ok(()) => {
                    self.warned.remove(&name);
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => {
                    complete = false;
                    self.warn_once(&name, &error.to_string());
                }
            }
        }
        for file in self.files.values_mut() {
            if file.seen && file.detached {
                file.detached = false;
            } else if !file.seen && !file.detached && complete {
                file.detached = true;
                file.changed_at = Instant::now();
                add(&self.out.sink.metrics.follow_rotations, 1);
                tracing::info!(
                    path = %file.path,
                    line = file.line,
                    "followed file renamed or removed; reading it to its end"
                );
            }
        }
        self.first_scan = false;
        self.retain_saved();
    }

    /// The regular files the configuration names now (a named file also when it does not
    /// exist yet: it is looked for).
    fn candidates(&mut self, complete: &mut bool) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for path in self.config.paths.clone() {
            let name = path.to_string_lossy().into_owned();
            match fs::metadata(&path) {
                Ok(metadata) if metadata.is_dir() => match self.list(&path) {
                    Ok(files) => {
                        self.warned.remove(&name);
                        found.extend(files);
                    }
                    Err(error) => {
                        *complete = false;
                        self.warn_once(&name, &error.to_string());
                    }
                },
                Ok(_) => found.push(path),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => {
                    *complete = false;
                    self.warn_once(&name, &error.to_string());
                }
            }
        }
        found
    }

    /// A folder's files whose names match the pattern, in name order.
    fn list(&self, folder: &Path) -> io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(folder)? {
            let entry = entry?;
            if self.config.matches(entry.file_name().as_bytes()) {
                files.push(entry.path());
            }
        }
        files.sort();
        Ok(files)
    }

    /// Follows the file at `path` if it is a regular file not followed yet.
    fn take(&mut self, path: &Path) -> io::Result<()> {
        let metadata = fs::metadata(path)?;
        if !metadata.is_file() {
            return Ok(());
        }
        if self.mark_seen((metadata.dev(), metadata.ino())) {
            return Ok(());
        }
        let file = File::open(path)?;
        let metadata = file.metadata()?;
        let key = (metadata.dev(), metadata.ino());
        if !metadata.is_file() || self.mark_seen(key) {
            return Ok(());
        }
        let canonical = fs::canonicalize(path)?.to_string_lossy().into_owned();
        let followed = self.begin(file, key, canonical, metadata.len())?;
        self.files.insert(key, followed);
        self.dirty = true;
        Ok(())
    }

    /// Marks the file `key` as found by this scan; whether it is followed.
    fn mark_seen(&mut self, key: Key) -> bool {
        match self.files.get_mut(&key) {
            Some(file) => {
                file.seen = true;
                true
            }
            None => false,
        }
    }

    /// Where a newly found file starts: where the state file left it, at its end, or at its
    /// start.
    fn begin(&mut self, file: File, key: Key, path: String, size: u64) -> io::Result<Followed> {
        let order = self.next_order;
        self.next_order += 1;
        let now = Instant::now();
        if let Some(saved) = self.saved.remove(&key) {
            if fingerprint(&file, saved.head_len)?.as_deref() == Some(saved.head.as_str()) {
                tracing::info!(path = %saved.path, line = saved.line, "following a file again where it was left");
                return Ok(Followed {
                    file,
                    path: saved.path,
                    offset: saved.offset,
                    line: saved.line,
                    skipping: saved.skipping,
                    head_len: saved.head_len,
                    head: saved.head,
                    order,
                    seen: true,
                    detached: false,
                    last_size: size,
                    changed_at: now,
                });
            }
        }
        let at_end =
            self.first_scan && self.config.start_at == "end" && !self.known_paths.contains(&path);
        let (offset, line) = match at_end {
            true => end_of(&file)?,
            false => (0, 1),
        };
        let head_len = offset.min(HEAD_BYTES);
        let head = fingerprint(&file, head_len)?.unwrap_or_default();
        tracing::info!(%path, line, "following a file");
        Ok(Followed {
            file,
            path,
            offset,
            line,
            skipping: false,
            head_len,
            head,
            order,
            seen: true,
            detached: false,
            last_size: size,
            changed_at: now,
        })
    }

    /// Forgets the state file's entries whose path no longer names their file.
    fn retain_saved(&mut self) {
        let before = self.saved.len();
        self.saved
            .retain(|key, saved| match fs::metadata(&saved.path) {
                Ok(metadata) => (metadata.dev(), metadata.ino()) == *key,
                Err(error) => error.kind() != io::ErrorKind::NotFound,
            });
        self.dirty |= self.saved.len() != before;
    }

    /// Closes detached files once they have not grown for [`DRAIN_IDLE`], spooling their
    /// last line first even without a line end.
    fn close_drained(&mut self) {
        if self.out.behind() {
            return;
        }
        let idle: Vec<Key> = self
            .files
            .iter()
            .filter(|(_, file)| file.detached && file.changed_at.elapsed() >= DRAIN_IDLE)
            .map(|(key, _)| *key)
            .collect();
        for key in idle {
            let Some(file) = self.files.get_mut(&key) else {
                continue;
            };
            let close = match read_file(file, &self.out, true) {
                Ok(step) => {
                    self.dirty |= step.advanced;
                    !step.more
                }
                Err(Failure::File(error)) => {
                    tracing::warn!(path = %file.path, %error, "renamed or removed file closed: cannot be read");
                    true
                }
                Err(failure @ Failure::Spool(_)) => {
                    let path = file.path.clone();
                    self.failed(&path, &failure);
                    false
                }
            };
            if close {
                if let Some(file) = self.files.remove(&key) {
                    tracing::info!(path = %file.path, lines = file.line - 1, "renamed or removed file read to its end and closed");
                    self.warned.remove(&file.path);
                }
                self.dirty = true;
            }
        }
    }

    fn failed(&mut self, path: &str, failure: &Failure) {
        match failure {
            Failure::File(error) => self.warn_once(path, &error.to_string()),
            Failure::Spool(error) => {
                self.warn_once(path, &format!("the lines cannot be spooled: {error}"))
            }
        }
    }

    /// Logs `error` about `path` unless it was the last error logged about it.
    fn warn_once(&mut self, path: &str, error: &str) {
        if self.warned.get(path).map(String::as_str) != Some(error) {
            tracing::warn!(%path, %error, "followed file cannot be read; trying again at each poll");
            self.warned.insert(path.to_owned(), error.to_owned());
        }
    }

    /// Writes the state file (temporary file, fsync, rename, fsync of the folder); on
    /// failure it stays due and is written at the next poll.
    fn save(&mut self) {
        let mut files: Vec<SavedFile> = self
            .files
            .iter()
            .map(|(&(dev, ino), file)| SavedFile {
                dev,
                ino,
                path: file.path.clone(),
                offset: file.offset,
                line: file.line,
                skipping: file.skipping,
                head_len: file.head_len,
                head: file.head.clone(),
            })
            .chain(self.saved.values().cloned())
            .collect();
        files.sort_by(|a, b| (&a.path, a.dev, a.ino).cmp(&(&b.path, b.dev, b.ino)));
        let state = StateFile {
            version: STATE_VERSION,
            files,
        };
        let name = self.state_path.to_string_lossy().into_owned();
        match write_atomically(&self.state_path, &state) {
            Ok(()) => {
                self.dirty = false;
                self.warned.remove(&name);
            }
            Err(error) => {
                let error = format!("the follow state cannot be saved: {error}");
                self.warn_once(&name, &error);
            }
        }
    }
}

/// Reads what `file` gained and spools its complete lines (with `last`, its last line too,
/// line end or not); the offset moves only once the spool has them.
fn read_file(file: &mut Followed, out: &Output, last: bool) -> Result<Step, Failure> {
    let size = file.file.metadata().map_err(Failure::File)?.len();
    if size != file.last_size {
        file.last_size = size;
        file.changed_at = Instant::now();
    }
    let mut step = Step::default();
    if size < file.offset {
        tracing::info!(path = %file.path, size, offset = file.offset, "followed file truncated; reading it again from line 1");
        add(&out.sink.metrics.follow_truncations, 1);
        file.offset = 0;
        file.line = 1;
        file.skipping = false;
        file.head_len = 0;
        file.head = fingerprint(&file.file, 0)
            .map_err(Failure::File)?
            .unwrap_or_default();
        step.advanced = true;
    }
    if size == file.offset {
        return Ok(step);
    }
    let available = size - file.offset;
    let want = usize::try_from(available).map_or(READ_BYTES, |n| n.min(READ_BYTES));
    let buffer = read_at(&file.file, file.offset, want).map_err(Failure::File)?;
    let split = split_lines(
        &buffer,
        file.skipping,
        last && available <= READ_BYTES as u64,
    );
    step.more = available > READ_BYTES as u64;
    if split.consumed == 0 {
        return Ok(step);
    }
    let records = records(&out.format, &file.path, file.line, &split.lines);
    if !records.is_empty() {
        let batch: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        out.sink.spool.append(&batch).map_err(Failure::Spool)?;
    }
    let lines = split.lines.len() as u64;
    file.offset += split.consumed as u64;
    file.line += lines;
    file.skipping = split.skipping;
    add(&out.sink.metrics.follow_lines, lines);
    add(&out.sink.metrics.follow_cut_lines, split.cut);
    if file.head_len < HEAD_BYTES && file.offset > file.head_len {
        let len = file.offset.min(HEAD_BYTES);
        if let Ok(Some(head)) = fingerprint(&file.file, len) {
            file.head_len = len;
            file.head = head;
        }
    }
    step.advanced = true;
    Ok(step)
}

/// A buffer's lines.
#[derive(Debug, PartialEq, Eq)]
struct Split<'a> {
    /// The lines, without their line ends.
    lines: Vec<&'a [u8]>,
    /// The bytes used (up to the last line end, or all of a skipped or cut line).
    consumed: usize,
    /// Whether what follows is the rest of a cut line.
    skipping: bool,
    /// Lines cut to [`MAX_LINE_BYTES`].
    cut: u64,
}

/// Splits `buffer` into its complete lines; `skipping`: it starts with the rest of a cut
/// line, dropped; `last`: a last line without a line end is a line too. A line longer than
/// [`MAX_LINE_BYTES`] is cut, and so is a line without its end once it is longer.
fn split_lines<'a>(buffer: &'a [u8], skipping: bool, last: bool) -> Split<'a> {
    let mut split = Split {
        lines: Vec::new(),
        consumed: 0,
        skipping,
        cut: 0,
    };
    if split.skipping {
        match buffer.iter().position(|&b| b == b'\n') {
            Some(end) => {
                split.consumed = end + 1;
                split.skipping = false;
            }
            None => {
                split.consumed = buffer.len();
                return split;
            }
        }
    }
    fn keep<'a>(line: &'a [u8], split: &mut Split<'a>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > MAX_LINE_BYTES {
            split.cut += 1;
            split.lines.push(&line[..MAX_LINE_BYTES]);
        } else {
            split.lines.push(line);
        }
    }
    while let Some(end) = buffer[split.consumed..].iter().position(|&b| b == b'\n') {
        keep(&buffer[split.consumed..split.consumed + end], &mut split);
        split.consumed += end + 1;
    }
    let rest = &buffer[split.consumed..];
    if rest.len() > MAX_LINE_BYTES {
        split.cut += 1;
        split.lines.push(&rest[..MAX_LINE_BYTES]);
        split.consumed = buffer.len();
        split.skipping = true;
    } else if last && !rest.is_empty() {
        keep(rest, &mut split);
        split.consumed = buffer.len();
    }
    split
}

/// The spool records of a run of a file's lines, the first numbered `first_line`: each at
/// most [`RECORD_BYTES`] of lines (a cut line fits). Runs of blank lines alone make no
/// record.
fn records(format: &str, path: &str, first_line: u64, lines: &[&[u8]]) -> Vec<Vec<u8>> {
    let received = now_micros();
    let mut records = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let mut end = start + 1;
        let mut size = lines[start].len();
        while end < lines.len() && size + 1 + lines[end].len() <= RECORD_BYTES {
            size += 1 + lines[end].len();
            end += 1;
        }
        let run = &lines[start..end];
        if !run
            .iter()
            .all(|line| line.iter().all(u8::is_ascii_whitespace))
        {
            let source = FileLines {
                path,
                first_line: first_line + start as u64,
            };
            let mut record = RecordHeader::encode_file_lines(format, INPUT, received, source);
            record.reserve(size);
            for (index, line) in run.iter().enumerate() {
                if index > 0 {
                    record.push(b'\n');
                }
                record.extend_from_slice(line);
            }
            records.push(record);
        }
        start = end;
    }
    records
}

/// Reads up to `len` bytes at `offset` (fewer at the end of the file).
fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buffer = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buffer[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    buffer.truncate(filled);
    Ok(buffer)
}

/// The offset after a file's last line end, and the number of the line there.
fn end_of(file: &File) -> io::Result<(u64, u64)> {
    let mut offset = 0u64;
    let mut after_last = 0u64;
    let mut line_ends = 0u64;
    loop {
        let chunk = read_at(file, offset, 1 << 20)?;
        if chunk.is_empty() {
            return Ok((after_last, line_ends + 1));
        }
        line_ends += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        if let Some(last) = chunk.iter().rposition(|&b| b == b'\n') {
            after_last = offset + last as u64 + 1;
        }
        offset += chunk.len() as u64;
    }
}

/// The SHA-256 (hex) of a file's first `len` bytes; `None` when it is shorter.
fn fingerprint(file: &File, len: u64) -> io::Result<Option<String>> {
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let head = read_at(file, 0, len)?;
    Ok((head.len() == len).then(|| hex(&Sha256::digest(&head))))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The state file's entries; none when it does not exist.
fn load_state(path: &Path) -> io::Result<Vec<SavedFile>> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => {
            return Err(io::Error::new(
                error.kind(),
                format!("cannot read the follow state {}: {error}", path.display()),
            ))
        }
    };
    let damaged = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the follow state {} is damaged ({why}); delete it to start over",
                path.display()
            ),
        )
    };
    let state: StateFile =
        serde_json::from_slice(&text).map_err(|error| damaged(error.to_string()))?;
    if state.version != STATE_VERSION {
        return Err(damaged(format!("unknown version {}", state.version)));
    }
    Ok(state.files)
}

/// Writes `state` to `path` through a temporary file, fsynced and renamed over it, then
/// fsyncs the folder so that the rename survives a power loss.
fn write_atomically(path: &Path, state: &StateFile) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)?;
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::AtomicU64;
    use tocsin_spool::{FsyncPolicy, Position, ReadLimit, SpoolConfig};

    /// A line read back: its file, its number, its text.
    type Line = (String, u64, String);

    struct Rig {
        dir: tempfile::TempDir,
        spool: Arc<FileSpool>,
        metrics: Arc<Metrics>,
        state: PathBuf,
    }

    impl Rig {
        fn new() -> Rig {
            let dir = tempfile::tempdir().unwrap();
            let spool = FileSpool::open(
                dir.path().join("spool"),
                SpoolConfig {
                    fsync: FsyncPolicy::Never,
                    ..Default::default()
                },
            )
            .unwrap();
            let state = dir.path().join("follow.json");
            fs::create_dir(dir.path().join("logs")).unwrap();
            Rig {
                dir,
                spool: Arc::new(spool),
                metrics: Arc::new(Metrics::default()),
                state,
            }
        }

        fn logs(&self) -> PathBuf {
            self.dir.path().join("logs")
        }

        fn log(&self, name: &str) -> PathBuf {
            self.logs().join(name)
        }

        fn config(&self, paths: Vec<PathBuf>, start_at: &str) -> FollowConfig {
            FollowConfig {
                start_at: start_at.into(),
                poll_ms: 20,
                ..FollowConfig::new(paths)
            }
        }

        fn start(&self, config: FollowConfig) -> FollowHandle {
            let sink = FollowSink {
                spool: Arc::clone(&self.spool),
                metrics: Arc::clone(&self.metrics),
                max_backlog_bytes: 1 << 30,
            };
            start(config, sink, self.state.clone()).unwrap()
        }

        /// Every line spooled so far.
        fn lines(&self) -> Vec<Line> {
            let records = self
                .spool
                .read_from(Position::START, ReadLimit::default())
                .unwrap();
            let mut lines = Vec::new();
            for record in &records {
                let (header, payload) = RecordHeader::split(&record.bytes).unwrap();
                assert_eq!((header.format, header.input), ("auto", INPUT));
                let source = header.source.unwrap();
                for (index, line) in payload.split(|&b| b == b'\n').enumerate() {
                    lines.push((
                        source.path.to_owned(),
                        source.first_line + index as u64,
                        String::from_utf8_lossy(line).into_owned(),
                    ));
                }
            }
            lines
        }

        /// Waits (at most 30 s) until `count` lines are spooled, and returns them.
        fn wait_lines(&self, count: usize) -> Vec<Line> {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut end = Position::START;
            loop {
                let now_end = self.spool.durable_end();
                if now_end != end {
                    end = now_end;
                    let lines = self.lines();
                    if lines.len() >= count {
                        return lines;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "waited for {count} lines, got {:?}",
                    self.lines()
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }

        /// Waits (at most 30 s) until the state file exists: the first scan is done.
        fn wait_state(&self) {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !self.state.exists() {
                assert!(Instant::now() < deadline, "no state file");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    fn append(path: &Path, text: &str) {
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn canonical(path: &Path) -> String {
        fs::canonicalize(path)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    fn line(path: &str, number: u64, text: &str) -> Line {
        (path.to_owned(), number, text.to_owned())
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// A few polls' time, to show that something does not happen.
    fn a_few_polls() {
        std::thread::sleep(Duration::from_millis(100));
    }

    #[test]
    fn lines_arrive_numbered_with_blank_lines_kept_and_partial_lines_waiting() {
        let rig = Rig::new();
        let log = rig.log("app.log");
        append(&log, "one\r\n\ntwo\n");
        let handle = rig.start(rig.config(vec![log.clone()], "start"));
        let path = canonical(&log);
        assert_eq!(
            rig.wait_lines(3),
            [
                line(&path, 1, "one"),
                line(&path, 2, ""),
                line(&path, 3, "two")
            ]
        );
        append(&log, "four\n\n\nfi");
        let lines = rig.wait_lines(6);
        assert_eq!(
            lines[3..],
            [
                line(&path, 4, "four"),
                line(&path, 5, ""),
                line(&path, 6, "")
            ]
        );
        a_few_polls();
        assert_eq!(rig.lines().len(), 6, "the partial line waits for its end");
        append(&log, "ve\n");
        let lines = rig.wait_lines(7);
        assert_eq!(lines[6..], [line(&path, 7, "five")]);
        append(&log, "\n\n");
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(&rig.metrics.follow_lines) < 9 {
            assert!(Instant::now() < deadline, "the blank lines were never read");
            std::thread::sleep(Duration::from_millis(5));
        }
        a_few_polls();
        handle.stop();
        assert_eq!(rig.lines().len(), 7, "blank lines alone make no record");
        assert_eq!(get(&rig.metrics.follow_lines), 9);
        let state: StateFile = serde_json::from_slice(&fs::read(&rig.state).unwrap()).unwrap();
        assert_eq!(state.files.len(), 1);
        assert_eq!((state.files[0].offset, state.files[0].line), (24, 10));
    }

    #[test]
    fn a_rotated_file_is_read_to_its_end_and_the_new_one_from_line_1() {
        let rig = Rig::new();
        let log = rig.log("app.log");
        append(&log, "1\n2\n");
        let handle = rig.start(rig.config(vec![log.clone()], "start"));
        let path = canonical(&log);
        rig.wait_lines(2);
        append(&log, "3\n");
        let rotated = rig.log("app.log.1");
        fs::rename(&log, &rotated).unwrap();
        append(&rotated, "4\n"); // the writer has not reopened its log yet
        append(&log, "new 1\nnew 2\n");
        let mut lines = rig.wait_lines(6);
        handle.stop();
        lines.sort_by(|a, b| a.2.cmp(&b.2));
        assert_eq!(
            lines,
            [
                line(&path, 1, "1"),
                line(&path, 2, "2"),
                line(&path, 3, "3"),
                line(&path, 4, "4"),
                line(&path, 1, "new 1"),
                line(&path, 2, "new 2"),
            ]
        );
        assert_eq!(get(&rig.metrics.follow_rotations), 1);
    }

    #[test]
    fn a_truncated_file_is_read_again_from_line_1() {
        let rig = Rig::new();
        let log = rig.log("app.log");
        append(&log, "a long first line\nanother long line\n");
        let handle = rig.start(rig.config(vec![log.clone()], "start"));
        let path = canonical(&log);
        rig.wait_lines(2);
        fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&log, "x\ny\n");
        let lines = rig.wait_lines(4);
        handle.stop();
        assert_eq!(lines[2..], [line(&path, 1, "x"), line(&path, 2, "y")]);
        assert_eq!(get(&rig.metrics.follow_truncations), 1);
    }

    #[test]
    fn a_restart_reads_only_the_new_lines_with_their_numbers() {
        let rig = Rig::new();
        let log = rig.log("app.log");
        append(&log, "a\nb\n");
        let config = rig.config(vec![log.clone()], "start");
        let handle = rig.start(config.clone());
        let path = canonical(&log);
        rig.wait_lines(2);
        handle.stop();
        append(&log, "c\n\nd\n");
        let handle = rig.start(config);
        let lines = rig.wait_lines(5);
        a_few_polls();
        handle.stop();
        assert_eq!(
            rig.lines(),
            [
                line(&path, 1, "a"),
                line(&path, 2, "b"),
                line(&path, 3, "c"),
                line(&path, 4, ""),
                line(&path, 5, "d"),
            ]
        );
        assert_eq!(lines.len(), 5);
    }

    #[test]
    fn a_file_replaced_while_stopped_is_read_from_its_start() {
        let rig = Rig::new();
        let log = rig.log("app.log");
        append(&log, "a\n");
        let config = rig.config(vec![log.clone()], "end");
        let handle = rig.start(config.clone());
        rig.wait_state();
        append(&log, "b\n");
        rig.wait_lines(1);
        handle.stop();
        fs::rename(&log, rig.log("app.log.1")).unwrap();
        append(&log, "c\n");
        let handle = rig.start(config);
        let lines = rig.wait_lines(2);
        handle.stop();
        let path = canonical(&log);
        assert_eq!(lines, [line(&path, 2, "b"), line(&path, 1, "c")]);
    }

    #[test]
    fn start_at_end_skips_what_a_new_file_holds() {
        let rig = Rig::new();
        let log = rig.log("app.log");
        append(&log, "old 1\nold 2\npart");
        let handle = rig.start(rig.config(vec![log.clone()], "end"));
        rig.wait_state();
        append(&log, "ial\nnew\n");
        let lines = rig.wait_lines(2);
        handle.stop();
        let path = canonical(&log);
        assert_eq!(lines, [line(&path, 3, "partial"), line(&path, 4, "new")]);
    }

    #[test]
    fn a_folder_picks_up_new_matching_files_and_ignores_others() {
        let rig = Rig::new();
        append(&rig.log("a.log"), "old\n");
        let config = FollowConfig {
            pattern: Some("*.log".into()),
            ..rig.config(vec![rig.logs()], "end")
        };
        let handle = rig.start(config);
        rig.wait_state();
        append(&rig.log("c.txt"), "not followed\n");
        append(&rig.log("b.log"), "hello\n");
        let lines = rig.wait_lines(1);
        assert_eq!(lines, [line(&canonical(&rig.log("b.log")), 1, "hello")]);
        append(&rig.log("a.log"), "more\n");
        let lines = rig.wait_lines(2);
        handle.stop();
        assert_eq!(lines[1], line(&canonical(&rig.log("a.log")), 2, "more"));
        assert_eq!(rig.lines().len(), 2);
    }

    #[test]
    fn a_long_line_is_cut_and_numbering_goes_on() {
        let rig = Rig::new();
        let log = rig.log("app.log");
        append(&log, &"x".repeat(MAX_LINE_BYTES + 10));
        let handle = rig.start(rig.config(vec![log.clone()], "start"));
        rig.wait_lines(1);
        append(&log, "yyy\nnext\n");
        let lines = rig.wait_lines(2);
        handle.stop();
        assert_eq!(lines[0].2.len(), MAX_LINE_BYTES);
        assert_eq!(lines[1], line(&canonical(&log), 2, "next"));
        assert_eq!(get(&rig.metrics.follow_cut_lines), 1);
    }

    #[test]
    fn nothing_is_read_while_the_pipeline_is_behind() {
        let rig = Rig::new();
        let log = rig.log("app.log");
        append(&log, "a\n");
        rig.metrics.spool_end.store(100, Ordering::Relaxed);
        let sink = FollowSink {
            spool: Arc::clone(&rig.spool),
            metrics: Arc::clone(&rig.metrics),
            max_backlog_bytes: 10,
        };
        let handle = start(
            rig.config(vec![log.clone()], "start"),
            sink,
            rig.state.clone(),
        )
        .unwrap();
        a_few_polls();
        assert!(rig.lines().is_empty());
        rig.metrics.committed_position.store(100, Ordering::Relaxed);
        assert_eq!(rig.wait_lines(1), [line(&canonical(&log), 1, "a")]);
        handle.stop();
    }

    #[test]
    fn lines_split_at_line_ends_and_cut_when_too_long() {
        let split = split_lines(b"a\r\n\nb\nc", false, false);
        assert_eq!(split.lines, [&b"a"[..], b"", b"b"]);
        assert_eq!((split.consumed, split.skipping), (6, false));
        assert_eq!(split_lines(b"c", false, true).lines, [&b"c"[..]]);
        let skipped = split_lines(b"rest\nd\n", true, false);
        assert_eq!((skipped.lines, skipped.consumed), (vec![&b"d"[..]], 7));
        let long = vec![b'z'; MAX_LINE_BYTES + 1];
        let cut = split_lines(&long, false, false);
        assert_eq!(
            (cut.lines[0].len(), cut.skipping, cut.cut),
            (MAX_LINE_BYTES, true, 1)
        );
    }

    #[test]
    fn records_are_bounded_and_blank_runs_are_not_spooled() {
        let big = vec![b'x'; RECORD_BYTES / 2 - 2];
        let lines: Vec<&[u8]> = vec![&big, b"", &big, &big];
        let made = records("json", "/l", 10, &lines);
        assert_eq!(made.len(), 2);
        let (first, _) = RecordHeader::split(&made[0]).unwrap();
        let (second, _) = RecordHeader::split(&made[1]).unwrap();
        assert_eq!(first.source.map(|s| s.first_line), Some(10));
        assert_eq!(second.source.map(|s| s.first_line), Some(13));
        assert!(records("auto", "/l", 1, &[b"", b"  "]).is_empty());
    }

    #[test]
    fn configurations_are_checked() {
        let config = FollowConfig::new(vec!["/var/log".into()]);
        assert_eq!(config.validate(), Ok(()));
        let with = |change: fn(&mut FollowConfig)| {
            let mut config = config.clone();
            change(&mut config);
            config.validate()
        };
        assert!(with(|c| c.format = "evtx".into()).is_err());
        assert!(with(|c| c.format = "nope".into()).is_err());
        assert!(with(|c| c.start_at = "middle".into()).is_err());
        assert!(with(|c| c.pattern = Some("app*.log".into())).is_err());
        assert!(with(|c| c.pattern = Some("".into())).is_err());
        assert!(with(|c| c.pattern = Some("*".into())).is_ok());
        assert!(with(|c| c.pattern = Some("messages".into())).is_ok());
        assert!(with(|c| c.poll_ms = 0).is_err());
        assert!(with(|c| c.paths.clear()).is_err());
        assert_eq!(header_format("JSONL"), Ok("json".into()));
        let parsed: FollowConfig =
            toml::from_str("paths = [\"/var/log\"]\npattern = \"*.log\"").unwrap();
        assert_eq!(
            (
                parsed.format.as_str(),
                parsed.start_at.as_str(),
                parsed.poll_ms
            ),
            ("auto", "end", 250)
        );
        assert!(config.matches(b"anything"));
        assert!(parsed.matches(b"a.log") && !parsed.matches(b"a.log.1"));
        assert!(parsed.state_file_name().starts_with("follow-"));
        assert_ne!(parsed.state_file_name(), config.state_file_name());
    }
}
