//! Reading rule files and folders from disk.

use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::ast::Document;
use crate::error::{ErrorKind, SigmaError};

/// What [`load_paths`] read: the documents that parsed, the errors of those that did not,
/// and how many files were read.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    /// Every document that parsed and validated, in file order.
    pub documents: Vec<Document>,
    /// One error per document (or unreadable file, or YAML syntax error) that failed.
    pub errors: Vec<SigmaError>,
    /// The number of files read (or attempted).
    pub files: usize,
}

/// Loads files and folders. Folders are walked recursively for `.yml` / `.yaml` files
/// (symbolic links to folders are not followed), in sorted path order so that results are
/// deterministic; a file named directly is read whatever its extension.
///
/// Never fails as a whole: an unreadable path or a broken document becomes an entry of
/// [`LoadOutcome::errors`] and loading goes on. Files are parsed on all cores; the result
/// is in the same order as a sequential load.
pub fn load_paths(paths: &[PathBuf]) -> LoadOutcome {
    let mut outcome = LoadOutcome::default();
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let start = files.len();
            walk(path, &mut files, &mut outcome.errors);
            files[start..].sort();
        } else {
            files.push(path.clone());
        }
    }
    outcome.files = files.len();
    let parsed: Vec<_> = files.par_iter().map(|file| load_file(file)).collect();
    for result in parsed.into_iter().flatten() {
        match result {
            Ok(document) => outcome.documents.push(document),
            Err(error) => outcome.errors.push(error),
        }
    }
    outcome
}

/// Reads and parses one file.
fn load_file(path: &Path) -> Vec<Result<crate::ast::Document, SigmaError>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => {
            return vec![Err(SigmaError::new(
                path,
                0,
                ErrorKind::Io(err.to_string()),
            ))]
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) => crate::parse_documents(&text, path),
        Err(err) => vec![Err(SigmaError::new(
            path,
            0,
            ErrorKind::Io(format!("not valid UTF-8: {err}")),
        ))],
    }
}

/// Collects the `.yml` / `.yaml` files under `dir`.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<SigmaError>) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            errors.push(SigmaError::new(dir, 0, ErrorKind::Io(err.to_string())));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                errors.push(SigmaError::new(dir, 0, ErrorKind::Io(err.to_string())));
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, files, errors),
            Ok(_) if is_yaml(&path) => files.push(path),
            Ok(_) => {}
            Err(err) => errors.push(SigmaError::new(&path, 0, ErrorKind::Io(err.to_string()))),
        }
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}
