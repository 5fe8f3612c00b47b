//! [`IntelDir`]: the folder of pulled threat intelligence that detection reads as
//! indicators (`tocsin hunt --indicators DIR`, and `<data>/intel/` in `tocsin serve`).
//!
//! Each server and collection has one STIX 2.1 bundle file there, which every pull merges
//! into: an object is kept in its latest version (by id and `modified`), revoked ones
//! included, so that detection learns of revocations. Files are replaced atomically (a
//! temporary file in the same folder, then a rename), so a reader never sees half a bundle.
//! The `added_after` of the next incremental pull is kept per source in a small state file
//! (`.tocsin-taxii-state`, not a `.json` file, so that nothing takes it for a bundle).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The state file's name.
pub const STATE_FILE: &str = ".tocsin-taxii-state";

/// The UUID namespace of the bundles' ids (a v5 UUID of the source's key).
const BUNDLE_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6c1f_0f5e_9a57_4d1e_b0b4_2f3c_8e1a_7d21);

/// Why the intel folder cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    /// A file or folder cannot be used.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why (shown in the message, so not also a `source`).
        error: std::io::Error,
    },
    /// A file is not what it should be.
    #[error("{}: {message}", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// One source: a server's URL and a collection's id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceKey {
    /// The server or API root URL, as given.
    pub url: String,
    /// The collection's id.
    pub collection: String,
}

impl SourceKey {
    /// The key of `url` and `collection` (a trailing slash of the URL does not matter).
    pub fn new(url: &str, collection: &str) -> Self {
        SourceKey {
            url: url.trim().trim_end_matches('/').to_string(),
            collection: collection.to_string(),
        }
    }

    /// The key as one string (for the state file).
    fn text(&self) -> String {
        format!("{} {}", self.url, self.collection)
    }

    /// The bundle file's name: readable (host, path, collection) and unique (a hash).
    pub fn file_name(&self) -> String {
        let host_and_path = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, rest)| rest);
        let readable: String = format!("{host_and_path}_{}", self.collection)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(120)
            .collect();
        format!(
            "taxii_{readable}_{:08x}.json",
            fnv(self.text().as_bytes()) as u32
        )
    }
}

/// FNV-1a, 64 bits: a stable short hash for file names.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What a merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MergeCounts {
    /// Objects received.
    pub received: usize,
    /// Of them, indicators.
    pub indicators: usize,
    /// Objects not known before.
    pub new: usize,
    /// Objects known in an older version.
    pub updated: usize,
    /// Objects known in this version or a newer one.
    pub unchanged: usize,
    /// Objects without an id (left out).
    pub invalid: usize,
    /// Objects the bundle holds after the merge.
    pub total: usize,
}

impl MergeCounts {
    /// Whether the bundle changed.
    pub fn changed(&self) -> bool {
        self.new + self.updated > 0
    }
}

/// What is remembered of one source between pulls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// The latest `X-TAXII-Date-Added-Last` seen: the next pull's `added_after`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_added_last: Option<String>,
}

/// The file whose lock serialises writers of the folder (no `.json` extension: the
/// indicator loader reads only bundles).
const LOCK_FILE: &str = ".tocsin-taxii-lock";

/// The folder's lock, held until dropped ([`IntelDir::lock`]).
#[derive(Debug)]
pub struct IntelLock {
    _file: std::fs::File,
}

/// The folder of pulled bundles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntelDir {
    root: PathBuf,
}

impl IntelDir {
    /// The folder at `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        IntelDir { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The bundle file of `source`.
    pub fn bundle_path(&self, source: &SourceKey) -> PathBuf {
        self.root.join(source.file_name())
    }

