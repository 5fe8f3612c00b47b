//! The installed set under `<data>/rules/`, and its atomic replacement.
//!
//! Layout: every installed package is a folder `pack-<time>-<random>/` holding `rules/` (the
//! package's files) and [`MANIFEST_FILE`]; the file `CURRENT` names the folder in use. An
//! update builds the new folder under a hidden `.staging-*` name beside the others,
//! verifies it, renames it to its `pack-*` name, then replaces `CURRENT` by renaming a new
//! file over it: the one step that changes what is installed, and an atomic one. Until it,
//! the installed set is untouched. The folder it replaced stays until the next update, so
//! that a hunt that read `CURRENT` just before still finds every rule; older folders are
//! deleted, but never one a reader holds ([`RuleStore::hold_installed`] takes a shared lock
//! on its `.hold` file; an update deletes a folder only under an exclusive one). Every
//! file and folder of a new package is fsynced before `CURRENT` names it, and the folder
//! holding `CURRENT` after, so a crash leaves the old set or the whole new one. `.lock`
//! keeps two updates from running at once.

use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tocsin_pipeline::{CompileOptions, RuleSelection};

use crate::unpack::{copy_folder, unpack_zip, Limits};
use crate::{Changes, Inventory, PackError};

/// The manifest's file name, in each package folder beside `rules/`.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The file naming the package folder in use.
const POINTER_FILE: &str = "CURRENT";
/// The lock file that serialises updates.
const LOCK_FILE: &str = ".lock";
/// The prefix of folders being built.
const STAGING_PREFIX: &str = ".staging-";
/// The prefix of installed package folders.
const PACK_PREFIX: &str = "pack-";
/// The file in each package folder that readers lock shared while they read the folder.
const HOLD_FILE: &str = ".hold";
/// How many times a reader reads `CURRENT` again when the folder it named was deleted
/// before the reader could hold it (an update and its next one ran in between).
const HOLD_ATTEMPTS: usize = 5;

/// Where a package comes from, once on this machine.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A zip archive (a download, or a file the user named).
    Zip(&'a Path),
    /// A folder of rules, copied as it is.
    Folder(&'a Path),
}

/// How to install a package.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// What the manifest and the report name as the source: the URL or the path the user
    /// gave (a download's temporary file means nothing to them).
    pub origin: String,
    /// The SigmaHQ package name, when the source is one.
    pub pack: Option<String>,
    /// The SHA-256 the zip must have (64 hexadecimal digits, any case).
    pub expected_sha256: Option<String>,
    /// Verify and report, but install nothing.
    pub dry_run: bool,
    /// How large the package may be once unpacked.
    pub limits: Limits,
}

impl InstallOptions {
    /// Options for a package from `origin`: no pack name, no checksum, a real install,
    /// the default limits.
    pub fn new(origin: impl Into<String>) -> Self {
        InstallOptions {
            origin: origin.into(),
            pack: None,
            expected_sha256: None,
            dry_run: false,
            limits: Limits::default(),
        }
    }
}

/// What an installed package is and where it came from (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The URL or path it was installed from.
    pub source: String,
    /// The SigmaHQ package name, if it is one.
    pub pack: Option<String>,
    /// The zip's SHA-256 (none for a folder).
    pub sha256: Option<String>,
    /// When it was installed (RFC 3339, UTC).
    pub installed_at: String,
    /// Rule files read.
    pub files: usize,
    /// Rules that compiled.
    pub rules: usize,
    /// Correlation rules loaded.
    pub correlations: usize,
}

/// The installed set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The folder of rule files, for `--rules`.
    pub rules: PathBuf,
    /// Its manifest, when it could be read.
    pub manifest: Option<Manifest>,
}

/// The installed set, held: no update deletes its folder until this is dropped.
#[derive(Debug)]
pub struct HeldSet {
    /// The set.
    pub installed: Installed,
    /// The shared lock on the folder's hold file (none for a folder an older tocsin
    /// installed without one).
    _hold: Option<File>,
}

