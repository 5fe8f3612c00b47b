//! [`SqliteStore`]: the embedded, single-file implementation of [`IncidentStore`].
//!
//! No incident policy lives here: a save reads what the store holds, lets
//! [`SavePlan`] decide which incidents were absorbed and which lifecycles pass on, and writes
//! the plan, all in one transaction (or, for a store set to
//! [`SqliteStore::save_in_slices`], in slices).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use tocsin_incident::{
    Alert, AuditRecord, Incident, IncidentFilter, IncidentState, IncidentStore, Known, Lifecycle,
    NewSuppression, Placement, PutOutcome, Removal, SavePlan, Suppression,
};

use crate::error::StoreError;
use crate::schema::{check_identity, migrate, LATEST_VERSION};
use crate::suppressions;
use crate::turn::WriteTurn;

/// How long a writer waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A tocsin store in one SQLite file (plus its `-wal` and `-shm` companions while open).
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// How saves of incidents are cut into slices, if they are.
    slicing: Option<Slicing>,
}

/// How a store's saves of incidents are cut (see [`SqliteStore::save_in_slices`]).
#[derive(Debug, Clone)]
struct Slicing {
    turn: Arc<WriteTurn>,
    members: usize,
}

/// How many times an open that met a busy database is tried before giving up.
const OPEN_ATTEMPTS: u32 = 50;