    /// Waits for, then holds, the folder's lock (an advisory lock on a file in it): two
    /// pulls into one folder (`tocsin share pull` and the service's schedule) must not
    /// read, merge and write its bundles and state at the same time. Released on drop.
    pub fn lock(&self) -> Result<IntelLock, IntelError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |error| IntelError::Io { path, error }
        };
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let path = self.root.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        file.lock().map_err(io(&path))?;
        Ok(IntelLock { _file: file })
    }

    /// What is remembered of `source` (nothing if it was never pulled).
    pub fn state(&self, source: &SourceKey) -> Result<SourceState, IntelError> {
        Ok(self.states()?.remove(&source.text()).unwrap_or_default())
    }

    /// Remembers `state` for `source`.
    pub fn save_state(&self, source: &SourceKey, state: SourceState) -> Result<(), IntelError> {
        let mut states = self.states()?;
        states.insert(source.text(), state);
        let text = serde_json::to_vec_pretty(&states).unwrap_or_default();
        self.write_atomically(&self.root.join(STATE_FILE), &text)
    }

    /// Every source's state.
    fn states(&self) -> Result<BTreeMap<String, SourceState>, IntelError> {
        let path = self.root.join(STATE_FILE);
        match read_if_present(&path)? {
            None => Ok(BTreeMap::new()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|error| IntelError::Damaged {
                path,
                message: format!("not a state file: {error}"),
            }),
        }
    }

    /// Merges `objects` into the bundle of `source`, keeping each object's latest version,
    /// and writes the bundle if anything changed.
    pub fn merge(&self, source: &SourceKey, objects: &[Value]) -> Result<MergeCounts, IntelError> {
        let path = self.bundle_path(source);
        let mut known = self.read_bundle(&path)?;
        let mut counts = MergeCounts {
            received: objects.len(),
            ..MergeCounts::default()
        };
        for object in objects {
            merge_one(&mut known, object, &mut counts);
        }
        counts.total = known.len();
        if counts.changed() {
            let bundle = json!({
                "type": "bundle",
                "id": format!("bundle--{}", uuid::Uuid::new_v5(&BUNDLE_NAMESPACE, source.text().as_bytes())),
                "objects": known.into_values().collect::<Vec<_>>(),
            });
            let mut text = serde_json::to_vec_pretty(&bundle).unwrap_or_default();
            text.push(b'\n');
            self.write_atomically(&path, &text)?;
        }
        Ok(counts)
    }

    /// The objects of the bundle at `path` by id (none if there is no file yet).
    fn read_bundle(&self, path: &Path) -> Result<BTreeMap<String, Value>, IntelError> {
        let Some(bytes) = read_if_present(path)? else {
            return Ok(BTreeMap::new());
        };
        let damaged = |message: String| IntelError::Damaged {
            path: path.to_path_buf(),
            message,
        };
        let bundle: Value = serde_json::from_slice(&bytes)
            .map_err(|error| damaged(format!("not JSON: {error}")))?;
        let objects = bundle
            .get("objects")
            .and_then(Value::as_array)
            .ok_or_else(|| damaged("not a STIX bundle (no objects)".into()))?;
        Ok(objects
            .iter()
            .filter_map(|object| Some((id_of(object)?.to_string(), object.clone())))
            .collect())
    }

    /// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), IntelError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |error| IntelError::Io { path, error }
        };
        std::fs::create_dir_all(&self.root).map_err(io(&self.root))?;
        let mut file = tempfile::Builder::new()
            .prefix(".tocsin-tmp-")
            .tempfile_in(&self.root)
            .map_err(io(&self.root))?;
        file.write_all(bytes).map_err(io(file.path()))?;
        file.as_file().sync_all().map_err(io(file.path()))?;
        file.persist(path)
            .map_err(|persist| IntelError::Io {
                path: path.to_path_buf(),
                error: persist.error,
            })
            .map(drop)
    }
}

/// Merges one object into `known`, counting what happened.
fn merge_one(known: &mut BTreeMap<String, Value>, object: &Value, counts: &mut MergeCounts) {
    let Some(id) = id_of(object) else {
        counts.invalid += 1;
        return;
    };
    if object.get("type").and_then(Value::as_str) == Some("indicator") {
        counts.indicators += 1;
    }
    match known.get(id) {
        None => {
            counts.new += 1;
            known.insert(id.to_string(), object.clone());
        }
        Some(old) if newer(object, old) => {
            counts.updated += 1;
            known.insert(id.to_string(), object.clone());
        }
        Some(_) => counts.unchanged += 1,
    }
}

/// An object's id, if it has a sensible one.
fn id_of(object: &Value) -> Option<&str> {
    object
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| id.contains("--") && id.len() <= 256)
}

