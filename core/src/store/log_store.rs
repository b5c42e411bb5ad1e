//! What applying a batch needs of the storage under it, so that one apply
//! logic (decode, verify hashes, merge, judge each change by the rules,
//! derive the read model, refuse changes to erased records) runs over any
//! backend: a device's or an embedded server's SQLite store
//! ([`SqliteLog`]), or the server's PostgreSQL storage. The backend only
//! executes what [`apply_batch`] decides, inside one transaction of its own.

use std::borrow::Cow;

use automerge::{ActorId, ChangeHash};
use rusqlite::{Connection, OptionalExtension, params};

use super::index::{self, ReadRow};
use super::replication::{self, Sender};
use super::{ApplyReport, doc_bytes, is_erased};
use crate::photo::PhotoHash;
use crate::{Error, RecordId, Result, TeamConfig};

/// A change new to a log, as its backend appends it.
pub struct NewChange<'a> {
    /// Its hash, checked against its bytes when it was decoded.
    pub hash: ChangeHash,
    /// Its bytes as they travel: uncompressed.
    pub bytes: Cow<'a, [u8]>,
    /// The same bytes packed, for a backend that keeps them so
    /// ([`LogStore::packs_changes`]): packed by the threads that merge, so
    /// that the one thread writing the batch does not (docs/performance.md,
    /// "Against automerge alone").
    pub packed: Option<Vec<u8>>,
}

/// A change's hash as a log row keeps it (its 32 bytes), for a backend's
/// [`LogStore::stored_hashes`].
pub fn logged_hash(bytes: &[u8]) -> Result<ChangeHash> {
    ChangeHash::try_from(bytes).map_err(|_| Error::Unreadable {
        what: "a change's hash in the change log",
        source: None,
    })
}

/// One team log's storage, inside the transaction a batch is applied in.
/// Every method acts on that log only.
pub trait LogStore {
    /// The kind code of a record the log holds, from its read model.
    fn stored_kind(&mut self, id: RecordId) -> Result<Option<String>>;
    /// Whether the record was erased (a tombstone exists).
    fn is_erased(&mut self, id: RecordId) -> Result<bool>;
    /// The record's document as stored, if the log holds it: its snapshot
    /// (if any) followed by the changes logged after it, which automerge
    /// loads concatenated, and how many such changes there are.
    fn stored_doc(&mut self, id: RecordId) -> Result<Option<(Vec<u8>, usize)>>;
    /// The hashes of every change the log holds for the record (snapshotted
    /// or not), in any order; empty for a record it does not hold.
    fn stored_hashes(&mut self, id: RecordId) -> Result<Vec<ChangeHash>>;
    /// Erases the record: its read-model rows, snapshot and logged changes
    /// deleted, a tombstone kept (id and time), and an erasure appended to
    /// the log so that it replicates.
    fn erase(&mut self, id: RecordId, at: i64, origin: &str) -> Result<()>;
    /// Whether the log keeps changes packed ([`NewChange::packed`]).
    fn packs_changes(&self) -> bool {
        false
    }
    /// Appends a change new to the log, at the log's next position.
    fn log_change(&mut self, id: RecordId, change: &NewChange<'_>, origin: &str) -> Result<()>;
    /// Keeps `bytes` as the record's snapshot, covering every change logged
    /// for it so far.
    fn save_snapshot(&mut self, id: RecordId, bytes: &[u8]) -> Result<()>;
    /// Replaces the record's read-model rows (its photos' too); `fresh`:
    /// it has none yet.
    fn write_row(&mut self, row: &ReadRow, fresh: bool) -> Result<()>;
    /// Whether the photo (named by its full image's hash) was erased here.
    fn is_photo_erased(&mut self, hash: &PhotoHash) -> Result<bool>;
    /// Erases a photo: a tombstone kept (both hashes and the time), the
    /// read-model rows naming it deleted, its bytes too where the backend
    /// keeps them in the log's database (a device's store), and an entry
    /// appended to the log under record `id` so that the erasure
    /// replicates. Called only for a photo not erased yet.
    fn erase_photo(
        &mut self,
        id: RecordId,
        hash: &PhotoHash,
        thumb: &PhotoHash,
        at: i64,
        origin: &str,
    ) -> Result<()>;
}

/// Applies a device's pushed batch to a team log, as [`super::Store::apply_pushed`]
/// does to a SQLite store: every change must be made by `actor` (None: the
/// batch may hold erasures only), erasures only of resident contacts, each
/// change judged by the team's rules. All or nothing is the caller's
/// transaction: on an error, roll back.
pub fn apply_pushed_to(
    log: &mut dyn LogStore,
    config: &TeamConfig,
    origin: &str,
    actor: Option<&str>,
    batch: &super::Batch,
) -> Result<ApplyReport> {
    let actor = replication::parse_actor(actor)?;
    // The log's own actor only names changes it would make itself, which a
    // server applying pushes never does.
    let own = ActorId::from([0u8; 16].as_slice());
    replication::apply_in(
        log,
        &own,
        config,
        Sender::Device {
            origin,
            actor: actor.as_ref(),
        },
        &batch.entries,
    )
}

/// The SQLite store's tables, inside its write transaction.
pub struct SqliteLog<'a> {
    conn: &'a Connection,
}

