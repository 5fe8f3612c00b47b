//! What the fault-injection tests of the spool check alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use tocsin_spool::{Error, Position};

/// Checks that `appended` is the failure the hook `hook` injected into an `action` ("write"
/// or "fsync") of a segment under `spool`, and that the append after it, `later`, is refused
/// with that failure as its cause; returns the injected error.
pub fn assert_injected<'a>(
    appended: &'a Result<Position, Error>,
    later: &Result<Position, Error>,
    action: &str,
    spool: &Path,
    hook: &str,
) -> &'a std::io::Error {
    let Err(Error::Io {
        action: failed,
        path,
        source,
        ..
    }) = appended
    else {
        panic!("an {action} was injected to fail, yet the append gave {appended:?}");
    };
    assert_eq!(*failed, action);
    assert!(path.starts_with(spool), "{}", path.display());
    assert!(source.to_string().contains(hook), "{source}");
    assert!(
        matches!(later, Err(Error::Stopped { cause }) if matches!(**cause, Error::Io { .. })),
        "an append after a failed {action} must be refused with its cause: {later:?}"
    );
    source
}
