//! The local store: an SQLite database (SQLCipher-encrypted on phones) that
//! holds each record's automerge document, a read model derived from the
//! documents for lists and search, the change log that replication reads, and
//! the tombstones of erased records.
//!
//! Every write is one IMMEDIATE transaction with `synchronous=FULL`: when a
//! call returns, the words are on disk and survive a power cut.

mod act;
mod aggregates;
mod checkpoint;
mod enrollment;
mod index;
mod log_store;
mod migrations;
mod packed;
mod photos;
mod query;
mod records;
mod replication;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use automerge::ActorId;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

pub use act::act_in;
pub use aggregates::{ActivityRow, Fix, OpenRow};
/// A change's hash, as a [`LogStore`] backend keeps it.
pub use automerge::ChangeHash;
pub use checkpoint::running as running_checkpointers;
pub use enrollment::DeviceEnrollment;
pub use index::{ReadRow, read_row_of};
pub use log_store::{LogStore, NewChange, apply_pushed_to, logged_hash};
pub use migrations::SCHEMA_VERSION;
pub use packed::unpack as logged_change;
pub use query::{
    Count, Dialect, GroupBy, OpenReport, Page, Query, SqlArg, SqlQuery, open_statuses_sql,
};
pub use records::{
    LinkState, RecordDetails, StatusChange, details_from_doc, record_from_row,
    without_erased_photos,
};
pub use replication::{ApplyReport, Batch, Entry, Payload};

use crate::doc::RecordDoc;
use crate::{Error, RecordId, Result, TeamConfig};

/// A device's (or a team's, on the server) store of records.
///
/// Safe to share between threads; calls are serialised. Every call blocks on
/// disk I/O: call it off the UI thread.
pub struct Store {
    inner: Mutex<Inner>,
}

pub(crate) struct Inner {
    pub(crate) conn: Connection,
    pub(crate) actor: ActorId,
    pub(crate) author: String,
    pub(crate) config: TeamConfig,
    pub(crate) path: Option<PathBuf>,
    pub(crate) encrypted: bool,
    checkpointer: Option<checkpoint::Checkpointer>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(c) = self.checkpointer.take() {
            c.stop(&mut self.conn);
        }
    }
}

/// A 32-byte key, as a phone's Keystore or Keychain hands it over.
pub type Key = [u8; 32];

fn apply_key(conn: &Connection, pragma: &str, key: &Key) -> Result<()> {
    // Raw-key syntax: SQLCipher uses the 32 bytes as the key, no KDF.
    conn.execute_batch(&format!("PRAGMA {pragma} = \"x'{}'\";", hex::encode(key)))?;
    Ok(())
}

impl Store {
    /// Opens (or creates) the encrypted store at `path` with the caller's key.
    /// A wrong key is [`Error::WrongKey`].
    pub fn open(path: impl AsRef<Path>, key: &Key) -> Result<Store> {
        Self::open_with(path.as_ref(), Some(key))
    }

    /// Opens an UNENCRYPTED store. For tests, benchmarks and server-side
    /// tools only: a phone's data must never be stored this way.
    pub fn open_unencrypted(path: impl AsRef<Path>) -> Result<Store> {
        Self::open_with(path.as_ref(), None)
    }

