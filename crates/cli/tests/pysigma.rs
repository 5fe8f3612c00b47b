//! The differential check against pySigma (issue 16, `conformance/pysigma/diff.py`): every
//! difference between tocsin's detections and pySigma's over the shared EVTX corpus must be
//! listed, with its class, in `conformance/pysigma/known-differences.yaml`.
//!
//! The check needs a Python with the pinned pySigma packages
//! (`conformance/pysigma/requirements.txt`), named by `TOCSIN_PYSIGMA_PYTHON`; `.ci/run`
//! creates that venv. Without it the test skips loudly, and under CI it fails.

// Test code: helpers may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The variable naming the venv's python.
const PYTHON_ENV: &str = "TOCSIN_PYSIGMA_PYTHON";

/// The python to run the check with, or `None` after a loud skip message (a failure under
/// CI).
fn python() -> Option<PathBuf> {
    common::venv_python(PYTHON_ENV, "the pySigma differential check", "pysigma")
}

#[test]
fn every_difference_from_pysigma_is_known() {
    let Some(python) = python() else { return };
    let Some(shared) = tocsin_testdata::shared_dir() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(&python)
        .arg(root.join("conformance/pysigma/diff.py"))
        .arg("--tocsin")
        .arg(env!("CARGO_BIN_EXE_tocsin"))
        .arg("--shared")
        .arg(&shared)
        .arg("--cache")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("pysigma-cache"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pySigma differential check failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
