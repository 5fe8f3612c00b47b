//! Output files that can never destroy evidence: `-o FILE` is refused when it names an
//! input, a file inside a hunted folder, or the incident store (or its `-wal`/`-shm`
//! companions), and a regular file (or a new one) is written to a temporary file beside it
//! that replaces it only once complete, so a failed or interrupted run leaves the previous
//! file as it was. Anything else that exists (`/dev/null`, a named pipe, a terminal) is
//! written in place: renaming over a device would replace the device itself.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tempfile::{NamedTempFile, TempPath};

/// The files an output must not replace.
#[derive(Debug, Default)]
pub struct Protected<'a> {
    /// Inputs: files, or folders whose every file is protected.
    pub inputs: &'a [PathBuf],
    /// The incident store, if the command uses one.
    pub store: Option<&'a Path>,
}

/// Refuses `output` when it would replace a protected file (see the module documentation).
pub fn check(output: &Path, protected: &Protected<'_>) -> Result<()> {
    let target = absolute(output)?;
    for input in protected.inputs {
        if input.as_os_str() == "-" {
            continue;
        }
        let input = absolute(input)?;
        if target == input || (input.is_dir() && target.starts_with(&input)) {
            bail!(
                "refusing to write the output to {}: it is an input of this command (it would be destroyed)",
                output.display()
            );
        }
    }
    if let Some(store) = protected.store {
        let store = absolute(store)?;
        let companions = ["", "-wal", "-shm", "-journal"].map(|suffix| {
            let mut name = store.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        });
        if companions.contains(&target) {
            bail!(
                "refusing to write the output to {}: it is the incident store",
                output.display()
            );
        }
    }
    Ok(())
}

/// A path made absolute and, as far as it exists, free of `.`, `..` and symbolic links, so
/// that two spellings of one file compare equal.
fn absolute(path: &Path) -> Result<PathBuf> {
    if let Ok(canonical) = path.canonicalize() {
        return Ok(canonical);
    }
    let absolute = std::path::absolute(path)
        .with_context(|| format!("cannot resolve the path {}", path.display()))?;
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => Ok(parent
            .canonicalize()
            .map_or_else(|_| absolute.clone(), |parent| parent.join(name))),
        _ => Ok(absolute),
    }
}

/// An output being written: a temporary file beside the target, which [`Pending::commit`]
/// renames over it, or a special file written in place.
pub enum Pending {
    /// A temporary file to rename over the target.
    Replace {
        /// The temporary file (deleted if never committed).
        temp: TempPath,
        /// The file it replaces.
        target: PathBuf,
    },
    /// A device, pipe or terminal, written in place.
    InPlace,
}

/// Whether `target` is written through a temporary file: a regular file, or a new one.
fn replaced_whole(target: &Path) -> bool {
    std::fs::metadata(target).map_or(true, |meta| meta.is_file())
}

/// Opens `target` for writing (through a temporary file in the same folder when it is a
/// regular or new file); returns the file to write and what commits it.
pub fn create(target: &Path) -> Result<(File, Pending)> {
    if !replaced_whole(target) {
        let file = File::options()
            .write(true)
            .open(target)
            .with_context(|| format!("cannot open output file {}", target.display()))?;
        return Ok((file, Pending::InPlace));
    }
    let folder = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temp = NamedTempFile::new_in(folder)
        .with_context(|| format!("cannot create output file {}", target.display()))?;
    let (file, temp) = temp.into_parts();
    let pending = Pending::Replace {
        temp,
        target: target.to_path_buf(),
    };
    Ok((file, pending))
}

impl Pending {
    /// Replaces the target with the complete output (nothing to do for a special file).
    pub fn commit(self) -> Result<()> {
        let Pending::Replace { temp, target } = self else {
            return Ok(());
        };
        temp.persist(&target)
            .map_err(|error| error.error)
            .with_context(|| format!("cannot write output file {}", target.display()))
    }
}

/// Writes `bytes` to `target` through a temporary file, once complete.
pub fn write_whole(target: &Path, bytes: &[u8]) -> Result<()> {
    let (mut file, pending) = create(target)?;
    file.write_all(bytes)
        .and_then(|()| file.flush())
        .with_context(|| format!("cannot write output file {}", target.display()))?;
    pending.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_a_file_in_a_hunted_folder_and_the_store_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        let victim = logs.join("victim.jsonl");
        std::fs::write(&victim, "{}\n").unwrap();
        let store = dir.path().join("s.db");
        let inputs = [logs.clone()];
        let protected = Protected {
            inputs: &inputs,
            store: Some(&store),
        };
        assert!(
            check(&victim, &protected).is_err(),
            "inside a hunted folder"
        );
        assert!(
            check(&logs.join("new.jsonl"), &protected).is_err(),
            "inside"
        );
        let dotted = dir.path().join("logs/../logs/victim.jsonl");
        assert!(check(&dotted, &protected).is_err(), "another spelling");
        assert!(check(&store, &protected).is_err(), "the store");
        assert!(check(&dir.path().join("s.db-wal"), &protected).is_err());
        assert!(check(&dir.path().join("out.jsonl"), &protected).is_ok());
        let files = [victim.clone()];
        let one_file = Protected {
            inputs: &files,
            store: None,
        };
        assert!(check(&victim, &one_file).is_err(), "the input itself");
    }

    #[test]
    fn devices_are_written_in_place_never_replaced() {
        assert!(!replaced_whole(Path::new("/dev/null")), "a device");
        let dir = tempfile::tempdir().unwrap();
        assert!(replaced_whole(&dir.path().join("new.txt")), "a new file");
        let existing = dir.path().join("old.txt");
        std::fs::write(&existing, "x").unwrap();
        assert!(replaced_whole(&existing), "a regular file");
        let (_, pending) = create(Path::new("/dev/null")).unwrap();
        assert!(matches!(pending, Pending::InPlace));
    }

    #[test]
    fn the_target_is_replaced_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        std::fs::write(&target, "previous").unwrap();
        let (mut file, pending) = create(&target).unwrap();
        file.write_all(b"half").unwrap();
        drop(file);
        drop(pending);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "previous");
        write_whole(&target, b"complete").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "complete");
    }
}