impl SqliteStore {
    /// Opens the store at `path` for reading and writing, creating it and applying pending
    /// migrations as needed. Refuses files that are not tocsin stores, were written by a
    /// newer tocsin, or cannot be written (so that a hunt fails before it scans).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_at_version(path.as_ref(), LATEST_VERSION)
    }

    /// Lets this connection's commits grow the write-ahead log up to `pages` pages (SQLite's
    /// default is 1,000) before one of them copies it into the store: a writer whose every
    /// commit must be quick (the service's committer) leaves the copying to a connection
    /// that calls [`SqliteStore::checkpoint`] at its own pace, and copies only when the log
    /// grew that far without it.
    pub fn defer_checkpoints(&self, pages: u32) -> Result<(), StoreError> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", pages)
            .map_err(|e| self.sql(e))
    }

    /// Saves incidents ([`IncidentStore::save_incidents`] and
    /// [`IncidentStore::save_incidents_with_blobs`]) in slices of about `members` rows each
    /// (an incident weighs as many as its members; one incident's memberships may spread
    /// over several slices after it), each slice its own transaction
    /// taken through `turn`, so that another writer of the process waiting there
    /// ([`WriteTurn::urgent`]) goes between two slices instead of after the whole save.
    ///
    /// A save is then not atomic: a reader may see some incidents of a regrouping saved
    /// and others not yet, for as long as the save takes. The first slice writes what the
    /// save absorbs and passes on (absorptions and inheritances decided before any
    /// detection moves) and the last one the blobs, so a crash in between leaves the blobs
    /// of the save unwritten: a caller that writes with its last blobs how far its grouping
    /// went (as `tocsin-pipeline`'s writer does) reads the crash from them and regroups,
    /// and the regrouping finds the absorptions already made.
    pub fn save_in_slices(&mut self, turn: Arc<WriteTurn>, members: usize) {
        self.slicing = Some(Slicing {
            turn,
            members: members.max(1),
        });
    }

    /// Copies what the write-ahead log holds into the store as far as it can without
    /// waiting for readers or writers (a passive checkpoint); returns how many pages the
    /// log holds.
    pub fn checkpoint(&self) -> Result<u64, StoreError> {
        let started = std::time::Instant::now();
        let (_, log_pages, copied_pages) = self.checkpoint_mode("PASSIVE")?;
        tracing::debug!(
            log_pages,
            copied_pages,
            took_ms = started.elapsed().as_millis() as u64,
            "write-ahead log copied into the store"
        );
        Ok(log_pages)
    }

    /// Copies the rest of the write-ahead log into the store and makes the next commit
    /// write the log from its start again, if that needs no waiting: no other connection
    /// may be writing, and none reading an older state of the store. Returns whether the
    /// log restarts.
    ///
    /// Passive checkpoints alone never restart a log that is written to all the time (a
    /// commit always lands between a checkpoint and the next commit), so the log grows
    /// until a commit copies it itself, and that commit waits for the copy and its fsync:
    /// a caller that holds the process's write turn (no commit of its own can start) and
    /// calls this after a passive checkpoint keeps the log short and the commits quick.
    pub fn restart_log(&self) -> Result<bool, StoreError> {
        let started = std::time::Instant::now();
        self.conn
            .busy_timeout(Duration::ZERO)
            .map_err(|e| self.sql(e))?;
        let restarted = self.checkpoint_mode("RESTART");
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.sql(e))?;
        let (busy, log_pages, _) = restarted?;
        tracing::debug!(
            restarted = !busy,
            log_pages,
            took_ms = started.elapsed().as_millis() as u64,
            "write-ahead log restarted"
        );
        Ok(!busy)
    }

    /// Runs `PRAGMA wal_checkpoint(mode)`: whether it stopped short for a busy lock or
    /// reader, the pages in the log, and those copied.
    fn checkpoint_mode(&self, mode: &str) -> Result<(bool, u64, u64), StoreError> {
        let (busy, log_pages, copied_pages): (i64, i64, i64) = self
            .conn
            .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(|e| self.sql(e))?;
        Ok((
            busy != 0,
            log_pages.max(0) as u64,
            copied_pages.max(0) as u64,
        ))
    }

    /// Whether the alerts' ids run from 1 without a gap, so that the alerts stored after
    /// the first `n` are those with an id above `n`: alerts are never deleted, so only a
    /// store edited by hand fails this.
    fn ids_in_stored_order(&self) -> Result<bool, StoreError> {
        let (stored, last): (i64, Option<i64>) = self
            .conn
            .query_row("SELECT count(*), max(id) FROM alerts", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(|e| self.sql(e))?;
        Ok(last.unwrap_or(0) == stored)
    }

    /// Opens an existing store for reading only (`incidents list`, `show`, reports): nothing
    /// is written, not even the journal mode, so a store in a read-only folder or on
    /// read-only media can be read. SQLite's WAL needs its `-shm` index, which a reader must
    /// be able to create; when it cannot (a read-only folder) and no `-wal` file holds
    /// writes not yet merged into the store, the file is opened as immutable instead.
    /// Refuses a store this build would have to migrate first.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        match Self::try_open_read_only(path, false) {
            Ok(store) => Ok(store),
            Err(error) if error.is_busy() || !crate::read_only::wal_is_empty(path) => Err(error),
            Err(error) => Self::try_open_read_only(path, true).map_err(|_| error),
        }
    }

    fn try_open_read_only(path: &Path, immutable: bool) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let sqlite = |error| StoreError::Sqlite {
            path: path.to_path_buf(),
            error,
        };
        let uri = crate::read_only::uri(path, immutable);
        let conn = Connection::open_with_flags(uri, flags).map_err(sqlite)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        conn.pragma_update(None, "query_only", "ON")
            .map_err(sqlite)?;
        let version = check_identity(&conn, path)?;
        if version != LATEST_VERSION {
            return Err(StoreError::NeedsMigration {
                path: path.to_path_buf(),
                found: version,
                latest: LATEST_VERSION,
            });
        }
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
            slicing: None,
        })
    }

    /// Opens (or creates) the store migrated only up to `version`, to test migrations from
    /// older stores.
    pub(crate) fn open_at_version(path: &Path, version: i64) -> Result<Self, StoreError> {
        // SQLite refuses to wait (to avoid a deadlock) in a few moments of another process
        // creating the same store, such as its switch to WAL; such an open is retried.
        let mut attempts = 0;
        loop {
            match Self::try_open(path, version) {
                Err(error) if error.is_busy() && attempts < OPEN_ATTEMPTS => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                result => return result,
            }
        }
    }

    fn try_open(path: &Path, version: i64) -> Result<Self, StoreError> {
        let path = path.to_path_buf();
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let sqlite = |error| StoreError::Sqlite {
            path: path.clone(),
            error,
        };
        let mut conn = Connection::open_with_flags(&path, flags).map_err(sqlite)?;
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(sqlite)? {
            return Err(StoreError::ReadOnly { path });
        }
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        let current = check_identity(&conn, &path)?;
        configure(&conn).map_err(sqlite)?;
        migrate(&mut conn, &path, current, version)?;
        Ok(SqliteStore {
            conn,
            path,
            slicing: None,
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| self.sql(e))
    }

    /// Runs SQLite's `PRAGMA integrity_check`; `Ok(())` when the file is sound, otherwise
    /// the problems it lists.
    pub fn integrity_check(&self) -> Result<Result<(), String>, StoreError> {
        let mut statement = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(|e| self.sql(e))?;
        let lines = statement
            .query_map([], |row| row.get::<_, String>(0))
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(|e| self.sql(e))?;
        Ok(if lines == ["ok"] {
            Ok(())
        } else {
            Err(lines.join("; "))
        })
    }

    /// Row counts of the alerts, incidents, memberships and audit tables, for checks.
    pub fn counts(&self) -> Result<[i64; 4], StoreError> {
        let mut counts = [0; 4];
        for (slot, table) in counts
            .iter_mut()
            .zip(["alerts", "incidents", "memberships", "audit"])
        {
            *slot = self
                .conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                    row.get(0)
                })
                .map_err(|e| self.sql(e))?;
        }
        Ok(counts)
    }

    fn sql(&self, error: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            error,
        }
    }

    fn corrupt(&self, what: &'static str, id: &str, source: serde_json::Error) -> StoreError {
        corrupt_at(&self.path, what, id, source)
    }

    /// Runs `work` in one transaction, which takes the write lock up front: a save reads
    /// what the store holds before it writes, and no other writer may come in between.
    fn write<T>(
        &mut self,
        work: impl FnOnce(&Transaction<'_>, &Path) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let sql = |error| StoreError::Sqlite {
            path: path.clone(),
            error,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql)?;
        let result = work(&tx, &path)?;
        crate::fault::before_commit();
        tx.commit().map_err(sql)?;
        crate::fault::after_commit();
        Ok(result)
    }

    /// Saves incidents in slices (see [`SqliteStore::save_in_slices`]). The memberships are
    /// read first, without the write lock: they move only through the saves of one writer
    /// (a service has one grouper). The first slice reads the incidents' states again, under
    /// the lock and before any membership moves, and writes the absorptions and
    /// inheritances with the survivors they name; the next write the incidents and their
    /// memberships; the last the blobs. A save stopped after its first slice has decided
    /// what it absorbs, so the regrouping that repairs it finds the same.
    fn save_sliced(
        &mut self,
        incidents: &[Incident],
        blobs: &[(&str, &[u8])],
        slicing: &Slicing,
    ) -> Result<(), StoreError> {
        // One read transaction for all the look-ups, rather than one each.
        let reading = self.conn.unchecked_transaction().map_err(|e| self.sql(e))?;
        let ids = MemberIds::look_up(&reading, incidents).map_err(|e| self.sql(e))?;
        let placed = stored_owners(&reading, &ids).map_err(|e| self.sql(e))?;
        reading.commit().map_err(|e| self.sql(e))?;
        let owners: BTreeMap<String, String> = placed
            .iter()
            .map(|(key, (owner, _))| (key.clone(), owner.clone()))
            .collect();
        let mut plan = None;
        let asked = std::time::Instant::now();
        slicing.turn.slice(|| {
            let started = std::time::Instant::now();
            let done = self.write(|tx, path| {
                let known = Known::read(incidents, |_| Ok(owners), |ids| states_in(tx, path, ids))?;
                let read_ms = started.elapsed().as_millis() as u64;
                let planned = plan.insert(SavePlan::compute(incidents, &known));
                let plan_ms = started.elapsed().as_millis() as u64 - read_ms;
                apply_merges_with_survivors(tx, planned).map_err(|e| sql_at(path, e))?;
                tracing::debug!(
                    incidents = incidents.len(),
                    waited_ms = started.duration_since(asked).as_millis() as u64,
                    read_ms,
                    plan_ms,
                    "grouping plan made"
                );
                Ok(())
            });
            tracing::debug!(
                took_ms = started.elapsed().as_millis() as u64,
                "grouping plan saved"
            );
            done
        })?;
        let Some(plan) = plan else {
            return Ok(());
        };
        // A detection stored where the plan places it is not written again: a live incident
        // that takes a few detections keeps the rows of the thousands it holds.
        let moved: Vec<Placement<'_>> = plan
            .memberships
            .iter()
            .filter(|to| {
                placed.get(to.alert_key).is_none_or(|(owner, position)| {
                    owner != to.incident_id || usize::try_from(*position).ok() != Some(to.position)
                })
            })
            .copied()
            .collect();
        let mut moved_into: HashMap<&str, usize> = HashMap::new();
        for to in &moved {
            *moved_into.entry(to.incident_id).or_default() += 1;
        }
        let weights: Vec<Weight> = plan
            .upserts
            .iter()
            .map(|incident| Weight {
                incident: incident.members.len(),
                placements: moved_into.get(incident.id.as_str()).copied().unwrap_or(0),
            })
            .collect();
        let parts = parts(&weights, slicing.members);
        for (index, part) in parts.iter().enumerate() {
            let last = index + 1 == parts.len();
            let started = std::time::Instant::now();
            slicing.turn.slice(|| {
                let written = std::time::Instant::now();
                let mut incident_bytes = 0;
                let done = self.write(|tx, path| {
                    let sql = |e| sql_at(path, e);
                    let upserts = &plan.upserts[part.upserts.clone()];
                    let placements = &moved[part.placements.clone()];
                    incident_bytes = apply_incidents(tx, upserts, placements, &ids).map_err(sql)?;
                    if last {
                        for (name, bytes) in blobs {
                            upsert_blob(tx, name, bytes).map_err(sql)?;
                        }
                    }
                    Ok(())
                });
                tracing::debug!(
                    incidents = part.upserts.len(),
                    detections = plan.upserts[part.upserts.clone()]
                        .iter()
                        .map(|incident| incident.members.len())
                        .sum::<usize>(),
                    placements = part.placements.len(),
                    incident_bytes,
                    waited_ms = written.duration_since(started).as_millis() as u64,
                    write_ms = written.elapsed().as_millis() as u64,
                    "grouping slice saved"
                );
                done
            })?;
        }
        Ok(())
    }

    fn alerts_where(&self, condition: &str, param: Option<&str>) -> Result<Vec<Alert>, StoreError> {
        let query = format!("SELECT a.key, a.body FROM alerts a {condition}");
        let mut statement = self.conn.prepare(&query).map_err(|e| self.sql(e))?;
        let rows = match param {
            Some(p) => statement.query_map([p], key_and_text),
            None => statement.query_map([], key_and_text),
        }
        .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
        .map_err(|e| self.sql(e))?;
        self.parse_alerts(rows)
    }

    /// Stored alerts from their keys and JSON bodies.
    fn parse_alerts(&self, rows: Vec<(String, String)>) -> Result<Vec<Alert>, StoreError> {
        rows.into_iter()
            .map(|(key, body)| {
                serde_json::from_str(&body).map_err(|e| self.corrupt("alert", &key, e))
            })
            .collect()
    }

    fn incident_from(
        &self,
        id: &str,
        computed: &str,
        lifecycle: &str,
    ) -> Result<Incident, StoreError> {
        incident_at(&self.path, id, computed, lifecycle)
    }
}