    fn open_with(path: &Path, key: Option<&Key>) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = connect(path, key)?;
        configure(&conn)?;
        migrations::migrate(&mut conn)?;
        let checkpointer = checkpoint::start(&mut conn, path.to_path_buf(), key.copied())?;
        let actor = match get_meta(&conn, "actor")? {
            Some(hex) => ActorId::from(
                hex::decode(hex)
                    .map_err(Error::unreadable("this device's actor id"))?
                    .as_slice(),
            ),
            None => {
                let a = ActorId::from(rand::random::<[u8; 16]>().as_slice());
                set_meta(&conn, "actor", &a.to_hex_string())?;
                a
            }
        };
        let author = get_meta(&conn, "author")?.unwrap_or_else(|| "unknown".into());
        let config = match get_meta(&conn, "config")? {
            Some(json) => {
                serde_json::from_str(&json).map_err(Error::unreadable("the team configuration"))?
            }
            None => TeamConfig::default(),
        };
        Ok(Store {
            inner: Mutex::new(Inner {
                conn,
                actor,
                author,
                config,
                path: Some(path.to_path_buf()),
                encrypted: key.is_some(),
                checkpointer: Some(checkpointer),
            }),
        })
    }

    /// Replaces the encryption key. The store must be encrypted already.
    pub fn rekey(&self, new_key: &Key) -> Result<()> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if !inner.encrypted {
            return Err(Error::invalid(
                "key",
                "this store is not encrypted and cannot be re-keyed",
            ));
        }
        apply_key(&inner.conn, "rekey", new_key)?;
        // The checkpointer's connection still holds the old key: a new one
        // takes over, or else SQLite's own checkpoint inside the commit.
        if let Some(old) = inner.checkpointer.take() {
            old.stop(&mut inner.conn);
        }
        let started = inner
            .path
            .clone()
            .and_then(|path| checkpoint::start(&mut inner.conn, path, Some(*new_key)).ok());
        match started {
            Some(c) => inner.checkpointer = Some(c),
            None => inner
                .conn
                .execute_batch("PRAGMA wal_autocheckpoint = 1000;")?,
        }
        Ok(())
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic inside a call must not make every later call fail: the
        // transaction it held was rolled back when it unwound.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in one IMMEDIATE transaction, committed when it returns Ok.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &Ctx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut guard = self.lock();
        let Inner {
            conn,
            actor,
            author,
            config,
            ..
        } = &mut *guard;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(
            &tx,
            &Ctx {
                actor,
                author,
                config,
            },
        )?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on a read snapshot.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection, &Ctx<'_>) -> Result<T>) -> Result<T> {
        let guard = self.lock();
        let Inner {
            conn,
            actor,
            author,
            config,
            ..
        } = &*guard;
        // One read transaction: the log and the documents it names come from
        // the same snapshot, even while another connection writes.
        let tx = conn.unchecked_transaction()?;
        let out = f(
            &tx,
            &Ctx {
                actor,
                author,
                config,
            },
        )?;
        tx.commit()?;
        Ok(out)
    }

    /// This device's replication id (its automerge actor, hex).
    pub fn peer_id(&self) -> String {
        self.lock().actor.to_hex_string()
    }

    /// The author id written into records and history.
    pub fn author(&self) -> String {
        self.lock().author.clone()
    }

    /// Sets the author id (the mediator's name or team id) for new changes.
    pub fn set_author(&self, author: &str) -> Result<()> {
        let author = author.trim();
        if author.is_empty() || author.chars().count() > 100 {
            return Err(Error::invalid("author", "must be 1 to 100 characters"));
        }
        let mut inner = self.lock();
        set_meta(&inner.conn, "author", author)?;
        inner.author = author.to_string();
        Ok(())
    }

    /// The team configuration records are validated against.
    pub fn config(&self) -> TeamConfig {
        self.lock().config.clone()
    }

    /// Replaces the team configuration (received from the server).
    pub fn set_config(&self, config: &TeamConfig) -> Result<()> {
        let json = serde_json::to_string(config).map_err(|e| Error::Internal(e.to_string()))?;
        let mut inner = self.lock();
        set_meta(&inner.conn, "config", &json)?;
        inner.config = config.clone();
        Ok(())
    }

    /// A value of the store's settings table, for the apps' own use (the
    /// enrollment has its own API: [`Store::enrollment`]).
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        get_meta(&self.lock().conn, &format!("setting.{key}"))
    }

    /// Writes a setting; `None` removes it. Keys under `sync.` are the sync
    /// protocol's ([`Store::cursor`]) and the keys an older Carnet kept the
    /// enrollment under are the enrollment's ([`Store::set_enrollment`]):
    /// both are refused.
    pub fn set_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        let name = key.trim();
        if name.starts_with("sync.") {
            return Err(Error::invalid(
                "key",
                "settings under sync. belong to the sync protocol and are not written by apps",
            ));
        }
        if enrollment::LEGACY_SETTINGS.contains(&name) {
            return Err(Error::invalid(
                "key",
                "server, token, device_id, team_id and role are the enrollment's: use the enrollment API",
            ));
        }
        let inner = self.lock();
        match value {
            Some(v) => set_meta(&inner.conn, &format!("setting.{key}"), v),
            None => {
                inner.conn.execute(
                    "DELETE FROM meta WHERE key = ?1",
                    [format!("setting.{key}")],
                )?;
                Ok(())
            }
        }
    }

    /// How far this device's sync has gone with its server: kept in a table
    /// of its own (`sync_cursors`), apart from the apps' settings, so that
    /// no app can move it.
    pub fn cursor(&self, which: Cursor) -> Result<u64> {
        let inner = self.lock();
        let at: Option<i64> = inner
            .conn
            .query_row(
                "SELECT position FROM sync_cursors WHERE name = ?1",
                [which.name()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(at.map_or(0, |a| u64::try_from(a).unwrap_or(0)))
    }

    /// Moves a sync cursor (the protocol does, once the server acknowledged
    /// or the pulled page is applied).
    pub fn set_cursor(&self, which: Cursor, at: u64) -> Result<()> {
        let at = i64::try_from(at)
            .map_err(|_| Error::invalid("cursor", "a log position past what SQLite can hold"))?;
        self.lock().conn.execute(
            "INSERT INTO sync_cursors (name, position) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            rusqlite::params![which.name(), at],
        )?;
        Ok(())
    }

    /// The lineage of the server's team log that the sync cursors count in,
    /// as the server last told it; `None` before the first sync with a
    /// server that tells it.
    pub fn lineage(&self) -> Result<Option<String>> {
        Ok(self
            .lock()
            .conn
            .query_row(
                "SELECT lineage FROM sync_lineage WHERE singleton = 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Remembers the server log's lineage, first seen (the cursors are
    /// left as they are).
    pub fn set_lineage(&self, lineage: &str) -> Result<()> {
        set_lineage_in(&self.lock().conn, lineage)
    }

    /// Starts the sync over in a new lineage of the server's log (the server
    /// was restored from a backup): both cursors back to 0, so that every
    /// change this device made is pushed again and the whole log pulled
    /// again, and the new lineage remembered, in one transaction, so that
    /// a crash halfway cannot leave the new lineage with the old cursors.
    pub fn restart_sync(&self, lineage: &str) -> Result<()> {
        let mut inner = self.lock();
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("UPDATE sync_cursors SET position = 0", [])?;
        set_lineage_in(&tx, lineage)?;
        tx.commit()?;
        Ok(())
    }

    /// Moves everything from the WAL into the database file and truncates the
    /// WAL, so that deleted bytes are gone from both files.
    ///
    /// A reader still using older pages (another connection in the middle of
    /// a read, past the busy timeout) keeps them in the log: that is an
    /// error, so that an erasure is not acknowledged while its bytes remain;
    /// retrying is safe.
    pub fn checkpoint(&self) -> Result<()> {
        let inner = self.lock();
        let _alone = inner.checkpointer.as_ref().map(|c| c.hold());
        let busy: i64 = inner
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            // SQLite reports a checkpoint blocked by a reader as a result
            // row, not an error: it becomes the error SQLite would give.
            return Err(Error::Storage(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                Some(
                    "the write-ahead log could not be emptied while another connection reads; retry"
                        .into(),
                ),
            )));
        }
        Ok(())
    }

    /// Where the database file is.
    pub fn path(&self) -> Option<PathBuf> {
        self.lock().path.clone()
    }

    /// Deletes every record, document, log entry, photo, setting and the
    /// enrollment: the store is
    /// left empty, as after a supervisor's wipe order, with a new actor. The
    /// file remains so that the app can enroll again.
    pub fn wipe(&self) -> Result<()> {
        let mut inner = self.lock();
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(
            "DELETE FROM documents; DELETE FROM records; DELETE FROM record_axes; DELETE FROM record_referrals; DELETE FROM search;
             DELETE FROM change_log; DELETE FROM tombstones; DELETE FROM enrollment;
             DELETE FROM photos; DELETE FROM photo_parts; DELETE FROM photo_tombstones; DELETE FROM record_photos; DELETE FROM sync_cursors; DELETE FROM sync_lineage; DELETE FROM meta WHERE key LIKE 'setting.%';",
        )?;
        // A new actor: the server binds each enrolled device to its actor, and
        // the next enrollment is a new device.
        let actor = ActorId::from(rand::random::<[u8; 16]>().as_slice());
        set_meta(&tx, "actor", &actor.to_hex_string())?;
        tx.commit()?;
        inner.actor = actor;
        let _alone = inner.checkpointer.as_ref().map(|c| c.hold());
        inner
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        inner.conn.execute_batch("VACUUM")?;
        Ok(())
    }
}

/// The two positions of a device's sync with its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// The device's own log, acknowledged by the server up to here.
    Push,
    /// The team's log, applied up to here.
    Pull,
}

impl Cursor {
    /// Its row in `sync_cursors`.
    fn name(self) -> &'static str {
        match self {
            Cursor::Push => "push",
            Cursor::Pull => "pull",
        }
    }
}

