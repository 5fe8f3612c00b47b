//! [`CollectionStore`]: a server's TAXII collections, their objects and the status of add
//! requests, in one SQLite file.
//!
//! # Design
//!
//! * An object version is keyed by (collection, object id, version instant); the version
//!   is the object's `modified`, else its `created`, else the date it was added (section
//!   3.1 of STIX for versioning). Adding a version that is already there succeeds and keeps
//!   the first copy and date added, so that a retried request changes nothing; an object
//!   without `modified` or `created` (an observable) that is already there with the same
//!   content is that version again, not a new one.
//! * Dates added are microseconds, strictly increasing across the whole store (a clock
//!   that stalls or steps back is overtaken by one microsecond), so that ordering by
//!   date added is total and the `next` cursor ([`crate::query`]) never skips or repeats.
//! * Each object is checked on its own: one without `type` or `id`, or of another STIX
//!   version than 2.1, is a failure entry of the request's [`Status`], not an error of the
//!   whole request. Requests are processed at once: every status is `complete`.
//! * Selection ([`Query`]) runs in two steps: SQL reads the collection's version keys, the
//!   filters pick among them per object (spec version, then version), then the page's JSON
//!   texts are read. Reads of large collections cost a pass over their keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::query::{cursor, Query, VersionFilter};
use crate::resources::{ManifestRecord, Status, StatusDetails, StatusValue, STIX_MEDIA_TYPE};
use crate::time::{format_micros, parse_micros};

/// The STIX version this store accepts.
pub const SPEC_VERSION: &str = "2.1";

/// How many status resources are kept; older ones are forgotten (a client polls a status
/// for seconds, not months).
pub const KEPT_STATUSES: i64 = 10_000;

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS collections (
    id TEXT PRIMARY KEY NOT NULL,
    alias TEXT UNIQUE,
    title TEXT NOT NULL,
    description TEXT
);
CREATE TABLE IF NOT EXISTS objects (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    version_micros INTEGER NOT NULL,
    version TEXT NOT NULL,
    date_added INTEGER NOT NULL,
    spec_version TEXT NOT NULL,
    type TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (collection, id, version_micros)
);
CREATE INDEX IF NOT EXISTS objects_by_date ON objects (collection, date_added);
CREATE TABLE IF NOT EXISTS statuses (
    id TEXT PRIMARY KEY NOT NULL,
    collection TEXT NOT NULL,
    json TEXT NOT NULL
);";

/// A collection as stored (the requester's rights are the server's business).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectionRecord {
    /// Its UUID.
    pub id: String,
    /// Its short name, usable in place of the id.
    pub alias: Option<String>,
    /// A human-readable name.
    pub title: String,
    /// What it holds.
    pub description: Option<String>,
}

/// One page of records, with what the response headers and paging need.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The records.
    pub items: Vec<T>,
    /// Whether more records match after this page.
    pub more: bool,
    /// The cursor of the following page, when there is one.
    pub next: Option<String>,
    /// The date added of the page's first record (for `X-TAXII-Date-Added-First`).
    pub first_added: Option<i64>,
    /// The date added of the page's last record (for `X-TAXII-Date-Added-Last`).
    pub last_added: Option<i64>,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("TAXII store {}", path.display())]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A stored JSON text does not read back (a damaged file).
    #[error("TAXII store {}: a stored object is not JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },
}

/// The key of one stored object version, and what the filters look at.
#[derive(Clone, Debug)]
struct Key {
    id: String,
    version_micros: i64,
    version: String,
    date_added: i64,
    spec_version: String,
    kind: String,
}

/// A checked object ready to insert.
struct Checked {
    id: String,
    kind: String,
    spec_version: String,
    version: Option<(i64, String)>,
    json: String,
}

/// A server's collections and objects; safe to share between threads.
pub struct CollectionStore {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// The latest date added given out, so that the next is later.
    last_added: Mutex<i64>,
}