fn key_and_text(row: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String)> {
    Ok((row.get(0)?, row.get(1)?))
}

/// WAL for crash safety and concurrent readers, foreign keys on, a busy timeout.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")
}

fn to_json<T: serde::Serialize>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// What a save knows of a detection's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// Detected at this time (microseconds since the Unix epoch).
    At(i64),
    /// Stored without a time.
    Untimed,
    /// Not on its incident's timeline (an incident not built by the grouping): found by
    /// its key alone, which reads every stored detection.
    Unknown,
}

impl When {
    /// Whether a detection stored at `micros` (`None`: without a time) is the one detected
    /// now, as [`alert_id`] would find it.
    fn admits(self, micros: Option<i64>) -> bool {
        match self {
            When::At(at) => micros == Some(at),
            When::Untimed => micros.is_none(),
            When::Unknown => true,
        }
    }
}

/// The detections stored under incident `id`, by key: one range of `memberships_by_incident`.
fn stored_members(conn: &Connection, id: &str) -> rusqlite::Result<HashMap<String, StoredMember>> {
    let mut statement = conn.prepare_cached(
        "SELECT a.key, a.timestamp_micros, m.alert_id, m.position
         FROM memberships m JOIN alerts a ON a.id = m.alert_id WHERE m.incident_id = ?1",
    )?;
    let rows = statement.query_map([id], |row| {
        Ok((row.get(0)?, (row.get(1)?, row.get(2)?, row.get(3)?)))
    })?;
    rows.collect()
}