/// Whether `new` is a later version than `old` (by `modified`; objects without it are
/// immutable, so never newer).
fn newer(new: &Value, old: &Value) -> bool {
    let modified = |object: &Value| {
        object
            .get("modified")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match (modified(new), modified(old)) {
        (Some(new), Some(old)) => {
            let parse = |text: &str| chrono::DateTime::parse_from_rfc3339(text).ok();
            match (parse(&new), parse(&old)) {
                (Some(a), Some(b)) => a > b,
                _ => new > old,
            }
        }
        (Some(_), None) => true,
        _ => false,
    }
}

/// The bytes of `path`, or `None` if it does not exist.
fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, IntelError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(IntelError::Io {
            path: path.to_path_buf(),
            error,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indicator(id: &str, modified: &str) -> Value {
        json!({"type": "indicator", "spec_version": "2.1", "id": id, "modified": modified})
    }

    #[test]
    fn a_merge_keeps_the_latest_version_of_each_object() {
        let dir = tempfile::tempdir().unwrap();
        let intel = IntelDir::new(dir.path().join("intel"));
        let source = SourceKey::new("https://partner.example/api1/", "c1");
        let a1 = indicator("indicator--a", "2026-01-01T00:00:00.000Z");
        let a2 = indicator("indicator--a", "2026-02-01T00:00:00.000Z");
        let b = json!({"type": "ipv4-addr", "id": "ipv4-addr--b", "value": "203.0.113.9"});
        let first = intel.merge(&source, &[a2.clone(), b.clone()]).unwrap();
        assert_eq!((first.new, first.indicators, first.total), (2, 1, 2));
        let second = intel.merge(&source, &[a1, b]).unwrap();
        assert_eq!((second.new, second.updated, second.unchanged), (0, 0, 2));
        assert!(!second.changed());
        let a3 = indicator("indicator--a", "2026-03-01T00:00:00.000Z");
        let third = intel.merge(&source, std::slice::from_ref(&a3)).unwrap();
        assert_eq!(third.updated, 1);
        let text = std::fs::read_to_string(intel.bundle_path(&source)).unwrap();
        let bundle: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(bundle["type"], "bundle");
        assert!(bundle["objects"].as_array().unwrap().contains(&a3));
        let names: Vec<_> = std::fs::read_dir(intel.root())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }

    #[test]
    fn the_state_is_kept_per_source() {
        let dir = tempfile::tempdir().unwrap();
        let intel = IntelDir::new(dir.path());
        let one = SourceKey::new("http://a/api1", "c1");
        let two = SourceKey::new("http://a/api1/", "c2");
        assert_eq!(intel.state(&one).unwrap(), SourceState::default());
        let state = SourceState {
            date_added_last: Some("2026-01-01T00:00:00.000000Z".into()),
        };
        intel.save_state(&one, state.clone()).unwrap();
        assert_eq!(
            intel
                .state(&SourceKey::new("http://a/api1/", "c1"))
                .unwrap(),
            state
        );
        assert_eq!(intel.state(&two).unwrap(), SourceState::default());
        assert_ne!(one.file_name(), two.file_name());
        assert!(one.file_name().starts_with("taxii_a_api1_c1_"));
    }

    #[test]
    fn a_damaged_bundle_is_an_error_not_a_loss() {
        let dir = tempfile::tempdir().unwrap();
        let intel = IntelDir::new(dir.path());
        let source = SourceKey::new("http://a/", "c");
        std::fs::write(intel.bundle_path(&source), "{ nope").unwrap();
        let error = intel.merge(
            &source,
            &[indicator("indicator--a", "2026-01-01T00:00:00Z")],
        );
        assert!(matches!(error, Err(IntelError::Damaged { .. })));
    }

    #[test]
    fn one_writer_at_a_time_holds_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let intel = IntelDir::new(dir.path().join("intel"));
        let held = intel.lock().unwrap();
        let other = std::fs::File::open(dir.path().join("intel").join(LOCK_FILE)).unwrap();
        assert!(other.try_lock().is_err(), "a second writer must wait");
        drop(held);
        other.try_lock().unwrap();
    }
}
