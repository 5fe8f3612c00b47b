//! API tokens for `tocsin serve`: who may call the service, and with which [`Role`].
//!
//! # Design
//!
//! * A token is the text `tsn_<id>_<secret>`: `id` is 12 lowercase hex characters (48
//!   random bits) naming the token's row, `secret` is 64 lowercase hex characters (256
//!   random bits). Both come from the operating system's generator (`getrandom`). The
//!   fixed prefix makes a leaked token easy to recognise in logs and secret scanners; the
//!   id lets verification find the one row to check instead of trying every hash.
//! * Only an argon2id hash (PHC string, random salt, the `argon2` crate's default
//!   parameters) of the whole token text is stored, in a SQLite file ([`TokenStore`]). The
//!   secret is returned once, by [`TokenStore::create`], and never again: a stolen
//!   database does not let anyone call the service.
//! * Revoked tokens stay in the table (flagged), so that the record of who had access
//!   survives.
//! * argon2id is slow on purpose (tens of milliseconds), too slow to pay on every HTTP
//!   request. [`TokenStore::verify`] therefore remembers successful verifications in a
//!   bounded in-memory cache keyed by the SHA-256 digest of the presented text (never the
//!   text itself), at most [`VERIFIED_CACHE_CAPACITY`] entries, emptied when full. A cache
//!   hit proves only that the text was once right: the token's row is still read (a cheap
//!   lookup by primary key) so that revocation takes effect at once, also for other
//!   processes sharing the file. Failures are never cached, and [`TokenStore::revoke`]
//!   empties the cache.
//! * Malformed text (wrong prefix, lengths or alphabet) is refused before any database or
//!   argon2 work, so that junk cannot make the service spend CPU. Secrets are compared only
//!   by argon2's constant-time verification.
//! * No secret ever reaches an error message or `Debug` output.
//! * Schema version 2 added the `partner` role. SQLite cannot change a table's `CHECK`, so
//!   opening a version 1 file rebuilds the table in one transaction (copy, drop, rename);
//!   the tokens, hashes and revocations are kept.
//! * Schema version 3 added the `users` table of [`crate::users`] (people who log in with a
//!   name and a password) to the same file, so that one file holds every credential;
//!   opening an older file creates it in the same transaction as any other step.
//!
//! Verification blocks for the argon2 time on a cache miss: async callers should run it on
//! a blocking thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use sha2::{Digest, Sha256};

/// The prefix of every token's text, so that a leaked token is recognisable.
const TOKEN_PREFIX: &str = "tsn_";
/// Length of a token id in hex characters (6 random bytes).
const ID_HEX_LEN: usize = 12;
/// Length of a token secret in hex characters (32 random bytes, 256 bits).
const SECRET_HEX_LEN: usize = 64;
/// Length of a whole token's text: prefix, id, separator, secret.
const TOKEN_LEN: usize = TOKEN_PREFIX.len() + ID_HEX_LEN + 1 + SECRET_HEX_LEN;
/// Random bytes in an argon2 salt (the recommended 16).
const SALT_BYTES: usize = 16;
/// The schema version this code writes and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 3;
/// How long a write waits for another process holding the file (the CLI and the service
/// may share it).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Most successful verifications remembered; the cache is emptied when it is full.
pub const VERIFIED_CACHE_CAPACITY: usize = 1024;

const CREATE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer', 'ingest', 'partner')),
    hash TEXT NOT NULL,
    created_micros INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);";

/// Version 2 to 3 (and part of a new file): the users. Names are unique without regard to
/// ASCII case, so that `Alice` and `alice` cannot be two people.
const CREATE_USERS: &str = "
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer', 'ingest', 'partner')),
    hash TEXT NOT NULL,
    created_micros INTEGER NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
);";

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything: ingest, read, respond and manage the service.
    Admin,
    /// Reads detections and incidents and acts on them; cannot ingest or administer.
    Analyst,
    /// Reads only.
    Viewer,
    /// Sends events only: what a log shipper holds, so that a stolen shipper token reads
    /// nothing.
    Ingest,
    /// An outside organisation: nothing under `/api/v1`, only the TAXII collections whose
    /// `readers` or `writers` name the token (see `crate::taxii`).
    Partner,
}