/// The stored ids of a save's members, each looked up once. A detection is stored unique
/// by its time and key, and found by both: its time comes from its incident's timeline
/// (one line per detection). Keys are random; an index of them alone would cost a page
/// written per stored detection, where the time index only grows at its end (see
/// migration 7). Detections are never deleted, so an id found before a sliced save's
/// first slice still names the same detection at its last.
struct MemberIds<'a> {
    /// Each member's key and id (`None` when it is not stored), in the order of the
    /// incidents and their members.
    members: Vec<(&'a str, Option<i64>)>,
    /// The same, by key.
    by_key: HashMap<&'a str, Option<i64>>,
    /// The incident and position of each member found stored under the id of the incident
    /// that names it (the others, moved or new, are looked up one by one).
    placed_at_home: HashMap<&'a str, (String, i64)>,
}

/// A detection stored under an incident: its time, id and position there.
type StoredMember = (Option<i64>, i64, i64);

impl<'a> MemberIds<'a> {
    /// Looks up every member of `incidents`: those stored under their incident's id with
    /// one read of its memberships (a live incident that takes a few detections holds
    /// thousands stored at its last save), the others one by one.
    fn look_up(conn: &Connection, incidents: &'a [Incident]) -> rusqlite::Result<MemberIds<'a>> {
        let mut members = Vec::new();
        let mut placed_at_home = HashMap::new();
        for incident in incidents {
            let times: HashMap<&str, Option<i64>> = incident
                .timeline
                .iter()
                .map(|line| (line.alert_key.as_str(), line.at_micros))
                .collect();
            let stored = stored_members(conn, &incident.id)?;
            for member in &incident.members {
                let key = member.alert_key.as_str();
                let when = match times.get(key) {
                    Some(Some(micros)) => When::At(*micros),
                    Some(None) => When::Untimed,
                    None => When::Unknown,
                };
                let at_home = stored
                    .get(key)
                    .filter(|(micros, _, _)| when.admits(*micros));
                let id = match at_home {
                    Some(&(_, id, position)) => {
                        placed_at_home.insert(key, (incident.id.clone(), position));
                        Some(id)
                    }
                    None => alert_id(conn, key, when)?,
                };
                members.push((key, id));
            }
        }
        let by_key = members.iter().copied().collect();
        Ok(MemberIds {
            members,
            by_key,
            placed_at_home,
        })
    }

    /// The id of the stored detection with key `key`: the member's, or looked up by key
    /// alone for a key that is not a member.
    fn of_key(&self, conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
        match self.by_key.get(key) {
            Some(id) => Ok(*id),
            None => alert_id(conn, key, When::Unknown),
        }
    }
}

/// The id of a detection by its time and key, through the unique index `alerts_by_time`.
pub(crate) const ALERT_ID_AT: &str =
    "SELECT id FROM alerts WHERE timestamp_micros = ?2 AND key = ?1";
/// The id of an untimed detection by its key, through a unique index (`alerts_untimed`, or
/// `alerts_by_time`, whose null times sort first: SQLite picks).
pub(crate) const ALERT_ID_UNTIMED: &str =
    "SELECT id FROM alerts WHERE timestamp_micros IS NULL AND key = ?1";
/// The id of a detection by its key alone, which reads every stored detection.
const ALERT_ID_ANY_TIME: &str = "SELECT id FROM alerts WHERE key = ?1";

/// The id of the stored detection with key `key` detected `when`, if it is stored: through
/// the unique indexes of times and keys. A detection not
/// found at its time is looked for by its key alone before it is called missing (a miss
/// fails the save, and a service's grouper with it; no detection is stored at another time
/// than its key hashes, but a store is not trusted to hold only what this code wrote).
fn alert_id(conn: &Connection, key: &str, when: When) -> rusqlite::Result<Option<i64>> {
    let found = match when {
        When::At(micros) => conn
            .prepare_cached(ALERT_ID_AT)?
            .query_row(params![key, micros], |row| row.get(0))
            .optional()?,
        When::Untimed => conn
            .prepare_cached(ALERT_ID_UNTIMED)?
            .query_row([key], |row| row.get(0))
            .optional()?,
        When::Unknown => None,
    };
    match found {
        Some(id) => Ok(Some(id)),
        None => conn
            .prepare_cached(ALERT_ID_ANY_TIME)?
            .query_row([key], |row| row.get(0))
            .optional(),
    }
}

/// The incident the detection with id `alert_id` is stored under and its position there.
fn membership_of(conn: &Connection, alert_id: i64) -> rusqlite::Result<Option<(String, i64)>> {
    conn.prepare_cached("SELECT incident_id, position FROM memberships WHERE alert_id = ?1")?
        .query_row([alert_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
}

/// Inserts alerts that are not stored yet.
fn insert_alerts(tx: &Transaction<'_>, alerts: &[Alert]) -> rusqlite::Result<Vec<bool>> {
    let mut statement = tx.prepare_cached(
        "INSERT OR IGNORE INTO alerts (key, kind, rule_id, level, timestamp_micros, source, record, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut first_time = Vec::with_capacity(alerts.len());
    for alert in alerts {
        let record = i64::try_from(alert.origin.record).unwrap_or(i64::MAX);
        let added = statement.execute(params![
            alert.key,
            alert.kind.as_str(),
            alert.rule.id,
            alert.rule.level.as_str(),
            alert.timestamp_micros,
            alert.origin.source,
            record,
            to_json(alert)?,
        ])?;
        first_time.push(added != 0);
    }
    Ok(first_time)
}

/// Saves a regrouping: reads what the store holds, plans the save with the incident crate
/// and applies the plan, all inside the caller's transaction.
fn save_planned(
    tx: &Transaction<'_>,
    path: &Path,
    incidents: &[Incident],
) -> Result<(), StoreError> {
    let ids = MemberIds::look_up(tx, incidents).map_err(|e| sql_at(path, e))?;
    let plan = planned(tx, path, incidents, &ids)?;
    apply_plan(tx, &plan, &ids).map_err(|e| sql_at(path, e))
}

/// The plan for saving a regrouping, from what the store holds (read in the caller's
/// transaction).
fn planned<'a>(
    tx: &Transaction<'_>,
    path: &Path,
    incidents: &'a [Incident],
    ids: &MemberIds<'_>,
) -> Result<SavePlan<'a>, StoreError> {
    let known = Known::read(
        incidents,
        |_| memberships_in(tx, ids).map_err(|e| sql_at(path, e)),
        |ids| states_in(tx, path, ids),
    )?;
    Ok(SavePlan::compute(incidents, &known))
}

/// One slice of a sliced save: the plan's incidents and placements it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    upserts: Range<usize>,
    placements: Range<usize>,
}

/// What an incident of a sliced save weighs: its JSON as many rows as its members (it holds
/// them), and the placements of its members the save writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Weight {
    incident: usize,
    placements: usize,
}