impl std::fmt::Debug for CollectionStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CollectionStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl CollectionStore {
    /// Opens or creates the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let error = sqlite_error(path);
        let connection = Connection::open(path).map_err(&error)?;
        connection
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(&error)?;
        connection.execute_batch(SCHEMA).map_err(&error)?;
        let last: Option<i64> = connection
            .query_row("SELECT MAX(date_added) FROM objects", [], |row| row.get(0))
            .map_err(&error)?;
        Ok(CollectionStore {
            path: path.to_path_buf(),
            connection: Mutex::new(connection),
            last_added: Mutex::new(last.unwrap_or(0)),
        })
    }

    /// Creates the collection, or updates its alias, title and description. An alias is
    /// one collection's: another collection that had it loses it (a configuration may move
    /// an alias to a new id, or swap two).
    pub fn put_collection(&self, collection: &CollectionRecord) -> Result<(), StoreError> {
        let mut connection = self.lock();
        let transaction = connection.transaction().map_err(self.sqlite())?;
        transaction
            .execute(
                "UPDATE collections SET alias = NULL WHERE alias = ?1 AND id <> ?2",
                params![collection.alias, collection.id],
            )
            .map_err(self.sqlite())?;
        transaction
            .execute(
                "INSERT INTO collections (id, alias, title, description) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET alias = ?2, title = ?3, description = ?4",
                params![
                    collection.id,
                    collection.alias,
                    collection.title,
                    collection.description
                ],
            )
            .map_err(self.sqlite())?;
        transaction.commit().map_err(self.sqlite())
    }

    /// Every collection, by title then id.
    pub fn collections(&self) -> Result<Vec<CollectionRecord>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare("SELECT id, alias, title, description FROM collections ORDER BY title, id")
            .map_err(self.sqlite())?;
        let rows = statement
            .query_map([], collection_of_row)
            .map_err(self.sqlite())?;
        rows.collect::<Result<_, _>>().map_err(self.sqlite())
    }

    /// The collection with this id or alias.
    pub fn collection(&self, id_or_alias: &str) -> Result<Option<CollectionRecord>, StoreError> {
        self.lock()
            .query_row(
                "SELECT id, alias, title, description FROM collections
                 WHERE id = ?1 OR alias = ?1 ORDER BY id = ?1 DESC LIMIT 1",
                [id_or_alias],
                collection_of_row,
            )
            .optional()
            .map_err(self.sqlite())
    }

    /// Adds `objects` to `collection` (its id) at `now_micros`; the request's status, also
    /// kept for [`CollectionStore::status`].
    pub fn add_objects(
        &self,
        collection: &str,
        objects: &[Value],
        now_micros: i64,
    ) -> Result<Status, StoreError> {
        let mut connection = self.lock();
        let mut last = self.lock_last();
        let transaction = connection.transaction().map_err(self.sqlite())?;
        let mut status = empty_status(objects.len());
        for object in objects {
            match check(object) {
                Ok(checked) => {
                    *last = (*last + 1).max(now_micros);
                    let version =
                        insert(&transaction, collection, &checked, *last).map_err(self.sqlite())?;
                    status.successes.push(StatusDetails {
                        id: checked.id,
                        version,
                        message: None,
                    });
                }
                Err(failure) => status.failures.push(failure),
            }
        }
        *last = (*last + 1).max(now_micros);
        status.id = status_id();
        status.request_timestamp = Some(format_micros(now_micros));
        status.success_count = status.successes.len() as u64;
        status.failure_count = status.failures.len() as u64;
        let json = serde_json::to_string(&status).map_err(|source| StoreError::Json {
            path: self.path.clone(),
            source,
        })?;
        transaction
            .execute(
                "INSERT OR REPLACE INTO statuses (id, collection, json) VALUES (?1, ?2, ?3)",
                params![status.id, collection, json],
            )
            .map_err(self.sqlite())?;
        transaction
            .execute(
                "DELETE FROM statuses WHERE rowid <= (SELECT MAX(rowid) FROM statuses) - ?1",
                [KEPT_STATUSES],
            )
            .map_err(self.sqlite())?;
        transaction.commit().map_err(self.sqlite())?;
        Ok(status)
    }

    /// The status with this id, and the id of the collection it was about.
    pub fn status(&self, id: &str) -> Result<Option<(String, Status)>, StoreError> {
        let found: Option<(String, String)> = self
            .lock()
            .query_row(
                "SELECT collection, json FROM statuses WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(self.sqlite())?;
        match found {
            None => Ok(None),
            Some((collection, json)) => Ok(Some((collection, self.parse(&json)?))),
        }
    }

    /// A page of the collection's objects that `query` selects (latest version by default).
    pub fn objects(&self, collection: &str, query: &Query) -> Result<Page<Value>, StoreError> {
        let keys = self.select(collection, query, VersionFilter::last())?;
        let page = page_of(keys, query);
        let texts = self.texts(collection, &page.items)?;
        let objects = texts
            .iter()
            .map(|text| self.parse(text))
            .collect::<Result<Vec<Value>, _>>()?;
        Ok(with_items(page, objects))
    }

    /// Whether the collection holds any version of the object.
    pub fn has_object(&self, collection: &str, object_id: &str) -> Result<bool, StoreError> {
        self.lock()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM objects WHERE collection = ?1 AND id = ?2)",
                [collection, object_id],
                |row| row.get(0),
            )
            .map_err(self.sqlite())
    }

    /// A page of the collection's manifest records that `query` selects.
    pub fn manifest(
        &self,
        collection: &str,
        query: &Query,
    ) -> Result<Page<ManifestRecord>, StoreError> {
        let keys = self.select(collection, query, VersionFilter::last())?;
        let page = page_of(keys, query);
        let records = page.items.iter().map(manifest_record).collect();
        Ok(with_items(page, records))
    }

    /// A page of the versions of one object (every version by default), oldest added first.
    pub fn versions(
        &self,
        collection: &str,
        object_id: &str,
        query: &Query,
    ) -> Result<Page<String>, StoreError> {
        let mut query = query.clone();
        query.ids = vec![object_id.to_owned()];
        query.types.clear();
        query.versions = None;
        let keys = self.select(collection, &query, VersionFilter::all())?;
        let page = page_of(keys, &query);
        let versions = page.items.iter().map(|key| key.version.clone()).collect();
        Ok(with_items(page, versions))
    }

    /// Deletes the versions of one object that `query`'s version filters select (every
    /// version by default); how many were deleted.
    pub fn delete_object(
        &self,
        collection: &str,
        object_id: &str,
        query: &Query,
    ) -> Result<usize, StoreError> {
        let mut query = query.clone();
        query.ids = vec![object_id.to_owned()];
        query.types.clear();
        query.added_after = None;
        query.next = None;
        let keys = self.select(collection, &query, VersionFilter::all())?;
        let mut connection = self.lock();
        let transaction = connection.transaction().map_err(self.sqlite())?;
        for key in &keys {
            transaction
                .execute(
                    "DELETE FROM objects WHERE collection = ?1 AND id = ?2 AND version_micros = ?3",
                    params![collection, key.id, key.version_micros],
                )
                .map_err(self.sqlite())?;
        }
        transaction.commit().map_err(self.sqlite())?;
        Ok(keys.len())
    }

    /// The keys `query` selects, in order of date added (the page is cut later).
    fn select(
        &self,
        collection: &str,
        query: &Query,
        default_versions: VersionFilter,
    ) -> Result<Vec<Key>, StoreError> {
        let keys = self.keys(collection)?;
        let versions = query.versions_or(default_versions);
        let mut by_object: BTreeMap<String, Vec<Key>> = BTreeMap::new();
        for key in keys.into_iter().filter(|key| wanted(key, query)) {
            by_object.entry(key.id.clone()).or_default().push(key);
        }
        let mut chosen: Vec<Key> = by_object
            .into_values()
            .flat_map(|object| pick(object, &query.spec_versions, &versions))
            .filter(|key| query.after().is_none_or(|after| key.date_added > after))
            .collect();
        chosen.sort_by_key(|key| key.date_added);
        Ok(chosen)
    }

    /// Every version key of the collection.
    fn keys(&self, collection: &str) -> Result<Vec<Key>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare(
                "SELECT id, version_micros, version, date_added, spec_version, type
                 FROM objects WHERE collection = ?1",
            )
            .map_err(self.sqlite())?;
        let rows = statement
            .query_map([collection], |row| {
                Ok(Key {
                    id: row.get(0)?,
                    version_micros: row.get(1)?,
                    version: row.get(2)?,
                    date_added: row.get(3)?,
                    spec_version: row.get(4)?,
                    kind: row.get(5)?,
                })
            })
            .map_err(self.sqlite())?;
        rows.collect::<Result<_, _>>().map_err(self.sqlite())
    }

    /// The JSON texts of `keys`, in their order. A version deleted since the keys were read is left out.
    fn texts(&self, collection: &str, keys: &[Key]) -> Result<Vec<String>, StoreError> {
        let connection = self.lock();
        let mut statement = connection
            .prepare_cached(
                "SELECT json FROM objects WHERE collection = ?1 AND id = ?2 AND version_micros = ?3",
            )
            .map_err(self.sqlite())?;
        let mut texts = Vec::with_capacity(keys.len());
        for key in keys {
            let text: Option<String> = statement
                .query_row(params![collection, key.id, key.version_micros], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(self.sqlite())?;
            texts.extend(text);
        }
        Ok(texts)
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, text: &str) -> Result<T, StoreError> {
        serde_json::from_str(text).map_err(|source| StoreError::Json {
            path: self.path.clone(),
            source,
        })
    }

    fn sqlite(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        sqlite_error(&self.path)
    }

    /// The connection; every statement is atomic, so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_last(&self) -> MutexGuard<'_, i64> {
        self.last_added
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn sqlite_error(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

fn collection_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CollectionRecord> {
    Ok(CollectionRecord {
        id: row.get(0)?,
        alias: row.get(1)?,
        title: row.get(2)?,
        description: row.get(3)?,
    })
}

/// A status with no entries yet, for a request of `total` objects.
fn empty_status(total: usize) -> Status {
    Status {
        id: String::new(),
        status: StatusValue::Complete,
        request_timestamp: None,
        total_count: total as u64,
        success_count: 0,
        successes: Vec::new(),
        failure_count: 0,
        failures: Vec::new(),
        pending_count: 0,
        pendings: Vec::new(),
    }
}

/// A new status id: a random UUID, so that a status is read only by whom its id was
/// given to (another writer of the collection cannot guess it).
fn status_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Checks one object of an add request: a failure entry says why it is refused.
fn check(object: &Value) -> Result<Checked, StatusDetails> {
    let text = |name: &str| object.get(name).and_then(Value::as_str);
    let id = text("id").unwrap_or_default().to_owned();
    let version = text("modified").or_else(|| text("created"));
    let fail = |message: &str| StatusDetails {
        id: id.clone(),
        version: version.unwrap_or_default().to_owned(),
        message: Some(message.to_owned()),
    };
    let Some(kind) = text("type").filter(|kind| !kind.is_empty()) else {
        return Err(fail("the object has no type"));
    };
    if id.is_empty() {
        return Err(fail("the object has no id"));
    }
    if !id.starts_with(&format!("{kind}--")) || id.len() > 256 {
        return Err(fail("the id is not TYPE--UUID of the object's type"));
    }
    let spec_version = match object.get("spec_version") {
        None => SPEC_VERSION,
        Some(Value::String(v)) if v == SPEC_VERSION => SPEC_VERSION,
        Some(_) => return Err(fail("only STIX spec_version 2.1 is accepted")),
    };
    let version = match version {
        None => None,
        Some(text) => match parse_micros(text) {
            Some(micros) => Some((micros, text.to_owned())),
            None => return Err(fail("modified or created is not an RFC 3339 timestamp")),
        },
    };
    Ok(Checked {
        id: id.clone(),
        kind: kind.to_owned(),
        spec_version: spec_version.to_owned(),
        version,
        json: object.to_string(),
    })
}

/// Inserts a checked object added at `date_added` unless that version is there; its
/// version text.
fn insert(
    transaction: &rusqlite::Transaction<'_>,
    collection: &str,
    object: &Checked,
    date_added: i64,
) -> rusqlite::Result<String> {
    if object.version.is_none() {
        let same: Option<String> = transaction
            .query_row(
                "SELECT version FROM objects WHERE collection = ?1 AND id = ?2 AND json = ?3
                 LIMIT 1",
                params![collection, object.id, object.json],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(version) = same {
            return Ok(version);
        }
    }
    let (micros, version) = object
        .version
        .clone()
        .unwrap_or_else(|| (date_added, format_micros(date_added)));
    transaction.execute(
        "INSERT OR IGNORE INTO objects
         (collection, id, version_micros, version, date_added, spec_version, type, json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            collection,
            object.id,
            micros,
            version,
            date_added,
            object.spec_version,
            object.kind,
            object.json
        ],
    )?;
    Ok(version)
}

/// Whether a key passes the id and type filters.
fn wanted(key: &Key, query: &Query) -> bool {
    (query.ids.is_empty() || query.ids.contains(&key.id))
        && (query.types.is_empty() || query.types.contains(&key.kind))
}

/// The versions of one object that the spec-version and version filters keep.
fn pick(mut object: Vec<Key>, spec_versions: &[String], versions: &VersionFilter) -> Vec<Key> {
    match spec_versions.is_empty() {
        true => {
            let latest = object.iter().map(|key| key.spec_version.clone()).max();
            object.retain(|key| Some(&key.spec_version) == latest.as_ref());
        }
        false => object.retain(|key| spec_versions.contains(&key.spec_version)),
    }
    object.sort_by_key(|key| key.version_micros);
    let (first, last) = match (object.first(), object.last()) {
        (Some(first), Some(last)) => (first.version_micros, last.version_micros),
        _ => return Vec::new(),
    };
    object.retain(|key| {
        versions.all
            || (versions.first && key.version_micros == first)
            || (versions.last && key.version_micros == last)
            || versions.at.contains(&key.version_micros)
    });
    object
}

/// The first `query.limit` keys, with the paging that follows them.
fn page_of(mut keys: Vec<Key>, query: &Query) -> Page<Key> {
    let more = keys.len() > query.limit;
    keys.truncate(query.limit);
    let first_added = keys.first().map(|key| key.date_added);
    let last_added = keys.last().map(|key| key.date_added);
    Page {
        items: keys,
        more,
        next: last_added.filter(|_| more).map(cursor),
        first_added,
        last_added,
    }
}

/// The same page with other items.
fn with_items<T, U>(page: Page<T>, items: Vec<U>) -> Page<U> {
    Page {
        items,
        more: page.more,
        next: page.next,
        first_added: page.first_added,
        last_added: page.last_added,
    }
}

fn manifest_record(key: &Key) -> ManifestRecord {
    ManifestRecord {
        id: key.id.clone(),
        date_added: format_micros(key.date_added),
        version: key.version.clone(),
        media_type: Some(STIX_MEDIA_TYPE.to_owned()),
    }
}

#[cfg(test)]
mod tests;
