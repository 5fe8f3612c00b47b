//! Reading STIX objects from files and folders: a bundle, a JSON array of objects, one
//! object, or JSON Lines of any of these. Folders are read recursively (`*.json` and
//! `*.jsonl`, in name order). Every problem names the file, and the object where there is
//! one; a bad file or object never stops the others.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The largest file read, in bytes: larger files are refused rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// A problem reading intelligence.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    /// A file or folder cannot be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not JSON, or too large.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// One object is unusable (the others are read).
    #[error("{}: object {object}: {message}", path.display())]
    Object {
        /// The file.
        path: PathBuf,
        /// The object's id, else its position (`#3`, or `line 3 #1`).
        object: String,
        /// What is wrong.
        message: String,
    },
}

/// One object read, with where it came from.
#[derive(Debug)]
pub struct Located {
    /// The object.
    pub object: Value,
    /// The file.
    pub path: PathBuf,
    /// Its position, for errors when it has no id.
    pub position: String,
}

impl Located {
    /// An error about this object.
    pub fn error(&self, message: impl Into<String>) -> IntelError {
        let object = match self.object.get("id").and_then(Value::as_str) {
            Some(id) => id.to_owned(),
            None => self.position.clone(),
        };
        IntelError::Object {
            path: self.path.clone(),
            object,
            message: message.into(),
        }
    }
}

/// The objects of every file under `path` (a file or a folder), each handed to `each`.
pub fn read_path(path: &Path, each: &mut dyn FnMut(Located), errors: &mut Vec<IntelError>) {
    let read = |error| IntelError::Read {
        path: path.to_path_buf(),
        source: error,
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) => return errors.push(read(error)),
    };
    if !metadata.is_dir() {
        return read_file(path, each, errors);
    }
    match files_of(path) {
        Ok(files) => files.iter().for_each(|file| read_file(file, each, errors)),
        Err(error) => errors.push(read(error)),
    }
}

/// The `*.json` and `*.jsonl` files under `folder`, in name order.
fn files_of(folder: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "json" || e == "jsonl")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read_file(path: &Path, each: &mut dyn FnMut(Located), errors: &mut Vec<IntelError>) {
    let too_large = std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_FILE_BYTES);
    if too_large {
        return errors.push(IntelError::File {
            path: path.to_path_buf(),
            message: format!("larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    match std::fs::read_to_string(path) {
        Ok(text) => read_text(&text, path, each, errors),
        Err(source) => errors.push(IntelError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// The objects of one text: one JSON document, else JSON Lines.
pub fn read_text(
    text: &str,
    path: &Path,
    each: &mut dyn FnMut(Located),
    errors: &mut Vec<IntelError>,
) {
    if let Ok(document) = serde_json::from_str::<Value>(text) {
        return objects_of(document, path, "", each, errors);
    }
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(document) => {
                let prefix = format!("line {} ", number + 1);
                objects_of(document, path, &prefix, each, errors);
            }
            Err(error) => errors.push(IntelError::File {
                path: path.to_path_buf(),
                message: format!("line {}: not JSON: {error}", number + 1),
            }),
        }
    }
}

/// The objects of one document: a bundle's, an array's, or the object itself.
fn objects_of(
    document: Value,
    path: &Path,
    prefix: &str,
    each: &mut dyn FnMut(Located),
    errors: &mut Vec<IntelError>,
) {
    let list = match document {
        Value::Array(list) => list,
        Value::Object(mut object)
            if object.get("type").and_then(Value::as_str) == Some("bundle") =>
        {
            match object.remove("objects") {
                Some(Value::Array(list)) => list,
                None => Vec::new(),
                Some(_) => {
                    return errors.push(IntelError::File {
                        path: path.to_path_buf(),
                        message: format!("{prefix}bundle: objects is not a list"),
                    })
                }
            }
        }
        other => vec![other],
    };
    for (index, object) in list.into_iter().enumerate() {
        each(Located {
            object,
            path: path.to_path_buf(),
            position: format!("{prefix}#{}", index + 1),
        });
    }
}