/// A plan cut into parts of about `budget` rows, each incident as heavy as its [`Weight`];
/// an incident comes before the placements of its members, which may spread over the parts
/// after it. There is always one part (the last writes the blobs), even for no incidents.
fn parts(incidents: &[Weight], budget: usize) -> Vec<Part> {
    let budget = budget.max(1);
    let mut parts = Vec::new();
    let (mut placed, mut weight) = (0, 0);
    let mut part = Part {
        upserts: 0..0,
        placements: 0..0,
    };
    let mut cut = |part: &mut Part, weight: &mut usize, next_upsert: usize, placed: usize| {
        let next = Part {
            upserts: next_upsert..next_upsert,
            placements: placed..placed,
        };
        parts.push(std::mem::replace(part, next));
        *weight = 0;
    };
    for (index, incident) in incidents.iter().enumerate() {
        let heavy = incident.incident.max(1);
        if weight > 0 && weight + heavy > budget {
            cut(&mut part, &mut weight, index, placed);
        }
        part.upserts.end = index + 1;
        weight += heavy;
        let mut left = incident.placements;
        while left > 0 {
            if weight >= budget {
                cut(&mut part, &mut weight, index + 1, placed);
            }
            let take = left.min(budget - weight);
            placed += take;
            part.placements.end = placed;
            weight += take;
            left -= take;
        }
    }
    parts.push(part);
    parts
}

/// The incident each of the members of a save is stored under, by key.
fn memberships_in(
    conn: &Connection,
    ids: &MemberIds<'_>,
) -> rusqlite::Result<BTreeMap<String, String>> {
    let placed = placed_members(conn, ids)?;
    Ok(placed
        .into_iter()
        .map(|(key, (owner, _))| (key, owner))
        .collect())
}

/// The incident each of the members of a save is stored under and its position there, like
/// [`memberships_in`], refusing a member whose alert is not stored: a sliced save checks
/// this before its first slice, since a later slice cannot undo what the earlier ones
/// committed.
fn stored_owners(
    conn: &Connection,
    ids: &MemberIds<'_>,
) -> rusqlite::Result<BTreeMap<String, (String, i64)>> {
    if let Some((key, _)) = ids.members.iter().find(|(_, id)| id.is_none()) {
        return Err(missing_alert(key));
    }
    placed_members(conn, ids)
}

/// The incident each stored member of a save is stored under and its position there.
fn placed_members(
    conn: &Connection,
    ids: &MemberIds<'_>,
) -> rusqlite::Result<BTreeMap<String, (String, i64)>> {
    let mut placed = BTreeMap::new();
    for &(key, id) in &ids.members {
        let membership = match ids.placed_at_home.get(key) {
            Some(home) => Some(home.clone()),
            None => id.map(|id| membership_of(conn, id)).transpose()?.flatten(),
        };
        if let Some(membership) = membership {
            placed.insert(key.to_owned(), membership);
        }
    }
    Ok(placed)
}

/// The incident each of `keys` is stored under, found by key alone: one pass over the
/// stored memberships (saves find their members by time and key instead).
fn memberships_by_key(
    conn: &Connection,
    keys: &[&str],
) -> rusqlite::Result<BTreeMap<String, String>> {
    if keys.is_empty() {
        return Ok(BTreeMap::new());
    }
    let wanted: std::collections::HashSet<&str> = keys.iter().copied().collect();
    let mut statement = conn.prepare_cached(
        "SELECT a.key, m.incident_id FROM memberships m JOIN alerts a ON a.id = m.alert_id",
    )?;
    let mut rows = statement.query([])?;
    let mut owners = BTreeMap::new();
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        if wanted.contains(key.as_str()) {
            owners.insert(key, row.get(1)?);
        }
    }
    Ok(owners)
}

/// The error a membership naming an unstored alert gets, the one the foreign key gives an
/// unsliced save.
fn missing_alert(key: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
        Some(format!(
            "FOREIGN KEY constraint failed: no stored alert {key}"
        )),
    )
}

