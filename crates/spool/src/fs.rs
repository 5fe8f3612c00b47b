//! The spool's folder: listing, creating and deleting segment files, syncing the folder
//! so that those changes survive a power loss, and the lock that keeps out a second
//! spool.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::segment::{encode_header, file_name, parse_name};
use crate::{Error, Position};

/// The lock file's name.
const LOCK: &str = "LOCK";
/// The suffix of a segment being created, renamed into place once its header is durable.
const TMP: &str = ".tmp";

/// The path of the segment starting at `start`.
pub(crate) fn segment_path(dir: &Path, start: Position) -> PathBuf {
    dir.join(file_name(start))
}

/// Creates the folder if needed and locks it for this process; the lock lasts as long as
/// the returned file (and ends with the process, however it dies).
pub(crate) fn lock(dir: &Path) -> Result<File, Error> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create the folder", dir, None, e))?;
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("open", &path, None, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked { path }),
        Err(fs::TryLockError::Error(e)) => Err(Error::io("lock", path, None, e)),
    }
}

/// The starts of the segments in the folder, in order. Removes what a crash left of a
/// segment being created (its header was not yet durable, so it held no record).
pub(crate) fn list(dir: &Path) -> Result<Vec<Position>, Error> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list", dir, None, e))?;
    let mut starts = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, None, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(start) = parse_name(name) {
            starts.push(start);
        } else if name.strip_suffix(TMP).and_then(parse_name).is_some() {
            let path = entry.path();
            fs::remove_file(&path).map_err(|e| Error::io("remove", path, None, e))?;
        }
    }
    starts.sort();
    Ok(starts)
}

/// Creates the segment starting at `start`, empty but for its header, and returns it open
/// for writing at its end. The header is written under a temporary name and renamed into
/// place, so a segment file always has a whole header. With `sync`, the file and the
/// folder are fsynced before it is used.
pub(crate) fn create(dir: &Path, start: Position, sync: bool) -> Result<File, Error> {
    let path = segment_path(dir, start);
    let tmp = dir.join(format!("{}{TMP}", file_name(start)));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, None, e))?;
    file.write_all(&encode_header(start))
        .map_err(|e| Error::io("write", &tmp, Some(0), e))?;
    if sync {
        file.sync_all()
            .map_err(|e| Error::io("fsync", &tmp, None, e))?;
    }
    fs::rename(&tmp, &path).map_err(|e| Error::io("rename into place", &tmp, None, e))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(file)
}

/// Deletes the segment starting at `start`.
pub(crate) fn remove(dir: &Path, start: Position) -> Result<(), Error> {
    let path = segment_path(dir, start);
    fs::remove_file(&path).map_err(|e| Error::io("delete", path, None, e))
}

/// fsyncs the folder, so that files created, renamed or deleted in it stay so.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync the folder", dir, None, e))
}

/// Folders cannot be opened for fsync here; their entries are made durable by the file
/// system itself.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<(), Error> {
    Ok(())
}
