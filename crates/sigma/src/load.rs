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

/// The rule files a load reads: every file named, and the `.yml` / `.yaml` files of every
/// folder named (walked recursively, symbolic links to folders not followed), each
/// folder's files in sorted path order; with the folders walked, so that a cache of what
/// was loaded can tell when a folder gained or lost a file.
#[derive(Debug, Default)]
pub struct RuleFiles {
    /// The files, in load order.
    pub files: Vec<PathBuf>,
    /// The folders walked, the named ones included.
    pub folders: Vec<PathBuf>,
    /// Folders or entries that could not be read.
    pub errors: Vec<SigmaError>,
}

/// Lists the rule files of `paths` (see [`RuleFiles`]).
pub fn rule_files(paths: &[PathBuf]) -> RuleFiles {
    let mut found = RuleFiles::default();
    for path in paths {
        if path.is_dir() {
            let start = found.files.len();
            walk(path, &mut found);
            found.files[start..].sort();
        } else {
            found.files.push(path.clone());
        }
    }
    found
}

/// Loads files and folders. Folders are walked recursively for `.yml` / `.yaml` files
/// (symbolic links to folders are not followed), in sorted path order so that results are
/// deterministic; a file named directly is read whatever its extension.
///
/// Never fails as a whole: an unreadable path or a broken document becomes an entry of
/// [`LoadOutcome::errors`] and loading goes on. Files are parsed on all cores; the result
/// is in the same order as a sequential load.
pub fn load_paths(paths: &[PathBuf]) -> LoadOutcome {
    let listed = rule_files(paths);
    let contents = read_files(&listed.files);
    parse_files(listed, contents)
}

/// The content of each of `files` (read on all cores), or why it could not be read.
pub fn read_files(files: &[PathBuf]) -> Vec<std::io::Result<Vec<u8>>> {
    files.par_iter().map(fs::read).collect()
}

/// Parses rule files already read: `contents` holds each of `listed.files`' bytes (see
/// [`read_files`]), so that a caller can fingerprint exactly the bytes the rules come from.
/// The listing's errors come first, as in [`load_paths`].
pub fn parse_files(listed: RuleFiles, contents: Vec<std::io::Result<Vec<u8>>>) -> LoadOutcome {
    let mut outcome = LoadOutcome {
        errors: listed.errors,
        files: listed.files.len(),
        ..LoadOutcome::default()
    };
    let parsed: Vec<_> = listed
        .files
        .into_par_iter()
        .zip(contents)
        .map(|(file, content)| parse_file(&file, content))
        .collect();
    for result in parsed.into_iter().flatten() {
        match result {
            Ok(document) => outcome.documents.push(document),
            Err(error) => outcome.errors.push(error),
        }
    }
    outcome
}

/// Parses one file's bytes (or reports why they could not be read).
fn parse_file(
    path: &Path,
    content: std::io::Result<Vec<u8>>,
) -> Vec<Result<crate::ast::Document, SigmaError>> {
    let bytes = match content {
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

/// Collects the `.yml` / `.yaml` files under `dir`, and the folders walked.
fn walk(dir: &Path, found: &mut RuleFiles) {
    found.folders.push(dir.to_path_buf());
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            found
                .errors
                .push(SigmaError::new(dir, 0, ErrorKind::Io(err.to_string())));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                found
                    .errors
                    .push(SigmaError::new(dir, 0, ErrorKind::Io(err.to_string())));
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, found),
            Ok(_) if is_yaml(&path) => found.files.push(path),
            Ok(_) => {}
            Err(err) => {
                found
                    .errors
                    .push(SigmaError::new(&path, 0, ErrorKind::Io(err.to_string())))
            }
        }
    }
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}