/// The stored lifecycle and number of detections of each of `ids` the store holds.
fn states_in(
    conn: &Connection,
    path: &Path,
    ids: &[&str],
) -> Result<BTreeMap<String, IncidentState>, StoreError> {
    let mut statement = conn
        .prepare_cached(
            "SELECT lifecycle, (SELECT count(*) FROM memberships WHERE incident_id = ?1)
             FROM incidents WHERE id = ?1",
        )
        .map_err(|e| sql_at(path, e))?;
    let mut states = BTreeMap::new();
    for id in ids {
        let row: Option<(String, i64)> = statement
            .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(|e| sql_at(path, e))?;
        let Some((lifecycle, members)) = row else {
            continue;
        };
        let lifecycle: Lifecycle =
            serde_json::from_str(&lifecycle).map_err(|e| corrupt_at(path, "lifecycle", id, e))?;
        let members = usize::try_from(members).unwrap_or(0);
        states.insert((*id).to_owned(), IncidentState { lifecycle, members });
    }
    Ok(states)
}

/// Writes a save plan (see [`tocsin_incident::plan`] for the rules it follows).
fn apply_plan(
    tx: &Transaction<'_>,
    plan: &SavePlan<'_>,
    ids: &MemberIds<'_>,
) -> rusqlite::Result<()> {
    apply_incidents(tx, &plan.upserts, &plan.memberships, ids)?;
    apply_merges(tx, plan)
}

