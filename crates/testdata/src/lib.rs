//! Finds the shared third-party corpora that tests read in place.
//!
//! The corpora (SigmaHQ rules and regression cases, EVTX samples, the ATT&CK bundle) never
//! live in this repository. They sit beside the checkout as `../shared`, or wherever the
//! `TOCSIN_SHARED` environment variable points.
//!
//! When the folder is absent, [`shared_dir`] prints a loud skip message and returns `None`,
//! so a developer without the data can still run the hermetic tests. The message is written
//! straight to the process's stderr, past the test harness's capture, so that it shows in
//! the output of `cargo test` even though the skipping test reports `ok`. Under CI (`CI` set
//! to anything but empty, `0` or `false`) a missing folder is a failure, never a silent
//! pass.
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
    skip_outside_ci(&message);
    None
}

/// What a test does when something it needs is absent: under CI it fails (panics with
/// `message`), so that CI cannot pass by skipping; elsewhere it says `SKIPPED` loudly, on
/// the process's real stderr, and returns so that the test can end.
///
/// # Panics
///
/// Under CI (see [`under_ci`]).
pub fn skip_outside_ci(message: &str) {
    if under_ci(std::env::var("CI").ok().as_deref()) {
        panic!("{message}: CI must not skip this test");
    }
    announce_skip(message);
}

/// Whether a value of the `CI` variable means a CI run: set, and not empty, `0` or `false`
/// (CI services set `CI=true`; `CI=false` is how a developer says "not CI").
pub fn under_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// Writes the skip message to the process's real stderr. `eprintln!` would go to the test
/// harness's capture, shown only for failing tests: a skip would then read as a pass.
fn announce_skip(message: &str) {
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let mut stderr = std::io::stderr().lock();
    // Nothing to do if stderr is gone: the test still skips.
    let _ = writeln!(stderr, "\n!!! SKIPPED {test}: {message} !!!\n");
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
    fn only_a_real_value_of_ci_means_ci() {
        for value in ["true", "1", "yes", "github"] {
            assert!(under_ci(Some(value)), "{value}");
        }
        for value in [
            None,
            Some(""),
            Some("0"),
            Some("false"),
            Some("FALSE"),
            Some(" "),
        ] {
            assert!(!under_ci(value), "{value:?}");
        }
    }

    /// Run by [`a_skip_shows_in_the_test_output`] in a child process, with the corpora
    /// pointed at a folder that does not exist.
    #[test]
    fn skipping_child() {
        if std::env::var_os("TOCSIN_SKIP_CHILD").is_none() {
            return;
        }
        assert!(shared_dir().is_none());
    }

    #[test]
    fn a_skip_shows_in_the_test_output() {
        // Issue 20, finding 14: the message went to the harness's capture, so a skipped
        // corpus test printed only "ok".
        let exe = std::env::current_exe().expect("the test binary");
        let out = std::process::Command::new(exe)
            .args(["--exact", "tests::skipping_child", "--test-threads", "1"])
            .env("TOCSIN_SKIP_CHILD", "1")
            .env(SHARED_ENV, "/nonexistent/tocsin-shared")
            .env("CI", "false")
            .output()
            .expect("run the test binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(
            stderr.contains("SKIPPED tests::skipping_child"),
            "{stdout}{stderr}"
        );
    }

    #[test]
    fn default_folder_is_beside_the_checkout() {
        let dir = default_shared_dir();
        assert!(dir.ends_with("shared"));
        assert!(dir.starts_with(env!("CARGO_MANIFEST_DIR")));
    }
}
