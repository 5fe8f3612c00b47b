//! The demo's output folder: created when missing, reused when it holds only a previous
//! demo's files (whose store and report are removed so that the new run starts clean),
//! refused otherwise unless forced.
//!
//! The folder is meant to be hunted (`tocsin hunt <folder>`), so only the three logs carry
//! extensions a hunt reads; the answer key (`ground-truth.yaml`), the store and the report
//! carry others. Demos before that wrote the answer key as `ground-truth.json`, which a hunt
//! read as a fourth log: it is recognised as a demo's file and removed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tocsin_demo::{API_AUDIT_FILE, APPLIANCE_FILE, ENDPOINTS_FILE, GROUND_TRUTH_FILE};

/// The store the demo writes in its folder.
pub const STORE_FILE: &str = "tocsin.db";
/// The attack incident's report.
pub const REPORT_FILE: &str = "report.html";
/// Files SQLite may leave next to the store.
const STORE_COMPANIONS: [&str; 3] = ["tocsin.db-wal", "tocsin.db-shm", "tocsin.db-journal"];
/// Where earlier demos wrote the answer key, under an extension a hunt reads.
const OLD_GROUND_TRUTH_FILE: &str = "ground-truth.json";

/// The default folder of a seed: `./tocsin-demo-<seed>`.
pub fn default_dir(seed: u64) -> PathBuf {
    PathBuf::from(format!("tocsin-demo-{seed}"))
}

/// Makes `dir` ready for a demo (see the module documentation).
pub fn prepare(dir: &Path, force: bool) -> Result<()> {
    if !dir.exists() {
        return std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create {}", dir.display()));
    }
    if !dir.is_dir() {
        bail!("{} exists and is not a folder", dir.display());
    }
    if !force {
        if let Some(stranger) = foreign_entry(dir)? {
            bail!(
                "refusing to write into {}: it holds {stranger}, which no demo wrote (use --force, or another --out)",
                dir.display()
            );
        }
    }
    for name in STORE_COMPANIONS
        .iter()
        .chain(&[STORE_FILE, REPORT_FILE, OLD_GROUND_TRUTH_FILE])
    {
        let path = dir.join(name);
        if path.is_file() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the previous {}", path.display()))?;
        }
    }
    Ok(())
}

/// The first entry of `dir` that is not a demo file, if any.
fn foreign_entry(dir: &Path) -> Result<Option<String>> {
    let known = [
        APPLIANCE_FILE,
        API_AUDIT_FILE,
        ENDPOINTS_FILE,
        GROUND_TRUTH_FILE,
        OLD_GROUND_TRUTH_FILE,
        STORE_FILE,
        REPORT_FILE,
    ];
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let demo_file = known.contains(&name.as_str()) || STORE_COMPANIONS.contains(&name.as_str());
        if !(is_file && demo_file) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_is_created() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        prepare(&dir, false).unwrap();
        assert!(dir.is_dir());
    }

    #[test]
    fn a_previous_demo_is_reused_without_its_store_and_report() {
        let dir = tempfile::tempdir().unwrap();
        for name in [APPLIANCE_FILE, STORE_FILE, REPORT_FILE, "tocsin.db-wal"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        prepare(dir.path(), false).unwrap();
        assert!(dir.path().join(APPLIANCE_FILE).exists());
        assert!(!dir.path().join(STORE_FILE).exists());
        assert!(!dir.path().join(REPORT_FILE).exists());
        assert!(!dir.path().join("tocsin.db-wal").exists());
    }

    #[test]
    fn an_older_demo_is_reused_without_its_json_answer_key() {
        let dir = tempfile::tempdir().unwrap();
        for name in [APPLIANCE_FILE, GROUND_TRUTH_FILE, OLD_GROUND_TRUTH_FILE] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        prepare(dir.path(), false).unwrap();
        assert!(dir.path().join(GROUND_TRUTH_FILE).exists());
        assert!(!dir.path().join(OLD_GROUND_TRUTH_FILE).exists());
    }

    #[test]
    fn a_foreign_folder_is_refused_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("thesis.docx"), "x").unwrap();
        let error = prepare(dir.path(), false).unwrap_err().to_string();
        assert!(
            error.contains("thesis.docx") && error.contains("--force"),
            "{error}"
        );
        prepare(dir.path(), true).unwrap();
        assert!(
            dir.path().join("thesis.docx").exists(),
            "forcing never deletes others' files"
        );
    }

    #[test]
    fn a_file_in_place_of_the_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(prepare(&file, true).is_err());
    }
}
