//! Unpacking a zip or copying a folder into a fresh folder, refusing anything that could
//! write outside it or fill the disk: `../` and absolute entries, symbolic links, more
//! bytes or files than [`Limits`] allow.

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Component, Path};

use zip::ZipArchive;

use crate::PackError;

/// How large a package may be once unpacked. The sizes a zip declares are not trusted: the
/// bytes are counted as they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes written in all (SigmaHQ's largest package is about 30 MiB unpacked).
    pub max_unpacked_bytes: u64,
    /// Files and folders in all.
    pub max_entries: usize,
}

impl Default for Limits {
    /// 512 MiB and 100,000 entries: twenty times SigmaHQ's packages, and far short of what
    /// a zip bomb would write.
    fn default() -> Self {
        Limits {
            max_unpacked_bytes: 512 << 20,
            max_entries: 100_000,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Unpacked {
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Whether a name an archive gives stays inside the folder: no `..`, no root, no drive,
/// with `\` counted as a separator too (a zip made on Windows may use it).
fn is_contained(name: &str) -> bool {
    let normalised = name.replace('\\', "/");
    !normalised.starts_with('/')
        && Path::new(&normalised)
            .components()
            .all(|component| matches!(component, Component::Normal(_) | Component::CurDir))
}

/// Unpacks every entry of the zip `archive` into the existing folder `into`.
pub(crate) fn unpack_zip(
    archive: &Path,
    into: &Path,
    limits: Limits,
) -> Result<Unpacked, PackError> {
    let file = File::open(archive).map_err(PackError::io(archive))?;
    let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|error| PackError::NotZip {
        path: archive.to_path_buf(),
        error,
    })?;
    if zip.len() > limits.max_entries {
        return Err(PackError::TooManyEntries {
            path: archive.to_path_buf(),
            limit: limits.max_entries,
        });
    }
    let mut unpacked = Unpacked::default();
    for index in 0..zip.len() {
        let corrupt = |entry: String, reason: String| PackError::Corrupt {
            path: archive.to_path_buf(),
            entry,
            reason,
        };
        let mut entry = zip
            .by_index(index)
            .map_err(|error| corrupt(format!("#{index}"), error.to_string()))?;
        let name = entry
            .name()
            .map(|name| name.into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(entry.name_raw()).into_owned());
        let relative = match entry.enclosed_name() {
            Some(relative) if is_contained(&name) => relative,
            _ => {
                return Err(PackError::UnsafeEntry {
                    path: archive.to_path_buf(),
                    entry: name,
                })
            }
        };
        if entry.is_symlink() {
            return Err(PackError::Symlink {
                path: archive.to_path_buf(),
                entry: name,
            });
        }
        let target = into.join(&relative);
        if entry.is_dir() {
            fs::create_dir_all(&target).map_err(PackError::io(&target))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(PackError::io(parent))?;
        }
        // A name twice in one archive is refused rather than silently overwritten.
        let mut out = File::create_new(&target).map_err(PackError::io(&target))?;
        let room = limits.max_unpacked_bytes - unpacked.bytes;
        let written = io::copy(&mut (&mut entry).take(room + 1), &mut out)
            .map_err(|error| corrupt(name.clone(), error.to_string()))?;
        unpacked.bytes += written;
        unpacked.files += 1;
        if written > room {
            return Err(PackError::TooLarge {
                path: archive.to_path_buf(),
                limit: limits.max_unpacked_bytes,
            });
        }
    }
    Ok(unpacked)
}

/// Copies the regular files under `from` into the existing folder `into`, keeping their
/// relative paths. Hidden files and folders (`.git`, ...) and symbolic links are left out.
pub(crate) fn copy_folder(from: &Path, into: &Path, limits: Limits) -> Result<Unpacked, PackError> {
    if !from.is_dir() {
        return Err(PackError::NotAFolder {
            path: from.to_path_buf(),
        });
    }
    let mut unpacked = Unpacked::default();
    let mut entries = 0usize;
    let walk = walkdir::WalkDir::new(from)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.')
        });
    for entry in walk {
        let entry = entry.map_err(|error| {
            let path = error.path().unwrap_or(from).to_path_buf();
            PackError::Io {
                path,
                error: error.into(),
            }
        })?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(PackError::TooManyEntries {
                path: from.to_path_buf(),
                limit: limits.max_entries,
            });
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let relative = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let target = into.join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(PackError::io(parent))?;
        }
        let mut input = File::open(entry.path()).map_err(PackError::io(entry.path()))?;
        let mut out = File::create_new(&target).map_err(PackError::io(&target))?;
        let room = limits.max_unpacked_bytes - unpacked.bytes;
        let written = io::copy(&mut (&mut input).take(room + 1), &mut out)
            .map_err(PackError::io(entry.path()))?;
        unpacked.bytes += written;
        unpacked.files += 1;
        if written > room {
            return Err(PackError::TooLarge {
                path: from.to_path_buf(),
                limit: limits.max_unpacked_bytes,
            });
        }
    }
    Ok(unpacked)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    /// A zip of `(name, bytes)` entries, deflated.
    pub(crate) fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(bytes).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn unpack(bytes: &[u8], limits: Limits) -> (tempfile::TempDir, Result<Unpacked, PackError>) {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("pack.zip");
        fs::write(&archive, bytes).unwrap();
        let into = dir.path().join("out");
        fs::create_dir(&into).unwrap();
        let result = unpack_zip(&archive, &into, limits);
        (dir, result)
    }

