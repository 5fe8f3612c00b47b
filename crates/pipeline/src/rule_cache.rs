//! The compiled-rule cache: a rule set compiled once is stored under the user's cache folder
//! and read back by the next load of the same rules, so that a hunt with an unchanged rule
//! set starts in milliseconds instead of parsing and compiling thousands of rules again.
//!
//! An entry is named by a digest of what the rules are compiled with: the cache format, this
//! build of tocsin (its version, and its executable's path, size and time, so that a rebuild
//! starts afresh), the rule paths as given, the selection and the mapping and placeholder
//! texts, read once and compiled as read. Inside, it holds the digest of exactly the rule
//! bytes parsed (each file read once) and a stamp (size, times, inode) of every file and
//! folder loaded, taken before the files were read. An entry is used as it is when every
//! stamp is unchanged (a folder's stamp changes when a file is added, removed or renamed in
//! it, a file's when it is written or its permissions change), or else when the files, read
//! again, have the same digest. Stamps taken less than [`SETTLE`] after a file or folder
//! changed are not trusted: such an entry is checked by content on every load until it is
//! stored again with settled stamps (a file written twice within the file system's clock
//! tick keeps its times). Off Unix a stamp is only a size and a modification time, and on
//! a network file system times may lag another host's edit. Anything else (another format,
//! a checksum that does not match, a record that does not decode) compiles the rules again
//! and replaces the entry; a cache that cannot be written only costs the next load its
//! speed.
//!
//! The cache is as trusted as the rule folders: it guards against corruption and staleness,
//! not against someone who can write the user's files (who could change the rules).

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::intel::RuleText;
use crate::rules::{
    compile_documents, documents_of, load_rules_with, names_builtin, rule_paths, CompileOptions,
    CompileTexts, RuleSelection, RuleSet, RuleSetError,
};

/// The first bytes of a cache entry.
const MAGIC: &[u8; 8] = b"TOCSINRC";

/// The entry layout and encoding; entries of another format are compiled again.
const FORMAT: u32 = 3;

/// How many entries the cache keeps (the most recently written).
const KEEP_ENTRIES: usize = 8;

/// How long after a change a file's or folder's stamp is trusted to show the next change.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Where compiled rule sets are cached, if anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCache {
    dir: Option<PathBuf>,
    /// [`SETTLE`], but for tests.
    settle: Duration,
}

impl RuleCache {
    /// A cache in `dir` (created when first written).
    pub fn at(dir: impl Into<PathBuf>) -> RuleCache {
        RuleCache {
            dir: Some(dir.into()),
            settle: SETTLE,
        }
    }

    /// No cache: every load compiles.
    pub fn off() -> RuleCache {
        RuleCache {
            dir: None,
            settle: SETTLE,
        }
    }