fn set_lineage_in(conn: &Connection, lineage: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO sync_lineage (singleton, lineage) VALUES (1, ?1)
         ON CONFLICT (singleton) DO UPDATE SET lineage = excluded.lineage",
        [lineage],
    )?;
    Ok(())
}

/// What a write needs besides the transaction.
pub(crate) struct Ctx<'a> {
    pub(crate) actor: &'a ActorId,
    pub(crate) author: &'a str,
    pub(crate) config: &'a TeamConfig,
}

/// Opens a connection to the database file with `key` (None: unencrypted)
/// and checks that the key opens it ([`Error::WrongKey`] if not). Durable
/// writes from it: `synchronous=FULL` (the checkpointer's connection, made
/// here too, syncs the database file before the log can be reused).
fn connect(path: &Path, key: Option<&Key>) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // SQLCipher logs a failed key check to stderr; the caller gets WrongKey instead.
    let _ = conn.execute_batch("PRAGMA cipher_log_level = NONE;");
    if let Some(k) = key {
        apply_key(&conn, "key", k)?;
    }
    // The first read tells whether the key opens the file.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| match Error::from(e) {
        Error::WrongKey => Error::WrongKey,
        other => other,
    })?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;")?;
    Ok(conn)
}

/// Connection settings. The page cache (32 MiB at most, filled on demand) is
/// what keeps a large store fast under SQLCipher: every page read from the
/// file is decrypted and authenticated, and at 100k records the indexes no
/// longer fit the 2 MiB default, which made each insert re-read pages. The
/// log file is cut back to 64 MiB when it is reused, so that a large sync
/// does not leave its size on the phone.
fn configure(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA secure_delete = ON;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -32768;
         PRAGMA journal_size_limit = 67108864;",
    )?;
    Ok(())
}