/// Writes incidents and the placements of their members.
fn apply_incidents(
    tx: &Transaction<'_>,
    upserts: &[&Incident],
    memberships: &[Placement<'_>],
    ids: &MemberIds<'_>,
) -> rusqlite::Result<usize> {
    let mut bytes = 0;
    for incident in upserts {
        bytes += upsert_incident(tx, incident)?;
    }
    let mut place = tx.prepare_cached(
        "INSERT INTO memberships (alert_id, incident_id, position) VALUES (?1, ?2, ?3)
         ON CONFLICT (alert_id) DO UPDATE SET incident_id = excluded.incident_id, position = excluded.position",
    )?;
    for Placement {
        alert_key,
        incident_id,
        position,
    } in memberships
    {
        let position = i64::try_from(*position).unwrap_or(i64::MAX);
        // Keyed by the alert's id: an alert that is not stored cannot be placed.
        let Some(id) = ids.of_key(tx, alert_key)? else {
            return Err(missing_alert(alert_key));
        };
        place.execute(params![id, incident_id, position])?;
    }
    Ok(bytes)
}

/// Writes the survivors of a plan's absorptions and inheritances, then those (the first
/// slice of a sliced save: a survivor must exist before an incident is merged into it).
fn apply_merges_with_survivors(tx: &Transaction<'_>, plan: &SavePlan<'_>) -> rusqlite::Result<()> {
    let survivors: std::collections::BTreeSet<&str> = plan
        .absorbed
        .iter()
        .map(|absorbed| absorbed.survivor.as_str())
        .chain(
            plan.inherited
                .iter()
                .map(|inherited| inherited.survivor.as_str()),
        )
        .collect();
    for incident in plan
        .upserts
        .iter()
        .filter(|i| survivors.contains(i.id.as_str()))
    {
        upsert_incident(tx, incident)?;
    }
    apply_merges(tx, plan)
}

/// Marks the absorbed incidents and passes lifecycles on to their survivors.
fn apply_merges(tx: &Transaction<'_>, plan: &SavePlan<'_>) -> rusqlite::Result<()> {
    for absorbed in &plan.absorbed {
        tx.prepare_cached("UPDATE incidents SET merged_into = ?2 WHERE id = ?1")?
            .execute(params![absorbed.id, absorbed.survivor])?;
    }
    for inherited in &plan.inherited {
        tx.prepare_cached("UPDATE incidents SET lifecycle = ?2, status = ?3 WHERE id = ?1")?
            .execute(params![
                inherited.survivor,
                to_json(&inherited.lifecycle)?,
                inherited.lifecycle.status.as_str(),
            ])?;
    }
    Ok(())
}

/// Inserts an incident whole, or replaces the computed part of a stored one (keeping its
/// lifecycle); either way it is live.
fn upsert_incident(tx: &Transaction<'_>, incident: &Incident) -> rusqlite::Result<usize> {
    let computed = Incident {
        lifecycle: Lifecycle::default(),
        ..incident.clone()
    };
    let computed = to_json(&computed)?;
    let bytes = computed.len();
    tx.prepare_cached(
        "INSERT INTO incidents (id, title, first_seen_micros, last_seen_micros, score, band, status, computed, lifecycle)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title,
             first_seen_micros = excluded.first_seen_micros, last_seen_micros = excluded.last_seen_micros,
             score = excluded.score, band = excluded.band, computed = excluded.computed, merged_into = NULL",
    )?
    .execute(params![
        incident.id,
        incident.title,
        incident.first_seen_micros,
        incident.last_seen_micros,
        incident.severity.score,
        incident.severity.band.as_str(),
        incident.lifecycle.status.as_str(),
        computed,
        to_json(&incident.lifecycle)?,
    ])?;
    Ok(bytes)
}

impl IncidentStore for SqliteStore {
    type Error = StoreError;

    fn store_alerts(&mut self, alerts: &[Alert]) -> Result<Vec<bool>, StoreError> {
        self.write(|tx, path| insert_alerts(tx, alerts).map_err(|e| sql_at(path, e)))
    }

    fn record_hunt(
        &mut self,
        alerts: &[Alert],
        incidents: &[Incident],
    ) -> Result<PutOutcome, StoreError> {
        self.write(|tx, path| {
            let first_time = insert_alerts(tx, alerts).map_err(|e| sql_at(path, e))?;
            save_planned(tx, path, incidents)?;
            Ok(PutOutcome::of(&first_time))
        })
    }

    fn alert_count(&self) -> Result<usize, StoreError> {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM alerts", [], |row| row.get(0))
            .map_err(|e| self.sql(e))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    fn all_alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.alerts_where(
            "ORDER BY a.timestamp_micros IS NULL, a.timestamp_micros, a.key",
            None,
        )
    }

    fn alerts_after(&self, micros: i64, key: &str) -> Result<Vec<Alert>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT a.key, a.body FROM alerts a
                 WHERE (a.timestamp_micros, a.key) > (?1, ?2)
                 ORDER BY a.timestamp_micros, a.key",
            )
            .map_err(|e| self.sql(e))?;
        let timed = statement
            .query_map(rusqlite::params![micros, key], key_and_text)
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(|e| self.sql(e))?;
        let mut alerts = self.parse_alerts(timed)?;
        alerts.extend(self.alerts_where("WHERE a.timestamp_micros IS NULL ORDER BY a.key", None)?);
        Ok(alerts)
    }

    fn alerts_stored_after(&self, count: usize) -> Result<Option<Vec<Alert>>, StoreError> {
        if !self.ids_in_stored_order()? {
            return Ok(None);
        }
        let after = i64::try_from(count).unwrap_or(i64::MAX);
        self.alerts_where(&format!("WHERE a.id > {after} ORDER BY a.id"), None)
            .map(Some)
    }

    fn keys_stored_after(&self, count: usize) -> Result<Option<Vec<String>>, StoreError> {
        if !self.ids_in_stored_order()? {
            return Ok(None);
        }
        let after = i64::try_from(count).unwrap_or(i64::MAX);
        let mut statement = self
            .conn
            .prepare_cached("SELECT a.key FROM alerts a WHERE a.id > ?1 ORDER BY a.id")
            .map_err(|e| self.sql(e))?;
        let keys = statement
            .query_map(rusqlite::params![after], |row| row.get(0))
            .and_then(Iterator::collect::<rusqlite::Result<Vec<String>>>)
            .map_err(|e| self.sql(e))?;
        Ok(Some(keys))
    }

    fn count_alerts_after(&self, micros: i64, key: &str) -> Result<usize, StoreError> {
        // Two counts, each a range of `alerts_by_time`, as `alerts_after` reads them.
        let count: i64 = self
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM alerts a WHERE (a.timestamp_micros, a.key) > (?1, ?2))
                      + (SELECT count(*) FROM alerts a WHERE a.timestamp_micros IS NULL)",
                rusqlite::params![micros, key],
                |row| row.get(0),
            )
            .map_err(|e| self.sql(e))?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    fn save_incidents(&mut self, incidents: &[Incident]) -> Result<(), StoreError> {
        if let Some(slicing) = self.slicing.clone() {
            return self.save_sliced(incidents, &[], &slicing);
        }
        self.write(|tx, path| save_planned(tx, path, incidents))
    }

    fn save_incidents_with_blobs(
        &mut self,
        incidents: &[Incident],
        blobs: &[(&str, &[u8])],
    ) -> Result<(), StoreError> {
        if let Some(slicing) = self.slicing.clone() {
            return self.save_sliced(incidents, blobs, &slicing);
        }
        self.write(|tx, path| {
            save_planned(tx, path, incidents)?;
            for (name, bytes) in blobs {
                upsert_blob(tx, name, bytes).map_err(|e| sql_at(path, e))?;
            }
            Ok(())
        })
    }

    fn memberships_of(&self, alert_keys: &[&str]) -> Result<BTreeMap<String, String>, StoreError> {
        memberships_by_key(&self.conn, alert_keys).map_err(|e| self.sql(e))
    }

    fn incident_states(&self, ids: &[&str]) -> Result<BTreeMap<String, IncidentState>, StoreError> {
        states_in(&self.conn, &self.path, ids)
    }

    fn merged_into(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT merged_into FROM incidents WHERE id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.sql(e))
    }

    fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT computed, lifecycle FROM incidents WHERE id = ?1",
                [id],
                key_and_text,
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        row.map(|(computed, lifecycle)| self.incident_from(id, &computed, &lifecycle))
            .transpose()
    }

    fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, computed, lifecycle FROM incidents WHERE merged_into IS NULL
                 ORDER BY last_seen_micros DESC, id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?))
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<(String, String, String)>>>)
            .map_err(|e| self.sql(e))?;
        let mut found = Vec::new();
        for (id, computed, lifecycle) in rows {
            if filter.limit.is_some_and(|limit| found.len() >= limit) {
                break;
            }
            let incident = self.incident_from(&id, &computed, &lifecycle)?;
            if filter.accepts(&incident) {
                found.push(incident);
            }
        }
        Ok(found)
    }

    fn alerts_of(&self, incident_id: &str) -> Result<Vec<Alert>, StoreError> {
        self.alerts_where(
            "JOIN memberships m ON m.alert_id = a.id WHERE m.incident_id = ?1
             ORDER BY m.position, a.key",
            Some(incident_id),
        )
    }

    fn apply_change(
        &mut self,
        incident: &Incident,
        record: &AuditRecord,
    ) -> Result<(), StoreError> {
        self.write(|tx, path| {
            save_lifecycle(tx, path, incident)?;
            append_audit(tx, record).map_err(|e| sql_at(path, e))
        })
    }

    fn update_incident<E>(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut Incident) -> Result<Vec<AuditRecord>, E>,
    ) -> Result<Result<Vec<AuditRecord>, E>, StoreError> {
        self.write(|tx, path| {
            let row = tx
                .query_row(
                    "SELECT computed, lifecycle FROM incidents WHERE id = ?1",
                    [id],
                    key_and_text,
                )
                .optional()
                .map_err(|e| sql_at(path, e))?;
            let Some((computed, lifecycle)) = row else {
                return Err(StoreError::UnknownIncident {
                    path: path.to_path_buf(),
                    id: id.to_owned(),
                });
            };
            let mut incident = incident_at(path, id, &computed, &lifecycle)?;
            let records = match change(&mut incident) {
                Ok(records) => records,
                Err(refused) => return Ok(Err(refused)),
            };
            save_lifecycle(tx, path, &incident)?;
            for record in &records {
                append_audit(tx, record).map_err(|e| sql_at(path, e))?;
            }
            Ok(Ok(records))
        })
    }

    fn audit_of(&self, incident_id: &str) -> Result<Vec<AuditRecord>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT at_micros, actor, body FROM audit WHERE incident_id = ?1 ORDER BY seq")
            .map_err(|e| self.sql(e))?;
        let rows = statement
            .query_map([incident_id], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .and_then(Iterator::collect::<rusqlite::Result<Vec<_>>>)
            .map_err(|e| self.sql(e))?;
        rows.into_iter()
            .map(|(at_micros, actor, body)| {
                let change = serde_json::from_str(&body)
                    .map_err(|e| self.corrupt("audit record", incident_id, e))?;
                Ok(AuditRecord {
                    incident_id: incident_id.to_owned(),
                    at_micros,
                    actor,
                    change,
                })
            })
            .collect()
    }

    fn load_blob(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.conn
            .query_row("SELECT bytes FROM blobs WHERE name = ?1", [name], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| self.sql(e))
    }

    fn save_blob(&mut self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.write(|tx, path| upsert_blob(tx, name, bytes).map_err(|e| sql_at(path, e)))
    }

    fn add_suppression(&mut self, new: &NewSuppression) -> Result<Suppression, StoreError> {
        self.write(|tx, path| suppressions::insert(tx, new).map_err(|e| sql_at(path, e)))
    }

    fn suppressions(&self) -> Result<Vec<Suppression>, StoreError> {
        suppressions::all(&self.conn).map_err(|e| self.sql(e))
    }

    fn remove_suppression(&mut self, id: u64, removal: &Removal) -> Result<bool, StoreError> {
        self.write(|tx, path| suppressions::remove(tx, id, removal).map_err(|e| sql_at(path, e)))
    }
}