impl Role {
    /// Every role, for listings and exhaustive tests.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Analyst,
        Role::Viewer,
        Role::Ingest,
        Role::Partner,
    ];

    /// The role named `text` (`admin`, `analyst`, `viewer`, `ingest` or `partner`), or
    /// `None`.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// The role's name, as stored and as accepted by [`Role::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
            Role::Ingest => "ingest",
            Role::Partner => "partner",
        }
    }

    /// Whether this role grants `need`.
    pub fn grants(self, need: Permission) -> bool {
        match self {
            Role::Admin => true,
            Role::Analyst => matches!(need, Permission::Read | Permission::Respond),
            Role::Viewer => need == Permission::Read,
            Role::Ingest => need == Permission::Ingest,
            Role::Partner => false,
        }
    }
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Sending events into the service.
    Ingest,
    /// Reading detections, incidents and status.
    Read,
    /// Acting on incidents (acknowledge, assign, close, suppress).
    Respond,
    /// Managing the service itself (tokens, configuration).
    Administer,
}

/// A token's public description (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// The token's id, the 12 hex characters after `tsn_` in its text; not secret.
    pub id: String,
    /// What the operator called it when creating it (who or what holds it).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was created, in microseconds since the Unix epoch.
    pub created_micros: i64,
    /// Whether it was revoked; a revoked token never verifies again.
    pub revoked: bool,
}

/// Why a token operation failed. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The token database could not be opened, read or written.
    #[error("token database {}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The token database was written by a newer tocsin (or is not a token database).
    #[error(
        "token database {}: schema version {found}, this tocsin reads version {SCHEMA_VERSION}",
        path.display()
    )]
    UnknownSchema {
        /// The database file.
        path: PathBuf,
        /// The `user_version` found in it.
        found: i64,
    },
    /// Hashing or verifying failed other than by a wrong secret (for example a corrupt
    /// stored hash).
    #[error("credential hashing: {0}")]
    Hash(String),
    /// The operating system's random generator failed.
    #[error("random generator: {0}")]
    Random(String),
}

