//! The one error type of this crate, [`OutputError`].

use std::io;

/// Why a detection could not be printed.
///
/// [`OutputError::BrokenPipe`] is kept apart from other I/O errors because it is not a
/// failure worth reporting: the reader went away (`tocsin hunt … | head`), and the CLI
/// should stop quietly with exit code 0, as ripgrep does.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The reader of the output closed it.
    #[error("broken pipe")]
    BrokenPipe,
    /// Any other write failure.
    #[error("cannot write detections: {0}")]
    Io(#[source] io::Error),
    /// The CSV writer failed for a reason other than I/O.
    #[error("cannot write CSV: {0}")]
    Csv(#[source] csv::Error),
    /// A format name that is none of [`crate::Format::ALL`].
    #[error(
        "unknown output format `{0}` (expected table, csv, jsonl, ecs, ecs-bulk or timesketch)"
    )]
    UnknownFormat(String),
}

impl OutputError {
    /// Whether this is [`OutputError::BrokenPipe`].
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, OutputError::BrokenPipe)
    }
}

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            OutputError::BrokenPipe
        } else {
            OutputError::Io(e)
        }
    }
}

impl From<csv::Error> for OutputError {
    fn from(e: csv::Error) -> Self {
        match e.kind() {
            csv::ErrorKind::Io(io) => io::Error::new(io.kind(), e).into(),
            _ => OutputError::Csv(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_pipe_is_its_own_kind() {
        let e = OutputError::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(e.is_broken_pipe());
        let e = OutputError::from(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(!e.is_broken_pipe());
        assert!(matches!(e, OutputError::Io(_)));
    }

    #[test]
    fn csv_io_errors_keep_their_kind() {
        let csv_err = csv::Error::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(OutputError::from(csv_err).is_broken_pipe());
    }
}
