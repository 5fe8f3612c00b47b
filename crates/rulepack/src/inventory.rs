//! The rules of a folder by identity and content, and what changed between two folders:
//! the report `tocsin rules update` prints.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};
use tocsin_sigma::ast::{Document, Metadata};

use crate::PackError;

/// One rule file of a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEntry {
    /// What identifies the rule across versions: its `id` (or `name`), else `path:` and its
    /// path, so that a rule without an id is the same rule while it stays where it is.
    pub key: String,
    /// The title of the file's first document, else its path (a file that does not parse
    /// is still a rule file that changed).
    pub title: String,
    /// The path relative to the folder, with `/` separators.
    pub path: String,
    /// SHA-256 of the file's bytes, in hexadecimal.
    pub hash: String,
}

/// Every rule file (`.yml` / `.yaml`) under a folder, by [`RuleEntry::key`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    entries: BTreeMap<String, RuleEntry>,
}

/// What changed from one [`Inventory`] to the next, each list sorted by title.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Rules only in the new one.
    pub added: Vec<RuleEntry>,
    /// Rules only in the old one.
    pub removed: Vec<RuleEntry>,
    /// Rules in both whose files differ (the new entries).
    pub changed: Vec<RuleEntry>,
    /// Rules in both with the same bytes.
    pub unchanged: usize,
}

impl Changes {
    /// Whether nothing was added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

fn meta(document: &Document) -> &Metadata {
    match document {
        Document::Rule(rule) => &rule.meta,
        Document::Filter(filter) => &filter.meta,
        Document::Correlation(rule) => &rule.meta,
    }
}

fn is_rule_file(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| {
            extension.eq_ignore_ascii_case("yml") || extension.eq_ignore_ascii_case("yaml")
        })
}

impl Inventory {
    /// Reads every rule file under `root` (recursively, in path order; symbolic links are
    /// not followed). A folder that does not exist is an empty inventory.
    ///
    /// # Errors
    ///
    /// A file or folder that cannot be read.
    pub fn of_folder(root: &Path) -> Result<Inventory, PackError> {
        let mut inventory = Inventory::default();
        if !root.exists() {
            return Ok(inventory);
        }
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            let entry = entry.map_err(|error| PackError::Io {
                path: error.path().unwrap_or(root).to_path_buf(),
                error: error.into(),
            })?;
            if !entry.file_type().is_file() || !is_rule_file(entry.path()) {
                continue;
            }
            let bytes = fs::read(entry.path()).map_err(PackError::io(entry.path()))?;
            let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
            let path = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            inventory.add(&path, &bytes);
        }
        Ok(inventory)
    }

    /// Adds the rule file at `path` (relative) with these bytes.
    fn add(&mut self, path: &str, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let documents = tocsin_sigma::parse_documents(&text, Path::new(path));
        let first = documents.iter().find_map(|document| document.as_ref().ok());
        let id = first.and_then(|document| {
            let meta = meta(document);
            meta.id.clone().or_else(|| meta.name.clone())
        });
        let path_key = format!("path:{path}");
        let key = match id {
            Some(id) if !self.entries.contains_key(&id) => id,
            _ => path_key,
        };
        let title = first.map_or_else(|| path.to_owned(), |document| meta(document).title.clone());
        let hash = Sha256::digest(bytes)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        self.entries.insert(
            key.clone(),
            RuleEntry {
                key,
                title,
                path: path.to_owned(),
                hash,
            },
        );
    }

    /// How many rule files.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no rule file.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, by key.
    pub fn entries(&self) -> impl Iterator<Item = &RuleEntry> {
        self.entries.values()
    }

    /// What changed from `self` (the old set) to `new`.
    pub fn changes_to(&self, new: &Inventory) -> Changes {
        let mut changes = Changes::default();
        for (key, entry) in &new.entries {
            match self.entries.get(key) {
                None => changes.added.push(entry.clone()),
                Some(old) if old.hash != entry.hash => changes.changed.push(entry.clone()),
                Some(_) => changes.unchanged += 1,
            }
        }
        changes.removed = self
            .entries
            .iter()
            .filter(|(key, _)| !new.entries.contains_key(*key))
            .map(|(_, entry)| entry.clone())
            .collect();
        for list in [
            &mut changes.added,
            &mut changes.removed,
            &mut changes.changed,
        ] {
            list.sort_by(|a, b| a.title.cmp(&b.title).then_with(|| a.path.cmp(&b.path)));
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: Option<&str>, title: &str, image: &str) -> String {
        let id = id.map(|id| format!("id: {id}\n")).unwrap_or_default();
        format!(
            "title: {title}\n{id}logsource: {{product: windows, category: process_creation}}\n\
             detection: {{sel: {{Image|endswith: '{image}'}}, condition: sel}}\n"
        )
    }

    fn inventory(files: &[(&str, String)]) -> Inventory {
        let mut inventory = Inventory::default();
        for (path, text) in files {
            inventory.add(path, text.as_bytes());
        }
        inventory
    }

    #[test]
    fn rules_are_matched_by_id_then_path() {
        let old = inventory(&[
            ("a.yml", rule(Some("1"), "Kept", "a.exe")),
            ("b.yml", rule(Some("2"), "Edited", "b.exe")),
            ("c.yml", rule(Some("3"), "Dropped", "c.exe")),
            ("noid.yml", rule(None, "No id", "d.exe")),
        ]);
        let new = inventory(&[
            // Moved but the same id and bytes: unchanged.
            ("windows/a.yml", rule(Some("1"), "Kept", "a.exe")),
            ("b.yml", rule(Some("2"), "Edited", "b2.exe")),
            ("e.yml", rule(Some("5"), "New", "e.exe")),
            ("noid.yml", rule(None, "No id", "d.exe")),
            ("broken.yml", "title: [unclosed".to_owned()),
        ]);
        let changes = old.changes_to(&new);
        let titles = |list: &[RuleEntry]| list.iter().map(|e| e.title.clone()).collect::<Vec<_>>();
        assert_eq!(titles(&changes.added), ["New", "broken.yml"]);
        assert_eq!(titles(&changes.removed), ["Dropped"]);
        assert_eq!(titles(&changes.changed), ["Edited"]);
        assert_eq!(changes.unchanged, 2);
        assert!(!changes.is_empty());
        assert!(new.changes_to(&new).is_empty());
    }

    #[test]
    fn a_duplicate_id_falls_back_to_the_path() {
        let set = inventory(&[
            ("a.yml", rule(Some("1"), "One", "a.exe")),
            ("b.yml", rule(Some("1"), "Also one", "b.exe")),
        ]);
        assert_eq!(set.len(), 2);
        assert!(set.entries().any(|entry| entry.key == "path:b.yml"));
    }
}
