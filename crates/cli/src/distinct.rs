//! Inputs named one way and each read once. A source is named by its canonical absolute
//! path, so that `hunt` and `events` name it alike whichever way it was typed. The same
//! file named twice, reached through a symbolic link, named beside a folder that holds it,
//! or copied into two collections, would otherwise be hunted twice, and its doubled events
//! would fire correlations that count (five failed logons read twice are ten).
//!
//! Files are the same when they are one file (on Unix its device and inode, elsewhere its
//! canonical path), or when their sizes and
//! contents are equal (a file that shares its size with another is read for a hash of its
//! first [`HASHED_PREFIX`] bytes, and read whole only to confirm a copy). Files found by walking a folder
//! keep the path they were found under.

use std::collections::HashMap;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// The inputs by their canonical absolute paths (`-`, standard input, as it is), so that a
/// detection's source, printed and stored, is the same whichever way the path was typed and
/// from whichever folder. A path that cannot be resolved is kept as typed: reading it
/// reports the problem.
pub fn canonical_inputs(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(|path| match path.as_os_str() == "-" {
            true => path.clone(),
            false => std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()),
        })
        .collect()
}

/// A file left out because it is another input again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// The file left out.
    pub path: PathBuf,
    /// The input it repeats, which is read.
    pub same_as: PathBuf,
    /// Whether it is the same file (`false`: a copy with the same content).
    pub same_file: bool,
}

impl std::fmt::Display for Duplicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.same_file {
            "the same file as"
        } else {
            "a copy of"
        };
        write!(
            f,
            "{} is read once: it is {what} {}",
            self.path.display(),
            self.same_as.display()
        )
    }
}

/// `files` with every repeat left out (the first occurrence is kept, in order), and what
/// was left out. Standard input (`-`) and files that cannot be examined are kept as they
/// are: reading them reports their own errors.
///
/// Files of a size no other file has are not read. Files that share a size are each read
/// once for a hash of their first 8 KiB, and a file is compared byte for byte only with
/// the kept files of the same size and hash: a collection of many equally sized files (EVTX
/// files of one chunk are all 69,632 bytes; archived logs at their size cap) costs one
/// block each, not a read per pair, and only a real copy is read whole.
pub fn distinct_files(files: Vec<PathBuf>) -> (Vec<PathBuf>, Vec<Duplicate>) {
    let (kept, duplicates) = distinct_sized_files(files);
    (kept.into_iter().map(|(path, _)| path).collect(), duplicates)
}

/// [`distinct_files`], each kept file with its size (`None` for standard input and files
/// that cannot be examined), so that a caller ordering files by size does not ask the
/// system for each again.
pub fn distinct_sized_files(files: Vec<PathBuf>) -> (Vec<(PathBuf, Option<u64>)>, Vec<Duplicate>) {
    let mut kept: Vec<PathBuf> = Vec::with_capacity(files.len());
    let mut sizes: Vec<Option<u64>> = Vec::with_capacity(files.len());
    let mut duplicates = Vec::new();
    let mut by_identity: HashMap<FileId, usize> = HashMap::new();
    let mut by_size: HashMap<u64, SameSize> = HashMap::new();
    for path in files {
        let Some((id, size)) = identity(&path) else {
            kept.push(path);
            sizes.push(None);
            continue;
        };
        if let Some(&first) = by_identity.get(&id) {
            duplicates.push(Duplicate {
                same_as: kept[first].clone(),
                path,
                same_file: true,
            });
            continue;
        }
        let same_size = by_size.entry(size).or_default();
        let hash = match same_size.copy_of(&path, &kept) {
            Ok(first) => {
                duplicates.push(Duplicate {
                    same_as: kept[first].clone(),
                    path,
                    same_file: false,
                });
                continue;
            }
            Err(hash) => hash,
        };
        same_size.add(kept.len(), hash);
        by_identity.insert(id, kept.len());
        kept.push(path);
        sizes.push(Some(size));
    }
    (kept.into_iter().zip(sizes).collect(), duplicates)
}

