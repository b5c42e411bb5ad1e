//! [`BlobStore`] in the PostgreSQL database (`migrations/postgres/004_blobs.sql`):
//! a row per blob in `photo_blobs` (its state), its bytes in
//! `photo_chunks`, one row per append at the offset it started at. An
//! append locks its blob's row until it commits, so appends to one blob
//! take turns across instances; a commit is PostgreSQL's, durable.

use carnet_core::now_ms;
use carnet_core::photo::PhotoHash;
use postgres::GenericClient;

use super::{BlobCheck, BlobState, BlobStore, check_team, wrong_hash};
use crate::storage::{Pool, Result, StorageError};

/// Blobs in the database of a pool (the storage's).
pub struct PgBlobStore {
    pool: Pool,
}

impl PgBlobStore {
    /// Blobs in the database of `pool`.
    pub fn new(pool: Pool) -> PgBlobStore {
        PgBlobStore { pool }
    }
}

/// Deletes every row of `blob` in `team` on `c`; whether there was any.
pub(crate) fn delete_blob(
    c: &mut impl GenericClient,
    team: &str,
    blob: &PhotoHash,
) -> Result<bool, postgres::Error> {
    let hash = blob.as_bytes().as_slice();
    let chunks = c.execute(
        "DELETE FROM photo_chunks WHERE team_id = $1 AND hash = $2",
        &[&team, &hash],
    )?;
    let blobs = c.execute(
        "DELETE FROM photo_blobs WHERE team_id = $1 AND hash = $2",
        &[&team, &hash],
    )?;
    Ok(chunks + blobs > 0)
}

impl BlobStore for PgBlobStore {
    fn state(&self, team: &str, blob: &PhotoHash) -> Result<BlobState> {
        check_team(team)?;
        let row = self.pool.get()?.query_opt(
            "SELECT size, complete FROM photo_blobs WHERE team_id = $1 AND hash = $2",
            &[&team, &blob.as_bytes().as_slice()],
        )?;
        Ok(row.map_or(
            BlobState {
                received: 0,
                complete: false,
            },
            |r| BlobState {
                received: r.get::<_, i64>(0) as u64,
                complete: r.get(1),
            },
        ))
    }

    fn append(&self, team: &str, blob: &PhotoHash, offset: u64, bytes: &[u8]) -> Result<u64> {
        check_team(team)?;
        let hash = blob.as_bytes().as_slice();
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction()?;
        // A first append creates the row; a second one at the same time
        // waits on its key, then finds it.
        tx.execute(
            "INSERT INTO photo_blobs (team_id, hash, complete, size, stored_at)
             VALUES ($1, $2, FALSE, 0, $3) ON CONFLICT DO NOTHING",
            &[&team, &hash, &now_ms()],
        )?;
        let row = tx.query_one(
            "SELECT size, complete FROM photo_blobs WHERE team_id = $1 AND hash = $2 FOR UPDATE",
            &[&team, &hash],
        )?;
        let received = row.get::<_, i64>(0) as u64;
        if row.get::<_, bool>(1) || offset != received {
            return Err(StorageError::PhotoOffset { received });
        }
        if bytes.is_empty() {
            // Rolled back: an empty append leaves no row behind.
            return Ok(received);
        }
        let n = bytes.len() as i64;
        tx.execute(
            "INSERT INTO photo_chunks (team_id, hash, pos, bytes) VALUES ($1, $2, $3, $4)",
            &[&team, &hash, &(received as i64), &bytes],
        )?;
        tx.execute(
            "UPDATE photo_blobs SET size = size + $3, stored_at = $4 WHERE team_id = $1 AND hash = $2",
            &[&team, &hash, &n, &now_ms()],
        )?;
        tx.commit()?;
        Ok(received + bytes.len() as u64)
    }