/// What an install did (or, with `dry_run`, would do).
#[derive(Debug, Clone)]
pub struct UpdateReport {
    /// The installed rules folder; `None` for a dry run.
    pub installed: Option<PathBuf>,
    /// The new package's manifest.
    pub manifest: Manifest,
    /// The manifest of the set it replaced, if any.
    pub previous: Option<Manifest>,
    /// What changed, rule by rule.
    pub changes: Changes,
    /// Rule files or documents that did not load (left out of hunts).
    pub load_problems: usize,
    /// Rules that did not compile (left out of hunts).
    pub compile_problems: usize,
    /// Rules waiting for `--placeholders` values (sound, but idle until given them).
    pub needs_placeholders: usize,
    /// The first few problems, as text.
    pub first_problems: Vec<String>,
}

/// The installed rules of one data folder.
#[derive(Debug, Clone)]
pub struct RuleStore {
    root: PathBuf,
}

/// The SHA-256 of a file, in lowercase hexadecimal.
///
/// # Errors
///
/// The file cannot be read.
pub fn sha256_file(path: &Path) -> Result<String, PackError> {
    let mut file = File::open(path).map_err(PackError::io(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(PackError::io(path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// The expected digest in lowercase, if it is 64 hexadecimal digits.
fn normalise_sha256(expected: &str) -> Result<String, PackError> {
    let trimmed = expected.trim();
    if trimmed.len() == 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(trimmed.to_ascii_lowercase())
    } else {
        Err(PackError::BadChecksum(expected.to_owned()))
    }
}

impl RuleStore {
    /// The installed set of the data folder `data_dir` (see [`data_dir`](crate::data_dir)),
    /// kept in `<data_dir>/rules/`. Nothing is created until an install.
    pub fn new(data_dir: &Path) -> Self {
        RuleStore {
            root: data_dir.join("rules"),
        }
    }

    /// `<data_dir>/rules/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The package folder `CURRENT` names, if there is one.
    fn current_folder(&self) -> Result<Option<PathBuf>, PackError> {
        let pointer = self.root.join(POINTER_FILE);
        let name = match fs::read_to_string(&pointer) {
            Ok(name) => name,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(PackError::Io {
                    path: pointer,
                    error,
                })
            }
        };
        let name = name.trim();
        // Only a name this module wrote: never a path elsewhere.
        if !name.starts_with(PACK_PREFIX) || name.contains(['/', '\\']) || name.contains("..") {
            return Err(PackError::Broken { path: pointer });
        }
        Ok(Some(self.root.join(name)))
    }

    /// The installed set, or `None` when nothing was ever installed.
    ///
    /// # Errors
    ///
    /// The pointer cannot be read, or names a folder that is not there.
    pub fn installed(&self) -> Result<Option<Installed>, PackError> {
        match self.current_folder()? {
            Some(folder) => Self::installed_in(&folder).map(Some),
            None => Ok(None),
        }
    }

    /// The installed set, held until the returned value is dropped, so that updates
    /// running meanwhile do not delete the files being read: what a hunt loads its rules
    /// through. `None` when nothing was ever installed.
    ///
    /// # Errors
    ///
    /// As [`Self::installed`]; also when the hold file cannot be locked, or when updates
    /// replaced the set faster than it could be held, several times over.
    pub fn hold_installed(&self) -> Result<Option<HeldSet>, PackError> {
        for _ in 0..HOLD_ATTEMPTS {
            let Some(folder) = self.current_folder()? else {
                return Ok(None);
            };
            let path = folder.join(HOLD_FILE);
            let hold = match File::open(&path) {
                Ok(file) => Some(file),
                Err(error) if error.kind() == io::ErrorKind::NotFound => None,
                // Being deleted (Windows refuses to open such a file): read `CURRENT` again.
                Err(_) if !folder.join("rules").is_dir() => continue,
                Err(error) => return Err(PackError::Io { path, error }),
            };
            if let Some(file) = &hold {
                match file.lock_shared() {
                    Ok(()) => {}
                    // A file system without locks (some network mounts): read unheld, as
                    // before holds existed; an update then may delete the set meanwhile.
                    Err(error) if error.kind() == io::ErrorKind::Unsupported => {}
                    Err(error) => return Err(PackError::Io { path, error }),
                }
            }
            // Deleted between reading `CURRENT` and the lock: `CURRENT` names a newer set.
            if folder.join("rules").is_dir() {
                let installed = Self::installed_in(&folder)?;
                return Ok(Some(HeldSet {
                    installed,
                    _hold: hold,
                }));
            }
        }
        Err(PackError::Broken {
            path: self.root.join(POINTER_FILE),
        })
    }

    /// The set installed in the package folder `folder`.
    fn installed_in(folder: &Path) -> Result<Installed, PackError> {
        let rules = folder.join("rules");
        if !rules.is_dir() {
            return Err(PackError::Broken { path: rules });
        }
        let manifest = fs::read(folder.join(MANIFEST_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        Ok(Installed { rules, manifest })
    }

    /// Installs the package `source`, replacing the installed set (see the module's
    /// documentation for how), and reports what changed.
    ///
    /// # Errors
    ///
    /// A bad checksum (given or found), an archive that is not a zip, damaged, holds an
    /// entry that escapes it or a symbolic link, or exceeds the limits; a package with no
    /// rule that loads and compiles; a file that cannot be read or written; another update
    /// running. In every case the installed set is as it was.
    pub fn install(
        &self,
        source: &Source<'_>,
        options: &InstallOptions,
    ) -> Result<UpdateReport, PackError> {
        let expected = options
            .expected_sha256
            .as_deref()
            .map(normalise_sha256)
            .transpose()?;
        fs::create_dir_all(&self.root).map_err(PackError::io(&self.root))?;
        let _lock = self.lock()?;
        self.remove_leftovers()?;

        let sha256 = match source {
            Source::Zip(archive) => {
                let actual = sha256_file(archive)?;
                if let Some(expected) = expected {
                    if expected != actual {
                        return Err(PackError::ChecksumMismatch {
                            path: archive.to_path_buf(),
                            expected,
                            actual,
                        });
                    }
                }
                Some(actual)
            }
            Source::Folder(_) => None,
        };

        let staging = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(&self.root)
            .map_err(PackError::io(&self.root))?;
        let rules = staging.path().join("rules");
        fs::create_dir(&rules).map_err(PackError::io(&rules))?;
        match source {
            Source::Zip(archive) => unpack_zip(archive, &rules, options.limits)?,
            Source::Folder(folder) => copy_folder(folder, &rules, options.limits)?,
        };

        let set = tocsin_pipeline::load_rules(
            std::slice::from_ref(&rules),
            &CompileOptions::default(),
            &RuleSelection::default(),
        )
        .map_err(|error| PackError::Verify(error.to_string()))?;
        let first_problems: Vec<String> = set
            .load_errors
            .iter()
            .map(ToString::to_string)
            .chain(set.report.errors.iter().map(ToString::to_string))
            .take(5)
            .collect();
        let problems = set.load_errors.len() + set.report.errors.len();
        if set.engine.is_empty() {
            return Err(PackError::NoRules {
                files: set.files,
                problems,
                first: first_problems.into_iter().next(),
            });
        }
        let manifest = Manifest {
            source: options.origin.clone(),
            pack: options.pack.clone(),
            sha256,
            installed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            files: set.files,
            rules: set.engine.len(),
            correlations: set.correlations.len(),
        };

        let previous = self.installed().ok().flatten();
        let old = match &previous {
            Some(installed) => Inventory::of_folder(&installed.rules)?,
            None => Inventory::default(),
        };
        let changes = old.changes_to(&Inventory::of_folder(&rules)?);
        let mut report = UpdateReport {
            installed: None,
            manifest,
            previous: previous.and_then(|installed| installed.manifest),
            changes,
            load_problems: set.load_errors.len(),
            compile_problems: set.report.errors.len(),
            needs_placeholders: set.report.needs_placeholders.len(),
            first_problems,
        };
        if options.dry_run {
            return Ok(report);
        }

        let manifest_path = staging.path().join(MANIFEST_FILE);
        let text =
            serde_json::to_vec_pretty(&report.manifest).map_err(|error| PackError::Manifest {
                path: manifest_path.clone(),
                error,
            })?;
        fs::write(&manifest_path, text).map_err(PackError::io(&manifest_path))?;
        let hold = staging.path().join(HOLD_FILE);
        File::create_new(&hold).map_err(PackError::io(&hold))?;
        sync_tree(staging.path())?;
        report.installed = Some(self.swap_in(staging)?);
        Ok(report)
    }

    /// Renames the verified `staging` folder to its `pack-*` name and points `CURRENT` at
    /// it; then deletes the folder it replaced. Returns the new rules folder.
    fn swap_in(&self, staging: tempfile::TempDir) -> Result<PathBuf, PackError> {
        let old = self.current_folder().ok().flatten();
        let suffix = staging
            .path()
            .file_name()
            .map(|name| {
                name.to_string_lossy()
                    .trim_start_matches(STAGING_PREFIX)
                    .to_owned()
            })
            .unwrap_or_default();
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let name = format!("{PACK_PREFIX}{stamp}-{suffix}");
        let folder = self.root.join(&name);
        fs::rename(staging.path(), &folder).map_err(PackError::io(&folder))?;
        // From here the folder is ours to remove if the pointer cannot be replaced.
        let _ = staging.keep();
        if let Err(error) = sync_dir(&self.root).and_then(|()| self.write_pointer(&name)) {
            let _ = fs::remove_dir_all(&folder);
            return Err(error);
        }
        // The rename of `CURRENT` made durable, so that the new set stays after a crash.
        // Best effort: the set is installed either way, and an error now would say it was
        // not.
        let _ = sync_dir(&self.root);
        // The set just replaced stays until the next update, so that a hunt that read
        // `CURRENT` a moment ago still finds every rule it started loading; older sets go.
        self.remove_packs_except(&[Some(&folder), old.as_ref()]);
        Ok(folder.join("rules"))
    }

    /// Replaces `CURRENT` with one naming `name`: written to a temporary file beside it,
    /// flushed, then renamed over it.
    fn write_pointer(&self, name: &str) -> Result<(), PackError> {
        let pointer = self.root.join(POINTER_FILE);
        let mut file = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempfile_in(&self.root)
            .map_err(PackError::io(&self.root))?;
        writeln!(file, "{name}").map_err(PackError::io(file.path()))?;
        file.as_file()
            .sync_all()
            .map_err(PackError::io(file.path()))?;
        file.persist(&pointer).map_err(|error| PackError::Io {
            path: pointer.clone(),
            error: error.error,
        })?;
        Ok(())
    }

    /// Takes the update lock, or fails at once if another update holds it.
    fn lock(&self) -> Result<File, PackError> {
        let path = self.root.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(PackError::io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(TryLockError::WouldBlock) => Err(PackError::Locked { path }),
            Err(TryLockError::Error(error)) => Err(PackError::Io { path, error }),
        }
    }

    /// Removes what an interrupted update left: staging folders and files. Runs under the
    /// lock, so none is in use by an update; package folders are left to
    /// [`Self::remove_packs_except`] after a successful swap.
    fn remove_leftovers(&self) -> Result<(), PackError> {
        let entries = fs::read_dir(&self.root).map_err(PackError::io(&self.root))?;
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(STAGING_PREFIX)
            {
                remove_entry(&entry.path());
            }
        }
        Ok(())
    }

    /// Removes every package folder but those in `keep` (best effort: a folder that cannot
    /// be removed now is tried again at the next update).
    fn remove_packs_except(&self, keep: &[Option<&PathBuf>]) {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_pack = entry.file_name().to_string_lossy().starts_with(PACK_PREFIX);
            if is_pack && !keep.iter().flatten().any(|kept| **kept == path) {
                remove_unheld(&self.root, &path);
            }
        }
    }
}

/// Removes the package folder `folder` unless a reader holds it (then it is tried again
/// at the next update). Under the exclusive lock, the folder is first renamed to a staging
/// name, in one atomic step, so that a reader sees the whole folder (and waits for the
/// lock, then finds it gone) or none of it, never a folder half deleted; then it is
/// deleted. An update that dies meanwhile leaves a staging folder, which the next one
/// removes.
fn remove_unheld(root: &Path, folder: &Path) {
    let hold = match File::open(folder.join(HOLD_FILE)) {
        Ok(file) => match file.try_lock() {
            Ok(()) => Some(file),
            Err(_) => return,
        },
        Err(_) => None,
    };
    let name = folder
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let doomed = root.join(format!("{STAGING_PREFIX}removed-{name}"));
    if fs::rename(folder, &doomed).is_ok() {
        remove_entry(&doomed);
    }
    drop(hold);
}

/// fsyncs every file and folder under `root`, and `root` itself.
fn sync_tree(root: &Path) -> Result<(), PackError> {
    for entry in walkdir::WalkDir::new(root).contents_first(true) {
        let entry = entry.map_err(|error| PackError::Io {
            path: error.path().unwrap_or(root).to_path_buf(),
            error: error.into(),
        })?;
        if entry.file_type().is_dir() {
            sync_dir(entry.path())?;
        } else if entry.file_type().is_file() {
            File::open(entry.path())
                .and_then(|file| file.sync_all())
                .map_err(PackError::io(entry.path()))?;
        }
    }
    Ok(())
}

/// fsyncs the folder `dir`, making the names created or renamed in it durable. Only
/// Unix can open a folder to fsync it; elsewhere this does nothing.
fn sync_dir(dir: &Path) -> Result<(), PackError> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|folder| folder.sync_all())
        .map_err(PackError::io(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Removes a folder with its contents, or a file (best effort).
fn remove_entry(path: &Path) {
    let _ = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::tests::zip_of;

    fn rule(id: &str, title: &str, image: &str) -> String {
        format!(
            "title: {title}\nid: {id}\nlogsource: {{product: windows, category: process_creation}}\n\
             detection: {{sel: {{Image|endswith: '{image}'}}, condition: sel}}\n"
        )
    }

    struct Fixture {
        dir: tempfile::TempDir,
        store: RuleStore,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let store = RuleStore::new(&dir.path().join("data"));
            Fixture { dir, store }
        }

        fn zip(&self, name: &str, entries: &[(&str, &[u8])]) -> PathBuf {
            let path = self.dir.path().join(name);
            fs::write(&path, zip_of(entries)).unwrap();
            path
        }

        /// The installed rule files and their bytes.
        fn installed_files(&self) -> Vec<(String, String)> {
            let Some(installed) = self.store.installed().unwrap() else {
                return Vec::new();
            };
            let mut files: Vec<(String, String)> = walkdir::WalkDir::new(&installed.rules)
                .into_iter()
                .map(Result::unwrap)
                .filter(|e| e.file_type().is_file())
                .map(|e| {
                    let relative = e.path().strip_prefix(&installed.rules).unwrap();
                    (
                        relative.to_string_lossy().into_owned(),
                        fs::read_to_string(e.path()).unwrap(),
                    )
                })
                .collect();
            files.sort();
            files
        }
    }

    #[test]
    fn install_then_update_reports_changes_and_keeps_the_replaced_set_until_the_next() {
        let f = Fixture::new();
        assert_eq!(f.store.installed().unwrap(), None);
        let a = rule("1", "A", "a.exe");
        let b = rule("2", "B", "b.exe");
        let first = f.zip(
            "one.zip",
            &[("rules/a.yml", a.as_bytes()), ("rules/b.yml", b.as_bytes())],
        );
        let mut options = InstallOptions::new("https://example.test/one.zip");
        options.pack = Some("core".into());
        let report = f.store.install(&Source::Zip(&first), &options).unwrap();
        assert_eq!(report.changes.added.len(), 2);
        assert_eq!(report.manifest.rules, 2);
        assert_eq!(report.manifest.sha256, Some(sha256_file(&first).unwrap()));
        let installed = f.store.installed().unwrap().unwrap();
        assert_eq!(installed.manifest.as_ref(), Some(&report.manifest));
        assert_eq!(Some(installed.rules.clone()), report.installed);
        let first_set = installed.rules.clone();

        let b2 = rule("2", "B", "b2.exe");
        let c = rule("3", "C", "c.exe");
        let second = f.zip(
            "two.zip",
            &[
                ("rules/b.yml", b2.as_bytes()),
                ("rules/c.yml", c.as_bytes()),
            ],
        );
        let report = f
            .store
            .install(&Source::Zip(&second), &InstallOptions::new("two"))
            .unwrap();
        let titles =
            |list: &[crate::RuleEntry]| list.iter().map(|e| e.title.clone()).collect::<Vec<_>>();
        assert_eq!(titles(&report.changes.added), ["C"]);
        assert_eq!(titles(&report.changes.removed), ["A"]);
        assert_eq!(titles(&report.changes.changed), ["B"]);
        assert_eq!(
            report.previous.map(|m| m.source),
            Some("https://example.test/one.zip".into())
        );
        // The new package folder and the one it replaced (kept for hunts still reading
        // it), the pointer, the lock: nothing else left behind.
        let names = || {
            let mut names: Vec<String> = fs::read_dir(f.store.root())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let after_second = names();
        assert_eq!(after_second.len(), 4, "{after_second:?}");
        assert_eq!(&after_second[..2], [".lock", "CURRENT"]);
        assert!(after_second[2..].iter().all(|n| n.starts_with("pack-")));
        let second_set = f.store.installed().unwrap().unwrap().rules;
        assert!(first_set.exists(), "the set just replaced stays");
        // A third update removes the first set and keeps the second.
        f.store
            .install(&Source::Zip(&first), &InstallOptions::new("three"))
            .unwrap();
        assert_eq!(names().len(), 4, "{:?}", names());
        assert!(!first_set.exists(), "{:?}", names());
        assert!(second_set.exists(), "{:?}", names());
    }

    #[test]
    fn a_held_set_outlives_two_updates_and_goes_at_the_next_after_release() {
        let f = Fixture::new();
        let a = rule("1", "A", "a.exe");
        let zip = f.zip("a.zip", &[("a.yml", a.as_bytes())]);
        let install = |origin: &str| {
            f.store
                .install(&Source::Zip(&zip), &InstallOptions::new(origin))
                .unwrap()
        };
        assert!(f.store.hold_installed().unwrap().is_none());
        install("one");
        let held = f.store.hold_installed().unwrap().unwrap();
        let rules = held.installed.rules.clone();
        assert_eq!(held.installed, f.store.installed().unwrap().unwrap());
        install("two");
        install("three");
        assert!(rules.join("a.yml").is_file(), "a held set is never deleted");
        drop(held);
        install("four");
        assert!(!rules.exists(), "released, it goes at the next update");
        // A hold taken now names the current set.
        let held = f.store.hold_installed().unwrap().unwrap();
        let current = held.installed.manifest.as_ref().map(|m| m.source.clone());
        assert_eq!(current.as_deref(), Some("four"));
    }

    #[test]
    fn failed_updates_leave_the_installed_set_untouched() {
        let f = Fixture::new();
        let a = rule("1", "A", "a.exe");
        let good = f.zip("good.zip", &[("a.yml", a.as_bytes())]);
        f.store
            .install(&Source::Zip(&good), &InstallOptions::new("good"))
            .unwrap();
        let before = f.installed_files();

        let not_zip = f.dir.path().join("page.zip");
        fs::write(&not_zip, "<html>").unwrap();
        let escaping = f.zip(
            "slip.zip",
            &[("a.yml", a.as_bytes()), ("../x.yml", a.as_bytes())],
        );
        let no_rules = f.zip(
            "empty.zip",
            &[("README.md", b"hello"), ("x.yml", b"title: [")],
        );
        let mut wrong_sum = InstallOptions::new("good");
        wrong_sum.expected_sha256 = Some("0".repeat(64));
        let mut bad_sum = InstallOptions::new("good");
        bad_sum.expected_sha256 = Some("xyz".into());

        let attempts = [
            f.store
                .install(&Source::Zip(&not_zip), &InstallOptions::new("x")),
            f.store
                .install(&Source::Zip(&escaping), &InstallOptions::new("x")),
            f.store
                .install(&Source::Zip(&no_rules), &InstallOptions::new("x")),
            f.store.install(&Source::Zip(&good), &wrong_sum),
            f.store.install(&Source::Zip(&good), &bad_sum),
            f.store.install(
                &Source::Folder(&f.dir.path().join("none")),
                &InstallOptions::new("x"),
            ),
        ];
        assert!(matches!(attempts[0], Err(PackError::NotZip { .. })));
        assert!(matches!(attempts[1], Err(PackError::UnsafeEntry { .. })));
        assert!(
            matches!(attempts[2], Err(PackError::NoRules { files: 1, .. })),
            "{:?}",
            attempts[2]
        );
        assert!(matches!(
            attempts[3],
            Err(PackError::ChecksumMismatch { .. })
        ));
        assert!(matches!(attempts[4], Err(PackError::BadChecksum(_))));
        assert!(matches!(attempts[5], Err(PackError::NotAFolder { .. })));
        assert_eq!(f.installed_files(), before);
        assert!(fs::read_dir(f.store.root()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(STAGING_PREFIX)));
    }

    #[test]
    fn a_dry_run_installs_nothing_and_a_right_checksum_passes() {
        let f = Fixture::new();
        let a = rule("1", "A", "a.exe");
        let good = f.zip("good.zip", &[("a.yml", a.as_bytes())]);
        let mut options = InstallOptions::new("good");
        options.dry_run = true;
        options.expected_sha256 = Some(sha256_file(&good).unwrap().to_uppercase());
        let report = f.store.install(&Source::Zip(&good), &options).unwrap();
        assert_eq!(report.installed, None);
        assert_eq!(report.changes.added.len(), 1);
        assert_eq!(f.store.installed().unwrap(), None);
    }

    #[test]
    fn a_second_update_waits_for_none_and_fails_at_once() {
        let f = Fixture::new();
        fs::create_dir_all(f.store.root()).unwrap();
        let _held = f.store.lock().unwrap();
        let a = rule("1", "A", "a.exe");
        let good = f.zip("good.zip", &[("a.yml", a.as_bytes())]);
        let result = f
            .store
            .install(&Source::Zip(&good), &InstallOptions::new("good"));
        assert!(
            matches!(result, Err(PackError::Locked { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn a_pointer_to_elsewhere_is_refused() {
        let f = Fixture::new();
        fs::create_dir_all(f.store.root()).unwrap();
        fs::write(f.store.root().join(POINTER_FILE), "../../etc\n").unwrap();
        assert!(matches!(f.store.installed(), Err(PackError::Broken { .. })));
    }
}