    /// The user's cache folder: `$TOCSIN_CACHE_DIR`, else `$XDG_CACHE_HOME/tocsin` (when
    /// absolute), else `$HOME/.cache/tocsin`, else `%LOCALAPPDATA%\tocsin\cache`; off when
    /// none is set, or when `$TOCSIN_NO_RULE_CACHE` is. Empty values count as unset. Takes
    /// the lookup as a function so that tests need not change the process's environment.
    pub fn from_env(var: impl Fn(&str) -> Option<OsString>) -> RuleCache {
        let set = |name: &str| {
            var(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        if set("TOCSIN_NO_RULE_CACHE").is_some() {
            return RuleCache::off();
        }
        let dir = set("TOCSIN_CACHE_DIR")
            .or_else(|| {
                set("XDG_CACHE_HOME")
                    .filter(|dir| dir.is_absolute())
                    .map(|dir| dir.join("tocsin"))
            })
            .or_else(|| set("HOME").map(|home| home.join(".cache").join("tocsin")))
            .or_else(|| set("LOCALAPPDATA").map(|dir| dir.join("tocsin").join("cache")));
        RuleCache {
            dir,
            settle: SETTLE,
        }
    }

    /// The cache folder, `None` when the cache is off.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

/// How a load used the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Read back: no rule file or folder changed.
    Hit,
    /// Read back after the rule files were read again and found unchanged.
    Verified,
    /// Compiled; `stored` says whether the cache now holds it.
    Compiled {
        /// The entry was written.
        stored: bool,
    },
    /// Compiled without the cache: it is off, or some rules come from no file.
    Bypassed,
}

/// [`load_rules_with`] through `cache`: the same rule set, read back when the cache holds
/// it for these rules, compiled (and stored) otherwise. Rule texts from no file (`extra`)
/// bypass the cache.
pub fn load_rules_cached(
    paths: &[PathBuf],
    extra: &[RuleText],
    compile: &CompileOptions,
    select: &RuleSelection,
    cache: &RuleCache,
) -> Result<(RuleSet, CacheOutcome), RuleSetError> {
    let entry = match cache.dir() {
        Some(dir) if extra.is_empty() => Entry::new(dir, paths, compile, select, cache.settle),
        _ => None,
    };
    let Some(entry) = entry else {
        let set = load_rules_with(paths, extra, compile, select)?;
        return Ok((set, CacheOutcome::Bypassed));
    };
    match entry.read() {
        Ok(Some((set, outcome))) => return Ok((set, outcome)),
        Ok(None) => {}
        Err(problem) => tracing::debug!(%problem, "compiled-rule cache entry not used"),
    }
    // The entry describes exactly the bytes compiled: the files' stamps (taken before they
    // are read, so that a change meanwhile differs from its stamp), the digest of the bytes
    // read once and parsed, the mapping and placeholder texts of the key.
    let (listed, contents, files) = read_rule_files(&entry.rule_paths, entry.settle);
    let outcome = documents_of(listed, contents, names_builtin(paths));
    let set = compile_documents(outcome, extra, &entry.texts, select)?;
    let stored = match entry.write_new(&files, &set) {
        Ok(()) => true,
        Err(problem) => {
            tracing::warn!(%problem, "compiled rules not cached");
            false
        }
    };
    Ok((set, CacheOutcome::Compiled { stored }))
}

/// Why a cache entry was not used or not written.
#[derive(Debug, thiserror::Error)]
enum CacheProblem {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
}

/// One cache entry: the file that holds (or will hold) one rule set.
struct Entry {
    key: [u8; 32],
    path: PathBuf,
    /// The rule files and folders given (the built-in set aside).
    rule_paths: Vec<PathBuf>,
    /// The mapping and placeholder files, as read for the key.
    texts: CompileTexts,
    settle: Duration,
}

/// What an entry says about the files it was compiled from.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    key: [u8; 32],
    files: FileSnapshot,
}

/// The rule files and folders of a load: their stamps and the digest of their content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FileSnapshot {
    stamps: Vec<Stamp>,
    digest: [u8; 32],
    /// Every stamp was taken at least [`SETTLE`] after its file's or folder's last change.
    settled: bool,
}

/// What a file's or folder's metadata says of it; all zero when it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
struct Stamp {
    path: PathBuf,
    len: u64,
    modified_ns: i128,
    changed_ns: i128,
    inode: u64,
    device: u64,
}

impl Entry {
    /// The entry of these rules, or `None` when no key can be made (this executable or a
    /// mapping or placeholder file cannot be read: the load without the cache then reports
    /// the latter).
    fn new(
        dir: &Path,
        paths: &[PathBuf],
        compile: &CompileOptions,
        select: &RuleSelection,
        settle: Duration,
    ) -> Option<Entry> {
        let texts = CompileTexts::read(compile).ok()?;
        let mut hasher = Sha256::new();
        let mut part = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        part(MAGIC);
        part(&FORMAT.to_le_bytes());
        part(env!("CARGO_PKG_VERSION").as_bytes());
        part(&build_identity()?);
        for path in paths {
            part(path.as_os_str().as_encoded_bytes());
        }
        for text in [&texts.mapping, &texts.placeholders] {
            match text {
                Some((_, text)) => part(text.as_bytes()),
                None => part(b"none"),
            }
        }
        part(format!("{select:?}").as_bytes());
        let key: [u8; 32] = hasher.finalize().into();
        let name: String = key.iter().map(|b| format!("{b:02x}")).collect();
        Some(Entry {
            key,
            path: dir.join("rules").join(format!("{name}.bin")),
            rule_paths: rule_paths(paths),
            texts,
            settle,
        })
    }