/// The tokens of one service, in a SQLite file; safe to share between threads.
pub struct TokenStore {
    path: PathBuf,
    connection: Mutex<Connection>,
    verified: Mutex<VerifiedCache>,
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TokenStore {
    /// Opens or creates the token database at `path` (SQLite, WAL, the `tokens` and `users`
    /// tables created if missing; schema version in `PRAGMA user_version` = 3, a version 1
    /// or 2 file is migrated). A file with a newer schema version is refused rather than misread.
    pub fn open(path: &Path) -> Result<TokenStore, AuthError> {
        Ok(TokenStore {
            path: path.to_path_buf(),
            connection: Mutex::new(open_credentials(path)?),
            verified: Mutex::new(VerifiedCache::default()),
        })
    }

    /// Creates a token; returns its description and the secret token text, shown once (only
    /// its argon2id hash is stored).
    pub fn create(
        &self,
        name: &str,
        role: Role,
        now_micros: i64,
    ) -> Result<(TokenInfo, String), AuthError> {
        let id = random_hex(ID_HEX_LEN / 2)?;
        let text = format!("{TOKEN_PREFIX}{id}_{}", random_hex(SECRET_HEX_LEN / 2)?);
        let hash = hash_secret(&text)?;
        let info = TokenInfo {
            id,
            name: name.to_owned(),
            role,
            created_micros: now_micros,
            revoked: false,
        };
        self.lock_connection()
            .execute(
                "INSERT INTO tokens (id, name, role, hash, created_micros, revoked)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0)",
                params![info.id, info.name, role.as_str(), hash, now_micros],
            )
            .map_err(self.sqlite_error())?;
        Ok((info, text))
    }

    /// Every token, revoked ones included, oldest first; never their secrets or hashes.
    pub fn list(&self) -> Result<Vec<TokenInfo>, AuthError> {
        let connection = self.lock_connection();
        let mut statement = connection
            .prepare(
                "SELECT id, name, role, created_micros, revoked FROM tokens
                 ORDER BY created_micros, id",
            )
            .map_err(self.sqlite_error())?;
        let rows = statement
            .query_map([], token_info_from_row)
            .map_err(self.sqlite_error())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(self.sqlite_error())
    }

    /// Marks a token revoked (kept for the record); false when no such id. Takes effect at
    /// once: the verification cache is emptied.
    pub fn revoke(&self, id: &str) -> Result<bool, AuthError> {
        let changed = self
            .lock_connection()
            .execute("UPDATE tokens SET revoked = 1 WHERE id = ?1", [id])
            .map_err(self.sqlite_error())?;
        self.lock_verified().clear();
        Ok(changed > 0)
    }

    /// The token that `presented` is, if it is valid and not revoked; `None` otherwise
    /// (unknown id, wrong secret, malformed text, revoked).
    pub fn verify(&self, presented: &str) -> Result<Option<TokenInfo>, AuthError> {
        let Some(id) = token_id(presented) else {
            return Ok(None);
        };
        let digest = sha256(presented);
        if self.lock_verified().contains(&digest, id) {
            return self.live_token(id);
        }
        let Some((info, hash)) = self.stored_token(id)? else {
            return Ok(None);
        };
        if info.revoked || !hash_matches(&hash, presented)? {
            return Ok(None);
        }
        self.lock_verified().remember(digest, id);
        Ok(Some(info))
    }

    /// The token with `id` if it exists and is not revoked.
    fn live_token(&self, id: &str) -> Result<Option<TokenInfo>, AuthError> {
        let found = self.stored_token(id)?;
        Ok(found.map(|(info, _)| info).filter(|info| !info.revoked))
    }

    /// The token with `id` and its stored hash, if there is one.
    fn stored_token(&self, id: &str) -> Result<Option<(TokenInfo, String)>, AuthError> {
        self.lock_connection()
            .query_row(
                "SELECT id, name, role, created_micros, revoked, hash FROM tokens WHERE id = ?1",
                [id],
                |row| Ok((token_info_from_row(row)?, row.get(5)?)),
            )
            .optional()
            .map_err(self.sqlite_error())
    }

    /// Maps a SQLite error to one naming this store's file.
    fn sqlite_error(&self) -> impl Fn(rusqlite::Error) -> AuthError + '_ {
        sqlite_error_at(&self.path)
    }

    /// The connection. A panic elsewhere while it was held cannot leave it inconsistent
    /// (every statement is atomic), so a poisoned lock is taken over.
    fn lock_connection(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The verification cache; emptied if a panic poisoned it, as it may then be half-updated.
    fn lock_verified(&self) -> MutexGuard<'_, VerifiedCache> {
        lock_cache(&self.verified)
    }
}

/// Successful verifications: SHA-256 of the presented credentials → what they verified as
/// (a token's id, a user's stored hash). Bounded by [`VERIFIED_CACHE_CAPACITY`]; emptied
/// when full, which costs at worst one argon2 verification per live credential. Shared by
/// the token and user stores.
#[derive(Default)]
pub(crate) struct VerifiedCache {
    entries: HashMap<[u8; 32], String>,
}

impl VerifiedCache {
    /// Whether `digest` was verified before as `what`.
    pub(crate) fn contains(&self, digest: &[u8; 32], what: &str) -> bool {
        self.entries
            .get(digest)
            .is_some_and(|cached| cached == what)
    }

    /// Remembers that `digest` verified as `what`.
    pub(crate) fn remember(&mut self, digest: [u8; 32], what: &str) {
        if self.entries.len() >= VERIFIED_CACHE_CAPACITY {
            self.entries.clear();
        }
        self.entries.insert(digest, what.to_owned());
    }

    /// Forgets everything (after a revocation).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// How many verifications are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Locks a verification cache; emptied if a panic poisoned it, as it may then be
/// half-updated.
pub(crate) fn lock_cache(cache: &Mutex<VerifiedCache>) -> MutexGuard<'_, VerifiedCache> {
    cache.lock().unwrap_or_else(|poisoned| {
        let mut cache = poisoned.into_inner();
        cache.clear();
        cache
    })
}