pub(crate) fn get_meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Loads a record's document, or says why it cannot be had.
pub(crate) fn load_doc(tx: &Connection, actor: &ActorId, id: RecordId) -> Result<RecordDoc> {
    Ok(load_doc_tail(tx, actor, id)?.0)
}

/// Loads a record's document from its snapshot and the changes logged after
/// it; also says how many such changes there were, to decide compaction.
pub(crate) fn load_doc_tail(
    tx: &Connection,
    actor: &ActorId,
    id: RecordId,
) -> Result<(RecordDoc, usize)> {
    let (bytes, tail) = doc_bytes(tx, id)?;
    Ok((RecordDoc::load(&bytes, actor)?, tail))
}

/// A record's document as stored: its snapshot followed by the changes
/// logged after it (automerge loads the two concatenated), and how many
/// changes that is.
pub(crate) fn doc_bytes(tx: &Connection, id: RecordId) -> Result<(Vec<u8>, usize)> {
    let snapshot: Option<(Vec<u8>, i64)> = tx
        .prepare_cached("SELECT bytes, upto FROM documents WHERE id = ?1")?
        .query_row([id.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (mut bytes, upto) = snapshot.unwrap_or_default();
    let mut tail = 0;
    let mut stmt = tx.prepare_cached(
        "SELECT bytes FROM change_log WHERE record_id = ?1 AND seq > ?2 AND bytes IS NOT NULL ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![id.as_bytes(), upto])?;
    while let Some(row) = rows.next()? {
        bytes.extend_from_slice(&packed::unpack(row.get(0)?)?);
        tail += 1;
    }
    if bytes.is_empty() {
        return Err(if is_erased(tx, id)? {
            Error::Erased(id)
        } else {
            Error::NotFound(id)
        });
    }
    Ok((bytes, tail))
}

pub(crate) fn is_erased(conn: &Connection, id: RecordId) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM tombstones WHERE id = ?1")?
        .query_row([id.as_bytes()], |_| Ok(()))
        .optional()?
        .is_some())
}

#[cfg(test)]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;
    use crate::Kind;

    /// A panic in the middle of a write transaction (after it wrote) reaches
    /// the caller as a panic, the transaction is rolled back, and the store's
    /// lock is not left poisoned: the next call works.
    #[test]
    fn a_panic_inside_a_write_rolls_back_and_the_next_call_works() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_unencrypted(dir.path().join("s.db")).unwrap();
        let fields = |t: &str| {
            serde_json::json!({"sector": "conte-joliot", "text": t})
                .as_object()
                .cloned()
                .unwrap()
        };
        store.create(Kind::Note, &fields("avant")).unwrap();
        let head = store.log_head().unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            store.write(|tx, _| -> Result<()> {
                set_meta(tx, "setting.panic-probe", "written")?;
                panic!("injected panic inside a write");
            })
        }));
        assert!(r.is_err(), "the panic must reach the caller");
        assert_eq!(
            store.setting("panic-probe").unwrap(),
            None,
            "not rolled back"
        );
        assert_eq!(store.log_head().unwrap(), head);
        store.create(Kind::Note, &fields("après")).unwrap();
        assert_eq!(store.list(&Query::default()).unwrap().items.len(), 2);
    }
}