    /// The rule set this entry holds, if it holds one for the rule files as they are now.
    fn read(&self) -> Result<Option<(RuleSet, CacheOutcome)>, CacheProblem> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CacheProblem::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let corrupt = |reason: String| CacheProblem::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let (header, rules) = sections(&bytes).map_err(corrupt)?;
        let header: Header = postcard::from_bytes(header)
            .map_err(|e| corrupt(format!("header does not decode: {e}")))?;
        if header.key != self.key {
            return Err(corrupt("written for other rules".to_owned()));
        }
        // The rules are decoded while the stamps are checked: nearly always they are used.
        let (unchanged, decoded) = rayon::join(
            || header.files.settled && header.files.unchanged(),
            || postcard::from_bytes::<RuleSet>(rules),
        );
        let restamp = if unchanged {
            None
        } else {
            let (_, _, now) = read_rule_files(&self.rule_paths, self.settle);
            if now.digest != header.files.digest {
                return Ok(None);
            }
            Some(now)
        };
        let set: RuleSet = decoded.map_err(|e| corrupt(format!("rules do not decode: {e}")))?;
        set.engine.validate().map_err(|e| corrupt(e.to_string()))?;
        let Some(now) = restamp else {
            // Used, so kept longest (entries are pruned oldest written first).
            let _ = fs::File::options()
                .write(true)
                .open(&self.path)
                .and_then(|file| file.set_modified(SystemTime::now()));
            return Ok(Some((set, CacheOutcome::Hit)));
        };
        if now.settled {
            // Stamped again, so that the next load needs no reading.
            if let Err(problem) = self.write(&now, rules) {
                tracing::debug!(%problem, "compiled-rule cache entry not restamped");
            }
        }
        Ok(Some((set, CacheOutcome::Verified)))
    }

    /// Stores `set`, compiled from `files`.
    fn write_new(&self, files: &FileSnapshot, set: &RuleSet) -> Result<(), CacheProblem> {
        let rules = postcard::to_stdvec(set).map_err(|e| CacheProblem::Corrupt {
            path: self.path.clone(),
            reason: format!("rules do not encode: {e}"),
        })?;
        self.write(files, &rules)?;
        if let Some(folder) = self.path.parent() {
            prune(folder, KEEP_ENTRIES);
        }
        Ok(())
    }

    /// Writes the entry whole (a temporary file renamed over it, so that a reader never
    /// sees half of it): the header for `files`, then the encoded rule set.
    fn write(&self, files: &FileSnapshot, rules: &[u8]) -> Result<(), CacheProblem> {
        let header = Header {
            key: self.key,
            files: files.clone(),
        };
        let header = postcard::to_stdvec(&header).map_err(|e| CacheProblem::Corrupt {
            path: self.path.clone(),
            reason: format!("header does not encode: {e}"),
        })?;
        let folder = self.path.parent().unwrap_or(Path::new("."));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CacheProblem::Io { path, source }
        };
        create_cache_folder(folder).map_err(io(folder))?;
        let mut file = tempfile::NamedTempFile::new_in(folder).map_err(io(folder))?;
        let mut bytes = Vec::with_capacity(32 + header.len() + rules.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT.to_le_bytes());
        for section in [&header[..], rules] {
            bytes.extend_from_slice(&(section.len() as u64).to_le_bytes());
            bytes.extend_from_slice(&crc32fast::hash(section).to_le_bytes());
            bytes.extend_from_slice(section);
        }
        file.write_all(&bytes).map_err(io(file.path()))?;
        file.persist(&self.path)
            .map_err(|e| io(&self.path)(e.error))?;
        Ok(())
    }
}

/// The header and rule sections of an entry's bytes, their format and checksums checked.
fn sections(bytes: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or("not a compiled-rule cache entry")?;
    let (format, mut rest) = rest.split_first_chunk::<4>().ok_or("truncated")?;
    if u32::from_le_bytes(*format) != FORMAT {
        return Err(format!("format {}", u32::from_le_bytes(*format)));
    }
    let mut next = || -> Result<&[u8], String> {
        let (len, after) = rest.split_first_chunk::<8>().ok_or("truncated")?;
        let (crc, after) = after.split_first_chunk::<4>().ok_or("truncated")?;
        let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| "too long")?;
        if after.len() < len {
            return Err("truncated".to_owned());
        }
        let (section, after) = after.split_at(len);
        if crc32fast::hash(section) != u32::from_le_bytes(*crc) {
            return Err("checksum does not match".to_owned());
        }
        rest = after;
        Ok(section)
    };
    let header = next()?;
    let rules = next()?;
    if !rest.is_empty() {
        return Err("bytes after the last section".to_owned());
    }
    Ok((header, rules))
}

