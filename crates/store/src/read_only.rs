//! What opening a store read-only needs: the SQLite URI of its file, and whether its WAL
//! holds writes not yet merged into it (then it cannot be read as immutable).

use std::path::{Path, PathBuf};

/// The `file:` URI of `path`, read-only, and immutable when asked: every byte but letters,
/// digits and `/._~-` percent-encoded, so that no file name is read as URI syntax.
pub(crate) fn uri(path: &Path, immutable: bool) -> String {
    let mut uri = String::from("file:");
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'_' | b'~' | b'-' => {
                uri.push(char::from(*byte));
            }
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri.push_str("?mode=ro");
    if immutable {
        uri.push_str("&immutable=1");
    }
    uri
}

/// Whether the store's `-wal` file is absent or empty: everything committed is in the
/// store file itself.
pub(crate) fn wal_is_empty(path: &Path) -> bool {
    let mut wal = PathBuf::from(path.as_os_str());
    wal.as_mut_os_string().push("-wal");
    std::fs::metadata(&wal).map_or(true, |meta| meta.len() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_escape_what_sqlite_would_read_as_syntax() {
        let path = Path::new("/tmp/a b/c?d#e%f.db");
        assert_eq!(
            uri(path, true),
            "file:/tmp/a%20b/c%3Fd%23e%25f.db?mode=ro&immutable=1"
        );
        assert_eq!(uri(Path::new("s.db"), false), "file:s.db?mode=ro");
    }
}
