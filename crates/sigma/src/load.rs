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

impl RuleFiles {
    /// Adds what a later walk found after what this one holds.
    fn append(&mut self, later: RuleFiles) {
        self.files.extend(later.files);
        self.folders.extend(later.folders);
        self.errors.extend(later.errors);
    }
}

/// Lists the rule files of `paths` (see [`RuleFiles`]).
pub fn rule_files(paths: &[PathBuf]) -> RuleFiles {
    let mut found = RuleFiles::default();
    for path in paths {
        if path.is_dir() {
            found.append(walk(path, 0));
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
    // Each file parsed by the thread that read it, as soon as it is read.
    let parsed = listed
        .files
        .par_iter()
        .map(|file| parse_file(file, fs::read(file)))
        .collect();
    outcome_of(listed, parsed)
}

/// The content of each of `files` (read on all cores), or why it could not be read.
pub fn read_files(files: &[PathBuf]) -> Vec<std::io::Result<Vec<u8>>> {
    files.par_iter().map(fs::read).collect()
}

/// Parses rule files already read: `contents` holds each of `listed.files`' bytes (see
/// [`read_files`]), so that a caller can fingerprint exactly the bytes the rules come from.
/// The listing's errors come first, as in [`load_paths`].
pub fn parse_files(listed: RuleFiles, contents: Vec<std::io::Result<Vec<u8>>>) -> LoadOutcome {
    let parsed = listed
        .files
        .par_iter()
        .zip(contents)
        .map(|(file, content)| parse_file(file, content))
        .collect();
    outcome_of(listed, parsed)
}

/// The outcome of a load: the listing's errors, then each file's documents and errors in
/// file order.
fn outcome_of(
    listed: RuleFiles,
    parsed: Vec<Vec<Result<crate::ast::Document, SigmaError>>>,
) -> LoadOutcome {
    let mut outcome = LoadOutcome {
        errors: listed.errors,
        files: listed.files.len(),
        ..LoadOutcome::default()
    };
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

/// How many levels of folders [`walk`] walks on all cores; deeper ones are walked by the
/// thread that reached them.
const PARALLEL_LEVELS: usize = 3;

/// The `.yml` / `.yaml` files under `dir` (`depth` levels below a folder named) and the
/// folders walked, in sorted path order.
///
/// Each folder's entries are sorted by name and walked depth first, which is the order of
/// their whole paths (paths compare component by component); sub-folders are walked on all
/// cores (a rule repository has a hundred of them, most within [`PARALLEL_LEVELS`]) and
/// joined in that order.
fn walk(dir: &Path, depth: usize) -> RuleFiles {
    let mut found = RuleFiles {
        folders: vec![dir.to_path_buf()],
        ..RuleFiles::default()
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            found
                .errors
                .push(SigmaError::new(dir, 0, ErrorKind::Io(err.to_string())));
            return found;
        }
    };
    let mut children = Vec::new();
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
            Ok(t) if t.is_dir() => children.push((path, true)),
            Ok(_) if is_yaml(&path) => children.push((path, false)),
            Ok(_) => {}
            Err(err) => {
                found
                    .errors
                    .push(SigmaError::new(&path, 0, ErrorKind::Io(err.to_string())))
            }
        }
    }
    children.sort_unstable_by(|(a, _), (b, _)| a.file_name().cmp(&b.file_name()));
    let walk_child = |(path, is_dir): &(PathBuf, bool)| is_dir.then(|| walk(path, depth + 1));
    // Only the top levels on all cores: each level of a parallel walk takes several stack
    // frames of a worker thread, and a hostile folder tree can be two thousand levels deep.
    let walked: Vec<Option<RuleFiles>> = if depth < PARALLEL_LEVELS {
        children.par_iter().map(walk_child).collect()
    } else {
        children.iter().map(walk_child).collect()
    };
    for ((path, _), sub) in children.into_iter().zip(walked) {
        match sub {
            Some(sub) => found.append(sub),
            None => found.files.push(path),
        }
    }
    found
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under the system's temporary one, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("tocsin-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).expect("temporary folder");
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn files_and_folders_are_listed_in_sorted_path_order() {
        let scratch = Scratch::new("sigma-walk");
        let root = &scratch.0;
        // `a-b.yml` sorts before `a/…` as a string ('-' < '/'), after it as a path: the
        // folder `a` is a shorter component than `a-b.yml`.
        let files = [
            "a.yml",
            "a-b.yml",
            "B.yml",
            "a/z.yml",
            "a/b/c.yml",
            "a/b.yaml",
            "a/b/a/deep.yml",
            "c/x.YML",
            "c/y.yml",
            "_/first.yml",
        ];
        for file in files {
            let path = root.join(file);
            fs::create_dir_all(path.parent().expect("a parent")).expect("folder");
            fs::write(&path, "title: t\n").expect("file");
        }
        fs::write(root.join("a/notes.txt"), "not a rule").expect("file");
        fs::create_dir_all(root.join("empty")).expect("folder");

        let listed = rule_files(std::slice::from_ref(root));

        let mut expected: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
        expected.sort();
        assert_eq!(listed.files, expected);
        let mut folders = listed.folders.clone();
        folders.sort();
        assert_eq!(
            listed.folders, folders,
            "folders walked in sorted order too"
        );
        assert_eq!(listed.folders.len(), 7, "{:?}", listed.folders);
        assert!(listed.errors.is_empty());
    }
}
