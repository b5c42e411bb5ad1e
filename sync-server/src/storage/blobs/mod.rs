//! Where the server keeps photos' bytes: content-addressed blobs (named by
//! the SHA-256 of their bytes, [`PhotoHash`]) per team, behind one trait so
//! that the routes never know which storage holds them.
//!
//! [`FilesBlobStore`] keeps them as files under the data directory (the
//! embedded SQLite deployment, one process); [`PgBlobStore`] in chunked
//! rows of the PostgreSQL database, so that any instance serves any photo.
//! Both pass one conformance suite (`tests/blobs.rs`).
//!
//! A blob is received in appends at the offset the store holds (so an
//! upload cut anywhere resumes where it stopped), then completed: only a
//! blob whose bytes hash to its name, and that the caller's check accepts
//! (a real image), becomes readable. Contracts every implementation keeps:
//! - appends to one blob are serialised: of two at the same offset, one
//!   wins and the other gets [`StorageError::PhotoOffset`];
//! - what an append acknowledged is durable (synced) before it returns;
//! - [`BlobStore::delete`] removes everything of the blob, its partial
//!   upload included, from the disk or the database, not only a name;
//! - every method takes the caller's team and never reaches another's.

mod files;
mod postgres;

use carnet_core::photo::{BlobStatus, PhotoHash};

pub use files::FilesBlobStore;
pub use postgres::PgBlobStore;
pub(crate) use postgres::delete_blob;

use super::{Result, Storage, StorageError};

/// How far a blob's upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BlobState {
    /// Bytes held (all of them once complete).
    pub received: u64,
    /// Whether the blob was completed: hash and content checked, readable.
    pub complete: bool,
}

/// The check a caller runs on a blob's whole bytes before it is completed
/// (the server: that they are an image); an error drops the upload.
pub type BlobCheck<'a> = &'a dyn Fn(&[u8]) -> Result<()>;

/// A team's photo bytes. Blocking, like [`super::Storage`]: the server
/// calls it on tokio's blocking pool.
pub trait BlobStore: Send + Sync {
    /// How much of `blob` the store holds; `{0, false}` when nothing.
    fn state(&self, team: &str, blob: &PhotoHash) -> Result<BlobState>;

    /// Appends `bytes` at `offset`, which must be the bytes held, else
    /// [`StorageError::PhotoOffset`] with them (a complete blob takes no
    /// more). Returns the bytes held after, synced.
    fn append(&self, team: &str, blob: &PhotoHash, offset: u64, bytes: &[u8]) -> Result<u64>;

    /// Completes `blob`: its bytes must hash to its name and pass `check`,
    /// else the upload is dropped and the error returned
    /// ([`StorageError::PhotoCorrupt`] for a wrong hash). Completing a
    /// complete blob does nothing; a blob with nothing received is
    /// [`StorageError::NotFound`].
    fn complete(&self, team: &str, blob: &PhotoHash, check: BlobCheck<'_>) -> Result<()>;

    /// Up to `max` bytes of a complete blob from `offset` (empty past its
    /// end); `None` unless complete.
    fn read(
        &self,
        team: &str,
        blob: &PhotoHash,
        offset: u64,
        max: usize,
    ) -> Result<Option<Vec<u8>>>;

    /// The size of a complete blob; `None` unless complete.
    fn size(&self, team: &str, blob: &PhotoHash) -> Result<Option<u64>>;

    /// Deletes everything of `blob`, complete or partial; whether there
    /// was anything.
    fn delete(&self, team: &str, blob: &PhotoHash) -> Result<bool>;

    /// Bytes the team's blobs take, partial uploads included: what its
    /// quota counts.
    fn usage(&self, team: &str) -> Result<u64>;

    /// The team's blobs, complete or partial, with when each was last
    /// written (ms since the Unix epoch): what the collection round walks.
    fn list(&self, team: &str) -> Result<Vec<(PhotoHash, i64)>>;

    /// The teams holding any blob.
    fn teams(&self) -> Result<Vec<String>>;
}

/// A team id as a blob store takes it: a UUID, so that it can name a
/// directory. Anything else holds no blobs.
fn check_team(team: &str) -> Result<()> {
    if super::is_team_id(team) {
        Ok(())
    } else {
        Err(StorageError::NotFound("no such team".into()))
    }
}

/// The error for bytes that are not the photo their hash names.
fn wrong_hash() -> StorageError {
    StorageError::PhotoCorrupt(
        "the bytes received do not match the photo's SHA-256; they were dropped: upload the photo again from the start"
            .into(),
    )
}

/// What a collection round deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Collected {
    /// Blobs of erased photos.
    pub erased: usize,
    /// Blobs no live record references, past the grace period.
    pub unreferenced: usize,
}

/// Deletes the blobs of erased photos (full image and thumbnail): what
/// the server does once a push that erased them committed. Returns how
/// many blobs there were.
pub fn erase_photos(
    blobs: &dyn BlobStore,
    team: &str,
    erased: &[(PhotoHash, PhotoHash)],
) -> Result<usize> {
    let mut deleted = 0;
    for (full, thumb) in erased {
        for blob in [full, thumb] {
            if blobs.delete(team, blob)? {
                deleted += 1;
            }
        }
    }
    Ok(deleted)
}

/// [`Storage::collect_photos`] for a storage whose blobs one process owns:
/// every team's blobs walked, each looked up in its team's log.
pub(crate) fn collect<S: Storage + ?Sized>(
    storage: &S,
    grace_ms: i64,
    now: i64,
) -> Result<Collected> {
    let blobs = storage.blobs();
    let cutoff = now.saturating_sub(grace_ms);
    let mut done = Collected::default();
    for team in blobs.teams()? {
        for (blob, stored_at) in blobs.list(&team)? {
            let status = match storage.photo_blob_status(&team, &blob) {
                Ok(s) => s,
                // A team gone from the directory: its blobs go with it.
                Err(StorageError::NotFound(_)) => BlobStatus::Erased,
                Err(e) => return Err(e),
            };
            match status {
                BlobStatus::Erased if blobs.delete(&team, &blob)? => done.erased += 1,
                BlobStatus::Unknown if stored_at < cutoff && blobs.delete(&team, &blob)? => {
                    done.unreferenced += 1
                }
                _ => {}
            }
        }
    }
    Ok(done)
}
