//! What can go wrong while installing a rule package. Every error names the file or
//! folder at fault; the command line adds the source the user named.

use std::path::PathBuf;

/// A failed look at, or installation of, a rule package. The installed set is untouched by
/// every one of them.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A file or folder could not be read or written.
    #[error("{path}: {error}", path = path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why (in the message, not as a `source`, so that the chain says it once).
        error: std::io::Error,
    },
    /// The package is not a zip archive (or its directory is damaged).
    #[error("{path}: not a readable zip archive: {error}", path = path.display())]
    NotZip {
        /// The archive.
        path: PathBuf,
        /// What the zip reader said.
        error: zip::result::ZipError,
    },
    /// An entry of the archive could not be unpacked (damaged data, a bad checksum).
    #[error("{path}: entry {entry:?} cannot be unpacked: {reason}", path = path.display())]
    Corrupt {
        /// The archive.
        path: PathBuf,
        /// The entry's name.
        entry: String,
        /// What the zip reader said.
        reason: String,
    },
    /// An entry would land outside the folder it is unpacked into (`../`, an absolute
    /// path), the classic "zip slip".
    #[error("{path}: entry {entry:?} points outside the package; refused", path = path.display())]
    UnsafeEntry {
        /// The archive.
        path: PathBuf,
        /// The entry's name.
        entry: String,
    },
    /// An entry is a symbolic link, which a rule package never needs and which could point
    /// anywhere.
    #[error("{path}: entry {entry:?} is a symbolic link; refused", path = path.display())]
    Symlink {
        /// The archive.
        path: PathBuf,
        /// The entry's name.
        entry: String,
    },
    /// The package unpacks to more bytes than [`Limits::max_unpacked_bytes`](crate::Limits).
    #[error("{path}: more than {limit} bytes once unpacked; refused", path = path.display())]
    TooLarge {
        /// The archive or folder.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// The package has more entries than [`Limits::max_entries`](crate::Limits).
    #[error("{path}: more than {limit} files; refused", path = path.display())]
    TooManyEntries {
        /// The archive or folder.
        path: PathBuf,
        /// The limit.
        limit: usize,
    },
    /// The expected SHA-256 is not 64 hexadecimal digits.
    #[error("expected SHA-256 {0:?} is not 64 hexadecimal digits")]
    BadChecksum(String),
    /// The package's SHA-256 is not the one expected.
    #[error("{path}: SHA-256 is {actual}, expected {expected}; refused", path = path.display())]
    ChecksumMismatch {
        /// The archive.
        path: PathBuf,
        /// The digest given.
        expected: String,
        /// The archive's digest.
        actual: String,
    },
    /// A folder source is not a folder.
    #[error("{path}: not a folder", path = path.display())]
    NotAFolder {
        /// The path given.
        path: PathBuf,
    },
    /// Not one rule of the package loads and compiles: it is not a Sigma rule package, or
    /// tocsin cannot read any of it.
    #[error("no rule of the package could be loaded ({files} rule files, {problems} problems){}", first.as_ref().map(|f| format!("; first problem: {f}")).unwrap_or_default())]
    NoRules {
        /// Rule files found.
        files: usize,
        /// Load and compile problems.
        problems: usize,
        /// The first problem, if any.
        first: Option<String>,
    },
    /// The rules could not be compiled at all (the pipeline's error, as text: said once).
    #[error("cannot verify the rules: {0}")]
    Verify(String),
    /// The installed set's pointer names a folder that is not there.
    #[error("{path}: the installed rules are missing (run `tocsin rules update` again)", path = path.display())]
    Broken {
        /// The folder the pointer names.
        path: PathBuf,
    },
    /// Another update holds the lock on the installed set.
    #[error("{path}: another `tocsin rules update` is running", path = path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The manifest could not be written or read.
    #[error("{path}: {error}", path = path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// Why.
        error: serde_json::Error,
    },
}

impl PackError {
    /// An [`Io`](PackError::Io) error for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PackError {
        let path = path.into();
        move |error| PackError::Io { path, error }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn causes_are_said_once() {
        // anyhow's `{:#}` prints each source after the message: a cause both in the
        // message and as a source would be printed twice.
        let io = PackError::io("a.zip")(std::io::Error::other("disk on fire"));
        assert_eq!(io.to_string(), "a.zip: disk on fire");
        assert!(io.source().is_none());
        let not_zip = PackError::NotZip {
            path: "a.zip".into(),
            error: zip::result::ZipError::InvalidArchive("bad".into()),
        };
        assert!(not_zip.source().is_none());
    }
}
