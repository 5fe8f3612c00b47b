//! Tidy: the house rules that no compiler lint checks. Every Rust file of a member crate
//! (`src`, `tests`, `examples`, `benches`) opens with a `//!` doc line, and every member crate
//! takes the workspace's lints (`[lints] workspace = true`). After the idea of rust-analyzer's
//! tidy test; a failure lists every offender at once.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The folders of a crate whose Rust files are checked.
const CHECKED_FOLDERS: [&str; 4] = ["src", "tests", "examples", "benches"];

/// The workspace root: this crate lives in `crates/testdata`.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// The member crates' folders (the workspace's members are `crates/*`), sorted.
fn member_crates(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut crates = Vec::new();
    for entry in fs::read_dir(root.join("crates"))? {
        let path = entry?.path();
        if path.join("Cargo.toml").is_file() {
            crates.push(path);
        }
    }
    crates.sort();
    Ok(crates)
}

/// Adds the `.rs` files under `dir` (if it exists), recursively, to `files`.
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// Whether a file's text opens with a `//!` doc line.
fn opens_with_module_doc(text: &str) -> bool {
    text.lines()
        .next()
        .is_some_and(|line| line.starts_with("//!"))
}

/// Whether a crate manifest has a `[lints]` table with `workspace = true`.
fn takes_workspace_lints(manifest: &str) -> bool {
    let mut in_lints = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_lints = line == "[lints]";
        } else if in_lints && line.split_whitespace().collect::<String>() == "workspace=true" {
            return true;
        }
    }
    false
}

/// `path` relative to the workspace root, for messages.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in member_crates(&root).expect("the crates folder lists") {
        for folder in CHECKED_FOLDERS {
            rust_files(&krate.join(folder), &mut files).expect("a crate's folders list");
        }
    }
    files.sort();
    assert!(files.len() > 20, "the walk found too few files: {files:?}");
    let offenders: Vec<String> = files
        .iter()
        .filter(|path| !opens_with_module_doc(&fs::read_to_string(path).expect("a file reads")))
        .map(|path| shown(&root, path))
        .collect();
    assert!(
        offenders.is_empty(),
        "these files do not open with a `//!` line saying what they hold:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn every_member_crate_takes_the_workspace_lints() {
    let root = workspace_root();
    let crates = member_crates(&root).expect("the crates folder lists");
    assert!(
        crates.len() > 1,
        "the walk found too few crates: {crates:?}"
    );
    let offenders: Vec<String> = crates
        .iter()
        .map(|krate| krate.join("Cargo.toml"))
        .filter(|manifest| {
            !takes_workspace_lints(&fs::read_to_string(manifest).expect("a manifest reads"))
        })
        .map(|manifest| shown(&root, &manifest))
        .collect();
    assert!(
        offenders.is_empty(),
        "these manifests lack `[lints]` / `workspace = true`:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn the_checks_themselves() {
    assert!(opens_with_module_doc("//! Doc.\nuse x;"));
    assert!(!opens_with_module_doc("/// Item doc.\nfn f() {}"));
    assert!(!opens_with_module_doc("\n//! Doc after a blank line."));
    assert!(!opens_with_module_doc(""));

    assert!(takes_workspace_lints(
        "[package]\nname = \"x\"\n\n[lints]\nworkspace = true\n"
    ));
    assert!(takes_workspace_lints("[lints]\nworkspace=true"));
    assert!(!takes_workspace_lints(
        "[package]\nworkspace = true\n[lints]\n"
    ));
    assert!(!takes_workspace_lints("[lints]\nworkspace = false\n"));
    assert!(!takes_workspace_lints("[package]\nname = \"x\"\n"));
}