    fn complete(&self, team: &str, blob: &PhotoHash, check: BlobCheck<'_>) -> Result<()> {
        check_team(team)?;
        let hash = blob.as_bytes().as_slice();
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction()?;
        let Some(row) = tx.query_opt(
            "SELECT size, complete FROM photo_blobs WHERE team_id = $1 AND hash = $2 FOR UPDATE",
            &[&team, &hash],
        )?
        else {
            return Err(StorageError::NotFound(
                "nothing of this photo was received".into(),
            ));
        };
        if row.get::<_, bool>(1) {
            return Ok(());
        }
        let size = row.get::<_, i64>(0) as usize;
        let mut bytes = Vec::with_capacity(size);
        for chunk in tx.query(
            "SELECT bytes FROM photo_chunks WHERE team_id = $1 AND hash = $2 ORDER BY pos",
            &[&team, &hash],
        )? {
            bytes.extend_from_slice(chunk.get::<_, &[u8]>(0));
        }
        let verdict = if PhotoHash::of(&bytes) != *blob {
            Err(wrong_hash())
        } else {
            check(&bytes)
        };
        match verdict {
            Ok(()) => {
                tx.execute(
                    "UPDATE photo_blobs SET complete = TRUE, stored_at = $3 WHERE team_id = $1 AND hash = $2",
                    &[&team, &hash, &now_ms()],
                )?;
                tx.commit()?;
                Ok(())
            }
            Err(e) => {
                delete_blob(&mut tx, team, blob)?;
                tx.commit()?;
                Err(e)
            }
        }
    }

    fn read(
        &self,
        team: &str,
        blob: &PhotoHash,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>> {
        check_team(team)?;
        let hash = blob.as_bytes().as_slice();
        let mut conn = self.pool.get()?;
        let mut tx = conn.build_transaction().read_only(true).start()?;
        let Some(size) = complete_size(&mut tx, team, hash)? else {
            return Ok(None);
        };
        let end = size.min(offset.saturating_add(max as u64));
        if offset >= end {
            return Ok(Some(Vec::new()));
        }
        let (start, end) = (offset as i64, end as i64);
        let mut out = Vec::with_capacity((end - start) as usize);
        for row in tx.query(
            "SELECT pos, bytes FROM photo_chunks
             WHERE team_id = $1 AND hash = $2 AND pos < $4 AND pos + octet_length(bytes) > $3
             ORDER BY pos",
            &[&team, &hash, &start, &end],
        )? {
            let pos: i64 = row.get(0);
            let bytes: &[u8] = row.get(1);
            let from = (start - pos).max(0) as usize;
            let to = ((end - pos) as usize).min(bytes.len());
            out.extend_from_slice(&bytes[from..to]);
        }
        tx.commit()?;
        Ok(Some(out))
    }

    fn size(&self, team: &str, blob: &PhotoHash) -> Result<Option<u64>> {
        check_team(team)?;
        complete_size(&mut *self.pool.get()?, team, blob.as_bytes())
    }

    fn delete(&self, team: &str, blob: &PhotoHash) -> Result<bool> {
        check_team(team)?;
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction()?;
        let found = delete_blob(&mut tx, team, blob)?;
        tx.commit()?;
        Ok(found)
    }

    fn usage(&self, team: &str) -> Result<u64> {
        check_team(team)?;
        let row = self.pool.get()?.query_one(
            "SELECT coalesce(sum(size), 0)::BIGINT FROM photo_blobs WHERE team_id = $1",
            &[&team],
        )?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn list(&self, team: &str) -> Result<Vec<(PhotoHash, i64)>> {
        check_team(team)?;
        let rows = self.pool.get()?.query(
            "SELECT hash, stored_at FROM photo_blobs WHERE team_id = $1 ORDER BY hash",
            &[&team],
        )?;
        rows.iter()
            .map(|r| {
                let hash = PhotoHash::from_slice(r.get(0)).ok_or_else(|| {
                    StorageError::Internal("a photo hash in photo_blobs is not 32 bytes".into())
                })?;
                Ok((hash, r.get(1)))
            })
            .collect()
    }

    fn teams(&self) -> Result<Vec<String>> {
        let rows = self.pool.get()?.query(
            "SELECT DISTINCT team_id FROM photo_blobs ORDER BY team_id",
            &[],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

/// The size of a complete blob, `None` otherwise.
fn complete_size(c: &mut impl GenericClient, team: &str, hash: &[u8]) -> Result<Option<u64>> {
    let row = c.query_opt(
        "SELECT size FROM photo_blobs WHERE team_id = $1 AND hash = $2 AND complete",
        &[&team, &hash],
    )?;
    Ok(row.map(|r| r.get::<_, i64>(0) as u64))
}
