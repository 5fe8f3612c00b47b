//! Users of `tocsin serve`: people who log in with a name and a password (HTTP Basic), with
//! the same [`Role`]s as API tokens.
//!
//! # Design
//!
//! * Users live in the `users` table of the token database (`tokens.sqlite`, schema
//!   version 3, see [`crate::auth`]): one file holds every credential, and the CLI and the
//!   service share it as they share tokens.
//! * A user name is 1 to [`MAX_NAME_CHARS`] ASCII letters, digits, `.`, `-`, `_` or `@`
//!   (an e-mail address fits; no look-alike Unicode letters), unique without regard to
//!   ASCII case. A password is at least [`MIN_PASSWORD_CHARS`] characters and at most
//!   [`MAX_PASSWORD_BYTES`] bytes (a bound on the work a request can ask of argon2).
//! * Only an argon2id hash of the password (PHC string, random salt, the `argon2` crate's
//!   default parameters) is stored. A password is held in a [`Password`], whose `Debug`
//!   shows nothing of it, and no error of this module carries one.
//! * Disabled users stay in the table (flagged), so that the record of who had access
//!   survives.
//! * [`UserStore::verify`] compares by argon2's constant-time verification, and spends the
//!   same argon2 time on an unknown name (against a fixed hash) so that timing does not tell
//!   which names exist. Successful verifications are remembered in a bounded cache keyed by
//!   the SHA-256 digest of the name and password (never the password itself), holding the
//!   stored hash they matched. A cache hit still reads the user's row, so that disabling a
//!   user or changing a password takes effect at once, also from another process. Failures
//!   are never cached.
//! * The routes receive a verified user as the [`TokenInfo`] of [`UserInfo::principal`]:
//!   its id is `user:NAME` (never a token's 12 hex digits), so that role checks, the rate
//!   limit (per user), TAXII collection rights (`readers`, `writers` name users as they
//!   name tokens) and the audit trail treat tokens and users alike.
//!
//! Verification blocks for the argon2 time on a cache miss: async callers should run it on
//! a blocking thread.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};

use crate::auth::{
    credential_digest, hash_matches, hash_secret, lock_cache, open_credentials, role_column,
    sqlite_error_at, AuthError, Role, TokenInfo, VerifiedCache,
};

/// The longest user name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// The shortest password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The prefix of a user's id in its [`UserInfo::principal`], which no token id has.
pub const USER_ID_PREFIX: &str = "user:";

/// A user's public description (never the password or its hash).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UserInfo {
    /// The name the user logs in with.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// When the user was created, in microseconds since the Unix epoch.
    pub created_micros: i64,
    /// Whether the user was disabled; a disabled user never verifies again.
    pub disabled: bool,
}

impl UserInfo {
    /// The user as the routes see a caller: a [`TokenInfo`] with the id `user:NAME`, the
    /// user's name and role, `revoked` when disabled.
    pub fn principal(&self) -> TokenInfo {
        TokenInfo {
            id: format!("{USER_ID_PREFIX}{}", self.name),
            name: self.name.clone(),
            role: self.role,
            created_micros: self.created_micros,
            revoked: self.disabled,
        }
    }
}

/// A password that meets the length rules; its `Debug` shows nothing of it.
pub struct Password(String);

impl Password {
    /// `text` as a password, if it is at least [`MIN_PASSWORD_CHARS`] characters and at
    /// most [`MAX_PASSWORD_BYTES`] bytes.
    pub fn new(text: String) -> Result<Password, UserError> {
        if text.chars().count() < MIN_PASSWORD_CHARS {
            return Err(UserError::Password("a password is at least 12 characters"));
        }
        if text.len() > MAX_PASSWORD_BYTES {
            return Err(UserError::Password("a password is at most 1024 bytes"));
        }
        Ok(Password(text))
    }

    /// The password's text.
    fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Password(<redacted>)")
    }
}