/// The kept files of one size: the first alone until a second arrives, then each by its
/// content hash (`None` when it could not be read: such a file is never a copy).
#[derive(Default)]
struct SameSize {
    unhashed: Option<usize>,
    by_hash: HashMap<u64, Vec<usize>>,
}

impl SameSize {
    /// The kept file (by index into `kept`) that `path` is a copy of; else `path`'s
    /// [`Hashed`], for [`SameSize::add`].
    fn copy_of(&mut self, path: &Path, kept: &[PathBuf]) -> Result<usize, Hashed> {
        if self.unhashed.is_none() && self.by_hash.is_empty() {
            return Err(Hashed::FirstOfItsSize);
        }
        if let Some(first) = self.unhashed.take() {
            if let Some(hash) = content_hash(&kept[first]) {
                self.by_hash.entry(hash).or_default().push(first);
            }
        }
        let Some(hash) = content_hash(path) else {
            return Err(Hashed::Unreadable);
        };
        self.by_hash
            .get(&hash)
            .into_iter()
            .flatten()
            .copied()
            .find(|&index| same_content(&kept[index], path))
            .ok_or(Hashed::Hash(hash))
    }

    /// Records a kept file of this size, as [`SameSize::copy_of`] found it.
    fn add(&mut self, index: usize, hashed: Hashed) {
        match hashed {
            Hashed::FirstOfItsSize => self.unhashed = Some(index),
            Hashed::Hash(hash) => self.by_hash.entry(hash).or_default().push(index),
            Hashed::Unreadable => {}
        }
    }
}

/// What [`SameSize::copy_of`] learned of a file that is no copy.
enum Hashed {
    /// No other file had its size: it was not read.
    FirstOfItsSize,
    /// Its content hash.
    Hash(u64),
    /// It could not be read (it is hunted, and reports its own error).
    Unreadable,
}

/// How much of a file is hashed to bucket it among files of its size: enough to tell
/// different logs apart (an EVTX file's header, its first chunk's header, whose record
/// numbers and checksums differ from log to log, and its first records; a text log's
/// first lines), while a collection of 541 single-chunk EVTX files of 69,632 bytes is not
/// read twice (a prefix of 64 KiB read 39 MB before the hunt of the sample corpus began).
/// Files whose prefixes collide are compared whole, so this is a question of speed only.
const HASHED_PREFIX: usize = 8 * 1024;

/// A hash of a file's first [`HASHED_PREFIX`] bytes; `None` if it cannot be read.
fn content_hash(path: &Path) -> Option<u64> {
    let mut reader = File::open(path).ok()?;
    let mut buffer = [0u8; HASHED_PREFIX];
    let n = read_full(&mut reader, &mut buffer).ok()?;
    // Only a bucket: equal hashes are compared byte for byte, so a fast hash is enough
    // (std's SipHash took about 4% of a hunt of the shared EVTX corpus).
    let mut hasher = foldhash::fast::FixedState::with_seed(0).build_hasher();
    hasher.write(&buffer[..n]);
    Some(hasher.finish())
}

/// What makes two paths one file: its device and inode on Unix (one `stat`, where a
/// canonical path costs a `readlink` per component of the path), its canonical path
/// elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FileId {
    #[cfg_attr(not(unix), allow(dead_code))]
    Inode { device: u64, inode: u64 },
    #[cfg_attr(unix, allow(dead_code))]
    Path(PathBuf),
}

