//! [`DecodeError`]: what went wrong, and where (file, and chunk, record or line).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// An input that could not be read, or one of its records that could not be decoded.
///
/// Every variant names the file (`-` for standard input) and, where it applies, the place in
/// it: the EVTX chunk or record, the JSON line and record. Errors about one record are
/// yielded by an [`EventSource`](crate::EventSource) in place of that record, and decoding
/// goes on with the next one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The file (or directory) could not be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The path as given.
        file: Arc<str>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The content is in none of the formats this crate reads.
    #[error("{file}: unrecognised format ({reason})")]
    UnknownFormat {
        /// The path as given.
        file: Arc<str>,
        /// What the content looked like.
        reason: String,
    },
    /// The file is not an EVTX file at all (its header is missing or damaged beyond use).
    #[error("{file}: not an EVTX file: {message}")]
    NotEvtx {
        /// The path as given.
        file: Arc<str>,
        /// Why the EVTX parser refused it.
        message: String,
    },
    /// An EVTX chunk or record could not be decoded; the rest of the file still is.
    #[error("{file}: {message}")]
    Evtx {
        /// The path as given.
        file: Arc<str>,
        /// The chunk number in the file, when the parser says.
        chunk: Option<u64>,
        /// The EventRecordID of the record, when the parser says.
        record: Option<u64>,
        /// The parser's message with its causes, which names the chunk or record.
        message: String,
    },
    /// A JSON record could not be decoded.
    #[error("{file}: line {line}, column {column} (record {record}): {message}")]
    Json {
        /// The path as given.
        file: Arc<str>,
        /// The 1-based record number: the line number for JSON Lines, the object's index
        /// otherwise.
        record: u64,
        /// The 1-based line where the error was found.
        line: u64,
        /// The 1-based column where the error was found (0 when unknown).
        column: u64,
        /// What was wrong.
        message: String,
    },
    /// A line of a text format (syslog, appliance, CEF) could not be decoded, or a
    /// segmented appliance message that began on that line never completed.
    #[error("{file}: line {line}: {format}: {message}")]
    Line {
        /// The path as given.
        file: Arc<str>,
        /// The 1-based line number (for a segmented message, the line of its first
        /// segment).
        line: u64,
        /// The format the line was read as (`syslog`, `appliance`, `cef`).
        format: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A segmented message (the appliance's syslog) whose last segments had not arrived
    /// when the input ended, reported under the line of its first segment. A reader of a
    /// live stream may decode that line again with what arrives after it.
    #[error("{file}: line {line}: {format}: {message}")]
    Unfinished {
        /// The path as given.
        file: Arc<str>,
        /// The 1-based line of the message's first segment.
        line: u64,
        /// The format the line was read as (`appliance`).
        format: &'static str,
        /// What was missing.
        message: String,
    },
}

impl DecodeError {
    /// The file (`-` for standard input) the error is about.
    pub fn file(&self) -> &str {
        match self {
            DecodeError::Io { file, .. }
            | DecodeError::UnknownFormat { file, .. }
            | DecodeError::NotEvtx { file, .. }
            | DecodeError::Evtx { file, .. }
            | DecodeError::Json { file, .. }
            | DecodeError::Line { file, .. }
            | DecodeError::Unfinished { file, .. } => file,
        }
    }

    /// The 1-based line the error is about, for JSON and the text formats.
    pub fn line(&self) -> Option<u64> {
        match self {
            DecodeError::Json { line, .. }
            | DecodeError::Line { line, .. }
            | DecodeError::Unfinished { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The record the error is about, when it is about one record.
    pub fn record(&self) -> Option<u64> {
        match self {
            DecodeError::Evtx { record, .. } => *record,
            DecodeError::Json { record, .. } => Some(*record),
            DecodeError::Line { line, .. } | DecodeError::Unfinished { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The line of a message the input ended in the middle of ([`DecodeError::Unfinished`]).
    pub fn unfinished_line(&self) -> Option<u64> {
        match self {
            DecodeError::Unfinished { line, .. } => Some(*line),
            _ => None,
        }
    }

    pub(crate) fn io(file: &Arc<str>, source: std::io::Error) -> Self {
        DecodeError::Io {
            file: Arc::clone(file),
            source,
        }
    }

    pub(crate) fn io_path(path: &Path, source: std::io::Error) -> Self {
        DecodeError::Io {
            file: path_name(path),
            source,
        }
    }

    /// Maps an error of the `evtx` crate, keeping the chunk and record numbers it names.
    pub(crate) fn evtx(file: &Arc<str>, error: &evtx::err::EvtxError) -> Self {
        use evtx::err::EvtxError as E;
        let (chunk, record) = match error {
            E::FailedToParseChunk { chunk_id, .. } => (Some(*chunk_id), None),
            E::FailedToParseRecord { record_id, .. } => (None, Some(*record_id)),
            E::FailedToReadRecordAt { chunk, .. } => (*chunk, None),
            _ => (None, None),
        };
        DecodeError::Evtx {
            file: Arc::clone(file),
            chunk,
            record,
            message: error_chain(error),
        }
    }
}

/// The name a path is reported under: the path as given, lossily made UTF-8.
pub(crate) fn path_name(path: &Path) -> Arc<str> {
    Arc::from(path.to_string_lossy().as_ref())
}

/// An error's message followed by those of its sources, `: `-separated.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Some wrappers repeat their source's message; say it once.
        if !message.ends_with(&text) {
            let _ = write!(message, ": {text}");
        }
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_names_file_line_and_record() {
        let error = DecodeError::Json {
            file: "logs/a.jsonl".into(),
            record: 7,
            line: 7,
            column: 12,
            message: "EOF while parsing an object".into(),
        };
        assert_eq!(
            error.to_string(),
            "logs/a.jsonl: line 7, column 12 (record 7): EOF while parsing an object"
        );
        assert_eq!(error.file(), "logs/a.jsonl");
        assert_eq!(error.record(), Some(7));
    }

    #[test]
    fn chain_lists_every_cause_once() {
        let inner = std::io::Error::other("disk on fire");
        let outer = DecodeError::io(&"x.json".into(), inner);
        assert_eq!(error_chain(&outer), "x.json: disk on fire");
        let nested = DecodeError::Json {
            file: "y".into(),
            record: 1,
            line: 1,
            column: 1,
            message: "bad".into(),
        };
        let outer = DecodeError::io(&"x".into(), std::io::Error::other(nested));
        assert_eq!(
            error_chain(&outer),
            "x: y: line 1, column 1 (record 1): bad"
        );
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        assert_eq!(error_chain(&io), "gone");
    }
}