/// Why a user operation failed. Never carries a password.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name breaks the naming rules.
    #[error("a user name is 1 to 64 ASCII letters, digits, '.', '-', '_' or '@'")]
    InvalidName,
    /// The password breaks the length rules (the message says which).
    #[error("{0}")]
    Password(&'static str),
    /// A user of that name (in any ASCII case) exists.
    #[error("a user named {0} exists")]
    Exists(String),
    /// The database could not be used, or hashing failed.
    #[error(transparent)]
    Store(#[from] AuthError),
}

/// Whether `name` is a valid user name (see the module's rules).
pub fn valid_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@');
    !name.is_empty() && name.chars().count() <= MAX_NAME_CHARS && name.chars().all(allowed)
}

/// The users of one service, in the token database; safe to share between threads.
pub struct UserStore {
    path: PathBuf,
    connection: Mutex<Connection>,
    verified: Mutex<VerifiedCache>,
}

impl std::fmt::Debug for UserStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("UserStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl UserStore {
    /// Opens or creates the token database at `path` (migrated to schema version 3 as
    /// [`crate::auth::TokenStore::open`] does) for its users.
    pub fn open(path: &Path) -> Result<UserStore, AuthError> {
        Ok(UserStore {
            path: path.to_path_buf(),
            connection: Mutex::new(open_credentials(path)?),
            verified: Mutex::new(VerifiedCache::default()),
        })
    }

    /// Creates a user with `password` (only its argon2id hash is stored).
    pub fn create(
        &self,
        name: &str,
        role: Role,
        password: &Password,
        now_micros: i64,
    ) -> Result<UserInfo, UserError> {
        if !valid_name(name) {
            return Err(UserError::InvalidName);
        }
        let hash = hash_secret(password.as_str())?;
        let inserted = self.lock_connection().execute(
            "INSERT INTO users (name, role, hash, created_micros, disabled)
             VALUES (?1, ?2, ?3, ?4, 0)",
            params![name, role.as_str(), hash, now_micros],
        );
        match inserted {
            Ok(_) => Ok(UserInfo {
                name: name.to_owned(),
                role,
                created_micros: now_micros,
                disabled: false,
            }),
            Err(error) if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                Err(UserError::Exists(name.to_owned()))
            }
            Err(error) => Err(self.sqlite_error()(error).into()),
        }
    }

    /// Every user, disabled ones included, oldest first; never their hashes.
    pub fn list(&self) -> Result<Vec<UserInfo>, AuthError> {
        let connection = self.lock_connection();
        let mut statement = connection
            .prepare(
                "SELECT name, role, created_micros, disabled FROM users
                 ORDER BY created_micros, name",
            )
            .map_err(self.sqlite_error())?;
        let rows = statement
            .query_map([], user_info_from_row)
            .map_err(self.sqlite_error())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(self.sqlite_error())
    }

    /// Marks a user disabled (kept for the record); false when no such user. Takes effect
    /// at once.
    pub fn disable(&self, name: &str) -> Result<bool, AuthError> {
        self.set_disabled(name, true)
    }

    /// Enables a disabled user again (a user back from leave, or disabled by mistake);
    /// false when no such user. Their password is the one they had: set a new one with
    /// [`UserStore::set_password`] when it may have leaked meanwhile.
    pub fn enable(&self, name: &str) -> Result<bool, AuthError> {
        self.set_disabled(name, false)
    }

    /// Sets whether a user is disabled; false when no such user. Clears the cache of
    /// verified passwords, so that it takes effect at once.
    fn set_disabled(&self, name: &str, disabled: bool) -> Result<bool, AuthError> {
        let changed = self
            .lock_connection()
            .execute(
                "UPDATE users SET disabled = ?2 WHERE name = ?1",
                params![name, disabled],
            )
            .map_err(self.sqlite_error())?;
        self.lock_verified().clear();
        Ok(changed > 0)
    }

    /// Replaces a user's password; false when no such user. The old password stops working
    /// at once; a disabled user stays disabled.
    pub fn set_password(&self, name: &str, password: &Password) -> Result<bool, UserError> {
        let hash = hash_secret(password.as_str())?;
        let changed = self
            .lock_connection()
            .execute(
                "UPDATE users SET hash = ?2 WHERE name = ?1",
                params![name, hash],
            )
            .map_err(self.sqlite_error())?;
        self.lock_verified().clear();
        Ok(changed > 0)
    }

    /// The user `name` if `password` is theirs and they are not disabled; `None` otherwise
    /// (unknown name, wrong password, malformed input, disabled).
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<UserInfo>, AuthError> {
        if !valid_name(name) || !plausible_password(password) {
            return Ok(None);
        }
        let digest = credential_digest(name, password);
        let Some((info, hash)) = self.stored_user(name)? else {
            spend_argon2_time(password)?;
            return Ok(None);
        };
        if self.lock_verified().contains(&digest, &hash) {
            return Ok(Some(info).filter(|info| !info.disabled));
        }
        if !hash_matches(&hash, password)? || info.disabled {
            return Ok(None);
        }
        self.lock_verified().remember(digest, &hash);
        Ok(Some(info))
    }

    /// The user `name` and the stored hash, if there is one.
    fn stored_user(&self, name: &str) -> Result<Option<(UserInfo, String)>, AuthError> {
        self.lock_connection()
            .query_row(
                "SELECT name, role, created_micros, disabled, hash FROM users WHERE name = ?1",
                [name],
                |row| Ok((user_info_from_row(row)?, row.get(4)?)),
            )
            .optional()
            .map_err(self.sqlite_error())
    }

    /// Maps a SQLite error to one naming this store's file.
    fn sqlite_error(&self) -> impl Fn(rusqlite::Error) -> AuthError + '_ {
        sqlite_error_at(&self.path)
    }

    /// The connection; a poisoned lock is taken over (every statement is atomic).
    fn lock_connection(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The verification cache.
    fn lock_verified(&self) -> MutexGuard<'_, VerifiedCache> {
        lock_cache(&self.verified)
    }
}

