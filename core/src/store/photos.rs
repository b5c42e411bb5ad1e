//! Photos on the device: attached to reports and notes, every byte kept in
//! the store's (encrypted) file, sent and fetched by the sync session apart
//! from the change feed, erased everywhere when removed.
//!
//! Tables (migration 006): `photos` (the bytes, by the full image's hash),
//! `photo_parts` (downloads cut in the middle, by the blob's hash),
//! `photo_tombstones` (erased photos) and `record_photos` (the read model:
//! which live record names which photo).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::log_store::SqliteLog;
use super::records::{index_doc, log_local};
use super::{ApplyReport, Store, load_doc_tail};
use crate::photo::process::prepare;
use crate::photo::{
    BlobStatus, BlobTransfer, PhotoHash, PhotoInfo, PhotoRef, Variant, takes_photos,
};
use crate::{Error, Kind, RecordId, Result, now_ms};

/// Whether the photo whose full image is `hash` was erased here.
pub(super) fn is_photo_erased(conn: &Connection, hash: &PhotoHash) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM photo_tombstones WHERE hash = ?1")?
        .query_row([hash.as_bytes()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Erases a photo here: tombstone, read-model rows, bytes (whole or
/// partial, both blobs), and a log entry under record `id` so that the
/// erasure replicates. `secure_delete` overwrites the freed pages; the
/// caller checkpoints once committed, so no byte stays in the WAL.
pub(super) fn erase_photo_in(
    conn: &Connection,
    id: RecordId,
    hash: &PhotoHash,
    thumb: &PhotoHash,
    at: i64,
    origin: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO photo_tombstones (hash, thumb, at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![hash.as_bytes(), thumb.as_bytes(), at])?;
    conn.prepare_cached("DELETE FROM record_photos WHERE hash = ?1")?
        .execute([hash.as_bytes()])?;
    conn.prepare_cached("DELETE FROM photos WHERE hash = ?1")?
        .execute([hash.as_bytes()])?;
    conn.prepare_cached("DELETE FROM photo_parts WHERE hash IN (?1, ?2)")?
        .execute([hash.as_bytes(), thumb.as_bytes()])?;
    let mut both = hash.as_bytes().to_vec();
    both.extend_from_slice(thumb.as_bytes());
    conn.prepare_cached(
        "INSERT INTO change_log (record_id, hash, origin, bytes, photo) VALUES (?1, NULL, ?2, NULL, ?3)",
    )?
    .execute(params![id.as_bytes(), origin, both])?;
    Ok(())
}

/// The photos a live record's read model lists (erased ones left out), or
/// why there are none to list.
fn listed(conn: &Connection, id: RecordId) -> Result<Vec<PhotoRef>> {
    let view: Option<String> = conn
        .prepare_cached("SELECT view FROM records WHERE id = ?1")?
        .query_row([id.as_bytes()], |r| r.get(0))
        .optional()?;
    let Some(view) = view else {
        return Err(if super::is_erased(conn, id)? {
            Error::Erased(id)
        } else {
            Error::NotFound(id)
        });
    };
    let view: Value = serde_json::from_str(&view).map_err(Error::unreadable("a record's view"))?;
    let mut out = Vec::new();
    for p in view
        .get("photos")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| serde_json::from_value::<PhotoRef>(p.clone()).ok())
    {
        // The same photo on another record that was erased from there.
        if !is_photo_erased(conn, &p.hash)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// The kind of a live record, or why it has none.
fn kind_of(conn: &Connection, id: RecordId) -> Result<Kind> {
    let kind: Option<String> = conn
        .prepare_cached("SELECT kind FROM records WHERE id = ?1")?
        .query_row([id.as_bytes()], |r| r.get(0))
        .optional()?;
    match kind {
        Some(k) => Kind::parse(&k),
        None if super::is_erased(conn, id)? => Err(Error::Erased(id)),
        None => Err(Error::NotFound(id)),
    }
}

/// Bytes of photos taken here that the server does not have yet, counting
/// only photos a live record still names (the others go at the next
/// collection).
fn pending_bytes(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT coalesce(sum(p.size + p.thumb_size), 0) FROM photos p
          WHERE p.upload = 'pending'
            AND EXISTS (SELECT 1 FROM record_photos r WHERE r.hash = p.hash)",
        [],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// What attaching a photo to record `id` must not break, checked before
/// the photo is processed (to fail fast) and again in the write.
fn check_room(conn: &Connection, id: RecordId, max_per_record: u32) -> Result<Vec<PhotoRef>> {
    let kind = kind_of(conn, id)?;
    if !takes_photos(kind) {
        return Err(Error::PhotosNotAllowed(kind));
    }
    let photos = listed(conn, id)?;
    if photos.len() >= max_per_record as usize {
        return Err(Error::TooManyPhotos {
            limit: max_per_record,
        });
    }
    Ok(photos)
}

/// The photo a live record names with this blob, and which of its blobs it is.
fn referenced(conn: &Connection, blob: &PhotoHash) -> Result<Option<(PhotoRef, Variant)>> {
    let row = |variant: Variant, sql: &str| -> Result<Option<(PhotoRef, Variant)>> {
        let found: Option<(Vec<u8>, Vec<u8>, i64, i64)> = conn
            .prepare_cached(sql)?
            .query_row([blob.as_bytes()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((hash, thumb, size, thumb_size)) = found else {
            return Ok(None);
        };
        let unreadable = || Error::Unreadable {
            what: "a photo's hash in the read model",
            source: None,
        };
        let photo = PhotoRef {
            hash: PhotoHash::from_slice(&hash).ok_or_else(unreadable)?,
            thumb: PhotoHash::from_slice(&thumb).ok_or_else(unreadable)?,
            size: u64::try_from(size).unwrap_or(0),
            thumb_size: u64::try_from(thumb_size).unwrap_or(0),
            width: 0,
            height: 0,
            added_at: 0,
        };
        Ok(Some((photo, variant)))
    };
    if let Some(found) = row(
        Variant::Full,
        "SELECT hash, thumb, size, thumb_size FROM record_photos WHERE hash = ?1 LIMIT 1",
    )? {
        return Ok(Some(found));
    }
    row(
        Variant::Thumb,
        "SELECT hash, thumb, size, thumb_size FROM record_photos WHERE thumb = ?1 LIMIT 1",
    )
}

/// Bytes of a blob's partial download so far.
fn part_len(conn: &Connection, blob: &PhotoHash) -> Result<u64> {
    let n: i64 = conn
        .prepare_cached("SELECT coalesce(sum(length(bytes)), 0) FROM photo_parts WHERE hash = ?1")?
        .query_row([blob.as_bytes()], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Whether a blob (full image or thumbnail) belongs to an erased photo.
fn blob_erased(conn: &Connection, blob: &PhotoHash) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM photo_tombstones WHERE hash = ?1 OR thumb = ?1")?
        .query_row([blob.as_bytes()], |_| Ok(()))
        .optional()?
        .is_some())
}

fn transfers(
    rows: Vec<(Vec<u8>, Vec<u8>, i64, i64)>,
    variant: Variant,
) -> Result<Vec<BlobTransfer>> {
    rows.into_iter()
        .map(|(hash, thumb, size, thumb_size)| {
            let unreadable = || Error::Unreadable {
                what: "a photo's hash in the store",
                source: None,
            };
            let photo = PhotoHash::from_slice(&hash).ok_or_else(unreadable)?;
            let thumb = PhotoHash::from_slice(&thumb).ok_or_else(unreadable)?;
            let (blob, size) = match variant {
                Variant::Full => (photo, size),
                Variant::Thumb => (thumb, thumb_size),
            };
            Ok(BlobTransfer {
                photo,
                blob,
                variant,
                size: u64::try_from(size).unwrap_or(0),
            })
        })
        .collect()
}

type BlobRow = (Vec<u8>, Vec<u8>, i64, i64);

fn blob_rows(conn: &Connection, sql: &str) -> Result<Vec<BlobRow>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

impl Store {
    /// Attaches a camera's JPEG or PNG to a report or note: the photo is
    /// made first (metadata stripped, turned upright, resized, thumbnail;
    /// see [`crate::photo::process::prepare`]) without holding the store,
    /// then stored and referenced from the record's document in one
    /// durable transaction, like a note. Attaching the same photo twice
    /// to a record returns it unchanged.
    ///
    /// Refused with a typed error: [`Error::PhotosNotAllowed`] (a contact
    /// or an activity), [`Error::PhotoTooLarge`], [`Error::TooManyPhotos`],
    /// [`Error::PendingPhotosFull`] (sync first), [`Error::NotAnImage`],
    /// [`Error::PhotoErased`] (that photo was removed and erased).
    pub fn attach_photo(&self, id: RecordId, input: &[u8]) -> Result<PhotoRef> {
        let settings = self.config().photos;
        if input.len() as u64 > settings.max_input_bytes {
            return Err(Error::PhotoTooLarge {
                bytes: input.len() as u64,
                limit: settings.max_input_bytes,
            });
        }
        self.read(|conn, _| check_room(conn, id, settings.max_per_record).map(drop))?;
        let prepared = prepare(input, &settings)?;
        let report = self.write(|tx, ctx| {
            let settings = &ctx.config.photos;
            let photos = match check_room(tx, id, settings.max_per_record) {
                Err(Error::TooManyPhotos { .. }) => listed(tx, id)?,
                other => other?,
            };
            let hash = prepared.photo.hash;
            if let Some(same) = photos.iter().find(|p| p.hash == hash) {
                return Ok(same.clone());
            }
            if photos.len() >= settings.max_per_record as usize {
                return Err(Error::TooManyPhotos {
                    limit: settings.max_per_record,
                });
            }
            if is_photo_erased(tx, &hash)? {
                return Err(Error::PhotoErased(hash));
            }
            let pending = pending_bytes(tx)?;
            let size = prepared.photo.size + prepared.photo.thumb_size;
            if pending.saturating_add(size) > settings.max_pending_bytes {
                return Err(Error::PendingPhotosFull {
                    pending,
                    limit: settings.max_pending_bytes,
                });
            }
            let now = now_ms();
            let photo = PhotoRef {
                added_at: now,
                ..prepared.photo.clone()
            };
            // A photo already here (received from the server, or on another
            // record) keeps its upload state; missing blobs are filled in.
            tx.prepare_cached(
                "INSERT INTO photos (hash, thumb_hash, full, thumb, size, thumb_size, added_at, upload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')
                 ON CONFLICT (hash) DO UPDATE SET full = coalesce(photos.full, excluded.full),
                                                  thumb = coalesce(photos.thumb, excluded.thumb)",
            )?
            .execute(params![
                hash.as_bytes(),
                photo.thumb.as_bytes(),
                prepared.full,
                prepared.thumb,
                photo.size as i64,
                photo.thumb_size as i64,
                now
            ])?;
            let (mut doc, tail) = load_doc_tail(tx, ctx.actor, id)?;
            let change = doc.add_photo(&photo, ctx.author, now)?;
            log_local(tx, id, &doc, &change)?;
            index_doc(tx, id, &doc, tail + 1, false)?;
            Ok(photo)
        })?;
        Ok(report)
    }

    /// [`Store::attach_photo`] from a file (the camera's, or one picked):
    /// its size is checked before it is read.
    pub fn attach_photo_file(&self, id: RecordId, path: &Path) -> Result<PhotoRef> {
        let limit = self.config().photos.max_input_bytes;
        let bytes = std::fs::metadata(path)?.len();
        if bytes > limit {
            return Err(Error::PhotoTooLarge { bytes, limit });
        }
        let input = std::fs::read(path)?;
        self.attach_photo(id, &input)
    }

    /// Removes a photo from its record (a face or a number plate caught by
    /// mistake): the reference goes from the document, and the photo is
    /// erased, here and, through an erasure entry in the log, on the
    /// server and every device: bytes, thumbnail and partial downloads
    /// deleted, a tombstone kept so that no store takes it again. Returns
    /// once no byte of it is left in the store's files (checkpoint).
    pub fn remove_photo(&self, id: RecordId, hash: PhotoHash) -> Result<()> {
        self.write(|tx, ctx| {
            let (mut doc, tail) = load_doc_tail(tx, ctx.actor, id)?;
            let Some(photo) = doc.photos().into_iter().find(|p| p.hash == hash) else {
                return Err(if is_photo_erased(tx, &hash)? {
                    Error::PhotoErased(hash)
                } else {
                    Error::PhotoNotFound(hash)
                });
            };
            let now = now_ms();
            if let Some(change) = doc.remove_photo(&hash, ctx.author, now)? {
                log_local(tx, id, &doc, &change)?;
                index_doc(tx, id, &doc, tail + 1, false)?;
            }
            if !is_photo_erased(tx, &hash)? {
                erase_photo_in(tx, id, &photo.hash, &photo.thumb, now, "local")?;
            }
            Ok(())
        })?;
        self.checkpoint()
    }

    /// A record's photos, oldest first, with what this device holds of
    /// each. A record that takes no photos has none.
    pub fn photos(&self, id: RecordId) -> Result<Vec<PhotoInfo>> {
        self.read(|conn, _| {
            let mut out = Vec::new();
            for photo in listed(conn, id)? {
                let held: Option<(bool, bool, Option<String>)> = conn
                    .prepare_cached(
                        "SELECT thumb IS NOT NULL, full IS NOT NULL, upload FROM photos WHERE hash = ?1",
                    )?
                    .query_row([photo.hash.as_bytes()], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                let (has_thumbnail, has_full, upload) = held.unwrap_or((false, false, None));
                out.push(PhotoInfo {
                    photo,
                    has_thumbnail,
                    has_full,
                    uploaded: upload.as_deref() != Some("pending"),
                });
            }
            Ok(out)
        })
    }

    /// A photo's bytes (JPEG): the full image or its thumbnail.
    /// [`Error::PhotoNotDownloaded`] for a photo a record names whose bytes
    /// have not arrived (a full image is fetched on demand by the sync),
    /// [`Error::PhotoErased`] for an erased one, [`Error::PhotoNotFound`]
    /// otherwise.
    pub fn photo(&self, hash: PhotoHash, variant: Variant) -> Result<Vec<u8>> {
        self.read(|conn, _| {
            let sql = match variant {
                Variant::Full => "SELECT full FROM photos WHERE hash = ?1",
                Variant::Thumb => "SELECT thumb FROM photos WHERE hash = ?1",
            };
            let bytes: Option<Option<Vec<u8>>> = conn
                .prepare_cached(sql)?
                .query_row([hash.as_bytes()], |r| r.get(0))
                .optional()?;
            if let Some(Some(bytes)) = bytes {
                return Ok(bytes);
            }
            if is_photo_erased(conn, &hash)? {
                Err(Error::PhotoErased(hash))
            } else if referenced(conn, &hash)?.is_some() {
                Err(Error::PhotoNotDownloaded(hash))
            } else {
                Err(Error::PhotoNotFound(hash))
            }
        })
    }

    /// What the sync session uploads: the blobs of photos taken here that
    /// the server does not have and that a live record still names, the
    /// thumbnail then the full image of each photo, oldest photo first.
    pub fn photo_uploads(&self) -> Result<Vec<BlobTransfer>> {
        self.read(|conn, _| {
            let rows = blob_rows(
                conn,
                "SELECT p.hash, p.thumb_hash, p.size, p.thumb_size FROM photos p
                  WHERE p.upload = 'pending' AND p.full IS NOT NULL AND p.thumb IS NOT NULL
                    AND EXISTS (SELECT 1 FROM record_photos r WHERE r.hash = p.hash)
                  ORDER BY p.added_at, p.hash",
            )?;
            let thumbs = transfers(rows.clone(), Variant::Thumb)?;
            let fulls = transfers(rows, Variant::Full)?;
            // A photo that is its own thumbnail is one blob, sent once.
            Ok(thumbs
                .into_iter()
                .zip(fulls)
                .flat_map(|(t, f)| {
                    if t.blob == f.blob {
                        vec![f]
                    } else {
                        vec![t, f]
                    }
                })
                .collect())
        })
    }

    /// What the sync session downloads: blobs that live records name and
    /// this device lacks, erased photos excepted; every thumbnail first,
    /// then (with `full_too`, the team's `download_full`) full images.
    pub fn photo_downloads(&self, full_too: bool) -> Result<Vec<BlobTransfer>> {
        self.read(|conn, _| {
            let missing = |what: &str| {
                format!(
                    "SELECT r.hash, r.thumb, max(r.size), max(r.thumb_size) FROM record_photos r
                       LEFT JOIN photos p ON p.hash = r.hash
                      WHERE p.{what} IS NULL
                        AND NOT EXISTS (SELECT 1 FROM photo_tombstones t WHERE t.hash = r.hash)
                      GROUP BY r.hash, r.thumb ORDER BY r.hash"
                )
            };
            let mut out = transfers(blob_rows(conn, &missing("thumb"))?, Variant::Thumb)?;
            if full_too {
                let fulls = transfers(blob_rows(conn, &missing("full"))?, Variant::Full)?;
                // A photo that is its own thumbnail is one blob, fetched once.
                let listed: Vec<PhotoHash> = out.iter().map(|t| t.blob).collect();
                out.extend(fulls.into_iter().filter(|t| !listed.contains(&t.blob)));
            }
            Ok(out)
        })
    }

    /// Up to `max` bytes from `offset` of a stored blob (full image or
    /// thumbnail, by its own hash), for an upload; empty past its end.
    pub fn photo_chunk(&self, hash: PhotoHash, offset: u64, max: usize) -> Result<Vec<u8>> {
        let start = i64::try_from(offset)
            .map_err(|_| Error::invalid("offset", "past the end of any photo"))?
            .saturating_add(1);
        let len = i64::try_from(max).unwrap_or(i64::MAX);
        self.read(|conn, _| {
            for sql in [
                "SELECT substr(full, ?2, ?3) FROM photos WHERE hash = ?1 AND full IS NOT NULL",
                "SELECT substr(thumb, ?2, ?3) FROM photos WHERE thumb_hash = ?1 AND thumb IS NOT NULL",
            ] {
                let bytes: Option<Vec<u8>> = conn
                    .prepare_cached(sql)?
                    .query_row(params![hash.as_bytes(), start, len], |r| r.get(0))
                    .optional()?;
                if let Some(bytes) = bytes {
                    return Ok(bytes);
                }
            }
            Err(if blob_erased(conn, &hash)? {
                Error::PhotoErased(hash)
            } else {
                Error::PhotoNotFound(hash)
            })
        })
    }

    /// Records that the server holds both blobs of the photo `hash` (the
    /// full image's): it no longer counts as pending.
    pub fn mark_photo_uploaded(&self, hash: PhotoHash) -> Result<()> {
        self.write(|tx, _| {
            let n = tx
                .prepare_cached(
                    "UPDATE photos SET upload = 'done' WHERE hash = ?1 AND upload IS NOT NULL",
                )?
                .execute([hash.as_bytes()])?;
            if n == 0 {
                return Err(if is_photo_erased(tx, &hash)? {
                    Error::PhotoErased(hash)
                } else {
                    Error::PhotoNotFound(hash)
                });
            }
            Ok(())
        })
    }

    /// How many bytes of a blob's download have arrived (0: none): where
    /// a cut download resumes.
    pub fn photo_part_len(&self, blob: PhotoHash) -> Result<u64> {
        self.read(|conn, _| part_len(conn, &blob))
    }

    /// Appends downloaded bytes to a blob's partial download, durably, and
    /// returns its new length. `offset` must be the length so far (an
    /// [`Error::Invalid`] says which it is); more bytes than the blob has
    /// drop the part ([`Error::PhotoCorrupt`]). Only blobs a live record
    /// names are taken.
    pub fn append_photo_part(&self, blob: PhotoHash, offset: u64, bytes: &[u8]) -> Result<u64> {
        // A part to drop is dropped in a transaction that commits: the
        // error comes after.
        self.write(|tx, _| -> Result<Result<u64>> {
            if blob_erased(tx, &blob)? {
                return Ok(Err(Error::PhotoErased(blob)));
            }
            let Some((photo, variant)) = referenced(tx, &blob)? else {
                return Ok(Err(Error::PhotoNotFound(blob)));
            };
            let have = part_len(tx, &blob)?;
            if offset != have {
                return Ok(Err(Error::invalid(
                    "offset",
                    format!("this download has {have} bytes; resume from there"),
                )));
            }
            let total = have + bytes.len() as u64;
            if total > photo.blob(variant).1 {
                tx.prepare_cached("DELETE FROM photo_parts WHERE hash = ?1")?
                    .execute([blob.as_bytes()])?;
                return Ok(Err(Error::PhotoCorrupt(blob)));
            }
            if !bytes.is_empty() {
                tx.prepare_cached(
                    "INSERT INTO photo_parts (hash, offset, bytes) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![blob.as_bytes(), have as i64, bytes])?;
            }
            Ok(Ok(total))
        })?
    }

    /// Completes a blob's download: its bytes must hash to `blob`, or the
    /// part is dropped ([`Error::PhotoCorrupt`], fetched again next time);
    /// then they join the photo's row.
    pub fn finish_photo_download(&self, blob: PhotoHash) -> Result<()> {
        self.write(|tx, _| -> Result<Result<()>> {
            if blob_erased(tx, &blob)? {
                tx.prepare_cached("DELETE FROM photo_parts WHERE hash = ?1")?
                    .execute([blob.as_bytes()])?;
                return Ok(Err(Error::PhotoErased(blob)));
            }
            let mut bytes = Vec::new();
            let mut chunks = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT bytes FROM photo_parts WHERE hash = ?1 ORDER BY offset",
                )?;
                let mut rows = stmt.query([blob.as_bytes()])?;
                while let Some(row) = rows.next()? {
                    bytes.extend_from_slice(&row.get::<_, Vec<u8>>(0)?);
                    chunks += 1;
                }
            }
            if chunks == 0 {
                return Ok(Err(Error::PhotoNotFound(blob)));
            }
            tx.prepare_cached("DELETE FROM photo_parts WHERE hash = ?1")?
                .execute([blob.as_bytes()])?;
            if PhotoHash::of(&bytes) != blob {
                return Ok(Err(Error::PhotoCorrupt(blob)));
            }
            let Some((photo, _)) = referenced(tx, &blob)? else {
                return Ok(Err(Error::PhotoNotFound(blob)));
            };
            // A photo no larger than a thumbnail is its own thumbnail: one
            // blob, both columns.
            let full = (photo.hash == blob).then(|| bytes.clone());
            let thumb = (photo.thumb == blob).then_some(bytes);
            tx.prepare_cached(
                "INSERT INTO photos (hash, thumb_hash, full, thumb, size, thumb_size, added_at, upload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)
                 ON CONFLICT (hash) DO UPDATE SET full = coalesce(photos.full, excluded.full),
                                                  thumb = coalesce(photos.thumb, excluded.thumb)",
            )?
            .execute(params![
                photo.hash.as_bytes(),
                photo.thumb.as_bytes(),
                full,
                thumb,
                photo.size as i64,
                photo.thumb_size as i64,
                now_ms()
            ])?;
            Ok(Ok(()))
        })?
    }

    /// Deletes photos that no live record names any more and that came
    /// here more than `grace_ms` before `now` (a photo whose record's
    /// change is still on its way is not lost), and partial downloads of
    /// blobs no record names; returns how many photos went.
    pub fn collect_photos(&self, grace_ms: i64, now: i64) -> Result<usize> {
        self.write(|tx, _| {
            let n = tx.execute(
                "DELETE FROM photos
                  WHERE added_at < ?1
                    AND NOT EXISTS (SELECT 1 FROM record_photos r WHERE r.hash = photos.hash)",
                [now.saturating_sub(grace_ms)],
            )?;
            tx.execute(
                "DELETE FROM photo_parts
                  WHERE NOT EXISTS (SELECT 1 FROM record_photos r
                                     WHERE r.hash = photo_parts.hash OR r.thumb = photo_parts.hash)",
                [],
            )?;
            Ok(n)
        })
    }

    /// Bytes of photos taken here waiting to be sent (both blobs), that a
    /// live record names: what `max_pending_bytes` limits.
    pub fn pending_photo_bytes(&self) -> Result<u64> {
        self.read(|conn, _| pending_bytes(conn))
    }

    /// What this store's log says of a blob (full image or thumbnail, by
    /// its own hash): named by a live record (its size and variant),
    /// erased, or unknown. What a server checks before it takes or serves
    /// bytes under that hash.
    pub fn photo_blob_status(&self, blob: PhotoHash) -> Result<BlobStatus> {
        self.read(|conn, _| {
            if blob_erased(conn, &blob)? {
                return Ok(BlobStatus::Erased);
            }
            Ok(match referenced(conn, &blob)? {
                Some((photo, variant)) => BlobStatus::Referenced {
                    size: photo.blob(variant).1,
                    variant,
                },
                None => BlobStatus::Unknown,
            })
        })
    }
}

/// Erases a record with its photos on a SQLite store: what
/// [`Store::erase`] does (after checking that the record may be erased).
pub(super) fn erase_record_in(
    conn: &Connection,
    id: RecordId,
    at: i64,
    origin: &str,
) -> Result<ApplyReport> {
    let mut report = ApplyReport::default();
    super::replication::erase_record(&mut SqliteLog::new(conn), &mut report, id, at, origin)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photo::process::tests::jpeg;
    use crate::store::Payload;

    /// Only resident contacts are erased, and they take no photos; but a
    /// record erased with photos (should that ever change) takes their
    /// bytes with it, and logs their erasure so that it replicates.
    #[test]
    fn erasing_a_record_erases_its_photos() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_unencrypted(dir.path().join("s.db")).unwrap();
        let fields = serde_json::json!({"sector": "conte-joliot", "text": "Tag"});
        let id = s.create(Kind::Note, fields.as_object().unwrap()).unwrap();
        let photo = s.attach_photo(id, &jpeg(320, 240)).unwrap();
        let report = s
            .write(|tx, _| erase_record_in(tx, id, now_ms(), "local"))
            .unwrap();
        assert_eq!(report.erased, 1);
        assert_eq!(report.erased_photos, [(photo.hash, photo.thumb)]);
        assert!(matches!(
            s.photo(photo.hash, Variant::Thumb),
            Err(Error::PhotoErased(_))
        ));
        assert_eq!(
            s.photo_blob_status(photo.thumb).unwrap(),
            BlobStatus::Erased
        );
        let log = s.changes_since(0, usize::MAX, None).unwrap();
        let kinds: Vec<_> = log.entries.iter().map(|e| &e.payload).collect();
        assert_eq!(
            kinds,
            [
                &Payload::Erased,
                &Payload::PhotoErased {
                    hash: photo.hash,
                    thumb: photo.thumb
                }
            ]
        );
    }
}