/// Saves an incident's lifecycle (and the status column listing filters on).
fn save_lifecycle(
    tx: &Transaction<'_>,
    path: &Path,
    incident: &Incident,
) -> Result<(), StoreError> {
    let lifecycle = to_json(&incident.lifecycle).map_err(|e| sql_at(path, e))?;
    let updated = tx
        .execute(
            "UPDATE incidents SET lifecycle = ?2, status = ?3 WHERE id = ?1",
            params![incident.id, lifecycle, incident.lifecycle.status.as_str()],
        )
        .map_err(|e| sql_at(path, e))?;
    if updated == 0 {
        return Err(StoreError::UnknownIncident {
            path: path.to_path_buf(),
            id: incident.id.clone(),
        });
    }
    Ok(())
}

/// Appends one audit record.
fn append_audit(tx: &Transaction<'_>, record: &AuditRecord) -> rusqlite::Result<()> {
    let body = to_json(&record.change)?;
    tx.execute(
        "INSERT INTO audit (incident_id, at_micros, actor, body) VALUES (?1, ?2, ?3, ?4)",
        params![record.incident_id, record.at_micros, record.actor, body],
    )
    .map(drop)
}

/// An incident from its stored computed part and lifecycle.
fn incident_at(
    path: &Path,
    id: &str,
    computed: &str,
    lifecycle: &str,
) -> Result<Incident, StoreError> {
    let mut incident: Incident =
        serde_json::from_str(computed).map_err(|e| corrupt_at(path, "incident", id, e))?;
    incident.lifecycle =
        serde_json::from_str(lifecycle).map_err(|e| corrupt_at(path, "lifecycle", id, e))?;
    Ok(incident)
}

/// Saves or replaces a named blob.
fn upsert_blob(tx: &Transaction<'_>, name: &str, bytes: &[u8]) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO blobs (name, bytes) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET bytes = excluded.bytes",
    )?
    .execute(params![name, bytes])
    .map(drop)
}

fn sql_at(path: &Path, error: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        error,
    }
}

fn corrupt_at(path: &Path, what: &'static str, id: &str, source: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        what,
        id: id.to_owned(),
        source,
    }
}

#[cfg(test)]
impl SqliteStore {
    /// The raw connection, for tests that check what the schema refuses.
    pub(crate) fn conn_for_tests(&self) -> &Connection {
        &self.conn
    }
}

#[cfg(test)]
mod slicing_tests {
    use super::*;

    fn incident(members: usize) -> Weight {
        Weight {
            incident: members,
            placements: members,
        }
    }

    fn part(upserts: Range<usize>, placements: Range<usize>) -> Part {
        Part {
            upserts,
            placements,
        }
    }

    #[test]
    fn parts_weigh_an_incident_by_its_members_and_cut_its_placements() {
        let incidents = [incident(2), incident(1), incident(9), incident(0)];
        assert_eq!(
            parts(&incidents, 4),
            [
                part(0..1, 0..2), // 2 for the incident, 2 for its placements
                part(1..2, 2..3), // 1 + 1
                part(2..3, 3..3), // the big one's incident weighs 9 alone
                part(3..3, 3..7), // its placements, four by four
                part(3..3, 7..11),
                part(3..4, 11..12), // the last one, with the empty incident
            ]
        );
        assert_eq!(parts(&[], 4), [part(0..0, 0..0)]);
    }

    #[test]
    fn an_incident_whose_members_stay_put_weighs_its_json_alone() {
        let stays = Weight {
            incident: 3,
            placements: 0,
        };
        let grows = Weight {
            incident: 3,
            placements: 1,
        };
        assert_eq!(
            parts(&[stays, grows], 4),
            [part(0..1, 0..0), part(1..2, 0..1)]
        );
    }
}