/// Whether `password` could be a stored user's: within the length rules. Anything else is
/// refused before any database or argon2 work.
fn plausible_password(password: &str) -> bool {
    password.len() <= MAX_PASSWORD_BYTES && password.chars().count() >= MIN_PASSWORD_CHARS
}

/// Verifies `password` against a fixed hash, made once with the same parameters as real
/// ones, so that an unknown name costs what a known one does.
fn spend_argon2_time(password: &str) -> Result<(), AuthError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = match DUMMY.get() {
        Some(dummy) => dummy,
        None => {
            let made = hash_secret("no user has this password")?;
            DUMMY.get_or_init(|| made)
        }
    };
    hash_matches(dummy, password).map(drop)
}

/// A [`UserInfo`] from the first four columns: name, role, created_micros, disabled.
fn user_info_from_row(row: &Row<'_>) -> rusqlite::Result<UserInfo> {
    Ok(UserInfo {
        name: row.get(0)?,
        role: role_column(row, 1)?,
        created_micros: row.get(2)?,
        disabled: row.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenStore;

    const NOW: i64 = 1_700_000_000_000_000;
    const SECRET: &str = "correct horse battery staple";

    fn open_temp() -> (tempfile::TempDir, UserStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = UserStore::open(&dir.path().join("tokens.db")).unwrap();
        (dir, store)
    }

    fn password(text: &str) -> Password {
        Password::new(text.to_owned()).unwrap()
    }

    #[test]
    fn created_user_verifies_with_the_right_password_only() {
        let (_dir, store) = open_temp();
        let info = store
            .create("alice", Role::Analyst, &password(SECRET), NOW)
            .unwrap();
        assert_eq!(
            (info.name.as_str(), info.role, info.disabled),
            ("alice", Role::Analyst, false)
        );
        assert_eq!(store.verify("alice", SECRET).unwrap(), Some(info.clone()));
        // Second time through the cache: same answer.
        assert_eq!(store.verify("alice", SECRET).unwrap(), Some(info));
        assert_eq!(store.lock_verified().len(), 1);
        for wrong in [
            "correct horse battery stapl",
            "Correct horse battery staple",
            "",
        ] {
            assert_eq!(store.verify("alice", wrong).unwrap(), None, "{wrong}");
        }
        assert_eq!(store.verify("bob", SECRET).unwrap(), None);
        assert_eq!(store.verify("alice:", SECRET).unwrap(), None);
        // Failures are never cached.
        assert_eq!(store.lock_verified().len(), 1);
    }

    #[test]
    fn names_are_unique_in_any_case() {
        let (_dir, store) = open_temp();
        store
            .create("alice", Role::Viewer, &password(SECRET), NOW)
            .unwrap();
        for again in ["alice", "ALICE"] {
            let error = store
                .create(again, Role::Admin, &password(SECRET), NOW)
                .unwrap_err();
            assert!(matches!(error, UserError::Exists(_)), "{error:?}");
        }
        // The stored name is the caller's identity, whatever case logs in.
        let found = store.verify("Alice", SECRET).unwrap().unwrap();
        assert_eq!(found.name, "alice");
    }

    #[test]
    fn name_validation() {
        for good in ["alice", "a", "alice.smith-2_x@example.org", &"a".repeat(64)] {
            assert!(valid_name(good), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "", "al ice", "alice:", "élodie", "a/b", "a\nb", "a\0", "a%", &long,
        ] {
            assert!(!valid_name(bad), "{bad:?}");
            let (_dir, store) = open_temp();
            let error = store
                .create(bad, Role::Viewer, &password(SECRET), NOW)
                .unwrap_err();
            assert!(matches!(error, UserError::InvalidName), "{bad:?}");
        }
    }

    #[test]
    fn password_length_rules() {
        assert!(Password::new("x".repeat(11)).is_err());
        assert!(Password::new("x".repeat(12)).is_ok());
        assert!(
            Password::new("é".repeat(12)).is_ok(),
            "characters, not bytes"
        );
        assert!(Password::new("x".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert!(Password::new("x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        let (_dir, store) = open_temp();
        let long = "y".repeat(MAX_PASSWORD_BYTES);
        store
            .create("long", Role::Viewer, &password(&long), NOW)
            .unwrap();
        assert!(store.verify("long", &long).unwrap().is_some());
        let too_long = "y".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(store.verify("long", &too_long).unwrap(), None);
    }

    #[test]
    fn disabled_user_stops_at_once_even_when_cached() {
        let (dir, store) = open_temp();
        store
            .create("alice", Role::Admin, &password(SECRET), NOW)
            .unwrap();
        store
            .create("bob", Role::Viewer, &password(SECRET), NOW + 1)
            .unwrap();
        assert!(store.verify("alice", SECRET).unwrap().is_some());
        assert!(store.verify("bob", SECRET).unwrap().is_some());
        // Another process (the CLI) disables bob: this store's cache is not cleared.
        let other = UserStore::open(&dir.path().join("tokens.db")).unwrap();
        assert!(other.disable("bob").unwrap());
        assert_eq!(store.lock_verified().len(), 2);
        assert_eq!(store.verify("bob", SECRET).unwrap(), None);
        assert!(store.disable("alice").unwrap());
        assert_eq!(store.verify("alice", SECRET).unwrap(), None);
        assert!(!store.disable("carol").unwrap());
        let listed = store.list().unwrap();
        assert_eq!(listed.len(), 2, "kept for the record");
        assert!(listed.iter().all(|user| user.disabled));
    }

    #[test]
    fn an_enabled_user_logs_in_again_with_the_same_password() {
        let (dir, store) = open_temp();
        store
            .create("bob", Role::Viewer, &password(SECRET), NOW)
            .unwrap();
        assert!(store.disable("bob").unwrap());
        assert_eq!(store.verify("bob", SECRET).unwrap(), None);
        // Another process (the CLI) enables bob again.
        let other = UserStore::open(&dir.path().join("tokens.db")).unwrap();
        assert!(other.enable("bob").unwrap());
        let back = store.verify("bob", SECRET).unwrap();
        assert!(back.is_some_and(|user| !user.disabled));
        assert_eq!(
            store.verify("bob", "not the password at all").unwrap(),
            None
        );
        assert!(!store.enable("carol").unwrap());
    }

    #[test]
    fn a_new_password_replaces_the_cached_one() {
        let (dir, store) = open_temp();
        store
            .create("alice", Role::Analyst, &password(SECRET), NOW)
            .unwrap();
        assert!(store.verify("alice", SECRET).unwrap().is_some());
        let other = UserStore::open(&dir.path().join("tokens.db")).unwrap();
        assert!(other
            .set_password("alice", &password("a brand new passphrase"))
            .unwrap());
        assert_eq!(store.verify("alice", SECRET).unwrap(), None);
        assert!(store
            .verify("alice", "a brand new passphrase")
            .unwrap()
            .is_some());
        assert!(!store.set_password("carol", &password(SECRET)).unwrap());
    }

    #[test]
    fn no_password_in_debug_errors_listing_or_hash() {
        let (_dir, store) = open_temp();
        let secret = password(SECRET);
        let info = store.create("alice", Role::Viewer, &secret, NOW).unwrap();
        let (_, hash) = store.stored_user("alice").unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        let short = Password::new("short".into()).unwrap_err();
        let exists = store
            .create("alice", Role::Viewer, &secret, NOW)
            .unwrap_err();
        let json = serde_json::to_string(&store.list().unwrap()).unwrap();
        let texts = [
            format!("{secret:?} {store:?} {info:?} {:?}", info.principal()),
            format!("{short} {short:?} {exists} {exists:?}"),
            json,
            hash,
        ];
        for text in &texts {
            assert!(!text.contains("horse") && !text.contains("short"), "{text}");
        }
    }

    #[test]
    fn corrupt_stored_hash_is_an_error_without_the_password() {
        let (_dir, store) = open_temp();
        store
            .create("alice", Role::Viewer, &password(SECRET), NOW)
            .unwrap();
        store
            .lock_connection()
            .execute("UPDATE users SET hash = 'garbage'", [])
            .unwrap();
        let error = store.verify("alice", SECRET).unwrap_err();
        assert!(matches!(error, AuthError::Hash(_)), "{error:?}");
        assert!(!error.to_string().contains("horse"), "{error}");
    }

    #[test]
    fn principal_has_an_id_no_token_has() {
        let info = UserInfo {
            name: "alice".into(),
            role: Role::Partner,
            created_micros: NOW,
            disabled: false,
        };
        let principal = info.principal();
        assert_eq!(principal.id, "user:alice");
        assert_eq!(
            (principal.name.as_str(), principal.role),
            ("alice", Role::Partner)
        );
    }

    /// The schema of version 2, as tocsin wrote it before users.
    const SCHEMA_V2: &str = "
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer', 'ingest', 'partner')),
        hash TEXT NOT NULL,
        created_micros INTEGER NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
    );
    PRAGMA user_version = 2;";

    #[test]
    fn a_version_2_file_is_migrated_with_its_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.db");
        let token = format!("tsn_aaaaaaaaaaaa_{}", "b".repeat(64));
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(SCHEMA_V2).unwrap();
            old.execute(
                "INSERT INTO tokens VALUES ('aaaaaaaaaaaa', 'cisa', 'partner', ?1, 5, 0)",
                [hash_secret(&token).unwrap()],
            )
            .unwrap();
        }
        let users = UserStore::open(&path).unwrap();
        let version: i64 = users
            .lock_connection()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, 3);
        let alice = users
            .create("alice", Role::Partner, &password(SECRET), NOW)
            .unwrap();
        assert_eq!(users.verify("alice", SECRET).unwrap(), Some(alice));
        let tokens = TokenStore::open(&path).unwrap();
        let kept = tokens.verify(&token).unwrap().unwrap();
        assert_eq!((kept.name.as_str(), kept.role), ("cisa", Role::Partner));
        drop((users, tokens));
        // Opening again changes nothing.
        let users = UserStore::open(&path).unwrap();
        assert_eq!(users.list().unwrap().len(), 1);
        assert_eq!(TokenStore::open(&path).unwrap().list().unwrap().len(), 1);
    }

    #[test]
    fn a_new_file_has_both_tables() {
        let (dir, users) = open_temp();
        users
            .create("alice", Role::Admin, &password(SECRET), NOW)
            .unwrap();
        let tokens = TokenStore::open(&dir.path().join("tokens.db")).unwrap();
        let (info, text) = tokens.create("shipper", Role::Ingest, NOW).unwrap();
        assert_eq!(tokens.verify(&text).unwrap(), Some(info));
        assert!(users.verify("alice", SECRET).unwrap().is_some());
    }

    #[test]
    fn store_is_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<UserStore>();
    }
}