/// Opens the credentials file at `path` (SQLite, WAL, a busy timeout for the CLI and the
/// service sharing it) and brings its schema to [`SCHEMA_VERSION`]; a newer schema is
/// refused rather than misread. The token and user stores each hold such a connection.
pub(crate) fn open_credentials(path: &Path) -> Result<Connection, AuthError> {
    let sqlite_error = sqlite_error_at(path);
    let mut connection = Connection::open(path).map_err(&sqlite_error)?;
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(&sqlite_error)?;
    connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
        .map_err(&sqlite_error)?;
    let found = migrate(&mut connection).map_err(&sqlite_error)?;
    if found > SCHEMA_VERSION {
        return Err(AuthError::UnknownSchema {
            path: path.to_path_buf(),
            found,
        });
    }
    Ok(connection)
}

/// Creates the schema if the file has none, or brings an older schema to the current
/// version, every step in one transaction; returns the schema version found before.
fn migrate(connection: &mut Connection) -> rusqlite::Result<i64> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    match found {
        0 => transaction.execute_batch(CREATE_SCHEMA)?,
        1 => transaction.execute_batch(MIGRATE_1_TO_2)?,
        _ => {}
    }
    if found < 3 {
        transaction.execute_batch(CREATE_USERS)?;
    }
    if found < SCHEMA_VERSION {
        transaction.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    transaction.commit()?;
    Ok(found)
}

/// Version 1 to 2: the role `CHECK` admits `partner`; the table is rebuilt, as SQLite
/// cannot alter a constraint, with every row kept.
const MIGRATE_1_TO_2: &str = "
ALTER TABLE tokens RENAME TO tokens_v1;
CREATE TABLE tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer', 'ingest', 'partner')),
    hash TEXT NOT NULL,
    created_micros INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
INSERT INTO tokens (id, name, role, hash, created_micros, revoked)
    SELECT id, name, role, hash, created_micros, revoked FROM tokens_v1;
DROP TABLE tokens_v1;";

/// A function mapping a SQLite error to one naming `path`.
pub(crate) fn sqlite_error_at(path: &Path) -> impl Fn(rusqlite::Error) -> AuthError + '_ {
    move |source| AuthError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// A [`TokenInfo`] from the first five columns: id, name, role, created_micros, revoked.
fn token_info_from_row(row: &Row<'_>) -> rusqlite::Result<TokenInfo> {
    Ok(TokenInfo {
        id: row.get(0)?,
        name: row.get(1)?,
        role: role_column(row, 2)?,
        created_micros: row.get(3)?,
        revoked: row.get(4)?,
    })
}

/// The [`Role`] in column `index`; an unknown name is a conversion error.
pub(crate) fn role_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Role> {
    let role_text: String = row.get(index)?;
    Role::parse(&role_text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unknown role {role_text:?}").into(),
        )
    })
}

/// The id inside `presented` if it has the shape of a token (`tsn_`, 12 lowercase hex, `_`,
/// 64 lowercase hex); `None` for anything else, before any costly work.
fn token_id(presented: &str) -> Option<&str> {
    if presented.len() != TOKEN_LEN {
        return None;
    }
    let rest = presented.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == ID_HEX_LEN
        && secret.len() == SECRET_HEX_LEN
        && is_lower_hex(id)
        && is_lower_hex(secret);
    well_formed.then_some(id)
}

/// Whether `text` is only lowercase hex digits.
fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

