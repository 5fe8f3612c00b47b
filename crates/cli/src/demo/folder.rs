//! The demo's output folder: created when missing, reused when it holds only a previous
//! demo's files (whose store, report and API audit log are removed so that the new run
//! starts clean: the appliance-only variant writes no API audit log), refused otherwise
//! unless forced.
//!
//! A store is taken for a previous demo's only beside that demo's answer key: a `tocsin.db`
//! alone may be an analyst's real store, and is never deleted. Without `--force` the folder
//! is refused; with it, the store (and its WAL files) is moved aside under a new name, and
//! the demo says where.
//!
//! The folder is meant to be hunted (`tocsin hunt <folder>`, with `--extensions` naming
//! `xml` for the session reports), so only the logs carry extensions a hunt reads; the answer key (`ground-truth.yaml`), the store and the report
//! carry others. Demos before that wrote the answer key as `ground-truth.json`, which a hunt
//! read as a log: it is recognised as a demo's file and removed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tocsin_demo::{
    API_AUDIT_FILE, APPLIANCE_FILE, ENDPOINTS_FILE, GROUND_TRUTH_FILE, OUTBOUND_FILE,
    SESSION_REPORT_FILE,
};

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
    if dir.join(STORE_FILE).is_file() && !holds_answer_key(dir) {
        if !force {
            bail!(
                "refusing to write into {}: its {STORE_FILE} has no demo answer key beside it, so it may be a real store (use another --out, or --force to move it aside)",
                dir.display()
            );
        }
        move_store_aside(dir)?;
    }
    // A previous demo's API audit log goes too: the appliance-only variant writes none.
    let previous_logs: &[&str] = if holds_answer_key(dir) {
        &[API_AUDIT_FILE]
    } else {
        &[]
    };
    for name in STORE_COMPANIONS
        .iter()
        .chain(&[STORE_FILE, REPORT_FILE, OLD_GROUND_TRUTH_FILE])
        .chain(previous_logs)
    {
        let path = dir.join(name);
        if path.is_file() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the previous {}", path.display()))?;
        }
    }
    Ok(())
}

/// Whether `dir` holds a demo's answer key (this version's or an older one's).
fn holds_answer_key(dir: &Path) -> bool {
    [GROUND_TRUTH_FILE, OLD_GROUND_TRUTH_FILE]
        .iter()
        .any(|name| dir.join(name).is_file())
}

/// Renames the store and its companion files to `<name>.before-demo-<unix seconds>`, and
/// says so.
fn move_store_aside(dir: &Path) -> Result<()> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    for name in std::iter::once(&STORE_FILE).chain(&STORE_COMPANIONS) {
        let from = dir.join(name);
        if !from.is_file() {
            continue;
        }
        let to = dir.join(format!("{name}.before-demo-{stamp}"));
        std::fs::rename(&from, &to)
            .with_context(|| format!("cannot move {} aside to {}", from.display(), to.display()))?;
        eprintln!(
            "warning: {} may be a real store: moved to {}",
            from.display(),
            to.display()
        );
    }
    Ok(())
}

/// The first entry of `dir` that is not a demo file, if any.
fn foreign_entry(dir: &Path) -> Result<Option<String>> {
    let known = [
        APPLIANCE_FILE,
        API_AUDIT_FILE,
        ENDPOINTS_FILE,
        OUTBOUND_FILE,
        SESSION_REPORT_FILE,
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
        for name in [
            APPLIANCE_FILE,
            GROUND_TRUTH_FILE,
            STORE_FILE,
            REPORT_FILE,
            "tocsin.db-wal",
        ] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        prepare(dir.path(), false).unwrap();
        assert!(dir.path().join(APPLIANCE_FILE).exists());
        assert!(!dir.path().join(STORE_FILE).exists());
        assert!(!dir.path().join(REPORT_FILE).exists());
        assert!(!dir.path().join("tocsin.db-wal").exists());
    }

    #[test]
    fn a_store_without_an_answer_key_is_never_deleted() {
        // Issue 20, finding 20: `demo --force` replaced a real store silently.
        let dir = tempfile::tempdir().unwrap();
        for name in [STORE_FILE, "tocsin.db-wal"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        let refused = prepare(dir.path(), false).unwrap_err().to_string();
        assert!(refused.contains("may be a real store"), "{refused}");
        assert!(dir.path().join(STORE_FILE).exists());

        prepare(dir.path(), true).unwrap();
        assert!(!dir.path().join(STORE_FILE).exists());
        let kept: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for name in [STORE_FILE, "tocsin.db-wal"] {
            let moved = kept
                .iter()
                .find(|k| k.starts_with(&format!("{name}.before-demo-")))
                .unwrap_or_else(|| panic!("{name} moved aside: {kept:?}"));
            assert_eq!(
                std::fs::read_to_string(dir.path().join(moved)).unwrap(),
                name
            );
        }
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