/// The identity and size of a regular file (symbolic links followed); `None` for standard
/// input and anything that cannot be examined.
fn identity(path: &Path) -> Option<(FileId, u64)> {
    if path.as_os_str() == "-" {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    #[cfg(unix)]
    let id = {
        use std::os::unix::fs::MetadataExt;
        FileId::Inode {
            device: meta.dev(),
            inode: meta.ino(),
        }
    };
    #[cfg(not(unix))]
    let id = FileId::Path(std::fs::canonicalize(path).ok()?);
    Some((id, meta.len()))
}

/// Whether two files of the same size hold the same bytes (`false` if either cannot be
/// read: then both are hunted, and the unreadable one reports its error).
fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(a), Ok(b)) = (File::open(a), File::open(b)) else {
        return false;
    };
    let (mut a, mut b) = (BufReader::new(a), BufReader::new(b));
    let (mut left, mut right) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let Ok(n) = read_full(&mut a, &mut left) else {
            return false;
        };
        let Ok(m) = read_full(&mut b, &mut right) else {
            return false;
        };
        if n != m || left[..n] != right[..m] {
            return false;
        }
        if n == 0 {
            return true;
        }
    }
}

/// Fills `buf` as far as the reader allows; the count read (0 at the end).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn repeats_links_and_copies_are_read_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = write(dir.path(), "a.jsonl", "{\"x\": 1}\n");
        let copy = write(dir.path(), "copy.jsonl", "{\"x\": 1}\n");
        let other = write(dir.path(), "other.jsonl", "{\"x\": 2}\n");
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&a, &link).expect("symlink");
        let dotted = dir.path().join(".").join("a.jsonl");
        let files = vec![
            a.clone(),
            dotted.clone(),
            link.clone(),
            copy.clone(),
            other.clone(),
            PathBuf::from("-"),
        ];
        let (kept, duplicates) = distinct_files(files);
        assert_eq!(kept, [a.clone(), other, PathBuf::from("-")]);
        let left_out: Vec<(&Path, bool)> = duplicates
            .iter()
            .map(|d| (d.path.as_path(), d.same_file))
            .collect();
        assert_eq!(
            left_out,
            [
                (dotted.as_path(), true),
                (link.as_path(), true),
                (copy.as_path(), false)
            ]
        );
        assert!(duplicates.iter().all(|d| d.same_as == a));
        assert!(duplicates[2].to_string().contains("is a copy of"));
    }

    #[test]
    fn many_files_of_one_size_keep_the_first_of_each_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = Vec::new();
        for i in 0..300 {
            // 100 contents of one size, each three times.
            files.push(write(
                dir.path(),
                &format!("{i:03}.jsonl"),
                &format!("{{\"x\": {:03}}}\n", i % 100),
            ));
        }
        let (kept, duplicates) = distinct_files(files.clone());
        assert_eq!(kept, files[..100]);
        assert_eq!(duplicates.len(), 200);
        assert!(duplicates.iter().all(|d| {
            let of = |p: &Path| {
                p.file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse::<usize>().ok())
            };
            of(&d.path)
                .zip(of(&d.same_as))
                .is_some_and(|(a, b)| a % 100 == b && !d.same_file)
        }));
    }

    #[test]
    fn files_alike_in_their_first_block_are_compared_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let head = "x".repeat(HASHED_PREFIX + 1024);
        let a = write(dir.path(), "a.log", &format!("{head}a"));
        let b = write(dir.path(), "b.log", &format!("{head}b"));
        let copy = write(dir.path(), "copy.log", &format!("{head}a"));
        let (kept, duplicates) = distinct_files(vec![a.clone(), b.clone(), copy.clone()]);
        assert_eq!(kept, [a.clone(), b]);
        assert_eq!(duplicates.len(), 1);
        assert_eq!((&duplicates[0].path, &duplicates[0].same_as), (&copy, &a));
    }

    #[test]
    fn files_of_one_size_but_different_bytes_are_both_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = write(dir.path(), "a.jsonl", "{\"x\": 1}\n");
        let b = write(dir.path(), "b.jsonl", "{\"x\": 2}\n");
        let (kept, duplicates) = distinct_files(vec![a.clone(), b.clone()]);
        assert_eq!(kept, [a, b]);
        assert!(duplicates.is_empty());
    }
}