/// `byte_count` random bytes as lowercase hex.
fn random_hex(byte_count: usize) -> Result<String, AuthError> {
    let mut bytes = vec![0_u8; byte_count];
    fill_random(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Fills `bytes` from the operating system's random generator.
fn fill_random(bytes: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(bytes).map_err(|error| AuthError::Random(error.to_string()))
}

/// SHA-256 of `text`: the verification cache's key, so the cache never holds a token.
fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// SHA-256 of a user's name and password, each preceded by its length so that no two
/// pairs share the bytes: the user verification cache's key, so that the cache never holds
/// a password.
pub(crate) fn credential_digest(name: &str, password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [name, password] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// The argon2id PHC string of `secret` (a token or a password), with a fresh random salt.
pub(crate) fn hash_secret(secret: &str) -> Result<String, AuthError> {
    let mut salt_bytes = [0_u8; SALT_BYTES];
    fill_random(&mut salt_bytes)?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(hash_error)?;
    let hash = token_hasher()?
        .hash_password(secret.as_bytes(), &salt)
        .map_err(hash_error)?;
    Ok(hash.to_string())
}

/// Whether `presented` matches the stored PHC string `stored_hash` (argon2's constant-time
/// comparison, with the parameters recorded in the hash). A corrupt hash is an error, not a
/// mismatch, so that it gets noticed.
pub(crate) fn hash_matches(stored_hash: &str, presented: &str) -> Result<bool, AuthError> {
    let parsed = PasswordHash::new(stored_hash).map_err(hash_error)?;
    match token_hasher()?.verify_password(presented.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(other) => Err(hash_error(other)),
    }
}

/// An argon2 error as an [`AuthError`]; its text never contains the input.
fn hash_error(error: argon2::password_hash::Error) -> AuthError {
    AuthError::Hash(error.to_string())
}

/// The production hasher: argon2id, version 19, the crate's default (OWASP) parameters.
fn production_hasher() -> Argon2<'static> {
    Argon2::default()
}

/// The hasher new tokens are hashed with.
#[cfg(not(test))]
fn token_hasher() -> Result<Argon2<'static>, AuthError> {
    Ok(production_hasher())
}

/// Unit tests hash with the lightest argon2id parameters, to run in milliseconds.
/// Verification always uses the parameters recorded in the stored hash.
#[cfg(test)]
fn token_hasher() -> Result<Argon2<'static>, AuthError> {
    let light = argon2::Params::new(argon2::Params::MIN_M_COST, 1, 1, None)
        .map_err(|error| AuthError::Hash(error.to_string()))?;
    Ok(Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        light,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000;

    fn open_temp() -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::open(&dir.path().join("tokens.db")).unwrap();
        (dir, store)
    }

    fn stored_hash(store: &TokenStore, id: &str) -> String {
        store.stored_token(id).unwrap().unwrap().1
    }

    /// `text` with the character at `index` replaced by another lowercase hex digit.
    fn change_char(text: &str, index: usize) -> String {
        let mut bytes = text.as_bytes().to_vec();
        bytes[index] = if bytes[index] == b'0' { b'1' } else { b'0' };
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn created_token_verifies_with_its_role() {
        let (_dir, store) = open_temp();
        let (info, text) = store.create("shipper", Role::Ingest, NOW).unwrap();
        assert!(token_id(&text).is_some(), "{} chars", text.len());
        assert_eq!(info.name, "shipper");
        assert_eq!(info.role, Role::Ingest);
        assert_eq!(info.created_micros, NOW);
        assert!(!info.revoked);
        assert_eq!(store.verify(&text).unwrap(), Some(info.clone()));
        // Second time through the cache: same answer.
        assert_eq!(store.verify(&text).unwrap(), Some(info));
    }

    #[test]
    fn wrong_secret_is_refused() {
        let (_dir, store) = open_temp();
        let (_, text) = store.create("analyst", Role::Analyst, NOW).unwrap();
        for index in [TOKEN_LEN - SECRET_HEX_LEN, TOKEN_LEN - 1] {
            assert_eq!(store.verify(&change_char(&text, index)).unwrap(), None);
        }
        // A failure is not cached and does not spoil the right token.
        assert!(store.verify(&text).unwrap().is_some());
    }

    #[test]
    fn unknown_id_is_refused() {
        let (_dir, store) = open_temp();
        let (_, text) = store.create("viewer", Role::Viewer, NOW).unwrap();
        let other_id = change_char(&text, TOKEN_PREFIX.len());
        assert_eq!(store.verify(&other_id).unwrap(), None);
    }

    #[test]
    fn malformed_texts_are_refused() {
        let (_dir, store) = open_temp();
        let (_, text) = store.create("admin", Role::Admin, NOW).unwrap();
        let secret = &text[TOKEN_LEN - SECRET_HEX_LEN..];
        let id = &text[TOKEN_PREFIX.len()..TOKEN_PREFIX.len() + ID_HEX_LEN];
        let malformed = [
            String::new(),
            "tsn_".to_owned(),
            text.replacen("tsn_", "tsx_", 1),
            text.to_uppercase(),
            format!("{text}0"),
            text[..TOKEN_LEN - 1].to_owned(),
            format!(" {}", &text[1..]),
            format!("tsn_{id}-{secret}"),
            format!("tsn_{}_{secret}0", &id[1..]),
            format!("tsn_{}g_{secret}", &id[1..]),
            format!("tsn_{id}_{}z", &secret[1..]),
            format!("tsn_{id}_{}é", &secret[2..]),
            "x".repeat(10_000),
            format!("{text}{}", "a".repeat(200)),
        ];
        for text in &malformed {
            assert_eq!(store.verify(text).unwrap(), None, "{text:?}");
        }
    }

    #[test]
    fn revoked_token_stops_at_once_even_when_cached() {
        let (_dir, store) = open_temp();
        let (info, text) = store.create("soc", Role::Analyst, NOW).unwrap();
        let (_, kept) = store.create("other", Role::Viewer, NOW + 1).unwrap();
        assert!(store.verify(&text).unwrap().is_some());
        assert!(store.lock_verified().contains(&sha256(&text), &info.id));
        assert!(store.revoke(&info.id).unwrap());
        assert_eq!(store.verify(&text).unwrap(), None);
        assert!(store.verify(&kept).unwrap().is_some());
        assert!(!store.revoke("000000000000").unwrap());
    }

    #[test]
    fn revoked_elsewhere_stops_cached_token() {
        let (dir, store) = open_temp();
        let (info, text) = store.create("soc", Role::Analyst, NOW).unwrap();
        assert!(store.verify(&text).unwrap().is_some());
        // Another process (the CLI) revokes: this store's cache is not cleared.
        let other = TokenStore::open(&dir.path().join("tokens.db")).unwrap();
        assert!(other.revoke(&info.id).unwrap());
        assert!(store.lock_verified().contains(&sha256(&text), &info.id));
        assert_eq!(store.verify(&text).unwrap(), None);
    }

    #[test]
    fn list_shows_tokens_without_secrets() {
        let (_dir, store) = open_temp();
        let (first, first_text) = store.create("one", Role::Admin, NOW).unwrap();
        let (second, second_text) = store.create("two", Role::Ingest, NOW + 5).unwrap();
        store.revoke(&second.id).unwrap();
        let listed = store.list().unwrap();
        let revoked_second = TokenInfo {
            revoked: true,
            ..second
        };
        assert_eq!(listed, vec![first, revoked_second]);
        let json = serde_json::to_string(&listed).unwrap();
        let debug = format!("{listed:?} {store:?}");
        for text in [&first_text, &second_text] {
            let secret = &text[TOKEN_LEN - SECRET_HEX_LEN..];
            assert!(!json.contains(secret) && !debug.contains(secret));
        }
        assert!(json.contains("\"role\":\"ingest\""), "{json}");
    }

    #[test]
    fn stored_hash_is_argon2id_and_holds_no_part_of_the_secret() {
        let (_dir, store) = open_temp();
        let (info, text) = store.create("shipper", Role::Ingest, NOW).unwrap();
        let hash = stored_hash(&store, &info.id);
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        let secret = &text[TOKEN_LEN - SECRET_HEX_LEN..];
        for window in secret.as_bytes().windows(8) {
            let window = std::str::from_utf8(window).unwrap();
            assert!(!hash.contains(window), "{window} in {hash}");
        }
    }

    #[test]
    fn production_hasher_uses_argon2id_defaults() {
        let salt = SaltString::encode_b64(&[7; SALT_BYTES]).unwrap();
        let hash = production_hasher()
            .hash_password(b"tsn_example", &salt)
            .unwrap()
            .to_string();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        // Verification follows the stored parameters, whatever the test hasher is.
        assert!(hash_matches(&hash, "tsn_example").unwrap());
        assert!(!hash_matches(&hash, "tsn_examplf").unwrap());
    }

    #[test]
    fn corrupt_stored_hash_is_an_error_without_the_secret() {
        let (_dir, store) = open_temp();
        let (info, text) = store.create("shipper", Role::Ingest, NOW).unwrap();
        store
            .lock_connection()
            .execute(
                "UPDATE tokens SET hash = 'garbage' WHERE id = ?1",
                [&info.id],
            )
            .unwrap();
        let error = store.verify(&text).unwrap_err();
        assert!(matches!(error, AuthError::Hash(_)), "{error:?}");
        assert!(!error
            .to_string()
            .contains(&text[TOKEN_LEN - SECRET_HEX_LEN..]));
    }

    #[test]
    fn tokens_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        let (info, text) = {
            let store = TokenStore::open(&path).unwrap();
            store.create("kept", Role::Viewer, NOW).unwrap()
        };
        let store = TokenStore::open(&path).unwrap();
        assert_eq!(store.verify(&text).unwrap(), Some(info));
        let version: i64 = store
            .lock_connection()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let journal: String = store
            .lock_connection()
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
    }

    #[test]
    fn newer_schema_is_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let error = TokenStore::open(&path).unwrap_err();
        assert!(
            matches!(error, AuthError::UnknownSchema { found, .. } if found == SCHEMA_VERSION + 1)
        );
        assert!(error.to_string().contains("tokens.db"), "{error}");
    }

    #[test]
    fn unopenable_path_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("tokens.db");
        let error = TokenStore::open(&path).unwrap_err();
        assert!(matches!(error, AuthError::Sqlite { .. }));
        assert!(error.to_string().contains("missing"), "{error}");
    }

    #[test]
    fn cache_is_bounded() {
        let mut cache = VerifiedCache::default();
        for index in 0..=VERIFIED_CACHE_CAPACITY {
            let mut digest = [0; 32];
            digest[..8].copy_from_slice(&(index as u64).to_le_bytes());
            cache.remember(digest, "000000000000");
        }
        assert_eq!(cache.len(), 1);
        assert!(!cache.contains(&[0; 32], "000000000000"));
    }

    #[test]
    fn roles_round_trip_by_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse(""), None);
    }

    #[test]
    fn role_grants_table() {
        use Permission::{Administer, Ingest, Read, Respond};
        let table = [
            (Role::Admin, Ingest, true),
            (Role::Admin, Read, true),
            (Role::Admin, Respond, true),
            (Role::Admin, Administer, true),
            (Role::Analyst, Ingest, false),
            (Role::Analyst, Read, true),
            (Role::Analyst, Respond, true),
            (Role::Analyst, Administer, false),
            (Role::Viewer, Ingest, false),
            (Role::Viewer, Read, true),
            (Role::Viewer, Respond, false),
            (Role::Viewer, Administer, false),
            (Role::Ingest, Ingest, true),
            (Role::Ingest, Read, false),
            (Role::Ingest, Respond, false),
            (Role::Ingest, Administer, false),
            (Role::Partner, Ingest, false),
            (Role::Partner, Read, false),
            (Role::Partner, Respond, false),
            (Role::Partner, Administer, false),
        ];
        for (role, need, granted) in table {
            assert_eq!(role.grants(need), granted, "{role:?} {need:?}");
        }
    }

    /// The schema of version 1, as tocsin wrote it before the partner role.
    const SCHEMA_V1: &str = "
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer', 'ingest')),
        hash TEXT NOT NULL,
        created_micros INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
    );
    PRAGMA user_version = 1;";

    #[test]
    fn a_version_1_file_is_migrated_with_its_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        let hash = hash_secret("tsn_old").unwrap();
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA_V1).unwrap();
            old.execute(
                "INSERT INTO tokens VALUES ('aaaaaaaaaaaa', 'old', 'analyst', ?1, 5, 1)",
                [&hash],
            )
            .unwrap();
            let refused = old.execute(
                "INSERT INTO tokens VALUES ('bbbbbbbbbbbb', 'p', 'partner', 'h', 6, 0)",
                [],
            );
            assert!(refused.is_err(), "version 1 refuses partners");
        }
        let store = TokenStore::open(&path).unwrap();
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].name.as_str(), listed[0].revoked), ("old", true));
        assert_eq!(stored_hash(&store, "aaaaaaaaaaaa"), hash);
        let (partner, text) = store.create("cisa", Role::Partner, NOW).unwrap();
        assert_eq!(store.verify(&text).unwrap(), Some(partner));
        let version: i64 = store
            .lock_connection()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        drop(store);
        // Opening again changes nothing.
        assert_eq!(TokenStore::open(&path).unwrap().list().unwrap().len(), 2);
    }

    #[test]
    fn store_is_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<TokenStore>();
    }
}