    #[test]
    fn entries_are_unpacked_in_their_folders() {
        let bytes = zip_of(&[("rules/a.yml", b"a"), ("rules/sub/b.yml", b"bb")]);
        let (dir, result) = unpack(&bytes, Limits::default());
        assert_eq!(result.unwrap(), Unpacked { files: 2, bytes: 3 });
        let out = dir.path().join("out");
        assert_eq!(fs::read(out.join("rules/sub/b.yml")).unwrap(), b"bb");
    }

    #[test]
    fn escaping_entries_are_refused() {
        assert!(is_contained("rules/a.yml"));
        assert!(is_contained("./a.yml"));
        for name in [
            "../a.yml",
            "rules/../../a.yml",
            "/etc/a.yml",
            "..\\a.yml",
            "a/../b.yml",
        ] {
            assert!(!is_contained(name), "{name}");
        }
        let bytes = zip_of(&[("rules/a.yml", b"a"), ("../evil.yml", b"x")]);
        let (dir, result) = unpack(&bytes, Limits::default());
        assert!(
            matches!(&result, Err(PackError::UnsafeEntry { entry, .. }) if entry == "../evil.yml"),
            "{result:?}"
        );
        assert!(!dir.path().join("evil.yml").exists());
    }

    #[test]
    fn what_is_not_a_zip_is_refused() {
        let (_dir, result) = unpack(b"<html>not found</html>", Limits::default());
        assert!(
            matches!(result, Err(PackError::NotZip { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn damaged_data_is_refused() {
        let mut bytes = zip_of(&[("a.yml", &[b'x'; 4000])]);
        // Flip bytes inside the compressed data (after the 30-byte local header and name).
        for byte in &mut bytes[40..60] {
            *byte ^= 0x5a;
        }
        let (_dir, result) = unpack(&bytes, Limits::default());
        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn zip_bombs_stop_at_the_limit() {
        let big = vec![0u8; 1 << 20];
        let bytes = zip_of(&[("a.bin", &big), ("b.bin", &big)]);
        assert!(bytes.len() < 20_000, "deflate shrinks zeros");
        let limits = Limits {
            max_unpacked_bytes: 1_500_000,
            max_entries: 10,
        };
        let (_dir, result) = unpack(&bytes, limits);
        assert!(
            matches!(result, Err(PackError::TooLarge { .. })),
            "{result:?}"
        );
        let few = Limits {
            max_unpacked_bytes: u64::MAX / 2,
            max_entries: 1,
        };
        let (_dir, result) = unpack(&bytes, few);
        assert!(
            matches!(result, Err(PackError::TooManyEntries { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn folders_are_copied_without_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::create_dir_all(from.join(".git")).unwrap();
        fs::write(from.join("sub/a.yml"), "a").unwrap();
        fs::write(from.join(".git/config"), "x").unwrap();
        let into = dir.path().join("into");
        fs::create_dir(&into).unwrap();
        let copied = copy_folder(&from, &into, Limits::default()).unwrap();
        assert_eq!(copied.files, 1);
        assert!(into.join("sub/a.yml").is_file());
        assert!(!into.join(".git").exists());
        let missing = copy_folder(&dir.path().join("nope"), &into, Limits::default());
        assert!(matches!(missing, Err(PackError::NotAFolder { .. })));
    }
}