impl<'a> SqliteLog<'a> {
    /// The log of the store `conn` is a transaction on.
    pub(crate) fn new(conn: &'a Connection) -> SqliteLog<'a> {
        SqliteLog { conn }
    }
}

impl LogStore for SqliteLog<'_> {
    fn stored_kind(&mut self, id: RecordId) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT kind FROM records WHERE id = ?1")?
            .query_row([id.as_bytes()], |r| r.get(0))
            .optional()?)
    }

    fn is_erased(&mut self, id: RecordId) -> Result<bool> {
        is_erased(self.conn, id)
    }

    fn stored_doc(&mut self, id: RecordId) -> Result<Option<(Vec<u8>, usize)>> {
        if self.stored_kind(id)?.is_none() {
            return Ok(None);
        }
        doc_bytes(self.conn, id).map(Some)
    }

    fn stored_hashes(&mut self, id: RecordId) -> Result<Vec<ChangeHash>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT hash FROM change_log WHERE record_id = ?1 AND bytes IS NOT NULL",
        )?;
        let rows = stmt.query_map([id.as_bytes()], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|h| logged_hash(&h?)).collect()
    }

    fn erase(&mut self, id: RecordId, at: i64, origin: &str) -> Result<()> {
        super::records::erase_in(self.conn, id, at, origin)
    }

    fn packs_changes(&self) -> bool {
        true
    }

    fn log_change(&mut self, id: RecordId, change: &NewChange<'_>, origin: &str) -> Result<()> {
        let packed = match &change.packed {
            Some(p) => Cow::Borrowed(p.as_slice()),
            None => Cow::Owned(super::packed::pack(&change.bytes)?),
        };
        super::records::log_packed(self.conn, id, &change.hash, &packed, origin)
    }

    fn save_snapshot(&mut self, id: RecordId, bytes: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO documents (id, bytes, upto)
                 VALUES (?1, ?2, (SELECT max(seq) FROM change_log WHERE record_id = ?1))
                 ON CONFLICT(id) DO UPDATE SET bytes = excluded.bytes, upto = excluded.upto",
            )?
            .execute(params![id.as_bytes(), bytes])?;
        Ok(())
    }

    fn write_row(&mut self, row: &ReadRow, fresh: bool) -> Result<()> {
        index::reindex(self.conn, row, fresh)
    }

    fn is_photo_erased(&mut self, hash: &PhotoHash) -> Result<bool> {
        super::photos::is_photo_erased(self.conn, hash)
    }

    fn erase_photo(
        &mut self,
        id: RecordId,
        hash: &PhotoHash,
        thumb: &PhotoHash,
        at: i64,
        origin: &str,
    ) -> Result<()> {
        super::photos::erase_photo_in(self.conn, id, hash, thumb, at, origin)
    }
}
