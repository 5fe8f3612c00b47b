//! Finds the shared third-party corpora that tests read in place.
//!
//! The corpora (SigmaHQ rules and regression cases, EVTX samples, the ATT&CK bundle) never
//! live in this repository. They sit beside the checkout as `../shared`, or wherever the
//! `TOCSIN_SHARED` environment variable points.
//!
//! When the folder is absent, [`shared_dir`] prints a loud skip message and returns `None`,
//! so a developer without the data can still run the hermetic tests. Under CI (`CI` set)
//! a missing folder is a failure, never a silent pass.
//!
//! ```
//! // A corpus test starts like this, and returns early (after a loud message) when the
//! // corpora are absent outside CI.
//! let Some(rules) = tocsin_testdata::shared_path("sigma/rules") else { return };
//! assert!(rules.is_dir());
//! ```

use std::path::{Path, PathBuf};

/// The environment variable that overrides where the shared corpora are.
pub const SHARED_ENV: &str = "TOCSIN_SHARED";

/// The shared corpora folder, or `None` (after a loud message on stderr) when it is absent
/// outside CI.
///
/// # Panics
///
/// Panics when the folder is absent and the `CI` environment variable is set, so that CI
/// cannot pass by skipping the corpus tests.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os(SHARED_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(default_shared_dir);
    if dir.is_dir() {
        return Some(dir);
    }
    let message = format!(
        "shared corpora not found at {} (set {SHARED_ENV} to their folder)",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}: CI must run the corpus tests");
    }
    eprintln!("\n!!! SKIPPED: {message} !!!\n");
    None
}

/// A path inside the shared corpora, or `None` when the corpora are absent (see
/// [`shared_dir`]).
///
/// # Panics
///
/// Panics when the corpora are present but `relative` is not in them: a test must never
/// pass by reading nothing.
pub fn shared_path(relative: impl AsRef<Path>) -> Option<PathBuf> {
    let path = shared_dir()?.join(relative.as_ref());
    assert!(
        path.exists(),
        "{} is missing from the shared corpora",
        path.display()
    );
    Some(path)
}

/// `../shared` relative to the workspace root.
fn default_shared_dir() -> PathBuf {
    // This crate lives in <workspace>/crates/testdata.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_folder_is_beside_the_checkout() {
        let dir = default_shared_dir();
        assert!(dir.ends_with("shared"));
        assert!(dir.starts_with(env!("CARGO_MANIFEST_DIR")));
    }
}