/// Lists, stamps and reads the rule files of `paths` (files and folders, as a load walks
/// them), each file read once: the listing, each file's bytes (or why they could not be
/// read) and the snapshot of what was read. Stamps are taken before the files are read, and
/// are settled when taken at least `settle` after every change.
fn read_rule_files(
    paths: &[PathBuf],
    settle: Duration,
) -> (
    tocsin_sigma::RuleFiles,
    Vec<std::io::Result<Vec<u8>>>,
    FileSnapshot,
) {
    let now = SystemTime::now();
    let listed = tocsin_sigma::rule_files(paths);
    let stamps: Vec<Stamp> = listed
        .folders
        .par_iter()
        .chain(listed.files.par_iter())
        .map(|path| Stamp::of(path))
        .collect();
    let contents = tocsin_sigma::read_files(&listed.files);
    let hashes: Vec<[u8; 32]> = contents
        .par_iter()
        .map(|content| match content {
            Ok(bytes) => Sha256::digest(bytes).into(),
            Err(error) => Sha256::digest(error.to_string().as_bytes()).into(),
        })
        .collect();
    let mut digest = Sha256::new();
    for (file, hash) in listed.files.iter().zip(&hashes) {
        let path = file.as_os_str().as_encoded_bytes();
        digest.update((path.len() as u64).to_le_bytes());
        digest.update(path);
        digest.update(hash);
    }
    let settled_before = now
        .checked_sub(settle)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |t| t.as_nanos() as i128);
    let settled = stamps
        .iter()
        .all(|s| s.modified_ns < settled_before && s.changed_ns < settled_before);
    let snapshot = FileSnapshot {
        stamps,
        digest: digest.finalize().into(),
        settled,
    };
    (listed, contents, snapshot)
}

impl FileSnapshot {
    /// Whether every file and folder still has its stamp (read on all cores: no folder is
    /// listed and no file is read).
    fn unchanged(&self) -> bool {
        self.stamps
            .par_iter()
            .all(|stamp| Stamp::of(&stamp.path) == *stamp)
    }
}

impl Stamp {
    /// The stamp of `path` now (following symbolic links, as reading it does).
    fn of(path: &Path) -> Stamp {
        let Ok(meta) = fs::metadata(path) else {
            return Stamp {
                path: path.to_path_buf(),
                ..Stamp::default()
            };
        };
        let nanos = |time: std::io::Result<SystemTime>| {
            time.ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |t| t.as_nanos() as i128)
        };
        let mut stamp = Stamp {
            path: path.to_path_buf(),
            len: meta.len(),
            modified_ns: nanos(meta.modified()),
            ..Stamp::default()
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            stamp.changed_ns =
                i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec());
            stamp.inode = meta.ino();
            stamp.device = meta.dev();
        }
        stamp
    }
}

/// What identifies this build: its executable's path, size and time. Two builds of one
/// version compile rules differently as the code changes; any rebuild starts a new cache.
fn build_identity() -> Option<Vec<u8>> {
    let exe = std::env::current_exe().ok()?;
    let stamp = Stamp::of(&exe);
    if stamp.len == 0 {
        return None;
    }
    let mut identity = exe.as_os_str().as_encoded_bytes().to_vec();
    identity.extend_from_slice(&stamp.len.to_le_bytes());
    identity.extend_from_slice(&stamp.modified_ns.to_le_bytes());
    Some(identity)
}

/// Creates the cache folder (private to the user), with a `CACHEDIR.TAG` in it so that
/// backup tools skip it (and only it: the folder above may be one the user keeps other
/// things in).
fn create_cache_folder(folder: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(folder)?;
    let tag = folder.join("CACHEDIR.TAG");
    if !tag.exists() {
        // Best effort: the tag only helps backup tools.
        let _ = fs::write(
            tag,
            "Signature: 8a477f597d28d172789f06886806bc55\n\
             # This file is a cache directory tag created by tocsin (compiled rules).\n",
        );
    }
    Ok(())
}

/// How old a temporary file of the cache folder must be to be another writer's leftover
/// (one killed before it renamed its entry into place).
const LEFTOVER_AFTER: Duration = Duration::from_secs(3600);

/// Deletes all but the `keep` most recently written (or used) entries of `folder`, and the
/// temporary files writers killed mid-write left there (best effort).
fn prune(folder: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    let now = SystemTime::now();
    let mut found: Vec<(SystemTime, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let (path, name) = (entry.path(), entry.file_name());
        let Some(modified) = entry.metadata().ok().and_then(|m| m.modified().ok()) else {
            continue;
        };
        if path.extension().is_some_and(|e| e == "bin") {
            found.push((modified, path));
        } else if name.to_string_lossy().starts_with(".tmp")
            && now.duration_since(modified).unwrap_or_default() > LEFTOVER_AFTER
        {
            let _ = fs::remove_file(path);
        }
    }
    found.sort_by_key(|(written, _)| std::cmp::Reverse(*written));
    for (_, path) in found.into_iter().skip(keep) {
        let _ = fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests;
